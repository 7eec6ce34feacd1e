"""Benchmark of reading and validation against ``pandas.read_csv`` on the same file.

Builds a session CSV in the layout of ``data/sample/sessions.csv`` (wide: PHQ-9, GAD-7 and
the other instruments' columns, episode attributes) by repeating the sample cohort with new
client and episode ids until it has ``--rows`` rows (1.2 million rows are about 115,000
episodes and 168 MB). In ``--bad`` episodes the dates of the 4th and 5th sessions are swapped,
so those sessions must be rejected (``date_order``); the benchmark checks that exactly
``2 * bad`` rows are rejected.

Each measurement runs in its own child process, so that every number is like for like: the
wall time of the call and the child's peak resident memory (``VmHWM``), for

* ``pandas.read_csv(path)`` (default arguments: the reference),
* ``pandas.read_csv(path, dtype=str, keep_default_na=False)`` (every cell as the text
  written, which is what validation has to start from),
* ``read_sessions(path, on_error="quarantine")`` with this checkout, and
* the same with ``--baseline PATH`` (another checkout, e.g. ``main`` before a change) when
  given, in the same run, so that a busy machine slows all alike.

With ``--xlsx-rows N`` the first N rows are also written to ``.xlsx`` and read with
``read_sessions``: with this checkout's default reader (calamine), the baseline's when
``--baseline`` is given, and this checkout with the openpyxl reader (the one used before).

Run from the repository root::

    python benchmarks/bench_validate.py [--rows 1200000] [--bad 1000] [--repeat 1]
        [--baseline /path/to/other/checkout] [--xlsx-rows 100000]

Not a test: the numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample" / "sessions.csv"

_CHILD = r"""
import json, resource, sys, time, warnings
warnings.simplefilter("ignore")
what, path, expected, checkout = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
# import ipt_analytics from the checkout measured, ahead of an editable install's finder
sys.meta_path = [f for f in sys.meta_path if "editable" not in repr(f).lower()]
sys.path.insert(0, checkout)
import pandas as pd
if what.startswith("read_csv"):
    # default arguments (numbers converted, text guessed), or every cell as text, exactly
    # as written (what validation needs: no value may be guessed or converted unseen)
    options = {"dtype": str, "keep_default_na": False} if what == "read_csv_text" else {}
    t0 = time.perf_counter()
    frame = pd.read_csv(path, **options)
    seconds = time.perf_counter() - t0
    info = {"rows": len(frame)}
else:
    import ipt_analytics
    from ipt_analytics import read_sessions
    if what == "read_sessions_openpyxl":  # the spreadsheet reader used before calamine
        from ipt_analytics.io import reading
        reading._read_excel = reading._read_excel_openpyxl
    t0 = time.perf_counter()
    data = read_sessions(path, on_error="quarantine")
    seconds = time.perf_counter() - t0
    info = {"rows": data.n_input_rows, "rejected": data.n_rejected_rows,
            "accepted": data.n_accepted_rows, "from": ipt_analytics.__file__}
    if expected >= 0 and data.n_rejected_rows != expected:
        raise SystemExit(f"expected {expected} rejected rows, got {data.n_rejected_rows}")
# peak resident memory of this process image: VmHWM starts afresh at exec, whereas
# ru_maxrss on Linux keeps the size the parent had when it forked this child
try:
    with open("/proc/self/status") as fh:
        hwm = [line for line in fh if line.startswith("VmHWM:")]
    peak = int(hwm[0].split()[1]) / 1024  # kB -> MB
