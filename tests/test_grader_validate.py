"""``python -m grader validate`` and ``assignments/course.sh validate`` (issue 13).

What a student runs on their own notebook: the visible tests of the released version,
in the grading sandbox, one line per visible check (name, points, pass or FAIL with a
short reason), a summary line, and exit status 0 (all pass), 1 (some fail) or 2 (usage).
Every problem set's released notebook is validated with the reference answers typed in
(all pass) and as released (all fail), and an instructor's source notebook runs its
hidden tests too.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from assignments_pipeline import nbgrader_meta, reference_answers
from grading_corpus import harness

REPO = harness.REPO
COURSE = REPO / "assignments"
PROBLEM_SETS = sorted(p.name for p in (COURSE / "source").iterdir() if p.is_dir())
CHECK_LINE = re.compile(r"^  (pass|FAIL)   (\S+)(?: \(hidden\))? +(\S+)/(\S+)(?:  (.*))?$")
SUMMARY = re.compile(r"^(\S+\.ipynb): (all (\d+) .*checks.* pass|FAILED: (\d+) of (\d+) .* fail)")


def grader_validate(*argv: str, env: dict | None = None, cwd: Path = REPO):
    return subprocess.run([sys.executable, "-m", "grader", "validate", *argv], cwd=cwd,
                          env=env or harness.environment(), capture_output=True, text=True,
                          timeout=600)


def course_sh(*argv: str, cwd: Path = REPO):
    return subprocess.run(["bash", str(COURSE / "course.sh"), "validate", *argv], cwd=cwd,
                          env=harness.environment(), capture_output=True, text=True,
                          timeout=600)


def check_lines(stdout: str) -> list[tuple[str, str, str, str, str]]:
    return [m.groups(default="") for line in stdout.splitlines() if (m := CHECK_LINE.match(line))]


def summary_lines(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if SUMMARY.match(line)]


def _cell(source: str, grade_id: str, *, grade=False, solution=False, points=0):
    meta = {"grade": grade, "solution": solution, "locked": not solution, "grade_id": grade_id,
            "schema_version": 3}
    if grade:
        meta["points"] = points
    return nbformat.v4.new_code_cell(source, metadata={"nbgrader": meta})


def write_notebook(path: Path, answer: str) -> Path:
    """A small problem set as released: setup, a solution, two visible tests, a hidden one."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        _cell("import math", "setup"),
        _cell(answer, "double", solution=True),
        _cell("assert double(2) == 4, f'double(2) should be 4, got {double(2)}'",
              "test_double_visible", grade=True, points=2),
        _cell("assert isinstance(double(1.5), float)\nassert double(-1) == -2",
              "test_double_signs_visible", grade=True, points=1),
        _cell("# Hidden tests: they are added and run when your notebook is graded.",
              "test_double_hidden", grade=True, points=3),
    ]
    nb.cells.append(nbformat.v4.new_markdown_cell("YOUR ANSWER HERE", metadata={"nbgrader": {
        "grade": True, "solution": True, "locked": False, "grade_id": "why", "points": 2,
        "schema_version": 3}}))
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, path)
    return path


def test_a_passing_notebook_one_line_per_visible_check_and_status_0(tmp_path):
    good = write_notebook(tmp_path / "good.ipynb", "def double(x):\n    return 2 * x")
    done = grader_validate(str(good))
    assert done.returncode == 0, done.stdout + done.stderr
    assert check_lines(done.stdout) == [
        ("pass", "test_double_visible", "2", "2", ""),
        ("pass", "test_double_signs_visible", "1", "1", ""),
    ]
    (summary,) = summary_lines(done.stdout)
    assert summary.startswith("good.ipynb: all 2 visible checks pass (3 of 3 points); "
                              "hidden tests (3 points) run when it is graded, written answers "
                              "(2 points) are graded by hand ["), summary
    assert summary.endswith(", sandboxed]")
    assert "test_double_hidden" not in done.stdout  # nothing of it runs in a student's copy


