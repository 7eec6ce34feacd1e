"""``build_report``: every table, figure and headline measure of a quarter, in one object."""

from __future__ import annotations

import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ipt_analytics.errors import SchemaError
from ipt_analytics.instruments.table import get_instrument
from ipt_analytics.reporting.report import charts as ch
from ipt_analytics.reporting.report import tables as tb
from ipt_analytics.reporting.report.config import OUTCOMES, ReportConfig, load_config
from ipt_analytics.reporting.report.periods import (
    comparison_quarters,
    latest_complete_quarter,
    parse_quarter,
)
from ipt_analytics.reporting.report.shield import policy_text

__all__ = ["QuarterlyReport", "build_report"]

#: larger caseloads fit the trajectory model to a fixed random sample of this many episodes
MAX_MODEL_EPISODES = 20_000
MODEL_SAMPLE_SEED = 20240701


@dataclass
class QuarterlyReport:
    """A built report: tables (suppressed), figures (inline SVG), metrics, warnings.

    ``write(out_dir)`` writes ``report.html``, ``report.xlsx``, one CSV per table and
    ``metrics.json``; the same object displays its tables in a notebook.
    """

    quarter: str
    as_of: str
    config: ReportConfig
    policy: str
    tables: dict = field(default_factory=dict)
    figures: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)
    notes: pd.DataFrame | None = None
    spc: list = field(default_factory=list)
    #: wall and CPU seconds per build step (not written to any file)
    timings: dict = field(default_factory=dict, repr=False)

    def write(self, out_dir) -> dict:
        """Write every file of the report into ``out_dir``; returns ``{kind: path}``."""
        from ipt_analytics.reporting.report.writers import write_report

        return write_report(self, Path(out_dir))

    def html(self) -> str:
        """The self-contained HTML page."""
        from ipt_analytics.reporting.report.render import render_html

        return render_html(self)

    def __repr__(self) -> str:
        lines = [
            f"QuarterlyReport {self.quarter} for {self.config.service_name} "
            f"(as of {self.as_of}; suppression {self.policy})",
            f"  tables: {', '.join(self.tables)}",
            f"  figures: {', '.join(self.figures)}",
        ]
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)


class _Steps:
    """Progress bar (tqdm, on stderr, shown on an interactive terminal only) that also records
    each step's wall and CPU seconds in ``timings`` (for benchmarks; never written to a file,
    so the outputs stay free of anything that varies between runs)."""

    def __init__(self, total: int, timings: dict):
        from tqdm import tqdm

        self.bar = tqdm(total=total, file=sys.stderr, disable=None, unit="step", leave=False)
        self.timings = timings
        self.name, self.t0, self.c0 = None, 0.0, 0.0

    def set_description(self, name: str) -> None:
        self.bar.set_description(name)
        self.name, self.t0, self.c0 = name, time.perf_counter(), time.process_time()

    def update(self) -> None:
        if self.name is not None:
            wall, cpu = self.timings.get(self.name, (0.0, 0.0))
            self.timings[self.name] = (
                wall + time.perf_counter() - self.t0,
                cpu + time.process_time() - self.c0,
            )
            self.name = None
        self.bar.update()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.bar.close()
        return False


def _as_of(value, last_date) -> str:
    if value is None:
        return pd.Timestamp(last_date).strftime("%Y-%m-%d")
    try:
        return pd.Timestamp(str(value)).strftime("%Y-%m-%d")
    except (ValueError, TypeError):
        raise SchemaError(f"--as-of {value!r} is not a date. Fix: write YYYY-MM-DD") from None


