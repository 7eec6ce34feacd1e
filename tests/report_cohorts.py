"""Small hand-built cohorts for the report tests (SYNTHETIC; every number chosen by hand)."""

from __future__ import annotations

import pandas as pd


def phq9_items(total: int, item9: int = 0) -> list[int]:
    """Nine PHQ-9 items summing to ``total`` with item 9 = ``item9``."""
    rest = total - item9
    items = []
    for _ in range(8):
        v = min(3, rest)
        items.append(v)
        rest -= v
    assert rest == 0, "total too large for the items"
    return [*items, item9]


def episode_rows(
    client,
    episode,
    *,
    fmt,
    site,
    therapist,
    start,
    totals,
    end_reason,
    area="grief",
    item9=None,
    group=None,
):
    """Weekly sessions from ``start`` with the given PHQ-9 totals."""
    rows = []
    item9 = item9 or {}
    for k, total in enumerate(totals, start=1):
        items = phq9_items(total, item9.get(k, 0))
        rows.append(
            {
                "client_id": client,
                "episode_id": episode,
                "session": k,
                "date": (pd.Timestamp(start) + pd.Timedelta(weeks=k - 1)).strftime("%Y-%m-%d"),
                "format": fmt,
                "problem_area": area,
                "therapist_id": therapist,
                "site": site,
                "group_id": group if fmt == "group" else None,
                "end_reason": end_reason,
                **{f"phq9_{i + 1}": v for i, v in enumerate(items)},
            }
        )
    return rows


def hand_cohort() -> pd.DataFrame:
    """Six episodes around 2026Q2 (see test_report.py for the counts worked by hand)."""
    rows = []
    # A: individual, north, 10 sessions 2026-03-02 .. 2026-05-04, completed, 20 -> 8
    rows += episode_rows(
        "cA",
        "eA",
        fmt="individual",
        site="north",
        therapist="t1",
        start="2026-03-02",
        totals=[20, 19, 18, 16, 15, 14, 12, 10, 9, 8],
        end_reason="completed",
    )
    # B: individual, north, 4 sessions 2026-04-06 .. 2026-04-27, dropout, 18 -> 15
    rows += episode_rows(
        "cB",
        "eB",
        fmt="individual",
        site="north",
        therapist="t2",
        start="2026-04-06",
        totals=[18, 17, 16, 15],
        end_reason="dropout",
        area="role_dispute",
    )
    # C: group, south, 12 sessions 2026-02-02 .. 2026-04-20, completed, 15 -> 4
    rows += episode_rows(
        "cC",
        "eC",
        fmt="group",
        site="south",
        therapist="t1",
        start="2026-02-02",
        totals=[15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4],
        end_reason="completed",
        group="g1",
    )
    # D: group, south, ongoing, 6 sessions 2026-05-04 .. 2026-06-08, item 9 endorsed at 2
    rows += episode_rows(
        "cD",
        "eD",
        fmt="group",
        site="south",
        therapist="t2",
        start="2026-05-04",
        totals=[16, 16, 15, 15, 14, 14],
        end_reason="ongoing",
        item9={2: 1, 3: 2},
        group="g1",
    )
    # E: individual, north, ended 2026-01-26 (previous quarter), completed, 12 -> 3
    rows += episode_rows(
        "cE",
        "eE",
        fmt="individual",
        site="north",
        therapist="t1",
        start="2025-12-01",
        totals=[12, 10, 8, 6, 5, 4, 3, 3, 3],
        end_reason="completed",
    )
    # F: individual, north, 2025-04-07 .. 2025-05-26 (same quarter a year before), 14 -> 12
    rows += episode_rows(
        "cF",
        "eF",
        fmt="individual",
        site="north",
        therapist="t1",
        start="2025-04-07",
        totals=[14, 14, 13, 13, 12, 12, 12, 12],
        end_reason="completed",
    )
    return pd.DataFrame(rows)
