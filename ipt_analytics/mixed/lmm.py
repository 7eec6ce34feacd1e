"""Exact linear mixed-model engine (profiled deviance, lme4 formulation).

Model: ``y = X beta + Z_g b_g + Z_v b_v + e`` with ``e ~ N(0, sigma^2 I)``,
``b = Lambda(theta) u`` and ``u ~ N(0, sigma^2 I)`` (Bates, Maechler, Bolker & Walker
2015, J Stat Softw 67(1), section 3). ``Lambda`` is block diagonal: one lower
triangular ``q x q`` factor ``T`` shared by every level of the grouping factor, and
one multiple ``lambda_k`` of the identity per extra variance component.

Penalised least squares is solved by block elimination instead of a general sparse
Cholesky: the grouping-factor block of ``Lambda'Z'Z Lambda + I`` is block diagonal
(one ``q x q`` block per level: batched dense Cholesky, vectorised over levels), and
the remaining unknowns (vc random effects and beta) form a dense Schur complement of
size ``K`` = vc levels + fixed effects. The vc columns enter through the few
(level of ``groups``, vc level) pairs that actually co-occur, stored sparsely. All
cross-products are computed once, so one deviance evaluation costs about
``O(G q^3 + G q p^2 + P q + K^3)`` (P = co-occurring pairs), independent of the number
of rows.

Design choices that keep the answer exact rather than approximately right: y is
residualised on X (an exact shift of beta) to avoid cancellation in the penalised
residual sum of squares; the optimiser works on a centred/scaled random-effects design
(the covariance is mapped back exactly); and every fit ends with the lme4 checks
(scaled gradient, Hessian, boundary) in :func:`check_optimum`.
"""

from __future__ import annotations

import numpy as np
from scipy import linalg, optimize, sparse

from .design import Design

__all__ = ["Problem", "optimize_theta", "check_optimum"]

_LOG2PI = np.log(2.0 * np.pi)


def _tri_index(q: int):
    """Lower-triangle positions in lme4's theta order (column-major)."""
    return [(i, j) for j in range(q) for i in range(j, q)]


