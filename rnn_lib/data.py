"""Minibatches of (input, target) windows from one long token-index sequence.

A language model is trained on windows of ``T = num_steps`` consecutive tokens;
the target ``Y`` is the input ``X`` shifted one token ahead, so ``Y[t]`` is the
token that follows ``X[t]``.  Batches are time-major, shape ``(T, n)`` with
``n = batch_size``, matching the ``(T, n, d)`` layout of every model in rnn_lib.

Two ways to cut the corpus into windows:

* :func:`random_batches` (random partitioning): after a random offset the corpus
  is cut into back-to-back windows, which are dealt out in random order, so
  two consecutive minibatches are generally not neighbours in the text and the
  hidden state must be reset for every minibatch.
* :func:`sequential_batches` (sequential partitioning): after a random offset
  the corpus is cut into ``n`` long rows, one per batch position, and each row
  is read left to right, so row ``j`` of minibatch ``i + 1`` continues row ``j``
  of minibatch ``i`` exactly and the hidden state can be carried across
  minibatches (detached from the graph for truncated BPTT).

Both functions cut at most one window's worth of tokens at each end and yield
exactly :func:`num_batches` minibatches, whatever the random offset.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from rnn_lib._checks import check_positive_int as _check_positive_int
from rnn_lib.text import Vocab, load_corpus, preprocess_letters, tokenize

__all__ = [
    "BatchIterator",
    "load_char_lm_data",
    "num_batches",
    "random_batches",
    "sequential_batches",
]


def _as_index_sequence(corpus) -> np.ndarray:
    """The corpus as a 1-D int64 array (lists of ints accepted)."""
    array = np.asarray(corpus)
    if array.ndim != 1:
        raise ValueError(
            f"corpus: expected a 1-D sequence of token indices, got shape {array.shape}"
        )
    if array.size and (array.dtype == np.bool_ or not np.issubdtype(array.dtype, np.integer)):
        raise TypeError(f"corpus: expected integer token indices, got dtype {array.dtype}")
    return array.astype(np.int64, copy=False)


def _as_generator(rng) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, int | np.integer) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise TypeError(
        f"rng: expected a numpy Generator (np.random.default_rng(seed)) or an int seed, "
        f"got {type(rng).__name__}"
    )


def num_batches(corpus_length: int, batch_size: int, num_steps: int) -> int:
    """Minibatches per epoch of :func:`random_batches` or :func:`sequential_batches`.

    Windows need ``T + 1`` tokens (inputs plus the shifted target) and the
    random offset may use up to ``T - 1`` tokens, so an epoch holds
    ``(L - T) // (T * n)`` minibatches for a corpus of ``L`` tokens.
    """
    corpus_length = int(corpus_length)
    if corpus_length < 0:
        raise ValueError(f"corpus_length: expected an int >= 0, got {corpus_length}")
    batch_size = _check_positive_int("batch_size", batch_size)
    num_steps = _check_positive_int("num_steps", num_steps)
    return max(0, corpus_length - num_steps) // (num_steps * batch_size)


def _checked_setup(corpus, batch_size, num_steps, rng):
    corpus = _as_index_sequence(corpus)
    batch_size = _check_positive_int("batch_size", batch_size)
    num_steps = _check_positive_int("num_steps", num_steps)
    rng = _as_generator(rng)
    count = num_batches(len(corpus), batch_size, num_steps)
    if count == 0:
        raise ValueError(
            f"corpus: length {len(corpus)} is too short for batch_size={batch_size}, "
            f"num_steps={num_steps}; need at least num_steps * (batch_size + 1) = "
            f"{num_steps * (batch_size + 1)} tokens"
        )
    return corpus, batch_size, num_steps, rng, count


def _windows(corpus: np.ndarray, starts: np.ndarray, num_steps: int):
    """Inputs and targets for windows beginning at ``starts`` (n,): two (T, n) arrays."""
    positions = np.arange(num_steps)[:, None] + starts[None, :]
    return corpus[positions], corpus[positions + 1]


def random_batches(
    corpus, batch_size: int, num_steps: int, *, rng
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Minibatches by random partitioning; one epoch of :func:`num_batches` of them.

    ``corpus`` is a 1-D sequence of token indices of length ``L``.  A random
    offset in ``[0, T - 1]`` is drawn, the corpus from there is cut into
    back-to-back windows of ``T`` tokens, and the windows are shuffled; each
    minibatch takes the next ``n`` of them.  Windows never overlap, so an epoch
    sees every used token once.

    Yields ``(X, Y)``, int64 arrays of shape ``(T, n)``, ``Y[t, j] = X[t + 1, j]``
    for ``t < T - 1``; ``Y[T - 1, j]`` is the token after the window.  The
    random draws come from ``rng`` (a numpy Generator or an int seed) and happen
    here, so the arguments are checked when the function is called.
    """
    corpus, batch_size, num_steps, rng, count = _checked_setup(corpus, batch_size, num_steps, rng)
    offset = int(rng.integers(num_steps))
    n_windows = (len(corpus) - 1 - offset) // num_steps
    order = rng.permutation(n_windows)[: count * batch_size]
    starts = offset + num_steps * order.reshape(count, batch_size)
    return (_windows(corpus, row, num_steps) for row in starts)


