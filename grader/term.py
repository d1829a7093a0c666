"""The term around the grading: roster, due dates, extensions, late penalties, final totals.

Everything lives in nbgrader's own model where nbgrader has a place for it:

- the **roster** is the gradebook's ``student`` table (``nbgrader db student
  import roster.csv`` or ``python -m grader roster roster.csv``); the only
  thing nbgrader has no column for, the section, is kept in
  ``COURSE/.grader/sections.json`` by ``python -m grader roster``;
- **due dates** are the assignments' ``duedate`` (``nbgrader db assignment add
  NAME --duedate=...``);
- the **late policy** is nbgrader's: ``AssignLatePenalties.plugin_class`` and
  ``LateSubmissionPlugin.penalty_method`` in ``nbgrader_config.py``; the
  penalty is written into ``submission_notebook.late_submission_penalty``
  exactly as nbgrader's ``AssignLatePenalties`` does, per notebook, capped
  at the notebook's score;
- **extensions** (nbgrader has a per-submission ``extension`` column but no
  place to keep one before the student submits) are one file,
  ``COURSE/extensions.json``, meant to be committed with the course
  (``python -m grader extend STUDENT ASSIGNMENT --until DATE`` edits it); the
  grader copies each one into the submission's ``extension`` column, so
  nbgrader's own ``total_seconds_late`` agrees.

Totals (:func:`totals`) are read from the gradebook: ``autograded`` = the
autograded points of cells nobody overrode, ``manual`` = hand scores and
extra credit, ``penalty``, ``final = max(0, autograded + manual - penalty)``
(nbgrader's export computes the same).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
import os
import shutil
import sqlite3
from typing import Any

from grader.course import SAFE_ID, Course, CourseError

EXTENSIONS_FILE = "extensions.json"
EXTENSIONS_VERSION = 1
BACKUPS_KEPT = 5


def r2(value: float | None) -> float:
    """Scores are shown and exported with at most two decimals."""
    return 0.0 if value is None else round(float(value) + 0.0, 2)


def fmt(value: float | None) -> str:
    return f"{r2(value):g}"


# --------------------------------------------------------------------------- gradebook safety


class GradebookUnusable(CourseError):
    """The gradebook cannot be read (corrupt or locked)."""


def sqlite_path(course: Course) -> str | None:
    url = course.db_url
    return url[len("sqlite:///"):] if url.startswith("sqlite:///") else None


def unusable_message(course: Course, detail: str) -> str:
    path = sqlite_path(course)
    if path is None and course.db_url.startswith("sqlite"):
        path = course.db_url
    if path is None:  # a database server (the URL shown without its password)
        from grader.dblock import display_url

        return (f"the gradebook {display_url(course.db_url)} cannot be used ({detail}); check "
                f"that the database server is running and reachable from this machine and "
                f"try again; to go back to a backup: `python -m grader restore --course "
                f"{course.root}`")
    return (f"the gradebook {path} cannot be used ({detail}); "
            f"if another program is using it, close it and try again, otherwise restore the "
            f"last backup with `python -m grader restore --course {course.root}`")


def check_server(course: Course) -> None:
    """A gradebook on a database server: it answers (else one sentence, not a traceback)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import DBAPIError
    from sqlalchemy.pool import NullPool

    args = {"connect_timeout": 10} if course.db_url.startswith("postgresql") else {}
    engine = create_engine(course.db_url, poolclass=NullPool, connect_args=args)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except DBAPIError as error:
        detail = str(getattr(error, "orig", error)).strip().splitlines() or ["no answer"]
        raise GradebookUnusable(unusable_message(course, detail[0])) from None
    finally:
        engine.dispose()


def check_gradebook(course: Course) -> None:
    """Raise :class:`GradebookUnusable` (one clear sentence) if the gradebook is corrupt or locked."""
    path = sqlite_path(course)
    if path is None and not course.db_url.startswith("sqlite"):
        check_server(course)
        return
    if path is None or not os.path.exists(path):
        return
    try:
        # read-write: a run killed mid-commit leaves a hot journal that SQLite rolls back here
        connection = sqlite3.connect(path, timeout=2.0)
        try:
            row = connection.execute("PRAGMA quick_check").fetchone()
        finally:
            connection.close()
    except sqlite3.DatabaseError as error:
        raise GradebookUnusable(unusable_message(course, str(error))) from None
    if not row or row[0] != "ok":
        raise GradebookUnusable(unusable_message(course, f"integrity check: {row and row[0]}"))
    try:  # a writer holding the lock: fail now with a sentence, not later with a traceback
        connection = sqlite3.connect(path, timeout=2.0)
        try:
            connection.execute("BEGIN IMMEDIATE")
            connection.rollback()
        finally:
            connection.close()
    except sqlite3.OperationalError as error:
        raise GradebookUnusable(unusable_message(course, str(error))) from None


