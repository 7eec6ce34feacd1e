"""``--update``: rewrite the numbers of the project's own specs, keeping everything else.

Only specs with ``origin = "own"`` are rewritten: their numbers are the toolkit's current
output, pinned so that drift fails CI. Published and R-derived numbers come from outside
and are never touched. The rewrite is textual (comments and layout stay): in the n-th
``[[numbers]]`` table the ``value = ...`` line is replaced, or added after the table's last key.
"""

from __future__ import annotations

import difflib
import re

__all__ = ["format_value", "rewrite_values", "unified_diff"]

_HEADER = re.compile(r"^\s*\[\[\s*numbers\s*\]\]\s*(#.*)?$")
_TABLE = re.compile(r"^\s*\[")
_VALUE = re.compile(r"^(\s*)value\s*=")
_KEY = re.compile(r"^\s*[A-Za-z_]+\s*=")


def format_value(value: float) -> str:
    """A TOML number with 10 significant digits (far below the own specs' tolerance).

    Examples
    --------
    >>> format_value(15.727078123456), format_value(12.0), format_value(float("nan"))
    ('15.72707812', '12.0', 'nan')
    """
    if value != value:
        return "nan"
    text = f"{value:.10g}"
    return text if any(c in text for c in ".en") else text + ".0"


def rewrite_values(text: str, values: dict[int, float]) -> str:
    """``text`` with ``value`` of ``numbers[i]`` set to ``values[i]`` for every ``i``.

    Examples
    --------
    >>> spec = '[[numbers]]\\nquantity = "a"\\nvalue = 1.0\\n[[numbers]]\\nquantity = "b"\\n'
    >>> print(rewrite_values(spec, {0: 2.5, 1: 3.0}), end="")
    [[numbers]]
    quantity = "a"
    value = 2.5
    [[numbers]]
    quantity = "b"
    value = 3.0
    """
    lines = text.splitlines(keepends=True)
    out: list[str] = []
    index = -1  # number of [[numbers]] tables seen, minus one
    current: int | None = None  # index of the [[numbers]] table we are in
    pending: int | None = None  # position of its last key line while it has no value line
    has_value = False

    def close():
        # a table without a value line gets one after its last key
        if current is not None and pending is not None and current in values:
            indent = out[pending][: len(out[pending]) - len(out[pending].lstrip())]
            out.insert(pending + 1, f"{indent}value = {format_value(values[current])}\n")

    for line in lines:
        if _TABLE.match(line):
            close()
            pending = None
            current = None
            has_value = False
            if _HEADER.match(line):
                index += 1
                current = index
            out.append(line)
            continue
        if current is not None and _KEY.match(line) and not _VALUE.match(line):
            out.append(line)
            pending = None if has_value else len(out) - 1
            continue
        match = _VALUE.match(line)
        if current is not None and match:
            has_value = True
            pending = None
        if current is not None and match and current in values:
            after = line.split("=", 1)[1]
            tail = "  #" + after.split("#", 1)[1].rstrip() if "#" in after else ""
            out.append(f"{match.group(1)}value = {format_value(values[current])}{tail}\n")
            pending = None
            continue
        out.append(line)
    close()
    return "".join(out)


def unified_diff(old: str, new: str, name: str) -> str:
    """The change as a unified diff ("" when nothing changed)."""
    return "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True),
            new.splitlines(keepends=True),
            fromfile=f"{name} (before)",
            tofile=f"{name} (after)",
        )
    )
