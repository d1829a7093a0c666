"""Count-based n-gram language models: the baselines a recurrent model has to beat.

An order-``n`` model predicts token x_t from the ``n - 1`` tokens before it with
add-k (Lidstone) smoothing, eq. (ch3-addk)::

    P(x_t | c) = (count(c, x_t) + k) / (count(c) + k |V|),   c = x_{t-n+1} .. x_{t-1}

``count(c)`` counts ``c`` as a *context*, that is followed by some token, so the
probabilities over the |V| possible next tokens sum to one. With ``k = 0`` this is
the maximum-likelihood estimate, which gives probability 0 (perplexity inf) to
any n-gram that was never seen; ``k = 1`` is Laplace smoothing.

Perplexity on held-out indices x_1..x_N is, eq. (ch3-perplexity),
``exp(-(1 / M) sum_t log P(x_t | c_t))`` over the M = N - n + 1 positions that
have a full context (the first ``n - 1`` tokens are only context). A bigram is
thus scored on the same N - 1 transitions that a character RNN predicts when it
reads one token and predicts the next.

An n-gram model needs a table of |V|^n parameters, eq. (ch3-ngram-params)
(:func:`ngram_parameter_count`),
which is why the course moves on to a hidden state of fixed size.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "NGramLM",
    "UnigramLM",
    "BigramLM",
    "ngram_parameter_count",
    "ngram_count_table",
]

# n-grams are stored as base-|V| integers in int64; |V|^n must stay below this.
_MAX_CODE = np.iinfo(np.int64).max


def _as_index_array(indices, vocab_size: int, name: str = "indices") -> np.ndarray:
    """Validate a 1-D sequence of token indices in [0, vocab_size) -> int64 array (N,)."""
    arr = np.asarray(indices)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D sequence of token indices, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{name} must hold integers, got dtype {arr.dtype}")
    arr = arr.astype(np.int64, copy=False)
    if arr.size and (arr.min() < 0 or arr.max() >= vocab_size):
        raise ValueError(
            f"{name} must lie in [0, vocab_size={vocab_size}), "
            f"got values in [{arr.min()}, {arr.max()}]"
        )
    return arr


def _check_positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _encode_windows(indices: np.ndarray, width: int, vocab_size: int) -> np.ndarray:
    """Encode every window of ``width`` consecutive tokens as one base-|V| integer.

    indices (N,) -> codes (N - width + 1,); width 0 gives N + 1 zeros (the empty context
    that precedes each of the N tokens and the end).
    """
    n_windows = indices.size - width + 1
    codes = np.zeros(max(n_windows, 0), dtype=np.int64)
    for offset in range(width):
        codes = codes * vocab_size + indices[offset : offset + n_windows]
    return codes


def _lookup_counts(keys: np.ndarray, counts: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Counts of ``queries`` in the sorted table (keys, counts); 0 for unseen keys."""
    if keys.size == 0:
        return np.zeros(queries.shape, dtype=np.int64)
    pos = np.searchsorted(keys, queries)
    pos_clipped = np.minimum(pos, keys.size - 1)
    found = keys[pos_clipped] == queries
    return np.where(found, counts[pos_clipped], 0)


