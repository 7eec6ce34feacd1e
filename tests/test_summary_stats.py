"""Summary-data statistics against published worked examples and hand formulas."""

import math

import numpy as np
import pytest
from scipy import special, stats
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

from ipt_analytics.errors import DataWarning
from ipt_analytics.stats.intervals import newcombe_rd_interval, wilson_interval
from ipt_analytics.stats.multiplicity import p_adjust
from ipt_analytics.stats.summary_stats import (
    becker_g,
    gma_d,
    morris_dppc2,
    nnt_from_d,
    nnt_from_rd,
    odds_ratio,
    prepost_correlation,
    prepost_effect_sizes,
    risk_difference,
    risk_ratio,
)

Z95 = 1.959963984540054


@pytest.mark.parametrize("a,n1,c,n2", [(11, 104, 35, 100), (3, 20, 9, 22), (40, 50, 10, 60)])
def test_or_rr_woolf_and_katz_by_hand(a, n1, c, n2):
    b, d = n1 - a, n2 - c
    se_or = math.sqrt(1 / a + 1 / b + 1 / c + 1 / d)  # Woolf 1955
    o = odds_ratio(a, n1, c, n2)
    assert o.estimate == pytest.approx(a * d / (b * c), rel=1e-12)
    assert o.std_error == pytest.approx(se_or, rel=1e-12)
    assert o.conf_low == pytest.approx(a * d / (b * c) * math.exp(-Z95 * se_or), rel=1e-9)
    assert o.conf_high == pytest.approx(a * d / (b * c) * math.exp(Z95 * se_or), rel=1e-9)
    rr = (a / n1) / (c / n2)
    se_rr = math.sqrt(1 / a - 1 / n1 + 1 / c - 1 / n2)  # Katz 1978
    r = risk_ratio(a, n1, c, n2)
    assert r.estimate == pytest.approx(rr, rel=1e-12)
    assert r.std_error == pytest.approx(se_rr, rel=1e-12)
    assert (r.conf_low, r.conf_high) == pytest.approx(
        (rr * math.exp(-Z95 * se_rr), rr * math.exp(Z95 * se_rr)), rel=1e-9
    )


def test_zero_cell_uses_haldane_correction():
    o = odds_ratio(0, 10, 5, 10)
    assert o.estimate == pytest.approx((0.5 * 5.5) / (10.5 * 5.5))
    assert math.isinf(odds_ratio(0, 10, 5, 10, zero_correction=0).std_error)


# Newcombe RG (1998b) Stat Med 17:873-890, Table II, method 10 (hybrid score), 95% limits as
# printed (4 decimals): examples (a)-(h)
NEWCOMBE_1998_TABLE_II = [
    (56, 70, 48, 80, 0.0524, 0.3339),
    (9, 10, 3, 10, 0.1705, 0.8090),
    (6, 7, 2, 7, 0.0582, 0.8062),
    (5, 56, 0, 29, -0.0381, 0.1926),
    (0, 10, 0, 20, -0.1611, 0.2775),
    (0, 10, 0, 10, -0.2775, 0.2775),
    (10, 10, 0, 20, 0.6791, 1.0000),
    (10, 10, 0, 10, 0.6075, 1.0000),
]


@pytest.mark.parametrize("a,m,c,n,low,high", NEWCOMBE_1998_TABLE_II)
def test_newcombe_reproduces_newcombe_1998_table_ii(a, m, c, n, low, high):
    est, lo, hi = newcombe_rd_interval(a, m, c, n)
    assert est == pytest.approx(a / m - c / n)
    assert (round(lo, 4), round(hi, 4)) == (low, high)
    rd = risk_difference(a, m, c, n)
    assert (round(rd.conf_low, 4), round(rd.conf_high, 4)) == (low, high)


def test_newcombe_1998_example_a_wald_columns_by_hand():
    rd = risk_difference(56, 70, 48, 80, method="wald")
    se = math.sqrt(0.8 * 0.2 / 70 + 0.6 * 0.4 / 80)
    assert rd.estimate == pytest.approx(0.2)
    assert rd.std_error == pytest.approx(se)
    assert rd.conf_low == pytest.approx(0.2 - Z95 * se)


def test_newcombe_limit_is_exactly_one_where_the_library_misses_it():
    # 10/10 vs 0/20 (Table II (g)): d = 1, so the upper limit is exactly 1; statsmodels
    # returns a value ~1e-16 away from 1 for some sizes (shown here), ours is exact
    sizes = [(k, k, 0, j) for k in range(1, 40) for j in (k, 2 * k)]
    lib = [confint_proportions_2indep(*s, method="newcomb", compare="diff")[1] for s in sizes]
    assert any(v != 1.0 for v in lib)
    assert all(newcombe_rd_interval(*s)[2] == 1.0 for s in sizes)
    assert all(newcombe_rd_interval(0, s[3], s[0], s[1])[1] == -1.0 for s in sizes)


