"""Funnel plot limits (ipt_analytics.stats.funnel) against exact and hand computation.

References: Spiegelhalter DJ, Stat Med 2005;24:1185-1202, Appendix A.1.1 (exact binomial
limits with interpolation), as written out by R. Wicklin (The DO Loop, SAS blog, 2011-11-23);
overdispersion as in FunnelPlotR R/od_adjustment.R. The expected values are recomputed here
with exact rational arithmetic (math.comb and fractions), not with scipy.
"""

from __future__ import annotations

from fractions import Fraction
from math import comb

import numpy as np
import pytest

from ipt_analytics.stats.funnel import (
    binomial_funnel_limits,
    expected_events,
    funnel_table,
    overdispersion,
)


def _exact_limit(n: int, theta: Fraction, p: Fraction) -> float:
    def cdf(r):
        return sum(comb(n, k) * theta**k * (1 - theta) ** (n - k) for k in range(r + 1))

    r = 0
    while cdf(r) < p:
        r += 1
    alpha = (cdf(r) - p) / (cdf(r) - cdf(r - 1))
    return float((r - alpha) / n)


@pytest.mark.parametrize("n", [5, 20, 37, 150])
@pytest.mark.parametrize("theta", [Fraction(1, 2), Fraction(3, 10), Fraction(1, 20)])
def test_exact_interpolated_limits(n, theta):
    got = binomial_funnel_limits([n], float(theta)).iloc[0]
    for name, p in [
        ("lower_998", Fraction(1, 1000)),
        ("lower_95", Fraction(25, 1000)),
        ("upper_95", Fraction(975, 1000)),
        ("upper_998", Fraction(999, 1000)),
    ]:
        expected = min(max(_exact_limit(n, theta, p), 0.0), 1.0)
        assert got[name] == pytest.approx(expected, abs=1e-9), (name, n, theta)


def test_limits_narrow_with_size_and_approach_normal():
    lim = binomial_funnel_limits([50, 200, 5000], 0.4)
    width = lim["upper_95"] - lim["lower_95"]
    assert width.is_monotonic_decreasing
    # for large n the exact limit approaches theta + 1.96 sqrt(theta(1-theta)/n)
    assert lim["upper_95"].iloc[-1] == pytest.approx(
        0.4 + 1.959964 * np.sqrt(0.24 / 5000), abs=2e-4
    )


def test_overdispersion_hand_example():
    # 5 units of 100 around 0.5: z = -4, -2, 0, 2, 6; 10th/90th percentiles (type 7) are
    # -3.2 and 4.4; winsorised z^2 = 10.24, 4, 0, 4, 19.36 -> phi = 37.6 / 5 = 7.52;
    # w = 400 each: tau2 = (5 * 7.52 - 4) / (2000 - 400) = 33.6 / 1600 = 0.021
    od = overdispersion([0.3, 0.4, 0.5, 0.6, 0.8], [100] * 5, 0.5)
    assert od["phi"] == pytest.approx(7.52)
    assert od["tau2"] == pytest.approx(0.021)
    # no overdispersion when I phi <= I - 1
    calm = overdispersion([0.5, 0.51, 0.49], [100] * 3, 0.5)
    assert calm["tau2"] == 0.0


def test_funnel_table_positions_and_overdispersed_limits():
    units = ["a"] * 100 + ["b"] * 100 + ["c"] * 100 + ["d"] * 100 + ["e"] * 100
    rates = [0.3, 0.4, 0.5, 0.6, 0.8]
    y = [int(i < r * 100) for r in rates for i in range(100)]
    t = funnel_table(units, y, theta=0.5)
    assert t["observed"].tolist() == [30, 40, 50, 60, 80]
    # n = 100, theta = 0.5: limits 0.3412, 0.3968, 0.5932, 0.6488 (exact, see funnel.py);
    # the interpolated limits are not symmetric about theta, so 0.4 is within and 0.6 above
    assert t["position"].tolist() == ["below 99.8%", "within", "within", "above 95%", "above 99.8%"]
    od = funnel_table(units, y, theta=0.5, overdispersed=True)
    assert od.attrs["tau2"] == pytest.approx(0.021)
    half = 1.959964 * np.sqrt(0.0025 + 0.021)
    assert od["upper_95"].iloc[0] == pytest.approx(0.5 + half, abs=1e-6)
    # half-width 1.96 * sqrt(0.0235) = 0.3005: even 0.8 is within once tau2 is added
    assert od["position"].tolist() == ["within"] * 5


def test_indirect_standardisation_known_truth():
    # Two units with the same severity-outcome relation but different case mix: unit "hard"
    # treats severe cases only. Unadjusted, "hard" looks worse; adjusted for baseline severity
    # both are on target (simulation with known truth: no unit effect).
    rng = np.random.default_rng(7)
    n = 4000
    unit = np.where(np.arange(n) < n // 2, "easy", "hard")
    baseline = np.where(unit == "easy", rng.uniform(10, 17, n), rng.uniform(17, 27, n))
    p = 1 / (1 + np.exp(-(4.0 - 0.25 * baseline)))
    y = rng.uniform(size=n) < p
    e = expected_events(y.astype(int), baseline)
    assert e.sum() == pytest.approx(y.sum(), rel=1e-8)  # logistic ML score equation
    raw = funnel_table(unit, y.astype(int))
    adj = funnel_table(unit, y.astype(int), adjust=baseline)
    assert raw.set_index("unit").loc["hard", "position"] == "below 99.8%"
    ratio = adj["observed"] / adj["expected"]
    assert np.allclose(ratio, 1.0, atol=0.08)
    assert set(adj["position"]) == {"within"}


def test_bad_theta():
    with pytest.raises(ValueError, match="strictly"):
        binomial_funnel_limits([10], 1.0)
