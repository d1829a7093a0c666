"""Hidden-test helpers for problem set 1: state machines and a hand-built parity RNN.

Oracles: closed-form or directly enumerated answers computed here (PyTorch has
no state machines). Forbidden: ``rnn_lib.state_machines``.
"""

from __future__ import annotations

import itertools

import numpy as np

import rnn_lib.state_machines as reference
from course_checks.common import (
    Case,
    StudentRun,
    array_problem,
    call_student,
    error_problem,
    forbidden_codes,
    reference_problem,
    require,
)
from grader.declare import kernel_side, verdict

FORBIDDEN = forbidden_codes(reference.StateMachine, reference.parity_machine,
                            reference.LTISystem)
MAX_PARITY_LENGTH = 8


def _not_reference_class(name: str, is_reference: bool) -> str | None:
    if is_reference:
        return f"{name} must be your own class, not rnn_lib's StateMachine or a subclass of it"
    return None


# --------------------------------------------------------------------------- transduce


def _accumulator(machine_class):
    """s' = s + x, y = s: the outputs are the running sums (after each input)."""
    return machine_class(lambda s, x: s + x, lambda s: s, 0)


def _last_two(machine_class):
    """Remembers the last two inputs; outputs their product (needs the updated state)."""
    return machine_class(lambda s, x: (s[1], x), lambda s: s[0] * s[1], (0, 0))


@kernel_side
def transduce_cases() -> list[Case]:
    """Step (a): (label, machine factory name, inputs) triples as cases."""
    rng = np.random.default_rng(101)
    long_inputs = [int(v) for v in rng.integers(-5, 6, size=25)]
    return [
        Case("running sum", ("accumulator", [3, -1, 4, 1, -5])),
        Case("product of the last two inputs", ("last_two", [2, 3, 4, 5])),
        Case("one input", ("accumulator", [7])),
        Case("no inputs", ("accumulator", [])),
        Case("25 random inputs", ("accumulator", long_inputs)),
        Case("inputs from a generator", ("accumulator", "generator:1,2,3")),
    ]


def _expected_transduce(kind: str, inputs: list) -> list:
    if kind == "accumulator":
        return list(itertools.accumulate(inputs))
    previous, outputs = 0, []
    for x in inputs:
        outputs.append(previous * x)
        previous = x
    return outputs


def _materialise(inputs):
    if isinstance(inputs, str) and inputs.startswith("generator:"):
        values = [int(v) for v in inputs.split(":", 1)[1].split(",")]
        return values, (v for v in values)
    return inputs, list(inputs)


@kernel_side
def run_transduce(machine_class, cases: list[Case]) -> dict[str, object]:
    """Step (b): build each machine from the student's class and transduce twice.

    The second call checks that running a machine does not change it.
    """
    runs = []
    for case in cases:
        kind, inputs = case.args
        _, fed = _materialise(inputs)

        def both_calls(fed=fed, kind=kind, inputs=inputs):
            machine = (_accumulator if kind == "accumulator" else _last_two)(machine_class)
            first = machine.transduce(fed)
            second = machine.transduce(_materialise(inputs)[1])
            return {"first": first, "second": second}

        runs.append(call_student(both_calls, forbidden=FORBIDDEN, label=case.label))
    return {"cases": runs, "reference_class": _is_reference_class(machine_class)}


def _is_reference_class(cls) -> bool:
    return isinstance(cls, type) and issubclass(cls, reference.StateMachine)


@verdict(cases=transduce_cases)
def check_transduce(cases: list[Case], runs: dict[str, object]) -> None:
    """Step (c)."""
    __tracebackhide__ = True
    problems = [_not_reference_class("StateMachine", runs["reference_class"]),
                reference_problem("StateMachine.transduce", runs["cases"])]
    for case, run in zip(cases, runs["cases"], strict=True):
        kind, inputs = case.args
        values, _ = _materialise(inputs)
        expected = _expected_transduce(kind, values)
        if (problem := error_problem("transduce", run)) is not None:
            problems.append(problem)
            continue
        first, second = run.value["first"], run.value["second"]
        if not isinstance(first, list):
            problems.append(f"transduce [{case.label}]: expected a list, got {type(first).__name__}")
        elif list(first) != expected:
            problems.append(f"transduce [{case.label}]: wrong outputs for {len(values)} inputs")
        elif not isinstance(second, list) or list(second) != expected:
            problems.append(f"transduce [{case.label}]: a second run of the same machine "
                            f"gives different outputs (the machine must not change)")
    require(problems)


