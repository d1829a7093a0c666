"""Machinery shared by the hidden tests of every problem set.

A hidden test cell has three separable steps::

    cases = psN.some_function_cases()                      # (a) seeded inputs
    runs = run_cases(some_function, cases, FORBIDDEN)      # (b) the student's outputs
    psN.check_some_function(cases, runs)                   # (c) comparison with the oracle

(a) is pure data (numpy arrays built from fixed seeds), (b) is the only step that
executes student code, and (c) looks only at the :class:`StudentRun` records
that (b) produced, whose values are plain data (numbers, strings, numpy arrays,
and lists, tuples and dicts of them; see :func:`is_plain`): step (b) reduces
what the student returns to that (a cache is dropped, a class becomes a flag).
A grader that distrusts the notebook kernel can therefore serialise the runs
(:meth:`StudentRun.as_dict`) and perform (c) in a separate process, rebuilding
the cases of step (a) there from their seeds.

Step (b) also records whether the student's code entered the reference
implementation in ``rnn_lib`` of the function being graded (traced with
``sys.setprofile``): calling the reference is not an implementation.
"""

from __future__ import annotations

import copy
import math
import sys
import types
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from grader.declare import kernel_side

__all__ = [
    "Case",
    "GradingFailure",
    "StudentRun",
    "WrongReturn",
    "array_problem",
    "call_student",
    "error_problem",
    "forbidden_codes",
    "is_plain",
    "leading_outputs",
    "partial_credit",
    "reference_problem",
    "require",
    "run_cases",
    "scalar_problem",
    "tuple_of",
]


@kernel_side
class GradingFailure(AssertionError):
    """A hidden test found a wrong answer; the message says what, never how to fix it."""


@kernel_side
@dataclass(frozen=True)
class Case:
    """One seeded input for a graded function: a label for messages and the arguments."""

    label: str
    args: tuple
    kwargs: dict = field(default_factory=dict)  # passed to the student's function
    meta: dict = field(default_factory=dict)  # for the checks only (e.g. the dtype expected)


@kernel_side
@dataclass
class StudentRun:
    """What one call of student code produced: the value, or the error it raised.

    ``reference_calls`` lists the forbidden ``rnn_lib`` functions that were
    entered during the call (empty for an honest implementation).
    """

    label: str
    value: Any = None
    error: str | None = None
    reference_calls: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        """Plain data (for serialising step (b)'s results to a separate checker)."""
        return {"label": self.label, "value": self.value, "error": self.error,
                "reference_calls": list(self.reference_calls)}

    @classmethod
    def from_dict(cls, data: dict) -> StudentRun:
        return cls(data["label"], data["value"], data["error"], tuple(data["reference_calls"]))


# --------------------------------------------------------------------------- (b) running


def _nested_codes(code: types.CodeType) -> Iterable[types.CodeType]:
    """``code`` and every code object defined inside it (closures, comprehensions)."""
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _nested_codes(const)


def _functions_of(obj: Any) -> Iterable[Callable]:
    """Plain functions behind a function, method, property or class."""
    if isinstance(obj, staticmethod | classmethod):
        yield obj.__func__
    elif isinstance(obj, property):
        yield from (f for f in (obj.fget, obj.fset, obj.fdel) if f is not None)
    elif isinstance(obj, type):
        for member in vars(obj).values():
            yield from _functions_of(member)
    elif isinstance(obj, types.FunctionType):
        yield obj
    elif isinstance(obj, types.MethodType):
        yield obj.__func__


@kernel_side
def forbidden_codes(*objects: Any) -> dict[types.CodeType, str]:
    """Map every code object of the given reference functions/classes to a readable name."""
    codes: dict[types.CodeType, str] = {}
    for obj in objects:
        for function in _functions_of(obj):
            name = f"{function.__module__}.{function.__qualname__}"
            for code in _nested_codes(function.__code__):
                codes[code] = name
    return codes


