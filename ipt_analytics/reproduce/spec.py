"""Read a reproduction spec (TOML), validate it against the JSON Schema, and say what is wrong.

A broken spec raises :class:`SpecError`, whose message names the spec file, the key (e.g.
``numbers[3].tolerance``) and the fix. The structure is checked by
:data:`~ipt_analytics.reproduce.schema.SPEC_SCHEMA`; what a schema cannot see (references
between analyses, "as printed" values given as numbers, duplicate names) is checked here.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import jsonschema

from ipt_analytics.reproduce.schema import SPEC_SCHEMA

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["Spec", "SpecError", "find_specs", "load_spec", "reader_of"]

#: options of an analysis that name an earlier analysis
_REFERENCES = ("model", "fit", "table")


class SpecError(Exception):
    """A spec that cannot be run: names the spec, the key and the fix (exit code 2)."""

    def __init__(self, path, key: str, problem: str, fix: str):
        self.path, self.key, self.problem, self.fix = str(path), key, problem, fix
        super().__init__(f"{self.path}: {key}: {problem} Fix: {fix}")


@dataclass
class Spec:
    """One spec as read from its file (the raw TOML document plus where it came from)."""

    path: Path
    doc: dict
    text: str = field(repr=False)

    @property
    def id(self) -> str:
        return self.doc["spec"]["id"]

    @property
    def title(self) -> str:
        return self.doc["spec"]["title"]

    @property
    def origin(self) -> str:
        return self.doc["spec"]["origin"]

    @property
    def citation(self) -> dict:
        return self.doc["citation"]

    @property
    def numbers(self) -> list[dict]:
        return self.doc["numbers"]

    def tolerance(self, number: dict):
        """The number's own tolerance, else the spec's default."""
        return number.get("tolerance", self.doc.get("defaults", {}).get("tolerance"))


def find_specs(targets) -> list[Path]:
    """Spec files named by ``targets``: files as given, folders searched for ``*.toml``.

    Examples
    --------
    >>> from pathlib import Path
    >>> folder = Path(__file__).parent / "specs"
    >>> len(find_specs([folder])) == len(list(folder.glob("*.toml")))
    True
    """
    out: list[Path] = []
    for target in targets:
        path = Path(target)
        if path.is_dir():
            found = sorted(path.rglob("*.toml"))
            if not found:
                raise SpecError(path, "(folder)", "holds no *.toml spec.",
                                "name a spec file or a folder with specs.")  # fmt: skip
            out.extend(found)
        elif path.is_file():
            out.append(path)
        else:
            raise SpecError(path, "(file)", "does not exist.",
                            "check the path (a spec file or a folder of specs).")  # fmt: skip
    return out


def _key(path) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def _allowed(schema: dict) -> list[str]:
    return sorted(schema.get("properties", {}))


def _explain(error: jsonschema.ValidationError) -> tuple[str, str, str]:
    """(key, problem, fix) for one schema violation."""
    key = _key(error.absolute_path)
    kind, inst, schema = error.validator, error.instance, error.schema
    if kind == "required":
        missing = error.message.split("'")[1]
        hint = _hint(error.absolute_path, missing)
        return (f"{key}.{missing}" if error.absolute_path else missing,
                "is missing.", f"add {missing} = {hint}.")  # fmt: skip
    if kind == "additionalProperties":
        extra = sorted(set(inst) - set(schema.get("properties", {})))
        others = f" (nor are {', '.join(extra[1:])})" if extra[1:] else ""
        return (f"{key}.{extra[0]}" if error.absolute_path else extra[0],
                f"is not a known key here{others}.",
                f"remove or rename it; allowed keys: {', '.join(_allowed(schema))}.")  # fmt: skip
    if kind in ("enum", "const"):
        allowed = schema.get("enum", [schema.get("const")])
        return key, f"{inst!r} is not allowed.", f"use one of: {', '.join(map(str, allowed))}."
    if kind == "type":
        want = schema["type"] if isinstance(schema["type"], str) else " or ".join(schema["type"])
        return key, f"{inst!r} is not a {want}.", f"write a {want}."
    if kind == "pattern":
        return (key, f"{inst!r} does not match the pattern {schema['pattern']}.",
                "use letters, digits and underscores (an analysis name and a table: "
                "'name.table').")  # fmt: skip
    if kind == "anyOf" and "abs" in str(schema):
        return (
            key,
            f"{inst!r} is not a tolerance.",
            'write tolerance = "as printed", or { abs = 1e-6 }, { rel = 1e-4 }, or both.',
        )
    if kind == "oneOf":
        return (
            key,
            "needs exactly one of bundled or path.",
            ('give bundled = "btheb" (or "sleepstudy", "sample_sessions") or path = "FILE".'),
        )
    return key, error.message + ".", "see docs/reproduce.md for this key."


def _hint(path, missing: str) -> str:
    hints = {"quantity": '"what the number is"', "from": '"analysis_name.table"',
             "column": '"estimate"', "value": '"1.23" (as printed)', "id": '"my_table"',
             "origin": '"published" (or "r-derived", "own")', "reference": '"Author (year) ..."',
             "where": '"Table 2, p. 5"', "run": '"fit_mixed" (see docs/reproduce.md)'}  # fmt: skip
    return hints.get(missing, "...")


def _check_schema(path: Path, doc: dict) -> None:
    validator = jsonschema.Draft202012Validator(SPEC_SCHEMA)
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        # at the first key with a problem, the most telling error: an unknown key (a typo)
        # explains a "missing" one, and a wrong value beats a wrong type
        first = [e for e in errors if e.absolute_path == errors[0].absolute_path]
        rank = {"additionalProperties": 0, "enum": 1, "const": 1, "anyOf": 2, "type": 3}
        error = min(first, key=lambda e: (rank.get(e.validator, 4), -len(e.schema_path)))
        key, problem, fix = _explain(error)
        more = f" ({len(errors) - 1} more problem(s) after this one.)" if len(errors) > 1 else ""
        raise SpecError(path, key, problem + more, fix)


def _check_references(path: Path, doc: dict) -> None:
    names: dict[str, str] = {}
    for i, item in enumerate(doc["analysis"]):
        key = f"analysis[{i}]"
        if item["name"] in names or item["name"] == "data":
            raise SpecError(
                path,
                f"{key}.name",
                f"{item['name']!r} is used twice (or is the reserved name 'data').",
                "give every analysis its own name.",
            )
        for option in _REFERENCES:
            # a table option may also name the data themselves ("data", a plain table)
            allowed = [*names, "data"] if option == "table" else list(names)
            if option in item and item[option] not in allowed:
                raise SpecError(
                    path,
                    f"{key}.{option}",
                    f"{item[option]!r} is not an earlier analysis.",
                    f"use one of: {', '.join(allowed) or '(none)'}.",
                )
        for j, model in enumerate(item.get("models", [])):
            if model not in names:
                raise SpecError(
                    path,
                    f"{key}.models[{j}]",
                    f"{model!r} is not an earlier analysis.",
                    f"use one of: {', '.join(names) or '(none)'}.",
                )
        for j, extra in enumerate(item.get("merge", [])):
            if extra["table"] not in [*names, "data"]:
                raise SpecError(
                    path,
                    f"{key}.merge[{j}].table",
                    f"{extra['table']!r} is not an earlier analysis.",
                    f"use one of: {', '.join(names)}.",
                )
        names[item["name"]] = item["run"]
    uses_data = any(item["run"] in ("fit_mixed", "fit_trajectory", "episode_outcomes")
                    or item.get("table") == "data" for item in doc["analysis"])  # fmt: skip
    if uses_data and "data" not in doc:
        raise SpecError(
            path,
            "data",
            "is missing, but an analysis reads the data.",
            'add a [data] table with bundled = "..." or path = "...".',
        )
    reader = reader_of(doc.get("data", {}))
    for i, item in enumerate(doc["analysis"]):
        if item["run"] in ("fit_trajectory", "episode_outcomes") and reader != "sessions":
            raise SpecError(
                path,
                f"analysis[{i}].run",
                f"{item['run']} needs session data.",
                'set reader = "sessions" in [data].',
            )
    if reader == "sessions" and doc.get("data", {}).get("steps"):
        raise SpecError(
            path,
            "data.steps",
            "steps apply to tables, not to session data.",
            'remove the steps, or use reader = "table".',
        )
    for i, number in enumerate(doc["numbers"]):
        source = number["from"].split(".")[0]
        if source not in names:
            raise SpecError(
                path,
                f"numbers[{i}].from",
                f"{source!r} is not an analysis of this spec.",
                f"use one of: {', '.join(names)}.",
            )


def reader_of(data: dict) -> str:
    """``[data] reader``, by default "sessions" for the sample cohort and "table" otherwise."""
    return data.get("reader", "sessions" if data.get("bundled") == "sample_sessions" else "table")


def _check_values(path: Path, doc: dict) -> None:
    default = doc.get("defaults", {}).get("tolerance")
    origin = doc["spec"]["origin"]
    for i, number in enumerate(doc["numbers"]):
        key = f"numbers[{i}]"
        tol = number.get("tolerance", default)
        if tol is None:
            raise SpecError(
                path,
                f"{key}.tolerance",
                "is missing and [defaults] sets none.",
                'add tolerance = "as printed" (or { rel = 1e-4 }) here or in [defaults].',
            )
        if tol == "as printed" and origin == "own":
            raise SpecError(
                path,
                f"{key}.tolerance",
                "is 'as printed', but an own spec pins "
                "full-precision values (written by --update).",
                "use { rel = 1e-6, abs = 1e-9 } or another abs/rel bound.",
            )
        if "value" not in number:
            if origin == "own":
                continue  # written by --update
            raise SpecError(
                path,
                f"{key}.value",
                "is missing.",
                "add the published value (as printed, in quotes).",
            )
        value = number["value"]
        if tol == "as printed" and not isinstance(value, str):
            raise SpecError(
                path,
                f"{key}.value",
                f"{value!r} is a number, so its printed "
                "digits are unknown (0.120 would read as 0.12).",
                f'write the value exactly as printed, in quotes: value = "{value}".',
            )
        if isinstance(value, str):
            try:
                float(value)
            except ValueError:
                raise SpecError(
                    path,
                    f"{key}.value",
                    f"{value!r} is not a number.",
                    'write digits as printed, e.g. "-935.75" or "8.8e-11".',
                ) from None


def load_spec(path) -> Spec:
    """Read and check one spec file.

    Raises
    ------
    SpecError
        The file cannot be read, is not TOML, or breaks the schema or a reference rule.

    Examples
    --------
    >>> from pathlib import Path
    >>> spec = load_spec(Path(__file__).parent / "specs" / "cuijpers_2011_nnt.toml")
    >>> spec.origin, spec.numbers[0]["value"]
    ('published', '2.91')
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(
            path,
            "(file)",
            f"cannot be read ({exc}).",
            "check the path and that it is a UTF-8 text file.",
        ) from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(
            path,
            "(TOML)",
            f"is not valid TOML: {exc}.",
            "fix the syntax at that line (strings in quotes, one key = value per line).",
        ) from None
    _check_schema(path, doc)
    _check_references(path, doc)
    _check_values(path, doc)
    return Spec(path=path, doc=doc, text=text)
