"""Hidden-test helpers for problem set 6: embeddings, a bidirectional RNN, decoding.

Oracles in float64: ``torch.nn.Embedding`` and its autograd, ``torch.nn.RNN(...,
bidirectional=True)`` and its autograd, one teacher-forced decoder step as
``torch.nn.GRUCell`` with ``cross_entropy(ignore_index=pad, reduction="sum")``, its
autograd and centred differences, :func:`rnn_lib.seq2seq.greedy_decode` and
:func:`rnn_lib.seq2seq.beam_search` on small GRU encoder-decoders (with and without
attention), and the same search written out below for the toy decoders whose
next-token distribution depends on the previous token only.
Forbidden: ``rnn_lib``'s embedding, recurrent layers and decoders.
"""

from __future__ import annotations

import numpy as np
import torch

import rnn_lib.bidirectional as ref_bidirectional
import rnn_lib.cells as ref_cells
import rnn_lib.deep as ref_deep
import rnn_lib.embedding as ref_embedding
import rnn_lib.rnn as ref_rnn
import rnn_lib.seq2seq as ref_seq2seq
from course_checks.caches import (
    CacheStructure,
    arrays,
    backward_on_cache,
    backward_through_cache,
    cache_problem,
    outputs_and_cache,
    raised_problem,
)
from course_checks.common import (
    Case,
    StudentRun,
    WrongReturn,
    array_problem,
    call_student,
    error_problem,
    forbidden_codes,
    partial_credit,
    reference_problem,
    run_cases,
    scalar_problem,
    tuple_of,
)
from course_checks.ps4 import _score_forward as score_forward  # the same scoring as ps4's
from course_checks.ps4 import _score_gradients as score_gradients
from grader.declare import kernel_side, verdict
from rnn_lib.attention import attention_forward
from rnn_lib.gradcheck import numerical_gradient
from rnn_lib.gru import GRUStepCache, gru_forward, gru_step_backward, gru_step_forward
from rnn_lib.output import log_softmax

FORBIDDEN = forbidden_codes(
    ref_embedding.embedding_forward, ref_embedding.embedding_backward,
    ref_bidirectional.bidirectional_forward, ref_bidirectional.bidirectional_backward,
    ref_cells.scan_cell, ref_cells.scan_cell_backward, ref_cells.layer_forward,
    ref_cells.layer_backward, ref_deep.deep_forward, ref_deep.deep_backward,
    ref_rnn.rnn_forward, ref_rnn.rnn_backward, ref_rnn.rnn_step_forward,
    ref_rnn.rnn_step_backward, ref_seq2seq.greedy_decode, ref_seq2seq.beam_search,
)
GRADIENTS = ("dX", "dH0", "dW_xh_f", "dW_hh_f", "db_f", "dW_xh_b", "dW_hh_b", "db_b")


def _tolerance(dtype) -> dict:
    return {"rtol": 1e-4, "atol": 1e-5} if dtype == np.float32 else {"rtol": 1e-6, "atol": 1e-9}


def _t(a, grad=False):
    return torch.tensor(np.asarray(a, np.float64), requires_grad=grad)


def _score_cases(name, points, cases, runs, expected_of, problem_of) -> float:
    parts = {case.label: problem_of(case, run, expected_of(case))
             for case, run in zip(cases, runs, strict=True)}
    return partial_credit(points, parts, gate=reference_problem(name, runs))


def _arrays_problem(name, outputs):
    """Compare the returned arrays (a cache already dropped by step (b)) with the oracle's."""
    def problem_of(case, run, expected):
        if (problem := error_problem(name, run)) is not None:
            return [problem]
        value = run.value["outputs"] if isinstance(run.value, dict) else run.value
        values = value if len(outputs) > 1 else (value,)
        dtype = case.meta.get("dtype", np.float64)
        return [array_problem(f"{name} [{case.label}] {label}", got, want, dtype=dtype,
                              **_tolerance(dtype))
                for label, got, want in zip(outputs, values, expected, strict=True)]
    return problem_of


# --------------------------------------------------------------------------- (b) running


@kernel_side
def run_embedding_forward(function, cases) -> list[StudentRun]:
    """Step (b): the student's X and cache (plain data)."""
    return run_cases(function, cases, FORBIDDEN, project=outputs_and_cache(1, "(X, cache)"))


@kernel_side
def run_embedding_backward(forward, backward, cases) -> list[StudentRun]:
    """Step (b): the student's dW_e, through the student's own forward cache."""
    return [_forward_then_backward(forward, backward, case, _single_array("dW_e"))
            for case in cases]


@kernel_side
def run_bidirectional_forward(function, cases) -> list[StudentRun]:
    """Step (b): the student's (H, H_n) and cache."""
    return run_cases(function, cases, FORBIDDEN,
                     project=outputs_and_cache(2, "(H, H_n, cache)"))


@kernel_side
def run_bidirectional_backward(forward, backward, cases) -> list[StudentRun]:
    """Step (b): the student's eight gradients, through the student's own forward cache."""
    project = tuple_of(len(GRADIENTS), "(" + ", ".join(GRADIENTS) + ")")
    return [_forward_then_backward(forward, backward, case, project) for case in cases]


@kernel_side
def run_teacher_forcing(function, cases) -> list[StudentRun]:
    """Step (b): the student's (dec_in, dec_target)."""
    return run_cases(function, cases, FORBIDDEN, project=tuple_of(2, "(dec_in, dec_target)"))


@kernel_side
def run_greedy_decode(function, cases) -> list[StudentRun]:
    """Step (b): the student's (tokens, score), tokens as a list of ints."""
    return run_cases(function, cases, FORBIDDEN, project=_decoded)


@kernel_side
def run_beam_search(function, cases) -> list[StudentRun]:
    """Step (b): the student's (tokens, score) and how many times it called ``step``."""
    runs = []
    for case in cases:
        calls = [0]

        def counted(token, state, step=case.args[0], calls=calls):
            calls[0] += 1
            return step(token, state)

        run = call_student(function, counted, *case.args[1:], forbidden=FORBIDDEN,
                           label=case.label, project=_decoded)
        if run.error is None:
            run.value = (*run.value, calls[0])
        runs.append(run)
    return runs


