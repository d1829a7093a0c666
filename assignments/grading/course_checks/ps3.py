"""Hidden-test helpers for problem set 3: backpropagation through time.

Oracles: PyTorch autograd in float64 (``torch.tanh`` graphs, ``cross_entropy``,
``clip_grad_norm_``) and, for one case per backward pass, a numerical gradient
(``rnn_lib.numerical_gradient``). The student's backward functions receive the
caches made by the notebook's provided (locked) forward functions. Forbidden:
the corresponding functions of ``rnn_lib``.
"""

from __future__ import annotations

import numpy as np
import torch

import rnn_lib.optim as ref_optim
import rnn_lib.output as ref_output
import rnn_lib.rnn as ref_rnn
from course_checks.common import (
    Case,
    StudentRun,
    array_problem,
    call_student,
    error_problem,
    forbidden_codes,
    partial_credit,
    reference_problem,
    scalar_problem,
    tuple_of,
)
from grader.declare import kernel_side, verdict
from rnn_lib.gradcheck import numerical_gradient

FORBIDDEN = forbidden_codes(
    ref_rnn.rnn_step_backward, ref_rnn.rnn_backward, ref_rnn.rnn_step_forward,
    ref_rnn.rnn_forward, ref_output.output_backward, ref_output.output_forward,
    ref_output.softmax_cross_entropy, ref_output.log_softmax, ref_output.softmax,
    ref_optim.clip_gradients, ref_optim.global_norm, ref_optim.SGD,
)
RNN_GRADS = ("dX", "dH_prev", "dW_xh", "dW_hh", "db_h")
RNN_SEQ_GRADS = ("dX", "dH0", "dW_xh", "dW_hh", "db_h")
OUTPUT_GRADS = ("dH", "dW_hq", "db_q")


def _tolerance(dtype) -> dict:
    return {"rtol": 1e-4, "atol": 1e-5} if dtype == np.float32 else {"rtol": 1e-6, "atol": 1e-9}


def _gradient_parts(name, names, cases, runs, expected_of):
    """One part per returned gradient, each checked on every case."""
    parts = {grad: [] for grad in names}
    for case, run in zip(cases, runs, strict=True):
        if (problem := error_problem(name, run)) is not None:
            for grad in names:
                parts[grad].append(problem)
            continue
        if not isinstance(run.value, tuple | list) or len(run.value) != len(names):
            for grad in names:
                parts[grad].append(f"{name} [{case.label}]: expected a tuple of {len(names)} "
                                   f"arrays ({', '.join(names)})")
            continue
        expected = expected_of(case)
        dtype = case.meta.get("dtype", np.float64)
        for grad, got, want in zip(names, run.value, expected, strict=True):
            parts[grad].append(array_problem(f"{name} [{case.label}] {grad}", got, want,
                                             dtype=dtype, **_tolerance(dtype)))
    return parts


# --------------------------------------------------------------------------- torch oracles


def _torch_leaves(*arrays):
    return [torch.tensor(np.asarray(a, np.float64), requires_grad=True) for a in arrays]


def _rnn_step_torch(X, H_prev, W_xh, W_hh, b_h):
    return torch.tanh(X @ W_xh + H_prev @ W_hh + b_h)


def _rnn_seq_torch(X, H0, W_xh, W_hh, b_h):
    H, states = H0, []
    for t in range(X.shape[0]):
        H = _rnn_step_torch(X[t], H, W_xh, W_hh, b_h)
        states.append(H)
    return torch.stack(states)


def _vjp(forward, arrays, upstream):
    leaves = _torch_leaves(*arrays)
    out = forward(*leaves)
    # sum(out * upstream), not out.backward(upstream): that form imports sympy (~1 s)
    (out * torch.from_numpy(np.asarray(upstream, np.float64))).sum().backward()
    return [leaf.grad.numpy() for leaf in leaves]


def _numeric_vjp(forward, arrays, upstream):
    """Numerical gradient of sum(forward(arrays) * upstream) for every array (float64)."""
    arrays = [np.array(a, dtype=np.float64) for a in arrays]
    grads = []
    for i in range(len(arrays)):
        def f(x, i=i):
            args = list(arrays)
            args[i] = x
            return forward(*args)
        grads.append(numerical_gradient(f, arrays[i], df=np.asarray(upstream, np.float64)))
    return grads


def _rnn_step_numpy(X, H_prev, W_xh, W_hh, b_h):
    return np.tanh(X @ W_xh + H_prev @ W_hh + b_h)


