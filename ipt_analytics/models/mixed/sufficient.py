"""Mixed models fitted from per-group sufficient statistics computed inside a query engine.

For the single-grouping-factor model ``y ~ fixed + (terms | group)`` the profiled (RE)ML
criterion, its gradient, the Satterthwaite derivatives and every reported number depend on
the data only through

* per group i: ``n_i``, ``Z_i'Z_i``, ``Z_i'X_i`` and ``Z_i'r_i``;
* in total: ``X'X``, ``X'r`` and ``r'r``,

with ``r = y - X b`` the residual of ordinary least squares (the engine works on y
residualised on X, an exact shift of beta that avoids cancellation). These are grouped
sums, so DuckDB or Spark compute them where the data live and only ``G x (a few dozen)``
numbers come back (G = number of groups).

One definition of the design, several evaluators: patsy builds the design (term order,
factor coding, reference levels, column names) exactly as :func:`~ipt_analytics.models.
mixed.design.build_design` does, on a small frame holding the factor levels found in the
data (:func:`~ipt_analytics.models.mixed.encode.skeleton_frame`, shared with the direct
encoding of pandas data); each design column is then written as a SQL expression
(numeric columns as they are, interactions as products, contrast-coded factor levels as
``CASE WHEN``). Before any
statistic is computed, the SQL expressions are evaluated on a sample of the data and must
reproduce patsy's design matrix of the same rows.

Supported in a formula on a source: plain column names, ``C(column)`` and
``C(column, Treatment(...))`` (any patsy contrast), interactions (``:`` and ``*``) and
``0 +`` / ``- 1``; derived expressions such as ``np.log(week)`` or ``I(week**2)`` must be
columns of the source.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import patsy

from ipt_analytics.errors import SchemaError
from ipt_analytics.io.sources import Source, as_source
from ipt_analytics.models.mixed.design import Design, _intercept_col, _re_formula_text
from ipt_analytics.models.mixed.encode import design_columns, factor_column, skeleton_frame
from ipt_analytics.models.mixed.formula import ReTerm
from ipt_analytics.models.mixed.lmm import Problem, _tri_index

__all__ = ["SourceDesign", "StatsProblem", "design_statistics", "source_problem"]

_FN = "fit_mixed"


# -- formula -> columns ------------------------------------------------------------------
def _factor_column(code: str) -> tuple[str, bool]:
    """(column, forced categorical) of a patsy factor, or a SchemaError naming the fix."""
    got = factor_column(code)
    if got is None:
        raise SchemaError(
            f"{_FN}(): the term {code!r} cannot be computed inside the data engine; allowed "
            "are column names, C(column) and C(column, Treatment(...)) and their "
            "interactions. Fix: add the derived variable as a column of the data (e.g. in "
            "SQL) and use its name."
        )
    return got


def _formula_factors(formula: str, re_text: str):
    desc = patsy.ModelDesc.from_formula(formula)
    if len(desc.lhs_termlist) != 1 or len(desc.lhs_termlist[0].factors) != 1:
        raise SchemaError(f"{_FN}(): formula={formula!r} must have a single numeric outcome.")
    outcome, forced = _factor_column(desc.lhs_termlist[0].factors[0].code)
    codes = [f.code for t in desc.rhs_termlist for f in t.factors]
    codes += [f.code for t in patsy.ModelDesc.from_formula(re_text).rhs_termlist for f in t.factors]
    variables: dict[str, bool] = {}
    for code in codes:
        col, cat = _factor_column(code)
        variables[col] = variables.get(col, False) or cat
    return outcome, variables


# -- design columns as SQL -----------------------------------------------------------------
def design_sql(info, src: Source, flags: list | None = None) -> list[str]:
    """One SQL expression per column of a patsy ``DesignInfo``, in column order.

    ``flags``, when given, receives one bool per column: True when the column may take
    more than two values (it involves a numeric variable or a contrast weight other than
    0/1), the columns the internal scaling rule has to look at.
    """
    out = []
    flags = [] if flags is None else flags
    try:
        columns = design_columns(info)
    except ValueError as exc:
        raise SchemaError(f"{_FN}(): {exc}.") from exc
    for col in columns:
        if not col:
            out.append("1.0")
            flags.append(False)
            continue
        parts, many = [], False
        for factor, weights in col:
            name = src.ident(_factor_column(factor.code)[0])
            if weights is not None:
                levels = info.factor_infos[factor].categories
                whens = " ".join(
                    f"WHEN {name} = {src.literal(lv)} THEN {float(w)!r}"
                    for lv, w in zip(levels, weights, strict=True)
                )
                parts.append(f"(CASE {whens} END)")
                many = many or not set(np.unique(weights)) <= {0.0, 1.0}
            else:
                parts.append(f"CAST({name} AS DOUBLE)")
                many = True
        out.append(" * ".join(parts))
        flags.append(many)
    return out


# -- design on the engine -----------------------------------------------------------------
class SourceDesign:
    """The patsy design of a model on a source, and its columns as SQL expressions."""

    def __init__(self, src: Source, formula: str, groups: str, re_formula: str,
                 levels: dict | None = None):  # fmt: skip
        self.src = src
        self.formula, self.groups = formula, groups
        self.re_text = _re_formula_text(re_formula)
        try:
            outcome, variables = _formula_factors(formula, self.re_text)
        except patsy.PatsyError as exc:
            raise SchemaError(f"{_FN}(): could not read formula={formula!r}, re_formula="
                              f"{re_formula!r}: {exc}.") from exc  # fmt: skip
        self.outcome = outcome
        cols = [outcome, groups, *variables]
        src.require(list(dict.fromkeys(cols)), _FN)
        if not src.numeric(outcome):
            raise SchemaError(f"{_FN}(): the outcome {outcome!r} must be a numeric column.")
        self.columns = list(dict.fromkeys(cols))
        self.where = " AND ".join(src.present(c) for c in self.columns)
        self.categorical = [c for c, forced in variables.items() if forced or not src.numeric(c)]
        levels = {**src.levels, **dict(levels or {})}
        found = {}
        for col in self.categorical:
            got = src.query(f"SELECT DISTINCT {{c}} AS v FROM {{t}} WHERE {self.where}",
                            c=src.ident(col))["v"].tolist()  # fmt: skip
            if col in levels:  # a fixed level order (first = reference), absent levels dropped
                order = [lv for lv in levels[col] if lv in set(got)]
                found[col] = pd.Categorical(order, categories=order)
            else:
                found[col] = got
        if not found and src.query(f"SELECT COUNT(*) AS n FROM {{t}} WHERE {self.where}")[
            "n"
        ].iloc[0] == 0:
            raise SchemaError(f"{_FN}(): no complete rows left after dropping missing values.")
        if any(len(v) == 0 for v in found.values()):
            raise SchemaError(f"{_FN}(): no complete rows left after dropping missing values.")
        skeleton = skeleton_frame(self.columns, found)
        try:
            _, x_df = patsy.dmatrices(formula, skeleton, return_type="dataframe")
            z_df = patsy.dmatrix(self.re_text, skeleton, return_type="dataframe")
        except patsy.PatsyError as exc:
            raise SchemaError(f"{_FN}(): could not build the model from formula={formula!r}, "
                              f"re_formula={re_formula!r}: {exc}.") from exc  # fmt: skip
        self.x_info, self.z_info = x_df.design_info, z_df.design_info
        self.x_names, self.z_names = list(x_df.columns), list(z_df.columns)
        self.x_many, self.z_many = [], []
        self.x_sql = design_sql(self.x_info, src, self.x_many)
        self.z_sql = design_sql(self.z_info, src, self.z_many)
        self._levels = levels

    def check_on_sample(self, n_rows: int = 2000) -> None:
        """Evaluate the SQL columns on a sample of complete rows; they must equal patsy's."""
        import duckdb

        src = self.src
        cols = ", ".join(src.ident(c) for c in self.columns)
        sample = src.query(f"SELECT {cols} FROM {{t}} WHERE {self.where} LIMIT {int(n_rows)}")
        for col, order in self._levels.items():
            if col in sample.columns:
                sample[col] = pd.Categorical(sample[col], categories=order)
        with duckdb.connect() as con:
            local = as_source(con.from_df(sample.reset_index(drop=True)))
            exprs = design_sql(self.x_info, local) + design_sql(self.z_info, local)
            sel = ", ".join(f"{e} AS c{i}" for i, e in enumerate(exprs))
            via_sql = local.query(f"SELECT {sel} FROM {{t}}").to_numpy(dtype=float)
        (x_pat,) = patsy.build_design_matrices([self.x_info], sample, NA_action="raise")
        (z_pat,) = patsy.build_design_matrices([self.z_info], sample, NA_action="raise")
        via_patsy = np.hstack([np.asarray(x_pat), np.asarray(z_pat)])
        if via_sql.shape != via_patsy.shape or not np.allclose(via_sql, via_patsy, rtol=1e-13,
                                                                atol=0):  # fmt: skip
            raise SchemaError(
                f"{_FN}(): the SQL form of formula={self.formula!r} does not reproduce the "
                "pandas design on a sample of the data; fit this model on a pandas DataFrame."
            )

    def projection(self, beta_raw: np.ndarray | None = None) -> str:
        """Inner SELECT: the group key, the design columns and y (or the OLS residual)."""
        src = self.src
        items = [f"{src.ident(self.groups)} AS g"]
        items += [f"{e} AS x{j}" for j, e in enumerate(self.x_sql)]
        items += [f"{e} AS z{k}" for k, e in enumerate(self.z_sql)]
        y = f"CAST({src.ident(self.outcome)} AS DOUBLE)"
        if beta_raw is not None:
            fit = " + ".join(f"({float(b)!r}) * ({e})" for b, e in zip(beta_raw, self.x_sql,
                                                                          strict=True))  # fmt: skip
            y = f"{y} - ({fit})"
        items.append(f"{y} AS y")
        return f"SELECT {', '.join(items)} FROM {{t}} WHERE {self.where}"


