"""Additive (Bahdanau) attention against torch autograd of the same formula, and numeric gradients."""

import numpy as np
import pytest
import torch
from _oracles import assert_close, assert_numeric, randn, tensors, vjp

from rnn_lib import attention_backward, attention_forward, length_mask, numerical_gradient

# (T, n, h_q, h_k, a): one position, one example, and a batch.
ATT_SHAPES = [(1, 1, 1, 1, 1), (1, 3, 2, 4, 3), (5, 1, 3, 2, 4), (6, 4, 3, 5, 2)]


def make(seed, T, n, h_q, h_k, a):
    rng = np.random.default_rng(seed)
    return (randn(rng, n, h_q), randn(rng, T, n, h_k), randn(rng, h_q, a, scale=0.7),
            randn(rng, h_k, a, scale=0.7), randn(rng, a), randn(rng, n, h_k))


def random_mask(seed, T, n):
    lengths = np.random.default_rng(seed).integers(1, T + 1, size=n)
    return length_mask(lengths, T)


def torch_attention(S, H_enc, W_q, W_k, v, mask):
    """Autograd on eqs. (ch7-attention-score)-(ch7-attention-context)."""
    E = torch.tanh((S @ W_q)[None] + H_enc @ W_k)
    scores = (E @ v).masked_fill(~torch.tensor(mask), float("-inf"))
    alpha = torch.softmax(scores, dim=0)
    return (alpha[..., None] * H_enc).sum(dim=0), alpha


@pytest.mark.parametrize("T,n,h_q,h_k,a", ATT_SHAPES)
@pytest.mark.parametrize("masked", [False, True])
def test_attention_matches_torch_autograd(T, n, h_q, h_k, a, masked):
    S, H_enc, W_q, W_k, v, dc = make(0, T, n, h_q, h_k, a)
    mask = random_mask(1, T, n) if masked else np.ones((T, n), dtype=bool)
    (context, alpha), cache = attention_forward(S, H_enc, W_q, W_k, v, mask if masked else None)
    grads = attention_backward(dc, cache)
    leaves = tensors(S, H_enc, W_q, W_k, v)
    ct, alpha_t = torch_attention(*leaves, mask)
    assert_close(context, ct.detach().numpy(), "context")
    assert_close(alpha, alpha_t.detach().numpy(), "alpha")
    for name, ours, theirs in zip(("dS", "dH_enc", "dW_q", "dW_k", "dv"), grads, vjp(ct, dc, leaves),
                                  strict=True):
        assert_close(ours, theirs, name)


@pytest.mark.parametrize("masked", [False, True])
def test_attention_backward_matches_numeric_gradient(masked):
    S, H_enc, W_q, W_k, v, dc = make(2, 4, 3, 2, 3, 2)
    mask = random_mask(3, 4, 3) if masked else None
    _, cache = attention_forward(S, H_enc, W_q, W_k, v, mask)
    grads = attention_backward(dc, cache)
    context = lambda _: attention_forward(S, H_enc, W_q, W_k, v, mask)[0][0]
    for name, arg, ours in zip(("dS", "dH_enc", "dW_q", "dW_k", "dv"), (S, H_enc, W_q, W_k, v), grads,
                               strict=True):
        assert_numeric(ours, numerical_gradient(context, arg, dc), name)


def test_weights_are_a_distribution_and_padding_gets_none():
    S, H_enc, W_q, W_k, v, dc = make(4, 5, 3, 2, 3, 4)
    mask = length_mask(np.array([5, 2, 1]), 5)
    (context, alpha), cache = attention_forward(S, H_enc, W_q, W_k, v, mask)
    assert_close(alpha.sum(axis=0), np.ones(3), "sum of alpha")
    assert (alpha[~mask] == 0).all() and (alpha[mask] > 0).all()
    assert_close(context[2], H_enc[0, 2], "a length-1 source is copied")
    _, dH_enc, *_ = attention_backward(dc, cache)
    assert (dH_enc[~mask] == 0).all(), "padding receives no gradient"


def test_zero_scores_average_the_encoder_states():
    S, H_enc, W_q, W_k, _, _ = make(5, 4, 2, 3, 3, 2)
    (context, alpha), _ = attention_forward(S, H_enc, W_q, W_k, np.zeros(2))
    assert_close(alpha, np.full((4, 2), 0.25), "uniform weights")
    assert_close(context, H_enc.mean(axis=0), "mean of the states")


@pytest.mark.parametrize(
    "change,error,message",
    [
        (lambda a: {**a, "S": np.zeros((3, 3))}, ValueError, r"S: expected shape \(2, \?\), got \(3, 3\)"),
        (lambda a: {**a, "W_k": np.zeros((4, 2))}, ValueError, r"W_k: expected shape \(3, 4\), got \(4, 2\)"),
        (lambda a: {**a, "v": np.zeros(3)}, ValueError, r"v: expected shape \(4,\), got \(3,\)"),
        (lambda a: {**a, "mask": np.ones((5, 2))}, TypeError, "mask: expected a bool array"),
        (lambda a: {**a, "mask": np.zeros((5, 2), dtype=bool)}, ValueError,
         "mask: expected at least one True position per example"),
    ],
)
def test_bad_arguments_are_named(change, error, message):
    args = change(dict(S=np.zeros((2, 3)), H_enc=np.zeros((5, 2, 3)), W_q=np.zeros((3, 4)),
                       W_k=np.zeros((3, 4)), v=np.zeros(4)))
    with pytest.raises(error, match=message):
        attention_forward(**args)


def test_length_mask_checks_lengths():
    assert_close(length_mask(np.array([2, 1]), 3), np.array([[1, 1], [1, 0], [0, 0]], dtype=bool))
    with pytest.raises(ValueError, match=r"lengths: expected values in \[1, 3\]"):
        length_mask(np.array([0, 3]), 3)
