"""One grading run per problem set, and no restore while anyone grades.

Several instructors may run ``python -m grader autograde`` against the same
gradebook at the same time. On *different* problem sets that is safe (their
commits touch different submissions; a student row both add at once is a
unique violation that :func:`grader.gradebook.commit_with_retry` retries). On
the *same* problem set two runs would grade the same submissions twice and
race on the same rows and result files, so the second run is **refused** at
once with a message naming the run that holds the problem set (who, where,
since when): it has nothing to add to the run in progress, and an instructor
who started it by mistake learns it now rather than after waiting an hour; to
grade again after the first run, run the command again (it resumes).

The lock lives where the gradebook lives:

- **PostgreSQL**: session advisory locks held on a dedicated connection of the
  coordinating process for the whole run (``pg_try_advisory_lock``), released
  by PostgreSQL itself if the process dies. The connection's
  ``application_name`` names the holder, which ``pg_stat_activity`` shows to
  the refused run. If the server restarts mid-run the lock goes with the
  connection: :func:`check_held` (called by the commit retry loop after a lost
  connection) takes it again, or stops the run if another run took the
  problem set in the meantime.
- **SQLite** (and any other file database): ``fcntl.flock`` on
  ``COURSE/.grader/locks/<assignment>.lock``, which holds the holder's
  description; the kernel releases it if the process dies.

Besides the problem set's exclusive lock, a run holds the *gradebook* lock in
shared mode; ``python -m grader restore`` takes it exclusively, so a restore
is refused while any run grades (and no run starts during a restore).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import getpass
import json
import os
import socket
import zlib

from grader.course import Course, CourseError

NAMESPACE = 0x47524452  # "GRDR": the first key of every advisory lock the grader takes
GRADEBOOK_KEY = 0


class AssignmentBusy(CourseError):
    """Another run holds the lock (exit status 2: nothing was graded)."""


class LockLost(CourseError):
    """The database restarted mid-run and another run took the problem set meanwhile."""

    exit_code = 3


_HELD: list[_Lock] = []


def display_url(url: str) -> str:
    """The URL without its password."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - not a URL SQLAlchemy parses: show it as given
        return url


def is_server_url(url: str) -> bool:
    return not url.startswith("sqlite")


def holder_label(what: str) -> str:
    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name on this system
        user = str(os.getuid())
    return f"grader {what} {user}@{socket.gethostname()} pid {os.getpid()}"


def assignment_key(course: Course, assignment: str) -> int:
    name = f"{course.coursedir.course_id}\0{assignment}".encode()
    return 1 + zlib.crc32(name) % (2**31 - 1)


class _Lock:
    def release(self) -> None:
        raise NotImplementedError

    def check(self) -> None:
        """Make sure the lock is still held (no-op for file locks)."""


# --------------------------------------------------------------------------- PostgreSQL


class _AdvisoryLock(_Lock):
    """Advisory locks (namespace, key) on one dedicated autocommit connection."""

    def __init__(self, url: str, keys: list[tuple[int, bool, str]], label: str):
        from sqlalchemy import create_engine
        from sqlalchemy.pool import NullPool

        self.url, self.keys, self.label = url, keys, label
        args = {"application_name": label[:63]} if url.startswith("postgresql") else {}
        self.engine = create_engine(url, poolclass=NullPool, connect_args=args)
        self.connection = None
        self._take()

    def _take(self) -> None:
        from sqlalchemy import text

        connection = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            for key, exclusive, what in self.keys:
                function = "pg_try_advisory_lock" if exclusive else "pg_try_advisory_lock_shared"
                got = connection.execute(text(f"SELECT {function}(:ns, :key)"),
                                         {"ns": NAMESPACE, "key": key}).scalar()
                if not got:
                    holders = self._holders(connection, key)
                    raise AssignmentBusy(what + (f": held by {holders}" if holders else ""))
        except BaseException:
            connection.close()  # also releases what was taken
            raise
        self.connection = connection

    @staticmethod
    def _holders(connection, key: int) -> str:
        from sqlalchemy import text

        rows = connection.execute(text(
            "SELECT a.application_name, host(a.client_addr), a.backend_start "
            "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = :ns "
            "AND l.objid = :key AND l.objsubid = 2 AND l.database = "
            "(SELECT oid FROM pg_database WHERE datname = current_database()) "
            "ORDER BY a.backend_start"),
            {"ns": NAMESPACE, "key": key}).all()
        return "; ".join(
            f"{name or 'an unnamed client'} (connected from {addr or 'a local socket'} since "
            f"{start:%Y-%m-%d %H:%M:%S %Z})".replace(" )", ")") for name, addr, start in rows)

    def check(self) -> None:
        from sqlalchemy import text
        from sqlalchemy.exc import DBAPIError

        if self.connection is not None:
            try:
                self.connection.execute(text("SELECT 1")).scalar()
                return
            except DBAPIError:
                with contextlib.suppress(Exception):
                    self.connection.close()
                self.connection = None
        try:
            self._take()  # a connection error here: the caller retries later
        except AssignmentBusy as busy:
            raise LockLost(f"the database restarted during this run and another run took "
                           f"the lock meanwhile ({busy}); stopping: every result graded so "
                           f"far is kept in .grader/results/") from None

    def release(self) -> None:
        if self.connection is not None:
            with contextlib.suppress(Exception):  # closing the session releases its locks
                self.connection.close()
            self.connection = None
        self.engine.dispose()


