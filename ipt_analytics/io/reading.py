"""Read session data from a file or DataFrame into an all-text frame, then into long form.

Nothing is converted here except to text: numbers, dates and labels are parsed and checked
by :mod:`ipt_analytics.io.validate`, so that a value such as ``"12abc"`` reaches the validator
as written instead of being coerced or dropped by a reader.

Accepted sources: CSV (comma, semicolon or tab separated, detected from the header line;
UTF-8 with or without a byte-order mark, or the ``encoding`` given), ``.xlsx``/``.xlsm``
(first sheet, via calamine, or openpyxl for a workbook with formulas or error cells; a
note names any other sheets),
``.parquet`` (via pyarrow) and pandas DataFrames. Row numbers are spreadsheet-style: the
header is row 1, so the first data row is 2 (for a DataFrame, position + 2). Entirely blank
lines are not data rows; they are skipped and counted, and numbering still follows the file.
Header names are matched to the canonical names after trimming and lower-casing, and
zero-padded item numbers are read as the item (``phq9_01`` is ``phq9_1``); a name that appears
twice (or two names that map to one canonical column) is an error, never a silent choice of
one of them. Every input column that is not read is listed in ``ignored_columns`` (in a wide
file that includes a bare ``total`` or ``item_*`` column). When a required column is missing
and a column looks like it (``PatientID``, ``Client ID``, ``ID`` for ``client_id``...), reading
stops with an error that suggests the mapping.

Cells are kept as written except that leading and trailing ASCII spaces, tabs, carriage
returns and line feeds are removed (nothing else: an identifier with a trailing control
character or a non-breaking space is kept byte-for-byte, and is then a different identifier).

Some cells cannot be read as a value at all; they are recorded in
:attr:`RawInput.cell_problems` (the validator rejects their rows, naming the cell):
a CSV row with fewer or more fields than the header (``field_count``), a spreadsheet error
value such as ``#N/A`` or ``#DIV/0!`` in a contract column, and an ``.xlsx`` formula cell
without a cached value (the file was written by a program that does not calculate;
``spreadsheet_error``).
"""

from __future__ import annotations

import codecs
import csv
import datetime as _dt
import io
import itertools
import math
import os
import re
import stat
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import pandas as pd

from ipt_analytics.errors import SchemaError
from ipt_analytics.instruments.table import INSTRUMENTS
from ipt_analytics.io.coded import arrow_pool, worker_threads

__all__ = [
    "CANONICAL_COLUMNS",
    "SHARED_COLUMNS",
    "RawInput",
    "read_raw",
    "to_long",
]

#: Session-level columns (everything except the rating itself).
#: Columns that identify one session.
IDENTITY_COLUMNS = ["client_id", "episode_id", "session", "date"]
#: Session-level attributes (format is per session; the others are per episode).
ATTRIBUTE_COLUMNS = [
    "format",
    "problem_area",
    "secondary_problem_area",
    "therapist_id",
    "site",
    "group_id",
    "medication",
    "planned_sessions",
    "end_reason",
    "contact_type",  # optional: treatment / assessment / not_attended (NHS TT contacts)
]
SHARED_COLUMNS = [*IDENTITY_COLUMNS, *ATTRIBUTE_COLUMNS]
MAX_ITEMS = max(inst.n_items for inst in INSTRUMENTS.values())
ITEM_COLUMNS = [f"item_{i}" for i in range(1, MAX_ITEMS + 1)]
#: Canonical input columns of a long file.
CANONICAL_COLUMNS = [*SHARED_COLUMNS, "instrument", "total", *ITEM_COLUMNS]

_WIDE = re.compile(r"^(" + "|".join(INSTRUMENTS) + r")_([0-9]+|total)$")
_PADDED = re.compile(r"^(" + "|".join([*INSTRUMENTS, "item"]) + r")_0+([1-9][0-9]*)$")
#: Leading/trailing characters removed from every cell (ASCII whitespace only).
STRIPPED = " \t\r\n"
#: Spreadsheet error values; a cell holding one is never a value (reason spreadsheet_error).
SPREADSHEET_ERRORS = frozenset(
    ["#N/A", "#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#GETTING_DATA",
     "#SPILL!", "#CALC!", "#FIELD!", "#BLOCKED!", "#CONNECT!", "#BUSY!", "#UNKNOWN!"]
)  # fmt: skip
#: Required columns and headers that look like them (folded: lower case, letters and digits).
LOOKALIKES = {
    "client_id": ("patientid", "clientid", "id", "client", "patient", "clientno",
                  "clientnumber", "clientref", "patientno", "patientnumber", "patientref",
                  "participantid", "participant", "subjectid", "subject", "personid", "pid",
                  "nhsnumber", "caseid", "userid"),
    "session": ("sessionno", "sessionnumber", "sessionnum", "sessionnr", "sess", "visit",
                "visitno", "visitnumber", "appointment", "appointmentnumber", "sessionid"),
    "format": ("mode", "modality", "delivery", "deliveryformat", "deliverymode",
               "treatmentformat", "therapyformat", "sessionformat", "setting", "formats"),
    "instrument": ("measure", "questionnaire", "scale", "instrumentname", "outcomemeasure"),
    "episode_id": ("episode", "episodeid", "episodeno", "courseid", "course", "referralid",
                   "referral", "treatmentid", "caseid"),
    "date": ("sessiondate", "visitdate", "appointmentdate", "datecompleted", "completeddate",
             "dateofsession", "assessmentdate"),
}  # fmt: skip
_CSV_SUFFIXES = {".csv", ".txt", ".tsv"}
_EXCEL_SUFFIXES = {".xlsx", ".xlsm"}
_PARQUET_SUFFIXES = {".parquet", ".pq"}


@dataclass
class RawInput:
    """An input table as text, with canonical column names.

    Attributes
    ----------
    frame : DataFrame
        One row per non-blank input row; every column text ('' for blank; categorical,
        with ``str`` categories) except ``source_row`` (int).
    layout : str
        ``"long"`` (an ``instrument`` column) or ``"wide"`` (instrument-prefixed columns).
    source : str
        Path or ``"<DataFrame>"``, for messages.
    header_names : dict
        Canonical column -> the header as the user wrote it (before ``columns=`` mapping).
    ignored_columns : list of str
        Input columns that are not part of the data contract.
    n_blank_rows : int
        Entirely blank rows that were skipped.
    notes : list of str
        Things about the reading worth telling the user (e.g. sheets not read).
    cell_problems : DataFrame
        Cells that hold no readable value: ``source_row, column, value, reason, message``
        (reasons ``field_count`` and ``spreadsheet_error``); their rows are rejected.
    """

    frame: pd.DataFrame
    layout: str
    source: str
    header_names: dict = field(default_factory=dict)
    ignored_columns: list = field(default_factory=list)
    n_blank_rows: int = 0
    notes: list = field(default_factory=list)
    cell_problems: pd.DataFrame = field(default_factory=lambda: _cell_frame([]))

    def source_column(self, column: str, instrument: str | None = None) -> str:
        """The user's name of a canonical (long) column, for messages.

        In a wide file the items of ``phq9`` came from ``phq9_1`` etc.
        """
        if self.layout == "wide" and instrument in INSTRUMENTS:
            if column == "total":
                column = f"{instrument}_total"
            elif column.startswith("item_"):
                column = f"{instrument}_{column[5:]}"
        return self.header_names.get(column, column)


