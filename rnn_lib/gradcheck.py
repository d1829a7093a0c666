"""Numerical gradients: the independent check on every hand-written backward pass."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from rnn_lib._checks import as_float_array, check_positive


def numerical_gradient(
    f: Callable[[np.ndarray], np.ndarray | float],
    x: np.ndarray,
    df: np.ndarray | None = None,
    h: float = 1e-5,
) -> np.ndarray:
    """Centred-difference gradient of ``f`` at ``x``.

    Without ``df``, ``f`` must return a scalar and the result is ``d f / d x``.
    With ``df`` (the upstream gradient, shaped like ``f(x)``) the result is the
    gradient of ``sum(f(x) * df)``, i.e. the vector-Jacobian product that a
    backward pass computes.

    ``x`` is perturbed in place one entry at a time and always restored, so
    ``f`` may close over ``x`` instead of taking it as an argument.

    Args:
        f: function of ``x``.
        x: array of any shape, floating dtype (use float64 for checks).
        df: optional upstream gradient, same shape as ``f(x)``.
        h: step size.

    Returns:
        Array shaped like ``x``: (f(x + h e_i) - f(x - h e_i)) / (2h) per entry.
    """
    x = as_float_array("x", x)
    check_positive("h", h)
    grad = np.zeros_like(x)
    flat_x, flat_grad = x.reshape(-1), grad.reshape(-1)
    if not np.shares_memory(flat_x, x):
        raise ValueError("x: expected a contiguous array so it can be perturbed in place")
    for i in range(flat_x.size):
        original = flat_x[i]
        flat_x[i] = original + h
        plus = _weighted_sum(f(x), df)
        flat_x[i] = original - h
        minus = _weighted_sum(f(x), df)
        flat_x[i] = original
        flat_grad[i] = (plus - minus) / (2 * h)
    return grad


def _weighted_sum(value, df: np.ndarray | None) -> float:
    """Reduce ``f(x)`` to the scalar whose gradient is wanted."""
    value = np.asarray(value)
    if df is None:
        if value.size != 1:
            raise ValueError(
                f"f: expected a scalar output when df is None, got shape {value.shape}"
            )
        return float(value.reshape(()))
    if value.shape != np.shape(df):
        raise ValueError(f"df: expected shape {value.shape} (that of f(x)), got {np.shape(df)}")
    return float(np.sum(value * df))


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    """Largest elementwise relative error ``|a - b| / max(1e-8, |a| + |b|)``.

    A correct float64 backward pass typically scores below 1e-7 against a
    numerical gradient; anything above 1e-3 is almost certainly a bug.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"b: expected shape {a.shape} (that of a), got {b.shape}")
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))