class Problem:
    """Precomputed cross-products of one model; evaluates the profiled deviance."""

    def __init__(self, design: Design):
        self.design = design
        x, zg, g = design.x, design.zg, design.g_codes
        self.n, self.p = x.shape
        self.q = zg.shape[1]
        self.n_groups = int(design.g_levels.size)
        # Residualising y on X shifts beta only (exact) and avoids cancellation in y'y - ...
        self.beta_shift = np.linalg.lstsq(x, design.y, rcond=None)[0]
        y = design.y - x @ self.beta_shift
        self.tri = _tri_index(self.q)
        self.n_tri = len(self.tri)
        self.n_vc = len(design.vc_codes)
        self.n_theta = self.n_tri + self.n_vc
        self.lower = np.array([0.0 if i == j else -np.inf for i, j in self.tri] + [0.0] * self.n_vc)
        sizes = [lv.size for lv in design.vc_levels]
        self.vc_offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.m = int(self.vc_offsets[-1])
        self.vc_of_col = np.repeat(np.arange(self.n_vc), sizes).astype(np.int64)
        q, p, m = self.q, self.p, self.m
        self.c = self._by_group(zg[:, :, None] * zg[:, None, :], g)  # (G, q, q)
        self.zx = self._by_group(zg[:, :, None] * x[:, None, :], g)  # (G, q, p)
        self.zy = self._by_group(zg * y[:, None], g)  # (G, q)
        # vc part, stored sparsely: one entry per (level of groups, vc level) that co-occur
        keys, zrows = [], []
        vv = np.zeros((m, m))
        vx = np.zeros((m, p))
        vy = np.zeros(m)
        for k, codes in enumerate(design.vc_codes):
            ok = codes >= 0
            col = codes[ok] + self.vc_offsets[k]
            keys.append(g[ok] * m + col)
            zrows.append(zg[ok])
            vx += np.stack([np.bincount(col, weights=x[ok, j], minlength=m) for j in range(p)], 1)
            vy += np.bincount(col, weights=y[ok], minlength=m)
            for k2, codes2 in enumerate(design.vc_codes):
                both = ok & (codes2 >= 0)
                pair = (codes[both] + self.vc_offsets[k], codes2[both] + self.vc_offsets[k2])
                np.add.at(vv, pair, 1.0)
        if m:
            uniq, inv = np.unique(np.concatenate(keys), return_inverse=True)
            zcat = np.concatenate(zrows)
            self.pair_g, self.pair_col = uniq // m, uniq % m
            self.pair_r = np.stack(
                [np.bincount(inv, weights=zcat[:, j], minlength=uniq.size) for j in range(q)], 1
            )  # (P, q): Z_g' Z_v entries
            self.pair_ind = sparse.csr_matrix(
                (np.ones(uniq.size), (self.pair_col, np.arange(uniq.size))), shape=(m, uniq.size)
            )
            self.pp_a, self.pp_b = _pairs_within_groups(self.pair_g)
            self.pp_flat = self.pair_col[self.pp_a] * m + self.pair_col[self.pp_b]
        self.rr = np.block([[vv, vx], [vx.T, x.T @ x]])
        self.ry = np.concatenate([vy, x.T @ y])
        self.yy = float(y @ y)
        self.pen = np.concatenate([np.ones(m), np.zeros(p)])
        self.reml_offset = -2.0 * np.log(abs(np.linalg.det(design.x_map)))

    def _by_group(self, arr: np.ndarray, g: np.ndarray) -> np.ndarray:
        out = np.zeros((self.n_groups,) + arr.shape[1:])
        np.add.at(out, g, arr)
        return out

    # -- parametrisation -------------------------------------------------------------
    def split(self, theta: np.ndarray):
        """theta -> (T, lambdas) on the internal (scaled) design."""
        t = np.zeros((self.q, self.q))
        for k, (i, j) in enumerate(self.tri):
            t[i, j] = theta[k]
        return t, np.asarray(theta[self.n_tri :], dtype=float)

    def join(self, t: np.ndarray, lam: np.ndarray) -> np.ndarray:
        return np.concatenate([[t[i, j] for i, j in self.tri], lam])

    # -- core evaluation ---------------------------------------------------------------
    def evaluate(self, t: np.ndarray, lam: np.ndarray, full: bool = False) -> dict | None:
        """Penalised least squares at (T, lambda); T may be any q x q matrix.

        Returns ldL2 (log det of L_Z squared), ldRX2, pwrss and, with ``full``,
        beta (scaled X), the inverse of RX'RX and the conditional modes.
        """
        m, p = self.m, self.p
        G, q = self.n_groups, self.q
        ct = (self.c.reshape(G * q, q) @ t).reshape(G, q, q)  # C_g T (C_g symmetric)
        a = (ct.transpose(0, 2, 1).reshape(G * q, q) @ t).reshape(G, q, q) + np.eye(q)
        chol = _batched_cholesky(a)
        if chol is None:
            return None
        wx = _batched_forward(chol, _tmul(t, self.zx))  # L^-1 T' Z_g'X, (G, q, p)
        wc = _batched_forward(chol, (self.zy @ t)[:, :, None])[:, :, 0]  # L^-1 T' Z_g'y
        wxf = wx.reshape(-1, p)
        colscale = np.concatenate([lam[self.vc_of_col], np.ones(p)])
        h_mat = self.rr * np.outer(colscale, colscale) + np.diag(self.pen)
        h_vec = colscale * self.ry
        h_mat[m:, m:] -= wxf.T @ wxf
        h_vec[m:] -= wxf.T @ wc.ravel()
        if m:
            # the same products for the vc columns, one (group, vc level) entry at a time
            cg = chol[self.pair_g]
            wv = _forward_rows(cg, (self.pair_r @ t) * lam[self.vc_of_col][self.pair_col, None])
            h_mat[:m, :m] -= np.bincount(
                self.pp_flat, weights=np.einsum("ki,ki->k", wv[self.pp_a], wv[self.pp_b]),
                minlength=m * m,
            ).reshape(m, m)  # fmt: skip
            vx = self.pair_ind @ np.einsum("ki,kij->kj", wv, wx[self.pair_g])
            h_mat[:m, m:] -= vx
            h_mat[m:, :m] -= vx.T
            h_vec[:m] -= self.pair_ind @ np.einsum("ki,ki->k", wv, wc[self.pair_g])
        try:
            lh = linalg.cholesky(h_mat, lower=True)
        except linalg.LinAlgError:
            return None
        dl = np.log(np.diag(lh))
        z = linalg.solve_triangular(lh, h_vec, lower=True)
        pwrss = self.yy - float(wc.ravel() @ wc.ravel()) - float(z @ z)
        out = {
            "ldL2": 2.0 * np.log(np.diagonal(chol, axis1=1, axis2=2)).sum() + 2.0 * dl[:m].sum(),
            "ldRX2": 2.0 * dl[m:].sum(),
            "pwrss": pwrss,
        }
        if full:
            sol = linalg.solve_triangular(lh.T, z, lower=False)
            lx_inv = linalg.solve_triangular(lh[m:, m:], np.eye(p), lower=True)
            resid = wc - wx @ sol[m:]
            if m:
                contrib = wv * sol[:m][self.pair_col, None]
                for i in range(q):
                    resid[:, i] -= np.bincount(self.pair_g, weights=contrib[:, i], minlength=G)
            u_g = _batched_backward(chol, resid)  # L^-T (w - W sol)
            out["beta"] = sol[m:] + self.beta_shift
            out["rx_inv"] = lx_inv.T @ lx_inv  # (RX'RX)^-1: cov(beta_scaled) / sigma^2
            out["b_groups"] = u_g @ t.T
            out["b_vc"] = lam[self.vc_of_col] * sol[:m]
        return out

    def criterion(self, parts: dict | None, reml: bool) -> float:
        """-2 log-likelihood (ML) or the REML criterion, as lme4 reports them."""
        if parts is None or not parts["pwrss"] > 0:
            return np.inf
        n, p = self.n, self.p
        if not reml:
            return parts["ldL2"] + n * (1.0 + _LOG2PI + np.log(parts["pwrss"] / n))
        nmp = n - p
        return (
            parts["ldL2"]
            + parts["ldRX2"]
            + nmp * (1.0 + _LOG2PI + np.log(parts["pwrss"] / nmp))
            + self.reml_offset
        )

    def deviance(self, theta: np.ndarray, reml: bool) -> float:
        t, lam = self.split(np.asarray(theta, dtype=float))
        return self.criterion(self.evaluate(t, lam), reml)

    def start(self) -> np.ndarray:
        return self.join(np.eye(self.q), np.ones(self.n_vc))


