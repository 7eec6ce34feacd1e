"""Shared readers and checks for the lme4 reference CSVs (model, kind, name1, name2, value).

Not a test module: imported by the tests/test_mixed_*.py files that compare with lme4.
Tolerances are the project's: fixed effects rtol 1e-4, SEs and variance components 1e-3,
df 1e-2.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REF = Path(__file__).parent / "reference"
ISSUE9 = REF / "issue9"


def load(path: Path, model: str) -> pd.DataFrame:
    ref = pd.read_csv(path, keep_default_na=False, na_values=["NA"], dtype={"value": str})
    out = ref[ref["model"] == model]
    assert len(out), (path.name, model)
    return out


def values(ref: pd.DataFrame, kind: str, rename: dict | None = None) -> pd.Series:
    sub = ref[(ref["kind"] == kind) & (ref["name2"] == "")]
    names = [rename.get(n, n) if rename else n for n in sub["name1"]]
    return pd.Series(sub["value"].astype(float).to_numpy(), index=names)


def scalar(ref: pd.DataFrame, kind: str, name1: str = "", name2: str = "") -> float:
    sub = ref[(ref["kind"] == kind) & (ref["name1"] == name1) & (ref["name2"] == name2)]
    assert len(sub) == 1, (kind, name1, name2)
    return float(sub["value"].iloc[0])


def varcorr_key(grp, var1, var2) -> str:
    """lme4's ``grp|var1`` (+ ``/var2``) key of one ``as.data.frame(VarCorr())`` row."""
    key = f"{grp}|{var1 if isinstance(var1, str) else ''}"
    return key + (f"/{var2}" if isinstance(var2, str) and var2 else "")


def check_fit(res, ref, rename: dict, *, loglik_abs=1e-4, vc_rtol=1e-3, df_rtol=1e-2,
              vc_atol=1e-8, flat=False):  # fmt: skip
    """Fixed effects, SEs, df, vcov, VarCorr (variances and covariances), logLik, sigma.

    ``flat``: an optimum where the variance parameters are poorly determined (refits in R
    agree on logLik to 1e-8 but on variances only to ~1e-4): covariances of the fixed
    effects are then compared on the correlation scale (absolute 1e-3 of sd_a sd_b).
    """
    est = values(ref, "fixef", rename)
    fixed = res.fixed.set_index("term")
    np.testing.assert_allclose(res.fe_params[est.index], est, rtol=1e-4, atol=1e-8)
    se = values(ref, "se", rename)
    np.testing.assert_allclose(fixed.loc[se.index, "std_error"], se, rtol=1e-3)
    if res.df_method == "satterthwaite":
        df = values(ref, "df", rename)
        np.testing.assert_allclose(fixed.loc[df.index, "df"], df, rtol=df_rtol)
    assert res.loglik == pytest.approx(scalar(ref, "logLik"), abs=loglik_abs)
    assert res.sigma == pytest.approx(scalar(ref, "sigma"), rel=1e-3)
    assert res.nobs == int(scalar(ref, "nobs"))
    vc = res.varcorr
    keys = [varcorr_key(*r) for r in vc[["grp", "var1", "var2"]].values]
    got = dict(zip(keys, vc["vcov"], strict=True))
    want = ref[ref["kind"] == "varcov"]
    assert len(got) == len(want)
    for _, row in want.iterrows():
        key = row["name1"] + (f"/{row['name2']}" if row["name2"] else "")
        assert got[key] == pytest.approx(float(row["value"]), rel=vc_rtol, abs=vc_atol), key
    for _, row in ref[ref["kind"] == "vcov"].iterrows():
        a, b = rename.get(row["name1"], row["name1"]), rename.get(row["name2"], row["name2"])
        cov = res.cov_fixed
        atol = 1e-3 * np.sqrt(cov.loc[a, a] * cov.loc[b, b]) if flat else 1e-9
        assert cov.loc[a, b] == pytest.approx(float(row["value"]), rel=1e-3, abs=atol), (a, b)
