"""A character-level RNN language model in numpy, and the training loop shared with torch.

The model reads one-hot characters and predicts the next one, eq. (ch6-rnn-lm)
(the layers of eqs. (ch2-rnn-state) and (ch2-rnn-output))::

    H_t = tanh(X_t W_xh + H_{t-1} W_hh + b_h),    O_t = H_t W_hq + b_q

with ``X_t (n, |V|)`` one-hot rows, ``W_xh (|V|, h)``, ``W_hh (h, h)``, ``b_h (h,)``,
``W_hq (h, |V|)``, ``b_q (|V|,)``. A minibatch is a pair of int arrays ``X, Y`` of shape
``(T, n)`` (time-major, :mod:`rnn_lib.data`) and the loss is the mean cross-entropy
over all ``T n`` predictions, eq. (ch6-loss); its exponential is the perplexity,
eq. (ch3-perplexity).

Training uses truncated backpropagation through time: the gradient is taken over one
window of ``T`` steps. With *sequential* partitioning (``BatchIterator(...,
sequential=True)``) the final state of one minibatch is the initial state of the next,
so the model sees context beyond ``T`` steps, but the gradient stops at the window
boundary (a numpy state is a plain array, which carries no graph: it is detached by
construction). With *random* partitioning the state is reset to zeros for every
minibatch.

This module also holds what both model kinds share, so their results go in one table:

* :class:`TrainHistory` -- per-epoch train/valid perplexity, gradient norm, time;
* :func:`train_language_model` -- the training loop (progress bar, clipping, budget);
* :func:`evaluate_perplexity` and :func:`corpus_batches` -- held-out perplexity.

A model takes part by providing ``vocab_size``, ``begin_state(n)``,
``detach_state(state)``, ``train_batch(X, Y, state, clip)``, ``eval_batch(X, Y, state)``,
``step(tokens, state)`` and ``configure_optimizer(name, lr, **options)``, as
:class:`NumpyRNNLM` and :class:`rnn_lib.lm_torch.TorchRNNLM` do.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from rnn_lib._checks import check_positive_int as _check_positive_int
from rnn_lib.optim import SGD, Adagrad, clip_gradients
from rnn_lib.output import output_backward, output_forward, softmax_cross_entropy
from rnn_lib.rnn import (
    rnn_backward,
    rnn_forward,
    rnn_step_backward,
    rnn_step_forward,
)

__all__ = [
    "NumpyRNNLM",
    "TrainHistory",
    "corpus_batches",
    "evaluate_perplexity",
    "history_table",
    "train_language_model",
]

_NUMPY_OPTIMIZERS = {"sgd": SGD, "adagrad": Adagrad}
# A held-out sequence is scored as this many parallel rows (each starting from a zero
# state) read in chunks of this many steps; with the state carried, chunking does not
# change the result, only the memory used.
_VALID_ROWS, _VALID_STEPS = 16, 64


# --------------------------------------------------------------------------- validation


def _check_positive_float(name: str, value) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float | np.floating | np.integer)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValueError(f"{name}: expected a finite number > 0, got {value!r}")
    return float(value)


def check_token_batch(name: str, batch, vocab_size: int) -> np.ndarray:
    """Validate a time-major minibatch of token indices: int array (T, n), values < |V|."""
    arr = np.asarray(batch)
    if arr.ndim != 2 or 0 in arr.shape:
        raise ValueError(f"{name}: expected a non-empty (T, n) array of token indices, "
                         f"got shape {arr.shape}")
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{name}: expected integer token indices, got dtype {arr.dtype}")
    if arr.min() < 0 or arr.max() >= vocab_size:
        raise ValueError(f"{name}: expected indices in [0, {vocab_size}), got values in "
                         f"[{arr.min()}, {arr.max()}]")
    return arr


def _check_pair(X, Y, vocab_size: int) -> tuple[np.ndarray, np.ndarray]:
    X = check_token_batch("X", X, vocab_size)
    Y = check_token_batch("Y", Y, vocab_size)
    if X.shape != Y.shape:
        raise ValueError(f"Y: expected shape {X.shape} (that of X), got {Y.shape}")
    return X, Y


# --------------------------------------------------------------------------- history


@dataclass
class TrainHistory:
    """What happened during training, one entry per epoch.

    ``train_perplexity[e]`` is exp of the mean training loss over epoch ``e``'s
    minibatches (measured while the weights were changing); ``valid_perplexity[e]``
    is measured after the epoch (``nan`` without validation data). ``grad_norm[e]``
    is the mean global gradient norm *before* clipping, ``seconds[e]`` and
    ``tokens[e]`` the cumulative training time (validation excluded) and number of
    predicted tokens at the end of the epoch.
    """

    name: str = ""
    epoch: list[int] = field(default_factory=list)
    train_perplexity: list[float] = field(default_factory=list)
    valid_perplexity: list[float] = field(default_factory=list)
    grad_norm: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)
    stopped_early: bool = False

    def record(self, epoch, train_ppl, valid_ppl, grad_norm, seconds, tokens) -> None:
        self.epoch.append(int(epoch))
        self.train_perplexity.append(float(train_ppl))
        self.valid_perplexity.append(float(valid_ppl))
        self.grad_norm.append(float(grad_norm))
        self.seconds.append(float(seconds))
        self.tokens.append(int(tokens))

    def __len__(self) -> int:
        return len(self.epoch)

    def _last(self, values: list[float]) -> float:
        return values[-1] if values else math.nan

    @property
    def final_train_perplexity(self) -> float:
        return self._last(self.train_perplexity)

    @property
    def final_valid_perplexity(self) -> float:
        return self._last(self.valid_perplexity)

    @property
    def best_valid_perplexity(self) -> float:
        finite = [v for v in self.valid_perplexity if not math.isnan(v)]
        return min(finite) if finite else math.nan

    @property
    def total_seconds(self) -> float:
        return self._last(self.seconds) if self.seconds else 0.0

    @property
    def tokens_per_second(self) -> float:
        return self.tokens[-1] / self.total_seconds if self.tokens and self.total_seconds else 0.0

    def summary(self) -> dict:
        """One row for a comparison table."""
        return {
            "model": self.name,
            "epochs": len(self),
            "train ppl": self.final_train_perplexity,
            "valid ppl": self.final_valid_perplexity,
            "best valid ppl": self.best_valid_perplexity,
            "seconds": self.total_seconds,
            "tokens/s": self.tokens_per_second,
        }


def history_table(histories: Iterable[TrainHistory]) -> str:
    """A plain-text table with one :meth:`TrainHistory.summary` row per history."""
    rows = [h.summary() for h in histories]
    if not rows:
        return ""
    headers = list(rows[0])

    def fmt(value) -> str:
        if isinstance(value, float):
            return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.2f}"
        return str(value)

    cells = [[fmt(r[h]) for h in headers] for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    numeric = [not isinstance(rows[0][h], str) for h in headers]
    lines += [
        "  ".join(c.rjust(w) if num else c.ljust(w)
                  for c, w, num in zip(row, widths, numeric, strict=True))
        for row in cells
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------- data helpers


def corpus_batches(corpus, batch_size: int, num_steps: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Deterministic minibatches covering *every* prediction of a held-out sequence.

    The corpus (L,) is cut into ``batch_size`` contiguous rows read left to right in
    chunks of ``num_steps`` (the last chunk may be shorter), so with the state carried
    across chunks each of the ``batch_size * ((L - 1) // batch_size)`` scored tokens is
    predicted from all of its row's preceding text. Returns a list of (X, Y) int64
    arrays of shape (T_i, n) with T_i <= num_steps, for :func:`evaluate_perplexity`
    with ``carry_state=True``.
    """
    corpus = np.asarray(corpus)
    if corpus.ndim != 1 or not np.issubdtype(corpus.dtype, np.integer):
        raise ValueError(f"corpus: expected a 1-D sequence of token indices, got "
                         f"shape {corpus.shape} dtype {corpus.dtype}")
    batch_size = _check_positive_int("batch_size", batch_size)
    num_steps = _check_positive_int("num_steps", num_steps)
    row_length = (corpus.size - 1) // batch_size
    if row_length < 1:
        raise ValueError(f"corpus: length {corpus.size} is too short for batch_size="
                         f"{batch_size}; need at least {batch_size + 1} tokens")
    used = corpus[: batch_size * row_length + 1].astype(np.int64)
    rows_x = used[:-1].reshape(batch_size, row_length).T  # (row_length, n), time-major
    rows_y = used[1:].reshape(batch_size, row_length).T
    return [
        (rows_x[s : s + num_steps], rows_y[s : s + num_steps])
        for s in range(0, row_length, num_steps)
    ]


