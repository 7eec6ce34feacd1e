"""Tests of ipt_analytics.stats.describe against hand-computed and textbook values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ipt_analytics.errors import SchemaError
from ipt_analytics.stats.describe import (
    observed_means,
    sample_trajectories,
    severity_shares,
    time_values,
)

# Student t quantiles from printed tables (e.g. any statistics text, t_{0.975})
T975 = {1: 12.706204736, 2: 4.302652730, 3: 3.182446305}


def _sessions():
    # episodes a, b, c in format "x"; d, e in "y"; GAD-7 rows must be ignored for phq9
    rows = [
        ("a", 1, 0.0, "phq9", 10.0, "x"),
        ("b", 1, 0.0, "phq9", 12.0, "x"),
        ("c", 1, 0.0, "phq9", 17.0, "x"),
        ("a", 2, 1.0, "phq9", 8.0, "x"),
        ("b", 2, 1.1, "phq9", 6.0, "x"),
        ("d", 1, 0.0, "phq9", 20.0, "y"),
        ("e", 1, 0.0, "phq9", 14.0, "y"),
        ("d", 2, 1.0, "phq9", 11.0, "y"),
        ("a", 1, 0.0, "gad7", 21.0, "x"),
    ]
    return pd.DataFrame(
        rows, columns=["episode_id", "session", "week", "instrument", "total", "format"]
    )


def test_observed_means_hand_computed_t_interval():
    out = observed_means(_sessions(), by="format")
    assert list(out.columns) == ["group", "time", "n", "mean", "std_error", "conf_low", "conf_high"]
    first = out.loc[(out["group"] == "x") & (out["time"] == 1)].iloc[0]
    # 10, 12, 17: mean 13, s^2 = (9 + 1 + 16) / 2 = 13, se = sqrt(13 / 3)
    se = np.sqrt(13 / 3)
    assert first["n"] == 3
    assert first["mean"] == pytest.approx(13.0)
    assert first["std_error"] == pytest.approx(se)
    assert first["conf_low"] == pytest.approx(13 - T975[2] * se, rel=1e-8)
    assert first["conf_high"] == pytest.approx(13 + T975[2] * se, rel=1e-8)
    y1 = out.loc[(out["group"] == "y") & (out["time"] == 1)].iloc[0]
    # 20, 14: mean 17, s = sqrt(18), se = 3
    assert y1["conf_high"] == pytest.approx(17 + T975[1] * 3, rel=1e-8)
    single = out.loc[(out["group"] == "y") & (out["time"] == 2)].iloc[0]
    assert single["n"] == 1 and np.isnan(single["std_error"]) and np.isnan(single["conf_low"])
    assert out.attrs["n_episodes"] == {"x": 3, "y": 2}
    assert out.attrs["instrument"] == "phq9" and out.attrs["time"] == "session"


def test_observed_means_conf_level_and_single_group():
    out = observed_means(_sessions(), conf_level=0.90)
    assert set(out["group"]) == {"all"}
    t1 = out.loc[out["time"] == 1].iloc[0]
    vals = np.array([10, 12, 17, 20, 14.0])
    se = vals.std(ddof=1) / np.sqrt(5)
    # t_{0.95, 4} = 2.131847 (table value)
    assert t1["conf_low"] == pytest.approx(vals.mean() - 2.131846786 * se, rel=1e-7)


def test_observed_means_by_week_averages_within_episode():
    s = pd.DataFrame(
        {
            "episode_id": ["a", "a", "a", "b"],
            "session": [1, 2, 3, 1],
            "week": [0.0, 0.4, 1.0, 0.0],
            "instrument": "phq9",
            "total": [10.0, 14.0, 9.0, 20.0],
        }
    )
    out = observed_means(s, time="week")
    w0 = out.loc[out["time"] == 0].iloc[0]
    # episode a contributes mean(10, 14) = 12 once; b contributes 20
    assert w0["n"] == 2 and w0["mean"] == pytest.approx(16.0)
    assert time_values(pd.DataFrame({"week": [2.49, 2.5]}), "week").tolist() == [2.0, 3.0]


def test_observed_means_errors():
    s = _sessions()
    with pytest.raises(SchemaError, match="no column"):
        observed_means(s.drop(columns="total"))
    with pytest.raises(ValueError, match="instrument='bdi'"):
        observed_means(s, instrument="bdi")
    with pytest.raises(SchemaError, match="no 'cudos' totals"):
        observed_means(s, instrument="cudos")
    with pytest.raises(ValueError, match="conf_level"):
        observed_means(s, conf_level=95)
    with pytest.raises(ValueError, match="time='day'"):
        observed_means(s, time="day")


def test_severity_shares_counts_order_and_zero_bands():
    s = pd.DataFrame(
        {
            "session": [1, 1, 1, 1, 2, 2, 3],
            "instrument": ["phq9"] * 6 + ["gad7"],
            "total": [3.0, 12.0, 13.0, 22.0, 4.0, np.nan, 5.0],
            "severity": [
                "none_minimal",
                "moderate",
                "moderate",
                "severe",
                "none_minimal",
                None,
                "mild",
            ],
        }
    )
    out = severity_shares(s, instrument="phq9")
    labels = ["none_minimal", "mild", "moderate", "moderately_severe", "severe"]
    assert list(out.columns) == ["time", "severity", "n", "share"]
    assert out.loc[out["time"] == 1, "severity"].astype(str).tolist() == labels
    assert out.loc[out["time"] == 1, "n"].tolist() == [1, 0, 2, 0, 1]
    assert out.loc[out["time"] == 1, "share"].tolist() == pytest.approx([0.25, 0, 0.5, 0, 0.25])
    assert out.loc[out["time"] == 2, "n"].tolist() == [1, 0, 0, 0, 0]
    assert out.groupby("time")["share"].sum().tolist() == pytest.approx([1.0, 1.0])
    assert out["severity"].cat.ordered
    assert severity_shares(s, instrument="phq9", max_time=1)["time"].unique().tolist() == [1]


def test_severity_shares_rejects_foreign_labels():
    s = pd.DataFrame(
        {"session": [1], "instrument": "phq9", "total": [3.0], "severity": ["minimal"]}
    )
    with pytest.raises(SchemaError, match="not phq9 bands"):
        severity_shares(s, instrument="phq9")


def test_sample_trajectories_deterministic_and_order_free():
    s = pd.DataFrame(
        {
            "episode_id": [f"e{i:02d}" for i in range(20) for _ in range(3)],
            "session": [1, 2, 3] * 20,
            "fmt": ["a" if i < 12 else "b" for i in range(20) for _ in range(3)],
        }
    )
    one = sample_trajectories(s, n=5, seed=7)
    two = sample_trajectories(s.iloc[::-1], n=5, seed=7)
    assert one["episode_id"].nunique() == 5 and len(one) == 15
    assert set(one["episode_id"]) == set(two["episode_id"])
    # with a Generator: same stream, same draw
    g1 = sample_trajectories(s, n=5, seed=np.random.default_rng(7))
    assert set(g1["episode_id"]) == set(one["episode_id"])
    by = sample_trajectories(s, n=10, seed=1, by="fmt")
    counts = by.drop_duplicates("episode_id")["fmt"].value_counts().to_dict()
    assert counts == {"a": 10, "b": 8}  # b has only 8 episodes: all of them
    assert sample_trajectories(s, n=0, seed=1).empty


def test_sample_trajectories_draws_uniformly():
    # every episode should be drawn about equally often across seeds (known truth: 5/20)
    s = pd.DataFrame({"episode_id": [f"e{i:02d}" for i in range(20)]})
    hits = pd.Series(0, index=s["episode_id"])
    for seed in range(400):
        hits[sample_trajectories(s, n=5, seed=seed)["episode_id"]] += 1
    freq = hits / 400
    assert freq.between(0.25 - 0.09, 0.25 + 0.09).all()


def test_sample_trajectories_errors():
    s = pd.DataFrame({"episode_id": ["a"]})
    with pytest.raises(ValueError, match="seed=None"):
        sample_trajectories(s, n=1, seed=None)
    with pytest.raises(ValueError, match="n=-1"):
        sample_trajectories(s, n=-1, seed=0)
    with pytest.raises(SchemaError, match="no column"):
        sample_trajectories(s, n=1, seed=0, by="format")
