"""Composition checks for caches: what a forward keeps must feed a correct backward.

A forward returns ``(*outputs, cache)``. Its hidden test used to drop the
cache, so a forward whose cache held ``H`` in place of ``X`` (or never filled
its list of step caches) kept full marks and only broke the student's backward
later. Each forward's hidden test now keeps the cache too:

* step (b), in the kernel: :func:`outputs_and_cache` records the outputs and
  the cache reduced to plain data (:func:`plain_cache`: arrays, numbers,
  tuples and lists of them; anything else becomes a short description);
* step (c), trusted side: a backward written here, outside the kernel, reads
  the cache through the structure the problem set documents, and the
  gradients it gives are compared with PyTorch autograd of the forward in
  float64 (:func:`cache_problem`). Any mismatch is reported as "the cache is
  wrong", never as a backward bug.

Where the problem set also has the student's backward, its hidden test already
feeds the student's cache to the student's backward; :func:`backward_on_cache`
makes that check say so when the cache, not the backward, is to blame.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from course_checks.common import WrongReturn, array_problem
from grader.declare import kernel_side

# --------------------------------------------------------------------------- (b) kernel side


@kernel_side
def plain_cache(value: Any, depth: int = 0) -> Any:
    """The cache as plain data: arrays, numbers, strings, and tuples/lists of those.

    A ``range`` becomes a list, a dtype its name, a tuple/list keeps its kind;
    a dataclass instance (such as ``rnn_lib``'s step caches) becomes a dict of
    its fields; any other object becomes the string ``"<TypeName object>"``
    (step (c) then says the cache does not have the documented structure).
    """
    if depth > 8:
        return "<nested too deeply>"
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, np.ndarray):
        if value.dtype == object or not (np.issubdtype(value.dtype, np.number)
                                         or value.dtype == bool):
            return f"<array of dtype {value.dtype}>"
        return np.array(value)
    if isinstance(value, np.generic):
        return value.item() if not isinstance(value, np.number) else value
    if isinstance(value, np.dtype):
        return str(value)
    if isinstance(value, range):
        return list(value)
    if isinstance(value, tuple):
        return tuple(plain_cache(v, depth + 1) for v in value)
    if isinstance(value, list):
        return [plain_cache(v, depth + 1) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain_cache(getattr(value, f.name), depth + 1)
                for f in dataclasses.fields(value)}
    return f"<{type(value).__name__} object>"


@kernel_side
def outputs_and_cache(count: int, names: str) -> Callable[[Any], Any]:
    """Projection for ``(*outputs, cache)``: ``{"outputs": ..., "cache": plain cache}``.

    ``outputs`` is the single output itself when ``count == 1``, else a tuple.
    """
    def project(value):
        if not isinstance(value, tuple) or len(value) != count + 1:
            got = (f"a tuple of {len(value)} items" if isinstance(value, tuple)
                   else f"a {type(value).__name__}")
            raise WrongReturn(f"{got}, expected {names}")
        outputs = value[0] if count == 1 else tuple(value[:count])
        return {"outputs": outputs, "cache": plain_cache(value[-1])}
    return project


@kernel_side
def backward_through_cache(cache: Any, call: Callable[[Any], Any]) -> dict:
    """Run the student's backward on the student's cache: ``{"grads", "raised", "cache"}``.

    The cache is recorded (as plain data) before the backward runs, so that a
    backward that changes it in place cannot hide what the forward kept; an
    error of the backward is recorded next to it (``grads`` is then None), so
    that step (c) can say whether the cache was to blame.
    """
    kept = plain_cache(cache)
    try:
        return {"grads": call(cache), "raised": None, "cache": kept}
    except WrongReturn as error:
        return {"grads": None, "raised": f"returned {error}", "cache": kept}
    except Exception as error:  # noqa: BLE001 - any student error is a wrong answer
        return {"grads": None, "raised": f"raised {type(error).__name__}: {error}",
                "cache": kept}


# --------------------------------------------------------------------------- (c) trusted side


class CacheStructure(Exception):
    """The cache cannot be read through the documented structure (message says why)."""


def items(cache: Any, names: Sequence[str], what: str = "the cache") -> tuple:
    """``cache`` as a tuple of ``len(names)`` items, or :class:`CacheStructure`."""
    if not isinstance(cache, tuple | list) or len(cache) != len(names):
        got = (f"a {type(cache).__name__} of {len(cache)} items"
               if isinstance(cache, tuple | list) else
               (cache if isinstance(cache, str) else f"a {type(cache).__name__}"))
        raise CacheStructure(f"{what} should be ({', '.join(names)}), got {got}")
    return tuple(cache)


def arrays(values: Sequence[Any], names: Sequence[str], shapes: Sequence[tuple],
           what: str = "the cache") -> tuple[np.ndarray, ...]:
    """Check that every item is a numeric array of the expected shape (float64 copies)."""
    where = "" if what == "the cache" else f"{what}: "
    for value, name, shape in zip(values, names, shapes, strict=True):
        if not isinstance(value, np.ndarray) or not np.issubdtype(value.dtype, np.number):
            raise CacheStructure(f"{where}{name} should be an array, got "
                                 f"{value if isinstance(value, str) else type(value).__name__}")
        if value.shape != tuple(shape):
            raise CacheStructure(f"{where}{name} should have shape {tuple(shape)}, "
                                 f"got {value.shape}")
    return tuple(np.asarray(v, np.float64) for v in values)


def cache_problem(name: str, label: str, cache: Any, backward: Callable,
                  upstream: Sequence[np.ndarray], expected: Sequence[np.ndarray],
                  grad_names: Sequence[str], structure: str, *, rtol: float = 1e-6,
                  atol: float = 1e-9) -> str | None:
    """Feed the student's cache to a correct backward; ``None`` when its gradients are right.

    ``backward(*upstream, cache)`` reads the cache through the documented
    ``structure`` (raising :class:`CacheStructure` when it cannot); its
    gradients are compared with ``expected`` (torch autograd of the forward).
    """
    head = "the cache is wrong"  # the part's name says which function and case
    try:
        with np.errstate(all="ignore"):
            grads = backward(*upstream, cache)
    except CacheStructure as error:
        return f"{head}: {error}"
    except Exception as error:  # noqa: BLE001 - a cache of the right form cannot make it raise
        return f"{head}: it cannot be read as {structure} ({type(error).__name__})"
    wrong = [grad for grad, got, want in zip(grad_names, grads, expected, strict=True)
             if array_problem(grad, np.asarray(got), want, rtol=rtol, atol=atol) is not None]
    if wrong:
        return (f"{head}: read as {structure} by a correct backward, it gives wrong "
                f"{', '.join(wrong)}")
    return None


def weighted_credit(points: float, groups: Sequence[tuple[float, dict[str, Sequence]]],
                    gate: str | None = None) -> float:
    """Like :func:`common.partial_credit` over groups of parts with their own weights.

    ``groups`` is ``[(weight, parts), ...]``; a group's weight is shared equally
    among its parts. Each part is reported as ``[ok]`` or ``[fail]``.
    """
    count = sum(len(parts) for _, parts in groups)
    if gate:
        print(f"0 of {count} parts credited: {gate}")
        return 0.0
    total = sum(weight for weight, parts in groups if parts)
    earned = 0.0
    for weight, parts in groups:
        for part, problems in parts.items():
            found = [p for p in problems if p]
            if found:
                print(f"[fail] {part}: " + "; ".join(found))
            else:
                earned += weight / len(parts)
                print(f"[ok]   {part}")
    return round(points * earned / total, 4) if total else 0.0


def raised_problem(name: str, label: str, raised: str, cache_wrong: str | None) -> str:
    """The message for a backward that raised on the student's own cache."""
    note = ("" if cache_wrong is None else
            " (on your forward's cache, which is wrong: fix the cache first)")
    return f"{name} [{label}] {raised}{note}"


def backward_on_cache(grads: Sequence[Any], expected: Sequence[np.ndarray],
                      cache_wrong: str | None, on_cache: Sequence[np.ndarray] | None,
                      problem_of: Callable[[str, Any, np.ndarray], str | None],
                      grad_names: Sequence[str]) -> list[str | None]:
    """Judge the student's backward fed the student's own cache, one problem per gradient.

    With a right cache the gradients must match ``expected`` (torch). With a
    wrong cache (``cache_wrong`` says why) a gradient also passes when it
    matches ``on_cache``, what a correct backward computes from that same
    cache: the backward is not charged for the forward's cache; the message of
    a failing gradient says the cache is wrong.
    """
    problems = []
    for grad, got, want, alt in zip(grad_names, grads, expected,
                                    on_cache if on_cache is not None else [None] * len(grad_names),
                                    strict=True):
        problem = problem_of(grad, got, want)
        if problem is not None and cache_wrong is not None:
            if alt is not None and problem_of(grad, got, alt) is None:
                problem = None
            else:
                problem = (f"{problem} (computed from your forward's cache, which is wrong: "
                           f"fix the cache first)")
        problems.append(problem)
    return problems
