"""The term's small pieces (issue 9): backups and restore, a corrupt or locked gradebook,
extensions, the per-hour plugin, the refused ``generate_feedback``, make's exit status,
Canvas's zip download, ``course.sh validate``, ``--student A B``, rounding, and the
documentation fixes."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from grading_corpus import corpus, harness, hostile

from grader import term
from grader.course import Course, CourseError

REPO = harness.REPO


def grader(*argv, cwd=REPO, timeout=300):
    return subprocess.run([sys.executable, "-m", "grader", *argv], cwd=cwd,
                          env=harness.environment(), capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture
def small_course(tmp_path, monkeypatch):
    """A course directory holding only a gradebook with one assignment and one student."""
    from nbgrader.api import Gradebook

    monkeypatch.setenv("PATH", harness.environment()["PATH"])  # nbgrader runs `alembic`

    course = tmp_path / "course"
    course.mkdir()
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        gb.add_assignment("ps1", duedate="2026-10-01 17:00:00")
        gb.add_student("s1", first_name="Ada", last_name="Adams", email="a@x", lms_user_id="77")
    (course / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        f"c.CourseDirectory.db_url = 'sqlite:///{course / 'gradebook.db'}'\n")
    return course


def test_backups_keep_five_and_restore_puts_the_newest_back(small_course):
    course = Course(str(small_course))
    made = []
    for i in range(7):
        with sqlite3.connect(small_course / "gradebook.db") as db:
            db.execute("UPDATE student SET first_name = ?", (f"v{i}",))
        made.append(term.backup_gradebook(course))
    kept = term.list_backups(course)
    assert kept == made[-5:] and len(kept) == 5
    with sqlite3.connect(small_course / "gradebook.db") as db:
        db.execute("UPDATE student SET first_name = 'lost'")
    done = grader("restore", "--course", str(small_course))
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(small_course / "gradebook.db") as db:
        assert db.execute("SELECT first_name FROM student").fetchone() == ("v6",)
    assert (small_course / "gradebook.db.before-restore").exists()
    listed = grader("restore", "--list", "--course", str(small_course))
    assert listed.stdout.split() == kept


@pytest.mark.parametrize("command", [["report"], ["export", "--format", "canvas"],
                                     ["autograde", "ps1"], ["feedback", "ps1"],
                                     ["extend", "s1", "ps1", "--until", "2026-10-02"]])
def test_a_corrupt_gradebook_gives_one_sentence_and_the_restore_command(small_course, command):
    (small_course / "gradebook.db").write_bytes(b"this is not a database" * 100)
    done = grader(*command, "--course", str(small_course))
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert "cannot be used" in done.stderr
    assert f"python -m grader restore --course {small_course}" in done.stderr


def test_a_locked_gradebook_gives_one_sentence(small_course):
    holder = sqlite3.connect(small_course / "gradebook.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        done = grader("report", "--course", str(small_course))
    finally:
        holder.rollback()
        holder.close()
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "locked" in done.stderr and "python -m grader restore" in done.stderr


def test_extensions_live_in_one_versioned_file(small_course):
    done = grader("extend", "s1", "ps1", "--until", "2026-10-03 12:00 UTC", "--course",
                  str(small_course))
    assert done.returncode == 0, done.stderr
    data = json.loads((small_course / "extensions.json").read_text())
    assert data == {"version": 1, "extensions": {"ps1": {"s1": "2026-10-03 12:00:00 UTC"}}}
    assert grader("extend", "nobody", "ps1", "--until", "2026-10-03", "--course",
                  str(small_course)).returncode == 2
    assert grader("extend", "s1", "ps9", "--until", "2026-10-03", "--course",
                  str(small_course)).returncode == 2
    done = grader("extend", "s1", "ps1", "--remove", "--course", str(small_course))
    assert json.loads((small_course / "extensions.json").read_text())["extensions"] == {}
    with pytest.raises(CourseError):
        term.parse_date("next tuesday-ish")


def test_per_hour_plugin_deducts_per_started_hour_up_to_the_cap():
    from grader.late import PerHourPenalty

    plugin = PerHourPenalty(points_per_hour=0.5, max_penalty=2.0, grace_minutes=5)
    assert plugin.late_submission_penalty("s", 10.0, 4 * 60) is None  # within the grace
    assert plugin.late_submission_penalty("s", 10.0, 30 * 60) == 0.5
    assert plugin.late_submission_penalty("s", 10.0, 3 * 3600 + 12 * 60) == 2.0
    assert plugin.late_submission_penalty("s", 10.0, 30 * 3600) == 2.0  # the cap
    assert plugin.late_submission_penalty("s", 0.25, 30 * 3600) == 0.25  # never below 0
    assert term.describe_lateness(3 * 3600 + 12 * 60) == "3 h 12 min"
    assert term.describe_lateness(86400 + 60) == "1 d 0 h 1 min"


def test_scores_are_rounded_to_two_decimals():
    assert term.fmt(14.166666666) == "14.17" and term.fmt(6.0) == "6" and term.fmt(None) == "0"


def test_student_accepts_both_spellings():
    from grader.__main__ import _parser

    args = _parser().parse_args(["autograde", "ps1", "--student", "a", "b", "--student", "c"])
    assert args.students == ["a", "b", "c"]
    args = _parser().parse_args(["feedback", "ps1", "--student", "a", "b"])
    assert args.students == ["a", "b"]


def test_nbgrader_generate_feedback_is_refused_by_the_course():
    env = harness.environment()
    done = subprocess.run([sys.executable, "-m", "nbgrader", "generate_feedback",
                           "ps1_state_machines"], cwd=REPO / "assignments", env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "python -m grader feedback" in done.stderr and "Traceback" not in done.stderr
    from grader import nbhooks

    with pytest.raises(nbhooks.FeedbackRefused):
        nbhooks.RefuseFeedback().preprocess(None, {})
    nbhooks.refuse_generate_feedback(["nbgrader", "autograde", "ps1"])  # other commands run


def _blank_notebook(path: Path, source: str) -> Path:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source, metadata={"nbgrader": {
        "grade": True, "grade_id": "test", "points": 1, "solution": False, "locked": True,
        "schema_version": 3}})]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, path)
    return path


def test_course_sh_validate_fails_when_a_test_fails(tmp_path):
    bad = _blank_notebook(tmp_path / "bad.ipynb", "assert 1 == 2, 'wrong'")
    good = _blank_notebook(tmp_path / "good.ipynb", "assert 1 == 1")
    script = REPO / "assignments" / "course.sh"
    env = harness.environment()
    failed = subprocess.run(["bash", str(script), "validate", str(bad)], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=300)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "  FAIL   test  0/1  AssertionError: wrong" in failed.stdout
    assert "bad.ipynb: FAILED: 1 of 1 visible checks fail (0 of 1 points)" in failed.stdout
    passed = subprocess.run(["bash", str(script), "validate", str(good)], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=300)
    assert passed.returncode == 0, passed.stdout + passed.stderr


def test_validate_in_the_sandbox_imports_rnn_lib(tmp_path):
    notebook = _blank_notebook(tmp_path / "uses_lib.ipynb",
                               "import rnn_lib\nfrom rnn_lib import rnn\nprint(rnn_lib.__name__)")
    done = grader("validate", str(notebook), "--cell-timeout", "60")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No module named" not in done.stdout


def test_documentation_fixes():
    readme = (REPO / "README.md").read_text()
    assert "mkdir -p ~/work && cp assignments/release/" in readme
    guide = (REPO / "book" / "instructor_guide.md").read_text()
    assert "graded one after the other" not in guide and "Each cell may run for two" not in guide
    assert "python -m grader" in (REPO / "grader" / "README.md").read_text().split(
        "## Running a term")[1]


# --------------------------------------------------------------------------- with the fixture


@pytest.fixture(scope="module")
def fixture_course(tmp_path_factory):
    base = tmp_path_factory.getbasetemp() / "grader"
    base.mkdir(exist_ok=True)
    return harness.course_copy(base, "term_units")


def _make(course: Path, *targets: str, ps: str):
    env = harness.environment()
    return subprocess.run(["make", "--no-print-directory", "-o", "setup", *targets,
                           f"COURSE={course}", f"PS={ps}"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)


def test_make_succeeds_when_everything_was_graded_and_skips_unreleased(fixture_course):
    harness.write_submission(fixture_course, corpus.BY_STUDENT["honest"])
    harness.write_submission(fixture_course, corpus.BY_STUDENT["malformed_json"])
    harness.write_submission(fixture_course, dataclasses.replace(
        corpus.BY_STUDENT["honest"], student="wrong_mean", running_mean=hostile.MEAN_WRONG))
    (fixture_course / "source" / "ps_later").mkdir()
    backups = fixture_course / ".grader" / "backups"
    before = len(list(backups.glob("gradebook-*.db")))
    done = _make(fixture_course, "autograde", "feedback", ps="fx_rnn ps_later")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "== autograde ps_later: skipped, not released yet" in done.stdout
    assert "some submissions NEED ATTENTION" in done.stdout  # malformed_json, loudly
    assert (fixture_course / "feedback" / "honest" / "fx_rnn" / "fx_rnn.html").exists()
    # the failing visible assertion's own message is shown to the student
    page = (fixture_course / "feedback" / "wrong_mean" / "fx_rnn" / "fx_rnn.html").read_text()
    assert "one mean per prefix" in page
    assert len(list(backups.glob("gradebook-*.db"))) == before + 1


def test_make_fails_for_a_course_error(fixture_course):
    (fixture_course / "release" / "ghost").mkdir(parents=True)  # released, not in the gradebook
    done = _make(fixture_course, "autograde", ps="ghost")
    assert done.returncode == 2 and "FAILED (status 2)" in done.stderr


def test_zip_collect_files_a_canvas_download_under_roster_ids(fixture_course):
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{fixture_course / 'gradebook.db'}") as gb:
        gb.update_or_create_student("ada", lms_user_id="9001", email="ada@x")
    config = fixture_course / "nbgrader_config.py"
    config.write_text(config.read_text() + "\nfrom grader.collect import CANVAS_PATTERN\n"
                      "c.ZipCollectApp.collector_plugin = 'grader.collect.CanvasCollector'\n"
                      "c.FileNameCollectorPlugin.named_regexp = CANVAS_PATTERN\n")
    archive = fixture_course / "downloaded" / "fx_rnn" / "archive"
    archive.mkdir(parents=True)
    text = json.dumps(harness.submission_json(fixture_course, corpus.BY_STUDENT["honest"]))
    with zipfile.ZipFile(archive / "submissions.zip", "w") as z:
        z.writestr("adamsada_LATE_9001_20261002T101500_fx_rnn.ipynb", text)
        z.writestr("brownben_9002_20261001T090000_fx_rnn.ipynb", text)
    env = harness.environment()
    env["PYTHONPATH"] = str(REPO)
    done = subprocess.run([sys.executable, "-m", "nbgrader", "zip_collect", "fx_rnn"],
                          cwd=fixture_course, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    ada = fixture_course / "submitted" / "ada" / "fx_rnn"
    assert (ada / "fx_rnn.ipynb").read_text() == text
    assert (ada / "timestamp.txt").read_text().startswith("2026-10-02 10:15:00")
    assert (fixture_course / "submitted" / "9002" / "fx_rnn" / "fx_rnn.ipynb").exists()
    shutil.rmtree(fixture_course / "downloaded")
    os.remove(fixture_course / "submitted" / "9002" / "fx_rnn" / "fx_rnn.ipynb")
