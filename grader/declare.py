"""Where a course helper runs, declared on the helper itself.

A hidden test has three steps (see ``grader/README.md``): (a) seeded inputs and
(b) running the student's functions on them happen in the student's kernel;
(c) the comparison with the oracle happens in the trusted grading process. A
helper module of the course says which of its functions is which, next to each
function::

    from grader.declare import kernel_side, verdict

    @kernel_side
    def rnn_step_forward_cases(): ...            # (a)

    @kernel_side
    def run_rnn_step_forward(function, cases): ...   # (b)

    @verdict(cases=rnn_step_forward_cases)
    def check_rnn_step_forward(cases, runs, points=2): ...   # (c)

The decorators change nothing at run time (plain nbgrader runs every step in
the kernel, as written). :mod:`grader.tripwire` reads them from the module's
syntax tree to build the sandbox's copy: ``@kernel_side`` functions and classes
(and what they use) keep their code, a ``@verdict`` becomes a stub that records
the student's runs for the grading process, and everything else keeps only its
name. Because ``cases=`` names the function itself, a typo is a ``NameError``
when the module is imported, not a silently different sandbox.

``@verdict(cases=None)`` (or ``@verdict()``): the check needs no cases (its only
argument is the runs). ``@verdict(runs_at=i)``: the runs are the positional
argument ``i`` and the other positional arguments are plain data passed on
from the reference solution's run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def kernel_side(item: T) -> T:
    """Steps (a) and (b): this function or class runs in the student's kernel."""
    return item


def verdict(cases: Callable | None = None, *, runs_at: int | None = None) -> Callable[[T], T]:
    """Step (c): this function is judged outside the kernel (see the module docstring)."""
    if cases is not None and not callable(cases):
        raise TypeError(f"verdict(cases=...): expected the function that makes the cases, "
                        f"got {cases!r}")
    if runs_at is not None and (isinstance(runs_at, bool) or not isinstance(runs_at, int)
                                or runs_at < 0):
        raise TypeError(f"verdict(runs_at=...): expected a position (int >= 0), got {runs_at!r}")
    if cases is not None and runs_at is not None:
        raise TypeError("verdict: give cases= or runs_at=, not both")

    def declare(function: T) -> T:
        return function

    return declare
