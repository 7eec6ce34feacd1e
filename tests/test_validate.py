"""One tiny input per rejection reason, asserting the exact row and column; accounting."""

import numpy as np
import pandas as pd
import pytest

from ipt_analytics import DataWarning, SchemaError, read_sessions
from ipt_analytics.io.sessiondata import EPISODE_COLUMNS, SESSION_COLUMNS

PHQ = [f"phq9_{i}" for i in range(1, 10)]
GAD = [f"gad7_{i}" for i in range(1, 8)]


def row(client="c1", session=1, overrides=None, **kw):
    base = {
        "client_id": client,
        "session": str(session),
        "date": (pd.Timestamp("2025-01-06") + pd.Timedelta(weeks=session - 1)).strftime("%Y-%m-%d"),
        "format": "individual",
        **dict(zip(PHQ, "211111110", strict=False)),  # total 9, item 9 = 0 (no safety flag)
    }
    base.update({k: str(v) for k, v in {**kw, **(overrides or {})}.items()})
    return base


def frame(*rows):
    return pd.DataFrame(list(rows)).fillna("")


def check(df):
    data = read_sessions(df, on_error="quarantine")
    assert data.n_accepted_rows + data.n_rejected_rows + data.n_duplicates_collapsed == (
        data.n_input_rows
    )
    assert data.n_accepted_rows == data.sessions["source_row"].nunique()
    problems = data.rejected[["source_row", "column", "value", "reason"]].values.tolist()
    return problems, data


def three_sessions(changes=None):
    """Rows 2-4: sessions 1-3 of client c1; changes = {session: {column: value}}."""
    return frame(*(row(session=s, overrides=(changes or {}).get(s)) for s in (1, 2, 3)))


def test_clean_input_has_no_problems():
    problems, data = check(three_sessions())
    assert problems == []
    assert data.n_input_rows == data.n_accepted_rows == 3
    assert data.sessions["total"].tolist() == [9.0, 9.0, 9.0]


@pytest.mark.parametrize("column", ["client_id", "session", "format"])
def test_missing_required(column):
    problems, data = check(three_sessions({2: {column: ""}}))
    assert problems == [[3, column, "", "missing_required"]]
    assert data.n_rejected_rows == 1 and data.n_accepted_rows == 2


def test_missing_episode_id_when_the_column_exists():
    df = three_sessions().assign(episode_id=["e1", "", "e1"])
    assert check(df)[0] == [[3, "episode_id", "", "missing_required"]]


def test_row_without_any_rating():
    problems, _ = check(three_sessions({3: dict.fromkeys(PHQ, "")}))
    assert problems == [[4, "(ratings)", "", "missing_required"]]


def test_long_layout_missing_instrument_and_missing_scores():
    df = pd.DataFrame(
        {
            "client_id": ["a", "a", "a"],
            "session": ["1", "2", "3"],
            "format": ["group ipt"] * 3,
            "group_id": ["g1"] * 3,
            "instrument": ["phq9", "", "PHQ-9"],
            "total": ["12", "10", ""],
        }
    )
    problems, _ = check(df)
    assert problems == [
        [3, "instrument", "", "missing_required"],
        [4, "total", "", "missing_required"],
    ]


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("phq9_3", "12abc"),
        ("phq9_3", "7.5"),
        ("phq9_3", "two"),
        ("phq9_3", "1,0"),
        ("session", "2.5"),
        ("session", "two"),
        ("session", "-1"),
        ("phq9_total", "12abc"),
        ("planned_sessions", "ten"),
    ],
)
def test_non_numeric(column, value):
    changes = {2: {column: value}}
    if column == "phq9_total":
        changes[2] = {column: value}
    problems, _ = check(three_sessions(changes))
    assert problems == [[3, column, value, "non_numeric"]]


def test_whole_numbers_written_with_a_decimal_point_are_accepted():
    problems, data = check(three_sessions({2: {"session": "2.0", "phq9_1": "1.0"}}))
    assert problems == []
    assert data.sessions["session"].tolist() == [1, 2, 3]


