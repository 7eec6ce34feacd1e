"""build_design encodes text factors as Categoricals for speed: the design must equal
patsy's own, built from the untouched columns of strings (names, columns, rows, levels).

Reference: patsy.dmatrices / patsy.dmatrix on the raw frame restricted to the rows the
fit uses (the construction the engine used before), on the R-parity data sets and the
sample cohort model frame.
"""

import re
from pathlib import Path

import numpy as np
import pandas as pd
import patsy
import pytest

from ipt_analytics.models.mixed.design import build_design, categorise_text_columns
from ipt_analytics.models.mixed.formula import split_formula

REF = Path(__file__).parent / "reference"

CASES = [
    ("data/weekly_500.csv", "y ~ week * C(format) + (week | client)", "drop"),
    ("issue9/data/multi.csv",
     "y ~ week * format + (week | client) + (week | therapist_unique)", "drop"),
    ("issue9/data/missing.csv", "y ~ week * format + (week | client) + (1 | therapist)",
     "drop"),
    ("sample_phq9_long.csv",
     "total ~ week * format + problem_area + C(medication) + (week | episode_id) "
     "+ (1 | therapist_id) + (0 + in_group | group_id)", "no_effect"),
    ("sample_phq9_long.csv",
     "total ~ week * C(format, Treatment('individual')) + (week | episode_id)", "drop"),
]


def _patsy_reference(raw: pd.DataFrame, formula: str, design):
    fixed, terms = split_formula(formula)
    sub = raw.loc[design.rows]
    y, x = patsy.dmatrices(fixed, sub, NA_action="raise", return_type="dataframe")
    zs = [patsy.dmatrix("~ " + t.lhs, sub, NA_action="raise", return_type="dataframe")
          for t in design.terms]
    return y, x, zs


def _check(raw: pd.DataFrame, formula: str, missing: str):
    fixed, terms = split_formula(formula)
    design = build_design(raw, fixed, None, None, None, missing, terms)
    y, x, zs = _patsy_reference(raw, formula, design)
    assert design.x_names == list(x.columns)
    np.testing.assert_allclose(design.x @ np.linalg.inv(design.x_map), x.to_numpy(),
                               rtol=1e-12, atol=1e-9)
    np.testing.assert_array_equal(design.y, y.to_numpy()[:, 0])
    assert design.z_names == list(zs[0].columns)
    np.testing.assert_allclose(design.zg @ np.linalg.inv(design.z_map), zs[0].to_numpy(),
                               rtol=1e-12, atol=1e-9)
    assert design.vc_z_names == [list(z.columns) for z in zs[1:]]
    for got, want in zip(design.vc_z, zs[1:], strict=True):
        np.testing.assert_array_equal(got, want.to_numpy())
    # predictions for new rows go through the stored design_info with plain strings
    new = raw.loc[design.rows[:5]]
    (rows,) = patsy.build_design_matrices([design.design_info], new, NA_action="raise")
    np.testing.assert_allclose(np.asarray(rows), x.to_numpy()[:5], rtol=1e-12, atol=1e-12)
    return design


@pytest.mark.parametrize(("path", "formula", "missing"), CASES)
def test_design_equals_patsy_on_parity_data(path, formula, missing):
    raw = pd.read_csv(REF / path)
    assert categorise_text_columns(raw, [formula])[1]  # text columns are converted
    _check(raw, formula, missing)


def test_levels_only_in_dropped_rows_are_not_columns():
    # "telehealth" occurs only in a row dropped for a missing outcome: patsy, given the
    # kept rows as strings, never sees it; the Categorical path must drop it too
    raw = pd.DataFrame({
        "y": [1.0, 2.0, 3.5, 4.0, 5.5, 6.0, np.nan, 8.0],
        "week": [0.0, 1, 0, 1, 0, 1, 2, 2],
        "fmt": ["b", "a", "b", "a", "b", "a", "telehealth", "b"],
        "client": ["c1", "c1", "c2", "c2", "c3", "c3", "c3", "c1"],
    })
    design = _check(raw, "y ~ week + fmt + (1 | client)", "drop")
    assert design.x_names == ["Intercept", "fmt[T.b]", "week"]
    assert design.n_dropped == 1


def test_mixed_types_are_left_to_patsy():
    raw = pd.DataFrame({
        "y": np.arange(12.0) % 5, "site": ["a", 1, "b"] * 4,
        "client": np.repeat(["c1", "c2", "c3", "c4"], 3),
    })
    assert categorise_text_columns(raw, ["y ~ C(site)"])[1] == []
    design = _check(raw, "y ~ C(site) + (1 | client)", "drop")
    assert len(design.x_names) == 3


