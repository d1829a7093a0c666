"""Grading on Dask: one code path for a laptop (a ``LocalCluster``) and a lab of machines.

``python -m grader autograde PS`` starts a ``distributed.LocalCluster`` of one
worker process per core; ``--scheduler tcp://HOST:PORT`` sends the same tasks to
an instructor's own scheduler and its workers (``dask scheduler``,
``dask worker``). ``--serial`` grades in the coordinating process itself, one
submission at a time, through the same functions (for debugging and as the
baseline of the equality tests; it has no worker to lose).

What travels, and what is believed:

* **The bundle** (:class:`Bundle`): everything a worker needs to grade any
  submission of one assignment, as one deterministic tar archive: the grading
  context (notebook models, reference checks, execution settings), the
  sandbox's ``rnn_lib`` copy (graded functions gutted), the kernel-side
  helpers, the trusted verdict code and matplotlib's font list. It is shipped
  once per run to every worker, present and future, as a worker plugin named
  by its SHA-256 digest. A worker verifies the digest before it unpacks
  anything, unpacks regular files and directories only (no links, no absolute
  or ``..`` names), and refuses a bundle that fails either test; a task whose
  bundle the worker has not verified fails as a grader error, never as a grade.
  Workers need no shared filesystem: only bubblewrap and the course's Python
  environment (``pip install -r requirements.txt``: ``grader`` and an
  installed ``rnn_lib`` whose directory the bundle's copy is laid over).
* **A submission** travels as the tar of its *staged* copy (regular files
  only, already bounded by :mod:`grader.staging`) with the archive's digest;
  the worker checks the digest and unpacks it into a private directory.
* **A result** comes back as plain data: the summary (a JSON-able dict) and
  the executed notebooks' text. Only the coordinator writes files under the
  course directory and only it writes the gradebook, as each result arrives.

A worker that dies while grading (killed, out of memory) loses the task it was
running; the scheduler runs it again on another worker. A task that has killed
``MAX_WORKER_DEATHS`` workers is recorded as "killed the grading process" for
that submission alone (``distributed.scheduler.allowed-failures``). With one
thread per worker and ``worker-saturation`` 1.0 only the running task is ever
charged: tasks waiting for a worker wait on the scheduler, not on a worker.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import os
import pickle
import shutil
import sys
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable, Iterator

from grader import grading, sandbox
from grader.grading import GradingContext

MAX_WORKER_DEATHS = 2
BUNDLES_KEPT = 8  # unpacked bundles a worker keeps (each a few MB)
IN_FLIGHT_PER_WORKER = 2  # submissions sent ahead per worker (the rest wait as paths)
SCATTER_ABOVE = 4 << 20  # larger archives travel as scattered data, not inside the task
BUNDLE_FORMAT = 1
CONTEXT_MEMBER = "context.pickle"
MANIFEST_MEMBER = "manifest.json"
# Scheduler settings the grading relies on (LocalCluster: set here; an external
# scheduler: set by the instructor, see grader/README.md "Grading a large class").
SCHEDULER_CONFIG = {
    "distributed.scheduler.allowed-failures": MAX_WORKER_DEATHS - 1,
    "distributed.scheduler.worker-saturation": 1.0,
}
WORKER_CONFIG = {
    # grading processes hold little memory; the sandbox has its own memory cgroup
    "distributed.worker.memory.target": False,
    "distributed.worker.memory.spill": False,
    "distributed.worker.memory.pause": False,
}


class BundleRejected(RuntimeError):
    """A bundle whose digest or contents a worker cannot verify."""


class BundleUnavailable(RuntimeError):
    """A task reached a worker that holds no verified bundle of its digest."""


# --------------------------------------------------------------------------- bundles


def _tar_info(name: str, size: int = 0, directory: bool = False) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE if directory else tarfile.REGTYPE
    info.mode = 0o755 if directory else 0o644
    info.size = size
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    tar.addfile(_tar_info(name, len(data)), io.BytesIO(data))


def _add_tree(tar: tarfile.TarFile, prefix: str, root: str) -> None:
    """Every regular file under ``root`` (sorted; no links, no bytecode) below ``prefix/``."""
    tar.addfile(_tar_info(prefix, directory=True))
    for directory, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__"
                         and not os.path.islink(os.path.join(directory, d)))
        relative = os.path.relpath(directory, root)
        base = prefix if relative == "." else f"{prefix}/{relative}"
        if relative != ".":
            tar.addfile(_tar_info(base, directory=True))
        for name in sorted(files):
            path = os.path.join(directory, name)
            if os.path.islink(path) or not os.path.isfile(path) or name.endswith(".pyc"):
                continue
            with open(path, "rb") as f:
                _add_bytes(tar, f"{base}/{name}", f.read())


def tar_directory(root: str) -> bytes:
    """A deterministic tar of a directory's regular files (used for staged submissions)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        _add_tree(tar, "files", root)
    return buffer.getvalue()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def safe_extract(data: bytes, target: str) -> None:
    """Unpack a tar made by this module: regular files and directories with plain names only."""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        members = tar.getmembers()
        for member in members:
            parts = member.name.split("/")
            if (member.name.startswith("/") or any(p in ("", ".", "..") for p in parts)
                    or not (member.isreg() or member.isdir())):
                raise BundleRejected(f"archive member {member.name[:200]!r} is not a plain "
                                     f"file or directory name")
        for member in members:
            path = os.path.join(target, *member.name.split("/"))
            if member.isdir():
                os.makedirs(path, exist_ok=True)
                continue
            os.makedirs(os.path.dirname(path), exist_ok=True)
            source = tar.extractfile(member)
            with open(path, "xb") as f:
                shutil.copyfileobj(source, f)


