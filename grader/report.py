"""``python -m grader report``: the instructor's view of a whole class.

Writes to ``COURSE/reports/`` (or ``--output``):

- ``grades.csv``: one row per rostered student and assignment (``missing``
  where nothing was submitted, and a row for each submitter off the roster):
  the ``long`` export of :mod:`grader.export` (autograded and hand-graded
  points, lateness, penalty, final score, attention);
- ``checks.csv``: one row per check: how many students failed it;
- ``report.html``: summary statistics and a histogram of the final scores per
  assignment, every student's row, the
  failure rate of every check across the class (which concepts students
  miss), and the submissions needing attention (crashed, timed out, flagged
  for integrity or tampering, missing or unreadable notebooks), with the
  plots embedded as PNG images so the page is a single file.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import os
import statistics
import time

from grader.course import Course, CourseError
from grader.grading import ATTENTION, all_problems


def _load_results(course: Course, assignment: str) -> list[dict]:
    directory = course.results_dir(assignment)
    if not os.path.isdir(directory):
        return []
    summaries = []
    for name in sorted(os.listdir(directory)):
        if name.endswith(".json"):
            with open(os.path.join(directory, name)) as f:
                summaries.append(json.load(f))
    return summaries


def _png(figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def score_histogram(assignment: str, scores: list[float], max_score: float) -> str:
    """Base64 PNG: how many students got each score."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 3))
    bins = min(20, max(5, int(max_score) + 1)) if max_score > 0 else 5
    axis.hist(scores, bins=bins, range=(0, max(max_score, 1e-9)), color="#3a6ea5",
              edgecolor="white")
    axis.set_xlabel(f"total score (out of {max_score:g})")
    axis.set_ylabel("students")
    axis.set_title(f"{assignment}: scores of {len(scores)} submissions")
    return _png(figure)


