"""Kaplan-Meier and log-rank against hand computation and R's survival::survfit / survdiff.

R reference: tests/reference/survfit_reference.R (survival 3.5.3, R 4.2.2) on survival::aml,
which wrote aml.csv, survfit_reference.csv and survdiff_reference.csv there.
"""

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ipt_analytics.stats.survival import kaplan_meier

REFERENCE = Path(__file__).parent / "reference"


def small():
    # group a: times 1, 2, 2(c), 3, 4(c); group b: 2, 3(c), 5, 5, 6(c)
    return pd.DataFrame(
        {
            "t": [1, 2, 2, 3, 4, 2, 3, 5, 5, 6.0],
            "e": [True, True, False, True, False, True, False, True, True, False],
            "g": ["a"] * 5 + ["b"] * 5,
        }
    )


def test_km_by_hand():
    km = kaplan_meier(small(), time="t", event="e", by="g")
    a = km.table[km.table["group"] == "a"]
    # S(1) = 4/5, S(2) = 4/5 * 3/4 = 0.6, S(3) = 0.6 * 1/2 = 0.3
    assert a["survival"].tolist() == pytest.approx([1.0, 0.8, 0.6, 0.3])
    assert a["n_risk"].tolist() == [5, 5, 4, 2]
    assert a["n_censored"].tolist() == [0, 0, 1, 0]
    # Greenwood: S^2 * sum d / (n (n - d))
    gw = 0.3 * math.sqrt(1 / (5 * 4) + 1 / (4 * 3) + 1 / (2 * 1))
    assert a["std_error"].iloc[-1] == pytest.approx(gw)
    lo = 0.3 * math.exp(-1.959963984540054 * gw / 0.3)
    assert a["conf_low"].iloc[-1] == pytest.approx(lo)
    b = km.table[km.table["group"] == "b"]
    # S(2) = 4/5, S(5) = 0.8 * (1 - 2/3) = 0.2667
    assert b["survival"].tolist() == pytest.approx([1.0, 0.8, 0.8 / 3])


def test_logrank_by_hand():
    d = small()
    km = kaplan_meier(d, time="t", event="e", by="g")
    o_minus_e, var = 0.0, 0.0
    for t in sorted(d.loc[d["e"], "t"].unique()):
        at_risk = d[d["t"] >= t]
        n, n1 = len(at_risk), int((at_risk["g"] == "a").sum())
        dead = d[(d["t"] == t) & d["e"]]
        dt, d1 = len(dead), int((dead["g"] == "a").sum())
        o_minus_e += d1 - dt * n1 / n
        if n > 1:
            var += dt * (n1 / n) * (1 - n1 / n) * (n - dt) / (n - 1)
    chi2 = o_minus_e**2 / var
    row = km.logrank.iloc[0]
    assert row["statistic"] == pytest.approx(chi2)
    assert row["p_value"] == pytest.approx(1 - __import__("scipy").stats.chi2.cdf(chi2, 1))
    assert row["df"] == 1


def test_at_risk_table_and_missing_rows():
    d = small()
    d.loc[0, "t"] = np.nan
    km = kaplan_meier(d, time="t", event="e", by="g")
    assert km.meta["n"] == 9
    tab = km.at_risk([0, 3]).set_index(["group", "time"])
    assert tab.loc[("a", 3.0), "n_risk"] == 2 and tab.loc[("b", 0.0), "n_risk"] == 5


def test_outcome_columns_default_and_plot():
    o = pd.DataFrame(
        {
            "time_to_response": [2.0, 3.0, 4.0],
            "response_event": pd.array([True, None, False], dtype="boolean"),
        }
    )
    km = kaplan_meier(o)
    assert km.table["survival"].tolist() == pytest.approx([1.0, 0.5])
    import matplotlib

    matplotlib.use("Agg")
    assert km.plot(min_at_risk=1).get_ylabel() == "Proportion without response"


@pytest.fixture(scope="module")
def aml():
    return pd.read_csv(REFERENCE / "survfit" / "aml.csv").assign(status=lambda d: d["status"] == 1)


