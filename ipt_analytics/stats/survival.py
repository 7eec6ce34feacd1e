"""Kaplan-Meier time to response / remission by group, with the log-rank test.

Built on ``statsmodels.duration.survfunc.SurvfuncRight`` (product-limit estimate, Greenwood
standard errors) and ``survdiff`` (log-rank test). statsmodels is already a dependency of
the toolkit; lifelines or scikit-survival would add a dependency for two functions, so they
are not used.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from statsmodels.duration.survfunc import SurvfuncRight, survdiff

from ipt_analytics.errors import SchemaError
from ipt_analytics.stats.intervals import z_value

__all__ = ["KaplanMeier", "kaplan_meier"]

_CURVE_COLUMNS = ["group", "time", "n_risk", "n_events", "n_censored", "survival",
                  "std_error", "conf_low", "conf_high"]  # fmt: skip


class KaplanMeier:
    """Result of :func:`kaplan_meier`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per group and distinct event time: ``group, time, n_risk, n_events,
        n_censored, survival, std_error, conf_low, conf_high``. A row at time 0 (survival 1)
        starts each curve.
    logrank : pandas.DataFrame
        ``test, statistic, df, p_value, n`` (empty without groups).
    meta : dict
    """

    def __init__(self, table, logrank, meta):
        self.table = table
        self.logrank = logrank
        self.meta = meta

    def at_risk(self, times) -> pd.DataFrame:
        """Numbers at risk per group at the given times (for a table under a plot).

        The number at risk at t is the number of episodes with time >= t (R ``survfit``'s
        ``n.risk``). This is the toolkit's only at-risk computation; figures draw it.

        Examples
        --------
        >>> o = pd.DataFrame({"t": [1, 2, 2, 3, 4.0], "e": [True, True, False, True, False]})
        >>> kaplan_meier(o, time="t", event="e").at_risk([0, 2, 5])["n_risk"].tolist()
        [5, 4, 0]
        """
        rows = []
        for g, t_obs in self.meta["times"].items():
            for t in times:
                rows.append({"group": g, "time": float(t), "n_risk": int(np.sum(t_obs >= t))})
        return pd.DataFrame(rows, columns=["group", "time", "n_risk"])

    def curve_end(self, min_at_risk: int = 10) -> dict:
        """Per group, the last time at which at least ``min_at_risk`` episodes are at risk
        (the ``min_at_risk``-th largest observed time); None when the group is smaller.

        Examples
        --------
        >>> o = pd.DataFrame({"t": [1, 2, 2, 3, 4.0], "e": [True, True, False, True, False]})
        >>> kaplan_meier(o, time="t", event="e").curve_end(2)
        {'all': 3.0}
        """
        if int(min_at_risk) < 1:
            raise ValueError(f"min_at_risk={min_at_risk!r} must be a whole number >= 1.")
        out = {}
        for g, t_obs in self.meta["times"].items():
            t = np.sort(np.asarray(t_obs, dtype=float))[::-1]
            out[g] = float(t[int(min_at_risk) - 1]) if t.size >= int(min_at_risk) else None
        return out

    def curves(self, min_at_risk: int = 10) -> pd.DataFrame:
        """The curve table cut where fewer than ``min_at_risk`` episodes remain at risk.

        Rows after :meth:`curve_end` are dropped and a closing row (no events, survival
        carried forward) is added at the end time, so a step plot stops there. Groups with
        fewer than ``min_at_risk`` episodes have no rows; ``attrs["not_drawn"]`` lists them
        and ``attrs["min_at_risk"]`` records the threshold.

        Examples
        --------
        >>> o = pd.DataFrame({"t": [1, 2, 2, 3, 4.0], "e": [True, True, False, True, False]})
        >>> kaplan_meier(o, time="t", event="e").curves(2)[["time", "survival"]].values.tolist()
        [[0.0, 1.0], [1.0, 0.8], [2.0, 0.6], [3.0, 0.3]]
        """
        ends = self.curve_end(min_at_risk)
        parts = []
        for g, end in ends.items():
            if end is None:
                continue
            part = self.table[(self.table["group"] == g) & (self.table["time"] <= end)]
            if part["time"].iloc[-1] < end:
                last = part.iloc[[-1]].assign(time=end, n_risk=pd.NA, n_events=0, n_censored=0)
                part = pd.concat([part, last])
            parts.append(part)
        out = (
            pd.concat(parts, ignore_index=True)
            if parts
            else self.table.iloc[:0].reset_index(drop=True)
        )
        out.attrs = {
            "min_at_risk": int(min_at_risk),
            "not_drawn": [g for g, end in ends.items() if end is None],
        }
        return out

    def summary(self, decimals: int = 3) -> str:
        text = self.table.round(decimals).to_string(index=False)
        if not self.logrank.empty:
            text += "\n\nLog-rank:\n" + self.logrank.round(decimals).to_string(index=False)
        return text

    def __repr__(self) -> str:
        return f"<KaplanMeier: {self.meta['time']} / {self.meta['event']}, n={self.meta['n']}>"

    def _repr_html_(self) -> str:
        html = self.table.round(3).to_html(index=False, na_rep="")
        if not self.logrank.empty:
            html += "<p>Log-rank</p>" + self.logrank.round(3).to_html(index=False, na_rep="")
        return html

    def plot(self, ax=None, *, min_at_risk: int = 10, at_risk_times=None):
        """Curves with confidence bands, stopped where fewer than ``min_at_risk`` remain at
        risk, and a numbers-at-risk table; returns the matplotlib Axes.

        Drawn by :func:`ipt_analytics.plotting.plot_km_result`.
        """
        from ipt_analytics.plotting.survival import plot_km_result

        return plot_km_result(self, ax=ax, min_at_risk=min_at_risk, at_risk_times=at_risk_times)


def kaplan_meier(
    outcomes: pd.DataFrame,
    *,
    time: str = "time_to_response",
    event: str = "response_event",
    by: str | None = None,
    conf_level: float = 0.95,
    conf_type: str = "log",
) -> KaplanMeier:
    """Kaplan-Meier estimates by group and the log-rank test.

    Parameters
    ----------
    outcomes : pandas.DataFrame
        One row per episode (e.g. :func:`ipt_analytics.episode_outcomes`); rows with
        a missing time or event are left out.
    time, event : str
        Duration column and event column (True = event, False = censored).
    by : str, optional
        Grouping column; with it the log-rank test (Mantel 1966; ``survdiff``) is computed.
    conf_level : float
    conf_type : {"log", "log-log", "plain"}
        Pointwise interval from the Greenwood SE: "log" (R ``survfit`` default):
        S exp(+-z SE/S); "log-log": S^exp(+-z SE/(S log S)); "plain": S +- z SE. Clipped
        to [0, 1].

    Returns
    -------
    KaplanMeier

    Examples
    --------
    >>> o = pd.DataFrame({"t": [1, 2, 2, 3, 4.0], "e": [True, True, False, True, False]})
    >>> km = kaplan_meier(o, time="t", event="e")
    >>> km.table["survival"].tolist()
    [1.0, 0.8, 0.6, 0.3]
    """
    if conf_type not in ("log", "log-log", "plain"):
        raise ValueError(
            f"kaplan_meier(): conf_type={conf_type!r}; use 'log', 'log-log' or 'plain'."
        )
    cols = [time, event] + ([by] if by else [])
    for c in cols:
        if c not in outcomes.columns:
            raise SchemaError(f"kaplan_meier(): column {c!r} is not in the outcomes table.")
    d = outcomes[cols].dropna()
    if d.empty:
        raise SchemaError("kaplan_meier(): no episode has both a time and an event value.")
    z = z_value(conf_level)
    groups = sorted(d[by].unique().tolist(), key=str) if by else ["all"]
    rows, times = [], {}
    for g in groups:
        part = d[d[by] == g] if by else d
        times[g] = part[time].to_numpy(dtype=float)
        rows += _curve_rows(g, times[g], part[event].astype(bool).to_numpy(dtype=int), z,
                            conf_type)  # fmt: skip
    table = pd.DataFrame(rows, columns=_CURVE_COLUMNS)
    logrank = pd.DataFrame(columns=["test", "statistic", "df", "p_value", "n"])
    if by and len(groups) > 1:
        logrank = _logrank(d, time, event, by, groups)
    meta = {"time": time, "event": event, "by": by, "n": int(len(d)), "conf_level": conf_level,
            "conf_type": conf_type, "times": times}  # fmt: skip
    return KaplanMeier(table, logrank, meta)


def _curve_rows(g, t, e, z, conf_type) -> list:
    """Rows of one group's curve: the origin (S = 1), then every event time."""
    rows = [{"group": g, "time": 0.0, "n_risk": len(t), "n_events": 0, "n_censored": 0,
             "survival": 1.0, "std_error": 0.0, "conf_low": 1.0, "conf_high": 1.0}]  # fmt: skip
    if e.sum() == 0:
        return rows
    sf = SurvfuncRight(t, e)
    s, se = np.asarray(sf.surv_prob), np.asarray(sf.surv_prob_se)
    lo, hi = _interval(s, se, z, conf_type)
    for k, tk in enumerate(sf.surv_times):
        cens = int(np.sum((t == tk) & (e == 0)))
        rows.append({"group": g, "time": float(tk), "n_risk": int(sf.n_risk[k]),
                     "n_events": int(sf.n_events[k]), "n_censored": cens,
                     "survival": float(s[k]), "std_error": float(se[k]),
                     "conf_low": float(lo[k]), "conf_high": float(hi[k])})  # fmt: skip
    return rows


