"""A long-range memory task: recall the first symbol after a delay of distractors.

One sequence with delay ``L`` has ``T = L + 2`` one-hot steps over ``d = K + D + 1``
symbols (``K`` message symbols, ``D`` distractor symbols, one query symbol)::

    x_1            a message symbol m, uniform over the K message symbols
    x_2 .. x_{L+1} L distractors, each uniform over the D distractor symbols
    x_{L+2}        the query symbol

The target is ``m``, read out from the hidden state after the query step,
``O = H_T W_hq + b_q`` (eq. (ch2-rnn-output) at the last step only). Chance accuracy
is ``1 / K``. Nothing between ``x_1`` and the query is useful, so a model succeeds
only if it writes ``m`` into its state at step 1 and keeps it through ``L``
irrelevant inputs: a test of how far back a recurrent model can remember.

:class:`MemoryClassifier` wraps a vanilla RNN (``nn.RNN``), the gated RNN of
eqs. (ch5-gate)-(ch5-gated-update) (:class:`GatedRNNLayer`), ``nn.GRU`` or
``nn.LSTM``. :func:`numpy_recurrent_weights` exports a trained model's recurrent
weights in rnn_lib's layout, and :func:`numpy_states_and_gates` replays a sequence
through rnn_lib's numpy step functions to read the gate values over time.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from tqdm import tqdm

from rnn_lib.gated import gated_step_forward
from rnn_lib.gru import gru_step_forward
from rnn_lib.lstm import lstm_step_forward
from rnn_lib.rnn import rnn_step_forward

__all__ = [
    "CELLS",
    "GatedRNNLayer",
    "MemoryClassifier",
    "delay_sweep",
    "memory_accuracy",
    "memory_task_batch",
    "numpy_recurrent_weights",
    "numpy_states_and_gates",
    "train_memory_classifier",
]

CELLS = ("rnn", "gated", "gru", "lstm")
# Column block (in rnn_lib's stacked layout) of the gate that decides whether a unit
# keeps its value, and the sign that pushes that gate towards "keep".
_KEEP_BLOCK = {"gated": (0, -1.0), "gru": (1, +1.0), "lstm": (1, +1.0)}


def _check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_positive_float(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValueError(f"{name}: expected a positive number, got {value!r}")
    return float(value)


def _check_cell(cell) -> str:
    if cell not in CELLS:
        raise ValueError(f"cell: expected one of {CELLS}, got {cell!r}")
    return cell


# ------------------------------------------------------------------------------ data


def memory_task_batch(num_sequences: int, delay: int, rng: np.random.Generator, *,
                      num_symbols: int = 4, num_distractors: int = 4):
    """Draw ``n`` sequences of the memory task.

    Args:
        num_sequences: n. delay: L >= 0, distractors between message and query.
        rng: a numpy Generator (the only source of randomness).
        num_symbols: K >= 2 message symbols (the classes).
        num_distractors: D >= 1 distractor symbols.

    Returns:
        ``X (T, n, d)`` float32 one-hot inputs with ``T = L + 2``, ``d = K + D + 1``,
        and ``Y (n,)`` int64 messages in ``[0, K)``.
    """
    n = _check_int("num_sequences", num_sequences, 1)
    L = _check_int("delay", delay, 0)
    K = _check_int("num_symbols", num_symbols, 2)
    D = _check_int("num_distractors", num_distractors, 1)
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng: expected a numpy.random.Generator, got {type(rng).__name__}")
    messages = rng.integers(0, K, size=n)
    symbols = np.empty((L + 2, n), dtype=np.int64)
    symbols[0] = messages
    symbols[1 : L + 1] = K + rng.integers(0, D, size=(L, n))
    symbols[L + 1] = K + D  # the query
    X = np.eye(K + D + 1, dtype=np.float32)[symbols]
    return X, messages.astype(np.int64)


# ----------------------------------------------------------------------------- models


class GatedRNNLayer(nn.Module):
    """The gated RNN of eqs. (ch5-gate)-(ch5-gated-update) in torch.

    Parameters are stored in rnn_lib's layout, columns ``[gate | candidate]``:
    ``W_x (d, 2h)``, ``W_h (h, 2h)``, ``b (2h,)``, so they can be handed to
    :func:`rnn_lib.gated_forward` unchanged. Initialised uniformly in
    ``[-1/sqrt(h), 1/sqrt(h)]`` like torch's recurrent layers.
    """

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        d = _check_int("input_size", input_size, 1)
        h = self.hidden_size = _check_int("hidden_size", hidden_size, 1)
        bound = 1.0 / math.sqrt(h)
        self.W_x = nn.Parameter(torch.empty(d, 2 * h).uniform_(-bound, bound))
        self.W_h = nn.Parameter(torch.empty(h, 2 * h).uniform_(-bound, bound))
        self.b = nn.Parameter(torch.empty(2 * h).uniform_(-bound, bound))

    def forward(self, X: torch.Tensor, H0: torch.Tensor | None = None):
        """``X (T, n, d)`` -> ``H (T, n, h)`` and the final state ``(n, h)``."""
        h = self.hidden_size
        A_x = X @ self.W_x + self.b  # the input side of every step at once
        H = X.new_zeros(X.shape[1], h) if H0 is None else H0
        states = []
        for A_t in A_x:
            A = A_t + H @ self.W_h
            G = torch.sigmoid(A[:, :h])
            H = H + G * (torch.tanh(A[:, h:]) - H)  # (1 - G) H_prev + G Htilde
            states.append(H)
        return torch.stack(states), H


class MemoryClassifier(nn.Module):
    """A recurrent layer read out at the last step: ``X (T, n, d)`` -> logits ``(n, K)``.

    Parameters
    ----------
    cell : {"rnn", "gated", "gru", "lstm"}
    num_hiddens : int
        h, hidden units.
    num_symbols, num_distractors : int
        K and D of the task (so d = K + D + 1 and q = K).
    remember_bias : float
        Added at initialisation to the bias of the gate that decides whether a unit
        keeps its value, pushing it towards "keep": the LSTM's forget gate F and the
        GRU's update gate Z get ``+remember_bias``, the gated RNN's gate G gets
        ``-remember_bias``. Ignored by the vanilla RNN, which has no such gate.
    seed : int
        Seeds the initialisation (inside ``torch.random.fork_rng``, so the caller's
        random state is untouched).
    """

    def __init__(self, cell: str, num_hiddens: int, *, num_symbols: int = 4,
                 num_distractors: int = 4, remember_bias: float = 0.0, seed: int = 0):
        super().__init__()
        self.cell = _check_cell(cell)
        self.num_hiddens = h = _check_int("num_hiddens", num_hiddens, 1)
        self.num_symbols = _check_int("num_symbols", num_symbols, 2)
        self.num_distractors = _check_int("num_distractors", num_distractors, 1)
        if isinstance(remember_bias, bool) or not isinstance(remember_bias, int | float):
            raise ValueError(f"remember_bias: expected a number, got {remember_bias!r}")
        self.remember_bias = float(remember_bias)
        self.seed = int(seed)
        self.input_size = self.num_symbols + self.num_distractors + 1
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            if cell == "gated":
                self.rnn = GatedRNNLayer(self.input_size, h)
            else:
                layer = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}[cell]
                self.rnn = layer(self.input_size, h)
            self.head = nn.Linear(h, self.num_symbols)
        if cell in _KEEP_BLOCK:
            block, sign = _KEEP_BLOCK[cell]
            bias = self.rnn.b if cell == "gated" else self.rnn.bias_ih_l0
            with torch.no_grad():
                bias[block * h : (block + 1) * h] += sign * self.remember_bias

    def hidden_states(self, X: torch.Tensor) -> torch.Tensor:
        """``X (T, n, d)`` -> ``H (T, n, h)``, starting from a zero state."""
        H, _ = self.rnn(X)
        return H

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        """``X (T, n, d)`` -> logits ``(n, K)`` from the last hidden state."""
        return self.head(self.hidden_states(X)[-1])


# --------------------------------------------------------------------------- training


def _as_tensor(X: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(X))


def train_memory_classifier(cell: str, delay: int, *, num_hiddens: int = 16,
                            steps: int = 400, batch_size: int = 64, lr: float = 3e-3,
                            remember_bias: float = 2.0, max_norm: float = 1.0,
                            target_loss: float | None = 0.01, seed: int = 0,
                            num_symbols: int = 4, num_distractors: int = 4):
    """Train a :class:`MemoryClassifier` with Adam on fresh batches of the task.

    Every step draws a new batch (the task has unlimited data), computes the mean
    cross-entropy of the last-step prediction, clips the global gradient norm to
    ``max_norm`` (eq. (ch4-clip)) and takes an Adam step. Training stops after
    ``steps`` updates, or earlier once an exponential moving average of the loss
    (weight 0.1 on the newest batch) is below ``target_loss`` (None: never early).

    Returns:
        The trained model and the list of per-step training losses.
    """
    _check_cell(cell)
    delay = _check_int("delay", delay, 0)
    steps = _check_int("steps", steps, 1)
    batch_size = _check_int("batch_size", batch_size, 1)
    lr = _check_positive_float("lr", lr)
    max_norm = _check_positive_float("max_norm", max_norm)
    if target_loss is not None:
        target_loss = _check_positive_float("target_loss", target_loss)
    model = MemoryClassifier(cell, num_hiddens, num_symbols=num_symbols,
                             num_distractors=num_distractors, remember_bias=remember_bias,
                             seed=seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    rng = np.random.default_rng(seed)
    losses, smoothed = [], math.log(model.num_symbols)  # start at chance-level loss
    for _ in range(steps):
        X, Y = memory_task_batch(batch_size, delay, rng, num_symbols=num_symbols,
                                 num_distractors=num_distractors)
        loss = F.cross_entropy(model(_as_tensor(X)), _as_tensor(Y))
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), max_norm)
        optimizer.step()
        losses.append(loss.item())
        smoothed = 0.9 * smoothed + 0.1 * losses[-1]
        if target_loss is not None and smoothed < target_loss:
            break
    return model, losses


def memory_accuracy(model: MemoryClassifier, delay: int, *, num_sequences: int = 1000,
                    seed: int = 12345) -> float:
    """Fraction of ``num_sequences`` fresh test sequences whose message is recalled."""
    if not isinstance(model, MemoryClassifier):
        raise TypeError(f"model: expected a MemoryClassifier, got {type(model).__name__}")
    X, Y = memory_task_batch(num_sequences, delay, np.random.default_rng(seed),
                             num_symbols=model.num_symbols,
                             num_distractors=model.num_distractors)
    with torch.no_grad():
        predictions = model(_as_tensor(X)).argmax(dim=1).numpy()
    return float(np.mean(predictions == Y))


def delay_sweep(cells: Sequence[str], delays: Sequence[int], seeds: Sequence[int] = (0,),
                *, progress: bool = True, return_models: bool = False, **train_kwargs):
    """Train one model per (cell, delay, seed) and measure its test accuracy.

    ``train_kwargs`` go to :func:`train_memory_classifier`. Returns a dict mapping
    each cell to an array of accuracies of shape ``(len(delays), len(seeds))``;
    with ``return_models``, also a dict ``(cell, delay, seed) -> trained model``.
    A tqdm bar counts the trained models.
    """
    cells = [_check_cell(cell) for cell in cells]
    delays = [_check_int("delays", delay, 0) for delay in delays]
    seeds = [int(seed) for seed in seeds]
    if not cells or not delays or not seeds:
        raise ValueError(f"cells, delays, seeds: expected non-empty sequences, got "
                         f"{len(cells)}, {len(delays)}, {len(seeds)} entries")
    results = {cell: np.zeros((len(delays), len(seeds))) for cell in cells}
    models = {}
    with tqdm(total=len(cells) * len(delays) * len(seeds), desc="memory task",
              unit="model", leave=False, disable=not progress, mininterval=1.0) as bar:
        for i, delay in enumerate(delays):
            for cell in cells:
                for j, seed in enumerate(seeds):
                    model, _ = train_memory_classifier(cell, delay, seed=seed, **train_kwargs)
                    results[cell][i, j] = memory_accuracy(model, delay)
                    if return_models:
                        models[cell, delay, seed] = model
                    bar.update(1)
    return (results, models) if return_models else results


# ------------------------------------------------------------------ export to rnn_lib


def numpy_recurrent_weights(model: MemoryClassifier) -> dict[str, np.ndarray]:
    """The recurrent layer's parameters as float64 arrays in rnn_lib's layout.

    ``"rnn"``: ``W_xh (d, h)``, ``W_hh (h, h)``, ``b_h (h,)`` (torch's two biases
    summed). ``"gated"``: ``W_x (d, 2h)``, ``W_h (h, 2h)``, ``b (2h,)``. ``"gru"``:
    ``W_x (d, 3h)``, ``W_h (h, 3h)``, ``b_x``, ``b_h (3h,)`` (kept apart, as the
    reset gate multiplies ``b_hn`` only). ``"lstm"``: ``W_x (d, 4h)``, ``W_h (h, 4h)``,
    ``b (4h,)`` (summed).
    """
    if not isinstance(model, MemoryClassifier):
        raise TypeError(f"model: expected a MemoryClassifier, got {type(model).__name__}")

    def array(tensor: torch.Tensor) -> np.ndarray:
        return tensor.detach().to(torch.float64).numpy().copy()

    layer = model.rnn
    if model.cell == "gated":
        return {"W_x": array(layer.W_x), "W_h": array(layer.W_h), "b": array(layer.b)}
    W_x, W_h = array(layer.weight_ih_l0.T), array(layer.weight_hh_l0.T)
    b_x, b_h = array(layer.bias_ih_l0), array(layer.bias_hh_l0)
    if model.cell == "rnn":
        return {"W_xh": W_x, "W_hh": W_h, "b_h": b_x + b_h}
    if model.cell == "gru":
        return {"W_x": W_x, "W_h": W_h, "b_x": b_x, "b_h": b_h}
    return {"W_x": W_x, "W_h": W_h, "b": b_x + b_h}


def numpy_states_and_gates(model: MemoryClassifier, X: np.ndarray):
    """Replay ``X (T, n, d)`` through rnn_lib's numpy step functions.

    Returns ``H (T, n, h)`` (float64) and a dict of gate values over time, each
    ``(T, n, h)``: ``{}`` for the vanilla RNN; ``{"G"}`` for the gated RNN (eq.
    (ch5-gate)); ``{"R", "Z"}`` for the GRU (eqs. (ch5-gru-reset), (ch5-gru-update));
    ``{"I", "F", "O", "C"}`` for the LSTM (eqs. (ch5-lstm-input)-(ch5-lstm-cell);
    ``C`` is the memory cell, not a gate).
    """
    weights = numpy_recurrent_weights(model)
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 3 or X.shape[2] != model.input_size:
        raise ValueError(f"X: expected shape (T, n, {model.input_size}), got {X.shape}")
    n, h = X.shape[1], model.num_hiddens
    H_prev, C_prev = np.zeros((n, h)), np.zeros((n, h))
    states, gates = [], {}

    def record(**values: np.ndarray) -> None:
        for name, value in values.items():
            gates.setdefault(name, []).append(value)

    for X_t in X:
        if model.cell == "rnn":
            H_prev, _ = rnn_step_forward(X_t, H_prev, weights["W_xh"], weights["W_hh"],
                                         weights["b_h"])
        elif model.cell == "gated":
            H_prev, cache = gated_step_forward(X_t, H_prev, **weights)
            record(G=cache.G)
        elif model.cell == "gru":
            H_prev, cache = gru_step_forward(X_t, H_prev, **weights)
            record(R=cache.R, Z=cache.Z)
        else:
            H_prev, C_prev, cache = lstm_step_forward(X_t, H_prev, C_prev, **weights)
            I, F_gate, _, O = np.split(cache.gates, 4, axis=1)
            record(I=I, F=F_gate, O=O, C=C_prev)
        states.append(H_prev)
    return np.stack(states), {name: np.stack(values) for name, values in gates.items()}
