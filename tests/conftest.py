"""Shared fixtures for the book tests: one cold build per test session.

``book_build`` copies the repository (sources only) into a temporary folder and
builds the book there from scratch with ``tools/build_book.py --clean``, so the
test neither reuses nor disturbs the developer's ``_build`` cache. Both
``tests/test_book_build.py`` and ``tests/test_book_browser.py`` use it, so a test
session builds the book once.

Set ``BOOK_HTML_DIR`` to an already built ``_build/html`` to run the browser tests
against it without rebuilding (handy while writing a chapter).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")
# Sphinx prints "path:line: WARNING: message"; ipykernel's "[IPKernelApp] WARNING | ..."
# start-up notice about unencrypted local TCP is not a book problem.
SPHINX_PROBLEM = re.compile(r"\b(WARNING|ERROR|CRITICAL|SEVERE):")
BUILD_SCRIPT = Path("tools") / "build_book.py"
# Never copied into the temporary build: environments, VCS data, earlier outputs,
# caches, and nbgrader's generated (possibly private) folders.
NOT_COPIED = (
    ".git", ".venv", "_build", "__pycache__", ".pytest_cache", ".ruff_cache", "*.egg-info",
    ".ipynb_checkpoints", ".rnn_lib_cache", "release", "submitted", "autograded", "feedback",
    "gradebook.db",
)


@dataclass(frozen=True)
class BookBuild:
    """Outcome of one book build."""

    source: Path  # the repository copy that was built
    returncode: int
    seconds: float
    log: str  # everything the build printed

    @property
    def html_dir(self) -> Path:
        return self.source / "_build" / "html"

    @property
    def executed_dir(self) -> Path:
        return self.source / "_build" / "jupyter_execute"

    def warning_lines(self) -> list[str]:
        """Sphinx warnings and errors ("WARNING: ..."), not kernels' own log lines."""
        plain = ANSI_ESCAPE.sub("", self.log)
        return [line for line in plain.splitlines() if SPHINX_PROBLEM.search(line)]


def toc_documents(root: Path = REPO_ROOT) -> list[str]:
    """Every page of the book in reading order, as docnames like ``book/01_state_machines``."""
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    documents = [toc["root"]]
    for part in toc.get("parts", []):
        documents.extend(entry["file"] for entry in part["chapters"])
    documents.extend(entry["file"] for entry in toc.get("chapters", []))
    return documents


def chapter_documents(root: Path = REPO_ROOT) -> list[str]:
    """The numbered chapters (the toc part captioned "Chapters")."""
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    return [entry["file"] for part in toc["parts"] if part.get("caption") == "Chapters"
            for entry in part["chapters"]]


def copy_sources(destination: Path) -> None:
    """Copy the repository into ``destination`` without outputs, caches or environments."""
    shutil.copytree(REPO_ROOT, destination, ignore=shutil.ignore_patterns(*NOT_COPIED),
                    symlinks=True)


def run_cold_build(source: Path) -> BookBuild:
    """Run ``tools/build_book.py --clean`` on ``source`` and record its output and time."""
    log_path = source.parent / "book_build.log"
    started = time.perf_counter()
    with log_path.open("w") as log:
        returncode = subprocess.run(
            [sys.executable, str(source / BUILD_SCRIPT), "--clean", "--source", str(source)],
            cwd=source, stdout=log, stderr=subprocess.STDOUT, check=False,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
        ).returncode
    seconds = time.perf_counter() - started
    return BookBuild(source, returncode, seconds, log_path.read_text(errors="replace"))


@pytest.fixture(scope="session")
def book_build(tmp_path_factory: pytest.TempPathFactory) -> BookBuild:
    """A cold build of the whole book in a temporary copy of the repository."""
    source = tmp_path_factory.mktemp("book") / "repo"
    copy_sources(source)
    build = run_cold_build(source)
    timing = REPO_ROOT / "_build" / "book_build_time.txt"
    timing.parent.mkdir(exist_ok=True)
    timing.write_text(f"cold build with execution: {build.seconds:.1f} s "
                      f"(exit code {build.returncode})\n")
    print(f"\n[book] cold build took {build.seconds:.1f} s (exit code {build.returncode})")
    return build


@pytest.fixture(scope="session")
def book_html(request: pytest.FixtureRequest) -> Path:
    """The built site: ``BOOK_HTML_DIR`` if set, otherwise this session's cold build."""
    override = os.environ.get("BOOK_HTML_DIR")
    if override:
        html_dir = Path(override).resolve()
        if not (html_dir / "index.html").is_file():
            pytest.fail(f"BOOK_HTML_DIR: expected a built site containing index.html, "
                        f"got {html_dir}")
        return html_dir
    build: BookBuild = request.getfixturevalue("book_build")
    if build.returncode != 0:
        pytest.fail("the book build failed, so there is no site to test:\n"
                    + "\n".join(build.warning_lines()[-30:] or build.log.splitlines()[-30:]))
    return build.html_dir
