"""Reading files and frames: CSV dialects, Excel, Parquet, column mapping, layouts."""

import os
import threading

import numpy as np
import pandas as pd
import pytest

from ipt_analytics import DataWarning, SchemaError, read_sessions
from ipt_analytics.io.reading import read_raw

PHQ = [f"phq9_{i}" for i in range(1, 10)]


def wide_frame():
    rows = []
    for client, items in [
        ("c1", ["1", "2", "0", "3", "1", "0", "2", "1", "0"]),
        ("c2", ["3", "3", "3", "3", "3", "3", "3", "3", "1"]),
    ]:
        for session in (1, 2):
            rows.append(
                {
                    "client_id": client,
                    "session": str(session),
                    "date": f"2025-01-{6 + 7 * (session - 1):02d}",
                    "format": "individual",
                    **dict(zip(PHQ, items, strict=False)),
                    "gad7_1": "1",
                    "gad7_2": "1",
                    "gad7_3": "1",
                    "gad7_4": "1",
                    "gad7_5": "1",
                    "gad7_6": "1",
                    "gad7_7": "2",
                }
            )
    return pd.DataFrame(rows)


def test_csv_comma_semicolon_and_bom_give_the_same_sessions(tmp_path):
    df = wide_frame()
    comma = tmp_path / "comma.csv"
    semi = tmp_path / "semi.csv"
    bom = tmp_path / "bom.csv"
    df.to_csv(comma, index=False)
    df.to_csv(semi, index=False, sep=";")
    bom.write_bytes(b"\xef\xbb\xbf" + comma.read_bytes())
    ref = read_sessions(df).sessions
    for path in (comma, semi, bom):
        got = read_sessions(path).sessions
        pd.testing.assert_frame_equal(got, ref)
    assert list(read_raw(bom).frame.columns)[1] == "client_id"  # BOM not in the header
    # sorted by episode, session, instrument (gad7 before phq9)
    assert ref["total"].tolist() == [8.0, 10.0, 8.0, 10.0, 8.0, 25.0, 8.0, 25.0]


def test_xlsx_and_parquet_round_trips(tmp_path):
    df = wide_frame()
    ref = read_sessions(df).sessions
    typed = df.copy()
    for c in ["session", *PHQ]:
        typed[c] = typed[c].astype(int)
    typed["date"] = pd.to_datetime(typed["date"])
    typed.loc[0, "phq9_9"] = None  # float column with a blank -> prorated, as in the CSV
    xlsx = tmp_path / "s.xlsx"
    parquet = tmp_path / "s.parquet"
    typed.to_excel(xlsx, index=False)
    typed.to_parquet(parquet, index=False)
    expected = df.copy()
    expected.loc[0, "phq9_9"] = ""
    ref = read_sessions(expected).sessions
    for path in (xlsx, parquet):
        got = read_sessions(path).sessions
        pd.testing.assert_frame_equal(got, ref)
    first_phq9 = ref[(ref["source_row"] == 2) & (ref["instrument"] == "phq9")]
    assert first_phq9["scoring_rule"].item() == "prorated_mean"


def test_typed_frame_values_are_read_exactly():
    df = wide_frame()
    df["phq9_1"] = [1.0, 2.5, 0.0, 3.0]  # 2.5 must not become 2 or 3
    data = read_sessions(df, on_error="quarantine")
    bad = data.rejected
    assert bad[["source_row", "column", "value", "reason"]].values.tolist() == [
        [3, "phq9_1", "2.5", "non_numeric"]
    ]


def test_columns_mapping():
    df = wide_frame().rename(columns={"client_id": "PatientID", "session": "Visit"})
    data = read_sessions(df, columns={"PatientID": "client_id", "Visit": "session"})
    assert data.sessions["client_id"].unique().tolist() == ["c1", "c2"]
    with pytest.raises(SchemaError, match=r"\['Patient'\]"):
        read_sessions(df, columns={"Patient": "client_id", "Visit": "session"})
    with pytest.raises(SchemaError, match="not canonical"):
        read_sessions(df, columns={"PatientID": "patient", "Visit": "session"})
    with pytest.raises(TypeError, match="dict"):
        read_sessions(df, columns=["PatientID"])


