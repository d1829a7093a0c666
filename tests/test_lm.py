"""Language models: numpy vs torch autograd, training behaviour, reproducibility, acceptance."""

import math

import numpy as np
import pytest
import torch

from rnn_lib.data import BatchIterator
from rnn_lib.gradcheck import numerical_gradient, relative_error
from rnn_lib.lm_numpy import (
    NumpyRNNLM,
    TrainHistory,
    corpus_batches,
    evaluate_perplexity,
    history_table,
)
from rnn_lib.lm_torch import TorchRNNLM
from rnn_lib.ngram import UnigramLM
from rnn_lib.text import Vocab, default_corpus, preprocess_letters, tokenize, train_valid_split

V = 7


def random_batch(seed, T=5, n=3, vocab_size=V):
    rng = np.random.default_rng(seed)
    return rng.integers(0, vocab_size, (T, n)), rng.integers(0, vocab_size, (T, n))


def pattern_corpus(length=3000, seed=0):
    """A learnable sequence: a fixed cycle of 7 tokens with 10% random replacements."""
    rng = np.random.default_rng(seed)
    corpus = np.tile(np.arange(V), length // V + 1)[:length]
    noise = rng.random(length) < 0.1
    corpus[noise] = rng.integers(0, V, noise.sum())
    return corpus


# ------------------------------------------------------------------ numpy model vs torch


def test_numpy_lm_loss_gradients_and_state_match_torch_autograd_float64():
    model = NumpyRNNLM(V, 6, dtype=np.float64, seed=3)
    X, Y = random_batch(0)
    H0 = np.random.default_rng(1).standard_normal((3, 6)) * 0.5
    loss, grads, H_T = model.loss_and_gradients(X, Y, H0)

    twin = TorchRNNLM.from_numpy(model)
    twin_loss, twin_state = twin.loss(X, Y, torch.tensor(H0[None]))
    twin_loss.backward()
    torch_grads = {
        "W_xh": twin.rnn.weight_ih_l0.grad.numpy().T,
        "W_hh": twin.rnn.weight_hh_l0.grad.numpy().T,
        "b_h": twin.rnn.bias_ih_l0.grad.numpy(),
        "W_hq": twin.head.weight.grad.numpy().T,
        "b_q": twin.head.bias.grad.numpy(),
    }
    assert loss == pytest.approx(twin_loss.item(), rel=1e-12)
    np.testing.assert_allclose(H_T, twin_state[0].detach().numpy(), rtol=1e-12, atol=1e-14)
    assert set(grads) == set(torch_grads)
    for name, grad in grads.items():
        np.testing.assert_allclose(grad, torch_grads[name], rtol=1e-9, atol=1e-12, err_msg=name)


def test_numpy_lm_gradient_matches_numerical_gradient():
    model = NumpyRNNLM(V, 4, dtype=np.float64, seed=0)
    X, Y = random_batch(2, T=4, n=2)
    _, grads, _ = model.loss_and_gradients(X, Y)
    for name in ["W_hh", "b_h", "W_xh"]:
        numeric = numerical_gradient(lambda _: model.loss_and_gradients(X, Y)[0],
                                     model.params[name])
        assert relative_error(grads[name], numeric) < 1e-6, name


def test_gradient_norms_by_lag_match_torch_and_decay():
    model = NumpyRNNLM(V, 8, dtype=np.float64, seed=0)
    X, Y = random_batch(4, T=12, n=3)
    norms = model.gradient_norms_by_lag(X, Y)
    np.testing.assert_allclose(norms, TorchRNNLM.from_numpy(model).gradient_norms_by_lag(X, Y),
                               rtol=1e-10)
    assert norms.shape == (12,) and norms[-1] < 0.1 * norms[0]


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_torch_gradient_norms_by_lag_shape(cell):
    model = TorchRNNLM(V, 8, cell=cell, num_layers=2, seed=0)
    norms = model.gradient_norms_by_lag(*random_batch(1, T=6))
    assert norms.shape == (6,) and np.all(np.isfinite(norms)) and norms[0] > 0


def test_float32_model_tracks_float64_model():
    X, Y = random_batch(5, T=8, n=4)
    loss32, grads32, _ = NumpyRNNLM(V, 16, dtype=np.float32, seed=0).loss_and_gradients(X, Y)
    loss64, grads64, _ = NumpyRNNLM(V, 16, dtype=np.float64, seed=0).loss_and_gradients(X, Y)
    assert grads32["W_hh"].dtype == np.float32
    assert loss32 == pytest.approx(loss64, rel=1e-5)
    np.testing.assert_allclose(grads32["W_hh"], grads64["W_hh"], rtol=1e-3, atol=1e-6)


# ------------------------------------------------------------------ training behaviour


def test_numpy_lm_training_lowers_loss_and_records_history():
    corpus = pattern_corpus()
    train = BatchIterator(corpus[:2500], 8, 10, sequential=True, seed=0)
    model = NumpyRNNLM(V, 16, seed=0)
    before = model.evaluate(corpus[2500:])
    history = model.fit(train, corpus[2500:], epochs=4, lr=1.0, progress=False)
    assert len(history) == 4 and history.epoch == [1, 2, 3, 4]
    assert history.valid_perplexity[-1] < 0.5 * before
    assert history.train_perplexity[-1] < history.train_perplexity[0]
    assert history.tokens[-1] == 4 * len(train) * 8 * 10
    assert all(g > 0 for g in history.grad_norm)


def test_fit_continues_a_history_and_stops_on_time_budget():
    corpus = pattern_corpus()
    train = BatchIterator(corpus, 4, 10, seed=0)
    model = NumpyRNNLM(V, 8, seed=0)
    history = model.fit(train, epochs=2, lr=0.5, progress=False)
    history = model.fit(train, epochs=1, lr=0.5, progress=False, history=history,
                        max_seconds=600.0)  # the budget counts this call only
    assert history.epoch == [1, 2, 3] and not history.stopped_early
    history = model.fit(train, epochs=1, lr=0.5, progress=False, history=history,
                        max_seconds=1e-9)
    assert history.epoch == [1, 2, 3, 4] and history.stopped_early
    assert history.tokens[3] - history.tokens[2] == 4 * 10  # one minibatch, then stop
    assert math.isnan(history.valid_perplexity[0])


def test_carried_state_makes_chunking_irrelevant():
    corpus = pattern_corpus(500)
    for model in [NumpyRNNLM(V, 8, dtype=np.float64, seed=0),
                  TorchRNNLM(V, 8, cell="lstm", dtype=torch.float64, seed=0)]:
        whole = evaluate_perplexity(model, corpus_batches(corpus, 4, 1000), carry_state=True)
        chunked = evaluate_perplexity(model, corpus_batches(corpus, 4, 7), carry_state=True)
        reset = evaluate_perplexity(model, corpus_batches(corpus, 4, 7), carry_state=False)
        assert chunked == pytest.approx(whole, rel=1e-10)
        assert reset != pytest.approx(whole, rel=1e-6)


def test_corpus_batches_cover_every_prediction_once():
    corpus = np.arange(23)
    batches = corpus_batches(corpus, 2, 4)
    X = np.concatenate([x for x, _ in batches])
    Y = np.concatenate([y for _, y in batches])
    assert X.shape == (11, 2)
    np.testing.assert_array_equal(X[:, 0], np.arange(11))
    np.testing.assert_array_equal(Y[:, 1], np.arange(12, 23))


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_torch_models_are_seeded_and_reproducible(cell):
    corpus = pattern_corpus(1500)

    def run(seed):
        model = TorchRNNLM(V, 12, cell=cell, num_layers=2, embedding_dim=5, dropout=0.2,
                           seed=seed)
        train = BatchIterator(corpus[:1200], 4, 10, sequential=True, seed=0)
        history = model.fit(train, corpus[1200:], epochs=2, lr=0.01, optimizer="adam",
                            progress=False)
        return history, torch.cat([p.detach().flatten() for p in model.parameters()])

    torch.manual_seed(123)
    outside_before = torch.rand(3)
    h1, p1 = run(0)
    h2, p2 = run(0)
    h3, p3 = run(1)
    assert h1.train_perplexity == h2.train_perplexity
    assert h1.valid_perplexity == h2.valid_perplexity
    assert torch.equal(p1, p2) and not torch.equal(p1, p3)
    # The caller's global random stream is left where it was.
    torch.manual_seed(123)
    assert torch.equal(torch.rand(3), outside_before)


def test_history_table_lists_every_run():
    h = TrainHistory("numpy RNN")
    h.record(1, 9.0, 8.5, 1.2, 2.0, 1000)
    table = history_table([h, TrainHistory("torch GRU")])
    lines = table.splitlines()
    assert len(lines) == 4 and "valid ppl" in lines[0]
    assert "8.50" in lines[2] and "500" in lines[2]  # 1000 tokens in 2 s
    assert h.summary()["best valid ppl"] == 8.5


# ------------------------------------------------------------------ bad input


def test_bad_input_is_reported_with_the_argument_name():
    model = NumpyRNNLM(V, 4)
    X, Y = random_batch(0)
    with pytest.raises(ValueError, match="X: expected indices in"):
        model.loss_and_gradients(X + V, Y)
    with pytest.raises(ValueError, match=r"Y: expected shape \(5, 3\)"):
        model.loss_and_gradients(X, Y[:4])
    with pytest.raises(TypeError, match="X: expected integer"):
        model.loss_and_gradients(X.astype(float), Y)
    with pytest.raises(ValueError, match=r"state: expected an array of shape \(3, 4\)"):
        model.loss_and_gradients(X, Y, np.zeros((2, 4)))
    with pytest.raises(ValueError, match="optimizer: expected one of"):
        model.fit([(X, Y)], epochs=1, lr=0.1, optimizer="adam", progress=False)
    with pytest.raises(ValueError, match="lr: expected a finite number > 0"):
        model.fit([(X, Y)], epochs=1, lr=0.0, progress=False)
    with pytest.raises(ValueError, match="cell: expected one of"):
        TorchRNNLM(V, 4, cell="transformer")
    with pytest.raises(TypeError, match="dtype: expected float32 or float64"):
        NumpyRNNLM(V, 4, dtype=np.int32)


# ------------------------------------------------------------------ acceptance


@pytest.fixture(scope="module")
def default_corpus_split():
    tokens = tokenize(preprocess_letters(default_corpus()))
    vocab = Vocab(tokens)
    train, valid = train_valid_split(vocab.to_indices(tokens), 0.1)
    return vocab, train, valid[:20_000]


def test_acceptance_rnn_models_beat_unigram_on_default_corpus(default_corpus_split):
    """The issue's acceptance test: a fixed small budget, both kinds clearly below unigram."""
    vocab, train, valid = default_corpus_split
    unigram = UnigramLM(len(vocab), k=1).fit(train).perplexity(valid)

    numpy_model = NumpyRNNLM(len(vocab), 128, seed=0)
    numpy_history = numpy_model.fit(
        BatchIterator(train[:150_000], 32, 32, sequential=True, seed=0), valid,
        epochs=2, lr=2.0, optimizer="sgd", clip=1.0, progress=False)
    gru = TorchRNNLM(len(vocab), 128, cell="gru", seed=0)
    gru_history = gru.fit(
        BatchIterator(train[:100_000], 32, 32, sequential=True, seed=0), valid,
        epochs=2, lr=0.01, optimizer="adam", clip=1.0, progress=False)

    print(f"\nvalidation perplexity on the default corpus: unigram {unigram:.2f}, "
          f"numpy RNN {numpy_history.final_valid_perplexity:.2f} "
          f"({numpy_history.total_seconds:.1f} s), "
          f"torch GRU {gru_history.final_valid_perplexity:.2f} "
          f"({gru_history.total_seconds:.1f} s)")
    assert numpy_history.final_valid_perplexity < 0.7 * unigram
    assert gru_history.final_valid_perplexity < 0.5 * unigram


def test_validation_accepts_ragged_minibatch_lists_and_plain_lists():
    corpus = pattern_corpus(300)
    model = NumpyRNNLM(V, 8, dtype=np.float64, seed=0)
    ragged = corpus_batches(corpus, 4, 20)  # the last chunk is shorter
    assert ragged[-1][0].shape[0] < 20
    by_list = model.evaluate(list(corpus))
    assert model.evaluate(corpus) == pytest.approx(by_list)
    history = model.fit([random_batch(0)], ragged, epochs=1, lr=0.1, progress=False,
                        valid_carry_state=True)
    assert history.valid_perplexity[0] == pytest.approx(model.evaluate(ragged, carry_state=True))
