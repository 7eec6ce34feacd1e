"""Kenward-Roger adjusted covariance and degrees of freedom for fixed effects.

Kenward & Roger (1997, Biometrics 53: 983-997) replace the plug-in covariance of the
fixed effects, ``Phi = (X'V^-1 X)^-1``, by a small-sample adjusted ``Phi_A`` that accounts
for the variance parameters being estimated, and give the denominator degrees of freedom
of an (approximately) F-distributed Wald statistic. This module follows the R package
pbkrtest 0.5.2 (Halekoh & Hojsgaard 2014, J Stat Softw 59(9)) step by step: ``vcovAdj``
(the covariance, including its ``P`` and ``W`` matrices), ``Lb_ddf`` (the df of one
contrast) and ``.KR_adjust`` (the F test with its scaling), so that the numbers agree with
``pbkrtest::vcovAdj()``, ``lmerTest::summary(fit, ddf = "Kenward-Roger")`` and emmeans with
``lmer.df = "kenward-roger"``. As in pbkrtest, the covariance is linear in its
parameters (the second-derivative term of Kenward & Roger vanishes) and ``W`` is twice the
inverse of the expected REML information.

The model is described generically: ``V = Z G Z' + sigma^2 I`` with ``G = sum_k tau_k dG_k``,
``Z`` (n x q, sparse) the random-effects design and ``dG_k`` (q x q, sparse) the derivative
of ``G`` with respect to each variance or covariance parameter (pbkrtest's order: for each
random-effects term, the lower triangle of its covariance by column; ``sigma^2`` last and
implicit). The result is invariant to a linear re-parametrisation, so only the set of
derivative matrices matters.

pbkrtest forms ``V^-1`` as an n x n matrix. Here it never is: with ``R = (sigma^2 I +
G Z'Z)^-1 G`` (q x q, symmetric), the Woodbury identity gives ``V^-1 = sigma^-2 (I - Z R
Z')``, and every trace and cross-product that Kenward-Roger needs (``X'V^-1 X``,
``Z'V^-1 Z``, ``X'V^-2 X``, ``X'V^-3 X``, ``tr V^-2``, ...) reduces to q x q and q x p
algebra. The cost is ``O(q^3)`` time and a few dense q x q arrays, independent of n;
models with more than :data:`MAX_RE_COLUMNS` random-effect columns (levels x terms) are
refused with a clear error (Kenward-Roger is a small-sample method: use Satterthwaite df
for larger designs).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg, sparse, stats

__all__ = [
    "MAX_RE_COLUMNS",
    "KenwardRoger",
    "cov_from_theta",
    "kenward_roger",
    "kenward_roger_for_result",
]

#: Largest number of random-effect columns (levels x terms) accepted: the algebra keeps a
#: few dense q x q arrays. Measured on the project's 2-core machine (random intercept and
#: slope per client): q = 1000 (4,393 rows) 1.4 s and 57 MB; q = 3000 (13,464 rows) 10 s and
#: 0.5 GB peak. pbkrtest would need n x n matrices (1.4 GB each at n = 13,464).
MAX_RE_COLUMNS = 3000


@dataclass
class KenwardRoger:
    """Kenward-Roger quantities of one fit (pbkrtest ``vcovAdj`` and its attributes).

    Attributes
    ----------
    cov_beta : ndarray (p, p)
        The unadjusted covariance ``Phi`` of the fixed effects.
    cov_adjusted : ndarray (p, p)
        ``Phi_A = Phi + 2 Phi U Phi`` (pbkrtest ``vcovAdj``).
    p_mats : list of ndarray (p, p)
        ``P_i = -X'V^-1 (dV/dtau_i) V^-1 X`` (pbkrtest ``attr(, "P")``).
    w : ndarray (m, m)
        Twice the inverse expected REML information of the variance parameters
        (pbkrtest ``attr(, "W")``), order as the derivative list with ``sigma^2`` last.
    """

    cov_beta: np.ndarray
    cov_adjusted: np.ndarray
    p_mats: list
    w: np.ndarray

    def _a1_a2(self, lmat: np.ndarray):
        phi = self.cov_beta
        theta = lmat.T @ np.linalg.solve(lmat @ phi @ lmat.T, lmat)
        tp = theta @ phi
        u = [tp @ pm @ phi for pm in self.p_mats]
        tr = np.array([np.trace(ui) for ui in u])
        m = len(u)
        a1 = a2 = 0.0
        for i in range(m):
            for j in range(i, m):
                e = 1.0 if i == j else 2.0
                a1 += e * self.w[i, j] * tr[i] * tr[j]
                a2 += e * self.w[i, j] * float(np.sum(u[i] * u[j].T))
        return a1, a2

    def _adjust(self, lmat: np.ndarray, q: int):
        """pbkrtest's moment matching: (ddf, F scaling) for q restrictions."""
        a1, a2 = self._a1_a2(lmat)
        b = (a1 + 6.0 * a2) / (2.0 * q)
        g = ((q + 1) * a1 - (q + 4) * a2) / ((q + 2) * a2)
        den = 3 * q + 2 * (1 - g)
        c1, c2, c3 = g / den, (q - g) / den, (q + 2 - g) / den
        v0 = 1 + c1 * b
        v1 = 1 - c2 * b
        v2 = 1 - c3 * b
        v0 = 0.0 if abs(v0) < 1e-10 else v0
        num = 1 - a2 / q
        ratio = 1.0 if abs(num) < 1e-14 and abs(v1) < 1e-14 else num / v1  # pbkrtest .divZero
        rho = ratio**2 * v0 / v2 / q
        ddf = 4 + (q + 2) / (q * rho - 1)
        scale = 1.0 if abs(ddf - 2) < 1e-2 else ddf * (1 - a2 / q) / (ddf - 2)
        return float(ddf), float(scale)

    def ddf(self, L) -> float:
        """Kenward-Roger df of ``L'beta`` (pbkrtest ``Lb_ddf`` with one row).

        For a matrix ``L`` the df of the joint hypothesis with ``q = nrow(L)`` (as
        ``Lb_ddf``); see :meth:`f_test` for the test itself.
        """
        lmat = np.atleast_2d(np.asarray(L, dtype=float))
        return self._adjust(lmat, lmat.shape[0])[0]

    def f_test(self, L, beta, rhs=None) -> dict:
        """Kenward-Roger F test of ``L beta = rhs`` (pbkrtest ``.KR_adjust``).

        Returns ``num_df`` (rank of L), ``den_df``, ``statistic`` (the scaled F, lmerTest's
        ``F value``), ``statistic_unscaled`` (the Wald statistic with ``Phi_A`` over
        ``num_df``), ``scaling`` and ``p_value``.
        """
        lmat = np.atleast_2d(np.asarray(L, dtype=float))
        beta = np.asarray(beta, dtype=float)
        q = int(np.linalg.matrix_rank(lmat))
        ddf, scale = self._adjust(lmat, q)
        diff = lmat @ beta - (0.0 if rhs is None else np.asarray(rhs, dtype=float))
        wald = float(diff @ np.linalg.solve(lmat @ self.cov_adjusted @ lmat.T, diff))
        f_u = wald / q
        f_s = scale * f_u
        return {"num_df": q, "den_df": ddf, "statistic": f_s, "statistic_unscaled": f_u,
                "scaling": scale, "p_value": float(stats.f.sf(f_s, q, ddf))}  # fmt: skip