@pytest.mark.parametrize("column", ["session", "planned_sessions"])
@pytest.mark.parametrize("value", ["0", "1001", "99999999999999999999999"])
def test_value_out_of_range(column, value):
    problems, _ = check(three_sessions({3: {column: value}}))
    assert problems == [[4, column, value, "value_out_of_range"]]


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("format", "hybrid"),
        ("problem_area", "anger"),
        ("secondary_problem_area", "loss"),
        ("medication", "maybe"),
        ("end_reason", "lost"),
    ],
)
def test_unknown_label(column, value):
    problems, data = check(three_sessions({2: {column: value}}))
    assert problems == [[3, column, value, "unknown_label"]]
    assert "accepted:" in data.rejected["message"].item()


def test_unknown_instrument_label_in_long_layout():
    df = pd.DataFrame(
        {
            "client_id": ["a"],
            "session": ["1"],
            "format": ["video"],
            "instrument": ["qids"],
            "total": ["7"],
        }
    )
    assert check(df)[0] == [[2, "instrument", "qids", "unknown_label"]]


@pytest.mark.parametrize(
    "value", ["2025-02-30", "not a date", "31/02/2025", "2025-13-01", "1850-01-01", "2025/01/13"]
)
def test_bad_date(value):
    problems, _ = check(three_sessions({2: {"date": value}}))
    assert problems == [[3, "date", value, "bad_date"]]


def test_dd_mm_yyyy_dates():
    problems, data = check(three_sessions({1: {"date": "06/01/2025"}, 2: {"date": "13/01/2025"}}))
    assert problems == []
    assert data.sessions["date"].dt.strftime("%Y-%m-%d").tolist() == [
        "2025-01-06",
        "2025-01-13",
        "2025-01-20",
    ]


def test_month_first_dates_make_ambiguous_slash_dates_bad():
    # 01/13/2025 cannot be DD/MM; then 01/06/2025 could be either, so both are rejected
    problems, data = check(three_sessions({1: {"date": "01/06/2025"}, 2: {"date": "01/13/2025"}}))
    assert problems == [
        [2, "date", "01/06/2025", "bad_date"],
        [3, "date", "01/13/2025", "bad_date"],
    ]
    assert "ambiguous" in data.rejected["message"][0]


def test_only_the_dates_of_checked_rows_decide_the_day_month_order(tmp_path):
    # Found by a differential test against the code before the speed work: a month-first
    # date in a row that yields no rating (rejected before any date is read) must not make
    # the file's other slash dates ambiguous, nor may a DataFrame category no row uses.
    path = tmp_path / "dates.csv"
    path.write_text(
        "client_id,session,date,format,phq9_total\n"
        "C1,1,05/06/2024,individual,14\n"
        "C2,1,01/13/2024,individual,\n",
        encoding="utf-8",
    )
    with pytest.warns(DataWarning, match="1 date\\(s\\) written with slashes were read day first"):
        data = read_sessions(path, on_error="quarantine")
    assert data.rejected[["source_row", "reason"]].values.tolist() == [[3, "missing_required"]]
    assert data.sessions["date"].dt.strftime("%Y-%m-%d").tolist() == ["2024-06-05"]
    dates = pd.Categorical(["05/06/2024"], categories=["05/06/2024", "01/13/2024"])
    frame_ = pd.DataFrame({"client_id": ["C1"], "session": [1], "format": ["individual"],
                           "phq9_total": [14], "date": dates})  # fmt: skip
    with pytest.warns(DataWarning, match="read day first"):
        data = read_sessions(frame_, on_error="quarantine")
    assert data.n_rejected_rows == 0
    assert data.sessions["date"].dt.strftime("%Y-%m-%d").tolist() == ["2024-06-05"]


def test_unexpected_item_in_long_layout():
    df = pd.DataFrame(
        {
            "client_id": ["a"],
            "session": ["1"],
            "format": ["video"],
            "instrument": ["gad7"],
            **{f"item_{i}": ["1"] for i in range(1, 9)},
        }
    )
    assert check(df)[0] == [[2, "item_8", "1", "unexpected_item"]]