def build_report(data, quarter=None, config=None, suppress=None, as_of=None) -> QuarterlyReport:
    """Build the quarterly quality-improvement report.

    Parameters
    ----------
    data : SessionData, a path read with :func:`ipt_analytics.read_sessions`, or a DataFrame.
    quarter : "2026Q2" (default: the latest complete quarter in the data).
    config : ReportConfig, a TOML path, or None for the defaults.
    suppress : small-cell policy overriding the config ("none": internal working copy).
    as_of : the report date printed in the outputs (default: the data's last date; never the
        clock, so the same input gives the same files).

    Returns
    -------
    QuarterlyReport
    """
    from ipt_analytics.io.sessiondata import SessionData, read_sessions
    from ipt_analytics.outcomes.episode import episode_outcomes

    cfg = config if isinstance(config, ReportConfig) else load_config(config)
    policy = suppress or cfg.suppression
    if policy != cfg.suppression:
        cfg = load_config(None, **{**cfg.__dict__, "suppression": policy})
    if not isinstance(data, SessionData):
        data = read_sessions(data, on_error="quarantine")
    sessions = data.sessions
    dates = sessions["date"].dropna()
    if dates.empty:
        raise SchemaError(
            "report: the data have no session dates, so no quarter can be "
            "reported. Fix: add the date column"
        )
    q = parse_quarter(quarter) if quarter else latest_complete_quarter(dates.max())
    if q.start_time > dates.max() or q.end_time < dates.min():
        raise SchemaError(
            f"report: quarter {q} is outside the data ({dates.min():%Y-%m-%d} to "
            f"{dates.max():%Y-%m-%d}). Fix: choose a quarter in that range"
        )
    report = QuarterlyReport(
        quarter=str(q), as_of=_as_of(as_of, dates.max()), config=cfg, policy=policy
    )
    inst = cfg.instrument
    steps = 8 + len(cfg.spc_outcomes) + 2 * len(cfg.funnel_outcomes)
    with _Steps(steps, report.timings) as bar, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bar.set_description("outcomes")
        outcomes = episode_outcomes(data, instrument=inst)
        ep = tb.episode_frame(data, outcomes, cfg.site_names)
        bar.update()
        bar.set_description("tables")
        quarters = comparison_quarters(q)
        delivered = sessions.drop_duplicates(["episode_id", "session"])[
            ["episode_id", "session", "date"]
        ]
        t = report.tables
        caseloads = {k: tb.caseload_table(ep, delivered, qk, policy) for k, qk in quarters.items()}
        t["caseload"] = caseloads["current"]
        t["outcomes"] = tb.outcome_table(ep, quarters, cfg.outcomes, policy, caseloads)
        t["attrition"] = tb.attrition_table(t["caseload"])
        t["data_quality"] = tb.data_quality_table(data, ep, q, inst, policy)
        t["safety"] = tb.safety_table(sessions, q, policy)
        bar.update()
        _spc(report, ep, q, cfg, policy, bar)
        _funnels(report, ep, q, cfg, policy, bar)
        _trajectories(report, data, ep, cfg, policy, bar)
        bar.set_description("metrics")
        report.metrics = _metrics(report, cfg)
        bar.update()
    for w in caught:
        text = str(w.message)
        if text not in report.warnings:
            report.warnings.append(text)
    report.warnings = _without_identifiers(report.warnings, data)
    report.notes = _notes(report)
    _check_no_identifiers(report, data)
    return report


def _quarter_totals(outcomes: pd.DataFrame, ep: pd.DataFrame, outcome: str) -> dict:
    """Quarterly totals (all episodes) of an outcome that the report publishes: margins of its
    monthly chart. The true counts are passed (a reader knows them at least to within the
    rounding), which makes complementary suppression of the months conservative."""
    rows = outcomes[
        (outcomes["outcome"] == outcome)
        & (outcomes["group"] == "all")
        & (outcomes["breakdown"] == "format")
    ]
    out = {}
    for r in rows.itertuples():
        if r.n_suppressed and r.events_suppressed:
            continue
        q = outcomes.attrs["quarters"]["current"]
        frame = ep[ep["ended"] & (ep["end_quarter"].astype(str) == q) & ep[outcome].notna()]
        out[q] = (len(frame), int(frame[outcome].astype(bool).sum()))
    return out


