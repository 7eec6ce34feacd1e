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

Scaling (issue 14):  python benchmarks/bench_mixed.py --scaling
generates ``y ~ week * fmt + (week | client)`` data with 500, 2,000, 10,000, 50,000 and
100,000 clients (4-16 weekly scores each, :func:`scale_data`, seeded) and 20,000 clients
with a crossed-in therapist intercept (1,000 levels, ``+ (1 | therapist)``), and fits each
with fit_mixed (REML, Satterthwaite df included), statsmodels MixedLM (default settings;
up to 10,000 clients, and no larger size once one took over 3 minutes; not the therapist
design, which it cannot express as a crossed factor) and lme4 (bobyqa) through Rscript
when present. Every fit runs once in its own child process; it reports the fit time
(reading the CSV excluded), the REML logLik (statsmodels' estimate scored with the
exact criterion) and its own peak resident memory (VmHWM from /proc/self/status, read
at the end by the Python and the R child alike, so measured the same way for all three).
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


# -- scaling: 500 to 100,000 clients and a therapist factor, every program in a child --

SIZES = (500, 2_000, 10_000, 50_000, 100_000)
SCALE_FORMULA = "y ~ week * fmt + (week | client)"
THERAPIST = (20_000, 1_000)  # clients, therapist levels
R_SCALE = r"""
suppressPackageStartupMessages(library(lme4))
a <- commandArgs(TRUE)
d <- read.csv(a[1])
d$fmt <- factor(d$fmt, levels = c("group", "individual", "telehealth"))
f <- if (a[2] == "therapist") y ~ week * fmt + (week | client) + (1 | therapist) else
  y ~ week * fmt + (week | client)
t <- system.time(m <- lmer(f, d, control = lmerControl(optimizer = "bobyqa")))[["elapsed"]]
st <- readLines("/proc/self/status")
hwm <- as.numeric(strsplit(trimws(sub("VmHWM:", "", grep("^VmHWM:", st, value = TRUE))),
                           " +")[[1]][1]) / 1024
cat(sprintf("%.15g %.15g %.6g\n", t, as.numeric(logLik(m)), hwm))
"""


def scale_data(n_clients: int, therapists: int = 0, seed: int = 20261130) -> pd.DataFrame:
    """Weekly PHQ-9-like scores: 4-16 weeks per client, three formats, random intercept
    and slope per client (sd 3 and 0.5, corr -0.3), optionally a therapist intercept
    (sd 1, each client seeing one of ``therapists``), residual sd 2. Vectorised, seeded."""
    rng = np.random.default_rng(seed)
    stay = rng.integers(4, 17, n_clients)
    client = np.repeat(np.arange(n_clients), stay)
    week = (np.arange(client.size) - np.repeat(np.cumsum(stay) - stay, stay)).astype(float)
    fmt = np.array(["group", "individual", "telehealth"])[rng.integers(0, 3, n_clients)]
    b = rng.multivariate_normal([0, 0], [[9.0, -0.45], [-0.45, 0.25]], size=n_clients)
    shift = {"group": (0.8, 0.05), "individual": (0.0, 0.0), "telehealth": (0.3, -0.04)}
    s0 = np.array([shift[f][0] for f in fmt])
    s1 = np.array([shift[f][1] for f in fmt])
    y = 16 + (s0 + b[:, 0])[client] + (-0.55 + s1 + b[:, 1])[client] * week
    out = pd.DataFrame({"client": [f"c{i:06d}" for i in client], "week": week,
                        "fmt": fmt[client]})  # fmt: skip
    if therapists:
        ther = rng.integers(0, therapists, n_clients)
        out["therapist"] = [f"t{i:04d}" for i in ther[client]]
        y = y + rng.normal(0.0, 1.0, therapists)[ther][client]
    out["y"] = np.round(y + rng.normal(0.0, 2.0, client.size), 6)
    return out


