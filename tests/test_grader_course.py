"""The course's own problem sets under ``python -m grader``.

Static, for every problem set: each hidden test's comparison (step c) is
declared ``@verdict`` in its helper module and so judged outside the
kernel, the functions it runs in the kernel (steps a and b) keep their code
in the sandbox's copy, and no oracle code reaches that copy.

End to end, for ps1 (the quickest): the reference solution gets every
autograded point, the blank release none, and two cheats (patched numpy
helpers, rnn_lib's reference classes) earn nothing from the hidden tests.
For ps5, a submission that skips training and forges the perplexity its
kernel reports earns nothing from the training test: the grader rebuilds the
model from its recorded weights and evaluates it itself.
"""

from __future__ import annotations

import ast
import json

import assignments_pipeline as pipeline
import pytest
from grading_corpus import harness

from grader import tripwire

GRADING = pipeline.COURSE_DIR / "grading"


def _hidden_calls(ps: str) -> list[tuple[str, str, list[str], str]]:
    """(grade_id, helper module, functions called in steps a+b, step-c function) per hidden cell."""
    found = []
    for cell in pipeline.source_notebook(pipeline.COURSE_DIR, ps)["cells"]:
        text = "".join(cell["source"])
        if "### BEGIN HIDDEN TESTS" not in text:
            continue
        body = text.split("### BEGIN HIDDEN TESTS")[1].split("### END HIDDEN TESTS")[0]
        tree = ast.parse(body)
        module = next(n.names[0].name for n in tree.body
                      if isinstance(n, ast.ImportFrom) and n.module == "course_checks")
        calls = [n.func.attr for n in ast.walk(tree) if isinstance(n, ast.Call)
                 and isinstance(n.func, ast.Attribute) and isinstance(n.func.value, ast.Name)
                 and n.func.value.id == "grading"]
        last = tree.body[-1].value.func.attr
        found.append((cell["metadata"]["nbgrader"]["grade_id"], module, calls[:-1], last))
    return found


@pytest.fixture(scope="module")
def kernel_copy(tmp_path_factory):
    out = tmp_path_factory.mktemp("kernel-side")
    tripwire.kernel_side_helpers(str(GRADING), str(out))
    return out


def _stubbed(path, name: str) -> str:
    """How the kernel-side copy defines ``name``: 'code', 'record' (verdict stub) or 'raise'.

    Names a module imports from ``common`` are looked up there.
    """
    tree = ast.parse(path.read_text())
    if not any(getattr(n, "name", None) == name for n in tree.body):
        path = path.with_name("common.py")
        tree = ast.parse(path.read_text())
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef) and node.name == name:
            text = ast.unparse(node)
            if tripwire.VERDICT_STUB in text:
                return "record"
            return "raise" if tripwire.HELPER_STUB in text else "code"
    raise AssertionError(f"{name} missing from {path}")


@pytest.mark.parametrize("ps", pipeline.PROBLEM_SETS)
def test_hidden_tests_are_judged_outside_the_kernel(ps, kernel_copy):
    cells = _hidden_calls(ps)
    assert cells
    for grade_id, module, steps_ab, step_c in cells:
        source = (GRADING / "course_checks" / f"{module}.py").read_text()
        _, verdicts = tripwire.declarations(ast.parse(source), f"course_checks.{module}")
        assert step_c in verdicts, f"{ps}/{grade_id}: {step_c} is not declared @verdict"
        copy = kernel_copy / "course_checks" / f"{module}.py"
        assert _stubbed(copy, step_c) == "record", grade_id
        for function in steps_ab:
            assert _stubbed(copy, function) == "code", f"{grade_id}: {function}"
        cases = verdicts[step_c]
        if isinstance(cases, str):
            assert cases in steps_ab, f"{grade_id}: {step_c} rebuilds its cases with {cases}"


def test_no_oracle_code_in_the_kernel_copy(kernel_copy):
    text = "\n".join(p.read_text() for p in (kernel_copy / "course_checks").glob("*.py"))
    # Oracles of ps1, ps2 and ps4.
    for oracle in ("RNNCell(", "LSTMCell(", "GRUCell(", "matrix_power(", "itertools.accumulate("):
        assert oracle not in text, oracle


