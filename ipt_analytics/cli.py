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
from collections.abc import Callable

from . import __version__
from .errors import SchemaError

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


def _read(path: str, columns_path: str | None):
    """read_sessions in quarantine mode, turning unreadable input into InputError."""
    from .sessiondata import read_sessions

    columns = _load_columns(columns_path)
    try:
        return read_sessions(path, columns=columns, on_error="quarantine")
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


def _run_validate(args: argparse.Namespace) -> int:
    data = _read(args.file, args.columns)
    print(f"file: {args.file} ({data.layout} layout)")
    print(repr(data).split("\n", 1)[1])
    if data.ignored_columns:
        print(f"columns not read: {', '.join(map(str, data.ignored_columns))}")
    for note in data.notes:
        print(f"note: {note}")
    if args.rejected_out:
        try:
            data.rejected.to_csv(args.rejected_out, index=False)
        except OSError as exc:
            raise InputError(f"--rejected-out: cannot write {args.rejected_out!r}: {exc}") from None
        print(f"rejected rows written to {args.rejected_out}")
    return EXIT_DATA_PROBLEMS if data.n_rejected_rows else EXIT_OK


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
