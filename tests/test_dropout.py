"""dropout_sensitivity: pattern-mixture slopes, checked on data simulated with known truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

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
