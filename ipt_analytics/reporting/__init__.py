"""What leaves the service: small-cell suppression and disclosure checks."""

from __future__ import annotations

from ipt_analytics.reporting.privacy import (
    IDENTIFIER_COLUMNS,
    POLICIES,
    SuppressionPolicy,
    check_no_disclosure,
    drop_identifiers,
    suppress_table,
)

__all__ = [
    "SuppressionPolicy",
    "POLICIES",
    "suppress_table",
    "check_no_disclosure",
    "drop_identifiers",
    "IDENTIFIER_COLUMNS",
]
