"""Run a notebook's code cells in a sandboxed kernel, surviving whatever the cells do.

One :class:`SandboxedKernel` is one kernel process (inside bubblewrap, or
unsandboxed with a warning when bubblewrap is missing) driven over ZeroMQ
``ipc`` sockets. :func:`run_cells` executes a list of cells with a wall-clock
limit per cell and per notebook and recovers from the two ways a cell can take
the kernel down:

- a crash (``os._exit``, a segfault, the kernel killed for its memory) and
- a timeout the kernel does not recover from (the cell is first interrupted
  with SIGINT; a cell that ignores it is killed),

by starting a fresh kernel and running the notebook again from the top with
the offending cell replaced by an error. The cells the crash prevented are
thereby recovered; only the offending cell (and whatever depended on it) is
lost. Each cell's outputs, the checks it recorded (:mod:`grader.checks`) and
the integrity events it raised are collected separately; the recorded checks
never appear among the outputs.

A grading worker may start the kernel of its next notebook ahead of need
(:class:`KernelPrestarter`): launched while the current notebook runs, it loads
ipykernel and the test cells' programs (which depend on the assignment's notebook
only) in a fresh, empty working directory and then waits; the next submission's
staged files are copied in when it is claimed. Each kernel still serves exactly
one submission and is destroyed after it.
"""

from __future__ import annotations

import atexit
import dataclasses
import json
import os
import queue
import secrets
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence

from grader import sandbox
from grader.checks import MIME_EVENT, MIME_RECORD

MAX_OUTPUT_CHARS = 100_000  # per cell; the rest is dropped with a note
MAX_RECORDS_PER_CELL = 500
MAX_RECORD_CHARS_PER_CELL = 256 << 20  # what a cell may publish as check records in total
# Per notebook (per run of it): whatever a kernel sends, the worker keeps at most this much.
MAX_OUTPUT_CHARS_PER_NOTEBOOK = 1_000_000
MAX_RECORDS_PER_NOTEBOOK = 5_000
MAX_RECORD_CHARS_PER_NOTEBOOK = 384 << 20
MAX_EVENTS_PER_NOTEBOOK = 500
MAX_EVENT_CHARS = 2_000
# A single message larger than this makes ZeroMQ drop the kernel's connection (the worker
# never holds it); the cell then times out and is recorded as such.
MAX_MESSAGE_BYTES = 300 << 20
MESSAGE_DEPTH = 64  # JSON nesting of a message's header, metadata or content
REPLY_GRACE = 2.0  # after the execute reply, how long to wait for the kernel's idle status
POLL = 0.1
_SUBREAPER = False


@dataclasses.dataclass
class CellRun:
    """What happened when one code cell ran."""

    index: int
    status: str = "ok"  # ok | error | timeout | crash | skipped | not-run
    outputs: list[dict] = dataclasses.field(default_factory=list)
    records: list[dict] = dataclasses.field(default_factory=list)
    events: list[dict] = dataclasses.field(default_factory=list)
    error_name: str | None = None
    detail: str = ""
    elapsed: float = 0.0

    def to_json(self) -> dict:
        data = dataclasses.asdict(self)
        data.pop("outputs")
        data.pop("records")
        return data


@dataclasses.dataclass
class Budget:
    """What one run of a notebook may still add to the worker's memory."""

    output_chars: int = MAX_OUTPUT_CHARS_PER_NOTEBOOK
    records: int = MAX_RECORDS_PER_NOTEBOOK
    record_chars: int = MAX_RECORD_CHARS_PER_NOTEBOOK
    events: int = MAX_EVENTS_PER_NOTEBOOK
    exceeded: set[str] = dataclasses.field(default_factory=set)


@dataclasses.dataclass
class NotebookRun:
    cells: list[CellRun]
    attempts: int
    elapsed: float
    sandboxed: bool
    problems: list[dict] = dataclasses.field(default_factory=list)
    kernel_start: float = 0.0  # seconds spent starting kernels (every attempt)
    prestarted: bool = False  # the first kernel was started ahead of need


@dataclasses.dataclass
class ExecutionSettings:
    """How kernels are started and limited (the same for every notebook of a run)."""

    limits: sandbox.Limits = dataclasses.field(default_factory=sandbox.Limits)
    cell_timeout: float = 300.0
    notebook_timeout: float = 1800.0
    startup_timeout: float = 60.0
    interrupt_grace: float = 3.0
    max_restarts: int = 4
    use_sandbox: bool = True
    ro_overlays: Sequence[tuple[str, str]] = ()
    pythonpath_host: Sequence[str] = ()  # helper dirs for the unsandboxed fallback
    helpers_dir: str | None = None  # host dir bound at sandbox.HELPERS_MOUNT
    mpl_cache_dir: str | None = None
    scratch_dir: str | None = None


