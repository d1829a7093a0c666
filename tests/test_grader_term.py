"""A whole term, end to end, on the fixture course (issue 9).

Roster of 8 (plus one submitter who is not on it), three problem sets with due
dates, one extension, one late student under each late policy (``none``,
``zero`` and the shipped per-hour plugin), one missing student, hand grades
entered through nbgrader's Gradebook API exactly as formgrader's API handlers
enter them, a forced regrade (hand grades and overrides kept; a changed answer
flagged), feedback, the report and the three exports. Every number is asserted.
"""

from __future__ import annotations

import csv
import io
import re
import shutil
import subprocess
import sys
import time

import pytest
from grading_corpus import corpus, harness

pytestmark = pytest.mark.slow

A, B, C = "fx_rnn", "fx_b", "fx_c"
NB = corpus.NOTEBOOK
HONEST = corpus.HONEST[0]
PARTIAL = corpus.HONEST[2]
STUDENTS = [f"s{i}" for i in range(1, 9)]
FIRST = dict(zip(STUDENTS, ["Ada", "Ben", "Cy", "Dee", "Eve", "Fay", "Gus", "Hal"], strict=True))
LAST = dict(zip(STUDENTS, ["Adams", "Brown", "Chen", "Diaz", "Evans", "Ford", "Gray", "Hill"],
                strict=True))
DUE = {A: "2026-10-01 17:00:00 UTC", B: "2026-10-15 17:00:00 UTC", C: "2026-10-29 17:00:00 UTC"}
POLICY = {
    A: 'c.LateSubmissionPlugin.penalty_method = "none"\n',
    B: 'c.LateSubmissionPlugin.penalty_method = "zero"\n',
    C: ('c.AssignLatePenalties.plugin_class = "grader.late.PerHourPenalty"\n'
        "c.PerHourPenalty.points_per_hour = 0.5\nc.PerHourPenalty.max_penalty = 2.0\n"),
}
MEAN_LOOP = '''def running_mean(x):
    out = np.empty(len(x))
    total = 0.0
    for t, value in enumerate(x):
        total += value
        out[t] = total / (t + 1)
    return out'''

# (assignment, student) -> (autograded, manual, penalty, final, needs_manual_grade)
EXPECTED = {
    (A, "s1"): (6, 1, 0, 7, False), (A, "s2"): (6, 0.5, 0, 6.5, False),
    (A, "s3"): (6, 0, 0, 6, True), (A, "s4"): (4, 0, 0, 4, False),
    (A, "s5"): (6, 1, 0, 7, False), (A, "s6"): (6, 1, 0, 7, False),
    (A, "s7"): (4, 0, 0, 4, False), (A, "s8"): (6, 1, 0, 7, False),
    (B, "s1"): (6, 1, 0, 7, False), (B, "s2"): (6, 0, 0, 6, True),
    (B, "s3"): (6, 0, 0, 6, True), (B, "s4"): (6, 1, 7, 0, False),
    (B, "s5"): (6, 0, 0, 6, True), (B, "s6"): (6, 0, 0, 6, True),
    (B, "s7"): (6, 0, 0, 6, True), (B, "s8"): (0, 0, 0, 0, False),
    (C, "s1"): (4, 2, 0, 6, False), (C, "s2"): (6, 0, 0, 6, True),
    (C, "s3"): (6, 0, 0, 6, True), (C, "s4"): (6, 0, 0, 6, True),
    (C, "s5"): (6, 1, 2, 5, False), (C, "s6"): (4, 1.5, 0.5, 5, True),
    (C, "s7"): (4, 1.5, 0, 5.5, False), (C, "s8"): (6, 0, 0, 6, True),
}


