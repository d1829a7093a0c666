"""Build the course book, dropping stale executed outputs when rnn_lib changes.

Jupyter Book's execution cache keys each notebook on its own code cells only, so a
change inside ``rnn_lib`` would leave every chapter showing the old numbers. This
script hashes the package's files and removes the execution cache when that hash
differs from the one recorded by the previous build, then runs

    jupyter-book build <source> -W -n --keep-going

(warnings, including a failing or timed-out cell, fail the build).

Usage::

    python tools/build_book.py            # incremental build (warm cache)
    python tools/build_book.py --clean    # cold build: outputs and cache removed first
    python tools/build_book.py --source DIR   # build a copy of the repository in DIR
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
BUILD_DIRNAME = "_build"
CACHE_DIRNAME = ".jupyter_cache"
HASH_FILENAME = ".rnn_lib_hash"
# What a build writes into _build; --clean removes exactly these and nothing else
# (screenshots or notes a user keeps under _build survive).
BUILD_PRODUCTS = ("html", ".doctrees", "jupyter_execute", CACHE_DIRNAME, HASH_FILENAME)
IGNORED_PARTS = {"__pycache__", ".ipynb_checkpoints"}


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
    """Seconds each notebook's last execution took, from the jupyter-cache records."""
    if not cache_dir.is_dir():
        return {}
    from jupyter_cache import get_cache  # installed with jupyter-book

    newest: dict[str, tuple] = {}
    for record in get_cache(str(cache_dir)).list_cache_records():
        seconds = (record.data or {}).get("execution_seconds")
        if seconds is not None and (record.uri not in newest
                                    or record.created > newest[record.uri][0]):
            newest[record.uri] = (record.created, float(seconds))
    return {uri: seconds for uri, (_, seconds) in newest.items()}


def print_execution_times(source: Path) -> None:
    """Per-notebook execution times, slowest first (cells: tools/profile_book_cells.py)."""
    times = execution_times(source / BUILD_DIRNAME / CACHE_DIRNAME)
    if not times:
        return
    print("notebook execution times (last run of each, seconds):")
    for uri, seconds in sorted(times.items(), key=lambda item: -item[1]):
        name = Path(uri).relative_to(source) if Path(uri).is_relative_to(source) else uri
        print(f"  {seconds:7.1f}  {name}")


def jupyter_book_command(source: Path) -> list[str]:
    """The build command; jupyter-book is taken from this interpreter's environment."""
    executable = Path(sys.executable).parent / "jupyter-book"
    program = str(executable) if executable.exists() else "jupyter-book"
    return [program, "build", str(source), "-W", "-n", "--keep-going"]


def build(source: Path, clean: bool) -> int:
    """Build the book in ``source``; return the jupyter-book exit code."""
    for required in ("_config.yml", "_toc.yml"):
        if not (source / required).is_file():
            raise FileNotFoundError(f"source: expected a book root containing {required}, got {source}")
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
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from student_notebooks import STUDENT_DIRNAME, write_student_notebooks

    write_student_notebooks(source / "assignments", source / "book" / STUDENT_DIRNAME)
    command = jupyter_book_command(source)
    print("running:", " ".join(command), flush=True)
    started = time.perf_counter()
    returncode = subprocess.run(command, cwd=source, env=env, check=False).returncode
    elapsed = time.perf_counter() - started
    status = "succeeded" if returncode == 0 else f"FAILED (exit code {returncode})"
    print_execution_times(source)
    print(f"book build {status} in {elapsed:.1f} s ({'cold' if cold else 'incremental'})")
    return returncode


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clean", action="store_true",
                        help="cold build: remove previous outputs and the execution cache first")
    parser.add_argument("--source", type=Path, default=REPO_ROOT,
                        help="repository root holding _config.yml and _toc.yml (default: this repo)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return build(args.source.resolve(), clean=args.clean)


if __name__ == "__main__":
    sys.exit(main())