_CELL_COLUMNS = ["source_row", "column", "value", "reason", "message"]


def _cell_frame(records: list) -> pd.DataFrame:
    frame = pd.DataFrame(records, columns=_CELL_COLUMNS)
    return frame.astype({"source_row": np.int64, "column": "str", "value": "str",
                         "reason": "str", "message": "str"})  # fmt: skip


def _fmt_float(x: float) -> str:
    if math.isnan(x):
        return ""
    if math.isinf(x):
        return str(x)
    if x == math.floor(x) and abs(x) < 1e15:
        return str(int(x))
    return repr(x)


def _cell_to_str(x) -> str:
    # exact text of a typed cell; never rounds, never drops a character
    if x is None or x is pd.NA or x is pd.NaT:
        return ""
    if isinstance(x, (bool, np.bool_)):
        return "true" if x else "false"
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    if isinstance(x, (float, np.floating)):
        return _fmt_float(float(x))
    if isinstance(x, (pd.Timestamp, _dt.datetime)):
        if x.tzinfo is not None:  # the wall-clock date and time where it was recorded
            x = x.replace(tzinfo=None)
        if (x.hour, x.minute, x.second, x.microsecond) == (0, 0, 0, 0):
            return x.strftime("%Y-%m-%d")
        return x.isoformat()
    if isinstance(x, _dt.date):
        return x.isoformat()
    return str(x)


def _text_categorical(col: pd.Series) -> bool:
    return (
        isinstance(col.dtype, pd.CategoricalDtype)
        and not col.hasnans
        and pd.api.types.infer_dtype(col.cat.categories) in ("string", "empty")
    )


def _strip_categories(col: pd.Series) -> pd.Series:
    original = pd.Series(col.cat.categories.astype("str"))
    stripped = original.str.strip(STRIPPED)
    if isinstance(col.cat.categories.dtype, pd.StringDtype) and (stripped == original).all():
        return col  # nothing to trim: the codes stay as they are
    new_codes, new_values = pd.factorize(stripped, use_na_sentinel=False)
    codes = new_codes[col.array.codes]
    cats = pd.Index(np.asarray(new_values, dtype=object), dtype="str")
    return pd.Series(pd.Categorical.from_codes(codes, categories=cats), index=col.index)


def _to_text(df: pd.DataFrame) -> pd.DataFrame:
    out = {}
    for i, _name in enumerate(df.columns):
        col = df.iloc[:, i]
        kind = col.dtype.kind
        if _text_categorical(col):
            out[i] = _strip_categories(col)  # trimmed once per distinct value
            continue
        if isinstance(col.dtype, pd.StringDtype) or (
            kind == "O" and pd.api.types.infer_dtype(col, skipna=True) in ("string", "empty")
        ):
            text = col.astype("str")  # already text: no per-cell work
        elif kind == "b" and not col.hasnans:
            text = col.map({True: "true", False: "false"})
        elif kind in "iu" and not col.hasnans:
            text = col.astype("str")
        elif kind == "f" or (kind == "O" and pd.api.types.infer_dtype(col) == "floating"):
            # nullable Float64 holds pd.NA, which math.isnan() refuses: go through NaN
            values = col.to_numpy(dtype=float, na_value=np.nan)
            out[i] = _distinct_as_text(values, lambda x: _fmt_float(float(x)), col.index)
            continue
        elif kind == "O" and pd.api.types.infer_dtype(col, skipna=True) == "integer":
            out[i] = _distinct_as_text(col.to_numpy(dtype=object), _cell_to_str, col.index)
            continue
        elif kind != "O":  # datetimes (also tz-aware), nullable Int64/boolean with <NA>...
            # one type per column: each distinct value formatted once
            out[i] = _distinct_as_text(col.array, _cell_to_str, col.index)
            continue
        else:  # a column of mixed Python objects: cell by cell
            text = col.astype(object).map(_cell_to_str)
        out[i] = text.astype("str").fillna("").str.strip(STRIPPED)
    frame = pd.DataFrame(out, copy=False)  # the columns are new already: no second copy
    frame.columns = [str(c) for c in df.columns]
    return frame


def _distinct_as_text(values: np.ndarray, fmt, index: pd.Index) -> pd.Series:
    """Cells of one type (floats, Python ints, datetimes, a nullable integer or boolean
    column; missing values) as text, formatted once per distinct value: a categorical of
    the trimmed texts (missing -> ""). Only values of one type share a code (1 and True
    would, and their texts differ)."""
    codes, uniques = pd.factorize(values)
    texts = [fmt(u).strip(STRIPPED) for u in uniques] + [""]
    own, distinct = pd.factorize(np.array(texts, dtype=object))
    categorical = pd.Categorical.from_codes(
        own[codes], categories=pd.Index(np.asarray(distinct, dtype=object), dtype="str")
    )
    return pd.Series(categorical, index=index)


def _with_header(grid: pd.DataFrame) -> pd.DataFrame:
    """First row of a header-less grid as column names, kept exactly as written.

    pandas renames a repeated header (``phq9_total``, ``phq9_total.1``), which would let a
    second column of that name be ignored without a word; reading the header as data keeps
    both names, so the duplicate is reported.
    """
    if grid.empty:
        return grid
    names = []
    for i, name in enumerate(grid.iloc[0].tolist()):
        text = _cell_to_str(name).strip() if not isinstance(name, str) else name
        text = "" if text is None else text
        names.append(text if text != "" else f"Unnamed: {i}")
    body = grid.iloc[1:].reset_index(drop=True)
    body.columns = names
    return body


