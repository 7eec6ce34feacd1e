"""Compare a reproduced number with the published one under its tolerance.

Three kinds of tolerance:

* ``"as printed"``: the reproduced value is rounded, half away from zero, to the last digit
  of the printed text (``"0.120"``: 3 decimals; ``"8.8e-11"``: 1e-12; ``"1802"``: units) and
  must equal it. This is what "matches the book" means for a table printed to 4-5 digits.
* ``{abs = a}``: ``|reproduced - published| <= a``.
* ``{rel = r}``: ``|reproduced - published| <= r * |published|``; with both, either bound
  suffices (as :func:`math.isclose`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

__all__ = ["Check", "check", "format_tolerance"]


@dataclass(frozen=True)
class Check:
    """The outcome of one comparison."""

    passed: bool
    published: float
    reproduced: float
    shown: str  # the reproduced value as compared (rounded for "as printed")
    difference: float


def format_tolerance(tol) -> str:
    """Short text for a tolerance.

    Examples
    --------
    >>> format_tolerance("as printed"), format_tolerance({"rel": 1e-4, "abs": 1e-8})
    ('as printed', 'abs 1e-08 or rel 0.0001')
    """
    if tol == "as printed":
        return tol
    parts = [f"{k} {tol[k]:g}" for k in ("abs", "rel") if k in tol]
    return " or ".join(parts)


def _as_printed(printed: str, reproduced: float) -> tuple[bool, str]:
    target = Decimal(printed.strip())
    exponent = target.as_tuple().exponent
    rounded = Decimal(reproduced).quantize(Decimal(1).scaleb(exponent), rounding=ROUND_HALF_UP)
    if "e" in printed.lower():
        shown = f"{float(rounded):.{len(target.as_tuple().digits) - 1}e}"
    else:
        shown = f"{rounded:f}"
    return rounded == target, shown


def check(published, reproduced: float, tolerance) -> Check:
    """Compare one number.

    Examples
    --------
    HSCIC 2014/15: 189,152 of 421,744 recovered is 44.849956...%, printed 44.8:

    >>> check("44.8", 44.849956, "as printed").passed
    True
    >>> check("44.9", 44.849956, "as printed").passed
    False
    >>> check("8.8e-11", 8.7574e-11, "as printed").shown
    '8.8e-11'
    >>> check(10.0, 10.0004, {"rel": 1e-4}).passed
    True
    """
    value = float(published)
    if reproduced is None or math.isnan(reproduced):
        return Check(False, value, math.nan, "nan", math.nan)
    diff = reproduced - value
    if tolerance == "as printed":
        passed, shown = _as_printed(str(published), reproduced)
        return Check(passed, value, reproduced, shown, diff)
    bound = max(tolerance.get("abs", 0.0), tolerance.get("rel", 0.0) * abs(value))
    return Check(abs(diff) <= bound, value, reproduced, f"{reproduced:.10g}", diff)