def test_nested_vc_fast_path_equals_dense_cholesky():
    # clients nested in therapists: the vc block of the Schur complement is diagonal and
    # the engine factors it in O(m p^2); the general dense Cholesky is the reference
    from ipt_analytics.models.mixed.lmm import Problem

    raw = pd.read_csv(REF / "issue9/data/missing.csv").dropna()
    fixed, terms = split_formula("y ~ week * format + (week | client) + (1 | therapist)")
    problem = Problem(build_design(raw, fixed, None, None, None, "drop", terms))
    assert problem.mm_diagonal
    theta = np.array([0.8, -0.1, 0.3, 0.6])
    for reml in (True, False):
        fast = problem.deviance_and_gradient(theta, reml)
        full_fast = problem.evaluate(*problem.split(theta), full=True)
        plain_fast = problem._evaluate(*problem.split(theta), full=False)  # diagonal path
        problem.mm_diagonal = False
        problem._cache.clear()
        dense = problem.deviance_and_gradient(theta, reml)
        full_dense = problem.evaluate(*problem.split(theta), full=True)
        plain_dense = problem._evaluate(*problem.split(theta), full=False)
        for key in ("ldL2", "ldRX2", "pwrss", "rx_inv"):
            np.testing.assert_allclose(plain_fast[key], plain_dense[key], rtol=1e-10, atol=1e-14)
        problem.mm_diagonal = True
        problem._cache.clear()
        np.testing.assert_allclose(fast[0], dense[0], rtol=1e-12)
        np.testing.assert_allclose(fast[1], dense[1], rtol=1e-9, atol=1e-9)
        for key in ("beta", "rx_inv", "b_groups", "b_vc"):
            np.testing.assert_allclose(full_fast[key], full_dense[key], rtol=1e-9, atol=1e-12)


# -- direct encoding (models/mixed/encode.py) against patsy on many formulas ------------------


def _synthetic(seed: int = 11) -> pd.DataFrame:
    """Weekly rows with text, integer and Categorical factors and missing values in the
    outcome, a covariate, a factor and the grouping column; the level "rural" of ``site``
    occurs only in rows dropped for a missing outcome."""
    rng = np.random.default_rng(seed)
    n = 240
    client = np.repeat([f"c{i:02d}" for i in range(40)], 6)
    raw = pd.DataFrame({
        "y": rng.normal(12, 3, n).round(3),
        "week": np.tile(np.arange(6.0), 40),
        "fmt": rng.choice(["group", "individual", "telehealth"], n),
        "arm": rng.choice(["control", "ipt"], n),
        "site": rng.choice(["north", "south"], n),
        "sessions": rng.integers(1, 4, n),
        "dose": pd.Categorical(rng.choice(["low", "mid", "high"], n),
                               categories=["low", "mid", "high"]),
        "client": client,
        "therapist": np.repeat([f"t{i}" for i in range(8)], 30),
    })  # fmt: skip
    raw.loc[[3, 50, 51], "y"] = np.nan
    raw.loc[[7, 90], "week"] = np.nan
    raw.loc[[12], "fmt"] = None
    raw.loc[[100], "client"] = None
    raw.loc[[50, 51], "site"] = "rural"  # only in rows without an outcome
    return raw


DIRECT = [
    "y ~ week + (1 | client)",
    "y ~ week * fmt + (week | client)",
    "y ~ fmt * arm + (1 | client)",
    "y ~ week * fmt * arm + (week | client)",
    "y ~ 0 + fmt + week + (1 | client)",
    "y ~ fmt + week - 1 + (0 + week | client)",
    "y ~ C(fmt, Treatment('individual')) * week + (week | client)",
    "y ~ C(sessions) + week + site + (1 | client)",
    "y ~ fmt:week + (1 | client)",
    "y ~ week + fmt:arm + (1 | client) + (1 | therapist)",
    "y ~ C(arm, Sum) * week + dose + (week || client)",
    "y ~ dose * week + (1 + arm | therapist) + (1 | client)",
    "y ~ C(fmt, levels=['telehealth', 'group', 'individual']) + week + (1 | client)",
    "y ~ C(week) + arm + (1 | client)",
]
VIA_PATSY = [
    "y ~ np.log(week + 1) * fmt + (1 | client)",
    "y ~ I(week ** 2) + fmt + (1 | client)",
    "y ~ center(sessions) + fmt + (center(sessions) | client)",
]


@pytest.mark.parametrize("formula", DIRECT)
def test_direct_design_equals_patsy(formula, monkeypatch):
    from ipt_analytics.models.mixed import design as design_module

    def refuse(*args, **kwargs):
        raise AssertionError("the direct encoding should have built this design")

    monkeypatch.setattr(design_module, "_patsy_frames", refuse)
    raw = _synthetic()
    design = _check(raw, formula, "drop")
    assert "site[T.rural]" not in design.x_names
    # rows kept: those with every variable of the model present (lme4's na.omit)
    used = [c for c in raw.columns if re.search(rf"\b{c}\b", formula)]
    np.testing.assert_array_equal(design.rows, raw.index[raw[used].notna().all(axis=1)])


@pytest.mark.parametrize("formula", VIA_PATSY)
def test_expressions_are_left_to_patsy(formula, monkeypatch):
    from ipt_analytics.models.mixed import design as design_module

    used = []
    original = design_module._patsy_frames
    monkeypatch.setattr(design_module, "_patsy_frames",
                        lambda *a, **k: used.append(1) or original(*a, **k))  # fmt: skip
    _check(_synthetic(), formula, "drop")
    assert used == [1]


def test_repeated_index_labels_are_a_clear_error():
    from ipt_analytics.errors import SchemaError

    raw = _synthetic()
    twice = pd.concat([raw, raw.assign(client=raw["client"] + "b")])
    with pytest.raises(SchemaError, match="reset_index"):
        build_design(twice, "y ~ week", "client", "1", None)
    design = build_design(twice.reset_index(drop=True), "y ~ week", "client", "1", None)
    assert design.rows.size == 2 * build_design(raw, "y ~ week", "client", "1", None).rows.size
