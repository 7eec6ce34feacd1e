"""Forest plot of the contrasts of a group comparison (:func:`ipt_analytics.compare_groups`)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

__all__ = ["plot_comparison"]


def plot_comparison(comparison, ax: Axes | None = None, *, term: str | None = None) -> Axes:
    """Forest plot of one term of a :class:`~ipt_analytics.stats.groups.GroupComparison`.

    Parameters
    ----------
    comparison : GroupComparison
        Result of :func:`ipt_analytics.compare_groups`.
    ax : matplotlib Axes, optional
    term : str, optional
        ``"odds_ratio"`` (binary default), ``"risk_ratio"``, ``"risk_difference"``,
        ``"difference"`` (continuous default), or ``"nnt"``: the risk differences drawn
        with each row's number needed to treat written beside it, labelled NNTB (benefit)
        or NNTH (harm) as Altman 1998 (an NNT interval through infinity has no axis).

    Ratios are drawn on a log axis labelled in plain numbers (0.5, 1, 2), never in
    scientific notation. The intervals are the comparison's unadjusted intervals, and the
    axis label says so when the comparison adjusted its p-values.

    Returns
    -------
    matplotlib Axes
    """

    if term is None:
        term = "odds_ratio" if comparison.meta["kind"] == "binary" else "difference"
    nnt = comparison.contrasts[comparison.contrasts["term"] == "nnt"] if term == "nnt" else None
    rows = comparison.contrasts[
        comparison.contrasts["term"] == ("risk_difference" if term == "nnt" else term)
    ]
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 0.5 + 0.5 * max(len(rows), 1)))
    y = np.arange(len(rows))[::-1]
    est = rows["estimate"].to_numpy(dtype=float)
    lo, hi = rows["conf_low"].to_numpy(dtype=float), rows["conf_high"].to_numpy(dtype=float)
    ax.errorbar(est, y, xerr=[est - lo, hi - est], fmt="o", color="#0072B2", capsize=3)
    ax.axvline(1.0 if term in ("odds_ratio", "risk_ratio") else 0.0, color="grey", lw=1,
               ls="--")  # fmt: skip
    if term in ("odds_ratio", "risk_ratio"):
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_yticks(y, rows["contrast"].tolist())
    if nnt is not None:
        for yi, label in zip(y, nnt["note"].astype(str).str.split(";").str[0], strict=True):
            ax.text(1.02, yi, label, transform=ax.get_yaxis_transform(), va="center",
                    fontsize="small", gid="nnt")  # fmt: skip
    level = f"{int(comparison.meta['conf_level'] * 100)}% CI"
    adjusted_p = comparison.meta.get("p_adjust") not in (None, "none")
    shown = "risk difference" if term == "nnt" else term.replace("_", " ")
    ax.set_xlabel(f"{shown} ({comparison.meta['outcome']}), {level}"
                  + (" (not adjusted for multiplicity)" if adjusted_p else ""))  # fmt: skip
    return ax
