"""Confidence intervals for proportions and differences of proportions.

Small, dependency-free (numpy/scipy only) helpers shared by :mod:`ipt_analytics.stats.groups`
and :mod:`ipt_analytics.stats.summary_stats`. Every function is vectorised over numpy arrays and
returns unrounded floats.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

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

    Wilson EB (1927) J Am Stat Assoc 22:209-212. Same numbers as
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
    z = z_value(conf_level)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = x / m
        denom = 1 + z**2 / m
        centre = (p + z**2 / (2 * m)) / denom
        half = z * np.sqrt(p * (1 - p) / m + z**2 / (4 * m**2)) / denom
        low = np.where(m > 0, centre - half, np.nan)
        high = np.where(m > 0, centre + half, np.nan)
    # the score interval lies in [0, 1] mathematically; clip rounding noise only
    low = np.clip(low, 0.0, 1.0)
    high = np.clip(high, 0.0, 1.0)
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
    ``L = d - sqrt((p1 - l1)^2 + (u2 - p2)^2)``, ``U = d + sqrt((u1 - p1)^2 + (p2 - l2)^2)``.

    Returns ``(estimate, conf_low, conf_high)``.

    Examples
    --------
    >>> est, lo, hi = newcombe_rd_interval(56, 70, 48, 80)
    >>> round(lo, 4), round(hi, 4)
    (0.0524, 0.3339)
    """
    p1 = events1 / n1
    p2 = events2 / n2
    l1, u1 = wilson_interval(events1, n1, conf_level=conf_level)
    l2, u2 = wilson_interval(events2, n2, conf_level=conf_level)
    d = p1 - p2
    low = d - np.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = d + np.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return float(d), float(low), float(high)
