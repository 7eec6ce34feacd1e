"""Quarters and months of a report: parsing, the latest complete quarter, comparison quarters."""

from __future__ import annotations

import pandas as pd

from ipt_analytics.errors import SchemaError

__all__ = ["parse_quarter", "latest_complete_quarter", "comparison_quarters", "quarter_bounds"]


def parse_quarter(text) -> pd.Period:
    """``"2026Q2"`` (or ``"2026-Q2"``) as a quarterly Period.

    Examples
    --------
    >>> str(parse_quarter("2026Q2")), str(parse_quarter("2026-q1"))
    ('2026Q2', '2026Q1')
    """
    if isinstance(text, pd.Period):
        return text.asfreq("Q-DEC")
    s = str(text).strip().upper().replace("-", "")
    if len(s) == 6 and s[:4].isdigit() and s[4] == "Q" and s[5] in "1234":
        return pd.Period(s, freq="Q-DEC")
    raise SchemaError(f"quarter {text!r} is not a quarter. Fix: write it as YYYYQn, e.g. 2026Q2")


def quarter_bounds(q: pd.Period) -> tuple[pd.Timestamp, pd.Timestamp]:
    """First day and last day of a quarter (dates, midnight)."""
    return q.start_time.normalize(), q.end_time.normalize()


def latest_complete_quarter(last_date) -> pd.Period:
    """The last quarter that ends on or before ``last_date`` (the extract's last day).

    Examples
    --------
    >>> str(latest_complete_quarter(pd.Timestamp("2026-06-30")))
    '2026Q2'
    >>> str(latest_complete_quarter(pd.Timestamp("2026-06-29")))
    '2026Q1'
    """
    q = pd.Timestamp(last_date).to_period("Q-DEC")
    return q if pd.Timestamp(last_date).normalize() >= quarter_bounds(q)[1] else q - 1


def comparison_quarters(q: pd.Period) -> dict[str, pd.Period]:
    """The quarter, the one before and the same quarter a year before.

    Examples
    --------
    >>> {k: str(v) for k, v in comparison_quarters(parse_quarter("2026Q1")).items()}
    {'current': '2026Q1', 'previous': '2025Q4', 'year_before': '2025Q1'}
    """
    return {"current": q, "previous": q - 1, "year_before": q - 4}
