"""Plotting: the expected artists, no pyplot state, renders headless."""

import io
import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from rnn_lib.lm_numpy import NumpyRNNLM, TrainHistory  # noqa: E402
from rnn_lib.plotting import (  # noqa: E402
    plot_gradient_norms,
    plot_hidden_states,
    plot_perplexity,
)


def history(name, valid=True):
    h = TrainHistory(name)
    for epoch in range(1, 4):
        h.record(epoch, 10.0 / epoch, 11.0 / epoch if valid else np.nan, 1.0, 2.0 * epoch,
                 100 * epoch)
    return h


def render(fig: Figure) -> bytes:
    """Draw through Agg and return PNG bytes, failing on a UserWarning (e.g. a missing glyph).

    pyparsing >= 3.3 flags matplotlib's own mathtext parser (used by log-scale tick
    labels) with deprecation warnings; those are the environment's, not ours.
    """
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        warnings.filterwarnings("ignore", message=".*deprecated", category=UserWarning)
        fig.savefig(buffer, format="png")
    return buffer.getvalue()


def test_perplexity_curves_one_colour_per_run():
    open_before = plt.get_fignums()
    fig, ax = plot_perplexity([history("numpy RNN"), history("torch GRU", valid=False)],
                              x="seconds")
    assert isinstance(fig, Figure) and plt.get_fignums() == open_before
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels == ["numpy RNN (train)", "numpy RNN (valid)", "torch GRU (train)"]
    np.testing.assert_array_equal(ax.get_lines()[0].get_xdata(), [2.0, 4.0, 6.0])
    np.testing.assert_allclose(ax.get_lines()[1].get_ydata(), [11.0, 5.5, 11.0 / 3])
    assert ax.get_lines()[0].get_color() == ax.get_lines()[1].get_color()
    assert ax.get_lines()[2].get_color() != ax.get_lines()[0].get_color()
    assert ax.get_xlabel() == "training time (s)" and ax.get_ylabel() == "perplexity"
    assert len(ax.get_legend().get_texts()) == 3
    assert render(fig).startswith(b"\x89PNG")


def test_perplexity_draws_on_a_given_axes_with_dict_labels():
    fig = Figure()
    axes = fig.subplots(1, 2)
    returned_fig, ax = plot_perplexity({"A": history("x")}, ax=axes[1], log_scale=True)
    assert returned_fig is fig and ax is axes[1] and not axes[0].get_lines()
    assert ax.get_lines()[0].get_label() == "A (train)" and ax.get_yscale() == "log"


def test_gradient_norms_log_scale_over_lags():
    model = NumpyRNNLM(5, 8, dtype=np.float64, seed=0)
    rng = np.random.default_rng(0)
    X, Y = rng.integers(0, 5, (10, 2)), rng.integers(0, 5, (10, 2))
    norms = model.gradient_norms_by_lag(X, Y)
    fig, ax = plot_gradient_norms({"RNN": norms, "geometric": 0.5 ** np.arange(10)})
    assert ax.get_yscale() == "log" and len(ax.get_lines()) == 2
    np.testing.assert_array_equal(ax.get_lines()[0].get_xdata(), np.arange(10))
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), norms)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["RNN", "geometric"]
    render(fig)


def test_hidden_state_heatmap_has_image_colorbar_and_token_labels():
    model = NumpyRNNLM(5, 12, seed=0)
    H = model.hidden_states([1, 2, 3, 0, 4, 1])
    tokens = ["a", "b", " ", "c", "d", "e"]
    fig, ax = plot_hidden_states(H, tokens, max_units=8)
    images = ax.get_images()
    assert len(images) == 1 and images[0].get_array().shape == (8, 6)
    np.testing.assert_allclose(images[0].get_array(), H[:, :8].T)
    assert images[0].get_clim() == (-1.0, 1.0)
    assert len(fig.axes) == 2  # the heatmap and its colour bar
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "␣", "c", "d", "e"]
    render(fig)


def test_bad_plot_input_names_the_argument():
    with pytest.raises(ValueError, match="x: expected one of"):
        plot_perplexity(history("a"), x="minutes")
    with pytest.raises(ValueError, match=r"H: expected a non-empty \(T, h\)"):
        plot_hidden_states(np.zeros(5))
    with pytest.raises(ValueError, match="tokens: expected 3 labels"):
        plot_hidden_states(np.zeros((3, 2)), ["a"])
    with pytest.raises(ValueError, match="norms: expected non-empty 1-D"):
        plot_gradient_norms(np.zeros((2, 2)))
    with pytest.raises(TypeError, match="ax: expected a matplotlib Axes"):
        plot_gradient_norms(np.ones(3), ax="left")
