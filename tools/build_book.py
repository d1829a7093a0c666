"""Build the course book, dropping stale executed outputs when rnn_lib changes.

Jupyter Book's execution cache keys each notebook on its own code cells only, so a
change inside ``rnn_lib`` would leave every chapter showing the old numbers. This
script hashes the package's files and removes the execution cache when that hash
differs from the one recorded by the previous build. It then executes, in parallel
(one kernel per available core, longest chapter first), every notebook of the table of
contents that the cache does not hold yet, and stores the results in the cache with
jupyter-cache's own API, exactly as myst-nb's ``execute_notebooks: cache`` mode would
(same notebook reader, same hash, same timeout and error settings from _config.yml). A
cell error or timeout there stops the build (exit status 1, traceback printed). Finally
it runs

    jupyter-book build <source> -W -n --keep-going

which finds every notebook in the cache (warnings fail the build; a notebook the cache
still misses would be executed there, serially, as before).

Usage::

    python tools/build_book.py            # incremental build (warm cache)
    python tools/build_book.py --clean    # cold build: outputs and cache removed first
    python tools/build_book.py --source DIR   # build a copy of the repository in DIR
    python tools/build_book.py --jobs 1       # execute the chapters one at a time
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
BUILD_DIRNAME = "_build"
CACHE_DIRNAME = ".jupyter_cache"
HASH_FILENAME = ".rnn_lib_hash"
# What a build writes into _build; --clean removes exactly these and nothing else
# (screenshots or notes a user keeps under _build survive).
BUILD_PRODUCTS = ("html", ".doctrees", "jupyter_execute", CACHE_DIRNAME, HASH_FILENAME)
IGNORED_PARTS = {"__pycache__", ".ipynb_checkpoints"}
# Inside the cache folder (so it goes with it): the notebook sources already found in the
# cache, by digest, so that a warm build need not load myst-nb to know nothing is to run.
MANIFEST_FILENAME = "book_executed.json"
# Seconds each notebook took last time, kept across --clean: the longest run first.
TIMES_FILENAME = ".execution_seconds.json"


def package_files(package_dir: Path) -> list[Path]:
    """Every file of the package (sources and shipped data), sorted, caches excluded."""
    if not package_dir.is_dir():
        raise FileNotFoundError(f"package_dir: expected a directory, got {package_dir}")
    return sorted(
        path
        for path in package_dir.rglob("*")
        if path.is_file()
        and not IGNORED_PARTS.intersection(path.relative_to(package_dir).parts)
        and path.suffix not in {".pyc", ".pyo"}
    )


def package_hash(package_dir: Path) -> str:
    """SHA-256 over the sorted relative paths and contents of the package's files."""
    digest = hashlib.sha256()
    for path in package_files(package_dir):
        relative = path.relative_to(package_dir).as_posix().encode()
        content = path.read_bytes()
        # Lengths delimit the fields, so moving bytes between a name and a file
        # cannot produce the same stream.
        for field in (relative, content):
            digest.update(len(field).to_bytes(8, "little"))
            digest.update(field)
    return digest.hexdigest()


def invalidate_cache_if_package_changed(build_dir: Path, package_dir: Path) -> bool:
    """Remove ``build_dir/.jupyter_cache`` when the package hash changed; record the hash.

    Returns True when the cache was (or would have been) invalidated, i.e. when
    the recorded hash is missing or differs. Only the cache folder is removed.
    """
    current = package_hash(package_dir)
    hash_file = build_dir / HASH_FILENAME
    recorded = hash_file.read_text().strip() if hash_file.is_file() else None
    changed = recorded != current
    if changed:
        cache_dir = build_dir / CACHE_DIRNAME
        if cache_dir.exists():
            shutil.rmtree(cache_dir)
            print(f"rnn_lib changed: removed the execution cache {cache_dir}")
    build_dir.mkdir(parents=True, exist_ok=True)
    hash_file.write_text(current + "\n")
    return changed


