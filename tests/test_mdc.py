"""Making Data Count rules (ipt_analytics.stats.mdc) against hand-built series.

Reference: NHSRplotthedots 0.2.2 (R/ptd_spc_standard.R, R/ptd_calculate_point_type.R,
R/ptd_calculate_assurance_type.R) and its vignette "Deviations from Excel defaults", whose
18-point example has UPL 4.6 / mean 1.94 / LPL -0.72 (screened) and 6.95 / 1.94 / -3.06
(unscreened, as the Excel tool). Every other expected value below is worked by hand.
"""

from __future__ import annotations

import numpy as np
import pytest

from ipt_analytics.stats.mdc import assurance_icon, mdc_chart, variation_icon, xmr_limits

VIGNETTE = [1, 2, 1, 2, 10, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1]


def test_vignette_limits_screened_and_excel():
    # printed in the vignette to 2 decimals
    s = xmr_limits(VIGNETTE)
    assert (round(s["upl"], 2), round(s["mean"], 2), round(s["lpl"], 2)) == (4.6, 1.94, -0.72)
    e = xmr_limits(VIGNETTE, screen_outliers=False)
    assert (round(e["upl"], 2), round(e["mean"], 2), round(e["lpl"], 2)) == (6.95, 1.94, -3.06)
    # by hand: mean 35/18; unscreened AMR 32/17; screened AMR 15/15 = 1
    assert e["amr"] == pytest.approx(32 / 17)
    assert s["amr"] == pytest.approx(1.0)
    assert s["nupl"] == pytest.approx(35 / 18 + 2 * 2.66 / 3)


def test_outside_limits_is_strict_and_typed_by_direction():
    chart = mdc_chart(VIGNETTE, improvement="decrease")
    assert chart["rule"].iloc[4] == "outside_limits"  # 10 > 4.60
    assert chart["point_type"].iloc[4] == "special_cause_concern"
    assert chart["rule"].iloc[3] == ""
    up = mdc_chart(VIGNETTE, improvement="increase")
    assert up["point_type"].iloc[4] == "special_cause_improvement"
    neutral = mdc_chart(VIGNETTE, improvement="neutral")
    assert neutral["point_type"].iloc[4] == "special_cause_neutral_high"


def test_seven_point_trend_needs_six_strict_increases():
    # 8 flat-ish points then 1..7 rising: the 7 rising points are a trend (and nothing else
    # fires first for them except possibly the limits, which here are wide)
    base = [10, 11, 10, 11, 10, 11, 10, 11]
    rising = [10.1, 10.2, 10.3, 10.4, 10.5, 10.6, 10.7]
    chart = mdc_chart(base + rising, improvement="increase", baseline=8)
    flagged = chart.index[chart["rule"] == "trend"].tolist()
    assert flagged == list(range(8, 15))
    assert set(chart["point_type"].iloc[8:15]) == {"special_cause_improvement"}
    # an equal value breaks the run: 6 increases with a tie are no trend
    tie = [10.1, 10.2, 10.3, 10.3, 10.5, 10.6, 10.7]
    chart = mdc_chart(base + tie, improvement="increase", baseline=8)
    assert "trend" not in set(chart["rule"])


def test_seven_points_one_side_of_mean_and_point_on_mean_breaks_it():
    base = [10, 12, 10, 12, 10, 12, 10, 12]  # mean 11, AMR 2, limits 11 +/- 5.32
    above = [11.5] * 7
    chart = mdc_chart(base + above, improvement="decrease", baseline=8)
    assert chart["rule"].iloc[8:].tolist() == ["shift"] * 7
    assert set(chart["point_type"].iloc[8:]) == {"special_cause_concern"}
    broken = [11.5] * 3 + [11.0] + [11.5] * 3
    chart = mdc_chart(base + broken, improvement="decrease", baseline=8)
    assert set(chart["rule"].iloc[8:]) == {""}


def test_two_of_three_close_to_limits_same_side():
    # baseline mean 11, AMR 2: near limit 11 + 3.547 = 14.547, process limit 16.32
    base = [10, 12, 10, 12, 10, 12, 10, 12]
    chart = mdc_chart(base + [15, 11.5, 15], improvement="increase", baseline=8)
    assert chart["rule"].iloc[8:].tolist() == ["two_of_three", "", "two_of_three"]
    # one of the three below the mean: not the same side, nothing fires
    chart = mdc_chart(base + [15, 10.5, 15], improvement="increase", baseline=8)
    assert chart["rule"].iloc[8:].tolist() == ["", "", ""]


def test_rebase_gives_each_segment_its_own_limits():
    chart = mdc_chart([1, 2, 1, 2, 11, 12, 11, 12], rebase=[4])
    assert chart["segment"].tolist() == [0] * 4 + [1] * 4
    assert chart["mean"].iloc[0] == pytest.approx(1.5)
    assert chart["mean"].iloc[-1] == pytest.approx(11.5)


def test_icons():
    chart = mdc_chart(VIGNETTE + [9], improvement="decrease")
    assert variation_icon(chart) == "concern_high"
    assert variation_icon(mdc_chart(VIGNETTE)) == "common_cause"
    s = xmr_limits(VIGNETTE + [1])  # last point common cause; limits as the whole series
    chart = mdc_chart(VIGNETTE + [1], improvement="increase")
    assert assurance_icon(chart, s["upl"] + 0.01) == "consistent_fail"
    assert assurance_icon(chart, s["upl"]) == "inconsistent"  # on the limit: hit and miss
    assert assurance_icon(chart, s["lpl"] - 0.01) == "consistent_pass"
    down = mdc_chart(VIGNETTE + [1], improvement="decrease")
    assert assurance_icon(down, s["upl"] + 0.01) == "consistent_pass"
    assert assurance_icon(mdc_chart(VIGNETTE, improvement="neutral"), 3) is None
    assert assurance_icon(chart, None) is None


def test_bad_input():
    with pytest.raises(ValueError, match="improvement"):
        mdc_chart([1, 2, 3], improvement="up")
    with pytest.raises(ValueError, match="at least 2"):
        xmr_limits([np.nan, 1])
