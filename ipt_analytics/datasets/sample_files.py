"""Write the committed sample files byte-identically (``ipt-analytics synth``)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from ipt_analytics.datasets.csv_text import csv_text
from ipt_analytics.datasets.synth import simulate_cohort
from ipt_analytics.datasets.synth_messy import make_messy

__all__ = ["write_sample", "main"]


def write_sample(directory: str | Path) -> dict[str, Path]:
    """Write ``sessions.csv``, ``messy_sessions.csv`` and ``messy_expected.csv``.

    The files are byte-identical on every run (fixed seeds, sorted rows, ``"\\n"`` line ends,
    no index). Returns the paths written, keyed by file name.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     sorted(write_sample(tmp))
    ['messy_expected.csv', 'messy_sessions.csv', 'sessions.csv']
    """
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    messy, expected, _ = make_messy()
    texts = {
        "sessions.csv": csv_text(simulate_cohort()),
        "messy_sessions.csv": csv_text(messy),
        "messy_expected.csv": csv_text(expected),
    }
    paths = {}
    for name, text in texts.items():
        paths[name] = out / name
        paths[name].write_bytes(text.encode("utf-8"))
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m ipt_analytics.datasets.sample_files [--out DIR]``."""
    parser = argparse.ArgumentParser(
        prog="python -m ipt_analytics.datasets.sample_files",
        description="Write the SYNTHETIC sample files (sessions, messy sessions, expected faults).",
    )
    parser.add_argument("--out", default="data/sample", help="output directory")
    args = parser.parse_args(argv)
    for path in write_sample(args.out).values():
        print(f"wrote {path} ({path.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
