"""compare_groups against hand formulas (scipy distributions written out) and scipy/statsmodels."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats

from ipt_analytics.stats.groups import compare_groups

Z = stats.norm.ppf(0.975)


def _wilson(x, n, z=Z):
    # Wilson 1927, written out
    p = x / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    return centre - half, centre + half


def _holm(p):
    m, order = len(p), np.argsort(p, kind="stable")
    out, running = np.empty(m), 0.0
    for j, i in enumerate(order, start=1):
        running = max(running, min(1.0, (m - j + 1) * p[i]))
        out[i] = running
    return out


def _binary_rows_by_hand(a, m1, c, m2):
    """Every inference column of one binary contrast, group a/m1 vs reference c/m2."""
    p1, p2 = a / m1, c / m2
    rd = p1 - p2
    se_rd = np.sqrt(p1 * (1 - p1) / m1 + p2 * (1 - p2) / m2)  # Wald
    l1, u1 = _wilson(a, m1)
    l2, u2 = _wilson(c, m2)
    rd_lo = rd - np.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)  # Newcombe 1998 method 10
    rd_hi = rd + np.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    rr = p1 / p2
    se_rr = np.sqrt(1 / a - 1 / m1 + 1 / c - 1 / m2)  # Katz, log scale
    odds = (a * (m2 - c)) / ((m1 - a) * c)
    se_or = np.sqrt(1 / a + 1 / (m1 - a) + 1 / c + 1 / (m2 - c))  # Woolf, log scale
    two_sided = lambda z: 2 * (1 - stats.norm.cdf(abs(z)))  # noqa: E731
    return {
        "risk_difference": (rd, se_rd, rd / se_rd, two_sided(rd / se_rd), rd_lo, rd_hi),
        "risk_ratio": (rr, se_rr, np.log(rr) / se_rr, two_sided(np.log(rr) / se_rr),
                       rr * np.exp(-Z * se_rr), rr * np.exp(Z * se_rr)),
        "odds_ratio": (odds, se_or, np.log(odds) / se_or, two_sided(np.log(odds) / se_or),
                       odds * np.exp(-Z * se_or), odds * np.exp(Z * se_or)),
    }  # fmt: skip


def _pearson_by_hand(table):
    # Pearson chi-square without continuity correction: sum (O - E)^2 / E
    table = np.asarray(table, dtype=float)
    expected = table.sum(1, keepdims=True) * table.sum(0, keepdims=True) / table.sum()
    chi2 = ((table - expected) ** 2 / expected).sum()
    df = (table.shape[0] - 1) * (table.shape[1] - 1)
    return chi2, df, 1 - stats.chi2.cdf(chi2, df)


def _binary_frame(counts):
    rows = []
    for grp, (events, n) in counts.items():
        rows += [{"format": grp, "response": k < events} for k in range(n)]
    return pd.DataFrame(rows)


_COLS = ["estimate", "std_error", "statistic", "p_value", "conf_low", "conf_high"]


@pytest.mark.parametrize(
    "counts",
    [
        {"telephone": (30, 50), "individual": (20, 60)},  # 2x2
        {"telephone": (30, 50), "individual": (20, 60), "group": (25, 45)},  # 3 groups
    ],
    ids=["2x2", "three_groups"],
)
def test_binary_inference_columns_by_hand(counts):
    res = compare_groups(_binary_frame(counts), by="format", outcome="response",
                         reference="individual")  # fmt: skip
    c = res.contrasts.set_index(["term", "group"])
    c_ref, m_ref = counts["individual"]
    others = [g for g in sorted(counts) if g != "individual"]
    raw = {}
    for g in others:
        for term, want in _binary_rows_by_hand(*counts[g], c_ref, m_ref).items():
            got = c.loc[(term, g), _COLS].to_numpy(dtype=float)
            np.testing.assert_allclose(got, want, rtol=1e-9, err_msg=f"{term} {g}")
            raw.setdefault(term, []).append(want[3])
        assert np.isnan(c.loc[("risk_difference", g), "df"])
        rd, *_, rd_lo, rd_hi = _binary_rows_by_hand(*counts[g], c_ref, m_ref)["risk_difference"]
        nnt = c.loc[("nnt", g), ["estimate", "conf_low", "conf_high"]].to_numpy(dtype=float)
        np.testing.assert_allclose(nnt, [1 / rd, 1 / rd_hi, 1 / rd_lo], rtol=1e-9)  # RD > 0 here
    grp = res.groups.set_index("group")
    for g, (events, n) in counts.items():
        got = grp.loc[g, ["n", "events", "rate", "conf_low", "conf_high"]].to_numpy(dtype=float)
        np.testing.assert_allclose(got, [n, events, events / n, *_wilson(events, n)], rtol=1e-12)
    for term, p in raw.items():  # Holm within each term, across the contrasts
        got = [c.loc[(term, g), "p_adjusted"] for g in others]
        np.testing.assert_allclose(got, _holm(p), rtol=1e-9)
    table = [[counts[g][0], counts[g][1] - counts[g][0]] for g in sorted(counts)]
    chi2, df, p = _pearson_by_hand(table)
    omni = res.omnibus.iloc[0]
    assert omni["test"] == "chi_square"
    assert (omni["statistic"], omni["df"], omni["p_value"]) == pytest.approx((chi2, df, p))


def test_ancova_inference_columns_by_hand():
    # final ~ format + baseline by OLS, every column written out: b = (X'X)^-1 X'y,
    # s^2 = RSS / (n - p), Cov(b) = s^2 (X'X)^-1, t intervals and tests on n - p df
    rng = np.random.default_rng(3)
    fmt = np.repeat(["group", "individual", "telephone"], [9, 12, 7])
    baseline = rng.integers(10, 25, size=fmt.size).astype(float)
    shift = pd.Series(fmt).map({"group": -4.0, "individual": -6.0, "telephone": -5.0})
    final = baseline + shift.to_numpy() + rng.normal(0, 3, fmt.size)
    d = pd.DataFrame({"format": fmt, "baseline": baseline, "final": final})
    res = compare_groups(d, by="format", outcome="final", reference="individual")
    x = np.column_stack([np.ones(fmt.size), fmt == "group", fmt == "telephone", baseline])
    x = x.astype(float)
    xtx_inv = np.linalg.inv(x.T @ x)
    b = xtx_inv @ x.T @ final
    rss = float(((final - x @ b) ** 2).sum())
    df = fmt.size - 4
    cov = rss / df * xtx_inv
    t = stats.t.ppf(0.975, df)
    rows = {"group": [1, 1, 0, baseline.mean()], "individual": [1, 0, 0, baseline.mean()],
            "telephone": [1, 0, 1, baseline.mean()]}  # fmt: skip
    g = res.groups.set_index("group")
    for lev, row in rows.items():
        est, se = np.dot(row, b), np.sqrt(np.dot(row, cov @ row))
        got = g.loc[lev, ["estimate", "std_error", "conf_low", "conf_high"]].to_numpy(float)
        np.testing.assert_allclose(got, [est, se, est - t * se, est + t * se], rtol=1e-9)
    c = res.contrasts.set_index("contrast")
    raw = []
    for name, first, second in (("group - individual", "group", "individual"),
                                ("group - telephone", "group", "telephone"),
                                ("telephone - individual", "telephone", "individual")):  # fmt: skip
        lvec = np.subtract(rows[first], rows[second])
        est, se = lvec @ b, np.sqrt(lvec @ cov @ lvec)
        p = 2 * (1 - stats.t.cdf(abs(est / se), df))
        raw.append(p)
        got = c.loc[name, ["estimate", "std_error", "statistic", "df", "p_value",
                           "conf_low", "conf_high"]].to_numpy(float)  # fmt: skip
        np.testing.assert_allclose(
            got, [est, se, est / se, df, p, est - t * se, est + t * se], rtol=1e-9
        )
    np.testing.assert_allclose(c["p_adjusted"], _holm(np.array(raw)), rtol=1e-9)
    # F test of the two format terms: ((RSS_0 - RSS) / 2) / (RSS / df)
    x0 = x[:, [0, 3]]
    b0 = np.linalg.lstsq(x0, final, rcond=None)[0]
    f = ((((final - x0 @ b0) ** 2).sum() - rss) / 2) / (rss / df)
    omni = res.omnibus.iloc[0]
    assert (omni["statistic"], omni["df"], omni["p_value"]) == pytest.approx(
        (f, 2.0, 1 - stats.f.cdf(f, 2, df))
    )


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
        assert (g.loc[lev, "conf_low"], g.loc[lev, "conf_high"]) == pytest.approx(_wilson(ev, n))
    assert res.meta["reference"] == "individual"  # the largest group


def test_binary_contrasts_holm_within_term(episodes):
    res = compare_groups(episodes, by="format", outcome="response")
    c = res.contrasts
    assert set(c["term"]) == {"risk_difference", "risk_ratio", "odds_ratio", "nnt"}
    orr = c[c["term"] == "odds_ratio"]
    np.testing.assert_allclose(orr["p_adjusted"], _holm(orr["p_value"].tolist()))
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
