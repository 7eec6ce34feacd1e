"""Artist-level tests of ipt_analytics.plotting: what is drawn, not how it looks."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.colors as mcolors  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402
from matplotlib.ticker import PercentFormatter  # noqa: E402

from ipt_analytics import plotting  # noqa: E402
from ipt_analytics.plotting import GROUP_COLOURS, OKABE_ITO  # noqa: E402
from ipt_analytics.plotting.severity import severity_colours  # noqa: E402
from ipt_analytics.stats.describe import observed_means, severity_shares  # noqa: E402
from ipt_analytics.stats.spc import p_chart, run_chart  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures(monkeypatch):
    def no_show(*args, **kwargs):
        raise AssertionError("plotting functions must never call plt.show()")

    monkeypatch.setattr(plt, "show", no_show)
    yield
    plt.close("all")


def same_colour(a, b) -> bool:
    return np.allclose(mcolors.to_rgba(a)[:3], mcolors.to_rgba(b)[:3])


def by_gid(artists, gid):
    return [a for a in artists if a.get_gid() == gid]


def band_y(poly) -> np.ndarray:
    """y values of a fill_between polygon's vertices."""
    return np.concatenate([p.vertices[:, 1] for p in poly.get_paths()])


def band_limits(poly, x) -> tuple[float, float]:
    """Lowest and highest vertex of a (non-step) fill_between polygon at x."""
    v = np.concatenate([p.vertices for p in poly.get_paths()])
    at = v[np.isclose(v[:, 0], x), 1]
    return float(at.min()), float(at.max())


def legend_texts(ax) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


def _sessions():
    rows = []
    totals = {
        "a": [20, 15, 10],
        "b": [18, 16, 12],
        "c": [16, 14],
        "d": [22, 20, 19],
        "e": [12, 9, 6],
    }
    fmt = {
        "a": "individual",
        "b": "individual",
        "c": "individual",
        "d": "telehealth",
        "e": "telehealth",
    }
    for ep, values in totals.items():
        for i, v in enumerate(values):
            rows.append((ep, i + 1, float(i), "phq9", float(v), fmt[ep]))
    return pd.DataFrame(
        rows, columns=["episode_id", "session", "week", "instrument", "total", "format"]
    )


# ---------------------------------------------------------------- trajectories


def test_observed_trajectories_draws_means_bands_and_sample():
    s = _sessions()
    fig, ax = plt.subplots()
    out = plotting.plot_observed_trajectories(s, by="format", n_lines=1, seed=3, ax=ax)
    assert out is ax
    means = by_gid(ax.lines, "mean:individual")[0]
    # individual: session 1 (20, 18, 16) -> 18; session 2 (15, 16, 14) -> 15; session 3 -> 11
    assert means.get_xydata().tolist() == [[1, 18], [2, 15], [3, 11]]
    assert same_colour(means.get_color(), GROUP_COLOURS[0])
    tele = by_gid(ax.lines, "mean:telehealth")[0]
    assert tele.get_xydata().tolist() == [[1, 17], [2, 14.5], [3, 12.5]]
    assert same_colour(tele.get_color(), GROUP_COLOURS[1])
    # one sampled episode per group, drawn grey
    grey = by_gid(ax.lines, "individual")
    assert len(grey) == 2
    assert all(same_colour(line.get_color(), "#8C8C8C") for line in grey)
    # CI band of individual at session 1: 18 +/- t(.975, 2) * 2 / sqrt(3)
    band = by_gid(ax.collections, "band:individual")[0]
    half = 4.302652730 * 2 / np.sqrt(3)
    assert band_limits(band, 1.0) == pytest.approx((18 - half, 18 + half))
    texts = legend_texts(ax)
    assert texts[:2] == ["individual (n = 3)", "telehealth (n = 2)"]
    assert texts[2] == "individual episodes (random sample of 2)"
    assert ax.get_legend().get_title().get_text() == "mean and 95% CI"
    assert ax.get_xlabel() == "Session"
    assert ax.get_ylabel() == "PHQ-9 total (0-27)"


def test_observed_trajectories_week_axis_and_no_sample():
    ax = plotting.plot_observed_trajectories(_sessions(), time="week", n_lines=0)
    assert ax.get_xlabel() == "Week of treatment"
    assert by_gid(ax.lines, "individual") == []
    assert legend_texts(ax) == ["all episodes (n = 5)"]
    assert by_gid(ax.lines, "mean:all")[0].get_xydata()[:, 1].tolist() == pytest.approx(
        [17.6, 14.8, 11.75]
    )


