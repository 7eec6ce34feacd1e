"""NHS Talking Therapies (formerly IAPT) outcome measures, computed as NHS England does.

NHS England publishes the SQL behind its Talking Therapies dashboards (GitHub
``nhsengland/Talking-Therapies``, snapshot 8458b2e, 2025-07-21). This module follows it;
file and line of each rule:

- **finished a course of treatment**: referral discharged (``ServDischDate`` known) and
  ``TreatmentCareContact_Count >= 2`` (``Programme Development Tool (PDT) Dashboard/2.11
  Inequalities_Monthly_Region_Test_2.sql`` l.154-156; ``Key Metrics Dashboard/KM monthly
  update.sql`` l.34 uses the pre-derived ``CompletedTreatment_Flag``). Here: ``end_reason``
  known and not ``"ongoing"``, and >= 2 treatment contacts (see
  :func:`treatment_contacts`). No end recorded -> unknown (NA), not finished.
- **recovery** and **reliable recovery**: numerator among finished referrals; denominator
  = finished minus *not at caseness* (``KM monthly update.sql`` l.39-59: ``finished -
  NotCaseness_Flag``). Only referrals known to be below caseness at the start leave the
  denominator: a finished referral whose caseness is unknown (no first scores) stays in it
  and cannot be in the numerator, as in the SQL.
- **reliable improvement** and **reliable deterioration**: denominator = all finished
  (``KM monthly update.sql`` l.61-77); no condition on paired scores in any denominator.
- The per-referral flags (``Recovery_Flag``, ``ReliableImprovement_Flag``,
  ``NotCaseness_Flag``) are derived upstream of that SQL; here from PHQ-9 and GAD-7 (no
  anxiety-disorder-specific measures): caseness PHQ-9 >= 10 or GAD-7 >= 8 (PMC8411661 table
  1, NHS Digital 2016); reliable change PHQ-9 6, GAD-7 4; recovery = at caseness at the
  first scores and below both cut-offs at the last; documented defaults (unverified, the
  NHS TT Manual was not checked): reliable improvement = improvement on >= 1 measure and no
  reliable deterioration on the other (deterioration mirrored); a flag needs paired
  (first and last) scores on both measures.

``convention="paired_only"`` keeps the convention of papers that analyse only finished
referrals with paired scores on both measures (every denominator restricted to them);
it gives higher rates than NHS England's and is not comparable with national figures.
The share of finished referrals with paired scores is reported beside the rates as a
data-quality figure (:func:`nhs_tt_summary`, measure ``paired_scores``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ipt_analytics.instruments.table import get_instrument
from ipt_analytics.stats.summary_stats import nhs_rate

__all__ = [
    "NHS_TT_CONVENTIONS",
    "NHS_TT_DEFINITION",
    "finished_treatment",
    "nhs_tt_flags",
    "nhs_tt_summary",
    "treatment_contacts",
]

#: Denominator conventions: NHS England's SQL (default) and paired scores only.
NHS_TT_CONVENTIONS = ("nhs_england", "paired_only")
_SQL = "nhsengland/Talking-Therapies@8458b2e"

#: Definition stamp carried by every NHS TT output (``DataFrame.attrs`` and a column)
NHS_TT_DEFINITION = {
    "version": "ipt_analytics-nhs_tt-2026.2",
    "follows": (
        f"NHS England dashboard SQL ({_SQL}): 'Key Metrics Dashboard/KM monthly update.sql' "
        "l.34-77 (finished, the four rates and their denominators); 'Programme Development "
        "Tool (PDT) Dashboard/2.11 Inequalities_Monthly_Region_Test_2.sql' l.154-156 "
        "(finished = discharged and >= 2 treatment contacts)"
    ),
    "measures": "PHQ-9 and GAD-7 only (no anxiety-disorder-specific measures)",
    "treatment_contact": (
        "a session counts as a treatment contact unless its contact_type is 'assessment' or "
        "'not_attended' (blank contact_type = treatment)"
    ),
    "unverified_defaults": (
        "reliable improvement = improvement on >= 1 measure and no reliable deterioration "
        "on the other; reliable deterioration = PHQ-9 +6 / GAD-7 +4 on >= 1 measure and no "
        "reliable improvement on the other; end of treatment not at caseness = below the "
        "cut-off on every measure; a flag needs paired (first and last) scores on both "
        "measures, each measure paired on its own ratings"
    ),
}

#: contact_type values that are not treatment contacts
_NOT_TREATMENT = ("assessment", "not_attended")


def treatment_contacts(sessions: pd.DataFrame) -> pd.Series:
    """Number of treatment contacts per episode.

    A session (distinct ``episode_id``, ``session``) is a treatment contact unless the
    optional ``contact_type`` column says ``"assessment"`` or ``"not_attended"``; a blank
    ``contact_type``, or no such column, counts as treatment (every recorded session was
    attended and treated). NHS England counts ``TreatmentCareContact_Count``: attended
    contacts whose purpose is treatment (2.11 Inequalities SQL l.154).

    Examples
    --------
    >>> s = pd.DataFrame({"episode_id": ["a"] * 4, "session": [1, 2, 2, 3],
    ...                   "contact_type": ["assessment", None, None, "not_attended"]})
    >>> treatment_contacts(s).to_dict()
    {'a': 1}
    """
    per = sessions.drop_duplicates(["episode_id", "session"])
    if "contact_type" in per.columns:
        kind = per["contact_type"].astype(object)
        counts = ~kind.isin(_NOT_TREATMENT).to_numpy()
    else:
        counts = np.ones(len(per), dtype=bool)
    return (
        pd.Series(counts.astype(np.int64), index=per["episode_id"].to_numpy())
        .groupby(level=0, sort=True, observed=True)
        .sum()
    )


def finished_treatment(end_reason, contacts) -> pd.arrays.BooleanArray:
    """Finished a course of treatment: referral ended and >= 2 treatment contacts.

    Ended = ``end_reason`` known and not ``"ongoing"``. With fewer than 2 contacts the
    answer is False whatever the end; with >= 2 contacts and no end recorded it is
    unknown (NA), as ``completed``/``dropout`` are (NHS England: discharge date known,
    2.11 Inequalities SQL l.154-156).

    Examples
    --------
    >>> finished_treatment(["completed", "ongoing", None, None], [2, 5, 5, 1]).tolist()
    [True, False, <NA>, False]
    """
    reason = pd.Series(end_reason, dtype=object)
    known = reason.notna().to_numpy()
    ended = known & (reason.to_numpy() != "ongoing")
    enough = np.asarray(contacts, dtype=float) >= 2
    value = enough & ended
    return pd.arrays.BooleanArray(value, enough & ~known)


def _flags(values, defined):
    defined = np.asarray(defined, dtype=bool)
    return pd.arrays.BooleanArray(np.asarray(values, dtype=bool) & defined, ~defined)


def nhs_tt_flags(
    phq9_first, phq9_last, gad7_first, gad7_last, finished, *, convention="nhs_england"
) -> pd.DataFrame:
    """Per-episode NHS TT flags, NA outside each rate's denominator.

    The mean of each flag column is therefore the rate. ``convention="nhs_england"``
    (default): recovery and reliable recovery are defined for finished episodes except
    those known to be below caseness at the start; reliable improvement and deterioration
    for all finished episodes; an episode without paired scores on both measures stays in
    the denominators with the flag False. ``"paired_only"``: every denominator is
    restricted to episodes with paired scores on both measures (and recovery to those at
    caseness).

    Parameters
    ----------
    phq9_first, phq9_last, gad7_first, gad7_last : array_like of float
        First and last scores of the course (NaN when the measure has fewer than two scores;
        a first score may be known without a last one).
    finished : array_like of bool
        Finished a course of treatment (nullable: NA = unknown; see
        :func:`finished_treatment`).
    convention : {"nhs_england", "paired_only"}

    Returns
    -------
    pandas.DataFrame
        Columns ``caseness_start, paired_scores, nhs_recovery, nhs_reliable_improvement,
        nhs_reliable_recovery, nhs_reliable_deterioration`` (nullable boolean).
        ``caseness_start`` is True when a first score is at caseness on either measure,
        False when both first scores are below, NA when that cannot be told.

    Examples
    --------
    >>> f = nhs_tt_flags([15, 8, 15], [6, 8, np.nan], [10, 5, 9], [5, 5, np.nan],
    ...                  [True, True, True])
    >>> f["nhs_recovery"].tolist(), f["nhs_reliable_improvement"].tolist()
    ([True, <NA>, False], [True, False, False])
    >>> nhs_tt_flags([15], [np.nan], [9], [np.nan], [True],
    ...              convention="paired_only")["nhs_recovery"].tolist()
    [<NA>]
    """
    if convention not in NHS_TT_CONVENTIONS:
        raise ValueError(
            f"nhs_tt_flags(): convention={convention!r} is not allowed; use one of "
            f"{', '.join(NHS_TT_CONVENTIONS)}."
        )
    phq, gad = get_instrument("phq9"), get_instrument("gad7")
    p0, p1, g0, g1 = (
        np.asarray(v, dtype=float) for v in (phq9_first, phq9_last, gad7_first, gad7_last)
    )
    fin = np.asarray(pd.array(finished, dtype="boolean").fillna(False), dtype=bool)
    paired = ~(np.isnan(p0) | np.isnan(p1) | np.isnan(g0) | np.isnan(g1))
    # three-valued caseness at the start: one known score at caseness is enough
    case0_true = (p0 >= phq.caseness_cutoff) | (g0 >= gad.caseness_cutoff)
    case0_false = (p0 < phq.caseness_cutoff) & (g0 < gad.caseness_cutoff)
    case1 = (p1 >= phq.caseness_cutoff) | (g1 >= gad.caseness_cutoff)
    imp = [p0 - p1 >= phq.reliable_change, g0 - g1 >= gad.reliable_change]
    det = [p1 - p0 >= phq.reliable_change, g1 - g0 >= gad.reliable_change]
    any_imp, any_det = imp[0] | imp[1], det[0] | det[1]
    reliable_improvement = paired & any_imp & ~any_det
    reliable_deterioration = paired & any_det & ~any_imp
    recovery = paired & case0_true & ~case1
    if convention == "nhs_england":
        in_all = fin
        in_rec = fin & ~case0_false  # KM monthly update.sql l.45-47: finished - NotCaseness
    else:
        in_all = fin & paired
        in_rec = in_all & case0_true
    return pd.DataFrame(
        {
            "caseness_start": _flags(case0_true, case0_true | case0_false),
            "paired_scores": pd.array(paired, dtype="boolean"),
            "nhs_recovery": _flags(recovery, in_rec),
            "nhs_reliable_improvement": _flags(reliable_improvement, in_all),
            "nhs_reliable_recovery": _flags(recovery & reliable_improvement, in_rec),
            "nhs_reliable_deterioration": _flags(reliable_deterioration, in_all),
        }
    )


def _convention_of(outcomes: pd.DataFrame) -> str:
    stamps = outcomes["nhs_definition"].dropna().unique() if "nhs_definition" in outcomes else []
    found = {str(v).rsplit(":", 1)[-1] for v in stamps if ":" in str(v)}
    if len(found) > 1:
        raise ValueError(
            f"nhs_tt_summary(): the outcomes mix NHS TT conventions {sorted(found)}. Fix: "
            "compute all episodes with one convention."
        )
    return found.pop() if found else "nhs_england"


_RULES = {
    "nhs_england": (
        "finished treatment minus not at caseness at the start (KM monthly update.sql l.45-47)",
        "all who finished treatment (KM monthly update.sql l.75-77)",
        "finished treatment minus not at caseness at the start (KM monthly update.sql l.50-59)",
        "all who finished treatment (KM monthly update.sql l.61-68)",
    ),
    "paired_only": (
        "finished treatment with paired scores, at caseness at the start",
        "finished treatment with paired scores",
        "finished treatment with paired scores, at caseness at the start",
        "finished treatment with paired scores",
    ),
}


def nhs_tt_summary(outcomes: pd.DataFrame, *, by=None) -> pd.DataFrame:
    """NHS TT counts and rates (percent) with their denominators, and data quality.

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
        definition_version``; ``rate`` = 100 * numerator / denominator, unrounded (NHS
        England's SQL leaves a rate blank when its numerator is 0; here it is 0). Measures:
        ``recovery``, ``reliable_improvement``, ``reliable_recovery``,
        ``reliable_deterioration``, and, where the columns are present, ``not_at_caseness``
        (finished referrals below caseness at the start) and ``paired_scores`` (finished
        referrals with first and last PHQ-9 and GAD-7 scores: a data-quality figure).

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
    convention = _convention_of(outcomes)
    rules = list(
        zip(
            ("recovery", "reliable_improvement", "reliable_recovery", "reliable_deterioration"),
            (
                "nhs_recovery",
                "nhs_reliable_improvement",
                "nhs_reliable_recovery",
                "nhs_reliable_deterioration",
            ),
            _RULES[convention],
            strict=True,
        )
    )
    groups = (
        [((), outcomes)] if by is None else list(outcomes.groupby(by, sort=True, observed=True))
    )
    rows = []
    for key, part in groups:
        label = {} if by is None else {by: key[0] if isinstance(key, tuple) else key}
        counts = []
        for measure, column, rule in rules:
            flag = pd.array(part[column], dtype="boolean")
            counts.append((measure, int(flag.fillna(False).sum()), int((~flag.isna()).sum()), rule))
        fin = np.asarray(
            pd.array(part.get("finished_treatment", pd.Series(dtype="boolean")), dtype="boolean")
            .fillna(False), dtype=bool,
        )  # fmt: skip
        if "finished_treatment" in part and "caseness_start" in part:
            case = pd.array(part["caseness_start"], dtype="boolean")
            below = np.asarray(case.fillna(True), dtype=bool) == False  # noqa: E712
            counts.append(
                ("not_at_caseness", int((fin & below).sum()), int(fin.sum()),
                 "all who finished treatment (M179/M180)")
            )  # fmt: skip
        if "finished_treatment" in part and "paired_scores" in part:
            paired = np.asarray(pd.array(part["paired_scores"], dtype="boolean").fillna(False))
            counts.append(
                ("paired_scores", int((fin & paired).sum()), int(fin.sum()),
                 "data quality: all who finished treatment")
            )  # fmt: skip
        for measure, num, den, rule in counts:
            rows.append(
                {
                    **label,
                    "measure": measure,
                    "numerator": num,
                    "denominator": den,
                    "rate": nhs_rate(num, den) if den > 0 else float("nan"),
                    "denominator_rule": rule,
                    "definition_version": f"{NHS_TT_DEFINITION['version']}:{convention}",
                }
            )
    out = pd.DataFrame(rows)
    out.attrs["definitions"] = {"nhs_tt": dict(NHS_TT_DEFINITION), "convention": convention}
    return out
