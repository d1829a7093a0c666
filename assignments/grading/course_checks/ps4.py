"""Hidden-test helpers for problem set 4: gated units, the LSTM and the GRU.

Oracles in float64: ``torch.nn.LSTMCell`` and ``torch.nn.GRUCell`` (PyTorch's
layout and gate order), and PyTorch autograd of the gated unit's equations.
Forbidden: ``rnn_lib.gated``, ``rnn_lib.lstm`` and ``rnn_lib.gru``.
"""

from __future__ import annotations

import numpy as np
import torch

import rnn_lib.gated as ref_gated
import rnn_lib.gru as ref_gru
import rnn_lib.lstm as ref_lstm
from course_checks.common import (
    Case,
    StudentRun,
    array_problem,
    call_student,
    error_problem,
    forbidden_codes,
    leading_outputs,
    partial_credit,
    reference_problem,
    run_cases,
    tuple_of,
)
from grader.declare import kernel_side, verdict

FORBIDDEN = forbidden_codes(
    ref_gated.gated_step_forward, ref_gated.gated_step_backward, ref_gated.gated_forward,
    ref_gated.gated_backward, ref_lstm.lstm_step_forward, ref_lstm.lstm_step_backward,
    ref_lstm.lstm_forward, ref_lstm.lstm_backward, ref_gru.gru_step_forward,
    ref_gru.gru_step_backward, ref_gru.gru_forward, ref_gru.gru_backward,
)


def _tolerance(dtype) -> dict:
    return {"rtol": 1e-4, "atol": 1e-5} if dtype == np.float32 else {"rtol": 1e-6, "atol": 1e-9}


def _t(a, grad=False):
    return torch.tensor(np.asarray(a, np.float64), requires_grad=grad)


def _unit_inputs(rng, n, d, h, blocks, *, dtype=np.float64, zero_state=False, scale=0.5,
                 gate_bias=None, extra_state=False, two_biases=False):
    """Seeded (X, H_prev[, C_prev], W_x, W_h, b[, b_h]) with `blocks` stacked column blocks."""
    X = rng.normal(size=(n, d))
    H_prev = np.zeros((n, h)) if zero_state else np.tanh(rng.normal(size=(n, h)))
    arrays = [X, H_prev]
    if extra_state:
        arrays.append(np.zeros((n, h)) if zero_state else rng.normal(size=(n, h)))
    W_x = rng.normal(scale=scale, size=(d, blocks * h))
    W_h = rng.normal(scale=scale, size=(h, blocks * h))
    b = rng.normal(scale=scale, size=blocks * h)
    if gate_bias is not None:
        for block, value in gate_bias.items():
            b[block * h:(block + 1) * h] = value
    arrays += [W_x, W_h, b]
    if two_biases:
        arrays.append(rng.normal(scale=scale, size=blocks * h))
    return tuple(np.asarray(a, dtype) for a in arrays)


def _forward_problem(name, n_outputs):
    """Check the returned arrays (step (b) dropped the cache)."""
    def problem_of(case, run, expected):
        if (problem := error_problem(name, run)) is not None:
            return [problem]
        values = run.value if n_outputs > 1 else (run.value,)
        dtype = case.meta.get("dtype", np.float64)
        return [array_problem(f"{name} [{case.label}] {label}", got, want, dtype=dtype,
                              **_tolerance(dtype))
                for label, got, want in zip(case.meta["outputs"], values, expected,
                                            strict=True)]
    return problem_of


@kernel_side
def _score_cases(name, points, cases, runs, expected_of, problem_of) -> float:
    parts = {case.label: problem_of(case, run, expected_of(case))
             for case, run in zip(cases, runs, strict=True)}
    return partial_credit(points, parts, gate=reference_problem(name, runs))