class KernelStartError(RuntimeError):
    """The kernel did not come up (reported for the instructor, not the student)."""


def _signal_name(returncode: int | None) -> str:
    if returncode is None:
        return "unknown"
    number = -returncode if returncode < 0 else returncode - 128 if returncode > 128 else 0
    if number:
        try:
            return signal.Signals(number).name
        except ValueError:
            return f"signal {number}"
    return f"exit status {returncode}"


class _TailReader(threading.Thread):
    """Keeps the last few KiB of the kernel process's own stdout/stderr."""

    def __init__(self, stream, limit: int = 16384):
        super().__init__(daemon=True)
        self.stream, self.limit, self.tail = stream, limit, b""

    def run(self) -> None:
        for chunk in iter(lambda: self.stream.read1(4096), b""):
            self.tail = (self.tail + chunk)[-self.limit:]

    def text(self) -> str:
        return self.tail.decode("utf-8", "replace")


class SandboxedKernel:
    """One kernel process and its client."""

    def __init__(self, settings: ExecutionSettings, *, submission_dir: str | None,
                 work_name: str, mode: str = "grade", programs: dict[str, str] | None = None,
                 uid_slot: int | None = None, deferred: bool = False):
        """``deferred``: started ahead of need, without a submission (:meth:`launch`, then
        :meth:`deliver`). ``uid_slot``: which of the worker's sandbox uids it runs as (by
        default one that no spare kernel of this process holds)."""
        self.settings = settings
        self.deferred = deferred
        self.drop_dir: str | None = None  # deferred: where the submission's files are put
        self.programs = programs or {}
        self.budget = Budget()
        self.cgroup: str | None = None
        self._reply_seen: str | None = None  # the request whose execute reply has arrived
        self.submission_dir = submission_dir
        self.work_name = work_name
        self.mode = mode
        self.bwrap = sandbox.bwrap_executable() if settings.use_sandbox else None
        self.uid_slot = PRESTARTER.free_slot() if uid_slot is None else uid_slot
        self.uid = (sandbox.sandbox_uid(slot=self.uid_slot) if (self.bwrap and sandbox.is_root())
                    else None)
        self.process: subprocess.Popen | None = None
        self.client = None
        self.runtime_dir: str | None = None
        self.namespace: str | None = None
        self._tail: _TailReader | None = None

    @property
    def sandboxed(self) -> bool:
        return self.bwrap is not None

    # ------------------------------------------------------------------ start
    def _write_connection_files(self) -> tuple[str, str]:
        from jupyter_client.connect import write_connection_file

        host_file = os.path.join(self.runtime_dir, "client.json")
        key = secrets.token_hex(32)
        _, info = write_connection_file(host_file, ip=os.path.join(self.runtime_dir, "k"),
                                        transport="ipc", key=key.encode())
        kernel_dir = sandbox.RUNTIME_MOUNT if self.sandboxed else self.runtime_dir
        kernel_info = dict(info, ip=f"{kernel_dir}/k")
        kernel_info = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in kernel_info.items()}
        kernel_file = os.path.join(self.runtime_dir, "kernel.json")
        with open(kernel_file, "w") as f:
            json.dump(kernel_info, f)
        os.chmod(kernel_file, 0o600)
        sandbox.chown_tree([kernel_file], self.uid)
        return host_file, f"{kernel_dir}/kernel.json"

    def _write_programs(self) -> str | None:
        """The test cells' programs, for the launcher to read and delete before any student code."""
        if not self.programs:
            return None
        path = os.path.join(self.runtime_dir, "tests.json")
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as f:
            json.dump(self.programs, f)
        sandbox.chown_tree([path], self.uid)  # read and deleted by the launcher's final identity
        return f"{sandbox.RUNTIME_MOUNT if self.sandboxed else self.runtime_dir}/tests.json"

    def _spec(self) -> sandbox.SandboxSpec:
        s = self.settings
        pythonpath = [sandbox.HELPERS_MOUNT] if (self.sandboxed and s.helpers_dir) else list(
            s.pythonpath_host)
        return sandbox.SandboxSpec(runtime_dir=self.runtime_dir, submission_dir=self.submission_dir,
                                   work_name=self.work_name, limits=s.limits,
                                   ro_overlays=list(s.ro_overlays)
                                   + ([(s.helpers_dir, sandbox.HELPERS_MOUNT)]
                                      if (self.sandboxed and s.helpers_dir) else []),
                                   pythonpath=pythonpath, mpl_cache_dir=s.mpl_cache_dir,
                                   uid=self.uid)

    def start(self) -> None:
        """Start the kernel on its submission and wait until it answers."""
        self.launch()
        self._finish_start()

    def launch(self) -> None:
        """Start the kernel's process and connect to it (without waiting for it)."""
        global _SUBREAPER
        if not _SUBREAPER:
            sandbox.become_subreaper()
            _SUBREAPER = True
        self.runtime_dir = tempfile.mkdtemp(prefix="grader-rt-", dir=self.settings.scratch_dir)
        sandbox.prepare_runtime_dir(self.runtime_dir, self.uid)
        if self.deferred:
            # Empty until the kernel is claimed; bound read-only where the submission goes.
            # Private (0700), owned by the kernel's uid: only that sandbox reads it.
            self.drop_dir = tempfile.mkdtemp(prefix="grader-sub-", dir=self.settings.scratch_dir)
            sandbox.chown_tree([self.drop_dir], self.uid)
            self.submission_dir = self.drop_dir
        host_file, kernel_file = self._write_connection_files()
        tests_file = self._write_programs()
        spec = self._spec()
        inner = sandbox.launcher_command(spec, kernel_file, self.mode, self.sandboxed,
                                         tests_file=tests_file,
                                         wait_for_submission=self.deferred)
        pass_fds: tuple[int, ...] = ()
        if self.sandboxed:
            # bwrap's options (host paths of the course, the staged submission) travel through a
            # pipe, so that /proc/1/cmdline inside the sandbox shows only `bwrap --args N`.
            options = sandbox.bwrap_command(self.bwrap, spec, inner)
            split = options.index("--")
            read_end, write_end = os.pipe()
            with os.fdopen(write_end, "wb") as pipe:
                pipe.write(b"".join(a.encode() + b"\0" for a in options[1:split]))
            pass_fds = (read_end,)
            command = [self.bwrap, "--args", str(read_end), *options[split:]]
            self.cgroup = sandbox.memory_cgroup(spec.limits.sandbox_memory_mb)
            command = sandbox.in_cgroup(self.cgroup, command)
            env = {"PATH": "/usr/bin:/bin"}
            cwd = "/"
        else:
            command, env, cwd = inner, sandbox.unsandboxed_environment(spec), self.runtime_dir
        try:
            self.process = subprocess.Popen(command, stdin=subprocess.PIPE if self.deferred
                                            else subprocess.DEVNULL,
                                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                            env=env, cwd=cwd, start_new_session=True,
                                            pass_fds=pass_fds)
        finally:
            for descriptor in pass_fds:
                os.close(descriptor)
        self._tail = _TailReader(self.process.stdout)
        self._tail.start()
        import zmq
        from jupyter_client import BlockingKernelClient

        context = zmq.Context()
        context.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)
        # The kernel's ipc sockets do not exist yet: retry connecting every 20 ms, not 100.
        context.setsockopt(zmq.RECONNECT_IVL, 20)
        self.client = BlockingKernelClient(context=context)
        self.client.load_connection_file(host_file)
        # Every message the kernel sends is student data: parsed with bounded depth and size.
        self.client.session.unpack = _bounded_unpack
        self.client.start_channels()

    def deliver(self, submission_dir: str | None) -> None:
        """Give a kernel started ahead of need its submission, and wait until it answers.

        The staged files are copied (regular files only) into the directory the
        sandbox sees at the submission's place, readable by the kernel's uid; the
        launcher, waiting since its start, then copies them into its fresh
        working directory and starts the kernel there.
        """
        if not self.deferred or self.process is None:
            raise RuntimeError("deliver() is for a kernel started with deferred=True and launch()")
        self.budget = Budget()
        if submission_dir:
            _copy_submission(submission_dir, self.drop_dir, self.uid)
        try:
            self.process.stdin.write(b"go\n")
            self.process.stdin.close()
        except OSError as error:
            raise KernelStartError(f"the kernel started ahead of need is gone ({error})") from None
        self._finish_start()

    def _finish_start(self) -> None:
        self._wait_ready()
        if self.uid is not None:
            # The sockets exist now; take the directory back so that the kernel
            # cannot fill the host's disk with files there.
            os.chown(self.runtime_dir, 0, 0)
            os.chmod(self.runtime_dir, 0o755)
        if not sandbox.is_root() and self.sandboxed:
            pid = self.kernel_pid()
            self.namespace = sandbox.user_namespace(pid) if pid else None

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.settings.startup_timeout
        sent: set[str] = set()
        next_request = 0.0
        while time.monotonic() < deadline:
            if not self.alive():
                raise KernelStartError(
                    f"the kernel exited during start-up ({_signal_name(self.process.returncode)}):\n"
                    + self._tail.text()[-2000:])
            if time.monotonic() >= next_request:
                # Requests sent before the kernel bound its sockets may be lost;
                # ask again now and then, and accept the answer to any of them.
                sent.add(self.client.kernel_info())
                next_request = time.monotonic() + 2.0
            try:
                reply = self.client.get_shell_msg(timeout=0.1)
            except queue.Empty:
                continue
            if reply["parent_header"].get("msg_id") in sent:
                self._await_iopub(sent, deadline)
                return
        raise KernelStartError(f"the kernel did not answer within {self.settings.startup_timeout} s")

    def _await_iopub(self, sent: set[str], deadline: float) -> None:
        """Wait until iopub delivers (the kernel's idle status after one of our requests).

        A subscription is only live once ZeroMQ has connected it: outputs published
        before that would be lost. Start-up messages are discarded on the way (the
        cells' are told apart by their parent anyway).
        """
        ask_again = time.monotonic() + 0.5
        while time.monotonic() < deadline and self.alive():
            msg = _next_message(self.client.iopub_channel, 0.05, self.budget)
            if msg is None:
                if time.monotonic() >= ask_again:  # published before we were subscribed
                    sent.add(self.client.kernel_info())
                    ask_again = time.monotonic() + 0.5
                continue
            content = msg.get("content")
            if (msg.get("msg_type") == "status" and _parent_id(msg) in sent
                    and isinstance(content, dict) and content.get("execution_state") == "idle"):
                break
        for channel in (self.client.iopub_channel, self.client.shell_channel):
            while channel.msg_ready():
                _next_message(channel, 0, self.budget)

    # ------------------------------------------------------------------ state
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kernel_pid(self) -> int | None:
        """The ipykernel process (bwrap's child in the sandbox, else the launched process)."""
        if not self.alive():
            return None
        if not self.sandboxed:
            return self.process.pid
        # bwrap (host) -> bwrap as pid 1 of the sandbox's pid namespace -> the launcher.
        pid = self.process.pid
        for _ in range(2):
            children = sandbox.children_of(pid)
            if not children:
                return None
            pid = children[0]
        return pid

    def death_detail(self) -> str:
        code = self.process.returncode if self.process else None
        tail = self._tail.text() if self._tail else ""
        if sandbox.cgroup_oom_kills(self.cgroup):
            return (f"the kernel died ({_signal_name(code)}): the sandbox reached its memory "
                    f"limit of {self.settings.limits.sandbox_memory_mb} MiB")
        if "MemoryError" in tail or code == 137:
            return f"the kernel died ({_signal_name(code)}), likely out of memory"
        return f"the kernel died ({_signal_name(code)})"

    # ------------------------------------------------------------------ execute
    def execute(self, index: int, code: str, timeout: float) -> CellRun:
        run = CellRun(index=index)
        started = time.monotonic()
        msg_id = self.client.execute(code, store_history=True, allow_stdin=False,
                                     stop_on_error=False, silent=False)
        deadline = started + max(timeout, 0.1)
        collector = _OutputCollector(run, self.budget)
        # The end of a cell: the execute reply to *this* request on the shell channel, then
        # the idle status on iopub (or REPLY_GRACE seconds). A status message alone, which
        # the kernel's code can forge at any time, never ends a cell; neither does anything
        # whose parent is not this request.
        replied_at: float | None = None
        idle = False
        while True:
            if not self.alive():
                run.status, run.detail = "crash", self.death_detail()
                break
            if sandbox.cgroup_oom_kills(self.cgroup):
                # The sandbox as a whole ran out of its memory budget: whichever process the
                # kernel killed, the cell is treated as a crash (and left out of a re-run).
                self.kill()
                run.status = "crash"
                run.detail = (f"the sandbox reached its memory limit of "
                              f"{self.settings.limits.sandbox_memory_mb} MiB")
                break
            now = time.monotonic()
            if now >= deadline:
                self._interrupt(run, collector, msg_id, timeout)
                break
            if replied_at is None and self._replied(msg_id):
                replied_at = time.monotonic()
            if replied_at is not None and (idle or now - replied_at > REPLY_GRACE):
                break
            wait = min(POLL if replied_at is not None or not idle else 0.005,
                       max(deadline - now, 0.001))
            msg = _next_message(self.client.iopub_channel, wait, self.budget)
            if msg is None or _parent_id(msg) != msg_id:
                continue
            if collector.handle(msg):
                idle = True  # ends the cell only with the reply to this request (checked above)
        if run.status == "ok" and collector.error:
            run.status = "error"
        run.elapsed = time.monotonic() - started
        return run

    def _replied(self, msg_id: str) -> bool:
        """Whether the shell channel holds the execute reply to ``msg_id`` (others are dropped)."""
        channel = self.client.shell_channel
        found = False
        for _ in range(100):
            if not channel.msg_ready():
                break
            msg = _next_message(channel, 0, self.budget)
            if msg is not None and msg.get("msg_type") == "execute_reply" and (
                    _parent_id(msg) == msg_id):
                found = True
        if found:
            self._reply_seen = msg_id
        return found or self._reply_seen == msg_id

    def _interrupt(self, run: CellRun, collector: _OutputCollector, msg_id: str,
                   timeout: float) -> None:
        run.status = "timeout"
        run.detail = f"the cell ran longer than {timeout:.0f} s"
        pid = self.kernel_pid()
        if pid is not None:
            try:
                os.kill(pid, signal.SIGINT)
            except OSError:
                pass
        grace = time.monotonic() + self.settings.interrupt_grace
        while time.monotonic() < grace and self.alive():
            msg = _next_message(self.client.iopub_channel, POLL, self.budget)
            if msg is None:
                continue
            if _parent_id(msg) == msg_id and collector.handle(msg) and self._replied(msg_id):
                return  # interrupted: the kernel survives
        run.detail += "; it ignored the interrupt and the kernel was stopped"
        self.kill()

    # ------------------------------------------------------------------ stop
    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except OSError:
                pass
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        self._cleanup_processes()
        sandbox.remove_cgroup(self.cgroup)

    def _cleanup_processes(self) -> None:
        if self.uid is not None:
            sandbox.kill_uid_processes(self.uid)
        elif self.namespace is not None:
            sandbox.kill_namespace_processes(self.namespace)
        if self.process is not None and self.process.returncode is not None:
            sandbox.reap_orphans()

    def shutdown(self) -> None:
        # No polite shutdown request: nothing in the kernel needs saving, and a
        # kernel that ignores the request would only cost time.
        self.kill()
        if self.client is not None:
            try:
                self.client.stop_channels()
            except Exception:  # noqa: BLE001
                pass
        if self.process is not None and self.process.stdin is not None:
            try:
                self.process.stdin.close()
            except OSError:
                pass
        if self.runtime_dir:
            shutil.rmtree(self.runtime_dir, ignore_errors=True)
        if self.drop_dir:
            shutil.rmtree(self.drop_dir, ignore_errors=True)

    def __enter__(self) -> SandboxedKernel:
        try:
            self.start()
        except BaseException:
            self.shutdown()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()