def test_predicted_trajectories_lines_bands_and_observed_points():
    pred = pd.DataFrame(
        {
            "format": ["individual"] * 2 + ["telehealth"] * 2,
            "session": [1, 3] * 2,
            "estimate": [18.0, 11.0, 17.0, 13.0],
            "conf_low": [17.0, 10.0, 16.0, 12.0],
            "conf_high": [19.0, 12.0, 18.0, 14.0],
        }
    )
    obs = observed_means(_sessions(), by="format")
    ax = plotting.plot_predicted_trajectories(pred, observed=obs, group="format", min_n=1)
    line = by_gid(ax.lines, "prediction:telehealth")[0]
    assert line.get_xydata().tolist() == [[1, 17], [3, 13]]
    assert same_colour(line.get_color(), GROUP_COLOURS[1])
    band = by_gid(ax.collections, "band:individual")[0]
    assert band_limits(band, 3.0) == pytest.approx((10.0, 12.0))
    points = by_gid(ax.lines, "observed:individual")[0]
    # two groups: individual dodged by -0.04 sessions
    assert points.get_xydata()[:, 0].tolist() == pytest.approx([0.96, 1.96, 2.96])
    assert points.get_xydata()[:, 1].tolist() == pytest.approx([18, 15, 11])
    texts = legend_texts(ax)
    assert texts[:2] == ["individual (n = 3)", "telehealth (n = 2)"]
    assert "model prediction" in texts and texts[-1] == "observed mean ± 95% CI (n ≥ 1)"
    assert ax.get_ylabel() == "PHQ-9 total (0-27)"


def test_predicted_trajectories_dashed_beyond_each_groups_observed_range():
    # issue 10: a format observed to session 2 only must not be drawn solid to session 3
    seen = [True, True, True, True, True, False]
    pred = pd.DataFrame({"group": ["a"] * 3 + ["b"] * 3, "session": [1, 2, 3] * 2,
                         "estimate": [18.0, 15, 12, 17, 14, 11], "conf_low": 10.0,
                         "conf_high": 20.0, "observed": seen})  # fmt: skip
    ax = plotting.plot_predicted_trajectories(pred)
    solid = by_gid(ax.lines, "prediction:b")[0].get_xydata()
    assert np.isnan(solid[2, 1]) and solid[1].tolist() == [2, 14]
    dashed = by_gid(ax.lines, "extrapolation:b")[0]
    assert dashed.get_linestyle() == "--"
    assert [p.tolist() for p in dashed.get_xydata() if not np.isnan(p[1])] == [[2, 14], [3, 11]]
    assert not by_gid(ax.lines, "extrapolation:a")
    assert "beyond the group's data (extrapolated)" in legend_texts(ax)


def test_trajectory_predictions_mark_the_observed_range():
    from ipt_analytics.models.trajectory import _demo_long, fit_trajectory

    long = _demo_long()
    # individual episodes end at session 10 (week 9); drop group ratings after week 5
    long = long[~((long["format"] == "group") & (long["week"] > 5))]
    fit = fit_trajectory(long, by="format", random="intercept")
    p = fit.predictions(times=[0.0, 5.0, 6.0, 9.0], min_episodes=10)
    got = p.set_index(["group", "week"])["observed"]
    assert got.loc[("group", 5.0)] and not got.loc[("group", 6.0)]
    assert got.loc[("individual", 9.0)]


# ---------------------------------------------------------------- estimates


def test_marginal_means_points_intervals_and_n_labels():
    mm = pd.DataFrame(
        {
            "group": ["group", "individual"],
            "estimate": [9.0, 8.0],
            "conf_low": [7.5, 7.0],
            "conf_high": [10.0, 9.5],
            "n": [40, 160],
        }
    )
    ax = plotting.plot_marginal_means(mm, instrument="gad7", conf_level=0.95)
    container = ax.containers[0]
    assert container.lines[0].get_xydata().tolist() == [[0, 9], [1, 8]]
    segments = container.lines[2][0].get_segments()
    assert [seg[:, 1].tolist() for seg in segments] == [[7.5, 10.0], [7.0, 9.5]]
    assert [t.get_text() for t in ax.get_xticklabels()] == [
        "group\n(n = 40)",
        "individual\n(n = 160)",
    ]
    assert ax.get_ylabel() == "Estimated mean GAD-7 total (0-21)"
    assert _subtitle(ax) == "95% CI not adjusted for multiplicity"


def test_marginal_means_hue_dodges_and_orders_numerically():
    mm = pd.DataFrame(
        {
            "format": ["a", "a", "a", "b", "b", "b"],
            "week": [1, 8, 16] * 2,
            "estimate": [16.0, 12, 7, 15, 11, 6],
            "conf_low": [15.0, 11, 6, 14, 10, 5],
            "conf_high": [17.0, 13, 8, 16, 12, 7],
        }
    )
    ax = plotting.plot_marginal_means(mm, group="format", hue="week")
    assert legend_texts(ax) == ["1", "8", "16"]
    first = ax.containers[0].lines[0].get_xydata()
    assert first[:, 0].tolist() == pytest.approx([-0.2, 0.8])
    assert first[:, 1].tolist() == [16, 15]
    assert same_colour(ax.containers[2].lines[0].get_color(), GROUP_COLOURS[2])


