"""The submissions the grader is tested on: honest, cheating and crashing ones.

Each :class:`Case` is one student of the fixture course (``course/``, one
notebook ``fx_rnn`` worth 6 autograded points and 1 written point). A case
gives the code of the solution cells (``rnn_step``, ``running_mean``, and the
written answer), optionally an edit of the notebook's JSON (for the tamper
cases) or the raw bytes of the file (for the malformed one), and what the
grader must conclude: the autograded score and the problems it reports.

Autograded points of the fixture: ``rnn_step_forward`` visible check 1,
hidden checks 2; ``running_mean`` visible plain-assert test 1 (its operands
observed in the kernel, the assertion judged outside), hidden verdict 2 (a
quarter per seeded case).

``@COURSE@`` in a cell is replaced by the absolute path of the course copy, so
that the cheats can aim at the real gradebook and source notebook.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

ASSIGNMENT = "fx_rnn"
NOTEBOOK = "fx_rnn"
MAX_AUTO = 6.0

RNN_OK = '''def rnn_step_forward(X, H_prev, W_xh, W_hh, b_h):
    H = np.tanh(X @ W_xh + H_prev @ W_hh + b_h)
    return H, (X, H_prev, W_xh, W_hh, H)'''

MEAN_OK = '''def running_mean(x):
    return np.cumsum(x) / np.arange(1, len(x) + 1)'''

RNN_TODO = '''def rnn_step_forward(X, H_prev, W_xh, W_hh, b_h):
    raise NotImplementedError()'''

MEAN_TODO = '''def running_mean(x):
    raise NotImplementedError()'''

ANSWER = "Each new value enters with weight 1/t, which shrinks as t grows."


@dataclasses.dataclass(frozen=True)
class Case:
    """One submission and the grader's expected verdict on it."""

    student: str
    description: str
    rnn_step: str = RNN_TODO
    running_mean: str = MEAN_TODO
    answer: str | None = None
    transform: Callable[[dict], None] | None = None  # edits the notebook JSON in place
    raw: Callable[[str], str] | None = None  # file text from the honest notebook's text
    filename: str = f"{NOTEBOOK}.ipynb"
    extra_files: tuple[tuple[str, str], ...] = ()
    prepare: Callable[[Path, Path], None] | None = None  # (course, submission dir): links, FIFOs
    score: float = 0.0  # expected autograded score
    problems: frozenset[str] = frozenset()  # expected "kind" or "kind:rule" entries
    attention: bool = False


def _cells_by_id(nb: dict) -> dict[str, dict]:
    return {c["metadata"]["nbgrader"]["grade_id"]: c for c in nb["cells"]
            if "nbgrader" in c.get("metadata", {})}


def _edit_test_cells(nb: dict) -> None:
    for grade_id, cell in _cells_by_id(nb).items():
        if grade_id.startswith("test_"):
            cell["source"] = "pass  # the test is gone"


def _delete_test_cells(nb: dict) -> None:
    nb["cells"] = [c for c in nb["cells"]
                   if not c.get("metadata", {}).get("nbgrader", {}).get("grade_id", "")
                   .startswith("test_")]


def _change_metadata(nb: dict) -> None:
    cells = _cells_by_id(nb)
    for grade_id in ("test_rnn_step_hidden", "test_running_mean_hidden"):
        cells[grade_id]["metadata"]["nbgrader"].update(grade=False, locked=False, points=0)
    cells["test_running_mean_visible"]["cell_type"] = "markdown"
    cells["test_running_mean_visible"].pop("outputs", None)
    cells["test_running_mean_visible"].pop("execution_count", None)
    cells["rnn_step"]["metadata"]["nbgrader"].update(grade=True, points=100)
    cells["test_rnn_step_visible"]["metadata"]["nbgrader"]["grade_id"] = "my_own_test"


HONEST = [
    Case("honest", "correct code and a written answer", RNN_OK, MEAN_OK, ANSWER, score=6.0),
    Case("blank", "the released notebook, untouched", score=0.0),
    Case("partial", "correct RNN step; running mean divides by the wrong count", RNN_OK,
         '''def running_mean(x):
    return np.cumsum(x) / np.arange(len(x))''', score=4.0),
    Case("syntax_error", "correct RNN step; a syntax error in running_mean", RNN_OK,
         '''def running_mean(x)
    return x''', score=3.0),
    Case("extra_notebook", "correct work plus a scratch notebook", RNN_OK, MEAN_OK,
         extra_files=(("scratch.ipynb", '{"cells": [], "metadata": {}, "nbformat": 4, '
                                        '"nbformat_minor": 5}'),),
         score=6.0, problems=frozenset({"extra-notebook"})),
]

