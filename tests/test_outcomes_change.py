"""episode_outcomes: change, response, remission, Jacobson-Truax, dropout (hand-computed)."""

import math
import warnings

import numpy as np
import pandas as pd
import pytest

from ipt_analytics.errors import DataWarning, SchemaError
from ipt_analytics.outcomes.episode import OUTCOME_COLUMNS, episode_outcomes


def make_sessions(episodes, instrument="phq9", end_reason="completed", weeks=None):
    """Long sessions table: episodes = {id: [totals by session 1..k]} (None = not rated)."""
    rows = []
    for eid, totals in episodes.items():
        for k, total in enumerate(totals, start=1):
            if total is None:
                continue
            rows.append(
                {
                    "episode_id": eid,
                    "client_id": "c" + eid,
                    "session": k,
                    "week": float(k - 1) if weeks is None else weeks[eid][k - 1],
                    "instrument": instrument,
                    "total": float(total),
                    "format": "individual",
                    "problem_area": "grief",
                    "site": "s1",
                    "end_reason": end_reason if isinstance(end_reason, str) else end_reason[eid],
                }
            )
    return pd.DataFrame(rows)


def outcomes(eps, **kw):
    kw.setdefault("nhs_tt_measures", False)
    build = {k: kw.pop(k) for k in ("end_reason", "weeks") if k in kw}
    build["instrument"] = kw.setdefault("instrument", "phq9")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        return episode_outcomes(make_sessions(eps, **build), **kw).set_index("episode_id")


def test_columns_fixed_and_one_row_per_episode():
    o = episode_outcomes(
        make_sessions({"a": [20, 10], "b": [12]}), reliability=0.8, nhs_tt_measures=False
    )
    assert list(o.columns) == OUTCOME_COLUMNS
    assert o["episode_id"].tolist() == ["a", "b"]
    for col in (
        "response",
        "remission",
        "reliable_improvement",
        "sudden_gain",
        "response_event",
        "dropout",
        "early_response",
    ):
        assert o[col].dtype == "boolean"


def test_response_boundaries_exact():
    o = outcomes(
        {
            "half": [20, 10],
            "just_under": [20, 11],
            "quarter": [20, 15],
            "under_quarter": [20, 16],
            "worse": [10, 14],
        }
    )
    order = ["half", "just_under", "quarter", "under_quarter", "worse"]
    assert o.loc[order, "response"].tolist() == [True, False, False, False, False]
    assert o.loc[order, "partial_response"].tolist() == [False, True, True, False, False]
    assert o.loc["half", "pct_change"] == -50.0
    assert o.loc["worse", "change"] == 4.0


def test_exact_50_percent_with_odd_baseline_not_response():
    # 9 -> 4.5 is exactly 50%; 9 -> 5 is 44.4%
    o = outcomes({"a": [9, 4.5], "b": [9, 5]})
    assert o["response"].tolist() == [True, False]


def test_remission_cutoffs_phq9_and_qids():
    o = outcomes({"five": [15, 5], "four": [15, 4]})
    assert o.loc[["five", "four"], "remission"].tolist() == [False, True]
    q = outcomes({"five": [15, 5], "six": [15, 6]}, instrument="qids_sr16")
    assert q.loc[["five", "six"], "remission"].tolist() == [True, False]


def test_single_rating_is_na_with_note_never_false():
    o = outcomes({"one": [14], "two": [14, 6]}, reliability=0.8)
    one = o.loc["one"]
    assert one["baseline"] == 14 and math.isnan(one["final"]) and math.isnan(one["change"])
    for col in (
        "response",
        "partial_response",
        "remission",
        "reliable_improvement",
        "reliable_deterioration",
        "response_event",
        "remission_event",
    ):
        assert pd.isna(one[col]), col
    assert pd.isna(one["cs_category"])
    assert one["outcome_note"] == "single_rating: no post-baseline score"
    assert pd.isna(o.loc["two", "outcome_note"])


def test_episode_without_instrument_rating_has_a_row_and_a_note():
    s = make_sessions({"a": [20, 10]})
    extra = s.iloc[[0]].assign(episode_id="g", instrument="gad7")
    o = episode_outcomes(pd.concat([s, extra]), reliability=0.8, nhs_tt_measures=False)
    g = o.set_index("episode_id").loc["g"]
    assert math.isnan(g["baseline"]) and g["outcome_note"] == "no_rating: no phq9 score"