def _forward_then_backward(forward, backward, case, project) -> StudentRun:
    """The last argument of the case is the upstream gradient; the rest feed the forward."""
    inputs, upstream = case.args[:-1], case.args[-1]

    def both():
        cache = forward(*inputs)[-1]
        return backward_through_cache(cache, lambda cache: project(backward(upstream, cache)))

    return call_student(both, forbidden=FORBIDDEN, label=case.label)


def _single_array(name):
    def project(value):
        if isinstance(value, tuple) and len(value) == 1:
            value = value[0]
        if not isinstance(value, np.ndarray):
            raise WrongReturn(f"a {type(value).__name__}, expected the array {name}")
        return value
    return project


def _decoded(value):
    """``(tokens, score)`` as plain data: a list of Python ints and a float."""
    if not isinstance(value, tuple | list) or len(value) != 2:
        raise WrongReturn(f"a {type(value).__name__}, expected (tokens, score)")
    tokens, score = value
    if isinstance(tokens, np.ndarray):
        tokens = tokens.tolist()
    if not isinstance(tokens, list | tuple) or not all(
            isinstance(t, int | np.integer) and not isinstance(t, bool) for t in tokens):
        raise WrongReturn("tokens that are not a list of integers")
    if isinstance(score, np.ndarray) and score.size == 1:
        score = score.reshape(())[()]
    if isinstance(score, bool) or not isinstance(score, int | float | np.integer | np.floating):
        raise WrongReturn(f"a score of type {type(score).__name__}, expected a float")
    return [int(t) for t in tokens], float(score)


# --------------------------------------------------------------------------- embedding


@kernel_side
def embedding_forward_cases() -> list[Case]:
    """Step (a): ``(idx, W_e)``."""
    rng = np.random.default_rng(6001)

    def case(label, shape, V, e, dtype=np.float64):
        idx = rng.integers(0, V, size=shape)
        return Case(label, (idx, rng.normal(size=(V, e)).astype(dtype)),
                    meta={"dtype": dtype})

    return [
        case("(T, n) = (5, 3), V=7, e=4", (5, 3), 7, 4),
        case("one token, V=1", (1, 1), 1, 3),
        case("a 1-D index array", (6,), 5, 2),
        case("float32 table gives float32 rows", (3, 2), 6, 5, np.float32),
    ]


def expected_embedding_forward(case: Case):
    idx, W_e = case.args
    module = torch.nn.Embedding(*W_e.shape, dtype=torch.float64)
    with torch.no_grad():
        module.weight.copy_(_t(W_e))
        return (module(torch.from_numpy(np.asarray(idx, np.int64))).numpy(),)


@verdict(cases=embedding_forward_cases)
def check_embedding_forward(cases, runs, points: float) -> float:
    """Step (c): partial credit per case."""
    return score_forward("embedding_forward", points, cases, runs, expected_embedding_forward,
                         _arrays_problem("embedding_forward", ("X",)), _embedding_judge)


@kernel_side
def embedding_backward_cases() -> list[Case]:
    """Step (a): ``(idx, W_e, dX)``; several cases repeat indices."""
    rng = np.random.default_rng(6002)

    def case(label, idx, V, e):
        idx = np.asarray(idx, dtype=np.int64)
        return Case(label, (idx, rng.normal(size=(V, e)), rng.normal(size=idx.shape + (e,))))

    return [
        case("every index once", rng.permutation(6).reshape(3, 2), 6, 3),
        case("one index repeated in a batch", [[2, 2], [2, 0]], 4, 3),
        case("random (T, n) = (6, 4) with repeats", rng.integers(0, 5, size=(6, 4)), 5, 2),
        case("rows never looked up get zero", [[1], [1]], 8, 4),
    ]


def expected_embedding_backward(case: Case):
    idx, W_e, dX = case.args
    weight = _t(W_e, grad=True)
    (torch.nn.functional.embedding(torch.from_numpy(idx), weight) * _t(dX)).sum().backward()
    return (weight.grad.numpy(),)


@verdict(cases=embedding_backward_cases)
def check_embedding_backward(cases, runs, points: float) -> float:
    """Step (c): partial credit per case."""
    def expected_of(case):
        return expected_embedding_backward(case)

    def judge(case, cache):
        return _embedding_judge(case, cache)

    parts = {}
    for case, run in zip(cases, runs, strict=True):
        if (problem := error_problem("embedding_backward", run)) is not None:
            parts[case.label] = [problem]
            continue
        cache_wrong, on_cache = judge(case, run.value["cache"])
        if run.value["raised"] is not None:
            parts[case.label] = [raised_problem("embedding_backward", case.label,
                                                run.value["raised"], cache_wrong)]
            continue

        def problem_of(grad, got, want, case=case):
            return array_problem(f"embedding_backward [{case.label}] {grad}", got, want,
                                 dtype=np.float64, **_tolerance(np.float64))

        parts[case.label] = backward_on_cache((run.value["grads"],), expected_of(case),
                                              cache_wrong, on_cache, problem_of, ("dW_e",))
    return partial_credit(points, parts, gate=reference_problem("embedding_backward", runs))


# --------------------------------------------------------------------------- bidirectional RNN


def _bidirectional_inputs(rng, T, n, d, h, dtype=np.float64, zero_state=False, scale=0.5):
    """``(X, H0, W_xh_f, W_hh_f, b_f, W_xh_b, W_hh_b, b_b)``."""
    arrays = [rng.normal(size=(T, n, d)),
              np.zeros((2, n, h)) if zero_state else np.tanh(rng.normal(size=(2, n, h)))]
    for _ in range(2):
        arrays += [rng.normal(scale=scale, size=(d, h)), rng.normal(scale=scale, size=(h, h)),
                   rng.normal(scale=scale, size=h)]
    return tuple(np.asarray(a, dtype) for a in arrays)


