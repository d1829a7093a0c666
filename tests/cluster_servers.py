"""A real Dask cluster for the tests: ``dask scheduler`` and ``dask worker`` processes on loopback.

Started exactly as an instructor starts them on the machines of a lab (the
same commands, the same two scheduler settings grader/README.md asks for), on
a free port, and stopped by their process ids (process groups) afterwards.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DASK = str(Path(sys.executable).parent / "dask")
# What grader/README.md asks of an external scheduler (see grader.cluster.SCHEDULER_CONFIG).
SCHEDULER_ENV = {"DASK_DISTRIBUTED__SCHEDULER__WORKER_SATURATION": "1.0",
                 "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "1"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _environment(settings: dict[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONHASHSEED="0", **settings)
    env.pop("JPY_PARENT_PID", None)
    return env


class DaskCluster:
    """A scheduler and N single-threaded workers, each its own process group."""

    def __init__(self, workdir: Path, workers: int = 2, settings: dict[str, str] | None = None):
        """``settings``: the scheduler's DASK_* environment (default: what the README asks)."""
        self.workdir, self.count = workdir, workers
        self.settings = SCHEDULER_ENV if settings is None else settings
        self.port = free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.scheduler: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen] = []

    def _start(self, argv: list[str], log: str) -> subprocess.Popen:
        with open(self.workdir / log, "ab") as out:
            return subprocess.Popen(argv, cwd=REPO, env=_environment(self.settings), stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)

    def start(self) -> DaskCluster:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.scheduler = self._start([DASK, "scheduler", "--host", "127.0.0.1", "--port",
                                      str(self.port), "--no-dashboard"], "scheduler.log")
        self._wait_for_port()
        for index in range(self.count):
            self.add_worker(f"w{index}")
        self.wait_for_workers(self.count)
        return self

    def add_worker(self, name: str) -> subprocess.Popen:
        local = self.workdir / f"worker-{name}"
        local.mkdir(exist_ok=True)
        process = self._start([DASK, "worker", self.address, "--name", name, "--nworkers", "1",
                               "--nthreads", "1", "--no-dashboard", "--local-directory",
                               str(local)], f"worker-{name}.log")
        self.workers.append(process)
        return process

    def _wait_for_port(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.scheduler.poll() is not None:
                raise RuntimeError(f"dask scheduler exited: {self.log('scheduler.log')}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port),
                                                                         timeout=1):
                return
            time.sleep(0.2)
        raise RuntimeError(f"dask scheduler did not listen: {self.log('scheduler.log')}")

    def worker_addresses(self) -> dict[str, dict]:
        from distributed import Client

        with Client(self.address, timeout="20s") as client:
            return client.scheduler_info(n_workers=-1)["workers"]

    def wait_for_workers(self, count: int, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.worker_addresses()) >= count:
                return
            time.sleep(0.5)
        raise RuntimeError(f"only {len(self.worker_addresses())} of {count} dask workers "
                           f"joined: {self.log('worker-w0.log')[-2000:]}")

    def worker_pids(self) -> dict[str, int]:
        """Worker address -> pid of the worker process itself (the nanny's child)."""
        from distributed import Client

        with Client(self.address, timeout="20s") as client:
            return client.run(os.getpid)

    def log(self, name: str) -> str:
        path = self.workdir / name
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        for process in [*self.workers, self.scheduler]:
            if process is None or process.poll() is not None:
                continue
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in [*self.workers, self.scheduler]:
            if process is None:
                continue
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)

    def __enter__(self) -> DaskCluster:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
