"""Episode outcomes: waterfall of percent change and Jacobson-Truax pre/post scatter."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.patches import Patch

from ipt_analytics.instruments.table import get_instrument
from ipt_analytics.plotting._style import (
    CONTEXT_GREY,
    GROUP_COLOURS,
    OKABE_ITO,
    get_ax,
    legend_outside,
    n_label,
    require,
)

__all__ = ["plot_waterfall", "plot_reliable_change", "OUTCOME_COLOURS", "CS_COLOURS"]

#: Waterfall categories (first match wins) and their colours.
OUTCOME_COLOURS = {
    "remission": OKABE_ITO["bluish_green"],
    "response": OKABE_ITO["blue"],
    "partial_response": OKABE_ITO["sky_blue"],
    "no_response": CONTEXT_GREY,
}

#: Jacobson-Truax categories (cs_category of ipt_analytics.outcomes.episode) and their colours.
CS_COLOURS = {
    "recovered": OKABE_ITO["bluish_green"],
    "improved": OKABE_ITO["blue"],
    "unchanged": CONTEXT_GREY,
    "deteriorated": OKABE_ITO["orange"],
    "harmed": OKABE_ITO["vermillion"],
}


def _remission_text(instrument: str) -> str:
    inst = get_instrument(instrument)
    sign = "<" if inst.remission_rule == "lt" else "≤"
    return f"final {inst.label} {sign} {inst.remission_cutoff:g}"


def _missing_notes(missing: pd.DataFrame, n_missing: int) -> list[str]:
    """Why episodes have no percent change, counted by reason (not all are baseline 0)."""
    if not n_missing:
        return []
    if not {"baseline", "final"} <= set(missing.columns):
        return [f"{n_missing} without a percent change not shown"]
    base = missing["baseline"].to_numpy(dtype=float)
    final = missing["final"].to_numpy(dtype=float)
    reasons = [
        (np.isnan(base), "without a rating"),
        (~np.isnan(base) & np.isnan(final), "with a single rating"),
        (~np.isnan(base) & ~np.isnan(final) & (base <= 0), "with baseline 0"),
    ]
    notes = [f"{int(m.sum())} {text}" for m, text in reasons if m.any()]
    return [", ".join(notes) + " not shown"] if notes else []


def _flag(values: pd.Series) -> np.ndarray:
    return values.fillna(False).astype(bool).to_numpy()


def plot_waterfall(
    outcomes: pd.DataFrame,
    *,
    instrument: str = "phq9",
    y_max: float = 100.0,
    ax: Axes | None = None,
    **kwargs,
) -> Axes:
    """Percent change from baseline per episode, sorted, coloured by outcome.

    Bars run from the largest increase (left) to the largest decrease (right). Colours:
    remission (a score threshold, so shown by colour rather than by a line), else response
    (>= 50% reduction), else partial response (25-50%), else no response. Dashed lines mark
    -50% (response) and -25% (partial response). Episodes without a percent change are
    left out and counted in the x-axis label by reason (no rating, a single rating, or
    baseline 0).

    Parameters
    ----------
    outcomes : DataFrame
        One row per episode (:func:`ipt_analytics.episode_outcomes`): ``pct_change`` (in
        percent, -100 to +inf), ``response``, ``remission`` and optionally
        ``partial_response`` (booleans).
    instrument : str, default "phq9"
        Names the y axis and the remission cut-off in the legend.
    y_max : float, default 100
        Upper y limit in percent; taller bars (large relative worsening from a low
        baseline) are cut and counted in the x-axis label.
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
    >>> o = pd.DataFrame({"pct_change": [-80.0, -30.0, 10.0], "response": [True, False, False],
    ...                   "partial_response": [False, True, False],
    ...                   "remission": [True, False, False]})
    >>> ax = plot_waterfall(o)
    >>> [round(b.get_height()) for b in ax.containers[0]]
    [10, -30, -80]
    """
    caller = "plot_waterfall"
    require(outcomes, ["pct_change", "response", "remission"], caller)
    ax = get_ax(ax)
    inst = get_instrument(instrument)
    data = outcomes.loc[outcomes["pct_change"].notna()]
    n_missing = len(outcomes) - len(data)
    data = data.sort_values("pct_change", ascending=False, kind="mergesort")
    pct = data["pct_change"].to_numpy(dtype=float)
    remission = _flag(data["remission"])
    response = _flag(data["response"])
    partial = (
        _flag(data["partial_response"])
        if "partial_response" in data.columns
        else np.zeros(len(data), bool)
    )
    category = np.select(
        [remission, response, partial],
        ["remission", "response", "partial_response"],
        default="no_response",
    )
    colours = [OUTCOME_COLOURS[c] for c in category]
    style = {"width": 1.0, "linewidth": 0}
    style.update(kwargs)
    bars = ax.bar(np.arange(len(pct)), pct, color=colours, **style)
    for patch in bars:
        patch.set_gid("waterfall")
    ax.axhline(0, color="black", linewidth=0.8, gid="zero")
    ax.axhline(-50, color="black", linestyle="--", linewidth=1, gid="response_line")
    ax.axhline(-25, color="black", linestyle=":", linewidth=1, gid="partial_line")
    rule = outcomes.attrs.get("definitions", {}).get("remission", {}).get("rule")
    rem_text = (
        rule.replace("final", f"final {inst.label}").replace("<=", "≤")
        if rule
        else _remission_text(instrument)
    )
    names = {
        "remission": f"remission ({rem_text})",
        "response": "response (≥ 50% reduction), no remission",
        "partial_response": "partial response (25-50% reduction)",
        "no_response": "no response (< 25% reduction or worse)",
    }
    handles = [
        Patch(color=OUTCOME_COLOURS[c], label=n_label(names[c], int((category == c).sum())))
        for c in OUTCOME_COLOURS
    ]
    ax.legend(handles=handles, loc="upper right", fontsize="small", frameon=False)
    ax.set_ylim(-105, max(y_max, 5.0))
    n_cut = int((pct > y_max).sum())
    notes = [f"{len(pct)} episodes, sorted by percent change"]
    if n_cut:
        notes.append(f"{n_cut} above +{y_max:g}% cut off")
    notes += _missing_notes(outcomes.loc[outcomes["pct_change"].isna()], n_missing)
    ax.set_xlabel("; ".join(notes))
    ax.set_xticks([])
    ax.set_xlim(-1, len(pct))
    ax.set_ylabel(f"Change in {inst.label} total from baseline (%)")
    ax.text(len(pct), -50, " −50%", va="center", ha="left", fontsize="small")
    ax.text(len(pct), -25, " −25%", va="center", ha="left", fontsize="small")
    return ax


def plot_reliable_change(
    outcomes: pd.DataFrame,
    *,
    instrument: str = "phq9",
    rc_threshold: float | None = None,
    cutoff: float | None = None,
    jitter: float = 0.0,
    seed: int | np.random.Generator = 0,
    ax: Axes | None = None,
    **kwargs,
) -> Axes:
    """Jacobson-Truax plot: final against baseline score per episode.

    Draws the identity line (no change), the reliable-change band (diagonals at
    ``final = baseline +/- rc_threshold``: points outside changed reliably; below the band
    is improvement because lower scores are better), and the clinical cut-off as a
    horizontal and a vertical line. Points are coloured by ``cs_category``; episodes
    without a category (no reliability given to the outcomes) are drawn as hollow grey
    circles, "not classified".

    Parameters
    ----------
    outcomes : DataFrame
        ``baseline``, ``final`` and ``cs_category`` per episode
        (:func:`ipt_analytics.episode_outcomes`).
    instrument : str, default "phq9"
    rc_threshold : float, optional
        Reliable change in raw points. Default: the one the categories were computed with,
        ``critical_value * s_diff`` from ``outcomes.attrs["definitions"]["jacobson_truax"]``
        (set by :func:`ipt_analytics.episode_outcomes` when it had a reliability); else the
        instrument's NHS Talking Therapies threshold (PHQ-9 6, GAD-7 4).
    cutoff : float, optional
        Clinical cut-off. Default: the Jacobson-Truax ``cutoff`` in the same attrs; else the
        instrument's caseness cut-off (PHQ-9 10, GAD-7 8).
    jitter : float, default 0
        Half-width of uniform jitter added to both coordinates (integer scores overlap).
    seed : int or numpy.random.Generator, default 0
        Seed of the jitter.
    ax : matplotlib Axes, optional
    **kwargs
        Passed to ``Axes.scatter``.

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import pandas as pd
    >>> o = pd.DataFrame({"baseline": [18.0, 12.0], "final": [4.0, 13.0],
    ...                   "cs_category": ["recovered", "unchanged"]})
    >>> ax = plot_reliable_change(o)
    >>> [t.get_text() for t in ax.get_legend().get_texts()][:2]
    ['recovered (n = 1)', 'unchanged (n = 1)']
    """
    caller = "plot_reliable_change"
    require(outcomes, ["baseline", "final", "cs_category"], caller)
    inst = get_instrument(instrument)
    jt = (outcomes.attrs.get("definitions") or {}).get("jacobson_truax") or {}
    jt_rc = None
    if jt.get("s_diff") is not None and jt.get("critical_value") is not None:
        jt_rc = float(jt["critical_value"]) * float(jt["s_diff"])
        jt_rc = jt_rc if np.isfinite(jt_rc) else None
    jt_cut = jt.get("cutoff")
    jt_cut = float(jt_cut) if jt_cut is not None and np.isfinite(float(jt_cut)) else None
    rc = rc_threshold if rc_threshold is not None else jt_rc or inst.reliable_change
    cut = cutoff if cutoff is not None else jt_cut or inst.caseness_cutoff
    if rc is None or cut is None:
        raise ValueError(
            f"{caller}(): {inst.label} has no sourced reliable-change threshold or caseness "
            "cut-off; pass rc_threshold= and cutoff= (e.g. the Jacobson-Truax values used "
            "for the outcomes)."
        )
    ax = get_ax(ax)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    data = outcomes.loc[outcomes["baseline"].notna() & outcomes["final"].notna()]
    lo, hi = float(inst.total_min), float(inst.total_max)
    grid = np.array([lo - 1, hi + 1])
    ax.fill_between(grid, grid - rc, grid + rc, color="0.92", linewidth=0, zorder=0, gid="rc_band")
    ax.plot(grid, grid, color="black", linewidth=1, gid="identity", label="_nolegend_")
    for sign in (-1, 1):
        ax.plot(
            grid,
            grid + sign * rc,
            color="0.45",
            linestyle="--",
            linewidth=1,
            gid=f"rc_{'lower' if sign < 0 else 'upper'}",
            label="_nolegend_",
        )
    ax.axhline(cut, color="0.3", linestyle=":", linewidth=1.2, gid="cutoff_final")
    ax.axvline(cut, color="0.3", linestyle=":", linewidth=1.2, gid="cutoff_baseline")

    known = [c for c in CS_COLOURS if c in set(data["cs_category"])]
    other = sorted(set(data["cs_category"].dropna()) - set(CS_COLOURS), key=str)
    extra = iter(c for c in GROUP_COLOURS if c not in CS_COLOURS.values())
    colours = dict(CS_COLOURS) | {c: next(extra, "black") for c in other}
    for category in known + other:
        rows = data.loc[data["cs_category"] == category]
        x = rows["baseline"].to_numpy(dtype=float)
        y = rows["final"].to_numpy(dtype=float)
        if jitter:
            x = x + rng.uniform(-jitter, jitter, len(x))
            y = y + rng.uniform(-jitter, jitter, len(y))
        style = {"s": 16, "alpha": 0.75, "linewidths": 0}
        style.update(kwargs)
        points = ax.scatter(
            x, y, color=colours[category], label=n_label(category, len(rows)), zorder=3, **style
        )
        points.set_gid(f"points:{category}")
    unclassified = data.loc[data["cs_category"].isna()]
    if len(unclassified):
        points = ax.scatter(
            unclassified["baseline"].to_numpy(dtype=float),
            unclassified["final"].to_numpy(dtype=float),
            facecolors="none",
            edgecolors=CONTEXT_GREY,
            linewidths=0.8,
            s=16,
            label=n_label("not classified", len(unclassified)),
            zorder=2,
        )
        points.set_gid("points:not_classified")
    ax.set_xlim(lo - 1, hi + 1)
    ax.set_ylim(lo - 1, hi + 1)
    ax.set_aspect("equal")
    ax.set_xlabel(f"Baseline {inst.label} total ({inst.total_min}-{inst.total_max})")
    ax.set_ylabel(f"Final {inst.label} total ({inst.total_min}-{inst.total_max})")
    legend_outside(
        ax,
        title=(
            f"reliable change ±{rc:.3g} points\n(below the band: improvement)\n"
            f"clinical cut-off {cut:.3g}"
        ),
    )
    return ax
