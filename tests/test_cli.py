"""Command line: exit codes 0/1/2, printed counts, --rejected-out, --columns."""

import json

import pandas as pd
import pytest

from ipt_analytics import __version__
from ipt_analytics.cli import SUBCOMMANDS, main

HEADER = "client_id,session,date,format,phq9_total\n"


@pytest.fixture
def clean_csv(tmp_path):
    path = tmp_path / "clean.csv"
    path.write_text(
        HEADER + "a,1,2025-01-06,individual,14\na,2,2025-01-13,video,9\nb,1,2025-02-03,phone,20\n",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def messy_csv(tmp_path):
    path = tmp_path / "messy.csv"
    path.write_text(
        HEADER + "a,1,2025-01-06,individual,14\na,2,2025-01-13,hybrid,9\n"
        "a,2,2025-01-13,hybrid,9\nb,1,2025-02-30,phone,40\nb,1,2025-02-03,phone,2\n"
        "a,1,2025-01-06,individual,14\n",
        encoding="utf-8",
    )
    return path


def test_clean_file_exits_0_and_prints_counts(clean_csv, capsys):
    assert main(["validate", str(clean_csv)]) == 0
    out = capsys.readouterr().out
    for text in [
        "rows read: 3",
        "accepted: 3",
        "rejected: 0",
        "duplicates collapsed: 0",
        "clients: 2",
        "episodes: 2",
        "instruments: phq9 (3)",
        "dates: 2025-01-06 to 2025-02-03",
    ]:
        assert text in out


def test_rejected_rows_exit_1_and_are_written(messy_csv, tmp_path, capsys):
    out_path = tmp_path / "rejected.csv"
    assert main(["validate", str(messy_csv), "--rejected-out", str(out_path)]) == 1
    out = capsys.readouterr().out
    assert "rows read: 6" in out and "accepted: 2" in out and "rejected: 3" in out
    assert "unknown_label: 2" in out and "bad_date: 1" in out
    assert "duplicates collapsed: 1" in out
    rejected = pd.read_csv(out_path)
    assert list(rejected.columns) == ["source_row", "column", "value", "reason", "message"]
    assert rejected["source_row"].tolist() == [3, 4, 5, 5]
    assert set(rejected["reason"]) == {"unknown_label", "bad_date", "total_out_of_range"}


def test_unreadable_file_exits_2_without_traceback(tmp_path, capsys):
    assert main(["validate", str(tmp_path / "nope.csv")]) == 2
    err = capsys.readouterr().err
    assert "file not found" in err and "Traceback" not in err
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"client_id,session\n\xff\xfe,1\n")
    assert main(["validate", str(bad)]) == 2
    assert "not UTF-8" in capsys.readouterr().err
    no_ratings = tmp_path / "no_ratings.csv"
    no_ratings.write_text("client_id,session,format\na,1,group\n")
    assert main(["validate", str(no_ratings)]) == 2
    assert "no rating columns" in capsys.readouterr().err


def test_columns_mapping_file(tmp_path, capsys):
    data = tmp_path / "mine.csv"
    data.write_text("PatientID,Visit,Mode,PHQ\nx,1,individual,5\n")
    mapping = tmp_path / "map.json"
    mapping.write_text(
        json.dumps(
            {"PatientID": "client_id", "Visit": "session", "Mode": "format", "PHQ": "phq9_total"}
        )
    )
    assert main(["validate", str(data), "--columns", str(mapping)]) == 0
    assert "accepted: 1" in capsys.readouterr().out
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    assert main(["validate", str(data), "--columns", str(broken)]) == 2
    assert "--columns" in capsys.readouterr().err
    wrong_key = tmp_path / "wrong.json"
    wrong_key.write_text(json.dumps({"Patient": "client_id"}))
    assert main(["validate", str(data), "--columns", str(wrong_key)]) == 2
    assert "Patient" in capsys.readouterr().err
    assert main(["validate", str(data), "--columns", str(tmp_path / "none.json")]) == 2


