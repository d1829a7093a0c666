"""Unit tests of the three trust assumptions of issue 8, piece by piece.

- :mod:`grader.assertions`: an ``assert`` is split into operands observed in the
  kernel and a comparison judged by the grader, on plain data, with its own numpy;
- :mod:`grader.staging`: submissions are copied as regular files only, links never
  followed, FIFOs never opened for reading, sizes and JSON depth bounded;
- :mod:`grader.verdicts`: student strings never reach feedback through a verdict's
  message; :class:`grader.cluster.Engine` charges a killed worker to the one
  submission that killed it, never to its neighbours.

End to end, the same attacks are graded in ``tests/test_grader_corpus.py``.
"""

from __future__ import annotations

import json
import os
import stat

import numpy as np
import pytest

from grader import assertions, payload, staging, verdicts
from grader.checks import _observe

# --------------------------------------------------------------------------- assertions


def _observe_values(expression_source: str, namespace: dict) -> tuple[assertions.Assertion, list]:
    """Instrument ``assert <expression>``, run it in ``namespace``, return what was published."""
    program = assertions.instrument(f"assert {expression_source}, 'message'")
    published = []

    def observe(index, operands, message):
        values = []
        for operand in operands:
            try:
                values.append(["ok", operand()])
            except Exception as error:  # noqa: BLE001 - as the kernel side does
                values.append(["raised", type(error).__name__])
        published.append(payload.round_trip(values))

    namespace = dict(namespace, np=np, **{assertions.OBSERVE: observe,
                                          assertions.DONE: lambda: None})
    exec(compile(program.kernel_source, "<test>", "exec"), namespace)
    return program.assertions[0], published


@pytest.mark.parametrize(("expression", "template"), [
    ("np.allclose(H, 0.379949, atol=1e-6)", "np.allclose(__operand__(0), 0.379949, atol=1e-06)"),
    ("isinstance(H, np.ndarray) and H.shape == (1, 1)",
     "isinstance(__operand__(0), np.ndarray) and __operand__(1).shape == (1, 1)"),
    ("H32.dtype == np.float32", "__operand__(0).dtype == np.float32"),
    ("len(result) == 3", "__operand__(0) == 3"),
    ("isinstance(machine, StateMachine)", "__operand__(0)"),
    ("np.isclose(loss, math.log(4))", "np.isclose(__operand__(0), math.log(4))"),
    ("all(math.isfinite(v) for v in losses)",
     "all((math.isfinite(v) for v in __operand__(0)))"),
    ("np.all(np.isfinite(history))", "np.all(np.isfinite(__operand__(0)))"),
    ("np.allclose(H, 0.5 * np.tanh([[1.0, -0.5]]))",
     "np.allclose(__operand__(0), 0.5 * np.tanh([[1.0, -0.5]]))"),
])
def test_comparisons_stay_on_the_trusted_side(expression, template):
    assertion = assertions.instrument(f"assert {expression}").assertions[0]
    assert assertion.template == template


def test_a_patched_kernel_cannot_make_an_assertion_pass():
    # The kernel's numpy says everything is close; the grader's numpy decides.
    class LyingNumpy:
        ndarray = np.ndarray

        @staticmethod
        def allclose(*args, **kwargs):
            return True

    program = assertions.instrument("H = np.zeros(3)\nassert np.allclose(H, [1.0, 2.0, 3.0])")
    published = []
    namespace = {"np": LyingNumpy, assertions.DONE: lambda: None,
                 assertions.OBSERVE: lambda i, ops, msg: published.append(
                     payload.round_trip([["ok", f()] for f in ops]))}
    namespace["np"].zeros = np.zeros
    exec(compile(program.kernel_source, "<test>", "exec"), namespace)
    verdict = assertions.evaluate(program.assertions[0], published[0])
    assert not verdict.passed


