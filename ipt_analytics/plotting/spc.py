"""Statistical process control: p-charts and run charts with their signals.

The numbers come from :mod:`ipt_analytics.stats.spc`; this module only draws them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.ticker import PercentFormatter

from ipt_analytics.plotting._style import ALERT_COLOUR, ALERT_MARKER, OKABE_ITO, get_ax, require

__all__ = ["plot_p_chart", "plot_run_chart"]

_NEEDED = ["period", "n", "rate", "part", "include", "centre", "lcl", "ucl", "out_of_control",
           "in_long_run", "incomplete", "runs_signal", "signal", "longest_run",
           "longest_run_max", "n_crossings", "n_crossings_min"]  # fmt: skip


def _runs_text(chart: pd.DataFrame) -> str:
    """One line per phase naming the runs signal that fired (or none)."""
    lines = []
    phases = chart.groupby("part", sort=True, observed=True)
    for p, g in phases:
        r = g.iloc[0]
        head = f"phase {p}: " if len(phases) > 1 else ""
        if pd.isna(r["longest_run"]):
            lines.append(f"{head}no useful points")
            continue
        fired = []
        if r["longest_run"] > r["longest_run_max"]:
            fired.append(f"longest run {r['longest_run']} > {r['longest_run_max']}")
        if r["n_crossings"] < r["n_crossings_min"]:
            fired.append(f"crossings {r['n_crossings']} < {r['n_crossings_min']}")
        lines.append(
            head + ("shift signal: " + ", ".join(fired) if fired else
                    f"no runs signal (longest run {r['longest_run']} <= "
                    f"{r['longest_run_max']}, crossings {r['n_crossings']} >= "
                    f"{r['n_crossings_min']})")
        )  # fmt: skip
    return "\n".join(lines)


def _draw(chart, ax, *, limits: bool, percent: bool, show_n: bool, xlabel, ylabel, kwargs):
    k = len(chart)
    x = np.arange(k, dtype=float)
    rate = chart["rate"].to_numpy(dtype=float)
    incomplete = chart["incomplete"].to_numpy(dtype=bool)
    ooc = chart["out_of_control"].to_numpy(dtype=bool)
    long_run = chart["in_long_run"].to_numpy(dtype=bool)
    parts = chart["part"].to_numpy()
    style = {"color": OKABE_ITO["blue"], "marker": "o", "markersize": 5, "linewidth": 1.5}
    style.update(kwargs)
    ax.plot(x, rate, gid="rate", label="value" if not percent else "rate", **style)
    excluded = ~chart["include"].to_numpy(dtype=bool) & ~incomplete
    if excluded.any():
        ax.plot(x[excluded], rate[excluded], linestyle="none", marker="x", markersize=8,
                color="0.3", zorder=4, gid="excluded",
                label="excluded from centre and rules")  # fmt: skip
    if incomplete.any():
        ax.plot(x[incomplete], rate[incomplete], linestyle="none", marker="o", markersize=7,
                markerfacecolor="white", markeredgecolor="0.4", zorder=4, gid="incomplete",
                label="incomplete period (not judged)")  # fmt: skip
    edges = np.arange(k + 1, dtype=float) - 0.5
    for i, p in enumerate(np.unique(parts)):
        idx = np.flatnonzero(parts == p)
        lo, hi = edges[idx[0]], edges[idx[-1] + 1]
        centre = float(chart["centre"].iloc[idx[0]])
        shift = bool(chart["runs_signal"].iloc[idx[0]])
        ax.plot([lo, hi], [centre, centre], color=ALERT_COLOUR if shift else "black",
                linestyle="--" if shift else "-", linewidth=1.2, gid=f"centre_{p}",
                label=("centre line" if i == 0 else "_nolegend_"))  # fmt: skip
        if limits:
            lim_label = _limit_label(chart)
            for col in ("ucl", "lcl"):
                v = chart[col].to_numpy(dtype=float)[idx]
                ax.plot(np.r_[edges[idx], hi], np.r_[v, v[-1]], drawstyle="steps-post",
                        color="0.35", linestyle=":", linewidth=1, gid=f"{col}_{p}",
                        label=lim_label if (col == "ucl" and i == 0) else "_nolegend_")  # fmt: skip
        if i > 0:
            ax.axvline(lo, color="0.6", linewidth=0.8)
    if long_run.any():
        ax.plot(x[long_run], rate[long_run], linestyle="none", marker="s", markersize=8,
                markerfacecolor="none", markeredgecolor=OKABE_ITO["orange"], markeredgewidth=1.5,
                zorder=4, gid="long_run", label="point in an unusually long run")  # fmt: skip
    if ooc.any():
        ax.plot(x[ooc], rate[ooc], markersize=10, zorder=5, gid="out_of_control",
                label="outside the limits", **ALERT_MARKER)  # fmt: skip
    if show_n:
        for xi, ni in zip(x, chart["n"].to_numpy(), strict=True):
            if np.isfinite(ni):
                ax.annotate(f"{ni:g}", (xi, 0), xytext=(0, 2), textcoords="offset points",
                            ha="center", va="bottom", fontsize="x-small", color="0.35",
                            xycoords=("data", "axes fraction"))  # fmt: skip
    ax.set_xticks(x, [str(p) for p in chart["period"]])
    if k > 8:
        for label in ax.get_xticklabels():
            label.set_rotation(45)
            label.set_horizontalalignment("right")
    ax.set_xlim(edges[0], edges[-1])
    if percent:
        ax.yaxis.set_major_formatter(PercentFormatter(xmax=1))
        ax.set_ylim(bottom=0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(f"{ylabel} (%)" if percent else ylabel)
    notes = [_runs_text(chart), "", "Anhoej run rules (n = useful points):",
             "shift if longest run > round(log2 n) + 3",
             "or crossings < qbinom(0.05, n - 1, 0.5)"]  # fmt: skip
    if show_n:
        notes.append("grey numbers at the bottom: n per period")
    # the verdict sits in the legend title, clear of any figure title
    ax.legend(fontsize="small", frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0),
              title="\n".join(notes), title_fontsize="x-small")  # fmt: skip
    ax.get_legend()._legend_box.align = "left"
    return ax


def _limit_label(chart: pd.DataFrame) -> str:
    sigma = chart.attrs.get("sigma")
    return f"{sigma:g}-sigma limits" if sigma is not None else "control limits"


def plot_p_chart(
    chart: pd.DataFrame,
    *,
    ylabel: str = "Rate",
    xlabel: str = "Quarter",
    show_n: bool = True,
    ax: Axes | None = None,
    **kwargs,
) -> Axes:
    """Rate per period with centre line, limits, the signals that fired and each point's n.

    Periods sit at x = 0, 1, ...; the limits change with each period's n and are drawn as
    steps one period wide. Each phase has its own centre line (a vertical rule separates
    phases); a centre line is dashed in vermillion when its phase has a runs signal, and the
    legend title names the signal per phase (longest run or crossings, with the numbers).
    Points outside the limits are filled vermillion, points in an unusually long run are
    boxed, excluded points are crosses, incomplete periods are drawn hollow and grey and are
    never judged; each period's n is printed along the bottom.

    Parameters
    ----------
    chart : DataFrame
        Output of :func:`ipt_analytics.stats.spc.p_chart`.
    ylabel : str, default "Rate"
        Name of the rate, e.g. "Dropout rate"; the axis shows percentages.
    xlabel : str, default "Quarter"
    show_n : bool, default True
        Print each period's n.
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
    >>> from ipt_analytics.stats.spc import p_chart
    >>> c = pd.DataFrame({"quarter": ["2024Q1", "2024Q2"], "dropouts": [10, 30],
    ...                   "ended": [100, 100]})
    >>> ax = plot_p_chart(p_chart(c, period="quarter", events="dropouts", n="ended"))
    >>> [t.get_text() for t in ax.get_legend().get_texts()][:2]
    ['rate', 'centre line']
    """
    require(chart, _NEEDED, "plot_p_chart")
    return _draw(chart, get_ax(ax), limits=True, percent=True, show_n=show_n, xlabel=xlabel,
                 ylabel=ylabel, kwargs=kwargs)  # fmt: skip


def plot_run_chart(
    chart: pd.DataFrame,
    *,
    ylabel: str = "Value",
    xlabel: str = "Period",
    percent: bool = False,
    ax: Axes | None = None,
    **kwargs,
) -> Axes:
    """Run chart: values around their median, the runs signal named (see
    :func:`plot_p_chart`; no limits).

    Parameters
    ----------
    chart : DataFrame
        Output of :func:`ipt_analytics.stats.spc.run_chart`.
    percent : bool, default False
        Format the y axis as percentages (values are fractions).

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from ipt_analytics.stats.spc import run_chart
    >>> d = pd.DataFrame({"m": range(12), "v": range(12)})
    >>> ax = plot_run_chart(run_chart(d, period="m", value="v"))
    >>> "crossings 1 < 3" in ax.get_legend().get_title().get_text()
    True
    """
    require(chart, _NEEDED, "plot_run_chart")
    return _draw(chart, get_ax(ax), limits=False, percent=percent, show_n=False, xlabel=xlabel,
                 ylabel=ylabel, kwargs=kwargs)  # fmt: skip
