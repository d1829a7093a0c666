"""A bidirectional recurrent layer: one cell reads left to right, another right to left.

With a forward cell (parameters ``params_fwd``) and a backward cell
(``params_bwd``) of the same kind and size::

    Hf_t = cell(X_t, Hf_{t-1}; params_fwd),   t = 1 .. T,     Hf_0 = state0[0]
    Hb_t = cell(X_t, Hb_{t+1}; params_bwd),   t = T .. 1,     Hb_{T+1} = state0[1]
    H_t  = [Hf_t | Hb_t]                                         (n, 2h)

``H_t`` summarises the whole sequence around step ``t``: ``Hf_t`` the past
``X_1 .. X_t``, ``Hb_t`` the future ``X_t .. X_T``. That is why a language
model, which must predict ``X_{t+1}`` from ``X_1 .. X_t``, cannot use one:
``Hb_t`` has already read the answer.

torch's layout (``nn.RNN/GRU/LSTM(..., bidirectional=True)``), which this module
follows exactly:

* ``output`` is ``(T, n, 2h)`` and ``output[t] = [Hf_t | Hb_t]``: forward
  direction in the first ``h`` columns, backward in the last ``h``, both at
  the position ``t`` of the input they have just read (the backward half is
  *not* reversed in time).
* ``h_n`` is ``(2 * num_layers, n, h)`` ordered layer by layer, forward first:
  ``h_n[2l]`` is layer ``l``'s forward final state ``Hf_T`` (``= output[-1, :, :h]``
  for the top layer) and ``h_n[2l + 1]`` its backward final state ``Hb_1``
  (``= output[0, :, h:]``). ``h_0``, and ``c_0``/``c_n`` for the LSTM, use the
  same order. Here ``state0`` and the returned final state are that
  ``(2, n, h)`` block for one layer.
* the backward direction's weights are the ``*_reverse`` parameters
  (``weight_ih_l0_reverse`` ...).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rnn_lib._checks import as_float_array, check_cache, check_shape
from rnn_lib.cells import (
    LayerCache,
    as_sequence,
    as_state,
    check_params,
    from_state,
    get_cell,
    scan_cell,
    scan_cell_backward,
)


@dataclass(frozen=True)
class BidirectionalCache:
    """What :func:`bidirectional_backward` needs from :func:`bidirectional_forward`."""

    forward: LayerCache  # left-to-right pass
    backward: LayerCache  # right-to-left pass


def bidirectional_forward(X, state0, params_fwd, params_bwd, cell="rnn"):
    """Both directions over ``X`` and their concatenation.

    Args:
        X: inputs, ``(T, n, d)``.
        state0: initial states ``(2, n, h)``, forward then backward (torch's
            ``h_0`` for one layer); for the LSTM the pair ``(H0, C0)``.
        params_fwd, params_bwd: the two directions' parameter tuples in the
            cell's layout (:mod:`rnn_lib.cells`), ``d`` inputs, ``h`` units.
        cell: ``"rnn"``, ``"gru"`` or ``"lstm"``.

    Returns:
        ``H (T, n, 2h)`` with ``H[t] = [Hf_t | Hb_t]``, the final state
        ``(2, n, h)`` (``[Hf_T, Hb_1]``, a pair for the LSTM) and a cache for
        :func:`bidirectional_backward`.
    """
    cell = get_cell(cell)
    X = as_sequence(X)
    T, n, d = X.shape
    h = check_params(cell, "params_fwd", params_fwd, d)
    if check_params(cell, "params_bwd", params_bwd, d) != h:
        raise ValueError(f"params_bwd: expected {h} hidden units (those of params_fwd), "
                         f"got {params_bwd[1].shape[0]}")
    state0 = as_state(cell, "state0", state0, (2, n, h))
    Hf, final_f, cache_f = scan_cell(cell, X, tuple(s[0] for s in state0), params_fwd)
    Hb, final_b, cache_b = scan_cell(cell, X, tuple(s[1] for s in state0), params_bwd,
                                         reverse=True)
    final = tuple(np.stack(pair) for pair in zip(final_f, final_b, strict=True))
    return (np.concatenate([Hf, Hb], axis=2), from_state(cell, final),
            BidirectionalCache(cache_f, cache_b))


def bidirectional_backward(dH, cache: BidirectionalCache, dstate_n=None):
    """Gradients of :func:`bidirectional_forward`.

    The two directions share only their input, so each half of ``dH`` is
    backpropagated through its own direction and the two ``dX`` add up.

    Args:
        dH: upstream gradient of ``H``, ``(T, n, 2h)``.
        cache: from :func:`bidirectional_forward`.
        dstate_n: optional gradient of the final state, ``(2, n, h)`` (a pair for
            the LSTM), e.g. when a decoder starts from it.

    Returns:
        ``dX (T, n, d)``, the gradient of ``state0`` (``(2, n, h)``, a pair for
        the LSTM), and the two directions' parameter-gradient tuples
        ``dparams_fwd``, ``dparams_bwd``.
    """
    check_cache("cache", cache, BidirectionalCache, "bidirectional_forward")
    cell = cache.forward.cell
    T, n, h = cache.forward.H.shape
    check_shape("dH", as_float_array("dH", dH, ndim=3), (T, n, 2 * h))
    finals = (None, None)
    if dstate_n is not None:
        parts = as_state(cell, "dstate_n", dstate_n, (2, n, h))
        finals = tuple(tuple(p[k] for p in parts) for k in range(2))
    dX_f, d0_f, dparams_f = scan_cell_backward(dH[..., :h], cache.forward, finals[0])
    dX_b, d0_b, dparams_b = scan_cell_backward(dH[..., h:], cache.backward, finals[1])
    dstate0 = tuple(np.stack(pair) for pair in zip(d0_f, d0_b, strict=True))
    return dX_f + dX_b, from_state(cell, dstate0), dparams_f, dparams_b