def test_contrasts_forest_plot_with_adjusted_intervals():
    c = pd.DataFrame(
        {
            "contrast": ["b - a", "c - a"],
            "estimate": [1.0, -0.5],
            "conf_low": [0.2, -1.5],
            "conf_high": [1.8, 0.5],
            "p_value": [0.01, 0.3],
            "p_adjusted": [0.02, 0.3],
            "conf_low_adjusted": [0.0, -1.8],
            "conf_high_adjusted": [2.0, 0.8],
        }
    )
    c.attrs["p_adjust"] = "holm"
    ax = plotting.plot_contrasts(c, conf_level=0.95)
    collections = [a for a in ax.collections if isinstance(a, LineCollection)]
    unadj = by_gid(collections, "interval:unadjusted")[0]
    adj = by_gid(collections, "interval:adjusted")[0]
    # first row at the top (y = 1)
    assert [s.tolist() for s in unadj.get_segments()] == [
        [[0.2, 1], [1.8, 1]],
        [[-1.5, 0], [0.5, 0]],
    ]
    assert [s.tolist() for s in adj.get_segments()] == [[[0.0, 1], [2.0, 1]], [[-1.8, 0], [0.8, 0]]]
    assert same_colour(unadj.get_color()[0], OKABE_ITO["blue"])
    assert same_colour(adj.get_color()[0], OKABE_ITO["orange"])
    assert unadj.get_linewidth()[0] > adj.get_linewidth()[0]
    assert by_gid(ax.lines, "estimate")[0].get_xydata().tolist() == [[1, 1], [-0.5, 0]]
    reference = by_gid(ax.lines, "reference")[0]
    assert reference.get_xdata()[0] == 0
    assert legend_texts(ax) == [
        "estimate",
        "95% CI (unadjusted)",
        "95% CI adjusted for multiplicity (holm)",
    ]
    assert [t.get_text() for t in ax.texts if t.get_gid() == "p"] == [
        "adj. p = 0.020",
        "adj. p = 0.300",
    ]
    ticks = dict(zip(ax.get_yticks(), [t.get_text() for t in ax.get_yticklabels()], strict=True))
    assert ticks == {1: "b - a", 0: "c - a"}
    assert ax.get_xlabel() == "Difference in PHQ-9 total (points)"


def test_contrasts_without_adjusted_columns_uses_raw_p():
    c = pd.DataFrame(
        {
            "contrast": ["b - a"],
            "estimate": [1.0],
            "conf_low": [0.2],
            "conf_high": [1.8],
            "p_value": [0.0004],
        }
    )
    ax = plotting.plot_contrasts(c)
    assert legend_texts(ax) == ["estimate", "CI"]
    assert [t.get_text() for t in ax.texts if t.get_gid() == "p"] == ["p < 0.001"]
    assert by_gid(ax.collections, "interval:adjusted") == []


# ---------------------------------------------------------------- severity


def test_severity_shares_stacks_in_band_order():
    s = pd.DataFrame(
        {
            "session": [1, 1, 1, 1, 2, 2],
            "instrument": "phq9",
            "total": [3.0, 12.0, 13.0, 22.0, 4.0, 6.0],
            "severity": ["none_minimal", "moderate", "moderate", "severe", "none_minimal", "mild"],
        }
    )
    ax = plotting.plot_severity_shares(severity_shares(s, instrument="phq9"))
    colours = severity_colours(5)
    bands = ["none_minimal", "mild", "moderate", "moderately_severe", "severe"]
    expected = {  # band -> (heights at sessions 1, 2; bottoms)
        "none_minimal": ([0.25, 0.5], [0, 0]),
        "mild": ([0, 0.5], [0.25, 0.5]),
        "moderate": ([0.5, 0], [0.25, 1.0]),
        "moderately_severe": ([0, 0], [0.75, 1.0]),
        "severe": ([0.25, 0], [0.75, 1.0]),
    }
    for band, colour in zip(bands, colours, strict=True):
        patches = by_gid(ax.patches, f"band:{band}")
        assert [p.get_height() for p in patches] == pytest.approx(expected[band][0])
        assert [p.get_y() for p in patches] == pytest.approx(expected[band][1])
        assert [p.get_x() + p.get_width() / 2 for p in patches] == pytest.approx([1, 2])
        assert all(same_colour(p.get_facecolor(), colour) for p in patches)
    # light (least severe) to dark: lightness falls monotonically
    lightness = [np.mean(mcolors.to_rgb(c)) for c in colours]
    assert np.all(np.diff(lightness) < 0)
    assert legend_texts(ax) == ["severe", "moderately severe", "moderate", "mild", "none/minimal"]
    assert [t.get_text() for t in by_gid(ax.texts, "n")] == ["4", "2"]
    assert isinstance(ax.yaxis.get_major_formatter(), PercentFormatter)
    assert ax.get_ylabel() == "Share of PHQ-9 ratings"


# ---------------------------------------------------------------- outcomes


