"""Parsing of text cells into numbers and dates, with no coercion of partial values.

Every input cell arrives as text (the reader never lets pandas guess types). A cell is a number
only if it fully matches a plain decimal pattern ("12abc", "1,5" and "two" are not), and a
date only if it is ISO ``YYYY-MM-DD`` (optionally with a time) or an unambiguous
``DD/MM/YYYY``. Digits are ASCII ``0-9`` only: fullwidth (``１２``), Arabic-Indic and other
Unicode digits are not read as numbers (they are rejected by name, never normalised), because
a regular expression's digit class would accept them and a number parser would then drop
them. A number is read only if the value written is the value stored:
``2.9999999999999999`` (which a double holds as 3) is not a number here
(:func:`exact_decimal`). Each distinct value is parsed once and spread back, since rating
columns hold only a handful of distinct values.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

import numpy as np
import pandas as pd

__all__ = [
    "NUMBER",
    "WHOLE_NUMBER",
    "SIGNED_WHOLE_NUMBER",
    "exact_decimal",
    "is_prorated_phq9",
    "parse_distinct_dates",
    "parse_distinct_numbers",
]

NUMBER = r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
WHOLE_NUMBER = r"[0-9]+(?:\.0*)?"
#: A whole number as written, with an optional sign (item answers: -1 is out of range, not text)
SIGNED_WHOLE_NUMBER = r"[+-]?[0-9]+(?:\.0*)?"
_D = "[0-9]"
_ISO = (
    rf"({_D}{{4}}-{_D}{{2}}-{_D}{{2}})"
    rf"(?:[ T]{_D}{{2}}:{_D}{{2}}(?::{_D}{{2}}(?:\.{_D}+)?)?(?:Z|[+-]{_D}{{2}}:?{_D}{{2}})?)?"
)
_SLASH = rf"({_D}{{1,2}})/({_D}{{1,2}})/({_D}{{4}})"


def exact_decimal(text: str) -> bool:
    """Whether the decimal ``text`` is exactly the double it is read as (shortest form).

    Examples
    --------
    >>> exact_decimal("3"), exact_decimal("10.10"), exact_decimal("11.571428571428571")
    (True, True, True)
    >>> exact_decimal("2.9999999999999999"), exact_decimal("3.0000000000000001")
    (False, False)
    """
    try:
        return Decimal(text) == Decimal(repr(float(text)))
    except (InvalidOperation, ValueError):
        return False


def parse_distinct_numbers(values, pattern: str) -> tuple[np.ndarray, np.ndarray]:
    """(value, matches) of distinct texts, as arrays; only full matches of ``pattern``
    that are exactly representable (:func:`exact_decimal`) are numbers. The callers parse
    each distinct value of a column once and read the result back through its codes.

    Examples
    --------
    >>> value, ok = parse_distinct_numbers(["3", "2.5", "x", "", "2.9999999999999999"], NUMBER)
    >>> value.tolist()[:2], ok.tolist()
    ([3.0, 2.5], [True, True, False, False, False])
    """
    uniq = pd.Series(np.asarray(values, dtype=object), dtype="str")
    match = uniq.str.fullmatch(pattern).fillna(False).to_numpy(dtype=bool).copy()
    value = pd.to_numeric(uniq.where(match), errors="coerce").to_numpy(dtype=float)
    # only numbers written with many digits can differ from the double they are read as;
    # beyond 2**53 every range check fails anyway, so those keep their (range) message
    long_digits = (uniq.str.count("[0-9]").to_numpy() > 15) & (np.abs(value) < 2.0**53)
    for k in np.flatnonzero(match & long_digits):
        match[k] = exact_decimal(uniq.iat[k])
    return np.where(match, value, np.nan), match


def parse_distinct_dates(text: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    """(dates, bad, message) of the distinct date texts of the rows checked.

    Pass only texts that some checked row holds: whether slash dates are ambiguous depends
    on all of them (one month-first date makes every other slash date with day and month
    <= 12 ambiguous).

    Examples
    --------
    >>> dates, bad, message = parse_distinct_dates(pd.Series(["2025-02-03", "31/01/2025", "x"]))
    >>> dates.dt.strftime("%Y-%m-%d").tolist()[:2], bad.tolist()
    (['2025-02-03', '2025-01-31'], [False, False, True])
    """
    blank = text == ""
    iso = text.str.extract("^" + _ISO + "$")[0]
    slash = text.str.extract("^" + _SLASH + "$")
    dates = pd.to_datetime(iso, format="%Y-%m-%d", errors="coerce")
    is_slash = slash[0].notna()
    message = pd.Series("not a date in YYYY-MM-DD or DD/MM/YYYY form", index=text.index)
    if is_slash.any():
        first = pd.to_numeric(slash[0], errors="coerce")
        second = pd.to_numeric(slash[1], errors="coerce")
        month_first = is_slash & (second > 12)
        ambiguous = is_slash & (first <= 12) & (second <= 12) & month_first.any()
        usable = is_slash & ~month_first & ~ambiguous
        dmy = slash[0].str.zfill(2) + "/" + slash[1].str.zfill(2) + "/" + slash[2]
        parsed = pd.to_datetime(dmy.where(usable), format="%d/%m/%Y", errors="coerce")
        dates = dates.where(~is_slash, parsed)
        message = message.mask(
            month_first, "second field > 12: not DD/MM/YYYY (month-first dates are not read)"
        )
        message = message.mask(
            ambiguous,
            "day/month order ambiguous: the file also has month-first (MM/DD/YYYY) dates",
        )
    matched = iso.notna() | is_slash
    impossible = matched & dates.isna()
    message = message.mask(
        impossible & ~message.str.contains("ambiguous|second field"),
        "impossible date (no such day)",
    )
    years = dates.dt.year
    implausible = dates.notna() & ((years < 1900) | (years > 2100))
    message = message.mask(implausible, "implausible year (accepted 1900-2100)")
    dates = dates.where(~implausible)
    # a rating is completed before its session, so it cannot carry a date after today
    today = pd.Timestamp.today().normalize()
    future = dates > today
    message = message.mask(future, f"date is in the future (after today, {today:%Y-%m-%d})")
    dates = dates.where(~future)
    bad = ~blank & dates.isna()
    return dates.astype("datetime64[ns]"), bad, message


def is_prorated_phq9(total: pd.Series) -> pd.Series:
    """Whether each total is a possible prorated PHQ-9 total: (sum of m answered items) x 9/m
    for m = 7 or 8, allowing it to be written to one decimal (10.125 -> 10.1)."""
    t = total.to_numpy(dtype=float)
    ok = np.zeros(len(t), dtype=bool)
    with np.errstate(invalid="ignore"):
        for answered in (7, 8):
            step = 9 / answered
            ok |= np.abs(t / step - np.round(t / step)) * step <= 0.05 + 1e-9
    return pd.Series(ok, index=total.index)
