"""Model matrices for :func:`ipt_analytics.models.mixed.fit_mixed` (formula -> arrays).

The fixed part is coded by patsy exactly as statsmodels codes it, so term names
match ``statsmodels.formula.api`` (``"week:C(format)[T.group]"``). When every factor is a
numeric or text column (or ``C()`` of one), patsy decides the coding on a frame of the
factor levels and the matrix is computed directly (:mod:`.encode`); other formulas
(``np.log(week)``, ``I(...)``, ``center()``) are built by patsy itself. The random part is a
list of terms (:class:`~ipt_analytics.models.mixed.formula.ReTerm`, from lme4 syntax or
from ``groups``/``re_formula``/``vc``): the first (the factor with most levels) is the
engine's main factor (``zg``, ``g_codes``), every other term gives integer level codes and
its own design columns (``vc_codes``, ``vc_z``).

Internally the engine works on a linearly re-parametrised problem: continuous
columns of X and of the random-effects design are centred (when an intercept is
present) and scaled. The likelihood is invariant under these maps, and
:class:`Design` keeps the matrices (``x_map`` and ``z_map``) that carry every
estimate back to the original scale exactly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import patsy

from ipt_analytics.errors import SchemaError
from ipt_analytics.models.mixed.encode import direct_factors, encode, factor_column, skeleton_frame
from ipt_analytics.models.mixed.formula import ReTerm

__all__ = ["Design", "build_design", "fixed_rows", "factor_labels"]


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
    terms: list = field(default_factory=list)  # ReTerm per random term, main factor first
    vc_z: list = field(default_factory=list)  # per other term: its design columns (n x q_k)
    vc_z_names: list = field(default_factory=list)
    vc_design_infos: list = field(default_factory=list)

    def __getstate__(self):
        return _drop_patsy(self.__dict__)


def _drop_patsy(state: dict) -> dict:
    """Design state without patsy's DesignInfo objects, which refuse to be pickled."""
    return {**state, "design_info": None, "z_design_info": None, "vc_design_infos": None}


def rebuild_design_info(design: Design, data: pd.DataFrame, formula: str):
    """Restore the patsy DesignInfo objects of an unpickled design from its own rows."""
    _, x_df = patsy.dmatrices(formula, data, NA_action="raise", return_type="dataframe")
    z_dfs = [patsy.dmatrix("~ " + t.lhs, data, NA_action="raise", return_type="dataframe")
             for t in design.terms]  # fmt: skip
    names = [list(z.columns) for z in z_dfs]
    if list(x_df.columns) != design.x_names or names != [design.z_names] + design.vc_z_names:
        raise ValueError("unpickling a MixedResult: the stored rows no longer give its design.")
    design.design_info = x_df.design_info
    design.z_design_info = z_dfs[0].design_info
    design.vc_design_infos = [z.design_info for z in z_dfs[1:]]


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


def _rank(mat: np.ndarray) -> int:
    """``np.linalg.matrix_rank(mat)``, without its SVD of all rows when clearly full rank.

    The eigenvalues of ``mat'mat`` are the squared singular values of ``mat`` to within
    ~1e-15 of the largest: a smallest/largest ratio above 1e-8 (singular values within a
    factor 1e4) is full rank under matrix_rank's tolerance (``s_max * rows * eps``, a
    ratio of 2e-10 at a million rows); anything closer is left to matrix_rank itself.
    """
    if mat.shape[0] < mat.shape[1] or mat.shape[0] * np.finfo(float).eps > 1e-6:
        return int(np.linalg.matrix_rank(mat))
    gram = mat.T @ mat
    if np.all(np.isfinite(gram)):
        ev = np.linalg.eigvalsh(gram)
        if ev[-1] > 0 and ev[0] > 1e-8 * ev[-1]:
            return mat.shape[1]
    return int(np.linalg.matrix_rank(mat))


def _intercept_col(names: list) -> int | None:
    return names.index("Intercept") if "Intercept" in names else None


def _check_columns(data: pd.DataFrame, cols: dict) -> None:
    for role, col in cols.items():
        if col is not None and col not in data.columns:
            raise SchemaError(
                f"fit_mixed(): {role}={col!r} is not a column of data; available: "
                + ", ".join(map(str, data.columns))
            )


