"""The errata of issue 11 stay fixed: wording checks on the book's sources.

The numbers behind the errata are asserted where they are computed, in the chapters'
cells (a failing ``assert`` fails the build): chapter 3's 27 plotted characters and its
perplexity above 1e18, chapter 4's matrix with spectral radius below 1 whose Jacobian
products grow by orders of magnitude, and the transient of the 2x2 Jordan block.
"""

from __future__ import annotations

import re

import pytest
from conftest import REPO_ROOT, chapter_documents

BOOK = REPO_ROOT / "book"


def source(name: str) -> str:
    return (BOOK / f"{name}.md").read_text()


def test_the_bound_is_the_spectral_norm_and_the_radius_is_qualified():
    text = source("04_bptt")
    assert "ch4-sigma-bound" in text and r"\sigma_{\max}(\mathbf{W}_{hh})^{k}" in text
    assert "predict from the spectral radius" not in text
    assert "assert rho_nn < 1 < sigma_nn" in text and "lag_norms.max() > 100" in text


def test_the_jordan_block_is_called_not_diagonalisable():
    text = source("04_bptt")
    assert "nearly parallel" not in text
    assert "not diagonalisable" in text


@pytest.mark.parametrize("chapter, wrong", [
    ("05_gating", "factor of at least 0.9"),
    ("03_language_models", "perplexities in the millions"),
    ("03_language_models", "the 28 characters of"),
    ("06_char_lm", "two more passes"),
    ("01_state_machines", "unlabelled arrow"),
    ("04_bptt", r"\partial z^2_t"),  # MIT's symbols that the book never defines
    ("04_bptt", r"\partial F_{t-1}"),
])
def test_wrong_statements_are_gone(chapter, wrong):
    assert wrong not in source(chapter)


def test_gradient_notation_is_defined_before_it_is_used():
    preface = source("00_preface")
    assert r"| $\mathrm{d}\mathbf{Z}$ |" in preface  # the notation table
    first_use = None
    for doc in chapter_documents():
        text = (REPO_ROOT / f"{doc}.md").read_text()
        prose = re.sub(r"```\{code-cell\}.*?```", "", text, flags=re.DOTALL)
        if re.search(r"\\mathrm\{d\}\\mathbf\{[A-Z]\}", prose):
            first_use = doc
            break
    assert first_use == "book/04_bptt"
    bptt = source("04_bptt")
    assert bptt.index("**gradient notation**") < bptt.index(r"\mathrm{d}\mathbf{O}_t =")


def test_one_symbol_one_meaning():
    # G is the gated RNN's gate (never a gradient), O the logits (never a gate).
    assert r"\mathbf{G}_" not in source("04_bptt")
    gating = source("05_gating")
    for label, symbol in [("ch5-lstm-candidate", r"\tilde{\mathbf{C}}_t ="),
                          ("ch5-lstm-output", r"\boldsymbol{\Omega}_t =")]:
        equation = gating[:gating.index(f"$$ ({label})")].rsplit("$$", 1)[1]
        assert symbol in equation, label
    # The LSTM's equations, up to the note on letters and names.
    lstm = gating[gating.index("## Long short-term memory"):gating.index("{admonition} Letters")]
    assert not re.search(r"\\mathbf\{[GO]\}_t", lstm)
    state_machines = source("01_state_machines")
    assert r"m \in \{0, 1\}" not in state_machines  # m is the state size only
    assert r"\mathcal{Y} = \mathbb{R}^m" not in state_machines


@pytest.mark.parametrize("chapter, raw", [
    ("04_bptt", 'ax_pow.set_ylabel("spectral norm of W^k")'),
    ("04_bptt", 'ax.set_ylabel("||W^k||")'),
    ("04_bptt", 'label="total  d h_t / d w"'),
    ("05_gating", 'ax.set_ylabel("||dL / dH_{T-k}||")'),
    ("05_gating", 'label=f"gated, b_g = '),
    ("03_language_models", '"log10 P(text)"'),
])
def test_figure_labels_are_mathtext_not_raw_text(chapter, raw):
    assert raw not in source(chapter)


def test_legends_are_not_set_below_the_book_size():
    from rnn_lib.plotting import LEGEND_FONTSIZE, colorblind_safe_rc

    assert colorblind_safe_rc()["legend.fontsize"] == LEGEND_FONTSIZE >= 10
    for path in sorted(BOOK.glob("0[1-6]_*.md")):
        small = re.findall(r"legend\([^)]*fontsize=(?:[0-8]\b|\"(?:x-|xx-)?small\")", path.read_text())
        assert small == [], f"{path.name}: legends set below {LEGEND_FONTSIZE} pt"