# --------------------------------------------------------------------------- files


class _FileLock(_Lock):
    """``flock`` on files in ``COURSE/.grader/locks/`` (exclusive ones carry a description)."""

    def __init__(self, paths: list[tuple[str, bool, str]], label: str):
        self.files = []
        try:
            for path, exclusive, what in paths:
                os.makedirs(os.path.dirname(path), exist_ok=True)
                f = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held for the whole run
                try:
                    fcntl.flock(f, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
                except BlockingIOError:
                    f.close()
                    holder = describe_file_holder(path)
                    raise AssignmentBusy(what + (f": held by {holder}" if holder else "")) from None
                if exclusive:
                    f.seek(0)
                    f.truncate()
                    f.write(json.dumps({"holder": label, "since": _now()}))
                    f.flush()
                self.files.append(f)
        except BaseException:
            self.release()
            raise

    def release(self) -> None:
        for f in self.files:
            with contextlib.suppress(OSError):
                f.close()
        self.files = []


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def describe_file_holder(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.loads(f.read() or "{}")
    except (OSError, ValueError):
        return ""
    if not isinstance(data, dict) or "holder" not in data:
        return ""
    return f"{data['holder']} (since {data.get('since', '?')})"


def locks_dir(course: Course) -> str:
    return os.path.join(course.state_dir, "locks")


def _file_runs(course: Course) -> str:
    """The runs holding an assignment lock file right now (for the restore message)."""
    found = []
    directory = locks_dir(course)
    for name in sorted(os.listdir(directory)) if os.path.isdir(directory) else []:
        path = os.path.join(directory, name)
        if name == "gradebook.lock" or not name.endswith(".lock"):
            continue
        with open(path, "a+", encoding="utf-8") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                found.append(f"{name[:-5]} by {describe_file_holder(path) or 'another run'}")
    return "; ".join(found)


# --------------------------------------------------------------------------- public


def _register(lock: _Lock):
    _HELD.append(lock)
    try:
        yield lock
    finally:
        if lock in _HELD:
            _HELD.remove(lock)
        lock.release()


@contextlib.contextmanager
def assignment_lock(course: Course, assignment: str):
    """Held by the coordinating process of ``autograde`` for the whole run.

    Raises :class:`AssignmentBusy` (naming the holder) if another run grades
    ``assignment`` or a restore is in progress.
    """
    label = holder_label(f"autograde {assignment}")
    busy = (f"{assignment} is being graded by another run; wait for it to finish (its "
            f"results will be in the gradebook) or stop it, then run this command again")
    restoring = "the gradebook is being restored from a backup; try again when it is done"
    url = course.db_url
    if is_server_url(url):
        lock = _AdvisoryLock(url, [(GRADEBOOK_KEY, False, restoring),
                                   (assignment_key(course, assignment), True, busy)], label)
    else:
        directory = locks_dir(course)
        lock = _FileLock([(os.path.join(directory, "gradebook.lock"), False, restoring),
                          (os.path.join(directory, f"{assignment}.lock"), True, busy)], label)
    yield from _register(lock)


@contextlib.contextmanager
def gradebook_exclusive(course: Course, what: str = "restore"):
    """Held while the whole gradebook is replaced; refused while any run grades."""
    label = holder_label(what)
    url = course.db_url
    if is_server_url(url):
        message = (f"cannot {what} the gradebook while a grading run uses it; wait for it to "
                   f"finish or stop it")
        lock = _AdvisoryLock(url, [(GRADEBOOK_KEY, True, message)], label)
    else:
        runs = _file_runs(course)
        message = (f"cannot {what} the gradebook while a grading run uses it"
                   + (f" ({runs})" if runs else "") + "; wait for it to finish or stop it")
        lock = _FileLock([(os.path.join(locks_dir(course), "gradebook.lock"), True, message)],
                         label)
    yield from _register(lock)


def check_held() -> None:
    """After a lost connection: every advisory lock of this process is held again (or LockLost)."""
    for lock in list(_HELD):
        lock.check()