def _is_index_sequence(data) -> bool:
    """A 1-D token-index sequence (array or list of ints), as opposed to minibatches."""
    if isinstance(data, np.ndarray):
        return data.ndim == 1
    return isinstance(data, list) and bool(data) and isinstance(data[0], int | np.integer)


def _epoch_batches(data, epoch: int):
    """One epoch of minibatches: ``data`` is re-iterable or a callable ``epoch -> iterable``."""
    return data(epoch) if callable(data) else data


def _resolve_carry_state(data, carry_state: bool | None) -> bool:
    if carry_state is not None:
        return bool(carry_state)
    return bool(getattr(data, "sequential", False))


def _matching_state(model, state, batch_size: int):
    """Keep a carried state only if its batch size matches; otherwise start afresh."""
    if state is None or model.state_batch_size(state) != batch_size:
        return model.begin_state(batch_size)
    return model.detach_state(state)


# --------------------------------------------------------------------------- shared loops


def evaluate_perplexity(model, batches, carry_state: bool = False) -> float:
    """Perplexity exp(mean NLL) of ``model`` over minibatches (X, Y), eq. (ch3-perplexity).

    Every prediction counts once (batches of different sizes are weighted by their
    token counts). ``carry_state=True`` passes the state from one batch to the next
    (for :func:`corpus_batches` or sequential partitioning); otherwise each batch
    starts from zeros. A 1-D index sequence is scored completely through
    :func:`corpus_batches` (16 rows, state carried). No parameter changes.
    """
    if _is_index_sequence(batches):
        batches, carry_state = corpus_batches(batches, _VALID_ROWS, _VALID_STEPS), True
    total_nll, total_tokens, state = 0.0, 0, None
    for X, Y in batches:
        X, Y = _check_pair(X, Y, model.vocab_size)
        state = _matching_state(model, state if carry_state else None, X.shape[1])
        mean_nll, state = model.eval_batch(X, Y, state)
        total_nll += mean_nll * Y.size
        total_tokens += Y.size
    if total_tokens == 0:
        raise ValueError("batches: expected at least one (X, Y) minibatch, got none")
    return math.exp(min(total_nll / total_tokens, 709.0))


