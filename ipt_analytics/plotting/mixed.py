"""Drawing for :meth:`MixedResult.plot`: caterpillar and observed-vs-fitted means."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

__all__ = ["plot_result"]


def plot_result(res, ax=None, kind: str = "caterpillar"):
    if kind not in ("caterpillar", "fitted"):
        raise ValueError(
            f"MixedResult.plot(): kind={kind!r} is not one of ('caterpillar', 'fitted')."
        )
    if ax is None:
        _, ax = plt.subplots()
    if kind == "caterpillar":
        col = res.random_effects.columns[0]
        vals = res.random_effects[col].sort_values()
        ax.plot(vals.to_numpy(), np.arange(vals.size), "o", ms=3, color="#0072B2")
        ax.axvline(0, color="grey", lw=0.8)
        ax.set_xlabel(f"conditional mode of random {col} ({res.groups})")
        ax.set_ylabel(f"{res.groups} (sorted)")
        return ax
    means = res.fitted_means()
    key = means.index.name
    outcome = res.formula.split("~")[0].strip()
    ax.plot(means.index, means["observed"], "o", color="#0072B2", label="observed mean")
    ax.plot(means.index, means["fitted"], "-", color="#D55E00", label="fitted (population)")
    ax.set_xlabel(key)
    ax.set_ylabel(outcome)
    ax.legend()
    return ax
