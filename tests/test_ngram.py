"""n-gram baselines against perplexities computed by hand."""

import math

import numpy as np
import pytest

from rnn_lib.ngram import (
    BigramLM,
    NGramLM,
    UnigramLM,
    ngram_count_table,
    ngram_parameter_count,
)

# Vocabulary {0, 1, 2}; token 2 never occurs in training.
TRAIN = [0, 1, 0, 1, 1]


def test_unigram_mle_perplexity_by_hand():
    lm = UnigramLM(3, k=0).fit(TRAIN)
    # P(0) = 2/5, P(1) = 3/5; perplexity of [0, 1] = (0.4 * 0.6) ** (-1/2).
    assert lm.perplexity([0, 1]) == pytest.approx(1 / math.sqrt(0.24))
    assert lm.perplexity([2, 1]) == math.inf


def test_unigram_laplace_perplexity_by_hand():
    lm = UnigramLM(3, k=1).fit(TRAIN)
    # P = (3/8, 4/8, 1/8); perplexity of [2, 1] = (1/8 * 1/2) ** (-1/2) = 4.
    np.testing.assert_allclose(lm.next_token_distribution([]), [3 / 8, 4 / 8, 1 / 8])
    assert lm.perplexity([2, 1]) == pytest.approx(4.0)


def test_bigram_laplace_perplexity_by_hand():
    lm = BigramLM(3, k=1).fit(TRAIN)
    # Bigrams 01 x2, 10, 11; contexts 0 x2, 1 x2.
    # P(1|0) = 3/5, P(1|1) = 2/5, P(2|1) = 1/5: three transitions in [0, 1, 1, 2].
    assert lm.perplexity([0, 1, 1, 2]) == pytest.approx((125 / 6) ** (1 / 3))
    np.testing.assert_allclose(lm.next_token_distribution([2]), [1 / 3] * 3)
    assert lm.count([0, 1]) == 2 and lm.count([2, 2]) == 0


def test_bigram_mle_unseen_transition_is_infinite():
    lm = BigramLM(3, k=0).fit(TRAIN)
    assert lm.perplexity([0, 1, 0]) == pytest.approx((1.0 * 0.5) ** -0.5)
    assert lm.perplexity([1, 2]) == math.inf


@pytest.mark.parametrize("order", [1, 2, 3])
def test_conditionals_sum_to_one(order):
    rng = np.random.default_rng(0)
    corpus = rng.integers(0, 5, size=200)
    lm = NGramLM(order, 5, k=0.5).fit(corpus)
    for context in [corpus[: order - 1], np.full(order - 1, 4)]:
        assert lm.next_token_distribution(context).sum() == pytest.approx(1.0)


def test_bigram_beats_unigram_on_structured_sequence():
    pattern = np.tile([0, 1, 2, 3], 50)
    uni = UnigramLM(4, k=0.1).fit(pattern)
    bi = BigramLM(4, k=0.1).fit(pattern)
    assert uni.perplexity(pattern[:40]) == pytest.approx(4.0, rel=1e-6)
    assert bi.perplexity(pattern[:40]) < 1.01


def test_parameter_counts_and_sparsity_table():
    assert ngram_parameter_count(28, 3) == 28**3
    rows = ngram_count_table(TRAIN, 3, max_order=3)
    assert [r["parameters"] for r in rows] == [3, 9, 27]
    assert [r["observed"] for r in rows] == [2, 3, 3]
    assert rows[1]["fraction_observed"] == pytest.approx(3 / 9)


def test_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="indices must lie in"):
        UnigramLM(3).fit([0, 3])
    with pytest.raises(ValueError, match="k must be"):
        BigramLM(3, k=-1)
    with pytest.raises(RuntimeError, match="not fitted"):
        BigramLM(3).perplexity([0, 1])
    with pytest.raises(ValueError, match="1-D"):
        UnigramLM(3).fit([[0, 1]])
