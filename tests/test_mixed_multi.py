"""lme4 formula syntax and multi-term random effects, against lme4 1.1-31 / lmerTest 3.1-3.

References: tests/reference/issue9/mixed_multi.csv, written by tests/reference/issue9/multi.R
from data/multi.csv (simulated: 6 sites x 5 therapists, labels t1..t5 repeating across
sites, 300 clients, weekly scores). The therapist part of model a is flat: refits from
different starts agree on logLik to 1e-8 but on its variances only to about 1e-4
(relative), so those are compared at 1e-2 and the logLik at 1e-4.
"""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
from lme4_ref import ISSUE9, REF, check_fit, load, scalar, values

from ipt_analytics.errors import SchemaError
from ipt_analytics.models.mixed import fit_mixed

MULTI = ISSUE9 / "mixed_multi.csv"
FORMAT = {"(Intercept)": "Intercept"}
for _f in ("individual", "telehealth"):
    FORMAT[f"format{_f}"] = f"C(format)[T.{_f}]"
    FORMAT[f"week:format{_f}"] = f"week:C(format)[T.{_f}]"

A = "y ~ week * C(format) + (week | client) + (week | therapist_unique)"
MODELS = {
    "a": (A, True, 1e-2),
    "a_ml": (A, False, 1e-2),
    "a0_ml": ("y ~ week + (week | client) + (week | therapist_unique)", False, 1e-2),
    "b": ("y ~ week + (week || client)", True, 1e-3),
    "b_ml": ("y ~ week + (week || client)", False, 1e-3),
    "c": ("y ~ week + (1 | site/therapist)", True, 1e-3),
    "d": ("y ~ week + (1 | site:therapist) + (week | client)", True, 1e-3),
    "e": ("y ~ week + (week || client) + (1 | therapist_unique)", True, 1e-3),
    "e_ml": ("y ~ week + (week || client) + (1 | therapist_unique)", False, 1e-3),
}


@pytest.fixture(scope="module")
def data():
    return pd.read_csv(ISSUE9 / "data" / "multi.csv")


@pytest.fixture(scope="module")
def fits(data):
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # interior optima, no false warnings
        for name, (formula, reml, _) in MODELS.items():
            out[name] = fit_mixed(data, formula, reml=reml)
    return out


@pytest.mark.parametrize("model", list(MODELS))
def test_multi_term_matches_lme4(fits, model):
    res = fits[model]
    ref = load(MULTI, model)
    assert res.converged and res.warnings == []
    flat = MODELS[model][2] > 1e-3
    check_fit(res, ref, FORMAT, vc_rtol=MODELS[model][2], flat=flat)
    ngroups = ref[ref["kind"] == "ngroups"]
    assert res.ngroups == dict(zip(ngroups["name1"], ngroups["value"].astype(int), strict=True))


def test_ml_fit_is_interior_where_lme4_stalls(fits):
    # from lme4's default start, bobyqa stops for a_ml on the boundary (therapist intercept
    # sd 0) 1.42 below the interior ML optimum; this engine reaches the interior one
    stalled = load(MULTI, "a_ml_default_start")
    assert fits["a_ml"].loglik > scalar(stalled, "logLik") + 1.4
    assert fits["a_ml"].loglik == pytest.approx(scalar(load(MULTI, "a_ml"), "logLik"), abs=1e-4)


def test_nested_term_names_and_repeating_labels(fits, data):
    # (1 | site/therapist) = (1 | site) + (1 | site:therapist): t1 of s1 is not t1 of s2
    res = fits["c"]
    assert res.ngroups == {"therapist:site": 30, "site": 6}
    assert res.varcorr["grp"].tolist() == ["therapist:site", "site", "Residual"]
    crossed = fit_mixed(data, "y ~ week + (1 | site) + (1 | therapist)")  # labels crossed
    assert crossed.ngroups["therapist"] == 5
    assert crossed.loglik < res.loglik - 1


