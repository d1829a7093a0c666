"""Comparison of two plain values (as decoded by :mod:`grader.payload`).

Used by the trusted grader to compare a student's recorded value with the
reference solution's, and by :func:`grader.checks.record` in plain mode for
visible tests. Messages describe what differs (type, length, shape, dtype, size
of the error) and never print the expected values themselves.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from grader.payload import Opaque, Record

DEFAULT_RTOL = 1e-7
DEFAULT_ATOL = 1e-10


def _kind(value: Any) -> str:
    if isinstance(value, Opaque):
        return f"an object of type {value.type_name}"
    if isinstance(value, Record):
        return f"a {value.type_name} record"
    if isinstance(value, np.ndarray):
        return f"a numpy array of shape {value.shape}"
    return f"a {type(value).__name__}"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _compare_arrays(got: np.ndarray, want: np.ndarray, rtol: float, atol: float,
                    where: str) -> str | None:
    if got.shape != want.shape:
        return f"{where}: shape {got.shape}, expected {want.shape}"
    if want.dtype.kind in "fc" and got.dtype != want.dtype:
        return f"{where}: dtype {got.dtype}, expected {want.dtype}"
    if want.dtype.kind in "biu" and got.dtype.kind not in "biu":
        return f"{where}: dtype {got.dtype}, expected integers ({want.dtype})"
    if want.dtype.kind in "biu":
        wrong = int(np.count_nonzero(got != want))
        return f"{where}: {wrong} of {want.size} entries differ" if wrong else None
    got64 = got.astype(np.complex128 if want.dtype.kind == "c" else np.float64)
    want64 = want.astype(got64.dtype)
    bad_nan = np.isnan(got64) & ~np.isnan(want64)
    if np.any(bad_nan):
        return f"{where}: contains NaN where a number is expected"
    bad_inf = np.isinf(got64) & ~np.isinf(want64)
    if np.any(bad_inf):
        return f"{where}: contains inf where a finite number is expected"
    both_special = (np.isnan(got64) & np.isnan(want64)) | (np.isinf(want64) & (got64 == want64))
    with np.errstate(invalid="ignore", over="ignore"):
        error = np.where(both_special, 0.0, np.abs(got64 - want64))
        bound = atol + rtol * np.where(np.isfinite(want64), np.abs(want64), 0.0)
    wrong = error > bound
    if np.any(wrong):
        return (f"{where}: {int(np.count_nonzero(wrong))} of {want.size} entries differ "
                f"(largest absolute error {float(np.max(error)):.3g})")
    return None


def _compare_numbers(got: Any, want: Any, rtol: float, atol: float, where: str) -> str | None:
    if isinstance(got, np.ndarray) and got.size == 1 and got.dtype.kind in "biuf":
        got = got.reshape(()).item()
    if not _is_number(got):
        return f"{where}: expected a number, got {_kind(got)}"
    if isinstance(want, int) and isinstance(got, int):
        return None if got == want else f"{where}: wrong value"
    got_f, want_f = float(got), float(want)
    if math.isnan(want_f):
        return None if math.isnan(got_f) else f"{where}: expected NaN"
    if math.isnan(got_f):
        return f"{where}: is NaN where a number is expected"
    if math.isinf(want_f) or math.isinf(got_f):
        return None if got_f == want_f else f"{where}: wrong value (infinite)"
    error = abs(got_f - want_f)
    if error > atol + rtol * abs(want_f):
        return f"{where}: wrong value (absolute error {error:.3g})"
    return None


def compare(got: Any, want: Any, *, rtol: float = DEFAULT_RTOL, atol: float = DEFAULT_ATOL,
            where: str = "result") -> str | None:
    """The first difference between ``got`` and ``want`` as a message, or None.

    An :class:`Opaque` expected value accepts anything (the reference returned
    something that cannot be compared, e.g. a cache object).
    """
    if isinstance(want, Opaque):
        return None
    if isinstance(want, np.ndarray):
        if not isinstance(got, np.ndarray):
            return f"{where}: expected a numpy array, got {_kind(got)}"
        return _compare_arrays(got, want, rtol, atol, where)
    if isinstance(want, bool):
        if not isinstance(got, bool):
            return f"{where}: expected True or False, got {_kind(got)}"
        return None if got == want else f"{where}: wrong truth value"
    if _is_number(want):
        return _compare_numbers(got, want, rtol, atol, where)
    if want is None or isinstance(want, str):
        if type(got) is not type(want):
            return f"{where}: expected {_kind(want)}, got {_kind(got)}"
        return None if got == want else f"{where}: wrong value"
    if isinstance(want, list | tuple):
        if type(got) is not type(want):
            return f"{where}: expected a {type(want).__name__}, got {_kind(got)}"
        if len(got) != len(want):
            return f"{where}: length {len(got)}, expected {len(want)}"
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            problem = compare(g, w, rtol=rtol, atol=atol, where=f"{where}[{i}]")
            if problem:
                return problem
        return None
    if isinstance(want, dict):
        if not isinstance(got, dict):
            return f"{where}: expected a dict, got {_kind(got)}"
        missing = [k for k in want if k not in got]
        if missing:
            return f"{where}: missing keys {sorted(map(repr, missing))}"
        extra = [k for k in got if k not in want]
        if extra:
            return f"{where}: unexpected keys {sorted(map(repr, extra))}"
        for key in want:
            problem = compare(got[key], want[key], rtol=rtol, atol=atol, where=f"{where}[{key!r}]")
            if problem:
                return problem
        return None
    if isinstance(want, Record):
        if not isinstance(got, Record):
            return f"{where}: expected {_kind(want)}, got {_kind(got)}"
        return compare(got.fields(), want.fields(), rtol=rtol, atol=atol, where=where)
    return f"{where}: cannot compare values of type {type(want).__name__}"