def _undecodable(path: str, data: bytes, exc: UnicodeDecodeError) -> ValueError:
    line = data.count(b"\n", 0, exc.start) + 1
    bad = data[exc.start : exc.end + 2]
    try:
        guess = data[max(exc.start - 15, 0) : exc.end + 15].decode("cp1252", errors="replace")
    except LookupError:  # pragma: no cover - cp1252 is always available
        guess = ""
    return ValueError(
        f"read_sessions(): {path!r} is not UTF-8 text: line {line} has the byte(s) {bad!r}, "
        f"which are not UTF-8 (read as Windows-1252 that part says {guess.strip()!r}). "
        "Expected a UTF-8 CSV (with or without BOM). Fix: save the file as 'CSV UTF-8', or, "
        "if it is in another encoding (Excel's plain 'CSV' is usually Windows-1252), pass "
        "encoding='cp1252' (or the file's encoding)."
    )


def _read_csv(path: str, encoding: str | None = None) -> tuple[pd.DataFrame, list]:
    # a regular file can be read twice (checks, then pyarrow); a pipe only once
    regular = stat.S_ISREG(os.stat(path).st_mode)
    if encoding is None and regular:
        fast = _streamed_arrow_csv(path)
        if fast is not None:
            return fast
    with open(path, "rb") as fh:
        data = fh.read()
    if encoding is None and not regular:
        fast = _arrow_csv_of_bytes(data)
        if fast is not None:
            return fast
    try:
        text = data.decode(encoding or "utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _undecodable(path, data, exc) from None
    except LookupError:
        raise ValueError(
            f"read_sessions(): encoding={encoding!r} is not a known text encoding. "
            "Fix: use e.g. 'utf-8', 'cp1252' or 'latin-1'."
        ) from None
    if not text.strip():
        raise ValueError(f"read_sessions(): {path!r} is empty; expected a header row and data.")
    header = text.split("\n", 1)[0]
    sep = _separator(header)
    fast = None if encoding is None else _arrow_csv(text.encode("utf-8"), 0, header, sep)
    if fast is None:
        fast = _unquoted_csv(text, sep)
    if fast is not None:
        return fast
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep, strict=True)
    records, start = [], 1
    try:
        for record in reader:
            records.append(record)
            start = reader.line_num + 1
    except csv.Error as exc:
        raise ValueError(
            f"read_sessions(): could not parse {path!r} as a {sep!r}-separated CSV file: "
            f"the record starting on line {start}: {exc} (an opening double quote without its "
            "closing one reads the rest of the file as one field). Fix: check the quoting (a "
            f"field with a {sep!r} or a line break must be in double quotes, and a double "
            'quote inside it doubled: "")'
        ) from None
    return _rectangular(records, sep)


def _streamed_arrow_csv(path: str, chunk: int = 1 << 24) -> tuple[pd.DataFrame, list] | None:
    """:func:`_arrow_csv` on a file without reading it whole into memory: the checks read it
    in slices of ``chunk`` bytes, then pyarrow reads it in its own blocks (it skips a UTF-8
    BOM itself). ``None`` when another reader is needed, and when the file changed between
    the two readings (size, modification time or identity): the reader that reads it once
    into memory then sees one version of it."""
    with open(path, "rb") as fh:
        before = _identity(os.fstat(fh.fileno()))
        first = fh.readline()
        found = _utf8_header(first)
        if found is None:
            return None
        start, header = found
        plain = _plain_text(itertools.chain([first[start:]], _slices(fh, chunk)))
    if plain is None:
        return None
    read = _arrow_parse(path, plain, header, _separator(header))
    return read if _identity(os.stat(path)) == before else None


def _arrow_csv_of_bytes(data: bytes) -> tuple[pd.DataFrame, list] | None:
    """:func:`_arrow_csv` on the bytes of a file read whole."""
    end = data.find(b"\n")
    found = _utf8_header(data[: end if end >= 0 else len(data)])
    if found is None:
        return None
    start, header = found
    return _arrow_csv(data, start, header, _separator(header))


def _utf8_header(line: bytes) -> tuple[int, str] | None:
    r"""(where the text starts: after a UTF-8 BOM, the header line) of a file's first line;
    ``None`` when it is not UTF-8. pyarrow reads UTF-8 bytes as they are (the values are
    checked there); any other file takes the other readers, which decode it first.

    Examples
    --------
    >>> _utf8_header(b"\xef\xbb\xbfa,b\r\n"), _utf8_header(b"a,\xff")
    ((3, 'a,b\r'), None)
    """
    start = 3 if line.startswith(codecs.BOM_UTF8) else 0
    try:
        return start, line[start:].rstrip(b"\n").decode("utf-8")
    except UnicodeDecodeError:
        return None


def _slices(fh, size: int):
    """The rest of an open file, ``size`` bytes at a time, read into one buffer that is
    reused (the consumer must not keep a slice it was given)."""
    buffer = bytearray(size)
    while n := fh.readinto(buffer):
        yield buffer if n == size else buffer[:n]


def _identity(info: os.stat_result) -> tuple:
    return info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns


class _Plain(NamedTuple):
    """What the check of a text found: its size in bytes, its carriage returns (each one
    the first byte of a CR LF line break) and whether it ends with a line break."""

    size: int
    n_cr: int
    ends_with_newline: bool


def _plain_text(pieces) -> _Plain | None:
    r"""Size, carriage returns and last line break of a text given in pieces, when it has no
    quote and no carriage return standing alone (then every line is one record to pyarrow);
    ``None`` otherwise, and for an empty text. A ``\r\n`` split between two pieces is one
    line break.

    Examples
    --------
    >>> _plain_text([b"a,b\r", b"\n1,2\r\n", b"3,4"])
    _Plain(size=13, n_cr=2, ends_with_newline=False)
    >>> _plain_text([b"a\rb\n"]), _plain_text([b'"a"'])
    (None, None)
    """
    n_cr = n_crlf = size = 0
    last = b""
    for piece in pieces:
        if not piece:
            continue
        if b'"' in piece:
            return None
        if last == b"\r" or b"\r" in piece:  # (a search for a byte is faster than a count)
            n_cr += piece.count(b"\r")
            n_crlf += piece.count(b"\r\n") + (last == b"\r" and piece[:1] == b"\n")
        size += len(piece)
        last = bytes(piece[-1:])
    if size == 0 or n_cr != n_crlf:
        return None
    return _Plain(size, n_cr, last == b"\n")


def _every_byte_read(plain: _Plain, header: str, sep: str, rows: int, value_bytes: int) -> bool:
    r"""Whether ``rows`` data rows whose values hold ``value_bytes`` bytes account for the
    whole text: the header line, the values, one separator between two fields and a line
    break (LF or CR LF) after every line but perhaps the last. A line that the reader
    dropped, merged with another or split in two would leave the sum wrong; this replaces
    counting the text's lines, a pass over the whole file.

    Examples
    --------
    >>> plain = _plain_text([b"a,b\n1,22\n3,4"])
    >>> _every_byte_read(plain, "a,b", ",", rows=2, value_bytes=5)
    True
    >>> _every_byte_read(plain, "a,b", ",", rows=1, value_bytes=3)
    False
    """
    head = len(header.rstrip("\r").encode("utf-8"))
    width = header.rstrip("\r").count(sep) + 1
    line_feeds = rows + (1 if plain.ends_with_newline else 0)  # the header's one included
    return plain.size == head + value_bytes + rows * (width - 1) + line_feeds + plain.n_cr


