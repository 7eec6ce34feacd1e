"""fit_trajectory(nest="therapist_slope"): therapists differ in how fast clients improve.

Reference: tests/reference/issue9/mixed_trajectory_slope.csv, written by
tests/reference/issue9/trajectory_slope.R (lme4 1.1-31 / lmerTest 3.1-3) on the sample
cohort's model frame (tests/reference/sample_phq9_long.csv):
``total ~ week * format + (week | episode_id) + (week | therapist_id)``. In these data the
therapist slope is perfectly correlated with the therapist intercept: lme4 reports a
singular fit (all three of its optimisers), and so must this fit.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from lme4_ref import ISSUE9, REF, load, scalar, values

from ipt_analytics.errors import FitWarning
from ipt_analytics.models.trajectory import fit_trajectory
from ipt_analytics.models.trajectory_frame import lme4_formula


def py_term(r_name: str) -> str:
    name = r_name.replace("(Intercept)", "Intercept").replace("week", "time")
    return re.sub(r"format(\w+)", r"format[T.\1]", name)


@pytest.fixture(scope="module")
def fit():
    data = pd.read_csv(REF / "sample_phq9_long.csv").assign(instrument="phq9")
    with pytest.warns(FitWarning, match="singular"):
        return fit_trajectory(data, by="format", nest="therapist_slope")


def test_therapist_slope_matches_lme4(fit):
    ref = load(ISSUE9 / "mixed_trajectory_slope.csv", "ther_slope")
    res = fit.model
    assert scalar(ref, "singular") == 1
    assert res.converged
    assert lme4_formula(fit.spec).endswith("(time | episode_id) + (time | therapist_id)")
    assert res.loglik == pytest.approx(scalar(ref, "logLik"), abs=1e-4)
    est = values(ref, "fixef")
    est.index = [py_term(n) for n in est.index]
    np.testing.assert_allclose(res.fe_params[est.index], est, rtol=1e-4)
    se = values(ref, "se")
    se.index = [py_term(n) for n in se.index]
    np.testing.assert_allclose(res.fixed.set_index("term").loc[se.index, "std_error"], se,
                               rtol=1e-3)  # fmt: skip
    vc = res.varcorr
    variances = vc[vc["var2"].isna()].set_index(["grp", "var1"])["vcov"]
    for r_grp, grp in (("episode_id", "episode_id"), ("therapist_id", "therapist")):
        for r_var, var in (("(Intercept)", "(Intercept)"), ("week", "time")):
            want = scalar(ref, "varcov", f"{r_grp}|{r_var}")
            got = variances.loc[(grp, var)]
            # the therapist slope variance is 3.7e-4, on the boundary: absolute 1e-5
            assert got == pytest.approx(want, rel=1e-3, abs=1e-5), (grp, var)


def test_therapist_and_therapist_slope_are_exclusive():
    data = pd.read_csv(REF / "sample_phq9_long.csv").assign(instrument="phq9")
    with pytest.raises(ValueError, match="'therapist' or 'therapist_slope', not both"):
        fit_trajectory(data, nest=["therapist", "therapist_slope"])


def test_recovery_bands_include_the_therapist_slope(fit):
    # hand computation of the band's half-width: V = Z (G_episode + G_therapist) Z' +
    # sigma^2 I at weeks 0 and 12, conditioned on the baseline score (recovery.py, step 2)
    from scipy import stats

    from ipt_analytics.models.recovery import expected_recovery

    bands = expected_recovery(fit, baseline=18, sessions=range(1, 14)).iloc[-1]
    vc = fit.model.varcorr
    var = vc[vc["var2"].isna()].set_index(["grp", "var1"])["vcov"]
    cov = vc[vc["var2"].notna()].set_index("grp")["vcov"]
    z = np.array([[1.0, 0.0], [1.0, 12.0]])
    g = np.zeros((2, 2))
    for grp in ("episode_id", "therapist"):
        g += np.array([[var[(grp, "(Intercept)")], cov[grp]], [cov[grp], var[(grp, "time")]]])
    sigma2 = float(vc.loc[vc["grp"] == "Residual", "vcov"].iloc[0])
    v = z @ g @ z.T + sigma2 * np.eye(2)
    sd = np.sqrt(v[1, 1] - v[1, 0] ** 2 / v[0, 0])
    assert bands["upper_90"] - bands["expected"] == pytest.approx(
        stats.norm.ppf(0.95) * sd, rel=1e-8
    )
    # without the therapist slope the band would be narrower at week 12
    g_ep = g - np.array([[var[("therapist", "(Intercept)")], cov["therapist"]],
                         [cov["therapist"], var[("therapist", "time")]]])  # fmt: skip
    v_ep = z @ g_ep @ z.T + sigma2 * np.eye(2)
    assert sd > np.sqrt(v_ep[1, 1] - v_ep[1, 0] ** 2 / v_ep[0, 0])
