"""The output layer, the softmax cross-entropy loss and perplexity.

    O_t = H_t W_hq + b_q                                            (ch2-rnn-output)
    L = -(1 / (T n)) sum_{t, i} log softmax(O_t)[i, y_{t,i}]        (ch3-cross-entropy)
    perplexity = exp(L)                                             (ch3-perplexity)

``H`` may be one step ``(n, h)`` or a sequence ``(T, n, h)``; the output
layer is applied to every row independently, so both share one code path.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from rnn_lib._checks import as_float_array, check_cache, check_same_dtype, check_shape


@dataclass(frozen=True)
class OutputCache:
    """What :func:`output_backward` needs from :func:`output_forward`."""

    H: np.ndarray  # (..., h)
    W_hq: np.ndarray  # (h, q)


def output_forward(H, W_hq, b_q):
    """Affine read-out of the hidden states, eq. (ch2-rnn-output).

    Args:
        H: hidden states, ``(n, h)`` or ``(T, n, h)``.
        W_hq: ``(h, q)``.
        b_q: ``(q,)``.

    Returns:
        Logits ``O`` of shape ``(..., q)`` matching ``H``'s leading axes, and a
        cache for :func:`output_backward`.
    """
    W_hq = as_float_array("W_hq", W_hq, ndim=2)
    h, q = W_hq.shape
    H = as_float_array("H", H, ndim=(2, 3))
    check_shape("H", H, (None,) * (H.ndim - 1) + (h,))
    check_shape("b_q", as_float_array("b_q", b_q, ndim=1), (q,))
    check_same_dtype(H=H, W_hq=W_hq, b_q=b_q)
    O = H @ W_hq + b_q
    return O, OutputCache(H, W_hq)


def output_backward(dO, cache: OutputCache):
    """Gradients of the output layer.

    Args:
        dO: upstream gradient of the logits, shaped like ``O``: ``(..., q)``.
        cache: from :func:`output_forward`.

    Returns:
        ``dH`` shaped like ``H``, ``dW_hq (h, q)`` and ``db_q (q,)``; the
        parameter gradients sum over every leading axis (all steps, all rows).
    """
    check_cache("cache", cache, OutputCache, "output_forward")
    h, q = cache.W_hq.shape
    check_shape("dO", as_float_array("dO", dO, ndim=cache.H.ndim), cache.H.shape[:-1] + (q,))
    dH = dO @ cache.W_hq.T
    dW_hq = cache.H.reshape(-1, h).T @ dO.reshape(-1, q)
    db_q = dO.reshape(-1, q).sum(axis=0)
    return dH, dW_hq, db_q


def log_softmax(O: np.ndarray) -> np.ndarray:
    """Numerically stable ``log softmax`` over the last axis."""
    shifted = O - O.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def softmax(O: np.ndarray) -> np.ndarray:
    """Softmax over the last axis (stable against large logits)."""
    return np.exp(log_softmax(O))


def softmax_cross_entropy(O, Y):
    """Mean negative log-likelihood of integer targets, eq. (ch3-cross-entropy).

    Args:
        O: logits, ``(T, n, q)`` or ``(n, q)``.
        Y: integer targets in ``[0, q)``, ``(T, n)`` or ``(n,)``.

    Returns:
        ``loss``, a Python float averaged over all ``T * n`` tokens, and
        ``dO`` shaped like ``O``: ``(softmax(O) - onehot(Y)) / (T n)``.
    """
    O = as_float_array("O", O, ndim=(2, 3))
    Y = np.asarray(Y)
    if not np.issubdtype(Y.dtype, np.integer):
        raise TypeError(f"Y: expected integer class indices, got dtype {Y.dtype}")
    check_shape("Y", Y, O.shape[:-1])
    q = O.shape[-1]
    if Y.size and (Y.min() < 0 or Y.max() >= q):
        raise ValueError(f"Y: expected class indices in [0, {q}), got values in "
                         f"[{Y.min()}, {Y.max()}]")
    logp = log_softmax(O).reshape(-1, q)
    rows, targets = np.arange(Y.size), Y.reshape(-1)
    loss = -logp[rows, targets].mean()
    dO = np.exp(logp)
    dO[rows, targets] -= 1.0
    dO /= Y.size
    return float(loss), dO.reshape(O.shape)


def perplexity(mean_nll: float) -> float:
    """Perplexity ``exp(mean_nll)``, eq. (ch3-perplexity).

    1 for a model that puts all its probability on the right token, ``|V|``
    for one that guesses uniformly over ``|V|`` tokens, infinity for one that
    gives a right token probability 0.
    """
    value = float(mean_nll)
    if math.isnan(value) or value < 0:
        raise ValueError(f"mean_nll: expected a non-negative mean negative log-likelihood, "
                         f"got {mean_nll!r}")
    return math.exp(value) if value < 709.0 else math.inf
