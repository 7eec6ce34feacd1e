"""Published numbers reproduced from summary data (docs/definitions.md)."""

import pandas as pd
import pytest

from ipt_analytics.outcomes.nhs_tt import nhs_tt_summary
from ipt_analytics.stats.summary_stats import (
    nhs_rate,
    nhs_recovery_rate,
    nnt_from_d,
    odds_ratio,
    round_half_up,
)


def test_nhs_digital_june_2020():
    # recovery 27,884 / (57,060 - 3,200) = 51.8%; reliable improvement 39,417 / 57,060 = 69.1%
    rec = nhs_recovery_rate(27884, 57060, 3200)
    assert rec == pytest.approx(51.771258819, rel=1e-9)
    assert round_half_up(rec, 1) == 51.8
    ri = nhs_rate(39417, 57060)
    assert round_half_up(ri, 1) == 69.1


def test_nhs_digital_december_2020():
    rec = nhs_recovery_rate(23291, 48111, 2957)
    assert 48111 - 2957 == 45154
    assert round_half_up(rec, 1) == 51.6


def test_nhs_england_april_2025_reliable_recovery():
    assert round_half_up(nhs_rate(26457, 54672), 1) == 48.4


def test_hscic_2014_15_rounding_edge():
    rate = nhs_rate(189152, 421744)
    assert rate == pytest.approx(44.849956, abs=1e-6)
    assert round_half_up(rate, 1) == 44.8
    # rounding twice (first to 2 decimals) is the error the display rule avoids
    assert round_half_up(round_half_up(rate, 2), 1) == 44.9
    assert round_half_up(nhs_rate(80608, 168718), 1) == 47.8
    assert round_half_up(nhs_rate(38509, 86268), 1) == 44.6


def test_dennis_2020_telephone_ipt_odds_ratio():
    est = odds_ratio(11, 104, 35, 100)
    assert round(est.estimate, 2) == 0.22
    assert (round(est.conf_low, 2), round(est.conf_high, 2)) == (0.10, 0.46)
    assert (round(est.conf_low, 3), round(est.conf_high, 3)) == (0.104, 0.464)


def test_cuijpers_2011_nnt():
    assert round(nnt_from_d(0.63), 2) == 2.91


def test_sudden_gains_ipt_2007_share():
    # PMC2140007: 33.5% of 185 women had a sudden gain (62 implied)
    assert round_half_up(nhs_rate(62, 185), 1) == 33.5


def test_nhs_summary_rates_reconcile_with_counts():
    # 10 finished episodes, 2 not at caseness: recovery over 8, improvement over 10
    b = "boolean"
    o = pd.DataFrame(
        {
            "caseness_start": pd.array([True] * 8 + [False] * 2, dtype=b),
            "nhs_recovery": pd.array([True] * 5 + [False] * 3 + [None] * 2, dtype=b),
            "nhs_reliable_improvement": pd.array([True] * 6 + [False] * 3 + [True], dtype=b),
            "nhs_reliable_recovery": pd.array([True] * 4 + [False] * 4 + [None] * 2, dtype=b),
            "nhs_reliable_deterioration": pd.array([False] * 9 + [True], dtype=b),
            "format": ["individual"] * 5 + ["group"] * 5,
        }
    )
    s = nhs_tt_summary(o).set_index("measure")
    assert s.loc["recovery", ["numerator", "denominator"]].tolist() == [5, 8]
    assert s.loc["reliable_improvement", ["numerator", "denominator"]].tolist() == [7, 10]
    for _, row in s.iterrows():
        assert row["rate"] == pytest.approx(100 * row["numerator"] / row["denominator"])
    by = nhs_tt_summary(o, by="format")
    total = by.groupby("measure")[["numerator", "denominator"]].sum()
    assert total.loc["recovery"].tolist() == [5, 8]
    assert by["definition_version"].nunique() == 1


def test_dennis_2020_epds_odds_ratio_from_implied_counts():
    # EPDS > 12 at 12 weeks: 21.2% vs 51%, OR 0.26 (0.14-0.48). With the SCID denominators
    # (104, 100) the percentages imply 22/104 (21.15%) and 51/100; the crude Woolf OR then
    # reproduces the published OR and interval to 2 decimals.
    assert round_half_up(nhs_rate(22, 104), 1) == 21.2
    est = odds_ratio(22, 104, 51, 100)
    assert round(est.estimate, 2) == 0.26
    assert (round(est.conf_low, 2), round(est.conf_high, 2)) == (0.14, 0.48)
