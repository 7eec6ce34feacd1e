"""ipt_analytics.stats.spc against qicharts2 0.8.1's documented examples and hand computation.

Reference numbers: tests/reference/spc (qicharts2 examples, made and cross-checked against the
real package as described in tests/reference/spc/README.md).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import ipt_analytics
from ipt_analytics.errors import SchemaError
from ipt_analytics.stats.spc import anhoej_rules, p_chart, run_chart, spc_summary

REF = Path(__file__).parent / "reference" / "spc"
POINTS = pd.read_csv(REF / "qicharts2_examples.csv")
SUMMARY = pd.read_csv(REF / "qicharts2_examples_summary.csv")
RUNS = ["n.obs", "n.useful", "longest.run", "longest.run.max", "n.crossings", "n.crossings.min"]
OURS = ["n_obs", "n_useful", "longest_run", "longest_run_max", "n_crossings", "n_crossings_min"]


def _example(name):
    return POINTS[POINTS["example"] == name].sort_values(["part", "xx"]).reset_index(drop=True)


def test_anhoej_critical_values_match_r_for_n_1_to_200():
    crit = pd.read_csv(REF / "anhoej_critical_values.csv")
    for n, lmax, cmin in crit.itertuples(index=False):
        y = np.r_[np.ones(n // 2 + n % 2), -np.ones(n // 2)]  # n useful points
        r = anhoej_rules(y, 0.0)
        assert (r["n_useful"], r["longest_run_max"], r["n_crossings_min"]) == (n, lmax, cmin)


@pytest.mark.parametrize("name", sorted(POINTS["example"].unique()))
def test_runs_analysis_of_every_qicharts2_example(name):
    # runs analysis of the included points around qicharts2's own centre line, per part
    ex = _example(name)
    for _, g in ex.groupby("part"):
        inc = g["include"].to_numpy(dtype=bool)
        r = anhoej_rules(g["y"].to_numpy()[inc], g["cl"].to_numpy()[inc])
        ref = g.iloc[0]
        assert [r[c] for c in OURS] == [int(ref[c]) for c in RUNS], name
        assert r["runs_signal"] == bool(ref["runs.signal"]), name


def test_vignette_printed_summary():
    # qicharts2 vignette, set.seed(19) shift example: "longest.run 13, longest.run.max 8,
    # n.crossings 4, n.crossings.min 8, runs.signal 1"
    ex = _example("vignette_i_shift")
    r = anhoej_rules(ex["y"], ex["cl"])
    assert (r["longest_run"], r["longest_run_max"], r["n_crossings"], r["n_crossings_min"]) == (
        13, 8, 4, 8
    )  # fmt: skip
    assert r["runs_signal"] and r["long_run"].sum() == 13


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("vignette_run_seed19", {}),
        ("cdi_run", {}),
        ("cdi_run_freeze24", {"freeze": 24}),
        ("cdi_run_part24", {"part": [24]}),
    ],
)
def test_run_chart_matches_qicharts2(name, kwargs):
    ex = _example(name)
    out = run_chart(ex, period="xx", value="y", **kwargs)
    np.testing.assert_allclose(out["centre"], ex["cl"], rtol=1e-12)
    for ours, ref in zip(OURS, RUNS, strict=True):
        assert out[ours].astype(int).tolist() == ex[ref].astype(int).tolist(), ours
    assert out["runs_signal"].tolist() == ex["runs.signal"].tolist()


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("cabg_p_deaths", {}),
        ("cabg_p_readmissions", {}),
        ("montgomery_tbl7.4_p_varn", {}),
        ("montgomery_ex7.1_p_exclude_part30", {"exclude": [15, 23], "part": [30]}),
    ],
)
def test_p_chart_matches_qicharts2(name, kwargs):
    ex = _example(name)
    counts = ex.assign(events=ex["y"] * ex["n"]).round({"events": 6})
    out = p_chart(counts, period="xx", events="events", n="n", **kwargs)
    np.testing.assert_allclose(out["centre"], ex["cl"], rtol=1e-12)
    np.testing.assert_allclose(out["ucl"], ex["ucl"], rtol=1e-12)
    np.testing.assert_allclose(out["lcl"], ex["lcl"], rtol=1e-12, atol=1e-15)
    assert out["include"].tolist() == ex["include"].tolist()
    assert out["out_of_control"].tolist() == ex["sigma.signal"].tolist()
    for ours, ref in zip(OURS, RUNS, strict=True):
        assert out[ours].astype(int).tolist() == ex[ref].astype(int).tolist(), ours
    assert out["runs_signal"].tolist() == ex["runs.signal"].tolist()
    assert out["n"].tolist() == ex["n"].tolist()  # per-point n is part of the output


def test_summary_per_part_matches_qicharts2_summary():
    ex = _example("montgomery_ex7.1_p_exclude_part30")
    out = p_chart(ex.assign(events=ex["y"] * ex["n"]), period="xx", events="events", n="n",
                  exclude=[15, 23], part=[30])  # fmt: skip
    s = spc_summary(out)
    ref = SUMMARY[SUMMARY["example"] == "montgomery_ex7.1_p_exclude_part30"]
    assert s["n_useful"].astype(int).tolist() == ref["n.useful"].tolist()
    np.testing.assert_allclose(s["centre"], ref["CL"], rtol=1e-12)
    assert s["n_out_of_control"].tolist() == ref["sigma.signal"].tolist()


def test_p_chart_hand_computed_limits():
    c = pd.DataFrame({"q": ["Q1", "Q2", "Q3"], "d": [1, 5, 30], "m": [50, 50, 100]})
    out = p_chart(c, period="q", events="d", n="m")
    # p_bar = 36 / 200 = 0.18; n = 50: 3 * sqrt(.18 * .82 / 50) = 0.16299693;
    # n = 100: 3 * sqrt(.18 * .82 / 100) = 0.11525624
    assert out["centre"].tolist() == pytest.approx([0.18] * 3)
    assert out["ucl"].tolist() == pytest.approx([0.34299693, 0.34299693, 0.29525624], abs=1e-8)
    assert out["lcl"].tolist() == pytest.approx([0.01700307, 0.01700307, 0.06474376], abs=1e-8)
    assert out["out_of_control"].tolist() == [False, False, True]
    assert out["signal"].tolist() == ["", "", "above upper limit"]
    assert out.attrs["sigma"] == 3


def test_p_chart_montgomery_example_7_1():
    # Montgomery, Introduction to Statistical Quality Control, Example 7.1 (orange-juice
    # cans): 30 samples of n = 50 with 347 nonconforming in all; printed p_bar = 0.2313,
    # UCL = 0.4102, LCL = 0.0524.
    d = np.full(30, 11)
    d[:17] += 1  # 17 * 12 + 13 * 11 = 347
    out = p_chart(pd.DataFrame({"s": range(30), "d": d, "n": 50}), period="s", events="d", n="n")
    assert out["centre"].iloc[0] == pytest.approx(0.2313, abs=5e-5)
    assert out["ucl"].iloc[0] == pytest.approx(0.4102, abs=5e-5)
    assert out["lcl"].iloc[0] == pytest.approx(0.0524, abs=5e-5)


def test_p_chart_clips_limits_and_sigma():
    c = pd.DataFrame({"q": ["a", "b"], "d": [0, 2], "m": [5, 5]})
    out = p_chart(c, period="q", events="d", n="m")
    assert out["lcl"].tolist() == [0.0, 0.0]
    assert p_chart(c, period="q", events="d", n="m", sigma=1)["ucl"].iloc[0] == pytest.approx(
        0.2 + np.sqrt(0.2 * 0.8 / 5)
    )


@pytest.mark.parametrize(
    "d, m", [([3], [2]), ([-1], [5]), ([1], [0]), (["x"], [5]), ([np.nan], [5])]
)
def test_p_chart_rejects_bad_counts(d, m):
    with pytest.raises(SchemaError, match="need 0 <= d <= m"):
        p_chart(pd.DataFrame({"q": ["a"], "d": d, "m": m}), period="q", events="d", n="m")


def test_incomplete_points_are_not_flagged_and_leave_the_limits():
    # hand-built: quarter 1 of an extract has only late-starting episodes (rate 0.6);
    # quarters 2-5 at 0.2. Marked incomplete, it neither moves the centre (0.2) nor signals.
    c = pd.DataFrame({"q": list("abcde"), "d": [30, 20, 20, 20, 20], "m": [50, 100, 100, 100, 100]})
    plain = p_chart(c, period="q", events="d", n="m")
    assert plain.loc[0, "out_of_control"]
    out = p_chart(c, period="q", events="d", n="m", incomplete=[1])
    assert out["centre"].tolist() == pytest.approx([0.2] * 5)
    assert not out["out_of_control"].any()
    assert out["signal"].tolist() == ["incomplete", "", "", "", ""]
    assert int(out.loc[1, "n_obs"]) == 4  # runs analysis without the incomplete point


def test_freeze_and_phases_together():
    # phase 1 = points 1-6 with a frozen baseline of points 1-4; phase 2 = points 7-10
    c = pd.DataFrame({"q": range(10), "d": [1, 2, 2, 3, 9, 9, 5, 5, 6, 4], "m": [10] * 10})
    out = p_chart(c, period="q", events="d", n="m", freeze=4, part=[6])
    assert out["centre"].tolist() == pytest.approx([0.2] * 6 + [0.5] * 4)  # 8/40, 20/40
    assert out["baseline"].tolist() == [True] * 4 + [False] * 2 + [True] * 4
    assert out["part"].tolist() == [1] * 6 + [2] * 4


def test_long_run_points_are_named():
    y = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]  # median 6.5: runs of 6 and 6, max 7
    r = run_chart(pd.DataFrame({"m": range(12), "v": y}), period="m", value="v")
    # crossings 1 < qbinom(0.05, 11, 0.5) = 3 -> every useful point carries the signal
    assert r["signal"].iloc[0] == "too few crossings (1 < 3)"
    assert not r["in_long_run"].any()


def test_public_name_still_works():
    assert ipt_analytics.p_chart is p_chart
