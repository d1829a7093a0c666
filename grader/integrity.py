"""Flags for submissions that try to game the grader (read by the trusted process).

None of these flags changes a score: the checks are judged outside the kernel,
so the tricks below earn nothing anyway. They put the submission on the
instructor's "needs attention" list, with the reason and the cell, because an
attempt is worth a conversation even when it fails.

Sources: a static scan of the code the student wrote (this module), the events
the kernel reported (a gutted reference function was called, a test helper was
replaced), and the tamper flags of :mod:`grader.notebook`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable

MODULE_ROOTS = {"np", "numpy", "torch", "math", "builtins", "__builtins__", "grader", "checks",
                "course_checks", "grading", "unittest", "pytest", "sys", "IPython", "nbgrader",
                "rnn_lib", "json", "operator", "functools", "scipy"}
COMPARISON_DUNDERS = {"__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__bool__",
                      "__float__", "__int__", "__index__", "__array__", "__array_ufunc__",
                      "__array_function__", "__abs__", "__round__", "__instancecheck__",
                      "__subclasscheck__"}
INTROSPECTION = {"_getframe", "f_back", "f_globals", "f_locals", "f_code", "get_referrers",
                 "get_referents", "get_objects", "currentframe", "getouterframes",
                 "_ih", "_oh", "history_manager", "user_ns", "user_global_ns", "settrace",
                 "setprofile", "excepthook", "set_custom_exc"}
# IPython's hooks into how cells are run and how their errors are shown.
IPYTHON_HOOKS = {"input_transformers_post", "input_transformers_cleanup", "input_transformer_manager",
                 "ast_transformers", "showtraceback", "showsyntaxerror", "_showtraceback",
                 "run_cell", "run_cell_async", "run_ast_nodes", "run_code", "events", "register",
                 "custom_exceptions", "display_pub", "displayhook", "session", "iopub_socket",
                 "shell_stream", "send_response", "_publish_status", "kernel"}
DYNAMIC = {"exec", "eval", "compile", "__import__"}
SYSTEM_MODULES = {"ctypes", "socket", "urllib", "requests", "http", "subprocess", "multiprocessing",
                  "signal", "resource", "importlib", "sqlite3", "pty", "fcntl", "mmap"}
PATH_WORDS = re.compile(r"gradebook|\.db\b|/source\b|\bsource/|\brelease/|autograded|submitted/|"
                        r"\.\./|/proc/|/work/|course_checks", re.I)

RULES = {
    "patch": "replaces a function or attribute of a library or of the grader",
    "builtins": "modifies Python's builtins",
    "sys-modules": "tampers with the module registry (sys.modules)",
    "grading-env": "looks for signs of being graded (NBGRADER_EXECUTION or grader state)",
    "paths": "refers to grading files or to paths outside the submission",
    "always-equal": "defines comparison or conversion methods (always-equal or NaN objects)",
    "introspection": "inspects the test harness (stack frames, history, garbage collector, hooks)",
    "dynamic-code": "builds and runs code dynamically",
    "system": "uses low-level system facilities (ctypes, sockets, processes, signals)",
    "reference-import": "imports rnn_lib's reference implementation of a graded function",
    "grader-api": "uses the grader's check API from solution code",
    "hooks": "hooks into IPython's cell execution, error display or kernel messaging",
    "dynamic-class": "creates a class dynamically with type(name, bases, namespace)",
    "unscannable": "could not be scanned",
}
MAX_SCANNED_CHARS = 1_000_000  # per cell; a larger cell is flagged, not read


class _Scanner(ast.NodeVisitor):
    def __init__(self, graded: set[str]):
        self.graded = graded
        self.modules: set[str] = set(MODULE_ROOTS) | {"get_ipython"}
        self.found: list[tuple[str, int, str]] = []
        self.class_depth = 0

    def add(self, rule: str, node: ast.AST, what: str) -> None:
        self.found.append((rule, getattr(node, "lineno", 0), what))

    # -- imports
    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            root = alias.name.split(".")[0]
            self.modules.add(alias.asname or root)
            self._import_rules(node, alias.name, [])
        self.generic_visit(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        names = [a.name for a in node.names]
        self._import_rules(node, module, names)
        for alias in node.names:
            if module.split(".")[0] in MODULE_ROOTS | SYSTEM_MODULES:
                self.modules.add(alias.asname or alias.name)
        self.generic_visit(node)

    def _import_rules(self, node: ast.AST, module: str, names: list[str]) -> None:
        root = module.split(".")[0]
        if root == "builtins":
            self.add("builtins", node, f"import {module}")
        if root in SYSTEM_MODULES:
            self.add("system", node, f"import {module}")
        if root == "grader":
            self.add("grader-api", node, f"import {module}")
        if root == "rnn_lib":
            bad = sorted(set(names) & self.graded) or (["*"] if "*" in names else [])
            if bad:
                self.add("reference-import", node, f"from {module} import {', '.join(bad)}")

    # -- assignments to attributes of modules
    def _root(self, node: ast.AST) -> str | None:
        while isinstance(node, ast.Attribute | ast.Subscript | ast.Call):
            if isinstance(node, ast.Call):
                if isinstance(node.func, ast.Name) and node.func.id in ("get_ipython",):
                    return "get_ipython"
                return None
            node = node.value
        return node.id if isinstance(node, ast.Name) else None

    def _dotted(self, node: ast.AST) -> str:
        try:
            return ast.unparse(node)[:80]
        except Exception:  # noqa: BLE001
            return "?"

    def _check_target(self, target: ast.AST, node: ast.AST) -> None:
        if isinstance(target, ast.Tuple | ast.List):
            for element in target.elts:
                self._check_target(element, node)
            return
        if isinstance(target, ast.Attribute | ast.Subscript):
            root = self._root(target)
            dotted = self._dotted(target)
            if root is None:
                # The target is rooted in a call (get_ipython().x = ..., f().y = ...):
                # whatever object that is, replacing its attributes is patching it.
                self.add("patch", node, dotted)
                return
            if root in ("__builtins__", "builtins"):
                self.add("builtins", node, dotted)
            elif dotted.startswith("sys.modules"):
                self.add("sys-modules", node, dotted)
            elif root in self.modules and (isinstance(target, ast.Attribute)
                                           or "__dict__" in dotted):
                # Item assignment on a module's objects (plt.rcParams[...]) is ordinary use.
                self.add("patch", node, dotted)
        elif isinstance(target, ast.Name) and self.class_depth and target.id in COMPARISON_DUNDERS:
            self.add("always-equal", node, target.id)

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            self._check_target(target, node)
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self._check_target(node.target, node)
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self._check_target(node.target, node)
        self.generic_visit(node)

    def visit_Delete(self, node: ast.Delete) -> None:
        for target in node.targets:
            self._check_target(target, node)
        self.generic_visit(node)

    # -- definitions
    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.class_depth += 1
        self.generic_visit(node)
        self.class_depth -= 1

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        if self.class_depth and node.name in COMPARISON_DUNDERS:
            self.add("always-equal", node, f"def {node.name}")
        self.generic_visit(node)

    visit_AsyncFunctionDef = visit_FunctionDef

    # -- calls, names, attributes, strings
    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        name = func.id if isinstance(func, ast.Name) else (
            func.attr if isinstance(func, ast.Attribute) else None)
        if name in ("setattr", "delattr") and node.args:
            root = self._root(node.args[0])
            if root in self.modules or root in ("__builtins__", "builtins"):
                self.add("builtins" if root in ("__builtins__", "builtins") else "patch", node,
                         f"{name}({self._dotted(node.args[0])}, ...)")
        if name in DYNAMIC and isinstance(func, ast.Name):
            self.add("dynamic-code", node, f"{name}(...)")
        if name == "type" and isinstance(func, ast.Name) and len(node.args) == 3:
            self.add("dynamic-class", node, "type(name, bases, namespace)")
        if name in ("register", "register_magic_function") and self._root(func) == "get_ipython":
            self.add("hooks", node, self._dotted(func))
        if isinstance(func, ast.Attribute) and self._dotted(func) in (
                "os.system", "os.fork", "os.kill", "os.popen", "os.execv", "os.execl",
                "os.setsid", "os.forkpty"):
            self.add("system", node, self._dotted(func))
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if node.id in ("__builtins__",):
            self.add("builtins", node, node.id)
        elif node.id in ("_ih", "_oh", "_i", "_ii", "_iii"):
            self.add("introspection", node, node.id)
        elif node.id == "grading_mode":
            self.add("grading-env", node, node.id)
        self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr in INTROSPECTION:
            self.add("introspection", node, self._dotted(node))
        if node.attr in IPYTHON_HOOKS and (self._root(node) in ("get_ipython", None)
                                            or node.attr not in ("events", "register", "kernel",
                                                                 "session", "run_code")):
            self.add("hooks", node, self._dotted(node))
        if node.attr == "modules" and self._root(node) == "sys":
            self.add("sys-modules", node, "sys.modules")
        if node.attr in ("environ", "getenv") and self._root(node) == "os":
            self.add("grading-env", node, self._dotted(node))
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str):
            text = node.value
            if "NBGRADER" in text.upper() or "GRADER_" in text.upper():
                self.add("grading-env", node, repr(text[:60]))
            elif PATH_WORDS.search(text):
                self.add("paths", node, repr(text[:60]))


def scan_code(cells: Iterable[tuple[int, str]], graded: set[str]) -> list[dict]:
    """Integrity flags for student-written code cells ``(index, source)``."""
    flags: list[dict] = []
    seen: set[tuple[str, int]] = set()
    for index, source in cells:
        code = "\n".join("pass" if line.lstrip().startswith(("%", "!")) else line
                         for line in source.splitlines())
        scanner = _Scanner(graded)
        if len(code) > MAX_SCANNED_CHARS:
            scanner.found.append(("unscannable", 0, f"{len(code)} characters of code in one cell"))
        else:
            try:
                scanner.visit(ast.parse(code))
            except SyntaxError:
                continue  # it will fail to run; nothing it does can matter
            except (RecursionError, MemoryError):
                scanner.found.append(("unscannable", 0, "code nested too deeply to read"))
        for rule, line, what in scanner.found:
            if (rule, index) in seen:
                continue
            seen.add((rule, index))
            flags.append({"kind": "integrity", "rule": rule, "cell": index, "line": line,
                          "detail": f"{RULES[rule]}: {what}"})
    return flags


EVENT_RULES = {
    "reference-call": "called rnn_lib's reference implementation of a graded function",
    "patched-helper": "replaced a test helper while running",
}


def event_flags(cell_index: int, events: Iterable[dict]) -> list[dict]:
    """Integrity flags from the kernel's (best-effort) reports."""
    flags = []
    for event in events:
        kind = str(event.get("kind", ""))
        if kind in EVENT_RULES:
            flags.append({"kind": "integrity", "rule": kind, "cell": cell_index, "line": 0,
                          "detail": f"{EVENT_RULES[kind]}: {str(event.get('detail', ''))[:200]}"})
    return flags
