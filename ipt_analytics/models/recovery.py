"""Expected recovery curves and not-on-track flags from a fitted trajectory.

An open counterpart of the proprietary "not on track" alerts of routine outcome monitoring
systems (e.g. OQ-Analyst's signal alarms, the expected-treatment-response curves of
Lambert and colleagues); their bands are proprietary and are not reproduced here. The method
is stated so that it can be checked:

1. The fitted linear mixed model implies, for a client with given format, problem area and
   covariates, a multivariate normal distribution of their scores at times
   ``t_0 = 0, t_1, ..., t_K``: mean ``X beta``, covariance ``V = Z G Z' + (sum of the variances
   of the other random intercepts, e.g. therapist) + sigma^2 I``.
2. Conditioning on the observed baseline score ``y_0`` gives, for each later time,
   ``mean_k = mu_k + V_k0 / V_00 (y_0 - mu_0)`` and ``var_k = V_kk - V_k0^2 / V_00``.
   (With ``covariates=("baseline",)`` the model already conditions on baseline: ``var_k =
   V_kk``.)
3. Optionally the fixed-effect uncertainty is added: ``a_k' Cov(beta) a_k`` with
   ``a_k = x_k - V_k0 / V_00 x_0``.
4. The central ``level`` band is ``mean_k +/- z V`` with ``z = Phi^-1(1/2 + level/2)``; a
   score above the upper limit of the 90% band happens with probability 5% per rating for a
   client who follows the model ("not on track").

The bands describe ONE future rating of a client, given only the baseline; they are
prediction bands, not confidence bands for the mean. They assume normal, homoscedastic
errors, which bounded totals (0-27 for PHQ-9) violate near the floor.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from ipt_analytics.models.provenance import stamp_fit
from ipt_analytics.models.trajectory import model_frame, numeric_covariate

__all__ = ["conditional_bands", "expected_recovery", "flag_not_on_track", "variance_parts"]


def variance_parts(model):
    """Episode-level covariance ``G``, its term names, other intercept variances, ``sigma^2``.

    Read from the engine's result on the original scale of the data (``cov_re``,
    ``vc_variances``, ``sigma``).
    """
    g = np.asarray(model.cov_re, dtype=float)
    names = [str(n) for n in model.cov_re.index]
    extra = {str(k): float(v) for k, v in model.vc_variances.items()}
    return g, names, extra, float(model.sigma) ** 2


def conditional_bands(mu, cov, baseline, *, levels=(0.8, 0.9), fixed=None, xmat=None):
    """Mean and bands of scores 1..K given score 0 of a multivariate normal vector.

    Parameters
    ----------
    mu : array_like, shape (K + 1,)
        Marginal means; ``mu[0]`` is the baseline's.
    cov : array_like, shape (K + 1, K + 1)
        Marginal covariance.
    baseline : float
        Observed score 0; ``None`` means do not condition (mean ``mu``, variance ``diag``).
    levels : sequence of float
        Central band levels.
    fixed, xmat : array_like, optional
        Covariance of the fixed effects and the design rows behind ``mu`` (to add the
        fixed-effect uncertainty).

    Returns
    -------
    dict
        ``expected``, ``sd`` and ``lower_<100 level>`` / ``upper_<100 level>`` arrays of
        length K + 1 (entry 0 is the baseline itself when conditioning).

    Examples
    --------
    >>> out = conditional_bands([10.0, 8.0], [[4.0, 2.0], [2.0, 4.0]], 12.0, levels=(0.9,))
    >>> float(out["expected"][1]), round(float(out["sd"][1]), 4)
    (9.0, 1.7321)
    """
    mu = np.asarray(mu, dtype=float)
    cov = np.asarray(cov, dtype=float)
    if baseline is None:
        expected = mu.copy()
        var = np.diag(cov).copy()
        coef = np.zeros_like(mu)
    else:
        coef = cov[:, 0] / cov[0, 0]
        expected = mu + coef * (float(baseline) - mu[0])
        var = np.diag(cov) - coef * cov[:, 0]
    if fixed is not None and xmat is not None:
        xmat = np.asarray(xmat, dtype=float)
        a = xmat - coef[:, None] * xmat[0][None, :] if baseline is not None else xmat
        var = var + np.einsum("ij,jk,ik->i", a, np.asarray(fixed, dtype=float), a)
    sd = np.sqrt(np.clip(var, 0.0, None))
    out = {"expected": expected, "sd": sd}
    for level in levels:
        z = stats.norm.ppf(0.5 + level / 2.0)
        tag = _tag(level)
        out[f"lower_{tag}"] = expected - z * sd
        out[f"upper_{tag}"] = expected + z * sd
    return out


def _tag(level: float) -> str:
    pct = 100.0 * float(level)
    return f"{pct:g}".replace(".", "_")


def _client_moments(fit, rows: pd.DataFrame, grid=None, x=None):
    """Marginal mean, covariance and fixed design of one client's ratings (rows in order).

    ``grid`` and ``x`` (the rows' model grid and fixed design) may be passed when computed
    for many clients at once: building the design through patsy per client dominated
    :func:`flag_not_on_track` on large caseloads.
    """
    model = fit.model
    if grid is None:
        grid = fit.grid(rows)
        x = np.asarray(model.fixed_design(grid), dtype=float)
    mu = x @ np.asarray(model.fe_params, dtype=float)
    g, names, extra, sigma2 = variance_parts(model)
    z = np.column_stack(
        [
            np.ones(len(grid)) if n in ("Intercept", "(Intercept)") else grid[n].to_numpy(float)
            for n in names
        ]
    )
    cov = z @ g @ z.T + sigma2 * np.eye(len(grid))
    for name, var in extra.items():
        if name == "therapy_group":
            # a client shares a group effect only between ratings made in a group
            ing = grid["in_group"].to_numpy(float) if "in_group" in grid else np.zeros(len(grid))
            cov = cov + var * np.outer(ing, ing)
        else:
            cov = cov + var
    for term_cov in getattr(model, "vc_cov", {}).values():
        if term_cov.shape[0] > 1:  # e.g. a therapist random slope: Z_k G_k Z_k'
            zk = np.column_stack([
                np.ones(len(grid)) if n in ("Intercept", "(Intercept)") else grid[n].to_numpy(float)
                for n in term_cov.index
            ])  # fmt: skip
            cov = cov + zk @ term_cov.to_numpy() @ zk.T
    return x, mu, cov


def _design_rows(fit, sessions, weeks, settings):
    """Rows of a hypothetical client: one per session, factors averaged when not given."""
    spec = fit.spec
    t = np.asarray(weeks, float) if spec.time == "week" else np.asarray(sessions, float) - 1.0
    base = pd.DataFrame({"session": np.asarray(sessions, int), "time": t})
    settings = dict(settings or {})
    combos = [{}]
    for factor, levels in spec.levels.items():
        chosen = settings.get(factor)
        opts = [chosen] if chosen is not None else list(levels)
        combos = [{**c, factor: lv} for c in combos for lv in opts]
    for cov in spec.covariates:
        if cov in settings:
            base[cov] = float(settings[cov])
    return [base.assign(**c) for c in combos]


def expected_recovery(
    fit,
    *,
    baseline,
    sessions=None,
    weeks=None,
    settings=None,
    levels=(0.8, 0.9),
    fixed_uncertainty=False,
) -> pd.DataFrame:
    """Expected trajectory and prediction bands for a client with a given baseline score.

    Parameters
    ----------
    fit : TrajectoryResult
    baseline : float
        The client's baseline (session 1) score.
    sessions : sequence of int, optional
        Session numbers (default 1 .. the largest session in the fit).
    weeks : sequence of float, optional
        Week of each session for a fit on the week scale (default one session per week:
        ``session - 1``).
    settings : dict, optional
        Levels of the fit's factors (``{"format": "group"}``) and covariate values; factors
        not given are averaged with equal weights, covariates at their means.
    levels : sequence of float
        Central band levels (default 80% and 90%).
    fixed_uncertainty : bool
        Add the fixed-effect estimation uncertainty to the band width.

    Returns
    -------
    pandas.DataFrame
        ``session, week, expected, lower_80, upper_80, lower_90, upper_90, baseline`` (one
        lower/upper pair per level), the table ``plot_expected_recovery`` draws.

    Examples
    --------
    >>> from ipt_analytics.models.trajectory import _demo_long, fit_trajectory
    >>> fit = fit_trajectory(_demo_long(), by="format")
    >>> tab = expected_recovery(fit, baseline=20, sessions=range(1, 5))
    >>> list(tab.columns)
    ['session', 'week', 'expected', 'lower_80', 'upper_80', 'lower_90', 'upper_90', 'baseline']
    >>> float(tab["expected"].iloc[0])
    20.0
    """
    if sessions is not None:
        sessions = np.asarray(list(sessions), dtype=int)
        if sessions.size == 0 or sessions.min() < 1:
            raise ValueError(
                f"expected_recovery(): sessions={sessions.tolist()!r} must be session numbers "
                ">= 1, e.g. range(1, 17)."
            )
    spec = fit.spec
    if sessions is None:
        sessions = np.arange(1, int(fit.data["session"].max()) + 1)
    if sessions[0] != 1 and "baseline" not in spec.covariates:
        sessions = np.concatenate([[1], sessions])
    weeks = sessions - 1.0 if weeks is None else np.asarray(list(weeks), dtype=float)
    if weeks.size != sessions.size:
        raise ValueError("expected_recovery(): weeks must have one value per session.")
    settings = dict(settings or {})
    conditional = "baseline" not in spec.covariates
    if not conditional:
        settings["baseline"] = float(baseline) - spec.centres["baseline"]
    parts = [_client_moments(fit, rows) for rows in _design_rows(fit, sessions, weeks, settings)]
    # equal-weight average over unspecified factor levels (mean of the normal mixture's
    # means; the covariance does not depend on the fixed-effect levels)
    x = np.mean([p[0] for p in parts], axis=0)
    mu = np.mean([p[1] for p in parts], axis=0)
    cov = parts[0][2]
    fixed = np.asarray(fit.model.cov_fixed, dtype=float) if fixed_uncertainty else None
    bands = conditional_bands(
        mu, cov, float(baseline) if conditional else None, levels=levels, fixed=fixed, xmat=x
    )
    out = pd.DataFrame({"session": sessions, "week": weeks, "expected": bands["expected"]})
    for level in levels:
        tag = _tag(level)
        out[f"lower_{tag}"] = bands[f"lower_{tag}"]
        out[f"upper_{tag}"] = bands[f"upper_{tag}"]
    if not conditional:
        # the model describes post-baseline ratings; session 1 is the observed baseline
        first = out["session"] == 1
        out.loc[first, [c for c in out.columns if c not in ("session", "week")]] = float(baseline)
    out["baseline"] = float(baseline)
    out.attrs.update(
        method="conditional normal given baseline (mixed-model marginal covariance)",
        fixed_uncertainty=fixed_uncertainty,
        levels=tuple(levels),
    )
    return stamp_fit(out, fit, caller="expected_recovery")


def flag_not_on_track(
    model,
    data,
    *,
    level=0.9,
    fixed_uncertainty=False,
    current_only=True,
) -> pd.DataFrame:
    """Flag current episodes whose latest score lies above their expected-recovery band.

    For each episode, the baseline (first rating) and the fit give the expected score and the
    upper limit of the central ``level`` band at each later rating (see the module notes);
    the episode is not on track when its LATEST score exceeds that limit.

    Parameters
    ----------
    model : TrajectoryResult
        A fitted trajectory (any shape; its factors and covariates must be in ``data``).
    data : SessionData or pandas.DataFrame
        Canonical long table; ratings of the fit's instrument are used.
    level : float
        Band level (0.9: a client following the model exceeds the upper limit at a given
        rating with probability 5%).
    fixed_uncertainty : bool
    current_only : bool
        Only episodes whose ``end_reason`` is ``"ongoing"`` or missing (default).

    Returns
    -------
    pandas.DataFrame
        ``episode_id, latest_session, latest_score, expected, upper, excess, not_on_track,
        first_off_track_session`` (``excess = latest_score - upper``; NaN and False for an
        episode with a baseline only).

    Examples
    --------
    >>> from ipt_analytics.models.trajectory import _demo_long, fit_trajectory
    >>> long = _demo_long()
    >>> flags = flag_not_on_track(fit_trajectory(long, by="format"), long)
    >>> list(flags.columns)[:4]
    ['episode_id', 'latest_session', 'latest_score', 'expected']
    """

    fit = model
    spec = fit.spec
    table = getattr(data, "sessions", data)
    rows = table[(table["instrument"] == spec.instrument) & table["total"].notna()]
    if current_only:
        if "end_reason" in rows.columns:
            rows = rows[rows["end_reason"].isna() | (rows["end_reason"] == "ongoing")]
    rows = rows.sort_values(["episode_id", "session"], kind="stable").reset_index(drop=True)
    cols = ["episode_id", "latest_session", "latest_score", "expected", "upper", "excess",
            "not_on_track", "first_off_track_session"]  # fmt: skip
    if rows.empty:
        return pd.DataFrame({c: pd.Series(dtype=float) for c in cols})
    # time terms (and piecewise knots) exactly as the fit builds them
    frame, _ = model_frame(
        rows, instrument=spec.instrument, time=spec.time, shape=spec.shape,
        phases=spec.phases,
    )  # fmt: skip
    for factor in spec.by:
        frame[factor] = rows[factor].astype(str).to_numpy()
    for cov in spec.covariates:
        if cov == "baseline":
            continue
        frame[cov] = numeric_covariate(rows[cov], cov)
    if "group" in spec.nest:
        frame["in_group"] = rows["group_id"].notna().to_numpy(float)
    conditional = "baseline" not in spec.covariates
    z = stats.norm.ppf(0.5 + level / 2.0)
    fixed = np.asarray(fit.model.cov_fixed, dtype=float) if fixed_uncertainty else None
    out = []
    frame = frame.sort_values(["episode_id", "session"], kind="stable").reset_index(drop=True)
    if not conditional:
        first = frame.groupby("episode_id", sort=False, observed=True)["total"].transform("first")
        frame["baseline"] = first.to_numpy(float) - spec.centres["baseline"]
    # one grid and one fixed design for all episodes, sliced per episode below
    grid_all = fit.grid(frame)
    x_all = np.asarray(fit.model.fixed_design(grid_all), dtype=float)
    bounds = np.flatnonzero(
        frame["episode_id"].to_numpy()[1:] != frame["episode_id"].to_numpy()[:-1]
    )
    starts = np.r_[0, bounds + 1]
    stops = np.r_[bounds + 1, len(frame)]
    for a, b_ in zip(starts, stops, strict=True):
        part = frame.iloc[a:b_].reset_index(drop=True)
        ep = part["episode_id"].iloc[0]
        y = part["total"].to_numpy(float)
        base = y[0]
        grid = grid_all.iloc[a:b_].reset_index(drop=True)
        x, mu, cov = _client_moments(fit, part, grid=grid, x=x_all[a:b_])
        b = conditional_bands(mu, cov, base if conditional else None, levels=(level,),
                              fixed=fixed, xmat=x)  # fmt: skip
        upper = b["expected"] + z * b["sd"]
        later = np.arange(len(part)) >= (1 if conditional else 0)
        above = later & (y > upper)
        last = len(part) - 1
        has_later = later[last]
        excess = y[last] - upper[last] if has_later else np.nan
        out.append(
            dict(
                episode_id=ep,
                latest_session=int(part["session"].iloc[last]),
                latest_score=float(y[last]),
                expected=float(b["expected"][last]) if has_later else np.nan,
                upper=float(upper[last]) if has_later else np.nan,
                excess=float(excess),
                not_on_track=bool(has_later and excess > 0),
                first_off_track_session=(
                    float(part["session"].to_numpy()[above][0]) if above.any() else np.nan
                ),
            )
        )
    result = pd.DataFrame(out, columns=cols)
    result.attrs.update(level=level, method="conditional normal band given baseline")
    return stamp_fit(result, fit, caller="flag_not_on_track")
