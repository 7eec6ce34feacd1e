"""Linear mixed models fitted the lme4 way (profiled deviance), with lmerTest df.

``fit_mixed(data, formula, *, groups, re_formula="1", vc=None, reml=True)`` returns a
:class:`MixedResult`. See :mod:`ipt_analytics.mixed.lmm` for the algorithm and
:mod:`ipt_analytics.mixed.satterthwaite` for the degrees of freedom.
"""

from .compare import compare_models
from .fit import fit_mixed
from .result import MixedResult

__all__ = ["fit_mixed", "MixedResult", "compare_models"]