def test_final_is_last_observation_carried_forward():
    o = outcomes({"a": [20, 12, None, 8, None]})
    assert o.loc["a", "final"] == 8 and o.loc["a", "final_session"] == 4
    assert o.loc["a", "n_ratings"] == 3 and o.loc["a", "weeks"] == 3.0


def test_baseline_zero_pct_change_undefined():
    o = outcomes({"z": [0, 3]})
    assert math.isnan(o.loc["z", "pct_change"]) and pd.isna(o.loc["z", "response"])
    assert o.loc["z", "remission"] == True  # noqa: E712 - remission does not need a percentage
    assert "baseline_zero" in o.loc["z", "outcome_note"]


def test_rci_exactly_at_critical_value_is_not_reliable():
    # CUDOS 60 -> 11: change -49; SD 25, r 0.5 -> S_diff = 25 * sqrt(1) = 25; RCI = -1.96
    o = outcomes(
        {"edge": [60, 11], "beyond": [60, 10], "worse": [10, 60]},
        instrument="cudos",
        reliability=0.5,
        rci_sd=25.0,
    )
    assert o.loc["edge", "rci"] == -1.96
    assert o.loc["edge", "reliable_improvement"] == False  # noqa: E712
    assert o.loc["beyond", "reliable_improvement"] == True  # noqa: E712
    assert o.loc["worse", "reliable_deterioration"] == True  # noqa: E712
    assert o.attrs["definitions"]["jacobson_truax"]["s_diff"] == 25.0


def test_rci_default_sd_is_sample_baseline_sd():
    eps = {"a": [20, 10], "b": [10, 9], "c": [15, 15]}
    o = outcomes(eps, reliability=0.84)
    sd = np.std([20, 10, 15], ddof=1)
    s_diff = sd * math.sqrt(2 * (1 - 0.84))
    assert o.loc["a", "rci"] == pytest.approx(-10 / s_diff)
    assert o.attrs["definitions"]["jacobson_truax"]["sd"] == pytest.approx(sd)


def test_cudos_and_qids_default_reliabilities_are_used_and_marked():
    # CUDOS alpha .90 (Zimmerman 2008, secondary), QIDS-SR16 alpha .86 (Rush 2003 abstract);
    # baselines 20 and 12 -> SD = sqrt(32); RCI(a) = -10 / (sqrt(32) * sqrt(2 (1 - r)))
    for name, r, status in (("cudos", 0.90, "secondary"), ("qids_sr16", 0.86, "sourced")):
        o = episode_outcomes(
            make_sessions({"a": [20, 10], "b": [12, 11]}).assign(instrument=name),
            instrument=name,
            nhs_tt_measures=False,
        )
        expected = -10 / (np.sqrt(32.0) * np.sqrt(2 * (1 - r)))
        assert o.loc[0, "rci"] == pytest.approx(expected, rel=1e-12)
        jt = o.attrs["definitions"]["jacobson_truax"]
        assert (jt["reliability"], jt["reliability_status"]) == (r, status)


def test_equal_baselines_give_na_rci_and_a_warning():
    with pytest.warns(DataWarning, match="SD is 0.0"):
        o = episode_outcomes(make_sessions({"a": [20, 10], "b": [20, 11]}), nhs_tt_measures=False)
    assert o["rci"].isna().all() and o["cs_category"].isna().all()