def test_a_failing_notebook_names_the_check_its_points_and_the_reason(tmp_path):
    bad = write_notebook(tmp_path / "bad.ipynb", "def double(x):\n    return x + 2")
    done = grader_validate(str(bad))
    assert done.returncode == 1, done.stdout + done.stderr
    assert check_lines(done.stdout) == [
        ("pass", "test_double_visible", "2", "2", ""),
        ("FAIL", "test_double_signs_visible", "0", "1",
         "AssertionError (line 2: assert double(-1) == -2)"),
    ]
    (summary,) = summary_lines(done.stdout)
    assert summary.startswith("bad.ipynb: FAILED: 1 of 2 visible checks fail (2 of 3 points)")

    blank = write_notebook(tmp_path / "blank.ipynb",
                           "def double(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()")
    done = grader_validate(str(blank))
    assert done.returncode == 1
    lines = check_lines(done.stdout)
    assert [line[:4] for line in lines] == [("FAIL", "test_double_visible", "0", "2"),
                                            ("FAIL", "test_double_signs_visible", "0", "1")]
    assert lines[0][4] == ("NotImplementedError (in double, line 3: raise NotImplementedError())")


def test_errors_outside_test_cells_are_shown_and_usage_errors_exit_2(tmp_path):
    broken = write_notebook(tmp_path / "broken.ipynb", "def double(x):\n    return 2 * x +")
    done = grader_validate(str(broken))
    assert done.returncode == 1
    assert "  error  cell 2 (double): SyntaxError: invalid syntax" in done.stdout
    assert [line[0] for line in check_lines(done.stdout)] == ["FAIL", "FAIL"]
    assert "NameError: name 'double' is not defined" in done.stdout

    assert grader_validate(str(tmp_path / "missing.ipynb")).returncode == 2
    (tmp_path / "junk.ipynb").write_text("{not json")
    junk = grader_validate(str(tmp_path / "junk.ipynb"))
    assert junk.returncode == 2 and "cannot be read as a notebook" in junk.stdout
    plain = nbformat.v4.new_notebook()
    plain.cells = [nbformat.v4.new_code_cell("1 + 1")]
    nbformat.write(plain, tmp_path / "plain.ipynb")
    untested = grader_validate(str(tmp_path / "plain.ipynb"))
    assert untested.returncode == 2 and "no test cell" in untested.stdout
    assert grader_validate().returncode == 2  # argparse: a notebook is required
    assert course_sh().returncode == 2
    assert course_sh(str(tmp_path / "missing.ipynb")).returncode == 2


