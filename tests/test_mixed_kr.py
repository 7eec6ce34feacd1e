"""Kenward-Roger df and adjusted covariance against pbkrtest / lmerTest / emmeans.

R side: tests/reference/mixed_kr.R -> tests/reference/mixed_kr.csv (lme4 1.1-31, lmerTest
3.1-3, pbkrtest 0.5.2, emmeans 1.8.4-1; versions in mixed_kr_versions.txt). Tolerances of
the project: df rtol 1e-2, SEs and covariances rtol 1e-3 (achieved values are far tighter,
see the closing comments of each test).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from ipt_analytics.models.emmeans import contrasts, marginal_means, trends
from ipt_analytics.models.mixed import fit_mixed
from ipt_analytics.models.mixed.kenward_roger import (
    MAX_RE_COLUMNS,
    cov_from_theta,
    kenward_roger,
)
from ipt_analytics.models.trajectory import fit_trajectory

REF = Path(__file__).parent / "reference"
DATA = REF / "data"
KR = "kenward-roger"


@pytest.fixture(scope="module")
def ref() -> pd.DataFrame:
    return pd.read_csv(REF / "mixed_kr.csv", keep_default_na=False, dtype={"value": str})


def rows(ref, model, kind) -> pd.DataFrame:
    out = ref[(ref["model"] == model) & (ref["kind"] == kind)].copy()
    assert len(out), f"no reference rows {model}/{kind}"
    out["value"] = out["value"].astype(float)
    return out


def series(ref, model, kind, rename) -> pd.Series:
    r = rows(ref, model, kind)
    return pd.Series(r["value"].to_numpy(), index=[rename(n) for n in r["name1"]])


def matrix(ref, model, kind, rename) -> pd.DataFrame:
    r = rows(ref, model, kind)
    names = list(dict.fromkeys(r["name1"]))
    mat = r.pivot(index="name1", columns="name2", values="value").loc[names, names]
    new = [rename(n) for n in names]
    return pd.DataFrame(mat.to_numpy(), index=new, columns=new)


def fit(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every reference fit here is clean
        return fit_mixed(*args, **kwargs)


# -- data, as in mixed_kr.R -----------------------------------------------------------------
def sleep8(balanced: bool) -> pd.DataFrame:
    sl = pd.read_csv(DATA / "sleepstudy.csv")
    s8 = sl[sl["Subject"].isin([308, 309, 310, 330, 331, 332, 333, 334])]
    if balanced:
        return s8
    s, d = s8["Subject"], s8["Days"]
    drop = (
        ((s == 308) & (d >= 7)) | ((s == 309) & (d >= 5)) | ((s == 330) & (d <= 1))
        | ((s == 333) & (d == 9)) | ((s == 334) & d.isin([3, 4, 8]))
    )  # fmt: skip
    return s8[~drop]


def btheb_long() -> pd.DataFrame:
    raw = pd.read_csv(DATA / "btheb.csv")
    raw["subject"] = np.arange(1, len(raw) + 1)
    long = raw.melt(id_vars=["subject", "drug", "length", "treatment", "bdi.pre"],
                    value_vars=["bdi.2m", "bdi.3m", "bdi.5m", "bdi.8m"], var_name="visit",
                    value_name="bdi")  # fmt: skip
    long["time"] = long["visit"].map({"bdi.2m": 2, "bdi.3m": 3, "bdi.5m": 5, "bdi.8m": 8})
    long = long.rename(columns={"bdi.pre": "bdi_pre"}).dropna(subset=["bdi"])
    for col, levels in (("treatment", ["TAU", "BtheB"]), ("drug", ["No", "Yes"]),
                        ("length", ["<6m", ">6m"])):  # fmt: skip
        long[col] = pd.Categorical(long[col], categories=levels)
    return long.reset_index(drop=True)


def nested8() -> pd.DataFrame:
    ne = pd.read_csv(DATA / "nested.csv")
    return ne[ne["therapist"].isin([f"t{i:02d}" for i in range(1, 9)])]


def traj40_long() -> pd.DataFrame:
    d = pd.read_csv(REF / "sample_phq9_long.csv").assign(instrument="phq9")
    keep = sorted(d["episode_id"].unique())[:40]
    return d[d["episode_id"].isin(keep)].reset_index(drop=True)


BTHEB_NAMES = {"(Intercept)": "Intercept", "bdi.pre": "bdi_pre", "time": "time",
               "treatmentBtheB": "treatment[T.BtheB]", "drugYes": "drug[T.Yes]",
               "length>6m": "length[T.>6m]"}  # fmt: skip


def traj_name(name: str) -> str:
    name = name.replace("(Intercept)", "Intercept").replace("week", "time")
    for level in ("group", "telehealth", "telephone", "internet"):
        name = name.replace(f"format{level}", f"format[T.{level}]")
    return name


def plain(name: str) -> str:
    return name.replace("(Intercept)", "Intercept")


MODELS = {
    "sleep8": (lambda: fit(sleep8(True), "Reaction ~ Days", groups="Subject",
                           re_formula="~Days", df_method=KR), plain),
    "sleep8_unbal": (lambda: fit(sleep8(False), "Reaction ~ Days", groups="Subject",
                                 re_formula="~Days", df_method=KR), plain),
    "btheb1": (lambda: fit(btheb_long(), "bdi ~ bdi_pre + time + treatment + drug + length",
                           groups="subject", df_method=KR), BTHEB_NAMES.get),
    "nested8": (lambda: fit(nested8(), "y ~ week", groups="client", re_formula="~week",
                            vc={"therapist": "therapist"}, df_method=KR), plain),
    "traj40": (lambda: fit_trajectory(traj40_long(), by="format", df_method=KR).model,
               traj_name),
}  # fmt: skip


@pytest.fixture(scope="module")
def fits():
    return {name: make() for name, (make, _) in MODELS.items()}


# -- fixed effects: lmerTest summary(ddf = "Kenward-Roger") and pbkrtest::vcovAdj ------------
@pytest.mark.parametrize("model", list(MODELS))
def test_fixed_effects_match_lmertest_kenward_roger(fits, ref, model):
    res, rename = fits[model], MODELS[model][1]
    table = res.fixed.set_index("term")
    np.testing.assert_allclose(table["estimate"], series(ref, model, "fixef", rename)[table.index],
                               rtol=1e-4)  # fmt: skip
    for kind, col, rtol in (("se_kr", "std_error", 1e-3), ("df_kr", "df", 1e-2),
                            ("t_kr", "statistic", 1e-3), ("p_kr", "p_value", 1e-3)):  # fmt: skip
        want = series(ref, model, kind, rename)[table.index]
        np.testing.assert_allclose(table[col], want, rtol=rtol, err_msg=f"{model} {kind}")
    # achieved: SE and df within 5e-7 (relative) on all five models


@pytest.mark.parametrize("model", list(MODELS))
def test_adjusted_covariance_matches_vcovadj(fits, ref, model):
    res, rename = fits[model], MODELS[model][1]
    names = list(res.fe_params.index)
    want = matrix(ref, model, "vcov_kr", rename).loc[names, names]
    scale = np.sqrt(np.outer(np.diag(want), np.diag(want)))  # off-diagonals relative to SDs
    np.testing.assert_allclose(res.cov_fixed_kr / scale, want / scale, rtol=1e-3, atol=1e-6)
    np.testing.assert_allclose(np.diag(res.cov_fixed_kr), np.diag(want), rtol=1e-3)
    # the unadjusted covariance is untouched and is lme4's vcov()
    np.testing.assert_allclose(res.cov_fixed, matrix(ref, model, "vcov", rename).loc[names, names],
                               rtol=1e-3, atol=1e-9)  # fmt: skip


@pytest.mark.parametrize("model", ["sleep8_unbal", "btheb1", "traj40"])
def test_w_matrix_matches_pbkrtest(fits, ref, model):
    # W = 2 x inverse expected REML information (attr(vcovAdj(fit), "W")), pbkrtest's order
    got = fits[model]._kr.w
    r = rows(ref, model, "kr_w")
    want = np.zeros_like(got)
    want[r["name1"].astype(int) - 1, r["name2"].astype(int) - 1] = r["value"]
    scale = np.sqrt(np.outer(np.diag(want), np.diag(want)))
    np.testing.assert_allclose(got / scale, want / scale, rtol=1e-3, atol=1e-5)


def test_balanced_design_kr_equals_unadjusted(fits, ref):
    # KR's known exact case (Kenward & Roger 1997): balanced random-coefficient design, the
    # adjusted covariance is the plug-in one and df = number of subjects - 1 = 7
    res = fits["sleep8"]
    np.testing.assert_allclose(res.cov_fixed_kr, res.cov_fixed, rtol=1e-6)
    np.testing.assert_allclose(res.fixed["df"], 7.0, rtol=1e-8)


def test_unbalanced_sleep8_kr_vs_satterthwaite(fits, ref):
    # with unequal follow-up KR and Satterthwaite disagree strongly for the Days slope:
    # lmerTest 3.108 (Satterthwaite) vs 6.416 (KR), SE 2.4205 vs 2.4832
    kr = fits["sleep8_unbal"].fixed.set_index("term")
    sat = fit(sleep8(False), "Reaction ~ Days", groups="Subject", re_formula="~Days")
    sat = sat.fixed.set_index("term")
    want = series(ref, "sleep8_unbal", "df", plain)["Days"]
    np.testing.assert_allclose(sat.loc["Days", "df"], want, rtol=1e-4)
    assert sat.loc["Days", "df"] < 3.2 < 6.4 < kr.loc["Days", "df"] < 6.5
    assert kr.loc["Days", "std_error"] > sat.loc["Days", "std_error"]


def test_contrasts_and_f_test_match_contest(fits, ref):
    res = fits["sleep8_unbal"]
    one = res.linear_combination([1.0, 5.0]).iloc[0]
    want = series(ref, "sleep8_unbal", "contest1d_kr", str)
    np.testing.assert_allclose(one["estimate"], want["Estimate"], rtol=1e-6)
    np.testing.assert_allclose(one["std_error"], want["Std. Error"], rtol=1e-3)
    np.testing.assert_allclose(one["df"], want["df"], rtol=1e-2)
    np.testing.assert_allclose(one["p_value"], want["Pr(>|t|)"], rtol=1e-3)
    np.testing.assert_allclose(res.kenward_roger_df([1.0, 5.0]), want["df"], rtol=1e-2)
    ft = res.f_test(np.array([[1.0, 5.0], [0.0, 1.0]])).iloc[0]
    want = series(ref, "sleep8_unbal", "contestmd_kr", str)
    assert ft["num_df"] == want["NumDF"] == 2
    np.testing.assert_allclose(ft["den_df"], want["DenDF"], rtol=1e-2)
    np.testing.assert_allclose(ft["statistic"], want["F value"], rtol=1e-3)
    np.testing.assert_allclose(ft["p_value"], want["Pr(>F)"], rtol=1e-3)


def test_btheb_emmeans_kenward_roger(fits, ref):
    # emmeans(btheb1, ~ treatment, lmer.df = "kenward-roger"): equal weights over drug and
    # length, bdi.pre and time at their means in the model frame
    res = fits["btheb1"]
    data = btheb_long()
    grid = {"Intercept": 1.0, "bdi_pre": data["bdi_pre"].mean(), "time": data["time"].mean(),
            "drug[T.Yes]": 0.5, "length[T.>6m]": 0.5}  # fmt: skip
    lmat = np.array([[{**grid, "treatment[T.BtheB]": trt}[name] for name in res.fe_params.index]
                     for trt in (0.0, 1.0)])  # fmt: skip
    out = res.linear_combination(lmat)
    want = rows(ref, "btheb1", "emm_kr").pivot(index="name1", columns="name2", values="value")
    want = want.loc[["TAU", "BtheB"]]
    np.testing.assert_allclose(out["estimate"], want["emmean"], rtol=1e-4)
    np.testing.assert_allclose(out["std_error"], want["SE"], rtol=1e-3)
    np.testing.assert_allclose(out["df"], want["df"], rtol=1e-2)
    np.testing.assert_allclose(out["conf_low"], want["lower.CL"], rtol=1e-3)
    pair = res.linear_combination(lmat[0] - lmat[1]).iloc[0]
    r = rows(ref, "btheb1", "pairs_kr").set_index("name2")["value"]
    np.testing.assert_allclose(pair["estimate"], r["estimate"], rtol=1e-4)
    np.testing.assert_allclose(pair["std_error"], r["SE"], rtol=1e-3)
    np.testing.assert_allclose(pair["df"], r["df"], rtol=1e-2)
    np.testing.assert_allclose(pair["p_value"], r["p.value"], rtol=1e-3)


# -- emmeans with lmer.df = "kenward-roger" through marginal_means / contrasts / trends ------
@pytest.fixture(scope="module")
def traj40():
    return fit_trajectory(traj40_long(), by="format", df_method=KR)


def _emm_table(ref, kind) -> pd.DataFrame:
    return rows(ref, "traj40", kind).pivot(index="name1", columns="name2", values="value")


def test_marginal_means_kenward_roger(traj40, ref):
    mm = marginal_means(traj40, at={"week": 12}, by="format").set_index("format")
    want = _emm_table(ref, "emm_kr").loc[mm.index]
    np.testing.assert_allclose(mm["estimate"], want["emmean"], rtol=1e-4)
    np.testing.assert_allclose(mm["std_error"], want["SE"], rtol=1e-3)
    np.testing.assert_allclose(mm["df"], want["df"], rtol=1e-2)
    np.testing.assert_allclose(mm["conf_low"], want["lower.CL"], rtol=1e-3)
    np.testing.assert_allclose(mm["conf_high"], want["upper.CL"], rtol=1e-3)
    assert "Kenward-Roger" in mm.attrs["method"]


def test_pairwise_contrasts_kenward_roger(traj40, ref):
    out = contrasts(traj40, by="format", at={"week": 12}, p_adjust="holm").set_index("contrast")
    want = _emm_table(ref, "pairs_kr").loc[out.index]
    np.testing.assert_allclose(out["estimate"], want["estimate"], rtol=1e-4)
    np.testing.assert_allclose(out["std_error"], want["SE"], rtol=1e-3)
    np.testing.assert_allclose(out["df"], want["df"], rtol=1e-2)
    np.testing.assert_allclose(out["statistic"], want["t.ratio"], rtol=1e-3)
    np.testing.assert_allclose(out["p_adjusted"], want["p.value"], rtol=1e-3)
    # Holm p-values go with Bonferroni intervals in emmeans, here too
    np.testing.assert_allclose(out["conf_low"], want["lower.CL"], rtol=1e-3)
    assert "Kenward-Roger" in out.attrs["method"]


def test_trends_kenward_roger(traj40, ref):
    out = trends(traj40, by="format").set_index("format")
    want = _emm_table(ref, "trend_kr").loc[out.index]
    np.testing.assert_allclose(out["estimate"], want["week.trend"], rtol=1e-4)
    np.testing.assert_allclose(out["std_error"], want["SE"], rtol=1e-3)
    np.testing.assert_allclose(out["df"], want["df"], rtol=1e-2)
    np.testing.assert_allclose(out["conf_high"], want["upper.CL"], rtol=1e-3)


# -- the generic computation at lme4's estimates: two random slopes, a boundary fit -----------
def _structure(data: pd.DataFrame, terms):
    """Z and pbkrtest's derivative list for terms ``[(factor, with_week_slope), ...]``."""
    n = len(data)
    blocks = []
    for col, slope in terms:  # in lme4's order of the terms
        codes, levels = pd.factorize(data[col], sort=True)
        k, qk = levels.size, 2 if slope else 1
        zt = sparse.lil_matrix((n, qk * k))
        zt[np.arange(n), qk * codes] = 1.0
        if slope:
            zt[np.arange(n), qk * codes + 1] = data["week"].to_numpy()
        derivs = []
        for j in range(qk):  # lower triangle by column
            for i in range(j, qk):
                e = np.zeros((qk, qk))
                e[i, j] = e[j, i] = 1.0
                derivs.append(sparse.kron(sparse.identity(k), e, format="csc"))
        blocks.append((zt.tocsc(), derivs))
    z = sparse.hstack([b[0] for b in blocks], format="csc")
    sizes = [b[0].shape[1] for b in blocks]
    dgs = []
    for t, (_, derivs) in enumerate(blocks):
        for dg in derivs:
            parts = [dg if u == t else sparse.csc_matrix((q, q)) for u, q in enumerate(sizes)]
            dgs.append(sparse.block_diag(parts, format="csc"))
    return z, dgs


