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

import bisect
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

from ipt_analytics.io.coded import codes_of, ordered_codes, worker_threads
from ipt_analytics.io.reading import ITEM_COLUMNS, SHARED_COLUMNS, RawInput, to_long
from ipt_analytics.io.row_checks import MAX_SESSIONS, missing_marker, row_checks

__all__ = ["REASONS", "ValidationResult", "episode_overlap_notes", "validate_raw"]

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

_SESSION_ATTRS = ["client_id", "date", "format", "therapist_id", "site", "group_id", "medication",
                  "contact_type"]  # fmt: skip
_EPISODE_ATTRS = [
    "client_id",
    "problem_area",
    "secondary_problem_area",
    "planned_sessions",
    "end_reason",
]


class ValidationResult:
    """Outcome of :func:`validate_raw` (consumed by :class:`~ipt_analytics.SessionData`)."""

    def __init__(self, frame, rows, problems, n_input, n_rejected, n_collapsed, notes):
        self.frame = frame  # the parsed rows, text as categoricals
        # positions in ``frame`` of the accepted administrations, sorted by episode_id,
        # session and instrument (the order of the sessions table)
        self.rows = rows
        self.problems = problems
        self.n_input_rows = n_input
        self.n_rejected_rows = n_rejected
        self.n_duplicates_collapsed = n_collapsed
        self.n_accepted_rows = n_input - n_rejected - n_collapsed
        self.notes = notes


def _flag_rows(out: pd.DataFrame, keep: np.ndarray, column: str, reason: str, messages):
    """Problem frame for rows of ``out`` (positions ``keep``) with one message each."""
    sub = out[[column]].iloc[keep]  # the one column shown (flagged rows are few)
    if column == "date":
        value = sub["date"].dt.strftime("%Y-%m-%d")
    elif column in ("session", "planned_sessions", "total") or column.startswith("item_"):
        # a blank cell is shown blank (not "nan" or "<NA>")
        value = sub[column].map(lambda v: "" if pd.isna(v) else f"{v:g}")
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


def _key_codes(out: pd.DataFrame, column: str) -> np.ndarray:
    return ordered_codes(out[column]).astype(np.int64)


def _is_label(out: pd.DataFrame, column: str, label: str) -> np.ndarray:
    """Per row, whether a categorical column holds ``label`` (compared on the codes)."""
    categories = out[column].cat.categories
    if label not in categories:
        return np.zeros(len(out), dtype=bool)
    codes = out[column].array.codes
    return codes == codes.dtype.type(categories.get_loc(label))


def _key_names(out: pd.DataFrame, column: str):
    """The values the codes of :func:`_key_codes` stand for (sorted)."""
    dtype = out[column].dtype
    if isinstance(dtype, pd.CategoricalDtype) and dtype.categories.is_monotonic_increasing:
        return dtype.categories
    return pd.factorize(out[column], sort=True)[1]