def _scale_map_from_moments(n, sums, sumsq, distinct, intercept_col):
    """``design._scale_map`` from column moments: centre/scale columns with > 2 values."""
    k = sums.size
    m = np.eye(k)
    has_intercept = intercept_col is not None
    for j in range(k):
        if j == intercept_col or distinct[j] <= 2:
            continue
        centre = sums[j] / n if has_intercept else 0.0
        scale = np.sqrt(max(sumsq[j] / n - 2.0 * centre * sums[j] / n + centre**2, 0.0))
        if not np.isfinite(scale) or scale <= 0:
            continue
        m[j, j] = 1.0 / scale
        if has_intercept:
            m[intercept_col, j] = -centre / scale
    return m


def design_statistics(sd: SourceDesign) -> dict:
    """The sufficient statistics of the model, computed by the engine in two passes.

    Pass 1 (no grouping): ``X'X``, ``X'y``, the column sums, squares, minima and maxima.
    Pass 2 (grouped by the grouping factor): ``n_i``, ``Z_i'Z_i``, ``Z_i'X_i``, ``Z_i'r_i``,
    ``X_i'r_i``, ``r_i'r_i`` with r the OLS residual from pass 1 (computed row by row in the
    engine: no cancellation), and how many values lie strictly between each column's
    minimum and maximum (the internal scaling rule of the pandas path centres and scales
    only columns with more than two distinct values).
    """
    src, s = sd.src, sd.src.sum_function
    p, q = len(sd.x_sql), len(sd.z_sql)
    inner = sd.projection()
    aggs = ["COUNT(*) AS n", "(SELECT COUNT(*) FROM {t}) AS n_all"]
    aggs += [f"{s}(x{i} * x{j}) AS xx_{i}_{j}" for i in range(p) for j in range(i, p)]
    aggs += [f"{s}(x{j} * y) AS xy_{j}" for j in range(p)]
    aggs += [f"{s}(z{k}) AS zs_{k}" for k in range(q)]
    aggs += [f"{s}(z{k} * z{k}) AS zq_{k}" for k in range(q)]
    cont = [("x", j) for j in range(p) if sd.x_many[j]] + [("z", k) for k in range(q)
                                                           if sd.z_many[k]]  # fmt: skip
    aggs += [f"MIN({v}{j}) AS lo_{v}{j}, MAX({v}{j}) AS hi_{v}{j}" for v, j in cont]
    one = src.query(f"SELECT {', '.join(aggs)} FROM ({inner}) AS d").iloc[0]
    n = int(one["n"])
    if n == 0:
        raise SchemaError(f"{_FN}(): no complete rows left after dropping missing values.")
    xx = np.zeros((p, p))
    for i in range(p):
        for j in range(i, p):
            xx[i, j] = xx[j, i] = one[f"xx_{i}_{j}"]
    _check_rank(xx, sd)
    xy = np.array([one[f"xy_{j}"] for j in range(p)], dtype=float)
    # OLS on a provisional scaling (the residual does not depend on it)
    dscale = np.sqrt(np.diag(xx))
    beta_raw = np.linalg.solve(xx / np.outer(dscale, dscale), xy / dscale) / dscale
    # pass 2: per-group statistics of the residualised outcome
    inner = sd.projection(beta_raw)
    aggs = ["g", "COUNT(*) AS n"]
    aggs += [f"{s}(z{a} * z{b}) AS zz_{a}_{b}" for a in range(q) for b in range(a, q)]
    aggs += [f"{s}(z{a} * x{j}) AS zx_{a}_{j}" for a in range(q) for j in range(p)]
    aggs += [f"{s}(z{a} * y) AS zr_{a}" for a in range(q)]
    aggs += [f"{s}(x{j} * y) AS xr_{j}" for j in range(p)]
    aggs.append(f"{s}(y * y) AS rr")
    for v, j in cont:
        lo, hi = src.literal(float(one[f"lo_{v}{j}"])), src.literal(float(one[f"hi_{v}{j}"]))
        aggs.append(f"SUM(CASE WHEN {v}{j} > {lo} AND {v}{j} < {hi} THEN 1 ELSE 0 END) "
                    f"AS mid_{v}{j}")  # fmt: skip
    per = src.query(f"SELECT {', '.join(aggs)} FROM ({inner}) AS d GROUP BY g")
    codes, g_levels = pd.factorize(per["g"], sort=True)
    if not (np.diff(codes) > 0).all():  # the engine's collation differs from pandas' order
        per = per.iloc[np.argsort(codes, kind="stable")].reset_index(drop=True)

    def n_distinct(v, j):  # 1, 2 or "more than 2" (3): all the scaling rule needs
        if (v, j) not in cont:
            return 2
        if one[f"lo_{v}{j}"] == one[f"hi_{v}{j}"]:
            return 1
        return 3 if per[f"mid_{v}{j}"].sum() > 0 else 2

    xi = _intercept_col(sd.x_names)
    x_sums = xx[xi] if xi is not None else np.zeros(p)  # the intercept row holds the sums
    x_map = _scale_map_from_moments(n, x_sums, np.diag(xx),
                                    [n_distinct("x", j) for j in range(p)], xi)  # fmt: skip
    zs = np.array([one[f"zs_{k}"] for k in range(q)], dtype=float)
    zq = np.array([one[f"zq_{k}"] for k in range(q)], dtype=float)
    z_map = _scale_map_from_moments(n, zs, zq, [n_distinct("z", k) for k in range(q)],
                                    _intercept_col(sd.z_names))  # fmt: skip
    G = len(per)
    zz = np.zeros((G, q, q))
    for a in range(q):
        for b in range(a, q):
            zz[:, a, b] = zz[:, b, a] = per[f"zz_{a}_{b}"].to_numpy(float)
    zx = np.stack([np.stack([per[f"zx_{a}_{j}"].to_numpy(float) for j in range(p)], 1)
                   for a in range(q)], 1)  # fmt: skip
    zr = np.stack([per[f"zr_{a}"].to_numpy(float) for a in range(q)], 1)
    xr = np.array([per[f"xr_{j}"].to_numpy(float).sum() for j in range(p)])
    return {
        "n": n, "n_i": per["n"].to_numpy(np.int64), "g_levels": np.asarray(g_levels),
        "xx": xx, "zz": zz, "zx": zx, "zr": zr, "xr": xr, "rr": float(per["rr"].sum()),
        "beta_raw": beta_raw, "x_map": x_map, "z_map": z_map,
        "n_dropped": int(one["n_all"]) - n,
    }  # fmt: skip


