"""Launcher of a grading kernel: ``python -m grader.kernel ...`` (runs inside the sandbox).

Before any student code exists in the process it

1. sets the resource limits (hard = soft, so they cannot be raised again),
2. reads the submission's files (still with the launcher's identity),
3. sets ``no_new_privs`` and, when started as root, switches for good to the
   dedicated sandbox uid (dropping every capability),
4. writes the files into the working directory and changes into it,
5. puts :mod:`grader.checks` into grade mode (snapshotting the test helpers),
6. starts ipykernel on the given connection file.

A kernel started ahead of need (``--wait-for-submission``, see
:class:`grader.executor.KernelPrestarter`) does all of this except step 2 without
any submission: it drops its privileges, reads the test cells' programs, imports
and initialises ipykernel in an empty working directory, and then waits for one
line on its stdin. The grader sends it once the submission's staged files are in
the directory bound at ``--submission``; the launcher then reads them, writes them
into the working directory and starts the kernel. Until then no student's file
and no student's code has been anywhere near the process.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import resource
import shutil
import sys

PR_SET_PDEATHSIG = 1
PR_SET_NO_NEW_PRIVS = 38
MAX_SUBMISSION_FILE = 64 << 20


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m grader.kernel")
    parser.add_argument("--connection-file", required=True)
    parser.add_argument("--mode", choices=["grade", "plain"], default="grade")
    parser.add_argument("--work", required=True)
    parser.add_argument("--submission")
    parser.add_argument("--uid", type=int)
    parser.add_argument("--memory-mb", type=int, required=True)
    parser.add_argument("--cpu-seconds", type=int, required=True)
    parser.add_argument("--processes", type=int, required=True)
    parser.add_argument("--file-size-mb", type=int, required=True)
    parser.add_argument("--open-files", type=int, required=True)
    parser.add_argument("--mpl-cache")
    parser.add_argument("--tests", help="file with the test cells' programs (deleted once read)")
    parser.add_argument("--wait-for-submission", action="store_true",
                        help="read the submission only after a line arrives on stdin")
    return parser.parse_args(argv)


def _set_limits(args: argparse.Namespace) -> None:
    limits = [
        (resource.RLIMIT_AS, args.memory_mb << 20),
        (resource.RLIMIT_CPU, args.cpu_seconds),
        (resource.RLIMIT_FSIZE, args.file_size_mb << 20),
        (resource.RLIMIT_NOFILE, args.open_files),
        (resource.RLIMIT_CORE, 0),
    ]
    # Without a dedicated uid (non-root mode) the process limit counts per user
    # namespace, which bubblewrap created fresh: it bounds the sandbox alone.
    limits.append((resource.RLIMIT_NPROC, args.processes))
    for which, value in limits:
        resource.setrlimit(which, (value, value))


def _read_submission(root: str | None) -> list[tuple[str, bytes]]:
    """Every regular file under ``root`` (relative path, content); symlinks are skipped."""
    if not root or not os.path.isdir(root):
        return []
    files = []
    for directory, subdirs, names in os.walk(root, followlinks=False):
        subdirs[:] = [d for d in subdirs if not os.path.islink(os.path.join(directory, d))]
        for name in names:
            path = os.path.join(directory, name)
            if os.path.islink(path) or not os.path.isfile(path):
                continue
            if os.path.getsize(path) > MAX_SUBMISSION_FILE:
                continue
            with open(path, "rb") as f:
                files.append((os.path.relpath(path, root), f.read()))
    return files


def _read_programs(path: str | None) -> dict[str, str]:
    """The test cells' programs, read (with the launcher's identity) and deleted at once."""
    if not path:
        return {}
    with open(path, encoding="utf-8") as f:
        programs = json.load(f)
    os.remove(path)
    return {str(k): str(v) for k, v in programs.items()}


def _drop_privileges(uid: int | None) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
    if uid is None:
        return
    parent = os.getppid()
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    if os.getuid() != uid or os.geteuid() != uid:
        raise OSError(f"could not switch to the sandbox uid {uid}")
    # Changing uid clears the parent-death signal bwrap set: set it again, so
    # the kernel dies with bwrap (and bwrap with the grading worker).
    libc.prctl(PR_SET_PDEATHSIG, 9, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(1)


def _write_files(work: str, files: list[tuple[str, bytes]]) -> None:
    os.makedirs(work, exist_ok=True)
    for relative, content in files:
        target = os.path.normpath(os.path.join(work, relative))
        if not target.startswith(os.path.normpath(work) + os.sep):
            continue
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "wb") as f:
            f.write(content)


def _copy_mpl_cache(source: str | None) -> None:
    target = os.environ.get("MPLCONFIGDIR")
    if not source or not target or not os.path.isdir(source):
        return
    os.makedirs(target, exist_ok=True)
    for name in os.listdir(source):
        if name.endswith(".json"):
            shutil.copyfile(os.path.join(source, name), os.path.join(target, name))


def _wait_for_submission() -> bool:
    """Block until the grader's line arrives on stdin (False: the grader went away)."""
    received = b""
    while not received.endswith(b"\n"):
        chunk = os.read(0, 64)
        if not chunk:
            return False
        received += chunk
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)  # nothing more ever comes from the grader this way
    os.close(null)
    return True


def main(argv: list[str] | None = None) -> None:
    args = _parse(sys.argv[1:] if argv is None else argv)
    if "rfc3987_syntax" in sys.modules and sys.modules["rfc3987_syntax"] is None:
        del sys.modules["rfc3987_syntax"]  # set by grader/__init__ for the grading process only
    _set_limits(args)
    deferred = args.wait_for_submission
    files = [] if deferred else _read_submission(args.submission)
    _drop_privileges(args.uid)
    programs = _read_programs(args.tests)  # no student code exists in this process yet
    _write_files(args.work, files)
    _copy_mpl_cache(args.mpl_cache)
    os.chdir(args.work)
    os.environ.pop("JPY_PARENT_PID", None)
    os.environ["PWD"] = args.work

    from grader import checks

    checks.configure(args.mode)

    from ipykernel.kernelapp import IPKernelApp

    app = IPKernelApp.instance()
    app.initialize([
        "-f", args.connection_file,
        "--HistoryManager.enabled=False",
        "--IPKernelApp.parent_handle=0",
    ])
    # Trusted packages first: a student's own rnn_lib/ or course_checks/ next to the
    # notebook must not shadow the sandbox's copies (the working directory goes last).
    sys.path[:] = [p for p in sys.path if p not in ("", ".", args.work)] + [args.work]
    if programs:
        checks.install_test_cells(app.shell.user_ns, programs)
    if deferred:
        if not _wait_for_submission():
            os._exit(0)  # a spare kernel nobody claimed
        # The grader copied the staged files (readable by this uid) before sending the line.
        _write_files(args.work, _read_submission(args.submission))
    app.start()


if __name__ == "__main__":
    main()
