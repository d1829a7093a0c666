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
* ``axis``: a reduction along the wrong axis (``axis=0`` <-> ``axis=1``, ``-1`` -> ``0``);
* ``tuple-swap``: in a returned tuple (a cache nested in it included), two variables swapped,
  or one put in another's place (``return H, (X, H_prev, ...)`` -> ``(H_prev, X, ...)``,
  ``(X, X, ...)``): the bugs only a backward fed that cache shows;
* ``drop-append``: an ``x.append(...)`` statement dropped;
* ``drop-call``: any other call statement dropped (``clip_grad_norm_(...)``, ``optimizer.step()``);
* ``drop-term``: one term of a ``+``/``-`` dropped (``offset + i * step`` -> ``i * step``, a
  forgotten bias);
* ``batch-size``: a batch size constant moved by one (``begin_state(1)`` -> ``begin_state(2)``,
  ``batch_size=...``).

Every mutant is handed in as a submission and autograded by nbgrader exactly
as a student's notebook would be (visible and hidden tests), in a temporary
copy of the course. With ``--forked`` the same cells run with the same scoring
in a child forked from a worker that has imported numpy, torch and the helpers
once (no kernel start per notebook: about ten times faster; on ps1 and ps2 it
kills exactly the mutants nbgrader kills). A mutant is *killed* when it scores
less than the full autograded marks. The report gives, per problem set, the
number of mutants, killed, equivalent and surviving ones (with a stable id and
a one-line description of each survivor), the kill rate, the mutants that only
a visible test kills, and the autograding time per notebook.

Equivalent mutants (no correct test can tell them from the reference) are listed,
each with its reason, in ``benchmarks/equivalent_mutants.json`` (keyed by mutant
id); a surviving listed mutant is reported apart and left out of the kill
rate's denominator. Reports are written as JSON after every problem set, so a
run can be split (``--json`` per subset) and merged (``--merge A.json B.json``).

Usage (from the repository root)::

    .venv/bin/python benchmarks/mutation_kill_rate.py --forked         # all problem sets
    .venv/bin/python benchmarks/mutation_kill_rate.py ps2_rnn_forward --workers 2
    .venv/bin/python benchmarks/mutation_kill_rate.py ps5_language_model --forked --json ps5.json
    .venv/bin/python benchmarks/mutation_kill_rate.py --merge ps1-4.json ps5.json ps6.json
    .venv/bin/python benchmarks/mutation_kill_rate.py --list --kinds tuple-swap  # no grading
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
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

DEFAULT_EQUIVALENTS = REPO_ROOT / "benchmarks" / "equivalent_mutants.json"

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

    @property
    def id(self) -> str:
        """A stable name: the same change to the same solution cell always has the same id."""
        digest = hashlib.sha1(f"{self.ps}\0{self.cell}\0{self.source}".encode()).hexdigest()
        return f"{self.ps.split('_')[0]}-{digest[:10]}"


@dataclass
class Outcome:
    mutant: Mutant
    score: float
    killed: bool
    seconds: float | None
    lost: tuple[str, ...] = ()  # the test cells that scored less than the reference's


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


def _element_name(node: ast.AST) -> str | None:
    return node.id if isinstance(node, ast.Name) else None


def tuple_mutations(node: ast.Tuple) -> Iterator[Mutation]:
    """A returned tuple (or one nested in it, e.g. a cache) with two of its variables swapped,
    or one variable put in another's place (so it appears twice)."""
    names = [(i, _element_name(e)) for i, e in enumerate(node.elts)]
    names = [(i, name) for i, name in names if name is not None]
    for a, (i, first) in enumerate(names):
        for j, second in names[a + 1:]:
            if first == second:
                continue

            def swap(tree, n, i=i, j=j):
                n.elts[i], n.elts[j] = n.elts[j], n.elts[i]
            yield "tuple-swap", f"{first} <-> {second}", swap

            def first_twice(tree, n, i=i, j=j):
                n.elts[j] = ast.Name(id=n.elts[i].id, ctx=ast.Load())
            yield "tuple-swap", f"{first} in place of {second}", first_twice

            def second_twice(tree, n, i=i, j=j):
                n.elts[i] = ast.Name(id=n.elts[j].id, ctx=ast.Load())
            yield "tuple-swap", f"{second} in place of {first}", second_twice


