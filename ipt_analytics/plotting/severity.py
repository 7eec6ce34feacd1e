"""Severity-band composition over time (stacked shares)."""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.ticker import PercentFormatter

from ipt_analytics.instruments.table import get_instrument
from ipt_analytics.plotting._style import band_label, get_ax, require, time_label

__all__ = ["plot_severity_shares", "severity_colours"]


def severity_colours(n_bands: int, cmap: str = "YlOrRd") -> list:
    """``n_bands`` colours from a sequential colormap, light (least severe) to dark.

    The default ``YlOrRd`` is a ColorBrewer sequential scheme (Brewer, colorbrewer2.org),
    whose lightness rises monotonically, so the order stays readable with colour-vision
    deficiencies and in greyscale; the palest and darkest ends are skipped so the lightest
    band still shows on white.

    Examples
    --------
    >>> len(severity_colours(5))
    5
    """
    colormap = matplotlib.colormaps[cmap]
    return [colormap(v) for v in np.linspace(0.12, 0.92, n_bands)]


def plot_severity_shares(
    shares: pd.DataFrame,
    *,
    instrument: str | None = None,
    time: str | None = None,
    cmap: str = "YlOrRd",
    show_n: bool = True,
    ax: Axes | None = None,
    **kwargs,
) -> Axes:
    """Stacked bars of the share of ratings in each severity band per time point.

    Bands are stacked from least severe (bottom) to most severe (top); the legend lists
    them in the same visual order (most severe first).

    Parameters
    ----------
    shares : DataFrame
        Output of :func:`ipt_analytics.stats.describe.severity_shares` (columns ``time, severity,
        n, share``).
    instrument : str, optional
        Default ``shares.attrs["instrument"]``; fixes band order and labels.
    time : {"session", "week"}, optional
        Default ``shares.attrs["time"]`` or "session".
    cmap : str, default "YlOrRd"
        Sequential colormap (see :func:`severity_colours`).
    show_n : bool, default True
        Write the number of ratings above each bar.
    ax : matplotlib Axes, optional
    **kwargs
        Passed to ``Axes.bar``.

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import pandas as pd
    >>> from ipt_analytics.stats.describe import severity_shares
    >>> s = pd.DataFrame({"session": [1, 1, 2], "instrument": "gad7", "total": [16.0, 3.0, 3.0],
    ...                   "severity": ["severe", "minimal", "minimal"]})
    >>> ax = plot_severity_shares(severity_shares(s, instrument="gad7"))
    >>> [t.get_text() for t in ax.get_legend().get_texts()]
    ['severe', 'moderate', 'mild', 'minimal']
    """
    caller = "plot_severity_shares"
    require(shares, ["time", "severity", "n", "share"], caller)
    instrument = instrument or shares.attrs.get("instrument")
    if instrument is None:
        raise ValueError(
            f"{caller}(): instrument is not known; pass instrument='phq9' (or another code) "
            "or the table returned by describe.severity_shares."
        )
    inst = get_instrument(instrument)
    time = time or shares.attrs.get("time", "session")
    ax = get_ax(ax)
    labels = inst.band_labels
    colours = severity_colours(len(labels), cmap)
    times = np.sort(pd.unique(shares["time"]))
    bottom = np.zeros(len(times))
    containers = []
    for label, colour in zip(labels, colours, strict=True):
        band = shares.loc[shares["severity"] == label].set_index("time")["share"]
        height = band.reindex(times).fillna(0.0).to_numpy(dtype=float)
        style = {"width": 0.8, "edgecolor": "white", "linewidth": 0.5}
        style.update(kwargs)
        bars = ax.bar(times, height, bottom=bottom, color=colour, label=band_label(label), **style)
        for patch in bars:
            patch.set_gid(f"band:{label}")
        containers.append(bars)
        bottom = bottom + height
    if show_n:
        totals = shares.groupby("time", observed=True)["n"].sum().reindex(times)
        for t, n in totals.items():
            ax.text(t, 1.01, f"{int(n)}", ha="center", va="bottom", fontsize=7, gid="n")
        ax.text(0.0, 1.01, "n =", transform=ax.transAxes, ha="right", va="bottom", fontsize=7)
    ax.set_ylim(0, 1)
    ax.yaxis.set_major_formatter(PercentFormatter(xmax=1))
    ax.set_ylabel(f"Share of {inst.label} ratings")
    ax.set_xlabel(time_label(time))
    ax.set_xticks(times)
    ax.legend(
        containers[::-1],
        [band_label(label) for label in labels[::-1]],
        title=f"{inst.label} severity",
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        fontsize="small",
        title_fontsize="small",
        frameon=False,
    )
    return ax