def test_cs_categories_criterion_a_hand_computed():
    # clinical norm mean 18, SD 4 -> cut-off a = 18 - 2 * 4 = 10
    eps = {
        "rec": [20, 5],
        "imp": [24, 12],
        "unch": [15, 13],
        "det": [12, 22],
        "harm": [6, 16],
        "at_cut": [20, 10],
    }
    o = outcomes(eps, reliability=0.8, rci_sd=5.0, clinical_mean=18, clinical_sd=4)
    # S_diff = 5 * sqrt(0.4) = 3.162; 1.96 * S_diff = 6.2 points
    assert o.loc[list(eps), "cs_category"].tolist() == [
        "recovered",
        "improved",
        "unchanged",
        "deteriorated",
        "harmed",
        "improved",
    ]
    assert o.attrs["definitions"]["jacobson_truax"]["cutoff"] == 10.0
    o_c = outcomes(
        eps,
        reliability=0.8,
        rci_sd=5.0,
        cs_criterion="c",
        clinical_mean=18,
        clinical_sd=4,
        functional_mean=4,
        functional_sd=4,
    )
    assert o_c.attrs["definitions"]["jacobson_truax"]["cutoff"] == 11.0
    assert o_c.loc["at_cut", "cs_category"] == "recovered"
    with pytest.raises(ValueError, match="functional_mean"):
        outcomes(eps, reliability=0.8, cs_criterion="b")


def test_dropout_completed_and_missing_end_reason():
    ends = {"d": "dropout", "c": "completed", "r": "referred_on", "m": None}
    s = make_sessions({k: [20, 15] for k in ends}, end_reason=ends)
    s["planned_sessions"] = 4.0
    o = episode_outcomes(s, reliability=0.8, nhs_tt_measures=False).set_index("episode_id")
    assert o.loc["d", "dropout"] == True and o.loc["d", "completed"] == False  # noqa: E712
    assert o.loc["r", "dropout"] == False and o.loc["r", "completed"] == False  # noqa: E712
    assert pd.isna(o.loc["m", "dropout"]) and pd.isna(o.loc["m", "completed"])
    o2 = episode_outcomes(
        s, reliability=0.8, nhs_tt_measures=False, missing_end_reason="planned_sessions"
    ).set_index("episode_id")
    assert o2.loc["m", "dropout"] == True  # noqa: E712 - 2 of 4 planned sessions


def test_bad_input_raises_schema_error():
    with pytest.raises(SchemaError, match="total"):
        episode_outcomes(
            pd.DataFrame({"episode_id": ["a"], "session": [1], "instrument": ["phq9"]})
        )
    with pytest.raises(SchemaError, match="SessionData"):
        episode_outcomes([1, 2, 3])
    with pytest.raises(ValueError, match="preset"):
        episode_outcomes(make_sessions({"a": [1, 2]}), early_response="nope")


def test_sessiondata_input_matches_dataframe_input():
    from ipt_analytics import read_sessions

    s = make_sessions({"a": [20, 14, 9], "b": [12, 12]})
    s["client_id"] = s["episode_id"]
    s["date"] = pd.NaT
    wide = (
        s.pivot_table(
            index=[
                "client_id",
                "episode_id",
                "session",
                "format",
                "problem_area",
                "site",
                "end_reason",
            ],
            values="total",
        )
        .reset_index()
        .rename(columns={"total": "phq9_total"})
    )
    sd = read_sessions(wide)
    kw = {"reliability": 0.8, "nhs_tt_measures": False}
    a = episode_outcomes(sd, **kw)
    b = episode_outcomes(sd.sessions, **kw)
    pd.testing.assert_frame_equal(
        a.drop(columns=["group_id", "therapist_id", "medication"]),
        b.drop(columns=["group_id", "therapist_id", "medication"]),
        check_dtype=False,
    )
    assert a["response"].tolist() == [True, False]


def test_phq9_default_reliability_is_the_instrument_table_value():
    # S_diff = SD_pre * sqrt(2 * (1 - 0.89)); baselines 20 and 12 -> SD = sqrt(32)
    o = episode_outcomes(make_sessions({"a": [20, 10], "b": [12, 11]}), nhs_tt_measures=False)
    s_diff = np.sqrt(32.0) * np.sqrt(2 * (1 - 0.89))
    assert o.set_index("episode_id").loc["a", "rci"] == pytest.approx(-10 / s_diff, rel=1e-12)


