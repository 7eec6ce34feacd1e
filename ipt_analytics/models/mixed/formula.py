"""lme4's random-effects syntax in a model formula: ``(week | client)`` and friends.

``split_formula("y ~ week * format + (week | client) + (1 | site/therapist)")`` returns
the fixed part for patsy (``"y ~ week * format"``) and one :class:`ReTerm` per
random-effects term, expanded as lme4 expands them:

* ``(x | g)``: correlated intercept and slope for every level of ``g``;
* ``(x || g)``: the same without correlation, i.e. ``(1 | g) + (0 + x | g)``;
* ``(1 | a/b)``: ``(1 | a) + (1 | a:b)`` (``b`` nested in ``a``: labels of ``b`` that
  repeat across levels of ``a`` are different levels), named ``a`` and ``b:a`` as lme4
  names them;
* ``(1 | a:b)``: one factor with a level per observed combination of ``a`` and ``b``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ipt_analytics.errors import SchemaError

__all__ = ["ReTerm", "split_formula", "ACCEPTED_FORMS"]

ACCEPTED_FORMS = (
    "accepted random-effects terms: (1 | g), (week | g), (1 + week | g), (0 + week | g), "
    "(week || g) (uncorrelated), (1 | a/b) (b nested in a), (1 | a:b) (one level per "
    "combination), any number of them added to the fixed part, e.g. "
    "'total ~ week * format + (week | episode_id) + (week | therapist_id)'"
)
_NAME = re.compile(r"^[A-Za-z_.][A-Za-z0-9_.]*$")


@dataclass(frozen=True)
class ReTerm:
    """One random-effects term: design ``lhs`` (patsy) for every level of ``factors``.

    ``factors`` are the data columns whose combination is the grouping factor (one
    column, or several for ``a:b``); ``name`` is lme4's name of the grouping factor;
    ``diag`` marks a term that came from ``||`` (kept together for naming only: its
    columns are uncorrelated).
    """

    lhs: str
    factors: tuple
    name: str
    diag: bool = False

    @property
    def label(self) -> str:
        """The term as lme4 writes it, e.g. ``(week | client)``."""
        return f"({self.lhs} {'||' if self.diag else '|'} {':'.join(self.factors)})"


def _bar_spans(text: str) -> list:
    """(start, end) of every top-level parenthesised group that contains a bar."""
    spans, depth, start = [], 0, None
    for i, ch in enumerate(text):
        if ch == "(":
            if depth == 0:
                start = i
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise SchemaError(f"fit_mixed(): unbalanced ')' in formula {text!r}.")
            if depth == 0 and "|" in text[start:i]:
                spans.append((start, i + 1))
    if depth != 0:
        raise SchemaError(f"fit_mixed(): unbalanced '(' in formula {text!r}.")
    return spans


def _group_factors(text: str, formula: str) -> list:
    """``a``, ``a:b`` or ``a/b`` (``a/b/c``) -> list of factor tuples, lme4's order."""
    text = text.strip()
    bad = SchemaError(
        f"fit_mixed(): could not understand the grouping factor {text!r} in formula "
        f"{formula!r}: write a column name, a:b or a/b. {ACCEPTED_FORMS}."
    )
    if "/" in text:
        parts = [p.strip() for p in text.split("/")]
        if not all(_NAME.match(p) for p in parts):
            raise bad
        return [tuple(parts[: k + 1]) for k in range(len(parts))]
    parts = [p.strip() for p in text.split(":")]
    if not all(_NAME.match(p) for p in parts):
        raise bad
    return [tuple(parts)]


def _lme4_name(factors: tuple, nested: bool) -> str:
    # lme4 names the nested term of (1 | a/b) "b:a" and the written (1 | a:b) "a:b"
    return ":".join(reversed(factors)) if nested else ":".join(factors)


def _split_uncorrelated(lhs: str) -> list:
    """``week`` / ``1 + week`` / ``0 + week + x`` -> the separate terms of ``||``."""
    pieces = [p.strip() for p in lhs.split("+")]
    intercept = not any(p in ("0", "-1") for p in pieces)
    terms = [p for p in pieces if p not in ("0", "1", "-1", "")]
    out = (["1"] if intercept else []) + [f"0 + {t}" for t in terms]
    return out


def split_formula(formula: str) -> tuple[str, list]:
    """Split an lme4-style formula into the fixed part and its random-effects terms.

    Examples
    --------
    >>> fixed, terms = split_formula("y ~ week * format + (week | client) + (1 | site/therapist)")
    >>> fixed
    'y ~ week * format'
    >>> [(t.lhs, t.factors, t.name) for t in terms]  # doctest: +NORMALIZE_WHITESPACE
    [('week', ('client',), 'client'), ('1', ('site',), 'site'),
     ('1', ('site', 'therapist'), 'therapist:site')]
    >>> [(t.lhs, t.name) for t in split_formula("y ~ week + (week || client)")[1]]
    [('1', 'client'), ('0 + week', 'client')]
    """
    if not isinstance(formula, str) or "~" not in formula:
        raise SchemaError(
            f"fit_mixed(): formula={formula!r} must be a string 'outcome ~ terms'. "
            f"{ACCEPTED_FORMS}."
        )
    spans = _bar_spans(formula)
    terms = []
    for start, end in spans:
        inner = formula[start + 1 : end - 1]
        diag = "||" in inner
        lhs, _, rhs = inner.partition("||" if diag else "|")
        lhs = lhs.strip()
        if not lhs or "|" in rhs or not rhs.strip():
            raise SchemaError(
                f"fit_mixed(): could not understand the random-effects term "
                f"{formula[start:end]!r}. {ACCEPTED_FORMS}."
            )
        groups = _group_factors(rhs, formula)
        nested = "/" in rhs
        for factors in groups:
            name = _lme4_name(factors, nested and len(factors) > 1)
            for piece in _split_uncorrelated(lhs) if diag else [lhs]:
                terms.append(ReTerm(piece, factors, name, diag))
    fixed = formula
    for start, end in reversed(spans):
        fixed = fixed[:start] + fixed[end:]
    if "|" in fixed:
        raise SchemaError(
            f"fit_mixed(): a bar outside parentheses in formula {formula!r}. {ACCEPTED_FORMS}."
        )
    lhs_y, _, rhs_x = fixed.partition("~")
    rhs_x = re.sub(r"\+\s*(?=\+|$)", "", rhs_x.strip())  # the '+' left by a removed term
    rhs_x = re.sub(r"^\s*\+", "", rhs_x).strip()
    rhs_x = re.sub(r"\s+", " ", rhs_x)
    return f"{lhs_y.strip()} ~ {rhs_x or '1'}", terms
