"""Kernels started ahead of need vs when needed: one worker's cost per notebook, A/B in one process.

On a busy machine the whole-command timings of ``bench_grading.py`` move by tens of
seconds between runs (cluster start-up, other people's work); this measures only
what the prestart changes, the worker's wall time per notebook, in one process:
``grading.grade_submission`` is called on the same staged submissions in blocks of
``--block`` notebooks, alternating blocks with kernels started ahead of need and
blocks without (``GRADER_PRESTART``), so that drifting load falls on both alike.
The first notebook of each block is left out (it never has a spare). Printed: the
median and mean seconds per notebook of each mode, the kernel start as the
notebook saw it, and the ratio.

    .venv/bin/python benchmarks/bench_prestart.py --problem-set ps2_rnn_forward --empty
    .venv/bin/python benchmarks/bench_prestart.py --problem-set ps2_rnn_forward --rounds 6
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO / "tests"))

import bench_grading  # noqa: E402
from grading_corpus import harness  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problem-set", default="ps2_rnn_forward")
    parser.add_argument("--empty", action="store_true", help="unanswered notebooks (fixed cost)")
    parser.add_argument("--block", type=int, default=4, help="notebooks per block (default 4)")
    parser.add_argument("--rounds", type=int, default=4, help="pairs of blocks (default 4)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if args.block < 2 or args.rounds < 1:
        parser.error("--block must be at least 2, --rounds at least 1")

    os.environ.update(harness.environment())
    base = Path(tempfile.mkdtemp(prefix="bench-prestart-"))
    try:
        course = bench_grading._problem_set_course(None, base / "course", args.problem_set,
                                                   args.block, harness.environment(),
                                                   args.empty)
        from grader import grading, sandbox
        from grader.autograde import Grader
        from grader.course import Course
        from grader.executor import ExecutionSettings

        prepared = Grader(Course(str(course)), args.problem_set,
                          ExecutionSettings(use_sandbox=True), log=lambda _: None)
        prepared.prepare_sandbox()
        context = prepared.context(prepared.references())
        grading.prepare_worker(context)
        students = sorted(p.name for p in (course / "submitted").iterdir() if p.is_dir())
        staged = {s: prepared.stage(s).directory for s in students}
        out = base / "out"
        samples: dict[str, list[dict]] = {"ahead of need": [], "when needed": []}
        order = ["ahead of need", "when needed"]
        for round_ in range(args.rounds):
            for mode in order if round_ % 2 == 0 else order[::-1]:
                os.environ["GRADER_PRESTART"] = "1" if mode == "ahead of need" else "0"
                grading.release_worker()
                for position, student in enumerate(students):
                    began = time.monotonic()
                    summary = grading.grade_submission(
                        context, student, staged[student], str(out / "autograded" / student),
                        str(out / f"{student}.json"), "bench", None)
                    elapsed = time.monotonic() - began
                    if position == 0:
                        continue  # never has a spare
                    timings = summary["notebooks"][0].get("timings", {})
                    samples[mode].append(dict(
                        {k: v for k, v in timings.items() if isinstance(v, int | float)},
                        wall=elapsed / len(summary["notebooks"]),
                        kernel_start=timings.get("kernel_start", 0.0),
                        prestarted=timings.get("prestarted", 0.0)))
        grading.release_worker()
        print(f"\n{args.problem_set}{' (empty submissions)' if args.empty else ''}: one worker, "
              f"{args.rounds} x 2 blocks of {args.block} notebooks, "
              f"{len(samples['when needed'])} notebooks per mode measured; "
              f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; "
              f"sandboxed: {sandbox.bwrap_executable() is not None}\n")
        print(f"{'kernels started':16} {'median s/nb':>12} {'mean s/nb':>10} "
              f"{'kernel start (median)':>22} {'prestarted':>11}")
        rows = {}
        for mode, found in samples.items():
            walls = [s["wall"] for s in found]
            starts = [s["kernel_start"] for s in found]
            rows[mode] = statistics.median(walls)
            print(f"{mode:16} {statistics.median(walls):12.3f} {statistics.mean(walls):10.3f} "
                  f"{statistics.median(starts):22.3f} "
                  f"{statistics.mean(s['prestarted'] for s in found):11.2f}")
        print(f"\nratio (ahead / when needed, medians): "
              f"{rows['ahead of need'] / rows['when needed']:.2f}")
        print("\nwhere a notebook's time goes (median seconds)")
        keys = ("prepare", "kernel_start", "course_cells", "student_cells", "test_cells",
                "judge", "run", "wall")
        print(f"  {'':16}" + "".join(f"{k:>14}" for k in keys))
        for mode, found in samples.items():
            print(f"  {mode:16}" + "".join(
                f"{statistics.median(s.get(k, 0.0) for s in found):14.3f}" for k in keys))
        if args.json:
            args.json.write_text(json.dumps(samples, indent=1))
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
