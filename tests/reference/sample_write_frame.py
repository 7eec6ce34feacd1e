"""Write tests/reference/sample_phq9_long.csv: the PHQ-9 model frame of the sample cohort.

Run from the repository root (before ``Rscript tests/reference/sample_trajectory.R``)::

    python tests/reference/sample_write_frame.py

The frame is built by the package itself (``read_sessions`` then
``ipt_analytics.models.trajectory.model_frame``), so R fits exactly the rows Python fits. To
keep the
parity tests fast the frame holds a documented subset of the cohort: the episodes of the sites
in ``SUBSET_SITES`` (see ``sample_subset``). Columns: the linear models' frame (``week``,
``format``, ``problem_area``, ``medication`` as 0/1, ``therapist_id``, ``group_id``,
``in_group``) plus the IPT-phase terms of the
piecewise model on the session scale (``session0 = session - 1``, ``initial``, ``middle``,
``termination``, the episode's knots and ``planned_sessions``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
SUBSET_SITES = ("eastfield", "northgate")
OUT = ROOT / "tests" / "reference" / "sample_phq9_long.csv"


def sample_subset(sessions: pd.DataFrame) -> pd.DataFrame:
    """The canonical long table restricted to the reference subset (PHQ-9 rows only)."""
    keep = sessions["site"].isin(SUBSET_SITES) & sessions["instrument"].eq("phq9")
    return sessions[keep].reset_index(drop=True)


def build_frame(sessions: pd.DataFrame) -> pd.DataFrame:
    from ipt_analytics.models.trajectory import model_frame

    sub = sample_subset(sessions)
    lin, _ = model_frame(
        sub, by=("format", "problem_area"), covariates=("medication",),
        nest=("therapist", "group"),
    )  # fmt: skip
    pw, _ = model_frame(sub, time="session", shape="piecewise")
    assert lin[["episode_id", "session"]].equals(pw[["episode_id", "session"]])
    out = lin[
        ["episode_id", "session", "week", "total", "format", "problem_area", "medication",
         "therapist_id", "group_id", "in_group"]
    ].copy()  # fmt: skip
    # planned_sessions defines the termination knot, so the frame carries it
    out["planned_sessions"] = sub.sort_values(["episode_id", "session"], kind="stable")[
        "planned_sessions"
    ].to_numpy()
    out["session0"] = pw["time"]
    for col in ("knot_initial", "knot_termination", "initial", "middle", "termination"):
        out[col] = pw[col]
    return out


def main() -> int:
    from ipt_analytics import read_sessions

    sessions = read_sessions(ROOT / "data" / "sample" / "sessions.csv").sessions
    frame = build_frame(sessions)
    frame.to_csv(OUT, index=False, float_format="%.15g")
    print(f"wrote {OUT} ({len(frame)} rows, {frame['episode_id'].nunique()} episodes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
