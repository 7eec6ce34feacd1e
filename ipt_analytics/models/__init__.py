"""Mixed-effects models: the lme4-style engine (:mod:`.mixed`), symptom trajectories and
their model frame, marginal means and contrasts, recovery bands, dropout sensitivity."""

from __future__ import annotations

from ipt_analytics.models.dropout import (
    dropout_sensitivity,
)
from ipt_analytics.models.emmeans import (
    contrasts,
    effect_size,
    marginal_means,
    reference_grid,
    trends,
)
from ipt_analytics.models.mixed import (
    MixedResult,
    compare_models,
    fit_mixed,
)
from ipt_analytics.models.recovery import (
    conditional_bands,
    expected_recovery,
    flag_not_on_track,
    variance_parts,
)
from ipt_analytics.models.trajectory import (
    FORMAT_LEVELS,
    PROBLEM_AREA_LEVELS,
    TrajectoryResult,
    TrajectorySpec,
    fit_trajectory,
    model_frame,
    phase_knots,
    time_columns,
)

__all__ = [
    "fit_mixed",
    "MixedResult",
    "compare_models",
    "FORMAT_LEVELS",
    "PROBLEM_AREA_LEVELS",
    "TrajectoryResult",
    "TrajectorySpec",
    "fit_trajectory",
    "model_frame",
    "phase_knots",
    "time_columns",
    "contrasts",
    "effect_size",
    "marginal_means",
    "reference_grid",
    "trends",
    "conditional_bands",
    "expected_recovery",
    "flag_not_on_track",
    "variance_parts",
    "dropout_sensitivity",
]