def _outcomes():
    return pd.DataFrame(
        {
            "baseline": [20.0, 16.0, 12.0, 10.0, 6.0, 0.0],
            "final": [4.0, 8.0, 9.0, 17.0, 13.0, 6.0],
            "pct_change": [-80.0, -50.0, -25.0, 70.0, 116.6666667, np.nan],
            "response": [True, True, False, False, False, pd.NA],
            "partial_response": [False, False, True, False, False, pd.NA],
            "remission": [True, False, False, False, False, pd.NA],
            "cs_category": ["recovered", "improved", "unchanged", "deteriorated", "harmed", None],
        }
    ).astype({"response": "boolean", "partial_response": "boolean", "remission": "boolean"})


def test_waterfall_sorted_bars_colours_and_lines():
    ax = plotting.plot_waterfall(_outcomes())
    bars = by_gid(ax.patches, "waterfall")
    assert [b.get_height() for b in bars] == pytest.approx([116.6666667, 70, -25, -50, -80])
    colours = [OKABE_ITO["bluish_green"], OKABE_ITO["blue"], OKABE_ITO["sky_blue"], "#8C8C8C"]
    expected = [colours[3], colours[3], colours[2], colours[1], colours[0]]
    assert all(same_colour(b.get_facecolor(), c) for b, c in zip(bars, expected, strict=True))
    assert by_gid(ax.lines, "response_line")[0].get_ydata()[0] == -50
    assert by_gid(ax.lines, "partial_line")[0].get_ydata()[0] == -25
    texts = legend_texts(ax)
    assert texts[0] == "remission (final PHQ-9 < 5) (n = 1)"
    assert texts[1] == "response (≥ 50% reduction), no remission (n = 1)"
    assert texts[2] == "partial response (25-50% reduction) (n = 1)"
    assert texts[3] == "no response (< 25% reduction or worse) (n = 2)"
    assert ax.get_ylabel() == "Change in PHQ-9 total from baseline (%)"
    assert "1 above +100% cut off" in ax.get_xlabel()
    assert "1 with baseline 0 not shown" in ax.get_xlabel()


def test_waterfall_counts_left_out_episodes_by_reason():
    # issue 10: episodes with a single rating were called "baseline 0"
    o = _outcomes()
    extra = pd.DataFrame({"baseline": [12.0, 14.0, np.nan], "final": [np.nan, np.nan, np.nan],
                          "pct_change": np.nan})  # fmt: skip
    ax = plotting.plot_waterfall(pd.concat([o, extra], ignore_index=True))
    assert "1 without a rating, 2 with a single rating, 1 with baseline 0 not shown" in (
        ax.get_xlabel()
    )


def test_waterfall_remission_rule_of_qids():
    ax = plotting.plot_waterfall(_outcomes(), instrument="qids_sr16")
    assert legend_texts(ax)[0] == "remission (final QIDS-SR16 ≤ 5) (n = 1)"


def test_reliable_change_lines_points_and_legend():
    ax = plotting.plot_reliable_change(_outcomes())
    identity = by_gid(ax.lines, "identity")[0].get_xydata()
    assert np.allclose(identity[:, 0], identity[:, 1])
    lower = by_gid(ax.lines, "rc_lower")[0].get_xydata()
    upper = by_gid(ax.lines, "rc_upper")[0].get_xydata()
    assert np.allclose(lower[:, 1], lower[:, 0] - 6) and np.allclose(upper[:, 1], upper[:, 0] + 6)
    assert by_gid(ax.lines, "cutoff_final")[0].get_ydata()[0] == 10
    assert by_gid(ax.lines, "cutoff_baseline")[0].get_xdata()[0] == 10
    recovered = by_gid(ax.collections, "points:recovered")[0]
    assert recovered.get_offsets().tolist() == [[20, 4]]
    assert same_colour(recovered.get_facecolor()[0], OKABE_ITO["bluish_green"])
    harmed = by_gid(ax.collections, "points:harmed")[0]
    assert same_colour(harmed.get_facecolor()[0], OKABE_ITO["vermillion"])
    assert by_gid(ax.collections, "points:not_classified")[0].get_offsets().tolist() == [[0, 6]]
    assert legend_texts(ax) == [
        "recovered (n = 1)",
        "improved (n = 1)",
        "unchanged (n = 1)",
        "deteriorated (n = 1)",
        "harmed (n = 1)",
        "not classified (n = 1)",
    ]
    assert ax.get_xlabel() == "Baseline PHQ-9 total (0-27)"
    assert ax.get_ylabel() == "Final PHQ-9 total (0-27)"


def test_reliable_change_takes_thresholds_from_outcome_attrs():
    o = _outcomes()
    o.attrs["definitions"] = {
        "jacobson_truax": {"critical_value": 1.96, "s_diff": 2.5, "cutoff": 8.5}
    }
    ax = plotting.plot_reliable_change(o)
    upper = by_gid(ax.lines, "rc_upper")[0].get_xydata()
    assert np.allclose(upper[:, 1] - upper[:, 0], 4.9)
    assert by_gid(ax.lines, "cutoff_final")[0].get_ydata()[0] == 8.5
    with pytest.raises(ValueError, match="rc_threshold"):
        plotting.plot_reliable_change(_outcomes(), instrument="cudos")