def _returned_tuples(tree: ast.AST) -> set[int]:
    """ids of the tuples a ``return`` gives back, nested ones included (e.g. a cache)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Return) and node.value is not None:
            stack = [node.value]
            while stack:
                item = stack.pop()
                if isinstance(item, ast.Tuple):
                    found.add(id(item))
                    stack.extend(item.elts)
    return found


def _is_batch_size_site(node: ast.AST) -> Iterator[tuple[str, ast.Constant]]:
    """(where, constant) for the integer constants that set a batch size in ``node``."""
    if isinstance(node, ast.Call):
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if "batch" in name or "begin_state" in name:
            for arg in node.args:
                if _is_int_constant(arg):
                    yield f"{name}({arg.value})", arg
        for keyword in node.keywords:
            if keyword.arg and "batch" in keyword.arg and _is_int_constant(keyword.value):
                yield f"{keyword.arg}={keyword.value.value}", keyword.value
    if isinstance(node, ast.Assign) and _is_int_constant(node.value) and any(
            isinstance(t, ast.Name) and "batch" in t.id for t in node.targets):
        yield f"{node.targets[0].id} = {node.value.value}", node.value


def statement_mutations(node: ast.AST, returned: set[int]) -> Iterator[Mutation]:
    """The operators added for issue 15: returned tuples, dropped statements and terms,
    batch sizes."""
    if isinstance(node, ast.Tuple) and id(node) in returned:
        yield from tuple_mutations(node)
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        func = node.value.func
        is_append = isinstance(func, ast.Attribute) and func.attr == "append"

        def drop(tree, n):
            _replace(tree, n, ast.Pass())
        if is_append:
            yield "drop-append", ".append(...) dropped", drop
        else:
            yield "drop-call", "call statement dropped", drop
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Sub) and not (
            isinstance(node.left, ast.Constant) and isinstance(node.right, ast.Constant)):
        symbol = _SYMBOLS[type(node.op)]

        def keep_right(tree, n):
            right = n.right if isinstance(n.op, ast.Add) else ast.UnaryOp(
                op=ast.USub(), operand=n.right)
            _replace(tree, n, right)
        yield "drop-term", f"left term of {symbol} dropped", keep_right

        def keep_left(tree, n):
            _replace(tree, n, n.left)
        yield "drop-term", f"right term of {symbol} dropped", keep_left
    for k, (where, _) in enumerate(_is_batch_size_site(node)):
        def grow(tree, n, k=k):
            _, constant = list(_is_batch_size_site(n))[k]
            constant.value += 1
        yield "batch-size", f"{where} -> +1", grow


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
    returned = _returned_tuples(original_tree)
    source_lines = answer.split("\n")
    for index, node in enumerate(nodes):
        if getattr(node, "lineno", None) not in lines:
            continue
        for kind, label, apply in [*mutations_of(node, parts),
                                   *statement_mutations(node, returned)]:
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


# --------------------------------------------------------------------------- forked grading
#
# ``--forked``: the same notebook, cells and scoring as plain ``nbgrader autograde`` (a test
# cell earns its points unless it raises; a number as its last value is partial credit), but
# each submission runs in a child forked from a worker that has already imported numpy,
# torch, rnn_lib and the course's helpers, so a notebook costs its cells only, not a kernel
# start and those imports. Every child is a fresh copy of the worker (nothing a mutant does
# reaches the next one) and is killed after --cell-timeout seconds per notebook.


def notebook_program(ps: str) -> list[dict]:
    """The source notebook's code cells in order: kind, grade id, source, points."""
    program = []
    for cell in pipeline.source_notebook(pipeline.COURSE_DIR, ps)["cells"]:
        if cell["cell_type"] != "code":
            continue
        meta = pipeline.nbgrader_meta(cell)
        source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        kind = ("solution" if meta.get("solution") else
                "test" if meta.get("grade") else "code")
        program.append({"kind": kind, "id": meta.get("grade_id", ""), "source": source,
                        "points": float(meta.get("points", 0) or 0)})
    return program


