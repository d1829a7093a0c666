"""The encoder-decoder of :mod:`rnn_lib.seq2seq` in PyTorch, for training; numpy replays it.

:class:`TorchSeq2Seq` computes exactly eqs. (ch7-encoder)-(ch7-decoder-output),
with the same parameters (``nn.GRU`` for the encoder, ``nn.GRUCell`` for the
decoder, additive attention written out), so a model trained here is exported
with :meth:`TorchSeq2Seq.numpy_params` and decoded by
:func:`rnn_lib.seq2seq.greedy_decode` / :func:`rnn_lib.seq2seq.beam_search`,
the way chapter 5 replays its trained memory models through rnn_lib's cells.

:func:`train_seq2seq` fits one on a :class:`rnn_lib.toy_tasks.ToyTask` with Adam
and teacher forcing; :func:`evaluate_pairs` decodes a split with the numpy
decoders and scores exact matches. Seeded: the initialisation and the batch
order come from ``seed`` (inside ``torch.random.fork_rng``, so the caller's
random state is untouched). Importing this module imports torch, so the
package root does not.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from rnn_lib._checks import check_positive, check_positive_int
from rnn_lib.seq2seq import beam_search, greedy_decode
from rnn_lib.toy_tasks import BOS, EOS, PAD, ToyTask, decode_tokens, encode_pairs, seq2seq_batches

__all__ = ["TorchSeq2Seq", "evaluate_pairs", "train_seq2seq"]


class TorchSeq2Seq(nn.Module):
    """GRU encoder-decoder, optionally with additive attention (``attention_size``)."""

    def __init__(self, src_vocab: int, tgt_vocab: int, embed_size: int, hidden_size: int, *,
                 attention_size: int | None = None, seed: int = 0, dtype=torch.float32):
        super().__init__()
        e, h = check_positive_int("embed_size", embed_size), check_positive_int("hidden_size", hidden_size)
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            self.E_src = nn.Embedding(check_positive_int("src_vocab", src_vocab), e)
            self.E_tgt = nn.Embedding(check_positive_int("tgt_vocab", tgt_vocab), e)
            self.encoder = nn.GRU(e, h)
            self.attention_size = attention_size
            if attention_size is not None:
                a = check_positive_int("attention_size", attention_size)
                bound = 1.0 / h**0.5
                self.att_W_q = nn.Parameter(torch.empty(h, a).uniform_(-bound, bound))
                self.att_W_k = nn.Parameter(torch.empty(h, a).uniform_(-bound, bound))
                self.att_v = nn.Parameter(torch.empty(a).uniform_(-bound, bound))
            self.decoder = nn.GRUCell(e + (h if attention_size is not None else 0), h)
            self.output = nn.Linear(h, tgt_vocab)
        self.to(dtype)

    def forward(self, src, src_lengths, dec_in):
        """Teacher-forced logits ``(T_t, n, V_t)`` and attention weights ``(T_t, T_s, n)`` (or None).

        ``src (T_s, n)``, ``src_lengths (n,)``, ``dec_in (T_t, n)``: int64 tensors.
        """
        H_enc, _ = self.encoder(self.E_src(src))
        n = src.shape[1]
        S = H_enc[src_lengths - 1, torch.arange(n)]
        padding = torch.arange(src.shape[0])[:, None] >= src_lengths[None, :]
        logits, alphas = [], []
        for X_t in self.E_tgt(dec_in):
            if self.attention_size is not None:
                E = torch.tanh((S @ self.att_W_q)[None] + H_enc @ self.att_W_k)
                alpha = torch.softmax((E @ self.att_v).masked_fill(padding, float("-inf")), dim=0)
                X_t = torch.cat([X_t, (alpha[..., None] * H_enc).sum(dim=0)], dim=1)
                alphas.append(alpha)
            S = self.decoder(X_t, S)
            logits.append(self.output(S))
        return torch.stack(logits), (torch.stack(alphas) if alphas else None)

    def numpy_params(self) -> dict[str, np.ndarray]:
        """The parameters in :mod:`rnn_lib.seq2seq`'s layout, as float64 arrays."""
        def array(tensor):
            return tensor.detach().cpu().double().numpy().copy()

        params = {"E_src": array(self.E_src.weight), "E_tgt": array(self.E_tgt.weight),
                  "W_hq": array(self.output.weight).T.copy(), "b_q": array(self.output.bias)}
        for side, module, suffix in (("enc", self.encoder, "_l0"), ("dec", self.decoder, "")):
            params |= {f"{side}_W_x": array(getattr(module, "weight_ih" + suffix)).T.copy(),
                       f"{side}_W_h": array(getattr(module, "weight_hh" + suffix)).T.copy(),
                       f"{side}_b_x": array(getattr(module, "bias_ih" + suffix)),
                       f"{side}_b_h": array(getattr(module, "bias_hh" + suffix))}
        if self.attention_size is not None:
            params |= {k: array(getattr(self, k)) for k in ("att_W_q", "att_W_k", "att_v")}
        return params


