"""Benchmark of the weekly trajectory model y ~ week * format + (week | client), REML.

Fits the committed synthetic data sets (tests/reference/data/weekly_500.csv and
weekly_2000.csv, made by tests/reference/make_synthetic.py) with

(a) ipt_analytics.models.mixed.fit_mixed (Satterthwaite df, and Wald only),
(b) statsmodels MixedLM with default settings,
(c) statsmodels MixedLM with time centred and scaled (estimates mapped back),
(d) lme4 through Rscript, when R and lme4 are installed,

and, for a model with random slopes on two factors (tests/reference/issue9/data/multi.csv,
``(week | client) + (week | therapist_unique)``), fit_mixed against lme4,

and prints wall time, the ratio to (a), the REML log-likelihood gap to lme4 (every
estimate is scored with the same exact REML criterion, so the gap measures how far
each optimiser stopped from the optimum), the slope variance and peak memory
(tracemalloc for Python, maximum resident set size for R).

Timing: the fastest of ``REPEAT`` runs for fit_mixed and for lme4 alike (one run for
the slow statsmodels fits), measured WITHOUT tracemalloc, which slows every Python
allocation and would inflate the times of numpy-heavy code; the peak memory comes
from one extra traced run of each Python method.

Run from the repository root:  python benchmarks/bench_mixed.py [--skip-statsmodels]
Not a test: numbers depend on the machine.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from ipt_analytics.models.mixed import fit_mixed
from ipt_analytics.models.mixed.design import build_design
from ipt_analytics.models.mixed.lmm import Problem

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "reference" / "data"
FORMULA = "y ~ week * C(format)"
REPEAT = 3

R_SCRIPT = r"""
suppressPackageStartupMessages(library(lme4))
d <- read.csv(commandArgs(TRUE)[1])
d$format <- factor(d$format, levels = c("group", "individual", "telehealth"))
t <- Inf
for (i in seq_len(as.integer(commandArgs(TRUE)[2]))) {
  t <- min(t, system.time(f <- lmer(y ~ week * format + (week | client), d,
                                    control = lmerControl(optimizer = "bobyqa")))[["elapsed"]])
}
vc <- as.data.frame(VarCorr(f))
cat(sprintf("%.15g %.15g %.15g %.15g\n", t, as.numeric(logLik(f)), vc$vcov[2], vc$vcov[1]))
"""


def load(name: str) -> pd.DataFrame:
    data = pd.read_csv(DATA / name)
    data["format"] = pd.Categorical(data["format"], ["group", "individual", "telehealth"])
    return data


def timed(fn, repeat: int = REPEAT):
    """(result, fastest wall time of `repeat` untraced runs, traced peak MB of one more)."""
    seconds = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        seconds = min(seconds, time.perf_counter() - t0)
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return out, seconds, peak


def exact_loglik(data: pd.DataFrame, cov_re: np.ndarray, scale: float) -> float:
    """REML log-likelihood (lme4 definition) at a covariance estimate from any program."""
    problem = Problem(build_design(data, FORMULA, "client", "~week", None))
    rel = problem.design.z_map
    # Cholesky factor of the relative covariance on the internal (scaled) design
    t_s = np.linalg.cholesky(np.linalg.inv(rel) @ (cov_re / scale) @ np.linalg.inv(rel).T)
    return -0.5 * problem.deviance(problem.join(t_s, np.zeros(0)), reml=True)


def statsmodels_fit(data: pd.DataFrame, scaled: bool):
    import statsmodels.formula.api as smf

    d = data.copy()
    centre, sd = (d["week"].mean(), d["week"].std()) if scaled else (0.0, 1.0)
    d["t"] = (d["week"] - centre) / sd
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = smf.mixedlm("y ~ t * C(format)", d, groups=d["client"], re_formula="~t").fit(
            reml=True
        )
    # map the random-effects covariance back to (1, week): b_week = b_t / sd, b_0 = ...
    p = np.array([[1.0, -centre / sd], [0.0, 1.0 / sd]])
    cov = p @ np.asarray(fit.cov_re) @ p.T
    return fit, cov, len(caught)


def run_r(data_path: Path):
    if shutil.which("Rscript") is None:
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".R", delete=False) as fh:
        fh.write(R_SCRIPT)
        script = fh.name
    cmd = ["Rscript", script, str(data_path), str(REPEAT)]
    timer = shutil.which("time") or ("/usr/bin/time" if Path("/usr/bin/time").exists() else None)
    if timer:
        cmd = [timer, "-v", *cmd]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        return None
    fields = out.stdout.strip().split()
    rss = np.nan
    for line in out.stderr.splitlines():
        if "Maximum resident set size" in line:
            rss = float(line.split(":")[1]) / 1024
    return {"seconds": float(fields[0]), "loglik": float(fields[1]),
            "slope_var": float(fields[2]), "peak_mb": rss}  # fmt: skip


def bench(name: str, skip_statsmodels: bool = False) -> pd.DataFrame:
    data = load(name)
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res, sec, peak = timed(
            lambda: fit_mixed(data, FORMULA, groups="client", re_formula="~week")
        )
        rows.append(("fit_mixed (Satterthwaite)", sec, res.loglik,
                     res.cov_re.loc["week", "week"], peak, res.converged))  # fmt: skip
        res_w, sec, peak = timed(
            lambda: fit_mixed(data, FORMULA, groups="client", re_formula="~week", df_method="wald")
        )
        rows.append(("fit_mixed (Wald)", sec, res_w.loglik, res_w.cov_re.loc["week", "week"],
                     peak, res_w.converged))  # fmt: skip
    sm_cases = (
        ()
        if skip_statsmodels
        else (("statsmodels default", False), ("statsmodels scaled time", True))
    )
    for label, scaled in sm_cases:
        (fit, cov, n_warn), sec, peak = timed(lambda s=scaled: statsmodels_fit(data, s), 1)
        ll = exact_loglik(data, cov, fit.scale)
        rows.append((label, sec, ll, cov[1, 1], peak, bool(fit.converged) and n_warn == 0))
    r = run_r(DATA / name)
    if r is not None:
        rows.append(("lme4 (Rscript, lmer only)", r["seconds"], r["loglik"], r["slope_var"],
                     r["peak_mb"], True))  # fmt: skip
    out = pd.DataFrame(rows, columns=["method", "seconds", "reml_loglik", "slope_variance",
                                      "peak_mb", "converged_clean"])  # fmt: skip
    out.insert(2, "ratio_to_fit_mixed_wald", out["seconds"] / out["seconds"].iloc[1])
    ref = r["loglik"] if r is not None else res.loglik
    out.insert(4, "loglik_minus_lme4", out["reml_loglik"] - ref)
    return out


MULTI = DATA.parent / "issue9" / "data" / "multi.csv"
MULTI_FORMULA = "y ~ week * C(format) + (week | client) + (week | therapist_unique)"
R_MULTI = r"""
suppressPackageStartupMessages(library(lme4))
d <- read.csv(commandArgs(TRUE)[1])
t <- Inf
for (i in seq_len(as.integer(commandArgs(TRUE)[2]))) {
  t <- min(t, system.time(f <- lmer(y ~ week * format + (week | client) +
    (week | therapist_unique), d, control = lmerControl(optimizer = "bobyqa")))[["elapsed"]])
}
cat(sprintf("%.15g %.15g\n", t, as.numeric(logLik(f))))
"""


def bench_multi() -> pd.DataFrame:
    """Two random-slope factors (300 clients, 30 therapists): fit_mixed and lme4."""
    data = pd.read_csv(MULTI)
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res, sec, peak = timed(lambda: fit_mixed(data, MULTI_FORMULA), 1)
    rows.append(("fit_mixed (Satterthwaite)", sec, res.loglik, peak))
    if shutil.which("Rscript") is not None:
        with tempfile.NamedTemporaryFile("w", suffix=".R", delete=False) as fh:
            fh.write(R_MULTI)
        out = subprocess.run(["Rscript", fh.name, str(MULTI), "1"], capture_output=True,
                             text=True, check=False)  # fmt: skip
        if out.returncode == 0:
            t, ll = (float(v) for v in out.stdout.split())
            rows.append(("lme4 (Rscript, lmer only)", t, ll, np.nan))
    out = pd.DataFrame(rows, columns=["method", "seconds", "reml_loglik", "peak_mb"])
    out.insert(3, "loglik_minus_lme4", out["reml_loglik"] - out["reml_loglik"].iloc[-1])
    return out


def main() -> None:
    skip = "--skip-statsmodels" in sys.argv[1:]
    pd.set_option("display.width", 200)
    for name in ("weekly_500.csv", "weekly_2000.csv"):
        data = pd.read_csv(DATA / name)
        print(f"\n== {name}: {data['client'].nunique()} clients, {len(data)} rows ==")
        print(bench(name, skip).to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(f"\n== {MULTI.name}: {MULTI_FORMULA} (one run each) ==")
    print(bench_multi().to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(f"\nseconds: fastest of {REPEAT} runs (fit_mixed, lme4) or one run (statsmodels),")
    print("untraced; peak_mb from one more run.")
    print("peak_mb: tracemalloc peak of Python allocations (numpy included); for R the")
    print("maximum resident set size of the whole Rscript process (R itself ~ 60-100 MB).")


if __name__ == "__main__":
    main()
