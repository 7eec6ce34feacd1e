"""Stage 1 of validation: the checks of each row on its own, and its parsing and scoring.

Every text column arrives as codes into its distinct values (:mod:`~ipt_analytics.io.
coded`). Each check is computed once per distinct value (or per instrument and distinct
value, for the checks whose rule depends on the instrument) and read back for every row
through the codes, so a million rows cost a few array look-ups per column, and a message is
made only for the rows that have a problem. The checks of different columns are tasks of
a two-thread pool (numpy works outside the GIL); each task keeps its own problems, and they
are put together in one fixed order, so the result does not depend on the threads. The
reasons and their order are described in :mod:`ipt_analytics.io.validate`.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

from ipt_analytics.instruments.scoring import (
    SCORING_REASONS,
    SCORING_RULES,
    safety_codes,
    score_codes,
)
from ipt_analytics.instruments.table import INSTRUMENTS
from ipt_analytics.io.cell_parsing import (
    NUMBER,
    SIGNED_WHOLE_NUMBER,
    WHOLE_NUMBER,
    is_prorated_phq9,
    parse_distinct_dates,
    parse_distinct_numbers,
)
from ipt_analytics.io.coded import (
    assemble_frame,
    codes_of,
    per_row,
    single_valued,
    sorted_categorical,
    worker_threads,
)
from ipt_analytics.io.reading import ITEM_COLUMNS, RawInput
from ipt_analytics.vocab import (
    COLUMN_VOCABULARY,
    MISSING_LABELS,
    OPTIONAL_LABEL_COLUMNS,
    accepted_labels,
    normalise_distinct,
)

__all__ = ["ID_MISSING_MARKERS", "MAX_SESSIONS", "Problems", "missing_marker", "row_checks"]

#: Largest session number accepted (far above any course of therapy; guards typos).
MAX_SESSIONS = 1000
#: Values that mean "not known" and are never an identifier (compared after trimming and
#: upper-casing); a cell of only whitespace (any Unicode space) counts as blank too.
ID_MISSING_MARKERS = frozenset(
    ["NA", "N/A", "N.A.", "N/K", "NULL", "NIL", "NONE", "NAN", "-", "--", "---", "?",
     ".", "MISSING", "UNKNOWN", "NOT KNOWN", "NOT RECORDED", "#N/A", "<NA>"]
)  # fmt: skip
_IDENTIFIERS = ["client_id", "episode_id", "therapist_id", "group_id"]
#: Columns whose per-row "is blank" the checks read
_BLANK_NEEDED = [*_IDENTIFIERS, "site", "session", "planned_sessions", "format", "instrument",
                 "total"]  # fmt: skip
_CONTROL = r"[\x00-\x1f\x7f-\x9f]"


class Lookup:
    """Per-row values ``table[codes]``, gathered only for the rows that need them."""

    def __init__(self, table, codes: np.ndarray):
        self.table = np.asarray(table, dtype=object)
        self.codes = codes

    def at(self, idx: np.ndarray) -> np.ndarray:
        return self.table[self.codes[idx]]


class Problems:
    """Collects problems as (long row index, canonical column, value, reason, message)."""

    def __init__(self, long: pd.DataFrame):
        self.long = long
        self.parts: list[pd.DataFrame] = []

    def add(self, mask, column, reason, message, value=None):
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            return
        idx = np.flatnonzero(mask)
        if value is None:
            value = self.long[column] if column in self.long.columns else ""
        self.parts.append(
            pd.DataFrame(
                {
                    "idx": self.long.index.to_numpy()[idx],
                    "column": column,
                    "value": _at(value, idx),
                    "reason": reason,
                    "message": _at(message, idx),
                }
            )
        )

    def rows(self) -> set:
        if not self.parts:
            return set()
        idx = np.concatenate([p["idx"].to_numpy() for p in self.parts])
        return set(self.long.loc[idx, "source_row"].tolist())


def _at(values, idx: np.ndarray):
    """``values`` at the positions ``idx`` (a scalar stays a scalar)."""
    if isinstance(values, Lookup):
        return values.at(idx)
    if isinstance(values, pd.Series):
        return values.iloc[idx].to_numpy(dtype=object)
    if isinstance(values, np.ndarray):
        return values[idx]
    return values


def missing_marker(text: pd.Series) -> np.ndarray:
    """Cells holding a missing-value marker (``N/A``, ``NULL``, ``-``...) or only whitespace.

    Examples
    --------
    >>> missing_marker(pd.Series(["C1", "n/a", " ", ""])).tolist()
    [False, True, True, False]
    """
    codes, uniques = codes_of(text)
    flags = _marker_flags(uniques)
    return per_row(flags, codes) if len(codes) else np.zeros(0, dtype=bool)


_IDENTIFIER_TEXT = [*_IDENTIFIERS, "site"]


def _text_codes(column: pd.Series):
    """(codes, distinct values) of a text column; a categorical's distinct values stay its
    categories (an Index of text)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        return column.array.codes, column.cat.categories
    return codes_of(column)


