"""Fit results survive pickling (patsy's DesignInfo is rebuilt from the stored rows) and
summary() names the engine and the optimiser."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from lme4_ref import REF, load, scalar

from ipt_analytics.models.mixed import fit_mixed


@pytest.fixture(scope="module")
def sleep():
    return pd.read_csv(REF / "data" / "sleepstudy.csv")


def test_pickle_round_trip_keeps_numbers_and_prediction(sleep):
    data = sleep.assign(Reaction=sleep["Reaction"].where(sleep.index != 3))  # one row dropped
    res = fit_mixed(data, "Reaction ~ center(Days)", groups="Subject", re_formula="~Days")
    back = pickle.loads(pickle.dumps(res))
    assert back.loglik == res.loglik and back.nobs == 179
    pd.testing.assert_frame_equal(back.fixed, res.fixed)
    pd.testing.assert_frame_equal(back.varcorr, res.varcorr)
    new = sleep.iloc[:12]
    np.testing.assert_array_equal(back.fixed_design(new), res.fixed_design(new))
    pd.testing.assert_series_equal(back.predict(new, include_random=True),
                                   res.predict(new, include_random=True))  # fmt: skip
    assert back.refit(reml=False).loglik == pytest.approx(res.refit(reml=False).loglik)


def test_pickled_fit_still_matches_lme4(sleep):
    res = pickle.loads(pickle.dumps(fit_mixed(sleep, "Reaction ~ Days", groups="Subject",
                                              re_formula="~Days")))  # fmt: skip
    ref = load(REF / "mixed_sleepstudy.csv", "fm1")
    assert res.loglik == pytest.approx(scalar(ref, "logLik"), abs=1e-6)
    assert res.summary().count("Subject") >= 1


def test_summary_names_engine_and_optimiser(sleep):
    res = fit_mixed(sleep, "Reaction ~ Days", groups="Subject", re_formula="~Days")
    text = res.summary()
    assert "Engine: ipt_analytics exact profiled deviance" in text
    assert f"optimiser: {res.optimizer}" in text
    assert res.optimizer in {step[0] for step in res.optinfo}
