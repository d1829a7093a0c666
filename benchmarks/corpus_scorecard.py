"""Score card of the grading corpora: what each submission gets, here and at an older revision.

Writes every submission of ``tests/grading_corpus`` (honest, cheating, crashing and
hostile: :data:`grading_corpus.hostile.EVERY`) into a copy of the fixture course,
grades them in one run with ``python -m grader autograde --workers 2``, and prints
one line per submission: the score this checkout gives, the score the corpus
expects, and, with ``--ref REV``, the score the grader of revision ``REV`` gives to
the same bytes (run in a private mount namespace with that revision's worktree
mounted over this checkout, as ``bench_grading.py --baseline-ref`` does; needs
root). When a submission makes the older grader lose the whole run, every
submission is then graded alone by it, so that the line of the one that stopped
the class says what happened ("run lost: ...").

    .venv/bin/python benchmarks/corpus_scorecard.py --ref 14cea15
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_grading import _as_revision  # noqa: E402
from grading_corpus import harness, hostile  # noqa: E402

GRADE = [sys.executable, "-m", "grader", "autograde", "fx_rnn", "--quiet", "--workers", "2",
         *harness.FAST]


def _scores(course: Path) -> dict[str, str]:
    found = {}
    for case in hostile.EVERY:
        path = course / ".grader" / "results" / "fx_rnn" / f"{case.student}.json"
        try:
            summary = json.loads(path.read_text())
        except (OSError, ValueError):
            found[case.student] = "not graded"
            continue
        kinds = sorted({p["kind"] for p in summary.get("problems", [])}
                       | {p["kind"] for nb in summary.get("notebooks", [])
                          for p in nb.get("problems", [])})
        found[case.student] = f"{summary.get('score', 0):g}" + (f" ({', '.join(kinds)})"
                                                                 if kinds else "")
    return found


def _run(argv: list[str], timeout: float) -> str:
    started = time.perf_counter()
    try:
        done = subprocess.run(argv, cwd=REPO, env=harness.environment(), capture_output=True,
                              text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return f"did not finish within {timeout:.0f} s"
    return f"exit status {done.returncode} after {time.perf_counter() - started:.0f} s"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ref", help="also grade the corpus with the grader of this revision")
    parser.add_argument("--timeout", type=float, default=900, help="per run (default 900 s)")
    args = parser.parse_args(argv)
    base = Path(tempfile.mkdtemp(prefix="corpus-scorecard-"))
    course = harness.course_copy(base, "now")
    for case in hostile.EVERY:
        harness.write_submission(course, case)
    outcome_now = _run(GRADE + ["--course", str(course)], args.timeout)
    now = _scores(course)
    before, outcome_before = {}, ""
    if args.ref:
        worktree = base / "worktree"
        subprocess.run(["git", "worktree", "add", "--detach", str(worktree), args.ref], cwd=REPO,
                       check=True, capture_output=True)
        try:
            old = base / "before"
            build = ("import sys; sys.path.insert(0, 'tests'); from pathlib import Path; "
                     "from grading_corpus import harness; "
                     f"print(harness.course_copy(Path({str(old)!r}), 'course'))")
            done = subprocess.run(_as_revision(worktree, [sys.executable, "-c", build]),
                                  env=harness.environment(), capture_output=True, text=True,
                                  check=True)
            old_course = Path(done.stdout.strip().splitlines()[-1])
            for case in hostile.EVERY:  # the same bytes, written by this checkout's harness
                harness.write_submission(old_course, case)
            outcome_before = _run(_as_revision(worktree, GRADE + ["--course", str(old_course)]),
                                  args.timeout)
            before = _scores(old_course)
            if all(value == "not graded" for value in before.values()):
                # The whole run was lost: grade each submission alone to see who caused it.
                outcome_before += "; graded one submission per run below"
                for case in hostile.EVERY:
                    outcome = _run(_as_revision(worktree, GRADE + [
                        "--course", str(old_course), f"--student={case.student}"]), 120)
                    score = _scores(old_course)[case.student]
                    before[case.student] = (score if score != "not graded" else
                                            f"run lost: {outcome}")
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(worktree)], cwd=REPO,
                           check=False, capture_output=True)
    print(f"\nthis checkout: {outcome_now}" + (f"; grader@{args.ref}: {outcome_before}"
                                                 if args.ref else ""))
    header = f"{'submission':22} {'expected':>8}  {'now':28}" + (f"  grader@{args.ref}"
                                                                    if args.ref else "")
    print(header)
    for case in hostile.EVERY:
        line = f"{case.student:22} {case.score:8g}  {now[case.student]:28}"
        if args.ref:
            line += f"  {before.get(case.student, '')}"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
