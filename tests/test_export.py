"""Formula neutralisation (OWASP CSV injection guidance) and byte-identical CSV/XLSX files."""

from __future__ import annotations

import zipfile

import pandas as pd

from ipt_analytics.reporting.export import neutralise, write_csv, write_xlsx

# OWASP "CSV Injection": cells beginning with = + - @ tab or carriage return
DANGEROUS = ["=1+1", "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A2)", "\tx", "\rx",
             '=HYPERLINK("http://x","y")']  # fmt: skip


def test_text_cells_prefixed_numbers_untouched():
    t = pd.DataFrame({"label": DANGEROUS + ["plain", None],
                      "value": [-1, 2.5, -3, 4, 5, 6, 7, 8, 9]})  # fmt: skip
    out = neutralise(t)
    assert out["label"].iloc[:7].tolist() == ["'" + v for v in DANGEROUS]
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