def _defensive_copy(value: Any) -> Any:
    """A deep copy, so a student function that edits its inputs cannot spoil the oracle."""
    try:
        return copy.deepcopy(value)
    except Exception:  # noqa: BLE001 - uncopyable objects (e.g. models) are passed as they are
        return value


@kernel_side
def call_student(
    function: Callable,
    *args: Any,
    forbidden: dict[types.CodeType, str] | None = None,
    label: str = "",
    project: Callable[[Any], Any] | None = None,
    **kwargs: Any,
) -> StudentRun:
    """Call student code on copies of the arguments and record what happened.

    Warnings are silenced during the call (a numpy overflow warning on stderr
    would otherwise zero the test cell), exceptions are captured as text, and
    with ``forbidden`` every Python function entered is compared against the
    reference implementations that must not be called. ``project`` reduces the
    returned value to the plain data that step (c) judges (e.g. drops a cache);
    it raises :class:`WrongReturn` when the value has the wrong form.
    """
    forbidden = forbidden or {}
    entered: list[str] = []

    def profiler(frame, event, arg):  # noqa: ARG001 - signature fixed by sys.setprofile
        if event == "call":
            name = forbidden.get(frame.f_code)
            if name is not None and name not in entered:
                entered.append(name)

    args = tuple(_defensive_copy(a) for a in args)
    kwargs = {k: _defensive_copy(v) for k, v in kwargs.items()}
    previous = sys.getprofile()
    run = StudentRun(label=label)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        if forbidden:
            sys.setprofile(profiler)
        try:
            value = function(*args, **kwargs)
            run.value = value if project is None else project(value)
        except WrongReturn as error:
            run.error = f"returned {error}"
        except Exception as error:  # noqa: BLE001 - any student error is a wrong answer
            run.error = f"raised {type(error).__name__}: {error}"
        finally:
            sys.setprofile(previous)
    run.reference_calls = tuple(entered)
    return run


@kernel_side
def run_cases(
    function: Callable,
    cases: Sequence[Case],
    forbidden: dict[types.CodeType, str] | None = None,
    project: Callable[[Any], Any] | None = None,
) -> list[StudentRun]:
    """Step (b) for a list of cases: one :class:`StudentRun` per case."""
    return [
        call_student(function, *case.args, forbidden=forbidden, label=case.label,
                     project=project, **case.kwargs)
        for case in cases
    ]


@kernel_side
class WrongReturn(Exception):
    """Raised by a projection when the student's function returned the wrong kind of value."""


@kernel_side
def leading_outputs(count: int, names: str) -> Callable[[Any], Any]:
    """Projection for functions returning ``(*outputs, cache)``: keep the outputs.

    ``names`` describes the expected tuple for the message, e.g. ``"(H, cache)"``.
    One output is returned as it is, several as a tuple.
    """
    def project(value):
        if not isinstance(value, tuple) or len(value) != count + 1:
            got = (f"a tuple of {len(value)} items" if isinstance(value, tuple)
                   else f"a {type(value).__name__}")
            raise WrongReturn(f"{got}, expected {names}")
        return value[0] if count == 1 else tuple(value[:count])
    return project


@kernel_side
def tuple_of(count: int, names: str) -> Callable[[Any], Any]:
    """Projection checking that a ``count``-tuple was returned (e.g. the gradients)."""
    def project(value):
        if not isinstance(value, tuple) or len(value) != count:
            got = (f"a tuple of {len(value)} items" if isinstance(value, tuple)
                   else f"a {type(value).__name__}")
            raise WrongReturn(f"{got}, expected {names}")
        return value
    return project


@kernel_side
def is_plain(value: Any) -> bool:
    """True for the data step (c) accepts: numbers, str, bool, None, numpy arrays and scalars,
    and lists, tuples and str-keyed dicts of them."""
    if value is None or isinstance(value, bool | int | float | str | np.ndarray | np.generic):
        return not isinstance(value, np.ndarray) or value.dtype != object
    if isinstance(value, list | tuple):
        return all(is_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and is_plain(v) for k, v in value.items())
    return False


