"""Mutation testing of the problem sets: how many single-point bugs do the tests catch?

For every problem set, each reference solution region (the code a student
writes, between ``### BEGIN SOLUTION`` and ``### END SOLUTION``) is mutated one
point at a time:

* ``binop``: a swapped binary operator (``+``/``-``, ``*``/``/``, ``@`` -> ``*``, ...);
* ``compare``: a swapped comparison (``==``/``!=``, ``<``/``<=``, ``in``/``not in``, ...);
* ``drop-T``: a dropped transpose (``W.T`` -> ``W``);
* ``aug-assign``: an accumulation turned into an assignment (``+=`` -> ``=``);
* ``off-by-one``: an index or slice bound, a ``range`` stop or a compared
  constant moved by one;
* ``activation``: ``tanh`` and ``sigmoid`` swapped;
* ``axis``: a reduction along the wrong axis (``axis=0`` <-> ``axis=1``, ``-1`` -> ``0``).

Every mutant is handed in as a submission and autograded by nbgrader exactly
as a student's notebook would be (visible and hidden tests), in a temporary
copy of the course. A mutant is *killed* when it scores less than the full
autograded marks. The report gives, per problem set, the number of mutants,
killed and surviving ones (with a one-line description of each survivor), the
kill rate, and the autograding time per notebook.

Usage (from the repository root; several minutes per problem set on 2 cores)::

    .venv/bin/python benchmarks/mutation_kill_rate.py                  # all problem sets
    .venv/bin/python benchmarks/mutation_kill_rate.py ps2_rnn_forward --workers 2
    .venv/bin/python benchmarks/mutation_kill_rate.py --list           # mutants only, no grading
"""

from __future__ import annotations

import argparse
import ast
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "tests"))

import assignments_pipeline as pipeline  # noqa: E402

_BINOP_SWAPS = {
    ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult,
    ast.MatMult: ast.Mult, ast.FloorDiv: ast.Div, ast.Pow: ast.Mult, ast.Mod: ast.FloorDiv,
}
_COMPARE_SWAPS = {
    ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE,
    ast.GtE: ast.Gt, ast.In: ast.NotIn, ast.NotIn: ast.In, ast.Is: ast.IsNot, ast.IsNot: ast.Is,
}
_COMPARE_SYMBOLS = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">",
                    ast.GtE: ">=", ast.In: "in", ast.NotIn: "not in", ast.Is: "is",
                    ast.IsNot: "is not"}
_SYMBOLS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.MatMult: "@",
            ast.FloorDiv: "//", ast.Pow: "**", ast.Mod: "%"}


@dataclass(frozen=True)
class Mutant:
    """One single-point change to one solution cell."""

    ps: str
    cell: str
    line: int
    kind: str
    description: str
    source: str  # the whole mutated cell


@dataclass
class Outcome:
    mutant: Mutant
    score: float
    killed: bool
    seconds: float | None


@dataclass
class ProblemSetReport:
    ps: str
    full_marks: float
    reference_seconds: float | None
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def killed(self) -> int:
        return sum(o.killed for o in self.outcomes)

    @property
    def kill_rate(self) -> float:
        return self.killed / len(self.outcomes) if self.outcomes else float("nan")


# --------------------------------------------------------------------------- mutation sites


def solution_lines(cell_source: str) -> set[int]:
    """1-based line numbers (in the marker-free answer) that lie inside solution regions."""
    lines, inside, number = set(), False, 0
    for raw in cell_source.split("\n"):
        stripped = raw.strip()
        if stripped == "### BEGIN SOLUTION":
            inside = True
            continue
        if stripped == "### END SOLUTION":
            inside = False
            continue
        number += 1
        if inside:
            lines.add(number)
    return lines


def _replace(tree: ast.AST, target: ast.AST, new: ast.AST) -> None:
    """Put ``new`` where ``target`` is in its parent."""
    for parent in ast.walk(tree):
        for name, value in ast.iter_fields(parent):
            if value is target:
                setattr(parent, name, new)
                return
            if isinstance(value, list):
                for i, item in enumerate(value):
                    if item is target:
                        value[i] = new
                        return
    raise ValueError("node not found in tree")


def _plus(expr: ast.expr, amount: int) -> ast.expr:
    op = ast.Add() if amount > 0 else ast.Sub()
    return ast.BinOp(left=expr, op=op, right=ast.Constant(abs(amount)))


def _shifted_constant(node: ast.Constant) -> ast.Constant:
    return ast.Constant(node.value - 1 if node.value < 0 else node.value + 1)


