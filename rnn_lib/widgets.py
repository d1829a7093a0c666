"""Figures the reader moves, with no server: precomputed frames for the book's slider figures.

The book's pages are static HTML. A chapter computes every frame of a figure with
``rnn_lib`` when the book is built, and :func:`slider_figure` turns them into an HTML
element that carries the frames as JSON; ``_static/course-book.js`` draws the current
frame as SVG and redraws it when the slider moves (mouse, touch or arrow keys).

A spec has a title, axis labels, a slider ``{"label", "values", "initial"}`` and one
frame per slider value. ``kind="lines"`` frames are ``{"series": [{"name", "y"}],
"note"}`` over the common ``x``; ``kind="bars"`` frames are ``{"y", "note", "text"}``
over the ``categories``. Text is plain Unicode (the page's MathJax does not see it).
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence

__all__ = ["slider_figure"]

_KINDS = ("lines", "bars")


def _finite(values: Sequence[float], what: str) -> list[float]:
    out = [float(v) for v in values]
    if not all(math.isfinite(v) for v in out):
        raise ValueError(f"{what}: expected finite numbers")
    return [float(f"{v:.5g}") for v in out]  # 5 significant digits keep the page small


def slider_figure(element_id: str, *, kind: str, title: str, xlabel: str, ylabel: str,
                  slider_label: str, slider_values: Sequence[str], frames: Sequence[dict],
                  x: Sequence[float] | None = None, categories: Sequence[str] | None = None,
                  ylog: bool = False, ylim: tuple[float, float] | None = None,
                  initial: int = 0, alt: str = "") -> str:
    """HTML of a slider figure; ``frames[i]`` is shown when the slider is at ``slider_values[i]``.

    Raises ValueError when the frames do not match the slider or the x values.
    """
    if kind not in _KINDS:
        raise ValueError(f"kind: expected one of {_KINDS}, got {kind!r}")
    if not element_id.replace("-", "").isalnum():
        raise ValueError(f"element_id: expected letters, digits and '-', got {element_id!r}")
    if len(frames) != len(slider_values) or not frames:
        raise ValueError("frames: expected one frame per slider value")
    if not 0 <= initial < len(frames):
        raise ValueError(f"initial: expected an index below {len(frames)}, got {initial}")
    if not alt or len(alt.split()) < 5:
        raise ValueError("alt: expected a sentence that says what the figure shows")
    n_x = 0 if x is None else len(x)
    n_categories = 0 if categories is None else len(categories)
    clean = []
    for frame in frames:
        if kind == "lines":
            series = [{"name": str(s["name"]), "y": _finite(s["y"], "y")} for s in frame["series"]]
            if any(len(s["y"]) != n_x for s in series):
                raise ValueError("frames: every series needs one y per x")
            clean.append({"series": series, "note": str(frame.get("note", ""))})
        else:
            y = _finite(frame["y"], "y")
            if len(y) != n_categories:
                raise ValueError("frames: expected one bar per category")
            clean.append({"y": y, "note": str(frame.get("note", "")),
                          "text": str(frame.get("text", ""))})
    spec = {"kind": kind, "title": title, "xlabel": xlabel, "ylabel": ylabel, "ylog": ylog,
            "ylim": list(ylim) if ylim else None,
            "slider": {"label": slider_label, "values": [str(v) for v in slider_values],
                       "initial": initial},
            "x": _finite(x, "x") if x is not None else None,
            "categories": [str(c) for c in categories] if categories is not None else None,
            "frames": clean}
    payload = html.escape(json.dumps(spec, ensure_ascii=False, separators=(",", ":")))
    return (f'<div class="course-widget" id="{element_id}" data-spec="{payload}">'
            f'<p class="course-widget-fallback">{html.escape(alt)} (This figure needs '
            f'JavaScript to draw.)</p></div>')
