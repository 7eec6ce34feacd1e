"""Shared-output rule for the report: no identifier and no recoverable small count in any file.

Cohorts get distinctive identifiers (every one contains "zqx") and a tiny site; every file the
report writes (HTML with its inline SVG, the unzipped XLSX XML, each CSV, metrics.json) is
scanned. Two runs on the same input must give byte-identical files.
"""

from __future__ import annotations

import json
import re
import zipfile

import numpy as np
import pandas as pd
import pytest

from ipt_analytics.datasets.synth import simulate_cohort
from ipt_analytics.io.sessiondata import read_sessions
from ipt_analytics.reporting.privacy import POLICIES
from ipt_analytics.reporting.report import build_report
from ipt_analytics.reporting.report.periods import latest_complete_quarter
from ipt_analytics.reporting.report.tables import local_codes

MARK = "zqx"
#: count columns of each table (everything else is a label, a rate, a flag or a limit)
COUNTS = {
    "caseload": [
        "started",
        "active_at_end",
        "ended",
        "ended_completed",
        "ended_dropout",
        "ended_referred_on",
        "ended_other",
        "sessions",
    ],
    "outcomes": ["n", "events"],
    "attrition": ["ended", "completed", "dropout", "referred_on", "other"],
    "data_quality": ["count", "of"],
    "safety": ["episodes_rated", "episodes_endorsed", "ratings_endorsed"],
    "spc_monthly": ["n", "events"],
    "funnel": ["n", "observed"],
    "not_on_track": ["assessed", "not_on_track"],
    "no_early_improvement": ["rated_weeks_4_8", "no_reliable_improvement"],
}


def marked_cohort(seed: int, n_episodes: int = 260) -> pd.DataFrame:
    df = simulate_cohort(n_episodes=n_episodes, seed=seed)
    df["client_id"] = MARK + "CLIENT-" + df["client_id"].astype(str)
    df["episode_id"] = MARK + "EPISODE-" + df["episode_id"].astype(str)
    df["therapist_id"] = "Dr " + MARK + "Therapist " + df["therapist_id"].astype(str)
    df["group_id"] = df["group_id"].where(
        df["group_id"].isna(), MARK + "GROUP-" + df["group_id"].astype(str)
    )
    # a tiny site: three episodes that ended in the quarter the report defaults to
    q = latest_complete_quarter(df["date"].max())
    ends = df[df["end_reason"] != "ongoing"].groupby("episode_id")["date"].max()
    tiny = ends[ends.dt.to_period("Q-DEC") == q].sort_index().index[:3]
    df.loc[df["episode_id"].isin(tiny), "site"] = MARK + "tinyville"
    return df


@pytest.fixture(scope="module", params=["nhs_digital", "cms"])
def written(request, tmp_path_factory):
    df = marked_cohort(seed=11)
    data = read_sessions(df)
    report = build_report(data, suppress=request.param, as_of="2026-07-01")
    out = tmp_path_factory.mktemp(f"report_{request.param}")
    report.write(out)
    return request.param, report, out, df


def _all_text(out) -> dict:
    texts = {}
    for path in sorted(out.iterdir()):
        if path.suffix == ".xlsx":
            with zipfile.ZipFile(path) as z:
                for name in z.namelist():
                    texts[f"{path.name}:{name}"] = z.read(name).decode("utf-8", "replace")
        else:
            texts[path.name] = path.read_text(encoding="utf-8")
    return texts


def test_no_identifier_or_raw_label_in_any_file(written):
    _policy, _report, out, df = written
    raw_sites = {s.lower() for s in df["site"].unique()}
    texts = _all_text(out)
    assert any(k.endswith(".csv") for k in texts) and "report.html" in texts
    assert any("sheet" in k for k in texts)
    for name, text in texts.items():
        low = text.lower()
        assert MARK not in low, f"{name} contains an identifier"
        for site in raw_sites:  # raw site names are free text: codes only
            assert not re.search(rf"\b{re.escape(site)}\b", low), (name, site)


def _shown_ok(policy, value) -> bool:
    pol = POLICIES[policy]
    if value == 0:
        return True
    if value < pol.min_shown:
        return False
    return pol.rounding is None or value % 5 == 0


def test_no_small_count_in_csv_xlsx_json(written):
    policy, report, out, _df = written
    for name, cols in COUNTS.items():
        path = out / f"{name}.csv"
        if not path.exists():
            continue
        csv = pd.read_csv(path)
        sheet = pd.read_excel(out / "report.xlsx", sheet_name=name)
        for table in (csv, sheet):
            for col in cols:
                for v in table[col].dropna():
                    assert _shown_ok(policy, v), f"{name}.{col} shows {v} under {policy}"
    metrics = json.loads((out / "metrics.json").read_text())
    for m in metrics["measures"]:
        for key in ("numerator", "denominator"):
            if m[key] is not None:
                assert _shown_ok(policy, m[key]), (m, policy)
        if m["suppressed"]:
            assert m["rate_pct"] is None and m["ci_low_pct"] is None
    for v in metrics["activity"].values():
        assert v is None or _shown_ok(policy, v)


