"""Instrument definitions (one cited data table) and scoring of item responses."""

from __future__ import annotations

from ipt_analytics.instruments.scoring import (
    PRORATE_ROUNDING,
    score_items,
    severity_bands,
)
from ipt_analytics.instruments.table import (
    DEFINITIONS_VERSION,
    INSTRUMENTS,
    Instrument,
    get_instrument,
    instrument_table,
    severity_band,
)

__all__ = [
    "DEFINITIONS_VERSION",
    "INSTRUMENTS",
    "Instrument",
    "get_instrument",
    "instrument_table",
    "severity_band",
    "PRORATE_ROUNDING",
    "score_items",
    "severity_bands",
]
