"""General-purpose statistics that know nothing of sessions: intervals, multiplicity,
summary-data effect sizes, group comparisons, survival, descriptives and SPC limits."""

from __future__ import annotations

from ipt_analytics.stats.describe import (
    observed_means,
    sample_trajectories,
    severity_shares,
    time_values,
)
from ipt_analytics.stats.groups import (
    HARMFUL_OUTCOMES,
    GroupComparison,
    compare_groups,
)
from ipt_analytics.stats.intervals import (
    newcombe_rd_interval,
    wald_rd_interval,
    wilson_interval,
    z_value,
)
from ipt_analytics.stats.multiplicity import (
    P_ADJUST_METHODS,
    p_adjust,
)
from ipt_analytics.stats.spc import anhoej_rules, p_chart, run_chart, spc_summary
from ipt_analytics.stats.summary_stats import (
    NNT,
    Estimate,
    becker_g,
    gma_d,
    morris_dppc2,
    nhs_rate,
    nhs_recovery_rate,
    nnt_from_d,
    nnt_from_rd,
    odds_ratio,
    prepost_correlation,
    prepost_effect_sizes,
    risk_difference,
    risk_ratio,
    round_half_up,
)
from ipt_analytics.stats.survival import (
    KaplanMeier,
    kaplan_meier,
)

__all__ = [
    "z_value",
    "wilson_interval",
    "wald_rd_interval",
    "newcombe_rd_interval",
    "P_ADJUST_METHODS",
    "p_adjust",
    "Estimate",
    "NNT",
    "odds_ratio",
    "risk_ratio",
    "risk_difference",
    "nnt_from_rd",
    "nnt_from_d",
    "becker_g",
    "prepost_effect_sizes",
    "morris_dppc2",
    "prepost_correlation",
    "gma_d",
    "nhs_rate",
    "nhs_recovery_rate",
    "round_half_up",
    "GroupComparison",
    "compare_groups",
    "HARMFUL_OUTCOMES",
    "KaplanMeier",
    "kaplan_meier",
    "observed_means",
    "severity_shares",
    "p_chart",
    "run_chart",
    "anhoej_rules",
    "spc_summary",
    "sample_trajectories",
    "time_values",
]
