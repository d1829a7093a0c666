"""Writing results into nbgrader's gradebook, idempotently, from one process only.

Workers never open the database: the parent commits each submission's result
as it arrives, one transaction per submission. Every value written is
absolute (``auto_score = x``, never ``+= x``), so committing the same result
twice leaves the gradebook unchanged: an interrupted run is finished by
simply committing every result file again. Scores a human entered
(``manual_score``, ``extra_credit``, ``manual_comment``) and a human's
``flagged`` mark are never touched.
"""

from __future__ import annotations

import json
import os
import warnings
from typing import Any

from nbgrader.api import Gradebook, MissingEntry
from sqlalchemy.exc import SAWarning

CHANGED = "changed since hand-graded"


def _load_json(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def commit_result(gradebook: Gradebook, summary: dict, course=None,
                  late_plugin=None) -> list[dict]:
    """Store one submission's grades and comments (see the module docstring).

    Hand grades survive: ``manual_score``, ``extra_credit`` and
    ``manual_comment`` are never written. A cell graded by hand keeps
    ``needs_manual_grade = False`` unless the student's answer changed since it
    was graded (``course`` given: the digests are kept in
    ``.grader/handgraded/``); then the cell is flagged for review, the old hand
    score kept visible. Returns those flags as problems (kind ``changed-since-hand-graded``).
    With ``course``, the late penalty is written too (:func:`grader.term.apply_late_penalties`).
    """
    student, assignment = summary["student"], summary["assignment"]
    try:
        gradebook.find_student(student)
    except MissingEntry:
        gradebook.add_student(student)
    kwargs = {"timestamp": summary["timestamp"]} if summary.get("timestamp") else {}
    with warnings.catch_warnings():
        # nbgrader's add_submission builds rows in a way SQLAlchemy 2 comments on.
        warnings.simplefilter("ignore", SAWarning)
        gradebook.update_or_create_submission(assignment, student, **kwargs)
    state_path = (os.path.join(course.state_dir, "handgraded", assignment, f"{student}.json")
                  if course is not None else None)
    state = _load_json(state_path) if state_path else {}
    committed, hand = state.get("committed", {}), state.get("hand", {})
    flags: list[dict] = []
    try:
        for nb in summary["notebooks"]:
            name = nb["notebook"]
            answers = nb.get("answers", {})
            for grade_id, values in nb["grades"].items():
                grade = gradebook.find_grade(grade_id, name, assignment, student)
                grade.auto_score = values["auto_score"]
                key = f"{name}/{grade_id}"
                now = answers.get(grade_id)
                if grade.manual_score is None:
                    hand.pop(key, None)
                    grade.needs_manual_grade = bool(values["needs_manual_grade"])
                    continue
                record = hand.get(key)
                if record is None or (record.get("flagged") and not grade.needs_manual_grade):
                    # first seen graded by hand, or re-graded by hand after a flag: the
                    # answer the grader saw is the one graded by the last commit
                    seen = committed.get(key, now) if record is None else now
                    record = {"digest": seen, "score": grade.manual_score, "flagged": False}
                    hand[key] = record
                changed = (now is not None and record.get("digest") is not None
                           and now != record["digest"])
                grade.needs_manual_grade = changed
                record["flagged"] = changed
                if changed:
                    comment = gradebook.find_comment(grade_id, name, assignment, student) \
                        if grade_id in nb["comments"] else None
                    note = (f"{CHANGED}: the answer differs from the one graded by hand "
                            f"(hand score {grade.manual_score:g} kept until it is graded again)")
                    if comment is not None:
                        comment.auto_comment = note
                    flags.append({"kind": "changed-since-hand-graded", "notebook": name,
                                  "detail": f"{grade_id}: {note}"})
            for grade_id, text in nb["comments"].items():
                comment = gradebook.find_comment(grade_id, name, assignment, student)
                if not any(f["detail"].startswith(f"{grade_id}: ") for f in flags
                           if f["notebook"] == name):
                    comment.auto_comment = text
            for grade_id, digest in answers.items():
                committed[f"{name}/{grade_id}"] = digest
            if any(p["kind"] in ("integrity", "tamper") for p in nb.get("problems", [])):
                submitted = gradebook.find_submission_notebook(name, assignment, student)
                submitted.flagged = True
        gradebook.db.commit()
        if course is not None:
            from grader.term import apply_late_penalties

            apply_late_penalties(gradebook, course, assignment, student, late_plugin)
    except Exception:
        gradebook.db.rollback()
        raise
    if state_path:
        os.makedirs(os.path.dirname(state_path), exist_ok=True)
        temporary = f"{state_path}.tmp"
        with open(temporary, "w", encoding="utf-8") as f:
            json.dump({"committed": committed, "hand": hand}, f, indent=1, sort_keys=True)
        os.replace(temporary, state_path)
    return flags


def dump(db_url: str, assignment: str | None = None) -> list[tuple[Any, ...]]:
    """Every grade and comment as sorted tuples (to compare two gradebooks)."""
    rows: list[tuple[Any, ...]] = []
    with Gradebook(db_url) as gradebook:
        for a in gradebook.assignments:
            if assignment is not None and a.name != assignment:
                continue
            for submission in gradebook.assignment_submissions(a.name):
                student = submission.student.id
                rows.append(("submission", a.name, student, str(submission.timestamp)))
                for nb in submission.notebooks:
                    rows.append(("notebook", a.name, student, nb.name, bool(nb.flagged)))
                    for grade in nb.grades:
                        rows.append(("grade", a.name, student, nb.name, grade.name,
                                     grade.auto_score, grade.manual_score,
                                     bool(grade.needs_manual_grade)))
                    for comment in nb.comments:
                        rows.append(("comment", a.name, student, nb.name, comment.name,
                                     comment.auto_comment, comment.manual_comment))
    return sorted(rows, key=repr)
