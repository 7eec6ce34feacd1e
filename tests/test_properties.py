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
