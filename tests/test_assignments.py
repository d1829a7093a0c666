"""Pipeline tests for the nbgrader course in ``assignments/`` (issue 4).

For every problem set, in a temporary copy of the course directory (nothing in
the repository is touched): generate the student version; check that it holds
no solution code and no hidden test; autograde the reference solution (full
autograded marks), the blank release (0), realistic buggy submissions
(strictly between), a submission that calls ``rnn_lib``'s reference (0 for
that hidden test) and, for ps4, a correct but noisy one (warnings on stderr
cost nothing); ``nbgrader validate`` passes the reference and fails the blank.
ps1 goes through ``assignments/course.sh`` (release, autograde, validate,
feedback, export) to test the documented workflow too. Scores are read through
nbgrader's Gradebook API. The five pipelines run two at a time.

Structure of a hidden test cell (kept so that a later change can move the
comparison into a separate trusted process)::

    from course_checks import psN as grading
    cases = grading.<function>_cases()                  # (a) seeded inputs, pure data
    runs = grading.run_...(<student function>, cases)   # (b) the only step running student
                                                        #     code: values or errors, and
                                                        #     which rnn_lib references it entered
    grading.check_<function>(cases, runs, points=P)     # (c) comparison with the oracle;
                                                        #     raises, or returns partial credit

``course_checks`` lives in ``assignments/grading/``; ``nbgrader_config.py``
puts it on the grading kernel's ``PYTHONPATH``. Step (c) reads nothing but
the ``StudentRun`` records of step (b), so they can be serialised and compared
elsewhere. Buggy submissions are small patches (``tests/assignments_buggy.py``)
applied to the reference answers.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import assignments_pipeline as pipeline  # noqa: E402
from assignments_buggy import (  # noqa: E402
    BUGGY_SUBMISSIONS,
    CACHE_MUTANTS,
    NOISY_CORRECT,
    REFERENCE_CALLERS,
)

# Slow (the pipelines take minutes). Under pytest-xdist, ``--dist loadgroup`` keeps every test
# of this file on one worker, so the session fixture runs the pipelines once.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("assignments_pipeline")]
PROBLEM_SETS = pipeline.PROBLEM_SETS
COURSE_SCRIPT = pipeline.COURSE_DIR / "course.sh"


@dataclass
class PipelineResult:
    """Everything the tests inspect about one problem set's run through nbgrader."""

    source_nb: dict
    release_nb: dict
    scores: dict[str, pipeline.Score]
    validate_reference: bool
    validate_blank: bool
    course: Path
    extra: dict = field(default_factory=dict)


