"""Small-cell suppression: presets, rounding, rates, complementary suppression, identifiers.

Expected values are hand-computed from the rules in docs/definitions.md; arithmetic is
shown in comments. Recovery attacks use an independent integer linear program (scipy milp).
"""

import dataclasses

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import Bounds, LinearConstraint, milp

from ipt_analytics.errors import SchemaError
from ipt_analytics.reporting.privacy import (
    POLICIES,
    check_no_disclosure,
    drop_identifiers,
    suppress_table,
)

BOUNDARY = [0, 1, 4, 5, 7, 8, 9, 10, 11, 12, 13]
NA = None
# Hand-computed published values for BOUNDARY (None = suppressed):
EXPECTED = {
    # 0 shown; 1-7 "*"; nearest 5: 8,9,10,11,12 -> 10 (12 is 2 from 10, 3 from 15); 13 -> 15
    "nhs_digital": [0, NA, NA, NA, NA, 10, 10, 10, 10, 10, 15],
    # < 5 (0 included) NULL; ROUND(x/5.0,0)*5: 5 -> 1.0 -> 5; 7 -> 1.4 -> 1 -> 5;
    # 8 -> 1.6 -> 2 -> 10; 12 -> 2.4 -> 2 -> 10; 13 -> 2.6 -> 3 -> 15
    "nhs_tt_dashboard": [NA, NA, NA, 5, 5, 10, 10, 10, 10, 10, 15],
    # no cell 1-10; 0 allowed; no rounding
    "cms": [0, NA, NA, NA, NA, NA, NA, NA, 11, 12, 13],
    "pcornet": [0, NA, NA, NA, NA, NA, NA, NA, 11, 12, 13],
    # minimum cell 5
    "pedsnet": [0, NA, NA, 5, 7, 8, 9, 10, 11, 12, 13],
    # non-zero < 10
    "wa_doh": [0, NA, NA, NA, NA, NA, NA, 10, 11, 12, 13],
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_preset_at_its_boundaries(name):
    t = pd.DataFrame({"n": BOUNDARY})
    out = suppress_table(t, count_columns=["n"], policy=name)
    got = [None if pd.isna(v) else int(v) for v in out["n"]]
    assert got == EXPECTED[name]
    assert out["n"].dtype == "Int64"
    assert out["n_suppressed"].tolist() == [v is None for v in EXPECTED[name]]
    meta = out.attrs["suppression"]
    assert meta["policy"] == name and meta["citation"] == POLICIES[name].citation
    assert meta["n_primary"] == sum(v is None for v in EXPECTED[name])


def test_presets_are_frozen_data_with_rules_and_citations():
    assert set(POLICIES) == set(EXPECTED)
    assert POLICIES["nhs_digital"].rounding == "nearest_5"
    assert "1-7 versus the legacy 1-5 is unverified" in POLICIES["nhs_digital"].note
    assert "KM monthly update - Suppressed.sql" in POLICIES["nhs_tt_dashboard"].citation
    assert "resdac.org" in POLICIES["cms"].citation
    assert (POLICIES["pcornet"].min_shown, POLICIES["pedsnet"].min_shown) == (11, 5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        POLICIES["cms"].min_shown = 3


def test_sql_rounding_reproduces_the_nhs_england_formula():
    tt = POLICIES["nhs_tt_dashboard"]
    # ROUND(x/5.0,0)*5, SQL Server ROUND of a DECIMAL: half away from zero.
    # x = 12: 2.4 -> 2 -> 10; 13: 2.6 -> 3 -> 15; 17: 3.4 -> 15; 18: 3.6 -> 20;
    # 22: 4.4 -> 20; 23: 4.6 -> 25; 1002: 200.4 -> 1000
    hand = {12: 10, 13: 15, 17: 15, 18: 20, 22: 20, 23: 25, 1002: 1000}
    assert {x: tt.round(x) for x in hand} == hand
    # x.5 after division: 2.5 -> 3 (not 2, Python's round-half-even), 7.5/5 = 1.5 -> 2,
    # 12.5/5 = 2.5 -> 3, 17.5/5 = 3.5 -> 4; negative ties go away from zero too
    halves = {2.5: 5, 7.5: 10, 12.5: 15, 17.5: 20, -12.5: -15}
    assert {x: tt.round(x) for x in halves} == halves
    assert round(12.5 / 5) * 5 == 10  # the Python rounding the policy must not use
    # for whole counts the formula is rounding to the nearest 5 (integers never tie)
    nearest = POLICIES["nhs_digital"]
    for x in range(0, 1001):
        assert tt.round(x) == nearest.round(x) == 5 * round(x / 5)


def test_nhs_tt_dashboard_rates_use_unrounded_counts_and_blank_below_5():
    # KM monthly update - Suppressed.sql: Percentage = num / den on the unrounded COUNTs,
    # NULL when den < 5 or num < 5; counts < 5 NULL, else ROUND(x/5.0,0)*5.
    t = pd.DataFrame({"den": [4, 5, 5, 12, 7, 52], "num": [4, 4, 5, 10, 0, 13]})
    t["pct"] = 100 * t["num"] / t["den"]
    out = suppress_table(t, count_columns=["den", "num"], policy="nhs_tt_dashboard",
                         rate_columns={"pct": ("num", "den", 100)}, secondary=False)
    # den 4 < 5: all blank; 4/5: num < 5 -> num and rate blank, den 5 shown as 5;
    # 5/5: 100.0; 10/12: counts 10 and 10, rate 100 * 10 / 12 = 83.333... (not 100 from the
    # rounded counts); 0/7: num 0 < 5 -> blank (zero not shown), den 7 -> 5;
    # 13/52: counts 15 and 50, rate 25.0 (not 30.0 from the rounded counts)
    assert out["den"].tolist() == [pd.NA, 5, 5, 10, 5, 50]
    assert out["num"].tolist() == [pd.NA, pd.NA, 5, 10, pd.NA, 15]
    got = [None if pd.isna(v) else float(v) for v in out["pct"]]
    assert got[:2] == [None, None] and got[4] is None
    assert got[2] == pytest.approx(100.0)
    assert got[3] == pytest.approx(100 * 10 / 12)
    assert got[5] == pytest.approx(25.0)
    assert out["pct_suppressed"].tolist() == [True, True, False, False, True, False]
    # the other rounding preset keeps rates from the rounded counts: 100 * 15 / 50 = 30.0
    nd = suppress_table(t, count_columns=["den", "num"], policy="nhs_digital",
                        rate_columns={"pct": ("num", "den", 100)}, secondary=False)
    assert float(nd["pct"].iloc[5]) == pytest.approx(30.0)


def test_nhs_tt_dashboard_rate_can_reveal_a_small_complement():
    # Documented weakness of the NHS England rule: 10 of 12 recovered are shown as 10 and 10
    # with 83.33%. A reader knows each true count is within +/-2 of its shown value and >= 5;
    # only 10/12 gives 83.33% there, so the 2 not recovered are recovered by the reader.
    t = pd.DataFrame({"den": [12], "num": [10]})
    t["pct"] = 100 * t["num"] / t["den"]
    out = suppress_table(t, count_columns=["den", "num"], policy="nhs_tt_dashboard",
                         rate_columns={"pct": ("num", "den", 100)})
    shown_n, shown_d, rate = int(out["num"].iat[0]), int(out["den"].iat[0]), out["pct"].iat[0]
    fits = [(n, d) for d in range(shown_d - 2, shown_d + 3) for n in range(shown_n - 2, shown_n + 3)
            if min(n, d) >= 5 and n <= d and abs(100 * n / d - rate) < 1e-9]
    assert fits == [(10, 12)]
    assert "check_no_disclosure does not model it" in POLICIES["nhs_tt_dashboard"].note


def test_rates_follow_their_counts_and_are_recomputed_from_rounded_counts():
    t = pd.DataFrame({"n": [52, 40, 6], "events": [13, 3, 2]})
    t["rate_%"] = 100 * t["events"] / t["n"]
    kw = dict(count_columns=["n", "events"], denominators={"events": "n"})
    rates = {"rate_%": ("events", "n", 100)}
    out = suppress_table(t, policy="nhs_digital", rate_columns=rates, **kw)
    # row 0: 52 -> 50, 13 -> 15, rate 100 * 15 / 50 = 30.0 (not the true 25.0)
    # row 1: events 3 suppressed -> rate suppressed; row 2: n 6 suppressed -> all suppressed
    assert out["rate_%"].iloc[0] == pytest.approx(30.0)
    assert out["rate_%"].isna().tolist() == [False, True, True]
    assert out["rate_%_suppressed"].tolist() == [False, True, True]
    assert out["rate_%"].dtype == "Float64"
    cms = suppress_table(t, policy="cms", rate_columns=rates, **kw)
    # unrounded policy keeps the exact rate of shown counts: 100 * 13 / 52 = 25.0
    assert cms["rate_%"].iloc[0] == pytest.approx(25.0)
    check_no_disclosure(out)
    check_no_disclosure(cms)


def test_count_based_on_a_suppressed_denominator_is_not_shown():
    # "statistics based on 1-7 individuals not shown": 0 events out of 5 is hidden too
    t = pd.DataFrame({"n": [5, 30], "events": [0, 0]})
    out = suppress_table(t, count_columns=["n", "events"], denominators={"events": "n"})
    assert out["events"].isna().tolist() == [True, False]


def test_small_complement_of_a_shown_numerator_is_protected():
    # CMS: n = 50, events = 45 -> 5 non-events derivable as 50 - 45; events must go
    t = pd.DataFrame({"n": [50, 50], "events": [45, 30]})
    kw = dict(count_columns=["n", "events"], policy="cms", denominators={"events": "n"})
    out = suppress_table(t, **kw)
    assert out["events"].isna().tolist() == [True, False]
    assert out.attrs["suppression"]["n_secondary"] == 1
    check_no_disclosure(out)
    with pytest.raises(ValueError, match=r"row 0: n - events = 5 is a small count"):
        check_no_disclosure(suppress_table(t, secondary=False, **kw))


def _two_way():
    # sites x formats with a total column and a total row
    t = pd.DataFrame(
        {
            "site": ["A", "B", "C", "all"],
            "individual": [25, 30, 12, 67],
            "group": [3, 22, 14, 39],
            "telehealth": [40, 15, 9, 64],
        }
    )
    t["total"] = t[["individual", "group", "telehealth"]].sum(axis=1)
    t["is_total"] = t["site"] == "all"
    return t


CELLS = ["individual", "group", "telehealth", "total"]
PARTS = ["individual", "group", "telehealth"]


def _attack(original, out):
    """Min and max of each suppressed cell over all integer tables consistent with what is shown
    (row and column sums, suppressed cells >= 1 because 0 is shown): an ILP, not our code."""
    hidden = [(i, c) for c in CELLS for i in range(len(out)) if out[f"{c}_suppressed"].iat[i]]
    index = {cell: k for k, cell in enumerate(hidden)}
    rows, rhs = [], []

    def add(cells, total_cell):
        coef, const = np.zeros(len(hidden)), 0.0
        for cell, sign in [(c, 1.0) for c in cells] + [(total_cell, -1.0)]:
            if cell in index:
                coef[index[cell]] += sign
            else:
                const -= sign * original[cell[1]].iat[cell[0]]
        rows.append(coef)
        rhs.append(const)

    for i in range(len(original)):
        add([(i, c) for c in PARTS], (i, "total"))
    for c in CELLS:
        add([(i, c) for i in range(3)], (3, c))
    constraint = LinearConstraint(np.array(rows), rhs, rhs)
    ranges = {}
    for cell, k in index.items():
        bounds = []
        for sign in (1.0, -1.0):
            c = np.zeros(len(hidden))
            c[k] = sign
            res = milp(c, constraints=constraint, integrality=np.ones(len(hidden)),
                       bounds=Bounds(1, 1000))  # fmt: skip
            assert res.success
            bounds.append(sign * res.fun)
        ranges[cell] = tuple(bounds)
    return ranges


def test_secondary_suppression_defeats_recovery_from_totals():
    t = _two_way()
    kw = dict(count_columns=CELLS, policy="cms", totals="is_total", row_totals={"total": PARTS})
    out = suppress_table(t, **kw)
    # primary: A/group = 3 and C/telehealth = 9 (1-10 under CMS)
    assert out.attrs["suppression"]["n_primary"] == 2
    assert out.attrs["suppression"]["n_secondary"] >= 2
    ranges = _attack(t, out)
    assert ranges, "something must be suppressed"
    for cell, (low, high) in ranges.items():
        assert low < high, f"{cell} recoverable as {low}"
        assert low <= t[cell[1]].iat[cell[0]] <= high
    check_no_disclosure(out)
    # without complementary suppression both small cells fall out of the margins
    bare = suppress_table(t, secondary=False, **kw)
    ranges = _attack(t, bare)
    assert ranges[(0, "group")] == (3, 3) and ranges[(2, "telehealth")] == (9, 9)
    with pytest.raises(ValueError, match=r"row 0 column 'group' \(suppressed\) can be derived"):
        check_no_disclosure(bare)


def test_rounding_alone_can_leak_a_cell_and_secondary_suppression_closes_it():
    # true 1, 8, 8 with total 17; published *, 10, 10 and 15 (17 -> 15).
    # Reader: x = total - b - c with total in 13..17 and b, c in 8..12 -> x <= 17 - 16 = 1,
    # and "*" means x >= 1, so x = 1 exactly.
    t = pd.DataFrame({"g": ["x", "b", "c", "all"], "n": [1, 8, 8, 17]})
    t["is_total"] = t["g"] == "all"
    bare = suppress_table(t, count_columns=["n"], totals="is_total", secondary=False)
    assert [None if pd.isna(v) else int(v) for v in bare["n"]] == [None, 10, 10, 15]
    with pytest.raises(ValueError, match="can be derived as 1"):
        check_no_disclosure(bare)
    out = suppress_table(t, count_columns=["n"], totals="is_total")
    assert out["n_suppressed"].tolist() == [True, True, False, False]
    check_no_disclosure(out)


def test_published_group_totals_drive_complementary_suppression():
    t = pd.DataFrame({"site": ["A", "A", "A", "B", "B"], "n": [40, 2, 30, 50, 60]})
    out = suppress_table(t, count_columns=["n"], policy="wa_doh", by="site",
                         totals={"n": {"A": 72, "B": 110}})  # fmt: skip
    # in A, 2 is hidden and the next smallest (30) goes too; B has nothing small
    assert out["n_suppressed"].tolist() == [False, True, True, False, False]
    check_no_disclosure(out)
    with pytest.raises(ValueError, match="merge categories"):
        suppress_table(pd.DataFrame({"n": [3]}), count_columns=["n"], policy="cms",
                       totals={"n": 3})  # fmt: skip


def test_shown_rate_with_suppressed_count_is_reported():
    t = pd.DataFrame({"n": [40], "events": [3], "rate": [0.075]})
    out = suppress_table(t, count_columns=["n", "events"], rate_columns={"rate": ("events", "n")})
    assert pd.isna(out["rate"].iloc[0])
    leaked = out.copy()
    leaked["rate"] = 0.075
    with pytest.raises(ValueError, match="row 0 shows 'rate'"):
        check_no_disclosure(leaked)


def test_same_input_same_output():
    t = _two_way()
    kw = dict(count_columns=CELLS, policy="cms", totals="is_total", row_totals={"total": PARTS})
    a, b = suppress_table(t, **kw), suppress_table(t.copy(), **kw)
    pd.testing.assert_frame_equal(a, b)
    assert a.to_csv(index=False) == b.to_csv(index=False)
    pd.testing.assert_frame_equal(t, _two_way())  # input untouched


def test_bad_input_is_refused_with_a_clear_message():
    with pytest.raises(ValueError, match="policy='nhs'"):
        suppress_table(pd.DataFrame({"n": [1]}), count_columns=["n"], policy="nhs")
    with pytest.raises(SchemaError, match="whole numbers"):
        suppress_table(pd.DataFrame({"n": [1.5]}), count_columns=["n"])
    with pytest.raises(SchemaError, match="whole numbers"):
        suppress_table(pd.DataFrame({"n": [np.nan]}), count_columns=["n"])
    with pytest.raises(ValueError, match=r"\['m'\] are not in the table"):
        suppress_table(pd.DataFrame({"n": [1]}), count_columns=["m"])
    t = _two_way()
    t.loc[3, "group"] = 40
    with pytest.raises(ValueError, match="not the sum of its rows in 'group'"):
        suppress_table(t, count_columns=CELLS, totals="is_total")


def test_identifiers_never_survive():
    rng = np.random.default_rng(7)
    t = pd.DataFrame(
        {
            "client_id": [f"c{k}" for k in range(20)],
            "episode_id": [f"c{k}-1" for k in range(20)],
            "therapist_id": rng.choice(["t1", "t2"], 20),
            "total": rng.integers(0, 27, 20),
        }
    )
    out = drop_identifiers(t, extra=["therapist_id"])
    assert list(out.columns) == ["total"]
    text = out.to_csv(index=False)
    assert not any(v in text for v in [*t["client_id"], *t["episode_id"], "t1", "t2"])
    assert list(drop_identifiers(t[["total"]]).columns) == ["total"]  # nothing to drop is fine
    assert "client_id" in t.columns  # the caller's table is not modified


def test_disclosure_check_after_a_merge_needs_explicit_structure_not_attrs():
    # pandas drops attrs in merge/concat: the check must then say what to pass, never raise a
    # bare KeyError, and with the structure passed explicitly it finds the leak as before
    t = pd.DataFrame({"g": ["a", "b", "c"], "n": [30, 20, 4]})
    bare = suppress_table(t, count_columns=["n"], policy="cms", totals={"n": 54}, secondary=False)
    merged = bare.merge(pd.DataFrame({"g": ["a", "b", "c"], "label": ["x", "y", "z"]}), on="g")
    assert "suppression" not in merged.attrs
    with pytest.raises(ValueError, match="policy and count_columns not given"):
        check_no_disclosure(merged)
    with pytest.raises(ValueError, match="can be derived as 4"):
        check_no_disclosure(merged, policy="cms", count_columns=["n"], totals={"n": 54})
    safe = suppress_table(t, count_columns=["n"], policy="cms", totals={"n": 54})
    merged_safe = pd.concat([safe.iloc[:2], safe.iloc[2:]])
    check_no_disclosure(merged_safe, policy="cms", count_columns=["n"], totals={"n": 54})
    with pytest.raises(ValueError, match=r"columns \['events'\] are not in the table"):
        check_no_disclosure(merged_safe, policy="cms", count_columns=["n", "events"])


def test_local_codes_hide_the_identifier_order_and_are_deterministic():
    from ipt_analytics.reporting.privacy import local_codes

    ids = pd.Series(["T07", "T01", "T07", "T03", "T01", "T07", None])
    codes = local_codes(ids)
    # T07 has 3 episodes -> T1, T01 has 2 -> T2, T03 has 1 -> T3; missing stays missing
    assert codes.tolist()[:6] == ["T1", "T2", "T1", "T3", "T2", "T1"] and pd.isna(codes.iloc[6])
    assert local_codes(ids).equals(codes)
    # equal counts: not alphabetical, but the same every time
    tied = local_codes(pd.Series([f"therapist {k}" for k in range(12)]))
    assert tied.nunique() == 12 and set(tied) == {f"T{k:02d}" for k in range(1, 13)}
    assert tied.equals(local_codes(pd.Series([f"therapist {k}" for k in range(12)])))