def test_version_and_help(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert __version__ in capsys.readouterr().out
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    assert "validate" in capsys.readouterr().out
    with pytest.raises(SystemExit) as info:
        main(["validate", "--help"])
    assert "--rejected-out" in capsys.readouterr().out
    assert main([]) == 2  # no subcommand: help, usage error


def test_subcommands_are_registered_as_data():
    help_text, add_arguments, run = SUBCOMMANDS["validate"]
    assert callable(add_arguments) and callable(run) and help_text


def test_validate_lists_each_rejected_row_with_its_number(messy_csv, capsys):
    assert main(["validate", str(messy_csv)]) == 1
    out = capsys.readouterr().out
    assert "row 3: format='hybrid': unknown_label" in out
    assert "row 5: date='2025-02-30': bad_date" in out
    assert main(["validate", str(messy_csv), "--show", "0"]) == 1
    assert "row 3:" not in capsys.readouterr().out


def _summary_input(tmp_path):
    # two episodes per format: 20 -> 8 (response, 60%) and 20 -> 15 (25%, no response)
    lines = []
    for k, fmt in enumerate(["individual", "telehealth"]):
        for j, final in enumerate([8, 15]):
            cid = f"c{k}{j}"
            lines.append(f"{cid},1,2025-01-06,{fmt},20")
            lines.append(f"{cid},2,2025-01-13,{fmt},{final}")
    path = tmp_path / "s.csv"
    path.write_text(HEADER + "\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_summary_prints_rates_by_format_and_exports_without_identifiers(tmp_path, capsys):
    path = _summary_input(tmp_path)
    out_path = tmp_path / "outcomes.csv"
    args = ["summary", str(path), "--internal-export", str(out_path), "--suppress", "none"]
    assert main(args) == 0
    captured = capsys.readouterr()
    out = captured.out
    assert "INTERNAL" in captured.err and "do not circulate" in captured.err
    response = [line for line in out.splitlines() if line.strip().startswith("response")]
    # each format: 1 of 2 episodes responded -> 50.0%, Wilson 95% CI 9.5-90.5
    assert len(response) == 2
    for line in response:
        assert " 2 " in line and " 1 " in line and "50.0" in line and "9.5-90.5" in line
    exported = pd.read_csv(out_path)
    assert len(exported) == 4
    assert "client_id" not in exported.columns and "episode_id" not in exported.columns
    assert not exported.isin(["c00", "c01", "c10", "c11"]).any().any()


def test_summary_rejects_unknown_breakdown(tmp_path, capsys):
    assert main(["summary", str(_summary_input(tmp_path)), "--by", "colour"]) == 2
    assert "--by 'colour'" in capsys.readouterr().err


def test_synth_writes_the_sample_files_byte_identically(tmp_path, capsys):
    from pathlib import Path

    assert main(["synth", "--out", str(tmp_path)]) == 0
    sample = Path(__file__).resolve().parents[1] / "data" / "sample"
    for name in ("sessions.csv", "messy_sessions.csv", "messy_expected.csv"):
        assert (tmp_path / name).read_bytes() == (sample / name).read_bytes()


def _suppression_input(tmp_path):
    # response (>= 50% drop): 20 -> 8 responds, 20 -> 15 does not.
    # individual 22 episodes (13 respond), telehealth 9 (2), telephone 30 (14)
    lines = []
    for fmt, n, events in [("individual", 22, 13), ("telehealth", 9, 2), ("telephone", 30, 14)]:
        for j in range(n):
            cid = f"{fmt}{j}"
            lines.append(f"{cid},1,2025-01-06,{fmt},20")
            lines.append(f"{cid},2,2025-01-13,{fmt},{8 if j < events else 15}")
    path = tmp_path / "small.csv"
    path.write_text(HEADER + "\n".join(lines) + "\n", encoding="utf-8")
    return path


def _response_lines(out):
    rows = [line.split() for line in out.splitlines() if line.strip().startswith("response")]
    # "response (>= 50% reduction) <format> n events rate ci" -> the last five fields
    return {r[-5]: r[-4:] for r in rows}


def test_summary_suppresses_small_cells_by_default_nhs_digital(tmp_path, capsys):
    assert main(["summary", str(_suppression_input(tmp_path))]) == 0
    out = capsys.readouterr().out
    assert "small-cell suppression: nhs_digital" in out and "UNSUPPRESSED" not in out
    got = _response_lines(out)
    # individual: 22 -> 20, 13 -> 15, rate from rounded counts 100 * 15 / 20 = 75.0;
    # Wilson 95% from 15/20: centre (0.75 + 1.96^2/40) / (1 + 1.96^2/20) = 0.7097,
    # half-width 1.96 * sqrt(0.75 * 0.25 / 20 + 1.96^2 / 1600) / 1.1921 = 0.1784 -> 53.1-88.8
    assert got["individual"] == ["20", "15", "75.0", "53.1-88.8"]
    # telehealth: 9 -> 10 shown, 2 events suppressed, so no rate and no interval
    assert got["telehealth"] == ["10", "*", "*", "*"]
    # telephone: 30 -> 30, 14 -> 15, 100 * 15 / 30 = 50.0
    assert got["telephone"][:3] == ["30", "15", "50.0"]


def test_summary_suppress_none_warns_not_to_circulate(tmp_path, capsys):
    assert main(["summary", str(_suppression_input(tmp_path)), "--suppress", "none"]) == 0
    out = capsys.readouterr().out
    assert "UNSUPPRESSED: do not circulate" in out
    got = _response_lines(out)
    # 2 / 9 = 22.2%, exact counts shown
    assert got["telehealth"][:3] == ["9", "2", "22.2"]
    assert got["individual"][:3] == ["22", "13", "59.1"]


def test_summary_cms_hides_a_small_denominator_and_its_complement(tmp_path, capsys):
    assert main(["summary", str(_suppression_input(tmp_path)), "--suppress", "cms"]) == 0
    got = _response_lines(capsys.readouterr().out)
    # telehealth n = 9 (1-10) hidden with its events; the formats' n sum to a total a reader
    # may know (61), so the next smallest n (individual, 22) is hidden too; individual events
    # go as well because 22 - 13 = 9 non-responders would be a derivable 1-10 cell
    assert got["telehealth"] == ["*", "*", "*", "*"]
    assert got["individual"] == ["*", "*", "*", "*"]
    assert got["telephone"][:3] == ["30", "14", "46.7"]


def test_summary_rejects_an_unknown_policy(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["summary", str(_suppression_input(tmp_path)), "--suppress", "nhs"])
    assert info.value.code == 2
    assert "--suppress" in capsys.readouterr().err


def test_encoding_option_reads_a_cp1252_file(tmp_path, capsys):
    path = tmp_path / "latin.csv"
    path.write_bytes(
        (HEADER + "a,1,2025-01-06,individual,14\n")
        .replace("phq9_total", "phq9_total,site")
        .replace("14\n", "14,Orléans\n")
        .encode("cp1252")
    )
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "not UTF-8" in err and "line 2" in err and "cp1252" in err
    assert main(["validate", str(path), "--encoding", "cp1252"]) == 0
    assert "accepted: 1" in capsys.readouterr().out