def _tmul(t: np.ndarray, arr: np.ndarray) -> np.ndarray:
    """T' A_g for every group (arr shape (G, q, K)); q is small, so loop over it."""
    q = t.shape[0]
    out = np.zeros_like(arr)
    for i in range(q):
        for j in range(q):
            if t[j, i] != 0.0:
                out[:, i, :] += t[j, i] * arr[:, j, :]
    return out


def _forward_rows(chol: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Solve L_k w_k = r_k for a lower-triangular block per row (rhs shape (P, q))."""
    q = chol.shape[1]
    out = np.empty_like(rhs)
    for i in range(q):
        acc = rhs[:, i].copy()
        for j in range(i):
            acc -= chol[:, i, j] * out[:, j]
        out[:, i] = acc / chol[:, i, i]
    return out


def _pairs_within_groups(pair_g: np.ndarray):
    """All ordered index pairs (a, b) of entries that share a group (pair_g sorted)."""
    starts = np.flatnonzero(np.r_[True, pair_g[1:] != pair_g[:-1]])
    counts = np.diff(np.r_[starts, pair_g.size])
    pa, pb = [], []
    for c in np.unique(counts):
        s0 = starts[counts == c]
        a, b = np.meshgrid(np.arange(c), np.arange(c), indexing="ij")
        pa.append((s0[:, None] + a.ravel()).ravel())
        pb.append((s0[:, None] + b.ravel()).ravel())
    return np.concatenate(pa), np.concatenate(pb)


def _batched_cholesky(a: np.ndarray) -> np.ndarray | None:
    """Cholesky factors of G small SPD matrices; loops over q, vectorised over G."""
    q = a.shape[1]
    chol = np.zeros_like(a)
    for j in range(q):
        d = a[:, j, j] - np.einsum("gk,gk->g", chol[:, j, :j], chol[:, j, :j])
        if not np.all(d > 0):
            return None
        chol[:, j, j] = np.sqrt(d)
        for i in range(j + 1, q):
            off = a[:, i, j] - np.einsum("gk,gk->g", chol[:, i, :j], chol[:, j, :j])
            chol[:, i, j] = off / chol[:, j, j]
    return chol


def _batched_forward(chol: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Solve L W = B for G lower-triangular q x q blocks (rhs shape (G, q, K))."""
    q = chol.shape[1]
    out = np.empty_like(rhs)
    for i in range(q):
        acc = rhs[:, i, :].copy()
        for j in range(i):
            acc -= chol[:, i, j, None] * out[:, j, :]
        out[:, i, :] = acc / chol[:, i, i, None]
    return out


def _batched_backward(chol: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Solve L' u = v for G lower-triangular blocks (rhs shape (G, q))."""
    q = chol.shape[1]
    out = np.empty_like(rhs)
    for i in reversed(range(q)):
        acc = rhs[:, i].copy()
        for j in range(i + 1, q):
            acc -= chol[:, j, i] * out[:, j]
        out[:, i] = acc / chol[:, i, i]
    return out


def _fd_grad_hess(f, x: np.ndarray, free: np.ndarray, h: float = 1e-4):
    """Central-difference gradient and Hessian over the free coordinates."""
    idx = np.flatnonzero(free)
    k = idx.size
    f0 = f(x)
    grad = np.zeros(k)
    hess = np.zeros((k, k))

    def at(*moves):
        z = x.copy()
        for i, s in moves:
            z[idx[i]] += s * h
        return f(z)

    for a in range(k):
        fp, fm = at((a, 1)), at((a, -1))
        grad[a] = (fp - fm) / (2 * h)
        hess[a, a] = (fp - 2 * f0 + fm) / h**2
        for b in range(a):
            v = (at((a, 1), (b, 1)) - at((a, 1), (b, -1)) - at((a, -1), (b, 1))) + at(
                (a, -1), (b, -1)
            )
            hess[a, b] = hess[b, a] = v / (4 * h * h)
    return grad, hess


def _newton_polish(f, x: np.ndarray, lower: np.ndarray, iters: int = 5) -> np.ndarray:
    best, fbest = x.copy(), f(x)
    for _ in range(iters):
        free = ~(best <= lower + 1e-10)
        if not free.any():
            break
        grad, hess = _fd_grad_hess(f, best, free, h=1e-5)
        if np.max(np.abs(grad)) < 1e-7:
            break
        try:
            step = -np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError:
            break
        if not np.all(np.isfinite(step)):
            break
        improved = False
        for scale in (1.0, 0.5, 0.25, 0.1):
            cand = best.copy()
            cand[free] += scale * step
            cand = np.maximum(cand, lower)
            fc = f(cand)
            if fc < fbest:
                gain = fbest - fc
                best, fbest, improved = cand, fc, True
                break
        if not improved or gain < 1e-10:
            break
    return best


def optimize_theta(problem: Problem, reml: bool, start: np.ndarray | None = None):
    """Minimise the profiled criterion over theta; fall back to more optimisers if needed.

    Sequence: bounded L-BFGS-B (3-point finite-difference gradient), a finite-difference
    Newton polish, then the lme4-style checks; only if these fail, bounded Nelder-Mead
    and Powell runs from the best point so far (each polished again). The point with the
    lowest criterion wins. Returns (theta, criterion, info) where info lists each
    optimiser's outcome.
    """

    def f(th):
        return problem.deviance(th, reml)

    lower = problem.lower
    bounds = [(lo if np.isfinite(lo) else None, None) for lo in lower]
    x0 = problem.start() if start is None else np.maximum(np.asarray(start, float), lower)
    info = []
    best, fbest = x0, f(x0)

    def consider(name, x, success, message):
        nonlocal best, fbest
        x = np.maximum(np.asarray(x, dtype=float), lower)
        fx = f(x)
        info.append((name, bool(success), float(fx), str(message)))
        if fx < fbest:
            best, fbest = x, fx

    res = optimize.minimize(
        f, x0, method="L-BFGS-B", jac="3-point", bounds=bounds,
        options={"maxiter": 2000, "ftol": 1e-15, "gtol": 1e-9},
    )  # fmt: skip
    consider("L-BFGS-B", res.x, res.success, res.message)
    consider("Newton polish", _newton_polish(f, best, lower), True, "finite-difference Newton")
    ok, _ = check_optimum(problem, best, reml)
    if not ok or not res.success:
        for method in ("Nelder-Mead", "Powell"):
            res = optimize.minimize(
                f, best, method=method, bounds=bounds,
                options={"maxfev": 3000 * problem.n_theta, "xtol": 1e-10, "ftol": 1e-13}
                if method == "Powell"
                else {"maxfev": 3000 * problem.n_theta, "xatol": 1e-10, "fatol": 1e-13,
                      "adaptive": problem.n_theta > 3},
            )  # fmt: skip
            consider(method, res.x, res.success, res.message)
            consider("Newton polish", _newton_polish(f, best, lower), True, "Newton")
    return best, fbest, info


def check_optimum(problem: Problem, theta: np.ndarray, reml: bool, tol_grad: float = 2e-3):
    """lme4-style checks at the optimum: scaled gradient, Hessian, boundary.

    Returns (ok, problems) with problems a list of plain-language messages.
    """
    f = lambda th: problem.deviance(th, reml)  # noqa: E731
    lower = problem.lower
    at_bound = theta <= lower + 1e-4
    free = ~at_bound
    messages = []
    ok = True
    if free.any():
        grad, hess = _fd_grad_hess(f, theta, free, h=1e-4)
        ev = np.linalg.eigvalsh(hess)
        if ev.min() < -1e-6 * max(1.0, abs(ev).max()):
            ok = False
            messages.append(
                f"The fit did not converge: the Hessian of the deviance has {int((ev < 0).sum())} "
                "negative eigenvalue(s), so the estimate is not a minimum."
            )
        try:
            scaled = linalg.solve_triangular(linalg.cholesky(hess, lower=True), grad, lower=True)
            maxgrad = float(np.max(np.minimum(np.abs(scaled), np.abs(grad))))
        except linalg.LinAlgError:
            maxgrad = float(np.max(np.abs(grad)))
        if maxgrad > tol_grad:
            ok = False
            messages.append(
                f"The fit did not converge: the scaled gradient of the deviance at the estimate is "
                f"{maxgrad:.3g} (tolerance {tol_grad})."
            )
        if ev.max() > 0 and ev.min() > 0 and ev.max() / ev.min() > 1e8:
            messages.append(
                "The model is nearly unidentifiable: the Hessian of the deviance is very badly "
                "conditioned; some variance parameters are poorly determined by the data."
            )
    if at_bound.any():
        # a parameter at its bound is acceptable only if moving inwards increases the deviance
        h = 1e-4
        for i in np.flatnonzero(at_bound):
            up = theta.copy()
            up[i] += h
            if f(up) < f(theta) - 1e-6:
                ok = False
                messages.append(
                    "The fit did not converge: the deviance still decreases away from a "
                    "zero variance estimate."
                )
                break
    return ok, messages