def cov_from_theta(dgs, theta, sigma) -> sparse.csc_matrix:
    """``G = sigma^2 Lambda Lambda'`` from lme4's theta and the derivative matrices.

    lme4's theta holds each term's relative Cholesky factor by column of its lower
    triangle, the order of pbkrtest's parameters; so ``Lambda = sum_k theta_k
    tril(dG_k)`` (a covariance parameter's ``dG_k`` marks (i, j) and (j, i); its lower
    entry is the position of theta_k in the factor).

    Examples
    --------
    One level, intercept and slope: theta = (1, 0.5, 2) gives the covariance
    ``[[1, 0.5], [0.5, 4.25]]`` times sigma^2 = 4.

    >>> d = [sparse.csc_matrix(m) for m in ([[1, 0], [0, 0]], [[0, 1], [1, 0]], [[0, 0], [0, 1]])]
    >>> cov_from_theta(d, [1.0, 0.5, 2.0], 2.0).toarray()
    array([[ 4.,  2.],
           [ 2., 17.]])
    """
    lam = None
    for value, dg in zip(theta, dgs, strict=True):
        part = sparse.tril(sparse.csc_matrix(dg)) * float(value)
        lam = part if lam is None else lam + part
    return sparse.csc_matrix(float(sigma) ** 2 * (lam @ lam.T))


def _coo(mat):
    m = sparse.coo_matrix(mat)
    return m.row, m.col, m.data


