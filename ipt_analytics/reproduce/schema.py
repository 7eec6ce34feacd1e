"""The JSON Schema of a reproduction spec (TOML), one document.

``json.dumps(SPEC_SCHEMA)`` gives it as JSON, e.g. for an editor that validates TOML
against a JSON Schema. The options of each analysis (``run = ...``) and each
data step (``step = ...``) are checked by ``if``/``then`` branches, so a misspelt option is
named with the analysis or step it belongs to.
"""

from __future__ import annotations

__all__ = ["ANALYSES", "STEPS", "SPEC_SCHEMA", "TOLERANCE_SCHEMA"]

_NAME = {"type": "string", "pattern": "^[A-Za-z][A-Za-z0-9_]*$"}
_STR = {"type": "string", "minLength": 1}
_STRS = {"type": "array", "items": _STR, "minItems": 1}
_STR_OR_STRS = {"anyOf": [_STR, _STRS]}
_NUM = {"type": "number"}
_COUNT = {"type": "integer", "minimum": 0}
_BOOL = {"type": "boolean"}
_AT = {"type": "object", "additionalProperties": {"type": ["number", "string", "boolean"]}}
_CONF = {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1}

#: tolerance of one number: "as printed" (round the reproduced value to the printed digits
#: and compare), or an absolute and/or relative bound (pass if either holds, like math.isclose)
TOLERANCE_SCHEMA = {
    "anyOf": [
        {"const": "as printed"},
        {
            "type": "object",
            "properties": {
                "abs": {"type": "number", "minimum": 0},
                "rel": {"type": "number", "minimum": 0},
            },
            "additionalProperties": False,
            "minProperties": 1,
        },
    ]
}

