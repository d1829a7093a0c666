"""Grading one notebook of one submission, and the reference run behind it.

Both run in worker processes (or the parent, for the reference). Nothing here
touches the gradebook: results are plain dictionaries written to disk by
:mod:`grader.autograde` and committed to the gradebook by the parent process.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sys
import time
from typing import Any

import nbformat

from grader import assertions, integrity, notebook, payload
from grader.checks import neutral_call
from grader.executor import PRESTARTER, ExecutionSettings, NotebookRun, run_cells
from grader.notebook import (
    ROLE_LOCKED,
    ROLE_MANUAL,
    ROLE_SOLUTION,
    ROLE_TASK,
    ROLE_TEST,
    NotebookModel,
)
from grader.verdicts import (
    CheckResult,
    CheckSpec,
    RecordError,
    cell_score,
    judge,
    missing_reason,
    parse_event,
    parse_record,
    public_words,
    run_verdict,
    safe_error_name,
)

# Problems that put a submission on the instructor's attention list.
ATTENTION = {"crash", "timeout", "integrity", "tamper", "missing", "malformed", "kernel-start",
             "gave-up", "verdict-error", "grader-error", "unsandboxed", "refused", "refused-file",
             "worker-died", "limit", "not-on-roster", "changed-since-hand-graded"}


@dataclasses.dataclass
class GradingContext:
    """Everything a worker needs to grade any submission of one assignment (picklable)."""

    assignment: str
    models: dict[str, NotebookModel]
    specs: dict[str, dict[str, list[CheckSpec]]]  # notebook -> test cell -> checks
    settings: ExecutionSettings
    graded_names: set[str]
    helpers_trusted: str | None = None  # importable verdict modules live here
    assert_counts: dict[str, dict[str, dict[str, int]]] = dataclasses.field(default_factory=dict)


_PUBLIC: dict[tuple[str | None, str], frozenset[str]] = {}


def _public_words(context: GradingContext, model: NotebookModel) -> frozenset[str]:
    """Words students can read anyway: the released cells and the helpers' kernel-side copy."""
    helpers = context.settings.helpers_dir  # the copy mounted in the sandbox, not the oracles
    key = (helpers, model.name)
    if key not in _PUBLIC:
        texts = [model.release_source(g) for g in model.gradebook_source]
        if helpers and os.path.isdir(helpers):
            for root, _, files in os.walk(helpers):
                for name in files:
                    if name.endswith(".py"):
                        with open(os.path.join(root, name), encoding="utf-8") as f:
                            texts.append(f.read())
        _PUBLIC[key] = public_words(texts)
    return _PUBLIC[key]


def prepare_worker(context: GradingContext) -> None:
    """Make the course's trusted helpers importable for verdicts (worker processes)."""
    path = context.helpers_trusted
    if path and path not in sys.path:
        sys.path.insert(0, path)


def release_worker() -> None:
    """Kill this process's spare kernel, if any (call it when a grading worker stops).

    :func:`grade_submission` starts the kernel of the worker's next notebook ahead of
    need (:class:`grader.executor.KernelPrestarter`); the spare is also killed at the
    process's normal exit (``atexit`` and multiprocessing's finalizers), and dies with
    the process if it is killed (``bwrap --die-with-parent``). Safe to call at any
    time and more than once; the next submission then simply starts its own kernel.
    """
    PRESTARTER.release()


def prestart_enabled() -> bool:
    """Kernels started ahead of need, unless ``GRADER_PRESTART=0`` (comparisons, debugging)."""
    return os.environ.get("GRADER_PRESTART", "1").strip().lower() not in ("0", "no", "false",
                                                                          "off")


_MODEL_PROGRAMS: dict[tuple[str, str, str], dict[str, str]] = {}


def model_programs(context: GradingContext, name: str) -> dict[str, str] | None:
    """The test cells' programs of one of the assignment's notebooks (None: cannot tell).

    They depend on the notebook as the gradebook has it, never on a submission: what
    a kernel started ahead of need may hold before it knows whose notebook it runs.
    """
    model = context.models[name]
    key = (context.assignment, name, hashlib.sha256(json.dumps(
        model.gradebook_source, sort_keys=True).encode()).hexdigest())
    if key not in _MODEL_PROGRAMS:
        try:
            nb, infos = notebook.build_reference(model)
            _MODEL_PROGRAMS[key] = test_programs(model, nb, infos)[1]
        except Exception:  # noqa: BLE001 - no spare then; the notebook itself reports it
            return None
    return _MODEL_PROGRAMS[key]


