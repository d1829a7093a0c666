"""Hidden-test helpers for problem set 2: the RNN forward pass, output layer, loss, perplexity.

Oracles: ``torch.nn.RNNCell``, ``torch.nn.RNN``, ``torch.nn.functional.linear``
and ``torch.nn.functional.cross_entropy`` in float64. Forbidden: the
corresponding functions of ``rnn_lib``.
"""

from __future__ import annotations

import math

import numpy as np
import torch

import rnn_lib.output as ref_output
import rnn_lib.rnn as ref_rnn
from course_checks.caches import (
    CacheStructure,
    arrays,
    cache_problem,
    outputs_and_cache,
    weighted_credit,
)
from course_checks.common import (
    Case,
    StudentRun,
    array_problem,
    error_problem,
    forbidden_codes,
    leading_outputs,
    partial_credit,
    reference_problem,
    run_cases,
    scalar_problem,
)
from grader.declare import kernel_side, verdict

FORBIDDEN = forbidden_codes(
    ref_rnn.rnn_step_forward, ref_rnn.rnn_forward, ref_rnn.rnn_step_backward,
    ref_rnn.rnn_backward, ref_output.output_forward, ref_output.softmax_cross_entropy,
    ref_output.log_softmax, ref_output.softmax, ref_output.perplexity,
)


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _params(rng, d, h, dtype=np.float64, scale=0.5):
    W_xh = rng.normal(scale=scale, size=(d, h)).astype(dtype)
    W_hh = rng.normal(scale=scale, size=(h, h)).astype(dtype)
    b_h = rng.normal(scale=scale, size=h).astype(dtype)
    return W_xh, W_hh, b_h


def _tolerance(dtype) -> dict:
    return {"rtol": 1e-4, "atol": 1e-5} if dtype == np.float32 else {"rtol": 1e-7, "atol": 1e-10}


def _score(name: str, points: float, cases, runs, expected_of, problem_of) -> float:
    """Partial credit: one equal share per case; nothing if the reference was called."""
    parts = {}
    for case, run in zip(cases, runs, strict=True):
        parts[case.label] = [problem_of(case, run, expected_of(case))]
    return partial_credit(points, parts, gate=reference_problem(name, runs))


def _array_result_problem(name):
    def problem_of(case, run, expected):
        if (problem := error_problem(name, run)) is not None:
            return problem
        dtype = case.args[0].dtype
        return array_problem(f"{name} [{case.label}]", run.value, expected, dtype=dtype,
                             **_tolerance(dtype))
    return problem_of


def _run(function, cases, names: str) -> list[StudentRun]:
    return run_cases(function, cases, FORBIDDEN, project=leading_outputs(1, names))


def _run_with_cache(function, cases, names: str) -> list[StudentRun]:
    return run_cases(function, cases, FORBIDDEN, project=outputs_and_cache(1, names))


@kernel_side
def run_rnn_step_forward(function, cases) -> list[StudentRun]:
    """Step (b): the student's H and cache (plain data)."""
    return _run_with_cache(function, cases, "(H, cache)")


@kernel_side
def run_rnn_forward(function, cases) -> list[StudentRun]:
    """Step (b): the student's H and list of step caches."""
    return _run_with_cache(function, cases, "(H, cache)")


@kernel_side
def run_output_forward(function, cases) -> list[StudentRun]:
    """Step (b): the student's O and cache."""
    return _run_with_cache(function, cases, "(O, cache)")


# --------------------------------------------------------------------------- caches (trusted)
# The structures the notebook documents, read by correct backwards written here.

STEP_CACHE = "(X, H_prev, W_xh, W_hh, H)"
SEQ_CACHE = "the list of the T step caches"
OUTPUT_CACHE = "(H, W_hq)"
STEP_GRADS = ("dX", "dH_prev", "dW_xh", "dW_hh", "db_h")
SEQ_GRADS = ("dX", "dH0", "dW_xh", "dW_hh", "db_h")
OUTPUT_GRADS = ("dH", "dW_hq", "db_q")


