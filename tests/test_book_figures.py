"""Figures readable by colour-blind readers: series never differ by colour alone.

``rnn_lib.plotting`` draws every series in an Okabe-Ito colour *and* its own line style
or marker; the chapters use the same palette and line styles (``colorblind_safe_rc``).
Alt text of every figure is checked on the built pages by ``test_book_browser.py``.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import re  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from conftest import REPO_ROOT, chapter_documents  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402

from rnn_lib.lm_numpy import TrainHistory  # noqa: E402
from rnn_lib.plotting import (  # noqa: E402
    LINESTYLES,
    MARKERS,
    OKABE_ITO,
    colorblind_safe_rc,
    plot_gradient_norms,
    plot_perplexity,
    series_style,
)

PALETTE = {colour.lower() for colour in OKABE_ITO}


def history(name: str) -> TrainHistory:
    h = TrainHistory(name)
    for epoch in range(1, 30):
        h.record(epoch, 10.0 / epoch, 11.0 / epoch, 1.0, 2.0 * epoch, 100 * epoch)
    return h


def dashes(line) -> str:
    """The dash pattern (``get_linestyle`` reports every custom pattern as "--")."""
    return str(getattr(line, "_unscaled_dash_pattern", line.get_linestyle()))


def look(line) -> tuple:
    """What tells a line apart without colour: its dash pattern and its marker."""
    return (dashes(line), str(line.get_marker()))


def test_series_styles_differ_in_more_than_colour():
    styles = [series_style(i) for i in range(len(OKABE_ITO))]
    assert len({s["color"] for s in styles}) == len(styles)
    assert len({str(s["linestyle"]) for s in styles}) == len(styles)
    assert len({s["marker"] for s in styles}) == len(styles)
    assert series_style(len(OKABE_ITO)) == series_style(0)
    assert len(LINESTYLES) >= len(OKABE_ITO) and len(MARKERS) >= len(OKABE_ITO)
    with pytest.raises(ValueError, match="index"):
        series_style(-1)


def test_perplexity_runs_differ_by_marker_as_well_as_colour():
    _, ax = plot_perplexity({name: history(name) for name in ["RNN", "GRU", "LSTM", "gated"]})
    lines = ax.get_lines()
    assert {to_hex(line.get_color()) for line in lines} <= PALETTE
    train, valid = lines[0::2], lines[1::2]
    for group in (train, valid):
        assert len({look(line) for line in group}) == len(group), [look(x) for x in group]
    # Training and validation curves of one run differ by line style.
    assert all(t.get_linestyle() != v.get_linestyle() for t, v in zip(train, valid, strict=True))


def test_gradient_norm_curves_differ_by_line_style_and_marker():
    curves = {f"ρ = {rho}": rho ** np.arange(40.0) for rho in (0.5, 0.9, 1.0, 1.1, 1.5)}
    _, ax = plot_gradient_norms(curves)
    lines = ax.get_lines()
    assert {to_hex(line.get_color()) for line in lines} <= PALETTE
    assert len({dashes(line) for line in lines}) == len(lines)
    assert len({line.get_marker() for line in lines}) == len(lines)


def test_chapters_use_the_colour_blind_safe_style():
    cycle = colorblind_safe_rc()["axes.prop_cycle"].by_key()
    assert [c.lower() for c in cycle["color"]] == [c.lower() for c in OKABE_ITO]
    assert len(set(map(str, cycle["linestyle"]))) == len(cycle["color"])
    # A chapter listed in _toc.yml without its file is test_book_build.py's finding.
    sources = [REPO_ROOT / f"{doc}.md" for doc in chapter_documents()]
    assert sources and any(path.is_file() for path in sources)
    for path in (path for path in sources if path.is_file()):
        doc, source = path.stem, path.read_text()
        assert "plt.rcParams.update(colorblind_safe_rc())" in source, doc
        # Named colours outside the palette would undo it.
        assert not re.search(r"""["']tab:\w+["']""", source), f"{doc}: a tab: colour"
