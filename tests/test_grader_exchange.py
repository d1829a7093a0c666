"""nbgrader's exchange round trip with real Unix users (issue 9): the instructor releases,
two students fetch and submit, a third cannot read their submissions, the instructor
collects (timestamps kept) and grades with ``python -m grader``.

Runs as root (CI does): it creates the users with ``useradd`` and removes them with
``userdel`` afterwards. The students' commands run in a process forked from this one
that drops to the student's uid (the interpreter lives under ``/root``, which other
users cannot enter, so it cannot be started afresh as them).
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest
from grading_corpus import corpus, harness

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(os.geteuid() != 0, reason="creates Unix users: needs root")]

COURSE_ID = "grader-fixture"


def _users(names):
    for name in names:
        subprocess.run(["userdel", "-r", name], capture_output=True)
    for name in names:
        subprocess.run(["useradd", "-m", "-K", "HOME_MODE=0700", "-s", "/bin/sh", name],
                       check=True, capture_output=True)


def as_user(name: str, argv: list[str], cwd: str) -> tuple[int, str]:
    """Run ``nbgrader ARGV`` as the Unix user ``name`` (fork, drop privileges, run)."""
    import nbgrader.apps.nbgraderapp  # noqa: F401 - imported while still root
    import nbgrader.exchange.default  # noqa: F401

    user = pwd.getpwnam(name)
    log = tempfile.mktemp(prefix="exchange-", suffix=".log")
    pid = os.fork()
    if pid == 0:  # the child: become the student, run nbgrader, never return
        code = 1
        try:
            fd = os.open(log, os.O_WRONLY | os.O_CREAT, 0o600)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            os.setgroups([])
            os.setgid(user.pw_gid)
            os.setuid(user.pw_uid)
            os.environ.update(HOME=user.pw_dir, USER=name, LOGNAME=name)
            os.chdir(cwd)
            from nbgrader.apps.nbgraderapp import NbGraderApp

            try:
                NbGraderApp.launch_instance(argv=argv)
                code = 0
            except SystemExit as exit_:
                code = exit_.code if isinstance(exit_.code, int) else 1
        except BaseException as error:  # noqa: BLE001 - reported through the log
            print(f"{type(error).__name__}: {error}", file=sys.stderr)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    with open(log, encoding="utf-8", errors="replace") as f:
        output = f.read()
    os.remove(log)
    return os.waitstatus_to_exitcode(status), output


def try_read_as(name: str, path: str) -> str:
    """What the user ``name`` gets trying to list or read ``path``: "ok" or the error."""
    user = pwd.getpwnam(name)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        try:
            os.setgroups([])
            os.setgid(user.pw_gid)
            os.setuid(user.pw_uid)
            if os.path.isdir(path):
                os.listdir(path)
            else:
                with open(path, "rb") as f:
                    f.read(1)
            answer = "ok"
        except OSError as error:
            answer = type(error).__name__
        os.write(write_end, answer.encode())
        os._exit(0)
    os.close(write_end)
    os.waitpid(pid, 0)
    with os.fdopen(read_end) as f:
        return f.read()


@pytest.fixture
def exchange_course(tmp_path_factory):
    base = Path(tempfile.mkdtemp(prefix="grader-exchange-", dir="/tmp"))
    os.chmod(base, 0o755)
    names = [f"gx{uuid.uuid4().hex[:6]}{k}" for k in "abc"]
    try:
        pytest_base = tmp_path_factory.getbasetemp() / "grader"
        pytest_base.mkdir(exist_ok=True)
        course = base / "course"
        shutil.copytree(harness.generated_course(pytest_base), course)
        exchange = course / "exchange"
        exchange.mkdir()
        os.chmod(exchange, 0o1777)
        for directory in (course,):
            os.chmod(directory, 0o755)
        config = course / "nbgrader_config.py"
        config.write_text(config.read_text() + f"\nc.Exchange.root = {str(exchange)!r}\n")
        _users(names)
        yield course, exchange, names
    finally:
        for name in names:
            subprocess.run(["userdel", "-r", name], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def test_exchange_round_trip_with_real_users(exchange_course):
    course, exchange, (alice, bob, carol) = exchange_course
    env = harness.environment()
    done = subprocess.run([sys.executable, "-m", "nbgrader", "release_assignment",
                           corpus.ASSIGNMENT, "--force"], cwd=course, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    student_argv = [f"--Exchange.root={exchange}", f"--CourseDirectory.course_id={COURSE_ID}"]
    cases = {alice: corpus.BY_STUDENT["honest"], bob: corpus.BY_STUDENT["partial"]}
    for name, case in cases.items():
        home = pwd.getpwnam(name).pw_dir
        code, output = as_user(name, ["fetch_assignment", corpus.ASSIGNMENT, *student_argv],
                               home)
        assert code == 0, output
        fetched = Path(home) / corpus.ASSIGNMENT / f"{corpus.NOTEBOOK}.ipynb"
        assert fetched.exists(), output
        # the student's work: their cells filled in (written as root, then handed over)
        fetched.write_text(json.dumps(harness.submission_json(course, case)))
        user = pwd.getpwnam(name)
        os.chown(fetched, user.pw_uid, user.pw_gid)
        code, output = as_user(name, ["submit", corpus.ASSIGNMENT, *student_argv], home)
        assert code == 0, output

    inbound = exchange / COURSE_ID / "inbound"
    submissions = sorted(os.listdir(inbound))
    assert len(submissions) == 2 and all("+" + corpus.ASSIGNMENT + "+" in s for s in submissions)
    # the third student can neither list the submissions nor read a classmate's work
    assert try_read_as(carol, str(inbound)) == "PermissionError"
    alice_home = pwd.getpwnam(alice).pw_dir
    assert try_read_as(carol, f"{alice_home}/{corpus.ASSIGNMENT}/{corpus.NOTEBOOK}.ipynb") \
        == "PermissionError"
    assert try_read_as(alice, str(inbound)) == "PermissionError"

    done = subprocess.run([sys.executable, "-m", "nbgrader", "collect", corpus.ASSIGNMENT],
                          cwd=course, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    for name in (alice, bob):
        stamp = (course / "submitted" / name / corpus.ASSIGNMENT / "timestamp.txt").read_text()
        assert stamp.startswith("20"), stamp
    graded = harness.autograde(course)
    assert graded.returncode == 0, graded.stdout + graded.stderr
    assert harness.result(course, alice)["score"] == 6.0
    assert harness.result(course, bob)["score"] == 4.0
