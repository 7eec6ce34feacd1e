"""Boundaries and constants that a single-point change of the code would move unnoticed.

Each test pins one rule at the exact place where a plausible slip (``>=`` for ``>``, a changed
constant, a disabled check) changes the answer; the expected values are hand-computed from
the definitions in docs/definitions.md.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pandas as pd
import pytest

from ipt_analytics.models.mixed import fit_mixed
from ipt_analytics.models.mixed.design import build_design
from ipt_analytics.models.mixed.fit import _singular_messages
from ipt_analytics.models.mixed.lmm import Problem, check_optimum
from ipt_analytics.outcomes import episode_outcomes
from ipt_analytics.outcomes.early_response import early_nonresponse
from ipt_analytics.outcomes.sudden_gains import find_sudden_changes

REFERENCE = __import__("pathlib").Path(__file__).parent / "reference"


# ---------------------------------------------------------------- sudden gains, criterion 3


def _window(ratio):
    # pre = [9, 9, 12] (mean 10, SS 6), post = m2 + (-2, 1, 1) (SS 6): pooled SD = sqrt(12 / 4),
    # so (mean_pre - mean_post) / pooled SD = ratio exactly; criteria 1 and 2 hold easily
    m2 = 10.0 - ratio * math.sqrt(3.0)
    return [9.0, 9.0, 12.0, m2 - 2.0, m2 + 1.0, m2 + 1.0]


@pytest.mark.parametrize(
    ("adjust", "t_crit"),
    # unadjusted: suddengains' constant 2.776; adjusted: the exact t(0.975, 4) = 2.776445
    [(False, 2.776), (True, 2.7764451051977987)],
)
def test_unadjusted_sudden_gain_critical_value_is_2_776(adjust, t_crit):
    # 3 + 3 values around the gain: criterion 3 holds when the mean difference exceeds t_crit
    # pooled SDs; 2e-4 either side of t_crit decides it
    sessions = [1, 2, 3, 4, 5, 6]
    found, _ = find_sudden_changes(sessions, _window(t_crit + 2e-4), cutoff=0, adjust=adjust)
    assert [s for s, _ in found] == [3]
    found, _ = find_sudden_changes(sessions, _window(t_crit - 2e-4), cutoff=0, adjust=adjust)
    assert found == []


def test_unadjusted_critical_value_is_used_with_a_missed_session():
    # session 5 missed: 3 pre + 2 post values. Adjusted: t(0.975, 3) = 3.182; unadjusted 2.776.
    pre = [9.0, 9.0, 12.0]
    # post values m2 - 1.5, m2 + 1.5 (SS 4.5); pooled SD = sqrt((6 + 4.5) / 3)
    sd = math.sqrt(10.5 / 3)
    for ratio, unadjusted_gain, adjusted_gain in ((2.80, True, False), (2.75, False, False),
                                                  (3.19, True, True)):  # fmt: skip
        m2 = 10.0 - ratio * sd
        totals = [*pre, m2 - 1.5, m2 + 1.5]
        got = find_sudden_changes([1, 2, 3, 4, 6], totals, cutoff=0, adjust=False)[0]
        assert bool(got) is unadjusted_gain, ratio
        got = find_sudden_changes([1, 2, 3, 4, 6], totals, cutoff=0, adjust=True)[0]
        assert bool(got) is adjusted_gain, ratio


# ---------------------------------------------------------------- completion and early response


def test_completion_by_planned_sessions_includes_equality():
    # without an end reason, completed = n_sessions >= planned_sessions: attending exactly the
    # planned number completes the course; one session fewer is a dropout
    rows = []
    for eid, n in (("exact", 4), ("short", 3), ("over", 5)):
        for k in range(1, n + 1):
            rows.append({"episode_id": eid, "session": k, "instrument": "phq9", "total": 20.0 - k,
                         "planned_sessions": 4.0, "end_reason": pd.NA})  # fmt: skip
    o = episode_outcomes(
        pd.DataFrame(rows),
        reliability=0.8,
        rci_sd=5.0,
        nhs_tt_measures=False,
        missing_end_reason="planned_sessions",
    )
    o = o.set_index("episode_id")
    assert o["completed"].to_dict() == {"exact": True, "over": True, "short": False}
    assert o["dropout"].to_dict() == {"exact": False, "over": False, "short": True}


def test_early_nonresponse_decrease_equal_to_threshold_is_improvement():
    # non-response = decrease from baseline < threshold; a decrease of exactly the threshold
    # (PHQ-9: 6 points) is a reliable improvement, so not non-response
    weeks = np.array([0.0, 4.0, 8.0])
    assert early_nonresponse(weeks, np.array([20.0, 17.0, 14.0]), week=8, threshold=6) is False
    assert early_nonresponse(weeks, np.array([20.0, 17.0, 14.5]), week=8, threshold=6) is True
    assert early_nonresponse(weeks, np.array([20.0, 17.0, 13.5]), week=8, threshold=6) is False


# ---------------------------------------------------------------- mixed-model checks


@pytest.fixture(scope="module")
def sleep():
    return pd.read_csv(REFERENCE / "data" / "sleepstudy.csv")


def test_check_optimum_flags_a_deviance_that_falls_off_the_boundary(sleep):
    # sleepstudy (Days | Subject): the slope SD is clearly positive (lme4: 5.92). Put its
    # relative factor on its lower bound 0: moving inwards lowers the deviance, so the
    # boundary check must refuse this point (lme4's boundary test in checkConv).
    fit = fit_mixed(sleep, "Reaction ~ Days", groups="Subject", re_formula="~Days",
                    df_method="wald")  # fmt: skip
    problem = Problem(build_design(sleep, "Reaction ~ Days", "Subject", "~Days", None))
    theta = np.array(fit._theta_internal, dtype=float)
    at_bound = np.flatnonzero(np.isfinite(problem.lower) & (problem.lower == 0))
    theta[at_bound[-1]] = 0.0
    ok, messages = check_optimum(problem, theta, reml=True)
    assert not ok
    assert any("decreases away from a zero variance" in m for m in messages)
    # at the real optimum nothing is flagged
    assert check_optimum(problem, np.asarray(fit._theta_internal), reml=True) == (True, [])


@pytest.fixture(scope="module")
def slope_fit():
    rng = np.random.default_rng(11)
    client = np.repeat(np.arange(60), 6)
    week = np.tile(np.arange(6.0), 60)
    slope = rng.normal(0, 0.5, 60)[client]
    y = 15 - 0.5 * week + rng.normal(0, 2, 60)[client] + slope * week + rng.normal(0, 1, 360)
    df = pd.DataFrame({"client": client, "week": week, "y": y})
    return fit_mixed(df, "y ~ week", groups="client", re_formula="~week", df_method="wald")


def test_near_zero_but_not_singular_variance_is_flagged(slope_fit):
    # lme4's isSingular() tolerance: a diagonal element of the relative covariance factor
    # below 1e-4 is a boundary fit. A clearly positive slope variance is not flagged; a
    # factor of 1e-6 (far above 1e-12, below 1e-4) is.
    assert _singular_messages(slope_fit) == []
    near = copy.copy(slope_fit)
    theta = np.array(slope_fit._theta_internal, dtype=float)
    t_s, _ = slope_fit._problem.split(theta)
    q = t_s.shape[0]
    diag_pos = [k for k, (i, j) in enumerate(zip(*np.tril_indices(q), strict=True)) if i == j]
    theta[diag_pos[-1]] = 1e-6
    near._theta_internal = theta
    assert any("singular" in m for m in _singular_messages(near))
    theta[diag_pos[-1]] = 2e-4
    assert _singular_messages(near) == []


def test_near_zero_extra_variance_component_is_flagged():
    # a therapist intercept whose SD is below 1e-4 residual SDs is a boundary fit; 2e-4 is not
    rng = np.random.default_rng(2)
    client = np.repeat(np.arange(48), 5)
    therapist = client % 8
    week = np.tile(np.arange(5.0), 48)
    y = (14 - 0.6 * week + rng.normal(0, 2, 48)[client] + rng.normal(0, 1.5, 8)[therapist]
         + rng.normal(0, 1, client.size))  # fmt: skip
    df = pd.DataFrame({"client": client, "therapist": therapist, "week": week, "y": y})
    fit = fit_mixed(df, "y ~ week", groups="client", vc={"therapist": "therapist"},
                    df_method="wald")  # fmt: skip
    assert _singular_messages(fit) == []
    near = copy.copy(fit)
    near.vc_variances = pd.Series({"therapist": (1e-6 * fit.sigma) ** 2})
    assert any("could be dropped" in m for m in _singular_messages(near))
    near.vc_variances = pd.Series({"therapist": (2e-4 * fit.sigma) ** 2})
    assert _singular_messages(near) == []