def factor_labels(frame: pd.DataFrame, factors: tuple) -> pd.Series:
    """The grouping factor of a term: one column, or the combination ``a:b`` of several.

    A combination is missing when any of its columns is missing; its label joins the
    labels with ``":"`` (as lme4's ``interaction()`` levels).
    """
    if len(factors) == 1:
        return frame[factors[0]]
    parts = [frame[f] for f in factors]
    miss = np.logical_or.reduce([p.isna().to_numpy() for p in parts])
    out = parts[0].astype(str)
    for part in parts[1:]:
        out = out + ":" + part.astype(str)
    return out.where(~miss)


def old_api_terms(groups: str, re_formula: str, vc: dict | None) -> list:
    """``groups=``, ``re_formula=``, ``vc=`` as random-effects terms (the same model)."""
    lhs = _re_formula_text(re_formula).lstrip("~").strip()
    terms = [ReTerm(lhs, (groups,), groups)]
    terms += [ReTerm("1", (col,), name) for name, col in (vc or {}).items()]
    return terms


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")


def _sorted_categorical(values: pd.Series) -> pd.Categorical:
    """``pd.Categorical(values)`` of a text column, levels in Python's string order (as
    patsy sorts them), factorised by the column's own engine (pyarrow for Arrow strings)
    instead of through a column of Python objects; missing values stay missing."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    uniques = [str(u) for u in uniques]
    order = sorted(range(len(uniques)), key=uniques.__getitem__)
    recode = np.empty(len(uniques) + 1, dtype=np.int64)
    recode[np.asarray(order, dtype=np.int64)] = np.arange(len(order))
    recode[-1] = -1  # code -1 (missing) indexes the last entry
    return pd.Categorical.from_codes(recode[codes], categories=pd.Index(
        [uniques[i] for i in order], dtype=object))


def categorise_text_columns(frame: pd.DataFrame, texts: list) -> pd.DataFrame:
    """``frame`` with the text columns named in ``texts`` as sorted pandas Categoricals.

    patsy encodes a column of Python strings row by row (sniffing the levels, then a
    dictionary look-up and a missing-value test per row); a Categorical it encodes from
    the integer codes, vectorised. The levels are the same: patsy sorts the distinct
    strings, and so does :class:`pandas.Categorical`, so the design (columns, names,
    reference levels, missing rows) is unchanged. Only columns whose values are all
    strings are converted; anything else is left to patsy as it is. Returns the frame (a
    shallow copy with the converted columns replaced) and the names converted.

    Examples
    --------
    >>> df = pd.DataFrame({"y": [1.0, 2, 3], "fmt": ["b", "a", None], "n": ["x", 1, 2]})
    >>> out, converted = categorise_text_columns(df, ["y ~ fmt + n"])
    >>> list(out["fmt"].cat.categories), out["n"].dtype == object
    (['a', 'b'], True)

    A categorical keeps its order, without the levels no row has:

    >>> fmt = pd.Categorical(["b", "a"], categories=["c", "b", "a"])
    >>> list(categorise_text_columns(df.iloc[:2].assign(fmt=fmt), ["y ~ fmt"])[0]["fmt"]
    ...      .cat.categories)
    ['b', 'a']
    """
    names = {tok for text in texts for tok in _NAME.findall(text)}
    convert = {}
    for col in frame.columns:
        if col not in names or not isinstance(col, str):
            continue
        values = frame[col]
        if isinstance(values.dtype, pd.CategoricalDtype):
            # a label column of a sessions table keeps its whole vocabulary as categories;
            # a level no row has would be an all-zero design column. Only the levels used
            # are kept, in their order, as R's droplevels() (lme4 drops such columns and
            # gives the same estimates)
            used = values.cat.remove_unused_categories()
            if used.cat.categories.size < values.cat.categories.size:
                convert[col] = used.array
            continue
        if not (values.dtype == object or pd.api.types.is_string_dtype(values.dtype)):
            continue
        if pd.api.types.infer_dtype(values, skipna=True) != "string":
            continue
        convert[col] = _sorted_categorical(values)
    if not convert:
        return frame, []
    out = frame.copy(deep=False)
    for col, cat in convert.items():
        out[col] = cat
    return out, list(convert)


def _patsy(formula_text: str, frame: pd.DataFrame, what: str):
    try:
        return patsy.dmatrix(formula_text, frame, NA_action="drop", return_type="dataframe")
    except patsy.PatsyError as exc:
        raise SchemaError(
            f"fit_mixed(): could not build {what} from {formula_text!r}: {exc}. Check the "
            "column names and the formula syntax."
        ) from exc


def _order_terms(terms: list, data: pd.DataFrame, reorder: bool) -> list:
    """lme4's order (decreasing number of levels, stable); ``||`` pieces of the first
    factor merged into one term with a diagonal covariance (fitted in per-level blocks)."""
    if reorder:
        nlev = [factor_labels(data, t.factors).nunique() for t in terms]
        order = sorted(range(len(terms)), key=lambda k: -nlev[k])
        terms = [terms[k] for k in order]
    main = terms[0]
    if main.diag:
        same = [t for t in terms if t.diag and t.factors == main.factors]
        if len(same) > 1:
            cols = [t.lhs.split("+", 1)[1].strip() for t in same if t.lhs != "1"]
            lhs = " + ".join((["1"] if any(t.lhs == "1" for t in same) else ["0"]) + cols)
            merged = ReTerm(lhs, main.factors, main.name, True)
            terms = [merged] + [t for t in terms if not (t.diag and t.factors == main.factors)]
    return terms


def _patsy_frames(data, formula, terms, converted, grouping):
    """(y, X, [Z per term], rows kept, frame of those rows, na_groups), built by patsy."""
    try:
        y_df, x_df = patsy.dmatrices(formula, data, NA_action="drop", return_type="dataframe")
    except patsy.PatsyError as exc:
        raise SchemaError(
            f"fit_mixed(): could not build the model from formula={formula!r}: {exc}. Check "
            "the column names and the formula syntax."
        ) from exc
    keep = x_df.index
    z_dfs = [_patsy("~ " + t.lhs, data, f"the term {t.label}") for t in terms]
    for z_df in z_dfs:
        keep = keep.intersection(z_df.index)
    na_groups = {}
    for col in grouping:  # counted on the rows complete otherwise
        miss = data.loc[keep, col].isna().to_numpy()
        if miss.any():
            na_groups[col] = int(miss.sum())
    keep = keep[data.loc[keep, grouping].notna().all(axis=1).to_numpy()]
    if keep.size == 0:
        raise SchemaError("fit_mixed(): no complete rows left after dropping missing values.")
    sub = data.loc[keep]
    if converted and keep.size != len(data):
        # levels of the rows kept only, as patsy finds them in a column of strings
        sub = sub.assign(**{c: sub[c].cat.remove_unused_categories() for c in converted})
    if keep.size != len(data):
        # rebuilt from the rows kept, so that factor levels and stateful transforms
        # (center(), standardize()) depend on those rows only: a pickled fit rebuilds the
        # same design from its stored rows (see MixedResult.__setstate__)
        y_df, x_df = patsy.dmatrices(formula, sub, NA_action="raise", return_type="dataframe")
        z_dfs = [patsy.dmatrix("~ " + t.lhs, sub, NA_action="raise", return_type="dataframe")
                 for t in terms]  # fmt: skip
    return y_df, x_df, z_dfs, keep, sub, na_groups


class _Frame:
    """A design matrix with patsy's column names and DesignInfo (the parts used here)."""

    def __init__(self, values: np.ndarray, info):
        self.values = values
        self.design_info = info
        self.columns = list(info.column_names)
        self.shape = values.shape

    def __array__(self, dtype=None, copy=None):
        return self.values if dtype is None else self.values.astype(dtype, copy=False)