def test_mapped_column_names_appear_in_problems():
    df = wide_frame().rename(columns={"client_id": "PatientID"})
    df.loc[1, "PatientID"] = ""
    data = read_sessions(df, columns={"PatientID": "client_id"}, on_error="quarantine")
    assert data.rejected[["source_row", "column"]].values.tolist() == [[3, "PatientID"]]


def test_header_case_and_spaces_are_normalised():
    df = wide_frame().rename(columns={"client_id": " Client_ID ", "phq9_1": "PHQ9_1"})
    data = read_sessions(df)
    assert len(data.sessions) == 8


def test_duplicate_column_after_normalising():
    df = wide_frame()
    df["Client_ID"] = df["client_id"]
    with pytest.raises(SchemaError, match="more than one input column"):
        read_sessions(df)


def test_long_and_wide_layouts_agree():
    wide = wide_frame()
    long_rows = []
    for _, r in wide.iterrows():
        base = {k: r[k] for k in ["client_id", "session", "date", "format"]}
        long_rows.append(
            {**base, "instrument": "PHQ-9", **{f"item_{i}": r[f"phq9_{i}"] for i in range(1, 10)}}
        )
        long_rows.append(
            {**base, "instrument": "gad7", **{f"item_{i}": r[f"gad7_{i}"] for i in range(1, 8)}}
        )
    long = pd.DataFrame(long_rows).fillna("")
    a = read_sessions(wide).sessions.drop(columns="source_row")
    b = read_sessions(long).sessions.drop(columns="source_row")
    pd.testing.assert_frame_equal(a, b)
    assert read_raw(long).layout == "long" and read_raw(wide).layout == "wide"


def test_wide_total_only_columns():
    df = pd.DataFrame(
        {
            "client_id": ["a", "a"],
            "session": [1, 2],
            "format": ["video"] * 2,
            "phq9_total": [18, 12],
            "gad7_total": [None, 9],
        }
    )
    data = read_sessions(df)
    s = data.sessions
    assert s[["session", "instrument", "total", "scoring_rule"]].values.tolist() == [
        [1, "phq9", 18.0, "given_total"],
        [2, "gad7", 9.0, "given_total"],
        [2, "phq9", 12.0, "given_total"],
    ]


def test_blank_lines_are_skipped_but_numbering_follows_the_file(tmp_path):
    path = tmp_path / "gaps.csv"
    path.write_text(
        "client_id,session,format,phq9_total\na,1,individual,12\n,,,\na,2,individual,40\n",
        encoding="utf-8",
    )
    data = read_sessions(path, on_error="quarantine")
    assert data.n_input_rows == 2 and data.n_blank_rows == 1
    assert data.rejected["source_row"].tolist() == [4]


def test_unreadable_inputs(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.csv"):
        read_sessions(tmp_path / "missing.csv")
    bad_type = tmp_path / "data.sav"
    bad_type.write_bytes(b"x")
    with pytest.raises(ValueError, match="'.sav' is not supported"):
        read_sessions(bad_type)
    latin = tmp_path / "latin.csv"
    latin.write_bytes("client_id,session\nJos\xe9,1\n".encode("latin-1"))
    with pytest.raises(ValueError, match="not UTF-8"):
        read_sessions(latin)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ValueError, match="empty"):
        read_sessions(empty)
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("client_id,session,format,phq9_total\na,1,group,3,4,5\n")
    with pytest.raises(ValueError, match="ragged.csv"):
        read_sessions(ragged)
    fake_xlsx = tmp_path / "fake.xlsx"
    fake_xlsx.write_text("not a workbook")
    with pytest.raises(ValueError, match="could not read"):
        read_sessions(fake_xlsx)
    with pytest.raises(ValueError, match="is a directory"):
        read_sessions(tmp_path)
    with pytest.raises(TypeError, match="file path or a pandas DataFrame"):
        read_sessions(42)


