"""Test cells judged outside the kernel: an ``assert`` becomes an observation.

Under ``python -m grader`` the kernel never decides whether a test passed. Each
``assert TEST, MESSAGE`` of a test cell (visible or hidden) is rewritten, in
the program the kernel runs, into a call that only *observes*: it evaluates
the operands of the test (the values the student's code produced) and
publishes them as plain data (:mod:`grader.payload`). The comparison itself,
``==``, ``<``, ``and``, ``np.allclose``, ``isinstance(x, np.ndarray)`` ..., is kept
in a template that the grading process evaluates on the decoded values with
its own numpy. So a kernel that silences its tracebacks, rewrites cells,
patches ``isinstance`` or forges "no error" gains nothing: a test passes only
when the trusted side finds every observed assertion true and every
assertion observed as often as in the reference solution's run.

How an assertion is split (:func:`instrument`):

- *judging* nodes stay in the template: ``and``/``or``/``not``, comparisons,
  and calls of trusted predicates (``isinstance`` with a trusted type,
  ``all``, ``any``, ``np.allclose``, ``np.isclose``, ``np.array_equal``,
  ``np.all``, ``np.isfinite``, ``math.isclose`` ...); generator expressions
  inside them are evaluated on the trusted side too;
- expressions made only of constants and trusted functions (``math.log(4)``,
  ``0.5 * np.tanh([[1.0, -0.5]])``) stay in the template;
- every other operand (``H``, ``len(result)``, ``vocab.to_tokens([3, 1])``)
  is computed in the kernel, each in its own ``lambda`` so that an operand that
  raises is recorded as "raised" instead of stopping the cell, and the template
  refers to it as ``__operand__(i)``.

The message of a visible assertion is computed in the kernel (it is student
text: shown capped, only for visible tests); a constant message is taken from
the trusted source; a hidden assertion's message is never shown.
"""

from __future__ import annotations

import ast
import builtins
import dataclasses
import math
from typing import Any

import numpy as np

OBSERVE = "__grader_assert__"
DONE = "__grader_done__"
RECORD_PREFIX = "__assert__:"
DONE_NAME = RECORD_PREFIX + "done"
MAX_MESSAGE = 200
ARRAY_ATTRIBUTES = {"shape", "dtype", "ndim", "size"}

TRUSTED_MODULES = {"np": np, "numpy": np, "math": math}
PREDICATES = {
    None: {"isinstance", "issubclass", "all", "any", "bool", "callable"},
    "np": {"allclose", "isclose", "array_equal", "array_equiv", "all", "any", "isfinite", "isnan",
           "isinf", "isreal", "iscomplexobj", "isrealobj", "issubdtype", "shares_memory"},
    "math": {"isclose", "isfinite", "isnan", "isinf"},
}
PREDICATES["numpy"] = PREDICATES["np"]
TRUSTED_TYPES = {"list", "dict", "tuple", "set", "frozenset", "int", "float", "str", "bool",
                 "complex", "bytes", "type", "object"}
SAFE_BUILTINS = {name: getattr(builtins, name) for name in (
    "isinstance", "issubclass", "all", "any", "bool", "callable", "abs", "len", "min", "max",
    "sum", "round", "range", "list", "tuple", "dict", "set", "frozenset", "float", "int", "str",
    "complex", "bytes", "zip", "enumerate", "sorted", "reversed", "type", "object", "repr",
    "divmod", "pow", "map", "filter", "slice", "True", "False", "None", "Exception", "TypeError",
    "ValueError")}
TRUSTED_CALLS = {None: {"abs", "len", "min", "max", "sum", "round", "range", "list", "tuple",
                        "dict", "set", "float", "int", "str", "complex", "zip", "enumerate",
                        "sorted", "divmod", "pow"}}


class InstrumentError(ValueError):
    """A test cell the grader cannot split into kernel side and trusted side."""


@dataclasses.dataclass(frozen=True)
class Assertion:
    """One ``assert`` of a test cell: its trusted template and how its message is made."""

    index: int
    line: int
    template: str  # expression over __operand__(i), np, math and safe builtins
    operands: int
    message: str | None  # a constant message from the source, else None
    kernel_message: bool  # the message is computed in the kernel (student text)


@dataclasses.dataclass(frozen=True)
class CellProgram:
    """What the kernel runs for a test cell, and how the trusted side judges its assertions."""

    kernel_source: str
    assertions: tuple[Assertion, ...]


