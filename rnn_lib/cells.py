"""One interface for the three recurrent cells, so that layers can be stacked and reversed.

The tanh RNN (``rnn``), the GRU (``gru``) and the LSTM (``lstm``) differ in their
parameters and in their state (the LSTM carries ``(H, C)``, the others ``H``
alone), but a layer that runs any of them over a sequence, forwards or in
reverse, needs only::

    state_t, cache_t = step_forward(X_t, state_{t-1}, params)
    dX_t, dstate_{t-1}, dparams_t = step_backward(dstate_t, cache_t)

where a *state* is a tuple of ``(n, h)`` arrays whose first entry is the hidden
state ``H_t``. The steps are the course's own cells (:mod:`rnn_lib.rnn`,
:mod:`rnn_lib.gru`, :mod:`rnn_lib.lstm`), wrapped, not re-implemented.

Parameters per cell, in the layouts of those modules (``d`` inputs, ``h`` units)::

    rnn   (W_xh (d, h),  W_hh (h, h),  b_h (h,))
    gru   (W_x (d, 3h),  W_h (h, 3h),  b_x (3h,), b_h (3h,))      gates r, z, n
    lstm  (W_x (d, 4h),  W_h (h, 4h),  b (4h,))                  gates i, f, g, o
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from rnn_lib._checks import as_float_array, check_cache, check_positive_int, check_shape
from rnn_lib.gru import gru_step_backward, gru_step_forward
from rnn_lib.lstm import lstm_step_backward, lstm_step_forward
from rnn_lib.rnn import rnn_step_backward, rnn_step_forward


@dataclass(frozen=True)
class Cell:
    """A recurrent cell seen through the uniform step interface of this module."""

    name: str
    blocks: int  # affine maps stacked column-wise in the input weights: 1, 3 or 4
    param_names: tuple[str, ...]
    state_names: tuple[str, ...]  # ("H",) or ("H", "C")
    step_forward: Callable  # (X_t, state, params) -> (state, cache)
    step_backward: Callable  # (dstate, cache) -> (dX_t, dstate_prev, dparams)

    def param_shapes(self, d: int, h: int) -> list[tuple[int, ...]]:
        """Shapes of this cell's parameters for ``d`` inputs and ``h`` units."""
        g = self.blocks * h
        return [(d, g), (h, g)] + [(g,)] * (len(self.param_names) - 2)


def _single_state(step_forward: Callable, step_backward: Callable) -> tuple[Callable, Callable]:
    """Wrap a cell whose state is ``H`` alone (RNN, GRU) in the tuple-state interface."""

    def forward(X, state, params):
        H, cache = step_forward(X, state[0], *params)
        return (H,), cache

    def backward(dstate, cache):
        dX, dH_prev, *dparams = step_backward(dstate[0], cache)
        return dX, (dH_prev,), tuple(dparams)

    return forward, backward


def _lstm_forward(X, state, params):
    H, C, cache = lstm_step_forward(X, state[0], state[1], *params)
    return (H, C), cache


def _lstm_backward(dstate, cache):
    dX, dH_prev, dC_prev, *dparams = lstm_step_backward(dstate[0], dstate[1], cache)
    return dX, (dH_prev, dC_prev), tuple(dparams)


CELLS = {
    "rnn": Cell("rnn", 1, ("W_xh", "W_hh", "b_h"), ("H",),
                *_single_state(rnn_step_forward, rnn_step_backward)),
    "gru": Cell("gru", 3, ("W_x", "W_h", "b_x", "b_h"), ("H",),
                *_single_state(gru_step_forward, gru_step_backward)),
    "lstm": Cell("lstm", 4, ("W_x", "W_h", "b"), ("H", "C"), _lstm_forward, _lstm_backward),
}


def get_cell(cell) -> Cell:
    """The :class:`Cell` called ``cell`` (``"rnn"``, ``"gru"`` or ``"lstm"``), or ``cell`` itself."""
    if isinstance(cell, Cell):
        return cell
    if cell not in CELLS:
        raise ValueError(f"cell: expected one of {tuple(CELLS)}, got {cell!r}")
    return CELLS[cell]


def as_state(cell: Cell, name: str, state, shape: tuple) -> tuple:
    """Check a user-facing state and return it as a tuple of arrays.

    ``state`` is ``H0`` for the RNN and the GRU and the pair ``(H0, C0)`` for
    the LSTM, as in torch; every array must have ``shape`` (``None`` entries
    match any size), e.g. torch's ``(num_layers * num_directions, n, h)``.
    """
    if len(cell.state_names) == 1:
        parts = (state,)
    elif isinstance(state, tuple | list) and len(state) == 2:
        parts = tuple(state)
    else:
        raise TypeError(f"{name}: expected a pair (H0, C0) for the lstm cell, got {type(state).__name__}")
    arrays = tuple(as_float_array(f"{name} ({label})", part, ndim=len(shape))
                   for label, part in zip(cell.state_names, parts, strict=True))
    for label, part in zip(cell.state_names, arrays, strict=True):
        check_shape(f"{name} ({label})", part, shape)
        check_shape(f"{name} ({label})", part, arrays[0].shape)
    return arrays


def as_sequence(X) -> np.ndarray:
    """Check an input sequence: a floating ``(T, n, d)`` array with ``T >= 1``."""
    X = as_float_array("X", X, ndim=3)
    if X.shape[0] == 0:
        raise ValueError("X: expected at least one time step, got T = 0")
    return X


