"""Simulation study: does fit_mixed reach lme4's optimum when intercept and slope correlate?

Seeded weekly data sets like those of IPT services, where clients who start more severe
improve faster: client intercept SD 4, slope SD 0.2-0.8, intercept-slope correlation
uniform on -0.95..-0.6, residual SD 2.5, 15 - 0.6 week; client i observed at weeks
0..last_i with last_i uniform on 1..15 (unequal follow-up); 20-150 clients; every other
data set adds a two-arm factor and its interaction with week. Each data set is fitted
by REML with ``y ~ week (* arm) + (week | client)``.

With R and lme4 installed (``Rscript`` on the PATH) the same data sets are fitted by
lme4 with bobyqa and with its default nloptwrap, and the study counts the fits whose
REML log-likelihood is below the better of the two by more than 1e-4 (a false optimum)
and reports the worst gap. Without R only fit_mixed's own numbers are printed.

Run from the repository root:

    python benchmarks/saddle_study.py [--sets 300] [--out DIR]

``--out`` keeps the data, the lme4 numbers and the per-data-set comparison as CSV files.
Not a test (the committed regression cases are in tests/test_mixed_saddle.py); numbers
depend on nothing but the seeds.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from ipt_analytics.models.mixed import fit_mixed

R_SCRIPT = r"""
suppressPackageStartupMessages(library(lme4))
args <- commandArgs(TRUE)
d <- read.csv(args[1], colClasses = c(client = "character"))
out <- list()
for (k in unique(d$dataset)) {
  s <- d[d$dataset == k, ]
  f <- if (all(s$arm == "a")) y ~ week + (week | client) else y ~ week * arm + (week | client)
  ll <- sapply(c("bobyqa", "nloptwrap"), function(o) {
    fit <- suppressMessages(suppressWarnings(lmer(f, s, REML = TRUE,
      control = lmerControl(optimizer = o, optCtrl = list(maxfun = 1e5)))))
    c(as.numeric(logLik(fit)), isSingular(fit))
  })
  out[[length(out) + 1]] <- data.frame(dataset = k, loglik_bobyqa = ll[1, 1],
    loglik_nloptwrap = ll[1, 2], singular_bobyqa = ll[2, 1])
}
write.csv(do.call(rbind, out), args[2], row.names = FALSE)
"""


def simulate(k: int) -> pd.DataFrame:
    """Data set number ``k`` (seed 1000 + k)."""
    rng = np.random.default_rng(1000 + k)
    n = int(rng.integers(20, 151))
    r = rng.uniform(-0.95, -0.6)
    sd0, sd1, sigma = 4.0, rng.uniform(0.2, 0.8), 2.5
    cov = np.array([[sd0**2, r * sd0 * sd1], [r * sd0 * sd1, sd1**2]])
    b = rng.normal(size=(n, 2)) @ np.linalg.cholesky(cov).T
    last = rng.integers(1, 16, n)
    arm = np.where(rng.random(n) < 0.5, "a", "b") if k % 2 else np.full(n, "a")
    client = np.repeat(np.arange(n), last + 1)
    week = np.concatenate([np.arange(m + 1) for m in last]).astype(float)
    shift = np.where(arm[client] == "b", -0.2 * week, 0.0)
    y = 15 + b[client, 0] + (-0.6 + b[client, 1]) * week + shift
    y = y + rng.normal(0, sigma, client.size)
    return pd.DataFrame({"dataset": k, "client": [f"c{i:03d}" for i in client],
                         "arm": arm[client], "week": week, "y": np.round(y, 6),
                         "true_cor": r})  # fmt: skip


def fit_one(data: pd.DataFrame) -> dict:
    formula = "y ~ week" if (data["arm"] == "a").all() else "y ~ week * C(arm)"
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = fit_mixed(data, formula, groups="client", re_formula="~week")
    return {"dataset": int(data["dataset"].iloc[0]), "loglik": res.loglik,
            "converged": res.converged, "singular": any("singular" in w for w in res.warnings),
            "warned": bool(caught), "seconds": time.perf_counter() - t0,
            "restarted": any("restart" in s[0] for s in res.optinfo)}  # fmt: skip


def run_lme4(data: pd.DataFrame, workdir: Path) -> pd.DataFrame | None:
    rscript = shutil.which("Rscript")
    if rscript is None:
        return None
    data_path, out_path, script = workdir / "data.csv", workdir / "lme4.csv", workdir / "s.R"
    data.drop(columns="true_cor").to_csv(data_path, index=False)
    script.write_text(R_SCRIPT)
    subprocess.run([rscript, str(script), str(data_path), str(out_path)], check=True)
    return pd.read_csv(out_path)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", type=int, default=300)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    data = pd.concat([simulate(k) for k in range(args.sets)], ignore_index=True)
    ours = pd.DataFrame([fit_one(d) for _, d in data.groupby("dataset", sort=True)])
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.out or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        ref = run_lme4(data, workdir)
    print(
        f"data sets: {len(ours)}; rows {len(data)}; fit_mixed total {ours.seconds.sum():.1f} s; "
        f"restarted {int(ours.restarted.sum())}; singular {int(ours.singular.sum())}; "
        f"with a warning {int(ours.warned.sum())}; "
        f"not converged {int((~ours.converged).sum())}"
    )
    if ref is None:
        print("Rscript not found: no comparison with lme4.")
        return
    both = ours.merge(ref, on="dataset")
    both["lme4_best"] = both[["loglik_bobyqa", "loglik_nloptwrap"]].max(axis=1)
    both["gap"] = both["lme4_best"] - both["loglik"]  # > 0: fit_mixed below lme4
    below = both[both["gap"] > 1e-4]
    print(f"fits below lme4's best logLik by > 1e-4: {len(below)} of {len(both)}; "
          f"worst gap {both['gap'].max():.3g}; best gap {both['gap'].min():.3g} "
          f"(negative: fit_mixed above lme4); lme4 singular (bobyqa): "
          f"{int(both.singular_bobyqa.sum())}")  # fmt: skip
    if len(below):
        print(below[["dataset", "loglik", "lme4_best", "gap"]].to_string(index=False))
    if args.out:
        data.to_csv(args.out / "saddle_study_data.csv", index=False)
        both.to_csv(args.out / "saddle_study_results.csv", index=False)


if __name__ == "__main__":
    main()
