"""A PostgreSQL gradebook (issue 10), against real throwaway PostgreSQL servers.

The course's ``nbgrader_config.py`` sets ``c.CourseDirectory.db_url =
"postgresql+psycopg://..."``; nbgrader itself (``generate_assignment``, ``db
student add``) and every grader command work on it unchanged; two runs on
different problem sets at once both finish right; a second run on the same
problem set is refused naming the first; a server that goes away mid-run is
waited for (or the run stops with nothing half-written and a rerun finishes);
backups of a server gradebook exist and ``restore`` puts them back.

Every test has its own database (``postgres_url``) or its own server
(``private_postgres``), so they run in parallel under pytest-xdist.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import servers
from grading_corpus import corpus, harness

from grader import dblock, term
from grader.course import Course
from grader.gradebook import GradebookUnavailable, commit_result, commit_with_retry, dump

# the servers' fixtures (a cluster per test process, a database per test, a private cluster)
postgres_server, postgres_url = servers.postgres_server, servers.postgres_url
private_postgres = servers.private_postgres

A, B = corpus.ASSIGNMENT, "fx_b"
HONEST, BLANK, PARTIAL = corpus.HONEST[0], corpus.HONEST[1], corpus.HONEST[2]


# --------------------------------------------------------------------------- helpers


@pytest.fixture(autouse=True)
def _alembic_on_path(monkeypatch):
    monkeypatch.setenv("PATH", harness.environment()["PATH"])  # nbgrader runs `alembic`



def students(count: int) -> list[corpus.Case]:
    """``count`` submissions cycling honest (6), partial (4) and blank (0)."""
    cycle = [HONEST, PARTIAL, BLANK]
    return [dataclasses.replace(cycle[i % 3], student=f"st{i:02d}") for i in range(count)]


def points(case: corpus.Case) -> float:
    if case.rnn_step != corpus.RNN_OK:
        return 0.0
    return 6.0 if case.running_mean == corpus.MEAN_OK else 4.0


def expected(cases: list[corpus.Case]) -> dict[str, float]:
    return {c.student: points(c) for c in cases}


def use_database(course: Path, url: str) -> None:
    config = course / "nbgrader_config.py"
    config.write_text(config.read_text() + f'\nc.CourseDirectory.db_url = "{url}"\n')


def pg_course(tmp_path_factory, name: str, url: str, generate: bool = False) -> Path:
    """A copy of the fixture course whose gradebook is ``url`` (filled from the SQLite one)."""
    base = tmp_path_factory.getbasetemp() / "grader"
    base.mkdir(exist_ok=True)
    course = harness.course_copy(base, f"{name}-{time.monotonic_ns()}")
    sqlite_url = f"sqlite:///{course / 'gradebook.db'}"
    if generate:  # nbgrader itself writes the assignment into PostgreSQL
        use_database(course, url)
        done = nbgrader(course, "generate_assignment", A, "--force")
        assert done.returncode == 0, done.stdout + done.stderr
    else:
        term.copy_gradebook(sqlite_url, url)
        use_database(course, url)
    (course / "gradebook.db").unlink()  # nothing may fall back on the file
    assert Course(str(course)).db_url == url
    return course


def nbgrader(course: Path, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nbgrader", *argv], cwd=course,
                          env=harness.environment(), capture_output=True, text=True, timeout=300)


def grader(course: Path, *argv: str, timeout: float = 600, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grader", *argv, "--course", str(course)],
                          cwd=harness.REPO, env={**harness.environment(), **(env or {})},
                          capture_output=True, text=True, timeout=timeout)


def autograde_argv(course: Path, assignment: str = A, *extra: str) -> list[str]:
    return [sys.executable, "-m", "grader", "autograde", assignment, "--course", str(course),
            "--quiet", *harness.FAST, "--workers", "1", *extra]


def start_autograde(course: Path, assignment: str = A, *extra: str, env=None) -> subprocess.Popen:
    return subprocess.Popen(autograde_argv(course, assignment, *extra), cwd=harness.REPO,
                            env={**harness.environment(), **(env or {})}, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def finish(process: subprocess.Popen, timeout: float = 600) -> tuple[int, str]:
    out, _ = process.communicate(timeout=timeout)
    return process.returncode, out


def submit(course: Path, cases: list[corpus.Case], assignment: str = A) -> None:
    for case in cases:
        directory = harness.write_submission(course, case)
        if assignment != A:
            target = course / "submitted" / case.student / assignment
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(directory, target)
            shutil.rmtree(directory)


def scores(url: str, assignment: str = A) -> dict[str, float]:
    """Autograded points per student, and no student or submission row twice."""
    rows = dump(url, assignment)
    submissions = [r[2] for r in rows if r[0] == "submission"]
    assert len(submissions) == len(set(submissions)), submissions
    out: dict[str, float] = {}
    for r in rows:
        if r[0] == "grade":
            out[r[2]] = out.get(r[2], 0.0) + (r[5] or 0.0)
    return out


def results_written(course: Path, assignment: str = A) -> int:
    directory = course / ".grader" / "results" / assignment
    return len(list(directory.glob("*.json"))) if directory.is_dir() else 0


def wait_for(predicate, timeout: float = 300, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def synthetic_gradebook(url: str, cells: int = 4) -> None:
    """An assignment ``ps`` with one notebook ``nb`` of ``cells`` graded code cells."""
    from nbgrader.api import Gradebook

    with Gradebook(url) as gb:
        gb.add_assignment("ps", duedate="2026-10-01 17:00:00")
        gb.add_notebook("nb", "ps")
        for i in range(cells):
            gb.add_grade_cell(f"t{i}", "nb", "ps", max_score=1.0, cell_type="code")
            gb.add_solution_cell(f"t{i}", "nb", "ps")


def synthetic_summary(student: str, score: float = 1.0, cells: int = 4) -> dict:
    return {"student": student, "assignment": "ps", "timestamp": "2026-10-01 12:00:00 UTC",
            "notebooks": [{"notebook": "nb", "answers": {}, "problems": [],
                           "grades": {f"t{i}": {"auto_score": score, "needs_manual_grade": False}
                                      for i in range(cells)},
                           "comments": {f"t{i}": f"check {i}" for i in range(cells)}}]}


def small_course(tmp_path: Path, url: str) -> Path:
    course = tmp_path / "course"
    course.mkdir()
    (course / "nbgrader_config.py").write_text(
        f'c = get_config()\nc.CourseDirectory.db_url = "{url}"\n')
    return course


# --------------------------------------------------------------------------- the server helper


def test_the_throwaway_server_restarts_on_the_same_port_with_its_data(private_postgres):
    server = private_postgres
    url = server.create_database("keep")
    server.psql("CREATE TABLE t (x int); INSERT INTO t VALUES (42)", "keep")
    port, pid = server.port, server.pid
    server.restart(down_seconds=0.5)
    assert server.port == port and server.pid != pid and server.running
    assert server.psql("SELECT x FROM t", "keep").strip() == "42"
    assert url.startswith(f"postgresql+psycopg://postgres@127.0.0.1:{port}/")
    old = server.pid
    server.stop()
    assert not server.running and not servers._pid_alive(old)
    server.start()


# --------------------------------------------------------------------------- commits (in process)


def test_a_commit_is_one_transaction_and_survives_a_restart(private_postgres, monkeypatch,
                                                            tmp_path):
    """Nothing of a failed commit is written; the same Gradebook object works after a restart."""
    from nbgrader.api import Gradebook
    from sqlalchemy.exc import OperationalError

    url = private_postgres.create_database()
    synthetic_gradebook(url)
    with Gradebook(url) as gb:
        def fail(*args, **kwargs):
            raise OperationalError("SELECT 1", {}, Exception("connection lost (simulated)"))

        monkeypatch.setattr(term, "apply_late_penalties", fail)
        with pytest.raises(OperationalError):
            commit_result(gb, synthetic_summary("s1"), Course(str(small_course(tmp_path, url))))
        monkeypatch.undo()
        assert dump(url, "ps") == [], "a failed commit left rows behind"
        assert [s.id for s in gb.students] == [], "the student row was committed on its own"

        commit_with_retry(gb, synthetic_summary("s1"), budget=5)
        private_postgres.restart(down_seconds=0.5)
        messages: list[str] = []
        commit_with_retry(gb, synthetic_summary("s2", 0.5), budget=30, log=messages.append)
        private_postgres.stop()
        started = time.monotonic()
        with pytest.raises(GradebookUnavailable, match=r"did not answer for \d+ s .* s3 .*"
                           r"nothing of that submission was written"):
            commit_with_retry(gb, synthetic_summary("s3"), budget=2, log=messages.append)
        assert time.monotonic() - started < 15
        assert any("unreachable" in m for m in messages), messages
        private_postgres.start()
        commit_with_retry(gb, synthetic_summary("s3", 0.25), budget=30)
    totals = {}
    for row in dump(url, "ps"):
        if row[0] == "grade":
            totals[row[2]] = totals.get(row[2], 0) + row[5]
    assert totals == {"s1": 4.0, "s2": 2.0, "s3": 1.0}


def test_two_writers_adding_the_same_student_is_retried(postgres_url, monkeypatch):
    """The unique violation of a student row another run added first: the commit is retried."""
    from nbgrader.api import Gradebook, MissingEntry

    synthetic_gradebook(postgres_url)
    with Gradebook(postgres_url) as other:
        other.add_student("s1")  # the other instructor's run got there first
    with Gradebook(postgres_url) as gb:
        real = gb.find_student
        calls = []

        def stale(student_id):  # what this run saw a moment before the other one's commit
            calls.append(student_id)
            if len(calls) == 1:
                raise MissingEntry(student_id)
            return real(student_id)

        monkeypatch.setattr(gb, "find_student", stale)
        commit_with_retry(gb, synthetic_summary("s1"), budget=5)
    assert len(calls) == 3  # the stale look-up, the retry's, nbgrader's add_submission's
    assert sum(r[5] for r in dump(postgres_url, "ps") if r[0] == "grade") == 4.0


# --------------------------------------------------------------------------- locks, backups


def test_a_second_run_is_refused_naming_the_holder_and_restore_waits(postgres_url, tmp_path):
    course_dir = small_course(tmp_path, postgres_url)
    synthetic_gradebook(postgres_url)
    course = Course(str(course_dir))
    with dblock.assignment_lock(course, "ps"):
        done = grader(course_dir, "autograde", "ps", "--quiet")
        assert done.returncode == 2, done.stdout + done.stderr
        assert "ps is being graded by another run" in done.stderr
        assert re.search(r"held by grader autograde ps \S+@\S+ pid \d+ \(connected from "
                         r"127\.0\.0\.1 since \d{4}-", done.stderr), done.stderr
        assert "Traceback" not in done.stderr
        restore = grader(course_dir, "restore")
        assert restore.returncode == 2 and "while a grading run uses it" in restore.stderr
        assert "grader autograde ps" in restore.stderr
        with dblock.assignment_lock(course, "other"):  # another problem set: allowed
            pass
    deadline = time.monotonic() + 20  # released at the end of the run (a refused run's
    while True:                       # server process may take a moment to go away)
        try:
            with dblock.assignment_lock(course, "ps"):
                break
        except dblock.AssignmentBusy as busy:
            assert time.monotonic() < deadline, f"{busy} (this process: pid {os.getpid()})"
            time.sleep(0.5)


def test_the_run_lock_is_taken_again_after_a_restart(private_postgres, tmp_path):
    from sqlalchemy.exc import OperationalError

    url = private_postgres.create_database()
    course = Course(str(small_course(tmp_path, url)))
    with dblock.assignment_lock(course, "ps"):
        private_postgres.stop()
        for _ in range(2):  # still down: a connection error the commit loop retries
            with pytest.raises(OperationalError):
                dblock.check_held()
        private_postgres.start()
        dblock.check_held()
        with pytest.raises(dblock.AssignmentBusy), dblock.assignment_lock(course, "ps"):
            pass
        private_postgres.restart()
        # another run takes the problem set before this one notices the restart
        other = dblock._AdvisoryLock(url, [(dblock.assignment_key(course, "ps"), True, "busy")],
                                     "grader autograde ps someone@elsewhere pid 1")
        try:
            with pytest.raises(dblock.LockLost, match="someone@elsewhere"):
                dblock.check_held()
        finally:
            other.release()
    assert dblock._HELD == []


def test_sqlite_runs_take_the_same_locks_as_files(tmp_path):
    course_dir = tmp_path / "course"
    course_dir.mkdir()
    url = f"sqlite:///{course_dir / 'gradebook.db'}"
    (course_dir / "nbgrader_config.py").write_text(
        f'c = get_config()\nc.CourseDirectory.db_url = "{url}"\n')
    synthetic_gradebook(url)
    course = Course(str(course_dir))
    with dblock.assignment_lock(course, "ps"):
        done = grader(course_dir, "autograde", "ps", "--quiet")
        assert done.returncode == 2 and "ps is being graded by another run" in done.stderr
        assert re.search(r"held by grader autograde ps \S+@\S+ pid \d+ \(since ", done.stderr)
        restore = grader(course_dir, "restore")
        assert restore.returncode == 2 and "(ps by grader autograde ps" in restore.stderr
    assert (course_dir / ".grader" / "locks" / "ps.lock").exists()


def test_backup_and_restore_of_a_postgres_gradebook(postgres_url, tmp_path):
    from nbgrader.api import Gradebook

    course_dir = small_course(tmp_path, postgres_url)
    course = Course(str(course_dir))
    assert term.backup_gradebook(course) is None  # no gradebook yet: nothing to keep
    synthetic_gradebook(postgres_url)
    with Gradebook(postgres_url) as gb:
        commit_result(gb, synthetic_summary("s1"))
        commit_result(gb, synthetic_summary("s2", 0.5))
        gb.find_submission("ps", "s1").extension = __import__("datetime").timedelta(hours=5)
        gb.db.commit()
    before = dump(postgres_url)
    backup = term.backup_gradebook(course)
    assert backup and Path(backup).parent == course_dir / ".grader" / "backups"
    assert dump(f"sqlite:///{backup}") == before  # a gradebook nbgrader opens as it is

    with Gradebook(postgres_url) as gb:  # a mistake after the backup
        commit_result(gb, synthetic_summary("s1", 0.0))
        commit_result(gb, synthetic_summary("s9"))
        gb.find_grade("t0", "nb", "ps", "s2").manual_score = 1.0
        gb.db.commit()
    mistaken = dump(postgres_url)
    assert mistaken != before

    listed = grader(course_dir, "restore", "--list")
    assert listed.returncode == 0 and listed.stdout.split() == [backup]
    done = grader(course_dir, "restore")
    assert done.returncode == 0, done.stderr
    replaced = course_dir / ".grader" / "backups" / "before-restore.db"
    assert f"restored the gradebook from {backup}" in done.stdout and str(replaced) in done.stdout
    assert dump(postgres_url) == before
    assert dump(f"sqlite:///{replaced}") == mistaken
    with Gradebook(postgres_url) as gb:
        assert gb.find_submission("ps", "s1").extension.total_seconds() == 5 * 3600
        assert sorted(s.id for s in gb.students) == ["s1", "s2"]
    bad = tmp_path / "not-a-backup.db"
    bad.write_text("nope" * 100)
    refused = grader(course_dir, "restore", str(bad))
    assert refused.returncode == 2 and "is not a gradebook backup" in refused.stderr
    assert dump(postgres_url) == before


def test_a_server_that_is_down_gives_one_sentence(private_postgres, tmp_path):
    url = private_postgres.create_database()
    course_dir = small_course(tmp_path, url.replace("postgres@", "postgres:secret@"))
    private_postgres.stop()
    for command in (["report"], ["autograde", "ps"], ["export"]):
        done = grader(course_dir, *command)
        assert done.returncode == 2, (command, done.stderr)
        assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
        assert "secret" not in done.stderr, "the password was printed"
    private_postgres.start()


# --------------------------------------------------------------------------- end to end


@pytest.mark.slow
def test_a_term_on_postgres_matches_sqlite(postgres_url, tmp_path_factory, tmp_path):
    """nbgrader and every grader command on a PostgreSQL gradebook; same grades as SQLite."""
    course = pg_course(tmp_path_factory, "pg-term", postgres_url, generate=True)
    done = nbgrader(course, "db", "student", "add", "st00", "--first-name=Ada",
                    "--last-name=Adams", "--email=ada@uni.example")
    assert done.returncode == 0, done.stderr
    listed = nbgrader(course, "db", "student", "list")
    assert "st00 (Adams, Ada)" in listed.stdout, listed.stdout + listed.stderr
    roster = tmp_path / "roster.csv"
    cases = students(4)
    with open(roster, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "first_name", "last_name", "email", "lms_user_id", "section"])
        for i, case in enumerate(cases):
            writer.writerow([case.student, f"F{i}", f"L{i}", f"{case.student}@uni.example",
                             str(7000 + i), "A"])
    done = grader(course, "roster", str(roster))
    assert done.returncode == 0 and "imported 4 student(s) into postgresql+psycopg" in done.stdout
    done = grader(course, "extend", "st01", A, "--until", "2026-12-01 17:00:00 UTC")
    assert done.returncode == 0, done.stderr

    submit(course, cases)
    sqlite_twin = harness.course_copy(tmp_path_factory.getbasetemp() / "grader",
                                      f"sqlite-twin-{time.monotonic_ns()}")
    submit(sqlite_twin, cases)
    code, out = finish(start_autograde(course, A, "--workers", "2"))
    assert code == 0, out
    assert "Backed up the gradebook to" in out
    code, twin_out = finish(start_autograde(sqlite_twin, A, "--workers", "2"))
    assert code == 0, twin_out
    assert scores(postgres_url) == expected(cases)
    pg_rows = dump(postgres_url, A)
    sqlite_rows = dump(f"sqlite:///{sqlite_twin / 'gradebook.db'}", A)
    assert pg_rows == sqlite_rows

    done = grader(course, "feedback", A)
    assert done.returncode == 0, done.stderr
    for case in cases:
        page = (course / "feedback" / case.student / A / f"{corpus.NOTEBOOK}.html").read_text()
        total = re.search(r"(?:Score|Points): ([0-9.]+) /", page)
        assert total and float(total.group(1)) == points(case), case.student
    done = grader(course, "report")
    assert done.returncode == 0, done.stderr
    with open(course / "reports" / "grades.csv", newline="") as f:
        rows = {r["student"]: r for r in csv.DictReader(f)}
    assert {s: float(rows[s]["autograded_score"]) for s in rows} == expected(cases)
    export = tmp_path / "canvas.csv"
    done = grader(course, "export", "--format", "long", "--output", str(export))
    assert done.returncode == 0, done.stderr
    text = export.read_text()
    assert all(c.student in text for c in cases)
    # run again: resumed (or regraded, if the grader's own files changed meanwhile): the
    # gradebook is the same, nothing counted twice
    again = finish(start_autograde(course))
    assert again[0] == 0 and "4 submission(s)" in again[1], again[1]
    assert dump(postgres_url, A) == pg_rows
    newest = term.list_backups(Course(str(course)))[-1]  # taken by the second run
    assert dump(f"sqlite:///{newest}", A) == pg_rows


def add_problem_set_b(course: Path, url: str) -> None:
    shutil.copytree(course / "source" / A, course / "source" / B)
    done = nbgrader(course, "generate_assignment", B, "--force")
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.slow
def test_two_instructors_grade_different_problem_sets_at_once(postgres_url, tmp_path_factory):
    course = pg_course(tmp_path_factory, "pg-two", postgres_url)
    add_problem_set_b(course, postgres_url)
    cases_a = students(5)
    cases_b = [dataclasses.replace(case, student=a.student) for case, a in zip(
        [PARTIAL, HONEST, BLANK, HONEST, PARTIAL], cases_a, strict=True)]
    submit(course, cases_b, B)  # (written through A's folder, then moved)
    submit(course, cases_a, A)
    # the same students in both: both runs add the same student rows at the same moment
    first, second = start_autograde(course, A), start_autograde(course, B)
    (code_a, out_a), (code_b, out_b) = finish(first), finish(second)
    assert code_a == 0, out_a
    assert code_b == 0, out_b
    assert scores(postgres_url, A) == expected(cases_a)
    assert scores(postgres_url, B) == expected(cases_b)
    from nbgrader.api import Gradebook

    with Gradebook(postgres_url) as gb:
        assert sorted(s.id for s in gb.students) == sorted(c.student for c in cases_a)


@pytest.mark.slow
def test_a_second_run_on_the_same_problem_set_is_refused_while_the_first_grades(
        postgres_url, tmp_path_factory):
    course = pg_course(tmp_path_factory, "pg-same", postgres_url)
    cases = students(4)
    submit(course, cases)
    first = start_autograde(course)
    probe = Course(str(course))
    key = dblock.assignment_key(probe, A)

    def locked() -> bool:
        from sqlalchemy import create_engine, text

        engine = create_engine(postgres_url)
        try:
            with engine.connect() as c:
                return bool(c.execute(text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND "
                    "classid = :ns AND objid = :key AND granted"),
                    {"ns": dblock.NAMESPACE, "key": key}).scalar())
        finally:
            engine.dispose()

    wait_for(lambda: locked() or first.poll() is not None, what="the first run's lock")
    second = subprocess.run(autograde_argv(course), cwd=harness.REPO, env=harness.environment(),
                            capture_output=True, text=True, timeout=300)
    still_running = first.poll() is None
    code, out = finish(first)
    assert still_running, "the first run ended before the second started: test too quick"
    assert second.returncode == 2, second.stdout + second.stderr
    assert f"{A} is being graded by another run" in second.stderr
    assert f"grader autograde {A}" in second.stderr and f"pid {first.pid}" in second.stderr
    assert code == 0, out
    assert scores(postgres_url) == expected(cases)
    after = finish(start_autograde(course))  # once the first is done, a run goes through
    assert after[0] == 0 and "4 submission(s)" in after[1], after[1]
    assert scores(postgres_url) == expected(cases)


@pytest.mark.slow
def test_postgres_stopped_mid_run_is_waited_for(private_postgres, tmp_path_factory):
    url = private_postgres.create_database()
    course = pg_course(tmp_path_factory, "pg-outage", url)
    cases = students(6)
    submit(course, cases)
    run = start_autograde(course, A, env={"GRADER_DB_RETRY_SECONDS": "120"})
    wait_for(lambda: results_written(course) >= 1 or run.poll() is not None,
             what="the first result")
    assert run.poll() is None, "the run ended before the outage"
    private_postgres.restart(down_seconds=6)
    code, out = finish(run)
    assert code == 0, out
    assert "The gradebook is unreachable" in out and "The gradebook answers again" in out, out
    assert scores(url) == expected(cases)


@pytest.mark.slow
def test_postgres_gone_for_too_long_stops_cleanly_and_a_rerun_finishes(private_postgres,
                                                                        tmp_path_factory):
    url = private_postgres.create_database()
    course = pg_course(tmp_path_factory, "pg-gone", url)
    cases = students(5)
    submit(course, cases)
    run = start_autograde(course, A, env={"GRADER_DB_RETRY_SECONDS": "4"})
    wait_for(lambda: results_written(course) >= 1 or run.poll() is not None,
             what="the first result")
    assert run.poll() is None, "the run ended before the outage"
    private_postgres.stop()
    code, out = finish(run)
    assert code == 3, out
    assert re.search(r"did not answer for \d+ s while committing the grades of st\d\d for "
                     + A, out), out
    assert "run the same command again" in out and "Traceback" not in out
    private_postgres.start()
    partial = scores(url)
    assert set(partial) < {c.student for c in cases}  # some committed, not all
    for student, points in partial.items():  # what was committed is whole
        assert points == expected(cases)[student]
    code, out = finish(start_autograde(course))
    assert code == 0, out
    assert re.search(r"(\d) graded now, (\d) from an earlier run", out), out
    assert scores(url) == expected(cases)
    data = json.loads((course / ".grader" / "results" / A / "st00.json").read_text())
    assert data["student"] == "st00"
