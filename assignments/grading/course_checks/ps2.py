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


@kernel_side
def run_rnn_step_forward(function, cases) -> list[StudentRun]:
    """Step (b): the student's H (the cache is not graded)."""
    return _run(function, cases, "(H, cache)")


@kernel_side
def run_rnn_forward(function, cases) -> list[StudentRun]:
    """Step (b)."""
    return _run(function, cases, "(H, cache)")


@kernel_side
def run_output_forward(function, cases) -> list[StudentRun]:
    """Step (b)."""
    return _run(function, cases, "(O, cache)")


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


@verdict(cases=rnn_step_forward_cases)
def check_rnn_step_forward(cases, runs, points: float) -> float:
    """Step (c): partial credit per case."""
    return _score("rnn_step_forward", points, cases, runs, expected_rnn_step,
                  _array_result_problem("rnn_step_forward"))


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


@verdict(cases=rnn_forward_cases)
def check_rnn_forward(cases, runs, points: float) -> float:
    """Step (c)."""
    return _score("rnn_forward", points, cases, runs, expected_rnn_forward,
                  _array_result_problem("rnn_forward"))


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


@verdict(cases=output_forward_cases)
def check_output_forward(cases, runs, points: float) -> float:
    """Step (c)."""
    return _score("output_forward", points, cases, runs, expected_output,
                  _array_result_problem("output_forward"))


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
