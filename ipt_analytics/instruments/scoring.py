"""Score item responses into instrument totals, severity bands and safety flags.

Rules come from :mod:`ipt_analytics.instruments`; each scored row records the rule that
produced its total (``scoring_rule``) so a reader can tell a prorated PHQ-9 from a complete
one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ipt_analytics.instruments.table import Instrument, get_instrument

__all__ = [
    "PRORATE_ROUNDING",
    "SCORING_REASONS",
    "SCORING_RULES",
    "safety_codes",
    "safety_flags",
    "score_codes",
    "score_items",
    "score_matrix",
    "severity_bands",
]

#: Accepted values of ``prorate_rounding``.
PRORATE_ROUNDING = ("none", "round_half_up", "floor", "ceil")
#: Scoring rules, indexed by the codes :func:`score_matrix` returns.
SCORING_RULES = np.array(["sum", "domain_max_sum", "prorated_mean", "not_scored"], dtype=object)
#: Reasons for no total, indexed by the codes :func:`score_matrix` returns ("" = scored).
SCORING_REASONS = np.array(["", "too_many_missing_items", "all_items_missing"], dtype=object)


def severity_bands(totals, instrument: str | Instrument) -> np.ndarray:
    """Vectorised :func:`~ipt_analytics.instruments.table.severity_band` (missing -> ``None``).

    Totals must already lie in the instrument's range.

    Examples
    --------
    >>> severity_bands([4, 4.5, 5, np.nan], "phq9").tolist()
    ['none_minimal', 'none_minimal', 'mild', None]
    """
    inst = get_instrument(instrument)
    totals = np.asarray(totals, dtype=float)
    lows = np.array([low for low, _, _ in inst.bands], dtype=float)
    labels = np.array(inst.band_labels + [None], dtype=object)
    idx = np.searchsorted(lows, totals, side="right") - 1
    idx = np.where(np.isnan(totals), len(inst.bands), np.clip(idx, 0, len(inst.bands) - 1))
    return labels[idx]


def safety_flags(items, instrument: str | Instrument) -> pd.arrays.BooleanArray:
    """Safety flag per rating from the instrument's suicide item(s).

    True when any safety item (``Instrument.safety_items``: PHQ-9 item 9, QIDS-SR16 item
    12, CUDOS items 14 and 15) is answered >= ``Instrument.safety_min`` (1: any
    endorsement); False when every safety item is answered below it; NA otherwise (an
    unanswered item is not evidence of no risk). False for a form without a suicide item
    (GAD-7): no flag can be raised from it, which says nothing about risk.

    Parameters
    ----------
    items : array_like, shape (n, n_items)
        Item responses in form order (NaN = unanswered).
    instrument : str or Instrument

    Examples
    --------
    >>> x = np.full((4, 18), 0.0)
    >>> x[0, 13] = 1; x[1, 14] = 4; x[2, 13] = np.nan; x[3, 13:15] = np.nan
    >>> x[2, 14] = 2
    >>> safety_flags(x, "cudos").tolist()
    [True, True, True, <NA>]
    """
    inst = get_instrument(instrument)
    x = np.asarray(items)
    if not np.issubdtype(x.dtype, np.floating):  # float32 answers are exact: no copy
        x = x.astype(float)
    if not inst.safety_items:
        return pd.array(np.zeros(len(x), dtype=bool), dtype="boolean")
    answers = x[:, [i - 1 for i in inst.safety_items]]
    endorsed = (np.nan_to_num(answers, nan=-1.0) >= inst.safety_min).any(axis=1)
    all_answered = ~np.isnan(answers).any(axis=1)
    # Kleene OR: one endorsed item is enough; "no" needs every item answered
    return pd.arrays.BooleanArray(endorsed, ~endorsed & ~all_answered)


def _round(values: np.ndarray, prorate_rounding: str) -> np.ndarray:
    if prorate_rounding == "none":
        return values
    if prorate_rounding == "round_half_up":
        return np.floor(values + 0.5)
    if prorate_rounding == "floor":
        return np.floor(values)
    return np.ceil(values)


def _item_matrix(items: pd.DataFrame, inst: Instrument) -> np.ndarray:
    expected = inst.item_columns
    absent = [c for c in expected if c not in items.columns]
    if absent:
        raise ValueError(
            f"score_items(): items lacks column(s) {absent} for {inst.label}. "
            f"Expected columns {expected[0]} .. {expected[-1]} (missing answers as NaN). "
            "Fix: rename the item columns or add them filled with NaN."
        )
    extra = [
        c
        for c in items.columns
        if str(c).startswith("item_") and c not in expected and items[c].notna().any()
    ]
    if extra:
        raise ValueError(
            f"score_items(): {inst.label} has {inst.n_items} items but items has values in "
            f"{extra}. Fix: check that the instrument is right."
        )
    try:
        x = items[expected].apply(pd.to_numeric, errors="raise").to_numpy(dtype=float)
    except (ValueError, TypeError) as exc:
        raise ValueError(
            f"score_items(): items must be numeric (NaN for a missing answer); {exc}. "
            "Fix: validate the data with read_sessions() first."
        ) from None
    ok = np.isnan(x) | ((x >= inst.item_min) & (x <= inst.item_max) & (x == np.floor(x)))
    if not ok.all():
        row, col = np.argwhere(~ok)[0]
        raise ValueError(
            f"score_items(): {inst.label} items must be whole numbers {inst.item_min}-"
            f"{inst.item_max}; row {items.index[row]!r} column {expected[col]!r} is "
            f"{x[row, col]!r} ({int((~ok).sum())} such value(s)). Fix: correct or blank them."
        )
    return x


def score_items(
    items: pd.DataFrame,
    instrument: str | Instrument,
    *,
    prorate_rounding: str = "none",
) -> pd.DataFrame:
    """Score item responses of one instrument.

    Parameters
    ----------
    items : DataFrame
        Columns ``item_1 .. item_k`` (k = number of items on the form), whole numbers in
        the item range, NaN for an unanswered item. Other columns are ignored.
    instrument : str or Instrument
        ``"phq9"``, ``"gad7"``, ``"qids_sr16"`` or ``"cudos"``.
    prorate_rounding : {"none", "round_half_up", "floor", "ceil"}
        Rounding of a prorated PHQ-9 total. The NHS Data Dictionary rule (substitute the
        mean of the answered items when 1-2 are missing) does not say whether to round, so
        the default keeps the exact prorated value (e.g. 8 answered items summing to 9 give
        10.125). ``"round_half_up"`` rounds 10.5 to 11.

    Returns
    -------
    DataFrame
        Same index as ``items``; columns ``total`` (float, NaN when not scorable),
        ``n_items_missing`` (int: missing items among those in the total),
        ``scoring_rule`` (``"sum"``, ``"prorated_mean"``, ``"domain_max_sum"`` or
        ``"not_scored"``), ``severity`` (band label or None), ``safety_flag`` (nullable
        boolean, see :func:`safety_flags`) and
        ``reason`` (empty, ``"too_many_missing_items"`` or ``"all_items_missing"``).

    Notes
    -----
    - PHQ-9: 1-2 missing items -> total = mean of the answered items x 9; more than 2
      missing -> no total (NHS Data Dictionary).
    - GAD-7, QIDS-SR16, CUDOS: no published missing-item rule, so any missing item leaves
      the total missing; it is never prorated silently.
    - QIDS-SR16: total = sum of the 9 domain scores (sleep = max of items 1-4; appetite/
      weight = max of 6-9; psychomotor = max of 15-16; items 5, 10-14 as they are).
    - CUDOS: total = items 1-16; items 17-18 are checked for range but not summed, and
      their absence does not count as missing.

    Raises
    ------
    ValueError
        Missing item columns, non-numeric values, or values that are not whole numbers in
        the item range; unknown ``prorate_rounding``.

    Examples
    --------
    >>> items = pd.DataFrame({f"item_{i}": [1.0, 1.0, 3.0] for i in range(1, 10)})
    >>> items.loc[1, ["item_1"]] = np.nan
    >>> out = score_items(items, "phq9")
    >>> out[["total", "scoring_rule", "severity", "safety_flag"]]
       total   scoring_rule     severity  safety_flag
    0    9.0            sum         mild         True
    1    9.0  prorated_mean         mild         True
    2   27.0            sum       severe         True
    """
    inst = get_instrument(instrument)
    if prorate_rounding not in PRORATE_ROUNDING:
        raise ValueError(
            f"score_items(): prorate_rounding={prorate_rounding!r} is not allowed. "
            f"Accepted: {', '.join(PRORATE_ROUNDING)}."
        )
    x = _item_matrix(items, inst)
    total, n_missing, rule, reason = score_matrix(x, inst, prorate_rounding=prorate_rounding)
    safety = safety_flags(x, inst)

    return pd.DataFrame(
        {
            "total": total.astype(float),
            "n_items_missing": n_missing.astype(int),
            "scoring_rule": pd.array(SCORING_RULES[rule], dtype="str"),
            "severity": severity_bands(total, inst),
            "safety_flag": safety,
            "reason": pd.array(SCORING_REASONS[reason], dtype="str"),
        },
        index=items.index,
    )


def score_matrix(
    x: np.ndarray, instrument: str | Instrument, *, prorate_rounding: str = "none"
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The arithmetic of :func:`score_items` on a checked item matrix, as arrays.

    Parameters
    ----------
    x : ndarray, shape (n, n_items)
        Item answers in form order, whole numbers in the item range, NaN when unanswered
        (not checked here: :func:`score_items` checks them, the validator has); float32
        is enough (whole numbers are exact) and totals are computed in double precision.
    instrument : str or Instrument
    prorate_rounding : str
        As in :func:`score_items`.

    Returns
    -------
    total : ndarray of float
    n_missing : ndarray of int
        Missing items among those in the total.
    rule : ndarray of int8
        Codes into :data:`SCORING_RULES`.
    reason : ndarray of int8
        Codes into :data:`SCORING_REASONS`.

    Examples
    --------
    >>> x = np.ones((2, 9)); x[1, 0] = np.nan
    >>> total, n_missing, rule, reason = score_matrix(x, "phq9")
    >>> total.tolist(), n_missing.tolist(), SCORING_RULES[rule].tolist()
    ([9.0, 9.0], [0, 1], ['sum', 'prorated_mean'])
    """
    inst = get_instrument(instrument)
    in_total = x[:, [i - 1 for i in inst.total_items]]
    n_missing = np.isnan(in_total).sum(axis=1)
    if inst.scoring_rule == "domain_max_sum":
        domain_scores = np.column_stack(
            [x[:, [i - 1 for i in d]].max(axis=1) for d in inst.domains]
        )
        total = domain_scores.sum(axis=1)
    else:
        total = np.nansum(in_total, axis=1)
    return _apply_rules(total, n_missing, inst, prorate_rounding,
                        lambda rows: np.nansum(in_total[rows], axis=1))  # fmt: skip


