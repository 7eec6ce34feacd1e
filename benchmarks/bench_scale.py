"""Fits from data that do not fit in memory: time and peak resident memory (not in CI).

Writes a simulated Parquet dataset of ``--rows`` ratings (weekly PHQ-9 totals of IPT
episodes, 10 ratings per episode on average, five delivery formats), in chunks so that the
generator itself needs little memory; then, each in a fresh child process whose peak RSS is
read from ``resource.getrusage(RUSAGE_CHILDREN)``:

1. ``fit_trajectory(DIR, by="format")`` - the model ``total ~ time * format +
   (time | episode_id)`` from the Parquet directory (grouped sums in DuckDB);
2. with ``--check-rows N`` (default 200,000): the first N rows fitted three ways - pandas in
   memory, DuckDB from Parquet, Spark ``local[2]`` (when pyspark and Java are present) - and
   the largest differences between them.

Usage::

    python benchmarks/bench_scale.py --rows 5000000 --out /tmp/ipt_scale
    python benchmarks/bench_scale.py --rows 50000000 --out /tmp/ipt_scale50 --check-rows 0
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

FORMATS = np.array(["individual", "group", "telehealth", "telephone", "internet"])


def simulate(out: Path, rows: int, seed: int = 2026, chunk_episodes: int = 50_000) -> int:
    """Write ``rows`` (about) ratings as Parquet files of whole episodes; returns the count."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    written, part, first = 0, 0, 0
    while written < rows:
        n_ep = chunk_episodes
        length = rng.integers(4, 17, n_ep)  # 4-16 weekly ratings, mean 10
        ep = np.repeat(np.arange(first, first + n_ep), length)
        session = np.concatenate([np.arange(1, k + 1) for k in length])
        week = (session - 1).astype(float) + rng.normal(0, 0.2, ep.size).clip(-0.4, 0.4)
        week[session == 1] = 0.0
        fmt_ep = rng.choice(5, n_ep, p=[0.45, 0.2, 0.2, 0.1, 0.05])
        fmt = fmt_ep[ep - first]
        b0 = rng.normal(0, 3.5, n_ep)[ep - first]
        b1 = rng.normal(0, 0.45, n_ep)[ep - first]
        slope = np.array([-0.75, -0.65, -0.7, -0.6, -0.5])[fmt]
        total = np.clip(np.round(16 + 0.5 * (fmt == 1) + b0 + (slope + b1) * week
                                 + rng.normal(0, 2.2, ep.size)), 0, 27)  # fmt: skip
        table = pa.table({
            "episode_id": pa.array([f"E{e:09d}" for e in ep]),
            "session": pa.array(session.astype(np.int64)),
            "week": pa.array(week),
            "instrument": pa.array(np.full(ep.size, "phq9")),
            "total": pa.array(total),
            "format": pa.array(FORMATS[fmt]),
        })  # fmt: skip
        pq.write_table(table, out / f"part-{part:05d}.parquet")
        written += ep.size
        first += n_ep
        part += 1
    return written


_CHILD = """
import json, resource, sys, time, warnings
warnings.simplefilter("ignore")
t0 = time.perf_counter()
from ipt_analytics.models.trajectory import fit_trajectory
fit = fit_trajectory(sys.argv[1], by="format")
out = {"seconds": time.perf_counter() - t0, "nobs": fit.model.nobs,
       "episodes": fit.model.ngroups["episode_id"], "loglik": fit.model.loglik,
       "converged": fit.model.converged,
       "fixed": fit.fixed.set_index("term")["estimate"].round(5).to_dict()}
print(json.dumps(out))
"""


_PEAK = """
import json, resource
print(json.dumps({"peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def run_child(code: str, *args: str) -> tuple[dict, float]:
    """Run ``code`` in a fresh interpreter; (its JSON output, its own peak RSS in MB).

    The child reports ``getrusage(RUSAGE_SELF).ru_maxrss`` as it ends (DuckDB runs inside
    that process, so its buffers count; a Spark JVM is a separate process and does not).
    """
    proc = subprocess.run([sys.executable, "-c", code + _PEAK, *args], capture_output=True,
                          text=True, check=True)  # fmt: skip
    lines = proc.stdout.strip().splitlines()
    return json.loads(lines[-2]), json.loads(lines[-1])["peak_rss_kb"] / 1024.0


_CHECK = """
import json, sys, warnings, shutil
warnings.simplefilter("ignore")
import numpy as np, pandas as pd
from ipt_analytics.models.trajectory import fit_trajectory
path, n = sys.argv[1], int(sys.argv[2])
import duckdb
con = duckdb.connect()
rel = con.sql(f"SELECT * FROM read_parquet('{path}/*.parquet') ORDER BY episode_id, session "
              f"LIMIT {n}")
df = rel.df()
fits = {"pandas": fit_trajectory(df, by="format"), "duckdb": fit_trajectory(rel, by="format")}
if shutil.which("java"):
    try:
        from pyspark.sql import SparkSession
        spark = (SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false")
                 .config("spark.sql.shuffle.partitions", "2").getOrCreate())
        spark.sparkContext.setLogLevel("ERROR")
        fits["spark"] = fit_trajectory(spark.createDataFrame(df), by="format")
    except ImportError:
        pass
ref = fits["pandas"]
out = {}
for name, fit in fits.items():
    f, r = fit.fixed, ref.fixed
    out[name] = {
        "max_rel_diff_estimate": float(np.max(np.abs(f["estimate"] / r["estimate"] - 1))),
        "max_diff_estimate_in_se": float(np.max(np.abs(f["estimate"] - r["estimate"])
                                                / r["std_error"])),
        "max_rel_diff_se": float(np.max(np.abs(f["std_error"] / r["std_error"] - 1))),
        "max_rel_diff_df": float(np.max(np.abs(f["df"] / r["df"] - 1))),
        "loglik_diff": float(fit.model.loglik - ref.model.loglik),
    }
print(json.dumps(out))
"""


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=5_000_000)
    ap.add_argument("--out", default="/tmp/ipt_scale")
    ap.add_argument("--check-rows", type=int, default=200_000)
    ap.add_argument("--keep", action="store_true", help="keep the generated dataset")
    args = ap.parse_args(argv)
    out = Path(args.out)
    t0 = time.perf_counter()
    n = simulate(out, args.rows)
    size = sum(f.stat().st_size for f in out.glob("*.parquet")) / 1e6
    print(f"simulated {n:,} rows in {time.perf_counter() - t0:.1f} s ({size:.0f} MB Parquet)")
    res, peak = run_child(_CHILD, str(out))
    print(f"fit_trajectory(DIR, by='format'): {res['seconds']:.1f} s, peak RSS {peak:.0f} MB, "
          f"n={res['nobs']:,}, episodes={res['episodes']:,}, logLik={res['loglik']:.3f}, "
          f"converged={res['converged']}")  # fmt: skip
    print("  fixed effects:", res["fixed"])
    if args.check_rows:
        check, peak2 = run_child(_CHECK, str(out), str(args.check_rows))
        print(f"first {args.check_rows:,} rows, pandas vs engines (peak RSS {peak2:.0f} MB):")
        for name, diffs in check.items():
            print(f"  {name}: " + ", ".join(f"{k}={v:.2e}" for k, v in diffs.items()))
    if not args.keep:
        shutil.rmtree(out)
    print(f"cpu count {os.cpu_count()}")


if __name__ == "__main__":
    main()
