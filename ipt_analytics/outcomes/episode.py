"""Episode-level clinical outcomes: one row per treatment episode.

:func:`episode_outcomes` turns the long session table into a fixed set of outcome columns
(change, response, remission, Jacobson-Truax, NHS Talking Therapies, early response, sudden
gains, dropout, time to response / remission). Each rule lives in a small module of
:mod:`ipt_analytics.outcomes` and is cited there; the definitions used, with their
versions and parameters, are stamped in ``DataFrame.attrs["definitions"]``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from ipt_analytics.errors import DataWarning, SchemaError
from ipt_analytics.instruments.table import (
    DEFINITIONS_VERSION,
    get_instrument,
    get_remission_rule,
)
from ipt_analytics.io.sources import is_source
from ipt_analytics.outcomes import change as ch
from ipt_analytics.outcomes import early_response as er
from ipt_analytics.outcomes import nhs_tt
from ipt_analytics.outcomes.sudden_gains import find_sudden_changes, select_change
from ipt_analytics.outcomes.survival_times import first_event_time

__all__ = ["OUTCOME_COLUMNS", "episode_outcomes", "sessions_and_episodes"]

#: Columns of :func:`episode_outcomes`, in order.
OUTCOME_COLUMNS = [
    "episode_id", "client_id", "format", "problem_area", "site", "therapist_id", "group_id",
    "medication", "end_reason", "instrument", "n_sessions", "n_ratings", "baseline", "final",
    "baseline_session", "final_session", "weeks", "change", "pct_change", "response",
    "partial_response", "remission", "rci", "reliable_improvement", "reliable_deterioration",
    "cs_category", "treatment_contacts", "finished_treatment", "caseness_start",
    "paired_scores", "nhs_recovery",
    "nhs_reliable_improvement", "nhs_reliable_recovery", "nhs_reliable_deterioration",
    "nhs_definition", "early_response", "early_nonresponse", "sudden_gain", "n_sudden_gains",
    "sudden_gain_session", "sudden_gain_magnitude", "sudden_loss", "n_sudden_losses",
    "sudden_loss_session", "sudden_loss_magnitude", "dropout", "completed",
    "time_to_response", "response_event", "time_to_remission", "remission_event",
    "outcome_note",
]  # fmt: skip

_EPISODE_KEYS = ["client_id", "format", "problem_area", "site", "therapist_id", "group_id",
                 "medication", "end_reason", "planned_sessions"]  # fmt: skip
_REQUIRED = ["episode_id", "session", "instrument", "total"]


def _mode_first(values: pd.Series):
    # most frequent non-missing value; ties go to the value seen first (session order)
    v = values.dropna()
    if v.empty:
        return pd.NA
    # as plain values: a categorical counts in category order (and counts unused ones)
    counts = v.astype(object).value_counts(sort=False)
    return counts.index[int(np.argmax(counts.to_numpy()))]


def sessions_and_episodes(data, fn: str = "episode_outcomes"):
    """The (sessions, episodes) pair from a SessionData or a canonical long sessions table.

    For a DataFrame the episodes are derived: primary format = most frequent (ties: first
    seen), other attributes = first non-missing value, ``end_reason`` = last non-missing
    value, ``n_sessions`` = number of distinct sessions.

    Examples
    --------
    >>> s = pd.DataFrame({"episode_id": ["e1", "e1"], "session": [1, 2],
    ...                   "instrument": ["phq9", "phq9"], "total": [12.0, 6.0]})
    >>> sessions_and_episodes(s)[1][["episode_id", "n_sessions"]].values.tolist()
    [['e1', 2]]
    """
    if hasattr(data, "sessions") and hasattr(data, "episodes"):
        return data.sessions, data.episodes
    if not isinstance(data, pd.DataFrame):
        raise SchemaError(
            f"{fn}(): data of type {type(data).__name__} is not allowed; pass a SessionData "
            "(from read_sessions) or the canonical long sessions DataFrame."
        )
    missing = [c for c in _REQUIRED if c not in data.columns]
    if missing:
        raise SchemaError(
            f"{fn}(): data lacks the column(s) {missing}; a sessions table needs "
            f"{_REQUIRED}. Fix: read the data with read_sessions() or rename the columns."
        )
    s = data.sort_values(["episode_id", "session"], kind="mergesort")
    per = s.drop_duplicates(["episode_id", "session"])
    g = per.groupby("episode_id", sort=True, observed=True)
    eps = pd.DataFrame({"episode_id": list(g.groups)})
    eps["n_sessions"] = g["session"].nunique().to_numpy().astype(np.int64)
    for col in _EPISODE_KEYS:
        if col not in per.columns:
            eps[col] = pd.NA
        elif col == "format":
            eps[col] = g[col].agg(_mode_first).to_numpy()
        elif col == "end_reason":
            eps[col] = g[col].last().to_numpy()
        else:
            eps[col] = g[col].first().to_numpy()
    return s, eps


def _ratings(sessions: pd.DataFrame, instrument: str) -> dict:
    rows = sessions[(sessions["instrument"] == instrument) & sessions["total"].notna()]
    if "week" in rows.columns:
        week = rows["week"].astype(float)
    else:  # contract: without dates, week = session - 1
        week = rows["session"].astype(float) - 1.0
    rows = rows.assign(_week=week.to_numpy()).sort_values(["episode_id", "session"])
    # split sorted arrays at episode boundaries (a groupby loop is ~10x slower)
    eid = rows["episode_id"].to_numpy(dtype=object)
    sess = rows["session"].to_numpy(dtype=int)
    wk = rows["_week"].to_numpy(dtype=float)
    tot = rows["total"].to_numpy(dtype=float)
    if eid.size == 0:
        return {}
    cuts = np.flatnonzero(eid[1:] != eid[:-1]) + 1
    starts = np.concatenate([[0], cuts])
    ends = np.concatenate([cuts, [eid.size]])
    return {eid[a]: (sess[a:b], wk[a:b], tot[a:b]) for a, b in zip(starts, ends, strict=True)}


def _bool(values) -> pd.arrays.BooleanArray:
    return pd.array([pd.NA if v is None else bool(v) for v in values], dtype="boolean")


def episode_outcomes(
    data,
    *,
    instrument: str = "phq9",
    reliability: float | None = None,
    rci_sd: float | str = "baseline",
    rci_critical_value: float = 1.96,
    cs_criterion: str = "a",
    clinical_mean: float | None = None,
    clinical_sd: float | None = None,
    functional_mean: float | None = None,
    functional_sd: float | None = None,
    cs_sd_multiplier: float = 2.0,
    response_pct: float = 50.0,
    partial_pct: float = 25.0,
    remission=None,
    remission_baseline_above: float | None = None,
    early_response="icsi_week6",
    early_nonresponse="swartz_2023_week8",
    sg_cutoff: float | None = None,
    sg_pct: float = 0.25,
    sg_alpha: float = 0.05,
    sg_adjust: bool = True,
    sg_select: str = "first",
    nhs_tt_measures: str | bool = "auto",
    nhs_convention: str = "nhs_england",
    missing_end_reason: str = "na",
) -> pd.DataFrame:
    """Clinical outcomes per treatment episode, one row per episode.

    Parameters
    ----------
    data : SessionData or pandas.DataFrame
        Validated session data, or the canonical long sessions table (columns
        ``episode_id, session, instrument, total`` at least; ``week``, ``end_reason`` and the
        episode attributes when available); that table may also be a Parquet
        path/glob/directory, duckdb relation or Spark DataFrame, computed in partitions of
        whole episodes (:mod:`ipt_analytics.outcomes.episode_source`).
    instrument : str
        Instrument whose totals define the outcomes (``phq9``, ``gad7``, ``qids_sr16``,
        ``cudos``). Remission cut-off and thresholds come from :mod:`ipt_analytics.instruments`.
    reliability : float, optional
        Reliability coefficient for the Jacobson-Truax RCI. Default: the instrument's
        ``reliability`` in :mod:`ipt_analytics.instruments` (PHQ-9 0.89, GAD-7 0.92: Cronbach's
        alpha of the development papers; QIDS-SR16 0.86, Rush et al. 2003; CUDOS 0.90,
        Zimmerman et al. 2008, a value read only in a secondary summary). The status is
        recorded in ``attrs["definitions"]["jacobson_truax"]["reliability_status"]``.
    rci_sd : "baseline" or float
        SD in S_diff: ``"baseline"`` (default) = SD (ddof 1) of the baseline scores of all
        episodes in ``data``; a number = a normative SD.
    rci_critical_value : float
        Reliable change if |RCI| > this value (default 1.96, JT 1991; strictly greater).
    cs_criterion : {"a", "b", "c"}
        Jacobson-Truax cut-off criterion. ``clinical_mean``/``clinical_sd`` default to the
        sample baseline mean and SD (criterion a); b and c need ``functional_mean`` and
        ``functional_sd``. ``cs_sd_multiplier`` (default 2) is the SD multiplier of a and b.
    response_pct, partial_pct : float
        Response = reduction >= ``response_pct``% (default 50); partial response =
        ``partial_pct``% <= reduction < ``response_pct``% (both lower bounds inclusive).
    remission : None, str or dict
        Remission rule: ``None`` = the instrument's default, a preset name from
        :data:`ipt_analytics.instruments.table.REMISSION_PRESETS` (e.g. CUDOS
        ``"zimmerman2017_le10"`` (default) or ``"zimmerman2004_le19"``), or
        ``{"cutoff": c, "rule": "lt" | "le"}``.
    remission_baseline_above : float, optional
        Evaluate remission only for episodes whose baseline is above this value (NA
        otherwise): ``9`` gives the CMS159 / MN Community Measurement population (index
        PHQ-9 > 9). Default: all episodes.
    early_response : str or dict
        Preset name from :data:`ipt_analytics.outcomes.early_response.
        EARLY_RESPONSE_PRESETS` (default ``"icsi_week6"``) or a dict with
        ``min_pct_reduction``, ``by`` ("week" or "session") and ``at``.
    early_nonresponse : str or dict
        Preset from ``EARLY_NONRESPONSE_PRESETS`` (default ``"swartz_2023_week8"``, the end of
        the 4-8 week review window) or a dict with ``week``.
    sg_cutoff : float, optional
        Sudden-gain criterion 1 in raw points. Default: the Jacobson-Truax minimal reliable
        change (``rci_critical_value`` * S_diff) when a reliability is known, else the
        instrument's NHS TT reliable-change threshold (PHQ-9 6, GAD-7 4).
    sg_pct, sg_alpha, sg_adjust : float, float, bool
        Sudden-gain criteria 2 and 3 (suddengains defaults 0.25, 0.05, Lutz adjustment on).
    sg_select : {"first", "largest"}
        Which gain (and loss) is reported when there are several.
    nhs_tt_measures : "auto", True or False
        Compute NHS TT measures from PHQ-9 and GAD-7 ("auto": when both appear in ``data``).
    nhs_convention : {"nhs_england", "paired_only"}
        Denominators of the NHS TT rates: NHS England's (default; finished referrals
        without paired scores stay in them) or paired scores only (some papers; not
        comparable with national figures). See :mod:`ipt_analytics.outcomes.nhs_tt`.
    missing_end_reason : {"na", "planned_sessions"}
        ``dropout``/``completed`` come from ``end_reason``. When it is missing they are NA
        (``"na"``), or (``"planned_sessions"``) completed = n_sessions >= planned_sessions and
        dropout = its negation, where planned_sessions is known.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`OUTCOME_COLUMNS`, sorted by ``episode_id``. Undefined boolean outcomes
        are NA (nullable ``boolean``), never False. ``attrs["definitions"]`` records every
        rule, its source, version and the parameters used; NHS TT flags also carry the
        definition version in the ``nhs_definition`` column (which survives CSV export).

    Notes
    -----
    - ``baseline`` is the first rating of the episode on ``instrument`` (the rating before the
      first session); ``final`` is the last available rating (last observation carried
      forward: an episode that ends early keeps its last observed score). ``weeks`` = week
      of the final minus week of the baseline rating; ``change`` = final - baseline;
      ``pct_change`` = 100 * change / baseline.
    - An episode with a single rating has no post-baseline score: change, response,
      remission, RCI, categories and times are NA and ``outcome_note`` says why. Remission
      is also evaluated only on a post-baseline score.
    - Week-based outcomes (``time_to_*``, early response ``by="week"``, early non-response)
      use only ratings with a known ``week``, measured from the baseline rating; an undated
      rating is skipped (an event it shows is dated at the next dated rating that meets the
      rule) and an undated baseline makes them NA. ``outcome_note`` says so.
    - Jacobson-Truax: RCI = change / (SD * sqrt(2 (1 - r))) (Jacobson & Truax 1991).
    - NHS TT: see :mod:`ipt_analytics.outcomes.nhs_tt` (NHS England's published SQL).
      ``treatment_contacts`` = sessions that are not ``contact_type`` ``"assessment"`` or
      ``"not_attended"``; ``finished_treatment`` = >= 2 treatment contacts and an end
      recorded (``end_reason`` not ``"ongoing"``), NA when no end is recorded (as
      ``completed``/``dropout``). ``paired_scores`` = first and last PHQ-9 and GAD-7
      known. Each NHS flag is NA outside its rate denominator.
    - dropout = ``end_reason == "dropout"``; completed = ``end_reason == "completed"``.

    Examples
    --------
    >>> s = pd.DataFrame({"episode_id": ["e1"] * 3 + ["e2"], "session": [1, 2, 3, 1],
    ...                   "instrument": "phq9", "total": [20.0, 14.0, 10.0, 12.0],
    ...                   "end_reason": ["completed"] * 3 + ["dropout"]})
    >>> o = episode_outcomes(s, reliability=0.84, nhs_tt_measures=False)
    >>> o[["episode_id", "change", "response", "remission", "dropout"]].values.tolist()
    [['e1', -10.0, True, False, False], ['e2', nan, <NA>, <NA>, True]]
    """
    if is_source(data):  # Parquet path, duckdb relation, Spark DataFrame: partitions of episodes
        options = {k: v for k, v in locals().items() if k != "data"}
        from ipt_analytics.outcomes.episode_source import episode_outcomes_source

        return episode_outcomes_source(data, compute=episode_outcomes, **options)
    fn = "episode_outcomes"
    inst = get_instrument(instrument)
    sessions, episodes = sessions_and_episodes(data, fn)
    opts = _check_options(
        fn, missing_end_reason, early_response, early_nonresponse, nhs_convention, rci_sd
    )
    rem_rule = get_remission_rule(inst, remission)
    eps = episodes.sort_values("episode_id", kind="mergesort").reset_index(drop=True)
    ratings = _ratings(sessions, inst.name)
    ids = eps["episode_id"].tolist()
    warn_msgs: list[str] = []

    base, fin, n_rat = _first_and_last(ratings, ids)
    jt = _jacobson_truax(
        base, fin, inst, reliability, rci_sd, rci_critical_value, cs_criterion,
        clinical_mean, clinical_sd, functional_mean, functional_sd, cs_sd_multiplier,
        warn_msgs,
    )  # fmt: skip
    points = _reliable_change_points(jt, inst, rci_critical_value)
    sg_crit1 = points if sg_cutoff is None else float(sg_cutoff)
    if np.isnan(sg_crit1):
        warn_msgs.append(
            f"sudden gains not computed: no reliable-change threshold for "
            f"{inst.label}. Fix: pass sg_cutoff= or reliability=."
        )
    if np.isnan(points):
        warn_msgs.append(
            "early non-response not computed: no reliable-change threshold. Fix: pass reliability=."
        )
    sg_par = {"cutoff": sg_crit1, "pct": sg_pct, "alpha": sg_alpha, "adjust": sg_adjust,
              "select": sg_select}  # fmt: skip
    per = _per_episode(ids, ratings, inst, opts, points, sg_par, response_pct, rem_rule)

    out = _episode_frame(eps, ids, inst, n_rat, base, fin, per)
    resp, part = ch.response_flags(base, fin, response_pct=response_pct, partial_pct=partial_pct)
    out["response"], out["partial_response"] = resp, part
    out["remission"] = _remission(fin, base, rem_rule, remission_baseline_above)
    out["rci"] = jt["rci"]
    out["reliable_improvement"], out["reliable_deterioration"] = jt["imp"], jt["det"]
    out["cs_category"] = jt["cats"]
    nhs = _nhs_block(sessions, eps, ids, nhs_tt_measures, nhs_convention, fn)
    for col in nhs.columns:
        out[col] = nhs[col].array
    _add_per_episode_columns(out, per)
    out["dropout"], out["completed"] = _end_flags(eps, missing_end_reason)
    out = out[OUTCOME_COLUMNS]

    for msg in warn_msgs:
        warnings.warn(f"{fn}(): {msg}", DataWarning, stacklevel=2)
    out.attrs["definitions"] = _definitions(
        fn, inst, rem_rule, remission_baseline_above, response_pct, partial_pct, jt,
        rci_sd, rci_critical_value, cs_criterion, cs_sd_multiplier, nhs, nhs_convention,
        opts, points, sg_par, warn_msgs,
    )  # fmt: skip
    return out


def _check_options(fn, missing_end_reason, early_response, early_nonresponse, convention,
                   rci_sd) -> dict:  # fmt: skip
    """Step 1: validate the option values; resolve the early-response presets."""
    if missing_end_reason not in ("na", "planned_sessions"):
        raise ValueError(
            f"{fn}(): missing_end_reason={missing_end_reason!r} is not allowed; use 'na' or "
            "'planned_sessions'."
        )
    if convention not in nhs_tt.NHS_TT_CONVENTIONS:
        raise ValueError(
            f"{fn}(): nhs_convention={convention!r} is not allowed; use one of "
            f"{', '.join(nhs_tt.NHS_TT_CONVENTIONS)}."
        )
    if isinstance(rci_sd, str) and rci_sd != "baseline":
        raise ValueError(f"{fn}(): rci_sd={rci_sd!r} is not allowed; use 'baseline' or a number.")
    er_par = er.resolve_preset(
        fn, early_response, er.EARLY_RESPONSE_PRESETS, ("min_pct_reduction", "by", "at")
    )
    if er_par["by"] not in ("week", "session"):
        raise ValueError(f"{fn}(): early_response by={er_par['by']!r}; use 'week' or 'session'.")
    enr_par = er.resolve_preset(fn, early_nonresponse, er.EARLY_NONRESPONSE_PRESETS, ("week",))
    return {"er": er_par, "enr": enr_par}


def _first_and_last(ratings: dict, ids: list):
    """Step 2: baseline (first rating), final (last rating, NaN with one rating), count."""
    n = len(ids)
    base = np.full(n, np.nan)
    fin = np.full(n, np.nan)
    for i, eid in enumerate(ids):
        if eid in ratings:
            base[i] = ratings[eid][2][0]
            fin[i] = ratings[eid][2][-1] if ratings[eid][2].size > 1 else np.nan
    n_rat = np.array([ratings[e][2].size if e in ratings else 0 for e in ids], dtype=np.int64)
    return base, fin, n_rat


def _jacobson_truax(base, fin, inst, reliability, rci_sd, critical_value, criterion,
                    clinical_mean, clinical_sd, functional_mean, functional_sd, multiplier,
                    warn_msgs) -> dict:  # fmt: skip
    """Step 3: RCI, reliable change flags, cut-off and clinical-significance categories."""
    n = base.size
    rel = inst.reliability if reliability is None else reliability
    base_known = base[~np.isnan(base)]
    sd = (
        float(np.std(base_known, ddof=1))
        if rci_sd == "baseline" and base_known.size > 1
        else (float(rci_sd) if not isinstance(rci_sd, str) else np.nan)
    )
    ok = rel is not None and np.isfinite(sd) and sd > 0
    if ok:
        rci = ch.rci_jacobson_truax(base, fin, sd=sd, reliability=rel)
        s_diff = sd * np.sqrt(2.0 * (1.0 - rel))
    else:
        rci, s_diff = np.full(n, np.nan), np.nan
        why = (
            f"no reliability is known for {inst.label}"
            if rel is None
            else f"the SD is {sd!r} (fewer than 2 baselines, or all equal)"
        )
        warn_msgs.append(
            f"RCI not computed: {why}. Fix: pass reliability= (and rci_sd= for a normative SD)."
        )
    imp, det = ch.reliable_change_flags(
        rci, critical_value=critical_value, better_is=inst.better_is
    )
    cm = float(np.mean(base_known)) if clinical_mean is None and base_known.size else clinical_mean
    csd = sd if clinical_sd is None else clinical_sd
    cutoff = (
        np.nan
        if criterion == "a" and (cm is None or csd is None)
        else ch.jt_cutoff(
            criterion,
            clinical_mean=cm,
            clinical_sd=csd,
            functional_mean=functional_mean,
            functional_sd=functional_sd,
            sd_multiplier=multiplier,
            better_is=inst.better_is,
        )
    )
    cats = ch.cs_categories(base, fin, imp, det, cutoff=cutoff, better_is=inst.better_is)
    return {"ok": ok, "rel": rel, "sd": sd, "s_diff": s_diff, "rci": rci, "imp": imp,
            "det": det, "cutoff": cutoff, "cats": cats}  # fmt: skip


def _reliable_change_points(jt: dict, inst, critical_value: float) -> float:
    """Reliable change in raw points (sudden-gain criterion 1, early non-response): the JT
    minimal reliable change when a reliability is known, else the NHS TT threshold."""
    if jt["ok"]:
        return critical_value * jt["s_diff"]
    return float(inst.reliable_change) if inst.reliable_change is not None else np.nan


def _remission(fin, base, rule, baseline_above):
    """Remission at the final score; with ``baseline_above`` (CMS159/MNCM: PHQ-9 > 9 at the
    index) undefined (NA) for episodes whose baseline is not above it."""
    f = np.asarray(fin, dtype=float)
    rem = f < rule.cutoff if rule.rule == "lt" else f <= rule.cutoff
    defined = ~np.isnan(f)
    if baseline_above is not None:
        defined &= np.asarray(base, dtype=float) > baseline_above
    return pd.arrays.BooleanArray(rem & defined, ~defined)


_PER_KEYS = ("er", "enr", "sg", "nsg", "sgs", "sgm", "sl", "nsl", "sls", "slm", "ttr", "rev",
             "ttm", "mev", "bs", "fs", "wk", "note")  # fmt: skip


def _per_episode(ids, ratings, inst, opts, points, sg_par, response_pct, rem_rule) -> dict:
    """Step 4: the rules that need each episode's rating sequence (timing, early response,
    sudden gains and losses, time to response / remission, notes)."""
    per = {k: [] for k in _PER_KEYS}
    for eid in ids:
        sess, wk, tot = ratings.get(eid, (np.array([]), np.array([]), np.array([])))
        notes = _rating_notes(eid in ratings, inst, tot)
        per["bs"].append(sess[0] if sess.size else pd.NA)
        per["fs"].append(sess[-1] if sess.size > 1 else pd.NA)
        per["wk"].append(wk[-1] - wk[0] if wk.size > 1 else np.nan)
        # Week-based rules use dated ratings only: an undated rating (week NaN, e.g. a
        # missing date in a dated episode) has no place on the time axis. Without a week at
        # baseline there is no time origin, so they are NA.
        dated = ~np.isnan(wk)
        timed = tot.size > 0 and bool(dated[0])
        if tot.size and not dated.all():
            notes.append(
                "undated_baseline: week-based outcomes undefined"
                if not timed
                else "undated_rating: ignored by week-based outcomes"
            )
        wk_t, tot_t = (wk[dated] - wk[0], tot[dated]) if timed else (np.array([]), tot[:0])
        _early(per, opts, sess, tot, wk_t, tot_t, points)
        _sudden(per, sess, tot, sg_par)
        _times(per, tot, wk_t, tot_t, response_pct, rem_rule)
        per["note"].append("; ".join(notes) if notes else pd.NA)
    return per


def _rating_notes(rated: bool, inst, tot) -> list:
    if not rated:
        return [f"no_rating: no {inst.name} score"]
    if tot.size == 1:
        return ["single_rating: no post-baseline score"]
    if tot[0] <= 0:
        return ["baseline_zero: percent change undefined"]
    return []


def _early(per, opts, sess, tot, wk_t, tot_t, points) -> None:
    er_par, enr_par = opts["er"], opts["enr"]
    t_er, tot_er = (wk_t, tot_t) if er_par["by"] == "week" else (sess.astype(float), tot)
    per["er"].append(
        er.early_response(t_er, tot_er, min_pct_reduction=er_par["min_pct_reduction"],
                          at=er_par["at"])
        if tot_er.size
        else None
    )  # fmt: skip
    per["enr"].append(
        er.early_nonresponse(wk_t, tot_t, week=enr_par["week"], threshold=points)
        if tot_t.size
        else None
    )


def _sudden(per, sess, tot, sg_par) -> None:
    for kind, keys in (
        ("gain", ("sg", "nsg", "sgs", "sgm")),
        ("loss", ("sl", "nsl", "sls", "slm")),
    ):
        if np.isnan(sg_par["cutoff"]):
            found, n_eval = [], 0
        else:
            found, n_eval = find_sudden_changes(
                sess, tot, cutoff=sg_par["cutoff"], pct=sg_par["pct"], alpha=sg_par["alpha"],
                adjust=sg_par["adjust"], kind=kind,
            )  # fmt: skip
        pick = select_change(found, select=sg_par["select"])
        per[keys[0]].append(None if n_eval == 0 else bool(found))
        per[keys[1]].append(len(found) if n_eval else pd.NA)
        per[keys[2]].append(pick[0] if pick else pd.NA)
        per[keys[3]].append(pick[1] if pick else np.nan)


def _times(per, tot, wk_t, tot_t, response_pct, rem_rule) -> None:
    b0 = tot[0] if tot.size else np.nan
    resp_met = (100.0 * (b0 - tot_t) >= response_pct * b0) if b0 > 0 else None
    if resp_met is None or not tot_t.size:
        t, e = np.nan, None
    else:
        t, e = first_event_time(wk_t, resp_met)
    per["ttr"].append(t)
    per["rev"].append(e)
    rem_met = np.array([rem_rule.is_remitted(float(v)) for v in tot_t], dtype=bool)
    t, e = first_event_time(wk_t, rem_met) if tot_t.size else (np.nan, None)
    per["ttm"].append(t)
    per["mev"].append(e)


def _episode_frame(eps, ids, inst, n_rat, base, fin, per) -> pd.DataFrame:
    """Step 5: episode attributes, scores and timing columns."""
    out = pd.DataFrame({"episode_id": pd.array(ids, dtype="str")})
    for col in _EPISODE_KEYS:
        out[col] = eps[col].to_numpy() if col in eps.columns else pd.NA
    out["medication"] = pd.array(out["medication"], dtype="boolean")
    out["instrument"] = inst.name
    out["n_sessions"] = eps["n_sessions"].to_numpy(dtype=np.int64)
    out["n_ratings"] = n_rat
    out["baseline"], out["final"] = base, fin
    out["baseline_session"] = pd.array(per["bs"], dtype="Int64")
    out["final_session"] = pd.array(per["fs"], dtype="Int64")
    out["weeks"] = np.asarray(per["wk"], dtype=float)
    out["change"] = fin - base
    out["pct_change"] = ch.pct_change(base, fin)
    return out


def _add_per_episode_columns(out: pd.DataFrame, per: dict) -> None:
    """Step 6: the per-episode rule results as typed columns."""
    out["early_response"] = _bool(per["er"])
    out["early_nonresponse"] = _bool(per["enr"])
    for pre, count, keys in (
        ("sudden_gain", "n_sudden_gains", ("sg", "nsg", "sgs", "sgm")),
        ("sudden_loss", "n_sudden_losses", ("sl", "nsl", "sls", "slm")),
    ):
        out[pre] = _bool(per[keys[0]])
        out[count] = pd.array(per[keys[1]], dtype="Int64")
        out[pre + "_session"] = pd.array(per[keys[2]], dtype="Int64")
        out[pre + "_magnitude"] = np.asarray(per[keys[3]], dtype=float)
    out["time_to_response"] = np.asarray(per["ttr"], dtype=float)
    out["response_event"] = _bool(per["rev"])
    out["time_to_remission"] = np.asarray(per["ttm"], dtype=float)
    out["remission_event"] = _bool(per["mev"])
    out["outcome_note"] = pd.array(per["note"], dtype="str")


def _definitions(fn, inst, rem_rule, baseline_above, response_pct, partial_pct, jt, rci_sd,
                 critical_value, criterion, multiplier, nhs, convention, opts, points,
                 sg_par, warn_msgs) -> dict:  # fmt: skip
    """Step 7: every rule, source, version and parameter used (``attrs["definitions"]``)."""
    return {
        "instrument": {
            "name": inst.name,
            "table_version": DEFINITIONS_VERSION,
            "citation": inst.citation,
        },
        "response": {
            "rule": f"reduction >= {response_pct}% of baseline",
            "source": "Trivedi et al. 2006 Am J Psychiatry 163:28-40",
        },
        "partial_response": {
            "rule": f"{partial_pct}% <= reduction < {response_pct}%",
            "source": "ICSI depression guideline",
        },
        "remission": {
            "preset": rem_rule.name,
            "rule": rem_rule.text,
            "status": rem_rule.status,
            "source": rem_rule.citation,
            "baseline_above": baseline_above,
        },
        "jacobson_truax": {
            "reliability": jt["rel"],
            "reliability_status": inst.reliability_status
            if jt["rel"] == inst.reliability
            else "user",
            "sd": jt["sd"],
            "sd_source": rci_sd,
            "critical_value": critical_value,
            "s_diff": jt["s_diff"],
            "cutoff": jt["cutoff"],
            "criterion": criterion,
            "sd_multiplier": multiplier,
            "source": "Jacobson & Truax 1991 doi:10.1037/0022-006X.59.1.12; categories as "
            "clinicalsignificance (calc_recovered.R)",
        },
        "nhs_tt": (
            {**nhs_tt.NHS_TT_DEFINITION, "convention": convention}
            if nhs.attrs.get("computed")
            else None
        ),
        "early_response": opts["er"],
        "early_nonresponse": {**opts["enr"], "threshold_points": points},
        "sudden_gains": {
            **sg_par,
            "source": "Tang & DeRubeis 1999; suddengains identify_sg; Lutz 2013",
        },
        "final": "last observation carried forward",
        "warnings": [f"{fn}(): {m}" for m in warn_msgs],
    }


def _end_flags(eps: pd.DataFrame, missing_end_reason: str):
    reason = eps["end_reason"] if "end_reason" in eps.columns else pd.Series([pd.NA] * len(eps))
    known = reason.notna().to_numpy()
    r = reason.astype(object).where(known, "").to_numpy()
    dropout = np.where(known, r == "dropout", False)
    completed = np.where(known, r == "completed", False)
    defined = known.copy()
    if missing_end_reason == "planned_sessions" and "planned_sessions" in eps.columns:
        planned = pd.to_numeric(eps["planned_sessions"], errors="coerce").to_numpy(dtype=float)
        use = ~known & ~np.isnan(planned)
        done = eps["n_sessions"].to_numpy(dtype=float) >= planned
        completed = np.where(use, done, completed)
        dropout = np.where(use, ~done, dropout)
        defined = defined | use
    return (
        pd.arrays.BooleanArray(dropout.astype(bool), ~defined),
        pd.arrays.BooleanArray(completed.astype(bool), ~defined),
    )


def _nhs_block(sessions, eps, ids, mode, convention, fn) -> pd.DataFrame:
    """NHS TT columns: treatment contacts, finished treatment, paired scores and flags."""
    n = len(ids)
    present = set(sessions["instrument"].dropna().unique())
    if mode not in ("auto", True, False):
        raise ValueError(f"{fn}(): nhs_tt_measures={mode!r}; use 'auto', True or False.")
    have = {"phq9", "gad7"} <= present
    if mode is True and not have:
        raise SchemaError(
            f"{fn}(): nhs_tt_measures=True needs PHQ-9 and GAD-7 ratings; the data "
            f"have {sorted(present)}. Fix: pass nhs_tt_measures=False."
        )
    contacts = nhs_tt.treatment_contacts(sessions).reindex(ids).fillna(0).astype(np.int64)
    reason = eps["end_reason"] if "end_reason" in eps.columns else [None] * n
    finished = nhs_tt.finished_treatment(reason, contacts.to_numpy())
    if not have or mode is False:
        cols = ["caseness_start", "paired_scores", "nhs_recovery", "nhs_reliable_improvement",
                "nhs_reliable_recovery", "nhs_reliable_deterioration"]  # fmt: skip
        out = pd.DataFrame({c: pd.array([pd.NA] * n, dtype="boolean") for c in cols})
        out["nhs_definition"] = pd.array([pd.NA] * n, dtype="str")
    else:
        ends = {}
        for name in ("phq9", "gad7"):
            r = _ratings(sessions, name)
            ends[name] = (
                np.array([r[e][2][0] if e in r else np.nan for e in ids]),
                np.array([r[e][2][-1] if e in r and r[e][2].size > 1 else np.nan for e in ids]),
            )
        out = nhs_tt.nhs_tt_flags(*ends["phq9"], *ends["gad7"], finished, convention=convention)
        stamp = f"{nhs_tt.NHS_TT_DEFINITION['version']}:{convention}"
        out["nhs_definition"] = pd.array([stamp] * n, dtype="str")
        out.attrs["computed"] = True
    out["treatment_contacts"] = contacts.to_numpy()
    out["finished_treatment"] = finished
    return out
