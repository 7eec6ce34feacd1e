"""Design matrices from patsy's coding, without patsy's per-row machinery.

patsy decides everything about a design (terms, their order, which factor of an
interaction is coded full rank, reference levels, contrasts, column names) from the
formula and the factor levels only. So the ``DesignInfo`` is built by patsy on a
*skeleton*: a frame of a few rows holding every level of every categorical factor
(:func:`skeleton_frame`), and the matrix of the real rows is then computed column by
column from that coding (:func:`design_columns`): a numeric factor is its column, a
categorical factor is a column of its contrast matrix looked up by the level code, an
interaction is the product. The same coding written as SQL (``sufficient.design_sql``)
computes the design inside a query engine.

Formulas whose factors are column names or ``C(column, ...)`` are encoded directly
(:func:`direct_factors` tells); anything else (``np.log(week)``, ``I(week**2)``,
``center(x)``, ``Q("name")``) is left to patsy by the caller.
"""

from __future__ import annotations

import ast
import itertools

import numpy as np
import pandas as pd
import patsy

__all__ = ["factor_column", "column_combinations", "skeleton_frame", "design_columns",
           "direct_factors"]  # fmt: skip


def factor_column(code: str) -> tuple[str, bool] | None:
    """(column, forced categorical) of a patsy factor code, or None for anything else.

    Examples
    --------
    >>> factor_column("week"), factor_column("C(format, Treatment('individual'))")
    (('week', False), ('format', True))
    >>> factor_column("np.log(week)") is None
    True
    """
    try:
        node = ast.parse(code.strip(), mode="eval").body
    except SyntaxError:
        return None
    if isinstance(node, ast.Name):
        return node.id, False
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "C"
        and node.args
        and isinstance(node.args[0], ast.Name)
    ):
        return node.args[0].id, True
    return None


def column_combinations(columns_per_factor):
    """Column index per factor of every column of a sub-term, in patsy's order (the
    left-most factor iterates fastest, as in R)."""
    for combo in itertools.product(*[range(n) for n in reversed(columns_per_factor)]):
        yield combo[::-1]


def skeleton_frame(columns: list, levels: dict) -> pd.DataFrame:
    """A few rows on which patsy finds the same coding as on the full data.

    ``levels`` maps each categorical column to its levels: a :class:`pandas.Categorical`
    (its categories, in their order, are the levels) or a list of the distinct values
    (patsy sorts them, as it would on the full column). Every other column of
    ``columns`` is numeric (``0, 1, 2, ...``). Each categorical column cycles through
    all its levels, so every level is present.

    Examples
    --------
    >>> sk = skeleton_frame(["y", "fmt"], {"fmt": ["b", "a"]})
    >>> sk["y"].tolist(), sk["fmt"].tolist()
    ([0.0, 1.0, 2.0], ['b', 'a', 'b'])
    """
    k = max([3] + [len(v) for v in levels.values()])
    cols = {}
    for col in columns:
        if col in levels:
            vals = levels[col]
            idx = np.arange(k) % len(vals)
            if isinstance(vals, pd.Categorical):
                cols[col] = vals.take(idx)
            else:
                cols[col] = pd.Series(vals, dtype=object).take(idx).to_numpy()
        else:
            cols[col] = np.arange(k, dtype=float)
    return pd.DataFrame(cols)


def design_columns(info):
    """The columns of a patsy ``DesignInfo``, in order: each a list of
    ``(factor, contrast column or None)`` whose product is the column; ``[]`` is the
    intercept. A factor with a contrast column is categorical (the column holds one
    weight per level, in ``info.factor_infos[factor].categories`` order); one without
    is numeric and must be a single column (else ValueError)."""
    out = []
    for term in info.terms:
        for sub in info.term_codings[term]:
            if not sub.factors:
                out.append([])
                continue
            widths = []
            for factor in sub.factors:
                if factor in sub.contrast_matrices:
                    widths.append(sub.contrast_matrices[factor].matrix.shape[1])
                else:
                    n_col = info.factor_infos[factor].num_columns
                    if n_col != 1:
                        raise ValueError(f"the term {factor.code!r} has {n_col} columns; only "
                                         "single numeric columns are supported")  # fmt: skip
                    widths.append(1)
            for combo in column_combinations(widths):
                col = []
                for factor, idx in zip(sub.factors, combo, strict=True):
                    if factor in sub.contrast_matrices:
                        col.append((factor, sub.contrast_matrices[factor].matrix[:, idx]))
                    else:
                        col.append((factor, None))
                out.append(col)
    return out


def direct_factors(data: pd.DataFrame, texts: list) -> dict | None:
    """``{column: categorical?}`` of the formulas in ``texts`` (``"y ~ ..."`` or ``"~ ..."``)
    when every factor is a column of ``data`` that can be encoded directly, else None.

    Numeric columns (not bool: patsy codes bool as categorical) are numeric factors
    unless wrapped in ``C()``; pandas Categoricals are categorical. Text, bool or
    mixed columns, unknown names and expressions: None (the caller uses patsy).
    """
    out: dict = {}
    for text in texts:
        try:
            desc = patsy.ModelDesc.from_formula(text)
        except patsy.PatsyError:
            return None
        for term in desc.lhs_termlist + desc.rhs_termlist:
            for factor in term.factors:
                got = factor_column(factor.code)
                if got is None or got[0] not in data.columns:
                    return None
                col, forced = got
                dtype = data[col].dtype
                if isinstance(dtype, pd.CategoricalDtype):
                    cat = True
                elif dtype.kind in "iuf":
                    cat = forced
                else:
                    return None
                if out.get(col, cat) != cat:
                    return None  # one column both numeric and categorical: patsy's business
                out[col] = cat
    return out


def encode(info, frame: pd.DataFrame) -> np.ndarray | None:
    """The design matrix of ``frame`` (no missing values) under the coding ``info``.

    None when a value of a categorical factor is not one of its levels (the caller lets
    patsy raise its error).
    """
    cols = design_columns(info)
    out = np.empty((len(frame), len(cols)), order="F")  # filled column by column
    codes: dict = {}
    for j, col in enumerate(cols):
        acc = None
        for factor, weights in col:
            name, _ = factor_column(factor.code)
            if weights is None:
                v = frame[name].to_numpy(dtype=float)
            else:
                if factor not in codes:
                    cats = list(info.factor_infos[factor].categories)
                    values = frame[name]
                    if isinstance(values.dtype, pd.CategoricalDtype) and list(
                        values.cat.categories
                    ) == cats:
                        c = values.cat.codes.to_numpy()
                    else:
                        c = pd.Categorical(np.asarray(values), categories=cats).codes
                    if (c < 0).any():
                        return None
                    codes[factor] = c
                v = weights[codes[factor]]
            acc = v if acc is None else acc * v
        out[:, j] = 1.0 if acc is None else acc
    return out
