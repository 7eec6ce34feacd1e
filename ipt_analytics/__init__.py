"""ipt_analytics: outcome research for Interpersonal Psychotherapy (IPT).

The sub-packages follow the data flow (see the README's layout section): ``instruments`` ->
``io`` -> ``stats`` -> ``outcomes`` -> ``models`` -> ``plotting`` -> ``reporting``, with
``datasets`` for synthetic data and ``cli`` on top. Public functions are imported lazily so
that ``import ipt_analytics`` stays light (matplotlib is imported only by ``plotting``); the
``TYPE_CHECKING`` block below shows IDEs and type checkers where each name lives.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from ipt_analytics.errors import DataWarning, FitWarning, IptWarning, SchemaError

if TYPE_CHECKING:  # pragma: no cover - for IDEs and type checkers only
    from ipt_analytics.datasets.synth import TRUE_PARAMETERS, simulate_cohort, simulate_scores
    from ipt_analytics.instruments.scoring import score_items
    from ipt_analytics.instruments.table import INSTRUMENTS, get_instrument, severity_band
    from ipt_analytics.io.sessiondata import SessionData, read_sessions
    from ipt_analytics.models.dropout import dropout_sensitivity
    from ipt_analytics.models.emmeans import contrasts, effect_size, marginal_means, trends
    from ipt_analytics.models.mixed import MixedResult, compare_models, fit_mixed
    from ipt_analytics.models.recovery import expected_recovery, flag_not_on_track
    from ipt_analytics.models.trajectory import TrajectoryResult, fit_trajectory
    from ipt_analytics.outcomes.episode import episode_outcomes
    from ipt_analytics.outcomes.nhs_tt import nhs_tt_summary
    from ipt_analytics.reporting.privacy import (
        POLICIES,
        check_no_disclosure,
        drop_identifiers,
        suppress_table,
    )
    from ipt_analytics.reporting.report import QuarterlyReport, build_report
    from ipt_analytics.reporting.summary import outcome_summary
    from ipt_analytics.stats.describe import (
        observed_means,
        sample_trajectories,
        severity_shares,
    )
    from ipt_analytics.stats.groups import GroupComparison, compare_groups
    from ipt_analytics.stats.multiplicity import p_adjust
    from ipt_analytics.stats.spc import p_chart, run_chart
    from ipt_analytics.stats.survival import KaplanMeier, kaplan_meier
    from ipt_analytics.vocab import alias_table

__version__ = "0.1.0"

# public name -> module that defines it
_LAZY = {
    "read_sessions": "ipt_analytics.io.sessiondata",
    "SessionData": "ipt_analytics.io.sessiondata",
    "INSTRUMENTS": "ipt_analytics.instruments.table",
    "get_instrument": "ipt_analytics.instruments.table",
    "score_items": "ipt_analytics.instruments.scoring",
    "severity_band": "ipt_analytics.instruments.table",
    "alias_table": "ipt_analytics.vocab",
    "simulate_cohort": "ipt_analytics.datasets.synth",
    "simulate_scores": "ipt_analytics.datasets.synth",
    "TRUE_PARAMETERS": "ipt_analytics.datasets.synth",
    "kaplan_meier": "ipt_analytics.stats.survival",
    "nhs_tt_summary": "ipt_analytics.outcomes.nhs_tt",
    "p_adjust": "ipt_analytics.stats.multiplicity",
    "observed_means": "ipt_analytics.stats.describe",
    "severity_shares": "ipt_analytics.stats.describe",
    "p_chart": "ipt_analytics.stats.spc",
    "run_chart": "ipt_analytics.stats.spc",
    "sample_trajectories": "ipt_analytics.stats.describe",
    "suppress_table": "ipt_analytics.reporting.privacy",
    "check_no_disclosure": "ipt_analytics.reporting.privacy",
    "drop_identifiers": "ipt_analytics.reporting.privacy",
    "POLICIES": "ipt_analytics.reporting.privacy",
    "episode_outcomes": "ipt_analytics.outcomes.episode",
    "compare_groups": "ipt_analytics.stats.groups",
    "fit_mixed": "ipt_analytics.models.mixed",
    "MixedResult": "ipt_analytics.models.mixed",
    "fit_trajectory": "ipt_analytics.models.trajectory",
    "TrajectoryResult": "ipt_analytics.models.trajectory",
    "marginal_means": "ipt_analytics.models.emmeans",
    "contrasts": "ipt_analytics.models.emmeans",
    "trends": "ipt_analytics.models.emmeans",
    "effect_size": "ipt_analytics.models.emmeans",
    "dropout_sensitivity": "ipt_analytics.models.dropout",
    "flag_not_on_track": "ipt_analytics.models.recovery",
    "expected_recovery": "ipt_analytics.models.recovery",
    "GroupComparison": "ipt_analytics.stats.groups",
    "KaplanMeier": "ipt_analytics.stats.survival",
    "compare_models": "ipt_analytics.models.mixed",
    "build_report": "ipt_analytics.reporting.report",
    "QuarterlyReport": "ipt_analytics.reporting.report",
    "outcome_summary": "ipt_analytics.reporting.summary",
}

__all__ = ["SchemaError", "IptWarning", "FitWarning", "DataWarning", "__version__", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        module = importlib.import_module(_LAZY[name])
        value = getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'ipt_analytics' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
