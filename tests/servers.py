"""Real throwaway PostgreSQL clusters for the tests (Debian's ``postgresql`` package).

``PostgresServer`` runs ``initdb`` into a fresh temporary directory and starts
the cluster with ``pg_ctl`` on a free loopback port (its Unix socket in the
same directory), trust authentication for the ``postgres`` role. Run as root
(as CI runs) every server binary is started as the unprivileged ``postgres``
system user with ``runuser``, since PostgreSQL refuses to run as root; the
temporary directory is owned by that user. ``stop()`` uses ``pg_ctl stop -m
fast`` and then makes sure the postmaster process is gone; ``restart()`` (or
``outage(seconds)``) stops and starts the same cluster on the same port, to
test what a client does while the database is away.

The binaries are looked up in ``/usr/lib/postgresql/<version>/bin`` (the newest
version), or ``$PG_BINDIR``. When they are missing the fixture **fails** with
the command that installs them: CI installs ``postgresql``
(``tools/install_system_deps.sh``), so a skipped test would hide a broken
set-up.

Fixtures (import them into a test module: ``from servers import postgres_server,
postgres_url``): ``postgres_server`` is one cluster per test process (xdist
workers get their own), ``postgres_url`` a fresh database in it for every test
(``postgresql+psycopg://postgres@127.0.0.1:PORT/DB``), ``private_postgres`` a
cluster of the test's own (for tests that stop the server).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pytest

PG_USER = "postgres"
INSTALL_HINT = ("PostgreSQL's server binaries are missing: install them with "
                "`sudo tools/install_system_deps.sh` (Debian package `postgresql`) "
                "or point $PG_BINDIR at the directory holding initdb and pg_ctl")


class PostgresMissing(RuntimeError):
    pass


def _version_key(path: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", os.path.basename(os.path.dirname(path))))


def find_bindir() -> Path:
    """The newest ``/usr/lib/postgresql/<version>/bin`` holding initdb and pg_ctl (or $PG_BINDIR)."""
    override = os.environ.get("PG_BINDIR")
    candidates = [override] if override else sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    for directory in candidates:
        if all(os.access(os.path.join(directory, n), os.X_OK) for n in ("initdb", "pg_ctl",
                                                                          "postgres")):
            return Path(directory)
    raise PostgresMissing(INSTALL_HINT)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is gone for our purposes
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class PostgresServer:
    """One throwaway cluster: ``start()``, ``url(db)``, ``create_database()``, ``stop()``."""

    def __init__(self, base: str | None = None, durable: bool = False):
        self.bindir = find_bindir()
        self.as_root = os.geteuid() == 0
        if self.as_root:
            try:
                self.owner = pwd.getpwnam(PG_USER)
            except KeyError:
                raise PostgresMissing(f"no {PG_USER!r} system user: {INSTALL_HINT}") from None
        self.directory = Path(tempfile.mkdtemp(prefix="grader-pg-", dir=base))
        self.directory.chmod(0o755)
        self.data = self.directory / "data"
        self.sockets = self.directory / "run"
        self.log = self.directory / "server.log"
        self.sockets.mkdir()
        if self.as_root:
            for path in (self.directory, self.sockets):
                os.chown(path, self.owner.pw_uid, self.owner.pw_gid)
        self.port: int | None = None
        self.pid: int | None = None
        self.durable = durable
        self._initdb()

    # ------------------------------------------------------------------ commands

    def command(self, name: str, *args: str) -> list[str]:
        argv = [str(self.bindir / name), *args]
        return (["runuser", "-u", PG_USER, "--", *argv] if self.as_root else argv)

    def _run(self, name: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        done = subprocess.run(self.command(name, *args), capture_output=True, text=True,
                              timeout=timeout, cwd=self.directory)
        if done.returncode != 0:
            raise RuntimeError(f"{name} {' '.join(args)} failed ({done.returncode}):\n"
                               f"{done.stdout}\n{done.stderr}\n{self.log_tail()}")
        return done

    def _initdb(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", PG_USER, "--auth=trust", "-E", "UTF8",
                  "--locale=C", "--no-sync")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    # ------------------------------------------------------------------ life cycle

    def start(self) -> PostgresServer:
        """Start the cluster (a free port the first time, the same port afterwards)."""
        options = [f"-k {self.sockets}", "-c listen_addresses=127.0.0.1", "-c max_connections=60"]
        if not self.durable:  # a test cluster: nothing survives it, so skip the disk flushes
            options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        attempts = 1 if self.port is not None else 5
        for attempt in range(attempts):
            port = self.port if self.port is not None else free_port()
            try:
                self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60",
                          "-o", " ".join([f"-p {port}", *options]), "start")
            except RuntimeError:
                if attempt == attempts - 1:
                    raise
                continue  # the port was taken between the probe and the start: another one
            self.port = port
            break
        self.pid = int((self.data / "postmaster.pid").read_text().split()[0])
        return self

    def stop(self, mode: str = "fast") -> None:
        """``pg_ctl stop -m fast`` and wait until the postmaster process is gone."""
        if self.pid is None:
            return
        pid, self.pid = self.pid, None
        if _pid_alive(pid):
            subprocess.run(self.command("pg_ctl", "-D", str(self.data), "-m", mode, "-w",
                                        "-t", "60", "stop"), capture_output=True, timeout=90)
        deadline = time.monotonic() + 30
        while _pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _pid_alive(pid):  # never leave a server behind
            os.kill(pid, signal.SIGKILL)
            time.sleep(0.5)
        if _pid_alive(pid):
            raise RuntimeError(f"the postmaster {pid} did not stop")

    def restart(self, down_seconds: float = 0.0) -> None:
        """Stop the server, stay down ``down_seconds``, start it again (same data, same port)."""
        self.stop()
        time.sleep(down_seconds)
        self.start()

    @contextlib.contextmanager
    def outage(self, after: float, seconds: float):
        """In a thread: wait ``after`` s, stop the server for ``seconds``, start it again."""
        error: list[BaseException] = []

        def run():
            try:
                time.sleep(after)
                self.restart(seconds)
            except BaseException as e:  # noqa: BLE001 - reported by the main thread
                error.append(e)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        try:
            yield thread
        finally:
            thread.join(timeout=after + seconds + 120)
        if error:
            raise error[0]

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)

    @property
    def running(self) -> bool:
        return self.pid is not None and _pid_alive(self.pid)

    # ------------------------------------------------------------------ databases

    def url(self, database: str = "postgres", driver: str = "postgresql+psycopg") -> str:
        return f"{driver}://{PG_USER}@127.0.0.1:{self.port}/{database}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        return self._run("psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", PG_USER,
                         "-d", database, "-v", "ON_ERROR_STOP=1", "-At", "-c", sql).stdout

    def create_database(self, name: str | None = None) -> str:
        """A new empty database; returns its SQLAlchemy URL."""
        name = name or f"gb_{uuid.uuid4().hex[:12]}"
        self.psql(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.destroy()


def new_server(**kwargs) -> PostgresServer:
    """A started cluster, or a test failure naming what to install."""
    try:
        return PostgresServer(**kwargs).start()
    except PostgresMissing as error:
        pytest.fail(str(error), pytrace=False)


@contextlib.contextmanager
def served():
    """A started cluster, destroyed afterwards; its postmaster must be gone."""
    server = new_server()
    try:
        yield server
    finally:
        pid = server.pid
        server.destroy()
        assert pid is None or not _pid_alive(pid), f"postmaster {pid} survived the teardown"


@pytest.fixture(scope="session")
def postgres_server():
    with served() as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server) -> str:
    if not postgres_server.running:  # a test that stopped the shared server
        postgres_server.start()
    return postgres_server.create_database()


@pytest.fixture
def private_postgres():
    with served() as server:
        yield server
