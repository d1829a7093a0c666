"""Time every code cell of the book's chapters (a benchmark, not a test).

The book's budget is that no single cell runs longer than 60 s on the 2-core
reference machine. Jupyter Book's cache records one time per notebook only, so
this script executes each chapter itself with nbclient, the way the book build
does (same kernel, the chapter's folder as working directory), and reports the
slowest cells.

Usage::

    python tools/profile_book_cells.py                 # every notebook in _toc.yml
    python tools/profile_book_cells.py book/02_rnns.md # selected chapters
    python tools/profile_book_cells.py --budget 60     # exit 1 if a cell exceeds it

A JSON report is written to ``_build/cell_times.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import datetime
from pathlib import Path

import jupytext
import yaml
from nbclient import NotebookClient
from tqdm import tqdm

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BUDGET_SECONDS = 60.0


def toc_notebooks(root: Path) -> list[Path]:
    """The book's pages in reading order that contain code (MyST notebooks)."""
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    docs = [toc["root"]] + [entry["file"] for part in toc.get("parts", [])
                            for entry in part["chapters"]]
    paths = [root / f"{doc}.md" for doc in docs]
    return [path for path in paths if path.is_file() and "{code-cell}" in path.read_text()]


def cell_seconds(cell) -> float | None:
    """Wall time of one executed cell from nbclient's timing metadata."""
    timing = cell.get("metadata", {}).get("execution", {})
    start, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
    if not (start and end):
        return None
    parse = lambda stamp: datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return (parse(end) - parse(start)).total_seconds()


def profile_notebook(path: Path, timeout: float) -> list[dict]:
    """Execute one MyST notebook and return ``[{cell, line, seconds, first_line}]``."""
    notebook = jupytext.read(path)
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}},
                            record_timing=True)
    client.execute()
    rows = []
    code_index = 0
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        code_index += 1
        seconds = cell_seconds(cell)
        source_lines = [line for line in cell.source.splitlines()
                        if line.strip() and not line.startswith(("#", "---"))]
        rows.append({"cell": code_index, "seconds": seconds,
                     "first_line": source_lines[0][:70] if source_lines else ""})
    return rows


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path,
                        help="MyST notebooks to profile (default: every page in _toc.yml)")
    parser.add_argument("--budget", type=float, default=DEFAULT_BUDGET_SECONDS,
                        help="per-cell budget in seconds (default: %(default)s)")
    parser.add_argument("--top", type=int, default=10, help="how many of the slowest cells to list")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    notebooks = [path.resolve() for path in args.notebooks] or toc_notebooks(REPO_ROOT)
    missing = [str(path) for path in notebooks if not path.is_file()]
    if missing:
        print(f"notebooks: expected existing MyST files, got missing {missing}", file=sys.stderr)
        return 2
    report: dict[str, dict] = {}
    for path in tqdm(notebooks, desc="profiling chapters", unit="notebook"):
        started = time.perf_counter()
        cells = profile_notebook(path, timeout=max(args.budget * 2, 120.0))
        name = str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)
        report[name] = {"total_seconds": time.perf_counter() - started, "cells": cells}

    slowest = sorted(((cell["seconds"] or 0.0, name, cell) for name, entry in report.items()
                      for cell in entry["cells"]), key=lambda item: -item[0])
    print(f"\n{'seconds':>8}  notebook, cell: first line")
    for seconds, name, cell in slowest[: args.top]:
        print(f"{seconds:8.2f}  {name}, cell {cell['cell']}: {cell['first_line']}")
    print("\nper notebook (including kernel start-up):")
    for name, entry in report.items():
        print(f"{entry['total_seconds']:8.1f}  {name}")

    output = REPO_ROOT / "_build" / "cell_times.json"
    output.parent.mkdir(exist_ok=True)
    output.write_text(json.dumps(report, indent=1))
    print(f"\nwritten {output}")
    over = [(name, cell) for seconds, name, cell in slowest if seconds > args.budget]
    if over:
        print(f"{len(over)} cell(s) over the {args.budget:.0f} s budget", file=sys.stderr)
        return 1
    print(f"every cell within the {args.budget:.0f} s budget")
    return 0


if __name__ == "__main__":
    sys.exit(main())