def backups_dir(course: Course) -> str:
    return os.path.join(course.state_dir, "backups")


def before_restore_path(course: Course) -> str:
    """Where :func:`restore_gradebook` keeps the gradebook it replaced."""
    path = sqlite_path(course)
    if path is not None:
        return f"{path}.before-restore"
    return os.path.join(backups_dir(course), "before-restore.db")


def list_backups(course: Course) -> list[str]:
    directory = backups_dir(course)
    if not os.path.isdir(directory):
        return []
    return sorted(os.path.join(directory, n) for n in os.listdir(directory)
                  if n.startswith("gradebook-") and n.endswith(".db"))


def backup_gradebook(course: Course, keep: int = BACKUPS_KEPT) -> str | None:
    """A consistent copy of the gradebook; the last ``keep`` are kept.

    SQLite: SQLite's backup API. A database server (PostgreSQL): a portable
    copy of nbgrader's tables into an SQLite file of the same schema, read in one
    snapshot (:func:`copy_gradebook`); either way ``COURSE/.grader/backups/
    gradebook-<time>.db``, which nbgrader itself can open.
    """
    path = sqlite_path(course)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    target = os.path.join(backups_dir(course), f"gradebook-{stamp}.db")
    if path is None and not course.db_url.startswith("sqlite"):
        check_gradebook(course)
        os.makedirs(backups_dir(course), exist_ok=True)
        if not _server_backup(course.db_url, target):
            return None  # no gradebook tables yet: nothing to keep
        for old in list_backups(course)[:-keep]:
            os.remove(old)
        return target
    if path is None or not os.path.exists(path):
        return None
    check_gradebook(course)
    os.makedirs(backups_dir(course), exist_ok=True)
    source = sqlite3.connect(path, timeout=10.0)
    try:
        copy = sqlite3.connect(target)
        try:
            source.backup(copy)
        finally:
            copy.close()
    finally:
        source.close()
    for old in list_backups(course)[:-keep]:
        os.remove(old)
    return target


def restore_gradebook(course: Course, backup: str | None = None) -> str:
    """Put a backup (default: the newest) in place; the replaced gradebook is kept.

    Refused while a grading run uses the gradebook (:mod:`grader.dblock`). SQLite:
    the file is replaced, the old one kept as ``gradebook.db.before-restore``. A
    database server: nbgrader's tables are emptied and refilled from the backup in
    one transaction (readers see the old or the new gradebook, never a mix), the
    replaced content first copied to ``.grader/backups/before-restore.db``.
    """
    from grader import dblock

    with dblock.gradebook_exclusive(course):
        return _restore_gradebook(course, backup)


def _restore_gradebook(course: Course, backup: str | None) -> str:
    backups = list_backups(course)
    if backup is None:
        if not backups:
            raise CourseError(f"no gradebook backups in {backups_dir(course)}")
        backup = backups[-1]
    elif not os.path.isabs(backup) and not os.path.exists(backup):
        backup = os.path.join(backups_dir(course), backup)
    if not os.path.isfile(backup):
        raise CourseError(f"restore: no such backup: {backup}")
    path = sqlite_path(course)
    if path is None and not course.db_url.startswith("sqlite"):
        check_gradebook(course)
        _check_backup(backup)
        os.makedirs(backups_dir(course), exist_ok=True)
        _server_backup(course.db_url, before_restore_path(course))
        copy_gradebook(f"sqlite:///{backup}", course.db_url, replace=True)
        return backup
    if path is None:
        raise CourseError("restore: the gradebook is not an SQLite file")
    if os.path.exists(path):
        shutil.copyfile(path, f"{path}.before-restore")
    temporary = f"{path}.restoring"
    shutil.copyfile(backup, temporary)
    os.replace(temporary, path)
    return backup