def _step_backward(dH, cache, n, d, h, what="the cache"):
    names = ("X", "H_prev", "W_xh", "W_hh", "H")
    if not isinstance(cache, tuple | list) or len(cache) != 5:
        got = (f"a {type(cache).__name__} of {len(cache)} items"
               if isinstance(cache, tuple | list) else
               (cache if isinstance(cache, str) else f"a {type(cache).__name__}"))
        raise CacheStructure(f"{what} should be {STEP_CACHE}, got {got}")
    X, H_prev, W_xh, W_hh, H = arrays(cache, names, [(n, d), (n, h), (d, h), (h, h), (n, h)],
                                      what)
    dA = dH * (1.0 - H * H)
    return dA @ W_xh.T, dA @ W_hh.T, X.T @ dA, H_prev.T @ dA, dA.sum(axis=0)


def _seq_backward(dH, cache, T, n, d, h):
    if not isinstance(cache, tuple | list) or len(cache) != T:
        got = (f"a {type(cache).__name__} of {len(cache)} items"
               if isinstance(cache, tuple | list) else
               (cache if isinstance(cache, str) else f"a {type(cache).__name__}"))
        raise CacheStructure(f"the cache should be a list of T = {T} step caches, got {got}")
    dX = np.zeros((T, n, d))
    dW_xh, dW_hh, db_h = np.zeros((d, h)), np.zeros((h, h)), np.zeros(h)
    carry = np.zeros((n, h))
    for t in range(T - 1, -1, -1):
        dX[t], carry, gx, gh, gb = _step_backward(dH[t] + carry, cache[t], n, d, h,
                                                   what=f"step cache {t}")
        dW_xh += gx
        dW_hh += gh
        db_h += gb
    return dX, carry, dW_xh, dW_hh, db_h


def _output_backward(dO, cache, lead, h, q):
    if not isinstance(cache, tuple | list) or len(cache) != 2:
        got = (f"a {type(cache).__name__} of {len(cache)} items"
               if isinstance(cache, tuple | list) else
               (cache if isinstance(cache, str) else f"a {type(cache).__name__}"))
        raise CacheStructure(f"the cache should be {OUTPUT_CACHE}, got {got}")
    H, W_hq = arrays(cache, ("H", "W_hq"), [(*lead, h), (h, q)])
    return dO @ W_hq.T, H.reshape(-1, h).T @ dO.reshape(-1, q), dO.reshape(-1, q).sum(axis=0)


def _autograd(forward, inputs, upstream):
    leaves = [torch.tensor(np.asarray(a, np.float64), requires_grad=True) for a in inputs]
    # sum(out * upstream), not out.backward(upstream): that form imports sympy (~1 s)
    (forward(*leaves) * torch.from_numpy(np.asarray(upstream, np.float64))).sum().backward()
    return [leaf.grad.numpy() for leaf in leaves]


def _torch_step(X, H_prev, W_xh, W_hh, b_h):
    return torch.tanh(X @ W_xh + H_prev @ W_hh + b_h)


def _torch_seq(X, H0, W_xh, W_hh, b_h):
    H, states = H0, []
    for t in range(X.shape[0]):
        H = _torch_step(X[t], H, W_xh, W_hh, b_h)
        states.append(H)
    return torch.stack(states)


def _cache_parts(name, cases, runs, output_problem, judge) -> dict[str, list]:
    """One part per case: the cache fed to a correct backward, judged against autograd."""
    parts = {}
    for case, run in zip(cases, runs, strict=True):
        part = f"{name} cache [{case.label}]"
        if (problem := error_problem(name, run)) is not None:
            parts[part] = [problem]
        elif output_problem(case, run) is not None:
            parts[part] = [f"{name} [{case.label}]: the cache is not judged while the "
                           f"output is wrong"]
        else:
            parts[part] = [judge(case, run.value["cache"])]
    return parts


