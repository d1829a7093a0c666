"""Character-level language models in PyTorch: RNN, GRU and LSTM with one interface.

:class:`TorchRNNLM` maps token indices to next-token logits::

    tokens (T, n) -> one-hot (T, n, |V|) or embedding (T, n, e)
                  -> nn.RNN / nn.GRU / nn.LSTM (L layers, h units) -> dropout
                  -> nn.Linear(h, |V|) -> logits (T, n, |V|)

It follows the same protocol as :class:`rnn_lib.lm_numpy.NumpyRNNLM` (``fit``,
``evaluate``, ``begin_state``, ``step``, a :class:`~rnn_lib.lm_numpy.TrainHistory`
per run), so the numpy and torch models are trained by the same loop,
:func:`rnn_lib.lm_numpy.train_language_model`, and compared in one table.

Reproducibility: the initialisation and the dropout masks are drawn from torch's
global generator inside ``torch.random.fork_rng``, seeded from ``seed``, so the
same arguments give the same model and history and the caller's random state is
left untouched. All CPU kernels used here are deterministic. The module never calls
``torch.set_num_threads``: the caller's setting applies.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from rnn_lib.lm_numpy import (
    NumpyRNNLM,
    TrainHistory,
    _check_positive_int,
    check_token_batch,
    evaluate_perplexity,
    train_language_model,
)

__all__ = ["TorchRNNLM"]

_CELLS = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}
_OPTIMIZERS = {
    "sgd": torch.optim.SGD,
    "adagrad": torch.optim.Adagrad,
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
}
_DTYPES = {torch.float32: torch.float32, torch.float64: torch.float64,
           np.float32: torch.float32, np.float64: torch.float64,
           "float32": torch.float32, "float64": torch.float64}


class TorchRNNLM(nn.Module):
    """RNN/GRU/LSTM character language model.

    Parameters
    ----------
    vocab_size : int
        |V|.
    num_hiddens : int
        h, hidden units per layer.
    cell : {"rnn", "gru", "lstm"}
        The recurrent layer (``"rnn"`` is the tanh Elman RNN of eq. (ch2-rnn-state)).
    num_layers : int
        Stacked recurrent layers.
    embedding_dim : int or None
        None feeds one-hot vectors (as the numpy model does); an int learns an
        nn.Embedding of that size.
    dropout : float in [0, 1)
        Applied to the embedding, between stacked layers and before the output layer.
    dtype : torch.float32 or torch.float64
        Parameter dtype (float64 for gradient checks against numpy).
    seed : int
        Seeds the initialisation and, per :meth:`fit` call, the dropout masks.
    """

    def __init__(self, vocab_size: int, num_hiddens: int, *, cell: str = "gru",
                 num_layers: int = 1, embedding_dim: int | None = None, dropout: float = 0.0,
                 dtype=torch.float32, seed: int = 0, name: str | None = None):
        super().__init__()
        self.vocab_size = _check_positive_int("vocab_size", vocab_size)
        self.num_hiddens = _check_positive_int("num_hiddens", num_hiddens)
        self.num_layers = _check_positive_int("num_layers", num_layers)
        if cell not in _CELLS:
            raise ValueError(f"cell: expected one of {sorted(_CELLS)}, got {cell!r}")
        if not (isinstance(dropout, int | float) and 0.0 <= dropout < 1.0):
            raise ValueError(f"dropout: expected a number in [0, 1), got {dropout!r}")
        if dtype not in _DTYPES:
            raise TypeError(f"dtype: expected torch.float32 or torch.float64, got {dtype!r}")
        self.cell, self.dropout_p, self.seed = cell, float(dropout), int(seed)
        self.embedding_dim = (None if embedding_dim is None
                              else _check_positive_int("embedding_dim", embedding_dim))
        self.name = name or f"torch {cell.upper()}"
        self._fit_calls = 0
        self.optimizer = None
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            input_size = self.embedding_dim or self.vocab_size
            self.embedding = (nn.Embedding(self.vocab_size, self.embedding_dim)
                              if self.embedding_dim else None)
            self.rnn = _CELLS[cell](input_size, self.num_hiddens, num_layers=self.num_layers,
                                    dropout=self.dropout_p if self.num_layers > 1 else 0.0)
            self.drop = nn.Dropout(self.dropout_p)
            self.head = nn.Linear(self.num_hiddens, self.vocab_size)
        self.to(_DTYPES[dtype])

    @property
    def dtype(self) -> torch.dtype:
        return self.head.weight.dtype

    @property
    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    # ---- forward
    def _inputs(self, X: torch.Tensor) -> torch.Tensor:
        if self.embedding is not None:
            return self.drop(self.embedding(X))
        return F.one_hot(X, self.vocab_size).to(self.dtype)

    def forward(self, X, state=None):
        """X (T, n) int64 tensor -> logits (T, n, |V|) and the final state.

        The state is ``H (L, n, h)``, or ``(H, C)`` for the LSTM; None means zeros.
        """
        outputs, state = self.rnn(self._inputs(X), state)
        return self.head(self.drop(outputs)), state

    # ---- state protocol
    def begin_state(self, batch_size: int):
        """Zero state for ``batch_size`` rows: (L, n, h), or a pair of them for the LSTM."""
        shape = (self.num_layers, _check_positive_int("batch_size", batch_size),
                 self.num_hiddens)
        H = torch.zeros(shape, dtype=self.dtype)
        return (H, torch.zeros_like(H)) if self.cell == "lstm" else H

    @staticmethod
    def detach_state(state):
        """Cut the graph at the window boundary (truncated BPTT); values are kept."""
        if isinstance(state, tuple):
            return tuple(s.detach() for s in state)
        return state.detach()

    @staticmethod
    def state_batch_size(state) -> int:
        return (state[0] if isinstance(state, tuple) else state).shape[1]

    @staticmethod
    def _tokens(X) -> torch.Tensor:
        return torch.as_tensor(np.ascontiguousarray(X), dtype=torch.int64)

    # ---- training protocol
    def configure_optimizer(self, name: str, lr: float, **kwargs) -> None:
        """Create a torch optimiser: ``"sgd"``, ``"adagrad"``, ``"adam"`` or ``"adamw"``."""
        if name not in _OPTIMIZERS:
            raise ValueError(f"optimizer: expected one of {sorted(_OPTIMIZERS)}, got {name!r}")
        self.optimizer = _OPTIMIZERS[name](self.parameters(), lr=lr, **kwargs)

    def loss(self, X, Y, state=None):
        """Mean cross-entropy over the window, eq. (ch6-loss): (loss tensor, final state)."""
        logits, state = self(self._tokens(X), state)
        loss = F.cross_entropy(logits.reshape(-1, self.vocab_size), self._tokens(Y).reshape(-1))
        return loss, state

    def train_batch(self, X, Y, state, clip: float | None):
        """One step of truncated BPTT: returns (loss, gradient norm before clipping, state)."""
        if self.optimizer is None:
            raise RuntimeError("call configure_optimizer(name, lr) before train_batch")
        self.train()
        loss, state = self.loss(X, Y, state)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        max_norm = clip if clip is not None else math.inf
        norm = torch.nn.utils.clip_grad_norm_(self.parameters(), max_norm)
        self.optimizer.step()
        return float(loss.detach()), float(norm), self.detach_state(state)

    @torch.no_grad()
    def eval_batch(self, X, Y, state):
        """Mean NLL of one minibatch, dropout off, no parameter change: (loss, final state)."""
        self.eval()
        loss, state = self.loss(X, Y, state)
        return float(loss), state

    def fit(self, train_data, valid_data=None, **kwargs) -> TrainHistory:
        """Train with :func:`rnn_lib.lm_numpy.train_language_model` (same arguments).

        Dropout masks come from a generator seeded with ``seed`` and the number of
        previous ``fit`` calls, inside ``fork_rng`` (the global RNG is restored).
        """
        self._fit_calls += 1
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed * 1000 + self._fit_calls)
            return train_language_model(self, train_data, valid_data, **kwargs)

    def evaluate(self, batches, carry_state: bool = False) -> float:
        """Perplexity over minibatches, :func:`rnn_lib.lm_numpy.evaluate_perplexity`."""
        return evaluate_perplexity(self, batches, carry_state)

    # ---- generation and inspection
    @torch.no_grad()
    def step(self, tokens, state):
        """Feed one token per row: tokens (n,) int -> (logits (n, |V|) float64 numpy, state)."""
        tokens = check_token_batch("tokens", np.asarray(tokens)[None, :], self.vocab_size)
        self.eval()
        logits, state = self(self._tokens(tokens), state)
        return logits[0].to(torch.float64).numpy(), state

    @torch.no_grad()
    def hidden_states(self, indices) -> np.ndarray:
        """Last layer's hidden states reading one sequence: indices (T,) -> H (T, h) numpy."""
        X = check_token_batch("indices", np.asarray(indices)[:, None], self.vocab_size)
        self.eval()
        outputs, _ = self.rnn(self._inputs(self._tokens(X)))
        return outputs[:, 0, :].to(torch.float64).numpy()

    def gradient_norms_by_lag(self, X, Y) -> np.ndarray:
        """``norms[k] = ||dL_T / dH_{T-k}||`` for the last step's loss L_T, X, Y (T, n) int.

        The same quantity as :meth:`rnn_lib.lm_numpy.NumpyRNNLM.gradient_norms_by_lag`
        (H is the last layer's hidden state; for the LSTM, the gradient with respect
        to H only, not the memory cell), computed with autograd by running the
        recurrent layer one step at a time. Dropout is off.
        """
        X = check_token_batch("X", X, self.vocab_size)
        Y = check_token_batch("Y", Y, self.vocab_size)
        self.eval()
        inputs = self._inputs(self._tokens(X)).detach()
        state, hiddens = None, []
        for t in range(inputs.shape[0]):
            _, state = self.rnn(inputs[t : t + 1], state)
            # H_t reaches the loss only through the state passed to step t + 1 (and, at
            # the last step, through the head), so the state's gradient is the total one.
            H = state[0] if isinstance(state, tuple) else state  # (L, n, h)
            H.retain_grad()
            hiddens.append(H)
        loss = F.cross_entropy(self.head(hiddens[-1][-1]), self._tokens(Y[-1]))
        self.zero_grad(set_to_none=True)
        loss.backward()
        self.zero_grad(set_to_none=True)
        return np.array([float(H.grad[-1].norm()) for H in reversed(hiddens)])

    # ---- interoperability
    @classmethod
    def from_numpy(cls, model: NumpyRNNLM, *, dtype=torch.float64) -> TorchRNNLM:
        """The torch twin of a :class:`NumpyRNNLM`: one-hot nn.RNN with the same weights.

        nn.RNN stores transposes and two biases: ``weight_ih = W_xh^T``,
        ``weight_hh = W_hh^T``, ``bias_ih = b_h``, ``bias_hh = 0``; the head stores
        ``W_hq^T`` and ``b_q``.
        """
        twin = cls(model.vocab_size, model.num_hiddens, cell="rnn", dtype=dtype)
        p = model.params
        values = {
            "rnn.weight_ih_l0": p["W_xh"].T, "rnn.weight_hh_l0": p["W_hh"].T,
            "rnn.bias_ih_l0": p["b_h"], "rnn.bias_hh_l0": np.zeros_like(p["b_h"]),
            "head.weight": p["W_hq"].T, "head.bias": p["b_q"],
        }
        twin.load_state_dict({k: torch.tensor(np.array(v), dtype=twin.dtype)
                              for k, v in values.items()})
        return twin

    def extra_repr(self) -> str:
        return f"cell={self.cell!r}, dropout={self.dropout_p}, seed={self.seed}"
