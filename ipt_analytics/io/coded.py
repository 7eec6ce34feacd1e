"""Text columns as integer codes into their distinct values.

A session file of a million rows holds a few hundred thousand identifiers and a handful of
labels and item answers; every check of a text cell (is it blank, a number, a known label,
a date) is therefore done once per distinct value and spread back to the rows through the
codes, and tables are sorted, grouped and taken on the codes. Categories are kept in sorted
order, so that the order of the codes is the order of the texts (a sort or a groupby on the
codes gives what it gives on the strings), and text is materialised once, at the end
(:func:`to_text`), by pyarrow from codes and categories rather than one Python string per
row.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

__all__ = [
    "arrow_pool",
    "assemble_frame",
    "codes_of",
    "ordered_codes",
    "per_row",
    "single_valued",
    "sorted_categorical",
    "text_from_codes",
    "to_text",
    "worker_threads",
]


def worker_threads() -> int:
    """Threads for column-by-column work: the machine's cores, at most 4.

    Examples
    --------
    >>> 1 <= worker_threads() <= 4
    True
    """
    return max(1, min(4, os.cpu_count() or 1))


def arrow_pool():
    """pyarrow memory pool for reading and decoding text: jemalloc where pyarrow has it.

    Reading a large file allocates and frees gigabytes in pyarrow buffers. jemalloc keeps
    freed pages for reuse, so the text decoded after the parse lands in memory already
    mapped; with pyarrow's default pool (mimalloc) on the project's virtual machine, the
    same run spent about 2 s more in the kernel mapping fresh pages. The default pool of
    the process is not changed.

    Examples
    --------
    >>> arrow_pool().bytes_allocated() >= 0
    True
    """
    import pyarrow as pa

    try:
        return pa.jemalloc_memory_pool()
    except NotImplementedError:  # a pyarrow built without jemalloc (e.g. some platforms)
        return pa.default_memory_pool()


def codes_of(column: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(codes, distinct values) of a text column; code -1 for a missing value.

    Examples
    --------
    >>> codes, values = codes_of(pd.Series(["b", "a", "b", None]))
    >>> codes.tolist(), values.tolist()
    ([0, 1, 0, -1], ['b', 'a'])
    """
    # the codes keep their small integer type (a million int8 codes are 1 MB, as int64 8 MB:
    # fresh memory costs more than the arithmetic on it); a categorical's own codes are
    # a read-only view (``Series.cat.codes`` would copy them)
    if isinstance(column.dtype, pd.CategoricalDtype):
        return column.array.codes, np.asarray(column.cat.categories, dtype=object)
    codes, uniques = pd.factorize(column)
    return codes, np.asarray(uniques, dtype=object)


def ordered_codes(column: pd.Series) -> np.ndarray:
    """Integer codes whose order is the order of the values (-1: missing): a categorical's
    own codes when its categories are sorted, else codes of the sorted distinct values.

    Examples
    --------
    >>> ordered_codes(pd.Series(["b", "a", None, "b"])).tolist()
    [1, 0, -1, 1]
    """
    dtype = column.dtype
    if isinstance(dtype, pd.CategoricalDtype) and dtype.categories.is_monotonic_increasing:
        return column.array.codes
    return pd.factorize(column, sort=True)[0]


