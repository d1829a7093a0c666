"""Unit tests of the grader's pieces that need no kernel: payloads, comparison,
verdicts, notebook rebuilding, gutted packages, the integrity scan, feedback
screening and the sandbox command line."""

from __future__ import annotations

import ast
import base64
import collections
import dataclasses
import io
import json
import math
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest

from grader import checks, integrity, notebook, payload, sandbox, tripwire
from grader.compare import compare
from grader.feedback import WITHHELD, Redactor
from grader.verdicts import CheckSpec, cell_score, judge, safe_error_name

# --------------------------------------------------------------------------- payload


@dataclasses.dataclass
class Run:
    label: str
    value: object
    error: str | None = None


Point = collections.namedtuple("Point", "x y")


class AlwaysEqual:
    def __eq__(self, other):
        return True


def test_payload_round_trip_is_exact():
    value = {
        "arrays": [np.arange(6, dtype=np.float32).reshape(2, 3), np.array([1, -2], np.int64),
                   np.array([True, False]), np.array([1 + 2j])],
        "floats": (0.1, math.nan, math.inf, -0.0, np.float64(1 / 3)),
        "big": 2**80, "text": "héllo", "none": None, "flag": np.bool_(True),
        (1, "k"): "tuple key", "run": Run("case", np.ones(2)), "point": Point(1, 2.5),
    }
    back = payload.round_trip(value)
    assert back["arrays"][0].dtype == np.float32 and np.array_equal(back["arrays"][0],
                                                                    value["arrays"][0])
    assert back["arrays"][1].dtype == np.int64 and back["arrays"][3][0] == 1 + 2j
    floats = back["floats"]
    assert isinstance(floats, tuple) and floats[0] == 0.1 and math.isnan(floats[1])
    assert floats[2] == math.inf and math.copysign(1, floats[3]) == -1 and floats[4] == 1 / 3
    assert back["big"] == 2**80 and back["text"] == "héllo" and back["none"] is None
    assert back["flag"] is True and back[(1, "k")] == "tuple key"
    assert back["run"].label == "case" and np.array_equal(back["run"].value, np.ones(2))
    assert back["run"].type_name.endswith("Run") and back["point"].y == 2.5


def test_payload_turns_foreign_objects_into_opaque():
    back = payload.round_trip([AlwaysEqual(), np.array([object()]), {1, 2}])
    assert all(isinstance(v, payload.Opaque) for v in back)
    assert back[0].type_name.endswith("AlwaysEqual")
    assert not (back[0] == back[0] and back[0] == 1)  # no custom equality survives


def test_payload_decode_rejects_pickles_and_junk():
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    pickled = json.dumps({"$a": base64.b64encode(buffer.getvalue()).decode()})
    for bad in (pickled, '{"$f": "nan", "x": 1}', "[NaN]", '{"$zz": 1}', '{"a": 1}', "not json",
                '{"$d": [[[1], 2]]}', '{"$i": "12ab"}'):
        with pytest.raises(payload.PayloadError):
            payload.decode(bad)
    deep = "[" * 200 + "]" * 200
    with pytest.raises(payload.PayloadError):
        payload.decode(deep)


def test_tensors_become_arrays():
    torch = pytest.importorskip("torch")
    back = payload.round_trip(torch.arange(3, dtype=torch.float64, requires_grad=True) * 2)
    assert isinstance(back, np.ndarray) and back.dtype == np.float64
    assert back.tolist() == [0.0, 2.0, 4.0]


# --------------------------------------------------------------------------- compare


