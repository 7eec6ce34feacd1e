"""Instrument facts against docs/definitions.md, "Instrument scoring" (hand-checked band edges)."""

import math

import pytest

from ipt_analytics.instruments.table import (
    INSTRUMENTS,
    get_instrument,
    instrument_table,
    severity_band,
)

# every band edge of every instrument: (instrument, total, expected band)
EDGES = [
    ("phq9", 0, "none_minimal"),
    ("phq9", 4, "none_minimal"),
    ("phq9", 5, "mild"),
    ("phq9", 9, "mild"),
    ("phq9", 10, "moderate"),
    ("phq9", 14, "moderate"),
    ("phq9", 15, "moderately_severe"),
    ("phq9", 19, "moderately_severe"),
    ("phq9", 20, "severe"),
    ("phq9", 27, "severe"),
    ("gad7", 0, "minimal"),
    ("gad7", 4, "minimal"),
    ("gad7", 5, "mild"),
    ("gad7", 9, "mild"),
    ("gad7", 10, "moderate"),
    ("gad7", 14, "moderate"),
    ("gad7", 15, "severe"),
    ("gad7", 21, "severe"),
    ("qids_sr16", 0, "none"),
    ("qids_sr16", 5, "none"),
    ("qids_sr16", 6, "mild"),
    ("qids_sr16", 10, "mild"),
    ("qids_sr16", 11, "moderate"),
    ("qids_sr16", 15, "moderate"),
    ("qids_sr16", 16, "severe"),
    ("qids_sr16", 20, "severe"),
    ("qids_sr16", 21, "very_severe"),
    ("qids_sr16", 27, "very_severe"),
    ("cudos", 0, "non_depressed"),
    ("cudos", 10, "non_depressed"),
    ("cudos", 11, "minimal"),
    ("cudos", 20, "minimal"),
    ("cudos", 21, "mild"),
    ("cudos", 30, "mild"),
    ("cudos", 31, "moderate"),
    ("cudos", 45, "moderate"),
    ("cudos", 46, "severe"),
    ("cudos", 64, "severe"),
]


@pytest.mark.parametrize(("name", "total", "band"), EDGES)
def test_band_edges(name, total, band):
    assert severity_band(name, total) == band


def test_prorated_totals_fall_in_the_band_they_have_reached():
    assert severity_band("phq9", 9.5) == "mild"
    assert severity_band("phq9", 9.875) == "mild"
    assert severity_band("phq9", 10.0) == "moderate"


def test_missing_total_has_no_band_and_out_of_range_raises():
    assert severity_band("phq9", math.nan) is None
    assert severity_band("phq9", None) is None
    with pytest.raises(ValueError, match="outside the PHQ-9 range 0-27"):
        severity_band("phq9", 28)
    with pytest.raises(ValueError, match="outside"):
        severity_band("cudos", -1)


@pytest.mark.parametrize("inst", list(INSTRUMENTS.values()), ids=list(INSTRUMENTS))
def test_bands_tile_the_total_range(inst):
    assert inst.bands[0][0] == inst.total_min
    assert inst.bands[-1][1] == inst.total_max
    for (_, high, _), (low, _, _) in zip(inst.bands, inst.bands[1:], strict=False):
        assert low == high + 1


@pytest.mark.parametrize(
    ("name", "remitted", "not_remitted", "status"),
    [
        ("phq9", 4, 5, "sourced"),  # PHQ-9 < 5
        ("qids_sr16", 5, 6, "sourced"),  # QIDS-SR16 <= 5
        ("gad7", 4, 5, "default"),  # minimal band
        ("cudos", 10, 11, "sourced"),  # Zimmerman 2017 abstract: cut-off 10
    ],
)
def test_remission_cutoffs(name, remitted, not_remitted, status):
    inst = get_instrument(name)
    assert inst.is_remitted(remitted)
    assert not inst.is_remitted(not_remitted)
    assert not inst.is_remitted(math.nan)
    assert inst.remission_status == status