def clean_build_products(build_dir: Path) -> None:
    """Remove what a build produced (html, doctrees, executed notebooks, cache, hash)."""
    for name in BUILD_PRODUCTS:
        path = build_dir / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def execution_times(cache_dir: Path) -> dict[str, float]:
    """Seconds each notebook's last execution took, from the jupyter-cache records.

    Read from the cache's SQLite file directly (importing jupyter-cache costs a warm
    build half a second).
    """
    database = cache_dir / "global.db"
    if not database.is_file():
        return {}
    import sqlite3

    newest: dict[str, tuple] = {}
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        rows = connection.execute("SELECT uri, created, data FROM nbcache").fetchall()
    except sqlite3.Error:
        return {}
    finally:
        connection.close()
    for uri, created, data in rows:
        try:
            seconds = (json.loads(data) if isinstance(data, str) else data or {}).get(
                "execution_seconds")
        except (ValueError, AttributeError):
            continue
        if seconds is not None and (uri not in newest or created > newest[uri][0]):
            newest[uri] = (created, float(seconds))
    return {uri: seconds for uri, (_, seconds) in newest.items()}


# --------------------------------------------------------------------------- parallel execution


def execution_settings(source: Path) -> dict:
    """The ``execute`` section of _config.yml, with Jupyter Book's defaults filled in."""
    import yaml

    config = yaml.safe_load((source / "_config.yml").read_text()) or {}
    execute = config.get("execute") or {}
    cache = execute.get("cache") or ""
    return {
        "mode": execute.get("execute_notebooks", "auto"),
        "cache": source / cache if cache else source / BUILD_DIRNAME / CACHE_DIRNAME,
        "timeout": execute.get("timeout", 30),
        "allow_errors": bool(execute.get("allow_errors", False)),
        "run_in_temp": bool(execute.get("run_in_temp", False)),
        "exclude": list(execute.get("exclude_patterns") or []),
    }


def toc_files(source: Path) -> list[Path]:
    """Every page file of _toc.yml (root first, then in reading order)."""
    import yaml

    toc = yaml.safe_load((source / "_toc.yml").read_text()) or {}
    names: list[str] = []

    def walk(node) -> None:
        if isinstance(node, dict):
            for key in ("root", "file"):
                if isinstance(node.get(key), str):
                    names.append(node[key])
            for value in node.values():
                if isinstance(value, list | dict):
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(toc)
    files = []
    for name in dict.fromkeys(names):
        candidates = [source / name] if Path(name).suffix else [
            source / f"{name}{suffix}" for suffix in (".md", ".ipynb")]
        files += [path for path in candidates if path.is_file()][:1]
    return files


def looks_like_notebook(path: Path, text: str) -> bool:
    """An .ipynb file, or MyST markdown with jupytext/mystnb top matter (myst-nb's rule)."""
    if path.suffix == ".ipynb":
        return True
    if not text.startswith("---"):
        return False
    top = text.split("\n---", 1)[0]
    return "jupytext:" in top or "file_format: mystnb" in top


def book_notebooks(source: Path, exclude: list[str] = ()) -> dict[Path, str]:
    """The notebooks of the book (path -> source text), in table-of-contents order."""
    from fnmatch import fnmatch

    notebooks = {}
    for path in toc_files(source):
        relative = path.relative_to(source).as_posix()
        if any(fnmatch(relative, pattern) for pattern in exclude):
            continue
        text = path.read_text(encoding="utf-8")
        if looks_like_notebook(path, text):
            notebooks[path] = text
    return notebooks


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _read_notebook(path: Path, text: str):
    """The notebook myst-nb makes of this file (same reader, hence the same cache hash)."""
    import nbformat

    if path.suffix == ".ipynb":
        return nbformat.reads(text, as_version=4)
    from myst_nb.core.read import read_myst_markdown_notebook

    return read_myst_markdown_notebook(text, add_source_map=True, path=str(path))


def _run_order(names: list[str], hints: dict[str, float]) -> list[str]:
    """Longest first (last build's times); unknown ones first, later chapters before earlier."""
    position = {name: index for index, name in enumerate(names)}
    return sorted(names, key=lambda n: (-hints.get(n, float("inf")), -position[n]))


