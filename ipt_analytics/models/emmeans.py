"""Marginal means, contrasts, trends and GMA effect sizes from a fitted trajectory.

An open, small counterpart of R's ``emmeans`` for :class:`~ipt_analytics.models.trajectory.
TrajectoryResult`: a reference grid (every combination of the levels of the model's
factors, time fixed, numeric covariates at their means in the model frame) is turned into
fixed-effects design rows; a marginal mean is the EQUAL-weight average of the grid rows of one
level (emmeans' default weights), so it does not depend on how many episodes each other level
has. Standard errors come from the fixed-effects covariance and the df from the engine's
Satterthwaite approximation for each linear combination (emmeans with lmerTest,
``lmer.df = "satterthwaite"``). ``tests/reference/sample_emmeans.R`` holds the R side. When the
engine's fit has ``df_method="kenward-roger"``, standard errors come from the Kenward-Roger
adjusted covariance and the df from Kenward-Roger (emmeans' ``lmer.df = "kenward-roger"``;
``tests/reference/mixed_kr.R``).

Differences from emmeans worth knowing: derived time terms (``time2``, ``log_time``, IPT phase
terms) are recomputed from the grid's time value rather than held at their own means, and the
knots of a piecewise fit are those of the median episode; a numeric covariate with only two
values (e.g. medication 0/1) is held at its mean, whereas emmeans by default treats it as a
factor with equal weights (its option ``cov.keep = "2"``) - pass ``at={"medication": 0.5}``
to get emmeans' default.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
from scipy import stats

from ipt_analytics.models.provenance import stamp_fit
from ipt_analytics.stats.multiplicity import p_adjust as _p_adjust
from ipt_analytics.stats.summary_stats import gma_d

__all__ = ["contrasts", "effect_size", "marginal_means", "reference_grid", "trends"]


def _time_value(fit, at: dict) -> float:
    spec = fit.spec
    if "time" in at:
        return float(at["time"])
    if spec.time == "week" and "week" in at:
        return float(at["week"])
    if spec.time == "session" and "session" in at:
        return float(at["session"]) - 1.0
    other = {"week", "session"} & set(at)
    if other:
        raise ValueError(
            f"marginal_means(): at={at!r} names {sorted(other)} but the fit's time scale is "
            f"{spec.time!r}; use at={{{spec.time!r}: ...}} or at={{'time': ...}}."
        )
    # emmeans holds a numeric predictor at its mean unless told otherwise
    return float(fit.data["time"].mean())


def _by_tuple(fit, by, fn) -> tuple:
    if by is None:
        return ()
    by = (by,) if isinstance(by, str) else tuple(by)
    for factor in by:
        if factor not in fit.spec.levels:
            raise ValueError(
                f"{fn}(): by={factor!r} is not a factor of the fit; the fit has "
                f"{list(fit.spec.levels) or 'no factors'} (refit with fit_trajectory(by=...))."
            )
    return by


def reference_grid(fit, *, at=None) -> pd.DataFrame:
    """The reference grid: all level combinations of the fit's factors at one time.

    ``at`` may fix the time (``{"week": 12}``, ``{"session": 8}`` or ``{"time": ...}``), a
    factor level (``{"format": "group"}``) or a covariate value. The grid has the model's
    derived time terms and covariates (at their model-frame means unless given).

    Examples
    --------
    >>> from ipt_analytics.models.trajectory import _demo_long, fit_trajectory
    >>> fit = fit_trajectory(_demo_long(), by="format", random="intercept")
    >>> reference_grid(fit, at={"week": 4})[["format", "time"]].to_dict("list")
    {'format': ['individual', 'group'], 'time': [4.0, 4.0]}
    """
    at = dict(at or {})
    t = _time_value(fit, at)
    factors = {}
    for factor, levels in fit.spec.levels.items():
        if factor in at:
            chosen = at[factor]
            chosen = [chosen] if isinstance(chosen, str) else list(chosen)
            bad = [c for c in chosen if c not in levels]
            if bad:
                raise ValueError(
                    f"reference_grid(): at[{factor!r}] = {bad} are not levels of the fit; "
                    f"use {list(levels)}."
                )
            factors[factor] = chosen
        else:
            factors[factor] = list(levels)
    combos = list(itertools.product(*factors.values())) if factors else [()]
    grid = pd.DataFrame(combos, columns=list(factors))
    grid["time"] = t
    for cov in fit.spec.covariates:
        grid[cov] = float(at[cov]) if cov in at else float(fit.data[cov].mean())
    return fit.grid(grid)


def _averaging_matrix(grid: pd.DataFrame, x: np.ndarray, by: tuple):
    if not by:
        return pd.DataFrame(index=[0]), x.mean(axis=0, keepdims=True)
    keys = grid[list(by)].astype(str)
    labels = keys.drop_duplicates().reset_index(drop=True)
    rows = []
    for _, lab in labels.iterrows():
        mask = (keys == lab.to_numpy()).all(axis=1).to_numpy()
        rows.append(x[mask].mean(axis=0))
    return labels, np.vstack(rows)


def _df_label(fit) -> str:
    """How the df (and covariance) of the engine's fit are computed, for ``attrs``."""
    return {
        "satterthwaite": "Satterthwaite df",
        "kenward-roger": "Kenward-Roger df and adjusted covariance",
    }.get(getattr(fit.model, "df_method", "satterthwaite"), "Wald z (df = inf)")


