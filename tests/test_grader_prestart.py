"""Kernels started ahead of need (issue 13): same results, one kernel per student, no leftovers.

A grading worker starts the kernel of its next notebook while the current one runs
(:class:`grader.executor.KernelPrestarter`). These tests grade the same submissions
with that on and off (``GRADER_PRESTART=0``) and compare everything a student or an
instructor sees; a hostile submission graded just before two probes leaves files,
a background thread, a daemon and modified builtins behind, and the probes (whose
answers are right only if they find nothing of it) must keep full marks. Every
sandbox process is gone at the end, spare kernels included.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import tempfile
import time

import pytest
from grading_corpus import corpus, harness

from grader import sandbox
from grader.executor import ExecutionSettings, KernelPrestarter, SandboxedKernel

LEAVE_BEHIND = '''import builtins
import os
import threading
import time

for place in ("leftover.txt", os.path.expanduser("~/leftover.txt"), "/tmp/leftover.txt",
              "/dev/shm/leftover.txt"):
    try:
        with open(place, "w") as f:
            f.write("left by the previous student")
    except OSError:
        pass
builtins.LEFTOVER = True
_sum = sum


def _haunted_sum(*args, **kwargs):
    return _sum(*args, **kwargs)


_haunted_sum.leftover = True
builtins.sum = _haunted_sum


def _haunt():
    while True:
        builtins.LEFTOVER = True
        try:
            with open("/tmp/leftover.txt", "w") as f:
                f.write("still here")
        except OSError:
            pass
        time.sleep(0.01)


threading.Thread(target=_haunt, name="leftover", daemon=True).start()
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        while True:
            time.sleep(0.01)
    os._exit(0)

''' + corpus.RNN_OK

# Right answers only in a kernel where nothing of anyone else is to be found.
PROBE = '''import builtins
import os
import threading


def _foreign_processes():
    me = os.getuid()
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/status") as f:
                    uid = int([l for l in f.read().splitlines() if l.startswith("Uid:")][0].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if uid not in (me, 0):
                found.append(pid)
    return found


_CLEAN = (not hasattr(builtins, "LEFTOVER") and not hasattr(builtins.sum, "leftover")
          and not any(os.path.exists(p) for p in ("leftover.txt", "/tmp/leftover.txt",
                                                  os.path.expanduser("~/leftover.txt"),
                                                  "/dev/shm/leftover.txt"))
          and "leftover" not in [t.name for t in threading.enumerate()]
          and not _foreign_processes()
          and sorted(os.listdir(".")) == ["fx_rnn.ipynb", "timestamp.txt"])


def rnn_step_forward(X, H_prev, W_xh, W_hh, b_h):
    H = np.tanh(X @ W_xh + H_prev @ W_hh + b_h)
    if not _CLEAN:
        H = H + 1.0
    return H, (X, H_prev, W_xh, W_hh, H)'''

MEAN_PROBE = '''def running_mean(x):
    assert _CLEAN, "something of another student is in this kernel"
    return np.cumsum(x) / np.arange(1, len(x) + 1)'''

# Graded in this order by one worker: the spare kernel of each student starts while the
# previous one runs, so "b_probe" gets the kernel started during "a_leave_behind".
CASES = [
    dataclasses.replace(corpus.BY_STUDENT["honest"], student="a0_honest"),
    corpus.Case("a_leave_behind", "leaves files, a thread, a daemon and builtins behind",
                LEAVE_BEHIND, corpus.MEAN_OK, score=6.0),
    corpus.Case("b_probe", "right only in a clean kernel", PROBE, MEAN_PROBE, score=6.0),
    dataclasses.replace(corpus.BY_STUDENT["crash_segfault"], student="c_crash_segfault"),
    corpus.Case("d_probe", "right only in a clean kernel", PROBE, MEAN_PROBE, score=6.0),
    dataclasses.replace(corpus.BY_STUDENT["stubborn_loop"], student="e_stubborn_loop"),
    dataclasses.replace(corpus.BY_STUDENT["partial"], student="f_partial"),
    dataclasses.replace(corpus.BY_STUDENT["delete_tests"], student="g_delete_tests"),
    dataclasses.replace(corpus.BY_STUDENT["patch_builtins"], student="h_patch_builtins"),
    dataclasses.replace(corpus.BY_STUDENT["malformed_json"], student="i_malformed_json"),
    corpus.Case("j_probe", "right only in a clean kernel", PROBE, MEAN_PROBE, score=6.0),
    dataclasses.replace(corpus.BY_STUDENT["fork_bomb"], student="k_fork_bomb"),
    corpus.Case("l_probe", "right only in a clean kernel", PROBE, MEAN_PROBE, score=6.0),
]


def _graded(base, name: str, prestart: bool, workers: int):
    course = harness.course_copy(base, name)
    for case in CASES:
        harness.write_submission(course, case)
    previous = os.environ.get("GRADER_PRESTART")
    os.environ["GRADER_PRESTART"] = "1" if prestart else "0"
    try:
        completed = harness.autograde(course, "--workers", str(workers))
    finally:
        if previous is None:
            os.environ.pop("GRADER_PRESTART")
        else:
            os.environ["GRADER_PRESTART"] = previous
    assert completed.returncode == 1, completed.stdout + completed.stderr
    return {case.student: harness.result(course, case.student) for case in CASES}


def _seen(summary: dict) -> dict:
    """Everything of a result a student or an instructor sees (no timings)."""
    notebooks = []
    for nb in summary["notebooks"]:
        notebooks.append({
            "score": nb["score"], "status": nb["status"], "grades": nb["grades"],
            "comments": nb["comments"], "attempts": nb["attempts"],
            "checks": [(c["cell"], c["name"], c["status"], c["earned"], c["points"],
                        c.get("messages")) for c in nb["checks"]],
            "cells": [(c["grade_id"], c["status"], c.get("score"), c.get("error"))
                      for c in nb["cells"]]})
    return {"score": summary["score"], "attention": summary["attention"],
            "problems": sorted(harness.problem_keys(summary)), "notebooks": notebooks}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.getbasetemp() / "grader"
    base.mkdir(exist_ok=True)
    return {"off": _graded(base, "prestart-off", False, 1),
            "serial": _graded(base, "prestart-serial", True, 1),
            "parallel": _graded(base, "prestart-parallel", True, 2)}


@pytest.mark.parametrize("mode", ["serial", "parallel"])
def test_prestarted_kernels_give_the_same_results(runs, mode):
    for case in CASES:
        assert _seen(runs[mode][case.student]) == _seen(runs["off"][case.student]), case.student
        assert runs[mode][case.student]["score"] == pytest.approx(case.score), case.student


def test_kernels_were_started_ahead_of_need(runs):
    def prestarted(results: dict) -> int:
        return sum(nb.get("timings", {}).get("prestarted", 0.0) == 1.0
                   for summary in results.values() for nb in summary["notebooks"])

    assert prestarted(runs["off"]) == 0
    # One worker: every run notebook but the first gets a spare (the malformed one is not
    # run; a notebook whose test cells were deleted needs other programs than the spare's).
    assert prestarted(runs["serial"]) >= len(CASES) - 3
    assert prestarted(runs["parallel"]) >= len(CASES) - 4


def test_a_kernel_serves_one_student(runs):
    for mode in ("off", "serial", "parallel"):
        for probe in ("b_probe", "d_probe", "j_probe", "l_probe"):
            summary = runs[mode][probe]
            assert summary["score"] == 6.0, (mode, probe, _seen(summary))


def test_no_sandbox_process_survives(runs):
    assert harness.sandbox_processes() == []


# --------------------------------------------------------------------------- the prestarter


@pytest.fixture()
def submission():
    with tempfile.TemporaryDirectory() as directory:
        with open(os.path.join(directory, "data.txt"), "w") as f:
            f.write("the student's file")
        yield directory


def _uid_processes(kernel: SandboxedKernel) -> list[int]:
    return sandbox.processes_of_uid(kernel.uid) if kernel.uid is not None else []


PROBE_CODE = ("import os, sys; print(os.getcwd(), sorted(os.listdir('.')), len(In), "
              "sorted(k for k in globals() if not k.startswith('_')), os.getuid())")


@pytest.mark.skipif(sandbox.bwrap_executable() is None, reason="needs bubblewrap")
def test_a_claimed_spare_has_run_nothing(submission):
    settings = ExecutionSettings()
    fresh = SandboxedKernel(settings, submission_dir=submission, work_name="ps")
    with fresh:
        expected = fresh.execute(0, PROBE_CODE, 30)
    prestarter = KernelPrestarter()
    prestarter.launch(settings, "ps", "grade", {}, avoid_slot=0)
    spare = prestarter.spare
    assert spare is not None and spare.uid_slot == 1
    kernel = prestarter.claim(settings, "ps", "grade", {}, submission)
    assert kernel is spare and prestarter.spare is None
    try:
        got = kernel.execute(0, PROBE_CODE, 30)
    finally:
        kernel.shutdown()
    assert got.status == expected.status == "ok"
    text = lambda run: run.outputs[0]["text"].rsplit(" ", 1)[0]  # noqa: E731 - the uid differs
    assert text(got) == text(expected)
    assert "data.txt" in text(got) and text(got).startswith("/home/student/ps ")
    assert _uid_processes(kernel) == []


@pytest.mark.skipif(sandbox.bwrap_executable() is None, reason="needs bubblewrap")
def test_a_spare_for_something_else_is_killed_not_used(submission):
    settings = ExecutionSettings()
    prestarter = KernelPrestarter()
    prestarter.launch(settings, "ps", "grade", {"t": "x = 1"}, avoid_slot=1)
    spare = prestarter.spare
    assert spare.uid_slot == 0
    assert prestarter.claim(settings, "ps", "grade", {"t": "x = 2"}, submission) is None
    assert not spare.alive() and _uid_processes(spare) == []
    prestarter.launch(settings, "ps", "grade", {}, avoid_slot=0)
    spare = prestarter.spare
    other = dataclasses.replace(settings, cell_timeout=1.0)
    assert prestarter.claim(other, "ps", "grade", {}, submission) is None
    assert not spare.alive() and _uid_processes(spare) == []
    # Nor one whose mounted directories were deleted and made again at the same path.
    helpers = tempfile.mkdtemp()
    remade = dataclasses.replace(settings, helpers_dir=helpers)
    prestarter.launch(remade, "ps", "grade", {}, avoid_slot=0)
    kernel = prestarter.claim(remade, "ps", "grade", {}, submission)
    assert kernel is not None  # the same directory: used
    kernel.shutdown()
    prestarter.launch(remade, "ps", "grade", {}, avoid_slot=0)
    spare = prestarter.spare
    time.sleep(0.01)
    os.rmdir(helpers)
    os.mkdir(helpers)
    assert prestarter.claim(remade, "ps", "grade", {}, submission) is None
    assert not spare.alive()
    os.rmdir(helpers)
    # A spare that died while waiting is not handed out either.
    prestarter.launch(settings, "ps", "grade", {}, avoid_slot=0)
    spare = prestarter.spare
    spare.kill()
    assert prestarter.claim(settings, "ps", "grade", {}, submission) is None


@pytest.mark.skipif(sandbox.bwrap_executable() is None, reason="needs bubblewrap")
def test_a_spare_outlives_the_clean_up_of_the_current_kernel(submission):
    settings = ExecutionSettings()
    prestarter = KernelPrestarter()
    current = SandboxedKernel(settings, submission_dir=submission, work_name="ps",
                              uid_slot=0)
    with current:
        prestarter.launch(settings, "ps", "grade", {}, avoid_slot=current.uid_slot)
        assert current.execute(0, "import os; os.fork() == 0 and __import__('time').sleep(60)",
                               30).status == "ok"
    spare = prestarter.spare
    assert spare.uid != current.uid or spare.uid is None
    assert spare.alive()
    kernel = prestarter.claim(settings, "ps", "grade", {}, submission)
    assert kernel is spare
    try:
        assert kernel.execute(0, "print(1 + 1)", 30).outputs[0]["text"] == "2\n"
    finally:
        kernel.shutdown()


@pytest.mark.skipif(sandbox.bwrap_executable() is None, reason="needs bubblewrap")
def test_a_spare_dies_with_its_worker():
    """Released at the worker's normal exit (without release_worker) and when it is killed."""
    script = (
        "import os, sys\n"
        "from grader.executor import ExecutionSettings, PRESTARTER\n"
        "PRESTARTER.launch(ExecutionSettings(), 'ps', 'grade', {}, avoid_slot=0)\n"
        "spare = PRESTARTER.spare\n"
        "print(spare.process.pid, spare.uid, flush=True)\n"
        "if sys.argv[1] == 'kill':\n"
        "    import time; time.sleep(2); os.kill(os.getpid(), 9)\n")
    for how in ("exit", "kill"):
        done = subprocess.run([sys.executable, "-c", script, how], capture_output=True, text=True,
                              timeout=120, env=harness.environment())
        pid, uid = done.stdout.split()
        for _ in range(100):
            if sandbox._proc_status_uid(pid, include_zombies=False) is None:
                break
            time.sleep(0.05)
        assert sandbox._proc_status_uid(pid, include_zombies=False) is None, how
        if uid != "None":
            for _ in range(100):
                if not sandbox.processes_of_uid(int(uid)):
                    break
                time.sleep(0.05)
            assert sandbox.processes_of_uid(int(uid)) == [], how