def _is_int_constant(node) -> bool:
    return (isinstance(node, ast.Constant) and isinstance(node.value, int)
            and not isinstance(node.value, bool))


def _call_name(node: ast.Call) -> str:
    func = node.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        return f"{func.value.id}.{func.attr}"
    return ""


# A mutation: (kind, label, apply(tree, node)) for a node found by its walk index.
Mutation = tuple[str, str, Callable[[ast.AST, ast.AST], None]]


def mutations_of(node: ast.AST, subscript_parts: set[int]) -> Iterator[Mutation]:
    """Every single-point mutation applicable to ``node``."""
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOP_SWAPS:
        new_op = _BINOP_SWAPS[type(node.op)]

        def swap(tree, n, new_op=new_op):
            n.op = new_op()
        yield "binop", f"{_SYMBOLS[type(node.op)]} -> {_SYMBOLS[new_op]}", swap
    if isinstance(node, ast.Compare):
        for position, op in enumerate(node.ops):
            if type(op) in _COMPARE_SWAPS:
                new_op = _COMPARE_SWAPS[type(op)]

                def swap_compare(tree, n, position=position, new_op=new_op):
                    n.ops[position] = new_op()
                yield ("compare", f"{_COMPARE_SYMBOLS[type(op)]} -> {_COMPARE_SYMBOLS[new_op]}",
                       swap_compare)
    if isinstance(node, ast.AugAssign):
        def assign(tree, n):
            _replace(tree, n, ast.Assign(targets=[n.target], value=n.value, lineno=n.lineno))
        yield "aug-assign", f"{_SYMBOLS.get(type(node.op), '?')}= -> =", assign
    if isinstance(node, ast.Attribute) and node.attr == "T" and isinstance(node.ctx, ast.Load):
        def drop(tree, n):
            _replace(tree, n, n.value)
        yield "drop-T", ".T dropped", drop
    if id(node) in subscript_parts:
        if _is_int_constant(node):
            def shift(tree, n):
                _replace(tree, n, _shifted_constant(n))
            yield "off-by-one", "index moved by one", shift
    if isinstance(node, ast.Slice):
        for bound in ("lower", "upper"):
            value = getattr(node, bound)
            if value is not None and not _is_int_constant(value):
                def widen(tree, n, bound=bound):
                    setattr(n, bound, _plus(getattr(n, bound), 1))
                yield "off-by-one", f"slice {bound} bound + 1", widen
    if isinstance(node, ast.Call) and _call_name(node) == "range" and node.args:
        stop = 1 if len(node.args) >= 2 else 0

        def shorten(tree, n, stop=stop):
            n.args[stop] = _plus(n.args[stop], -1)
        yield "off-by-one", "range stop - 1", shorten
    if isinstance(node, ast.Compare) and any(_is_int_constant(c) for c in node.comparators):
        def shift_compared(tree, n):
            n.comparators = [_shifted_constant(c) if _is_int_constant(c) else c
                             for c in n.comparators]
        yield "off-by-one", "compared constant moved by one", shift_compared
    if isinstance(node, ast.Call):
        name = _call_name(node)
        if name in {"np.tanh", "torch.tanh"}:
            module = name.split(".")[0]

            def to_sigmoid(tree, n, module=module):
                if module == "torch":
                    n.func = ast.Attribute(value=ast.Name("torch"), attr="sigmoid")
                else:  # 1 / (1 + exp(-x)), spelled out: sigmoid may not exist in the notebook
                    _replace(tree, n, ast.BinOp(
                        left=ast.Constant(1.0), op=ast.Div(),
                        right=ast.BinOp(left=ast.Constant(1.0), op=ast.Add(), right=ast.Call(
                            func=ast.Attribute(value=ast.Name("np"), attr="exp"),
                            args=[ast.UnaryOp(op=ast.USub(), operand=n.args[0])],
                            keywords=[]))))
            yield "activation", "tanh -> sigmoid", to_sigmoid
        if name in {"sigmoid", "torch.sigmoid"}:
            def to_tanh(tree, n, name=name):
                module = "torch" if name.startswith("torch") else "np"
                n.func = ast.Attribute(value=ast.Name(module), attr="tanh")
            yield "activation", "sigmoid -> tanh", to_tanh
        for keyword in node.keywords:
            if keyword.arg in {"axis", "dim"} and _is_int_constant(keyword.value):
                old = keyword.value.value
                new = {0: 1, 1: 0}.get(old, 0)

                def reaxis(tree, n, arg=keyword.arg, new=new):
                    for kw in n.keywords:
                        if kw.arg == arg:
                            kw.value = ast.Constant(new)
                yield "axis", f"{keyword.arg}={old} -> {keyword.arg}={new}", reaxis