def _child(method: str, path: str, design: str) -> None:
    """Run in a child process: fit once, print JSON (fit seconds, REML logLik)."""
    import json

    data = pd.read_csv(path)
    formula = SCALE_FORMULA + (" + (1 | therapist)" if design == "therapist" else "")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        if method == "fit_mixed":
            res = fit_mixed(data, formula)  # Satterthwaite df included
            seconds, ll = time.perf_counter() - t0, res.loglik
        else:  # statsmodels MixedLM, default settings
            import statsmodels.formula.api as smf

            fit = smf.mixedlm("y ~ week * fmt", data, groups=data["client"],
                              re_formula="~week").fit(reml=True)  # fmt: skip
            seconds = time.perf_counter() - t0
            global FORMULA
            FORMULA = "y ~ week * fmt"  # score its estimate with the exact REML criterion
            ll = exact_loglik(data, np.asarray(fit.cov_re), fit.scale)
    print(json.dumps({"seconds": seconds, "loglik": float(ll), "peak_mb": _vm_hwm_mb()}))


def _vm_hwm_mb() -> float:
    """Peak resident memory of this process image (VmHWM; starts afresh at exec, unlike
    ru_maxrss, which on Linux inherits the parent's size at fork)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return float(line.split()[1]) / 1024
    return float("nan")


def _run_child(cmd: list, timeout: float):
    """stdout of a child (None if it failed or ran out of time)."""
    import os
    import signal
    import threading

    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            start_new_session=True)  # fmt: skip
    timer = threading.Timer(timeout, lambda: os.killpg(proc.pid, signal.SIGKILL))
    timer.start()
    out = proc.stdout.read()
    proc.wait()
    timer.cancel()
    return out if proc.returncode == 0 else None


def bench_scaling(sm_limit_s: float = 180.0, sm_max: int = 10_000) -> pd.DataFrame:
    import json

    has_r = shutil.which("Rscript") is not None
    with tempfile.NamedTemporaryFile("w", suffix=".R", delete=False) as fh:
        fh.write(R_SCALE)
    rows = []
    sm_ok = True
    cases = [(n, 0) for n in SIZES] + [THERAPIST]
    for n, ther in cases:
        design = "therapist" if ther else "weekly"
        data = scale_data(n, ther)
        path = Path(tempfile.gettempdir()) / f"bench_mixed_{n}_{ther}.csv"
        data.to_csv(path, index=False)
        label = f"{n:,} clients" + (f" + {ther:,} therapists" if ther else "")
        methods = ["fit_mixed"] + (["statsmodels"] if sm_ok and not ther else [])
        got = {}
        for method in methods:
            out = _run_child([sys.executable, __file__, "--child", method, str(path), design],
                             1200)  # fmt: skip
            res = json.loads(out) if out else None
            got[method] = (res, res["peak_mb"] if res else np.nan)
        if has_r:
            out = _run_child(["Rscript", fh.name, str(path), design], 1800)
            if out:
                t, ll, peak = (float(v) for v in out.split())
                got["lme4"] = ({"seconds": t, "loglik": ll}, peak)
        ref = got.get("lme4", (None,))[0]
        for method, (res, peak) in got.items():
            if res is None:
                rows.append((label, len(data), method, np.nan, np.nan, np.nan, np.nan, peak))
                continue
            base = got["fit_mixed"][0]["seconds"] if got["fit_mixed"][0] else np.nan
            gap = (res["loglik"] - ref["loglik"]) / abs(ref["loglik"]) if ref else np.nan
            rows.append((label, len(data), method, res["seconds"], res["seconds"] / base,
                         res["loglik"], gap, peak))  # fmt: skip
            if method == "statsmodels" and (res["seconds"] > sm_limit_s or n >= sm_max):
                sm_ok = False  # the next size (5x the clients) would take far longer
        if "statsmodels" in methods and got.get("statsmodels", (None,))[0] is None:
            sm_ok = False
        path.unlink()
    return pd.DataFrame(rows, columns=["data", "rows", "program", "seconds",
                                       "ratio_to_fit_mixed", "reml_loglik",
                                       "rel_loglik_gap_to_lme4", "peak_rss_mb"])  # fmt: skip


def main() -> None:
    args = sys.argv[1:]
    if args[:1] == ["--child"]:
        _child(*args[1:4])
        return
    pd.set_option("display.width", 200)
    if "--scaling" in args:
        import os

        print(f"load average before: {os.getloadavg()}")
        table = bench_scaling()
        print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
        print(f"load average after: {os.getloadavg()}")
        return
    skip = "--skip-statsmodels" in args
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
