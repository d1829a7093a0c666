"""Gated RNN, LSTM and GRU against torch (nn.LSTM / nn.GRU with copied weights, float64)."""

import numpy as np
import pytest
import torch
from _oracles import SHAPES, assert_close, copy_into, randn, tensors, vjp

from rnn_lib import (
    gated_backward,
    gated_forward,
    gated_step_backward,
    gated_step_forward,
    gru_backward,
    gru_forward,
    gru_step_backward,
    gru_step_forward,
    lstm_backward,
    lstm_forward,
    lstm_step_backward,
    lstm_step_forward,
    numerical_gradient,
    relative_error,
)


def params(seed, T, n, d, h, blocks, biases=1):
    rng = np.random.default_rng(seed)
    return (randn(rng, T, n, d), randn(rng, n, h), randn(rng, d, blocks * h, scale=0.6),
            randn(rng, h, blocks * h, scale=0.6),
            *[randn(rng, blocks * h, scale=0.4) for _ in range(biases)], randn(rng, T, n, h))


def torch_gated(X, H0, W_x, W_h, b):
    """Autograd on the same formula (torch has no gated-RNN module)."""
    h = H0.shape[1]
    H_prev, states = H0, []
    for X_t in X:
        A = X_t @ W_x + H_prev @ W_h + b
        G, Htilde = torch.sigmoid(A[:, :h]), torch.tanh(A[:, h:])
        H_prev = (1 - G) * H_prev + G * Htilde
        states.append(H_prev)
    return torch.stack(states)


@pytest.mark.parametrize("T,n,d,h", SHAPES)
def test_gated_rnn_matches_autograd(T, n, d, h):
    X, H0, W_x, W_h, b, dH = params(0, T, n, d, h, blocks=2)
    H, cache = gated_forward(X, H0, W_x, W_h, b)
    ours = gated_backward(dH, cache)
    leaves = tensors(X, H0, W_x, W_h, b)
    Ht = torch_gated(*leaves)
    assert_close(H, Ht.detach().numpy(), "H")
    for name, a, e in zip(("dX", "dH0", "dW_x", "dW_h", "db"), ours, vjp(Ht, dH, leaves), strict=True):
        assert_close(a, e, name)


def test_gated_step_fixed_values_and_saturated_gate():
    X, H_prev = np.array([[1.0]]), np.array([[0.5]])
    # Gate pre-activation 0 -> g = 1/2; candidate pre-activation 0 -> tanh = 0.
    H, _ = gated_step_forward(X, H_prev, np.zeros((1, 2)), np.zeros((1, 2)), np.zeros(2))
    assert H[0, 0] == pytest.approx(0.25)
    # A gate saturated shut (-40) copies the state and passes its gradient unchanged.
    H, cache = gated_step_forward(X, H_prev, np.zeros((1, 2)), np.zeros((1, 2)), np.array([-40.0, 3.0]))
    assert H[0, 0] == pytest.approx(0.5, abs=1e-15)
    _, dH_prev, _, _, db = gated_step_backward(np.array([[1.0]]), cache)
    assert dH_prev[0, 0] == pytest.approx(1.0, abs=1e-15)
    assert abs(db).max() < 1e-15