MAX_SUBMISSION_FILE = 64 << 20  # as grader.kernel reads: larger files are left out


def _copy_submission(source: str, target: str, uid: int | None) -> None:
    """Copy a staged submission's regular files (never a link) for one kernel's uid to read.

    The launcher of a kernel started ahead of need reads them after it dropped to
    the sandbox uid (which sees them only through a read-only bind).
    """
    for directory, subdirs, names in os.walk(source, followlinks=False):
        subdirs[:] = [d for d in subdirs if not os.path.islink(os.path.join(directory, d))]
        relative = os.path.relpath(directory, source)
        into = target if relative == "." else os.path.join(target, relative)
        if into != target:
            os.makedirs(into, mode=0o700, exist_ok=True)
            sandbox.chown_tree([into], uid)
        for name in names:
            path = os.path.join(directory, name)
            if os.path.islink(path) or not os.path.isfile(path):
                continue
            if os.path.getsize(path) > MAX_SUBMISSION_FILE:
                continue
            copy = os.path.join(into, name)
            shutil.copyfile(path, copy, follow_symlinks=False)
            os.chmod(copy, 0o600)
            sandbox.chown_tree([copy], uid)


@dataclasses.dataclass
class _Spare:
    kernel: SandboxedKernel
    key: tuple
    mounts: tuple