def _subscript_parts(tree: ast.AST) -> set[int]:
    """ids of the index expressions of subscripts (constants in them may be shifted)."""
    parts = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript):
            for inner in ast.walk(node.slice):
                if not isinstance(inner, ast.Slice):
                    parts.add(id(inner))
    return parts


def _snippet(node: ast.AST, limit: int = 70) -> str:
    text = ast.unparse(node).replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def mutants_of_cell(ps: str, cell: str, instructor_source: str, answer: str) -> list[Mutant]:
    """Every distinct single-point mutant of one solution cell."""
    lines = solution_lines(instructor_source)
    original_tree = ast.parse(answer)
    baseline = ast.unparse(original_tree)
    found, seen = [], {baseline}
    nodes = list(ast.walk(original_tree))
    parts = _subscript_parts(original_tree)
    source_lines = answer.split("\n")
    for index, node in enumerate(nodes):
        if getattr(node, "lineno", None) not in lines:
            continue
        for kind, label, apply in mutations_of(node, parts):
            tree = ast.parse(answer)
            target = list(ast.walk(tree))[index]
            before = _snippet(target)
            apply(tree, target)
            ast.fix_missing_locations(tree)
            mutated = ast.unparse(tree)
            if mutated in seen:
                continue
            seen.add(mutated)
            context = source_lines[node.lineno - 1].strip()
            if len(context) > 70:
                context = context[:67] + "..."
            where = f" at `{before}`" if before != context else ""
            description = f"{cell} line {node.lineno}: {kind} ({label}){where} in `{context}`"
            found.append(Mutant(ps, cell, node.lineno, kind, description, mutated))
    return found


def mutants_of(ps: str) -> list[Mutant]:
    source_nb = pipeline.source_notebook(pipeline.COURSE_DIR, ps)
    answers = pipeline.reference_answers(source_nb)
    mutants = []
    for cell in source_nb["cells"]:
        meta = pipeline.nbgrader_meta(cell)
        if meta.get("solution") and cell["cell_type"] == "code":
            instructor = cell["source"] if isinstance(cell["source"], str) else "".join(
                cell["source"])
            mutants += mutants_of_cell(ps, meta["grade_id"], instructor, answers[meta["grade_id"]])
    return mutants


# --------------------------------------------------------------------------- grading


def _notebook_seconds(course: Path, student: str, ps: str) -> float | None:
    """Autograding time of one notebook: from its folder's creation to the notebook's write."""
    folder = course / "autograded" / student / ps
    notebook = folder / f"{ps}.ipynb"
    if not notebook.exists():
        return None
    return notebook.stat().st_mtime - folder.stat().st_mtime


def grade_chunk(ps: str, mutants: list[Mutant], root: Path, with_reference: bool,
                progress: tqdm, lock: threading.Lock) -> tuple[dict, dict, Path]:
    """Autograde a chunk of mutants (and optionally the reference) in its own course copy."""
    course = pipeline.make_course_copy(root, [ps])
    release_nb = pipeline.load(pipeline.generate(course, ps))
    answers = pipeline.reference_answers(pipeline.source_notebook(course, ps))
    students = []
    if with_reference:
        pipeline.write_submission(course, "reference", ps,
                                  pipeline.fill_answers(release_nb, answers))
        students.append("reference")
    for i, mutant in enumerate(mutants):
        student = f"mutant{i:04d}"
        pipeline.write_submission(course, student, ps, pipeline.fill_answers(
            release_nb, {**answers, mutant.cell: mutant.source}))
        students.append(student)
    command = [str(Path(sys.executable).parent / "nbgrader"), "autograde", ps, "--force"]
    process = subprocess.Popen(command, cwd=course, env=pipeline.nbgrader_env(),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    reported = 0
    while process.poll() is None:
        time.sleep(1.0)
        done = len(list((course / "autograded").glob(f"*/{ps}/{ps}.ipynb")))
        if done > reported:
            with lock:
                progress.update(done - reported)
            reported = done
    with lock:
        progress.update(len(students) - reported)
    scores = pipeline.read_scores(course, ps, students)
    seconds = {s: _notebook_seconds(course, s, ps) for s in students}
    return scores, seconds, course


def run_problem_set(ps: str, workers: int, root: Path, limit: int | None) -> ProblemSetReport:
    mutants = mutants_of(ps)
    if limit is not None:
        mutants = mutants[:limit]
    chunks = [mutants[i::workers] for i in range(workers)]
    lock = threading.Lock()
    progress = tqdm(total=len(mutants) + 1, desc=ps, unit="notebook")
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(grade_chunk, ps, chunk, root / f"{ps}-{i}", i == 0, progress, lock)
                   for i, chunk in enumerate(chunks)]
        results = [f.result() for f in futures]
    progress.close()
    reference = results[0][0]["reference"]
    if not reference.graded or reference.auto < reference.auto_max:
        raise RuntimeError(f"{ps}: the reference solution scored {reference.auto}/"
                           f"{reference.auto_max}; fix it before measuring mutants")
    report = ProblemSetReport(ps, reference.auto_max, results[0][1]["reference"])
    for chunk, (scores, seconds, _) in zip(chunks, results, strict=True):
        for i, mutant in enumerate(chunk):
            student = f"mutant{i:04d}"
            score = scores[student]
            killed = (not score.graded) or score.auto < reference.auto_max - 1e-9
            report.outcomes.append(Outcome(mutant, score.auto, killed, seconds[student]))
    report.outcomes.sort(key=lambda o: (o.mutant.cell, o.mutant.line, o.mutant.description))
    return report


