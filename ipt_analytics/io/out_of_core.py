"""Validate a CSV file larger than memory; write the accepted rows as a Parquet dataset.

:func:`validate_to_parquet` reads the file in chunks (pandas), so memory is bounded by the
chunk size and the largest partition, never by the file:

1. **Partition** (one pass): every row goes to one of ``n_buckets`` temporary CSV files,
   chosen by a stable hash of its episode key (``episode_id``, else ``client_id``, after
   the ``columns`` mapping), so each bucket holds whole episodes. The file need not be
   sorted. Each row's line number in the original file is kept beside the bucket.
2. **Validate** each bucket with :func:`~ipt_analytics.io.read_sessions` in quarantine mode:
   the same reader, the same rules, the same reasons as in memory (the checks of the
   data contract look within an episode, or within a session of an episode).
3. **Write** the accepted rows (the canonical long table) to ``DIR/sessions/part-*.parquet``
   and the rejected rows to ``DIR/rejected.csv`` with the row numbers of the original file
   (also inside messages that cite rows), and the accounting to ``DIR/summary.json``.

The accounting ``n_accepted_rows + n_rejected_rows + n_duplicates_collapsed ==
n_input_rows`` holds as in memory. One difference: the note about overlapping episodes of
one client compares episodes within a bucket only (it is a note, not a rejection).
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import tempfile
import warnings
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ipt_analytics.errors import SchemaError
from ipt_analytics.io.sessiondata import read_sessions

__all__ = ["OutOfCoreResult", "validate_to_parquet"]

_ROWS = re.compile(r"\b(rows?) (\d+(?:(?:, | and )\d+)*)")


@dataclass
class OutOfCoreResult:
    """Accounting of :func:`validate_to_parquet` (the same fields as ``SessionData``)."""

    source: str
    out_dir: str
    n_input_rows: int = 0
    n_accepted_rows: int = 0
    n_rejected_rows: int = 0
    n_duplicates_collapsed: int = 0
    n_blank_rows: int = 0
    layout: str = ""
    rejected: pd.DataFrame = field(default_factory=pd.DataFrame)
    notes: list = field(default_factory=list)

    def rejected_by_reason(self) -> dict:
        """Rejected rows per reason (a row with several problems counts once per reason)."""
        if self.rejected.empty:
            return {}
        per = self.rejected.drop_duplicates(["source_row", "reason"])["reason"].value_counts()
        return {str(k): int(v) for k, v in per.sort_index().sort_values(
            ascending=False, kind="stable").items()}  # fmt: skip

    def summary(self) -> dict:
        return {
            "source": self.source, "layout": self.layout, "n_input_rows": self.n_input_rows,
            "n_accepted_rows": self.n_accepted_rows, "n_rejected_rows": self.n_rejected_rows,
            "n_duplicates_collapsed": self.n_duplicates_collapsed,
            "n_blank_rows": self.n_blank_rows,
            "rejected_rows_by_reason": self.rejected_by_reason(), "n_problems": len(self.rejected),
        }  # fmt: skip


def _separator(path: str, encoding: str) -> str:
    with open(path, encoding=encoding, newline="") as fh:
        header = fh.readline()
    if not header.strip():
        raise ValueError(f"read_sessions(): {path!r} is empty; expected a header row and data.")
    counts = {sep: header.count(sep) for sep in (",", ";", "\t")}  # as read_sessions detects it
    sep = max(counts, key=lambda s: counts[s])
    return sep if counts[sep] else ","


def _key_column(header: list, columns: dict | None) -> int | None:
    canon = [str((columns or {}).get(h, h)).strip() for h in header]
    for name in ("episode_id", "client_id"):
        if name in canon:
            return canon.index(name)
    return None


def _remap_message(message: str, lines: np.ndarray) -> str:
    def repl(m):
        nums = re.split(r", | and ", m.group(2))
        mapped = [str(int(lines[int(n) - 2])) for n in nums]
        sep = " and " if " and " in m.group(2) else ", "
        return f"{m.group(1)} {sep.join(mapped)}"

    return _ROWS.sub(repl, message)


def validate_to_parquet(path, out_dir, *, columns: dict | None = None,
                        encoding: str | None = None, prorate_rounding: str = "none",
                        chunk_rows: int = 100_000, n_buckets: int | None = None,
                        bucket_bytes: int = 32_000_000) -> OutOfCoreResult:  # fmt: skip
    """Validate a (large) CSV file in bounded memory; accepted rows -> Parquet dataset.

    Parameters
    ----------
    path : str or os.PathLike
        CSV file (comma, semicolon or tab separated; UTF-8 unless ``encoding``).
    out_dir : str or os.PathLike
        Output directory (created; an existing ``sessions/`` inside it is replaced):
        ``sessions/part-*.parquet`` (accepted rows, canonical long table),
        ``rejected.csv`` and ``summary.json``.
    columns, encoding, prorate_rounding
        As in :func:`~ipt_analytics.io.read_sessions`.
    chunk_rows : int
        Rows read at a time while partitioning.
    n_buckets : int, optional
        Number of partitions; default: file size / ``bucket_bytes`` (at least 1). Memory
        use is about one bucket's rows as a validated table.

    Returns
    -------
    OutOfCoreResult

    Examples
    --------
    >>> import tempfile
    >>> out = tempfile.mkdtemp()
    >>> res = validate_to_parquet("data/sample/messy_sessions.csv", out, n_buckets=3)
    >>> res.n_accepted_rows + res.n_rejected_rows + res.n_duplicates_collapsed == res.n_input_rows
    True
    >>> sorted(os.listdir(out))
    ['rejected.csv', 'sessions', 'summary.json']
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"validate_to_parquet(): file not found: {path!r}")
    if not path.lower().endswith((".csv", ".tsv", ".txt")):
        raise SchemaError(
            f"validate_to_parquet(): {path!r} is not a CSV file; out-of-core validation reads "
            "CSV text. Fix: validate .xlsx/.parquet files in memory with read_sessions()."
        )
    enc = encoding or "utf-8-sig"
    sep = _separator(path, enc)
    if n_buckets is None:
        n_buckets = max(1, int(np.ceil(os.path.getsize(path) / bucket_bytes)))
    out = Path(out_dir)
    sess_dir = out / "sessions"
    if sess_dir.exists():
        shutil.rmtree(sess_dir)
    sess_dir.mkdir(parents=True)
    result = OutOfCoreResult(source=path, out_dir=str(out))
    with tempfile.TemporaryDirectory(prefix="ipt_buckets_") as tmp:
        bucket_files, line_files = _partition(path, enc, sep, columns, chunk_rows, n_buckets, tmp)
        rejected, notes = [], []
        for b in range(n_buckets):
            lines = np.fromfile(line_files[b], dtype=np.int64)
            if lines.size == 0:
                continue
            _validate_bucket(bucket_files[b], lines, b, sess_dir, result, rejected, notes,
                             columns, prorate_rounding)  # fmt: skip
    result.rejected = (
        pd.concat(rejected, ignore_index=True).sort_values("source_row", kind="stable")
        .reset_index(drop=True) if rejected else pd.DataFrame(
            columns=["source_row", "column", "value", "reason", "message"])
    )  # fmt: skip
    result.notes = list(dict.fromkeys(notes))
    result.rejected.to_csv(out / "rejected.csv", index=False)
    (out / "summary.json").write_text(json.dumps(result.summary(), indent=2) + "\n")
    return result


