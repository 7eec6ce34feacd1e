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


def _make_unique(names: list) -> list:
    """R's ``make.unique``: the second ``a`` becomes ``a.1``, the third ``a.2``."""
    seen: dict = {}
    out = []
    for name in names:
        if name in seen:
            seen[name] += 1
            out.append(f"{name}.{seen[name]}")
        else:
            seen[name] = 0
            out.append(name)
    return out


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
        self.formula = spec["formula"]  # the fixed part
        self._full_formula = spec.get("full_formula")  # lme4 syntax, when given that way
        self._syntax = self._full_formula is not None
        self._terms = list(d.terms) or _design.old_api_terms(
            spec["groups"], spec["re_formula"], spec["vc"]
        )
        main = self._terms[0]
        self.re_formula = main.lhs if self._syntax else spec["re_formula"]
        self.groups = main.name if self._syntax else spec["groups"]
        self.vc = dict(spec["vc"] or {})
        n_main = len(d.z_names) if main.diag else 1
        names = _make_unique(
            [self.groups] * n_main
            + ([t.name for t in self._terms[1:]] if self._syntax else list(d.vc_names))
        )
        self._main_names, self._vc_names = names[:n_main], names[n_main:]
        self._vc_z_names = list(d.vc_z_names) or [["Intercept"]] * len(d.vc_codes)
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
        self._vc_t = problem.term_factors(lam)  # T_k of the other terms (original scale)
        self.vc_cov = {
            name: pd.DataFrame(sigma2 * tk @ tk.T, index=zn, columns=zn)
            for name, tk, zn in zip(self._vc_names, self._vc_t, self._vc_z_names, strict=True)
        }  # covariance of each other term's random effects
        # one-column terms (random intercepts, the vc= factors): their variance
        self.vc_variances = pd.Series(
            {n: float(c.iloc[0, 0]) for n, c in self.vc_cov.items() if c.shape == (1, 1)},
            dtype=float,
        )
        npar = problem.p + problem.n_theta + 1
        self.deviance = float(crit)
        self.loglik = -0.5 * float(crit)
        self.aic = float(crit + 2 * npar)
        self.bic = float(crit + npar * np.log(problem.n))
        self.npar = npar
        self.ngroups = {self.groups: int(d.g_levels.size)}
        other = [t.name for t in self._terms[1:]] if self._syntax else self._vc_names
        for name, lv in zip(other, d.vc_levels, strict=True):
            self.ngroups.setdefault(name, int(lv.size))  # lme4's ngrps: one per factor
        b_groups = parts["b_groups"] @ d.z_map.T
        self.random_effects = pd.DataFrame(
            b_groups, index=pd.Index(d.g_levels, name=self.groups), columns=d.z_names
        )
        self.random_effects_vc = {}
        for k, name in enumerate(self._vc_names):
            lo, hi = problem.vc_offsets[k], problem.vc_offsets[k + 1]
            self.random_effects_vc[name] = pd.DataFrame(
                parts["b_vc"][lo:hi].reshape(-1, problem.vc_q[k]),
                index=pd.Index(d.vc_levels[k], name=name),
                columns=self._vc_z_names[k],
            )
        self._fitted_random = self._random_part(d.zg @ np.linalg.inv(d.z_map), d.g_codes,
                                                d.vc_codes, self._design_vc_z())  # fmt: skip
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

    # -- pickling ---------------------------------------------------------------------------
    def __setstate__(self, state):
        # patsy's DesignInfo cannot be pickled (Design.__getstate__ drops it); the rows
        # kept in ``_data`` rebuild it exactly
        self.__dict__.update(state)
        if self._design.design_info is None:
            _design.rebuild_design_info(self._design, self._data, self.formula)

    @property
    def optimizer(self) -> str:
        """The optimiser step that reached the reported optimum (see ``optinfo``)."""
        if not self.optinfo:
            return "none"
        crit = min(step[2] for step in self.optinfo)
        for step in self.optinfo:
            if step[2] <= crit + 1e-10 * max(1.0, abs(crit)):
                return step[0]
        return self.optinfo[-1][0]

    @property
    def model_label(self) -> str:
        """The model in lme4-like notation, e.g. ``y ~ week + (week | client)``."""
        if self._syntax:
            return self._full_formula
        re = self.re_formula.strip().lstrip("~").strip()
        vc = "".join(f" + (1 | {col})" for col in self.vc.values())
        return f"{self.formula} + ({re} | {self.groups}){vc}"

    # -- derived tables ----------------------------------------------------------------
    def _re_terms(self) -> list:
        """(group name as lme4 prints it, term names, covariance matrix) per random term.

        lme4's order and names: an uncorrelated ``(week || client)`` gives the separate
        terms ``client`` and ``client.1``; repeated names get ``.1``, ``.2`` (make.unique).
        """
        cov = self.cov_re.to_numpy()
        names = list(self.cov_re.index)
        if self._terms[0].diag:
            pairs = enumerate(zip(self._main_names, names, strict=True))
            out = [(g, [n], cov[[i]][:, [i]]) for i, (g, n) in pairs]
        else:
            out = [(self.groups, names, cov)]
        for name, c in self.vc_cov.items():
            out.append((name, list(c.index), c.to_numpy()))
        return out

    def _re_structure(self):
        """Random-effects structure for Kenward-Roger and other covariance-based methods.

        Returns ``(Z, dG)``:

        * ``Z``: ``scipy.sparse.csc_matrix`` (n x q) of the random-effects design on the
          ORIGINAL scale of the data, rows in the order of the fit's rows (``predict()``),
          columns term by term in the order of :meth:`_re_terms` / ``theta`` (main factor
          first), within a term level by level (sorted levels, as ``random_effects``),
          within a level the term's columns (as ``cov_re`` / ``vc_cov``).
        * ``dG``: list of ``scipy.sparse.csc_matrix`` (q x q), one per variance parameter
          in the order of ``vcov_varpar`` (= ``theta`` then sigma): the derivative of
          ``G = Cov(b)`` with respect to the covariance parameter ``tau_k`` that sits
          where ``theta_k`` sits in its term's relative factor: ``tau_k = G_term[i, j]``
          for ``theta_k`` at ``(i, j)``, so ``dG/dtau_k`` has ones at ``(i, j)`` and
          ``(j, i)`` of every level's block of that term (G is linear in tau). The last
          entry (sigma^2, the residual variance: ``R = sigma^2 I``) is the zero matrix.
          The current values are ``G = sum_k tau_k dG_k`` with ``tau`` read from
          ``cov_re`` / ``vc_cov``.
        """
        from scipy import sparse

        d, pr = self._design, self._problem
        n = pr.n
        blocks, dgs = [], []
        z_main = d.zg @ np.linalg.inv(d.z_map)
        terms = [(z_main, d.g_codes, d.g_levels.size, pr.tri)]
        others = zip(self._design_vc_z(), d.vc_codes, d.vc_levels, pr.vc_tri, strict=True)
        terms += [(z, c, lv.size, tk) for z, c, lv, tk in others]
        sizes = [nl * z.shape[1] for z, _, nl, _ in terms]
        q_total = int(sum(sizes))
        offset = 0
        for z, codes, nl, tri in terms:
            qk = z.shape[1]
            ok = codes >= 0
            rows = np.repeat(np.flatnonzero(ok), qk)
            cols = (offset + codes[ok][:, None] * qk + np.arange(qk)).ravel()
            blocks.append(sparse.csc_matrix((z[ok].ravel(), (rows, cols)), shape=(n, q_total)))
            base = offset + np.arange(nl) * qk
            for i, j in tri:
                r = np.concatenate([base + i, base + j]) if i != j else base + i
                c = np.concatenate([base + j, base + i]) if i != j else base + i
                dgs.append(sparse.csc_matrix((np.ones(r.size), (r, c)), shape=(q_total,) * 2))
            offset += nl * qk
        zmat = sum(blocks[1:], blocks[0]).tocsc()
        dgs.append(sparse.csc_matrix((q_total, q_total)))
        return zmat, dgs

    @property
    def varcorr(self) -> pd.DataFrame:
        """Variances, covariances, SDs and correlations exactly as lme4 lays them out.

        The rows and names of R's ``as.data.frame(VarCorr(fit))``: per random-effects term,
        first one row per variance (``var2`` missing), then one per covariance; the
        residual last (``grp = "Residual"``). ``vcov`` is the variance or covariance,
        ``sdcor`` the SD or correlation. The intercept is named ``(Intercept)``.

        Examples
        --------
        >>> import numpy as np, pandas as pd
        >>> rng = np.random.default_rng(1)
        >>> g = np.repeat(np.arange(20), 5)
        >>> t = np.tile(np.arange(5.0), 20)
        >>> y = (10 - t + rng.normal(0, 2, 20)[g] + rng.normal(0, 0.5, 20)[g] * t
        ...      + rng.normal(0, 1, 100))
        >>> from ipt_analytics.models.mixed import fit_mixed
        >>> res = fit_mixed(pd.DataFrame({"y": y, "t": t, "g": g}), "y ~ t", groups="g",
        ...                 re_formula="~t")
        >>> res.varcorr[["grp", "var1", "var2"]].fillna("").values.tolist()
        [['g', '(Intercept)', ''], ['g', 't', ''], ['g', '(Intercept)', 't'], ['Residual', '', '']]
        """

        def lme4_name(term):
            return "(Intercept)" if term == "Intercept" else term

        rows = []
        for grp, names, cov in self._re_terms():
            sd = np.sqrt(np.clip(np.diag(cov), 0, None))
            for i, name in enumerate(names):
                rows.append((grp, lme4_name(name), None, cov[i, i], sd[i]))
            for j in range(len(names)):
                for i in range(j + 1, len(names)):
                    den = sd[i] * sd[j]
                    corr = cov[i, j] / den if den > 0 else np.nan
                    rows.append((grp, lme4_name(names[j]), lme4_name(names[i]), cov[i, j], corr))
        rows.append(("Residual", None, None, self.sigma**2, self.sigma))
        return pd.DataFrame(rows, columns=["grp", "var1", "var2", "vcov", "sdcor"])

    @property
    def variance_components(self) -> pd.DataFrame:
        """Tidy variances, SDs and correlations (like lme4's ``as.data.frame(VarCorr())``).

        One row per variance (``term2`` missing) and per covariance (``term2`` set: the
        ``variance`` column then holds the covariance and ``correlation`` the
        correlation); the last row is the residual.
        """
        rows = []
        for grp, z, cov in self._re_terms():
            sd = np.sqrt(np.clip(np.diag(cov), 0, None))
            for i, name in enumerate(z):
                rows.append((grp, name, None, cov[i, i], sd[i], np.nan))
            for j in range(len(z)):
                for i in range(j + 1, len(z)):
                    corr = cov[i, j] / (sd[i] * sd[j]) if sd[i] > 0 and sd[j] > 0 else np.nan
                    rows.append((grp, z[j], z[i], cov[i, j], np.nan, corr))
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

    def _design_vc_z(self) -> list:
        d = self._design
        return list(d.vc_z) or [np.ones((d.y.size, 1)) for _ in d.vc_codes]

    def _random_part(self, z_orig, g_codes, vc_codes, vc_z) -> np.ndarray:
        b = self.random_effects.to_numpy()
        out = np.zeros(z_orig.shape[0])
        known = g_codes >= 0
        out[known] = np.einsum("ij,ij->i", z_orig[known], b[g_codes[known]])
        for k, name in enumerate(self._vc_names):
            vals = self.random_effects_vc[name].to_numpy()
            ok = vc_codes[k] >= 0
            out[ok] += np.einsum("ij,ij->i", vc_z[k][ok], vals[vc_codes[k][ok]])
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
            d = self._design
            z = _design.fixed_rows(d.z_design_info, newdata)
            labels = [_design.factor_labels(newdata, t.factors) for t in self._terms]
            g_codes = pd.Index(d.g_levels).get_indexer(labels[0])
            vc_codes = [pd.Index(lv).get_indexer(lab)
                        for lv, lab in zip(d.vc_levels, labels[1:], strict=True)]  # fmt: skip
            if d.vc_design_infos:
                vc_z = [_design.fixed_rows(info, newdata) for info in d.vc_design_infos]
            else:
                vc_z = [np.ones((len(newdata), 1)) for _ in vc_codes]
            pred = pred + self._random_part(z, g_codes, vc_codes, vc_z)
        return pd.Series(pred, index=newdata.index, name="predicted")

    # -- refit / compare ------------------------------------------------------------------
    def refit(self, *, reml: bool) -> MixedResult:
        """The same model fitted again with ``reml`` (REML or ML) on the same rows."""
        if self._syntax:
            return self._fitter(self._data, self._full_formula, reml=reml,
                                missing_groups=self._spec.get("missing_groups", "drop"),
                                engine=self.engine, df_method=self._refit_df_method(reml),
                                conf_level=self.conf_level)  # fmt: skip
        return self._fitter(self._data, self.formula, groups=self.groups,
                         re_formula=self.re_formula, vc=self.vc or None, reml=reml,
                         missing_groups=self._spec.get("missing_groups", "drop"),
                         engine=self.engine if self.engine != "statsmodels" else "ipt",
                         df_method=self._refit_df_method(reml),
                         conf_level=self.conf_level)  # fmt: skip

    def _refit_df_method(self, reml: bool) -> str:
        # Kenward-Roger is REML-only: an ML refit (e.g. for compare()) uses Satterthwaite
        return "satterthwaite" if self.df_method == "kenward-roger" and not reml else self.df_method

    def compare(self, other: MixedResult, *, refit: bool = True) -> pd.DataFrame:
        """Likelihood-ratio test against another fit, as lme4's ``anova()``.

        REML fits are refitted by ML first unless ``refit=False`` (see
        :func:`compare_models`).
        """
        return compare_models(self, other, refit=refit)

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
        return frame.groupby(key, observed=True).mean()

    def plot(self, ax=None, kind: str = "caterpillar"):
        """Caterpillar plot of the ``groups`` random intercepts (``kind='caterpillar'``)
        or observed vs fitted population means by rounded time (``kind='fitted'``).
        Returns the matplotlib Axes."""
        from ipt_analytics.plotting.mixed import plot_result

        return plot_result(self, ax=ax, kind=kind)
