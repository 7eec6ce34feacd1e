"""The service's report configuration (TOML), read and checked once.

A small file tells the report what cannot be inferred from the data: the service's name, the
instruments and outcomes to report, the small-cell policy, the SPC baseline and phase changes,
optional reference rates for the funnel plots and display names for sites. Every key is
optional; an unknown key or a value of the wrong kind is refused with a message naming it.
See ``docs/report.md`` and ``data/sample/report.toml``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, fields
from pathlib import Path

import pandas as pd

from ipt_analytics.errors import SchemaError
from ipt_analytics.instruments.table import INSTRUMENTS
from ipt_analytics.reporting.privacy import POLICIES
from ipt_analytics.reporting.summary import SHARED_POLICIES

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["ReportConfig", "load_config", "OUTCOMES"]

#: reportable outcomes -> (label, which direction is better)
OUTCOMES = {
    "nhs_recovery": ("NHS Talking Therapies recovery", "increase"),
    "nhs_reliable_recovery": ("NHS Talking Therapies reliable recovery", "increase"),
    "nhs_reliable_improvement": ("NHS Talking Therapies reliable improvement", "increase"),
    "nhs_reliable_deterioration": ("NHS Talking Therapies reliable deterioration", "decrease"),
    "response": ("Response (>= 50% reduction)", "increase"),
    "remission": ("Remission (below the instrument cut-off)", "increase"),
    "reliable_improvement": ("Reliable improvement (Jacobson-Truax)", "increase"),
    "reliable_deterioration": ("Reliable deterioration (Jacobson-Truax)", "decrease"),
    "dropout": ("Dropout", "decrease"),
}


@dataclass(frozen=True)
class ReportConfig:
    """Report settings; defaults give a complete report for any valid data.

    Examples
    --------
    >>> cfg = ReportConfig(service_name="North IPT", site_names={"n1": "North clinic"})
    >>> cfg.site_label("n1"), cfg.instrument
    ('North clinic', 'phq9')
    """

    service_name: str = "IPT service"
    instruments: tuple = ("phq9",)
    outcomes: tuple = (
        "nhs_recovery",
        "nhs_reliable_recovery",
        "nhs_reliable_improvement",
        "nhs_reliable_deterioration",
        "response",
        "remission",
        "reliable_improvement",
        "reliable_deterioration",
        "dropout",
    )
    suppression: str = "nhs_digital"
    #: outcomes drawn as monthly p-charts and summarised with Making Data Count icons
    spc_outcomes: tuple = ("nhs_recovery", "reliable_improvement", "dropout")
    #: first and last month (YYYY-MM) of the frozen SPC baseline; None: all complete months
    spc_baseline: tuple | None = None
    #: months (YYYY-MM) in which a new phase (process change) starts
    spc_phases: tuple = ()
    #: months at the start of the extract marked incomplete (episodes begun before it missing)
    incomplete_start_months: int = 3
    #: outcomes drawn as funnel plots of sites and therapists
    funnel_outcomes: tuple = ("nhs_recovery", "nhs_reliable_improvement")
    funnel_months: int = 12
    funnel_overdispersion: bool = False
    #: reference rates (0-1) drawn as the funnel target instead of the service's own rate
    reference_rates: dict = field(default_factory=dict)
    reference_source: str = ""
    site_names: dict = field(default_factory=dict)

    @property
    def instrument(self) -> str:
        """The primary instrument (outcomes, charts and trajectories)."""
        return self.instruments[0]

    def site_label(self, site) -> str | None:
        return self.site_names.get(str(site))


# TOML table.key -> ReportConfig field
_KEYS = {
    ("service", "name"): "service_name",
    ("service", "instruments"): "instruments",
    ("service", "outcomes"): "outcomes",
    ("service", "suppression"): "suppression",
    ("spc", "outcomes"): "spc_outcomes",
    ("spc", "baseline"): "spc_baseline",
    ("spc", "phases"): "spc_phases",
    ("spc", "incomplete_start_months"): "incomplete_start_months",
    ("funnel", "outcomes"): "funnel_outcomes",
    ("funnel", "months"): "funnel_months",
    ("funnel", "overdispersion"): "funnel_overdispersion",
    ("funnel", "reference_rates"): "reference_rates",
    ("funnel", "reference_source"): "reference_source",
    ("sites", "names"): "site_names",
}


def _month(value, where: str) -> str:
    try:
        return pd.Period(str(value), freq="M").strftime("%Y-%m")
    except (ValueError, TypeError):
        raise SchemaError(
            f"report config: {where} = {value!r} is not a month. Fix: write it as YYYY-MM, "
            'e.g. "2025-04"'
        ) from None


def _check(cfg: ReportConfig, source: str) -> ReportConfig:
    where = f"report config {source}"
    bad = [i for i in cfg.instruments if i not in INSTRUMENTS]
    if not cfg.instruments or bad:
        raise SchemaError(
            f"{where}: [service] instruments {bad or '[]'} not known; use some "
            f"of {sorted(INSTRUMENTS)}"
        )
    for key in ("outcomes", "spc_outcomes", "funnel_outcomes"):
        bad = [o for o in getattr(cfg, key) if o not in OUTCOMES]
        if bad:
            raise SchemaError(f"{where}: {key} {bad} not known; use some of {list(OUTCOMES)}")
    if cfg.suppression not in [*SHARED_POLICIES, "none"]:
        why = (
            " (it reproduces NHS England's dashboards, whose percentages from unrounded counts "
            "can reveal a small count by difference)"
            if cfg.suppression in POLICIES
            else " not known"
        )
        raise SchemaError(
            f"{where}: suppression {cfg.suppression!r}{why}; use one of "
            f"{sorted(SHARED_POLICIES)} (or none for internal working copies)"
        )
    baseline = cfg.spc_baseline
    if baseline is not None:
        if len(baseline) != 2:
            raise SchemaError(
                f'{where}: [spc] baseline needs ["first month", "last month"], got {list(baseline)}'
            )
        baseline = tuple(_month(m, "[spc] baseline") for m in baseline)
        if baseline[0] > baseline[1]:
            raise SchemaError(f"{where}: [spc] baseline {list(baseline)} ends before it starts")
    phases = tuple(sorted(_month(m, "[spc] phases") for m in cfg.spc_phases))
    for name, rate in cfg.reference_rates.items():
        if name not in OUTCOMES or not isinstance(rate, int | float) or not 0 < rate < 1:
            raise SchemaError(
                f"{where}: [funnel] reference_rates {name} = {rate!r}; need an "
                f"outcome from {list(OUTCOMES)} and a rate between 0 and 1"
            )
    if not isinstance(cfg.incomplete_start_months, int) or cfg.incomplete_start_months < 0:
        raise SchemaError(f"{where}: [spc] incomplete_start_months must be a whole number >= 0")
    if not isinstance(cfg.funnel_months, int) or cfg.funnel_months < 3:
        raise SchemaError(f"{where}: [funnel] months must be a whole number >= 3")
    return ReportConfig(
        **{
            **{f.name: getattr(cfg, f.name) for f in fields(cfg)},
            "spc_baseline": baseline,
            "spc_phases": phases,
            "site_names": {str(k): str(v) for k, v in cfg.site_names.items()},
        }
    )


def load_config(path=None, **overrides) -> ReportConfig:
    """Read a report TOML file (or the defaults), apply ``overrides`` and check every value.

    Examples
    --------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "r.toml")
    >>> _ = open(p, "w").write('[service]\\nname = "North"\\n[spc]\\nphases = ["2025-10"]\\n')
    >>> cfg = load_config(p)
    >>> cfg.service_name, cfg.spc_phases
    ('North', ('2025-10',))
    >>> _ = open(p, "w").write('[service]\\ncolour = "blue"\\n')
    >>> load_config(p)
    Traceback (most recent call last):
    ...
    ipt_analytics.errors.SchemaError: report config ...: [service] colour is not a known key; ...
    """
    values: dict = {}
    source = "(defaults)"
    if path is not None:
        source = str(path)
        try:
            raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SchemaError(f"report config: file not found: {source!r}") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise SchemaError(f"report config {source}: not valid TOML ({exc})") from None
        known = sorted({f"[{t}] {k}" for t, k in _KEYS})
        for table, content in raw.items():
            if not isinstance(content, dict):
                raise SchemaError(
                    f"report config {source}: top-level key {table!r} must be a "
                    f"table; known keys: {known}"
                )
            for key, value in content.items():
                name = _KEYS.get((table, key))
                if name is None:
                    raise SchemaError(
                        f"report config {source}: [{table}] {key} is not a known "
                        f"key; known keys: {known}"
                    )
                values[name] = tuple(value) if isinstance(value, list) else value
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        cfg = ReportConfig(**values)
    except TypeError as exc:
        raise SchemaError(f"report config {source}: {exc}") from None
    return _check(cfg, source)