def _torch_bidirectional(X, H0, W_xh_f, W_hh_f, b_f, W_xh_b, W_hh_b, b_b):
    """torch.nn.RNN(bidirectional=True) in float64 with the given weights; (module, H, H_n)."""
    d, h = W_xh_f.shape
    module = torch.nn.RNN(d, h, bidirectional=True, dtype=torch.float64)
    with torch.no_grad():
        for suffix, (W_xh, W_hh, b) in (("", (W_xh_f, W_hh_f, b_f)),
                                        ("_reverse", (W_xh_b, W_hh_b, b_b))):
            getattr(module, f"weight_ih_l0{suffix}").copy_(_t(W_xh).T)
            getattr(module, f"weight_hh_l0{suffix}").copy_(_t(W_hh).T)
            getattr(module, f"bias_ih_l0{suffix}").copy_(_t(b))
            getattr(module, f"bias_hh_l0{suffix}").zero_()
    return module


@kernel_side
def bidirectional_forward_cases() -> list[Case]:
    """Step (a)."""
    rng = np.random.default_rng(6003)

    def case(label, T, n, d, h, dtype=np.float64, **kw):
        return Case(label, _bidirectional_inputs(rng, T, n, d, h, dtype, **kw),
                    meta={"dtype": dtype})

    return [
        case("T=5, n=3, d=4, h=3", 5, 3, 4, 3),
        case("length 1 (T=1)", 1, 2, 3, 4),
        case("one example (n=1), T=6", 6, 1, 2, 3),
        case("zero initial states, large weights", 4, 2, 3, 2, zero_state=True, scale=2.0),
        case("float32 inputs give float32 outputs", 3, 2, 3, 3, np.float32),
    ]


def expected_bidirectional_forward(case: Case):
    X, H0, *params = case.args
    module = _torch_bidirectional(X, H0, *params)
    with torch.no_grad():
        H, H_n = module(_t(X), _t(H0))
    return H.numpy(), H_n.numpy()


@verdict(cases=bidirectional_forward_cases)
def check_bidirectional_forward(cases, runs, points: float) -> float:
    """Step (c): partial credit per case."""
    return score_forward("bidirectional_rnn_forward", points, cases, runs,
                         expected_bidirectional_forward,
                         _arrays_problem("bidirectional_rnn_forward", ("H", "H_n")),
                         _bidirectional_judge)


@kernel_side
def bidirectional_backward_cases() -> list[Case]:
    """Step (a): the forward inputs followed by the upstream gradient ``dH (T, n, 2h)``."""
    rng = np.random.default_rng(6004)

    def case(label, T, n, d, h, one_half=None, **kw):
        inputs = _bidirectional_inputs(rng, T, n, d, h, **kw)
        dH = rng.normal(size=(T, n, 2 * h))
        if one_half == "forward":
            dH[..., h:] = 0.0
        elif one_half == "backward":
            dH[..., :h] = 0.0
        return Case(label, (*inputs, dH))

    return [
        case("T=5, n=3, d=4, h=3", 5, 3, 4, 3),
        case("length 1 (T=1)", 1, 2, 3, 2),
        case("one example (n=1), T=6", 6, 1, 2, 3),
        case("gradient on the forward half only", 4, 2, 3, 2, one_half="forward"),
        case("gradient on the backward half only", 4, 2, 3, 2, one_half="backward"),
    ]


def expected_bidirectional_backward(case: Case):
    X, H0, *params, dH = case.args
    module = _torch_bidirectional(X, H0, *params)
    x, h0 = _t(X, True), _t(H0, True)
    H, _ = module(x, h0)
    (H * _t(dH)).sum().backward()  # not H.backward(dH): it imports sympy
    grads = [x.grad.numpy(), h0.grad.numpy()]
    for suffix in ("", "_reverse"):
        grads += [getattr(module, f"weight_ih_l0{suffix}").grad.T.numpy(),
                  getattr(module, f"weight_hh_l0{suffix}").grad.T.numpy(),
                  getattr(module, f"bias_ih_l0{suffix}").grad.numpy()]
    return grads


@verdict(cases=bidirectional_backward_cases)
def check_bidirectional_backward(cases, runs, points: float) -> float:
    """Step (c): partial credit per gradient (a gradient's share needs every case right)."""
    return score_gradients("bidirectional_rnn_backward", GRADIENTS, points, cases, runs,
                           expected_bidirectional_backward, _bidirectional_judge)


# --------------------------------------------------------------------------- teacher forcing


@kernel_side
def teacher_forcing_cases() -> list[Case]:
    """Step (a): ``(targets, bos, eos, pad)``."""
    return [
        Case("three targets of lengths 2, 0 and 3", ([[5, 6], [], [7, 7, 8]], 2, 3, 1)),
        Case("one target", ([[4, 9, 4]], 2, 3, 1)),
        Case("other special tokens", ([[0, 1], [1]], 5, 4, 6)),
    ]


def expected_teacher_forcing(case: Case):
    targets, bos, eos, pad = case.args
    T = max(len(t) for t in targets) + 1
    dec_in = np.full((T, len(targets)), pad, dtype=np.int64)
    dec_target = dec_in.copy()
    for i, target in enumerate(targets):
        dec_in[:len(target) + 1, i] = [bos, *target]
        dec_target[:len(target) + 1, i] = [*target, eos]
    return dec_in, dec_target


@verdict(cases=teacher_forcing_cases)
def check_teacher_forcing(cases, runs, points: float) -> float:
    """Step (c): partial credit per case; integer arrays, compared exactly."""
    def problem_of(case, run, expected):
        if (problem := error_problem("teacher_forcing", run)) is not None:
            return [problem]
        problems = []
        for label, got, want in zip(("dec_in", "dec_target"), run.value, expected, strict=True):
            what = f"teacher_forcing [{case.label}] {label}"
            if isinstance(got, np.ndarray) and not np.issubdtype(got.dtype, np.integer):
                problems.append(f"{what}: expected integer token indices, got dtype {got.dtype}")
            else:
                problems.append(array_problem(what, got, want, rtol=0.0, atol=0.0))
        return problems
    return _score_cases("teacher_forcing", points, cases, runs, expected_teacher_forcing,
                        problem_of)


# --------------------------------------------------------------------------- decoder step loss

DECODER_GRADIENTS = ("dS_prev", "dE_tgt", "dW_x", "dW_h", "db_x", "db_h", "dW_hq", "db_q")


