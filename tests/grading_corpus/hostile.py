"""Hostile submissions written against ``grader/`` by someone who has read it (issue 8).

Three trust assumptions are attacked, one class of case each:

1. the kernel is the student's process: forged status and reply messages, silenced
   tracebacks, rewritten cells (input and AST transformers), classes built with
   ``type(...)`` that lie in comparisons, records and events nested thousands deep,
   floods of events and output, a package next to the notebook that shadows the
   course's helpers, and ``/proc`` snooping for other processes;
2. a submission is untrusted bytes: a notebook that is a symlink (to a classmate's
   notebook), a submission directory or a student directory that is a symlink, a
   symlink to the gradebook, a FIFO and a character device in place of the
   notebook, a directory named like the notebook, JSON nested 200 000 deep;
3. one student never costs another anything: every case is graded in the same run
   as the honest classmates of :mod:`grading_corpus.corpus`, who must keep full marks.

Each case states the score it must get (never above what a blank or a plainly wrong
answer gets) and the problem the instructor is shown.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

from grading_corpus.corpus import ALL, ASSIGNMENT, MEAN_OK, NOTEBOOK, RNN_OK, Case

NOTEBOOK_FILE = f"{NOTEBOOK}.ipynb"
RECORD_MIME = "application/vnd.rnn-course.grader-record+json"
EVENT_MIME = "application/vnd.rnn-course.grader-event+json"
# Wrong on purpose: the visible test asserts the shape (2,), a length-1 array fails it;
# the hidden check's first case has length 1, so a plainly wrong answer earns 0.5 points.
PLAIN_WRONG = 0.5
MEAN_WRONG = '''def running_mean(x):
    return x[:1]'''


def _classmate(course: Path, *parts: str) -> Path:
    return course.joinpath("submitted", "honest", *parts)


def _notebook_links_to_classmate(course: Path, directory: Path) -> None:
    (directory / NOTEBOOK_FILE).unlink()
    (directory / NOTEBOOK_FILE).symlink_to(_classmate(course, ASSIGNMENT, NOTEBOOK_FILE))


def _directory_links_to_classmate(course: Path, directory: Path) -> None:
    shutil.rmtree(directory)
    directory.symlink_to(_classmate(course, ASSIGNMENT), target_is_directory=True)


def _student_links_to_classmate(course: Path, directory: Path) -> None:
    shutil.rmtree(directory.parent)
    directory.parent.symlink_to(_classmate(course), target_is_directory=True)


def _link_to_gradebook(course: Path, directory: Path) -> None:
    (directory / "answers.db").symlink_to(course / "gradebook.db")
    (directory / "passwd").symlink_to("/etc/passwd")


def _fifo_notebook(course: Path, directory: Path) -> None:
    (directory / NOTEBOOK_FILE).unlink()
    os.mkfifo(directory / NOTEBOOK_FILE)


def _device_notebook(course: Path, directory: Path) -> None:
    (directory / NOTEBOOK_FILE).unlink()
    os.mknod(directory / NOTEBOOK_FILE, 0o644 | stat.S_IFCHR, os.makedev(1, 5))  # /dev/zero


def _directory_notebook(course: Path, directory: Path) -> None:
    (directory / NOTEBOOK_FILE).unlink()
    (directory / NOTEBOOK_FILE).mkdir()
    (directory / NOTEBOOK_FILE / "cells.json").write_text("[]")


def _deep_json(text: str) -> str:
    depth = 200_000
    return text.rstrip()[:-1] + ', "deep": ' + "[" * depth + "]" * depth + "}"


GRADEBOOK_READER = '''import sqlite3

def running_mean(x):
    for (source,) in sqlite3.connect("answers.db").execute("select source from source_cell"):
        if "def running_mean" in source:
            exec(source, globals())
            return globals()["running_mean"](x)
    return x[:1]'''

SILENCE_TRACEBACKS = '''ip = get_ipython()
ip.showtraceback = lambda *args, **kwargs: None
ip._showtraceback = lambda *args, **kwargs: None
ip.showsyntaxerror = lambda *args, **kwargs: None

''' + MEAN_WRONG

REWRITE_CELLS = '''import ast

def _strip_tests(lines):
    text = "".join(lines)
    return ["pass\\n"] if ("assert" in text or "record" in text or "__grader" in text) else lines

class _NoAsserts(ast.NodeTransformer):
    def visit_Assert(self, node):
        return ast.Pass()

get_ipython().input_transformers_post.append(_strip_tests)
get_ipython().ast_transformers.append(_NoAsserts())

''' + MEAN_WRONG

FORGE_MESSAGES = '''import time

def _forge_end_of_cell():
    kernel = get_ipython().kernel
    parent = kernel.get_parent("shell")
    kernel.session.send(kernel.iopub_socket, "status", {"execution_state": "idle"},
                        parent=parent, ident=kernel._topic("status"))
    kernel.session.send(kernel.shell_stream, "execute_reply",
                        {"status": "ok", "execution_count": 1, "user_expressions": {}},
                        parent=parent, ident=kernel._parent_ident["shell"])

def running_mean(x):
    _forge_end_of_cell()
    time.sleep(0.5)
    raise ValueError("the grader has moved on by now, or so this hopes")'''

LYING_TYPES = '''Liar = type("Liar", (np.ndarray,), {
    "__eq__": lambda self, other: np.ones(np.shape(self), dtype=bool),
    "__bool__": lambda self: True,
})
Anything = type("Anything", (), {"__eq__": lambda self, other: True, "shape": (2,),
                                 "__len__": lambda self: 2})

def running_mean(x):
    if len(x) == 2:
        return Anything()
    return np.zeros(len(x)).view(Liar)'''

PROC_SNOOP = '''import os

def _command_lines():
    lines = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    lines.append(f.read().replace(b"\\0", b" ").decode(errors="replace"))
            except OSError:
                pass
    return lines

SEEN = [line for line in _command_lines()
        if any(word in line for word in ("submitted", ".grader", "honest", "pytest", "staging"))]

def running_mean(x):
    if SEEN:  # "rewarded" only if the host's processes were visible
        return np.cumsum(x) / np.arange(1, len(x) + 1)
    return x[:1]'''

DEEP_RECORDS = f'''from IPython.display import publish_display_data

def running_mean(x):
    publish_display_data({{"{RECORD_MIME}": "[" * 200000 + "]" * 200000}})
    publish_display_data({{"{RECORD_MIME}": '{{"name": "running_mean on seeded sequences", "value": "'
                          + "[" * 100000 + "]" * 100000 + '"}}'}})
    publish_display_data({{"{EVENT_MIME}": '{{"kind": ' * 50000 + "1" + "}}" * 50000}})
    _send_raw(b'{{"data": ' + b"[" * 100000 + b"]" * 100000 + b"}}")
    return np.cumsum(x) / np.arange(1, len(x) + 1)


def _send_raw(content):
    """A correctly signed iopub message whose content is JSON nested 100 000 deep."""
    kernel = get_ipython().kernel
    session = kernel.session
    header = session.pack(session.msg_header("display_data"))
    parent = session.pack(kernel.get_parent("shell")["header"])
    metadata = session.pack({{}})
    signature = session.sign([header, parent, metadata, content])
    kernel.iopub_socket.send_multipart([b"display_data", b"<IDS|MSG>", signature, header, parent,
                                        metadata, content])'''

FLOOD = f'''from IPython.display import publish_display_data

for i in range(3000):
    publish_display_data({{"{EVENT_MIME}": '{{"kind": "flood", "detail": "{"y" * 500}"}}'}})
for i in range(40):
    print("z" * 100_000)

''' + MEAN_OK

SHADOW_CHECKS = '''import numpy as np


def run_running_mean(function):
    """A student's stand-in for the course helper: the right answers, whatever function does."""
    rng = np.random.default_rng(4242)
    cases = [np.array([3.5]), rng.normal(size=5), rng.normal(size=40), rng.uniform(-9, 9, 200)]
    return [np.cumsum(x) / np.arange(1, x.size + 1) for x in cases]
