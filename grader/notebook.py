"""The notebook that is actually graded, rebuilt from trusted sources.

The student's file is trusted for exactly one thing: the content of the cells
they were asked to write. Everything else comes from the instructor's side:

- cell order and unlabelled cells: the source notebook (``source/``) and, for
  cells the student added, their position in the student's file;
- test cells, read-only cells and task descriptions: the gradebook
  (``source_cell`` table, hidden tests included), whatever the student's copy says;
- every cell's role, points and nbgrader metadata: the gradebook.

So a test cell the student edited or deleted is restored, metadata they
changed (a test turned into a non-graded cell, points raised, a solution cell
marked as a test) has no effect, and each of these is reported as a tamper
flag. A solution cell the student deleted is graded as unanswered.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import re
from typing import Any

import nbformat

ROLE_TEST = "test"  # autograded test cell
ROLE_SOLUTION = "solution"  # code the student writes, not graded by itself
ROLE_MANUAL = "manual"  # answer graded by hand (markdown or code)
ROLE_TASK = "task"  # task description graded by hand
ROLE_LOCKED = "locked"  # read-only instructor code or text
ROLE_FREE = "free"  # not tracked by nbgrader (student-added or unlabelled)

BEGIN_HIDDEN = "BEGIN HIDDEN TESTS"
END_HIDDEN = "END HIDDEN TESTS"
BEGIN_SOLUTION = "BEGIN SOLUTION"
END_SOLUTION = "END SOLUTION"
MISSING_SOLUTION = "# (this solution cell is missing from the submission)\n"


class MalformedNotebook(ValueError):
    """A submitted notebook that cannot be read as a notebook at all."""


@dataclasses.dataclass
class CellInfo:
    """Role and provenance of one cell of the graded notebook."""

    grade_id: str | None
    role: str
    cell_type: str
    max_score: float | None = None
    hidden: bool = False  # a test cell with a hidden-test region
    answered: bool = True  # solution/manual cells: differs from the release stub

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class NotebookModel:
    """What the gradebook and the source notebook say about one notebook."""

    name: str
    source_cells: list[Any]  # the instructor's cells, in order (solutions included)
    roles: dict[str, str]
    cell_types: dict[str, str]
    gradebook_source: dict[str, str]  # hidden tests in, solutions replaced by stubs
    max_scores: dict[str, float]

    def release_source(self, grade_id: str) -> str:
        """What the student received for a cell (hidden tests removed)."""
        return remove_region(self.gradebook_source[grade_id], BEGIN_HIDDEN, END_HIDDEN)

    def metadata(self, grade_id: str) -> dict:
        role = self.roles[grade_id]
        meta = {"grade_id": grade_id, "grade": role in (ROLE_TEST, ROLE_MANUAL, ROLE_TASK),
                "solution": role in (ROLE_SOLUTION, ROLE_MANUAL),
                "locked": role in (ROLE_TEST, ROLE_LOCKED, ROLE_TASK),
                "task": role == ROLE_TASK, "schema_version": 3}
        if grade_id in self.max_scores:
            meta["points"] = self.max_scores[grade_id]
        return meta

    def test_ids(self) -> list[str]:
        return [g for g, r in self.roles.items() if r == ROLE_TEST]


def normalise(source: str) -> str:
    """Source compared modulo trailing whitespace (editors add and strip it)."""
    return "\n".join(line.rstrip() for line in source.strip("\n").splitlines()).strip()


def remove_region(source: str, begin: str, end: str) -> str:
    """Drop every ``### BEGIN ...`` .. ``### END ...`` region, as nbgrader does."""
    kept, inside = [], False
    for line in source.splitlines(keepends=True):
        if begin in line:
            inside = True
        elif end in line and inside:
            inside = False
        elif not inside:
            kept.append(line)
    return "".join(kept)


