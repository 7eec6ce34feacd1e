"""Scoring rules against hand-computed cases (docs/definitions.md, "Instrument scoring")."""

import math

import numpy as np
import pandas as pd
import pytest

from ipt_analytics.instruments.scoring import score_items, severity_bands
from ipt_analytics.instruments.table import INSTRUMENTS, get_instrument


def frame(rows, n):
    return pd.DataFrame(
        [[np.nan if v is None else float(v) for v in r] for r in rows],
        columns=[f"item_{i}" for i in range(1, n + 1)],
    )


def test_phq9_complete_sum():
    out = score_items(frame([[1, 2, 3, 0, 1, 2, 3, 0, 1]], 9), "phq9")
    row = out.iloc[0]
    assert row["total"] == 13
    assert row["n_items_missing"] == 0
    assert row["scoring_rule"] == "sum"
    assert row["severity"] == "moderate"
    assert row["reason"] == ""


@pytest.mark.parametrize(
    ("rounding", "expected"),
    [("none", 22.5), ("round_half_up", 23.0), ("floor", 22.0), ("ceil", 23.0)],
)
def test_phq9_one_missing_item_is_prorated(rounding, expected):
    # 8 answered items sum to 20 -> 20 / 8 * 9 = 22.5
    out = score_items(frame([[3, 3, 3, 3, 2, 2, 2, 2, None]], 9), "phq9", prorate_rounding=rounding)
    assert out.loc[0, "total"] == expected
    assert out.loc[0, "n_items_missing"] == 1
    assert out.loc[0, "scoring_rule"] == "prorated_mean"
    assert out.loc[0, "severity"] == "severe"


@pytest.mark.parametrize(
    ("rounding", "expected"),
    [("none", 90 / 7), ("round_half_up", 13.0), ("floor", 12.0), ("ceil", 13.0)],
)
def test_phq9_two_missing_items_are_prorated(rounding, expected):
    # 7 answered items sum to 10 -> 10 / 7 * 9 = 12.857...
    out = score_items(
        frame([[None, 1, 2, 1, None, 2, 1, 2, 1]], 9), "phq9", prorate_rounding=rounding
    )
    assert out.loc[0, "total"] == pytest.approx(expected, rel=1e-12)
    assert out.loc[0, "n_items_missing"] == 2
    assert out.loc[0, "severity"] == "moderate"


def test_round_half_up():
    # 8 answered items summing to 12 -> 13.5 -> 14 (half up); summing to 10 -> 11.25 -> 11
    out = score_items(
        frame([[2, 2, 2, 2, 2, 1, 1, 0, None]], 9), "phq9", prorate_rounding="round_half_up"
    )
    assert out.loc[0, "total"] == 14.0  # 12 / 8 * 9 = 13.5 -> 14
    out = score_items(
        frame([[1, 1, 1, 1, 1, 1, 1, 3, None]], 9), "phq9", prorate_rounding="round_half_up"
    )
    assert out.loc[0, "total"] == 11.0  # 10 / 8 * 9 = 11.25 -> 11


def test_phq9_three_missing_items_are_not_scored():
    out = score_items(frame([[None, None, None, 1, 1, 1, 1, 1, 1]], 9), "phq9")
    assert math.isnan(out.loc[0, "total"])
    assert out.loc[0, "n_items_missing"] == 3
    assert out.loc[0, "scoring_rule"] == "not_scored"
    assert out.loc[0, "reason"] == "too_many_missing_items"
    assert out.loc[0, "severity"] is None


def test_all_items_missing():
    out = score_items(frame([[None] * 9], 9), "phq9")
    assert math.isnan(out.loc[0, "total"])
    assert out.loc[0, "reason"] == "all_items_missing"


