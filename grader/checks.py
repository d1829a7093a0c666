"""The check API that test cells call: ``record(name, value, ...)``.

A check is a value computed by the student's code (step "run") plus a
judgement of it (step "verdict"). In a test cell::

    from grader.checks import record

    H, _ = rnn_step_forward(X, H_prev, W_xh, W_hh, b_h)         # student code runs
    record("rnn_step_forward on a 4x3 batch", H)                 # judged by the grader

or, with a trusted verdict function written by the instructor::

    runs = grading.run_cases(rnn_step_forward, grading.rnn_step_forward_cases())
    record("rnn_step_forward", runs, verdict="course_checks.ps2:verdict_rnn_step_forward",
           points=3)

The kernel is untrusted: student code can replace any function in it, this
module included. So under ``python -m grader autograde`` (mode ``"grade"``)
``record`` only serialises the value as plain data (:mod:`grader.payload`) and
publishes it; the verdict is computed *outside* the kernel, by the grading
process:

- without ``verdict``: the value must equal (within ``rtol``/``atol``, same
  types, shapes and dtypes) what the reference solution recorded under the same
  name in the same cell;
- with ``verdict="module:function"``: the instructor's function, imported in the
  grading process from the course's helper directory, is called as
  ``function(value, points, **options)`` on the decoded plain value and returns the points
  earned (``None`` means all of them; raising ``AssertionError`` means none, its
  message becomes the feedback).

Only the name and value recorded by the student's run are used: the verdict,
points and tolerances always come from the reference solution's run, so the
student cannot loosen them. A check the student's run never recorded scores 0.

In plain mode (nbgrader's own kernels, or a student running the notebook)
``record`` judges in the kernel, so the same notebooks work with plain
``nbgrader autograde`` and ``nbgrader validate``: with ``verdict`` it calls the
verdict function and returns the points earned (as the cell's last expression
that is nbgrader's partial credit); with ``expected=`` it compares and raises
``AssertionError`` on a mismatch; with neither it only checks that the value is
plain data.

Never pass ``expected=`` in a hidden test: in a student's kernel the expected
value could be intercepted and recorded in place of the student's answer. The
reference run refuses it.
"""

from __future__ import annotations

import builtins
import importlib
import json
import math
import sys
from typing import Any

from grader import payload as _payload

MIME_RECORD = "application/vnd.rnn-course.grader-record+json"
MIME_EVENT = "application/vnd.rnn-course.grader-event+json"
MAX_NAME = 200

_UNSET = object()
_state: dict[str, Any] = {"mode": "plain", "guard": {}, "reported": set()}

__all__ = ["record", "grading_mode", "ReferenceUnavailable"]


class ReferenceUnavailable(RuntimeError):
    """Raised by rnn_lib's reference of a function that is being graded (in the sandbox)."""


def reference_unavailable(label: str) -> None:
    """Body of every gutted reference function (see :mod:`grader.tripwire`)."""
    report_event("reference-call", label)
    raise ReferenceUnavailable(
        f"{label} is the reference implementation of something this assignment grades; "
        f"it is not available while grading. Use your own implementation.")


def grading_mode() -> str:
    """``"grade"`` inside a sandbox kernel started by the grader, else ``"plain"``."""
    return _state["mode"]


def _validate(name: Any, points: Any, verdict: Any, rtol: Any, atol: Any, options: Any) -> None:
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
        raise ValueError(f"record: name must be a non-empty string of at most {MAX_NAME} "
                         f"characters, got {name!r}")
    if isinstance(points, bool) or not isinstance(points, int | float) or not points > 0 \
            or not math.isfinite(points):
        raise ValueError(f"record: points must be a positive number, got {points!r}")
    if verdict is not None and (not isinstance(verdict, str) or verdict.count(":") != 1):
        raise ValueError(f"record: verdict must be 'module:function', got {verdict!r}")
    for label, tol in (("rtol", rtol), ("atol", atol)):
        if isinstance(tol, bool) or not isinstance(tol, int | float) or not tol >= 0:
            raise ValueError(f"record: {label} must be a non-negative number, got {tol!r}")
    if options is not None:
        if verdict is None:
            raise ValueError("record: options are passed to a verdict; give verdict= too")
        try:
            if not isinstance(options, dict) or not all(isinstance(k, str) for k in options):
                raise TypeError
            json.dumps(options, allow_nan=False)
        except (TypeError, ValueError):
            raise ValueError(f"record: options must be a JSON-able dict with string keys, "
                             f"got {options!r}") from None


def resolve_verdict(spec: str):
    """Import ``module:function`` (plain mode and the trusted grader)."""
    module_name, _, attribute = spec.partition(":")
    module = importlib.import_module(module_name)
    function = getattr(module, attribute, None)
    if not callable(function):
        raise ValueError(f"verdict {spec!r}: {module_name} has no function {attribute!r}")
    return function