def train_language_model(
    model,
    train_data,
    valid_data=None,
    *,
    epochs: int,
    lr: float,
    optimizer: str = "sgd",
    optimizer_options: dict | None = None,
    clip: float | None = 1.0,
    carry_state: bool | None = None,
    valid_carry_state: bool | None = None,
    max_seconds: float | None = None,
    progress: bool = True,
    name: str | None = None,
    history: TrainHistory | None = None,
    callback: Callable[[int, TrainHistory], None] | None = None,
) -> TrainHistory:
    """Train ``model`` with truncated BPTT; returns the (extended) :class:`TrainHistory`.

    Args:
        model: a :class:`NumpyRNNLM` or :class:`rnn_lib.lm_torch.TorchRNNLM`.
        train_data: minibatches (X, Y) of shape (T, n); re-iterable (e.g.
            :class:`rnn_lib.data.BatchIterator`, a new epoch on every ``iter``) or a
            callable ``epoch -> iterable``.
        valid_data: None; a 1-D index sequence (scored completely through
            :func:`corpus_batches`, 16 rows, state carried); or minibatches like
            ``train_data``.
        epochs: number of passes over ``train_data``.
        lr: learning rate. optimizer: ``"sgd"``, ``"adagrad"`` (numpy and torch),
            ``"adam"`` or ``"adamw"`` (torch only); a new optimiser (fresh state) is
            made on every call.
        optimizer_options: extra keyword arguments for the optimiser, e.g.
            ``{"weight_decay": 0.01}`` for torch's AdamW.
        clip: maximum global gradient norm, eq. (ch4-clip); None disables clipping.
        carry_state: carry the state across training minibatches (sequential
            partitioning); default: ``train_data.sequential`` if present, else False.
        valid_carry_state: the same for validation minibatches (default as above;
            always True for a 1-D sequence).
        max_seconds: stop after this much training time in this call, even
            mid-epoch (the last, partial epoch is still recorded and evaluated).
            Results then depend on the machine's speed; leave None for
            reproducible runs.
        progress: show a tqdm progress bar (on stderr) over minibatches.
        name: label for the history (default: the model's ``name``).
        history: continue this history instead of starting a new one.
        callback: called as ``callback(epoch, history)`` after each epoch.
    """
    epochs = _check_positive_int("epochs", epochs)
    lr = _check_positive_float("lr", lr)
    if clip is not None:
        clip = _check_positive_float("clip", clip)
    if max_seconds is not None:
        max_seconds = _check_positive_float("max_seconds", max_seconds)
    carry = _resolve_carry_state(train_data, carry_state)
    valid_batches, valid_carry = _prepare_validation(model, valid_data, valid_carry_state)
    model.configure_optimizer(optimizer, lr, **(optimizer_options or {}))
    history = history if history is not None else TrainHistory(name or model.name)
    first_epoch = history.epoch[-1] + 1 if history.epoch else 1
    elapsed = history.total_seconds
    budget_end = elapsed + max_seconds if max_seconds is not None else math.inf
    tokens = history.tokens[-1] if history.tokens else 0
    total = _batches_per_epoch(train_data)
    bar = tqdm(total=total * epochs if total else None, desc=history.name or "training",
               unit="batch", disable=not progress, leave=False)
    try:
        for epoch in range(first_epoch, first_epoch + epochs):
            nll_sum, n_tokens, norm_sum, n_batches, state = 0.0, 0, 0.0, 0, None
            start = time.perf_counter()
            for X, Y in _epoch_batches(train_data, epoch):
                X, Y = _check_pair(X, Y, model.vocab_size)
                state = _matching_state(model, state if carry else None, X.shape[1])
                loss, grad_norm, state = model.train_batch(X, Y, state, clip)
                nll_sum += loss * Y.size
                n_tokens += Y.size
                norm_sum += grad_norm
                n_batches += 1
                bar.update(1)
                if elapsed + time.perf_counter() - start > budget_end:
                    history.stopped_early = True
                    break
            if n_batches == 0:
                raise ValueError("train_data: expected at least one (X, Y) minibatch per "
                                 "epoch, got none")
            elapsed += time.perf_counter() - start
            tokens += n_tokens
            train_ppl = math.exp(min(nll_sum / n_tokens, 709.0))
            valid_ppl = (evaluate_perplexity(model, valid_batches, valid_carry)
                         if valid_batches is not None else math.nan)
            history.record(epoch, train_ppl, valid_ppl, norm_sum / n_batches, elapsed, tokens)
            bar.set_postfix(train_ppl=f"{train_ppl:.2f}", valid_ppl=f"{valid_ppl:.2f}")
            if callback is not None:
                callback(epoch, history)
            if history.stopped_early:
                break
    finally:
        bar.close()
    return history


