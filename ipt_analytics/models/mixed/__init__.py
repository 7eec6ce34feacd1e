"""Linear mixed models fitted the lme4 way (profiled deviance), with lmerTest df.

``fit_mixed(data, formula, *, groups, re_formula="1", vc=None, reml=True)`` returns a
:class:`MixedResult`. See :mod:`ipt_analytics.models.mixed.lmm` for the algorithm and
:mod:`ipt_analytics.models.mixed.satterthwaite` for the degrees of freedom.
"""

from ipt_analytics.models.mixed.compare import compare_models
from ipt_analytics.models.mixed.fit import fit_mixed
from ipt_analytics.models.mixed.result import MixedResult

__all__ = ["fit_mixed", "MixedResult", "compare_models"]
