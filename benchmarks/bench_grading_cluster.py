"""Grading on Dask: notebooks per minute for the serial grader, a LocalCluster and a scheduler.

Grades the same N copies of a problem set's reference solution (default: 100 of
ps2) three ways, each in a fresh copy of the course, each as the command an
instructor runs, timed from start to exit:

1. ``python -m grader autograde PS --serial``              (in one process: the baseline)
2. ``python -m grader autograde PS --workers W``           (a LocalCluster of W workers)
3. ``python -m grader autograde PS --scheduler ADDRESS``   (``dask scheduler`` and W
   ``dask worker`` processes started on loopback, as on the machines of a lab)

and prints for each: the wall time of the command, notebooks per minute (all N,
and marginal: ``60 (N - 1) / (T(N) - T(1))``, which leaves out the fixed cost of
a command: imports, the gradebook, starting the cluster), the time from the
command's start to the first committed grade, and the speedup against the serial
grader. Then the scheduler's own overhead per task (a few hundred empty tasks
through the same scheduler and workers) and the bundle's size and digest time.

    .venv/bin/python benchmarks/bench_grading_cluster.py                     # 100 of ps2, 2 workers
    .venv/bin/python benchmarks/bench_grading_cluster.py --submissions 20 --workers 2
    .venv/bin/python benchmarks/bench_grading_cluster.py --scheduler tcp://HOST:8786  # a real lab

Run it on an otherwise idle machine; it takes a few minutes for 100 notebooks.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_grading import _fresh, _problem_set_course  # noqa: E402
from grading_corpus import harness  # noqa: E402

FIRST = re.compile(r"first grade was committed after ([0-9.]+) s")


def _run(course: Path, ps: str, engine: list[str], env: dict, students: list[str] | None = None,
         ) -> tuple[float, float | None, str]:
    argv = [sys.executable, "-m", "grader", "autograde", ps, "--course", str(course), "--quiet",
            *engine]
    for student in students or []:
        argv += ["--student", student]
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if done.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(engine)} failed ({done.returncode}):\n{done.stdout[-3000:]}"
                         f"\n{done.stderr[-3000:]}")
    match = FIRST.search(done.stdout)
    return wall, float(match.group(1)) if match else None, done.stdout


def _task_overhead(address: str, tasks: int = 400) -> tuple[float, float]:
    """Seconds per empty task through the scheduler (wall / tasks), and one round trip."""
    from distributed import Client, wait

    with Client(address, timeout="30s") as client:
        client.submit(int, 0, pure=False).result()  # warm
        started = time.perf_counter()
        client.submit(int, 1, pure=False).result()
        round_trip = time.perf_counter() - started
        started = time.perf_counter()
        futures = [client.submit(int, i, pure=False) for i in range(tasks)]
        wait(futures)
        return (time.perf_counter() - started) / tasks, round_trip


def _bundle_figures(course: Path, ps: str) -> tuple[int, float]:
    """Size of the assignment's bundle and the time to build and verify it."""
    from grader import cluster
    from grader.autograde import Grader
    from grader.course import Course
    from grader.executor import ExecutionSettings

    prepared = Grader(Course(str(course)), ps, ExecutionSettings(), log=lambda _: None)
    prepared.prepare_sandbox()
    context = prepared.context(prepared.references())
    started = time.perf_counter()
    bundle = cluster.Bundle.build(context)
    cluster.sha256(bundle.data)
    return len(bundle.data), time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problem-set", default="ps2_rnn_forward", metavar="PS")
    parser.add_argument("--submissions", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2,
                        help="LocalCluster workers, and dask workers started (default 2)")
    parser.add_argument("--scheduler", default=None, metavar="ADDRESS",
                        help="use this running scheduler instead of starting one on loopback")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    if args.submissions < 2:
        parser.error("--submissions: expected at least 2 (the marginal cost needs two runs)")
    env = harness.environment()
    ps, n = args.problem_set, args.submissions
    base = Path(tempfile.mkdtemp(prefix="bench-cluster-"))
    started_cluster = None
    try:
        print(f"Building a course of {n} copies of {ps}'s reference solution ...", flush=True)
        source = _problem_set_course(None, base / "source", ps, n, env)
        # the reference run is cached once, outside every timing
        _run(_fresh(source, base, "warm"), ps, ["--serial"], env, ["student000"])
        shutil.copytree(base / "warm" / ".grader" / "reference", source / ".grader" / "reference",
                        dirs_exist_ok=True)
        address = args.scheduler
        if address is None:
            from cluster_servers import DaskCluster

            started_cluster = DaskCluster(base / "dask", workers=args.workers).start()
            address = started_cluster.address
        engines = {"serial (one process)": ["--serial"],
                   f"LocalCluster, {args.workers} workers": ["--workers", str(args.workers)],
                   f"dask scheduler, {args.workers} workers": ["--scheduler", address]}
        rows = {}
        for label, engine in engines.items():
            print(f"  {label}: 1 submission ...", flush=True)
            one, _, _ = _run(_fresh(source, base, "one"), ps, engine, env, ["student000"])
            print(f"  {label}: {n} submissions ...", flush=True)
            wall, first, _ = _run(_fresh(source, base, "all"), ps, engine, env)
            rows[label] = {"one": one, "wall": wall, "first_grade": first,
                           "per_minute": 60 * n / wall,
                           "marginal_per_minute": 60 * (n - 1) / max(wall - one, 1e-9)}
        overhead, round_trip = _task_overhead(address)
        size, bundle_seconds = _bundle_figures(source, ps)
    finally:
        if started_cluster is not None:
            started_cluster.stop()
        shutil.rmtree(base, ignore_errors=True)

    serial = rows["serial (one process)"]
    print(f"\n{ps}: {n} submissions (copies of the reference solution), sandboxed, "
          f"{os.cpu_count()} cores\n")
    print(f"{'engine':<30} {'T(1) s':>7} {'T(N) s':>8} {'nb/min':>7} {'marginal':>9} "
          f"{'1st grade s':>11} {'speedup':>8}")
    for label, row in rows.items():
        print(f"{label:<30} {row['one']:>7.1f} {row['wall']:>8.1f} {row['per_minute']:>7.1f} "
              f"{row['marginal_per_minute']:>9.1f} {row['first_grade'] or float('nan'):>11.1f} "
              f"{serial['wall'] / row['wall']:>7.2f}x")
    print(f"\nscheduler overhead: {overhead * 1000:.2f} ms per task (empty tasks, "
          f"{args.workers} workers), {round_trip * 1000:.1f} ms for one round trip")
    print(f"course bundle: {size / 1e6:.2f} MB, built and digested in {bundle_seconds:.2f} s "
          f"(shipped once per run to each worker)")
    if args.json:
        args.json.write_text(json.dumps({"problem_set": ps, "submissions": n, "engines": rows,
                                         "task_overhead_s": overhead, "round_trip_s": round_trip,
                                         "bundle_bytes": size}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
