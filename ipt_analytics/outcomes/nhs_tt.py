"""NHS Talking Therapies (formerly IAPT) outcome measures, stamped with their definition.

Definitions (docs/definitions.md, "NHS Talking Therapies"):

- caseness: PHQ-9 >= 10 and/or GAD-7 >= 8 (PMC8411661 table 1, citing NHS Digital 2016);
- finished a course of treatment: referral ended with >= 2 attended treatment sessions
  (Fingertips glossary; ``HFAnalyticsLab/IAPT`` technical appendix);
- paired scores: first and last score on each measure within the course (NHS Digital,
  June 2020 outcomes page);
- recovery: at caseness at the start and not at caseness at the end;
- reliable improvement: PHQ-9 decrease >= 6 or GAD-7 decrease >= 4;
- reliable recovery: recovery and reliable improvement;
- rate denominators: recovery = finished minus not at caseness; reliable improvement and
  reliable deterioration = all who finished; reliable recovery = finished at caseness.

Documented defaults for the points that are **unverified** (NHS TT Manual / Technical Output
Specification not checked): (1) reliable improvement = reliable improvement on at least one
measure and no reliable deterioration on the other; (2) reliable deterioration = increase of
>= 6 (PHQ-9) or >= 4 (GAD-7) on at least one measure and no reliable improvement on the other;
(6) "not at caseness at the end" = below the cut-off on every measure. Only PHQ-9 and GAD-7
are used (no anxiety-disorder-specific measures). The thresholds and cut-offs are read from
:mod:`ipt_analytics.instruments`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ipt_analytics.instruments.table import get_instrument
from ipt_analytics.stats.summary_stats import nhs_rate

__all__ = ["NHS_TT_DEFINITION", "nhs_tt_flags", "nhs_tt_summary"]

#: Definition stamp carried by every NHS TT output (``DataFrame.attrs`` and a column)
NHS_TT_DEFINITION = {
    "version": "ipt_analytics-nhs_tt-2026.1",
    "follows": (
        "NHS Digital IAPT monthly outcomes, June 2020 and December 2020 (recovery, reliable "
        "improvement, denominators); NHS England NHS Talking Therapies monthly statistics, "
        "April 2025 (reliable recovery denominator)"
    ),
    "measures": "PHQ-9 and GAD-7 only (no anxiety-disorder-specific measures)",
    "unverified_defaults": (
        "reliable improvement = improvement on >= 1 measure and no reliable deterioration "
        "on the other; reliable deterioration = PHQ-9 +6 / GAD-7 +4 on >= 1 measure and no "
        "reliable improvement on the other; end of treatment not at caseness = below the "
        "cut-off on every measure; finished treatment = >= 2 sessions and end_reason not "
        "'ongoing'; an episode counts in a denominator only with paired (first and last) "
        "scores on both PHQ-9 and GAD-7, each measure paired on its own ratings (its last "
        "score may come from an earlier session than the other's)"
    ),
}


def _flags(values, defined):
    defined = np.asarray(defined, dtype=bool)
    return pd.arrays.BooleanArray(np.asarray(values, dtype=bool) & defined, ~defined)


def nhs_tt_flags(phq9_first, phq9_last, gad7_first, gad7_last, finished) -> pd.DataFrame:
    """Per-episode NHS TT flags from paired PHQ-9 and GAD-7 scores.

    Each flag is NA outside its published rate denominator, so the column mean is the
    published rate: ``nhs_recovery`` and ``nhs_reliable_recovery`` are defined only for
    finished episodes at caseness at the start; ``nhs_reliable_improvement`` and
    ``nhs_reliable_deterioration`` for all finished episodes. Episodes without paired scores
    on both measures are outside every denominator (NA).

    Parameters
    ----------
    phq9_first, phq9_last, gad7_first, gad7_last : array_like of float
        First and last scores of the course (NaN when the measure has fewer than two scores).
    finished : array_like of bool
        Finished a course of treatment (>= 2 sessions, referral ended).

    Returns
    -------
    pandas.DataFrame
        Columns ``caseness_start, nhs_recovery, nhs_reliable_improvement,
        nhs_reliable_recovery, nhs_reliable_deterioration`` (nullable boolean).

    Examples
    --------
    >>> f = nhs_tt_flags([15, 8], [6, 8], [10, 5], [5, 5], [True, True])
    >>> f.loc[0].tolist(), f.loc[1].tolist()
    ([True, True, True, True, False], [False, <NA>, False, <NA>, False])
    """
    phq, gad = get_instrument("phq9"), get_instrument("gad7")
    p0, p1, g0, g1 = (
        np.asarray(v, dtype=float) for v in (phq9_first, phq9_last, gad7_first, gad7_last)
    )
    fin = np.asarray(pd.array(finished, dtype="boolean").fillna(False), dtype=bool)
    paired = ~(np.isnan(p0) | np.isnan(p1) | np.isnan(g0) | np.isnan(g1))
    case0 = (p0 >= phq.caseness_cutoff) | (g0 >= gad.caseness_cutoff)
    case1 = (p1 >= phq.caseness_cutoff) | (g1 >= gad.caseness_cutoff)
    imp = [p0 - p1 >= phq.reliable_change, g0 - g1 >= gad.reliable_change]
    det = [p1 - p0 >= phq.reliable_change, g1 - g0 >= gad.reliable_change]
    any_imp, any_det = imp[0] | imp[1], det[0] | det[1]
    reliable_improvement = any_imp & ~any_det
    reliable_deterioration = any_det & ~any_imp
    recovery = case0 & ~case1
    in_all = fin & paired
    in_case = in_all & case0
    first_known = ~(np.isnan(p0) | np.isnan(g0))
    return pd.DataFrame(
        {
            "caseness_start": _flags(case0, first_known),
            "nhs_recovery": _flags(recovery, in_case),
            "nhs_reliable_improvement": _flags(reliable_improvement, in_all),
            "nhs_reliable_recovery": _flags(recovery & reliable_improvement, in_case),
            "nhs_reliable_deterioration": _flags(reliable_deterioration, in_all),
        }
    )


def nhs_tt_summary(outcomes: pd.DataFrame, *, by=None) -> pd.DataFrame:
    """NHS TT counts and rates (percent) with their published denominators.

    Parameters
    ----------
    outcomes : pandas.DataFrame
        Output of :func:`ipt_analytics.episode_outcomes`.
    by : str, optional
        Column to group by (e.g. ``"format"``).

    Returns
    -------
    pandas.DataFrame
        Columns ``[by], measure, numerator, denominator, rate, denominator_rule,
        definition_version``; ``rate`` = 100 * numerator / denominator, unrounded.

    Examples
    --------
    >>> o = pd.DataFrame({"finished_treatment": [True, True, True],
    ...                   "caseness_start": [True, True, False],
    ...                   "nhs_recovery": pd.array([True, False, None], dtype="boolean"),
    ...                   "nhs_reliable_improvement": pd.array([True, False, True],
    ...                                                        dtype="boolean"),
    ...                   "nhs_reliable_recovery": pd.array([True, False, None],
    ...                                                     dtype="boolean"),
    ...                   "nhs_reliable_deterioration": pd.array([False, False, False],
    ...                                                          dtype="boolean")})
    >>> nhs_tt_summary(o)[["measure", "numerator", "denominator"]].values.tolist()[:2]
    [['recovery', 1, 2], ['reliable_improvement', 2, 3]]
    """
    rules = [
        ("recovery", "nhs_recovery", "finished treatment minus not at caseness at the start"),
        ("reliable_improvement", "nhs_reliable_improvement", "all who finished treatment"),
        ("reliable_recovery", "nhs_reliable_recovery", "finished treatment at caseness"),
        ("reliable_deterioration", "nhs_reliable_deterioration", "all who finished treatment"),
    ]
    groups = (
        [((), outcomes)] if by is None else list(outcomes.groupby(by, sort=True, observed=True))
    )
    rows = []
    for key, part in groups:
        for measure, column, rule in rules:
            flag = pd.array(part[column], dtype="boolean")
            den = int((~flag.isna()).sum())
            num = int(flag.fillna(False).sum())
            row = {} if by is None else {by: key[0] if isinstance(key, tuple) else key}
            row.update(
                measure=measure,
                numerator=num,
                denominator=den,
                rate=nhs_rate(num, den) if den > 0 else float("nan"),
                denominator_rule=rule,
                definition_version=NHS_TT_DEFINITION["version"],
            )
            rows.append(row)
    out = pd.DataFrame(rows)
    out.attrs["definitions"] = {"nhs_tt": dict(NHS_TT_DEFINITION)}
    return out
