"""Grading time per notebook: serial vs parallel, sandboxed vs not, vs plain nbgrader.

Grades the same N submissions five ways, each in a fresh copy of the course
(so nothing is resumed) and each as a separate command, timed from start to
exit:

1. ``python -m grader autograde --workers 1``            (serial, sandboxed)
2. ``python -m grader autograde --workers 2``            (parallel, sandboxed)
3. ``python -m grader autograde --workers 1 --no-sandbox`` (serial, no sandbox)
4. ``python -m grader autograde --workers 2 --no-sandbox`` (parallel, no sandbox)
5. ``nbgrader autograde``                                (the baseline: serial, unsandboxed)

By default the course is the grader's fixture course (tests/grading_corpus),
with submissions alternating between a correct and a partly wrong one. With
``--course DIR --assignment NAME`` any generated course whose ``submitted/``
already holds submissions is used instead (it is copied, never modified).

    .venv/bin/python benchmarks/bench_grading.py               # fixture, 8 submissions
    .venv/bin/python benchmarks/bench_grading.py --submissions 16 --repeat 2
    .venv/bin/python benchmarks/bench_grading.py --scheduler   # Dask: serial vs LocalCluster vs scheduler
    .venv/bin/python benchmarks/bench_grading.py --baseline-ref 14cea15  # vs an older grader
    .venv/bin/python benchmarks/bench_grading.py --problem-set ps2_rnn_forward --skip-nbgrader

With ``--empty`` every submission is the released notebook untouched (nothing
answered): what grading costs when the student's code costs nothing, i.e. the fixed
cost per notebook (sandbox, kernel start, course cells, test cells failing,
judging). ``--sandboxed-only`` skips the unsandboxed configurations.

    .venv/bin/python benchmarks/bench_grading.py --problem-set ps2_rnn_forward --empty \
        --skip-nbgrader --sandboxed-only --baseline-ref HEAD~1

With ``--problem-set`` the submissions are copies of that problem set's reference
solution (or of its release, with ``--empty``); the table of where one notebook's
time goes (staging, reading the notebook, sandbox and kernel start, the course's own
cells, the student's cells, the test cells, judging outside the kernel, the
coordinator) is read from the timings the grader writes into each result file, for
this grader and, with ``--baseline-ref``, for the older one side by side.

Every configuration is also timed on one submission alone: that is the fixed
cost of a command (imports, the gradebook, starting workers); the marginal
cost of a notebook is ``(T(n) - T(1)) / (n - 1)``, and the speedup and the
sandbox overhead are computed from it. CPU seconds count the command and all
its descendants (workers, sandboxes, kernels). The reference solution's run is
cached before timing (it happens once per assignment, not per submission).
Results are printed as a table and written to ``--json`` if given. Run it on an
otherwise idle machine.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from grading_corpus import corpus, harness  # noqa: E402


def _fixture_course(base: Path, submissions: int, empty: bool = False) -> tuple[Path, str]:
    course = harness.course_copy(base, "bench-source")
    shutil.rmtree(course / "submitted", ignore_errors=True)
    cases = ([corpus.BY_STUDENT["blank"]] if empty
             else [corpus.BY_STUDENT["honest"], corpus.BY_STUDENT["partial"]])
    for i in range(submissions):
        case = cases[i % 2]
        harness.write_submission(course, dataclasses.replace(case, student=f"student{i:03d}"))
    return course, corpus.ASSIGNMENT


BUILD_FIXTURE = """
import dataclasses, shutil, sys
from pathlib import Path
sys.path.insert(0, "tests")
from grading_corpus import corpus, harness
base, n, empty = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3:] == ["empty"]
base.mkdir(parents=True, exist_ok=True)
course = harness.course_copy(base, "bench-source")
shutil.rmtree(course / "submitted", ignore_errors=True)
cases = ([corpus.BY_STUDENT["blank"]] if empty
         else [corpus.BY_STUDENT["honest"], corpus.BY_STUDENT["partial"]])
for i in range(n):
    harness.write_submission(course, dataclasses.replace(cases[i % 2], student=f"student{i:03d}"))
