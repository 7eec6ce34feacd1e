"""Command line: ``ipt-analytics <subcommand> ...``.

Each subcommand is a pair of small functions registered in :data:`SUBCOMMANDS`:
``add_arguments(parser)`` declares its options and ``run(args) -> int`` does the work by
calling the same public functions a notebook would, returning the exit code. The command
line holds argument parsing and printing only.

Two kinds of output (``docs/shared-outputs.md``): ``validate`` and ``--rejected-out`` are
data-steward output and show the offending values, identifiers included, so that the file can
be fixed; ``summary`` and every table it writes are shared output and never show an
identifier, a free-text value or a suppressed count.

Exit codes: 0 success; 1 the data have problems (e.g. rejected rows); 2 the input or an
option cannot be used (missing or unreadable file, bad column mapping, unknown option value,
unwritable output path), reported as one line on stderr, never a traceback; 3 an internal
error (a bug: please report it), also one line. A closed output pipe (``... | head``) ends
the command quietly with 141, as for any command stopped by SIGPIPE.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from collections.abc import Callable

from ipt_analytics import __version__
from ipt_analytics.errors import SchemaError
from ipt_analytics.reporting.summary import SHARED_POLICIES, SUMMARY_BY

__all__ = ["SUBCOMMANDS", "main"]

EXIT_OK = 0
EXIT_DATA_PROBLEMS = 1
EXIT_UNREADABLE = 2
EXIT_INTERNAL = 3
EXIT_BROKEN_PIPE = 141


class InputError(Exception):
    """The input cannot be read or used; reported on stderr with exit code 2."""


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (no usage block): ``prog: error: ... (see --help)``."""

    def error(self, message: str):  # noqa: D102 - argparse API
        self.exit(EXIT_UNREADABLE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _load_columns(value: str | None) -> dict | None:
    """``--columns``: inline JSON (``'{"PatientID": "client_id"}'``) or a JSON file."""
    if value is None:
        return None
    if value.lstrip().startswith("{"):
        where = "the inline JSON"
        try:
            mapping = json.loads(value)
        except ValueError as exc:
            raise InputError(f"--columns: {where} is not valid JSON ({exc})") from None
    else:
        where = repr(value)
        try:
            with open(value, encoding="utf-8") as fh:
                mapping = json.load(fh)
        except FileNotFoundError:
            raise InputError(
                f"--columns: file not found: {value!r} (give a JSON file or inline JSON such "
                """as '{"PatientID": "client_id"}')"""
            ) from None
        except (OSError, ValueError) as exc:
            raise InputError(f"--columns: {value!r} is not a readable JSON file ({exc})") from None
    if not isinstance(mapping, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()
    ):
        raise InputError(
            f"--columns: {where} must be a JSON object "
            '{"your column": "canonical column", ...}'
        )
    return mapping


def _read(path: str, columns: str | None, encoding: str | None = None):
    """read_sessions in quarantine mode, turning unreadable input into InputError.

    The data's notes are printed by the caller, so their DataWarnings are not shown again.
    """
    from ipt_analytics.errors import DataWarning
    from ipt_analytics.io.sessiondata import read_sessions

    mapping = _load_columns(columns)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataWarning)
            return read_sessions(path, columns=mapping, on_error="quarantine", encoding=encoding)
    except (FileNotFoundError, SchemaError, ValueError, TypeError, OSError) as exc:
        raise InputError(str(exc)) from None


# --- validate -------------------------------------------------------------------------


def _add_reading_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="session data: .csv, .xlsx or .parquet")
    parser.add_argument(
        "--columns",
        metavar="MAPPING",
        help="map your column names to canonical ones: inline JSON such as "
        """'{"PatientID": "client_id"}' or a JSON file holding that object""",
    )
    parser.add_argument(
        "--encoding",
        metavar="CODEC",
        help="text encoding of a CSV file (default UTF-8, with or without BOM; e.g. cp1252)",
    )


