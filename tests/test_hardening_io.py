"""Regression tests for the silent paths of issue 11: each is now a named rejection or an
explicit, documented reading (one test per failure class, asserting row, column and reason)."""

import numpy as np
import pandas as pd
import pytest

from ipt_analytics import DataWarning, SchemaError, read_sessions
from ipt_analytics.io.validate import _date_order, _in_every_lis

PHQ = [f"phq9_{i}" for i in range(1, 10)]
HEADER = "client_id,session,date,format," + ",".join(PHQ)


def row(client="c1", session=1, **kw):
    base = {
        "client_id": client,
        "session": str(session),
        "date": (pd.Timestamp("2025-01-06") + pd.Timedelta(weeks=session - 1)).strftime("%Y-%m-%d"),
        "format": "individual",
        **dict(zip(PHQ, "211111110", strict=True)),  # total 9
    }
    base.update({k: str(v) for k, v in kw.items()})
    return base


def check(df, **kw):
    data = read_sessions(df, on_error="quarantine", **kw)
    assert data.n_accepted_rows + data.n_rejected_rows + data.n_duplicates_collapsed == (
        data.n_input_rows
    )
    return data.rejected[["source_row", "column", "value", "reason"]].values.tolist(), data


def sessions(*changes):
    """Rows 2..: sessions 1.. of client c1, each updated with a dict of changes."""
    return pd.DataFrame([{**row(session=s), **c} for s, c in enumerate(changes, start=1)])


# --- non-ASCII digits: ASCII only, rejected by name, never a silently vanished rating ---


# fullwidth, Arabic-Indic and Devanagari two
@pytest.mark.parametrize("digits", ["\uff12", "\u0662", "\u0968"])
def test_non_ascii_digits_in_an_item_are_rejected_not_dropped(digits):
    problems, data = check(sessions({}, {"phq9_2": digits}, {}))
    assert problems == [[3, "phq9_2", digits, "non_numeric"]]
    # the baseline stays session 1 and no rating vanished from an accepted row
    assert data.sessions["session"].tolist() == [1, 3]


def test_non_ascii_digits_in_session_total_and_date_are_rejected():
    df = sessions({}, {"session": "\uff12"}, {"date": "\uff12\uff10\uff12\uff15-01-20"})
    df["phq9_total"] = ["9", "9", "\u0669"]  # Arabic-Indic 9
    problems, _ = check(df)
    assert [3, "session", "\uff12", "non_numeric"] in problems
    assert [4, "date", "\uff12\uff10\uff12\uff15-01-20", "bad_date"] in problems
    assert [4, "phq9_total", "\u0669", "non_numeric"] in problems


# --- values that are not exactly what they say ---


@pytest.mark.parametrize("value", ["2.9999999999999999", "3.0000000000000001", "1.5", "1e0"])
def test_item_values_not_exactly_whole_numbers_are_rejected(value):
    problems, _ = check(sessions({}, {"phq9_3": value}))
    assert problems == [[3, "phq9_3", value, "non_numeric"]]


def test_item_values_written_as_exact_whole_numbers_are_read():
    problems, data = check(sessions({"phq9_3": "1.0", "phq9_4": "+1", "phq9_5": "1.000"}))
    assert problems == [] and data.sessions["total"].tolist() == [9.0]


def test_a_total_that_is_not_exactly_representable_is_rejected():
    df = sessions({}, {})
    df = df.drop(columns=PHQ).assign(phq9_total=["12", "8.9999999999999999"])
    problems, _ = check(df)
    assert problems == [[3, "phq9_total", "8.9999999999999999", "non_numeric"]]


# --- CSV rows with too few or too many fields ---


@pytest.mark.parametrize("long_row", [True, False])
@pytest.mark.parametrize("quoted", [True, False])
def test_short_and_long_csv_rows_are_rejected_by_row_number(tmp_path, quoted, long_row):
    # both readers: the general one (quotes, or a long row) and the fast unquoted one
    path = tmp_path / "ragged.csv"
    ok = ('"c1"' if quoted else "c1") + ",{s},2025-01-{d:02d},individual,2,1,1,1,1,1,1,1,0"
    third = ok.format(s=3, d=20) + (",5,6" if long_row else "")
    lines = [HEADER, ok.format(s=1, d=6), "c1,2,2025-01-13,individual,2,1,1,1,1,1,1",
             third, "", ok.format(s=4, d=27)]  # fmt: skip
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    problems, data = check(str(path))
    expected = [[3, "(row)", "11 fields", "field_count"]]
    if long_row:
        expected.append([4, "(row)", "15 fields", "field_count"])
    assert problems == expected
    assert data.sessions["session"].tolist() == ([1, 4] if long_row else [1, 3, 4])
    assert data.n_blank_rows == 1  # an empty line is a blank line, not a short row
    msg = data.rejected["message"].iloc[0]
    assert "11 ','-separated fields, the header has 13" in msg and "Fix:" in msg


