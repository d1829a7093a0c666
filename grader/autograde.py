"""``python -m grader autograde``: grade every submission of an assignment.

Flow (parent process):

1. read the assignment from the gradebook (it must have been generated with
   ``nbgrader generate_assignment``) and the source notebooks;
2. build the sandbox's copies: ``rnn_lib`` with the graded functions gutted,
   the kernel side of the course's test helpers (:mod:`grader.tripwire`);
3. run the reference solution once per notebook (cached) to learn each test
   cell's checks; stop with exit status 2 if the reference fails its own tests;
4. grade the submissions on Dask workers (:mod:`grader.cluster`: a LocalCluster
   of one worker per core, or the instructor's scheduler with ``--scheduler``);
   the course material travels once per run as a bundle named by its digest,
   each submission as its staged bytes, each result back as plain data. The
   parent writes each result to ``.grader/results/<assignment>/<student>.json``
   atomically and the executed notebook to ``autograded/``, and commits each
   result to the gradebook as it arrives (workers never open the database);
5. print a per-student summary and the submissions that need attention.

Resume: a result file whose fingerprint (submission files, reference checks,
grader version and settings) still matches is not graded again, only committed
again, which changes nothing if it was committed before. Killing the command at
any moment and starting it again therefore loses no grade and counts none twice.

Exit status: 0 all graded, nothing needs attention; 1 all graded, some
submissions need attention (crash, timeout, integrity flag, tampering, missing,
refused or unreadable notebook, a worker killed by the submission, a grader
failure seen twice on the same bytes); 2 usage or course error (nothing
graded); 3 some submissions could not be graded because of a grader error seen
for the first time (run again to finish); 130 interrupted.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import sys
import time
from collections.abc import Callable

import grader
from grader import cluster, grading, notebook, sandbox, staging, tripwire
from grader.course import Course, CourseError
from grader.executor import ExecutionSettings
from grader.grading import GradingContext, ReferenceOutcome

EXIT_OK, EXIT_ATTENTION, EXIT_USAGE, EXIT_INCOMPLETE, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


class ReferenceFailure(CourseError):
    """The instructor's solution does not pass its own tests."""


@dataclasses.dataclass
class AutogradeOptions:
    course: str
    assignment: str
    students: list[str] | None = None
    workers: int | None = None  # LocalCluster size (default: one per core)
    scheduler: str | None = None  # an external Dask scheduler's address
    serial: bool = False  # grade in this process (debugging, equality baselines)
    force: bool = False
    use_sandbox: bool = True
    limits: sandbox.Limits = dataclasses.field(default_factory=sandbox.Limits)
    cell_timeout: float = 300.0
    notebook_timeout: float = 1800.0
    progress: bool = True


@dataclasses.dataclass
class AutogradeReport:
    exit_code: int
    summaries: list[dict]
    graded: int = 0
    resumed: int = 0
    failed: list[str] = dataclasses.field(default_factory=list)
    elapsed: float = 0.0
    sandboxed: bool = True
    table: list[dict] = dataclasses.field(default_factory=list)  # grader.term.totals rows
    engine: str = ""  # where the submissions were graded
    first_grade: float | None = None  # seconds from the command's start to the first commit


def _digest(*parts: bytes | str) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part if isinstance(part, bytes) else part.encode())
        h.update(b"\0")
    return h.hexdigest()


def _settings_digest(settings: ExecutionSettings) -> str:
    return _digest(json.dumps(dataclasses.asdict(settings.limits), sort_keys=True),
                   str(settings.cell_timeout), str(settings.notebook_timeout),
                   str(settings.use_sandbox and sandbox.bwrap_executable() is not None))


def _mpl_cache(state_dir: str) -> str | None:
    """A copy of the host's matplotlib font list, so kernels skip the font scan."""
    target = os.path.join(state_dir, "mpl")
    if os.path.isdir(target) and os.listdir(target):
        return target
    try:
        import matplotlib
        import matplotlib.font_manager  # noqa: F401 - builds the font list if missing
    except Exception:  # noqa: BLE001 - no matplotlib: kernels simply build their own
        return None
    source = matplotlib.get_cachedir()
    os.makedirs(target, exist_ok=True)
    for name in os.listdir(source):
        if name.startswith("fontlist") and name.endswith(".json"):
            shutil.copyfile(os.path.join(source, name), os.path.join(target, name))
    return target


