"""Descriptive computations behind the figures (no matplotlib here).

Each function takes a tidy table and returns a tidy table that a plotting function in
:mod:`ipt_analytics.plotting` draws without further arithmetic:

- :func:`observed_means` -- mean score per group and time point with a t interval;
- :func:`severity_shares` -- share of ratings in each severity band per time point;
- :func:`sample_trajectories` -- a reproducible sample of episodes to draw as lines.

``sessions`` below is the canonical long table of :class:`ipt_analytics.SessionData`
(one row per rating administration with ``episode_id``, ``session``, ``week``,
``instrument``, ``total``, ``severity`` and the grouping columns).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from ipt_analytics.errors import SchemaError
from ipt_analytics.instruments.table import INSTRUMENTS, get_instrument

__all__ = ["observed_means", "severity_shares", "sample_trajectories", "time_values"]

_TIMES = ("session", "week")


def _require_columns(
    data: pd.DataFrame,
    columns: Sequence[str],
    caller: str,
    fix: str = "pass the canonical sessions table (SessionData.sessions) or rename the columns",
    fix_type: str = "pass SessionData.sessions or another tidy table",
) -> None:
    # one wording for "wrong table" errors across the descriptive and SPC functions
    if not isinstance(data, pd.DataFrame):
        raise SchemaError(
            f"{caller}(): data must be a pandas DataFrame, got {type(data).__name__}. "
            f"Fix: {fix_type}."
        )
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise SchemaError(
            f"{caller}(): data has no column(s) {', '.join(map(repr, missing))}; available: "
            f"{', '.join(map(str, data.columns))}. Fix: {fix}."
        )


def _check_choice(caller: str, name: str, value, allowed: Sequence) -> None:
    if value not in allowed:
        raise ValueError(
            f"{caller}(): {name}={value!r} is not allowed; use one of "
            f"{', '.join(map(repr, allowed))}."
        )


def _instrument_rows(sessions: pd.DataFrame, instrument: str, caller: str) -> pd.DataFrame:
    _check_choice(caller, "instrument", instrument, list(INSTRUMENTS))
    rows = sessions.loc[(sessions["instrument"] == instrument) & sessions["total"].notna()]
    if rows.empty:
        present = sorted(pd.unique(sessions["instrument"].dropna()))
        raise SchemaError(
            f"{caller}(): no {instrument!r} totals in data; instruments present: "
            f"{', '.join(present) or 'none'}. Fix: choose an instrument that was given."
        )
    return rows


def time_values(sessions: pd.DataFrame, time: str = "session") -> pd.Series:
    """Time point of each row used to group ratings for description.

    ``session`` is used as is. ``week`` (continuous: days since the first session / 7) is
    rounded to the nearest whole week, halves rounded up, so that ratings a few days apart
    fall in the same time point.

    Parameters
    ----------
    sessions : DataFrame
        Table with a ``session`` or ``week`` column.
    time : {"session", "week"}

    Returns
    -------
    Series
        Integer time point per row (float with NaN where ``week`` is missing).

    Examples
    --------
    >>> import pandas as pd
    >>> time_values(pd.DataFrame({"week": [0.0, 0.43, 0.5, 1.49]}), "week").tolist()
    [0.0, 0.0, 1.0, 1.0]
    """
    _check_choice("time_values", "time", time, _TIMES)
    _require_columns(sessions, [time], "time_values")
    if time == "session":
        return sessions["session"]
    return np.floor(sessions["week"].astype(float) + 0.5).rename("week")


def _episode_level(rows: pd.DataFrame, time: str, by: str | None) -> pd.DataFrame:
    """One value per episode and time point (mean if an episode has several, e.g. by week)."""
    frame = pd.DataFrame(
        {
            "group": rows[by] if by is not None else "all",
            "time": time_values(rows, time),
            "episode_id": rows["episode_id"],
            "total": rows["total"].astype(float),
        }
    )
    frame = frame.loc[frame["time"].notna() & frame["group"].notna()]
    keys = ["group", "time", "episode_id"]
    return frame.groupby(keys, as_index=False, sort=True, observed=True)["total"].mean()


def observed_means(
    sessions: pd.DataFrame,
    *,
    instrument: str = "phq9",
    time: str = "session",
    by: str | None = None,
    conf_level: float = 0.95,
) -> pd.DataFrame:
    """Observed mean score per group and time point with a t confidence interval.

    Each episode contributes one value per time point (its mean if it has several ratings
    that round to the same week), so ``n`` counts episodes.

    Parameters
    ----------
    sessions : DataFrame
        Canonical sessions table (``episode_id``, ``instrument``, ``total`` and the
        ``time`` column; the ``by`` column when given).
    instrument : str, default "phq9"
        Instrument code.
    time : {"session", "week"}, default "session"
        Time axis; weeks are rounded to whole weeks (see :func:`time_values`).
    by : str, optional
        Column defining groups (e.g. ``"format"``); without it one group ``"all"``.
    conf_level : float, default 0.95
        Confidence level of the interval.

    Returns
    -------
    DataFrame
        Columns ``group, time, n, mean, std_error, conf_low, conf_high``, sorted by group
        and time. ``std_error = s / sqrt(n)`` with the sample SD ``s`` (ddof 1); the interval
        is ``mean +/- t(1 - alpha/2, n - 1) * std_error``. With ``n = 1`` the standard error
        and interval are NaN. ``.attrs`` holds ``instrument``, ``time``, ``by``,
        ``conf_level`` and ``n_episodes`` (episodes per group at any time point).

    Examples
    --------
    >>> import pandas as pd
    >>> s = pd.DataFrame({"episode_id": ["a", "b", "a", "b"], "session": [1, 1, 2, 2],
    ...                   "instrument": "phq9", "total": [10.0, 14.0, 8.0, 8.0]})
    >>> observed_means(s)[["time", "n", "mean", "conf_low"]]
       time  n  mean   conf_low
    0     1  2  12.0 -13.412409
    1     2  2   8.0   8.000000
    """
    caller = "observed_means"
    _check_choice(caller, "time", time, _TIMES)
    if not 0 < conf_level < 1:
        raise ValueError(
            f"{caller}(): conf_level={conf_level!r} must lie strictly between 0 and 1, e.g. 0.95."
        )
    needed = ["episode_id", "instrument", "total", time] + ([by] if by is not None else [])
    _require_columns(sessions, needed, caller)
    rows = _instrument_rows(sessions, instrument, caller)
    level = _episode_level(rows, time, by)

    by_time = level.groupby(["group", "time"], as_index=False, sort=True, observed=True)
    summary = by_time["total"].agg(n="count", mean="mean", sd="std")
    n = summary["n"].to_numpy(dtype=float)
    se = summary["sd"].to_numpy(dtype=float) / np.sqrt(n)
    with np.errstate(invalid="ignore"):
        tcrit = stats.t.ppf(0.5 + conf_level / 2, np.where(n > 1, n - 1, np.nan))
    mean = summary["mean"].to_numpy(dtype=float)
    out = pd.DataFrame(
        {
            "group": summary["group"],
            "time": summary["time"],
            "n": summary["n"].astype(int),
            "mean": mean,
            "std_error": se,
            "conf_low": mean - tcrit * se,
            "conf_high": mean + tcrit * se,
        }
    )
    out.attrs = {
        "instrument": instrument,
        "time": time,
        "by": by,
        "conf_level": conf_level,
        "n_episodes": level.groupby("group", sort=True, observed=True)["episode_id"]
        .nunique()
        .to_dict(),
    }
    return out


def severity_shares(
    sessions: pd.DataFrame,
    *,
    instrument: str,
    time: str = "session",
    max_time: float | None = None,
) -> pd.DataFrame:
    """Share of ratings in each severity band at each time point.

    Parameters
    ----------
    sessions : DataFrame
        Canonical sessions table (``instrument``, ``severity``, ``total`` and the ``time``
        column).
    instrument : str
        Instrument code; its bands (from :data:`ipt_analytics.instruments.table.INSTRUMENTS`)
        fix the order, least to most severe.
    time : {"session", "week"}, default "session"
    max_time : float, optional
        Drop time points beyond this one (late sessions have few clients).

    Returns
    -------
    DataFrame
        Columns ``time, severity, n, share``: one row per time point and band (every band
        appears, with ``n = 0`` when empty); ``share = n / ratings at that time`` so shares
        sum to 1 per time point. ``severity`` is an ordered categorical in band order.
        ``.attrs`` holds ``instrument`` and ``time``.

    Examples
    --------
    >>> import pandas as pd
    >>> s = pd.DataFrame({"session": [1, 1, 1, 2], "instrument": "gad7",
    ...                   "total": [16.0, 12.0, 3.0, 3.0],
    ...                   "severity": ["severe", "moderate", "minimal", "minimal"]})
    >>> out = severity_shares(s, instrument="gad7")
    >>> out.loc[out["time"] == 1, ["severity", "n", "share"]]
       severity  n     share
    0   minimal  1  0.333333
    1      mild  0  0.000000
    2  moderate  1  0.333333
    3    severe  1  0.333333
    """
    caller = "severity_shares"
    _check_choice(caller, "time", time, _TIMES)
    _require_columns(sessions, ["instrument", "total", "severity", time], caller)
    rows = _instrument_rows(sessions, instrument, caller)
    labels = get_instrument(instrument).band_labels
    rows = rows.loc[rows["severity"].notna()]
    unknown = sorted(set(rows["severity"]) - set(labels))
    if unknown:
        raise SchemaError(
            f"{caller}(): severity labels {unknown} are not {instrument} bands "
            f"({', '.join(labels)}). Fix: score the totals with ipt_analytics (read_sessions)."
        )
    times = time_values(rows, time)
    keep = times.notna()
    if max_time is not None:
        keep &= times <= max_time
    frame = pd.DataFrame(
        {
            "time": times[keep],
            "severity": pd.Categorical(rows.loc[keep, "severity"], categories=labels),
        }
    )
    counts = frame.groupby(["time", "severity"], observed=False, sort=True).size()
    out = counts.rename("n").reset_index()
    out["severity"] = pd.Categorical(out["severity"], categories=labels, ordered=True)
    out["n"] = out["n"].astype(int)
    totals = out.groupby("time", observed=True)["n"].transform("sum")
    out["share"] = out["n"] / totals
    out.attrs = {"instrument": instrument, "time": time}
    return out


def sample_trajectories(
    sessions: pd.DataFrame,
    *,
    n: int,
    seed: int | np.random.Generator,
    by: str | None = None,
) -> pd.DataFrame:
    """Rows of a reproducible random sample of episodes, to draw as individual lines.

    Episode ids are sorted before drawing, so the same data and seed give the same sample
    whatever the row order. With ``by``, up to ``n`` episodes are drawn from each group
    (groups in sorted order, one generator shared across them); a group with fewer
    episodes contributes all of them. An episode is assigned to the group of its first row.

    Parameters
    ----------
    sessions : DataFrame
        Table with an ``episode_id`` column (and the ``by`` column).
    n : int
        Episodes to draw (per group with ``by``).
    seed : int or numpy.random.Generator
        Source of randomness.
    by : str, optional
        Column defining groups.

    Returns
    -------
    DataFrame
        The rows of ``sessions`` that belong to the drawn episodes, in their original order.

    Examples
    --------
    >>> import pandas as pd
    >>> s = pd.DataFrame({"episode_id": list("aabbccdd"), "session": [1, 2] * 4})
    >>> out = sample_trajectories(s, n=2, seed=1)
    >>> out["episode_id"].nunique(), len(out)
    (2, 4)
    """
    caller = "sample_trajectories"
    _require_columns(sessions, ["episode_id"] + ([by] if by is not None else []), caller)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"{caller}(): n={n!r} must be a non-negative integer, e.g. 30.")
    if isinstance(seed, np.random.Generator):
        rng = seed
    elif isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        rng = np.random.default_rng(seed)
    else:
        raise ValueError(
            f"{caller}(): seed={seed!r} must be an int or numpy.random.Generator; "
            "pass e.g. seed=0 for a reproducible sample."
        )
    first = sessions.drop_duplicates("episode_id")
    if by is None:
        pools = [np.sort(first["episode_id"].dropna().to_numpy(dtype=object))]
    else:
        first = first.loc[first[by].notna()]
        pools = [
            np.sort(ids.to_numpy(dtype=object))
            for _, ids in first.groupby(by, sort=True, observed=True)["episode_id"]
        ]
    chosen: list = []
    for pool in pools:
        if len(pool) <= n:
            chosen.extend(pool)
        else:
            chosen.extend(rng.choice(pool, size=n, replace=False))
    return sessions.loc[sessions["episode_id"].isin(chosen)]