@pytest.mark.parametrize("by", ["x", None])
@pytest.mark.parametrize("conf_type", ["log", "log-log", "plain"])
def test_intervals_match_r_survfit(aml, conf_type, by):
    # survfit(Surv(time, status) ~ x (or ~ 1), data = aml, conf.type = conf_type): event times
    model = "Surv(time, status) ~ x" if by else "Surv(time, status) ~ 1"
    ref = pd.read_csv(REFERENCE / "survfit" / "survfit_reference.csv")
    ref = ref[(ref["model"] == model) & (ref["conf_type"] == conf_type)]
    group = ref["strata"].str.removeprefix("x=") if by else "all"
    ref = ref.assign(group=group)[ref["n.event"] > 0]
    km = kaplan_meier(aml, time="time", event="status", by=by, conf_type=conf_type)
    got = km.table[km.table["time"] > 0].merge(ref, on=["group", "time"], how="outer",
                                               indicator=True)  # fmt: skip
    assert (got["_merge"] == "both").all()  # the same event times in both groups
    np.testing.assert_array_equal(got["n_risk"], got["n.risk"])
    np.testing.assert_array_equal(got["n_events"], got["n.event"])
    np.testing.assert_allclose(got["survival"], got["surv"], rtol=1e-12)
    alive = got["surv"] > 0  # R gives NA limits once S reaches 0 (Nonmaintained, t = 45)
    np.testing.assert_allclose(got.loc[alive, "std_error"], got.loc[alive, "se_surv"], rtol=1e-10)
    np.testing.assert_allclose(got.loc[alive, "conf_low"], got.loc[alive, "lower"], rtol=1e-9)
    np.testing.assert_allclose(got.loc[alive, "conf_high"], got.loc[alive, "upper"], rtol=1e-9)
    assert (got.loc[~alive, ["survival", "conf_low", "conf_high"]] == 0).all().all()




AML = Path(__file__).parent / "reference" / "survfit"


@pytest.mark.parametrize("conf_type", ["log", "log-log", "plain"])
def test_kaplan_meier_matches_r_survfit_on_aml(conf_type):
    # R 4.2.2, survival 3.5-3: tests/reference/survfit/survfit_reference.R
    aml = pd.read_csv(AML / "aml.csv")
    ref = pd.read_csv(AML / "survfit_reference.csv")
    ref = ref[(ref["model"] == "Surv(time, status) ~ x") & (ref["conf_type"] == conf_type)]
    km = kaplan_meier(aml.assign(e=aml["status"] == 1), time="time", event="e", by="x",
                      conf_type=conf_type)  # fmt: skip
    for g in ("Maintained", "Nonmaintained"):
        r = ref[(ref["strata"] == f"x={g}") & (ref["n.event"] > 0)]
        ours = km.table[(km.table["group"] == g) & (km.table["time"] > 0)]
        assert ours["time"].tolist() == r["time"].tolist()
        assert ours["n_risk"].tolist() == r["n.risk"].tolist()
        np.testing.assert_allclose(ours["survival"], r["surv"], rtol=1e-10)
        ok = r["surv"].to_numpy() > 0  # R gives NA limits once S = 0
        np.testing.assert_allclose(ours["std_error"][ok], r["se_surv"][ok], rtol=1e-8)
        np.testing.assert_allclose(ours["conf_low"][ok], r["lower"][ok], rtol=1e-8)
        np.testing.assert_allclose(ours["conf_high"][ok], r["upper"][ok], rtol=1e-8)
        # numbers at risk at every R row (censoring times included) = survfit n.risk
        every = ref[ref["strata"] == f"x={g}"]
        got = km.at_risk(every["time"].tolist())
        assert got.loc[got["group"] == g, "n_risk"].tolist() == every["n.risk"].tolist()


def test_logrank_matches_r_survdiff_on_aml():
    aml = pd.read_csv(AML / "aml.csv")
    km = kaplan_meier(aml.assign(e=aml["status"] == 1), time="time", event="e", by="x")
    # survdiff(Surv(time, status) ~ x, data = aml): chisq 3.396389, p 0.06533932
    assert km.logrank["statistic"].iloc[0] == pytest.approx(3.396389, rel=1e-6)
    assert km.logrank["p_value"].iloc[0] == pytest.approx(0.06533932, rel=1e-6)


def test_curves_stop_where_fewer_than_min_remain_at_risk():
    # hand count: Maintained has 11 patients, times 9 13 13+ 18 23 28+ 31 34 45+ 48 161+;
    # 3 or more at risk up to the 3rd largest time (45): the curve ends at 45
    aml = pd.read_csv(AML / "aml.csv")
    km = kaplan_meier(aml.assign(e=aml["status"] == 1), time="time", event="e", by="x")
    assert km.curve_end(3)["Maintained"] == 45.0
    cut = km.curves(3)
    m = cut[cut["group"] == "Maintained"]
    assert m["time"].iloc[-1] == 45.0 and m["survival"].iloc[-1] == m["survival"].iloc[-2]
    assert km.curve_end(12)["Maintained"] is None  # 11 patients
    assert km.curves(13).attrs["not_drawn"] == ["Maintained", "Nonmaintained"]
