"""``fit_mixed``: fit a linear mixed model and check the fit."""

from __future__ import annotations

import warnings as _warnings

import numpy as np
import pandas as pd

from ipt_analytics.errors import FitWarning
from ipt_analytics.models.mixed.design import build_design
from ipt_analytics.models.mixed.lmm import Problem, check_optimum, optimize_theta
from ipt_analytics.models.mixed.result import MixedResult

__all__ = ["fit_mixed"]

_ENGINES = ("auto", "ipt", "statsmodels")
_DF_METHODS = ("satterthwaite", "kenward-roger", "wald")


def _singular_messages(res: MixedResult) -> list:
    msgs = []
    cov = res.cov_re.to_numpy()
    sd = np.sqrt(np.clip(np.diag(cov), 0, None))
    total = res.sigma
    t_s, _ = res._problem.split(res._theta_internal)
    diag_s = np.abs(np.diag(t_s))
    if np.any(diag_s < 1e-4):
        zero = [n for n, s in zip(res.cov_re.index, sd, strict=True) if s < 1e-3 * total]
        detail = (
            f"the variance of {', '.join(repr(z) for z in zero)} is estimated as (nearly) zero"
            if zero
            else "the random effects are perfectly correlated (correlation of +/-1)"
        )
        msgs.append(
            f"Boundary (singular) fit for {res.groups!r}: {detail}. The random-effects "
            "structure is too rich for these data; consider a simpler re_formula."
        )
    for name, var in res.vc_variances.items():
        if np.sqrt(var) < 1e-4 * total:
            msgs.append(
                f"Boundary (singular) fit: the variance of the {name!r} random intercept is "
                "estimated as zero; that factor could be dropped."
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
    groups: str,
    re_formula: str = "1",
    vc: dict | None = None,
    reml: bool = True,
    engine: str = "auto",
    df_method: str = "satterthwaite",
    conf_level: float = 0.95,
) -> MixedResult:
    """Fit a linear mixed model exactly as lme4 does (profiled REML or ML deviance).

    The model is ``formula`` (fixed part, patsy syntax as in statsmodels) plus
    correlated random effects ``re_formula`` for every level of ``groups`` (an
    unstructured covariance, like lme4's ``(week | client)``) plus one independent
    random intercept per entry of ``vc`` (crossed or nested, like ``(1 | therapist)``).

    Parameters
    ----------
    data : DataFrame
        Long data, one row per observation.
    formula : str
        Fixed part, e.g. ``"y ~ week * C(format)"``.
    groups : str
        Column with the grouping factor of the correlated random effects (e.g. client).
    re_formula : str
        Random-effects design per level of ``groups``: ``"1"`` (intercept only),
        ``"~week"`` or ``"1 + week"`` (intercept and slope), ``"0 + week"`` (slope only).
    vc : dict, optional
        ``{name: column}`` of additional random-intercept factors, each with its own
        variance. A row whose ``column`` value is missing gets no effect for that factor
        (e.g. ``group_id`` exists only for group-format sessions); such rows are kept.
    reml : bool
        REML (default) or maximum likelihood.
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
    design = build_design(data, formula, groups, re_formula, vc)
    problem = Problem(design)
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
    spec = {"formula": formula, "re_formula": re_formula, "groups": groups, "vc": vc}
    res = MixedResult(problem=problem, theta=theta, reml=reml, optinfo=info, warnings=messages,
                      converged=ok, spec=spec, data=data.loc[design.rows], df_method=df_method,
                      conf_level=conf_level, engine=engine, fitter=fit_mixed)  # fmt: skip
    res.warnings.extend(_singular_messages(res))
    res.n_dropped = design.n_dropped
    if res.warnings:
        _warnings.warn("fit_mixed(): " + " | ".join(res.warnings), FitWarning, stacklevel=2)
    return res
