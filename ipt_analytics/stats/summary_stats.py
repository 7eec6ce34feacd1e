"""Effect sizes and rates computed from published summary data.

Counts -> odds ratio (Woolf), risk ratio (Katz log), risk difference (Wald or Newcombe),
NNT (Altman's NNTB/NNTH convention); Cohen's d -> NNT (Kraemer & Kupfer); pre-post effect
sizes (d_z, d_rm, d_av, Becker's g, Morris's d_ppc2); the pre-post correlation recovered
from SDs; Feingold's GMA d; NHS Talking Therapies rates with their published denominators.

Sources are in docs/definitions.md and in each docstring. Nothing is
rounded except by :func:`round_half_up`, which exists for display only.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
from scipy import special, stats

from ipt_analytics.errors import DataWarning
from ipt_analytics.stats.intervals import newcombe_rd_interval, wald_rd_interval, z_value

__all__ = [
    "Estimate",
    "NNT",
    "odds_ratio",
    "risk_ratio",
    "risk_difference",
    "nnt_from_rd",
    "nnt_from_d",
    "becker_g",
    "prepost_effect_sizes",
    "morris_dppc2",
    "prepost_correlation",
    "gma_d",
    "nhs_rate",
    "nhs_recovery_rate",
    "round_half_up",
]


@dataclass(frozen=True)
class Estimate:
    """One estimate with its standard error (on the scale named in ``method``) and interval."""

    estimate: float
    std_error: float
    conf_low: float
    conf_high: float
    method: str

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class NNT:
    """Number needed to treat on Altman's signed scale.

    ``estimate`` > 0 is a number needed to treat to benefit (NNTB), < 0 to harm (NNTH).
    When the risk-difference interval excludes 0, the interval is ``[conf_low, conf_high]``.
    When it includes 0 (``crosses_null``), the interval is the union
    ``(-inf, conf_low] U [conf_high, inf)``: "NNTH |conf_low| to infinity to NNTB conf_high"
    (Altman DG 1998, BMJ 317:1309-1312).
    """

    estimate: float
    conf_low: float
    conf_high: float
    crosses_null: bool

    def as_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        def side(v: float) -> str:
            return f"NNTB {v:.2f}" if v > 0 else f"NNTH {abs(v):.2f}"

        if self.crosses_null:
            return (
                f"{side(self.estimate)} (NNTH {abs(self.conf_low):.2f} to infinity to "
                f"NNTB {self.conf_high:.2f})"
            )
        return f"{side(self.estimate)} ({side(self.conf_low)} to {side(self.conf_high)})"


def _check_counts(fn: str, events1, n1, events2, n2) -> None:
    for name, e, n in (("events1/n1", events1, n1), ("events2/n2", events2, n2)):
        if not (0 <= e <= n) or n <= 0:
            raise ValueError(
                f"{fn}(): {name}={e}/{n} is not allowed; events must lie in 0..n and n > 0. "
                "Fix: check the counts."
            )


def odds_ratio(events1, n1, events2, n2, *, conf_level=0.95, zero_correction=0.5) -> Estimate:
    """Odds ratio of group 1 vs group 2 with the Woolf (log) interval.

    Woolf B (1955) Ann Hum Genet 19:251-253: SE(log OR) = sqrt(1/a + 1/b + 1/c + 1/d).
    If a cell is 0, ``zero_correction`` (Haldane-Anscombe, default 0.5) is added to every
    cell; set it to 0 to get an infinite or zero estimate instead.

    Examples
    --------
    Dennis et al. 2020 (telephone IPT, SCID depression at 12 weeks: 11/104 vs 35/100):

    >>> est = odds_ratio(11, 104, 35, 100)
    >>> round(est.estimate, 2), round(est.conf_low, 2), round(est.conf_high, 2)
    (0.22, 0.1, 0.46)
    """
    _check_counts("odds_ratio", events1, n1, events2, n2)
    a, b, c, d = (float(v) for v in (events1, n1 - events1, events2, n2 - events2))
    if min(a, b, c, d) == 0 and zero_correction:
        a, b, c, d = (v + zero_correction for v in (a, b, c, d))
    with np.errstate(divide="ignore"):
        log_or = np.log(a) + np.log(d) - np.log(b) - np.log(c)
        se = math.sqrt(sum(1 / v if v > 0 else math.inf for v in (a, b, c, d)))
    z = z_value(conf_level)
    with np.errstate(invalid="ignore", over="ignore"):
        return Estimate(
            float(np.exp(log_or)),
            se,
            float(np.exp(log_or - z * se)),
            float(np.exp(log_or + z * se)),
            "woolf_log",
        )


def risk_ratio(events1, n1, events2, n2, *, conf_level=0.95, zero_correction=0.5) -> Estimate:
    """Risk ratio of group 1 vs group 2 with the Katz log interval.

    Katz D et al. (1978) Biometrics 34:469-474: SE(log RR) = sqrt(1/a - 1/n1 + 1/c - 1/n2).
    A zero event count gets ``zero_correction`` added to the events and to both totals.

    Examples
    --------
    >>> est = risk_ratio(11, 104, 35, 100)
    >>> round(est.estimate, 4), round(est.std_error, 4)
    (0.3022, 0.316)
    """
    _check_counts("risk_ratio", events1, n1, events2, n2)
    a, m1, c, m2 = float(events1), float(n1), float(events2), float(n2)
    if (a == 0 or c == 0) and zero_correction:
        a, c = a + zero_correction, c + zero_correction
        m1, m2 = m1 + 2 * zero_correction, m2 + 2 * zero_correction
    with np.errstate(divide="ignore"):
        log_rr = np.log(a / m1) - np.log(c / m2)
        se = math.sqrt((1 / a if a else math.inf) - 1 / m1 + (1 / c if c else math.inf) - 1 / m2)
    z = z_value(conf_level)
    return Estimate(
        float(np.exp(log_rr)),
        se,
        float(np.exp(log_rr - z * se)),
        float(np.exp(log_rr + z * se)),
        "katz_log",
    )


def risk_difference(events1, n1, events2, n2, *, conf_level=0.95, method="newcombe") -> Estimate:
    """Risk difference ``p1 - p2`` with a Wald or Newcombe hybrid-score interval.

    ``method="newcombe"`` (default; Newcombe 1998 Stat Med 17:873-890, method 10) keeps good
    coverage with small counts; ``"wald"`` is the textbook normal interval. ``std_error`` is
    the Wald standard error in both cases.

    Examples
    --------
    >>> est = risk_difference(56, 70, 48, 80)
    >>> round(est.conf_low, 4), round(est.conf_high, 4)
    (0.0524, 0.3339)
    """
    _check_counts("risk_difference", events1, n1, events2, n2)
    est, se, lo, hi = wald_rd_interval(events1, n1, events2, n2, conf_level=conf_level)
    if method == "newcombe":
        _, lo, hi = newcombe_rd_interval(events1, n1, events2, n2, conf_level=conf_level)
    elif method != "wald":
        raise ValueError(
            f"risk_difference(): method={method!r} is not allowed; use 'newcombe' or 'wald'."
        )
    return Estimate(est, se, lo, hi, method)


def nnt_from_rd(rd: float, conf_low: float, conf_high: float, *, beneficial=True) -> NNT:
    """Number needed to treat from a risk difference and its interval.

    NNT = 1 / RD (Laupacis et al. 1988, N Engl J Med 318:1728-1733); the interval is the
    inverted RD interval with Altman's (1998, BMJ 317:1309) convention, see :class:`NNT`.
    ``beneficial=True`` means the counted event is good (response, remission), so RD > 0 is
    a benefit; for harmful events (dropout, deterioration) pass ``False``.

    Examples
    --------
    >>> nnt = nnt_from_rd(0.25, 0.1, 0.4)
    >>> nnt.estimate, round(nnt.conf_low, 2), nnt.conf_high
    (4.0, 2.5, 10.0)
    >>> print(nnt_from_rd(0.1, -0.05, 0.2))
    NNTB 10.00 (NNTH 20.00 to infinity to NNTB 5.00)
    """
    sign = 1.0 if beneficial else -1.0
    b, lo, hi = sign * rd, sign * conf_low, sign * conf_high
    lo, hi = min(lo, hi), max(lo, hi)
    with np.errstate(divide="ignore"):
        est = float(np.divide(1.0, b))
        # an RD bound of exactly 0 is approached from inside the interval: 1/RD tends to
        # +inf at a lower bound of 0 and to -inf at an upper bound of 0 (not 1/(+0.0))
        inv_lo = math.inf if lo == 0 else float(1.0 / lo)
        inv_hi = -math.inf if hi == 0 else float(1.0 / hi)
    if lo < 0 < hi:
        return NNT(est, inv_lo, inv_hi, True)
    return NNT(est, min(inv_lo, inv_hi), max(inv_lo, inv_hi), False)


def nnt_from_d(d):
    """NNT from a standardized mean difference (Kraemer & Kupfer 2006).

    NNT = 1 / (2 * Phi(d / sqrt(2)) - 1) (Kraemer HC, Kupfer DJ 2006, Biol Psychiatry
    59:990-996; formula **unverified** in the primary source, reproduces Cuijpers et al.
    2011: d = 0.63 -> NNT 2.91). Negative d gives a negative NNT (harm).

    Examples
    --------
    >>> round(float(nnt_from_d(0.63)), 2)
    2.91
    """
    d = np.asarray(d, dtype=float)
    with np.errstate(divide="ignore"):
        out = 1.0 / (2.0 * stats.norm.cdf(d / math.sqrt(2.0)) - 1.0)
    return float(out) if out.ndim == 0 else out


def _c(m: float) -> float:
    # exact small-sample correction c(m) = sqrt(2/m) Gamma(m/2) / Gamma((m-1)/2)
    return math.exp(
        0.5 * math.log(2.0 / m) + special.gammaln(m / 2.0) - special.gammaln((m - 1) / 2.0)
    )


def becker_g(mean_pre, mean_post, sd_pre, n) -> float:
    """Becker's (1988) standardized mean change, bias-corrected.

    g = c(n - 1) * (M_post - M_pre) / SD_pre with c(m) = sqrt(2/m) Gamma(m/2) / Gamma((m-1)/2)
    (Becker BJ 1988, Br J Math Stat Psychol 41:257-278; as metafor ``escalc("SMCR")``).
    On lower-is-better scales an improvement is negative.

    Examples
    --------
    >>> round(becker_g(20.0, 10.0, 5.0, 30), 4)
    -1.9478
    """
    return _c(n - 1) * (mean_post - mean_pre) / sd_pre


def prepost_correlation(sd_pre, sd_post, sd_change) -> float:
    """Pre-post correlation recovered from the SDs of pre, post and change scores.

    r = (SD_pre^2 + SD_post^2 - SD_change^2) / (2 SD_pre SD_post). Rounded published SDs can
    push r outside [-1, 1]: the value is clamped and a :class:`DataWarning` names the raw r.

    Examples
    --------
    >>> round(prepost_correlation(5.0, 5.0, 5.0), 4)
    0.5
    """
    r = (sd_pre**2 + sd_post**2 - sd_change**2) / (2.0 * sd_pre * sd_post)
    if r > 1 or r < -1:
        warnings.warn(
            f"prepost_correlation(): the SDs imply r = {r!r}, outside [-1, 1] (rounded "
            "inputs?); clamped to the nearest bound.",
            DataWarning,
            stacklevel=2,
        )
        r = min(1.0, max(-1.0, r))
    return float(r)


def prepost_effect_sizes(*, mean_pre, mean_post, sd_pre, sd_post, n, r=None, sd_change=None):
    """Within-group pre-post effect sizes d_z, d_rm, d_av and Becker's g.

    With mean change M = M_post - M_pre (negative = improvement on lower-is-better scales),
    d_z = M / SD_change; d_rm = d_z * sqrt(2 (1 - r)); d_av = M / ((SD_pre + SD_post) / 2)
    (Morris & DeShon 2002, Psychol Methods 7:105-125; Lakens 2013, Front Psychol 4:863;
    formulas **unverified** against the primary sources). Give ``r`` or ``sd_change``; the
    missing one is derived (SD_change^2 = SD_pre^2 + SD_post^2 - 2 r SD_pre SD_post).

    Returns
    -------
    pandas.DataFrame
        Columns ``term, estimate``; metadata (r used) in ``.attrs``.

    Examples
    --------
    >>> t = prepost_effect_sizes(mean_pre=20, mean_post=10, sd_pre=5, sd_post=5, n=30, r=0.5)
    >>> t["estimate"].round(4).tolist()
    [-2.0, -2.0, -2.0, -1.9478]
    """
    import pandas as pd

    if r is None and sd_change is None:
        raise ValueError(
            "prepost_effect_sizes(): give r= (pre-post correlation) or sd_change=; neither "
            "was given. Fix: pass one of them (see prepost_correlation())."
        )
    if r is None:
        r = prepost_correlation(sd_pre, sd_post, sd_change)
    if sd_change is None:
        sd_change = math.sqrt(sd_pre**2 + sd_post**2 - 2 * r * sd_pre * sd_post)
    m = mean_post - mean_pre
    d_z = m / sd_change
    out = pd.DataFrame(
        {
            "term": ["d_z", "d_rm", "d_av", "becker_g"],
            "estimate": [
                d_z,
                d_z * math.sqrt(2 * (1 - r)),
                m / ((sd_pre + sd_post) / 2),
                becker_g(mean_pre, mean_post, sd_pre, n),
            ],
        }
    )
    out.attrs.update({"r": float(r), "sd_change": float(sd_change), "n": n})
    return out


def morris_dppc2(
    *, mean_pre_t, mean_post_t, sd_pre_t, n_t, mean_pre_c, mean_post_c, sd_pre_c, n_c
) -> float:
    """Pre-post-control effect size d_ppc2 (Morris 2008), pooled pre-treatment SD.

    d = c_P * ((M_post,T - M_pre,T) - (M_post,C - M_pre,C)) / SD_pre,pooled with
    c_P = 1 - 3 / (4 (n_T + n_C - 2) - 1) (Morris SB 2008, Organ Res Methods 11:364-386;
    https://metafor-project.org/doku.php/analyses:morris2008).

    Examples
    --------
    >>> round(morris_dppc2(mean_pre_t=20, mean_post_t=10, sd_pre_t=5, n_t=20,
    ...                    mean_pre_c=20, mean_post_c=15, sd_pre_c=5, n_c=20), 4)
    -0.9801
    """
    df = n_t + n_c - 2
    sd_pool = math.sqrt(((n_t - 1) * sd_pre_t**2 + (n_c - 1) * sd_pre_c**2) / df)
    cp = 1 - 3 / (4 * df - 1)
    return cp * ((mean_post_t - mean_pre_t) - (mean_post_c - mean_pre_c)) / sd_pool


def gma_d(slope_difference, duration, sd_raw, *, slope_se=None, conf_level=0.95) -> Estimate:
    """Feingold's (2009) GMA d: model-based effect size on the classical d metric.

    d_GMA = slope_difference * duration / SD_raw, with SD_raw the raw (pooled) baseline SD
    (Feingold A 2009, Psychol Methods 14:43-53). Trap: never divide by the random-slope SD or
    the residual SD. The interval (if ``slope_se`` is given) treats SD_raw as fixed (delta
    method, Feingold 2019 https://pmc.ncbi.nlm.nih.gov/articles/PMC7413603).

    Examples
    --------
    >>> round(gma_d(-0.5, 12, 6.0).estimate, 4)
    -1.0
    """
    if sd_raw <= 0 or duration <= 0:
        raise ValueError(
            f"gma_d(): sd_raw={sd_raw!r} and duration={duration!r} must be > 0. Fix: pass the "
            "baseline SD of the raw scores and the study duration in the slope's time unit."
        )
    est = slope_difference * duration / sd_raw
    if slope_se is None:
        return Estimate(est, math.nan, math.nan, math.nan, "feingold_2009")
    se = slope_se * duration / sd_raw
    z = z_value(conf_level)
    return Estimate(est, se, est - z * se, est + z * se, "feingold_2009_delta")


def nhs_rate(numerator, denominator) -> float:
    """A rate in percent from counts, unrounded: 100 * numerator / denominator.

    Use the published denominator of each measure (docs/definitions.md): reliable improvement
    = all who finished treatment; reliable recovery = finished treatment at caseness;
    recovery = finished minus not at caseness (see :func:`nhs_recovery_rate`).

    Examples
    --------
    >>> round(nhs_rate(39417, 57060), 2)   # NHS Digital June 2020, reliable improvement
    69.08
    """
    if denominator <= 0 or numerator < 0 or numerator > denominator:
        raise ValueError(
            f"nhs_rate(): numerator={numerator!r}, denominator={denominator!r} are not a "
            "valid count pair; need 0 <= numerator <= denominator and denominator > 0."
        )
    return 100.0 * numerator / denominator


def nhs_recovery_rate(recovered, finished, not_at_caseness) -> float:
    """NHS Talking Therapies recovery rate in percent.

    Count_Recovery / (Count_FinishedCourseTreatment - Count_NotAtCaseness) * 100 (NHS Digital,
    December 2020 outcomes page; docs/definitions.md, "NHS Talking Therapies").

    Examples
    --------
    >>> round(nhs_recovery_rate(27884, 57060, 3200), 2)   # June 2020
    51.77
    """
    return nhs_rate(recovered, finished - not_at_caseness)


def round_half_up(value: float, decimals: int = 1) -> float:
    """Round for display, half away from zero, from the exact binary value (no double rounding).

    Rounding in two steps is the classic error: 44.849956 -> 44.85 -> 44.9, whereas the
    published HSCIC 2014/15 recovery rate is 44.8.

    Examples
    --------
    >>> round_half_up(44.849956371637774, 1)
    44.8
    >>> round_half_up(0.125, 2)
    0.13
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return math.nan
    q = Decimal(1).scaleb(-decimals)
    return float(Decimal(value).quantize(q, rounding=ROUND_HALF_UP))
