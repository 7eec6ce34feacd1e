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
    assert km.plot().get_ylabel().startswith("proportion")


@pytest.fixture(scope="module")
def aml():
    return pd.read_csv(REFERENCE / "aml.csv").assign(status=lambda d: d["status"] == 1)


@pytest.mark.parametrize("by", ["x", None])
@pytest.mark.parametrize("conf_type", ["log", "log-log", "plain"])
def test_intervals_match_r_survfit(aml, conf_type, by):
    # survfit(Surv(time, status) ~ x (or ~ 1), data = aml, conf.type = conf_type): event times
    model = "Surv(time, status) ~ x" if by else "Surv(time, status) ~ 1"
    ref = pd.read_csv(REFERENCE / "survfit_reference.csv")
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


def test_logrank_matches_r_survdiff(aml):
    ref = pd.read_csv(REFERENCE / "survdiff_reference.csv").query("rho == 0").iloc[0]
    row = kaplan_meier(aml, time="time", event="status", by="x").logrank.iloc[0]
    assert row["statistic"] == pytest.approx(ref["chisq"], rel=1e-10)
    assert row["p_value"] == pytest.approx(ref["p_value"], rel=1e-8)
    assert (row["df"], row["n"]) == (1.0, 23)
