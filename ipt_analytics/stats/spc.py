"""Statistical process control: run charts and p-charts with Anhoej's run rules.

The computations follow qicharts2 0.8.1 (Anhoej J, github.com/anhoej/qicharts2, commit
1b9487e; re-implemented from the rules below, not copied):

- **Runs analysis** (qicharts2 ``R/helper.functions.R`` l.1-40, ``crsignal`` l.96-100): among
  the included points of a part, points exactly on the centre line and missing values are
  dropped; with ``n`` useful points left, the *longest run* on one side of the centre line
  signals when it is longer than ``round(log2(n)) + 3`` (Schilling 2012), and the *number of
  crossings* (runs - 1) signals when it is smaller than the 5% quantile of Binomial(n - 1,
  0.5) (Chen 2010). Both are "unusually long runs / too few crossings": a shift.
- **Parts (phases)**: each part has its own centre line, limits and runs analysis.
- **Frozen baseline**: the centre line and limits come from the points up to ``freeze``;
  the runs analysis covers every included point of the part against that centre line.
- **Excluded points** leave the centre line, limits and runs analysis but are still drawn
  and still flagged when outside the limits.
- **Incomplete points** (this toolkit's addition, e.g. the first months of an extract, when
  episodes begun before the extract are missing) are handled like excluded points and are
  never flagged: their rate is not comparable.

p-chart limits: centre = sum(events) / sum(n) over the baseline points of the part; limits
centre +/- sigma * sqrt(centre (1 - centre) / n_i), clipped to [0, 1] (Montgomery 2009 ch. 7;
qicharts2 ``qic.p``). Run chart: centre = median of the baseline points (no limits).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from ipt_analytics.errors import SchemaError
from ipt_analytics.stats.describe import _require_columns

__all__ = ["SPC_COLUMNS", "anhoej_rules", "p_chart", "run_chart", "spc_summary"]

#: Columns of :func:`p_chart` and :func:`run_chart` (run charts have NaN limits).
SPC_COLUMNS = [
    "period", "events", "n", "rate", "part", "baseline", "include", "incomplete", "centre",
    "lcl", "ucl", "out_of_control", "in_long_run", "n_obs", "n_useful", "longest_run",
    "longest_run_max", "n_crossings", "n_crossings_min", "runs_signal", "signal",
]  # fmt: skip


def anhoej_rules(y, centre) -> dict:
    """Anhoej's runs analysis of values around a centre line.

    Parameters
    ----------
    y : array_like of float
        Values of the included points, in time order.
    centre : float or array_like of float
        Centre line (one value or one per point).

    Returns
    -------
    dict
        ``n_obs, n_useful, longest_run, longest_run_max, n_crossings, n_crossings_min,
        runs_signal`` and ``long_run`` (boolean mask over ``y`` of the points in a run longer
        than the maximum). Run statistics are None when no point is useful.

    Examples
    --------
    >>> r = anhoej_rules([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], 6.5)
    >>> r["longest_run"], r["longest_run_max"], r["n_crossings"], r["n_crossings_min"]
    (6, 7, 1, 3)
    >>> r["runs_signal"]
    True
    """
    y = np.asarray(y, dtype=float)
    side = np.sign(y - np.broadcast_to(np.asarray(centre, dtype=float), y.shape))
    useful = ~np.isnan(side) & (side != 0)
    s = side[useful]
    n = int(s.size)
    out = {"n_obs": int(y.size), "n_useful": n, "long_run": np.zeros(y.size, dtype=bool)}
    if n == 0:
        out.update(longest_run=None, longest_run_max=None, n_crossings=None,
                   n_crossings_min=None, runs_signal=False)  # fmt: skip
        return out
    starts = np.r_[0, np.flatnonzero(s[1:] != s[:-1]) + 1]
    lengths = np.diff(np.r_[starts, n])
    longest = int(lengths.max())
    longest_max = int(round(np.log2(n))) + 3
    crossings = int(lengths.size - 1)
    crossings_min = int(stats.binom.ppf(0.05, n - 1, 0.5)) if n > 1 else 0
    # points (in y's positions) belonging to a run longer than the maximum
    pos = np.flatnonzero(useful)
    for a, length in zip(starts, lengths, strict=True):
        if length > longest_max:
            out["long_run"][pos[a : a + length]] = True
    out.update(
        longest_run=longest,
        longest_run_max=longest_max,
        n_crossings=crossings,
        n_crossings_min=crossings_min,
        runs_signal=bool(longest > longest_max or crossings < crossings_min),
    )
    return out


def _positions(arg, k: int, name: str, caller: str, data: pd.DataFrame) -> np.ndarray:
    """Boolean mask from None, a column name (boolean) or 1-based positions."""
    mask = np.zeros(k, dtype=bool)
    if arg is None:
        return mask
    if isinstance(arg, str):
        if arg not in data.columns:
            raise SchemaError(
                f"{caller}(): {name}={arg!r} is not a column of the data; columns: "
                f"{', '.join(map(str, data.columns))}. Fix: pass a boolean column or 1-based "
                "positions."
            )
        return pd.array(data[arg], dtype="boolean").fillna(False).to_numpy(dtype=bool)
    pos = np.asarray(list(arg), dtype=int)
    if pos.size and (pos.min() < 1 or pos.max() > k):
        raise ValueError(
            f"{caller}(): {name}={list(arg)!r} must be 1-based positions between 1 and {k}."
        )
    mask[pos - 1] = True
    return mask


def _parts(part, k: int, caller: str, data: pd.DataFrame) -> np.ndarray:
    if part is None:
        return np.ones(k, dtype=int)
    if isinstance(part, str):
        if part not in data.columns:
            raise SchemaError(
                f"{caller}(): part={part!r} is not a column of the data. Fix: pass a column of "
                "phase labels or the 1-based positions of the last point of each phase."
            )
        labels = data[part].to_numpy()
        change = np.r_[False, labels[1:] != labels[:-1]]
        return np.cumsum(change) + 1
    ends = sorted(int(p) for p in part)
    if not ends or ends[0] < 1 or ends[-1] >= k:
        raise ValueError(
            f"{caller}(): part={list(part)!r} must be positions 1..{k - 1} of the last point "
            "before each new phase (as qicharts2's part)."
        )
    idx = np.arange(1, k + 1)
    return 1 + np.searchsorted(np.asarray(ends), idx, side="left")


def _chart(data, period, y, events, n, caller, *, kind, sigma, freeze, part, exclude,
           incomplete) -> pd.DataFrame:  # fmt: skip
    k = len(y)
    parts = _parts(part, k, caller, data)
    excluded = _positions(exclude, k, "exclude", caller, data)
    incompl = _positions(incomplete, k, "incomplete", caller, data)
    include = ~excluded & ~incompl
    baseline = np.ones(k, dtype=bool)
    if freeze is not None:
        if not 1 <= int(freeze) <= k:
            raise ValueError(f"{caller}(): freeze={freeze!r} must be a position 1..{k}.")
        # the freeze applies within the part that holds it; later parts use all their points
        fpart = parts[int(freeze) - 1]
        baseline = (parts != fpart) | (np.arange(1, k + 1) <= int(freeze))
    centre, lcl, ucl = np.full(k, np.nan), np.full(k, np.nan), np.full(k, np.nan)
    cols = {c: np.full(k, None, dtype=object) for c in ("n_obs", "n_useful", "longest_run",
            "longest_run_max", "n_crossings", "n_crossings_min")}  # fmt: skip
    runs_signal = np.zeros(k, dtype=bool)
    long_run = np.zeros(k, dtype=bool)
    few_crossings = np.zeros(k, dtype=bool)
    for p in np.unique(parts):
        in_p = parts == p
        base = in_p & baseline & include & ~np.isnan(y)
        if not base.any():
            raise ValueError(
                f"{caller}(): phase {p} has no baseline point that is included. Fix: check "
                "freeze, exclude and incomplete."
            )
        if kind == "p":
            cl = events[base].sum() / n[base].sum()
            half = sigma * np.sqrt(cl * (1 - cl) / n[in_p])
            lcl[in_p] = np.clip(cl - half, 0.0, 1.0)
            ucl[in_p] = np.clip(cl + half, 0.0, 1.0)
        else:
            cl = float(np.median(y[base]))
        centre[in_p] = cl
        use = in_p & include
        r = anhoej_rules(y[use], cl)
        for c in cols:
            cols[c][in_p] = r[c]
        runs_signal[in_p] = r["runs_signal"]
        long_run[np.flatnonzero(use)[r["long_run"]]] = True
        if r["n_crossings"] is not None and r["n_crossings"] < r["n_crossings_min"]:
            few_crossings[use] = True
    above = np.nan_to_num(y, nan=-np.inf) > np.nan_to_num(ucl, nan=np.inf)
    below = np.nan_to_num(y, nan=np.inf) < np.nan_to_num(lcl, nan=-np.inf)
    ooc = (above | below) & ~incompl
    signal = []
    for i in range(k):
        words = []
        if ooc[i]:
            words.append("above upper limit" if above[i] else "below lower limit")
        if long_run[i]:
            words.append(f"long run (> {cols['longest_run_max'][i]} points one side)")
        if few_crossings[i]:
            words.append(
                f"too few crossings ({cols['n_crossings'][i]} < {cols['n_crossings_min'][i]})"
            )
        signal.append("; ".join(words) if words else ("incomplete" if incompl[i] else ""))
    out = pd.DataFrame(
        {
            "period": data[period].to_numpy(),
            "events": events,
            "n": n,
            "rate": y,
            "part": parts,
            "baseline": baseline & include,
            "include": include,
            "incomplete": incompl,
            "centre": centre,
            "lcl": lcl,
            "ucl": ucl,
            "out_of_control": ooc,
            "in_long_run": long_run,
        }
    )
    for c in cols:
        out[c] = pd.array(cols[c], dtype="Int64")
    out["runs_signal"] = runs_signal
    out["signal"] = signal
    out.attrs = {"sigma": sigma if kind == "p" else None, "chart": kind, "freeze": freeze,
                 "source": "Anhoej rules as qicharts2 0.8.1 (runs.analysis, crsignal)"}  # fmt: skip
    return out[SPC_COLUMNS]


def p_chart(
    counts: pd.DataFrame,
    *,
    period: str,
    events: str,
    n: str,
    sigma: float = 3,
    freeze: int | None = None,
    part: Sequence[int] | str | None = None,
    exclude: Sequence[int] | str | None = None,
    incomplete: Sequence[int] | str | None = None,
) -> pd.DataFrame:
    """Proportion control chart (p-chart) with Anhoej's run rules.

    Parameters
    ----------
    counts : DataFrame
        One row per period, in time order.
    period, events, n : str
        Columns of the period label, the number of events (e.g. dropouts) and the number
        of opportunities (e.g. episodes ending) per period.
    sigma : float, default 3
        Width of the limits in standard errors.
    freeze : int, optional
        1-based position of the last baseline point: centre line and limits come from the
        points up to it (within its phase); every included point is judged against them.
    part : list of int or str, optional
        Phases: 1-based positions of the last point before each new phase (qicharts2's
        ``part``), or a column of phase labels. Each phase has its own centre, limits and
        runs analysis. Unlike qicharts2 (which then ignores ``freeze``), ``freeze`` and
        ``part`` can be combined: the freeze applies within the phase that holds it.
    exclude : list of int or str, optional
        Points (1-based positions or a boolean column) left out of the centre line, limits
        and runs analysis; still drawn and still flagged when outside the limits.
    incomplete : list of int or str, optional
        Points whose counts are known to be incomplete (e.g. the first quarters of an
        extract, which lack the episodes begun before it): left out like ``exclude`` and
        never flagged.

    Returns
    -------
    DataFrame
        Columns :data:`SPC_COLUMNS`, one row per period in the input order: the per-point
        n, rate, phase, baseline/include/incomplete masks, centre and limits,
        ``out_of_control`` (strictly outside the limits), ``in_long_run``, the phase's
        runs statistics, ``runs_signal`` and ``signal`` (the signals that fired at the
        point, in words). ``attrs["sigma"]`` holds ``sigma``.

    References
    ----------
    Montgomery DC. Introduction to Statistical Quality Control, 6th ed. Wiley, 2009, ch. 7.
    Anhoej J, Olesen AV. Run charts revisited. PLoS One 2014;9:e113825.

    Examples
    --------
    >>> c = pd.DataFrame({"quarter": ["Q1", "Q2"], "dropouts": [10, 30], "ended": [100, 100]})
    >>> p_chart(c, period="quarter", events="dropouts", n="ended")[["rate", "centre", "ucl"]]
       rate  centre   ucl
    0   0.1     0.2  0.32
    1   0.3     0.2  0.32
    """
    caller = "p_chart"
    _require(counts, [period, events, n], caller)
    if not (np.isfinite(sigma) and sigma > 0):
        raise ValueError(f"{caller}(): sigma={sigma!r} must be a positive number, e.g. 3.")
    d = pd.to_numeric(counts[events], errors="coerce").to_numpy(dtype=float)
    m = pd.to_numeric(counts[n], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(d) | ~np.isfinite(m) | (m <= 0) | (d < 0) | (d > m)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise SchemaError(
            f"{caller}(): row {i} has {events}={counts[events].iloc[i]!r}, "
            f"{n}={counts[n].iloc[i]!r}; need 0 <= {events} <= {n} and {n} > 0. "
            "Fix: drop periods without episodes and check the counts."
        )
    return _chart(counts, period, d / m, d, m, caller, kind="p", sigma=sigma, freeze=freeze,
                  part=part, exclude=exclude, incomplete=incomplete)  # fmt: skip


def run_chart(
    data: pd.DataFrame,
    *,
    period: str,
    value: str,
    freeze: int | None = None,
    part: Sequence[int] | str | None = None,
    exclude: Sequence[int] | str | None = None,
    incomplete: Sequence[int] | str | None = None,
) -> pd.DataFrame:
    """Run chart: values around their median with Anhoej's run rules.

    Same phases, freeze, exclusions and incomplete points as :func:`p_chart`; the centre
    line is the median of the baseline points and there are no limits (``lcl``/``ucl``
    NaN, ``events``/``n`` NaN). ``value`` may hold rates or any measurement.

    Examples
    --------
    >>> d = pd.DataFrame({"m": range(12), "v": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]})
    >>> r = run_chart(d, period="m", value="v")
    >>> float(r.loc[0, "centre"]), int(r.loc[0, "n_crossings"]), bool(r.loc[0, "runs_signal"])
    (6.5, 1, True)
    """
    caller = "run_chart"
    _require(data, [period, value], caller)
    y = pd.to_numeric(data[value], errors="coerce").to_numpy(dtype=float)
    nan = np.full(len(y), np.nan)
    return _chart(data, period, y, nan, nan, caller, kind="run", sigma=None, freeze=freeze,
                  part=part, exclude=exclude, incomplete=incomplete)  # fmt: skip


def spc_summary(chart: pd.DataFrame) -> pd.DataFrame:
    """One row per phase: runs statistics, signals and the centre line (qicharts2's
    ``summary.qic``: n.obs, n.useful, longest.run(.max), n.crossings(.min), runs.signal,
    CL, sigma.signal = number of points outside the limits).

    Examples
    --------
    >>> d = pd.DataFrame({"m": range(12), "v": range(12)})
    >>> spc_summary(run_chart(d, period="m", value="v"))[["part", "runs_signal"]].values.tolist()
    [[1, True]]
    """
    rows = []
    for p, g in chart.groupby("part", sort=True, observed=True):
        first = g.iloc[0]
        rows.append(
            {
                "part": int(p),
                **{
                    c: first[c]
                    for c in (
                        "n_obs",
                        "n_useful",
                        "longest_run",
                        "longest_run_max",
                        "n_crossings",
                        "n_crossings_min",
                    )
                },  # fmt: skip
                "runs_signal": bool(first["runs_signal"]),
                "centre": float(first["centre"]),
                "n_out_of_control": int(g["out_of_control"].sum()),
                "n_incomplete": int(g["incomplete"].sum()),
            }
        )
    return pd.DataFrame(rows)


def _require(data, columns, caller) -> None:
    _require_columns(data, columns, caller, fix="name the right columns",
                     fix_type="pass one row per period")  # fmt: skip
    if data.empty:
        raise SchemaError(f"{caller}(): data has no rows. Fix: pass one row per period.")