def _spc(report, ep, q, cfg, policy, bar):
    from ipt_analytics.plotting.qi_report import plot_monthly_p_chart
    from ipt_analytics.plotting.svg import figure_svg, new_axes

    rows = []
    for outcome in cfg.spc_outcomes:
        bar.set_description(f"p-chart {outcome}")
        chart = ch.monthly_chart(
            ep, outcome, q, cfg, policy, _quarter_totals(report.tables["outcomes"], ep, outcome)
        )
        summary = ch.spc_summary(chart, cfg)
        report.spc.append(summary)
        fig, ax = new_axes(8.0, 3.2)
        plot_monthly_p_chart(chart, ylabel=OUTCOMES[outcome][0], ax=ax)
        report.figures[f"p_chart_{outcome}"] = {
            "title": f"{OUTCOMES[outcome][0]}: monthly p-chart",
            "svg": figure_svg(fig),
            "notes": summary["signals"] or ["no signal"],
        }
        table = chart.drop(columns=["judged"]).assign(outcome=outcome)
        rows.append(table)
        bar.update()
    if rows:
        spc = pd.concat(rows, ignore_index=True)
        cols = [
            "outcome",
            "month",
            "quarter",
            "n",
            "events",
            "rate",
            "centre",
            "lcl",
            "ucl",
            "phase",
            "baseline",
            "incomplete",
            "suppressed",
            "signal",
        ]
        spc = spc[cols]
        for c in ("rate", "centre", "lcl", "ucl"):
            spc[c] = (100 * spc[c].astype(float)).round(2)
        report.tables["spc_monthly"] = spc.rename(
            columns={"rate": "rate_pct", "centre": "centre_pct", "lcl": "lcl_pct", "ucl": "ucl_pct"}
        )


def _funnels(report, ep, q, cfg, policy, bar):
    from ipt_analytics.plotting.funnel import plot_funnel
    from ipt_analytics.plotting.svg import figure_svg, new_axes
    from ipt_analytics.stats.funnel import funnel_limits

    frames = []
    for outcome in cfg.funnel_outcomes:
        for unit in ("site", "therapist"):
            bar.set_description(f"funnel {outcome} by {unit}")
            table = ch.funnel_units(ep, outcome, q, unit, cfg, policy)
            bar.update()
            if table.empty:
                report.warnings.append(
                    f"funnel of {OUTCOMES[outcome][0]} by {unit}: fewer than "
                    "two units with both outcomes; not drawn"
                )
                continue
            shown = table[~table["suppressed"]]
            if shown.empty:
                continue
            grid = np.unique(np.linspace(1, max(10, int(shown["n"].max() * 1.1)), 200).round())
            tau2 = table.attrs["tau2"] if table.attrs.get("phi") is not None else None
            limits = funnel_limits(grid.astype(int), table.attrs["theta"], tau2)
            fig, ax = new_axes(7.0, 3.6)
            plot_funnel(table, limits, ylabel=OUTCOMES[outcome][0], ax=ax)
            notes = [
                f"{table.attrs['window']}; {table.attrs['method']}; adjusted for baseline "
                "severity (indirect standardisation, logistic model)"
            ]
            if table.attrs["reference"]:
                notes.append(f"target: reference rate ({cfg.reference_source or 'config'})")
            hidden = int(table["suppressed"].sum())
            if hidden:
                notes.append(f"{hidden} {unit}(s) not shown: small numbers")
            outliers = shown[shown["position"] != "within"]
            for r in outliers.itertuples():
                notes.append(f"{r.unit}: {r.position}")
            report.figures[f"funnel_{outcome}_{unit}"] = {
                "title": f"{OUTCOMES[outcome][0]} by {unit} (funnel plot)",
                "svg": figure_svg(fig),
                "notes": notes,
            }
            t = table.assign(outcome=outcome, unit_type=unit)
            frames.append(
                t[
                    [
                        "outcome",
                        "unit_type",
                        "unit",
                        "n",
                        "observed",
                        "rate",
                        "adjusted_rate",
                        "lower_998",
                        "lower_95",
                        "upper_95",
                        "upper_998",
                        "position",
                        "suppressed",
                    ]
                ]
            )
    if frames:
        f = pd.concat(frames, ignore_index=True)
        for c in ("rate", "adjusted_rate", "lower_998", "lower_95", "upper_95", "upper_998"):
            f[c] = (100 * f[c]).round(2)
        report.tables["funnel"] = f