def _apply_rules(total, n_missing, inst: Instrument, prorate_rounding: str, answered_sum):
    """(total, n_missing, rule, reason) from the sums of complete rows (``total``), the
    missing items per row and ``answered_sum(rows)``, the sum of the answered items of the
    rows selected by a mask (asked only for rows a rule prorates)."""
    n_total_items = len(inst.total_items)
    complete = n_missing == 0
    rule = np.full(len(total), list(SCORING_RULES).index(inst.scoring_rule), dtype=np.int8)
    # in double precision before any prorated value is written (items may be float32)
    total = total.astype(float)
    total[~complete] = np.nan

    can_prorate = (~complete) & (n_missing <= inst.max_missing_items)
    if can_prorate.any():
        answered = n_total_items - n_missing[can_prorate]
        prorated = answered_sum(can_prorate) * n_total_items / answered
        total[can_prorate] = _round(prorated, prorate_rounding)
        rule[can_prorate] = 2

    scored = complete | can_prorate
    rule[~scored] = 3
    reason = np.zeros(len(total), dtype=np.int8)
    reason[~scored] = 1
    reason[n_missing == n_total_items] = 2
    return total, n_missing.astype(int), rule, reason


def score_codes(
    codes: np.ndarray, instrument: str | Instrument, *, prorate_rounding: str = "none"
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`score_matrix` on item answers held as small integers, ``-1`` when unanswered.

    The validator keeps the item answers of a large file as one byte each; scoring them
    there, without a floating-point copy, saves memory that a million rows would otherwise
    take several times over. Same rules, same outputs as :func:`score_matrix`.

    Parameters
    ----------
    codes : ndarray of int, shape (n, n_items)
        Item answers in form order, whole numbers in the item range, ``-1`` (any negative
        value) when unanswered; not checked here.
    instrument : str or Instrument
    prorate_rounding : str
        As in :func:`score_items`.

    Returns
    -------
    total, n_missing, rule, reason
        As :func:`score_matrix`.

    Examples
    --------
    >>> codes = np.ones((2, 9), dtype=np.int8); codes[1, 0] = -1
    >>> total, n_missing, rule, reason = score_codes(codes, "phq9")
    >>> total.tolist(), n_missing.tolist(), SCORING_RULES[rule].tolist()
    ([9.0, 9.0], [0, 1], ['sum', 'prorated_mean'])
    """
    inst = get_instrument(instrument)
    codes = np.asarray(codes)
    # column by column: adding whole columns is one vectorised pass each, where a sum
    # along each row of a few items is a slow strided reduction (several times slower at a
    # million rows); an item block taken row by row and transposed has contiguous columns
    n_missing = np.zeros(len(codes), dtype=np.int32)
    answered_sum = np.zeros(len(codes), dtype=np.int32)
    for i in inst.total_items:
        column = codes[:, i - 1]
        n_missing += column < 0
        answered_sum += np.maximum(column, 0)

    if inst.scoring_rule == "domain_max_sum":
        # only complete rows keep a total, and in them every item is answered
        total = np.zeros(len(codes), dtype=np.int32)
        for domain in inst.domains:
            top = codes[:, domain[0] - 1]
            for i in domain[1:]:
                top = np.maximum(top, codes[:, i - 1])
            total += top
    else:
        total = answered_sum
    return _apply_rules(total, n_missing, inst, prorate_rounding, lambda rows: answered_sum[rows])


def safety_codes(codes: np.ndarray, instrument: str | Instrument) -> pd.arrays.BooleanArray:
    """:func:`safety_flags` on item answers held as small integers, ``-1`` when unanswered.

    Examples
    --------
    >>> codes = np.zeros((3, 9), dtype=np.int8)
    >>> codes[0, 8] = 2; codes[2, 8] = -1
    >>> safety_codes(codes, "phq9").tolist()
    [True, False, <NA>]
    """
    inst = get_instrument(instrument)
    if not inst.safety_items:
        return pd.array(np.zeros(len(codes), dtype=bool), dtype="boolean")
    answers = codes[:, [i - 1 for i in inst.safety_items]]
    endorsed = (answers >= inst.safety_min).any(axis=1)
    all_answered = ~(answers < 0).any(axis=1)
    return pd.arrays.BooleanArray(endorsed, ~endorsed & ~all_answered)