# --- spreadsheet error values and formulas without a cached value ---


def test_excel_error_cells_and_uncached_formulas_are_rejected_naming_the_cell(tmp_path):
    import openpyxl

    path = tmp_path / "errors.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["client_id", "session", "date", "format", *PHQ])
    for s in range(1, 5):
        sheet.append(["c1", s, f"2025-01-{6 + 7 * (s - 1):02d}", "individual",
                      2, 1, 1, 1, 1, 1, 1, 1, 0])  # fmt: skip
    sheet["F3"] = "#N/A"  # phq9_2 of row 3: an error value (openpyxl stores it as one)
    sheet["G4"] = "#DIV/0!"
    sheet["H5"] = "=1+1"  # written without a calculated value
    book.save(path)
    problems, data = check(str(path))
    assert problems == [
        [3, "phq9_2", "#N/A", "spreadsheet_error"],
        [4, "phq9_3", "#DIV/0!", "spreadsheet_error"],
        [5, "phq9_4", "=1+1", "spreadsheet_error"],
    ]
    assert data.sessions["session"].tolist() == [1]  # nothing prorated from a blanked item
    assert "cell H5" in data.rejected["message"].iloc[2]


def test_error_values_in_a_csv_are_rejected_in_any_contract_column():
    problems, _ = check(sessions({}, {"client_id": "#REF!"}, {"phq9_1": "#VALUE!"}))
    assert [3, "client_id", "#REF!", "spreadsheet_error"] in problems
    assert [4, "phq9_1", "#VALUE!", "spreadsheet_error"] in problems
    assert {p[0] for p in problems} == {3, 4}


# --- identifiers: byte-for-byte, no missing markers ---


@pytest.mark.parametrize("marker", ["N/A", "NULL", "NA", "-", "null", "n/a", " ", "\u00a0"])
def test_missing_markers_are_never_client_ids(marker):
    problems, data = check(sessions({}, {"client_id": marker}))
    assert len(problems) == 1 and problems[0][0] == 3 and problems[0][1] == "client_id"
    assert problems[0][3] == "missing_required"
    assert data.sessions["client_id"].tolist() == ["c1"]


def test_missing_markers_are_never_episode_or_group_ids():
    df = sessions({}, {}).assign(episode_id=["e1", "NULL"])
    problems, _ = check(df)
    assert problems == [[3, "episode_id", "NULL", "missing_required"]]
    df = sessions({"format": "group", "group_id": "N/A"}, {"format": "group", "group_id": "G1"})
    with pytest.warns(DataWarning, match="read as blank, never as an identifier: 1 group_id"):
        problems, data = check(df)
    assert problems == [[2, "group_id", "N/A", "group_without_group_id"]]
    assert "missing-value marker" in data.rejected["message"].iloc[0]
    df = sessions({"therapist_id": "-"}, {"therapist_id": "T1"})
    with pytest.warns(DataWarning, match="1 therapist_id cell"):
        problems, data = check(df)
    assert problems == [] and data.sessions["therapist_id"].isna().tolist() == [True, False]


def test_ids_are_kept_byte_for_byte_except_ascii_whitespace():
    df = pd.DataFrame([row(client=" c1\t"), row(client="c1", session=2),
                       row(client="c2\u00a0"), row(client="c3\x1f")])  # fmt: skip
    problems, data = check(df)
    assert problems == [[5, "client_id", "'c3\\x1f'", "bad_identifier"]]
    # surrounding ASCII spaces/tabs go; a non-breaking space is part of the ID
    assert sorted(data.sessions["client_id"].unique()) == ["c1", "c2\u00a0"]


# --- columns: zero-padded items read, unknown columns listed, look-alikes suggested ---


