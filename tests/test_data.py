"""Tests for rnn_lib.data: random and sequential minibatch iterators."""

from __future__ import annotations

import numpy as np
import pytest

from rnn_lib.data import (
    BatchIterator,
    load_char_lm_data,
    num_batches,
    random_batches,
    sequential_batches,
)
from rnn_lib.text import default_corpus, preprocess_letters

ITERATORS = [random_batches, sequential_batches]


def positions_corpus(length: int) -> np.ndarray:
    """A corpus whose token at position p is p, so batches reveal where they were cut."""
    return np.arange(length, dtype=np.int64)


def test_num_batches_fixed_values():
    assert num_batches(100, 2, 5) == 9  # (100 - 5) // 10
    assert num_batches(15, 2, 5) == 1  # exactly T * (n + 1) tokens
    assert num_batches(14, 2, 5) == 0
    assert num_batches(3, 1, 5) == 0
    with pytest.raises(ValueError, match="batch_size: expected a positive int, got 0"):
        num_batches(100, 0, 5)


@pytest.mark.parametrize("make", ITERATORS)
def test_shapes_dtype_count_and_shifted_targets(make):
    rng = np.random.default_rng(0)
    corpus = rng.integers(0, 28, size=1000)
    batches = list(make(corpus, 4, 7, rng=rng))
    assert len(batches) == num_batches(1000, 4, 7) == 35
    for X, Y in batches:
        assert X.shape == Y.shape == (7, 4)
        assert X.dtype == Y.dtype == np.int64
        np.testing.assert_array_equal(Y[:-1], X[1:])


@pytest.mark.parametrize("make", ITERATORS)
def test_columns_are_windows_of_the_corpus(make):
    corpus = np.random.default_rng(1).integers(0, 50, size=500)
    windows = np.lib.stride_tricks.sliding_window_view(corpus, 7)  # (494, 7): X then Y's last
    for X, Y in make(corpus, 3, 6, rng=np.random.default_rng(2)):
        for j in range(3):
            column = np.concatenate([X[:, j], Y[-1:, j]])
            assert np.any(np.all(windows == column, axis=1)), (
                "every column must be a contiguous corpus window with its shifted target"
            )


@pytest.mark.parametrize("make", ITERATORS)
def test_windows_stay_in_bounds_for_every_offset_and_length(make):
    # With tokens equal to positions, an out-of-range window would raise IndexError
    # or show a position >= length.  Many seeds cover every offset in [0, T - 1].
    T, n = 4, 3
    for length in range(T * (n + 1), T * (n + 1) + 3 * T):
        corpus = positions_corpus(length)
        for seed in range(12):
            batches = list(make(corpus, n, T, rng=np.random.default_rng(seed)))
            assert len(batches) == num_batches(length, n, T)
            for X, Y in batches:
                assert X.min() >= 0 and Y.max() < length
                np.testing.assert_array_equal(Y, X + 1)


def test_random_partition_uses_disjoint_windows_in_shuffled_order():
    T, n, length = 5, 4, 403
    X_batches = [X for X, _ in random_batches(positions_corpus(length), n, T, rng=7)]
    starts = np.concatenate([X[0] for X in X_batches])
    assert len(starts) == num_batches(length, n, T) * n == 76
    assert len(set(starts.tolist())) == len(starts)
    offset = starts.min() % T
    assert np.all(starts % T == offset), "windows are back to back from one offset"
    assert offset < T
    # Distinct starts on one grid of spacing T means the windows never overlap.
    assert np.all(np.diff(np.sort(starts)) >= T)
    for X in X_batches:
        np.testing.assert_array_equal(X, X[0][None, :] + np.arange(T)[:, None])
    # Shuffled: consecutive minibatches are not neighbours in the text.
    first_columns = [int(X[0, 0]) for X in X_batches]
    assert first_columns != sorted(first_columns)
    gaps = np.abs(np.diff(first_columns))
    assert np.mean(gaps == T) < 0.2


def test_sequential_partition_continues_each_row_across_minibatches():
    T, n, length = 6, 3, 500
    batches = list(sequential_batches(positions_corpus(length), n, T, rng=11))
    count = num_batches(length, n, T)
    assert len(batches) == count == 27
    for (X_prev, Y_prev), (X_next, _) in zip(batches, batches[1:], strict=False):
        # Row j of the next minibatch starts where row j of this one stopped.
        np.testing.assert_array_equal(X_next[0], X_prev[-1] + 1)
        np.testing.assert_array_equal(X_next[0], Y_prev[-1])
    X0 = batches[0][0]
    np.testing.assert_array_equal(np.diff(X0[0]), count * T)  # rows are equal slices
    assert X0[0, 0] < T  # the offset is below num_steps


