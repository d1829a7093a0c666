"""Input validation shared by every public function.

Each check raises an error that names the argument, what was expected and what
was received, so a student sees ``W_hh: expected shape (8, 8), got (8, 5)``
rather than a broadcasting error three calls deeper.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def as_float_array(name: str, value, ndim: int | Sequence[int] | None = None) -> np.ndarray:
    """Return ``value`` as a floating numpy array, checking its rank.

    Integer or boolean arrays are rejected rather than cast: the numpy code
    computes in the dtype of its inputs, and a silent cast to float64 would
    hide a float32/float64 mix-up.
    """
    if not isinstance(value, np.ndarray):
        raise TypeError(f"{name}: expected a numpy array, got {type(value).__name__}")
    if not np.issubdtype(value.dtype, np.floating):
        raise TypeError(f"{name}: expected a floating dtype (float32 or float64), got {value.dtype}")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if value.ndim not in allowed:
            wanted = " or ".join(f"{k}-D" for k in allowed)
            raise ValueError(f"{name}: expected a {wanted} array, got shape {value.shape}")
    return value


def check_shape(name: str, value: np.ndarray, expected: tuple) -> None:
    """Check ``value.shape`` against ``expected``; ``None`` entries match any size."""
    shape = value.shape
    if len(shape) != len(expected) or any(
        e is not None and s != e for s, e in zip(shape, expected, strict=False)
    ):
        shown = "(" + ", ".join("?" if e is None else str(e) for e in expected) + (
            ",)" if len(expected) == 1 else ")"
        )
        raise ValueError(f"{name}: expected shape {shown}, got {shape}")


def check_same_dtype(**arrays: np.ndarray) -> np.dtype:
    """Require every array to share one floating dtype and return it."""
    dtypes = {name: a.dtype for name, a in arrays.items()}
    distinct = set(dtypes.values())
    if len(distinct) > 1:
        listing = ", ".join(f"{n}={d}" for n, d in dtypes.items())
        raise TypeError(f"expected all arrays in one floating dtype, got {listing}")
    return distinct.pop()


def check_cache(name: str, cache, expected_type: type, producer: str) -> None:
    """Check that a backward pass received the cache its forward pass made."""
    if not isinstance(cache, expected_type):
        raise TypeError(
            f"{name}: expected the cache returned by {producer}, got {type(cache).__name__}"
        )


def check_positive(name: str, value: float) -> None:
    """Require a finite, strictly positive number."""
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"{name}: expected a finite positive number, got {value!r}")


def check_positive_int(name: str, value) -> int:
    """Require a positive whole number (bools rejected) and return it as an int."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name}: expected a positive int, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name}: expected a positive int, got {value}")
    return int(value)


def check_stacked_step(X, H_prev, W_x, W_h, b, blocks: int, names=("W_x", "W_h", "b")):
    """Validate a step's inputs whose parameters stack ``blocks`` maps column-wise.

    Returns ``h``, the hidden size. Shared by the gated RNN, LSTM and GRU.
    """
    X = as_float_array("X", X, ndim=2)
    H_prev = as_float_array("H_prev", H_prev, ndim=2)
    n, d = X.shape
    h = H_prev.shape[1]
    check_shape("H_prev", H_prev, (n, h))
    check_shape(names[0], as_float_array(names[0], W_x, ndim=2), (d, blocks * h))
    check_shape(names[1], as_float_array(names[1], W_h, ndim=2), (h, blocks * h))
    check_shape(names[2], as_float_array(names[2], b, ndim=1), (blocks * h,))
    check_same_dtype(X=X, H_prev=H_prev, **{names[0]: W_x, names[1]: W_h, names[2]: b})
    return h