def _add_validate_arguments(parser: argparse.ArgumentParser) -> None:
    _add_reading_arguments(parser)
    parser.add_argument(
        "--rejected-out",
        metavar="PATH",
        help="write the rejected rows (source_row, column, value, reason, message) as CSV; "
        "data-steward output: it contains identifiers",
    )
    parser.add_argument(
        "--to-parquet",
        metavar="DIR",
        help="validate a CSV larger than memory in episode partitions; write DIR/sessions/ "
        "(accepted rows, Parquet), DIR/rejected.csv and DIR/summary.json",
    )
    parser.add_argument(
        "--show",
        type=int,
        default=50,
        metavar="N",
        help="list the first N rejected rows with their row numbers (default 50)",
    )


def _run_validate(args: argparse.Namespace) -> int:
    if args.to_parquet:  # out of core, in episode partitions: ipt_analytics/io/out_of_core.py
        from ipt_analytics.io.out_of_core import cli_validate

        try:
            return cli_validate(args, _load_columns(args.columns))
        except (FileNotFoundError, SchemaError, ValueError, TypeError, OSError) as exc:
            raise InputError(str(exc)) from None
    return _report_validation(args, _read(args.file, args.columns, args.encoding))


def _report_validation(args: argparse.Namespace, data) -> int:
    """Print the accounting of a read file; exit code 1 when rows were rejected."""
    print(f"file: {args.file} ({data.layout} layout)")
    print("DATA-STEWARD OUTPUT: shows the values of rejected rows, identifiers included; "
          "do not circulate")  # fmt: skip
    print(repr(data).split("\n", 1)[1])
    if data.ignored_columns:
        print(f"columns not read: {', '.join(map(str, data.ignored_columns))}")
    for note in data.notes:
        print(f"note: {note}")
    _print_rejected(data, args.show)
    if args.rejected_out:
        from ipt_analytics.reporting.export import write_csv

        try:
            write_csv(data.rejected, args.rejected_out)
        except OSError as exc:
            raise InputError(f"--rejected-out: {exc}") from None
        print(f"rejected rows written to {args.rejected_out} (contains identifiers: for the "
              "data steward only)")  # fmt: skip
    return EXIT_DATA_PROBLEMS if data.n_rejected_rows else EXIT_OK


def _print_rejected(data, limit: int) -> None:
    """List rejected rows with row number, column, value, reason, what is wrong and the fix."""
    rejected = data.rejected
    if rejected.empty or limit <= 0:
        return
    print(f"rejected rows (first {min(limit, len(rejected))} of {len(rejected)} problems):")
    for row in rejected.head(limit).itertuples(index=False):
        print(f"  row {row.source_row}: {row.column}={row.value!r}: {row.reason} - {row.message}")


# --- summary (the main job until the quarterly report exists) ----------------------------


def _add_summary_arguments(parser: argparse.ArgumentParser) -> None:
    _add_reading_arguments(parser)
    parser.add_argument(
        "--instrument", default="phq9", help="instrument for the outcomes (default phq9)"
    )
    parser.add_argument(
        "--by",
        default="format",
        help=f"episode column to break outcomes down by: {', '.join(SUMMARY_BY)} (default "
        "format; therapists are shown as report-local codes; identifiers are refused)",
    )
    parser.add_argument(
        "--suppress",
        default="nhs_digital",
        choices=[*SHARED_POLICIES, "none"],
        metavar="POLICY",
        help="small-cell suppression of the table: "
        f"{', '.join(SHARED_POLICIES)} (default nhs_digital), or none for internal working "
        "tables only",
    )
    parser.add_argument(
        "--table-out",
        metavar="PATH",
        help="write the (suppressed) outcome table as .csv or .xlsx: shared output",
    )
    parser.add_argument(
        "--internal-export",
        metavar="PATH",
        help="INTERNAL: write one unsuppressed row per episode as .csv or .xlsx (no client "
        "or episode IDs; therapists and groups as local codes); never to be circulated",
    )
    # removed option, kept only to say what replaced it
    parser.add_argument("--outcomes-out", metavar="PATH", help=argparse.SUPPRESS)