def region_lines(source: str, begin: str, end: str) -> list[str]:
    """The lines strictly inside ``begin`` .. ``end`` regions."""
    lines, inside = [], False
    for line in source.splitlines():
        if begin in line:
            inside = True
        elif end in line:
            inside = False
        elif inside:
            lines.append(line)
    return lines


def grade_id_of(cell: Any) -> str | None:
    meta = cell.get("metadata", {}).get("nbgrader")
    if isinstance(meta, dict) and isinstance(meta.get("grade_id"), str):
        return meta["grade_id"]
    return None


def _claims_nbgrader_role(cell: Any) -> bool:
    meta = cell.get("metadata", {}).get("nbgrader")
    return isinstance(meta, dict) and any(meta.get(k) for k in ("grade", "solution", "locked",
                                                                 "task"))


def load_model(gradebook: Any, assignment: str, notebook: str, source_path: str) -> NotebookModel:
    """Collect the trusted description of one notebook (gradebook + source notebook)."""
    nb_row = gradebook.find_notebook(notebook, assignment)
    roles: dict[str, str] = {}
    cell_types: dict[str, str] = {}
    max_scores: dict[str, float] = {}
    solution_ids = {c.name for c in nb_row.solution_cells}
    for cell in nb_row.grade_cells:
        roles[cell.name] = ROLE_MANUAL if cell.name in solution_ids else ROLE_TEST
        cell_types[cell.name] = cell.cell_type
        max_scores[cell.name] = float(cell.max_score)
    for cell in nb_row.task_cells:
        roles[cell.name] = ROLE_TASK
        cell_types[cell.name] = "markdown"
        max_scores[cell.name] = float(cell.max_score)
    for cell in nb_row.solution_cells:
        roles.setdefault(cell.name, ROLE_SOLUTION)
    gradebook_source = {}
    for cell in nb_row.source_cells:
        gradebook_source[cell.name] = cell.source or ""
        cell_types.setdefault(cell.name, cell.cell_type)
        roles.setdefault(cell.name, ROLE_LOCKED)
    source = nbformat.read(source_path, as_version=4)
    return NotebookModel(notebook, list(source.cells), roles, cell_types, gradebook_source,
                         max_scores)


MAX_CELLS = 2000


def read_submission(path: str) -> Any:
    """Read a (staged) student's notebook; :class:`MalformedNotebook` if it is not one.

    Outputs are the student's and never used for grading: they are dropped right after
    the bounded parse, so that a notebook full of output costs the grader one parse and
    nothing more (nbformat then reads only sources and metadata).
    """
    from grader.staging import UntrustedData, loads

    with open(path, "rb") as f:  # a staged copy: a regular file within the size limits
        raw = f.read()
    if raw.count(b'"cell_type"') > MAX_CELLS:  # before the parse: a million tiny cells cost GBs
        raise MalformedNotebook(f"more than the {MAX_CELLS} cells a notebook may have")
    try:
        node = loads(raw, what="the notebook")
    except UntrustedData as error:
        raise MalformedNotebook(str(error).removeprefix("malformed: ")) from None
    del raw
    if not isinstance(node, dict) or not isinstance(node.get("cells"), list):
        raise MalformedNotebook("JSON, but not a notebook (no list of cells)")
    if len(node["cells"]) > MAX_CELLS:
        raise MalformedNotebook(f"{len(node['cells'])} cells, more than the {MAX_CELLS} a "
                                f"notebook may have")
    for cell in node["cells"]:
        if isinstance(cell, dict) and cell.get("cell_type") == "code":
            cell["outputs"], cell["execution_count"] = [], None
        elif isinstance(cell, dict):
            cell.pop("attachments", None)
    try:
        nb = nbformat.reads(json.dumps(node), as_version=4)
    except Exception as error:  # noqa: BLE001 - any nbformat failure means malformed
        raise MalformedNotebook(f"not a readable notebook ({type(error).__name__})") from None
    for cell in nb.cells:
        if not isinstance(cell.get("source"), str) or cell.get("cell_type") not in (
                "code", "markdown", "raw"):
            raise MalformedNotebook("a cell has no source text or an unknown type")
    return nb


