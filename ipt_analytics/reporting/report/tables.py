"""Aggregate tables of a quarterly report, each suppressed and checked before it is returned.

Unit of count: the **episode** (a course of treatment), never the client. A quarter's
outcomes are those of episodes **ending** in it (end date in the quarter, end reason other
than ongoing); baselines are each episode's own first rating over the whole history, never
re-based by filtering rows to the quarter. Every table has a ``breakdown`` column (``all``,
``format``, ``problem_area``, ``site``) and a ``group`` column, so that each breakdown's groups
sum to its ``all`` row: the margins complementary suppression protects.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ipt_analytics.instruments.table import INSTRUMENTS, get_instrument
from ipt_analytics.reporting.privacy import local_codes as therapist_codes
from ipt_analytics.reporting.report.config import OUTCOMES
from ipt_analytics.reporting.report.periods import quarter_bounds
from ipt_analytics.reporting.report.shield import add_rates, protect

__all__ = [
    "BREAKDOWNS",
    "episode_frame",
    "caseload_table",
    "outcome_table",
    "attrition_table",
    "data_quality_table",
    "safety_table",
    "not_on_track_table",
    "no_early_improvement_table",
    "local_codes",
]

BREAKDOWNS = ("format", "problem_area", "site")
END_REASONS = ("completed", "dropout", "referred_on", "other")


def local_codes(values, prefix: str, names: dict | None = None) -> dict:
    """Report-local codes (``Site A``, ``T01``...) for raw labels, in sorted order; a configured
    display name replaces the code.

    Examples
    --------
    >>> local_codes(["x9", "b2", "x9"], "T")
    {'b2': 'T01', 'x9': 'T02'}
    >>> local_codes(["east", "west"], "Site ", {"west": "West clinic"})
    {'east': 'Site A', 'west': 'West clinic'}
    """
    raw = sorted({str(v) for v in values if pd.notna(v)})
    out = {}
    for i, v in enumerate(raw):
        if prefix.startswith("Site"):
            code = prefix + (chr(65 + i) if i < 26 else f"{i + 1:02d}")
        else:
            code = f"{prefix}{i + 1:02d}"
        out[v] = (names or {}).get(v, code)
    return out


def episode_frame(data, outcomes: pd.DataFrame, site_names: dict | None = None) -> pd.DataFrame:
    """One row per episode: dates, end reason, breakdown labels (sites and therapists as
    report-local codes) and the outcome columns. No identifier leaves this frame except the
    internal ``episode_id`` used to join, which no table carries."""
    ep = data.episodes[
        [
            "episode_id",
            "start_date",
            "end_date",
            "end_reason",
            "format",
            "problem_area",
            "site",
            "therapist_id",
        ]
    ].copy()
    keep = ["episode_id", "baseline", "final", "weeks", *[c for c in OUTCOMES if c in outcomes]]
    keep += [c for c in ("finished_treatment", "caseness_start") if c in outcomes]
    ep = ep.merge(outcomes[list(dict.fromkeys(keep))], on="episode_id", how="left")
    codes = local_codes(ep["site"], "Site ", site_names)
    ep["site"] = [codes.get(str(v), "unknown") if pd.notna(v) else "unknown" for v in ep["site"]]
    # therapists: codes by frequency and a hash, never in the IDs' own order or form
    ep["therapist"] = therapist_codes(ep["therapist_id"], prefix="T")
    ep = ep.drop(columns=["therapist_id"])
    ep["problem_area"] = (
        ep["problem_area"].astype(object).where(ep["problem_area"].notna(), "unknown")
    )
    reason = ep["end_reason"]
    ep["ended"] = reason.notna() & (reason != "ongoing") & ep["end_date"].notna()
    ep["end_group"] = np.where(reason.isin(END_REASONS[:3]), reason, "other")
    ep["end_month"] = ep["end_date"].dt.to_period("M")
    ep["end_quarter"] = ep["end_date"].dt.to_period("Q-DEC")
    return ep


def _by_breakdown(frame: pd.DataFrame, agg) -> pd.DataFrame:
    """Apply ``agg(sub) -> dict of counts`` to all episodes and to each breakdown's groups.

    The ``all`` row is repeated in every breakdown (``is_total``) so each breakdown's groups
    and its total form one margin for suppression.
    """
    rows = []
    overall = agg(frame)
    for b in BREAKDOWNS:
        rows.append({"breakdown": b, "group": "all", "is_total": True, **overall})
        levels = sorted(frame[b].dropna().unique(), key=str)
        for g in levels:
            rows.append(
                {"breakdown": b, "group": str(g), "is_total": False, **agg(frame[frame[b] == g])}
            )
    return pd.DataFrame(rows)


def _protect_breakdowns(table, policy, count_columns, linked=(), **structure):
    """Suppress a breakdown table (each breakdown's groups sum to its ``all`` row).

    The ``all`` row is repeated in every breakdown, so complementary suppression could hide it
    in one breakdown and show it in another, from which the hidden cells it protects could be
    recovered. That is rare (a total is hidden only when no group cell can be); when it
    happens the column, and the columns ``linked`` to it by a margin (a set of columns), are
    withheld from the whole table.
    """
    out = protect(
        table,
        policy=policy,
        count_columns=count_columns,
        by="breakdown",
        totals="is_total",
        **structure,
    )
    sets = [set(s) for s in linked] + [{c} for c in count_columns]
    for col in count_columns:
        if out.loc[out["is_total"], f"{col}_suppressed"].nunique() > 1:
            for group in sets:
                if col in group:
                    for c in group:
                        out[c] = out[c].astype("Int64").mask(pd.Series(True, index=out.index))
                        out[f"{c}_suppressed"] = True
                    out.attrs.setdefault("withheld", []).append(sorted(group))
                    break
    return out


def caseload_table(ep: pd.DataFrame, sessions: pd.DataFrame, quarter, policy) -> pd.DataFrame:
    """Episodes started, active at the quarter's end, ended (by reason) and sessions delivered.

    ``sessions`` holds one row per delivered session (``episode_id, session, date``).
    """
    first, last = quarter_bounds(quarter)
    in_q = sessions[(sessions["date"] >= first) & (sessions["date"] <= last)]
    per_ep = in_q.groupby("episode_id", observed=True).size()
    ep = ep.assign(_sessions=ep["episode_id"].map(per_ep).fillna(0).astype(int))
    ended_q = ep["ended"] & (ep["end_quarter"] == quarter)
    ep = ep.assign(
        _started=(ep["start_date"] >= first) & (ep["start_date"] <= last),
        _ended=ended_q,
        _active=(ep["start_date"] <= last) & (~ep["ended"] | (ep["end_date"] > last)),
    )

    def agg(sub):
        row = {
            "started": int(sub["_started"].sum()),
            "active_at_end": int(sub["_active"].sum()),
            "ended": int(sub["_ended"].sum()),
        }
        for r in END_REASONS:
            row[f"ended_{r}"] = int((sub["_ended"] & (sub["end_group"] == r)).sum())
        row["sessions"] = int(sub["_sessions"].sum())
        return row

    table = _by_breakdown(ep, agg)
    counts = ["started", "active_at_end", "ended", *[f"ended_{r}" for r in END_REASONS], "sessions"]
    ended = [f"ended_{r}" for r in END_REASONS]
    out = _protect_breakdowns(
        table, policy, counts, linked=[["ended", *ended]], row_totals={"ended": ended}
    )
    return out.drop(columns=["is_total"])


def _families(frame: pd.DataFrame, outcomes) -> list[list[str]]:
    """Outcomes grouped by identical denominators (the same episodes have a value), so that
    one shared ``n`` is suppressed once for all of them."""
    groups: dict = {}
    for o in outcomes:
        key = frame[o].notna().to_numpy().tobytes()
        groups.setdefault(key, []).append(o)
    return list(groups.values())


def _outcome_counts(frame, outcomes, policy) -> pd.DataFrame:
    """Long table ``outcome, breakdown, group, n, events`` (+ suppression flags) of a period."""
    long = []
    for family in _families(frame, outcomes):
        mask = frame[family[0]].notna()

        def agg(sub, family=family, mask=mask):
            m = mask.loc[sub.index]
            row = {"n": int(m.sum())}
            for o in family:
                row[f"ev_{o}"] = int(sub.loc[m, o].astype(bool).sum())
            return row

        table = _by_breakdown(frame, agg)
        evs = [f"ev_{o}" for o in family]
        out = _protect_breakdowns(
            table, policy, ["n", *evs], linked=[["n", *evs]], denominators={e: "n" for e in evs}
        )
        for o in family:
            part = out[["breakdown", "group", "n", "n_suppressed"]].copy()
            part.insert(0, "outcome", o)
            part["events"] = out[f"ev_{o}"]
            part["events_suppressed"] = out[f"ev_{o}_suppressed"]
            long.append(part)
    return pd.concat(long, ignore_index=True)


def _dropout_from_caseload(caseload: pd.DataFrame) -> pd.DataFrame:
    """Dropout counts as the caseload table publishes them (ended, ended by dropout): the same
    quantities must be the same published cells, or one table's complementary suppression could
    be undone by the other."""
    part = caseload[["breakdown", "group"]].copy()
    part.insert(0, "outcome", "dropout")
    part["n"], part["n_suppressed"] = caseload["ended"], caseload["ended_suppressed"]
    part["events"] = caseload["ended_dropout"]
    part["events_suppressed"] = caseload["ended_dropout_suppressed"]
    return part.reset_index(drop=True)


def outcome_table(
    ep: pd.DataFrame, quarters: dict, outcomes, policy, caseloads: dict | None = None
) -> pd.DataFrame:
    """Outcome rates (95% Wilson intervals) of episodes ending in the quarter, by breakdown,
    with the rate of the previous quarter and of the same quarter a year before and the
    changes in percentage points (shown only when both rates are shown).

    ``caseloads`` (``{key: caseload_table}`` per quarter): dropout is then taken from the
    caseload table's published cells (see :func:`_dropout_from_caseload`)."""
    outcomes = [o for o in outcomes if o in ep.columns]
    per = {}
    for key, q in quarters.items():
        frame = ep[ep["ended"] & (ep["end_quarter"] == q)]
        derived = caseloads is not None and "dropout" in outcomes
        own = [o for o in outcomes if not (derived and o == "dropout")]
        counts = _outcome_counts(frame, own, policy)
        if derived:
            counts = pd.concat([counts, _dropout_from_caseload(caseloads[key])], ignore_index=True)
        per[key] = add_rates(counts, {"rate": ("events", "n")})
    cur = per["current"].copy()
    keys = ["outcome", "breakdown", "group"]
    for key, label in (("previous", "prev"), ("year_before", "year")):
        other = per[key][[*keys, "rate_pct"]].rename(columns={"rate_pct": f"rate_{label}_pct"})
        cur = cur.merge(other, on=keys, how="left")
        cur[f"change_{label}_pp"] = (cur["rate_pct"] - cur[f"rate_{label}_pct"]).round(1)
    cur.insert(1, "label", cur["outcome"].map(lambda o: OUTCOMES[o][0]))
    cur.insert(0, "quarter", str(quarters["current"]))
    cur.attrs["quarters"] = {k: str(v) for k, v in quarters.items()}
    return cur


def attrition_table(caseload: pd.DataFrame) -> pd.DataFrame:
    """Ended episodes by format (dropped out, completed, referred on, other) and the dropout
    rate, taken from the caseload table's published cells (the same quantities, suppressed
    once)."""
    rows = caseload[caseload["breakdown"] == "format"]
    rows = pd.concat([rows[rows["group"] == "all"], rows[rows["group"] != "all"]])
    out = pd.DataFrame({"format": rows["group"].to_numpy()})
    for new, old in (
        ("ended", "ended"),
        ("dropout", "ended_dropout"),
        ("completed", "ended_completed"),
        ("referred_on", "ended_referred_on"),
        ("other", "ended_other"),
    ):
        out[new] = rows[old].to_numpy()
        out[f"{new}_suppressed"] = rows[f"{old}_suppressed"].to_numpy()
    return add_rates(out, {"dropout_rate": ("dropout", "ended")})


def data_quality_table(data, ep: pd.DataFrame, quarter, instrument, policy) -> pd.DataFrame:
    """Rows rejected (by reason), episodes without a baseline, finished episodes with paired
    scores, ratings without a date: numerator, denominator and rate."""
    rows = []
    by_reason = data.rejected_by_reason
    by_reason = by_reason() if callable(by_reason) else by_reason
    n_rows = int(data.n_input_rows)
    rows.append(("rows accepted", int(data.n_accepted_rows), n_rows))
    for r in by_reason.itertuples(index=False):
        rows.append((f"rows rejected: {r.reason}", int(r.n_rows), n_rows))
    in_q = ep[ep["ended"] & (ep["end_quarter"] == quarter)]
    rows.append(
        ("ended episodes without a baseline rating", int(in_q["baseline"].isna().sum()), len(in_q))
    )
    if "finished_treatment" in in_q:
        fin = in_q[in_q["finished_treatment"].fillna(False).astype(bool)]
        paired = int(
            (fin["baseline"].notna() & fin["final"].notna() & (fin["weeks"].fillna(0) > 0)).sum()
        )
        rows.append(("finished episodes with paired scores", paired, len(fin)))
    ratings = data.sessions[data.sessions["instrument"] == instrument]
    rows.append(("ratings without a date", int(ratings["date"].isna().sum()), len(ratings)))
    table = pd.DataFrame(rows, columns=["measure", "count", "of"])
    # each measure has its own denominator; suppress each count against it
    out = []
    for i in range(len(table)):
        part = protect(
            table.iloc[[i]],
            policy=policy,
            count_columns=["count", "of"],
            denominators={"count": "of"},
        )
        out.append(part)
    result = pd.concat(out, ignore_index=True)
    return add_rates(result, {"share": ("count", "of")})


def safety_table(sessions: pd.DataFrame, quarter, policy) -> pd.DataFrame:
    """Episodes rated in the quarter and episodes with a safety item endorsed (counts only).

    A safety item is the instrument's suicide item (``safety_item`` in the instrument table,
    e.g. PHQ-9 item 9); an endorsement is any rating whose ``safety_flag`` is True.
    """
    first, last = quarter_bounds(quarter)
    rows = []
    for name, inst in INSTRUMENTS.items():
        items = tuple(getattr(inst, "safety_items", ()) or ())
        if not items:
            continue
        r = sessions[
            (sessions["instrument"] == name)
            & (sessions["date"] >= first)
            & (sessions["date"] <= last)
        ]
        if r.empty:
            continue
        flagged = r[r["safety_flag"].fillna(False).astype(bool)]
        rows.append(
            {
                "instrument": inst.label,
                "item": ("item " if len(items) == 1 else "items ") + ", ".join(map(str, items)),
                "episodes_rated": int(r["episode_id"].nunique()),
                "episodes_endorsed": int(flagged["episode_id"].nunique()),
                "ratings_endorsed": int(len(flagged)),
            }
        )
    table = pd.DataFrame(
        rows,
        columns=["instrument", "item", "episodes_rated", "episodes_endorsed", "ratings_endorsed"],
    )
    if table.empty:
        return table
    out = []
    for i in range(len(table)):
        out.append(
            protect(
                table.iloc[[i]],
                policy=policy,
                count_columns=["episodes_rated", "episodes_endorsed", "ratings_endorsed"],
                denominators={"episodes_endorsed": "episodes_rated"},
            )
        )
    return pd.concat(out, ignore_index=True)


def _counts_by_format(frame: pd.DataFrame, agg, denominators: dict, policy) -> pd.DataFrame:
    """Counts ``agg(rows)`` for all rows and for each format, suppressed as one table (the
    all-formats row is the total); the count columns are the keys ``agg`` returns."""
    rows = [{"format": "all", "is_total": True, **agg(frame)}]
    for g in sorted(frame["format"].dropna().unique()):
        rows.append({"format": g, "is_total": False, **agg(frame[frame["format"] == g])})
    table = pd.DataFrame(rows).assign(breakdown="format")
    out = protect(
        table,
        policy=policy,
        count_columns=list(agg(frame.iloc[:0])),
        by="breakdown",
        totals="is_total",
        denominators=denominators,
    )
    return out.drop(columns=["is_total", "breakdown"])


def not_on_track_table(flags: pd.DataFrame, ep: pd.DataFrame, policy) -> pd.DataFrame:
    """Active episodes assessed against their expected-recovery band, and those not on track,
    by format (counts only)."""
    f = flags.merge(ep[["episode_id", "format"]], on="episode_id", how="left")
    f = f[f["latest_session"].notna() & f["excess"].notna()]

    def agg(sub):
        return {"assessed": len(sub), "not_on_track": int(sub["not_on_track"].sum())}

    return _counts_by_format(f, agg, {"not_on_track": "assessed"}, policy)


def no_early_improvement_table(
    sessions: pd.DataFrame, ep: pd.DataFrame, instrument, policy, weeks=(4, 8)
) -> pd.DataFrame:
    """Active episodes rated between weeks 4 and 8 of treatment, and those without a reliable
    improvement (a fall of at least the instrument's reliable-change points from baseline) at
    any of those ratings: the guideline's point to review the plan. Counts only, by format."""
    inst = get_instrument(instrument)
    active = ep.loc[~ep["ended"], ["episode_id", "format", "baseline"]]
    r = sessions[(sessions["instrument"] == instrument) & sessions["total"].notna()]
    r = r[r["episode_id"].isin(active["episode_id"])]
    r = r[(r["week"] >= weeks[0]) & (r["week"] <= weeks[1])]
    r = r[["episode_id", "week", "total"]].merge(active, on="episode_id", how="inner")
    sign = -1.0 if inst.better_is == "lower" else 1.0
    r["improved"] = sign * (r["total"] - r["baseline"]) >= inst.reliable_change
    per = r.groupby("episode_id", observed=True).agg(
        format=("format", "first"), improved=("improved", "any")
    )

    def agg(sub):
        return {
            "rated_weeks_4_8": len(sub),
            "no_reliable_improvement": int((~sub["improved"]).sum()),
        }

    out = _counts_by_format(per, agg, {"no_reliable_improvement": "rated_weeks_4_8"}, policy)
    out.attrs["threshold"] = inst.reliable_change
    return out