@pytest.mark.parametrize("liar", [
    type("Anything", (), {"__eq__": lambda self, other: True, "__bool__": lambda self: True,
                          "shape": (2,)}),
    type("Liar", (np.ndarray,), {"__eq__": lambda self, other: True}),
])
def test_objects_that_lie_in_comparisons_arrive_as_plain_data(liar):
    value = liar() if not issubclass(liar, np.ndarray) else np.zeros(2).view(liar)
    assertion, observed = _observe_values("H == 5 and H.shape == (2,)", {"H": value})
    assert not assertions.evaluate(assertion, observed[0]).passed


def test_an_operand_that_raised_fails_only_when_it_is_needed():
    assertion = assertions.instrument(
        "assert isinstance(H, np.ndarray) and H.shape == (1, 1)").assertions[0]
    # H is None: the shape operand raised in the kernel, but the test short-circuits.
    verdict = assertions.evaluate(assertion, [["ok", None], ["raised", "AttributeError"]])
    assert not verdict.passed and verdict.message == ""
    needed = assertions.instrument("assert H.sum() > 0").assertions[0]
    verdict = assertions.evaluate(needed, [["raised", "ZeroDivisionError"]])
    assert not verdict.passed and verdict.message == "raised ZeroDivisionError"


def test_the_truth_of_an_assertion_is_strict():
    assertion = assertions.instrument("assert flag").assertions[0]
    assert assertions.evaluate(assertion, [["ok", True]]).passed
    assert not assertions.evaluate(assertion, [["ok", payload.Opaque("x.Truthy")]]).passed
    assert not assertions.evaluate(assertion, [["ok", "a non-empty string"]]).passed
    assert not assertions.evaluate(assertion, ["not", "a list of pairs"]).passed


def test_the_trusted_side_evaluates_no_student_code():
    # A template can only use its operands, numpy, math and a few builtins.
    assertion = assertions.instrument("assert __import__('os').system('true') == 0").assertions[0]
    assert assertion.template == "__operand__(0) == 0"


def test_kernel_side_observation_records_errors_instead_of_raising(monkeypatch):
    published = []
    monkeypatch.setattr("grader.checks._publish", lambda mime, doc: published.append(doc))
    _observe(3, (lambda: 1.5, lambda: 1 / 0), lambda: "custom message")
    document = published[0]
    assert document["name"] == "__assert__:3" and document["message"] == "custom message"
    assert payload.decode(document["value"]) == [["ok", 1.5], ["raised", "ZeroDivisionError"]]


# --------------------------------------------------------------------------- staging


def test_staging_copies_regular_files_and_refuses_the_rest(tmp_path):
    source = tmp_path / "submitted" / "alice" / "ps1"
    (source / "data").mkdir(parents=True)
    (source / "ps1.ipynb").write_text('{"cells": []}')
    (source / "data" / "notes.txt").write_text("mine")
    (source / "classmate.ipynb").symlink_to(tmp_path / "elsewhere.ipynb")
    (source / "etc").symlink_to("/etc", target_is_directory=True)
    os.mkfifo(source / "pipe.ipynb")
    (tmp_path / "gradebook.db").write_text("secret")
    os.link(tmp_path / "gradebook.db", source / "copy.db")
    staged = staging.stage_submission(str(source), str(tmp_path / "staged"))
    assert staged.refused is None
    assert staged.files == ["data/notes.txt", "ps1.ipynb"]
    reasons = {p["file"]: p["detail"] for p in staged.problems}
    assert "symbolic link" in reasons["classmate.ipynb"]
    assert "symbolic link" in reasons["etc"] or "directory" in reasons["etc"]
    assert "FIFO" in reasons["pipe.ipynb"]
    assert "hard link (2 names)" in reasons["copy.db"]
    assert not os.path.islink(tmp_path / "staged" / "etc")


