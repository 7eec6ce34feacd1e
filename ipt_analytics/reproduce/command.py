"""``ipt-analytics reproduce``: check every spec, print, write results, return the exit code.

Exit codes: 0 every number reproduced; 1 at least one mismatch; 2 at least one spec is
broken (cannot be read, breaks the schema, or cannot be run) - the other specs still run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

from ipt_analytics.reproduce.compare import check, format_tolerance
from ipt_analytics.reproduce.results import (
    NumberOutcome,
    SpecOutcome,
    console_table,
    write_json,
    write_junit,
    write_markdown,
)
from ipt_analytics.reproduce.runners import pick, run_analyses
from ipt_analytics.reproduce.spec import Spec, SpecError, find_specs, load_spec
from ipt_analytics.reproduce.update import rewrite_values, unified_diff

__all__ = ["SPEC_DIR", "reproduce", "run_spec"]

#: the specs shipped with the package
SPEC_DIR = Path(__file__).resolve().parent / "specs"

EXIT_OK, EXIT_MISMATCH, EXIT_BROKEN = 0, 1, 2


def _citation(spec: Spec) -> str:
    cite = spec.citation
    return f"{cite['reference']}; {cite['where']}"


def run_spec(spec: Spec) -> tuple[SpecOutcome, dict[int, float]]:
    """Run one spec; returns its outcome and the reproduced value of every number."""
    start = time.perf_counter()
    outcome = SpecOutcome(spec.id, str(spec.path), spec.title, spec.origin, _citation(spec))
    results = run_analyses(spec)
    values = {i: pick(spec, i, results) for i in range(len(spec.numbers))}
    for i, number in enumerate(spec.numbers):
        tol = spec.tolerance(number)
        published = number.get("value")
        if published is None:  # an own spec before its first --update
            raise SpecError(
                spec.path,
                f"numbers[{i}].value",
                "has not been written yet.",
                "run ipt-analytics reproduce --update on this spec.",
            )
        result = check(published, values[i], tol)
        shown = published if isinstance(published, str) else f"{published:.10g}"
        outcome.numbers.append(NumberOutcome(
            number["quantity"], shown, result.reproduced, result.shown,
            format_tolerance(tol), result.passed, result.difference))  # fmt: skip
    outcome.notes = [f"{name}: {w}" for name, r in results.items() for w in r.warnings]
    outcome.seconds = time.perf_counter() - start
    return outcome, values


def _update(spec: Spec, out: Callable[[str], None]) -> SpecOutcome:
    """Rewrite an own spec's numbers with the current output, show the diff, re-check."""
    _outcome, values = _run_for_update(spec)
    new_text = rewrite_values(spec.text, values)
    diff = unified_diff(spec.text, new_text, str(spec.path))
    if diff:
        spec.path.write_text(new_text, encoding="utf-8")
        out(diff)
        out(f"updated {spec.path}: {len(values)} numbers written.")
    else:
        out(f"{spec.path}: numbers unchanged.")
    return run_spec(load_spec(spec.path))[0]


def _run_for_update(spec: Spec):
    # an own spec may have numbers without a value yet: fill them with a placeholder so the
    # analyses run, then rewrite every value
    for number in spec.numbers:
        number.setdefault("value", 0.0)
    return run_spec(spec)


def reproduce(
    targets: Sequence,
    *,
    out_dir=None,
    junit=None,
    update: bool = False,
    out: Callable[[str], None] = print,
) -> int:
    """Check the specs named by ``targets`` (files or folders); returns the exit code.

    Parameters
    ----------
    targets : sequence of path-like
        Spec files and folders of specs (``*.toml``, searched recursively).
    out_dir : path-like, optional
        Folder for ``reproduce.json`` and ``reproduce.md`` (created if needed).
    junit : path-like, optional
        JUnit XML file: one test case per published number.
    update : bool
        Rewrite the numbers of specs with ``origin = "own"`` and show the diff. Published and
        R-derived specs are checked as usual and never rewritten.
    out : callable
        Where lines are printed.

    Examples
    --------
    >>> reproduce([SPEC_DIR / "cuijpers_2011_nnt.toml"], out=lambda line: None)
    0
    """
    outcomes: list[SpecOutcome] = []
    try:
        paths = find_specs(targets)
    except SpecError as exc:
        out(f"BROKEN SPEC: {exc}")
        return EXIT_BROKEN
    for path in paths:
        spec = None
        try:
            spec = load_spec(path)
            if update and spec.origin == "own":
                outcome = _update(spec, out)
            else:
                if update:
                    out(
                        f"{path}: origin = {spec.origin!r}: its numbers come from outside the "
                        "project and are never rewritten; checking only."
                    )
                outcome = run_spec(spec)[0]
        except SpecError as exc:
            outcome = SpecOutcome(
                spec.id if spec else path.stem,
                str(path),
                spec.title if spec else "(not run)",
                spec.origin if spec else "?",
                _citation(spec) if spec else "",
                error=str(exc),
            )
        outcomes.append(outcome)
        out(console_table(outcome))
    n_numbers = sum(len(o.numbers) for o in outcomes)
    n_failed = sum(o.n_failed for o in outcomes)
    broken = [o for o in outcomes if o.error]
    out(f"{len(outcomes)} specs, {n_numbers} numbers: {n_numbers - n_failed} "
        f"reproduced, {n_failed} mismatched; {len(broken)} broken specs.")  # fmt: skip
    if out_dir is not None:
        folder = Path(out_dir)
        folder.mkdir(parents=True, exist_ok=True)
        for path in (write_json(outcomes, folder / "reproduce.json"),
                     write_markdown(outcomes, folder / "reproduce.md")):  # fmt: skip
            out(f"wrote {path}")
    if junit is not None:
        Path(junit).parent.mkdir(parents=True, exist_ok=True)
        out(f"wrote {write_junit(outcomes, Path(junit))}")
    if broken:
        return EXIT_BROKEN
    return EXIT_MISMATCH if n_failed else EXIT_OK
