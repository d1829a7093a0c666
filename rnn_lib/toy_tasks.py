"""Small offline sequence-to-sequence tasks, generated from a seed, with fixed splits.

Three tasks, each a list of ``(source, target)`` character strings:

* ``"reverse"``: a digit string and its reversal, ``"20417" -> "71402"``. The
  output needs every input symbol, in the opposite order: the first output
  token depends on the *last* input token and the last on the first, so the
  encoder's final state has to hold the whole input (the bottleneck that
  attention removes).
* ``"sort"``: a digit string and its digits in increasing order,
  ``"20417" -> "01247"`` (only the counts of each digit matter).
* ``"date"``: a date written in one of several formats and its ISO form,
  ``"march 14, 2021" -> "2021-03-14"``, ``"14/03/2021" -> "2021-03-14"``.

:func:`make_toy_task` draws distinct sources (no source occurs in two splits),
shuffles them with the seed and splits them into train, valid and test.
Both vocabularies (:class:`rnn_lib.text.Vocab`, one token per character) hold
``<unk>`` (0), ``<pad>`` (1), ``<bos>`` (2) and ``<eos>`` (3) before the
task's characters, in a fixed order. :func:`encode_pairs` turns pairs into the
padded, time-major index arrays of :mod:`rnn_lib.seq2seq`::

    src         (T_s, n)  source tokens, <pad> after each source's end
    src_lengths (n,)
    dec_in      (T_t, n)  <bos> y_1 .. y_{m-1}      (teacher forcing)
    dec_target  (T_t, n)  y_1 .. y_m <eos>, then <pad>
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from rnn_lib._checks import check_positive_int
from rnn_lib.text import UNK, Vocab

PAD, BOS, EOS = "<pad>", "<bos>", "<eos>"
SPECIALS = (PAD, BOS, EOS)
TASKS = ("reverse", "sort", "date")
DIGITS = "0123456789"
MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august",
          "september", "october", "november", "december")
# Source formats of the date task (day, month number, month name, year).
DATE_FORMATS = (
    lambda d, m, name, y: f"{d} {name} {y}",  # 14 march 2021
    lambda d, m, name, y: f"{name} {d}, {y}",  # march 14, 2021
    lambda d, m, name, y: f"{d:02d}/{m:02d}/{y}",  # 14/03/2021
    lambda d, m, name, y: f"{name[:3]} {d:02d} {y}",  # mar 14 2021
)
_FIRST_DAY, _LAST_DAY = datetime.date(1950, 1, 1).toordinal(), datetime.date(2049, 12, 31).toordinal()


@dataclass(frozen=True)
class ToyTask:
    """A generated task: its vocabularies and three disjoint splits of ``(source, target)``."""

    name: str
    src_vocab: Vocab
    tgt_vocab: Vocab
    train: list[tuple[str, str]]
    valid: list[tuple[str, str]]
    test: list[tuple[str, str]]

    def split(self, name: str) -> list[tuple[str, str]]:
        """``"train"``, ``"valid"`` or ``"test"``."""
        if name not in ("train", "valid", "test"):
            raise ValueError(f"name: expected 'train', 'valid' or 'test', got {name!r}")
        return getattr(self, name)


@dataclass(frozen=True)
class Seq2SeqBatch:
    """Padded time-major arrays for :func:`rnn_lib.seq2seq.seq2seq_loss` (see the module docstring)."""

    src: np.ndarray  # (T_s, n)
    src_lengths: np.ndarray  # (n,)
    dec_in: np.ndarray  # (T_t, n)
    dec_target: np.ndarray  # (T_t, n)

    @property
    def size(self) -> int:
        return self.src.shape[1]


def _digit_pair(task: str, rng: np.random.Generator, min_len: int, max_len: int) -> tuple[str, str]:
    length = int(rng.integers(min_len, max_len + 1))
    source = "".join(DIGITS[i] for i in rng.integers(0, 10, size=length))
    return source, source[::-1] if task == "reverse" else "".join(sorted(source))


def _date_pair(rng: np.random.Generator) -> tuple[str, str]:
    day = datetime.date.fromordinal(int(rng.integers(_FIRST_DAY, _LAST_DAY + 1)))
    fmt = DATE_FORMATS[int(rng.integers(len(DATE_FORMATS)))]
    return fmt(day.day, day.month, MONTHS[day.month - 1], day.year), day.isoformat()


def _alphabets(task: str) -> tuple[str, str]:
    if task == "date":
        letters = sorted(set("".join(MONTHS)))
        return "".join(sorted(set(DIGITS + " ,/" + "".join(letters)))), DIGITS + "-"
    return DIGITS, DIGITS


def make_toy_task(name: str = "reverse", n_train: int = 2000, n_valid: int = 200, n_test: int = 200,
                  min_len: int = 1, max_len: int = 8, seed: int = 0) -> ToyTask:
    """Generate a task with ``n_train + n_valid + n_test`` distinct sources.

    Args:
        name: ``"reverse"``, ``"sort"`` or ``"date"``.
        n_train, n_valid, n_test: split sizes.
        min_len, max_len: source lengths of the digit tasks, uniform over
            ``[min_len, max_len]`` (the date task ignores them).
        seed: the only source of randomness; the same arguments give the same task.

    Returns:
        A :class:`ToyTask`.
    """
    if name not in TASKS:
        raise ValueError(f"name: expected one of {TASKS}, got {name!r}")
    sizes = [check_positive_int(k, v) for k, v in
             (("n_train", n_train), ("n_valid", n_valid), ("n_test", n_test))]
    min_len, max_len = check_positive_int("min_len", min_len), check_positive_int("max_len", max_len)
    if min_len > max_len:
        raise ValueError(f"max_len: expected at least min_len = {min_len}, got {max_len}")
    total = sum(sizes)
    if name != "date":
        available = sum(10**k for k in range(min_len, max_len + 1))
        if total > available // 2:
            raise ValueError(f"n_train + n_valid + n_test: expected at most {available // 2} "
                             f"(half of the {available} digit strings of length {min_len}-{max_len}), "
                             f"got {total}")
    rng = np.random.default_rng(seed)
    pairs: dict[str, str] = {}
    for _ in range(50 * total):  # ends early; the bound only guards against a tiny space
        source, target = _date_pair(rng) if name == "date" else _digit_pair(name, rng, min_len, max_len)
        pairs.setdefault(source, target)
        if len(pairs) == total:
            break
    else:
        raise ValueError(f"n_train + n_valid + n_test: could not draw {total} distinct sources, "
                         f"got {len(pairs)}; lower the split sizes")
    ordered = sorted(pairs.items())  # the draw order depends on dict internals; sort, then shuffle
    ordered = [ordered[i] for i in rng.permutation(total)]
    src_alphabet, tgt_alphabet = _alphabets(name)
    src_vocab, tgt_vocab = (Vocab(list(alphabet), reserved=list(SPECIALS))
                            for alphabet in (src_alphabet, tgt_alphabet))
    a, b = sizes[0], sizes[0] + sizes[1]
    return ToyTask(name, src_vocab, tgt_vocab, ordered[:a], ordered[a:b], ordered[b:])


def _pad(sequences: list[list[int]], pad: int) -> np.ndarray:
    """Time-major ``(max length, n)`` array, ``pad`` after each sequence's end."""
    out = np.full((max(map(len, sequences)), len(sequences)), pad, dtype=np.int64)
    for i, sequence in enumerate(sequences):
        out[:len(sequence), i] = sequence
    return out


