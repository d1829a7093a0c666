"""The gated RNN of the MIT notes: a sigmoid gate mixes the old state with a candidate.

    G_t = sigmoid(X_t W_xg + H_{t-1} W_hg + b_g)                     (ch5-gate)
    Htilde_t = tanh(X_t W_xc + H_{t-1} W_hc + b_c)                   (ch5-candidate)
    H_t = (1 - G_t) * H_{t-1} + G_t * Htilde_t                       (ch5-gated-update)

The two affine maps are stacked column-wise, ``[gate | candidate]``:
``W_x = [W_xg | W_xc] (d, 2h)``, ``W_h = [W_hg | W_hc] (h, 2h)``,
``b = [b_g | b_c] (2h,)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rnn_lib._checks import as_float_array, check_cache, check_shape, check_stacked_step
from rnn_lib._sequence import scan_backward, scan_forward
from rnn_lib.activations import sigmoid


@dataclass(frozen=True)
class GatedStepCache:
    X: np.ndarray  # (n, d)
    H_prev: np.ndarray  # (n, h)
    W_x: np.ndarray  # (d, 2h)
    W_h: np.ndarray  # (h, 2h)
    G: np.ndarray  # (n, h) gate
    Htilde: np.ndarray  # (n, h) candidate


def gated_step_forward(X, H_prev, W_x, W_h, b):
    """One step of the gated RNN, eqs. (ch5-gate)-(ch5-gated-update).

    Args:
        X: ``(n, d)``; H_prev: ``(n, h)``; W_x: ``(d, 2h)``; W_h: ``(h, 2h)``;
        b: ``(2h,)``, columns ordered ``[gate | candidate]``.

    Returns:
        ``H (n, h)`` and a cache for :func:`gated_step_backward`.
    """
    h = check_stacked_step(X, H_prev, W_x, W_h, b, blocks=2)
    A = X @ W_x + H_prev @ W_h + b
    G = sigmoid(A[:, :h])
    Htilde = np.tanh(A[:, h:])
    H = H_prev + G * (Htilde - H_prev)  # = (1 - G) * H_prev + G * Htilde
    return H, GatedStepCache(X, H_prev, W_x, W_h, G, Htilde)


def gated_step_backward(dH, cache: GatedStepCache):
    """Gradients of one gated step.

    Returns:
        ``dX (n, d)``, ``dH_prev (n, h)``, ``dW_x (d, 2h)``, ``dW_h (h, 2h)``,
        ``db (2h,)``.
    """
    check_cache("cache", cache, GatedStepCache, "gated_step_forward")
    G, Htilde, H_prev = cache.G, cache.Htilde, cache.H_prev
    check_shape("dH", as_float_array("dH", dH, ndim=2), G.shape)
    dA_gate = dH * (Htilde - H_prev) * G * (1.0 - G)
    dA_cand = dH * G * (1.0 - Htilde**2)
    dA = np.concatenate([dA_gate, dA_cand], axis=1)
    dX = dA @ cache.W_x.T
    # H_prev reaches H directly through (1 - G) and through both affine maps.
    dH_prev = dH * (1.0 - G) + dA @ cache.W_h.T
    return dX, dH_prev, cache.X.T @ dA, H_prev.T @ dA, dA.sum(axis=0)


def gated_forward(X, H0, W_x, W_h, b):
    """The gated RNN over a sequence: ``X (T, n, d)``, ``H0 (n, h)`` -> ``H (T, n, h)``."""
    return scan_forward(gated_step_forward, "gated_forward", X, H0, W_x, W_h, b)


def gated_backward(dH, cache):
    """BPTT for :func:`gated_forward`; ``dH (T, n, h)``.

    Returns ``dX (T, n, d)``, ``dH0 (n, h)``, ``dW_x``, ``dW_h``, ``db``.
    """
    return scan_backward(gated_step_backward, dH, cache)