# Newcombe RG (1998a) Stat Med 17:857-872, Table I, method 3 (Wilson score, no continuity
# correction), 95% limits as printed
NEWCOMBE_1998_SINGLE = [(81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605),
                        (0, 20, 0.0000, 0.1611), (1, 29, 0.0061, 0.1718)]  # fmt: skip


@pytest.mark.parametrize("x,n,low,high", NEWCOMBE_1998_SINGLE)
def test_wilson_reproduces_newcombe_1998_single_proportion_examples(x, n, low, high):
    lo, hi = wilson_interval(x, n)
    assert (round(lo, 4), round(hi, 4)) == (low, high)


@pytest.mark.parametrize("x,n", [(1, 10), (11, 104), (7, 33)])
def test_wilson_at_90_percent_by_hand(x, n):
    # Wilson 1927: (p + z^2/2n +- z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n)
    z = stats.norm.ppf(0.95)
    p = x / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    assert wilson_interval(x, n, conf_level=0.9) == pytest.approx((centre - half, centre + half))


def test_wilson_limits_exactly_0_and_1_where_the_library_misses_them():
    n = np.arange(1, 300)
    lib_lo = proportion_confint(0 * n, n, method="wilson")[0]
    lib_hi = proportion_confint(n, n, method="wilson")[1]
    assert (lib_lo != 0).any() and (lib_hi != 1).any()  # e.g. 0/20, 29/29: ~1e-16 off
    assert (wilson_interval(0 * n, n)[0] == 0).all()
    assert (wilson_interval(n, n)[1] == 1).all()
    lo, hi = wilson_interval(np.array([0, 3]), np.array([0, 10]))
    assert np.isnan(lo[0]) and np.isnan(hi[0]) and 0 < lo[1] < hi[1] < 1


def test_nnt_from_rd_conventions():
    n = nnt_from_rd(0.2, 0.1, 0.3)
    assert n.estimate == pytest.approx(5.0)
    assert (n.conf_low, n.conf_high) == pytest.approx((1 / 0.3, 10.0))
    assert not n.crosses_null
    cross = nnt_from_rd(0.1, -0.05, 0.2)
    assert cross.crosses_null
    assert (cross.conf_low, cross.conf_high) == pytest.approx((-20.0, 5.0))
    harm = nnt_from_rd(0.2, 0.1, 0.3, beneficial=False)
    assert harm.estimate == pytest.approx(-5.0)
    assert (harm.conf_low, harm.conf_high) == pytest.approx((-10.0, -1 / 0.3))


def test_nnt_from_d_kraemer_kupfer_and_trap_values():
    assert round(nnt_from_d(0.63), 2) == 2.91
    # docs/definitions.md, "NNT from Cohen's d": published 45.45 and 9.43 came from unrounded d
    assert nnt_from_d(0.04) == pytest.approx(44.3, abs=0.05)
    assert nnt_from_d(-0.19) == pytest.approx(-9.36, abs=0.01)


def test_becker_g_exact_correction():
    m = 29
    c = math.gamma(m / 2) / (math.sqrt(m / 2) * math.gamma((m - 1) / 2))
    assert becker_g(20.0, 10.0, 5.0, 30) == pytest.approx(c * -2.0)
    # the exact c(m) is close to Hedges' approximation 1 - 3 / (4m - 1)
    assert c == pytest.approx(1 - 3 / (4 * m - 1), abs=1e-3)
    assert special.gamma(2) == 1  # sanity of the reference gamma


def test_prepost_effect_sizes_by_hand():
    t = prepost_effect_sizes(mean_pre=18, mean_post=12, sd_pre=4, sd_post=6, n=25, r=0.6)
    sd_change = math.sqrt(16 + 36 - 2 * 0.6 * 24)
    got = dict(zip(t["term"], t["estimate"], strict=True))
    assert got["d_z"] == pytest.approx(-6 / sd_change)
    assert got["d_rm"] == pytest.approx(-6 / sd_change * math.sqrt(0.8))
    assert got["d_av"] == pytest.approx(-6 / 5)
    t2 = prepost_effect_sizes(
        mean_pre=18, mean_post=12, sd_pre=4, sd_post=6, n=25, sd_change=sd_change
    )
    assert t2.attrs["r"] == pytest.approx(0.6)