def _mount_identity(settings: ExecutionSettings, kernel: SandboxedKernel) -> tuple:
    """Which directories a kernel's binds name: (path, device, inode) of each.

    A spare kernel keeps the directories it was started with, even if they are
    deleted and made again at the same path (a rebuilt helper copy, a course bundle
    unpacked anew): then it must not be used.
    """
    identity: list[tuple] = []
    # Built once and then only read: a directory made again has another inode or, where
    # the file system reuses the inode at once, another change time.
    for path in [host for host, _ in settings.ro_overlays] + [settings.helpers_dir,
                                                              settings.mpl_cache_dir]:
        if path is not None:
            try:
                status = os.stat(path)
            except OSError:
                identity.append((path, None))
                continue
            identity.append((path, status.st_dev, status.st_ino, status.st_ctime_ns))
    # Written in all the time (kernels' runtime directories): they must still be there.
    for path in (settings.scratch_dir, kernel.runtime_dir, kernel.drop_dir):
        if path is not None:
            identity.append((path, os.path.isdir(path)))
    return tuple(identity)


class KernelPrestarter:
    """At most one spare kernel per process, started ahead of need for the next notebook.

    A grading worker launches the kernel of its next notebook as the current one
    starts (:func:`run_cells` with ``prestarter`` and ``next_programs``): same settings,
    same working directory name, the next notebook's test programs, no submission,
    and the other sandbox uid slot of the worker (so that the current kernel's
    clean-up, which kills every process of its uid, never touches it). The spare has
    run nothing but the launcher: no cell, no request. When the next notebook comes,
    :meth:`claim` hands it over if it was started for exactly that notebook and those
    settings, and the directories it mounts are still the same ones (not deleted and
    made again at the same path); otherwise it is destroyed and a kernel is started
    as usual. It then
    serves that one submission and is destroyed after it, like any kernel. Re-runs
    after a crash always start fresh kernels.

    :meth:`release` (also run at the process's exit) kills a spare nobody claimed.
    """

    def __init__(self) -> None:
        self._spare: _Spare | None = None
        self._registered = False
        self.launched = 0
        self.claimed = 0

    @staticmethod
    def _key(settings: ExecutionSettings, work_name: str, mode: str,
             programs: dict[str, str] | None) -> tuple:
        return (settings, work_name, mode, dict(programs or {}))

    def free_slot(self) -> int:
        """A uid slot that no spare kernel of this process holds."""
        spare = self._spare
        return 0 if spare is None or spare.kernel.uid_slot != 0 else 1

    @property
    def spare(self) -> SandboxedKernel | None:
        return self._spare.kernel if self._spare is not None else None

    def launch(self, settings: ExecutionSettings, work_name: str, mode: str,
               programs: dict[str, str] | None, avoid_slot: int) -> None:
        """Start the spare kernel (replacing any); a failure only means there is none."""
        self.release()
        if not self._registered:
            import multiprocessing.util

            atexit.register(self.release)
            # Worker processes of multiprocessing may leave through os._exit (fork): their
            # finalizers still run.
            multiprocessing.util.Finalize(None, self.release, exitpriority=100)
            self._registered = True
        slot = 1 if avoid_slot == 0 else 0
        kernel = SandboxedKernel(settings, submission_dir=None, work_name=work_name, mode=mode,
                                 programs=programs, uid_slot=slot, deferred=True)
        try:
            kernel.launch()
        except Exception:  # noqa: BLE001 - the notebook will start its kernel as usual
            kernel.shutdown()
            return
        self._spare = _Spare(kernel, self._key(settings, work_name, mode, programs),
                             _mount_identity(settings, kernel))
        self.launched += 1

    def take(self, settings: ExecutionSettings, work_name: str, mode: str,
             programs: dict[str, str] | None) -> SandboxedKernel | None:
        """The spare if it was started for exactly this (not yet given anything), else None.

        A spare that does not fit, or whose process died, is destroyed.
        """
        spare, self._spare = self._spare, None
        if spare is None:
            return None
        if (spare.key != self._key(settings, work_name, mode, programs)
                or spare.mounts != _mount_identity(settings, spare.kernel)
                or not spare.kernel.alive()):
            spare.kernel.shutdown()
            return None
        return spare.kernel

    def hand_over(self, kernel: SandboxedKernel, submission_dir: str | None) -> bool:
        """Give a taken spare its submission and wait until it answers (False: destroyed)."""
        try:
            kernel.deliver(submission_dir)
        except Exception:  # noqa: BLE001 - e.g. killed while idle: a fresh kernel decides
            kernel.shutdown()
            return False
        self.claimed += 1
        return True

    def claim(self, settings: ExecutionSettings, work_name: str, mode: str,
              programs: dict[str, str] | None, submission_dir: str | None
              ) -> SandboxedKernel | None:
        """The spare, given this submission and answering, or None (then start one as usual)."""
        kernel = self.take(settings, work_name, mode, programs)
        if kernel is None or not self.hand_over(kernel, submission_dir):
            return None
        return kernel

    def release(self) -> None:
        """Kill the spare kernel, if any (the end of a worker, or a change of assignment)."""
        spare, self._spare = self._spare, None
        if spare is not None:
            spare.kernel.shutdown()