# --------------------------------------------------------------------------- records per cell


def test_programs(model: NotebookModel, nb: Any, infos: list) -> tuple[list[str | None],
                                                                          dict[str, str], dict]:
    """What the kernel runs: a neutral call per test cell, and each test cell's program.

    Returns (sources, programs, assertion plans by grade id). The test cells' programs
    (asserts rewritten into observations, :mod:`grader.assertions`) reach the kernel
    outside the cell stream, so the kernel's cell history, input transformers and AST
    transformers only ever see ``__grader_cell__('<grade id>')``.
    """
    sources = notebook.code_sources(nb)
    programs, plans = {}, {}
    for index, info in enumerate(infos):
        if info.role != ROLE_TEST or sources[index] is None:
            continue
        try:
            program = assertions.instrument(model.gradebook_source[info.grade_id])
        except assertions.InstrumentError as error:
            raise ValueError(f"{model.name}: test cell {info.grade_id}: {error}") from None
        programs[info.grade_id] = program.kernel_source
        plans[info.grade_id] = program.assertions
        sources[index] = neutral_call(info.grade_id)
    return sources, programs, plans


def _split_documents(documents: dict[str, list[dict]]) -> tuple[dict, dict, bool]:
    """(check records, assertion observations by index, whether the cell reached its end)."""
    checks, observed, done = {}, {}, False
    for name, docs in documents.items():
        if name == assertions.DONE_NAME:
            done = True
        elif name.startswith(assertions.RECORD_PREFIX):
            suffix = name[len(assertions.RECORD_PREFIX):]
            if suffix.isdigit():
                observed[int(suffix)] = docs
        else:
            checks[name] = docs
    return checks, observed, done


def judge_assertions(cell: str, plan: tuple, observed: dict[int, list[dict]], done: bool,
                     expected_counts: dict, reason_missing: str, hidden: bool,
                     points: float) -> CheckResult:
    """One check for all the asserts of a test cell, judged on the trusted side.

    Passes when the cell reached its end, every assertion was observed at least as
    often as in the reference solution's run, and every observation is true.
    Messages: a visible assertion's own message (student text, capped); a hidden
    assertion's never.
    """
    name = "hidden assertions" if hidden else "visible test"

    def failed(message: str) -> CheckResult:
        return CheckResult(cell, name, points, 0.0, "failed", [assertions.clip(message)])

    for assertion in plan:
        docs = observed.get(assertion.index, [])
        for doc in docs:
            try:
                value = payload.decode(doc["value"])
            except payload.PayloadError:
                value = None
            verdict = assertions.evaluate(assertion, value)
            if verdict.passed:
                continue
            if hidden:
                return failed(f"a hidden assertion failed (line {assertion.line})")
            text = assertion.message
            if assertion.kernel_message:
                kernel_text = doc.get("message")
                text = kernel_text if isinstance(kernel_text, str) else None
            detail = f" ({verdict.message})" if verdict.message else ""
            return failed(f"line {assertion.line}: {text or 'assertion failed'}{detail}")
        if len(docs) < int(expected_counts.get(str(assertion.index), 1)):
            return failed(f"line {assertion.line} was not reached: {reason_missing}")
    if not done:
        return failed(f"the cell did not finish: {reason_missing}")
    return CheckResult(cell, name, points, points, "passed", [])


def _cell_documents(run, problems: list[dict], cell_index: int) -> dict[str, list[dict]]:
    documents: dict[str, list[dict]] = {}
    for raw in run.records:
        try:
            document = parse_record(raw["raw"])
        except RecordError as error:
            problems.append({"kind": "integrity", "rule": "malformed-record", "cell": cell_index,
                             "detail": f"a malformed check record was published ({error})"})
            continue
        documents.setdefault(document["name"], []).append(document)
    return documents


def _events(run) -> list[dict]:
    return [e for e in (parse_event(raw["raw"]) for raw in run.events) if e is not None]


# --------------------------------------------------------------------------- reference


