"""ipt_analytics: outcome research for Interpersonal Psychotherapy (IPT).

Public functions are imported lazily so that ``import ipt_analytics`` stays light
(matplotlib is only imported by the plotting module).
"""

from __future__ import annotations

import importlib

from .errors import DataWarning, FitWarning, IptWarning, SchemaError

__version__ = "0.1.0"

# public name -> module that defines it
_LAZY = {
    "read_sessions": "ipt_analytics.sessiondata",
    "SessionData": "ipt_analytics.sessiondata",
    "INSTRUMENTS": "ipt_analytics.instruments",
    "get_instrument": "ipt_analytics.instruments",
    "score_items": "ipt_analytics.scoring",
    "severity_band": "ipt_analytics.instruments",
    "alias_table": "ipt_analytics.vocab",
    "simulate_cohort": "ipt_analytics.synth",
    "simulate_scores": "ipt_analytics.synth",
    "TRUE_PARAMETERS": "ipt_analytics.synth",
    "kaplan_meier": "ipt_analytics.survival",
    "nhs_tt_summary": "ipt_analytics.outcome_rules.nhs_tt",
    "p_adjust": "ipt_analytics.multiplicity",
    "observed_means": "ipt_analytics.describe",
    "severity_shares": "ipt_analytics.describe",
    "p_chart": "ipt_analytics.describe",
    "sample_trajectories": "ipt_analytics.describe",
    "suppress_table": "ipt_analytics.privacy",
    "check_no_disclosure": "ipt_analytics.privacy",
    "drop_identifiers": "ipt_analytics.privacy",
    "POLICIES": "ipt_analytics.privacy",
    "episode_outcomes": "ipt_analytics.outcomes",
    "compare_groups": "ipt_analytics.compare",
    "fit_mixed": "ipt_analytics.mixed",
    "MixedResult": "ipt_analytics.mixed",
    "fit_trajectory": "ipt_analytics.trajectory",
    "TrajectoryResult": "ipt_analytics.trajectory",
    "marginal_means": "ipt_analytics.emmeans",
    "contrasts": "ipt_analytics.emmeans",
    "trends": "ipt_analytics.emmeans",
    "effect_size": "ipt_analytics.emmeans",
    "dropout_sensitivity": "ipt_analytics.dropout",
    "flag_not_on_track": "ipt_analytics.recovery",
    "expected_recovery": "ipt_analytics.recovery",
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
