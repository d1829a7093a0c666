"""Stacked RNN, GRU and LSTM layers against torch (num_layers = L, copied weights, float64)."""

import numpy as np
import pytest
import torch
from _oracles import MODULES, assert_close, assert_numeric, make_stack, torch_stack, torch_stack_grads

from rnn_lib import (
    deep_backward,
    deep_forward,
    deep_parameter_count,
    init_deep_params,
    layers_from_torch,
    numerical_gradient,
)

# (T, n, d, h, L): one step, one example, one layer, and a deeper stack.
DEEP_SHAPES = [(1, 1, 2, 3, 2), (4, 1, 3, 2, 1), (5, 3, 4, 3, 3)]


def check_against_torch(cell, X, state0, layers, dY, dstate_n, D):
    Y, state_n, cache = deep_forward(X, state0, layers, cell, bidirectional=D == 2)
    dX, dstate0, dlayers = deep_backward(dY, cache, dstate_n)
    module, out, finals, leaves = torch_stack(cell, X, state0, layers, D)
    assert_close(Y, out.detach().numpy(), "output")
    ours_final = state_n if cell == "lstm" else (state_n,)
    for name, a, e in zip(("h_n", "c_n"), ours_final, finals, strict=False):
        assert_close(a, e.detach().numpy(), name)
    gX, gstate0, glayers = torch_stack_grads(module, cell, leaves, out, finals, dY, dstate_n, D)
    assert_close(dX, gX, "dX")
    for name, a, e in zip(("dH0", "dC0"), dstate0 if cell == "lstm" else (dstate0,), gstate0,
                          strict=False):
        assert_close(a, e, name)
    errors = [np.abs(Y - out.detach().numpy()).max(), np.abs(dX - gX).max()]
    for k, (ours, theirs) in enumerate(zip(dlayers, glayers, strict=True)):
        for j, (a, e) in enumerate(zip(ours, theirs, strict=True)):
            assert_close(a, e, f"layers[{k}][{j}]")
            errors.append(np.abs(a - e).max())
    return max(errors)


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("T,n,d,h,L", DEEP_SHAPES)
def test_deep_matches_torch_num_layers(cell, T, n, d, h, L):
    check_against_torch(cell, *make_stack(0, cell, T, n, d, h, L), D=1)


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_deep_bidirectional_matches_torch(cell):
    check_against_torch(cell, *make_stack(1, cell, 4, 2, 3, 2, 2, D=2), D=2)


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_deep_backward_matches_numeric_gradient(cell):
    X, state0, layers, dY, _ = make_stack(2, cell, 3, 2, 2, 2, 2)
    _, _, cache = deep_forward(X, state0, layers, cell)
    dX, dstate0, dlayers = deep_backward(dY, cache)
    out = lambda _: deep_forward(X, state0, layers, cell)[0]
    assert_numeric(dX, numerical_gradient(out, X, dY), "dX")
    states, dstates = (state0, dstate0) if cell == "lstm" else ((state0,), (dstate0,))
    for name, H, ours in zip(("dH0", "dC0"), states, dstates, strict=False):
        assert_numeric(ours, numerical_gradient(out, H, dY), name)
    for k, params in enumerate(layers):
        for j, p in enumerate(params):
            assert_numeric(dlayers[k][j], numerical_gradient(out, p, dY), f"layers[{k}][{j}]")


def test_one_layer_equals_the_cell_itself():
    from rnn_lib import gru_forward

    X, H0, layers, _, _ = make_stack(3, "gru", 5, 2, 3, 4, 1)
    Y, H_n, _ = deep_forward(X, H0, layers, "gru")
    H, _ = gru_forward(X, H0[0], *layers[0])
    assert_close(Y, H, "H")
    assert_close(H_n[0], H[-1], "h_n")


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_parameter_count_and_round_trip_through_torch(cell, bidirectional):
    module = MODULES[cell](3, 5, num_layers=3, bidirectional=bidirectional).double()
    assert deep_parameter_count(cell, 3, 5, 3, bidirectional) == sum(
        p.numel() for p in module.parameters())
    name, layers = layers_from_torch(module)
    assert name == cell
    X = np.random.default_rng(4).standard_normal((4, 2, 3))
    D = 2 if bidirectional else 1
    zeros = np.zeros((3 * D, 2, 5))
    Y, _, _ = deep_forward(X, (zeros, zeros) if cell == "lstm" else zeros, layers, cell,
                           bidirectional=bidirectional)
    with torch.no_grad():
        out, _ = module(torch.tensor(X))
    assert_close(Y, out.numpy(), "output")


def test_bad_layers_are_named():
    rng = np.random.default_rng(5)
    layers = init_deep_params("rnn", 3, 4, 2, rng)
    X, H0 = np.zeros((2, 1, 3)), np.zeros((2, 1, 4))
    with pytest.raises(ValueError, match=r"layers\[1\] W_xh: expected shape \(4, 4\), got \(3, 4\)"):
        deep_forward(X, H0, [layers[0], layers[0]], "rnn")
    with pytest.raises(ValueError, match=r"state0 \(H\): expected shape \(2, 1, 4\), got \(1, 1, 4\)"):
        deep_forward(X, H0[:1], layers, "rnn")
    with pytest.raises(ValueError, match="cell: expected one of"):
        deep_forward(X, H0, layers, "relu")
    with pytest.raises(TypeError, match=r"state0: expected a pair \(H0, C0\)"):
        deep_forward(X, H0, init_deep_params("lstm", 3, 4, 2, rng), "lstm")


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_float32_stays_float32(cell):
    X, state0, layers, dY, _ = make_stack(6, cell, 3, 2, 3, 2, 2, D=2)
    f32 = lambda a: a.astype(np.float32)
    state0 = tuple(map(f32, state0)) if cell == "lstm" else f32(state0)
    layers = [tuple(map(f32, p)) for p in layers]
    Y, _, cache = deep_forward(f32(X), state0, layers, cell, bidirectional=True)
    dX, _, dlayers = deep_backward(f32(dY), cache)
    assert Y.dtype == dX.dtype == np.float32
    assert all(g.dtype == np.float32 for grads in dlayers for g in grads)