def _lincomb(fit, lmat: np.ndarray) -> pd.DataFrame:
    res = fit.model.linear_combination(np.atleast_2d(lmat))
    return pd.DataFrame(
        {
            "estimate": np.asarray(res["estimate"], dtype=float),
            "std_error": np.asarray(res["std_error"], dtype=float),
            "df": np.asarray(res["df"], dtype=float),
        }
    )


def _level_rows(fit, at, by, fn):
    by = _by_tuple(fit, by, fn)
    grid = reference_grid(fit, at=at)
    x = np.asarray(fit.model.fixed_design(grid), dtype=float)
    labels, lmat = _averaging_matrix(grid, x, by)
    return by, grid, labels, lmat


def _slope_rows(fit, at, by, fn):
    """Rows of d(mean)/d(time) by central difference (exact for linear and quadratic)."""
    at = dict(at or {})
    t = _time_value(fit, at)
    for key in ("time", "week", "session"):
        at.pop(key, None)
    h = 1e-3 * max(1.0, abs(t))
    lo = max(t - h, 0.0) if fit.spec.shape == "log" else t - h
    by, _, labels, up = _level_rows(fit, {**at, "time": t + h}, by, fn)
    _, _, _, down = _level_rows(fit, {**at, "time": lo}, by, fn)
    return by, labels, (up - down) / (t + h - lo), t


def marginal_means(fit, *, at=None, by=None, conf_level=0.95) -> pd.DataFrame:
    """Estimated marginal means of the outcome at one time, per level of ``by``.

    Parameters
    ----------
    fit : TrajectoryResult
    at : dict, optional
        Time (``{"week": 12}``, ``{"session": 8}`` meaning before session 8, or
        ``{"time": ...}``; default the mean time of the model frame, as emmeans), and
        optionally factor levels or covariate values.
    by : str or list of str, optional
        Factor(s) whose levels get a mean each; other factors are averaged with equal
        weights. ``None`` gives one grand mean.
    conf_level : float

    Returns
    -------
    pandas.DataFrame
        ``<by columns>, time, estimate, std_error, df, conf_low, conf_high`` (t intervals
        with Satterthwaite df).

    Examples
    --------
    >>> from ipt_analytics.models.trajectory import _demo_long, fit_trajectory
    >>> fit = fit_trajectory(_demo_long(), by="format", random="intercept")
    >>> mm = marginal_means(fit, at={"week": 9}, by="format")
    >>> list(mm.columns)
    ['format', 'time', 'estimate', 'std_error', 'df', 'conf_low', 'conf_high']
    """
    by, grid, labels, lmat = _level_rows(fit, at, by, "marginal_means")
    out = _lincomb(fit, lmat)
    q = stats.t.ppf(0.5 + conf_level / 2.0, out["df"])
    out["conf_low"] = out["estimate"] - q * out["std_error"]
    out["conf_high"] = out["estimate"] + q * out["std_error"]
    out.insert(0, "time", float(grid["time"].iloc[0]))
    for i, factor in enumerate(by):
        out.insert(i, factor, labels[factor].to_numpy())
    out.attrs.update(method=f"equal-weight marginal means; {_df_label(fit)}", conf_level=conf_level)
    return stamp_fit(out, fit, caller="marginal_means")


def _pairs(labels: list, method: str, reference):
    if method == "pairwise":
        return list(itertools.combinations(range(len(labels)), 2))
    if method == "trt.vs.ctrl":
        ref = labels.index(reference) if reference is not None else 0
        return [(i, ref) for i in range(len(labels)) if i != ref]
    raise ValueError(
        f"contrasts(): method={method!r} is not allowed; use 'pairwise' or 'trt.vs.ctrl'."
    )


