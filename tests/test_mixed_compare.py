"""compare() as lme4's anova(): REML fits refitted by ML by default, refit=False opts out.

References: tests/reference/issue9/mixed_anova.csv, written by tests/reference/issue9/anova.R
(lme4 1.1-31): nlme's Orthodont (Potthoff & Roy 1964) and lme4's sleepstudy (Belenky et
al. 2003), anova() with and without refit.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lme4_ref import ISSUE9, REF, check_fit, load, scalar

from ipt_analytics.models.mixed import fit_mixed

ANOVA = ISSUE9 / "mixed_anova.csv"
SEX = "C(Sex, Treatment('Male'))[T.Female]"
ORTH = {"(Intercept)": "Intercept", "SexFemale": SEX, "age:SexFemale": f"age:{SEX}"}


@pytest.fixture(scope="module")
def orth():
    return pd.read_csv(ISSUE9 / "data" / "orthodont.csv")


def fits(orth):
    sex = "C(Sex, Treatment('Male'))"
    return {
        "m1": fit_mixed(orth, "distance ~ age", groups="Subject"),
        "m2": fit_mixed(orth, f"distance ~ age + {sex}", groups="Subject"),
        "int1": fit_mixed(orth, f"distance ~ age * {sex}", groups="Subject"),
        "int2": fit_mixed(orth, f"distance ~ age * {sex}", groups="Subject", re_formula="~age"),
    }


@pytest.fixture(scope="module")
def orth_fits(orth):
    return fits(orth)


def check_table(table, ref_name, names):
    ref = load(ANOVA, ref_name)
    for col, kind in [("npar", "npar"), ("aic", "AIC"), ("bic", "BIC"),
                      ("loglik", "logLik"), ("deviance", "deviance")]:  # fmt: skip
        want = [scalar(ref, f"anova_{kind}", n) for n in names]
        np.testing.assert_allclose(table[col], want, rtol=1e-7)
    assert table["statistic"].iloc[1] == pytest.approx(
        scalar(ref, "anova_Chisq", names[1]), rel=1e-4
    )
    assert table["df"].iloc[1] == scalar(ref, "anova_Df", names[1])
    assert table["p_value"].iloc[1] == pytest.approx(
        scalar(ref, "anova_Pr(>Chisq)", names[1]), rel=1e-4
    )


@pytest.mark.parametrize("model", ["m1", "m2", "int1", "int2"])
def test_orthodont_fits_match_lme4(orth_fits, model):
    check_fit(orth_fits[model], load(ANOVA, f"orth_{model}"), ORTH)
    check_fit(orth_fits[model].refit(reml=False), load(ANOVA, f"orth_{model}_ml"), ORTH)


@pytest.mark.parametrize(
    ("a", "b", "ref"), [("m1", "m2", "anova_orth"), ("int1", "int2", "anova_orth_slope")]
)
def test_orthodont_anova_refit_and_not(orth_fits, a, b, ref):
    table = orth_fits[a].compare(orth_fits[b])
    assert "refitted by ML" in table.attrs["note"]
    check_table(table, f"{ref}_refit", [a, b])
    plain = orth_fits[b].compare(orth_fits[a], refit=False)  # order does not matter
    check_table(plain, f"{ref}_norefit", [a, b])
    if a == "m1":  # different fixed effects: REML comparison flagged as invalid
        assert "not comparable" in plain.attrs["note"]
    else:
        assert plain.attrs["note"] == ""


def test_sleepstudy_anova_refit_and_not():
    sleep = pd.read_csv(REF / "data" / "sleepstudy.csv")
    fm1 = fit_mixed(sleep, "Reaction ~ Days", groups="Subject", re_formula="~Days")
    fm3 = fit_mixed(sleep, "Reaction ~ Days", groups="Subject")
    check_table(fm3.compare(fm1), "anova_fm3_fm1_refit", ["fm3", "fm1"])
    check_table(fm3.compare(fm1, refit=False), "anova_fm3_fm1_norefit", ["fm3", "fm1"])