# --------------------------------------------------------------------------- parity machine


@kernel_side
def all_bit_strings(max_length: int = MAX_PARITY_LENGTH) -> list[list[int]]:
    """Step (a): every binary string of length 0 .. max_length."""
    return [list(bits) for n in range(max_length + 1)
            for bits in itertools.product((0, 1), repeat=n)]


def expected_parity_outputs(bits: list[int]) -> list[int]:
    """1 after each prefix with an even number of zeros, else 0."""
    zeros, outputs = 0, []
    for b in bits:
        zeros += b == 0
        outputs.append(int(zeros % 2 == 0))
    return outputs


@kernel_side
def run_parity_machine(factory, machine_class, strings: list[list[int]]) -> dict[str, StudentRun]:
    """Step (b): one fresh machine per string, plus an invalid input."""
    def transduce_all():
        outputs = []
        for bits in strings:
            machine = factory()
            outputs.append({"is_student_machine": isinstance(machine, machine_class),
                            "outputs": machine.transduce(bits)})
        return outputs

    def invalid_input():
        factory().transduce([1, 2, 0])

    return {
        "strings": call_student(transduce_all, forbidden=FORBIDDEN, label="all strings"),
        "invalid": call_student(invalid_input, forbidden=FORBIDDEN, label="input 2"),
    }


@verdict(cases=all_bit_strings)
def check_parity_machine(strings, runs: dict[str, StudentRun]) -> None:
    """Step (c)."""
    __tracebackhide__ = True
    problems = [reference_problem("parity_machine", list(runs.values()))]
    run = runs["strings"]
    if (problem := error_problem("parity_machine", run)) is not None:
        problems.append(problem)
    else:
        wrong = 0
        for bits, result in zip(strings, run.value, strict=True):
            if not result["is_student_machine"]:
                problems.append("parity_machine: expected an instance of your StateMachine")
                break
            wrong += [int(y) for y in result["outputs"]] != expected_parity_outputs(bits)
        if wrong:
            problems.append(f"parity_machine: wrong outputs on {wrong} of {len(strings)} "
                            f"binary strings of length 0..{MAX_PARITY_LENGTH}")
    invalid = runs["invalid"]
    if invalid.error is None or not invalid.error.startswith("raised ValueError"):
        problems.append("parity_machine: an input other than 0 or 1 must raise ValueError")
    require(problems)


# --------------------------------------------------------------------------- LTI system


@kernel_side
def lti_cases() -> list[Case]:
    """Step (a): systems (A, B, C, s0) and input sequences, all float64."""
    rng = np.random.default_rng(202)

    def system(k, l, m, T, scale=0.5):
        A = rng.normal(scale=scale, size=(k, k))
        B = rng.normal(size=(k, l))
        C = rng.normal(size=(m, k))
        s0 = rng.normal(size=k)
        xs = [rng.normal(size=l) for _ in range(T)]
        return A, B, C, s0, xs

    A, B, C, s0, _ = system(2, 1, 1, 0)
    scalar_inputs = [1.5, -2.0, 0.25, 3.0]
    return [
        Case("k=3 states, 2 inputs, 2 outputs, non-zero s0", system(3, 2, 2, 6)),
        Case("k=4, non-square B and C", system(4, 3, 2, 5)),
        Case("one step (T=1)", system(3, 2, 1, 1)),
        Case("l=1 with plain numbers as inputs", (A, B, C, s0, scalar_inputs)),
    ]


def expected_lti_outputs(A, B, C, s0, xs) -> list[np.ndarray]:
    """Closed form: s_t = A^t s0 + sum_j A^(t-j) B x_j, y_t = C s_t."""
    outputs = []
    for t in range(1, len(xs) + 1):
        s = np.linalg.matrix_power(A, t) @ s0
        for j in range(1, t + 1):
            s = s + np.linalg.matrix_power(A, t - j) @ (B @ np.atleast_1d(xs[j - 1]))
        outputs.append(C @ s)
    return outputs


@kernel_side
def run_lti(lti_class, machine_class, cases: list[Case]) -> dict[str, object]:
    """Step (b)."""
    def build_and_run(A, B, C, s0, xs):
        return lti_class(A, B, C, s0).transduce(xs)

    runs = [call_student(build_and_run, *case.args, forbidden=FORBIDDEN, label=case.label)
            for case in cases]
    return {"cases": runs, "reference_class": _is_reference_class(lti_class),
            "subclass": isinstance(lti_class, type) and issubclass(lti_class, machine_class)}


