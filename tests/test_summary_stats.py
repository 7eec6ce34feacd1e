"""Summary-data statistics against independent references (statsmodels, hand formulas)."""

import math

import numpy as np
import pytest
from scipy import special
from statsmodels.stats.contingency_tables import Table2x2
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint

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


@pytest.mark.parametrize("a,n1,c,n2", [(11, 104, 35, 100), (3, 20, 9, 22), (40, 50, 10, 60)])
def test_or_rr_match_statsmodels_table2x2(a, n1, c, n2):
    t = Table2x2(np.array([[a, n1 - a], [c, n2 - c]]))
    o = odds_ratio(a, n1, c, n2)
    assert o.estimate == pytest.approx(t.oddsratio, rel=1e-12)
    assert (o.conf_low, o.conf_high) == pytest.approx(t.oddsratio_confint(), rel=1e-9)
    assert o.std_error == pytest.approx(t.log_oddsratio_se, rel=1e-12)
    r = risk_ratio(a, n1, c, n2)
    assert r.estimate == pytest.approx(t.riskratio, rel=1e-12)
    assert (r.conf_low, r.conf_high) == pytest.approx(t.riskratio_confint(), rel=1e-9)


def test_zero_cell_uses_haldane_correction():
    o = odds_ratio(0, 10, 5, 10)
    assert o.estimate == pytest.approx((0.5 * 5.5) / (10.5 * 5.5))
    assert math.isinf(odds_ratio(0, 10, 5, 10, zero_correction=0).std_error)


def test_newcombe_reproduces_newcombe_1998_example():
    # Newcombe 1998 Stat Med 17:873, table II example (56/70 vs 48/80), method 10
    est, lo, hi = newcombe_rd_interval(56, 70, 48, 80)
    assert (round(lo, 4), round(hi, 4)) == (0.0524, 0.3339)
    rd = risk_difference(56, 70, 48, 80, method="wald")
    se = math.sqrt(0.8 * 0.2 / 70 + 0.6 * 0.4 / 80)
    assert rd.std_error == pytest.approx(se)
    assert rd.conf_low == pytest.approx(0.2 - 1.959963984540054 * se)


@pytest.mark.parametrize("x,n", [(0, 10), (1, 10), (11, 104), (50, 50), (7, 33)])
def test_wilson_matches_statsmodels(x, n):
    lo, hi = wilson_interval(x, n, conf_level=0.9)
    ref = proportion_confint(x, n, alpha=0.1, method="wilson")
    assert (lo, hi) == pytest.approx(ref, abs=1e-12)


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


@pytest.mark.parametrize("method,sm_method", [("holm", "holm"), ("bh", "fdr_bh")])
def test_p_adjust_matches_statsmodels(method, sm_method):
    rng = np.random.default_rng(20240601)
    for _ in range(20):
        p = rng.uniform(0, 0.2, size=rng.integers(1, 12))
        ref = multipletests(p, method=sm_method)[1]
        np.testing.assert_allclose(p_adjust(p, method=method), ref, rtol=1e-12)


def test_p_adjust_keeps_nan_out_of_the_family():
    out = p_adjust([0.01, np.nan, 0.04], method="holm")
    assert np.isnan(out[1])
    np.testing.assert_allclose(out[[0, 2]], multipletests([0.01, 0.04], method="holm")[1])
    with pytest.raises(ValueError, match="method"):
        p_adjust([0.1], method="bonferonni")


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
