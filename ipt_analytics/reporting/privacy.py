"""Small-cell suppression for tables that leave the service (docs/definitions.md).

Privacy controls are applied last, to finished aggregate tables. Suppressed cells become NA
(columns stay numeric) with a boolean ``<col>_suppressed`` companion; display code renders "*".

Complementary (secondary) suppression uses the standard heuristic: every *margin* (a set of
cells whose sum the reader knows) must not contain exactly one unknown cell, because a single
unknown equals the margin total minus the shown cells. Margins come from ``denominators``
(``events`` + hidden ``n - events`` = ``n``), ``row_totals`` (part columns sum to a total
column) and ``by`` groups with ``totals`` (a group's rows sum to a total row or to a published
total). While some margin has exactly one suppressed cell (or, without rounding, a derivable
hidden complement that is a small count), the smallest shown cell of that margin, non-zero
first, is suppressed too; this repeats until no margin changes. Like any heuristic it does not
guarantee protection against attacks that combine several margins by linear programming
(use ``sdcTable`` for a full audit); :func:`check_no_disclosure` re-derives cells by
repeated single-unknown elimination, which does cover chains of margins.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ipt_analytics.errors import SchemaError

__all__ = ["SuppressionPolicy", "POLICIES", "suppress_table", "check_no_disclosure",
           "drop_identifiers", "IDENTIFIER_COLUMNS", "local_codes"]  # fmt: skip

IDENTIFIER_COLUMNS = ("client_id", "episode_id")


@dataclass(frozen=True)
class SuppressionPolicy:
    """One small-cell rule: counts ``1 .. min_shown - 1`` (and 0 unless ``zero_shown``) hidden."""

    name: str
    rule: str
    min_shown: int
    zero_shown: bool
    rounding: str | None  # None, "nearest_5" or "tsql_round_div5"
    citation: str
    note: str = ""
    # where a rounding policy's rates come from: the published (rounded) counts, or the true
    # (unrounded) counts as in NHS England's suppressed dashboard query
    rates_from: str = "rounded"

    def is_sensitive(self, count: float) -> bool:
        return (count == 0 and not self.zero_shown) or 0 < count < self.min_shown

    def round(self, count: int) -> int:
        """Published value of a shown count.

        ``nearest_5`` rounds to the nearest multiple of 5; ``tsql_round_div5`` reproduces
        SQL Server's ``ROUND(x/5.0,0)*5``: ``x/5.0`` is a DECIMAL and ``ROUND`` of a DECIMAL
        rounds half away from zero (a count of 12.5 would give 15, -12.5 -15). For whole
        counts the two agree (an integer over 5 never ends in .5).
        """
        if self.rounding is None:
            return int(count)
        if self.rounding == "nearest_5":
            return int(math.floor(count / 5 + 0.5)) * 5
        # tsql_round_div5: half away from zero, not to even as Python's round()
        q = abs(count) / 5
        return int(math.copysign(math.floor(q + 0.5), count)) * 5


POLICIES: dict[str, SuppressionPolicy] = {
    p.name: p
    for p in [
        SuppressionPolicy(
            "nhs_digital",
            "sub-national: 0 shown; 1-7 suppressed ('*'); others rounded to the nearest 5; "
            "percentages from rounded values; statistics based on 1-7 individuals not shown",
            8, True, "nearest_5",
            "NHS Digital HES/ECDS disclosure control (since Sept 2018): https://digital.nhs.uk/"
            "data-and-information/data-tools-and-services/data-services/hospital-episode-"
            "statistics/change-to-disclosure-control-methodology-for-hes-and-ecds-from-"
            "september-2018",
            "exact wording 1-7 versus the legacy 1-5 is unverified",
        ),
        SuppressionPolicy(
            "nhs_tt_dashboard",
            "sub-national counts < 5 -> NULL; others ROUND(x/5.0,0)*5 (nearest 5, half away "
            "from zero); percentages from the UNROUNDED counts, NULL when the numerator or "
            "the denominator is < 5",
            5, False, "tsql_round_div5",
            # nhsengland/Talking-Therapies @ 8458b2e, 'Key Metrics Dashboard/KM monthly update
            # - Suppressed.sql': counts l.230-235 (Count_Recovery: < 5 THEN NULL ELSE
            # ROUND((COUNT(...)/5.0),0)*5), percentages l.265-307 (Percentage_Recovery,
            # _ReliableRecovery, _ReliableDeterioration, _ReliableImprovement: NULL when the
            # denominator < 5 or the numerator < 5, ELSE CAST(num AS float) / CAST(den AS float)
            # on the unrounded COUNTs, not rounded). Lines are the Region block (l.205-526);
            # the Sub-ICB and ICB blocks repeat it; the national block is unsuppressed.
            "nhsengland/Talking-Therapies: Key Metrics Dashboard/KM monthly update - "
            "Suppressed.sql (counts l.230-235, percentages l.265-307)",
            "national counts are unrounded there. A percentage of unrounded counts shown next "
            "to rounded counts can reveal the exact counts, and so a small complement (e.g. "
            "12 finished, 10 recovered: counts 10 and 10, rate 83.3% -> only 10/12 fits, so 2 "
            "did not recover); NHS England accepts this for its management dashboards; "
            "check_no_disclosure does not model it",
            rates_from="unrounded",
        ),
        SuppressionPolicy(
            "cms",
            "no cell 1-10 shown; 0 allowed; nothing from which 1-10 can be derived",
            11, True, None,
            "https://resdac.org/node/1506 ; https://www.hhs.gov/guidance/document/"
            "cms-cell-suppression-policy",
        ),
        SuppressionPolicy(
            "pcornet", "minimum cell size 11 (non-zero counts 1-10 suppressed)", 11, True, None,
            "https://stat.ethz.ch/CRAN/web/packages/countmaskr/readme/README.html",
            "zero treated as shown (unverified)",
        ),
        SuppressionPolicy(
            "pedsnet", "minimum cell size 5 (non-zero counts 1-4 suppressed)", 5, True, None,
            "https://stat.ethz.ch/CRAN/web/packages/countmaskr/readme/README.html",
            "zero treated as shown (unverified)",
        ),
        SuppressionPolicy(
            "wa_doh", "non-zero counts < 10 suppressed; secondary suppression", 10, True, None,
            "https://records.co.kittitas.wa.us/WebLink/0/doc/4358658/Page28.aspx ; "
            "https://rdrr.io/github/PHSKC-APDE/rads/man/suppress.html",
        ),
    ]
}  # fmt: skip


def _policy(policy) -> SuppressionPolicy:
    if isinstance(policy, SuppressionPolicy):
        return policy
    if policy not in POLICIES:
        raise ValueError(
            f"suppress_table(): policy={policy!r} is not known; use one of {sorted(POLICIES)} "
            "or a SuppressionPolicy"
        )
    return POLICIES[policy]


@dataclass
class _Margin:
    cells: list  # interior cells: (row position, column) or ("hidden", row, numerator column)
    total: object  # a cell, or a number the reader knows
    label: str


def _structure(table, count_columns, denominators, row_totals, by, totals, check=True):
    """Margins (known sums) of the table, and the hidden complement values."""
    margins, hidden = [], {}
    for num, den in (denominators or {}).items():
        for i in range(len(table)):
            hidden[("hidden", i, num)] = table[den].iat[i] - table[num].iat[i]
            margins.append(_Margin([(i, num), ("hidden", i, num)], (i, den), f"{den} - {num}"))
    for tot, parts in (row_totals or {}).items():
        for i in range(len(table)):
            margins.append(_Margin([(i, p) for p in parts], (i, tot), f"row total {tot!r}"))
    if totals is None:
        return margins, hidden
    keys = ([by] if isinstance(by, str) else list(by)) if by is not None else []
    groups = (
        table.groupby(keys, sort=True, dropna=False, observed=True).indices
        if keys
        else {(): range(len(table))}
    )
    for key, rows in groups.items():
        rows = list(rows)
        gkey = key[0] if isinstance(key, tuple) and len(key) == 1 else key
        if isinstance(totals, str):  # a boolean column flags the total row of each group
            flag = table[totals].to_numpy(dtype=bool)[rows]
            if flag.sum() != 1:
                raise ValueError(
                    f"suppress_table(): group {gkey!r} needs exactly one row with "
                    f"{totals}=True, found {int(flag.sum())}"
                )
            tot_row = rows[int(np.flatnonzero(flag)[0])]
            parts = [r for r in rows if r != tot_row]
        for col in count_columns:
            if isinstance(totals, str):
                total = (tot_row, col)
                if check and table[col].iloc[parts].sum() != table[col].iat[tot_row]:
                    raise ValueError(
                        f"suppress_table(): the total row of group {gkey!r} is not "
                        f"the sum of its rows in {col!r}"
                    )
            elif col in totals and (not isinstance(totals[col], Mapping) or gkey in totals[col]):
                t = totals[col]
                total, parts = (t[gkey] if isinstance(t, Mapping) else t), rows
            else:
                continue
            margins.append(_Margin([(r, col) for r in parts], total, f"{col} in group {gkey!r}"))
    return margins, hidden


def _value(table, hidden, cell):
    return hidden[cell] if cell[0] == "hidden" else table[cell[1]].iat[cell[0]]


def _complementary(table, policy, margins, hidden, suppressed):
    """Add cells until no margin has exactly one unknown (see module docstring)."""
    changed = True
    while changed:
        changed = False
        for m in margins:
            cells = m.cells + ([m.total] if isinstance(m.total, tuple) else [])
            unknown = [c for c in cells if c in suppressed or c[0] == "hidden"]
            if len(unknown) != 1:
                continue
            u = unknown[0]
            if u[0] == "hidden" and (policy.rounding or not policy.is_sensitive(hidden[u])):
                continue  # the derived complement is harmless (or only known to within rounding)
            options = [c for c in m.cells if c not in suppressed and c[0] != "hidden"]
            if not options and isinstance(m.total, tuple):
                options = [m.total]
            if not options:
                raise ValueError(
                    f"suppress_table(): the suppressed cell {u} equals the published total of "
                    f"margin {m.label}; withhold that total or merge categories"
                )
            val = {c: _value(table, hidden, c) for c in options}
            suppressed.add(min(options, key=lambda c: (val[c] == 0, val[c], c)))
            changed = True


def suppress_table(table: pd.DataFrame, *, count_columns: Sequence[str], policy="nhs_digital",
                   rate_columns: Mapping | None = None, denominators: Mapping | None = None,
                   by=None, totals=None, row_totals: Mapping | None = None,
                   secondary: bool = True) -> pd.DataFrame:  # fmt: skip
    """Apply a small-cell policy to an aggregate table.

    Parameters
    ----------
    table : DataFrame of whole, non-negative counts (and rates).
    count_columns : columns holding counts (denominator and total columns included).
    policy : name in :data:`POLICIES` or a :class:`SuppressionPolicy`.
    rate_columns : ``{rate: (numerator, denominator)}`` or ``(numerator, denominator, scale)``
        (scale 100 for percentages). A rate whose numerator or denominator is suppressed is
        suppressed; with a rounding policy it is recomputed from the counts: the rounded ones
        (``nhs_digital``), or the unrounded ones (``nhs_tt_dashboard``, as NHS England's
        query; such a rate can give away the exact counts, see that policy's ``note``).
    denominators : ``{count: denominator}``; the count is also suppressed when its denominator
        is, and ``denominator - count`` is treated as a hidden cell of the same margin.
    by, totals : rows in each ``by`` group sum to a known total: ``totals`` names a boolean
        column flagging each group's total row, or maps a count column to its published total
        (a number, or ``{group: number}`` when ``by`` is given).
    row_totals : ``{total column: [part columns]}`` for a total column.
    secondary : apply complementary suppression.

    Returns
    -------
    DataFrame: counts as ``Int64`` and rates as ``Float64`` with NA where suppressed, a boolean
    ``<col>_suppressed`` per count and rate column, ``attrs["suppression"]`` with the policy,
    its citation, the counts of primary and secondary cells and the structure used.

    Examples
    --------
    >>> t = pd.DataFrame({"site": ["a", "b", "c"], "n": [40, 12, 3], "events": [20, 5, 0]})
    >>> out = suppress_table(t, count_columns=["n", "events"], denominators={"events": "n"})
    >>> out[["n", "events"]].to_numpy().tolist()
    [[40, 20], [10, <NA>], [<NA>, <NA>]]
    >>> out.attrs["suppression"]["n_primary"], out.attrs["suppression"]["n_secondary"]
    (3, 0)
    """
    pol = _policy(policy)
    count_columns, rate_columns = list(count_columns), dict(rate_columns or {})
    missing = [c for c in [*count_columns, *rate_columns] if c not in table.columns]
    if missing:
        raise ValueError(
            f"suppress_table(): columns {missing} are not in the table; "
            f"it has {list(table.columns)}"
        )
    work = table.reset_index(drop=True)
    for col in count_columns:
        v = pd.to_numeric(work[col], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        if not np.all(np.isfinite(v) & (v >= 0) & (v == np.round(v))):
            raise SchemaError(
                f"suppress_table(): count column {col!r} must hold whole numbers "
                ">= 0 with no missing values; aggregate before suppressing"
            )
        work[col] = v.astype(np.int64)
    margins, hidden = _structure(work, count_columns, denominators, row_totals, by, totals)
    suppressed = {
        (i, c) for c in count_columns for i in range(len(work)) if pol.is_sensitive(work[c].iat[i])
    }
    changed = True
    while changed:  # statistics based on a suppressed denominator are not shown
        extra = {(i, num) for num, den in (denominators or {}).items()
                 for i in range(len(work)) if (i, den) in suppressed} - suppressed  # fmt: skip
        suppressed |= extra
        changed = bool(extra)
    n_primary = len(suppressed)
    if secondary:
        _complementary(work, pol, margins, hidden, suppressed)
    out = table.copy()
    for col in count_columns:
        mask = np.array([(i, col) in suppressed for i in range(len(work))], dtype=bool)
        shown = [pol.round(x) for x in work[col]]
        out[col] = pd.Series(shown, index=out.index, dtype="Int64").mask(mask)
        out[f"{col}_suppressed"] = mask
    for rate, spec in rate_columns.items():
        num, den = spec[0], spec[1]
        scale = spec[2] if len(spec) > 2 else 1.0
        mask = (out[f"{num}_suppressed"] | out[f"{den}_suppressed"]).to_numpy()
        values = pd.array(pd.to_numeric(table[rate]), dtype="Float64")
        if pol.rounding:
            src = out if pol.rates_from == "rounded" else work.set_axis(out.index)
            n_, d_ = src[num].astype("Float64"), src[den].astype("Float64")
            values = (scale * n_ / d_.where(d_ != 0, pd.NA)).array
        out[rate] = pd.array(values, dtype="Float64")
        out.loc[mask, rate] = pd.NA
        out[f"{rate}_suppressed"] = mask & pd.notna(table[rate]).to_numpy()
    out.attrs["suppression"] = {
        "policy": pol.name, "rule": pol.rule, "citation": pol.citation, "note": pol.note,
        "n_primary": n_primary, "n_secondary": len(suppressed) - n_primary,
        "count_columns": count_columns, "rate_columns": rate_columns, "by": by, "totals": totals,
        "denominators": dict(denominators or {}), "row_totals": dict(row_totals or {}),
    }  # fmt: skip
    return out


def check_no_disclosure(table: pd.DataFrame, *, policy=None, count_columns=None,
                        rate_columns=None, denominators=None, by=None, totals=None,
                        row_totals=None) -> None:  # fmt: skip
    """Raise ValueError when a suppressed count can be derived from what a table shows.

    Suppressed cells are re-derived from rates shown with their numerator or denominator and by
    repeated single-unknown elimination over every margin (exact for unrounded policies; for
    rounding policies a margin with one unknown is solved by interval arithmetic, each shown
    count being within +/-2 of its true value).

    Not modelled: a rate computed from *unrounded* counts (policy ``nhs_tt_dashboard``, as
    NHS England's suppressed dashboard query) shown beside rounded counts can pin down the
    exact counts, and with them a small complement (denominator minus numerator); this check
    does not look for that. Use ``nhs_digital`` (rates from rounded counts) where that matters.

    The policy and the table's structure (``count_columns``, ``rate_columns``,
    ``denominators``, ``by``, ``totals``, ``row_totals``; as for :func:`suppress_table`) can be
    passed explicitly, which is the safe way for a table that went through a merge, a concat
    or a file (pandas drops ``attrs`` there). Arguments not given are taken from the record
    :func:`suppress_table` leaves in ``table.attrs["suppression"]``; when neither is there the
    check refuses to guess (a ValueError saying what to pass), never a bare KeyError.

    Examples
    --------
    >>> t = pd.DataFrame({"g": ["a", "b", "c"], "n": [30, 20, 4]})
    >>> out = suppress_table(t, count_columns=["n"], policy="cms", totals={"n": 54})
    >>> check_no_disclosure(out)  # 4 and its complementary 20 are both hidden
    >>> bad = suppress_table(t, count_columns=["n"], policy="cms", totals={"n": 54},
    ...                      secondary=False)
    >>> check_no_disclosure(bad)
    Traceback (most recent call last):
    ...
    ValueError: check_no_disclosure(): row 2 column 'n' (suppressed) can be derived as 4 ...
    >>> merged = bad.merge(pd.DataFrame({"g": ["a", "b", "c"]}), on="g")  # attrs are gone
    >>> check_no_disclosure(merged, policy="cms", count_columns=["n"], totals={"n": 54})
    Traceback (most recent call last):
    ...
    ValueError: check_no_disclosure(): row 2 column 'n' (suppressed) can be derived as 4 ...
    """
    meta = dict(table.attrs.get("suppression", {}))
    given = {"policy": policy, "count_columns": count_columns, "rate_columns": rate_columns,
             "denominators": denominators, "by": by, "totals": totals,
             "row_totals": row_totals}  # fmt: skip
    meta.update({k: v for k, v in given.items() if v is not None})
    absent = [k for k in ("policy", "count_columns") if meta.get(k) is None]
    if absent:
        raise ValueError(
            f"check_no_disclosure(): {' and '.join(absent)} not given and the table carries no "
            "suppression record (table.attrs['suppression'] is lost by merge, concat and "
            "files). Fix: pass policy=..., count_columns=[...] and the structure used when "
            "suppressing (rate_columns, denominators, by, totals, row_totals) explicitly."
        )
    missing = [c for c in [*meta["count_columns"], *dict(meta.get("rate_columns") or {})]
               if c not in table.columns]  # fmt: skip
    if missing:
        raise ValueError(
            f"check_no_disclosure(): columns {missing} are not in the table; it has "
            f"{list(table.columns)}"
        )
    pol = _policy(meta["policy"])
    cols = list(meta["count_columns"])
    work = table.reset_index(drop=True)
    for rate, spec in dict(meta.get("rate_columns") or {}).items():
        for i in range(len(work)):
            if pd.notna(work[rate].iat[i]) and (
                pd.isna(work[spec[0]].iat[i]) or pd.isna(work[spec[1]].iat[i])
            ):
                raise ValueError(
                    f"check_no_disclosure(): row {i} shows {rate!r} while {spec[0]!r} or "
                    f"{spec[1]!r} is suppressed; the suppressed count is derivable from it"
                )
    # a shown count r stands for the true values r (unrounded, or 0) or r-2 .. r+2 (rounded)
    known = {}
    for c in cols:
        for i in range(len(work)):
            r = work[c].iat[i]
            if pd.notna(r):
                r = float(r)
                slack = 2.0 if pol.rounding and r > 0 else 0.0
                known[(i, c)] = (max(r - slack, pol.min_shown if r > 0 else 0.0), r + slack)
    filled = work.copy()
    for c in cols:
        filled[c] = pd.to_numeric(filled[c]).fillna(0).astype(float)
    margins, _ = _structure(filled, cols, meta.get("denominators"), meta.get("row_totals"),
                            meta.get("by"), meta.get("totals"), check=False)  # fmt: skip
    # what a reader knows of a suppressed cell: 1 or more when zeros are shown, else 0 or more
    prior = 1.0 if pol.zero_shown else 0.0
    progress = True
    while progress:
        progress = False
        for m in margins:
            total = m.total if isinstance(m.total, tuple) else None
            cells = m.cells + ([total] if total else [])
            unknown = [c for c in cells if c not in known]
            if len(unknown) != 1:
                continue
            u = unknown[0]
            t = known[total] if total else (float(m.total), float(m.total))
            lo_sum = sum(known[c][0] for c in m.cells if c != u)
            hi_sum = sum(known[c][1] for c in m.cells if c != u)
            lo, hi = (lo_sum, hi_sum) if u == total else (t[0] - hi_sum, t[1] - lo_sum)
            if u[0] == "hidden":
                if lo == hi and pol.is_sensitive(lo):
                    raise ValueError(
                        f"check_no_disclosure(): row {u[1]}: {m.label} = {lo:g} is a small "
                        f"count derivable from the shown {u[2]!r} and its denominator; "
                        f"suppress {u[2]!r} there"
                    )
                if lo == hi:
                    known[u] = (lo, hi)
                    progress = True
                continue
            lo = max(lo, prior)
            if lo == hi:
                raise ValueError(
                    f"check_no_disclosure(): row {u[0]} column {u[1]!r} (suppressed) can be "
                    f"derived as {lo:g} from margin {m.label}; suppress a second cell there"
                )


def drop_identifiers(table: pd.DataFrame, *, extra: Sequence[str] = ()) -> pd.DataFrame:
    """A copy of ``table`` without ``client_id``, ``episode_id`` and the ``extra`` columns.

    Examples
    --------
    >>> t = pd.DataFrame({"client_id": ["a"], "episode_id": ["a1"], "site": ["x"], "n": [1]})
    >>> list(drop_identifiers(t, extra=["site"]).columns)
    ['n']
    """
    drop = [c for c in [*IDENTIFIER_COLUMNS, *extra] if c in table.columns]
    out = table.drop(columns=drop)
    out.attrs = dict(table.attrs)
    return out


def local_codes(values: pd.Series, *, prefix: str = "T") -> pd.Series:
    """Report-local codes (``T01``, ``T02``...) in place of identifiers such as therapist IDs.

    The code says nothing about the identifier: codes are given in order of decreasing
    frequency, ties broken by a hash of the value (not by its alphabetical order, which would
    let a reader who knows the IDs map them back); missing values stay missing. The same input
    gives the same codes (determinism), but a code means something only within the one
    table or report it appears in, and the key is never written anywhere.

    Examples
    --------
    >>> local_codes(pd.Series(["Dr Smith", "Dr Jones", "Dr Smith", None])).tolist()
    ['T1', 'T2', 'T1', nan]
    """
    text = values.astype(object).where(values.notna(), None)
    present = text.dropna().astype(str)
    counts = present.value_counts()
    order = sorted(counts.index, key=lambda v: (-counts[v],
                                                hashlib.sha256(v.encode()).hexdigest()))
    width = len(str(len(order)))
    raw = set(order)
    # a code that reads like an identifier of the same service (therapist "T17" coded "T17")
    # would publish it, or pin one therapist's results on another: change the prefix instead
    for lead in (prefix, f"{prefix}-", f"local-{prefix}"):
        key = {v: f"{lead}{k:0{width}d}" for k, v in enumerate(order, start=1)}
        if not raw & set(key.values()):
            break
    else:
        raise ValueError(f"local_codes(): every code with prefix {prefix!r} is also a raw value; "
                         "choose another prefix")  # fmt: skip
    return text.map(lambda v: np.nan if v is None else key[str(v)])
