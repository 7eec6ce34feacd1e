"""``fit_trajectory`` on data that stay in DuckDB or Spark (see :mod:`ipt_analytics.io.sources`).

The model specification (formula, random part, time terms, level order) comes from the
same :func:`~ipt_analytics.models.trajectory_frame.model_frame` as the pandas path, run on a
small skeleton table; the model frame's row-wise columns (time, ``log_time``, ``time2``,
moderators) are then written as one SQL query over the source, checked on a sample against
:func:`~ipt_analytics.models.trajectory_frame.time_columns`, and the mixed model is fitted
from the engine's per-episode sufficient statistics. Shapes and options that need a whole
episode at once (``piecewise`` knots, the ``baseline`` covariate) or extra variance
components (``nest``) are not available on a source: the error says so.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from ipt_analytics.errors import SchemaError
from ipt_analytics.io.sources import as_source
from ipt_analytics.models.trajectory_frame import (
    _FACTOR_LEVELS,
    _as_tuple,
    model_frame,
    time_columns,
)

__all__ = ["trajectory_source"]

_FN = "fit_trajectory"


def _skeleton(by) -> pd.DataFrame:
    # one episode per vocabulary level so that every level is present for model_frame
    n_ep = max([2] + [len(_FACTOR_LEVELS[f]) for f in by])
    rows = []
    for e in range(n_ep):
        for s in (1, 2, 3):
            row = {"episode_id": f"e{e}", "session": s, "week": float(s - 1),
                   "instrument": "x", "total": float(10 + e + s)}  # fmt: skip
            for f in by:
                levels = _FACTOR_LEVELS[f]
                row[f] = levels[e % len(levels)]
            rows.append(row)
    return pd.DataFrame(rows)


def trajectory_source(data, *, instrument, time, shape, by, covariates, random, nest, reml,
                      phases):  # fmt: skip
    """(source of the model frame, spec) for :func:`fit_trajectory` on a source."""
    if shape == "piecewise" or covariates or nest:
        raise SchemaError(
            f"{_FN}(): shape='piecewise', covariates and nest need whole episodes in memory and "
            "are not available when data is a Parquet path, duckdb relation or Spark DataFrame. "
            "Fix: use shape 'linear', 'log' or 'quadratic' without covariates/nest, or fit a "
            "pandas DataFrame."
        )
    by = _as_tuple(by, "by", tuple(_FACTOR_LEVELS))
    _, spec = model_frame(_skeleton(by), instrument="x", time=time, shape=shape, by=by,
                          covariates=(), random=random, nest=None, reml=reml,
                          phases=phases)  # fmt: skip
    src = as_source(data, fn=_FN)
    need = ["episode_id", "session", "instrument", "total"] + (["week"] if time == "week" else [])
    src.require(need + list(spec.by), _FN)
    q = src.ident
    time_sql = (
        f"CAST({q('week')} AS DOUBLE)" if time == "week" else f"CAST({q('session')} AS DOUBLE) - 1"
    )
    items = [f"CAST({q('episode_id')} AS STRING) AS episode_id",
             f"CAST({q('total')} AS DOUBLE) AS total", f"{time_sql} AS time",
             f"ln(1 + {time_sql}) AS log_time",
             f"({time_sql}) * ({time_sql}) AS time2"]  # fmt: skip
    levels = {}
    for factor in spec.by:
        values = src.query(f"SELECT DISTINCT CAST({q(factor)} AS STRING) AS v FROM {{t}} "
                           f"WHERE {q('instrument')} = {src.literal(instrument)}")["v"]  # fmt: skip
        values = set(values.dropna())
        bad = sorted(values - set(_FACTOR_LEVELS[factor]))
        if bad:
            raise SchemaError(
                f"{_FN}(): column {factor!r} has values {bad} outside "
                f"{list(_FACTOR_LEVELS[factor])}; validate the data with read_sessions()."
            )
        present = [lv for lv in _FACTOR_LEVELS[factor] if lv in values]
        if len(present) < 2:
            raise ValueError(f"{_FN}(): by={factor!r} has fewer than two levels in the data "
                             f"({present}); drop it from by.")  # fmt: skip
        levels[factor] = present
        items.append(f"CAST({q(factor)} AS STRING) AS {q(factor)}")
    where = f"{q('instrument')} = {src.literal(instrument)} AND {src.present('total')}"
    frame = src.derive(f"SELECT {', '.join(items)} FROM {{t}} WHERE {where}",
                       description=src.description, levels=levels)  # fmt: skip
    _check_time_columns(frame, shape)
    frame.close_after_statistics = src.close_after_statistics
    spec = dataclasses.replace(spec, instrument=instrument,
                               levels={k: tuple(v) for k, v in levels.items()})  # fmt: skip
    return frame, spec


def _check_time_columns(frame, shape: str, n_rows: int = 2000) -> None:
    """The SQL time terms must equal :func:`time_columns` on a sample (one definition)."""
    sample = frame.query(f"SELECT time, log_time, time2 FROM {{t}} LIMIT {int(n_rows)}")
    ref = time_columns(sample["time"].to_numpy(float), shape=shape)
    for name, values in ref.items():
        if not np.allclose(sample[name].to_numpy(float), values, rtol=1e-13, equal_nan=True):
            raise SchemaError(f"{_FN}(): the engine's {name!r} differs from the pandas "
                              "definition; fit a pandas DataFrame.")  # fmt: skip
