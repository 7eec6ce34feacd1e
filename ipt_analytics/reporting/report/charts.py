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
from ipt_analytics.stats.describe import p_chart
from ipt_analytics.stats.funnel import funnel_limits, funnel_table
from ipt_analytics.stats.mdc import assurance_icon, mdc_chart, variation_icon

__all__ = ["monthly_chart", "spc_summary", "funnel_units", "trajectory_lines"]

SIGMA = 3.0


def _spc_signals(chart: pd.DataFrame) -> pd.Series:
    """The signal that fired at each month, in words ("" when none).

    The single place where the report evaluates SPC rules on a p-chart table: points beyond
    the 3-sigma limits. Run rules (Anhoej: longest run, number of crossings) plug in here
    when :mod:`ipt_analytics.stats.spc` provides them, so every figure, table and summary of
    the report shows the same signals.
    """
    judged = chart["judged"].to_numpy(dtype=bool)
    rate = chart["rate"].to_numpy(dtype=float)
    above = judged & (rate > chart["ucl"].to_numpy(dtype=float))
    below = judged & (rate < chart["lcl"].to_numpy(dtype=float))
    words = np.where(
        above, "above the upper 3-sigma limit", np.where(below, "below the lower 3-sigma limit", "")
    )
    return pd.Series(words, index=chart.index, name="signal")


def _limits(chart: pd.DataFrame, base_mask: np.ndarray, rows: np.ndarray):
    """Centre and 3-sigma limits for ``rows`` from the pooled rate of the baseline rows.

    The centre is :func:`ipt_analytics.stats.describe.p_chart`'s pooled rate of the baseline
    months; each month's limits use the same formula at its own n (Montgomery 2009, ch. 7).
    """
    base = chart.loc[base_mask]
    if len(base) < 2:
        return None
    centre = float(
        p_chart(base, period="month", events="events", n="n", sigma=SIGMA)["centre"].iloc[0]
    )
    n = chart.loc[rows, "n"].astype(float).to_numpy()
    half = SIGMA * np.sqrt(centre * (1 - centre) / n)
    return centre, np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)


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
    grouped = frame.groupby("end_month")[outcome]
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
    else:
        in_base = pd.Series(True, index=chart.index)
    chart["baseline"] = usable & (chart["phase"] == 0) & in_base
    for col in ("centre", "lcl", "ucl"):
        chart[col] = np.nan
    for phase in sorted(chart["phase"].unique()):
        rows = (chart["phase"] == phase) & valid
        base = chart["baseline"] if phase == 0 else rows & usable
        lim = _limits(chart, base.to_numpy(), rows.to_numpy())
        if lim is None:
            continue
        chart.loc[rows, "centre"], chart.loc[rows, "lcl"], chart.loc[rows, "ucl"] = lim
    chart["judged"] = usable & chart["centre"].notna()
    chart["signal"] = _spc_signals(chart)
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
