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

import contextlib
import json
import logging
import os
import time
import warnings
from collections.abc import Callable
from typing import Any

from nbgrader.api import Gradebook, InvalidEntry, MissingEntry
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError, SAWarning

from grader.course import CourseError

CHANGED = "changed since hand-graded"
RETRY_SECONDS = 120.0  # default budget of commit_with_retry ($GRADER_DB_RETRY_SECONDS)
MAX_CONFLICTS = 8  # concurrent writers adding the same row: retried at once, this many times


class GradebookUnavailable(CourseError):
    """The gradebook stopped answering for longer than the retry budget (exit status 3)."""

    exit_code = 3


class _FlushOnCommit:
    """The session, except that ``commit()`` only flushes (see :func:`one_transaction`)."""

    def __init__(self, session):
        self._session = session

    def commit(self) -> None:
        self._session.flush()

    def __getattr__(self, name):
        return getattr(self._session, name)


@contextlib.contextmanager
def one_transaction(gradebook: Gradebook):
    """Run nbgrader API calls as one transaction.

    nbgrader's ``add_student``, ``add_submission`` (and our own steps) each call
    ``gradebook.db.commit()``; inside this block those become flushes and the
    single real commit happens at the end, so a connection lost half-way leaves
    nothing of the submission written. Any error rolls the whole block back.
    """
    session = gradebook.db
    if isinstance(session, _FlushOnCommit):  # nested: the outer block commits
        yield
        return
    gradebook.db = _FlushOnCommit(session)
    try:
        yield
        gradebook.db = session
        session.commit()
    except BaseException:
        gradebook.db = session
        with contextlib.suppress(Exception):  # a dead connection: nothing to roll back
            session.rollback()
        raise
    finally:
        gradebook.db = session


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

    Everything is one transaction (nbgrader's own commits inside are turned into
    flushes, see :func:`one_transaction`): a commit that fails half-way writes nothing.
    """
    with one_transaction(gradebook):
        flags, state_path, state = _commit_result(gradebook, summary, course, late_plugin)
    if state_path:
        os.makedirs(os.path.dirname(state_path), exist_ok=True)
        temporary = f"{state_path}.tmp"
        with open(temporary, "w", encoding="utf-8") as f:
            json.dump(state, f, indent=1, sort_keys=True)
        os.replace(temporary, state_path)
    return flags


def _by_cell_name(gradebook: Gradebook, kind: str, notebook: str, assignment: str,
                  student: str) -> dict[str, Any]:
    """Every grade (or comment) of one submitted notebook by cell name, in one query.

    What ``find_grade``/``find_comment`` return one query (and one autoflush) at a time.
    """
    from nbgrader.api import (
        Assignment,
        BaseCell,
        Comment,
        Grade,
        Notebook,
        SubmittedAssignment,
        SubmittedNotebook,
    )

    model = Grade if kind == "grade" else Comment
    with gradebook.db.no_autoflush:
        rows = (gradebook.db.query(model, BaseCell.name)
                .join(BaseCell, BaseCell.id == model.cell_id)
                .join(SubmittedNotebook, SubmittedNotebook.id == model.notebook_id)
                .join(Notebook, Notebook.id == SubmittedNotebook.notebook_id)
                .join(SubmittedAssignment,
                      SubmittedAssignment.id == SubmittedNotebook.assignment_id)
                .join(Assignment, Assignment.id == SubmittedAssignment.assignment_id)
                .filter(Notebook.name == notebook, Assignment.name == assignment,
                        SubmittedAssignment.student_id == student).all())
    return {cell: entry for entry, cell in rows}


def _entry(found: dict[str, Any], kind: str, cell: str, notebook: str, assignment: str,
           student: str):
    try:
        return found[cell]
    except KeyError:
        raise MissingEntry(f"No such {kind}: {cell} in {notebook} of {assignment} "
                           f"for {student}") from None


def _commit_result(gradebook: Gradebook, summary: dict, course, late_plugin):
    student, assignment = summary["student"], summary["assignment"]
    try:
        gradebook.find_student(student)
    except MissingEntry:
        with _quiet_nbgrader():  # another run adding them too: retried, not worth a traceback
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
            grades = _by_cell_name(gradebook, "grade", name, assignment, student)
            comments = _by_cell_name(gradebook, "comment", name, assignment, student)
            for grade_id, values in nb["grades"].items():
                grade = _entry(grades, "grade", grade_id, name, assignment, student)
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
                    comment = _entry(comments, "comment", grade_id, name, assignment, student) \
                        if grade_id in nb["comments"] else None
                    note = (f"{CHANGED}: the answer differs from the one graded by hand "
                            f"(hand score {grade.manual_score:g} kept until it is graded again)")
                    if comment is not None:
                        comment.auto_comment = note
                    flags.append({"kind": "changed-since-hand-graded", "notebook": name,
                                  "detail": f"{grade_id}: {note}"})
            for grade_id, text in nb["comments"].items():
                comment = _entry(comments, "comment", grade_id, name, assignment, student)
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
    return flags, state_path, {"committed": committed, "hand": hand}


@contextlib.contextmanager
def _quiet_nbgrader():
    """nbgrader logs a traceback before raising InvalidEntry for a unique violation."""
    logger = logging.getLogger("tornado.application")
    disabled, logger.disabled = logger.disabled, True
    try:
        yield
    finally:
        logger.disabled = disabled


def _root_error(error: BaseException) -> BaseException:
    """nbgrader wraps database errors in ``InvalidEntry``: the database's own error."""
    while isinstance(error, InvalidEntry) and (error.__cause__ or error.__context__):
        error = error.__cause__ or error.__context__
    return error