def _gradebook_tables():
    """nbgrader's tables in dependency order, and its ``alembic_version`` table."""
    from nbgrader.api import Base
    from sqlalchemy import Column, MetaData, String, Table

    alembic = Table("alembic_version", MetaData(), Column("version_num", String(32),
                                                           nullable=False))
    return list(Base.metadata.sorted_tables), alembic


def copy_gradebook(source_url: str, target_url: str, replace: bool = False) -> int:
    """Copy every row of nbgrader's tables from one database to another; returns the row count.

    The source is read in one REPEATABLE READ snapshot (on PostgreSQL a consistent
    copy while other runs commit). The target's tables are created if missing;
    with ``replace`` their rows are deleted first, all in one transaction. Only
    nbgrader's tables are touched (other objects in either database are not).
    """
    from nbgrader.api import Base
    from sqlalchemy import create_engine, inspect, select
    from sqlalchemy.pool import NullPool

    tables, alembic = _gradebook_tables()
    source = create_engine(source_url, poolclass=NullPool)
    target = create_engine(target_url, poolclass=NullPool)
    count = 0
    try:
        with source.connect() as reader:
            if source.dialect.name == "postgresql":
                reader = reader.execution_options(isolation_level="REPEATABLE READ")
            with reader.begin(), target.begin() as writer:
                has_alembic = inspect(reader).has_table("alembic_version")
                Base.metadata.create_all(writer)
                alembic.create(writer, checkfirst=True)
                copied = tables + ([alembic] if has_alembic else [])
                if replace:
                    for table in reversed(copied):
                        writer.execute(table.delete())
                for table in copied:
                    rows = [dict(r) for r in reader.execute(select(table)).mappings()]
                    if rows:
                        writer.execute(table.insert(), rows)
                    count += len(rows)
    finally:
        source.dispose()
        target.dispose()
    return count


def _server_backup(url: str, target: str) -> bool:
    """A portable SQLite copy of the server's gradebook at ``target`` (False: no gradebook)."""
    from sqlalchemy import create_engine, inspect
    from sqlalchemy.pool import NullPool

    engine = create_engine(url, poolclass=NullPool)
    try:
        if not inspect(engine).has_table("grade"):
            return False
    finally:
        engine.dispose()
    partial = f"{target}.partial"
    if os.path.exists(partial):
        os.remove(partial)
    copy_gradebook(url, f"sqlite:///{partial}")
    os.replace(partial, target)
    return True


