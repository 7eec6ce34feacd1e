"""Chart tables of the report: monthly p-charts, Making Data Count icons, funnel tables and
model-adjusted trajectories. Tables only; drawing is in :mod:`ipt_analytics.plotting`.

Monthly resolution over the whole history: a quarter has too few points for SPC (Making Data
Count asks for at least 15-20). The first months of an extract are **incomplete** (episodes
begun before the extract are missing, so early endings are short episodes only): they are
marked, kept out of the limits and not judged. Limits are frozen on the configured baseline
months (or all complete months of the first phase) and recomputed in each later phase.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ipt_analytics.reporting.report.config import OUTCOMES, ReportConfig
from ipt_analytics.reporting.report.periods import quarter_bounds
from ipt_analytics.reporting.report.shield import protect
from ipt_analytics.stats.funnel import funnel_limits, funnel_table
from ipt_analytics.stats.mdc import assurance_icon, mdc_chart, variation_icon
from ipt_analytics.stats.spc import p_chart

__all__ = ["monthly_chart", "spc_summary", "funnel_units", "trajectory_lines"]

SIGMA = 3.0


def _spc_signals(chart: pd.DataFrame, first_phase_freeze: int | None) -> pd.DataFrame:
    """Centre line, limits and the signals that fired (in words) for the shown months.

    The single place where the report evaluates SPC rules: :func:`ipt_analytics.stats.spc.
    p_chart` (3-sigma limits and Anhoej's run rules as qicharts2 computes them) over the months
    with a published rate, one part per phase, the first phase frozen on its baseline months,
    start-of-extract months incomplete (never judged) and complete months before the baseline
    excluded from the centre line and the runs analysis.
    """
    rows = chart[chart["valid"]]
    counts = pd.DataFrame(
        {
            "month": rows["month"].to_numpy(),
            "events": rows["events"].astype(float).to_numpy(),
            "n": rows["n"].astype(float).to_numpy(),
            "phase": rows["phase"].to_numpy(),
            "exclude": rows["before_baseline"].to_numpy(dtype=bool),
            "incomplete": rows["incomplete"].to_numpy(dtype=bool),
        }
    )
    if counts.empty:
        return pd.DataFrame(index=rows.index, columns=["centre", "lcl", "ucl", "signal"])
    res = p_chart(
        counts,
        period="month",
        events="events",
        n="n",
        sigma=SIGMA,
        freeze=first_phase_freeze,
        part="phase",
        exclude="exclude",
        incomplete="incomplete",
    )
    out = res[["centre", "lcl", "ucl", "signal"]].copy()
    out["signal"] = out["signal"].replace("incomplete", "")
    out.index = rows.index
    return out


def monthly_chart(
    ep, outcome: str, quarter, config: ReportConfig, policy: str, quarter_totals: dict | None = None
) -> pd.DataFrame:
    """Monthly p-chart table of one outcome over the whole history up to the quarter's end.

    Columns ``month, n, events, rate, centre, lcl, ucl, phase, baseline, incomplete,
    suppressed, judged, signal``. Months whose counts are suppressed have no rate and no
    limits (nothing drawn from them); ``quarter_totals`` (``{quarter: (n, events)}`` published
    elsewhere in the report) are margins of the months, so complementary suppression covers
    them.
    """
    last = quarter_bounds(quarter)[1].to_period("M")
    first = ep["start_date"].min().to_period("M")
    months = pd.period_range(first, last, freq="M")
    frame = ep[ep["ended"] & ep[outcome].notna() & (ep["end_month"] <= last)]
    grouped = frame.groupby("end_month", observed=True)[outcome]
    n = grouped.size().reindex(months, fill_value=0)
    events = grouped.apply(lambda s: int(s.astype(bool).sum())).reindex(months, fill_value=0)
    table = pd.DataFrame(
        {
            "month": months.strftime("%Y-%m"),
            "n": n.to_numpy(),
            "events": events.to_numpy().astype(int),
        }
    )
    table["quarter"] = months.asfreq("Q-DEC").strftime("%YQ%q")
    totals = {}
    for q, (tn, te) in (quarter_totals or {}).items():
        if str(q) in set(table["quarter"]):
            totals.setdefault("n", {})[str(q)] = tn
            totals.setdefault("events", {})[str(q)] = te
    shown = protect(
        table,
        policy=policy,
        count_columns=["n", "events"],
        by="quarter",
        totals=totals or None,
        denominators={"events": "n"},
    )
    chart = shown[["month", "quarter", "n", "events"]].copy()
    chart["suppressed"] = (shown["n_suppressed"] | shown["events_suppressed"]).to_numpy()
    chart["n"] = chart["n"].mask(chart["suppressed"])
    chart["events"] = chart["events"].mask(chart["suppressed"])
    valid = ~chart["suppressed"] & (chart["n"].fillna(0) > 0)
    chart["rate"] = np.where(
        valid, chart["events"].astype(float) / chart["n"].astype(float), np.nan
    )
    chart["incomplete"] = np.arange(len(chart)) < config.incomplete_start_months
    phase_starts = [
        m for m in config.spc_phases if chart["month"].iloc[0] < m <= chart["month"].iloc[-1]
    ]
    chart["phase"] = np.searchsorted(
        np.array(phase_starts, dtype=object), chart["month"].to_numpy(), side="right"
    )
    usable = valid & ~chart["incomplete"]
    if config.spc_baseline:
        lo, hi = config.spc_baseline
        in_base = (chart["month"] >= lo) & (chart["month"] <= hi)
        before = chart["month"] < lo
    else:
        in_base = pd.Series(True, index=chart.index)
        before = pd.Series(False, index=chart.index)
    chart["baseline"] = usable & (chart["phase"] == 0) & in_base
    chart["valid"] = valid
    chart["before_baseline"] = usable & (chart["phase"] == 0) & before
    freeze = None
    if config.spc_baseline and chart["baseline"].any():
        # 1-based position, among the shown months, of the last baseline month
        freeze = int(np.flatnonzero(chart.loc[valid, "baseline"].to_numpy())[-1]) + 1
    for col in ("centre", "lcl", "ucl"):
        chart[col] = np.nan
    chart["signal"] = ""
    judged = _spc_signals(chart, freeze)
    for col in ("centre", "lcl", "ucl", "signal"):
        chart.loc[judged.index, col] = judged[col].to_numpy()
    chart["judged"] = usable & ~chart["before_baseline"] & chart["centre"].notna()
    chart = chart.drop(columns=["valid", "before_baseline"])
    chart.attrs.update(outcome=outcome, label=OUTCOMES[outcome][0], sigma=SIGMA)
    return chart


def spc_summary(chart: pd.DataFrame, config: ReportConfig) -> dict:
    """Making Data Count variation and assurance icons of the monthly rates (XmR on the judged
    months, rebased at each phase), and the signals in words."""
    outcome = chart.attrs["outcome"]
    judged = chart[chart["judged"]]
    out = {
        "outcome": outcome,
        "label": OUTCOMES[outcome][0],
        "variation": None,
        "assurance": None,
        "signals": [],
    }
    for row in chart[chart["signal"] != ""].itertuples():
        out["signals"].append(f"{row.month}: {row.signal}")
    if len(judged) >= 2:
        rebase = np.flatnonzero(np.diff(judged["phase"].to_numpy()) != 0) + 1
        mdc = mdc_chart(
            100 * judged["rate"].to_numpy(),
            improvement=OUTCOMES[outcome][1],
            rebase=rebase.tolist(),
        )
        out["variation"] = variation_icon(mdc)
        target = config.reference_rates.get(outcome)
        out["assurance"] = assurance_icon(mdc, None if target is None else 100 * target)
        out["n_points"] = len(judged)
    return out


def funnel_units(
    ep, outcome: str, quarter, unit: str, config: ReportConfig, policy: str, adjust: bool = True
) -> pd.DataFrame:
    """Funnel table of sites or therapists (report-local codes) over the ``funnel_months``
    ending with the quarter: observed, adjusted rate (indirect standardisation on baseline
    severity) and 95%/99.8% limits; units with suppressed counts carry no rate or limits."""
    last = quarter_bounds(quarter)[1].to_period("M")
    first = last - (config.funnel_months - 1)
    frame = ep[
        ep["ended"]
        & ep[outcome].notna()
        & (ep["end_month"] >= first)
        & (ep["end_month"] <= last)
        & ep[unit].notna()
    ]
    if adjust:
        frame = frame[frame["baseline"].notna()]
    if frame[unit].nunique() < 2 or frame[outcome].astype(bool).nunique() < 2:
        return pd.DataFrame()
    theta = config.reference_rates.get(outcome)
    table = funnel_table(
        frame[unit].astype(str),
        frame[outcome].astype(int),
        adjust=frame["baseline"].to_numpy() if adjust else None,
        theta=theta,
        overdispersed=config.funnel_overdispersion,
    )
    attrs = dict(table.attrs)
    shown = protect(
        table,
        policy=policy,
        count_columns=["n", "observed"],
        totals={"n": int(table["n"].sum()), "observed": int(table["observed"].sum())},
        denominators={"observed": "n"},
    )
    hide = shown["n_suppressed"] | shown["observed_suppressed"]
    # everything drawn or written comes from the published (possibly rounded) counts, so no
    # rate can be inverted to a true count; E (model-expected events) scales with n
    n_pub = shown["n"].astype(float).to_numpy(na_value=np.nan)
    o_pub = shown["observed"].astype(float).to_numpy(na_value=np.nan)
    expected = table["expected"].to_numpy(dtype=float) * n_pub / table["n"].to_numpy(dtype=float)
    target = attrs["theta"]
    shown["rate"] = o_pub / n_pub
    shown["adjusted_rate"] = np.clip(target * o_pub / expected, 0, 1)
    ok = ~hide.to_numpy() & (n_pub > 0)
    if ok.any():
        lim = funnel_limits(
            n_pub[ok].astype(int), target, attrs["tau2"] if attrs.get("phi") is not None else None
        )
        for col in ("lower_998", "lower_95", "upper_95", "upper_998"):
            values = np.full(len(shown), np.nan)
            values[ok] = lim[col].to_numpy()
            shown[col] = values
        y = shown["adjusted_rate"].to_numpy(dtype=float)
        shown["position"] = np.select(
            [
                y > shown["upper_998"],
                y > shown["upper_95"],
                y < shown["lower_998"],
                y < shown["lower_95"],
            ],
            ["above 99.8%", "above 95%", "below 99.8%", "below 95%"],
            default="within",
        )
    for col in (
        "rate",
        "adjusted_rate",
        "expected",
        "lower_998",
        "lower_95",
        "upper_95",
        "upper_998",
    ):
        shown[col] = shown[col].astype(float).mask(hide)
    shown["position"] = shown["position"].mask(hide, "not shown (small numbers)")
    shown["suppressed"] = hide
    shown = shown.drop(columns=["expected"])
    attrs.update(
        outcome=outcome,
        label=OUTCOMES[outcome][0],
        unit=unit,
        window=f"{first.strftime('%Y-%m')} to {last.strftime('%Y-%m')}",
        reference=theta is not None,
        reference_source=config.reference_source,
        total_n=int(table["n"].sum()),
    )
    shown.attrs = attrs
    return shown


def trajectory_lines(fit, by: str, min_episodes: int) -> tuple[pd.DataFrame, list[str]]:
    """Model-adjusted mean trajectory per group over the weeks each group was observed (up to
    its 90th percentile of rating weeks), groups with fewer than ``min_episodes`` episodes
    left out; returns the table and notes in plain words."""
    frame = fit.data
    notes = []
    sizes = frame.groupby(by, observed=True)["episode_id"].nunique()
    upto = frame.groupby(by, observed=True)["time"].quantile(0.9)
    times = np.arange(0.0, float(np.ceil(upto.max())) + 1.0)
    table = fit.predictions(by=by, times=times)
    keep = []
    for g, part in table.groupby("group", sort=False, observed=True):
        if sizes.get(g, 0) < min_episodes:
            notes.append(f"{g}: too few episodes to draw (fewer than {min_episodes})")
            continue
        keep.append(part[part[table.columns[0]] <= upto[g] + 1e-9])
    out = pd.concat(keep, ignore_index=True) if keep else table.iloc[0:0]
    return out, notes