class _Keys:
    """The rows sorted once by (episode_id, session, instrument, input order), shared by
    every stage that groups by a prefix of that key and by the sessions table.

    One integer key per row and one stable sort (the rows mostly arrive in that order
    already, which a stable sort exploits); a stage takes its rows in this order and finds
    its groups where the key, cut to the stage's prefix, changes. Rows with a missing key
    part are in no group, as in a pandas groupby.
    """

    _DEPTH = {("episode_id",): 1, ("episode_id", "session"): 2,
              ("episode_id", "session", "instrument"): 3}  # fmt: skip

    def __init__(self, out: pd.DataFrame):
        episode = _key_codes(out, "episode_id")
        session = out["session"].to_numpy(dtype=float)
        with np.errstate(invalid="ignore"):
            whole = (session >= 1) & (session <= MAX_SESSIONS) & (session == np.floor(session))
        if "instrument" in out.columns:
            instrument = _key_codes(out, "instrument")
            self.n_instruments = int(instrument.max()) + 2 if len(instrument) else 1
        else:  # a frame without instruments (a stage called on its own)
            instrument = np.zeros(len(out), dtype=np.int64)
            self.n_instruments = 1
        self.complete = (episode >= 0) & whole & (instrument >= 0)
        self.partial = (episode >= 0) & whole  # enough for (episode, session) groups
        sessions = np.where(whole, session, 0).astype(np.int64)
        self.key = (episode * (MAX_SESSIONS + 1) + sessions) * self.n_instruments + instrument
        self.key[episode < 0] = -1
        self.order = np.argsort(self.key, kind="stable")
        self._sorted_keys = {3: np.take(self.key, self.order, mode="wrap")}
        self._selections: dict = {}
        self._firsts: dict = {}
        # the first row of each input row (the frame is in input-row order)
        source = out["source_row"].to_numpy()
        self.first_of_input = np.ones(len(source), dtype=bool)
        self.first_of_input[1:] = source[1:] != source[:-1]

    def episode_of(self, rows: np.ndarray) -> np.ndarray:
        """The episode codes (in text order) of the rows at positions ``rows``."""
        return self.cut(rows, ["episode_id"])

    def _sorted_key(self, depth: int) -> np.ndarray:
        """The key cut to its first ``depth`` parts, of the rows in key order (computed once
        per depth; the stages run in threads, and computing it twice is harmless)."""
        if depth not in self._sorted_keys:
            self._sorted_keys[depth] = self._sorted_keys[3] // self._divisor(depth)
        return self._sorted_keys[depth]

    def _divisor(self, depth: int) -> int:
        """What the key is divided by to cut it to its first ``depth`` parts."""
        return [self.n_instruments * (MAX_SESSIONS + 1), self.n_instruments, 1][depth - 1]

    def cut(self, rows: np.ndarray, by: list[str]) -> np.ndarray:
        """The key of the rows at positions ``rows`` cut to the parts ``by`` (equal for the
        rows of one group)."""
        return np.take(self.key, rows, mode="wrap") // self._divisor(self._DEPTH[tuple(by)])

    def groups(self, rows_ok: np.ndarray, by: list[str]):
        """(positions sorted by group, group number of each, start of each group).

        The arrays returned must not be modified: the rows a mask selects are kept for the
        next stage that asks with the same mask (the session and episode conflicts, the
        duplicate-key check and the removal of exact duplicates)."""
        depth = self._DEPTH[tuple(by)]
        kept, rows = self._selection(rows_ok, depth == 3)
        key = self._sorted_key(depth)[kept]
        new = np.ones(len(rows), dtype=bool)
        new[1:] = key[1:] != key[:-1]
        return rows, np.cumsum(new) - 1, np.flatnonzero(new)

    def first_rows(self, rows_ok: np.ndarray) -> np.ndarray:
        """``rows_ok`` restricted to the first row of each input row (one mask object per
        ``rows_ok``, so that the stages asking for it share its groups' rows)."""
        found = self._firsts.get(id(rows_ok))
        if found is not None and found[0] is rows_ok:
            return found[1]
        first = rows_ok & self.first_of_input
        self._firsts[id(rows_ok)] = (rows_ok, first)  # (the mask is held: its id stays its own)
        return first

    def _selection(self, rows_ok: np.ndarray, full: bool):
        """(which rows in key order are usable, their positions) under a mask; kept per mask
        object (stages in two threads may both compute it once: harmless)."""
        found = self._selections.get((id(rows_ok), full))
        if found is not None and found[0] is rows_ok:
            return found[1]
        usable = rows_ok & (self.complete if full else self.partial)
        kept = np.take(usable, self.order, mode="wrap")
        result = kept, self.order[kept]
        self._selections[(id(rows_ok), full)] = (rows_ok, result)
        return result


def _in_groups_of_several(keys: _Keys, row_ok, by) -> np.ndarray:
    """Positions of the live rows whose key (``by``) occurs more than once."""
    rows, group, starts = keys.groups(row_ok, by)
    size = np.diff(np.r_[starts, len(rows)])
    return np.sort(rows[size[group] > 1])


