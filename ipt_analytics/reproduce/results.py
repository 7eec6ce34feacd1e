"""Write reproduction results: console table, JSON, Markdown and JUnit XML.

Every writer takes the same list of :class:`SpecOutcome`; the outputs are deterministic
(no clock, no host name), so two runs on the same code and data give the same files.
"""

from __future__ import annotations

import json
import math
import platform
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from pathlib import Path

__all__ = ["NumberOutcome", "SpecOutcome", "console_table", "write_json", "write_junit",
           "write_markdown"]  # fmt: skip


@dataclass
class NumberOutcome:
    """One published number and what the toolkit reproduced."""

    quantity: str
    published: str
    reproduced: float
    shown: str
    tolerance: str
    passed: bool
    difference: float


@dataclass
class SpecOutcome:
    """One spec: its numbers, or the reason it could not be run."""

    spec_id: str
    path: str
    title: str
    origin: str
    citation: str
    numbers: list[NumberOutcome] = field(default_factory=list)
    error: str = ""
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def status(self) -> str:
        if self.error:
            return "broken"
        return "pass" if all(n.passed for n in self.numbers) else "fail"

    @property
    def n_failed(self) -> int:
        return sum(not n.passed for n in self.numbers)


def _versions() -> dict:
    from importlib.metadata import version

    out = {"python": platform.python_version()}
    for name in ("ipt_analytics", "numpy", "scipy", "pandas", "statsmodels"):
        out[name] = version(name)
    return out


def console_table(outcome: SpecOutcome) -> str:
    """The side-by-side table of one spec, as printed by ``ipt-analytics reproduce``."""
    if outcome.error:
        return f"{outcome.spec_id}:\n  BROKEN SPEC: {outcome.error}\n"
    lines = [f"{outcome.spec_id}: {outcome.title} [{outcome.origin}]", f"  {outcome.citation}"]
    cols = ["quantity", "published", "reproduced", "tolerance", "result"]
    rows = [[n.quantity, n.published, n.shown, n.tolerance, "pass" if n.passed else "FAIL"]
            for n in outcome.numbers]  # fmt: skip
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(cols)]
    fmt = "  " + "  ".join(f"{{:{'<' if i == 0 else '>'}{w}}}" for i, w in enumerate(widths))
    lines += [fmt.format(*cols), fmt.format(*("-" * w for w in widths))]
    lines += [fmt.format(*r) for r in rows]
    lines.append(f"  {len(rows) - outcome.n_failed} of {len(rows)} numbers reproduced"
                 f" ({outcome.seconds:.1f} s)")  # fmt: skip
    lines += [f"  note: {n}" for n in outcome.notes]
    return "\n".join([*lines, ""])


def _clean(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(outcomes: list[SpecOutcome], path: Path) -> Path:
    """All results as JSON (numbers at full precision, NaN as null)."""
    doc = {
        "versions": _versions(),
        "specs": [
            {**{k: v for k, v in asdict(o).items() if k not in ("numbers", "seconds")},
             "status": o.status,
             "numbers": [{k: _clean(v) for k, v in asdict(n).items()} for n in o.numbers]}
            for o in outcomes
        ],
    }  # fmt: skip
    path.write_text(json.dumps(doc, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    return path


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def write_markdown(outcomes: list[SpecOutcome], path: Path) -> Path:
    """All results as Markdown: one section per spec, one table row per number."""
    passed = sum(o.status == "pass" for o in outcomes)
    lines = ["# Reproduced tables", "",
             f"{passed} of {len(outcomes)} specs reproduced; versions: "
             + ", ".join(f"{k} {v}" for k, v in _versions().items()) + ".", ""]  # fmt: skip
    for o in outcomes:
        lines += [f"## {o.spec_id}: {_md_cell(o.title)}", "",
                  f"*{o.origin}*; {_md_cell(o.citation)}. Status: **{o.status}**.", ""]  # fmt: skip
        if o.error:
            lines += [f"Broken spec: {_md_cell(o.error)}", ""]
            continue
        lines += ["| quantity | published | reproduced | tolerance | result |",
                  "|---|---:|---:|---|---|"]  # fmt: skip
        for n in o.numbers:
            lines.append(f"| {_md_cell(n.quantity)} | {n.published} | {n.shown} | "
                         f"{n.tolerance} | {'pass' if n.passed else '**FAIL**'} |")  # fmt: skip
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def write_junit(outcomes: list[SpecOutcome], path: Path) -> Path:
    """JUnit XML: one ``testsuite`` per spec, one ``testcase`` per published number.

    A broken spec is one ``testcase`` with an ``error`` element.
    """
    root = ET.Element("testsuites", name="ipt-analytics reproduce")
    totals = {"tests": 0, "failures": 0, "errors": 0}
    for o in outcomes:
        suite = ET.SubElement(root, "testsuite", name=o.spec_id, file=o.path)
        if o.error:
            case = ET.SubElement(suite, "testcase", classname=o.spec_id, name="spec")
            ET.SubElement(case, "error", message=o.error, type="BrokenSpec").text = o.error
            counts = {"tests": 1, "failures": 0, "errors": 1}
        else:
            for n in o.numbers:
                case = ET.SubElement(suite, "testcase", classname=o.spec_id, name=n.quantity)
                if not n.passed:
                    msg = (f"published {n.published}, reproduced {n.shown} "
                           f"(full {n.reproduced!r}), tolerance {n.tolerance}")  # fmt: skip
                    ET.SubElement(case, "failure", message=msg, type="Mismatch").text = msg
            counts = {"tests": len(o.numbers), "failures": o.n_failed, "errors": 0}
        for key, value in counts.items():
            suite.set(key, str(value))
            totals[key] += value
    for key, value in totals.items():
        root.set(key, str(value))
    ET.indent(root)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
    return path