def execute_notebooks(source: Path, jobs: int) -> bool:
    """Execute, ``jobs`` at a time, the book's notebooks missing from the cache; cache them.

    Returns False when a notebook failed (its traceback is printed); True otherwise,
    also when there was nothing to do or the book is not in ``cache`` mode.
    """
    settings = execution_settings(source)
    if settings["mode"] != "cache":
        return True  # jupyter-book executes (or not) by itself
    cache_dir = settings["cache"]
    notebooks = book_notebooks(source, settings["exclude"])
    manifest_path = cache_dir / MANIFEST_FILENAME
    known = _read_json(manifest_path).get("notebooks", {})
    digests = {str(path): _digest(text) for path, text in notebooks.items()}
    if cache_dir.is_dir() and all(known.get(p) == d for p, d in digests.items()):
        return True  # every notebook was found in (or put into) this cache before

    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn
    from jupyter_cache.executors.utils import single_nb_execution

    cache = get_cache(str(cache_dir))
    pending = {}
    for path, text in notebooks.items():
        notebook = _read_notebook(path, text)
        try:
            cache.match_cache_notebook(notebook)
        except KeyError:
            pending[path] = notebook
    failed: list[Path] = []
    if pending:
        times_path = source / BUILD_DIRNAME / TIMES_FILENAME
        hints = _read_json(times_path)
        names = {path.relative_to(source).as_posix(): path for path in pending}
        order = [names[name] for name in _run_order(list(names), hints)]
        workers = max(1, min(jobs, len(order)))
        print(f"executing {len(order)} notebook(s), {workers} at a time: "
              + ", ".join(p.relative_to(source).as_posix() for p in order), flush=True)

        def run(path: Path):
            import tempfile
            from contextlib import nullcontext

            where = (tempfile.TemporaryDirectory() if settings["run_in_temp"]
                     else nullcontext(str(path.parent)))
            with where as cwd:
                return single_nb_execution(pending[path], cwd=cwd, timeout=settings["timeout"],
                                           allow_errors=settings["allow_errors"],
                                           meta_override=True)

        started = time.perf_counter()
        # Threads are enough: each notebook runs in its own kernel process; the thread only
        # relays messages. The cache (SQLite) is written from this thread alone.
        pool = ThreadPoolExecutor(max_workers=workers)
        futures = {pool.submit(run, path): path for path in order}
        try:
            for future in as_completed(futures):
                path = futures[future]
                name = path.relative_to(source).as_posix()
                try:
                    result = future.result()
                except Exception as error:  # noqa: BLE001 - the kernel could not start, etc.
                    failed.append(path)
                    print(f"{path}: ERROR: Execution Failed: {type(error).__name__}: {error}",
                          flush=True)
                    continue
                if result.err is not None:
                    failed.append(path)
                    print(f"{path}: ERROR: Execution Failed: {type(result.err).__name__}\n"
                          f"{result.exc_string}", flush=True)
                    continue
                cache.cache_notebook_bundle(
                    CacheBundleIn(result.nb, str(path),
                                  data={"execution_seconds": result.time}),
                    check_validity=False, overwrite=True)
                hints[name] = round(result.time, 2)
                print(f"  executed {name} in {result.time:.1f} s", flush=True)
        finally:  # on Ctrl-C, start nothing more (the running kernels get the SIGINT too)
            pool.shutdown(wait=True, cancel_futures=True)
        print(f"parallel execution: {len(order) - len(failed)} of {len(order)} notebook(s) in "
              f"{time.perf_counter() - started:.1f} s", flush=True)
        times_path.parent.mkdir(parents=True, exist_ok=True)
        times_path.write_text(json.dumps(hints, indent=1, sort_keys=True) + "\n")
    done = {p: d for p, d in digests.items() if Path(p) not in failed}
    manifest_path.write_text(json.dumps({"version": 1, "notebooks": done}, indent=1) + "\n")
    return not failed


def print_execution_times(source: Path) -> None:
    """Per-notebook execution times, slowest first (cells: tools/profile_book_cells.py)."""
    times = execution_times(source / BUILD_DIRNAME / CACHE_DIRNAME)
    if not times:
        return
    print("notebook execution times (last run of each, seconds):")
    for uri, seconds in sorted(times.items(), key=lambda item: -item[1]):
        name = Path(uri).relative_to(source) if Path(uri).is_relative_to(source) else uri
        print(f"  {seconds:7.1f}  {name}")


# jsonschema (imported by jupyter-book's configuration check and by nbformat) compiles an
# IRI grammar at import when the optional rfc3987_syntax package is installed: 1.5 s of
# every build on a quiet machine, 6 s on a busy one, for a format neither the book's
# configuration schema nor nbformat's uses. Marked absent, it is skipped (as grader/ does).
_JUPYTER_BOOK = ("import sys; sys.modules.setdefault('rfc3987_syntax', None); "
                 "from jupyter_book.cli.main import main; sys.exit(main())")
if "jsonschema" not in sys.modules:
    sys.modules.setdefault("rfc3987_syntax", None)  # this process reads notebooks too


