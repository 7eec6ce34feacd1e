"""Figures of the quarterly QI report: the monthly p-chart with phases and incomplete months."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.ticker import PercentFormatter

from ipt_analytics.plotting._style import ALERT_MARKER, CONTEXT_GREY, OKABE_ITO, get_ax, require

__all__ = ["plot_monthly_p_chart"]


def plot_monthly_p_chart(
    chart: pd.DataFrame, *, ylabel: str = "Rate", ax: Axes | None = None
) -> Axes:
    """Monthly rate with centre line and 3-sigma limits per phase; incomplete months grey.

    Parameters
    ----------
    chart : the report's monthly chart table (``month, rate, centre, lcl, ucl, phase,
        baseline, incomplete, signal``). Months without a rate (suppressed or empty) are gaps;
        months with a ``signal`` are drawn in vermillion.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> c = pd.DataFrame({"month": ["2025-01", "2025-02", "2025-03"], "rate": [0.5, 0.4, 0.9],
    ...                   "centre": [np.nan, 0.5, 0.5], "lcl": [np.nan, 0.3, 0.3],
    ...                   "ucl": [np.nan, 0.7, 0.7], "phase": [0, 0, 0],
    ...                   "baseline": [False, True, True], "incomplete": [True, False, False],
    ...                   "signal": ["", "", "above upper limit"]})
    >>> ax = plot_monthly_p_chart(c)
    >>> sorted(t.get_text() for t in ax.get_legend().get_texts())[0]
    '3-sigma limits'
    """
    require(
        chart,
        ["month", "rate", "centre", "lcl", "ucl", "phase", "baseline", "incomplete", "signal"],
        "plot_monthly_p_chart",
    )
    ax = get_ax(ax)
    k = len(chart)
    x = np.arange(k, dtype=float)
    rate = chart["rate"].to_numpy(dtype=float)
    inc = chart["incomplete"].to_numpy(dtype=bool)
    sig = (chart["signal"] != "").to_numpy()
    if inc.any():
        ax.axvspan(
            -0.5, x[inc].max() + 0.5, color="0.92", zorder=0, label="incomplete (start of extract)"
        )
    base = chart["baseline"].to_numpy(dtype=bool)
    if base.any():
        ax.axvspan(
            x[base].min() - 0.5,
            x[base].max() + 0.5,
            ymin=0,
            ymax=0.03,
            color=OKABE_ITO["sky_blue"],
            zorder=1,
            label="baseline months",
        )
    main = np.where(inc, np.nan, rate)
    ax.plot(
        x,
        main,
        color=OKABE_ITO["blue"],
        marker="o",
        markersize=4,
        linewidth=1.4,
        label="monthly rate",
    )
    ax.plot(
        x[inc],
        rate[inc],
        linestyle="none",
        marker="o",
        markersize=4,
        markerfacecolor="white",
        color=CONTEXT_GREY,
        label="_nolegend_",
    )
    first = True
    for _, part in chart.assign(x=x).groupby("phase", observed=True):
        part = part[part["centre"].notna()]
        if part.empty:
            continue
        px = part["x"].to_numpy(dtype=float)
        ax.plot(
            px,
            part["centre"],
            color="black",
            linewidth=1,
            label="centre line" if first else "_nolegend_",
        )
        for col in ("ucl", "lcl"):
            ax.plot(
                px,
                part[col],
                color="0.35",
                linestyle="--",
                linewidth=1,
                drawstyle="steps-mid",
                label="3-sigma limits" if (first and col == "ucl") else "_nolegend_",
            )
        first = False
    starts = np.flatnonzero(np.diff(chart["phase"].to_numpy()) != 0) + 1
    for s in starts:
        ax.axvline(
            s - 0.5,
            color=OKABE_ITO["reddish_purple"],
            linewidth=1.2,
            label="phase change" if s == starts[0] else "_nolegend_",
        )
    if sig.any():
        ax.plot(x[sig], rate[sig], markersize=8, zorder=4, label="signal", **ALERT_MARKER)
    step = max(1, int(np.ceil(k / 12)))
    ax.set_xticks(x[::step], [str(m) for m in chart["month"].iloc[::step]])
    for label in ax.get_xticklabels():
        label.set_rotation(45)
        label.set_horizontalalignment("right")
    ax.set_xlim(-0.5, k - 0.5)
    ax.yaxis.set_major_formatter(PercentFormatter(xmax=1))
    ax.set_ylim(0, 1)
    ax.set_xlabel("Month episodes ended")
    ax.set_ylabel(f"{ylabel} (%)")
    ax.legend(fontsize="small", frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return ax
