"""fit_trajectory: model frames (hand-computed) and R parity on the sample cohort.

R side: tests/reference/sample_trajectory.R (lme4 1.1-31, lmerTest 3.1-3, emmeans 1.8.4-1)
fitted to tests/reference/sample_phq9_long.csv, the model frame Python built from
data/sample/sessions.csv (subset: sites eastfield and northgate, 644 episodes, 6355 PHQ-9
ratings; see tests/reference/sample_write_frame.py).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ipt_analytics.errors import SchemaError
from ipt_analytics.models.trajectory import (
    _demo_long,
    fit_trajectory,
    model_frame,
    phase_knots,
    time_columns,
)

REF = Path(__file__).parent / "reference"
ROOT = REF.parents[1]


def load_reference() -> pd.DataFrame:
    return pd.read_csv(REF / "sample_trajectory.csv", keep_default_na=False)


def ref_values(ref, model, kind) -> dict:
    part = ref[(ref["model"] == model) & (ref["kind"] == kind)]
    return {(r.name1, r.name2): float(r.value) for r in part.itertuples()}


def py_term(r_name: str) -> str:
    name = r_name.replace("(Intercept)", "Intercept").replace("week", "time")
    name = re.sub(r"problem_area(\w+)", r"problem_area[T.\1]", name)
    return re.sub(r"format(\w+)", r"format[T.\1]", name)


def reference_long() -> pd.DataFrame:
    """The reference model frame, used as a canonical long table."""
    return pd.read_csv(REF / "sample_phq9_long.csv").assign(instrument="phq9")


@pytest.fixture(scope="module")
def ref():
    return load_reference()


@pytest.fixture(scope="module")
def fit_a():
    return fit_trajectory(reference_long(), by="format")


@pytest.fixture(scope="module")
def fit_b():
    return fit_trajectory(reference_long(), time="session", shape="piecewise")


@pytest.fixture(scope="module")
def fit_c():
    return fit_trajectory(reference_long(), by="format", nest=("therapist", "group"))


# -- model frames, hand-computed ---------------------------------------------------------


def _long(**cols):
    base = dict(
        episode_id=["e1"] * 4 + ["e2"] * 3,
        session=[1, 2, 3, 5, 1, 2, 3],
        week=[0.0, 1.0, 2.5, 4.0, 0.0, 1.0, 2.0],
        instrument="phq9",
        total=[20.0, 18, 15, 10, 12, 12, 11],
        format=["individual", "individual", "telehealth", "telehealth", "group", "group",
                "group"],
    )  # fmt: skip
    base.update(cols)
    return pd.DataFrame(base)


def test_time_scales_and_shapes():
    frame, spec = model_frame(_long(), time="session", shape="quadratic")
    assert frame["time"].tolist() == [0, 1, 2, 4, 0, 1, 2]
    assert frame["time2"].tolist() == [0, 1, 4, 16, 0, 1, 4]
    assert spec.formula == "total ~ (time + time2)"
    frame, spec = model_frame(_long(), shape="log")
    np.testing.assert_allclose(frame["log_time"], np.log([1, 2, 3.5, 5, 1, 2, 3]))
    assert spec.re_formula == "log_time"
    frame, _ = model_frame(_long())
    assert frame["time"].tolist() == [0, 1, 2.5, 4, 0, 1, 2]


def test_other_instruments_and_missing_totals_are_left_out():
    long = pd.concat([_long(), _long(instrument="gad7")], ignore_index=True)
    long.loc[1, "total"] = np.nan
    frame, _ = model_frame(long)
    assert len(frame) == 6


def test_phase_knots_by_hand():
    # 16 planned sessions: initial 1-3, middle 4-13, termination 14-16 (docs/definitions.md)
    k1, k2 = phase_knots([16, 12, 8, 5], initial=3, termination=3)
    assert k1.tolist() == [3, 3, 3, 3]
    assert k2.tolist() == [13, 9, 5, 3]
    k1, k2 = phase_knots(16, initial=4, termination=2)
    assert (float(k1), float(k2)) == (4.0, 14.0)


def test_piecewise_terms_planned_vs_last_session():
    sessions = list(range(1, 11))
    long = pd.DataFrame(
        dict(episode_id="e1", session=sessions, week=[s - 1.0 for s in sessions],
             instrument="phq9", total=20.0 - np.arange(10), planned_sessions=np.nan)
    )  # fmt: skip
    frame, _ = model_frame(long, time="session", shape="piecewise")
    # last observed session 10 -> k1 = 3, k2 = 10 - 3 = 7 completed sessions
    assert frame["initial"].tolist() == [0, 1, 2, 3, 3, 3, 3, 3, 3, 3]
    assert frame["middle"].tolist() == [0, 0, 0, 0, 1, 2, 3, 4, 4, 4]
    assert frame["termination"].tolist() == [0, 0, 0, 0, 0, 0, 0, 0, 1, 2]
    frame, _ = model_frame(
        long.assign(planned_sessions=16.0), time="session", shape="piecewise",
        phases={"initial": 2, "termination": 4},
    )  # fmt: skip
    # planned 16 -> k2 = 12 beyond the data: no termination time yet
    assert frame["initial"].max() == 2 and frame["termination"].max() == 0
    assert frame["middle"].tolist() == [0, 0, 0, 1, 2, 3, 4, 5, 6, 7]


def test_piecewise_knots_on_week_scale_interpolate():
    long = _long(planned_sessions=[6.0] * 4 + [np.nan] * 3)
    frame, _ = model_frame(long, shape="piecewise", phases={"initial": 2, "termination": 2})
    e1 = frame[frame["episode_id"] == "e1"]
    # e1 knots in completed sessions: k1 = 2 (session 3, week 2.5), k2 = 4 (session 5, week 4)
    assert e1["knot_initial"].iloc[0] == 2.5 and e1["knot_termination"].iloc[0] == 4.0
    e2 = frame[frame["episode_id"] == "e2"]
    # e2: last session 3 -> k2 = max(3 - 2, 2) = 2 -> session 3 = week 2
    assert e2["knot_initial"].iloc[0] == 2.0 and e2["knot_termination"].iloc[0] == 2.0
    cols = time_columns([4.0], shape="piecewise", k1=2.5, k2=4.0)
    assert [cols[k][0] for k in ("initial", "middle", "termination")] == [2.5, 1.5, 0.0]


def test_time_varying_format_is_per_rating():
    frame, spec = model_frame(_long(), by="format")
    assert frame["format"].astype(str).tolist()[:4] == [
        "individual", "individual", "telehealth", "telehealth"]  # fmt: skip
    assert list(frame["format"].cat.categories) == ["individual", "group", "telehealth"]
    assert spec.formula == "total ~ time * format"


def test_baseline_covariate_drops_baseline_rows_and_centres():
    frame, spec = model_frame(_long(), covariates=("baseline",))
    assert frame["session"].tolist() == [2, 3, 5, 2, 3]
    assert spec.centres["baseline"] == 16.0  # mean of 20 and 12 over episodes
    assert frame["baseline"].tolist() == [4.0, 4.0, 4.0, -4.0, -4.0]


def test_nest_group_only_group_rows(fit_c):
    frame, spec = model_frame(_long(therapist_id="t1", group_id=[None] * 4 + ["g1"] * 3),
                              nest=("therapist", "group"))  # fmt: skip
    assert frame["in_group"].tolist() == [0, 0, 0, 0, 1, 1, 1]
    assert frame["group_id"].isna().sum() == 4
    assert fit_c.model.ngroups["therapy_group"] == reference_long()["group_id"].nunique()


def test_errors_name_argument_and_fix():
    with pytest.raises(ValueError, match=r"shape='cubic'"):
        model_frame(_long(), shape="cubic")
    with pytest.raises(ValueError, match=r"by='site'"):
        model_frame(_long(), by="site")
    with pytest.raises(ValueError, match="instrument='qids_sr16' has no rows"):
        model_frame(_long(), instrument="qids_sr16")
    with pytest.raises(ValueError, match="phases"):
        model_frame(_long(), phases={"initial": 3})
    with pytest.raises(SchemaError, match="outside"):
        model_frame(_long(format="video"), by="format")
    with pytest.raises(SchemaError, match="therapist_id"):
        model_frame(_long(), nest="therapist")
    with pytest.raises(TypeError, match="SessionData"):
        model_frame([1, 2, 3])


def test_reference_frame_is_what_the_package_builds():
    """The CSV handed to R equals the frame built from data/sample/sessions.csv now."""
    from ipt_analytics import read_sessions

    sys.path.insert(0, str(REF))
    try:
        import sample_write_frame
    finally:
        sys.path.remove(str(REF))
    data = read_sessions(ROOT / "data" / "sample" / "sessions.csv")
    sessions = data.sessions
    built = sample_write_frame.build_frame(sessions)
    # a SessionData is accepted as well as its long table
    whole, _ = model_frame(data, by="format")
    assert len(whole) == int((sessions["instrument"] == "phq9").sum())
    stored = pd.read_csv(REF / "sample_phq9_long.csv")
    assert built.shape == stored.shape
    built = built.assign(format=built["format"].astype(str),
                         problem_area=built["problem_area"].astype(str))  # fmt: skip
    pd.testing.assert_frame_equal(
        built.reset_index(drop=True), stored, check_dtype=False, check_exact=False, rtol=1e-12
    )


# -- R parity --------------------------------------------------------------------------------


def _check_fit(fit, ref, model):
    fixed = fit.fixed.set_index("term")
    est = ref_values(ref, model, "fixef")
    assert len(est) == len(fixed)
    for (name, _), value in est.items():
        term = py_term(name)
        # rtol 1e-4; for an estimate near 0 the floor is 1e-4 of its standard error (the
        # nested model's likelihood is flat in the group variance, which moves a near-zero
        # coefficient by ~2e-5 SE between two optimisers at the same log-likelihood)
        floor = 1e-4 * fixed.loc[term, "std_error"]
        np.testing.assert_allclose(fixed.loc[term, "estimate"], value, rtol=1e-4, atol=floor)
    for (name, _), value in ref_values(ref, model, "se").items():
        np.testing.assert_allclose(fixed.loc[py_term(name), "std_error"], value, rtol=1e-3)
    for (name, _), value in ref_values(ref, model, "df").items():
        np.testing.assert_allclose(fixed.loc[py_term(name), "df"], value, rtol=1e-2)
    vc = fit.model.variance_components
    for (name1, name2), value in ref_values(ref, model, "varcov").items():
        grp, term1 = name1.split("|")
        grp = {"therapist_id": "therapist", "group_id": "therapy_group"}.get(grp, grp)
        if grp == "Residual":
            got = vc.loc[vc["group"] == "Residual", "variance"].iloc[0]
        else:
            t1 = "Intercept" if term1 in ("(Intercept)", "in_group") else "time"
            rows = vc[(vc["group"] == grp) & (vc["term1"] == t1)]
            rows = rows[rows["term2"].isna()] if name2 == "" else rows[rows["term2"] == "time"]
            got = rows["variance"].iloc[0]
        np.testing.assert_allclose(got, value, rtol=1e-3, err_msg=f"{model} {name1} {name2}")
    np.testing.assert_allclose(fit.model.loglik, ref_values(ref, model, "logLik")[("", "")],
                               rtol=1e-7)  # fmt: skip
    assert fit.model.nobs == ref_values(ref, model, "nobs")[("", "")]


def test_linear_by_format_matches_lmertest(fit_a, ref):
    _check_fit(fit_a, ref, "a_linear_format")
    assert fit_a.model.converged


def test_piecewise_phases_match_lmertest(fit_b, ref):
    _check_fit(fit_b, ref, "b_piecewise")
    assert fit_b.fixed["term"].tolist() == ["Intercept", "initial", "middle", "termination"]


def test_nested_therapist_group_match_lmertest(fit_c, ref):
    _check_fit(fit_c, ref, "c_nested")


def test_nested_marginal_means_match_emmeans(fit_c, ref):
    from ipt_analytics.models.emmeans import marginal_means

    mm = marginal_means(fit_c, at={"week": 12}, by="format").set_index("format")
    for (level, col), value in ref_values(ref, "c_nested", "emmeans_week12").items():
        ours, rtol = {"emmean": ("estimate", 1e-4), "SE": ("std_error", 1e-3),
                      "df": ("df", 1e-2)}.get(col, (None, None))  # fmt: skip
        if ours:
            np.testing.assert_allclose(mm.loc[level, ours], value, rtol=rtol)


# -- result object -----------------------------------------------------------------------


def test_result_surface(fit_a):
    text = fit_a.summary()
    assert "total ~ time * format" in text and "episode_id" in text
    assert "<table" in fit_a._repr_html_()
    pred = fit_a.predict(pd.DataFrame({"week": [0.0, 12.0], "format": ["individual"] * 2}))
    coef = fit_a.fixed.set_index("term")["estimate"]
    np.testing.assert_allclose(pred, [coef["Intercept"], coef["Intercept"] + 12 * coef["time"]])
    assert len(fit_a.predict()) == len(fit_a.data)
    assert isinstance(fit_a.warnings, list)


def test_plot_returns_axes(fit_a):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = fit_a.predictions(times=[0.0, 12.0])
    assert list(table.columns[:2]) == ["week", "group"] and len(table) == 10
    mm = table[table["week"] == 12].set_index("group")["estimate"]
    from ipt_analytics.models.emmeans import marginal_means

    want = marginal_means(fit_a, at={"week": 12}, by="format").set_index("format")["estimate"]
    np.testing.assert_allclose(mm.loc[want.index], want, rtol=1e-12)
    ax = fit_a.plot(times=[0.0, 6.0, 12.0])
    assert "PHQ-9" in ax.get_ylabel() and len(ax.get_lines()) >= 5
    plt.close("all")


def test_demo_fit_recovers_direction():
    fit = fit_trajectory(_demo_long(), by="format", random="intercept")
    coef = fit.fixed.set_index("term")["estimate"]
    assert coef["time"] < 0 < coef["time:format[T.group]"]


def test_warnings_come_first_in_summary_and_html():
    import warnings as _warnings

    from ipt_analytics.models.trajectory import _demo_long

    with _warnings.catch_warnings():
        _warnings.simplefilter("ignore")
        fit = fit_trajectory(_demo_long(40), by="format", nest=("therapist", "group"))
    # 4 therapists and 3 therapy groups: the trajectory layer warns on its own
    own = [w for w in fit.warnings if w not in fit.model.warnings]
    assert any("only 4 therapists" in w for w in own)
    text = fit.summary()
    assert text.startswith("!" * 78) and text.index("only 4 therapists") < text.index("Trajectory")
    page = fit._repr_html_()
    assert page.index("only 4 therapists") < page.index("<h4>Trajectory")
    assert "therapy_group" in page and "<table" in page


def test_summary_writes_the_group_term_one_way(fit_c):
    # issue 10: the summary wrote (0 + in_group | group_id) and (1 | group_id)
    text = fit_c.summary()
    assert "(0 + in_group | group_id)" in text
    assert "(1 | group_id)" not in text