@dataclasses.dataclass
class Bundle:
    """One assignment's grading material, as bytes named by their digest."""

    digest: str
    data: bytes

    @classmethod
    def build(cls, context: GradingContext) -> Bundle:
        """Pack the context and the directories it names (paths become bundle-relative)."""
        settings = context.settings
        trees, overlays = {}, []
        for index, (host, target) in enumerate(settings.ro_overlays):
            trees[f"overlay{index}"] = host
            overlays.append([f"overlay{index}", os.path.basename(os.path.normpath(target))])
        for role, path in (("helpers", settings.helpers_dir), ("trusted", context.helpers_trusted),
                           ("mpl", settings.mpl_cache_dir)):
            if path and os.path.isdir(path):
                trees[role] = path
        portable = dataclasses.replace(
            context, helpers_trusted=None, settings=dataclasses.replace(
                settings, ro_overlays=(), helpers_dir=None, pythonpath_host=(),
                mpl_cache_dir=None, scratch_dir=None))
        manifest = {"format": BUNDLE_FORMAT, "assignment": context.assignment,
                    "overlays": overlays, "trees": sorted(trees)}
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
            _add_bytes(tar, MANIFEST_MEMBER, json.dumps(manifest, sort_keys=True).encode())
            _add_bytes(tar, CONTEXT_MEMBER, pickle.dumps(portable, protocol=5))
            for role in sorted(trees):
                _add_tree(tar, role, trees[role])
        data = buffer.getvalue()
        return cls(sha256(data), data)


@dataclasses.dataclass
class Installed:
    directory: str
    context: GradingContext


_INSTALLED: dict[str, Installed] = {}
_ACTIVE_TRUSTED: list[str] = []  # the trusted verdict directory now on sys.path


def install_bundle(digest: str, data: bytes, root: str) -> Installed:
    """Verify, unpack and load a bundle on this worker (idempotent per digest)."""
    if digest in _INSTALLED:
        return _INSTALLED[digest]
    received = sha256(data)
    if received != digest:
        raise BundleRejected(f"refused a course bundle: its digest is {received[:16]}..., "
                             f"expected {digest[:16]}... (corrupted or altered in transit)")
    base = os.path.join(root, "grader-bundles")
    os.makedirs(base, exist_ok=True)
    directory = os.path.join(base, digest)
    _prune(base, keep=digest)
    if not os.path.isdir(directory):
        temporary = tempfile.mkdtemp(prefix=f".{digest[:12]}-", dir=base)
        try:
            safe_extract(data, temporary)
            os.replace(temporary, directory)
        except BaseException:
            shutil.rmtree(temporary, ignore_errors=True)
            raise
    with open(os.path.join(directory, MANIFEST_MEMBER), encoding="utf-8") as f:
        manifest = json.load(f)
    if manifest.get("format") != BUNDLE_FORMAT:
        raise BundleRejected(f"course bundle format {manifest.get('format')!r}; this worker's "
                             f"grader reads format {BUNDLE_FORMAT}: install the same grader "
                             f"version on every worker")
    with open(os.path.join(directory, CONTEXT_MEMBER), "rb") as f:
        context: GradingContext = pickle.load(f)  # noqa: S301 - digest verified above

    def tree(role: str) -> str | None:
        return os.path.join(directory, role) if role in manifest["trees"] else None

    overlays = []
    for role, package in manifest["overlays"]:
        try:
            target = sandbox.package_dir(package)
        except sandbox.SandboxUnavailable:
            raise BundleRejected(f"this worker has no {package!r} package to lay the course's "
                                 f"copy over: install the course environment "
                                 f"(pip install -r requirements.txt)") from None
        overlays.append((tree(role), target))
    scratch = os.path.join(tempfile.gettempdir(), "grader-scratch")
    os.makedirs(scratch, exist_ok=True)
    helpers = tree("helpers")
    context = dataclasses.replace(context, helpers_trusted=tree("trusted"), settings=dataclasses.replace(
        context.settings, ro_overlays=overlays, helpers_dir=helpers,
        pythonpath_host=[helpers] if helpers else [], mpl_cache_dir=tree("mpl"),
        scratch_dir=scratch))
    installed = Installed(directory, context)
    _INSTALLED[digest] = installed
    return installed