def interpret_verdict(result: Any, points: float) -> float:
    """Points earned from a verdict's return value (None = all of them)."""
    if result is None:
        return float(points)
    if isinstance(result, bool) or not isinstance(result, int | float) or not math.isfinite(result):
        raise TypeError(f"a verdict must return None or a number of points, got {result!r}")
    if not 0 <= result <= points + 1e-9:
        raise ValueError(f"a verdict returned {result} points, outside [0, {points}]")
    return float(min(result, points))


def _publish(mime: str, document: dict) -> None:
    from IPython.display import publish_display_data

    publish_display_data({mime: json.dumps(document, allow_nan=False)})


def report_event(kind: str, detail: str) -> None:
    """Tell the grader about a suspicious event (best effort; the kernel is untrusted)."""
    if _state["mode"] != "grade":
        return
    key = (kind, detail)
    if key in _state["reported"]:
        return
    _state["reported"].add(key)
    try:
        _publish(MIME_EVENT, {"kind": str(kind)[:100], "detail": str(detail)[:500]})
    except Exception:  # noqa: BLE001 - reporting must never break the student's run
        pass


def record(name: str, value: Any, *, verdict: str | None = None, points: float = 1.0,
           rtol: float = 1e-7, atol: float = 1e-10, expected: Any = _UNSET,
           options: dict | None = None) -> float | None:
    """Record ``value`` as the result of the check ``name`` (see the module docstring).

    Args:
        name: the check's name, shown in feedback; unique within its cell.
        value: plain data computed by the student's code (arrays, numbers,
            strings, lists/tuples/dicts and dataclasses of those).
        verdict: ``"module:function"`` judging the value, or None to compare
            with the reference solution's value.
        points: weight of the check within its cell (the cell's points are
            shared among its checks in proportion to these weights).
        rtol, atol: tolerances of the comparison with the reference value.
        expected: plain mode only, for visible tests: the value to compare with.
        options: keyword arguments (JSON data) for the verdict, called as
            ``verdict(value, points, **options)``; like the verdict itself they
            are taken from the reference solution's run.

    Returns:
        Plain mode: the points earned (None when nothing was judged).
        Grade mode: None.
    """
    _validate(name, points, verdict, rtol, atol, options)
    if _state["mode"] == "grade":
        check_guard()
        document = {"name": name, "verdict": verdict, "points": float(points),
                    "rtol": float(rtol), "atol": float(atol), "options": options or {},
                    "has_expected": expected is not _UNSET,
                    "value": _payload.encode(value)}
        _publish(MIME_RECORD, document)
        return None
    plain_value = _payload.round_trip(value)
    if verdict is not None:
        result = resolve_verdict(verdict)(plain_value, float(points), **(options or {}))
        return interpret_verdict(result, points)
    if expected is not _UNSET:
        from grader.compare import compare

        problem = compare(plain_value, _payload.round_trip(expected), rtol=rtol, atol=atol,
                          where=name)
        if problem:
            raise AssertionError(problem)
        return None
    return None


# --------------------------------------------------------------------------- course helpers


def course_check(module: str, check: str, cases: str | None, args: tuple, kwargs: dict,
                 runs_at: int | None = None) -> None:
    """What a helper's step-(c) function does inside the sandbox: record, do not judge.

    The course's helper modules declare their comparison functions with
    ``@verdict`` (:mod:`grader.declare`); in the sandbox's copy each
    one is replaced by a call of this function. The student's runs from step
    (b) (the last positional argument, or the one at ``runs_at``) become the
    recorded value. With a ``cases`` function the other positional arguments
    (the cases of step (a)) are dropped, because the trusted side builds them
    again from their seeds; with ``runs_at`` they are kept as options. Keyword
    arguments become options too. Like every option they are taken from the
    reference solution's run, never from the student's.
    """
    if not args:
        raise TypeError(f"{module}.{check}: expected the student's runs as an argument")
    index = len(args) - 1 if runs_at is None else runs_at
    others = [a for i, a in enumerate(args) if i != index] if runs_at is not None else []
    record(check.removeprefix("check_"), args[index], verdict="grader.checks:run_course_check",
           points=float(kwargs.get("points", 1.0)),
           options={"module": module, "check": check, "cases": cases, "kwargs": dict(kwargs),
                    "runs_at": runs_at, "args": others})


def run_course_check(runs: Any, points: float, *, module: str, check: str, cases: str | None,
                     kwargs: dict, runs_at: int | None = None, args: list | None = None) -> Any:
    """Trusted side of :func:`course_check`: rebuild the cases, run the real comparison."""
    helpers = importlib.import_module(module)
    if runs_at is None:
        arguments = ([getattr(helpers, cases)()] if cases else []) + [runs]
    else:
        arguments = list(args or [])
        arguments.insert(runs_at, runs)
    options = dict(kwargs)
    if "points" in options:
        options["points"] = points
    return getattr(helpers, check)(*arguments, **options)