def _trajectories(report, data, ep, cfg, policy, bar):
    """One mixed model with format and problem area (each with its own slope), so each
    factor's trajectories are adjusted for the other; drawn per factor as marginal means
    (equal weights over the other factor's levels)."""
    from ipt_analytics.models.recovery import flag_not_on_track
    from ipt_analytics.models.trajectory import fit_trajectory
    from ipt_analytics.plotting.svg import figure_svg, new_axes
    from ipt_analytics.plotting.trajectories import plot_predicted_trajectories
    from ipt_analytics.reporting.privacy import POLICIES

    min_n = POLICIES[policy].min_shown if policy != "none" else 1
    inst = cfg.instrument
    rated = data.sessions[data.sessions["instrument"] == inst]
    factors = []
    for by in ("format", "problem_area"):
        if rated[by].nunique() < 2:
            report.warnings.append(
                f"trajectories by {by.replace('_', ' ')}: only one {by.replace('_', ' ')} in "
                "the data, nothing to compare; not drawn"
            )
        else:
            factors.append(by)
    bar.set_description("trajectory model")
    fit = None
    sample_note = []
    model_data = data
    episodes = np.sort(rated["episode_id"].unique())
    if len(episodes) > MAX_MODEL_EPISODES:
        # a large caseload's mean trajectories are estimated to well within a point from a
        # random sample of episodes; the sample is fixed by its seed, so reports repeat
        keep = np.random.default_rng(MODEL_SAMPLE_SEED).choice(
            episodes, MAX_MODEL_EPISODES, replace=False
        )
        model_data = data.sessions[data.sessions["episode_id"].isin(keep)]
        sample_note = [
            f"model fitted to a fixed random sample of {MAX_MODEL_EPISODES:,} of the "
            f"{len(episodes):,} episodes (seed {MODEL_SAMPLE_SEED})"
        ]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = fit_trajectory(model_data, instrument=inst, by=factors or None)
    except (ValueError, SchemaError, np.linalg.LinAlgError) as exc:
        report.warnings.append(f"trajectory model not fitted: {exc}")
    bar.update()
    if fit is not None:
        for w in fit.warnings:
            report.warnings.append(f"trajectory model: {w}")
        formula = fit.spec.formula
        for by in factors:
            bar.set_description(f"trajectory by {by}")
            lines, notes = ch.trajectory_lines(fit, by, min_n)
            fig, ax = new_axes(7.0, 3.6)
            plot_predicted_trajectories(
                lines.drop(columns=["n"], errors="ignore"), instrument=inst, time="week", ax=ax
            )
            ax.set_title(
                f"Model-adjusted mean {get_instrument(inst).label} by {by.replace('_', ' ')}",
                fontsize="medium",
            )
            words = [f"Model problem: {w}" for w in fit.warnings] or [
                "the model fitted without warnings"
            ]
            others = [f for f in factors if f != by]
            adjusted = (
                f"adjusted for {', '.join(o.replace('_', ' ') for o in others)} "
                "(equal weights over its levels); "
                if others
                else ""
            )
            report.figures[f"trajectory_{by}"] = {
                "title": f"Trajectories by {by.replace('_', ' ')} (mixed model, whole history)",
                "svg": figure_svg(fig),
                "notes": words
                + notes
                + sample_note
                + [
                    f"model: {formula} with a random intercept and slope per episode; "
                    + adjusted
                    + "lines drawn up to the 90th percentile of each group's rating weeks"
                ],
            }
            bar.update()
    bar.set_description("not on track")
    flags = None
    if fit is not None:
        try:
            flags = flag_not_on_track(fit, data)
        except ValueError as exc:  # e.g. a level absent from the model's sample
            report.warnings.append(f"not-on-track flags not computed: {exc}")
    if flags is None:
        flags = pd.DataFrame(columns=["episode_id", "latest_session", "excess", "not_on_track"])
    report.tables["not_on_track"] = tb.not_on_track_table(flags, ep, policy)
    report.tables["no_early_improvement"] = tb.no_early_improvement_table(
        data.sessions, ep, inst, policy
    )
    bar.update()


def _metrics(report, cfg) -> dict:
    """Headline measures of the quarter (all episodes) for dashboards."""
    out = report.tables["outcomes"]
    rows = out[(out["group"] == "all") & (out["breakdown"] == "format")]
    measures = []
    for r in rows.itertuples():
        hidden = bool(r.n_suppressed or r.events_suppressed)
        measures.append(
            {
                "measure": r.outcome,
                "label": r.label,
                "numerator": None if pd.isna(r.events) else int(r.events),
                "denominator": None if pd.isna(r.n) else int(r.n),
                "rate_pct": None if pd.isna(r.rate_pct) else float(r.rate_pct),
                "ci_low_pct": None if pd.isna(r.rate_ci_low) else float(r.rate_ci_low),
                "ci_high_pct": None if pd.isna(r.rate_ci_high) else float(r.rate_ci_high),
                "suppressed": hidden,
            }
        )
    case = report.tables["caseload"]
    allrow = case[(case["group"] == "all") & (case["breakdown"] == "format")].iloc[0]
    activity = {
        c: (None if pd.isna(allrow[c]) else int(allrow[c]))
        for c in ("started", "active_at_end", "ended", "sessions")
    }
    return {
        "service": cfg.service_name,
        "quarter": report.quarter,
        "as_of": report.as_of,
        "instrument": cfg.instrument,
        "unit": "episode",
        "suppression": {"policy": report.policy, "rule": policy_text(report.policy)},
        "activity": activity,
        "measures": measures,
        "spc": [
            {k: v for k, v in s.items() if k in ("outcome", "variation", "assurance")}
            for s in report.spc
        ],
    }


