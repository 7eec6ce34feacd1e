"""``read_sessions``: the validated, scored session table every analysis starts from."""

from __future__ import annotations

import html
import warnings
from dataclasses import dataclass, field

import pandas as pd

from ipt_analytics.errors import DataWarning, SchemaError
from ipt_analytics.instruments.scoring import PRORATE_ROUNDING
from ipt_analytics.io.reading import read_raw
from ipt_analytics.io.tables import EPISODE_COLUMNS, SESSION_COLUMNS, build_tables
from ipt_analytics.io.validate import episode_overlap_notes, validate_raw

__all__ = ["ON_ERROR", "SESSION_COLUMNS", "EPISODE_COLUMNS", "SessionData", "read_sessions"]

ON_ERROR = ("raise", "quarantine")
_MAX_LISTED = 20


@dataclass
class SessionData:
    """Validated session data.

    Attributes
    ----------
    sessions : DataFrame
        One row per rating administration (columns :data:`SESSION_COLUMNS`), sorted by
        episode_id, session, instrument.
    episodes : DataFrame
        One row per episode (columns :data:`EPISODE_COLUMNS`).
    rejected : DataFrame
        One row per problem: source_row, column, value, reason, message. Data-steward
        output: values and messages contain identifiers (see ``docs/shared-outputs.md``);
        never circulate it.
    n_input_rows, n_accepted_rows, n_rejected_rows, n_duplicates_collapsed : int
        Input-row accounting; accepted + rejected + collapsed == input rows.
    n_blank_rows : int
        Entirely blank lines skipped (not input rows).
    layout : str
        ``"long"`` or ``"wide"``.
    source : str
        File path or ``"<DataFrame>"``.
    ignored_columns : list of str
        Input columns outside the data contract (not read).
    notes : list of str
        Things worth knowing about the data that are not errors.
    """

    sessions: pd.DataFrame
    episodes: pd.DataFrame
    rejected: pd.DataFrame
    n_input_rows: int
    n_accepted_rows: int
    n_rejected_rows: int
    n_duplicates_collapsed: int
    n_blank_rows: int = 0
    layout: str = "long"
    source: str = "<DataFrame>"
    ignored_columns: list = field(default_factory=list)
    notes: list = field(default_factory=list)

    def rejected_by_reason(self) -> pd.DataFrame:
        """Problems per reason: ``reason, n_problems, n_rows`` (most frequent first)."""
        if self.rejected.empty:
            return pd.DataFrame({"reason": [], "n_problems": [], "n_rows": []}).astype(
                {"reason": "str", "n_problems": "int64", "n_rows": "int64"}
            )
        grouped = self.rejected.groupby("reason", observed=True)["source_row"]
        out = pd.DataFrame({"n_problems": grouped.size(), "n_rows": grouped.nunique()})
        out = out.reset_index().sort_values(["n_rows", "reason"], ascending=[False, True])
        return out.reset_index(drop=True)

    def summary(self) -> dict:
        """Counts: rows read/accepted/rejected/collapsed, problems by reason, clients,
        episodes, administrations per instrument and the date range.

        Examples
        --------
        >>> df = pd.DataFrame({"client_id": ["a", "a"], "session": [1, 2],
        ...                    "format": ["individual"] * 2, "phq9_total": [14, 9]})
        >>> s = read_sessions(df).summary()
        >>> s["n_input_rows"], s["n_accepted_rows"], s["n_episodes"], s["instruments"]
        (2, 2, 1, {'phq9': 2})
        """
        dates = self.sessions["date"].dropna()
        by_reason = self.rejected_by_reason()
        return {
            "source": self.source,
            "layout": self.layout,
            "n_input_rows": self.n_input_rows,
            "n_accepted_rows": self.n_accepted_rows,
            "n_rejected_rows": self.n_rejected_rows,
            "n_duplicates_collapsed": self.n_duplicates_collapsed,
            "n_blank_rows": self.n_blank_rows,
            "rejected_rows_by_reason": dict(
                zip(by_reason["reason"], by_reason["n_rows"].astype(int).tolist(), strict=False)
            ),
            "n_problems": len(self.rejected),
            "n_administrations": len(self.sessions),
            "n_clients": int(self.sessions["client_id"].nunique()),
            "n_episodes": len(self.episodes),
            "instruments": {
                k: int(v)
                for k, v in self.sessions["instrument"].value_counts().sort_index().items()
                if v  # instruments of the vocabulary the file does not use
            },
            "date_min": dates.min().date().isoformat() if len(dates) else None,
            "date_max": dates.max().date().isoformat() if len(dates) else None,
        }

    def _lines(self) -> list[str]:
        s = self.summary()
        lines = [
            f"rows read: {s['n_input_rows']}"
            + (f" (+{s['n_blank_rows']} blank lines skipped)" if s["n_blank_rows"] else ""),
            f"accepted: {s['n_accepted_rows']}",
            f"rejected: {s['n_rejected_rows']}",
        ]
        lines += [f"  {reason}: {n}" for reason, n in s["rejected_rows_by_reason"].items()]
        lines += [
            f"duplicates collapsed: {s['n_duplicates_collapsed']}",
            f"clients: {s['n_clients']}",
            f"episodes: {s['n_episodes']}",
            "instruments: "
            + (", ".join(f"{k} ({v})" for k, v in s["instruments"].items()) or "none"),
            "dates: " + (f"{s['date_min']} to {s['date_max']}" if s["date_min"] else "none given"),
        ]
        return lines

    def __repr__(self) -> str:
        head = f"<SessionData from {self.source} ({self.layout} layout)>"
        return "\n".join([head, *("  " + line for line in self._lines())])

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td style='text-align:left'>{html.escape(line.strip())}</td></tr>"
            for line in self._lines()
        )
        return (
            f"<b>SessionData</b> from <code>{html.escape(self.source)}</code> "
            f"({self.layout} layout)<table>{rows}</table>"
        )


