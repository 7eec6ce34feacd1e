"""Instrument facts as data: one table for PHQ-9, GAD-7, QIDS-SR16 and CUDOS.

Every cut-off, band and rule the toolkit uses comes from :data:`INSTRUMENTS`; nothing
else in the package hard-codes an instrument fact. Each fact carries its status from
docs/definitions.md ("Instrument scoring"): ``"sourced"`` (verified against the cited source),
``"secondary"`` (verified only against a secondary source) or ``"default"`` (a documented,
overridable default that no source fixes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ipt_analytics.vocab import lookup_label

__all__ = [
    "DEFINITIONS_VERSION",
    "INSTRUMENTS",
    "REMISSION_PRESETS",
    "Instrument",
    "RemissionRule",
    "get_remission_rule",
    "get_instrument",
    "instrument_table",
    "severity_band",
]

#: Version of this table; stamp it on every output that uses an instrument fact.
DEFINITIONS_VERSION = "ipt_analytics-instruments-2026.2"


@dataclass(frozen=True)
class Instrument:
    """Facts about one rating instrument.

    Attributes
    ----------
    name : str
        Canonical code (``phq9``, ``gad7``, ``qids_sr16``, ``cudos``).
    label : str
        Display name.
    n_items : int
        Number of items on the form.
    item_min, item_max : int
        Range of every item response.
    total_items : tuple of int
        1-based item numbers that enter the total (CUDOS: 1-16 of 18).
    scoring_rule : str
        ``"sum"`` or ``"domain_max_sum"`` (QIDS-SR16).
    domains : tuple of tuple of int
        For ``domain_max_sum``: the items whose maximum forms each domain score.
    total_min, total_max : int
        Range of the total.
    bands : tuple of (low, high, label)
        Severity bands on integer totals, inclusive at both ends.
    remission_cutoff : float
        Remission threshold; see ``remission_rule``.
    remission_rule : str
        ``"lt"`` (total < cut-off) or ``"le"`` (total <= cut-off).
    remission_status : str
        ``"sourced"`` or ``"default"``.
    reliable_change : int or None
        NHS Talking Therapies reliable-change threshold in raw points (PHQ-9 6, GAD-7 4);
        ``None`` where no such threshold is sourced.
    caseness_cutoff : int or None
        NHS Talking Therapies caseness (total >= cut-off); ``None`` where none applies.
    better_is : str
        ``"lower"`` for all four instruments.
    recall_window : str
        Recall period the form asks about.
    missing_item_rule : str
        ``"prorate_mean"`` (substitute the mean of the answered items when at most
        ``max_missing_items`` are missing) or ``"none"`` (no published rule: any missing
        item leaves the total missing).
    max_missing_items : int
        Largest number of missing total items that may be prorated (0 when no rule).
    safety_items : tuple of int
        Items that ask about thoughts of death or suicide (PHQ-9 item 9, QIDS-SR16 item 12,
        CUDOS items 14 and 15); empty where the form has none (GAD-7).
    safety_min : int or None
        A safety item answered >= ``safety_min`` raises the safety flag (1 on every form:
        any endorsement). ``None`` where the form has no safety item.
    reliability : float or None
        Default reliability coefficient (Cronbach's alpha) for Jacobson-Truax from the
        instrument's validation paper (PHQ-9 0.89, GAD-7 0.92, QIDS-SR16 0.86, CUDOS 0.90);
        ``reliability_status`` says how it was checked. Always overridable
        (``reliability=``).
    reliability_status : str
        ``"sourced"`` (read in the paper's abstract), ``"secondary"`` (read only in a
        summary of the paper) or ``"none"``.
    notes : str
        Statuses of the facts above and the documented choices.
    citation : str
        Sources.
    """

    name: str
    label: str
    n_items: int
    item_min: int
    item_max: int
    total_items: tuple[int, ...]
    scoring_rule: str
    domains: tuple[tuple[int, ...], ...]
    total_min: int
    total_max: int
    bands: tuple[tuple[int, int, str], ...]
    remission_cutoff: float
    remission_rule: str
    remission_status: str
    reliable_change: int | None
    caseness_cutoff: int | None
    better_is: str
    recall_window: str
    missing_item_rule: str
    max_missing_items: int
    safety_items: tuple[int, ...]
    safety_min: int | None
    reliability: float | None
    reliability_status: str
    notes: str
    citation: str

    @property
    def safety_item(self) -> int | None:
        """First safety item (``None`` without one); kept for callers that need one item.

        Examples
        --------
        >>> get_instrument("cudos").safety_items, get_instrument("cudos").safety_item
        ((14, 15), 14)
        """
        return self.safety_items[0] if self.safety_items else None

    @property
    def item_columns(self) -> list[str]:
        """Canonical item column names ``item_1 .. item_k``."""
        return [f"item_{i}" for i in range(1, self.n_items + 1)]

    @property
    def band_labels(self) -> list[str]:
        """Severity labels from least to most severe."""
        return [label for _, _, label in self.bands]

    def is_remitted(self, total: float) -> bool:
        """Whether ``total`` meets the remission cut-off (``False`` for a missing total).

        Examples
        --------
        >>> get_instrument("phq9").is_remitted(4), get_instrument("phq9").is_remitted(5)
        (True, False)
        >>> get_instrument("qids_sr16").is_remitted(5)
        True
        """
        if total is None or (isinstance(total, float) and math.isnan(total)):
            return False
        if self.remission_rule == "lt":
            return total < self.remission_cutoff
        return total <= self.remission_cutoff


INSTRUMENTS: dict[str, Instrument] = {
    "phq9": Instrument(
        name="phq9",
        label="PHQ-9",
        n_items=9,
        item_min=0,
        item_max=3,
        total_items=tuple(range(1, 10)),
        scoring_rule="sum",
        domains=(),
        total_min=0,
        total_max=27,
        bands=(
            (0, 4, "none_minimal"),
            (5, 9, "mild"),
            (10, 14, "moderate"),
            (15, 19, "moderately_severe"),
            (20, 27, "severe"),
        ),
        remission_cutoff=5,
        remission_rule="lt",
        remission_status="sourced",
        reliable_change=6,
        caseness_cutoff=10,
        better_is="lower",
        recall_window="past 2 weeks",
        missing_item_rule="prorate_mean",
        max_missing_items=2,
        safety_items=(9,),
        safety_min=1,
        reliability=0.89,
        reliability_status="secondary",
        notes=(
            "Bands, total and remission < 5 (ICSI, MNCM) sourced. Missing items: 1-2 missing -> "
            "mean of the answered items substituted, > 2 -> no score (NHS Data Dictionary); "
            "Trap: rounding of the prorated total is unspecified, so it is a parameter "
            "(default: not rounded). Reliable change 6 and caseness >= 10: NHS Talking "
            "Therapies. Safety flag: item 9 ('thoughts that you would be better off dead, or of "
            "hurting yourself') >= 1, any endorsement (Simon et al. 2013 Psychiatr Serv "
            "64:1195-1202; item >= 2 is their higher-risk group). Reliability 0.89 = Cronbach's "
            "alpha in Kroenke 2001 (secondary: checked against summaries of the paper)."
        ),
        citation=(
            "Kroenke K, Spitzer RL, Williams JBW (2001) J Gen Intern Med 16:606-613; "
            "NHS Data Dictionary, Patient Health Questionnaire-9; "
            "NHS Talking Therapies outcome definitions (PMC8411661 table 1, NHS Digital 2016)"
        ),
    ),
    "gad7": Instrument(
        name="gad7",
        label="GAD-7",
        n_items=7,
        item_min=0,
        item_max=3,
        total_items=tuple(range(1, 8)),
        scoring_rule="sum",
        domains=(),
        total_min=0,
        total_max=21,
        bands=(
            (0, 4, "minimal"),
            (5, 9, "mild"),
            (10, 14, "moderate"),
            (15, 21, "severe"),
        ),
        remission_cutoff=5,
        remission_rule="lt",
        remission_status="default",
        reliable_change=4,
        caseness_cutoff=8,
        better_is="lower",
        recall_window="past 2 weeks",
        missing_item_rule="none",
        max_missing_items=0,
        safety_items=(),
        safety_min=None,
        reliability=0.92,
        reliability_status="secondary",
        notes=(
            "Bands and total sourced (Spitzer 2006; screening cut-off >= 10). Remission < 5 "
            "(minimal band) is a documented default, not a sourced definition. Reliable "
            "change 4 and caseness >= 8: NHS Talking Therapies. No published missing-item "
            "rule: any missing item leaves the total missing. Reliability 0.92 = Cronbach's alpha "
            "in Spitzer 2006 (secondary: checked against summaries of the paper)."
        ),
        citation=(
            "Spitzer RL, Kroenke K, Williams JBW, Lowe B (2006) Arch Intern Med 166:1092-1097; "
            "NHS Talking Therapies outcome definitions (PMC8411661 table 1)"
        ),
    ),
    "qids_sr16": Instrument(
        name="qids_sr16",
        label="QIDS-SR16",
        n_items=16,
        item_min=0,
        item_max=3,
        total_items=tuple(range(1, 17)),
        scoring_rule="domain_max_sum",
        domains=((1, 2, 3, 4), (5,), (6, 7, 8, 9), (10,), (11,), (12,), (13,), (14,), (15, 16)),
        total_min=0,
        total_max=27,
        bands=(
            (0, 5, "none"),
            (6, 10, "mild"),
            (11, 15, "moderate"),
            (16, 20, "severe"),
            (21, 27, "very_severe"),
        ),
        remission_cutoff=5,
        remission_rule="le",
        remission_status="sourced",
        reliable_change=None,
        caseness_cutoff=None,
        better_is="lower",
        recall_window="past 7 days",
        missing_item_rule="none",
        max_missing_items=0,
        safety_items=(12,),
        safety_min=1,
        reliability=0.86,
        reliability_status="sourced",
        notes=(
            "Total = sum of 9 domain scores (max of sleep items 1-4, item 5, max of "
            "appetite/weight items 6-9, items 10-14, max of psychomotor items 15-16); Trap: a "
            "plain 16-item sum is wrong. Remission <= 5 (STAR*D secondary outcome). No NHS TT "
            "reliable-change threshold or caseness exists. Reliability 0.86 = Cronbach's "
            "alpha of the QIDS-SR16 in Rush 2003 (n = 596; read in the abstract). Safety "
            "flag: item 12 'thoughts of death or suicide' >= 1 (1 = 'I feel that life is "
            "empty or wonder if it's worth living'; wording secondary). No published "
            "missing-item rule."
        ),
        citation=(
            "Rush AJ et al. (2003) Biol Psychiatry 54:573-583; http://ids-qids.org/"
            "interpretation.html; Trivedi MH et al. (2006) Am J Psychiatry 163:28-40"
        ),
    ),
    "cudos": Instrument(
        name="cudos",
        label="CUDOS",
        n_items=18,
        item_min=0,
        item_max=4,
        total_items=tuple(range(1, 17)),
        scoring_rule="sum",
        domains=(),
        total_min=0,
        total_max=64,
        bands=(
            (0, 10, "non_depressed"),
            (11, 20, "minimal"),
            (21, 30, "mild"),
            (31, 45, "moderate"),
            (46, 64, "severe"),
        ),
        remission_cutoff=10,
        remission_rule="le",
        remission_status="sourced",
        reliable_change=None,
        caseness_cutoff=None,
        better_is="lower",
        recall_window="past week including today",
        missing_item_rule="none",
        max_missing_items=0,
        safety_items=(14, 15),
        safety_min=1,
        reliability=0.90,
        reliability_status="secondary",
        notes=(
            "Total = items 1-16 (0-4 each); items 17-18 (psychosocial impairment, quality of "
            "life) are range-checked but not in the total. Bands quote Zimmerman 2008 p. 137. "
            "Remission <= 10 (non-depressed band; Zimmerman et al. 2017 J Clin Psychiatry "
            "78:177-183: cut-off 10 matched the HDRS remission rate, the developers' earlier "
            "19 did not; see REMISSION_PRESETS). Reliability 0.90 = Cronbach's alpha in "
            "Zimmerman 2008 (secondary: the abstract says only 'high internal consistency'). "
            "Safety flag: item 14 'I wished I was dead' or item 15 'I thought about killing "
            "myself' >= 1 (any day; no published endorsement convention, analogue of PHQ-9 "
            "item 9 >= 1). No NHS TT reliable-change threshold; no published missing-item "
            "rule."
        ),
        citation=(
            "Zimmerman M et al. (2008) Compr Psychiatry 49:131-140; Zimmerman M, Walsh E, "
            "Friedman M, Boerescu DA, Attiullah N (2017) J Clin Psychiatry 78:177-183; "
            "http://psytoolkit.org/survey-library/depression-cudos.html"
        ),
    ),
}


@dataclass(frozen=True)
class RemissionRule:
    """A named remission cut-off: remitted when the total is ``< cutoff`` (``rule="lt"``) or
    ``<= cutoff`` (``rule="le"``).

    Examples
    --------
    >>> r = REMISSION_PRESETS["cudos"]["zimmerman2004_le19"]
    >>> r.is_remitted(19), r.is_remitted(20)
    (True, False)
    """

    name: str
    instrument: str
    cutoff: float
    rule: str
    status: str
    citation: str

    @property
    def text(self) -> str:
        """The rule as a short formula, e.g. ``"final <= 10"``."""
        return f"final {'<' if self.rule == 'lt' else '<='} {self.cutoff:g}"

    def is_remitted(self, total: float) -> bool:
        """Whether ``total`` meets the rule (``False`` for a missing total)."""
        if total is None or (isinstance(total, float) and math.isnan(total)):
            return False
        return total < self.cutoff if self.rule == "lt" else total <= self.cutoff


def _rule(name, instrument, cutoff, rule, status, citation) -> RemissionRule:
    return RemissionRule(name, instrument, cutoff, rule, status, citation)


#: Named remission rules per instrument; the first of each is the instrument's default
#: (the cut-off in :data:`INSTRUMENTS`). ``status`` as in the instrument table.
REMISSION_PRESETS: dict[str, dict[str, RemissionRule]] = {
    "phq9": {
        "icsi_mncm_lt5": _rule(
            "icsi_mncm_lt5",
            "phq9",
            5,
            "lt",
            "sourced",
            "ICSI depression guideline; MN Community Measurement 'Depression Remission' "
            "(CMS159: last PHQ-9 < 5)",
        ),
    },
    "gad7": {
        "minimal_band_lt5": _rule(
            "minimal_band_lt5",
            "gad7",
            5,
            "lt",
            "default",
            "documented default: GAD-7 minimal band 0-4 (Spitzer 2006); no published remission "
            "definition",
        ),
    },
    "qids_sr16": {
        "star_d_le5": _rule(
            "star_d_le5",
            "qids_sr16",
            5,
            "le",
            "sourced",
            "Trivedi MH et al. (2006) Am J Psychiatry 163:28-40 (STAR*D: QIDS-SR16 <= 5)",
        ),
    },
    "cudos": {
        "zimmerman2017_le10": _rule(
            "zimmerman2017_le10",
            "cudos",
            10,
            "le",
            "sourced",
            "Zimmerman M et al. (2017) J Clin Psychiatry 78:177-183 (abstract: cut-off 10 "
            "gave 34% remitted vs 35% on the HDRS; cut-off 19 gave 47%); top of the "
            "'non-depressed' band 0-10 (Zimmerman 2008)",
        ),
        "zimmerman2004_le19": _rule(
            "zimmerman2004_le19",
            "cudos",
            19,
            "le",
            "secondary",
            "Zimmerman M, Posternak MA, Chelminski I (2004) Am J Psychiatry 161:1911-1913 (ROC "
            "against HAM-D17 <= 7); value 19 read in the 2017 abstract ('cutoff score of 19 "
            "recommended by the developers'); '<=' is not stated there",
        ),
    },
}


def get_remission_rule(instrument: str | Instrument, preset=None) -> RemissionRule:
    """The remission rule of an instrument: its default, a named preset, or a custom rule.

    Parameters
    ----------
    instrument : str or Instrument
    preset : None, str or dict
        ``None``: the instrument's default (first preset); a name from
        :data:`REMISSION_PRESETS`; or a dict ``{"cutoff": ..., "rule": "lt" | "le"}``.

    Examples
    --------
    >>> get_remission_rule("cudos").text
    'final <= 10'
    >>> get_remission_rule("phq9", {"cutoff": 5, "rule": "lt"}).name
    'custom'
    """
    inst = get_instrument(instrument)
    presets = REMISSION_PRESETS[inst.name]
    if preset is None:
        return next(iter(presets.values()))
    if isinstance(preset, dict):
        if set(preset) != {"cutoff", "rule"} or preset["rule"] not in ("lt", "le"):
            raise ValueError(
                f"remission={preset!r} is not allowed; a custom rule is a dict with exactly "
                "'cutoff' (a number) and 'rule' ('lt' or 'le')."
            )
        return RemissionRule(
            "custom", inst.name, float(preset["cutoff"]), preset["rule"], "user", "given by user"
        )
    if preset not in presets:
        raise ValueError(
            f"remission={preset!r} is not a preset for {inst.label}; accepted: "
            f"{', '.join(presets)} (or a dict with 'cutoff' and 'rule')."
        )
    return presets[preset]


def get_instrument(name: str | Instrument) -> Instrument:
    """Look up an instrument by its canonical code (or pass an :class:`Instrument` through).

    Parameters
    ----------
    name : str or Instrument
        ``"phq9"``, ``"gad7"``, ``"qids_sr16"`` or ``"cudos"``. Labels such as
        ``"PHQ-9"`` are accepted through the instrument alias table of
        :mod:`ipt_analytics.vocab`.

    Returns
    -------
    Instrument

    Raises
    ------
    ValueError
        For an unknown name; the message lists the accepted names.

    Examples
    --------
    >>> get_instrument("phq9").reliable_change
    6
    >>> get_instrument("QIDS-SR16").name
    'qids_sr16'
    """
    if isinstance(name, Instrument):
        return name
    if isinstance(name, str):
        if name in INSTRUMENTS:
            return INSTRUMENTS[name]

        canonical = lookup_label(name, "instrument")
        if canonical is not None:
            return INSTRUMENTS[canonical]
    raise ValueError(
        f"get_instrument(): name={name!r} is not a known instrument. "
        f"Accepted: {', '.join(INSTRUMENTS)}. Fix: use one of these codes."
    )


def severity_band(instrument: str | Instrument, total: float) -> str | None:
    """Severity band label of a total.

    Bands are defined on integer totals. A prorated, non-integer total falls in the band
    whose lower edge it has reached (9.5 on the PHQ-9 is ``"mild"``, 9.9 too; 10 is
    ``"moderate"``). A missing total gives ``None``.

    Parameters
    ----------
    instrument : str or Instrument
    total : float

    Returns
    -------
    str or None

    Raises
    ------
    ValueError
        If ``total`` lies outside the instrument's total range.

    Examples
    --------
    >>> severity_band("phq9", 9), severity_band("phq9", 10)
    ('mild', 'moderate')
    >>> severity_band("cudos", 46)
    'severe'
    """
    inst = get_instrument(instrument)
    if total is None or (isinstance(total, float) and math.isnan(total)):
        return None
    if not inst.total_min <= total <= inst.total_max:
        raise ValueError(
            f"severity_band(): total={total!r} is outside the {inst.label} range "
            f"{inst.total_min}-{inst.total_max}. Fix: check the scoring of this total."
        )
    label = inst.bands[0][2]
    for low, _high, band in inst.bands:
        if total >= low:
            label = band
    return label


def instrument_table():
    """All instrument facts as a DataFrame, one row per instrument (for docs and reports).

    Examples
    --------
    >>> tab = instrument_table()
    >>> tab.loc["phq9", "label"], int(tab.loc["gad7", "caseness_cutoff"])
    ('PHQ-9', 8)
    """
    import dataclasses

    import pandas as pd

    rows = [dataclasses.asdict(inst) for inst in INSTRUMENTS.values()]
    table = pd.DataFrame(rows).set_index("name")
    # optional whole-number facts stay integers (missing as <NA>), not floats
    return table.astype({"reliable_change": "Int64", "caseness_cutoff": "Int64"})
