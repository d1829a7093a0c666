"""Stacked (deep) recurrent networks: the states of layer l are the inputs of layer l + 1.

With ``L`` layers of one cell (tanh RNN, GRU or LSTM; :mod:`rnn_lib.cells`)::

    H^(0)_t = X_t
    H^(l)_t = cell(H^(l-1)_t, H^(l)_{t-1}; params^(l)),      l = 1 .. L     (ch7-deep-rnn)

and the network's output is the top layer's states ``H^(L)``. Layer 1 has
``d`` inputs, every later layer ``h`` (``2h`` when bidirectional: it reads the
concatenated directions of the layer below, :mod:`rnn_lib.bidirectional`).

Layouts follow ``torch.nn.RNN/GRU/LSTM(d, h, num_layers=L, bidirectional=...)``
so weights copy across one to one:

* ``layers`` is a list of ``L * D`` parameter tuples (``D = 2`` when
  bidirectional, else 1) in torch's order: layer 0 forward, layer 0 backward,
  layer 1 forward, ... ; :func:`torch_weights` and :func:`layers_from_torch`
  translate (torch stores ``W^T`` and two biases where the RNN and LSTM here
  have one: their sum).
* ``state0`` and the returned final state are ``(L * D, n, h)`` in the same
  order (torch's ``h_0``/``h_n``), or the pair ``(H0, C0)`` for the LSTM.
* the output is ``(T, n, D * h)``.

Parameters, counted as torch stores them (two biases per layer): a layer with
``d_l`` inputs has ``G h (d_l + h + 2)`` (``G = 1, 3, 4`` for RNN, GRU, LSTM),
so each layer above the first adds ``G h (D h + h + 2)`` per direction
(:func:`deep_parameter_count`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rnn_lib._checks import as_float_array, check_cache, check_positive_int, check_shape
from rnn_lib.bidirectional import bidirectional_backward, bidirectional_forward
from rnn_lib.cells import (
    as_sequence,
    as_state,
    check_params,
    from_state,
    get_cell,
    init_cell_params,
    scan_cell,
    scan_cell_backward,
)


@dataclass(frozen=True)
class DeepCache:
    """What :func:`deep_backward` needs from :func:`deep_forward`."""

    cell: object  # the Cell
    directions: int  # 1 or 2
    layers: tuple  # one LayerCache (D = 1) or BidirectionalCache (D = 2) per layer
    out_shape: tuple  # (T, n, D * h)


def _check_layers(cell, layers, d: int, directions: int) -> tuple[int, int]:
    """Validate the list of parameter tuples; return ``(L, h)``."""
    if not isinstance(layers, list | tuple) or len(layers) == 0 or len(layers) % directions:
        size = len(layers) if isinstance(layers, list | tuple) else type(layers).__name__
        raise ValueError(f"layers: expected a non-empty list of {directions} * num_layers parameter "
                         f"tuples, got {size}")
    h = check_params(cell, "layers[0]", layers[0], d)
    for k, params in enumerate(layers[1:], start=1):
        inputs = d if k < directions else directions * h
        if check_params(cell, f"layers[{k}]", params, inputs) != h:
            raise ValueError(f"layers[{k}]: expected {h} hidden units (those of layers[0]), "
                             f"got {params[1].shape[0]}")
    return len(layers) // directions, h


def deep_forward(X, state0, layers, cell="rnn", bidirectional: bool = False):
    """Run ``L`` stacked layers over a sequence, eq. (ch7-deep-rnn).

    Args:
        X: inputs, ``(T, n, d)``.
        state0: initial states ``(L * D, n, h)`` in torch's order (for the LSTM
            the pair ``(H0, C0)``).
        layers: ``L * D`` parameter tuples in the cell's layout, torch's order.
        cell: ``"rnn"``, ``"gru"`` or ``"lstm"``.
        bidirectional: every layer reads both ways (``D = 2``).

    Returns:
        The top layer's states ``(T, n, D * h)`` (torch's ``output``), the final
        states ``(L * D, n, h)`` (torch's ``h_n``; ``(h_n, c_n)`` for the LSTM)
        and a cache for :func:`deep_backward`.
    """
    cell = get_cell(cell)
    X = as_sequence(X)
    T, n, d = X.shape
    D = 2 if bidirectional else 1
    L, h = _check_layers(cell, layers, d, D)
    state0 = as_state(cell, "state0", state0, (L * D, n, h))
    caches, finals, inputs = [], [], X
    for l in range(L):
        block = tuple(part[l * D:(l + 1) * D] for part in state0)  # (D, n, h) each
        if D == 1:
            inputs, final, cache = scan_cell(cell, inputs, tuple(b[0] for b in block), layers[l])
            final = tuple(f[None] for f in final)
        else:
            inputs, final, cache = bidirectional_forward(inputs, from_state(cell, block),
                                                         layers[2 * l], layers[2 * l + 1], cell)
            final = as_state(cell, "final", final, (2, n, h))
        caches.append(cache)
        finals.append(final)
    state_n = tuple(np.concatenate(parts) for parts in zip(*finals, strict=True))
    return inputs, from_state(cell, state_n), DeepCache(cell, D, tuple(caches), inputs.shape)


def deep_backward(dY, cache: DeepCache, dstate_n=None):
    """Backpropagation through the stack and through time for :func:`deep_forward`.

    Layer ``l``'s ``dX`` is the upstream gradient of layer ``l - 1``'s states;
    each layer's final state may also receive a gradient (``dstate_n``).

    Args:
        dY: upstream gradient of the top layer's states, ``(T, n, D * h)``.
        cache: from :func:`deep_forward`.
        dstate_n: optional gradient of the final states, ``(L * D, n, h)`` (a pair
            for the LSTM).

    Returns:
        ``dX (T, n, d)``, the gradient of ``state0`` (``(L * D, n, h)``, a pair
        for the LSTM) and a list of ``L * D`` parameter-gradient tuples in the
        order of ``layers``.
    """
    check_cache("cache", cache, DeepCache, "deep_forward")
    cell, D = cache.cell, cache.directions
    T, n, Dh = cache.out_shape
    h, L = Dh // D, len(cache.layers)
    check_shape("dY", as_float_array("dY", dY, ndim=3), cache.out_shape)
    dfinal = None if dstate_n is None else as_state(cell, "dstate_n", dstate_n, (L * D, n, h))
    dstate0, dlayers, upstream = [None] * L, [None] * (L * D), dY
    for l in range(L - 1, -1, -1):
        block = None if dfinal is None else tuple(part[l * D:(l + 1) * D] for part in dfinal)
        if D == 1:
            upstream, d0, dlayers[l] = scan_cell_backward(
                upstream, cache.layers[l], None if block is None else tuple(b[0] for b in block))
            dstate0[l] = tuple(part[None] for part in d0)
        else:
            upstream, d0, dlayers[2 * l], dlayers[2 * l + 1] = bidirectional_backward(
                upstream, cache.layers[l], None if block is None else from_state(cell, block))
            dstate0[l] = as_state(cell, "dstate0", d0, (2, n, h))
    dstate = tuple(np.concatenate(parts) for parts in zip(*dstate0, strict=True))
    return upstream, from_state(cell, dstate), dlayers


def init_deep_params(cell, d: int, h: int, num_layers: int, rng: np.random.Generator,
                     bidirectional: bool = False) -> list[tuple[np.ndarray, ...]]:
    """Randomly initialised ``layers`` for :func:`deep_forward` (torch's uniform scheme)."""
    cell = get_cell(cell)
    D = 2 if bidirectional else 1
    L = check_positive_int("num_layers", num_layers)
    return [init_cell_params(cell, d if k < D else D * h, h, rng) for k in range(L * D)]


def deep_parameter_count(cell, d: int, h: int, num_layers: int, bidirectional: bool = False) -> int:
    """Number of weights and biases of the stack, counted as torch counts them (two biases)."""
    cell = get_cell(cell)
    D = 2 if bidirectional else 1
    L = check_positive_int("num_layers", num_layers)
    G = cell.blocks
    return sum(G * h * ((d if k < D else D * h) + h + 2) for k in range(L * D))


def _torch_name(kind: str, k: int, directions: int) -> str:
    return f"{kind}_l{k // directions}{'_reverse' if k % directions else ''}"


def torch_weights(layers, cell, bidirectional: bool = False) -> dict[str, np.ndarray]:
    """torch's parameter names and values for ``layers`` (numpy arrays, no torch needed).

    ``weight_ih_l{l}[_reverse] = W_x^T``, ``weight_hh_l{l}[_reverse] = W_h^T``; the
    RNN's ``b_h`` and the LSTM's ``b`` go into ``bias_ih`` with ``bias_hh = 0``;
    the GRU's ``b_x``, ``b_h`` are ``bias_ih``, ``bias_hh``. Copy them into
    ``nn.RNN/GRU/LSTM(d, h, num_layers=L, bidirectional=...)`` by name.
    """
    cell = get_cell(cell)
    D = 2 if bidirectional else 1
    weights = {}
    for k, params in enumerate(layers):
        W_x, W_h, *biases = params
        b_ih, b_hh = (biases if len(biases) == 2 else (biases[0], np.zeros_like(biases[0])))
        for kind, value in (("weight_ih", W_x.T), ("weight_hh", W_h.T), ("bias_ih", b_ih),
                            ("bias_hh", b_hh)):
            weights[_torch_name(kind, k, D)] = np.ascontiguousarray(value)
    return weights


def layers_from_torch(module) -> tuple[str, list[tuple[np.ndarray, ...]]]:
    """Read a ``torch.nn.RNN`` (tanh), ``GRU`` or ``LSTM`` into ``(cell, layers)``, float64.

    The inverse of :func:`torch_weights` (the RNN's and LSTM's two biases are
    summed); torch is not imported here, the module's attributes are read.
    """
    cells = {"RNN_TANH": "rnn", "GRU": "gru", "LSTM": "lstm"}
    mode = getattr(module, "mode", None)
    if mode not in cells or getattr(module, "proj_size", 0):
        raise ValueError(f"module: expected a torch nn.RNN (tanh), nn.GRU or nn.LSTM without "
                         f"projections, got {type(module).__name__} (mode {mode!r})")
    D = 2 if module.bidirectional else 1

    def read(kind, k):
        value = getattr(module, _torch_name(kind, k, D), None)
        return None if value is None else value.detach().cpu().double().numpy().copy()

    layers = []
    for k in range(module.num_layers * D):
        W_x, W_h = read("weight_ih", k).T.copy(), read("weight_hh", k).T.copy()
        b_ih, b_hh = read("bias_ih", k), read("bias_hh", k)
        if b_ih is None:  # bias=False
            b_ih = b_hh = np.zeros(W_x.shape[1])
        biases = (b_ih, b_hh) if cells[mode] == "gru" else (b_ih + b_hh,)
        layers.append((W_x, W_h, *biases))
    return cells[mode], layers
