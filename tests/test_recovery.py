"""expected_recovery / flag_not_on_track: conditional-normal bands, checked by simulation.

Truth: data simulated from a linear mixed model with known parameters; a 90% band must
cover about 90% of later scores of NEW clients simulated from the same model.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ipt_analytics.models.recovery import conditional_bands, expected_recovery, flag_not_on_track
from ipt_analytics.models.trajectory import fit_trajectory

TRUE = dict(b0=16.0, b1=-0.6, g=np.array([[16.0, -0.3], [-0.3, 0.1]]), sigma=2.5)
N_SESSIONS = 8


def simulate(n_episodes, seed, *, end_reason="completed", start=0):
    """Weekly sessions 1..8 from the true model (scores not rounded or clipped)."""
    rng = np.random.default_rng(seed)
    t = np.arange(N_SESSIONS, dtype=float)
    b = rng.multivariate_normal([0.0, 0.0], TRUE["g"], size=n_episodes)
    y = (TRUE["b0"] + b[:, [0]]) + (TRUE["b1"] + b[:, [1]]) * t
    y = y + rng.normal(0.0, TRUE["sigma"], size=y.shape)
    ids = [f"e{start + i:04d}" for i in range(n_episodes)]
    return pd.DataFrame(
        dict(
            episode_id=np.repeat(ids, N_SESSIONS),
            session=np.tile(np.arange(1, N_SESSIONS + 1), n_episodes),
            week=np.tile(t, n_episodes),
            instrument="phq9",
            total=y.ravel(),
            end_reason=end_reason,
        )
    )


@pytest.fixture(scope="module")
def fit():
    return fit_trajectory(simulate(400, seed=11), random="slope")


def test_conditional_bands_match_simulated_conditional_distribution():
    rng = np.random.default_rng(5)
    t = np.arange(5.0)
    z = np.column_stack([np.ones(5), t])
    cov = z @ TRUE["g"] @ z.T + TRUE["sigma"] ** 2 * np.eye(5)
    mu = TRUE["b0"] + TRUE["b1"] * t
    draws = rng.multivariate_normal(mu, cov, size=200_000)
    out0 = conditional_bands(mu, cov, 0.0, levels=(0.8, 0.9))
    out1 = conditional_bands(mu, cov, 1.0, levels=(0.8, 0.9))
    slope = out1["expected"] - out0["expected"]
    cond_mean = out0["expected"][None, :] + slope[None, :] * draws[:, [0]]
    resid = (draws - cond_mean)[:, 1:]
    # the conditional residual has mean 0, the stated SD and no correlation with baseline
    np.testing.assert_allclose(resid.mean(axis=0), 0.0, atol=0.03)
    np.testing.assert_allclose(resid.std(axis=0) / out0["sd"][1:], 1.0, rtol=0.01)
    corr = [np.corrcoef(resid[:, k], draws[:, 0])[0, 1] for k in range(4)]
    np.testing.assert_allclose(corr, 0.0, atol=0.01)
    half = (out0["upper_90"] - out0["expected"])[1:]
    np.testing.assert_allclose((np.abs(resid) <= half).mean(axis=0), 0.90, atol=0.005)
    out = conditional_bands(mu, cov, 22.0, levels=(0.9,))
    assert out["sd"][0] == 0.0 and out["expected"][0] == 22.0


def test_band_coverage_for_new_clients(fit):
    """Bands from a FITTED model cover ~90% / ~80% of new clients' later scores."""
    new = simulate(3000, seed=99)
    y = new["total"].to_numpy().reshape(-1, N_SESSIONS)
    # the conditional mean is linear in the baseline and the SD does not depend on it
    t0 = expected_recovery(fit, baseline=0.0, sessions=range(1, N_SESSIONS + 1))
    t1 = expected_recovery(fit, baseline=1.0, sessions=range(1, N_SESSIONS + 1))
    t2 = expected_recovery(fit, baseline=20.0, sessions=range(1, N_SESSIONS + 1))
    slope = (t1["expected"] - t0["expected"]).to_numpy()
    np.testing.assert_allclose(t0["expected"] + 20.0 * slope, t2["expected"], rtol=1e-10)
    half90 = (t0["upper_90"] - t0["expected"]).to_numpy()
    half80 = (t0["upper_80"] - t0["expected"]).to_numpy()
    np.testing.assert_allclose(t2["upper_90"] - t2["expected"], half90, rtol=1e-10)
    expected = t0["expected"].to_numpy()[None, :] + slope[None, :] * y[:, [0]]
    resid = np.abs(y - expected)[:, 1:]
    cover90 = (resid <= half90[None, 1:]).mean(axis=0)
    cover80 = (resid <= half80[None, 1:]).mean(axis=0)
    np.testing.assert_allclose(cover90.mean(), 0.90, atol=0.012)
    np.testing.assert_allclose(cover80.mean(), 0.80, atol=0.015)
    np.testing.assert_allclose(cover90, 0.90, atol=0.03)
    # the table shape the plotting helper draws
    assert list(t0.columns) == [
        "session", "week", "expected", "lower_80", "upper_80", "lower_90", "upper_90",
        "baseline"]  # fmt: skip
    assert t0["week"].tolist() == list(range(N_SESSIONS))