def _partition(path, enc, sep, columns, chunk_rows, n_buckets, tmp):
    bucket_files = [os.path.join(tmp, f"bucket-{b:05d}.csv") for b in range(n_buckets)]
    line_files = [os.path.join(tmp, f"bucket-{b:05d}.lines") for b in range(n_buckets)]
    reader = pd.read_csv(path, sep=sep, header=None, dtype=str, keep_default_na=False,
                         na_filter=False, skip_blank_lines=False, encoding=enc,
                         chunksize=chunk_rows)  # fmt: skip
    handles = [open(f, "w", encoding="utf-8", newline="") for f in bucket_files]
    lines_out = [open(f, "wb") for f in line_files]
    try:
        header, key, line = None, None, 2
        for chunk in reader:
            chunk = chunk.fillna("")
            if header is None:
                header = [str(h) for h in chunk.iloc[0].tolist()]
                chunk = chunk.iloc[1:]
                key = _key_column(header, columns)
                for h in handles:
                    csv.writer(h, delimiter=sep).writerow(header)
            n = len(chunk)
            if key is None:
                target = np.zeros(n, dtype=np.int64)
            else:
                keys = chunk.iloc[:, key].str.strip().tolist()
                target = np.fromiter((zlib.crc32(k.encode("utf-8")) % n_buckets for k in keys),
                                     dtype=np.int64, count=n)  # fmt: skip
            numbers = np.arange(line, line + n, dtype=np.int64)
            line += n
            for b in np.unique(target):
                pick = target == b
                chunk[pick].to_csv(handles[b], sep=sep, header=False, index=False)
                numbers[pick].tofile(lines_out[b])
        if header is None:
            raise ValueError(f"read_sessions(): {path!r} is empty; expected a header row.")
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise ValueError(f"read_sessions(): could not parse {path!r} as a {sep!r}-separated CSV "
                         f"file: {str(exc).strip()}.") from None  # fmt: skip
    finally:
        for h in handles + lines_out:
            h.close()
    return bucket_files, line_files