def test_course_sh_validates_several_notebooks_from_any_directory(tmp_path):
    good = write_notebook(tmp_path / "good.ipynb", "def double(x):\n    return 2 * x")
    bad = write_notebook(tmp_path / "bad.ipynb", "def double(x):\n    return x + 2")
    done = course_sh("good.ipynb", "bad.ipynb", cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert [SUMMARY.match(s).group(1) for s in summary_lines(done.stdout)] == [
        "good.ipynb", "bad.ipynb"]
    assert len(check_lines(done.stdout)) == 4
    assert course_sh(str(good), cwd=tmp_path).returncode == 0
    assert bad.is_file()


def test_only_the_notebook_is_copied_into_the_sandbox(tmp_path):
    """As only the notebook is handed in: a file next to it is not there when it runs."""
    (tmp_path / "helper.py").write_text("VALUE = 1\n")
    nb = nbformat.v4.new_notebook()
    nb.cells = [_cell("import os\nassert os.path.exists('probe.ipynb')\n"
                      "assert not os.path.exists('helper.py'), 'helper.py is visible'",
                      "test_alone_visible", grade=True, points=1)]
    nbformat.write(nb, tmp_path / "probe.ipynb")
    done = grader_validate(str(tmp_path / "probe.ipynb"))
    assert done.returncode == 0, done.stdout + done.stderr


def test_without_bubblewrap_it_says_so(tmp_path):
    good = write_notebook(tmp_path / "good.ipynb", "def double(x):\n    return 2 * x")
    done = grader_validate(str(good), "--no-sandbox")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "NOT SANDBOXED" in done.stderr
    assert summary_lines(done.stdout)[0].endswith(", NOT SANDBOXED]")


# --------------------------------------------------------------------------- the problem sets


def _released(ps: str) -> dict:
    sys.path.insert(0, str(REPO / "tools"))
    from student_notebooks import student_notebook

    return json.loads(nbformat.writes(student_notebook(COURSE / "source" / ps / f"{ps}.ipynb")))


@pytest.fixture(scope="module")
def student_copies(tmp_path_factory) -> dict[str, tuple[Path, Path, list[str]]]:
    """Per problem set: the released notebook with the reference answers typed in, the
    notebook as released, and its visible test cells."""
    root = tmp_path_factory.mktemp("students")
    copies = {}
    for ps in PROBLEM_SETS:
        released = _released(ps)
        source = json.loads((COURSE / "source" / ps / f"{ps}.ipynb").read_text())
        answers = reference_answers(source)
        solved = json.loads(json.dumps(released))
        for cell in solved["cells"]:
            meta = nbgrader_meta(cell)
            if meta.get("solution") and meta.get("grade_id") in answers:
                cell["source"] = answers[meta["grade_id"]]
        (root / ps).mkdir()
        (root / ps / f"{ps}.ipynb").write_text(json.dumps(solved))
        (root / f"{ps}_blank").mkdir()
        (root / f"{ps}_blank" / f"{ps}.ipynb").write_text(json.dumps(released))
        visible = [nbgrader_meta(c)["grade_id"] for c in released["cells"]
                   if c["cell_type"] == "code" and nbgrader_meta(c).get("grade")
                   and "BEGIN HIDDEN" not in "".join(c["source"])
                   and any(line.strip() and not line.strip().startswith("#")
                           for line in "".join(c["source"]).splitlines())]
        copies[ps] = (root / ps / f"{ps}.ipynb", root / f"{ps}_blank" / f"{ps}.ipynb", visible)
    return copies


@pytest.mark.parametrize("ps", PROBLEM_SETS)
def test_each_problem_set_validates_one_line_per_visible_test(student_copies, ps):
    solved, blank, visible = student_copies[ps]
    assert visible
    started = time.perf_counter()
    done = course_sh(str(solved))
    seconds = time.perf_counter() - started
    print(f"\n[validate] {ps}: {seconds:.1f} s (reference answers, course.sh)")
    assert done.returncode == 0, done.stdout + done.stderr
    assert [(line[0], line[1]) for line in check_lines(done.stdout)] == [
        ("pass", name) for name in visible]
    assert "(hidden)" not in done.stdout
    (summary,) = summary_lines(done.stdout)
    assert summary.startswith(f"{ps}.ipynb: all {len(visible)} visible checks pass")
    failed = grader_validate(str(blank))
    assert failed.returncode == 1, failed.stdout + failed.stderr
    lines = check_lines(failed.stdout)
    assert [line[1] for line in lines] == visible
    assert all(line[0] == "FAIL" and line[2] == "0" and line[4] for line in lines), lines


@pytest.mark.parametrize("ps", ["ps1_state_machines", "ps2_rnn_forward"])
def test_an_instructors_source_notebook_runs_its_hidden_tests(ps):
    done = course_sh(str(COURSE / "source" / ps / f"{ps}.ipynb"))
    assert done.returncode == 0, done.stdout + done.stderr
    hidden = [line for line in done.stdout.splitlines() if "(hidden)" in line]
    assert hidden and all(line.startswith("  pass") for line in hidden)
    assert f"{ps}.ipynb: all " in done.stdout and "checks (visible and hidden) pass" in done.stdout
