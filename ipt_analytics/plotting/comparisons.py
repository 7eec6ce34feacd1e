"""Forest plot of the contrasts of a group comparison (:func:`ipt_analytics.compare_groups`)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes

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
        ``"difference"`` (continuous default).

    Returns
    -------
    matplotlib Axes
    """

    if term is None:
        term = "odds_ratio" if comparison.meta["kind"] == "binary" else "difference"
    rows = comparison.contrasts[comparison.contrasts["term"] == term]
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
    ax.set_yticks(y, rows["contrast"].tolist())
    ax.set_xlabel(f"{term.replace('_', ' ')} ({comparison.meta['outcome']}), "
                  f"{int(comparison.meta['conf_level'] * 100)}% CI")  # fmt: skip
    return ax
