"""Copies of Python packages with some functions gutted, for the sandbox.

Two uses, one mechanism (rewrite the module's syntax tree, keep every name so
imports still work, replace the bodies that must not run):

- :func:`tripwire_package` makes a copy of ``rnn_lib`` in which the reference
  implementations of the functions being graded (the names the assignment's
  solution cells define, plus the private helpers only they use) raise
  :class:`grader.checks.ReferenceUnavailable` and report the attempt. Inside the
  sandbox this copy is mounted over the real package, so the reference code is
  not merely detected when called: it is not there to be read or called.
- :func:`kernel_side_helpers` makes a copy of the course's test-helper package
  keeping only what the kernel side of a test needs: each module declares it
  next to the code with :mod:`grader.declare` (``@kernel_side`` on steps (a)
  and (b), ``@verdict(cases=...)`` on step (c)). The kernel-side functions and
  classes, and the module-level code they use, keep their code; every other
  function and class (oracles, expected values, verdicts) keeps only its name
  and raises. A module that declares nothing keeps no code at all. In the copy
  each ``@verdict`` becomes a stub that records the student's runs (its last
  positional argument, or the one at ``runs_at``; the other positional
  arguments are then passed on from the reference run) with
  :func:`grader.checks.course_check`; the grading process then calls the real
  function on the decoded runs and on cases it builds itself. Hidden tests
  written as ``check_x(x_cases(), run_x(f, ...), points=2)`` thus become
  tamper-resistant without changing a line.
"""

from __future__ import annotations

import ast
import compileall
import hashlib
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

import nbformat

RUNTIME_IMPORT = "_grader_reference_unavailable"


def graded_names(source_notebook: str) -> set[str]:
    """Top-level functions and classes that the solution cells of a notebook define."""
    nb = nbformat.read(source_notebook, as_version=4)
    names: set[str] = set()
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type != "code" or not meta.get("solution"):
            continue
        code = "\n".join(line for line in cell.source.splitlines()
                         if not line.lstrip().startswith(("%", "!")))
        try:
            tree = ast.parse(code)
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names.add(node.name)
    return names


def _top_level_defs(tree: ast.Module) -> dict[str, ast.AST]:
    return {node.name: node for node in tree.body
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)}


def _names_used(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _docstring(node: ast.AST) -> list[ast.stmt]:
    body = getattr(node, "body", [])
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None),
                                                              ast.Constant) \
            and isinstance(body[0].value.value, str):
        return [body[0]]
    return []


def _raise_call(function: str, label: str) -> ast.stmt:
    return ast.Expr(ast.Call(ast.Name(function, ast.Load()), [ast.Constant(label)], []))


def _gut_function(node: ast.FunctionDef | ast.AsyncFunctionDef, label: str, stub_call: str,
                  keep_doc: bool) -> None:
    node.body = (_docstring(node) if keep_doc else []) + [_raise_call(stub_call, label)]
    if not keep_doc:
        node.args = ast.arguments(posonlyargs=[], args=[], vararg=ast.arg("args"), kwonlyargs=[],
                                  kw_defaults=[], kwarg=ast.arg("kwargs"), defaults=[])
        node.decorator_list = []
        node.returns = None


def _gut_class(node: ast.ClassDef, label: str, stub_call: str, keep_doc: bool) -> None:
    if keep_doc:
        for item in node.body:
            if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                _gut_function(item, f"{label}.{item.name}", stub_call, keep_doc=True)
        return
    init = ast.parse(f"def __init__(self, *args, **kwargs):\n    {stub_call}({label!r})\n").body[0]
    node.body = [init]
    node.decorator_list = []
    node.keywords = []


def _insert_after_future(tree: ast.Module, statement: ast.stmt) -> None:
    index = 0
    for i, node in enumerate(tree.body):
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            index = i + 1
        elif i == 0 and _docstring(tree):
            index = max(index, 1)
    tree.body.insert(index, statement)


def _private_closure(defs: dict[str, ast.AST], tree: ast.Module, start: set[str]) -> set[str]:
    """``start`` plus private helpers referenced only from inside that set."""
    users: dict[str, set[str]] = {name: set() for name in defs}
    for name, node in defs.items():
        for used in _names_used(node) & set(defs):
            if used != name:
                users[used].add(name)
    module_level = set()
    for node in tree.body:
        if node not in defs.values():
            module_level |= _names_used(node)
    result = set(start)
    changed = True
    while changed:
        changed = False
        for name in defs:
            if (name not in result and name.startswith("_") and users[name]
                    and name not in module_level and users[name] <= result):
                result.add(name)
                changed = True
    return result


