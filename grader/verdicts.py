"""Trusted judgement of recorded checks, and the score of each test cell.

Runs in the grading process, never in a kernel. Inputs are the raw documents a
cell published through :func:`grader.checks.record`, decoded strictly
(:mod:`grader.payload`), and the reference run's :class:`CheckSpec` list, which
alone decides which checks a cell has, their verdicts, weights and tolerances.

Scoring of an autograded test cell worth ``P`` points:

- with checks: ``P * (points earned) / (points of the cell's checks)``; a check
  the student's run did not record earns nothing;
- without checks (plain ``assert`` tests, judged in the kernel and therefore
  not tamper-resistant): ``P`` if the cell ran without error, else 0; when the
  submission carries an integrity flag these points are withheld and the cell
  is left for a manual grade.
"""

from __future__ import annotations

import builtins
import contextlib
import dataclasses
import io
import math
import re
import signal
import traceback
from typing import Any

from grader import payload
from grader.checks import interpret_verdict, resolve_verdict
from grader.compare import compare
from grader.staging import UntrustedData, loads

MAX_MESSAGE = 400
MAX_MESSAGES = 12
MAX_SHOWN = 6  # messages of one check shown to the student
MAX_SHOWN_CHARS = 240
VERDICT_SECONDS = 60
RECORD_DEPTH = 16  # the outer document of a record or event (its value is decoded apart)


@dataclasses.dataclass
class CheckSpec:
    """One check of one cell, as the reference solution recorded it."""

    cell: str
    name: str
    points: float
    verdict: str | None
    rtol: float
    atol: float
    reference: str  # the reference value, still encoded (decoded on use)
    options: dict = dataclasses.field(default_factory=dict)  # keyword arguments of the verdict

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class CheckResult:
    cell: str
    name: str
    points: float
    earned: float
    status: str  # passed | failed | missing | invalid | error
    messages: list[str]  # student-facing
    detail: str = ""  # instructor-only (verdict tracebacks)

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


class RecordError(ValueError):
    """A published record that is not well formed."""


def parse_record(raw: str) -> dict:
    """The outer document of a record: name (str) and encoded value (str), plus options."""
    try:
        document = loads(raw, max_depth=RECORD_DEPTH, max_bytes=payload.MAX_PAYLOAD_BYTES + 65536,
                         what="a check record")
    except UntrustedData as error:
        raise RecordError(str(error)) from None
    if not isinstance(document, dict):
        raise RecordError("record is not an object")
    name, value = document.get("name"), document.get("value")
    if not isinstance(name, str) or not name or len(name) > 200 or not isinstance(value, str):
        raise RecordError("record lacks a name or a value")
    return document


def parse_event(raw: str) -> dict | None:
    try:
        event = loads(raw, max_depth=RECORD_DEPTH, max_bytes=4096, what="an event")
    except UntrustedData:
        return None
    return event if isinstance(event, dict) else None


def _clip(text: str, limit: int = MAX_MESSAGE) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _VerdictTimeout(Exception):
    pass


@contextlib.contextmanager
def _time_limit(seconds: int):
    """SIGALRM-based limit (the grading process runs verdicts in its main thread)."""
    def handler(signum, frame):  # noqa: ARG001
        raise _VerdictTimeout()

    try:
        previous = signal.signal(signal.SIGALRM, handler)
    except ValueError:  # not the main thread: no limit available
        yield
        return
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def run_verdict(spec: CheckSpec, value: Any) -> tuple[float, list[str], str, str]:
    """(earned, messages, status, instructor detail) of a verdict function on a value."""
    out = io.StringIO()
    try:
        function = resolve_verdict(spec.verdict)
        with _time_limit(VERDICT_SECONDS), contextlib.redirect_stdout(out):
            result = function(value, spec.points, **spec.options)
        earned = interpret_verdict(result, spec.points)
    except AssertionError as failure:
        lines = [line for line in str(failure).splitlines() if line.strip()]
        printed = [line for line in out.getvalue().splitlines() if line.strip()]
        return 0.0, [_clip(x) for x in (printed + lines)][:MAX_MESSAGES] or [
            "the check failed"], "failed", ""
    except _VerdictTimeout:
        return 0.0, ["the check could not finish on your result"], "error", (
            f"verdict {spec.verdict} took longer than {VERDICT_SECONDS} s")
    except Exception as error:  # noqa: BLE001 - a verdict crashing on odd data is not fatal
        return 0.0, [f"the check could not evaluate your result ({type(error).__name__})"], \
            "error", traceback.format_exc(limit=8)[-3000:]
    printed = [_clip(line) for line in out.getvalue().splitlines() if line.strip()]
    status = "passed" if math.isclose(earned, spec.points, abs_tol=1e-9) else "failed"
    if status == "failed" and not printed:
        printed = [f"{earned:g} of {spec.points:g} points"]
    return earned, printed[:MAX_MESSAGES], status, ""


