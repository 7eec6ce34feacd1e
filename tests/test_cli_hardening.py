"""The command line never shows a traceback; shared output never shows an identifier.

Every subcommand is run over a set of bad inputs and bad options: each must end with exactly
one line on stderr and the documented exit code (2), whatever the input."""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from ipt_analytics.cli import main

HEADER = "client_id,session,date,format,therapist_id,phq9_total\n"


def run(argv, capsys):
    """(exit code, stdout, stderr) of ``ipt-analytics argv``, argparse exits included."""
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def cohort(path, formats=("individual", "telehealth"), n=12):
    lines = []
    for fmt in formats:
        for j in range(n):
            cid = f"SECRET-{fmt[:3]}{j:02d}"
            lines.append(f"{cid},1,2025-01-06,{fmt},Dr Who,20")
            lines.append(f"{cid},2,2025-01-13,{fmt},Dr Who,{8 if j % 2 else 15}")
    path.write_text(HEADER + "\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def good(tmp_path):
    return cohort(tmp_path / "good.csv")


def _bad_files(tmp_path):
    files = {}
    (tmp_path / "empty.csv").write_text("")
    files["empty file"] = tmp_path / "empty.csv"
    (tmp_path / "binary.csv").write_bytes(b"\xff\xfe\x00\x01garbage")
    files["not UTF-8"] = tmp_path / "binary.csv"
    (tmp_path / "fake.xlsx").write_text("not a workbook")
    files["corrupt xlsx"] = tmp_path / "fake.xlsx"
    (tmp_path / "fake.parquet").write_text("not parquet")
    files["corrupt parquet"] = tmp_path / "fake.parquet"
    (tmp_path / "doc.docx").write_text("x")
    files["unsupported type"] = tmp_path / "doc.docx"
    (tmp_path / "norating.csv").write_text("client_id,session,format\na,1,group\n")
    files["no rating columns"] = tmp_path / "norating.csv"
    (tmp_path / "dupe.csv").write_text("client_id,session,format,phq9_total,PHQ9_TOTAL\n")
    files["duplicate columns"] = tmp_path / "dupe.csv"
    (tmp_path / "lookalike.csv").write_text("PatientID,session,format,phq9_total\na,1,group,3\n")
    files["look-alike column"] = tmp_path / "lookalike.csv"
    (tmp_path / "quote.csv").write_text('client_id,session,format,phq9_total\n"a,1,group,3\n')
    files["unclosed quote"] = tmp_path / "quote.csv"
    files["missing file"] = tmp_path / "nope.csv"
    files["directory"] = tmp_path
    return files


def _bad_options(tmp_path, good):
    f = str(good)
    (tmp_path / "list.json").write_text("[1, 2]")
    return {
        "columns: broken inline JSON": ["validate", f, "--columns", "{not json"],
        "columns: missing file": ["validate", f, "--columns", str(tmp_path / "none.json")],
        "columns: not an object": ["validate", f, "--columns", str(tmp_path / "list.json")],
        "columns: unknown key": ["validate", f, "--columns", '{"Nope": "client_id"}'],
        "columns: not canonical": ["validate", f, "--columns", '{"format": "colour"}'],
        "encoding: unknown": ["validate", f, "--encoding", "klingon"],
        "show: not a number": ["validate", f, "--show", "many"],
        "rejected-out: folder missing": ["validate", f, "--rejected-out",
                                         str(tmp_path / "no" / "r.csv")],
        "rejected-out: a directory": ["validate", f, "--rejected-out", str(tmp_path)],
        "unknown option": ["validate", f, "--frobnicate"],
        "unknown subcommand": ["frobnicate"],
        "summary: unknown instrument": ["summary", f, "--instrument", "bdi"],
        "summary: unknown policy": ["summary", f, "--suppress", "nhs"],
        "summary: by client_id": ["summary", f, "--by", "client_id"],
        "summary: by episode_id": ["summary", f, "--by", "episode_id"],
        "summary: by group_id": ["summary", f, "--by", "group_id"],
        "summary: by unknown": ["summary", f, "--by", "colour"],
        "summary: table-out folder missing": ["summary", f, "--table-out",
                                              str(tmp_path / "no" / "t.csv")],
        "summary: table-out suffix": ["summary", f, "--table-out", str(tmp_path / "t.pdf")],
        "summary: internal-export a directory": ["summary", f, "--internal-export",
                                                 str(tmp_path / "sub.csv" / "x.xlsx")],
        "summary: old outcomes-out": ["summary", f, "--outcomes-out", str(tmp_path / "o.csv")],
        "synth: out is a file": ["synth", "--out", f],
        "synth: unknown option": ["synth", "--seed", "3"],
        "reproduce: unknown option": ["reproduce", "--frobnicate"],
    }


def _assert_one_line_error(code, err, what):
    assert code == 2, f"{what}: exit {code}, stderr {err!r}"
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"{what}: {err!r}"
    assert "Traceback" not in err and "error" in lines[0], f"{what}: {err!r}"


@pytest.mark.parametrize("command", ["validate", "summary"])
def test_every_bad_input_gives_one_line_and_exit_2(tmp_path, capsys, command):
    for what, path in _bad_files(tmp_path).items():
        code, _out, err = run([command, str(path)], capsys)
        _assert_one_line_error(code, err, what)


def test_every_bad_option_gives_one_line_and_exit_2(tmp_path, capsys, good):
    for what, argv in _bad_options(tmp_path, good).items():
        code, _out, err = run(argv, capsys)
        _assert_one_line_error(code, err, what)


def test_reproduce_with_a_missing_spec_exits_2_without_a_traceback(tmp_path, capsys):
    code, out, err = run(["reproduce", str(tmp_path / "none.toml"), "--out", str(tmp_path)],
                         capsys)  # fmt: skip
    assert code == 2 and "Traceback" not in out + err and "does not exist" in out + err


def test_bad_option_messages_say_what_is_accepted(tmp_path, capsys, good):
    _, _, err = run(["summary", str(good), "--instrument", "bdi"], capsys)
    assert "phq9" in err and "gad7" in err
    _, _, err = run(["summary", str(good), "--by", "client_id"], capsys)
    assert "identifier" in err and "format" in err
    _, _, err = run(["summary", str(good), "--outcomes-out", "x.csv"], capsys)
    assert "--internal-export" in err and "--table-out" in err
    _, _, err = run(["validate", str(good), "--show", "many"], capsys)
    assert "--show" in err and "--help" in err


def test_lookalike_column_error_suggests_the_mapping_and_the_suggestion_works(tmp_path, capsys):
    path = tmp_path / "mine.csv"
    path.write_text("PatientID,session,format,phq9_total\na,1,individual,3\n")
    code, _, err = run(["validate", str(path)], capsys)
    assert code == 2
    assert """--columns '{"PatientID": "client_id"}'""" in err
    code, out, _ = run(["validate", str(path), "--columns", '{"PatientID": "client_id"}'], capsys)
    assert code == 0 and "accepted: 1" in out


def test_one_format_service_gets_its_table_and_exit_0(tmp_path, capsys):
    path = cohort(tmp_path / "one.csv", formats=("individual",), n=20)
    code, out, err = run(["summary", str(path)], capsys)
    assert code == 0 and err == ""
    assert "one format only (individual)" in out
    response = [line for line in out.splitlines() if line.strip().startswith("response")]
    assert len(response) == 1 and "individual" in response[0]


def test_terminal_listing_shows_reason_message_and_fix(tmp_path, capsys):
    path = tmp_path / "m.csv"
    path.write_text("client_id,session,format,phq9_1,phq9_2\na,1,individual,1,\n")
    code, out, _ = run(["validate", str(path)], capsys)
    assert code == 1
    line = next(x for x in out.splitlines() if x.strip().startswith("row 2:"))
    assert "too_many_missing_items" in line and "Fix: complete the items" in line


def test_summary_shows_no_identifier_even_for_rejected_rows_and_notes(tmp_path, capsys):
    path = cohort(tmp_path / "c.csv")
    with path.open("a") as fh:  # a rejected row and an overlapping second episode
        fh.write("SECRET-BAD,1,2025-02-30,individual,Dr Who,5\n")
    code, out, err = run(["summary", str(path), "--show", "50"], capsys)
    assert code == 2  # summary has no --show: its output lists no rows
    code, out, err = run(["summary", str(path), "--suppress", "none"], capsys)
    assert code == 1
    assert "SECRET" not in out + err and "Dr Who" not in out + err
    assert "rejected: 1" in out and "ipt-analytics validate" in out


def test_validate_is_labelled_as_data_steward_output(tmp_path, capsys):
    path = cohort(tmp_path / "c.csv")
    with path.open("a") as fh:
        fh.write("SECRET-BAD,1,2025-02-30,individual,Dr Who,5\n")
    out_path = tmp_path / "rejected.csv"
    code, out, _ = run(["validate", str(path), "--rejected-out", str(out_path)], capsys)
    assert code == 1 and "DATA-STEWARD OUTPUT" in out and "contains identifiers" in out
    assert "50,date,2025-02-30,bad_date" in out_path.read_text()  # row and value, to fix it


def test_table_out_is_the_suppressed_table_with_formulas_neutralised(tmp_path, capsys):
    path = tmp_path / "sites.csv"
    lines = []
    for site in ["=HYPERLINK(\"http://x\")", "@SUM(1)", "north"]:
        for j in range(10):
            cid = f"{site[:3]}{j}"
            lines.append(f"{cid},1,2025-01-06,individual,{site},20")
            lines.append(f"{cid},2,2025-01-13,individual,{site},8")
    path.write_text("client_id,session,date,format,site,phq9_total\n" + "\n".join(
        '"' + line.replace('"', '""').replace(",", '","') + '"' for line in lines) + "\n")
    for suffix in (".csv", ".xlsx"):
        table = tmp_path / f"table{suffix}"
        code, out, _ = run(["summary", str(path), "--by", "site", "--table-out", str(table)],
                           capsys)  # fmt: skip
        assert code == 0, out
        frame = pd.read_csv(table) if suffix == ".csv" else pd.read_excel(table)
        assert set(frame["group"]) == {'\'=HYPERLINK("http://x")', "'@SUM(1)", "north"}
        assert "client_id" not in frame.columns
    raw = (tmp_path / "table.csv").read_text()
    assert "\n=" not in raw and ",=" not in raw and "\n@" not in raw and ",@" not in raw


def test_internal_export_is_explicit_warned_and_without_ids(tmp_path, capsys, good):
    out_path = tmp_path / "episodes.csv"
    code, out, err = run(["summary", str(good), "--internal-export", str(out_path)], capsys)
    assert code == 0 and "INTERNAL" in out
    assert "INTERNAL" in err and "do not circulate" in err and len(err.strip().splitlines()) == 1
    exported = pd.read_csv(out_path)
    assert len(exported) == 24
    assert "client_id" not in exported.columns and "episode_id" not in exported.columns
    assert set(exported["therapist_id"]) == {"T1"}
    assert "SECRET" not in out_path.read_text() and "Dr Who" not in out_path.read_text()
    assert not any(p.name.startswith("episodes") for p in Path(tmp_path).iterdir()
                   if p != out_path)  # fmt: skip


def test_columns_accepts_inline_json_or_a_file(tmp_path, capsys):
    data = tmp_path / "mine.csv"
    data.write_text("Client ID,Visit,Mode,PHQ\nx,1,individual,5\n")
    mapping = {"Client ID": "client_id", "Visit": "session", "Mode": "format",
               "PHQ": "phq9_total"}  # fmt: skip
    code, out, _ = run(["validate", str(data), "--columns", json.dumps(mapping)], capsys)
    assert code == 0 and "accepted: 1" in out
    path = tmp_path / "map.json"
    path.write_text(json.dumps(mapping))
    code, out, _ = run(["validate", str(data), "--columns", str(path)], capsys)
    assert code == 0 and "accepted: 1" in out


def test_day_first_note_is_printed_once_with_the_row_count(tmp_path, capsys):
    path = tmp_path / "dmy.csv"
    path.write_text("client_id,session,date,format,phq9_total,gad7_total\n"
                    "a,1,06/01/2025,individual,14,9\na,2,13/01/2025,individual,9,5\n")
    code, out, err = run(["validate", str(path)], capsys)
    assert code == 0 and err == ""
    notes = [line for line in out.splitlines() if "day first" in line]
    assert len(notes) == 1 and notes[0].startswith("note: 2 date(s)")


def test_a_closed_pipe_ends_quietly(tmp_path):
    big = tmp_path / "big.csv"
    lines = [f"c{j},1,2025-01-06,hybrid,T,5" for j in range(3000)]  # 3000 rejected rows
    big.write_text(HEADER + "\n".join(lines) + "\n")
    cmd = [sys.executable, "-m", "ipt_analytics.cli", "validate", str(big), "--show", "3000"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.readline()
    proc.stdout.close()  # like `| head -1`
    err = proc.stderr.read().decode()
    proc.wait(timeout=120)
    assert err == "" and proc.returncode == 141


def test_counts_of_people_above_the_table_follow_the_policy(tmp_path, capsys):
    # one format, 5 episodes: the table hides n = 5, so "episodes: 5" must not be printed
    path = cohort(tmp_path / "five.csv", formats=("individual",), n=5)
    code, out, _ = run(["summary", str(path)], capsys)
    assert code == 0
    assert "episodes: *" in out and "clients: *" in out
    response = next(x for x in out.splitlines() if x.strip().startswith("response"))
    assert response.split()[-4:] == ["*", "*", "*", "*"]
    code, out, _ = run(["summary", str(path), "--suppress", "none"], capsys)
    assert "episodes: 5" in out