def _separator(header: str) -> str:
    """The separator of a header line: the most frequent of comma, semicolon and tab."""
    counts = {sep: header.count(sep) for sep in (",", ";", "\t")}
    sep = max(counts, key=lambda s: counts[s])
    return sep if counts[sep] else ","


def _arrow_csv(data: bytes, start: int, header: str, sep: str) -> tuple[pd.DataFrame, list] | None:
    """Fastest path, for a file without quotes whose every line has the header's number of
    fields: pyarrow's CSV reader, every column as text (no value is converted or dropped).
    ``None`` when another reader is needed (quotes, rows of another length, blank lines, a
    carriage return standing alone, which is a line break to some readers, not to others).
    """
    import pyarrow as pa

    plain = _plain_text([data[start:]])
    if plain is None:
        return None
    return _arrow_parse(pa.py_buffer(memoryview(data)[start:]), plain, header, sep)


def _arrow_parse(source, plain: _Plain, header: str, sep: str) -> tuple[pd.DataFrame, list] | None:
    """The text of ``source`` (checked by :func:`_plain_text`, the header first) read by
    pyarrow; ``None`` when pyarrow refuses it or its rows do not account for every byte.

    pyarrow refuses a row with another number of fields than the header; it reads a blank
    line as a row of empty values, which lacks the separators, so the byte accounting of
    :func:`_every_byte_read` sends such a file to the other readers (same result, slower)."""
    import pyarrow as pa
    from pyarrow import csv as pa_csv

    names = header.rstrip("\r").split(sep)
    width = len(names)
    auto = [f"f{i}" for i in range(width)]
    try:
        pool = arrow_pool()
        table = pa_csv.read_csv(
            source,
            memory_pool=pool,
            read_options=pa_csv.ReadOptions(column_names=auto, skip_rows=1),
            parse_options=pa_csv.ParseOptions(delimiter=sep, quote_char=False,
                                              escape_char=False, newlines_in_values=False,
                                              ignore_empty_lines=False),
            convert_options=pa_csv.ConvertOptions(
                # every value as written, as bytes: whether the text is UTF-8 is checked
                # once per distinct value below, not once per cell
                column_types={c: pa.binary() for c in auto},
                null_values=[],
                strings_can_be_null=False, quoted_strings_can_be_null=False),
        )  # fmt: skip
    except (pa.ArrowInvalid, ValueError):
        return None
    rows = table.num_rows
    if rows == 0:  # a header alone: the other readers say so
        return None
    columns = [name if name != "" else f"Unnamed: {i}" for i, name in enumerate(names)]
    # each column to codes + distinct values, columns in parallel (the hashing runs outside
    # the GIL); parsing as plain bytes and encoding here takes about 0.2 s less at 1.2 M
    # rows than pyarrow's dictionary conversion, whose per-block dictionaries are unified
    # afterwards in one thread
    text = table.columns
    del table
    try:
        with ThreadPoolExecutor(worker_threads()) as threads:
            coded = list(threads.map(lambda column: _arrow_codes(column, pool), text))
            value_bytes = sum(threads.map(_value_bytes, text))
    except pa.ArrowInvalid:  # a value that is not UTF-8: the general reader names it
        return None
    del text
    if not _every_byte_read(plain, header, sep, rows, value_bytes):
        return None
    body = pd.DataFrame(dict(zip(auto, coded, strict=True)), copy=False)
    body.columns = columns  # header names may repeat: set after the frame is built
    return body, []


def _arrow_codes(column, pool) -> pd.Categorical:
    """A pyarrow column of bytes as a categorical: codes into its distinct values (in the
    order they first occur), decoded as UTF-8; ``pyarrow.ArrowInvalid`` if one is not."""
    import pyarrow as pa
    import pyarrow.compute as pc

    short = _one_byte_codes(column)
    if short is not None:
        codes, values = short
        return pd.Categorical.from_codes(codes, categories=pd.Index(values, dtype="str"),
                                         validate=False)  # fmt: skip
    encoded = pc.dictionary_encode(column, memory_pool=pool)
    # the chunks of an encoded chunked array share one dictionary: the final one
    if encoded.num_chunks:
        codes = np.concatenate([c.indices.to_numpy() for c in encoded.chunks])
        text = encoded.chunk(0).dictionary.cast(pa.string())  # validates the UTF-8
        # the Arrow text itself becomes the categories (no Python string per value)
        categories = pd.Index(pd.array(text, dtype="str"))
    else:
        codes, categories = np.zeros(0, dtype=np.int32), pd.Index([], dtype="str")
    return pd.Categorical.from_codes(codes, categories=categories, validate=False)


def _value_bytes(column) -> int:
    """The number of bytes of the values of a pyarrow column of bytes."""
    total = 0
    for chunk in column.chunks:
        if len(chunk):
            offsets = _offsets(chunk)
            total += int(offsets[-1]) - int(offsets[0])
    return total


def _offsets(array) -> np.ndarray:
    """The value offsets of a pyarrow array of bytes, as a numpy view (no copy)."""
    return np.frombuffer(array.buffers()[1], dtype=np.int32, count=len(array) + 1,
                         offset=array.offset * 4)  # fmt: skip


def _longer_than_one_byte(chunk) -> bool:
    """Whether a pyarrow array of bytes holds a value longer than one byte."""
    return bool(len(chunk)) and int(np.diff(_offsets(chunk)).max()) > 1