# ---------------------------------------------------------------- survival


def _km():
    # two groups; R-survfit-like rows: time 0 then each observed time
    return pd.DataFrame(
        {
            "group": ["a"] * 3 + ["b"] * 2,
            "time": [0.0, 2.0, 5.0, 0.0, 3.0],
            "n_risk": [10, 10, 6, 8, 8],
            "n_events": [0, 3, 2, 0, 4],
            "n_censored": [0, 1, 0, 0, 0],
            "survival": [1.0, 0.7, 0.7 * 4 / 6, 1.0, 0.5],
            "conf_low": [1.0, 0.45, 0.3, 1.0, 0.2],
            "conf_high": [1.0, 0.9, 0.8, 1.0, 0.8],
        }
    )


def test_kaplan_meier_steps_bands_and_at_risk_table():
    given = pd.DataFrame({"group": ["a"] * 3 + ["b"] * 3, "time": [0, 2, 4] * 2,
                          "n_risk": [10, 10, 6, 8, 8, 4]})  # fmt: skip
    ax = plotting.plot_kaplan_meier(_km(), at_risk=given)
    a = by_gid(ax.lines, "km:a")[0]
    assert a.get_drawstyle() == "steps-post"
    assert np.allclose(a.get_xydata(), [[0, 1], [2, 0.7], [5, 0.7 * 4 / 6]])
    assert same_colour(a.get_color(), GROUP_COLOURS[0])
    band = by_gid(ax.collections, "band:b")[0]
    assert {0.2, 0.8, 1.0} <= set(np.round(band_y(band), 10))
    assert legend_texts(ax) == ["a (n = 10)", "b (n = 8)"]
    assert ax.get_xlabel() == "Week of treatment"
    at_risk = [t.get_text() for t in by_gid(ax.texts, "at_risk:a")]
    assert at_risk == ["10", "10", "6"]
    assert [t.get_text() for t in by_gid(ax.texts, "at_risk:b")] == ["8", "8", "4"]
    assert [t.xy[0] for t in by_gid(ax.texts, "at_risk:b")] == [0, 2, 4]
    assert (
        by_gid(ax.texts, "at_risk_title")[0].get_text() == "Number at risk (at week of treatment)"
    )


def test_kaplan_meier_exact_at_risk_table_and_added_origin():
    km = _km().loc[lambda d: d["time"] > 0]
    given = pd.DataFrame({"group": ["a", "b"], "time": [3.0, 3.0], "n_risk": [5, 8]})
    ax = plotting.plot_kaplan_meier(km, at_risk=given, time="session")
    assert by_gid(ax.lines, "km:b")[0].get_xydata().tolist() == [[0, 1], [3, 0.5]]
    assert [t.get_text() for t in by_gid(ax.texts, "at_risk:a")] == ["5"]
    assert ax.get_xlabel() == "Session"


# ---------------------------------------------------------------- expected recovery


def _bands():
    return pd.DataFrame(
        {
            "session": [1, 2, 3, 4],
            "expected": [18.0, 16.0, 14.0, 12.0],
            "lower_80": [15.0, 13.0, 11.0, 9.0],
            "upper_80": [21.0, 19.0, 17.0, 15.0],
            "lower_90": [14.0, 12.0, 10.0, 8.0],
            "upper_90": [22.0, 20.0, 18.0, 16.0],
        }
    )


def test_expected_recovery_bands_and_flags():
    client = pd.DataFrame({"session": [1, 2, 3, 4], "total": [18.0, 19.5, 18.5, 15.5]})
    ax = plotting.plot_expected_recovery(_bands(), client=client)
    assert band_limits(by_gid(ax.collections, "band_80")[0], 2.0) == (13.0, 19.0)
    assert band_limits(by_gid(ax.collections, "band_90")[0], 4.0) == (8.0, 16.0)
    assert by_gid(ax.lines, "expected")[0].get_xydata()[:, 1].tolist() == [18, 16, 14, 12]
    assert by_gid(ax.lines, "client")[0].get_xydata()[:, 1].tolist() == [18, 19.5, 18.5, 15.5]
    flagged = by_gid(ax.lines, "not_on_track")[0]
    assert flagged.get_xydata().tolist() == [[3, 18.5]]  # 19.5 < 20 and 15.5 < 16 stay
    assert same_colour(flagged.get_color(), OKABE_ITO["vermillion"])
    assert legend_texts(ax)[-1] == "not on track (above the 90% band)"
    ax80 = plotting.plot_expected_recovery(_bands(), client=client, flag_level=80)
    assert by_gid(ax80.lines, "not_on_track")[0].get_xydata()[:, 0].tolist() == [2, 3, 4]
    assert ax.get_ylabel() == "PHQ-9 total (0-27)" and ax.get_xlabel() == "Session"