def _score_gradients(name, names, points, cases, runs, expected_of) -> float:
    parts = {grad: [] for grad in names}
    for case, run in zip(cases, runs, strict=True):
        if (problem := error_problem(name, run)) is not None:
            for grad in names:
                parts[grad].append(problem)
            continue
        if not isinstance(run.value, tuple | list) or len(run.value) != len(names):
            for grad in names:
                parts[grad].append(f"{name} [{case.label}]: expected a tuple of "
                                   f"{len(names)} arrays ({', '.join(names)})")
            continue
        dtype = case.meta.get("dtype", np.float64)
        for grad, got, want in zip(names, run.value, expected_of(case), strict=True):
            parts[grad].append(array_problem(f"{name} [{case.label}] {grad}", got, want,
                                             dtype=dtype, **_tolerance(dtype)))
    return partial_credit(points, parts, gate=reference_problem(name, runs))


@kernel_side
def run_gated_step_forward(function, cases) -> list[StudentRun]:
    """Step (b): the student's H (the cache is not graded)."""
    return run_cases(function, cases, FORBIDDEN, project=leading_outputs(1, "(H, cache)"))


@kernel_side
def run_lstm_step_forward(function, cases) -> list[StudentRun]:
    """Step (b): the student's (H, C)."""
    return run_cases(function, cases, FORBIDDEN, project=leading_outputs(2, "(H, C, cache)"))


@kernel_side
def run_gru_step_forward(function, cases) -> list[StudentRun]:
    """Step (b): the student's H."""
    return run_cases(function, cases, FORBIDDEN, project=leading_outputs(1, "(H, cache)"))


@kernel_side
def run_step_backward(forward, backward, cases, n_upstream: int, names: str
                      ) -> list[StudentRun]:
    """Step (b) for a backward step: the student's forward makes the cache.

    The last ``n_upstream`` arrays of each case are the upstream gradients;
    ``names`` describes the gradients expected back, e.g. ``"(dX, dH_prev, ...)"``.
    """
    count = names.count(",") + 1
    runs = []
    for case in cases:
        inputs, upstream = case.args[:-n_upstream], case.args[-n_upstream:]

        def both(inputs=inputs, upstream=upstream):
            cache = forward(*inputs)[-1]
            return backward(*upstream, cache)

        runs.append(call_student(both, forbidden=FORBIDDEN, label=case.label,
                                 project=tuple_of(count, names)))
    return runs


@kernel_side
def run_gated_step_backward(forward, backward, cases) -> list[StudentRun]:
    """Step (b)."""
    return run_step_backward(forward, backward, cases, 1, "(dX, dH_prev, dW_x, dW_h, db)")


@kernel_side
def run_lstm_step_backward(forward, backward, cases) -> list[StudentRun]:
    """Step (b)."""
    return run_step_backward(forward, backward, cases, 2,
                             "(dX, dH_prev, dC_prev, dW_x, dW_h, db)")


# --------------------------------------------------------------------------- gated unit


def _gated_torch(X, H_prev, W_x, W_h, b):
    h = H_prev.shape[1]
    A = X @ W_x + H_prev @ W_h + b
    G = torch.sigmoid(A[:, :h])
    return (1 - G) * H_prev + G * torch.tanh(A[:, h:])


@kernel_side
def gated_step_forward_cases() -> list[Case]:
    """Step (a)."""
    rng = np.random.default_rng(4001)
    meta = {"outputs": ("H",)}

    def case(label, n, d, h, **kw):
        m = dict(meta, dtype=kw.get("dtype", np.float64))
        return Case(label, _unit_inputs(rng, n, d, h, 2, **kw), meta=m)

    return [
        case("n=4, d=3, h=5", 4, 3, 5),
        case("one example (n=1), d=2, h=6", 1, 2, 6),
        case("zero H_prev", 3, 4, 3, zero_state=True),
        case("gate saturated shut (H = H_prev)", 3, 3, 4, gate_bias={0: -800.0}),
        case("gate saturated open (H = candidate)", 2, 3, 4, gate_bias={0: 800.0}),
        case("float32 inputs give float32 outputs", 4, 3, 3, dtype=np.float32),
    ]


def expected_gated_forward(case: Case):
    return (_gated_torch(*(_t(a) for a in case.args)).numpy(),)


