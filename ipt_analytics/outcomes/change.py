"""Change-based outcome rules: response, partial response, remission, Jacobson-Truax.

All functions are vectorised over numpy arrays of baseline and final totals (NaN = missing)
and return pandas nullable ``boolean`` arrays where a rule is undefined (NA, never False).
Comparisons are written in exact arithmetic on the raw totals (e.g. ``100 * (b - f) >= 50 * b``
rather than a rounded percentage), so an exact 50% reduction is a response.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = [
    "CS_CATEGORIES",
    "pct_change",
    "response_flags",
    "remission_flags",
    "rci_jacobson_truax",
    "reliable_change_flags",
    "jt_cutoff",
    "cs_categories",
]

#: Jacobson-Truax outcome categories (clinicalsignificance ``cs_combined`` wording)
CS_CATEGORIES = ("recovered", "improved", "unchanged", "deteriorated", "harmed")


def _nullable(values: np.ndarray, defined: np.ndarray) -> pd.arrays.BooleanArray:
    defined = np.asarray(defined, dtype=bool)
    return pd.arrays.BooleanArray(np.asarray(values, dtype=bool) & defined, ~defined)


def pct_change(baseline, final) -> np.ndarray:
    """Percent change from baseline, 100 * (final - baseline) / baseline (NaN if baseline 0).

    Negative values are reductions (improvement on lower-is-better scales).

    Examples
    --------
    >>> pct_change(np.array([20.0, 0.0]), np.array([10.0, 3.0])).tolist()
    [-50.0, nan]
    """
    b = np.asarray(baseline, dtype=float)
    f = np.asarray(final, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b > 0, 100.0 * (f - b) / np.where(b > 0, b, 1.0), np.nan)


def response_flags(baseline, final, *, response_pct=50.0, partial_pct=25.0):
    """Response (>= ``response_pct``% reduction) and partial response.

    Response: reduction from baseline >= 50% (Trivedi et al. 2006, Am J Psychiatry
    163:28-40; CBE 1885). Partial response: 25% <= reduction < 50% (ICSI depression guideline,
    https://www.icsi.org/guideline_sub-pages/depression/has_patient_reached_remission/).
    Boundary convention: both lower bounds are inclusive (exactly 50% is a response, exactly
    25% a partial response), upper bound exclusive. Undefined (NA) when either score is
    missing or the baseline is 0 (a percentage of 0 is meaningless).

    Examples
    --------
    >>> r, p = response_flags(np.array([20.0, 20.0, 20.0]), np.array([10.0, 15.0, 16.0]))
    >>> r.tolist(), p.tolist()
    ([True, False, False], [False, True, False])
    """
    b = np.asarray(baseline, dtype=float)
    f = np.asarray(final, dtype=float)
    defined = ~np.isnan(b) & ~np.isnan(f) & (b > 0)
    reduction100 = 100.0 * (b - f)
    resp = reduction100 >= response_pct * b
    part = (reduction100 >= partial_pct * b) & ~resp
    return _nullable(resp, defined), _nullable(part, defined)


def remission_flags(final, instrument) -> pd.arrays.BooleanArray:
    """Remission at the final score, with the instrument's cut-off and rule.

    The rule comes from :mod:`ipt_analytics.instruments` (PHQ-9 < 5: ICSI / MN Community
    Measurement; QIDS-SR16 <= 5: Trivedi 2006; GAD-7 < 5 and CUDOS <= 10 are documented
    defaults there). NA when the final score is missing.

    Examples
    --------
    >>> from ipt_analytics.instruments.table import get_instrument
    >>> remission_flags(np.array([4.0, 5.0]), get_instrument("phq9")).tolist()
    [True, False]
    """
    f = np.asarray(final, dtype=float)
    defined = ~np.isnan(f)
    if instrument.remission_rule == "lt":
        rem = f < instrument.remission_cutoff
    else:
        rem = f <= instrument.remission_cutoff
    return _nullable(rem, defined)


def rci_jacobson_truax(baseline, final, *, sd: float, reliability: float) -> np.ndarray:
    """Jacobson-Truax reliable change index.

    RCI = (x_post - x_pre) / S_diff, S_diff = SD_pre * sqrt(2 (1 - r_xx)) (Jacobson NS,
    Truax P 1991, J Consult Clin Psychol 59:12-19, doi:10.1037/0022-006X.59.1.12; as
    ``clinicalsignificance`` ``calc_rci_jt``). Negative = improvement on lower-is-better scales.

    Examples
    --------
    >>> rci_jacobson_truax(np.array([60.0]), np.array([11.0]), sd=25.0, reliability=0.5)
    array([-1.96])
    """
    if not 0 <= reliability < 1:
        raise ValueError(
            f"rci_jacobson_truax(): reliability={reliability!r} is not allowed; use a "
            "coefficient in [0, 1) (e.g. Cronbach's alpha or a test-retest r)."
        )
    if not sd > 0:
        raise ValueError(
            f"rci_jacobson_truax(): sd={sd!r} is not allowed; the SD must be > 0. Fix: pass "
            "a normative SD or use data with varying baseline scores."
        )
    s_diff = sd * np.sqrt(2.0 * (1.0 - reliability))
    return (np.asarray(final, dtype=float) - np.asarray(baseline, dtype=float)) / s_diff


def reliable_change_flags(rci, *, critical_value=1.96, better_is="lower"):
    """Reliable improvement / deterioration: |RCI| strictly greater than ``critical_value``.

    Jacobson & Truax 1991 (1.96 = 95%); an RCI exactly at the critical value is not
    reliable change (as clinicalsignificance ``.calc_categories_jacobson``).

    Examples
    --------
    >>> imp, det = reliable_change_flags(np.array([-1.96, -2.0, 2.5, np.nan]))
    >>> imp.tolist(), det.tolist()
    ([False, True, False, <NA>], [False, False, True, <NA>])
    """
    x = np.asarray(rci, dtype=float)
    sign = -1.0 if better_is == "lower" else 1.0
    defined = ~np.isnan(x)
    return _nullable(sign * x > critical_value, defined), _nullable(
        sign * x < -critical_value, defined
    )


def jt_cutoff(
    criterion="a",
    *,
    clinical_mean=None,
    clinical_sd=None,
    functional_mean=None,
    functional_sd=None,
    sd_multiplier=2.0,
    better_is="lower",
) -> float:
    """Jacobson-Truax clinical cut-off by criterion a, b or c.

    With dir = -1 for lower-is-better: a = M_clin + dir * k * SD_clin; b = M_func - dir * k *
    SD_func; c = (SD_clin * M_func + SD_func * M_clin) / (SD_clin + SD_func) (Jacobson & Truax
    1991). Criterion b follows JT 1991 (two SD of the *functional* population);
    ``clinicalsignificance`` (``R/calc_cutoff.R`` l.154-172) uses the clinical SD there: pass
    ``functional_sd=clinical_sd`` to reproduce the package. ``sd_multiplier`` k defaults to 2 (JT
    1991); some tools use 1.96 (docs/definitions.md, "Jacobson-Truax"), hence the parameter.

    Examples
    --------
    >>> jt_cutoff("a", clinical_mean=18, clinical_sd=4)
    10.0
    >>> jt_cutoff("c", clinical_mean=18, clinical_sd=4, functional_mean=4, functional_sd=3)
    10.0
    """
    d = -1.0 if better_is == "lower" else 1.0
    need = {"a": ("clinical",), "b": ("functional",), "c": ("clinical", "functional")}
    if criterion not in need:
        raise ValueError(
            f"jt_cutoff(): criterion={criterion!r} is not allowed; use 'a', 'b' or 'c'."
        )
    given = {
        "clinical": clinical_mean is not None and clinical_sd is not None,
        "functional": functional_mean is not None and functional_sd is not None,
    }
    for norm in need[criterion]:
        if not given[norm]:
            raise ValueError(
                f"jt_cutoff(): criterion={criterion!r} needs {norm}_mean and {norm}_sd; they "
                f"were not given. Fix: pass the {norm} population norms."
            )
    if criterion == "a":
        return float(clinical_mean + d * sd_multiplier * clinical_sd)
    if criterion == "b":
        return float(functional_mean - d * sd_multiplier * functional_sd)
    return float(
        (clinical_sd * functional_mean + functional_sd * clinical_mean)
        / (clinical_sd + functional_sd)
    )


def cs_categories(
    baseline, final, reliable_improvement, reliable_deterioration, *, cutoff, better_is="lower"
) -> pd.Categorical:
    """Clinically significant change categories (Jacobson & Truax 1991).

    Categories exactly as the ``clinicalsignificance`` R package (2.1.0.9000,
    ``R/calc_recovered.R`` l.17-22 and ``R/calc_cutoff.R`` l.54-59), written for
    lower-is-better scales with cut-off c: clinical_pre = pre > c, functional_post =
    post < c (both strict); recovered = clinical_pre and functional_post and reliable
    improvement; improved = other reliable improvement; harmed = not clinical_pre (pre <= c)
    and not functional_post (post >= c) and reliable deterioration; deteriorated = other
    reliable deterioration; unchanged = no reliable change. So a score exactly at the cut-off
    can never recover but can be harmed. NA where the RCI is undefined.

    Examples
    --------
    >>> imp = pd.array([True, True, False], dtype="boolean")
    >>> det = pd.array([False, False, False], dtype="boolean")
    >>> cs_categories(np.array([20., 12., 12.]), np.array([5., 11., 11.]), imp, det,
    ...               cutoff=10).tolist()
    ['recovered', 'improved', 'unchanged']
    """
    b = np.asarray(baseline, dtype=float)
    f = np.asarray(final, dtype=float)
    d = 1.0 if better_is == "lower" else -1.0
    # clinicalsignificance calc_cutoff.R l.54-59 (direction = -1 for lower is better)
    clinical_pre, functional_post = d * b > d * cutoff, d * f < d * cutoff
    imp = pd.array(reliable_improvement, dtype="boolean")
    det = pd.array(reliable_deterioration, dtype="boolean")
    defined = ~(imp.isna() | det.isna())
    impv = imp.fillna(False).to_numpy(dtype=bool)
    detv = det.fillna(False).to_numpy(dtype=bool)
    cat = np.select(
        [
            impv & clinical_pre & functional_post,
            impv,
            detv & ~clinical_pre & ~functional_post,
            detv,
        ],
        ["recovered", "improved", "harmed", "deteriorated"],
        default="unchanged",
    ).astype(object)
    cat[~np.asarray(defined)] = None
    return pd.Categorical(cat, categories=list(CS_CATEGORIES))