def jupyter_book_command(source: Path) -> list[str]:
    """The build command: jupyter-book's own entry point, run by this interpreter (so from
    this environment), without the IRI grammar (above)."""
    return [sys.executable, "-c", _JUPYTER_BOOK, "build", str(source), "-W", "-n",
            "--keep-going"]


def student_notebooks_digest(source: Path) -> str:
    """What the student notebooks are made from: the source notebooks and the script."""
    digest = hashlib.sha256()
    inputs = sorted((source / "assignments" / "source").glob("*/*.ipynb"))
    inputs.append(Path(__file__).resolve().parent / "student_notebooks.py")
    for path in inputs:
        for field in (path.name.encode(), path.read_bytes()):
            digest.update(len(field).to_bytes(8, "little"))
            digest.update(field)
    return digest.hexdigest()


def update_student_notebooks(source: Path) -> None:
    """Write book/_student/<ps>.ipynb, unless they are there and their inputs unchanged."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from student_notebooks import STUDENT_DIRNAME

    out_dir = source / "book" / STUDENT_DIRNAME
    stamp = out_dir / ".digest"
    current = student_notebooks_digest(source)
    expected = [out_dir / p.name for p in (source / "assignments" / "source").glob("*/*.ipynb")]
    if (stamp.is_file() and stamp.read_text().strip() == current
            and all(path.is_file() for path in expected)):
        return  # loading nbgrader costs a warm build seconds
    from student_notebooks import write_student_notebooks

    write_student_notebooks(source / "assignments", out_dir)
    stamp.write_text(current + "\n")


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def build(source: Path, clean: bool, jobs: int | None = None) -> int:
    """Build the book in ``source``; return 0 on success (jupyter-book's exit code, or 1
    when a notebook failed to execute)."""
    for required in ("_config.yml", "_toc.yml"):
        if not (source / required).is_file():
            raise FileNotFoundError(f"source: expected a book root containing {required}, got {source}")
    started = time.perf_counter()
    build_dir = source / BUILD_DIRNAME
    # Cold when asked for, or when there is no execution cache yet (first build).
    cold = clean or not (build_dir / CACHE_DIRNAME).exists()
    if clean:
        clean_build_products(build_dir)
        print(f"cold build: removed previous outputs and the execution cache in {build_dir}")
    if invalidate_cache_if_package_changed(build_dir, source / "rnn_lib"):
        cold = True
    env = dict(os.environ)
    # Each kernel uses one BLAS thread: the chapters are small and the machine is shared.
    env.setdefault("OMP_NUM_THREADS", "1")
    env.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    # The kernel and jupyter-book's helpers must come from this same environment.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    # The student notebooks, published with the book (each chapter's assignment box links
    # to its problem set); generated from assignments/source/, never committed.
    update_student_notebooks(source)
    # The kernels started here inherit this process's environment: the same as jupyter-book's.
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        executed = execute_notebooks(source, jobs or available_cores())
    finally:
        os.environ.clear()
        os.environ.update(saved)
    if not executed:
        print(f"book build FAILED: a notebook raised an error (above) "
              f"after {time.perf_counter() - started:.1f} s")
        return 1
    command = jupyter_book_command(source)
    print("running: jupyter-book", " ".join(command[3:]), flush=True)
    sphinx_started = time.perf_counter()
    returncode = subprocess.run(command, cwd=source, env=env, check=False).returncode
    sphinx = time.perf_counter() - sphinx_started
    status = "succeeded" if returncode == 0 else f"FAILED (exit code {returncode})"
    print_execution_times(source)
    print(f"book build {status} in {time.perf_counter() - started:.1f} s "
          f"({'cold' if cold else 'incremental'}; jupyter-book {sphinx:.1f} s)")
    return returncode


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clean", action="store_true",
                        help="cold build: remove previous outputs and the execution cache first")
    parser.add_argument("--source", type=Path, default=REPO_ROOT,
                        help="repository root holding _config.yml and _toc.yml (default: this repo)")
    parser.add_argument("--jobs", type=int, default=None,
                        help="notebooks executed at once (default: the available cores)")
    args = parser.parse_args(argv)
    if args.jobs is not None and args.jobs < 1:
        parser.error(f"--jobs: expected a positive number, got {args.jobs}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return build(args.source.resolve(), clean=args.clean, jobs=args.jobs)


if __name__ == "__main__":
    sys.exit(main())
