"""The quarterly quality-improvement report: one function, one object, four file kinds.

:func:`build_report` computes every table, chart table, figure and headline measure of a
quarter from session data; :class:`QuarterlyReport` holds them and writes the self-contained
HTML, the XLSX workbook, one CSV per table and ``metrics.json``. Modules: ``config`` (the
service's TOML), ``periods`` (quarters and months), ``shield`` (suppression and disclosure
checks for every table), ``tables``, ``charts``, ``build``, ``render`` (Jinja2 template) and
``writers``.
"""

from __future__ import annotations

from ipt_analytics.reporting.report.build import QuarterlyReport, build_report
from ipt_analytics.reporting.report.config import ReportConfig, load_config

__all__ = ["build_report", "QuarterlyReport", "ReportConfig", "load_config"]
