"""Build the instructor notebooks in ``assignments/source`` from their authoring files.

Each problem set is written as a plain Python file in percent format
(``assignments/authoring/<ps>.py``): cells are separated by ``# %%`` lines that
also carry the cell's nbgrader role, so the source stays reviewable and
lint-clean while the committed artifact is the ``.ipynb`` nbgrader reads::

    # %% [markdown]                          plain markdown (instructions)
    # %% [markdown] answer id=q1 points=2     manually graded written answer
    # %% locked id=setup                     read-only code (setup, provided code)
    # %% solution id=transduce               autograded answer (BEGIN/END SOLUTION)
    # %% test id=test_transduce points=1     locked autograder test cell
    # %%                                     ordinary code cell (scratch work)

Markdown lines are written as comments (``# text``). Lines before the first
``# %%`` (the file's own header) are not part of the notebook.

Usage (from the repository root)::

    python assignments/authoring/build_notebooks.py            # rebuild every notebook
    python assignments/authoring/build_notebooks.py --check    # fail if any is stale
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat

AUTHORING_DIR = Path(__file__).resolve().parent
COURSE_DIR = AUTHORING_DIR.parent
PROBLEM_SETS = (
    "ps1_state_machines",
    "ps2_rnn_forward",
    "ps3_bptt",
    "ps4_gating",
    "ps5_language_model",
    "ps6_seq2seq",
)
_MARKER = re.compile(r"^# %%(?: \[(?P<type>markdown)\])?(?P<rest>.*)$")
_ROLES = {"answer", "locked", "solution", "test"}


@dataclass
class CellSpec:
    """One parsed cell: its type, nbgrader role, options and source lines."""

    cell_type: str
    role: str | None
    options: dict[str, str]
    lines: list[str]
    line_number: int


def _parse_marker(match: re.Match, line_number: int, path: Path) -> CellSpec:
    words = match.group("rest").split()
    role = None
    if words and words[0] in _ROLES:
        role = words.pop(0)
    options = {}
    for word in words:
        key, sep, value = word.partition("=")
        if not sep:
            raise ValueError(f"{path}:{line_number}: expected key=value in cell marker, got {word!r}")
        options[key] = value
    cell_type = "markdown" if match.group("type") else "code"
    if role in {"solution", "test", "locked"} and cell_type == "markdown" and role != "locked":
        raise ValueError(f"{path}:{line_number}: a {role} cell must be a code cell")
    if role == "answer" and cell_type != "markdown":
        raise ValueError(f"{path}:{line_number}: an answer cell must be a markdown cell")
    if role and "id" not in options:
        raise ValueError(f"{path}:{line_number}: a {role} cell needs id=<grade_id>")
    if role in {"answer", "test"} and "points" not in options:
        raise ValueError(f"{path}:{line_number}: a {role} cell needs points=<number>")
    return CellSpec(cell_type, role, options, [], line_number)


def parse(path: Path) -> list[CellSpec]:
    """Split an authoring file into cell specifications."""
    cells: list[CellSpec] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        match = _MARKER.match(line)
        if match:
            cells.append(_parse_marker(match, number, path))
        elif cells:
            cells[-1].lines.append(line)
    if not cells:
        raise ValueError(f"{path}: no '# %%' cell markers found")
    return cells


def _markdown_text(spec: CellSpec, path: Path) -> str:
    out = []
    for offset, line in enumerate(spec.lines, start=1):
        if line == "#":
            out.append("")
        elif line.startswith("# "):
            out.append(line[2:])
        elif not line.strip():
            out.append("")
        else:
            raise ValueError(
                f"{path}:{spec.line_number + offset}: markdown lines must start with '# ', "
                f"got {line!r}"
            )
    return "\n".join(out).strip("\n")


def _nbgrader_metadata(spec: CellSpec) -> dict:
    role = spec.role
    meta = {
        "grade": role in {"answer", "test"},
        "grade_id": spec.options["id"],
        "locked": role in {"locked", "test"},
        "schema_version": 3,
        "solution": role in {"answer", "solution"},
        "task": False,
    }
    if meta["grade"]:
        meta["points"] = float(spec.options["points"])
    return meta


def build_notebook(path: Path) -> nbformat.NotebookNode:
    """The nbgrader instructor notebook described by one authoring file."""
    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python",
                       "name": "python3"},
        "language_info": {"name": "python", "version": "3.11"},
    }
    seen_ids: set[str] = set()
    for index, spec in enumerate(parse(path)):
        if spec.cell_type == "markdown":
            cell = nbformat.v4.new_markdown_cell(_markdown_text(spec, path))
        else:
            cell = nbformat.v4.new_code_cell("\n".join(spec.lines).strip("\n"))
        if spec.role:
            grade_id = spec.options["id"]
            if grade_id in seen_ids:
                raise ValueError(f"{path}:{spec.line_number}: duplicate id {grade_id!r}")
            seen_ids.add(grade_id)
            cell.metadata["nbgrader"] = _nbgrader_metadata(spec)
            if spec.role in {"locked", "test"}:
                cell.metadata["editable"] = False
                cell.metadata["deletable"] = False
            cell.id = grade_id.replace("_", "-")
        else:
            cell.id = f"cell-{index:02d}"
        nb.cells.append(cell)
    nb.metadata["course_build"] = {
        "source": f"assignments/authoring/{path.name}",
        "cells_sha256": cells_digest(nb),
    }
    nbformat.validate(nb)
    return nb


def cells_digest(nb: dict) -> str:
    """Digest of the cells, stored at build time to notice later hand edits."""
    return hashlib.sha256(json.dumps(nb["cells"], sort_keys=True).encode()).hexdigest()


def hand_edited(text: str) -> bool:
    """True if a committed notebook's cells no longer match the digest of its build."""
    nb = json.loads(text)
    recorded = nb.get("metadata", {}).get("course_build", {}).get("cells_sha256")
    return recorded != cells_digest(nb)


def notebook_text(nb: nbformat.NotebookNode) -> str:
    """Stable serialisation (sorted keys, one-space indent, trailing newline)."""
    return json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def target_path(ps: str) -> Path:
    return COURSE_DIR / "source" / ps / f"{ps}.ipynb"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="do not write; exit 1 if a committed notebook differs from its build")
    parser.add_argument("--force", action="store_true",
                        help="overwrite notebooks that were edited by hand since their build")
    parser.add_argument("problem_sets", nargs="*", default=list(PROBLEM_SETS))
    args = parser.parse_args(argv)
    stale, refused = [], []
    for ps in args.problem_sets:
        if ps not in PROBLEM_SETS:
            parser.error(f"problem_sets: expected one of {', '.join(PROBLEM_SETS)}, got {ps!r}")
        text = notebook_text(build_notebook(AUTHORING_DIR / f"{ps}.py"))
        target = target_path(ps)
        current = target.read_text(encoding="utf-8") if target.exists() else None
        if current == text:
            continue
        if args.check:
            stale.append(ps)
            continue
        if current is not None and hand_edited(current) and not args.force:
            refused.append(ps)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        print(f"wrote {target.relative_to(COURSE_DIR.parent)}")
    if refused:
        print(
            "not overwritten, edited by hand since their last build (move the edits into "
            "assignments/authoring/<ps>.py, or pass --force to discard them): " + ", ".join(refused)
        )
    if stale:
        print("stale notebooks (rebuild with build_notebooks.py): " + ", ".join(stale))
    return 1 if stale or refused else 0


if __name__ == "__main__":
    sys.exit(main())