def test_column_level_schema_errors():
    df = wide_frame()
    with pytest.raises(SchemaError, match="no rating columns"):
        read_sessions(df.drop(columns=[c for c in df if c.startswith(("phq9", "gad7"))]))
    both = df.assign(instrument="phq9")
    with pytest.raises(SchemaError, match="one layout"):
        read_sessions(both)
    with pytest.raises(SchemaError, match="PHQ-9 has items 1-9"):
        read_sessions(df.assign(phq9_10="1"))
    with pytest.raises(SchemaError, match="neither 'total' nor item"):
        read_sessions(
            pd.DataFrame(
                {"client_id": ["a"], "session": [1], "format": ["group"], "instrument": ["phq9"]}
            )
        )
    missing = df.drop(columns="format")
    data = read_sessions(missing, on_error="quarantine")
    assert set(data.rejected["reason"]) == {"missing_required"}
    assert data.n_rejected_rows == len(df)


def test_ignored_columns_are_reported():
    data = read_sessions(wide_frame().assign(notes="x"))
    assert data.ignored_columns == ["notes"]


# --- adversarial review (R2): regressions -------------------------------------------------


def minimal_rows():
    return pd.DataFrame(
        {
            "client_id": ["a", "a"],
            "session": ["1", "2"],
            "format": ["individual", "individual"],
            "site": ["Hôpital Sainte-Thérèse", "Café"],
            "phq9_total": ["12", "9"],
        }
    )


def test_repeated_header_in_a_csv_is_an_error_not_a_silent_drop(tmp_path):
    path = tmp_path / "dup.csv"
    path.write_text("client_id,session,format,phq9_total,PHQ9_Total\na,1,individual,12,13\n")
    with pytest.raises(SchemaError, match="more than one input column maps to \\['phq9_total'\\]"):
        read_sessions(path)


def test_repeated_header_in_an_xlsx_is_an_error(tmp_path):
    path = tmp_path / "dup.xlsx"
    pd.DataFrame([["a", 1, "individual", 12, 13]]).to_excel(
        path, index=False, header=["client_id", "session", "format", "phq9_total", "phq9_total"]
    )
    with pytest.raises(SchemaError, match="phq9_total"):
        read_sessions(path)


def test_repeated_ignored_header_is_listed_twice(tmp_path):
    path = tmp_path / "dup.csv"
    path.write_text("client_id,session,format,phq9_total,note,note\na,1,individual,12,x,y\n")
    data = read_sessions(path)
    assert data.ignored_columns == ["note", "note"]
    assert data.sessions["total"].tolist() == [12.0]


def test_cp1252_csv_names_the_line_and_the_encoding_argument_reads_it(tmp_path):
    path = tmp_path / "latin.csv"
    minimal_rows().to_csv(path, index=False, encoding="cp1252")
    with pytest.raises(ValueError, match="line 2 .*encoding='cp1252'") as info:
        read_sessions(path)
    assert "Traceback" not in str(info.value)
    data = read_sessions(path, encoding="cp1252")
    assert data.sessions["site"].tolist() == ["Hôpital Sainte-Thérèse", "Café"]
    with pytest.raises(ValueError, match="not a known text encoding"):
        read_sessions(path, encoding="no-such-codec")


def test_tab_separated_and_quoted_separators(tmp_path):
    df = minimal_rows().assign(site=["North, East; West", "a\tb"])
    tsv = tmp_path / "data.tsv"
    df.to_csv(tsv, sep="\t", index=False)
    csv = tmp_path / "data.csv"
    df.to_csv(csv, index=False)
    for path in (tsv, csv):
        assert read_sessions(path).sessions["site"].tolist() == ["North, East; West", "a\tb"]


