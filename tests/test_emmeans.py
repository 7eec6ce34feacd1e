"""marginal_means / contrasts / trends / effect_size against emmeans and by hand.

R side: tests/reference/sample_trajectory.R (emmeans 1.8.4-1 with lmerTest Satterthwaite df,
``emm_options(lmer.df = "satterthwaite", lmerTest.limit = 1e7)``), model
``total ~ week * format + (week | episode_id)`` on tests/reference/sample_phq9_long.csv.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_trajectory import _check_fit, load_reference, ref_values, reference_long

from ipt_analytics.models.emmeans import (
    contrasts,
    effect_size,
    marginal_means,
    reference_grid,
    trends,
)
from ipt_analytics.models.trajectory import _demo_long, fit_trajectory
from ipt_analytics.stats.summary_stats import gma_d

MODEL = "a_linear_format"
COLS = {
    "emmean": ("estimate", 1e-4),
    "week.trend": ("estimate", 1e-4),
    "estimate": ("estimate", 1e-4),
    "SE": ("std_error", 1e-3),
    "df": ("df", 1e-2),
    "lower.CL": ("conf_low", 1e-3),
    "upper.CL": ("conf_high", 1e-3),
    "t.ratio": ("statistic", 1e-3),
    "p.value": ("p_adjusted", 1e-3),
}


@pytest.fixture(scope="module")
def ref():
    return load_reference()


@pytest.fixture(scope="module")
def fit_a():
    return fit_trajectory(reference_long(), by="format")


def _compare(ours: pd.DataFrame, ref, kind, key, model=MODEL):
    values = ref_values(ref, model, kind)
    assert len({k for k, _ in values}) == len(ours)
    table = ours.set_index(key)
    for (label, col), value in values.items():
        name, rtol = COLS[col]
        got = table.loc[label, name]
        # p-values that R caps at 1 (Holm) are compared exactly; others relatively
        np.testing.assert_allclose(got, value, rtol=rtol, atol=1e-12,
                                   err_msg=f"{kind} {label} {col}")  # fmt: skip


def test_marginal_means_week12_match_emmeans(fit_a, ref):
    mm = marginal_means(fit_a, at={"week": 12}, by="format")
    _compare(mm, ref, "emmeans_week12", "format")
    assert (mm["time"] == 12).all()


@pytest.mark.parametrize(
    "kind,p_adjust",
    [("pairs_week12_holm", "holm"), ("pairs_week12_none", "none"), ("pairs_week12_bh", "bh")],
)
def test_pairwise_contrasts_match_emmeans(fit_a, ref, kind, p_adjust):
    # emmeans gives Bonferroni intervals when p-values are Holm/BH adjusted: so do we
    out = contrasts(fit_a, by="format", at={"week": 12}, p_adjust=p_adjust)
    _compare(out, ref, kind, "contrast")
    assert out.attrs["conf_adjust"] == ("none" if p_adjust == "none" else "bonferroni")
    if p_adjust == "none":
        np.testing.assert_array_equal(out["p_value"], out["p_adjusted"])


def test_trends_match_emtrends(fit_a, ref):
    _compare(trends(fit_a, by="format"), ref, "emtrends", "format")


def test_slope_contrasts_match_emtrends_pairs(fit_a, ref):
    out = contrasts(fit_a, by="format", on="slope", p_adjust="holm")
    _compare(out, ref, "emtrends_pairs_holm", "contrast")


def test_slope_trt_vs_ctrl_matches(fit_a, ref):
    out = contrasts(fit_a, by="format", on="slope", method="trt.vs.ctrl", p_adjust="holm")
    _compare(out, ref, "emtrends_trt_vs_ctrl_holm", "contrast")
    assert out["contrast"].iloc[0] == "group - individual"


@pytest.fixture(scope="module")
def fit_d():
    return fit_trajectory(
        reference_long(), by=("format", "problem_area"), covariates=("medication",)
    )


def test_two_factors_and_covariate_match_emmeans(fit_d, ref):
    """Equal weights over the other factor, medication at its mean (emmeans defaults)."""
    model = "d_two_factors"
    _check_fit(fit_d, ref, model)
    mm = marginal_means(fit_d, at={"week": 12}, by="format")
    _compare(mm, ref, "emmeans_week12", "format", model)
    mm = marginal_means(fit_d, at={"week": 12}, by="problem_area")
    _compare(mm, ref, "emmeans_pa_week12", "problem_area", model)
    out = contrasts(fit_d, by="problem_area", at={"week": 12}, p_adjust="holm")
    _compare(out, ref, "pairs_pa_week12_holm", "contrast", model)
    _compare(trends(fit_d, by="problem_area"), ref, "emtrends_pa", "problem_area", model)


def test_slope_contrast_is_the_interaction_coefficient(fit_a):
    out = contrasts(fit_a, by="format", on="slope", method="trt.vs.ctrl", reference="individual")
    coef = fit_a.fixed.set_index("term")
    row = out.set_index("contrast").loc["internet - individual"]
    np.testing.assert_allclose(row["estimate"], coef.loc["time:format[T.internet]", "estimate"],
                               rtol=1e-9)  # fmt: skip
    np.testing.assert_allclose(row["std_error"], coef.loc["time:format[T.internet]", "std_error"],
                               rtol=1e-6)  # fmt: skip


def test_equal_weights_over_other_factors():
    """Marginal mean of a format = plain average of its cells over problem areas."""
    long = _demo_long(n_episodes=40, seed=3)
    fit = fit_trajectory(long, by=("format", "problem_area"), random="intercept")
    mm = marginal_means(fit, at={"week": 5}, by="format").set_index("format")
    grid = reference_grid(fit, at={"week": 5})
    cells = pd.Series(fit.predict(grid), index=grid.index)
    by_format = cells.groupby(grid["format"].astype(str).to_numpy()).mean()
    np.testing.assert_allclose(mm["estimate"], by_format.loc[mm.index], rtol=1e-10)
    # the grand mean averages the formats equally too
    grand = marginal_means(fit, at={"week": 5})
    np.testing.assert_allclose(grand["estimate"].iloc[0], cells.mean(), rtol=1e-10)


def test_at_session_and_default_time(fit_a):
    with pytest.raises(ValueError, match="time scale"):
        marginal_means(fit_a, at={"session": 5}, by="format")
    mm = marginal_means(fit_a, by="format")
    np.testing.assert_allclose(mm["time"].iloc[0], fit_a.data["time"].mean())
    with pytest.raises(ValueError, match="not a factor"):
        marginal_means(fit_a, by="problem_area")
    with pytest.raises(ValueError, match="on='curve'"):
        contrasts(fit_a, by="format", on="curve")


def test_gma_d_by_hand(fit_a):
    es = effect_size(fit_a, by="format", reference="individual", duration=12)
    row = es.set_index("contrast").loc["internet - individual"]
    coef = fit_a.fixed.set_index("term").loc["time:format[T.internet]"]
    # denominator: pooled SD of baseline (session 1) scores of the two formats
    data = fit_a.data
    base = data[data["session"] == 1]
    a = base.loc[base["format"] == "internet", "total"]
    b = base.loc[base["format"] == "individual", "total"]
    pooled = np.sqrt(((a.size - 1) * a.var() + (b.size - 1) * b.var()) / (a.size + b.size - 2))
    d = coef["estimate"] * 12 / pooled
    np.testing.assert_allclose(row["sd_raw"], pooled, rtol=1e-12)
    np.testing.assert_allclose(row["estimate"], d, rtol=1e-8)
    np.testing.assert_allclose(row["std_error"], coef["std_error"] * 12 / pooled, rtol=1e-6)
    np.testing.assert_allclose(row["conf_high"] - row["estimate"],
                               1.959963984540054 * row["std_error"], rtol=1e-9)  # fmt: skip
    assert gma_d(coef["estimate"], 12, pooled).estimate == pytest.approx(d, rel=1e-8)
    # never the residual SD or the random-slope SD (docs/definitions.md, "GMA d")
    assert row["sd_raw"] > 1.5 * fit_a.model.sigma
    assert row["sd_raw"] > 10 * np.sqrt(fit_a.model.cov_re.loc["time", "time"])
    assert es["n_level"].sum() + es["n_reference"].iloc[0] == base["episode_id"].nunique()


def test_tables_from_a_non_converged_fit_say_so():
    import copy
    import warnings as _warnings

    from ipt_analytics.errors import FitWarning
    from ipt_analytics.models.recovery import expected_recovery

    with _warnings.catch_warnings():
        _warnings.simplefilter("ignore")
        fit = fit_trajectory(_demo_long(24), by="format")
    ok = marginal_means(fit, at={"time": 5}, by="format")
    assert ok.attrs["fit_converged"] is True
    broken = copy.copy(fit)
    broken.model = copy.copy(fit.model)
    broken.model.converged = False
    broken.model.warnings = ["the optimizer stopped before the optimum"]
    for make in (
        lambda: marginal_means(broken, at={"time": 5}, by="format"),
        lambda: contrasts(broken, by="format", at={"time": 5}),
        lambda: expected_recovery(broken, baseline=18, sessions=range(1, 6)),
    ):
        with pytest.warns(FitWarning, match="did NOT converge: the optimizer stopped"):
            table = make()
        assert table.attrs["fit_converged"] is False
        assert "the optimizer stopped before the optimum" in table.attrs["fit_warnings"]