def _score_with_cache(name, points, cases, runs, expected_of, problem_of, judge) -> float:
    """Two thirds for the outputs (one share per case), one third for the caches."""
    def output_problem(case, run):
        return problem_of(case, _outputs_only(run), expected_of(case))

    outputs = {case.label: [output_problem(case, run)]
               for case, run in zip(cases, runs, strict=True)}
    caches = _cache_parts(name, cases, runs, output_problem, judge)
    return weighted_credit(points, [(2.0, outputs), (1.0, caches)],
                           gate=reference_problem(name, runs))


def _outputs_only(run: StudentRun) -> StudentRun:
    if run.error is not None or not isinstance(run.value, dict):
        return run
    return StudentRun(run.label, run.value["outputs"], run.error, run.reference_calls)


def _cache_tolerance(case) -> dict:
    """Caches of float32 runs hold float32 values: float32 tolerances."""
    return ({"rtol": 1e-4, "atol": 1e-5} if case.args[0].dtype == np.float32
            else {"rtol": 1e-6, "atol": 1e-9})


def _upstream(seed: int, case: Case, shape) -> np.ndarray:
    """A seeded upstream gradient for one case (trusted side only)."""
    return _rng(seed + sum(map(ord, case.label))).normal(size=shape)


@kernel_side
def run_softmax_cross_entropy(function, cases) -> list[StudentRun]:
    """Step (b): the loss only (the gradient is problem set 3's)."""
    return _run(function, cases, "(loss, dO)")


@kernel_side
def run_perplexity(function, cases) -> list[StudentRun]:
    """Step (b)."""
    return run_cases(function, cases, FORBIDDEN)


# --------------------------------------------------------------------------- rnn_step_forward


@kernel_side
def rnn_step_forward_cases() -> list[Case]:
    """Step (a)."""
    rng = _rng(2001)

    def case(label, n, d, h, dtype=np.float64, zero_state=False, scale=0.5):
        X = rng.normal(size=(n, d)).astype(dtype)
        H_prev = np.zeros((n, h), dtype) if zero_state else rng.normal(size=(n, h)).astype(dtype)
        return Case(label, (X, H_prev, *_params(rng, d, h, dtype, scale)))

    return [
        case("n=4, d=3, h=5, non-zero H_prev", 4, 3, 5),
        case("one example (n=1), d=6, h=2", 1, 6, 2),
        case("zero H_prev", 3, 2, 4, zero_state=True),
        case("float32 inputs give float32 outputs", 5, 3, 4, dtype=np.float32),
        case("saturated tanh (large weights)", 3, 4, 3, scale=20.0),
    ]


def expected_rnn_step(case: Case) -> np.ndarray:
    X, H_prev, W_xh, W_hh, b_h = (np.asarray(a, np.float64) for a in case.args)
    cell = torch.nn.RNNCell(W_xh.shape[0], W_xh.shape[1], nonlinearity="tanh",
                            dtype=torch.float64)
    with torch.no_grad():
        cell.weight_ih.copy_(torch.from_numpy(W_xh.T))
        cell.weight_hh.copy_(torch.from_numpy(W_hh.T))
        cell.bias_ih.copy_(torch.from_numpy(b_h))
        cell.bias_hh.zero_()
        return cell(torch.from_numpy(X), torch.from_numpy(H_prev)).numpy()


def judge_rnn_step_cache(case: Case, cache) -> str | None:
    """The student's step cache through a correct rnn_step_backward, against autograd."""
    X, H_prev, W_xh, W_hh, b_h = case.args
    (n, d), h = X.shape, W_xh.shape[1]
    dH = _upstream(2101, case, (n, h))
    expected = _autograd(_torch_step, case.args, dH)
    return cache_problem("rnn_step_forward", case.label, cache,
                         lambda g, c: _step_backward(g, c, n, d, h), [dH], expected,
                         STEP_GRADS, STEP_CACHE, **_cache_tolerance(case))


