"""Every CSV and XLSX file the toolkit writes goes through this module.

A spreadsheet program executes a cell that starts with ``=``, ``+``, ``-`` or ``@`` as a
formula (and some also after a leading tab or carriage return), so a label taken from an
input file, such as ``=HYPERLINK("http://...")`` as a site name, would run when a written
table is opened ("CSV injection"). Following the OWASP guidance, :func:`neutralise` prefixes
every *text* cell that starts with one of those characters with a single quote (``'``), which
makes the spreadsheet show it as text; numbers stay numbers (``-3`` in a numeric column is
written as ``-3``). The rule applies to column names as well.

Writers: :func:`write_csv` (UTF-8, ``\\n`` line ends, no index) and :func:`write_xlsx` (one
sheet per table, via openpyxl). Both neutralise and then write; both turn an unwritable path
into an :class:`OSError` whose message names the path. Both are deterministic: the same
tables give byte-identical files (openpyxl stamps the save time into ``docProps/core.xml`` and
every zip member; the workbook is rewritten with fixed times).

Reference: OWASP, "CSV Injection", https://owasp.org/www-community/attacks/CSV_Injection
"""

from __future__ import annotations

import io
import os
import re
import zipfile
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["FORMULA_PREFIXES", "neutralise", "neutralise_text", "write_csv", "write_xlsx"]

#: fixed time for workbook properties and zip members (zip dates start in 1980)
_FIXED_TIME = datetime(2000, 1, 1)
_ZIP_TIME = (2000, 1, 1, 0, 0, 0)

#: First characters that make a spreadsheet read a cell as a formula (OWASP list).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise_text(value):
    """``value`` with a leading ``'`` when it is text starting like a formula.

    Examples
    --------
    >>> neutralise_text("=HYPERLINK(1)"), neutralise_text("north"), neutralise_text(-3)
    ("'=HYPERLINK(1)", 'north', -3)
    """
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def _neutralise_column(col: pd.Series) -> pd.Series:
    if col.dtype.kind in "biufcmM" or isinstance(col.dtype, pd.CategoricalDtype):
        if isinstance(col.dtype, pd.CategoricalDtype):
            return col.cat.rename_categories([neutralise_text(c) for c in col.cat.categories])
        return col  # numbers, booleans and dates are never formulas
    if isinstance(col.dtype, pd.StringDtype):
        starts = col.str.startswith(FORMULA_PREFIXES).fillna(False).to_numpy(dtype=bool)
        return col.mask(starts, "'" + col)
    values = col.to_numpy(dtype=object)
    out = np.array([neutralise_text(v) for v in values], dtype=object)
    return pd.Series(out, index=col.index, name=col.name)


def neutralise(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` safe to open in a spreadsheet program.

    Text cells (and column names) starting with ``=``, ``+``, ``-``, ``@``, tab or carriage
    return get a leading single quote; numeric, boolean and date columns are unchanged.

    Examples
    --------
    >>> t = pd.DataFrame({"site": ["=1+2", "@SUM(A1)", "north"], "n": [-3, 4, 5]})
    >>> neutralise(t).to_dict("list")
    {'site': ["'=1+2", "'@SUM(A1)", 'north'], 'n': [-3, 4, 5]}
    """
    out = pd.DataFrame(
        {i: _neutralise_column(frame.iloc[:, i]) for i in range(frame.shape[1])},
        index=frame.index,
    )
    out.columns = [neutralise_text(str(c)) for c in frame.columns]
    out.attrs = dict(frame.attrs)
    return out


def _writable(path) -> str:
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise OSError(f"cannot write {path!r}: it is a directory")
    if not os.path.isdir(folder):
        raise OSError(f"cannot write {path!r}: the folder {folder!r} does not exist")
    return path


def write_csv(frame: pd.DataFrame, path) -> Path:
    """Write ``frame`` as UTF-8 CSV (no index, ``\\n`` line ends) after :func:`neutralise`.

    Raises
    ------
    OSError
        The path cannot be written (missing folder, a directory, no permission); the
        message names the path.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     p = pathlib.Path(tmp) / "t.csv"
    ...     _ = write_csv(pd.DataFrame({"site": ["+cmd|x"], "n": [-1]}), p)
    ...     p.read_text()
    "site,n\\n'+cmd|x,-1\\n"
    """
    path = _writable(path)
    text = neutralise(frame).to_csv(index=False, lineterminator="\n")
    try:
        with open(path, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
    except OSError as exc:
        raise OSError(f"cannot write {path!r}: {exc.strerror or exc}") from None
    return Path(path)


def write_xlsx(
    sheets: Mapping[str, pd.DataFrame] | pd.DataFrame, path, notes: pd.DataFrame | None = None
) -> Path:
    """Write one sheet per table (``{sheet name: frame}``, or one frame) after
    :func:`neutralise`, plus a last sheet ``notes`` when given; byte-identical for the same
    tables (fixed workbook times and zip timestamps).

    Raises
    ------
    OSError
        The path cannot be written; the message names the path.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     p = pathlib.Path(tmp) / "t.xlsx"
    ...     _ = write_xlsx({"rates": pd.DataFrame({"site": ["=1+2"], "n": [4]})}, p)
    ...     pd.read_excel(p, sheet_name="rates").to_dict("list")
    {'site': ["'=1+2"], 'n': [4]}
    """
    path = _writable(path)
    if isinstance(sheets, pd.DataFrame):
        sheets = {"Sheet1": sheets}
    items = list(sheets.items()) + ([("notes", notes)] if notes is not None else [])
    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        for name, frame in items:
            safe = neutralise(frame)
            # openpyxl cannot store pandas' nullable NA: write an empty cell
            safe = safe.astype(object).where(safe.notna(), None)
            safe.to_excel(writer, sheet_name=str(name)[:31], index=False)
        writer.book.properties.creator = "ipt_analytics"
        writer.book.properties.created = _FIXED_TIME
    try:
        with open(path, "wb") as fh:
            fh.write(_fixed_zip(buffer.getvalue()))
    except OSError as exc:
        raise OSError(f"cannot write {path!r}: {exc.strerror or exc}") from None
    return Path(path)


def _fixed_zip(data: bytes) -> bytes:
    """The workbook rewritten with fixed member timestamps and fixed core-property dates."""
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
