"""Data sources that need not fit in memory: Parquet files, DuckDB relations, Spark DataFrames.

A :class:`Source` wraps a table that lives inside a query engine and offers the few
operations the toolkit needs at scale: the column types, SQL aggregates that return only
a small reduced table (grouped sums, distinct levels) and a stream of pandas batches that
each hold whole groups (e.g. whole episodes). Two engines evaluate the same SQL:

* **DuckDB** (embedded, the default): a path to a Parquet file, a glob
  (``"data/*.parquet"``), a directory of Parquet files (read recursively) or a
  ``duckdb`` relation;
* **Spark**: a ``pyspark.sql.DataFrame`` (optional extra ``spark``); aggregates run as
  Spark SQL on a temporary view, per-group pandas work as ``groupBy().applyInPandas``.

The SQL written for a source uses only constructs both dialects share (``CASE WHEN``,
``CAST(... AS DOUBLE)``, ``isnan``, ``COUNT(DISTINCT ...)``); :class:`Source` quotes
identifiers and string literals for its own dialect.
"""

from __future__ import annotations

import glob as _glob
import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from ipt_analytics.errors import SchemaError

__all__ = ["Source", "as_source", "is_source"]

_COUNTER = itertools.count()
#: memory limit of the DuckDB connections this module opens (for Parquet paths)
DUCKDB_MEMORY_LIMIT = "512MB"


def _is_spark_frame(obj) -> bool:
    # no pyspark import unless the object comes from it (an optional extra)
    mod = type(obj).__module__ or ""
    return mod.startswith("pyspark.sql") and hasattr(obj, "groupBy")


def _is_duckdb_relation(obj) -> bool:
    return (type(obj).__module__ or "").startswith("duckdb") and hasattr(obj, "query")


def is_source(obj) -> bool:
    """True if ``obj`` is a path, glob, directory, DuckDB relation or Spark DataFrame.

    Examples
    --------
    >>> is_source(pd.DataFrame({"a": [1]})), is_source("data/*.parquet")
    (False, True)
    """
    return (
        isinstance(obj, (str, os.PathLike, Source))
        or _is_spark_frame(obj)
        or _is_duckdb_relation(obj)
    )


def _parquet_pattern(path) -> str:
    text = os.fspath(path)
    if os.path.isdir(text):
        pattern = str(Path(text) / "**" / "*.parquet")
    else:
        pattern = text
    if not _glob.glob(pattern, recursive=True):
        raise SchemaError(
            f"no Parquet file found at {text!r}: pass a Parquet file, a glob such as "
            "'data/*.parquet' or a directory holding .parquet files."
        )
    if os.path.isfile(pattern) and not pattern.lower().endswith((".parquet", ".pq")):
        raise SchemaError(
            f"{text!r} is not a Parquet file (.parquet): only Parquet files, globs and "
            "directories are read inside the engine. Fix: read other files with read_sessions(), "
            "or convert them with `ipt-analytics validate FILE --to-parquet DIR`."
        )
    return pattern


