"""Shared machinery of the grader tests: a generated copy of the fixture course,
submissions built from :mod:`grading_corpus.corpus`, and the grading commands
run as subprocesses exactly as an instructor runs them.

``nbgrader generate_assignment`` runs once per test session; every test works
in its own copy of the generated course, so nothing is shared or overwritten.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from grading_corpus.corpus import ASSIGNMENT, NOTEBOOK, Case
from grading_corpus.hostile import EVERY

REPO = Path(__file__).resolve().parents[2]
FIXTURE = Path(__file__).resolve().parent / "course"
# Short limits keep the crash corpus quick; the loops and bombs still hit them.
FAST = ["--cell-timeout", "5", "--notebook-timeout", "180", "--memory-mb", "1536"]

_generated: dict[str, Path] = {}
_graded: dict[str, tuple[Path, subprocess.CompletedProcess]] = {}


def environment() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONHASHSEED="0")
    env.pop("JPY_PARENT_PID", None)
    return env


def generated_course(base: Path) -> Path:
    """The fixture course after ``nbgrader generate_assignment`` (made once per session)."""
    key = str(base)
    if key not in _generated:
        target = base / "generated"
        shutil.copytree(FIXTURE, target, ignore=shutil.ignore_patterns("__pycache__"))
        subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", ASSIGNMENT,
                        "--force"], cwd=target, env=environment(), check=True,
                       capture_output=True, text=True)
        # Grading no submission runs the reference solution once; every copy of this
        # course then finds its checks in .grader/reference/ instead of running it again.
        warm = autograde(target)
        assert warm.returncode == 0, warm.stdout + warm.stderr
        shutil.rmtree(target / ".grader" / "sandbox", ignore_errors=True)
        _generated[key] = target
    return _generated[key]


def course_copy(base: Path, name: str) -> Path:
    """A private copy of the generated course."""
    target = base / name
    shutil.copytree(generated_course(base), target)
    return target


def release_notebook(course: Path) -> dict:
    with open(course / "release" / ASSIGNMENT / f"{NOTEBOOK}.ipynb", encoding="utf-8") as f:
        return json.load(f)


def submission_json(course: Path, case: Case) -> dict:
    """The student's notebook for a case: the release with their cells filled in."""
    nb = copy.deepcopy(release_notebook(course))
    fill = {"rnn_step": case.rnn_step, "running_mean": case.running_mean}
    if case.answer is not None:
        fill["answer_running_mean"] = case.answer
    for cell in nb["cells"]:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id in fill:
            cell["source"] = fill[grade_id].replace("@COURSE@", str(course))
    if case.transform is not None:
        case.transform(nb)
    return nb


def write_submission(course: Path, case: Case) -> Path:
    directory = course / "submitted" / case.student / ASSIGNMENT
    directory.mkdir(parents=True, exist_ok=True)
    text = json.dumps(submission_json(course, case), indent=1)
    if case.raw is not None:
        text = case.raw(text)
    (directory / case.filename).write_text(text, encoding="utf-8")
    for name, content in case.extra_files:
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        (directory / name).write_text(content, encoding="utf-8")
    (directory / "timestamp.txt").write_text("2026-11-20 12:00:00.000000 UTC")
    if case.prepare is not None:
        case.prepare(course, directory)
    return directory


def run_grader(course: Path, command: str = "autograde", *args: str, timeout: float = 600,
               assignment: str = ASSIGNMENT) -> subprocess.CompletedProcess:
    """``python -m grader <command> [ASSIGNMENT] --course COURSE ...`` from the repository root."""
    argv = [sys.executable, "-m", "grader", command]
    if command in ("autograde", "feedback"):
        argv.append(assignment)
    if command in ("autograde", "feedback", "report"):
        argv += ["--course", str(course)]
    argv += list(args)
    return subprocess.run(argv, cwd=REPO, env=environment(), capture_output=True, text=True,
                          timeout=timeout)


def autograde(course: Path, *args: str) -> subprocess.CompletedProcess:
    return run_grader(course, "autograde", "--quiet", *FAST, *args)


def result(course: Path, student: str) -> dict:
    path = course / ".grader" / "results" / ASSIGNMENT / f"{student}.json"
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def problem_keys(summary: dict) -> set[str]:
    """``kind`` and ``kind:rule`` of every problem the grader reported."""
    keys = set()
    for problem in summary.get("problems", []) + [p for nb in summary["notebooks"]
                                                  for p in nb.get("problems", [])]:
        keys.add(problem["kind"])
        if "rule" in problem:
            keys.add(f"{problem['kind']}:{problem['rule']}")
    return keys


def graded_corpus(base: Path) -> tuple[Path, subprocess.CompletedProcess]:
    """Every corpus submission graded once with two workers (cached for the session)."""
    key = str(base)
    if key not in _graded:
        course = course_copy(base, "corpus")
        for case in EVERY:
            write_submission(course, case)
        completed = autograde(course, "--workers", "2")
        _graded[key] = (course, completed)
    return _graded[key]


def sandbox_processes() -> list[int]:
    """Live (non-zombie) processes of sandboxes whose grading worker is gone: leftovers.

    A sandbox uid is ``UID_BASE`` + a slot + the pid of the worker that owns it; processes of a
    worker that is still running (another grading run on the same machine) are not
    leftovers of this one.
    """
    from grader import sandbox

    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            uid = sandbox._proc_status_uid(entry, include_zombies=False)
            owner = sandbox.uid_owner(uid) if uid is not None else None
            if owner is not None:
                if sandbox._proc_status_uid(str(owner)) != 0:  # the worker (root) is gone
                    found.append(int(entry))
    return found