def _run_notebook(program: list[dict], answers: dict[str, str]) -> dict[str, float]:
    """Run one submission in this (forked) process; the points of every test cell."""
    import math as _math

    namespace: dict = {"__name__": "__main__"}
    scores = {}
    for cell in program:
        source = answers.get(cell["id"], cell["source"]) if cell["kind"] == "solution" \
            else cell["source"]
        try:
            tree = ast.parse(source)
            last = None
            if tree.body and isinstance(tree.body[-1], ast.Expr):
                last = ast.Expression(tree.body.pop().value)
            exec(compile(tree, cell["id"] or "cell", "exec"), namespace)
            value = eval(compile(last, cell["id"] or "cell", "eval"), namespace) \
                if last is not None else None
        except BaseException:  # noqa: BLE001 - any error costs the cell, as in nbgrader
            if cell["kind"] == "test":
                scores[cell["id"]] = 0.0
            continue
        if cell["kind"] == "test":
            points = cell["points"]
            if isinstance(value, int | float) and not isinstance(value, bool) \
                    and _math.isfinite(value):
                scores[cell["id"]] = max(0.0, min(float(value), points))
            else:
                scores[cell["id"]] = points
    return scores


def fork_worker(spec_path: Path) -> int:
    """``--fork-worker SPEC``: grade every submission of SPEC, one forked child each."""
    import signal

    spec = json.loads(spec_path.read_text(encoding="utf-8"))
    sys.path.insert(0, spec["grading_dir"])
    import importlib

    import numpy  # noqa: F401 - imported once, before the forks
    import torch

    torch.set_num_threads(1)
    torch.optim.Adam(torch.nn.Linear(1, 1).parameters())  # its first use imports torch._dynamo
    import rnn_lib  # noqa: F401

    importlib.import_module(f"course_checks.{spec['ps'].split('_')[0]}")
    results = {}
    for student, answers in spec["submissions"].items():
        out = spec_path.with_name(f"{student}.json")
        start = time.perf_counter()
        pid = os.fork()
        if pid == 0:  # the child: a fresh copy of this worker
            try:
                os.chdir(spec["workdir"])
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, 1)
                os.dup2(devnull, 2)
                scores = _run_notebook(spec["program"], answers)
                out.write_text(json.dumps(scores), encoding="utf-8")
            finally:
                os._exit(0)
        deadline = start + spec["timeout"]
        while True:
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.perf_counter() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                break
            time.sleep(0.02)
        seconds = time.perf_counter() - start
        scores = json.loads(out.read_text(encoding="utf-8")) if out.exists() else None
        results[student] = {"scores": scores, "seconds": seconds}
        print(json.dumps({"student": student}), flush=True)
    spec_path.with_name("results.json").write_text(json.dumps(results), encoding="utf-8")
    return 0


