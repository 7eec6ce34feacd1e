"""``episode_outcomes`` on data that stay in DuckDB or Spark (see :mod:`ipt_analytics.io.sources`).

Every episode is computed by the same pandas code as in memory
(:func:`~ipt_analytics.outcomes.episode.episode_outcomes`), on partitions of whole episodes
made inside the engine: DuckDB streams batches of whole episodes ordered by ``episode_id``;
Spark runs ``groupBy("episode_id").applyInPandas``. The few quantities that depend on all
episodes are resolved first, with the same code, and passed to every partition:

* the SD and mean of the baseline scores (Jacobson-Truax ``rci_sd="baseline"`` and the
  criterion-a cut-off), from every episode's baseline as :func:`episode_outcomes` finds it;
* ``nhs_tt_measures="auto"``: whether PHQ-9 and GAD-7 both occur anywhere in the data.

The result is sorted by ``episode_id`` and equals the in-memory table in every column.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from ipt_analytics.errors import DataWarning
from ipt_analytics.instruments.table import get_instrument
from ipt_analytics.io.sources import as_source

__all__ = ["episode_outcomes_source"]

_FN = "episode_outcomes"
# an episode id no real data use: it makes a partition "see" an instrument that occurs
# elsewhere in the data (nhs_tt_measures), and is removed from the result
_SENTINEL = "\x00ipt_analytics_partition_sentinel"


def _baselines(part: pd.DataFrame, compute, kwargs: dict) -> pd.DataFrame:
    """Each episode's baseline: the ``baseline`` column of episode_outcomes itself."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = compute(part, **{**kwargs, "nhs_tt_measures": False})
    return pd.DataFrame({"episode_id": out["episode_id"].astype(str).to_numpy(object),
                         "baseline": out["baseline"].to_numpy(float)})  # fmt: skip


def _with_sentinel(part: pd.DataFrame, needed: set) -> pd.DataFrame:
    missing = needed - set(part["instrument"].dropna().unique())
    if not missing:
        return part
    extra = pd.DataFrame({"episode_id": _SENTINEL, "session": 1, "instrument": sorted(missing),
                          "total": np.nan})  # fmt: skip
    return pd.concat([part, extra.astype({"session": part["session"].dtype})], ignore_index=True)


def _resolve(baselines: pd.DataFrame, instruments: set, kwargs: dict) -> dict:
    """The data-wide parameters, as episode_outcomes computes them over all episodes."""
    kw = dict(kwargs)
    base = baselines.sort_values("episode_id", kind="mergesort")["baseline"].to_numpy(float)
    known = base[~np.isnan(base)]
    if kw.get("rci_sd", "baseline") == "baseline" and known.size > 1:
        kw["rci_sd"] = float(np.std(known, ddof=1))
        if kw.get("clinical_sd") is None:
            kw["clinical_sd"] = kw["rci_sd"]
    if kw.get("clinical_mean") is None and known.size:
        kw["clinical_mean"] = float(np.mean(known))
    if kw.get("nhs_tt_measures", "auto") == "auto":
        kw["nhs_tt_measures"] = {"phq9", "gad7"} <= instruments
    return kw


def _one_partition(part: pd.DataFrame, compute, kw: dict, needed: set) -> pd.DataFrame:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = compute(_with_sentinel(part, needed), **kw)
    out = out[out["episode_id"] != _SENTINEL]
    out.attrs["_warnings"] = [str(w.message) for w in caught]
    return out