@verdict(cases=rnn_step_forward_cases)
def check_rnn_step_forward(cases, runs, points: float) -> float:
    """Step (c): partial credit per case for H (2/3) and for the cache (1/3)."""
    return _score_with_cache("rnn_step_forward", points, cases, runs, expected_rnn_step,
                             _array_result_problem("rnn_step_forward"), judge_rnn_step_cache)


# --------------------------------------------------------------------------- rnn_forward


@kernel_side
def rnn_forward_cases() -> list[Case]:
    """Step (a)."""
    rng = _rng(2002)

    def case(label, T, n, d, h, dtype=np.float64, zero_state=False):
        X = rng.normal(size=(T, n, d)).astype(dtype)
        H0 = np.zeros((n, h), dtype) if zero_state else rng.normal(size=(n, h)).astype(dtype)
        return Case(label, (X, H0, *_params(rng, d, h, dtype)))

    return [
        case("T=6, n=4, d=3, h=5, non-zero H0", 6, 4, 3, 5),
        case("one step (T=1)", 1, 3, 2, 4),
        case("one example (n=1), T=7", 7, 1, 3, 3),
        case("zero H0, d > h", 5, 2, 6, 2, zero_state=True),
        case("float32 inputs give float32 outputs", 4, 3, 2, 3, dtype=np.float32),
    ]


def expected_rnn_forward(case: Case) -> np.ndarray:
    X, H0, W_xh, W_hh, b_h = (np.asarray(a, np.float64) for a in case.args)
    rnn = torch.nn.RNN(W_xh.shape[0], W_xh.shape[1], nonlinearity="tanh", dtype=torch.float64)
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(torch.from_numpy(W_xh.T))
        rnn.weight_hh_l0.copy_(torch.from_numpy(W_hh.T))
        rnn.bias_ih_l0.copy_(torch.from_numpy(b_h))
        rnn.bias_hh_l0.zero_()
        H, _ = rnn(torch.from_numpy(X), torch.from_numpy(H0)[None])
        return H.numpy()


def judge_rnn_cache(case: Case, cache) -> str | None:
    """The student's list of step caches through a correct BPTT, against autograd."""
    X, H0, W_xh, W_hh, b_h = case.args
    (T, n, d), h = X.shape, W_xh.shape[1]
    dH = _upstream(2102, case, (T, n, h))
    expected = _autograd(_torch_seq, case.args, dH)
    return cache_problem("rnn_forward", case.label, cache,
                         lambda g, c: _seq_backward(g, c, T, n, d, h), [dH], expected,
                         SEQ_GRADS, SEQ_CACHE, **_cache_tolerance(case))


@verdict(cases=rnn_forward_cases)
def check_rnn_forward(cases, runs, points: float) -> float:
    """Step (c): partial credit per case for H (2/3) and for the cache (1/3)."""
    return _score_with_cache("rnn_forward", points, cases, runs, expected_rnn_forward,
                             _array_result_problem("rnn_forward"), judge_rnn_cache)


# --------------------------------------------------------------------------- output_forward


@kernel_side
def output_forward_cases() -> list[Case]:
    """Step (a)."""
    rng = _rng(2003)

    def case(label, lead, h, q, dtype=np.float64):
        H = rng.uniform(-1, 1, size=(*lead, h)).astype(dtype)
        W_hq = rng.normal(size=(h, q)).astype(dtype)
        b_q = rng.normal(size=q).astype(dtype)
        return Case(label, (H, W_hq, b_q))

    return [
        case("a sequence (T=4, n=3), h=5, q=6", (4, 3), 5, 6),
        case("one step (n, h) = (3, 4), q=2", (3,), 4, 2),
        case("T=1, n=1", (1, 1), 3, 7),
        case("float32 inputs give float32 outputs", (2, 5), 3, 4, np.float32),
    ]


