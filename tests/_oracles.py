"""Shared helpers for the rnn_lib tests: seeded float64 arrays and torch oracles."""

from __future__ import annotations

import numpy as np
import torch

from rnn_lib import init_deep_params, torch_weights

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


def assert_numeric(actual, numeric, name: str = "") -> None:
    """An analytic gradient against a centred-difference one (float64, step 1e-5).

    The difference quotient is accurate to about 1e-9 absolute, so near-zero
    entries are judged absolutely and the rest relatively.
    """
    np.testing.assert_allclose(actual, numeric, rtol=1e-6, atol=1e-8, err_msg=name)


# Stacked and bidirectional layers (rnn_lib.deep, rnn_lib.bidirectional) against torch modules.
MODULES = {"rnn": torch.nn.RNN, "gru": torch.nn.GRU, "lstm": torch.nn.LSTM}


def make_stack(seed, cell, T, n, d, h, L, D=1):
    """Random layers, a non-zero initial state and upstream gradients for output and h_n."""
    rng = np.random.default_rng(seed)
    layers = [tuple(0.8 * p for p in ps)
              for ps in init_deep_params(cell, d, h, L, rng, bidirectional=D == 2)]
    # Biases big enough to matter: torch's init is small.
    layers = [(*ps[:2], *(randn(rng, *b.shape, scale=0.4) for b in ps[2:])) for ps in layers]
    X = randn(rng, T, n, d)
    state0 = tuple(randn(rng, L * D, n, h) for _ in range(2 if cell == "lstm" else 1))
    dY, dstate_n = randn(rng, T, n, D * h), tuple(randn(rng, L * D, n, h) for _ in state0)
    unwrap = (lambda s: s) if cell == "lstm" else (lambda s: s[0])
    return X, unwrap(state0), layers, dY, unwrap(dstate_n)


def torch_stack(cell, X, state0, layers, D):
    """torch's module with our weights; returns output, final state, and the leaves."""
    d, h, L = X.shape[2], layers[0][1].shape[0], len(layers) // D
    module = MODULES[cell](d, h, num_layers=L, bidirectional=D == 2).double()
    copy_into(module, **torch_weights(layers, cell, bidirectional=D == 2))
    Xt, *state_t = tensors(X, *(state0 if cell == "lstm" else (state0,)))
    out, final = module(Xt, tuple(state_t) if cell == "lstm" else state_t[0])
    return module, out, (final if cell == "lstm" else (final,)), [Xt, *state_t]


def torch_stack_grads(module, cell, leaves, out, finals, dY, dstate_n, D):
    """Gradients of sum(out * dY) + sum(h_n * dh_n) [+ sum(c_n * dc_n)], in our layout."""
    dfinal = dstate_n if cell == "lstm" else (dstate_n,)
    loss = (out * torch.tensor(dY)).sum() + sum((f * torch.tensor(g)).sum()
                                                for f, g in zip(finals, dfinal, strict=True))
    params = list(module.parameters())
    grads = [g.numpy() for g in torch.autograd.grad(loss, leaves + params)]
    dX, dstate0, by_name = grads[0], grads[1:len(leaves)], dict(
        zip([name for name, _ in module.named_parameters()], grads[len(leaves):], strict=True))
    n_layers = len(params) // 4
    dlayers = []
    for k in range(n_layers):
        suffix = f"_l{k // D}{'_reverse' if k % D else ''}"
        gi, gh = by_name["weight_ih" + suffix].T, by_name["weight_hh" + suffix].T
        bi, bh = by_name["bias_ih" + suffix], by_name["bias_hh" + suffix]
        dlayers.append((gi, gh, bi, bh) if cell == "gru" else (gi, gh, bi))
    return dX, dstate0, dlayers
