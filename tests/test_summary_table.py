"""reporting.summary.outcome_summary: the shared outcome table (rates, Wilson intervals,
suppression), callable from a notebook exactly as the command line uses it."""

import numpy as np
import pandas as pd
import pytest

from ipt_analytics import check_no_disclosure
from ipt_analytics.reporting.summary import NOT_RECORDED, SUMMARY_COLUMNS, outcome_summary


def episodes(groups: dict, column="format", outcome="response"):
    """{group: (n, events)} -> one row per episode."""
    rows = []
    for g, (n, events) in groups.items():
        rows += [{column: g, outcome: k < events} for k in range(n)]
    return pd.DataFrame(rows)


def test_rates_and_wilson_interval_match_newcombe_1998():
    # Newcombe RG (1998) Stat Med 17:857-872, Table I: 81/263, Wilson score interval
    # 0.2553 to 0.3662; 15/148: 0.0624 to 0.1605
    s = outcome_summary(episodes({"group": (263, 81), "internet": (148, 15)}), suppress="none")
    t = s.table.set_index("group")
    assert list(s.table.columns) == SUMMARY_COLUMNS
    assert t.loc["group", "n"] == 263 and t.loc["group", "events"] == 81
    assert t.loc["group", "rate_pct"] == pytest.approx(100 * 81 / 263)
    assert [round(float(t.loc["group", c]), 4) for c in ("conf_low", "conf_high")] == [0.2553,
                                                                                      0.3662]
    assert [round(float(t.loc["internet", c]), 4) for c in ("conf_low", "conf_high")] == [
        0.0624, 0.1605]  # fmt: skip
    assert s.notes[0].startswith("UNSUPPRESSED")


def test_one_format_gets_its_rates_and_a_note_not_an_error():
    s = outcome_summary(episodes({"individual": (40, 22)}))
    assert len(s.table) == 1 and s.table["n"].iloc[0] == 40  # nhs_digital: 40 stays 40
    assert s.table["events"].iloc[0] == 20  # 22 rounded to the nearest 5
    assert any("one format only (individual)" in n for n in s.notes)


@pytest.mark.parametrize("by", ["client_id", "episode_id", "group_id"])
def test_identifiers_are_refused_as_grouping_columns(by):
    eps = episodes({"a": (3, 1)}).assign(client_id="c", episode_id="e", group_id="g")
    with pytest.raises(ValueError, match="is an identifier"):
        outcome_summary(eps, by=by)


def test_unknown_grouping_column_is_refused_with_the_accepted_list():
    with pytest.raises(ValueError, match="Accepted: format"):
        outcome_summary(episodes({"a": (3, 1)}), by="colour")


def test_therapists_appear_only_as_report_local_codes():
    eps = episodes({"Dr Zed": (30, 10), "Dr Abel": (12, 6)}, column="therapist_id")
    s = outcome_summary(eps, by="therapist_id", suppress="none")
    shown = s.display()
    assert s.by == "therapist" and list(shown.columns)[1] == "therapist"
    # codes by decreasing number of episodes: Dr Zed (30) is T1, Dr Abel (12) T2
    assert s.table["group"].tolist() == ["T1", "T2"]
    text = shown.to_string() + s.table.to_string() + " ".join(s.notes)
    assert "Zed" not in text and "Abel" not in text


def test_missing_group_values_are_a_shown_group_not_left_out():
    eps = episodes({"north": (20, 5), "south": (20, 9)}, column="site")
    eps.loc[:2, "site"] = np.nan
    s = outcome_summary(eps, by="site", suppress="none")
    assert s.table["group"].tolist() == ["north", "south", NOT_RECORDED]
    assert s.table["n"].sum() == 40


def test_suppressed_table_passes_the_disclosure_check_with_its_explicit_structure():
    eps = episodes({"individual": (22, 13), "telehealth": (9, 2), "telephone": (30, 14)})
    for policy in ("nhs_digital", "cms", "pedsnet"):
        s = outcome_summary(eps, suppress=policy)
        assert s.table.attrs == {}  # nothing rests on attrs
        check_no_disclosure(s.table, **s.structure)
    # CMS: telehealth n = 9 hidden, so is the next smallest n of the margin (22); see test_cli
    s = outcome_summary(eps, suppress="cms")
    assert s.table["n_suppressed"].tolist() == [True, True, False]
    assert s.display()["rate_%"].tolist() == ["*", "*", "46.7"]


def test_a_published_total_would_expose_a_single_hidden_cell_and_the_check_says_so():
    eps = episodes({"individual": (22, 13), "telehealth": (9, 2), "telephone": (30, 14)})
    s = outcome_summary(eps, suppress="cms")
    leaked = s.table.copy()
    leaked.loc[0, ["n", "n_suppressed"]] = [22, False]  # individual n shown again
    with pytest.raises(ValueError, match="can be derived as 9"):
        check_no_disclosure(leaked, **s.structure)


def test_same_input_same_table():
    eps = episodes({"individual": (22, 13), "telehealth": (9, 2)})
    a, b = outcome_summary(eps), outcome_summary(eps)
    pd.testing.assert_frame_equal(a.table, b.table)


def test_a_policy_whose_rates_reveal_hidden_counts_is_refused_for_shared_tables():
    # nhs_tt_dashboard: 10 of 12 shown as counts 10 and 10 with 83.33% reveals the hidden 2
    eps = pd.DataFrame({"format": ["individual"] * 12, "response": [True] * 10 + [False] * 2})
    with pytest.raises(ValueError, match="nhs_tt_dashboard.*by difference.*nhs_digital"):
        outcome_summary(eps, suppress="nhs_tt_dashboard")