class NGramLM:
    """Add-k smoothed n-gram model over token indices 0..vocab_size-1, eq. (ch3-addk).

    Parameters
    ----------
    order : int
        n, the number of tokens in an n-gram (1 = unigram, 2 = bigram, ...).
    vocab_size : int
        |V|; indices must lie in [0, |V|).
    k : float
        Pseudo-count added to every n-gram (k >= 0).

    Counts are kept sparsely (only n-grams that occur), so a word-level bigram with
    a large vocabulary costs memory in proportion to the corpus, not to |V|^2.
    """

    def __init__(self, order: int, vocab_size: int, k: float = 1.0):
        self.order = _check_positive_int(order, "order")
        self.vocab_size = _check_positive_int(vocab_size, "vocab_size")
        if not (isinstance(k, int | float | np.floating) and math.isfinite(k) and k >= 0):
            raise ValueError(f"k must be a finite number >= 0, got {k!r}")
        self.k = float(k)
        if vocab_size**order > _MAX_CODE:
            raise ValueError(
                f"vocab_size**order = {vocab_size}**{order} does not fit the int64 n-gram "
                "codes; use a smaller order or vocabulary"
            )
        self._ngram_keys: np.ndarray | None = None
        self._ngram_counts: np.ndarray | None = None
        self._context_keys: np.ndarray | None = None
        self._context_counts: np.ndarray | None = None

    @property
    def is_fitted(self) -> bool:
        return self._ngram_keys is not None

    @property
    def num_parameters(self) -> int:
        """|V|^n: the size of the full conditional-probability table."""
        return ngram_parameter_count(self.vocab_size, self.order)

    def fit(self, indices) -> NGramLM:
        """Count n-grams and their contexts in ``indices`` (N,) with N >= order. Returns self."""
        arr = _as_index_array(indices, self.vocab_size)
        if arr.size < self.order:
            raise ValueError(
                f"indices must hold at least order={self.order} tokens, got {arr.size}"
            )
        ngrams = _encode_windows(arr, self.order, self.vocab_size)
        # A context is counted only where a token follows it: drop the final window.
        contexts = _encode_windows(arr[:-1], self.order - 1, self.vocab_size)
        self._ngram_keys, self._ngram_counts = np.unique(ngrams, return_counts=True)
        self._context_keys, self._context_counts = np.unique(contexts, return_counts=True)
        return self

    def _require_fitted(self) -> None:
        if not self.is_fitted:
            raise RuntimeError(f"this {type(self).__name__} is not fitted yet: call fit(indices)")

    def count(self, ngram) -> int:
        """How often the n-gram (a sequence of ``order`` indices) occurred in the training data."""
        self._require_fitted()
        arr = _as_index_array(ngram, self.vocab_size, name="ngram")
        if arr.size != self.order:
            raise ValueError(f"ngram must hold order={self.order} indices, got {arr.size}")
        code = _encode_windows(arr, self.order, self.vocab_size)
        return int(_lookup_counts(self._ngram_keys, self._ngram_counts, code)[0])

    def conditional_probabilities(self, indices) -> np.ndarray:
        """P(x_t | context) for every position t >= order - 1 of ``indices`` (N,).

        Returns an array (N - order + 1,) of probabilities, eq. (ch3-addk).
        """
        self._require_fitted()
        arr = _as_index_array(indices, self.vocab_size)
        if arr.size < self.order:
            raise ValueError(
                f"indices must hold at least order={self.order} tokens, got {arr.size}"
            )
        return self._probabilities(_encode_windows(arr, self.order, self.vocab_size))

    def _probabilities(self, ngram_codes: np.ndarray) -> np.ndarray:
        """Eq. (ch3-addk) for encoded n-grams (m,) -> probabilities (m,)."""
        context_codes = ngram_codes // self.vocab_size  # drop the predicted token
        joint = _lookup_counts(self._ngram_keys, self._ngram_counts, ngram_codes)
        context = _lookup_counts(self._context_keys, self._context_counts, context_codes)
        numerator = joint + self.k
        denominator = context + self.k * self.vocab_size
        with np.errstate(divide="ignore", invalid="ignore"):
            probs = numerator / denominator
        # With k = 0 an unseen context gives 0/0: the MLE has no opinion, call it probability 0.
        return np.where(denominator > 0, probs, 0.0)

    def next_token_distribution(self, context) -> np.ndarray:
        """P(. | context) over the whole vocabulary, (|V|,), for a context of order - 1 indices."""
        self._require_fitted()
        ctx = _as_index_array(context, self.vocab_size, name="context")
        if ctx.size != self.order - 1:
            raise ValueError(f"context must hold order-1={self.order - 1} indices, got {ctx.size}")
        context_code = _encode_windows(ctx, ctx.size, self.vocab_size)[0]
        candidates = np.arange(self.vocab_size, dtype=np.int64)
        return self._probabilities(context_code * self.vocab_size + candidates)

    def log_likelihood(self, indices) -> float:
        """Sum of natural-log probabilities over the scored positions (-inf if one is 0)."""
        probs = self.conditional_probabilities(indices)
        with np.errstate(divide="ignore"):
            return float(np.log(probs).sum())

    def perplexity(self, indices) -> float:
        """exp of the mean negative log-likelihood per scored token, eq. (ch3-perplexity).

        ``indices`` (N,) with N >= order; positions order-1..N-1 are scored.
        Returns ``inf`` when an unsmoothed model (k = 0) meets an unseen n-gram.
        """
        probs = self.conditional_probabilities(indices)
        with np.errstate(divide="ignore"):
            mean_nll = -float(np.log(probs).mean())
        return math.exp(mean_nll) if math.isfinite(mean_nll) else math.inf

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"{name}(order={self.order}, vocab_size={self.vocab_size}, k={self.k})"


class UnigramLM(NGramLM):
    """P(x_t) = (count(x_t) + k) / (N + k |V|): ignores all context."""

    def __init__(self, vocab_size: int, k: float = 1.0):
        super().__init__(1, vocab_size, k)

    def __repr__(self) -> str:
        return f"UnigramLM(vocab_size={self.vocab_size}, k={self.k})"


class BigramLM(NGramLM):
    """P(x_t | x_{t-1}) = (count(x_{t-1}, x_t) + k) / (count(x_{t-1}) + k |V|)."""

    def __init__(self, vocab_size: int, k: float = 1.0):
        super().__init__(2, vocab_size, k)

    def __repr__(self) -> str:
        return f"BigramLM(vocab_size={self.vocab_size}, k={self.k})"


def ngram_parameter_count(vocab_size: int, order: int) -> int:
    """|V|^n, the entries of a full n-gram probability table, eq. (ch3-ngram-params)."""
    return _check_positive_int(vocab_size, "vocab_size") ** _check_positive_int(order, "order")


def ngram_count_table(indices, vocab_size: int, max_order: int = 4) -> list[dict]:
    """How sparse n-gram statistics get: one row per order n = 1..max_order.

    Each row is ``{"order": n, "parameters": |V|^n, "observed": distinct n-grams seen,
    "fraction_observed": observed / |V|^n}`` computed from ``indices`` (N,).
    """
    arr = _as_index_array(indices, _check_positive_int(vocab_size, "vocab_size"))
    rows = []
    for order in range(1, _check_positive_int(max_order, "max_order") + 1):
        params = ngram_parameter_count(vocab_size, order)
        if arr.size >= order and params <= _MAX_CODE:
            observed = int(np.unique(_encode_windows(arr, order, vocab_size)).size)
        elif arr.size < order:
            observed = 0
        else:  # codes would overflow int64: fall back to tuples
            observed = len({tuple(arr[i : i + order]) for i in range(arr.size - order + 1)})
        rows.append(
            {
                "order": order,
                "parameters": params,
                "observed": observed,
                "fraction_observed": observed / params,
            }
        )
    return rows
