"""Model matrices for :func:`ipt_analytics.models.mixed.fit_mixed` (formula -> arrays).

The fixed part is built by patsy exactly as statsmodels builds it, so term names
match ``statsmodels.formula.api`` (``"week:C(format)[T.group]"``). The random part is
``re_formula`` evaluated per row; the grouping factor and the extra variance
components (``vc``) become integer codes.

Internally the engine works on a linearly re-parametrised problem: continuous
columns of X and of the random-effects design are centred (when an intercept is
present) and scaled. The likelihood is invariant under these maps, and
:class:`Design` keeps the matrices (``x_map`` and ``z_map``) that carry every
estimate back to the original scale exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import patsy

from ipt_analytics.errors import SchemaError

__all__ = ["Design", "build_design", "fixed_rows"]


@dataclass
class Design:
    """Arrays of one mixed model, with the maps back to the original scale."""

    y: np.ndarray
    x: np.ndarray  # scaled fixed-effects design (n x p)
    zg: np.ndarray  # scaled random-effects design for `groups` (n x q)
    g_codes: np.ndarray  # level code per row (0..G-1)
    g_levels: np.ndarray
    vc_codes: list  # per vc factor: codes (-1 = row has no effect for this factor)
    vc_levels: list
    vc_names: list
    x_names: list
    z_names: list
    x_map: np.ndarray  # beta_original = x_map @ beta_scaled
    z_map: np.ndarray  # b_original = z_map @ b_scaled
    design_info: object = None
    z_design_info: object = None
    rows: pd.Index = field(default_factory=lambda: pd.Index([]))
    n_dropped: int = 0
    n_rows: int = 0  # rows of the data given
    na_groups: dict = field(default_factory=dict)  # grouping column -> rows dropped for it

    def __getstate__(self):
        return _drop_patsy(self.__dict__)


def _drop_patsy(state: dict) -> dict:
    """Design state without patsy's DesignInfo objects, which refuse to be pickled."""
    return {**state, "design_info": None, "z_design_info": None}


def rebuild_design_info(design: Design, data: pd.DataFrame, formula: str, re_formula: str):
    """Restore the patsy DesignInfo objects of an unpickled design from its own rows."""
    _, x_df = patsy.dmatrices(formula, data, NA_action="raise", return_type="dataframe")
    z_df = patsy.dmatrix(_re_formula_text(re_formula), data, NA_action="raise",
                         return_type="dataframe")  # fmt: skip
    if list(x_df.columns) != design.x_names or list(z_df.columns) != design.z_names:
        raise ValueError("unpickling a MixedResult: the stored rows no longer give its design.")
    design.design_info = x_df.design_info
    design.z_design_info = z_df.design_info


def _re_formula_text(re_formula: str) -> str:
    text = re_formula.strip()
    return text if text.startswith("~") else "~ " + text


def _scale_map(mat: np.ndarray, has_intercept: bool, intercept_col: int | None) -> np.ndarray:
    """Matrix M with mat @ M centred/scaled; continuous columns only (> 2 distinct values)."""
    k = mat.shape[1]
    m = np.eye(k)
    for j in range(k):
        if j == intercept_col:
            continue
        col = mat[:, j]
        if np.unique(col[: min(col.size, 5000)]).size <= 2 and np.unique(col).size <= 2:
            continue
        centre = col.mean() if has_intercept else 0.0
        scale = np.sqrt(np.mean((col - centre) ** 2))
        if not np.isfinite(scale) or scale <= 0:
            continue
        m[j, j] = 1.0 / scale
        if has_intercept:
            m[intercept_col, j] = -centre / scale
    return m


def _intercept_col(names: list) -> int | None:
    return names.index("Intercept") if "Intercept" in names else None


def _check_columns(data: pd.DataFrame, cols: dict) -> None:
    for role, col in cols.items():
        if col is not None and col not in data.columns:
            raise SchemaError(
                f"fit_mixed(): {role}={col!r} is not a column of data; available: "
                + ", ".join(map(str, data.columns))
            )