def _conflicts(out, row_ok, value_cols, keys):
    """Stage 2: same (episode, session, instrument) with different values. Only rows whose
    key occurs more than once can conflict: their values are compared."""
    key = ["episode_id", "session", "instrument"]
    shared = _in_groups_of_several(keys, row_ok, key)
    if not len(shared):
        return []
    live = out[list(dict.fromkeys([*key, *value_cols, "source_row"]))].iloc[shared]
    sig = _signature(live, value_cols)
    n_sig = sig.groupby([live[k] for k in key], observed=True).transform("nunique")
    bad = live.loc[(n_sig > 1).to_numpy()]
    if bad.empty:
        return []
    frames = []
    for (ep, sess, inst), grp in bad.groupby(key, sort=True, observed=True):
        differing = [c for c in value_cols if grp[c].astype("str").nunique(dropna=False) > 1]
        rows = ", ".join(str(r) for r in sorted(grp["source_row"].unique()))
        msg = (
            f"episode {ep!r} session {int(sess)} {inst} appears in rows {rows} with "
            f"different {', '.join(differing)}"
        )
        pos = out.index.get_indexer(grp.index)
        frames.append(_flag_rows(out, pos, differing[0], "duplicate_conflict", msg))
    return frames


def _value_codes(column: pd.Series, rows: np.ndarray, missing_counts: bool):
    """(values, missing) at positions ``rows``: integers standing for the values (equal
    text, equal integer). With ``missing_counts``, a missing value is one more value, the
    text ``<missing>`` (as in the messages), and a cell holding that very text is the same
    value; otherwise missing values are flagged and not counted."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        categories = column.cat.categories
        found = np.flatnonzero(np.asarray(categories == "<missing>", dtype=bool))
        literal = int(found[0]) if len(found) else len(categories)
        # the codes' own small integer type (one more value must fit)
        dtype = np.promote_types(column.cat.codes.dtype, np.min_scalar_type(-literal - 1))
        codes = column.array.codes[rows].astype(dtype, copy=False)
        missing = codes < 0
        if missing_counts:
            return np.where(missing, codes.dtype.type(literal), codes), np.zeros(len(codes), bool)
        return codes, missing
    if np.issubdtype(column.dtype, np.datetime64):  # the dates themselves; NaT one more value
        values = column.to_numpy(dtype="datetime64[ns]")[rows].view(np.int64)
        missing = values == np.iinfo(np.int64).min
        return values, (missing if not missing_counts else np.zeros(len(values), dtype=bool))
    if isinstance(column.dtype, np.dtype) and column.dtype.kind == "f":
        # numbers compared as numbers (what a factorisation of a million floats would give,
        # without hashing them); a missing value is NaN
        values = np.take(column.to_numpy(), rows, mode="wrap")
        missing = np.isnan(values)
        if not missing_counts:
            return values, missing
        if missing.any():  # one more value: below every number held
            known = values[~missing]
            values = np.where(missing, known.min() - 1 if len(known) else 0.0, values)
        return values, np.zeros(len(values), dtype=bool)
    codes, uniques = pd.factorize(column.iloc[rows])  # numbers: never the text <missing>
    missing = codes < 0
    if missing_counts:
        return np.where(missing, len(uniques), codes), np.zeros(len(codes), dtype=bool)
    return codes, missing


def _could_differ(column: pd.Series, missing_counts: bool) -> bool:
    """False when the column holds at most one value anywhere (then no group can hold two)."""
    if not isinstance(column.dtype, pd.CategoricalDtype):
        return True
    codes = column.array.codes
    if not len(codes):
        return False
    low, high = codes.min(), codes.max()  # code -1: missing
    if missing_counts or low >= 0:
        return bool(low < high)
    # missing not counted: the smallest code that is not -1
    return bool(np.where(codes < 0, high, codes).min() < high)


def _group_conflicts(out, row_ok, by, attrs, reason, what, keys):
    # The rows of one input row hold the same values of every attribute compared here, and
    # the same episode and session (a wide row's instruments share its cells), so the first
    # row of each input row carries them, and a group made of a single input row cannot
    # disagree: only those first rows, in groups of several, are compared.
    rows, group, starts = keys.groups(keys.first_rows(row_ok), by)
    frames = []
    if not len(rows):
        return frames
    several = np.diff(np.r_[starts, len(rows)]) > 1
    compared = np.take(several, group, mode="wrap")
    sub_rows, sub_group = rows[compared], group[compared]
    if not len(sub_rows):
        return frames
    sub_starts = np.flatnonzero(np.r_[True, sub_group[1:] != sub_group[:-1]])
    for col in attrs:
        missing_counts = not (reason == "episode_conflict" and col != "client_id")
        if not _could_differ(out[col], missing_counts):
            continue
        values, missing = _value_codes(out[col], sub_rows, missing_counts)
        # a group holds several values when its smallest value (missing not counted) is
        # below its largest: one pass over the rows in group order
        info = np.finfo if values.dtype.kind == "f" else np.iinfo
        top, bottom = info(values.dtype).max, info(values.dtype).min
        low = np.minimum.reduceat(np.where(missing, top, values), sub_starts)
        high = np.maximum.reduceat(np.where(missing, bottom, values), sub_starts)
        differ = low < high
        if not differ.any():
            continue
        # every row (each instrument's) of the groups whose values differ
        bad_keys = keys.cut(sub_rows[sub_starts[differ]], by)
        every, _, _ = keys.groups(row_ok, by)
        hit = np.sort(every[np.isin(keys.cut(every, by), bad_keys)])
        bad = out[[*by, col, "source_row"]].iloc[hit]
        for key, grp in bad.groupby(by, sort=True, observed=True):
            key = key if isinstance(key, tuple) else (key,)
            values = sorted(grp[col].astype("str").fillna("<missing>").unique())
            listed = ", ".join(str(r) for r in sorted(grp["source_row"].unique()))
            msg = f"{what} {' '.join(map(str, key))} has different {col}: {values} (rows {listed})"
            pos = out.index.get_indexer(grp.index)
            frames.append(_flag_rows(out, pos, col, reason, msg))
    return frames


def _in_every_lis(dates: list) -> list[bool]:
    """Which elements belong to every longest non-decreasing subsequence.

    The longest such subsequence ending at each element, and starting at it, by patience
    sorting (a binary search per element, run once per out-of-order episode): an element is
    on some longest subsequence when the two add up to the longest, and on every one when
    no other element on one takes its place (the same position in the subsequence).

    Examples
    --------
    >>> _in_every_lis([1, 3, 2, 4]), _in_every_lis([5, 5, 1])
    ([True, False, False, True], [True, True, False])
    """
    n = len(dates)
    end, start = [0] * n, [0] * n
    tails: list = []  # tails[k]: the smallest last value of such a subsequence of length k+1
    for i, d in enumerate(dates):
        k = bisect.bisect_right(tails, d)
        tails[k : k + 1] = [d]
        end[i] = k + 1
    tails = []  # from the end: non-increasing going back is non-decreasing when negated
    for i in range(n - 1, -1, -1):
        k = bisect.bisect_right(tails, -dates[i])
        tails[k : k + 1] = [-dates[i]]
        start[i] = k + 1
    best = max(end)
    on_some = [end[i] + start[i] - 1 == best for i in range(n)]
    counts: dict[int, int] = {}
    for i in range(n):
        if on_some[i]:
            counts[end[i]] = counts.get(end[i], 0) + 1
    return [on_some[i] and counts[end[i]] == 1 for i in range(n)]


def _secondary_same(out, row_ok, keys: _Keys | None = None):
    """Stage 4: a secondary problem area equal to the episode's problem area.

    The episode's problem area is the one its rows give (the checks before this one leave
    an episode one problem area at most: rows that disagree were rejected, and this check is
    then run again), found on the codes of the rows in episode order."""
    keys = _Keys(out) if keys is None else keys
    rows, group, starts = keys.groups(row_ok, ["episode_id"])
    if not len(rows):
        return []
    areas = out["problem_area"].cat.categories
    primary = np.take(out["problem_area"].array.codes, rows, mode="wrap")
    primary = np.maximum.reduceat(primary, starts)  # missing (-1) is the lowest code
    # the secondary labels as codes of the primary column's categories (-1: missing)
    secondary = out["secondary_problem_area"].cat
    recode = np.r_[areas.get_indexer(secondary.categories), -1]
    codes = out["secondary_problem_area"].array.codes
    second = np.take(recode, np.take(codes, rows, mode="wrap"), mode="wrap")
    same = (second >= 0) & (second == np.take(primary, group, mode="wrap"))
    if not same.any():
        return []
    hit = np.sort(rows[same])
    named = np.asarray(areas, dtype=object)[second[same][np.argsort(rows[same])]]
    msg = np.array(
        [f"secondary_problem_area is the same as the episode's problem_area ({a})" for a in named],
        dtype=object,
    )
    return [_flag_rows(out, hit, "secondary_problem_area", "secondary_equals_primary", msg)]


def _date_order(out, row_ok, keys: _Keys | None = None):
    """Stage 6 in linear time: one pass over the rows in (episode, session) order finds the
    out-of-order episodes; only their sessions are then examined."""
    keys = _Keys(out) if keys is None else keys
    dated = row_ok & out["date"].notna().to_numpy()
    rows, group, starts = keys.groups(dated, ["episode_id", "session"])
    if not len(rows):
        return []
    # the first row of each (episode, session) carries its date (the rows of a group are in
    # input order); a date below the previous session's in the same episode marks the episode
    first = rows[starts]
    all_days = out["date"].to_numpy(dtype="datetime64[ns]").view(np.int64)
    day = np.take(all_days, first, mode="wrap")
    episode = keys.episode_of(first)
    back = np.flatnonzero((day[1:] < day[:-1]) & (episode[1:] == episode[:-1])) + 1
    if not len(back):
        return []
    # the sessions (groups) of those episodes, in (episode, session) order
    sub = np.flatnonzero(np.isin(episode, np.unique(episode[back])))
    eps, day = episode[sub], day[sub]
    sess_no = out["session"].to_numpy(dtype=float)[first[sub]]
    text = pd.DatetimeIndex(day.view("datetime64[ns]")).strftime("%Y-%m-%d").to_numpy()
    names = _key_names(out, "episode_id")
    bounds = np.flatnonzero(np.r_[True, eps[1:] != eps[:-1], True])
    wrong, messages = [], {}
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        keep = np.array(_in_every_lis(day[a:b].tolist()))
        pos = np.flatnonzero(~keep)
        # show the out-of-order sessions with one dated neighbour on each side
        lo, hi = a + max(pos.min() - 1, 0), min(a + pos.max() + 2, b)
        order = ", ".join(f"session {int(sess_no[k])}: {text[k]}" for k in range(lo, hi))
        messages[eps[a]] = (
            f"episode {names[eps[a]]!r}: dates do not follow session order ({order})"
        )
        wrong.append(sub[a + pos])
    flagged = np.zeros(len(starts), dtype=bool)
    flagged[np.concatenate(wrong)] = True
    # every row of a wrong session, in row order, with its episode's message
    hit = np.sort(rows[flagged[group]])
    msg = np.array([messages[e] for e in keys.episode_of(hit).tolist()], dtype=object)
    return [_flag_rows(out, hit, "date", "date_order", msg)]


def validate_raw(raw: RawInput, *, prorate_rounding: str = "none") -> ValidationResult:
    """Validate and score a :class:`~ipt_analytics.io.reading.RawInput`.

    Returns a :class:`ValidationResult` with the parsed long frame (``frame``) and the
    positions of its accepted rows (``rows``), the problem table (``problems``:
    source_row, column, value, reason, message) and the row counts.
    """
    long, no_ratings = to_long(raw)
    pr, out = row_checks(long, raw, prorate_rounding)
    problems = list(pr.parts)
    notes = []

    cells = raw.cell_problems
    rejected = pr.rows() | set(no_ratings.tolist()) | set(cells["source_row"].tolist())
    row_ok = _not_in(out["source_row"].to_numpy(), rejected)

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
    keys = _Keys(out)
    stage_checks = [
        lambda frame, ok: _conflicts(frame, ok, value_cols, keys),
        lambda frame, ok: _group_conflicts(
            frame,
            ok,
            ["episode_id", "session"],
            _SESSION_ATTRS,
            "session_conflict",
            "episode/session",
            keys,
        ),
        lambda frame, ok: _group_conflicts(
            frame, ok, ["episode_id"], _EPISODE_ATTRS, "episode_conflict", "episode", keys
        ),
        lambda frame, ok: _secondary_same(frame, ok, keys),
        lambda frame, ok: _date_order(frame, ok, keys),
    ]
    # Each check sees only the rows that passed the checks before it. Files rarely fail
    # these checks, so all of them start at once, in threads, on the rows that passed stage
    # 1; a check is re-run only when a check before it rejected rows (the results are then
    # exactly those of running the checks one after the other).
    with ThreadPoolExecutor(worker_threads()) as threads:
        # the longest first (date order, then the session and episode conflicts, one task:
        # they select the same rows), so that the two threads finish together; the results
        # are still taken in the checks' order
        tasks = [(4,), (1, 2), (0,), (3,)]
        first_ok = row_ok

        def run(task, checks=tuple(stage_checks)):
            return [checks[k](out, first_ok) for k in task]

        submitted = {task: threads.submit(run, task) for task in tasks}
        changed = False
        for k, check in enumerate(stage_checks):
            task = next(t for t in tasks if k in t)
            if changed:
                submitted[task].cancel()
            found = check(out, row_ok) if changed else submitted[task].result()[task.index(k)]
            if found:
                problems.extend(found)
                rows = set(
                    out.loc[np.concatenate([f["idx"].to_numpy() for f in found]), "source_row"]
                )
                rejected |= rows
                row_ok = _not_in(out["source_row"].to_numpy(), rejected)
                changed = True

    # exact duplicates: later copies of a (episode, session, instrument) are dropped; an
    # input row all of whose administrations were dropped is counted as collapsed
    rows, group, starts = keys.groups(row_ok, ["episode_id", "session", "instrument"])
    if len(rows) != np.count_nonzero(row_ok):  # pragma: no cover - accepted rows have keys
        raise RuntimeError("validate_raw(): an accepted row has no key; please report this.")
    later = np.ones(len(rows), dtype=bool)
    later[starts] = False  # rows of a group are in input order: the first is kept
    source = out["source_row"].to_numpy()  # non-decreasing: the long frame is in input order
    table_rows = rows[~later]  # in the order of the sessions table
    keep = _sorted_unique_positions(table_rows, len(out))
    kept_source = np.take(source, keep, mode="wrap")
    dropped = np.unique(source[rows[later]])
    found = np.searchsorted(kept_source, dropped)
    still_kept = (found < len(keep)) & (kept_source[np.minimum(found, len(keep) - 1)] == dropped)
    collapsed = set(dropped[~still_kept].tolist()) if len(keep) else set(dropped.tolist())
    del stage_checks

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

    qids_bare = _is_label(out, "instrument", "qids_sr16")
    if qids_bare.any():
        qids_bare &= _is_label(out, "scoring_rule", "given_total")
    n_bare = np.count_nonzero(np.take(qids_bare, keep, mode="wrap")) if qids_bare.any() else 0
    if n_bare:
        notes.append(
            f"{n_bare} QIDS-SR16 total(s) were given without items; they "
            "cannot be checked to be sums of the 9 domain scores."
        )
    date_codes, date_texts = codes_of(long["date"])
    has_slash = np.array(["/" in t for t in date_texts] + [False], dtype=bool)
    slash = has_slash[:0]
    if has_slash.any():  # (most files write no date with slashes)
        long_rows = np.take(out.index.to_numpy(), keep, mode="wrap")
        slash = np.take(has_slash, np.take(date_codes, long_rows, mode="wrap"), mode="wrap")
    if slash.any():
        # counted per input row: a wide row holds one date for several instruments
        n_slash = _n_distinct_sorted(kept_source[slash])
        notes.append(
            f"{n_slash} date(s) written with slashes were read day first (DD/MM/YYYY,"
            " e.g. 03/04/2025 = 3 April 2025); if the file is month first, write the dates as "
            "YYYY-MM-DD."
        )
    optional_ids = [c for c in ("therapist_id", "group_id") if c in raw.frame.columns]
    n_markers = {c: int(missing_marker(long[c]).sum()) for c in optional_ids}
    if any(n_markers.values()):
        listed = ", ".join(f"{n} {c}" for c, n in n_markers.items() if n)
        notes.append(
            f"missing-value markers (N/A, NULL, -, ...) read as blank, never as an "
            f"identifier: {listed} cell(s)."
        )
    n_input = len(raw.frame)
    result = ValidationResult(out, table_rows, table, n_input, len(rejected), len(collapsed),
                              notes)  # fmt: skip
    if result.n_accepted_rows != _n_distinct_sorted(kept_source):
        raise RuntimeError(  # pragma: no cover - internal accounting guard
            "validate_raw(): row accounting failed; please report this as a bug."
        )
    return result


def _not_in(source_rows: np.ndarray, rejected: set) -> np.ndarray:
    """Per row, whether its source row is not among ``rejected`` (a look-up table over the
    range of row numbers: one pass, no hashing).

    Examples
    --------
    >>> _not_in(np.array([2, 2, 3, 5]), {3, 9}).tolist()
    [True, True, False, True]
    """
    if not rejected or not len(source_rows):
        return np.ones(len(source_rows), dtype=bool)
    return ~np.isin(source_rows, np.fromiter(rejected, dtype=np.int64), kind="table")


def _sorted_unique_positions(positions: np.ndarray, n: int) -> np.ndarray:
    """Distinct positions below ``n`` in increasing order, by marking them (linear, where
    a sort of a million positions is not).

    Examples
    --------
    >>> _sorted_unique_positions(np.array([4, 0, 2]), 5).tolist()
    [0, 2, 4]
    """
    marked = np.zeros(n, dtype=bool)
    marked[positions] = True
    return np.flatnonzero(marked)


def _n_distinct_sorted(values: np.ndarray) -> int:
    """Number of distinct values of a sorted array."""
    return int(len(values) > 0) + int(np.count_nonzero(values[1:] != values[:-1]))


def episode_overlap_notes(sessions: pd.DataFrame, episodes: pd.DataFrame) -> list[str]:
    """A note (not an error) on clients whose episodes' date ranges overlap, from the
    sessions and episodes tables of the accepted rows.

    Per client, its dated episodes in order of start (then episode_id); an episode overlaps
    when it starts on or before the latest end of the client's earlier episodes. The note
    names no identifier (notes reach shared output): it points to the first input row of
    up to five overlapping episodes.

    Examples
    --------
    >>> episodes = pd.DataFrame({
    ...     "episode_id": ["e1", "e2", "e3"], "client_id": ["c1", "c1", "c2"],
    ...     "start_date": pd.to_datetime(["2025-01-06", "2025-02-03", "2025-01-06"]),
    ...     "end_date": pd.to_datetime(["2025-03-03", "2025-04-07", "2025-02-03"])})
    >>> sessions = pd.DataFrame({"episode_id": ["e1", "e2", "e2", "e3"],
    ...                          "source_row": [2, 9, 5, 3]})
    >>> episode_overlap_notes(sessions, episodes)[0][:72]
    '1 client(s) have episodes whose dates overlap (e.g. the episodes startin'
    >>> "rows 5 start" in episode_overlap_notes(sessions, episodes)[0]
    True
    """
    start = episodes["start_date"].to_numpy(dtype="datetime64[ns]").view(np.int64)
    dated = np.flatnonzero(start != np.iinfo(np.int64).min)
    # the client of each dated episode as an integer (required: never missing here)
    client = pd.factorize(episodes["client_id"].to_numpy()[dated])[0]
    if not len(dated) or np.bincount(client).max() < 2:  # no client has two episodes
        return []
    # by client, then start, then episode (the table is in episode_id order)
    order = np.lexsort((dated, start[dated], client))
    client, at = client[order], dated[order]
    begin = start[at]
    end = episodes["end_date"].to_numpy(dtype="datetime64[ns]").view(np.int64)[at]
    first = np.r_[True, client[1:] != client[:-1]]  # the client's first episode
    # the latest end among the client's earlier episodes
    running = pd.Series(end).groupby(client).cummax().to_numpy()
    earlier = np.r_[running[:1], running[:-1]]
    overlap = ~first & (begin <= earlier)
    if not overlap.any():
        return []
    n_clients = len(np.unique(client[overlap]))
    # the first input row of each overlapping episode (these are few)
    ids = episodes["episode_id"].to_numpy()[at[overlap]]
    rows = sessions.loc[sessions["episode_id"].isin(ids).to_numpy(), ["episode_id", "source_row"]]
    first_rows = sorted(rows.groupby("episode_id")["source_row"].min().astype(int).tolist())[:5]
    return [
        f"{n_clients} client(s) have episodes whose dates overlap (e.g. the episodes "
        f"starting at rows {', '.join(map(str, first_rows))} start before an earlier episode "
        "of the same client ended); check the episode_id values (a client is usually in one "
        "episode at a time)."
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
