"""Output layer, softmax cross-entropy, perplexity, clipping and the gradient checker."""

import math

import numpy as np
import pytest
import torch
from _oracles import assert_close, randn, tensors, vjp

from rnn_lib import (
    clip_gradients,
    numerical_gradient,
    output_backward,
    output_forward,
    perplexity,
    relative_error,
    softmax_cross_entropy,
)
from rnn_lib.optim import SGD, Adagrad


@pytest.mark.parametrize("lead", [(3,), (4, 3), (1, 1)])
def test_output_layer_matches_autograd(lead):
    rng = np.random.default_rng(0)
    H, W_hq, b_q = randn(rng, *lead, 5), randn(rng, 5, 7), randn(rng, 7)
    dO = randn(rng, *lead, 7)
    O, cache = output_forward(H, W_hq, b_q)
    leaves = tensors(H, W_hq, b_q)
    Ot = leaves[0] @ leaves[1] + leaves[2]
    assert_close(O, Ot.detach().numpy())
    for name, a, e in zip(("dH", "dW_hq", "db_q"), output_backward(dO, cache), vjp(Ot, dO, leaves),
                          strict=True):
        assert_close(a, e, name)


@pytest.mark.parametrize("shape", [(4, 3), (1, 1), (5,)])
def test_softmax_cross_entropy_matches_torch(shape):
    rng = np.random.default_rng(1)
    O = randn(rng, *shape, 6, scale=3.0)
    Y = rng.integers(0, 6, size=shape)
    loss, dO = softmax_cross_entropy(O, Y)
    Ot = tensors(O)[0]
    expected = torch.nn.functional.cross_entropy(Ot.reshape(-1, 6), torch.tensor(Y.reshape(-1)))
    expected.backward()
    assert loss == pytest.approx(expected.item(), rel=1e-12)
    assert_close(dO, Ot.grad.numpy())


def test_loss_is_a_mean_not_a_sum():
    O = np.zeros((2, 3, 4))  # uniform over 4 classes at each of 6 tokens
    loss, dO = softmax_cross_entropy(O, np.zeros((2, 3), dtype=int))
    assert loss == pytest.approx(math.log(4))
    assert dO[0, 0, 0] == pytest.approx((0.25 - 1) / 6)


def test_softmax_cross_entropy_gradient_is_numeric_gradient():
    rng = np.random.default_rng(2)
    O, Y = randn(rng, 3, 2, 5), rng.integers(0, 5, size=(3, 2))
    _, dO = softmax_cross_entropy(O, Y)
    assert relative_error(dO, numerical_gradient(lambda o: softmax_cross_entropy(o, Y)[0], O)) < 1e-7


def test_loss_is_stable_for_huge_logits():
    loss, dO = softmax_cross_entropy(np.array([[1000.0, 0.0]]), np.array([1]))
    assert loss == pytest.approx(1000.0)
    assert np.isfinite(dO).all()


def test_perplexity_best_uniform_and_worst_case():
    V = 28
    uniform_loss, _ = softmax_cross_entropy(np.zeros((10, 2, V)), np.ones((10, 2), dtype=int))
    assert perplexity(uniform_loss) == pytest.approx(V)
    perfect = np.full((3, 1, V), -1e4)
    perfect[:, 0, 5] = 1e4
    assert perplexity(softmax_cross_entropy(perfect, np.full((3, 1), 5))[0]) == pytest.approx(1.0)
    assert perplexity(1e6) == math.inf
    with pytest.raises(ValueError, match="mean_nll"):
        perplexity(-0.5)


def test_bad_targets_are_reported():
    with pytest.raises(ValueError, match=r"Y: expected class indices in \[0, 3\), got values in \[0, 3\]"):
        softmax_cross_entropy(np.zeros((2, 3)), np.array([0, 3]))
    with pytest.raises(TypeError, match="Y: expected integer"):
        softmax_cross_entropy(np.zeros((2, 3)), np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"Y: expected shape \(2, 4\), got \(4, 2\)"):
        softmax_cross_entropy(np.zeros((2, 4, 3)), np.zeros((4, 2), dtype=int))


def test_clip_gradients_bounds_norm_and_keeps_direction():
    grads = {"a": np.array([3.0, 0.0]), "b": np.array([[0.0, 4.0]])}
    clipped, norm = clip_gradients(grads, max_norm=1.0)
    assert norm == pytest.approx(5.0)
    assert_close(clipped["a"], [0.6, 0.0])
    assert_close(clipped["b"], [[0.0, 0.8]])
    assert grads["a"][0] == 3.0, "the inputs must not be modified"
    small, norm = clip_gradients([np.array([0.1, 0.2])], max_norm=1.0)
    assert_close(small[0], [0.1, 0.2])
    with pytest.raises(ValueError, match="max_norm"):
        clip_gradients(grads, 0.0)


def test_clip_gradients_random_direction_preserved():
    rng = np.random.default_rng(3)
    grads = [randn(rng, 4, 5, scale=10), randn(rng, 5)]
    clipped, norm = clip_gradients(grads, max_norm=2.0)
    flat = np.concatenate([g.ravel() for g in grads])
    flat_clipped = np.concatenate([g.ravel() for g in clipped])
    assert np.linalg.norm(flat_clipped) == pytest.approx(2.0)
    assert_close(flat_clipped / 2.0, flat / np.linalg.norm(flat))


def test_optimisers_minimise_a_quadratic():
    for make in (lambda p: SGD(p, lr=0.1), lambda p: Adagrad(p, lr=0.5)):
        params = {"w": np.array([3.0, -2.0])}
        opt = make(params)
        for _ in range(300):
            opt.step({"w": 2 * params["w"]})
        assert np.abs(params["w"]).max() < 1e-2
    with pytest.raises(KeyError, match="expected keys"):
        SGD({"w": np.zeros(2)}, lr=0.1).step({"v": np.zeros(2)})


def test_numerical_gradient_of_known_functions():
    x = np.array([1.0, -2.0, 0.5])
    assert_close(numerical_gradient(lambda v: np.sum(v**3), x), 3 * x**2, atol=1e-8)
    df = np.array([1.0, 2.0, 3.0])
    assert_close(numerical_gradient(np.sin, x, df), np.cos(x) * df, atol=1e-8)
    assert_close(x, [1.0, -2.0, 0.5])  # restored after perturbation
    with pytest.raises(ValueError, match="scalar output"):
        numerical_gradient(np.sin, x)


def test_relative_error_definition():
    assert relative_error(np.array([1.0, 2.0]), np.array([1.0, 2.0])) == 0.0
    assert relative_error(np.array([1.0]), np.array([3.0])) == pytest.approx(0.5)
    assert relative_error(np.array([0.0]), np.array([1e-12])) == pytest.approx(1e-4)
