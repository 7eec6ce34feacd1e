"""Satterthwaite degrees of freedom for linear combinations of fixed effects.

Follows lmerTest 3.1 (Kuznetsova, Brockhoff & Christensen 2017, J Stat Softw 82(13))
step by step, so the numbers agree with ``summary(lmerTest::lmer(...))``,
``contest()`` and emmeans with ``lmer.df = "satterthwaite"``:

* variance parameters ``varpar = (theta, sigma)`` with theta the lme4 relative
  Cholesky factor **on the original scale** of the random-effects design;
* ``A = 2 H^-1`` where ``H`` is the Hessian of the (unprofiled) ML or REML deviance
  w.r.t. varpar (eigen pseudo-inverse over eigenvalues > 1e-8, as lmerTest);
* ``J_k = d Cov(beta) / d varpar_k`` by finite differences;
* for a contrast vector ``L``: ``df = 2 (L'CL)^2 / (g'Ag)``, ``g_k = L'J_kL``;
* for a contrast matrix: lmerTest's ``contestMD`` (eigen-decomposition of ``LCL'``
  into independent t-statistics, combined by the moment-matching of its
  ``get_Fstat_ddf``).

Both derivatives use the Richardson extrapolation of R's numDeriv package (same
step sizes: ``d = 0.1`` for the Hessian, ``d = 1e-4`` for the Jacobian, 4 halvings),
which makes the agreement with lmerTest close to exact.
"""

from __future__ import annotations

import numpy as np

__all__ = ["numderiv_hessian", "numderiv_jacobian", "VarparModel", "ddf_vector", "ddf_matrix"]

_ZERO_TOL = np.sqrt(np.finfo(float).eps / 7e-7)


def _steps(x: np.ndarray, d: float, eps: float = 1e-4) -> np.ndarray:
    return np.abs(d * x) + eps * (np.abs(x) < _ZERO_TOL)


def _richardson(a: list, r: int) -> np.ndarray:
    a = [np.asarray(v, dtype=float) for v in a]
    for m in range(1, r):
        a = [(a[k + 1] * 4**m - a[k]) / (4**m - 1) for k in range(r - m)]
    return a[0]


def numderiv_hessian(f, x, d: float = 0.1, r: int = 4, v: float = 2.0) -> np.ndarray:
    """Hessian of a scalar function by numDeriv's ``genD`` Richardson scheme.

    Examples
    --------
    >>> h = numderiv_hessian(lambda z: z[0] ** 2 * z[1] + z[1] ** 3, np.array([1.0, 2.0]))
    >>> np.round(h, 6)
    array([[ 4.,  2.],
           [ 2., 12.]])
    """
    x = np.asarray(x, dtype=float)
    n = x.size
    f0 = f(x)
    h0 = _steps(x, d)
    e = np.eye(n)
    hdiag = np.zeros(n)
    for i in range(n):
        h, ap = h0.copy(), []
        for _ in range(r):
            f1, f2 = f(x + e[i] * h), f(x - e[i] * h)
            ap.append((f1 - 2 * f0 + f2) / h[i] ** 2)
            h = h / v
        hdiag[i] = _richardson(ap, r)
    hess = np.diag(hdiag)
    for i in range(n):
        for j in range(i):
            h, ap = h0.copy(), []
            for _ in range(r):
                step = e[i] * h + e[j] * h
                f1, f2 = f(x + step), f(x - step)
                ap.append(
                    (f1 - 2 * f0 + f2 - hdiag[i] * h[i] ** 2 - hdiag[j] * h[j] ** 2)
                    / (2 * h[i] * h[j])
                )
                h = h / v
            hess[i, j] = hess[j, i] = _richardson(ap, r)
    return hess


def numderiv_jacobian(f, x, d: float = 1e-4, r: int = 4, v: float = 2.0) -> np.ndarray:
    """Jacobian (rows = outputs) by numDeriv's Richardson ``jacobian``.

    Examples
    --------
    >>> j = numderiv_jacobian(lambda z: np.array([z[0] * z[1], z[1] ** 2]), np.array([3.0, 2.0]))
    >>> np.round(j, 8)
    array([[2., 3.],
           [0., 4.]])
    """
    x = np.asarray(x, dtype=float)
    n = x.size
    e = np.eye(n)
    h = _steps(x, d)
    cols = [[] for _ in range(n)]
    for _ in range(r):
        for i in range(n):
            diff = np.asarray(f(x + e[i] * h)) - np.asarray(f(x - e[i] * h))
            cols[i].append(diff / (2 * h[i]))
        h = h / v
    return np.stack([_richardson(c, r) for c in cols], axis=1)


