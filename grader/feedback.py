"""``python -m grader feedback``: one HTML page per graded notebook, for the student.

Built only from the trusted results (check names, points, verdict messages,
safe error names) and the gradebook (manual scores and comments): never from
the executed notebook, whose outputs the student's code controls and whose
test cells contain the hidden tests. As a second line of defence every
message is checked against the hidden tests and the solutions of the
assignment (whole lines, and identifiers that occur only there) and withheld
if it quotes them, since a student's error message could carry text its code
read from the test that called it.

Output: ``feedback/<student>/<assignment>/<notebook>.html`` (nbgrader's layout).
"""

from __future__ import annotations

import html
import json
import os
import re

from grader import notebook
from grader.course import Course, CourseError

WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]{5,}")
WITHHELD = "[message withheld: it quoted the hidden tests]"
STYLE = """
body { font-family: system-ui, sans-serif; max-width: 56rem; margin: 2rem auto; padding: 0 1rem;
       color: #1d1d1f; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin-top: 2rem; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0 1rem; }
th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid #ddd;
         vertical-align: top; }
.pass { color: #1a7f37; font-weight: 600; } .fail { color: #b42318; font-weight: 600; }
.note { background: #fff8e1; padding: .5rem .75rem; border-left: 4px solid #f0b400; }
.muted { color: #666; }
"""


class Redactor:
    """Withholds messages that quote hidden tests or solutions."""

    def __init__(self, secret_texts: list[str], public_texts: list[str]):
        self.lines = {notebook.normalise(line) for text in secret_texts
                      for line in text.splitlines() if len(notebook.normalise(line)) >= 12}
        public_words = {w for text in public_texts for w in WORD.findall(text)}
        self.words = {w for text in secret_texts for w in WORD.findall(text)} - public_words

    def clean(self, message: str) -> str:
        flat = notebook.normalise(message)
        if any(line in flat for line in self.lines):
            return WITHHELD
        if any(word in self.words for word in WORD.findall(message)):
            return WITHHELD
        return message


def kernel_side_texts(course: Course, assignment: str) -> list[str]:
    """The sources of the helpers' kernel-side copy: mounted in every sandbox, so public."""
    root = os.path.join(course.state_dir, "sandbox", assignment, "helpers")
    texts = []
    for directory, _, files in os.walk(root):
        for name in sorted(files):
            if name.endswith(".py"):
                with open(os.path.join(directory, name), encoding="utf-8") as f:
                    texts.append(f.read())
    return texts


def redactor_for(model: notebook.NotebookModel, check_names: list[str],
                 readable: list[str] | None = None) -> Redactor:
    """Secrets: hidden-test regions and solution regions; public: what students received.

    ``readable``: other texts students can read anyway (the helpers' kernel-side copy),
    so that a trusted message's ordinary words ("wrong outputs") are not taken for secrets
    because the solution happens to use them too.
    """
    secrets, public = [], list(check_names) + list(readable or [])
    for grade_id, source in model.gradebook_source.items():
        secrets += notebook.region_lines(source, notebook.BEGIN_HIDDEN, notebook.END_HIDDEN)
        public.append(model.release_source(grade_id))
    for cell in model.source_cells:
        secrets += notebook.region_lines(cell.source, notebook.BEGIN_SOLUTION,
                                         notebook.END_SOLUTION)
        if notebook.grade_id_of(cell) is None:
            public.append(cell.source)  # unlabelled cells are released as they are
    # Check names are shown by design (their words are public), although written in hidden tests.
    return Redactor(secrets, public)


def _e(text) -> str:
    return html.escape(str(text), quote=True)


def _score(value: float | None) -> str:
    return "–" if value is None else f"{value:g}"


def _final(grade: dict | None, hand: dict | None) -> float | None:
    """The points a cell counts for: the hand score if any, else the autograded one, + extra."""
    hand = hand or {}
    extra = hand.get("extra") or 0.0
    if hand.get("manual") is not None:
        return hand["manual"] + extra
    auto = grade["auto_score"] if grade else None
    return None if auto is None else auto + extra