def _one_byte_codes(column) -> tuple[np.ndarray, list[str]] | None:
    """Codes and distinct values of a pyarrow column of bytes whose values are all at most
    one ASCII byte long (item answers, most totals), as ``pyarrow.compute.dictionary_encode``
    gives them (values in the order they first occur), without hashing every cell: the
    byte itself is the key. ``None`` for any other column.

    Examples
    --------
    >>> import pyarrow as pa
    >>> codes, values = _one_byte_codes(pa.chunked_array([[b"3", b"", b"1"], [b"3"]]))
    >>> codes.tolist(), values
    ([0, 1, 2, 0], ['3', '', '1'])
    >>> _one_byte_codes(pa.chunked_array([[b"3", b"10"]])) is None
    True
    """
    if column.num_chunks and _longer_than_one_byte(column.chunk(0)):
        return None  # the usual case of a text column: seen in its first block
    array = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    if array.null_count or not len(array):
        return None
    offsets = _offsets(array)
    lengths = np.diff(offsets)
    if lengths.max() > 1:
        return None
    import pyarrow as pa
    import pyarrow.compute as pc

    data = np.frombuffer(array.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
    if len(data) and data.max() >= 0x80:  # not ASCII: the UTF-8 check decides
        return None
    # one byte per row, the value itself; 0xFF (never an ASCII byte) stands for the empty value
    if len(data) == len(array):
        key = data  # no empty value: the data are the keys, as they are
    else:
        key = np.full(len(array), 0xFF, dtype=np.uint8)
        key[lengths == 1] = data
    key = pa.array(key)
    # pyarrow's unique lists the values in the order they first occur, and its take reads
    # one-byte positions as they are (numpy would first widen them to 8 bytes each)
    order = pc.unique(key).to_numpy()
    lookup = np.zeros(256, dtype=np.int8)
    lookup[order] = np.arange(len(order), dtype=np.int8)
    codes = pc.take(pa.array(lookup), key).to_numpy(zero_copy_only=False, writable=True)
    return codes, ["" if v == 0xFF else chr(v) for v in order.tolist()]


def _unquoted_csv(text: str, sep: str) -> tuple[pd.DataFrame, list] | None:
    """Fast path for a file without quotes (one record per line): pandas' C parser, with
    the fields of each line counted first; ``None`` when the general reader is needed."""
    if '"' in text:
        return None
    lines = pd.Series(text.split("\n"), dtype="str")
    if len(lines) and lines.iat[-1] == "":
        lines = lines.iloc[:-1]
    lines = lines.str.rstrip("\r")
    fields = lines.str.count(re.escape(sep)).to_numpy() + 1
    width = fields[0]
    if (fields > width).any():  # pandas would refuse the file: read it the general way
        return None
    try:
        grid = pd.read_csv(io.StringIO(text), sep=sep, header=None, dtype=str,
                           keep_default_na=False, na_filter=False, skip_blank_lines=False,
                           quoting=csv.QUOTE_NONE)  # fmt: skip
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError):
        return None
    if len(grid) != len(lines):
        return None
    blank = lines.str.replace(sep, "", regex=False).str.strip(STRIPPED) == ""
    problems = [
        (k - 1, "(row)", f"{fields[k]} fields", "field_count",
         f"the row has {fields[k]} {sep!r}-separated fields, the header has {width}")
        for k in np.flatnonzero((fields != width) & ~blank.to_numpy())
    ]  # fmt: skip
    return _with_header(grid.fillna("")), problems


def _rectangular(records: list, sep: str) -> tuple[pd.DataFrame, list]:
    """Grid of a CSV file; rows with fewer or more fields than the header are recorded.

    A row whose fields are all blank is a blank line whatever its length. Other rows with
    a wrong number of fields are kept (padded or cut to the header's width) so that they are
    counted and rejected by row number, never read as blank items or shifted values.
    """
    width = len(records[0])
    problems = []
    for k in range(1, len(records)):
        row = records[k]
        if len(row) == width:
            continue
        if any(field.strip(STRIPPED) for field in row):
            problems.append(
                (k - 1, "(row)", f"{len(row)} fields", "field_count",
                 f"the row has {len(row)} {sep!r}-separated fields, the header has {width}")
            )  # fmt: skip
        records[k] = (row + [""] * width)[:width]
    grid = pd.DataFrame(records, dtype=object)
    return _with_header(grid.fillna("")), problems


def _sheet_rows(book) -> list:
    rows = [list(r) for r in book.iter_rows(values_only=True)]
    while rows and all(v is None for v in rows[-1]):
        rows.pop()
    width = max((len(r) for r in rows), default=0)
    rows = [r + [None] * (width - len(r)) for r in rows]
    while width and all(r[width - 1] is None for r in rows):
        width -= 1
        rows = [r[:width] for r in rows]
    return rows


_FORMULA_OR_ERROR = re.compile(rb"<(?:\w+:)?f[\s>/]|\st=[\"']e[\"']")
_HINTS = (b"<f", b":f", b"t=\"e\"", b"t='e'")


def _has_formula_or_error(path: str) -> bool:
    """Whether any worksheet of the workbook holds a formula or an error cell (a scan of the
    sheets' XML, in blocks; no cell is parsed)."""
    import zipfile

    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            if not (name.startswith("xl/worksheets/") and name.endswith(".xml")):
                continue
            with archive.open(name) as member:
                tail = b""
                while block := member.read(1 << 22):
                    text = tail + block
                    # the regular expression only where a plain search finds a candidate
                    # (it tries every "<" of the sheet: seconds for 100,000 rows)
                    if any(hint in text for hint in _HINTS) and _FORMULA_OR_ERROR.search(text):
                        return True
                    tail = block[-16:]
    return False


def _read_excel_calamine(path: str, notes: list) -> tuple[pd.DataFrame, list]:
    """First sheet of a workbook through calamine (fast, Rust).

    calamine reads an error cell and a formula without a cached value as an empty cell, so
    a workbook holding any formula or error cell is read by :func:`_read_excel_openpyxl`,
    which tells them apart and names them (``spreadsheet_error``); the others, typically
    large exports of values, are read here.
    """
    if _has_formula_or_error(path):
        return _read_excel_openpyxl(path, notes)
    from python_calamine import CalamineWorkbook

    book = CalamineWorkbook.from_path(path)
    try:
        sheets = list(book.sheet_names)
        values = book.get_sheet_by_index(0).to_python(skip_empty_area=False)
    finally:
        book.close()
    _note_other_sheets(path, sheets, notes)
    grid = pd.DataFrame(values, dtype=object)
    del values
    filled = (grid.ne("") & grid.notna()).to_numpy()
    if not filled.any() or not any(str(v).strip() for v in grid.to_numpy()[filled]):
        _empty_sheet(path, sheets[0])
    last_row = int(np.flatnonzero(filled.any(axis=1))[-1])
    last_col = int(np.flatnonzero(filled.any(axis=0))[-1])
    grid = grid.iloc[: last_row + 1, : last_col + 1]
    return _with_header(grid.mask(~filled[: last_row + 1, : last_col + 1], None)), []


def _note_other_sheets(path: str, sheets: list, notes: list) -> None:
    if len(sheets) > 1:
        notes.append(
            f"{os.path.basename(path)!r} has {len(sheets)} sheets ({', '.join(sheets)}); only "
            f"the first, {sheets[0]!r}, was read. To read another sheet, load it with "
            "pandas.read_excel(path, sheet_name=...) and pass the DataFrame."
        )