def _validate_bucket(bucket, lines, b, sess_dir, result, rejected, notes, columns, rounding):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = read_sessions(bucket, columns=columns, on_error="quarantine",
                             prorate_rounding=rounding)  # fmt: skip
    notes += [str(w.message) for w in caught]
    result.layout = result.layout or data.layout
    result.n_input_rows += data.n_input_rows
    result.n_accepted_rows += data.n_accepted_rows
    result.n_rejected_rows += data.n_rejected_rows
    result.n_duplicates_collapsed += data.n_duplicates_collapsed
    result.n_blank_rows += data.n_blank_rows
    rej = data.rejected.copy()
    if len(rej):
        rej["message"] = [_remap_message(m, lines) for m in rej["message"]]
        rej["source_row"] = lines[rej["source_row"].to_numpy(np.int64) - 2]
        rejected.append(rej)
    sessions = data.sessions.copy()
    sessions["source_row"] = lines[sessions["source_row"].to_numpy(np.int64) - 2]
    if len(sessions):
        # microsecond timestamps: readable by Spark as well as DuckDB and pandas
        sessions.to_parquet(sess_dir / f"part-{b:05d}.parquet", index=False,
                            coerce_timestamps="us", allow_truncated_timestamps=True)  # fmt: skip


def cli_validate(args, columns: dict | None) -> int:
    """``ipt-analytics validate FILE --to-parquet DIR``: run, print the accounting, exit code.

    Exit code 1 when rows were rejected, else 0 (as ``validate`` in memory).
    """
    res = validate_to_parquet(args.file, args.to_parquet, columns=columns, encoding=args.encoding)
    print(f"file: {args.file} ({res.layout} layout), validated out of core")
    for key, value in res.summary().items():
        if key != "source":
            print(f"  {key}: {value}")
    for note in res.notes:
        print(f"note: {note}")
    if len(res.rejected) and args.show > 0:
        print(f"rejected rows (first {min(args.show, len(res.rejected))} of {len(res.rejected)} "
              "problems):")  # fmt: skip
        for row in res.rejected.head(args.show).itertuples(index=False):
            print(f"  row {row.source_row}: {row.column}={row.value!r}: {row.reason}")
    out = Path(args.to_parquet)
    print(f"accepted rows written to {out / 'sessions'}; rejected rows to {out / 'rejected.csv'}")
    if args.rejected_out:
        res.rejected.to_csv(args.rejected_out, index=False)
        print(f"rejected rows written to {args.rejected_out}")
    return 1 if res.n_rejected_rows else 0
