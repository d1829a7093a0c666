"""Shared helpers for the rnn_lib tests: seeded float64 arrays and torch oracles."""

from __future__ import annotations

import numpy as np
import torch

# Shapes (T, n, d, h) covering the edge cases: a single step, a single example.
SHAPES = [(1, 1, 1, 1), (1, 3, 4, 5), (4, 1, 3, 2), (6, 3, 4, 5)]


def randn(rng: np.random.Generator, *shape: int, scale: float = 1.0) -> np.ndarray:
    return scale * rng.standard_normal(shape)


def tensors(*arrays: np.ndarray) -> list[torch.Tensor]:
    """float64 leaf tensors that record gradients."""
    return [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in arrays]


def vjp(output: torch.Tensor, upstream: np.ndarray, leaves: list[torch.Tensor]) -> list:
    """Gradients of ``sum(output * upstream)`` with respect to ``leaves``, as numpy."""
    grads = torch.autograd.grad(output, leaves, grad_outputs=torch.tensor(upstream))
    return [g.numpy() for g in grads]


def assert_close(actual, expected, name: str = "", atol: float = 1e-10) -> None:
    np.testing.assert_allclose(actual, expected, rtol=1e-9, atol=atol, err_msg=name)


def copy_into(module: torch.nn.Module, **weights: np.ndarray) -> None:
    """Overwrite a torch module's parameters with numpy arrays (float64)."""
    with torch.no_grad():
        for name, value in weights.items():
            getattr(module, name).copy_(torch.tensor(value))