def _rnn_seq_numpy(X, H0, W_xh, W_hh, b_h):
    H, states = H0, []
    for t in range(X.shape[0]):
        H = _rnn_step_numpy(X[t], H, W_xh, W_hh, b_h)
        states.append(H)
    return np.stack(states)


# --------------------------------------------------------------------------- rnn_step_backward


@kernel_side
def rnn_step_backward_cases() -> list[Case]:
    """Step (a): forward inputs and the upstream gradient dH."""
    rng = np.random.default_rng(3001)

    def case(label, n, d, h, dtype=np.float64, zero_state=False, scale=0.5, numeric=False):
        X = rng.normal(size=(n, d))
        H_prev = np.zeros((n, h)) if zero_state else rng.normal(size=(n, h))
        params = (rng.normal(scale=scale, size=(d, h)), rng.normal(scale=scale, size=(h, h)),
                  rng.normal(scale=scale, size=h))
        dH = rng.normal(size=(n, h))
        arrays = tuple(a.astype(dtype) for a in (X, H_prev, *params, dH))
        return Case(label, arrays, meta={"dtype": dtype, "numeric": numeric})

    return [
        case("n=4, d=3, h=5", 4, 3, 5),
        case("one example (n=1), d=6, h=2", 1, 6, 2),
        case("zero H_prev", 3, 2, 4, zero_state=True),
        case("numerical gradient check, n=2, d=3, h=3", 2, 3, 3, numeric=True),
        case("partly saturated tanh", 3, 4, 3, scale=3.0),
        case("float32 inputs give float32 gradients", 5, 3, 4, dtype=np.float32),
    ]


def _run_backward(forward, backward, cases, names) -> list[StudentRun]:
    """The provided forward makes the cache; the student's backward is traced."""
    runs = []
    for case in cases:
        *inputs, upstream = case.args
        _, cache = forward(*inputs)
        runs.append(call_student(backward, upstream, cache, forbidden=FORBIDDEN,
                                 label=case.label,
                                 project=tuple_of(len(names), f"({', '.join(names)})")))
    return runs


@kernel_side
def run_rnn_step_backward(forward, backward, cases) -> list[StudentRun]:
    """Step (b)."""
    return _run_backward(forward, backward, cases, RNN_GRADS)


def expected_rnn_step_backward(case: Case):
    *inputs, dH = case.args
    if case.meta["numeric"]:
        return _numeric_vjp(_rnn_step_numpy, inputs, dH)
    return _vjp(_rnn_step_torch, inputs, dH)


@verdict(cases=rnn_step_backward_cases)
def check_rnn_step_backward(cases, runs, points: float) -> float:
    """Step (c): partial credit per gradient (each checked on every case)."""
    parts = _gradient_parts("rnn_step_backward", RNN_GRADS, cases, runs,
                            expected_rnn_step_backward)
    return partial_credit(points, parts, gate=reference_problem("rnn_step_backward", runs))


# --------------------------------------------------------------------------- rnn_backward


@kernel_side
def rnn_backward_cases() -> list[Case]:
    """Step (a)."""
    rng = np.random.default_rng(3002)

    def case(label, T, n, d, h, dtype=np.float64, zero_state=False, last_only=False,
             numeric=False):
        X = rng.normal(size=(T, n, d))
        H0 = np.zeros((n, h)) if zero_state else rng.normal(size=(n, h))
        params = (rng.normal(scale=0.6, size=(d, h)), rng.normal(scale=0.6, size=(h, h)),
                  rng.normal(scale=0.5, size=h))
        dH = rng.normal(size=(T, n, h))
        if last_only:
            dH[:-1] = 0.0
        arrays = tuple(a.astype(dtype) for a in (X, H0, *params, dH))
        return Case(label, arrays, meta={"dtype": dtype, "numeric": numeric})

    return [
        case("T=5, n=3, d=4, h=6, non-zero H0", 5, 3, 4, 6),
        case("one step (T=1)", 1, 2, 3, 4),
        case("one example (n=1), T=7", 7, 1, 2, 3),
        case("gradient only at the last step flows back through time", 6, 2, 3, 3,
             last_only=True),
        case("numerical gradient check, T=3", 3, 2, 2, 3, numeric=True),
        case("zero H0, d > h", 4, 3, 5, 2, zero_state=True),
        case("float32 inputs give float32 gradients", 4, 2, 3, 3, dtype=np.float32),
    ]


@kernel_side
def run_rnn_backward(forward, backward, cases) -> list[StudentRun]:
    """Step (b)."""
    return _run_backward(forward, backward, cases, RNN_SEQ_GRADS)


