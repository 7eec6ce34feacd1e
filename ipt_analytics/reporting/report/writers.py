"""Files of a report: HTML, XLSX (one sheet per table + notes), CSV per table, metrics.json."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from ipt_analytics.reporting.export import neutralise, write_csv, write_xlsx

__all__ = ["write_report", "public_table"]


def public_table(table: pd.DataFrame) -> pd.DataFrame:
    """A table as published: ``*_suppressed`` flags kept, internal helper columns dropped."""
    out = table.copy()
    out.attrs = {}
    return out


def write_report(report, out_dir: Path) -> dict:
    """Write ``report.html``, ``report.xlsx``, ``<table>.csv`` and ``metrics.json``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    html = out_dir / "report.html"
    html.write_text(report.html(), encoding="utf-8", newline="\n")
    paths["html"] = html
    tables = {name: public_table(t) for name, t in report.tables.items()}
    paths["xlsx"] = write_xlsx(tables, out_dir / "report.xlsx", notes=report.notes)
    for name, t in tables.items():
        paths[f"csv:{name}"] = write_csv(t, out_dir / f"{name}.csv")
    paths["csv:notes"] = write_csv(report.notes, out_dir / "notes.csv")
    metrics = out_dir / "metrics.json"
    # text values pass the same formula neutralisation as the tables (dashboards load JSON
    # into spreadsheets too)
    text = json.dumps(_neutral_json(report.metrics), indent=2, sort_keys=True, ensure_ascii=False)
    metrics.write_text(text + "\n", encoding="utf-8", newline="\n")
    paths["json"] = metrics
    return paths


def _neutral_json(value):
    if isinstance(value, dict):
        return {k: _neutral_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_neutral_json(v) for v in value]
    if isinstance(value, str):
        return neutralise(pd.DataFrame({"v": [value]}))["v"].iloc[0]
    return value
