"""Grades out of the gradebook: ``python -m grader export --format canvas|wide|long``.

Every format lists every rostered student for every released problem set
(``missing``, 0 points, where nothing was submitted); the numbers are
:func:`grader.term.totals` (final = autograded + hand scores + extra credit -
late penalty), rounded to two decimals.

- ``long``: one row per student and problem set (the report's ``grades.csv``);
- ``wide``: one row per student, one column per problem set, and the total;
- ``canvas``: Canvas's gradebook-import CSV: ``Student, ID, SIS User ID, SIS
  Login ID, Section``, one column per problem set, and a ``Points Possible``
  row first. ``ID`` is the roster's ``lms_user_id`` (Canvas's user id), ``SIS
  User ID`` the student id, ``SIS Login ID`` the e-mail address.

The same files come from nbgrader's own command, for instructors who know it::

    nbgrader export --exporter=grader.export.CanvasExportPlugin --to canvas.csv
    nbgrader export --exporter=grader.export.WideExportPlugin --to wide.csv
    nbgrader export --exporter=grader.export.LongExportPlugin --to long.csv
"""

from __future__ import annotations

import csv
import json
import os

from nbgrader.plugins import ExportPlugin

from grader import term
from grader.course import Course, CourseError

LONG_FIELDS = ["assignment", "student", "first_name", "last_name", "lms_user_id", "section",
               "status", "timestamp", "due", "extension", "minutes_late", "autograded_score",
               "manual_score", "late_penalty", "score", "max_score", "needs_manual_grade",
               "needs_attention", "problems"]
CANVAS_FIXED = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
FORMATS = ("canvas", "wide", "long")


def _result(course: Course, assignment: str, student: str) -> dict | None:
    try:
        with open(course.result_path(assignment, student), encoding="utf-8") as f:
            return json.load(f)
    except (OSError, json.JSONDecodeError):
        return None


def _students(gb, course: Course, assignment: str) -> tuple[list[str], list[str]]:
    """(rostered students, submitters off the roster) of one assignment."""
    known = sorted(term.roster(gb))
    graded = sorted(f[:-5] for f in os.listdir(course.results_dir(assignment))
                    if f.endswith(".json")) if os.path.isdir(course.results_dir(assignment)) else []
    submitters = sorted(set(graded) | set(course.submitted_students(assignment)))
    return known, [s for s in submitters if s not in set(known)]


def long_rows(gb, course: Course, assignments: list[str]) -> list[dict]:
    """One row per (assignment, student): rostered students first, then those off the roster."""
    from grader.grading import ATTENTION, all_problems

    students = {s.id: s for s in gb.students}
    section = term.sections(course)
    rows = []
    for assignment in assignments:
        known, strangers = _students(gb, course, assignment)
        for student in known + strangers:
            t = term.totals(gb, course, assignment, student)
            summary = _result(course, assignment, student)
            problems = all_problems(summary) if summary else []
            if student in strangers and student not in students:
                status = "not on the roster"
                problems.append({"kind": "not-on-roster", "detail": ""})
            elif t["submitted"]:
                status = "graded"
            else:
                status = "missing"
            if t["submitted"] and t["needs_manual_grade"]:
                # a hand-graded cell whose answer changed since (grader.gradebook flags it)
                for nb in gb.find_submission(assignment, student).notebooks:
                    if any(g.manual_score is not None and g.needs_manual_grade for g in nb.grades):
                        problems.append({"kind": "changed-since-hand-graded", "detail": ""})
            auto = t["autograded"] if t["submitted"] else (
                term.r2(summary["score"]) if summary else 0.0)
            row = students.get(student)
            kinds = sorted({p["kind"] for p in problems})
            rows.append({
                "assignment": assignment, "student": student,
                "first_name": getattr(row, "first_name", None) or "",
                "last_name": getattr(row, "last_name", None) or "",
                "lms_user_id": getattr(row, "lms_user_id", None) or "",
                "section": section.get(student, ""), "status": status,
                "timestamp": "" if t["timestamp"] is None else f"{t['timestamp']:%Y-%m-%d %H:%M:%S}",
                "due": "" if t["due"] is None else f"{t['due']:%Y-%m-%d %H:%M:%S}",
                "extension": "yes" if t["extended"] else "",
                "minutes_late": f"{t['seconds_late'] / 60:.0f}" if t["seconds_late"] else "0",
                "autograded_score": term.fmt(auto), "manual_score": term.fmt(t["manual"]),
                "late_penalty": term.fmt(t["penalty"]), "score": term.fmt(t["final"]),
                "max_score": term.fmt(t["max_score"]),
                "needs_manual_grade": bool(t["needs_manual_grade"]),
                "needs_attention": any(k in ATTENTION for k in kinds),
                "problems": ";".join(kinds)})
    return rows


