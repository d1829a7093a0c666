"""Find lines of the book's Markdown that would start a list in the middle of a paragraph.

A paragraph (or a list item's text) that wraps onto a line beginning with ``+``, ``-``,
``*`` or a number followed by ``.`` or ``)`` does not continue: Markdown reads that
line as the first item of a new list. A wrapped inline formula is the usual victim:

    * write the gated state update $\\mathbf{H}_t = (1-\\mathbf{G}_t)\\odot\\mathbf{H}_{t-1}
      + \\mathbf{G}_t\\odot\\tilde{\\mathbf{H}}_t$ in this book's row notation ...

renders as the broken text ``$\\mathbf{H}_t = ...`` followed by a nested bullet, and
MathJax never sees a closed ``$...$``.

The rule this script enforces: a line whose first non-blank characters are a list
marker (``+``, ``-`` or ``*``, or digits followed by ``.`` or ``)``, then a space or the
end of the line) directly after a line of paragraph text is an error, unless it is the
next item of a list that is already open at the same indentation with the same kind of
marker. Fix it by wrapping the text so the operator ends the previous line, by using
display math (``$$ ... $$``), or, for a list that really starts there, by putting a
blank line before it.

Code (fenced blocks, ``{code-cell}`` and other code directives), display math
(``$$ ... $$``, ``{math}``) and the front matter are not Markdown text and are skipped.

Usage::

    python tools/lint_book_markdown.py            # lint book/*.md
    python tools/lint_book_markdown.py FILE ...   # lint the given files

Exit status 0 when nothing is found, 1 otherwise (one ``path:line: message`` per finding).
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
BOOK_DIR = REPO_ROOT / "book"

LIST_MARKER = re.compile(r"^(?P<indent>[ \t]*)(?P<marker>[-+*]|\d{1,9}[.)])(?P<gap>[ \t]+|$)")
FENCE_OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,}|:{3,})(?P<info>.*)$")
# Directives whose body is code or TeX rather than Markdown text.
VERBATIM_DIRECTIVES = {
    "code-cell", "code", "code-block", "sourcecode", "math", "raw", "literalinclude",
    "glue:math", "mermaid", "csv-table", "list-table-raw",
}
DIRECTIVE_OPTION = re.compile(r"^[ \t]*:[\w-]+:")
THEMATIC_BREAK = re.compile(r"^[ \t]{0,3}([-*_])([ \t]*\1){2,}[ \t]*$")
# Lines that end a paragraph (so a list right after them interrupts nothing).
NOT_PARAGRAPH_TEXT = re.compile(r"^[ \t]*(#{1,6}([ \t]|$)|\||<|\(\w[\w-]*\)=$|%)")


@dataclass(frozen=True)
class Finding:
    path: Path
    line: int  # 1-based
    text: str

    def __str__(self) -> str:
        try:
            shown = self.path.relative_to(REPO_ROOT)
        except ValueError:
            shown = self.path
        return (f"{shown}:{self.line}: this line starts a list inside a paragraph "
                f"(wrap so the operator ends the previous line, use display math, or put a "
                f"blank line before a real list): {self.text.strip()[:80]}")


def _marker_kind(marker: str) -> str:
    return marker[-1] if marker[0].isdigit() else marker  # "." / ")" for ordered lists


def _indent_width(indent: str) -> int:
    return len(indent.expandtabs(4))


def _verbatim_fence(info: str, fence: str) -> bool:
    """Is the block opened by this fence code or math rather than Markdown?"""
    info = info.strip()
    if fence.startswith(":"):  # colon fences are MyST directives
        match = re.match(r"\{([^}]+)\}", info)
        return bool(match) and match.group(1) in VERBATIM_DIRECTIVES
    match = re.match(r"\{([^}]+)\}", info)
    if match:
        return match.group(1) in VERBATIM_DIRECTIVES
    return True  # ``` or ```python: a code block


def lint_text(text: str, path: Path = Path("<text>")) -> list[Finding]:
    """Every line of ``text`` that would start a list in the middle of a paragraph."""
    lines = text.splitlines()
    findings: list[Finding] = []
    start = 0
    if lines and lines[0].strip() == "---":  # YAML front matter (jupytext header)
        for index in range(1, len(lines)):
            if lines[index].strip() == "---":
                start = index + 1
                break

    fences: list[tuple[str, bool]] = []  # open fences: (fence string, verbatim?)
    in_display_math = False
    # Open lists: (indentation of the marker, marker kind)
    lists: list[tuple[int, str]] = []
    previous_is_text = False  # the previous line is paragraph text that a list would interrupt

    for index in range(start, len(lines)):
        line = lines[index]
        stripped = line.strip()

        # Inside a verbatim block: only look for its closing fence.
        if fences and fences[-1][1]:
            fence = fences[-1][0]
            if stripped.startswith(fence[0] * len(fence)) and stripped.strip(fence[0]) == "":
                fences.pop()
                previous_is_text = False
            continue
        if in_display_math:
            if "$$" in stripped:  # "$$" or "$$ (label)" closes the block
                in_display_math = False
            previous_is_text = False
            continue

        opened = FENCE_OPEN.match(line)
        if opened:
            fence, info = opened.group("fence"), opened.group("info")
            closes = (fences and fence[0] == fences[-1][0][0]
                      and len(fence) >= len(fences[-1][0]) and info.strip() == "")
            if closes:
                fences.pop()
            else:
                fences.append((fence, _verbatim_fence(info, fence)))
            previous_is_text = False
            continue

        if not stripped:
            previous_is_text = False
            continue
        if stripped.startswith("$$"):
            # A display-math block: "$$ ... $$" on one line, or opened here.
            in_display_math = "$$" not in stripped[2:]
            previous_is_text = False
            continue
        if DIRECTIVE_OPTION.match(line) and not previous_is_text:
            continue
        if THEMATIC_BREAK.match(line):
            previous_is_text = False
            continue

        marker = LIST_MARKER.match(line)
        if marker:
            width = _indent_width(marker.group("indent"))
            kind = _marker_kind(marker.group("marker"))
            while lists and lists[-1][0] > width:
                lists.pop()
            sibling = bool(lists) and lists[-1] == (width, kind)
            if not sibling:
                if previous_is_text:
                    findings.append(Finding(path, index + 1, line))
                if lists and lists[-1][0] == width:  # a different marker: a new list
                    lists.pop()
                lists.append((width, kind))
            previous_is_text = True  # the item's own text
            continue

        if NOT_PARAGRAPH_TEXT.match(line):
            previous_is_text = False
            continue
        # Paragraph text; a line indented less than every open list after a blank line
        # closes those lists.
        width = _indent_width(line[: len(line) - len(line.lstrip())])
        if not previous_is_text:
            while lists and lists[-1][0] >= width:
                lists.pop()
        previous_is_text = True
    return findings


def lint_files(paths: list[Path]) -> list[Finding]:
    findings: list[Finding] = []
    for path in paths:
        findings.extend(lint_text(path.read_text(encoding="utf-8"), path))
    return findings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", type=Path,
                        help="Markdown files to lint (default: book/*.md)")
    args = parser.parse_args(argv)
    paths = [path.resolve() for path in args.files] or sorted(BOOK_DIR.glob("*.md"))
    findings = lint_files(paths)
    for finding in findings:
        print(finding)
    print(f"lint_book_markdown: {len(findings)} problem(s) in {len(paths)} file(s)",
          file=sys.stderr)
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