def _batches_per_epoch(data) -> int | None:
    try:
        return len(data)
    except TypeError:
        return None


def _prepare_validation(model, valid_data, valid_carry_state):
    """Validation minibatches (materialised once, so every epoch is scored alike)."""
    if valid_data is None:
        return None, False
    if _is_index_sequence(valid_data):
        return corpus_batches(valid_data, _VALID_ROWS, _VALID_STEPS), True
    carry = _resolve_carry_state(valid_data, valid_carry_state)
    return list(_epoch_batches(valid_data, 0)), carry


# --------------------------------------------------------------------------- the model


class NumpyRNNLM:
    """Character-level RNN language model built from rnn_lib's numpy layers.

    Parameters
    ----------
    vocab_size : int
        |V|, the number of tokens (inputs are one-hot vectors of this length).
    num_hiddens : int
        h, the size of the hidden state.
    dtype : numpy float dtype
        float32 for speed, float64 for gradient checks; every array uses it.
    seed : int
        Seeds the initialisation, ``U(-1/sqrt(h), 1/sqrt(h))`` for every parameter
        (PyTorch's default for nn.RNN and nn.Linear, so both kinds start alike).

    ``params`` is a dict of the five arrays named as in the course notation:
    ``W_xh (|V|, h)``, ``W_hh (h, h)``, ``b_h (h,)``, ``W_hq (h, |V|)``, ``b_q (|V|,)``.
    """

    def __init__(self, vocab_size: int, num_hiddens: int, *, dtype=np.float32, seed: int = 0,
                 name: str = "numpy RNN"):
        self.vocab_size = _check_positive_int("vocab_size", vocab_size)
        self.num_hiddens = _check_positive_int("num_hiddens", num_hiddens)
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise TypeError(f"dtype: expected float32 or float64, got {self.dtype}")
        self.name = name
        self.params = self._init_params(np.random.default_rng(seed))
        self._one_hot_table = np.eye(self.vocab_size, dtype=self.dtype)
        self.optimizer = None

    def _init_params(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        V, h = self.vocab_size, self.num_hiddens
        bound = 1.0 / math.sqrt(h)
        shapes = {"W_xh": (V, h), "W_hh": (h, h), "b_h": (h,), "W_hq": (h, V), "b_q": (V,)}
        return {k: rng.uniform(-bound, bound, s).astype(self.dtype) for k, s in shapes.items()}

    @property
    def num_parameters(self) -> int:
        return sum(p.size for p in self.params.values())

    def __repr__(self) -> str:
        return (f"NumpyRNNLM(vocab_size={self.vocab_size}, num_hiddens={self.num_hiddens}, "
                f"dtype={self.dtype.name})")

    # ---- state protocol
    def begin_state(self, batch_size: int) -> np.ndarray:
        """Zero initial state H_0, (n, h)."""
        return np.zeros((_check_positive_int("batch_size", batch_size), self.num_hiddens),
                        dtype=self.dtype)

    @staticmethod
    def detach_state(state: np.ndarray) -> np.ndarray:
        """A numpy state records no graph, so truncating BPTT needs nothing: identity."""
        return state

    @staticmethod
    def state_batch_size(state: np.ndarray) -> int:
        return state.shape[0]

    def _check_state(self, state, batch_size: int) -> np.ndarray:
        if not isinstance(state, np.ndarray) or state.shape != (batch_size, self.num_hiddens):
            shape = getattr(state, "shape", type(state).__name__)
            raise ValueError(f"state: expected an array of shape ({batch_size}, "
                             f"{self.num_hiddens}), got {shape}")
        return state.astype(self.dtype, copy=False)

    def one_hot(self, X: np.ndarray) -> np.ndarray:
        """Token indices (...,) -> one-hot rows (..., |V|) in the model's dtype."""
        return self._one_hot_table[X]

    # ---- forward and backward
    def forward(self, X, state=None):
        """Logits for every position: X (T, n) int -> O (T, n, |V|), final state (n, h).

        Also returns the caches for :meth:`backward`: ``(O, H_T, caches)``.
        """
        X = check_token_batch("X", X, self.vocab_size)
        H0 = self.begin_state(X.shape[1]) if state is None else self._check_state(state,
                                                                                   X.shape[1])
        p = self.params
        H, rnn_cache = rnn_forward(self.one_hot(X), H0, p["W_xh"], p["W_hh"], p["b_h"])
        O, out_cache = output_forward(H, p["W_hq"], p["b_q"])
        return O, H[-1].copy(), (rnn_cache, out_cache)

    def backward(self, dO: np.ndarray, caches) -> dict[str, np.ndarray]:
        """Gradients of every parameter from dO (T, n, |V|), by BPTT through the window."""
        rnn_cache, out_cache = caches
        dH, dW_hq, db_q = output_backward(dO, out_cache)
        _, _, dW_xh, dW_hh, db_h = rnn_backward(dH, rnn_cache)
        return {"W_xh": dW_xh, "W_hh": dW_hh, "b_h": db_h, "W_hq": dW_hq, "b_q": db_q}

    def loss_and_gradients(self, X, Y, state=None):
        """Mean cross-entropy over the window and its gradients, eq. (ch6-loss).

        X, Y (T, n) int; state (n, h) or None for zeros.
        Returns ``(loss, grads, final_state)``, grads keyed like ``params``.
        """
        X, Y = _check_pair(X, Y, self.vocab_size)
        O, H_last, caches = self.forward(X, state)
        loss, dO = softmax_cross_entropy(O, Y)
        return loss, self.backward(dO, caches), H_last

    # ---- training protocol
    def configure_optimizer(self, name: str, lr: float, **options) -> None:
        """Create the optimiser (``"sgd"`` or ``"adagrad"`` from :mod:`rnn_lib.optim`)."""
        if name not in _NUMPY_OPTIMIZERS:
            raise ValueError(f"optimizer: expected one of {sorted(_NUMPY_OPTIMIZERS)} for the "
                             f"numpy model, got {name!r}")
        self.optimizer = _NUMPY_OPTIMIZERS[name](self.params, lr, **options)

    def train_batch(self, X, Y, state, clip: float | None):
        """One step of truncated BPTT: returns (loss, gradient norm before clipping, state)."""
        if self.optimizer is None:
            raise RuntimeError("call configure_optimizer(name, lr) before train_batch")
        loss, grads, state = self.loss_and_gradients(X, Y, state)
        if clip is not None:
            grads, norm = clip_gradients(grads, clip)
        else:
            norm = math.sqrt(sum(float(np.vdot(g, g)) for g in grads.values()))
        self.optimizer.step(grads)
        return loss, norm, state

    def eval_batch(self, X, Y, state):
        """Mean NLL of one minibatch without changing parameters: (loss, final state)."""
        O, H_last, _ = self.forward(X, state)
        loss, _ = softmax_cross_entropy(O, Y)
        return loss, H_last

    def fit(self, train_data, valid_data=None, **kwargs) -> TrainHistory:
        """Train with :func:`train_language_model` (same arguments); returns the history."""
        return train_language_model(self, train_data, valid_data, **kwargs)

    def evaluate(self, batches, carry_state: bool = False) -> float:
        """Perplexity over minibatches, :func:`evaluate_perplexity`."""
        return evaluate_perplexity(self, batches, carry_state)

    # ---- generation and inspection
    def step(self, tokens, state):
        """Feed one token per row: tokens (n,) int, state (n, h) -> (logits, new state).

        The logits (n, |V|) are returned in float64 for sampling, the state in the model's dtype.
        """
        tokens = check_token_batch("tokens", np.asarray(tokens)[None, :], self.vocab_size)[0]
        H_prev = self._check_state(state, tokens.shape[0])
        p = self.params
        H, _ = rnn_step_forward(self.one_hot(tokens), H_prev, p["W_xh"], p["W_hh"], p["b_h"])
        O, _ = output_forward(H, p["W_hq"], p["b_q"])
        return O.astype(np.float64), H

    def hidden_states(self, indices) -> np.ndarray:
        """Hidden states while reading one sequence from a zero state: indices (T,) -> H (T, h)."""
        X = check_token_batch("indices", np.asarray(indices)[:, None], self.vocab_size)
        p = self.params
        H, _ = rnn_forward(self.one_hot(X), self.begin_state(1), p["W_xh"], p["W_hh"], p["b_h"])
        return H[:, 0, :]

    def gradient_norms_by_lag(self, X, Y) -> np.ndarray:
        """How the gradient of the *last* step's loss fades as it flows back in time.

        X, Y (T, n) int. With L_T the mean cross-entropy of the final predictions
        only, returns ``norms`` (T,) with ``norms[k] = ||dL_T / dH_{T-k}||`` (Frobenius
        norm over the batch), lag ``k = 0`` being the last state. Each step back
        multiplies by ``diag(1 - H_t^2) W_hh^T``, eq. (ch4-jacobian-product), so the
        norms decay (or grow) roughly geometrically: the vanishing/exploding gradient problem.
        """
        X, Y = _check_pair(X, Y, self.vocab_size)
        p = self.params
        H_prev, caches = self.begin_state(X.shape[1]), []
        inputs = self.one_hot(X)
        for t in range(X.shape[0]):
            H_prev, cache = rnn_step_forward(inputs[t], H_prev, p["W_xh"], p["W_hh"], p["b_h"])
            caches.append(cache)
        O, out_cache = output_forward(H_prev, p["W_hq"], p["b_q"])
        _, dO = softmax_cross_entropy(O, Y[-1])
        dH, _, _ = output_backward(dO, out_cache)
        norms = np.empty(X.shape[0])
        for lag, cache in enumerate(reversed(caches)):
            norms[lag] = np.linalg.norm(dH)
            _, dH, _, _, _ = rnn_step_backward(dH, cache)
        return norms
