"""Statistical process control: the p-chart of a rate per period."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.ticker import PercentFormatter

from ipt_analytics.plotting._style import ALERT_COLOUR, OKABE_ITO, get_ax, require

__all__ = ["plot_p_chart"]


def plot_p_chart(
    chart: pd.DataFrame,
    *,
    ylabel: str = "Rate",
    xlabel: str = "Quarter",
    ax: Axes | None = None,
    **kwargs,
) -> Axes:
    """Rate per period with centre line, control limits and out-of-control points.

    Periods sit at x = 0, 1, ... with their labels as ticks. The limits change with each
    period's n, so they are drawn as steps one period wide (``drawstyle="steps-post"``
    over the period edges -0.5, 0.5, ..., k - 0.5; the last value is repeated to close
    the last step). Rates outside the limits are drawn in vermillion.

    Parameters
    ----------
    chart : DataFrame
        Output of :func:`ipt_analytics.stats.describe.p_chart` (``period, events, n, rate,
        centre, lcl, ucl, out_of_control``).
    ylabel : str, default "Rate"
        Name of the rate, e.g. "Dropout rate"; the axis shows percentages.
    xlabel : str, default "Quarter"
    ax : matplotlib Axes, optional
    **kwargs
        Passed to the rate line.

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import pandas as pd
    >>> from ipt_analytics.stats.describe import p_chart
    >>> c = pd.DataFrame({"quarter": ["2024Q1", "2024Q2"], "dropouts": [10, 30],
    ...                   "ended": [100, 100]})
    >>> ax = plot_p_chart(p_chart(c, period="quarter", events="dropouts", n="ended"))
    >>> [t.get_text() for t in ax.get_legend().get_texts()][0]
    'rate (40 events / 200)'
    """
    caller = "plot_p_chart"
    require(
        chart, ["period", "events", "n", "rate", "centre", "lcl", "ucl", "out_of_control"], caller
    )
    ax = get_ax(ax)
    k = len(chart)
    x = np.arange(k, dtype=float)
    edges = np.arange(k + 1, dtype=float) - 0.5
    rate = chart["rate"].to_numpy(dtype=float)
    ooc = chart["out_of_control"].to_numpy(dtype=bool)
    total_events = chart["events"].sum()
    total_n = chart["n"].sum()
    style = {"color": OKABE_ITO["blue"], "marker": "o", "markersize": 5, "linewidth": 1.5}
    style.update(kwargs)
    ax.plot(x, rate, gid="rate", label=f"rate ({total_events:g} events / {total_n:g})", **style)
    centre = float(chart["centre"].iloc[0])
    ax.plot(
        edges[[0, -1]],
        [centre, centre],
        color="black",
        linewidth=1,
        gid="centre",
        label=f"centre line (pooled rate {100 * centre:.1f}%)",
    )
    sigma = chart.attrs.get("sigma")
    limits = f"{sigma:g}-sigma control limits" if sigma is not None else "control limits"
    for col in ("ucl", "lcl"):
        values = chart[col].to_numpy(dtype=float)
        ax.plot(
            edges,
            np.r_[values, values[-1]],
            drawstyle="steps-post",
            color="0.35",
            linestyle="--",
            linewidth=1,
            gid=col,
            label=limits if col == "ucl" else "_nolegend_",
        )
    if ooc.any():
        ax.plot(
            x[ooc],
            rate[ooc],
            linestyle="none",
            marker="o",
            markersize=10,
            color=ALERT_COLOUR,
            markeredgecolor="black",
            zorder=4,
            gid="out_of_control",
            label="outside the limits",
        )
    ax.set_xticks(x, [str(p) for p in chart["period"]])
    if k > 8:
        for label in ax.get_xticklabels():
            label.set_rotation(45)
            label.set_horizontalalignment("right")
    ax.set_xlim(edges[0], edges[-1])
    ax.yaxis.set_major_formatter(PercentFormatter(xmax=1))
    ax.set_ylim(bottom=0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(f"{ylabel} (%)")
    ax.legend(fontsize="small", frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return ax
