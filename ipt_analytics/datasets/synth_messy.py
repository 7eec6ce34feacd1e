"""The messy sample file: a slice of a synthetic cohort with planted, documented faults.

Every fault sits on its own row so that the validator's findings can be checked row by row
(``data/sample/messy_expected.csv``); label variants that must be *accepted* are planted too.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

from ipt_analytics.datasets.csv_text import csv_text
from ipt_analytics.datasets.synth import FORMATS, simulate_cohort

__all__ = ["MESSY_SEED", "make_messy"]


MESSY_SEED = 20250101
# Labels that the alias table must normalise (these rows must be ACCEPTED).
_ACCEPTED_VARIANTS = (
    ("format", "individual", "Face-to-face"),
    ("format", "telehealth", " VIDEO "),
    ("format", "telephone", "phone"),
    ("format", "internet", "Online"),
    ("problem_area", "grief", "Bereavement"),
    ("problem_area", "role_transition", "life transition"),
)


def make_messy(*, seed: int = MESSY_SEED, n_rows: int = 200):
    """Messy sessions (all cells text), the planted faults and the rows that must pass.

    Whole episodes of ``simulate_cohort(n_episodes=120, seed=seed)`` are taken in episode
    order until ``n_rows`` rows (plus any episode needed so that every format, a therapy group
    and the label variants occur), a ``phq9_total`` column is added (blank unless given) and
    faults are planted deterministically, one per row.

    Returns
    -------
    (messy, expected, accepted) : tuple of pandas.DataFrame
        ``messy`` has the session columns plus ``phq9_total`` (after ``phq9_9``);
        ``expected`` has ``source_row, column, reason, description`` (header = row 1, first
        data row = row 2), one line per planted fault, including ``exact_duplicate`` for the
        copy that must be collapsed; ``accepted`` has ``source_row, column, value, note`` for
        rows with unusual but valid content that must NOT be rejected.

    Examples
    --------
    >>> messy, expected, accepted = make_messy()
    >>> int(expected["source_row"].duplicated().sum())
    0
    >>> "missing_required" in set(expected["reason"])
    True
    """
    cohort = simulate_cohort(n_episodes=120, seed=seed)
    episodes = cohort.groupby("episode_id", sort=True, observed=True).agg(
        fmt=("format", "first"), pa=("problem_area", "first"), n=("session", "size")
    )
    take, rows, seen = [], 0, set()
    for ep, row in episodes.iterrows():
        needed = {row.fmt, row.pa} - seen
        if rows < n_rows or needed & {*FORMATS, "grief", "role_transition"}:
            take.append(ep)
            rows += row.n
            seen |= {row.fmt, row.pa}
        if rows >= n_rows and set(FORMATS) <= seen and {"grief", "role_transition"} <= seen:
            break
    part = cohort[cohort["episode_id"].isin(take)]
    text = pd.read_csv(io.StringIO(csv_text(part)), dtype=str, keep_default_na=False)
    text.insert(text.columns.get_loc("phq9_9") + 1, "phq9_total", "")
    text["_key"] = np.arange(len(text)) * 2
    rng = np.random.default_rng(seed)
    used = np.zeros(len(text), dtype=bool)
    expected, accepted, extra = [], [], []
    phq_cols = [f"phq9_{i}" for i in range(1, 10)]

    def pick(cond=None) -> int:
        ok = ~used if cond is None else (~used & np.asarray(cond))
        i = int(rng.choice(np.flatnonzero(ok)))
        used[i] = True
        return i

    def fault(i, column, reason, description, key=None):
        k = text.at[i, "_key"] if key is None else key
        expected.append((k, column, reason, description))

    # Date order: dates of sessions 4 and 5 of one episode swapped; both rows are rejected.
    sess = text["session"].astype(int)
    long_eps = text.loc[sess == 5, "episode_id"]
    ep = long_eps.iloc[int(rng.integers(long_eps.size))]
    i4, i5 = (int(np.flatnonzero((text["episode_id"] == ep) & (sess == s))[0]) for s in (4, 5))
    used[[i4, i5]] = True
    text.loc[[i4, i5], "date"] = text.loc[[i5, i4], "date"].to_numpy()
    for i in (i4, i5):
        fault(i, "date", "date_order", f"{ep}: session 5 dated before session 4 (dates swapped)")
    i = pick(text["format"] == "group")
    text.at[i, "group_id"] = ""
    fault(i, "group_id", "group_without_group_id", "group-format row with group_id blank")
    for column, canonical, variant in _ACCEPTED_VARIANTS:
        i = pick(text[column] == canonical)
        text.at[i, column] = variant
        accepted.append((text.at[i, "_key"], column, variant, f"alias of {canonical}"))
    gad = text["gad7_1"] != ""
    plants = [
        ("format", "hypnotherapy", "unknown_label", "format not in the vocabulary", None),
        ("problem_area", "anger", "unknown_label", "problem area not in the vocabulary", None),
        ("phq9_3", "4", "item_out_of_range", "PHQ-9 item 3 = 4 (items are 0-3)", None),
        ("gad7_2", "-1", "item_out_of_range", "GAD-7 item 2 = -1 (items are 0-3)", gad),
        ("phq9_5", "2a", "non_numeric", "text '2a' in a PHQ-9 item", None),
        ("gad7_4", "two", "non_numeric", "text 'two' in a GAD-7 item", gad),
        ("client_id", "", "missing_required", "client_id blank", None),
        ("date", "2025-02-30", "bad_date", "impossible calendar date", None),
        ("date", "not a date", "bad_date", "date cell is free text", None),
    ]
    for column, value, reason, description, cond in plants:
        i = pick(cond)
        text.at[i, column] = value
        fault(i, column, reason, description)
    i = pick()
    text.loc[i, ["phq9_2", "phq9_4", "phq9_7"]] = ""
    fault(i, "phq9", "too_many_missing_items", "PHQ-9 items 2, 4 and 7 blank (3 missing)")
    i = pick()
    text.at[i, "phq9_6"] = ""
    accepted.append((text.at[i, "_key"], "phq9_6", "", "1 PHQ-9 item missing: prorated"))
    item_sum = text[phq_cols].apply(pd.to_numeric, errors="coerce").sum(axis=1, min_count=9)
    i = pick()
    s = int(item_sum[i])
    text.at[i, "phq9_total"] = str(s + 3 if s <= 24 else s - 3)
    fault(i, "phq9_total", "total_mismatch", f"phq9_total {text.at[i, 'phq9_total']} != items {s}")
    for _ in range(25):
        i = pick()
        text.at[i, "phq9_total"] = str(int(item_sum[i]))
        accepted.append((text.at[i, "_key"], "phq9_total", text.at[i, "phq9_total"], "= items"))
    i = pick()
    copy = text.loc[[i]].assign(_key=text.at[i, "_key"] + 1)
    extra.append(copy)
    fault(
        i,
        "",
        "exact_duplicate",
        "copy of the previous row (collapse, count once)",
        key=text.at[i, "_key"] + 1,
    )
    i = pick()
    old = int(text.at[i, "phq9_1"])
    conflict = text.loc[[i]].assign(
        _key=text.at[i, "_key"] + 1, phq9_1=str(old + 1 if old < 3 else old - 1)
    )
    extra.append(conflict)
    desc = "same episode and session as the {} row, different phq9_1"
    fault(i, "phq9_1", "duplicate_conflict", desc.format("next"))
    fault(i, "phq9_1", "duplicate_conflict", desc.format("previous"), key=text.at[i, "_key"] + 1)
    # values that once passed silently (planted last, so the rows above keep their faults)
    hardening = [
        ("client_id", "N/A", "missing_required", "client_id is a missing-value marker", None),
        ("phq9_4", "\uff12", "non_numeric", "fullwidth digit 2 in a PHQ-9 item", None),
        ("phq9_6", "2.9999999999999999", "non_numeric",
         "PHQ-9 item not exactly a whole number (a double holds it as 3)", None),
        ("group_id", "NULL", "group_without_group_id",
         "group-format row with a missing-value marker as group_id", text["format"] == "group"),
        ("phq9_total", "#DIV/0!", "spreadsheet_error", "spreadsheet error value as the total",
         None),
    ]  # fmt: skip
    for column, value, reason, description, cond in hardening:
        i = pick(cond)
        text.at[i, column] = value
        fault(i, column, reason, description)

    text = pd.concat([text, *extra]).sort_values("_key", ignore_index=True)
    row_of = dict(zip(text["_key"], np.arange(len(text)) + 2, strict=True))

    def table(records, columns):
        frame = pd.DataFrame(records, columns=["_key", *columns])
        frame.insert(0, "source_row", frame.pop("_key").map(row_of).astype("int64"))
        return frame.sort_values(["source_row", columns[0]], ignore_index=True)

    return (
        text.drop(columns="_key"),
        table(expected, ["column", "reason", "description"]),
        table(accepted, ["column", "value", "note"]),
    )