DEFINITIONS = [
    ("episode", "a course of treatment; all counts are episodes, not clients"),
    (
        "quarter outcomes",
        "episodes ending in the quarter (end date in it, end reason other than "
        "ongoing); each episode's baseline is its own first rating over the whole history",
    ),
    ("previous / year before", "the quarter before, and the same quarter a year before"),
    ("rate, 95% CI", "events / n in percent, Wilson score interval, from the published counts"),
    (
        "change_prev_pp, change_year_pp",
        "rate minus the comparison quarter's rate, percentage "
        "points; shown only when both rates are shown",
    ),
    ("active_at_end", "episodes started by the quarter's last day and not ended by it"),
    (
        "p-chart",
        "monthly rate of episodes ending in the month; centre = pooled rate of the "
        "baseline months; 3-sigma limits at each month's n; signals: points outside the limits "
        "and Anhoej's run rules (qicharts2); incomplete start-of-extract months are marked and "
        "not judged; limits recomputed in each configured phase",
    ),
    (
        "Making Data Count icons",
        "variation and assurance of the monthly rates (XmR, NHSRplotthedots rules)",
    ),
    (
        "funnel plot",
        "units' rates over the funnel window, adjusted for baseline severity by "
        "indirect standardisation; 95% and 99.8% exact binomial limits (Spiegelhalter 2005)",
    ),
    (
        "not on track",
        "active episodes whose latest score lies above the 90% expected-recovery "
        "band of the trajectory model",
    ),
    (
        "no reliable improvement at weeks 4-8",
        "active episodes rated in weeks 4-8 with no fall "
        "of at least the instrument's reliable-change points from baseline at those ratings",
    ),
    (
        "site and therapist codes",
        "report-local codes (or configured site names); no identifier from the data",
    ),
]


def _notes(report) -> pd.DataFrame:
    rows = [
        ("report", f"{report.config.service_name}, {report.quarter}, as of {report.as_of}"),
        ("suppression", policy_text(report.policy)),
        ("suppressed cells", "empty (NA) counts and rates; *_suppressed columns say which"),
    ]
    rows += [(k, v) for k, v in DEFINITIONS]
    rows += [(k, OUTCOMES[k][0]) for k in report.config.outcomes]
    rows += [("warning", w) for w in report.warnings]
    return pd.DataFrame(rows, columns=["item", "definition"])


def _without_identifiers(messages: list, data) -> list:
    """Messages as shared output: one that quotes an identifier or a raw site label (e.g. a
    data warning listing episodes) is replaced by a pointer to the data-steward output."""
    ep = data.episodes
    cols = [c for c in ("client_id", "episode_id", "therapist_id", "group_id", "site") if c in ep]
    values = {str(v) for c in cols for v in ep[c].dropna().unique()}
    values |= {
        str(v) for v in data.sessions.get("group_id", pd.Series(dtype=str)).dropna().unique()
    }
    out = []
    for text in messages:
        if any(v and v in text for v in values):
            text = (
                "a data warning that names individual records was withheld from this shared "
                "report; run `ipt-analytics validate` on the file to see it"
            )
        if text not in out:
            out.append(text)
    return out


def _check_no_identifiers(report, data) -> None:
    """Refuse to return a report whose tables carry an identifier column."""
    banned = {"client_id", "episode_id", "therapist_id", "group_id"}
    for name, table in report.tables.items():
        bad = banned & set(table.columns)
        if bad:
            raise AssertionError(f"report table {name} carries identifier columns {sorted(bad)}")