def _check_rank(xx: np.ndarray, sd: SourceDesign) -> None:
    d = np.sqrt(np.diag(xx))
    d[d == 0] = 1.0
    ev = np.linalg.eigvalsh(xx / np.outer(d, d))
    rank = int((ev > ev.max() * xx.shape[0] * np.finfo(float).eps * 1e3).sum())
    if rank < xx.shape[0] or (np.diag(xx) == 0).any():
        raise SchemaError(
            f"{_FN}(): the fixed-effects design of formula={sd.formula!r} is rank deficient "
            f"(rank {rank} < {xx.shape[0]} columns: {', '.join(sd.x_names)}). Remove aliased "
            "terms or factor levels that never occur."
        )


class StatsProblem(Problem):
    """:class:`~ipt_analytics.models.mixed.lmm.Problem` built from sufficient statistics.

    Sets the same attributes as ``Problem.__init__`` (single grouping factor, no ``vc``
    factors), so every method of the engine (deviance, gradient, checks, Satterthwaite,
    conditional modes) works unchanged. ``stats`` are on the raw (unscaled) design with
    the outcome residualised on X by the raw OLS coefficients ``beta_raw``.
    """

    def __init__(self, design: Design, stats: dict):  # noqa: D107 (no super: no rows)
        self.design = design
        xm, zm = design.x_map, design.z_map
        self.n = int(stats["n"])
        self.p, self.q = xm.shape[0], zm.shape[0]
        self.n_groups = int(design.g_levels.size)
        self.beta_shift = np.linalg.solve(xm, stats["beta_raw"])
        self.tri = _tri_index(self.q)
        self.n_tri = len(self.tri)
        self.vc_q, self.vc_tri, self.general = [], [], False
        self.n_vc = 0
        self.n_theta = self.n_tri
        self.lower = np.array([0.0 if i == j else -np.inf for i, j in self.tri])
        self.vc_offsets = np.zeros(1, dtype=np.int64)
        self.m = 0
        self.vc_of_col = np.zeros(0, dtype=np.int64)
        q, p = self.q, self.p
        self.c = np.einsum("ai,gab,bj->gij", zm, stats["zz"], zm)
        self.zx = np.einsum("ai,gab,bj->gij", zm, stats["zx"], xm)
        self.zy = stats["zr"] @ zm
        self.rr = xm.T @ stats["xx"] @ xm
        self.ry = xm.T @ stats["xr"]
        self.yy = float(stats["rr"])
        self.c_flat = np.ascontiguousarray(self.c.reshape(self.n_groups, q * q).T)
        zxy = np.concatenate([self.zx, self.zy[:, :, None]], axis=2)
        self.zxy_t = np.ascontiguousarray(zxy.transpose(1, 0, 2))
        self._mdiag = np.arange(0)
        self.zx_rows = np.ascontiguousarray(self.zx.transpose(1, 0, 2).reshape(-1, p))
        self._cache = {}
        self.reml_offset = -2.0 * np.log(abs(np.linalg.det(xm)))
        self.setup_patterns()


