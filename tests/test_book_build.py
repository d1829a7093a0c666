"""The book builds from scratch with every warning and cell error fatal.

The slow tests share one cold build (``book_build`` in conftest.py). The fast
tests check ``tools/build_book.py``'s cache invalidation on small temporary trees.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from conftest import ANSI_ESCAPE, REPO_ROOT, BookBuild, chapter_documents, toc_documents

REQUIRED_TOC = [
    "book/00_preface",
    "book/01_state_machines",
    "book/02_rnns",
    "book/03_language_models",
    "book/04_bptt",
    "book/05_gating",
    "book/06_char_lm",
    "book/07_seq2seq",
    "book/instructor_guide",
    "book/student_guide",
    "book/glossary",
    "book/references",
]


def load_build_script():
    spec = importlib.util.spec_from_file_location("build_book", REPO_ROOT / "tools" / "build_book.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build_book = load_build_script()


# --- the table of contents -------------------------------------------------------

def test_toc_lists_every_page_in_reading_order():
    assert toc_documents() == REQUIRED_TOC


def test_every_toc_page_has_a_source_file():
    missing = [doc for doc in toc_documents() if not (REPO_ROOT / f"{doc}.md").is_file()]
    assert missing == [], f"pages listed in _toc.yml without a book/*.md source: {missing}"


# --- build_book.py: cache invalidation ------------------------------------------

def make_package(root: Path, files: dict[str, str]) -> Path:
    package = root / "rnn_lib"
    for name, text in files.items():
        path = package / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return package


def test_package_hash_depends_on_contents_and_names_but_not_caches(tmp_path):
    package = make_package(tmp_path, {"__init__.py": "x = 1\n", "rnn.py": "y = 2\n"})
    original = build_book.package_hash(package)
    assert original == build_book.package_hash(package)  # deterministic

    (package / "__pycache__").mkdir()
    (package / "__pycache__" / "rnn.cpython-311.pyc").write_bytes(b"\x00compiled")
    assert build_book.package_hash(package) == original

    (package / "rnn.py").write_text("y = 3\n")
    changed_content = build_book.package_hash(package)
    assert changed_content != original

    (package / "rnn.py").rename(package / "rnn2.py")
    assert build_book.package_hash(package) != changed_content

    (package / "data").mkdir()
    (package / "data" / "corpus.txt").write_text("text shipped with the package")
    assert build_book.package_hash(package) != changed_content


def test_package_hash_rejects_missing_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="package_dir"):
        build_book.package_hash(tmp_path / "no_such_package")


def test_changed_package_removes_only_the_execution_cache(tmp_path):
    package = make_package(tmp_path, {"__init__.py": "x = 1\n"})
    build_dir = tmp_path / "_build"
    cache = build_dir / ".jupyter_cache"
    (cache / "executed").mkdir(parents=True)
    (cache / "executed" / "nb.ipynb").write_text("{}")
    keep = build_dir / "screenshots" / "page.png"
    keep.parent.mkdir(parents=True)
    keep.write_bytes(b"png")
    (build_dir / "html").mkdir()

    # First build: no recorded hash, so the cache cannot be trusted.
    assert build_book.invalidate_cache_if_package_changed(build_dir, package) is True
    assert not cache.exists()
    assert keep.read_bytes() == b"png" and (build_dir / "html").is_dir()
    recorded = (build_dir / ".rnn_lib_hash").read_text().strip()
    assert recorded == build_book.package_hash(package)

    # Unchanged package: the cache survives.
    (cache / "executed").mkdir(parents=True)
    assert build_book.invalidate_cache_if_package_changed(build_dir, package) is False
    assert cache.is_dir()

    # Changed package: the cache goes, everything else stays.
    (package / "__init__.py").write_text("x = 2\n")
    assert build_book.invalidate_cache_if_package_changed(build_dir, package) is True
    assert not cache.exists()
    assert keep.read_bytes() == b"png" and (build_dir / "html").is_dir()
    assert (build_dir / ".rnn_lib_hash").read_text().strip() == build_book.package_hash(package)


def test_clean_removes_build_products_and_keeps_user_files(tmp_path):
    build_dir = tmp_path / "_build"
    for name in ("html", ".doctrees", "jupyter_execute", ".jupyter_cache"):
        (build_dir / name).mkdir(parents=True)
        (build_dir / name / "file").write_text("output")
    (build_dir / ".rnn_lib_hash").write_text("abc\n")
    notes = build_dir / "my_notes.txt"
    notes.write_text("mine")
    build_book.clean_build_products(build_dir)
    assert sorted(p.name for p in build_dir.iterdir()) == ["my_notes.txt"]
    assert notes.read_text() == "mine"


def test_build_rejects_a_folder_without_a_book(tmp_path):
    with pytest.raises(FileNotFoundError, match="_config.yml"):
        build_book.build(tmp_path, clean=False)


def test_warning_filter_catches_sphinx_problems_only():
    log = "\n".join([
        "\x1b[91m/repo/book/02_rnns.md:12: WARNING: unknown document: 'nope'\x1b[39;49;00m",
        "WARNING: unsupported theme option 'x' given",
        "/repo/book/04_bptt.md: ERROR: Execution Failed with traceback saved in ...",
        "[IPKernelApp] WARNING | Kernel is running over TCP without encryption.",
        "reading sources... [ 50%] book/02_rnns",
    ])
    problems = BookBuild(REPO_ROOT, 1, 0.0, log).warning_lines()
    assert problems == [
        "/repo/book/02_rnns.md:12: WARNING: unknown document: 'nope'",
        "WARNING: unsupported theme option 'x' given",
        "/repo/book/04_bptt.md: ERROR: Execution Failed with traceback saved in ...",
    ]


# --- build_book.py: parallel execution into the cache ----------------------------

NOTEBOOK_HEADER = """---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---
"""


def make_book(root: Path, chapters: dict[str, str]) -> Path:
    """A minimal book: _config.yml in cache mode, a toc, one MyST notebook per chapter."""
    (root / "book").mkdir(parents=True)
    (root / "_config.yml").write_text(
        "title: t\nexecute:\n  execute_notebooks: cache\n  timeout: 60\n"
        "  allow_errors: false\n")
    names = list(chapters)
    (root / "_toc.yml").write_text(
        f"format: jb-book\nroot: book/{names[0]}\nchapters:\n"
        + "".join(f"  - file: book/{name}\n" for name in names[1:]))
    for name, code in chapters.items():
        body = f"# {name}\n\n```{{code-cell}} ipython3\n{code}\n```\n" if code else f"# {name}\n"
        (root / "book" / f"{name}.md").write_text((NOTEBOOK_HEADER if code else "") + body)
    return root


def test_toc_files_and_notebooks_follow_the_table_of_contents():
    files = build_book.toc_files(REPO_ROOT)
    assert [p.relative_to(REPO_ROOT).with_suffix("").as_posix() for p in files] == REQUIRED_TOC
    notebooks = build_book.book_notebooks(REPO_ROOT)
    assert [p.stem for p in notebooks] == [f"0{i}_{n}" for i, n in enumerate(
        ["preface", "state_machines", "rnns", "language_models", "bptt", "gating", "char_lm",
         "seq2seq"])]


def test_run_order_is_longest_first_and_later_chapters_first_when_unknown():
    names = ["a", "b", "c", "d"]
    assert build_book._run_order(names, {}) == ["d", "c", "b", "a"]
    assert build_book._run_order(names, {"a": 9.0, "b": 1.0, "c": 20.0}) == ["d", "c", "a", "b"]


def test_parallel_execution_fills_the_cache_that_myst_nb_reads(tmp_path, capsys):
    from jupyter_cache import get_cache
    from myst_nb.core.read import myst_nb_reader_plugin

    root = make_book(tmp_path / "book_root", {
        "intro": "print('intro')", "one": "x = 1\nprint(x + 1)", "two": "import math\nmath.pi",
        "notes": ""})
    assert build_book.execute_notebooks(root, jobs=2) is True
    out = capsys.readouterr().out
    assert "executing 3 notebook(s), 2 at a time" in out
    cache_dir = root / "_build" / ".jupyter_cache"
    cache = get_cache(str(cache_dir))
    for name in ("intro", "one", "two"):  # the notebook myst-nb reads matches a cached one
        path = root / "book" / f"{name}.md"
        record = cache.match_cache_notebook(myst_nb_reader_plugin(str(path)))
        assert record.uri == str(path)
    _, merged = cache.merge_match_into_notebook(myst_nb_reader_plugin(str(root / "book/one.md")))
    assert merged.cells[-1].outputs[0]["text"] == "2\n"
    times = build_book.execution_times(cache_dir)
    assert set(times) == {str(root / "book" / f"{n}.md") for n in ("intro", "one", "two")}
    # Nothing changed: nothing runs, and myst-nb is not even needed to know it.
    manifest = cache_dir / build_book.MANIFEST_FILENAME
    assert manifest.is_file()
    assert build_book.execute_notebooks(root, jobs=2) is True
    assert "executing" not in capsys.readouterr().out
    # A changed code cell runs again, alone; a markdown-only change runs nothing.
    (root / "book" / "two.md").write_text(NOTEBOOK_HEADER + "# two\n\n```{code-cell} ipython3\n"
                                          "print('changed')\n```\n")
    (root / "book" / "one.md").write_text(
        (root / "book" / "one.md").read_text().replace("# one", "# One, retitled"))
    assert build_book.execute_notebooks(root, jobs=2) is True
    assert "executing 1 notebook(s), 1 at a time: book/two.md" in capsys.readouterr().out
    # The manifest lives inside the cache, so an rnn_lib change (cache removed) drops it too.
    assert manifest.parent == cache_dir


def test_a_failing_cell_fails_the_parallel_execution(tmp_path, capsys):
    root = make_book(tmp_path / "book_root", {
        "intro": "print('fine')", "bad": "raise ValueError('broken chapter')"})
    assert build_book.execute_notebooks(root, jobs=2) is False
    out = capsys.readouterr().out
    assert "book/bad.md: ERROR: Execution Failed" in out and "broken chapter" in out
    from jupyter_cache import get_cache
    from myst_nb.core.read import myst_nb_reader_plugin

    cache = get_cache(str(root / "_build" / ".jupyter_cache"))
    with pytest.raises(KeyError):  # a failed notebook is never cached
        cache.match_cache_notebook(myst_nb_reader_plugin(str(root / "book" / "bad.md")))
    cache.match_cache_notebook(myst_nb_reader_plugin(str(root / "book" / "intro.md")))
    assert build_book.execute_notebooks(root, jobs=1) is False  # and it is tried again


# --- the full cold build (slow, once per session) --------------------------------

@pytest.mark.slow
def test_book_builds_from_scratch_without_warnings(book_build: BookBuild):
    print(f"\n[book] cold build with execution: {book_build.seconds:.1f} s")
    assert book_build.returncode == 0, (
        "jupyter-book build -W -n --keep-going failed:\n"
        + "\n".join(book_build.warning_lines()[-40:] or book_build.log.splitlines()[-40:]))
    assert book_build.warning_lines() == []
    assert "build succeeded" in book_build.log
    assert "book build succeeded" in book_build.log


@pytest.mark.slow
def test_the_chapters_ran_in_parallel_and_jupyter_book_only_read_the_cache(book_build: BookBuild):
    """build_book.py executed every chapter itself, on the available cores; myst-nb found
    each one in the cache (a miss would show as "Executing notebook")."""
    assert book_build.returncode == 0
    log = ANSI_ESCAPE.sub("", book_build.log)
    chapters = chapter_documents(book_build.source)
    assert "parallel execution: 8 of 8 notebook(s)" in log
    assert "Executing notebook" not in log
    for doc in ["book/00_preface", *chapters]:
        assert f"{doc}.md: Using cached notebook" in log, doc


@pytest.mark.slow
def test_every_page_was_written(book_build: BookBuild):
    assert book_build.returncode == 0
    missing = [doc for doc in toc_documents(book_build.source)
               if not (book_build.html_dir / f"{doc}.html").is_file()]
    assert missing == []
    assert (book_build.html_dir / "index.html").is_file()
    assert (book_build.html_dir / "searchindex.js").is_file()
    assert (book_build.html_dir / "_static" / "mathjax" / "tex-mml-chtml.js").is_file()


@pytest.mark.slow
def test_every_chapter_cell_ran_without_error(book_build: BookBuild):
    """Each chapter notebook was executed in full: all code cells numbered, no error output."""
    assert book_build.returncode == 0
    for doc in chapter_documents(book_build.source):
        executed = book_build.executed_dir / f"{doc}.ipynb"
        assert executed.is_file(), f"{doc}: not executed as a notebook (no kernelspec header?)"
        notebook = json.loads(executed.read_text())
        code_cells = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
        assert code_cells, f"{doc}: no code cells, the chapter must run rnn_lib code"
        assert all(cell.get("execution_count") for cell in code_cells), f"{doc}: unexecuted cells"
        errors = [output for cell in code_cells for output in cell.get("outputs", [])
                  if output.get("output_type") == "error"]
        assert errors == [], f"{doc}: cells raised {[e.get('ename') for e in errors]}"
        source = "".join("".join(cell["source"]) for cell in code_cells)
        assert "rnn_lib" in source, f"{doc}: never imports rnn_lib"


@pytest.mark.slow
def test_rebuild_with_unchanged_package_keeps_the_cache(book_build: BookBuild):
    """After the cold build the recorded hash matches, so the next build reuses outputs."""
    assert book_build.returncode == 0
    build_dir = book_build.source / "_build"
    recorded = (build_dir / ".rnn_lib_hash").read_text().strip()
    assert recorded == build_book.package_hash(book_build.source / "rnn_lib")
    assert (build_dir / ".jupyter_cache").is_dir()
    assert build_book.invalidate_cache_if_package_changed(build_dir,
                                                          book_build.source / "rnn_lib") is False
    assert (build_dir / ".jupyter_cache").is_dir()


def _solution_lines(source_nb: dict) -> set[str]:
    """Lines (12+ characters) found only inside the solutions and hidden tests, stripped."""
    secret, public = set(), set()
    for cell in source_nb["cells"]:
        inside = False
        for line in "".join(cell["source"]).splitlines():
            if "BEGIN SOLUTION" in line or "BEGIN HIDDEN TESTS" in line:
                inside = True
            elif "END SOLUTION" in line or "END HIDDEN TESTS" in line:
                inside = False
            elif len(line.strip()) >= 12:
                (secret if inside else public).add(line.strip())
    return secret - public


def test_each_chapter_publishes_its_student_notebook(book_build: BookBuild):
    """The assignment boxes link to the released notebooks: no solution, no hidden test."""
    html = book_build.html_dir
    published = {p.name: p for p in (html / "_downloads").glob("*/*.ipynb")}
    sources = sorted((book_build.source / "assignments" / "source").glob("*/*.ipynb"))
    assert sources and set(published) == {p.name for p in sources}
    for source in sources:
        student = json.loads(published[source.name].read_text())
        text = json.dumps(student)
        assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text, source.name
        student_lines = {line.strip() for cell in student["cells"]
                         for line in "".join(cell["source"]).splitlines()}
        leaked = _solution_lines(json.loads(source.read_text())) & student_lines
        assert not leaked, (source.name, sorted(leaked)[:3])
        cells = {c["metadata"].get("nbgrader", {}).get("grade_id") for c in student["cells"]}
        assert all(c["metadata"].get("nbgrader", {}).get("checksum") for c in student["cells"]
                   if c["metadata"].get("nbgrader", {}).get("grade")), source.name
        assert len(cells) > 3
    for chapter in chapter_documents():
        page = (html / f"{chapter}.html").read_text()
        assert "_downloads/" in page and ".ipynb" in page, f"{chapter}: no student notebook link"