def test_expected_recovery_uses_given_flags():
    client = pd.DataFrame({"session": [1, 2], "total": [18.0, 25.0], "not_on_track": [True, False]})
    ax = plotting.plot_expected_recovery(_bands(), client=client)
    assert by_gid(ax.lines, "not_on_track")[0].get_xydata().tolist() == [[1, 18]]
    assert legend_texts(ax)[-1] == "not on track (flagged)"
    with pytest.raises(ValueError, match="flag_level=95"):
        plotting.plot_expected_recovery(_bands(), flag_level=95)


def _subtitle(ax):
    return [t.get_text() for t in ax.texts if t.get_gid() == "subtitle"][0]


# ---------------------------------------------------------------- p-chart


def test_p_chart_limits_centre_and_out_of_control():
    c = pd.DataFrame({"q": ["Q1", "Q2", "Q3"], "d": [1, 5, 30], "m": [50, 50, 100]})
    ax = plotting.plot_p_chart(p_chart(c, period="q", events="d", n="m"), ylabel="Dropout rate")
    ucl = by_gid(ax.lines, "ucl_1")[0]
    lcl = by_gid(ax.lines, "lcl_1")[0]
    assert ucl.get_drawstyle() == "steps-post"
    # hand-computed: p_bar = 0.18, limits 0.18 +/- 3 sqrt(.18 * .82 / n)
    assert ucl.get_xydata()[:, 0].tolist() == [-0.5, 0.5, 1.5, 2.5]
    assert ucl.get_xydata()[:, 1] == pytest.approx(
        [0.34299693, 0.34299693, 0.29525624, 0.29525624], abs=1e-8
    )
    assert lcl.get_xydata()[:, 1] == pytest.approx(
        [0.01700307, 0.01700307, 0.06474376, 0.06474376], abs=1e-8
    )
    assert by_gid(ax.lines, "centre_1")[0].get_ydata().tolist() == pytest.approx([0.18, 0.18])
    assert np.allclose(by_gid(ax.lines, "rate")[0].get_xydata(), [[0, 0.02], [1, 0.1], [2, 0.3]])
    ooc = by_gid(ax.lines, "out_of_control")[0]
    assert np.allclose(ooc.get_xydata(), [[2, 0.3]])
    assert same_colour(ooc.get_color(), OKABE_ITO["vermillion"])
    assert isinstance(ax.yaxis.get_major_formatter(), PercentFormatter)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["Q1", "Q2", "Q3"]
    assert legend_texts(ax) == ["rate", "centre line", "3-sigma limits", "outside the limits"]
    assert ax.get_ylabel() == "Dropout rate (%)"
    # each point's n along the bottom; the runs verdict named above the axes
    assert [t.get_text() for t in ax.texts] == ["50", "50", "100"]
    runs = ax.get_legend().get_title().get_text()
    assert runs.startswith("no runs signal")


def test_p_chart_marks_incomplete_periods_and_named_shift():
    c = pd.DataFrame({"q": list("abcdefghijkl"), "d": [30] + [20] * 5 + [40] * 6,
                      "m": [50] + [100] * 11})  # fmt: skip
    chart = p_chart(c, period="q", events="d", n="m", incomplete=[1])
    ax = plotting.plot_p_chart(chart)
    hollow = by_gid(ax.lines, "incomplete")[0]
    assert np.allclose(hollow.get_xydata(), [[0, 0.6]])
    assert (
        not by_gid(ax.lines, "out_of_control")
        or not np.isclose(by_gid(ax.lines, "out_of_control")[0].get_xydata()[:, 0], 0).any()
    )
    runs = ax.get_legend().get_title().get_text().split("\n")[0]
    # 11 useful points, runs of 5 and 6: crossings 1 < qbinom(0.05, 10, 0.5) = 2
    assert runs == "shift signal: crossings 1 < 2"
    assert by_gid(ax.lines, "centre_1")[0].get_linestyle() == "--"


def test_run_chart_phases_drawn_separately():
    d = pd.DataFrame({"m": range(10), "v": [1, 2, 1, 2, 1, 5, 6, 5, 6, 5]})
    ax = plotting.plot_run_chart(run_chart(d, period="m", value="v", part=[5]))
    assert by_gid(ax.lines, "centre_1")[0].get_ydata().tolist() == [1.0, 1.0]
    assert by_gid(ax.lines, "centre_2")[0].get_ydata().tolist() == [5.0, 5.0]


# ---------------------------------------------------------------- shared behaviour


def test_palette_is_okabe_ito():
    assert set(GROUP_COLOURS) <= set(OKABE_ITO.values())
    assert OKABE_ITO["vermillion"] not in GROUP_COLOURS  # kept for alerts
    assert OKABE_ITO == {
        "black": "#000000",
        "orange": "#E69F00",
        "sky_blue": "#56B4E9",
        "bluish_green": "#009E73",
        "yellow": "#F0E442",
        "blue": "#0072B2",
        "vermillion": "#D55E00",
        "reddish_purple": "#CC79A7",
    }