@verdict(cases=lti_cases)
def check_lti(cases: list[Case], runs: dict[str, object]) -> None:
    """Step (c)."""
    __tracebackhide__ = True
    problems = [_not_reference_class("LTISystem", runs["reference_class"]),
                reference_problem("LTISystem", runs["cases"])]
    if not runs["subclass"]:
        problems.append("LTISystem: expected a subclass of your StateMachine")
    for case, run in zip(cases, runs["cases"], strict=True):
        if (problem := error_problem("LTISystem", run)) is not None:
            problems.append(problem)
            continue
        outputs = run.value
        expected = expected_lti_outputs(*case.args)
        if not isinstance(outputs, list) or len(outputs) != len(expected):
            problems.append(f"LTISystem [{case.label}]: expected a list of {len(expected)} outputs")
            continue
        for t, (got, want) in enumerate(zip(outputs, expected, strict=True), start=1):
            problem = array_problem(f"LTISystem [{case.label}] y_{t}", got, want, rtol=1e-8)
            if problem:
                problems.append(problem)
                break
    require(problems)


# --------------------------------------------------------------------------- parity RNN

WEIGHT_SHAPES = {"W_xh": ("1", "h"), "W_hh": ("h", "h"), "b_h": ("h",), "W_hq": ("h", "1"),
                 "b_q": ("1",), "H0": ("h",)}


@kernel_side
def run_parity_weights(weights_function) -> StudentRun:
    """Step (b): the student's weights."""
    return call_student(weights_function, label="weights")


def _shape_problems(weights) -> list[str]:
    if not isinstance(weights, dict):
        return [f"parity_rnn_weights: expected a dict, got {type(weights).__name__}"]
    missing = sorted(set(WEIGHT_SHAPES) - set(weights))
    if missing:
        return [f"parity_rnn_weights: missing keys {missing}"]
    problems = []
    for name in WEIGHT_SHAPES:
        if not isinstance(weights[name], np.ndarray):
            problems.append(f"{name}: expected a numpy array, got {type(weights[name]).__name__}")
    if problems:
        return problems
    h = weights["W_hh"].shape[0] if weights["W_hh"].ndim == 2 else -1
    for name, dims in WEIGHT_SHAPES.items():
        want = tuple(h if d == "h" else 1 for d in dims)
        if weights[name].shape != want:
            problems.append(f"{name}: expected shape {want}, got {weights[name].shape}")
    return problems


def evaluate_parity_rnn(weights: dict, max_length: int = MAX_PARITY_LENGTH) -> int:
    """Count the strings (length 1..max_length) where the RNN's 0/1 outputs are wrong.

    H_t = tanh(x_t W_xh + H_{t-1} W_hh + b_h), y_t = [H_t W_hq + b_q > 0], one
    batch row per string, the bit x_t as the single input feature.
    """
    wrong = 0
    w = {k: np.asarray(v, dtype=np.float64) for k, v in weights.items()}
    for length in range(1, max_length + 1):
        bits = np.array(list(itertools.product((0, 1), repeat=length)), dtype=np.float64)
        H = np.tile(w["H0"], (bits.shape[0], 1))
        predicted = np.empty_like(bits, dtype=int)
        for t in range(length):
            H = np.tanh(bits[:, t : t + 1] @ w["W_xh"] + H @ w["W_hh"] + w["b_h"])
            predicted[:, t] = ((H @ w["W_hq"] + w["b_q"])[:, 0] > 0).astype(int)
        expected = np.array([expected_parity_outputs(list(map(int, row))) for row in bits])
        wrong += int(np.sum(np.any(predicted != expected, axis=1)))
    return wrong


@verdict()
def check_parity_weights(run: StudentRun) -> None:
    """Step (c)."""
    __tracebackhide__ = True
    if (problem := error_problem("parity_rnn_weights", run)) is not None:
        require([problem])
    require(_shape_problems(run.value))
    with np.errstate(all="ignore"):
        wrong = evaluate_parity_rnn(run.value)
    total = 2 ** (MAX_PARITY_LENGTH + 1) - 2
    if wrong:
        require([f"parity RNN: wrong outputs on {wrong} of the {total} binary strings "
                 f"of length 1..{MAX_PARITY_LENGTH}"])
