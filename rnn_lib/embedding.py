"""Embedding lookup: a token index selects a row of a learned matrix.

    X_t[i] = W_e[idx_t[i]]                                          (ch7-embedding)

with ``idx (T, n)`` integer token indices in ``[0, V)`` and ``W_e (V, e)``, so
``X (T, n, e)`` (any shape of ``idx`` works: ``X`` is ``idx.shape + (e,)``).
It computes exactly ``onehot(idx) W_e``, the one-hot input of chapters 2-6
times an input weight matrix, without building the ``V``-wide one-hot rows.

The gradient of a row is the sum of the upstream gradients of every position
that looked it up: a token that occurs twice in a batch receives two
contributions. ``dW_e[idx] += dX`` would keep only one of them (numpy's fancy
assignment does not accumulate), so the backward pass uses ``np.add.at``.
Like ``torch.nn.Embedding(padding_idx=p)``, the row ``padding_idx`` can be
frozen: its gradient is zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rnn_lib._checks import as_float_array, check_cache, check_shape


@dataclass(frozen=True)
class EmbeddingCache:
    """What :func:`embedding_backward` needs from :func:`embedding_forward`."""

    idx: np.ndarray  # (...) integer indices
    vocab_shape: tuple  # (V, e)
    dtype: np.dtype
    padding_idx: int | None


def check_indices(name: str, idx, V: int) -> np.ndarray:
    """Require an integer array with every entry in ``[0, V)``; return it."""
    idx = np.asarray(idx)
    if not np.issubdtype(idx.dtype, np.integer):
        raise TypeError(f"{name}: expected integer token indices, got dtype {idx.dtype}")
    if idx.size and (idx.min() < 0 or idx.max() >= V):
        raise ValueError(f"{name}: expected indices in [0, {V}), got values in "
                         f"[{idx.min()}, {idx.max()}]")
    return idx


def embedding_forward(idx, W_e, padding_idx: int | None = None):
    """Look up the rows of ``W_e``, eq. (ch7-embedding).

    Args:
        idx: integer token indices, ``(T, n)`` (any shape), values in ``[0, V)``.
        W_e: the embedding matrix, ``(V, e)``.
        padding_idx: optional row whose gradient is kept at zero (torch's
            ``padding_idx``); the lookup itself is unchanged.

    Returns:
        ``X`` of shape ``idx.shape + (e,)`` and a cache for :func:`embedding_backward`.
    """
    W_e = as_float_array("W_e", W_e, ndim=2)
    V = W_e.shape[0]
    idx = check_indices("idx", idx, V)
    if padding_idx is not None and not (isinstance(padding_idx, int | np.integer)
                                        and 0 <= padding_idx < V):
        raise ValueError(f"padding_idx: expected None or an index in [0, {V}), got {padding_idx!r}")
    return W_e[idx], EmbeddingCache(idx, W_e.shape, W_e.dtype, padding_idx)


def embedding_backward(dX, cache: EmbeddingCache):
    """Gradient of the embedding matrix: ``dW_e[v] = sum of dX where idx == v``.

    Args:
        dX: upstream gradient of the looked-up rows, ``idx.shape + (e,)``.
        cache: from :func:`embedding_forward`.

    Returns:
        ``dW_e (V, e)``; the indices are integers and have no gradient.
    """
    check_cache("cache", cache, EmbeddingCache, "embedding_forward")
    V, e = cache.vocab_shape
    check_shape("dX", as_float_array("dX", dX), cache.idx.shape + (e,))
    dW_e = np.zeros((V, e), dtype=cache.dtype)
    np.add.at(dW_e, cache.idx.reshape(-1), dX.reshape(-1, e))  # repeated indices accumulate
    if cache.padding_idx is not None:
        dW_e[cache.padding_idx] = 0.0
    return dW_e