def test_cs_harmed_and_recovered_need_both_criteria_and_a_real_crossing():
    # cut-off a = 18 - 2 * 4 = 10; S_diff = 5 * sqrt(0.4) = 3.162, 1.96 * S_diff = 6.2 points
    eps = {
        "harm": [4, 11],  # +7 reliable, functional -> clinical
        "cross_not_reliable": [7, 12],  # crosses into the clinical range, +5 not reliable
        # +7 reliable from AT the cut-off: clinicalsignificance harms it (pre <= c, post >= c)
        "from_cut_up": [10, 17],
        "det_in_clinical": [12, 19],  # +7 reliable, clinical before and after
        "from_cut_down": [10, 3],  # -7 reliable but starts at the cut-off: not from clinical
        "rec_not_reliable": [12, 8],  # crosses to functional, -4 not reliable
    }
    o = outcomes(eps, reliability=0.8, rci_sd=5.0, clinical_mean=18, clinical_sd=4)
    assert o.loc[list(eps), "cs_category"].tolist() == [
        "harmed",
        "unchanged",
        "harmed",
        "deteriorated",
        "improved",
        "unchanged",
    ]
    s_diff = 5.0 * math.sqrt(2 * (1 - 0.8))
    assert o.loc["harm", "rci"] == pytest.approx(7 / s_diff)


def test_remission_cutoffs_gad7_and_cudos_edges():
    g = outcomes({"five": [15, 5], "four": [15, 4]}, instrument="gad7")
    assert g.loc[["five", "four"], "remission"].tolist() == [False, True]  # GAD-7 < 5
    c = outcomes({"ten": [40, 10], "eleven": [40, 11]}, instrument="cudos")
    assert c.loc[["ten", "eleven"], "remission"].tolist() == [True, False]  # CUDOS <= 10


def test_cs_categories_match_clinicalsignificance_at_every_boundary():
    # Expected values from clinicalsignificance 2.1.0.9000 (pedscience/clinicalsignificance
    # @863dc77): R/calc_cutoff.R l.54-59 clinical_pre = pre > c, functional_post = post < c;
    # R/package-utils.R l.41-49 improved = -rci > k, deteriorated = -rci < -k (strict);
    # R/calc_recovered.R l.17-22 recovered = clinical_pre & functional_post & improved,
    # harmed = !clinical_pre & !functional_post & deteriorated.
    # Here c = 40 - 2 * 5 = 30, S_diff = 10 * sqrt(2 * 0.5) = 10, k = 2 -> 20 points.
    eps = {
        "rec": ([55, 29], "recovered"),  # -26, 55 > 30, 29 < 30
        "rec_post_at_c": ([55, 30], "improved"),  # post = c is not functional
        "rec_pre_at_c": ([30, 5], "improved"),  # pre = c is not clinical
        "harm_pre_at_c": ([30, 55], "harmed"),  # pre = c: not clinical -> harmed
        "harm_post_at_c": ([5, 30], "harmed"),  # post = c: not functional -> harmed
        "det_pre_clinical": ([31, 56], "deteriorated"),  # started clinical
        "det_post_functional": ([0, 29], "deteriorated"),  # ended functional
        "rci_at_plus_k": ([0, 20], "unchanged"),  # RCI = +2 exactly: not reliable
        "rci_at_minus_k": ([50, 30], "unchanged"),  # RCI = -2 exactly: not reliable
    }
    o = outcomes(
        {k: v[0] for k, v in eps.items()},
        instrument="cudos",
        reliability=0.5,
        rci_sd=10.0,
        rci_critical_value=2.0,
        clinical_mean=40,
        clinical_sd=5,
    )
    assert o.loc[list(eps), "cs_category"].tolist() == [v[1] for v in eps.values()]
    assert o.loc["rci_at_plus_k", "rci"] == 2.0 and o.loc["rci_at_minus_k", "rci"] == -2.0


@pytest.mark.parametrize("categorical", [False, True])
def test_episode_format_tie_goes_to_the_format_seen_first(categorical):
    # one session in telehealth, then one individual: a tie, so the first session's format
    # (a sessions table holds its labels as categoricals, in sorted order: individual first)
    s = make_sessions({"a": [20, 10]})
    s["format"] = ["telehealth", "individual"]
    if categorical:
        s["format"] = pd.Categorical(
            s["format"], categories=["group", "individual", "internet", "telehealth"]
        )
    o = episode_outcomes(s, reliability=0.8, nhs_tt_measures=False)
    assert o["format"].tolist() == ["telehealth"]