def _marker_flags(uniques: np.ndarray) -> np.ndarray:
    text = pd.Series(uniques, dtype="str")
    folded = text.str.strip()
    flags = ((folded == "") | folded.str.upper().isin(ID_MISSING_MARKERS)).to_numpy(dtype=bool)
    return flags & (text != "").to_numpy(dtype=bool)


def _label_column(codes: np.ndarray, canon: np.ndarray, vocabulary: str) -> pd.Series:
    """Canonical labels as a categorical whose categories are every label of the vocabulary
    (sorted), so that two columns of one vocabulary compare directly."""
    labels = sorted(accepted_labels(vocabulary))
    position = {label: k for k, label in enumerate(labels)}
    per_unique = np.array([position.get(c, -1) for c in canon] + [-1], dtype=np.int64)
    # np.take's "wrap" is Python indexing for code -1 (the last slot) and, unlike the
    # default, does not buffer; a million codes are looked up in one pass
    small = np.take(per_unique.astype(np.int8), codes, mode="wrap")
    return pd.Series(pd.Categorical.from_codes(small, categories=pd.Index(labels, dtype="str")))


class _Blank(dict):
    """Per-row "the cell is empty" of a column, computed when first asked for."""

    def __init__(self, coded: dict):
        super().__init__()
        self.coded = coded

    def __missing__(self, column: str) -> np.ndarray:
        codes, uniques = self.coded[column]
        if not len(uniques):
            value = np.ones(len(codes), dtype=bool)
        else:  # code -1 (none here: long columns have no missing value) as Python indexing
            value = per_row(np.asarray(uniques == "", dtype=bool), codes)
        self[column] = value
        return value


class _Instruments:
    """Per-row instrument facts through the instrument codes (-1: unknown instrument, whose
    facts are the defaults in the last slot)."""

    def __init__(self, instrument: pd.Series):
        self.names = list(instrument.cat.categories)
        self.codes = instrument.array.codes.astype(np.int64)
        self._rows = np.where(self.codes < 0, len(self.names), self.codes).astype(np.int32)

    def table(self, fact, default) -> np.ndarray:
        values = [fact(INSTRUMENTS[n]) if n in INSTRUMENTS else default for n in self.names]
        return np.array([*values, default], dtype=object)

    def numbers(self, fact, default=np.nan) -> np.ndarray:
        return self.table(fact, default).astype(float)

    def lookup(self, fact, default) -> Lookup:
        return Lookup(self.table(fact, default), self.codes)

    def cells(self, codes: np.ndarray, n_values: int) -> np.ndarray:
        """Position of each row's (instrument, value) pair in a raveled per-instrument table
        (computed once per column, then shared by the look-ups of that column)."""
        if (len(self.names) + 1) * n_values < np.iinfo(np.int32).max:
            return self._rows * np.int32(n_values) + codes.astype(np.int32)
        return self._rows.astype(np.int64) * n_values + codes

    def pairs(self, codes: np.ndarray, n_values: int):
        """A function giving ``per_instrument[instrument, value]`` for each row (a 2-d table
        look-up) of the column with value ``codes``; the rows' cells in the raveled table
        are computed when first needed (a table holding one value needs none)."""
        cells = []

        def look(per_instrument: np.ndarray) -> np.ndarray:
            if single_valued(per_instrument):
                return per_row(per_instrument.ravel()[:1], codes)
            if not cells:
                cells.append(self.cells(codes, n_values))
            return per_row(per_instrument.ravel(), cells[0])

        return look


