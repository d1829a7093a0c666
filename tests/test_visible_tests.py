"""The visible tests of ps2 and ps3 catch the common bugs before students submit (issue 9).

Each visible test cell of the source notebook is run as students run it (plain
Python, in the notebook's namespace) once with the reference solution, which
must pass, and once with a typical bug, which must fail with a message that
names the problem.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

SOURCE = Path(__file__).resolve().parents[1] / "assignments" / "source"


def _cells(ps: str) -> dict[str, str]:
    nb = json.loads((SOURCE / ps / f"{ps}.ipynb").read_text())
    out = {}
    for cell in nb["cells"]:
        grade_id = cell["metadata"].get("nbgrader", {}).get("grade_id")
        if grade_id:
            out[grade_id] = "".join(cell["source"])
    return out


def _namespace(ps: str, solutions: tuple[str, ...]) -> tuple[dict, dict[str, str]]:
    cells = _cells(ps)
    namespace: dict = {}
    exec(cells["setup"], namespace)  # noqa: S102 - the course's own notebook
    if "provided_forward" in cells:
        exec(cells["provided_forward"], namespace)  # noqa: S102
    for name in solutions:
        exec(cells[name], namespace)  # noqa: S102
    return namespace, cells


def _run(ps: str, test: str, solutions: tuple[str, ...], replace: dict | None = None) -> None:
    namespace, cells = _namespace(ps, solutions)
    namespace.update(replace or {})
    exec(cells[test], namespace)  # noqa: S102


def _transposed_step(X, H_prev, W_xh, W_hh, b_h):
    H = np.tanh(X @ W_xh + H_prev @ W_hh.T + b_h)
    return H, (X, H_prev, W_xh, W_hh, H)


def _unshifted_loss(O, Y):
    logits = O.reshape(-1, O.shape[-1])
    log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    return float(-log_probs[np.arange(Y.size), Y.reshape(-1)].mean()), None


def _step_backward_no_transpose(dH, cache):
    X, H_prev, W_xh, W_hh, H = cache
    dA = dH * (1 - H * H)
    return dA @ W_xh.T, dA @ W_hh, X.T @ dA, H_prev.T @ dA, dA.sum(axis=0)


def _clip_in_place(grads, max_norm):
    arrays = list(grads.values()) if isinstance(grads, dict) else list(grads)
    total = float(np.sqrt(sum(np.sum(g * g) for g in arrays)))
    scale = min(1.0, max_norm / total) if total > 0 else 1.0
    for g in arrays:
        g *= scale
    return grads, total


PS2, PS3 = "ps2_rnn_forward", "ps3_bptt"
CASES = [
    (PS2, "test_rnn_step_forward_visible", ("rnn_step_forward",),
     {"rnn_step_forward": _transposed_step}, "not H_prev @ W_hh.T"),
    (PS2, "test_softmax_cross_entropy_visible", ("softmax_cross_entropy",),
     {"softmax_cross_entropy": _unshifted_loss}, "subtract each row's maximum"),
    (PS3, "test_rnn_step_backward_visible", ("rnn_step_backward",),
     {"rnn_step_backward": _step_backward_no_transpose}, "dH_prev is wrong"),
    (PS3, "test_clip_gradients_visible", ("clip_gradients",),
     {"clip_gradients": _clip_in_place}, "clip_gradients changed its input"),
]


@pytest.mark.parametrize(("ps", "test", "solutions", "bug", "message"), CASES,
                         ids=[c[1] for c in CASES])
def test_visible_test_passes_the_reference_and_names_the_bug(ps, test, solutions, bug, message):
    _run(ps, test, solutions)
    with pytest.raises(AssertionError, match=message.replace(".", r"\.")):
        with np.errstate(all="ignore"):
            _run(ps, test, solutions, bug)


def test_a_blank_notebook_gets_a_message_not_a_name_error():
    namespace, cells = _namespace(PS3, ())
    # the released notebook: the solution cells raise NotImplementedError
    for name in ("rnn_step_backward", "rnn_backward", "output_backward",
                 "softmax_cross_entropy", "clip_gradients", "tbptt_step"):
        def todo(*_args, **_kwargs):
            raise NotImplementedError()
        namespace[name] = todo
    with pytest.raises(NotImplementedError):
        exec(cells["provided_training"], namespace)  # noqa: S102
    with pytest.raises(AssertionError, match="did not finish its 60 epochs"):
        exec(cells["test_training_visible"], namespace)  # noqa: S102