def grade_chunk_forked(ps: str, mutants: list[Mutant], root: Path, with_reference: bool,
                       progress: tqdm, lock: threading.Lock,
                       timeout: float) -> tuple[dict, dict, Path]:
    """:func:`grade_chunk` with forked children instead of nbgrader kernels."""
    root.mkdir(parents=True)
    (root / "work").mkdir()
    program = notebook_program(ps)
    answers = pipeline.reference_answers(pipeline.source_notebook(pipeline.COURSE_DIR, ps))
    submissions = {}
    if with_reference:
        submissions["reference"] = answers
    for i, mutant in enumerate(mutants):
        submissions[f"mutant{i:04d}"] = {**answers, mutant.cell: mutant.source}
    spec = root / "spec.json"
    spec.write_text(json.dumps({
        "ps": ps, "grading_dir": str(pipeline.COURSE_DIR / "grading"), "program": program,
        "submissions": submissions, "workdir": str(root / "work"), "timeout": timeout,
    }), encoding="utf-8")
    process = subprocess.Popen([sys.executable, __file__, "--fork-worker", str(spec)],
                               cwd=root / "work", env=pipeline.nbgrader_env(),
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    for _ in process.stdout:
        with lock:
            progress.update(1)
    process.wait()
    results = json.loads((root / "results.json").read_text(encoding="utf-8"))
    maximum = sum(c["points"] for c in program if c["kind"] == "test")
    scores, seconds = {}, {}
    for student, result in results.items():
        cells = result["scores"]
        scores[student] = (pipeline.Score(0.0, maximum, graded=False) if cells is None else
                           pipeline.Score(sum(cells.values()), maximum, cells))
        seconds[student] = result["seconds"]
    return scores, seconds, root


def run_problem_set(ps: str, workers: int, root: Path, limit: int | None,
                    kinds: set[str] | None = None, forked: bool = False,
                    timeout: float = 600.0) -> ProblemSetReport:
    mutants = [m for m in mutants_of(ps) if kinds is None or m.kind in kinds]
    if limit is not None:
        mutants = mutants[:limit]
    chunks = [mutants[i::workers] for i in range(workers)]
    lock = threading.Lock()
    progress = tqdm(total=len(mutants) + 1, desc=ps, unit="notebook")
    with ThreadPoolExecutor(max_workers=workers) as pool:
        if forked:
            futures = [pool.submit(grade_chunk_forked, ps, chunk, root / f"{ps}-{i}", i == 0,
                                   progress, lock, timeout) for i, chunk in enumerate(chunks)]
        else:
            futures = [pool.submit(grade_chunk, ps, chunk, root / f"{ps}-{i}", i == 0,
                                   progress, lock) for i, chunk in enumerate(chunks)]
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
            lost = tuple(sorted(cell for cell, points in reference.cells.items()
                                if score.cells.get(cell, 0.0) < points - 1e-9))
            report.outcomes.append(Outcome(mutant, score.auto, killed, seconds[student], lost))
    report.outcomes.sort(key=lambda o: (o.mutant.cell, o.mutant.line, o.mutant.description))
    return report


# --------------------------------------------------------------------------- reporting
#
# Reports are plain data (one dict per problem set, see ``as_record``), written to JSON after
# every problem set, so that runs split over several processes or machines can be merged
# (``--merge``) and the equivalent-mutant list applied afterwards.


def as_record(report: ProblemSetReport, wall_seconds: float) -> dict:
    return {
        "problem_set": report.ps, "full_marks": report.full_marks,
        "reference_seconds": report.reference_seconds, "wall_seconds": wall_seconds,
        "outcomes": [{"id": o.mutant.id, "cell": o.mutant.cell, "line": o.mutant.line,
                      "kind": o.mutant.kind, "description": o.mutant.description,
                      "score": o.score, "killed": o.killed, "seconds": o.seconds,
                      "lost": list(o.lost)}
                     for o in report.outcomes],
    }


def load_equivalents(path: Path | None) -> dict[str, dict]:
    """The reviewed allow-list: mutant id -> {"description", "reason"}; a reason is required."""
    if path is None or not path.exists():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    entries = data.get("equivalent_mutants", data)
    for mutant_id, entry in entries.items():
        if not isinstance(entry, dict) or not str(entry.get("reason", "")).strip():
            raise ValueError(f"{path}: equivalent mutant {mutant_id} has no reason")
    return entries


def summarise(record: dict, equivalents: dict[str, dict]) -> dict:
    """Counts for one problem set. A surviving mutant on the allow-list (with a reason) is
    reported as equivalent and left out of the denominator; a listed mutant that was killed
    counts as killed (its entry is stale)."""
    outcomes = record["outcomes"]
    killed = [o for o in outcomes if o["killed"]]
    equivalent = [o for o in outcomes if not o["killed"] and o["id"] in equivalents]
    survivors = [o for o in outcomes if not o["killed"] and o["id"] not in equivalents]
    stale = [o for o in killed if o["id"] in equivalents]
    denominator = len(outcomes) - len(equivalent)
    visible_only = [o for o in killed if o.get("lost") is not None and o["lost"]
                    and not any(cell.endswith("_hidden") for cell in o["lost"])]
    return {"problem_set": record["problem_set"], "mutants": len(outcomes),
            "killed": len(killed), "equivalent": equivalent, "survivors": survivors,
            "stale": stale, "visible_only": visible_only,
            "kill_rate": len(killed) / denominator if denominator else float("nan")}


def print_report(record: dict, equivalents: dict[str, dict]) -> None:
    summary = summarise(record, equivalents)
    n, survivors = summary["mutants"], summary["survivors"]
    print(f"\n{record['problem_set']}: {n} mutants, {summary['killed']} killed, "
          f"{len(summary['equivalent'])} equivalent, {len(survivors)} survived, "
          f"kill rate {100 * summary['kill_rate']:.1f}% (of non-equivalent mutants)")
    times = [o["seconds"] for o in record["outcomes"] if o["seconds"] is not None]
    if times:
        ref = record["reference_seconds"]
        ref = f"{ref:.1f} s" if ref is not None else "n/a"
        print(f"  autograding time per notebook: reference {ref}; mutants mean "
              f"{statistics.mean(times):.1f} s (median {statistics.median(times):.1f}, "
              f"min {min(times):.1f}, max {max(times):.1f})")
    by_kind: dict[str, list[dict]] = {}
    for outcome in record["outcomes"]:
        by_kind.setdefault(outcome["kind"], []).append(outcome)
    print("  by kind: " + ", ".join(
        f"{kind} {sum(o['killed'] for o in items)}/{len(items)}"
        for kind, items in sorted(by_kind.items())))
    for outcome in survivors:
        print(f"  survived [{outcome['id']}]: {outcome['description']}")
    for outcome in summary["visible_only"]:
        print(f"  killed by visible tests only [{outcome['id']}]: {outcome['description']} "
              f"(lost {', '.join(outcome['lost'])})")
    for outcome in summary["equivalent"]:
        print(f"  equivalent [{outcome['id']}]: {outcome['description']}\n"
              f"      because {equivalents[outcome['id']]['reason']}")
    for outcome in summary["stale"]:
        print(f"  note: [{outcome['id']}] is listed as equivalent but was killed")


def print_summary(records: list[dict], equivalents: dict[str, dict]) -> None:
    print("\nsummary")
    print(f"{'problem set':<22}{'mutants':>8}{'killed':>8}{'equiv.':>8}{'survived':>10}"
          f"{'kill rate':>11}")
    totals = {"mutants": 0, "killed": 0, "equivalent": 0, "survived": 0}
    for record in records:
        s = summarise(record, equivalents)
        row = {"mutants": s["mutants"], "killed": s["killed"],
               "equivalent": len(s["equivalent"]), "survived": len(s["survivors"])}
        for key in totals:
            totals[key] += row[key]
        print(f"{s['problem_set']:<22}{row['mutants']:>8}{row['killed']:>8}"
              f"{row['equivalent']:>8}{row['survived']:>10}{100 * s['kill_rate']:>10.1f}%")
    if len(records) > 1:
        denominator = totals["mutants"] - totals["equivalent"]
        rate = 100 * totals["killed"] / denominator if denominator else float("nan")
        print(f"{'all':<22}{totals['mutants']:>8}{totals['killed']:>8}{totals['equivalent']:>8}"
              f"{totals['survived']:>10}{rate:>10.1f}%")


def _git_commit() -> str:
    result = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True,
                            text=True, check=False)
    return result.stdout.strip() or "unknown"


