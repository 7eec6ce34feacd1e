"""Parameter recovery: fit_mixed on data simulated by ipt_analytics.datasets.synth (known truth)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ipt_analytics.datasets.synth import FORMATS, PROBLEM_AREAS, TRUE_PARAMETERS, simulate_scores
from ipt_analytics.models.mixed import fit_mixed

FORMULA = "y ~ week * (format + problem_area + medication)"


def prepare(frame: pd.DataFrame) -> pd.DataFrame:
    # reference cells as in TrueParameters: individual format, grief, no medication
    return frame.assign(
        format=pd.Categorical(frame["format"], categories=list(FORMATS)),
        problem_area=pd.Categorical(frame["problem_area"], categories=list(PROBLEM_AREAS)),
    )


def true_fixed(names, p=TRUE_PARAMETERS) -> pd.Series:
    """True value of every fixed-effect term of FORMULA under the synth model."""
    out = {}
    for name in names:
        if name == "Intercept":
            out[name] = p.intercept
        elif name == "week":
            out[name] = p.slope
        elif name == "medication[T.True]":
            out[name] = p.medication_intercept
        elif name == "week:medication[T.True]":
            out[name] = p.medication_slope
        elif name.startswith("week:format[T."):
            out[name] = p.format_slope[name[len("week:format[T.") : -1]]
        elif name.startswith("week:problem_area[T."):
            out[name] = p.problem_area_slope[name[len("week:problem_area[T.") : -1]]
        elif name.startswith(("format[T.", "problem_area[T.")):
            out[name] = 0.0  # no baseline differences in the synth model
        else:  # pragma: no cover - a new term needs a documented truth
            raise KeyError(name)
    return pd.Series(out)


@pytest.fixture(scope="module")
def recovered():
    # a large group share so that the group variance rests on ~30 therapy groups
    shares = {"individual": 0.3, "group": 0.45, "telehealth": 0.1, "telephone": 0.08,
              "internet": 0.07}  # fmt: skip
    data = prepare(simulate_scores(n_clients=500, n_weeks=12, seed=2024, format_shares=shares))
    res = fit_mixed(data, FORMULA, groups="client_id", re_formula="~week",
                    vc={"therapist": "therapist_id", "group": "group_id"},
                    missing_groups="no_effect")  # fmt: skip
    return data, res


def test_fixed_effects_within_three_se(recovered):
    _, res = recovered
    assert res.converged
    fixed = res.fixed.set_index("term")
    truth = true_fixed(fixed.index)
    z = (fixed["estimate"] - truth) / fixed["std_error"]
    assert np.isfinite(fixed["df"]).all()
    assert z.abs().max() < 3.0, z.sort_values()
    assert len(truth) == 18


def test_variance_components_recovered(recovered):
    data, res = recovered
    p = TRUE_PARAMETERS
    cov = res.cov_re
    assert np.sqrt(cov.loc["Intercept", "Intercept"]) == pytest.approx(
        p.sd_client_intercept, rel=0.1
    )
    assert np.sqrt(cov.loc["week", "week"]) == pytest.approx(p.sd_client_slope, rel=0.1)
    corr = cov.loc["Intercept", "week"] / np.sqrt(cov.loc["week", "week"] * cov.iloc[0, 0])
    assert corr == pytest.approx(p.corr_client, abs=0.15)
    assert res.sigma == pytest.approx(p.sd_residual, rel=0.03)
    # SD of a vc factor = theta_k * sigma: 3 delta-method SEs from vcov_varpar (theta, sigma)
    k0 = len(res.theta) - len(res.vc)
    for k, (name, sd) in enumerate((("therapist", p.sd_therapist), ("group", p.sd_group))):
        idx = [k0 + k, len(res.theta)]
        grad = np.array([res.sigma, res.theta[k0 + k]])
        se = np.sqrt(grad @ res.vcov_varpar[np.ix_(idx, idx)] @ grad)
        est = np.sqrt(res.vc_variances[name])
        assert est == pytest.approx(res.theta[k0 + k] * res.sigma)
        assert abs(est - sd) < 3 * se, (name, est, se)
        if name == "therapist":  # 30 therapists: the 3-SE check is informative
            assert se < 0.5 * sd
    assert res.ngroups["client_id"] == 500 and res.nobs == len(data)
