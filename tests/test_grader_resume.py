"""Parallel and serial grading give the same gradebook; a killed run resumes exactly.

Each test grades the same six submissions in its own copy of the course and
compares complete dumps of the gradebooks (every grade, comment, flag and
submission row).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from grading_corpus import corpus, harness

from grader.gradebook import dump

STUDENTS = ["honest", "partial", "blank", "crash_exit", "patch_numpy", "syntax_error"]


def _course(tmp_path_factory, name):
    base = tmp_path_factory.getbasetemp() / "grader"
    base.mkdir(exist_ok=True)
    course = harness.course_copy(base, name)
    for student in STUDENTS:
        harness.write_submission(course, corpus.BY_STUDENT[student])
    return course


def _dump(course):
    return dump(f"sqlite:///{course / 'gradebook.db'}", corpus.ASSIGNMENT)


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    course = _course(tmp_path_factory, "serial")
    completed = harness.autograde(course, "--workers", "1")
    assert completed.returncode == 1, completed.stdout + completed.stderr
    return course, _dump(course)


def test_serial_gradebook_is_complete(serial):
    course, rows = serial
    submissions = [r for r in rows if r[0] == "submission"]
    assert sorted(r[2] for r in submissions) == sorted(STUDENTS)
    grades = {(r[2], r[4]): r[5] for r in rows if r[0] == "grade"}
    assert grades[("honest", "test_running_mean_hidden")] == 2.0
    assert grades[("crash_exit", "test_running_mean_hidden")] == 0.0


def test_parallel_equals_serial(serial, tmp_path_factory):
    _, expected = serial
    course = _course(tmp_path_factory, "parallel")
    completed = harness.autograde(course, "--workers", "2")
    assert completed.returncode == 1, completed.stdout + completed.stderr
    assert _dump(course) == expected


def test_killed_run_resumes_without_losing_or_repeating_grades(serial, tmp_path_factory):
    _, expected = serial
    course = _course(tmp_path_factory, "interrupted")
    results = course / ".grader" / "results" / corpus.ASSIGNMENT
    argv = [sys.executable, "-m", "grader", "autograde", corpus.ASSIGNMENT, "--course",
            str(course), "--quiet", "--workers", "1", *harness.FAST]
    process = subprocess.Popen(argv, cwd=harness.REPO, env=harness.environment(),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        if results.is_dir() and len(list(results.glob("*.json"))) >= 2:
            break
        time.sleep(0.05)
    assert process.poll() is None, "the run finished before it could be interrupted"
    os.killpg(process.pid, signal.SIGKILL)  # the whole run: parent, workers, kernels
    process.wait()
    done_before = len(list(results.glob("*.json")))
    assert 2 <= done_before < len(STUDENTS)

    completed = harness.autograde(course, "--workers", "2")
    assert completed.returncode == 1, completed.stdout + completed.stderr
    assert f"{len(STUDENTS) - done_before} graded now, {done_before} from an earlier run" \
        in completed.stdout
    assert _dump(course) == expected
    assert harness.sandbox_processes() == []

    again = harness.autograde(course, "--workers", "2")
    assert f"0 graded now, {len(STUDENTS)} from an earlier run" in again.stdout
    assert _dump(course) == expected