def torch_lstm(W_x, W_h, b):
    d, four_h = W_x.shape
    lstm = torch.nn.LSTM(d, four_h // 4).double()
    copy_into(lstm, weight_ih_l0=W_x.T, weight_hh_l0=W_h.T, bias_ih_l0=b,
              bias_hh_l0=np.zeros_like(b))
    return lstm


@pytest.mark.parametrize("T,n,d,h", SHAPES)
def test_lstm_matches_torch_nn_lstm(T, n, d, h):
    X, H0, W_x, W_h, b, dH = params(1, T, n, d, h, blocks=4)
    C0 = np.random.default_rng(9).standard_normal((n, h))
    H, cache = lstm_forward(X, H0, C0, W_x, W_h, b)
    dX, dH0, dC0, dW_x, dW_h, db = lstm_backward(dH, cache)

    lstm = torch_lstm(W_x, W_h, b)
    Xt, H0t, C0t = tensors(X, H0[None], C0[None])
    Ht, _ = lstm(Xt, (H0t, C0t))
    assert_close(H, Ht.detach().numpy(), "H")
    g = vjp(Ht, dH, [Xt, H0t, C0t, lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0])
    for name, a, e in zip(("dX", "dH0", "dC0", "dW_x", "dW_h", "db"),
                          (dX, dH0, dC0, dW_x, dW_h, db),
                          (g[0], g[1][0], g[2][0], g[3].T, g[4].T, g[5]), strict=True):
        assert_close(a, e, name)


def test_lstm_step_cell_gradient_matches_numeric():
    X, H0, W_x, W_h, b, dH = params(2, 1, 2, 3, 4, blocks=4)
    C0, dC = np.random.default_rng(3).standard_normal((2, 2, 4))
    H, C, cache = lstm_step_forward(X[0], H0, C0, W_x, W_h, b)
    grads = lstm_step_backward(dH[0], dC, cache)

    def both_outputs(_):
        H, C, _ = lstm_step_forward(X[0], H0, C0, W_x, W_h, b)
        return np.concatenate([H, C])

    upstream = np.concatenate([dH[0], dC])
    for arg, ours in zip((X[0], H0, C0, W_x, W_h, b), grads, strict=True):
        assert relative_error(ours, numerical_gradient(both_outputs, arg, upstream)) < 1e-7


def test_lstm_forget_gate_open_keeps_the_cell():
    h = 2
    b = np.zeros(4 * h)
    b[:h], b[h:2 * h] = -40.0, 40.0  # input gate shut, forget gate open
    C_prev = np.array([[0.3, -0.7]])
    _, C, _ = lstm_step_forward(np.ones((1, 1)), np.zeros((1, h)), C_prev,
                                np.zeros((1, 4 * h)), np.zeros((h, 4 * h)), b)
    assert_close(C, C_prev, "C", atol=1e-15)


def torch_gru(W_x, W_h, b_x, b_h):
    d, three_h = W_x.shape
    gru = torch.nn.GRU(d, three_h // 3).double()
    copy_into(gru, weight_ih_l0=W_x.T, weight_hh_l0=W_h.T, bias_ih_l0=b_x, bias_hh_l0=b_h)
    return gru


@pytest.mark.parametrize("T,n,d,h", SHAPES)
def test_gru_matches_torch_nn_gru(T, n, d, h):
    X, H0, W_x, W_h, b_x, b_h, dH = params(4, T, n, d, h, blocks=3, biases=2)
    H, cache = gru_forward(X, H0, W_x, W_h, b_x, b_h)
    ours = gru_backward(dH, cache)
    gru = torch_gru(W_x, W_h, b_x, b_h)
    Xt, H0t = tensors(X, H0[None])
    Ht, _ = gru(Xt, H0t)
    assert_close(H, Ht.detach().numpy(), "H")
    g = vjp(Ht, dH, [Xt, H0t, gru.weight_ih_l0, gru.weight_hh_l0, gru.bias_ih_l0, gru.bias_hh_l0])
    for name, a, e in zip(("dX", "dH0", "dW_x", "dW_h", "db_x", "db_h"), ours,
                          (g[0], g[1][0], g[2].T, g[3].T, g[4], g[5]), strict=True):
        assert_close(a, e, name)


def test_gru_step_backward_matches_numeric_gradient():
    X, H0, W_x, W_h, b_x, b_h, dH = params(5, 1, 3, 2, 3, blocks=3, biases=2)
    _, cache = gru_step_forward(X[0], H0, W_x, W_h, b_x, b_h)
    grads = gru_step_backward(dH[0], cache)
    for arg, ours in zip((X[0], H0, W_x, W_h, b_x, b_h), grads, strict=True):
        numeric = numerical_gradient(lambda _: gru_step_forward(X[0], H0, W_x, W_h, b_x, b_h)[0],
                                     arg, dH[0])
        assert relative_error(ours, numeric) < 1e-7


def test_gated_step_backward_matches_numeric_gradient():
    X, H0, W_x, W_h, b, dH = params(6, 1, 3, 2, 3, blocks=2)
    _, cache = gated_step_forward(X[0], H0, W_x, W_h, b)
    grads = gated_step_backward(dH[0], cache)
    for arg, ours in zip((X[0], H0, W_x, W_h, b), grads, strict=True):
        numeric = numerical_gradient(lambda _: gated_step_forward(X[0], H0, W_x, W_h, b)[0], arg, dH[0])
        assert relative_error(ours, numeric) < 1e-7


def _zeros(*shapes):
    return [np.zeros(s) for s in shapes]


@pytest.mark.parametrize(
    "call,message",
    [
        (lambda: gated_step_forward(*_zeros((2, 3), (2, 4), (3, 4), (4, 8), 8)),
         r"W_x: expected shape \(3, 8\), got \(3, 4\)"),
        (lambda: lstm_step_forward(*_zeros((2, 3), (2, 4), (2, 5), (3, 16), (4, 16), 16)),
         r"C_prev: expected shape \(2, 4\), got \(2, 5\)"),
        (lambda: gru_step_forward(*_zeros((2, 3), (2, 4), (3, 12), (4, 12), 12, 16)),
         r"b_h: expected shape \(12,\), got \(16,\)"),
        (lambda: gru_step_forward(*_zeros((2, 3), (1, 4), (3, 12), (4, 12), 12, 12)),
         r"H_prev: expected shape \(2, 4\), got \(1, 4\)"),
    ],
)
def test_bad_shapes_are_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()