def _check_summary_options(args: argparse.Namespace) -> None:
    from ipt_analytics.instruments.table import INSTRUMENTS

    if args.outcomes_out is not None:
        raise InputError(
            "--outcomes-out was replaced: use --table-out PATH for the shared (suppressed) "
            "table, or --internal-export PATH for the per-episode file (internal use only)"
        )
    if args.instrument not in INSTRUMENTS:
        raise InputError(
            f"--instrument {args.instrument!r} is not known; use one of {', '.join(INSTRUMENTS)}"
        )
    if args.by not in SUMMARY_BY:
        kind = "an identifier" if args.by in ("client_id", "episode_id", "group_id") else (
            "not a grouping column")  # fmt: skip
        raise InputError(
            f"--by {args.by!r} is {kind}; shared tables are broken down by one of "
            f"{', '.join(SUMMARY_BY)}"
        )
    for option in ("table_out", "internal_export"):
        path = getattr(args, option)
        if path is not None and os.path.splitext(path)[1].lower() not in (".csv", ".xlsx"):
            raise InputError(
                f"--{option.replace('_', '-')} {path!r}: the file name must end in .csv or .xlsx"
            )


def _write_table(frame, path: str, option: str, sheet: str) -> None:
    from ipt_analytics.reporting.export import write_csv, write_xlsx

    try:
        if path.lower().endswith(".xlsx"):
            write_xlsx({sheet: frame}, path)
        else:
            write_csv(frame, path)
    except OSError as exc:
        raise InputError(f"{option}: {exc}") from None


def _print_shared_accounting(data, suppress: str) -> None:
    """Row accounting; counts of people (clients, episodes) under the suppression policy,
    since they are margins of the outcome table printed below."""
    from ipt_analytics.reporting.summary import published_count

    s = data.summary()
    print(f"  rows read: {s['n_input_rows']}")
    print(f"  accepted: {s['n_accepted_rows']}")
    print(f"  rejected: {s['n_rejected_rows']}")
    for reason, n in s["rejected_rows_by_reason"].items():
        print(f"    {reason}: {n}")
    print(f"  duplicates collapsed: {s['n_duplicates_collapsed']}")
    print(f"  clients: {published_count(s['n_clients'], suppress)}")
    print(f"  episodes: {published_count(s['n_episodes'], suppress)}")


def _run_summary(args: argparse.Namespace) -> int:
    import pandas as pd

    from ipt_analytics.outcomes.episode import episode_outcomes
    from ipt_analytics.reporting.summary import internal_episode_table, outcome_summary

    _check_summary_options(args)
    data = _read(args.file, args.columns, args.encoding)
    # shared output: counts only, never the rejected rows' values (see `validate` for those)
    print(f"file: {args.file} ({data.layout} layout)")
    _print_shared_accounting(data, args.suppress)
    if data.n_rejected_rows:
        print("note: rejected rows are listed by `ipt-analytics validate` (data-steward "
              "output: it shows identifiers)")  # fmt: skip
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            outcomes = episode_outcomes(data, instrument=args.instrument)
        result = outcome_summary(outcomes, by=args.by, suppress=args.suppress)
    except ValueError as exc:  # SchemaError included
        raise InputError(str(exc)) from None
    print(f"\noutcomes on {args.instrument} by {result.by} (n = episodes in each denominator):")
    for note in result.notes:
        print(note if note.startswith("UNSUPPRESSED") else f"note: {note}")
    if result.table.empty:
        print("(no outcome could be computed: see the notes)")
    else:
        with pd.option_context("display.width", 120, "display.max_rows", 500):
            print(result.display().to_string(index=False))
    if args.table_out:
        _write_table(result.table, args.table_out, "--table-out", "summary")
        print(f"outcome table written to {args.table_out}")
    if args.internal_export:
        _write_table(internal_episode_table(outcomes), args.internal_export,
                     "--internal-export", "episodes")  # fmt: skip
        print(f"INTERNAL per-episode outcomes written to {args.internal_export}")
        print(
            f"ipt-analytics summary: warning: {args.internal_export} is INTERNAL: one "
            "unsuppressed row per episode, from which every suppressed cell can be recounted;"
            " do not circulate it",
            file=sys.stderr,
        )
    for note in dict.fromkeys(str(w.message) for w in caught):
        print(f"note: {note}")
    for note in data.notes:
        print(f"note: {note}")
    return EXIT_DATA_PROBLEMS if data.n_rejected_rows else EXIT_OK


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
        choices=[*SHARED_POLICIES, "none"],
        metavar="POLICY",
        help=f"small-cell policy: {', '.join(SHARED_POLICIES)} (default: the config's, "
        "else nhs_digital), or none for an internal working copy",
    )
    parser.add_argument(
        "--columns",
        metavar="MAP",
        help='your column names mapped onto the contract: inline JSON such as '
        '\'{"PatientID": "client_id"}\' or a JSON file',
    )
    parser.add_argument("--encoding", help="text encoding of a CSV file (default: detected)")
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
            read=lambda path, _columns: _read(path, args.columns, args.encoding),
        )
    except (SchemaError, ValueError, OSError) as exc:
        raise InputError(str(exc)) from None


