"""Tests of the synthetic cohort generator and of the committed sample files."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ipt_analytics.datasets import sample_files, synth, synth_messy

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"
PHQ = [f"phq9_{i}" for i in range(1, 10)]
GAD = [f"gad7_{i}" for i in range(1, 8)]
QIDS = [f"qids_sr16_{i}" for i in range(1, 17)]
REASONS = {
    "missing_required",
    "non_numeric",
    "item_out_of_range",
    "total_out_of_range",
    "total_mismatch",
    "too_many_missing_items",
    "unknown_label",
    "bad_date",
    "date_order",
    "duplicate_conflict",
    "group_without_group_id",
    "spreadsheet_error",
}


@pytest.fixture(scope="module")
def sessions() -> pd.DataFrame:
    return pd.read_csv(SAMPLE / "sessions.csv", parse_dates=["date"])


@pytest.fixture(scope="module")
def episodes(sessions) -> pd.DataFrame:
    return sessions.groupby("episode_id").agg(
        client_id=("client_id", "first"),
        format=("format", "first"),
        end_reason=("end_reason", "first"),
        start=("date", "min"),
        end=("date", "max"),
        n=("session", "size"),
        planned=("planned_sessions", "first"),
        group_id=("group_id", "first"),
        therapist_id=("therapist_id", "first"),
        site=("site", "first"),
        medication=("medication", "first"),
        problem_area=("problem_area", "first"),
        secondary=("secondary_problem_area", "first"),
    )


def _domains(q: np.ndarray) -> np.ndarray:
    """QIDS-SR16 domain scores written out from docs/definitions.md, "Instrument scoring"."""
    return np.column_stack(
        [
            q[:, 0:4].max(axis=1),
            q[:, 4],
            q[:, 5:9].max(axis=1),
            q[:, 9],
            q[:, 10],
            q[:, 11],
            q[:, 12],
            q[:, 13],
            q[:, 14:16].max(axis=1),
        ]
    )


# --- determinism and committed files ----------------------------------------------------------


def test_same_seed_same_frame_and_other_seed_differs():
    a = synth.simulate_cohort(n_episodes=150, seed=5)
    b = synth.simulate_cohort(n_episodes=150, seed=5)
    pd.testing.assert_frame_equal(a, b)
    c = synth.simulate_cohort(n_episodes=150, seed=6)
    assert not a.equals(c)
    assert list(a.columns) == synth.SESSION_COLUMNS


def test_write_sample_and_main_are_byte_identical_and_match_committed(tmp_path, capsys):
    first = sample_files.write_sample(tmp_path / "a")
    assert sample_files.main(["--out", str(tmp_path / "b")]) == 0
    assert "messy_expected.csv" in capsys.readouterr().out
    assert sorted(first) == ["messy_expected.csv", "messy_sessions.csv", "sessions.csv"]
    for name, path in first.items():
        data = path.read_bytes()
        assert data == (tmp_path / "b" / name).read_bytes()
        assert b"\r" not in data
        # a change to the generator must come with regenerated committed files
        assert data == (SAMPLE / name).read_bytes(), f"data/sample/{name} is stale"


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="n_episodes"):
        synth.simulate_cohort(n_episodes=0)
    with pytest.raises(ValueError, match="format_shares"):
        synth.simulate_scores(format_shares={"hypnotherapy": 1.0})


# --- the committed cohort ---------------------------------------------------------------------


def test_size_and_structure(sessions, episodes):
    assert list(sessions.columns) == synth.SESSION_COLUMNS
    assert 12_000 <= len(sessions) <= 16_000
    assert (SAMPLE / "sessions.csv").stat().st_size < 3_000_000
    assert len(episodes) == 1200
    assert episodes["client_id"].nunique() < len(episodes)  # some clients return
    assert sessions["site"].nunique() == 4
    assert 25 <= sessions["therapist_id"].nunique() <= 35
    assert (sessions.groupby("therapist_id")["site"].nunique() == 1).all()
    assert episodes["start"].min() >= pd.Timestamp("2024-07-01")
    assert episodes["start"].max() <= pd.Timestamp("2026-06-30")
    assert sessions["date"].max() <= pd.Timestamp("2026-06-30")
    quarters = episodes["start"].dt.to_period("Q").nunique()
    assert quarters == 8


def test_items_consistent_with_totals(sessions):
    phq = sessions[PHQ]
    assert phq.notna().all().all()
    assert phq.isin(range(4)).all().all()
    assert sessions[PHQ].sum(axis=1).between(0, 27).all()
    # instruments are given whole or not at all
    for cols in (GAD, QIDS):
        given = sessions[cols].notna()
        assert given.all(axis=1).eq(given.any(axis=1)).all()
        assert sessions.loc[given.all(axis=1), cols].isin(range(4)).all().all()
    assert 0.80 <= sessions["gad7_1"].notna().mean() <= 0.90
    assert 0.05 <= (sessions["phq9_9"] > 0).mean() <= 0.30


def test_qids_one_site_and_correlated(sessions):
    given = sessions["qids_sr16_1"].notna()
    assert sessions.loc[given, "site"].nunique() == 1
    site = sessions.loc[given, "site"].iloc[0]
    assert given.eq(sessions["site"] == site).all()
    q = sessions.loc[given, QIDS].to_numpy(dtype=int)
    total = _domains(q).sum(axis=1)
    assert total.max() <= 27
    phq = sessions.loc[given, PHQ].sum(axis=1).to_numpy()
    assert np.corrcoef(total, phq)[0, 1] > 0.6
    gad = sessions.loc[sessions["gad7_1"].notna()]
    assert np.corrcoef(gad[GAD].sum(axis=1), gad[PHQ].sum(axis=1))[0, 1] > 0.6
    # appetite/weight: a client reports loss (items 6, 8) or gain (items 7, 9), not both
    loss = q[:, [5, 7]].max(axis=1) > 0
    gain = q[:, [6, 8]].max(axis=1) > 0
    assert not (loss & gain).any()


def test_qids_items_reproduce_their_domains():
    rng = np.random.default_rng(3)
    domains = rng.integers(0, 4, size=(500, 9))
    items = synth._qids_items(domains, rng)
    assert ((items >= 0) & (items <= 3)).all()
    np.testing.assert_array_equal(_domains(items), domains)


def test_allocate_items_hits_totals_with_cap():
    rng = np.random.default_rng(4)
    totals = np.arange(28).repeat(5)
    items = synth.allocate_items(totals, np.ones((totals.size, 9)), 3, rng)
    np.testing.assert_array_equal(items.sum(axis=1), totals)
    assert items.min() == 0 and items.max() == 3
    with pytest.raises(ValueError, match="totals"):
        synth.allocate_items(np.array([28]), np.ones((1, 9)), 3, rng)


def test_sessions_consecutive_weekly_with_missed_weeks(sessions):
    for _, ep in sessions.groupby("episode_id"):
        assert ep["session"].tolist() == list(range(1, len(ep) + 1))
    gaps = sessions.groupby("episode_id")["date"].diff().dropna().dt.days
    assert (gaps > 0).all() and (gaps % 7 == 0).all()
    assert 0.02 < (gaps >= 14).mean() < 0.15  # occasional missed weeks
    assert (
        sessions.groupby("episode_id")["session"].max()
        <= sessions.groupby("episode_id")["planned_sessions"].first()
    ).all()


def test_groups_nested(sessions, episodes):
    grp = episodes[episodes["format"] == "group"]
    assert grp["group_id"].notna().all()
    assert episodes.loc[episodes["format"] != "group", "group_id"].isna().all()
    assert sessions.loc[sessions["format"] == "group", "group_id"].notna().all()
    by = grp.groupby("group_id")
    assert by.size().between(6, 10).all()
    for col in ("therapist_id", "site", "start", "planned"):
        assert (by[col].nunique() == 1).all(), col
    assert by.ngroups >= 15


def test_episode_attributes(sessions, episodes):
    shares = episodes["format"].value_counts(normalize=True)
    assert shares.index[0] == "individual"
    assert set(shares.index) == set(synth.FORMATS)
    assert 0.35 <= episodes["medication"].mean() <= 0.45
    sec = episodes["secondary"].notna()
    assert 0.08 <= sec.mean() <= 0.16
    assert (episodes.loc[sec, "secondary"] != episodes.loc[sec, "problem_area"]).all()
    assert set(episodes["planned"]) <= set(range(8, 17))
    # format switches within individual episodes: in person, then telehealth
    n_fmt = sessions.groupby("episode_id")["format"].nunique()
    switched = n_fmt[n_fmt > 1].index
    assert 0.02 <= len(switched) / (episodes["format"] == "individual").sum() <= 0.08
    assert set(sessions.loc[sessions["episode_id"].isin(switched), "format"]) == {
        "individual",
        "telehealth",
    }
    # a returning client's episodes do not overlap
    multi = episodes.groupby("client_id").filter(lambda g: len(g) > 1).sort_values("start")
    for _, g in multi.groupby("client_id"):
        assert (g["start"].iloc[1:].to_numpy() > g["end"].iloc[:-1].to_numpy()).all()


def test_end_reasons_and_dropout(episodes):
    assert set(episodes["end_reason"]) == {"completed", "dropout", "referred_on", "ongoing"}
    ended = episodes[episodes["end_reason"] != "ongoing"]
    rate = ended.groupby("format")["end_reason"].apply(lambda r: (r == "dropout").mean())
    assert rate["internet"] > rate["individual"] + 0.1
    assert rate["internet"] == rate.max()
    done = ended[ended["end_reason"] == "completed"]
    assert (done["n"] <= done["planned"]).all()
    # every ongoing episode's next session would fall after the cut-off
    ongoing = episodes[episodes["end_reason"] == "ongoing"]
    assert (ongoing["end"] > pd.Timestamp("2026-06-30") - pd.Timedelta(days=7 * 5)).all()


def test_dropout_depends_on_latest_score(sessions, episodes):
    # MAR: within a session number, the score observed just before leaving is higher than
    # the score of those who came back (dropout hazard rises with the latest score).
    df = sessions.join(episodes[["n"]], on="episode_id")
    df["phq"] = df[PHQ].sum(axis=1)
    left = (df["end_reason"] == "dropout") & (df["session"] == df["n"])
    stayed = df["session"] < df["n"]
    diffs = []
    for s in range(1, 9):
        at = df["session"] == s
        diffs.append(df.loc[at & left, "phq"].mean() - df.loc[at & stayed, "phq"].mean())
    assert np.mean(diffs) > 1.0


def test_baseline_phq9_near_truth(sessions):
    base = sessions.loc[sessions["session"] == 1, PHQ].sum(axis=1)
    # latent mean 16, SD sqrt(4^2 + 1 + 2.5^2) ~ 4.8 before rounding and clipping at 0..27
    assert abs(base.mean() - synth.TRUE_PARAMETERS.intercept) < 0.6
    assert 4.0 < base.std() < 5.5


# --- simulate_scores: known truth -------------------------------------------------------------


def _per_client_ols(df: pd.DataFrame):
    t = df["week"].to_numpy()
    y = df["y"].to_numpy()
    ids = df["client_id"].to_numpy()
    n_w = int(df.groupby("client_id").size().iloc[0])
    t = t.reshape(-1, n_w)
    y = y.reshape(-1, n_w)
    tc = t - t.mean(axis=1, keepdims=True)
    b = (tc * (y - y.mean(axis=1, keepdims=True))).sum(axis=1) / (tc**2).sum(axis=1)
    a = y.mean(axis=1) - b * t.mean(axis=1)
    resid = y - a[:, None] - b[:, None] * t
    return a, b, resid, ids.reshape(-1, n_w)[:, 0], (tc[0] ** 2).sum()


def test_simulate_scores_recovers_parameters():
    p = dataclasses.replace(synth.TRUE_PARAMETERS, sd_therapist=0.0)
    df = synth.simulate_scores(
        n_clients=2000,
        n_weeks=10,
        seed=11,
        parameters=p,
        format_shares={"individual": 0.5, "internet": 0.5},
        problem_area_shares={"grief": 1.0},
        medication_share=0.0,
    )
    a, b, resid, ids, sxx = _per_client_ols(df)
    fmt = df.groupby("client_id", sort=False)["format"].first().to_numpy()
    s2 = p.sd_residual**2
    n = len(a)
    # Per-client OLS: slope = fixed + u1 + noise with variance s2 / Sxx.
    var_b = p.sd_client_slope**2 + s2 / sxx
    for level, truth in (("individual", p.slope), ("internet", p.slope + 0.20)):
        sel = fmt == level
        assert abs(b[sel].mean() - truth) < 4 * np.sqrt(var_b / sel.sum())
    assert p.format_slope["internet"] == 0.20
    bc = b - np.where(fmt == "internet", p.slope + 0.2, p.slope)
    assert abs(bc.var() - var_b) < 4 * var_b * np.sqrt(2 / n)
    tbar = 4.5
    var_a = p.sd_client_intercept**2 + s2 * (1 / 10 + tbar**2 / sxx)
    assert abs(a.mean() - p.intercept) < 4 * np.sqrt(var_a / n)
    assert abs(a.var() - var_a) < 4 * var_a * np.sqrt(2 / n)
    cov_ab = p.corr_client * p.sd_client_intercept * p.sd_client_slope - s2 * tbar / sxx
    se_cov = np.sqrt((var_a * var_b + cov_ab**2) / n)
    assert abs(np.cov(a, bc)[0, 1] - cov_ab) < 4 * se_cov
    s2_hat = (resid**2).sum() / (resid.size - 2 * n)
    assert abs(s2_hat - s2) < 4 * s2 * np.sqrt(2 / (resid.size - 2 * n))


def test_simulate_scores_effects_reconstruct_y_and_groups_nest():
    p = synth.TRUE_PARAMETERS
    df = synth.simulate_scores(n_clients=600, n_weeks=6, seed=2, include_effects=True)
    assert df.shape == (3600, 13)
    fs = df["format"].map(p.format_slope) + df["problem_area"].map(p.problem_area_slope)
    med = df["medication"].astype(float)
    slope = p.slope + fs + p.medication_slope * med + df["u1_client"]
    mean = p.intercept + df["u0_client"] + df["v_therapist"] + df["g_group"]
    np.testing.assert_allclose(
        df["y"], mean + p.medication_intercept * med + slope * df["week"] + df["residual"]
    )
    grp = df[df["format"] == "group"]
    assert df.loc[df["format"] != "group", "g_group"].eq(0).all()
    assert df.loc[df["format"] != "group", "group_id"].isna().all()
    by = grp.groupby("group_id")
    assert by["client_id"].nunique().between(6, 10).all()
    assert (by["therapist_id"].nunique() == 1).all() and (by["g_group"].nunique() == 1).all()
    one = df.groupby("client_id").first()
    u = one[["u0_client", "u1_client"]].to_numpy()
    assert abs(u[:, 0].std() - p.sd_client_intercept) < 0.5
    assert abs(u[:, 1].std() - p.sd_client_slope) < 0.05
    np.testing.assert_allclose(df["residual"].std(), p.sd_residual, rtol=0.05)


def test_simulate_scores_is_seeded():
    a = synth.simulate_scores(n_clients=50, n_weeks=3, seed=9)
    pd.testing.assert_frame_equal(a, synth.simulate_scores(n_clients=50, n_weeks=3, seed=9))
    assert not a.equals(synth.simulate_scores(n_clients=50, n_weeks=3, seed=10))


# --- the messy file ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def messy():
    text = pd.read_csv(SAMPLE / "messy_sessions.csv", dtype=str, keep_default_na=False)
    expected = pd.read_csv(SAMPLE / "messy_expected.csv", keep_default_na=False)
    _, _, accepted = synth_messy.make_messy()
    return text, expected, accepted


def test_messy_expected_covers_every_fault_kind(messy):
    text, expected, _ = messy
    assert 150 <= len(text) <= 300
    assert list(text.columns) == [
        *synth.SESSION_COLUMNS[:22],
        "phq9_total",
        *synth.SESSION_COLUMNS[22:],
    ]
    assert set(expected["reason"]) == (REASONS - {"total_out_of_range"}) | {"exact_duplicate"}
    assert (expected["reason"] == "exact_duplicate").sum() == 1
    assert (expected["reason"] == "duplicate_conflict").sum() == 2
    assert (expected["reason"] == "date_order").sum() == 2
    assert expected["source_row"].is_unique
    assert expected["source_row"].between(2, len(text) + 1).all()


def _row(text, source_row):
    return text.iloc[source_row - 2]


def test_messy_faults_are_where_documented(messy):
    text, expected, _ = messy
    for rec in expected.itertuples():
        row = _row(text, rec.source_row)
        cell = row.get(rec.column, "")
        if rec.reason == "item_out_of_range":
            assert int(cell) not in range(4)
        elif rec.reason == "non_numeric":
            # not a whole number written with ASCII digits (text, fullwidth digits, or a
            # decimal that only rounds to a whole number)
            assert re.fullmatch(r"[+-]?[0-9]+(\.0*)?", cell) is None
        elif rec.reason == "missing_required":
            assert cell in ("", "N/A")
        elif rec.reason == "group_without_group_id":
            assert cell in ("", "NULL") and row["format"] == "group"
        elif rec.reason == "spreadsheet_error":
            assert cell in ("#DIV/0!", "#N/A")
        elif rec.reason == "unknown_label":
            assert cell in {"hypnotherapy", "anger"}
        elif rec.reason == "bad_date":
            assert pd.isna(pd.to_datetime(cell, format="%Y-%m-%d", errors="coerce"))
        elif rec.reason == "too_many_missing_items":
            assert (row[PHQ] == "").sum() >= 3
        elif rec.reason == "total_mismatch":
            assert int(cell) != sum(int(row[c]) for c in PHQ)
        elif rec.reason == "exact_duplicate":
            assert row.equals(_row(text, rec.source_row - 1))
        elif rec.reason in ("duplicate_conflict", "date_order"):
            pass  # checked pairwise below
        else:  # pragma: no cover - a new reason needs a check
            raise AssertionError(rec.reason)
    pairs = {
        r: expected.loc[expected["reason"] == r, "source_row"].tolist()
        for r in ("duplicate_conflict", "date_order")
    }
    r1, r2 = (_row(text, s) for s in pairs["duplicate_conflict"])
    assert (r1["episode_id"], r1["session"]) == (r2["episode_id"], r2["session"])
    assert not r1.equals(r2)
    d1, d2 = (_row(text, s) for s in pairs["date_order"])
    assert d1["episode_id"] == d2["episode_id"]
    assert (int(d1["session"]), int(d2["session"])) == (4, 5) and d2["date"] < d1["date"]


def test_messy_other_rows_are_valid(messy):
    text, expected, accepted = messy
    variants = {(r.column, r.value) for r in accepted.itertuples()}
    bad = set(expected["source_row"])
    ok = text[~(text.index + 2).isin(bad)]
    assert len(ok) == len(text) - len(bad)
    for col, vocab in (("format", synth.FORMATS), ("problem_area", synth.PROBLEM_AREAS)):
        odd = ok.loc[~ok[col].isin(vocab), col]
        assert all((col, v) in variants for v in odd), odd.tolist()
    assert {v for c, v in variants if c in ("format", "problem_area")} == {
        "Face-to-face",
        " VIDEO ",
        "phone",
        "Online",
        "Bereavement",
        "life transition",
    }
    assert (ok["client_id"] != "").all() and (ok["episode_id"] != "").all()
    dates = pd.to_datetime(ok["date"], format="%Y-%m-%d")
    assert dates.notna().all()
    assert ((ok["format"] != "group") | (ok["group_id"] != "")).all()
    items = ok[PHQ + GAD + QIDS].replace("", np.nan).astype(float)
    assert ((items >= 0) & (items <= 3) | items.isna()).all().all()
    n_missing = items[PHQ].isna().sum(axis=1)
    assert n_missing.max() == 1 and (n_missing == 1).sum() == 1
    given = ok["phq9_total"] != ""
    assert given.sum() >= 20
    np.testing.assert_array_equal(
        ok.loc[given, "phq9_total"].astype(int), items.loc[given, PHQ].sum(axis=1)
    )
    # dates rise with session numbers within every episode once the faulty rows are out
    chk = ok.assign(session=ok["session"].astype(int), date=dates)
    for _, ep in chk.groupby("episode_id"):
        ep = ep.drop_duplicates().sort_values("session")
        assert ep["session"].is_unique and ep["date"].is_monotonic_increasing


def test_messy_accepted_rows_match_file(messy):
    text, expected, accepted = messy
    assert not set(accepted["source_row"]) & set(expected["source_row"])
    for rec in accepted.itertuples():
        assert _row(text, rec.source_row)[rec.column] == rec.value


def test_readme_documents_every_fault_row(messy):
    _, expected, accepted = messy
    readme = (SAMPLE / "README.md").read_text(encoding="utf-8")
    assert "SYNTHETIC" in readme
    for rec in expected.itertuples():
        column = f"`{rec.column}`" if rec.column else "(whole row)"
        assert f"| {rec.source_row} | {column} | {rec.reason} |" in readme
    for rec in accepted[accepted["column"].isin(["format", "problem_area", "phq9_6"])].itertuples():
        assert f"| {rec.source_row} | `{rec.column}` |" in readme
