"""Behaviour of the fit_mixed result API: predictions, comparisons, warnings, display."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ipt_analytics.errors import FitWarning, SchemaError
from ipt_analytics.models.mixed import MixedResult, fit_mixed
from ipt_analytics.models.mixed.design import build_design
from ipt_analytics.models.mixed.lmm import Problem, check_optimum

DATA = Path(__file__).parent / "reference" / "data"


@pytest.fixture(scope="module")
def sleep():
    return pd.read_csv(DATA / "sleepstudy.csv")


@pytest.fixture(scope="module")
def fm1(sleep):
    return fit_mixed(sleep, "Reaction ~ Days", groups="Subject", re_formula="~Days")


@pytest.fixture(scope="module")
def nested_data():
    return pd.read_csv(DATA / "nested.csv")


def test_result_surface(fm1):
    assert isinstance(fm1, MixedResult)
    assert list(fm1.fixed.columns) == [
        "term", "estimate", "std_error", "df", "statistic", "p_value", "conf_low", "conf_high",
    ]  # fmt: skip
    assert fm1.fixed["term"].tolist() == ["Intercept", "Days"]
    assert fm1.cov_fixed.shape == (2, 2) and fm1.vcov_varpar.shape == (4, 4)
    assert fm1.nobs == 180 and fm1.ngroups == {"Subject": 18} and fm1.reml
    assert fm1.aic == pytest.approx(-2 * fm1.loglik + 2 * 6)
    assert fm1.bic == pytest.approx(-2 * fm1.loglik + 6 * np.log(180))
    # confidence limits: t quantile with the Satterthwaite df
    from scipy import stats

    row = fm1.fixed.iloc[1]
    half = stats.t.ppf(0.975, row["df"]) * row["std_error"]
    assert row["conf_high"] - row["estimate"] == pytest.approx(half)
    # icc at day 0 from the variance components
    vc = fm1.variance_components
    assert fm1.icc["Subject"] == pytest.approx(
        vc["variance"][0] / (vc["variance"][0] + vc["variance"][3])
    )


def test_linear_combination_matches_fixed_table(fm1):
    lc = fm1.linear_combination(np.eye(2))
    np.testing.assert_allclose(lc["estimate"], fm1.fixed["estimate"])
    np.testing.assert_allclose(lc["df"], fm1.fixed["df"])
    np.testing.assert_allclose(fm1.satterthwaite_df(np.eye(2)), fm1.fixed["df"])
    with pytest.raises(ValueError, match="has 2 fixed effects"):
        fm1.linear_combination([1, 2, 3])


def test_predictions(fm1, sleep):
    pop = fm1.predict()
    x = np.column_stack([np.ones(180), sleep["Days"]])
    np.testing.assert_allclose(pop, x @ fm1.fe_params.to_numpy())
    cond = fm1.predict(include_random=True)
    b = fm1.random_effects.loc[sleep["Subject"]].to_numpy()
    np.testing.assert_allclose(cond - pop, b[:, 0] + b[:, 1] * sleep["Days"])
    new = pd.DataFrame({"Days": [0.0, 3.0], "Subject": [308, 999]})  # 999: unseen subject
    got = fm1.predict(new, include_random=True)
    want0 = fm1.fe_params["Intercept"] + fm1.random_effects.loc[308, "Intercept"]
    assert got.iloc[0] == pytest.approx(want0)
    assert got.iloc[1] == pytest.approx(fm1.fe_params @ [1.0, 3.0])  # new level -> 0
    np.testing.assert_allclose(fm1.fixed_design(new), [[1.0, 0.0], [1.0, 3.0]])
    # BLUPs average to ~0 (REML conditional modes sum to zero for balanced data)
    np.testing.assert_allclose(fm1.random_effects.mean(), 0, atol=1e-6)


def test_vc_missing_rows_kept_and_predicted(nested_data):
    vc = {"therapist": "therapist", "group": "group_id"}
    res = fit_mixed(nested_data, "y ~ week", groups="client", re_formula="~week", vc=vc,
                    df_method="wald", missing_groups="no_effect")  # fmt: skip
    assert res.nobs == len(nested_data)  # missing group_id does not drop rows
    assert np.isinf(res.fixed["df"]).all()
    row = nested_data.iloc[[0]]  # an individual client: no group effect
    b = res.random_effects.loc[row["client"].iloc[0]]
    t_eff = res.random_effects_vc["therapist"].loc[row["therapist"].iloc[0], "Intercept"]
    want = res.fe_params @ [1.0, 0.0] + b["Intercept"] + t_eff
    assert res.predict(row, include_random=True).iloc[0] == pytest.approx(want)
    grp = nested_data[nested_data["group_id"].notna()].iloc[[0]]
    g_eff = res.random_effects_vc["group"].loc[grp["group_id"].iloc[0], "Intercept"]
    base = res.predict(grp.assign(group_id=np.nan), include_random=True).iloc[0]
    assert res.predict(grp, include_random=True).iloc[0] - base == pytest.approx(g_eff)


def test_time_scaling_is_exactly_undone(sleep):
    # estimates transform linearly with the unit of time; the ML likelihood is invariant and
    # the REML one moves by exactly -log|det M| (log det X'V^-1 X changes), as in lme4
    a = fit_mixed(sleep, "Reaction ~ Days", groups="Subject", re_formula="~Days",
                  df_method="wald")  # fmt: skip
    hours = sleep.assign(Hours=sleep["Days"] * 24.0)
    b = fit_mixed(hours, "Reaction ~ Hours", groups="Subject", re_formula="~Hours",
                  df_method="wald")  # fmt: skip
    assert b.loglik == pytest.approx(a.loglik - np.log(24.0), abs=1e-7)
    assert b.refit(reml=False).loglik == pytest.approx(a.refit(reml=False).loglik, abs=1e-7)
    assert b.fe_params["Hours"] * 24 == pytest.approx(a.fe_params["Days"], rel=1e-7)
    assert b.cov_re.loc["Hours", "Hours"] * 24**2 == pytest.approx(
        a.cov_re.loc["Days", "Days"], rel=1e-6
    )
    assert b.fixed["std_error"].iloc[1] * 24 == pytest.approx(a.fixed["std_error"].iloc[1])


def test_compare_refits_reml_with_different_fixed_effects(sleep):
    small = fit_mixed(sleep, "Reaction ~ 1", groups="Subject", df_method="wald")
    big = fit_mixed(sleep, "Reaction ~ Days", groups="Subject", df_method="wald")
    table = small.compare(big)
    assert "refitted by ML" in table.attrs["note"]
    ml_small, ml_big = small.refit(reml=False), big.refit(reml=False)
    assert table["loglik"].tolist() == pytest.approx([ml_small.loglik, ml_big.loglik])
    assert table["statistic"].iloc[1] == pytest.approx(2 * (ml_big.loglik - ml_small.loglik))
    assert list(table.columns) == ["model", "npar", "aic", "bic", "loglik", "deviance",
                                   "statistic", "df", "p_value"]  # fmt: skip


def test_compare_rejects_different_rows(sleep):
    a = fit_mixed(sleep, "Reaction ~ Days", groups="Subject", df_method="wald")
    b = fit_mixed(sleep.iloc[10:], "Reaction ~ Days", groups="Subject", df_method="wald")
    with pytest.raises(ValueError, match="not fitted to the same rows"):
        a.compare(b)


def test_singular_fit_is_reported_once():
    rng = np.random.default_rng(7)
    client = np.repeat(np.arange(40), 5)
    week = np.tile(np.arange(5.0), 40)
    y = 10 - 0.5 * week + rng.normal(0, 2, 40)[client] + rng.normal(0, 1, 200)
    df = pd.DataFrame({"client": client, "week": week, "y": y})  # no true slope variance
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = fit_mixed(df, "y ~ week", groups="client", re_formula="~week", df_method="wald")
    fit_warnings = [w for w in caught if issubclass(w.category, FitWarning)]
    # this draw (seed 7) is singular: the slope factor is 0 (perfect correlation), as in lme4
    assert len(res.warnings) == 1
    assert len(fit_warnings) == 1
    assert any("singular" in w for w in res.warnings)
    assert "WARNING" in res.summary().splitlines()[1]
    assert "do not report it" in res._repr_html_()


def test_check_optimum_flags_a_non_optimum(sleep):
    problem = Problem(build_design(sleep, "Reaction ~ Days", "Subject", "~Days", None))
    ok, messages = check_optimum(problem, problem.start() * 3, reml=True)
    assert not ok and "did not converge" in messages[0]


def test_statsmodels_engine_with_safeguards(sleep, fm1):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = fit_mixed(sleep, "Reaction ~ Days", groups="Subject", re_formula="~Days",
                        engine="statsmodels")  # fmt: skip
    assert res.converged
    assert res.loglik == pytest.approx(fm1.loglik, abs=1e-4)
    np.testing.assert_allclose(res.cov_re, fm1.cov_re, rtol=1e-3)
    with pytest.raises(ValueError, match="single grouping factor"):
        fit_mixed(sleep, "Reaction ~ Days", groups="Subject", vc={"s": "Subject"},
                  engine="statsmodels")  # fmt: skip


def test_bad_arguments(sleep):
    with pytest.raises(SchemaError, match="groups='Patient' is not a column"):
        fit_mixed(sleep, "Reaction ~ Days", groups="Patient")
    with pytest.raises(ValueError, match="engine='lme4'"):
        fit_mixed(sleep, "Reaction ~ Days", groups="Subject", engine="lme4")
    with pytest.raises(SchemaError, match="could not build the model"):
        fit_mixed(sleep, "Reaction ~ Dayz", groups="Subject")
    with pytest.raises(SchemaError, match="rank deficient"):
        fit_mixed(sleep.assign(D2=sleep["Days"] * 2), "Reaction ~ Days + D2", groups="Subject")


def test_missing_values_are_dropped_and_counted(sleep):
    data = sleep.copy()
    data.loc[[0, 5], "Reaction"] = np.nan
    res = fit_mixed(data, "Reaction ~ Days", groups="Subject", df_method="wald")
    assert res.nobs == 178 and res.n_dropped == 2


def test_display_and_plot(fm1):
    text = fm1.summary(decimals=2)
    assert "Random effects" in text and "251.41" in text and "WARNING" not in text
    assert "<table" in fm1._repr_html_()
    assert "converged" in repr(fm1)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ax = fm1.plot()
    assert len(ax.lines[0].get_xdata()) == 18
    ax2 = fm1.plot(kind="fitted")
    assert len(ax2.lines) == 2
    plt.close("all")


def test_import_does_not_load_matplotlib():
    code = "import sys, ipt_analytics.models.mixed; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
