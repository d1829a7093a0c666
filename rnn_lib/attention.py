"""Additive (Bahdanau) attention: a decoder step reads a weighted average of the encoder states.

For one decoder step with query ``S (n, h_q)`` (the decoder's previous state)
and encoder states ``H_enc (T, n, h_k)``::

    E_t     = tanh(S W_q + H_enc_t W_k)          (n, a)             } (ch7-attention-score)
    e_t     = E_t v                              (n,)               }
    alpha_t = exp(e_t) / sum_s exp(e_s)          over t = 1 .. T    (ch7-attention-weights)
    c       = sum_t alpha_t H_enc_t              (n, h_k)           (ch7-attention-context)

(the chapter writes the score ``e_t`` as ``beta_{t,j}``, the energy ``E_t``
inside eq. (ch7-attention-score)), with ``W_q (h_q, a)``, ``W_k (h_k, a)``,
``v (a,)``. Positions where ``mask`` is False (padding after a short source)
get ``alpha_t = 0``. The context ``c`` is computed afresh at every decoder
step, so the decoder is no longer limited to what the encoder's final state
could hold.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rnn_lib._checks import as_float_array, check_cache, check_same_dtype, check_shape


@dataclass(frozen=True)
class AttentionCache:
    """What :func:`attention_backward` needs from :func:`attention_forward`."""

    S: np.ndarray  # (n, h_q)
    H_enc: np.ndarray  # (T, n, h_k)
    W_q: np.ndarray  # (h_q, a)
    W_k: np.ndarray  # (h_k, a)
    v: np.ndarray  # (a,)
    E: np.ndarray  # (T, n, a) tanh energies
    alpha: np.ndarray  # (T, n) attention weights


def length_mask(lengths, T: int) -> np.ndarray:
    """``mask[t, i] = t < lengths[i]``: the real (non-padding) positions, ``(T, n)`` bool."""
    lengths = np.asarray(lengths)
    if lengths.ndim != 1 or not np.issubdtype(lengths.dtype, np.integer):
        raise TypeError(f"lengths: expected a 1-D integer array, got {lengths.dtype} "
                        f"of shape {lengths.shape}")
    if lengths.size and (lengths.min() < 1 or lengths.max() > T):
        raise ValueError(f"lengths: expected values in [1, {T}], got values in "
                         f"[{lengths.min()}, {lengths.max()}]")
    return np.arange(T)[:, None] < lengths[None, :]


def attention_forward(S, H_enc, W_q, W_k, v, mask=None):
    """Context vector and attention weights, eqs. (ch7-attention-score)-(ch7-attention-context).

    Args:
        S: decoder query, ``(n, h_q)``.
        H_enc: encoder states, ``(T, n, h_k)``.
        W_q: ``(h_q, a)``; W_k: ``(h_k, a)``; v: ``(a,)``.
        mask: optional ``(T, n)`` bool, False at padding; every column needs a True.

    Returns:
        ``(context (n, h_k), alpha (T, n))`` and a cache for :func:`attention_backward`.
    """
    H_enc = as_float_array("H_enc", H_enc, ndim=3)
    T, n, h_k = H_enc.shape
    S = as_float_array("S", S, ndim=2)
    check_shape("S", S, (n, None))
    W_q = as_float_array("W_q", W_q, ndim=2)
    check_shape("W_q", W_q, (S.shape[1], None))
    a = W_q.shape[1]
    check_shape("W_k", as_float_array("W_k", W_k, ndim=2), (h_k, a))
    check_shape("v", as_float_array("v", v, ndim=1), (a,))
    check_same_dtype(S=S, H_enc=H_enc, W_q=W_q, W_k=W_k, v=v)

    E = np.tanh((S @ W_q)[None] + H_enc @ W_k)
    scores = E @ v
    if mask is not None:
        mask = np.asarray(mask)
        if mask.dtype != np.bool_:
            raise TypeError(f"mask: expected a bool array, got dtype {mask.dtype}")
        check_shape("mask", mask, (T, n))
        if not mask.any(axis=0).all():
            raise ValueError("mask: expected at least one True position per example, got a column "
                             f"of False at example {int(np.flatnonzero(~mask.any(axis=0))[0])}")
        scores = np.where(mask, scores, -np.inf)
    scores = scores - scores.max(axis=0, keepdims=True)
    alpha = np.exp(scores)
    alpha /= alpha.sum(axis=0, keepdims=True)
    context = np.einsum("tn,tnk->nk", alpha, H_enc)
    return (context, alpha), AttentionCache(S, H_enc, W_q, W_k, v, E, alpha)


def attention_backward(dcontext, cache: AttentionCache):
    """Gradients of :func:`attention_forward` given the gradient of the context.

    Backwards through the four equations: the context is linear in ``alpha``
    and in ``H_enc``; the softmax's Jacobian gives
    ``de_t = alpha_t (dalpha_t - sum_s alpha_s dalpha_s)`` (zero where masked,
    since there ``alpha_t = 0``); then the tanh and the two affine maps. ``S``
    is shared by all ``T`` positions, so its gradient sums over them.

    Args:
        dcontext: upstream gradient of the context, ``(n, h_k)``.
        cache: from :func:`attention_forward`.

    Returns:
        ``dS (n, h_q)``, ``dH_enc (T, n, h_k)``, ``dW_q (h_q, a)``,
        ``dW_k (h_k, a)``, ``dv (a,)``.
    """
    check_cache("cache", cache, AttentionCache, "attention_forward")
    H_enc, alpha, E = cache.H_enc, cache.alpha, cache.E
    T, n, h_k = H_enc.shape
    a = E.shape[2]
    check_shape("dcontext", as_float_array("dcontext", dcontext, ndim=2), (n, h_k))
    dalpha = np.einsum("tnk,nk->tn", H_enc, dcontext)
    dH_enc = alpha[..., None] * dcontext[None]
    dscores = alpha * (dalpha - (alpha * dalpha).sum(axis=0, keepdims=True))
    dv = np.einsum("tna,tn->a", E, dscores)
    dA = dscores[..., None] * cache.v * (1.0 - E * E)  # (T, n, a), pre-tanh
    dA_sum = dA.sum(axis=0)
    dS = dA_sum @ cache.W_q.T
    dW_q = cache.S.T @ dA_sum
    dH_enc += dA @ cache.W_k.T
    dW_k = H_enc.reshape(T * n, h_k).T @ dA.reshape(T * n, a)
    return dS, dH_enc, dW_q, dW_k, dv
