"""Helpers shared by the benchmark scripts: thread control, timing, tables.

Thread counts must be fixed before numpy or torch is imported (OpenBLAS and MKL
read their environment variables when they load), so every script calls
:func:`set_threads` first and imports numpy/torch afterwards.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def set_threads(threads: int) -> None:
    """Pin BLAS/OpenMP thread pools (numpy's OpenBLAS, torch's MKL/OpenMP) to ``threads``."""
    if threads < 1:
        raise SystemExit(f"--threads: expected a positive int, got {threads}")
    for name in _THREAD_VARIABLES:
        os.environ[name] = str(threads)


def pin_torch_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def median_seconds(fn: Callable[[], object], repeats: int, warmup: int = 3) -> float:
    """Median wall time of ``fn()`` over ``repeats`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def load_average() -> float:
    """1-minute load average (how busy the shared machine was)."""
    return os.getloadavg()[0]


def machine_line(threads: int) -> str:
    """One line describing the machine and the thread setting, for the report."""
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    commit = "unknown"
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT,
                                capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return (f"{cpu}, {os.cpu_count()} logical CPUs, threads={threads}, "
            f"load average {load_average():.2f}, commit {commit}")


def format_table(headers: list[str], rows: list[list]) -> str:
    """Plain-text table: strings left-aligned, numbers right-aligned."""

    def fmt(value) -> str:
        if isinstance(value, float):
            return f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"
        return str(value)

    cells = [[fmt(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    numeric = [not isinstance(v, str) for v in rows[0]]
    out = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)),
           "  ".join("-" * w for w in widths)]
    for row in cells:
        out.append("  ".join(c.rjust(w) if num else c.ljust(w)
                             for c, w, num in zip(row, widths, numeric, strict=True)))
    return "\n".join(out)
