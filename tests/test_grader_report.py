"""The instructor report and the validate command on the graded corpus."""

from __future__ import annotations

import base64
import csv

import pytest
from grading_corpus import corpus, harness, hostile


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    base = tmp_path_factory.getbasetemp() / "grader"
    base.mkdir(exist_ok=True)
    course, _ = harness.graded_corpus(base)
    completed = harness.run_grader(course, "report")
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return course / "reports"


def test_grades_csv_has_one_row_per_submission(report):
    with open(report / "grades.csv", newline="") as f:
        rows = {row["student"]: row for row in csv.DictReader(f)}
    assert set(rows) == {case.student for case in hostile.EVERY}
    for case in hostile.EVERY:
        row = rows[case.student]
        assert float(row["autograded_score"]) == case.score
        assert row["needs_attention"] == str(case.attention)
        assert row["max_score"] == "7"
    assert rows["honest"]["needs_manual_grade"] == "True"
    assert rows["crash_segfault"]["problems"] == "crash;integrity"
    assert rows["malformed_json"]["problems"] == "malformed"


def test_checks_csv_counts_failures(report):
    with open(report / "checks.csv", newline="") as f:
        rows = {row["check"]: row for row in csv.DictReader(f)}
    mean = rows["running_mean on seeded sequences"]
    not_run = {"malformed_json", "missing_notebook", "link_notebook", "link_directory",
               "link_student", "fifo_notebook", "device_notebook", "directory_notebook",
               "deep_notebook"}  # no notebook could be graded: no checks
    graded = [c for c in hostile.EVERY if c.student not in not_run]
    assert int(mean["submissions"]) == len(graded)
    passed = {"honest", "extra_notebook", "crash_segfault", "stubborn_loop", "fork_bomb",
              "daemon", "flood"}  # full marks on the hidden running_mean check
    assert int(mean["failed"]) == len(graded) - len(passed)
    assert float(mean["failure_rate"]) == pytest.approx(int(mean["failed"]) / len(graded),
                                                        abs=1e-4)


def test_html_report_has_plots_and_attention_list(report):
    page = (report / "report.html").read_text()
    images = page.split("data:image/png;base64,")[1:]
    assert len(images) == 2  # score histogram and failure rate per check
    for image in images:
        assert base64.b64decode(image.split("'")[0]).startswith(b"\x89PNG")
    attention = [c.student for c in hostile.EVERY if c.attention]
    listed = page.split("<h2>Submissions needing attention")[1].split("<h2>fx_rnn</h2>")[0]
    for student in attention:
        assert f"<td>{student}</td>" in listed, student
    assert "<td>honest</td>" not in listed


def test_validate_runs_the_student_notebook_in_the_sandbox(tmp_path_factory):
    base = tmp_path_factory.getbasetemp() / "grader"
    base.mkdir(exist_ok=True)
    course = harness.course_copy(base, "validate")
    honest = harness.write_submission(course, corpus.BY_STUDENT["honest"]) / "fx_rnn.ipynb"
    blank = course / "release" / "fx_rnn" / "fx_rnn.ipynb"
    ok = harness.run_grader(course, "validate", str(honest), "--cell-timeout", "30")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "fx_rnn.ipynb: all " in ok.stdout and " pass (" in ok.stdout, ok.stdout
    bad = harness.run_grader(course, "validate", str(blank), "--cell-timeout", "30")
    assert bad.returncode == 1
    assert "NotImplementedError" in bad.stdout