@kernel_side
def run_decoder_step_forward(function, cases) -> list[StudentRun]:
    """Step (b): the student's (loss, S) and cache."""
    return run_cases(function, cases, FORBIDDEN,
                     project=outputs_and_cache(2, "(loss, S, cache)"))


@kernel_side
def run_decoder_step_backward(forward, backward, cases) -> list[StudentRun]:
    """Step (b): the student's eight gradients, through the student's own forward cache.

    The case's last two arguments are the upstream gradients ``dloss`` and ``dS``.
    """
    project = tuple_of(len(DECODER_GRADIENTS), "(" + ", ".join(DECODER_GRADIENTS) + ")")
    runs = []
    for case in cases:
        inputs, (dloss, dS) = case.args[:-2], case.args[-2:]

        def both(inputs=inputs, dloss=dloss, dS=dS):
            cache = forward(*inputs)[-1]
            return backward_through_cache(
                cache, lambda cache, dloss=dloss, dS=dS: project(backward(dloss, dS, cache)))

        runs.append(call_student(both, forbidden=FORBIDDEN, label=case.label))
    return runs


@kernel_side
def decoder_step_inputs(rng, n, V, e, h, *, y_in=None, y_target=None, pad=1, dtype=np.float64,
                        logit_scale=1.0) -> tuple:
    """``(y_in, y_target, S_prev, E_tgt, W_x, W_h, b_x, b_h, W_hq, b_q, pad)``."""
    y_in = rng.integers(0, V, size=n) if y_in is None else y_in
    y_target = rng.integers(0, V, size=n) if y_target is None else y_target
    arrays = [np.tanh(rng.normal(size=(n, h))), rng.normal(size=(V, e)),
              rng.normal(scale=0.5, size=(e, 3 * h)), rng.normal(scale=0.5, size=(h, 3 * h)),
              rng.normal(scale=0.5, size=3 * h), rng.normal(scale=0.5, size=3 * h),
              rng.normal(scale=logit_scale, size=(h, V)), rng.normal(size=V)]
    return (np.asarray(y_in, np.int64), np.asarray(y_target, np.int64),
            *(np.asarray(a, dtype) for a in arrays), pad)


@kernel_side
def decoder_step_forward_cases() -> list[Case]:
    """Step (a): the forward's arguments; pad = 1 unless the label says otherwise."""
    rng = np.random.default_rng(6005)

    def case(label, n, V, e, h, dtype=np.float64, **kw):
        return Case(label, decoder_step_inputs(rng, n, V, e, h, dtype=dtype, **kw),
                    meta={"dtype": dtype})

    return [
        case("n=4, V=7, e=3, h=5, one row already ended", 4, 7, 3, 5, y_in=[0, 4, 6, 1],
             y_target=[4, 6, 1, 1]),
        case("one example (n=1)", 1, 5, 2, 3, y_in=[3], y_target=[2]),
        case("every target is padding", 3, 6, 3, 4, y_in=[2, 5, 1], y_target=[1, 1, 1]),
        case("a target of length 1: <bos> in, <eos> out", 3, 5, 2, 4, y_in=[0, 0, 0],
             y_target=[2, 2, 2]),
        case("input and target differ in every row, pad = 0", 5, 6, 3, 3,
             y_in=[1, 2, 3, 4, 5], y_target=[2, 3, 4, 5, 0], pad=0),
        case("large logits (a numerically stable log-softmax)", 3, 6, 3, 4, y_in=[1, 2, 3],
             y_target=[4, 5, 0], logit_scale=400.0),
        case("float32 inputs give a float32 state", 3, 5, 3, 3, dtype=np.float32,
             y_in=[0, 3, 4], y_target=[3, 4, 1]),
    ]


def _decoder_step_oracle(args, upstream=None):
    """torch float64: ``(loss, S)``, or with ``upstream = (dloss, dS)`` the eight gradients."""
    y_in, y_target, S_prev, E_tgt, W_x, W_h, b_x, b_h, W_hq, b_q, pad = args
    cell = torch.nn.GRUCell(W_x.shape[0], W_h.shape[0], dtype=torch.float64)
    with torch.no_grad():
        cell.weight_ih.copy_(_t(W_x).T)
        cell.weight_hh.copy_(_t(W_h).T)
        cell.bias_ih.copy_(_t(b_x))
        cell.bias_hh.copy_(_t(b_h))
    s_prev, emb, w_hq, bias_q = (_t(a, True) for a in (S_prev, E_tgt, W_hq, b_q))
    S = cell(torch.nn.functional.embedding(torch.from_numpy(np.asarray(y_in, np.int64)), emb),
             s_prev)
    loss = torch.nn.functional.cross_entropy(S @ w_hq + bias_q,
                                             torch.from_numpy(np.asarray(y_target, np.int64)),
                                             ignore_index=int(pad), reduction="sum")
    if upstream is None:
        return float(loss.detach()), S.detach().numpy()
    dloss, dS = upstream
    (float(dloss) * loss + (S * _t(dS)).sum()).backward()
    return [s_prev.grad.numpy(), emb.grad.numpy(), cell.weight_ih.grad.T.numpy(),
            cell.weight_hh.grad.T.numpy(), cell.bias_ih.grad.numpy(), cell.bias_hh.grad.numpy(),
            w_hq.grad.numpy(), bias_q.grad.numpy()]


def expected_decoder_step_forward(case: Case):
    return _decoder_step_oracle(case.args)


@verdict(cases=decoder_step_forward_cases)
def check_decoder_step_forward(cases, runs, points: float) -> float:
    """Step (c): partial credit per case (the loss and the new state)."""
    def problem_of(case, run, expected):
        if (problem := error_problem("decoder_step_forward", run)) is not None:
            return [problem]
        (loss, S), (want_loss, want_S) = run.value["outputs"], expected
        dtype = case.meta.get("dtype", np.float64)
        tolerance = _tolerance(dtype)
        if not isinstance(loss, float | np.floating):  # as the visible test asks: a float
            loss_problem = (f"decoder_step_forward [{case.label}] loss: return a Python "
                            f"float, got {type(loss).__name__}")
        else:
            loss_problem = scalar_problem(f"decoder_step_forward [{case.label}] loss", loss,
                                          want_loss, **tolerance)
        return [loss_problem,
                array_problem(f"decoder_step_forward [{case.label}] S", S, want_S, dtype=dtype,
                              **tolerance)]
    return score_forward("decoder_step_forward", points, cases, runs,
                         expected_decoder_step_forward, problem_of, _decoder_judge)