def uninstall_bundle(digest: str) -> None:
    """Forget a bundle and delete its files (the serial engine's private copy only).

    Workers never delete a bundle when its plugin goes: the same digest registered
    again (a resumed run) reuses the directory, and a kernel started ahead of need
    may have it mounted. :func:`_prune` bounds what accumulates instead.
    """
    installed = _INSTALLED.pop(digest, None)
    if installed is not None:
        shutil.rmtree(installed.directory, ignore_errors=True)


def _prune(base: str, keep: str) -> None:
    """Delete the oldest unpacked bundles beyond ``BUNDLES_KEPT`` (never ``keep``)."""
    entries = []
    for name in os.listdir(base):
        path = os.path.join(base, name)
        if name != keep and not name.startswith(".") and os.path.isdir(path):
            entries.append((os.path.getmtime(path), name, path))
    for _, name, path in sorted(entries)[:max(0, len(entries) - BUNDLES_KEPT + 1)]:
        _INSTALLED.pop(name, None)
        shutil.rmtree(path, ignore_errors=True)


def _activate(context: GradingContext) -> None:
    """Make this bundle's trusted verdict code the one imported (a worker serves many runs)."""
    trusted = context.helpers_trusted
    if _ACTIVE_TRUSTED and _ACTIVE_TRUSTED[0] != trusted:
        old = _ACTIVE_TRUSTED.pop()
        while old in sys.path:
            sys.path.remove(old)
        for name, module in list(sys.modules.items()):
            if (getattr(module, "__file__", None) or "").startswith(old + os.sep):
                del sys.modules[name]
    if trusted and not _ACTIVE_TRUSTED:
        _ACTIVE_TRUSTED.append(trusted)
    grading.prepare_worker(context)


def _bundle_plugin_class():
    from distributed import WorkerPlugin

    class BundlePlugin(WorkerPlugin):
        """Ships one bundle to every worker, including workers that join later."""

        def __init__(self, digest: str, data: bytes):
            self.digest, self.data = digest, data
            self.name = plugin_name(digest)

        def setup(self, worker) -> None:
            install_bundle(self.digest, self.data, worker.local_directory)

        def teardown(self, worker) -> None:
            """The run is over: its spare kernel goes; the unpacked bundle stays (:func:`_prune`)."""
            grading.release_worker()

    return BundlePlugin


def has_bundle(digest: str) -> bool:
    """Runs on a worker: whether it holds the verified bundle ``digest``."""
    return digest in _INSTALLED


def plugin_name(digest: str) -> str:
    return f"grader-bundle-{digest[:32]}"


# --------------------------------------------------------------------------- one task


def default_task(task: dict) -> dict:
    """Grade one submission with the active bundle's context."""
    return grading.grade_submission(_CURRENT[0], **task)


_CURRENT: list[GradingContext] = [None]  # type: ignore[list-item]


