"""Check session data against the data contract, row by row and episode by episode.

Every input row ends in exactly one of three places: accepted, rejected (with one problem
row per thing that is wrong, each with a named reason), or collapsed as an exact duplicate
of an earlier row. Accounting is on *input* rows: a wide row that carries several
administrations (e.g. PHQ-9 and GAD-7 of one session) is accepted or rejected as a whole,
and every problem found in it is listed. Hence always::

    n_accepted_rows + n_rejected_rows + n_duplicates_collapsed == n_input_rows

Checks run in this order; a row rejected by an earlier stage is not looked at again:

0. cells the reader could not read as a value (:attr:`RawInput.cell_problems`):
   ``field_count`` (a CSV row with fewer or more fields than the header) and
   ``spreadsheet_error`` (``#N/A``, ``#DIV/0!`` and the other error values, and ``.xlsx``
   formulas without a calculated value), each naming the cell;
1. row checks: ``missing_required`` (a blank, or a missing-value marker such as ``N/A``,
   ``NULL``, ``NA``, ``-`` in client_id or episode_id: an identifier is never a marker),
   ``bad_identifier`` (an identifier containing a control character), ``non_numeric``
   (ASCII digits only; a value that is not exactly representable, such as
   ``2.9999999999999999``, is not read as a number), ``value_out_of_range`` (session or
   planned_sessions outside 1-1000), ``unknown_label``, ``bad_date``,
   ``unexpected_item`` (an item number beyond the form, long layout),
   ``item_out_of_range``, ``total_out_of_range``, ``too_many_missing_items``,
   ``total_mismatch``, ``group_without_group_id``;
2. ``duplicate_conflict``: rows with the same episode, session and instrument but
   different values are all rejected;
3. ``session_conflict``: rows of the same episode and session (e.g. PHQ-9 and GAD-7 rows
   of a long file) that disagree on client, date, format, therapist, site, group or
   medication;
4. ``episode_conflict``: an episode whose rows disagree on client_id, problem_area,
   secondary_problem_area, planned_sessions or end_reason (non-missing values); all its
   rows are rejected;
5. ``secondary_equals_primary``: rows whose secondary_problem_area is the episode's
   problem_area (a second area must be a different one; the rows are rejected rather than
   the label dropped, since the intended area is unknown);
6. ``date_order``: within an episode, dates must not decrease as session numbers
   increase. The rows rejected are those of sessions outside at least one longest
   consistent (non-decreasing) sequence of sessions, so a single mistyped date rejects
   only its own session, while two swapped sessions are both rejected;
7. exact duplicates (identical after parsing, e.g. ``"Group"`` = ``"group"``) are collapsed
   to the first row and counted.

Dates: ``YYYY-MM-DD`` (an ISO time after it, with or without a UTC offset, is accepted and
dropped: the date is the one written) and ``DD/MM/YYYY``.
A slash date whose second field exceeds 12 cannot be DD/MM/YYYY and is rejected; if a file
contains any such date, every slash date in it whose day and month are both <= 12 is
rejected too, because the file's order of day and month is then unknown. Impossible dates
(2025-02-30), years outside 1900-2100 and dates after today (the day the data are read; a
rating cannot be completed in the future) are rejected.

QIDS-SR16 totals given without items cannot be checked to be sums of the 9 domain scores;
a total above 27 (typically a plain sum of the 16 items) is rejected as
``total_out_of_range``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ipt_analytics.instruments.scoring import score_items, severity_bands
from ipt_analytics.instruments.table import INSTRUMENTS
from ipt_analytics.io.cell_parsing import (
    SIGNED_WHOLE_NUMBER,
    WHOLE_NUMBER,
    is_prorated_phq9,
    parse_dates,
    parse_numbers,
    to_numbers,
)
from ipt_analytics.io.reading import ITEM_COLUMNS, SHARED_COLUMNS, RawInput, to_long
from ipt_analytics.vocab import (
    COLUMN_VOCABULARY,
    MISSING_LABELS,
    OPTIONAL_LABEL_COLUMNS,
    accepted_labels,
    normalise_labels,
)

__all__ = ["REASONS", "ValidationResult", "validate_raw"]

#: reason -> what to do about it (the "fix" in every message)
REASONS: dict[str, str] = {
    "missing_required": "fill in the value (required column)",
    "field_count": "give the row exactly as many fields as the header (check quoting and "
    "separators in that row)",
    "spreadsheet_error": "replace the error or formula by the value itself (recalculate and "
    "save the file in a spreadsheet program, or fix the formula)",
    "bad_identifier": "remove the control character from the identifier",
    "non_numeric": "write a plain number with ASCII digits 0-9, exactly (items and sessions: "
    "whole numbers)",
    "value_out_of_range": "session and planned_sessions are whole numbers 1-1000",
    "unknown_label": "use one of the accepted labels (see ipt_analytics.vocab.alias_table())",
    "bad_date": "write a real calendar date, not in the future, as YYYY-MM-DD",
    "unexpected_item": "remove item answers beyond the instrument's last item",
    "item_out_of_range": "correct the item answer to the instrument's item range",
    "total_out_of_range": "correct the total to the instrument's total range",
    "too_many_missing_items": "complete the items (only PHQ-9 allows 1-2 missing items)",
    "total_mismatch": "correct the total or the items so that they agree",
    "group_without_group_id": "give the group_id of the therapy group",
    "duplicate_conflict": "keep one of the conflicting rows and correct or delete the others",
    "session_conflict": "make the rows of one session agree",
    "episode_conflict": "make the rows of one episode agree (or split it into episodes)",
    "secondary_equals_primary": "leave secondary_problem_area blank or give a different area",
    "date_order": "correct the date or the session number",
}

#: Largest session number accepted (far above any course of therapy; guards typos).
MAX_SESSIONS = 1000
_SESSION_ATTRS = ["client_id", "date", "format", "therapist_id", "site", "group_id", "medication",
                  "contact_type"]  # fmt: skip
#: Values that mean "not known" and are never an identifier (compared after trimming and
#: upper-casing); a cell of only whitespace (any Unicode space) counts as blank too.
ID_MISSING_MARKERS = frozenset(
    ["NA", "N/A", "N.A.", "N/K", "NULL", "NIL", "NONE", "NAN", "-", "--", "---", "?",
     ".", "MISSING", "UNKNOWN", "NOT KNOWN", "NOT RECORDED", "#N/A", "<NA>"]
)  # fmt: skip
_IDENTIFIERS = ["client_id", "episode_id", "therapist_id", "group_id"]
_CONTROL = r"[\x00-\x1f\x7f-\x9f]"
_EPISODE_ATTRS = [
    "client_id",
    "problem_area",
    "secondary_problem_area",
    "planned_sessions",
    "end_reason",
]


class ValidationResult:
    """Outcome of :func:`validate_raw` (consumed by :class:`~ipt_analytics.SessionData`)."""

    def __init__(self, clean, problems, n_input, n_rejected, n_collapsed, notes):
        self.clean = clean
        self.problems = problems
        self.n_input_rows = n_input
        self.n_rejected_rows = n_rejected
        self.n_duplicates_collapsed = n_collapsed
        self.n_accepted_rows = n_input - n_rejected - n_collapsed
        self.notes = notes


class _Problems:
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
        val = value.to_numpy()[idx] if isinstance(value, pd.Series) else value
        msg = np.asarray(message)[idx] if isinstance(message, pd.Series | np.ndarray) else message
        self.parts.append(
            pd.DataFrame(
                {
                    "idx": self.long.index.to_numpy()[idx],
                    "column": column,
                    "value": val,
                    "reason": reason,
                    "message": msg,
                }
            )
        )

    def rows(self) -> set:
        if not self.parts:
            return set()
        idx = np.concatenate([p["idx"].to_numpy() for p in self.parts])
        return set(self.long.loc[idx, "source_row"].tolist())


def _by_instrument(code: pd.Series, values: dict, default):
    """``values[code]`` for each row (``default`` for other codes), looked up once per
    distinct code: a Series.map over a million text cells costs seconds."""
    codes, uniques = pd.factorize(code, use_na_sentinel=False)
    table = np.array([values.get(u, default) for u in uniques] or [default], dtype=object)
    return pd.Series(table[codes] if len(codes) else [], index=code.index, dtype=object)


def _instrument_facts(code: pd.Series, attr: str, default=np.nan) -> np.ndarray:
    values = {name: getattr(inst, attr) for name, inst in INSTRUMENTS.items()}
    return _by_instrument(code, values, default).to_numpy(dtype=float)


def _row_checks(long: pd.DataFrame, raw: RawInput, prorate_rounding: str):
    """Stage 1; returns problems and the parsed, scored frame."""
    pr = _Problems(long)
    out = pd.DataFrame(index=long.index)
    out["source_row"] = long["source_row"]

    has_episode = "episode_id" in raw.frame.columns
    required = ["client_id", "session", "format"] + (["episode_id"] if has_episode else [])
    if raw.layout == "long":
        required.append("instrument")
    marker = {c: _missing_marker(long[c]) for c in _IDENTIFIERS}
    for col in required:
        pr.add(long[col] == "", col, "missing_required", f"{col} is required")
        if col in marker:
            pr.add(
                marker[col],
                col,
                "missing_required",
                f"{col} is required; this is a missing-value marker, not an identifier",
            )
    for col in _IDENTIFIERS:
        control = long[col].str.contains(_CONTROL, regex=True).to_numpy() & ~marker[col]
        pr.add(control, col, "bad_identifier", f"{col} contains a control character",
               value=long[col].map(ascii))  # fmt: skip

    for col in ["client_id", "therapist_id", "site", "group_id"]:
        blank = long[col] == ""
        if col in marker:
            blank = blank | marker[col]
        out[col] = long[col].where(~blank, np.nan).astype("str")
    episode = long["episode_id"] if has_episode else long["client_id"]
    no_episode = (episode == "") | (marker["episode_id"] if has_episode else marker["client_id"])
    out["episode_id"] = episode.where(~no_episode, np.nan).astype("str")

    for col, vocabulary in COLUMN_VOCABULARY.items():
        optional = col in OPTIONAL_LABEL_COLUMNS
        canon, unknown = normalise_labels(
            long[col], vocabulary, missing_labels=MISSING_LABELS if optional else ()
        )
        accepted = ", ".join(accepted_labels(vocabulary))
        blank_ok = " or blank/'unknown' when not known" if optional else ""
        pr.add(
            unknown,
            col,
            "unknown_label",
            f"not an accepted {col} label; accepted: {accepted} (or an alias){blank_ok}",
        )
        out[col] = canon
    code = out["instrument"]

    for col in ["session", "planned_sessions"]:
        text = long[col]
        value, whole = parse_numbers(text, WHOLE_NUMBER)
        pr.add(~whole & (text != ""), col, "non_numeric", f"{col} must be a whole number >= 1")
        out_of_range = whole & ((value < 1) | (value > MAX_SESSIONS))
        pr.add(out_of_range, col, "value_out_of_range", f"{col} must be 1-{MAX_SESSIONS}")
        out[col] = value

    dates, bad, message = parse_dates(long["date"])
    pr.add(bad, "date", "bad_date", message)
    out["date"] = dates

    item_min = _instrument_facts(code, "item_min")
    item_max = _instrument_facts(code, "item_max")
    n_items = _instrument_facts(code, "n_items", default=len(ITEM_COLUMNS))
    label = _by_instrument(code, {k: v.label for k, v in INSTRUMENTS.items()}, "the instrument")
    item_msg = _by_instrument(
        code, {k: f"{v.label} items are {v.item_min}-{v.item_max}" for k, v in INSTRUMENTS.items()},
        "",
    )
    item_bad = np.zeros(len(long), dtype=bool)
    for j, col in enumerate(ITEM_COLUMNS, start=1):
        if not (long[col] != "").any():  # column absent or empty: nothing to check
            out[col] = np.float32(np.nan)
            continue
        value, blank, non_numeric = to_numbers(long[col])
        _, whole = parse_numbers(long[col], SIGNED_WHOLE_NUMBER)
        fractional = value.notna() & ~whole
        value = value.where(~fractional)
        pr.add(non_numeric | fractional, col, "non_numeric",
               "item answers are whole numbers written with ASCII digits 0-9")  # fmt: skip
        beyond = ~blank & (j > n_items)
        if beyond.any():  # messages are built only where needed (a string per row is slow)
            pr.add(beyond, col, "unexpected_item", label + f" has fewer than {j} items")
        out_of_range = (
            ~fractional & ~beyond & ((value < item_min) | (value > item_max))
        ).to_numpy()
        pr.add(out_of_range, col, "item_out_of_range", item_msg)
        item_bad |= (non_numeric | fractional | beyond).to_numpy() | out_of_range
        out[col] = value.where(~beyond).astype(np.float32)  # whole numbers: exact

    total, total_blank, total_nonnum = to_numbers(long["total"])
    total_min = _instrument_facts(code, "total_min")
    total_max = _instrument_facts(code, "total_max")
    pr.add(total_nonnum, "total", "non_numeric", "the total must be a plain number")
    fraction = total.notna() & (total != np.floor(total))
    whole_only = (code != "phq9") & fraction
    if whole_only.any():
        pr.add(whole_only, "total", "non_numeric", label + " totals are whole numbers")
    not_prorated = (code == "phq9") & fraction & ~is_prorated_phq9(total)
    pr.add(
        not_prorated,
        "total",
        "non_numeric",
        "a PHQ-9 total with decimals must be a prorated total (the sum of 7 or 8 answered "
        "items x 9/7 or 9/8, e.g. 10.125 or 11.57); this value is not one (a percentage "
        "or a typing error?)",
    )
    whole_only |= not_prorated
    total_oor = ((total < total_min) | (total > total_max)).to_numpy()
    if total_oor.any():
        qids_msg = np.where(
            code == "qids_sr16",
            " (sum of 9 domain scores; a plain sum of the 16 items is not a QIDS-SR16 score)",
            "",
        )
        pr.add(
            total_oor,
            "total",
            "total_out_of_range",
            _by_instrument(
                code,
                {k: f"{v.label} totals are {v.total_min}-{v.total_max}"
                 for k, v in INSTRUMENTS.items()},  # fmt: skip
                "",
            )
            + qids_msg,
        )
    total_ok = total.notna() & ~total_oor & ~whole_only

    _score(long, out, pr, total, total_ok, total_blank, item_bad, prorate_rounding)
    group = out["format"] == "group"
    pr.add(
        group & out["group_id"].isna(),
        "group_id",
        "group_without_group_id",
        np.where(marker["group_id"], "format is group but group_id is a missing-value marker",
                 "format is group but group_id is blank"),  # fmt: skip
    )
    return pr, out


def _missing_marker(text: pd.Series) -> pd.Series:
    """Cells holding a missing-value marker (``N/A``, ``NULL``, ``-``...) or only whitespace."""
    codes, uniques = pd.factorize(text, use_na_sentinel=False)
    folded = pd.Series(uniques, dtype="str").str.strip()
    flags = ((folded == "") | folded.str.upper().isin(ID_MISSING_MARKERS)).to_numpy(dtype=bool)
    flags = flags.copy()
    flags &= pd.Series(uniques, dtype="str").to_numpy() != ""
    return pd.Series(flags[codes] if len(codes) else [], index=text.index, dtype=bool)


def _spread(rows: np.ndarray, sub_mask: np.ndarray) -> np.ndarray:
    """Mask over all rows from a mask over the rows selected by ``rows``."""
    mask = np.zeros(len(rows), dtype=bool)
    mask[np.flatnonzero(rows)[sub_mask]] = True
    return mask


def _score(long, out, pr, total, total_ok, total_blank, item_bad, prorate_rounding):
    """Score each instrument's rows whose items are usable; check given totals against them.

    Items present: the scored total is kept and a given total must agree with it (for a
    prorated PHQ-9, any value between the floor and ceiling of the exact prorated total).
    No items: the given total is kept (``scoring_rule = "given_total"``).
    """
    code = out["instrument"]
    for col in ["total", "severity", "scoring_rule"]:
        out[col] = np.nan
    out["total"] = out["total"].astype(float)
    out["severity"] = out["severity"].astype(object)
    out["scoring_rule"] = out["scoring_rule"].astype(object)
    out["n_items_missing"] = 0
    out["safety_flag"] = pd.array(np.zeros(len(out), dtype=bool), dtype="boolean")
    for name, inst in INSTRUMENTS.items():
        rows = (code == name).to_numpy() & ~item_bad
        if not rows.any():
            continue
        sub = out.loc[rows, inst.item_columns].astype(float)
        scored = score_items(sub, inst, prorate_rounding=prorate_rounding)
        given = total[rows]
        given_ok = total_ok[rows]
        no_items = (scored["reason"] == "all_items_missing").to_numpy()
        partial = (scored["reason"] == "too_many_missing_items").to_numpy()
        idx = sub.index
        prorated = (scored["scoring_rule"] == "prorated_mean").to_numpy()
        exact = scored["total"].to_numpy()
        if prorating := prorated.any():
            sums = sub[[f"item_{i}" for i in inst.total_items]].sum(axis=1).to_numpy()
            answered = len(inst.total_items) - scored["n_items_missing"].to_numpy()
            unrounded = sums * len(inst.total_items) / np.maximum(answered, 1)
        else:
            unrounded = exact
        lo = np.where(prorated, np.floor(unrounded), exact) if prorating else exact
        hi = np.where(prorated, np.ceil(unrounded), exact) if prorating else exact
        g = given.to_numpy()
        mismatch = given_ok.to_numpy() & ~no_items & ~partial & ((g < lo - 1e-9) | (g > hi + 1e-9))
        if mismatch.any():
            mask = _spread(rows, mismatch)
            scored_txt = pd.Series(exact, index=idx).map("{:g}".format)
            msg = pd.Series("", index=long.index)
            msg.loc[idx] = (
                "given total differs from the total scored from the items ("
                + scored_txt
                + np.where(prorated, ", prorated", "")
                + ")"
            )
            pr.add(mask, "total", "total_mismatch", msg)

        missing_msg = pd.Series("", index=long.index)
        if partial.any():
            miss_cols = sub.loc[partial].isna()
            miss_cols = miss_cols[[f"item_{i}" for i in inst.total_items]]
            listed = miss_cols.apply(
                lambda r: ", ".join(c[5:] for c in r.index[r.to_numpy()]), axis=1
            )
            rule = (
                f"at most {inst.max_missing_items} may be missing"
                if inst.max_missing_items
                else "no missing-item rule exists, so no item may be missing"
            )
            missing_msg.loc[listed.index] = f"{inst.label} items " + listed + f" missing; {rule}"
            mask = _spread(rows, partial)
            first_missing = miss_cols.idxmax(axis=1)
            for item_col in sorted(set(first_missing)):
                pick = np.zeros(len(long), dtype=bool)
                pick[long.index.get_indexer(first_missing.index[first_missing == item_col])] = True
                pr.add(pick & mask, item_col, "too_many_missing_items", missing_msg, value="")

        nothing = no_items & ~given_ok.to_numpy() & total_blank[rows].to_numpy()
        mask = _spread(rows, nothing)
        pr.add(mask, "total", "missing_required", f"{inst.label}: no items and no total", "")

        final = np.where(no_items, g, exact)
        final = np.where(no_items & ~given_ok.to_numpy(), np.nan, final)
        rule = np.where(no_items, "given_total", scored["scoring_rule"].to_numpy())
        final_ok = ~np.isnan(final) & (final >= inst.total_min) & (final <= inst.total_max)
        final = np.where(final_ok, final, np.nan)
        out.loc[idx, "total"] = final
        out.loc[idx, "scoring_rule"] = rule
        out.loc[idx, "severity"] = severity_bands(final, inst)
        out.loc[idx, "n_items_missing"] = scored["n_items_missing"].to_numpy()
        # a bare total says nothing about item 9: the flag is unknown, not False
        safety = scored["safety_flag"].array.copy()
        if inst.safety_item is not None:
            safety[no_items] = pd.NA
        out.loc[idx, "safety_flag"] = safety
    for col in ["severity", "scoring_rule"]:  # a handful of labels: codes, not strings
        out[col] = out[col].astype("category")


def _flag_rows(out: pd.DataFrame, keep: np.ndarray, column: str, reason: str, messages):
    """Problem frame for rows of ``out`` (positions ``keep``) with one message each."""
    sub = out.iloc[keep]
    if column == "date":
        value = sub["date"].dt.strftime("%Y-%m-%d")
    elif column in ("session", "planned_sessions", "total") or column.startswith("item_"):
        value = sub[column].map("{:g}".format)
    else:
        value = sub[column].astype("str")
    return pd.DataFrame(
        {
            "idx": sub.index.to_numpy(),
            "column": column,
            "value": value.fillna("").to_numpy(),
            "reason": reason,
            "message": messages,
        }
    )


def _signature(frame: pd.DataFrame, columns: list[str]) -> pd.Series:
    return pd.util.hash_pandas_object(frame[columns], index=False)


def _conflicts(out, row_ok, value_cols):
    """Stage 2: same (episode, session, instrument) with different values."""
    live = _live(out, row_ok, ["episode_id", "session", "instrument", *value_cols])
    sig = _signature(live, value_cols)
    key = ["episode_id", "session", "instrument"]
    n_sig = sig.groupby([live[k] for k in key]).transform("nunique")
    bad = live.loc[(n_sig > 1).to_numpy()]
    if bad.empty:
        return []
    frames = []
    for (ep, sess, inst), grp in bad.groupby(key, sort=True):
        differing = [c for c in value_cols if grp[c].astype("str").nunique(dropna=False) > 1]
        rows = ", ".join(str(r) for r in sorted(grp["source_row"].unique()))
        msg = (
            f"episode {ep!r} session {int(sess)} {inst} appears in rows {rows} with "
            f"different {', '.join(differing)}"
        )
        pos = out.index.get_indexer(grp.index)
        frames.append(_flag_rows(out, pos, differing[0], "duplicate_conflict", msg))
    return frames


def _live(out, row_ok, columns):
    """The rows still accepted, with only the columns a stage needs (a stage never copies
    the whole table)."""
    columns = list(dict.fromkeys([*columns, "source_row"]))
    return out.loc[row_ok, columns] if not row_ok.all() else out[columns]


def _missing_as_value(column: pd.Series, codes: np.ndarray) -> np.ndarray:
    """Codes in which a missing value is one more value, the text ``<missing>`` (as in the
    messages); a cell holding that very text is the same value."""
    missing = codes < 0
    if not missing.any():
        return codes
    literal = np.flatnonzero((column.astype("str") == "<missing>").to_numpy(dtype=bool))
    codes = codes.copy()
    codes[missing] = codes[literal[0]] if len(literal) else codes.max() + 1
    return codes


def _several_values(group: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Whether each row's group (``group`` codes, -1 for no group: never) holds more than one
    distinct value (``codes``; -1 missing, not counted): the group's smallest and largest
    code differ. One vectorised pass, no sort and no groupby per column."""
    n_groups = int(group.max()) + 1 if len(group) else 0
    keep = group >= 0
    g = group[keep]
    low = np.full(n_groups, np.iinfo(np.int64).max, dtype=np.int64)
    high = np.full(n_groups, -1, dtype=np.int64)
    np.minimum.at(low, g, np.where(codes[keep] < 0, np.iinfo(np.int64).max, codes[keep]))
    np.maximum.at(high, g, codes[keep])
    several = low < high
    return np.where(keep, several[np.maximum(group, 0)] if n_groups else False, False)


