"""Early response and early non-response, parameterised, with cited presets.

There is no agreed definition of early response (docs/definitions.md), so the rule is
``min_pct_reduction`` from baseline, measured ``by="week"`` or ``by="session"``, at time
point ``at``. The score used is the last rating at or before ``at`` (after baseline); the
rule is NA when there is none, or when the episode has no rating at or after ``at`` (the
client was not observed up to that time point, e.g. left early).

Early non-response ("not improving by week N", docs/definitions.md): no reliable improvement
by week N, where reliable improvement is a decrease of at least the reliable-change threshold
(the instrument's NHS TT threshold, e.g. PHQ-9 6, or the Jacobson-Truax minimal reliable
change when a reliability is given), evaluated with the same "last rating at or before N,
observed to N" rule.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "EARLY_RESPONSE_PRESETS",
    "EARLY_NONRESPONSE_PRESETS",
    "resolve_preset",
    "score_at",
    "early_response",
    "early_nonresponse",
]

EARLY_RESPONSE_PRESETS = {
    "icsi_week6": {
        "min_pct_reduction": 25.0,
        "by": "week",
        "at": 6.0,
        "source": "ICSI depression guideline: >= 25% reduction at 6 weeks as the criterion to "
        "continue treatment (stated for medication at a therapeutic dose); "
        "https://www.icsi.org/guideline_sub-pages/depression/has_patient_reached_remission/",
        "status": "sourced",
    },
    "beard_delgadillo_2019_week4": {
        "min_pct_reduction": 25.0,
        "by": "week",
        "at": 4.0,
        "source": "Beard JIL, Delgadillo J 2019, Depress Anxiety 36:866-878, "
        "doi:10.1002/da.22931: early response measured within about the first 4 weeks. The "
        "25% threshold is not from that meta-analysis (studies differed).",
        "status": "unverified threshold",
    },
    "pharmacotherapy_week2": {
        "min_pct_reduction": 20.0,
        "by": "week",
        "at": 2.0,
        "source": "pharmacotherapy convention: >= 20-25% reduction by week 2-4",
        "status": "unverified",
    },
    "chronic_psychotherapy_week6": {
        "min_pct_reduction": 60.7,
        "by": "week",
        "at": 6.0,
        "source": "chronic depression, psychotherapy only: 60.7% reduction at week 6 "
        "predicted non-remission; https://pmc.ncbi.nlm.nih.gov/articles/PMC3925064",
        "status": "sourced",
    },
}

EARLY_NONRESPONSE_PRESETS = {
    "swartz_2023_week4": {
        "week": 4.0,
        "source": "Swartz HA, UpToDate topic 14680 (2023): no significant improvement after "
        "four to eight weeks -> change the treatment plan (lower bound)",
        "status": "sourced",
    },
    "swartz_2023_week8": {
        "week": 8.0,
        "source": "Swartz HA, UpToDate topic 14680 (2023): no significant improvement after "
        "four to eight weeks -> change the treatment plan (upper bound)",
        "status": "sourced",
    },
    "apa_2010_week8": {
        "week": 8.0,
        "source": "APA Practice Guideline for MDD, 3rd ed. (2010): at least moderate "
        "improvement within 4-8 weeks (secondary: "
        "https://reference.medscape.com/viewarticle/979108_4)",
        "status": "secondary",
    },
}


def resolve_preset(fn: str, value, presets: dict, keys: tuple) -> dict:
    """Turn a preset name or a dict of parameters into a complete parameter dict."""
    if isinstance(value, str):
        if value not in presets:
            raise ValueError(
                f"{fn}(): preset {value!r} is unknown; use one of {', '.join(presets)} or a "
                f"dict with keys {', '.join(keys)}."
            )
        return {"preset": value, **presets[value]}
    if isinstance(value, dict) and all(k in value for k in keys):
        return {"preset": None, "source": "user-defined", "status": "user", **value}
    raise ValueError(
        f"{fn}(): {value!r} is not allowed; give a preset name ({', '.join(presets)}) or a dict "
        f"with keys {', '.join(keys)}."
    )


def score_at(times: np.ndarray, totals: np.ndarray, at: float) -> float:
    """Last post-baseline score at or before ``at``; NaN if none or not observed up to ``at``.

    ``times``/``totals`` are one episode's ratings in time order, baseline first.

    Examples
    --------
    >>> score_at(np.array([0., 1., 2., 4.]), np.array([20., 18., 14., 9.]), 3.0)
    14.0
    >>> score_at(np.array([0., 1., 2.]), np.array([20., 18., 14.]), 3.0)
    nan
    """
    if times.size < 2 or times[-1] < at:
        return float("nan")
    post = np.flatnonzero((times <= at) & (np.arange(times.size) > 0))
    return float(totals[post[-1]]) if post.size else float("nan")


def early_response(times, totals, *, min_pct_reduction: float, at: float) -> object:
    """True/False/NA: reduction from baseline >= ``min_pct_reduction``% by ``at``.

    Examples
    --------
    >>> early_response(np.array([0., 2., 4., 6.]), np.array([20., 15., 12., 8.]),
    ...                min_pct_reduction=25, at=4)
    True
    """
    s = score_at(times, totals, at)
    b = totals[0] if totals.size else np.nan
    if np.isnan(s) or np.isnan(b) or b <= 0:
        return None
    return bool(100.0 * (b - s) >= min_pct_reduction * b)


def early_nonresponse(times, totals, *, week: float, threshold: float) -> object:
    """True/False/NA: decrease from baseline below ``threshold`` points at week ``week``.

    Examples
    --------
    >>> early_nonresponse(np.array([0., 4., 8.]), np.array([20., 17., 16.]), week=8,
    ...                   threshold=6)
    True
    """
    s = score_at(times, totals, week)
    if np.isnan(s) or np.isnan(threshold):
        return None
    return bool(totals[0] - s < threshold)
