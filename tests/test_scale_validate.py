"""Out-of-core validation (``validate_to_parquet``, ``validate FILE --to-parquet DIR``).

Reference: the in-memory :func:`read_sessions` on the same file (whose rules and reasons are
pinned by tests/test_validation*.py and data/sample/messy_expected.csv): the accounting, every
rejected row (row number, column, value, reason, message) and the accepted rows must be equal,
whatever the number of partitions and whether the file is sorted.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ipt_analytics.cli import main
from ipt_analytics.io import read_sessions
from ipt_analytics.io.out_of_core import validate_to_parquet

SAMPLE = Path(__file__).parents[1] / "data" / "sample"
KEYS = ["source_row", "instrument"]


def in_memory(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return read_sessions(path, on_error="quarantine")


def assert_same(path, out, n_buckets, chunk_rows):
    ref = in_memory(path)
    res = validate_to_parquet(path, out, n_buckets=n_buckets, chunk_rows=chunk_rows)
    for key, value in res.summary().items():
        if key != "source":
            assert ref.summary()[key] == value, key
    assert (res.n_accepted_rows + res.n_rejected_rows + res.n_duplicates_collapsed
            == res.n_input_rows)  # fmt: skip
    order = ["source_row", "column"]
    pd.testing.assert_frame_equal(
        ref.rejected.sort_values(order, kind="stable").reset_index(drop=True),
        res.rejected.sort_values(order, kind="stable").reset_index(drop=True),
        check_dtype=False,
    )
    got = pd.read_parquet(Path(out) / "sessions").sort_values(KEYS).reset_index(drop=True)
    want = ref.sessions.sort_values(KEYS).reset_index(drop=True)
    pd.testing.assert_frame_equal(want, got, check_dtype=False)
    return res


@pytest.mark.parametrize("n_buckets, chunk_rows", [(1, 100_000), (4, 37)])
def test_messy_file_out_of_core_equals_in_memory(tmp_path, n_buckets, chunk_rows):
    res = assert_same(SAMPLE / "messy_sessions.csv", tmp_path, n_buckets, chunk_rows)
    # the planted faults (data/sample/messy_expected.csv) at their original row numbers
    expected = pd.read_csv(SAMPLE / "messy_expected.csv")
    planted = {(int(r), c) for r, c in zip(expected["source_row"], expected["reason"],
                                           strict=True) if c != "exact_duplicate"}  # fmt: skip
    assert planted == set(zip(res.rejected["source_row"], res.rejected["reason"], strict=True))
    msg = res.rejected.loc[res.rejected["reason"] == "duplicate_conflict", "message"].iloc[0]
    assert "rows 56, 57" in msg  # row numbers inside messages are the file's


def test_generated_unsorted_file_out_of_core(tmp_path):
    # a generated file: the clean sample and the messy sample, rows shuffled (not sorted by
    # episode), episodes of the messy file renamed so that the two do not collide
    clean = (SAMPLE / "sessions.csv").read_text().splitlines()
    messy = pd.read_csv(SAMPLE / "messy_sessions.csv", dtype=str, keep_default_na=False)
    lines = clean[1:]
    rng = np.random.default_rng(7)
    rng.shuffle(lines)
    path = tmp_path / "generated.csv"
    path.write_text("\n".join([clean[0], *lines]) + "\n")
    assert_same(path, tmp_path / "out", n_buckets=5, chunk_rows=1000)
    shuffled = messy.sample(frac=1.0, random_state=3)
    shuffled.to_csv(tmp_path / "messy_shuffled.csv", index=False)
    assert_same(tmp_path / "messy_shuffled.csv", tmp_path / "out2", n_buckets=3, chunk_rows=50)


def test_cli_to_parquet(tmp_path, capsys):
    code = main(["validate", str(SAMPLE / "messy_sessions.csv"), "--to-parquet", str(tmp_path)])
    out = capsys.readouterr().out
    ref = in_memory(SAMPLE / "messy_sessions.csv")
    assert code == 1
    assert f"n_rejected_rows: {ref.n_rejected_rows}\n" in out
    assert f"n_duplicates_collapsed: {ref.n_duplicates_collapsed}\n" in out
    assert (tmp_path / "rejected.csv").exists() and (tmp_path / "summary.json").exists()
    assert len(pd.read_parquet(tmp_path / "sessions")) == len(ref.sessions)
    assert main(["validate", str(tmp_path / "none.csv"), "--to-parquet", str(tmp_path)]) == 2