def _group_conflicts(out, row_ok, by, attrs, reason, what):
    live = _live(out, row_ok, [*by, *attrs])
    frames = []
    if live.empty:
        return frames
    group = live.groupby(by, sort=False).ngroup().to_numpy(dtype=np.int64)  # -1: a key missing
    for col in attrs:
        # codes of the values (-1: missing) stand for their text: equal text, equal value
        codes = pd.factorize(live[col])[0].astype(np.int64)
        if len(codes) and codes.min() == codes.max():  # one value everywhere: no conflict
            continue
        if not (reason == "episode_conflict" and col != "client_id"):
            codes = _missing_as_value(live[col], codes)
        bad = live.loc[_several_values(group, codes)]
        for key, grp in bad.groupby(by, sort=True):
            key = key if isinstance(key, tuple) else (key,)
            values = sorted(grp[col].astype("str").fillna("<missing>").unique())
            rows = ", ".join(str(r) for r in sorted(grp["source_row"].unique()))
            msg = f"{what} {' '.join(map(str, key))} has different {col}: {values} (rows {rows})"
            pos = out.index.get_indexer(grp.index)
            frames.append(_flag_rows(out, pos, col, reason, msg))
    return frames


def _in_every_lis(dates: list) -> list[bool]:
    """Which elements belong to every longest non-decreasing subsequence.

    Quadratic in the episode's number of sessions (tens), run once per out-of-order episode.
    """
    n = len(dates)
    end = [1] * n
    start = [1] * n
    for i in range(n):
        for j in range(i):
            if dates[j] <= dates[i] and end[j] + 1 > end[i]:
                end[i] = end[j] + 1
    for i in range(n - 1, -1, -1):
        for j in range(i + 1, n):
            if dates[i] <= dates[j] and start[j] + 1 > start[i]:
                start[i] = start[j] + 1
    best = max(end)
    on_some = [end[i] + start[i] - 1 == best for i in range(n)]
    counts: dict[int, int] = {}
    for i in range(n):
        if on_some[i]:
            counts[end[i]] = counts.get(end[i], 0) + 1
    return [on_some[i] and counts[end[i]] == 1 for i in range(n)]