def _empty_sheet(path: str, sheet: str) -> None:
    raise ValueError(
        f"read_sessions(): the first sheet ({sheet!r}) of {path!r} is empty; expected "
        "a header row and data. Fix: put the data on the first sheet, or pass a DataFrame."
    )


def _read_excel_openpyxl(path: str, notes: list) -> tuple[pd.DataFrame, list]:
    """First sheet of a workbook with cached values; formulas without one are recorded.

    openpyxl gives the value a spreadsheet program last calculated (``data_only``); a formula
    cell that was never calculated (files written by scripts) has none and would look blank,
    so a second pass finds the formulas and each uncached one is recorded by cell.
    """
    from openpyxl import load_workbook
    from openpyxl.utils import get_column_letter

    book = load_workbook(path, read_only=True, data_only=True)
    try:
        sheets = book.sheetnames
        values = _sheet_rows(book[sheets[0]])
    finally:
        book.close()
    _note_other_sheets(path, sheets, notes)
    if not any(v is not None and str(v).strip() for r in values for v in r):
        _empty_sheet(path, sheets[0])
    book = load_workbook(path, read_only=True, data_only=False)
    try:
        formulas = _sheet_rows(book[sheets[0]])
    finally:
        book.close()
    problems = []
    for k, (vrow, frow) in enumerate(zip(values[1:], formulas[1:], strict=False)):
        for j, (v, f) in enumerate(zip(vrow, frow, strict=False)):
            if v is None and isinstance(f, str) and f.startswith("="):
                problems.append(
                    (k, j, f, "spreadsheet_error",
                     f"cell {get_column_letter(j + 1)}{k + 2} holds the formula {f} without a "
                     "calculated value (the file was saved by a program that does not "
                     "calculate)")
                )  # fmt: skip
    return _with_header(pd.DataFrame(values, dtype=object)), problems


#: The reader of ``.xlsx``/``.xlsm`` files.
_read_excel = _read_excel_calamine