def test_band_by_hand_with_true_parameters(fit):
    """With the fitted G and sigma, session 3 of a client with baseline 20, by hand."""
    g = fit.model.cov_re.to_numpy()
    s2 = fit.model.sigma**2
    beta = fit.model.fe_params
    z0, z2 = np.array([1.0, 0.0]), np.array([1.0, 2.0])
    v00 = z0 @ g @ z0 + s2
    v20 = z2 @ g @ z0
    v22 = z2 @ g @ z2 + s2
    mu0, mu2 = beta["Intercept"], beta["Intercept"] + 2 * beta["time"]
    mean = mu2 + v20 / v00 * (20.0 - mu0)
    sd = np.sqrt(v22 - v20**2 / v00)
    tab = expected_recovery(fit, baseline=20.0, sessions=[1, 3], levels=(0.9,))
    np.testing.assert_allclose(tab["expected"].iloc[1], mean, rtol=1e-10)
    np.testing.assert_allclose(tab["upper_90"].iloc[1], mean + 1.6448536269514722 * sd,
                               rtol=1e-10)  # fmt: skip
    wider = expected_recovery(fit, baseline=20.0, sessions=[1, 3], levels=(0.9,),
                              fixed_uncertainty=True)  # fmt: skip
    assert wider["upper_90"].iloc[1] > tab["upper_90"].iloc[1]


def test_flag_not_on_track(fit):
    current = simulate(3, seed=7, end_reason="ongoing", start=9000)
    current = current[current["session"] <= 5].copy()
    tab = expected_recovery(fit, baseline=current["total"].iloc[0], sessions=range(1, 6))
    # episode e9000: latest score 3 points above its 90% upper limit
    current.loc[(current["episode_id"] == "e9000") & (current["session"] == 5), "total"] = (
        tab["upper_90"].iloc[4] + 3.0
    )
    # episode e9001 sits exactly on its expected curve
    e1 = current["episode_id"] == "e9001"
    tab1 = expected_recovery(fit, baseline=current.loc[e1, "total"].iloc[0],
                             sessions=range(1, 6))  # fmt: skip
    current.loc[e1, "total"] = tab1["expected"].to_numpy()
    # episode e9002 has only a baseline; a completed episode is never flagged
    current = current[~((current["episode_id"] == "e9002") & (current["session"] > 1))]
    done = simulate(1, seed=8, start=9500).assign(total=40.0)
    flags = flag_not_on_track(fit, pd.concat([current, done]), level=0.9).set_index("episode_id")
    assert flags.index.tolist() == ["e9000", "e9001", "e9002"]
    row = flags.loc["e9000"]
    assert bool(row["not_on_track"]) and row["latest_session"] == 5
    np.testing.assert_allclose(row["excess"], 3.0, rtol=1e-9)
    np.testing.assert_allclose(row["upper"], tab["upper_90"].iloc[4], rtol=1e-10)
    assert row["first_off_track_session"] <= 5
    assert not flags.loc["e9001", "not_on_track"]
    half = (tab1["upper_90"] - tab1["expected"]).iloc[4]
    np.testing.assert_allclose(flags.loc["e9001", "excess"], -half, rtol=1e-9)
    assert np.isnan(flags.loc["e9001", "first_off_track_session"])
    assert not flags.loc["e9002", "not_on_track"] and np.isnan(flags.loc["e9002", "excess"])


def test_false_alarm_rate_of_on_track_clients(fit):
    """Clients following the model exceed the 90% upper limit ~5% of the time at a rating."""
    new = simulate(600, seed=21, end_reason="ongoing", start=5000)
    flags = flag_not_on_track(fit, new, level=0.9)
    np.testing.assert_allclose(flags["not_on_track"].mean(), 0.05, atol=0.025)


def test_baseline_covariate_model_does_not_condition_twice():
    long = simulate(300, seed=3)
    fit_b = fit_trajectory(long, covariates=("baseline",), random="slope")
    tab = expected_recovery(fit_b, baseline=20.0, sessions=range(2, 5), levels=(0.9,))
    assert tab["session"].tolist() == [2, 3, 4]
    with_first = expected_recovery(fit_b, baseline=20.0, sessions=range(1, 5), levels=(0.9,))
    assert with_first.iloc[0][["expected", "lower_90", "upper_90"]].tolist() == [20.0] * 3
    np.testing.assert_allclose(with_first["expected"].iloc[1:], tab["expected"], rtol=1e-12)
    coef = fit_b.model.fe_params
    centred = 20.0 - fit_b.spec.centres["baseline"]
    want = coef["Intercept"] + coef["time"] * np.array([1.0, 2.0, 3.0]) + coef["baseline"] * centred
    np.testing.assert_allclose(tab["expected"], want, rtol=1e-10)


def test_errors():
    with pytest.raises(ValueError, match="sessions"):
        expected_recovery(None, baseline=10, sessions=[0, 1])


def test_table_draws_with_plot_expected_recovery(fit):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ipt_analytics.plotting import plot_expected_recovery

    tab = expected_recovery(fit, baseline=18.0, sessions=range(1, N_SESSIONS + 1))
    client = pd.DataFrame({"session": [1, 2, 3], "total": [18.0, 17.0, 25.0]})
    ax = plot_expected_recovery(tab, client=client)
    assert ax is not None
    plt.close("all")