def _secondary_same(out, row_ok):
    live = _live(out, row_ok, ["episode_id", "problem_area", "secondary_problem_area"])
    primary = live.groupby("episode_id")["problem_area"].transform("first")
    same = live["secondary_problem_area"].notna() & (live["secondary_problem_area"] == primary)
    if not same.any():
        return []
    pos = out.index.get_indexer(live.index[same.to_numpy()])
    msg = (
        "secondary_problem_area is the same as the episode's problem_area ("
        + primary[same].astype("str")
        + ")"
    )
    return [_flag_rows(out, pos, "secondary_problem_area", "secondary_equals_primary", msg)]


def _date_order(out, row_ok):
    """Stage 6 in linear time: one grouped pass finds the out-of-order episodes; only their
    sessions are then examined (one groupby over that subset, not a rescan per episode)."""
    live = _live(out, row_ok & out["date"].notna().to_numpy(), ["episode_id", "session", "date"])
    if live.empty:
        return []
    per_session = live.groupby(["episode_id", "session"], sort=True)["date"].first().reset_index()
    step = per_session.groupby("episode_id")["date"].diff()
    bad_eps = per_session.loc[(step < pd.Timedelta(0)).to_numpy(), "episode_id"].unique()
    if len(bad_eps) == 0:
        return []
    bad = per_session[per_session["episode_id"].isin(bad_eps)]
    # plain arrays and slices: a pandas groupby costs milliseconds per group
    eps = bad["episode_id"].to_numpy()
    sess_no = bad["session"].to_numpy()
    day = bad["date"].to_numpy()
    text = pd.DatetimeIndex(day).strftime("%Y-%m-%d").to_numpy()
    bounds = np.flatnonzero(np.r_[True, eps[1:] != eps[:-1], True])
    wrong_keys, messages = [], {}
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        keep = np.array(_in_every_lis(day[a:b].astype(np.int64).tolist()))
        pos = np.flatnonzero(~keep)
        # show the out-of-order sessions with one dated neighbour on each side
        lo, hi = a + max(pos.min() - 1, 0), min(a + pos.max() + 2, b)
        order = ", ".join(f"session {int(sess_no[k])}: {text[k]}" for k in range(lo, hi))
        messages[eps[a]] = f"episode {eps[a]!r}: dates do not follow session order ({order})"
        wrong_keys.append(a + pos)
    wrong = bad.iloc[np.concatenate(wrong_keys)][["episode_id", "session"]].assign(_wrong=True)
    flagged = live[["episode_id", "session"]].merge(wrong, how="left", on=["episode_id", "session"])
    hit = flagged["_wrong"].fillna(False).to_numpy(dtype=bool)
    rows = live.index[hit]
    msg = live.loc[rows, "episode_id"].map(messages).to_numpy()
    return [_flag_rows(out, out.index.get_indexer(rows), "date", "date_order", msg)]


