"""Compare episode outcomes between groups (formats, problem areas, sites).

:func:`compare_groups` takes the table of :func:`ipt_analytics.episode_outcomes`
and returns a :class:`GroupComparison` with tidy tables ``groups``, ``contrasts``,
``omnibus`` and ``adjusted``. Binary outcomes get rates with Wilson intervals, risk
difference / risk ratio / odds ratio / NNT against a reference group, an omnibus chi-square
(or Fisher's exact test) and optionally a covariate-adjusted logistic regression; continuous
outcomes get an ANCOVA (OLS, adjusted for baseline where it applies) with adjusted means and
pairwise contrasts. p-values are adjusted within each family of contrasts (Holm default).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats

from ipt_analytics.errors import DataWarning, FitWarning, SchemaError
from ipt_analytics.stats.intervals import wilson_interval, z_value
from ipt_analytics.stats.multiplicity import P_ADJUST_METHODS, p_adjust
from ipt_analytics.stats.summary_stats import nnt_from_rd, odds_ratio, risk_difference, risk_ratio

__all__ = ["GroupComparison", "compare_groups", "HARMFUL_OUTCOMES"]

#: binary outcomes whose event is bad: NNT is then a number needed to harm
HARMFUL_OUTCOMES = frozenset(
    {"dropout", "reliable_deterioration", "nhs_reliable_deterioration", "sudden_loss",
     "early_nonresponse"}
)  # fmt: skip

_EST = ["estimate", "std_error", "statistic", "df", "p_value", "p_adjusted", "conf_low",
        "conf_high"]  # fmt: skip
_CONTRAST_COLUMNS = ["contrast", "group", "reference", "term", *_EST, "method", "note"]
_ADJ_COLUMNS = ["term", *_EST, "method"]
_OMNI_COLUMNS = ["term", "test", "statistic", "df", "p_value", "n", "min_expected", "method"]


class GroupComparison:
    """Result of :func:`compare_groups`.

    Attributes
    ----------
    groups, contrasts, omnibus, adjusted : pandas.DataFrame
        Tidy tables (see :func:`compare_groups`).
    warnings : list of str
        Problems in plain words (small expected counts, dropped rows, fit problems).
    meta : dict
        Outcome, grouping, reference, kind ("binary"/"continuous"), conf_level, p_adjust.
    """

    def __init__(self, groups, contrasts, omnibus, adjusted, warnings_, meta):
        self.groups = groups
        self.contrasts = contrasts
        self.omnibus = omnibus
        self.adjusted = adjusted
        self.warnings = warnings_
        self.meta = meta

    def summary(self, decimals: int = 3) -> str:
        """Plain-text summary (rounded for display only)."""
        m = self.meta
        lines = [
            f"compare_groups: {m['outcome']} by {m['by']} ({m['kind']}; reference "
            f"{m['reference']!r}; {int(m['conf_level'] * 100)}% intervals; p adjusted: "
            f"{m['p_adjust']})",
            "",
            "Groups:",
            self.groups.round(decimals).to_string(index=False),
            "",
            "Contrasts:",
            self.contrasts.drop(columns=["note"]).round(decimals).to_string(index=False),
            *(
                [f"  NNT {r.contrast}: {r.note}" for r in nnt.itertuples()]
                if not (nnt := self.contrasts[self.contrasts["term"] == "nnt"]).empty
                else []
            ),
            "",
            "Omnibus:",
            self.omnibus.round(decimals).to_string(index=False),
        ]
        if not self.adjusted.empty:
            lines += ["", "Adjusted model:", self.adjusted.round(decimals).to_string(index=False)]
        if self.warnings:
            lines += ["", "Warnings:", *[f"- {w}" for w in self.warnings]]
        return "\n".join(lines)

    def __repr__(self) -> str:
        m = self.meta
        return (
            f"<GroupComparison: {m['outcome']} by {m['by']}, {len(self.groups)} groups, "
            f"n={m['n']}, {len(self.warnings)} warning(s)>"
        )

    def _repr_html_(self) -> str:
        from html import escape

        m = self.meta
        parts = [
            f"<p><b>{escape(m['outcome'])} by {escape(m['by'])}</b> ({m['kind']}, reference "
            f"{escape(str(m['reference']))}, p adjusted: {m['p_adjust']})</p>"
        ]
        if self.warnings:
            # shown first, as a banner, so nobody copies a table without reading them
            items = "".join(f"<li>{escape(w)}</li>" for w in self.warnings)
            parts.append(
                '<div style="border:2px solid #b30000;background:#fff0f0;padding:6px">'
                f"<strong>Warnings</strong><ul>{items}</ul></div>"
            )
        for name in ("groups", "contrasts", "omnibus", "adjusted"):
            table = getattr(self, name)
            if not table.empty:
                parts.append(f"<h4>{name}</h4>" + table.round(3).to_html(index=False, na_rep=""))
        return "\n".join(parts)

    def plot(self, ax=None, *, term=None):
        """Forest plot of the contrasts (one term); returns the matplotlib Axes.

        Drawn by :func:`ipt_analytics.plotting.plot_comparison`.
        """
        from ipt_analytics.plotting.comparisons import plot_comparison

        return plot_comparison(self, ax=ax, term=term)


def _nnt_label(nnt) -> str:
    """NNT as readers expect it: a negative NNT is a number needed to harm (NNTH)."""
    if nnt.crosses_null or nnt.estimate > 0:
        return str(nnt)
    lo, hi = sorted((abs(nnt.conf_low), abs(nnt.conf_high)))
    return f"NNTH {abs(nnt.estimate):.2f} ({lo:.2f} to {hi:.2f})"


def _is_binary(s: pd.Series) -> bool:
    if pd.api.types.is_bool_dtype(s.dtype):
        return True
    vals = pd.unique(s.dropna())
    return pd.api.types.is_numeric_dtype(s.dtype) and set(vals.tolist()) <= {0, 1} and len(vals)


def _design(frame: pd.DataFrame, by: str, levels: list, reference, covariates: list):
    cols = {"const": np.ones(len(frame))}
    for lev in levels:
        if lev != reference:
            cols[f"{by}[{lev}]"] = (frame[by] == lev).to_numpy(dtype=float)
    for cov in covariates:
        s = frame[cov]
        if pd.api.types.is_bool_dtype(s.dtype) or not pd.api.types.is_numeric_dtype(s.dtype):
            cats = sorted(pd.unique(s.astype(object)).tolist(), key=str)
            for lev in cats[1:]:
                cols[f"{cov}[{lev}]"] = (s.astype(object) == lev).to_numpy(dtype=float)
        else:
            cols[cov] = s.to_numpy(dtype=float)
    return pd.DataFrame(cols, index=frame.index)


def compare_groups(
    outcomes: pd.DataFrame,
    *,
    by: str,
    outcome: str,
    adjust_for=None,
    reference=None,
    p_adjust: str = "holm",
    conf_level: float = 0.95,
) -> GroupComparison:
    """Compare an episode outcome between groups.

    Parameters
    ----------
    outcomes : pandas.DataFrame
        One row per episode, e.g. from :func:`ipt_analytics.episode_outcomes`.
    by : str
        Grouping column (``format``, ``problem_area``, ``site``, ...).
    outcome : str
        Boolean column (binary analysis) or numeric column (continuous analysis).
    adjust_for : list of str, optional
        Covariates. Binary: a logistic regression (statsmodels GLM, binomial, logit link) of
        the outcome on group + covariates fills ``.adjusted``. Continuous: covariates enter
        the ANCOVA; ``baseline`` is added automatically for ``final``, ``change`` and
        ``pct_change`` (ANCOVA on the final score adjusted for baseline).
    reference : optional
        Reference group; default the largest group (ties: first in sorted order).
    p_adjust : {"holm", "bh", "none"}
        Multiplicity adjustment within each family (one term across all contrasts).
    conf_level : float

    Returns
    -------
    GroupComparison
        ``groups``: binary ``group, n, events, rate, conf_low, conf_high`` (Wilson);
        continuous ``group, n, mean, sd, estimate, std_error, conf_low, conf_high``
        (estimate = adjusted mean at the covariate means of the whole analysed sample, not
        of each group; a categorical covariate enters at its sample proportions, i.e. the
        mean prediction over all episodes with the group set to each level, which differs
        from emmeans' default equal weighting of factor levels; contrasts are unaffected).
        ``contrasts``: binary terms ``risk_difference`` (Newcombe interval, Wald z test),
        ``risk_ratio`` (Katz log), ``odds_ratio`` (Woolf), ``nnt`` (Altman convention: when
        ``note`` says the interval crosses the null, the NNT interval is
        (-inf, conf_low] U [conf_high, inf)); continuous term ``difference`` for every pair.
        Ratio ``std_error`` values are on the log scale.
        ``omnibus``: chi-square test of independence, or Fisher's exact test for a 2x2 table
        with an expected count < 5 (an r x 2 table with small expected counts keeps the
        chi-square test and gets a warning: SciPy >= 1.10 has no exact r x c test without
        Monte-Carlo resampling); continuous: the F test of the group terms.
        ``adjusted``: model coefficients (odds ratios for binary outcomes).

    Examples
    --------
    >>> o = pd.DataFrame({"format": ["individual"] * 6 + ["group"] * 4,
    ...                   "response": [True, True, True, True, False, False,
    ...                                True, False, False, False]})
    >>> res = compare_groups(o, by="format", outcome="response")
    >>> res.groups[["group", "n", "events"]].values.tolist()
    [['group', 4, 1], ['individual', 6, 4]]
    >>> round(res.contrasts.query("term == 'risk_difference'")["estimate"].item(), 4)
    -0.4167
    """
    fn = "compare_groups"
    if p_adjust not in P_ADJUST_METHODS:
        raise ValueError(f"{fn}(): p_adjust={p_adjust!r}; use one of {list(P_ADJUST_METHODS)}.")
    frame, covs, binary, notes = _analysis_frame(outcomes, by, outcome, adjust_for, fn)
    levels, reference = _levels_and_reference(frame, by, reference, fn)
    meta = {"outcome": outcome, "by": by, "reference": reference, "conf_level": conf_level,
            "p_adjust": p_adjust, "n": len(frame), "kind": "binary" if binary else "continuous",
            "adjust_for": covs}  # fmt: skip
    args = (frame, by, outcome, levels, reference, covs, p_adjust, conf_level, notes)
    tables = _binary(*args) if binary else _continuous(*args)
    # figures drawn from the contrasts say how their p-values (not intervals) were adjusted
    tables[1].attrs.update(p_adjust=p_adjust, conf_level=conf_level, conf_adjust="none")
    for w in notes:
        warnings.warn(f"{fn}(): {w}", DataWarning, stacklevel=2)
    return GroupComparison(*tables, [f"{fn}(): {w}" for w in notes], meta)


def _analysis_frame(outcomes, by, outcome, adjust_for, fn):
    """Rows with the outcome, group and covariates known; the covariates; binary or not."""
    covs = [] if adjust_for is None else [adjust_for] if isinstance(adjust_for, str) else list(
        adjust_for)  # fmt: skip
    for col in [by, outcome, *covs]:
        if col not in outcomes.columns:
            raise SchemaError(
                f"{fn}(): column {col!r} is not in the outcomes table. Available: "
                f"{list(outcomes.columns)}. Fix: pass an existing column name."
            )
    binary = _is_binary(outcomes[outcome])
    # ANCOVA on the final score (or change) is adjusted for baseline (Vickers & Altman 2001)
    if not binary and outcome in ("final", "change", "pct_change") and "baseline" in outcomes:
        covs = ["baseline", *[c for c in covs if c != "baseline"]]
    frame = outcomes[[by, outcome, *covs]].dropna()
    notes = []
    if len(frame) < len(outcomes):
        notes.append(
            f"{len(outcomes) - len(frame)} of {len(outcomes)} episodes left out: missing "
            f"{outcome}, {by} or a covariate (e.g. single-rating episodes)."
        )
    return frame, covs, binary, notes


def _levels_and_reference(frame, by, reference, fn):
    """Sorted group levels and the reference group (default: largest, ties: first sorted)."""
    counts = frame[by].value_counts()
    counts = counts[counts > 0]  # a categorical also counts the categories no row has
    levels = sorted(counts.index.tolist(), key=str)
    if len(levels) < 2:
        raise SchemaError(f"{fn}(): {by!r} has {len(levels)} group(s) with data; need >= 2.")
    if reference is None:
        reference = max(levels, key=lambda g: (counts[g], -levels.index(g)))
    elif reference not in levels:
        raise ValueError(f"{fn}(): reference={reference!r} is not a group of {by!r}: {levels}.")
    return levels, reference


def _binary(frame, by, outcome, levels, reference, covs, method, conf_level, notes):
    y = frame[outcome].astype(bool)
    n = frame.groupby(by, observed=True)[outcome].size().reindex(levels)
    ev = y.groupby(frame[by], observed=True).sum().reindex(levels).astype(int)
    lo, hi = wilson_interval(ev.to_numpy(), n.to_numpy(), conf_level=conf_level)
    groups = pd.DataFrame({"group": levels, "n": n.to_numpy(dtype=np.int64),
                           "events": ev.to_numpy(dtype=np.int64),
                           "rate": ev.to_numpy() / n.to_numpy(), "conf_low": lo, "conf_high": hi,
                           "method": "wilson"})  # fmt: skip
    beneficial = outcome not in HARMFUL_OUTCOMES
    rows = []
    for g in levels:
        if g == reference:
            continue
        a, m1, c, m2 = int(ev[g]), int(n[g]), int(ev[reference]), int(n[reference])
        rows += _contrast_rows(g, reference, a, m1, c, m2, conf_level, beneficial)
    contrasts = _adjust(pd.DataFrame(rows, columns=_CONTRAST_COLUMNS), method)
    table = np.column_stack([ev.to_numpy(), (n - ev).to_numpy()])
    omnibus = _omnibus_binary(table, outcome, notes)
    adjusted = pd.DataFrame(columns=_ADJ_COLUMNS)
    if covs:
        adjusted = _logistic(frame, by, y, levels, reference, covs, method, conf_level, notes)
    return groups, contrasts, omnibus, adjusted


def _contrast_rows(g, reference, a, m1, c, m2, conf_level, beneficial) -> list:
    """RD (Newcombe interval, Wald z test), RR (Katz), OR (Woolf) and NNT of g vs reference."""
    rows = []
    base = {"contrast": f"{g} vs {reference}", "group": g, "reference": reference, "df": np.nan,
            "p_adjusted": np.nan, "note": pd.NA}  # fmt: skip
    rd = risk_difference(a, m1, c, m2, conf_level=conf_level)
    stat = rd.estimate / rd.std_error if rd.std_error > 0 else np.nan
    rows.append(
        {
            **base,
            "term": "risk_difference",
            "estimate": rd.estimate,
            "std_error": rd.std_error,
            "statistic": stat,
            "p_value": 2 * stats.norm.sf(abs(stat)),
            "conf_low": rd.conf_low,
            "conf_high": rd.conf_high,
            "method": "newcombe interval; wald z test",
        }
    )
    for term, est in (
        ("risk_ratio", risk_ratio(a, m1, c, m2, conf_level=conf_level)),
        ("odds_ratio", odds_ratio(a, m1, c, m2, conf_level=conf_level)),
    ):
        st = np.log(est.estimate) / est.std_error
        rows.append(
            {
                **base,
                "term": term,
                "estimate": est.estimate,
                "std_error": est.std_error,
                "statistic": st,
                "p_value": 2 * stats.norm.sf(abs(st)),
                "conf_low": est.conf_low,
                "conf_high": est.conf_high,
                "method": est.method,
            }
        )
    nnt = nnt_from_rd(rd.estimate, rd.conf_low, rd.conf_high, beneficial=beneficial)
    rows.append(
        {
            **base,
            "term": "nnt",
            "estimate": nnt.estimate,
            "std_error": np.nan,
            "statistic": np.nan,
            "p_value": np.nan,
            "conf_low": nnt.conf_low,
            "conf_high": nnt.conf_high,
            "method": "1/RD, Newcombe RD interval inverted (Altman 1998); > 0 = "
            + ("benefit" if beneficial else "benefit (fewer harmful events)"),
            "note": _nnt_label(nnt)
            + (
                "; RD interval includes 0: NNT interval runs from NNTH |conf_low| "
                "through infinity to NNTB conf_high"
                if nnt.crosses_null
                else ""
            ),
        }
    )
    return rows


def _adjust(contrasts: pd.DataFrame, method: str) -> pd.DataFrame:
    for _term, idx in contrasts.groupby("term", sort=False, observed=True).groups.items():
        contrasts.loc[idx, "p_adjusted"] = p_adjust(contrasts.loc[idx, "p_value"], method=method)
    return contrasts


def _omnibus_binary(table, outcome, notes) -> pd.DataFrame:
    keep = table.sum(axis=0) > 0
    if keep.sum() < 2:
        notes.append(f"every episode has the same {outcome} value: no test of independence.")
        return pd.DataFrame(
            [
                {
                    "term": outcome,
                    "test": "none",
                    "statistic": np.nan,
                    "df": np.nan,
                    "p_value": np.nan,
                    "n": int(table.sum()),
                    "min_expected": np.nan,
                    "method": "constant outcome",
                }
            ],
            columns=_OMNI_COLUMNS,
        )
    chi2, p, dof, expected = stats.chi2_contingency(table, correction=False)
    row = {
        "term": outcome,
        "test": "chi_square",
        "statistic": chi2,
        "df": float(dof),
        "p_value": p,
        "n": int(table.sum()),
        "min_expected": float(expected.min()),
        "method": "Pearson chi-square test of independence, no continuity correction",
    }
    if expected.min() < 5:
        if table.shape[0] == 2:
            res = stats.fisher_exact(table)
            row.update(
                test="fisher_exact",
                statistic=float(res.statistic),
                df=np.nan,
                p_value=float(res.pvalue),
                method="Fisher's exact test (2x2; expected count < 5), two-sided; "
                "statistic = sample odds ratio",
            )
        else:
            notes.append(
                f"expected count {expected.min():.2f} < 5 in the {table.shape[0]} x 2 table: "
                "the chi-square p-value is approximate (no exact r x c test used)."
            )
    return pd.DataFrame([row], columns=_OMNI_COLUMNS)


def _coef_table(fit, names, conf_level, exponentiate, method, df):
    z = stats.t.ppf(0.5 + conf_level / 2, df) if np.isfinite(df) else z_value(conf_level)
    est, se = np.asarray(fit.params), np.asarray(fit.bse)
    lo, hi = est - z * se, est + z * se
    f = np.exp if exponentiate else (lambda v: v)
    return pd.DataFrame(
        {
            "term": names,
            "estimate": f(est),
            "std_error": se,
            "statistic": np.asarray(fit.tvalues),
            "df": df,
            "p_value": np.asarray(fit.pvalues),
            "p_adjusted": np.nan,
            "conf_low": f(lo),
            "conf_high": f(hi),
            "method": method,
        }
    )


def _logistic(frame, by, y, levels, reference, covs, method, conf_level, notes):
    x = _design(frame, by, levels, reference, covs)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = sm.GLM(y.astype(float).to_numpy(), x.to_numpy(), family=sm.families.Binomial()).fit()
    for w in caught:
        notes.append(f"logistic regression: {w.message}")
        warnings.warn(f"compare_groups(): logistic regression: {w.message}", FitWarning,
                      stacklevel=4)  # fmt: skip
    out = _coef_table(fit, list(x.columns), conf_level, True,
                      "logistic regression (GLM binomial, logit); estimate = odds ratio; "
                      "std_error on the log-odds scale", np.inf)  # fmt: skip
    grp = out["term"].str.startswith(f"{by}[")
    out.loc[grp, "p_adjusted"] = p_adjust(out.loc[grp, "p_value"], method=method)
    out["df"] = np.nan
    return out[_ADJ_COLUMNS]


def _continuous(frame, by, outcome, levels, reference, covs, method, conf_level, notes):
    x = _design(frame, by, levels, reference, covs)
    yv = frame[outcome].to_numpy(dtype=float)
    fit = sm.OLS(yv, x.to_numpy()).fit()
    df = float(fit.df_resid)
    cov = np.asarray(fit.cov_params())
    tcrit = stats.t.ppf(0.5 + conf_level / 2, df)
    # adjusted means: each group's prediction at the mean of every covariate column
    xbar = x.mean().to_numpy()
    grp_cols = [i for i, c in enumerate(x.columns) if c.startswith(f"{by}[")]
    lmat = []
    for g in levels:
        row = xbar.copy()
        row[grp_cols] = 0.0
        if g != reference:
            row[list(x.columns).index(f"{by}[{g}]")] = 1.0
        lmat.append(row)
    lmat = np.array(lmat)
    est = lmat @ np.asarray(fit.params)
    se = np.sqrt(np.einsum("ij,jk,ik->i", lmat, cov, lmat))
    desc = frame.groupby(by, observed=True)[outcome].agg(["size", "mean", "std"]).reindex(levels)
    groups = pd.DataFrame({"group": levels, "n": desc["size"].to_numpy(dtype=np.int64),
                           "mean": desc["mean"].to_numpy(), "sd": desc["std"].to_numpy(),
                           "estimate": est, "std_error": se, "conf_low": est - tcrit * se,
                           "conf_high": est + tcrit * se,
                           "method": "OLS adjusted mean at covariate means"
                           if covs else "OLS group mean"})  # fmt: skip
    rows = []
    for i, g in enumerate(levels):
        for j in range(i + 1, len(levels)):
            h = levels[j]
            first, second = (h, g) if g == reference else (g, h)
            li = lmat[levels.index(first)] - lmat[levels.index(second)]
            e = float(li @ np.asarray(fit.params))
            s = float(np.sqrt(li @ cov @ li))
            t = e / s
            rows.append({"contrast": f"{first} - {second}", "group": first, "reference": second,
                         "term": "difference", "estimate": e, "std_error": s, "statistic": t,
                         "df": df, "p_value": 2 * stats.t.sf(abs(t), df), "p_adjusted": np.nan,
                         "conf_low": e - tcrit * s, "conf_high": e + tcrit * s,
                         "method": "ANCOVA (OLS) contrast of adjusted means" if covs
                         else "OLS contrast of means", "note": pd.NA})  # fmt: skip
    contrasts = _adjust(pd.DataFrame(rows, columns=_CONTRAST_COLUMNS), method)
    rmat = np.zeros((len(grp_cols), x.shape[1]))
    for k, c in enumerate(grp_cols):
        rmat[k, c] = 1.0
    ft = fit.f_test(rmat)
    omnibus = pd.DataFrame([{"term": by, "test": "f_test", "statistic": float(ft.fvalue),
                             "df": float(ft.df_num), "p_value": float(ft.pvalue),
                             "n": int(len(frame)), "min_expected": np.nan,
                             "method": f"F test of the {by} terms (df2 = {df:g})"}],
                           columns=_OMNI_COLUMNS)  # fmt: skip
    adjusted = _coef_table(fit, list(x.columns), conf_level, False, "OLS (ANCOVA)", df)
    return groups, contrasts, omnibus, adjusted[_ADJ_COLUMNS]
