"""Fits and episode outcomes computed inside DuckDB (Parquet path, glob, directory, relation).

References: lme4 1.1-31 / lmerTest 3.1-3 on sleepstudy (tests/reference/mixed_sleepstudy.csv,
written by tests/reference/mixed_reference.R) for a fit read from Parquet; for everything else
the pandas path of the same function, which the lme4 parity tests pin to R.

Tolerances for equality with the pandas path: at the same variance parameters the two
evaluators agree to 1e-10 (the statistics are the same numbers); at the respective optima
the optimiser's stopping point differs slightly, so fixed effects agree to rtol 1e-8 or to
1e-6 of their standard error, SEs, variance components and Satterthwaite df to rtol 1e-6,
logLik to 1e-6 absolute.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

import ipt_analytics as ipt
from ipt_analytics.errors import SchemaError
from ipt_analytics.models.mixed import fit_mixed
from ipt_analytics.models.mixed.design import build_design
from ipt_analytics.models.mixed.lmm import Problem
from ipt_analytics.models.mixed.sufficient import source_problem
from ipt_analytics.models.trajectory import fit_trajectory
from ipt_analytics.outcomes.episode_source import episode_outcomes_source

REF = Path(__file__).parent / "reference"
SAMPLE = Path(__file__).parents[1] / "data" / "sample" / "sessions.csv"


def assert_same_fit(a, b):
    fa, fb = a.fixed.set_index("term"), b.fixed.set_index("term")
    assert list(fa.index) == list(fb.index)
    np.testing.assert_allclose(fb["estimate"], fa["estimate"], rtol=1e-8,
                               atol=1e-6 * fa["std_error"].min())  # fmt: skip
    np.testing.assert_allclose(fb["std_error"], fa["std_error"], rtol=1e-6)
    np.testing.assert_allclose(fb["df"], fa["df"], rtol=1e-6)
    va, vb = a.variance_components, b.variance_components
    np.testing.assert_allclose(vb["variance"], va["variance"], rtol=1e-6, atol=1e-12)
    assert abs(a.loglik - b.loglik) < 1e-6
    assert (a.nobs, a.ngroups, a.n_dropped) == (b.nobs, b.ngroups, b.n_dropped)
    assert list(a.random_effects.index) == list(b.random_effects.index)
    np.testing.assert_allclose(b.random_effects, a.random_effects, rtol=1e-5, atol=1e-6)


@pytest.fixture(scope="module")
def sample_long(tmp_path_factory):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        long = ipt.read_sessions(SAMPLE).sessions
    folder = tmp_path_factory.mktemp("long")
    # three files, so that directory and glob sources are real multi-file datasets
    for i, part in enumerate(np.array_split(np.arange(len(long)), 3)):
        long.iloc[part].to_parquet(folder / f"part-{i}.parquet", index=False)
    return long, folder


# -- an independent reference: lme4 on sleepstudy, read from Parquet ------------------------
def test_sleepstudy_from_parquet_matches_lme4(tmp_path):
    sleep = pd.read_csv(REF / "data" / "sleepstudy.csv")
    sleep.to_parquet(tmp_path / "sleep.parquet")
    res = fit_mixed(str(tmp_path / "sleep.parquet"), "Reaction ~ Days", groups="Subject",
                    re_formula="~Days")  # fmt: skip
    ref = pd.read_csv(REF / "mixed_sleepstudy.csv", keep_default_na=False, na_values=["NA"])
    ref = ref[ref["model"] == "fm1"]

    def val(kind, name1="", name2=""):
        row = ref[(ref["kind"] == kind) & (ref["name1"] == name1) & (ref["name2"] == name2)]
        return float(row["value"].iloc[0])

    fixed = res.fixed.set_index("term")
    for r_name, name in (("(Intercept)", "Intercept"), ("Days", "Days")):
        assert fixed.loc[name, "estimate"] == pytest.approx(val("fixef", r_name), rel=1e-4)
        assert fixed.loc[name, "std_error"] == pytest.approx(val("se", r_name), rel=1e-3)
        assert fixed.loc[name, "df"] == pytest.approx(val("df", r_name), rel=1e-2)
    assert res.cov_re.loc["Intercept", "Intercept"] == pytest.approx(
        val("varcov", "Subject|(Intercept)"), rel=1e-3)  # fmt: skip
    assert res.cov_re.loc["Days", "Days"] == pytest.approx(val("varcov", "Subject|Days"),
                                                           rel=1e-3)  # fmt: skip
    assert res.loglik == pytest.approx(val("logLik"), abs=1e-3)
    assert res.nobs == 180 and res.ngroups == {"Subject": 18}


# -- one definition, two evaluators ----------------------------------------------------------
def _mixed_frame(seed=3, n_groups=120):
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(n_groups), 7)
    week = np.tile(np.arange(7.0), n_groups)
    fmt = np.array(["individual", "group", "telehealth"])[rng.integers(0, 3, n_groups)][g]
    med = rng.random(g.size) < 0.4
    y = (15 - 0.8 * week + 1.5 * (fmt == "group") - 0.3 * week * (fmt == "telehealth")
         + rng.normal(0, 3, n_groups)[g] + rng.normal(0, 0.4, n_groups)[g] * week
         + rng.normal(0, 2, g.size))  # fmt: skip
    df = pd.DataFrame({"client": g, "week": week, "y": y, "format": fmt, "medication": med})
    df.loc[[5, 40], "y"] = np.nan  # dropped rows are counted the same way
    df.loc[[77], "format"] = None
    return df


@pytest.mark.parametrize(
    "formula, re_formula",
    [
        ("y ~ week * C(format, Treatment('individual'))", "~week"),
        ("y ~ week + C(format, Sum) + medication", "1"),
        ("y ~ 0 + format + week:format", "0 + week"),
    ],
)
def test_parquet_fit_equals_pandas(tmp_path, formula, re_formula):
    df = _mixed_frame()
    df.to_parquet(tmp_path / "d.parquet")
    a = fit_mixed(df, formula, groups="client", re_formula=re_formula)
    b = fit_mixed(tmp_path / "d.parquet", formula, groups="client", re_formula=re_formula)
    assert_same_fit(a, b)
    assert b.n_dropped == 3


def test_lme4_formula_syntax_on_a_source(tmp_path):
    df = _mixed_frame(seed=11)
    df.to_parquet(tmp_path / "d.parquet")
    a = fit_mixed(df, "y ~ week * format + (week | client)")
    b = fit_mixed(tmp_path / "d.parquet", "y ~ week * format + (week | client)")
    assert_same_fit(a, b)


def test_statistics_equal_at_the_same_theta(tmp_path):
    # the engine's criterion, estimates and SEs from grouped SQL sums equal the pandas ones
    df = _mixed_frame(seed=5)
    formula = "y ~ week * format"
    pr_mem = Problem(build_design(df, formula, "client", "~week", None))
    pr_sql = source_problem(duckdb.from_df(df), formula, "client", "~week")
    assert set(vars(pr_sql)) == set(vars(pr_mem))  # guards the engine's attribute contract
    for theta in ([1.0, 0.0, 1.0], [0.7, -0.1, 0.2]):
        for reml in (True, False):
            assert pr_sql.deviance(np.array(theta), reml) == pytest.approx(
                pr_mem.deviance(np.array(theta), reml), rel=1e-12)  # fmt: skip
        t, lam = pr_mem.split(np.array(theta))
        full_m, full_s = pr_mem.evaluate(t, lam, full=True), pr_sql.evaluate(t, lam, full=True)
        np.testing.assert_allclose(full_s["beta"], full_m["beta"], rtol=1e-10)
        np.testing.assert_allclose(full_s["rx_inv"], full_m["rx_inv"], rtol=1e-10)
        np.testing.assert_allclose(full_s["b_groups"], full_m["b_groups"], rtol=1e-8, atol=1e-10)
        _, g_m = pr_mem.deviance_and_gradient(np.array(theta), True)
        _, g_s = pr_sql.deviance_and_gradient(np.array(theta), True)
        np.testing.assert_allclose(g_s, g_m, rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("kind", ["directory", "glob", "relation"])
def test_trajectory_from_every_duckdb_source(sample_long, kind):
    long, folder = sample_long
    source = {"directory": folder, "glob": str(folder / "part-*.parquet"),
              "relation": duckdb.read_parquet(str(folder / "*.parquet"))}[kind]  # fmt: skip
    a = fit_trajectory(long, by="format")
    b = fit_trajectory(source, by="format")
    assert b.spec.formula == a.spec.formula and b.spec.levels == a.spec.levels
    assert_same_fit(a.model, b.model)
    assert "12095 ratings, 1200 episodes" in b.summary()


def test_trajectory_log_shape_session_time(sample_long):
    long, folder = sample_long
    a = fit_trajectory(long, shape="log", time="session", random="intercept")
    b = fit_trajectory(folder, shape="log", time="session", random="intercept")
    assert_same_fit(a.model, b.model)


# -- episode outcomes in batches of whole episodes ---------------------------------------------
def test_episode_outcomes_from_parquet_equal_in_memory(sample_long):
    long, folder = sample_long
    a = ipt.episode_outcomes(long)
    b = ipt.episode_outcomes(folder)  # dispatch through the public function
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert a.attrs == b.attrs
    # many small batches: every batch boundary falls between episodes
    c = episode_outcomes_source(folder, compute=ipt.episode_outcomes, rows_per_batch=997,
                                instrument="gad7")
    pd.testing.assert_frame_equal(ipt.episode_outcomes(long, instrument="gad7"), c,
                                  check_exact=True)  # fmt: skip


def test_episode_outcomes_phq9_only_source(sample_long, tmp_path):
    # an instrument set without GAD-7: NHS TT measures resolve to "not computed" as in memory
    long, _ = sample_long
    only = long[long["instrument"] == "phq9"].reset_index(drop=True)
    only.to_parquet(tmp_path / "phq9.parquet")
    a = ipt.episode_outcomes(only)
    b = episode_outcomes_source(tmp_path / "phq9.parquet", compute=ipt.episode_outcomes,
                                rows_per_batch=1500)
    pd.testing.assert_frame_equal(a, b, check_exact=True)


# -- clear errors --------------------------------------------------------------------------------
def test_source_errors_are_clear(tmp_path, sample_long):
    df = _mixed_frame()
    df.to_parquet(tmp_path / "d.parquet")
    path = tmp_path / "d.parquet"
    with pytest.raises(SchemaError, match="np.log"):
        fit_mixed(path, "y ~ np.log(week + 1)", groups="client")
    with pytest.raises(SchemaError, match="one\nrandom-effects term|one random-effects term"):
        fit_mixed(path, "y ~ week + (1 | client) + (1 | format)")
    with pytest.raises(SchemaError, match="vc="):
        fit_mixed(path, "y ~ week", groups="client", vc={"f": "format"})
    with pytest.raises(SchemaError, match="kenward-roger"):
        fit_mixed(path, "y ~ week", groups="client", df_method="kenward-roger")
    with pytest.raises(SchemaError, match="'weeks'"):
        fit_mixed(path, "y ~ weeks", groups="client")
    df.to_csv(tmp_path / "d.csv")
    with pytest.raises(SchemaError, match="not a Parquet file"):
        fit_mixed(tmp_path / "d.csv", "y ~ week", groups="client")
    with pytest.raises(SchemaError, match="no Parquet file"):
        fit_mixed(tmp_path / "nothing-*.parquet", "y ~ week", groups="client")
    _, folder = sample_long
    with pytest.raises(SchemaError, match="piecewise"):
        fit_trajectory(folder, shape="piecewise")