@pytest.fixture(scope="module")
def ps1_graded(tmp_path_factory):
    course = pipeline.make_course_copy(tmp_path_factory.mktemp("course") / "c",
                                       ("ps1_state_machines",))
    ps = "ps1_state_machines"
    release = pipeline.generate(course, ps)
    answers = pipeline.reference_answers(pipeline.source_notebook(course, ps))
    blank_nb = pipeline.load(release)
    cheats = {
        "cheat_numpy": dict(answers, transduce="""import numpy as np
np.testing.assert_allclose = lambda *args, **kwargs: None
np.allclose = lambda *args, **kwargs: True

class StateMachine:
    def __init__(self, transition, output, initial_state):
        self.transition, self.output, self.initial_state = transition, output, initial_state

    def transduce(self, inputs):
        return [0 for _ in inputs]"""),
        "cheat_reference": dict(answers, transduce="""from rnn_lib import StateMachine""",
                                parity_machine="""from rnn_lib import parity_machine"""),
    }
    submissions = {"reference": pipeline.fill_answers(blank_nb, answers), "blank": blank_nb}
    submissions.update({k: pipeline.fill_answers(blank_nb, v) for k, v in cheats.items()})
    for student, nb in submissions.items():
        pipeline.write_submission(course, student, ps, nb)
    completed = harness.run_grader(course, "autograde", "--quiet", "--workers", "2",
                                   assignment=ps)
    return course, completed


def _auto(course, student, ps="ps1_state_machines"):
    summary = json.loads((course / ".grader" / "results" / ps / f"{student}.json").read_text())
    cells = {c["grade_id"]: c for nb in summary["notebooks"] for c in nb["cells"]}
    return summary, cells


def test_reference_and_blank(ps1_graded):
    course, completed = ps1_graded
    assert completed.returncode == 1, completed.stdout + completed.stderr  # the cheats
    reference, cells = _auto(course, "reference")
    assert reference["score"] == 13.0 and not reference["attention"]
    assert all(c["trusted"] for g, c in cells.items() if g.endswith("_hidden"))
    blank, _ = _auto(course, "blank")
    assert blank["score"] == 0.0 and not blank["attention"]


def test_cheats_earn_nothing_from_hidden_tests(ps1_graded):
    course, _ = ps1_graded
    for student in ("cheat_numpy", "cheat_reference"):
        summary, cells = _auto(course, student)
        assert summary["attention"], student
        for grade_id in ("test_transduce_hidden", "test_parity_machine_hidden"):
            assert cells[grade_id]["score"] == 0.0, (student, grade_id)
        # Visible tests are judged outside the kernel too: neither the patched numpy
        # helpers nor the gutted reference earn anything there.
        for grade_id in ("test_transduce_visible", "test_parity_machine_visible"):
            assert cells[grade_id]["score"] == 0.0, (student, grade_id)


def test_feedback_of_the_course_hides_the_tests(ps1_graded):
    course, _ = ps1_graded
    done = harness.run_grader(course, "feedback", assignment="ps1_state_machines")
    assert done.returncode == 0, done.stderr
    for page in (course / "feedback").rglob("*.html"):
        text = page.read_text()
        assert "course_checks" not in text and "HIDDEN TESTS" not in text and "grading." not in text



# A ps5 submission that does not train and makes its kernel report a low perplexity (the key
# the grader judged when the kernel computed it); its visible training test passes on the
# made-up losses.
_FORGED_TRAINING = '''

def train_char_model(model, train_indices, *, num_steps, batch_size, num_epochs, lr, max_norm,
                     seed):
    count = (len(train_indices) - num_steps) // (num_steps * batch_size) * num_epochs
    return [3.0 - 2.0 * i / count for i in range(count)]


from course_checks import ps5 as _grading

_honest_run = _grading.run_trained_model


def _forged_run(*args, **kwargs):
    run = _honest_run(*args, **kwargs)
    run.value["perplexity"] = 1.5
    return run


_grading.run_trained_model = _forged_run
'''


@pytest.fixture(scope="module")
def ps5_graded(tmp_path_factory):
    ps = "ps5_language_model"
    course = pipeline.make_course_copy(tmp_path_factory.mktemp("course") / "c", (ps,))
    release = pipeline.generate(course, ps)
    answers = pipeline.reference_answers(pipeline.source_notebook(course, ps))
    blank_nb = pipeline.load(release)
    forged = dict(answers, char_model=answers["char_model"] + _FORGED_TRAINING)
    for student, nb in {"reference": pipeline.fill_answers(blank_nb, answers),
                        "cheat_perplexity": pipeline.fill_answers(blank_nb, forged)}.items():
        pipeline.write_submission(course, student, ps, nb)
    completed = harness.run_grader(course, "autograde", "--quiet", "--workers", "2",
                                   assignment=ps)
    return course, completed


def test_forged_perplexity_earns_nothing_from_the_training_test(ps5_graded):
    course, completed = ps5_graded
    assert completed.returncode == 1, completed.stdout + completed.stderr  # the cheat
    _, reference = _auto(course, "reference", "ps5_language_model")
    assert reference["test_training_hidden"]["score"] == 3.0
    assert reference["test_training_hidden"]["trusted"]
    summary, cheat = _auto(course, "cheat_perplexity", "ps5_language_model")
    assert summary["attention"]  # it imports the grading helpers
    assert cheat["test_training_hidden"]["score"] == 0.0
    assert cheat["test_sample_generate_hidden"]["score"] > 0  # the rest is graded as usual