def validate_raw(raw: RawInput, *, prorate_rounding: str = "none") -> ValidationResult:
    """Validate and score a :class:`~ipt_analytics.io.reading.RawInput`.

    Returns a :class:`ValidationResult` with the clean long frame (``clean``), the problem
    table (``problems``: source_row, column, value, reason, message) and the row counts.
    """
    long, no_ratings = to_long(raw)
    pr, out = _row_checks(long, raw, prorate_rounding)
    problems = list(pr.parts)
    notes = []

    cells = raw.cell_problems
    rejected = pr.rows() | set(no_ratings.tolist()) | set(cells["source_row"].tolist())
    row_ok = ~out["source_row"].isin(rejected).to_numpy()

    value_cols = [
        c
        for c in [
            "client_id",
            "date",
            *[c for c in SHARED_COLUMNS if c not in ("client_id", "episode_id", "session", "date")],
            *ITEM_COLUMNS,
            "total",  # after the items: a differing item is the cause, the total follows
        ]
        if c in out.columns
    ]
    stage_checks = [
        lambda frame, ok: _conflicts(frame, ok, value_cols),
        lambda frame, ok: _group_conflicts(
            frame,
            ok,
            ["episode_id", "session"],
            _SESSION_ATTRS,
            "session_conflict",
            "episode/session",
        ),
        lambda frame, ok: _group_conflicts(
            frame, ok, ["episode_id"], _EPISODE_ATTRS, "episode_conflict", "episode"
        ),
        lambda frame, ok: _secondary_same(frame, ok),
        lambda frame, ok: _date_order(frame, ok),
    ]
    for check in stage_checks:
        found = check(out, row_ok)
        if found:
            problems.extend(found)
            rows = set(out.loc[np.concatenate([f["idx"].to_numpy() for f in found]), "source_row"])
            rejected |= rows
            row_ok = ~out["source_row"].isin(rejected).to_numpy()

    # exact duplicates: later copies of a (episode, session, instrument) are dropped; an
    # input row all of whose administrations were dropped is counted as collapsed
    live = out.loc[row_ok]
    dup = live.duplicated(["episode_id", "session", "instrument"], keep="first")
    kept_rows = set(live.loc[~dup, "source_row"])
    collapsed = set(live.loc[dup, "source_row"]) - kept_rows
    clean = live.loc[~dup] if dup.any() else live
    del live, out, stage_checks  # the working table is no longer needed: free it now

    no_rat = pd.DataFrame(
        {
            "source_row": no_ratings,
            "column": "(ratings)",
            "value": "",
            "reason": "missing_required",
            "message": "no item and no total of any instrument given",
        }
    )
    table = _problem_table(problems, long, raw, pd.concat([cells, no_rat], ignore_index=True))

    qids_bare = (clean["instrument"] == "qids_sr16") & (clean["scoring_rule"] == "given_total")
    if qids_bare.any():
        notes.append(
            f"{int(qids_bare.sum())} QIDS-SR16 total(s) were given without items; they "
            "cannot be checked to be sums of the 9 domain scores."
        )
    slash = long.loc[clean.index, "date"].str.contains("/", regex=False)
    if slash.any():
        # counted per input row: a wide row holds one date for several instruments
        n_slash = clean.loc[slash.to_numpy(), "source_row"].nunique()
        notes.append(
            f"{n_slash} date(s) written with slashes were read day first (DD/MM/YYYY,"
            " e.g. 03/04/2025 = 3 April 2025); if the file is month first, write the dates as "
            "YYYY-MM-DD."
        )
    optional_ids = [c for c in ("therapist_id", "group_id") if c in raw.frame.columns]
    n_markers = {c: int(_missing_marker(long[c]).sum()) for c in optional_ids}
    if any(n_markers.values()):
        listed = ", ".join(f"{n} {c}" for c, n in n_markers.items() if n)
        notes.append(
            f"missing-value markers (N/A, NULL, -, ...) read as blank, never as an "
            f"identifier: {listed} cell(s)."
        )
    notes.extend(_overlapping_episodes(clean))
    n_input = len(raw.frame)
    result = ValidationResult(clean, table, n_input, len(rejected), len(collapsed), notes)
    if result.n_accepted_rows != clean["source_row"].nunique():
        raise RuntimeError(  # pragma: no cover - internal accounting guard
            "validate_raw(): row accounting failed; please report this as a bug."
        )
    return result