class Source:
    """A table inside DuckDB or Spark (see the module docstring); build with :func:`as_source`.

    Examples
    --------
    >>> import duckdb
    >>> rel = duckdb.sql("SELECT * FROM (VALUES ('a', 1.0), ('a', 2.0), ('b', 5.0)) t(g, y)")
    >>> src = as_source(rel)
    >>> src.engine, src.numeric("y"), src.numeric("g")
    ('duckdb', True, False)
    >>> src.query("SELECT {g}, SUM({y}) AS s FROM {t} GROUP BY {g} ORDER BY {g}",
    ...           g=src.ident("g"), y=src.ident("y")).values.tolist()
    [['a', 3.0], ['b', 5.0]]
    """

    def __init__(self, engine: str, handle, description: str, levels: dict | None = None):
        self.engine = engine
        self._connection = None
        #: the toolkit opened this source's connection for one computation: once the
        #: statistics are in, closing it returns DuckDB's buffers before the optimisation
        self.close_after_statistics = False
        #: fixed level orders of categorical columns (first = reference), e.g. vocabularies
        self.levels = dict(levels or {})
        self._handle = handle
        self.description = description
        if engine == "duckdb":
            self.columns = list(handle.columns)
            self._types = {c: str(t).upper() for c, t in zip(handle.columns, handle.types,
                                                            strict=True)}  # fmt: skip
        else:
            self.columns = list(handle.columns)
            self._types = {c: t.upper() for c, t in handle.dtypes}
            self._view = f"ipt_source_{os.getpid()}_{next(_COUNTER)}"
            handle.createOrReplaceTempView(self._view)

    def close(self) -> None:
        """Close the DuckDB connection this module opened for a path (frees its buffers).

        Sources built on a relation or a Spark DataFrame passed in are left alone.
        """
        con = getattr(self, "_connection", None)
        if con is not None:
            con.close()
            self._connection = None

    # -- dialect -------------------------------------------------------------------------
    def ident(self, name: str) -> str:
        """The column name quoted for this engine's SQL."""
        if self.engine == "spark":
            return "`" + name.replace("`", "``") + "`"
        return '"' + name.replace('"', '""') + '"'

    def literal(self, value) -> str:
        """A Python value as a SQL literal of this engine."""
        if isinstance(value, (bool, np.bool_)):
            return "TRUE" if value else "FALSE"
        if isinstance(value, (int, np.integer)):
            return str(int(value))
        if isinstance(value, (float, np.floating)):
            return repr(float(value))
        text = str(value)
        if self.engine == "spark":
            return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
        return "'" + text.replace("'", "''") + "'"

    @property
    def sum_function(self) -> str:
        """DuckDB's compensated (Kahan) sum: sums of millions of products stay exact."""
        return "fsum" if self.engine == "duckdb" else "SUM"

    # -- schema --------------------------------------------------------------------------
    def require(self, columns, fn: str) -> None:
        missing = [c for c in columns if c not in self.columns]
        if missing:
            raise SchemaError(
                f"{fn}(): column(s) {missing} are not in {self.description}; available: "
                + ", ".join(self.columns)
            )

    def numeric(self, column: str) -> bool:
        """True for integer and floating-point columns (booleans are not numeric)."""
        t = self._types[column]
        names = ("INT", "DOUBLE", "FLOAT", "REAL", "DECIMAL", "LONG", "SHORT", "BYTE", "NUMERIC")
        return any(k in t for k in names) and "INTERVAL" not in t

    def floating(self, column: str) -> bool:
        t = self._types[column]
        return any(k in t for k in ("DOUBLE", "FLOAT", "REAL"))

    def boolean(self, column: str) -> bool:
        return "BOOL" in self._types[column]

    def present(self, column: str) -> str:
        """SQL condition: the value is present (not NULL, not NaN for floating columns)."""
        col = self.ident(column)
        if self.floating(column):
            return f"({col} IS NOT NULL AND NOT isnan({col}))"
        return f"{col} IS NOT NULL"

    # -- queries -------------------------------------------------------------------------
    def query(self, sql: str, **parts) -> pd.DataFrame:
        """Run ``sql`` (``{t}`` = this table, other ``{names}`` from ``parts``); a DataFrame.

        Only reduced results should come back through this method (aggregates, levels).
        """
        if self.engine == "duckdb":
            return self._handle.query("ipt_t", sql.format(t="ipt_t", **parts)).df()
        spark = self._handle.sparkSession
        return spark.sql(sql.format(t=self._view, **parts)).toPandas()

    def derive(self, sql: str, description: str | None = None, levels: dict | None = None,
               **parts) -> Source:  # fmt: skip
        """A new source defined by a query on this one (lazy: nothing is computed yet)."""
        if self.engine == "duckdb":
            handle = self._handle.query("ipt_t", sql.format(t="ipt_t", **parts))
        else:
            handle = self._handle.sparkSession.sql(sql.format(t=self._view, **parts))
        src = Source(self.engine, handle, description or self.description, levels)
        src._connection = getattr(self, "_connection", None)
        return src

    def batches(self, key: str, columns=None, rows_per_batch: int = 200_000,
                order=()) -> Iterator[pd.DataFrame]:  # fmt: skip
        """Stream the table as pandas batches of whole ``key`` groups, ordered by ``key``.

        DuckDB sorts by ``key`` (spilling to disk when needed) and streams Arrow batches;
        the rows of the last, possibly incomplete, group of a batch are carried over to
        the next one, so no group is ever split. Memory: about ``rows_per_batch`` rows plus
        one group.
        """
        if self.engine != "duckdb":
            raise ValueError("Source.batches(): streaming batches is the DuckDB path; "
                             "Spark uses groupBy().applyInPandas (Source.apply_in_groups).")
        cols = ", ".join(self.ident(c) for c in (columns or self.columns))
        order_by = ", ".join(self.ident(c) for c in (key, *order))
        rel = self._handle.query("ipt_t", f"SELECT {cols} FROM ipt_t ORDER BY {order_by}")
        # duckdb >= 1.4 names it to_arrow_reader; older releases fetch_record_batch
        fetch = getattr(rel, "to_arrow_reader", None) or rel.fetch_record_batch
        reader = fetch(rows_per_batch)
        carry = None
        for batch in reader:
            frame = batch.to_pandas()
            if carry is not None:
                frame = pd.concat([carry, frame], ignore_index=True)
            if frame.empty:
                continue
            keys = frame[key].to_numpy()
            last = keys[-1]
            tail = np.flatnonzero(keys != last)
            cut = int(tail[-1]) + 1 if tail.size else 0
            carry = frame.iloc[cut:].reset_index(drop=True)
            if cut:
                yield frame.iloc[:cut].reset_index(drop=True)
        if carry is not None and not carry.empty:
            yield carry

    def apply_in_groups(self, key: str, func, schema: str, columns=None) -> pd.DataFrame:
        """Spark: ``groupBy(key).applyInPandas(func, schema)`` collected as pandas."""
        if self.engine != "spark":
            raise ValueError("Source.apply_in_groups() is the Spark path; use batches().")
        frame = self._handle.select(*(columns or self.columns))
        return frame.groupBy(key).applyInPandas(func, schema=schema).toPandas()


