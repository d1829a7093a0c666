"""``python -m grader validate`` and ``python -m grader sandbox-check``.

``validate NOTEBOOK`` runs a (student's) notebook from a fresh kernel in the
same sandbox as autograding, in plain mode, so the visible tests judge in the
kernel; it lists the cells that failed. Exit status 0 when every cell ran,
1 otherwise.

``sandbox-check`` starts a sandboxed kernel and tries what a hostile
submission would try (read the host's files, reach the network, fork without
limit, exceed the memory limit); it prints one line per probe and exits 0 only
if every probe was contained.
"""

from __future__ import annotations

import os
import tempfile

from grader import sandbox
from grader.executor import ExecutionSettings, run_cells
from grader.notebook import MalformedNotebook, read_submission

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


def validate(path: str, limits: sandbox.Limits, cell_timeout: float, notebook_timeout: float,
             use_sandbox: bool = True) -> int:
    try:
        nb = read_submission(path)
    except (OSError, MalformedNotebook) as error:
        print(f"{path}: cannot be read: {error}")
        return 1
    # The course's package (an editable install lives outside site-packages): read-only,
    # the real one (a student validating their work may call it; grading never trusts it).
    try:
        overlays = [(sandbox.package_dir("rnn_lib"),) * 2]
    except sandbox.SandboxUnavailable:
        overlays = []
    settings = ExecutionSettings(limits=limits, cell_timeout=cell_timeout,
                                 notebook_timeout=notebook_timeout, use_sandbox=use_sandbox,
                                 ro_overlays=overlays)
    if use_sandbox and sandbox.bwrap_executable() is None:
        sandbox.warn_unsandboxed()
    sources = [c.source if c.cell_type == "code" else None for c in nb.cells]
    run = run_cells(sources, settings, submission_dir=os.path.dirname(os.path.abspath(path)),
                    work_name="notebook", mode="plain")
    failed = [c for c in run.cells if c.status not in ("ok",)]
    for cell in failed:
        message = next((f"{o.get('ename')}: {o.get('evalue')}" for o in cell.outputs
                        if o.get("output_type") == "error"), cell.detail)
        print(f"cell {cell.index + 1}: {cell.status}: {message}")
    if failed:
        print(f"{path}: {len(failed)} cell(s) failed")
        return 1
    print(f"{path}: every cell ran without error ({run.elapsed:.1f} s)")
    return 0


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
