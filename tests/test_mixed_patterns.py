"""The engine's pattern path (levels grouped by Z_g'Z_g) against independent references.

With one random-effects term, :meth:`Problem.setup_patterns` groups the levels of the
grouping factor by their ``Z_g'Z_g`` and evaluates the criterion, its gradient and
``(RX'RX)^-1`` from per-pattern sums. References: the gradient against central finite
differences of the criterion; the criterion against a dense evaluation of the REML/ML
likelihood written from its definition (the marginal covariance ``V = Z G Z' + s2 I``,
Harville 1977), independent of the engine; the whole fit against the engine with the
pattern path switched off (same optimum to the tolerances of the R-parity tests).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from ipt_analytics.models.mixed import fit_mixed
from ipt_analytics.models.mixed.design import build_design
from ipt_analytics.models.mixed.lmm import Problem


def _data(seed: int, n_groups: int = 60, continuous: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    stay = rng.integers(3, 7, n_groups)
    g = np.repeat(np.arange(n_groups), stay)
    week = np.concatenate([np.arange(s) for s in stay]).astype(float)
    if continuous:  # every level its own times: no two Z_g'Z_g alike
        week = week + rng.uniform(0, 0.5, week.size)
    fmt = rng.choice(["group", "individual", "telehealth"], n_groups)[g]
    y = (12 - 0.6 * week + rng.normal(0, 2, n_groups)[g]
         + rng.normal(0, 0.4, n_groups)[g] * week + rng.normal(0, 1.5, g.size))  # fmt: skip
    return pd.DataFrame({"y": y, "week": week, "fmt": fmt, "g": g, "odd": week % 2})


def _dense_criterion(df: pd.DataFrame, pr: Problem, theta: np.ndarray, reml: bool) -> float:
    """-2 (RE)ML log-likelihood profiled over sigma, from V = s2 (Z T T' Z' + I)."""
    d = pr.design
    x, z, y = d.x, d.zg, d.y
    t, _ = pr.split(theta)
    n, p = x.shape
    g = d.g_codes
    zfull = np.zeros((n, pr.n_groups * pr.q))
    for j in range(pr.q):
        zfull[np.arange(n), g * pr.q + j] = z[:, j]
    lam = np.kron(np.eye(pr.n_groups), t)
    v = zfull @ lam @ lam.T @ zfull.T + np.eye(n)  # V / sigma^2
    vi = np.linalg.inv(v)
    xvx = x.T @ vi @ x
    beta = np.linalg.solve(xvx, x.T @ vi @ y)
    r = y - x @ beta
    rss = float(r @ vi @ r)
    ld_v = np.linalg.slogdet(v)[1]
    if not reml:
        return ld_v + n * (1 + np.log(2 * np.pi * rss / n))
    nmp = n - p
    return (ld_v + np.linalg.slogdet(xvx)[1] + nmp * (1 + np.log(2 * np.pi * rss / nmp))
            + pr.reml_offset)  # fmt: skip


@pytest.mark.parametrize("re_formula", ["1", "week", "week + odd"])
@pytest.mark.parametrize("reml", [True, False])
def test_pattern_criterion_and_gradient(re_formula, reml):
    df = _data(3, n_groups=120)
    pr = Problem(build_design(df, "y ~ week * fmt", "g", re_formula, None))
    assert pr._pat is not None  # integer weeks: few patterns
    assert pr._pat[1].sum() == pr.n_groups
    rng = np.random.default_rng(7)
    theta = pr.lower.clip(0.2, None) + rng.uniform(0.1, 0.6, pr.n_theta)
    crit, grad = pr.deviance_and_gradient(theta, reml)
    assert crit == pytest.approx(_dense_criterion(df, pr, theta, reml), rel=1e-10)
    fd = np.array([(pr.deviance(theta + 1e-6 * e, reml) - pr.deviance(theta - 1e-6 * e, reml))
                   / 2e-6 for e in np.eye(pr.n_theta)])  # fmt: skip
    np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-4)


def test_distinct_patterns_keep_the_per_level_path():
    df = _data(4, continuous=True)
    pr = Problem(build_design(df, "y ~ week", "g", "week", None))
    assert pr._pat is None


@pytest.mark.parametrize("missed", [0.0, 0.3])
def test_fit_same_with_and_without_patterns(monkeypatch, missed):
    df = _data(5, n_groups=400)
    # missed sessions: many schedules (patterns), each shared by a few clients
    df = df[np.random.default_rng(6).random(len(df)) >= missed].reset_index(drop=True)
    formula = "y ~ week * fmt + (week | g)"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fast = fit_mixed(df, formula)
        assert fast._problem._pat is not None
        monkeypatch.setattr(Problem, "setup_patterns", lambda self: None)
        slow = fit_mixed(df, formula)
    assert slow._problem._pat is None
    assert fast.loglik == pytest.approx(slow.loglik, rel=1e-10)
    np.testing.assert_allclose(fast.fe_params, slow.fe_params, rtol=1e-6)
    np.testing.assert_allclose(fast.cov_re, slow.cov_re, rtol=1e-4)
    np.testing.assert_allclose(fast.fixed["std_error"], slow.fixed["std_error"], rtol=1e-5)
    np.testing.assert_allclose(fast.fixed["df"], slow.fixed["df"], rtol=1e-4)


@pytest.mark.parametrize("reml", [True, False])
def test_nested_diagonal_gradient_matches_differences(reml):
    # clients nested in therapists (one-column extra term): the diagonal-Schur gradient
    rng = np.random.default_rng(8)
    df = _data(9, n_groups=90)
    ther = rng.integers(0, 12, 90)
    df["therapist"] = [f"t{k}" for k in ther[df["g"].to_numpy()]]
    df["y"] += rng.normal(0, 1, 12)[ther[df["g"].to_numpy()]]
    from ipt_analytics.models.mixed.formula import split_formula

    fixed, terms = split_formula("y ~ week * fmt + (week | g) + (1 | therapist)")
    pr = Problem(build_design(df, fixed, None, None, None, "drop", terms))
    assert pr.mm_diagonal and pr._pat is None
    for theta in (np.array([0.9, -0.2, 0.3, 0.5]), np.array([1.4, 0.1, 0.05, 1.2])):
        crit, grad = pr.deviance_and_gradient(theta, reml)
        assert crit == pytest.approx(pr.deviance(theta, reml), rel=1e-12)
        fd = np.array([(pr.deviance(theta + 1e-6 * e, reml) - pr.deviance(theta - 1e-6 * e, reml))
                       / 2e-6 for e in np.eye(4)])  # fmt: skip
        np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-4)