def _tensors(batch):
    return (torch.from_numpy(batch.src), torch.from_numpy(batch.src_lengths),
            torch.from_numpy(batch.dec_in), torch.from_numpy(batch.dec_target))


def train_seq2seq(task: ToyTask, *, attention_size: int | None = None, embed_size: int = 16,
                  hidden_size: int = 64, epochs: int = 10, batch_size: int = 64, lr: float = 0.01,
                  clip: float = 1.0, seed: int = 0, max_seconds: float | None = None):
    """Train a :class:`TorchSeq2Seq` on ``task.train`` with teacher forcing (Adam, clipping).

    Args:
        task: the toy task (its vocabularies size the model).
        attention_size: None for the plain encoder-decoder, else the attention size ``a``.
        embed_size, hidden_size: ``e`` and ``h``.
        epochs, batch_size, lr, clip: the optimisation; ``clip`` bounds the global gradient norm.
        seed: initialisation and batch order.
        max_seconds: optional wall-clock budget; training stops after the batch that exceeds it.

    Returns:
        The trained model (in eval mode) and the mean training loss of every epoch.
    """
    epochs, batch_size = check_positive_int("epochs", epochs), check_positive_int("batch_size", batch_size)
    check_positive("lr", lr)
    check_positive("clip", clip)
    model = TorchSeq2Seq(len(task.src_vocab), len(task.tgt_vocab), embed_size, hidden_size,
                         attention_size=attention_size, seed=seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    rng, pad = np.random.default_rng(seed), task.tgt_vocab[PAD]
    started, losses = time.perf_counter(), []
    model.train()
    for _ in range(epochs):
        epoch = []
        for batch in seq2seq_batches(task.train, batch_size, rng, task.src_vocab, task.tgt_vocab):
            src, lengths, dec_in, target = _tensors(batch)
            logits, _ = model(src, lengths, dec_in)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[2]), target.reshape(-1),
                                   ignore_index=pad)
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), clip)
            optimizer.step()
            epoch.append(loss.item())
            if max_seconds is not None and time.perf_counter() - started > max_seconds:
                break
        losses.append(float(np.mean(epoch)))
        if max_seconds is not None and time.perf_counter() - started > max_seconds:
            break
    return model.eval(), losses


def evaluate_pairs(params: dict, task: ToyTask, pairs: Sequence[tuple[str, str]], *,
                   beam_width: int = 1, max_len: int | None = None) -> list[str]:
    """Decode the sources of ``pairs`` with the numpy model ``params``; return the strings.

    ``beam_width=1`` is greedy decoding; ``max_len`` defaults to the longest
    target plus one (room for ``<eos>``).
    """
    batch = encode_pairs(pairs, task.src_vocab, task.tgt_vocab)
    bos, eos = task.tgt_vocab[BOS], task.tgt_vocab[EOS]
    max_len = max_len or batch.dec_target.shape[0]
    if beam_width == 1:
        outputs, _ = greedy_decode(params, batch.src, bos, eos, max_len, batch.src_lengths)
    else:
        outputs, _ = beam_search(params, batch.src, bos, eos, max_len, beam_width, batch.src_lengths)
    return [decode_tokens(tokens, task.tgt_vocab) for tokens in outputs]
