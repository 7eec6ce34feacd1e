"""``fit_mixed``: fit a linear mixed model and check the fit."""

from __future__ import annotations

import warnings as _warnings

import numpy as np
import pandas as pd

from ipt_analytics.errors import FitWarning
from ipt_analytics.models.mixed.design import build_design
from ipt_analytics.models.mixed.formula import ACCEPTED_FORMS, split_formula
from ipt_analytics.models.mixed.lmm import Problem, check_optimum, optimize_theta
from ipt_analytics.models.mixed.result import MixedResult, _lower_factor

__all__ = ["fit_mixed"]

_ENGINES = ("auto", "ipt", "statsmodels")
_DF_METHODS = ("satterthwaite", "kenward-roger", "wald")


def _singular_messages(res: MixedResult) -> list:
    """lme4's ``isSingular()``: a diagonal element of a relative covariance factor (on the
    original scale of the random-effects design) below 1e-4; one message per term."""
    msgs = []
    total = res.sigma
    # relative factors on the original scale, from the estimate (theta): main factor
    # through the design's scaling map, the other terms as fitted (unscaled)
    t_s, lam = res._problem.split(res._theta_internal)
    t_main = _lower_factor(res._design.z_map @ t_s)
    t_other = res._problem.term_factors(lam)
    terms = [(res.groups, res.cov_re, np.diag(t_main), True)]
    for (name, cov), t in zip(res.vc_cov.items(), t_other, strict=True):
        if cov.shape == (1, 1) and name in res.vc_variances.index:
            # one column: the relative SD is the variance over sigma^2, square-rooted
            diag = np.sqrt(max(float(res.vc_variances[name]), 0.0)) / total
            terms.append((name, cov, np.array([diag]), False))
        else:
            terms.append((name, cov, np.diag(t), False))
    for name, cov, diag_t, main in terms:
        if not np.any(np.abs(diag_t) < 1e-4):
            continue
        sd = np.sqrt(np.clip(np.diag(cov.to_numpy()), 0, None))
        if not main and cov.shape == (1, 1):
            what = "random intercept" if cov.index[0] == "Intercept" else f"{cov.index[0]!r} term"
            msgs.append(
                f"Boundary (singular) fit: the variance of the {name!r} {what} is "
                "estimated as zero; that factor could be dropped."
            )
            continue
        zero = [n for n, s in zip(cov.index, sd, strict=True) if s < 1e-3 * total]
        detail = (
            f"the variance of {', '.join(repr(z) for z in zero)} is estimated as (nearly) zero"
            if zero
            else "the random effects are perfectly correlated (correlation of +/-1)"
        )
        msgs.append(
            f"Boundary (singular) fit for {name!r}: {detail}. The random-effects "
            "structure is too rich for these data; consider a simpler "
            + ("re_formula." if main and not res._syntax else "random-effects term.")
        )
    return msgs


def _statsmodels_theta(problem: Problem, reml: bool, info: list):
    """Fit with statsmodels MixedLM on the scaled design.

    Optimisers are tried in turn (lbfgs, bfgs, cg, nm+lbfgs, powell) until one converges
    without warnings at a point that passes :func:`check_optimum`; the lowest criterion
    seen is kept.
    """
    from statsmodels.regression.mixed_linear_model import MixedLM

    d = problem.design
    model = MixedLM(d.y, d.x, groups=d.g_codes, exog_re=d.zg)
    best = None
    for method in (["lbfgs"], ["bfgs"], ["cg"], ["nm", "lbfgs"], ["powell"]):
        with _warnings.catch_warnings(record=True) as caught:
            _warnings.simplefilter("always")
            try:
                fit = model.fit(reml=reml, method=method, maxiter=2000)
            except (ValueError, np.linalg.LinAlgError) as exc:
                info.append(("statsmodels " + "+".join(method), False, np.inf, str(exc)))
                continue
        cov_rel = np.asarray(fit.cov_re) / fit.scale
        try:
            t = np.linalg.cholesky(cov_rel)
        except np.linalg.LinAlgError:
            t = np.linalg.cholesky(cov_rel + 1e-10 * np.eye(cov_rel.shape[0]))
        theta = problem.join(t, np.zeros(0))
        crit = problem.deviance(theta, reml)
        info.append(
            ("statsmodels " + "+".join(method), bool(fit.converged), float(crit),
             "; ".join(str(w.message) for w in caught) or "ok")
        )  # fmt: skip
        if best is None or crit < best[1]:
            best = (theta, crit)
        if fit.converged and not caught and check_optimum(problem, best[0], reml)[0]:
            break  # a clean optimum: the remaining optimisers cannot do better
    if best is None:
        raise ValueError("fit_mixed(engine='statsmodels'): every statsmodels optimiser failed.")
    return best