def as_source(data, *, fn: str = "as_source") -> Source:
    """Wrap a Parquet path/glob/directory, a DuckDB relation or a Spark DataFrame.

    Examples
    --------
    >>> as_source(12)
    Traceback (most recent call last):
    ...
    ipt_analytics.errors.SchemaError: as_source(): data of type int is not allowed; ...
    """
    if isinstance(data, Source):
        return data
    if _is_spark_frame(data):
        return Source("spark", data, "the Spark DataFrame")
    if _is_duckdb_relation(data):
        return Source("duckdb", data, "the DuckDB relation")
    if isinstance(data, (str, os.PathLike)):
        import duckdb

        pattern = _parquet_pattern(data)
        con = duckdb.connect()
        # bounded memory on the toolkit's own connection: grouped sums spill to disk beyond
        # this instead of holding every group in RAM (a relation passed in keeps its settings)
        con.execute(f"SET memory_limit='{DUCKDB_MEMORY_LIMIT}'")
        con.execute("SET preserve_insertion_order=false")
        con.execute("SET allocator_flush_threshold='16MB'")  # give memory back after a query
        rel = con.read_parquet(pattern)
        src = Source("duckdb", rel, f"the Parquet data at {os.fspath(data)!r}")
        src._connection = con  # keep the connection alive as long as the source
        src.close_after_statistics = True  # nobody else can use this connection
        return src
    raise SchemaError(
        f"{fn}(): data of type {type(data).__name__} is not allowed; pass a pandas DataFrame, "
        "a path, glob or directory of Parquet files, a duckdb relation or a Spark DataFrame."
    )
