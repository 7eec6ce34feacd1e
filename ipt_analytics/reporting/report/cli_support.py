"""What ``ipt-analytics report`` does, so that cli.py only parses arguments."""

from __future__ import annotations

import sys
from pathlib import Path

__all__ = ["run_report"]


def run_report(data, *, sample, quarter, out, config, suppress, as_of, read) -> int:
    """Read, build, write and print where the files are; returns the exit code.

    ``read(path, columns, encoding)`` is the CLI's quarantine reader. ``sample``: ``data`` is
    the bundled sample, reported with its own config when no ``config`` is given.
    """
    from ipt_analytics.reporting.report.build import build_report

    path = Path(data)
    if sample:
        if config is None and (path.parent / "report.toml").is_file():
            config = path.parent / "report.toml"
        print(f"no data file given: reporting on the bundled SYNTHETIC sample {path}")
    sessions = read(str(path), None)
    if sessions.n_rejected_rows:
        print(
            f"note: {sessions.n_rejected_rows} rows rejected (see the report's data quality "
            "table; run `ipt-analytics validate` for the rows)",
            file=sys.stderr,
        )
    report = build_report(sessions, quarter=quarter, config=config, suppress=suppress, as_of=as_of)
    folder = Path(out) if out else Path("reports") / report.quarter
    paths = report.write(folder)
    print(
        f"{report.config.service_name}: report {report.quarter} (as of {report.as_of}, "
        f"suppression {report.policy})"
    )
    for m in report.metrics["measures"]:
        if m["suppressed"]:
            value = "suppressed"
        elif m["rate_pct"] is None:
            value = "no episodes in the denominator"
        else:
            value = f"{m['rate_pct']:.1f}% ({m['numerator']}/{m['denominator']})"
        print(f"  {m['label']}: {value}")
    for w in report.warnings:
        print(f"warning: {w}")
    print(f"wrote {len(paths)} files to {folder}/ (open {paths['html']})")
    return 0