def _used(codes: np.ndarray, uniques: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The codes and distinct values restricted to the values some row holds (a
    categorical may carry categories that no row of this frame uses)."""
    used = np.zeros(len(uniques) + 1, dtype=bool)
    used[codes] = True  # code -1 marks the spare last slot
    used = used[:-1]
    if used.all():
        return codes, uniques
    remap = np.full(len(uniques) + 1, -1, dtype=np.int64)
    remap[np.flatnonzero(used)] = np.arange(int(used.sum()))
    return np.take(remap, codes, mode="wrap"), uniques[used]


def _text_flags(uniques: np.ndarray, pattern: str) -> np.ndarray:
    return pd.Series(uniques, dtype="str").str.contains(pattern, regex=True).to_numpy(bool)


def row_checks(long: pd.DataFrame, raw: RawInput, prorate_rounding: str):
    """Stage 1; returns the problems and the parsed, scored frame (text as categoricals)."""
    # identifiers keep their distinct values as Arrow text (hundreds of thousands of them:
    # checked and sorted by pyarrow, never a Python string each)
    coded = {c: _text_codes(long[c]) if c in _IDENTIFIER_TEXT else codes_of(long[c])
             for c in long.columns if c != "source_row"}  # fmt: skip
    blank = _Blank(coded)
    for c in _BLANK_NEEDED:  # filled here: the threads below only read them
        if c in coded:
            blank[c]
    labels, label_problems = {}, Problems(long)
    _label_checks(label_problems, labels, coded)
    inst = _Instruments(labels["instrument"])
    # The checks of identifiers, of session numbers and dates, and of each item column are
    # independent: two threads take them in turn (numpy works outside the GIL, so both
    # cores are busy), then the scores, one instrument per task. Each task writes its own
    # problems and columns, which are put together below in one fixed order.
    ids, id_problems = {}, Problems(long)
    rest, rest_problems = {}, Problems(long)
    scores, score_problems = {}, Problems(long)
    with ThreadPoolExecutor(worker_threads()) as threads:
        identifiers = threads.submit(_identifier_checks, id_problems, ids, coded, blank, raw)
        numbers = threads.submit(_number_and_date_checks, rest_problems, rest, coded, blank)
        items = _rating_checks(score_problems, scores, coded, blank, inst, prorate_rounding,
                               threads)  # fmt: skip
        marker = identifiers.result()
        numbers.result()
    pr = Problems(long)
    pr.parts = [*id_problems.parts, *label_problems.parts, *rest_problems.parts,
                *score_problems.parts]  # fmt: skip
    out = {"source_row": long["source_row"].to_numpy(), **ids, **labels, **rest, **scores}
    group = np.asarray(out["format"] == "group", dtype=bool) & out["group_id"].isna().to_numpy()
    pr.add(
        group,
        "group_id",
        "group_without_group_id",
        Lookup(["format is group but group_id is blank",
                "format is group but group_id is a missing-value marker"],
               marker["group_id"].astype(np.int64)),  # fmt: skip
    )
    return pr, _frame(out, items, long.index)


def _identifier_checks(pr, out, coded, blank, raw) -> dict:
    """Required columns present, identifiers without control characters; the identifier
    columns as sorted categoricals (blanks and missing-value markers as NA). Returns the
    per-row "is a missing-value marker" of each identifier column."""
    has_episode = "episode_id" in raw.frame.columns
    required = ["client_id", "session", "format"] + (["episode_id"] if has_episode else [])
    if raw.layout == "long":
        required.append("instrument")
    flags = {c: _marker_flags(coded[c][1]) for c in _IDENTIFIERS}
    marker = {c: per_row(flags[c], coded[c][0]) for c in _IDENTIFIERS}
    for col in required:
        pr.add(blank[col], col, "missing_required", f"{col} is required")
        if col in marker:
            pr.add(
                marker[col],
                col,
                "missing_required",
                f"{col} is required; this is a missing-value marker, not an identifier",
            )
    for col in _IDENTIFIERS:
        codes, uniques = coded[col]
        bad = _text_flags(uniques, _CONTROL) & ~flags[col]
        if not bad.any():  # the usual case: no value to show, none of them formatted
            continue
        shown = Lookup([ascii(u) for u in uniques], codes)
        pr.add(bad[codes], col, "bad_identifier", f"{col} contains a control character",
               value=shown)  # fmt: skip

    for col in ["client_id", "therapist_id", "site", "group_id"]:
        codes, uniques = coded[col]
        gone = blank[col] | marker[col] if col in marker else blank[col]
        out[col] = sorted_categorical(np.where(gone, -1, codes), uniques)
    episode = "episode_id" if has_episode else "client_id"
    codes, uniques = coded[episode]
    out["episode_id"] = sorted_categorical(
        np.where(blank[episode] | marker[episode], -1, codes), uniques
    )
    return marker


def _label_checks(pr, out, coded) -> None:
    """Labels of a fixed vocabulary (format, problem area, instrument...), canonicalised."""
    for col, vocabulary in COLUMN_VOCABULARY.items():
        optional = col in OPTIONAL_LABEL_COLUMNS
        codes, uniques = coded[col]
        canon, unknown = normalise_distinct(
            uniques, vocabulary, missing_labels=MISSING_LABELS if optional else ()
        )
        accepted = ", ".join(accepted_labels(vocabulary))
        blank_ok = " or blank/'unknown' when not known" if optional else ""
        pr.add(
            per_row(unknown, codes),
            col,
            "unknown_label",
            f"not an accepted {col} label; accepted: {accepted} (or an alias){blank_ok}",
        )
        out[col] = _label_column(codes, canon, vocabulary)


def _number_and_date_checks(pr, out, coded, blank) -> None:
    """Session numbers (whole, 1 to MAX_SESSIONS) and dates."""
    for col in ["session", "planned_sessions"]:
        codes, uniques = coded[col]
        value, whole = parse_distinct_numbers(uniques, WHOLE_NUMBER)
        value, whole = per_row(value, codes), per_row(whole, codes)
        pr.add(~whole & ~blank[col], col, "non_numeric", f"{col} must be a whole number >= 1")
        out_of_range = whole & ((value < 1) | (value > MAX_SESSIONS))
        pr.add(out_of_range, col, "value_out_of_range", f"{col} must be 1-{MAX_SESSIONS}")
        out[col] = value

    # only the dates of the rows checked here: whether a file's slash dates are ambiguous
    # depends on the dates it holds, not on those of rows dropped before (a row without
    # ratings, a short row) or on categories a DataFrame carries unused
    codes, uniques = _used(*coded["date"])
    dates, bad, message = parse_distinct_dates(pd.Series(uniques, dtype="str"))
    pr.add(per_row(bad.to_numpy(dtype=bool), codes), "date", "bad_date",
           Lookup(message.to_numpy(dtype=object), codes))  # fmt: skip
    day = dates.to_numpy(dtype="datetime64[ns]")
    out["date"] = pd.Series(np.take(day, codes, mode="wrap") if len(codes) else day[:0])


def _rating_checks(pr, out, coded, blank, inst, prorate_rounding, threads) -> np.ndarray:
    """Items, given totals and the scores; returns the item block (see :func:`_frame`)."""
    item_bad, items = _item_checks(pr, out, coded, inst, threads)
    total, total_ok = _total_checks(pr, coded, inst)
    _score(pr, out, items, inst, total, total_ok, blank["total"], item_bad, prorate_rounding,
           threads)  # fmt: skip
    return items


def _frame(out: dict, items: np.ndarray, index: pd.Index) -> pd.DataFrame:
    """The parsed rows as one DataFrame; the item answers are one int8 block (written in
    place by the item checks, -1 when unanswered), each row of which becomes a nullable
    ``Int8`` column without a copy of its values."""
    parts = []
    for name, values in out.items():
        if name in ITEM_COLUMNS:
            row = items[ITEM_COLUMNS.index(name)]
            parts.append(([name], pd.arrays.IntegerArray(row, row < 0)))
        else:
            parts.append(([name], values.array if isinstance(values, pd.Series) else values))
    return assemble_frame(list(out), parts).set_axis(index, axis=0)


def _item_checks(pr, out, coded, inst, threads) -> tuple[np.ndarray, np.ndarray]:
    """Items: whole numbers in the form's range, none beyond its last item."""
    item_min = inst.numbers(lambda i: i.item_min)[:, None]
    item_max = inst.numbers(lambda i: i.item_max)[:, None]
    n_items = inst.numbers(lambda i: i.n_items, default=len(ITEM_COLUMNS))[:, None]
    label = inst.table(lambda i: i.label, "the instrument")
    item_msg = inst.lookup(lambda i: f"{i.label} items are {i.item_min}-{i.item_max}", "")
    # the answers go straight into one block of one byte each (-1: no usable answer); item
    # answers are 0-4, so a byte holds every answer a row can be accepted with
    block = np.empty((len(ITEM_COLUMNS), len(inst.codes)), dtype=np.int8)

    def check(j: int, col: str):
        """(problems to add, rows with a bad answer) of item column ``col`` (item ``j``)."""
        codes, uniques = coded[col]
        if not (uniques != "").any():  # column absent or empty: nothing to check
            block[j - 1] = -1
            return [], None
        value, numeric = parse_distinct_numbers(uniques, NUMBER)
        _, whole = parse_distinct_numbers(uniques, SIGNED_WHOLE_NUMBER)
        empty = uniques == ""
        non_numeric = ~empty & ~numeric
        fractional = ~np.isnan(value) & ~whole
        value = np.where(fractional, np.nan, value)
        beyond_tab = ~empty[None, :] & (j > n_items)  # (instrument, distinct value)
        with np.errstate(invalid="ignore"):
            oor_tab = ~fractional & ~beyond_tab & ((value < item_min) | (value > item_max))
        # the three checks as bits of one small table (instrument x distinct value)
        status = (
            (non_numeric | fractional)[None, :] * np.int8(1)
            + beyond_tab * np.int8(2)
            + oor_tab * np.int8(4)
        ).astype(np.int8)
        # the answers whatever the instrument; an answer beyond the form's last item (rare,
        # and its row is rejected) is blanked below, among the rows with a problem. A value
        # outside 0-127 (out of every item range: its row is rejected) is stored as -1
        with np.errstate(invalid="ignore"):
            small = (value >= 0) & (value <= 127)
        # mode "wrap": numpy would buffer the output under the default mode (the codes index
        # their own distinct values, so none is out of range)
        np.take(np.where(small, value, -1).astype(np.int8), codes, out=block[j - 1], mode="wrap")
        # a row has a problem only if its (instrument, value) pair has one. The pairs that
        # occur are counted first: most pairs with a problem never occur (an answer of 2 is
        # beyond the last GAD-7 item in column item_8, but GAD-7 rows leave item_8 blank)
        if not status.any():
            return [], None
        flat = status.ravel()
        cells = inst.cells(codes, len(uniques))
        held = np.bincount(cells, minlength=flat.size).astype(bool)
        if not flat[held].any():
            return [], None
        rows = np.flatnonzero(np.take(flat, cells, mode="wrap"))
        pair_status = flat[cells[rows]]
        n = len(codes)
        not_number, beyond, out_of_range = (
            _spread(rows, (pair_status & bit).astype(bool), n) for bit in (1, 2, 4)
        )
        found = [(not_number, col, "non_numeric",
                  "item answers are whole numbers written with ASCII digits 0-9")]  # fmt: skip
        if beyond.any():  # messages are built only where needed (a string per row is slow)
            fewer = Lookup([f"{t} has fewer than {j} items" for t in label], inst.codes)
            found.append((beyond, col, "unexpected_item", fewer))
            block[j - 1][beyond] = -1
        found.append((out_of_range, col, "item_out_of_range", item_msg))
        return found, _spread(rows, pair_status != 0, n)

    results = list(threads.map(check, range(1, len(ITEM_COLUMNS) + 1), ITEM_COLUMNS))
    item_bad = np.zeros(len(inst.codes), dtype=bool)
    for col, (found, bad) in zip(ITEM_COLUMNS, results, strict=True):
        out[col] = block[ITEM_COLUMNS.index(col)]
        for problem in found:
            pr.add(*problem)
        if bad is not None:
            item_bad |= bad
    return item_bad, block


def _total_checks(pr, coded, inst):
    """Given totals: plain numbers, whole (PHQ-9: or a prorated value), in range."""
    codes, uniques = coded["total"]
    value, numeric = parse_distinct_numbers(uniques, NUMBER)
    empty = uniques == ""
    pr.add(per_row(~empty & ~numeric, codes), "total", "non_numeric",
           "the total must be a plain number")  # fmt: skip
    label = inst.table(lambda i: i.label, "the instrument")
    is_phq9 = np.array([n == "phq9" for n in inst.names] + [False])[:, None]
    with np.errstate(invalid="ignore"):
        fraction = ~np.isnan(value) & (value != np.floor(value))
        whole_only_tab = ~is_phq9 & fraction[None, :]
        prorated = is_prorated_phq9(pd.Series(value)).to_numpy()
        not_prorated_tab = is_phq9 & (fraction & ~prorated)[None, :]
        total_min = inst.numbers(lambda i: i.total_min)[:, None]
        total_max = inst.numbers(lambda i: i.total_max)[:, None]
        oor_tab = (value < total_min) | (value > total_max)
    pairs = inst.pairs(codes, len(uniques))
    whole_only = pairs(whole_only_tab)
    if whole_only.any():
        pr.add(whole_only, "total", "non_numeric",
               Lookup([f"{t} totals are whole numbers" for t in label], inst.codes))  # fmt: skip
    pr.add(
        pairs(not_prorated_tab),
        "total",
        "non_numeric",
        "a PHQ-9 total with decimals must be a prorated total (the sum of 7 or 8 answered "
        "items x 9/7 or 9/8, e.g. 10.125 or 11.57); this value is not one (a percentage "
        "or a typing error?)",
    )
    total_oor = pairs(oor_tab)
    if total_oor.any():
        qids = " (sum of 9 domain scores; a plain sum of the 16 items is not a QIDS-SR16 score)"
        pr.add(
            total_oor,
            "total",
            "total_out_of_range",
            inst.lookup(
                lambda i: f"{i.label} totals are {i.total_min}-{i.total_max}"
                + (qids if i.name == "qids_sr16" else ""),
                "",
            ),
        )
    ok_tab = ~np.isnan(value)[None, :] & ~oor_tab & ~whole_only_tab & ~not_prorated_tab
    return per_row(value, codes), pairs(ok_tab)


def _spread(rows: np.ndarray, sub_mask: np.ndarray, n: int) -> np.ndarray:
    """Mask over all ``n`` rows from a mask over the rows at positions ``rows``."""
    mask = np.zeros(n, dtype=bool)
    mask[rows[sub_mask]] = True
    return mask


_REASON_CODE = {name: k for k, name in enumerate(SCORING_REASONS)}
_RULE_CODE = {name: k for k, name in enumerate(SCORING_RULES)}


def _score(problems, out, items, inst, total, total_ok, total_blank, item_bad, prorate_rounding,
           threads):
    """Score each instrument's rows whose items are usable; check given totals against them.

    Items present: the scored total is kept and a given total must agree with it (for a
    prorated PHQ-9, any value between the floor and ceiling of the exact prorated total).
    No items: the given total is kept (``scoring_rule = "given_total"``).
    """
    n = len(inst.codes)
    final_total = np.full(n, np.nan)
    rule_names = [*SCORING_RULES, "given_total"]
    rule_code = np.full(n, -1, dtype=np.int8)
    band_names = sorted({b for i in INSTRUMENTS.values() for b in i.band_labels})
    band_code = np.full(n, -1, dtype=np.int8)
    n_missing = np.zeros(n, dtype=np.int64)
    safety = np.zeros(n, dtype=bool)
    safety_na = np.zeros(n, dtype=bool)

    def one(name, spec) -> list:
        """Score the rows of one instrument (rows of different instruments are disjoint,
        so the instruments are scored side by side); returns its problems."""
        pr = Problems(problems.long)
        k = inst.names.index(name)
        rows = np.flatnonzero((inst.codes == k) & ~item_bad)
        if not len(rows):
            return pr.parts
        # (rows, items) as the transpose of the block's first rows: one gather, no copy per item
        x = np.take(items[: spec.n_items], rows, axis=1).T  # int8, -1: unanswered
        exact, missing, rule, reason = score_codes(x, spec, prorate_rounding=prorate_rounding)
        given, given_ok = total[rows], total_ok[rows]
        no_items = reason == _REASON_CODE["all_items_missing"]  # codes, not strings per row
        partial = reason == _REASON_CODE["too_many_missing_items"]
        prorated = rule == _RULE_CODE["prorated_mean"]
        lo, hi = exact, exact
        if prorated.any():  # the exact prorated total of those rows only (1-2 items missing)
            at = np.flatnonzero(prorated)
            in_total = x[at][:, [i - 1 for i in spec.total_items]]
            answered = len(spec.total_items) - missing[at]
            sums = np.where(in_total < 0, 0, in_total).sum(axis=1).astype(float)
            unrounded = sums * len(spec.total_items) / answered
            lo, hi = exact.copy(), exact.copy()
            lo[at], hi[at] = np.floor(unrounded), np.ceil(unrounded)
        with np.errstate(invalid="ignore"):
            mismatch = given_ok & ~no_items & ~partial & ((given < lo - 1e-9) | (given > hi + 1e-9))
        if mismatch.any():
            at = np.flatnonzero(mismatch)
            message = np.full(n, "", dtype=object)
            message[rows[at]] = [
                f"given total differs from the total scored from the items ({t:g}"
                + (", prorated" if p else "")
                + ")"
                for t, p in zip(exact[at], prorated[at], strict=True)
            ]
            pr.add(_spread(rows, mismatch, n), "total", "total_mismatch", message)
        if partial.any():
            _missing_items(pr, spec, x, rows, partial, n)
        nothing = no_items & ~given_ok & total_blank[rows]
        pr.add(_spread(rows, nothing, n), "total", "missing_required",
               f"{spec.label}: no items and no total", "")  # fmt: skip

        final = np.where(no_items, given, exact)
        final = np.where(no_items & ~given_ok, np.nan, final)
        with np.errstate(invalid="ignore"):
            final_ok = ~np.isnan(final) & (final >= spec.total_min) & (final <= spec.total_max)
        final = np.where(final_ok, final, np.nan)
        final_total[rows] = final
        rule_code[rows] = np.where(no_items, len(SCORING_RULES), rule)
        bands = np.searchsorted(np.array([low for low, _, _ in spec.bands], dtype=float), final,
                                side="right") - 1  # fmt: skip
        band_index = np.array([band_names.index(b) for b in spec.band_labels])
        band_code[rows] = np.where(
            np.isnan(final), -1, band_index[np.clip(bands, 0, len(spec.bands) - 1)]
        )
        n_missing[rows] = missing
        # a bare total says nothing about item 9: the flag is unknown, not False
        flag = safety_codes(x, spec)
        na = np.asarray(flag.isna(), dtype=bool)
        if spec.safety_item is not None:
            na = na | no_items
        safety[rows] = np.asarray(flag.fillna(False), dtype=bool)
        safety_na[rows] = na
        return pr.parts

    # in the table's order, as problems are listed
    present = [(name, spec) for name, spec in INSTRUMENTS.items() if name in inst.names]
    for parts in threads.map(lambda pair: one(*pair), present):
        problems.parts.extend(parts)
    out["total"] = final_total
    # a handful of labels: codes, not strings
    out["severity"] = pd.Series(pd.Categorical.from_codes(band_code, categories=band_names))
    out["scoring_rule"] = sorted_categorical(rule_code, rule_names)
    out["n_items_missing"] = n_missing
    out["safety_flag"] = pd.arrays.BooleanArray(safety, safety_na)


def _missing_items(pr, spec, x, rows, partial, n) -> None:
    """``too_many_missing_items``, named at the first missing item, listing all of them."""
    in_total = x[:, [i - 1 for i in spec.total_items]] < 0
    rule = (
        f"at most {spec.max_missing_items} may be missing"
        if spec.max_missing_items
        else "no missing-item rule exists, so no item may be missing"
    )
    at = np.flatnonzero(partial)
    message = np.full(n, "", dtype=object)
    message[rows[at]] = [
        f"{spec.label} items "
        + ", ".join(str(spec.total_items[m]) for m in np.flatnonzero(in_total[a]))
        + f" missing; {rule}"
        for a in at
    ]
    first = np.array([spec.total_items[np.flatnonzero(in_total[a])[0]] for a in at])
    for item in sorted(set(first.tolist()), key=lambda i: f"item_{i}"):
        pick = np.zeros(n, dtype=bool)
        pick[rows[at[first == item]]] = True
        pr.add(pick, f"item_{item}", "too_many_missing_items", message, value="")