@dataclasses.dataclass
class ReferenceOutcome:
    notebook: str
    specs: dict[str, list[CheckSpec]]
    assert_counts: dict[str, dict[str, int]]  # test cell -> assertion index -> observations
    problems: list[str]
    elapsed: float
    sandboxed: bool

    def to_json(self) -> dict:
        return {"notebook": self.notebook, "assert_counts": self.assert_counts,
                "problems": self.problems, "elapsed": self.elapsed, "sandboxed": self.sandboxed,
                "specs": {cell: [s.to_json() for s in specs] for cell, specs in self.specs.items()}}

    @classmethod
    def from_json(cls, data: dict) -> ReferenceOutcome:
        specs = {cell: [CheckSpec(**s) for s in items] for cell, items in data["specs"].items()}
        return cls(data["notebook"], specs, data["assert_counts"], data["problems"],
                   data["elapsed"], data["sandboxed"])


def run_reference(model: NotebookModel, settings: ExecutionSettings, source_dir: str,
                  assignment: str) -> ReferenceOutcome:
    """Run the instructor's solution through the same sandbox and collect the checks.

    Every test cell must pass on the reference solution: no error, every verdict
    giving full points, unique check names, no ``expected=`` in hidden tests,
    no call of a gutted reference function.
    """
    nb, infos = notebook.build_reference(model)
    try:
        sources, programs, plans = test_programs(model, nb, infos)
    except ValueError as error:
        return ReferenceOutcome(model.name, {}, {}, [str(error)], 0.0, False)
    run = run_cells(sources, settings, submission_dir=source_dir, work_name=assignment,
                    mode="grade", programs=programs)
    problems = [f"{p['kind']}: {p['detail']}" for p in run.problems]
    specs: dict[str, list[CheckSpec]] = {}
    counts: dict[str, dict[str, int]] = {}
    for index, (info, cell_run) in enumerate(zip(infos, run.cells, strict=True)):
        label = f"{model.name}: cell {info.grade_id or index}"
        for event in _events(cell_run):
            problems.append(f"{label}: {event.get('kind')} ({event.get('detail')})")
        local: list[dict] = []
        all_documents = _cell_documents(cell_run, local, index)
        problems += [f"{label}: {p['detail']}" for p in local]
        if info.role != ROLE_TEST:
            if all_documents:
                problems.append(f"{label}: record() outside a test cell is ignored by the grader")
            continue
        if cell_run.status != "ok":
            error = _first_error(cell_run)
            problems.append(f"{label}: the reference solution fails this test cell "
                            f"({cell_run.status}: {error or cell_run.detail})")
        documents, observed, done = _split_documents(all_documents)
        plan = plans.get(info.grade_id, ())
        counts[info.grade_id] = {str(a.index): len(observed.get(a.index, [])) for a in plan}
        if plan:
            verdict = judge_assertions(info.grade_id, plan, observed, done, {}, "the reference "
                                       "solution stopped", hidden=False, points=1.0)
            if verdict.status != "passed":
                problems.append(f"{label}: the reference solution fails this test cell's "
                                f"assertions ({'; '.join(verdict.messages)})")
        cell_specs = []
        for name, docs in documents.items():
            if len(docs) > 1:
                problems.append(f"{label}: check {name!r} is recorded {len(docs)} times")
            doc = docs[0]
            if doc.get("has_expected") and info.hidden:
                problems.append(f"{label}: check {name!r} passes expected= in a hidden test; "
                                "the expected value would be visible to the student's code")
            spec = CheckSpec(cell=info.grade_id, name=name, points=_positive(doc.get("points")),
                             verdict=doc.get("verdict") if isinstance(doc.get("verdict"), str)
                             else None, rtol=_nonneg(doc.get("rtol"), 1e-7),
                             atol=_nonneg(doc.get("atol"), 1e-10), reference=doc["value"],
                             options=doc.get("options") if isinstance(doc.get("options"), dict)
                             else {})
            if spec.verdict is not None:
                earned, messages, status, detail = run_verdict(spec, payload.decode(doc["value"]))
                if status != "passed":
                    problems.append(f"{label}: verdict {spec.verdict} gives the reference "
                                    f"solution {earned:g}/{spec.points:g} ({'; '.join(messages)}"
                                    f"{'; ' + detail.splitlines()[-1] if detail else ''})")
            cell_specs.append(spec)
        if cell_specs:
            specs[info.grade_id] = cell_specs
        elif not plan:
            problems.append(f"{label}: the test cell has neither record() checks nor asserts, so "
                            f"the grader has nothing to judge (it never takes 'no error' as a pass)")
    return ReferenceOutcome(model.name, specs, counts, problems, run.elapsed, run.sandboxed)


def _first_error(cell_run) -> str:
    for output in cell_run.outputs:
        if output.get("output_type") == "error":
            return f"{output.get('ename')}: {str(output.get('evalue'))[:300]}"
    return ""


