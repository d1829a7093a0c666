"""A student's validation of each problem set: ``nbgrader validate`` vs the grader's.

For every problem set, the released notebook with the reference answers typed in (what
a student who solved it validates) is validated, alternately and ``--repeat`` times,
by

1. ``nbgrader validate NOTEBOOK`` run from the course directory (what ``course.sh
   validate`` ran before issue 13: unsandboxed, its own output format), and
2. ``assignments/course.sh validate NOTEBOOK`` (now ``python -m grader validate``:
   the grading sandbox, one line per visible check),

each as a separate command timed from start to exit; the table gives the median of
each and their ratio (measured in the same run, so a busy machine affects both).

    .venv/bin/python benchmarks/bench_validate.py                 # all problem sets, 3 repeats
    .venv/bin/python benchmarks/bench_validate.py --repeat 5 --problem-set ps2_rnn_forward
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
COURSE = REPO / "assignments"
BIN = Path(sys.executable).parent


def solved_student_notebook(ps: str, directory: Path) -> Path:
    """The released notebook of ``ps`` with the reference answers in its solution cells."""
    sys.path[:0] = [str(REPO / "tools"), str(REPO / "tests")]
    import nbformat
    from assignments_pipeline import nbgrader_meta, reference_answers
    from student_notebooks import student_notebook

    released = json.loads(nbformat.writes(student_notebook(COURSE / "source" / ps / f"{ps}.ipynb")))
    answers = reference_answers(json.loads((COURSE / "source" / ps / f"{ps}.ipynb").read_text()))
    for cell in released["cells"]:
        meta = nbgrader_meta(cell)
        if meta.get("solution") and meta.get("grade_id") in answers:
            cell["source"] = answers[meta["grade_id"]]
    path = directory / ps / f"{ps}.ipynb"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(released))
    return path


def timed(command: list[str], cwd: Path) -> tuple[float, bool, str]:
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    return time.perf_counter() - started, done.returncode == 0, done.stdout + done.stderr


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--problem-set", action="append", dest="problem_sets", metavar="PS")
    args = parser.parse_args(argv)
    problem_sets = args.problem_sets or sorted(
        p.name for p in (COURSE / "source").iterdir() if p.is_dir())
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-validate-") as tmp:
        for ps in problem_sets:
            notebook = solved_student_notebook(ps, Path(tmp))
            commands = {
                "nbgrader validate": ([str(BIN / "nbgrader"), "validate", str(notebook)], COURSE),
                "course.sh validate": (["bash", str(COURSE / "course.sh"), "validate",
                                        str(notebook)], REPO),
            }
            times: dict[str, list[float]] = {name: [] for name in commands}
            for _ in range(args.repeat):
                for name, (command, cwd) in commands.items():
                    seconds, ok, output = timed(command, cwd)
                    if name == "course.sh validate" and not ok:
                        print(output[-3000:])
                        raise SystemExit(f"{ps}: course.sh validate failed on the reference")
                    times[name].append(seconds)
            old = statistics.median(times["nbgrader validate"])
            new = statistics.median(times["course.sh validate"])
            rows.append((ps, old, new))
            print(f"  {ps}: nbgrader {old:.1f} s, course.sh {new:.1f} s", flush=True)
    print(f"\nmedian of {args.repeat} runs, seconds from start to exit "
          f"(load average now {os.getloadavg()[0]:.1f})")
    print(f"{'problem set':<22} {'nbgrader validate':>17} {'course.sh validate':>19} {'ratio':>6}")
    for ps, old, new in rows:
        print(f"{ps:<22} {old:>17.1f} {new:>19.1f} {new / old:>6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
