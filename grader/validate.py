"""``python -m grader validate`` and ``python -m grader sandbox-check``.

``validate NOTEBOOK...`` runs a notebook from a fresh kernel in the same sandbox
as autograding (bubblewrap, same limits; only the notebook is copied in, as only
the notebook is handed in), in plain mode, so the visible tests
judge in the kernel as the student reads them. It prints one line per check
(each test cell with code: its name, its points, pass or FAIL with a short
reason), a line for each other cell that raised, then a summary line. A student's
notebook has no hidden tests (they are added at grading): its hidden test cells
are only counted in the summary. An instructor's source notebook (hidden tests
included) runs with the course's helpers (``COURSE/grading``) importable.
Exit status: 0 every check passes, 1 some check fails (or a cell crashed the
kernel), 2 usage error (no such file, not a notebook, no test cell).

``sandbox-check`` starts a sandboxed kernel and tries what a hostile
submission would try (read the host's files, reach the network, fork without
limit, exceed the memory limit); it prints one line per probe and exits 0 only
if every probe was contained.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import sys
import tempfile
import time

from grader import sandbox
from grader.executor import CellRun, ExecutionSettings, run_cells
from grader.notebook import BEGIN_HIDDEN, MalformedNotebook, read_submission

PROBES = {
    "read a file of the host": "assert open(SECRET).read() == 'host secret'",
    "read the host's /etc/passwd": "assert 'root:' in open('/etc/passwd').read()",
    "list the host's home directory": "assert set(os.listdir(HOST_HOME)) & HOST_ENTRIES",
    "open a TCP connection to 1.1.1.1:53": (
        "import socket; socket.create_connection(('1.1.1.1', 53), timeout=3)"),
    "resolve pypi.org": "import socket; socket.getaddrinfo('pypi.org', 443)",
    "write to /usr": "open('/usr/grader-probe', 'w')",
    "start 500 processes": (
        "pids = []\nfor _ in range(500):\n    p = os.fork()\n    if p == 0:\n"
        "        time.sleep(30); os._exit(0)\n    pids.append(p)"),
    "allocate 64 GiB": "bytearray(64 << 30)",
    "see the grader's process in /proc": (
        "found = []\nfor p in os.listdir('/proc'):\n    try:\n"
        "        found.append(open(f'/proc/{p}/cmdline', 'rb').read())\n"
        "    except OSError:\n        pass\nassert any(b'sandbox-check' in c for c in found)"),
    "read the sandbox's command line": "assert '--ro-bind' in open('/proc/1/cmdline').read()",
}


REASON_CHARS = 200
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# A frame of an IPython traceback: "Cell In[3], line 13, in f(x)" or "File ~/m.py:4, in g()".
_HEADER = re.compile(r"^(Cell In\[\d+\], line \d+|File [^\n]*?:\d+)(?:, in ([<>\w.]+))?")
_ARROW = re.compile(r"^-*> *(\d+) (.*)$")


@dataclasses.dataclass
class Check:
    """A test cell of the notebook as validation sees it."""

    index: int  # position among all cells
    name: str  # grade_id
    points: float
    hidden: bool  # holds hidden tests (an instructor's source notebook)
    runs: bool  # has code (a student's hidden test cell is only a comment)


def _nbgrader(cell) -> dict:
    meta = cell.get("metadata", {}).get("nbgrader")
    return meta if isinstance(meta, dict) else {}


def _has_code(source: str) -> bool:
    return any(line.strip() and not line.lstrip().startswith("#")
               for line in source.splitlines())


def _points(meta: dict) -> float:
    try:
        return float(meta.get("points") or 0)
    except (TypeError, ValueError):
        return 0.0


def notebook_checks(nb) -> tuple[list[Check], float]:
    """The notebook's test cells, and the points of its hand-graded answers."""
    checks, manual = [], 0.0
    for index, cell in enumerate(nb.cells):
        meta = _nbgrader(cell)
        if not meta.get("grade"):
            continue
        if meta.get("solution") or cell.cell_type != "code":
            manual += _points(meta)  # a written answer, graded by hand
            continue
        name = str(meta.get("grade_id") or f"cell {index + 1}")
        checks.append(Check(index, name, _points(meta), BEGIN_HIDDEN in cell.source,
                            _has_code(cell.source)))
    return checks, manual


def _one_line(text: str) -> str:
    text = " ".join(_ANSI.sub("", text).split())
    return text if len(text) <= REASON_CHARS else text[: REASON_CHARS - 3] + "..."


