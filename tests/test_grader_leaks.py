"""No student-facing artifact contains hidden tests or solutions.

Secrets are read from the instructor's side (the source notebook and the
course's test helpers): every line inside a hidden-test or solution region,
and the canary tokens planted there. Student-facing artifacts are the
released notebooks and the feedback pages, which are scanned as text and as
unescaped HTML. The scanner is shown to work on an instructor-side file that
does contain the hidden tests (the autograded notebook).
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import pytest
from grading_corpus import harness, hostile

from grader import notebook as gnb

CANARIES = ["canary-hidden-7f3a", "canary-hidden-2b9c", "canary-solution-91c2",
            "canary-solution-77aa", "canary-helper-5d1e", "rng_hidden_7f3a", "fx_hidden_2b9c"]


def secret_lines(course: Path) -> set[str]:
    """Hidden-test and solution lines of the source notebook that the release lacks."""
    source = json.loads((course / "source" / "fx_rnn" / "fx_rnn.ipynb").read_text())
    release = json.loads((course / "release" / "fx_rnn" / "fx_rnn.ipynb").read_text())
    public = {gnb.normalise(line) for cell in release["cells"]
              for line in "".join(cell["source"]).splitlines()}
    lines = set()
    for cell in source["cells"]:
        text = "".join(cell["source"])
        for begin, end in ((gnb.BEGIN_HIDDEN, gnb.END_HIDDEN),
                           (gnb.BEGIN_SOLUTION, gnb.END_SOLUTION)):
            for line in gnb.region_lines(text, begin, end):
                normal = gnb.normalise(line)
                if len(normal) >= 12 and normal not in public:
                    lines.add(normal)
    return lines


def leaks(text: str, lines: set[str]) -> list[str]:
    found = []
    for variant in (text, html.unescape(text)):
        flat = gnb.normalise(variant)
        found += [c for c in CANARIES if c in variant]
        found += [line for line in lines if line in flat]
    return sorted(set(found))


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    base = tmp_path_factory.getbasetemp() / "grader"
    base.mkdir(exist_ok=True)
    return harness.graded_corpus(base)


@pytest.fixture(scope="module")
def feedback(graded):
    course, _ = graded
    completed = harness.run_grader(course, "feedback")
    assert completed.returncode == 0, completed.stderr
    pages = sorted((course / "feedback").rglob("*.html"))
    return course, pages


def test_secrets_are_known(graded):
    course, _ = graded
    lines = secret_lines(course)
    assert len(lines) >= 8
    assert any("canary-hidden-7f3a" in line for line in lines)


def test_release_contains_no_hidden_test_or_solution(graded):
    course, _ = graded
    lines = secret_lines(course)
    files = [p for p in (course / "release").rglob("*") if p.is_file()]
    assert files
    for path in files:
        assert leaks(path.read_text(errors="replace"), lines) == [], path


def test_feedback_contains_no_hidden_test_or_solution(feedback):
    course, pages = feedback
    lines = secret_lines(course)
    assert len(pages) == len(hostile.EVERY)  # one page per submission (one notebook each)
    for page in pages:
        assert leaks(page.read_text(), lines) == [], page


def test_feedback_is_helpful(feedback):
    course, _ = feedback
    partial = (course / "feedback" / "partial" / "fx_rnn" / "fx_rnn.html").read_text()
    assert "running_mean on seeded sequences" in partial
    assert "0 / 2" in partial and "contains NaN or inf" in partial
    assert "rnn_step_forward on random inputs (n=3, d=4, h=5)" in partial
    assert "Score: 4 / 7" in partial
    crashed = (course / "feedback" / "crash_segfault" / "fx_rnn" / "fx_rnn.html").read_text()
    assert "SIGSEGV" in crashed and "run again without that cell" in crashed
    missing = (course / "feedback" / "malformed_json" / "fx_rnn" / "fx_rnn.html").read_text()
    assert "was not graded" in missing


def test_exfiltration_attempt_is_withheld(feedback):
    course, _ = feedback
    page = (course / "feedback" / "exfiltrate" / "fx_rnn" / "fx_rnn.html").read_text()
    # The text its error carried (the class name it built from the hidden test) is the
    # student's: feedback replaces it, and nothing of the hidden test reaches the page.
    assert "[your text]" in page and "canary" not in page and "fx_hidden" not in page
    # What the attempt captured is all the kernel ever had: the neutral call naming the
    # cell, never its source (its outputs, instructor-facing, show what it printed).
    executed = json.loads((course / "autograded" / "exfiltrate" / "fx_rnn" / "fx_rnn.ipynb")
                          .read_text())
    outputs = json.dumps([cell.get("outputs", []) for cell in executed["cells"]])
    assert "__grader_cell__(" in outputs
    assert "canary-hidden" not in outputs and "fx_hidden_2b9c" not in outputs


def test_scanner_finds_hidden_tests_where_they_are(graded):
    course, _ = graded
    autograded = course / "autograded" / "honest" / "fx_rnn" / "fx_rnn.ipynb"
    found = leaks(autograded.read_text(), secret_lines(course))
    assert "canary-hidden-7f3a" in found and "canary-hidden-2b9c" in found