def contrasts(
    fit,
    *,
    by,
    at=None,
    on="level",
    method="pairwise",
    reference=None,
    p_adjust="holm",
    conf_level=0.95,
) -> pd.DataFrame:
    """Contrasts between the levels of a factor: of means at a time, or of slopes.

    Parameters
    ----------
    fit : TrajectoryResult
    by : str
        The factor whose levels are compared (``"format"`` or ``"problem_area"``).
    at : dict, optional
        Time and other settings as in :func:`marginal_means`. For ``on="slope"`` the slope is
        the derivative of the mean with respect to time at that time (emtrends).
    on : {"level", "slope"}
    method : {"pairwise", "trt.vs.ctrl"}
        ``pairwise``: every ``a - b`` with ``a`` before ``b`` in level order (emmeans'
        ``pairs``); ``trt.vs.ctrl``: every level minus ``reference`` (default the first level).
    p_adjust : {"holm", "bh", "none"}
    conf_level : float

    Returns
    -------
    pandas.DataFrame
        ``contrast, estimate, std_error, df, statistic, p_value, p_adjusted, conf_low,
        conf_high``. The interval is Bonferroni-adjusted over the family whenever
        ``p_adjust`` is not ``"none"`` (emmeans does the same, since Holm and BH have no
        interval counterpart); ``attrs["conf_adjust"]`` says which.

    Examples
    --------
    >>> from ipt_analytics.models.trajectory import _demo_long, fit_trajectory
    >>> fit = fit_trajectory(_demo_long(), by="format", random="intercept")
    >>> contrasts(fit, by="format", on="slope")["contrast"].tolist()
    ['individual - group']
    """
    if on not in ("level", "slope"):
        raise ValueError(f"contrasts(): on={on!r} is not allowed; use 'level' or 'slope'.")
    if not isinstance(by, str):
        raise ValueError(f"contrasts(): by={by!r} must be one factor name, e.g. 'format'.")
    if on == "level":
        by_t, _, labels, lmat = _level_rows(fit, at, by, "contrasts")
    else:
        by_t, labels, lmat, _ = _slope_rows(fit, at, by, "contrasts")
    names = labels[by].astype(str).tolist()
    if reference is not None and reference not in names:
        raise ValueError(f"contrasts(): reference={reference!r} is not a level; use {names}.")
    pairs = _pairs(names, method, reference)
    cmat = np.vstack([lmat[i] - lmat[j] for i, j in pairs])
    out = _lincomb(fit, cmat)
    out.insert(0, "contrast", [f"{names[i]} - {names[j]}" for i, j in pairs])
    out["statistic"] = out["estimate"] / out["std_error"]
    out["p_value"] = 2.0 * stats.t.sf(np.abs(out["statistic"]), out["df"])
    out["p_adjusted"] = _p_adjust(out["p_value"].to_numpy(), method=p_adjust)
    k = len(pairs) if p_adjust != "none" else 1
    q = stats.t.ppf(1.0 - (1.0 - conf_level) / (2.0 * k), out["df"])
    out["conf_low"] = out["estimate"] - q * out["std_error"]
    out["conf_high"] = out["estimate"] + q * out["std_error"]
    out = out[
        [
            "contrast",
            "estimate",
            "std_error",
            "df",
            "statistic",
            "p_value",
            "p_adjusted",
            "conf_low",
            "conf_high",
        ]
    ]
    out.attrs.update(
        on=on,
        p_adjust=p_adjust,
        conf_level=conf_level,
        conf_adjust="bonferroni" if k > 1 else "none",
        method=f"{method} contrasts of {'means' if on == 'level' else 'slopes'}; {_df_label(fit)}",
    )
    return stamp_fit(out, fit, caller="contrasts")


def trends(fit, *, by=None, at=None, conf_level=0.95) -> pd.DataFrame:
    """Slopes (rate of change per unit of time) per level of ``by`` (emtrends).

    Examples
    --------
    >>> from ipt_analytics.models.trajectory import _demo_long, fit_trajectory
    >>> fit = fit_trajectory(_demo_long(), by="format", random="intercept")
    >>> trends(fit, by="format")["format"].tolist()
    ['individual', 'group']
    """
    by_t, labels, lmat, t = _slope_rows(fit, at, by, "trends")
    out = _lincomb(fit, lmat)
    q = stats.t.ppf(0.5 + conf_level / 2.0, out["df"])
    out["conf_low"] = out["estimate"] - q * out["std_error"]
    out["conf_high"] = out["estimate"] + q * out["std_error"]
    out.insert(0, "time", t)
    for i, factor in enumerate(by_t):
        out.insert(i, factor, labels[factor].to_numpy())
    return stamp_fit(out, fit, caller="trends")