def course_script(course: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = pipeline.nbgrader_env()
    env["COURSE_DIR"] = str(course)
    result = subprocess.run(["bash", str(COURSE_SCRIPT), *args], cwd=pipeline.REPO_ROOT, env=env,
                            capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise RuntimeError(f"course.sh {' '.join(args)} exited with {result.returncode}:\n"
                           f"{result.stdout[-3000:]}\n{result.stderr[-6000:]}")
    return result


def submissions_for(ps: str, release_nb: dict, answers: dict[str, str]) -> dict[str, dict]:
    """student id -> notebook, for every kind of submission the tests need."""
    subs = {"reference": pipeline.fill_answers(release_nb, answers), "blank": release_nb}
    for patch in BUGGY_SUBMISSIONS[ps]:
        subs[f"bug_{patch.name}"] = pipeline.fill_answers(
            release_nb, pipeline.apply_patch(answers, patch))
    if ps in REFERENCE_CALLERS:
        patch, _ = REFERENCE_CALLERS[ps]
        subs["refcall"] = pipeline.fill_answers(release_nb, pipeline.apply_patch(answers, patch))
    if ps in NOISY_CORRECT:
        subs["noisy"] = pipeline.fill_answers(
            release_nb, pipeline.apply_patch(answers, NOISY_CORRECT[ps]))
    for patch, _ in CACHE_MUTANTS.get(ps, []):
        subs[f"cache_{patch.name}"] = pipeline.fill_answers(
            release_nb, pipeline.apply_patch(answers, patch))
    return subs


def run_pipeline(ps: str, root: Path) -> PipelineResult:
    course = pipeline.make_course_copy(root / ps, [ps])
    via_script = ps == "ps1_state_machines"
    if via_script:
        course_script(course, "release", ps)
        release_path = course / "release" / ps / f"{ps}.ipynb"
    else:
        release_path = pipeline.generate(course, ps)
    release_nb = pipeline.load(release_path)
    source_nb = pipeline.source_notebook(course, ps)
    subs = submissions_for(ps, release_nb, pipeline.reference_answers(source_nb))
    for student, nb in subs.items():
        pipeline.write_submission(course, student, ps, nb)
    if via_script:
        course_script(course, "autograde")
    else:
        pipeline.autograde(course, ps)
    scores = pipeline.read_scores(course, ps, list(subs))
    source_path = course / "source" / ps / f"{ps}.ipynb"
    if via_script:
        def validate(path):
            result = course_script(course, "validate", str(path), check=False)
            return pipeline.validation_verdict(result.stdout + result.stderr)
    else:
        def validate(path):
            return pipeline.validate(course, path)
    result = PipelineResult(
        source_nb=source_nb, release_nb=release_nb, scores=scores,
        validate_reference=validate(source_path), validate_blank=validate(release_path),
        course=course)
    if via_script:
        course_script(course, "feedback")
        result.extra["first_export"] = course_script(course, "export").stdout
        result.extra["second_export"] = course_script(course, "export").stdout
    return result


def _needed_problem_sets(session) -> set[str]:
    """Problem sets whose pipeline a selected test needs (tests without a ps use ps1's)."""
    needed = set()
    for item in session.items:
        if "pipelines" in getattr(item, "fixturenames", ()):
            callspec = getattr(item, "callspec", None)
            needed.add(callspec.params.get("ps", "ps1_state_machines") if callspec
                       else "ps1_state_machines")
    return needed


@pytest.fixture(scope="session")
def pipelines(request, tmp_path_factory) -> dict[str, PipelineResult | Exception]:
    root = tmp_path_factory.mktemp("course")
    # Longest first, so the two workers finish at about the same time.
    needed = _needed_problem_sets(request.session)
    order = [ps for ps in ("ps5_language_model", "ps6_seq2seq", "ps3_bptt", "ps2_rnn_forward",
                           "ps4_gating", "ps1_state_machines") if ps in needed]

    def attempt(ps):
        try:
            return run_pipeline(ps, root)
        except Exception as error:  # noqa: BLE001 - reported by every test of this ps
            return error

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = dict(zip(order, pool.map(attempt, order), strict=True))
    return results


def result_of(pipelines, ps) -> PipelineResult:
    result = pipelines[ps]
    if isinstance(result, Exception):
        raise result
    return result


def cells(nb: dict) -> list[dict]:
    return nb["cells"]


def text(cell: dict) -> str:
    return cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])


def meta(cell: dict) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


# --------------------------------------------------------------------------- source notebooks


