"""Embedding lookup against torch.nn.Embedding (float64), numeric gradients and repeated indices."""

import numpy as np
import pytest
import torch
from _oracles import assert_close, assert_numeric, copy_into, randn

from rnn_lib import embedding_backward, embedding_forward, numerical_gradient


def make(seed, shape, V, e):
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, V, size=shape)
    return idx, randn(rng, V, e), randn(rng, *shape, e)


@pytest.mark.parametrize("shape,V,e", [((1, 1), 1, 1), ((1, 4), 3, 2), ((5, 1), 7, 3),
                                       ((6, 3), 5, 4), ((7,), 4, 2)])
@pytest.mark.parametrize("padding_idx", [None, 0])
def test_embedding_matches_torch(shape, V, e, padding_idx):
    idx, W_e, dX = make(0, shape, V, e)
    X, cache = embedding_forward(idx, W_e, padding_idx=padding_idx)
    dW_e = embedding_backward(dX, cache)
    module = torch.nn.Embedding(V, e, padding_idx=padding_idx).double()
    copy_into(module, weight=W_e)
    out = module(torch.tensor(idx))
    (out * torch.tensor(dX)).sum().backward()
    assert_close(X, out.detach().numpy(), "X")
    assert_close(dW_e, module.weight.grad.numpy(), "dW_e")


def test_repeated_indices_accumulate():
    W_e = np.arange(6.0).reshape(3, 2)
    idx = np.array([[2, 2], [0, 2]])  # token 2 three times, token 1 never
    X, cache = embedding_forward(idx, W_e)
    assert_close(X[0, 0], W_e[2])
    dW_e = embedding_backward(np.ones((2, 2, 2)), cache)
    assert_close(dW_e, np.array([[1.0, 1.0], [0.0, 0.0], [3.0, 3.0]]), "dW_e")


def test_embedding_equals_onehot_times_matrix_and_numeric_gradient():
    idx, W_e, dX = make(1, (4, 3), 6, 5)
    X, cache = embedding_forward(idx, W_e)
    assert_close(X, np.eye(6)[idx] @ W_e, "one-hot product")
    numeric = numerical_gradient(lambda _: embedding_forward(idx, W_e)[0], W_e, dX)
    assert_numeric(embedding_backward(dX, cache), numeric, "dW_e")


def test_float32_stays_float32():
    idx, W_e, dX = make(2, (3, 2), 4, 3)
    X, cache = embedding_forward(idx, W_e.astype(np.float32))
    assert X.dtype == np.float32
    assert embedding_backward(dX.astype(np.float32), cache).dtype == np.float32


@pytest.mark.parametrize(
    "call,error,message",
    [
        (lambda W: embedding_forward(np.array([[0, 4]]), W), ValueError,
         r"idx: expected indices in \[0, 4\), got values in \[0, 4\]"),
        (lambda W: embedding_forward(np.array([[-1]]), W), ValueError, r"idx: expected indices in"),
        (lambda W: embedding_forward(np.array([[0.0]]), W), TypeError, "idx: expected integer"),
        (lambda W: embedding_forward(np.array([0]), W[0]), ValueError, "W_e: expected a 2-D array"),
        (lambda W: embedding_forward(np.array([0]), W, padding_idx=4), ValueError, "padding_idx"),
        (lambda W: embedding_backward(np.zeros((1, 2)), embedding_forward(np.array([0]), W)[1]),
         ValueError, r"dX: expected shape \(1, 3\), got \(1, 2\)"),
        (lambda W: embedding_backward(np.zeros((1, 3)), None), TypeError, "embedding_forward"),
    ],
)
def test_bad_arguments_are_named(call, error, message):
    with pytest.raises(error, match=message):
        call(np.zeros((4, 3)))