def _error_message(problems: pd.DataFrame, n_rows: int, source: str) -> str:
    head = (
        f"read_sessions(): {len(problems)} problem(s) in {n_rows} row(s) of {source}. "
        "Fix them, or pass on_error='quarantine' to keep the valid rows (the others are in "
        ".rejected). Full list on this error's .problems."
    )
    lines = [
        f"  row {r.source_row}, column {r.column!r}, value {r.value!r}: {r.reason} - {r.message}"
        for r in problems.head(_MAX_LISTED).itertuples()
    ]
    more = len(problems) - _MAX_LISTED
    if more > 0:
        lines.append(f"  ... and {more} more")
    return "\n".join([head, *lines])


def read_sessions(
    source,
    *,
    columns: dict | None = None,
    on_error: str = "raise",
    prorate_rounding: str = "none",
    encoding: str | None = None,
) -> SessionData:
    """Read, validate and score session data.

    Parameters
    ----------
    source : str, os.PathLike or DataFrame
        CSV (comma/semicolon/tab, UTF-8 with or without BOM), ``.xlsx`` or ``.parquet``
        file, or a DataFrame; long layout (an ``instrument`` column) or wide layout
        (instrument-prefixed columns ``phq9_1 .. phq9_9``, ``phq9_total``, ``gad7_*``,
        ``qids_sr16_*``, ``cudos_*``).
    columns : dict, optional
        ``{your column name: canonical name}``, e.g. ``{"PatientID": "client_id"}``.
    on_error : {"raise", "quarantine"}
        ``"raise"``: any problem raises :class:`~ipt_analytics.SchemaError` listing the
        first problems (all on ``.problems``). ``"quarantine"``: the valid rows are kept and
        the problems returned in ``.rejected``.
    prorate_rounding : {"none", "round_half_up", "floor", "ceil"}
        Rounding of prorated PHQ-9 totals (see :func:`~ipt_analytics.score_items`).
    encoding : str, optional
        Text encoding of a CSV file; default UTF-8 (with or without BOM). A file saved by
        Excel as plain "CSV" is usually ``"cp1252"``. The encoding is never guessed.

    Returns
    -------
    SessionData

    Raises
    ------
    SchemaError
        Column-level problems (always), or row problems with ``on_error="raise"``.
    FileNotFoundError, ValueError
        The file does not exist or cannot be read; unknown ``on_error``.

    Notes
    -----
    ``episode_id`` defaults to ``client_id`` when there is no episode_id column.
    ``week`` = days since the episode's first dated session / 7; in an episode without any
    date it is ``session - 1``; an undated row in a dated episode gets no week (NaN, with a
    note and a :class:`DataWarning`). The episode's ``format`` is its most frequent session
    format (ties: the earlier one); ``medication`` is True if any session says so.
    Validation rules and reasons: :mod:`ipt_analytics.io.validate`.

    Examples
    --------
    >>> df = pd.DataFrame({
    ...     "client_id": ["c1", "c1", "c2"],
    ...     "session": ["1", "2", "1"],
    ...     "date": ["2025-01-06", "2025-01-13", "2025-01-07"],
    ...     "format": ["In-Person", "video", "group"],
    ...     "phq9_total": ["15", "11", "40"],
    ... })
    >>> data = read_sessions(df, on_error="quarantine")
    >>> data.sessions[["client_id", "week", "format", "total", "severity"]]
      client_id  week      format  total  severity
    0        c1   0.0  individual   15.0  moderately_severe
    1        c1   1.0  telehealth   11.0  moderate
    >>> data.rejected[["source_row", "column", "reason"]]
       source_row      column                  reason
    0           4  phq9_total      total_out_of_range
    1           4    group_id  group_without_group_id
    """
    if on_error not in ON_ERROR:
        raise ValueError(
            f"read_sessions(): on_error={on_error!r} is not allowed. Accepted: "
            f"{', '.join(repr(v) for v in ON_ERROR)}."
        )
    if prorate_rounding not in PRORATE_ROUNDING:
        raise ValueError(
            f"read_sessions(): prorate_rounding={prorate_rounding!r} is not allowed. "
            f"Accepted: {', '.join(PRORATE_ROUNDING)}."
        )
    raw = read_raw(source, columns=columns, encoding=encoding)
    result = validate_raw(raw, prorate_rounding=prorate_rounding)
    if on_error == "raise" and len(result.problems):
        raise SchemaError(
            _error_message(result.problems, result.n_rejected_rows, raw.source),
            problems=result.problems,
        )
    raw.frame = None  # the text as read is no longer needed: free it before the tables
    sessions, episodes = build_tables(result.frame, result.rows, presorted=True)
    result.frame = None  # the tables replace it: free the memory
    # (from the tables: their episodes carry first and last dates already)
    notes = list(raw.notes) + list(result.notes) + episode_overlap_notes(sessions, episodes)
    n_no_week = int(sessions["week"].isna().sum())
    if n_no_week:
        notes.append(
            f"{n_no_week} rating(s) without a date in episodes that have dates: their week is "
            "left missing (session - 1 would mix sessions and weeks). Add the dates, or model "
            "time='session'."
        )
    for note in notes:
        warnings.warn(note, DataWarning, stacklevel=2)
    return SessionData(
        sessions=sessions,
        episodes=episodes,
        rejected=result.problems,
        n_input_rows=result.n_input_rows,
        n_accepted_rows=result.n_accepted_rows,
        n_rejected_rows=result.n_rejected_rows,
        n_duplicates_collapsed=result.n_duplicates_collapsed,
        n_blank_rows=raw.n_blank_rows,
        layout=raw.layout,
        source=raw.source,
        ignored_columns=raw.ignored_columns,
        notes=notes,
    )