def _per_student(rows: list[dict]) -> dict[str, dict[str, dict]]:
    table: dict[str, dict[str, dict]] = {}
    for row in rows:
        if row["status"] != "not on the roster":
            table.setdefault(row["student"], {})[row["assignment"]] = row
    return table


def wide_table(rows: list[dict], assignments: list[str]) -> tuple[list[str], list[list[str]]]:
    header = ["student", "first_name", "last_name", "lms_user_id", "section", *assignments,
              "total", "max_total"]
    maxima = {r["assignment"]: float(r["max_score"]) for r in rows}
    out = []
    for student, by in sorted(_per_student(rows).items()):
        first = next(iter(by.values()))
        scores = [float(by[a]["score"]) if a in by else 0.0 for a in assignments]
        out.append([student, first["first_name"], first["last_name"], first["lms_user_id"],
                    first["section"], *[term.fmt(x) for x in scores], term.fmt(sum(scores)),
                    term.fmt(sum(maxima.get(a, 0.0) for a in assignments))])
    return header, out


def canvas_table(gb, rows: list[dict], assignments: list[str]
                 ) -> tuple[list[str], list[list[str]]]:
    students = {s.id: s for s in gb.students}
    maxima = {a.name: term.fmt(a.max_score) for a in gb.assignments}
    header = CANVAS_FIXED + assignments
    out = [["Points Possible", "", "", "", "", *[maxima[a] for a in assignments]]]
    for student, by in sorted(_per_student(rows).items()):
        first = next(iter(by.values()))
        row = students.get(student)
        name = ", ".join(x for x in (first["last_name"], first["first_name"]) if x) or student
        out.append([name, first["lms_user_id"], student, getattr(row, "email", None) or "",
                    first["section"], *[by[a]["score"] if a in by else "0"
                                        for a in assignments]])
    return header, out


def write_export(gb, course: Course, fmt: str, path: str,
                 assignments: list[str] | None = None) -> int:
    """Write one format to ``path``; returns the number of data rows."""
    if fmt not in FORMATS:
        raise CourseError(f"--format: expected one of {', '.join(FORMATS)}, got {fmt!r}")
    names = assignments or term.released_assignments(gb, course)
    known = {a.name for a in gb.assignments}
    unknown = [a for a in names if a not in known]
    if unknown:
        raise CourseError(f"export: not in the gradebook: {', '.join(unknown)}")
    rows = long_rows(gb, course, names)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        if fmt == "long":
            writer = csv.DictWriter(f, fieldnames=LONG_FIELDS)
            writer.writeheader()
            writer.writerows(rows)
            return len(rows)
        header, table = (wide_table(rows, names) if fmt == "wide"
                         else canvas_table(gb, rows, names))
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(table)
        return len(table)


def export(course_dir: str, fmt: str, output: str | None,
           assignments: list[str] | None = None) -> int:
    """``python -m grader export``: exit status 0."""
    from nbgrader.api import Gradebook

    course = Course(course_dir)
    term.check_gradebook(course)
    path = output or os.path.join(course.reports_dir(), f"grades-{fmt}.csv")
    with Gradebook(course.db_url) as gb:
        count = write_export(gb, course, fmt, path, assignments)
    print(f"wrote {path} ({count} row(s), format {fmt})")
    return 0


class _GraderExport(ExportPlugin):
    """An nbgrader export plugin writing one of the grader's formats."""

    format = "long"

    def export(self, gradebook) -> None:
        root = self.parent.coursedir.root if self.parent is not None else "."
        course = Course(root)
        path = self.to or f"grades-{self.format}.csv"
        count = write_export(gradebook, course, self.format, path,
                             [str(a) for a in self.assignment] or None)
        self.log.info("Wrote %s (%d rows, format %s)", path, count, self.format)


class CanvasExportPlugin(_GraderExport):
    format = "canvas"


class WideExportPlugin(_GraderExport):
    format = "wide"


class LongExportPlugin(_GraderExport):
    format = "long"
