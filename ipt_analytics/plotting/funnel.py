"""Funnel plot of units' rates against their size (Spiegelhalter 2005)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.ticker import PercentFormatter

from ipt_analytics.plotting._style import ALERT_COLOUR, OKABE_ITO, get_ax, require

__all__ = ["plot_funnel"]


def plot_funnel(
    table: pd.DataFrame, limits: pd.DataFrame, *, ylabel: str = "Rate", ax: Axes | None = None
) -> Axes:
    """Units as labelled points over 95% and 99.8% funnel limits.

    Parameters
    ----------
    table : output of :func:`ipt_analytics.stats.funnel.funnel_table` (``unit, n,
        adjusted_rate, position``; rows with a missing rate are not drawn) with
        ``attrs["theta"]``.
    limits : a smooth grid of limits, :func:`ipt_analytics.stats.funnel.binomial_funnel_limits`
        (``n, lower_998, lower_95, upper_95, upper_998``).
    ylabel : name of the rate; the axis shows percentages.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from ipt_analytics.stats.funnel import binomial_funnel_limits, funnel_table
    >>> t = funnel_table(["a"] * 40 + ["b"] * 60, [1] * 20 + [0] * 20 + [1] * 40 + [0] * 20)
    >>> ax = plot_funnel(t, binomial_funnel_limits(np.arange(5, 80), t.attrs["theta"]))
    >>> [x.get_text() for x in ax.texts]
    ['a', 'b']
    """
    require(table, ["unit", "n", "adjusted_rate", "position"], "plot_funnel")
    ax = get_ax(ax)
    theta = float(table.attrs["theta"])
    x = limits["n"].to_numpy(dtype=float)
    for lo, hi, style, label in (
        ("lower_95", "upper_95", "--", "95% limits"),
        ("lower_998", "upper_998", ":", "99.8% limits"),
    ):
        ax.plot(x, limits[hi], linestyle=style, color="0.3", linewidth=1, label=label)
        ax.plot(x, limits[lo], linestyle=style, color="0.3", linewidth=1, label="_nolegend_")
    ax.axhline(theta, color="black", linewidth=1, label=f"target {100 * theta:.1f}%")
    shown = table[table["adjusted_rate"].notna()]
    outside = shown["position"].str.contains("99.8").to_numpy()
    ax.scatter(
        shown["n"],
        shown["adjusted_rate"],
        s=28,
        zorder=3,
        color=np.where(outside, ALERT_COLOUR, OKABE_ITO["blue"]),
        edgecolor="black",
        linewidth=0.5,
        label="unit",
    )
    # labels to the right of each point; units of (nearly) the same size alternate above and
    # below so stacked points keep readable labels
    ordered = shown.sort_values(["n", "adjusted_rate"], kind="stable")
    span = max(float(x.max()), 1.0)
    previous, flip = None, False
    for row in ordered.itertuples(index=False):
        flip = (not flip) if previous is not None and row.n - previous < 0.03 * span else False
        previous = row.n
        ax.annotate(
            str(row.unit),
            (row.n, row.adjusted_rate),
            xytext=(4, -9 if flip else 3),
            textcoords="offset points",
            fontsize=7,
        )
    ax.yaxis.set_major_formatter(PercentFormatter(xmax=1))
    ax.set_xlim(left=0)
    ax.set_xlabel("Episodes (n)")
    ax.set_ylabel(f"{ylabel} (%)")
    ax.legend(fontsize="small", frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return ax