def test_anova_of_formula_fits(fits):
    # anova(b, e): REML fits, lme4 refits both by ML
    table = fits["b"].compare(fits["e"])
    ref = load(MULTI, "anova_b_e")
    assert "refitted by ML" in table.attrs["note"]
    assert table["loglik"].tolist() == pytest.approx(
        [scalar(ref, "anova_logLik", "b"), scalar(ref, "anova_logLik", "e")], abs=1e-4
    )
    assert table["statistic"].iloc[1] == pytest.approx(scalar(ref, "anova_Chisq", "e"), rel=1e-4)
    table = fits["a0_ml"].compare(fits["a_ml"])
    ref = load(MULTI, "anova_a0_a")
    assert table["npar"].tolist() == [9, 13]
    assert table["statistic"].iloc[1] == pytest.approx(scalar(ref, "anova_Chisq", "a_ml"), rel=1e-4)


def test_old_arguments_are_the_same_model(data, fits):
    old = fit_mixed(data, "y ~ week", groups="client", re_formula="~week",
                    vc={"site:therapist": "therapist_unique"})  # fmt: skip
    new = fit_mixed(data, "y ~ week + (week | client) + (1 | therapist_unique)")
    assert old.loglik == pytest.approx(new.loglik, abs=1e-8)
    pd.testing.assert_frame_equal(old.fixed, new.fixed, rtol=1e-6)
    np.testing.assert_allclose(old.varcorr["vcov"], new.varcorr["vcov"], rtol=1e-5)
    # the same data written as a combination of the two columns
    d = fits["d"]
    assert d.loglik == pytest.approx(
        fit_mixed(data, "y ~ week", groups="client", re_formula="~week",
                  vc={"site:therapist": "therapist_unique"}).loglik, abs=1e-6)  # fmt: skip


def test_prediction_and_pickle_with_slopes_on_two_factors(fits, data):
    res = fits["a"]
    back = pickle.loads(pickle.dumps(res))
    pred = back.predict(data.iloc[:30], include_random=True)
    np.testing.assert_allclose(pred, res.predict(include_random=True).iloc[:30], rtol=1e-10)
    b_t = res.random_effects_vc["therapist_unique"]
    assert list(b_t.columns) == ["Intercept", "week"] and len(b_t) == 30
    # by hand for the first row: X beta + client and therapist effects with their slopes
    row = data.iloc[0]
    manual = (res.fixed_design(data.iloc[[0]]) @ res.fe_params.to_numpy())[0]
    for b in (res.random_effects.loc[row["client"]], b_t.loc[row["therapist_unique"]]):
        manual += b["Intercept"] + b["week"] * row["week"]
    assert pred.iloc[0] == pytest.approx(manual)


def test_re_structure_reproduces_the_marginal_covariance(fits):
    # V = Z G Z' + sigma^2 I with G = sum_k tau_k dG_k; check the REML criterion from V
    res = fits["b"]
    z, dgs = res._re_structure()
    assert len(dgs) == len(res.theta) + 1 and dgs[-1].nnz == 0
    vc = res.varcorr
    tau = [vc.loc[vc["grp"] == "client", "vcov"].iloc[0],
           vc.loc[vc["grp"] == "client.1", "vcov"].iloc[0]]  # fmt: skip
    g = sum(t * d for t, d in zip(tau, dgs[:-1], strict=True))
    v = (z @ g @ z.T).toarray() + res.sigma**2 * np.eye(res.nobs)
    x = res._design.x @ np.linalg.inv(res._design.x_map)
    y = res._design.y
    vi_x = np.linalg.solve(v, x)
    beta = np.linalg.solve(x.T @ vi_x, vi_x.T @ y)
    np.testing.assert_allclose(beta, res.fe_params.to_numpy(), rtol=1e-6)


@pytest.mark.parametrize(
    ("formula", "match"),
    [
        ("y ~ week + (week | )", "could not understand the random-effects term"),
        ("y ~ week + (week | site*therapist)", "could not understand the grouping factor"),
        ("y ~ week + (week | nosuch)", "nosuch"),
        ("y ~ week + (week | client", "unbalanced"),
    ],
)
def test_parse_errors_list_accepted_forms(data, formula, match):
    with pytest.raises(SchemaError, match=match) as err:
        fit_mixed(data, formula)
    if "nosuch" not in formula:
        assert "(week || g)" in str(err.value) or "unbalanced" in str(err.value)


