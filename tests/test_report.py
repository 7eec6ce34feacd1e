"""The quarterly report: tables against counts worked by hand, privacy, determinism, CLI."""

from __future__ import annotations

import json
import math
import re
import warnings
from pathlib import Path

import pandas as pd
import pytest

from ipt_analytics.io.sessiondata import read_sessions
from ipt_analytics.reporting.report import build_report, load_config
from ipt_analytics.reporting.report.periods import latest_complete_quarter, parse_quarter
from tests.report_cohorts import hand_cohort


@pytest.fixture(scope="module")
def hand_report():
    data = read_sessions(hand_cohort())
    return build_report(data, quarter="2026Q2", suppress="none", as_of="2026-07-01")


def _row(table, breakdown, group, **where):
    t = table[(table["breakdown"] == breakdown) & (table["group"] == group)]
    for k, v in where.items():
        t = t[t[k] == v]
    assert len(t) == 1, (breakdown, group, where)
    return t.iloc[0]


def test_caseload_by_hand(hand_report):
    case = hand_report.tables["caseload"]
    total = _row(case, "format", "all")
    # started in Q2: B (04-06), D (05-04); ended in Q2: A (05-04), B (04-27), C (04-20);
    # active at 2026-06-30: D only
    assert (total["started"], total["ended"], total["active_at_end"]) == (2, 3, 1)
    assert (total["ended_completed"], total["ended_dropout"]) == (2, 1)
    # sessions dated in Q2: A sessions 6-10 (04-06 .. 05-04) = 5, B 4, C sessions 10-12 = 3,
    # D 6 -> 18
    assert total["sessions"] == 18
    grp = _row(case, "format", "group")
    assert (grp["started"], grp["ended"], grp["active_at_end"], grp["sessions"]) == (1, 1, 1, 9)


def test_outcomes_by_hand(hand_report):
    out = hand_report.tables["outcomes"]
    resp = _row(out, "format", "all", outcome="response")
    # ended in Q2 with baseline and final: A (20 -> 8), B (18 -> 15), C (15 -> 4);
    # response (>= 50% fall): A and C
    assert (resp["n"], resp["events"]) == (3, 2)
    assert resp["rate_pct"] == pytest.approx(66.7)
    # Wilson 95% for 2/3 by hand: centre (p + z^2/2n) / (1 + z^2/n), half-width
    # z sqrt(p(1-p)/n + z^2/4n^2) / (1 + z^2/n)
    z, p, n = 1.959964, 2 / 3, 3
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    assert resp["rate_ci_low"] == pytest.approx(round(100 * (centre - half), 1))
    assert resp["rate_ci_high"] == pytest.approx(round(100 * (centre + half), 1))
    # previous quarter: E only (12 -> 3, a response): 100%; a year before: F (14 -> 12): 0%
    assert resp["rate_prev_pct"] == pytest.approx(100.0)
    assert resp["change_prev_pp"] == pytest.approx(-33.3)
    assert resp["rate_year_pct"] == pytest.approx(0.0)
    assert resp["change_year_pp"] == pytest.approx(66.7)
    rem = _row(out, "format", "all", outcome="remission")
    assert (rem["n"], rem["events"]) == (3, 1)  # C ends at 4 < 5
    drop = _row(out, "format", "all", outcome="dropout")
    assert (drop["n"], drop["events"]) == (3, 1)  # B
    ind = _row(out, "format", "individual", outcome="response")
    assert (ind["n"], ind["events"]) == (2, 1)  # A yes, B no
    site = _row(out, "site", "Site A", outcome="response")  # north -> Site A
    assert (site["n"], site["events"]) == (2, 1)


def test_attrition_safety_and_review_counts_by_hand(hand_report):
    att = hand_report.tables["attrition"].set_index("format")
    assert (att.loc["all", "ended"], att.loc["all", "dropout"]) == (3, 1)
    assert (att.loc["individual", "ended"], att.loc["individual", "dropout"]) == (2, 1)
    assert att.loc["individual", "dropout_rate_pct"] == pytest.approx(50.0)
    safety = hand_report.tables["safety"].set_index("instrument").loc["PHQ-9"]
    # rated in Q2: A, B, C, D; item 9 endorsed by D at sessions 2 and 3
    assert (safety["episodes_rated"], safety["episodes_endorsed"], safety["ratings_endorsed"]) == (
        4,
        1,
        2,
    )
    early = hand_report.tables["no_early_improvement"].set_index("format").loc["all"]
    # D (active) is rated at weeks 4 and 5 (sessions 5, 6: 14, 14 from 16): fall 2 < 6
    assert (early["rated_weeks_4_8"], early["no_reliable_improvement"]) == (1, 1)


def test_no_identifiers_and_sites_coded(hand_report):
    for name, table in hand_report.tables.items():
        text = table.to_csv()
        for ident in ("cA", "eA", "t1", "t2", "g1", "north", "south"):
            assert not re.search(rf"\b{ident}\b", text), (name, ident)


def test_quarter_rules():
    assert str(latest_complete_quarter(pd.Timestamp("2026-06-30"))) == "2026Q2"
    assert str(latest_complete_quarter(pd.Timestamp("2026-06-30 00:00"))) == "2026Q2"
    assert str(latest_complete_quarter(pd.Timestamp("2026-05-31"))) == "2026Q1"
    with pytest.raises(Exception, match="YYYYQn"):
        parse_quarter("2026-06")


