"""episode_outcomes: NHS TT, early response, sudden gains, time to event (hand-computed)."""

import math
import warnings

import pandas as pd
import pytest
from test_outcomes_change import make_sessions

from ipt_analytics.errors import DataWarning
from ipt_analytics.outcomes.episode import episode_outcomes
from ipt_analytics.outcomes.nhs_tt import NHS_TT_DEFINITION
from ipt_analytics.outcomes.sudden_gains import find_sudden_changes


def run(sessions, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        return episode_outcomes(sessions, **kw).set_index("episode_id")


def nhs_data(phq, gad, end_reason="completed"):
    s = pd.concat(
        [
            make_sessions(phq, end_reason=end_reason),
            make_sessions(gad, "gad7", end_reason=end_reason),
        ]
    )
    return s.sort_values(["episode_id", "session", "instrument"]).reset_index(drop=True)


def test_nhs_flags_and_denominators():
    phq = {
        "rec": [15, 6],
        "not_case": [8, 3],
        "no_rec": [15, 12],
        "gad_only": [6, 5],
        "det": [10, 17],
        "one": [15],
    }
    gad = {
        "rec": [12, 5],
        "not_case": [6, 2],
        "no_rec": [9, 8],
        "gad_only": [10, 5],
        "det": [8, 8],
        "one": [12],
    }
    o = run(nhs_data(phq, gad), reliability=0.8)
    assert o.loc[
        "rec",
        ["caseness_start", "nhs_recovery", "nhs_reliable_improvement", "nhs_reliable_recovery"],
    ].tolist() == [True, True, True, True]
    # baseline below caseness: outside the recovery denominator, inside improvement's
    assert o.loc["not_case", "caseness_start"] == False  # noqa: E712
    assert pd.isna(o.loc["not_case", "nhs_recovery"])
    assert pd.isna(o.loc["not_case", "nhs_reliable_recovery"])
    # PHQ-9 -5 (< 6) but GAD-7 -4 (>= 4, inclusive): reliable improvement
    assert o.loc["not_case", "nhs_reliable_improvement"] == True  # noqa: E712
    assert o.loc["no_rec", "nhs_recovery"] == False  # noqa: E712 - PHQ-9 12 still >= 10
    # GAD-7 caseness (>= 8) alone; recovery needs every measure below cut-off at the end
    assert o.loc["gad_only", "caseness_start"] == True  # noqa: E712
    assert o.loc["gad_only", "nhs_recovery"] == True  # noqa: E712
    assert o.loc["gad_only", "nhs_reliable_improvement"] == True  # noqa: E712 - GAD -5 >= 4
    assert o.loc["det", "nhs_reliable_deterioration"] == True  # noqa: E712 - PHQ +7
    assert o.loc["one", "finished_treatment"] == False  # noqa: E712
    assert pd.isna(o.loc["one", "nhs_reliable_improvement"])
    assert (o["nhs_definition"] == NHS_TT_DEFINITION["version"] + ":nhs_england").all()
    assert o.attrs["definitions"]["nhs_tt"]["version"] == NHS_TT_DEFINITION["version"]
    assert o.attrs["definitions"]["nhs_tt"]["convention"] == "nhs_england"


def test_nhs_reliable_improvement_combination_rule():
    # PHQ-9 improves by 6, GAD-7 deteriorates by 4: documented default = not improved
    o = run(nhs_data({"mixed": [16, 10]}, {"mixed": [6, 10]}), rci_sd=5.0, reliability=0.8)
    assert o.loc["mixed", "nhs_reliable_improvement"] == False  # noqa: E712
    assert o.loc["mixed", "nhs_reliable_deterioration"] == False  # noqa: E712


def test_nhs_ongoing_is_not_finished_and_missing_gad_leaves_na():
    o = run(
        nhs_data({"a": [15, 5]}, {"a": [12, 4]}, end_reason="ongoing"), rci_sd=5.0, reliability=0.8
    )
    assert o.loc["a", "finished_treatment"] == False  # noqa: E712
    assert pd.isna(o.loc["a", "nhs_recovery"])
    o2 = run(make_sessions({"a": [15, 5], "b": [12, 4]}), reliability=0.8)
    assert o2["nhs_recovery"].isna().all() and o2["nhs_definition"].isna().all()
    assert o2.attrs["definitions"]["nhs_tt"] is None


def test_early_response_by_session_and_week():
    eps = {"early": [20, 18, 16, 15, 12], "late": [20, 19, 18, 16, 8], "short": [20, 10]}
    rule = {"min_pct_reduction": 25, "by": "session", "at": 4}
    o = run(make_sessions(eps), reliability=0.8, early_response=rule)
    assert o.loc["early", "early_response"] == True  # noqa: E712 - session 4: 15 = 25% less
    assert o.loc["late", "early_response"] == False  # noqa: E712
    assert pd.isna(o.loc["short", "early_response"])  # not observed up to session 4
    weeks = {"early": [0, 2, 3.5, 6.5, 9], "late": [0, 2, 4, 6, 8], "short": [0, 1]}
    o_w = run(make_sessions(eps, weeks=weeks), reliability=0.8, early_response="icsi_week6")
    # week 6: last rating at or before week 6 -> early: week 3.5 (16, 20%); late: 16 (20%)
    assert o_w.loc[["early", "late"], "early_response"].tolist() == [False, False]
    assert o_w.attrs["definitions"]["early_response"]["preset"] == "icsi_week6"


def test_early_nonresponse_uses_reliable_change_threshold():
    eps = {"improving": [20, 16, 13, 12, 11], "stuck": [20, 19, 18, 17, 16], "gone": [20, 19]}
    o = run(make_sessions(eps), early_nonresponse={"week": 4})
    # no reliability: threshold = PHQ-9 NHS TT reliable change, 6 points; week 4 = session 5
    assert o.loc[["improving", "stuck"], "early_nonresponse"].tolist() == [False, True]
    assert pd.isna(o.loc["gone", "early_nonresponse"])
    assert o.attrs["definitions"]["early_nonresponse"]["threshold_points"] == 6.0
    with pytest.raises(ValueError, match="preset"):
        run(make_sessions(eps), early_nonresponse="uptodate")


def test_sudden_gain_suddengains_example_and_criteria():
    # suddengains check_interval(c(32, 31, 33), c(5, 6, 7), sg_crit1_cutoff = 7) -> TRUE
    found, _ = find_sudden_changes([1, 2, 3, 4, 5, 6], [32, 31, 33, 5, 6, 7], cutoff=7)
    assert found == [(3, 28.0)]
    # criterion 2 fails: 4-point gain from 30 is < 25%
    found, _ = find_sudden_changes([1, 2, 3, 4, 5, 6], [30, 30, 30, 26, 26, 26], cutoff=4)
    assert found == []


def test_sudden_gain_missed_session_uses_adjusted_critical_value():
    # session 2 missed. Gain 4 -> 5: 25 -> 15 (10 points, >= 25% of 25). Pre window {19, 25}
    # (mean 22), post {15, 9, 12} (mean 12): pooled SD = sqrt((18 + 18) / 3) = 3.4641.
    # Adjusted t(0.975, df 3) = 3.182: 3.182 * 3.4641 = 11.02 > 10 -> no gain;
    # unadjusted 2.776 * 3.4641 = 9.617 < 10 -> gain.
    totals = [24, None, 19, 25, 15, 9, 12]
    o = run(make_sessions({"a": totals}), sg_cutoff=6)
    assert o.loc["a", "sudden_gain"] == False  # noqa: E712
    o2 = run(make_sessions({"a": totals}), sg_cutoff=6, sg_adjust=False)
    assert o2.loc["a", "sudden_gain"] == True  # noqa: E712
    assert o2.loc["a", "sudden_gain_session"] == 4 and o2.loc["a", "sudden_gain_magnitude"] == 10


def test_several_gains_first_or_largest_and_losses_mirrored():
    totals = [20, 20, 20, 12, 12, 12, 12, 3, 3, 3]
    o = run(make_sessions({"a": totals}), sg_cutoff=5)
    assert o.loc["a", "n_sudden_gains"] == 2 and o.loc["a", "sudden_gain_session"] == 3
    o2 = run(make_sessions({"a": totals}), sg_cutoff=5, sg_select="largest")
    assert o2.loc["a", "sudden_gain_session"] == 7 and o2.loc["a", "sudden_gain_magnitude"] == 9
    lo = run(make_sessions({"b": [5, 5, 5, 14, 14, 14]}), sg_cutoff=5)
    assert lo.loc["b", "sudden_loss"] == True and lo.loc["b", "sudden_gain"] == False  # noqa: E712
    short = run(make_sessions({"c": [20, 10, 5]}), sg_cutoff=5)
    assert pd.isna(short.loc["c", "sudden_gain"])  # no interval can be evaluated


def test_time_to_response_and_remission_with_censoring():
    eps = {"resp": [20, 15, 10, 4], "cens": [20, 15, 14], "one": [20]}
    o = run(make_sessions(eps), reliability=0.8)
    assert o.loc["resp", ["time_to_response", "time_to_remission"]].tolist() == [2.0, 3.0]
    assert o.loc["resp", "response_event"] == True  # noqa: E712
    assert o.loc["cens", "time_to_response"] == 2.0
    assert o.loc["cens", "response_event"] == False  # noqa: E712
    assert math.isnan(o.loc["one", "time_to_response"]) and pd.isna(o.loc["one", "response_event"])


def test_rates_reconcile_with_counts_on_sample_like_data():
    eps = {f"e{i}": [10 + i % 7, 10 + i % 7 - (i % 5) * 2, 4 + i % 6] for i in range(40)}
    o = run(make_sessions(eps), reliability=0.8)
    for col in ("response", "remission", "partial_response", "reliable_improvement"):
        defined = o[col].notna().sum()
        events = o[col].fillna(False).sum()
        assert o[col].mean() == pytest.approx(events / defined)


def test_undated_ratings_are_skipped_by_week_based_outcomes():
    # a: the week-NaN rating (9, a response) is skipped; the next dated rating (week 3, 8)
    # meets the rule, so the event is dated at week 3 -- never time NaN with event True.
    # b: no week at baseline -> no time origin -> every week-based outcome NA.
    weeks = {"a": [0, 1, math.nan, 3], "b": [math.nan, 1, 2, 3]}
    o = run(make_sessions({"a": [20, 15, 9, 8], "b": [20, 15, 12, 8]}, weeks=weeks))
    assert o.loc["a", "time_to_response"] == 3.0 and o.loc["a", "response_event"] == True  # noqa: E712
    assert o.loc["a", "time_to_remission"] == 3.0 and o.loc["a", "remission_event"] == False  # noqa: E712
    assert "undated_rating" in o.loc["a", "outcome_note"]
    for col in ("response_event", "remission_event", "early_response", "early_nonresponse"):
        assert pd.isna(o.loc["b", col]), col
    assert math.isnan(o.loc["b", "time_to_response"])
    assert "undated_baseline" in o.loc["b", "outcome_note"]
    assert o.loc["b", "response"] == True  # noqa: E712 - score-based outcomes unaffected


def test_nhs_measure_paired_on_its_own_last_score():
    # GAD-7 rated at sessions 1-2 only: its pair is (12, 9); PHQ-9's is (15, 4).
    # End: GAD-7 9 >= 8 -> still at caseness -> not recovered; GAD -3 (< 4), PHQ -11 (>= 6)
    phq = make_sessions({"x": [15, 12, 10, 4], "y": [15, 12, 10, 4]})
    gad = make_sessions({"x": [12, 9, None, None], "y": [12, None, None, None]}, "gad7")
    s = pd.concat([phq, gad]).sort_values(["episode_id", "session"]).reset_index(drop=True)
    o = run(s, reliability=0.8, rci_sd=5.0)
    assert o.loc["x", ["caseness_start", "finished_treatment"]].tolist() == [True, True]
    assert o.loc["x", "nhs_recovery"] == False  # noqa: E712
    assert o.loc["x", "nhs_reliable_improvement"] == True  # noqa: E712
    assert o.loc["x", "nhs_reliable_recovery"] == False  # noqa: E712
    # y: GAD-7 has no end score -> no paired scores. NHS England (KM monthly update.sql
    # l.45-77): still finished and at caseness, so in every denominator, never a success.
    assert o.loc["y", "finished_treatment"] == True  # noqa: E712
    assert o.loc["y", "paired_scores"] == False  # noqa: E712
    for col in ("nhs_recovery", "nhs_reliable_improvement", "nhs_reliable_recovery"):
        assert o.loc["y", col] == False, col  # noqa: E712
    # paired-only convention: outside every denominator
    p = run(s, reliability=0.8, rci_sd=5.0, nhs_convention="paired_only")
    for col in ("nhs_recovery", "nhs_reliable_improvement", "nhs_reliable_recovery"):
        assert pd.isna(p.loc["y", col]), col
    assert p.loc["x", "nhs_reliable_improvement"] == True  # noqa: E712


def _nhs_cohort():
    """Six finished episodes (hand-built) that separate the two denominator conventions.

    rec   PHQ 15->5, GAD 12->4: at caseness, recovered, reliable improvement (-10, -8)
    norec PHQ 15->12, GAD 10->9: at caseness, not recovered, no reliable change
    below PHQ 8->3, GAD 5->2: not at caseness (below 10 and 8), reliable improvement? PHQ -5,
          GAD -3: no
    unp   PHQ 16 only, GAD 11 only (one rated session, 3 attended): at caseness, unpaired
    nofirst no ratings at all, 2 attended sessions: caseness unknown
    assess PHQ 15->5, GAD 12->4 but session 1 is an assessment and session 3 a DNA: one
          treatment contact -> not finished
    """
    phq = {"rec": [15, 5], "norec": [15, 12], "below": [8, 3], "unp": [16, None, None],
           "assess": [15, 5, None]}  # fmt: skip
    gad = {"rec": [12, 4], "norec": [10, 9], "below": [5, 2], "unp": [11, None, None],
           "assess": [12, 4, None]}  # fmt: skip
    s = nhs_data(phq, gad)
    extra = pd.DataFrame(
        {
            "episode_id": ["unp", "unp", "nofirst", "nofirst", "assess"],
            "client_id": ["cunp", "cunp", "cnofirst", "cnofirst", "cassess"],
            "session": [2, 3, 1, 2, 3],
            "instrument": "phq9",
            "total": float("nan"),
            "format": "individual",
            "end_reason": "completed",
        }
    )
    s = pd.concat([s, extra], ignore_index=True)
    s["contact_type"] = None
    s.loc[(s["episode_id"] == "assess") & (s["session"] == 1), "contact_type"] = "assessment"
    s.loc[(s["episode_id"] == "assess") & (s["session"] == 3), "contact_type"] = "not_attended"
    return s.sort_values(["episode_id", "session", "instrument"]).reset_index(drop=True)


def test_nhs_conventions_on_hand_built_episodes():
    from ipt_analytics.outcomes.nhs_tt import nhs_tt_summary

    s = _nhs_cohort()
    o = run(s, reliability=0.8, rci_sd=5.0)
    assert o["treatment_contacts"].to_dict() == {
        "assess": 1, "below": 2, "nofirst": 2, "norec": 2, "rec": 2, "unp": 3
    }  # fmt: skip
    assert o.loc["assess", "finished_treatment"] == False  # noqa: E712
    assert pd.isna(o.loc["nofirst", "caseness_start"])
    # NHS England: finished = rec, norec, below, unp, nofirst (5)
    # recovery denominator = 5 - 1 not at caseness (below) = 4; numerator = rec -> 1/4
    # reliable improvement denominator = 5; numerator = rec -> 1/5
    nhs = nhs_tt_summary(o.reset_index()).set_index("measure")
    assert nhs.loc["recovery", ["numerator", "denominator"]].tolist() == [1, 4]
    assert nhs.loc["reliable_recovery", ["numerator", "denominator"]].tolist() == [1, 4]
    assert nhs.loc["reliable_improvement", ["numerator", "denominator"]].tolist() == [1, 5]
    assert nhs.loc["reliable_deterioration", ["numerator", "denominator"]].tolist() == [0, 5]
    assert nhs.loc["not_at_caseness", ["numerator", "denominator"]].tolist() == [1, 5]
    # data quality: paired scores for rec, norec, below = 3 of 5 finished
    assert nhs.loc["paired_scores", ["numerator", "denominator"]].tolist() == [3, 5]
    assert nhs.loc["recovery", "denominator_rule"].endswith("l.45-47)")
    # paired only: recovery 1 of 2 at caseness with pairs (rec, norec); improvement 1 of 3
    p = run(s, reliability=0.8, rci_sd=5.0, nhs_convention="paired_only")
    pn = nhs_tt_summary(p.reset_index()).set_index("measure")
    assert pn.loc["recovery", ["numerator", "denominator"]].tolist() == [1, 2]
    assert pn.loc["reliable_improvement", ["numerator", "denominator"]].tolist() == [1, 3]
    assert pn.loc["paired_scores", ["numerator", "denominator"]].tolist() == [3, 5]
    assert pn["definition_version"].str.endswith(":paired_only").all()


def test_finished_treatment_unknown_without_an_end():
    # >= 2 contacts and no end_reason: NA (as completed/dropout); 1 contact: False
    s = nhs_data({"a": [15, 5], "b": [15]}, {"a": [12, 4], "b": [12]})
    s["end_reason"] = None
    o = run(s, reliability=0.8, rci_sd=5.0)
    assert pd.isna(o.loc["a", "finished_treatment"]) and pd.isna(o.loc["a", "completed"])
    assert o.loc["b", "finished_treatment"] == False  # noqa: E712
    assert pd.isna(o.loc["a", "nhs_recovery"])


def test_remission_presets_and_baseline_above_9():
    # CMS159/MNCM: PHQ-9 remission < 5 evaluated only where the index PHQ-9 > 9
    s = make_sessions({"hi": [10, 4], "edge": [9, 4], "no": [15, 5]})
    o = run(s, reliability=0.8, remission_baseline_above=9, nhs_tt_measures=False)
    assert o.loc["hi", "remission"] == True  # noqa: E712
    assert pd.isna(o.loc["edge", "remission"])  # baseline 9 is not > 9
    assert o.loc["no", "remission"] == False  # noqa: E712 - 5 is not < 5
    c = make_sessions({"a": [40, 19], "b": [40, 11]}).assign(instrument="cudos")
    old = run(c, instrument="cudos", remission="zimmerman2004_le19", nhs_tt_measures=False)
    new = run(c, instrument="cudos", nhs_tt_measures=False)
    assert old["remission"].tolist() == [True, True]
    assert new["remission"].tolist() == [False, False]  # <= 10 (Zimmerman 2017)
    assert old.attrs["definitions"]["remission"]["preset"] == "zimmerman2004_le19"


def test_nhs_cutoffs_and_thresholds_at_their_edges():
    # caseness PHQ-9 >= 10 / GAD-7 >= 8 (inclusive); reliable change PHQ-9 6, GAD-7 4 (inclusive)
    phq = {"edge_case": [10, 9], "below": [9, 3], "phq5": [15, 10], "gad3": [8, 8]}
    gad = {"edge_case": [7, 7], "below": [7, 7], "phq5": [7, 7], "gad3": [8, 5]}
    o = run(nhs_data(phq, gad), reliability=0.8, rci_sd=5.0)
    assert o.loc["edge_case", "caseness_start"] == True  # noqa: E712 - PHQ-9 exactly 10
    assert o.loc["edge_case", "nhs_recovery"] == True  # noqa: E712 - ends 9 and 7
    assert o.loc["edge_case", "nhs_reliable_recovery"] == False  # noqa: E712 - only -1
    assert o.loc["below", "caseness_start"] == False  # noqa: E712 - 9 and 7
    assert o.loc["below", "nhs_reliable_improvement"] == True  # noqa: E712 - PHQ-9 -6
    assert o.loc["phq5", "nhs_reliable_improvement"] == False  # noqa: E712 - PHQ-9 -5
    assert o.loc["gad3", "caseness_start"] == True  # noqa: E712 - GAD-7 exactly 8
    assert o.loc["gad3", "nhs_reliable_improvement"] == False  # noqa: E712 - GAD-7 -3
    assert o.loc["gad3", "nhs_recovery"] == True  # noqa: E712 - ends PHQ-9 8, GAD-7 5


def test_sudden_gain_eligible_intervals_and_critical_values():
    from scipy import stats

    from ipt_analytics.outcomes.sudden_gains import _t_critical

    # two-tailed t quantiles with df = n_pre + n_post - 2 (suddengains: 2.776, 3.182, 4.303)
    for df, printed in ((4, 2.776), (3, 3.182), (2, 4.303)):
        assert _t_critical(0.05, df) == pytest.approx(stats.t.ppf(0.975, df), rel=1e-12)
        assert round(_t_critical(0.05, df), 3) == printed
    # eligible pre-gain sessions: 2 .. last - 2 (>= 2 values on each side)
    s = [1, 2, 3, 4, 5, 6]
    assert find_sudden_changes(s, [20, 20, 8, 8, 8, 8], cutoff=6)[0] == [(2, 12.0)]
    assert find_sudden_changes(s, [20, 20, 20, 20, 8, 8], cutoff=6)[0] == [(4, 12.0)]
    assert find_sudden_changes(s, [20, 20, 20, 20, 20, 8], cutoff=6)[0] == []  # n = last - 1
    assert find_sudden_changes(s, [20, 8, 8, 8, 8, 8], cutoff=6)[0] == []  # n = 1
    # criterion 1 and 2 are inclusive: gain 6 from 24 is exactly 25% and exactly the cut-off
    assert find_sudden_changes(s, [24, 24, 24, 18, 18, 18], cutoff=6)[0] == [(3, 6.0)]
    assert find_sudden_changes(s, [25, 25, 25, 19, 19, 19], cutoff=6)[0] == []  # 6 < 25% of 25


def test_contact_type_column_is_read_validated_and_counted():
    from ipt_analytics.errors import SchemaError
    from ipt_analytics.io.sessiondata import read_sessions
    from ipt_analytics.vocab import lookup_label

    rows = []
    for k, (kind, phq, gad) in enumerate(
        [("Assessment", 15, 12), ("", 10, 9), ("DNA", None, None), ("treatment", 5, 4)], 1
    ):
        for inst, total in (("phq9", phq), ("gad7", gad)):
            rows.append(
                {"client_id": "c1", "episode_id": "e1", "session": k, "format": "individual",
                 "instrument": inst, "total": "" if total is None else total,
                 "end_reason": "completed", "contact_type": kind}
            )  # fmt: skip
    df = pd.DataFrame(rows)
    # a non-attended session has no rating: the validator rejects its rating rows (no total),
    # and it is not a treatment contact either way
    data = read_sessions(df, on_error="quarantine")
    assert len(data.rejected) == 2
    assert set(data.sessions["contact_type"].dropna()) == {"assessment", "treatment"}
    assert lookup_label("DNA", "contact_type") == "not_attended"
    o = run(data, reliability=0.8, rci_sd=5.0).loc["e1"]
    # sessions 2 (blank = treatment) and 4 count; the assessment and the DNA do not
    assert o["treatment_contacts"] == 2 and o["finished_treatment"] == True  # noqa: E712
    bad = df.assign(contact_type="phone").dropna(subset=["total"])
    bad = bad[bad["total"] != ""]
    with pytest.raises(SchemaError, match="contact_type"):
        read_sessions(bad)
