"""How many submissions per second the single gradebook writer commits: SQLite vs PostgreSQL.

The coordinator of ``python -m grader autograde`` is the only process that
writes the gradebook: one transaction per submission
(:func:`grader.gradebook.commit_with_retry`: the student row if new, the
submission with all its notebooks, grades and comments, the scores, the
comments, the late penalty). However many workers grade, a run cannot finish
faster than this writer commits. This script commits the same synthetic
results (a problem set shaped like ps2: one notebook of ``--cells`` graded
cells, each with a comment) into

- an SQLite gradebook file (nbgrader's default), and
- a PostgreSQL gradebook: ``--url`` (an existing server), or by default a
  throwaway cluster started here (``tests/servers.py``; durable settings:
  fsync and synchronous commit on, the data directory in /tmp),

twice each: the **first** commit of every submission (inserts) and a
**re-commit** (what a resumed or repeated run does: the same absolute values
again). It prints commits per second and the median milliseconds per commit.

    .venv/bin/python benchmarks/bench_gradebook_commits.py [--students 200] [--cells 12]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _common import REPO_ROOT, load_average

sys.path.insert(0, str(REPO_ROOT))


def build(url: str, cells: int) -> None:
    from nbgrader.api import Gradebook

    with Gradebook(url) as gb:
        gb.add_assignment("bench", duedate="2026-10-01 17:00:00")
        gb.add_notebook("nb", "bench")
        for i in range(cells):
            gb.add_grade_cell(f"t{i}", "nb", "bench", max_score=2.0, cell_type="code")
            gb.add_solution_cell(f"t{i}", "nb", "bench")


def summary(student: str, cells: int) -> dict:
    return {"student": student, "assignment": "bench", "timestamp": "2026-10-01 12:00:00 UTC",
            "notebooks": [{"notebook": "nb", "problems": [],
                           "answers": {f"t{i}": f"{student}-{i}" for i in range(cells)},
                           "grades": {f"t{i}": {"auto_score": float(i % 3),
                                                "needs_manual_grade": False}
                                      for i in range(cells)},
                           "comments": {f"t{i}": f"check {i}: {i % 3} of 2 points"
                                        for i in range(cells)}}]}


def measure(url: str, students: int, cells: int) -> dict[str, tuple[float, float, float]]:
    """{"first": (commits/s, median ms, CPU ms of this process per commit), "again": ...}."""
    from nbgrader.api import Gradebook

    from grader import term
    from grader.course import Course
    from grader.gradebook import commit_with_retry

    build(url, cells)
    root = tempfile.mkdtemp(prefix="bench-course-")
    Path(root, "nbgrader_config.py").write_text(
        f'c = get_config()\nc.CourseDirectory.db_url = "{url}"\n')
    course = Course(root)
    plugin = term.late_plugin(course)
    results = [summary(f"s{i:05d}", cells) for i in range(students)]
    out = {}
    with Gradebook(url) as gb:
        for label in ("first", "again"):
            times = []
            cpu = time.process_time()
            started = time.perf_counter()
            for result in results:
                t = time.perf_counter()
                commit_with_retry(gb, result, course, plugin, log=lambda _m: None)
                times.append(time.perf_counter() - t)
            elapsed = time.perf_counter() - started
            out[label] = (students / elapsed, 1000 * statistics.median(times),
                          1000 * (time.process_time() - cpu) / students)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=200)
    parser.add_argument("--cells", type=int, default=12)
    parser.add_argument("--url", default=None,
                        help="an existing PostgreSQL database (postgresql+psycopg://...); "
                             "default: a throwaway cluster started here")
    args = parser.parse_args()
    os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"]

    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        rows.append(("SQLite file", measure(f"sqlite:///{scratch}/gradebook.db", args.students,
                                            args.cells)))
    if args.url:
        rows.append(("PostgreSQL (given)", measure(args.url, args.students, args.cells)))
    else:
        sys.path.insert(0, str(REPO_ROOT / "tests"))
        from servers import PostgresServer

        server = PostgresServer(durable=True).start()
        try:
            version = server.bindir.parent.name
            url = server.create_database("bench")
            rows.append((f"PostgreSQL {version} (loopback, fsync on)",
                         measure(url, args.students, args.cells)))
        finally:
            server.destroy()

    print(f"{args.students} submissions, one notebook of {args.cells} graded cells "
          f"(+ {args.cells} comments), late penalty step included; load average "
          f"{load_average():.1f}")
    print("(CPU ms: the committing process's own CPU time per commit, which a busy machine "
          "inflates less than wall time; PostgreSQL's server work is not in it)")
    print("| gradebook | first commit /s | median ms | CPU ms | re-commit /s | median ms | CPU ms |")
    print("|---|---|---|---|---|---|---|")
    for name, r in rows:
        print(f"| {name} | {r['first'][0]:.0f} | {r['first'][1]:.1f} | {r['first'][2]:.1f} | "
              f"{r['again'][0]:.0f} | {r['again'][1]:.1f} | {r['again'][2]:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