def _direct_frames(data, formula, terms, converted, grouping):
    """What :func:`_patsy_frames` returns, encoded directly (:mod:`.encode`), or None.

    Used when every factor of the fixed part and of the random-effects terms is a numeric
    or Categorical column (text columns arrive as Categoricals), optionally in ``C()``,
    and the outcome is a numeric column; patsy still decides the coding, on a skeleton
    frame holding the levels of the rows kept.
    """
    z_texts = ["~ " + t.lhs for t in terms]
    factors = direct_factors(data, [formula] + z_texts)
    if factors is None:
        return None
    try:
        lhs = patsy.ModelDesc.from_formula(formula).lhs_termlist
    except patsy.PatsyError:
        return None
    if len(lhs) != 1 or len(lhs[0].factors) != 1:
        return None
    outcome = factor_column(lhs[0].factors[0].code)
    if outcome is None or outcome[1] or factors.get(outcome[0]):
        return None  # a categorical outcome: patsy's error
    cols = list(factors)
    complete = data[cols].notna().all(axis=1).to_numpy()
    na_groups = {}
    for col in grouping:  # counted on the rows complete otherwise
        miss = data[col].isna().to_numpy() & complete
        if miss.any():
            na_groups[col] = int(miss.sum())
    mask = complete & data[grouping].notna().all(axis=1).to_numpy()
    if not mask.any():
        raise SchemaError("fit_mixed(): no complete rows left after dropping missing values.")
    needed = list(dict.fromkeys(cols + [f for t in terms for f in t.factors]))
    if mask.all():
        keep, sub = data.index, data[needed]
    else:
        keep, sub = data.index[mask], data.loc[mask, needed]
        # levels of the rows kept only, as patsy finds them in a column of strings
        sub = sub.assign(**{c: sub[c].cat.remove_unused_categories() for c in converted
                            if c in sub.columns})  # fmt: skip
    levels = {}
    for col, cat in factors.items():
        if not cat:
            continue
        values = sub[col]
        if isinstance(values.dtype, pd.CategoricalDtype):
            cats = values.cat.categories
            if cats.size == 0:
                return None
            levels[col] = pd.Categorical(cats, categories=cats, ordered=values.cat.ordered)
        else:
            levels[col] = pd.unique(values.to_numpy()).tolist()  # Python scalars, as patsy
    skeleton = skeleton_frame(cols, levels)
    try:
        _, x_sk = patsy.dmatrices(formula, skeleton, return_type="dataframe")
        infos = [patsy.dmatrix(z, skeleton, return_type="dataframe").design_info
                 for z in z_texts]  # fmt: skip
        mats = [encode(info, sub) for info in [x_sk.design_info] + infos]
    except (patsy.PatsyError, ValueError):
        return None
    if any(m is None for m in mats):
        return None
    y = sub[outcome[0]].to_numpy(dtype=float)[:, None]
    x_df = _Frame(mats[0], x_sk.design_info)
    z_dfs = [_Frame(m, info) for m, info in zip(mats[1:], infos, strict=True)]
    return y, x_df, z_dfs, keep, sub, na_groups


