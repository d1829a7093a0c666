"""The bubblewrap sandbox that student kernels run in, its limits and its clean-up.

What the kernel sees (everything else of the host file system is absent):

- read-only: ``/usr`` (and the ``/lib``, ``/bin`` links of a merged-usr system),
  the Python installation (``sys.base_prefix``), the environment (``sys.prefix``
  and its site-packages), the ``grader`` package, a copy of ``rnn_lib`` whose
  graded functions are tripwires (:mod:`grader.tripwire`), the kernel-side part
  of the course's test helpers, and the submission's own files;
- read-write: a size-limited tmpfs working directory (the submission is copied
  there), a size-limited ``/tmp``, and the runtime directory holding the kernel's
  connection file and its ``ipc`` sockets (the network namespace is empty, so
  client and kernel talk over Unix sockets, not loopback TCP);
- namespaces: new mount, ipc, net, uts, cgroup and pid namespaces (``/proc`` shows
  only the sandbox's processes; ipykernel's parent poller is off because
  ``JPY_PARENT_PID`` is unset);
- memory: a memory cgroup per sandbox bounds all its processes together
  (:func:`memory_cgroup`), where the machine allows it.

Identity. Run as root, bubblewrap starts in privileged mode and the launcher
(:mod:`grader.kernel`) drops to a dedicated unprivileged uid, ``UID_BASE`` plus
the worker's pid, before any student code runs: ``RLIMIT_NPROC`` is never
enforced for uid 0 (not even inside a user namespace mapped to it), and a
distinct uid per worker keeps sandboxes out of each other's ``/proc`` entries and
makes clean-up exact (kill every process of that uid). Run as an ordinary user,
bubblewrap also unshares the user namespace and the kernel keeps that user's uid.

Limits (set by the launcher, hard and soft): address space, CPU seconds,
processes/threads, file size, open files, no core dumps. Wall-clock limits per
cell and per notebook are enforced by :mod:`grader.executor`.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import shutil
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path

# Sandbox uids are UID_BASE + slot * UID_SPAN + pid of the worker that owns them: unique
# while the worker lives, far above the uids of real accounts and of rootless-container
# ranges. A worker has UID_SLOTS of them, so that the kernel started ahead of need for the
# next notebook (grader.executor.KernelPrestarter) never shares a uid with the kernel of
# the notebook being graded: each kernel's clean-up kills every process of its own uid.
UID_BASE = 3_000_000
UID_SPAN = 1 << 22  # Linux pid_max is at most 2**22
UID_SLOTS = 2

# Inside the sandbox.
HOME = "/home/student"
RUNTIME_MOUNT = "/run/grader"
SUBMISSION_MOUNT = "/submission"
HELPERS_MOUNT = "/opt/grader/helpers"
MPL_CACHE_MOUNT = "/opt/grader/mpl"


class SandboxUnavailable(RuntimeError):
    """bubblewrap is missing or cannot create a sandbox on this machine."""


@dataclasses.dataclass(frozen=True)
class Limits:
    """Resource limits of one kernel process tree (all sizes in MiB)."""

    memory_mb: int = 4096  # RLIMIT_AS of each process
    cpu_seconds: int = 1800  # RLIMIT_CPU of each process
    processes: int = 64  # RLIMIT_NPROC: processes and threads of the sandbox uid
    file_size_mb: int = 64  # RLIMIT_FSIZE
    open_files: int = 512  # RLIMIT_NOFILE
    tmp_mb: int = 128  # size of /tmp (tmpfs)
    work_mb: int = 256  # size of the working directory (tmpfs)
    sandbox_memory_mb: int = 6144  # memory cgroup of the whole sandbox (all its processes)

    def __post_init__(self):
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"Limits.{field.name}: expected a positive integer, got {value!r}")

    def launcher_args(self) -> list[str]:
        """The limit options of :mod:`grader.kernel`."""
        return [
            f"--memory-mb={self.memory_mb}",
            f"--cpu-seconds={self.cpu_seconds}",
            f"--processes={self.processes}",
            f"--file-size-mb={self.file_size_mb}",
            f"--open-files={self.open_files}",
        ]


def is_root() -> bool:
    return os.geteuid() == 0


def sandbox_uid(worker_pid: int | None = None, slot: int = 0) -> int:
    """The dedicated uid of one slot of the sandboxes of one worker process (root mode only)."""
    if not 0 <= slot < UID_SLOTS:
        raise ValueError(f"sandbox uid slot {slot!r}: expected 0 to {UID_SLOTS - 1}")
    return UID_BASE + slot * UID_SPAN + (os.getpid() if worker_pid is None else worker_pid)


def uid_owner(uid: int) -> int | None:
    """The pid of the worker a sandbox uid belongs to, or None for any other uid."""
    if not UID_BASE <= uid < UID_BASE + UID_SLOTS * UID_SPAN:
        return None
    return (uid - UID_BASE) % UID_SPAN


@functools.lru_cache(maxsize=1)
def bwrap_executable() -> str | None:
    """Path of a working ``bwrap``, or None (missing, or namespaces not permitted)."""
    path = shutil.which("bwrap")
    if path is None:
        return None
    probe = [path, "--ro-bind", "/", "/", "--unshare-net", "--unshare-ipc", "--die-with-parent"]
    if not is_root():
        probe.append("--unshare-user")
    probe += ["--", "/bin/sh", "-c", "exit 0"]
    try:
        done = subprocess.run(probe, capture_output=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return path if done.returncode == 0 else None


def warn_unsandboxed() -> None:
    """The loud warning printed when grading without a sandbox."""
    message = (
        "\n" + "!" * 78 + "\n"
        "!! bubblewrap (bwrap) is not available: student code will run WITHOUT a\n"
        "!! sandbox, as your own user, with access to your files, the gradebook and the\n"
        "!! network. Install it (Debian/Ubuntu: apt-get install bubblewrap) before\n"
        "!! grading real submissions. Resource and time limits still apply.\n" + "!" * 78
    )
    print(message, file=sys.stderr, flush=True)
    warnings.warn("grading without a sandbox (bwrap unavailable)", RuntimeWarning, stacklevel=2)


def _ancestors(path: str) -> list[str]:
    """Every proper ancestor directory of an absolute path, outermost first."""
    parts = Path(path).parts[1:-1]
    return ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]


def python_paths() -> list[str]:
    """Directories the interpreter needs, read-only: base prefix, prefix, site-packages."""
    import site

    paths = [sys.base_prefix, sys.prefix, *site.getsitepackages()]
    resolved = []
    for p in paths:
        real = os.path.realpath(p)
        for candidate in {p, real}:
            if os.path.isdir(candidate) and candidate not in resolved:
                resolved.append(candidate)
    # Outer directories first, so later (nested) binds land on top of them.
    return sorted(resolved, key=lambda p: len(Path(p).parts))


def package_dir(name: str) -> str:
    """The directory of an importable package, as the interpreter will find it."""
    import importlib.util

    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise SandboxUnavailable(f"package {name!r} is not importable; cannot bind it in the sandbox")
    return os.path.realpath(list(spec.submodule_search_locations)[0])


@dataclasses.dataclass
class SandboxSpec:
    """Everything that varies between two sandboxed kernels.

    ``ro_overlays`` are ``(host_dir, sandbox_dir)`` read-only binds laid over the
    Python paths (e.g. the tripwired rnn_lib over the real one).
    """

    runtime_dir: str
    submission_dir: str | None
    work_name: str
    limits: Limits
    ro_overlays: Sequence[tuple[str, str]] = ()
    pythonpath: Sequence[str] = ()
    mpl_cache_dir: str | None = None
    uid: int | None = None  # root mode: the dedicated sandbox uid

    @property
    def work_dir(self) -> str:
        return f"{HOME}/{self.work_name}"


def _environment(spec: SandboxSpec) -> dict[str, str]:
    """The complete environment of the kernel (bwrap starts from an empty one)."""
    bin_dirs = [os.path.join(sys.prefix, "bin"), "/usr/local/bin", "/usr/bin", "/bin"]
    env = {
        "PATH": os.pathsep.join(bin_dirs),
        "HOME": HOME,
        "USER": "student",
        "LOGNAME": "student",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "TMPDIR": "/tmp",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
        "PYTHONUNBUFFERED": "1",
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
        "IPYTHONDIR": "/tmp/.ipython",
        "JUPYTER_CONFIG_DIR": "/tmp/.jupyter",
        "JUPYTER_DATA_DIR": "/tmp/.jupyter-data",
        "JUPYTER_RUNTIME_DIR": RUNTIME_MOUNT,
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": "/tmp/.matplotlib",
        # One thread per kernel: workers already run one kernel per core, and
        # single-threaded BLAS/torch keeps float results identical run to run.
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "TORCH_NUM_THREADS": "1",
        "TQDM_DISABLE": "1",
    }
    if spec.pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(spec.pythonpath)
    return env


def _system_binds() -> list[str]:
    """Read-only system directories; merged-usr links are recreated as links."""
    args = ["--ro-bind", "/usr", "/usr"]
    for name in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(name):
            args += ["--symlink", os.readlink(name), name]
        elif os.path.isdir(name):
            args += ["--ro-bind", name, name]
    for name in ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/localtime", "/etc/alternatives"):
        if os.path.exists(name):
            args += ["--ro-bind", name, name]
    return args


def bwrap_command(bwrap: str, spec: SandboxSpec, inner: Sequence[str]) -> list[str]:
    """The full ``bwrap ... -- inner`` command line for one kernel."""
    root = is_root()
    args = [bwrap, "--die-with-parent", "--new-session"]
    # A pid namespace of its own: the kernel sees only the sandbox's processes in /proc (no
    # host command lines). bwrap runs as its pid 1; the launcher is its child.
    args += ["--unshare-ipc", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
             "--unshare-pid"]
    if not root:
        args += ["--unshare-user", "--disable-userns"]
    args += ["--hostname", "sandbox", "--clearenv"]
    for key, value in _environment(spec).items():
        args += ["--setenv", key, value]

    ro_dirs = python_paths()
    grader_dir = os.path.dirname(os.path.abspath(__file__))
    if not any(grader_dir.startswith(d + os.sep) for d in ro_dirs):
        ro_dirs.append(grader_dir)  # the kernel imports grader.kernel and grader.checks
    mounts = [d for d in ro_dirs] + [dest for _, dest in spec.ro_overlays]
    mounts += [RUNTIME_MOUNT, HOME, HELPERS_MOUNT, MPL_CACHE_MOUNT, SUBMISSION_MOUNT]
    system = _system_binds()
    mounts += [system[i + 2] for i, arg in enumerate(system) if arg == "--ro-bind"]
    # Fresh filesystems first: a bind made before ``--tmpfs /tmp`` would be
    # hidden by it, and the course (with its .venv) may itself live under /tmp.
    args += system
    args += ["--proc", "/proc", "--dev", "/dev"]
    args += ["--size", str(spec.limits.tmp_mb << 20), "--perms", "1777", "--tmpfs", "/tmp"]
    args += ["--size", str(16 << 20), "--perms", "1777", "--tmpfs", "/dev/shm"]
    # In privileged mode bwrap creates missing parents 0700; the unprivileged
    # kernel must traverse them, so create every ancestor 0755 explicitly.
    seen: set[str] = {"/", "/usr", "/tmp", "/proc", "/dev"}
    for mount in mounts:
        for ancestor in _ancestors(mount):
            if ancestor not in seen and not os.path.islink(ancestor):
                args += ["--perms", "0755", "--dir", ancestor]
                seen.add(ancestor)
    args += ["--size", str(spec.limits.work_mb << 20), "--perms", "0777", "--tmpfs", HOME]
    for d in ro_dirs:
        args += ["--ro-bind", d, d]
    for host, dest in spec.ro_overlays:
        args += ["--ro-bind", host, dest]
    if spec.submission_dir:
        args += ["--ro-bind", spec.submission_dir, SUBMISSION_MOUNT]
    if spec.mpl_cache_dir:
        args += ["--ro-bind", spec.mpl_cache_dir, MPL_CACHE_MOUNT]
    args += ["--bind", spec.runtime_dir, RUNTIME_MOUNT]
    args += ["--chdir", HOME]
    args += ["--cap-drop", "ALL"]
    if root:
        # Only to let the launcher switch to the sandbox uid; dropped with it.
        args += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    args += ["--", *inner]
    return args


def launcher_command(spec: SandboxSpec, connection_file: str, mode: str,
                     sandboxed: bool, tests_file: str | None = None,
                     wait_for_submission: bool = False) -> list[str]:
    """``python -m grader.kernel ...``: the process bwrap (or the fallback) starts.

    With ``wait_for_submission`` (a kernel started ahead of need) the launcher gets
    ready up to the kernel's start, then waits for a line on its stdin before it reads
    the submission, which the grader copies meanwhile into ``spec.submission_dir``.
    """
    cmd = [sys.executable, "-m", "grader.kernel", f"--connection-file={connection_file}",
           f"--mode={mode}", f"--work={spec.work_dir if sandboxed else spec.runtime_dir + '/work'}"]
    cmd += spec.limits.launcher_args()
    if spec.submission_dir:
        cmd.append(f"--submission={SUBMISSION_MOUNT if sandboxed else spec.submission_dir}")
    if spec.uid is not None and sandboxed:
        cmd.append(f"--uid={spec.uid}")
    if spec.mpl_cache_dir:
        cmd.append(f"--mpl-cache={MPL_CACHE_MOUNT if sandboxed else spec.mpl_cache_dir}")
    if tests_file:
        cmd.append(f"--tests={tests_file}")
    if wait_for_submission:
        cmd.append("--wait-for-submission")
    return cmd


# --------------------------------------------------------------------------- memory cgroup

CGROUP_ROOTS = ("/sys/fs/cgroup/memory", "/sys/fs/cgroup")  # cgroup v1, then v2


def _cgroup_base() -> tuple[str, str] | None:
    """(directory, version) where sandbox cgroups can be made, or None."""
    for root, version in ((CGROUP_ROOTS[0], "v1"), (CGROUP_ROOTS[1], "v2")):
        limit = "memory.limit_in_bytes" if version == "v1" else "memory.max"
        if version == "v2" and not os.path.exists(os.path.join(root, "cgroup.controllers")):
            continue
        if os.path.isdir(root) and os.access(root, os.W_OK):
            if version == "v2":
                try:
                    with open(os.path.join(root, "cgroup.subtree_control")) as f:
                        if "memory" not in f.read().split():
                            continue
                except OSError:
                    continue
            return root, limit
    return None


def memory_cgroup(limit_mb: int) -> str | None:
    """A fresh memory cgroup limited to ``limit_mb`` for one sandbox (None where unavailable).

    The limit holds for every process of the sandbox together, where ``RLIMIT_AS``
    bounds each process alone.
    """
    base = _cgroup_base()
    if base is None:
        return None
    root, limit_file = base
    path = os.path.join(root, f"grader-{os.getpid()}-{time.monotonic_ns()}")
    try:
        os.mkdir(path)
        with open(os.path.join(path, limit_file), "w") as f:
            f.write(str(limit_mb << 20))
        if limit_file == "memory.limit_in_bytes":
            swap = os.path.join(path, "memory.memsw.limit_in_bytes")
            if os.path.exists(swap):
                with open(swap, "w") as f:
                    f.write(str(limit_mb << 20))
        else:
            with open(os.path.join(path, "memory.oom.group"), "w") as f:
                f.write("1")  # v2: one out-of-memory kill takes the whole sandbox
    except OSError:
        remove_cgroup(path)
        return None
    return path


def in_cgroup(cgroup: str | None, command: list[str]) -> list[str]:
    """``command`` started inside ``cgroup`` (it joins before bwrap execs, so nothing escapes)."""
    if cgroup is None:
        return command
    return ["/bin/sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', cgroup, *command]


def cgroup_oom_kills(cgroup: str | None) -> int:
    """How many processes the sandbox's memory cgroup has killed for its limit so far."""
    if not cgroup:
        return 0
    for name in ("memory.oom_control", "memory.events"):  # cgroup v1, v2
        try:
            with open(os.path.join(cgroup, name)) as f:
                for line in f:
                    parts = line.split()
                    if len(parts) == 2 and parts[0] == "oom_kill":
                        return int(parts[1])
        except (OSError, ValueError):
            continue
    return 0


