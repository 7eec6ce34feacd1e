"""Multiple-comparison adjustment of p-values (Holm, Benjamini-Hochberg).

The adjustment is ``statsmodels.stats.multitest.multipletests`` (``holm``, ``fdr_bh``); this
thin wrapper carries missing p-values through as NaN, in place, and leaves them out of the
family size (``multipletests`` counts a NaN as a member of the family). The
tests check the numbers against hand computation of the definitions (docs/definitions.md,
"Multiplicity").
"""

from __future__ import annotations

import numpy as np
from statsmodels.stats.multitest import multipletests

__all__ = ["P_ADJUST_METHODS", "p_adjust"]

#: accepted ``method`` values and what they mean
P_ADJUST_METHODS = {
    "holm": "Holm (1979) step-down, family-wise error rate",
    "bh": "Benjamini & Hochberg (1995) step-up, false discovery rate",
    "none": "no adjustment",
}

_STATSMODELS = {"holm": "holm", "bh": "fdr_bh"}


def p_adjust(p_values, *, method: str = "holm") -> np.ndarray:
    """Adjust a family of p-values for multiple comparisons.

    Holm S (1979) Scand J Stat 6:65-70; Benjamini Y, Hochberg Y (1995) J R Stat Soc B
    57:289-300. Same definitions as R's ``p.adjust(method = "holm" | "BH")``.

    Parameters
    ----------
    p_values : array_like
        Raw p-values; NaN entries stay NaN and do not count in the family size.
    method : {"holm", "bh", "none"}

    Returns
    -------
    numpy.ndarray
        Adjusted p-values in the input order, capped at 1.

    Examples
    --------
    >>> p_adjust([0.01, 0.04, 0.03], method="holm").round(4).tolist()
    [0.03, 0.06, 0.06]
    >>> p_adjust([0.01, 0.04, 0.03], method="bh").round(4).tolist()
    [0.03, 0.04, 0.04]
    """
    key = str(method).lower()
    if key == "fdr_bh":
        key = "bh"
    if key not in P_ADJUST_METHODS:
        raise ValueError(
            f"p_adjust(): method={method!r} is not allowed; use one of "
            f"{', '.join(P_ADJUST_METHODS)}."
        )
    p = np.asarray(p_values, dtype=float).copy()
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    pv = p[ok]
    m = pv.size
    if m == 0:
        return out
    if np.any((pv < 0) | (pv > 1)):
        raise ValueError("p_adjust(): p_values must lie in [0, 1]; fix the input p-values.")
    if key == "none":
        out[ok] = pv
        return out
    adjusted = multipletests(pv, method=_STATSMODELS[key])[1]
    out[ok] = np.minimum(adjusted, 1.0)
    return out
