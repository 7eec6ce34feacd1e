"""Writing shared tables: formula neutralisation, deterministic CSV and XLSX.

Every CSV or XLSX the toolkit writes for sharing goes through this module, for two reasons:

* **Formula (CSV) injection.** A spreadsheet treats a text cell that starts with ``=``,
  ``+``, ``-``, ``@``, a tab or a carriage return as a formula. OWASP's guidance ("CSV
  Injection", https://owasp.org/www-community/attacks/CSV_Injection) is to prefix such cells
  with a single quote so they are shown as text; numbers stay numbers (a negative number is
  not text and is left alone).
* **Determinism.** The same tables give byte-identical files: CSV with fixed line endings and
  float format, XLSX with fixed workbook properties and fixed zip member timestamps (openpyxl
  stamps the current time into ``docProps/core.xml`` and each zip entry).
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

import pandas as pd

__all__ = ["neutralise", "write_csv", "write_xlsx"]

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
#: fixed timestamp for workbook properties and zip members (zip dates start in 1980)
_FIXED_TIME = datetime(2000, 1, 1)
_ZIP_TIME = (2000, 1, 1, 0, 0, 0)


def _neutral_cell(value):
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def neutralise(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells cannot be read as spreadsheet formulas.

    Text cells (and column names) starting with ``=``, ``+``, ``-``, ``@``, tab or carriage
    return get a leading single quote (OWASP CSV-injection guidance); numbers, booleans and
    missing values are untouched.

    Examples
    --------
    >>> t = pd.DataFrame({"site": ["=HYPERLINK(1)", "@SUM(A1)", "north"], "n": [-1, 2, 3]})
    >>> neutralise(t).to_dict("list")
    {'site': ["'=HYPERLINK(1)", "'@SUM(A1)", 'north'], 'n': [-1, 2, 3]}
    """
    out = frame.copy()
    for col in out.columns:
        s = out[col]
        if s.dtype == object or pd.api.types.is_string_dtype(s.dtype):
            out[col] = s.map(_neutral_cell, na_action="ignore").astype(s.dtype)
    out.columns = [_neutral_cell(str(c)) if isinstance(c, str) else c for c in out.columns]
    out.attrs = dict(frame.attrs)
    return out


def write_csv(frame: pd.DataFrame, path) -> Path:
    """Write a neutralised table as UTF-8 CSV with ``\\n`` line endings; returns the path.

    Examples
    --------
    >>> import tempfile, os
    >>> d = tempfile.mkdtemp()
    >>> p = write_csv(pd.DataFrame({"a": ["+1"], "b": [0.5]}), os.path.join(d, "t.csv"))
    >>> p.read_text()
    "a,b\\n'+1,0.5\\n"
    """
    path = Path(path)
    neutralise(frame).to_csv(path, index=False, lineterminator="\n", encoding="utf-8")
    return path


def _sheet_name(name: str, used: set) -> str:
    # Excel forbids []:*?/\ in sheet names and caps them at 31 characters
    base = re.sub(r"[\[\]:*?/\\]", "_", str(name))[:31] or "sheet"
    out, k = base, 1
    while out.lower() in used:
        k += 1
        out = f"{base[: 31 - len(str(k)) - 1]}_{k}"
    used.add(out.lower())
    return out


def write_xlsx(sheets: Mapping[str, pd.DataFrame], path, notes: pd.DataFrame | None = None) -> Path:
    """Write tables to one workbook, one sheet each (plus a ``notes`` sheet), byte-identically.

    Parameters
    ----------
    sheets : mapping of sheet name -> DataFrame (names are cut to Excel's 31 characters).
    path : output file.
    notes : optional table written last as the sheet ``notes`` (definitions, policy).

    Examples
    --------
    >>> import tempfile, os
    >>> d = tempfile.mkdtemp()
    >>> t = {"rates": pd.DataFrame({"site": ["=x"], "n": [10]})}
    >>> a = write_xlsx(t, os.path.join(d, "a.xlsx")).read_bytes()
    >>> b = write_xlsx(t, os.path.join(d, "b.xlsx")).read_bytes()
    >>> a == b
    True
    >>> pd.read_excel(os.path.join(d, "a.xlsx"), sheet_name="rates")["site"].tolist()
    ["'=x"]
    """
    from openpyxl import Workbook

    path = Path(path)
    wb = Workbook()
    wb.remove(wb.active)
    used: set = set()
    items = list(sheets.items()) + ([("notes", notes)] if notes is not None else [])
    for name, frame in items:
        ws = wb.create_sheet(_sheet_name(name, used))
        table = neutralise(frame)
        ws.append([str(c) for c in table.columns])
        for row in table.itertuples(index=False):
            ws.append([_cell(v) for v in row])
    props = wb.properties
    props.creator = "ipt_analytics"
    props.created = _FIXED_TIME
    buffer = io.BytesIO()
    wb.save(buffer)
    path.write_bytes(_fixed_zip(buffer.getvalue()))
    return path


def _cell(value):
    """openpyxl-friendly cell: NA -> empty, numpy scalars -> Python numbers."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if hasattr(value, "item"):
        return value.item()
    return value


def _fixed_zip(data: bytes) -> bytes:
    """Rewrite a zip with fixed member timestamps and fixed core-property dates."""
    stamp = _FIXED_TIME.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                # openpyxl stamps the save time as dcterms:modified
                body = re.sub(
                    rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*", rb"\g<1>" + stamp, body
                )
            fixed = zipfile.ZipInfo(info.filename, date_time=_ZIP_TIME)
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o644 << 16
            dst.writestr(fixed, body)
    return out.getvalue()