def _positive(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and value > 0 else 1.0


def _nonneg(value: Any, default: float) -> float:
    return float(value) if isinstance(value, int | float) and value >= 0 else default


# --------------------------------------------------------------------------- one notebook


def _empty_grades(model: NotebookModel) -> tuple[dict, dict]:
    """Grades and comments of a notebook that could not be graded (missing or malformed)."""
    grades = {g: {"auto_score": 0.0, "needs_manual_grade": False}
              for g, r in model.roles.items() if r in (ROLE_TEST, ROLE_MANUAL, ROLE_TASK)}
    comments = {g: "No response." for g, r in model.roles.items()
                if r in (ROLE_SOLUTION, ROLE_MANUAL, ROLE_TASK)}
    return grades, comments


def ungraded_notebook(model: NotebookModel, status: str, detail: str) -> dict:
    grades, comments = _empty_grades(model)
    return {"notebook": model.name, "status": status, "score": 0.0,
            "max_score": sum(model.max_scores.values()), "cells": [], "checks": [],
            "grades": grades, "comments": comments,
            "problems": [{"kind": status, "detail": detail}], "attempts": 0, "elapsed": 0.0,
            "sandboxed": None}


def grade_notebook(context: GradingContext, model: NotebookModel, student_nb: Any,
                   submission_dir: str, next_notebook: str | None = None) -> tuple[dict, Any]:
    """Run and judge one submitted notebook; returns (result, executed notebook).

    ``next_notebook``: the notebook this worker will most likely grade next, whose
    kernel is then started ahead of need while this one runs (None: no spare).
    """
    began = time.monotonic()
    nb, infos, flags = notebook.build_submission(model, student_nb)
    problems: list[dict] = list(flags)
    problems += integrity.scan_code(notebook.student_code(nb, infos), context.graded_names)
    sources, programs, plans = test_programs(model, nb, infos)
    prepared = time.monotonic()
    prestarter = PRESTARTER if prestart_enabled() else None
    next_programs = (model_programs(context, next_notebook)
                     if prestarter is not None and next_notebook is not None else None)
    run: NotebookRun = run_cells(sources, context.settings, submission_dir=submission_dir,
                                 work_name=context.assignment, programs=programs,
                                 prestarter=prestarter, next_programs=next_programs)
    judging = time.monotonic()
    problems += [dict(p) for p in run.problems]
    if not run.sandboxed:
        problems.append({"kind": "unsandboxed", "detail": "graded without a sandbox"})
    for cell_run in run.cells:
        problems += integrity.event_flags(cell_run.index, _events(cell_run))
        if cell_run.status in ("crash", "timeout"):
            info = infos[cell_run.index]
            problems.append({"kind": cell_run.status, "cell": cell_run.index,
                             "detail": f"cell {info.grade_id or cell_run.index}: {cell_run.detail}"})
    specs = context.specs.get(model.name, {})
    counts = context.assert_counts.get(model.name, {})
    cells, checks, grades, comments = [], [], {}, {}
    for info, cell_run in zip(infos, run.cells, strict=True):
        if info.grade_id is None:
            continue
        entry = {"grade_id": info.grade_id, "role": info.role, "status": cell_run.status,
                 "error": safe_error_name(cell_run.error_name) if cell_run.error_name else None,
                 "detail": cell_run.detail, "elapsed": round(cell_run.elapsed, 3),
                 "answered": info.answered, "max_score": info.max_score}
        if info.role == ROLE_TEST:
            local: list[dict] = []
            documents, observed, done = _split_documents(
                _cell_documents(cell_run, local, cell_run.index))
            problems += local
            reason = missing_reason(cell_run.status, cell_run.error_name, cell_run.detail)
            cell_specs = specs.get(info.grade_id, [])
            results: list[CheckResult] = [judge(s, documents.get(s.name, []), reason,
                                                public=_public_words(context, model),
                                                hidden=info.hidden) for s in cell_specs]
            plan = plans.get(info.grade_id, ())
            if plan:
                weight = 1.0 if cell_specs else (info.max_score or 1.0)
                results.append(judge_assertions(info.grade_id, plan, observed, done,
                                                counts.get(info.grade_id, {}), reason,
                                                info.hidden, weight))
            for result in results:
                if result.status == "error":
                    problems.append({"kind": "verdict-error", "cell": cell_run.index,
                                     "detail": f"{result.cell}/{result.name}: {result.detail}"})
            checks += [r.to_json() for r in results]
            score = cell_score(info.max_score, results) if results else 0.0
            entry.update(score=score, trusted=True)
            grades[info.grade_id] = {"auto_score": score, "needs_manual_grade": False}
        elif info.role in (ROLE_MANUAL, ROLE_TASK):
            answered = info.answered or info.role == ROLE_TASK
            grades[info.grade_id] = {"auto_score": None if answered else 0.0,
                                     "needs_manual_grade": answered}
            comments[info.grade_id] = None if answered else "No response."
        elif info.role == ROLE_SOLUTION:
            comments[info.grade_id] = None if info.answered else "No response."
        cells.append(entry)
    executed = notebook.attach_outputs(nb, run.cells)
    verdict_outputs(executed, infos, cells, checks)
    score = sum(g["auto_score"] or 0.0 for g in grades.values())
    by_role: dict[str, float] = {}
    for info, cell_run in zip(infos, run.cells, strict=True):
        key = {ROLE_TEST: "test_cells", ROLE_LOCKED: "course_cells"}.get(info.role, "student_cells")
        by_role[key] = by_role.get(key, 0.0) + cell_run.elapsed
    timings = {"prepare": prepared - began, "kernel_start": run.kernel_start,
               "prestarted": float(run.prestarted),
               "course_cells": by_role.get("course_cells", 0.0),
               "student_cells": by_role.get("student_cells", 0.0),
               "test_cells": by_role.get("test_cells", 0.0),
               "judge": time.monotonic() - judging, "run": run.elapsed}
    result = {"notebook": model.name, "status": "graded", "score": round(score, 6),
              "max_score": sum(model.max_scores.values()), "cells": cells, "checks": checks,
              "grades": grades, "comments": comments, "problems": problems,
              "attempts": run.attempts, "elapsed": round(run.elapsed, 3),
              "sandboxed": run.sandboxed, "answers": answer_digests(nb, infos),
              "timings": {k: round(v, 4) for k, v in timings.items()}}
    return result, executed


def answer_digests(nb: Any, infos: list) -> dict[str, str]:
    """What each graded cell's points depend on, as a digest (to notice a changed answer).

    A written answer depends on its own text; a test cell on every solution cell
    of the notebook (the student's code it exercises).
    """
    def digest(text: str) -> str:
        return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]

    code = "\0".join(cell.source for cell, info in zip(nb.cells, infos, strict=True)
                     if info.role == ROLE_SOLUTION)
    out = {}
    for cell, info in zip(nb.cells, infos, strict=True):
        if info.role == ROLE_TEST:
            out[info.grade_id] = digest(code)
        elif info.role in (ROLE_MANUAL, ROLE_TASK):
            out[info.grade_id] = digest(cell.source)
    return out