PRESTARTER = KernelPrestarter()  # this process's spare kernel (grading workers use it)


def _parent_id(msg: dict) -> object:
    parent = msg.get("parent_header")
    return parent.get("msg_id") if isinstance(parent, dict) else None


def _bounded_unpack(data: bytes | str) -> object:
    from grader.staging import loads

    return loads(data, max_depth=MESSAGE_DEPTH, max_bytes=MAX_MESSAGE_BYTES,
                 what="a message from the kernel")


def _next_message(channel, timeout: float, budget: Budget) -> dict | None:
    """The next message of a channel, or None; a message that cannot be read is dropped."""
    try:
        msg = channel.get_msg(timeout=timeout)
    except queue.Empty:
        return None
    except Exception:  # noqa: BLE001 - malformed, too deep, bad signature: the kernel's doing
        budget.exceeded.add("malformed messages")
        return None
    return msg if isinstance(msg, dict) else None


class _OutputCollector:
    """Turns iopub messages of one execution into outputs, records and events."""

    def __init__(self, run: CellRun, budget: Budget | None = None):
        self.run = run
        self.budget = budget or Budget()
        self.record_chars = 0
        self.chars = 0
        self.truncated = False
        self.error = False

    def _add(self, output: dict, size: int) -> None:
        if self.chars + size > MAX_OUTPUT_CHARS or size > self.budget.output_chars:
            self.budget.exceeded.add("output")
            if not self.truncated:
                self.truncated = True
                self.run.outputs.append({"output_type": "stream", "name": "stdout",
                                         "text": "\n[output truncated by the grader]\n"})
            return
        self.chars += size
        self.budget.output_chars -= size
        outputs = self.run.outputs
        if (output["output_type"] == "stream" and outputs and outputs[-1]["output_type"] == "stream"
                and outputs[-1]["name"] == output["name"]):
            outputs[-1]["text"] += output["text"]
        else:
            outputs.append(output)

    def _display(self, content: dict, output_type: str) -> None:
        data = content.get("data", {})
        if not isinstance(data, dict) or not all(isinstance(k, str) for k in data):
            return
        budget = self.budget
        if MIME_RECORD in data:
            raw = data[MIME_RECORD]
            if (isinstance(raw, str) and len(self.run.records) < MAX_RECORDS_PER_CELL
                    and self.record_chars + len(raw) <= MAX_RECORD_CHARS_PER_CELL
                    and budget.records > 0 and len(raw) <= budget.record_chars):
                self.record_chars += len(raw)
                budget.records -= 1
                budget.record_chars -= len(raw)
                self.run.records.append({"raw": raw})
            else:
                budget.exceeded.add("records")
            return
        if MIME_EVENT in data:
            raw = data[MIME_EVENT]
            if (isinstance(raw, str) and len(raw) <= MAX_EVENT_CHARS and budget.events > 0
                    and len(self.run.events) < MAX_RECORDS_PER_CELL):
                budget.events -= 1
                self.run.events.append({"raw": raw})
            else:
                budget.exceeded.add("events")
            return
        metadata = content.get("metadata", {})
        output = {"output_type": output_type, "data": data,
                  "metadata": metadata if isinstance(metadata, dict) else {}}
        if output_type == "execute_result":
            output["execution_count"] = content.get("execution_count")
        self._add(output, len(json.dumps(data)))

    def handle(self, msg: dict) -> bool:
        """Process one message; True when the execution is over (status idle)."""
        kind, content = msg.get("msg_type"), msg.get("content")
        if not isinstance(content, dict):
            return False
        if kind == "status":
            return content.get("execution_state") == "idle"
        if kind == "stream":
            text = str(content.get("text", ""))
            self._add({"output_type": "stream", "name": content.get("name", "stdout"),
                       "text": text}, len(text))
        elif kind in ("display_data", "execute_result"):
            self._display(content, kind)
        elif kind == "error":
            self.error = True
            self.run.error_name = str(content.get("ename", "Error"))[:100]
            traceback = [str(line) for line in content.get("traceback", [])][:200]
            self._add({"output_type": "error", "ename": self.run.error_name,
                       "evalue": str(content.get("evalue", ""))[:5000], "traceback": traceback},
                      sum(map(len, traceback)))
        elif kind == "clear_output":
            self.run.outputs.clear()  # the notebook's budget is not refunded
            self.chars = 0
        return False


