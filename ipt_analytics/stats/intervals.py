"""Confidence intervals for proportions and differences of proportions.

Helpers used by :mod:`ipt_analytics.stats.groups` and :mod:`ipt_analytics.stats.summary_stats`.
The Wilson and Newcombe intervals are statsmodels' (``proportion_confint``,
``confint_proportions_2indep``); what is ours is the handling of ``n == 0`` (NaN, no warning)
and the exact 0 / 1 limits at ``x == 0`` / ``x == n``. Definitions and the published examples
that pin them: docs/definitions.md, "Proportions, risk differences, ratios and NNT".
Results are unrounded floats.
"""

from __future__ import annotations

import numpy as np
from scipy import stats
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

__all__ = ["z_value", "wilson_interval", "wald_rd_interval", "newcombe_rd_interval"]


def z_value(conf_level: float) -> float:
    """Two-sided standard-normal critical value for ``conf_level``.

    Examples
    --------
    >>> round(z_value(0.95), 6)
    1.959964
    """
    if not 0 < conf_level < 1:
        raise ValueError(
            f"z_value(): conf_level={conf_level!r} is not allowed; use a number strictly "
            "between 0 and 1, e.g. 0.95."
        )
    return float(stats.norm.ppf(0.5 + conf_level / 2))


def wilson_interval(events, n, *, conf_level: float = 0.95):
    """Wilson score interval for a binomial proportion.

    Wilson EB (1927) J Am Stat Assoc 22:209-212, computed by
    ``statsmodels.stats.proportion.proportion_confint(method="wilson")``.

    Parameters
    ----------
    events, n : array_like
        Number of events and of trials (``n > 0``; ``n == 0`` gives NaN).
    conf_level : float

    Returns
    -------
    (conf_low, conf_high) : tuple of numpy arrays (or floats for scalar input)

    Examples
    --------
    >>> lo, hi = wilson_interval(11, 104)
    >>> round(float(lo), 4), round(float(hi), 4)
    (0.0601, 0.1795)
    """
    x = np.asarray(events, dtype=float)
    m = np.asarray(n, dtype=float)
    alpha = 1.0 - conf_level
    z_value(conf_level)  # validates conf_level with our message
    ok = m > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        low, high = proportion_confint(x, np.where(ok, m, 1.0), alpha=alpha, method="wilson")
    # statsmodels misses 0 at x == 0 and 1 at x == n by ~1e-16 for many n (e.g. 0/20, 29/29);
    # the exact limits are 0 and 1, so we set them (tests show the library's values)
    low = np.where(x == 0, 0.0, np.clip(low, 0.0, 1.0))
    high = np.where(x == m, 1.0, np.clip(high, 0.0, 1.0))
    low = np.where(ok, low, np.nan)
    high = np.where(ok, high, np.nan)
    if np.ndim(low) == 0:
        return float(low), float(high)
    return low, high


def wald_rd_interval(events1, n1, events2, n2, *, conf_level: float = 0.95):
    """Wald interval for the risk difference ``p1 - p2``.

    Returns ``(estimate, std_error, conf_low, conf_high)``.

    Examples
    --------
    >>> est, se, lo, hi = wald_rd_interval(35, 100, 11, 104)
    >>> round(est, 4), round(se, 4)
    (0.2442, 0.0563)
    """
    p1 = events1 / n1
    p2 = events2 / n2
    est = p1 - p2
    se = float(np.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2))
    z = z_value(conf_level)
    return float(est), se, float(est - z * se), float(est + z * se)


def newcombe_rd_interval(events1, n1, events2, n2, *, conf_level: float = 0.95):
    """Newcombe hybrid score interval for ``p1 - p2`` (his method 10).

    Newcombe RG (1998) Stat Med 17:873-890: combine the Wilson limits of each proportion,
    ``L = d - sqrt((p1 - l1)^2 + (u2 - p2)^2)``, ``U = d + sqrt((u1 - p1)^2 + (p2 - l2)^2)``;
    computed by ``statsmodels.stats.proportion.confint_proportions_2indep(method="newcomb")``.

    Returns ``(estimate, conf_low, conf_high)``.

    Examples
    --------
    >>> est, lo, hi = newcombe_rd_interval(56, 70, 48, 80)
    >>> round(lo, 4), round(hi, 4)
    (0.0524, 0.3339)
    """
    d = events1 / n1 - events2 / n2
    z_value(conf_level)  # validates conf_level with our message
    low, high = confint_proportions_2indep(
        events1, n1, events2, n2, method="newcomb", compare="diff", alpha=1.0 - conf_level
    )
    # statsmodels' limits miss +-1 by ~1e-16 when d = +-1 (e.g. 10/10 vs 0/20); the exact
    # value there is +-1 (the Wilson limits are exactly 0 and 1), so we set it
    low = -1.0 if d == -1 else float(np.clip(low, -1.0, 1.0))
    high = 1.0 if d == 1 else float(np.clip(high, -1.0, 1.0))
    return float(d), low, high