CHEATS = [
    Case("patch_numpy", "replaces numpy's comparison helpers, returns zeros",
         '''np.testing.assert_allclose = lambda *args, **kwargs: None
np.allclose = lambda *args, **kwargs: True
np.isclose = lambda *args, **kwargs: True

def rnn_step_forward(X, H_prev, W_xh, W_hh, b_h):
    return np.zeros((X.shape[0], W_hh.shape[0])), None''',
         problems=frozenset({"integrity:patch", "integrity:patched-helper"}), attention=True),
    Case("patch_builtins", "replaces builtins used by assertions",
         '''import builtins

builtins.isinstance = lambda obj, kind: True
builtins.all = lambda values: True

def rnn_step_forward(X, H_prev, W_xh, W_hh, b_h):
    return "H", None''',
         problems=frozenset({"integrity:builtins"}), attention=True),
    Case("patch_torch", "replaces torch's comparison helpers, returns a zero tensor",
         '''import torch

torch.testing.assert_close = lambda *args, **kwargs: None
torch.allclose = lambda *args, **kwargs: True

def rnn_step_forward(X, H_prev, W_xh, W_hh, b_h):
    return torch.zeros(X.shape[0], W_hh.shape[0], dtype=torch.float64), None''',
         problems=frozenset({"integrity:patch"}), attention=True),
    Case("always_equal", "returns objects equal to everything",
         '''class Anything:
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    shape = property(lambda self: Anything())


def rnn_step_forward(X, H_prev, W_xh, W_hh, b_h):
    return Anything(), Anything()''',
         '''def running_mean(x):
    return Anything()''',
         problems=frozenset({"integrity:always-equal"}), attention=True),
    Case("nan_trick", "returns NaN arrays of the right shape (NaN defeats `>` comparisons)",
         '''def rnn_step_forward(X, H_prev, W_xh, W_hh, b_h):
    return np.full((X.shape[0], W_hh.shape[0]), np.nan), None'''),
    Case("read_gradebook", "looks for gradebook.db and runs the code stored in it",
         '''import os
import sqlite3

for depth in range(7):
    for path in [os.path.join(*[".."] * depth, "gradebook.db"), "@COURSE@/gradebook.db"]:
        if path and os.path.exists(path):
            for (source,) in sqlite3.connect(path).execute("select source from source_cell"):
                if "def rnn_step_forward" in source or "def running_mean" in source:
                    exec(source)
if "rnn_step_forward" not in globals():
    def rnn_step_forward(X, H_prev, W_xh, W_hh, b_h):
        raise NotImplementedError()''',
         problems=frozenset({"integrity:paths", "integrity:dynamic-code", "integrity:system"}),
         attention=True),
    Case("read_source", "reads the instructor's source notebook and runs its solutions",
         '''import json
import os

for path in ["@COURSE@/source/fx_rnn/fx_rnn.ipynb", "../../../source/fx_rnn/fx_rnn.ipynb"]:
    if os.path.exists(path):
        for cell in json.load(open(path))["cells"]:
            code = "".join(cell["source"])
            if cell["cell_type"] == "code" and "BEGIN SOLUTION" in code:
                exec(code)''',
         '''if "running_mean" not in globals():
    def running_mean(x):
        raise NotImplementedError()''',
         problems=frozenset({"integrity:paths", "integrity:dynamic-code"}), attention=True),
    Case("call_reference", "returns what rnn_lib's reference computes",
         '''from rnn_lib import rnn_step_forward as reference_step

def rnn_step_forward(X, H_prev, W_xh, W_hh, b_h):
    return reference_step(X, H_prev, W_xh, W_hh, b_h)''',
         problems=frozenset({"integrity:reference-import", "integrity:reference-call"}),
         attention=True),
    Case("call_reference_hidden", "reaches rnn_lib's reference through getattr",
         '''import rnn_lib.rnn as library

def rnn_step_forward(X, H_prev, W_xh, W_hh, b_h):
    return getattr(library, "rnn_step_" + "forward")(X, H_prev, W_xh, W_hh, b_h)''',
         problems=frozenset({"integrity:reference-call"}), attention=True),
    Case("detect_grading", "looks for the hidden tests only when it detects grading",
         '''import os

GRADED = "NBGRADER_EXECUTION" in os.environ or os.path.exists("/run/grader")

def rnn_step_forward(X, H_prev, W_xh, W_hh, b_h):
    if GRADED:
        for path in ["@COURSE@/source/fx_rnn/fx_rnn.ipynb", "@COURSE@/gradebook.db"]:
            if os.path.exists(path):
                print(open(path, "rb").read()[:1000])
        return np.zeros((X.shape[0], W_hh.shape[0])), None
    raise NotImplementedError()''',
         problems=frozenset({"integrity:grading-env", "integrity:paths"}), attention=True),
    Case("edit_tests", "rewrites every test cell to `pass`", transform=_edit_test_cells,
         problems=frozenset({"tamper"}), attention=True),
    Case("delete_tests", "deletes every test cell", transform=_delete_test_cells,
         problems=frozenset({"tamper"}), attention=True),
    Case("change_metadata", "turns tests into ungraded cells, a solution into a 100-point test",
         transform=_change_metadata, problems=frozenset({"tamper"}), attention=True),
    Case("forge_records", "silences the check API and publishes made-up results",
         '''import json

from IPython.display import publish_display_data

from grader import checks, payload

checks.record = lambda *args, **kwargs: None

def rnn_step_forward(X, H_prev, W_xh, W_hh, b_h):
    fake = {"name": "rnn_step_forward on random inputs (n=3, d=4, h=5)",
            "value": payload.encode(np.zeros((3, 5)))}
    publish_display_data({checks.MIME_RECORD: json.dumps(fake)})
    return np.zeros((X.shape[0], W_hh.shape[0])), None''',
         problems=frozenset({"integrity:grader-api", "integrity:patch"}), attention=True),
    Case("exfiltrate", "tries to smuggle the hidden tests out through error messages",
         '''def rnn_step_forward(X, H_prev, W_xh, W_hh, b_h):
    hidden = get_ipython().user_ns["_ih"][-1]
    print(hidden)
    raise RuntimeError(hidden)''',
         '''def running_mean(x):
    hidden = get_ipython().user_ns["_ih"][-1]
    raise type(hidden[:300], (Exception,), {})(hidden)''',
         problems=frozenset({"integrity:introspection"}), attention=True),
]

