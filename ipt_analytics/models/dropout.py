"""Dropout sensitivity: do completers and dropouts follow the same trajectory?

A simple pattern-mixture check (Hedeker & Gibbons 1997, Psychol Methods 2:64-78): episodes
are split by how they ended (``completed`` vs ``dropout``), and one linear mixed model with a
pattern x time interaction is fitted:

    total ~ time * pattern + (time | episode_id)

The slope of each pattern, and their difference, are reported. The pattern-mixture average
slope (patterns weighted by their share of episodes) is compared with the slope of the usual
model without the pattern, which is valid when dropout is missing at random (MAR) given the
observed scores.

Assumptions, stated plainly:

- a dropout's slope is estimated from the ratings before they left, and is assumed to
  continue linearly afterwards (the identifying restriction of this pattern-mixture model);
- episodes that were referred on, are still ongoing or have no end reason are left out;
- a slope difference is evidence that dropout is related to the course of symptoms
  (informative); its absence does not prove dropout is ignorable, and a difference can also
  arise when dropouts simply come from a different mix of formats or problem areas.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from ipt_analytics.models.mixed import fit_mixed
from ipt_analytics.models.trajectory import model_frame

__all__ = ["dropout_sensitivity"]


def dropout_sensitivity(
    data,
    *,
    instrument="phq9",
    time="week",
    random="slope",
    completers=("completed",),
    dropouts=("dropout",),
    alpha=0.05,
    conf_level=0.95,
) -> pd.DataFrame:
    """Compare trajectories of completers and dropouts (pattern-mixture style).

    Parameters
    ----------
    data : SessionData or pandas.DataFrame
        Canonical long table with ``end_reason``.
    instrument : str
    time : {"week", "session"}
    random : {"slope", "intercept"}
    completers, dropouts : sequence of str
        ``end_reason`` values defining each pattern.
    alpha : float
        Level at which the slope difference is called informative in the note.
    conf_level : float

    Returns
    -------
    pandas.DataFrame
        Rows ``term`` = ``slope_completers``, ``slope_dropouts``, ``slope_difference``
        (dropouts minus completers), ``baseline_difference``, ``slope_pattern_mixture``
        (weighted by the patterns' share of episodes) and ``slope_mar`` (model without the
        pattern), with ``estimate, std_error, df, statistic, p_value, conf_low, conf_high,
        n_episodes``. ``attrs["note"]`` says in words whether dropout looks informative.

    Examples
    --------
    >>> from ipt_analytics.models.trajectory import _demo_long
    >>> long = _demo_long(n_episodes=30)
    >>> long["end_reason"] = ["dropout" if e in {"e01", "e02", "e05", "e09"} else "completed"
    ...                       for e in long["episode_id"]]
    >>> tab = dropout_sensitivity(long, random="intercept")
    >>> tab["term"].tolist()[:3]
    ['slope_completers', 'slope_dropouts', 'slope_difference']
    """

    table = getattr(data, "sessions", data)
    if "end_reason" not in table.columns:
        raise ValueError(
            "dropout_sensitivity(): data has no 'end_reason' column; it is needed to tell "
            "completers from dropouts."
        )
    pattern = pd.Series(pd.NA, index=table.index, dtype="object")
    pattern[table["end_reason"].isin(list(completers))] = "completer"
    pattern[table["end_reason"].isin(list(dropouts))] = "dropout"
    rows = table[pattern.notna()].copy()
    rows["pattern"] = pattern[pattern.notna()].to_numpy()
    frame, spec = model_frame(rows, instrument=instrument, time=time, random=random)
    pat = rows[rows["instrument"] == instrument].sort_values(
        ["episode_id", "session"], kind="stable"
    )
    pat = pat[pat["total"].notna()]
    frame["dropout"] = (pat["pattern"].to_numpy() == "dropout").astype(float)
    n_ep = frame.drop_duplicates("episode_id")["dropout"].value_counts()
    n_drop, n_comp = int(n_ep.get(1.0, 0)), int(n_ep.get(0.0, 0))
    if n_drop < 2 or n_comp < 2:
        raise ValueError(
            f"dropout_sensitivity(): need at least 2 episodes per pattern, got {n_comp} "
            f"completers and {n_drop} dropouts (end_reason values {list(completers)} / "
            f"{list(dropouts)})."
        )
    pm = fit_mixed(frame, "total ~ time * dropout", groups="episode_id",
                   re_formula=spec.re_formula)  # fmt: skip
    mar = fit_mixed(frame, "total ~ time", groups="episode_id", re_formula=spec.re_formula)
    names = list(pm.fixed["term"])
    share = n_drop / (n_drop + n_comp)

    def vec(**coef):
        v = np.zeros(len(names))
        for k, c in coef.items():
            v[names.index(k.replace("__", ":"))] = c
        return v

    lmat = np.vstack(
        [
            vec(time=1.0),
            vec(time=1.0, time__dropout=1.0),
            vec(time__dropout=1.0),
            vec(dropout=1.0),
            vec(time=1.0, time__dropout=share),
        ]
    )
    comb = pm.linear_combination(lmat)
    out = pd.DataFrame(
        {
            "term": [
                "slope_completers",
                "slope_dropouts",
                "slope_difference",
                "baseline_difference",
                "slope_pattern_mixture",
            ],
            "estimate": np.asarray(comb["estimate"], float),
            "std_error": np.asarray(comb["std_error"], float),
            "df": np.asarray(comb["df"], float),
        }
    )
    mrow = mar.fixed.set_index("term").loc["time"]
    out.loc[len(out)] = ["slope_mar", mrow["estimate"], mrow["std_error"], mrow["df"]]
    out["statistic"] = out["estimate"] / out["std_error"]
    out["p_value"] = 2.0 * stats.t.sf(np.abs(out["statistic"]), out["df"])
    q = stats.t.ppf(0.5 + conf_level / 2.0, out["df"])
    out["conf_low"] = out["estimate"] - q * out["std_error"]
    out["conf_high"] = out["estimate"] + q * out["std_error"]
    out["n_episodes"] = [n_comp, n_drop, n_comp + n_drop, n_comp + n_drop, n_comp + n_drop,
                         n_comp + n_drop]  # fmt: skip
    diff = out.set_index("term").loc["slope_difference"]
    unit = "week" if time == "week" else "session"
    if diff["p_value"] < alpha:
        faster = "more slowly" if diff["estimate"] > 0 else "faster"
        note = (
            f"Dropout looks informative: dropouts' scores fell {faster} than completers' "
            f"(difference {diff['estimate']:.3g} points per {unit}, p = {diff['p_value']:.3g}). "
            "Estimates that assume missing at random may be biased; report the "
            "pattern-mixture slope alongside."
        )
    else:
        note = (
            f"No clear evidence that dropout is informative (slope difference "
            f"{diff['estimate']:.3g} points per {unit}, p = {diff['p_value']:.3g}); this does "
            "not prove that dropout is ignorable."
        )
    out.attrs.update(
        note=note,
        method="pattern-mixture: total ~ time * dropout + random effects per episode; "
        "dropouts' slopes extrapolated linearly",
        n_completers=n_comp,
        n_dropouts=n_drop,
        conf_level=conf_level,
    )
    return out
