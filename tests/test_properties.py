"""Property test: malformed frames never crash read_sessions and rows are always accounted."""

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ipt_analytics import SchemaError, read_sessions

COLUMNS = [
    "client_id",
    "episode_id",
    "session",
    "date",
    "format",
    "problem_area",
    "group_id",
    "medication",
    "planned_sessions",
    "end_reason",
    "phq9_1",
    "phq9_2",
    "phq9_9",
    "phq9_total",
    "gad7_1",
    "gad7_total",
    "qids_sr16_total",
    "cudos_17",
]

cell = st.one_of(
    st.sampled_from(
        [
            "",
            " ",
            "0",
            "1",
            "2",
            "3",
            "4",
            "-1",
            "7.5",
            "12abc",
            "27",
            "99",
            "group",
            "Video",
            "bereavement",
            "hybrid",
            "yes",
            "maybe",
            "NaN",
            "2025-01-06",
            "2025-02-30",
            "06/01/2025",
            "01/13/2025",
            "c1",
            "c2",
            "e1",
        ]
    ),
    st.text(max_size=6),
    st.integers(-5, 40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.none(),
)


@st.composite
def frames(draw):
    cols = draw(st.lists(st.sampled_from(COLUMNS), min_size=1, max_size=10, unique=True))
    n = draw(st.integers(0, 8))
    rows = [{c: draw(cell) for c in cols} for _ in range(n)]
    df = pd.DataFrame(rows, columns=cols)
    if n and draw(st.booleans()):  # plant duplicates of random rows
        df = pd.concat([df, df.sample(n=draw(st.integers(1, n)), random_state=0)])
    return df.reset_index(drop=True)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames())
def test_malformed_frames_only_raise_schema_error_and_rows_add_up(df):
    try:
        data = read_sessions(df, on_error="quarantine")
    except SchemaError:
        return
    n_nonblank = len(df) - data.n_blank_rows
    assert data.n_input_rows == n_nonblank
    assert (
        data.n_accepted_rows + data.n_rejected_rows + data.n_duplicates_collapsed
        == data.n_input_rows
    )
    assert data.n_accepted_rows == data.sessions["source_row"].nunique()
    assert set(data.rejected["source_row"]).isdisjoint(set(data.sessions["source_row"]))
    assert data.sessions["total"].notna().all()
    assert data.sessions["session"].ge(1).all()


# --- shared outputs: no identifier, no recoverable suppressed count --------------------------

import re  # noqa: E402
import tempfile  # noqa: E402
from contextlib import redirect_stderr, redirect_stdout  # noqa: E402
from io import StringIO  # noqa: E402
from pathlib import Path  # noqa: E402

from ipt_analytics import check_no_disclosure  # noqa: E402
from ipt_analytics.cli import main  # noqa: E402

_FORMATS = ["individual", "group", "telehealth", "telephone", "internet"]
_token = st.text(alphabet="abcdefghjkmnpqrstuvwxyz", min_size=4, max_size=8)


@st.composite
def cohorts(draw):
    """A session file whose formats/sites have random tiny cells; every identifier carries a
    marker (ZQ for clients and episodes, Dr.QX for therapists, GQ for groups)."""
    formats = draw(st.lists(st.sampled_from(_FORMATS), min_size=1, max_size=4, unique=True))
    therapists = [f"Dr.QX{t}" for t in draw(st.lists(_token, min_size=1, max_size=3, unique=True))]
    lines = []
    k = 0
    for fmt in formats:
        for _ in range(draw(st.integers(1, 12))):
            k += 1
            client, therapist = f"ZQ{k}{draw(_token)}", draw(st.sampled_from(therapists))
            site = draw(st.sampled_from(["north", "south"]))
            group = f"GQ{draw(_token)}" if fmt == "group" else ""
            start = draw(st.integers(5, 27))
            n_sessions = draw(st.integers(1, 4))
            for s in range(1, n_sessions + 1):
                score = start if s == 1 else draw(st.integers(0, 27))
                date = (pd.Timestamp("2025-01-06") + pd.Timedelta(weeks=s - 1)).date()
                lines.append(f"{client},E-{client},{s},{date},{fmt},{therapist},{site},{group},"
                             f"{score}")  # fmt: skip
    header = "client_id,episode_id,session,date,format,therapist_id,site,group_id,phq9_total\n"
    return header + "\n".join(lines) + "\n"


def _published(table: pd.DataFrame) -> pd.DataFrame:
    """The exported table read back as a reader sees it (NA where suppressed)."""
    out = table.copy()
    for col in ("n", "events"):
        out[col] = pd.to_numeric(out[col]).astype("Int64")
    out["rate_pct"] = pd.to_numeric(out["rate_pct"]).astype("Float64")
    return out


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cohorts(), st.sampled_from(["nhs_digital", "cms", "pedsnet", "pcornet"]),
       st.sampled_from(["format", "site", "therapist_id"]))  # fmt: skip
def test_shared_outputs_hold_no_identifier_and_no_recoverable_small_count(text, policy, by):
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "cohort.csv"
        source.write_text(text, encoding="utf-8")
        table_path = Path(tmp) / "table.csv"
        out, err = StringIO(), StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            code = main(["summary", str(source), "--suppress", policy, "--by", by,
                         "--table-out", str(table_path)])  # fmt: skip
        assert code in (0, 1), err.getvalue()
        shared = out.getvalue() + err.getvalue() + table_path.read_text(encoding="utf-8")
        exported = pd.read_csv(table_path)
    # 1. no identifier of any kind anywhere in what is shared
    assert not re.search(r"ZQ|QX|GQ", shared), shared
    # 2. nothing hidden can be re-derived from the exported table, its rates, and the margins
    #    a reader knows: each outcome's total over groups when there are several groups, and
    #    the episode count printed above the table when it is shown
    true_n, n_episodes = _true_denominators(text)
    header_shows_episodes = re.search(r"episodes: (\S+)", out.getvalue()).group(1) != "*"
    totals = {}
    for outcome, rows in exported.groupby("outcome"):
        if len(rows) > 1 or (header_shows_episodes and true_n[outcome] == n_episodes):
            totals[outcome] = true_n[outcome]
    check_no_disclosure(
        _published(exported), policy=policy, count_columns=["n", "events"], by="outcome",
        rate_columns={"rate_pct": ("events", "n", 100)}, denominators={"events": "n"},
        totals={"n": totals},
    )  # fmt: skip


def _true_denominators(text: str) -> tuple[dict, int]:
    """Episodes in each outcome's denominator, and all episodes (from the unsuppressed data)."""
    import warnings

    from ipt_analytics import episode_outcomes

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = read_sessions(pd.read_csv(StringIO(text), dtype=str, keep_default_na=False),
                             on_error="quarantine")  # fmt: skip
        outcomes = episode_outcomes(data, instrument="phq9")
    counts = {c: int(outcomes[c].notna().sum()) for c in outcomes.columns}
    return counts, len(outcomes)
