"""Symptom trajectories over an IPT course: the domain layer on the mixed-model engine.

:func:`fit_trajectory` turns a :class:`~ipt_analytics.io.sessiondata.SessionData` (or its
canonical long table) into a model frame (one row per rating of one instrument), builds the
fixed and random parts from a few named choices (time scale, shape, moderators, covariates,
nesting) and fits it with :func:`ipt_analytics.models.mixed.fit_mixed`. The R equivalents of the
models are written in the docstring of :func:`fit_trajectory`; ``tests/reference/sample_*.R``
fits them with lme4/lmerTest for the parity tests.

Time
    ``time="week"`` uses the canonical ``week`` column (weeks since the episode's first
    session); ``time="session"`` uses ``session - 1``, the number of sessions completed before
    the rating (ratings are completed before each session), so the intercept is the baseline.
    In the model frame and in the fixed-effect terms the time variable is called ``time``.

Shapes
    ``linear`` (``time``), ``log`` (``log_time = log(time + 1)``), ``quadratic`` (``time`` and
    ``time2 = time**2``) and ``piecewise`` (IPT phases, see :func:`phase_knots`).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from ipt_analytics.errors import FitWarning
from ipt_analytics.io.sources import is_source
from ipt_analytics.models.emmeans import marginal_means
from ipt_analytics.models.mixed import fit_mixed
from ipt_analytics.models.trajectory_frame import (  # noqa: F401  (re-exported public names)
    _FACTOR_LEVELS,
    _NEST,
    _RANDOM,
    _SHAPES,
    _TIMES,
    _VC_LABEL,
    DEFAULT_PHASES,
    FORMAT_LEVELS,
    PROBLEM_AREA_LEVELS,
    TrajectorySpec,
    _as_tuple,
    _err,
    lme4_formula,
    model_frame,
    numeric_covariate,
    phase_knots,
    time_columns,
    typical_knots,
)

__all__ = [
    "FORMAT_LEVELS",
    "PROBLEM_AREA_LEVELS",
    "TrajectoryResult",
    "TrajectorySpec",
    "fit_trajectory",
    "model_frame",
    "phase_knots",
    "time_columns",
]


def fit_trajectory(
    data,
    *,
    instrument="phq9",
    time="week",
    shape="linear",
    by=None,
    covariates=(),
    random="slope",
    nest=None,
    reml=True,
    phases=None,
    df_method="satterthwaite",
):
    """Fit a symptom trajectory (linear mixed model) to one instrument's ratings.

    Parameters
    ----------
    data : SessionData or pandas.DataFrame
        A :class:`SessionData` or its canonical long table (``.sessions``); or that table as a
        Parquet path/glob/directory, duckdb relation or Spark DataFrame (linear, log and
        quadratic shapes without covariates/nest; see
        :mod:`ipt_analytics.models.trajectory_source`).
    instrument : str
        Rows of this instrument are modelled (``total`` is the outcome).
    time : {"week", "session"}
        Time scale: weeks since the episode's first session, or sessions completed before
        the rating (``session - 1``). Either way the intercept is the expected baseline.
    shape : {"linear", "log", "quadratic", "piecewise"}
        Mean trajectory. ``"piecewise"`` has one slope per IPT phase (initial, middle,
        termination) with knots per episode from :func:`phase_knots`: the end of the
        initial phase after ``phases["initial"]`` sessions (default 3) and the start of
        termination ``phases["termination"]`` sessions (default 3) before the end of the
        course, the end being ``planned_sessions`` when given, else the episode's last
        observed session. With ``time="week"`` the knot sessions are placed at the episode's
        (interpolated) week of that session, one week per session beyond the last rating.
    by : {"format", "problem_area"} or list of them
        Moderators of level and slope: ``time * by``. ``format`` is taken per session, so in
        an episode that switches format (e.g. in person, then video) each rating carries the
        format of its own session; the format coefficient is then the difference in expected
        score at a rating delivered in that format, and ``time:format`` the difference in the
        rate of change per unit of time - not the effect of being allocated to that format.
    covariates : sequence of str
        ``"baseline"`` adds the episode's baseline score centred at its mean over episodes
        (the baseline rating is then no longer an outcome: the model describes post-baseline
        ratings given baseline). Any other numeric or boolean column (e.g. ``"medication"``,
        coded 0/1) enters as is; reference grids hold covariates at their means.
    random : {"slope", "intercept"}
        Random intercept and slope per episode with their correlation (the slope on ``time``,
        or on ``log_time`` for the log shape), or a random intercept only.
    nest : {"therapist", "therapist_slope", "group"} or list of them
        Adds a random intercept per ``therapist_id`` and/or per therapy group ``group_id``.
        Only ratings with a group_id (group-format sessions) get a group effect (partial
        nesting; lme4: ``(0 + in_group | group_id)``). ``"therapist_slope"``: a random
        intercept AND slope per therapist, correlated (therapists differ in how fast their
        clients improve; lme4: ``(time | therapist_id)``); instead of ``"therapist"``.
    reml : bool
        REML (default) or maximum likelihood (to compare fixed parts by likelihood).
    phases : dict, optional
        ``{"initial": 3, "termination": 3}`` for ``shape="piecewise"``.
    df_method : {"satterthwaite", "kenward-roger", "wald"}
        Passed to :func:`~ipt_analytics.models.mixed.fit_mixed`; with ``"kenward-roger"``
        (REML only) the fixed effects, marginal means, contrasts and trends use the
        Kenward-Roger adjusted covariance and df.

    Returns
    -------
    TrajectoryResult

    Notes
    -----
    lme4 equivalent of ``by="format"``: ``lmer(total ~ time * format + (time | episode_id))``.
    Level order (the first is the reference) is the vocabulary order: individual, group,
    telehealth, telephone, internet; grief, role_dispute, role_transition,
    interpersonal_deficits (levels absent from the data are dropped).

    Examples
    --------
    >>> from ipt_analytics.models.trajectory import _demo_long
    >>> fit = fit_trajectory(_demo_long(), by="format", random="intercept")
    >>> fit.spec.formula
    'total ~ time * format'
    >>> bool(fit.fixed.set_index("term").loc["time", "estimate"] < 0)
    True
    """

    if is_source(data):  # Parquet path, duckdb relation, Spark DataFrame: models/trajectory_source
        from ipt_analytics.models.trajectory_source import trajectory_source

        frame, spec = trajectory_source(data, instrument=instrument, time=time, shape=shape, by=by,
                                        covariates=covariates, random=random, nest=nest,
                                        reml=reml, phases=phases)  # fmt: skip
        model = fit_mixed(frame, spec.formula, groups="episode_id", df_method=df_method,
                          re_formula=spec.re_formula, reml=spec.reml)  # fmt: skip
        return TrajectoryResult(model=model, data=data, spec=spec)
    frame, spec = model_frame(
        data,
        instrument=instrument,
        time=time,
        shape=shape,
        by=by,
        covariates=covariates,
        random=random,
        nest=nest,
        reml=reml,
        phases=phases,
    )
    # "therapy_group", not "group": the format vocabulary already has a level called group.
    vc = {_VC_LABEL[key]: _NEST[key] for key in spec.nest} or None
    # partial nesting: rows outside a therapy group get no group effect
    missing = "no_effect" if "group" in spec.nest else "drop"
    if "therapist_slope" in spec.nest:
        # lme4 syntax; the grouping columns are named as the variance components
        frame = frame.assign(therapist=frame["therapist_id"])
        terms = [f"({spec.re_formula} | episode_id)", f"({_slope_term(spec)} | therapist)"]
        if "group" in spec.nest:
            frame = frame.assign(therapy_group=frame["group_id"])
            terms.append("(1 | therapy_group)")
        model = fit_mixed(frame, " + ".join([spec.formula] + terms), reml=spec.reml,
                          missing_groups=missing, df_method=df_method)  # fmt: skip
    else:
        model = fit_mixed(
            frame,
            spec.formula,
            groups="episode_id",
            df_method=df_method,
            re_formula=spec.re_formula,
            vc=vc,
            reml=spec.reml,
            missing_groups=missing,
        )
    own = []
    if "group" in spec.nest and frame["group_id"].nunique() < 5:
        own.append(
            f"only {frame['group_id'].nunique()} therapy groups: the group variance is poorly "
            "estimated."
        )
    if {"therapist", "therapist_slope"} & set(spec.nest) and frame["therapist_id"].nunique() < 5:
        own.append(
            f"only {frame['therapist_id'].nunique()} therapists: the therapist variance is "
            "poorly estimated."
        )
    for text in own:
        warnings.warn(f"fit_trajectory(): {text}", FitWarning, stacklevel=2)
    return TrajectoryResult(model=model, data=frame, spec=spec, own_warnings=tuple(own))


def _slope_term(spec) -> str:
    return "log_time" if spec.shape == "log" else "time"


class TrajectoryResult:
    """A fitted trajectory: the engine's result plus the domain specification.

    Attributes
    ----------
    model : MixedResult
        The fitted mixed model.
    data : pandas.DataFrame
        The model frame that was fitted.
    spec : TrajectorySpec
    fixed : pandas.DataFrame
        Fixed effects (``term, estimate, std_error, df, statistic, p_value, conf_low,
        conf_high``; Satterthwaite df).
    warnings : list of str
        The engine's warnings followed by the trajectory layer's own.
    """

    def __init__(self, *, model, data, spec, own_warnings=()):
        self.model = model
        self.data = data
        self.spec = spec
        self._own_warnings = tuple(own_warnings)

    @property
    def fixed(self) -> pd.DataFrame:
        return self.model.fixed

    @property
    def warnings(self) -> list:
        return [str(w) for w in getattr(self.model, "warnings", [])] + list(self._own_warnings)

    def grid(self, newdata: pd.DataFrame) -> pd.DataFrame:
        """Add the model's time terms and default covariates to a table of new rows.

        ``newdata`` needs ``time`` (or ``week`` / ``session`` on the fit's time scale:
        ``session`` is a session number, converted to ``session - 1``) and a level for each
        ``by`` factor; covariates missing from it are held at their means in the model frame.
        For a piecewise fit, knots are taken per row from ``knot_initial`` /
        ``knot_termination`` when given, else the median episode's knots.
        """
        new = pd.DataFrame(newdata).copy()
        if "time" not in new.columns:
            if self.spec.time == "week" and "week" in new.columns:
                new["time"] = new["week"].astype(float)
            elif self.spec.time == "session" and "session" in new.columns:
                new["time"] = new["session"].astype(float) - 1.0
            else:
                raise ValueError(
                    f"TrajectoryResult.grid(): newdata needs a 'time' or {self.spec.time!r} column."
                )
        kwargs = {}
        if self.spec.shape == "piecewise":
            k1, k2 = typical_knots(self.data)
            kwargs = dict(
                k1=new["knot_initial"] if "knot_initial" in new else k1,
                k2=new["knot_termination"] if "knot_termination" in new else k2,
            )
        for name, values in time_columns(new["time"], shape=self.spec.shape, **kwargs).items():
            new[name] = values
        for factor, levels in self.spec.levels.items():
            if factor in new.columns:
                bad = sorted(set(new[factor].dropna().astype(str)) - set(levels))
                if bad:
                    raise ValueError(
                        f"TrajectoryResult.grid(): {factor} level(s) {bad} were not in the fit; "
                        f"use {list(levels)}."
                    )
                new[factor] = pd.Categorical(new[factor].astype(str), categories=levels)
        for cov in self.spec.covariates:
            if cov not in new.columns:
                new[cov] = float(self.data[cov].mean())
        return new

    def predict(self, newdata=None, *, include_random=False) -> np.ndarray:
        """Predicted mean score (population level, or with the episode's random effects).

        Without ``newdata`` the fitted rows are predicted.
        """
        if newdata is None:
            return np.asarray(self.model.predict(self.data, include_random=include_random))
        return np.asarray(
            self.model.predict(self.grid(newdata), include_random=include_random), dtype=float
        )

    def _layer_warnings(self) -> list[str]:
        """Warnings of the trajectory layer (the model's own report shows the model's)."""
        return list(self._own_warnings)

    def _header(self) -> list[str]:
        s = self.spec
        head = [
            f"Trajectory of {s.instrument} total: shape {s.shape}, time in "
            f"{'weeks' if s.time == 'week' else 'sessions completed'}",
            f"{'REML' if s.reml else 'ML'}; {self.model.nobs} ratings, "
            f"{self.model.ngroups['episode_id']} episodes",
        ]
        if s.phases:
            head.append(f"phases: {s.phases}")
        return head

    def summary(self) -> str:
        """Text report: warnings first (if any), the model, then the mixed-model summary."""
        own = self._layer_warnings()
        warn = []
        if own:
            bar = "!" * 78
            warn = [bar, "WARNING (trajectory):"] + [f"- {w}" for w in own] + [bar]
        head = [self._header()[0]] + [f"  {h}" for h in self._header()[1:]]
        # the engine writes the group term as (1 | group_id); write every term one way, in
        # lme4 notation (the model fitted is the same: the engine leaves individual ratings
        # without a group effect, lme4's 0 + in_group)
        formula = lme4_formula(self.spec)
        body = [
            f"Model: {formula}" if line.startswith("Model: ") else line
            for line in str(self.model.summary()).splitlines()
        ]
        if "in_group" in formula:
            i = next((k for k, line in enumerate(body) if line.startswith("Model: ")), None)
            if i is not None:
                body.insert(
                    i + 1,
                    "  (0 + in_group | group_id): therapy-group intercept for ratings in "
                    "group format only",
                )
        return "\n".join(warn + head + ["", *body])

    def __repr__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        import html

        parts = []
        own = self._layer_warnings()
        if own:
            items = "".join(f"<li>{html.escape(w)}</li>" for w in own)
            parts.append(
                '<div style="border:2px solid #b30000;background:#fff0f0;padding:6px;'
                'margin-bottom:6px"><strong>Warning: check these problems before reporting '
                f"this trajectory.</strong><ul>{items}</ul></div>"
            )
        head = self._header()
        parts.append(f"<h4>{html.escape(head[0])}</h4>")
        parts.append("<p>" + "<br>".join(html.escape(h) for h in head[1:]) + "</p>")
        parts.append(self.model._repr_html_())
        return "".join(parts)

    def predictions(self, *, by=None, times=None, conf_level=0.95, min_episodes=10):
        """Marginal mean trajectory per level of ``by`` over a grid of times.

        Returns a tidy table: ``group`` (level of ``by``; absent when the fit has no
        factor), the time column named after the fit's scale (``week``, or ``session`` =
        session number, i.e. time + 1), ``estimate, std_error, df, conf_low, conf_high``
        and ``observed`` (True where the group has data: from its first rating time to the
        last time that at least ``min_episodes`` of its episodes reach; beyond it the line
        is an extrapolation). Means are :func:`ipt_analytics.models.emmeans.marginal_means`
        (equal weights over other factors, covariates at their means).
        """

        if by is None and self.spec.by:
            by = self.spec.by[0]
        if times is None:
            times = np.linspace(0.0, float(self.data["time"].max()), 25)
        frames = [
            marginal_means(self, at={"time": float(t)}, by=by, conf_level=conf_level) for t in times
        ]
        table = pd.concat(frames, ignore_index=True)
        name = "week" if self.spec.time == "week" else "session"
        table.insert(0, name, table.pop("time") + (1.0 if name == "session" else 0.0))
        table["observed"] = self._observed_range(table, by, min_episodes)
        if by:
            table = table.rename(columns={by: "group"})
        table.attrs.update(conf_level=conf_level, by=by, min_episodes=min_episodes)
        return table

    def _observed_range(self, table, by, min_episodes) -> np.ndarray:
        """Whether each prediction time lies in its group's observed time range."""
        d = self.data
        t = table["week" if "week" in table.columns else "session"].to_numpy(dtype=float)
        t = t - (1.0 if self.spec.time != "week" else 0.0)
        keys = table[by].to_numpy() if by else np.full(len(table), None)
        out = np.zeros(len(table), dtype=bool)
        for g in pd.unique(keys):
            rows = d if g is None else d[d[by] == g]
            last = np.sort(rows.groupby("episode_id", observed=True)["time"].max().to_numpy())[::-1]
            if not last.size:
                continue
            until = last[min(int(min_episodes), last.size) - 1]
            sel = keys == g if g is not None else np.ones(len(table), dtype=bool)
            out[sel] = (t[sel] >= rows["time"].min()) & (t[sel] <= until)
        return out

    def plot(self, ax=None, *, by=None, times=None):
        """Predicted mean trajectories (population level) per level of ``by``.

        Draws :meth:`predictions` with
        :func:`ipt_analytics.plotting.plot_predicted_trajectories`; returns the Axes.
        """
        from ipt_analytics.plotting import plot_predicted_trajectories

        table = self.predictions(by=by, times=times)
        name = "week" if self.spec.time == "week" else "session"
        return plot_predicted_trajectories(table, instrument=self.spec.instrument, time=name, ax=ax)


def _demo_long(n_episodes=24, seed=1) -> pd.DataFrame:
    """A small canonical long table for examples (not the sample cohort)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_episodes):
        fmt = FORMAT_LEVELS[i % 2]
        b0 = 18 + rng.normal(0, 3)
        b1 = -0.8 + (0.3 if fmt == "group" else 0.0) + rng.normal(0, 0.3)
        for s in range(1, 11):
            rows.append(
                dict(
                    client_id=f"c{i:02d}",
                    episode_id=f"e{i:02d}",
                    session=s,
                    week=float(s - 1),
                    instrument="phq9",
                    total=float(np.clip(round(b0 + b1 * (s - 1) + rng.normal(0, 2)), 0, 27)),
                    format=fmt,
                    problem_area=PROBLEM_AREA_LEVELS[(i // 2) % 4],
                    therapist_id=f"t{i % 4}",
                    group_id=f"g{i % 3}" if fmt == "group" else None,
                    medication=bool(i % 3 == 0),
                    end_reason="completed" if i % 5 else "ongoing",
                )
            )
    return pd.DataFrame(rows)