def test_xlsx_with_several_sheets_reads_the_first_and_says_so(tmp_path):
    path = tmp_path / "book.xlsx"
    with pd.ExcelWriter(path) as writer:
        minimal_rows().to_excel(writer, sheet_name="q3", index=False)
        pd.DataFrame({"x": [1]}).to_excel(writer, sheet_name="lookup", index=False)
    with pytest.warns(DataWarning, match=r"2 sheets \(q3, lookup\); only the first, 'q3'"):
        data = read_sessions(path)
    assert data.n_accepted_rows == 2


def test_xlsx_typed_cells_dates_and_floats(tmp_path):
    path = tmp_path / "typed.xlsx"
    pd.DataFrame(
        {
            "client_id": ["a", "a"],
            "session": [1.0, 2.0],
            "date": [pd.Timestamp("2025-01-06"), pd.Timestamp("2025-01-13")],
            "format": ["individual"] * 2,
            "phq9_total": [12.0, 10.125],
        }
    ).to_excel(path, index=False)
    data = read_sessions(path)
    assert data.sessions["session"].tolist() == [1, 2]
    assert data.sessions["date"].dt.strftime("%Y-%m-%d").tolist() == ["2025-01-06", "2025-01-13"]
    assert data.sessions["total"].tolist() == [12.0, 10.125]


def test_empty_xlsx_and_title_row_header_give_clear_errors(tmp_path):
    import openpyxl

    empty = tmp_path / "empty.xlsx"
    openpyxl.Workbook().save(empty)
    with pytest.raises(ValueError, match="is empty"):
        read_sessions(empty)
    merged = tmp_path / "merged.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Client", None, "PHQ-9", None])
    sheet.merge_cells("C1:D1")
    sheet.append(["client_id", "session", "format", "phq9_total"])
    sheet.append(["a", 1, "individual", 12])
    book.save(merged)
    with pytest.raises(SchemaError, match="first row must be the header"):
        read_sessions(merged)


@pytest.mark.parametrize("ending", [b"\n", b"", b"\r\n"])
@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"])
def test_header_only_file_gives_no_rows_and_a_note(tmp_path, ending, bom):
    path = tmp_path / "header.csv"
    path.write_bytes(bom + b"client_id,session,format,phq9_total" + ending)
    for _ in range(3):  # each read releases the file
        with pytest.warns(DataWarning, match="no data rows"):
            data = read_sessions(path)
        assert (data.n_input_rows, data.n_accepted_rows, len(data.sessions)) == (0, 0, 0)


def test_nullable_and_timezone_aware_frame_columns():
    df = pd.DataFrame(
        {
            "client_id": ["a", "a", "b"],
            "session": pd.array([1, 2, None], dtype="Int64"),
            "date": pd.to_datetime(["2025-01-06 23:30", "2025-01-13 10:00", None]).tz_localize(
                "Europe/London"
            ),
            "format": ["individual"] * 3,
            "medication": pd.array([True, None, False], dtype="boolean"),
            "phq9_total": pd.array([12.0, None, 3.0], dtype="Float64"),
        }
    )
    data = read_sessions(df, on_error="quarantine")
    assert data.sessions["date"].dt.strftime("%Y-%m-%d").tolist() == ["2025-01-06"]
    assert data.sessions["medication"].tolist() == [True]
    problems = data.rejected[["source_row", "column", "reason"]].values.tolist()
    assert problems == [[3, "(ratings)", "missing_required"], [4, "session", "missing_required"]]


@pytest.mark.parametrize("step", [1, 2, 3, 7, 64])
def test_a_file_read_in_slices_is_checked_as_a_whole(step):
    """The fast CSV path checks a file slice by slice; a CR LF split between two slices is
    one line break, and a carriage return standing alone or a quote sends the file to the
    other readers (None)."""
    from ipt_analytics.io.reading import _plain_text

    rng = np.random.default_rng(step)
    for trial in range(200):
        alphabet = list(b"ab\r\n" + (b'"' if trial % 10 == 0 else b""))
        data = bytes(rng.choice(alphabet, size=int(rng.integers(0, 60))).tolist())
        crlf_only = data.count(b"\r") == data.count(b"\r\n")
        expected = (
            (len(data), data.count(b"\r"), data.endswith(b"\n"))
            if data and b'"' not in data and crlf_only
            else None
        )
        pieces = [data[k : k + step] for k in range(0, len(data), step)]
        found = _plain_text(pieces)
        assert (tuple(found) if found is not None else None) == expected


