"""Likelihood-ratio comparison of nested mixed models (like ``anova()`` in lme4)."""

from __future__ import annotations

import warnings as _warnings

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["compare_models"]


def compare_models(first, second, *, refit: bool = True) -> pd.DataFrame:
    """Likelihood-ratio test of two fits of nested models to the same rows.

    As lme4's ``anova()``: with ``refit=True`` (default) every REML fit is first refitted
    by maximum likelihood, and ``DataFrame.attrs["note"]`` says so; ``refit=False``
    compares the fits as they are (REML likelihoods are comparable only when both
    models have the same fixed effects, e.g. to test a variance component; the note
    says so otherwise). Rows are ordered by the number of parameters (smaller model
    first). The statistic is referred to a chi-square with df = difference in
    parameters; for a variance on its boundary this p-value is conservative.

    Returns
    -------
    DataFrame
        Columns ``model, npar, aic, bic, loglik, deviance, statistic, df, p_value``.
    """
    for obj in (first, second):
        # duck-typed: MixedResult imports this module, so it cannot be imported here
        if not (hasattr(obj, "_design") and hasattr(obj, "loglik")):
            raise TypeError(f"compare(): expected a MixedResult, got {type(obj).__name__}.")
    same_rows = first.nobs == second.nobs and first._design.rows.equals(second._design.rows)
    same_y = same_rows and np.array_equal(first._design.y, second._design.y)
    if not same_y:
        raise ValueError(
            f"compare(): the two models were not fitted to the same rows ({first.nobs} vs "
            f"{second.nobs} observations). Drop the rows with missing values in either model "
            "first and refit both on the same data."
        )
    note = ""
    fits = [first, second]
    if any(f.reml for f in fits):
        if refit:
            with _warnings.catch_warnings():
                _warnings.simplefilter("ignore")
                fits = [f.refit(reml=False) if f.reml else f for f in fits]
            note = (
                "REML fits were refitted by ML before the test (as lme4's anova() does; "
                "refit=False compares the REML fits)."
            )
        elif list(first.fe_params.index) != list(second.fe_params.index) or not all(
            f.reml for f in fits
        ):
            note = (
                "refit=False: REML likelihoods of models with different fixed effects (or a "
                "REML with an ML fit) are not comparable; this test is not valid."
            )
    fits.sort(key=lambda f: f.npar)
    rows = []
    for i, f in enumerate(fits):
        dev = -2 * f.loglik
        row = {"model": f.model_label, "npar": f.npar, "aic": f.aic,
            "bic": f.bic, "loglik": f.loglik, "deviance": dev, "statistic": np.nan,
            "df": np.nan, "p_value": np.nan}  # fmt: skip
        if i == 1:
            stat = max(-2 * fits[0].loglik - dev, 0.0)
            ddf = f.npar - fits[0].npar
            row.update(statistic=stat, df=float(ddf),
                       p_value=stats.chi2.sf(stat, ddf) if ddf > 0 else np.nan)  # fmt: skip
        rows.append(row)
    out = pd.DataFrame(rows)
    out.attrs["note"] = note
    return out