@verdict(cases=gated_step_forward_cases)
def check_gated_step_forward(cases, runs, points: float) -> float:
    """Step (c): partial credit per case."""
    return _score_cases("gated_step_forward", points, cases, runs, expected_gated_forward,
                        _forward_problem("gated_step_forward", 1))


@kernel_side
def gated_step_backward_cases() -> list[Case]:
    """Step (a): forward inputs followed by the upstream gradient dH."""
    rng = np.random.default_rng(4002)

    def case(label, n, d, h, dtype=np.float64, **kw):
        inputs = _unit_inputs(rng, n, d, h, 2, dtype=dtype, **kw)
        dH = rng.normal(size=(n, h)).astype(dtype)
        return Case(label, (*inputs, dH), meta={"dtype": dtype})

    return [
        case("n=4, d=3, h=5", 4, 3, 5),
        case("one example (n=1), d=2, h=3", 1, 2, 3),
        case("zero H_prev", 3, 2, 4, zero_state=True),
        case("large weights (partly saturated gate)", 3, 3, 3, scale=3.0),
        case("float32 inputs give float32 gradients", 2, 3, 3, dtype=np.float32),
    ]


def expected_gated_backward(case: Case):
    *inputs, dH = case.args
    leaves = [_t(a, grad=True) for a in inputs]
    _gated_torch(*leaves).backward(_t(dH))
    return [leaf.grad.numpy() for leaf in leaves]


@verdict(cases=gated_step_backward_cases)
def check_gated_step_backward(cases, runs, points: float) -> float:
    """Step (c): partial credit per gradient."""
    return _score_gradients("gated_step_backward", ("dX", "dH_prev", "dW_x", "dW_h", "db"),
                            points, cases, runs, expected_gated_backward)


# --------------------------------------------------------------------------- LSTM


