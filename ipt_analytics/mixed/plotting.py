"""Thin drawing helpers for :meth:`MixedResult.plot` (matplotlib imported lazily)."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["plot_result"]


def plot_result(res, ax=None, kind: str = "caterpillar"):
    import matplotlib.pyplot as plt

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
    data = res._data
    outcome = res.formula.split("~")[0].strip()
    time = [c for c in res.cov_re.index if c != "Intercept"]
    key = time[0] if time and time[0] in data.columns else None
    if key is None:
        raise ValueError(
            "MixedResult.plot(kind='fitted'): needs a time column in re_formula; "
            "use kind='caterpillar'."
        )
    frame = pd.DataFrame(
        {"time": data[key].round().to_numpy(), "observed": np.asarray(data[outcome], float),
         "fitted": res.predict().to_numpy()}
    )  # fmt: skip
    means = frame.groupby("time").mean()
    ax.plot(means.index, means["observed"], "o", color="#0072B2", label="observed mean")
    ax.plot(means.index, means["fitted"], "-", color="#D55E00", label="fitted (population)")
    ax.set_xlabel(key)
    ax.set_ylabel(outcome)
    ax.legend()
    return ax