def _tau(ref, model, terms):
    vc = rows(ref, model, "varcov").set_index(["name1", "name2"])["value"]
    tau = []
    for g, slope in terms:
        tau.append(vc[(f"{g}|(Intercept)", "")])
        if slope:
            tau += [vc[(f"{g}|(Intercept)", "week")], vc[(f"{g}|week", "")]]
    return tau, vc[("Residual|", "")]


def _w_matrix(ref, model, m):
    w = rows(ref, model, "kr_w")
    out = np.zeros((m, m))
    out[w["name1"].astype(int) - 1, w["name2"].astype(int) - 1] = w["value"]
    return out


def _generic_kr(ref, model, data, terms, x):
    tau, sigma2 = _tau(ref, model, terms)
    z, dgs = _structure(data, terms)
    g_mat = sum(t * d for t, d in zip(tau, dgs, strict=True))
    return kenward_roger(x, z, dgs, g_mat, sigma2)


def test_two_random_slopes_generic_kr_matches_pbkrtest(ref):
    # y ~ week * format + (week | client) + (week | therapist)
    data = pd.read_csv(DATA / "kr_two_slopes.csv")
    b = (data["format"] == "b").to_numpy(float)
    wk = data["week"].to_numpy(float)
    x = np.column_stack([np.ones(len(data)), wk, b, wk * b])
    names = ["(Intercept)", "week", "formatb", "week:formatb"]
    kr = _generic_kr(ref, "two_slopes", data, [("client", True), ("therapist", True)], x)
    phi = matrix(ref, "two_slopes", "vcov", str).loc[names, names]
    np.testing.assert_allclose(kr.cov_beta, phi, rtol=1e-4)
    want = matrix(ref, "two_slopes", "vcov_kr", str).loc[names, names].to_numpy()
    np.testing.assert_allclose(kr.cov_adjusted, want, rtol=1e-5)
    df = [kr.ddf(row) for row in np.eye(4)]
    np.testing.assert_allclose(df, series(ref, "two_slopes", "df_kr", str)[names], rtol=1e-4)
    se = series(ref, "two_slopes", "se_kr", str)[names]
    np.testing.assert_allclose(np.sqrt(np.diag(kr.cov_adjusted)), se, rtol=1e-5)
    want_w = _w_matrix(ref, "two_slopes", 7)
    np.testing.assert_allclose(kr.w, want_w, rtol=1e-4, atol=1e-8 * np.abs(want_w).max())
    # contestMD(two, rbind(c(0,0,1,0), c(0,0,0,1)), ddf = "Kenward-Roger"): the format terms
    beta = series(ref, "two_slopes", "fixef", str)[names].to_numpy()
    ft = kr.f_test(np.eye(4)[2:], beta)
    md = series(ref, "two_slopes", "contestmd_kr", str)
    np.testing.assert_allclose(ft["den_df"], md["DenDF"], rtol=1e-4)
    np.testing.assert_allclose(ft["statistic"], md["F value"], rtol=1e-5)
    np.testing.assert_allclose(ft["p_value"], md["Pr(>F)"], rtol=1e-5)
    # emmeans(two, ~ format, at = list(week = 8), lmer.df = "kenward-roger")
    emm = rows(ref, "two_slopes", "emm_kr").pivot(index="name1", columns="name2", values="value")
    lmat = np.array([[1.0, 8.0, 0.0, 0.0], [1.0, 8.0, 1.0, 8.0]])
    se = np.sqrt(np.einsum("ij,jk,ik->i", lmat, kr.cov_adjusted, lmat))
    np.testing.assert_allclose(se, emm.loc[["a", "b"], "SE"], rtol=1e-5)
    np.testing.assert_allclose([kr.ddf(r) for r in lmat], emm.loc[["a", "b"], "df"], rtol=1e-4)


