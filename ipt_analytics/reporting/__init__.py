"""What leaves the service: small-cell suppression and disclosure checks, the shared outcome
summary, and the one writer of CSV/XLSX files (spreadsheet formulas neutralised)."""

from __future__ import annotations

from ipt_analytics.reporting.export import neutralise, write_csv, write_xlsx
from ipt_analytics.reporting.privacy import (
    IDENTIFIER_COLUMNS,
    POLICIES,
    SuppressionPolicy,
    check_no_disclosure,
    drop_identifiers,
    local_codes,
    suppress_table,
)
from ipt_analytics.reporting.summary import OutcomeSummary, outcome_summary

__all__ = [
    "SuppressionPolicy",
    "POLICIES",
    "suppress_table",
    "check_no_disclosure",
    "drop_identifiers",
    "IDENTIFIER_COLUMNS",
    "local_codes",
    "OutcomeSummary",
    "outcome_summary",
    "neutralise",
    "write_csv",
    "write_xlsx",
]
