"""Carry a fit's problems onto every table computed from it.

A number from a fit that did not converge must say so wherever it appears: each derived
table (marginal means, contrasts, slopes, effect sizes, recovery bands, not-on-track flags)
gets ``attrs["fit_converged"]`` and ``attrs["fit_warnings"]``, and a :class:`FitWarning`
is emitted when the fit did not converge.
"""

from __future__ import annotations

import warnings

import pandas as pd

from ipt_analytics.errors import FitWarning

__all__ = ["stamp_fit"]


def stamp_fit(table: pd.DataFrame, fit, *, caller: str) -> pd.DataFrame:
    """Record the fit's convergence and warnings on ``table.attrs``; returns ``table``.

    Examples
    --------
    >>> class Fit:
    ...     converged, warnings = False, ["the optimizer stopped early"]
    >>> import warnings as w
    >>> with w.catch_warnings(record=True) as caught:
    ...     w.simplefilter("always")
    ...     t = stamp_fit(pd.DataFrame({"estimate": [1.0]}), Fit(), caller="marginal_means")
    >>> t.attrs["fit_converged"], t.attrs["fit_warnings"]
    (False, ['the optimizer stopped early'])
    >>> str(caught[0].message)
    'marginal_means(): computed from a model fit that did NOT converge: the optimizer stopped early'
    """
    model = getattr(fit, "model", fit)
    converged = bool(getattr(model, "converged", True))
    problems = [str(w) for w in getattr(fit, "warnings", [])]
    table.attrs["fit_converged"] = converged
    table.attrs["fit_warnings"] = problems
    if not converged:
        warnings.warn(
            f"{caller}(): computed from a model fit that did NOT converge: " + "; ".join(problems),
            FitWarning,
            stacklevel=3,
        )
    return table
