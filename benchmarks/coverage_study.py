"""Coverage of the 95% confidence intervals of fit_mixed's fixed effects (not run in CI).

Simulates data sets with ipt_analytics.datasets.synth.simulate_scores (known truth), fits
``y ~ week * (format + problem_area + medication) + (week | client_id)
+ (1 | therapist_id) + (1 | group_id)`` by REML and counts how often the 95% interval
(t with Satterthwaite df, and Wald z) covers the true value of each fixed effect.
The Monte Carlo SE of a coverage near 0.95 with 200 data sets is about 0.015.

Run from the repository root:
    python benchmarks/coverage_study.py --datasets 200 --clients 200 --weeks 8
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from ipt_analytics.datasets.synth import simulate_scores
from ipt_analytics.models.mixed import fit_mixed

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_mixed_recovery import FORMULA, prepare, true_fixed  # noqa: E402

SHARES = {"individual": 0.3, "group": 0.45, "telehealth": 0.1, "telephone": 0.08,
          "internet": 0.07}  # fmt: skip


def one(seed: int, clients: int, weeks: int) -> pd.DataFrame:
    data = prepare(simulate_scores(n_clients=clients, n_weeks=weeks, seed=seed,
                                   format_shares=SHARES))  # fmt: skip
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        res = fit_mixed(data, FORMULA, groups="client_id", re_formula="~week",
                        vc={"therapist": "therapist_id", "group": "group_id"})  # fmt: skip
    fixed = res.fixed.set_index("term")
    truth = true_fixed(fixed.index)
    z = stats.norm.ppf(0.975)
    err = (fixed["estimate"] - truth).abs()
    return pd.DataFrame({
        "seed": seed,
        "term": fixed.index,
        "covered_satterthwaite": (fixed["conf_low"] <= truth) & (truth <= fixed["conf_high"]),
        "covered_wald": err <= z * fixed["std_error"],
        "converged": res.converged,
        "singular": any("singular" in w for w in res.warnings),
    })  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", type=int, default=200)
    ap.add_argument("--clients", type=int, default=200)
    ap.add_argument("--weeks", type=int, default=8)
    ap.add_argument("--first-seed", type=int, default=1000)
    args = ap.parse_args()
    t0 = time.perf_counter()
    parts = [one(args.first_seed + i, args.clients, args.weeks) for i in range(args.datasets)]
    res = pd.concat(parts, ignore_index=True)
    table = res.groupby("term", sort=False)[["covered_satterthwaite", "covered_wald"]].mean()
    pd.set_option("display.width", 160)
    print(f"{args.datasets} data sets x {args.clients} clients x {args.weeks} weeks; "
          f"{time.perf_counter() - t0:.0f} s")  # fmt: skip
    per_fit = res.drop_duplicates("seed")
    print(f"converged: {per_fit['converged'].mean():.3f}; singular fits: "
          f"{per_fit['singular'].mean():.3f}")  # fmt: skip
    print(table.to_string(float_format=lambda v: f"{v:.3f}"))
    mc_se = np.sqrt(0.95 * 0.05 / args.datasets)
    print(
        f"mean coverage: Satterthwaite {table['covered_satterthwaite'].mean():.3f}, "
        f"Wald {table['covered_wald'].mean():.3f} (Monte Carlo SE per term {mc_se:.3f})"
    )


if __name__ == "__main__":
    main()
