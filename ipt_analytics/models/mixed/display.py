"""Text and HTML renderings of a :class:`MixedResult` (display only; rounds numbers)."""

from __future__ import annotations

import html

import pandas as pd

__all__ = ["text_report", "html_report"]

_DF_LABELS = {
    "satterthwaite": "t with Satterthwaite df",
    "kenward-roger": "t with Kenward-Roger df and adjusted SEs",
}


def _header(res) -> list:
    engine = (
        "statsmodels MixedLM, checked with the exact profiled deviance"
        if res.engine == "statsmodels"
        else "ipt_analytics exact profiled deviance (lme4 formulation)"
    )
    return [
        f"Linear mixed model fitted by {'REML' if res.reml else 'maximum likelihood'}",
        f"Engine: {engine}; optimiser: {res.optimizer} ({len(res.optinfo)} optimiser steps)",
        f"Model: {res.model_label}",
        f"Observations: {res.nobs}; groups: "
        + ", ".join(f"{k} {v}" for k, v in res.ngroups.items()),
        f"{'REML criterion' if res.reml else 'Deviance'}: {res.deviance:.4f}; "
        f"logLik: {res.loglik:.4f}; AIC: {res.aic:.4f}; BIC: {res.bic:.4f}",
        "Fixed-effect tests: " + _DF_LABELS.get(res.df_method, "Wald z"),
    ]


def _vc_display(res) -> pd.DataFrame:
    out = res.variance_components.copy()
    out["term1"] = out["term1"].fillna("")
    out["term2"] = out["term2"].fillna("")
    return out


def text_report(res, decimals: int = 3) -> str:
    lines = []
    if res.warnings:
        bar = "!" * 78
        lines += [bar, "WARNING: this fit has problems; do not report it as is."]
        lines += [f"- {w}" for w in res.warnings] + [bar]
    lines += _header(res)
    fmt = f"{{:.{decimals}f}}".format
    lines += ["", "Random effects:", _vc_display(res).to_string(index=False, float_format=fmt)]
    lines += ["", "Fixed effects:", res.fixed.to_string(index=False, float_format=fmt)]
    return "\n".join(lines)


def html_report(res, decimals: int = 3) -> str:
    parts = []
    if res.warnings:
        items = "".join(f"<li>{html.escape(w)}</li>" for w in res.warnings)
        parts.append(
            '<div style="border:2px solid #b30000;background:#fff0f0;padding:6px;'
            'margin-bottom:6px"><strong>Warning: this fit has problems; do not report it '
            f"as is.</strong><ul>{items}</ul></div>"
        )
    parts.append("<p>" + "<br>".join(html.escape(h) for h in _header(res)) + "</p>")
    fmt = f"{{:.{decimals}f}}".format
    parts.append("<h4>Random effects</h4>")
    parts.append(_vc_display(res).to_html(index=False, float_format=fmt, na_rep=""))
    parts.append("<h4>Fixed effects</h4>")
    parts.append(res.fixed.to_html(index=False, float_format=fmt))
    return "\n".join(parts)
