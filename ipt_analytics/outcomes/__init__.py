"""Per-episode clinical outcomes, one module per rule family; :func:`episode_outcomes`
assembles them."""

from __future__ import annotations

from ipt_analytics.outcomes.episode import (
    OUTCOME_COLUMNS,
    episode_outcomes,
    sessions_and_episodes,
)
from ipt_analytics.outcomes.nhs_tt import (
    NHS_TT_CONVENTIONS,
    NHS_TT_DEFINITION,
    finished_treatment,
    nhs_tt_flags,
    nhs_tt_summary,
    treatment_contacts,
)

__all__ = [
    "OUTCOME_COLUMNS",
    "episode_outcomes",
    "sessions_and_episodes",
    "NHS_TT_CONVENTIONS",
    "NHS_TT_DEFINITION",
    "finished_treatment",
    "nhs_tt_flags",
    "nhs_tt_summary",
    "treatment_contacts",
]
