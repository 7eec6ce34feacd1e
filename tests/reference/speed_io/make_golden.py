"""Write the validation results of the reading/validation code as it was before the speed
work of issue 14 (main at c66bfb5), for tests/test_speed_io_equivalence.py.

Run once, from the repository root, on that commit::

    python tests/reference/speed_io/make_golden.py

For each input it writes the sessions, episodes and rejected tables as CSV text (or, for the
12,000-row sample's sessions and episodes, the SHA-256 of that text, to keep the repository
small) and the counts and notes as JSON. The test regenerates the same text with the current
code and compares.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path

import pandas as pd

from ipt_analytics import read_sessions

ITEMS = [f"item_{k}" for k in range(1, 19)]
LABELS = ["instrument", "severity", "scoring_rule", "format", "problem_area",
          "secondary_problem_area", "end_reason", "contact_type"]  # fmt: skip

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
INPUTS = {
    "messy": ROOT / "data" / "sample" / "messy_sessions.csv",
    "sample": ROOT / "data" / "sample" / "sessions.csv",
}
HASHED = {("sample", "sessions"), ("sample", "episodes")}


def snapshot(path: Path) -> dict:
    """Counts, notes and the three tables (as CSV text) of reading ``path``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = read_sessions(path, on_error="quarantine")
    # the values as the code before issue 14 wrote them: item answers as float64, labels as
    # text (a no-op on that code; since issue 14 items are Int8 and labels categoricals,
    # which the test checks separately against the recorded types)
    sessions = data.sessions.astype({c: "float64" for c in ITEMS})
    text = {c: "str" for c in LABELS if isinstance(sessions[c].dtype, pd.CategoricalDtype)}
    sessions = sessions.astype(text)
    episodes = data.episodes.astype(
        {
            c: "str"
            for c in LABELS
            if c in data.episodes and isinstance(data.episodes[c].dtype, pd.CategoricalDtype)
        }  # fmt: skip
    )
    return {
        "counts": {
            "n_input_rows": data.n_input_rows,
            "n_accepted_rows": data.n_accepted_rows,
            "n_rejected_rows": data.n_rejected_rows,
            "n_duplicates_collapsed": data.n_duplicates_collapsed,
            "n_blank_rows": data.n_blank_rows,
            "layout": data.layout,
            "ignored_columns": list(data.ignored_columns),
            "notes": list(data.notes),
            "sessions_dtypes": {c: str(t) for c, t in data.sessions.dtypes.items()},
        },
        "sessions": sessions.to_csv(index=False, lineterminator="\n"),
        "episodes": episodes.to_csv(index=False, lineterminator="\n"),
        "rejected": data.rejected.to_csv(index=False, lineterminator="\n"),
    }


def main() -> None:
    for name, path in INPUTS.items():
        snap = snapshot(path)
        counts = dict(snap.pop("counts"))
        for table, text in snap.items():
            if (name, table) in HASHED:
                counts[f"{table}_sha256"] = hashlib.sha256(text.encode()).hexdigest()
            else:
                (HERE / f"{name}_{table}.csv").write_text(text, encoding="utf-8")
        (HERE / f"{name}.json").write_text(json.dumps(counts, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
