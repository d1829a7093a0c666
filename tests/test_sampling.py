"""Greedy and temperature sampling: determinism, limits, both model kinds."""

import numpy as np
import pytest
import torch

from rnn_lib.lm_numpy import NumpyRNNLM
from rnn_lib.lm_torch import TorchRNNLM
from rnn_lib.sampling import (
    generate_text,
    greedy_generate,
    sample_generate,
    softmax_with_temperature,
)
from rnn_lib.text import Vocab, tokenize


class FixedTableModel:
    """A 'model' whose next-token logits depend only on the last token: logits = table[token]."""

    def __init__(self, table):
        self.table = np.asarray(table, dtype=np.float64)
        self.vocab_size = self.table.shape[1]

    def begin_state(self, batch_size):
        return None

    def step(self, tokens, state):
        return self.table[np.asarray(tokens)], state


CYCLE = FixedTableModel([[0.0, 5.0, 1.0], [1.0, 0.0, 5.0], [5.0, 1.0, 0.0]])  # 0 -> 1 -> 2 -> 0


def models():
    numpy_model = NumpyRNNLM(5, 8, dtype=np.float64, seed=0)
    return [numpy_model, TorchRNNLM.from_numpy(numpy_model),
            TorchRNNLM(5, 8, cell="lstm", embedding_dim=3, seed=0)]


def test_greedy_follows_the_argmax_chain():
    np.testing.assert_array_equal(greedy_generate(CYCLE, [0], 5), [1, 2, 0, 1, 2])
    np.testing.assert_array_equal(greedy_generate(CYCLE, [1, 1, 2], 2), [0, 1])
    assert greedy_generate(CYCLE, [0], 0).shape == (0,)


def test_softmax_with_temperature_values():
    logits = np.array([[0.0, np.log(3.0)]])
    np.testing.assert_allclose(softmax_with_temperature(logits, 1.0), [[0.25, 0.75]])
    np.testing.assert_allclose(softmax_with_temperature(logits, 0.5), [[0.1, 0.9]])
    np.testing.assert_allclose(softmax_with_temperature(logits, 1e-9), [[0.0, 1.0]])
    np.testing.assert_allclose(softmax_with_temperature(logits, 1e9), [[0.5, 0.5]], rtol=1e-6)


def test_sampling_frequencies_follow_the_tempered_distribution():
    two_way = FixedTableModel([[0.0, np.log(3.0)], [0.0, np.log(3.0)]])
    draws = sample_generate(two_way, [0], 20_000, temperature=1.0, rng=0)
    assert np.mean(draws == 1) == pytest.approx(0.75, abs=0.01)
    draws = sample_generate(two_way, [0], 20_000, temperature=0.5, rng=0)
    assert np.mean(draws == 1) == pytest.approx(0.9, abs=0.01)


@pytest.mark.parametrize("model", models(), ids=["numpy", "torch-twin", "torch-lstm"])
def test_sampling_is_deterministic_under_a_seed(model):
    a = sample_generate(model, [1, 2], 40, temperature=1.0, rng=7)
    b = sample_generate(model, [1, 2], 40, temperature=1.0, rng=np.random.default_rng(7))
    c = sample_generate(model, [1, 2], 40, temperature=1.0, rng=8)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.dtype == np.int64 and a.min() >= 0 and a.max() < 5


@pytest.mark.parametrize("model", models(), ids=["numpy", "torch-twin", "torch-lstm"])
def test_temperature_to_zero_equals_greedy(model):
    greedy = greedy_generate(model, [3, 0], 30)
    for seed in range(3):
        cold = sample_generate(model, [3, 0], 30, temperature=1e-6, rng=seed)
        np.testing.assert_array_equal(cold, greedy)


def test_numpy_model_and_its_torch_twin_generate_the_same_text():
    numpy_model = NumpyRNNLM(5, 8, dtype=np.float64, seed=1)
    twin = TorchRNNLM.from_numpy(numpy_model)
    np.testing.assert_array_equal(greedy_generate(numpy_model, [0, 4], 25),
                                  greedy_generate(twin, [0, 4], 25))
    np.testing.assert_array_equal(sample_generate(numpy_model, [0], 25, 0.8, rng=3),
                                  sample_generate(twin, [0], 25, 0.8, rng=3))


def test_generate_text_continues_the_prefix():
    vocab = Vocab(tokenize("abc"))  # <unk>, a, b, c
    table = np.full((4, 4), -5.0)
    table[1, 2] = table[2, 3] = table[3, 1] = table[0, 1] = 5.0  # a -> b -> c -> a
    model = FixedTableModel(table)
    assert generate_text(model, vocab, "ab", 4) == "abcabc"
    assert generate_text(model, vocab, "x", 2) == "xab"  # unknown characters map to <unk>
    sampled = generate_text(model, vocab, "a", 6, temperature=1.0, rng=0)
    assert sampled.startswith("a") and len(sampled) == 7


def test_torch_state_is_not_tracked_by_autograd_during_generation():
    model = TorchRNNLM(5, 8, cell="gru", seed=0)
    logits, state = model.step(np.array([1, 2]), model.begin_state(2))
    assert logits.shape == (2, 5) and logits.dtype == np.float64
    assert not state.requires_grad and isinstance(state, torch.Tensor)


@pytest.mark.parametrize("temperature", [0, -1.0, float("nan"), float("inf"), "hot", True])
def test_bad_temperature_is_rejected(temperature):
    with pytest.raises(ValueError, match="temperature: expected a finite number > 0"):
        sample_generate(CYCLE, [0], 3, temperature=temperature)


def test_bad_prefix_and_length_are_rejected():
    with pytest.raises(ValueError, match="prefix: expected indices in"):
        greedy_generate(CYCLE, [3], 2)
    with pytest.raises(ValueError, match="prefix: expected a non-empty"):
        greedy_generate(CYCLE, [], 2)
    with pytest.raises(ValueError, match="num_tokens: expected an int >= 0"):
        greedy_generate(CYCLE, [0], -1)
    with pytest.raises(ValueError, match="vocab: expected 3 tokens"):
        generate_text(CYCLE, Vocab(tokenize("abcd")), "a", 2)