def build_design(
    data: pd.DataFrame,
    formula: str,
    groups: str,
    re_formula: str,
    vc: dict | None,
    missing_groups: str = "drop",
) -> Design:
    """Build the (scaled) arrays of the model; rows with missing values are dropped.

    Rows missing the outcome, a fixed-effects variable, a random-effects variable
    or any grouping factor (``groups`` or a `vc` column) are dropped, as lme4's
    default ``na.action = na.omit`` does; ``n_dropped`` counts them and ``na_groups``
    says how many complete rows each grouping column removed. With
    ``missing_groups="no_effect"`` a missing value in a `vc` column is NOT a reason to
    drop: that row gets no effect for that factor (e.g. ``group_id`` exists only for
    group-format sessions; lme4: ``(0 + in_group | group_id)`` with a filled-in id).
    """
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"fit_mixed(): data must be a pandas DataFrame, got {type(data).__name__}")
    vc = dict(vc or {})
    _check_columns(data, {"groups": groups, **{f"vc[{k!r}]": v for k, v in vc.items()}})
    re_text = _re_formula_text(re_formula)
    try:
        y_df, x_df = patsy.dmatrices(formula, data, NA_action="drop", return_type="dataframe")
        z_df = patsy.dmatrix(re_text, data, NA_action="drop", return_type="dataframe")
    except patsy.PatsyError as exc:
        raise SchemaError(
            f"fit_mixed(): could not build the model from formula={formula!r}, "
            f"re_formula={re_formula!r}: {exc}. Check the column names and the formula syntax."
        ) from exc
    keep = x_df.index.intersection(z_df.index)
    grouping = [groups] + ([] if missing_groups == "no_effect" else list(vc.values()))
    na_groups = {}
    for col in dict.fromkeys(grouping):  # counted on the rows complete otherwise
        miss = data.loc[keep, col].isna().to_numpy()
        if miss.any():
            na_groups[col] = int(miss.sum())
    ok = data.loc[keep, list(dict.fromkeys(grouping))].notna().all(axis=1).to_numpy()
    keep = keep[ok]
    if keep.size == 0:
        raise SchemaError("fit_mixed(): no complete rows left after dropping missing values.")
    sub = data.loc[keep]
    if keep.size != len(data):
        # rebuild from the rows kept, so that factor levels and stateful transforms
        # (center(), standardize()) depend on those rows only: a pickled fit rebuilds
        # the same design from its stored rows (see MixedResult.__setstate__)
        y_df, x_df = patsy.dmatrices(formula, sub, NA_action="raise", return_type="dataframe")
        z_df = patsy.dmatrix(re_text, sub, NA_action="raise", return_type="dataframe")
    x_raw = np.asarray(x_df, dtype=float)
    if y_df.shape[1] != 1:
        raise SchemaError(f"fit_mixed(): formula={formula!r} must have a single numeric outcome.")
    x_names = list(x_df.columns)
    z_names = list(z_df.columns)
    if x_raw.shape[1] == 0:
        raise SchemaError("fit_mixed(): the fixed part has no columns; use e.g. 'y ~ 1'.")
    rank = np.linalg.matrix_rank(x_raw)
    if rank < x_raw.shape[1]:
        raise SchemaError(
            f"fit_mixed(): the fixed-effects design of formula={formula!r} is rank deficient "
            f"(rank {rank} < {x_raw.shape[1]} columns: {', '.join(x_names)}). Remove aliased "
            "terms or factor levels that never occur."
        )
    z_raw = np.asarray(z_df, dtype=float)
    if z_raw.shape[1] == 0:
        raise SchemaError(f"fit_mixed(): re_formula={re_formula!r} has no columns.")
    g_codes, g_levels = pd.factorize(sub[groups], sort=True)
    vc_codes, vc_levels = [], []
    for name, col in vc.items():
        codes, levels = pd.factorize(sub[col], sort=True)  # NaN -> -1
        if levels.size == 0:
            raise SchemaError(f"fit_mixed(): vc[{name!r}] column {col!r} has no observed levels.")
        vc_codes.append(codes.astype(np.int64))
        vc_levels.append(np.asarray(levels))
    xi, zi = _intercept_col(x_names), _intercept_col(z_names)
    x_map = _scale_map(x_raw, xi is not None, xi)
    z_map = _scale_map(z_raw, zi is not None, zi)  # z_scaled = z_raw @ z_map
    return Design(
        y=np.asarray(y_df, dtype=float)[:, 0],
        x=x_raw @ x_map,
        zg=z_raw @ z_map,
        g_codes=g_codes.astype(np.int64),
        g_levels=np.asarray(g_levels),
        vc_codes=vc_codes,
        vc_levels=vc_levels,
        vc_names=list(vc),
        x_names=x_names,
        z_names=z_names,
        x_map=x_map,
        z_map=z_map,
        z_design_info=z_df.design_info,
        design_info=x_df.design_info,
        rows=keep,
        n_dropped=int(len(data) - keep.size),
        n_rows=int(len(data)),
        na_groups=na_groups,
    )


def fixed_rows(design_info, newdata: pd.DataFrame) -> np.ndarray:
    """Fixed-effects design rows (original scale) for `newdata`, as the fit built them."""
    (mat,) = patsy.build_design_matrices([design_info], newdata, NA_action="raise")
    return np.asarray(mat, dtype=float)


def re_rows(z_design_info, newdata: pd.DataFrame) -> np.ndarray:
    """Random-effects design rows (original scale) for `newdata`."""
    (mat,) = patsy.build_design_matrices([z_design_info], newdata, NA_action="raise")
    return np.asarray(mat, dtype=float)