def verdict_text(cell: dict, checks: list[dict]) -> str:
    """The trusted verdict of one test cell, as formgrader shows it in the cell's output."""
    lines = [f"[grader] {cell['grade_id']}: {cell.get('score', 0):g} / "
             f"{cell.get('max_score') or 0:g} points (judged outside the student's kernel)"]
    for check in checks:
        lines.append(f"  {'PASS' if check['status'] == 'passed' else 'FAIL'} "
                     f"{check['name']}: {check['earned']:g} / {check['points']:g}")
        lines += [f"      {m}" for m in check.get("messages", [])]
    if not checks:
        lines.append(f"  cell status: {cell['status']}")
    return "\n".join(lines) + "\n"


def verdict_outputs(executed: Any, infos: list, cells: list[dict], checks: list[dict]) -> None:
    """Replace each test cell's outputs by the trusted verdict (never the hidden tests' source)."""
    by_cell: dict[str, list[dict]] = {}
    for check in checks:
        by_cell.setdefault(check["cell"], []).append(check)
    entries = {c["grade_id"]: c for c in cells if c["role"] == ROLE_TEST}
    for cell, info in zip(executed.cells, infos, strict=True):
        if info.role == ROLE_TEST and info.grade_id in entries:
            cell.outputs = [nbformat.v4.new_output(
                "stream", name="stdout",
                text=verdict_text(entries[info.grade_id], by_cell.get(info.grade_id, [])))
            ] + list(cell.outputs)


# --------------------------------------------------------------------------- one submission