# --------------------------------------------------------------------------- guard (grade mode)

_GUARDED = {
    "numpy": ["allclose", "isclose", "array_equal", "array_equiv", "all", "any", "abs",
              "isfinite", "isnan", "asarray", "array"],
    "numpy.testing": ["assert_allclose", "assert_array_equal", "assert_array_almost_equal",
                      "assert_almost_equal", "assert_equal", "assert_array_less"],
    "math": ["isclose", "isfinite", "isnan"],
    "builtins": ["isinstance", "issubclass", "len", "abs", "all", "any", "float", "int", "bool",
                 "round", "max", "min", "sum", "type", "__import__", "getattr", "hasattr",
                 "AssertionError", "print", "open"],
    "json": ["dumps"],
}


def _lookup(module_name: str, attribute: str) -> Any:
    module = sys.modules.get(module_name)
    return getattr(module, attribute, None) if module is not None else None


def install_guard() -> None:
    """Snapshot the helpers tests rely on, before any student code runs (grader.kernel)."""
    import numpy  # noqa: F401 - imported so that its helpers can be snapshotted
    import numpy.testing  # noqa: F401

    _state["guard"] = {(m, a): _lookup(m, a) for m, names in _GUARDED.items() for a in names}
    _state["guard"][("grader.checks", "record")] = record


def _defined_in_notebook(function: Any) -> bool:
    code = getattr(function, "__code__", None)
    filename = getattr(code, "co_filename", "") or ""
    return "ipykernel_" in filename or filename.startswith("<ipython-input")


def check_guard() -> list[str]:
    """Names of guarded helpers that were replaced; each is reported once."""
    replaced = []
    for (module_name, attribute), original in _state["guard"].items():
        current = _lookup(module_name, attribute)
        if module_name == "grader.checks":
            current = getattr(sys.modules.get(__name__), attribute, None)
        if original is not None and current is not original:
            replaced.append(f"{module_name}.{attribute}")
    torch = sys.modules.get("torch")
    if torch is not None:
        for label, function in (("torch.allclose", getattr(torch, "allclose", None)),
                                ("torch.equal", getattr(torch, "equal", None)),
                                ("torch.testing.assert_close",
                                 getattr(getattr(torch, "testing", None), "assert_close", None))):
            if function is not None and _defined_in_notebook(function):
                replaced.append(label)
    if builtins.__dict__.get("__build_class__") is None:
        replaced.append("builtins.__build_class__")
    for label in replaced:
        report_event("patched-helper", label)
    return replaced


def configure(mode: str) -> None:
    """Set the mode (called by :mod:`grader.kernel` before the kernel starts)."""
    if mode not in ("grade", "plain"):
        raise ValueError(f"mode: expected 'grade' or 'plain', got {mode!r}")
    _state["mode"] = mode
    if mode == "grade":
        install_guard()


# --------------------------------------------------------------------------- test cells (grade mode)

TEST_CELL_FUNCTION = "__grader_cell__"


def neutral_call(grade_id: str) -> str:
    """The only source the kernel receives for a test cell: a call that names it."""
    return f"{TEST_CELL_FUNCTION}({grade_id!r})\n"


def _observe(index: int, operands: tuple, message: Any) -> None:
    """Kernel side of an instrumented ``assert``: publish the operands, judge nothing."""
    from grader.assertions import RECORD_PREFIX

    values = []
    for operand in operands:
        try:
            values.append(["ok", operand()])
        except Exception as error:  # noqa: BLE001 - recorded; the trusted side decides
            values.append(["raised", type(error).__name__[:100]])
    text = None
    if message is not None:
        try:
            text = str(message())[:1000]
        except Exception:  # noqa: BLE001 - a message that fails is simply not shown
            text = None
    _publish(MIME_RECORD, {"name": f"{RECORD_PREFIX}{int(index)}", "value": _payload.encode(values),
                           "message": text})


def _done() -> None:
    from grader.assertions import DONE_NAME

    _publish(MIME_RECORD, {"name": DONE_NAME, "value": _payload.encode(None)})


def install_test_cells(user_ns: dict, programs: dict[str, str]) -> None:
    """Compile the test cells' programs (before any student code runs) and expose the runner.

    The programs arrive from the grader in a file that the launcher deletes
    after reading; they are compiled here, so IPython's input transformers,
    AST transformers and history never see a test cell's source.
    """
    from grader.assertions import DONE, OBSERVE

    compiled = {grade_id: compile(source, f"<test cell {grade_id}>", "exec")
                for grade_id, source in programs.items()}
    run_code = exec

    def run_test_cell(grade_id: str) -> None:
        code = compiled[grade_id]
        user_ns[OBSERVE] = _observe
        user_ns[DONE] = _done
        run_code(code, user_ns)

    user_ns[TEST_CELL_FUNCTION] = run_test_cell
