"""The vanilla (Elman) RNN layer: one step, a whole sequence, and their gradients.

Notation (rows are examples, sequences are time-major); labels are the book's::

    H_t = tanh(X_t W_xh + H_{t-1} W_hh + b_h)                      (ch2-rnn-state)

with ``X_t (n, d)``, ``H_t (n, h)``, ``W_xh (d, h)``, ``W_hh (h, h)``,
``b_h (h,)``; a sequence ``X`` is ``(T, n, d)`` and its states ``H`` are
``(T, n, h)``. Every forward returns ``(output, cache)`` and the matching
backward consumes that cache.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rnn_lib._checks import as_float_array, check_cache, check_same_dtype, check_shape


@dataclass(frozen=True)
class RNNStepCache:
    """What :func:`rnn_step_backward` needs from the forward step."""

    X: np.ndarray  # (n, d)
    H_prev: np.ndarray  # (n, h)
    W_xh: np.ndarray  # (d, h)
    W_hh: np.ndarray  # (h, h)
    H: np.ndarray  # (n, h), tanh output; tanh' = 1 - H**2 needs nothing else


@dataclass(frozen=True)
class RNNCache:
    """What :func:`rnn_backward` needs from the forward pass over a sequence."""

    X: np.ndarray  # (T, n, d)
    H0: np.ndarray  # (n, h)
    W_xh: np.ndarray  # (d, h)
    W_hh: np.ndarray  # (h, h)
    H: np.ndarray  # (T, n, h)


def _check_params(W_xh: np.ndarray, W_hh: np.ndarray, b_h: np.ndarray) -> tuple[int, int]:
    """Validate the parameter shapes and return ``(d, h)``."""
    W_xh = as_float_array("W_xh", W_xh, ndim=2)
    d, h = W_xh.shape
    check_shape("W_hh", as_float_array("W_hh", W_hh, ndim=2), (h, h))
    check_shape("b_h", as_float_array("b_h", b_h, ndim=1), (h,))
    return d, h


def rnn_step_forward(X, H_prev, W_xh, W_hh, b_h):
    """One time step of the RNN, eq. (ch2-rnn-state).

    Args:
        X: inputs at this step, ``(n, d)``.
        H_prev: previous hidden state ``H_{t-1}``, ``(n, h)``.
        W_xh: input-to-hidden weights, ``(d, h)``.
        W_hh: hidden-to-hidden weights, ``(h, h)``.
        b_h: hidden bias, ``(h,)``.

    Returns:
        ``H`` of shape ``(n, h)`` and a cache for :func:`rnn_step_backward`.
    """
    d, h = _check_params(W_xh, W_hh, b_h)
    check_shape("X", as_float_array("X", X, ndim=2), (None, d))
    check_shape("H_prev", as_float_array("H_prev", H_prev, ndim=2), (X.shape[0], h))
    check_same_dtype(X=X, H_prev=H_prev, W_xh=W_xh, W_hh=W_hh, b_h=b_h)
    H = np.tanh(X @ W_xh + H_prev @ W_hh + b_h)
    return H, RNNStepCache(X, H_prev, W_xh, W_hh, H)


def rnn_step_backward(dH, cache: RNNStepCache):
    """Gradients of one RNN step.

    With ``A = X W_xh + H_prev W_hh + b_h`` and ``H = tanh(A)``, the local
    gradient is ``dA = dH * (1 - H**2)``; every parameter gradient is a
    product of ``dA`` with the factor that multiplied that parameter.

    Args:
        dH: upstream gradient of the loss with respect to ``H``, ``(n, h)``.
        cache: from :func:`rnn_step_forward`.

    Returns:
        ``dX (n, d)``, ``dH_prev (n, h)``, ``dW_xh (d, h)``, ``dW_hh (h, h)``,
        ``db_h (h,)``.
    """
    check_cache("cache", cache, RNNStepCache, "rnn_step_forward")
    check_shape("dH", as_float_array("dH", dH, ndim=2), cache.H.shape)
    dA = dH * (1.0 - cache.H**2)
    dX = dA @ cache.W_xh.T
    dH_prev = dA @ cache.W_hh.T
    dW_xh = cache.X.T @ dA
    dW_hh = cache.H_prev.T @ dA
    db_h = dA.sum(axis=0)
    return dX, dH_prev, dW_xh, dW_hh, db_h


def rnn_forward(X, H0, W_xh, W_hh, b_h):
    """Run the RNN over a whole sequence, eq. (ch2-rnn-state) for t = 1..T.

    The input projection ``X_t W_xh + b_h`` does not depend on the state, so
    it is computed for all T steps in one matrix product; only
    ``H_{t-1} W_hh`` has to wait for the previous step.

    Args:
        X: inputs, ``(T, n, d)``.
        H0: initial hidden state, ``(n, h)``.
        W_xh: ``(d, h)``; W_hh: ``(h, h)``; b_h: ``(h,)``.

    Returns:
        ``H`` of shape ``(T, n, h)`` (the state after every step) and a cache
        for :func:`rnn_backward`.
    """
    d, h = _check_params(W_xh, W_hh, b_h)
    check_shape("X", as_float_array("X", X, ndim=3), (None, None, d))
    T, n, _ = X.shape
    if T == 0:
        raise ValueError("X: expected at least one time step, got T = 0")
    check_shape("H0", as_float_array("H0", H0, ndim=2), (n, h))
    check_same_dtype(X=X, H0=H0, W_xh=W_xh, W_hh=W_hh, b_h=b_h)

    H = (X.reshape(T * n, d) @ W_xh).reshape(T, n, h)
    H += b_h
    H_prev = H0
    for t in range(T):
        H[t] += H_prev @ W_hh
        np.tanh(H[t], out=H[t])
        H_prev = H[t]
    return H, RNNCache(X, H0, W_xh, W_hh, H)


def rnn_backward(dH, cache: RNNCache):
    """Backpropagation through time for :func:`rnn_forward`.

    ``dH[t]`` is the gradient reaching ``H_t`` from above (the output layer).
    The *total* gradient of ``H_t`` adds what flows back from ``H_{t+1}``::

        G_t = dH[t] + dA_{t+1} W_hh^T,     dA_t = G_t * (1 - H_t**2)

    and each parameter's gradient is the sum over time of its per-step
    gradient (the weights are shared by every step). The sums over time are
    done as single matrix products once every ``dA_t`` is known.

    Args:
        dH: upstream gradients of every hidden state, ``(T, n, h)``.
        cache: from :func:`rnn_forward`.

    Returns:
        ``dX (T, n, d)``, ``dH0 (n, h)``, ``dW_xh (d, h)``, ``dW_hh (h, h)``,
        ``db_h (h,)``.
    """
    check_cache("cache", cache, RNNCache, "rnn_forward")
    check_shape("dH", as_float_array("dH", dH, ndim=3), cache.H.shape)
    X, H, W_hh = cache.X, cache.H, cache.W_hh
    T, n, h = H.shape
    d = X.shape[2]

    # tanh'(A_t) = 1 - H_t**2, for every step in one vectorised pass.
    dA = 1.0 - H * H
    dA[-1] *= dH[-1]
    carry = np.empty((n, h), dtype=H.dtype)  # dA_{t+1} W_hh^T, reused each step
    for t in range(T - 2, -1, -1):
        np.matmul(dA[t + 1], W_hh.T, out=carry)
        carry += dH[t]
        dA[t] *= carry
    dH0 = dA[0] @ W_hh.T

    dA_flat = dA.reshape(T * n, h)
    dX = (dA_flat @ cache.W_xh.T).reshape(T, n, d)
    dW_xh = X.reshape(T * n, d).T @ dA_flat
    # Row block t of H_prevs is H_{t-1}: H0 followed by H_1 .. H_{T-1}.
    dW_hh = cache.H0.T @ dA[0]
    if T > 1:
        dW_hh += H[:-1].reshape((T - 1) * n, h).T @ dA[1:].reshape((T - 1) * n, h)
    db_h = dA_flat.sum(axis=0)
    return dX, dH0, dW_xh, dW_hh, db_h
