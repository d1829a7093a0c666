"""The toy sequence-to-sequence tasks: determinism, disjoint splits, correct targets, batches."""

import datetime

import numpy as np
import pytest

from rnn_lib import (
    accuracy_by_length,
    decode_tokens,
    encode_pairs,
    greedy_decode,
    init_seq2seq,
    make_toy_task,
    seq2seq_batches,
    seq2seq_loss,
)
from rnn_lib.toy_tasks import MONTHS


@pytest.mark.parametrize("name", ["reverse", "sort", "date"])
def test_same_seed_same_task_and_disjoint_splits(name):
    task = make_toy_task(name, n_train=300, n_valid=50, n_test=50, seed=3)
    again = make_toy_task(name, n_train=300, n_valid=50, n_test=50, seed=3)
    other = make_toy_task(name, n_train=300, n_valid=50, n_test=50, seed=4)
    assert (task.train, task.valid, task.test) == (again.train, again.valid, again.test)
    assert task.train != other.train
    assert [len(task.split(s)) for s in ("train", "valid", "test")] == [300, 50, 50]
    sources = [s for split in (task.train, task.valid, task.test) for s, _ in split]
    assert len(set(sources)) == 400, "no source in two splits (nor twice in one)"
    for vocab in (task.src_vocab, task.tgt_vocab):
        assert vocab.idx_to_token[:4] == ["<unk>", "<pad>", "<bos>", "<eos>"]
        assert all(vocab[c] > 3 for s, t in task.train for c in s + t if c in vocab)


def test_targets_are_right():
    for source, target in make_toy_task("reverse", 200, 10, 10, min_len=2, max_len=6).train:
        assert target == source[::-1] and 2 <= len(source) <= 6 and source.isdigit()
    for source, target in make_toy_task("sort", 200, 10, 10).train:
        assert target == "".join(sorted(source))
    for source, target in make_toy_task("date", 200, 10, 10).train:
        day = datetime.date.fromisoformat(target)
        assert str(day.year) in source
        assert (MONTHS[day.month - 1] in source or MONTHS[day.month - 1][:3] in source
                or f"{day.month:02d}/" in source)


def test_encode_pairs_pads_and_shifts_for_teacher_forcing():
    task = make_toy_task("reverse", 50, 5, 5)
    pad, bos, eos = (task.tgt_vocab[t] for t in ("<pad>", "<bos>", "<eos>"))
    batch = encode_pairs([("123", "321"), ("4", "4")], task.src_vocab, task.tgt_vocab)
    assert batch.src.shape == (3, 2) and batch.size == 2
    assert batch.src_lengths.tolist() == [3, 1]
    assert batch.src[1:, 1].tolist() == [pad, pad]
    assert batch.dec_in[:, 0].tolist() == [bos, *task.tgt_vocab[list("321")]]
    assert batch.dec_target[:, 0].tolist() == [*task.tgt_vocab[list("321")], eos]
    assert batch.dec_in[:, 1].tolist() == [bos, task.tgt_vocab["4"], pad, pad]
    assert batch.dec_target[:, 1].tolist() == [task.tgt_vocab["4"], eos, pad, pad]
    assert batch.dec_in[1:, 0].tolist() == batch.dec_target[:-1, 0].tolist(), "shifted by one"
    assert decode_tokens([*task.tgt_vocab[list("321")], eos, bos], task.tgt_vocab) == "321"


def test_batches_cover_every_pair_once():
    task = make_toy_task("sort", 103, 5, 5)
    seen = []
    for batch in seq2seq_batches(task.train, 20, np.random.default_rng(0), task.src_vocab, task.tgt_vocab):
        assert batch.size <= 20
        seen += ["".join(task.src_vocab.to_tokens(batch.src[:n, i]))
                 for i, n in enumerate(batch.src_lengths)]
    assert sorted(seen) == sorted(s for s, _ in task.train)


def test_a_small_model_fits_a_batch():
    """The task's arrays plug into seq2seq_loss: a few SGD steps lower the loss, then
    greedy decoding gives decodable strings."""
    task = make_toy_task("reverse", 16, 4, 4, min_len=1, max_len=3, seed=1)
    batch = encode_pairs(task.train, task.src_vocab, task.tgt_vocab)
    params = init_seq2seq(len(task.src_vocab), len(task.tgt_vocab), 8, 16, np.random.default_rng(0),
                          attention_size=8)
    pad = task.tgt_vocab["<pad>"]
    losses = []
    for _ in range(30):
        loss, grads = seq2seq_loss(params, batch.src, batch.dec_in, batch.dec_target,
                                   batch.src_lengths, pad_index=pad)
        losses.append(loss)
        params = {k: v - 0.5 * grads[k] for k, v in params.items()}
    assert losses[-1] < 0.7 * losses[0]
    outputs, _ = greedy_decode(params, batch.src, task.tgt_vocab["<bos>"], task.tgt_vocab["<eos>"],
                               max_len=5, src_lengths=batch.src_lengths)
    predictions = [decode_tokens(t, task.tgt_vocab) for t in outputs]
    assert all(set(p) <= set("0123456789") for p in predictions)
    table = accuracy_by_length([s for s, _ in task.train], predictions, [t for _, t in task.train])
    assert sorted(table) == sorted({len(s) for s, _ in task.train})
    assert sum(count for _, count in table.values()) == 16


def test_accuracy_by_length():
    table = accuracy_by_length(["1", "22", "33"], ["1", "22", "x"], ["1", "22", "33"])
    assert table == {1: (1.0, 1), 2: (0.5, 2)}


@pytest.mark.parametrize(
    "call,error,message",
    [
        (lambda: make_toy_task("copy"), ValueError, "name: expected one of"),
        (lambda: make_toy_task("reverse", 100, 10, 10, min_len=1, max_len=1), ValueError,
         r"expected at most 5 \(half of the 10 digit strings of length 1-1\), got 120"),
        (lambda: make_toy_task("reverse", min_len=3, max_len=2), ValueError,
         "max_len: expected at least min_len = 3, got 2"),
        (lambda: make_toy_task("sort", n_train=0), ValueError, "n_train: expected a positive int"),
        (lambda: encode_pairs([], None, None), ValueError, "pairs: expected at least one"),
        (lambda: accuracy_by_length(["1"], [], ["1"]), ValueError, "predictions: expected 1 entries"),
    ],
)
def test_bad_arguments_are_named(call, error, message):
    with pytest.raises(error, match=message):
        call()
