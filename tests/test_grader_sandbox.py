"""Sandbox escape attempts fail under the grader, and succeed without the sandbox.

A submission tries to read the gradebook, a classmate's submission and the
instructor's source notebook, to write into the course, to reach a TCP server
the test runs on the host's loopback interface, and to resolve a host name.
Graded normally every attempt is blocked; graded with ``--no-sandbox`` the
same attempts succeed, which shows the test would notice a broken sandbox.
"""

from __future__ import annotations

import dataclasses
import json
import socket
import threading

import nbformat
import pytest
from grading_corpus import corpus, harness

from grader import sandbox, validate

PROBE = '''import os
import socket

ATTEMPTS = {
    "read the gradebook": lambda: open("@COURSE@/gradebook.db", "rb").read(16),
    "read the gradebook by relative path": lambda: open("../../../gradebook.db", "rb").read(16),
    "read a classmate's submission":
        lambda: open("@COURSE@/submitted/honest/fx_rnn/fx_rnn.ipynb").read(),
    "read the source notebook": lambda: open("@COURSE@/source/fx_rnn/fx_rnn.ipynb").read(),
    "list the course": lambda: os.listdir("@COURSE@"),
    "write into the course": lambda: open("@COURSE@/pwned.txt", "w").write("x"),
    "write a file next to the kernel's sockets": lambda: open("/run/grader/fill", "wb").write(b"x"),
    "connect to the host": lambda: socket.create_connection(("127.0.0.1", @PORT@), timeout=3),
    "resolve a host name": lambda: socket.getaddrinfo("localhost", 80),
}
for name, attempt in ATTEMPTS.items():
    try:
        attempt()
        print("ESCAPED:", name)
    except Exception as error:
        print("BLOCKED:", name, type(error).__name__)

''' + corpus.RNN_OK


class Listener:
    """A TCP server on 127.0.0.1 that counts the connections it accepts."""

    def __init__(self):
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(8)
        self.server.settimeout(0.2)
        self.port = self.server.getsockname()[1]
        self.accepted = 0
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while self.running:
            try:
                connection, _ = self.server.accept()
            except OSError:
                continue
            self.accepted += 1
            connection.close()

    def close(self):
        self.running = False
        self.thread.join()
        self.server.close()


@pytest.fixture
def listener():
    server = Listener()
    yield server
    server.close()


def _probe_outputs(course) -> str:
    nb = nbformat.read(course / "autograded" / "escape" / "fx_rnn" / "fx_rnn.ipynb", as_version=4)
    return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                   for o in c.get("outputs", []))


def _setup(tmp_path_factory, name, port):
    base = tmp_path_factory.getbasetemp() / "grader"
    base.mkdir(exist_ok=True)
    course = harness.course_copy(base, name)
    harness.write_submission(course, corpus.BY_STUDENT["honest"])
    escape = dataclasses.replace(corpus.BY_STUDENT["honest"], student="escape",
                                 rnn_step=PROBE.replace("@PORT@", str(port)))
    harness.write_submission(course, escape)
    return course


def test_escape_attempts_are_blocked(tmp_path_factory, listener):
    course = _setup(tmp_path_factory, "sandboxed", listener.port)
    completed = harness.autograde(course, "--workers", "2")
    assert completed.returncode == 1, completed.stdout + completed.stderr  # flagged: paths
    out = _probe_outputs(course)
    assert out.count("BLOCKED:") == 9, out
    assert "ESCAPED" not in out
    assert not (course / "pwned.txt").exists()
    assert listener.accepted == 0
    # The probe costs the escaping student nothing it earned, and the classmate nothing.
    # Flagged, but its visible test is judged outside the kernel: it keeps what it earned.
    assert harness.result(course, "escape")["score"] == 6.0
    assert harness.result(course, "honest")["score"] == 6.0


def test_the_same_attempts_succeed_without_the_sandbox(tmp_path_factory, listener):
    course = _setup(tmp_path_factory, "unsandboxed", listener.port)
    completed = harness.autograde(course, "--workers", "1", "--no-sandbox",
                                  "--student", "escape")
    assert "WITHOUT a" in completed.stderr  # the loud warning
    out = _probe_outputs(course)
    for name in ("read the gradebook", "read a classmate's submission",
                 "read the source notebook", "write into the course", "connect to the host"):
        assert f"ESCAPED: {name}" in out, out
    assert (course / "pwned.txt").exists()
    assert listener.accepted >= 1


def test_source_reading_cheat_would_score_without_the_sandbox(tmp_path_factory):
    base = tmp_path_factory.getbasetemp() / "grader"
    base.mkdir(exist_ok=True)
    course = harness.course_copy(base, "cheat-unsandboxed")
    harness.write_submission(course, corpus.BY_STUDENT["read_source"])
    harness.autograde(course, "--workers", "1", "--no-sandbox")
    # Without the sandbox the cheat runs the instructor's solutions: all 6 points
    # (its visible test, judged outside the kernel, is earned like anybody's).
    assert harness.result(course, "read_source")["score"] == 6.0


def test_sandbox_check_command(tmp_path):
    completed = harness.run_grader(tmp_path, "sandbox-check")
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "ESCAPED" not in completed.stdout
    assert completed.stdout.count(" ok ") == len(validate.PROBES) == 10


MEMORY_HOG = '''import os
import time

children = []
for _ in range(4):
    pid = os.fork()
    if pid == 0:
        block = bytearray(250 << 20)
        block[::4096] = b"x" * len(block[::4096])  # touch every page: resident, not just reserved
        time.sleep(30)
        os._exit(0)
    children.append(pid)
time.sleep(20)

''' + corpus.RNN_OK


@pytest.mark.skipif(not sandbox.memory_cgroup_available(),
                    reason="needs a writable memory cgroup (root on Linux)")
def test_the_whole_sandbox_has_one_memory_budget(tmp_path_factory):
    """Four processes of 250 MB each stay under the per-process limit, not under the sandbox's."""
    base = tmp_path_factory.getbasetemp() / "grader"
    base.mkdir(exist_ok=True)
    course = harness.course_copy(base, "memory-cgroup")
    hog = dataclasses.replace(corpus.BY_STUDENT["honest"], student="hog", rnn_step=MEMORY_HOG)
    harness.write_submission(course, hog)
    harness.write_submission(course, corpus.BY_STUDENT["honest"])
    completed = harness.run_grader(course, "autograde", "--quiet", "--workers", "2",
                                   "--cell-timeout", "60", "--memory-mb", "1536",
                                   "--sandbox-memory-mb", "600")
    summary = harness.result(course, "hog")
    assert "the sandbox reached its memory limit of 600 MiB" in json.dumps(summary), \
        completed.stdout
    assert summary["attention"]
    # Only the cell that blew the budget is lost; the classmate keeps full marks.
    assert summary["score"] == 3.0
    assert harness.result(course, "honest")["score"] == 6.0
