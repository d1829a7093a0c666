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
from course_checks.caches import (
    CacheStructure,
    arrays,
    backward_on_cache,
    backward_through_cache,
    cache_problem,
    outputs_and_cache,
    raised_problem,
    weighted_credit,
)
from course_checks.common import (
    Case,
    StudentRun,
    array_problem,
    call_student,
    error_problem,
    forbidden_codes,
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
    """Check the returned arrays (the cache is judged apart, see :func:`_score_forward`)."""
    def problem_of(case, run, expected):
        if (problem := error_problem(name, run)) is not None:
            return [problem]
        value = run.value["outputs"] if isinstance(run.value, dict) else run.value
        values = value if n_outputs > 1 else (value,)
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


def _score_gradients(name, names, points, cases, runs, expected_of, cache_judge=None) -> float:
    """Partial credit per gradient; the backward was fed the student's own forward's cache.

    ``cache_judge(case, cache)`` returns ``(problem, grads)``: why the cache is
    wrong (None if right) and what a correct backward computes from it. A
    backward is not charged for a wrong cache when it computes what a correct
    backward computes from that cache; the cache itself costs points in the
    forward's hidden test.
    """
    parts = {grad: [] for grad in names}
    for case, run in zip(cases, runs, strict=True):
        if (problem := error_problem(name, run)) is not None:
            for grad in names:
                parts[grad].append(problem)
            continue
        with_cache = isinstance(run.value, dict)
        grads = run.value["grads"] if with_cache else run.value
        expected = expected_of(case)
        cache_wrong, on_cache = (cache_judge(case, run.value["cache"], expected)
                                 if with_cache and cache_judge else (None, None))
        if with_cache and run.value["raised"] is not None:
            for grad in names:
                parts[grad].append(raised_problem(name, case.label, run.value["raised"],
                                                  cache_wrong))
            continue
        if not isinstance(grads, tuple | list) or len(grads) != len(names):
            for grad in names:
                parts[grad].append(f"{name} [{case.label}]: expected a tuple of "
                                   f"{len(names)} arrays ({', '.join(names)})")
            continue
        dtype = case.meta.get("dtype", np.float64)

        def problem_of(grad, got, want, dtype=dtype, case=case):
            return array_problem(f"{name} [{case.label}] {grad}", got, want, dtype=dtype,
                                 **_tolerance(dtype))

        problems = backward_on_cache(grads, expected, cache_wrong, on_cache,
                                     problem_of, names)
        for grad, problem in zip(names, problems, strict=True):
            parts[grad].append(problem)
    return partial_credit(points, parts, gate=reference_problem(name, runs))


def _score_forward(name, points, cases, runs, expected_of, problem_of, cache_judge) -> float:
    """Two thirds for the outputs (a share per case), one third for the caches (idem)."""
    outputs, caches = {}, {}
    for case, run in zip(cases, runs, strict=True):
        found = [p for p in problem_of(case, run, expected_of(case)) if p]
        outputs[case.label] = found
        part = f"{name} cache [{case.label}]"
        if run.error is not None:
            caches[part] = found
        elif found:
            caches[part] = ["the cache is not judged while the outputs are wrong"]
        else:
            caches[part] = [cache_judge(case, run.value["cache"])[0]]
    return weighted_credit(points, [(2.0, outputs), (1.0, caches)],
                           gate=reference_problem(name, runs))


# --------------------------------------------------------------------------- caches (trusted)
# The structures the notebook documents, read by correct backwards written here; their
# gradients are compared with autograd of the equations (torch, float64).

GATED_CACHE = "(X, H_prev, W_x, W_h, G, Htilde)"
LSTM_CACHE = "(X, H_prev, C_prev, W_x, W_h, I, F, G, O, tanh_C)"
GRU_CACHE = "(X, H_prev, W_x, W_h, R, Z, N, A_h)"
GATED_GRADS = ("dX", "dH_prev", "dW_x", "dW_h", "db")
LSTM_GRADS = ("dX", "dH_prev", "dC_prev", "dW_x", "dW_h", "db")
GRU_GRADS = ("dX", "dH_prev", "dW_x", "dW_h", "db_x", "db_h")


def _cache_items(cache, structure: str, names, shapes):
    if not isinstance(cache, tuple | list) or len(cache) != len(names):
        got = (f"a {type(cache).__name__} of {len(cache)} items"
               if isinstance(cache, tuple | list) else
               (cache if isinstance(cache, str) else f"a {type(cache).__name__}"))
        raise CacheStructure(f"it should be {structure}, got {got}")
    return arrays(cache, names, shapes)


def _gated_backward(dH, cache, n, d, h):
    X, H_prev, W_x, W_h, G, Ht = _cache_items(
        cache, GATED_CACHE, ("X", "H_prev", "W_x", "W_h", "G", "Htilde"),
        [(n, d), (n, h), (d, 2 * h), (h, 2 * h), (n, h), (n, h)])
    dA = np.concatenate([dH * (Ht - H_prev) * G * (1 - G), dH * G * (1 - Ht**2)], axis=1)
    return (dA @ W_x.T, dH * (1 - G) + dA @ W_h.T, X.T @ dA, H_prev.T @ dA, dA.sum(axis=0))


def _lstm_backward(dH, dC, cache, n, d, h):
    X, H_prev, C_prev, W_x, W_h, I, F, G, O, tC = _cache_items(
        cache, LSTM_CACHE, ("X", "H_prev", "C_prev", "W_x", "W_h", "I", "F", "G", "O", "tanh_C"),
        [(n, d), (n, h), (n, h), (d, 4 * h), (h, 4 * h)] + [(n, h)] * 5)
    dCt = dC + dH * O * (1 - tC**2)
    dA = np.concatenate([dCt * G * I * (1 - I), dCt * C_prev * F * (1 - F),
                         dCt * I * (1 - G**2), dH * tC * O * (1 - O)], axis=1)
    return (dA @ W_x.T, dA @ W_h.T, dCt * F, X.T @ dA, H_prev.T @ dA, dA.sum(axis=0))


def _gru_backward(dH, cache, n, d, h):
    X, H_prev, W_x, W_h, R, Z, N, A_h = _cache_items(
        cache, GRU_CACHE, ("X", "H_prev", "W_x", "W_h", "R", "Z", "N", "A_h"),
        [(n, d), (n, h), (d, 3 * h), (h, 3 * h), (n, h), (n, h), (n, h), (n, 3 * h)])
    dN = dH * (1 - Z) * (1 - N**2)
    dZ = dH * (H_prev - N) * Z * (1 - Z)
    dR = dN * A_h[:, 2 * h:] * R * (1 - R)
    dA_x = np.concatenate([dR, dZ, dN], axis=1)
    dA_h = np.concatenate([dR, dZ, dN * R], axis=1)
    return (dA_x @ W_x.T, dH * Z + dA_h @ W_h.T, X.T @ dA_x, H_prev.T @ dA_h,
            dA_x.sum(axis=0), dA_h.sum(axis=0))


def _lstm_torch(X, H_prev, C_prev, W_x, W_h, b):
    h = H_prev.shape[1]
    A = X @ W_x + H_prev @ W_h + b
    I, F, O = (torch.sigmoid(A[:, k * h:(k + 1) * h]) for k in (0, 1, 3))
    C = F * C_prev + I * torch.tanh(A[:, 2 * h:3 * h])
    return O * torch.tanh(C), C


def _gru_torch(X, H_prev, W_x, W_h, b_x, b_h):
    h = H_prev.shape[1]
    A_x, A_h = X @ W_x + b_x, H_prev @ W_h + b_h
    R = torch.sigmoid(A_x[:, :h] + A_h[:, :h])
    Z = torch.sigmoid(A_x[:, h:2 * h] + A_h[:, h:2 * h])
    N = torch.tanh(A_x[:, 2 * h:] + R * A_h[:, 2 * h:])
    return (1 - Z) * N + Z * H_prev


def _autograd(forward, inputs, upstream):
    leaves = [_t(a, grad=True) for a in inputs]
    outputs = forward(*leaves)
    outputs = outputs if isinstance(outputs, tuple) else (outputs,)
    # a scalar objective: backward(gradient) imports sympy on first use (~1 s)
    sum((out * _t(u)).sum() for out, u in zip(outputs, upstream, strict=True)).backward()
    return [leaf.grad.numpy() for leaf in leaves]


def _judge_cache(name, backward, structure, grad_names, torch_forward, n_upstream_like):
    """A ``cache_judge(case, cache) -> (problem, grads on that cache)`` for one forward.

    The upstream gradients are the case's own (backward cases) or seeded here
    (forward cases), shaped like H (and C): ``n_upstream_like`` of them.
    """
    def judge(case, cache, expected=None):
        """``expected``: the autograd gradients for the case's upstream, when already known."""
        dtype = case.meta.get("dtype", np.float64)
        inputs = case.args[:len(case.args) - case.meta.get("n_upstream", 0)]
        X, H_prev = inputs[0], inputs[1]
        (n, d), h = X.shape, H_prev.shape[1]
        if case.meta.get("n_upstream"):
            upstream = [np.asarray(u, np.float64) for u in case.args[len(inputs):]]
        else:
            rng = np.random.default_rng(4100 + sum(map(ord, case.label)))
            upstream = [rng.normal(size=(n, h)) for _ in range(n_upstream_like)]
        if expected is None:
            expected = _autograd(torch_forward, inputs, upstream)

        def read(*args):
            return backward(*args, n=n, d=d, h=h)

        problem = cache_problem(name, case.label, cache, read, upstream, expected, grad_names,
                                structure, **_tolerance(dtype))
        try:
            with np.errstate(all="ignore"):
                on_cache = read(*upstream, cache) if problem else None
        except Exception:  # noqa: BLE001 - the cache cannot be read: nothing to compare with
            on_cache = None
        return problem, on_cache
    return judge


def _gated_backward_kw(dH, cache, *, n, d, h):
    return _gated_backward(dH, cache, n, d, h)


def _lstm_backward_kw(dH, dC, cache, *, n, d, h):
    return _lstm_backward(dH, dC, cache, n, d, h)


def _gru_backward_kw(dH, cache, *, n, d, h):
    return _gru_backward(dH, cache, n, d, h)


@kernel_side
def run_gated_step_forward(function, cases) -> list[StudentRun]:
    """Step (b): the student's H and cache (plain data)."""
    return run_cases(function, cases, FORBIDDEN, project=outputs_and_cache(1, "(H, cache)"))


@kernel_side
def run_lstm_step_forward(function, cases) -> list[StudentRun]:
    """Step (b): the student's (H, C) and cache."""
    return run_cases(function, cases, FORBIDDEN, project=outputs_and_cache(2, "(H, C, cache)"))


@kernel_side
def run_gru_step_forward(function, cases) -> list[StudentRun]:
    """Step (b): the student's H and cache."""
    return run_cases(function, cases, FORBIDDEN, project=outputs_and_cache(1, "(H, cache)"))


@kernel_side
def run_step_backward(forward, backward, cases, n_upstream: int, names: str
                      ) -> list[StudentRun]:
    """Step (b) for a backward step: the student's forward makes the cache.

    The last ``n_upstream`` arrays of each case are the upstream gradients;
    ``names`` describes the gradients expected back, e.g. ``"(dX, dH_prev, ...)"``.
    """
    count = names.count(",") + 1
    gradients = tuple_of(count, names)
    runs = []
    for case in cases:
        inputs, upstream = case.args[:-n_upstream], case.args[-n_upstream:]

        def both(inputs=inputs, upstream=upstream):
            cache = forward(*inputs)[-1]
            return backward_through_cache(
                cache, lambda cache, upstream=upstream: gradients(backward(*upstream, cache)))

        runs.append(call_student(both, forbidden=FORBIDDEN, label=case.label))
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
    return _score_forward("gated_step_forward", points, cases, runs, expected_gated_forward,
                          _forward_problem("gated_step_forward", 1), _gated_judge())


@kernel_side
def gated_step_backward_cases() -> list[Case]:
    """Step (a): forward inputs followed by the upstream gradient dH."""
    rng = np.random.default_rng(4002)

    def case(label, n, d, h, dtype=np.float64, **kw):
        inputs = _unit_inputs(rng, n, d, h, 2, dtype=dtype, **kw)
        dH = rng.normal(size=(n, h)).astype(dtype)
        return Case(label, (*inputs, dH), meta={"dtype": dtype, "n_upstream": 1})

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
    (_gated_torch(*leaves) * _t(dH)).sum().backward()
    return [leaf.grad.numpy() for leaf in leaves]


@verdict(cases=gated_step_backward_cases)
def check_gated_step_backward(cases, runs, points: float) -> float:
    """Step (c): partial credit per gradient."""
    return _score_gradients("gated_step_backward", GATED_GRADS, points, cases, runs,
                            expected_gated_backward, _gated_judge())


def _gated_judge():
    return _judge_cache("gated_step_forward", _gated_backward_kw, GATED_CACHE, GATED_GRADS,
                        _gated_torch, 1)


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
    return _score_forward("lstm_step_forward", points, cases, runs, expected_lstm_forward,
                          _forward_problem("lstm_step_forward", 2), _lstm_judge())


@kernel_side
def lstm_step_backward_cases() -> list[Case]:
    """Step (a): forward inputs followed by the upstream gradients dH and dC."""
    rng = np.random.default_rng(4004)

    def case(label, n, d, h, dtype=np.float64, dC_zero=False, **kw):
        inputs = _unit_inputs(rng, n, d, h, 4, dtype=dtype, extra_state=True, **kw)
        dH = rng.normal(size=(n, h))
        dC = np.zeros((n, h)) if dC_zero else rng.normal(size=(n, h))
        return Case(label, (*inputs, dH.astype(dtype), dC.astype(dtype)),
                    meta={"dtype": dtype, "n_upstream": 2})

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
    ((H * _t(dH)).sum() + (C * _t(dC)).sum()).backward()
    return (x.grad.numpy(), hp.grad.numpy(), cp.grad.numpy(), cell.weight_ih.grad.T.numpy(),
            cell.weight_hh.grad.T.numpy(), cell.bias_ih.grad.numpy())


@verdict(cases=lstm_step_backward_cases)
def check_lstm_step_backward(cases, runs, points: float) -> float:
    """Step (c): partial credit per gradient."""
    return _score_gradients("lstm_step_backward", LSTM_GRADS, points, cases, runs,
                            expected_lstm_backward, _lstm_judge())


def _lstm_judge():
    return _judge_cache("lstm_step_forward", _lstm_backward_kw, LSTM_CACHE, LSTM_GRADS,
                        _lstm_torch, 2)


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
    return _score_forward("gru_step_forward", points, cases, runs, expected_gru_forward,
                          _forward_problem("gru_step_forward", 1), _gru_judge())


def _gru_judge():
    return _judge_cache("gru_step_forward", _gru_backward_kw, GRU_CACHE, GRU_GRADS,
                        _gru_torch, 1)