@pytest.mark.parametrize(
    "fn, data",
    [
        (plotting.plot_marginal_means, pd.DataFrame({"group": ["a"], "estimate": [1.0]})),
        (plotting.plot_contrasts, pd.DataFrame({"contrast": ["a"]})),
        (plotting.plot_waterfall, pd.DataFrame({"pct_change": [1.0]})),
        (plotting.plot_reliable_change, pd.DataFrame({"baseline": [1.0]})),
        (plotting.plot_kaplan_meier, pd.DataFrame({"time": [1.0]})),
        (plotting.plot_expected_recovery, pd.DataFrame({"session": [1]})),
        (plotting.plot_p_chart, pd.DataFrame({"period": ["a"]})),
        (plotting.plot_predicted_trajectories, pd.DataFrame({"session": [1]})),
    ],
)
def test_missing_columns_are_named(fn, data):
    with pytest.raises(ValueError, match="has no column"):
        fn(data)


def test_new_figure_when_no_ax_given():
    ax = plotting.plot_p_chart(
        p_chart(pd.DataFrame({"q": ["a"], "d": [1], "m": [4]}), period="q", events="d", n="m")
    )
    assert ax.figure is not None and len(ax.figure.axes) == 1


# ---------------------------------------------------------------- with the real upstream tables


@pytest.fixture(scope="module")
def upstream():
    import warnings

    from ipt_analytics.models.trajectory import _demo_long, fit_trajectory
    from ipt_analytics.outcomes.episode import episode_outcomes

    long = _demo_long()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fit and RCI warnings are not under test here
        fit = fit_trajectory(long, by="format")
        outcomes = episode_outcomes(long, reliability=0.84)
    return long, fit, outcomes


def test_integration_expected_recovery_table(upstream):
    from ipt_analytics.models.recovery import expected_recovery

    long, fit, _ = upstream
    bands = expected_recovery(fit, baseline=20, sessions=range(1, 9))
    client = long.loc[long["episode_id"] == "e00", ["session", "total"]]
    ax = plotting.plot_expected_recovery(bands, client=client)
    band = by_gid(ax.collections, "band_90")[0]
    row = bands.loc[bands["session"] == 4].iloc[0]
    assert band_limits(band, 4.0) == pytest.approx((row["lower_90"], row["upper_90"]))
    assert by_gid(ax.lines, "expected")[0].get_ydata() == pytest.approx(bands["expected"])
    above = client["total"].to_numpy() > np.interp(
        client["session"], bands["session"], bands["upper_90"]
    )
    drawn = by_gid(ax.lines, "not_on_track")
    assert (drawn[0].get_xdata().tolist() if drawn else []) == client["session"][above].tolist()


def test_integration_marginal_means_and_contrasts(upstream):
    from ipt_analytics.models.emmeans import contrasts, marginal_means
    from ipt_analytics.plotting.estimates import format_p

    _, fit, _ = upstream
    mm = marginal_means(fit, by="format", at={"time": 4.0})
    ax = plotting.plot_marginal_means(mm, group="format")
    assert ax.containers[0].lines[0].get_ydata() == pytest.approx(mm["estimate"])
    assert _subtitle(ax) == "at time 4; 95% CI not adjusted for multiplicity"
    c = contrasts(fit, by="format", at={"time": 4.0})
    ax = plotting.plot_contrasts(c)
    segs = by_gid(ax.collections, "interval:unadjusted")[0].get_segments()
    assert segs[0][:, 0] == pytest.approx(c[["conf_low", "conf_high"]].iloc[0])
    p_text = format_p(c["p_adjusted"].iloc[0]).replace("p ", "adj. p ", 1)
    assert [t.get_text() for t in ax.texts if t.get_gid() == "p"] == [p_text]


def test_integration_episode_outcomes(upstream):
    _, _, outcomes = upstream
    ax = plotting.plot_waterfall(outcomes)
    heights = [b.get_height() for b in by_gid(ax.patches, "waterfall")]
    expected = np.sort(outcomes["pct_change"].dropna().to_numpy())[::-1]
    assert heights == pytest.approx(expected)
    n_remit = int(outcomes["remission"].fillna(False).sum())
    assert legend_texts(ax)[0].endswith(f"(n = {n_remit})")
    ax = plotting.plot_reliable_change(outcomes)
    jt = outcomes.attrs["definitions"]["jacobson_truax"]
    upper = by_gid(ax.lines, "rc_upper")[0].get_xydata()
    assert np.allclose(upper[:, 1] - upper[:, 0], jt["critical_value"] * jt["s_diff"])
    counts = outcomes["cs_category"].value_counts()
    counts = counts[counts > 0]
    for category, n in counts.items():
        assert f"{category} (n = {n})" in legend_texts(ax)