def test_phq9_item9_safety_flag():
    out = score_items(
        frame([[0, 0, 0, 0, 0, 0, 0, 0, 1], [3] * 8 + [0], [0] * 8 + [None]], 9), "phq9"
    )
    # item 9 unanswered: unknown (NA), not "no risk"
    assert out["safety_flag"].astype("object").tolist() == [True, False, pd.NA]
    assert out.loc[0, "total"] == 1  # flagged although the total is minimal


@pytest.mark.parametrize("name,n", [("gad7", 7), ("qids_sr16", 16)])
def test_no_prorating_without_a_published_rule(name, n):
    rows = [[1] * n]
    rows[0][2] = None
    out = score_items(frame(rows, n), name)
    assert math.isnan(out.loc[0, "total"])
    assert out.loc[0, "reason"] == "too_many_missing_items"
    # GAD-7 has no suicide item (False: no flag can be raised); QIDS-SR16 item 12 = 1
    assert out.loc[0, "safety_flag"] == (name == "qids_sr16")


def test_gad7_sum_and_band():
    out = score_items(frame([[1, 1, 1, 1, 1, 1, 2]], 7), "gad7")
    assert out.loc[0, "total"] == 8
    assert out.loc[0, "severity"] == "mild"


def test_qids_is_the_sum_of_domain_maxima_not_of_16_items():
    items = [3, 0, 1, 2, 2, 0, 1, 3, 0, 1, 1, 0, 2, 1, 2, 3]
    # sleep max(3,0,1,2)=3; mood 2; appetite max(0,1,3,0)=3; concentration 1; self-view 1;
    # suicidal 0; interest 2; energy 1; psychomotor max(2,3)=3 -> 16
    out = score_items(frame([items], 16), "qids_sr16")
    assert out.loc[0, "total"] == 16
    assert sum(items) == 22  # the wrong plain sum
    assert out.loc[0, "scoring_rule"] == "domain_max_sum"
    assert out.loc[0, "severity"] == "severe"


def test_qids_maximum_is_27():
    out = score_items(frame([[3] * 16], 16), "qids_sr16")
    assert out.loc[0, "total"] == 27


def test_cudos_items_17_18_are_not_in_the_total():
    out = score_items(frame([[2] * 16 + [4, 4], [2] * 16 + [None, None]], 18), "cudos")
    assert out["total"].tolist() == [32.0, 32.0]
    assert out["n_items_missing"].tolist() == [0, 0]
    assert out.loc[0, "severity"] == "moderate"
    rows = [[2] * 18]
    rows[0][3] = None
    assert math.isnan(score_items(frame(rows, 18), "cudos").loc[0, "total"])


def test_cudos_items_17_18_are_range_checked():
    with pytest.raises(ValueError, match="item_17"):
        score_items(frame([[0] * 16 + [5, 0]], 18), "cudos")


@pytest.mark.parametrize("bad", [4, -1, 1.5])
def test_invalid_item_values_raise(bad):
    rows = [[0] * 9]
    rows[0][4] = bad
    with pytest.raises(ValueError, match="item_5"):
        score_items(frame(rows, 9), "phq9")


def test_argument_errors():
    with pytest.raises(ValueError, match="prorate_rounding='bankers'"):
        score_items(frame([[0] * 9], 9), "phq9", prorate_rounding="bankers")
    with pytest.raises(ValueError, match="lacks column"):
        score_items(frame([[0] * 7], 7), "phq9")
    with pytest.raises(ValueError, match="has 7 items"):
        score_items(frame([[0] * 9], 9), "gad7")
    with pytest.raises(ValueError, match="numeric"):
        score_items(pd.DataFrame({f"item_{i}": ["x"] for i in range(1, 10)}), "phq9")


def test_index_is_kept():
    items = frame([[0] * 9, [1] * 9], 9)
    items.index = ["a", "b"]
    out = score_items(items, "phq9")
    assert list(out.index) == ["a", "b"]
    assert out.loc["b", "total"] == 9