def test_boundary_fit_generic_kr_matches_pbkrtest(ref):
    # y ~ week + (week | client) + (1 | therapist) with the therapist variance estimated as 0
    # (lme4 isSingular): G is singular, V^-1 still exists; pbkrtest keeps the zero-variance
    # parameter, and the intercept's KR df (7.24) reflect the 8 therapists, where
    # Satterthwaite gives 39.3
    data = pd.read_csv(DATA / "kr_singular.csv")
    x = np.column_stack([np.ones(len(data)), data["week"].to_numpy(float)])
    names = ["(Intercept)", "week"]
    kr = _generic_kr(ref, "singular", data, [("client", True), ("therapist", False)], x)
    want = matrix(ref, "singular", "vcov_kr", str).loc[names, names].to_numpy()
    np.testing.assert_allclose(kr.cov_adjusted, want, rtol=1e-5)
    df = [kr.ddf(row) for row in np.eye(2)]
    np.testing.assert_allclose(df, series(ref, "singular", "df_kr", str)[names], rtol=1e-4)
    want_w = _w_matrix(ref, "singular", 5)
    np.testing.assert_allclose(kr.w, want_w, rtol=1e-4, atol=1e-8 * np.abs(want_w).max())


def test_cov_from_theta_is_lme4_covariance(fits, ref):
    # G = sigma^2 Lambda Lambda' rebuilt from theta gives VarCorr()
    from ipt_analytics.models.mixed.kenward_roger import _re_structure_from_result

    res = fits["nested8"]
    _, dgs = _re_structure_from_result(res)
    g = cov_from_theta(dgs, res.theta, res.sigma)
    vc = rows(ref, "nested8", "varcov").set_index(["name1", "name2"])["value"]
    np.testing.assert_allclose(g[0, 0], vc[("client|(Intercept)", "")], rtol=1e-3)
    np.testing.assert_allclose(g[1, 0], vc[("client|(Intercept)", "week")], rtol=1e-3)
    np.testing.assert_allclose(g[1, 1], vc[("client|week", "")], rtol=1e-3)
    np.testing.assert_allclose(g[-1, -1], vc[("therapist|(Intercept)", "")], rtol=1e-3)


# -- errors and plumbing ----------------------------------------------------------------------
def test_kenward_roger_needs_reml():
    with pytest.raises(ValueError, match="REML"):
        fit_mixed(sleep8(True), "Reaction ~ Days", groups="Subject", reml=False, df_method=KR)


def test_ml_refit_of_kr_fit_uses_satterthwaite(fits):
    res = fits["btheb1"]
    ml = res.refit(reml=False)
    assert ml.df_method == "satterthwaite" and ml.cov_fixed_kr is None
    assert "Kenward-Roger" in res.summary() and "Kenward-Roger" not in ml.summary()
    with pytest.raises(ValueError, match="kenward-roger"):
        ml.kenward_roger_df(np.eye(6)[1])


def test_too_many_random_effect_columns_is_refused():
    q = MAX_RE_COLUMNS + 1
    z = sparse.identity(q, format="csc")
    with pytest.raises(ValueError, match="satterthwaite"):
        kenward_roger(np.ones((q, 1)), z, [sparse.identity(q)], sparse.identity(q), 1.0)
