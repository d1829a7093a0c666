"""Helpers that run the nbgrader pipeline on a temporary copy of the course.

Used by ``tests/test_assignments.py`` and ``benchmarks/mutation_kill_rate.py``.
Nothing here writes inside the repository: every command runs in a copy made
with :func:`make_course_copy`, with the virtualenv's ``bin/`` on ``PATH``
(nbgrader calls the ``alembic`` executable).
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
COURSE_DIR = REPO_ROOT / "assignments"
# Every problem set in source/ (the authoring script keeps them in the same order).
PROBLEM_SETS = tuple(sorted(p.name for p in (COURSE_DIR / "source").iterdir() if p.is_dir()))
COURSE_ID = "rnn-course"
_SOLUTION_MARKERS = re.compile(r"^\s*### (BEGIN|END) SOLUTION\s*$")
_MARK_SCHEME = re.compile(r"=== BEGIN MARK SCHEME ===.*?=== END MARK SCHEME ===", re.S)


def nbgrader_env() -> dict[str, str]:
    """The environment for nbgrader: this interpreter's bin/ first on PATH, one thread."""
    env = dict(os.environ)
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    env["OMP_NUM_THREADS"] = "1"
    env["MKL_NUM_THREADS"] = "1"
    env.pop("JPY_PARENT_PID", None)
    return env


def make_course_copy(destination: Path, problem_sets=PROBLEM_SETS) -> Path:
    """Copy the course (config, grading helpers, chosen source notebooks) to ``destination``."""
    destination.mkdir(parents=True, exist_ok=False)
    shutil.copy2(COURSE_DIR / "nbgrader_config.py", destination / "nbgrader_config.py")
    shutil.copytree(COURSE_DIR / "grading", destination / "grading",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for ps in problem_sets:
        shutil.copytree(COURSE_DIR / "source" / ps, destination / "source" / ps,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    return destination


def run_nbgrader(course: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run ``nbgrader <args>`` in the course directory and return the completed process."""
    command = [str(Path(sys.executable).parent / "nbgrader"), *args]
    result = subprocess.run(command, cwd=course, env=nbgrader_env(), capture_output=True,
                            text=True, check=False)
    if check and result.returncode != 0:
        raise RuntimeError(
            f"nbgrader {' '.join(args)} exited with {result.returncode}:\n"
            f"{result.stdout[-3000:]}\n{result.stderr[-6000:]}"
        )
    return result


def generate(course: Path, ps: str) -> Path:
    """``nbgrader generate_assignment``; returns the released notebook's path."""
    run_nbgrader(course, "generate_assignment", ps, "--force")
    return course / "release" / ps / f"{ps}.ipynb"


def load(path: Path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def source_notebook(course: Path, ps: str) -> dict:
    return load(course / "source" / ps / f"{ps}.ipynb")


def _text(cell: dict) -> str:
    source = cell["source"]
    return source if isinstance(source, str) else "".join(source)


def nbgrader_meta(cell: dict) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def reference_answers(source_nb: dict) -> dict[str, str]:
    """grade_id -> the instructor's answer as a student would type it.

    Code: the solution cell without the BEGIN/END SOLUTION lines. Written
    answers: the model answer without its mark scheme.
    """
    answers = {}
    for cell in source_nb["cells"]:
        meta = nbgrader_meta(cell)
        if not meta.get("solution"):
            continue
        text = _text(cell)
        if cell["cell_type"] == "code":
            text = "\n".join(line for line in text.split("\n")
                             if not _SOLUTION_MARKERS.match(line))
        else:
            text = _MARK_SCHEME.sub("", text).strip()
        answers[meta["grade_id"]] = text
    return answers


def solution_cells(release_nb: dict) -> dict[str, dict]:
    return {nbgrader_meta(c)["grade_id"]: c for c in release_nb["cells"]
            if nbgrader_meta(c).get("solution")}


def fill_answers(release_nb: dict, answers: dict[str, str]) -> dict:
    """A copy of the released notebook with the given solution cells filled in."""
    nb = copy.deepcopy(release_nb)
    cells = solution_cells(nb)
    unknown = sorted(set(answers) - set(cells))
    if unknown:
        raise KeyError(f"answers: no solution cells named {unknown} in the notebook")
    for grade_id, text in answers.items():
        cells[grade_id]["source"] = text
    return nb


@dataclass(frozen=True)
class Patch:
    """A buggy submission: the reference with one textual change in one solution cell."""

    name: str
    description: str
    cell: str
    old: str
    new: str
    count: int = 1  # how many occurrences of ``old`` to replace (all must exist)


def apply_patch(answers: dict[str, str], patch: Patch) -> dict[str, str]:
    """The answers with ``patch`` applied; fails loudly if the text is not found."""
    text = answers[patch.cell]
    found = text.count(patch.old)
    if found < patch.count:
        raise ValueError(
            f"patch {patch.name}: expected {patch.count} occurrence(s) of {patch.old!r} in "
            f"cell {patch.cell}, found {found}"
        )
    patched = dict(answers)
    patched[patch.cell] = text.replace(patch.old, patch.new, patch.count)
    return patched


def write_submission(course: Path, student: str, ps: str, nb: dict) -> Path:
    path = course / "submitted" / student / ps / f"{ps}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nb, indent=1), encoding="utf-8")
    return path


def autograde(course: Path, ps: str, students: list[str] | None = None) -> float:
    """Autograde (``--force``) the given students, or all; returns the wall time in s."""
    start = time.perf_counter()
    args = ["autograde", ps, "--force"]
    if students is not None and len(students) == 1:
        args += ["--student", students[0]]
    run_nbgrader(course, *args, check=False)
    return time.perf_counter() - start


@dataclass
class Score:
    """Autograded points of one submission, per test cell and in total."""

    auto: float
    auto_max: float
    cells: dict[str, float] = field(default_factory=dict)
    graded: bool = True


def read_scores(course: Path, ps: str, students: list[str]) -> dict[str, Score]:
    """Scores through nbgrader's Gradebook API (code grade cells only)."""
    from nbgrader.api import Gradebook, MissingEntry

    scores = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", COURSE_ID) as gb:
        for student in students:
            try:
                submission = gb.find_submission_notebook(ps, ps, student)
            except MissingEntry:
                scores[student] = Score(0.0, 0.0, graded=False)
                continue
            cells = {g.name: float(g.auto_score or 0.0) for g in submission.grades
                     if g.cell_type == "code"}
            maximum = sum(float(g.max_score) for g in submission.grades if g.cell_type == "code")
            autograded = (course / "autograded" / student / ps / f"{ps}.ipynb").exists()
            scores[student] = Score(sum(cells.values()), maximum, cells, graded=autograded)
    return scores


def validate(course: Path, notebook: Path) -> bool:
    """True when ``nbgrader validate`` reports that every test passes."""
    result = run_nbgrader(course, "validate", str(notebook), check=False)
    return validation_verdict(result.stdout + result.stderr)


def validation_verdict(output: str) -> bool:
    """Read ``nbgrader validate``'s verdict from its output (its exit code is 0 either way),
    or the summary line of ``course.sh validate`` (``python -m grader validate``)."""
    summaries = re.findall(r"^\S+\.ipynb: (all \d+ .*checks.* pass|FAILED: )", output, re.M)
    if summaries:
        return all(s.startswith("all ") for s in summaries)
    if "Success! Your notebook passes all the tests." in output:
        return True
    if "VALIDATION FAILED" in output or "failed" in output.lower():
        return False
    raise RuntimeError(f"nbgrader validate gave no verdict:\n{output[-4000:]}")
