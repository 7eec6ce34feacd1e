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

__all__ = ["plot_kaplan_meier", "plot_km_result"]


def plot_kaplan_meier(
    km,
    *,
    at_risk: pd.DataFrame | None = None,
    at_risk_times: Sequence[float] | None = None,
    min_at_risk: int | None = 10,
    time: str = "week",
    ylabel: str = "Proportion without response",
    conf_level: float | None = 0.95,
    ax: Axes | None = None,
    **kwargs,
) -> Axes:
    """Kaplan-Meier step curves by group with confidence bands and numbers at risk.

    Every number comes from :mod:`ipt_analytics.stats.survival`; this function only draws.
    Curves stop where fewer than ``min_at_risk`` episodes remain at risk (an estimate
    resting on one or two episodes drops to 0 on a single event), and the figure says so.

    Parameters
    ----------
    km : KaplanMeier or DataFrame
        A :class:`~ipt_analytics.stats.survival.KaplanMeier` result (preferred: the curves
        are cut at ``min_at_risk`` by :meth:`KaplanMeier.curves` and the numbers at risk
        come from :meth:`KaplanMeier.at_risk`), or a tidy table ``time, n_risk, n_events,
        survival, conf_low, conf_high`` [``group``] drawn as given. A curve starts at 1 at
        time 0 if the table has no row at time 0.
    at_risk : DataFrame, optional
        Numbers at risk to print under the axes, columns ``group, time, n_risk`` (e.g.
        ``KaplanMeier.at_risk(times)``).
    at_risk_times : sequence of float, optional
        With a ``KaplanMeier`` result and no ``at_risk``: the times of the at-risk table
        (default: the x ticks). ``[]`` for no table.
    min_at_risk : int or None, default 10
        With a ``KaplanMeier`` result, stop each curve at the last time with at least this
        many at risk (stated under the legend). ``None`` draws the whole curve.
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
    >>> ax = plot_kaplan_meier(km)
    >>> ax.lines[0].get_xydata().tolist()
    [[0.0, 1.0], [2.0, 0.6], [4.0, 0.3]]
    """
    caller = "plot_kaplan_meier"
    result = km if hasattr(km, "curves") and hasattr(km, "at_risk") else None
    if result is not None:
        km = result.curves(min_at_risk) if min_at_risk is not None else result.table
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
    if result is not None:
        x_max = max(x_max, max(float(np.max(v)) for v in result.meta["times"].values()))
    if at_risk is not None:
        require(at_risk, ["group", "time", "n_risk"], caller)
        x_max = max(x_max, float(at_risk["time"].max()))
    ax.set_ylim(0, 1.02)
    ax.set_xlim(0, x_max * 1.02 if x_max > 0 else 1)
    integer_ticks(ax)
    ax.set_xlabel(time_label(time))
    ax.set_ylabel(ylabel)
    notes = [f"bands: {100 * conf_level:g}% CI"] if conf_level is not None else []
    cut = km.attrs.get("min_at_risk")
    if cut is not None:
        notes.append(f"curves stop where < {cut}\nremain at risk")
        if km.attrs.get("not_drawn"):
            notes.append("not drawn (< {} episodes): {}".format(
                cut, ", ".join(map(str, km.attrs["not_drawn"]))))  # fmt: skip
    legend_outside(ax, title="\n".join(notes) if notes else None)

    if at_risk is None and result is not None and (at_risk_times is None or len(at_risk_times)):
        if at_risk_times is None:
            at_risk_times = [v for v in ax.get_xticks() if 0 <= v <= x_max]
        at_risk = result.at_risk(at_risk_times)
    if at_risk is not None and len(at_risk):
        table = at_risk
        xy = ("data", "axes fraction")
        offset = -44

        ax.annotate(
            f"Number at risk (at {time_label(time).lower()})",
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
            for _, row in table.loc[table["group"].astype(str) == str(g)].iterrows():
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


def plot_km_result(
    result, ax: Axes | None = None, *, min_at_risk: int | None = 10, at_risk_times=None
) -> Axes:
    """``KaplanMeier.plot()``: :func:`plot_kaplan_meier` of the result, with bands, curves
    stopped where fewer than ``min_at_risk`` remain at risk and the numbers-at-risk table."""
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 5))
    event = result.meta["event"].replace("_event", "")
    return plot_kaplan_meier(result, ax=ax, min_at_risk=min_at_risk, at_risk_times=at_risk_times,
                             conf_level=result.meta.get("conf_level"),
                             ylabel=f"Proportion without {event}")  # fmt: skip
