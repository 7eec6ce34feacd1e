"""Figures as SVG text that is identical on every run (for self-contained HTML reports)."""

from __future__ import annotations

import io

import matplotlib
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

__all__ = ["figure_svg", "new_axes"]


def figure_svg(fig: Figure, *, close: bool = True) -> str:
    """The figure as an inline ``<svg>`` element: no date, fixed element ids, text as paths.

    ``svg.hashsalt`` fixes the ids matplotlib derives from a random salt and ``Date: None``
    drops the creation date, so the same figure gives the same text. Text is drawn as paths
    (``svg.fonttype = "path"``) so the SVG needs no font and shows the same in any browser.

    Examples
    --------
    >>> matplotlib.use("Agg")
    >>> fig, ax = plt.subplots()
    >>> _ = ax.plot([0, 1], [0, 1])
    >>> a = figure_svg(fig, close=False); b = figure_svg(fig)
    >>> a == b, a.startswith("<svg")
    (True, True)
    """
    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": "ipt_analytics", "svg.fonttype": "path"}):
        fig.savefig(
            buffer, format="svg", metadata={"Date": None, "Creator": None}, bbox_inches="tight"
        )
    if close:
        plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def new_axes(width: float = 7.0, height: float = 3.6):
    """A new figure and its Axes of the given size in inches (for callers outside plotting).

    Examples
    --------
    >>> matplotlib.use("Agg")
    >>> fig, ax = new_axes(4, 2)
    >>> [round(v) for v in fig.get_size_inches()]
    [4, 2]
    >>> plt.close(fig)
    """
    return plt.subplots(figsize=(width, height))