def _replaced_cell(original: CellRun) -> CellRun:
    """The stand-in for a cell that crashed or hung: an error, not executed again."""
    reason = "crashed the kernel" if original.status == "crash" else "timed out"
    return CellRun(index=original.index, status=original.status, error_name="GraderError",
                   detail=original.detail, elapsed=original.elapsed,
                   outputs=[{"output_type": "error", "ename": "GraderError",
                             "evalue": f"this cell {reason} ({original.detail}); it was skipped "
                                       f"and the notebook re-run from a fresh kernel",
                             "traceback": []}])


def run_cells(sources: Sequence[str | None], settings: ExecutionSettings, *,
              submission_dir: str | None, work_name: str, mode: str = "grade",
              programs: dict[str, str] | None = None,
              prestarter: KernelPrestarter | None = None,
              next_programs: dict[str, str] | None = None) -> NotebookRun:
    """Run code cells (None = not a code cell) in order, recovering from crashes.

    With a ``prestarter``, the first kernel is its spare when one was started for
    these settings and programs, and the spare of the next notebook (``next_programs``;
    None: no spare) is launched before that first kernel is waited for, in the other
    uid slot. The time a spare spent starting before it was claimed counts against
    nobody's budget.
    """
    started = time.monotonic()
    deadline = started + settings.notebook_timeout
    replaced: dict[int, CellRun] = {}
    problems: list[dict] = []
    attempts = 0
    sandboxed = False
    kernel_start = 0.0
    prestarted = False
    slot = None  # set with a prestarter: re-runs keep the first kernel's uid slot
    while True:
        attempts += 1
        runs: list[CellRun] = []
        restart = False
        starting = time.monotonic()
        claimed = None
        if attempts == 1 and prestarter is not None:
            claimed = prestarter.take(settings, work_name, mode, programs)
            slot = claimed.uid_slot if claimed is not None else prestarter.free_slot()
            if next_programs is not None:
                # The next notebook's kernel starts now, in the other uid slot, while this
                # one finishes starting and runs: start-up overlaps everything else.
                prestarter.launch(settings, work_name, mode, next_programs, slot)
            if claimed is not None and not prestarter.hand_over(claimed, submission_dir):
                claimed = None
            prestarted = claimed is not None
        kernel = claimed or SandboxedKernel(settings, submission_dir=submission_dir,
                                            work_name=work_name, mode=mode, programs=programs,
                                            uid_slot=slot)
        sandboxed = kernel.sandboxed
        try:
            if claimed is None:
                kernel.start()
            kernel_start += time.monotonic() - starting
        except KernelStartError as error:
            kernel.shutdown()
            problems.append({"kind": "kernel-start", "detail": str(error)[:2000]})
            runs = [CellRun(index=i, status="not-run", detail="the kernel could not start")
                    for i in range(len(sources))]
            return NotebookRun(runs, attempts, time.monotonic() - started, sandboxed, problems,
                               kernel_start, prestarted)
        try:
            for index, source in enumerate(sources):
                if index in replaced:
                    runs.append(replaced[index])
                    continue
                if source is None or not source.strip():
                    runs.append(CellRun(index=index))
                    continue
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    runs.append(CellRun(index=index, status="not-run",
                                        detail="the notebook's time limit was reached"))
                    continue
                run = kernel.execute(index, source, min(settings.cell_timeout, remaining))
                if run.status == "timeout" and remaining < settings.cell_timeout:
                    run.detail = "the notebook's time limit was reached during this cell"
                runs.append(run)
                if run.status == "timeout":
                    # Interrupted or not, it would time out again in a re-run.
                    replaced[index] = _replaced_cell(run)
                if run.status in ("crash", "timeout") and not kernel.alive():
                    replaced[index] = _replaced_cell(run)
                    restart = True
                    break
        finally:
            kernel.shutdown()
        for what in sorted(kernel.budget.exceeded):
            detail = (f"the notebook sent more {what} than the grader keeps per notebook; the "
                      f"rest was dropped" if what != "malformed messages" else
                      "the kernel sent messages the grader could not read (malformed, nested "
                      "too deeply or badly signed); they were dropped")
            problem = {"kind": "limit", "detail": detail}
            if problem not in problems:
                problems.append(problem)
        if not restart:
            break
        if attempts > settings.max_restarts or time.monotonic() >= deadline:
            last = max(replaced)
            reason = ("too many crashes" if attempts > settings.max_restarts
                      else "the notebook's time limit was reached")
            runs = runs[: last] + [replaced[last]] + [
                CellRun(index=i, status="not-run", detail=f"not run: {reason}")
                for i in range(last + 1, len(sources))]
            problems.append({"kind": "gave-up", "detail": reason})
            break
    return NotebookRun(runs, attempts, time.monotonic() - started, sandboxed, problems,
                       kernel_start, prestarted)