def _root(node: ast.AST) -> str | None:
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _dotted(node: ast.AST) -> tuple[str | None, str] | None:
    """(module or None, name) of ``f`` or ``np.f``; None for anything else."""
    if isinstance(node, ast.Name):
        return None, node.id
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        return node.value.id, node.attr
    return None


def _names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _bound_in(node: ast.AST) -> set[str]:
    """Names bound inside comprehensions and lambdas of ``node``."""
    bound: set[str] = set()
    for child in ast.walk(node):
        if isinstance(child, ast.comprehension):
            bound |= _names(child.target)
        elif isinstance(child, ast.Lambda):
            bound |= {a.arg for a in child.args.args}
    return bound


def _trusted_type(node: ast.AST) -> bool:
    if isinstance(node, ast.Tuple):
        return all(_trusted_type(e) for e in node.elts)
    dotted = _dotted(node)
    if dotted is None:
        return False
    module, name = dotted
    if module is None:
        return name in TRUSTED_TYPES
    return module in ("np", "numpy") and isinstance(getattr(np, name, None), type)


class _Splitter:
    """Splits one assertion test into a trusted template and kernel-side operands."""

    def __init__(self) -> None:
        self.operands: list[ast.expr] = []

    def operand(self, node: ast.expr) -> ast.expr:
        self.operands.append(node)
        call = ast.Call(ast.Name("__operand__", ast.Load()), [ast.Constant(len(self.operands) - 1)],
                        [])
        return ast.copy_location(call, node)

    def trusted_only(self, node: ast.AST, local: set[str]) -> bool:
        """Constants, trusted modules' functions and safe builtins only (no student value)."""
        for child in ast.walk(node):
            if isinstance(child, ast.Name) and child.id not in local and (
                    child.id not in TRUSTED_MODULES and child.id not in SAFE_BUILTINS):
                return False
            if isinstance(child, ast.Call):
                dotted = _dotted(child.func)
                if dotted is None:
                    return False
                module, name = dotted
                if module is None and name not in TRUSTED_CALLS[None] | PREDICATES[None]:
                    return False
                if module is not None and module not in TRUSTED_MODULES:
                    return False
            if isinstance(child, ast.Attribute) and _root(child) not in TRUSTED_MODULES and (
                    _root(child) not in local):
                return False
            if isinstance(child, ast.NamedExpr | ast.Await | ast.Yield | ast.YieldFrom):
                return False
        return True

    def is_predicate(self, node: ast.Call) -> bool:
        dotted = _dotted(node.func)
        if dotted is None:
            return False
        module, name = dotted
        if name not in PREDICATES.get(module, set()):
            return False
        if module is None and name in ("isinstance", "issubclass"):
            return len(node.args) == 2 and _trusted_type(node.args[1])
        return True

    def split(self, node: ast.expr, local: set[str]) -> ast.expr:
        if isinstance(node, ast.BoolOp):
            node.values = [self.split(v, local) for v in node.values]
            return node
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            node.operand = self.split(node.operand, local)
            return node
        if isinstance(node, ast.Compare):
            node.left = self.value(node.left, local)
            node.comparators = [self.value(c, local) for c in node.comparators]
            return node
        if isinstance(node, ast.Call) and self.is_predicate(node):
            node.args = [self.generator(a, local) if isinstance(a, ast.GeneratorExp | ast.ListComp)
                         else self.value(a, local) for a in node.args]
            for keyword in node.keywords:
                keyword.value = self.value(keyword.value, local)
            return node
        return self.value(node, local)

    def generator(self, node: ast.GeneratorExp | ast.ListComp, local: set[str]) -> ast.expr:
        inner = set(local)
        for comprehension in node.generators:
            comprehension.iter = self.value(comprehension.iter, inner)
            inner |= _names(comprehension.target)
            comprehension.ifs = [self.split(condition, inner) for condition in comprehension.ifs]
        node.elt = self.split(node.elt, inner)
        return node

    def value(self, node: ast.expr, local: set[str]) -> ast.expr:
        """An operand: judged here, kept if trusted-only, else computed in the kernel."""
        if isinstance(node, ast.BoolOp | ast.Compare) or (
                isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not)) or (
                isinstance(node, ast.Call) and self.is_predicate(node)):
            return self.split(node, local)
        if isinstance(node, ast.Attribute) and node.attr in ARRAY_ATTRIBUTES:
            # H.dtype, H.shape: the array travels, the attribute is read on the trusted side.
            node.value = self.value(node.value, local)
            return node
        if not (_names(node) & local):
            return node if self.trusted_only(node, local) else self.operand(node)
        # Uses a name bound by an enclosing trusted comprehension: evaluate it on the trusted
        # side, with its free student values computed in the kernel.
        for field, current in ast.iter_fields(node):
            if isinstance(current, ast.expr):
                setattr(node, field, self.value(current, local))
            elif isinstance(current, list):
                setattr(node, field, [self.value(v, local) if isinstance(v, ast.expr) else v
                                      for v in current])
        return node


