"""Monthly p-chart table of the report against hand computation (Montgomery 2009, ch. 7:
p-chart with variable n; centre = pooled rate of the baseline months). Signals come from
ipt_analytics.stats.spc.p_chart (3-sigma limits and Anhoej's run rules)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ipt_analytics.reporting.report.charts import monthly_chart, spc_summary
from ipt_analytics.reporting.report.config import ReportConfig
from ipt_analytics.reporting.report.periods import parse_quarter


def _episodes(events_per_month, n=20, first="2024-01"):
    rows = []
    months = pd.period_range(first, periods=len(events_per_month), freq="M")
    for m, k in zip(months, events_per_month, strict=True):
        for i in range(n):
            end = m.start_time + pd.Timedelta(days=10)
            start = max(end - pd.Timedelta(weeks=10), months[0].start_time)
            rows.append({"start_date": start, "ended": True,
                         "end_month": m, "dropout": i < k})  # fmt: skip
    return pd.DataFrame(rows)  # the extract starts in the first month


def test_frozen_baseline_phases_and_incomplete_months():
    # 18 months of 20 episodes; months 1-3 incomplete (one extreme: 19 of 20), baseline
    # months 4-9 with 4, 5, 6, 4, 5, 6 events (pooled 30 / 120 = 0.25); month 11 has 15
    # (0.75 > 0.25 + 3 sqrt(0.25 * 0.75 / 20) = 0.5405); a new phase from month 13 whose
    # months have 10 each (centre 0.5)
    events = [19, 2, 3, 4, 5, 6, 4, 5, 6, 5, 15, 5, 10, 10, 10, 10, 10, 10]
    ep = _episodes(events)
    cfg = ReportConfig(spc_baseline=("2024-04", "2024-09"), spc_phases=("2025-01",),
                       incomplete_start_months=3)  # fmt: skip
    chart = monthly_chart(ep, "dropout", parse_quarter("2025Q2"), cfg, "none")
    assert chart["incomplete"].tolist() == [True] * 3 + [False] * 15
    assert chart["baseline"].tolist() == [False] * 3 + [True] * 6 + [False] * 9
    ucl = 0.25 + 3 * math.sqrt(0.25 * 0.75 / 20)
    first = chart.iloc[:12]
    assert np.allclose(first["centre"].iloc[3:], 0.25)
    assert np.allclose(first["ucl"].iloc[3:], ucl)
    assert np.allclose(first["lcl"].iloc[3:], max(0.0, 0.25 - 3 * math.sqrt(0.25 * 0.75 / 20)))
    assert chart["phase"].tolist() == [0] * 12 + [1] * 6
    assert np.allclose(chart["centre"].iloc[12:], 0.5)
    # month 11 is a signal; month 1 (incomplete, 0.95) is not judged
    assert chart["signal"].iloc[10] == "above upper limit"
    assert chart["signal"].iloc[0] == ""
    assert (chart["signal"] != "").sum() == 1
    summary = spc_summary(chart, cfg)
    assert summary["signals"] == ["2024-11: above upper limit"]
    assert summary["n_points"] == 15


def test_suppressed_months_have_no_rate_or_limits():
    events = [5] * 6 + [2] + [5] * 5  # month 7: 2 events (small)
    chart = monthly_chart(_episodes(events), "dropout", parse_quarter("2024Q4"),
                          ReportConfig(incomplete_start_months=0), "nhs_digital")  # fmt: skip
    assert chart["suppressed"].iloc[6]
    assert np.isnan(chart["rate"].iloc[6]) and np.isnan(chart["ucl"].iloc[6])
    assert not chart["judged"].iloc[6]