def _atomic_write(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    temporary = f"{path}.tmp-{os.getpid()}"
    with open(temporary, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(temporary, path)


def _summary(context: GradingContext, student: str, fingerprint: str, timestamp: str | None,
             notebooks: list[dict], problems: list[dict], started: float) -> dict:
    summary = {"student": student, "assignment": context.assignment, "fingerprint": fingerprint,
               "timestamp": timestamp, "notebooks": notebooks, "problems": problems,
               "score": round(sum(n["score"] for n in notebooks), 6),
               "max_score": sum(n["max_score"] for n in notebooks),
               "elapsed": round(time.monotonic() - started, 3)}
    summary["attention"] = needs_attention(summary)
    return summary


def refused_submission(context: GradingContext, student: str, reason: str, result_path: str,
                       fingerprint: str) -> dict:
    """The recorded result of a submission refused as a whole (e.g. a symlinked directory)."""
    notebooks = [ungraded_notebook(model, "refused", f"the submission was not graded: {reason}")
                 for _, model in sorted(context.models.items())]
    summary = _summary(context, student, fingerprint, None, notebooks, [], time.monotonic())
    _atomic_write(result_path, json.dumps(summary, indent=1, sort_keys=True))
    return summary


def worker_killed_summary(context: GradingContext, task: dict, attempts: int) -> dict:
    """The recorded result of a submission whose grading killed its worker every time."""
    reason = (f"grading this submission killed the grading process {attempts} times "
              f"(alone, in a process of its own); nothing of it could be graded")
    notebooks = [ungraded_notebook(model, "worker-died", reason)
                 for _, model in sorted(context.models.items())]
    summary = _summary(context, task["student"], task["fingerprint"], task.get("timestamp"),
                       notebooks, [{"kind": "worker-died", "detail": reason}], time.monotonic())
    _atomic_write(task["result_path"], json.dumps(summary, indent=1, sort_keys=True))
    return summary


def grade_submission(context: GradingContext, student: str, submission_dir: str,
                     autograded_dir: str, result_path: str, fingerprint: str,
                     timestamp: str | None, staging_problems: list[dict] | None = None,
                     stage_seconds: float = 0.0) -> dict:
    """Grade every notebook of one (staged) submission; write the result file atomically."""
    prepare_worker(context)
    started = time.monotonic()
    expected = sorted(context.models)
    present = notebook.notebook_names(submission_dir)
    problems = [{"kind": "extra-notebook", "detail": f"{name}.ipynb is not part of the "
                 f"assignment and was ignored"} for name in present if name not in context.models]
    problems += list(staging_problems or [])
    refused_files = {p.get("file"): p["detail"] for p in staging_problems or []}
    notebooks = []
    for position, name in enumerate(expected):
        model = context.models[name]
        # The worker's next notebook: this submission's next one, or the first of the next.
        following = expected[(position + 1) % len(expected)]
        path = os.path.join(submission_dir, f"{name}.ipynb")
        if f"{name}.ipynb" in refused_files:
            notebooks.append(ungraded_notebook(model, "refused", refused_files[f"{name}.ipynb"]))
            continue
        if os.path.isdir(path):
            notebooks.append(ungraded_notebook(model, "malformed",
                                               f"{name}.ipynb is a directory, not a notebook"))
            continue
        if not os.path.isfile(path):
            notebooks.append(ungraded_notebook(model, "missing", f"{name}.ipynb was not submitted"))
            continue
        try:
            student_nb = notebook.read_submission(path)
        except notebook.MalformedNotebook as error:
            notebooks.append(ungraded_notebook(model, "malformed",
                                               f"{name}.ipynb could not be read: {error}"))
            continue
        result, executed = grade_notebook(context, model, student_nb, submission_dir,
                                          next_notebook=following)
        notebooks.append(result)
        _atomic_write(os.path.join(autograded_dir, f"{name}.ipynb"), nbformat.writes(executed))
    if timestamp is not None:
        _atomic_write(os.path.join(autograded_dir, "timestamp.txt"), timestamp)
    summary = _summary(context, student, fingerprint, timestamp, notebooks, problems, started)
    summary["stage_seconds"] = round(stage_seconds, 4)
    _atomic_write(result_path, json.dumps(summary, indent=1, sort_keys=True))
    return summary


def all_problems(summary: dict) -> list[dict]:
    found = list(summary.get("problems", []))
    for nb in summary.get("notebooks", []):
        found += [dict(p, notebook=nb["notebook"]) for p in nb.get("problems", [])]
    return found


def needs_attention(summary: dict) -> bool:
    return any(p["kind"] in ATTENTION for p in all_problems(summary))
