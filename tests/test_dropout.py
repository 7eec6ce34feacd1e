"""dropout_sensitivity: pattern-mixture slopes, checked on data simulated with known truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from ipt_analytics.models.dropout import dropout_sensitivity
from ipt_analytics.models.trajectory import fit_trajectory


def simulate(seed, *, slope_dropout, n_comp=160, n_drop=80, n_other=20):
    """Completers: 10 weekly ratings, slope -0.6. Dropouts: 4 ratings, slope `slope_dropout`."""
    rng = np.random.default_rng(seed)
    rows = []
    plan = [("completed", -0.6, 10)] * n_comp + [("dropout", slope_dropout, 4)] * n_drop
    plan += [("ongoing", 0.5, 6)] * (n_other // 2) + [("referred_on", 0.5, 6)] * (n_other // 2)
    for i, (reason, slope, n) in enumerate(plan):
        b0 = 16 + rng.normal(0, 4)
        b1 = slope + rng.normal(0, 0.25)
        t = np.arange(n, dtype=float)
        y = b0 + b1 * t + rng.normal(0, 2.5, n)
        rows.append(
            pd.DataFrame(
                dict(
                    episode_id=f"e{i:04d}",
                    session=np.arange(1, n + 1),
                    week=t,
                    instrument="phq9",
                    total=y,
                    end_reason=reason,
                )
            )
        )
    return pd.concat(rows, ignore_index=True)


@pytest.fixture(scope="module")
def informative():
    data = simulate(1, slope_dropout=-0.1)
    return data, dropout_sensitivity(data)


def test_informative_dropout_is_detected(informative):
    _, tab = informative
    tab = tab.set_index("term")
    diff = tab.loc["slope_difference"]
    assert diff["conf_low"] < 0.5 < diff["conf_high"]  # truth: -0.1 - (-0.6)
    assert diff["p_value"] < 0.001
    np.testing.assert_allclose(tab.loc["slope_completers", "estimate"], -0.6, atol=0.06)
    np.testing.assert_allclose(tab.loc["slope_dropouts", "estimate"], -0.1, atol=0.25)
    assert tab.attrs["note"].startswith("Dropout looks informative")
    assert tab.attrs["n_completers"] == 160 and tab.attrs["n_dropouts"] == 80


def test_pattern_mixture_average_and_mar_slope(informative):
    data, tab = informative
    tab = tab.set_index("term")
    share = 80 / 240
    want = (1 - share) * tab.loc["slope_completers", "estimate"] + share * tab.loc[
        "slope_dropouts", "estimate"
    ]
    np.testing.assert_allclose(tab.loc["slope_pattern_mixture", "estimate"], want, rtol=1e-10)
    # the MAR slope is the ordinary trajectory fit on the same episodes
    kept = data[data["end_reason"].isin(["completed", "dropout"])]
    mar = fit_trajectory(kept).fixed.set_index("term").loc["time"]
    np.testing.assert_allclose(tab.loc["slope_mar", "estimate"], mar["estimate"], rtol=1e-6)
    np.testing.assert_allclose(tab.loc["slope_mar", "std_error"], mar["std_error"], rtol=1e-4)
    assert tab["n_episodes"].tolist() == [160, 80, 240, 240, 240, 240]
    cols = ["estimate", "std_error", "df", "statistic", "p_value", "conf_low", "conf_high"]
    assert all(c in tab.columns for c in cols)


def test_non_informative_dropout_is_not_flagged():
    tab = dropout_sensitivity(simulate(2, slope_dropout=-0.6)).set_index("term")
    diff = tab.loc["slope_difference"]
    assert diff["conf_low"] < 0.0 < diff["conf_high"]
    assert tab.attrs["note"].startswith("No clear evidence")


def test_errors():
    data = simulate(3, slope_dropout=-0.6, n_drop=1)
    with pytest.raises(ValueError, match="at least 2 episodes per pattern"):
        dropout_sensitivity(data)
    with pytest.raises(ValueError, match="end_reason"):
        dropout_sensitivity(data.drop(columns="end_reason"))


def test_balanced_random_intercept_by_hand():
    # Balanced design (every episode rated at weeks 0-4) with a random intercept: REML equals
    # the classical ANOVA estimators, so every column has a closed form (split-plot algebra):
    # within-episode slopes and residual sigma^2 on N*T - N - 2 df, episode means' mean square
    # MSB on N - 2 df, and Satterthwaite's df for the baseline difference, whose variance
    # (1/n1 + 1/n2) (MSB + tbar^2 sigma^2 / Sxx) mixes the two mean squares.
    rng = np.random.default_rng(5)
    weeks = np.arange(5.0)
    n_comp, n_drop = 6, 5
    rows, y = [], {}
    for i in range(n_comp + n_drop):
        drop = i >= n_comp
        yi = 16 + (1.5 if drop else 0) + rng.normal(0, 4) + (-0.2 if drop else -0.9) * weeks
        y[i] = yi + rng.normal(0, 1, weeks.size)
        rows.append(pd.DataFrame({"episode_id": f"e{i:02d}", "session": np.arange(1, 6),
                                  "week": weeks, "instrument": "phq9", "total": y[i],
                                  "end_reason": "dropout" if drop else "completed"}))  # fmt: skip
    tab = dropout_sensitivity(pd.concat(rows, ignore_index=True), random="intercept")
    tab = tab.set_index("term")

    big_n, t_n = n_comp + n_drop, weeks.size
    tbar, sxx = weeks.mean(), ((weeks - weeks.mean()) ** 2).sum()
    groups = {"c": range(n_comp), "d": range(n_comp, big_n)}
    slope = {g: sum(((weeks - tbar) * y[i]).sum() for i in idx) / (len(idx) * sxx)
             for g, idx in groups.items()}  # fmt: skip
    means = {i: y[i].mean() for i in y}
    level = {g: np.mean([means[i] for i in idx]) for g, idx in groups.items()}
    ssw = sum(((y[i] - means[i] - slope[g] * (weeks - tbar)) ** 2).sum()
              for g, idx in groups.items() for i in idx)  # fmt: skip
    df_w = big_n * t_n - big_n - 2
    sigma2 = ssw / df_w
    msb = sum((means[i] - level[g]) ** 2 for g, idx in groups.items() for i in idx) / (big_n - 2)
    assert msb > sigma2 / t_n  # positive intercept variance: REML = ANOVA estimators
    k = 1 / n_comp + 1 / n_drop
    share = n_drop / big_n
    base_var = k * (msb + tbar**2 * sigma2 / sxx)
    base_df = (msb + tbar**2 * sigma2 / sxx) ** 2 / (
        msb**2 / (big_n - 2) + (tbar**2 * sigma2 / sxx) ** 2 / df_w
    )
    # the model without the pattern: one pooled within slope, N*T - N - 1 df
    slope_all = sum(((weeks - tbar) * y[i]).sum() for i in y) / (big_n * sxx)
    ssw_all = sum(((y[i] - means[i] - slope_all * (weeks - tbar)) ** 2).sum() for i in y)
    df_all = big_n * t_n - big_n - 1
    want = {  # term: (estimate, variance, df)
        "slope_completers": (slope["c"], sigma2 / (n_comp * sxx), df_w),
        "slope_dropouts": (slope["d"], sigma2 / (n_drop * sxx), df_w),
        "slope_difference": (slope["d"] - slope["c"], k * sigma2 / sxx, df_w),
        "baseline_difference": (
            (level["d"] - slope["d"] * tbar) - (level["c"] - slope["c"] * tbar),
            base_var,
            base_df,
        ),
        "slope_pattern_mixture": (
            (1 - share) * slope["c"] + share * slope["d"],
            sigma2 / sxx * ((1 - share) ** 2 / n_comp + share**2 / n_drop),
            df_w,
        ),
        "slope_mar": (slope_all, ssw_all / df_all / (big_n * sxx), df_all),
    }
    for term, (est, var, df) in want.items():
        row = tab.loc[term]
        se = np.sqrt(var)
        q = stats.t.ppf(0.975, df)
        assert row["estimate"] == pytest.approx(est, rel=1e-4), term
        assert row["std_error"] == pytest.approx(se, rel=1e-3), term
        assert row["df"] == pytest.approx(df, rel=1e-2), term
        assert row["statistic"] == pytest.approx(est / se, rel=1e-3), term
        assert row["p_value"] == pytest.approx(2 * stats.t.sf(abs(est / se), df), rel=1e-2), term
        assert row["conf_low"] == pytest.approx(est - q * se, rel=1e-3), term
        assert row["conf_high"] == pytest.approx(est + q * se, rel=1e-3), term
    assert tab["n_episodes"].tolist() == [6, 5, 11, 11, 11, 11]