def _observe_call(assertion: Assertion, operands: list[ast.expr], message: ast.expr | None,
                  node: ast.Assert) -> ast.stmt:
    lambdas = [ast.Lambda(ast.arguments(posonlyargs=[], args=[], vararg=None, kwonlyargs=[],
                                        kw_defaults=[], kwarg=None, defaults=[]), operand)
               for operand in operands]
    message_arg: ast.expr = ast.Constant(None)
    if message is not None and assertion.kernel_message:
        message_arg = ast.Lambda(ast.arguments(posonlyargs=[], args=[], vararg=None, kwonlyargs=[],
                                               kw_defaults=[], kwarg=None, defaults=[]), message)
    call = ast.Call(ast.Name(OBSERVE, ast.Load()),
                    [ast.Constant(assertion.index), ast.Tuple(lambdas, ast.Load()), message_arg], [])
    return ast.copy_location(ast.Expr(call), node)


def instrument(source: str) -> CellProgram:
    """The kernel's program for a test cell, and the trusted templates of its assertions."""
    try:
        tree = ast.parse(source)
    except SyntaxError as error:
        raise InstrumentError(f"the test cell is not valid Python ({error.msg}, line "
                              f"{error.lineno})") from None
    assertions: list[Assertion] = []

    class Rewriter(ast.NodeTransformer):
        def visit_Assert(self, node: ast.Assert) -> ast.stmt:
            splitter = _Splitter()
            template = splitter.split(ast.parse(ast.unparse(node.test), mode="eval").body, set())
            message, constant = node.msg, None
            if isinstance(message, ast.Constant) and isinstance(message.value, str):
                constant = message.value
            assertion = Assertion(len(assertions), node.lineno, ast.unparse(template),
                                  len(splitter.operands), constant,
                                  kernel_message=message is not None and constant is None)
            assertions.append(assertion)
            return _observe_call(assertion, splitter.operands, message, node)

    tree = Rewriter().visit(tree)
    tree.body.append(ast.Expr(ast.Call(ast.Name(DONE, ast.Load()), [], [])))
    ast.fix_missing_locations(tree)
    return CellProgram(ast.unparse(tree) + "\n", tuple(assertions))


# --------------------------------------------------------------------------- trusted side


class OperandRaised(Exception):
    """An operand that raised in the kernel was needed by the assertion."""

    def __init__(self, error_name: str):
        super().__init__(error_name)
        self.error_name = error_name


@dataclasses.dataclass
class Verdict:
    passed: bool
    message: str


def _truth(value: Any) -> bool:
    """Strict truth of an assertion's result: booleans and numbers only."""
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool):
        return bool(value)
    raise TypeError(f"an assertion gave {type(value).__name__}, not a truth value")


def evaluate(assertion: Assertion, observed: Any, seconds: float = 10.0) -> Verdict:
    """Judge one observation (decoded ``[[status, value], ...]``) of an assertion."""
    from grader.verdicts import safe_error_name

    if (not isinstance(observed, list) or len(observed) != assertion.operands or not all(
            isinstance(o, list | tuple) and len(o) == 2 and o[0] in ("ok", "raised")
            for o in observed)):
        return Verdict(False, "the observation of this assertion is malformed")

    def operand(i: int) -> Any:
        status, value = observed[i]
        if status == "raised":
            raise OperandRaised(value if isinstance(value, str) else "an error")
        return value

    namespace = {"__builtins__": SAFE_BUILTINS, **TRUSTED_MODULES, "__operand__": operand}
    try:
        from grader.verdicts import _time_limit

        with _time_limit(int(max(1, seconds))), np.errstate(all="ignore"):
            result = _truth(eval(compile(assertion.template, "<assertion>", "eval"), namespace))
    except OperandRaised as error:
        return Verdict(False, f"raised {safe_error_name(error.error_name)}")
    except Exception as error:  # noqa: BLE001 - any failure to evaluate is a failed test
        name = safe_error_name(type(error).__name__)
        return Verdict(False, f"could not be evaluated on your values ({name})")
    return Verdict(result, "")


def clip(text: Any, limit: int = MAX_MESSAGE) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