def test_source_notebooks_match_their_authoring_files():
    result = subprocess.run(
        [sys.executable, str(pipeline.COURSE_DIR / "authoring" / "build_notebooks.py"), "--check"],
        capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("ps", PROBLEM_SETS)
def test_source_notebook_is_well_formed(ps):
    nb = pipeline.source_notebook(pipeline.COURSE_DIR, ps)
    ids = [meta(c)["grade_id"] for c in cells(nb) if meta(c)]
    assert len(ids) == len(set(ids)), "duplicate grade ids"
    kinds = {"solution": 0, "visible": 0, "hidden": 0, "answer": 0}
    for cell in cells(nb):
        assert cell.get("outputs", []) == [] and cell.get("execution_count") is None, \
            "source notebooks are committed without outputs"
        m, body = meta(cell), text(cell)
        if m.get("solution") and cell["cell_type"] == "code":
            kinds["solution"] += 1
            assert body.count("### BEGIN SOLUTION") == body.count("### END SOLUTION") >= 1
        elif m.get("solution"):
            kinds["answer"] += 1
            assert m.get("grade") and m["points"] > 0
            assert "=== BEGIN MARK SCHEME ===" in body, "written answers carry a mark scheme"
        elif m.get("grade"):
            hidden = "### BEGIN HIDDEN TESTS" in body
            kinds["hidden" if hidden else "visible"] += 1
            assert m["locked"] and m["points"] > 0
            assert m["grade_id"].endswith("_hidden") == hidden
            if hidden:
                assert "course_checks" in body and "### END HIDDEN TESTS" in body
    assert kinds["solution"] >= 4 and kinds["hidden"] >= 4 and kinds["visible"] >= 4
    assert 1 <= kinds["answer"] <= 2


# --------------------------------------------------------------------------- hidden-test structure

GRADING_DIR = pipeline.COURSE_DIR / "grading"
# Provided cells that only run the (long) training; their hidden tests are covered by the
# pipeline tests.
SKIPPED_CELLS = {"provided_training", "test_training_hidden", "test_training_visible"}


def _hidden_steps(cell_source: str) -> tuple[str, str]:
    """Split a hidden test into steps (a)+(b) and its last statement, step (c)."""
    hidden = _regions(cell_source, "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS").strip()
    lines = hidden.split("\n")
    return "\n".join(lines[:-1]), lines[-1]


def _student_runs(value):
    """Every StudentRun inside what step (b) returned (a run, or lists/dicts of runs)."""
    from course_checks.common import StudentRun

    if isinstance(value, StudentRun):
        yield value
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _student_runs(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _student_runs(item)


def _round_trip(value):
    """Rebuild step (b)'s results from plain data, as a separate checker process would."""
    from course_checks.common import StudentRun

    if isinstance(value, StudentRun):
        return StudentRun.from_dict(json.loads(json.dumps(value.as_dict(), default=_encode),
                                               object_hook=_decode))
    if isinstance(value, list):
        return [_round_trip(v) for v in value]
    if isinstance(value, dict):
        return {k: _round_trip(v) for k, v in value.items()}
    return value


def _encode(obj):
    import numpy as np

    if isinstance(obj, np.ndarray):
        return {"__array__": obj.tolist(), "dtype": str(obj.dtype), "shape": list(obj.shape)}
    if isinstance(obj, np.generic):
        return {"__scalar__": obj.item(), "dtype": str(obj.dtype)}
    raise TypeError(f"not plain data: {type(obj).__name__}")


def _decode(obj):
    import numpy as np

    if "__array__" in obj:
        return np.array(obj["__array__"], dtype=obj["dtype"]).reshape(obj["shape"])
    if "__scalar__" in obj:
        return np.dtype(obj["dtype"]).type(obj["__scalar__"])
    return obj


@pytest.mark.parametrize("ps", PROBLEM_SETS)
def test_hidden_tests_judge_plain_data_from_the_student_run(ps, monkeypatch, capsys):
    """Steps (a)+(b) of every hidden test give plain data; step (c) grades its serialised copy.

    The reference solution is executed in this process (not through nbgrader);
    each hidden test's comparison runs on runs rebuilt from JSON and must give
    full points.
    """
    monkeypatch.syspath_prepend(str(GRADING_DIR))
    from course_checks.common import is_plain

    nb = pipeline.source_notebook(pipeline.COURSE_DIR, ps)
    answers = pipeline.reference_answers(nb)
    namespace: dict = {}
    checked = 0
    for cell in cells(nb):
        m = meta(cell)
        if cell["cell_type"] != "code" or m.get("grade_id") in SKIPPED_CELLS:
            continue
        body = text(cell)
        if m.get("solution"):
            exec(compile(answers[m["grade_id"]], m["grade_id"], "exec"), namespace)
        elif "### BEGIN HIDDEN TESTS" in body:
            steps_ab, step_c = _hidden_steps(body)
            exec(compile(steps_ab, m["grade_id"], "exec"), namespace)
            produced = namespace["runs"] if "runs" in namespace else namespace["run"]
            for run in _student_runs(produced):
                assert is_plain(run.value), f"{m['grade_id']}: {run.label} is not plain data"
                assert not run.reference_calls
            for name in ("runs", "run"):
                if name in namespace:
                    namespace[name] = _round_trip(namespace[name])
            earned = eval(compile(step_c, m["grade_id"], "eval"), namespace)
            assert earned is None or earned == pytest.approx(m["points"]), \
                f"{m['grade_id']}: {earned} of {m['points']}\n{capsys.readouterr().out}"
            namespace.pop("runs", None)
            namespace.pop("run", None)
            checked += 1
        elif not m.get("grade"):
            exec(compile(body, m.get("grade_id", "cell"), "exec"), namespace)
    assert checked >= 4


# --------------------------------------------------------------------------- release


def _lines(source: str) -> set[str]:
    return {line.strip() for line in source.split("\n") if len(line.strip()) > 3}


def _regions(source: str, begin: str, end: str) -> str:
    return "\n".join(re.findall(rf"{re.escape(begin)}(.*?){re.escape(end)}", source, re.S))


@pytest.mark.parametrize("ps", PROBLEM_SETS)
def test_release_holds_no_solution_and_no_hidden_test(pipelines, ps):
    result = result_of(pipelines, ps)
    release = "\n".join(text(c) for c in cells(result.release_nb))
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "course_checks",
                   "MARK SCHEME"):
        assert marker not in release
    source_text = "\n".join(text(c) for c in cells(result.source_nb))
    secret = (_regions(source_text, "### BEGIN SOLUTION", "### END SOLUTION") + "\n"
              + _regions(source_text, "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"))
    answers = "\n".join(text(c) for c in cells(result.source_nb)
                        if meta(c).get("solution") and c["cell_type"] == "markdown")
    public = _lines(_regions(source_text, "### END SOLUTION", "### BEGIN SOLUTION"))
    public |= {line for c in cells(result.source_nb) if not meta(c).get("solution")
               and "### BEGIN HIDDEN TESTS" not in text(c) for line in _lines(text(c))}
    leaked = (_lines(secret) | _lines(answers)) - public
    assert not leaked & _lines(release)
    assert len(cells(result.release_nb)) == len(cells(result.source_nb))


# --------------------------------------------------------------------------- autograding


@pytest.mark.parametrize("ps", PROBLEM_SETS)
def test_reference_solution_gets_full_autograded_marks(pipelines, ps):
    score = result_of(pipelines, ps).scores["reference"]
    assert score.graded
    assert score.auto_max > 0
    assert score.auto == pytest.approx(score.auto_max), score.cells


@pytest.mark.parametrize("ps", PROBLEM_SETS)
def test_blank_release_gets_zero(pipelines, ps):
    score = result_of(pipelines, ps).scores["blank"]
    assert score.graded
    assert score.auto == 0, score.cells


@pytest.mark.parametrize(("ps", "patch"), [
    pytest.param(ps, patch, id=f"{ps}-{patch.name}")
    for ps, patches in BUGGY_SUBMISSIONS.items() for patch in patches
])
def test_buggy_submission_gets_partial_marks(pipelines, ps, patch):
    score = result_of(pipelines, ps).scores[f"bug_{patch.name}"]
    assert score.graded
    assert 0 < score.auto < score.auto_max, f"{patch.description}: {score.cells}"


@pytest.mark.parametrize(("ps", "patch", "losing"), [
    pytest.param(ps, patch, losing, id=f"{ps}-{patch.name}")
    for ps, mutants in CACHE_MUTANTS.items() for patch, losing in mutants
])
def test_a_corrupt_cache_costs_the_forwards_hidden_test(pipelines, ps, patch, losing):
    """Issue 15: right outputs, corrupt cache. The forward's hidden test loses its cache share
    (not all of it) and says the cache is wrong; every other hidden test keeps full marks."""
    result = result_of(pipelines, ps)
    reference, score = result.scores["reference"], result.scores[f"cache_{patch.name}"]
    assert score.graded
    for cell in losing:
        assert 0 < score.cells[cell] < reference.cells[cell], (cell, score.cells)
    for cell, points in reference.cells.items():
        if cell.endswith("_hidden") and cell not in losing:
            assert score.cells[cell] == pytest.approx(points), (cell, score.cells)
    autograded = pipeline.load(result.course / "autograded" / f"cache_{patch.name}" / ps
                               / f"{ps}.ipynb")
    output = "".join("".join(out.get("text", "")) for cell in cells(autograded)
                     if meta(cell).get("grade_id") == losing[0]
                     for out in cell.get("outputs", []))
    assert "the cache is wrong" in output, output[-2000:]


@pytest.mark.parametrize("ps", sorted(REFERENCE_CALLERS))
def test_calling_the_reference_loses_that_hidden_test(pipelines, ps):
    result = result_of(pipelines, ps)
    _, hidden_cell = REFERENCE_CALLERS[ps]
    caller, reference = result.scores["refcall"], result.scores["reference"]
    assert caller.cells[hidden_cell] == 0
    others = {k: v for k, v in caller.cells.items() if k != hidden_cell}
    assert others == {k: v for k, v in reference.cells.items() if k != hidden_cell}


@pytest.mark.parametrize("ps", sorted(NOISY_CORRECT))
def test_warnings_on_stderr_cost_nothing(pipelines, ps):
    result = result_of(pipelines, ps)
    score = result.scores["noisy"]
    assert score.auto == pytest.approx(score.auto_max), score.cells
    autograded = pipeline.load(result.course / "autograded" / "noisy" / ps / f"{ps}.ipynb")
    executed = "\n".join(json.dumps(c.get("outputs", [])) for c in cells(autograded))
    assert "FutureWarning" not in executed, "the warning should have been removed from stderr"


@pytest.mark.parametrize("ps", PROBLEM_SETS)
def test_validate_passes_the_reference_and_fails_the_blank(pipelines, ps):
    result = result_of(pipelines, ps)
    assert result.validate_reference
    assert not result.validate_blank


# --------------------------------------------------------------------------- workflow (ps1)


def test_feedback_shows_failures_but_not_hidden_tests(pipelines):
    ps = "ps1_state_machines"
    result = result_of(pipelines, ps)
    blank = (result.course / "feedback" / "blank" / ps / f"{ps}.html").read_text()
    buggy = (result.course / "feedback" / "bug_parity_counts_ones" / ps / f"{ps}.html")
    buggy = buggy.read_text()
    for html in (blank, buggy):
        assert "course_checks" not in html and "HIDDEN TESTS" not in html
        assert "grading.check_" not in html
    # course.sh feedback is the grader's (nbgrader's generate_feedback is refused)
    assert "parity_machine: wrong outputs on 510 of 511" in buggy  # trusted words stay whole
    assert "test_parity_machine_hidden</code>: 0 / 2 points" in buggy


def test_export_writes_grades_and_keeps_the_previous_export(pipelines):
    result = result_of(pipelines, "ps1_state_machines")
    csv_path = result.course / "reports" / "nbgrader_grades.csv"
    rows = csv_path.read_text().strip().split("\n")
    header = rows[0].split(",")
    assert "student_id" in header and "score" in header
    students = {row.split(",")[header.index("student_id")] for row in rows[1:]}
    assert {"reference", "blank"} <= students
    backups = list(csv_path.parent.glob("nbgrader_grades.csv.*.bak"))
    assert len(backups) == 1, "the second export keeps the first one"
    assert "kept the previous export" in result.extra["second_export"]


def test_course_script_rejects_unknown_problem_sets():
    env = dict(os.environ, COURSE_DIR=str(pipeline.COURSE_DIR))
    result = subprocess.run(["bash", str(COURSE_SCRIPT), "release", "ps9_nothing"], env=env,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 2
    assert "ps9_nothing" in result.stderr and "ps1_state_machines" in result.stderr