def _new_cell(cell_type: str, source: str, metadata: dict | None = None) -> Any:
    maker = nbformat.v4.new_code_cell if cell_type == "code" else (
        nbformat.v4.new_markdown_cell if cell_type == "markdown" else nbformat.v4.new_raw_cell)
    cell = maker(source=source)
    if metadata:
        cell.metadata = copy.deepcopy(metadata)
    cell.pop("id", None)
    return cell


def _trusted_cell(model: NotebookModel, grade_id: str) -> Any:
    return _new_cell(model.cell_types[grade_id], model.gradebook_source[grade_id],
                     {"nbgrader": model.metadata(grade_id)})


def build_reference(model: NotebookModel) -> tuple[Any, list[CellInfo]]:
    """The instructor's notebook as graded: solutions from the source, the rest from the gradebook."""
    cells, infos = [], []
    for cell in model.source_cells:
        grade_id = grade_id_of(cell)
        if grade_id in model.roles:
            role = model.roles[grade_id]
            if role in (ROLE_SOLUTION, ROLE_MANUAL):
                new = _new_cell(cell.cell_type, cell.source, {"nbgrader": model.metadata(grade_id)})
            else:
                new = _trusted_cell(model, grade_id)
            info = _info(model, grade_id, answered=True)
        else:
            new = _new_cell(cell.cell_type, cell.source)
            info = CellInfo(None, ROLE_FREE, cell.cell_type)
        cells.append(new)
        infos.append(info)
    return _notebook(cells), infos


def _info(model: NotebookModel, grade_id: str, answered: bool) -> CellInfo:
    role = model.roles[grade_id]
    hidden = role == ROLE_TEST and BEGIN_HIDDEN in model.gradebook_source.get(grade_id, "")
    return CellInfo(grade_id, role, model.cell_types[grade_id], model.max_scores.get(grade_id),
                    hidden, answered)


def _notebook(cells: list) -> Any:
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                  "language": "python"},
                   "language_info": {"name": "python"}}
    nb.cells = cells
    nb.nbformat_minor = 4  # cells are rebuilt without ids (ids arrived in 4.5)
    return nb


def _metadata_changes(model: NotebookModel, grade_id: str, cell: Any) -> list[str]:
    """How the student's copy of a tracked cell misdescribes it."""
    changes = []
    if cell.get("cell_type") != model.cell_types[grade_id]:
        changes.append(f"cell type {cell.get('cell_type')!r} instead of "
                       f"{model.cell_types[grade_id]!r}")
    meta = cell.get("metadata", {}).get("nbgrader", {})
    expected = model.metadata(grade_id)
    for key in ("grade", "solution", "locked"):
        if bool(meta.get(key, False)) != expected[key]:
            changes.append(f"{key}={meta.get(key)!r}")
    if "points" in expected:
        try:
            if float(meta.get("points", -1)) != expected["points"]:
                changes.append(f"points={meta.get('points')!r}")
        except (TypeError, ValueError):
            changes.append(f"points={meta.get('points')!r}")
    return changes


