"""Run a single-state step function over time, and back again.

The gated RNN and the GRU both map ``(X_t, H_{t-1}) -> H_t`` with a step
forward/backward pair; their sequence versions differ only in which pair they
loop over, so the loop lives here once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from rnn_lib._checks import as_float_array, check_shape


@dataclass(frozen=True)
class SequenceCache:
    """Per-step caches of a sequence forward pass."""

    steps: tuple  # one step cache per time step
    H: np.ndarray  # (T, n, h)
    producer: str  # name of the forward function, for error messages


def scan_forward(step: Callable, producer: str, X, H0, *params):
    """Apply ``step(X_t, H_prev, *params) -> (H_t, cache_t)`` for t = 1..T.

    Returns ``H (T, n, h)`` and a :class:`SequenceCache`.
    """
    X = as_float_array("X", X, ndim=3)
    if X.shape[0] == 0:
        raise ValueError("X: expected at least one time step, got T = 0")
    H0 = as_float_array("H0", H0, ndim=2)
    check_shape("H0", H0, (X.shape[1], None))
    H_prev, states, caches = H0, [], []
    for X_t in X:
        H_prev, cache = step(X_t, H_prev, *params)
        states.append(H_prev)
        caches.append(cache)
    H = np.stack(states)
    return H, SequenceCache(tuple(caches), H, producer)


def scan_backward(step_backward: Callable, dH, cache: SequenceCache):
    """Backpropagate through :func:`scan_forward`.

    ``step_backward(dH_t, cache_t) -> (dX_t, dH_prev, *dparams)``. The total
    gradient of ``H_t`` is ``dH[t]`` plus what flows back from step ``t + 1``;
    parameter gradients are summed over steps because every step shares them.

    Returns ``dX (T, n, d)``, ``dH0 (n, h)`` and the summed parameter gradients.
    """
    if not isinstance(cache, SequenceCache):
        raise TypeError(f"cache: expected the cache returned by a sequence forward, "
                        f"got {type(cache).__name__}")
    check_shape("dH", as_float_array("dH", dH, ndim=3), cache.H.shape)
    dXs = [None] * len(cache.steps)
    dparams = None
    dH_next = np.zeros_like(dH[0])
    for t in range(len(cache.steps) - 1, -1, -1):
        dX_t, dH_next, *dp = step_backward(dH[t] + dH_next, cache.steps[t])
        dXs[t] = dX_t
        dparams = dp if dparams is None else [acc + g for acc, g in zip(dparams, dp, strict=True)]
    return (np.stack(dXs), dH_next, *dparams)
