"""The long-range memory task of chapter 5: data, models, export to rnn_lib, training."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnn_lib import gated_backward, gated_forward, gru_forward, lstm_forward, rnn_forward
from rnn_lib.memory_task import (
    CELLS,
    GatedRNNLayer,
    MemoryClassifier,
    delay_sweep,
    memory_accuracy,
    memory_task_batch,
    numpy_recurrent_weights,
    numpy_states_and_gates,
    train_memory_classifier,
)


@pytest.fixture(autouse=True)
def one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


# ------------------------------------------------------------------------------ data


def test_batch_layout():
    K, D, L, n = 3, 5, 7, 11
    X, Y = memory_task_batch(n, L, np.random.default_rng(0), num_symbols=K, num_distractors=D)
    assert X.shape == (L + 2, n, K + D + 1) and X.dtype == np.float32
    assert Y.shape == (n,) and Y.dtype == np.int64
    np.testing.assert_array_equal(X.sum(axis=2), 1.0)  # one-hot rows
    symbols = X.argmax(axis=2)
    np.testing.assert_array_equal(symbols[0], Y)
    assert np.all((symbols[1 : L + 1] >= K) & (symbols[1 : L + 1] < K + D))
    np.testing.assert_array_equal(symbols[-1], K + D)
    assert set(Y.tolist()) <= set(range(K))


def test_batch_zero_delay_and_determinism():
    X, Y = memory_task_batch(4, 0, np.random.default_rng(3))
    assert X.shape == (2, 4, 9)
    X2, Y2 = memory_task_batch(4, 0, np.random.default_rng(3))
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(Y, Y2)


def test_batch_uses_every_symbol():
    X, Y = memory_task_batch(2000, 3, np.random.default_rng(1))
    counts = np.bincount(Y, minlength=4)
    assert np.all(counts > 400)  # uniform messages: about 500 each
    distractors = X[1:4].argmax(axis=2)
    assert set(np.unique(distractors).tolist()) == {4, 5, 6, 7}


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"num_sequences": 0}, "num_sequences"),
        ({"delay": -1}, "delay"),
        ({"delay": 2.5}, "delay"),
        ({"num_symbols": 1}, "num_symbols"),
        ({"num_distractors": 0}, "num_distractors"),
    ],
)
def test_batch_rejects_bad_arguments(kwargs, match):
    args = {"num_sequences": 2, "delay": 3, "rng": np.random.default_rng(0)}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        memory_task_batch(**args)


def test_batch_rejects_legacy_random_state():
    with pytest.raises(TypeError, match="rng"):
        memory_task_batch(2, 3, np.random.RandomState(0))


# ---------------------------------------------------------------------------- models


def test_gated_layer_matches_rnn_lib_forward_and_backward():
    rng = np.random.default_rng(0)
    T, n, d, h = 5, 3, 4, 6
    layer = GatedRNNLayer(d, h).double()
    X = rng.standard_normal((T, n, d))
    H0 = rng.standard_normal((n, h))
    X_t = torch.tensor(X, requires_grad=True)
    H0_t = torch.tensor(H0, requires_grad=True)
    H_torch, H_last = layer(X_t, H0_t)
    W_x, W_h, b = (p.detach().numpy() for p in (layer.W_x, layer.W_h, layer.b))
    H_np, cache = gated_forward(X, H0, W_x, W_h, b)
    np.testing.assert_allclose(H_torch.detach().numpy(), H_np, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(H_last.detach().numpy(), H_torch[-1].detach().numpy())

    dH = rng.standard_normal((T, n, h))
    H_torch.backward(torch.tensor(dH))
    dX, dH0, dW_x, dW_h, db = gated_backward(dH, cache)
    for name, ours, theirs in [("X", dX, X_t.grad), ("H0", dH0, H0_t.grad),
                               ("W_x", dW_x, layer.W_x.grad), ("W_h", dW_h, layer.W_h.grad),
                               ("b", db, layer.b.grad)]:
        np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-10, atol=1e-12, err_msg=name)


@pytest.mark.parametrize(("cell", "block", "sign"), [("gated", 0, -1), ("gru", 1, 1),
                                                      ("lstm", 1, 1)])
def test_remember_bias_moves_only_the_keep_gate(cell, block, sign):
    h = 5
    plain = MemoryClassifier(cell, h, remember_bias=0.0, seed=2)
    biased = MemoryClassifier(cell, h, remember_bias=1.5, seed=2)
    b_plain, b_biased = (numpy_recurrent_weights(m)["b" if cell != "gru" else "b_x"]
                         for m in (plain, biased))
    expected = b_plain.copy()
    expected[block * h : (block + 1) * h] += sign * 1.5
    np.testing.assert_allclose(b_biased, expected, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(numpy_recurrent_weights(plain)["W_h"],
                                  numpy_recurrent_weights(biased)["W_h"])


def test_remember_bias_is_ignored_by_vanilla_rnn():
    a = numpy_recurrent_weights(MemoryClassifier("rnn", 4, remember_bias=3.0, seed=1))
    b = numpy_recurrent_weights(MemoryClassifier("rnn", 4, remember_bias=0.0, seed=1))
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])


def test_seed_controls_initialisation_and_leaves_global_state_alone():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    m1 = MemoryClassifier("lstm", 4, seed=7)
    after = torch.rand(1)
    assert torch.equal(before, after)  # fork_rng: the caller's stream is untouched
    m2 = MemoryClassifier("lstm", 4, seed=7)
    m3 = MemoryClassifier("lstm", 4, seed=8)
    w1, w2, w3 = (numpy_recurrent_weights(m)["W_x"] for m in (m1, m2, m3))
    np.testing.assert_array_equal(w1, w2)
    assert not np.allclose(w1, w3)


def test_classifier_rejects_bad_arguments():
    with pytest.raises(ValueError, match="cell"):
        MemoryClassifier("transformer", 4)
    with pytest.raises(ValueError, match="num_hiddens"):
        MemoryClassifier("gru", 0)
    with pytest.raises(ValueError, match="remember_bias"):
        MemoryClassifier("gru", 4, remember_bias="large")


# ------------------------------------------------------------------ export to rnn_lib


@pytest.mark.parametrize("cell", CELLS)
def test_numpy_replay_matches_torch_states(cell):
    model = MemoryClassifier(cell, 6, remember_bias=1.0, seed=4)
    X, _ = memory_task_batch(3, 6, np.random.default_rng(5))
    with torch.no_grad():
        H_torch = model.hidden_states(torch.from_numpy(X)).numpy()
    H_np, gates = numpy_states_and_gates(model, X)
    assert H_np.shape == (8, 3, 6) and H_np.dtype == np.float64
    np.testing.assert_allclose(H_np, H_torch, rtol=0, atol=1e-5)
    expected = {"rnn": set(), "gated": {"G"}, "gru": {"R", "Z"}, "lstm": {"I", "F", "O", "C"}}
    assert set(gates) == expected[cell]
    for name, values in gates.items():
        assert values.shape == (8, 3, 6)
        if name != "C":
            assert np.all((values > 0) & (values < 1)), name


@pytest.mark.parametrize("cell", CELLS)
def test_exported_weights_drive_rnn_lib_sequence_functions(cell):
    model = MemoryClassifier(cell, 5, seed=6).double()
    X, _ = memory_task_batch(2, 4, np.random.default_rng(7))
    X = X.astype(np.float64)
    with torch.no_grad():
        H_torch = model.hidden_states(torch.from_numpy(X)).numpy()
    w = numpy_recurrent_weights(model)
    H0 = np.zeros((2, 5))
    if cell == "rnn":
        H_np, _ = rnn_forward(X, H0, w["W_xh"], w["W_hh"], w["b_h"])
    elif cell == "gated":
        H_np, _ = gated_forward(X, H0, w["W_x"], w["W_h"], w["b"])
    elif cell == "gru":
        H_np, _ = gru_forward(X, H0, w["W_x"], w["W_h"], w["b_x"], w["b_h"])
    else:
        H_np, _ = lstm_forward(X, H0, H0, w["W_x"], w["W_h"], w["b"])
    np.testing.assert_allclose(H_np, H_torch, rtol=1e-12, atol=1e-12)


def test_replay_rejects_wrong_input_width():
    model = MemoryClassifier("gru", 4)
    with pytest.raises(ValueError, match=r"X: expected shape \(T, n, 9\)"):
        numpy_states_and_gates(model, np.zeros((3, 2, 8)))


# --------------------------------------------------------------------------- training


def test_gru_learns_a_short_delay_and_stops_early():
    model, losses = train_memory_classifier("gru", 5, steps=600, seed=0)
    assert len(losses) < 600  # the moving average fell below target_loss
    assert memory_accuracy(model, 5) == 1.0


def test_vanilla_rnn_fails_a_long_delay():
    model, losses = train_memory_classifier("rnn", 40, steps=300, seed=0)
    assert len(losses) == 300
    assert memory_accuracy(model, 40) < 0.4  # chance is 0.25


def test_training_is_deterministic():
    _, a = train_memory_classifier("lstm", 3, steps=20, seed=1, target_loss=None)
    _, b = train_memory_classifier("lstm", 3, steps=20, seed=1, target_loss=None)
    _, c = train_memory_classifier("lstm", 3, steps=20, seed=2, target_loss=None)
    assert a == b and len(a) == 20
    assert a != c


def test_training_rejects_bad_arguments():
    with pytest.raises(ValueError, match="lr"):
        train_memory_classifier("gru", 3, lr=0)
    with pytest.raises(ValueError, match="steps"):
        train_memory_classifier("gru", 3, steps=0)
    with pytest.raises(TypeError, match="model"):
        memory_accuracy("gru", 3)


def test_delay_sweep_shapes_and_agreement_with_single_runs():
    results = delay_sweep(["rnn", "gru"], [1, 2], seeds=[0, 1], progress=False, steps=15)
    assert set(results) == {"rnn", "gru"}
    for values in results.values():
        assert values.shape == (2, 2)
        assert np.all((values >= 0) & (values <= 1))
    model, _ = train_memory_classifier("gru", 2, seed=1, steps=15)
    assert results["gru"][1, 1] == memory_accuracy(model, 2)
    again, models = delay_sweep(["gru"], [2], seeds=[1], progress=False, steps=15,
                                return_models=True)
    assert set(models) == {("gru", 2, 1)}
    assert again["gru"][0, 0] == memory_accuracy(models["gru", 2, 1], 2)
    with pytest.raises(ValueError, match="cells, delays, seeds"):
        delay_sweep([], [1])