@kernel_side
def decoder_step_backward_cases() -> list[Case]:
    """Step (a): the forward's arguments followed by ``dloss`` and ``dS (n, h)``."""
    rng = np.random.default_rng(6006)

    def case(label, n, V, e, h, dloss=0.25, zero_dS=False, dtype=np.float64, numeric=False,
             **kw):
        inputs = decoder_step_inputs(rng, n, V, e, h, dtype=dtype, **kw)
        dS = np.zeros((n, h)) if zero_dS else rng.normal(size=(n, h))
        return Case(label, (*inputs, dloss, dS.astype(dtype)),
                    meta={"dtype": dtype, "numeric": numeric})

    return [
        case("n=4, V=7, e=3, h=5, one row already ended", 4, 7, 3, 5, y_in=[0, 4, 6, 1],
             y_target=[4, 6, 1, 1]),
        case("one example (n=1)", 1, 5, 2, 3, y_in=[3], y_target=[2], dloss=1.0),
        case("every target is padding: only dS flows back", 3, 6, 3, 4, y_in=[2, 5, 1],
             y_target=[1, 1, 1]),
        case("a target of length 1: <bos> in, <eos> out, the last step (dS = 0)", 3, 5, 2, 4,
             y_in=[0, 0, 0], y_target=[2, 2, 2], zero_dS=True, dloss=1 / 3),
        case("a token read in several rows (gradients add up), pad = 0", 5, 6, 3, 3,
             y_in=[4, 4, 2, 4, 0], y_target=[2, 3, 0, 5, 1], pad=0, dloss=0.5),
        case("against numerical gradients, n=2", 2, 4, 2, 3, y_in=[0, 3], y_target=[3, 2],
             numeric=True),
        case("float32 inputs give float32 gradients", 3, 5, 3, 3, dtype=np.float32,
             y_in=[0, 3, 4], y_target=[3, 4, 1]),
    ]


def expected_decoder_step_backward(case: Case):
    """torch autograd, or for the ``numeric`` case centred differences of the torch loss."""
    inputs, upstream = case.args[:-2], case.args[-2:]
    if not case.meta.get("numeric"):
        return _decoder_step_oracle(inputs, upstream)
    dloss, dS = upstream
    values = [np.array(a, np.float64) for a in inputs[2:10]]

    def objective(position):
        def f(x):
            args = (*inputs[:2], *values[:position], x, *values[position + 1:], inputs[10])
            loss, S = _decoder_step_oracle(args)
            return float(dloss) * loss + float(np.sum(S * dS))
        return f

    return [numerical_gradient(objective(k), values[k]) for k in range(len(values))]


@verdict(cases=decoder_step_backward_cases)
def check_decoder_step_backward(cases, runs, points: float) -> float:
    """Step (c): partial credit per gradient (a gradient's share needs every case right)."""
    name = "decoder_step_backward"
    parts = {grad: [] for grad in DECODER_GRADIENTS}
    for case, run in zip(cases, runs, strict=True):
        if (problem := error_problem(name, run)) is not None:
            for grad in DECODER_GRADIENTS:
                parts[grad].append(problem)
            continue
        dtype = case.meta.get("dtype", np.float64)
        tolerance = ({"rtol": 1e-5, "atol": 1e-8} if case.meta.get("numeric")
                     else _tolerance(dtype))
        numeric = case.meta.get("numeric")
        expected = expected_decoder_step_backward(case)
        cache_wrong, on_cache = _decoder_judge(case, run.value["cache"],
                                               None if numeric else expected)
        if run.value["raised"] is not None:
            for grad in DECODER_GRADIENTS:
                parts[grad].append(raised_problem(name, case.label, run.value["raised"],
                                                  cache_wrong))
            continue

        def problem_of(grad, got, want, case=case, dtype=dtype, tolerance=tolerance):
            return array_problem(f"{name} [{case.label}] {grad}", got, want, dtype=dtype,
                                 **tolerance)

        problems = backward_on_cache(run.value["grads"], expected,
                                     cache_wrong, on_cache, problem_of, DECODER_GRADIENTS)
        for grad, problem in zip(DECODER_GRADIENTS, problems, strict=True):
            parts[grad].append(problem)
    return partial_credit(points, parts, gate=reference_problem(name, runs))


# --------------------------------------------------------------------------- decoding

# Step functions handed to the student's decoders: ``step(token, state) -> (log_probs (V,),
# new_state)``. The seq2seq one is a small GRU encoder-decoder of rnn_lib; the table one a
# decoder whose next-token distribution depends on the previous token only.


def _seq2seq_step(params, H_enc):
    """The decoder of :mod:`rnn_lib.seq2seq` for one source, one token at a time."""
    attention = "att_v" in params

    def step(token, state):
        X = params["E_tgt"][[int(token)]]  # not rnn_lib's lookup: the student may not enter it
        if attention:
            (context, _), _ = attention_forward(state, H_enc, params["att_W_q"],
                                                params["att_W_k"], params["att_v"])
            X = np.concatenate([X, context], axis=1)
        S, _ = gru_step_forward(X, state, params["dec_W_x"], params["dec_W_h"],
                                params["dec_b_x"], params["dec_b_h"])
        return log_softmax(S @ params["W_hq"] + params["b_q"])[0], S
    return step


def _table_step(log_table):
    def step(token, state):
        return log_table[int(token)].copy(), state + 1
    return step


def _log_table(probabilities) -> np.ndarray:
    table = np.asarray(probabilities, dtype=np.float64)
    with np.errstate(divide="ignore"):  # impossible tokens: log 0 = -inf
        return np.log(table / table.sum(axis=1, keepdims=True))