def fit_mixed(
    data: pd.DataFrame,
    formula: str,
    *,
    groups: str | None = None,
    re_formula: str = "1",
    vc: dict | None = None,
    reml: bool = True,
    missing_groups: str = "drop",
    engine: str = "auto",
    df_method: str = "satterthwaite",
    conf_level: float = 0.95,
) -> MixedResult:
    """Fit a linear mixed model exactly as lme4 does (profiled REML or ML deviance).

    The model is written either in lme4's syntax, fixed part (patsy, as statsmodels)
    plus any number of random-effects terms::

        fit_mixed(df, "total ~ week * format + (week | episode_id) + (week | therapist_id)")

    with ``(x | g)`` correlated effects for every level of ``g``, ``(x || g)``
    uncorrelated ones, ``(1 | a/b)`` ``b`` nested in ``a`` (labels of ``b`` may repeat
    across ``a``) and ``(1 | a:b)`` one level per combination; or, the older way and the
    same model, ``formula`` as the fixed part plus ``groups``/``re_formula`` (the term
    ``(re_formula | groups)``) and ``vc`` (one ``(1 | column)`` per entry). Variances and
    covariances are named as lme4's ``VarCorr`` names them (:attr:`MixedResult.varcorr`).

    The engine: the factor with most levels keeps per-level blocks (batched dense
    Cholesky); the other terms enter a dense Schur complement with ``q_k`` columns per
    level, which suits tens to a few thousand levels of the other factors.

    Parameters
    ----------
    data : DataFrame, Parquet path/glob/directory, duckdb relation or Spark DataFrame
        Long data, one row per observation. For data that do not fit in memory, a source
        (see :mod:`ipt_analytics.models.mixed.sufficient`): one random-effects term, the
        statistics computed inside DuckDB/Spark.
    formula : str
        The whole model in lme4 syntax, or the fixed part, e.g. ``"y ~ week * C(format)"``,
        with ``groups``.
    groups : str, optional
        Column with the grouping factor of the correlated random effects (e.g. client);
        not with random-effects terms in ``formula``.
    re_formula : str
        Random-effects design per level of ``groups``: ``"1"`` (intercept only),
        ``"~week"`` or ``"1 + week"`` (intercept and slope), ``"0 + week"`` (slope only).
    vc : dict, optional
        ``{name: column}`` of additional random-intercept factors, each with its own
        variance.
    reml : bool
        REML (default) or maximum likelihood.
    missing_groups : {"drop", "no_effect"}
        ``"drop"`` (default, lme4's ``na.omit``): rows missing any grouping factor are
        dropped; the fit's ``.warnings`` give rows used and rows dropped per factor.
        ``"no_effect"``: a row whose ``vc`` column is missing is kept and gets no effect
        for that factor (partial nesting, e.g. ``group_id`` exists only for group-format
        sessions; lme4 writes this as ``(0 + in_group | group_id)`` with a filled-in id).
    engine : {"auto", "ipt", "statsmodels"}
        ``"auto"``/``"ipt"``: the exact engine of this package. ``"statsmodels"``:
        MixedLM on the internally scaled design, several optimisers, best kept, then
        the same checks; single grouping factor only (no ``vc``).
    df_method : {"satterthwaite", "kenward-roger", "wald"}
        t tests with Satterthwaite df (as lmerTest), Kenward-Roger df and adjusted
        standard errors (as pbkrtest / lmerTest ``ddf = "Kenward-Roger"``; REML fits only;
        ``cov_fixed_kr`` holds the adjusted covariance) or Wald z tests (df = inf).
    conf_level : float
        Level of the confidence intervals in ``fixed``.

    Returns
    -------
    MixedResult
        Problems are listed in plain words in ``.warnings`` and emitted once as
        :class:`ipt_analytics.errors.FitWarning`. ``.converged`` is False when the
        optimum fails the checks (scaled gradient > 0.002 as in lme4, a Hessian with
        negative eigenvalues, or a deviance that still falls away from a zero
        variance); a boundary (singular) fit keeps ``converged=True`` but is listed.
        Rows missing the outcome, a model variable or ``groups`` are dropped; the
        number is in ``.n_dropped``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(1)
    >>> client = np.repeat(np.arange(30), 6)
    >>> week = np.tile(np.arange(6.0), 30)
    >>> y = 15 - 0.8 * week + rng.normal(0, 3, 30)[client] + rng.normal(0, 2, 180)
    >>> df = pd.DataFrame({"client": client, "week": week, "y": y})
    >>> res = fit_mixed(df, "y ~ week", groups="client")
    >>> res.converged, res.nobs, res.ngroups
    (True, 180, {'client': 30})
    >>> list(res.fixed.columns)
    ['term', 'estimate', 'std_error', 'df', 'statistic', 'p_value', 'conf_low', 'conf_high']

    In lme4's syntax, a random intercept per client and a random intercept and slope per
    therapist (``groups="client"`` alone is ``"y ~ week + (1 | client)"``):

    >>> therapist = client % 6
    >>> t_int, t_slope = rng.normal(0, 2, 6), rng.normal(0, 0.5, 6)
    >>> df["therapist"] = therapist
    >>> df["y"] += t_int[therapist] + t_slope[therapist] * week
    >>> two = fit_mixed(df, "y ~ week + (1 | client) + (week | therapist)")
    >>> two.ngroups
    {'client': 30, 'therapist': 6}
    >>> two.varcorr[["grp", "var1", "var2"]].fillna("").values.tolist()  # lme4's VarCorr rows
    ... # doctest: +NORMALIZE_WHITESPACE
    [['client', '(Intercept)', ''], ['therapist', '(Intercept)', ''], ['therapist', 'week', ''],
     ['therapist', '(Intercept)', 'week'], ['Residual', '', '']]
    """
    if engine not in _ENGINES:
        raise ValueError(f"fit_mixed(): engine={engine!r} is not one of {_ENGINES}.")
    if df_method not in _DF_METHODS:
        raise ValueError(f"fit_mixed(): df_method={df_method!r} is not one of {_DF_METHODS}.")
    if df_method == "kenward-roger" and not reml:
        raise ValueError(
            "fit_mixed(): df_method='kenward-roger' needs a REML fit (as in lmerTest); "
            "use reml=True or df_method='satterthwaite'."
        )
    if not 0 < conf_level < 1:
        raise ValueError(f"fit_mixed(): conf_level={conf_level!r} must be between 0 and 1.")
    if vc is not None and not isinstance(vc, dict):
        raise ValueError(
            f"fit_mixed(): vc must be a dict {{name: column}}, got {type(vc).__name__}; "
            "e.g. vc={'therapist': 'therapist_id'}."
        )
    if engine == "statsmodels" and vc:
        raise ValueError(
            "fit_mixed(): engine='statsmodels' supports a single grouping factor only; "
            f"vc={vc!r} needs engine='ipt' (or 'auto')."
        )
    if missing_groups not in ("drop", "no_effect"):
        raise ValueError(
            f"fit_mixed(): missing_groups={missing_groups!r} is not one of 'drop' (lme4's "
            "na.omit) or 'no_effect'."
        )
    full_formula = None
    terms = None
    if isinstance(formula, str) and "|" in formula:
        if groups is not None or vc or re_formula != "1":
            raise ValueError(
                "fit_mixed(): give the random effects either as terms in the formula, e.g. "
                "'y ~ week + (week | client)', or with groups=/re_formula=/vc=, not both."
            )
        full_formula = " ".join(formula.split())
        formula, terms = split_formula(formula)
    elif groups is None:
        raise ValueError(
            f"fit_mixed(): formula={formula!r} has no random-effects term and groups= is not "
            f"given. Add e.g. '+ (1 | client)' to the formula or pass groups=. {ACCEPTED_FORMS}."
        )
    if engine == "statsmodels" and terms is not None and (len(terms) > 1 or terms[0].diag):
        raise ValueError(
            "fit_mixed(): engine='statsmodels' supports a single correlated term only; "
            f"{full_formula!r} needs engine='ipt' (or 'auto')."
        )
    if isinstance(data, pd.DataFrame):
        design = build_design(data, formula, groups, re_formula, vc, missing_groups, terms)
        problem, rows = Problem(design), data.loc[design.rows]
    else:  # Parquet path/glob/directory, duckdb relation, Spark DataFrame: models/mixed/sufficient
        from ipt_analytics.models.mixed.sufficient import source_options, source_problem

        groups, re_formula = source_options(vc, engine, df_method, missing_groups, terms, groups,
                                            re_formula)  # fmt: skip
        problem, rows = source_problem(data, formula, groups, re_formula), data
        design = problem.design
    if engine == "statsmodels":
        info: list = []
        theta, _ = _statsmodels_theta(problem, reml, info)
    else:
        theta, _, info = optimize_theta(problem, reml)
    ok, messages = check_optimum(problem, theta, reml)
    opt_ok = any(step[1] for step in info)
    if not opt_ok:
        ok = False
        messages.insert(0, "The fit did not converge: no optimiser reported success.")
    spec = {"formula": formula, "re_formula": re_formula, "groups": groups, "vc": vc,
            "missing_groups": missing_groups, "full_formula": full_formula}  # fmt: skip
    res = MixedResult(problem=problem, theta=theta, reml=reml, optinfo=info, warnings=messages,
                      converged=ok, spec=spec, data=rows, df_method=df_method,
                      conf_level=conf_level, engine=engine, fitter=fit_mixed)  # fmt: skip
    res.warnings.extend(_singular_messages(res))
    if design.na_groups:
        per = ", ".join(f"{col!r}: {k}" for col, k in design.na_groups.items())
        res.warnings.insert(0, (
            f"Rows missing a grouping factor were dropped (as lme4's na.omit): {per} "
            f"rows; {design.rows.size} of {design.n_rows} rows used, {design.n_dropped} "
            "dropped in all."
        ))  # fmt: skip
    res.n_dropped = design.n_dropped
    if res.warnings:
        _warnings.warn("fit_mixed(): " + " | ".join(res.warnings), FitWarning, stacklevel=2)
    return res