def test_prepost_correlation_clamps_and_warns():
    assert prepost_correlation(4.0, 6.0, math.sqrt(16 + 36 - 28.8)) == pytest.approx(0.6)
    with pytest.warns(DataWarning, match="outside"):
        assert prepost_correlation(5.0, 3.0, 1.0) == 1.0
    with pytest.warns(DataWarning):
        assert prepost_correlation(1.0, 1.0, 2.5) == -1.0


def test_morris_dppc2_by_hand():
    d = morris_dppc2(
        mean_pre_t=30,
        mean_post_t=20,
        sd_pre_t=6,
        n_t=15,
        mean_pre_c=29,
        mean_post_c=26,
        sd_pre_c=8,
        n_c=12,
    )
    sd_pool = math.sqrt((14 * 36 + 11 * 64) / 25)
    assert d == pytest.approx((1 - 3 / 99) * (-10 - -3) / sd_pool)


def test_gma_d():
    e = gma_d(-0.25, 16, 5.0, slope_se=0.05)
    assert e.estimate == pytest.approx(-0.8)
    assert e.std_error == pytest.approx(0.16)
    assert e.conf_low == pytest.approx(-0.8 - 1.959963984540054 * 0.16)
    with pytest.raises(ValueError, match="sd_raw"):
        gma_d(1, 1, 0)


def _holm_by_hand(p):
    # Holm 1979: sort ascending, multiply the j-th smallest by (m - j + 1), running maximum
    m, order = len(p), sorted(range(len(p)), key=lambda i: p[i])
    out, running = [0.0] * m, 0.0
    for j, i in enumerate(order, start=1):
        running = max(running, min(1.0, (m - j + 1) * p[i]))
        out[i] = running
    return out


def _bh_by_hand(p):
    # Benjamini-Hochberg 1995: m p_(j) / j, running minimum from the largest p down
    m, order = len(p), sorted(range(len(p)), key=lambda i: p[i])
    out, running = [0.0] * m, 1.0
    for j in range(m, 0, -1):
        i = order[j - 1]
        running = min(running, m * p[i] / j)
        out[i] = running
    return out


def test_p_adjust_by_hand():
    # R: p.adjust(c(0.01, 0.04, 0.03, 0.005), "holm") = 0.03 0.06 0.06 0.02;
    #    "BH" = 0.02 0.04 0.04 0.02 (definitions written out above)
    p = [0.01, 0.04, 0.03, 0.005]
    np.testing.assert_allclose(p_adjust(p, method="holm"), [0.03, 0.06, 0.06, 0.02])
    np.testing.assert_allclose(p_adjust(p, method="bh"), [0.02, 0.04, 0.04, 0.02])
    rng = np.random.default_rng(20240601)
    for _ in range(20):
        q = rng.uniform(0, 0.3, size=rng.integers(1, 12)).tolist()
        np.testing.assert_allclose(p_adjust(q, method="holm"), _holm_by_hand(q), rtol=1e-12)
        np.testing.assert_allclose(p_adjust(q, method="bh"), _bh_by_hand(q), rtol=1e-12)
    np.testing.assert_allclose(p_adjust(p, method="none"), p)


def test_p_adjust_keeps_nan_out_of_the_family():
    out = p_adjust([0.01, np.nan, 0.04], method="holm")
    assert np.isnan(out[1])
    np.testing.assert_allclose(out[[0, 2]], [0.02, 0.04])  # family of 2, not 3
    out = p_adjust([np.nan, 0.02, 0.01], method="bh")
    np.testing.assert_allclose(out, [np.nan, 0.02, 0.02])
    assert np.isnan(p_adjust([np.nan], method="holm")).all()
    with pytest.raises(ValueError, match="method"):
        p_adjust([0.1], method="bonferonni")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        p_adjust([1.5], method="holm")


def test_nnt_when_an_rd_bound_is_exactly_zero():
    # RD in [-0.2, 0]: 1/RD covers (-inf, -5], i.e. NNTH 5 to NNTH infinity -- not [-5, +inf]
    from ipt_analytics.stats.summary_stats import nnt_from_rd

    harm = nnt_from_rd(-0.1, -0.2, 0.0)
    assert (harm.estimate, harm.conf_low, harm.conf_high) == (-10.0, -math.inf, -5.0)
    assert not harm.crosses_null
    benefit = nnt_from_rd(0.1, 0.0, 0.2)
    assert (benefit.conf_low, benefit.conf_high) == (5.0, math.inf)
    # harmful outcome coding flips the sign: RD of dropout +0.1 in [0, 0.2] is harm
    flipped = nnt_from_rd(0.1, 0.0, 0.2, beneficial=False)
    assert (flipped.conf_low, flipped.conf_high) == (-math.inf, -5.0)