def test_zero_padded_wide_headers_are_read_and_checked():
    df = sessions({}, {}).rename(columns={f"phq9_{i}": f"phq9_0{i}" for i in range(1, 10)})
    df["phq9_total"] = ["9", "12"]  # row 3: the items say 9
    problems, data = check(df)
    assert problems == [[3, "phq9_total", "12", "total_mismatch"]]
    assert data.sessions["n_items_missing"].tolist() == [0]
    assert data.ignored_columns == []
    both = sessions({}).assign(phq9_01="2")
    with pytest.raises(SchemaError, match="more than one input column maps to"):
        read_sessions(both)


def test_stray_total_and_unknown_columns_in_a_wide_file_are_listed():
    df = sessions({}).assign(total="99", item_3="1", Notes="x")
    problems, data = check(df)
    assert problems == []
    assert data.ignored_columns == ["total", "item_3", "Notes"]


@pytest.mark.parametrize("name", ["PatientID", "Client ID", "clientid", "ID", "patient_id"])
def test_missing_client_id_with_a_lookalike_column_suggests_the_mapping(name):
    df = sessions({}).rename(columns={"client_id": name})
    with pytest.raises(SchemaError) as info:
        read_sessions(df)
    msg = str(info.value)
    assert "'client_id' missing" in msg and f'"{name}": "client_id"' in msg
    assert "--columns" in msg


def test_recommended_column_lookalike_is_a_note():
    df = sessions({}).rename(columns={"date": "Session Date"})
    with pytest.warns(DataWarning, match="'Session Date' looks like 'date'"):
        read_sessions(df)


# --- notes ---


def test_day_first_note_counts_rows_not_administrations():
    df = sessions({"date": "06/01/2025"}, {"date": "13/01/2025"}, {})
    df["gad7_total"] = "5"  # two administrations per row
    with pytest.warns(DataWarning) as caught:
        _, data = check(df)
    notes = [str(w.message) for w in caught if "day first" in str(w.message)]
    assert len(notes) == 1 and notes[0].startswith("2 date(s)")


# --- linear-time date order: many out-of-order episodes found in one grouped pass ---


def test_date_order_flags_exactly_the_swapped_sessions_of_many_episodes():
    rows = []
    for e in range(300):
        for s in range(1, 7):
            d = pd.Timestamp("2025-01-06") + pd.Timedelta(weeks=s - 1)
            if e % 3 == 0 and s in (3, 4):  # swap sessions 3 and 4
                d = pd.Timestamp("2025-01-06") + pd.Timedelta(weeks=(7 - s) - 1)
            rows.append(row(client=f"c{e}", session=s, date=d.strftime("%Y-%m-%d")))
    problems, data = check(pd.DataFrame(rows))
    bad = sorted({p[0] for p in problems})
    expected = sorted(2 + 6 * e + s - 1 for e in range(0, 300, 3) for s in (3, 4))
    assert bad == expected and {p[3] for p in problems} == {"date_order"}
    msg = data.rejected.set_index("source_row").loc[2 + 6 * 3 + 2, "message"]
    assert "episode 'c3'" in msg and "session 3: 2025-01-27" in msg


def test_date_order_matches_the_longest_sequence_rule_by_hand():
    # hand check of _in_every_lis: [1, 3, 2, 4] -> 3 and 2 are each on some longest
    # sequence (1,3,4 / 1,2,4), neither on every one; 1 and 4 are on every one
    assert _in_every_lis([1, 3, 2, 4]) == [True, False, False, True]
    assert _in_every_lis([1, 2, 9, 4, 5]) == [True, True, False, True, True]
    out = pd.DataFrame({"episode_id": ["a"] * 3, "session": [1.0, 2.0, 3.0],
                        "date": pd.to_datetime(["2025-01-01", "2025-03-01", "2025-02-01"]),
                        "source_row": [2, 3, 4]})  # fmt: skip
    found = _date_order(out, np.ones(3, dtype=bool))
    assert found[0]["idx"].tolist() == [1, 2]


@pytest.mark.parametrize("seed", range(5))
def test_elements_on_every_longest_non_decreasing_subsequence_by_brute_force(seed):
    # every subset of a short sequence of dates (ties included) is tried
    from itertools import combinations

    rng = np.random.default_rng(seed)
    for _ in range(40):
        days = rng.integers(0, 6, int(rng.integers(1, 10))).tolist()
        n = len(days)
        best, longest = 0, []
        for size in range(n, 0, -1):
            longest = [c for c in combinations(range(n), size)
                       if all(days[a] <= days[b] for a, b in zip(c[:-1], c[1:], strict=True))]
            if longest:
                best = size
                break
        assert best >= 1
        want = [all(i in c for c in longest) for i in range(n)]
        assert _in_every_lis(days) == want