def build_design(
    data: pd.DataFrame,
    formula: str,
    groups: str | None,
    re_formula: str | None,
    vc: dict | None,
    missing_groups: str = "drop",
    terms: list | None = None,
) -> Design:
    """Build the (scaled) arrays of the model; rows with missing values are dropped.

    The random part is either ``terms`` (:class:`ReTerm` list from an lme4-style formula,
    put in lme4's order: the factor with most levels first) or the older ``groups``,
    ``re_formula`` and ``vc`` (the same model, written differently). The first term is
    the engine's main factor (per-level blocks); the others enter the Schur complement.

    Rows missing the outcome, a fixed-effects variable, a random-effects variable
    or any grouping factor are dropped, as lme4's default ``na.action = na.omit``
    does; ``n_dropped`` counts them and ``na_groups`` says how many otherwise complete
    rows each grouping column removed. With ``missing_groups="no_effect"`` a missing
    value in the grouping column of a term other than the first is NOT a reason to
    drop: that row gets no effect for that factor (e.g. ``group_id`` exists only for
    group-format sessions; lme4: ``(0 + in_group | group_id)`` with a filled-in id).
    """
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"fit_mixed(): data must be a pandas DataFrame, got {type(data).__name__}")
    if not data.index.is_unique:
        # the rows used are kept by label (refit, pickling): repeated labels would repeat rows
        dup = data.index[data.index.duplicated()].tolist()[0]  # a Python scalar
        raise SchemaError(
            f"fit_mixed(): the index of data repeats labels (e.g. {dup!r}), as after "
            "pd.concat of several frames; the fit keeps its rows by label. Fix: pass "
            "data.reset_index(drop=True)."
        )
    reorder = terms is not None
    if terms is None:
        vc = dict(vc or {})
        _check_columns(data, {"groups": groups, **{f"vc[{k!r}]": v for k, v in vc.items()}})
        terms = old_api_terms(groups, re_formula, vc)
    else:
        cols = {f"grouping factor of {t.label}": f for t in terms for f in t.factors}
        _check_columns(data, cols)
    terms = _order_terms(list(terms), data, reorder)
    # text factors as Categoricals: the same design, encoded without patsy's per-row loop
    data, converted = categorise_text_columns(data, [formula] + [t.lhs for t in terms])
    required = terms[:1] if missing_groups == "no_effect" else terms
    grouping = list(dict.fromkeys(f for t in required for f in t.factors))
    built = _direct_frames(data, formula, terms, converted, grouping)
    if built is None:  # expressions, text/bool columns patsy codes itself, errors
        built = _patsy_frames(data, formula, terms, converted, grouping)
    y_df, x_df, z_dfs, keep, sub, na_groups = built
    x_raw = np.asarray(x_df, dtype=float)
    if y_df.shape[1] != 1:
        raise SchemaError(f"fit_mixed(): formula={formula!r} must have a single numeric outcome.")
    x_names = list(x_df.columns)
    if x_raw.shape[1] == 0:
        raise SchemaError("fit_mixed(): the fixed part has no columns; use e.g. 'y ~ 1'.")
    rank = _rank(x_raw)
    if rank < x_raw.shape[1]:
        raise SchemaError(
            f"fit_mixed(): the fixed-effects design of formula={formula!r} is rank deficient "
            f"(rank {rank} < {x_raw.shape[1]} columns: {', '.join(x_names)}). Remove aliased "
            "terms or factor levels that never occur."
        )
    for term, z_df in zip(terms, z_dfs, strict=True):
        if z_df.shape[1] == 0:
            raise SchemaError(f"fit_mixed(): the random-effects term {term.label} has no columns.")
    main, z_df = terms[0], z_dfs[0]
    z_raw = np.asarray(z_df, dtype=float)
    z_names = list(z_df.columns)
    g_codes, g_levels = pd.factorize(factor_labels(sub, main.factors), sort=True)
    vc_codes, vc_levels, vc_z = [], [], []
    for term, zk in zip(terms[1:], z_dfs[1:], strict=True):
        codes, levels = pd.factorize(factor_labels(sub, term.factors), sort=True)  # NaN -> -1
        if levels.size == 0:
            raise SchemaError(f"fit_mixed(): the grouping factor of {term.label} has no levels.")
        vc_codes.append(codes.astype(np.int64))
        vc_levels.append(np.asarray(levels))
        vc_z.append(np.asarray(zk, dtype=float))
    for term, n_levels in zip(terms, [g_levels.size] + [lv.size for lv in vc_levels],
                              strict=True):  # fmt: skip
        # lme4's checks (mkReTrms, checkNlevels): such a variance is not identifiable
        if n_levels < 2 or n_levels >= keep.size:
            raise SchemaError(
                f"fit_mixed(): the grouping factor of {term.label} has {n_levels} level(s) in "
                f"the {keep.size} rows used; a random effect needs at least 2 levels and fewer "
                "levels than rows. Drop that term or check the grouping column."
            )
    xi, zi = _intercept_col(x_names), _intercept_col(z_names)
    x_map = _scale_map(x_raw, xi is not None, xi)
    # an uncorrelated (||) main term: scale only, because centring would correlate it
    z_map = _scale_map(z_raw, zi is not None and not main.diag, zi)  # z_scaled = z_raw @ z_map
    return Design(
        y=np.asarray(y_df, dtype=float)[:, 0],
        # column-major (one column contiguous): the per-level sums read columns
        x=(x_map.T @ x_raw.T).T,
        zg=(z_map.T @ z_raw.T).T,
        g_codes=g_codes.astype(np.int64),
        g_levels=np.asarray(g_levels),
        vc_codes=vc_codes,
        vc_levels=vc_levels,
        vc_names=[t.name for t in terms[1:]],
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
        terms=terms,
        vc_z=vc_z,
        vc_z_names=[list(z.columns) for z in z_dfs[1:]],
        vc_design_infos=[z.design_info for z in z_dfs[1:]],
    )


def fixed_rows(design_info, newdata: pd.DataFrame) -> np.ndarray:
    """Fixed-effects design rows (original scale) for `newdata`, as the fit built them."""
    (mat,) = patsy.build_design_matrices([design_info], newdata, NA_action="raise")
    return np.asarray(mat, dtype=float)


def re_rows(z_design_info, newdata: pd.DataFrame) -> np.ndarray:
    """Random-effects design rows (original scale) for `newdata`."""
    (mat,) = patsy.build_design_matrices([z_design_info], newdata, NA_action="raise")
    return np.asarray(mat, dtype=float)