def write_json(path: Path, records: list[dict], equivalents: dict[str, dict]) -> None:
    summaries = [summarise(r, equivalents) for r in records]
    path.write_text(json.dumps({
        "version": 2, "commit": _git_commit(), "problem_sets": records,
        "summary": [{"problem_set": s["problem_set"], "mutants": s["mutants"],
                     "killed": s["killed"], "equivalent": len(s["equivalent"]),
                     "survived": len(s["survivors"]), "kill_rate": s["kill_rate"],
                     "survivors": [f"[{o['id']}] {o['description']}" for o in s["survivors"]],
                     "killed_by_visible_tests_only": [f"[{o['id']}] {o['description']}"
                                                      for o in s["visible_only"]]}
                    for s in summaries],
    }, indent=1), encoding="utf-8")


def read_json(path: Path) -> list[dict]:
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or data.get("version") != 2:
        raise ValueError(f"{path}: not a report of this tool (version 2)")
    return data["problem_sets"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("problem_sets", nargs="*", default=list(pipeline.PROBLEM_SETS))
    parser.add_argument("--workers", type=int, default=2,
                        help="course copies graded in parallel (default 2)")
    parser.add_argument("--limit", type=int, default=None,
                        help="grade only the first N mutants of each problem set")
    parser.add_argument("--kinds", default=None,
                        help="comma-separated mutation kinds to keep (default: all)")
    parser.add_argument("--list", action="store_true", help="list the mutants, grade nothing")
    parser.add_argument("--json", type=Path, default=None,
                        help="write the results to this JSON file (after every problem set)")
    parser.add_argument("--equivalents", type=Path, default=DEFAULT_EQUIVALENTS,
                        help="reviewed allow-list of equivalent mutants (default: "
                             "benchmarks/equivalent_mutants.json)")
    parser.add_argument("--forked", action="store_true",
                        help="grade each mutant in a child forked from a warm worker (same "
                             "cells and scoring as plain nbgrader, no kernel start; much "
                             "faster) instead of through nbgrader autograde")
    parser.add_argument("--timeout", type=float, default=600.0,
                        help="--forked: seconds per notebook before its child is killed")
    parser.add_argument("--fork-worker", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--merge", type=Path, nargs="+", default=None, metavar="JSON",
                        help="grade nothing: print the tables of earlier --json reports "
                             "(e.g. of runs split by problem set), with the current allow-list")
    args = parser.parse_args(argv)
    if args.fork_worker is not None:
        return fork_worker(args.fork_worker)
    for ps in args.problem_sets:
        if ps not in pipeline.PROBLEM_SETS:
            parser.error(f"problem_sets: expected one of {', '.join(pipeline.PROBLEM_SETS)}, "
                         f"got {ps!r}")
    if args.workers < 1:
        parser.error(f"--workers: expected a positive number, got {args.workers}")
    kinds = set(args.kinds.split(",")) if args.kinds else None
    equivalents = load_equivalents(args.equivalents)
    if args.merge:
        records = sorted((record for path in args.merge for record in read_json(path)),
                         key=lambda record: record["problem_set"])
        for record in records:
            print_report(record, equivalents)
        print_summary(records, equivalents)
        if args.json:
            write_json(args.json, records, equivalents)
        return 0
    if args.list:
        for ps in args.problem_sets:
            mutants = [m for m in mutants_of(ps) if kinds is None or m.kind in kinds]
            print(f"{ps}: {len(mutants)} mutants")
            for mutant in mutants:
                print(f"  [{mutant.id}] {mutant.description}")
        return 0
    records = []
    with tempfile.TemporaryDirectory(prefix="mutants-") as tmp:
        for ps in args.problem_sets:
            start = time.perf_counter()
            report = run_problem_set(ps, args.workers, Path(tmp), args.limit, kinds,
                                     args.forked, args.timeout)
            records.append(as_record(report, time.perf_counter() - start))
            print_report(records[-1], equivalents)
            print(f"  wall time {records[-1]['wall_seconds']:.0f} s", flush=True)
            if args.json:
                write_json(args.json, records, equivalents)
    print_summary(records, equivalents)
    return 0


if __name__ == "__main__":
    sys.exit(main())