def encode_pairs(pairs: Sequence[tuple[str, str]], src_vocab: Vocab, tgt_vocab: Vocab) -> Seq2SeqBatch:
    """Index, pad and shift ``(source, target)`` pairs into a :class:`Seq2SeqBatch`."""
    if len(pairs) == 0:
        raise ValueError("pairs: expected at least one (source, target) pair, got none")
    for source, target in pairs:
        if not source or not isinstance(source, str) or not isinstance(target, str):
            raise ValueError(f"pairs: expected (source, target) strings with a non-empty source, "
                             f"got {(source, target)!r}")
    sources = [src_vocab[list(source)] for source, _ in pairs]
    targets = [tgt_vocab[list(target)] for _, target in pairs]
    bos, eos = tgt_vocab[BOS], tgt_vocab[EOS]
    return Seq2SeqBatch(
        src=_pad(sources, src_vocab[PAD]),
        src_lengths=np.array([len(s) for s in sources], dtype=np.int64),
        dec_in=_pad([[bos, *t] for t in targets], tgt_vocab[PAD]),
        dec_target=_pad([[*t, eos] for t in targets], tgt_vocab[PAD]),
    )


def seq2seq_batches(pairs: Sequence[tuple[str, str]], batch_size: int, rng: np.random.Generator,
            src_vocab: Vocab, tgt_vocab: Vocab) -> Iterator[Seq2SeqBatch]:
    """One shuffled pass over ``pairs`` in batches of ``batch_size`` (the last may be smaller)."""
    batch_size = check_positive_int("batch_size", batch_size)
    order = rng.permutation(len(pairs))
    for start in range(0, len(pairs), batch_size):
        yield encode_pairs([pairs[i] for i in order[start:start + batch_size]], src_vocab, tgt_vocab)


def decode_tokens(tokens: Sequence[int], vocab: Vocab) -> str:
    """The string a decoder produced: characters up to the first ``<eos>``, specials dropped."""
    out = []
    for token in vocab.to_tokens([int(t) for t in tokens]):
        if token == EOS:
            break
        if token not in SPECIALS and token != UNK:
            out.append(token)
    return "".join(out)


def accuracy_by_length(sources: Sequence[str], predictions: Sequence[str],
                       targets: Sequence[str]) -> dict[int, tuple[float, int]]:
    """Exact-match accuracy grouped by source length: ``{length: (accuracy, count)}``."""
    if not len(sources) == len(predictions) == len(targets):
        raise ValueError(f"predictions: expected {len(sources)} entries (one per source) and as many "
                         f"targets, got {len(predictions)} and {len(targets)}")
    groups: dict[int, list[bool]] = {}
    for source, predicted, target in zip(sources, predictions, targets, strict=True):
        groups.setdefault(len(source), []).append(predicted == target)
    return {length: (float(np.mean(hits)), len(hits)) for length, hits in sorted(groups.items())}