def test_sequential_rows_read_the_corpus_in_order():
    corpus = np.random.default_rng(5).integers(0, 30, size=300)
    T, n = 5, 2
    batches = list(sequential_batches(corpus, n, T, rng=np.random.default_rng(9)))
    rows = np.concatenate([X for X, _ in batches], axis=0)  # (count * T, n)
    joined = rows.T.reshape(-1)
    offset = next(s for s in range(T) if np.array_equal(corpus[s : s + len(joined)], joined))
    assert 0 <= offset < T


@pytest.mark.parametrize("make", ITERATORS)
def test_same_seed_reproduces_and_different_seeds_differ(make):
    corpus = positions_corpus(1000)

    def epoch(seed):
        return [X for X, _ in make(corpus, 4, 8, rng=np.random.default_rng(seed))]

    first, again = epoch(123), epoch(123)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    others = [epoch(seed) for seed in range(1, 6)]
    assert any(not np.array_equal(first[0], other[0]) for other in others)
    int_seed = [X for X, _ in make(corpus, 4, 8, rng=123)]
    for a, b in zip(first, int_seed, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("make", ITERATORS)
def test_iterators_reject_bad_input(make):
    corpus = positions_corpus(100)
    with pytest.raises(ValueError, match=r"need at least num_steps \* \(batch_size \+ 1\) = 110"):
        make(corpus, 10, 10, rng=0)  # raised at call time, before iterating
    with pytest.raises(ValueError, match=r"corpus: expected a 1-D .* got shape \(10, 10\)"):
        make(corpus.reshape(10, 10), 2, 3, rng=0)
    with pytest.raises(TypeError, match="expected integer token indices, got dtype float64"):
        make(corpus.astype(float), 2, 3, rng=0)
    with pytest.raises(TypeError, match="num_steps: expected a positive int, got float"):
        make(corpus, 2, 3.0, rng=0)
    with pytest.raises(ValueError, match="batch_size: expected a positive int, got -2"):
        make(corpus, -2, 3, rng=0)
    with pytest.raises(TypeError, match="rng: expected a numpy Generator"):
        make(corpus, 2, 3, rng=np.random.RandomState(0))
    assert len(list(make(list(range(100)), 2, 3, rng=0))) == num_batches(100, 2, 3)


def test_batch_iterator_epochs_are_new_but_reproducible():
    corpus = positions_corpus(2000)
    a = BatchIterator(corpus, 8, 10, seed=4)
    b = BatchIterator(corpus, 8, 10, seed=4)
    epochs_a = [[X for X, _ in a] for _ in range(3)]
    epochs_b = [[X for X, _ in b] for _ in range(3)]
    assert len(a) == num_batches(2000, 8, 10) == len(epochs_a[0]) == 24
    for ea, eb in zip(epochs_a, epochs_b, strict=True):
        for x, y in zip(ea, eb, strict=True):
            np.testing.assert_array_equal(x, y)
    # Each iter() is a fresh epoch: a new offset and order, not a replay.
    assert not np.array_equal(epochs_a[0][0], epochs_a[1][0])
    assert not np.array_equal(epochs_a[1][0], epochs_a[2][0])
    other_seed = [X for X, _ in BatchIterator(corpus, 8, 10, seed=5)]
    assert not all(np.array_equal(x, y) for x, y in zip(epochs_a[0], other_seed, strict=True))


def test_batch_iterator_sequential_mode_and_errors():
    corpus = positions_corpus(300)
    it = BatchIterator(corpus, 2, 5, sequential=True, seed=0)
    batches = list(it)
    np.testing.assert_array_equal(batches[1][0][0], batches[0][0][-1] + 1)
    assert "sequential" in repr(it)
    with pytest.raises(ValueError, match="too short"):
        BatchIterator(corpus[:10], 2, 5)
    with pytest.raises(TypeError, match="sequential: expected a bool"):
        BatchIterator(corpus, 2, 5, sequential="yes")


def test_load_char_lm_data_on_the_default_corpus():
    batches, vocab = load_char_lm_data(32, 35, max_tokens=10_000, seed=0)
    assert len(vocab) == 28
    assert len(batches.corpus) == 10_000
    expected = preprocess_letters(default_corpus())[:10_000]
    assert "".join(vocab.to_tokens(batches.corpus)) == expected
    assert len(batches) == num_batches(10_000, 32, 35) == 8
    X, Y = next(iter(batches))
    assert X.shape == Y.shape == (35, 32)
    assert X.max() < len(vocab) and X.min() >= 1  # no unknown tokens in the corpus itself


def test_load_char_lm_data_from_a_file_without_letter_filter(tmp_path):
    path = tmp_path / "tiny.txt"
    path.write_text("Hello, World!\n" * 50, encoding="utf-8")
    batches, vocab = load_char_lm_data(2, 4, source=path, letters_only=False, sequential=True)
    assert set(vocab.idx_to_token) == set("Hello, World!\n") | {"<unk>"}
    assert len(batches.corpus) == 700
    assert batches.sequential
    with pytest.raises(ValueError, match="max_tokens: expected a positive int, got 0"):
        load_char_lm_data(2, 4, source=path, max_tokens=0)