class VarparModel:
    """Deviance and Cov(beta) as functions of lmerTest's varpar = (theta, sigma)."""

    def __init__(self, problem, reml: bool):
        self.problem = problem
        self.reml = reml
        design = problem.design
        self.p_inv = np.linalg.inv(design.z_map)
        self.x_map = design.x_map

    def _parts(self, varpar: np.ndarray):
        t_orig, lam = self.problem.split(varpar[:-1])
        # memoised by the problem: the Jacobian moves sigma alone too (the same theta),
        # and every evaluation carries (RX'RX)^-1, so Cov(beta) needs no full evaluation
        return self.problem.evaluate(self.p_inv @ t_orig, lam)

    def deviance(self, varpar: np.ndarray) -> float:
        """lmerTest's ``devfun_vp``: -2 log-likelihood (or REML) at (theta, sigma)."""
        pr = self.problem
        parts = self._parts(varpar)
        if parts is None:
            return np.inf
        s2 = varpar[-1] ** 2
        dev = parts["ldL2"] + parts["pwrss"] / s2 + pr.n * np.log(2 * np.pi * s2)
        if self.reml:
            dev += parts["ldRX2"] + pr.reml_offset - pr.p * np.log(2 * np.pi * s2)
        return dev

    def cov_beta(self, varpar: np.ndarray) -> np.ndarray:
        """Cov(beta-hat) on the original scale at (theta, sigma), flattened."""
        parts = self._parts(varpar)
        cov = varpar[-1] ** 2 * self.x_map @ parts["rx_inv"] @ self.x_map.T
        return cov.ravel()

    def derivatives(self, varpar: np.ndarray):
        """(vcov_varpar or None, list of Jacobian matrices, message or None)."""
        p = self.problem.p
        hess = numderiv_hessian(self.deviance, varpar)
        if not np.all(np.isfinite(hess)):
            return None, None, "the Hessian of the deviance could not be evaluated"
        vals, vecs = np.linalg.eigh(hess)
        tol = 1e-8
        message = None
        if np.any(vals < -tol):
            n_neg = int((vals < -tol).sum())
            msg = (
                f"the Hessian of the deviance w.r.t. the variance parameters has {n_neg} "
                "negative eigenvalue(s); Satterthwaite df unavailable"
            )
            return None, None, msg
        if np.any(np.abs(vals) <= tol):
            message = (
                "the Hessian of the deviance w.r.t. the variance parameters is singular "
                "(a variance at zero?); Satterthwaite df use a pseudo-inverse"
            )
        pos = vals > tol
        vcov = 2 * (vecs[:, pos] / vals[pos]) @ vecs[:, pos].T
        jac = numderiv_jacobian(self.cov_beta, varpar)
        jac_list = [jac[:, k].reshape(p, p) for k in range(jac.shape[1])]
        return vcov, jac_list, message


def ddf_vector(lvec, cov_beta, vcov_varpar, jac_list) -> float:
    """Satterthwaite df of the contrast ``L'beta`` (lmerTest ``contest1D``)."""
    lvec = np.asarray(lvec, dtype=float)
    var_con = float(lvec @ cov_beta @ lvec)
    grad = np.array([lvec @ j @ lvec for j in jac_list])
    denom = float(grad @ vcov_varpar @ grad)
    return 2 * var_con**2 / denom if denom > 0 else np.inf


def _fstat_ddf(nu: np.ndarray, tol: float = 1e-8) -> float:
    if nu.size == 1:
        return float(nu[0])
    if np.all(np.abs(np.diff(nu)) < tol):
        return float(nu.mean())
    if np.any(nu <= 2):
        return 2.0
    e = float(np.sum(nu / (nu - 2)))
    return 2 * e / (e - nu.size)


def ddf_matrix(lmat, beta, cov_beta, vcov_varpar, jac_list) -> dict:
    """F test of ``L beta = 0`` with Satterthwaite denominator df (lmerTest ``contestMD``)."""
    lmat = np.atleast_2d(np.asarray(lmat, dtype=float))
    vl = lmat @ cov_beta @ lmat.T
    vals, vecs = np.linalg.eigh(vl)
    order = np.argsort(vals)[::-1]
    vals, vecs = vals[order], vecs[:, order]
    tol = max(np.sqrt(np.finfo(float).eps) * vals[0], 0.0)
    pos = vals > tol
    q = int(pos.sum())
    ptl = (vecs.T @ lmat)[:q]
    t2 = (ptl @ beta) ** 2 / vals[:q]
    f_value = float(t2.sum() / q)
    nu = np.array([ddf_vector(ptl[k], cov_beta, vcov_varpar, jac_list) for k in range(q)])
    return {"num_df": q, "den_df": _fstat_ddf(nu), "statistic": f_value, "nu": nu}