def expected_rnn_backward(case: Case):
    *inputs, dH = case.args
    if case.meta["numeric"]:
        return _numeric_vjp(_rnn_seq_numpy, inputs, dH)
    return _vjp(_rnn_seq_torch, inputs, dH)


@verdict(cases=rnn_backward_cases)
def check_rnn_backward(cases, runs, points: float) -> float:
    """Step (c): partial credit per gradient."""
    parts = _gradient_parts("rnn_backward", RNN_SEQ_GRADS, cases, runs, expected_rnn_backward)
    return partial_credit(points, parts, gate=reference_problem("rnn_backward", runs))


# --------------------------------------------------------------------------- output_backward


@kernel_side
def output_backward_cases() -> list[Case]:
    """Step (a): H, W_hq, b_q and the upstream gradient dO."""
    rng = np.random.default_rng(3003)

    def case(label, lead, h, q, dtype=np.float64):
        H = rng.uniform(-1, 1, size=(*lead, h))
        W_hq, b_q = rng.normal(size=(h, q)), rng.normal(size=q)
        dO = rng.normal(size=(*lead, q))
        return Case(label, tuple(a.astype(dtype) for a in (H, W_hq, b_q, dO)),
                    meta={"dtype": dtype, "numeric": False})

    return [
        case("a sequence (T=4, n=3), h=5, q=6", (4, 3), 5, 6),
        case("one step (n, h) = (3, 4), q=2", (3,), 4, 2),
        case("T=1, n=1", (1, 1), 3, 7),
        case("float32 inputs give float32 gradients", (2, 5), 3, 4, np.float32),
    ]


@kernel_side
def run_output_backward(forward, backward, cases) -> list[StudentRun]:
    """Step (b)."""
    return _run_backward(forward, backward, cases, OUTPUT_GRADS)


def expected_output_backward(case: Case):
    *inputs, dO = case.args
    return _vjp(lambda H, W, b: H @ W + b, inputs, dO)


@verdict(cases=output_backward_cases)
def check_output_backward(cases, runs, points: float) -> float:
    """Step (c): partial credit per gradient."""
    parts = _gradient_parts("output_backward", OUTPUT_GRADS, cases, runs,
                            expected_output_backward)
    return partial_credit(points, parts, gate=reference_problem("output_backward", runs))


# --------------------------------------------------------------------------- softmax_cross_entropy


@kernel_side
def softmax_cross_entropy_cases() -> list[Case]:
    """Step (a): logits O and integer targets Y."""
    rng = np.random.default_rng(3004)

    def case(label, lead, q, scale=2.0, numeric=False):
        return Case(label, (rng.normal(scale=scale, size=(*lead, q)), rng.integers(q, size=lead)),
                    meta={"numeric": numeric})

    return [
        case("T=5, n=4, q=6", (5, 4), 6),
        case("one step, 2-D logits (n, q) = (7, 3)", (7,), 3),
        case("T=1, n=1", (1, 1), 5),
        case("large logits (stable softmax needed)", (3, 4), 8, scale=500.0),
        case("your dO against a numerical gradient of your loss", (3, 2), 4, numeric=True),
    ]


@kernel_side
def run_softmax_cross_entropy(function, cases) -> list[StudentRun]:
    """Step (b): for the numerical case, also the student's loss at perturbed logits."""
    runs = []
    for case in cases:
        def call(case=case):
            value = tuple_of(2, "(loss, dO)")(function(*case.args))
            if not case.meta["numeric"]:
                return value, None
            O, Y = (np.array(a) for a in case.args)
            numeric = numerical_gradient(lambda O_: function(O_, Y)[0], O)
            return value, numeric
        runs.append(call_student(call, forbidden=FORBIDDEN, label=case.label))
    return runs


def expected_softmax_cross_entropy(case: Case):
    O, Y = case.args
    q = O.shape[-1]
    (logits,) = _torch_leaves(O)
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, q),
                                             torch.from_numpy(Y.reshape(-1)))
    loss.backward()
    return float(loss), logits.grad.numpy()


@verdict(cases=softmax_cross_entropy_cases)
def check_softmax_cross_entropy(cases, runs, points: float) -> float:
    """Step (c): partial credit per case; the loss and dO must both be right."""
    parts = {}
    for case, run in zip(cases, runs, strict=True):
        if (problem := error_problem("softmax_cross_entropy", run)) is not None:
            parts[case.label] = [problem]
            continue
        (loss, dO), numeric = run.value
        want_loss, want_dO = expected_softmax_cross_entropy(case)
        problems = [scalar_problem(f"softmax_cross_entropy [{case.label}] loss", loss, want_loss,
                                   rtol=1e-8),
                    array_problem(f"softmax_cross_entropy [{case.label}] dO", dO, want_dO)]
        if numeric is not None:
            problems.append(array_problem(
                f"softmax_cross_entropy [{case.label}] dO vs the numerical gradient of your loss",
                dO, numeric, rtol=1e-5, atol=1e-8))
        parts[case.label] = problems
    return partial_credit(points, parts, gate=reference_problem("softmax_cross_entropy", runs))


