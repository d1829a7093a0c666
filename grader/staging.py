"""A submission is untrusted bytes: copy it into a private directory before anything reads it.

:func:`stage_submission` is the only code that touches ``submitted/<student>/<assignment>/``.
It walks the directory without following links (``O_NOFOLLOW``, ``O_NONBLOCK``,
``fstat`` on the open descriptor, so a file swapped for a FIFO or a symlink
between two calls is still refused) and copies **regular files only**, each
with one name (hard links are refused too), into a fresh staging directory,
within limits on the number of files, the size of each file and of the whole
submission, and the depth of directories.
Everything else (symlinks to a classmate's notebook, to the gradebook or to
``/etc``, FIFOs, devices, sockets, a directory where a notebook should be,
files over the limits) is left behind and reported with a reason. A
``submitted/<student>`` or ``submitted/<student>/<assignment>`` that is itself a
symlink is refused as a whole.

Grading then reads only the staged copy: the fingerprint used for resume is
the digest of exactly the staged bytes, the sandbox receives the staged copy,
and the notebook parser is fed the staged bytes through :func:`loads`, a JSON
reader with bounded size and nesting depth whose violations are ordinary
:class:`UntrustedData` errors (never a ``RecursionError`` in the grader).
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import json
import os
import re
import shutil
import stat

import numpy as np

MAX_FILES = 200
MAX_FILE_BYTES = 64 << 20
MAX_TOTAL_BYTES = 256 << 20
MAX_DIR_DEPTH = 6
MAX_JSON_DEPTH = 64
STAGED_NAME = "files"


class UntrustedData(ValueError):
    """Student-supplied data that breaks a limit or a format (a recorded result, never a crash)."""


@dataclasses.dataclass
class Staged:
    """The outcome of staging one submission."""

    directory: str | None  # the private copy (None when the whole submission was refused)
    digest: str  # sha256 over the relative names and contents of the staged files
    problems: list[dict]  # what was left behind, and why
    refused: str | None = None  # why the whole submission was refused

    @property
    def files(self) -> list[str]:
        if self.directory is None:
            return []
        found = []
        for root, _, names in os.walk(self.directory):
            found += [os.path.relpath(os.path.join(root, n), self.directory) for n in names]
        return sorted(found)


def _kind_of(mode: int) -> str:
    for test, name in ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a directory")):
        if test(mode):
            return name
    return "not a regular file"


def _refuse(relative: str, why: str) -> dict:
    return {"kind": "refused-file", "file": relative[:200], "detail": f"{relative[:200]}: {why}"}


def _read_regular(dir_fd: int, name: str, relative: str, budget: list[int]) -> tuple[bytes | None,
                                                                                        dict | None]:
    """The bytes of a regular file opened without following links, or the reason it was refused."""
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                     dir_fd=dir_fd)
    except OSError as error:
        if error.errno == errno.ELOOP:
            return None, _refuse(relative, "is a symbolic link (links are never followed)")
        return None, _refuse(relative, f"could not be opened ({errno.errorcode.get(error.errno, '?')})")
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return None, _refuse(relative, f"is {_kind_of(info.st_mode)}, not a regular file")
        if info.st_nlink > 1:
            # A second name of a file elsewhere (a hard link can point at a file outside the
            # submission, such as another student's notebook, that the copy would then carry).
            return None, _refuse(relative, f"is a hard link ({info.st_nlink} names), not a file "
                                           f"of its own")
        if info.st_size > MAX_FILE_BYTES:
            return None, _refuse(relative, f"is {info.st_size >> 20} MiB, over the limit of "
                                           f"{MAX_FILE_BYTES >> 20} MiB per file")
        if info.st_size > budget[0]:
            return None, _refuse(relative, f"would take the submission over "
                                           f"{MAX_TOTAL_BYTES >> 20} MiB in all")
        chunks, size = [], 0
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            size += len(chunk)
            if size > min(MAX_FILE_BYTES, budget[0]):
                return None, _refuse(relative, "grew past the size limit while it was read")
            chunks.append(chunk)
        budget[0] -= size
        return b"".join(chunks), None
    finally:
        os.close(fd)


def _open_dir(path: str, dir_fd: int | None = None) -> int:
    return os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                   dir_fd=dir_fd)


def stage_submission(source: str, target: str, *, must_not_be_links: tuple[str, ...] = ()) -> Staged:
    """Copy the regular files of ``source`` into ``target`` (replaced); see the module docstring.

    ``must_not_be_links``: ancestors of ``source`` (e.g. ``submitted/<student>``) that must be
    real directories too.
    """
    shutil.rmtree(target, ignore_errors=True)
    for path in (*must_not_be_links, source):
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            return Staged(None, "", [], refused=f"{os.path.basename(path)} does not exist")
        if not stat.S_ISDIR(info.st_mode):
            return Staged(None, hashlib.sha256(b"refused").hexdigest(), [], refused=(
                f"submitted/.../{os.path.basename(path)} is {_kind_of(info.st_mode)}; "
                f"a submission must be a plain directory (links are never followed)"))
    os.makedirs(target, mode=0o700)
    problems: list[dict] = []
    digest = hashlib.sha256()
    budget = [MAX_TOTAL_BYTES]
    count = 0
    try:
        root_fd = _open_dir(source)
    except OSError as error:
        return Staged(None, "", [], refused=f"the submission directory could not be opened "
                                            f"({errno.errorcode.get(error.errno, '?')})")
    stack: list[tuple[int, str, int]] = [(root_fd, "", 0)]
    try:
        while stack:
            dir_fd, relative_dir, depth = stack.pop()
            try:
                entries = sorted(os.listdir(dir_fd))
            except OSError:
                problems.append(_refuse(relative_dir or ".", "could not be listed"))
                os.close(dir_fd)
                continue
            for name in entries:
                relative = os.path.join(relative_dir, name) if relative_dir else name
                try:
                    info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
                except OSError:
                    continue
                if stat.S_ISDIR(info.st_mode):
                    if name in ("__pycache__", ".ipynb_checkpoints"):
                        continue
                    if depth + 1 > MAX_DIR_DEPTH:
                        problems.append(_refuse(relative, f"is nested deeper than "
                                                          f"{MAX_DIR_DEPTH} directories"))
                        continue
                    try:
                        stack.append((_open_dir(name, dir_fd), relative, depth + 1))
                    except OSError:
                        problems.append(_refuse(relative, "is a directory that could not be "
                                                          "opened (or a link)"))
                    os.makedirs(os.path.join(target, relative), mode=0o700, exist_ok=True)
                    continue
                if not stat.S_ISREG(info.st_mode):
                    problems.append(_refuse(relative, f"is {_kind_of(info.st_mode)}, not a "
                                                      f"regular file (never read)"))
                    continue
                if count >= MAX_FILES:
                    problems.append(_refuse(relative, f"is past the limit of {MAX_FILES} files"))
                    continue
                content, problem = _read_regular(dir_fd, name, relative, budget)
                if problem is not None:
                    problems.append(problem)
                    continue
                count += 1
                destination = os.path.join(target, relative)
                os.makedirs(os.path.dirname(destination), mode=0o700, exist_ok=True)
                with open(destination, "xb") as f:
                    f.write(content)
                digest.update(relative.encode("utf-8", "surrogateescape") + b"\0")
                digest.update(hashlib.sha256(content).digest())
            os.close(dir_fd)
    finally:
        for dir_fd, _, _ in stack:
            os.close(dir_fd)
    return Staged(target, digest.hexdigest(), problems)


# --------------------------------------------------------------------------- bounded JSON

# Possessive: a run of ordinary characters is one step, and no backtracking state is kept
# (a plain ``(?:[^"\\]|\\.)*`` keeps state per character: gigabytes on a long string).
_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"', re.S)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_CHUNK = 1 << 20


def json_depth(text: str | bytes) -> int:
    """The deepest nesting of ``[``/``{`` in a JSON text, brackets inside strings excluded.

    Linear time and little memory whatever the text: strings are cut out first (a
    notebook is mostly strings), then the brackets that remain are counted a chunk
    at a time. An unterminated string counts its brackets (the text is malformed
    either way).
    """
    raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else bytes(text)
    if b"[" not in raw and b"{" not in raw:
        return 0
    skeleton = _STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    del raw
    depth = deepest = 0
    for start in range(0, len(skeleton), _CHUNK):
        codes = np.frombuffer(skeleton, dtype=np.uint8, count=min(_CHUNK, len(skeleton) - start),
                              offset=start)
        running = np.cumsum(np.where((codes == ord("[")) | (codes == ord("{")), 1, -1),
                            dtype=np.int64) + depth
        deepest = max(deepest, int(running.max()))
        depth = int(running[-1])
    return deepest


def loads(text: str | bytes, *, max_depth: int = MAX_JSON_DEPTH, max_bytes: int = MAX_FILE_BYTES,
          what: str = "JSON") -> object:
    """``json.loads`` for untrusted text: bounded size and depth, no NaN/Infinity constants."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as error:
            raise UntrustedData(f"malformed: {what} is not UTF-8 text ({error.reason})") from None
    if not isinstance(text, str):
        raise UntrustedData(f"malformed: {what} must be text, got {type(text).__name__}")
    if len(text) > max_bytes:
        raise UntrustedData(f"malformed: {what} is larger than {max_bytes >> 20} MiB")
    depth = json_depth(text)
    if depth > max_depth:
        raise UntrustedData(f"malformed: {what} is nested {depth} levels deep, deeper than "
                            f"{max_depth}")

    def constant(name: str) -> object:
        raise UntrustedData(f"malformed: {what} contains the bare constant {name}")

    try:
        return json.loads(text, parse_constant=constant)
    except json.JSONDecodeError as error:
        raise UntrustedData(f"malformed: {what} is not valid JSON (line {error.lineno}: "
                            f"{error.msg})") from None
    except RecursionError:  # the depth scan makes this unreachable; kept as a second line
        raise UntrustedData(f"malformed: {what} is nested too deeply") from None