def render_notebook(student: str, assignment: str, result: dict, manual: dict,
                    redactor: Redactor, lateness: str = "", penalty: float = 0.0) -> str:
    """The feedback page of one notebook (``manual``: grade_id -> hand grade, see _manual_grades).

    Every graded cell shows the points it counts for (a hand score or override
    included), so the cells' lines add up to the score; the late penalty, if
    any, is the one line between the score and the total.
    """
    name = result["notebook"]
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
             f"<title>{_e(assignment)} / {_e(name)}: feedback</title><style>{STYLE}</style>"
             f"</head><body><h1>{_e(assignment)} / {_e(name)}</h1>"
             f"<p class='muted'>Feedback for {_e(student)}</p>"]
    total = 0.0
    pending = False
    for grade_id, values in result["grades"].items():
        points = _final(values, manual.get(grade_id))
        if points is None:
            pending = True
        else:
            total += points
    total = round(total, 2)
    final = round(max(0.0, total - penalty), 2)
    if penalty or lateness:
        parts.append(f"<p class='score'>Points: {total:g} / {result['max_score']:g}</p>"
                     f"<p class='late'>{_e(lateness)}</p>"
                     f"<p><strong>Total: {final:g} / {result['max_score']:g}</strong>"
                     + (" (written answers not graded yet)" if pending else "") + "</p>")
    else:
        parts.append(f"<p><strong>Score: {total:g} / {result['max_score']:g}</strong>"
                     + (" (written answers not graded yet)" if pending else "") + "</p>")
    if result["status"] != "graded":
        detail = result["problems"][0]["detail"] if result.get("problems") else result["status"]
        parts.append(f"<p class='note'>This notebook was not graded: {_e(detail)}. "
                     f"Ask your instructor.</p>")
    crashes = [p for p in result.get("problems", []) if p["kind"] in ("crash", "timeout")]
    for problem in crashes:
        parts.append(f"<p class='note'>{_e(redactor.clean(problem['detail']))}. The notebook "
                     f"was run again without that cell so that the rest could be graded.</p>")
    checks_by_cell: dict[str, list[dict]] = {}
    for check in result.get("checks", []):
        checks_by_cell.setdefault(check["cell"], []).append(check)
    cells = result.get("cells", []) or [
        {"grade_id": g, "role": notebook.ROLE_TEST if v["auto_score"] is not None
         else notebook.ROLE_MANUAL, "status": result["status"], "max_score": None}
        for g, v in result["grades"].items()]
    for cell in cells:
        parts.append(_render_cell(cell, checks_by_cell.get(cell["grade_id"], []),
                                  result["grades"].get(cell["grade_id"]),
                                  manual.get(cell["grade_id"]), redactor))
    parts.append("</body></html>")
    return "\n".join(p for p in parts if p)


def _hand_note(hand: dict | None) -> str:
    hand = hand or {}
    notes = []
    if hand.get("manual") is not None and hand.get("auto") is not None:
        notes.append(f"set by your instructor (autograded: {hand['auto']:g})")
    if hand.get("extra"):
        notes.append(f"including {hand['extra']:g} extra credit")
    out = f"<p class='muted'>{_e('; '.join(notes))}</p>" if notes else ""
    if hand.get("comment"):
        out += f"<p class='comment'>{_e(hand['comment'])}</p>"
    return out


def _render_cell(cell: dict, checks: list[dict], grade: dict | None, hand, redactor) -> str:
    role, grade_id = cell["role"], cell["grade_id"]
    points = _final(grade, hand)
    maximum = "" if cell.get("max_score") is None else f" / {cell['max_score']:g}"
    if role == notebook.ROLE_TEST:
        head = (f"<h2>Tests <code>{_e(grade_id)}</code>: {_score(points)}{maximum} "
                f"points</h2>") + _hand_note(hand)
        if checks:
            rows = []
            for check in checks:
                ok = check["status"] == "passed"
                messages = "<br>".join(_e(redactor.clean(m)) for m in check["messages"])
                rows.append(f"<tr><td>{_e(check['name'])}</td>"
                            f"<td>{check['earned']:g} / {check['points']:g}</td>"
                            f"<td class='{'pass' if ok else 'fail'}'>"
                            f"{'passed' if ok else 'failed'}</td><td>{messages}</td></tr>")
            return head + ("<table><tr><th>check</th><th>points (autograded)</th><th>result</th>"
                           "<th>details</th></tr>" + "".join(rows) + "</table>")
        if cell["status"] == "ok":
            state = "<span class='pass'>passed</span>"
        elif cell["status"] == "error":
            state = f"<span class='fail'>failed</span> ({_e(cell.get('error') or 'an error')})"
        else:
            state = f"<span class='fail'>{_e(cell['status'])}</span>"
        if grade and grade.get("needs_manual_grade"):
            state += " – held for review by your instructor"
        return head + f"<p>{state}</p>"
    if role in (notebook.ROLE_MANUAL, notebook.ROLE_TASK):
        auto = grade["auto_score"] if grade else None
        if points is not None and (hand or {}).get("manual") is not None:
            text = f"{_score(points)}{maximum} points"
        elif auto == 0 and not cell.get("answered", True):
            text = f"0{maximum} points – no answer"
        elif points is not None and auto is not None:
            text = f"{_score(points)}{maximum} points"
        else:
            text = "to be graded by hand"
        hand = dict(hand or {}, auto=None)
        return f"<h2>Written answer <code>{_e(grade_id)}</code>: {text}</h2>" + _hand_note(hand)
    if role == notebook.ROLE_SOLUTION:
        out = ""
        if cell["status"] in ("crash", "timeout"):
            out = f"<p class='fail'>{_e(redactor.clean(cell['detail']))}</p>"
        if (hand or {}).get("comment"):
            out += f"<p class='comment'>{_e(hand['comment'])}</p>"
        return f"<h2>Your code <code>{_e(grade_id)}</code></h2>{out}" if out else ""
    return ""


