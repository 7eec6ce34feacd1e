"""The fast reader and validator give exactly the results of the code before the speed work.

The golden files in ``tests/reference/speed_io`` were written by
``tests/reference/speed_io/make_golden.py`` on the reading/validation code before issue 14
(main at c66bfb5): accepted rows (sessions, episodes), rejected rows with reasons and
messages, counts and notes. The ``.xlsx`` test reads one messy workbook with both spreadsheet
readers (calamine, the default, and openpyxl) and requires identical results.
"""

from __future__ import annotations

import hashlib
import json
import sys
import warnings
from pathlib import Path

import pandas as pd
import pytest

from ipt_analytics import read_sessions
from ipt_analytics.io import reading

REF = Path(__file__).parent / "reference" / "speed_io"
sys.path.insert(0, str(REF))
from make_golden import INPUTS, LABELS, snapshot  # noqa: E402


@pytest.mark.parametrize("name", sorted(INPUTS))
def test_same_results_as_before(name):
    golden = json.loads((REF / f"{name}.json").read_text(encoding="utf-8"))
    now = snapshot(INPUTS[name])
    counts = now.pop("counts")
    # the one intended change since the golden files: compact types for items and labels
    expected_types = dict(golden["sessions_dtypes"])
    for column in expected_types:
        if column.startswith("item_"):
            expected_types[column] = "Int8"
        elif column in LABELS:
            expected_types[column] = "category"
    golden["sessions_dtypes"] = expected_types
    for key, value in counts.items():
        assert value == golden[key], key
    for table, text in now.items():
        if f"{table}_sha256" in golden:
            assert hashlib.sha256(text.encode()).hexdigest() == golden[f"{table}_sha256"], table
        else:
            assert text == (REF / f"{name}_{table}.csv").read_text(encoding="utf-8"), table


def _messy_workbook(path: Path, *, errors: bool) -> None:
    """The messy CSV as a workbook with typed cells and a second sheet; with ``errors``, also
    error cells and a formula without a cached value (cells no reader may read as values)."""
    from openpyxl import Workbook

    frame = pd.read_csv(INPUTS["messy"])
    book = Workbook()
    sheet = book.active
    sheet.append(list(frame.columns))
    for row in frame.itertuples(index=False):
        sheet.append([None if pd.isna(v) else v for v in row])
    col = {name: i + 1 for i, name in enumerate(frame.columns)}
    sheet.cell(row=14, column=col["gad7_2"]).value = "#VALUE!"
    for line in sheet.iter_rows():  # text such as "#DIV/0!" stays text, as typed in a cell
        for cell in line:
            if cell.value in reading.SPREADSHEET_ERRORS:
                cell.data_type = "s"
    if errors:
        for row, name, value in [(5, "phq9_3", "#DIV/0!"), (9, "date", "#N/A")]:
            sheet.cell(row=row, column=col[name]).value = value
            sheet.cell(row=row, column=col[name]).data_type = "e"
        sheet.cell(row=12, column=col["phq9_total"]).value = "=SUM(N12:V12)"  # not calculated
    book.create_sheet("notes")
    book.save(path)


def _read(path, reader):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        original = reading._read_excel
        reading._read_excel = reader
        try:
            return read_sessions(path, on_error="quarantine")
        finally:
            reading._read_excel = original


def _assert_same(fast, slow):
    for table in ("sessions", "episodes", "rejected"):
        pd.testing.assert_frame_equal(getattr(fast, table), getattr(slow, table))
    assert fast.notes == slow.notes
    for count in ("n_input_rows", "n_accepted_rows", "n_rejected_rows", "n_blank_rows"):
        assert getattr(fast, count) == getattr(slow, count)


def test_xlsx_calamine_matches_openpyxl(tmp_path):
    path = tmp_path / "messy.xlsx"
    _messy_workbook(path, errors=False)
    assert not reading._has_formula_or_error(str(path))  # calamine reads every cell
    fast = _read(path, reading._read_excel_calamine)
    slow = _read(path, reading._read_excel_openpyxl)
    _assert_same(fast, slow)
    assert fast.n_rejected_rows >= 20
    assert any("2 sheets" in note for note in fast.notes)
    found = fast.rejected.loc[fast.rejected["reason"] == "spreadsheet_error"]
    assert found["source_row"].tolist() == [14, 103]  # 103: "#DIV/0!" typed in the CSV too
    # the CSV gives the same accepted rows (typed cells are read back as the same text),
    # except row 14 (changed above) and row 22, whose "2.9999999999999999" became the
    # number 3 when the CSV was typed for the workbook
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        csv = read_sessions(INPUTS["messy"], on_error="quarantine")
    assert set(fast.sessions["source_row"]) == (set(csv.sessions["source_row"]) - {14}) | {22}


def test_xlsx_error_cells_named_by_default_reader(tmp_path):
    path = tmp_path / "messy_errors.xlsx"
    _messy_workbook(path, errors=True)
    assert reading._read_excel is reading._read_excel_calamine
    assert reading._has_formula_or_error(str(path))
    fast = _read(path, reading._read_excel)
    slow = _read(path, reading._read_excel_openpyxl)
    _assert_same(fast, slow)
    found = fast.rejected.loc[fast.rejected["reason"] == "spreadsheet_error"]
    assert set(found["source_row"]) == {5, 9, 12, 14, 103}
    assert found["message"].str.contains("cell [A-Z]+12 holds the formula =SUM").any()