def from_state(cell: Cell, state: tuple):
    """Undo :func:`as_state`: ``H`` alone, or the pair ``(H, C)`` for the LSTM."""
    return state[0] if len(cell.state_names) == 1 else tuple(state)


def check_params(cell: Cell, name: str, params, d: int) -> int:
    """Check one layer's parameter tuple against ``d`` inputs and return ``h``."""
    if not isinstance(params, tuple | list) or len(params) != len(cell.param_names):
        got = (f"{len(params)} entries" if isinstance(params, tuple | list)
               else type(params).__name__)
        raise TypeError(f"{name}: expected a tuple of {len(cell.param_names)} arrays "
                        f"{cell.param_names} for the {cell.name} cell, got {got}")
    W_h = as_float_array(f"{name} {cell.param_names[1]}", params[1], ndim=2)
    h = W_h.shape[0]
    for label, value, shape in zip(cell.param_names, params, cell.param_shapes(d, h), strict=True):
        check_shape(f"{name} {label}", as_float_array(f"{name} {label}", value, ndim=len(shape)), shape)
    return h


def init_cell_params(cell, d: int, h: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Torch's default initialisation, every entry uniform in ``[-1/sqrt(h), 1/sqrt(h)]``.

    Returns the cell's parameter tuple (see the module docstring) in float64.
    """
    cell = get_cell(cell)
    d, h = check_positive_int("d", d), check_positive_int("h", h)
    bound = 1.0 / np.sqrt(h)
    return tuple(rng.uniform(-bound, bound, size=shape) for shape in cell.param_shapes(d, h))


@dataclass(frozen=True)
class LayerCache:
    """What :func:`layer_backward` needs from :func:`layer_forward`."""

    cell: Cell
    steps: tuple  # one step cache per time step, indexed by t (not by the order run)
    reverse: bool
    H: np.ndarray  # (T, n, h)


def scan_cell(cell: Cell, X: np.ndarray, state0: tuple, params, reverse: bool = False):
    """:func:`layer_forward` on already validated inputs, states as tuples."""
    T, n, _ = X.shape
    H = np.empty((T, n, state0[0].shape[-1]), dtype=X.dtype)
    steps = [None] * T
    state = state0
    for t in (range(T - 1, -1, -1) if reverse else range(T)):
        state, steps[t] = cell.step_forward(X[t], state, params)
        H[t] = state[0]
    return H, state, LayerCache(cell, tuple(steps), reverse, H)


def scan_cell_backward(dH: np.ndarray, cache: LayerCache, dstate_final: tuple | None = None):
    """:func:`layer_backward` on already validated inputs, states as tuples."""
    if dstate_final is None:
        dstate_final = tuple(np.zeros_like(dH[0]) for _ in cache.cell.state_names)
    dstate, dX, dparams = dstate_final, [None] * len(cache.steps), None
    for t in (range(len(dX)) if cache.reverse else range(len(dX) - 1, -1, -1)):
        dstate = (dstate[0] + dH[t], *dstate[1:])
        dX[t], dstate, dp = cache.cell.step_backward(dstate, cache.steps[t])
        dparams = dp if dparams is None else tuple(a + g for a, g in zip(dparams, dp, strict=True))
    return np.stack(dX), dstate, dparams


def layer_forward(X, state0, params, cell="rnn", reverse: bool = False):
    """Run one cell over a sequence, left to right or (``reverse``) right to left.

    Args:
        X: inputs, ``(T, n, d)``.
        state0: the initial state ``H0 (n, h)``, or the pair ``(H0, C0)`` for the LSTM.
        params: the cell's parameter tuple (see the module docstring).
        cell: ``"rnn"``, ``"gru"``, ``"lstm"`` or a :class:`Cell`.
        reverse: read ``X_T, ..., X_1``; ``H[t]`` is then the state after
            reading ``X_T .. X_t``, so ``H`` stays aligned with ``X``.

    Returns:
        ``H (T, n, h)``, the final state (after ``X_T``, or after ``X_1`` when
        ``reverse``; a pair for the LSTM) and a cache for :func:`layer_backward`.
    """
    cell = get_cell(cell)
    X = as_sequence(X)
    T, n, d = X.shape
    h = check_params(cell, "params", params, d)
    H, final, cache = scan_cell(cell, X, as_state(cell, "state0", state0, (n, h)), params, reverse)
    return H, from_state(cell, final), cache


def layer_backward(dH, cache: LayerCache, dstate_final=None):
    """Backpropagation through time for :func:`layer_forward`.

    Args:
        dH: upstream gradient of every state ``H[t]``, ``(T, n, h)``.
        cache: from :func:`layer_forward`.
        dstate_final: optional gradient of the final state, ``(n, h)`` (a pair
            for the LSTM), e.g. from a decoder that starts from it.

    Returns:
        ``dX (T, n, d)``, the gradient of ``state0`` (``(n, h)``, a pair for the
        LSTM) and the tuple of parameter gradients.
    """
    check_cache("cache", cache, LayerCache, "layer_forward")
    check_shape("dH", as_float_array("dH", dH, ndim=3), cache.H.shape)
    if dstate_final is not None:
        dstate_final = as_state(cache.cell, "dstate_final", dstate_final, cache.H.shape[1:])
    dX, dstate0, dparams = scan_cell_backward(dH, cache, dstate_final)
    return dX, from_state(cache.cell, dstate0), dparams