def expected_output(case: Case) -> np.ndarray:
    H, W_hq, b_q = (torch.from_numpy(np.asarray(a, np.float64)) for a in case.args)
    return torch.nn.functional.linear(H, W_hq.T, b_q).numpy()


def judge_output_cache(case: Case, cache) -> str | None:
    """The student's output cache through a correct output_backward, against autograd."""
    H, W_hq, b_q = case.args
    lead, (h, q) = H.shape[:-1], W_hq.shape
    dO = _upstream(2103, case, (*lead, q))
    expected = _autograd(lambda H_, W, b: H_ @ W + b, case.args, dO)
    return cache_problem("output_forward", case.label, cache,
                         lambda g, c: _output_backward(g, c, lead, h, q), [dO], expected,
                         OUTPUT_GRADS, OUTPUT_CACHE, **_cache_tolerance(case))


@verdict(cases=output_forward_cases)
def check_output_forward(cases, runs, points: float) -> float:
    """Step (c): partial credit per case for O (2/3) and for the cache (1/3)."""
    return _score_with_cache("output_forward", points, cases, runs, expected_output,
                             _array_result_problem("output_forward"), judge_output_cache)


# --------------------------------------------------------------------------- softmax_cross_entropy


@kernel_side
def softmax_cross_entropy_cases() -> list[Case]:
    """Step (a): logits and integer targets."""
    rng = _rng(2004)

    def case(label, lead, q, scale=2.0):
        O = rng.normal(scale=scale, size=(*lead, q))
        Y = rng.integers(q, size=lead)
        return Case(label, (O, Y))

    return [
        case("T=5, n=4, q=6", (5, 4), 6),
        case("one step, 2-D logits (n, q) = (7, 3)", (7,), 3),
        case("T=1, n=1", (1, 1), 5),
        case("large logits (stable softmax needed)", (3, 4), 8, scale=800.0),
        case("two classes, T=9, n=2", (9, 2), 2),
    ]


def expected_loss(case: Case) -> float:
    O, Y = case.args
    q = O.shape[-1]
    logits = torch.from_numpy(np.asarray(O, np.float64).reshape(-1, q))
    return float(torch.nn.functional.cross_entropy(logits, torch.from_numpy(Y.reshape(-1))))


def _loss_problem(name):
    def problem_of(case, run, expected):
        if (problem := error_problem(name, run)) is not None:
            return problem
        return scalar_problem(f"{name} [{case.label}] loss", run.value, expected, rtol=1e-8)
    return problem_of


@verdict(cases=softmax_cross_entropy_cases)
def check_softmax_cross_entropy_loss(cases, runs, points: float) -> float:
    """Step (c): the loss only (the gradient is problem set 3's)."""
    return _score("softmax_cross_entropy", points, cases, runs, expected_loss,
                  _loss_problem("softmax_cross_entropy"))


# --------------------------------------------------------------------------- perplexity


@kernel_side
def perplexity_cases() -> list[Case]:
    """Step (a): mean negative log-likelihoods."""
    return [
        Case("mean NLL 0 (a perfect model)", (0.0,)),
        Case("uniform model over 28 characters", (math.log(28),)),
        Case("mean NLL 1.7", (1.7,)),
        Case("a numpy float64 input", (np.float64(2.25),)),
    ]


@verdict(cases=perplexity_cases)
def check_perplexity(cases, runs, points: float) -> float:
    """Step (c)."""
    def problem_of(case, run, expected):
        if (problem := error_problem("perplexity", run)) is not None:
            return problem
        if not isinstance(run.value, float):
            return f"perplexity [{case.label}]: expected a Python float, got {type(run.value).__name__}"
        return scalar_problem(f"perplexity [{case.label}]", run.value, expected, rtol=1e-10)

    return _score("perplexity", points, cases, runs, lambda c: math.exp(float(c.args[0])),
                  problem_of)
