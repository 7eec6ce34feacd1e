"""Score trajectories over sessions or weeks: observed and model-predicted."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.lines import Line2D

from ipt_analytics.plotting._style import (
    CONTEXT_GREY,
    get_ax,
    group_colours,
    instrument_label,
    integer_ticks,
    legend_outside,
    mark_fit_problems,
    n_label,
    ordered_groups,
    require,
    time_label,
)
from ipt_analytics.stats.describe import observed_means, sample_trajectories

__all__ = ["plot_observed_trajectories", "plot_predicted_trajectories"]


def _ci_text(conf_level) -> str:
    return f"{100 * conf_level:g}% CI" if conf_level is not None else "CI"


def plot_observed_trajectories(
    sessions: pd.DataFrame,
    *,
    instrument: str = "phq9",
    time: str = "session",
    by: str | None = None,
    n_lines: int = 30,
    seed: int | np.random.Generator = 0,
    conf_level: float = 0.95,
    max_time: float | None = None,
    ax: Axes | None = None,
    **kwargs,
) -> Axes:
    """Individual episodes as faint grey lines, with the mean and its CI band per group.

    The means come from :func:`ipt_analytics.stats.describe.observed_means` and the sampled
    episodes from :func:`ipt_analytics.stats.describe.sample_trajectories`; nothing is computed
    here.

    Parameters
    ----------
    sessions : DataFrame
        Canonical sessions table (``SessionData.sessions``).
    instrument : str, default "phq9"
    time : {"session", "week"}, default "session"
    by : str, optional
        Grouping column (e.g. ``"format"``): one mean line per group.
    n_lines : int, default 30
        Episodes drawn as individual lines (per group with ``by``); 0 for none.
    seed : int or numpy.random.Generator, default 0
        Seed of the episode sample.
    conf_level : float, default 0.95
        Level of the t interval around each mean.
    max_time : float, optional
        Last session / week shown.
    ax : matplotlib Axes, optional
    **kwargs
        Passed to the mean lines (``Axes.plot``).

    Returns
    -------
    matplotlib Axes
        Legend entries name each group with its number of episodes, ``"group (n = 12)"``.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import pandas as pd
    >>> s = pd.DataFrame({"episode_id": ["a", "a", "b", "b"], "session": [1, 2, 1, 2],
    ...                   "instrument": "phq9", "total": [15.0, 9.0, 19.0, 13.0]})
    >>> ax = plot_observed_trajectories(s, n_lines=2)
    >>> ax.get_ylabel(), ax.get_legend().get_texts()[0].get_text()
    ('PHQ-9 total (0-27)', 'all episodes (n = 2)')
    """
    caller = "plot_observed_trajectories"
    means = observed_means(sessions, instrument=instrument, time=time, by=by, conf_level=conf_level)
    rows = sessions.loc[(sessions["instrument"] == instrument) & sessions["total"].notna()]
    if max_time is not None:
        means = means.loc[means["time"] <= max_time]
        rows = rows.loc[rows[time] <= max_time]
    if n_lines < 0:
        raise ValueError(f"{caller}(): n_lines={n_lines!r} must be >= 0, e.g. 30.")
    ax = get_ax(ax)

    drawn = sample_trajectories(rows, n=n_lines, seed=seed, by=by) if n_lines else rows.iloc[:0]
    for _, episode in drawn.groupby("episode_id", sort=True, observed=True):
        episode = episode.sort_values(time)
        ax.plot(
            episode[time].to_numpy(dtype=float),
            episode["total"].to_numpy(dtype=float),
            color=CONTEXT_GREY,
            alpha=0.35,
            linewidth=0.8,
            zorder=1,
            gid="individual",
            label="_nolegend_",
        )

    groups = ordered_groups(means["group"])
    colours = group_colours(groups)
    n_episodes = means.attrs.get("n_episodes", {})
    handles = []
    for g in groups:
        m = means.loc[means["group"] == g]
        x = m["time"].to_numpy(dtype=float)
        colour = colours[g]
        ax.fill_between(
            x,
            m["conf_low"].to_numpy(dtype=float),
            m["conf_high"].to_numpy(dtype=float),
            color=colour,
            alpha=0.2,
            linewidth=0,
            zorder=2,
            gid=f"band:{g}",
        )
        name = "all episodes" if by is None else g
        style = {"color": colour, "linewidth": 2.2, "marker": "o", "markersize": 3.5}
        style.update(kwargs)
        (line,) = ax.plot(
            x,
            m["mean"].to_numpy(dtype=float),
            zorder=3,
            gid=f"mean:{g}",
            label=n_label(name, n_episodes.get(g)),
            **style,
        )
        handles.append(line)
    if len(drawn):
        handles.append(
            Line2D(
                [],
                [],
                color=CONTEXT_GREY,
                alpha=0.6,
                linewidth=0.8,
                label=f"individual episodes (random sample of {drawn['episode_id'].nunique()})",
            )
        )
    ax.set_xlabel(time_label(time))
    ax.set_ylabel(instrument_label(instrument))
    legend_outside(ax, handles=handles, title=f"mean and {_ci_text(conf_level)}")
    integer_ticks(ax)
    return ax


def _prediction(ax, p, time, g, colour, label, kwargs):
    """One group's prediction: band (light fill with edge lines, so overlapping bands stay
    distinguishable) and line, solid over the group's observed range and dashed beyond."""
    x = p[time].to_numpy(dtype=float)
    est = p["estimate"].to_numpy(dtype=float)
    lo = p["conf_low"].to_numpy(dtype=float)
    hi = p["conf_high"].to_numpy(dtype=float)
    inside = (
        p["observed"].to_numpy(dtype=bool) if "observed" in p.columns else np.ones(len(p), bool)
    )
    ax.fill_between(x, lo, hi, where=inside, interpolate=False, color=colour, alpha=0.10,
                    linewidth=0, gid=f"band:{g}")  # fmt: skip
    for edge, name in ((lo, "low"), (hi, "high")):
        ax.plot(x[inside], edge[inside], color=colour, linewidth=0.7, alpha=0.9,
                gid=f"band_edge:{g}:{name}")  # fmt: skip
    style = {"color": colour, "linewidth": 2.2}
    style.update(kwargs)
    (line,) = ax.plot(np.where(inside, x, np.nan), np.where(inside, est, np.nan),
                      gid=f"prediction:{g}", label=label, **style)  # fmt: skip
    if not inside.all():
        # dashed beyond the observed range, joined to the solid part at its edge
        out = ~inside
        near = out | np.r_[out[1:], False] | np.r_[False, out[:-1]]
        xs, ys = x, np.where(near, est, np.nan)
        ax.plot(xs, ys, color=colour, linewidth=1.4, linestyle="--",
                gid=f"extrapolation:{g}")  # fmt: skip
    return line