def failure_chart(assignment: str, rates: list[tuple[str, float]]) -> str:
    """Base64 PNG: fraction of the class failing each check, worst first."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rates = sorted(rates, key=lambda r: (-r[1], r[0]))
    height = 0.35 * len(rates) + 1.2
    figure, axis = plt.subplots(figsize=(7, height))
    labels = [label if len(label) <= 60 else label[:57] + "..." for label, _ in rates]
    axis.barh(range(len(rates)), [r for _, r in rates], color="#c0504d")
    axis.set_yticks(range(len(rates)), labels, fontsize=8)
    axis.invert_yaxis()
    axis.set_xlim(0, 1)
    axis.set_xlabel("fraction of submissions failing the check")
    axis.set_title(f"{assignment}: failure rate per check")
    return _png(figure)


def check_rates(summaries: list[dict]) -> list[dict]:
    """Per check (notebook, cell, name): submissions that ran it and that failed it."""
    table: dict[tuple[str, str, str], list[int]] = {}
    for summary in summaries:
        for nb in summary.get("notebooks", []):
            for check in nb.get("checks", []):
                key = (nb["notebook"], check["cell"], check["name"])
                counts = table.setdefault(key, [0, 0])
                counts[0] += 1
                counts[1] += check["status"] != "passed"
    return [{"notebook": k[0], "cell": k[1], "check": k[2], "submissions": v[0],
             "failed": v[1], "failure_rate": v[1] / v[0] if v[0] else 0.0}
            for k, v in sorted(table.items())]


def write_report(course_dir: str, assignments: list[str] | None = None,
                 output: str | None = None) -> int:
    """Write grades.csv, checks.csv and report.html; returns the exit status."""
    from nbgrader.api import Gradebook

    from grader import export, term

    course = Course(course_dir)
    term.check_gradebook(course)
    target = output or course.reports_dir()
    os.makedirs(target, exist_ok=True)
    check_rows, sections, attention = [], [], []
    with Gradebook(course.db_url) as gb:
        known = {a.name: a for a in gb.assignments}
        # default: the released problem sets (those not released yet have nobody to list)
        names = assignments or term.released_assignments(gb, course) or sorted(known)
        unknown = [a for a in names if a not in known]
        if unknown:
            raise CourseError(f"--assignment: not in the gradebook: {', '.join(unknown)}")
        rows = export.long_rows(gb, course, names)
        for assignment in names:
            max_score = float(known[assignment].max_score)
            summaries = _load_results(course, assignment)
            mine = [r for r in rows if r["assignment"] == assignment]
            for row in mine:
                if row["status"] == "missing":
                    continue
                summary = next((s for s in summaries if s["student"] == row["student"]), {})
                problems = [p for p in all_problems(summary) if p["kind"] in ATTENTION]
                if row["status"] == "not on the roster":
                    problems.append({"kind": "not-on-roster", "detail": "not on the roster: "
                                     "not graded into the gradebook"})
                if "changed-since-hand-graded" in row["problems"]:
                    problems.append({"kind": "changed-since-hand-graded",
                                     "detail": "the answer changed since it was graded by hand"})
                for problem in problems:
                    attention.append((assignment, row["student"], problem.get("notebook", ""),
                                      problem["kind"], problem["detail"]))
            rates = check_rates(summaries)
            check_rows += [dict(r, assignment=assignment) for r in rates]
            sections.append(_section(assignment, mine, max_score, rates))
    _write_csv(os.path.join(target, "grades.csv"), rows, export.LONG_FIELDS)
    _write_csv(os.path.join(target, "checks.csv"), check_rows,
               ["assignment", "notebook", "cell", "check", "submissions", "failed",
                "failure_rate"])
    page = _page(sections, attention)
    with open(os.path.join(target, "report.html"), "w", encoding="utf-8") as f:
        f.write(page)
    print(f"wrote {os.path.join(target, 'grades.csv')}, checks.csv and report.html "
          f"({len(rows)} row(s), {len(attention)} problem(s) needing attention)")
    return 0


def _write_csv(path: str, rows: list[dict], fields: list[str]) -> None:
    # A previous export may have been annotated by hand: keep it, never overwrite it.
    if os.path.exists(path):
        backup = f"{path}.{time.strftime('%Y%m%d-%H%M%S')}.bak"
        os.replace(path, backup)
        print(f"kept the previous {os.path.basename(path)} as {backup}")
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (f"{v:.4f}".rstrip("0").rstrip(".") if isinstance(v, float)
                                 else v)
                             for k, v in row.items()})


def _section(assignment: str, rows: list[dict], max_score: float, rates: list[dict]) -> str:
    e = html.escape
    parts = [f"<h2>{e(assignment)}</h2>"]
    scores = [float(r["score"]) for r in rows if r["status"] == "graded"]
    missing = [r["student"] for r in rows if r["status"] == "missing"]
    table = "".join(
        f"<tr><td>{e(r['student'])}</td><td>{e(r['status'])}</td>"
        f"<td>{e(r['autograded_score'])}</td><td>{e(r['manual_score'])}</td>"
        f"<td>{e(r['minutes_late'])}</td><td>{e(r['late_penalty'])}</td>"
        f"<td>{e(r['score'])} / {e(r['max_score'])}</td></tr>" for r in rows)
    students = ("<table><tr><th>student</th><th>status</th><th>autograded</th><th>manual</th>"
                "<th>minutes late</th><th>penalty</th><th>final</th></tr>" + table + "</table>")
    if not scores:
        return parts[0] + "<p>No graded submissions.</p>" + students
    parts.append(
        f"<p>{len(scores)} submissions ({len(missing)} missing: "
        f"{e(', '.join(missing)) or 'none'}); mean {statistics.mean(scores):.2f}, median "
        f"{statistics.median(scores):g}, min {min(scores):g}, max {max(scores):g} "
        f"(out of {max_score:g}; final scores: hand grades and penalties included).</p>")
    parts.append(f"<img alt='score histogram of {e(assignment)}' "
                 f"src='data:image/png;base64,{score_histogram(assignment, scores, max_score)}'>")
    parts.append(students)
    if rates:
        labels = [(f"{r['cell']}: {r['check']}", r["failure_rate"]) for r in rates]
        parts.append(f"<img alt='failure rate per check of {e(assignment)}' "
                     f"src='data:image/png;base64,{failure_chart(assignment, labels)}'>")
        body = "".join(f"<tr><td>{e(r['cell'])}</td><td>{e(r['check'])}</td>"
                       f"<td>{r['failed']} / {r['submissions']}</td></tr>"
                       for r in sorted(rates, key=lambda r: -r["failure_rate"]))
        parts.append("<table><tr><th>cell</th><th>check</th><th>failed</th></tr>"
                     f"{body}</table>")
    return "\n".join(parts)


def _page(sections: list[str], attention: list[tuple]) -> str:
    e = html.escape
    rows = "".join(f"<tr><td>{e(a)}</td><td>{e(s)}</td><td>{e(n)}</td><td>{e(k)}</td>"
                   f"<td>{e(d)}</td></tr>" for a, s, n, k, d in attention)
    table = ("<table><tr><th>assignment</th><th>student</th><th>notebook</th><th>problem</th>"
             f"<th>details</th></tr>{rows}</table>") if attention else "<p>None.</p>"
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            "<title>Grading report</title><style>body{font-family:system-ui,sans-serif;"
            "max-width:70rem;margin:2rem auto;padding:0 1rem}table{border-collapse:collapse;"
            "margin:.5rem 0 1.5rem}td,th{border-bottom:1px solid #ddd;padding:.3rem .5rem;"
            "text-align:left;vertical-align:top}img{max-width:100%}</style></head><body>"
            "<h1>Grading report</h1>"
            f"<h2>Submissions needing attention ({len(attention)})</h2>{table}"
            + "\n".join(sections) + "</body></html>")
