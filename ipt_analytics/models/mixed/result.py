"""The result object of :func:`ipt_analytics.models.mixed.fit_mixed`.

All numbers are on the original scale of the data: the internal centring and
scaling of the design is undone exactly (linear maps kept by the design).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from ipt_analytics.models.mixed import design as _design
from ipt_analytics.models.mixed.compare import compare_models
from ipt_analytics.models.mixed.display import html_report, text_report
from ipt_analytics.models.mixed.kenward_roger import kenward_roger_for_result
from ipt_analytics.models.mixed.satterthwaite import VarparModel, ddf_matrix, ddf_vector

__all__ = ["MixedResult"]

_FIXED_COLUMNS = [
    "term", "estimate", "std_error", "df", "statistic", "p_value", "conf_low", "conf_high",
]  # fmt: skip


def _lower_factor(mat: np.ndarray) -> np.ndarray:
    """Lower-triangular F with F F' = mat @ mat.T and a non-negative diagonal (QR based).

    Works for singular ``mat`` too, where a Cholesky factorisation would fail.
    """
    r = np.linalg.qr(mat.T, mode="r")
    f = r.T
    signs = np.where(np.diag(f) < 0, -1.0, 1.0)
    return f * signs


class MixedResult:
    """A fitted linear mixed model (see :func:`ipt_analytics.models.mixed.fit_mixed`).

    Main attributes: ``fixed`` (tidy table of fixed effects), ``fe_params``,
    ``cov_fixed``, ``variance_components``, ``icc``, ``loglik``, ``aic``, ``bic``,
    ``nobs``, ``ngroups``, ``reml``, ``converged``, ``warnings``, ``theta``,
    ``sigma``, ``random_effects``, ``random_effects_vc``, ``vcov_varpar``; with
    ``df_method="kenward-roger"`` also ``cov_fixed_kr`` (the adjusted covariance that
    ``fixed``, ``linear_combination`` and ``f_test`` then use).
    """

    def __init__(self, *, problem, theta, reml, optinfo, warnings, converged, spec, data,
                 df_method="satterthwaite", conf_level=0.95, engine="ipt",
                 fitter=None):  # fmt: skip
        # fit_mixed passes itself so that refit() needs no import of fit.py (no cycle)
        self._fitter = fitter
        self._problem = problem
        self._design = d = problem.design
        self._data = data
        self._spec = spec
        self.formula = spec["formula"]
        self.re_formula = spec["re_formula"]
        self.groups = spec["groups"]
        self.vc = dict(spec["vc"] or {})
        self.reml = bool(reml)
        self.engine = engine
        self.df_method = df_method
        self.conf_level = conf_level
        self.optinfo = optinfo
        self.warnings = list(warnings)
        self.converged = bool(converged)
        self._theta_internal = np.asarray(theta, dtype=float)
        t_s, lam = problem.split(self._theta_internal)
        parts = problem.evaluate(t_s, lam, full=True)
        self.nobs = problem.n
        crit = problem.criterion(parts, self.reml)
        sigma2 = parts["pwrss"] / (problem.n - problem.p if self.reml else problem.n)
        self.sigma = float(np.sqrt(sigma2))
        names = d.x_names
        self.fe_params = pd.Series(d.x_map @ parts["beta"], index=names, name="estimate")
        cov = sigma2 * d.x_map @ parts["rx_inv"] @ d.x_map.T
        self.cov_fixed = pd.DataFrame(cov, index=names, columns=names)
        t_orig = _lower_factor(d.z_map @ t_s)
        self._t_orig = t_orig
        self.theta = problem.join(t_orig, lam)
        self.cov_re = pd.DataFrame(sigma2 * t_orig @ t_orig.T, index=d.z_names, columns=d.z_names)
        self.vc_variances = pd.Series(sigma2 * lam**2, index=d.vc_names, dtype=float)
        npar = problem.p + problem.n_theta + 1
        self.deviance = float(crit)
        self.loglik = -0.5 * float(crit)
        self.aic = float(crit + 2 * npar)
        self.bic = float(crit + npar * np.log(problem.n))
        self.npar = npar
        self.ngroups = {self.groups: int(d.g_levels.size)}
        for name, lv in zip(d.vc_names, d.vc_levels, strict=True):
            self.ngroups[name] = int(lv.size)
        b_groups = parts["b_groups"] @ d.z_map.T
        self.random_effects = pd.DataFrame(
            b_groups, index=pd.Index(d.g_levels, name=self.groups), columns=d.z_names
        )
        self.random_effects_vc = {}
        for k, name in enumerate(d.vc_names):
            lo, hi = problem.vc_offsets[k], problem.vc_offsets[k + 1]
            self.random_effects_vc[name] = pd.DataFrame(
                {"Intercept": parts["b_vc"][lo:hi]}, index=pd.Index(d.vc_levels[k], name=name)
            )
        self._fitted_random = self._random_part(d.zg @ np.linalg.inv(d.z_map), d.g_codes,
                                                d.vc_codes)  # fmt: skip
        self.vcov_varpar = None
        self._jac = None
        if df_method == "satterthwaite":
            vp = VarparModel(problem, self.reml)
            vcov, jac, msg = vp.derivatives(np.append(self.theta, self.sigma))
            self.vcov_varpar, self._jac = vcov, jac
            if msg:
                self.warnings.append("Satterthwaite df: " + msg + ".")
        self.cov_fixed_kr, self._kr = None, None
        if df_method == "kenward-roger":
            self._init_kenward_roger()
        self.fixed = self._fixed_table()

    @property
    def model_label(self) -> str:
        """The model in lme4-like notation, e.g. ``y ~ week + (week | client)``."""
        re = self.re_formula.strip().lstrip("~").strip()
        vc = "".join(f" + (1 | {col})" for col in self.vc.values())
        return f"{self.formula} + ({re} | {self.groups}){vc}"

    # -- derived tables ----------------------------------------------------------------
    @property
    def variance_components(self) -> pd.DataFrame:
        """Tidy variances, SDs and correlations (like lme4's ``as.data.frame(VarCorr())``).

        One row per variance (``term2`` missing) and per covariance (``term2`` set: the
        ``variance`` column then holds the covariance and ``correlation`` the
        correlation); the last row is the residual.
        """
        rows = []
        cov = self.cov_re.to_numpy()
        z = list(self.cov_re.index)
        sd = np.sqrt(np.diag(cov))
        for i, name in enumerate(z):
            rows.append((self.groups, name, None, cov[i, i], sd[i], np.nan))
        for j in range(len(z)):
            for i in range(j + 1, len(z)):
                corr = cov[i, j] / (sd[i] * sd[j]) if sd[i] > 0 and sd[j] > 0 else np.nan
                rows.append((self.groups, z[j], z[i], cov[i, j], np.nan, corr))
        for name, var in self.vc_variances.items():
            rows.append((name, "Intercept", None, var, np.sqrt(var), np.nan))
        rows.append(("Residual", None, None, self.sigma**2, self.sigma, np.nan))
        return pd.DataFrame(
            rows, columns=["group", "term1", "term2", "variance", "std_dev", "correlation"]
        )

    @property
    def random_effects_cov(self) -> np.ndarray:
        """Conditional covariance of each level's random effects, shape (levels, q, q).

        ``sigma^2 T (T'Z_i'Z_i T + I)^-1 T'`` on the original scale, in the row order of
        ``random_effects``. With ``vc`` factors it is conditional on their effects (the
        small coupling through shared therapists/groups is ignored).
        """
        pr, d = self._problem, self._design
        t_s, _ = pr.split(self._theta_internal)
        a = t_s.T @ pr.c @ t_s + np.eye(pr.q)
        cov_s = self.sigma**2 * t_s @ np.linalg.inv(a) @ t_s.T
        return d.z_map @ cov_s @ d.z_map.T

    @property
    def icc(self) -> pd.Series:
        """Share of the total variance at time 0 due to each factor's random intercept.

        ``icc[f] = var_f(intercept) / (sum of all random-intercept variances + sigma^2)``,
        evaluated where every random-slope covariate is 0 (e.g. week 0). NaN for
        ``groups`` when ``re_formula`` has no intercept.
        """
        ints = {}
        ints[self.groups] = (
            float(self.cov_re.loc["Intercept", "Intercept"])
            if "Intercept" in self.cov_re.index
            else np.nan
        )
        for name, var in self.vc_variances.items():
            ints[name] = float(var)
        total = np.nansum(list(ints.values())) + self.sigma**2
        return pd.Series({k: v / total for k, v in ints.items()}, name="icc", dtype=float)

    def _fixed_table(self) -> pd.DataFrame:
        rows = self.linear_combination(np.eye(len(self.fe_params)))
        rows.insert(0, "term", list(self.fe_params.index))
        return rows[_FIXED_COLUMNS].reset_index(drop=True)

    # -- contrasts ------------------------------------------------------------------------
    def _require_varpar(self):
        if self.vcov_varpar is None:
            raise ValueError(
                "MixedResult.satterthwaite_df(): Satterthwaite df are not available for this "
                f"fit (df_method={self.df_method!r} or a degenerate Hessian; see .warnings). "
                "Refit with df_method='satterthwaite' or use df_method='wald'."
            )

    def satterthwaite_df(self, L) -> float | np.ndarray:
        """Satterthwaite df as lmerTest computes them.

        ``L`` a vector (length p): the df of ``L'beta`` (``contest1D``). ``L`` a matrix:
        an array with the df of each row separately; for the F-test denominator df of
        the joint hypothesis (lmerTest ``contestMD``) use :meth:`f_test`.
        """
        self._require_varpar()
        arr = np.asarray(L, dtype=float)
        cov = self.cov_fixed.to_numpy()
        if arr.ndim == 1:
            return ddf_vector(arr, cov, self.vcov_varpar, self._jac)
        return np.array([ddf_vector(row, cov, self.vcov_varpar, self._jac) for row in arr])

    def f_test(self, L) -> pd.DataFrame:
        """Joint F test of ``L beta = 0`` (lmerTest ``contestMD`` with Satterthwaite df;
        with ``df_method="kenward-roger"`` pbkrtest's scaled F and df)."""
        if self._kr is not None:
            return self._kenward_roger_f_test(L)
        self._require_varpar()
        res = ddf_matrix(L, self.fe_params.to_numpy(), self.cov_fixed.to_numpy(),
                         self.vcov_varpar, self._jac)  # fmt: skip
        p = stats.f.sf(res["statistic"], res["num_df"], res["den_df"])
        return pd.DataFrame([{"num_df": res["num_df"], "den_df": res["den_df"],
                              "statistic": res["statistic"], "p_value": p}])  # fmt: skip

    def linear_combination(self, L) -> pd.DataFrame:
        """Estimate, SE, df, t (or z), p and CI of each row of ``L`` (rows = combinations)."""
        lmat = np.atleast_2d(np.asarray(L, dtype=float))
        p = len(self.fe_params)
        if lmat.shape[1] != p:
            raise ValueError(
                f"MixedResult.linear_combination(): L has {lmat.shape[1]} columns but the model "
                f"has {p} fixed effects ({', '.join(self.fe_params.index)})."
            )
        est = lmat @ self.fe_params.to_numpy()
        cov = (self.cov_fixed_kr if self._kr is not None else self.cov_fixed).to_numpy()
        se = np.sqrt(np.einsum("ij,jk,ik->i", lmat, cov, lmat))
        if self._kr is not None:
            df = np.array([self._kr.ddf(row) for row in lmat])
        elif self.df_method == "satterthwaite" and self.vcov_varpar is not None:
            df = np.array([self.satterthwaite_df(row) for row in lmat])
        else:
            df = np.full(len(est), np.inf)
        stat = est / se
        p_value = 2 * stats.t.sf(np.abs(stat), df)
        crit = stats.t.ppf(0.5 + self.conf_level / 2, df)
        return pd.DataFrame({"estimate": est, "std_error": se, "df": df, "statistic": stat,
                             "p_value": p_value, "conf_low": est - crit * se,
                             "conf_high": est + crit * se})  # fmt: skip

    # -- Kenward-Roger (models/mixed/kenward_roger.py) --------------------------------------
    def _init_kenward_roger(self) -> None:
        """Adjusted covariance (``cov_fixed_kr``) and the state for KR df (pbkrtest)."""
        self._kr = kenward_roger_for_result(self)
        names = list(self.fe_params.index)
        self.cov_fixed_kr = pd.DataFrame(self._kr.cov_adjusted, index=names, columns=names)

    def kenward_roger_df(self, L) -> float | np.ndarray:
        """Kenward-Roger df of ``L'beta`` (pbkrtest ``Lb_ddf``); one per row of a matrix."""
        if self._kr is None:
            raise ValueError(
                "MixedResult.kenward_roger_df(): this fit has df_method="
                f"{self.df_method!r}; refit with df_method='kenward-roger'."
            )
        arr = np.asarray(L, dtype=float)
        return self._kr.ddf(arr) if arr.ndim == 1 else np.array([self._kr.ddf(r) for r in arr])

    def _kenward_roger_f_test(self, L) -> pd.DataFrame:
        res = self._kr.f_test(L, self.fe_params.to_numpy())
        return pd.DataFrame([{k: res[k] for k in ("num_df", "den_df", "statistic", "p_value")}])

    # -- prediction -----------------------------------------------------------------------
    @property
    def design_info(self):
        """patsy ``DesignInfo`` of the fixed part (column names, factor levels, contrasts)."""
        return self._design.design_info

    def fixed_design(self, newdata: pd.DataFrame) -> np.ndarray:
        """Fixed-effects design rows for ``newdata`` (columns as ``fe_params``)."""
        return _design.fixed_rows(self._design.design_info, newdata)

    def _random_part(self, z_orig, g_codes, vc_codes) -> np.ndarray:
        b = self.random_effects.to_numpy()
        out = np.zeros(z_orig.shape[0])
        known = g_codes >= 0
        out[known] = np.einsum("ij,ij->i", z_orig[known], b[g_codes[known]])
        for k, name in enumerate(self._design.vc_names):
            vals = self.random_effects_vc[name]["Intercept"].to_numpy()
            ok = vc_codes[k] >= 0
            out[ok] += vals[vc_codes[k][ok]]
        return out

    def predict(self, newdata: pd.DataFrame | None = None, *, include_random: bool = False):
        """Predicted means.

        ``include_random=False`` (default): population level, ``X beta``.
        ``include_random=True``: adds the conditional modes (BLUPs) of ``groups`` and of
        every vc factor; levels not seen in the fit (new clients, missing ``vc`` values)
        get 0, i.e. the population prediction for that part.
        """
        if newdata is None:
            x = self._design.x @ np.linalg.inv(self._design.x_map)
            pred = x @ self.fe_params.to_numpy()
            if include_random:
                pred = pred + self._fitted_random
            return pd.Series(pred, index=self._design.rows, name="predicted")
        pred = self.fixed_design(newdata) @ self.fe_params.to_numpy()
        if include_random:
            z = _design.fixed_rows(self._design.z_design_info, newdata)
            g_codes = pd.Index(self._design.g_levels).get_indexer(newdata[self.groups])
            vc_codes = [
                pd.Index(lv).get_indexer(newdata[col])
                for lv, col in zip(self._design.vc_levels, self.vc.values(), strict=True)
            ]
            pred = pred + self._random_part(z, g_codes, vc_codes)
        return pd.Series(pred, index=newdata.index, name="predicted")

    # -- refit / compare ------------------------------------------------------------------
    def refit(self, *, reml: bool) -> MixedResult:
        """The same model fitted again with ``reml`` (REML or ML) on the same rows."""
        return self._fitter(self._data, self.formula, groups=self.groups,
                         re_formula=self.re_formula, vc=self.vc or None, reml=reml,
                         engine=self.engine if self.engine != "statsmodels" else "ipt",
                         df_method=self._refit_df_method(reml),
                         conf_level=self.conf_level)  # fmt: skip

    def _refit_df_method(self, reml: bool) -> str:
        # Kenward-Roger is REML-only: an ML refit (e.g. for compare()) uses Satterthwaite
        return "satterthwaite" if self.df_method == "kenward-roger" and not reml else self.df_method

    def compare(self, other: MixedResult) -> pd.DataFrame:
        """Likelihood-ratio test against another fit (see :func:`compare_models`)."""
        return compare_models(self, other)

    # -- display ----------------------------------------------------------------------------
    def summary(self, decimals: int = 3) -> str:
        """Plain-text summary; fit problems are shown in a banner at the top."""
        return text_report(self, decimals)

    def _repr_html_(self) -> str:
        return html_report(self, 3)

    def __repr__(self) -> str:
        status = "converged" if self.converged else "NOT CONVERGED"
        probs = f", {len(self.warnings)} warning(s)" if self.warnings else ""
        return (
            f"<MixedResult {self.model_label}"
            + f"; {'REML' if self.reml else 'ML'}, n={self.nobs}, "
            + f"loglik={self.loglik:.3f}, {status}{probs}>"
        )

    def fitted_means(self) -> pd.DataFrame:
        """Observed and fitted (population) means by rounded time, for a quick check.

        Returns a DataFrame indexed by the rounded time variable (the first non-intercept
        term of ``re_formula``) with columns ``observed`` and ``fitted``.
        """
        data = self._data
        outcome = self.formula.split("~")[0].strip()
        time = [c for c in self.cov_re.index if c != "Intercept"]
        key = time[0] if time and time[0] in data.columns else None
        if key is None:
            raise ValueError(
                "MixedResult.plot(kind='fitted'): needs a time column in re_formula; "
                "use kind='caterpillar'."
            )
        frame = pd.DataFrame(
            {key: data[key].round().to_numpy(), "observed": np.asarray(data[outcome], float),
             "fitted": self.predict().to_numpy()}
        )  # fmt: skip
        return frame.groupby(key).mean()

    def plot(self, ax=None, kind: str = "caterpillar"):
        """Caterpillar plot of the ``groups`` random intercepts (``kind='caterpillar'``)
        or observed vs fitted population means by rounded time (``kind='fitted'``).
        Returns the matplotlib Axes."""
        from ipt_analytics.plotting.mixed import plot_result

        return plot_result(self, ax=ax, kind=kind)