def _rewrite_tripwire(text: str, module: str, names: set[str]) -> tuple[str, list[str]]:
    tree = ast.parse(text)
    defs = _top_level_defs(tree)
    targets = _private_closure(defs, tree, set(defs) & names)
    if not targets:
        return text, []
    for name in sorted(targets):
        node = defs[name]
        label = f"{module}.{name}"
        if isinstance(node, ast.ClassDef):
            _gut_class(node, label, RUNTIME_IMPORT, keep_doc=True)
        else:
            _gut_function(node, label, RUNTIME_IMPORT, keep_doc=True)
    _insert_after_future(tree, ast.parse(
        f"from grader.checks import reference_unavailable as {RUNTIME_IMPORT}").body[0])
    return ast.unparse(ast.fix_missing_locations(tree)) + "\n", sorted(targets)


def _python_files(root: str) -> Iterable[Path]:
    for path in sorted(Path(root).rglob("*.py")):
        if "__pycache__" not in path.parts:
            yield path


def _module_name(root: str, package: str, path: Path) -> str:
    relative = path.relative_to(root).with_suffix("")
    parts = [package, *relative.parts]
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def tripwire_package(package_dir: str, names: set[str], out_dir: str) -> dict[str, list[str]]:
    """Copy a package to ``out_dir`` with the reference code of ``names`` gutted.

    Returns {module: [gutted names]}.
    """
    package = os.path.basename(os.path.normpath(package_dir))
    shutil.rmtree(out_dir, ignore_errors=True)
    shutil.copytree(package_dir, out_dir, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    gutted: dict[str, list[str]] = {}
    for path in _python_files(out_dir):
        module = _module_name(out_dir, package, path)
        text, done = _rewrite_tripwire(path.read_text(encoding="utf-8"), module, names)
        if done:
            path.write_text(text, encoding="utf-8")
            gutted[module] = done
    compileall.compile_dir(out_dir, quiet=1)
    return gutted


# --------------------------------------------------------------------------- course helpers

HELPER_STUB = "_grader_trusted_only"
VERDICT_STUB = "_grader_course_check"
HELPER_STUB_SOURCE = (
    f"def {HELPER_STUB}(name):\n"
    "    raise RuntimeError(f'{name} belongs to the trusted side of the tests and is not '\n"
    "                       'available in the notebook')\n"
)


def _decorator_name(node: ast.expr) -> str | None:
    target = node.func if isinstance(node, ast.Call) else node
    if isinstance(target, ast.Name):
        return target.id
    if isinstance(target, ast.Attribute):
        return target.attr
    return None


def _verdict_how(decorator: ast.expr, module: str, name: str) -> str | dict | None:
    """What ``@verdict(...)`` says: the cases function's name, None, or {"runs": i}."""
    if not isinstance(decorator, ast.Call):
        return None
    arguments = {k.arg: k.value for k in decorator.keywords}
    if decorator.args:
        arguments.setdefault("cases", decorator.args[0])
    cases, runs_at = arguments.get("cases"), arguments.get("runs_at")
    if runs_at is not None:
        if not isinstance(runs_at, ast.Constant) or not isinstance(runs_at.value, int):
            raise ValueError(f"{module}.{name}: @verdict(runs_at=...) must be a literal position")
        return {"runs": runs_at.value}
    if cases is None or (isinstance(cases, ast.Constant) and cases.value is None):
        return None
    if isinstance(cases, ast.Name):
        return cases.id
    raise ValueError(f"{module}.{name}: @verdict(cases=...) must name a function of the module")


def declarations(tree: ast.Module, module: str) -> tuple[set[str], dict[str, str | dict | None]]:
    """(kernel-side names, {verdict: how}) declared with :mod:`grader.declare`'s decorators."""
    defs = _top_level_defs(tree)
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id in (
                "__kernel__", "__verdicts__") for t in node.targets):
            raise ValueError(f"{module}: __kernel__/__verdicts__ lists are no longer read; "
                             f"declare each helper with @kernel_side or @verdict(cases=...) "
                             f"from grader.declare")
    kernel: set[str] = set()
    verdicts: dict[str, str | dict | None] = {}
    for name, node in defs.items():
        for decorator in node.decorator_list:
            kind = _decorator_name(decorator)
            if kind == "kernel_side":
                kernel.add(name)
            elif kind == "verdict":
                if not isinstance(node, ast.FunctionDef):
                    raise ValueError(f"{module}.{name}: @verdict applies to functions only")
                verdicts[name] = _verdict_how(decorator, module, name)
    both = kernel & set(verdicts)
    if both:
        raise ValueError(f"{module}: {sorted(both)} cannot be both @kernel_side and @verdict")
    unknown = sorted(how for how in verdicts.values() if isinstance(how, str) and how not in defs)
    if unknown:
        raise ValueError(f"{module}: @verdict(cases=...) names {unknown}, which the module "
                         f"does not define")
    return kernel, verdicts