def kenward_roger(x, z, dgs, cov_b, sigma2, *, cov_beta=None) -> KenwardRoger:
    """pbkrtest's ``vcovAdj`` for ``V = Z G Z' + sigma^2 I``, without forming V.

    Parameters
    ----------
    x : ndarray (n, p)
        Fixed-effects design (the scale of the reported coefficients).
    z : sparse matrix (n, q)
        Random-effects design.
    dgs : list of sparse (q, q)
        ``dG/dtau_k`` for each variance/covariance parameter of G (sigma^2 is added last).
    cov_b : sparse or ndarray (q, q)
        ``G``, the covariance of the random effects at the estimate.
    sigma2 : float
        Residual variance at the estimate.
    cov_beta : ndarray (p, p), optional
        ``Phi``; pbkrtest uses the fit's ``vcov()``. Default ``(X'V^-1 X)^-1``.

    Returns
    -------
    KenwardRoger

    Examples
    --------
    Balanced one-way random intercept (4 groups of 3): KR changes nothing and the df of the
    mean is the between-group df, 3.

    >>> x = np.ones((12, 1))
    >>> z = sparse.csc_matrix(np.kron(np.eye(4), np.ones((3, 1))))
    >>> kr = kenward_roger(x, z, [sparse.identity(4, format="csc")], 2.0 * sparse.identity(4), 1.0)
    >>> bool(np.allclose(kr.cov_adjusted, kr.cov_beta)), round(kr.ddf([1.0]), 10)
    (True, 3.0)
    """
    x = np.asarray(x, dtype=float)
    z = sparse.csc_matrix(z, dtype=float)
    n, p = x.shape
    q = z.shape[1]
    if q > MAX_RE_COLUMNS:
        raise ValueError(
            f"Kenward-Roger: the model has {q} random-effect columns (levels x terms); this "
            f"implementation handles at most {MAX_RE_COLUMNS} (it keeps dense q x q arrays). "
            "Kenward-Roger is a small-sample correction: use df_method='satterthwaite'."
        )
    s2 = float(sigma2)
    g = sparse.csc_matrix(cov_b, dtype=float)
    c = sparse.csc_matrix(z.T @ z)
    zx = np.asarray(z.T @ x)
    # R = (sigma^2 I + G C)^-1 G is symmetric (= (sigma^2 G^-1 + C)^-1 when G is
    # invertible) and exists for a singular G too; V^-1 = sigma^-2 (I - Z R Z').
    # (a dense LU: SuperLU's solve with q dense right-hand sides is several times slower)
    m_dense = (s2 * sparse.identity(q) + g @ c).toarray()
    r = linalg.solve(m_dense, g.toarray(), overwrite_a=True, overwrite_b=True)
    r = 0.5 * (r + r.T)
    rc = np.asarray(c @ r).T  # R C  (C symmetric)
    nmat = np.eye(q) - rc.T  # N = I - C R: Z'V^-1 = sigma^-2 N Z'
    s_zz = np.asarray(c @ nmat.T).T / s2  # Z'V^-1 Z = N C / sigma^2 (sparse product)
    s_zz = 0.5 * (s_zz + s_zz.T)
    s_zx = nmat @ zx / s2  # Z'V^-1 X
    w_x = (x - z @ (r @ zx)) / s2  # V^-1 X
    zw = np.asarray(z.T @ w_x)  # Z'V^-1 X (again) -> used for V^-2 terms
    s2_xx = w_x.T @ w_x  # X'V^-2 X
    s2_zx = nmat @ zw / s2  # Z'V^-2 X
    s3_xx = (s2_xx - zw.T @ r @ zw) / s2  # X'V^-3 X
    tr_v2 = (n - 2.0 * np.trace(rc) + float(np.sum(rc * rc.T))) / s2**2  # tr V^-2
    phi = np.linalg.inv(x.T @ w_x) if cov_beta is None else np.asarray(cov_beta, dtype=float)

    m_re = len(dgs)
    m = m_re + 1
    coo = [_coo(dg) for dg in dgs]
    e_mats = [np.asarray(sparse.csc_matrix(dg) @ s_zx) for dg in dgs]  # D_r Z'V^-1 X
    se_mats = [s_zz @ e for e in e_mats]
    p_mats = [-(s_zx.T @ e) for e in e_mats] + [-s2_xx]
    p_mats = [0.5 * (pm + pm.T) for pm in p_mats]  # pbkrtest: forceSymmetric
    q_mats = [[None] * m for _ in range(m)]
    ktrace = np.zeros((m, m))
    for i in range(m_re):
        ri, ci, vi = coo[i]
        for j in range(i, m_re):
            rj, cj, vj = coo[j]
            q_mats[i][j] = e_mats[i].T @ se_mats[j]
            # tr(D_i S D_j S) summed over the nonzeros of D_i and D_j
            ktrace[i, j] = float(vi @ (s_zz[np.ix_(ci, rj)] * s_zz[np.ix_(cj, ri)].T) @ vj)
        q_mats[i][m_re] = e_mats[i].T @ s2_zx
        # tr(D_i Z'V^-2 Z) with Z'V^-2 Z = N Z'V^-1 Z / sigma^2: only the entries at D_i's
        # nonzeros are needed (avoids a q^3 product)
        s2_entries = np.einsum("kj,jk->k", nmat[ci], s_zz[:, ri]) / s2
        ktrace[i, m_re] = float(np.sum(vi * s2_entries))
    q_mats[m_re][m_re] = s3_xx
    ktrace[m_re, m_re] = tr_v2
    ktrace = np.triu(ktrace) + np.triu(ktrace, 1).T
    ie2 = np.zeros((m, m))
    for i in range(m):
        pp_i = phi @ p_mats[i]
        for j in range(i, m):
            ie2[i, j] = ie2[j, i] = (
                ktrace[i, j] - 2.0 * float(np.sum(phi * q_mats[i][j]))
                + float(np.sum(pp_i * (p_mats[j] @ phi)))
            )  # fmt: skip
    condi = float(np.min(np.abs(np.linalg.eigvalsh(ie2))))
    w = 2.0 * (np.linalg.inv(ie2) if condi > 1e-10 else np.linalg.pinv(ie2))
    w = 0.5 * (w + w.T)
    uu = np.zeros((p, p))
    for i in range(m - 1):
        for j in range(i + 1, m):
            uu += w[i, j] * (q_mats[i][j] - p_mats[i] @ phi @ p_mats[j])
    uu = uu + uu.T
    for i in range(m):
        uu += w[i, i] * (q_mats[i][i] - p_mats[i] @ phi @ p_mats[i])
    phi_a = phi + 2.0 * phi @ uu @ phi
    return KenwardRoger(cov_beta=phi, cov_adjusted=phi_a, p_mats=p_mats, w=w)


