"""Reading and validating session files: the data contract, cell parsing, vocabularies,
validation reasons, and the validated :class:`SessionData`."""

from __future__ import annotations

from ipt_analytics.io.sessiondata import (
    EPISODE_COLUMNS,
    ON_ERROR,
    SESSION_COLUMNS,
    SessionData,
    read_sessions,
)

__all__ = [
    "ON_ERROR",
    "SESSION_COLUMNS",
    "EPISODE_COLUMNS",
    "SessionData",
    "read_sessions",
]
