"""State machines: the model of computation that recurrent networks generalise.

A state machine is the tuple (S, X, Y, s_0, f_s, f_o): states, inputs, outputs,
an initial state, a transition function ``s_t = f_s(s_{t-1}, x_t)`` and an
output function ``y_t = f_o(s_t)``. Running it over an input sequence (the
*transduction*) yields one output per input.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from rnn_lib._checks import as_float_array, check_shape


class StateMachine:
    """A state machine given by its transition and output functions.

    Args:
        transition: ``f_s(state, x) -> next_state``.
        output: ``f_o(state) -> y``.
        initial_state: ``s_0``.
    """

    def __init__(self, transition: Callable[[Any, Any], Any], output: Callable[[Any], Any],
                 initial_state: Any):
        if not callable(transition):
            raise TypeError(f"transition: expected a callable f_s(s, x), got {type(transition).__name__}")
        if not callable(output):
            raise TypeError(f"output: expected a callable f_o(s), got {type(output).__name__}")
        self.transition = transition
        self.output = output
        self.initial_state = initial_state

    def states(self, inputs: Iterable[Any]) -> list:
        """Return the visited states ``[s_1, ..., s_T]`` (``s_0`` excluded)."""
        state, visited = self.initial_state, []
        for x in inputs:
            state = self.transition(state, x)
            visited.append(state)
        return visited

    def transduce(self, inputs: Iterable[Any]) -> list:
        """Map inputs ``[x_1, ..., x_T]`` to outputs ``[y_1, ..., y_T]``, ``y_t = f_o(s_t)``."""
        return [self.output(s) for s in self.states(inputs)]


def parity_machine() -> StateMachine:
    """The two-state machine that tracks whether it has seen an even number of zeros.

    States are ``"even"`` and ``"odd"`` (the parity of the count of zeros so
    far), inputs are ``0`` or ``1`` and the output is ``1`` after every prefix
    with an even number of zeros, else ``0``. The empty prefix has zero zeros,
    so ``s_0 = "even"``.
    """

    def transition(state: str, x: int) -> str:
        if x not in (0, 1):
            raise ValueError(f"x: expected an input of 0 or 1, got {x!r}")
        if x == 1:
            return state
        return "odd" if state == "even" else "even"

    def output(state: str) -> int:
        return int(state == "even")

    return StateMachine(transition, output, "even")


class LTISystem(StateMachine):
    """A linear time-invariant system as a state machine over vectors.

    ``s_t = A s_{t-1} + B x_t`` and ``y_t = C s_t``, with ``A (k, k)``,
    ``B (k, l)``, ``C (m, k)``, ``s0 (k,)``. Inputs are vectors of shape
    ``(l,)`` (a plain number is accepted when ``l = 1``); outputs are arrays of
    shape ``(m,)``.
    """

    def __init__(self, A: np.ndarray, B: np.ndarray, C: np.ndarray, s0: np.ndarray):
        A = as_float_array("A", np.asarray(A, dtype=float), ndim=2)
        k = A.shape[0]
        check_shape("A", A, (k, k))
        B = as_float_array("B", np.asarray(B, dtype=float), ndim=2)
        check_shape("B", B, (k, None))
        C = as_float_array("C", np.asarray(C, dtype=float), ndim=2)
        check_shape("C", C, (None, k))
        s0 = as_float_array("s0", np.asarray(s0, dtype=float), ndim=1)
        check_shape("s0", s0, (k,))
        self.A, self.B, self.C = A, B, C
        super().__init__(self._step, self._read, s0)

    def _step(self, s: np.ndarray, x) -> np.ndarray:
        x = np.atleast_1d(np.asarray(x, dtype=float))
        if x.shape != (self.B.shape[1],):
            raise ValueError(f"x: expected an input of shape ({self.B.shape[1]},), got {x.shape}")
        return self.A @ s + self.B @ x

    def _read(self, s: np.ndarray) -> np.ndarray:
        return self.C @ s