def episode_outcomes_source(data, *, compute, rows_per_batch: int = 200_000,
                            **kwargs) -> pd.DataFrame:  # fmt: skip
    """:func:`episode_outcomes` of a Parquet path, DuckDB relation or Spark DataFrame.

    ``compute`` is :func:`~ipt_analytics.outcomes.episode.episode_outcomes` (passed in by
    it, so that this module does not import it back); ``kwargs`` are its options.
    """
    src = as_source(data, fn=_FN)
    src.require(["episode_id", "session", "instrument", "total"], _FN)
    get_instrument(kwargs.get("instrument", "phq9"))  # an unknown instrument fails early
    instruments = set(src.query("SELECT DISTINCT {i} AS v FROM {t}", i=src.ident("instrument"))[
        "v"].dropna())  # fmt: skip
    needed = {"phq9", "gad7"} & instruments if kwargs.get("nhs_tt_measures", "auto") else set()
    if src.engine == "spark":
        return _spark(src, compute, instruments, needed, kwargs)
    order = ("session",)
    batches = src.batches("episode_id", rows_per_batch=rows_per_batch, order=order)
    base = pd.concat([_baselines(b, compute, kwargs) for b in batches], ignore_index=True)
    kw = _resolve(base, instruments, kwargs)
    parts, msgs = [], []
    for batch in src.batches("episode_id", rows_per_batch=rows_per_batch, order=order):
        out = _one_partition(batch, compute, kw, needed)
        msgs += out.attrs.pop("_warnings")
        parts.append(out)
    return _finish(parts, msgs, kwargs)


def _finish(parts: list, msgs: list, kwargs: dict) -> pd.DataFrame:
    attrs = dict(parts[0].attrs) if parts else {}
    for col in parts[0].columns:
        # a partition where a column is all missing infers object dtype where the whole data
        # infer another (e.g. str): use the dtype the non-empty partitions agree on
        kinds = {str(p[col].dtype) for p in parts if p[col].notna().any()}
        if len(kinds) == 1:
            target = next(p[col].dtype for p in parts if p[col].notna().any())
            for i, p in enumerate(parts):
                if p[col].dtype != target and p[col].isna().all():
                    parts[i] = p.astype({col: target})
    out = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    out = out.sort_values("episode_id", kind="mergesort").reset_index(drop=True)
    for msg in dict.fromkeys(msgs):
        warnings.warn(msg, DataWarning, stacklevel=3)
    if "definitions" in attrs:
        jt = dict(attrs["definitions"]["jacobson_truax"])
        jt["sd_source"] = kwargs.get("rci_sd", "baseline")
        attrs["definitions"] = {**attrs["definitions"], "jacobson_truax": jt}
    out.attrs = attrs
    return out


def _spark(src, compute, instruments: set, needed: set, kwargs: dict) -> pd.DataFrame:
    """Spark: groupBy("episode_id").applyInPandas, once for baselines, once for outcomes."""
    base = src.apply_in_groups("episode_id", lambda part: _baselines(part, compute, kwargs),
                               "episode_id string, baseline double")  # fmt: skip
    kw = _resolve(base, instruments, kwargs)
    first = src.query("SELECT * FROM {t} WHERE {e} IN (SELECT MIN({e}) FROM {t})",
                      e=src.ident("episode_id"))  # fmt: skip
    proto = _one_partition(first, compute, kw, needed)
    schema = ", ".join(f"`{c}` {_spark_type(proto[c])}" for c in proto.columns)

    def run(part: pd.DataFrame) -> pd.DataFrame:
        out = _one_partition(part, compute, kw, needed)
        return out.astype({c: object for c in out.columns if _spark_type(out[c]) == "boolean"})

    got = src.apply_in_groups("episode_id", run, schema)
    msgs = proto.attrs.pop("_warnings")
    for col in proto.columns:  # restore the pandas dtypes of the in-memory result
        got[col] = got[col].astype(proto[col].dtype) if str(proto[col].dtype) != "object" else got[
            col].astype(object).where(got[col].notna(), None)  # fmt: skip
    got.attrs = proto.attrs
    return _finish([got], msgs, kwargs)


def _spark_type(values: pd.Series) -> str:
    kind = str(values.dtype)
    if kind in ("bool", "boolean"):
        return "boolean"
    if kind.startswith("int") or kind.startswith("Int"):
        return "bigint"
    if kind.startswith("float") or kind.startswith("Float"):
        return "double"
    return "string"
