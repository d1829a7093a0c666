"""The cheating and crash corpora, graded once in parallel: expected scores and reports.

Every submission of ``tests/grading_corpus/corpus.py`` (honest, cheating, crashing)
and ``tests/grading_corpus/hostile.py`` (written against ``grader/`` by someone who
read it) is graded in one run by ``python -m grader autograde`` with two workers;
each must get exactly its expected autograded score (cheats: nothing they did not
earn, never more than a plainly wrong answer; crashes: only the points of the cells
the crash prevented), with the expected problems and reasons reported, while the
honest classmates graded beside them keep full marks; the gradebook must agree
with the result files.
"""

from __future__ import annotations

import json

import pytest
from grading_corpus import corpus, harness, hostile
from nbgrader.api import Gradebook


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    base = tmp_path_factory.getbasetemp() / "grader"
    base.mkdir(exist_ok=True)
    return harness.graded_corpus(base)


def test_exit_status_says_attention_is_needed(graded):
    _, completed = graded
    assert completed.returncode == 1, completed.stdout + completed.stderr
    assert "exit status 1: everything graded; some submissions need attention" in completed.stdout


@pytest.mark.parametrize("case", hostile.EVERY, ids=lambda case: case.student)
def test_score_and_problems(graded, case):
    course, _ = graded
    summary = harness.result(course, case.student)
    assert summary["score"] == pytest.approx(case.score), case.description
    reported = harness.problem_keys(summary)
    assert case.problems <= reported, f"missing {case.problems - reported}; got {reported}"
    assert summary["attention"] == case.attention, reported


def test_cheats_earn_no_points_in_the_gradebook(graded):
    course, _ = graded
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for case in corpus.CHEATS:
            submission = gb.find_submission(corpus.ASSIGNMENT, case.student)
            assert submission.score == 0.0, case.student
            assert submission.notebooks[0].flagged == (case.student != "nan_trick")


def test_honest_work_is_not_flagged(graded):
    course, _ = graded
    for case in corpus.HONEST:
        keys = harness.problem_keys(harness.result(course, case.student))
        assert not {k for k in keys if k.startswith(("integrity", "tamper"))}, (case.student, keys)


def test_gradebook_agrees_with_results(graded):
    course, _ = graded
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        assert sorted(s.id for s in gb.students) == sorted(c.student for c in hostile.EVERY)
        for case in hostile.EVERY:
            submission = gb.find_submission(corpus.ASSIGNMENT, case.student)
            assert submission.score == pytest.approx(case.score), case.student
        honest = gb.find_submission_notebook(corpus.NOTEBOOK, corpus.ASSIGNMENT, "honest")
        answer = [g for g in honest.grades if g.name == "answer_running_mean"][0]
        assert answer.needs_manual_grade and answer.auto_score is None
        blank = gb.find_comment("answer_running_mean", corpus.NOTEBOOK, corpus.ASSIGNMENT, "blank")
        assert blank.auto_comment == "No response."
        # A visible test is judged outside the kernel too, so a flagged submission keeps what
        # its visible test earned instead of having it withheld for review.
        visible = gb.find_grade("test_running_mean_visible", corpus.NOTEBOOK, corpus.ASSIGNMENT,
                                "fork_bomb")
        assert visible.auto_score == 1.0 and not visible.needs_manual_grade


def test_crash_is_rerun_without_the_crashing_cell(graded):
    course, _ = graded
    notebook = harness.result(course, "crash_segfault")["notebooks"][0]
    assert notebook["attempts"] == 2
    cells = {c["grade_id"]: c for c in notebook["cells"]}
    assert cells["test_rnn_step_hidden"]["status"] == "crash"
    assert "SIGSEGV" in cells["test_rnn_step_hidden"]["detail"]
    assert cells["test_running_mean_hidden"]["status"] == "ok"
    checks = {c["name"]: c for c in notebook["checks"]}
    assert checks["running_mean on seeded sequences"]["earned"] == 2.0
    assert checks["rnn_step_forward with a zero state (n=1)"]["status"] == "missing"


def test_timeouts_and_memory(graded):
    course, _ = graded
    loop = {c["grade_id"]: c for c in harness.result(course, "infinite_loop")["notebooks"][0]["cells"]}
    assert loop["test_running_mean_hidden"]["status"] == "timeout"
    stubborn = harness.result(course, "stubborn_loop")["notebooks"][0]
    assert stubborn["attempts"] == 2
    assert "ignored the interrupt" in str(stubborn["problems"])
    bomb = harness.result(course, "memory_bomb")["notebooks"][0]
    check = [c for c in bomb["checks"] if c["cell"] == "test_running_mean_hidden"][0]
    assert check["earned"] == 1.5
    assert any("MemoryError" in m for m in check["messages"])