@pytest.mark.parametrize("seed", range(6))
def test_the_rows_read_must_account_for_every_byte_of_the_file(seed):
    """The fast path's guard against a dropped, merged or split line: the values, separators
    and line breaks of the rows read must add up to the file's size. Checked against
    files written here (CR LF or LF, with or without a final line break): the true rows
    pass, one row fewer or more, or a value byte lost, does not."""
    from ipt_analytics.io.reading import _every_byte_read, _plain_text

    rng = np.random.default_rng(seed)
    width, rows = int(rng.integers(1, 5)), int(rng.integers(1, 30))
    sep = [",", ";", "\t"][seed % 3]
    eol = "\r\n" if seed % 2 else "\n"
    header = sep.join(f"c{k}" for k in range(width))
    cells = [["x" * int(rng.integers(0, 4)) for _ in range(width)] for _ in range(rows)]
    lines = [header] + [sep.join(row) for row in cells]
    text = eol.join(lines) + (eol if seed % 3 else "")
    plain = _plain_text([text.encode()])
    value_bytes = sum(len(v) for row in cells for v in row)
    first_line = header + ("\r" if eol == "\r\n" else "")  # as the reader hands it over
    assert _every_byte_read(plain, first_line, sep, rows, value_bytes)
    assert not _every_byte_read(plain, first_line, sep, rows - 1, value_bytes)
    assert not _every_byte_read(plain, first_line, sep, rows + 1, value_bytes)
    assert not _every_byte_read(plain, first_line, sep, rows, value_bytes - 1)


def test_a_file_that_changes_while_it_is_read_is_read_again_whole(tmp_path, monkeypatch):
    """The fast path reads a file twice (checks, then pyarrow); if it changed in between,
    pyarrow's reading is not used: the file is read once, whole, by the other readers."""
    import ipt_analytics.io.reading as reading

    path = tmp_path / "sessions.csv"
    path.write_text("client_id,session,format,phq9_total\nC1,1,individual,10\n")
    parse = reading._arrow_parse

    def rewritten_first(source, *args):
        # the same lines, now quoted: pyarrow's quote-blind parse would keep the quotes
        path.write_text('client_id,session,format,phq9_total\n"C2",1,individual,11\n')
        return parse(source, *args)

    monkeypatch.setattr(reading, "_arrow_parse", rewritten_first)
    data = read_sessions(path)
    assert data.sessions["client_id"].tolist() == ["C2"]
    assert data.sessions["total"].tolist() == [11.0]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_a_csv_from_a_named_pipe_is_read_once(tmp_path):
    """A pipe can be read only once: it is read whole, then parsed, with the same result
    as the regular file."""
    text = "client_id,session,format,phq9_total\nC1,1,individual,10\nC1,2,individual,12\n"
    regular = tmp_path / "sessions.csv"
    regular.write_text(text)
    pipe = tmp_path / "pipe.csv"
    os.mkfifo(pipe)
    result = {}
    # threads that may block for ever on the pipe do not hold up the test run: daemons
    writer = threading.Thread(target=pipe.write_text, args=(text,), daemon=True)
    reader = threading.Thread(
        target=lambda: result.update(data=read_sessions(pipe)), daemon=True
    )
    reader.start()
    writer.start()
    reader.join(timeout=60)
    assert not reader.is_alive(), "read_sessions still waits on the pipe: it opened it twice"
    data = result["data"]
    pd.testing.assert_frame_equal(data.sessions, read_sessions(regular).sessions)
    assert data.n_input_rows == 2