def _read_path(path: str, encoding: str | None, notes: list) -> tuple[pd.DataFrame, list]:
    """The file as a grid with its header, and its unreadable cells as
    ``(body row position, column name or position, value, reason, message)``."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"read_sessions(): file not found: {path!r}.")
    if os.path.isdir(path):
        raise ValueError(f"read_sessions(): {path!r} is a directory; expected a data file.")
    suffix = os.path.splitext(path)[1].lower()
    if suffix in _CSV_SUFFIXES:
        return _read_csv(path, encoding)
    try:
        if suffix in _EXCEL_SUFFIXES:
            return _read_excel(path, notes)
        if suffix in _PARQUET_SUFFIXES:
            return pd.read_parquet(path), []
    except ValueError as exc:
        if str(exc).startswith("read_sessions()"):
            raise
        raise ValueError(
            f"read_sessions(): could not read {path!r} as {suffix} ({exc}). Fix: check that "
            "the file is a valid, unencrypted file of that type."
        ) from None
    except Exception as exc:  # reader libraries raise many types; re-raise plainly
        raise ValueError(
            f"read_sessions(): could not read {path!r} as {suffix} "
            f"({type(exc).__name__}: {exc}). Fix: check that the file is a valid, "
            "unencrypted file of that type."
        ) from None
    accepted = sorted(_CSV_SUFFIXES | _EXCEL_SUFFIXES | _PARQUET_SUFFIXES)
    raise ValueError(
        f"read_sessions(): cannot read {path!r}: file type {suffix or '(none)'!r} is not "
        f"supported. Accepted: {', '.join(accepted)}. Fix: save as CSV (UTF-8) or .xlsx."
    )


def _is_canonical(name: str) -> bool:
    return name in CANONICAL_COLUMNS or _WIDE.match(name) is not None


def _unpadded(name: str) -> str:
    """``phq9_01`` -> ``phq9_1``, ``item_07`` -> ``item_7``; other names unchanged."""
    m = _PADDED.match(name)
    return f"{m.group(1)}_{m.group(2)}" if m else name


def _fold(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


def _lookalike_check(columns: list, header_names: dict, mapped: bool, notes: list) -> None:
    """Stop when a required column is missing but another column looks like it; note it
    for a recommended column."""
    unread = [c for c in columns if not _is_canonical(c) and c != "source_row"]
    required = ["client_id", "session", "format"]
    if "instrument" not in columns and not any(_WIDE.match(c) for c in columns):
        required.append("instrument")
    suggestions, hints = {}, {}
    for canonical, names in LOOKALIKES.items():
        if canonical in columns:
            continue
        like = [c for c in unread if _fold(c) in names or _fold(c) == _fold(canonical)]
        if like:
            target = suggestions if canonical in required else hints
            target[canonical] = header_names.get(like[0], like[0])
    if suggestions:
        pairs = ", ".join(f'"{v}": "{k}"' for k, v in suggestions.items())
        missing = ", ".join(repr(k) for k in suggestions)
        raise SchemaError(
            f"read_sessions(): required column(s) {missing} missing; "
            + "; ".join(f"the column {v!r} looks like {k!r}" for k, v in suggestions.items())
            + f". Fix: map it: columns={{{pairs}}} in Python, or --columns '{{{pairs}}}' on "
            "the command line"
            + (" (add it to your mapping)" if mapped else "")
            + "."
        )
    for canonical, name in hints.items():
        notes.append(
            f"the column {name!r} looks like {canonical!r} but is not read; if it is, map it "
            f"(columns={{{name!r}: {canonical!r}}}, or --columns on the command line)."
        )


def _apply_columns(text: pd.DataFrame, columns: dict | None) -> tuple[pd.DataFrame, dict]:
    original = list(text.columns)
    header_names: dict[str, str] = {}
    if columns is not None:
        if not isinstance(columns, dict):
            raise TypeError(
                "read_sessions(): columns must be a dict {your column name: canonical name}, "
                f"got {type(columns).__name__}."
            )
        unknown = [k for k in columns if k not in original]
        if unknown:
            raise SchemaError(
                f"read_sessions(): columns= names {unknown} that are not in the data. "
                f"Columns present: {original}. Fix: correct the keys of the mapping."
            )
        columns = {k: _unpadded(str(v)) for k, v in columns.items()}
        bad = [v for v in columns.values() if not _is_canonical(str(v))]
        if bad:
            raise SchemaError(
                f"read_sessions(): columns= maps onto {bad}, which are not canonical column "
                f"names. Accepted: {', '.join(CANONICAL_COLUMNS)} and instrument-prefixed "
                "columns such as phq9_1 .. phq9_9, phq9_total."
            )
    renamed = []
    for name in original:
        if columns is not None and name in columns:
            new = str(columns[name])
        else:
            new = _unpadded(name.strip().lower())
            if not _is_canonical(new):
                new = name
        renamed.append(new)
        header_names.setdefault(new, name)
    dupes = sorted({n for n in renamed if renamed.count(n) > 1 and _is_canonical(n)})
    if dupes:
        raise SchemaError(
            f"read_sessions(): more than one input column maps to {dupes} "
            f"(columns: {original}). Fix: drop or rename the extra column(s)."
        )
    return text.set_axis(renamed, axis=1), header_names  # no copy of the data


def _check_wide_columns(names: list[str]) -> None:
    for name in names:
        m = _WIDE.match(name)
        if m and m.group(2) != "total":
            inst = INSTRUMENTS[m.group(1)]
            if not 1 <= int(m.group(2)) <= inst.n_items:
                raise SchemaError(
                    f"read_sessions(): column {name!r}: {inst.label} has items 1-"
                    f"{inst.n_items}. Fix: rename or drop the column."
                )
    items = [n for n in names if n.startswith("item_")]
    for name in items:
        if name not in ITEM_COLUMNS:
            raise SchemaError(
                f"read_sessions(): column {name!r} is not an item column (item_1 .. "
                f"item_{MAX_ITEMS}). Fix: rename or drop it."
            )


def read_raw(source, *, columns: dict | None = None, encoding: str | None = None) -> RawInput:
    """Read ``source`` into a :class:`RawInput` (text only, canonical names).

    Parameters
    ----------
    source : str, os.PathLike or DataFrame
    columns : dict, optional
        ``{your column name: canonical name}``.
    encoding : str, optional
        Text encoding of a CSV file (default UTF-8, with or without BOM), e.g. ``"cp1252"``
        for a file saved by Excel as plain CSV. Never guessed.

    Returns
    -------
    RawInput

    Raises
    ------
    FileNotFoundError
        The path does not exist.
    ValueError
        The file cannot be read (type, encoding, CSV structure).
    SchemaError
        Column-level problems: unknown ``columns=`` keys, duplicate columns, no rating
        columns, both long and wide rating columns, item numbers beyond the form.

    Examples
    --------
    >>> df = pd.DataFrame({"Client_ID": ["c1"], "session": [1], "format": ["group"],
    ...                    "phq9_total": [12.0]})
    >>> raw = read_raw(df)
    >>> raw.layout, raw.frame.loc[0, "phq9_total"], int(raw.frame.loc[0, "source_row"])
    ('wide', '12', 2)
    """
    notes: list[str] = []
    found: list = []
    if isinstance(source, pd.DataFrame):
        label = "<DataFrame>"
        df = source
    elif isinstance(source, (str, os.PathLike)):
        label = os.fspath(source)
        df, found = _read_path(label, encoding, notes)
    else:
        raise TypeError(
            "read_sessions(): source must be a file path or a pandas DataFrame, got "
            f"{type(source).__name__}."
        )
    text = _to_text(df)
    text, header_names = _apply_columns(text, columns)
    _check_wide_columns(list(text.columns))

    original = list(df.columns)
    cells = [
        (pos + 2, col if isinstance(col, str) else str(original[col]), value, reason, message)
        for pos, col, value, reason, message in found
    ]
    text.insert(0, "source_row", np.arange(2, len(text) + 2, dtype=np.int64))
    data_cols = [c for c in text.columns if c != "source_row"]
    blank = np.ones(len(text), dtype=bool)
    for col in data_cols:  # column by column, stopping once no row can be blank
        blank &= np.asarray(text[col] == "", dtype=bool)
        if not blank.any():
            break
    blank &= ~text["source_row"].isin([c[0] for c in cells]).to_numpy()
    n_blank = int(blank.sum())
    if n_blank:  # selecting rows copies every column: only when there is something to drop
        text = text.loc[~blank].reset_index(drop=True)
    cells += _error_values(text, header_names)
    cell_problems = _cell_frame(cells).sort_values("source_row", kind="stable")

    has_instrument = "instrument" in text.columns
    wide_cols = [c for c in text.columns if _WIDE.match(c)]
    long_rating = [c for c in text.columns if c == "total" or c in ITEM_COLUMNS]
    if has_instrument and wide_cols:
        raise SchemaError(
            "read_sessions(): the data have an 'instrument' column (long layout) and "
            f"instrument-prefixed columns {wide_cols[:5]} (wide layout). Fix: use one layout."
        )
    if not has_instrument and not wide_cols:
        hint = " ('total'/'item_*' need an 'instrument' column)" if long_rating else ""
        if sum(str(c).startswith("Unnamed: ") for c in df.columns) >= 1 or not len(df):
            hint += (
                "; the first row must be the header, one name per column (a title row, a "
                "merged header cell or a two-row header is not read)"
            )
        raise SchemaError(
            "read_sessions(): no rating columns found" + hint + ". Expected either an "
            "'instrument' column with 'total' and/or item_1 .. item_18 (long layout), or "
            "instrument-prefixed columns such as phq9_1 .. phq9_9, phq9_total, gad7_1 .. "
            f"gad7_7, qids_sr16_1 .., cudos_1 .. (wide layout). Columns present: "
            f"{list(df.columns)}. Fix: rename columns or pass columns={{...}}."
        )
    if has_instrument and not long_rating:
        raise SchemaError(
            "read_sessions(): an 'instrument' column but neither 'total' nor item_1 .. "
            "item_18 columns. Fix: add the scores."
        )
    _lookalike_check(list(text.columns), header_names, columns is not None, notes)
    layout = "long" if has_instrument else "wide"
    # a wide file reads instrument-prefixed columns only: a bare total/item_* is not read
    rating = {"instrument", "total", *ITEM_COLUMNS} if layout == "long" else set(wide_cols)
    known = set(SHARED_COLUMNS) | rating | {"source_row"}
    ignored = [header_names.get(c, c) for c in text.columns if c not in known]
    if text.empty:
        notes.append(f"{label} has column names but no data rows: nothing to analyse.")
    # codes into each column's distinct values: a tenth of the memory of the text itself
    text = pd.DataFrame(
        {i: col if name == "source_row" else _categorical(col)
         for i, (name, col) in enumerate(text.items())}
    ).set_axis(list(text.columns), axis=1)  # fmt: skip
    return RawInput(text, layout, label, header_names, ignored, n_blank, notes,
                    cell_problems.reset_index(drop=True))  # fmt: skip


def _error_values(text: pd.DataFrame, header_names: dict) -> list:
    """Spreadsheet error values (``#N/A``, ``#DIV/0!``...) in contract columns; the cells are
    blanked so that only this reason is reported for them."""
    found = []
    for col in text.columns:
        if col == "source_row" or not _is_canonical(col):
            continue
        hit = text[col].isin(SPREADSHEET_ERRORS).to_numpy()
        if not hit.any():
            continue
        name = header_names.get(col, col)
        if isinstance(text[col].dtype, pd.CategoricalDtype) and "" not in text[col].cat.categories:
            text[col] = text[col].cat.add_categories([""])
        for row, value in zip(text["source_row"].to_numpy()[hit], text[col].to_numpy()[hit],
                              strict=True):  # fmt: skip
            found.append((int(row), name, value, "spreadsheet_error",
                          f"the cell holds the spreadsheet error value {value}, not a value"))
        text.loc[hit, col] = ""
    return found


def _categorical(column: pd.Series) -> pd.Categorical:
    """A text column as codes into its distinct values (factorised once; every later take,
    comparison and per-value parse then works on small integer codes)."""
    if (
        isinstance(column.dtype, pd.CategoricalDtype)
        and isinstance(column.cat.categories.dtype, pd.StringDtype)
        and not column.hasnans
    ):
        return column.array  # already codes into distinct texts
    codes, uniques = pd.factorize(column, use_na_sentinel=False)
    return pd.Categorical.from_codes(codes, categories=pd.Index(uniques, dtype="str"))


def _not_blank(column: pd.Categorical) -> np.ndarray:
    """Per row, whether a categorical's value is not the empty text (on the codes)."""
    found = np.flatnonzero(np.asarray(column.categories == "", dtype=bool))
    if not len(found):
        return np.ones(len(column), dtype=bool)
    return column.codes != column.codes.dtype.type(found[0])


def _code_type(n_values: int) -> type:
    """The smallest integer type holding codes into ``n_values`` values (and code -1)."""
    return np.int8 if n_values < 127 else np.int16 if n_values < 32767 else np.int32


def _constant(value: str, n: int) -> pd.Categorical:
    return pd.Categorical.from_codes(np.zeros(n, dtype=np.int8), categories=pd.Index([value]))


def to_long(raw: RawInput) -> tuple[pd.DataFrame, np.ndarray]:
    """Long text frame: one row per (input row, instrument).

    Returns
    -------
    long : DataFrame
        Columns ``source_row``, ``instrument`` (as written for a long file; the canonical
        code for a wide file), the shared columns, ``total``, ``item_1 .. item_18``; absent
        columns are filled with ''. Text columns are categorical (codes into the distinct
        values as written, each category a ``str``).
    no_ratings : ndarray of int
        Source rows of a wide file without any rating (no item and no total of any
        instrument); they yield no administration.
    """
    frame = raw.frame
    columns = ["source_row", "instrument", *SHARED_COLUMNS, "total", *ITEM_COLUMNS]
    n = len(frame)
    needed = set(columns) if raw.layout == "long" else {*SHARED_COLUMNS}
    needed |= {c for c in frame.columns if _WIDE.match(c)} if raw.layout == "wide" else set()
    cats = {c: _categorical(frame[c]) for c in frame.columns if c in needed}
    if raw.layout == "long":
        parts = {"source_row": frame["source_row"].to_numpy(dtype=np.int64)}
        for c in columns[1:]:
            parts[c] = cats[c] if c in cats else _constant("", n)
        return pd.DataFrame(parts), np.array([], dtype=np.int64)

    names, given = [], []
    for name in INSTRUMENTS:
        cols = [c for c in frame.columns if c.startswith(name + "_") and _WIDE.match(c)]
        cols = [c for c in cols if _WIDE.match(c).group(1) == name]
        if not cols:
            continue
        any_given = np.zeros(n, dtype=bool)
        for c in cols:
            any_given |= _not_blank(cats[c])
        given.append(any_given)
        names.append(name)
    if not given:
        empty = {c: pd.Series(dtype="category") for c in columns[1:]}
        no_ratings = frame["source_row"].to_numpy(dtype=np.int64)
        return pd.DataFrame({"source_row": np.array([], dtype=np.int64), **empty}), no_ratings
    # the (input row, instrument) pairs with a rating, in row-major order: by input row,
    # instruments in table order (the order of the long table, found without a sort)
    any_rating = np.logical_or.reduce(given)
    no_ratings = frame["source_row"].to_numpy(dtype=np.int64)[~any_rating]
    rows, which = np.nonzero(np.stack(given, axis=1))  # row-major: no division
    which = which.astype(np.int8)
    # each instrument's input rows, and where they land in the long table
    landing = [np.flatnonzero(which == k) for k in range(len(names))]
    selections = [np.take(rows, at, mode="wrap") for at in landing]
    parts = {"source_row": np.take(frame["source_row"].to_numpy(dtype=np.int64), rows,
                                   mode="wrap")}  # fmt: skip
    parts["instrument"] = pd.Categorical.from_codes(which, categories=pd.Index(names, dtype="str"),
                                                    validate=False)  # fmt: skip

    def shared(c):
        if c not in cats:
            return _constant("", len(rows))
        # "wrap": numpy's take is then not buffered (the positions are in range)
        codes = np.take(cats[c].codes, rows, mode="wrap")
        return pd.Categorical.from_codes(codes, dtype=cats[c].dtype, validate=False)

    def rating(c):
        """The instruments' columns of one rating (e.g. phq9_3, gad7_3) as one column: the
        union of their distinct values (in order of appearance, as pandas'
        ``union_categoricals``), each instrument's codes recoded into it and put in place."""
        wide = [f"{name}_{c if c == 'total' else c[5:]}" for name in names]
        columns = [cats.get(w) for w in wide]
        empty = pd.Index([""], dtype="str")
        each = [empty if col is None else col.categories for col in columns]
        categories = each[0].append(each[1:]).unique() if len(each) > 1 else each[0]
        small = _code_type(len(categories))
        codes = np.empty(len(rows), dtype=small)
        for col, sel, at in zip(columns, selections, landing, strict=True):
            if col is None:  # the instrument has no such column: blank
                codes[at] = categories.get_loc("")
            else:
                recode = categories.get_indexer(col.categories).astype(small)
                codes[at] = np.take(recode, np.take(col.codes, sel, mode="wrap"), mode="wrap")
        return pd.Categorical.from_codes(codes, categories=categories, validate=False)

    # column by column in threads: the takes run outside the GIL
    with ThreadPoolExecutor(worker_threads()) as threads:
        columns = [*SHARED_COLUMNS, "total", *ITEM_COLUMNS]
        tasks = [shared] * len(SHARED_COLUMNS) + [rating] * (len(columns) - len(SHARED_COLUMNS))
        parts.update(zip(columns, threads.map(lambda f, c: f(c), tasks, columns), strict=True))
    return pd.DataFrame(parts, copy=False), no_ratings