WORD = re.compile(r"[^\s.,;:()\[\]{}'\"]{3,}")


def public_words(texts: list[str]) -> frozenset[str]:
    """The words of trusted texts (helper sources, released cells), as :func:`scrub` splits them."""
    return frozenset(w for text in texts for w in WORD.findall(text))


def student_strings(value: Any, found: set[str] | None = None, depth: int = 0) -> set[str]:
    """Every string a decoded value carries (texts, dict keys, type names of records and opaques)."""
    found = set() if found is None else found
    if depth > 60 or len(found) > 5000:
        return found
    if isinstance(value, str):
        found.add(value)
    elif isinstance(value, payload.Opaque):
        found.add(value.type_name)
    elif isinstance(value, payload.Record):
        found.add(value.type_name)
        for key, item in value.fields().items():
            found.add(key)
            student_strings(item, found, depth + 1)
    elif isinstance(value, list | tuple):
        for item in value:
            student_strings(item, found, depth + 1)
    elif isinstance(value, dict):
        for key, item in value.items():
            student_strings(key, found, depth + 1)
            student_strings(item, found, depth + 1)
    return found


def scrub(messages: list[str], value: Any, public: frozenset[str] = frozenset()) -> list[str]:
    """Trusted messages only: any word the student's value carried is replaced, then capped.

    A verdict may format what it was given (an exception's name or message, a class
    name), whole or in part; those strings are the student's, and feedback shows only
    text that trusted code wrote. Every word of a message that occurs inside one of the
    student's strings is replaced by "[your text]" (a student can only lose words of
    their own feedback by this, never smuggle text into it), unless the word is part of
    ``public``: the words of what students can read anyway (the released cells, the
    kernel-side copy of the helpers), which trusted code writes too ("wrong outputs on
    3 of 4 cases" stays whole).
    """
    haystack = "\0".join(t for t in student_strings(value) if t)
    cleaned = []
    for message in messages[:MAX_SHOWN]:
        words, previous = [], None
        for word in message.split(" "):
            core = word.strip(".,;:()[]{}'\"")
            if (len(core) >= 3 and core not in BUILTIN_ERRORS and core not in public
                    and core in haystack):
                word = "[your text]"
            if word == "[your text]" == previous:
                continue
            words.append(word)
            previous = word
        cleaned.append(_clip(" ".join(words), MAX_SHOWN_CHARS))
    return cleaned


def judge(spec: CheckSpec, documents: list[dict], reason_missing: str,
          hidden: bool = False, public: frozenset[str] = frozenset()) -> CheckResult:
    """Judge one check from the documents the student's cell recorded under its name."""
    decoded: list[Any] = []

    def result(earned: float, status: str, messages: list[str], detail: str = "") -> CheckResult:
        shown = scrub(messages, decoded[0] if decoded else None, public)
        return CheckResult(spec.cell, spec.name, spec.points, earned, status, shown, detail)

    if not documents:
        return result(0.0, "missing", [f"no result was recorded: {reason_missing}"])
    if len(documents) > 1 and len({d["value"] for d in documents}) > 1:
        return result(0.0, "invalid", ["the check was recorded more than once with different "
                                       "values"])
    try:
        value = payload.decode(documents[0]["value"])
    except payload.PayloadError as error:
        return result(0.0, "invalid", ["the recorded result could not be read"], str(error))
    decoded.append(value)
    if spec.verdict is None:
        reference = payload.decode(spec.reference)
        problem = compare(value, reference, rtol=spec.rtol, atol=spec.atol, where=spec.name)
        if problem:
            return result(0.0, "failed", [_clip(problem)])
        return result(spec.points, "passed", [])
    earned, messages, status, detail = run_verdict(spec, value)
    return result(earned, status, messages, detail)


def missing_reason(run_status: str, error_name: str | None, detail: str) -> str:
    """Why a cell did not record its checks, in words safe to show the student."""
    if run_status == "error":
        return f"the cell stopped with {safe_error_name(error_name)} before reaching this check"
    if run_status == "timeout":
        return "the cell ran out of time"
    if run_status == "crash":
        return f"the cell crashed the kernel ({detail})" if detail else "the cell crashed the kernel"
    if run_status == "not-run":
        return detail or "the cell was not run"
    return "the cell did not record it"


BUILTIN_ERRORS = {name for name in dir(builtins)
                  if name.endswith(("Error", "Exception", "Interrupt", "Exit", "Warning"))}
BUILTIN_ERRORS |= {"GradingFailure", "GraderError", "ReferenceUnavailable", "LinAlgError"}


def safe_error_name(name: str | None) -> str:
    """An exception name for feedback: only well-known names (a class name is student text)."""
    return name if name in BUILTIN_ERRORS else "an error"


def cell_score(max_score: float, results: list[CheckResult]) -> float:
    total = sum(r.points for r in results)
    if total <= 0:
        return 0.0
    return round(max_score * sum(r.earned for r in results) / total, 6)
