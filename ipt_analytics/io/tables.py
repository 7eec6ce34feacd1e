"""The sessions and episodes tables, built from the validated rows.

The validated frame holds its text as categoricals with sorted categories
(:mod:`~ipt_analytics.io.coded`), so the sessions are sorted by the integer codes (the
order of the text), each episode is a contiguous run of rows, and every per-episode value
(first and last date, most frequent format, first recorded problem area...) is a segment
operation on arrays. Text is materialised once, at the end.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

from ipt_analytics.io.coded import (
    assemble_frame,
    codes_of,
    ordered_codes,
    text_from_codes,
    worker_threads,
)
from ipt_analytics.io.reading import ATTRIBUTE_COLUMNS, IDENTITY_COLUMNS, ITEM_COLUMNS

__all__ = ["EPISODE_COLUMNS", "SESSION_COLUMNS", "build_tables", "first_dates", "last_dates"]

SESSION_COLUMNS = [
    "source_row",
    *IDENTITY_COLUMNS,
    "week",
    "instrument",
    "total",
    "severity",
    "n_items_missing",
    "scoring_rule",
    "safety_flag",
    *ATTRIBUTE_COLUMNS,
    *ITEM_COLUMNS,
]
#: Identifier columns of the sessions and episodes tables (pandas' ``str`` dtype).
IDENTIFIER_TEXT = ["client_id", "episode_id", "therapist_id", "site", "group_id"]
#: Label columns (``category`` dtype; every label of the column's vocabulary is a category,
#: in sorted order, whether or not the file uses it, so tables of different files concatenate
#: and compare directly).
LABEL_COLUMNS = ["instrument", "severity", "scoring_rule", "format", "problem_area",
                 "secondary_problem_area", "end_reason", "contact_type"]  # fmt: skip
#: Columns of the episodes table: the episode attributes in the order of the sessions table
#: (contact_type is per session), then the number of sessions and medication.
EPISODE_COLUMNS = [
    "episode_id",
    "client_id",
    "start_date",
    "end_date",
    *[c for c in ATTRIBUTE_COLUMNS if c not in ("medication", "contact_type")],
    "n_sessions",
    "medication",
]
_MODE_COLUMNS = ["format", "therapist_id", "site", "group_id"]
_FIRST_COLUMNS = ["problem_area", "secondary_problem_area", "planned_sessions", "end_reason"]
_NAT = np.iinfo(np.int64).min  # datetime64 NaT as int64


def build_tables(frame: pd.DataFrame, rows: np.ndarray | None = None, presorted: bool = False):
    """(sessions, episodes) from the validated rows: ``frame`` at positions ``rows`` (all
    rows when ``None``; the rows are gathered once, in the order of the sessions table,
    never copied as a whole first). ``presorted``: ``rows`` are already in that order.

    Sessions are sorted by episode_id, session and instrument (ties in input order); the
    episode's ``format``, ``therapist_id``, ``site`` and ``group_id`` are its most frequent
    session values (ties: the one seen first), the other attributes its first recorded
    value; ``medication`` is True if any session says so, False if some say no and none
    yes, missing otherwise.

    Examples
    --------
    >>> from ipt_analytics.io.reading import read_raw
    >>> from ipt_analytics.io.validate import validate_raw
    >>> raw = read_raw(pd.DataFrame({
    ...     "client_id": ["c1", "c1", "c2"], "session": ["2", "1", "1"],
    ...     "format": ["video", "group", "group"], "group_id": ["g", "g", "g"],
    ...     "phq9_total": ["11", "15", "9"]}))
    >>> result = validate_raw(raw)
    >>> sessions, episodes = build_tables(result.frame, result.rows, presorted=True)
    >>> sessions[["episode_id", "session", "format", "total"]].values.tolist()
    [['c1', 1, 'group', 15.0], ['c1', 2, 'telehealth', 11.0], ['c2', 1, 'group', 9.0]]
    >>> episodes[["episode_id", "format", "n_sessions"]].values.tolist()
    [['c1', 'group', 2], ['c2', 'group', 1]]
    """
    rows = np.arange(len(frame)) if rows is None else np.asarray(rows, dtype=np.int64)
    # ("wrap": numpy's take is then not buffered; every position is in range)
    episode = np.take(ordered_codes(frame["episode_id"]), rows, mode="wrap")
    session = np.take(frame["session"].to_numpy(), rows, mode="wrap").astype(np.int64)
    if presorted:
        pos = rows
    else:
        order = np.lexsort((ordered_codes(frame["instrument"])[rows], session, episode))
        pos = rows[order]
        episode, session = episode[order], session[order]
    if len(pos):
        starts = np.flatnonzero(np.r_[True, episode[1:] != episode[:-1]])
        # one row per (episode, session): its first instrument's row
        per_session = np.flatnonzero(
            np.r_[True, (episode[1:] != episode[:-1]) | (session[1:] != session[:-1])]
        )
    else:
        starts = per_session = pos[:0]
    # the episodes table is built in a second thread while the sessions table is gathered
    # (numpy's gathers and reductions run outside the GIL)
    with ThreadPoolExecutor(max_workers=1) as worker:
        episodes = worker.submit(_episodes, frame, pos, starts, per_session)
        sessions = _sessions(frame, pos, session, starts)
        return sessions, episodes.result()


def _segment_ids(starts: np.ndarray, n: int) -> np.ndarray:
    """Segment number of each of ``n`` rows, segments starting at ``starts``."""
    ids = np.zeros(n, dtype=np.int64)
    if len(starts) > 1:
        ids[starts[1:]] = 1
    return np.cumsum(ids)


def first_dates(dates: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Earliest non-missing date of each segment as int64 nanoseconds (NaT if none)."""
    as_int = dates.view(np.int64)
    high = np.where(as_int == _NAT, np.iinfo(np.int64).max, as_int)
    low = np.minimum.reduceat(high, starts) if len(starts) else high[:0]
    return np.where(low == np.iinfo(np.int64).max, _NAT, low)


