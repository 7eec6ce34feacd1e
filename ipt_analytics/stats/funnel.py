"""Funnel plots for proportions (Spiegelhalter 2005), with risk adjustment and overdispersion.

A funnel plot shows each unit's (site's, therapist's) rate against its size, with control
limits around the target that narrow as the size grows (Spiegelhalter DJ. Funnel plots for
comparing institutional performance. Stat Med 2005;24:1185-1202, doi:10.1002/sim.1970).

* **Exact binomial limits with interpolation** (the paper's Appendix A.1.1, as implemented by
  R. Wicklin, "Funnel plots for proportions", The DO Loop (SAS blog), 2011-11-23): for a
  probability ``p`` (0.001, 0.025, 0.975, 0.999: 99.8% and 95% limits), target ``theta`` and
  size ``n``, ``r`` is the smallest count with ``F(r) >= p`` (the binomial quantile),
  ``alpha = (F(r) - p) / (F(r) - F(r - 1))`` and the limit is ``(r - alpha) / n``. The
  interpolation makes the limits a smooth function of ``n`` instead of a staircase.
* **Risk adjustment by indirect standardisation**: each episode's probability of the outcome
  given its baseline severity comes from one logistic regression over all episodes; a unit's
  expected count ``E`` is the sum of its episodes' probabilities, and its adjusted rate
  ``theta * O / E`` (``O`` observed events, ``theta`` the overall rate) is compared with the
  limits at its size (Spiegelhalter 2005, section 3: indirectly standardised proportions).
* **Overdispersion** (Spiegelhalter 2005 section 6; Spiegelhalter, Qual Saf Health Care
  2005;14:347-351, which prefers the additive random-effects form): z-scores
  ``z_i = (y_i - theta) / s_i`` with ``s_i = sqrt(theta (1 - theta) / n_i)`` are winsorised at
  their 10th and 90th percentiles; ``phi = mean(z^2)``; when ``I phi > I - 1``,
  ``tau^2 = (I phi - (I - 1)) / (sum w - sum w^2 / sum w)`` with ``w = 1 / s^2``, else 0; the
  limits become ``theta +/- z_p sqrt(s_i^2 + tau^2)`` (the formulas as in the FunnelPlotR
  package, ``R/od_adjustment.R``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

__all__ = [
    "binomial_funnel_limits",
    "funnel_limits",
    "overdispersion",
    "funnel_table",
    "expected_events",
]

#: lower and upper tail probabilities of 99.8% and 95% limits
PROBS = {"lower_998": 0.001, "lower_95": 0.025, "upper_95": 0.975, "upper_998": 0.999}


def binomial_funnel_limits(n, theta: float, probs: dict | None = None) -> pd.DataFrame:
    """Exact binomial funnel limits with interpolation (Spiegelhalter 2005, Appendix A.1.1).

    Parameters
    ----------
    n : sizes (number of episodes), scalar or array.
    theta : target proportion (0 < theta < 1).
    probs : ``{name: tail probability}``, default :data:`PROBS`.

    Returns
    -------
    DataFrame: ``n`` and one column per probability (limits on the proportion scale).

    Examples
    --------
    n = 100, theta = 0.5 by exact rational arithmetic: the 0.975 quantile is r = 60,
    F(60) = 0.98240, F(59) = 0.97156, alpha = 0.6824, limit = (60 - 0.6824) / 100 = 0.5932.

    >>> binomial_funnel_limits([100], 0.5).round(4).to_dict("records")
    [{'n': 100, 'lower_998': 0.3412, 'lower_95': 0.3968, 'upper_95': 0.5932, 'upper_998': 0.6488}]
    """
    if not 0 < theta < 1:
        raise ValueError(f"binomial_funnel_limits(): theta={theta!r} must lie strictly in (0, 1)")
    sizes = np.atleast_1d(np.asarray(n))
    if np.any(sizes < 1):
        raise ValueError("binomial_funnel_limits(): every size n must be at least 1")
    out = {"n": sizes}
    for name, p in (probs or PROBS).items():
        r = stats.binom.ppf(p, sizes, theta)
        f_r = stats.binom.cdf(r, sizes, theta)
        f_r1 = stats.binom.cdf(r - 1, sizes, theta)
        alpha = (f_r - p) / (f_r - f_r1)
        out[name] = np.clip((r - alpha) / sizes, 0.0, 1.0)
    return pd.DataFrame(out)


def funnel_limits(n, theta: float, tau2: float | None = None) -> pd.DataFrame:
    """Limits for a grid of sizes: exact binomial (``tau2`` None) or, with overdispersion, the
    normal approximation ``theta +/- z_p sqrt(theta (1 - theta) / n + tau2)``.

    Examples
    --------
    >>> funnel_limits([100], 0.5, tau2=0.0)["upper_95"].round(4).tolist()
    [0.598]
    """
    if tau2 is None:
        return binomial_funnel_limits(n, theta)
    sizes = np.atleast_1d(np.asarray(n, dtype=float))
    width = np.sqrt(theta * (1 - theta) / sizes + tau2)
    out = {"n": sizes}
    for name, p in PROBS.items():
        out[name] = np.clip(theta + stats.norm.ppf(p) * width, 0.0, 1.0)
    return pd.DataFrame(out)


def overdispersion(rate, n, theta: float, *, trim: float = 0.1) -> dict:
    """Overdispersion of unit rates around a target: ``phi`` and additive ``tau2``.

    Winsorised z-scores (at the ``trim`` and ``1 - trim`` quantiles, R's default type 7),
    ``phi = mean(z^2)``, and the DerSimonian-Laird-type ``tau2`` (0 when ``I phi <= I - 1``).

    Examples
    --------
    Three units of 100 with rates 0.3, 0.5, 0.7 around 0.5: s = 0.05, z = -4, 0, 4; winsorised
    at the 10th/90th percentiles (-3.2, 3.2), phi = 2 * 3.2^2 / 3 = 6.827; w = 400 each,
    tau2 = (3 * 6.827 - 2) / (1200 - 400) = 0.02310.

    >>> d = overdispersion([0.3, 0.5, 0.7], [100, 100, 100], 0.5)
    >>> round(d["phi"], 3), round(d["tau2"], 5)
    (6.827, 0.0231)
    """
    y = np.asarray(rate, dtype=float)
    m = np.asarray(n, dtype=float)
    s = np.sqrt(theta * (1 - theta) / m)
    z = (y - theta) / s
    lo, hi = np.quantile(z, [trim, 1 - trim])
    zw = np.clip(z, lo, hi)
    k = z.size
    phi = float(np.mean(zw**2))
    w = 1 / s**2
    tau2 = 0.0
    if k * phi > k - 1:
        tau2 = max(0.0, (k * phi - (k - 1)) / (w.sum() - (w**2).sum() / w.sum()))
    return {"phi": phi, "tau2": float(tau2), "n_units": k, "z": z, "z_winsorised": zw}


def expected_events(outcome, covariates) -> np.ndarray:
    """Each episode's probability of the outcome from a logistic model on ``covariates``.

    ``outcome`` is 0/1; ``covariates`` a 1-D or 2-D array (e.g. baseline severity). The model
    has an intercept, so the expected events sum to the observed events over all episodes
    (a property of the logistic maximum-likelihood equations).
    """
    import statsmodels.api as sm

    y = np.asarray(outcome, dtype=float)
    x = np.asarray(covariates, dtype=float)
    x = x.reshape(len(y), -1)
    fit = sm.Logit(y, sm.add_constant(x, has_constant="add")).fit(disp=0, method="newton")
    return np.asarray(fit.predict(sm.add_constant(x, has_constant="add")), dtype=float)


def funnel_table(
    units: Sequence,
    outcome,
    *,
    adjust=None,
    theta: float | None = None,
    overdispersed: bool = False,
) -> pd.DataFrame:
    """Per-unit rates, (adjusted) rates and funnel limits at each unit's size.

    Parameters
    ----------
    units : unit label of each episode (site code, therapist code).
    outcome : 0/1 outcome of each episode (episodes with a missing outcome are left out).
    adjust : covariate(s) for indirect standardisation (e.g. baseline score), or None.
    theta : target; default the overall rate of the episodes given.
    overdispersed : widen the limits by the additive ``tau2`` (see module notes).

    Returns
    -------
    DataFrame ``unit, n, observed, expected, rate, adjusted_rate, lower_998, lower_95,
    upper_95, upper_998, position`` (position: "above 99.8%", "above 95%", "within",
    "below 95%", "below 99.8%"), with ``attrs`` holding theta, phi, tau2 and the method.

    Examples
    --------
    >>> units = ["a"] * 50 + ["b"] * 50
    >>> y = [1] * 25 + [0] * 25 + [1] * 30 + [0] * 20
    >>> t = funnel_table(units, y)
    >>> t[["unit", "n", "observed", "rate", "position"]].to_dict("records")[1]
    {'unit': 'b', 'n': 50, 'observed': 30, 'rate': 0.6, 'position': 'within'}
    """
    frame = pd.DataFrame(
        {"unit": list(units), "y": pd.to_numeric(pd.Series(outcome), errors="coerce")}
    )
    if adjust is not None:
        cov = np.asarray(adjust, dtype=float).reshape(len(frame), -1)
        for j in range(cov.shape[1]):
            frame[f"x{j}"] = cov[:, j]
    frame = frame.dropna().reset_index(drop=True)
    if frame.empty:
        raise ValueError("funnel_table(): no episode has both an outcome and its covariates")
    overall = float(frame["y"].mean())
    target = overall if theta is None else float(theta)
    if adjust is not None:
        frame["p"] = expected_events(frame["y"], frame.filter(regex=r"^x\d+$").to_numpy())
    else:
        frame["p"] = target  # then adjusted_rate = O / n, the crude rate
    agg = (
        frame.groupby("unit", sort=True, observed=True)
        .agg(n=("y", "size"), observed=("y", "sum"), expected=("p", "sum"))
        .reset_index()
    )
    agg["observed"] = agg["observed"].astype(int)
    agg["rate"] = agg["observed"] / agg["n"]
    agg["adjusted_rate"] = np.clip(target * agg["observed"] / agg["expected"], 0, 1)
    y = agg["adjusted_rate"].to_numpy()
    if overdispersed and len(agg) > 2:
        od = overdispersion(y, agg["n"], target)
        lim = funnel_limits(agg["n"].to_numpy(), target, od["tau2"])
        limits = {name: lim[name].to_numpy() for name in PROBS}
        method = "normal approximation with additive overdispersion (tau^2)"
        phi, tau2 = od["phi"], od["tau2"]
    else:
        lim = binomial_funnel_limits(agg["n"].to_numpy(), target)
        limits = {name: lim[name].to_numpy() for name in PROBS}
        method = "exact binomial with interpolation"
        phi, tau2 = None, 0.0
    for name, values in limits.items():
        agg[name] = values
    agg["position"] = np.select(
        [y > agg["upper_998"], y > agg["upper_95"], y < agg["lower_998"], y < agg["lower_95"]],
        ["above 99.8%", "above 95%", "below 99.8%", "below 95%"],
        default="within",
    )
    agg.attrs.update(theta=target, phi=phi, tau2=tau2, method=method, adjusted=adjust is not None)
    return agg