class Grader:
    """Prepares one assignment for grading (models, sandbox copies, reference checks)."""

    def __init__(self, course: Course, assignment: str, settings: ExecutionSettings,
                 log: Callable[[str], None] = print):
        self.course, self.assignment, self.settings, self.log = course, assignment, settings, log
        from nbgrader.api import Gradebook, MissingEntry

        with Gradebook(course.db_url) as gb:
            try:
                row = gb.find_assignment(assignment)
            except MissingEntry:
                raise CourseError(
                    f"assignment {assignment!r} is not in the gradebook {course.db_url}; run "
                    f"`nbgrader generate_assignment {assignment}` in {course.root} first") from None
            names = sorted(nb.name for nb in row.notebooks)
            if not names:
                raise CourseError(f"assignment {assignment!r} has no notebooks in the gradebook")
            self.models = {}
            for name in names:
                path = course.source_notebook(assignment, name)
                if not os.path.exists(path):
                    raise CourseError(f"source notebook {path} is missing")
                self.models[name] = notebook.load_model(gb, assignment, name, path)
        self.graded_names: set[str] = set()
        for name in names:
            self.graded_names |= tripwire.graded_names(course.source_notebook(assignment, name))

    def prepare_sandbox(self) -> None:
        """Build the sandbox's package copies and fill in the settings that use them."""
        base = os.path.join(self.course.state_dir, "sandbox", self.assignment)
        overlays = []
        try:
            rnn_lib_dir = sandbox.package_dir("rnn_lib")
        except sandbox.SandboxUnavailable:
            rnn_lib_dir = None
        if rnn_lib_dir:
            copy = os.path.join(base, "rnn_lib")
            _build_once(copy, [rnn_lib_dir], sorted(self.graded_names),
                        lambda: tripwire.tripwire_package(rnn_lib_dir, self.graded_names, copy))
            overlays.append((copy, rnn_lib_dir))
        helpers = None
        if self.course.helpers_dir:
            helpers = os.path.join(base, "helpers")
            _build_once(helpers, [self.course.helpers_dir], [],
                        lambda: tripwire.kernel_side_helpers(self.course.helpers_dir, helpers))
        scratch = os.path.join("/tmp" if os.path.isdir("/tmp") else base, "grader-scratch")
        os.makedirs(scratch, exist_ok=True)
        self.settings = dataclasses.replace(
            self.settings, ro_overlays=overlays, helpers_dir=helpers,
            pythonpath_host=[helpers] if helpers else [], mpl_cache_dir=_mpl_cache(
                self.course.state_dir), scratch_dir=scratch)

    def reference_key(self, name: str) -> str:
        model = self.models[name]
        with open(self.course.source_notebook(self.assignment, name), "rb") as f:
            source = f.read()
        return _digest(grader.__version__, source,
                       json.dumps(model.gradebook_source, sort_keys=True),
                       json.dumps(model.max_scores, sort_keys=True),
                       tripwire.tree_digest([self.course.helpers_dir,
                                             os.path.dirname(grader.__file__)]),
                       tripwire.tree_digest([_rnn_lib_dir()]), _settings_digest(self.settings))

    def references(self) -> dict[str, ReferenceOutcome]:
        """Run (or load) the reference for every notebook; raise if any fails."""
        outcomes, problems = {}, []
        if self.course.helpers_dir and self.course.helpers_dir not in sys.path:
            sys.path.insert(0, self.course.helpers_dir)  # verdicts of the reference run
        for name, model in self.models.items():
            key = self.reference_key(name)
            path = os.path.join(self.course.state_dir, "reference", self.assignment, f"{name}.json")
            outcome = None
            if os.path.exists(path):
                with open(path) as f:
                    cached = json.load(f)
                if cached.get("key") == key:
                    outcome = ReferenceOutcome.from_json(cached["outcome"])
            if outcome is None:
                self.log(f"Running the reference solution of {self.assignment}/{name} ...")
                outcome = grading.run_reference(model, self.settings,
                                                self.course.path("source", ".", self.assignment),
                                                self.assignment)
                if not outcome.problems:
                    grading._atomic_write(path, json.dumps({"key": key,
                                                            "outcome": outcome.to_json()}))
            problems += outcome.problems
            outcomes[name] = outcome
        if problems:
            raise ReferenceFailure("the reference solution does not pass its own tests:\n  "
                                   + "\n  ".join(problems))
        self.reference_keys = {name: self.reference_key(name) for name in self.models}
        return outcomes

    def context(self, outcomes: dict[str, ReferenceOutcome]) -> GradingContext:
        return GradingContext(self.assignment, self.models,
                              {name: o.specs for name, o in outcomes.items()}, self.settings,
                              self.graded_names, self.course.helpers_dir,
                              {name: o.assert_counts for name, o in outcomes.items()})

    def fingerprint(self, student: str, staged_digest: str) -> str:
        """What a result depends on: the student, the reference checks and the staged bytes."""
        return _digest(student, json.dumps(self.reference_keys, sort_keys=True), staged_digest)

    def stage(self, student: str) -> staging.Staged:
        """Copy ``submitted/<student>/<assignment>/`` into a private directory (never followed)."""
        source = self.course.path("submitted", student, self.assignment)
        target = os.path.join(self.course.state_dir, "staging", self.assignment, student)
        return staging.stage_submission(source, target, must_not_be_links=(os.path.dirname(
            os.path.normpath(source)),))


