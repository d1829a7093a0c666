"""Writing results into nbgrader's gradebook, idempotently, from one process only.

Workers never open the database: the parent commits each submission's result
as it arrives, one transaction per submission. Every value written is
absolute (``auto_score = x``, never ``+= x``), so committing the same result
twice leaves the gradebook unchanged: an interrupted run is finished by
simply committing every result file again. Scores a human entered
(``manual_score``, ``extra_credit``) and a human's ``flagged`` mark are never
touched.
"""

from __future__ import annotations

import warnings
from typing import Any

from nbgrader.api import Gradebook, MissingEntry
from sqlalchemy.exc import SAWarning


def commit_result(gradebook: Gradebook, summary: dict) -> None:
    """Store one submission's grades and comments (see the module docstring)."""
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
    try:
        for nb in summary["notebooks"]:
            name = nb["notebook"]
            for grade_id, values in nb["grades"].items():
                grade = gradebook.find_grade(grade_id, name, assignment, student)
                grade.auto_score = values["auto_score"]
                grade.needs_manual_grade = bool(values["needs_manual_grade"]) or (
                    grade.manual_score is not None)
            for grade_id, text in nb["comments"].items():
                comment = gradebook.find_comment(grade_id, name, assignment, student)
                comment.auto_comment = text
            if any(p["kind"] in ("integrity", "tamper") for p in nb.get("problems", [])):
                submitted = gradebook.find_submission_notebook(name, assignment, student)
                submitted.flagged = True
        gradebook.db.commit()
    except Exception:
        gradebook.db.rollback()
        raise


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