CRASHES = [
    Case("crash_exit", "running_mean's cell calls os._exit after defining it", RNN_OK,
         MEAN_OK + '''

import os
os._exit(1)''', score=3.0, problems=frozenset({"crash"}), attention=True),
    Case("crash_segfault", "rnn_step_forward segfaults (ctypes) on the hidden inputs",
         '''import ctypes

def rnn_step_forward(X, H_prev, W_xh, W_hh, b_h):
    if X.shape[0] == 3:
        ctypes.string_at(0)
    H = np.tanh(X @ W_xh + H_prev @ W_hh + b_h)
    return H, None''', MEAN_OK, score=4.0,
         problems=frozenset({"crash", "integrity:system"}), attention=True),
    Case("infinite_loop", "running_mean never returns on long inputs", RNN_OK,
         '''def running_mean(x):
    while len(x) > 100:
        pass
    return np.cumsum(x) / np.arange(1, len(x) + 1)''', score=4.0,
         problems=frozenset({"timeout"}), attention=True),
    Case("stubborn_loop", "rnn_step_forward ignores the interrupt and loops on hidden inputs",
         '''import signal

def rnn_step_forward(X, H_prev, W_xh, W_hh, b_h):
    if X.shape[0] == 3:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        while True:
            pass
    return np.tanh(X @ W_xh + H_prev @ W_hh + b_h), None''', MEAN_OK, score=4.0,
         problems=frozenset({"timeout", "integrity:system"}), attention=True),
    Case("memory_bomb", "running_mean allocates until memory runs out on long inputs", RNN_OK,
         '''def running_mean(x):
    if len(x) > 100:
        hoard = []
        while True:
            hoard.append(np.zeros(10**8))
    return np.cumsum(x) / np.arange(1, len(x) + 1)''', score=5.5),
    Case("fork_bomb", "forks until the process limit, leaves the children sleeping",
         '''import os
import time

children = 0
try:
    while children < 10_000:
        if os.fork() == 0:
            time.sleep(600)
            os._exit(0)
        children += 1
except OSError:
    pass

''' + RNN_OK, MEAN_OK, score=6.0, problems=frozenset({"integrity:system"}), attention=True),
    Case("daemon", "leaves a daemon behind (double fork, new session)",
         '''import os
import time

if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        time.sleep(600)
    os._exit(0)

''' + RNN_OK, MEAN_OK, score=6.0, problems=frozenset({"integrity:system"}), attention=True),
    Case("malformed_json", "the notebook file is cut off halfway",
         raw=lambda text: text[: len(text) // 2], problems=frozenset({"malformed"}),
         attention=True),
    Case("missing_notebook", "the notebook was handed in under another name", RNN_OK, MEAN_OK,
         filename="fx_rnn_final.ipynb", problems=frozenset({"missing", "extra-notebook"}),
         attention=True),
]

ALL = HONEST + CHEATS + CRASHES
BY_STUDENT = {case.student: case for case in ALL}