def _manual_grades(gb, assignment: str, student: str, nb_name: str, result: dict) -> dict:
    """grade_id -> {"manual", "extra", "auto", "comment"} for every cell a human touched."""
    from nbgrader.api import MissingEntry

    manual = {}
    for grade_id in set(result["grades"]) | set(result.get("comments", {})):
        entry = {"manual": None, "extra": None, "auto": None, "comment": None}
        if grade_id in result["grades"]:
            try:
                grade = gb.find_grade(grade_id, nb_name, assignment, student)
            except MissingEntry:
                grade = None
            if grade is not None:
                entry.update(manual=grade.manual_score, extra=grade.extra_credit,
                             auto=grade.auto_score)
        try:
            entry["comment"] = gb.find_comment(grade_id, nb_name, assignment,
                                               student).manual_comment
        except MissingEntry:
            pass
        if entry["manual"] is not None or entry["extra"] or entry["comment"]:
            manual[grade_id] = entry
    return manual


def write_feedback(course_dir: str, assignment: str, students: list[str] | None = None) -> int:
    """Write every feedback page; returns the exit status (0, or 2 if nothing was graded)."""
    from nbgrader.api import Gradebook

    from grader import term

    course = Course(course_dir)
    term.check_gradebook(course)
    results_dir = course.results_dir(assignment)
    if not os.path.isdir(results_dir):
        raise CourseError(f"no results for {assignment!r}: run `python -m grader autograde "
                          f"{assignment}` first")
    names = sorted(f[:-5] for f in os.listdir(results_dir) if f.endswith(".json"))
    if students:
        names = [n for n in names if n in set(students)]
    written = 0
    readable = kernel_side_texts(course, assignment)
    with Gradebook(course.db_url) as gb:
        models = {}
        for row in gb.find_assignment(assignment).notebooks:
            models[row.name] = notebook.load_model(gb, assignment, row.name,
                                                   course.source_notebook(assignment, row.name))
        for student in names:
            with open(os.path.join(results_dir, f"{student}.json")) as f:
                summary = json.load(f)
            target = course.path("feedback", student, assignment)
            os.makedirs(target, exist_ok=True)
            lateness = term.lateness_text(term.totals(gb, course, assignment, student))
            penalties = {}
            try:
                for row in gb.find_submission(assignment, student).notebooks:
                    penalties[row.name] = row.late_submission_penalty or 0.0
            except Exception:  # noqa: BLE001 - not committed (e.g. refused): no penalty
                pass
            for result in summary["notebooks"]:
                model = models[result["notebook"]]
                checks = sorted({c["name"] for c in result.get("checks", [])})
                page = render_notebook(student, assignment, result,
                                       _manual_grades(gb, assignment, student,
                                                      result["notebook"], result),
                                       redactor_for(model, checks, readable), lateness,
                                       round(penalties.get(result["notebook"], 0.0), 2))
                with open(os.path.join(target, f"{result['notebook']}.html"), "w",
                          encoding="utf-8") as f:
                    f.write(page)
                written += 1
    print(f"wrote {written} feedback page(s) to "
          f"{os.path.join(course.root, course.coursedir.feedback_directory)}")
    return 0