@pytest.mark.parametrize("seed", range(6))
def test_one_byte_columns_are_coded_as_pyarrow_codes_them(seed):
    # the byte-keyed coding of short columns (item answers) must give pyarrow's dictionary
    # encoding exactly: codes, and values in the order they first occur, also when a value
    # first occurs deep in the column or in a later block
    import pyarrow as pa
    import pyarrow.compute as pc

    from ipt_analytics.io.reading import _one_byte_codes

    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 60_000))
    alphabet = [b"", b"0", b"1", b"2", b"3", b"4", b"x", b"-", b" "]
    # odd seeds: no empty value (the bytes themselves are then the keys)
    values = [alphabet[k] for k in rng.integers(seed % 2, 4, n)]
    for _ in range(3):  # rare values, late
        values[int(rng.integers(0, n))] = alphabet[int(rng.integers(4, len(alphabet)))]
    cuts = sorted(set(rng.integers(0, n, 4).tolist()) | {0, n})
    column = pa.chunked_array(
        [pa.array(values[a:b], type=pa.binary()) for a, b in zip(cuts[:-1], cuts[1:], strict=True)],
        type=pa.binary(),
    )
    encoded = pc.dictionary_encode(column)
    want_codes = np.concatenate([c.indices.to_numpy() for c in encoded.chunks])
    want_values = encoded.chunk(0).dictionary.cast(pa.string()).to_pylist()
    codes, found = _one_byte_codes(column)
    assert found == want_values
    np.testing.assert_array_equal(codes, want_codes)
    assert codes.dtype == np.int8  # one byte a row (a few values)
    assert codes.flags.writeable


def test_one_byte_coding_leaves_other_columns_to_pyarrow():
    import pyarrow as pa

    from ipt_analytics.io.reading import _one_byte_codes

    assert _one_byte_codes(pa.chunked_array([[b"1", b"12"]], type=pa.binary())) is None
    assert _one_byte_codes(pa.chunked_array([[b"1"], [b"22"]], type=pa.binary())) is None
    # a byte that is not ASCII: the UTF-8 check of the general path decides
    assert _one_byte_codes(pa.chunked_array([[b"1", b"\xe9"]], type=pa.binary())) is None


@pytest.mark.parametrize("where", [0, 3])
def test_a_quote_anywhere_sends_the_file_to_the_general_reader(tmp_path, where):
    # the checks run beside pyarrow's reading; a quote in the first slice or a later one
    # must still drop pyarrow's (quote-blind) table
    from ipt_analytics.io.reading import _streamed_arrow_csv

    rows = ["client_id,session,format,phq9_total"] + [f"C{k},1,individual,10" for k in range(6)]
    rows[1 + where] = rows[1 + where].replace("individual", '"individual"')
    path = tmp_path / "quoted.csv"
    path.write_text("\n".join(rows) + "\n")
    assert _streamed_arrow_csv(str(path), chunk=16) is None
    path.write_text("\n".join(rows).replace('"', "") + "\n")
    body, problems = _streamed_arrow_csv(str(path), chunk=16)
    assert len(body) == 6 and problems == []


@pytest.mark.parametrize("seed", range(8))
def test_per_value_results_are_read_back_as_indexing_would(seed):
    # per_row() skips the look-up when a table holds one value; every table, constant or
    # not, must give exactly table[codes] (code -1: the last value), dtype included
    from ipt_analytics.io.coded import per_row

    rng = np.random.default_rng(seed)
    n_values = int(rng.integers(1, 6))
    codes = rng.integers(-1, n_values, int(rng.integers(0, 50))).astype(np.int8)
    tables = [
        rng.integers(0, 2, n_values).astype(bool),
        np.zeros(n_values, dtype=bool),
        np.ones(n_values, dtype=bool),
        np.full(n_values, np.nan),
        np.full(n_values, 3.5),
        np.where(rng.random(n_values) < 0.5, np.nan, 1.0),
        np.full(n_values, -1, dtype=np.int8),
        rng.integers(0, 3, n_values).astype(np.int64),
    ]
    for table in tables:
        got = per_row(table, codes)
        want = table[codes]
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)