def test_severity_bands_vectorised_matches_edges():
    got = severity_bands([4, 5, 9, 10, 14, 15, 19, 20, np.nan], "phq9").tolist()
    assert got == [
        "none_minimal",
        "mild",
        "mild",
        "moderate",
        "moderate",
        "moderately_severe",
        "moderately_severe",
        "severe",
        None,
    ]


def test_phq9_safety_flag_is_unknown_when_item_9_is_missing():
    # item 9 unanswered: prorated total, but the flag is NA (unknown), never False
    out = score_items(frame([[1, 1, 1, 1, 1, 1, 1, 1, None], [1] * 8 + [0]], 9), "phq9")
    assert out["safety_flag"].isna().tolist() == [True, False]
    assert out.loc[1, "safety_flag"] == False  # noqa: E712
    assert out.loc[0, "total"] == 9.0  # 8 answered items of 1 -> 8 x 9/8


def _answers(n, **given):
    row = [0] * n
    for item, value in given.items():
        row[int(item[1:]) - 1] = value
    return row


@pytest.mark.parametrize(
    "name,n,item,threshold",
    [("phq9", 9, 9, 1), ("qids_sr16", 16, 12, 1), ("cudos", 18, 14, 1), ("cudos", 18, 15, 1)],
)
def test_safety_flag_at_the_threshold_of_each_suicide_item(name, n, item, threshold):
    # item and threshold from the instrument table; boundary: threshold - 1 -> False,
    # threshold -> True, unanswered -> NA (hand-built answers)
    inst = get_instrument(name)
    assert item in inst.safety_items and inst.safety_min == threshold
    rows = [
        _answers(n, **{f"i{item}": threshold - 1}),
        _answers(n, **{f"i{item}": threshold}),
        _answers(n, **{f"i{item}": None}),
    ]
    flags = score_items(frame(rows, n), name)["safety_flag"].astype("object").tolist()
    assert flags == [False, True, pd.NA]


def test_cudos_safety_flag_combines_items_14_and_15():
    # one endorsed item is enough even if the other is unanswered; "no" needs both answered
    rows = [
        _answers(18, i14=None, i15=2),
        _answers(18, i14=0, i15=None),
        _answers(18, i14=0, i15=0),
    ]
    flags = score_items(frame(rows, 18), "cudos")["safety_flag"].astype("object").tolist()
    assert flags == [True, pd.NA, False]


def test_safety_items_in_the_instrument_table():
    assert get_instrument("phq9").safety_items == (9,)
    assert get_instrument("qids_sr16").safety_items == (12,)
    assert get_instrument("cudos").safety_items == (14, 15)
    assert get_instrument("gad7").safety_items == () and get_instrument("gad7").safety_min is None


@pytest.mark.parametrize("rounding", ["none", "round_half_up", "floor", "ceil"])
@pytest.mark.parametrize("name", ["phq9", "gad7", "qids_sr16", "cudos"])
def test_scoring_small_integer_answers_gives_what_scoring_floats_gives(name, rounding):
    # the validator scores one-byte answers (-1: unanswered); score_items (tested above
    # against hand-computed and published scores) scores floats with NaN: same results on
    # every pattern of answers and gaps, including prorated, partial and empty rows
    from ipt_analytics.instruments.scoring import (
        safety_codes,
        safety_flags,
        score_codes,
        score_matrix,
    )

    spec = INSTRUMENTS[name]
    rng = np.random.default_rng(7)
    codes = rng.integers(spec.item_min, spec.item_max + 1, size=(4000, spec.n_items))
    gaps = rng.random(codes.shape) < rng.choice([0.0, 0.05, 0.2, 1.0], size=(4000, 1))
    codes = np.where(gaps, -1, codes).astype(np.int8)
    floats = np.where(codes < 0, np.nan, codes).astype(np.float32)
    got = score_codes(codes, spec, prorate_rounding=rounding)
    want = score_matrix(floats, spec, prorate_rounding=rounding)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)
        assert g.dtype == w.dtype
    assert safety_codes(codes, spec).tolist() == safety_flags(floats, spec).tolist()
