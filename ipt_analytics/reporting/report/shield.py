"""Small-cell suppression and disclosure checks for every report table.

Every count table of the report passes through :func:`protect`: the configured policy is
applied with complementary suppression (:func:`ipt_analytics.reporting.privacy.suppress_table`)
and the result is verified with :func:`ipt_analytics.reporting.privacy.check_no_disclosure`,
which raises when any hidden count can be re-derived. Rates and intervals are recomputed from
the published counts (rounded, when the policy rounds) so that they cannot be inverted to the
true counts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ipt_analytics.reporting.privacy import POLICIES, check_no_disclosure, suppress_table
from ipt_analytics.stats.intervals import wilson_interval

__all__ = ["protect", "add_rates", "policy_text"]


def policy_text(policy: str) -> str:
    """One-line description of a policy for notes and footers."""
    if policy == "none":
        return "none: UNSUPPRESSED internal working copy - do not circulate"
    p = POLICIES[policy]
    return f"{p.name}: {p.rule} (source: {p.citation})"


def protect(table: pd.DataFrame, *, policy: str, count_columns, **structure) -> pd.DataFrame:
    """Suppress small cells (with complementary suppression) and prove nothing is derivable.

    Counts become ``Int64`` with NA where hidden and a boolean ``<col>_suppressed`` companion.
    With ``policy="none"`` the counts are kept and every flag is False.

    Examples
    --------
    >>> t = pd.DataFrame({"g": ["all", "a", "b", "c"], "tot": [True, False, False, False],
    ...                   "n": [60, 40, 17, 3]})
    >>> protect(t, policy="cms", count_columns=["n"], by=None, totals={"n": 60})["n"].tolist()
    [60, 40, <NA>, <NA>]
    """
    count_columns = list(count_columns)
    if policy == "none":
        out = table.copy()
        for col in count_columns:
            out[col] = out[col].astype("Int64")
            out[f"{col}_suppressed"] = False
        return out
    out = suppress_table(table, count_columns=count_columns, policy=policy, **structure)
    check_no_disclosure(out)
    return out


def add_rates(table: pd.DataFrame, pairs: dict[str, tuple[str, str]]) -> pd.DataFrame:
    """Add ``<rate>_pct, <rate>_ci_low, <rate>_ci_high`` (Wilson 95%) from published counts.

    A rate is NA (and ``<rate>_suppressed`` True) when either count is hidden or n is 0.
    """
    out = table.copy()
    for rate, (num, den) in pairs.items():
        e = pd.to_numeric(out[num], errors="coerce").astype(float).to_numpy()
        n = pd.to_numeric(out[den], errors="coerce").astype(float).to_numpy()
        hidden = np.isnan(e) | np.isnan(n) | (n <= 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            lo, hi = wilson_interval(np.where(hidden, 0, e), np.where(hidden, 1, n))
            pct = 100 * e / n
        out[f"{rate}_pct"] = np.where(hidden, np.nan, np.round(pct, 1))
        out[f"{rate}_ci_low"] = np.where(hidden, np.nan, np.round(100 * np.asarray(lo), 1))
        out[f"{rate}_ci_high"] = np.where(hidden, np.nan, np.round(100 * np.asarray(hi), 1))
        out[f"{rate}_suppressed"] = hidden & ~(n == 0)
    return out