def grade_remote(digest: str, wire: dict, task_function: Callable[[dict], dict] | None = None,
                 archive: bytes | None = None) -> dict:
    """Runs on a worker: unpack the staged submission, grade it, return plain data."""
    installed = _INSTALLED.get(digest)
    if installed is None:
        raise BundleUnavailable(f"this worker holds no verified course bundle {digest[:16]}... "
                                f"(its plugin failed or was refused: see the worker's log)")
    context = installed.context
    _activate(context)
    _CURRENT[0] = context
    wire = dict(wire)
    archive_digest = wire.pop("submission_digest", None)
    with tempfile.TemporaryDirectory(prefix="grader-task-",
                                     dir=context.settings.scratch_dir) as work:
        task = dict(wire, autograded_dir=os.path.join(work, "autograded"),
                    result_path=os.path.join(work, "result.json"))
        if archive is not None:
            received = sha256(archive)
            if received != archive_digest:
                raise BundleRejected(f"a submission archive's digest is {received[:16]}..., "
                                     f"expected {str(archive_digest)[:16]}... (altered in transit)")
            safe_extract(archive, work)
            task["submission_dir"] = os.path.join(work, "files")
        summary = (task_function or default_task)(task)
        files = {}
        if os.path.isdir(task["autograded_dir"]):
            for name in sorted(os.listdir(task["autograded_dir"])):
                path = os.path.join(task["autograded_dir"], name)
                if os.path.isfile(path) and not name.startswith("."):
                    with open(path, encoding="utf-8") as f:
                        files[name] = f.read()
    return {"summary": summary, "files": files}


def _wire(task: dict) -> tuple[dict, bytes | None]:
    """What a worker receives of a task: no coordinator paths, the staged bytes instead."""
    wire = {k: v for k, v in task.items()
            if k not in ("submission_dir", "autograded_dir", "result_path")}
    archive = None
    if task.get("submission_dir"):
        archive = tar_directory(task["submission_dir"])
        wire["submission_digest"] = sha256(archive)
    return wire, archive


def _store(task: dict, returned: dict) -> dict:
    """Coordinator side: write the executed notebooks and the result file, as workers once did."""
    summary = returned["summary"]
    for name, text in returned.get("files", {}).items():
        if os.sep in name or name in (".", "..") or (os.altsep and os.altsep in name):
            raise ValueError(f"a worker returned a file named {name!r}; expected a plain file "
                             f"name (an executed notebook or timestamp.txt)")
        grading._atomic_write(os.path.join(task["autograded_dir"], name), text)
    grading._atomic_write(task["result_path"], json.dumps(summary, indent=1, sort_keys=True))
    return summary


# --------------------------------------------------------------------------- engines


