"""rnn_lib.widgets: the HTML of the book's slider figures carries every frame as JSON."""

from __future__ import annotations

import html
import json
import re

import pytest

from rnn_lib.widgets import slider_figure

ALT = "Gradient norm against lag for several scales"


def spec_of(markup: str) -> dict:
    return json.loads(html.unescape(re.search(r'data-spec="([^"]*)"', markup).group(1)))


def lines(**changes):
    kwargs = dict(kind="lines", title="t", xlabel="lag", ylabel="norm", slider_label="ρ",
                  slider_values=["0.5", "1"], x=[0, 1, 2], ylog=True, alt=ALT,
                  frames=[{"series": [{"name": "a", "y": [1, 0.5, 0.25]}], "note": "half"},
                          {"series": [{"name": "a", "y": [1, 1, 1]}], "note": "flat"}])
    kwargs.update(changes)
    return slider_figure("w-test", **kwargs)


def test_frames_round_trip_through_the_html():
    spec = spec_of(lines())
    assert spec["kind"] == "lines" and spec["slider"]["values"] == ["0.5", "1"]
    assert spec["frames"][1]["series"][0]["y"] == [1.0, 1.0, 1.0]
    assert spec["frames"][0]["note"] == "half" and spec["ylog"] is True


def test_text_is_escaped_and_rounded():
    markup = lines(title='<script>"x"</script>', x=[0.123456789, 1, 2])
    assert "<script>" not in markup
    spec = spec_of(markup)
    assert spec["title"] == '<script>"x"</script>' and spec["x"][0] == 0.12346


def test_bars_carry_text():
    markup = slider_figure("w-bars", kind="bars", title="t", xlabel="c", ylabel="p",
                           slider_label="τ", slider_values=["1"], categories=["a", "b"],
                           frames=[{"y": [0.25, 0.75], "text": "ab", "note": "n"}], alt=ALT)
    assert spec_of(markup)["frames"][0]["text"] == "ab"


@pytest.mark.parametrize("changes, message", [
    ({"kind": "pie"}, "kind"),
    ({"slider_values": ["1"]}, "one frame per slider value"),
    ({"x": [0, 1]}, "one y per x"),
    ({"alt": "a plot"}, "alt"),
    ({"initial": 5}, "initial"),
    ({"frames": [{"series": [{"name": "a", "y": [1, float("nan"), 1]}]}] * 2}, "finite"),
])
def test_bad_specs_are_rejected(changes, message):
    with pytest.raises(ValueError, match=message):
        lines(**changes)


def test_numpy_arrays_are_accepted():
    import numpy as np

    spec = spec_of(lines(x=np.arange(3), frames=[
        {"series": [{"name": "a", "y": np.array([1.0, 0.5, 0.25])}]}] * 2))
    assert spec["x"] == [0.0, 1.0, 2.0]
