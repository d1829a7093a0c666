"""Peak memory of the grading processes (coordinator and workers) on hostile notebook sizes.

Grades one submission at a time of the grader's fixture course, each a
correct notebook blown up to a given size in one of two ways:

- ``output``: one code cell carries a huge output (the common case: a student's
  notebook saved with a large printed array or image);
- ``cells``: tens of thousands of tiny cells (the adversarial case for a JSON
  parser: many small Python objects per byte).

While ``python -m grader autograde`` runs, the resident memory (RSS) of the
coordinator and of every worker process (not the sandboxed kernels, which have
their own limits) is sampled every 20 ms from /proc; the peak is printed
beside the notebook's size, with a correct notebook of normal size as the
baseline, and what the grader concluded (graded, or refused with its reason).

    .venv/bin/python benchmarks/bench_grading_memory.py            # 1, 50, 200 MB
    .venv/bin/python benchmarks/bench_grading_memory.py --sizes 30 100
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from grading_corpus import corpus, harness  # noqa: E402

from grader import sandbox  # noqa: E402


def _tree(root: int) -> list[int]:
    """``root`` and its descendants that are not sandbox processes (bwrap and below)."""
    children: dict[int, list[int]] = {}
    for pid, parent in sandbox.process_parents().items():
        children.setdefault(parent, []).append(pid)
    found, frontier = [], [root]
    while frontier:
        pid = frontier.pop()
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                command = f.read().split(b"\0")[0].decode(errors="replace")
        except OSError:
            continue
        if "bwrap" in command or command.endswith("sh"):
            continue
        found.append(pid)
        frontier += children.get(pid, [])
    return found


def _rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _grade(course: Path) -> tuple[float, float, int]:
    """(peak RSS of one grading process in MB, seconds, exit status)."""
    argv = [sys.executable, "-m", "grader", "autograde", corpus.ASSIGNMENT, "--course",
            str(course), "--quiet", "--workers", "1", "--force", *harness.FAST]
    started = time.perf_counter()
    process = subprocess.Popen(argv, cwd=REPO, env=harness.environment(),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = [0.0]

    def sample() -> None:
        while process.poll() is None:
            for pid in _tree(process.pid):
                peak[0] = max(peak[0], _rss_mb(pid))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    code = process.wait()
    sampler.join()
    return peak[0], time.perf_counter() - started, code


def _blow_up(nb: dict, megabytes: int, how: str) -> dict:
    if how == "output":
        cell = next(c for c in nb["cells"] if c["cell_type"] == "code")
        cell["outputs"] = [{"output_type": "stream", "name": "stdout",
                            "text": "0123456789abcdef" * (megabytes << 16)}]
    else:
        tiny = {"cell_type": "markdown", "metadata": {}, "source": "x"}
        nb["cells"] += [dict(tiny) for _ in range(megabytes * 20_000)]
    return nb


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 50, 200],
                        help="notebook sizes in MB (default 1 50 200)")
    args = parser.parse_args(argv)
    base = Path(tempfile.mkdtemp(prefix="bench-memory-"))
    honest = corpus.BY_STUDENT["honest"]
    rows = []
    baseline_course = harness.course_copy(base, "baseline")
    harness.write_submission(baseline_course, honest)
    peak, seconds, code = _grade(baseline_course)
    rows.append(("correct notebook", 0.05, peak, seconds, "graded"))
    for how in ("output", "cells"):
        for size in args.sizes:
            course = harness.course_copy(base, f"{how}-{size}")
            directory = harness.write_submission(course, honest)
            path = directory / f"{corpus.NOTEBOOK}.ipynb"
            nb = _blow_up(json.loads(path.read_text()), size, how)
            path.write_text(json.dumps(nb))
            actual = path.stat().st_size / 1e6
            peak, seconds, code = _grade(course)
            result = harness.result(course, "honest")
            notebook = result["notebooks"][0]
            outcome = (f"{notebook['status']} {result['score']:g}/6" if notebook["status"] == "graded"
                       else f"{notebook['status']}: {notebook['problems'][0]['detail'][:60]}")
            rows.append((f"{how}, {size} MB", actual, peak, seconds, outcome))
    print(f"\n{'notebook':22} {'MB':>7} {'peak RSS MB':>12} {'s':>6}  outcome")
    for name, size, peak, seconds, outcome in rows:
        print(f"{name:22} {size:7.1f} {peak:12.0f} {seconds:6.1f}  {outcome}")
    print("(peak RSS: the largest coordinator or worker process; kernels excluded, they run "
          "under their own memory limits)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
