"""The vanilla RNN against torch.nn.RNN (float64), numeric gradients and fixed values."""

import numpy as np
import pytest
import torch
from _oracles import SHAPES, assert_close, copy_into, randn, tensors, vjp

from rnn_lib import (
    numerical_gradient,
    relative_error,
    rnn_backward,
    rnn_forward,
    rnn_step_backward,
    rnn_step_forward,
)


def make_rnn(seed, T, n, d, h):
    rng = np.random.default_rng(seed)
    return (randn(rng, T, n, d), randn(rng, n, h), randn(rng, d, h, scale=0.5),
            randn(rng, h, h, scale=0.5), randn(rng, h, scale=0.3), randn(rng, T, n, h))


def torch_rnn(X, H0, W_xh, W_hh, b_h):
    """torch.nn.RNN with our weights copied in (it stores the transposes)."""
    d, h = W_xh.shape
    rnn = torch.nn.RNN(d, h, nonlinearity="tanh").double()
    copy_into(rnn, weight_ih_l0=W_xh.T, weight_hh_l0=W_hh.T, bias_ih_l0=b_h,
              bias_hh_l0=np.zeros(h))
    return rnn


@pytest.mark.parametrize("T,n,d,h", SHAPES)
def test_rnn_forward_backward_match_torch_nn_rnn(T, n, d, h):
    X, H0, W_xh, W_hh, b_h, dH = make_rnn(0, T, n, d, h)
    H, cache = rnn_forward(X, H0, W_xh, W_hh, b_h)
    dX, dH0, dW_xh, dW_hh, db_h = rnn_backward(dH, cache)

    rnn = torch_rnn(X, H0, W_xh, W_hh, b_h)
    Xt, H0t = tensors(X, H0[None])
    Ht, _ = rnn(Xt, H0t)
    assert_close(H, Ht.detach().numpy(), "H")
    leaves = [Xt, H0t, rnn.weight_ih_l0, rnn.weight_hh_l0, rnn.bias_ih_l0]
    gX, gH0, gWih, gWhh, gb = vjp(Ht, dH, leaves)
    assert_close(dX, gX, "dX")
    assert_close(dH0, gH0[0], "dH0")
    assert_close(dW_xh, gWih.T, "dW_xh")
    assert_close(dW_hh, gWhh.T, "dW_hh")
    assert_close(db_h, gb, "db_h")


@pytest.mark.parametrize("T,n,d,h", SHAPES)
def test_rnn_step_matches_autograd_of_the_formula(T, n, d, h):
    X, H0, W_xh, W_hh, b_h, dH = make_rnn(1, T, n, d, h)
    H, cache = rnn_step_forward(X[0], H0, W_xh, W_hh, b_h)
    grads = rnn_step_backward(dH[0], cache)
    leaves = tensors(X[0], H0, W_xh, W_hh, b_h)
    Xt, Ht_prev, Wx, Wh, b = leaves
    Ht = torch.tanh(Xt @ Wx + Ht_prev @ Wh + b)
    assert_close(H, Ht.detach().numpy())
    for name, ours, theirs in zip(("dX", "dH_prev", "dW_xh", "dW_hh", "db_h"), grads,
                                  vjp(Ht, dH[0], leaves), strict=True):
        assert_close(ours, theirs, name)


def test_rnn_step_backward_matches_numeric_gradient():
    X, H0, W_xh, W_hh, b_h, dH = make_rnn(2, 1, 3, 4, 5)
    X, dH = X[0], dH[0]
    _, cache = rnn_step_forward(X, H0, W_xh, W_hh, b_h)
    analytic = rnn_step_backward(dH, cache)
    for arg, ours in zip((X, H0, W_xh, W_hh, b_h), analytic, strict=True):
        numeric = numerical_gradient(lambda _: rnn_step_forward(X, H0, W_xh, W_hh, b_h)[0],
                                     arg, dH)
        assert relative_error(ours, numeric) < 1e-7