def _deepest_cell_frame(traceback: list) -> tuple[str | None, str | None]:
    """The innermost frame of the notebook's own code in an IPython traceback: its function
    (None at a cell's top level) and the line that raised ("line 3: raise ...")."""
    where = line = None
    current: tuple[bool, str | None] | None = None  # (a notebook cell?, function)
    for text in traceback:
        for row in _ANSI.sub("", str(text)).splitlines():
            header = _HEADER.match(row.strip())
            if header:
                function = header.group(2)
                current = (header.group(1).startswith("Cell In["),
                           None if function in (None, "<module>", "__grader_cell__")
                           else function)
                continue
            arrow = _ARROW.match(row.strip())
            if arrow and current and current[0]:
                where, line = current[1], f"line {arrow.group(1)}: {arrow.group(2).strip()}"
    return where, line


def reason(run: CellRun) -> str:
    """Why a cell failed, in one short line: the error and where it was raised."""
    if run.status in ("timeout", "crash", "not-run", "skipped"):
        return _one_line(f"{run.status}: {run.detail}")
    error = next((o for o in run.outputs if o.get("output_type") == "error"), None)
    if error is None:
        return _one_line(run.detail or run.status)
    name, value = str(error.get("ename", "Error")), str(error.get("evalue", "")).strip()
    text = f"{name}: {value}" if value else name
    where, line = _deepest_cell_frame(error.get("traceback", []))
    if not value and line:  # no message: the line that raised says more
        text += f" (in {where}, {line})" if where else f" ({line})"
    elif where:
        text += f" (in {where})"
    return _one_line(text)


def _fmt(points: float) -> str:
    return f"{points:g}"


def _mpl_cache() -> str | None:
    """This user's matplotlib cache, if it holds a font list (as grading provides one:
    a notebook that plots then skips the font scan). Found without importing matplotlib."""
    configured = os.environ.get("MPLCONFIGDIR")
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    for directory in filter(None, (configured, os.path.join(base, "matplotlib"))):
        try:
            names = os.listdir(directory)
        except OSError:
            continue
        if any(n.startswith("fontlist") and n.endswith(".json") for n in names):
            return directory
    return None


def _settings(limits: sandbox.Limits, cell_timeout: float, notebook_timeout: float,
              use_sandbox: bool, helpers: str | None) -> ExecutionSettings:
    # The course's package (an editable install lives outside site-packages): read-only,
    # the real one (a student validating their work may call it; grading never trusts it).
    try:
        overlays = [(sandbox.package_dir("rnn_lib"),) * 2]
    except sandbox.SandboxUnavailable:
        overlays = []
    return ExecutionSettings(limits=limits, cell_timeout=cell_timeout,
                             notebook_timeout=notebook_timeout, use_sandbox=use_sandbox,
                             ro_overlays=overlays, helpers_dir=helpers,
                             pythonpath_host=[helpers] if helpers else [],
                             mpl_cache_dir=_mpl_cache())


def _warn_unsandboxed() -> None:
    print("!" * 78 + "\n!! NOT SANDBOXED: bubblewrap (bwrap) is not available here, so this notebook "
          "runs\n!! as your own user, with your files and the network. Grading runs it in a\n"
          "!! sandbox; install bubblewrap (apt-get install bubblewrap) to validate the same "
          "way.\n" + "!" * 78, file=sys.stderr, flush=True)