def source_problem(data, formula: str, groups: str, re_formula: str = "1",
                   levels: dict | None = None) -> StatsProblem:  # fmt: skip
    """The engine's problem for a model on a Parquet path, DuckDB relation or Spark DataFrame.

    Examples
    --------
    >>> import duckdb
    >>> rel = duckdb.sql("SELECT i // 4 AS client, (i % 4)::DOUBLE AS week, "
    ...                  "10 - (i % 4) + ((i * 7919) % 13) / 5.0 AS y FROM range(40) t(i)")
    >>> pr = source_problem(rel, "y ~ week", "client", "1")
    >>> pr.n, pr.n_groups, pr.design.x_names
    (40, 10, ['Intercept', 'week'])
    """
    src = as_source(data, fn=_FN)
    sd = SourceDesign(src, formula, groups, re_formula, levels)
    sd.check_on_sample()
    st = design_statistics(sd)
    if src.close_after_statistics:
        src.close()
    p, q = len(sd.x_names), len(sd.z_names)
    design = Design(
        y=np.zeros(0), x=np.zeros((0, p)), zg=np.zeros((0, q)),
        g_codes=np.zeros(0, dtype=np.int64), g_levels=st["g_levels"], vc_codes=[],
        vc_levels=[], vc_names=[], x_names=sd.x_names, z_names=sd.z_names,
        x_map=st["x_map"], z_map=st["z_map"], design_info=sd.x_info,
        z_design_info=sd.z_info, rows=pd.RangeIndex(0), n_dropped=st["n_dropped"],
        n_rows=st["n"] + st["n_dropped"],
        terms=[ReTerm(sd.re_text.lstrip("~").strip(), (groups,), groups)],
    )  # fmt: skip
    return StatsProblem(design, st)


