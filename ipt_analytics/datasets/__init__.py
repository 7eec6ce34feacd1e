"""Synthetic cohorts with known parameters, the messy file with planted faults, and the
sample files."""

from __future__ import annotations

from ipt_analytics.datasets.sample_files import (
    write_sample,
)
from ipt_analytics.datasets.synth import (
    COHORT_DESIGN,
    FORMATS,
    PROBLEM_AREAS,
    SESSION_COLUMNS,
    TRUE_PARAMETERS,
    CohortDesign,
    TrueParameters,
    simulate_cohort,
    simulate_scores,
)
from ipt_analytics.datasets.synth_messy import (
    MESSY_SEED,
    make_messy,
)

__all__ = [
    "FORMATS",
    "PROBLEM_AREAS",
    "TRUE_PARAMETERS",
    "COHORT_DESIGN",
    "TrueParameters",
    "CohortDesign",
    "SESSION_COLUMNS",
    "simulate_cohort",
    "simulate_scores",
    "MESSY_SEED",
    "make_messy",
    "write_sample",
]
