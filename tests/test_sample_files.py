"""The shipped sample files: the clean one validates fully; every planted fault is found."""

from pathlib import Path

import pandas as pd
import pytest

from ipt_analytics import read_sessions
from ipt_analytics.cli import main

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"


@pytest.fixture(scope="module")
def messy():
    return read_sessions(SAMPLE / "messy_sessions.csv", on_error="quarantine")


def test_clean_sample_has_no_rejections():
    data = read_sessions(SAMPLE / "sessions.csv")  # on_error="raise": any problem fails
    assert data.n_rejected_rows == 0 and data.n_duplicates_collapsed == 0
    assert (
        data.n_accepted_rows
        == data.n_input_rows
        == len(pd.read_csv(SAMPLE / "sessions.csv", dtype=str))
    )
    assert set(data.sessions["instrument"]) >= {"phq9", "gad7"}


def test_every_planted_fault_is_found_at_its_row(messy):
    expected = pd.read_csv(SAMPLE / "messy_expected.csv", dtype=str, keep_default_na=False)
    expected["source_row"] = expected["source_row"].astype(int)
    faults = expected[expected["reason"] != "exact_duplicate"]
    found = messy.rejected
    for fault in faults.itertuples():
        hits = found[(found["source_row"] == fault.source_row) & (found["reason"] == fault.reason)]
        assert len(hits), f"planted fault not found: {fault}"
        # the expected column may name an instrument ('phq9') for a multi-column problem
        assert any(c.startswith(fault.column) for c in hits["column"]), (fault, hits)
    # nothing else is rejected
    assert set(found["source_row"]) == set(faults["source_row"])
    assert messy.n_rejected_rows == faults["source_row"].nunique()


def test_planted_exact_duplicates_are_collapsed(messy):
    expected = pd.read_csv(SAMPLE / "messy_expected.csv", dtype=str, keep_default_na=False)
    dups = expected.loc[expected["reason"] == "exact_duplicate", "source_row"].astype(int)
    assert messy.n_duplicates_collapsed == len(dups)
    assert not set(dups) & set(messy.sessions["source_row"])
    assert not set(dups) & set(messy.rejected["source_row"])
    assert (
        messy.n_accepted_rows + messy.n_rejected_rows + messy.n_duplicates_collapsed
        == messy.n_input_rows
    )


def test_cli_on_sample_files(capsys):
    expected = pd.read_csv(SAMPLE / "messy_expected.csv", dtype=str, keep_default_na=False)
    faults = expected[expected["reason"] != "exact_duplicate"]
    n_dups = int((expected["reason"] == "exact_duplicate").sum())
    assert main(["validate", str(SAMPLE / "messy_sessions.csv")]) == 1
    out = capsys.readouterr().out
    assert f"rejected: {faults['source_row'].nunique()}" in out
    assert f"duplicates collapsed: {n_dups}" in out
