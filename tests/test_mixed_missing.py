"""Rows missing a grouping id are dropped as lme4's default na.omit does, and said so.

References: tests/reference/issue9/mixed_missing.csv, written by
tests/reference/issue9/missing.R (lme4 1.1-31 / lmerTest 3.1-3): 1017 simulated rows,
102 with a blank therapist id; lme4 fits the 915 complete rows.
"""

from __future__ import annotations

import pandas as pd
import pytest
from lme4_ref import ISSUE9, check_fit, load, scalar

from ipt_analytics.errors import FitWarning
from ipt_analytics.models.mixed import fit_mixed

MISSING = ISSUE9 / "mixed_missing.csv"
FORMAT = {"(Intercept)": "Intercept"}
for _f in ("individual", "telehealth"):
    FORMAT[f"format{_f}"] = f"C(format)[T.{_f}]"
    FORMAT[f"week:format{_f}"] = f"week:C(format)[T.{_f}]"


@pytest.fixture(scope="module")
def data():
    return pd.read_csv(ISSUE9 / "data" / "missing.csv")


def test_missing_vc_id_rows_dropped_like_lme4(data):
    ref = load(MISSING, "miss_a")
    with pytest.warns(FitWarning, match=r"'therapist': 102 rows; 915 of 1017 rows used"):
        res = fit_mixed(data, "y ~ week", groups="client", re_formula="~week",
                        vc={"therapist": "therapist"})  # fmt: skip
    assert scalar(ref, "n_na_therapist") == 102 and scalar(ref, "n_rows") == len(data)
    assert res.n_dropped == 102
    assert res.ngroups == {"client": 94, "therapist": 10}
    check_fit(res, ref, FORMAT)


def test_missing_main_group_rows_dropped_like_lme4(data):
    ref = load(MISSING, "miss_b")
    with pytest.warns(FitWarning, match="'therapist': 102 rows"):
        res = fit_mixed(data, "y ~ week * C(format)", groups="therapist")
    check_fit(res, ref, FORMAT)


def test_no_effect_keeps_rows(data):
    # partial nesting: the 102 rows stay, with no therapist effect (here the therapist
    # variance then goes to zero, which the fit reports)
    with pytest.warns(FitWarning, match="singular") as caught:
        res = fit_mixed(data, "y ~ week", groups="client", re_formula="~week",
                        vc={"therapist": "therapist"}, missing_groups="no_effect")  # fmt: skip
    assert res.nobs == 1017 and res.n_dropped == 0
    assert not any("na.omit" in str(w.message) for w in caught)
