"""Estimate tables: marginal means (point + interval) and contrasts (forest plot)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.lines import Line2D

from ipt_analytics.plotting._style import (
    CONTEXT_GREY,
    OKABE_ITO,
    difference_label,
    get_ax,
    group_colours,
    instrument_label,
    legend_below,
    legend_outside,
    mark_fit_problems,
    n_label,
    ordered_groups,
    require,
    subtitle,
)

__all__ = ["plot_marginal_means", "plot_contrasts", "format_p"]


def format_p(p: float) -> str:
    """Display text of a p-value: ``"p < 0.001"``, ``"p = 0.012"``; empty for NaN.

    Examples
    --------
    >>> format_p(0.0004), format_p(0.01234), format_p(float("nan"))
    ('p < 0.001', 'p = 0.012', '')
    """
    if p is None or not np.isfinite(p):
        return ""
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def _level_text(table: pd.DataFrame, conf_level) -> str:
    level = conf_level if conf_level is not None else table.attrs.get("conf_level")
    return f"{100 * level:g}% CI" if level is not None else "CI"


def plot_marginal_means(
    means: pd.DataFrame,
    *,
    group: str = "group",
    hue: str | None = None,
    instrument: str | None = "phq9",
    conf_level: float | None = None,
    at: str | None = None,
    ax: Axes | None = None,
    **kwargs,
) -> Axes:
    """Estimated marginal mean per group as a point with its confidence interval.

    A subtitle (top left) states the time point (``at``, a ``time`` column or
    ``attrs["at"]``) and the interval level and adjustment.

    Parameters
    ----------
    means : DataFrame
        Tidy marginal-means table: key column(s) then ``estimate``, ``conf_low``,
        ``conf_high`` (and optionally ``n``, episodes per row, shown in the labels).
    group : str, default "group"
        Key column on the horizontal axis.
    hue : str, optional
        Second key column (e.g. ``"week"``): one colour per level, dodged side by side.
    instrument : str or None, default "phq9"
        Names the y axis, e.g. "Estimated mean PHQ-9 total (0-27)".
    conf_level : float, optional
        Level of the intervals for the legend (default: ``means.attrs["conf_level"]``).
    at : str, optional
        Time point for the subtitle, e.g. ``"week 12"``.
    ax : matplotlib Axes, optional
    **kwargs
        Passed to ``Axes.errorbar``.

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import pandas as pd
    >>> mm = pd.DataFrame({"group": ["individual", "telehealth"], "estimate": [8.1, 9.0],
    ...                    "conf_low": [7.2, 8.0], "conf_high": [9.0, 10.0], "n": [120, 80]})
    >>> ax = plot_marginal_means(mm, conf_level=0.95)
    >>> [t.get_text() for t in ax.get_xticklabels()]
    ['individual\\n(n = 120)', 'telehealth\\n(n = 80)']
    """
    caller = "plot_marginal_means"
    require(means, [group, "estimate", "conf_low", "conf_high"] + ([hue] if hue else []), caller)
    ax = get_ax(ax)
    levels = list(pd.unique(means[group]))
    positions = {g: i for i, g in enumerate(levels)}
    hues = ordered_groups(means[hue]) if hue else [None]
    colours = group_colours(hues)
    width = 0.6
    step = width / max(len(hues), 1) if hue else 0.0
    for j, h in enumerate(hues):
        rows = means if h is None else means.loc[means[hue] == h]
        est = rows["estimate"].to_numpy(dtype=float)
        x = np.array([positions[g] for g in rows[group]], dtype=float)
        x += (j - (len(hues) - 1) / 2) * step
        style = {
            "fmt": "o",
            "color": colours[h],
            "markersize": 6,
            "elinewidth": 2,
            "capsize": 4,
        }
        style.update(kwargs)
        container = ax.errorbar(
            x,
            est,
            yerr=np.vstack(
                [
                    est - rows["conf_low"].to_numpy(dtype=float),
                    rows["conf_high"].to_numpy(dtype=float) - est,
                ]
            ),
            label=str(h) if h is not None else "_nolegend_",
            **style,
        )
        container[0].set_gid(f"means:{h}")
    ticks = []
    for g in levels:
        n = None
        if "n" in means.columns and not hue:
            n = means.loc[means[group] == g, "n"].iloc[0]
        ticks.append(n_label(g, n).replace(" (n", "\n(n"))
    ax.set_xticks(range(len(levels)), ticks)
    ax.set_xlim(-0.6, len(levels) - 0.4)
    ax.set_xlabel(group.replace("_", " ").capitalize())
    ax.set_ylabel(instrument_label(instrument, "Estimated mean"))
    ci_adj, _ = _adjustments(means)
    title = f"estimate and {_level_text(means, conf_level)}"
    text = "; ".join(
        p for p in (_at_text(means, at), f"{_level_text(means, conf_level)} "
                    + (f"{ci_adj}-adjusted" if ci_adj else "not adjusted for multiplicity"))
        if p
    )  # fmt: skip
    if hue:
        legend_outside(ax, title=f"{hue.replace('_', ' ')}\n({title})")
    subtitle(ax, text)
    mark_fit_problems(ax, means)
    return ax


def plot_contrasts(
    contrasts: pd.DataFrame,
    *,
    contrast: str = "contrast",
    instrument: str | None = "phq9",
    conf_level: float | None = None,
    show_p: bool = True,
    at: str | None = None,
    ax: Axes | None = None,
    **kwargs,
) -> Axes:
    """Forest plot of contrasts with a reference line at 0.

    Rows are drawn top to bottom in table order. When the table has columns
    ``conf_low_adjusted`` and ``conf_high_adjusted`` (intervals adjusted for multiple
    comparisons), those are drawn as thin orange lines with end caps behind the thick
    blue unadjusted intervals, and named in the legend. With ``show_p`` the p-value is
    written at the right of each row: ``p_adjusted`` when that column has values, else
    ``p_value``. A subtitle (top left) states the time point and the adjustment of the
    intervals and of the p-values: intervals are named "adjusted" only when the table says
    so (``attrs["conf_adjust"]``, e.g. Bonferroni from :func:`ipt_analytics.contrasts`), and
    "not adjusted for multiplicity" when p-values are adjusted but intervals are not. The
    legend sits under the axes, clear of any title (give a title some ``pad``).

    Parameters
    ----------
    contrasts : DataFrame
        Tidy contrast table: ``contrast``, ``estimate``, ``conf_low``, ``conf_high``;
        optionally ``p_value``, ``p_adjusted``, ``conf_low_adjusted``,
        ``conf_high_adjusted``. ``.attrs["p_adjust"]`` (method name), if set, is shown.
    contrast : str, default "contrast"
        Label column.
    instrument : str or None, default "phq9"
        Names the x axis, e.g. "Difference in PHQ-9 total (points)".
    conf_level : float, optional
        Level of the intervals for the legend (default ``contrasts.attrs["conf_level"]``).
    show_p : bool, default True
    at : str, optional
        Time point for the subtitle, e.g. ``"week 12"`` (default: from a ``time`` column or
        ``attrs["at"]`` when the table has one).
    ax : matplotlib Axes, optional
    **kwargs
        Passed to the point estimates (``Axes.plot``).

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import pandas as pd
    >>> c = pd.DataFrame({"contrast": ["group - individual"], "estimate": [1.2],
    ...                   "conf_low": [0.2], "conf_high": [2.2], "p_value": [0.02]})
    >>> ax = plot_contrasts(c)
    >>> [t.get_text() for t in ax.texts if t.get_gid() == "p"]
    ['p = 0.020']
    """
    caller = "plot_contrasts"
    require(contrasts, [contrast, "estimate", "conf_low", "conf_high"], caller)
    ax = get_ax(ax)
    k = len(contrasts)
    y = np.arange(k)[::-1].astype(float)
    est = contrasts["estimate"].to_numpy(dtype=float)
    low = contrasts["conf_low"].to_numpy(dtype=float)
    high = contrasts["conf_high"].to_numpy(dtype=float)
    level = _level_text(contrasts, conf_level)
    handles = []
    adjusted = {"conf_low_adjusted", "conf_high_adjusted"} <= set(contrasts.columns)
    ax.axvline(0, color=CONTEXT_GREY, linestyle="--", linewidth=1, zorder=0, gid="reference")
    if adjusted:
        a_low = contrasts["conf_low_adjusted"].to_numpy(dtype=float)
        a_high = contrasts["conf_high_adjusted"].to_numpy(dtype=float)
        ax.hlines(
            y,
            a_low,
            a_high,
            colors=OKABE_ITO["orange"],
            linewidth=1.2,
            zorder=1,
            gid="interval:adjusted",
        )
        ax.plot(
            np.r_[a_low, a_high],
            np.r_[y, y],
            linestyle="none",
            marker="|",
            markersize=9,
            color=OKABE_ITO["orange"],
            zorder=1,
            gid="caps:adjusted",
        )
        method = contrasts.attrs.get("p_adjust")
        text = f"{level} adjusted for multiplicity" + (f" ({method})" if method else "")
        handles.append(
            Line2D(
                [],
                [],
                color=OKABE_ITO["orange"],
                linewidth=1.2,
                marker="|",
                markersize=9,
                label=text,
            )
        )
    ax.hlines(
        y, low, high, colors=OKABE_ITO["blue"], linewidth=3, zorder=2, gid="interval:unadjusted"
    )
    ci_adj, p_adj = _adjustments(contrasts)
    if adjusted:
        ci_text = f"{level} (unadjusted)"
    elif ci_adj:
        ci_text = f"{level}, {ci_adj}-adjusted"
    elif p_adj:
        ci_text = f"{level}, not adjusted for multiplicity"
    else:
        ci_text = level
    handles.insert(0, Line2D([], [], color=OKABE_ITO["blue"], linewidth=3, label=ci_text))
    style = {"marker": "D", "color": "black", "markersize": 5, "linestyle": "none"}
    style.update(kwargs)
    ax.plot(est, y, zorder=3, gid="estimate", **style)
    handles.insert(
        0,
        Line2D([], [], marker="D", color="black", markersize=5, linestyle="none", label="estimate"),
    )
    if show_p:
        p_col = None
        if "p_adjusted" in contrasts.columns and contrasts["p_adjusted"].notna().any():
            p_col = "p_adjusted"
        elif "p_value" in contrasts.columns:
            p_col = "p_value"
        if p_col is not None:
            for yi, p in zip(y, contrasts[p_col].to_numpy(dtype=float), strict=True):
                text = format_p(p)
                if p_col == "p_adjusted" and text:
                    text = text.replace("p ", "adj. p ", 1)
                ax.text(
                    1.02,
                    yi,
                    text,
                    transform=ax.get_yaxis_transform(),
                    va="center",
                    fontsize="small",
                    gid="p",
                )
    ax.set_yticks(y, [str(c) for c in contrasts[contrast]])
    ax.set_ylim(-0.7, k - 0.3)
    ax.set_xlabel(difference_label(instrument))
    legend_below(ax, handles=handles, ncols=len(handles))
    parts = [_at_text(contrasts, at)]
    parts.append(
        "intervals " + (f"{ci_adj}-adjusted" if ci_adj else "not adjusted for multiplicity")
    )
    if show_p and p_adj:
        parts.append(f"p {p_adj}-adjusted" if p_adj != "adjusted" else "p adjusted")
    subtitle(ax, "; ".join(p for p in parts if p))
    mark_fit_problems(ax, contrasts)
    return ax


def _adjustments(table: pd.DataFrame) -> tuple[str | None, str | None]:
    """(interval adjustment, p-value adjustment) named by the table, None when none."""
    ci = table.attrs.get("conf_adjust")
    ci = None if ci in (None, "none") else str(ci)
    p = table.attrs.get("p_adjust")
    if p in (None, "none"):
        has = "p_adjusted" in table.columns and table["p_adjusted"].notna().any()
        p = "adjusted" if has else None
    return ci, (None if p is None else str(p))


def _at_text(table: pd.DataFrame, at) -> str:
    if at is not None:
        return f"at {at}"
    if "at" in table.attrs:
        return f"at {table.attrs['at']}"
    if "time" in table.columns and table["time"].nunique() == 1:
        return f"at time {table['time'].iloc[0]:g}"
    return ""