def memory_cgroup_available() -> bool:
    return _cgroup_base() is not None


def cgroup_peak_bytes(cgroup: str | None) -> int | None:
    if not cgroup:
        return None
    for name in ("memory.max_usage_in_bytes", "memory.peak"):
        try:
            with open(os.path.join(cgroup, name)) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            continue
    return None


def remove_cgroup(cgroup: str | None) -> None:
    """Remove a sandbox's cgroup once its processes are gone (retried briefly)."""
    if not cgroup or not os.path.isdir(cgroup):
        return
    for _ in range(50):
        try:
            os.rmdir(cgroup)
            return
        except OSError:
            time.sleep(0.02)


def unsandboxed_environment(spec: SandboxSpec) -> dict[str, str]:
    """Environment for the no-bwrap fallback: the sandbox's, with host paths."""
    env = _environment(spec)
    env["HOME"] = spec.runtime_dir
    env["TMPDIR"] = env["IPYTHONDIR"] = env["MPLCONFIGDIR"] = spec.runtime_dir
    env["JUPYTER_CONFIG_DIR"] = env["JUPYTER_DATA_DIR"] = env["JUPYTER_RUNTIME_DIR"] = spec.runtime_dir
    if spec.pythonpath:
        # In the fallback the helper copies live on the host, not at HELPERS_MOUNT.
        env["PYTHONPATH"] = os.pathsep.join(spec.pythonpath)
    return env