def test_rates_hidden_with_their_counts(written):
    _policy, report, out, _df = written
    o = pd.read_csv(out / "outcomes.csv")
    hidden = o["n"].isna() | o["events"].isna()
    assert hidden.any(), "the tiny site must produce suppressed cells"
    assert o.loc[hidden, ["rate_pct", "rate_ci_low", "rate_ci_high"]].isna().all().all()
    for comp in ("prev", "year"):
        assert o.loc[hidden, f"change_{comp}_pp"].isna().all()
    spc = pd.read_csv(out / "spc_monthly.csv")
    assert (
        spc.loc[spc["suppressed"], ["n", "events", "rate_pct", "lcl_pct", "ucl_pct"]]
        .isna()
        .all()
        .all()
    )
    if (out / "funnel.csv").exists():
        f = pd.read_csv(out / "funnel.csv")
        assert f.loc[f["suppressed"], ["rate", "adjusted_rate", "upper_95"]].isna().all().all()


def test_tiny_site_never_shown_or_drawn(written):
    policy, report, out, _df = written
    o = report.tables["outcomes"]
    site_rows = o[o["breakdown"] == "site"]
    tiny = local_codes(_df["site"], "Site ")[MARK + "tinyville"]
    rows = site_rows[site_rows["group"] == tiny]
    assert len(rows) > 0
    # its denominators are hidden; an event count is hidden too, or a zero (zeros are shown
    # under both policies: nothing small can be recovered from them)
    assert rows["n"].isna().all()
    assert (rows["events"].isna() | (rows["events"] == 0)).all()
    case = report.tables["caseload"]
    tiny_case = case[(case["breakdown"] == "site") & (case["group"] == tiny)].iloc[0]
    assert pd.isna(tiny_case["ended"]) or tiny_case["ended"] == 0
    html = (out / "report.html").read_text()
    for row in re.findall(rf"<tr><td>{tiny}</td>(.*?)</tr>", html):
        cells = re.findall(r"<td>(.*?)</td>", row)
        # its episodes are hidden; a count of sessions large enough to show is no small count
        for c in cells:
            value = c.replace(",", "").lstrip("+")
            if c not in ("*", "") and re.fullmatch(r"\d+", value):
                assert _shown_ok(policy, int(value)), cells
    for key, fig in report.figures.items():
        if key.startswith("funnel_") and key.endswith("_site"):
            assert f"<!-- {tiny} -->" not in fig["svg"], key


def test_two_runs_give_identical_files(tmp_path):
    df = marked_cohort(seed=5, n_episodes=200)
    files = []
    for k in range(2):
        out = tmp_path / f"run{k}"
        build_report(read_sessions(df), suppress="nhs_digital", as_of="2026-07-01").write(out)
        files.append({p.name: p.read_bytes() for p in sorted(out.iterdir())})
    assert files[0].keys() == files[1].keys()
    for name in files[0]:
        assert files[0][name] == files[1][name], f"{name} differs between runs"
    # and the as-of date is the only date printed, never the clock
    html = files[0]["report.html"].decode()
    assert "2026-07-01" in html
    assert (
        pd.Timestamp.now().strftime("%Y-%m-%d") not in html
        or pd.Timestamp.now().strftime("%Y-%m-%d") == "2026-07-01"
    )


def test_figures_never_draw_suppressed_months(written):
    _policy, report, _out, _df = written
    spc = report.tables["spc_monthly"]
    assert np.all(spc.loc[spc["suppressed"], "rate_pct"].isna())


def test_warnings_quoting_identifiers_are_withheld():
    from types import SimpleNamespace

    from ipt_analytics.reporting.report.build import _without_identifiers

    eps = pd.DataFrame({"client_id": ["zqxC1"], "episode_id": ["zqxE1"], "therapist_id": ["T9"],
                        "group_id": [None], "site": ["northgate"]})  # fmt: skip
    data = SimpleNamespace(episodes=eps, sessions=pd.DataFrame({"group_id": ["zqxG1"]}))
    msgs = ["episodes zqxE1 and zqxE2 overlap", "therapist group zqxG1 is small",
            "the model fitted without warnings"]  # fmt: skip
    out = _without_identifiers(msgs, data)
    assert out[-1] == "the model fitted without warnings"
    assert len(out) == 2 and all(MARK not in m for m in out)
    assert "withheld" in out[0]


def test_therapist_codes_never_read_like_the_services_own_ids():
    # sample therapist IDs are T01..T30: codes in the same form and sorted order would publish
    # them (T17 coded T17), so the codes follow frequency and a hash and change prefix on a clash
    from ipt_analytics.reporting.privacy import local_codes as therapist_codes

    ids = pd.Series([f"T{k:02d}" for k in range(1, 31) for _ in range(k % 4 + 1)])
    codes = therapist_codes(ids, prefix="T")
    assert not set(codes) & set(ids)
    assert codes.nunique() == 30
    assert therapist_codes(ids, prefix="T").equals(codes)  # deterministic
