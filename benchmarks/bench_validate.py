"""Benchmark of reading and validation on a large file with many out-of-order episodes.

Builds a synthetic wide session table (``--rows`` rows, 12 weekly sessions per episode, a
PHQ-9 total per session) in which ``--bad`` episodes have the dates of two sessions swapped,
then times ``read_sessions`` on it:

(a) from the DataFrame (reading to text + validation), once with the ``--bad`` out-of-order
    episodes and once on the same table with none, so that the cost of the out-of-order
    episodes is the difference (robust to a busy machine, which slows both alike), and
(b) from a CSV file written to a temporary folder (adds the CSV parser).

It checks that exactly the planted sessions are rejected (``2 * bad`` rows, reason
``date_order``) and prints wall times (best of ``--repeat`` runs).

Run from the repository root::

    python benchmarks/bench_validate.py [--rows 1200000] [--bad 1000] [--repeat 1]

To compare with another checkout (e.g. before a change), put it first on the path:
``PYTHONPATH=/path/to/other/checkout python benchmarks/bench_validate.py``.
Not a test: the numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import ipt_analytics
from ipt_analytics import read_sessions

SESSIONS_PER_EPISODE = 12


def make_frame(n_rows: int, n_bad: int, seed: int = 1) -> pd.DataFrame:
    """Wide sessions table with ``n_bad`` episodes whose sessions 4 and 5 have swapped dates."""
    rng = np.random.default_rng(seed)
    n_eps = n_rows // SESSIONS_PER_EPISODE
    ep = np.repeat(np.arange(n_eps), SESSIONS_PER_EPISODE)
    session = np.tile(np.arange(1, SESSIONS_PER_EPISODE + 1), n_eps)
    start = pd.Timestamp("2020-01-06") + pd.to_timedelta(rng.integers(0, 1500, n_eps), "D")
    dates = np.asarray(start)[ep] + pd.to_timedelta(7 * (session - 1), "D").to_numpy()
    bad = rng.choice(n_eps, size=n_bad, replace=False)
    for e in bad:  # swap the dates of sessions 4 and 5
        i = e * SESSIONS_PER_EPISODE + 3
        dates[i], dates[i + 1] = dates[i + 1], dates[i]
    formats = np.array(["individual", "group", "telehealth", "telephone", "internet"])
    fmt = formats[rng.integers(0, 5, n_eps)][ep]
    return pd.DataFrame(
        {
            "client_id": np.char.add("C", ep.astype(str)),
            "episode_id": np.char.add("E", ep.astype(str)),
            "session": session,
            "date": pd.DatetimeIndex(dates).strftime("%Y-%m-%d"),
            "format": fmt,
            "group_id": np.where(fmt == "group", "G1", ""),
            "phq9_total": rng.integers(0, 28, len(ep)),
        }
    )


def _time(fn, repeat: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_200_000)
    parser.add_argument("--bad", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    frame = make_frame(args.rows, args.bad)
    print(f"ipt_analytics from {Path(ipt_analytics.__file__).parent}")
    print(f"{len(frame):,} rows, {args.bad} episodes with two sessions' dates swapped")
    warnings.simplefilter("ignore")

    def run(source):
        return read_sessions(source, on_error="quarantine")

    clean_frame = make_frame(args.rows, 0)
    clean_seconds, clean = _time(lambda: run(clean_frame), args.repeat)
    assert clean.n_rejected_rows == 0
    seconds, data = _time(lambda: run(frame), args.repeat)
    reasons = data.rejected["reason"].value_counts().to_dict()
    print(f"read_sessions(DataFrame), no bad episodes: {clean_seconds:.2f} s")
    print(f"read_sessions(DataFrame), {args.bad} bad episodes: {seconds:.2f} s; rejected rows "
          f"{data.n_rejected_rows} {reasons}")  # fmt: skip
    print(f"cost of the out-of-order episodes: {seconds - clean_seconds:.2f} s")
    assert data.n_rejected_rows == 2 * args.bad, "the planted rows were not all found"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.csv"
        frame.to_csv(path, index=False)
        seconds, data = _time(lambda: run(str(path)), args.repeat)
    print(f"read_sessions(CSV file):  {seconds:.2f} s; rejected rows {data.n_rejected_rows}")


if __name__ == "__main__":
    main()
