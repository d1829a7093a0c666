"""Long short-term memory, in PyTorch's layout and gate order (i, f, g, o).

    I_t = sigmoid(X_t W_xi + H_{t-1} W_hi + b_i)                     (ch5-lstm-input)
    F_t = sigmoid(X_t W_xf + H_{t-1} W_hf + b_f)                     (ch5-lstm-forget)
    G_t = tanh(X_t W_xg + H_{t-1} W_hg + b_g)                        (ch5-lstm-candidate)
    O_t = sigmoid(X_t W_xo + H_{t-1} W_ho + b_o)                     (ch5-lstm-output)
    C_t = F_t * C_{t-1} + I_t * G_t                                  (ch5-lstm-cell)
    H_t = O_t * tanh(C_t)                                            (ch5-lstm-hidden)

``W_x = [W_xi | W_xf | W_xg | W_xo] (d, 4h)`` is ``torch.nn.LSTM``'s
``weight_ih_l0.T``, ``W_h (h, 4h)`` its ``weight_hh_l0.T`` and ``b (4h,)`` the
sum ``bias_ih_l0 + bias_hh_l0`` (two biases added together act as one).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rnn_lib._checks import (
    as_float_array,
    check_cache,
    check_shape,
    check_stacked_step,
)
from rnn_lib.activations import sigmoid


@dataclass(frozen=True)
class LSTMStepCache:
    X: np.ndarray  # (n, d)
    H_prev: np.ndarray  # (n, h)
    C_prev: np.ndarray  # (n, h)
    W_x: np.ndarray  # (d, 4h)
    W_h: np.ndarray  # (h, 4h)
    gates: np.ndarray  # (n, 4h): activated I, F, G, O side by side
    tanh_C: np.ndarray  # (n, h)


@dataclass(frozen=True)
class LSTMCache:
    steps: tuple  # one LSTMStepCache per time step
    H: np.ndarray  # (T, n, h)


def lstm_step_forward(X, H_prev, C_prev, W_x, W_h, b):
    """One LSTM step, eqs. (ch5-lstm-input)-(ch5-lstm-hidden).

    Args:
        X: ``(n, d)``; H_prev, C_prev: ``(n, h)``; W_x: ``(d, 4h)``;
        W_h: ``(h, 4h)``; b: ``(4h,)``, columns in the order i, f, g, o.

    Returns:
        ``H (n, h)``, ``C (n, h)`` and a cache for :func:`lstm_step_backward`.
    """
    h = check_stacked_step(X, H_prev, W_x, W_h, b, blocks=4)
    check_shape("C_prev", as_float_array("C_prev", C_prev, ndim=2), H_prev.shape)
    A = X @ W_x + H_prev @ W_h + b
    gates = sigmoid(A)
    gates[:, 2 * h : 3 * h] = np.tanh(A[:, 2 * h : 3 * h])  # the candidate is a tanh
    I, F, G, O = np.split(gates, 4, axis=1)
    C = F * C_prev + I * G
    tanh_C = np.tanh(C)
    H = O * tanh_C
    return H, C, LSTMStepCache(X, H_prev, C_prev, W_x, W_h, gates, tanh_C)


def lstm_step_backward(dH, dC, cache: LSTMStepCache):
    """Gradients of one LSTM step.

    ``dC`` is the gradient reaching ``C_t`` from the next step; the cell also
    receives ``dH * O * (1 - tanh(C)^2)`` through ``H_t``.

    Returns:
        ``dX (n, d)``, ``dH_prev (n, h)``, ``dC_prev (n, h)``, ``dW_x (d, 4h)``,
        ``dW_h (h, 4h)``, ``db (4h,)``.
    """
    check_cache("cache", cache, LSTMStepCache, "lstm_step_forward")
    check_shape("dH", as_float_array("dH", dH, ndim=2), cache.tanh_C.shape)
    check_shape("dC", as_float_array("dC", dC, ndim=2), cache.tanh_C.shape)
    I, F, G, O = np.split(cache.gates, 4, axis=1)
    dC_total = dC + dH * O * (1.0 - cache.tanh_C**2)
    dA = np.concatenate(
        [
            dC_total * G * I * (1.0 - I),
            dC_total * cache.C_prev * F * (1.0 - F),
            dC_total * I * (1.0 - G**2),
            dH * cache.tanh_C * O * (1.0 - O),
        ],
        axis=1,
    )
    dX = dA @ cache.W_x.T
    dH_prev = dA @ cache.W_h.T
    dC_prev = dC_total * F
    return dX, dH_prev, dC_prev, cache.X.T @ dA, cache.H_prev.T @ dA, dA.sum(axis=0)


def lstm_forward(X, H0, C0, W_x, W_h, b):
    """The LSTM over a sequence.

    Args:
        X: ``(T, n, d)``; H0, C0: ``(n, h)``; W_x, W_h, b as in
        :func:`lstm_step_forward`.

    Returns:
        ``H (T, n, h)`` and a cache for :func:`lstm_backward`.
    """
    X = as_float_array("X", X, ndim=3)
    if X.shape[0] == 0:
        raise ValueError("X: expected at least one time step, got T = 0")
    H_prev, C_prev, states, caches = H0, C0, [], []
    for X_t in X:
        H_prev, C_prev, cache = lstm_step_forward(X_t, H_prev, C_prev, W_x, W_h, b)
        states.append(H_prev)
        caches.append(cache)
    H = np.stack(states)
    return H, LSTMCache(tuple(caches), H)


def lstm_backward(dH, cache: LSTMCache):
    """BPTT for :func:`lstm_forward`; ``dH (T, n, h)`` is the upstream gradient of every H_t.

    Returns:
        ``dX (T, n, d)``, ``dH0 (n, h)``, ``dC0 (n, h)``, ``dW_x``, ``dW_h``, ``db``.
    """
    check_cache("cache", cache, LSTMCache, "lstm_forward")
    check_shape("dH", as_float_array("dH", dH, ndim=3), cache.H.shape)
    dXs = [None] * len(cache.steps)
    dH_next = np.zeros_like(dH[0])
    dC_next = np.zeros_like(dH[0])
    dW_x = dW_h = db = 0.0
    for t in range(len(cache.steps) - 1, -1, -1):
        dXs[t], dH_next, dC_next, gW_x, gW_h, gb = lstm_step_backward(
            dH[t] + dH_next, dC_next, cache.steps[t]
        )
        dW_x, dW_h, db = dW_x + gW_x, dW_h + gW_h, db + gb
    return np.stack(dXs), dH_next, dC_next, dW_x, dW_h, db
