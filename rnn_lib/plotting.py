"""Figures for the language-model chapters: training curves, gradient decay, hidden states.

Every function draws on the ``ax`` it is given, or on a new
:class:`matplotlib.figure.Figure` that is *not* registered with pyplot: nothing
global changes (no current figure, no open-figure list, no rcParams), figures are
freed as soon as they are unreferenced, and everything works headless whatever the
backend (saving goes through Agg). Each returns ``(fig, ax)``; in a notebook, end
the cell with ``fig`` to display it, or call ``fig.savefig(path)``.

Colours are the Okabe-Ito palette, which stays distinguishable with the common forms
of colour blindness, and curves never differ by colour alone: each series also gets
its own line style and marker (:func:`series_style`). The book's chapters use the same
palette and line styles for their own figures through :func:`colorblind_safe_rc`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from cycler import cycler
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

__all__ = ["plot_perplexity", "plot_gradient_norms", "plot_hidden_states", "OKABE_ITO",
           "LINESTYLES", "MARKERS", "series_style", "colorblind_safe_rc"]

# Okabe & Ito (2008), "Color Universal Design": blue, orange, bluish green, vermillion,
# reddish purple, sky blue, black, yellow (last: low contrast on white).
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000",
             "#F0E442")
LINESTYLES = ("-", "--", "-.", ":", (0, (5, 1, 1, 1, 1, 1)), (0, (1, 1)), (0, (8, 2)),
              (0, (3, 1, 1, 1)))
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
# Diverging map for signed values (ColorBrewer RdBu, colour-blind safe).
DIVERGING_CMAP = "RdBu_r"
# Points; at the book's 110 dpi a figure shown at 80 % keeps 9-pt text (see the browser test).
LEGEND_FONTSIZE = 10


def series_style(index: int) -> dict:
    """Colour, line style and marker of the ``index``-th series: never colour alone."""
    if isinstance(index, bool) or not isinstance(index, int | np.integer) or index < 0:
        raise ValueError(f"index: expected a non-negative int, got {index!r}")
    return {"color": OKABE_ITO[index % len(OKABE_ITO)],
            "linestyle": LINESTYLES[index % len(LINESTYLES)],
            "marker": MARKERS[index % len(MARKERS)]}


def colorblind_safe_rc() -> dict:
    """rcParams for a chapter's own figures: Okabe-Ito colours paired with line styles.

    Use as ``plt.rcParams.update(colorblind_safe_rc())``; ``"C0"``, ``"C1"``, ... then
    name the palette's colours. Nothing is changed until the caller applies it.
    Text is set at ``LEGEND_FONTSIZE`` points (legends included), so a figure shown at
    no less than 80 % of its size on a page keeps legends of at least 9 pt.
    """
    return {"axes.prop_cycle": cycler(color=OKABE_ITO) + cycler(linestyle=LINESTYLES),
            "image.cmap": "cividis", "font.size": LEGEND_FONTSIZE,
            "legend.fontsize": LEGEND_FONTSIZE}


def _markevery(n_points: int) -> int:
    """About a dozen markers per curve, however many points it has."""
    return max(1, n_points // 12)

_X_AXES = {"epoch": "epoch", "seconds": "training time (s)", "tokens": "tokens seen"}


def _figure_and_axes(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    if ax is None:
        fig = Figure(figsize=figsize, layout="constrained")
        return fig, fig.add_subplot()
    if not isinstance(ax, Axes):
        raise TypeError(f"ax: expected a matplotlib Axes or None, got {type(ax).__name__}")
    return ax.figure, ax


def _as_named(items, kind: str) -> list[tuple[str, object]]:
    """A single item, a sequence of items or a {label: item} mapping -> [(label, item)]."""
    if isinstance(items, Mapping):
        return [(str(k), v) for k, v in items.items()]
    if isinstance(items, Sequence) and not isinstance(items, str | np.ndarray):
        return [(getattr(v, "name", "") or f"{kind} {i}", v) for i, v in enumerate(items)]
    return [(getattr(items, "name", "") or kind, items)]


def plot_perplexity(histories, *, x: str = "epoch", ax: Axes | None = None,
                    log_scale: bool = False, figsize=(6.0, 4.0)) -> tuple[Figure, Axes]:
    """Training (dashed) and validation (solid) perplexity of one or more runs.

    ``histories`` is a :class:`rnn_lib.lm_numpy.TrainHistory`, a list of them (labelled
    by their ``name``) or a ``{label: history}`` dict. ``x`` is ``"epoch"``,
    ``"seconds"`` (cumulative training time) or ``"tokens"``. Each run gets one colour;
    runs without validation data draw only the training curve.
    """
    if x not in _X_AXES:
        raise ValueError(f"x: expected one of {sorted(_X_AXES)}, got {x!r}")
    runs = _as_named(histories, "run")
    if not runs:
        raise ValueError("histories: expected at least one TrainHistory, got none")
    fig, ax = _figure_and_axes(ax, figsize)
    attribute = {"epoch": "epoch", "seconds": "seconds", "tokens": "tokens"}[x]
    for index, (label, history) in enumerate(runs):
        if not hasattr(history, "train_perplexity"):
            raise TypeError(f"histories: expected TrainHistory objects, got "
                            f"{type(history).__name__} for {label!r}")
        xs = getattr(history, attribute)
        style = series_style(index)
        every = _markevery(len(xs))
        ax.plot(xs, history.train_perplexity, linestyle="--", color=style["color"],
                marker=style["marker"], markersize=4, markerfacecolor="none",
                markevery=every, label=f"{label} (train)")
        valid = np.asarray(history.valid_perplexity, dtype=float)
        if valid.size and not np.all(np.isnan(valid)):
            ax.plot(xs, valid, linestyle="-", color=style["color"], marker=style["marker"],
                    markersize=4, markevery=every, label=f"{label} (valid)")
    ax.set_xlabel(_X_AXES[x])
    if x == "epoch":
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("perplexity")
    if log_scale:
        ax.set_yscale("log")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=LEGEND_FONTSIZE)
    return fig, ax


def plot_gradient_norms(norms, *, ax: Axes | None = None, figsize=(6.0, 4.0)
                        ) -> tuple[Figure, Axes]:
    """Gradient norm against time lag on a log scale: the vanishing-gradient picture.

    ``norms`` is a 1-D array (lag k = 0, 1, ... as returned by
    ``model.gradient_norms_by_lag``), a list of them, or a ``{label: array}`` dict.
    A straight line on this plot is geometric decay (or growth) with the lag. Each
    curve has its own colour, line style and marker.
    """
    curves = _as_named(norms, "model")
    if not curves:
        raise ValueError("norms: expected at least one array of gradient norms, got none")
    fig, ax = _figure_and_axes(ax, figsize)
    for index, (label, values) in enumerate(curves):
        values = np.asarray(values, dtype=float)
        if values.ndim != 1 or values.size == 0:
            raise ValueError(f"norms: expected non-empty 1-D arrays (one norm per lag), got "
                             f"shape {values.shape} for {label!r}")
        ax.plot(np.arange(values.size), values, **series_style(index), markersize=4,
                markevery=_markevery(values.size), label=label)
    ax.set_yscale("log")
    ax.set_xlabel("time lag k (steps before the loss)")
    # Mathtext; matplotlib's pyparsing deprecation warnings are not shown outside __main__.
    ax.set_ylabel(r"$\Vert \mathrm{d}\mathbf{H}_{T-k} \Vert$")
    ax.grid(True, which="both", alpha=0.3)
    if len(curves) > 1 or curves[0][0] != "model":
        ax.legend(fontsize=LEGEND_FONTSIZE)
    return fig, ax


def plot_hidden_states(H, tokens: Sequence[str] | None = None, *, max_units: int | None = None,
                       ax: Axes | None = None, vmax: float = 1.0, figsize=None
                       ) -> tuple[Figure, Axes]:
    """Heatmap of hidden activations: one row per unit, one column per time step.

    ``H`` is (T, h) (e.g. ``model.hidden_states(indices)``) or (T, 1, h).
    ``tokens`` (T,) labels the columns with the characters read at each step.
    ``max_units`` shows only the first units. The colour scale is symmetric,
    [-vmax, vmax]: tanh units live in [-1, 1]; the diverging map (ColorBrewer RdBu)
    is readable with the common forms of colour blindness.
    """
    H = np.asarray(H, dtype=float)
    if H.ndim == 3 and H.shape[1] == 1:
        H = H[:, 0, :]
    if H.ndim != 2 or 0 in H.shape:
        raise ValueError(f"H: expected a non-empty (T, h) array of hidden states, "
                         f"got shape {H.shape}")
    T, h = H.shape
    if tokens is not None and len(tokens) != T:
        raise ValueError(f"tokens: expected {T} labels (one per time step), got {len(tokens)}")
    if max_units is not None:
        if isinstance(max_units, bool) or not isinstance(max_units, int) or max_units < 1:
            raise ValueError(f"max_units: expected a positive int, got {max_units!r}")
        H, h = H[:, :max_units], min(h, max_units)
    figsize = figsize or (min(14.0, 2.0 + 0.25 * T), min(10.0, 1.5 + 0.15 * h))
    fig, ax = _figure_and_axes(ax, figsize)
    image = ax.imshow(H.T, aspect="auto", cmap=DIVERGING_CMAP, vmin=-vmax, vmax=vmax,
                      interpolation="nearest")
    fig.colorbar(image, ax=ax, label="activation")
    ax.set_xlabel("time step (token read)")
    ax.set_ylabel("hidden unit")
    if tokens is not None:
        ax.set_xticks(np.arange(T))
        ax.set_xticklabels(["␣" if t == " " else t for t in tokens], fontsize="small")
    return fig, ax