def transient_kind(error: BaseException) -> str | None:
    """``"conflict"`` (another writer added the same row), ``"connection"`` or None (a real error)."""
    error = _root_error(error)
    if isinstance(error, IntegrityError):
        code = getattr(error.orig, "sqlstate", None)
        text = str(error.orig)
        if code == "23505" or "UNIQUE constraint failed" in text:
            return "conflict"
        return None
    if isinstance(error, OperationalError | InterfaceError):
        return "connection"  # refused, server shut down, SQLite busy, serialization failure
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return "connection"
    return None


def retry_budget() -> float:
    try:
        return max(0.0, float(os.environ.get("GRADER_DB_RETRY_SECONDS", RETRY_SECONDS)))
    except ValueError:
        return RETRY_SECONDS


def first_line(error: BaseException) -> str:
    error = _root_error(error)
    text = str(getattr(error, "orig", None) or error).strip()
    return (text.splitlines() or [type(error).__name__])[0][:300]


def commit_with_retry(gradebook: Gradebook, summary: dict, course=None, late_plugin=None, *,
                      budget: float | None = None, log: Callable[[str], None] = print,
                      sleep: Callable[[float], None] = time.sleep) -> list[dict]:
    """:func:`commit_result`, retried while the database is away (bounded backoff).

    Each attempt is one transaction, so a failed one wrote nothing. A unique
    violation (another instructor's run added the same student at the same
    moment) is retried at once; a lost or refused connection is retried after
    0.5, 1, 2, 4, 8, 10, 10 ... s until ``budget`` seconds (default
    ``$GRADER_DB_RETRY_SECONDS`` or 120) have passed since the first failure;
    then :class:`GradebookUnavailable` stops the run with one sentence (the
    results stay on disk: the same command finishes the job). After a lost
    connection, the locks of :mod:`grader.dblock` held by this process are
    checked (and taken again) before the next attempt.
    """
    from grader import dblock

    budget = retry_budget() if budget is None else budget
    first_failure, delay, conflicts, announced = None, 0.5, 0, False
    while True:
        try:
            if first_failure is not None:
                dblock.check_held()
            flags = commit_result(gradebook, summary, course, late_plugin)
            if announced:
                log(f"The gradebook answers again: committed {summary['student']} after "
                    f"{time.monotonic() - first_failure:.1f} s of retries.")
            return flags
        except dblock.LockLost:
            raise
        except Exception as error:  # noqa: BLE001 - classified below, re-raised if not transient
            kind = transient_kind(error)
            if kind is None:
                raise
            now = time.monotonic()
            if kind == "conflict" and conflicts < MAX_CONFLICTS:
                conflicts += 1
                continue
            if first_failure is None:
                first_failure = now
            waited = now - first_failure
            if waited >= budget:
                raise GradebookUnavailable(
                    f"the gradebook {dblock.display_url(gradebook_url(gradebook))} did not "
                    f"answer for {waited:.0f} s while committing the grades of "
                    f"{summary['student']} for {summary['assignment']} ({first_line(error)}); "
                    f"stopped: nothing of that submission was written (each submission is "
                    f"one transaction), and every result is kept in .grader/results/: run the "
                    f"same command again when the database is back (nothing is graded or "
                    f"counted twice)") from None
            if not announced:
                log(f"The gradebook is unreachable ({first_line(error)}); retrying the commit "
                    f"of {summary['student']} for up to {budget:.0f} s.")
                announced = True
            sleep(min(delay, max(0.0, budget - waited)))
            delay = min(delay * 2, 10.0)


def gradebook_url(gradebook: Gradebook) -> str:
    return str(gradebook.engine.url)


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
