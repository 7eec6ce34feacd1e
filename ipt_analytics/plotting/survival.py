"""Kaplan-Meier curves with confidence bands and a numbers-at-risk table."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from ipt_analytics.plotting._style import (
    get_ax,
    group_colours,
    integer_ticks,
    legend_outside,
    n_label,
    ordered_groups,
    require,
    time_label,
)

__all__ = ["plot_kaplan_meier", "plot_km_result", "numbers_at_risk"]


def numbers_at_risk(km: pd.DataFrame, times: Sequence[float]) -> pd.DataFrame:
    """Number at risk (still under observation, event not yet had) at chosen times.

    ``n_risk`` of a row is the number with time >= that row's time, so the number at risk
    at ``t`` is ``n_risk`` of the first row with time >= ``t``; after the last row it is
    the last ``n_risk - n_events - n_censored`` (0 without an ``n_censored`` column). This
    is exact when every observed time, censorings included, has a row (R ``survfit``,
    lifelines' event table). A table with rows at event times only
    (:func:`ipt_analytics.stats.survival.kaplan_meier`) misses censorings between rows, so the
    count can be too high; pass its ``KaplanMeier.at_risk(times)`` to
    :func:`plot_kaplan_meier` instead.

    Parameters
    ----------
    km : DataFrame
        Columns ``time``, ``n_risk``, ``n_events`` and optionally ``group``, ``n_censored``.
    times : sequence of float

    Returns
    -------
    DataFrame
        Columns ``group, time, n_risk`` (group ``"all"`` without a group column).

    Examples
    --------
    >>> import pandas as pd
    >>> km = pd.DataFrame({"time": [1, 3, 4], "n_risk": [10, 7, 4], "n_events": [2, 1, 1]})
    >>> numbers_at_risk(km, [0, 2, 4, 6])["n_risk"].tolist()
    [10, 7, 4, 0]
    """
    require(km, ["time", "n_risk", "n_events"], "numbers_at_risk")
    key = km["group"] if "group" in km.columns else pd.Series("all", index=km.index)
    rows = []
    for g in ordered_groups(key):
        part = km.loc[key == g].sort_values("time")
        t = part["time"].to_numpy(dtype=float)
        n_risk = part["n_risk"].to_numpy(dtype=float)
        last = n_risk[-1] - part["n_events"].to_numpy(dtype=float)[-1]
        if "n_censored" in part.columns:
            last -= part["n_censored"].to_numpy(dtype=float)[-1]
        else:
            last = 0.0
        for s in times:
            i = int(np.searchsorted(t, s, side="left"))
            rows.append({"group": g, "time": s, "n_risk": int(n_risk[i] if i < len(t) else last)})
    return pd.DataFrame(rows, columns=["group", "time", "n_risk"])


def plot_kaplan_meier(
    km: pd.DataFrame,
    *,
    at_risk_times: Sequence[float] | None = None,
    at_risk: pd.DataFrame | None = None,
    time: str = "week",
    ylabel: str = "Proportion without response",
    conf_level: float | None = 0.95,
    ax: Axes | None = None,
    **kwargs,
) -> Axes:
    """Kaplan-Meier step curves by group with confidence bands and numbers at risk.

    Parameters
    ----------
    km : DataFrame
        Tidy Kaplan-Meier table (:mod:`ipt_analytics.stats.survival`): ``time, n_risk,
        n_events, survival, conf_low, conf_high`` and optionally ``group``. A curve starts
        at 1 at time 0 if the table has no row at time 0.
    at_risk_times : sequence of float, optional
        Times for the numbers-at-risk table under the axes (default: the x tick
        positions within the data). ``[]`` for no table. See :func:`numbers_at_risk`.
    at_risk : DataFrame, optional
        Exact numbers at risk, columns ``group, time, n_risk`` (e.g.
        ``KaplanMeier.at_risk(times)`` of :mod:`ipt_analytics.stats.survival`); its times are
        used and ``at_risk_times`` is ignored.
    time : {"week", "session"}, default "week"
        Time unit, for the x-axis label.
    ylabel : str, default "Proportion without response"
        The event is response for ``time_to_response``; change for other events.
    conf_level : float or None, default 0.95
        Level of the bands (legend title only).
    ax : matplotlib Axes, optional
    **kwargs
        Passed to the step lines.

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import pandas as pd
    >>> km = pd.DataFrame({"time": [2.0, 4.0], "n_risk": [10, 6], "n_events": [4, 3],
    ...                    "survival": [0.6, 0.3], "conf_low": [0.3, 0.1],
    ...                    "conf_high": [0.8, 0.6]})
    >>> ax = plot_kaplan_meier(km, at_risk_times=[0, 2, 4])
    >>> ax.lines[0].get_xydata().tolist()
    [[0.0, 1.0], [2.0, 0.6], [4.0, 0.3]]
    """
    caller = "plot_kaplan_meier"
    require(km, ["time", "n_risk", "n_events", "survival", "conf_low", "conf_high"], caller)
    ax = get_ax(ax)
    key = km["group"] if "group" in km.columns else pd.Series("all", index=km.index)
    groups = ordered_groups(key)
    colours = group_colours(groups)
    x_max = float(km["time"].max())
    for g in groups:
        part = km.loc[key == g].sort_values("time")
        t = part["time"].to_numpy(dtype=float)
        s = part["survival"].to_numpy(dtype=float)
        lo = part["conf_low"].to_numpy(dtype=float)
        hi = part["conf_high"].to_numpy(dtype=float)
        if len(t) == 0 or t[0] > 0:
            t, s, lo, hi = np.r_[0.0, t], np.r_[1.0, s], np.r_[1.0, lo], np.r_[1.0, hi]
        colour = colours[g]
        ax.fill_between(
            t, lo, hi, step="post", color=colour, alpha=0.18, linewidth=0, gid=f"band:{g}"
        )
        style = {"color": colour, "linewidth": 2}
        style.update(kwargs)
        name = "all episodes" if "group" not in km.columns else g
        ax.step(
            t, s, where="post", label=n_label(name, part["n_risk"].max()), gid=f"km:{g}", **style
        )
    if at_risk is not None:
        require(at_risk, ["group", "time", "n_risk"], caller)
        at_risk_times = sorted(pd.unique(at_risk["time"]))
    if at_risk_times is not None and len(at_risk_times):
        x_max = max(x_max, float(max(at_risk_times)))
    ax.set_ylim(0, 1.02)
    ax.set_xlim(0, x_max * 1.02 if x_max > 0 else 1)
    integer_ticks(ax)
    ax.set_xlabel(time_label(time))
    ax.set_ylabel(ylabel)
    title = f"bands: {100 * conf_level:g}% CI" if conf_level is not None else None
    legend_outside(ax, title=title)

    if at_risk_times is None:
        at_risk_times = [v for v in ax.get_xticks() if 0 <= v <= x_max]
    if len(at_risk_times):
        table = at_risk if at_risk is not None else numbers_at_risk(km, at_risk_times)
        xy = ("data", "axes fraction")
        offset = -44
        ax.annotate(
            "Number at risk",
            xy=(0, 0),
            xycoords="axes fraction",
            xytext=(-18, offset),
            textcoords="offset points",
            ha="right",
            va="top",
            fontsize="small",
            fontweight="bold",
            gid="at_risk_title",
            annotation_clip=False,
        )
        for i, g in enumerate(groups):
            y_off = offset - 12 * (i + 1)
            ax.annotate(
                str(g) if "group" in km.columns else "all",
                xy=(0, 0),
                xycoords="axes fraction",
                xytext=(-18, y_off),
                textcoords="offset points",
                ha="right",
                va="top",
                fontsize="small",
                color=colours[g],
                gid=f"at_risk_label:{g}",
                annotation_clip=False,
            )
            for _, row in table.loc[table["group"] == g].iterrows():
                ax.annotate(
                    str(row["n_risk"]),
                    xy=(row["time"], 0),
                    xycoords=xy,
                    xytext=(0, y_off),
                    textcoords="offset points",
                    ha="center",
                    va="top",
                    fontsize="small",
                    color=colours[g],
                    gid=f"at_risk:{g}",
                    annotation_clip=False,
                )
    return ax


def plot_km_result(result, ax: Axes | None = None) -> Axes:
    """Quick step plot of a :class:`~ipt_analytics.stats.survival.KaplanMeier` result
    (``KaplanMeier.plot()``); :func:`plot_kaplan_meier` draws bands and numbers at risk."""

    if ax is None:
        _, ax = plt.subplots()
    palette = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00"]
    for k, (g, part) in enumerate(result.table.groupby("group", sort=False)):
        ax.step(part["time"], part["survival"], where="post", label=str(g),
                color=palette[k % len(palette)])  # fmt: skip
    ax.set_xlabel(f"{result.meta['time']} (weeks from baseline)")
    ax.set_ylabel(f"proportion without {result.meta['event'].replace('_event', '')}")
    ax.set_ylim(0, 1.02)
    ax.legend(title=result.meta["by"] or None)
    return ax