@pytest.mark.parametrize(("column", "value"), [("phq9_3", "4"), ("phq9_9", "-1")])
def test_item_out_of_range(column, value):
    problems, _ = check(three_sessions({2: {column: value}}))
    assert problems == [[3, column, value, "item_out_of_range"]]


def test_cudos_items_up_to_4_and_items_17_18_checked():
    cudos = {f"cudos_{i}": "4" for i in range(1, 19)}
    df = frame(row(session=1, **cudos), row(session=2, **{**cudos, "cudos_18": "5"}))
    problems, data = check(df)
    assert problems == [[3, "cudos_18", "5", "item_out_of_range"]]
    s = data.sessions
    assert s.loc[s["instrument"] == "cudos", "total"].item() == 64


def test_total_out_of_range():
    problems, _ = check(three_sessions({2: {"phq9_total": "28"}}))
    assert [3, "phq9_total", "28", "total_out_of_range"] in problems


def test_bare_qids_total_above_27_is_rejected_and_below_accepted_with_a_warning():
    df = frame(row(session=1, qids_sr16_total="30"), row(session=2, qids_sr16_total="20"))
    with pytest.warns(DataWarning, match="QIDS-SR16 total"):
        problems, data = check(df)
    assert problems == [[2, "qids_sr16_total", "30", "total_out_of_range"]]
    assert "16 items" in data.rejected["message"].item()
    qids = data.sessions[data.sessions["instrument"] == "qids_sr16"]
    assert qids["scoring_rule"].item() == "given_total" and qids["total"].item() == 20


def test_too_many_missing_items_phq9_and_gad7():
    gad = dict.fromkeys(GAD, "2")
    df = frame(
        row(session=1, **{"phq9_2": "", "phq9_4": "", "phq9_7": ""}),
        row(session=2, **{**gad, "gad7_5": ""}),
        row(session=3, **{"phq9_2": "", "phq9_4": ""}),  # 2 missing: prorated, accepted
    )
    problems, data = check(df)
    assert problems == [
        [2, "phq9_2", "", "too_many_missing_items"],
        [3, "gad7_5", "", "too_many_missing_items"],
    ]
    assert data.rejected["message"][0].startswith("PHQ-9 items 2, 4, 7 missing")
    assert data.sessions["scoring_rule"].tolist() == ["prorated_mean"]


def test_total_mismatch_and_consistent_totals():
    df = frame(
        row(session=1, phq9_total="9"),  # items sum to 9: fine
        row(session=2, phq9_total="10"),  # mismatch
        row(session=3, phq9_1="", phq9_total="8"),  # 8 items sum 7 -> 7.875; 8 is fine
    )
    problems, data = check(df)
    assert problems == [[3, "phq9_total", "10", "total_mismatch"]]
    assert data.sessions["scoring_rule"].tolist() == ["sum", "prorated_mean"]


def test_prorated_total_may_be_given_rounded_either_way():
    # 8 answered items sum to 12 -> 13.5; 13 and 14 are both consistent, 15 is not
    items = {"phq9_1": "", **{c: v for c, v in zip(PHQ[1:], "22222110", strict=False)}}
    df = frame(
        row(session=1, **items, phq9_total="13"),
        row(session=2, **items, phq9_total="14"),
        row(session=3, **items, phq9_total="15"),
    )
    problems, data = check(df)
    assert problems == [[4, "phq9_total", "15", "total_mismatch"]]
    assert data.sessions["total"].tolist() == [13.5, 13.5]  # scored from the items


def test_group_without_group_id():
    df = three_sessions({2: {"format": "Group"}}).assign(group_id=["", "", ""])
    assert check(df)[0] == [[3, "group_id", "", "group_without_group_id"]]


def test_duplicate_conflict_rejects_all_conflicting_rows():
    df = frame(row(session=1), row(session=2), row(session=2, phq9_1="3"), row(session=3))
    problems, data = check(df)
    assert problems == [
        [3, "phq9_1", "2", "duplicate_conflict"],
        [4, "phq9_1", "3", "duplicate_conflict"],
    ]
    assert data.n_rejected_rows == 2 and data.n_accepted_rows == 2


