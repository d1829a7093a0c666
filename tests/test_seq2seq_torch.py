"""The torch encoder-decoder used for training: numpy replays it exactly; a short run learns."""

import numpy as np
import pytest
import torch
from _oracles import assert_close

from rnn_lib import encode_pairs, make_toy_task, seq2seq_forward
from rnn_lib.seq2seq_torch import TorchSeq2Seq, evaluate_pairs, train_seq2seq


@pytest.mark.parametrize("attention_size", [None, 5])
def test_numpy_replays_the_torch_model(attention_size):
    task = make_toy_task("date", 20, 5, 5, seed=2)
    model = TorchSeq2Seq(len(task.src_vocab), len(task.tgt_vocab), 6, 7,
                         attention_size=attention_size, seed=1, dtype=torch.float64)
    batch = encode_pairs(task.train[:6], task.src_vocab, task.tgt_vocab)
    with torch.no_grad():
        logits, alpha = model(torch.from_numpy(batch.src), torch.from_numpy(batch.src_lengths),
                              torch.from_numpy(batch.dec_in))
    O, cache = seq2seq_forward(model.numpy_params(), batch.src, batch.dec_in, batch.src_lengths)
    assert_close(O, logits.numpy(), "logits")
    if attention_size is None:
        assert alpha is None and cache.alpha is None
    else:
        assert_close(cache.alpha, alpha.numpy(), "attention weights")


def test_same_seed_same_model_and_a_short_run_learns():
    task = make_toy_task("reverse", 256, 16, 32, min_len=1, max_len=3, seed=0)
    torch.set_num_threads(1)
    model, losses = train_seq2seq(task, attention_size=8, embed_size=8, hidden_size=24, epochs=10,
                                  batch_size=32, lr=0.02, seed=3)
    again, losses_again = train_seq2seq(task, attention_size=8, embed_size=8, hidden_size=24, epochs=10,
                                        batch_size=32, lr=0.02, seed=3)
    assert losses == losses_again
    assert losses[-1] < 0.5 * losses[0]
    predictions = evaluate_pairs(model.numpy_params(), task, task.test)
    accuracy = np.mean([p == t for p, (_, t) in zip(predictions, task.test, strict=True)])
    assert accuracy > 0.6, accuracy
    assert evaluate_pairs(model.numpy_params(), task, task.test[:4], beam_width=3) is not None