#: run -> (required options, {option: schema}, one-line description)
ANALYSES: dict[str, tuple[list[str], dict, str]] = {
    "fit_mixed": (
        ["formula", "groups"],
        {
            "formula": _STR,
            "groups": _STR,
            "re_formula": _STR,
            "vc": {"type": "object", "additionalProperties": _STR},
            "reml": _BOOL,
            "df_method": {"enum": ["satterthwaite", "kenward-roger", "wald"]},
        },
        "linear mixed model (lme4-equivalent engine); tables fixed, variance_components, fit, "
        "fixed_correlation, scaled_residuals",
    ),  # fmt: skip
    "refit": (
        ["model"],
        {"model": _NAME, "reml": _BOOL},
        "the same mixed model refitted by ML (reml = false) or REML; tables as fit_mixed",
    ),
    "fit_trajectory": (
        [],
        {
            "instrument": _STR,
            "time": {"enum": ["week", "session"]},
            "shape": {"enum": ["linear", "log", "quadratic", "piecewise"]},
            "by": _STR_OR_STRS,
            "covariates": {"type": "array", "items": _STR},
            "random": {"enum": ["slope", "intercept"]},
            "nest": _STR_OR_STRS,
            "reml": _BOOL,
            "phases": {"type": "object", "additionalProperties": {"type": "integer"}},
        },
        "symptom trajectory model on session data; tables as fit_mixed",
    ),  # fmt: skip
    "compare_models": (
        ["models"],
        {"models": {"type": "array", "items": _NAME, "minItems": 2}},
        "likelihood-ratio tests, each model against the one before (R's anova); table anova",
    ),
    "marginal_means": (
        ["fit"],
        {"fit": _NAME, "at": _AT, "by": _STR_OR_STRS, "conf_level": _CONF},
        "estimated marginal means of a trajectory fit; table means",
    ),
    "contrasts": (
        ["fit", "by"],
        {
            "fit": _NAME,
            "by": _STR,
            "at": _AT,
            "on": {"enum": ["level", "slope"]},
            "method": {"enum": ["pairwise", "trt.vs.ctrl"]},
            "reference": _STR,
            "p_adjust": {"enum": ["holm", "bh", "none"]},
            "conf_level": _CONF,
        },
        "contrasts of marginal means or slopes; table contrasts",
    ),  # fmt: skip
    "episode_outcomes": (
        [],
        {
            "instrument": _STR,
            "reliability": _NUM,
            "nhs_tt_measures": {"anyOf": [_BOOL, {"const": "auto"}]},
        },
        "clinical outcomes, one row per episode; table episodes (input of describe, "
        "compare_groups, nhs_tt_summary)",
    ),
    "describe": (
        ["table", "by", "variables"],
        {
            "table": _NAME,
            "by": _STR,
            "merge": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["table", "on"],
                    "additionalProperties": False,
                    "properties": {"table": _NAME, "on": _STR, "columns": _STRS, "prefix": _STR},
                },
            },
            "variables": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["column", "stats"],
                    "additionalProperties": False,
                    "properties": {
                        "column": _STR,
                        "stats": {
                            "type": "array",
                            "minItems": 1,
                            "items": {
                                "enum": [
                                    "n",
                                    "mean",
                                    "sd",
                                    "median",
                                    "percent_true",
                                    "percent_at_least",
                                    "percent_equal",
                                ]
                            },
                        },
                        "threshold": {"type": ["number", "string"]},
                    },
                },
            },
        },
        "descriptive statistics by group (baseline table); table describe",
    ),  # fmt: skip
    "compare_groups": (
        ["table", "by", "outcome"],
        {
            "table": _NAME,
            "by": _STR,
            "outcome": _STR,
            "reference": _STR,
            "adjust_for": {"type": "array", "items": _STR},
            "conf_level": _CONF,
        },
        "rates (Wilson) or means by group with contrasts; tables groups, contrasts, omnibus, "
        "adjusted",
    ),  # fmt: skip
    "nhs_tt_summary": (
        ["table"],
        {"table": _NAME, "by": _STR},
        "NHS Talking Therapies rates with their published denominators; table summary",
    ),
    "nhs_rate": (
        ["numerator", "denominator"],
        {"numerator": _COUNT, "denominator": _COUNT},
        "rate in percent from counts; table value (column rate)",
    ),
    "nhs_recovery_rate": (
        ["recovered", "finished", "not_at_caseness"],
        {"recovered": _COUNT, "finished": _COUNT, "not_at_caseness": _COUNT},
        "NHS TT recovery rate: recovered / (finished - not at caseness); table value (rate)",
    ),
    "odds_ratio": (
        ["events1", "n1", "events2", "n2"],
        {"events1": _COUNT, "n1": _COUNT, "events2": _COUNT, "n2": _COUNT, "conf_level": _CONF},
        "odds ratio with Woolf interval; table value (estimate, std_error, conf_low, conf_high)",
    ),
    "risk_ratio": (
        ["events1", "n1", "events2", "n2"],
        {"events1": _COUNT, "n1": _COUNT, "events2": _COUNT, "n2": _COUNT, "conf_level": _CONF},
        "risk ratio with log interval; table value",
    ),
    "risk_difference": (
        ["events1", "n1", "events2", "n2"],
        {"events1": _COUNT, "n1": _COUNT, "events2": _COUNT, "n2": _COUNT, "conf_level": _CONF},
        "risk difference with Newcombe interval; table value",
    ),
    "nnt_from_d": (
        ["d"],
        {"d": _NUM},
        "number needed to treat from a standardised mean difference; table value (nnt)",
    ),
}