def test_a_duplicate_conflict_shows_a_blank_answer_as_blank():
    # one copy answers item 3, the other leaves it blank (PHQ-9 prorates one missing item)
    df = frame(row(session=1), row(session=2), row(session=2, phq9_3=""))
    problems, _ = check(df)
    assert problems == [
        [3, "phq9_3", "1", "duplicate_conflict"],
        [4, "phq9_3", "", "duplicate_conflict"],
    ]


def test_a_later_check_sees_only_the_rows_an_earlier_check_kept():
    """The grouped checks run at once on the rows that passed the row checks; when one of
    them rejects rows, the checks after it must be re-run without those rows."""
    late = {"date": "2024-12-02"}  # before session 1: out of order if it were kept
    conflicting = row(session=3, overrides=late, phq9_1="3")
    df = frame(row(session=1), row(session=2), row(session=3, overrides=late), conflicting)
    problems, data = check(df)
    # the two session-3 rows conflict; with them gone, the dates of sessions 1-2 are in order
    assert problems == [
        [4, "phq9_1", "2", "duplicate_conflict"],
        [5, "phq9_1", "3", "duplicate_conflict"],
    ]
    assert data.n_rejected_rows == 2 and data.n_accepted_rows == 2
    # the same session 3 rows without the conflict: the date order check flags them
    problems, _ = check(frame(row(session=1), row(session=2), row(session=3, overrides=late)))
    assert [p[3] for p in problems] == ["date_order"]


def test_exact_duplicates_are_collapsed_and_counted():
    df = frame(
        row(session=1),
        row(session=2),
        row(session=2, format="Individual "),
        row(session=2),
        row(session=3),
    )
    problems, data = check(df)
    assert problems == []
    assert data.n_duplicates_collapsed == 2
    assert data.n_accepted_rows == 3
    assert data.sessions["source_row"].tolist() == [2, 3, 6]


def test_session_conflict_in_long_layout():
    df = pd.DataFrame(
        {
            "client_id": ["a", "a"],
            "session": ["1", "1"],
            "date": ["2025-01-06", "2025-01-07"],
            "format": ["video", "video"],
            "instrument": ["phq9", "gad7"],
            "total": ["12", "9"],
        }
    )
    problems, _ = check(df)
    assert problems == [
        [2, "date", "2025-01-06", "session_conflict"],
        [3, "date", "2025-01-07", "session_conflict"],
    ]


def test_episode_conflict_rejects_the_episode():
    df = three_sessions(
        {
            1: {"problem_area": "grief"},
            2: {"problem_area": "bereavement"},
            3: {"problem_area": "role dispute"},
        }
    )
    problems, data = check(df)
    assert [p[0] for p in problems] == [2, 3, 4]
    assert {p[3] for p in problems} == {"episode_conflict"}
    assert problems[0][1] == "problem_area"
    assert data.n_accepted_rows == 0


def test_episode_attributes_may_be_given_on_some_rows_only():
    problems, data = check(three_sessions({3: {"end_reason": "Completed"}}))
    assert problems == []
    assert data.episodes["end_reason"].item() == "completed"


def test_date_order_single_mistyped_date_rejects_only_its_row():
    df = frame(*(row(session=s) for s in range(1, 6)))
    df.loc[2, "date"] = "2024-12-01"  # session 3 typed a year too early
    problems, _ = check(df)
    assert problems == [[4, "date", "2024-12-01", "date_order"]]


def test_date_order_swapped_dates_reject_both_rows():
    df = frame(*(row(session=s) for s in range(1, 6)))
    df.loc[[3, 4], "date"] = df.loc[[4, 3], "date"].to_numpy()
    problems, _ = check(df)
    assert [p[:2] + [p[3]] for p in problems] == [
        [5, "date", "date_order"],
        [6, "date", "date_order"],
    ]


