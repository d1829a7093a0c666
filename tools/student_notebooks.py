"""The student notebooks of every problem set, for publishing with the book.

Applies nbgrader's own release preprocessors (the list ``nbgrader
generate_assignment`` runs, without the gradebook step) to each source notebook
in ``assignments/source/<ps>/<ps>.ipynb``: locked cells, solutions replaced by
stubs, outputs cleared, checksums, hidden tests and mark schemes removed. The
result is the notebook a student fetches, byte for byte the cells of
``make release`` (the cell checksums are computed the same way).

``tools/build_book.py`` writes them into ``book/_student/`` before the build and
each chapter's assignment box links to its problem set with the ``{download}``
role, so the published book carries the notebooks and works offline.

    python tools/student_notebooks.py OUT_DIR     # write OUT_DIR/<ps>.ipynb
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
STUDENT_DIRNAME = "_student"  # under book/; generated, never committed


def _preprocessors() -> list:
    from nbgrader.preprocessors import (
        CheckCellMetadata,
        ClearHiddenTests,
        ClearMarkScheme,
        ClearOutput,
        ClearSolutions,
        ComputeChecksums,
        LockCells,
    )

    # generate_assignment's list minus IncludeHeaderFooter (no header/footer configured),
    # InstantiateTests (no test templates) and SaveCells (the gradebook).
    return [LockCells(), ClearSolutions(), ClearOutput(), CheckCellMetadata(),
            ComputeChecksums(), ClearHiddenTests(), ClearMarkScheme(), ComputeChecksums(),
            CheckCellMetadata()]


def student_notebook(source: Path):
    """The released version of one source notebook (an nbformat notebook)."""
    import nbformat

    nb = nbformat.read(source, as_version=4)
    resources: dict = {}
    for preprocessor in _preprocessors():
        nb, resources = preprocessor.preprocess(nb, resources)
    return nb


def write_student_notebooks(course: Path, out_dir: Path) -> list[Path]:
    """Write ``out_dir/<ps>.ipynb`` for every problem set of ``course/source``."""
    import nbformat

    sources = sorted((course / "source").glob("*/*.ipynb"))
    if not sources:
        raise FileNotFoundError(f"course: expected notebooks in {course / 'source'}/<ps>/, "
                                f"found none")
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for source in sources:
        target = out_dir / source.name
        text = nbformat.writes(student_notebook(source))
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            target.write_text(text, encoding="utf-8")  # unchanged files keep their mtime
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--course", type=Path, default=REPO_ROOT / "assignments")
    args = parser.parse_args(argv)
    for path in write_student_notebooks(args.course, args.out_dir):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
