"""Making Data Count: XmR process limits, special-cause rules, variation and assurance icons.

NHS England's "Making Data Count" (MDC) summarises a series by two icons: **variation**
(common cause, special cause of improvement or concern, or neutral) from the latest point, and
**assurance** (will the process consistently pass or fail a target, or is it hit and miss).
The rules below follow the NHS-R community package NHSRplotthedots 0.2.2, which aims to
reproduce the MDC Excel tools (file and line references are to that release):

* limits (``R/ptd_spc_standard.R`` l.47-48, 66-93): ``mean`` of the baseline values, moving
  ranges ``|y_i - y_(i-1)|``, ``AMR`` their mean; with ``screen_outliers`` (default) moving
  ranges not below ``3.267 * AMR`` are dropped and AMR recomputed (Nelson 1982, J Qual Technol
  14:172-173); process limits ``mean -/+ 2.66 * AMR``; "near" limits ``mean -/+ (2/3) 2.66 AMR``;
* special-cause rules (``R/ptd_calculate_point_type.R``), in priority order: a point outside
  the process limits (strictly); a run of 7 points each strictly above (below) the previous
  (every point of the run flagged); 2 of 3 consecutive points close to a limit (beyond the
  near limit, not outside) with all 3 on the same side of the mean (only the close points
  flagged); 7 consecutive points on one side of the mean (a point on the mean breaks it);
* point type: the rule's direction (+1 above/increasing, -1 below/decreasing) times the
  improvement direction: > 0 improvement, < 0 concern, neutral direction -> neutral high/low;
* variation icon (``R/geom_ptd_icon.R`` l.148-156): the point type of the last point;
* assurance icon (``R/ptd_calculate_assurance_type.R`` l.11-34): with a target and a
  direction, target above the upper limit -> consistent fail when higher is better (pass when
  lower is better), below the lower limit -> the reverse, otherwise "inconsistent" (hit and
  miss); comparisons strict.

The MDC Excel tools do not screen outliers; ``screen_outliers=False`` reproduces them
(NHSRplotthedots ``vignettes/deviations.Rmd``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["xmr_limits", "mdc_chart", "variation_icon", "assurance_icon"]

LIMIT = 2.66  # 3 / d2 with d2 = 1.128 for moving ranges of 2 (NHSRplotthedots: 2.66)
SCREEN = 3.267  # D4 for n = 2: upper limit of the moving range chart
_DIRECTIONS = {"increase": 1, "decrease": -1, "neutral": 0}


def xmr_limits(y: Sequence[float], *, screen_outliers: bool = True) -> dict:
    """Mean, average moving range and XmR limits of a series (the baseline values).

    Examples
    --------
    NHSRplotthedots ``vignettes/deviations.Rmd``: 18 values with one outlier; by hand the mean
    is 35/18; the 17 moving ranges sum to 32 (AMR 1.882); screening drops 8 and 9 (not below
    3.267 x 1.882), leaving AMR 15/15 = 1, so UPL = 1.944 + 2.66 = 4.604.

    >>> y = [1, 2, 1, 2, 10, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1]
    >>> round(xmr_limits(y)["upl"], 4), round(xmr_limits(y, screen_outliers=False)["upl"], 4)
    (4.6044, 6.9515)
    """
    v = np.asarray(y, dtype=float)
    if v.size < 2 or not np.all(np.isfinite(v)):
        raise ValueError(
            f"xmr_limits(): need at least 2 finite values for a moving range, got {v.tolist()}"
        )
    mean = float(v.mean())
    mr = np.abs(np.diff(v))
    amr = float(mr.mean())
    if screen_outliers:
        kept = mr[mr < SCREEN * amr]
        amr = float(kept.mean()) if kept.size else amr
    near = 2 * LIMIT / 3
    return {
        "mean": mean,
        "amr": amr,
        "lpl": mean - LIMIT * amr,
        "upl": mean + LIMIT * amr,
        "nlpl": mean - near * amr,
        "nupl": mean + near * amr,
    }


def _runs(flags_at_end: np.ndarray, length: int) -> np.ndarray:
    """Spread a flag at the last point of a run back over the whole run of ``length``."""
    out = np.zeros(flags_at_end.size, dtype=int)
    for i in np.flatnonzero(flags_at_end):
        out[i - length + 1 : i + 1] = flags_at_end[i]
    return out


def _trend(y: np.ndarray) -> np.ndarray:
    """+1/-1 at every point of a run of 7 strictly increasing/decreasing points."""
    end = np.zeros(y.size, dtype=int)
    d = np.sign(np.diff(y))
    for i in range(6, y.size):
        w = d[i - 6 : i]
        if np.all(w == 1):
            end[i] = 1
        elif np.all(w == -1):
            end[i] = -1
    return _runs(end, 7)


def _one_side(rtm: np.ndarray) -> np.ndarray:
    """+1/-1 at every point of a run of 7 points on one side of the mean."""
    end = np.zeros(rtm.size, dtype=int)
    for i in range(6, rtm.size):
        w = rtm[i - 6 : i + 1]
        if w[0] != 0 and np.all(w == w[0]):
            end[i] = int(w[0])
    return _runs(end, 7)


def _two_in_three(close: np.ndarray, rtm: np.ndarray) -> np.ndarray:
    """+1/-1 at close points in a window of 3 with >= 2 close and all on one side."""
    out = np.zeros(close.size, dtype=int)
    for s in range(close.size - 2):
        c, r = close[s : s + 3], rtm[s : s + 3]
        if c.sum() >= 2 and abs(r.sum()) == 3:
            for j in range(s, s + 3):
                if close[j]:
                    out[j] = int(rtm[j])
    return out


def mdc_chart(
    values: Sequence[float],
    *,
    improvement: str = "increase",
    baseline: int | None = None,
    rebase: Sequence[int] = (),
    screen_outliers: bool = True,
) -> pd.DataFrame:
    """XmR chart of a series with the Making Data Count special-cause rules.

    Parameters
    ----------
    values : the series in time order (e.g. a monthly rate).
    improvement : "increase", "decrease" or "neutral" - which direction is better.
    baseline : limits from the first ``baseline`` points of each segment (``fix_after_n_points``),
        default all points.
    rebase : positions where a new segment (new limits) starts.
    screen_outliers : drop moving ranges >= 3.267 AMR (set False to match the Excel tools).

    Returns
    -------
    DataFrame with ``y, segment, mean, lpl, upl, nlpl, nupl, rule, direction, point_type``:
    ``rule`` is the first rule that fired (``outside_limits``, ``trend``, ``two_of_three``,
    ``shift`` or ``""``), ``point_type`` one of ``common_cause``,
    ``special_cause_improvement``, ``special_cause_concern``, ``special_cause_neutral_high`` or
    ``special_cause_neutral_low``.

    Examples
    --------
    >>> y = [5, 5, 6, 5, 5, 6, 5, 5, 6, 5, 12]
    >>> chart = mdc_chart(y, improvement="decrease")
    >>> chart["rule"].iloc[-1], chart["point_type"].iloc[-1]
    ('outside_limits', 'special_cause_concern')
    """
    if improvement not in _DIRECTIONS:
        raise ValueError(f"mdc_chart(): improvement={improvement!r}; use {list(_DIRECTIONS)}")
    y = np.asarray(values, dtype=float)
    starts = sorted({0, *[int(r) for r in rebase if 0 < int(r) < y.size]})
    bounds = [*starts, y.size]
    frames = []
    for k, (a, b) in enumerate(zip(bounds[:-1], bounds[1:], strict=False)):
        seg = y[a:b]
        lim = xmr_limits(seg[:baseline] if baseline else seg, screen_outliers=screen_outliers)
        rtm = np.sign(seg - lim["mean"]).astype(int)
        outside = (seg > lim["upl"]) | (seg < lim["lpl"])
        close = ~outside & ((seg < lim["nlpl"]) | (seg > lim["nupl"]))
        rules = [
            ("outside_limits", np.where(outside, rtm, 0)),
            ("trend", _trend(seg)),
            ("two_of_three", _two_in_three(close, rtm)),
            ("shift", _one_side(rtm)),
        ]
        rule = np.full(seg.size, "", dtype=object)
        direction = np.zeros(seg.size, dtype=int)
        for name, flags in rules:
            fire = (flags != 0) & (rule == "")
            rule[fire] = name
            direction[fire] = flags[fire]
        frames.append(
            pd.DataFrame(
                {
                    "y": seg,
                    "segment": k,
                    **{c: lim[c] for c in ("mean", "lpl", "upl", "nlpl", "nupl")},
                    "rule": rule,
                    "direction": direction,
                }
            )
        )
    out = pd.concat(frames, ignore_index=True)
    sign = out["direction"] * _DIRECTIONS[improvement]
    out["point_type"] = np.select(
        [out["direction"] == 0, _DIRECTIONS[improvement] == 0, sign > 0, sign < 0],
        [
            "common_cause",
            np.where(
                out["direction"] > 0, "special_cause_neutral_high", "special_cause_neutral_low"
            ),
            "special_cause_improvement",
            "special_cause_concern",
        ],
        default="common_cause",
    )
    out.attrs["improvement"] = improvement
    return out


def variation_icon(chart: pd.DataFrame) -> str:
    """Variation icon from the last point: ``common_cause``, ``improvement_high``/``_low``,
    ``concern_high``/``_low`` or ``neutral_high``/``_low``.

    Examples
    --------
    >>> variation_icon(mdc_chart([5, 5, 6, 5, 5, 6, 5, 5, 6, 5, 12], improvement="decrease"))
    'concern_high'
    """
    last = chart.iloc[-1]
    if last["point_type"] == "common_cause":
        return "common_cause"
    side = "high" if last["direction"] > 0 else "low"
    kind = str(last["point_type"]).replace("special_cause_", "").split("_")[0]
    return f"{kind}_{side}"


def assurance_icon(chart: pd.DataFrame, target: float | None) -> str | None:
    """Assurance icon from the last point's limits: ``consistent_pass``, ``consistent_fail``,
    ``inconsistent`` (hit and miss), or None without a target or with a neutral direction.

    Examples
    --------
    >>> chart = mdc_chart([50, 52, 51, 53, 50, 52], improvement="increase")
    >>> assurance_icon(chart, 40), assurance_icon(chart, 60), assurance_icon(chart, 51)
    ('consistent_pass', 'consistent_fail', 'inconsistent')
    """
    direction = _DIRECTIONS[chart.attrs.get("improvement", "neutral")]
    if target is None or direction == 0:
        return None
    last = chart.iloc[-1]
    if target > last["upl"]:
        return "consistent_fail" if direction > 0 else "consistent_pass"
    if target < last["lpl"]:
        return "consistent_pass" if direction > 0 else "consistent_fail"
    return "inconsistent"