def run(course, *argv, cwd=None):
    env = harness.environment()
    env["PYTHONPATH"] = str(harness.REPO)
    if argv[0] == "nbgrader":
        argv = (sys.executable, "-m", "nbgrader", *argv[1:])
    else:
        argv = (sys.executable, "-m", "grader", *argv, "--course", str(course))
    return subprocess.run(argv, cwd=cwd or harness.REPO, env=env, capture_output=True,
                          text=True, timeout=900)


def submit(course, student, assignment, case, when, running_mean=None):
    nb = harness.submission_json(course, case)
    if running_mean is not None:
        for cell in nb["cells"]:
            if cell["metadata"].get("nbgrader", {}).get("grade_id") == "running_mean":
                cell["source"] = running_mean
    directory = course / "submitted" / student / assignment
    directory.mkdir(parents=True, exist_ok=True)
    import json

    (directory / f"{NB}.ipynb").write_text(json.dumps(nb), encoding="utf-8")
    (directory / "timestamp.txt").write_text(when)


def hand_grade(course, assignment, student, grade_id, manual=None, extra=None, comment=None,
               comment_on=None):
    """What formgrader's GradeHandler / CommentHandler do with a TA's input."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        grade = gb.find_grade(grade_id, NB, assignment, student)
        grade.manual_score = manual
        grade.extra_credit = extra
        grade.needs_manual_grade = manual is None and grade.auto_score is None
        gb.db.commit()
        if comment is not None:  # comments belong to solution and written-answer cells
            gb.find_comment(comment_on or grade_id, NB, assignment,
                            student).manual_comment = comment
            gb.db.commit()


def autograde(course, assignment, *args):
    return run(course, "autograde", assignment, "--quiet", *harness.FAST, "--workers", "2",
               *args)


def set_policy(course, assignment):
    config = course / "nbgrader_config.py"
    base = config.read_text().split("# --- late policy ---")[0]
    config.write_text(base + "# --- late policy ---\n" + POLICY[assignment])


def feedback_numbers(page: str) -> tuple[list[float], float]:
    """(points of every graded cell, the points line) of a feedback page."""
    cells = [float(x) for x in re.findall(r"</code>: ([0-9.]+)(?: / [0-9.]+)? points", page)]
    total = re.search(r"(?:Score|Points): ([0-9.]+) /", page)
    return cells, float(total.group(1))


@pytest.fixture(scope="module")
def term(tmp_path_factory):
    started = time.monotonic()
    base = tmp_path_factory.getbasetemp() / "grader"
    base.mkdir(exist_ok=True)
    course = harness.course_copy(base, "term")
    config = course / "nbgrader_config.py"
    config.write_text(config.read_text() + "\n")
    for name in (B, C):
        shutil.copytree(course / "source" / A, course / "source" / name)
    for name in (A, B, C):
        done = run(course, "nbgrader", "generate_assignment", name, "--force", cwd=course)
        assert done.returncode == 0, done.stderr[-3000:]
        done = run(course, "nbgrader", "db", "assignment", "add", name,
                   f"--duedate={DUE[name]}", cwd=course)
        assert done.returncode == 0, done.stderr[-3000:]
    roster = course / "roster.csv"
    with open(roster, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "first_name", "last_name", "email", "lms_user_id", "section"])
        for i, s in enumerate(STUDENTS):
            writer.writerow([s, FIRST[s], LAST[s], f"{s}@uni.example", str(9001 + i),
                             "A" if i < 4 else "B"])
    out = {"course": course, "stdout": {}}
    done = run(course, "roster", str(roster))
    assert done.returncode == 0 and "imported 8 student(s)" in done.stdout, done.stderr
    done = run(course, "extend", "s2", A, "--until", "2026-10-03 17:00:00 UTC")
    assert done.returncode == 0 and "s2 may submit fx_rnn until 2026-10-03 17:00:00" in done.stdout

    # --- problem set A: policy none; an extension; one late; one off the roster
    set_policy(course, A)
    for s in STUDENTS:
        case = PARTIAL if s in ("s4", "s7") else HONEST
        when = {"s2": "2026-10-02 12:00:00 UTC", "s3": "2026-10-01 22:00:00 UTC"}.get(
            s, "2026-10-01 12:00:00 UTC")
        submit(course, s, A, case, when)
    submit(course, "x9", A, HONEST, "2026-10-01 12:00:00 UTC")
    out["stdout"][A] = done = autograde(course, A)
    assert done.returncode == 1, done.stdout + done.stderr
    for s, score in (("s1", 1), ("s5", 1), ("s6", 1), ("s8", 1), ("s2", 0.5)):
        hand_grade(course, A, s, "answer_running_mean", manual=score,
                   comment="Good." if score == 1 else "Half right: why 1/t?")

    # --- problem set B: policy zero; s4 late; s8 never submits
    set_policy(course, B)
    for s in STUDENTS[:7]:
        when = "2026-10-16 17:00:00 UTC" if s == "s4" else "2026-10-15 10:00:00 UTC"
        submit(course, s, B, HONEST, when)
    out["stdout"][B] = done = autograde(course, B)
    assert done.returncode == 0, done.stdout + done.stderr
    hand_grade(course, B, "s1", "answer_running_mean", manual=1)
    hand_grade(course, B, "s4", "answer_running_mean", manual=1)
    again = autograde(course, B)  # totals and penalties refreshed from the hand grades
    assert again.returncode == 0 and "0 graded now, 7 from an earlier run" in again.stdout

    # --- problem set C: the per-hour plugin; hand grades, an override, extra credit; --force
    set_policy(course, C)
    for s in STUDENTS:
        case = PARTIAL if s == "s7" else HONEST
        when = {"s5": "2026-10-29 20:12:00 UTC", "s6": "2026-10-29 17:30:00 UTC"}.get(
            s, "2026-10-29 09:00:00 UTC")
        submit(course, s, C, case, when)
    done = autograde(course, C)
    assert done.returncode == 0, done.stdout + done.stderr
    hand_grade(course, C, "s1", "answer_running_mean", manual=1)
    hand_grade(course, C, "s1", "test_running_mean_hidden", manual=1,
               comment="Override: your mean is right but recomputes every prefix.",
               comment_on="running_mean")
    hand_grade(course, C, "s5", "answer_running_mean", manual=1)
    hand_grade(course, C, "s6", "test_rnn_step_hidden", manual=1.5)
    hand_grade(course, C, "s7", "answer_running_mean", manual=1, extra=0.5)
    # s6 changes their code after the TA's override (same submission time)
    submit(course, "s6", C, HONEST, "2026-10-29 17:30:00 UTC", running_mean=MEAN_LOOP)
    out["stdout"][C] = done = autograde(course, C, "--force")
    assert done.returncode == 1, done.stdout + done.stderr  # s6's flag needs attention
    for name in (A, B, C):
        done = run(course, "feedback", name)
        assert done.returncode == 0, done.stderr
    done = run(course, "report")
    assert done.returncode == 0, done.stderr
    for fmt in ("canvas", "wide", "long"):
        done = run(course, "export", "--format", fmt)
        assert done.returncode == 0, done.stderr
        plugin = {"canvas": "Canvas", "wide": "Wide", "long": "Long"}[fmt]
        done = run(course, "nbgrader", "export", f"--exporter=grader.export.{plugin}ExportPlugin",
                   f"--to={course / f'nbgrader-{fmt}.csv'}", cwd=course)
        assert done.returncode == 0, done.stderr[-3000:]
    out["elapsed"] = time.monotonic() - started
    print(f"\nthe term took {out['elapsed']:.0f} s")
    return out


def _csv(path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_gradebook_holds_every_final_number(term):
    from nbgrader.api import Gradebook

    from grader import term as term_module
    from grader.course import Course

    course = Course(str(term["course"]))
    with Gradebook(course.db_url) as gb:
        assert sorted(s.id for s in gb.students) == STUDENTS  # x9 was not added
        for (assignment, student), (auto, manual, penalty, final, needs) in EXPECTED.items():
            t = term_module.totals(gb, course, assignment, student)
            assert (t["autograded"], t["manual"], t["penalty"], t["final"],
                    t["needs_manual_grade"]) == (auto, manual, penalty, final, needs), \
                (assignment, student, t)
        s6 = gb.find_grade("test_rnn_step_hidden", NB, C, "s6")
        assert s6.manual_score == 1.5 and s6.needs_manual_grade  # kept, flagged
        s1 = gb.find_grade("test_running_mean_hidden", NB, C, "s1")
        assert s1.manual_score == 1 and not s1.needs_manual_grade  # kept through --force
        assert gb.find_grade("answer_running_mean", NB, C, "s7").extra_credit == 0.5
        assert gb.find_submission(A, "s2").extension is not None


def test_console_lists_every_student_lateness_and_strangers(term):
    a, b, c = (term["stdout"][x].stdout for x in (A, B, C))
    assert re.search(r"s3 +6 +0 +6/7 .*submitted 5 h 0 min after the due date; no penalty", a)
    assert re.search(r"x9 .*not on the roster", a)
    assert re.search(r"s8 +0 +0 +0/0 +missing|s8 +0 +0 +0/7 +missing", b)
    assert re.search(r"s4 +6 +0 +-6 +0/7 .*submitted 1 d 0 h 0 min after the due date; "
                     r"penalty -6.0", b)
    assert re.search(r"s5 +6 +1 +-2 +5/7 .*submitted 3 h 12 min after the due date; "
                     r"penalty -2.0", c)
    assert re.search(r"s1 +4 +2 +6/7 +ok", c)
    assert "s6: changed-since-hand-graded" in c
    assert "14.1667" not in a + b + c


def test_feedback_lines_add_up(term):
    course = term["course"]
    for (assignment, student), (_auto, _manual, penalty, final, _needs) in EXPECTED.items():
        page = course / "feedback" / student / assignment / f"{NB}.html"
        if (assignment, student) == (B, "s8"):
            assert not page.exists()
            continue
        text = page.read_text()
        cells, points = feedback_numbers(text)
        assert round(sum(cells), 2) == points, (assignment, student, cells, points)
        if penalty:
            assert f"Total: {final:g} / 7" in text, (assignment, student)
        else:
            assert f"Score: {final:g} / 7" in text or f"Total: {final:g} / 7" in text
    s5 = (course / "feedback" / "s5" / C / f"{NB}.html").read_text()
    assert "submitted 3 h 12 min after the due date; penalty -2.0" in s5
    s1 = (course / "feedback" / "s1" / C / f"{NB}.html").read_text()
    assert "Override: your mean is right" in s1 and "autograded: 2" in s1
    s2 = (course / "feedback" / "s2" / A / f"{NB}.html").read_text()
    assert "Half right: why 1/t?" in s2 and "after the due date" not in s2
    hidden = (course / "source" / A / f"{NB}.ipynb").read_text()
    assert "canary-h" in hidden and "canary-h" not in s5


def test_report_and_long_export_list_everyone(term):
    course = term["course"]
    rows = _csv(course / "reports" / "grades.csv")
    assert rows == _csv(course / "reports" / "grades-long.csv")
    assert _csv(course / "nbgrader-long.csv") == rows
    by = {(r["assignment"], r["student"]): r for r in rows}
    assert len(rows) == 8 * 3 + 1
    assert by[(A, "x9")]["status"] == "not on the roster"
    assert by[(A, "x9")]["needs_attention"] == "True"
    for key, (auto, manual, penalty, final, needs) in EXPECTED.items():
        row = by[key]
        assert (float(row["autograded_score"]), float(row["manual_score"]),
                float(row["late_penalty"]), float(row["score"]), row["needs_manual_grade"]) == (
            auto, manual, penalty, final, str(needs)), (key, row)
        assert row["max_score"] == "7"
    assert by[(B, "s8")]["status"] == "missing"
    assert by[(A, "s2")]["extension"] == "yes" and by[(A, "s2")]["minutes_late"] == "0"
    assert by[(C, "s5")]["minutes_late"] == "192"
    assert by[(C, "s6")]["problems"] == "changed-since-hand-graded"
    assert by[(A, "s5")]["section"] == "B" and by[(A, "s5")]["lms_user_id"] == "9005"
    page = (course / "reports" / "report.html").read_text()
    assert "7 submissions (1 missing: s8)" in page


def test_wide_export(term):
    course = term["course"]
    rows = _csv(course / "reports" / "grades-wide.csv")
    assert _csv(course / "nbgrader-wide.csv") == rows
    assert [r["student"] for r in rows] == STUDENTS
    for row in rows:
        s = row["student"]
        finals = [EXPECTED[(x, s)][3] for x in (B, C, A)]
        assert [float(row[x]) for x in (B, C, A)] == finals
        assert float(row["total"]) == sum(finals) and row["max_total"] == "21"


def test_canvas_export_matches_the_gradebook(term):
    from nbgrader.api import Gradebook

    course = term["course"]
    text = (course / "reports" / "grades-canvas.csv").read_text()
    assert text == (course / "nbgrader-canvas.csv").read_text()
    table = list(csv.reader(io.StringIO(text)))
    assert table[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", B, C, A]
    assert table[1] == ["Points Possible", "", "", "", "", "7", "7", "7"]
    assert len(table) == 2 + 8
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        students = {s.id: s for s in gb.students}
        for line in table[2:]:
            s = students[line[2]]
            assert line[:5] == [f"{s.last_name}, {s.first_name}", s.lms_user_id, s.id, s.email,
                                "A" if int(s.id[1:]) <= 4 else "B"]
            for name, value in zip((B, C, A), line[5:], strict=True):
                try:
                    sub = gb.find_submission(name, s.id)
                    final = max(0.0, sub.score - sub.late_submission_penalty)
                except Exception:  # noqa: BLE001 - missing: 0 points
                    final = 0.0
                assert float(value) == round(final, 2) == EXPECTED[(name, s.id)][3]


def test_formgrader_notebooks_carry_the_verdicts_not_the_hidden_source(term):
    import json

    course = term["course"]
    nb = json.loads((course / "autograded" / "s7" / A / f"{NB}.ipynb").read_text())
    outputs = {}
    for cell in nb["cells"]:
        grade_id = cell["metadata"].get("nbgrader", {}).get("grade_id", "")
        if grade_id.startswith("test_"):
            texts = [o.get("text", "") for o in cell.get("outputs", [])
                     if o.get("output_type") == "stream"]
            outputs[grade_id] = "".join("".join(t) if isinstance(t, list) else t for t in texts)
    assert set(outputs) == {"test_rnn_step_visible", "test_rnn_step_hidden",
                            "test_running_mean_visible", "test_running_mean_hidden"}
    for grade_id, text in outputs.items():
        assert text.startswith(f"[grader] {grade_id}: "), text
        assert "canary-h" not in text
    assert "[grader] test_running_mean_hidden: 0 / 2 points" in outputs["test_running_mean_hidden"]
    assert "FAIL running_mean on seeded sequences" in outputs["test_running_mean_hidden"]
    assert "PASS" in outputs["test_rnn_step_hidden"]


def test_report_statistics_use_final_scores(term):
    page = (term["course"] / "reports" / "report.html").read_text()
    section = page.split(f"<h2>{B}</h2>")[1]
    assert "mean 5.29" in section  # 7, 6, 6, 0 (zero policy), 6, 6, 6


def test_term_wall_time(term):
    assert term["elapsed"] < 900