@pytest.mark.parametrize("got, want, message", [
    (np.zeros((2, 3)), np.zeros((3, 2)), "shape (2, 3), expected (3, 2)"),
    (np.zeros(2, np.float32), np.zeros(2), "dtype float32, expected float64"),
    (np.array([np.nan, 1.0]), np.array([0.5, 1.0]), "contains NaN"),
    (np.array([1.0, 2.0]), np.array([1.0, 2.5]), "1 of 2 entries differ (largest absolute error 0.5)"),
    ([1, 2], (1, 2), "expected a tuple, got a list"),
    ([1.0], [1.0, 2.0], "length 1, expected 2"),
    (payload.Opaque("x.Anything"), np.zeros(2), "expected a numpy array, got an object of type x.Anything"),
    ({"a": 1}, {"a": 1, "b": 2}, "missing keys"),
    (True, 1.0, "expected a number"),
    (float("nan"), 0.25, "is NaN"),
])
def test_compare_reports_the_difference(got, want, message):
    problem = compare(got, want, where="v")
    assert problem is not None and message in problem


def test_compare_accepts_within_tolerance_and_opaque_reference():
    assert compare(np.array([1.0 + 1e-12]), np.array([1.0]), rtol=1e-9, atol=0) is None
    assert compare((np.ones(2), "anything"), (np.ones(2), payload.Opaque("cache"))) is None
    assert compare({"k": [1, 2.0]}, {"k": [1, 2.0]}) is None
    assert compare(np.array([np.inf]), np.array([np.inf])) is None


# --------------------------------------------------------------------------- record, verdicts


def test_record_in_plain_mode_judges_in_the_kernel():
    assert checks.grading_mode() == "plain"
    checks.record("ok", np.tanh([1.0]), expected=np.tanh([1.0]))
    with pytest.raises(AssertionError, match="1 of 1 entries differ"):
        checks.record("bad", np.array([0.0]), expected=np.array([1.0]))
    with pytest.raises(ValueError, match="points must be a positive number"):
        checks.record("x", 1, points=0)
    with pytest.raises(ValueError, match="verdict must be 'module:function'"):
        checks.record("x", 1, verdict="no_colon")


def half_verdict(value, points, *, factor=1.0):
    print("half credit")
    return points * 0.5 * factor


def failing_verdict(value, points):
    raise AssertionError("wrong on case 3")


def crashing_verdict(value, points):
    return value["missing"]


def test_record_calls_the_verdict_in_plain_mode():
    assert checks.record("v", 1, verdict=f"{__name__}:half_verdict", points=2,
                         options={"factor": 0.5}) == 0.5


def _spec(verdict=None, reference=1.0, points=1.0, options=None):
    return CheckSpec("cell", "check", points, verdict, 1e-7, 1e-10, payload.encode(reference),
                     options or {})


def _doc(value):
    return {"name": "check", "value": payload.encode(value)}


def test_judge_against_reference_and_verdicts():
    assert judge(_spec(), [_doc(1.0)], "").status == "passed"
    failed = judge(_spec(reference=np.ones(2)), [_doc(np.zeros(2))], "")
    assert failed.status == "failed" and failed.earned == 0
    missing = judge(_spec(), [], "the cell stopped with NameError before reaching this check")
    assert missing.status == "missing" and "NameError" in missing.messages[0]
    twice = judge(_spec(), [_doc(1.0), _doc(2.0)], "")
    assert twice.status == "invalid"
    half = judge(_spec(f"{__name__}:half_verdict", points=2), [_doc(0)], "")
    assert half.earned == 1.0 and half.messages == ["half credit"]
    fail = judge(_spec(f"{__name__}:failing_verdict"), [_doc(0)], "")
    assert fail.earned == 0 and fail.messages == ["wrong on case 3"]
    crash = judge(_spec(f"{__name__}:crashing_verdict"), [_doc({})], "")
    assert crash.status == "error" and "KeyError" in crash.messages[0] and "KeyError" in crash.detail


def test_cell_score_weights_checks():
    a = judge(_spec(points=1), [_doc(1.0)], "")
    b = judge(_spec(points=3), [_doc(2.0)], "")
    assert cell_score(2.0, [a, b]) == 0.5


def test_safe_error_names():
    assert safe_error_name("ValueError") == "ValueError"
    assert safe_error_name("### BEGIN HIDDEN TESTS\nsecret") == "an error"