def test_integration_kaplan_meier(upstream):
    from ipt_analytics.stats.survival import kaplan_meier

    _, _, outcomes = upstream
    km = kaplan_meier(outcomes, by="format")
    at_risk = km.at_risk([0, 4, 8])
    ax = plotting.plot_kaplan_meier(km, at_risk=at_risk)
    cut = km.curves(10)
    for g in km.table["group"].unique():
        part = cut.loc[cut["group"] == g]
        line = by_gid(ax.lines, f"km:{g}")[0]
        assert line.get_ydata() == pytest.approx(part["survival"])
        # the curve stops at the last time with >= 10 at risk
        assert line.get_xdata()[-1] == km.curve_end(10)[g]
        end_risk = km.at_risk([line.get_xdata()[-1]]).set_index("group")["n_risk"]
        assert end_risk[g] >= 10
        shown = [int(t.get_text()) for t in by_gid(ax.texts, f"at_risk:{g}")]
        assert shown == at_risk.loc[at_risk["group"] == g, "n_risk"].tolist()
    assert "curves stop where < 10" in ax.get_legend().get_title().get_text()


def test_integration_observed_trajectories(upstream):
    long, _, _ = upstream
    ax = plotting.plot_observed_trajectories(long, by="format", n_lines=3, seed=1)
    means = observed_means(long, by="format")
    for g in means["group"].unique():
        line = by_gid(ax.lines, f"mean:{g}")[0]
        assert line.get_ydata() == pytest.approx(means.loc[means["group"] == g, "mean"])
    assert len(by_gid(ax.lines, "individual")) == 3 * means["group"].nunique()


def test_figures_of_a_non_converged_fit_carry_an_alert():
    from ipt_analytics.plotting import plot_contrasts, plot_marginal_means

    mm = pd.DataFrame(
        {
            "group": ["a", "b"],
            "estimate": [8.0, 9.0],
            "conf_low": [7.0, 8.0],
            "conf_high": [9.0, 10.0],
        }
    )
    ok_ax = plot_marginal_means(mm.copy())
    assert not [t for t in ok_ax.texts if t.get_gid() == "fit-problem-alert"]
    bad = mm.copy()
    bad.attrs["fit_converged"] = False
    ax = plot_marginal_means(bad)
    alerts = [t for t in ax.texts if t.get_gid() == "fit-problem-alert"]
    assert len(alerts) == 1 and "DID NOT CONVERGE" in alerts[0].get_text()
    con = pd.DataFrame(
        {"contrast": ["a - b"], "estimate": [-1.0], "conf_low": [-2.0], "conf_high": [0.5]}
    )
    con.attrs["fit_converged"] = False
    ax = plot_contrasts(con, show_p=False)
    assert [t for t in ax.texts if t.get_gid() == "fit-problem-alert"]


def test_contrasts_state_time_and_adjustment_and_keep_the_legend_under_the_axes():
    # issue 10: an ANCOVA table with Holm p-values and unadjusted intervals must say so
    c = pd.DataFrame({"contrast": ["a vs r", "b vs r"], "estimate": [1.0, 2.0],
                      "conf_low": [0.1, 0.5], "conf_high": [1.9, 3.5],
                      "p_value": [0.03, 0.01], "p_adjusted": [0.06, 0.02]})  # fmt: skip
    fig, ax = plt.subplots(figsize=(8, 3.5))
    plotting.plot_contrasts(c, conf_level=0.95, ax=ax)
    assert _subtitle(ax) == "intervals not adjusted for multiplicity; p adjusted"
    assert "95% CI, not adjusted for multiplicity" in legend_texts(ax)
    ax.set_title("Title", pad=18)
    fig.canvas.draw()
    legend_box = ax.get_legend().get_window_extent()
    assert legend_box.y1 < ax.get_window_extent().y0  # under the axes, not over the title
    # emmeans-style table: Bonferroni intervals, Holm p-values, time given
    c.attrs.update(conf_adjust="bonferroni", p_adjust="holm", conf_level=0.95)
    ax2 = plotting.plot_contrasts(c, at="week 12")
    assert _subtitle(ax2) == ("at week 12; intervals bonferroni-adjusted; p holm-adjusted")
    assert "95% CI, bonferroni-adjusted" in legend_texts(ax2)


def test_comparison_or_axis_plain_numbers_and_nnt_labelled_as_harm():
    from ipt_analytics.stats.groups import compare_groups

    # hand-built: reference 30/40 respond, group b 10/40 -> RD = -0.5, NNT = -2 = NNTH 2
    resp = [True] * 30 + [False] * 10 + [True] * 10 + [False] * 30
    o = pd.DataFrame({"format": ["a"] * 40 + ["b"] * 40, "response": resp})
    cmp = compare_groups(o, by="format", outcome="response", reference="a")
    note = cmp.contrasts.loc[cmp.contrasts["term"] == "nnt", "note"].iloc[0]
    assert note.startswith("NNTH 2.00 (")
    assert "NNT b vs a: NNTH 2.00" in cmp.summary()
    fig, ax = plt.subplots()
    cmp.plot(ax=ax, term="odds_ratio")
    fig.canvas.draw()
    labels = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert labels and not any("10^" in t or "$" in t for t in labels)
    ax2 = cmp.plot(term="nnt")
    assert [t.get_text() for t in ax2.texts if t.get_gid() == "nnt"][0].startswith("NNTH 2.00")