def _check_backup(backup: str) -> None:
    """A backup file is an SQLite gradebook (refuse anything else before touching the server)."""
    try:
        connection = sqlite3.connect(f"file:{backup}?mode=ro", uri=True)
        try:
            tables = {r[0] for r in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
        finally:
            connection.close()
    except sqlite3.DatabaseError as error:
        raise CourseError(f"restore: {backup} is not a gradebook backup ({error})") from None
    if not {"assignment", "student", "grade"} <= tables:
        raise CourseError(f"restore: {backup} is not a gradebook backup (no nbgrader tables)")


# --------------------------------------------------------------------------- roster

ROSTER_FIELDS = ("id", "first_name", "last_name", "email", "lms_user_id", "section")


def sections_path(course: Course) -> str:
    return os.path.join(course.state_dir, "sections.json")


def sections(course: Course) -> dict[str, str]:
    try:
        with open(sections_path(course), encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, json.JSONDecodeError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def import_roster(course: Course, csv_path: str) -> int:
    """``nbgrader db student import`` plus the section column; returns the number of students."""
    from nbgrader.api import Gradebook

    with open(csv_path, newline="", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    if not rows or "id" not in rows[0]:
        raise CourseError(f"roster: {csv_path} needs a header with an 'id' column "
                          f"(and first_name, last_name, email, lms_user_id, section)")
    bad = [r.get("id") for r in rows if not SAFE_ID.match(r.get("id") or "")]
    if bad:
        raise CourseError(f"roster: invalid student ids: {', '.join(map(str, bad))}")
    found = sections(course)
    with Gradebook(course.db_url) as gb:
        for row in rows:
            fields = {k: (row.get(k) or None) for k in ROSTER_FIELDS[1:5]}
            gb.update_or_create_student(row["id"], **fields)
            if row.get("section"):
                found[row["id"]] = row["section"]
    os.makedirs(course.state_dir, exist_ok=True)
    with open(sections_path(course), "w", encoding="utf-8") as f:
        json.dump(found, f, indent=1, sort_keys=True)
    return len(rows)


def roster(gb) -> dict[str, Any]:
    """The gradebook's students by id."""
    return {s.id: s for s in gb.students}


def roster_is_closed(gb, course: Course) -> bool:
    """Whether a submitter missing from the gradebook is refused rather than added.

    Closed when ``Autograde.create_student = False`` (nbgrader's own option), or
    once a class list was imported (a student with an e-mail address or an LMS
    id: students nbgrader adds while grading have neither).
    """
    if not course.coursedir.config.get("Autograde", {}).get("create_student", True):
        return True
    return any(s.email or s.lms_user_id for s in gb.students)


# --------------------------------------------------------------------------- due dates, extensions


def parse_date(text: str) -> dt.datetime:
    """A date as nbgrader reads it (any zone; naive means UTC), as naive UTC."""
    from nbgrader.utils import parse_utc

    try:
        value = parse_utc(text)
    except (ValueError, OverflowError) as error:
        raise CourseError(f"not a date: {text!r} ({error})") from None
    return value.replace(tzinfo=None) if value.tzinfo else value


def extensions_path(course: Course) -> str:
    return os.path.join(course.root, EXTENSIONS_FILE)


def load_extensions(course: Course) -> dict[str, dict[str, str]]:
    """``{assignment: {student: new due date (text)}}`` from ``COURSE/extensions.json``."""
    path = extensions_path(course)
    if not os.path.exists(path):
        return {}
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, json.JSONDecodeError) as error:
        raise CourseError(f"{path} is not readable JSON: {error}") from None
    if not isinstance(data, dict) or data.get("version") != EXTENSIONS_VERSION:
        raise CourseError(f"{path}: expected {{'version': {EXTENSIONS_VERSION}, "
                          f"'extensions': {{assignment: {{student: date}}}}}}")
    return {a: dict(s) for a, s in data.get("extensions", {}).items()}


def set_extension(course: Course, student: str, assignment: str, until: str | None) -> str:
    """Record (or, with ``until=None``, remove) one extension; returns a one-line description."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(course.db_url) as gb:
        try:
            gb.find_assignment(assignment)
        except MissingEntry:
            raise CourseError(f"extend: no assignment {assignment!r} in the gradebook") from None
        known = roster(gb)
        if known and student not in known:
            raise CourseError(f"extend: {student!r} is not on the roster")
    extensions = load_extensions(course)
    if until is None:
        extensions.get(assignment, {}).pop(student, None)
        text = f"removed the extension of {student} for {assignment}"
    else:
        when = parse_date(until)
        extensions.setdefault(assignment, {})[student] = f"{when:%Y-%m-%d %H:%M:%S} UTC"
        text = f"{student} may submit {assignment} until {when:%Y-%m-%d %H:%M:%S} UTC"
    extensions = {a: s for a, s in sorted(extensions.items()) if s}
    data = {"version": EXTENSIONS_VERSION,
            "extensions": {a: dict(sorted(s.items())) for a, s in extensions.items()}}
    temporary = extensions_path(course) + ".tmp"
    with open(temporary, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2)
        f.write("\n")
    os.replace(temporary, extensions_path(course))
    return text


def due_date(gb, course: Course, assignment: str, student: str) -> tuple[dt.datetime | None, bool]:
    """(the student's due date, whether it is an extension)."""
    extended = load_extensions(course).get(assignment, {}).get(student)
    if extended:
        return parse_date(extended), True
    return gb.find_assignment(assignment).duedate, False


def describe_lateness(seconds: float) -> str:
    minutes = int(math.ceil(seconds / 60.0))
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [f"{days} d"] if days else []
    parts += [f"{hours} h"] if hours or days else []
    parts.append(f"{minutes} min")
    return " ".join(parts)


# --------------------------------------------------------------------------- late penalties


def late_plugin(course: Course):
    """The late-submission plugin ``nbgrader_config.py`` configures (nbgrader's default: none)."""
    from nbgrader.preprocessors import AssignLatePenalties

    assigner = AssignLatePenalties(config=course.coursedir.config)
    assigner.init_plugin()
    return assigner.plugin_inst


def apply_late_penalties(gb, course: Course, assignment: str, student: str,
                         plugin=None) -> float:
    """Write each notebook's ``late_submission_penalty`` as nbgrader's AssignLatePenalties does.

    The lateness is measured from the submission's timestamp to the assignment's
    ``duedate`` or the student's extension. Returns the total penalty.
    """
    from nbgrader.api import MissingEntry

    try:
        submission = gb.find_submission(assignment, student)
    except MissingEntry:
        return 0.0
    due, extended = due_date(gb, course, assignment, student)
    original = submission.assignment.duedate
    submission.extension = (due - original) if (extended and original is not None
                                                and due is not None) else None
    late = 0.0
    if due is not None and submission.timestamp is not None:
        late = max(0.0, (submission.timestamp - due).total_seconds())
    plugin = plugin or late_plugin(course)
    total = 0.0
    for nb in submission.notebooks:
        penalty = None
        if late > 0:
            penalty = plugin.late_submission_penalty(student, nb.score, late)
        if penalty is not None:
            penalty = min(max(0.0, float(penalty)), float(nb.score))
        nb.late_submission_penalty = penalty
        total += penalty or 0.0
    gb.db.commit()
    return total


# --------------------------------------------------------------------------- totals


def released_assignments(gb, course: Course) -> list[str]:
    """Assignments in the gradebook whose student version exists in ``release/``."""
    names = []
    for a in gb.assignments:
        release = course.path("release", ".", a.name)
        if os.path.isdir(release):
            names.append(a.name)
    return sorted(names)


def totals(gb, course: Course, assignment: str, student: str) -> dict:
    """Every number of one student's assignment, from the gradebook."""
    from nbgrader.api import MissingEntry

    row = gb.find_assignment(assignment)
    due, extended = due_date(gb, course, assignment, student)
    out = {"assignment": assignment, "student": student, "max_score": r2(row.max_score),
           "due": due, "extended": extended, "submitted": False, "timestamp": None,
           "seconds_late": 0.0, "autograded": 0.0, "manual": 0.0, "raw": 0.0,
           "penalty": 0.0, "final": 0.0, "needs_manual_grade": False, "flagged": False}
    try:
        submission = gb.find_submission(assignment, student)
    except MissingEntry:
        return out
    auto = manual = 0.0
    needs = flagged = False
    for nb in submission.notebooks:
        flagged = flagged or bool(nb.flagged)
        for grade in nb.grades:
            extra = grade.extra_credit or 0.0
            if grade.manual_score is not None:
                manual += grade.manual_score + extra
            else:
                auto += grade.auto_score or 0.0
                manual += extra
            needs = needs or bool(grade.needs_manual_grade)
    penalty = sum(nb.late_submission_penalty or 0.0 for nb in submission.notebooks)
    late = 0.0
    if due is not None and submission.timestamp is not None:
        late = max(0.0, (submission.timestamp - due).total_seconds())
    out.update(submitted=True, timestamp=submission.timestamp, seconds_late=late,
               autograded=r2(auto), manual=r2(manual), raw=r2(auto + manual),
               penalty=r2(penalty), final=r2(max(0.0, auto + manual - penalty)),
               needs_manual_grade=needs, flagged=flagged)
    return out


def lateness_text(t: dict) -> str:
    """``submitted 3 h 12 min after the due date; penalty -2.0`` (or empty)."""
    if not t["submitted"] or t["seconds_late"] <= 0:
        return ""
    due = "the extended due date" if t["extended"] else "the due date"
    text = f"submitted {describe_lateness(t['seconds_late'])} after {due}"
    return text + (f"; penalty -{t['penalty']:.1f}" if t["penalty"] else "; no penalty")


def class_table(gb, course: Course, assignment: str, students: list[str] | None = None
                ) -> list[dict]:
    """One row per rostered student (missing ones included) plus any submitter off the roster."""
    known = sorted(roster(gb))
    ids = known if students is None else [s for s in known if s in students]
    return [totals(gb, course, assignment, s) for s in ids]


def off_roster(gb, course: Course, assignment: str) -> list[str]:
    known = roster(gb)
    return [s for s in course.submitted_students(assignment) if known and s not in known]