def sequential_batches(
    corpus, batch_size: int, num_steps: int, *, rng
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Minibatches by sequential partitioning; one epoch of :func:`num_batches` of them.

    After a random offset in ``[0, T - 1]`` the corpus is cut into ``n``
    contiguous rows of ``num_batches * T`` tokens; minibatch ``i`` holds columns
    ``i*T .. (i+1)*T - 1`` of every row.  Hence ``X_{i+1}[0, j]`` is the token
    right after ``X_i[T - 1, j]``: a hidden state computed on minibatch ``i``
    is the correct starting state for minibatch ``i + 1``.

    Yields ``(X, Y)``, int64 arrays of shape ``(T, n)``, ``Y`` is ``X`` one
    token ahead.  ``rng`` is a numpy Generator or an int seed.
    """
    corpus, batch_size, num_steps, rng, count = _checked_setup(corpus, batch_size, num_steps, rng)
    offset = int(rng.integers(num_steps))
    row_length = count * num_steps
    row_starts = offset + row_length * np.arange(batch_size)
    return (_windows(corpus, row_starts + i * num_steps, num_steps) for i in range(count))


class BatchIterator:
    """Re-iterable minibatches: every ``iter()`` is one new epoch, reproducibly seeded.

    ``corpus`` is a 1-D token-index sequence; each epoch draws a fresh offset
    (and, for random partitioning, a fresh order) from one Generator seeded
    with ``seed``, so the sequence of epochs is the same on every run.
    ``len()`` is the number of minibatches per epoch.
    """

    def __init__(
        self,
        corpus,
        batch_size: int,
        num_steps: int,
        *,
        sequential: bool = False,
        seed: int = 0,
    ):
        self.corpus = _as_index_sequence(corpus)
        self.batch_size = _check_positive_int("batch_size", batch_size)
        self.num_steps = _check_positive_int("num_steps", num_steps)
        if not isinstance(sequential, bool):
            raise TypeError(f"sequential: expected a bool, got {type(sequential).__name__}")
        self.sequential = sequential
        self._rng = _as_generator(seed)
        # Fail now, not at the first epoch, if the corpus is too short.
        _checked_setup(self.corpus, self.batch_size, self.num_steps, 0)

    def __len__(self) -> int:
        return num_batches(len(self.corpus), self.batch_size, self.num_steps)

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        make = sequential_batches if self.sequential else random_batches
        return make(self.corpus, self.batch_size, self.num_steps, rng=self._rng)

    def __repr__(self) -> str:
        mode = "sequential" if self.sequential else "random"
        return (
            f"BatchIterator(tokens={len(self.corpus)}, batch_size={self.batch_size}, "
            f"num_steps={self.num_steps}, {mode}, batches={len(self)})"
        )


def load_char_lm_data(
    batch_size: int,
    num_steps: int,
    *,
    source=None,
    sha256: str | None = None,
    cache_dir=None,
    letters_only: bool = True,
    max_tokens: int | None = None,
    sequential: bool = False,
    seed: int = 0,
) -> tuple[BatchIterator, Vocab]:
    """Character-level language-modelling data: ``(BatchIterator, Vocab)``.

    Loads ``source`` with :func:`~rnn_lib.text.load_corpus` (``None``: the
    offline default corpus), reduces it with
    :func:`~rnn_lib.text.preprocess_letters` when ``letters_only`` (a 28-token
    vocabulary: 26 letters, space and ``"<unk>"``), tokenizes it into
    characters, keeps the first ``max_tokens`` tokens if given, and wraps the
    indices in a :class:`BatchIterator`.  The vocabulary is built from the whole
    text before truncation, so it does not depend on ``max_tokens``.
    """
    text = load_corpus(source, sha256=sha256, cache_dir=cache_dir)
    if letters_only:
        text = preprocess_letters(text)
    tokens = tokenize(text, "char")
    vocab = Vocab(tokens)
    if max_tokens is not None:
        tokens = tokens[: _check_positive_int("max_tokens", max_tokens)]
    batches = BatchIterator(
        vocab.to_indices(tokens), batch_size, num_steps, sequential=sequential, seed=seed
    )
    return batches, vocab
