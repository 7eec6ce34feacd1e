"""The model frame of a trajectory fit: domain choices -> one row per rating, model columns.

Kept apart from :mod:`ipt_analytics.models.trajectory` (which fits and reports) so the frame can be
built, inspected and written for the R parity scripts without fitting anything. The time
scales, shapes and IPT phase knots are documented in :mod:`ipt_analytics.models.trajectory`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ipt_analytics.errors import DataWarning, SchemaError

__all__ = [
    "FORMAT_LEVELS",
    "PROBLEM_AREA_LEVELS",
    "TrajectorySpec",
    "lme4_formula",
    "model_frame",
    "numeric_covariate",
    "phase_knots",
    "time_columns",
    "typical_knots",
]

#: factor levels in model order; the first is the reference level of every contrast
FORMAT_LEVELS = ("individual", "group", "telehealth", "telephone", "internet")
PROBLEM_AREA_LEVELS = ("grief", "role_dispute", "role_transition", "interpersonal_deficits")
_FACTOR_LEVELS = {"format": FORMAT_LEVELS, "problem_area": PROBLEM_AREA_LEVELS}

_SHAPES = ("linear", "log", "quadratic", "piecewise")
_TIMES = ("week", "session")
_RANDOM = ("intercept", "slope")
#: "therapist_slope": therapist random intercept and slope on the same time term as the
#: episode's, correlated (lme4: ``(time | therapist_id)``)
_NEST = {"therapist": "therapist_id", "therapist_slope": "therapist_id", "group": "group_id"}
#: variance-component labels of the nesting factors in fitted models and summaries
_VC_LABEL = {"therapist": "therapist", "therapist_slope": "therapist", "group": "therapy_group"}
#: IPT phase defaults (Swartz, UpToDate 14680: initial up to 3 sessions, termination 2-4)
DEFAULT_PHASES = {"initial": 3, "termination": 3}
_PHASE_TERMS = ("initial", "middle", "termination")


@dataclass(frozen=True)
class TrajectorySpec:
    """Everything needed to rebuild the model frame and the reference grids of a fit."""

    instrument: str
    time: str
    shape: str
    by: tuple[str, ...]
    covariates: tuple[str, ...]
    random: str
    nest: tuple[str, ...]
    reml: bool
    phases: dict | None
    time_terms: tuple[str, ...]
    formula: str
    re_formula: str
    levels: dict = field(default_factory=dict)
    centres: dict = field(default_factory=dict)


def _err(arg, value, allowed, fix=""):
    tail = f" {fix}" if fix else ""
    return ValueError(f"fit_trajectory(): {arg}={value!r} is not allowed; use {allowed}.{tail}")


def _as_tuple(value, arg, allowed):
    if value is None:
        return ()
    items = (value,) if isinstance(value, str) else tuple(value)
    for item in items:
        if item not in allowed:
            raise _err(arg, item, f"one or more of {list(allowed)}")
    return tuple(dict.fromkeys(items))


def phase_knots(last_session, *, initial=3, termination=3):
    """Knots of the IPT piecewise model, in completed sessions.

    A rating is completed before its session, so the rating before session ``s`` reflects
    ``s - 1`` completed sessions. The initial phase (sessions ``1..initial``) is complete at
    ``k1 = initial`` completed sessions; termination (the final ``termination`` sessions of a
    course of ``last_session`` sessions) starts at ``k2 = last_session - termination``
    completed sessions. When the course is too short for a middle phase, ``k2 = k1``.

    Parameters
    ----------
    last_session : float or array_like
        The episode's last session: ``planned_sessions`` when given, else the last session
        observed (for an ongoing episode that is a stand-in for the unknown end).
    initial, termination : int
        Phase lengths in sessions.

    Returns
    -------
    tuple of numpy.ndarray
        ``(k1, k2)``.

    Examples
    --------
    >>> k1, k2 = phase_knots(16)
    >>> float(k1), float(k2)
    (3.0, 13.0)
    >>> [float(k) for k in phase_knots(5)[1:]]
    [3.0]
    """
    last = np.asarray(last_session, dtype=float)
    k1 = np.full(last.shape, float(initial))
    k2 = np.maximum(last - float(termination), k1)
    return k1, k2


def time_columns(t, *, shape, k1=None, k2=None) -> dict:
    """Numeric time terms of a shape at times ``t`` (same units as ``t``).

    Piecewise terms are the time spent in each phase up to ``t``: ``initial = min(t, k1)``,
    ``middle = clip(t - k1, 0, k2 - k1)``, ``termination = max(t - k2, 0)``; their
    coefficients are the rates of change per unit of time within each phase.

    Examples
    --------
    >>> cols = time_columns([0.0, 2.0, 8.0, 15.0], shape="piecewise", k1=3.0, k2=13.0)
    >>> [cols[k].tolist() for k in ("initial", "middle", "termination")]
    [[0.0, 2.0, 3.0, 3.0], [0.0, 0.0, 5.0, 10.0], [0.0, 0.0, 0.0, 2.0]]
    """
    t = np.asarray(t, dtype=float)
    if shape == "linear":
        return {"time": t}
    if shape == "log":
        return {"log_time": np.log1p(t)}
    if shape == "quadratic":
        return {"time": t, "time2": t**2}
    if shape == "piecewise":
        k1 = np.broadcast_to(np.asarray(k1, dtype=float), t.shape)
        k2 = np.broadcast_to(np.asarray(k2, dtype=float), t.shape)
        return {
            "initial": np.minimum(t, k1),
            "middle": np.clip(t - k1, 0.0, k2 - k1),
            "termination": np.maximum(t - k2, 0.0),
        }
    raise _err("shape", shape, f"one of {list(_SHAPES)}")


_TIME_TERMS = {
    "linear": ("time",),
    "log": ("log_time",),
    "quadratic": ("time", "time2"),
    "piecewise": _PHASE_TERMS,
}


def _long_table(data, instrument) -> pd.DataFrame:
    table = getattr(data, "sessions", data)
    if not isinstance(table, pd.DataFrame):
        raise TypeError(
            "fit_trajectory(): data must be a SessionData or its canonical long DataFrame "
            f"(got {type(data).__name__}); read files with ipt_analytics.read_sessions()."
        )
    need = ["episode_id", "session", "instrument", "total"]
    missing = [c for c in need if c not in table.columns]
    if missing:
        raise SchemaError(
            f"fit_trajectory(): data lacks required column(s) {missing}; pass the canonical "
            "long table (SessionData.sessions)."
        )
    rows = table[table["instrument"] == instrument]
    if rows.empty:
        found = sorted(pd.unique(table["instrument"].dropna()).tolist())
        raise ValueError(
            f"fit_trajectory(): instrument={instrument!r} has no rows; instruments in the data: "
            f"{found}."
        )
    return rows.copy()


def numeric_covariate(values: pd.Series, name: str) -> np.ndarray:
    """A covariate column as floats: booleans (also nullable ones) become 0/1, NA -> NaN."""
    is_bool = pd.api.types.is_bool_dtype(values.dtype) or (
        values.dtype == object
        and values.dropna().map(lambda v: isinstance(v, (bool, np.bool_))).all()
        and values.notna().any()
    )
    if is_bool:
        return pd.array(values, dtype="boolean").astype("Float64").to_numpy(float, na_value=np.nan)
    try:
        return pd.to_numeric(values, errors="raise").to_numpy(float, na_value=np.nan)
    except (TypeError, ValueError) as exc:
        raise SchemaError(
            f"fit_trajectory(): covariate {name!r} must be numeric or boolean (got values such "
            f"as {values.dropna().head(3).tolist()})."
        ) from exc


def _session_to_time(rows: pd.DataFrame, knots_sessions: np.ndarray, time: str) -> np.ndarray:
    """Convert knots in completed sessions to the time scale of each row's episode."""
    if time == "session":
        return knots_sessions
    # week scale: interpolate the episode's week at the knot session; beyond the observed
    # sessions assume one session per week
    out = np.empty(len(rows))
    pos = 0
    for _, ep in rows.groupby("episode_id", sort=False, observed=True):
        s = ep["session"].to_numpy(float) - 1.0
        w = ep["week"].to_numpy(float)
        k = knots_sessions[pos : pos + len(ep)]
        val = np.interp(k, s, w)
        val = np.where(k > s[-1], w[-1] + (k - s[-1]), val)
        out[pos : pos + len(ep)] = val
        pos += len(ep)
    return out