def validate_one(path: str, limits: sandbox.Limits, cell_timeout: float,
                 notebook_timeout: float, use_sandbox: bool = True,
                 course: str | None = None) -> int:
    """Validate one notebook; print its lines; return 0, 1 or 2 (see the module)."""
    name = os.path.basename(path)
    try:
        nb = read_submission(path)
    except (OSError, MalformedNotebook) as error:
        print(f"{path}: cannot be read as a notebook: {error}")
        return 2
    checks, manual = notebook_checks(nb)
    if not checks:
        print(f"{path}: no test cell (a code cell with nbgrader grade metadata): expected a "
              f"problem set's notebook")
        return 2
    helpers = None
    if any(c.hidden and c.runs for c in checks):
        helpers = os.path.join(os.path.abspath(course), "grading") if course else None
        if not helpers or not os.path.isdir(helpers):
            print(f"{path}: has hidden tests, which import the course's helpers, but "
                  f"{helpers or 'no course'} is not a directory (pass --course DIR)")
            return 2
    settings = _settings(limits, cell_timeout, notebook_timeout, use_sandbox, helpers)
    sandboxed = bool(use_sandbox and sandbox.bwrap_executable())
    if not sandboxed:
        _warn_unsandboxed()
    started = time.monotonic()
    sources = [c.source if c.cell_type == "code" else None for c in nb.cells]
    # Only the notebook goes into the sandbox, as only the notebook is handed in (and a
    # notebook kept in a large directory, a home or the repository, costs nothing more).
    staged = tempfile.mkdtemp(prefix="grader-validate-")
    try:
        shutil.copyfile(path, os.path.join(staged, name))
        run = run_cells(sources, settings, submission_dir=staged, work_name="notebook",
                        mode="plain")
    finally:
        shutil.rmtree(staged, ignore_errors=True)
    elapsed = time.monotonic() - started
    if run.problems and all(c.status == "not-run" for c in run.cells if sources[c.index]):
        details = "; ".join(p["detail"].splitlines()[0] for p in run.problems)
        print(f"{path}: the kernel could not start: {details}")
        return 1
    check_at = {c.index: c for c in checks}
    width = max(len(c.name) + (9 if c.hidden else 0) for c in checks)
    passed = failed_points = points = 0.0
    ran = [c for c in checks if c.runs]
    status = 0
    for cell in run.cells:
        check = check_at.get(cell.index)
        if check is None:
            if cell.status != "ok":
                grade_id = _nbgrader(nb.cells[cell.index]).get("grade_id")
                label = f"cell {cell.index + 1}" + (f" ({grade_id})" if grade_id else "")
                print(f"  error  {label}: {reason(cell)}")
                if cell.status in ("crash", "timeout"):
                    status = 1
            continue
        if not check.runs:
            continue
        label = check.name + (" (hidden)" if check.hidden else "")
        points += check.points
        if cell.status == "ok":
            passed += 1
            print(f"  pass   {label:<{width}}  {_fmt(check.points)}/{_fmt(check.points)}")
        else:
            failed_points += check.points
            status = 1
            print(f"  FAIL   {label:<{width}}  0/{_fmt(check.points)}  {reason(cell)}")
    hidden_later = sum(c.points for c in checks if not c.runs)
    kind = "checks (visible and hidden)" if any(c.hidden for c in ran) else "visible checks"
    later = []
    if hidden_later:
        later.append(f"hidden tests ({_fmt(hidden_later)} points) run when it is graded")
    if manual:
        later.append(f"written answers ({_fmt(manual)} points) are graded by hand")
    where = "sandboxed" if sandboxed else "NOT SANDBOXED"
    verdict = (f"all {len(ran)} {kind} pass" if passed == len(ran) else
               f"FAILED: {len(ran) - int(passed)} of {len(ran)} {kind} fail")
    print(f"{name}: {verdict} ({_fmt(points - failed_points)} of {_fmt(points)} points)"
          + (f"; {', '.join(later)}" if later else "") + f" [{elapsed:.1f} s, {where}]")
    return status


def validate(paths: list[str] | str, limits: sandbox.Limits, cell_timeout: float,
             notebook_timeout: float, use_sandbox: bool = True,
             course: str | None = "assignments") -> int:
    """Validate every notebook; the worst status (2 before anything runs if a path is bad)."""
    paths = [paths] if isinstance(paths, str) else list(paths)
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing or not paths:
        for path in missing:
            print(f"validate: no such notebook: {path}", file=sys.stderr)
        return 2
    status = 0
    for number, path in enumerate(paths):
        if number:
            print()
        status = max(status, validate_one(path, limits, cell_timeout, notebook_timeout,
                                          use_sandbox, course))
    return status


def sandbox_check() -> int:
    """Probe the sandbox; 0 if everything was contained."""
    bwrap = sandbox.bwrap_executable()
    if bwrap is None:
        sandbox.warn_unsandboxed()
        return 1
    secret_dir = tempfile.mkdtemp(prefix="grader-probe-")
    secret = os.path.join(secret_dir, "secret.txt")
    with open(secret, "w") as f:
        f.write("host secret")
    os.chmod(secret_dir, 0o755)
    os.chmod(secret, 0o644)
    home = os.path.expanduser("~")
    bound = {os.path.relpath(p, home).split(os.sep)[0] for p in sandbox.python_paths()
             if p.startswith(home + os.sep)}
    entries = set(os.listdir(home)) - bound if os.path.isdir(home) else set()
    prelude = (f"import os, time\nSECRET = {secret!r}\nHOST_HOME = {home!r}\n"
               f"HOST_ENTRIES = {entries!r}\n")
    cells = [prelude] + [
        f"try:\n    exec({code!r})\n    print('ESCAPED')\nexcept BaseException as e:\n"
        f"    print('contained:', type(e).__name__)" for code in PROBES.values()]
    settings = ExecutionSettings(limits=sandbox.Limits(memory_mb=2048, processes=64),
                                 cell_timeout=60, notebook_timeout=300,
                                 scratch_dir=tempfile.gettempdir())
    try:
        run = run_cells(cells, settings, submission_dir=None, work_name="probe", mode="plain")
    finally:
        os.remove(secret)
        os.rmdir(secret_dir)
    print(f"bubblewrap: {bwrap}; kernel uid: "
          f"{'dedicated sandbox uid' if sandbox.is_root() else 'your uid, in a user namespace'}")
    contained = True
    for name, cell in zip(PROBES, run.cells[1:], strict=True):
        text = "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream")
        ok = "contained" in text and "ESCAPED" not in text
        contained &= ok
        print(f"  {'ok ' if ok else 'ESCAPED'}  {name}: {text.strip() or cell.status}")
    return 0 if contained else 1
