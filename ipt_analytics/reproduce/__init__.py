"""Reproduce published tables: declared specs (TOML) checked by ``ipt-analytics reproduce``.

A spec names the data (a bundled data set or a file, column mapping, reshaping steps), the
analyses (toolkit calls), and the published numbers, each with its tolerance and the
citation. ``docs/reproduce.md`` is the reference; the shipped specs are in ``specs/``.

Modules: ``schema`` (the JSON Schema), ``spec`` (reading and checking a spec), ``data``
(loading and steps), ``runners`` (analysis name -> toolkit call -> tables), ``compare``
(tolerances), ``results`` (console, JSON, Markdown, JUnit), ``update`` (``--update``),
``command`` (the command).
"""

from __future__ import annotations

from ipt_analytics.reproduce.command import SPEC_DIR, reproduce, run_spec
from ipt_analytics.reproduce.compare import check
from ipt_analytics.reproduce.schema import SPEC_SCHEMA
from ipt_analytics.reproduce.spec import Spec, SpecError, find_specs, load_spec

__all__ = [
    "SPEC_DIR",
    "SPEC_SCHEMA",
    "Spec",
    "SpecError",
    "check",
    "find_specs",
    "load_spec",
    "reproduce",
    "run_spec",
]
