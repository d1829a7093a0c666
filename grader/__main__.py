"""Command line: ``python -m grader {autograde,feedback,report,export,roster,extend,restore,
validate,sandbox-check}``.

Run from the repository root; ``--course`` defaults to ``assignments``.
See ``grader/README.md`` for the full description and the exit statuses.
"""

from __future__ import annotations

import argparse
import os
import sys

from grader import sandbox
from grader.course import CourseError


def _limits(args: argparse.Namespace) -> sandbox.Limits:
    return sandbox.Limits(memory_mb=args.memory_mb, cpu_seconds=args.cpu_seconds,
                          processes=args.processes, sandbox_memory_mb=args.sandbox_memory_mb)


def _add_execution_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cell-timeout", type=float, default=300.0, metavar="SECONDS",
                        help="wall-clock limit of one cell (default 300)")
    parser.add_argument("--notebook-timeout", type=float, default=1800.0, metavar="SECONDS",
                        help="wall-clock limit of one notebook, re-runs included (default 1800)")
    parser.add_argument("--memory-mb", type=int, default=4096,
                        help="address-space limit of the kernel (default 4096)")
    parser.add_argument("--sandbox-memory-mb", type=int, default=6144,
                        help="memory limit of the whole sandbox, all its processes together "
                             "(a memory cgroup, where the machine allows; default 6144)")
    parser.add_argument("--cpu-seconds", type=int, default=1800,
                        help="CPU-time limit of the kernel (default 1800)")
    parser.add_argument("--processes", type=int, default=64,
                        help="limit on the kernel's processes and threads (default 64)")
    parser.add_argument("--no-sandbox", action="store_true",
                        help="run student code without bubblewrap (unsafe; for comparisons)")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m grader", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("autograde", help="grade every submission of an assignment")
    p.add_argument("assignment")
    p.add_argument("--course", default="assignments", help="course directory (default assignments)")
    engine = p.add_mutually_exclusive_group()
    engine.add_argument("--workers", type=int, default=None,
                        help="worker processes of the local Dask cluster (default: one per core)")
    engine.add_argument("--scheduler", default=None, metavar="ADDRESS",
                        help="grade on the workers of this Dask scheduler (tcp://HOST:PORT)")
    engine.add_argument("--serial", action="store_true",
                        help="grade in this process, one submission at a time (debugging)")
    p.add_argument("--student", action="extend", nargs="+", dest="students", metavar="ID",
                   help="grade only these students (--student A B or --student A --student B)")
    p.add_argument("--force", action="store_true", help="regrade even unchanged submissions")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_execution_options(p)

    p = sub.add_parser("feedback", help="write feedback HTML for graded submissions")
    p.add_argument("assignment")
    p.add_argument("--course", default="assignments")
    p.add_argument("--student", action="extend", nargs="+", dest="students", metavar="ID",
                   help="only these students (--student A B or --student A --student B)")

    p = sub.add_parser("report", help="instructor report: CSV and HTML with plots")
    p.add_argument("--course", default="assignments")
    p.add_argument("--assignment", action="append", dest="assignments", metavar="NAME",
                   help="only these assignments (default: all in the gradebook)")
    p.add_argument("--output", default=None, help="directory (default COURSE/reports)")

    p = sub.add_parser("export", help="grades for the LMS: canvas, wide or long CSV")
    p.add_argument("--course", default="assignments")
    p.add_argument("--format", choices=("canvas", "wide", "long"), default="canvas")
    p.add_argument("--output", default=None,
                   help="file (default COURSE/reports/grades-FORMAT.csv)")
    p.add_argument("--assignment", action="extend", nargs="+", dest="assignments",
                   metavar="NAME", help="only these problem sets (default: every released one)")

    p = sub.add_parser("roster", help="import the class list (CSV: id, first_name, last_name, "
                                      "email, lms_user_id, section) into the gradebook")
    p.add_argument("csv")
    p.add_argument("--course", default="assignments")

    p = sub.add_parser("extend", help="give one student a new due date for one problem set")
    p.add_argument("student")
    p.add_argument("assignment")
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--until", metavar="DATE", help='e.g. "2026-10-12 17:00 Europe/Paris"')
    group.add_argument("--remove", action="store_true", help="remove the extension")
    p.add_argument("--course", default="assignments")

    p = sub.add_parser("restore", help="put a gradebook backup back (default: the newest)")
    p.add_argument("backup", nargs="?", default=None)
    p.add_argument("--course", default="assignments")
    p.add_argument("--list", action="store_true", help="list the backups")

    p = sub.add_parser("validate", help="run a notebook's tests in the sandbox: one line per "
                                        "check, a summary; exit 0 all pass, 1 some fail")
    p.add_argument("notebook", nargs="+")
    p.add_argument("--course", default="assignments",
                   help="course directory whose grading/ helpers an instructor's source "
                        "notebook (hidden tests) imports (default assignments)")
    _add_execution_options(p)

    p = sub.add_parser("sandbox-check", help="show what the sandbox isolates on this machine")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="run the check on every worker of this Dask scheduler instead")
    return parser