def test_the_digest_covers_exactly_the_staged_bytes(tmp_path):
    source = tmp_path / "s"
    source.mkdir()
    (source / "a.ipynb").write_text("one")
    first = staging.stage_submission(str(source), str(tmp_path / "x")).digest
    (source / "link").symlink_to(source / "a.ipynb")  # not staged: digest unchanged
    assert staging.stage_submission(str(source), str(tmp_path / "x")).digest == first
    (source / "a.ipynb").write_text("two")
    assert staging.stage_submission(str(source), str(tmp_path / "x")).digest != first


def test_a_linked_submission_directory_is_refused_whole(tmp_path):
    real = tmp_path / "bob" / "ps1"
    real.mkdir(parents=True)
    (real / "ps1.ipynb").write_text("{}")
    (tmp_path / "mallory").symlink_to(tmp_path / "bob", target_is_directory=True)
    staged = staging.stage_submission(str(tmp_path / "mallory" / "ps1"), str(tmp_path / "out"),
                                      must_not_be_links=(str(tmp_path / "mallory"),))
    assert staged.directory is None and "symbolic link" in staged.refused


def test_limits_on_size_count_and_depth(tmp_path, monkeypatch):
    monkeypatch.setattr(staging, "MAX_FILE_BYTES", 100)
    monkeypatch.setattr(staging, "MAX_FILES", 3)
    monkeypatch.setattr(staging, "MAX_DIR_DEPTH", 2)
    source = tmp_path / "s"
    (source / "a" / "b" / "c").mkdir(parents=True)
    (source / "big.bin").write_bytes(b"x" * 101)
    for i in range(5):
        (source / f"f{i}.txt").write_text("ok")
    (source / "a" / "b" / "c" / "deep.txt").write_text("too deep")
    staged = staging.stage_submission(str(source), str(tmp_path / "out"))
    details = " ".join(p["detail"] for p in staged.problems)
    assert "over the limit of" in details and "past the limit of 3 files" in details
    assert "nested deeper than 2 directories" in details
    assert len(staged.files) == 3


@pytest.mark.skipif(os.geteuid() != 0, reason="creating a device node needs root")
def test_a_device_is_never_read(tmp_path):
    source = tmp_path / "s"
    source.mkdir()
    os.mknod(source / "zero.ipynb", 0o644 | stat.S_IFCHR, os.makedev(1, 5))
    staged = staging.stage_submission(str(source), str(tmp_path / "out"))
    assert staged.files == [] and "character device" in staged.problems[0]["detail"]


@pytest.mark.parametrize(("text", "depth"), [
    ("[]", 1), ('{"a": [1, [2]]}', 3), ('"[[[["', 0), ('["\\"[[", [1]]', 2),
    ('["a\\\\", [[1]]]', 3), ('{"k": "}}}}"}', 1),
])
def test_json_depth_ignores_brackets_in_strings(text, depth):
    json.loads(text)
    assert staging.json_depth(text) == depth


def test_deep_json_is_a_recorded_problem_not_a_recursion_error():
    deep = "[" * 100_000 + "]" * 100_000
    with pytest.raises(staging.UntrustedData, match="nested 100000 levels deep"):
        staging.loads(deep)
    with pytest.raises(payload.PayloadError, match="nested"):
        payload.decode(deep)
    with pytest.raises(verdicts.RecordError, match="nested"):
        verdicts.parse_record('{"name": "x", "value": "1", "o": ' + deep + "}")
    assert verdicts.parse_event("{\"kind\": " * 10_000 + "1" + "}" * 10_000) is None


# --------------------------------------------------------------------------- feedback text


def test_verdict_messages_never_carry_student_strings():
    value = ["error: SECRET_HIDDEN_SOURCE", payload.Opaque("mod.Exfiltrated_Name")]
    messages = ["case 1: raised SECRET_HIDDEN_SOURCE", "got an object of type mod.Exfiltrated_Name",
                "expected 4 results"]
    cleaned = verdicts.scrub(messages, value)
    assert "SECRET" not in " ".join(cleaned) and "Exfiltrated" not in " ".join(cleaned)
    assert cleaned[2] == "expected 4 results"
    assert all(len(m) <= verdicts.MAX_SHOWN_CHARS for m in verdicts.scrub(["x" * 5000], None))
    assert len(verdicts.scrub(["m"] * 50, None)) == verdicts.MAX_SHOWN