# --------------------------------------------------------------------------- notebook


def _model() -> notebook.NotebookModel:
    def cell(grade_id, source, **flags):
        c = nbformat.v4.new_code_cell(source)
        c.metadata["nbgrader"] = {"grade_id": grade_id, **flags}
        return c

    source_cells = [
        nbformat.v4.new_markdown_cell("intro"),
        cell("setup", "import numpy as np", locked=True),
        cell("solve", "def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION",
             solution=True),
        cell("test_f", "assert f() == 1\n### BEGIN HIDDEN TESTS\nassert f() != 2\n"
             "### END HIDDEN TESTS", grade=True, locked=True, points=2),
    ]
    return notebook.NotebookModel(
        "nb", source_cells,
        roles={"setup": notebook.ROLE_LOCKED, "solve": notebook.ROLE_SOLUTION,
               "test_f": notebook.ROLE_TEST},
        cell_types={"setup": "code", "solve": "code", "test_f": "code"},
        gradebook_source={"setup": "import numpy as np",
                          "solve": "def f():\n    # YOUR CODE HERE\n    raise NotImplementedError()",
                          "test_f": "assert f() == 1\n### BEGIN HIDDEN TESTS\nassert f() != 2\n"
                                    "### END HIDDEN TESTS"},
        max_scores={"test_f": 2.0})


