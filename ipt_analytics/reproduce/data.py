"""The data of a spec: load a bundled data set or a file, map columns, apply the steps.

Steps are small, explicit and strict: a ``recode`` or ``levels`` step that meets a value it
was not told about stops with a :class:`~ipt_analytics.reproduce.spec.SpecError` naming the
value, so that a changed data file cannot silently change a published analysis.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ipt_analytics.datasets.public import dataset_path
from ipt_analytics.errors import SchemaError
from ipt_analytics.reproduce.spec import Spec, SpecError, reader_of

__all__ = ["load_data", "resolve_path"]

# (file, reader, columns) -> loaded object: specs sharing a file read it once per process
_CACHE: dict[tuple, object] = {}


def resolve_path(spec: Spec) -> Path:
    """The data file: a bundled name, or ``path`` relative to the spec's folder, else to the
    working directory."""
    data = spec.doc["data"]
    if "bundled" in data:
        return dataset_path(data["bundled"])
    raw = Path(data["path"])
    for candidate in (spec.path.parent / raw, Path.cwd() / raw):
        if raw.is_absolute():
            candidate = raw
        if candidate.is_file():
            return candidate
    raise SpecError(
        spec.path,
        "data.path",
        f"{data['path']!r} was found neither next to the "
        f"spec ({spec.path.parent}) nor in the working directory ({Path.cwd()}).",
        "give a path relative to the spec file, or an absolute path.",
    )


def load_data(spec: Spec):
    """The spec's data after column mapping and steps: a DataFrame or a ``SessionData``."""
    data = spec.doc["data"]
    path = resolve_path(spec)
    reader = reader_of(data)
    columns = data.get("columns") or None
    key = (str(path), reader, tuple(sorted((columns or {}).items())))
    if key not in _CACHE:
        _CACHE[key] = _read(spec, path, reader, columns)
    loaded = _CACHE[key]
    if reader == "sessions":
        return loaded
    frame = loaded.copy()
    for i, step in enumerate(data.get("steps", [])):
        frame = _apply(spec, f"data.steps[{i}]", frame, step)
    return frame


def _read(spec: Spec, path: Path, reader: str, columns):
    if reader == "sessions":
        from ipt_analytics.io.sessiondata import read_sessions

        try:
            return read_sessions(path, columns=columns)
        except SchemaError as exc:
            raise SpecError(
                spec.path,
                "data",
                f"the session file is not usable: {exc}",
                "fix the file or the column mapping in [data] columns.",
            ) from None
    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise SpecError(
            spec.path,
            "data",
            f"{path} cannot be read as CSV ({exc}).",
            "give a comma-separated file with a header row.",
        ) from None
    if columns:
        missing = sorted(set(columns) - set(frame.columns))
        if missing:
            raise SpecError(
                spec.path,
                "data.columns",
                f"{missing} are not columns of {path}.",
                f"map existing columns: {', '.join(map(str, frame.columns))}.",
            )
        frame = frame.rename(columns=columns)
    return frame


def _need(spec, key, frame, names):
    missing = [c for c in names if c not in frame.columns]
    if missing:
        raise SpecError(
            spec.path,
            key,
            f"column(s) {missing} do not exist at this step.",
            f"use existing columns: {', '.join(map(str, frame.columns))}.",
        )


def _apply(spec: Spec, key: str, frame: pd.DataFrame, step: dict) -> pd.DataFrame:
    kind = step["step"]
    if kind == "row_number":
        frame[step["column"]] = np.arange(len(frame)) + step.get("start", 1)
        return frame
    if kind == "wide_to_long":
        _need(spec, key, frame, [*step["id"], *step["columns"]])
        long = frame.melt(id_vars=step["id"], value_vars=step["columns"],
                          var_name=step["names_to"], value_name=step["values_to"])  # fmt: skip
        return long.reset_index(drop=True)
    if kind == "recode":
        _need(spec, key, frame, [step["column"]])
        source = frame[step["column"]]
        mapping = step["map"]
        text = source.map(lambda v: v if isinstance(v, str) else f"{v:g}" if pd.notna(v) else v)
        unknown = sorted(set(text.dropna()) - set(mapping))
        if unknown:
            raise SpecError(
                spec.path,
                f"{key}.map",
                f"values {unknown[:5]} of column {step['column']!r} are not mapped.",
                "add them to map (every value must be listed).",
            )
        frame[step.get("to", step["column"])] = text.map(mapping)
        return frame
    if kind == "drop_missing":
        _need(spec, key, frame, step["columns"])
        return frame.dropna(subset=step["columns"]).reset_index(drop=True)
    if kind == "levels":
        _need(spec, key, frame, [step["column"]])
        values = frame[step["column"]]
        unknown = sorted(set(values.dropna().astype(str)) - set(step["levels"]))
        if unknown:
            raise SpecError(
                spec.path,
                f"{key}.levels",
                f"values {unknown[:5]} of column {step['column']!r} are not among the levels.",
                "list every value in levels (the first is the reference).",
            )
        frame[step["column"]] = pd.Categorical(values.astype(str), categories=step["levels"])
        return frame
    if kind == "astype":
        _need(spec, key, frame, [step["column"]])
        try:
            frame[step["column"]] = frame[step["column"]].astype(step["type"])
        except (TypeError, ValueError) as exc:
            raise SpecError(
                spec.path,
                f"{key}.type",
                f"column {step['column']!r} cannot be converted to {step['type']} ({exc}).",
                "convert to a type its values allow.",
            ) from None
        return frame
    raise AssertionError(kind)  # the schema allows no other step