def per_row(table: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """``table[codes]``: a per-value result read back for every row (code -1: the table's
    last value, as in Python indexing).

    A check usually has one result for every value of a column (no value is unknown, every
    cell is blank...): then each row gets it without a look-up, and an all-false result is
    a zeroed array that the system gives without writing it. Otherwise one unbuffered
    ``np.take`` ("wrap" mode reads -1 as the last slot; every code is in range).

    Examples
    --------
    >>> per_row(np.array([False, True]), np.array([1, 0, -1], dtype=np.int8)).tolist()
    [True, False, True]
    >>> per_row(np.array([np.nan, np.nan]), np.array([0, 1])).tolist()
    [nan, nan]
    >>> per_row(np.array([False, False]), np.array([1, 0])).tolist()
    [False, False]
    """
    table = np.asarray(table)
    if len(codes) and single_valued(table):
        first = table.flat[0]
        if table.dtype.kind in "biuf" and first == 0:
            return np.zeros(len(codes), dtype=table.dtype)
        return np.full(len(codes), first, dtype=table.dtype)
    return np.take(table, codes, mode="wrap")


def single_valued(table: np.ndarray) -> bool:
    """Whether a non-empty array holds one value only (NaN counts as one value).

    Examples
    --------
    >>> single_valued(np.array([np.nan, np.nan])), single_valued(np.array([1, 2]))
    (True, False)
    """
    table = np.asarray(table)
    if not table.size:
        return False
    first = table.flat[0]
    if table.dtype.kind == "f" and np.isnan(first):
        return bool(np.isnan(table).all())
    return bool((table == first).all())


def sorted_categorical(codes: np.ndarray, values, index=None) -> pd.Series:
    """Categorical Series of ``values[codes]`` (-1: missing) with sorted, distinct categories.

    ``values`` may repeat a value (e.g. two spellings of one canonical label): the
    categories are the distinct values, sorted, and the codes are remapped to them.

    Examples
    --------
    >>> s = sorted_categorical(np.array([0, 1, 2, -1]), np.array(["b", "a", "b"], dtype=object))
    >>> list(s.cat.categories), s.cat.codes.tolist()
    (['a', 'b'], [1, 0, 1, -1])
    """
    if _arrow_text(values) and values.is_unique:  # a categorical's categories: sort the
        return _sorted_from_text(codes, values, index)  # text itself, no Python strings
    values = np.asarray(values, dtype=object)
    keep = pd.notna(values) if len(values) else np.zeros(0, dtype=bool)
    present = values[keep]
    if len(pd.unique(present)) == len(present):  # distinct (categories): sort by pyarrow
        import pyarrow as pa
        import pyarrow.compute as pc

        # code point order (UTF-8 bytes compared), as Python and pandas sort text
        order = pc.array_sort_indices(pa.array(present, type=pa.large_string())).to_numpy()
        cats = present[order]
        inverse = np.empty(len(order), dtype=np.int64)
        inverse[order] = np.arange(len(order))
    else:
        cats, inverse = np.unique(present, return_inverse=True)
    remap = np.full(len(values) + 1, -1, dtype=np.int64)  # last slot: code -1 stays -1
    remap[np.flatnonzero(keep)] = inverse.ravel()
    small = np.int8 if len(cats) < 127 else np.int32
    # code -1 takes the last slot ("wrap" is Python indexing, and is not buffered)
    codes = np.asarray(codes)
    if codes.dtype.kind not in "iu":  # e.g. an empty list
        codes = codes.astype(np.intp)
    new = np.take(remap.astype(small), codes, mode="wrap")
    categorical = pd.Categorical.from_codes(
        new, categories=pd.Index(cats.astype(object), dtype="str")
    )
    return pd.Series(categorical, index=index)


def _arrow_text(values) -> bool:
    """Whether ``values`` is an Index of pandas' ``str`` dtype held by pyarrow, no missing."""
    return (
        isinstance(values, pd.Index)
        and isinstance(values.dtype, pd.StringDtype)
        and values.dtype.storage == "pyarrow"
        and not values.hasnans
    )


def _sorted_from_text(codes, values: pd.Index, index) -> pd.Series:
    """:func:`sorted_categorical` for distinct values held as Arrow text."""
    import pyarrow as pa
    import pyarrow.compute as pc

    # code point order (UTF-8 bytes compared), as Python and pandas sort text
    order = pc.sort_indices(pa.array(values.array)).to_numpy()
    inverse = np.empty(len(order) + 1, dtype=np.int64)  # last slot: code -1 stays -1
    inverse[order] = np.arange(len(order))
    inverse[-1] = -1
    small = np.int8 if len(order) < 127 else np.int32
    codes = np.asarray(codes)
    if codes.dtype.kind not in "iu":
        codes = codes.astype(np.intp)
    new = np.take(inverse.astype(small), codes, mode="wrap")
    categorical = pd.Categorical.from_codes(new, categories=values.take(order), validate=False)
    return pd.Series(categorical, index=index)


def to_text(column: pd.Series) -> pd.Series:
    """A categorical (or any text) column as pandas' ``str`` dtype, missing as NaN.

    From codes and categories in one pyarrow call (no Python string per row).

    Examples
    --------
    >>> to_text(pd.Series(pd.Categorical(["x", None, "y"]))).tolist()
    ['x', nan, 'y']
    """
    if not isinstance(column.dtype, pd.CategoricalDtype):
        return column.astype("str")
    array = text_from_codes(column.array.codes, column.cat.categories)
    return pd.Series(array, index=column.index, name=column.name)


def text_from_codes(codes: np.ndarray, categories) -> pd.api.extensions.ExtensionArray:
    """``categories[codes]`` (-1: missing) as an array of pandas' ``str`` dtype.

    Examples
    --------
    >>> list(text_from_codes(np.array([1, -1, 0]), ["a", "b"]))
    ['b', nan, 'a']
    >>> list(text_from_codes(np.array([1, -1, 0]), pd.Index(["a", "b"], dtype="str")))
    ['b', nan, 'a']
    """
    import pyarrow as pa

    missing = np.asarray(codes) < 0
    if len(categories) == 0 or missing.all():  # e.g. an optional column nobody filled in
        return pd.array(pa.nulls(len(codes), type=pa.large_string()), dtype="str")
    import pyarrow.compute as pc

    pool = arrow_pool()
    indices = pa.array(np.asarray(codes, dtype=np.int32), mask=missing, memory_pool=pool)
    if isinstance(categories, pd.Index) and pd.api.types.is_string_dtype(categories.dtype):
        # the categories' own Arrow text, without a Python string per category
        dictionary = pa.array(categories.array).cast(pa.large_string())
    else:
        dictionary = pa.array(np.asarray(categories, dtype=object), type=pa.large_string(),
                              memory_pool=pool)  # fmt: skip
    return pd.array(pc.take(dictionary, indices, memory_pool=pool), dtype="str")


def assemble_frame(columns: list[str], parts: list[tuple[list[str], object]]) -> pd.DataFrame:
    """A DataFrame from ready-made column blocks, without copying them.

    ``parts`` are ``(names, array)``: a 2-d numpy array of shape ``(len(names), n_rows)``
    (one row per column, the layout pandas keeps a block of same-typed columns in) or a
    1-d pandas extension array for one column. ``pd.DataFrame(dict)`` would copy every
    numeric column into new blocks: at a million rows and twenty float columns that is
    hundreds of megabytes written once more.

    Examples
    --------
    >>> block = np.array([[1.0, 2.0], [3.0, 4.0]])
    >>> text = pd.array(["a", "b"], dtype="str")
    >>> assemble_frame(["x", "t", "y"], [(["x", "y"], block), (["t"], text)])
       x  t    y
    0  1.0  a  3.0
    1  2.0  b  4.0
    """
    from pandas.api.internals import create_dataframe_from_blocks

    position = {name: k for k, name in enumerate(columns)}
    blocks = []
    n_rows = None
    for names, array in parts:
        placement = np.array([position[name] for name in names], dtype=np.intp)
        if isinstance(array, np.ndarray) and array.ndim == 1:
            array = array.reshape(1, -1)
        rows = array.shape[-1] if isinstance(array, np.ndarray) else len(array)
        if n_rows is not None and rows != n_rows:
            raise ValueError(f"assemble_frame(): columns {names} have {rows} rows, not {n_rows}")
        n_rows = rows
        blocks.append((array, placement))
    if sorted(p for _, p in blocks for p in p.tolist()) != list(range(len(columns))):
        raise ValueError("assemble_frame(): the parts must give every column exactly once")
    return create_dataframe_from_blocks(
        blocks, index=pd.RangeIndex(n_rows or 0), columns=pd.Index(columns)
    )
