"""ps5's hidden checks catch the bugs of issue 15 and give the reference full marks.

Runs the reference answers in this process (no nbgrader), patched one bug at a
time, through the hidden tests' three steps, with step (c) judging the runs as
the grading process would. The pipeline tests (``test_assignments.py -k ps5``)
grade the whole notebook through nbgrader.
"""

from __future__ import annotations

import contextlib
import io
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import assignments_pipeline as pipeline  # noqa: E402

GRADING_DIR = pipeline.COURSE_DIR / "grading"
PS = "ps5_language_model"


@pytest.fixture(scope="module")
def grading():
    sys.path.insert(0, str(GRADING_DIR))
    import torch

    torch.set_num_threads(1)
    from course_checks import ps5

    return ps5


def _namespace(*patches: tuple[str, str, str]) -> dict:
    """The reference's functions (and the notebook's own cells), with ``patches`` applied."""
    nb = pipeline.source_notebook(pipeline.COURSE_DIR, PS)
    answers = pipeline.reference_answers(nb)
    for cell, old, new in patches:
        assert old in answers[cell], (cell, old)
        answers[cell] = answers[cell].replace(old, new)
    namespace: dict = {}
    for cell in nb["cells"]:
        meta = pipeline.nbgrader_meta(cell)
        if cell["cell_type"] != "code":
            continue
        if meta.get("solution"):
            exec(compile(answers[meta["grade_id"]], meta["grade_id"], "exec"), namespace)
        elif meta.get("grade_id") in ("setup", "counting_model"):
            source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
            exec(compile(source, meta["grade_id"], "exec"), namespace)
    return namespace


def _judge(grading, what: str, namespace: dict) -> tuple[float, str]:
    """(points earned, printed feedback) of one hidden test on the given functions."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        if what == "vocab":
            cases = grading.vocab_cases()
            earned = grading.check_vocab(cases, grading.run_vocab(namespace["Vocab"], cases),
                                         points=2)
        elif what in ("random", "sequential"):
            cases = grading.batch_cases()
            function = namespace[f"{what}_batches"]
            earned = grading.check_batches(cases, grading.run_batches(function, cases), points=2,
                                           sequential=what == "sequential")
        elif what == "sample":
            earned = grading.check_sample_generate(
                grading.run_sample_generate(namespace["sample_generate"]), points=2)
        else:
            loop = grading.run_training_loop(namespace["CharLM"], namespace["train_char_model"],
                                             namespace["sequential_batches"])
            problems = grading._training_loop_problems(loop)
            earned = 0.0 if problems else 1.0
            print("\n".join(problems))
    return earned, out.getvalue()


@pytest.mark.parametrize("what", ["vocab", "random", "sequential", "sample", "training"])
def test_the_reference_earns_every_point(grading, what):
    earned, feedback = _judge(grading, what, _namespace())
    assert earned == pytest.approx(2.0 if what != "training" else 1.0), feedback


BUGS = [
    ("training", "no gradient clipping",
     ("char_model", "            nn.utils.clip_grad_norm_(model.parameters(), max_norm)\n", ""),
     "not clipped"),
    ("training", "gradients never reset",
     ("char_model", "            optimizer.zero_grad()\n", ""), "not reset"),
    ("training", "the state carried across epochs",
     ("char_model", "    for _ in range(num_epochs):\n        state = None\n",
      "    state = None\n    for _ in range(num_epochs):\n"), "differ from truncated BPTT"),
    ("training", "no losses returned",
     ("char_model", "            losses.append(loss.item())\n", ""), "one loss per minibatch"),
    ("random", "the offset ignored",
     ("random_batches", "starts = offset + num_steps * order", "starts = num_steps * order"),
     "the offset took the values [0]"),
    ("random", "only the first windows ever drawn",
     ("random_batches", "order = rng.permutation(n_windows)",
      "order = rng.permutation(count * batch_size)"), "some are never drawn"),
    ("random", "a plain list fails", ("random_batches", "    corpus = np.asarray(corpus)\n", ""),
     "a plain list"),
    ("sequential", "rows not from the offset",
     ("sequential_batches", "row_starts = offset + count", "row_starts = count"),
     "the offset took the values [0]"),
    ("sequential", "a plain list fails",
     ("sequential_batches", "    corpus = np.asarray(corpus)\n", ""), "a plain list"),
    ("vocab", "'<unk>' in the corpus listed twice",
     ("vocab", "            if count >= min_freq and token not in listed:",
      "            if count >= min_freq and token not in reserved:"), "lists a token twice"),
    ("vocab", "to_indices in int32",
     ("vocab", "dtype=np.int64)", "dtype=np.int32)"), "expected an int64 array"),
    ("sample", "a batch of two sequences",
     ("sampling", "state = model.begin_state(1)", "state = model.begin_state(2)"),
     "fresh model.begin_state(1)"),
]
TWO_ROWS_LAST_READ = (("sampling", "state = model.begin_state(1)", "state = model.begin_state(2)"),
                      ("sampling", "softmax_with_temperature(logits[0], temperature)",
                       "softmax_with_temperature(logits[-1], temperature)"))


@pytest.mark.parametrize(("what", "patch", "message"), [
    pytest.param(what, patch, message, id=name.replace(" ", "-"))
    for what, name, patch, message in BUGS
])
def test_a_bug_costs_points_with_a_message_that_names_it(grading, what, patch, message):
    earned, feedback = _judge(grading, what, _namespace(patch))
    full = 2.0 if what != "training" else 1.0
    assert earned < full - 1e-9, feedback
    assert message in feedback, feedback


def test_a_sampler_on_two_rows_reading_the_last_is_caught(grading):
    earned, feedback = _judge(grading, "sample", _namespace(*TWO_ROWS_LAST_READ))
    assert earned < 2.0, feedback
    assert "begin_state(1)" in feedback, feedback


def test_the_training_replay_tolerates_an_equivalent_loss_formula(grading):
    """mean cross-entropy written another way (float32 rounding differs) keeps the points."""
    patch = ("char_model",
             "            loss = F.cross_entropy(logits.reshape(-1, model.vocab_size),\n"
             "                                   torch.from_numpy(Y).reshape(-1))\n",
             "            loss = F.nll_loss(F.log_softmax(logits, -1).permute(1, 2, 0),\n"
             "                              torch.from_numpy(Y).T)\n")
    earned, feedback = _judge(grading, "training", _namespace(patch))
    assert earned == 1.0, feedback


def test_the_sampler_check_uses_rows_that_differ(grading):
    model = grading.RowModel(np.eye(5))
    state = model.begin_state(2)
    logits, _ = model.step(np.array([1]), state)
    assert logits.shape == (2, 5) and not np.array_equal(logits[0], logits[1])