def _build_once(target: str, sources: list[str], extra: list[str], build: Callable) -> None:
    """Run ``build`` unless ``target`` was built from the same sources by this grader version."""
    key = _digest(grader.__version__, tripwire.tree_digest(sources),
                  tripwire.tree_digest([os.path.dirname(tripwire.__file__)]), *extra)
    stamp = os.path.join(target, ".grader-build")
    if os.path.exists(stamp):
        with open(stamp) as f:
            if f.read() == key:
                return
    build()
    with open(stamp, "w") as f:
        f.write(key)


def _rnn_lib_dir() -> str | None:
    try:
        return sandbox.package_dir("rnn_lib")
    except sandbox.SandboxUnavailable:
        return None


def _read_result(path: str) -> dict | None:
    try:
        with open(path) as f:
            summary = json.load(f)
    except (OSError, json.JSONDecodeError):
        return None
    return summary if isinstance(summary, dict) else None


def _load_result(path: str, fingerprint: str) -> dict | None:
    """A finished result for these exact staged bytes (a grader failure to retry is not one)."""
    summary = _read_result(path)
    if summary is None or summary.get("fingerprint") != fingerprint or summary.get("retry"):
        return None
    return summary


def _grader_failure(context: GradingContext, task: dict, error: BaseException,
                    failed: list[str]) -> dict:
    """The grader itself failed on a submission: retry once (exit 3), then record it (exit 1).

    A failure that repeats on the same staged bytes is the submission's doing as far as
    the class is concerned: it becomes a recorded result needing attention, so that no
    submission can hold the whole run at "incomplete" forever.
    """
    detail = f"{type(error).__name__}: {error}"
    previous = _read_result(task["result_path"])
    again = bool(previous and previous.get("fingerprint") == task["fingerprint"]
                 and previous.get("retry"))
    summary = grader_error_summary(task["student"], context.assignment, detail)
    summary["fingerprint"] = task["fingerprint"]
    if again:
        summary["problems"][0]["detail"] = (f"the grader failed twice on this submission; it is "
                                            f"recorded as not graded: {detail}")[:2000]
    else:
        summary["retry"] = True
        failed.append(task["student"])
    grading._atomic_write(task["result_path"], json.dumps(summary, indent=1, sort_keys=True))
    return summary


def _timestamp(staged_dir: str | None) -> str | None:
    """The submission's ``timestamp.txt`` (from the staged copy), if it holds a date."""
    path = os.path.join(staged_dir, "timestamp.txt") if staged_dir else ""
    if not os.path.isfile(path) or os.path.getsize(path) > 200:
        return None
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read().strip()
    if not text:
        return None
    from nbgrader.utils import parse_utc

    try:
        parse_utc(text)
    except ValueError:
        return None
    return text


def grader_error_summary(student: str, assignment: str, error: str) -> dict:
    return {"student": student, "assignment": assignment, "notebooks": [], "score": 0.0,
            "max_score": 0.0, "attention": True,
            "problems": [{"kind": "grader-error", "detail": error[:2000]}]}


def autograde(options: AutogradeOptions, log: Callable[[str], None] = print) -> AutogradeReport:
    """Grade the assignment (see the module docstring); never raises for a student's work.

    The whole run holds the problem set's lock (:mod:`grader.dblock`): a second
    run on the same problem set, from any machine, is refused with the holder's name.
    """
    from grader import dblock

    with dblock.assignment_lock(Course(options.course), options.assignment):
        return _autograde(options, log)


def _autograde(options: AutogradeOptions, log: Callable[[str], None]) -> AutogradeReport:
    started = time.monotonic()
    course = Course(options.course)
    # The cluster starts (or connects) in the background while the gradebook is backed
    # up, the reference loaded and the submissions staged, when anything looks ungraded.
    students = course.submitted_students(options.assignment)
    pending = [s for s in students if options.force or (options.students and s in options.students)
               or not os.path.exists(course.result_path(options.assignment, s))]
    workers = min(options.workers or os.cpu_count() or 1, max(len(pending), 1))
    with cluster.Engine(options.scheduler, workers, options.serial, log) as engine:
        if pending and not options.serial:
            engine.warm_up()
        return _grade_all(options, log, course, engine, started)