def plot_predicted_trajectories(
    predictions: pd.DataFrame,
    *,
    observed: pd.DataFrame | None = None,
    instrument: str = "phq9",
    time: str = "session",
    group: str = "group",
    conf_level: float | None = 0.95,
    min_n: int = 10,
    ax: Axes | None = None,
    **kwargs,
) -> Axes:
    """Model-predicted mean per group with its confidence band; observed means as points.

    Parameters
    ----------
    predictions : DataFrame
        Tidy prediction table: the ``time`` column (``session`` or ``week``), ``estimate``,
        ``conf_low``, ``conf_high`` and, for several groups, the ``group`` column. An
        optional ``n`` column gives the episodes per group for the legend. With an
        ``observed`` column (:meth:`TrajectoryResult.predictions`), each group's line is
        solid and banded only over its observed range and dashed beyond it.
    observed : DataFrame, optional
        Output of :func:`ipt_analytics.stats.describe.observed_means` (columns ``group, time, n,
        mean, conf_low, conf_high``) drawn as points with error bars, slightly dodged per
        group. Its episode counts label the legend. Means of fewer than ``min_n`` ratings
        are not drawn (their intervals would dominate the figure).
    instrument : str, default "phq9"
    time : {"session", "week"}, default "session"
    group : str, default "group"
        Group column of ``predictions`` (ignored when absent: one line).
    conf_level : float or None, default 0.95
        Level of the bands, for the legend title only (None: "CI").
    min_n : int, default 10
        Smallest number of ratings behind an observed mean that is drawn.
    ax : matplotlib Axes, optional
    **kwargs
        Passed to the prediction lines.

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import pandas as pd
    >>> pred = pd.DataFrame({"group": ["group"] * 2 + ["individual"] * 2, "session": [1, 8] * 2,
    ...                      "estimate": [16.0, 9.0, 16.0, 8.0], "conf_low": [15.0, 8.0, 15.0, 7.0],
    ...                      "conf_high": [17.0, 10.0, 17.0, 9.0], "n": [40, 40, 60, 60]})
    >>> ax = plot_predicted_trajectories(pred)
    >>> [t.get_text() for t in ax.get_legend().get_texts()]
    ['group (n = 40)', 'individual (n = 60)', 'model prediction']
    """
    caller = "plot_predicted_trajectories"
    require(predictions, [time, "estimate", "conf_low", "conf_high"], caller)
    if observed is not None:
        require(observed, ["group", "time", "n", "mean", "conf_low", "conf_high"], caller)
    ax = get_ax(ax)
    has_group = group in predictions.columns
    key = predictions[group] if has_group else pd.Series("all", index=predictions.index)
    groups = ordered_groups(key)
    if observed is not None:
        groups += [g for g in ordered_groups(observed["group"]) if g not in groups]
    colours = group_colours(groups)
    n_obs = {}
    if observed is not None:
        n_obs = dict(observed.attrs.get("n_episodes", {})) or (
            observed.groupby("group", observed=True)["n"].max().to_dict()
        )
    handles = []
    for g in groups:
        colour = colours[g]
        p = predictions.loc[key == g].sort_values(time)
        n = n_obs.get(g)
        if n is None and "n" in p.columns and len(p):
            n = p["n"].max()
        label = n_label("all episodes" if not has_group else g, n)
        if len(p):
            handles.append(_prediction(ax, p, time, g, colour, label, kwargs))
    if observed is not None:
        k = len(groups)
        step = 0.08 if time == "session" else 0.06
        for i, g in enumerate(groups):
            o = observed.loc[(observed["group"] == g) & (observed["n"] >= min_n)]
            o = o.sort_values("time")
            if o.empty:
                continue
            mean = o["mean"].to_numpy(dtype=float)
            container = ax.errorbar(
                o["time"].to_numpy(dtype=float) + (i - (k - 1) / 2) * step,
                mean,
                yerr=np.vstack(
                    [
                        mean - o["conf_low"].to_numpy(dtype=float),
                        o["conf_high"].to_numpy(dtype=float) - mean,
                    ]
                ),
                fmt="o",
                markersize=3.5,
                color=colours[g],
                markerfacecolor="white",
                elinewidth=0.9,
                capsize=0,
                zorder=4,
                label="_nolegend_",
            )
            container[0].set_gid(f"observed:{g}")
    ci = f"{100 * conf_level:g}% CI" if conf_level is not None else "CI"
    handles.append(Line2D([], [], color="0.3", linewidth=2.2, label="model prediction"))
    if "observed" in predictions.columns and not predictions["observed"].all():
        handles.append(
            Line2D([], [], color="0.3", linewidth=1.4, linestyle="--",
                   label="beyond the group's data (extrapolated)")
        )  # fmt: skip
    if observed is not None:
        handles.append(
            Line2D(
                [],
                [],
                color="0.3",
                marker="o",
                markerfacecolor="white",
                linestyle="none",
                label=f"observed mean ± {_ci_text(observed.attrs.get('conf_level'))} (n ≥ {min_n})",
            )
        )
    legend_outside(ax, handles=handles, title=f"bands: {ci}")
    ax.set_xlabel(time_label(time))
    ax.set_ylabel(instrument_label(instrument))
    integer_ticks(ax)
    mark_fit_problems(ax, predictions)
    return ax