# -- adapter for the fitted models of this package -------------------------------------------
def _re_structure_from_result(result):
    """(Z, dG list) of a :class:`MixedResult` of the single-grouping-factor engine.

    Columns of Z: level ``g`` of ``groups`` and term ``j`` at ``g * q + j`` (original scale
    of the random-effects design), then one column per level of each ``vc`` factor (rows
    with a missing vc id have no entry). The derivative list follows ``result.theta``
    (lme4's order: the lower triangle of the ``groups`` factor by column, then one entry
    per vc factor), which is pbkrtest's order.
    """
    d = result._design
    z_orig = d.zg @ np.linalg.inv(d.z_map)
    n, qg = z_orig.shape
    n_lev = int(d.g_levels.size)
    rows = [np.repeat(np.arange(n), qg)]
    cols = [(d.g_codes[:, None] * qg + np.arange(qg)[None, :]).ravel()]
    vals = [z_orig.ravel()]
    offset = n_lev * qg
    vc_blocks = []
    for codes, levels in zip(d.vc_codes, d.vc_levels, strict=True):
        ok = np.flatnonzero(codes >= 0)
        rows.append(ok)
        cols.append(offset + codes[ok])
        vals.append(np.ones(ok.size))
        vc_blocks.append((offset, int(levels.size)))
        offset += int(levels.size)
    z = sparse.csc_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, offset)
    )
    eye_g = sparse.identity(n_lev, format="csc")
    dgs = []
    for j in range(qg):  # lme4's theta order: column j of the lower triangle
        for i in range(j, qg):
            e = np.zeros((qg, qg))
            e[i, j] = e[j, i] = 1.0
            block = sparse.kron(eye_g, sparse.csc_matrix(e), format="csc")
            dgs.append(sparse.block_diag([block, sparse.csc_matrix((offset - n_lev * qg,) * 2)],
                                         format="csc"))  # fmt: skip
    for start, size in vc_blocks:
        diag = np.zeros(offset)
        diag[start : start + size] = 1.0
        dgs.append(sparse.diags(diag, format="csc"))
    return z, dgs


def _structure(result):
    """The engine's ``_re_structure()`` when it has one, else the adapter above."""
    method = getattr(result, "_re_structure", None)
    if method is None:
        return _re_structure_from_result(result)
    z, dgs = method()
    dgs = list(dgs)
    if len(dgs) == len(result.theta) + 1:  # a trailing entry for sigma^2
        dgs = dgs[:-1]
    return z, dgs


def kenward_roger_for_result(result) -> KenwardRoger:
    """Kenward-Roger quantities of a REML :class:`MixedResult` (pbkrtest ``vcovAdj(fit)``)."""
    if not result.reml:
        raise ValueError(
            "Kenward-Roger df are defined for REML fits only (as in lmerTest and pbkrtest); "
            "refit with reml=True or use df_method='satterthwaite'."
        )
    z, dgs = _structure(result)
    x = result._design.x @ np.linalg.inv(result._design.x_map)
    g = cov_from_theta(dgs, result.theta, result.sigma)
    return kenward_roger(x, z, dgs, g, result.sigma**2,
                         cov_beta=result.cov_fixed.to_numpy())  # fmt: skip