def _print_autograde(report, assignment: str) -> None:
    from grader import term
    from grader.grading import all_problems

    where = "bubblewrap sandbox" if report.sandboxed else "NO SANDBOX"
    print(f"\n{assignment}: {len(report.summaries)} submission(s), {report.graded} graded now, "
          f"{report.resumed} from an earlier run, {report.elapsed:.1f} s ({where})")
    if report.engine:
        print(f"graded on {report.engine}; the first grade was committed after "
              f"{report.first_grade:.1f} s")
    by_student = {s["student"]: s for s in report.summaries}
    rows = list(report.table) or [
        {"student": s["student"], "submitted": True, "autograded": term.r2(s["score"]),
         "manual": 0.0, "penalty": 0.0, "final": term.r2(s["score"]),
         "max_score": s["max_score"], "seconds_late": 0.0, "needs_manual_grade": False}
        for s in report.summaries]
    listed = {r["student"] for r in rows}
    rows += [{"student": s["student"], "submitted": False, "autograded": 0.0, "manual": 0.0,
              "penalty": 0.0, "final": 0.0, "max_score": 0.0, "seconds_late": 0.0,
              "needs_manual_grade": False, "stranger": True}
             for s in report.summaries if s["student"] not in listed]
    width = max([len(r["student"]) for r in rows] + [7])
    print(f"  {'student':<{width}}  {'autograded':>10}  {'manual':>6}  {'late':>6}  "
          f"{'final':>13}  status")
    for row in rows:
        summary = by_student.get(row["student"])
        if row.get("stranger"):
            status = "needs attention: not on the roster (not graded)"
        elif not row["submitted"] and summary is None:
            status = "missing: no submission (0 points)"
        else:
            problems = [p for p in all_problems(summary or {}) if p["kind"] != "extra-notebook"]
            problems += (summary or {}).get("hand_flags", [])
            kinds = sorted({p["kind"] for p in problems})
            status = ("needs attention: " + ", ".join(kinds)) if (summary or {}).get(
                "attention") else ("ok" if not kinds else "ok (" + ", ".join(kinds) + ")")
            if row["needs_manual_grade"]:
                status += "; written answers to grade by hand"
            if row["seconds_late"] > 0:
                status += "; " + term.lateness_text(row)
        final = f"{term.fmt(row['final'])}/{term.fmt(row['max_score'])}"
        print(f"  {row['student']:<{width}}  {term.fmt(row['autograded']):>10}  "
              f"{term.fmt(row['manual']):>6}  {'-' + term.fmt(row['penalty']) if row['penalty'] else '':>6}  "
              f"{final:>13}  {status}")
    flagged = [s for s in report.summaries if s.get("attention")]
    if flagged:
        print(f"\nNeeds attention ({len(flagged)}):")
        for summary in flagged:
            for problem in all_problems(summary) + summary.get("hand_flags", []):
                nb = f"{problem['notebook']}: " if problem.get("notebook") else ""
                print(f"  {summary['student']}: {problem['kind']}: {nb}{problem['detail']}")
    messages = {0: "everything graded; nothing needs attention",
                1: "everything graded; some submissions need attention (listed above)",
                3: "some submissions could not be graded (grader error); run the command again"}
    print(f"\nexit status {report.exit_code}: {messages.get(report.exit_code, '')}")


def _autograde(args: argparse.Namespace) -> int:
    from grader.autograde import AutogradeOptions, autograde

    if args.workers is not None and args.workers < 1:
        raise CourseError(f"--workers: expected a positive number, got {args.workers}")
    options = AutogradeOptions(course=args.course, assignment=args.assignment,
                               students=args.students, workers=args.workers,
                               scheduler=args.scheduler, serial=args.serial, force=args.force,
                               use_sandbox=not args.no_sandbox, limits=_limits(args),
                               cell_timeout=args.cell_timeout,
                               notebook_timeout=args.notebook_timeout, progress=not args.quiet)
    report = autograde(options)
    _print_autograde(report, args.assignment)
    return report.exit_code


def _term_command(args: argparse.Namespace) -> int:
    from grader import term
    from grader.course import Course

    course = Course(args.course)
    if args.command == "export":
        from grader.export import export

        return export(args.course, args.format, args.output, args.assignments)
    if args.command == "roster":
        term.check_gradebook(course)
        count = term.import_roster(course, args.csv)
        print(f"imported {count} student(s) into {course.db_url}")
        return 0
    if args.command == "extend":
        term.check_gradebook(course)
        print(term.set_extension(course, args.student, args.assignment,
                                 None if args.remove else args.until))
        print(f"(kept in {term.extensions_path(course)}; commit it with the course)")
        return 0
    if args.list:
        for path in term.list_backups(course):
            print(path)
        return 0
    restored = term.restore_gradebook(course, args.backup)
    print(f"restored the gradebook from {restored} (the replaced one is kept as "
          f"{term.before_restore_path(course)})")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "autograde":
            return _autograde(args)
        if args.command == "feedback":
            from grader.feedback import write_feedback

            return write_feedback(args.course, args.assignment, args.students)
        if args.command == "report":
            from grader.report import write_report

            return write_report(args.course, args.assignments, args.output)
        if args.command in ("export", "roster", "extend", "restore"):
            return _term_command(args)
        if args.command == "validate":
            from grader.validate import validate

            return validate(args.notebook, _limits(args), args.cell_timeout,
                            args.notebook_timeout, not args.no_sandbox, args.course)
        if args.command == "sandbox-check":
            if args.scheduler:
                from grader.cluster import sandbox_check_workers

                return sandbox_check_workers(args.scheduler)
            from grader.validate import sandbox_check

            return sandbox_check()
    except CourseError as error:
        print(f"error: {error}", file=sys.stderr)
        return getattr(error, "exit_code", 2)  # 3: the gradebook went away mid-run
    except Exception as error:  # noqa: BLE001 - the gradebook failing mid-run: one sentence
        from sqlalchemy.exc import DBAPIError

        if not isinstance(error, DBAPIError) or getattr(args, "course", None) is None:
            raise
        from grader import term
        from grader.course import Course

        detail = str(getattr(error, "orig", error)).splitlines()[0]
        print(f"error: {term.unusable_message(Course(args.course), detail)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; graded submissions are saved, run the command again to finish",
              file=sys.stderr)
        return 130
    return 2


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
