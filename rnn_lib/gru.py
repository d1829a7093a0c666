"""The gated recurrent unit, with PyTorch's equations and gate order (r, z, n).

    R_t = sigmoid(X_t W_xr + b_xr + H_{t-1} W_hr + b_hr)             (ch5-gru-reset)
    Z_t = sigmoid(X_t W_xz + b_xz + H_{t-1} W_hz + b_hz)             (ch5-gru-update)
    N_t = tanh(X_t W_xn + b_xn + R_t * (H_{t-1} W_hn + b_hn))        (ch5-gru-candidate)
    H_t = (1 - Z_t) * N_t + Z_t * H_{t-1}                            (ch5-gru-state)

``W_x = [W_xr | W_xz | W_xn] (d, 3h)`` is ``torch.nn.GRU``'s
``weight_ih_l0.T`` and ``W_h (h, 3h)`` its ``weight_hh_l0.T``. The biases stay
separate (``b_x``, ``b_h``, each ``(3h,)``) because ``b_hn`` sits inside the
reset gate's product and so cannot be merged with ``b_xn``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rnn_lib._checks import as_float_array, check_cache, check_shape, check_stacked_step
from rnn_lib._sequence import scan_backward, scan_forward
from rnn_lib.activations import sigmoid


@dataclass(frozen=True)
class GRUStepCache:
    X: np.ndarray  # (n, d)
    H_prev: np.ndarray  # (n, h)
    W_x: np.ndarray  # (d, 3h)
    W_h: np.ndarray  # (h, 3h)
    R: np.ndarray  # (n, h)
    Z: np.ndarray  # (n, h)
    N: np.ndarray  # (n, h)
    Hn: np.ndarray  # (n, h): H_{t-1} W_hn + b_hn, the part the reset gate scales


def gru_step_forward(X, H_prev, W_x, W_h, b_x, b_h):
    """One GRU step, eqs. (ch5-gru-reset)-(ch5-gru-state).

    Args:
        X: ``(n, d)``; H_prev: ``(n, h)``; W_x: ``(d, 3h)``; W_h: ``(h, 3h)``;
        b_x, b_h: ``(3h,)``; columns in the order r, z, n.

    Returns:
        ``H (n, h)`` and a cache for :func:`gru_step_backward`.
    """
    h = check_stacked_step(X, H_prev, W_x, W_h, b_x, blocks=3, names=("W_x", "W_h", "b_x"))
    check_shape("b_h", as_float_array("b_h", b_h, ndim=1), (3 * h,))
    Ax = X @ W_x + b_x
    Ah = H_prev @ W_h + b_h
    R = sigmoid(Ax[:, :h] + Ah[:, :h])
    Z = sigmoid(Ax[:, h : 2 * h] + Ah[:, h : 2 * h])
    Hn = Ah[:, 2 * h :]
    N = np.tanh(Ax[:, 2 * h :] + R * Hn)
    H = N + Z * (H_prev - N)  # = (1 - Z) * N + Z * H_prev
    return H, GRUStepCache(X, H_prev, W_x, W_h, R, Z, N, Hn)


def gru_step_backward(dH, cache: GRUStepCache):
    """Gradients of one GRU step.

    Returns:
        ``dX (n, d)``, ``dH_prev (n, h)``, ``dW_x (d, 3h)``, ``dW_h (h, 3h)``,
        ``db_x (3h,)``, ``db_h (3h,)``.
    """
    check_cache("cache", cache, GRUStepCache, "gru_step_forward")
    R, Z, N, Hn, H_prev = cache.R, cache.Z, cache.N, cache.Hn, cache.H_prev
    check_shape("dH", as_float_array("dH", dH, ndim=2), Z.shape)
    dAn = dH * (1.0 - Z) * (1.0 - N**2)  # pre-activation of the candidate
    dAz = dH * (H_prev - N) * Z * (1.0 - Z)
    dAr = dAn * Hn * R * (1.0 - R)
    dAx = np.concatenate([dAr, dAz, dAn], axis=1)
    dAh = np.concatenate([dAr, dAz, dAn * R], axis=1)  # the reset gate scales the h-side
    dX = dAx @ cache.W_x.T
    dH_prev = dH * Z + dAh @ cache.W_h.T
    return (dX, dH_prev, cache.X.T @ dAx, H_prev.T @ dAh, dAx.sum(axis=0), dAh.sum(axis=0))


def gru_forward(X, H0, W_x, W_h, b_x, b_h):
    """The GRU over a sequence: ``X (T, n, d)``, ``H0 (n, h)`` -> ``H (T, n, h)`` and a cache."""
    return scan_forward(gru_step_forward, "gru_forward", X, H0, W_x, W_h, b_x, b_h)


def gru_backward(dH, cache):
    """BPTT for :func:`gru_forward`; ``dH (T, n, h)``.

    Returns ``dX (T, n, d)``, ``dH0 (n, h)``, ``dW_x``, ``dW_h``, ``db_x``, ``db_h``.
    """
    return scan_backward(gru_step_backward, dH, cache)