def last_dates(dates: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Latest date of each segment as int64 nanoseconds (NaT if none)."""
    as_int = dates.view(np.int64)
    return np.maximum.reduceat(as_int, starts) if len(starts) else as_int[:0]  # NaT is lowest


def _sessions(frame, pos, session, starts) -> pd.DataFrame:
    n = len(pos)
    dates = np.take(frame["date"].to_numpy(dtype="datetime64[ns]"), pos, mode="wrap")
    first = first_dates(dates, starts)[_segment_ids(starts, n)] if n else np.zeros(0, np.int64)
    undated_episode = first == _NAT
    seconds = (dates.view(np.int64) - first) / 1e9
    week = np.where((dates.view(np.int64) == _NAT) | undated_episode, np.nan, seconds / 604800)
    week = np.where(undated_episode, session - 1, week)

    floats = ["week", "total", "planned_sessions"]
    block = np.empty((len(floats), n), dtype=float)  # written once, in pandas' block layout
    block[0] = week

    def gather(k):  # numpy's take and pyarrow's decoding release the GIL: run side by side
        # straight into the block: no temporary of a million rows ("wrap": not buffered;
        # the positions are in range)
        np.take(frame[floats[k]].to_numpy(dtype=float), pos, out=block[k], mode="wrap")

    def decode(col):
        codes, values = _codes_and_categories(frame[col])
        return [col], text_from_codes(np.take(codes, pos, mode="wrap"), values)

    def label(col):
        return [col], _label(frame[col], pos)

    def item(col):
        return [col], frame[col].array.take(pos)

    # compact types: a label is a one-byte code, an item answer one byte and a missing flag
    # (as float64 the 18 item columns alone would be 144 bytes a row); fresh memory is what
    # costs most when a large file is read
    with ThreadPoolExecutor(max_workers=worker_threads()) as pool:
        gathered = list(pool.map(gather, range(1, len(floats))))
        decoded = [
            *pool.map(decode, IDENTIFIER_TEXT),
            *pool.map(label, LABEL_COLUMNS),
            *pool.map(item, ITEM_COLUMNS),
        ]
    del gathered
    integers = np.empty((3, n), dtype=np.int64)
    np.take(frame["source_row"].to_numpy(dtype=np.int64), pos, out=integers[0], mode="wrap")
    integers[1] = session
    np.take(frame["n_items_missing"].to_numpy(dtype=np.int64), pos, out=integers[2], mode="wrap")
    parts = [
        (floats, block),
        (["source_row", "session", "n_items_missing"], integers),
        (["date"], pd.array(dates, dtype="datetime64[ns]")),
        (["safety_flag"], frame["safety_flag"].astype("boolean").array.take(pos)),
        (["medication"], _boolean(frame["medication"]).take(pos)),
        *decoded,
    ]
    return assemble_frame(SESSION_COLUMNS, parts)


def _codes_and_categories(column: pd.Series):
    """(codes, categories) of a text column; a categorical's categories stay a pandas Index
    (its text is handed to pyarrow as it is, not as one Python string per category)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        return column.array.codes, column.cat.categories
    return codes_of(column)


def _label(column: pd.Series, pos: np.ndarray) -> pd.Categorical:
    """The validated label column (a categorical of its vocabulary) at positions ``pos``."""
    codes = np.take(column.array.codes, pos, mode="wrap")
    return pd.Categorical.from_codes(codes, dtype=column.dtype, validate=False)


def _boolean(column: pd.Series) -> pd.arrays.BooleanArray:
    """``"true"``/``"false"`` labels (missing otherwise) as a nullable boolean array."""
    codes, values = codes_of(column)
    truth = np.array([v == "true" for v in values] + [False], dtype=bool)
    known = np.array([v in ("true", "false") for v in values] + [False], dtype=bool)
    return pd.arrays.BooleanArray(np.take(truth, codes, mode="wrap"),
                                  ~np.take(known, codes, mode="wrap"))  # fmt: skip


def _first_valid(codes: np.ndarray, ep: np.ndarray, n_eps: int) -> np.ndarray:
    """Per episode, the first value code that is not missing (-1 if none); rows in order."""
    valid = np.flatnonzero(codes >= 0)
    result = np.full(n_eps, -1, dtype=np.int64)
    if len(valid):
        first = np.r_[True, ep[valid][1:] != ep[valid][:-1]]
        result[ep[valid][first]] = codes[valid][first]
    return result


def _mode(codes: np.ndarray, ep: np.ndarray, session: np.ndarray, n_eps: int) -> np.ndarray:
    """Per episode, the most frequent value code (ties: the value whose first session is
    earliest; -1 if no value). One row per session, rows sorted by episode and session."""
    valid = codes >= 0
    result = np.full(n_eps, -1, dtype=np.int64)
    if not valid.any():
        return result
    e, v, sess = ep[valid], codes[valid], session[valid]
    # most episodes hold one value: that is their mode, without a sort
    starts = np.flatnonzero(np.r_[True, e[1:] != e[:-1]])
    low, high = np.minimum.reduceat(v, starts), np.maximum.reduceat(v, starts)
    single = low == high
    result[e[starts[single]]] = low[single]
    if single.all():
        return result
    several = ~single[_segment_ids(starts, len(e))]
    e, v, sess = e[several], v[several], sess[several]
    # group rows by (episode, value); a stable sort keeps session order inside a group
    # (the rows arrive in episode and session order)
    key = e.astype(np.int64) * (int(v.max()) + 1) + v
    order = np.argsort(key, kind="stable")
    e, v, sess = e[order], v[order], sess[order]
    new = np.r_[True, (e[1:] != e[:-1]) | (v[1:] != v[:-1])]
    starts = np.flatnonzero(new)
    count = np.diff(np.r_[starts, len(e)])
    g_e, g_v, g_first = e[starts], v[starts], sess[starts]
    best = np.lexsort((g_first, -count, g_e))
    pick = best[np.r_[True, g_e[best][1:] != g_e[best][:-1]]]
    result[g_e[pick]] = g_v[pick]
    return result


def _episodes(frame, pos, starts, per_session) -> pd.DataFrame:
    n_eps = len(starts)
    ps = pos[per_session]  # frame positions of the per-session rows
    ps_starts = np.searchsorted(per_session, starts)  # each episode's first session row
    ep = _segment_ids(ps_starts, len(ps))
    session = np.take(frame["session"].to_numpy(), ps, mode="wrap").astype(np.int64)
    dates = np.take(frame["date"].to_numpy(dtype="datetime64[ns]"), ps, mode="wrap")

    def text(col, per_episode):
        if col in LABEL_COLUMNS:  # the validated categorical's own categories
            return pd.Categorical.from_codes(per_episode, dtype=frame[col].dtype)
        return text_from_codes(per_episode, _codes_and_categories(frame[col])[1])

    def codes(col):
        return np.take(_codes_and_categories(frame[col])[0], ps, mode="wrap")

    episode_codes = _codes_and_categories(frame["episode_id"])[0]
    out = {
        "episode_id": text("episode_id", episode_codes[pos[starts]]),
        "client_id": text("client_id", _first_valid(codes("client_id"), ep, n_eps)),
        "start_date": first_dates(dates, ps_starts).view("datetime64[ns]"),
        "end_date": last_dates(dates, ps_starts).view("datetime64[ns]"),
    }
    for col in _MODE_COLUMNS:
        out[col] = text(col, _mode(codes(col), ep, session, n_eps))
    for col in _FIRST_COLUMNS:
        if col == "planned_sessions":
            planned = np.take(frame[col].to_numpy(dtype=float), ps, mode="wrap")
            first = _first_valid(np.where(np.isnan(planned), -1, np.arange(len(ps))), ep, n_eps)
            out[col] = np.where(first >= 0, planned[np.maximum(first, 0)], np.nan)
        else:
            out[col] = text(col, _first_valid(codes(col), ep, n_eps))
    out["n_sessions"] = np.diff(np.r_[ps_starts, len(ps)]).astype(np.int64)
    med = _boolean(frame["medication"]).take(ps)
    known = ~np.asarray(med.isna(), dtype=bool)
    truth = np.asarray(med.fillna(False), dtype=bool)
    any_true = np.bincount(ep, weights=truth, minlength=n_eps) > 0
    any_known = np.bincount(ep, weights=known, minlength=n_eps) > 0
    out["medication"] = pd.arrays.BooleanArray(any_true, ~any_true & ~any_known)
    return pd.DataFrame(out)[EPISODE_COLUMNS]