def test_nhs_talking_therapies_thresholds():
    assert get_instrument("phq9").reliable_change == 6
    assert get_instrument("gad7").reliable_change == 4
    assert get_instrument("qids_sr16").reliable_change is None
    assert get_instrument("cudos").reliable_change is None
    assert get_instrument("phq9").caseness_cutoff == 10
    assert get_instrument("gad7").caseness_cutoff == 8
    assert get_instrument("qids_sr16").caseness_cutoff is None


def test_structural_facts():
    phq, gad, qids, cudos = (INSTRUMENTS[k] for k in ("phq9", "gad7", "qids_sr16", "cudos"))
    assert (phq.n_items, phq.item_max, phq.total_max) == (9, 3, 27)
    assert (gad.n_items, gad.item_max, gad.total_max) == (7, 3, 21)
    assert (qids.n_items, qids.total_max, qids.scoring_rule) == (16, 27, "domain_max_sum")
    assert sorted(i for d in qids.domains for i in d) == list(range(1, 17))
    assert (cudos.n_items, cudos.item_max, cudos.total_items) == (18, 4, tuple(range(1, 17)))
    assert cudos.total_max == 16 * 4
    assert phq.safety_item == 9 and phq.max_missing_items == 2
    assert all(i.better_is == "lower" for i in INSTRUMENTS.values())
    assert all(i.max_missing_items == 0 for i in (gad, qids, cudos))
    assert all(i.citation for i in INSTRUMENTS.values())
    assert phq.recall_window == "past 2 weeks" and qids.recall_window == "past 7 days"


def test_get_instrument_accepts_labels_and_names_the_accepted_values():
    assert get_instrument("PHQ-9") is INSTRUMENTS["phq9"]
    assert get_instrument(" gad 7 ") is INSTRUMENTS["gad7"]
    assert get_instrument(INSTRUMENTS["cudos"]) is INSTRUMENTS["cudos"]
    with pytest.raises(ValueError, match="phq9, gad7, qids_sr16, cudos"):
        get_instrument("bdi")
    with pytest.raises(ValueError, match="not a known instrument"):
        get_instrument("qids")  # could be the clinician-rated QIDS-C16: never guessed


def test_instrument_is_frozen():
    with pytest.raises(AttributeError):
        INSTRUMENTS["phq9"].total_max = 30


def test_instrument_table():
    tab = instrument_table()
    assert list(tab.index) == ["phq9", "gad7", "qids_sr16", "cudos"]
    assert tab.loc["gad7", "caseness_cutoff"] == 8
    assert tab["reliable_change"].isna().sum() == 2


def test_remission_presets_cudos_and_default_reliabilities():
    from ipt_analytics.instruments.table import REMISSION_PRESETS, get_remission_rule

    # Zimmerman et al. 2017 J Clin Psychiatry 78:177-183 abstract: cut-offs 10 and 19
    old = get_remission_rule("cudos", "zimmerman2004_le19")
    assert old.is_remitted(19) and not old.is_remitted(20)
    new = get_remission_rule("cudos")
    assert new.name == "zimmerman2017_le10" and new.is_remitted(10) and not new.is_remitted(11)
    assert all(r.citation for p in REMISSION_PRESETS.values() for r in p.values())
    with pytest.raises(ValueError, match="zimmerman2017_le10, zimmerman2004_le19"):
        get_remission_rule("cudos", "hdrs")
    # Rush et al. 2003 Biol Psychiatry 54:573 abstract: QIDS-SR16 alpha .86;
    # Zimmerman et al. 2008 Compr Psychiatry 49:131 (secondary summary): CUDOS alpha .90
    assert get_instrument("qids_sr16").reliability == 0.86
    assert get_instrument("qids_sr16").reliability_status == "sourced"
    assert get_instrument("cudos").reliability == 0.90
    assert get_instrument("cudos").reliability_status == "secondary"
