"""The book's Markdown sources: no line that starts a list in the middle of a paragraph.

``tools/lint_book_markdown.py`` runs over ``book/*.md`` here; its rule is checked on
small examples, including the wrapped formula that broke chapter 5's learning goals.
The browser test's raw-markup scan (``raw_markup``) is checked on examples too, so a
regression in its patterns does not go unnoticed when the book happens to be clean.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from conftest import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "tools"))
from lint_book_markdown import lint_text  # noqa: E402

LINT_SCRIPT = REPO_ROOT / "tools" / "lint_book_markdown.py"


def lines_flagged(markdown: str) -> list[int]:
    return [finding.line for finding in lint_text(textwrap.dedent(markdown))]


def test_book_sources_start_no_list_inside_a_paragraph():
    result = subprocess.run([sys.executable, str(LINT_SCRIPT)], capture_output=True, text=True,
                            cwd=REPO_ROOT, check=False)
    assert result.returncode == 0, "lines of book/*.md that start a list inside a paragraph:\n" \
        + result.stdout + result.stderr


def test_the_wrapped_formula_of_chapter_5_is_found(tmp_path):
    source = tmp_path / "chapter.md"
    source.write_text(textwrap.dedent("""\
        ```{admonition} Learning goals
        :class: tip

        After this chapter you can

        * write the gated state update $\\mathbf{H}_t = (1-\\mathbf{G}_t)\\odot\\mathbf{H}_{t-1}
          + \\mathbf{G}_t\\odot\\tilde{\\mathbf{H}}_t$ in this book's row notation and in the
          column notation of the MIT notes;
        * derive its backward step.
        ```
        """))
    result = subprocess.run([sys.executable, str(LINT_SCRIPT), str(source)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 1
    assert result.stdout.count("\n") == 1 and "chapter.md:7:" in result.stdout, result.stdout


@pytest.mark.parametrize("markdown, flagged", [
    ("The sum is $a\n+ b$ here.\n", [2]),
    ("The difference $a\n- b$.\n", [2]),
    ("A product $a\n* b$.\n", [2]),
    ("It happened in\n1984. Then more text.\n", [2]),
    ("Counting to\n3) three.\n", [2]),
    ("* an item whose formula $a\n  + b$ wraps\n* next item\n", [2]),
    ("1. first item that wraps\n   - b inside it\n2. second\n", [2]),
    ("  indented paragraph text\n  - continued\n", [2]),
])
def test_lines_that_would_start_a_list_are_flagged(markdown, flagged):
    assert lines_flagged(markdown) == flagged


@pytest.mark.parametrize("markdown", [
    "Text.\n\n* a\n* b\n",  # a list after a blank line
    "* a\n  wrapped text\n* b\n  more\n* c\n",  # items with wrapped text
    "1. one\n2. two\n   wrapped\n3. three\n",
    "* a\n\n  * nested after a blank line\n  * nested\n* b\n",
    "Text.\n\n- a\n\n  continued paragraph of a\n- b\n",  # a loose list
    "Some code:\n\n```python\nx = 1\n- 2\n+ 3\n```\n",  # code is not Markdown
    "```{code-cell} ipython3\ny = (a\n     + b)\n```\n",
    "Math:\n$$\na\n+ b\n- c\n$$ (label)\nText.\n",  # display math
    "```{math}\na\n+ b\n```\n",
    "---\njupytext:\n  - a list in the front matter\n---\n# Title\n",
    "A paragraph\n\n---\n\nAfter a rule.\n",  # a thematic break
    "| a | b |\n|---|---|\n| - | + |\n",  # a table
    "Use a plus sign ($a +\nb$) at the end of the line.\n",
])
def test_lists_code_and_math_are_not_flagged(markdown):
    assert lines_flagged(markdown) == []


def test_directive_bodies_are_markdown_and_are_checked():
    markdown = ":::{note}\nA note with $x\n+ y$.\n:::\n\n```{exercise}\n:label: e\n\nGiven $a\n- b$\n```\n"
    assert lines_flagged(markdown) == [3, 10]


def test_raw_markup_scan_finds_what_did_not_render():
    from test_book_browser import raw_markup

    clean = "The state update is typeset. Figure 5.1 shows it; see (5.3).\n"
    assert raw_markup(clean, clean + "tensor([1., 2.])\n") == []
    examples = {
        "write the update $\\mathbf{H}_t = (1-\\mathbf{G}": "raw TeX",
        "the ratio \\frac{a}{b} of": "raw TeX",
        "see {eq}`ch5-gated-update` for": "raw MyST",
        "```{exercise} Title": "raw MyST",
        ":::{note}": "raw MyST",
        "Equation ??? shows": "raw MyST",
        "(ch5-target)=": "raw MyST",
    }
    for text, kind in examples.items():
        found = raw_markup(text + "\n", "")
        assert found and found[0].startswith(kind), (text, found)
    for output in ("<rnn_lib.lstm.LSTM object at 0x7f3a2b1c9d90>",
                   "<function rnn_forward at 0x7f00>", "<Figure size 640x480 with 1 Axes>"):
        assert raw_markup("", output)[0].startswith("object repr"), output