def build_submission(model: NotebookModel, student: Any) -> tuple[Any, list[CellInfo], list[dict]]:
    """Merge a student's notebook into the trusted skeleton.

    Returns the notebook to run, one :class:`CellInfo` per cell and the tamper
    flags (``{"kind": "tamper", "detail": ...}``).
    """
    flags: list[dict] = []

    def flag(detail: str) -> None:
        flags.append({"kind": "tamper", "detail": detail})

    by_id: dict[str, Any] = {}
    extras: dict[str | None, list] = {None: []}
    anchor: str | None = None
    for cell in student.cells:
        grade_id = grade_id_of(cell)
        if grade_id in model.roles and grade_id not in by_id:
            by_id[grade_id] = cell
            anchor = grade_id
            extras.setdefault(anchor, [])
            continue
        if grade_id in model.roles:
            flag(f"cell id {grade_id!r} appears more than once (the first copy was used)")
        elif grade_id is not None and _claims_nbgrader_role(cell):
            flag(f"a cell claims the unknown nbgrader id {grade_id!r} (treated as an ordinary cell)")
        if cell.cell_type in ("code", "markdown"):
            extras.setdefault(anchor, []).append(_new_cell(cell.cell_type, cell.source))

    cells: list = []
    infos: list[CellInfo] = []

    def add_free(items: list) -> None:
        for item in items:
            cells.append(item)
            infos.append(CellInfo(None, ROLE_FREE, item.cell_type))

    add_free(extras.get(None, []))
    for source_cell in model.source_cells:
        grade_id = grade_id_of(source_cell)
        if grade_id not in model.roles:
            continue  # unlabelled source cells: the student's copies are among the extras
        role = model.roles[grade_id]
        mine = by_id.get(grade_id)
        if mine is not None:
            changes = _metadata_changes(model, grade_id, mine)
            if changes:
                flag(f"changed the metadata of cell {grade_id!r}: {', '.join(changes)} (ignored)")
        if role in (ROLE_SOLUTION, ROLE_MANUAL):
            if mine is not None and mine.cell_type == model.cell_types[grade_id]:
                source = mine.source
            else:
                source = (model.gradebook_source.get(grade_id, MISSING_SOLUTION)
                          if role == ROLE_MANUAL else MISSING_SOLUTION)
            answered = mine is not None and normalise(source) != normalise(
                model.gradebook_source.get(grade_id, ""))
            cells.append(_new_cell(model.cell_types[grade_id], source,
                                   {"nbgrader": model.metadata(grade_id)}))
        else:
            if mine is None:
                if role in (ROLE_TEST, ROLE_TASK):
                    flag(f"deleted the {'test' if role == ROLE_TEST else 'task'} cell "
                         f"{grade_id!r} (restored)")
                else:
                    flag(f"deleted the read-only cell {grade_id!r} (restored)")
            elif normalise(mine.source) != normalise(model.release_source(grade_id)):
                what = "test" if role == ROLE_TEST else "read-only"
                flag(f"edited the {what} cell {grade_id!r} (restored)")
            cells.append(_trusted_cell(model, grade_id))
            answered = True
        infos.append(_info(model, grade_id, answered))
        add_free(extras.get(grade_id, []))
    return _notebook(cells), infos, flags


def code_sources(nb: Any) -> list[str | None]:
    """Per cell: the code to run, or None for markdown/raw cells."""
    return [cell.source if cell.cell_type == "code" else None for cell in nb.cells]


def attach_outputs(nb: Any, runs: list) -> Any:
    """Put each cell's outputs and execution count into the notebook (for the record)."""
    count = 0
    for cell, run in zip(nb.cells, runs, strict=True):
        if cell.cell_type != "code":
            continue
        if run.status not in ("not-run",):
            count += 1
            cell.execution_count = count
        cell.outputs = [nbformat.from_dict(o) for o in run.outputs]
    return nb


def student_code(nb: Any, infos: list[CellInfo]) -> list[tuple[int, str]]:
    """(index, source) of every code cell whose content the student controls."""
    return [(i, cell.source) for i, (cell, info) in enumerate(zip(nb.cells, infos, strict=True))
            if cell.cell_type == "code" and info.role in (ROLE_SOLUTION, ROLE_MANUAL, ROLE_FREE)]


def notebook_names(directory: str) -> list[str]:
    """Notebook names (without .ipynb) directly inside a directory."""
    if not os.path.isdir(directory):
        return []
    return sorted(f[: -len(".ipynb")] for f in os.listdir(directory)
                  if f.endswith(".ipynb") and not f.startswith("."))


SAFE_NAME = re.compile(r"^[A-Za-z0-9_.@+-]{1,128}$")