# --------------------------------------------------------------------------- clip_gradients


@kernel_side
def clip_gradients_cases() -> list[Case]:
    """Step (a): gradient containers and thresholds."""
    rng = np.random.default_rng(3005)

    def grads(scale):
        return {"W": rng.normal(scale=scale, size=(3, 4)), "b": rng.normal(scale=scale, size=4),
                "V": rng.normal(scale=scale, size=(4, 2))}

    big, small = grads(3.0), grads(0.05)
    return [
        Case("dict, global norm above max_norm", (big, 1.0)),
        Case("dict, global norm below max_norm (unchanged)", (small, 5.0)),
        Case("list of arrays, above max_norm", (list(grads(2.0).values()), 0.5)),
        Case("one array in a list", ([rng.normal(size=(5, 5))], 2.0)),
        Case("all-zero gradients", ({"W": np.zeros((2, 2)), "b": np.zeros(2)}, 1.0)),
        Case("global norm below 1 but above max_norm", (grads(0.1), 0.1)),
    ]


def _clip_result(value):
    """Projection: (clipped, total_norm) with the kind of container recorded as text."""
    clipped, total = tuple_of(2, "(clipped, total_norm)")(value)
    return {"kind": type(clipped).__name__, "clipped": clipped, "total_norm": total}


@kernel_side
def run_clip_gradients(function, cases) -> list[StudentRun]:
    """Step (b): the result, and whether the gradients handed over were left untouched."""
    runs = []
    for case in cases:
        def call(case=case):
            grads, max_norm = case.args
            given = ({k: np.array(v) for k, v in grads.items()} if isinstance(grads, dict)
                     else [np.array(v) for v in grads])
            arrays = list(given.values()) if isinstance(given, dict) else list(given)
            before = [a.copy() for a in arrays]
            value = _clip_result(function(given, max_norm))
            same_keys = not isinstance(given, dict) or sorted(given) == sorted(grads)
            value["input_unchanged"] = bool(same_keys and len(arrays) == len(before) and all(
                np.array_equal(a, b) for a, b in zip(arrays, before, strict=True)))
            return value
        runs.append(call_student(call, forbidden=FORBIDDEN, label=case.label))
    return runs


def expected_clip(case: Case):
    grads, max_norm = case.args
    arrays = list(grads.values()) if isinstance(grads, dict) else list(grads)
    tensors = [torch.zeros(np.shape(g), dtype=torch.float64, requires_grad=True) for g in arrays]
    for tensor, g in zip(tensors, arrays, strict=True):
        tensor.grad = torch.from_numpy(np.array(g, np.float64))
    total = float(torch.nn.utils.clip_grad_norm_(tensors, max_norm))
    scale = min(1.0, max_norm / total) if total > 0 else 1.0
    clipped = [g * scale for g in arrays]
    if isinstance(grads, dict):
        clipped = dict(zip(grads.keys(), clipped, strict=True))
    return clipped, total


@verdict(cases=clip_gradients_cases)
def check_clip_gradients(cases, runs, points: float) -> float:
    """Step (c): partial credit per case."""
    parts = {}
    for case, run in zip(cases, runs, strict=True):
        label = f"clip_gradients [{case.label}]"
        if (problem := error_problem("clip_gradients", run)) is not None:
            parts[case.label] = [problem]
            continue
        kind, clipped, total = (run.value[k] for k in ("kind", "clipped", "total_norm"))
        want_clipped, want_total = expected_clip(case)
        problems = [scalar_problem(f"{label} total_norm", total, want_total, rtol=1e-9)]
        if run.value.get("input_unchanged") is not True:
            problems.append(f"{label}: the gradients it was given were changed (return new, "
                            f"scaled arrays and leave the input untouched)")
        if kind != type(want_clipped).__name__:
            problems.append(f"{label}: expected a {type(want_clipped).__name__} like the input, "
                            f"got {kind}")
        elif isinstance(want_clipped, dict):
            if set(clipped) != set(want_clipped):
                problems.append(f"{label}: expected the keys {sorted(want_clipped)}")
            else:
                problems += [array_problem(f"{label} {k}", clipped[k], want_clipped[k])
                             for k in want_clipped]
        elif not isinstance(clipped, list | tuple) or len(clipped) != len(want_clipped):
            problems.append(f"{label}: expected {len(want_clipped)} arrays")
        else:
            problems += [array_problem(f"{label} [{i}]", got, want)
                         for i, (got, want) in enumerate(zip(clipped, want_clipped, strict=True))]
        parts[case.label] = problems
    return partial_credit(points, parts, gate=reference_problem("clip_gradients", runs))


