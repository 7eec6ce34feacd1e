"""Command line: ``ipt-analytics <subcommand> ...``.

Each subcommand is a pair of small functions registered in :data:`SUBCOMMANDS`:
``add_arguments(parser)`` declares its options and ``run(args) -> int`` does the work by
calling the same public functions a notebook would, returning the exit code. The command
line holds no statistics of its own.

Exit codes: 0 success; 1 the data have problems (e.g. rejected rows); 2 the input cannot be
read or used (missing file, unreadable file, bad column mapping).
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections.abc import Callable

from ipt_analytics import __version__
from ipt_analytics.errors import DataWarning, SchemaError
from ipt_analytics.reporting.privacy import POLICIES, drop_identifiers, suppress_table

__all__ = ["SUBCOMMANDS", "main"]

EXIT_OK = 0
EXIT_DATA_PROBLEMS = 1
EXIT_UNREADABLE = 2


class InputError(Exception):
    """The input cannot be read or used; reported on stderr with exit code 2."""


def _load_columns(path: str | None) -> dict | None:
    if path is None:
        return None
    try:
        with open(path, encoding="utf-8") as fh:
            mapping = json.load(fh)
    except FileNotFoundError:
        raise InputError(f"--columns: file not found: {path!r}") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"--columns: {path!r} is not a readable JSON file ({exc})") from None
    if not isinstance(mapping, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()
    ):
        raise InputError(
            f"--columns: {path!r} must hold a JSON object "
            '{"your column": "canonical column", ...}'
        )
    return mapping


def _read(path: str, columns_path: str | None, encoding: str | None = None):
    """read_sessions in quarantine mode, turning unreadable input into InputError."""
    from ipt_analytics.io.sessiondata import read_sessions

    columns = _load_columns(columns_path)
    try:
        return read_sessions(path, columns=columns, on_error="quarantine", encoding=encoding)
    except (FileNotFoundError, SchemaError, ValueError, TypeError, OSError) as exc:
        raise InputError(str(exc)) from None


# --- validate -------------------------------------------------------------------------


def _add_validate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="session data: .csv, .xlsx or .parquet")
    parser.add_argument(
        "--rejected-out",
        metavar="PATH",
        help="write the rejected rows (source_row, column, value, reason, message) as CSV",
    )
    parser.add_argument(
        "--columns",
        metavar="MAPPING.json",
        help="JSON object mapping your column names to canonical ones, e.g. "
        '{"PatientID": "client_id"}',
    )
    parser.add_argument(
        "--encoding",
        metavar="CODEC",
        help="text encoding of a CSV file (default UTF-8, with or without BOM; e.g. cp1252)",
    )
    parser.add_argument(
        "--show",
        type=int,
        default=50,
        metavar="N",
        help="list the first N rejected rows with their row numbers (default 50)",
    )


def _run_validate(args: argparse.Namespace) -> int:
    return _report_validation(args, _read(args.file, args.columns, args.encoding))


def _report_validation(args: argparse.Namespace, data) -> int:
    """Print the accounting of a read file; exit code 1 when rows were rejected."""
    print(f"file: {args.file} ({data.layout} layout)")
    print(repr(data).split("\n", 1)[1])
    if data.ignored_columns:
        print(f"columns not read: {', '.join(map(str, data.ignored_columns))}")
    for note in data.notes:
        print(f"note: {note}")
    _print_rejected(data, args.show)
    if args.rejected_out:
        try:
            data.rejected.to_csv(args.rejected_out, index=False)
        except OSError as exc:
            raise InputError(f"--rejected-out: cannot write {args.rejected_out!r}: {exc}") from None
        print(f"rejected rows written to {args.rejected_out}")
    return EXIT_DATA_PROBLEMS if data.n_rejected_rows else EXIT_OK


def _print_rejected(data, limit: int) -> None:
    """List rejected rows with their source row so each fault can be found in the file."""
    rejected = data.rejected
    if rejected.empty or limit <= 0:
        return
    print(f"rejected rows (first {min(limit, len(rejected))} of {len(rejected)} problems):")
    for row in rejected.head(limit).itertuples(index=False):
        print(f"  row {row.source_row}: {row.column}={row.value!r}: {row.reason}")


# --- summary (the main job until the quarterly report exists) ----------------------------

SUMMARY_OUTCOMES = (
    ("response", "response (>= 50% reduction)"),
    ("remission", "remission (below the instrument cut-off)"),
    ("reliable_improvement", "reliable improvement (Jacobson-Truax)"),
    ("nhs_recovery", "NHS Talking Therapies recovery"),
    ("dropout", "dropout"),
)


def _add_summary_arguments(parser: argparse.ArgumentParser) -> None:
    _add_validate_arguments(parser)
    parser.add_argument(
        "--instrument", default="phq9", help="instrument for the outcomes (default phq9)"
    )
    parser.add_argument(
        "--by", default="format", help="episode column to break outcomes down by (default format)"
    )
    parser.add_argument(
        "--outcomes-out",
        metavar="PATH",
        help="write the per-episode outcomes as CSV, without client or episode identifiers",
    )
    parser.add_argument(
        "--suppress",
        default="nhs_digital",
        choices=[*POLICIES, "none"],
        metavar="POLICY",
        help="small-cell suppression of the printed table: "
        f"{', '.join(POLICIES)} (default nhs_digital), or none for internal working tables only",
    )


def _run_summary(args: argparse.Namespace) -> int:
    import pandas as pd

    from ipt_analytics.outcomes.episode import episode_outcomes
    from ipt_analytics.stats.groups import compare_groups
    from ipt_analytics.stats.intervals import wilson_interval

    data = _read(args.file, args.columns, args.encoding)
    code = _report_validation(args, data)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        outcomes = episode_outcomes(data, instrument=args.instrument)
    if args.by not in outcomes.columns:
        raise InputError(
            f"--by {args.by!r} is not an outcome column; use one of format, problem_area, site"
        )
    rows = []
    for column, label in SUMMARY_OUTCOMES:
        if outcomes[column].notna().sum() == 0:
            continue
        # Left-out episodes (single ratings, outside a denominator) are reported as n below.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataWarning)
            groups = compare_groups(outcomes, by=args.by, outcome=column).groups
        for g in groups.itertuples(index=False):
            rows.append(
                {
                    "outcome": label,
                    args.by: g.group,
                    "n": g.n,
                    "events": g.events,
                    "rate_%": 100 * g.rate,
                    "conf_low": g.conf_low,
                    "conf_high": g.conf_high,
                }
            )
    table = pd.DataFrame(rows, columns=["outcome", args.by, "n", "events", "rate_%",
                                        "conf_low", "conf_high"])  # fmt: skip
    print(f"\noutcomes on {args.instrument} by {args.by} (n = episodes in each denominator):")
    if args.suppress == "none":
        print("UNSUPPRESSED: do not circulate (small cells shown; internal working table)")
        shown = table.assign(n_suppressed=False, events_suppressed=False)
    else:
        # A reader may know each outcome's total denominator (e.g. all episodes), so the n of
        # the formats of one outcome form a margin: one hidden n must not be recoverable.
        sizes = table.groupby("outcome")["n"].agg(["sum", "size"])
        known = {k: int(r["sum"]) for k, r in sizes.iterrows() if r["size"] > 1}
        shown = suppress_table(
            table, count_columns=["n", "events"], policy=args.suppress, by="outcome",
            rate_columns={"rate_%": ("events", "n", 100)}, denominators={"events": "n"},
            totals={"n": known},
        )  # fmt: skip
        meta = shown.attrs["suppression"]
        print(f"small-cell suppression: {meta['policy']} ({meta['rule']}); '*' = suppressed "
              f"({meta['n_primary']} small, {meta['n_secondary']} complementary); "
              f"source: {meta['citation']}")  # fmt: skip
        if POLICIES[args.suppress].rounding:
            # the interval must come from the published (rounded) counts, not the true ones
            lo, hi = wilson_interval(shown["events"].astype(float).fillna(0).to_numpy(),
                                     shown["n"].astype(float).fillna(0).to_numpy())  # fmt: skip
            shown["conf_low"], shown["conf_high"] = lo, hi
    # rate and interval are statistics of both counts: shown only when both counts are
    hide = {"n": shown["n_suppressed"], "events": shown["events_suppressed"]}
    hide["rate"] = hide["n"] | hide["events"]
    printed = shown[["outcome", args.by]].copy()
    for col in ("n", "events"):
        printed[col] = [
            "*" if h else str(int(v)) for v, h in zip(shown[col], hide[col], strict=True)
        ]
    printed["rate_%"] = [
        "*" if h else f"{v:.1f}" for v, h in zip(shown["rate_%"], hide["rate"], strict=True)
    ]
    printed["95%_ci"] = [
        "*" if h else f"{100 * lo:.1f}-{100 * hi:.1f}"
        for lo, hi, h in zip(shown["conf_low"], shown["conf_high"], hide["rate"], strict=True)
    ]
    with pd.option_context("display.width", 120, "display.max_rows", 200):
        print(printed.to_string(index=False))
    if args.outcomes_out:
        # Exported tables leave the service: no identifier that could point back to a client
        # (episode_id defaults to client_id when the file has no episode column).
        safe = drop_identifiers(outcomes)
        safe.to_csv(args.outcomes_out, index=False)
        print(f"per-episode outcomes written to {args.outcomes_out}")
    for w in caught:
        print(f"note: {w.message}")
    return code


# --- report -------------------------------------------------------------------------------


def _add_report_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "data", nargs="?", help="session data (.csv, .xlsx, .parquet); default: the bundled sample"
    )
    parser.add_argument(
        "--quarter",
        help="quarter to report, e.g. 2026Q2 (default: the latest complete quarter in the data)",
    )
    parser.add_argument("--out", metavar="DIR", help="output folder (default reports/<quarter>)")
    parser.add_argument(
        "--config",
        metavar="REPORT.toml",
        help="service config (TOML); default: "
        "data/sample/report.toml for the sample, built-in defaults otherwise",
    )
    parser.add_argument(
        "--suppress",
        choices=[*POLICIES, "none"],
        metavar="POLICY",
        help=f"small-cell policy: {', '.join(POLICIES)} (default: the config's, "
        "else nhs_digital), or none for an internal working copy",
    )
    parser.add_argument(
        "--as-of",
        metavar="DATE",
        help="report date printed in the outputs "
        "(default: the data's last date; the clock is never used)",
    )


def _run_report(args: argparse.Namespace) -> int:
    from ipt_analytics.datasets.bundled import sample_sessions_path
    from ipt_analytics.reporting.report.cli_support import run_report

    try:
        data = args.data or sample_sessions_path()
        return run_report(
            data,
            sample=args.data is None,
            quarter=args.quarter,
            out=args.out,
            config=args.config,
            suppress=args.suppress,
            as_of=args.as_of,
            read=_read,
        )
    except (SchemaError, ValueError, OSError) as exc:
        raise InputError(str(exc)) from None


# --- synth --------------------------------------------------------------------------------


def _add_synth_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="data/sample", help="output directory")


def _run_synth(args: argparse.Namespace) -> int:
    from ipt_analytics.datasets.sample_files import write_sample

    for path in write_sample(args.out).values():
        print(f"wrote {path} ({path.stat().st_size} bytes)")
    return EXIT_OK


#: name -> (help, add_arguments, run); later subcommands register here.
SUBCOMMANDS: dict[
    str,
    tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]],
] = {
    "validate": (
        "check a session file against the data contract and count rejected rows",
        _add_validate_arguments,
        _run_validate,
    ),
    "summary": (
        "validate a session file, then print clinical outcome rates by format (main job)",
        _add_summary_arguments,
        _run_summary,
    ),
    "report": (
        "the quarterly quality-improvement report: HTML, XLSX, CSV and metrics.json",
        _add_report_arguments,
        _run_report,
    ),
    "synth": (
        "write the SYNTHETIC sample files (byte-identical on every run)",
        _add_synth_arguments,
        _run_synth,
    ),
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every registered subcommand."""
    parser = argparse.ArgumentParser(
        prog="ipt-analytics",
        description="Outcome research for Interpersonal Psychotherapy (IPT) session data.",
        epilog="Exit codes: 0 success, 1 data problems (e.g. rejected rows), "
        "2 input cannot be read.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (help_text, add_arguments, _run) in SUBCOMMANDS.items():
        add_arguments(sub.add_parser(name, help=help_text, description=help_text))
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``ipt-analytics``; returns the exit code.

    Examples
    --------
    >>> main(["validate", "no/such/file.csv"])
    2
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_UNREADABLE
    _help, _add, run = SUBCOMMANDS[args.command]
    try:
        return run(args)
    except InputError as exc:
        print(f"ipt-analytics {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_UNREADABLE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