def test_no_process_survives_grading(graded):
    assert harness.sandbox_processes() == []


def test_summary_names_every_problem(graded):
    _, completed = graded
    out = completed.stdout
    for expected in ("crash_segfault: crash:", "the kernel died (SIGSEGV)",
                     "malformed_json: malformed:", "missing_notebook: missing:",
                     "infinite_loop: timeout:", "call_reference: integrity:",
                     "delete_tests: tamper:"):
        assert expected in out, expected
    assert "honest" in out and "6/7" in out


def test_reference_checks_and_assertion_counts(graded):
    import json

    course, _ = graded
    data = json.loads((course / ".grader" / "reference" / "fx_rnn" / "fx_rnn.json").read_text())
    outcome = data["outcome"]
    # Every test cell is judged from data: checks, or asserts observed (once each here).
    assert outcome["assert_counts"]["test_running_mean_visible"] == {"0": 1}
    assert outcome["assert_counts"]["test_rnn_step_hidden"] == {}
    names = {cell: [s["name"] for s in specs] for cell, specs in outcome["specs"].items()}
    assert names["test_rnn_step_hidden"] == ["rnn_step_forward on random inputs (n=3, d=4, h=5)",
                                             "rnn_step_forward with a zero state (n=1)"]
    assert outcome["specs"]["test_running_mean_hidden"][0]["verdict"] == \
        "fxchecks.checks:verdict_running_mean"


# --------------------------------------------------------------------------- hostile corpus (issue 8)

KERNEL_TRICKS = ("silence_tracebacks", "rewrite_cells", "forge_messages", "lying_types",
                 "proc_snoop", "shadow_helpers")


def test_kernel_tricks_never_beat_a_plainly_wrong_answer(graded):
    course, _ = graded
    control = harness.result(course, "plain_wrong")["score"]
    assert control == hostile.PLAIN_WRONG
    for student in KERNEL_TRICKS:
        assert harness.result(course, student)["score"] <= control, student


def test_innocent_classmates_keep_full_marks(graded):
    """Graded in the same run, two at a time, beside every hostile submission."""
    course, completed = graded
    for student in ("honest", "extra_notebook"):
        summary = harness.result(course, student)
        assert summary["score"] == 6.0, student
    assert not harness.result(course, "honest")["attention"]
    assert "honest: 6/7" in completed.stdout or "honest" in completed.stdout


@pytest.mark.parametrize(("student", "reason"), [
    ("link_notebook", "fx_rnn.ipynb: is a symbolic link"),
    ("link_directory", "is a symbolic link; a submission must be a plain directory"),
    ("link_student", "is a symbolic link; a submission must be a plain directory"),
    ("link_gradebook", "answers.db: is a symbolic link"),
    ("fifo_notebook", "is a FIFO (named pipe), not a regular file"),
    ("device_notebook", "is a character device, not a regular file"),
    ("directory_notebook", "fx_rnn.ipynb is a directory, not a notebook"),
    ("deep_notebook", "nested 200001 levels deep, deeper than 64"),
    ("flood", "the rest was dropped"),
    ("deep_records", "nested 200000 levels deep"),
    ("deep_records", "messages the grader could not read (malformed, nested too deeply"),
])
def test_the_instructor_is_told_why(graded, student, reason):
    course, completed = graded
    summary = harness.result(course, student)
    details = json.dumps(summary)
    assert reason in details, details[:2000]
    assert f"{student}: " in completed.stdout  # on the console's attention list


def test_links_are_never_followed(graded):
    """The classmate's notebook behind a symlink was neither graded nor copied."""
    course, _ = graded
    for student in ("link_notebook", "link_directory", "link_student"):
        summary = harness.result(course, student)
        assert summary["score"] == 0.0
        assert all(nb["status"] == "refused" for nb in summary["notebooks"]), student
        assert not (course / "autograded" / student / "fx_rnn" / "fx_rnn.ipynb").exists()
    staged = course / ".grader" / "staging" / "fx_rnn" / "link_gradebook"
    assert not (staged / "answers.db").exists() and not (staged / "passwd").exists()