# --------------------------------------------------------------------------- (c) comparing


def reference_problem(name: str, runs: Sequence[StudentRun]) -> str | None:
    """A message if any run entered a forbidden reference implementation."""
    entered = sorted({ref for run in runs for ref in run.reference_calls})
    if entered:
        return (
            f"{name} calls the reference implementation ({', '.join(entered)}) "
            f"instead of computing the result itself"
        )
    return None


def array_problem(
    what: str,
    got: Any,
    expected: np.ndarray,
    *,
    rtol: float = 1e-6,
    atol: float = 1e-9,
    dtype: Any = None,
) -> str | None:
    """Compare a returned array with the oracle's; ``None`` when they agree.

    The message gives the shapes or the size of the error, never the expected
    values, so feedback points at the bug without handing out the answer.
    """
    expected = np.asarray(expected)
    if not isinstance(got, np.ndarray):
        return f"{what}: expected a numpy array, got {type(got).__name__}"
    if got.shape != expected.shape:
        return f"{what}: expected shape {expected.shape}, got {got.shape}"
    if dtype is not None and got.dtype != np.dtype(dtype):
        return f"{what}: expected dtype {np.dtype(dtype)}, got {got.dtype}"
    if not np.issubdtype(got.dtype, np.number):
        return f"{what}: expected numbers, got dtype {got.dtype}"
    if not np.all(np.isfinite(got)):
        return f"{what}: contains NaN or inf"
    diff = np.abs(got.astype(np.float64) - expected.astype(np.float64))
    bound = atol + rtol * np.abs(expected.astype(np.float64))
    if np.any(diff > bound):
        return f"{what}: differs from the correct result (largest absolute error {diff.max():.3g})"
    return None


def scalar_problem(what: str, got: Any, expected: float, *, rtol: float = 1e-6,
                   atol: float = 1e-9) -> str | None:
    """Compare a returned real number with the oracle's; ``None`` when they agree."""
    if isinstance(got, np.ndarray) and got.size == 1:
        got = got.reshape(())[()]
    if isinstance(got, bool) or not isinstance(got, int | float | np.integer | np.floating):
        return f"{what}: expected a real number, got {type(got).__name__}"
    got = float(got)
    if not math.isfinite(got):
        return f"{what}: is NaN or inf"
    if abs(got - expected) > atol + rtol * abs(expected):
        return f"{what}: differs from the correct value (absolute error {abs(got - expected):.3g})"
    return None


def error_problem(name: str, run: StudentRun) -> str | None:
    """A message if the student's call raised, or returned the wrong kind of value."""
    if run.error is not None:
        return f"{name} [{run.label}] {run.error}"
    return None


def require(problems: Iterable[str | None]) -> None:
    """Raise one :class:`GradingFailure` listing every problem found (ignoring ``None``)."""
    __tracebackhide__ = True  # IPython: keep this frame out of the student's traceback
    found = [p for p in problems if p]
    if found:
        raise GradingFailure("\n".join(found))


def partial_credit(points: float, parts: dict[str, Sequence[str | None]],
                   gate: str | None = None) -> float:
    """Report each independent part and return the points earned.

    ``parts`` maps a part's name to the problems found for it; a part with no
    problems earns an equal share of ``points``. A ``gate`` problem (e.g. the
    reference implementation was called) earns nothing at all. The returned
    number, as the value of the test cell, is nbgrader's partial credit.
    """
    if gate:
        print(f"0 of {len(parts)} parts credited: {gate}")
        return 0.0
    passed = 0
    for name, problems in parts.items():
        found = [p for p in problems if p]
        if found:
            print(f"[fail] {name}: " + "; ".join(found))
        else:
            passed += 1
            print(f"[ok]   {name}")
    return round(points * passed / len(parts), 4)