except (OSError, IndexError):
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "peak_mb": peak, **info}))
"""


def make_table(n_rows: int, n_bad: int, seed: int = 1) -> pd.DataFrame:
    """The sample cohort repeated (new ids) to ``n_rows`` rows; ``n_bad`` episodes get the
    dates of their 4th and 5th sessions swapped."""
    sample = pd.read_csv(SAMPLE, dtype=str, keep_default_na=False)
    copies = -(-n_rows // len(sample))
    reps = np.repeat(np.arange(copies), len(sample))
    table = pd.concat([sample] * copies, ignore_index=True).iloc[:n_rows].copy()
    tag = pd.Series(reps[:n_rows]).map("R{:03d}".format).to_numpy()
    table["client_id"] = table["client_id"].to_numpy() + tag
    table["episode_id"] = table["episode_id"].to_numpy() + tag
    for col in ("group_id",):
        filled = table[col] != ""
        table.loc[filled, col] = table.loc[filled, col] + tag[filled.to_numpy()]
    position = table.groupby("episode_id", sort=False).cumcount().to_numpy()
    size = table.groupby("episode_id", sort=False)["session"].transform("size").to_numpy()
    candidates = np.flatnonzero((position == 3) & (size >= 6))
    rng = np.random.default_rng(seed)
    bad = rng.choice(candidates, size=n_bad, replace=False)
    dates = table["date"].to_numpy()
    before = dates[bad].copy()
    dates[bad] = dates[bad + 1]
    dates[bad + 1] = before
    table["date"] = dates
    return table


def measure(what: str, path: Path, expected: int, pythonpath: str | None, repeat: int) -> dict:
    # pythonpath: the checkout whose ipt_analytics is imported (None: pandas only)
    """Best-of-``repeat`` wall time and the peak RSS of a child process running ``what``."""
    best = None
    for _ in range(repeat):
        out = subprocess.run(
            [sys.executable, "-c", _CHILD, what, str(path), str(expected), pythonpath or ""],
            capture_output=True, text=True, check=False, cwd=pythonpath or None,
        )  # fmt: skip
        if out.returncode != 0:
            raise SystemExit(f"{what} with PYTHONPATH={pythonpath} failed:\n{out.stderr}")
        result = json.loads(out.stdout.strip().splitlines()[-1])
        if best is None or result["seconds"] < best["seconds"]:
            best = result
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_200_000)
    parser.add_argument("--bad", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--baseline", help="another checkout to measure in the same run")
    parser.add_argument("--xlsx-rows", type=int, default=0)
    args = parser.parse_args()
    table = make_table(args.rows, args.bad)
    here = str(ROOT)
    checkouts = [("this checkout", here)]
    if args.baseline:
        checkouts.append(("baseline", str(Path(args.baseline).resolve())))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.csv"
        table.to_csv(path, index=False)
        n_eps, n_rows = table["episode_id"].nunique(), len(table)
        del table  # the children measure their own memory; keep this process small
        size_mb = path.stat().st_size / 1e6
        print(f"{n_rows:,} rows, {n_eps:,} episodes, {size_mb:.0f} MB CSV; {args.bad} "
              f"episodes with two sessions' dates swapped")  # fmt: skip
        ref = measure("read_csv", path, -1, None, args.repeat)
        print(f"\n{'step':<40} {'seconds':>8} {'x read_csv':>10} {'peak RSS MB':>12}")
        print(f"{'pandas.read_csv':<40} {ref['seconds']:8.2f} {1:10.2f} {ref['peak_mb']:12.0f}")
        text = measure("read_csv_text", path, -1, None, args.repeat)
        print(f"{'pandas.read_csv(dtype=str)':<40} {text['seconds']:8.2f} "
              f"{text['seconds'] / ref['seconds']:10.2f} {text['peak_mb']:12.0f}")  # fmt: skip
        for name, where in checkouts:
            res = measure("read_sessions", path, 2 * args.bad, where, args.repeat)
            ratio = res["seconds"] / ref["seconds"]
            label = f"read_sessions ({name})"
            print(f"{label:<40} {res['seconds']:8.2f} {ratio:10.2f} {res['peak_mb']:12.0f}"
                  f"   rejected {res['rejected']:,}, accepted {res['accepted']:,}"
                  f"; {Path(res['from']).parents[1]}")  # fmt: skip
        if args.xlsx_rows:
            xlsx = Path(tmp) / "bench.xlsx"
            sub = pd.read_csv(path, nrows=args.xlsx_rows)  # typed cells, as a spreadsheet has
            sub.to_excel(xlsx, index=False, engine="openpyxl")
            print(f"\n.xlsx, {len(sub):,} rows ({xlsx.stat().st_size / 1e6:.0f} MB)")
            runs = [(f"read_sessions .xlsx ({name})", "read_sessions", where)
                    for name, where in checkouts]  # fmt: skip
            runs.append(("read_sessions .xlsx (openpyxl reader)", "read_sessions_openpyxl", here))
            for label, what, where in runs:
                res = measure(what, xlsx, -1, where, args.repeat)
                print(f"{label:<40} {res['seconds']:8.2f} "
                      f"{'':10} {res['peak_mb']:12.0f}   rejected {res['rejected']:,}")  # fmt: skip


if __name__ == "__main__":
    main()