def test_every_problem_of_a_wide_row_is_listed_and_the_row_counted_once():
    gad = dict.fromkeys(GAD, "1")
    df = frame(row(session=1, **gad), row(session=2, **{**gad, "gad7_1": "9", "phq9_1": "x"}))
    problems, data = check(df)
    assert problems == [[3, "phq9_1", "x", "non_numeric"], [3, "gad7_1", "9", "item_out_of_range"]]
    assert data.n_rejected_rows == 1 and data.n_accepted_rows == 1
    assert len(data.sessions) == 2  # phq9 and gad7 of row 2


def test_raise_mode_lists_problems():
    df = three_sessions({2: {"phq9_3": "5"}, 3: {"format": "hybrid"}})
    with pytest.raises(SchemaError) as info:
        read_sessions(df)
    msg = str(info.value)
    assert "2 problem(s) in 2 row(s)" in msg
    assert "row 3, column 'phq9_3', value '5': item_out_of_range" in msg
    assert "Fix:" in msg
    assert info.value.problems["source_row"].tolist() == [3, 4]
    assert isinstance(info.value, ValueError)


def test_raise_mode_lists_at_most_20_problems():
    df = frame(*(row(session=s, phq9_1="x") for s in range(1, 31)))
    with pytest.raises(SchemaError) as info:
        read_sessions(df)
    assert "... and 10 more" in str(info.value)
    assert len(info.value.problems) == 30


def test_on_error_must_be_known():
    with pytest.raises(ValueError, match="on_error='ignore'.*'raise', 'quarantine'"):
        read_sessions(three_sessions(), on_error="ignore")
    with pytest.raises(ValueError, match="prorate_rounding"):
        read_sessions(three_sessions(), prorate_rounding="up")


def test_prorate_rounding_reaches_the_scores():
    df = three_sessions(
        {
            1: {
                "phq9_1": "",
                "phq9_2": "2",
                "phq9_3": "2",
                "phq9_4": "2",
                "phq9_5": "2",
                "phq9_6": "1",
                "phq9_7": "1",
                "phq9_8": "1",
                "phq9_9": "1",
            }
        }
    )
    totals = read_sessions(df, prorate_rounding="round_half_up").sessions["total"].tolist()
    assert totals == [14.0, 9.0, 9.0]  # 12 / 8 * 9 = 13.5 -> 14


def test_sessions_and_episodes_contract():
    df = frame(
        row("c1", 1, episode_id="e1", medication="no", format="video"),
        row("c1", 2, episode_id="e1", medication="yes", format="face-to-face"),
        row("c1", 3, episode_id="e1", format="in person", date="", planned_sessions="12"),
        row("c2", 1, episode_id="e2", date="2025-03-03", phq9_9="2"),
        row("c2", 2, episode_id="e2", date="2025-03-13"),
    )
    with pytest.warns(DataWarning, match="1 rating"):
        _, data = check(df)
    s = data.sessions
    assert list(s.columns) == SESSION_COLUMNS
    assert list(data.episodes.columns) == EPISODE_COLUMNS
    # the undated row of a dated episode gets no week rather than session - 1
    np.testing.assert_array_equal(s["week"].to_numpy(), [0.0, 1.0, np.nan, 0.0, 10 / 7])
    assert any("without a date" in note for note in data.notes)
    assert s["format"].tolist() == [
        "telehealth",
        "individual",
        "individual",
        "individual",
        "individual",
    ]
    assert s["safety_flag"].tolist() == [False, False, False, True, False]
    assert s["medication"].tolist()[:2] == [False, True]
    assert s["medication"].isna().tolist()[2:] == [True, True, True]
    e = data.episodes.set_index("episode_id")
    assert e.loc["e1", "format"] == "individual"  # most frequent
    assert e.loc["e1", "n_sessions"] == 3
    assert bool(e.loc["e1", "medication"]) is True
    assert pd.isna(e.loc["e2", "medication"])
    assert e.loc["e1", "planned_sessions"] == 12.0
    assert e.loc["e2", "start_date"] == pd.Timestamp("2025-03-03")
    assert e.loc["e2", "end_date"] == pd.Timestamp("2025-03-13")
    assert s["item_1"].dtype == "Int8" and s["item_10"].isna().all()
    assert s["item_1"].tolist()[:2] == [int(v) for v in s["item_1"].tolist()[:2]]
    # labels are categoricals of their whole vocabulary, identifiers plain text
    assert s["format"].cat.categories.tolist() == [
        "group", "individual", "internet", "telehealth", "telephone"]  # fmt: skip
    assert s["instrument"].cat.categories.tolist() == ["cudos", "gad7", "phq9", "qids_sr16"]
    for table, columns in [
        (s, ["instrument", "severity", "scoring_rule", "format", "problem_area",
             "secondary_problem_area", "end_reason", "contact_type"]),
        (data.episodes, ["format", "problem_area", "secondary_problem_area", "end_reason"]),
    ]:  # fmt: skip
        assert all(isinstance(table[c].dtype, pd.CategoricalDtype) for c in columns)
    for c in ["client_id", "episode_id", "therapist_id", "site", "group_id"]:
        assert pd.api.types.is_string_dtype(s[c].dtype), c
        assert not isinstance(s[c].dtype, pd.CategoricalDtype), c