# --------------------------------------------------------------------------- tbptt_step

PARAM_NAMES = ("W_xh", "W_hh", "b_h", "W_hq", "b_q")


@kernel_side
def tbptt_step_cases() -> list[Case]:
    """Step (a): parameters, a one-hot window, targets, a carried state, lr, max_norm."""
    rng = np.random.default_rng(3006)

    def case(label, T, n, V, h, max_norm, lr=0.1):
        params = {"W_xh": rng.normal(scale=0.5, size=(V, h)),
                  "W_hh": rng.normal(scale=0.5, size=(h, h)),
                  "b_h": rng.normal(scale=0.1, size=h),
                  "W_hq": rng.normal(scale=0.5, size=(h, V)),
                  "b_q": rng.normal(scale=0.1, size=V)}
        tokens = rng.integers(V, size=(T + 1, n))
        X = np.eye(V)[tokens[:-1]]
        Y = tokens[1:]
        H0 = np.tanh(rng.normal(size=(n, h)))
        return Case(label, (params, X, Y, H0, lr, max_norm))

    return [
        case("T=4, n=3, clipping inactive", 4, 3, 5, 4, max_norm=1e6),
        case("T=4, n=3, clipping active", 4, 3, 5, 4, max_norm=0.05),
        case("a one-step window (T=1)", 1, 2, 4, 3, max_norm=1e6, lr=0.5),
        case("n=1, T=6, clipping active", 6, 1, 6, 5, max_norm=0.1, lr=0.2),
    ]


@kernel_side
def run_tbptt_step(function, cases) -> list[StudentRun]:
    """Step (b): the student's step updates a copy of the parameters in place."""
    runs = []
    for case in cases:
        def call(case=case):
            params = {k: v.copy() for k, v in case.args[0].items()}
            returned = tuple_of(3, "(loss, H_last, grad_norm)")(function(params, *case.args[1:]))
            return {"returned": returned, "params": params}
        runs.append(call_student(call, forbidden=FORBIDDEN, label=case.label))
    return runs


def expected_tbptt_step(case: Case):
    params, X, Y, H0, lr, max_norm = case.args
    leaves = dict(zip(PARAM_NAMES, _torch_leaves(*(params[k] for k in PARAM_NAMES)), strict=True))
    H = _rnn_seq_torch(torch.from_numpy(X), torch.from_numpy(H0), leaves["W_xh"],
                       leaves["W_hh"], leaves["b_h"])
    O = H @ leaves["W_hq"] + leaves["b_q"]
    loss = torch.nn.functional.cross_entropy(O.reshape(-1, O.shape[-1]),
                                             torch.from_numpy(Y.reshape(-1)))
    loss.backward()
    grads = [leaves[k].grad for k in PARAM_NAMES]
    norm = float(torch.sqrt(sum((g * g).sum() for g in grads)))
    scale = min(1.0, max_norm / norm)
    updated = {k: params[k] - lr * scale * leaves[k].grad.numpy() for k in PARAM_NAMES}
    return float(loss), H[-1].detach().numpy(), norm, updated


@verdict(cases=tbptt_step_cases)
def check_tbptt_step(cases, runs, points: float) -> float:
    """Step (c): partial credit per case (loss, carried state, norm, updated parameters)."""
    parts = {}
    for case, run in zip(cases, runs, strict=True):
        label = f"tbptt_step [{case.label}]"
        if (problem := error_problem("tbptt_step", run)) is not None:
            parts[case.label] = [problem]
            continue
        (loss, H_last, norm), params = run.value["returned"], run.value["params"]
        want_loss, want_H, want_norm, want_params = expected_tbptt_step(case)
        problems = [scalar_problem(f"{label} loss", loss, want_loss, rtol=1e-8),
                    array_problem(f"{label} H_last", H_last, want_H),
                    scalar_problem(f"{label} grad_norm", norm, want_norm, rtol=1e-7)]
        problems += [array_problem(f"{label} updated {k}", params.get(k), want_params[k])
                     for k in PARAM_NAMES]
        parts[case.label] = problems
    return partial_credit(points, parts, gate=reference_problem("tbptt_step", runs))