def test_baseline_is_not_rebased_by_the_quarter(hand_report):
    # C began in 2026Q1 with 15; its quarter outcome uses that baseline, not its first Q2
    # rating (7): response and remission hold only with baseline 15
    out = hand_report.tables["outcomes"]
    grp = _row(out, "format", "group", outcome="remission")
    assert (grp["n"], grp["events"]) == (1, 1)


def test_default_quarter_and_as_of_from_data():
    data = read_sessions(hand_cohort())
    rep = build_report(data, suppress="none")
    # last session 2026-06-08: 2026Q2 is not complete, so 2026Q1 is reported
    assert rep.quarter == "2026Q1" and rep.as_of == "2026-06-08"


def test_config_errors(tmp_path):
    p = tmp_path / "r.toml"
    p.write_text('[spc]\nbaseline = ["2025-13", "2025-09"]\n')
    with pytest.raises(Exception, match="not a month"):
        load_config(p)
    p.write_text('[service]\nsuppression = "loose"\n')
    with pytest.raises(Exception, match="suppression 'loose' not known"):
        load_config(p)
    p.write_text("[funnel]\nreference_rates = { nhs_recovery = 50 }\n")
    with pytest.raises(Exception, match="between 0 and 1"):
        load_config(p)
    cfg = load_config(Path(__file__).resolve().parents[1] / "data" / "sample" / "report.toml")
    assert cfg.spc_phases == ("2026-01",)


def test_cli_report_writes_every_file_and_refuses_bad_options(tmp_path, capsys):
    from ipt_analytics.cli import main

    csv = tmp_path / "cohort.csv"
    hand_cohort().to_csv(csv, index=False)
    out = tmp_path / "out"
    code = main(["report", str(csv), "--quarter", "2026Q2", "--out", str(out),
                 "--suppress", "none", "--as-of", "2026-07-01"])  # fmt: skip
    assert code == 0
    names = {p.name for p in out.iterdir()}
    assert {"report.html", "report.xlsx", "metrics.json", "outcomes.csv", "caseload.csv"} <= names
    metrics = json.loads((out / "metrics.json").read_text())
    dropout = next(m for m in metrics["measures"] if m["measure"] == "dropout")
    assert (dropout["numerator"], dropout["denominator"]) == (1, 3)
    assert metrics["as_of"] == "2026-07-01"
    printed = capsys.readouterr().out
    assert "Dropout: 33.3% (1/3)" in printed
    for bad in (["--quarter", "2026-06"], ["--quarter", "2019Q1"], ["--as-of", "soon"],
                ["--config", str(tmp_path / "missing.toml")]):  # fmt: skip
        assert main(["report", str(csv), "--out", str(out), *bad]) == 2, bad
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("ipt-analytics report: error:"), err


def test_one_format_no_site_service_gets_a_report(tmp_path):
    from ipt_analytics.datasets.synth import simulate_cohort

    df = simulate_cohort(n_episodes=150, seed=2)
    df["format"], df["group_id"], df["site"] = "individual", None, None
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        report = build_report(read_sessions(df), as_of="2026-07-01")
    assert "trajectory_format" not in report.figures
    assert any("only one format" in w for w in report.warnings)
    assert set(report.tables["caseload"].query("breakdown == 'site'")["group"]) == {
        "all",
        "unknown",
    }
    report.write(tmp_path)
    assert (tmp_path / "report.html").stat().st_size > 10_000


def test_large_caseload_fits_the_model_to_a_fixed_sample(monkeypatch):
    import ipt_analytics.reporting.report.build as build
    from ipt_analytics.datasets.synth import simulate_cohort

    monkeypatch.setattr(build, "MAX_MODEL_EPISODES", 120)
    data = read_sessions(simulate_cohort(n_episodes=300, seed=4))
    a = build.build_report(data, as_of="2026-07-01")
    b = build.build_report(data, as_of="2026-07-01")
    notes = a.figures["trajectory_format"]["notes"]
    assert any("sample of 120 of the 300 episodes" in n for n in notes)
    assert a.figures["trajectory_format"]["svg"] == b.figures["trajectory_format"]["svg"]
    pd.testing.assert_frame_equal(a.tables["not_on_track"], b.tables["not_on_track"])


def test_the_dashboard_preset_is_refused_for_the_report():
    # its percentages come from unrounded counts and can reveal a hidden count by difference
    from ipt_analytics.errors import SchemaError
    from ipt_analytics.reporting.report.config import load_config

    with pytest.raises(SchemaError, match="nhs_tt_dashboard.*by difference.*nhs_digital"):
        load_config(None, suppression="nhs_tt_dashboard")


def test_cli_report_takes_a_column_mapping_and_an_encoding(tmp_path):
    # a service's own column names reach the report through --columns (inline JSON)
    from ipt_analytics.cli import main

    sample = Path(__file__).resolve().parents[1] / "data" / "sample" / "sessions.csv"
    frame = pd.read_csv(sample, dtype=str, keep_default_na=False)
    path = tmp_path / "service.csv"
    frame.rename(columns={"client_id": "PatientID"}).to_csv(path, index=False, encoding="latin-1")
    code = main(["report", str(path), "--columns", '{"PatientID": "client_id"}',
                 "--encoding", "latin-1", "--out", str(tmp_path / "out"), "--quarter", "2026Q2",
                 "--as-of", "2026-07-01"])  # fmt: skip
    assert code == 0
    assert (tmp_path / "out" / "report.html").is_file()