def test_episode_defaults_to_client_and_summary():
    _, data = check(frame(row("a", 1), row("b", 1), row("a", 2)))
    assert data.sessions["episode_id"].tolist() == ["a", "a", "b"]
    summary = data.summary()
    assert summary["n_clients"] == 2 and summary["n_episodes"] == 2
    assert summary["date_min"] == "2025-01-06" and summary["date_max"] == "2025-01-13"
    text = repr(data)
    assert "rows read: 3" in text and "episodes: 2" in text
    assert "<table>" in data._repr_html_()


def test_summary_counts_rejections_by_reason():
    _, data = check(three_sessions({2: {"phq9_1": "x", "phq9_2": "9"}, 3: {"format": "?"}}))
    by_reason = data.summary()["rejected_rows_by_reason"]
    assert by_reason == {"item_out_of_range": 1, "non_numeric": 1, "unknown_label": 1}
    assert "unknown_label: 1" in repr(data)


def test_undated_episode_counts_weeks_by_session():
    df = frame(
        row("c1", 1, date=""),
        row("c1", 2, date=""),
        row("c1", 4, date=""),
    )
    _, data = check(df)
    assert data.sessions["week"].tolist() == [0.0, 1.0, 3.0]


# --- adversarial review (R2): regressions -------------------------------------------------


def test_future_dates_are_rejected():
    future = (pd.Timestamp.today().normalize() + pd.Timedelta(days=400)).strftime("%Y-%m-%d")
    problems, data = check(three_sessions({3: {"date": future}}))
    assert problems == [[4, "date", future, "bad_date"]]
    assert "future" in data.rejected["message"].item()


def test_iso_timestamps_with_a_utc_offset_keep_the_written_date():
    problems, data = check(
        three_sessions({1: {"date": "2025-01-06T23:30:00Z"}, 2: {"date": "2025-01-13T09:00+01:00"}})
    )
    assert problems == []
    assert data.sessions["date"].dt.strftime("%Y-%m-%d").tolist()[:2] == [
        "2025-01-06",
        "2025-01-13",
    ]


@pytest.mark.parametrize("value", ["9.5", "0.12", "26.75", "1.2"])
def test_phq9_total_with_decimals_that_no_prorating_gives_is_rejected(value):
    df = frame(*(row(session=s) for s in (1, 2)))
    df = df.drop(columns=PHQ).assign(phq9_total=["12", value])
    problems, data = check(df)
    assert problems == [[3, "phq9_total", value, "non_numeric"]]
    assert "prorated" in data.rejected["message"].item()


@pytest.mark.parametrize("value", ["10.125", "10.13", "10.1", "11.57", "1.125"])
def test_phq9_prorated_totals_given_with_decimals_are_accepted(value):
    df = frame(*(row(session=s) for s in (1, 2)))
    df = df.drop(columns=PHQ).assign(phq9_total=["12", value])
    problems, data = check(df)
    assert problems == []
    assert data.sessions["total"].tolist() == [12.0, float(value)]