def source_options(vc, engine: str, df_method: str, missing_groups: str, terms, groups,
                   re_formula) -> tuple[str, str]:  # fmt: skip
    """(groups, re_formula) of a model on a source; options that need the rows: clear errors.

    A formula with one random-effects term, ``y ~ week + (week | client)``, is the same as
    ``groups="client", re_formula="week"``.
    """
    if terms is not None:
        if len(terms) != 1 or terms[0].diag or len(terms[0].factors) != 1:
            raise SchemaError(
                f"{_FN}(): a Parquet path, duckdb relation or Spark DataFrame supports one "
                "random-effects term with one grouping column, e.g. '(week | client)'; got "
                + " + ".join(t.label for t in terms) + ". Fix: fit a pandas DataFrame."
            )
        groups, re_formula = terms[0].factors[0], terms[0].lhs
    if vc:
        raise SchemaError(
            f"{_FN}(): vc={vc!r} (extra random intercepts) is not available when the data are a "
            "Parquet path, duckdb relation or Spark DataFrame: only the single grouping factor "
            "model y ~ fixed + (terms | groups) is computed inside the engine. Fix: drop vc, "
            "or fit a pandas DataFrame."
        )
    if engine == "statsmodels":
        raise SchemaError(f"{_FN}(): engine='statsmodels' needs the rows in memory; use "
                          "engine='ipt' with a Parquet/DuckDB/Spark source.")  # fmt: skip
    if df_method == "kenward-roger":
        raise SchemaError(
            f"{_FN}(): df_method='kenward-roger' needs the rows in memory; use "
            "df_method='satterthwaite' (computed from the same statistics) with a source."
        )
    if missing_groups != "drop":
        raise SchemaError(
            f"{_FN}(): missing_groups={missing_groups!r} needs the rows in memory; with a "
            "source, rows missing the grouping factor are dropped."
        )
    return groups, re_formula