def _overlapping_episodes(clean: pd.DataFrame) -> list[str]:
    """A note (not an error) on clients whose episodes' date ranges overlap."""
    dated = clean.loc[clean["date"].notna(), ["client_id", "episode_id", "date"]]
    spans = dated.groupby(["client_id", "episode_id"], sort=True)["date"].agg(["min", "max"])
    if spans.index.get_level_values("client_id").duplicated().sum() == 0:
        return []
    spans = spans.reset_index().sort_values(["client_id", "min", "episode_id"], kind="stable")
    running_end = spans.groupby("client_id")["max"].cummax()
    previous_end = running_end.groupby(spans["client_id"]).shift()
    overlap = spans.loc[(spans["min"] <= previous_end).to_numpy()]
    if overlap.empty:
        return []
    clients = overlap["client_id"].unique()
    # no identifiers in a note (notes reach shared output): the rows point to the episodes
    first_rows = clean.groupby("episode_id")["source_row"].min()
    rows = sorted(first_rows.reindex(overlap["episode_id"]).astype(int).tolist())[:5]
    return [
        f"{len(clients)} client(s) have episodes whose dates overlap (e.g. the episodes "
        f"starting at rows {', '.join(map(str, rows))} start before an earlier episode of the "
        "same client ended); check the episode_id values (a client is usually in one episode "
        "at a time)."
    ]


def _problem_table(problems, long, raw, no_rat) -> pd.DataFrame:
    columns = ["source_row", "column", "value", "reason", "message"]
    if problems:
        table = pd.concat(problems, ignore_index=True)
        table["source_row"] = long.loc[table["idx"], "source_row"].to_numpy()
        inst = long.loc[table["idx"], "instrument"].to_numpy()
        table["column"] = [
            raw.source_column(c, i) for c, i in zip(table["column"], inst, strict=False)
        ]
        table = table.drop(columns="idx")
        table = pd.concat([table, no_rat], ignore_index=True)
    else:
        table = no_rat
    table["value"] = table["value"].astype("str").fillna("")
    table["message"] = table["message"].astype("str") + ". Fix: " + table["reason"].map(REASONS)
    table = table[columns].drop_duplicates(["source_row", "column", "reason", "value"])
    table = table.sort_values("source_row", kind="stable").reset_index(drop=True)
    table["source_row"] = table["source_row"].astype(np.int64)
    for c in columns[1:]:
        table[c] = table[c].astype("str")
    return table