@pytest.mark.parametrize("value", ["unknown", "Unknown", "not known", "n/a", "MISSING"])
@pytest.mark.parametrize("column", ["medication", "problem_area", "end_reason"])
def test_unknown_in_an_optional_label_column_is_missing_not_rejected(column, value):
    problems, data = check(three_sessions({2: {column: value}}))
    assert problems == []
    assert data.sessions[column].isna().all()


def test_unknown_in_a_required_label_column_is_rejected():
    problems, data = check(three_sessions({2: {"format": "unknown"}}))
    assert problems == [[3, "format", "unknown", "unknown_label"]]


def test_medication_y_n_and_unknown():
    df = three_sessions()
    df["medication"] = ["Y", "N", "unknown"]
    df["client_id"] = ["a", "b", "c"]
    problems, data = check(df)
    assert problems == []
    assert data.sessions["medication"].tolist() == [True, False, pd.NA]


def test_secondary_problem_area_equal_to_primary_is_rejected():
    df = three_sessions(
        {
            1: {"problem_area": "grief"},
            2: {"secondary_problem_area": "Bereavement"},
            3: {"secondary_problem_area": ""},
        }
    )
    problems, data = check(df)
    assert problems == [[3, "secondary_problem_area", "grief", "secondary_equals_primary"]]
    assert "different area" in data.rejected["message"].item()
    assert data.sessions["source_row"].tolist() == [2, 4]


def test_secondary_problem_area_different_from_primary_is_kept():
    df = three_sessions()
    df["problem_area"] = "grief"
    df["secondary_problem_area"] = "role dispute"
    problems, data = check(df)
    assert problems == []
    assert data.episodes["secondary_problem_area"].item() == "role_dispute"


def test_overlapping_episodes_of_one_client_are_noted_not_rejected():
    df = frame(
        row(session=1, episode_id="e1", date="2025-01-01"),
        row(session=2, episode_id="e1", date="2025-02-01"),
        row(session=1, episode_id="e2", date="2025-01-15"),
        row(session=1, episode_id="e3", date="2025-03-01"),
    )
    with pytest.warns(DataWarning, match="overlap"):
        problems, data = check(df)
    assert problems == []
    # the note points to the later episode by its first row (row 4), never by its ID: notes
    # reach shared output
    note = next(n for n in data.notes if "overlap" in n)
    assert "rows 4)" in note or "rows 4 " in note
    assert not any(e in note for e in ("e1", "e2", "e3"))