def _student(*cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = list(cells)
    return nb


def _cell(grade_id, source, cell_type="code", **meta):
    maker = nbformat.v4.new_code_cell if cell_type == "code" else nbformat.v4.new_markdown_cell
    c = maker(source)
    if grade_id:
        c.metadata["nbgrader"] = {"grade_id": grade_id, **meta}
    return c


def test_build_submission_restores_tests_and_keeps_student_cells():
    model = _model()
    student = _student(
        _cell("setup", "import numpy as np", locked=True),
        _cell(None, "helper = 3"),
        _cell("solve", "def f():\n    return helper - 2", solution=True),
        _cell("test_f", "pass", grade=True, locked=True, points=2),
        _cell(None, "print('mine')"),
    )
    nb, infos, flags = notebook.build_submission(model, student)
    sources = [c.source for c in nb.cells]
    assert sources[:2] == ["import numpy as np", "helper = 3"]  # stays after the cell it followed
    assert "def f():\n    return helper - 2" in sources
    assert model.gradebook_source["test_f"] in sources  # restored, hidden tests included
    assert sources[-1] == "print('mine')"
    assert [f["detail"] for f in flags] == ["edited the test cell 'test_f' (restored)"]
    roles = {i.grade_id: i for i in infos if i.grade_id}
    assert roles["test_f"].hidden and roles["test_f"].max_score == 2.0
    assert roles["solve"].answered


def test_build_submission_flags_deletion_and_metadata_changes():
    model = _model()
    student = _student(_cell("solve", "def f():\n    return 1", "markdown", solution=True,
                             grade=True, points=50),
                       _cell("fake", "x = 1", grade=True, points=5))
    nb, infos, flags = notebook.build_submission(model, student)
    details = " | ".join(f["detail"] for f in flags)
    assert "deleted the test cell 'test_f'" in details
    assert "deleted the read-only cell 'setup'" in details
    assert "cell type 'markdown' instead of 'code'" in details and "grade=True" in details
    assert "unknown nbgrader id 'fake'" in details
    solve = [c for c in nb.cells if notebook.grade_id_of(c) == "solve"][0]
    assert solve.source == notebook.MISSING_SOLUTION  # wrong type: treated as not answered


def test_read_submission_rejects_malformed(tmp_path):
    path = tmp_path / "x.ipynb"
    for text in ('{"cells": [', '{"nothing": 1}', '\xff'):
        path.write_text(text, encoding="latin-1")
        with pytest.raises(notebook.MalformedNotebook):
            notebook.read_submission(str(path))


def test_remove_and_read_regions():
    text = "a\n### BEGIN HIDDEN TESTS\nb\n### END HIDDEN TESTS\nc\n"
    assert notebook.remove_region(text, notebook.BEGIN_HIDDEN, notebook.END_HIDDEN) == "a\nc\n"
    assert notebook.region_lines(text, notebook.BEGIN_HIDDEN, notebook.END_HIDDEN) == ["b"]


# --------------------------------------------------------------------------- tripwire


def _package(root: Path) -> Path:
    package = root / "refpkg"
    package.mkdir()
    (package / "__init__.py").write_text("from refpkg.core import graded, shared, Machine\n")
    (package / "core.py").write_text('''"""Reference code."""
from __future__ import annotations


def _only_for_graded(x):
    return x * 2


def _shared(x):
    return x + 1


def graded(x):
    """The reference being graded."""
    return _only_for_graded(x) + _shared(x)


def shared(x):
    return _shared(x)


class Machine:
    def run(self, x):
        return graded(x)
''')
    return package


def _run_python(code: str, path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=path, capture_output=True, text=True,
                          env={"PYTHONPATH": f"{path}:{Path(checks.__file__).parents[1]}",
                               "PATH": "/usr/bin:/bin"})


def test_tripwire_guts_graded_code_and_private_helpers(tmp_path):
    package = _package(tmp_path)
    out = tmp_path / "out"
    gutted = tripwire.tripwire_package(str(package), {"graded", "Machine"}, str(out / "refpkg"))
    assert gutted == {"refpkg.core": ["Machine", "_only_for_graded", "graded"]}
    text = (out / "refpkg" / "core.py").read_text()
    assert "x * 2" not in text and "return x + 1" in text  # _shared stays: shared uses it
    done = _run_python(
        "import refpkg\nprint(refpkg.shared(1))\n"
        "try:\n    refpkg.graded(1)\nexcept Exception as e:\n    print(type(e).__name__)\n"
        "print(refpkg.graded.__doc__)", out)
    assert done.stdout.split("\n")[:3] == ["2", "ReferenceUnavailable",
                                           "The reference being graded."], done.stderr


def test_kernel_side_helpers_keep_only_the_kernel_closure(tmp_path):
    helpers = tmp_path / "helpers" / "hk"
    helpers.mkdir(parents=True)
    (helpers / "__init__.py").write_text("")
    (helpers / "ps.py").write_text('''import numpy as np

from grader.declare import kernel_side

SEED = 3


def _make(n):
    return np.arange(n) + SEED


@kernel_side
def cases():
    return [_make(2), _make(3)]


@kernel_side
def run(function):
    return [function(c) for c in cases()]


def expected(c):
    return c * 2  # the oracle


def verdict(value, points):
    return points
''')
    (helpers / "secret.py").write_text("def oracle():\n    return 42\n")
    out = tmp_path / "out"
    modules = tripwire.kernel_side_helpers(str(tmp_path / "helpers"), str(out))
    assert sorted(modules) == ["hk", "hk.ps", "hk.secret"]
    text = (out / "hk" / "ps.py").read_text()
    assert "c * 2" not in text and "the oracle" not in text and "np.arange(n)" in text
    assert "return 42" not in (out / "hk" / "secret.py").read_text()
    done = _run_python(
        "from hk import ps, secret\nprint(ps.run(lambda c: int(c.sum())))\n"
        "for f in (ps.expected, secret.oracle):\n    try:\n        f(1)\n"
        "    except RuntimeError as e:\n        print('trusted side' in str(e))", out)
    assert done.stdout.split() == ["[7,", "12]", "True", "True"], done.stderr


def test_declared_verdicts_record_in_the_sandbox_and_judge_outside(tmp_path):
    helpers = tmp_path / "helpers" / "hv"
    helpers.mkdir(parents=True)
    (helpers / "__init__.py").write_text("")
    (helpers / "ps.py").write_text('''from grader.declare import kernel_side, verdict


@kernel_side
def double_cases():
    return [1.0, 2.5]


@kernel_side
def run_double(function, cases):
    return [function(c) for c in cases]


@verdict(cases=double_cases)
def check_double(cases, runs, points):
    right = sum(run == 2 * case for case, run in zip(cases, runs))
    print(f"{right} of {len(cases)} right")
    return points * right / len(cases)
''')
    out = tmp_path / "out"
    tripwire.kernel_side_helpers(str(tmp_path / "helpers"), str(out))
    text = (out / "hv" / "ps.py").read_text()
    assert "2 * case" not in text and "_grader_course_check('hv.ps', 'check_double'" in text
    # In the sandbox the check only records (here: plain mode would judge, so call the stub's
    # target directly and check what it would record).
    recorded = {}
    original = checks.record
    checks.record = lambda name, value, **kw: recorded.update(name=name, value=value, **kw)
    try:
        checks.course_check("hv.ps", "check_double", "double_cases", ([9.0], [2.0, 5.0]),
                            {"points": 3})
    finally:
        checks.record = original
    assert recorded["name"] == "double" and recorded["value"] == [2.0, 5.0]
    assert recorded["verdict"] == "grader.checks:run_course_check" and recorded["points"] == 3
    sys.path.insert(0, str(tmp_path / "helpers"))
    try:
        spec = CheckSpec("cell", "double", 3.0, recorded["verdict"], 0, 0, payload.encode(0),
                         recorded["options"])
        result = judge(spec, [_doc([2.0, 4.0])], "")  # cases rebuilt: [1.0, 2.5]
        assert result.earned == 1.5 and result.messages == ["1 of 2 right"]
    finally:
        sys.path.remove(str(tmp_path / "helpers"))


def test_graded_names_come_from_solution_cells(tmp_path):
    nb = nbformat.v4.new_notebook()
    solution = nbformat.v4.new_code_cell("%matplotlib inline\ndef rnn_step_forward():\n    pass\n"
                                         "class Vocab:\n    pass\nx = 1")
    solution.metadata["nbgrader"] = {"grade_id": "s", "solution": True}
    other = nbformat.v4.new_code_cell("def helper():\n    pass")
    nb.cells = [solution, other]
    path = tmp_path / "n.ipynb"
    nbformat.write(nb, path)
    assert tripwire.graded_names(str(path)) == {"rnn_step_forward", "Vocab"}


# --------------------------------------------------------------------------- integrity


CHEATS = {
    "patch": "import numpy as np\nnp.testing.assert_allclose = lambda *a: None",
    "builtins": "import builtins\nbuiltins.len = lambda x: 0",
    "sys-modules": "import sys\nsys.modules['numpy'] = None",
    "grading-env": "import os\nflag = os.environ.get('NBGRADER_EXECUTION')",
    "paths": "open('../../gradebook.db')",
    "always-equal": "class A:\n    def __eq__(self, other):\n        return True",
    "introspection": "import sys\nframe = sys._getframe(1).f_back",
    "dynamic-code": "exec('x = 1')",
    "system": "import ctypes",
    "reference-import": "from rnn_lib import rnn_step_forward",
    "grader-api": "from grader.checks import record",
}


@pytest.mark.parametrize("rule", sorted(CHEATS))
def test_integrity_scan_flags_each_trick(rule):
    flags = integrity.scan_code([(3, CHEATS[rule])], {"rnn_step_forward"})
    assert rule in {f["rule"] for f in flags}
    assert all(f["cell"] == 3 for f in flags)


def test_integrity_scan_leaves_ordinary_code_alone():
    honest = '''import numpy as np
import matplotlib.pyplot as plt
from rnn_lib import numerical_gradient

plt.rcParams["figure.dpi"] = 100

class Vocab:
    def __init__(self, tokens):
        self.tokens = sorted(set(tokens))

    def __len__(self):
        return len(self.tokens)

def rnn_step_forward(X, H_prev, W_xh, W_hh, b_h):
    H = np.tanh(X @ W_xh + H_prev @ W_hh + b_h)
    return H, np.stack([X.sum(), H.sum()])

%timeit rnn_step_forward
'''
    assert integrity.scan_code([(0, honest)], {"rnn_step_forward", "Vocab"}) == []


# --------------------------------------------------------------------------- feedback, sandbox


def test_redactor_withholds_quotes_of_hidden_tests():
    redactor = Redactor(["rng_secret = np.random.default_rng(99)", "assert f(rng_secret) == 7"],
                        ["def f(x): ...", "check f on random inputs"])
    assert redactor.clean("f on random inputs: wrong value") == "f on random inputs: wrong value"
    assert redactor.clean("raised rng_secret") == WITHHELD
    assert redactor.clean("x: assert  f(rng_secret) == 7 !") == WITHHELD


def test_bwrap_command_line(tmp_path):
    spec = sandbox.SandboxSpec(runtime_dir=str(tmp_path), submission_dir=str(tmp_path),
                               work_name="ps1", limits=sandbox.Limits(),
                               ro_overlays=[(str(tmp_path), "/opt/x/rnn_lib")])
    command = sandbox.bwrap_command("/usr/bin/bwrap", spec, ["python", "-m", "grader.kernel"])
    text = " ".join(command)
    for option in ("--unshare-net", "--unshare-ipc", "--unshare-uts", "--die-with-parent",
                   "--clearenv", "--cap-drop ALL", f"--bind {tmp_path} {sandbox.RUNTIME_MOUNT}",
                   f"--ro-bind {tmp_path} {sandbox.SUBMISSION_MOUNT}",
                   f"--ro-bind {tmp_path} /opt/x/rnn_lib"):
        assert option in text, option
    # Its own pid namespace: /proc inside shows no host process (issue 8).
    assert "--unshare-pid" in command and "--unshare-all" not in command
    assert "JPY_PARENT_PID" not in text
    env = dict(zip(command[1::1], command[2::1], strict=False))
    assert "--setenv" in env
    assert ("--cap-add" in command) == sandbox.is_root()
    assert ("--unshare-user" in command) != sandbox.is_root()
    assert command[-3:] == ["python", "-m", "grader.kernel"]


def test_limits_validate_their_arguments():
    with pytest.raises(ValueError, match="Limits.memory_mb: expected a positive integer"):
        sandbox.Limits(memory_mb=0)


def test_declarations_are_read_from_the_decorators(tmp_path):
    tree = ast.parse('''from grader.declare import kernel_side, verdict
import grader.declare as declare


@kernel_side
class Case:
    pass


@declare.kernel_side
def make():
    return [Case()]


@verdict(cases=make)
def check_a(cases, runs):
    pass


@verdict()
def check_b(runs):
    pass


@verdict(runs_at=0)
def check_c(runs, table):
    pass


def oracle():
    pass
''')
    kernel, verdicts = tripwire.declarations(tree, "m")
    assert kernel == {"Case", "make"}
    assert verdicts == {"check_a": "make", "check_b": None, "check_c": {"runs": 0}}


@pytest.mark.parametrize(("source", "message"), [
    ("__kernel__ = ('f',)\ndef f():\n    pass\n", "no longer read"),
    ("from grader.declare import verdict\n@verdict(cases=nowhere)\ndef check(c, r):\n    pass\n",
     "does not define"),
    ("from grader.declare import kernel_side, verdict\n@kernel_side\n@verdict()\n"
     "def check(r):\n    pass\n", "cannot be both"),
])
def test_bad_declarations_are_course_errors(source, message):
    with pytest.raises(ValueError, match=message):
        tripwire.declarations(ast.parse(source), "m")


def test_the_decorators_change_nothing_at_run_time():
    from grader.declare import kernel_side, verdict

    def function(x):
        return x + 1

    assert kernel_side(function) is function
    assert verdict(cases=function)(function) is function
    with pytest.raises(TypeError, match="expected the function that makes the cases"):
        verdict(cases="function_cases")