def _seq2seq_case(label, seed, *, attention, max_len, beam_width=None, V=6, length=4):
    """A random model, one random source; the case carries what the oracle needs in meta."""
    rng = np.random.default_rng(seed)
    params = ref_seq2seq.init_seq2seq(5, V, 4, 6, rng, attention_size=5 if attention else None)
    for key in ("W_hq", "b_q"):  # sharper distributions than the initialisation gives
        params[key] = params[key] * 2.0
    src = rng.integers(0, 5, size=length)
    # The encoder, eqs. (ch7-encoder)-(ch7-bridge), written out: the grading sandbox does not
    # let the kernel enter rnn_lib's embedding (a function this problem set grades).
    H_enc, _ = gru_forward(params["E_src"][src][:, None], np.zeros((1, params["enc_W_h"].shape[0])),
                           params["enc_W_x"], params["enc_W_h"], params["enc_b_x"],
                           params["enc_b_h"])
    args = (_seq2seq_step(params, H_enc), H_enc[-1], 0, 1, max_len)
    if beam_width is not None:
        args += (beam_width,)
    return Case(label, args, meta={"params": params, "src": src})


def _table_case(label, probabilities, *, max_len, beam_width=None, bos=0, eos=1):
    args = (_table_step(_log_table(probabilities)), 0, bos, eos, max_len)
    if beam_width is not None:
        args += (beam_width,)
    return Case(label, args, meta={"table": _log_table(probabilities)})


# A decoder where beam search of width 2 beats greedy: after <bos>, "a" (0.5) is likelier
# than "b" (0.4), but "a" is then followed by <eos> with 0.3 only, "b" with 0.9.
# Tokens: 0 <bos>, 1 <eos>, 2 "a", 3 "b".
_GREEDY_TRAP = [[0.0, 0.1, 0.5, 0.4], [0.0, 1.0, 0.0, 0.0], [0.0, 0.3, 0.35, 0.35],
                [0.0, 0.9, 0.05, 0.05]]
# After <bos>, <eos> and "a" tie at 0.4: the finished [<eos>] is as good as the best live
# prefix, so the search stops after one step (and returns [<eos>], the first of equals).
_TIE = [[0.0, 0.4, 0.4, 0.2], [0.0, 1.0, 0.0, 0.0], [0.0, 0.5, 0.5, 0.0],
        [0.0, 0.2, 0.4, 0.4]]
# The end token is the most probable first token.
_EOS_FIRST = [[0.0, 0.6, 0.2, 0.2], [0.0, 1.0, 0.0, 0.0], [0.0, 0.5, 0.3, 0.2],
              [0.0, 0.5, 0.2, 0.3]]
# <eos> is never likely: every output runs to max_len.
_NO_EOS = [[0.0, 0.01, 0.6, 0.39], [0.0, 1.0, 0.0, 0.0], [0.0, 0.01, 0.29, 0.7],
           [0.0, 0.01, 0.8, 0.19]]


@kernel_side
def greedy_decode_cases() -> list[Case]:
    """Step (a): ``(step, state0, bos, eos, max_len)``."""
    return [
        _seq2seq_case("GRU encoder-decoder", 6102, attention=False, max_len=8),
        _seq2seq_case("GRU encoder-decoder, no end token before max_len", 6103, attention=False,
                      max_len=6),
        _seq2seq_case("GRU encoder-decoder with attention", 6104, attention=True, max_len=8),
        _table_case("end token first", _EOS_FIRST, max_len=5),
        _table_case("no end token before max_len", _NO_EOS, max_len=4),
        _table_case("max_len = 1", _GREEDY_TRAP, max_len=1),
    ]


@kernel_side
def beam_search_cases() -> list[Case]:
    """Step (a): ``(step, state0, bos, eos, max_len, beam_width)``."""
    return [
        _seq2seq_case("width 1 (greedy)", 6105, attention=False, max_len=8, beam_width=1),
        _seq2seq_case("width 3", 6105, attention=False, max_len=8, beam_width=3),
        _seq2seq_case("width 2, with attention", 6105, attention=True, max_len=8, beam_width=2),
        _seq2seq_case("beam wider than the vocabulary (10 > 6)", 6103, attention=False,
                      max_len=6, beam_width=10),
        _table_case("width 2 beats greedy", _GREEDY_TRAP, max_len=4, beam_width=2),
        _table_case("end token first", _EOS_FIRST, max_len=5, beam_width=3),
        _table_case("no end token before max_len", _NO_EOS, max_len=3, beam_width=2),
        _table_case("max_len = 1", _GREEDY_TRAP, max_len=1, beam_width=3),
        _table_case("a finished sequence ties with the best live prefix", _TIE, max_len=4,
                    beam_width=2),
    ]


def _reference_beam(step, state0, bos, eos, max_len, beam_width):
    """The search of :func:`rnn_lib.seq2seq.beam_search`, for any step function.

    Returns the best finished tokens, their score and the number of calls of ``step``
    (one per live prefix and step, as the problem set asks).
    """
    prefixes, scores, states, finished, calls = [[]], [0.0], [state0], [], 0
    for position in range(max_len):
        candidates, new_states = [], []
        for row, prefix in enumerate(prefixes):
            log_probs, state = step(prefix[-1] if prefix else bos, states[row])
            calls += 1
            new_states.append(state)
            candidates += [(scores[row] + float(lp), row, token)
                           for token, lp in enumerate(log_probs)]
        order = sorted(range(len(candidates)), key=lambda i: -candidates[i][0])  # stable
        live = []
        for i in order[:beam_width]:
            score, row, token = candidates[i]
            if token == eos or position == max_len - 1:
                finished.append((score, prefixes[row] + [token]))
            else:
                live.append((score, row, token))
        best_finished = max((score for score, _ in finished), default=-np.inf)
        if not live or best_finished >= live[0][0]:
            break
        prefixes = [prefixes[row] + [token] for _, row, token in live]
        scores = [score for score, _, _ in live]
        states = [new_states[row] for _, row, _ in live]
    score, tokens = max(finished, key=lambda item: item[0])
    return tokens, score, calls