# --------------------------------------------------------------------------- reporting


def print_report(report: ProblemSetReport) -> None:
    n = len(report.outcomes)
    survivors = [o for o in report.outcomes if not o.killed]
    print(f"\n{report.ps}: {n} mutants, {report.killed} killed, {len(survivors)} survived, "
          f"kill rate {100 * report.kill_rate:.1f}%")
    times = [o.seconds for o in report.outcomes if o.seconds is not None]
    if times:
        ref = (f"{report.reference_seconds:.1f} s" if report.reference_seconds is not None
               else "n/a")
        print(f"  autograding time per notebook: reference {ref}; mutants mean "
              f"{statistics.mean(times):.1f} s (median {statistics.median(times):.1f}, "
              f"min {min(times):.1f}, max {max(times):.1f})")
    by_kind: dict[str, list[Outcome]] = {}
    for outcome in report.outcomes:
        by_kind.setdefault(outcome.mutant.kind, []).append(outcome)
    print("  by kind: " + ", ".join(
        f"{kind} {sum(o.killed for o in items)}/{len(items)}"
        for kind, items in sorted(by_kind.items())))
    for outcome in survivors:
        print(f"  survived: {outcome.mutant.description}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("problem_sets", nargs="*", default=list(pipeline.PROBLEM_SETS))
    parser.add_argument("--workers", type=int, default=2,
                        help="course copies graded in parallel (default 2)")
    parser.add_argument("--limit", type=int, default=None,
                        help="grade only the first N mutants of each problem set")
    parser.add_argument("--list", action="store_true", help="list the mutants, grade nothing")
    parser.add_argument("--json", type=Path, default=None,
                        help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    for ps in args.problem_sets:
        if ps not in pipeline.PROBLEM_SETS:
            parser.error(f"problem_sets: expected one of {', '.join(pipeline.PROBLEM_SETS)}, "
                         f"got {ps!r}")
    if args.workers < 1:
        parser.error(f"--workers: expected a positive number, got {args.workers}")
    if args.list:
        for ps in args.problem_sets:
            mutants = mutants_of(ps)
            print(f"{ps}: {len(mutants)} mutants")
            for mutant in mutants:
                print(f"  {mutant.description}")
        return 0
    reports = []
    with tempfile.TemporaryDirectory(prefix="mutants-") as tmp:
        for ps in args.problem_sets:
            start = time.perf_counter()
            report = run_problem_set(ps, args.workers, Path(tmp), args.limit)
            print_report(report)
            print(f"  wall time {time.perf_counter() - start:.0f} s")
            reports.append(report)
    print("\nsummary")
    print(f"{'problem set':<22}{'mutants':>8}{'killed':>8}{'survived':>10}{'kill rate':>11}")
    for r in reports:
        print(f"{r.ps:<22}{len(r.outcomes):>8}{r.killed:>8}{len(r.outcomes) - r.killed:>10}"
              f"{100 * r.kill_rate:>10.1f}%")
    if args.json:
        args.json.write_text(json.dumps([{
            "problem_set": r.ps, "mutants": len(r.outcomes), "killed": r.killed,
            "kill_rate": r.kill_rate, "reference_seconds": r.reference_seconds,
            "survivors": [o.mutant.description for o in r.outcomes if not o.killed],
            "seconds": [o.seconds for o in r.outcomes],
        } for r in reports], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