# --------------------------------------------------------------------------- worker deaths


def test_a_killed_worker_is_charged_to_its_submission_alone(tmp_path):
    """Four submissions on a local Dask cluster of two workers; one kills its worker every time."""
    from grading_corpus import killer

    from grader import cluster, grading
    from grader.executor import ExecutionSettings

    context = grading.GradingContext("ps", {}, {}, ExecutionSettings(), set())
    tasks = [{"student": s, "result_path": str(tmp_path / f"{s}.json"), "fingerprint": s,
              "timestamp": None, "autograded_dir": str(tmp_path / "autograded" / s)}
             for s in ("ann", "killer", "bob", "cy")]
    failed: list[str] = []
    with cluster.Engine(workers=2) as engine:
        summaries = {s["student"]: s for s in engine.grade(
            context, tasks, failed, progress=False, task_function=killer.grade)}
    assert failed == []  # not exit status 3: a recorded result
    assert summaries["killer"]["attention"] and summaries["killer"]["score"] == 0.0
    assert "killed the grading process 2 times" in json.dumps(summaries["killer"])
    for student in ("ann", "bob", "cy"):
        assert summaries[student] == killer.graded(student), student
    recorded = json.loads((tmp_path / "killer.json").read_text())
    assert recorded["problems"][0]["kind"] == "worker-died"


def test_a_grader_failure_is_retried_once_then_recorded(tmp_path):
    """Exit status 3 ("run again") once; the same failure on the same bytes is then a result."""
    from grader import autograde, grading
    from grader.executor import ExecutionSettings

    context = grading.GradingContext("ps", {}, {}, ExecutionSettings(), set())
    task = {"student": "odd", "result_path": str(tmp_path / "odd.json"), "fingerprint": "f1"}
    failed: list[str] = []
    first = autograde._grader_failure(context, task, RecursionError("deep"), failed)
    assert failed == ["odd"] and first["retry"]
    assert autograde._load_result(task["result_path"], "f1") is None  # graded again next run
    failed.clear()
    second = autograde._grader_failure(context, task, RecursionError("deep"), failed)
    assert failed == [] and "retry" not in second and second["attention"]
    assert "failed twice" in second["problems"][0]["detail"]
    assert autograde._load_result(task["result_path"], "f1") == second
    # New bytes (a new fingerprint) get a fresh first try.
    assert autograde._load_result(task["result_path"], "f2") is None


def test_code_too_deep_or_too_long_to_scan_is_flagged_not_a_grader_error():
    from grader.integrity import scan_code

    deep = "x = " + "1 + " * 200_000 + "1"
    assert [f["rule"] for f in scan_code([(0, deep)], set())] == ["unscannable"]
    long = "x = 1\n" * 300_000
    assert "characters of code" in scan_code([(3, long)], set())[0]["detail"]


def test_json_depth_of_a_long_string_costs_little_memory():
    """A notebook with a 20 MB output: the depth scan must not hold state per character."""
    import tracemalloc

    text = '{"cells": [{"outputs": [{"text": "' + "0123456789abcdef" * (20 << 16) + '"}]}]}'
    tracemalloc.start()
    try:
        assert staging.json_depth(text) == 5
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 3 * len(text), f"{peak >> 20} MiB for a {len(text) >> 20} MiB text"


def test_words_students_can_read_anyway_are_not_scrubbed():
    value = {"outputs": ["wrong"], "error": "evil hidden text"}
    public = verdicts.public_words(["def run(f):\n    outputs = f()  # wrong or right"])
    cleaned = verdicts.scrub(["parity: wrong outputs on 3 of 4", "raised evil hidden text"],
                             value, public)
    assert cleaned == ["parity: wrong outputs on 3 of 4", "raised [your text]"]