def _grade_all(options: AutogradeOptions, log: Callable[[str], None], course: Course,
               engine: cluster.Engine, started: float) -> AutogradeReport:
    settings = ExecutionSettings(limits=options.limits, cell_timeout=options.cell_timeout,
                                 notebook_timeout=options.notebook_timeout,
                                 use_sandbox=options.use_sandbox)
    sandboxed = options.use_sandbox and sandbox.bwrap_executable() is not None
    if not sandboxed:
        sandbox.warn_unsandboxed()
    from grader import term

    backup = term.backup_gradebook(course)  # also refuses a corrupt or locked gradebook
    if backup:
        log(f"Backed up the gradebook to {backup} (the last {term.BACKUPS_KEPT} are kept; "
            f"`python -m grader restore` puts the newest back).")
    reaped = sandbox.reap_stale_sandboxes()
    if reaped:
        log(f"Killed the leftover processes of {reaped} sandbox(es) from an earlier run.")
    prepared = Grader(course, options.assignment, settings, log)
    prepared.prepare_sandbox()
    outcomes = prepared.references()
    context = prepared.context(outcomes)

    students = course.submitted_students(options.assignment)
    from nbgrader.api import Gradebook  # the parent only: workers never import nbgrader

    with Gradebook(course.db_url) as gb:
        known, closed = set(term.roster(gb)), term.roster_is_closed(gb, course)
    strangers = [s for s in students if s not in known] if closed else []
    students = [s for s in students if s not in strangers]
    if options.students:
        unknown = sorted(set(options.students) - set(students))
        if unknown:
            raise CourseError(f"--student: no submission of {options.assignment} for "
                              f"{', '.join(unknown)}")
        students = [s for s in students if s in set(options.students)]
    tasks, cached, refused = [], [], []
    for student in students:
        staging_started = time.monotonic()
        staged = prepared.stage(student)
        stage_seconds = time.monotonic() - staging_started
        fingerprint = prepared.fingerprint(student, staged.digest)
        result_path = course.result_path(options.assignment, student)
        if staged.refused is not None:
            refused.append(grading.refused_submission(context, student, staged.refused,
                                                      result_path, fingerprint))
            continue
        previous = None if options.force else _load_result(result_path, fingerprint)
        if previous is not None:
            cached.append(previous)
            continue
        tasks.append({"student": student, "submission_dir": staged.directory,
                      "autograded_dir": course.path("autograded", student, options.assignment),
                      "result_path": result_path, "fingerprint": fingerprint,
                      "timestamp": _timestamp(staged.directory),
                      "staging_problems": staged.problems, "stage_seconds": stage_seconds})

    from grader.gradebook import commit_with_retry

    summaries: dict[str, dict] = {}
    failed: list[str] = []
    plugin = term.late_plugin(course)

    def commit(gb, summary: dict) -> None:
        flags = commit_with_retry(gb, summary, course, plugin, log=log)  # waits out an outage
        summary["hand_flags"] = flags

    with Gradebook(course.db_url) as gb:
        for summary in cached + refused:
            commit(gb, summary)
            summaries[summary["student"]] = summary
        first_grade, described = None, ""
        if tasks:
            engine.start()
            log(f"Grading {len(tasks)} submission(s) of {options.assignment} on "
                f"{engine.description}"
                + (f"; {len(cached)} already graded" if cached else "") + ".")
            described = engine.description
            for summary in engine.grade(context, tasks, failed, options.progress):
                if summary.get("notebooks"):
                    commit(gb, summary)
                if first_grade is None:
                    first_grade = time.monotonic() - started
                summaries[summary["student"]] = summary
        table = term.class_table(gb, course, options.assignment, options.students)
    ordered = [summaries[s] for s in students if s in summaries]
    for summary in ordered:
        if summary.get("hand_flags"):
            summary["attention"] = True
    for stranger in strangers:
        ordered.append({"student": stranger, "assignment": options.assignment, "notebooks": [],
                        "score": 0.0, "max_score": 0.0, "attention": True, "problems": [
                            {"kind": "not-on-roster", "detail": f"{stranger} is not on the "
                             f"roster: not graded, not added (add them with `nbgrader db "
                             f"student add {stranger}` or `python -m grader roster FILE`)"}]})
    attention = any(s.get("attention") for s in ordered)
    code = EXIT_INCOMPLETE if failed else (EXIT_ATTENTION if attention else EXIT_OK)
    return AutogradeReport(code, ordered, graded=len(tasks) - len(failed), resumed=len(cached),
                           failed=failed, elapsed=time.monotonic() - started, sandboxed=sandboxed,
                           table=table, engine=described, first_grade=first_grade)
