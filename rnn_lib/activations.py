"""Elementwise activations that numpy does not provide."""

from __future__ import annotations

import numpy as np


def sigmoid(a: np.ndarray) -> np.ndarray:
    """Logistic function ``1 / (1 + exp(-a))``, stable for large ``|a|``.

    Written through ``tanh`` (sigma(a) = (1 + tanh(a/2)) / 2) so no
    ``exp`` can overflow, whatever the dtype.
    """
    return 0.5 * (1.0 + np.tanh(0.5 * a))