def _baseline_scores(fit) -> pd.DataFrame:
    frame = fit.data
    first = frame.sort_values(["episode_id", "session"]).drop_duplicates("episode_id")
    if "baseline_raw" in frame.columns:
        return first.assign(score=first["baseline_raw"])
    if float(first["time"].max()) > 0:
        first = first[first["time"] == 0]
    return first.assign(score=first["total"])


def effect_size(fit, *, by, reference, duration=None, conf_level=0.95) -> pd.DataFrame:
    """Feingold's GMA d for each level of ``by`` against ``reference``.

    d = (difference in model-implied change from time 0 to ``duration``) / SD_raw, which for
    a linear trajectory is (slope difference x duration) / SD_raw (Feingold 2009, Psychol
    Methods 14:43-53). SD_raw is the pooled within-group SD of the two groups' BASELINE scores
    (first rating of each episode, grouped by its baseline level) - never the random-slope or
    residual SD. The interval is the delta method on the fitted covariance of the change
    difference with SD_raw treated as fixed (Feingold 2019), normal quantile; see
    :func:`ipt_analytics.stats.summary_stats.gma_d`.

    Parameters
    ----------
    fit : TrajectoryResult
    by : str
    reference : str
        Level compared against (the denominator group in "level - reference").
    duration : float, optional
        Treatment duration in the fit's time unit; default the median over episodes of the
        last rating's time.

    Returns
    -------
    pandas.DataFrame
        ``contrast, estimate, std_error, conf_low, conf_high, change_difference,
        slope_difference, duration, sd_raw, n_level, n_reference``. Negative d means the
        level improves more (scores fall faster) than the reference.

    Examples
    --------
    >>> from ipt_analytics.models.trajectory import _demo_long, fit_trajectory
    >>> fit = fit_trajectory(_demo_long(), by="format", random="intercept")
    >>> es = effect_size(fit, by="format", reference="individual", duration=9)
    >>> es["contrast"].tolist()
    ['group - individual']
    """

    if duration is None:
        duration = float(fit.data.groupby("episode_id", observed=True)["time"].max().median())
    duration = float(duration)
    _, _, labels0, l0 = _level_rows(fit, {"time": 0.0}, by, "effect_size")
    _, _, _, l1 = _level_rows(fit, {"time": duration}, by, "effect_size")
    names = labels0[by].astype(str).tolist()
    if reference not in names:
        raise ValueError(
            f"effect_size(): reference={reference!r} is not a level of {by!r}; use {names}."
        )
    change = l1 - l0
    ref = names.index(reference)
    base = _baseline_scores(fit)
    sd_ref = base.loc[base[by].astype(str) == reference, "score"]
    rows = []
    for i, name in enumerate(names):
        if i == ref:
            continue
        comb = _lincomb(fit, change[i] - change[ref])
        diff, se = float(comb["estimate"].iloc[0]), float(comb["std_error"].iloc[0])
        sd_lev = base.loc[base[by].astype(str) == name, "score"]
        n1, n2 = sd_lev.size, sd_ref.size
        pooled = np.sqrt(
            ((n1 - 1) * sd_lev.var(ddof=1) + (n2 - 1) * sd_ref.var(ddof=1)) / (n1 + n2 - 2)
        )
        est = gma_d(
            diff / duration, duration, float(pooled), slope_se=se / duration, conf_level=conf_level
        )
        rows.append(
            dict(
                contrast=f"{name} - {reference}",
                estimate=est.estimate,
                std_error=est.std_error,
                conf_low=est.conf_low,
                conf_high=est.conf_high,
                change_difference=diff,
                slope_difference=diff / duration,
                duration=duration,
                sd_raw=float(pooled),
                n_level=int(n1),
                n_reference=int(n2),
            )
        )
    out = pd.DataFrame(rows)
    out.attrs.update(
        method="Feingold 2009 GMA d; delta-method interval, SD_raw fixed", conf_level=conf_level
    )
    return stamp_fit(out, fit, caller="effect_size")