def _lstm_cell(W_x, W_h, b):
    d, four_h = W_x.shape
    cell = torch.nn.LSTMCell(d, four_h // 4, dtype=torch.float64)
    with torch.no_grad():
        cell.weight_ih.copy_(_t(W_x).T)
        cell.weight_hh.copy_(_t(W_h).T)
        cell.bias_ih.copy_(_t(b))
        cell.bias_hh.zero_()
    return cell


@kernel_side
def lstm_step_forward_cases() -> list[Case]:
    """Step (a): (X, H_prev, C_prev, W_x, W_h, b), gate order (i, f, g, o)."""
    rng = np.random.default_rng(4003)

    def case(label, n, d, h, dtype=np.float64, **kw):
        return Case(label, _unit_inputs(rng, n, d, h, 4, dtype=dtype, extra_state=True, **kw),
                    meta={"dtype": dtype, "outputs": ("H", "C")})

    return [
        case("n=4, d=3, h=5", 4, 3, 5),
        case("one example (n=1), d=2, h=3", 1, 2, 3),
        case("zero H_prev and C_prev", 3, 4, 2, zero_state=True),
        case("forget gate saturated open, input gate shut (C = C_prev)", 3, 3, 4,
             gate_bias={0: -800.0, 1: 800.0}),
        case("forget gate saturated shut (C = i * g)", 2, 3, 3, gate_bias={1: -800.0}),
        case("d = h, large weights", 3, 4, 4, scale=2.0),
        case("float32 inputs give float32 outputs", 4, 3, 3, dtype=np.float32),
    ]


def expected_lstm_forward(case: Case):
    X, H_prev, C_prev, W_x, W_h, b = case.args
    with torch.no_grad():
        H, C = _lstm_cell(W_x, W_h, b)(_t(X), (_t(H_prev), _t(C_prev)))
    return H.numpy(), C.numpy()


@verdict(cases=lstm_step_forward_cases)
def check_lstm_step_forward(cases, runs, points: float) -> float:
    """Step (c): partial credit per case."""
    return _score_cases("lstm_step_forward", points, cases, runs, expected_lstm_forward,
                        _forward_problem("lstm_step_forward", 2))


@kernel_side
def lstm_step_backward_cases() -> list[Case]:
    """Step (a): forward inputs followed by the upstream gradients dH and dC."""
    rng = np.random.default_rng(4004)

    def case(label, n, d, h, dtype=np.float64, dC_zero=False, **kw):
        inputs = _unit_inputs(rng, n, d, h, 4, dtype=dtype, extra_state=True, **kw)
        dH = rng.normal(size=(n, h))
        dC = np.zeros((n, h)) if dC_zero else rng.normal(size=(n, h))
        return Case(label, (*inputs, dH.astype(dtype), dC.astype(dtype)), meta={"dtype": dtype})

    return [
        case("n=4, d=3, h=5", 4, 3, 5),
        case("one example (n=1), d=2, h=3", 1, 2, 3),
        case("no gradient from the next cell (dC = 0)", 3, 3, 2, dC_zero=True),
        case("zero H_prev and C_prev", 2, 2, 3, zero_state=True),
        case("forget gate nearly saturated", 3, 3, 3, gate_bias={1: 6.0}),
        case("float32 inputs give float32 gradients", 2, 3, 3, dtype=np.float32),
    ]


def expected_lstm_backward(case: Case):
    X, H_prev, C_prev, W_x, W_h, b, dH, dC = case.args
    cell = _lstm_cell(W_x, W_h, b)
    x, hp, cp = _t(X, True), _t(H_prev, True), _t(C_prev, True)
    H, C = cell(x, (hp, cp))
    torch.autograd.backward([H, C], [_t(dH), _t(dC)])
    return (x.grad.numpy(), hp.grad.numpy(), cp.grad.numpy(), cell.weight_ih.grad.T.numpy(),
            cell.weight_hh.grad.T.numpy(), cell.bias_ih.grad.numpy())


@verdict(cases=lstm_step_backward_cases)
def check_lstm_step_backward(cases, runs, points: float) -> float:
    """Step (c): partial credit per gradient."""
    return _score_gradients("lstm_step_backward",
                            ("dX", "dH_prev", "dC_prev", "dW_x", "dW_h", "db"),
                            points, cases, runs, expected_lstm_backward)


# --------------------------------------------------------------------------- GRU


@kernel_side
def gru_step_forward_cases() -> list[Case]:
    """Step (a): (X, H_prev, W_x, W_h, b_x, b_h), gate order (r, z, n)."""
    rng = np.random.default_rng(4005)

    def case(label, n, d, h, dtype=np.float64, **kw):
        return Case(label, _unit_inputs(rng, n, d, h, 3, dtype=dtype, two_biases=True, **kw),
                    meta={"dtype": dtype, "outputs": ("H",)})

    return [
        case("n=4, d=3, h=5", 4, 3, 5),
        case("one example (n=1), d=2, h=3", 1, 2, 3),
        case("zero H_prev", 3, 4, 2, zero_state=True),
        case("update gate saturated (H = H_prev)", 3, 3, 4, gate_bias={1: 800.0}),
        case("reset gate saturated shut", 2, 3, 3, gate_bias={0: -800.0}),
        case("d = h, large weights", 3, 4, 4, scale=2.0),
        case("float32 inputs give float32 outputs", 4, 3, 3, dtype=np.float32),
    ]


def expected_gru_forward(case: Case):
    X, H_prev, W_x, W_h, b_x, b_h = case.args
    d, three_h = W_x.shape
    cell = torch.nn.GRUCell(d, three_h // 3, dtype=torch.float64)
    with torch.no_grad():
        cell.weight_ih.copy_(_t(W_x).T)
        cell.weight_hh.copy_(_t(W_h).T)
        cell.bias_ih.copy_(_t(b_x))
        cell.bias_hh.copy_(_t(b_h))
        return (cell(_t(X), _t(H_prev)).numpy(),)


@verdict(cases=gru_step_forward_cases)
def check_gru_step_forward(cases, runs, points: float) -> float:
    """Step (c): partial credit per case."""
    return _score_cases("gru_step_forward", points, cases, runs, expected_gru_forward,
                        _forward_problem("gru_step_forward", 1))
