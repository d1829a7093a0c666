"""Gradient clipping and the two optimisers the numpy models train with."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from rnn_lib._checks import check_positive


def _arrays(grads) -> list[np.ndarray]:
    if isinstance(grads, Mapping):
        return list(grads.values())
    if isinstance(grads, Sequence) and not isinstance(grads, str | bytes):
        return list(grads)
    raise TypeError(f"grads: expected a dict or list of numpy arrays, got {type(grads).__name__}")


def global_norm(grads) -> float:
    """L2 norm of all gradients taken together, ``sqrt(sum_k ||g_k||^2)``."""
    return float(np.sqrt(sum(float(np.sum(np.square(g))) for g in _arrays(grads))))


def clip_gradients(grads, max_norm: float):
    """Rescale gradients so their global L2 norm is at most ``max_norm``.

    ``g <- min(1, max_norm / ||g||) g`` (ch4-clip): every array is scaled by the
    same factor, so the direction of the full gradient is preserved.

    Args:
        grads: dict or list of arrays.
        max_norm: the threshold, a positive number.

    Returns:
        ``(clipped, total_norm)``: new arrays in a container of the same kind
        (the inputs are not modified) and the norm *before* clipping.
    """
    check_positive("max_norm", max_norm)
    total = global_norm(grads)
    scale = min(1.0, max_norm / total) if total > 0 else 1.0
    if isinstance(grads, Mapping):
        clipped = {k: g * scale for k, g in grads.items()}
    else:
        clipped = [g * scale for g in _arrays(grads)]
    return clipped, total


class SGD:
    """Plain gradient descent, ``theta <- theta - lr * g``, updating arrays in place."""

    def __init__(self, params: Mapping[str, np.ndarray], lr: float):
        check_positive("lr", lr)
        self.params, self.lr = params, lr

    def step(self, grads: Mapping[str, np.ndarray]) -> None:
        _check_keys(self.params, grads)
        for k, g in grads.items():
            self.params[k] -= self.lr * g


class Adagrad:
    """Adagrad: per-coordinate steps ``lr * g / sqrt(sum of past g^2 + eps)``.

    Its shrinking steps suit char-RNNs trained with clipped gradients, and it
    needs no learning-rate schedule.
    """

    def __init__(self, params: Mapping[str, np.ndarray], lr: float, eps: float = 1e-8):
        check_positive("lr", lr)
        check_positive("eps", eps)
        self.params, self.lr, self.eps = params, lr, eps
        self.sum_sq = {k: np.zeros_like(p) for k, p in params.items()}

    def step(self, grads: Mapping[str, np.ndarray]) -> None:
        _check_keys(self.params, grads)
        for k, g in grads.items():
            self.sum_sq[k] += g * g
            self.params[k] -= self.lr * g / np.sqrt(self.sum_sq[k] + self.eps)


def _check_keys(params: Mapping, grads: Mapping) -> None:
    if set(params) != set(grads):
        raise KeyError(f"grads: expected keys {sorted(params)}, got {sorted(grads)}")
    for k, g in grads.items():
        if g.shape != params[k].shape:
            raise ValueError(f"grads[{k!r}]: expected shape {params[k].shape}, got {g.shape}")
