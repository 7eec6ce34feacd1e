"""Spreadsheet formula neutralisation (OWASP CSV injection guidance) in every written file."""

import pandas as pd
import pytest

from ipt_analytics.reporting.export import neutralise, write_csv, write_xlsx

DANGEROUS = ['=HYPERLINK("http://x","y")', "@SUM(A1:A2)", "+cmd|' /C calc'!A0", "-2+3",
             "\tTAB", "\rCR"]  # fmt: skip


def test_every_dangerous_prefix_gets_a_single_quote_and_safe_text_does_not():
    frame = pd.DataFrame({"site": [*DANGEROUS, "north", "a=b", ""]})
    out = neutralise(frame)["site"].tolist()
    assert out[: len(DANGEROUS)] == ["'" + v for v in DANGEROUS]
    assert out[len(DANGEROUS) :] == ["north", "a=b", ""]


def test_numbers_booleans_dates_and_missing_stay_as_they_are():
    frame = pd.DataFrame({
        "n": [-3, 4], "rate": [-0.5, 1.25], "flag": [True, False],
        "when": pd.to_datetime(["2025-01-01", "2025-02-01"]),
        "nullable": pd.array([-1, None], dtype="Int64"),
        "text": pd.array(["-x", None], dtype="string"),
    })  # fmt: skip
    out = neutralise(frame)
    for col in ["n", "rate", "flag", "when", "nullable"]:
        pd.testing.assert_series_equal(out[col], frame[col])
    assert out["text"].tolist()[0] == "'-x" and pd.isna(out["text"].tolist()[1])


def test_column_names_and_categories_are_neutralised():
    frame = pd.DataFrame({"=evil": pd.Categorical(["@x", "ok"])})
    out = neutralise(frame)
    assert list(out.columns) == ["'=evil"]
    assert out.iloc[:, 0].tolist() == ["'@x", "ok"]


def test_write_csv_writes_neutralised_text_and_plain_numbers(tmp_path):
    frame = pd.DataFrame({"site": DANGEROUS[:3], "n": [-1, 2, 3]})
    path = tmp_path / "t.csv"
    write_csv(frame, path)
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    assert lines[0] == "site,n"
    assert lines[1] == '"\'=HYPERLINK(""http://x"",""y"")",-1'
    assert lines[2] == "'@SUM(A1:A2),2"
    for line in lines[1:]:
        assert not line.startswith(("=", "+", "-", "@"))
    back = pd.read_csv(path)
    assert back["n"].tolist() == [-1, 2, 3]


def test_write_xlsx_stores_text_not_formulas(tmp_path):
    import openpyxl

    frame = pd.DataFrame({"site": DANGEROUS[:3], "n": [-1, 2, 3]})
    path = tmp_path / "t.xlsx"
    write_xlsx({"rates": frame, "notes": pd.DataFrame({"note": ["=1+1"]})}, path)
    book = openpyxl.load_workbook(path)
    sheet = book["rates"]
    cells = [c for row in sheet.iter_rows() for c in row]
    assert not any(c.data_type == "f" for c in cells)  # nothing is a formula
    assert [sheet.cell(r, 1).value for r in (2, 3, 4)] == ["'" + v for v in DANGEROUS[:3]]
    assert [sheet.cell(r, 2).value for r in (2, 3, 4)] == [-1, 2, 3]  # numbers, as numbers
    assert book["notes"].cell(2, 1).value == "'=1+1"


def test_unwritable_paths_raise_oserror_naming_the_path(tmp_path):
    frame = pd.DataFrame({"n": [1]})
    with pytest.raises(OSError, match="does not exist"):
        write_csv(frame, tmp_path / "no" / "such" / "t.csv")
    with pytest.raises(OSError, match="is a directory"):
        write_xlsx(frame, tmp_path)


# --- determinism (quarterly report branch) ---------------------------------------------

import zipfile  # noqa: E402

# OWASP "CSV Injection": cells beginning with = + - @ tab or carriage return
DANGEROUS_REPORT = ["=1+1", "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A2)", "\tx", "\rx",
             '=HYPERLINK("http://x","y")']  # fmt: skip


def test_text_cells_prefixed_numbers_untouched():
    t = pd.DataFrame({"label": DANGEROUS_REPORT + ["plain", None],
                      "value": [-1, 2.5, -3, 4, 5, 6, 7, 8, 9]})  # fmt: skip
    out = neutralise(t)
    assert out["label"].iloc[:7].tolist() == ["'" + v for v in DANGEROUS_REPORT]
    assert out["label"].iloc[7] == "plain" and pd.isna(out["label"].iloc[8])
    assert out["value"].tolist() == t["value"].tolist()  # negative numbers are numbers
    assert out["value"].dtype == t["value"].dtype
    assert list(neutralise(pd.DataFrame({"=bad": [1]})).columns) == ["'=bad"]


def test_csv_and_xlsx_are_byte_identical_and_safe(tmp_path):
    t = pd.DataFrame({"site": ["=cmd", "north"], "n": [10, pd.NA], "rate": [0.5, None]})
    a = write_csv(t, tmp_path / "a.csv").read_bytes()
    b = write_csv(t, tmp_path / "b.csv").read_bytes()
    assert a == b and b"'=cmd" in a and b"\r\n" not in a
    notes = pd.DataFrame({"item": ["policy"], "definition": ["+1 is text"]})
    x = write_xlsx({"t": t}, tmp_path / "a.xlsx", notes=notes).read_bytes()
    y = write_xlsx({"t": t}, tmp_path / "b.xlsx", notes=notes).read_bytes()
    assert x == y
    with zipfile.ZipFile(tmp_path / "a.xlsx") as z:
        assert all(i.date_time == (2000, 1, 1, 0, 0, 0) for i in z.infolist())
        core = z.read("docProps/core.xml").decode()
        assert "2000-01-01T00:00:00Z" in core
    back = pd.read_excel(tmp_path / "a.xlsx", sheet_name=None)
    assert list(back) == ["t", "notes"]
    assert back["t"]["site"].tolist() == ["'=cmd", "north"]
    assert back["notes"]["definition"].tolist() == ["'+1 is text"]