def test_rnn_backward_matches_numeric_gradient_through_time():
    X, H0, W_xh, W_hh, b_h, dH = make_rnn(3, 5, 2, 3, 4)
    _, cache = rnn_forward(X, H0, W_xh, W_hh, b_h)
    analytic = rnn_backward(dH, cache)
    for arg, ours in zip((X, H0, W_xh, W_hh, b_h), analytic, strict=True):
        numeric = numerical_gradient(lambda _: rnn_forward(X, H0, W_xh, W_hh, b_h)[0], arg, dH)
        assert relative_error(ours, numeric) < 1e-7


def test_sequence_forward_equals_repeated_steps():
    X, H0, W_xh, W_hh, b_h, _ = make_rnn(4, 5, 3, 2, 4)
    H, _ = rnn_forward(X, H0, W_xh, W_hh, b_h)
    H_prev = H0
    for t in range(5):
        H_prev, _ = rnn_step_forward(X[t], H_prev, W_xh, W_hh, b_h)
        assert_close(H[t], H_prev, f"H[{t}]")


def test_fixed_value_step():
    # One example, d = h = 1: H = tanh(2 * 0.5 + 1 * (-1) + 0.25) = tanh(0.25).
    H, cache = rnn_step_forward(np.array([[2.0]]), np.array([[1.0]]), np.array([[0.5]]),
                                np.array([[-1.0]]), np.array([0.25]))
    assert H[0, 0] == pytest.approx(np.tanh(0.25), abs=1e-15)
    dX, dH_prev, dW_xh, dW_hh, db = rnn_step_backward(np.array([[1.0]]), cache)
    local = 1 - np.tanh(0.25) ** 2
    assert dX[0, 0] == pytest.approx(0.5 * local)
    assert dH_prev[0, 0] == pytest.approx(-local)
    assert dW_xh[0, 0] == pytest.approx(2 * local)
    assert dW_hh[0, 0] == pytest.approx(local)
    assert db[0] == pytest.approx(local)


def test_float32_inputs_stay_float32():
    X, H0, W_xh, W_hh, b_h, dH = (a.astype(np.float32) for a in make_rnn(5, 3, 2, 3, 4))
    H, cache = rnn_forward(X, H0, W_xh, W_hh, b_h)
    assert H.dtype == np.float32
    assert all(g.dtype == np.float32 for g in rnn_backward(dH, cache))


@pytest.mark.parametrize(
    "change,message",
    [
        (lambda a: {**a, "W_hh": np.zeros((4, 3))}, r"W_hh: expected shape \(4, 4\), got \(4, 3\)"),
        (lambda a: {**a, "b_h": np.zeros((1, 4))}, r"b_h: expected a 1-D array, got shape \(1, 4\)"),
        (lambda a: {**a, "X": np.zeros((3, 2, 5))}, r"X: expected shape \(\?, \?, 3\), got \(3, 2, 5\)"),
        (lambda a: {**a, "H0": np.zeros((3, 4))}, r"H0: expected shape \(2, 4\), got \(3, 4\)"),
        (lambda a: {**a, "X": np.zeros((3, 2, 3), dtype=int)}, "X: expected a floating dtype"),
        (lambda a: {**a, "W_xh": a["W_xh"].astype(np.float32)}, "one floating dtype"),
    ],
)
def test_bad_input_names_argument_and_shapes(change, message):
    X, H0, W_xh, W_hh, b_h, _ = make_rnn(6, 3, 2, 3, 4)
    args = change(dict(X=X, H0=H0, W_xh=W_xh, W_hh=W_hh, b_h=b_h))
    with pytest.raises((ValueError, TypeError), match=message):
        rnn_forward(**args)


def test_backward_rejects_wrong_cache_and_shape():
    X, H0, W_xh, W_hh, b_h, dH = make_rnn(7, 3, 2, 3, 4)
    H, cache = rnn_forward(X, H0, W_xh, W_hh, b_h)
    with pytest.raises(TypeError, match="cache returned by rnn_forward"):
        rnn_backward(dH, (X, H))
    with pytest.raises(ValueError, match=r"dH: expected shape \(3, 2, 4\)"):
        rnn_backward(dH[:2], cache)