# --------------------------------------------------------------------------- clean-up


def kill_uid_processes(uid: int, attempts: int = 20) -> None:
    """Kill every process owned by ``uid`` (root mode), including escaped daemons.

    A helper running as ``uid`` sends SIGKILL to -1, which reaches exactly the
    processes that uid may signal: its own. Repeated until /proc shows none
    left, since a fork bomb may still be forking while the first signals land.
    """
    if not is_root():
        raise PermissionError("kill_uid_processes needs root")
    for _ in range(attempts):
        if not processes_of_uid(uid):
            return
        subprocess.run(["/bin/sh", "-c", "kill -9 -1; kill -9 -1"], user=uid, group=uid,
                       extra_groups=[], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=False, timeout=30, cwd="/")
        time.sleep(0.01)


def _proc_status_uid(pid: str, include_zombies: bool = True) -> int | None:
    """Real uid of a process from /proc (None if gone, or a zombie when excluded)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            status = f.read()
    except OSError:
        return None
    uid = None
    for line in status.splitlines():
        if line.startswith("State:") and not include_zombies and line.split()[1] in ("Z", "X"):
            return None
        if line.startswith("Uid:"):
            uid = int(line.split()[1])
    return uid


def processes_of_uid(uid: int) -> list[int]:
    """Pids currently owned by ``uid`` (real uid), from /proc."""
    return [int(p) for p in os.listdir("/proc")
            if p.isdigit() and _proc_status_uid(p, include_zombies=False) == uid]


def user_namespace(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/user")
    except OSError:
        return None


def process_parents() -> dict[int, int]:
    """{pid: parent pid} of every process, from /proc/*/stat."""
    parents = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # The command name may contain spaces and parentheses: split after the last ')'.
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 1:
            parents[int(entry)] = int(fields[1])
    return parents


def children_of(pid: int) -> list[int]:
    """Direct children of a process."""
    return sorted(child for child, parent in process_parents().items() if parent == pid)


def kill_namespace_processes(namespace: str) -> None:
    """Non-root mode: kill every process in the sandbox's user namespace."""
    for _ in range(20):
        victims = [int(p) for p in os.listdir("/proc")
                   if p.isdigit() and int(p) != os.getpid() and user_namespace(int(p)) == namespace]
        if not victims:
            return
        for pid in victims:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.02)


def reap_stale_sandboxes() -> int:
    """Kill leftovers of sandboxes whose worker died (root mode); returns how many uids."""
    if not is_root():
        return 0
    stale: set[int] = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        uid = _proc_status_uid(entry, include_zombies=False)
        owner = uid_owner(uid) if uid is not None else None
        if owner is None:
            continue
        if not os.path.exists(f"/proc/{owner}") or _proc_status_uid(str(owner)) != 0:
            stale.add(uid)
    for uid in stale:
        kill_uid_processes(uid)
    return len(stale)


PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> None:
    """Adopt orphaned sandbox processes (so their zombies can be reaped here)."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def reap_orphans() -> None:
    """Collect exited children that nobody waits for (adopted sandbox processes)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def prepare_runtime_dir(path: str, uid: int | None) -> None:
    """A private directory for the connection file and sockets, owned by the kernel's uid."""
    os.makedirs(path, mode=0o700, exist_ok=True)
    if uid is not None:
        os.chown(path, uid, uid)
    os.chmod(path, 0o700)


def chown_tree(paths: Iterable[str], uid: int | None) -> None:
    if uid is None:
        return
    for p in paths:
        os.chown(p, uid, uid)
