"""Sudden gains and sudden losses (Tang & DeRubeis 1999) on long session-level data.

A sudden gain between consecutive sessions n and n+1 (both rated) meets all of:

1. gain = x_n - x_{n+1} >= ``cutoff`` (absolute criterion: Tang & DeRubeis used 7 BDI
   points; commonly the Jacobson-Truax reliable change);
2. gain >= ``pct`` (default 0.25) * x_n;
3. mean(x_{n-2}, x_{n-1}, x_n) - mean(x_{n+1}, x_{n+2}, x_{n+3}) > t_crit * pooled SD, with
   at least 2 of 3 values on each side; with ``adjust=True`` (Lutz et al. 2013) t_crit is the
   two-tailed t quantile with df = n_pre + n_post - 2 (2.776, 3.182, 4.303 for 6, 5, 4
   values); with ``adjust=False`` 2.776 always.

This follows R suddengains ``check_interval`` / ``identify_sg`` (Wiedemann et al. 2020,
PLOS ONE, doi:10.1371/journal.pone.0230276; https://search.r-project.org/CRAN/refmans/
suddengains/html/identify_sg.html). A session that was not rated (a missed session) is a gap
in the session sequence: intervals touching it are not checked, and windows containing it
have fewer values. The interval from session 1 to 2 can never meet criterion 3 (one pre
value), exactly as in suddengains. Sudden losses mirror all three criteria. The reported
session is the pre-gain session n (suddengains ``sg_session_n``).
"""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy import stats

__all__ = ["find_sudden_changes", "select_change"]


@functools.lru_cache(maxsize=64)
def _t_critical(alpha: float, df: int) -> float:
    # two-tailed critical value; df is 2, 3 or 4 -> 4.303, 3.182, 2.776 at alpha 0.05
    return float(abs(stats.t.ppf(alpha / 2, df)))


def find_sudden_changes(
    sessions,
    totals,
    *,
    cutoff: float,
    pct: float = 0.25,
    crit3: bool = True,
    alpha: float = 0.05,
    adjust: bool = True,
    kind: str = "gain",
):
    """All sudden gains (or losses) of one episode.

    Parameters
    ----------
    sessions, totals : array_like
        Session numbers (unique, increasing) and totals of one episode's ratings.
    cutoff : float
        Criterion 1, in raw points (> 0); a change must be at least this large.
    kind : {"gain", "loss"}

    Returns
    -------
    (changes, n_evaluable) : (list of (session_n, magnitude), int)
        ``magnitude`` is x_n - x_{n+1} for gains, x_{n+1} - x_n for losses (positive);
        ``n_evaluable`` counts intervals on which all criteria could be evaluated.

    Examples
    --------
    suddengains ``check_interval(c(32, 31, 33), c(5, 6, 7), 7)`` is a sudden gain:

    >>> find_sudden_changes([1, 2, 3, 4, 5, 6], [32, 31, 33, 5, 6, 7], cutoff=7)
    ([(3, 28.0)], 3)
    """
    s = np.asarray(sessions, dtype=int)
    x = np.asarray(totals, dtype=float)
    if s.size == 0:
        return [], 0
    grid = [math.nan] * (int(s.max()) + 1)
    for si, xi in zip(s.tolist(), x.tolist(), strict=True):
        grid[si] = xi
    sign = 1.0 if kind == "gain" else -1.0
    found, evaluable = [], 0
    # plain Python on windows of <= 3 values: numpy call overhead dominates otherwise
    for n in range(1, len(grid) - 1):
        a, b = grid[n], grid[n + 1]
        if math.isnan(a) or math.isnan(b):
            continue
        change = sign * (a - b)
        c1 = change >= cutoff
        c2 = change >= pct * a
        c3 = True
        if crit3:
            pre = [v for v in grid[max(n - 2, 1) : n + 1] if not math.isnan(v)]
            post = [v for v in grid[n + 1 : n + 4] if not math.isnan(v)]
            if len(pre) < 2 or len(post) < 2:
                continue
            df = len(pre) + len(post) - 2
            t_crit = _t_critical(alpha, df) if adjust else 2.776
            m_pre, m_post = sum(pre) / len(pre), sum(post) / len(post)
            ss = sum((v - m_pre) ** 2 for v in pre) + sum((v - m_post) ** 2 for v in post)
            c3 = sign * (m_pre - m_post) > t_crit * math.sqrt(ss / df)
        evaluable += 1
        if c1 and c2 and c3:
            found.append((int(n), float(change)))
    return found, evaluable


def select_change(changes, *, select: str = "first"):
    """Pick one of several gains: ``"first"`` (earliest) or ``"largest"`` (ties: earliest).

    Examples
    --------
    >>> select_change([(3, 8.0), (6, 10.0)], select="largest")
    (6, 10.0)
    """
    if not changes:
        return None
    if select == "first":
        return changes[0]
    if select == "largest":
        return max(changes, key=lambda c: (c[1], -c[0]))
    raise ValueError(
        f"select_change(): select={select!r} is not allowed; use 'first' or 'largest'."
    )
