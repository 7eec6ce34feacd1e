"""compare_groups against statsmodels / scipy directly and hand formulas."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint

from ipt_analytics.stats.groups import compare_groups


@pytest.fixture
def episodes():
    rng = np.random.default_rng(7)
    n = 240
    fmt = rng.choice(["individual", "group", "telephone"], size=n, p=[0.5, 0.3, 0.2])
    baseline = rng.integers(10, 25, size=n).astype(float)
    eff = pd.Series(fmt).map({"individual": -6.0, "group": -4.0, "telephone": -5.0}).to_numpy()
    final = np.clip(baseline + eff + rng.normal(0, 4, n) + 0.2 * (baseline - 17), 0, 27)
    return pd.DataFrame(
        {
            "format": fmt,
            "baseline": baseline,
            "final": final,
            "change": final - baseline,
            "response": pd.array(final <= baseline / 2, dtype="boolean"),
            "age": rng.normal(40, 10, n),
        }
    )


def test_binary_groups_wilson_and_counts(episodes):
    res = compare_groups(episodes, by="format", outcome="response")
    g = res.groups.set_index("group")
    for lev, part in episodes.groupby("format"):
        ev, n = int(part["response"].sum()), len(part)
        assert (g.loc[lev, "events"], g.loc[lev, "n"]) == (ev, n)
        assert g.loc[lev, "rate"] == ev / n
        ref = proportion_confint(ev, n, method="wilson")
        assert (g.loc[lev, "conf_low"], g.loc[lev, "conf_high"]) == pytest.approx(ref)
    assert res.meta["reference"] == "individual"  # the largest group


def test_binary_contrasts_holm_within_term(episodes):
    res = compare_groups(episodes, by="format", outcome="response")
    c = res.contrasts
    assert set(c["term"]) == {"risk_difference", "risk_ratio", "odds_ratio", "nnt"}
    orr = c[c["term"] == "odds_ratio"]
    np.testing.assert_allclose(orr["p_adjusted"], multipletests(orr["p_value"], method="holm")[1])
    rd = c[c["term"] == "risk_difference"].set_index("group")
    nnt = c[c["term"] == "nnt"].set_index("group")
    for grp in rd.index:
        assert nnt.loc[grp, "estimate"] == pytest.approx(1 / rd.loc[grp, "estimate"])
    none = compare_groups(episodes, by="format", outcome="response", p_adjust="none")
    np.testing.assert_allclose(
        none.contrasts["p_adjusted"].dropna(), none.contrasts["p_value"].dropna()
    )


def test_omnibus_chi_square_and_fisher(episodes):
    res = compare_groups(episodes, by="format", outcome="response")
    tab = pd.crosstab(episodes["format"], episodes["response"]).to_numpy()
    chi2, p, dof, _ = stats.chi2_contingency(tab, correction=False)
    row = res.omnibus.iloc[0]
    assert (row["test"], row["statistic"], row["p_value"], row["df"]) == (
        "chi_square",
        pytest.approx(chi2),
        pytest.approx(p),
        dof,
    )
    small = pd.DataFrame(
        {"format": ["a"] * 6 + ["b"] * 6, "response": [True] * 5 + [False] + [True] + [False] * 5}
    )
    r2 = compare_groups(small, by="format", outcome="response")
    assert r2.omnibus.iloc[0]["test"] == "fisher_exact"
    assert r2.omnibus.iloc[0]["p_value"] == pytest.approx(
        stats.fisher_exact([[1, 5], [5, 1]]).pvalue
    )


def test_logistic_adjusted_matches_statsmodels_logit(episodes):
    res = compare_groups(
        episodes, by="format", outcome="response", adjust_for=["age"], reference="individual"
    )
    x = pd.DataFrame(
        {
            "const": 1.0,
            "g": (episodes["format"] == "group").astype(float),
            "t": (episodes["format"] == "telephone").astype(float),
            "age": episodes["age"],
        }
    )
    ref = sm.Logit(episodes["response"].astype(float).to_numpy(), x).fit(disp=0)
    adj = res.adjusted.set_index("term")
    assert adj.loc["format[group]", "estimate"] == pytest.approx(np.exp(ref.params["g"]), rel=1e-6)
    assert adj.loc["format[telephone]", "std_error"] == pytest.approx(ref.bse["t"], rel=1e-5)
    ci = np.exp(ref.conf_int().loc["age"]).to_numpy()
    assert (adj.loc["age", "conf_low"], adj.loc["age", "conf_high"]) == pytest.approx(ci, rel=1e-5)


def test_ancova_on_final_adjusts_for_baseline(episodes):
    res = compare_groups(episodes, by="format", outcome="final")
    assert res.meta["adjust_for"] == ["baseline"]
    d = episodes
    x = np.column_stack(
        [np.ones(len(d)), d["format"] == "group", d["format"] == "telephone", d["baseline"]]
    ).astype(float)
    beta, *_ = np.linalg.lstsq(x, d["final"].to_numpy(), rcond=None)
    g = res.groups.set_index("group")
    mb = d["baseline"].mean()
    assert g.loc["individual", "estimate"] == pytest.approx(beta[0] + beta[3] * mb)
    assert g.loc["group", "estimate"] == pytest.approx(beta[0] + beta[1] + beta[3] * mb)
    c = res.contrasts.set_index("contrast")
    assert c.loc["group - individual", "estimate"] == pytest.approx(beta[1])
    assert c.loc["group - telephone", "estimate"] == pytest.approx(beta[1] - beta[2])
    fit = sm.OLS(d["final"].to_numpy(), x).fit()
    assert c.loc["group - individual", "std_error"] == pytest.approx(fit.bse[1])
    assert len(c) == 3
    # change adjusted for baseline gives the same contrasts as final (ANCOVA identity)
    ch = compare_groups(episodes, by="format", outcome="change").contrasts
    np.testing.assert_allclose(ch["estimate"], res.contrasts["estimate"], rtol=1e-9)


def test_result_surface_and_errors(episodes):
    res = compare_groups(episodes, by="format", outcome="response")
    assert "Contrasts" in res.summary() and "<table" in res._repr_html_()
    assert "GroupComparison" in repr(res)
    import matplotlib

    matplotlib.use("Agg")
    ax = res.plot()
    assert len(ax.get_yticklabels()) == 2
    with pytest.raises(ValueError, match="reference"):
        compare_groups(episodes, by="format", outcome="response", reference="video")
    with pytest.raises(ValueError, match="not in the outcomes"):
        compare_groups(episodes, by="fmt", outcome="response")


def test_missing_outcomes_are_left_out_with_a_warning(episodes):
    e = episodes.copy()
    e.loc[:9, "response"] = pd.NA
    with pytest.warns(UserWarning, match="10 of 240"):
        res = compare_groups(e, by="format", outcome="response")
    assert res.meta["n"] == 230


def test_ancova_adjusted_means_use_whole_sample_covariates(episodes):
    # adjusted mean of group g = mean over ALL analysed episodes of the prediction with the
    # group set to g (numeric covariates at the pooled mean, a categorical covariate at its
    # pooled proportions), not at each group's own covariate means
    e = episodes.assign(site=np.where(episodes["age"] > 45, "north", "south"))
    res = compare_groups(e, by="format", outcome="final", adjust_for=["site"])
    assert res.meta["adjust_for"] == ["baseline", "site"]

    def design(fmt, d=e):
        return np.column_stack(
            [
                np.ones(len(d)),
                fmt == "group",
                fmt == "telephone",
                d["baseline"],
                d["site"] == "south",
            ]
        ).astype(float)

    fit = sm.OLS(e["final"].to_numpy(), design(e["format"].to_numpy())).fit()
    g = res.groups.set_index("group")
    for lev in ("group", "individual", "telephone"):
        counterfactual = fit.predict(design(np.full(len(e), lev))).mean()
        assert g.loc[lev, "estimate"] == pytest.approx(counterfactual, rel=1e-10)
        own = e[e["format"] == lev]
        at_own_means = fit.predict(design(own["format"].to_numpy(), own)).mean()
        assert g.loc[lev, "estimate"] != pytest.approx(at_own_means, rel=1e-6)


def test_nnt_row_for_a_harmful_outcome_and_an_rd_crossing_zero():
    # dropout 3/20 (telephone) vs 4/20 (individual): RD -0.05, fewer harmful events = benefit
    o = pd.DataFrame(
        {
            "format": ["telephone"] * 20 + ["individual"] * 20,
            "dropout": [True] * 3 + [False] * 17 + [True] * 4 + [False] * 16,
        }
    )
    res = compare_groups(o, by="format", outcome="dropout", reference="individual")
    c = res.contrasts.set_index("term")
    rd = c.loc["risk_difference"]
    assert rd["estimate"] == pytest.approx(-0.05)
    assert rd["conf_low"] < 0 < rd["conf_high"]
    nnt = c.loc["nnt"]
    assert nnt["estimate"] == pytest.approx(20.0)  # NNTB 20: 1 / 0.05 fewer dropouts
    # interval: NNTH 1/conf_high(RD) .. infinity .. NNTB 1/|conf_low(RD)|
    assert nnt["conf_low"] == pytest.approx(-1 / rd["conf_high"])
    assert nnt["conf_high"] == pytest.approx(1 / -rd["conf_low"])
    assert "includes 0" in nnt["note"]