class Engine:
    """Where submissions are graded: in this process, a LocalCluster or a given scheduler."""

    def __init__(self, scheduler: str | None = None, workers: int | None = None,
                 serial: bool = False, log: Callable[[str], None] = print,
                 connect_timeout: float = 30.0):
        if serial and scheduler:
            raise ValueError("--serial and --scheduler exclude each other")
        self.scheduler, self.serial, self.log = scheduler, serial, log
        self.connect_timeout = connect_timeout
        self.workers = workers or os.cpu_count() or 1
        self.client = self.cluster = None
        self._stack = contextlib.ExitStack()
        self.description = ""
        self._counted: tuple[float, int] = (float("-inf"), 1)  # (when, workers) for _window
        self._starting: threading.Thread | None = None
        self._start_error: BaseException | None = None

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def warm_up(self) -> None:
        """Start (or connect to) the cluster in the background; :meth:`start` waits for it."""
        if self.serial or self.client is not None or self._starting is not None:
            return

        def run() -> None:
            try:
                self._connect()
            except BaseException as error:  # noqa: BLE001 - raised again by start()
                self._start_error = error

        self._starting = threading.Thread(target=run, name="grader-cluster-start", daemon=True)
        self._starting.start()

    def start(self) -> None:
        """Connect or start the cluster (only once there is something to grade)."""
        if self._starting is not None:
            self._starting.join()
            self._starting = None
            if self._start_error is not None:
                error, self._start_error = self._start_error, None
                raise error
        self._connect()

    def _connect(self) -> None:
        if self.serial or self.client is not None:
            self.description = self.description or "in this process (serial)"
            return
        import dask
        from distributed import Client, LocalCluster

        # process-wide (this is the coordinating process): a Client entered as a context
        # manager must be left in the same thread, and warm_up() starts it in another one
        dask.config.set({**SCHEDULER_CONFIG, **WORKER_CONFIG})
        if self.scheduler:
            try:
                self.client = Client(self.scheduler, timeout=self.connect_timeout,
                                     set_as_default=False)
                self._stack.callback(self.client.close)
            except OSError as error:
                from grader.course import CourseError

                raise CourseError(f"cannot reach the Dask scheduler at {self.scheduler}: "
                                  f"{error}") from None
            count = len(self.client.scheduler_info(n_workers=-1)["workers"])
            self.description = f"the Dask scheduler {self.scheduler} ({count} worker(s) now)"
            for warning in self._check_scheduler():
                self.log(f"warning: {warning}")
        else:
            import logging

            self.cluster = LocalCluster(
                n_workers=self.workers, threads_per_worker=1, processes=True,
                dashboard_address=":0", host="127.0.0.1", silence_logs=logging.CRITICAL)
            self._stack.callback(self.cluster.close)
            self.client = Client(self.cluster, set_as_default=False)
            self._stack.callback(self.client.close)
            self.description = f"a local Dask cluster of {self.workers} worker(s)"

    def _ship(self, bundle: Bundle, name: str) -> list[str] | None:
        """Register the bundle on every worker; the workers to use if some refused it."""
        try:
            self.client.register_plugin(_bundle_plugin_class()(bundle.digest, bundle.data),
                                        name=name)
            return None
        except Exception as error:  # noqa: BLE001 - a worker refused it: say so, use the others
            refused = f"{type(error).__name__}: {error}"
        verified = self.client.run(has_bundle, bundle.digest)
        good = sorted(address for address, ok in verified.items() if ok)
        if not good:
            from grader.course import CourseError

            raise CourseError(f"no worker accepted the course bundle: {refused}")
        self.log(f"warning: {len(verified) - len(good)} of {len(verified)} worker(s) refused the "
                 f"course bundle ({refused}); grading on the other {len(good)} only")
        return good

    def _check_scheduler(self) -> list[str]:
        """What differs from the settings the grading relies on (grader/README.md)."""
        try:
            found = self.client.run_on_scheduler(scheduler_settings)
        except Exception as error:  # noqa: BLE001 - an older or foreign scheduler: say so
            return [f"could not read the scheduler's settings ({type(error).__name__}); start "
                    f"it as grader/README.md shows"]
        wrong = []
        for key, wanted in SCHEDULER_CONFIG.items():
            try:
                same = float(found.get(key)) == float(wanted)
            except (TypeError, ValueError):
                same = False
            if not same:
                variable = "DASK_" + key.upper().replace(".", "__").replace("-", "_")
                wrong.append(f"the scheduler has {key} = {found.get(key)!r}, the grader expects "
                             f"{wanted!r} (start it with {variable}={wanted}): "
                             + ("a worker's death may be charged to a submission it had not "
                                "started" if "saturation" in key else
                                "a submission that kills workers is retried a different number "
                                "of times"))
        return wrong

    def close(self) -> None:
        if self._starting is not None:
            self._starting.join()
            self._starting = None
        self._stack.close()
        self.client = self.cluster = None

    def grade(self, context: GradingContext, tasks: list[dict], failed: list[str],
              progress: bool = True, task_function: Callable[[dict], dict] | None = None,
              ) -> Iterator[dict]:
        """Yield one summary per task as results arrive (see the module docstring)."""
        from tqdm.auto import tqdm

        if not tasks:
            return
        self.start()
        bundle = Bundle.build(context)
        bar = tqdm(total=len(tasks), desc="autograde", unit="submission", disable=not progress,
                   file=sys.stderr, dynamic_ncols=True)
        try:
            source = (self._serial(bundle, context, tasks, failed, task_function) if self.serial
                      else self._distributed(bundle, context, tasks, failed, task_function))
            for task, summary in source:
                bar.update(1)
                bar.set_postfix_str(task["student"])
                yield summary
        finally:
            bar.close()

    def _serial(self, bundle: Bundle, context, tasks, failed, task_function):
        root = tempfile.mkdtemp(prefix="grader-serial-")
        try:
            install_bundle(bundle.digest, bundle.data, root)
            for task in tasks:
                try:
                    wire, archive = _wire(task)
                    returned = grade_remote(bundle.digest, wire, task_function, archive)
                    yield task, _store(task, returned)
                except Exception as error:  # noqa: BLE001 - a grader bug costs one student
                    yield task, _failure(context, task, error, failed)
        finally:
            grading.release_worker()  # this process's spare kernel, started for a next notebook
            uninstall_bundle(bundle.digest)
            shutil.rmtree(root, ignore_errors=True)

    def _window(self) -> int:
        """Submissions in flight: enough to keep every worker busy, bounded in memory.

        The number of workers is asked of the scheduler at most every few seconds
        (workers may join or leave during a run).
        """
        now = time.monotonic()
        if now - self._counted[0] > 5.0:
            try:
                workers = len(self.client.scheduler_info(n_workers=-1)["workers"])
            except Exception:  # noqa: BLE001 - a transient scheduler hiccup: keep going
                workers = self._counted[1]
            self._counted = (now, max(workers, 1))
        return IN_FLIGHT_PER_WORKER * self._counted[1] + 2

    def _distributed(self, bundle: Bundle, context, tasks, failed, task_function):
        """Submit lazily (a bounded window of staged archives), yield results as they come."""
        from distributed import KilledWorker, as_completed

        client = self.client
        name = plugin_name(bundle.digest)
        try:
            restrict = self._ship(bundle, name)
            placement = {} if restrict is None else {"workers": restrict,
                                                     "allow_other_workers": False}
            waiting = iter(tasks)
            running: dict = {}
            finished = as_completed([], loop=client.loop)

            def submit_more() -> None:
                window = self._window()
                while len(running) < window:
                    task = next(waiting, None)
                    if task is None:
                        return
                    wire, archive = _wire(task)
                    if archive is not None and len(archive) > SCATTER_ABOVE:
                        archive = client.scatter(archive, hash=False)
                    key = "grade-" + sha256(f"{bundle.digest}\0{task['student']}\0"
                                            f"{task['fingerprint']}".encode())[:24]
                    future = client.submit(grade_remote, bundle.digest, wire, task_function,
                                           archive, key=key, pure=False, retries=0, **placement)
                    running[future] = (task, archive)
                    finished.add(future)

            submit_more()
            for future in finished:
                task, archive = running.pop(future)
                try:
                    returned = future.result()
                except KilledWorker:
                    returned = None
                    summary = grading.worker_killed_summary(context, task, MAX_WORKER_DEATHS)
                except Exception as error:  # noqa: BLE001 - a grader bug costs one student
                    returned = None
                    summary = _failure(context, task, error, failed)
                finally:
                    future.release()
                    if hasattr(archive, "release"):
                        archive.release()
                submit_more()
                if returned is not None:
                    try:
                        summary = _store(task, returned)
                    except Exception as error:  # noqa: BLE001
                        summary = _failure(context, task, error, failed)
                yield task, summary
        finally:
            with contextlib.suppress(Exception):
                client.unregister_worker_plugin(name)