def test_too_many_columns_outside_the_main_factor_is_a_clear_error():
    from ipt_analytics.models.mixed.lmm import MAX_SCHUR_COLUMNS

    n = 12000
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"y": rng.normal(size=n), "a": np.arange(n) % 6000,
                          "b": np.arange(n) % 5500})  # fmt: skip
    with pytest.raises(SchemaError, match=f"at most {MAX_SCHUR_COLUMNS}") as err:
        fit_mixed(frame, "y ~ 1 + (1 | a) + (1 | b)")
    assert "'b' (5500 columns)" in str(err.value)


def test_interaction_f_test_matches_lmertest(fits):
    # lmerTest anova(a, type = 3): the week:format row (the highest-order term, the same
    # hypothesis under any coding), Satterthwaite denominator df
    res = fits["a"]
    names = list(res.fe_params.index)
    lmat = np.zeros((2, len(names)))
    for row, term in enumerate(["week:C(format)[T.individual]", "week:C(format)[T.telehealth]"]):
        lmat[row, names.index(term)] = 1.0
    got = res.f_test(lmat).iloc[0]
    ref = load(MULTI, "a_typeIII")
    assert got["num_df"] == scalar(ref, "anova_NumDF", "week:format")
    assert got["statistic"] == pytest.approx(scalar(ref, "anova_F value", "week:format"), rel=1e-3)
    assert got["den_df"] == pytest.approx(scalar(ref, "anova_DenDF", "week:format"), rel=1e-2)
    assert got["p_value"] == pytest.approx(scalar(ref, "anova_Pr(>F)", "week:format"), rel=1e-2)


@pytest.mark.parametrize("column", ["one", "row"])
def test_unidentifiable_grouping_factor_is_a_clear_error(data, column):
    # lme4: "grouping factors must have > 1 sampled level" and "number of levels of each
    # grouping factor must be < number of observations"
    frame = data.assign(one="x", row=np.arange(len(data)))
    with pytest.raises(SchemaError, match=r"at least 2 levels and fewer levels than rows"):
        fit_mixed(frame, f"y ~ week + (week | client) + (1 | {column})")


@pytest.mark.parametrize("reml", [True, False])
def test_analytic_gradient_with_slopes_on_other_factors(data, reml):
    # exact gradient of the profiled criterion vs central differences (independent of the
    # gradient's derivation), two- and three-term structures with multi-column terms
    from ipt_analytics.models.mixed.design import build_design
    from ipt_analytics.models.mixed.formula import split_formula
    from ipt_analytics.models.mixed.lmm import Problem

    rng = np.random.default_rng(0)
    for formula in (A, "y ~ week + (week || client) + (week | therapist_unique) + (1 | site)"):
        fixed, terms = split_formula(formula)
        pr = Problem(build_design(data, fixed, None, None, None, "drop", terms))
        assert pr.general
        theta = pr.start() * 0.7 + rng.uniform(0.05, 0.3, pr.n_theta)
        _, grad = pr.deviance_and_gradient(theta, reml)
        fd = [(pr.deviance(theta + 1e-6 * e, reml) - pr.deviance(theta - 1e-6 * e, reml)) / 2e-6
              for e in np.eye(pr.n_theta)]  # fmt: skip
        np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize(
    ("csv", "model", "data_file", "formula"),
    [
        (REF / "mixed_kr.csv", "two_slopes", REF / "data" / "kr_two_slopes.csv",
         "y ~ week * format + (week | client) + (week | therapist)"),
        (MULTI.parent / "mixed_kr.csv", "multi_a", ISSUE9 / "data" / "multi.csv", A),
    ],
)  # fmt: skip
def test_kenward_roger_end_to_end_with_two_random_slopes(csv, model, data_file, formula):
    # fit_mixed(df_method="kenward-roger") on the two-factor slope model: the engine's
    # _re_structure() feeds models/mixed/kenward_roger.py; pbkrtest / lmerTest references
    res = fit_mixed(pd.read_csv(data_file), formula, df_method="kenward-roger")
    ref = load(csv, model)
    rename = {"(Intercept)": "Intercept", "formatb": "format[T.b]",
              "week:formatb": "week:format[T.b]", **FORMAT}  # fmt: skip
    fixed = res.fixed.set_index("term")
    for kind, col, rtol in (("df_kr", "df", 1e-4), ("se_kr", "std_error", 1e-4)):
        want = values(ref, kind, rename)
        np.testing.assert_allclose(fixed.loc[want.index, col], want, rtol=rtol)
