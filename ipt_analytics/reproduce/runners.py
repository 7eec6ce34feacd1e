"""Run a spec's analyses: each ``run = NAME`` maps to one toolkit call.

Every analysis result is a set of named tidy tables (``fixed``, ``variance_components``,
``anova``, ``means``, ...); a published number is one cell of one of them, picked by
``from = "analysis.table"``, ``where = {column = value}`` and ``column``. The toolkit does
the statistics; this module only calls it and lays its results out as tables.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ipt_analytics.errors import SchemaError
from ipt_analytics.reproduce.data import load_data
from ipt_analytics.reproduce.spec import Spec, SpecError

__all__ = ["Result", "run_analyses", "pick"]


@dataclass
class Result:
    """One analysis: the toolkit object, its tables and any warnings it raised."""

    obj: object
    tables: dict[str, pd.DataFrame]
    warnings: list[str] = field(default_factory=list)


# -- tables of a mixed model -------------------------------------------------------------
def _mixed_tables(ctx, res, data: pd.DataFrame) -> dict[str, pd.DataFrame]:
    fixed = res.fixed.reset_index(drop=True)
    vcomp = res.variance_components.copy()
    vcomp[["term1", "term2"]] = (
        vcomp[["term1", "term2"]].astype(object).where(vcomp[["term1", "term2"]].notna(), "")
    )
    fit = {"loglik": res.loglik, "aic": res.aic, "bic": res.bic,
           "deviance": -2.0 * res.loglik,
           "reml_criterion": -2.0 * res.loglik if res.reml else np.nan,
           "nobs": res.nobs, "npar": res.npar, "df_resid": res.nobs - res.npar,
           "sigma": res.sigma, "converged": res.converged}  # fmt: skip
    for name, count in res.ngroups.items():
        fit[f"ngroups_{name}"] = count
    cov = res.cov_fixed.to_numpy()
    sd = np.sqrt(np.diag(cov))
    terms = list(res.cov_fixed.index)
    # both orders, so that a printed lower triangle can be looked up in any term order
    corr = [(terms[i], terms[j], cov[i, j] / (sd[i] * sd[j]))
            for i in range(len(terms)) for j in range(len(terms)) if i != j]  # fmt: skip
    # the frame the model was fitted to, kept for a later refit's residuals
    ctx.frames[ctx.spec.doc["analysis"][ctx.index]["name"]] = data
    fitted = res.predict(include_random=True)
    observed = data.loc[fitted.index, res.formula.split("~")[0].strip()].astype(float)
    resid = (observed - fitted).to_numpy() / res.sigma
    # R's summary.merMod: quantile(type 7) of the scaled Pearson residuals
    q = np.quantile(resid, [0.0, 0.25, 0.5, 0.75, 1.0])
    return {
        "fixed": fixed,
        "variance_components": vcomp,
        "fit": pd.DataFrame([fit]),
        "fixed_correlation": pd.DataFrame(corr, columns=["term1", "term2", "correlation"]),
        "scaled_residuals": pd.DataFrame(
            [dict(zip(["min", "q1", "median", "q3", "max"], q, strict=True))]
        ),  # fmt: skip
    }


def _fit_mixed(ctx, o):
    from ipt_analytics.models.mixed import fit_mixed

    res = fit_mixed(ctx.data(), o["formula"], groups=o["groups"],
                    re_formula=o.get("re_formula", "1"), vc=o.get("vc"),
                    reml=o.get("reml", True),
                    df_method=o.get("df_method", "satterthwaite"))  # fmt: skip
    return res, _mixed_tables(ctx, res, ctx.data())


def _mixed_of(ctx, name):
    obj = ctx.results[name].obj
    return getattr(obj, "model", obj)  # a TrajectoryResult wraps its MixedResult


def _refit(ctx, o):
    res = _mixed_of(ctx, o["model"]).refit(reml=o.get("reml", False))
    return res, _mixed_tables(ctx, res, ctx.frames[o["model"]])


def _fit_trajectory(ctx, o):
    from ipt_analytics.models.trajectory import fit_trajectory

    keys = ("instrument", "time", "shape", "by", "covariates", "random", "nest", "reml",
            "phases")  # fmt: skip
    fit = fit_trajectory(ctx.data(), **{k: o[k] for k in keys if k in o})
    return fit, _mixed_tables(ctx, fit.model, fit.data)


def _compare_models(ctx, o):
    from ipt_analytics.models.mixed import compare_models

    names = o["models"]
    fits = [_mixed_of(ctx, n) for n in names]
    if any(b.npar <= a.npar for a, b in zip(fits[:-1], fits[1:], strict=True)):
        raise SpecError(ctx.spec.path, f"analysis[{ctx.index}].models", "the models are not "
                        "listed from fewest to most parameters (npar "
                        f"{[f.npar for f in fits]}).", "list them in that order, as R's anova "
                        "prints them.")  # fmt: skip
    # like anova(m1, m2, ...): each model is tested against the one before it
    rows = [compare_models(fits[0], fits[1]).iloc[0].to_dict()]
    rows += [compare_models(fits[i - 1], fits[i]).iloc[1].to_dict() for i in range(1, len(fits))]
    for name, row in zip(names, rows, strict=True):
        row["model"] = name
    return rows, {"anova": pd.DataFrame(rows)}


def _marginal_means(ctx, o):
    from ipt_analytics.models.emmeans import marginal_means

    out = marginal_means(ctx.results[o["fit"]].obj, at=o.get("at"), by=o.get("by"),
                         conf_level=o.get("conf_level", 0.95))  # fmt: skip
    return out, {"means": out.reset_index(drop=True)}


def _contrasts(ctx, o):
    from ipt_analytics.models.emmeans import contrasts

    keys = ("at", "on", "method", "reference", "p_adjust", "conf_level")
    out = contrasts(ctx.results[o["fit"]].obj, by=o["by"], **{k: o[k] for k in keys if k in o})
    return out, {"contrasts": out.reset_index(drop=True)}


def _episode_outcomes(ctx, o):
    from ipt_analytics.outcomes.episode import episode_outcomes

    out = episode_outcomes(ctx.data(), **o)
    data = ctx.data()
    extra = data.episodes[["episode_id", "planned_sessions"]]
    out = out.merge(extra, on="episode_id", how="left")
    return out, {"episodes": out}


def _table_of(ctx, name) -> pd.DataFrame:
    if name == "data":
        data = ctx.data()
        if not isinstance(data, pd.DataFrame):
            raise SpecError(
                ctx.spec.path,
                f"analysis[{ctx.index}].table",
                "'data' is session data, not a table of one row per unit.",
                'run episode_outcomes first and name it, or use reader = "table".',
            )
        return data
    result = ctx.results[name]
    if len(result.tables) != 1:
        raise SpecError(
            ctx.spec.path,
            f"analysis[{ctx.index}].table",
            f"{name!r} has several tables ({', '.join(result.tables)}).",
            "name an analysis with one table (e.g. episode_outcomes).",
        )
    return next(iter(result.tables.values()))


# descriptive statistics of the non-missing values x (t: the variable's threshold)
_STATS = {
    "n": lambda x, t: float(len(x)),
    "mean": lambda x, t: x.astype(float).mean(),
    "sd": lambda x, t: x.astype(float).std(ddof=1),
    "median": lambda x, t: x.astype(float).median(),
    "percent_true": lambda x, t: 100.0 * x.astype(bool).mean(),
    "percent_at_least": lambda x, t: 100.0 * (x >= t).mean(),
    "percent_equal": lambda x, t: 100.0 * (x == t).mean(),
}


def _describe(ctx, o):
    frame = _table_of(ctx, o["table"]).copy()
    for extra in o.get("merge", []):
        other = _table_of(ctx, extra["table"])
        cols = extra.get("columns", [c for c in other.columns if c != extra["on"]])
        prefix = extra.get("prefix", "")
        part = other[[extra["on"], *cols]].rename(columns={c: prefix + c for c in cols})
        frame = frame.merge(part, on=extra["on"], how="left")
    by = o["by"]
    rows = []
    groups = [(str(k), g) for k, g in frame.groupby(by, sort=True, observed=True)]
    for label, part in [*groups, ("all", frame)]:
        rows.append((label, "rows", "n", "", float(len(part))))
        for i, var in enumerate(o["variables"]):
            col = var["column"]
            if col not in frame.columns:
                raise SpecError(
                    ctx.spec.path,
                    f"analysis[{ctx.index}].variables[{i}].column",
                    f"{col!r} is not a column of the table.",
                    f"use one of: {', '.join(map(str, frame.columns))}.",
                )
            x = part[col].dropna()
            threshold = var.get("threshold", "")
            for stat in var["stats"]:
                if stat in ("percent_at_least", "percent_equal") and threshold == "":
                    raise SpecError(
                        ctx.spec.path,
                        f"analysis[{ctx.index}].variables[{i}]",
                        f"{stat} needs a threshold.",
                        "add threshold = ...",
                    )
                value = _STATS[stat](x, threshold)
                rows.append((label, col, stat, str(threshold), float(value)))
    out = pd.DataFrame(rows, columns=["group", "variable", "statistic", "threshold", "value"])
    return out, {"describe": out}


def _compare_groups(ctx, o):
    from ipt_analytics.stats.groups import compare_groups

    keys = ("reference", "adjust_for", "conf_level")
    res = compare_groups(_table_of(ctx, o["table"]), by=o["by"], outcome=o["outcome"],
                         **{k: o[k] for k in keys if k in o})  # fmt: skip
    tables = {"groups": res.groups, "contrasts": res.contrasts, "omnibus": res.omnibus}
    if res.adjusted is not None:
        tables["adjusted"] = res.adjusted
    return res, {k: v.reset_index(drop=True) for k, v in tables.items()}


def _nhs_tt_summary(ctx, o):
    from ipt_analytics.outcomes.nhs_tt import nhs_tt_summary

    out = nhs_tt_summary(_table_of(ctx, o["table"]), by=o.get("by"))
    return out, {"summary": out.reset_index(drop=True)}


def _summary_data(fn_name: str, column: str | None = None) -> Callable:
    def run(ctx, o):
        from ipt_analytics.stats import summary_stats

        value = getattr(summary_stats, fn_name)(**o)
        row = value.as_dict() if hasattr(value, "as_dict") else {column: float(value)}
        return value, {"value": pd.DataFrame([row])}

    return run


RUNNERS: dict[str, Callable] = {
    "fit_mixed": _fit_mixed,
    "refit": _refit,
    "fit_trajectory": _fit_trajectory,
    "compare_models": _compare_models,
    "marginal_means": _marginal_means,
    "contrasts": _contrasts,
    "episode_outcomes": _episode_outcomes,
    "describe": _describe,
    "compare_groups": _compare_groups,
    "nhs_tt_summary": _nhs_tt_summary,
    "nhs_rate": _summary_data("nhs_rate", "rate"),
    "nhs_recovery_rate": _summary_data("nhs_recovery_rate", "rate"),
    "odds_ratio": _summary_data("odds_ratio"),
    "risk_ratio": _summary_data("risk_ratio"),
    "risk_difference": _summary_data("risk_difference"),
    "nnt_from_d": _summary_data("nnt_from_d", "nnt"),
}


class _Context:
    def __init__(self, spec: Spec):
        self.spec = spec
        self.results: dict[str, Result] = {}
        self.frames: dict[str, pd.DataFrame] = {}
        self.index = 0
        self._data = None

    def data(self):
        if self._data is None:
            self._data = load_data(self.spec)
        return self._data


def run_analyses(spec: Spec) -> dict[str, Result]:
    """Run every analysis of ``spec`` in order; a failure is a :class:`SpecError`."""
    ctx = _Context(spec)
    for i, item in enumerate(spec.doc["analysis"]):
        ctx.index = i
        options = {k: v for k, v in item.items() if k not in ("name", "run")}
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                obj, tables = RUNNERS[item["run"]](ctx, options)
            except SpecError:
                raise
            except (SchemaError, ValueError, KeyError, TypeError) as exc:
                raise SpecError(spec.path, f"analysis[{i}] ({item['name']}, run = "
                                f"{item['run']})", f"the toolkit refused it: {exc}",
                                "check this analysis's options against docs/reproduce.md."
                                ) from None  # fmt: skip
        notes = sorted({str(w.message) for w in caught})
        ctx.results[item["name"]] = Result(obj, tables, notes)
    return ctx.results


def _matches(cells: pd.Series, wanted) -> pd.Series:
    if isinstance(wanted, int | float) and not isinstance(wanted, bool):
        numeric = pd.to_numeric(cells, errors="coerce")
        return numeric == wanted
    return cells.astype(object).map(lambda v: "" if v is None or v is pd.NA else str(v)) == str(
        wanted
    )


def pick(spec: Spec, index: int, results: dict[str, Result]) -> float:
    """The reproduced value of ``numbers[index]``: one cell of one result table."""
    number = spec.numbers[index]
    key = f"numbers[{index}]"
    name, table_name = number["from"].split(".")
    tables = results[name].tables
    if table_name not in tables:
        raise SpecError(
            spec.path,
            f"{key}.from",
            f"analysis {name!r} has no table {table_name!r}.",
            f"use one of: {', '.join(tables)}.",
        )
    table = tables[table_name]
    mask = pd.Series(True, index=table.index)
    for column, wanted in number.get("where", {}).items():
        if column not in table.columns:
            raise SpecError(
                spec.path,
                f"{key}.where.{column}",
                f"{column!r} is not a column of {number['from']}.",
                f"use one of: {', '.join(table.columns)}.",
            )
        mask &= _matches(table[column], wanted)
    if number["column"] not in table.columns:
        raise SpecError(
            spec.path,
            f"{key}.column",
            f"{number['column']!r} is not a column of {number['from']}.",
            f"use one of: {', '.join(table.columns)}.",
        )
    if int(mask.sum()) != 1:
        keys = [c for c in table.columns if not pd.api.types.is_numeric_dtype(table[c])][:3]
        rows = table[keys].astype(str).agg(" / ".join, axis=1).tolist() if keys else []
        raise SpecError(spec.path, f"{key}.where", f"matches {int(mask.sum())} rows of "
                        f"{number['from']}, not 1.",
                        f"select one row by its columns ({', '.join(keys)}); rows: "
                        f"{'; '.join(rows[:12])}.")  # fmt: skip
    value = table.loc[mask, number["column"]].iloc[0]
    try:
        return float(value)
    except (TypeError, ValueError):
        raise SpecError(
            spec.path,
            f"{key}.column",
            f"the cell is {value!r}, not a number.",
            "pick a numeric column.",
        ) from None