def _expected_decoding(case: Case):
    """``(tokens, score)`` for greedy decoding, ``(tokens, score, calls)`` for beam search."""
    width = case.args[5] if len(case.args) == 6 else 1  # width 1 is greedy decoding
    tokens, score, calls = _reference_beam(*case.args[:5], width)
    if "params" in case.meta:  # rnn_lib's decoders are the oracle of the tokens and scores
        bos, eos, max_len = case.args[2:5]
        src = case.meta["src"][:, None]
        if len(case.args) == 5:
            outputs, scores = ref_seq2seq.greedy_decode(case.meta["params"], src, bos, eos,
                                                        max_len)
        else:
            outputs, scores = ref_seq2seq.beam_search(case.meta["params"], src, bos, eos,
                                                      max_len, width)
        tokens, score = outputs[0], float(scores[0])
    return (tokens, score) if len(case.args) == 5 else (tokens, score, calls)


def _decoding_problem(name):
    def problem_of(case, run, expected):
        if (problem := error_problem(name, run)) is not None:
            return [problem]
        tokens, score = run.value[:2]
        want_tokens, want_score = expected[:2]
        if list(tokens) != list(want_tokens):
            first = next((i for i, (a, b) in enumerate(zip(tokens, want_tokens, strict=False))
                          if a != b),
                         min(len(tokens), len(want_tokens)))
            return [f"{name} [{case.label}]: wrong tokens from position {first} on (expected "
                    f"{len(want_tokens)} tokens, got {len(tokens)})"]
        problems = [scalar_problem(f"{name} [{case.label}] score", score, want_score, rtol=1e-7,
                                   atol=1e-9)]
        if len(expected) == 3 and run.value[2] != expected[2]:
            problems.append(f"{name} [{case.label}]: called step {run.value[2]} times, expected "
                            f"{expected[2]} (one call per live prefix and step; stop as soon as "
                            f"the best finished score is at least the best live score)")
        return problems
    return problem_of


@verdict(cases=greedy_decode_cases)
def check_greedy_decode(cases, runs, points: float) -> float:
    """Step (c): partial credit per case (tokens and log-probability)."""
    return _score_cases("greedy_decode", points, cases, runs, _expected_decoding,
                        _decoding_problem("greedy_decode"))


@verdict(cases=beam_search_cases)
def check_beam_search(cases, runs, points: float) -> float:
    """Step (c): partial credit per case (tokens and log-probability)."""
    return _score_cases("beam_search", points, cases, runs, _expected_decoding,
                        _decoding_problem("beam_search"))


# --------------------------------------------------------------------------- caches (trusted)
# The structures the notebook documents, read by correct backwards written here; the
# gradients they give from the student's cache are compared with torch autograd (float64).

EMBEDDING_CACHE = "(idx, W_e.shape, W_e.dtype)"
BIDIRECTIONAL_CACHE = ("(X, H0, (H_f, W_xh_f, W_hh_f, steps_f), "
                       "(H_b, W_xh_b, W_hh_b, steps_b))")
DECODER_CACHE = "(y_in, y_target, keep, S, log_probs, W_hq, E_tgt.shape, gru_cache)"


def _got(value) -> str:
    if isinstance(value, tuple | list):
        return f"a {type(value).__name__} of {len(value)} items"
    return value if isinstance(value, str) else f"a {type(value).__name__}"


def _tuple(value, count: int, what: str, structure: str) -> tuple:
    if not isinstance(value, tuple | list) or len(value) != count:
        raise CacheStructure(f"{what} should be {structure}, got {_got(value)}")
    return tuple(value)


def _shape_item(value, shape: tuple, name: str) -> None:
    if not isinstance(value, tuple | list) or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise CacheStructure(f"{name} should be the shape {shape}, got {_got(value)}")
    if tuple(value) != tuple(shape):
        raise CacheStructure(f"{name} should be {tuple(shape)}, got {tuple(value)}")


def _index_item(value, shape: tuple, bound: int, name: str) -> np.ndarray:
    if not isinstance(value, np.ndarray) or not np.issubdtype(value.dtype, np.integer):
        raise CacheStructure(f"{name} should be an integer array, got {_got(value)}")
    if value.shape != tuple(shape):
        raise CacheStructure(f"{name} should have shape {tuple(shape)}, got {value.shape}")
    if value.size and (value.min() < 0 or value.max() >= bound):
        raise CacheStructure(f"{name} holds values outside [0, {bound})")
    return value


def _embedding_backward(dX, cache, *, idx_shape, V, e, dtype):
    idx, shape, dtype_name = _tuple(cache, 3, "the cache", EMBEDDING_CACHE)
    idx = _index_item(idx, idx_shape, V, "idx")
    _shape_item(shape, (V, e), "W_e.shape")
    if dtype_name != str(np.dtype(dtype)):
        raise CacheStructure(f"W_e.dtype should be {np.dtype(dtype)}, got {_got(dtype_name)}")
    dW_e = np.zeros((V, e))
    np.add.at(dW_e, idx.reshape(-1), np.asarray(dX, np.float64).reshape(-1, e))
    return (dW_e,)


def _embedding_judge(case: Case, cache, expected=None):
    idx, W_e = case.args[0], case.args[1]
    V, e = W_e.shape
    if len(case.args) == 3:
        dX = np.asarray(case.args[2], np.float64)
    else:
        dX = np.random.default_rng(6100 + sum(map(ord, case.label))).normal(
            size=np.shape(idx) + (e,))
    weight = _t(W_e, grad=True)
    torch.nn.functional.embedding(torch.from_numpy(np.asarray(idx, np.int64)),
                                  weight).mul(_t(dX)).sum().backward()
    dtype = W_e.dtype

    def read(dX_, cache_):
        return _embedding_backward(dX_, cache_, idx_shape=np.shape(idx), V=V, e=e, dtype=dtype)

    return _judged("embedding_forward", case, cache, read, [dX], [weight.grad.numpy()],
                   ("dW_e",), EMBEDDING_CACHE)


def _judged(name, case, cache, read, upstream, expected, grad_names, structure):
    """``(problem, what a correct backward computes from the cache)``."""
    dtype = case.meta.get("dtype", np.float64)
    problem = cache_problem(name, case.label, cache, read, upstream, expected, grad_names,
                            structure, **_tolerance(dtype))
    on_cache = None
    if problem is not None:
        try:
            with np.errstate(all="ignore"):
                on_cache = read(*upstream, cache)
        except Exception:  # noqa: BLE001 - an unreadable cache: nothing to compare with
            on_cache = None
    return problem, on_cache


