"""Seeded synthetic IPT cohorts with known true parameters.

Everything here is SYNTHETIC: no real client is behind any row. Two generators share one
linear mixed model (:data:`TRUE_PARAMETERS`):

* :func:`simulate_cohort` - a realistic routine-care cohort, one row per session, in the wide
  layout of ``data/sample/sessions.csv`` (rounded, clipped scores with item responses,
  missed weeks, format-dependent MAR dropout, a data cut-off);
* :func:`simulate_scores` - the continuous latent outcome on a balanced long frame (no
  rounding, clipping, items or dropout) for parameter-recovery tests of mixed models.

The latent PHQ-9 score of episode ``i`` of client ``c`` at week ``t`` is::

    y = intercept + u0_c + v_therapist + g_group + medication_intercept * med
        + (slope + format_slope[f] + problem_area_slope[a] + medication_slope * med + u1_c) * t
        + e

with ``(u0, u1)`` bivariate normal (SDs ``sd_client_intercept``, ``sd_client_slope``,
correlation ``corr_client``), ``v ~ N(0, sd_therapist^2)``, ``g ~ N(0, sd_group^2)`` (group
format only, else 0) and ``e ~ N(0, sd_residual^2)``. ``f`` is the format the episode was
allocated to and ``a`` its primary problem area. The committed sample files are written
byte-identically by :mod:`ipt_analytics.datasets.sample_files` (``ipt-analytics synth --out DIR``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from types import MappingProxyType

import numpy as np
import pandas as pd

from ipt_analytics.io.reading import SHARED_COLUMNS

__all__ = [
    "FORMATS",
    "PROBLEM_AREAS",
    "TRUE_PARAMETERS",
    "COHORT_DESIGN",
    "TrueParameters",
    "CohortDesign",
    "SESSION_COLUMNS",
    "simulate_cohort",
    "simulate_scores",
]

FORMATS = ("individual", "group", "telehealth", "telephone", "internet")
PROBLEM_AREAS = ("grief", "role_dispute", "role_transition", "interpersonal_deficits")
ITEM_COLUMNS = (
    [f"phq9_{i}" for i in range(1, 10)]
    + [f"gad7_{i}" for i in range(1, 8)]
    + [f"qids_sr16_{i}" for i in range(1, 17)]
)
# the file layout the reader expects: session-level columns, then instrument-prefixed items
# contact_type is optional input the synthetic services do not record
SESSION_COLUMNS = [*(c for c in SHARED_COLUMNS if c != "contact_type"), *ITEM_COLUMNS]


def _ro(mapping: dict) -> Mapping:
    return MappingProxyType(dict(mapping))


@dataclasses.dataclass(frozen=True)
class TrueParameters:
    """True parameters of the latent PHQ-9 model and of the dropout model.

    Slopes are PHQ-9 points per week (negative = improvement). The reference cell for the
    fixed slope is ``individual`` format, ``grief`` problem area, no medication. Dropout:
    after each attended session the probability of leaving before the next planned one is
    ``expit(dropout_logit[format] + dropout_score_slope * (phq9 - dropout_score_centre))``,
    where ``phq9`` is the score observed at that session (missing at random).

    Examples
    --------
    >>> TRUE_PARAMETERS.intercept, TRUE_PARAMETERS.slope
    (16.0, -0.55)
    >>> dataclasses.replace(TRUE_PARAMETERS, sd_residual=1.0).sd_residual
    1.0
    """

    intercept: float = 16.0
    slope: float = -0.55
    format_slope: Mapping[str, float] = dataclasses.field(
        default_factory=lambda: _ro(
            {"individual": 0.0, "group": 0.0, "telehealth": 0.02, "telephone": 0.05,
             "internet": 0.20}
        )
    )  # fmt: skip
    problem_area_slope: Mapping[str, float] = dataclasses.field(
        default_factory=lambda: _ro(
            {"grief": 0.0, "role_dispute": -0.05, "role_transition": -0.08,
             "interpersonal_deficits": 0.12}
        )
    )  # fmt: skip
    medication_intercept: float = 0.0
    medication_slope: float = -0.05
    sd_client_intercept: float = 4.0
    sd_client_slope: float = 0.35
    corr_client: float = -0.2
    sd_therapist: float = 1.0
    sd_group: float = 0.8
    sd_residual: float = 2.5
    dropout_logit: Mapping[str, float] = dataclasses.field(
        default_factory=lambda: _ro(
            {"individual": -4.1, "group": -4.1, "telehealth": -3.7, "telephone": -3.5,
             "internet": -2.7}
        )
    )  # fmt: skip
    dropout_score_slope: float = 0.08
    dropout_score_centre: float = 15.0


@dataclasses.dataclass(frozen=True)
class CohortDesign:
    """Design of the routine-care cohort (shares, schedules, instruments, cut-off).

    ``planned_sessions`` maps a format to ``(values, probabilities)``. GAD-7 is given at
    baseline and otherwise with probability ``p_gad7``; QIDS-SR16 at every session of
    ``qids_site``. GAD-7 and QIDS-SR16 totals are ``a + b * latent_phq9 + client effect +
    noise``, rounded and clipped (``gad7_model``/``qids_model`` = ``(a, b, sd_client, sd)``).
    """

    sites: tuple[str, ...] = ("northgate", "riverside", "eastfield", "westbrook")
    site_shares: tuple[float, ...] = (0.30, 0.27, 0.23, 0.20)
    therapists_per_site: tuple[int, ...] = (8, 8, 7, 7)
    format_shares: Mapping[str, float] = dataclasses.field(
        default_factory=lambda: _ro(
            {"individual": 0.42, "group": 0.16, "telehealth": 0.20, "telephone": 0.10,
             "internet": 0.12}
        )
    )  # fmt: skip
    problem_area_shares: Mapping[str, float] = dataclasses.field(
        default_factory=lambda: _ro(
            {"grief": 0.18, "role_dispute": 0.30, "role_transition": 0.34,
             "interpersonal_deficits": 0.18}
        )
    )  # fmt: skip
    planned_sessions: Mapping[str, tuple] = dataclasses.field(
        default_factory=lambda: _ro(
            {
                "individual": ((8, 12, 14, 16), (0.08, 0.28, 0.18, 0.46)),
                "group": ((8, 12, 14, 16), (0.30, 0.25, 0.10, 0.35)),
                "telehealth": ((8, 12, 14, 16), (0.10, 0.32, 0.18, 0.40)),
                "telephone": ((8, 12, 16), (0.15, 0.55, 0.30)),
                "internet": ((8, 12), (0.40, 0.60)),
            }
        )
    )
    secondary_share: float = 0.12
    medication_share: float = 0.40
    returning_share: float = 0.04
    group_size: tuple[int, int] = (6, 10)
    p_skip_week: float = 0.06
    max_skipped_weeks: int = 4
    p_miss_group_session: float = 0.06
    p_referred_on: float = 0.03
    p_format_switch: float = 0.05
    p_gad7: float = 0.84
    qids_site: str = "riverside"
    gad7_model: tuple[float, float, float, float] = (0.5, 0.70, 1.8, 1.6)
    qids_model: tuple[float, float, float, float] = (0.5, 0.85, 1.5, 1.8)
    first_start: str = "2024-07-01"
    last_start: str = "2026-06-30"
    cutoff: str = "2026-06-30"


TRUE_PARAMETERS = TrueParameters()
COHORT_DESIGN = CohortDesign()

# Relative endorsement of items; the item-9 weight keeps self-harm thoughts a minority.
_PHQ9_WEIGHTS = np.array([1.0, 1.1, 1.2, 1.3, 0.9, 1.0, 1.0, 0.6, 0.08])
_GAD7_WEIGHTS = np.array([1.2, 1.0, 1.2, 1.0, 0.8, 1.1, 0.9])
# QIDS-SR16 domains: sleep, sad mood, appetite/weight, concentration, self-view, suicidal
# ideation, interest, energy, psychomotor (Rush et al. 2003).
_QIDS_WEIGHTS = np.array([1.3, 1.2, 0.9, 1.1, 1.0, 0.15, 1.0, 1.3, 0.8])
_QIDS_SINGLE = {1: 5, 3: 10, 4: 11, 5: 12, 6: 13, 7: 14}  # domain -> item (1-based)


def _err(func: str, arg: str, value, allowed: str) -> ValueError:
    return ValueError(f"{func}(): {arg}={value!r} is not allowed; {arg} must be {allowed}.")


def _shares(func: str, arg: str, shares: Mapping[str, float], levels: Sequence[str]):
    if set(shares) - set(levels):
        raise _err(func, arg, dict(shares), f"a mapping over {list(levels)}")
    p = np.array([float(shares.get(k, 0.0)) for k in levels])
    if np.any(p < 0) or p.sum() <= 0:
        raise _err(func, arg, dict(shares), "non-negative shares with a positive sum")
    return p / p.sum()


def _client_effects(p: TrueParameters, n: int, rng: np.random.Generator):
    z = rng.standard_normal((n, 2))
    u0 = p.sd_client_intercept * z[:, 0]
    u1 = p.sd_client_slope * (p.corr_client * z[:, 0] + np.sqrt(1 - p.corr_client**2) * z[:, 1])
    return u0, u1


def _fixed_slope(p: TrueParameters, fmt, pa, med):
    fs = np.array([p.format_slope.get(f, 0.0) for f in FORMATS])
    ps = np.array([p.problem_area_slope.get(a, 0.0) for a in PROBLEM_AREAS])
    return p.slope + fs[fmt] + ps[pa] + p.medication_slope * med


def _group_sizes(n: int, size_range: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Sizes of groups (each within size_range) for up to n clients; may leave a few over."""
    lo, hi = size_range
    k_max = n // lo
    if k_max == 0:
        return np.zeros(0, dtype=int)
    k = int(np.clip(round(n / ((lo + hi) / 2)), -(-n // hi), k_max))
    sizes = np.full(k, lo)
    for _ in range(min(n, hi * k) - lo * k):
        open_ = np.flatnonzero(sizes < hi)
        sizes[open_[rng.integers(open_.size)]] += 1
    return sizes


def allocate_items(totals, weights, cap: int, rng: np.random.Generator) -> np.ndarray:
    """Split integer totals into items in 0..cap that sum exactly to each total.

    Points are placed one at a time on an item chosen with probability proportional to its
    weight among the items still below ``cap``.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> items = allocate_items(np.array([0, 5, 27]), np.ones((3, 9)), 3, rng)
    >>> items.sum(axis=1).tolist(), int(items.max())
    ([0, 5, 27], 3)
    """
    totals = np.asarray(totals, dtype=int)
    weights = np.asarray(weights, dtype=float)
    if np.any(totals < 0) or np.any(totals > cap * weights.shape[1]):
        raise _err("allocate_items", "totals", totals, f"within 0..{cap * weights.shape[1]}")
    items = np.zeros(weights.shape, dtype=int)
    for step in range(int(totals.max(initial=0))):
        rows = np.flatnonzero(totals > step)
        w = weights[rows] * (items[rows] < cap)
        cum = np.cumsum(w, axis=1)
        pick = (cum < rng.random(rows.size)[:, None] * cum[:, -1:]).sum(axis=1)
        items[rows, pick] += 1
    return items


def _qids_items(domains: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """QIDS-SR16 items whose multi-item domains have the given maxima."""
    n = domains.shape[0]
    items = np.zeros((n, 16), dtype=int)
    for dom, item in _QIDS_SINGLE.items():
        items[:, item - 1] = domains[:, dom]

    def spread(d, cols, lead_p):
        lead = rng.choice(len(cols), size=n, p=lead_p)
        other = np.floor(rng.random((n, len(cols))) * (d[:, None] + 1)).astype(int)
        block = np.where(np.arange(len(cols)) == lead[:, None], d[:, None], other)
        items[:, cols] = block

    spread(domains[:, 0], [0, 1, 2, 3], [0.35, 0.3, 0.25, 0.1])  # sleep: items 1-4
    spread(domains[:, 8], [14, 15], [0.5, 0.5])  # psychomotor: items 15-16
    # Appetite/weight: a client either loses (items 6, 8) or gains (items 7, 9).
    gain = rng.random(n) < 0.3
    pair = np.where(gain[:, None], [6, 8], [5, 7])
    lead = rng.integers(2, size=n)
    other = np.floor(rng.random(n) * (domains[:, 2] + 1)).astype(int)
    rows = np.arange(n)
    items[rows, pair[rows, lead]] = domains[:, 2]
    items[rows, pair[rows, 1 - lead]] = other
    return items


def _int_col(values, mask=None) -> pd.Series:
    s = pd.Series(np.asarray(values, dtype="int64"), dtype="Int64")
    return s.mask(~mask) if mask is not None else s


def simulate_cohort(
    *,
    n_episodes: int = 1200,
    seed: int | np.random.Generator = 20240701,
    parameters: TrueParameters = TRUE_PARAMETERS,
    design: CohortDesign = COHORT_DESIGN,
) -> pd.DataFrame:
    """Simulate a routine-care IPT cohort: one row per attended session (SYNTHETIC data).

    Parameters
    ----------
    n_episodes : int
        Treatment episodes (courses) to simulate; a few clients have two episodes.
    seed : int or numpy.random.Generator
        Seed of the only source of randomness.
    parameters : TrueParameters
        Latent-score and dropout model (default :data:`TRUE_PARAMETERS`).
    design : CohortDesign
        Shares, schedules, instruments and cut-off (default :data:`COHORT_DESIGN`).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`SESSION_COLUMNS`, sorted by ``episode_id`` and ``session``; ``date`` is
        datetime64, items are nullable integers (missing where an instrument was not given).

    Examples
    --------
    >>> df = simulate_cohort(n_episodes=40, seed=1)
    >>> list(df.columns) == SESSION_COLUMNS
    True
    >>> bool((df.filter(like="phq9_").sum(axis=1) <= 27).all())
    True
    """
    func = "simulate_cohort"
    if not isinstance(n_episodes, (int, np.integer)) or n_episodes < 1:
        raise _err(func, "n_episodes", n_episodes, "a positive integer")
    p, d = parameters, design
    rng = np.random.default_rng(seed)
    n = int(n_episodes)
    fmt_i = {f: i for i, f in enumerate(FORMATS)}
    site_ther = np.repeat(np.arange(len(d.sites)), d.therapists_per_site)
    ther_first = np.concatenate([[0], np.cumsum(d.therapists_per_site)[:-1]])
    ther_count = np.asarray(d.therapists_per_site)
    days = np.arange(np.datetime64(d.first_start), np.datetime64(d.last_start) + 1)
    weekdays = days[((days.astype("int64") + 3) % 7) < 5]  # 1970-01-01 was a Thursday

    fmt = rng.choice(len(FORMATS), size=n, p=_shares(func, "format", d.format_shares, FORMATS))
    site = rng.choice(len(d.sites), size=n, p=np.asarray(d.site_shares) / sum(d.site_shares))
    ther = ther_first[site] + np.floor(rng.random(n) * ther_count[site]).astype(int)
    start = weekdays[rng.integers(weekdays.size, size=n)]
    planned = np.zeros(n, dtype=int)
    for f, (vals, probs) in d.planned_sessions.items():
        idx = np.flatnonzero(fmt == fmt_i[f])
        planned[idx] = rng.choice(vals, size=idx.size, p=np.asarray(probs) / sum(probs))
    # Group clients share start date, therapist, site and planned sessions with their group.
    in_group = np.flatnonzero(fmt == fmt_i["group"])
    sizes = _group_sizes(in_group.size, d.group_size, rng)
    fmt[in_group[sizes.sum() :]] = fmt_i["individual"]
    group = np.full(n, -1)
    group[in_group[: sizes.sum()]] = np.repeat(np.arange(sizes.size), sizes)
    k = sizes.size
    g_site = rng.choice(len(d.sites), size=k, p=np.asarray(d.site_shares) / sum(d.site_shares))
    g_ther = ther_first[g_site] + np.floor(rng.random(k) * ther_count[g_site]).astype(int)
    g_start = weekdays[rng.integers(weekdays.size, size=k)]
    vals, probs = d.planned_sessions["group"]
    g_planned = rng.choice(vals, size=k, p=np.asarray(probs) / sum(probs))
    m = group >= 0
    site[m], ther[m] = g_site[group[m]], g_ther[group[m]]
    start[m], planned[m] = g_start[group[m]], g_planned[group[m]]

    pa = rng.choice(
        4, size=n, p=_shares(func, "problem_area", d.problem_area_shares, PROBLEM_AREAS)
    )
    spa = np.where(rng.random(n) < d.secondary_share, (pa + rng.integers(1, 4, size=n)) % 4, -1)
    med = rng.random(n) < d.medication_share

    # Returning clients: a later episode at the same site, long after the first one ended
    # (a course spans at most 15 + max_skipped_weeks weeks, well under 26).
    client = np.arange(n)
    returning = rng.random(n) < d.returning_share
    free = np.ones(n, dtype=bool)
    for e in np.argsort(start, kind="stable"):
        if returning[e]:
            cand = np.flatnonzero(free & (site == site[e]) & (start <= start[e] - 182))
            if cand.size:
                a = cand[rng.integers(cand.size)]
                client[e] = client[a]
                free[a] = free[e] = False

    u0, u1 = _client_effects(p, n, rng)
    v = p.sd_therapist * rng.standard_normal(site_ther.size)
    g = np.concatenate([p.sd_group * rng.standard_normal(k), [0.0]])  # index -1 -> 0

    s_max = int(max(max(v_) for v_, _ in d.planned_sessions.values()))
    col = np.arange(s_max)
    skip = rng.random((n, s_max)) < d.p_skip_week
    skip[:, 0] = False
    week = col + np.minimum(np.cumsum(skip, axis=1), d.max_skipped_weeks)
    attend = (rng.random((n, s_max)) >= d.p_miss_group_session) | (col == 0)
    attend &= col < planned[:, None]
    week = np.where(m[:, None], np.argsort(~attend, axis=1, kind="stable"), week)
    n_sched = np.where(m, attend.sum(axis=1), planned)

    mean = p.intercept + u0[client] + v[ther] + g[group] + p.medication_intercept * med
    slope = _fixed_slope(p, fmt, pa, med) + u1[client]
    latent = mean[:, None] + slope[:, None] * week + p.sd_residual * rng.standard_normal(week.shape)
    phq = np.clip(np.rint(latent), 0, 27).astype(int)

    dl = np.array([p.dropout_logit[f] for f in FORMATS])[fmt]
    eta = dl[:, None] + p.dropout_score_slope * (phq - p.dropout_score_centre)
    drop = (rng.random((n, s_max)) < 1 / (1 + np.exp(-eta))) & (col + 1 < n_sched[:, None])
    n_att = np.where(drop.any(axis=1), drop.argmax(axis=1) + 1, n_sched)
    reason = np.where(drop.any(axis=1), "dropout", "completed").astype(object)
    ref_at = 2 + np.floor(rng.random(n) * np.maximum(n_sched - 2, 0)).astype(int)
    referred = (rng.random(n) < d.p_referred_on) & (n_sched >= 3) & (ref_at < n_att)
    n_att = np.where(referred, ref_at, n_att)
    reason[referred] = "referred_on"
    dates = start[:, None] + (7 * week).astype("timedelta64[D]")
    cutoff = np.datetime64(d.cutoff)
    reason[dates[np.arange(n), n_att - 1] > cutoff] = "ongoing"
    observed = (col < n_att[:, None]) & (dates <= cutoff)

    switch = (fmt == fmt_i["individual"]) & (rng.random(n) < d.p_format_switch) & (n_sched >= 5)
    switch_at = 2 + np.floor(rng.random(n) * (n_sched - 3)).astype(int)
    sess_fmt = np.where(
        switch[:, None] & (col >= switch_at[:, None]), fmt_i["telehealth"], fmt[:, None]
    )

    w_phq = _PHQ9_WEIGHTS * np.exp(0.4 * rng.standard_normal((n, 9)))
    w_gad = _GAD7_WEIGHTS * np.exp(0.4 * rng.standard_normal((n, 7)))
    w_qids = _QIDS_WEIGHTS * np.exp(0.4 * rng.standard_normal((n, 9)))
    ga, gb, gsc, gsd = d.gad7_model
    gad = (
        ga + gb * latent + gsc * rng.standard_normal((n, 1)) + gsd * rng.standard_normal(week.shape)
    )
    gad = np.clip(np.rint(gad), 0, 21).astype(int)
    gad_given = (rng.random((n, s_max)) < d.p_gad7) | (col == 0)
    qa, qb, qsc, qsd = d.qids_model
    qids = (
        qa + qb * latent + qsc * rng.standard_normal((n, 1)) + qsd * rng.standard_normal(week.shape)
    )
    qids = np.clip(np.rint(qids), 0, 27).astype(int)

    e_idx, s_idx = np.nonzero(observed)
    phq_items = allocate_items(phq[e_idx, s_idx], w_phq[e_idx], 3, rng)
    gad_items = allocate_items(gad[e_idx, s_idx], w_gad[e_idx], 3, rng)
    qids_items = _qids_items(allocate_items(qids[e_idx, s_idx], w_qids[e_idx], 3, rng), rng)

    # Identifiers follow start order so that they read naturally.
    order = np.lexsort((np.arange(n), start))
    ep_rank = np.empty(n, dtype=int)
    ep_rank[order] = np.arange(n)
    first_seen = {}
    for e in order:
        first_seen.setdefault(client[e], len(first_seen))
    g_order = np.lexsort((np.arange(k), g_start))
    g_rank = np.empty(k, dtype=int)
    g_rank[g_order] = np.arange(k)

    gad_mask = gad_given[e_idx, s_idx]
    qids_mask = np.asarray(d.sites)[site[e_idx]] == d.qids_site
    ep = e_idx
    out = {
        "client_id": [f"C{first_seen[c] + 1:05d}" for c in client[ep]],
        "episode_id": [f"E{r + 1:05d}" for r in ep_rank[ep]],
        "session": s_idx + 1,
        "date": pd.to_datetime(dates[e_idx, s_idx]).as_unit("ns"),
        "format": np.asarray(FORMATS)[sess_fmt[e_idx, s_idx]],
        "problem_area": np.asarray(PROBLEM_AREAS)[pa[ep]],
        "secondary_problem_area": [PROBLEM_AREAS[a] if a >= 0 else None for a in spa[ep]],
        "therapist_id": [f"T{t + 1:02d}" for t in ther[ep]],
        "site": np.asarray(d.sites)[site[ep]],
        "group_id": [f"G{g_rank[x] + 1:03d}" if x >= 0 else None for x in group[ep]],
        "medication": med[ep],
        "planned_sessions": planned[ep].astype("int64"),
        "end_reason": reason[ep].astype(str),
    }
    frame = pd.DataFrame(out)
    for j in range(9):
        frame[f"phq9_{j + 1}"] = _int_col(phq_items[:, j])
    for j in range(7):
        frame[f"gad7_{j + 1}"] = _int_col(gad_items[:, j], gad_mask)
    for j in range(16):
        frame[f"qids_sr16_{j + 1}"] = _int_col(qids_items[:, j], qids_mask)
    frame = frame.sort_values(["episode_id", "session"], kind="stable", ignore_index=True)
    return frame[SESSION_COLUMNS]


def simulate_scores(
    *,
    n_clients: int = 500,
    n_weeks: int = 12,
    seed: int | np.random.Generator = 1,
    parameters: TrueParameters = TRUE_PARAMETERS,
    n_therapists: int = 30,
    format_shares: Mapping[str, float] | None = None,
    problem_area_shares: Mapping[str, float] | None = None,
    medication_share: float = 0.4,
    group_size: tuple[int, int] = (6, 10),
    include_effects: bool = False,
) -> pd.DataFrame:
    """Simulate the continuous latent outcome on a balanced long frame (known truth).

    Every client is observed at weeks ``0 .. n_weeks - 1``; no rounding, clipping, items or
    dropout. Group-format clients are split into therapy groups of ``group_size`` clients
    (left-over group clients become individual) that share a therapist; other clients get a
    therapist at random and ``group_id`` missing.

    Parameters
    ----------
    n_clients, n_weeks : int
        Size of the balanced design.
    seed : int or numpy.random.Generator
        Seed of the only source of randomness.
    parameters : TrueParameters
        The model (default :data:`TRUE_PARAMETERS`); use ``dataclasses.replace`` for variants.
    n_therapists : int
        Number of therapists (random intercept ``sd_therapist``).
    format_shares, problem_area_shares : mapping, optional
        Shares of clients per level (default: those of :data:`COHORT_DESIGN`).
    medication_share : float
        Probability of concurrent medication.
    group_size : (int, int)
        Smallest and largest therapy group.
    include_effects : bool
        Add the true ``u0_client, u1_client, v_therapist, g_group, residual`` columns.

    Returns
    -------
    pandas.DataFrame
        ``client_id, therapist_id, group_id, format, problem_area, medication, week, y``
        sorted by client and week.

    Examples
    --------
    >>> df = simulate_scores(n_clients=20, n_weeks=4, seed=3)
    >>> df.shape
    (80, 8)
    >>> float(df["week"].max())
    3.0
    """
    func = "simulate_scores"
    for name, val in (
        ("n_clients", n_clients),
        ("n_weeks", n_weeks),
        ("n_therapists", n_therapists),
    ):
        if not isinstance(val, (int, np.integer)) or val < 1:
            raise _err(func, name, val, "a positive integer")
    if not 0 <= medication_share <= 1:
        raise _err(func, "medication_share", medication_share, "within 0..1")
    p = parameters
    fs = _shares(func, "format_shares", format_shares or COHORT_DESIGN.format_shares, FORMATS)
    ps = _shares(
        func, "problem_area_shares", problem_area_shares or COHORT_DESIGN.problem_area_shares,
        PROBLEM_AREAS,
    )  # fmt: skip
    rng = np.random.default_rng(seed)
    n = int(n_clients)
    fmt = rng.choice(len(FORMATS), size=n, p=fs)
    pa = rng.choice(len(PROBLEM_AREAS), size=n, p=ps)
    med = rng.random(n) < medication_share
    ther = rng.integers(n_therapists, size=n)
    in_group = np.flatnonzero(fmt == 1)
    sizes = _group_sizes(in_group.size, group_size, rng)
    fmt[in_group[sizes.sum() :]] = 0
    group = np.full(n, -1)
    group[in_group[: sizes.sum()]] = np.repeat(np.arange(sizes.size), sizes)
    g_ther = rng.integers(n_therapists, size=sizes.size)
    ther[group >= 0] = g_ther[group[group >= 0]]

    u0, u1 = _client_effects(p, n, rng)
    v = p.sd_therapist * rng.standard_normal(n_therapists)
    g = np.concatenate([p.sd_group * rng.standard_normal(sizes.size), [0.0]])
    week = np.tile(np.arange(n_weeks, dtype=float), n)
    rows = np.repeat(np.arange(n), n_weeks)
    resid = p.sd_residual * rng.standard_normal(rows.size)
    mean = p.intercept + u0 + v[ther] + g[group] + p.medication_intercept * med
    slope = _fixed_slope(p, fmt, pa, med) + u1
    frame = pd.DataFrame(
        {
            "client_id": [f"C{c + 1:05d}" for c in rows],
            "therapist_id": [f"T{t + 1:02d}" for t in ther[rows]],
            "group_id": [f"G{x + 1:03d}" if x >= 0 else None for x in group[rows]],
            "format": np.asarray(FORMATS)[fmt[rows]],
            "problem_area": np.asarray(PROBLEM_AREAS)[pa[rows]],
            "medication": med[rows],
            "week": week,
            "y": mean[rows] + slope[rows] * week + resid,
        }
    )
    if include_effects:
        frame["u0_client"] = u0[rows]
        frame["u1_client"] = u1[rows]
        frame["v_therapist"] = v[ther[rows]]
        frame["g_group"] = g[group[rows]]
        frame["residual"] = resid
    return frame