print(course)
"""


# The environment's editable install (and the sandbox's read-only binds) point at this
# checkout's path; an older revision is therefore run in a private mount namespace where
# its worktree is mounted over this path (with this environment's .venv mounted back in).
SWAP_CHECKOUT = (
    'mkdir -p "$0/.venv" && mount --bind "$1/.venv" "$0/.venv" && mount --rbind "$0" "$1" '
    '&& cd "$1" && shift && exec "$@"')


def _as_revision(worktree: Path, argv: list[str]) -> list[str]:
    """``argv`` run with ``worktree`` in place of this checkout (root: ``unshare -m``)."""
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", SWAP_CHECKOUT,
            str(worktree), str(REPO), *argv]


BUILD_PROBLEM_SET = """
import sys
from pathlib import Path
sys.path.insert(0, "tests")
import assignments_pipeline as pipeline
target, ps, n = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
empty = sys.argv[4:] == ["empty"]
course = pipeline.make_course_copy(target, (ps,))
release = pipeline.load(pipeline.generate(course, ps))
answers = pipeline.reference_answers(pipeline.source_notebook(course, ps))
for i in range(n):
    pipeline.write_submission(course, f"student{i:03d}", ps,
                              release if empty else pipeline.fill_answers(release, answers))
print(course)
"""


def _problem_set_course(worktree: Path | None, target: Path, ps: str, submissions: int,
                        env: dict, empty: bool = False) -> Path:
    """A course of one problem set with ``submissions`` copies of its reference solution."""
    argv = [sys.executable, "-c", BUILD_PROBLEM_SET, str(target), ps, str(submissions),
            *(["empty"] if empty else [])]
    if worktree is not None:
        argv = _as_revision(worktree, argv)
    done = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"building the course of {ps} failed:\n{done.stderr[-3000:]}")
    return Path(done.stdout.strip().splitlines()[-1])


BREAKDOWN = ("stage", "prepare", "kernel_start", "course_cells", "student_cells", "test_cells",
             "judge")


def _breakdown(course: Path, assignment: str) -> dict[str, float]:
    """Mean seconds per notebook of each phase, from the result files of a run."""
    rows = []
    for path in (course / ".grader" / "results" / assignment).glob("*.json"):
        summary = json.loads(path.read_text())
        for nb in summary.get("notebooks", []):
            timings = nb.get("timings")
            if timings:
                rows.append(dict(timings, stage=summary.get("stage_seconds", 0.0),
                                 worker=summary.get("elapsed", 0.0) / len(summary["notebooks"])))
    if not rows:
        return {}
    return {key: statistics.mean(r.get(key, 0.0) for r in rows)
            for key in (*BREAKDOWN, "run", "worker", "prestarted")}


def _print_breakdown(columns: dict[str, tuple[dict[str, float], float]]) -> None:
    """One column per grader: {label: (breakdown, wall seconds per notebook)}."""
    labels = {"stage": "staging (coordinator)", "prepare": "reading and merging the notebook",
              "kernel_start": "sandbox and kernel start", "course_cells": "course cells (imports)",
              "student_cells": "the student's cells", "test_cells": "test cells (checks run)",
              "judge": "judging outside the kernel"}
    print("\nwhere one notebook's time goes (1 worker, sandboxed; mean seconds per notebook)")
    print(f"  {'':34} " + " ".join(f"{label:>14}" for label in columns))
    rows: dict[str, list[float]] = {labels[key]: [] for key in BREAKDOWN}
    rows["kernel stop, messages, re-runs"] = []
    rows["coordinator (commit, scheduling)"] = []
    rows["wall per notebook"] = []
    rows["kernels started ahead of need"] = []
    for breakdown, wall in columns.values():
        for key in BREAKDOWN:
            rows[labels[key]].append(breakdown[key])
        rows["kernel stop, messages, re-runs"].append(
            breakdown["run"] - sum(breakdown[k] for k in ("kernel_start", "course_cells",
                                                          "student_cells", "test_cells")))
        rows["coordinator (commit, scheduling)"].append(
            wall - breakdown["worker"] - breakdown["stage"])
        rows["wall per notebook"].append(wall)
        rows["kernels started ahead of need"].append(breakdown.get("prestarted", 0.0))
    for label, values in rows.items():
        print(f"  {label:34} " + " ".join(f"{v:14.3f}" for v in values))


def _fixture_course_of(worktree: Path, base: Path, submissions: int, env: dict,
                       empty: bool = False) -> Path:
    """The fixture course with the same submissions, built by another revision's own harness."""
    done = subprocess.run(_as_revision(worktree, [sys.executable, "-c", BUILD_FIXTURE, str(base),
                                                  str(submissions),
                                                  *(["empty"] if empty else [])]),
                          env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"building the baseline's course failed:\n{done.stderr[-3000:]}")
    return Path(done.stdout.strip().splitlines()[-1])


