"""The report as one self-contained HTML page (Jinja2 template, inline SVG, no network)."""

from __future__ import annotations

import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape

from ipt_analytics.reporting.report.config import OUTCOMES
from ipt_analytics.reporting.report.shield import policy_text

__all__ = ["render_html", "display_table"]


def _version() -> str:
    # the installed distribution's version (the stage rules keep the top-level package out)
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ipt_analytics")
    except PackageNotFoundError:  # pragma: no cover - running from an uninstalled tree
        return "unknown"


_ICON_WORDS = {
    "common_cause": "common cause variation (no signal)",
    "improvement_high": "special cause: improvement (high)",
    "improvement_low": "special cause: improvement (low)",
    "concern_high": "special cause: concern (high)",
    "concern_low": "special cause: concern (low)",
    "neutral_high": "special cause (high)",
    "neutral_low": "special cause (low)",
    "consistent_pass": "will consistently meet the target",
    "consistent_fail": "will consistently fail the target",
    "inconsistent": "hit and miss against the target",
}


def _fmt(value, kind: str) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "*" if kind != "text" else ""
    if kind == "count":
        return f"{int(value):,}"
    if kind == "pct":
        return f"{float(value):.1f}"
    if kind == "pp":
        return f"{float(value):+.1f}"
    return str(value)


def display_table(table: pd.DataFrame, columns: list[tuple[str, str, str]], rows=None) -> dict:
    """Header and formatted cells: ``columns`` is ``[(column, header, kind)]`` with kind
    ``count``, ``pct``, ``pp``, ``ci`` (``<prefix>`` -> ``_ci_low``/``_ci_high``) or ``text``;
    a hidden count or rate shows ``*``.

    Examples
    --------
    >>> t = pd.DataFrame({"g": ["a"], "n": pd.array([pd.NA], dtype="Int64")})
    >>> display_table(t, [("g", "Group", "text"), ("n", "n", "count")])["rows"]
    [['a', '*']]
    """
    t = table if rows is None else table.loc[rows]
    body = []
    for _, r in t.iterrows():
        cells = []
        for col, _header, kind in columns:
            if kind == "ci":
                lo, hi = r[f"{col}_ci_low"], r[f"{col}_ci_high"]
                cells.append("*" if pd.isna(lo) else f"{lo:.1f}-{hi:.1f}")
            else:
                cells.append(_fmt(r[col], kind))
        body.append(cells)
    return {"header": [h for _, h, _ in columns], "rows": body}


def _outcome_sections(report) -> list[dict]:
    out = report.tables["outcomes"]
    cols = [
        ("group", "Group", "text"),
        ("n", "n", "count"),
        ("events", "Events", "count"),
        ("rate_pct", "Rate %", "pct"),
        ("rate", "95% CI", "ci"),
        ("change_prev_pp", "vs prev. quarter (pp)", "pp"),
        ("change_year_pp", "vs year before (pp)", "pp"),
    ]
    sections = []
    for outcome in report.config.outcomes:
        part = out[out["outcome"] == outcome]
        if part.empty:
            continue
        blocks = []
        for b in ("format", "problem_area", "site"):
            rows = part[part["breakdown"] == b]
            rows = pd.concat([rows[rows["group"] == "all"], rows[rows["group"] != "all"]])
            blocks.append({"breakdown": b.replace("_", " "), **display_table(rows, cols)})
        sections.append({"label": OUTCOMES[outcome][0], "blocks": blocks})
    return sections


