"""The outcome summary a service shares: rates by a grouping column, small cells suppressed.

:func:`outcome_summary` turns a per-episode outcome table (:func:`~ipt_analytics.
episode_outcomes`) into the table that ``ipt-analytics summary`` prints and exports: for
response, remission, reliable improvement, NHS Talking Therapies recovery and dropout, the
number of episodes in each denominator, the events, the rate and its Wilson 95% interval per
group, after small-cell suppression (complementary cells included). It is shared output (see
``docs/shared-outputs.md``): no client, episode or group identifier can be a grouping column,
therapists appear only as report-local codes (:func:`~ipt_analytics.reporting.privacy.
local_codes`), and a group without a value is shown as ``"not recorded"`` rather than left
out (a left-out group would be recoverable as the total minus the groups shown).

A service with a single format (or one value of any grouping column) gets its rates, with a
note that no between-group comparison is possible; the summary itself never compares groups.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ipt_analytics.reporting.privacy import POLICIES, drop_identifiers, local_codes, suppress_table
from ipt_analytics.stats.intervals import wilson_interval

__all__ = [
    "SUMMARY_BY",
    "SUMMARY_OUTCOMES",
    "SUMMARY_COLUMNS",
    "NOT_RECORDED",
    "OutcomeSummary",
    "outcome_summary",
    "published_count",
    "internal_episode_table",
]

#: (outcome column, label) in the order shown.
SUMMARY_OUTCOMES = (
    ("response", "response (>= 50% reduction)"),
    ("remission", "remission (below the instrument cut-off)"),
    ("reliable_improvement", "reliable improvement (Jacobson-Truax)"),
    ("nhs_recovery", "NHS Talking Therapies recovery"),
    ("dropout", "dropout"),
)
#: Grouping columns a shared summary may use; therapist_id is shown as report-local codes.
SUMMARY_BY = (
    "format",
    "problem_area",
    "site",
    "medication",
    "end_reason",
    "therapist_id",
)
#: Columns that identify a client, an episode or a therapy group: never a grouping column.
_IDENTIFYING = ("client_id", "episode_id", "group_id")
#: Label of the group of episodes without a value of the grouping column.
NOT_RECORDED = "not recorded"
#: Columns of :attr:`OutcomeSummary.table` (the grouping column follows ``label``).
SUMMARY_COLUMNS = [
    "outcome", "label", "group", "n", "events", "rate_pct", "conf_low", "conf_high",
    "n_suppressed", "events_suppressed", "rate_suppressed",
]  # fmt: skip


@dataclass
class OutcomeSummary:
    """Result of :func:`outcome_summary`.

    Attributes
    ----------
    table : DataFrame
        Columns :data:`SUMMARY_COLUMNS`: one row per (outcome, group); ``n`` and ``events``
        are ``Int64`` with NA where suppressed (rounded under a rounding policy),
        ``rate_pct``, ``conf_low``, ``conf_high`` (proportions) are ``Float64``, NA where
        either count is suppressed; ``*_suppressed`` flag the hidden cells.
    by : str
        The grouping column (``"therapist"`` for report-local therapist codes).
    instrument : str
    policy : str
        Suppression policy name, or ``"none"`` (an internal working table).
    notes : list of str
        Plain-language notes for the reader (no identifiers).
    structure : dict
        What :func:`~ipt_analytics.check_no_disclosure` needs to re-check ``table`` (policy,
        count and rate columns, denominators, margins), so that the check never depends on
        ``attrs`` surviving.
    """

    table: pd.DataFrame
    by: str
    instrument: str
    policy: str
    notes: list = field(default_factory=list)
    structure: dict = field(default_factory=dict)

    def display(self) -> pd.DataFrame:
        """The table as text, ``*`` for a suppressed cell (what the command line prints).

        Examples
        --------
        >>> eps = pd.DataFrame({"format": ["group", "internet"], "response": [True, False]})
        >>> list(outcome_summary(eps, suppress="none").display().columns)
        ['outcome', 'format', 'n', 'events', 'rate_%', '95%_ci']
        """
        t = self.table
        shown = pd.DataFrame({"outcome": t["label"], self.by: t["group"]})
        for col in ("n", "events"):
            shown[col] = [
                "*" if h else str(int(v)) for v, h in zip(t[col], t[f"{col}_suppressed"],
                                                          strict=True)
            ]  # fmt: skip
        hide = t["rate_suppressed"].to_numpy(dtype=bool) | t["rate_pct"].isna().to_numpy()
        shown["rate_%"] = ["*" if h else f"{v:.1f}" for v, h in zip(t["rate_pct"], hide,
                                                                     strict=True)]  # fmt: skip
        shown["95%_ci"] = [
            "*" if h else f"{100 * lo:.1f}-{100 * hi:.1f}"
            for lo, hi, h in zip(t["conf_low"], t["conf_high"], hide, strict=True)
        ]
        return shown.reset_index(drop=True)


def published_count(count: int, suppress: str) -> str:
    """A count of people (clients, episodes) as shared output shows it under a policy.

    A count printed beside a suppressed table is one of its margins: a service with one
    format and 5 episodes must not print "episodes: 5" above a table that hides n = 5.

    Examples
    --------
    >>> published_count(5, "nhs_digital"), published_count(22, "nhs_digital")
    ('*', '20')
    >>> published_count(5, "none")
    '5'
    """
    if suppress == "none":
        return str(int(count))
    policy = POLICIES[suppress]
    return "*" if policy.is_sensitive(count) else str(policy.round(int(count)))


def _check_by(by: str, columns) -> None:
    if by in _IDENTIFYING:
        raise ValueError(
            f"outcome_summary(): by={by!r} is an identifier; a shared table never has a row "
            f"per client, episode or therapy group. Accepted: {', '.join(SUMMARY_BY)}."
        )
    if by not in SUMMARY_BY or by not in columns:
        raise ValueError(
            f"outcome_summary(): by={by!r} is not a grouping column of the outcomes. "
            f"Accepted: {', '.join(c for c in SUMMARY_BY if c in columns)}."
        )


def _groups(outcomes: pd.DataFrame, by: str) -> pd.Series:
    if by == "therapist_id":
        return local_codes(outcomes[by], prefix="T")
    values = outcomes[by].astype(object)
    text = values.where(values.notna(), None).map(
        lambda v: NOT_RECORDED if v is None or str(v) in ("", "nan", "<NA>") else str(v)
    )
    return text


def _rates(outcomes: pd.DataFrame, groups: pd.Series) -> pd.DataFrame:
    rows = []
    for column, label in SUMMARY_OUTCOMES:
        if column not in outcomes.columns or outcomes[column].notna().sum() == 0:
            continue
        flag = outcomes[column].astype("boolean")
        defined = flag.notna().to_numpy()
        sub = pd.DataFrame({"group": groups.to_numpy()[defined],
                            "event": flag.to_numpy(dtype=bool, na_value=False)[defined]})
        counted = sub.groupby("group", sort=True, observed=True)["event"].agg(["size", "sum"])
        # the group without a value last
        counted = counted.loc[sorted(counted.index, key=lambda g: (g == NOT_RECORDED, g))]
        for group, r in counted.iterrows():
            rows.append((column, label, group, int(r["size"]), int(r["sum"])))
    table = pd.DataFrame(rows, columns=["outcome", "label", "group", "n", "events"])
    table["rate_pct"] = 100 * table["events"] / table["n"]
    return table


def _with_intervals(table: pd.DataFrame) -> pd.DataFrame:
    n = table["n"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    events = table["events"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        lo, hi = wilson_interval(events, n)
    table["conf_low"] = pd.array(np.atleast_1d(lo), dtype="Float64")
    table["conf_high"] = pd.array(np.atleast_1d(hi), dtype="Float64")
    hide = table["rate_suppressed"].to_numpy(dtype=bool)
    table.loc[hide, ["conf_low", "conf_high"]] = pd.NA
    return table


#: suppression presets allowed for shared outputs: rates from the published (rounded) counts
SHARED_POLICIES = tuple(name for name, pol in POLICIES.items() if pol.rates_from == "rounded")


def outcome_summary(
    outcomes: pd.DataFrame, *, by: str = "format", suppress: str = "nhs_digital"
) -> OutcomeSummary:
    """Outcome rates by ``by`` with Wilson 95% intervals, small cells suppressed.

    Parameters
    ----------
    outcomes : DataFrame
        One row per episode, as returned by :func:`~ipt_analytics.episode_outcomes`.
    by : str
        Grouping column, one of :data:`SUMMARY_BY`; identifiers (client, episode, therapy
        group) are refused; ``therapist_id`` is replaced by report-local codes ``T01``...
    suppress : str
        A policy in :data:`~ipt_analytics.POLICIES` (default ``"nhs_digital"``), or
        ``"none"`` for an internal working table (never to be circulated).

    Returns
    -------
    OutcomeSummary

    Notes
    -----
    Margins assumed known to a reader, so that one hidden cell is never recoverable: an
    event count and its denominator (the non-events are a hidden cell), and, per outcome,
    the total of the groups' denominators (a reader may know how many episodes a service
    had). Under a rounding policy the rate and the interval are computed from the published
    (rounded) counts, as the NHS Digital rule requires.

    Examples
    --------
    >>> import pandas as pd
    >>> eps = pd.DataFrame({"format": ["individual"] * 12 + ["group"] * 3,
    ...                     "response": [True] * 9 + [False] * 3 + [True, False, False],
    ...                     "dropout": [False] * 15})
    >>> s = outcome_summary(eps, suppress="none")
    >>> s.table[["outcome", "group", "n", "events"]].to_numpy().tolist()
    [['response', 'group', 3, 1], ['response', 'individual', 12, 9],
     ['dropout', 'group', 3, 0], ['dropout', 'individual', 12, 0]]
    >>> outcome_summary(eps).display()["n"].tolist()  # nhs_digital: 3 is hidden, so is 12
    ['*', '*', '*', '*']
    """
    if suppress != "none" and suppress not in POLICIES:
        raise ValueError(
            f"outcome_summary(): suppress={suppress!r} is not known; use one of "
            f"{', '.join(POLICIES)} or 'none'"
        )
    if suppress != "none" and POLICIES[suppress].rates_from != "rounded":
        # percentages from unrounded counts beside rounded counts can reveal a hidden count by
        # difference (10 of 12 shown as 10, 10, 83.3%): not allowed in a shared output
        raise ValueError(
            f"outcome_summary(): suppress={suppress!r} reproduces NHS England's dashboards, whose "
            "percentages come from unrounded counts and can reveal a small count by "
            "difference; it is not used for shared outputs. Fix: use a rounding preset such "
            "as 'nhs_digital'"
        )
    _check_by(by, outcomes.columns)
    instrument = str(outcomes["instrument"].iloc[0]) if "instrument" in outcomes and len(
        outcomes) else ""  # fmt: skip
    shown_by = "therapist" if by == "therapist_id" else by
    groups = _groups(outcomes, by)
    table = _rates(outcomes, groups)
    notes = []
    n_groups = groups.nunique()
    if n_groups == 1:
        notes.append(
            f"one {shown_by} only ({groups.iloc[0]}): rates are shown without between-"
            f"{shown_by} comparisons"
        )
    if (groups == NOT_RECORDED).any():
        notes.append(f"'{NOT_RECORDED}': episodes without a {shown_by} value")
    if table.empty:
        notes.append("no episode has a defined outcome (e.g. every episode has one rating)")
    sizes = table.groupby("outcome", observed=True)["n"].agg(["sum", "size"])
    known = {k: int(r["sum"]) for k, r in sizes.iterrows() if r["size"] > 1}
    structure = {
        "policy": suppress, "count_columns": ["n", "events"], "by": "outcome",
        "rate_columns": {"rate_pct": ("events", "n", 100)}, "denominators": {"events": "n"},
        "totals": {"n": known},
    }  # fmt: skip
    if suppress == "none" or table.empty:
        shown = table.assign(n=table["n"].astype("Int64"), events=table["events"].astype("Int64"))
        shown["rate_pct"] = shown["rate_pct"].astype("Float64")
        for col in ("n", "events", "rate_pct"):
            shown[f"{col}_suppressed"] = False
        if suppress == "none":
            notes.insert(0, "UNSUPPRESSED: do not circulate (small cells shown; internal "
                         "working table)")  # fmt: skip
    else:
        args = {k: v for k, v in structure.items() if k != "policy"}
        shown = suppress_table(table, policy=suppress, **args)
        meta = shown.attrs["suppression"]
        notes.insert(0, f"small-cell suppression: {meta['policy']} ({meta['rule']}); '*' = "
                     f"suppressed ({meta['n_primary']} small, {meta['n_secondary']} "
                     f"complementary); source: {meta['citation']}")  # fmt: skip
    # rate and interval are statistics of both counts: shown only when both counts are
    shown["rate_suppressed"] = (shown["n_suppressed"] | shown["events_suppressed"]).to_numpy()
    shown = _with_intervals(shown.reset_index(drop=True))
    shown.attrs = {}
    return OutcomeSummary(shown[SUMMARY_COLUMNS], shown_by, instrument, suppress, notes,
                          structure)  # fmt: skip


def internal_episode_table(outcomes: pd.DataFrame) -> pd.DataFrame:
    """Per-episode outcomes for INTERNAL use: no client or episode IDs, therapists and therapy
    groups as local codes (``T1``..., ``G1``...).

    Not shared output: every cell a suppressed table hides can be recounted from it.

    Examples
    --------
    >>> eps = pd.DataFrame({"client_id": ["c1"], "episode_id": ["e1"],
    ...                     "therapist_id": ["Dr A"], "group_id": ["G-77"], "response": [True]})
    >>> internal_episode_table(eps).to_dict("records")
    [{'therapist_id': 'T1', 'group_id': 'G1', 'response': True}]
    """
    out = drop_identifiers(outcomes)
    for col, prefix in (("therapist_id", "T"), ("group_id", "G")):
        if col in out.columns:
            out[col] = local_codes(out[col], prefix=prefix)
    out.attrs = {}
    return out