def _own_course(base: Path, source: Path, assignment: str) -> tuple[Path, str]:
    course = base / "bench-source"
    shutil.copytree(source, course, ignore=shutil.ignore_patterns(
        "autograded", "feedback", ".grader", "reports", "__pycache__"))
    return course, assignment


def _fresh(course: Path, base: Path, name: str) -> Path:
    target = base / name
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(course, target)
    for step in ("autograded", "feedback"):
        shutil.rmtree(target / step, ignore_errors=True)
    shutil.rmtree(target / ".grader" / "results", ignore_errors=True)
    return target


def _cpu_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _time(argv: list[str], cwd: Path, env: dict) -> tuple[float, float, int]:
    """Wall-clock and CPU seconds (the command and every process it waited for)."""
    started, cpu = time.perf_counter(), _cpu_children()
    done = subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - started, _cpu_children() - cpu, done.returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scheduler", nargs="?", const="start", default=None, metavar="ADDRESS",
                        help="Dask mode (benchmarks/bench_grading_cluster.py): the serial grader, "
                             "a LocalCluster and a scheduler with 2 workers (started on loopback, "
                             "or ADDRESS), on --submissions (default 100) of --problem-set "
                             "(default ps2_rnn_forward)")
    parser.add_argument("--submissions", type=int, default=None,
                        help="fixture course: number of submissions (default 8)")
    parser.add_argument("--course", type=Path, help="a generated course with submissions")
    parser.add_argument("--assignment", help="assignment of --course")
    parser.add_argument("--problem-set", metavar="PS",
                        help="a problem set of the course (assignments/source/PS), graded on "
                             "--submissions copies of its reference solution")
    parser.add_argument("--repeat", type=int, default=1, help="timings per configuration")
    parser.add_argument("--skip-nbgrader", action="store_true", help="no nbgrader baseline")
    parser.add_argument("--empty", action="store_true",
                        help="submissions are the released notebook, unanswered (fixed cost)")
    parser.add_argument("--sandboxed-only", action="store_true",
                        help="skip the configurations without a sandbox")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--no-prestart-too", action="store_true",
                        help="also time this grader with kernels started only when needed "
                             "(GRADER_PRESTART=0), sandboxed, 1 and 2 workers")
    parser.add_argument("--baseline-ref", metavar="REF",
                        help="also time the grader of git revision REF (checked out in a "
                             "temporary worktree, run in a private mount namespace: needs "
                             "root), sandboxed, 1 and 2 workers")
    args = parser.parse_args(argv)
    if args.scheduler is not None:
        from bench_grading_cluster import main as cluster_main

        return cluster_main(["--problem-set", args.problem_set or "ps2_rnn_forward",
                             "--submissions", str(args.submissions or 100)]
                            + ([] if args.scheduler == "start" else ["--scheduler", args.scheduler])
                            + (["--json", str(args.json)] if args.json else []))
    args.submissions = args.submissions or 8
    if args.submissions < 1 or args.repeat < 1:
        parser.error("--submissions and --repeat must be positive")
    if (args.course is None) != (args.assignment is None):
        parser.error("--course and --assignment go together")

    env = harness.environment()
    base = Path(tempfile.mkdtemp(prefix="bench-grading-"))
    try:
        if args.problem_set:
            course = _problem_set_course(None, base / "bench-source", args.problem_set,
                                         args.submissions, env, args.empty)
            assignment = args.problem_set
        elif args.course:
            course, assignment = _own_course(base, args.course.resolve(), args.assignment)
        else:
            course, assignment = _fixture_course(base, args.submissions, args.empty)
        students = sorted(p.name for p in (course / "submitted").iterdir() if p.is_dir())
        n = len(students)
        # Cache the reference run (once per assignment) in the copy every timing starts from.
        for flags in ([],) if args.sandboxed_only else ([], ["--no-sandbox"]):
            subprocess.run([sys.executable, "-m", "grader", "autograde", assignment, "--course",
                            str(course), "--quiet", "--student", students[0], *flags],
                           cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, check=False)
        grader = [sys.executable, "-m", "grader", "autograde", assignment, "--quiet"]
        baseline_dir, baseline_course = None, None
        if args.baseline_ref:
            baseline_dir = base / "baseline-worktree"
            subprocess.run(["git", "worktree", "add", "--detach", str(baseline_dir),
                            args.baseline_ref], cwd=REPO, check=True, capture_output=True)
            if args.problem_set:  # built by that revision (its helpers, its notebooks)
                baseline_course = _problem_set_course(baseline_dir, base / "baseline-build",
                                                      args.problem_set, args.submissions, env,
                                                      args.empty)
            elif args.course:
                baseline_course = base / "bench-source-baseline"
                shutil.copytree(course, baseline_course)
                shutil.rmtree(baseline_course / ".grader", ignore_errors=True)
            else:  # the fixture course as that revision had it (its helpers, its API)
                baseline_course = _fixture_course_of(baseline_dir, base / "baseline-build",
                                                     args.submissions, env, args.empty)
            subprocess.run(_as_revision(baseline_dir, grader + ["--course", str(baseline_course),
                                                                "--student", students[0]]),
                           env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           check=False)
        configurations = {
            "grader, 1 worker, sandboxed": grader + ["--workers", "1"],
            "grader, 2 workers, sandboxed": grader + ["--workers", "2"],
            "grader, 1 worker, no sandbox": grader + ["--workers", "1", "--no-sandbox"],
            "grader, 2 workers, no sandbox": grader + ["--workers", "2", "--no-sandbox"],
        }
        if args.sandboxed_only:
            for name in [name for name in configurations if name.endswith("no sandbox")]:
                del configurations[name]
        if args.no_prestart_too:
            configurations["grader, 1 worker, no prestart"] = grader + ["--workers", "1"]
            configurations["grader, 2 workers, no prestart"] = grader + ["--workers", "2"]
        if baseline_dir is not None:
            configurations[f"grader@{args.baseline_ref}, 1 worker"] = grader + ["--workers", "1"]
            configurations[f"grader@{args.baseline_ref}, 2 workers"] = grader + ["--workers", "2"]
        if not args.skip_nbgrader:
            configurations["nbgrader autograde (baseline)"] = [
                sys.executable, "-m", "nbgrader", "autograde", assignment, "--force"]
        breakdowns: list[dict[str, float]] = []
        baseline_breakdowns: list[dict[str, float]] = []
        plain_breakdowns: list[dict[str, float]] = []
        timings: dict[str, list[float]] = {name: [] for name in configurations}
        cpu: dict[str, list[float]] = {name: [] for name in configurations}
        single: dict[str, list[float]] = {name: [] for name in configurations}
        for repeat in range(args.repeat):
            for index, (name, command) in enumerate(configurations.items()):
                for only_one in (False, True):
                    is_baseline = name.startswith("grader@")
                    copy = _fresh(baseline_course if is_baseline else course, base,
                                  f"run-{repeat}-{index}-{int(only_one)}")
                    grader_run = command[2] == "grader"
                    argv = list(command)
                    if grader_run:
                        argv += ["--course", str(copy)]
                    if only_one:
                        argv.append(f"--student={students[0]}")
                    run_env = env if grader_run else dict(env, PYTHONPATH=str(copy / "grading"))
                    if name.endswith("no prestart"):
                        run_env = dict(run_env, GRADER_PRESTART="0")
                    cwd = REPO if grader_run else copy
                    if is_baseline:
                        argv = _as_revision(baseline_dir, argv)
                    seconds, used, code = _time(argv, cwd, run_env)
                    if only_one:
                        single[name].append(seconds)
                    else:
                        timings[name].append(seconds)
                        cpu[name].append(used)
                        if name == "grader, 1 worker, sandboxed":
                            breakdowns.append(_breakdown(copy, assignment))
                        elif name == f"grader@{args.baseline_ref}, 1 worker":
                            baseline_breakdowns.append(_breakdown(copy, assignment))
                        elif name == "grader, 1 worker, no prestart":
                            plain_breakdowns.append(_breakdown(copy, assignment))
                    print(f"  {name}{' (1 submission)' if only_one else ''}: {seconds:.1f} s wall, "
                          f"{used:.1f} s CPU (exit {code})", file=sys.stderr)
        rows = {name: statistics.median(values) for name, values in timings.items()}
        cpu_rows = {name: statistics.median(values) for name, values in cpu.items()}
        one = {name: statistics.median(values) for name, values in single.items()}
        marginal = {name: (rows[name] - one[name]) / max(n - 1, 1) for name in rows}
        load = os.getloadavg()[0]
        print(f"\n{n} submissions of {assignment} ({os.cpu_count()} cores, load average "
              f"{load:.1f} at the end); median of {args.repeat} run(s) of each command\n")
        print(f"{'configuration':34} {'1 nb s':>7} {f'{n} nb s':>7} {'s/nb':>6} {'marginal':>9} "
              f"{'CPU s/nb':>9}")
        for name, seconds in rows.items():
            print(f"{name:34} {one[name]:7.1f} {seconds:7.1f} {seconds / n:6.2f} "
                  f"{marginal[name]:9.2f} {cpu_rows[name] / n:9.2f}")
        print("(1 nb: the whole command on one submission, i.e. start-up; s/nb: total / n; "
              "marginal: (total - 1 nb) / (n - 1), the cost of one more notebook)")
        serial = marginal["grader, 1 worker, sandboxed"]
        parallel = marginal["grader, 2 workers, sandboxed"]
        bare = marginal.get("grader, 1 worker, no sandbox")
        print(f"\nparallel speedup, 2 workers vs 1 (sandboxed): {serial / parallel:.2f}x per "
              f"notebook, {rows['grader, 1 worker, sandboxed'] / rows['grader, 2 workers, sandboxed']:.2f}x"
              f" for the whole command")
        if bare is not None:
            cpu_overhead = (cpu_rows["grader, 1 worker, sandboxed"]
                            - cpu_rows["grader, 1 worker, no sandbox"]) / n
            print(f"sandbox overhead (serial): {serial - bare:+.2f} s wall per notebook "
                  f"({100 * (serial / bare - 1):+.0f}%), {cpu_overhead:+.2f} s CPU per notebook")
        if args.no_prestart_too:
            for label in ("1 worker", "2 workers"):
                old = marginal[f"grader, {label}, no prestart"]
                new = marginal[f"grader, {label}, sandboxed"]
                print(f"kernels started ahead of need vs when needed, {label}: {new:.2f} vs "
                      f"{old:.2f} s per notebook (ratio {new / old:.2f})")
        if baseline_dir is not None:
            for label in ("1 worker", "2 workers"):
                old = marginal[f"grader@{args.baseline_ref}, {label}"]
                new = marginal[f"grader, {label}{', sandboxed'}"]
                print(f"this grader vs grader@{args.baseline_ref}, {label}: {new:.2f} vs "
                      f"{old:.2f} s per notebook (ratio {new / old:.2f})")
        columns = {}
        for label, found, row in (("this grader", breakdowns, "grader, 1 worker, sandboxed"),
                                  ("no prestart", plain_breakdowns,
                                   "grader, 1 worker, no prestart"),
                                  (f"@{args.baseline_ref}", baseline_breakdowns,
                                   f"grader@{args.baseline_ref}, 1 worker")):
            if found and found[0]:
                merged = {key: statistics.median(b.get(key, 0.0) for b in found)
                          for key in found[0]}
                columns[label] = (merged, rows[row] / n)
        if columns:
            _print_breakdown(columns)
        if "nbgrader autograde (baseline)" in rows:
            baseline = marginal["nbgrader autograde (baseline)"]
            print(f"plain nbgrader autograde: {baseline:.2f} s per notebook (serial, no sandbox); "
                  f"grader: {serial:.2f} serial, {parallel:.2f} with 2 workers, sandboxed")
        if args.json:
            args.json.write_text(json.dumps({"submissions": n, "assignment": assignment,
                                             "wall": timings, "cpu": cpu, "wall_one": single,
                                             "marginal": marginal, "load": load}, indent=1))
    finally:
        if args.baseline_ref and (base / "baseline-worktree").exists():
            subprocess.run(["git", "worktree", "remove", "--force", str(base / "baseline-worktree")],
                           cwd=REPO, check=False, capture_output=True)
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
