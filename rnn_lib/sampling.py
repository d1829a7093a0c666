"""Generating text from a trained language model: greedy decoding and temperature sampling.

Both model kinds in the package (:class:`rnn_lib.lm_numpy.RNNLMNumpy` and
:class:`rnn_lib.lm_torch.TorchCharLM`) follow one small protocol, so every function
here works with either:

* ``model.vocab_size`` -- |V|, the number of logits per step;
* ``model.begin_state(batch_size)`` -- the initial recurrent state for that many rows;
* ``model.step(tokens, state) -> (logits, state)`` -- feed one token per row,
  ``tokens (n,)`` int, and get the next-token logits as a float64 numpy array ``(n, |V|)``.

Generation first *warms up* the state on the prefix (the model reads every prefix
token; only the logits after the last one are used), then repeatedly picks the next
token and feeds it back in.

Temperature sampling draws from ``softmax(o / tau)``, eq. (ch6-temperature):
``tau = 1`` samples from the model's distribution, ``tau < 1`` sharpens it and, as
``tau -> 0``, approaches greedy decoding (always the arg max); ``tau > 1`` flattens it
towards uniform.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = [
    "softmax_with_temperature",
    "greedy_generate",
    "sample_generate",
    "generate_text",
]


def _check_temperature(temperature) -> float:
    if (
        isinstance(temperature, bool)
        or not isinstance(temperature, int | float | np.floating | np.integer)
        or not math.isfinite(temperature)
        or temperature <= 0
    ):
        raise ValueError(
            f"temperature: expected a finite number > 0 (use greedy decoding for the "
            f"limit tau -> 0), got {temperature!r}"
        )
    return float(temperature)


def _check_num_tokens(num_tokens) -> int:
    if isinstance(num_tokens, bool) or not isinstance(num_tokens, int | np.integer):
        raise TypeError(f"num_tokens: expected an int >= 0, got {type(num_tokens).__name__}")
    if num_tokens < 0:
        raise ValueError(f"num_tokens: expected an int >= 0, got {num_tokens}")
    return int(num_tokens)


def _check_prefix(prefix, vocab_size: int) -> np.ndarray:
    arr = np.asarray(prefix)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(
            f"prefix: expected a non-empty 1-D sequence of token indices, got shape {arr.shape}"
        )
    if not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"prefix: expected integer token indices, got dtype {arr.dtype}")
    if arr.min() < 0 or arr.max() >= vocab_size:
        raise ValueError(
            f"prefix: expected indices in [0, {vocab_size}), got values in "
            f"[{arr.min()}, {arr.max()}]"
        )
    return arr.astype(np.int64)


def softmax_with_temperature(logits, temperature: float = 1.0) -> np.ndarray:
    """Probabilities ``softmax(logits / tau)`` along the last axis, eq. (ch6-temperature).

    logits (..., |V|) -> probabilities (..., |V|) in float64. The maximum is subtracted
    before exponentiating, so tiny temperatures give a one-hot on the arg max instead
    of overflowing.
    """
    tau = _check_temperature(temperature)
    scaled = np.asarray(logits, dtype=np.float64) / tau
    scaled -= scaled.max(axis=-1, keepdims=True)
    weights = np.exp(scaled)
    return weights / weights.sum(axis=-1, keepdims=True)


def _warm_up(model, prefix: np.ndarray):
    """Feed every prefix token; return the logits after the last one (|V|,) and the state."""
    state = model.begin_state(1)
    logits = None
    for token in prefix:
        logits, state = model.step(np.array([token], dtype=np.int64), state)
    return np.asarray(logits, dtype=np.float64)[0], state


def _generate(model, prefix, num_tokens, choose) -> np.ndarray:
    """Shared decoding loop; ``choose(logits (|V|,)) -> int`` picks each next token."""
    prefix = _check_prefix(prefix, model.vocab_size)
    num_tokens = _check_num_tokens(num_tokens)
    logits, state = _warm_up(model, prefix)
    generated = np.empty(num_tokens, dtype=np.int64)
    for i in range(num_tokens):
        generated[i] = choose(logits)
        if i + 1 < num_tokens:  # the logits after the last token are never needed
            step_logits, state = model.step(generated[i : i + 1], state)
            logits = np.asarray(step_logits, dtype=np.float64)[0]
    return generated


def greedy_generate(model, prefix: Sequence[int], num_tokens: int) -> np.ndarray:
    """Greedy decoding: after the prefix, append the arg-max token ``num_tokens`` times.

    prefix (P,) int indices, P >= 1 -> generated indices (num_tokens,) (prefix excluded).
    Deterministic; ties go to the lowest index.
    """
    return _generate(model, prefix, num_tokens, lambda logits: int(np.argmax(logits)))


def sample_generate(
    model,
    prefix: Sequence[int],
    num_tokens: int,
    temperature: float = 1.0,
    rng: np.random.Generator | int | None = 0,
) -> np.ndarray:
    """Temperature sampling: draw each next token from ``softmax(logits / tau)``.

    prefix (P,) int indices, P >= 1 -> generated indices (num_tokens,) (prefix excluded).
    ``rng`` is a ``numpy.random.Generator`` (advanced in place) or a seed for a new one;
    the same seed gives the same text. Sampling uses inverse-CDF draws, one uniform
    number per token, so the tau -> 0 limit picks the arg max like greedy decoding.
    """
    tau = _check_temperature(temperature)
    generator = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)

    def choose(logits: np.ndarray) -> int:
        cumulative = np.cumsum(softmax_with_temperature(logits, tau))
        # side="right" never lands on a zero-probability token, even when u == 0.
        index = np.searchsorted(cumulative, generator.random() * cumulative[-1], side="right")
        return int(min(index, cumulative.size - 1))

    return _generate(model, prefix, num_tokens, choose)


def generate_text(
    model,
    vocab,
    prefix: str,
    num_chars: int,
    temperature: float | None = None,
    rng: np.random.Generator | int | None = 0,
) -> str:
    """Continue the string ``prefix`` by ``num_chars`` characters; returns prefix + continuation.

    For character-level models whose ``vocab`` (a :class:`rnn_lib.text.Vocab`) maps
    single characters to indices. ``temperature=None`` decodes greedily; a positive
    float samples at that temperature with ``rng`` (seed or Generator). Characters of
    the prefix that are not in the vocabulary map to ``"<unk>"``.
    """
    if not isinstance(prefix, str) or not prefix:
        raise ValueError(f"prefix: expected a non-empty str, got {prefix!r}")
    if len(vocab) != model.vocab_size:
        raise ValueError(
            f"vocab: expected {model.vocab_size} tokens (the model's vocab_size), got {len(vocab)}"
        )
    prefix_indices = vocab.to_indices(list(prefix))
    if temperature is None:
        indices = greedy_generate(model, prefix_indices, num_chars)
    else:
        indices = sample_generate(model, prefix_indices, num_chars, temperature, rng)
    return prefix + "".join(vocab.to_tokens(indices))