def _direction_backward(dH, X, H_start, direction, name, T, n, d, h):
    H, W_xh, W_hh, steps = _tuple(direction, 4, f"the {name} direction's cache",
                                  f"(H_{name[0]}, W_xh_{name[0]}, W_hh_{name[0]}, "
                                  f"steps_{name[0]})")
    H, W_xh, W_hh = arrays((H, W_xh, W_hh), (f"H_{name[0]}", f"W_xh_{name[0]}",
                                             f"W_hh_{name[0]}"), [(T, n, h), (d, h), (h, h)])
    if (not isinstance(steps, tuple | list) or len(steps) != T
            or sorted(s if isinstance(s, int) else -1 for s in steps) != list(range(T))):
        raise CacheStructure(f"steps_{name[0]} should list the time steps 0..{T - 1} in the "
                             f"order the {name} direction visits them, got {_got(steps)}")
    dX = np.zeros((T, n, d))
    dW_xh, dW_hh, db = np.zeros((d, h)), np.zeros((h, h)), np.zeros(h)
    carry = np.zeros((n, h))
    for k in range(T - 1, -1, -1):
        t = steps[k]
        H_prev = H[steps[k - 1]] if k > 0 else H_start
        dA = (dH[t] + carry) * (1 - H[t] ** 2)
        dX[t] = dA @ W_xh.T
        dW_xh += X[t].T @ dA
        dW_hh += H_prev.T @ dA
        db += dA.sum(axis=0)
        carry = dA @ W_hh.T
    return dX, carry, dW_xh, dW_hh, db


def _bidirectional_backward(dH, cache, *, T, n, d, h):
    X, H0, forward, backward = _tuple(cache, 4, "the cache", BIDIRECTIONAL_CACHE)
    X, H0 = arrays((X, H0), ("X", "H0"), [(T, n, d), (2, n, h)])
    dH = np.asarray(dH, np.float64)
    dX_f, dH0_f, *grads_f = _direction_backward(dH[..., :h], X, H0[0], forward, "forward",
                                                T, n, d, h)
    dX_b, dH0_b, *grads_b = _direction_backward(dH[..., h:], X, H0[1], backward, "backward",
                                                T, n, d, h)
    return (dX_f + dX_b, np.stack([dH0_f, dH0_b]), *grads_f, *grads_b)


def _bidirectional_judge(case: Case, cache, expected=None):
    X, H0, *params = case.args[:8]
    (T, n, d), h = X.shape, H0.shape[2]
    if len(case.args) == 9:
        dH = np.asarray(case.args[8], np.float64)
    else:
        dH = np.random.default_rng(6300 + sum(map(ord, case.label))).normal(size=(T, n, 2 * h))
    if expected is None:
        expected = expected_bidirectional_backward(Case(case.label, (*case.args[:8], dH)))

    def read(dH_, cache_):
        return _bidirectional_backward(dH_, cache_, T=T, n=n, d=d, h=h)

    return _judged("bidirectional_rnn_forward", case, cache, read, [dH], expected, GRADIENTS,
                   BIDIRECTIONAL_CACHE)


GRU_FIELDS = ("X", "H_prev", "W_x", "W_h", "R", "Z", "N", "Hn")


def _decoder_backward(dloss, dS, cache, *, n, V, e, h):
    y_in, y_target, keep, S, log_probs, W_hq, E_shape, gru = _tuple(cache, 8, "the cache",
                                                                   DECODER_CACHE)
    y_in = _index_item(y_in, (n,), V, "y_in")
    y_target = _index_item(y_target, (n,), V, "y_target")
    if not isinstance(keep, np.ndarray) or keep.shape != (n,) or keep.dtype != bool:
        raise CacheStructure(f"keep should be a boolean array of shape ({n},), got "
                             f"{_got(keep) if not isinstance(keep, np.ndarray) else keep.dtype}")
    S, log_probs, W_hq = arrays((S, log_probs, W_hq), ("S", "log_probs", "W_hq"),
                                [(n, h), (n, V), (h, V)])
    _shape_item(E_shape, (V, e), "E_tgt.shape")
    if not isinstance(gru, dict) or sorted(gru) != sorted(GRU_FIELDS):
        raise CacheStructure(f"gru_cache should be the cache gru_step_forward returned, got "
                             f"{_got(gru)}")
    gru = GRUStepCache(*arrays([gru[k] for k in GRU_FIELDS], GRU_FIELDS,
                               [(n, e), (n, h), (e, 3 * h), (h, 3 * h)] + [(n, h)] * 4,
                               "gru_cache"))
    dO = np.exp(log_probs)
    dO[np.arange(n), y_target] -= 1.0
    dO *= float(dloss) * keep[:, None]
    dX, dS_prev, dW_x, dW_h, db_x, db_h = gru_step_backward(
        np.asarray(dS, np.float64) + dO @ W_hq.T, gru)
    dE_tgt = np.zeros((V, e))
    np.add.at(dE_tgt, y_in, dX)
    return dS_prev, dE_tgt, dW_x, dW_h, db_x, db_h, S.T @ dO, dO.sum(axis=0)


def _decoder_judge(case: Case, cache, expected=None):
    inputs = case.args[:11]
    S_prev, E_tgt = inputs[2], inputs[3]
    (n, h), (V, e) = S_prev.shape, E_tgt.shape
    if len(case.args) == 13:
        dloss, dS = float(case.args[11]), np.asarray(case.args[12], np.float64)
    else:
        dloss = 0.5
        dS = np.random.default_rng(6500 + sum(map(ord, case.label))).normal(size=(n, h))
    if expected is None:
        expected = _decoder_step_oracle(inputs, (dloss, dS))

    def read(dloss_, dS_, cache_):
        return _decoder_backward(dloss_, dS_, cache_, n=n, V=V, e=e, h=h)

    return _judged("decoder_step_forward", case, cache, read, [dloss, dS], expected,
                   DECODER_GRADIENTS, DECODER_CACHE)