def model_frame(data, **options) -> tuple[pd.DataFrame, TrajectorySpec]:
    """Build the model frame and the model specification of :func:`fit_trajectory`.

    Takes the same arguments as :func:`fit_trajectory` (except that nothing is fitted) and
    returns ``(frame, spec)``; ``frame`` is exactly the table the engine receives and the one
    ``tests/reference/sample_phq9_long.csv`` hands to R.

    Examples
    --------
    >>> long = pd.DataFrame({
    ...     "episode_id": ["e1"] * 3 + ["e2"] * 3, "session": [1, 2, 3] * 2,
    ...     "week": [0.0, 1.0, 2.0] * 2, "instrument": "phq9",
    ...     "total": [18.0, 15, 11, 20, 19, 17], "format": ["individual"] * 3 + ["group"] * 3})
    >>> frame, spec = model_frame(long, by="format")
    >>> spec.formula
    'total ~ time * format'
    >>> list(frame["format"].cat.categories)
    ['individual', 'group']
    """
    opts = dict(
        instrument="phq9",
        time="week",
        shape="linear",
        by=None,
        covariates=(),
        random="slope",
        nest=None,
        reml=True,
        phases=None,
    )
    unknown = set(options) - set(opts)
    if unknown:
        raise TypeError(f"fit_trajectory(): unexpected argument(s) {sorted(unknown)}")
    opts.update(options)
    time, shape, random = opts["time"], opts["shape"], opts["random"]
    if time not in _TIMES:
        raise _err("time", time, f"one of {list(_TIMES)}")
    if shape not in _SHAPES:
        raise _err("shape", shape, f"one of {list(_SHAPES)}")
    if random not in _RANDOM:
        raise _err("random", random, f"one of {list(_RANDOM)}")
    by = _as_tuple(opts["by"], "by", tuple(_FACTOR_LEVELS))
    nest = _as_tuple(opts["nest"], "nest", tuple(_NEST))
    if "therapist" in nest and "therapist_slope" in nest:
        raise _err("nest", opts["nest"], "'therapist' or 'therapist_slope', not both",
                   "'therapist_slope' includes the therapist random intercept.")  # fmt: skip
    covariates = tuple(
        dict.fromkeys(
            (opts["covariates"],)
            if isinstance(opts["covariates"], str)
            else tuple(opts["covariates"])
        )
    )
    phases = None
    if shape == "piecewise":
        phases = dict(DEFAULT_PHASES)
        for key, value in (opts["phases"] or {}).items():
            if key not in DEFAULT_PHASES:
                raise _err("phases", {key: value}, f"keys {list(DEFAULT_PHASES)}")
            if int(value) != value or value < 1:
                raise _err("phases", {key: value}, "positive whole numbers of sessions")
            phases[key] = int(value)
    elif opts["phases"]:
        raise _err("phases", opts["phases"], "None unless shape='piecewise'")

    rows = _long_table(data, opts["instrument"])
    rows = rows[rows["total"].notna()]
    rows = rows.sort_values(["episode_id", "session"], kind="stable").reset_index(drop=True)
    if time == "week" and "week" not in rows.columns:
        raise SchemaError(
            "fit_trajectory(): time='week' needs a 'week' column; use time='session'."
        )
    frame = pd.DataFrame(
        {
            "episode_id": rows["episode_id"].astype(str).to_numpy(),
            "session": rows["session"].to_numpy(int),
            "total": rows["total"].to_numpy(float),
        }
    )
    if "client_id" in rows.columns:
        frame.insert(0, "client_id", rows["client_id"].astype(str).to_numpy())
    frame["week"] = (
        rows["week"].to_numpy(float) if "week" in rows.columns else frame["session"] - 1.0
    )
    t = frame["week"].to_numpy(float) if time == "week" else frame["session"].to_numpy(float) - 1
    frame["time"] = t
    if shape == "piecewise":
        by_episode = frame.groupby("episode_id", sort=False, observed=True)
        last = by_episode["session"].transform("max").to_numpy(float)
        if "planned_sessions" in rows.columns:
            planned = rows["planned_sessions"].to_numpy(float)
            last = np.where(np.isfinite(planned), planned, last)
        k1, k2 = phase_knots(last, **phases)
        frame["knot_initial"] = _session_to_time(frame, k1, time)
        frame["knot_termination"] = _session_to_time(frame, k2, time)
        cols = time_columns(t, shape=shape, k1=frame["knot_initial"], k2=frame["knot_termination"])
    else:
        cols = time_columns(t, shape=shape)
    for name, values in cols.items():
        frame[name] = values
    time_terms = _TIME_TERMS[shape]

    levels = {}
    for factor in by:
        if factor not in rows.columns:
            raise SchemaError(f"fit_trajectory(): by={factor!r} needs a {factor!r} column.")
        values = rows[factor].astype("str").where(rows[factor].notna())
        bad = sorted(set(values.dropna()) - set(_FACTOR_LEVELS[factor]))
        if bad:
            raise SchemaError(
                f"fit_trajectory(): column {factor!r} has values {bad} outside "
                f"{list(_FACTOR_LEVELS[factor])}; read the data with read_sessions()."
            )
        present = [lv for lv in _FACTOR_LEVELS[factor] if lv in set(values.dropna())]
        if len(present) < 2:
            raise ValueError(
                f"fit_trajectory(): by={factor!r} has fewer than two levels in the data "
                f"({present}); drop it from by."
            )
        levels[factor] = tuple(present)
        frame[factor] = pd.Categorical(values.to_numpy(object), categories=present)

    # every column is taken from `rows` (same order as `frame`) before any row is dropped
    centres = {}
    drop = np.zeros(len(frame), dtype=bool)
    for cov in covariates:
        if cov == "baseline":
            by_ep = frame.groupby("episode_id", sort=False, observed=True)
            frame["baseline_raw"] = by_ep["total"].transform("first").to_numpy(float)
            # the baseline score becomes a covariate, so it is no longer an outcome
            drop |= frame["session"].eq(by_ep["session"].transform("min")).to_numpy()
            continue
        if cov not in rows.columns:
            raise SchemaError(f"fit_trajectory(): covariate {cov!r} is not a column of data.")
        frame[cov] = numeric_covariate(rows[cov], cov)

    for key in nest:
        col = _NEST[key]
        if col not in rows.columns:
            raise SchemaError(f"fit_trajectory(): nest={key!r} needs a {col!r} column.")
        ids = rows[col].astype("str").where(rows[col].notna())
        if key == "group":
            # partial nesting: only rows delivered in a group share a group effect; the
            # engine gives rows without a group_id no group effect (lme4: 0 + in_group | ...)
            frame["group_id"] = ids.to_numpy(object)
            frame["in_group"] = ids.notna().to_numpy(float)
            if frame["in_group"].sum() == 0:
                raise ValueError("fit_trajectory(): nest='group' but no row has a group_id.")
        else:
            if ids.isna().any():
                raise SchemaError(
                    f"fit_trajectory(): nest={key!r} but {int(ids.isna().sum())} rows have no "
                    f"{col}; fill it or drop {key!r} from nest."
                )
            frame[col] = ids.to_numpy(object)

    needed = list(by) + [("baseline_raw" if c == "baseline" else c) for c in covariates]
    incomplete = frame[needed].isna().any(axis=1).to_numpy() if needed else drop & False
    if incomplete.any():
        warnings.warn(
            f"fit_trajectory(): {int(incomplete.sum())} of {len(frame)} rows dropped because "
            f"one of {needed} is missing.",
            DataWarning,
            stacklevel=3,
        )
    frame = frame[~(drop | incomplete)].reset_index(drop=True)
    if frame.empty:
        raise ValueError("fit_trajectory(): no rows left to fit.")
    for cov in covariates:
        if cov == "baseline":
            # centred at the mean over episodes, so the intercept is an average client's
            centre = float(frame.drop_duplicates("episode_id")["baseline_raw"].mean())
            frame["baseline"] = frame["baseline_raw"] - centre
            centres["baseline"] = centre

    tpart = " + ".join(time_terms)
    tpart = f"({tpart})" if len(time_terms) > 1 else tpart
    rhs = tpart
    if by:
        bpart = " + ".join(by)
        rhs = f"{tpart} * {f'({bpart})' if len(by) > 1 else bpart}"
    if covariates:
        rhs += " + " + " + ".join(covariates)
    formula = f"total ~ {rhs}"
    slope_term = "log_time" if shape == "log" else "time"
    re_formula = "1" if random == "intercept" else slope_term
    spec = TrajectorySpec(
        instrument=opts["instrument"],
        time=time,
        shape=shape,
        by=by,
        covariates=covariates,
        random=random,
        nest=nest,
        reml=bool(opts["reml"]),
        phases=phases,
        time_terms=time_terms,
        formula=formula,
        re_formula=re_formula,
        levels=levels,
        centres=centres,
    )
    return frame, spec


def lme4_formula(spec: TrajectorySpec) -> str:
    """The model in lme4 notation (what tests/reference/sample_trajectory.R fits)."""
    re = "1" if spec.re_formula == "1" else spec.re_formula
    parts = [spec.formula, f"({re} | episode_id)"]
    if "therapist" in spec.nest:
        parts.append("(1 | therapist_id)")
    if "therapist_slope" in spec.nest:
        slope = "log_time" if spec.shape == "log" else "time"
        parts.append(f"({slope} | therapist_id)")
    if "group" in spec.nest:
        parts.append("(0 + in_group | group_id)")
    return " + ".join(parts)


def typical_knots(frame: pd.DataFrame) -> tuple[float, float]:
    """Median episode knots (time units), used by reference grids of a piecewise fit."""
    ep = frame.drop_duplicates("episode_id")
    return float(ep["knot_initial"].median()), float(ep["knot_termination"].median())