def _logrank(d, time, event, by, groups) -> pd.DataFrame:
    """Log-rank test (Mantel 1966) of all groups, k - 1 df."""
    gcode = d[by].map({g: i for i, g in enumerate(groups)}).to_numpy()
    chi2, p = survdiff(d[time].to_numpy(dtype=float), d[event].astype(bool).to_numpy(dtype=int),
                       gcode)  # fmt: skip
    return pd.DataFrame([{"test": "log_rank", "statistic": float(chi2),
                          "df": float(len(groups) - 1), "p_value": float(p),
                          "n": int(len(d))}])  # fmt: skip


def _interval(s, se, z, conf_type):
    with np.errstate(divide="ignore", invalid="ignore"):
        if conf_type == "plain":
            lo, hi = s - z * se, s + z * se
        elif conf_type == "log":
            lo, hi = s * np.exp(-z * se / s), s * np.exp(z * se / s)
        else:
            w = z * se / (s * np.log(s))
            lo, hi = s ** np.exp(-w), s ** np.exp(w)
    lo = np.where(s > 0, lo, 0.0)
    hi = np.where(s > 0, hi, 0.0)
    return np.clip(np.nan_to_num(lo, nan=1.0), 0, 1), np.clip(np.nan_to_num(hi, nan=1.0), 0, 1)
