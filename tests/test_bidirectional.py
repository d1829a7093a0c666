"""The bidirectional layer against torch (bidirectional=True, copied weights, float64)."""

import numpy as np
import pytest
from _oracles import assert_close, assert_numeric, make_stack, torch_stack, torch_stack_grads

from rnn_lib import (
    bidirectional_backward,
    bidirectional_forward,
    gru_forward,
    layer_backward,
    layer_forward,
    lstm_forward,
    numerical_gradient,
    rnn_forward,
)

# (T, n, d, h): one step, one example, and a batch.
BI_SHAPES = [(1, 1, 1, 1), (1, 2, 3, 2), (4, 1, 2, 3), (5, 3, 4, 2)]


def as_pair(cell, state):
    return state if cell == "lstm" else (state,)


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("T,n,d,h", BI_SHAPES)
def test_bidirectional_matches_torch(cell, T, n, d, h):
    X, state0, layers, dH, dstate_n = make_stack(10, cell, T, n, d, h, 1, D=2)
    H, state_n, cache = bidirectional_forward(X, state0, *layers, cell)
    dX, dstate0, dparams_f, dparams_b = bidirectional_backward(dH, cache, dstate_n)

    module, out, finals, leaves = torch_stack(cell, X, state0, layers, D=2)
    assert_close(H, out.detach().numpy(), "output")
    for name, a, e in zip(("h_n", "c_n"), as_pair(cell, state_n), finals, strict=False):
        assert_close(a, e.detach().numpy(), name)
    gX, gstate0, (g_f, g_b) = torch_stack_grads(module, cell, leaves, out, finals, dH, dstate_n, D=2)
    assert_close(dX, gX, "dX")
    for name, a, e in zip(("dH0", "dC0"), as_pair(cell, dstate0), gstate0, strict=False):
        assert_close(a, e, name)
    for direction, ours, theirs in (("forward", dparams_f, g_f), ("backward", dparams_b, g_b)):
        for j, (a, e) in enumerate(zip(ours, theirs, strict=True)):
            assert_close(a, e, f"{direction} parameter {j}")


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_layout_halves_and_final_states(cell):
    """output[t] = [forward H_t | backward H_t]; h_n = [forward H_T, backward H_1]."""
    X, state0, (p_f, p_b), _, _ = make_stack(11, cell, 5, 2, 3, 4, 1, D=2)
    H, state_n, _ = bidirectional_forward(X, state0, p_f, p_b, cell)
    s0 = as_pair(cell, state0)
    run = {"rnn": rnn_forward, "gru": gru_forward, "lstm": lstm_forward}[cell]
    H_f, _ = run(X, *(s[0] for s in s0), *p_f)
    H_b_reversed, _ = run(X[::-1].copy(), *(s[1] for s in s0), *p_b)
    assert_close(H[..., :4], H_f, "forward half")
    assert_close(H[..., 4:], H_b_reversed[::-1], "backward half, re-aligned with X")
    H_n = as_pair(cell, state_n)[0]
    assert_close(H_n[0], H[-1, :, :4], "h_n[0] is the forward state after X_T")
    assert_close(H_n[1], H[0, :, 4:], "h_n[1] is the backward state after X_1")


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_bidirectional_backward_matches_numeric_gradient(cell):
    X, state0, (p_f, p_b), dH, _ = make_stack(12, cell, 3, 2, 2, 2, 1, D=2)
    _, _, cache = bidirectional_forward(X, state0, p_f, p_b, cell)
    dX, dstate0, dp_f, dp_b = bidirectional_backward(dH, cache)
    out = lambda _: bidirectional_forward(X, state0, p_f, p_b, cell)[0]
    assert_numeric(dX, numerical_gradient(out, X, dH), "dX")
    for name, s, ds in zip(("dH0", "dC0"), as_pair(cell, state0), as_pair(cell, dstate0), strict=False):
        assert_numeric(ds, numerical_gradient(out, s, dH), name)
    for direction, params, grads in (("forward", p_f, dp_f), ("backward", p_b, dp_b)):
        for j, (p, g) in enumerate(zip(params, grads, strict=True)):
            assert_numeric(g, numerical_gradient(out, p, dH), f"{direction} parameter {j}")


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("reverse", [False, True])
def test_one_direction_layer_matches_the_cell_and_numeric_gradients(cell, reverse):
    """layer_forward runs the course's cell; reversed, it reads X_T first and stays aligned."""
    X, state0, (params, _), dH, dstate_n = make_stack(14, cell, 4, 2, 3, 2, 1, D=2)
    state0 = tuple(s[0] for s in as_pair(cell, state0))
    dfinal = tuple(s[0] for s in as_pair(cell, dstate_n))
    unwrap = (lambda s: s) if cell == "lstm" else (lambda s: s[0])
    H, final, cache = layer_forward(X, unwrap(state0), params, cell, reverse=reverse)
    run = {"rnn": rnn_forward, "gru": gru_forward, "lstm": lstm_forward}[cell]
    order = slice(None, None, -1) if reverse else slice(None)
    H_cell, _ = run(X[order].copy(), *state0, *params)
    assert_close(H, H_cell[order], "H")
    assert_close(as_pair(cell, final)[0], H_cell[-1], "final H")
    dX, dstate0, dparams = layer_backward(dH[..., :2], cache, unwrap(dfinal))

    def objective(_):
        H, final, _ = layer_forward(X, unwrap(state0), params, cell, reverse=reverse)
        return np.sum(H * dH[..., :2]) + sum(np.sum(f * g) for f, g in
                                              zip(as_pair(cell, final), dfinal, strict=True))

    assert_numeric(dX, numerical_gradient(objective, X), "dX")
    for name, s, ds in zip(("dH0", "dC0"), state0, as_pair(cell, dstate0), strict=False):
        assert_numeric(ds, numerical_gradient(objective, s), name)
    for j, (p, g) in enumerate(zip(params, dparams, strict=True)):
        assert_numeric(g, numerical_gradient(objective, p), f"parameter {j}")


def test_bad_arguments_are_named():
    X, H0, (p_f, p_b), dH, _ = make_stack(13, "rnn", 3, 2, 2, 4, 1, D=2)
    with pytest.raises(ValueError, match=r"state0 \(H\): expected shape \(2, 2, 4\), got \(1, 2, 4\)"):
        bidirectional_forward(X, H0[:1], p_f, p_b)
    with pytest.raises(ValueError, match=r"params_bwd W_xh: expected shape \(2, 4\), got \(3, 4\)"):
        bidirectional_forward(X, H0, p_f, (np.zeros((3, 4)), *p_b[1:]))
    _, _, cache = bidirectional_forward(X, H0, p_f, p_b)
    with pytest.raises(ValueError, match=r"dH: expected shape \(3, 2, 8\), got \(3, 2, 4\)"):
        bidirectional_backward(dH[..., :4], cache)
    with pytest.raises(TypeError, match="cache returned by bidirectional_forward"):
        bidirectional_backward(dH, None)
    with pytest.raises(ValueError, match=r"state0 \(H\): expected shape \(2, 4\), got \(2, 3\)"):
        layer_forward(X, H0[0, :, :3], p_f)
    with pytest.raises(TypeError, match=r"params: expected a tuple of 3 arrays"):
        layer_forward(X, H0[0], p_f[:2])
    with pytest.raises(ValueError, match="X: expected at least one time step"):
        bidirectional_forward(X[:0], H0, p_f, p_b)