def _context(report) -> dict:
    t = report.tables
    case_cols = [
        ("group", "Group", "text"),
        ("started", "Started", "count"),
        ("active_at_end", "Active at end", "count"),
        ("ended", "Ended", "count"),
        ("ended_completed", "completed", "count"),
        ("ended_dropout", "dropout", "count"),
        ("ended_referred_on", "referred on", "count"),
        ("ended_other", "other", "count"),
        ("sessions", "Sessions", "count"),
    ]
    caseload = []
    for b in ("format", "problem_area", "site"):
        rows = t["caseload"][t["caseload"]["breakdown"] == b]
        rows = pd.concat([rows[rows["group"] == "all"], rows[rows["group"] != "all"]])
        caseload.append({"breakdown": b.replace("_", " "), **display_table(rows, case_cols)})
    headline = []
    for m in report.metrics["measures"]:
        headline.append(
            {
                "label": m["label"],
                "rate": "*" if m["rate_pct"] is None else f"{m['rate_pct']:.1f}%",
                "ci": ""
                if m["ci_low_pct"] is None
                else f"95% CI {m['ci_low_pct']:.1f}-{m['ci_high_pct']:.1f}",
                "counts": "suppressed"
                if m["suppressed"]
                else f"{m['numerator']:,} of {m['denominator']:,} episodes",
            }
        )
    spc = []
    for s in report.spc:
        fig = report.figures.get(f"p_chart_{s['outcome']}")
        spc.append(
            {
                "label": s["label"],
                "figure": fig,
                "variation": _ICON_WORDS.get(s["variation"], "too few months to judge"),
                "variation_code": s["variation"] or "none",
                "assurance": _ICON_WORDS.get(s["assurance"], "no target set")
                if s["assurance"]
                else "no target set",
                "assurance_code": s["assurance"] or "none",
            }
        )
    figs = report.figures
    small = {
        "attrition": display_table(
            t["attrition"],
            [
                ("format", "Format", "text"),
                ("ended", "Ended", "count"),
                ("dropout", "Dropped out", "count"),
                ("dropout_rate_pct", "Dropout %", "pct"),
                ("dropout_rate", "95% CI", "ci"),
                ("completed", "Completed", "count"),
                ("referred_on", "Referred on", "count"),
                ("other", "Other", "count"),
            ],
        ),
        "safety": display_table(
            t["safety"],
            [
                ("instrument", "Instrument", "text"),
                ("item", "Safety item", "text"),
                ("episodes_rated", "Episodes rated", "count"),
                ("episodes_endorsed", "Episodes endorsing", "count"),
                ("ratings_endorsed", "Ratings endorsing", "count"),
            ],
        )
        if len(t["safety"])
        else None,
        "not_on_track": display_table(
            t["not_on_track"],
            [
                ("format", "Format", "text"),
                ("assessed", "Active, assessed", "count"),
                ("not_on_track", "Not on track", "count"),
            ],
        ),
        "no_early": display_table(
            t["no_early_improvement"],
            [
                ("format", "Format", "text"),
                ("rated_weeks_4_8", "Rated in weeks 4-8", "count"),
                ("no_reliable_improvement", "No reliable improvement", "count"),
            ],
        ),
        "quality": display_table(
            t["data_quality"],
            [
                ("measure", "Measure", "text"),
                ("count", "Count", "count"),
                ("of", "Of", "count"),
                ("share_pct", "%", "pct"),
            ],
        ),
    }
    return {
        "r": report,
        "version": _version(),
        "policy": policy_text(report.policy).split(" (source:")[0],
        "unsuppressed": report.policy == "none",
        "headline": headline,
        "caseload": caseload,
        "outcomes": _outcome_sections(report),
        "spc": spc,
        "small": small,
        "funnels": [v for k, v in figs.items() if k.startswith("funnel_")],
        "trajectories": [v for k, v in figs.items() if k.startswith("trajectory_")],
        "notes": report.notes.itertuples(index=False),
        "threshold": t["no_early_improvement"].attrs.get("threshold"),
        "quarters": t["outcomes"].attrs.get("quarters", {}),
    }


def render_html(report) -> str:
    """Render the report's HTML (deterministic: no clock, fixed figure text)."""
    env = Environment(
        loader=PackageLoader("ipt_analytics.reporting.report", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    return env.get_template("report.html.j2").render(**_context(report))