#: step -> (required options, {option: schema}, one-line description)
STEPS: dict[str, tuple[list[str], dict, str]] = {
    "row_number": (
        ["column"],
        {"column": _STR, "start": {"type": "integer"}},
        "add a running row number (e.g. the subject id of a wide table)",
    ),
    "wide_to_long": (
        ["id", "columns", "names_to", "values_to"],
        {"id": _STRS, "columns": _STRS, "names_to": _STR, "values_to": _STR},
        "reshape repeated-measure columns to one row per measurement",
    ),
    "recode": (
        ["column", "map"],
        {
            "column": _STR,
            "map": {
                "type": "object",
                "minProperties": 1,
                "additionalProperties": {"type": ["number", "string", "boolean"]},
            },
            "to": _STR,
        },
        "map values (every value must be listed) into the same or a new column",
    ),  # fmt: skip
    "drop_missing": (
        ["columns"],
        {"columns": _STRS},
        "drop rows with a missing value in any of these columns",
    ),
    "levels": (
        ["column", "levels"],
        {"column": _STR, "levels": _STRS},
        "make a factor with these levels, the first the reference (every value must be one)",
    ),
    "astype": (
        ["column", "type"],
        {"column": _STR, "type": {"enum": ["str", "int", "float"]}},
        "convert a column's type",
    ),
}


def _branches(table: dict, key: str) -> list[dict]:
    out = []
    for name, (required, props, _doc) in table.items():
        out.append(
            {
                "if": {"properties": {key: {"const": name}}, "required": [key]},
                "then": {
                    "properties": {key: {"const": name}, **props},
                    "required": [key, *required],
                    "additionalProperties": False,
                },
            }
        )
    return out


_ANALYSIS_ITEM = {
    "type": "object",
    "properties": {"name": _NAME, "run": {"enum": list(ANALYSES)}},
    "required": ["name", "run"],
    # the per-run branch lists the allowed keys; "name" is allowed in every one
    "allOf": [
        {**b, "then": {**b["then"], "properties": {"name": _NAME, **b["then"]["properties"]}}}
        for b in _branches(ANALYSES, "run")
    ],
}
_STEP_ITEM = {
    "type": "object",
    "properties": {"step": {"enum": list(STEPS)}},
    "required": ["step"],
    "allOf": _branches(STEPS, "step"),
}
_NUMBER_ITEM = {
    "type": "object",
    "properties": {
        "quantity": _STR,
        "from": {"type": "string", "pattern": r"^[A-Za-z][A-Za-z0-9_]*\.[A-Za-z_]+$"},
        "where": {"type": "object", "additionalProperties": {"type": ["string", "number"]}},
        "column": _STR,
        "value": {"type": ["number", "string"]},
        "tolerance": TOLERANCE_SCHEMA,
        "note": {"type": "string"},
    },
    "required": ["quantity", "from", "column"],
    "additionalProperties": False,
}

SPEC_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "ipt_analytics reproduction spec",
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "properties": {
                "id": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_]*$"},
                "title": _STR,
                "origin": {"enum": ["published", "r-derived", "own"]},
            },
            "required": ["id", "title", "origin"],
            "additionalProperties": False,
        },
        "citation": {
            "type": "object",
            "properties": {
                "reference": _STR,
                "where": _STR,
                "url": _STR,
                "verified": _STR,
                "note": _STR,
            },
            "required": ["reference", "where"],
            "additionalProperties": False,
        },
        "data": {
            "type": "object",
            "properties": {
                "bundled": {"enum": ["btheb", "sleepstudy", "sample_sessions"]},
                "path": _STR,
                "reader": {"enum": ["table", "sessions"]},
                "columns": {"type": "object", "additionalProperties": _STR},
                "steps": {"type": "array", "items": _STEP_ITEM},
            },
            "oneOf": [{"required": ["bundled"]}, {"required": ["path"]}],
            "additionalProperties": False,
        },
        "defaults": {
            "type": "object",
            "properties": {"tolerance": TOLERANCE_SCHEMA},
            "additionalProperties": False,
        },
        "analysis": {"type": "array", "items": _ANALYSIS_ITEM, "minItems": 1},
        "numbers": {"type": "array", "items": _NUMBER_ITEM, "minItems": 1},
    },
    "required": ["spec", "citation", "analysis", "numbers"],
    "additionalProperties": False,
}