def _recording_stub(node: ast.FunctionDef, module: str, how: str | dict | None) -> None:
    if isinstance(how, dict):
        call = (f"return {VERDICT_STUB}({module!r}, {node.name!r}, None, args, kwargs, "
                f"runs_at={how['runs']!r})")
    else:
        call = f"return {VERDICT_STUB}({module!r}, {node.name!r}, {how!r}, args, kwargs)"
    node.body = [ast.parse(call).body[0]]
    node.args = ast.arguments(posonlyargs=[], args=[], vararg=ast.arg("args"), kwonlyargs=[],
                              kw_defaults=[], kwarg=ast.arg("kwargs"), defaults=[])
    node.decorator_list = []
    node.returns = None


def _kernel_closure(defs: dict[str, ast.AST], tree: ast.Module, roots: set[str]) -> set[str]:
    keep = set(roots) & set(defs)
    for node in tree.body:
        if node not in defs.values():
            keep |= _names_used(node) & set(defs)
    frontier = list(keep)
    while frontier:
        name = frontier.pop()
        for used in _names_used(defs[name]) & set(defs):
            if used not in keep:
                keep.add(used)
                frontier.append(used)
    return keep


def _rewrite_helper(text: str, module: str) -> str:
    tree = ast.parse(text)
    defs = _top_level_defs(tree)
    kernel, verdicts = declarations(tree, module)
    keep = _kernel_closure(defs, tree, kernel) - set(verdicts)
    for name, node in defs.items():
        if name in keep:
            continue
        if name in verdicts and isinstance(node, ast.FunctionDef):
            _recording_stub(node, module, verdicts[name])
        elif isinstance(node, ast.ClassDef):
            _gut_class(node, f"{module}.{name}", HELPER_STUB, keep_doc=False)
        else:
            _gut_function(node, f"{module}.{name}", HELPER_STUB, keep_doc=False)
    if _docstring(tree):
        tree.body = tree.body[1:]  # it may describe the oracles; the kernel needs none of it
    _drop_unused_imports(tree)
    _insert_after_future(tree, ast.parse(HELPER_STUB_SOURCE).body[0])
    if verdicts:
        _insert_after_future(tree, ast.parse(
            f"from grader.checks import course_check as {VERDICT_STUB}").body[0])
    return ast.unparse(ast.fix_missing_locations(tree)) + "\n"


def _bound_name(alias: ast.alias) -> str:
    return alias.asname or alias.name.split(".")[0]


def _drop_unused_imports(tree: ast.Module) -> None:
    """Remove the module imports only the gutted code needed (torch for the oracles, say).

    The kernel then pays only for what its own side uses: importing torch costs a
    kernel about a second, and in most problem sets only the trusted side needs it.
    Only ``import module`` statements are pruned: names brought in with ``from ...
    import name`` may be used by the notebooks through the helper module (re-exports).
    """
    used: set[str] = set()
    for node in tree.body:
        if not isinstance(node, ast.Import | ast.ImportFrom):
            used |= {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
            used |= {n.value.split(".")[0] for n in ast.walk(node)
                     if isinstance(n, ast.Constant) and isinstance(n.value, str)
                     and n.value.isidentifier()}
    kept = []
    for node in tree.body:
        if isinstance(node, ast.Import):
            aliases = [a for a in node.names if _bound_name(a) in used]
            if aliases:
                node.names = aliases
                kept.append(node)
        else:
            kept.append(node)
    tree.body = kept


def kernel_side_helpers(helpers_dir: str, out_dir: str) -> list[str]:
    """Copy every package/module under ``helpers_dir``, reduced to its kernel side.

    Only ``.py`` files are copied (data files may hold expected values).
    Returns the module names written.
    """
    shutil.rmtree(out_dir, ignore_errors=True)
    os.makedirs(out_dir)
    written = []
    for path in _python_files(helpers_dir):
        relative = path.relative_to(helpers_dir)
        module = ".".join(relative.with_suffix("").parts).removesuffix(".__init__")
        target = Path(out_dir, relative)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(_rewrite_helper(path.read_text(encoding="utf-8"), module),
                          encoding="utf-8")
        written.append(module)
    compileall.compile_dir(out_dir, quiet=1)
    return written


def tree_digest(paths: Iterable[str]) -> str:
    """A digest of the Python files and notebooks under some paths (cache keys)."""
    digest = hashlib.sha256()
    for root in paths:
        if root is None or not os.path.exists(root):
            digest.update(b"<none>")
            continue
        files = [Path(root)] if os.path.isfile(root) else sorted(
            p for p in Path(root).rglob("*") if p.is_file() and "__pycache__" not in p.parts
            and p.suffix in (".py", ".ipynb"))
        for path in files:
            # Relative names: a copy of the course has the same digest as the original.
            digest.update(str(path.relative_to(root) if path != Path(root) else path.name).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()