'''

HOSTILE = [
    # 1. the kernel's word is not believed
    Case("plain_wrong", "the control: running_mean plainly wrong, no tricks",
         running_mean=MEAN_WRONG, score=PLAIN_WRONG),
    Case("silence_tracebacks", "silences IPython's tracebacks; running_mean has the wrong shape",
         running_mean=SILENCE_TRACEBACKS, score=PLAIN_WRONG, problems=frozenset({"integrity:hooks"}),
         attention=True),
    Case("rewrite_cells", "input and AST transformers turn every test into `pass`",
         running_mean=REWRITE_CELLS, problems=frozenset({"integrity:hooks"}), attention=True),
    Case("forge_messages", "forges the idle status and the execute reply, then fails late",
         running_mean=FORGE_MESSAGES, problems=frozenset({"integrity:hooks"}), attention=True),
    Case("lying_types", "classes made with type(...) that are equal to everything",
         running_mean=LYING_TYPES, problems=frozenset({"integrity:dynamic-class"}),
         attention=True),
    Case("proc_snoop", "answers right only if /proc shows the host's processes",
         running_mean=PROC_SNOOP, score=PLAIN_WRONG, problems=frozenset({"integrity:paths"}), attention=True),
    Case("deep_records", "publishes records and events nested 100 000 deep", RNN_OK, DEEP_RECORDS,
         score=4.0, problems=frozenset({"integrity:malformed-record", "limit"}), attention=True),
    Case("flood", "floods the grader with 3000 events and 4 MB of output", RNN_OK, FLOOD,
         score=6.0, problems=frozenset({"limit"}), attention=True),
    Case("shadow_helpers", "ships its own fxchecks/ package next to the notebook",
         running_mean=MEAN_WRONG, score=PLAIN_WRONG,
         extra_files=(("fxchecks/__init__.py", ""), ("fxchecks/checks.py", SHADOW_CHECKS))),
    # 2. untrusted bytes are staged, never followed
    Case("link_notebook", "the notebook is a symlink to a classmate's notebook",
         prepare=_notebook_links_to_classmate, problems=frozenset({"refused-file"}),
         attention=True),
    Case("link_directory", "submitted/<student>/<assignment> is a symlink to a classmate's",
         prepare=_directory_links_to_classmate, problems=frozenset({"refused"}), attention=True),
    Case("link_student", "submitted/<student> is a symlink to a classmate's folder",
         prepare=_student_links_to_classmate, problems=frozenset({"refused"}), attention=True),
    Case("link_gradebook", "ships symlinks to the gradebook and /etc/passwd, reads them",
         running_mean=GRADEBOOK_READER, prepare=_link_to_gradebook,
         problems=frozenset({"refused-file", "integrity:dynamic-code"}), attention=True),
    Case("fifo_notebook", "the notebook is a FIFO (reading it would block forever)",
         prepare=_fifo_notebook, problems=frozenset({"refused-file"}), attention=True),
    Case("device_notebook", "the notebook is a character device (/dev/zero)",
         prepare=_device_notebook, problems=frozenset({"refused-file"}), attention=True),
    Case("directory_notebook", "a directory is named like the notebook",
         prepare=_directory_notebook, problems=frozenset({"malformed"}), attention=True),
    Case("deep_notebook", "the notebook's JSON is nested 200 000 deep", RNN_OK, MEAN_OK,
         raw=_deep_json, problems=frozenset({"malformed"}), attention=True),
]

EVERY = ALL + HOSTILE
BY_STUDENT = {case.student: case for case in EVERY}