def _failure(context, task, error, failed):
    from grader.autograde import _grader_failure

    return _grader_failure(context, task, error, failed)


def scheduler_settings() -> dict:
    """Runs on the scheduler: its values of the settings in :data:`SCHEDULER_CONFIG`."""
    import dask

    return {key: dask.config.get(key, None) for key in SCHEDULER_CONFIG}


# --------------------------------------------------------------------------- sandbox check


def _sandbox_check_here() -> dict:
    from grader.validate import sandbox_check

    buffer = io.StringIO()
    started = time.monotonic()
    with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
        try:
            status = sandbox_check()
        except Exception as error:  # noqa: BLE001 - reported per worker
            print(f"the sandbox check failed: {type(error).__name__}: {error}")
            status = 1
    import socket

    return {"host": socket.gethostname(), "status": status, "output": buffer.getvalue(),
            "seconds": round(time.monotonic() - started, 1)}


def sandbox_check_workers(scheduler: str, timeout: float = 300.0) -> int:
    """``python -m grader sandbox-check --scheduler ADDRESS``: the check on every worker."""
    from distributed import Client, wait

    from grader.course import CourseError

    try:
        client = Client(scheduler, timeout="30s")
    except OSError as error:
        raise CourseError(f"cannot reach the Dask scheduler at {scheduler}: {error}") from None
    with client:
        workers = sorted(client.scheduler_info(n_workers=-1)["workers"])
        if not workers:
            print(f"the scheduler {scheduler} has no workers")
            return 1
        futures = {address: client.submit(_sandbox_check_here, key=f"sandbox-check-{address}",
                                          workers=[address], allow_other_workers=False,
                                          pure=False) for address in workers}
        wait(list(futures.values()), timeout=timeout)
        worst = 0
        for address, future in futures.items():
            if future.status != "finished":
                print(f"== {address}: no answer ({future.status})")
                worst = 1
                continue
            result = future.result()
            print(f"== {address} ({result['host']}): "
                  f"{'contained' if result['status'] == 0 else 'NOT CONTAINED'} "
                  f"({result['seconds']} s)")
            print("   " + result["output"].rstrip().replace("\n", "\n   "))
            worst = max(worst, result["status"])
        return worst