# --- synth --------------------------------------------------------------------------------


def _add_synth_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="data/sample", help="output directory")


def _run_synth(args: argparse.Namespace) -> int:
    from ipt_analytics.datasets.sample_files import write_sample

    try:
        written = write_sample(args.out)
    except OSError as exc:
        raise InputError(f"--out {args.out!r}: cannot write the sample files ({exc})") from None
    for path in written.values():
        print(f"wrote {path} ({path.stat().st_size} bytes)")
    return EXIT_OK


# --- reproduce ----------------------------------------------------------------------------


def _add_reproduce_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("specs", nargs="*", metavar="SPEC_OR_DIR",
                        help="spec files (*.toml) or folders of specs; default: the specs "
                        "shipped with ipt_analytics")  # fmt: skip
    parser.add_argument("--out", default="reports/out/reproduce",
                        help="folder for reproduce.json and reproduce.md")  # fmt: skip
    parser.add_argument("--junit", metavar="FILE", help="also write JUnit XML (one test "
                        "case per published number)")  # fmt: skip
    parser.add_argument("--update", action="store_true", help="rewrite the numbers of the "
                        "project's own specs (origin = \"own\") and show the diff; published "
                        "specs are never rewritten")  # fmt: skip


def _run_reproduce(args: argparse.Namespace) -> int:
    # exit codes: 0 all numbers reproduced, 1 a mismatch, 2 a broken spec
    from ipt_analytics.reproduce.command import SPEC_DIR, reproduce

    return reproduce(args.specs or [SPEC_DIR], out_dir=args.out, junit=args.junit,
                     update=args.update)  # fmt: skip


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
    "reproduce": (
        "check published tables declared in spec files (0 all reproduced, 1 a mismatch, "
        "2 a broken spec)",
        _add_reproduce_arguments,
        _run_reproduce,
    ),
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every registered subcommand."""
    parser = _Parser(
        prog="ipt-analytics",
        description="Outcome research for Interpersonal Psychotherapy (IPT) session data.",
        epilog="Exit codes: 0 success, 1 data problems (e.g. rejected rows), "
        "2 input or option cannot be used, 3 internal error.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
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
        return _fail(args.command, str(exc), EXIT_UNREADABLE)
    except BrokenPipeError:
        # the reader of our output has gone (e.g. `| head`): stop quietly, and keep Python
        # from complaining again when it flushes stdout at exit
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        return _fail(args.command, "interrupted", 130)
    except Exception as exc:  # a bug: one line, never a traceback
        return _fail(
            args.command,
            f"internal error ({type(exc).__name__}: {exc}); please report it with the command "
            "you ran",
            EXIT_INTERNAL,
        )


def _fail(command: str, message: str, code: int) -> int:
    one_line = " ".join(message.split())
    try:
        print(f"ipt-analytics {command}: error: {one_line}", file=sys.stderr)
    except BrokenPipeError:  # pragma: no cover - stderr closed too
        pass
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