@pytest.mark.parametrize("seed", range(10))
def test_overlapping_episodes_are_found_as_by_hand(seed):
    # random clients with several episodes (undated ones too), against pairwise
    # comparison: an episode overlaps when it starts on or before the end of an episode of
    # the same client that comes earlier by (start, episode_id)
    import re

    from ipt_analytics.io.validate import episode_overlap_notes

    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 25))
    start = pd.Timestamp("2025-01-01") + pd.to_timedelta(rng.integers(0, 200, n), unit="D")
    length = pd.to_timedelta(rng.integers(0, 90, n), unit="D")
    episodes = pd.DataFrame({
        "episode_id": [f"e{k:02d}" for k in range(n)],
        "client_id": [f"c{k}" for k in rng.integers(0, max(1, n // 3), n)],
        "start_date": start, "end_date": start + length,
    })
    undated = rng.random(n) < 0.15
    episodes.loc[undated, ["start_date", "end_date"]] = pd.NaT
    # two to three rows an episode, the first input row not always the first listed
    sessions = pd.DataFrame({
        "episode_id": np.repeat(episodes["episode_id"], 3),
        "source_row": rng.permutation(np.arange(2, 2 + 3 * n)),
    })
    first_row = sessions.groupby("episode_id")["source_row"].min()
    hits, clients = [], set()
    dated = episodes[~undated]
    for _, mine in dated.iterrows():
        earlier = dated[(dated["client_id"] == mine["client_id"])
                        & ((dated["start_date"] < mine["start_date"])
                           | ((dated["start_date"] == mine["start_date"])
                              & (dated["episode_id"] < mine["episode_id"])))]
        if len(earlier) and mine["start_date"] <= earlier["end_date"].max():
            hits.append(int(first_row[mine["episode_id"]]))
            clients.add(mine["client_id"])
    notes = episode_overlap_notes(sessions, episodes)
    if not hits:
        assert notes == []
        return
    (note,) = notes
    assert note.startswith(f"{len(clients)} client(s) have episodes whose dates overlap")
    shown = re.search(r"starting at rows ([0-9, ]+) start", note).group(1)
    assert [int(r) for r in shown.split(", ")] == sorted(hits)[:5]


def test_gad7_with_one_item_missing_is_rejected_not_prorated():
    df = three_sessions().assign(**{g: "2" for g in GAD})
    df.loc[1, "gad7_3"] = ""
    df.loc[1, "gad7_total"] = "14"  # even a plausible total: no rule says how to fill item 3
    df["gad7_total"] = df["gad7_total"].fillna("")
    problems, data = check(df)
    assert problems == [[3, "gad7_3", "", "too_many_missing_items"]]
    assert "no missing-item rule" in data.rejected["message"].item()


def test_phq9_with_two_items_missing_is_prorated_by_hand():
    # items 2 and 9 missing: answered 2+1+1+1+1+1+1 = 8 -> 8 * 9/7 = 10.2857...
    problems, data = check(three_sessions({2: {"phq9_2": "", "phq9_9": ""}}))
    assert problems == []
    s = data.sessions.set_index("session")
    assert s.loc[2, "total"] == pytest.approx(8 * 9 / 7)
    assert s.loc[2, "scoring_rule"] == "prorated_mean"
    assert s.loc[2, "n_items_missing"] == 2


def test_day_first_reading_of_slash_dates_is_noted():
    with pytest.warns(DataWarning, match="day first"):
        _, data = check(three_sessions({1: {"date": "06/01/2025"}}))
    assert data.sessions["date"].dt.strftime("%Y-%m-%d").tolist()[0] == "2025-01-06"


def test_safety_flag_unknown_for_bare_phq9_total_and_missing_item_9():
    df = pd.DataFrame(
        {
            "client_id": ["a", "a", "b"],
            "session": ["1", "2", "1"],
            "format": ["individual"] * 3,
            "instrument": ["phq9"] * 3,
            "total": ["14", "", ""],
            **{f"item_{i}": ["", "1", "1"] for i in range(1, 9)},
            "item_9": ["", "", "2"],
        }
    )
    _, data = check(df)
    flags = data.sessions.set_index(["client_id", "session"])["safety_flag"]
    assert str(flags.dtype) == "boolean"
    assert pd.isna(flags[("a", 1)])  # bare total: item 9 unknown
    assert pd.isna(flags[("a", 2)])  # item 9 unanswered (prorated total)
    assert flags[("b", 1)] == True  # noqa: E712


def test_episode_mode_most_frequent_then_first_session():
    from ipt_analytics.io.tables import _mode

    # rows in (episode, session) order; codes -1: no value
    ep = np.array([0, 0, 1, 1, 1, 1, 2, 2, 3, 4, 4, 4, 5])
    session = np.array([1, 2, 1, 2, 3, 4, 1, 2, 1, 1, 2, 3, 1])
    codes = np.array([0, 0, 1, 0, 0, 1, -1, 2, -1, 0, 1, 1, 3])
    # 0: one value; 1: a tie, the first session's value wins; 2: the one value given;
    # 3: none; 4: the most frequent; 5: one row
    assert _mode(codes, ep, session, 6).tolist() == [0, 1, 2, -1, 1, 3]
    # every episode with one value: no sort needed, same answer
    assert _mode(np.array([2, 2, 0]), np.array([0, 0, 1]), np.array([1, 2, 1]), 2).tolist() == [
        2, 0]  # fmt: skip
