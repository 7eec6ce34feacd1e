"""Palette, labels and small drawing helpers shared by every plotting module."""

from __future__ import annotations

from collections.abc import Iterable

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.ticker import MaxNLocator

from ipt_analytics.instruments.table import get_instrument

#: Okabe & Ito (2008) colour-universal-design palette, by name.
OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
}

#: Colours given to groups, in order. Vermillion is kept for alerts (out of control,
#: not on track) and yellow comes late because it is faint on white.
GROUP_COLOURS = tuple(
    OKABE_ITO[name]
    for name in ("blue", "orange", "bluish_green", "reddish_purple", "sky_blue", "black", "yellow")
)

ALERT_COLOUR = OKABE_ITO["vermillion"]
#: Style of a point that needs attention (out of control, not on track, a signal): a filled
#: vermillion circle with a black edge; each chart sets its own size and layer.
ALERT_MARKER = {"linestyle": "none", "marker": "o", "color": ALERT_COLOUR,
                "markeredgecolor": "black"}  # fmt: skip
#: Colour of individual client lines and other background context.
CONTEXT_GREY = "#8C8C8C"

_TIME_LABELS = {"session": "Session", "week": "Week of treatment"}


def get_ax(ax: Axes | None) -> Axes:
    """The given Axes, or a new figure's Axes."""
    if ax is None:
        _, ax = plt.subplots()
    return ax


def instrument_label(instrument: str | None, prefix: str = "") -> str:
    """Axis label naming the instrument and its range, e.g. ``"PHQ-9 total (0-27)"``."""
    if instrument is None:
        return (prefix + " score").strip().capitalize()
    inst = get_instrument(instrument)
    text = f"{inst.label} total ({inst.total_min}-{inst.total_max})"
    return f"{prefix} {text}".strip() if prefix else text


def difference_label(instrument: str | None) -> str:
    """Axis label of a difference in totals, e.g. ``"Difference in PHQ-9 total (points)"``."""
    if instrument is None:
        return "Estimate"
    return f"Difference in {get_instrument(instrument).label} total (points)"


def time_label(time: str) -> str:
    """Axis label of a time column (``session`` or ``week``)."""
    if time not in _TIME_LABELS:
        raise ValueError(f"time={time!r} is not allowed; use 'session' or 'week'.")
    return _TIME_LABELS[time]


def band_label(label: str) -> str:
    """Display text of a severity band code (``moderately_severe`` -> ``moderately severe``)."""
    if label == "none_minimal":
        return "none/minimal"
    return str(label).replace("_", " ")


def n_label(name, n) -> str:
    """Legend text with the number of episodes, e.g. ``"telehealth (n = 212)"``."""
    if n is None or (isinstance(n, float) and np.isnan(n)):
        return str(name)
    return f"{name} (n = {int(n):,})"


def group_colours(groups: Iterable) -> dict:
    """Colour per group, assigned in the given order from :data:`GROUP_COLOURS`."""
    groups = list(groups)
    return {g: GROUP_COLOURS[i % len(GROUP_COLOURS)] for i, g in enumerate(groups)}


def ordered_groups(values: pd.Series) -> list:
    """Distinct groups: category order for a categorical, sorted order otherwise."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        present = set(values.dropna())
        return [c for c in values.cat.categories if c in present]
    distinct = list(pd.unique(values.dropna()))
    try:
        return sorted(distinct)
    except TypeError:  # mixed types: fall back to text order
        return sorted(distinct, key=str)


def integer_ticks(ax: Axes) -> None:
    """Whole-number ticks on the x axis (sessions and weeks)."""
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def legend_outside(ax: Axes, **kwargs):
    """Legend to the right of the axes, so it never hides data."""
    options = {
        "loc": "upper left",
        "bbox_to_anchor": (1.02, 1.0),
        "fontsize": "small",
        "title_fontsize": "small",
        "frameon": False,
        "alignment": "left",
    }
    options.update(kwargs)
    return ax.legend(**options)


def subtitle(ax: Axes, text: str):
    """Small text just above the axes, left-aligned (gid ``"subtitle"``): what a figure's
    numbers are (time point, adjustment). A title set afterwards needs ``pad=18`` or more
    to sit above it."""
    return ax.text(0.0, 1.02, text, transform=ax.transAxes, fontsize="small", va="bottom",
                   ha="left", gid="subtitle")  # fmt: skip


def legend_below(ax: Axes, **kwargs):
    """Legend centred under the axes, a fixed 0.6 inch below them (clear of the tick labels
    and the axis label whatever the figure size), so it never covers a title."""
    from matplotlib.transforms import ScaledTranslation

    offset = ScaledTranslation(0, -0.6, ax.figure.dpi_scale_trans)
    options = {
        "loc": "upper center",
        "bbox_to_anchor": (0.5, 0.0),
        "bbox_transform": ax.transAxes + offset,
        "fontsize": "small",
        "frameon": False,
    }
    options.update(kwargs)
    return ax.legend(**options)


def require(data: pd.DataFrame, columns: Iterable[str], caller: str) -> None:
    """Raise a ValueError naming the missing columns and the ones present."""
    if not isinstance(data, pd.DataFrame):
        raise ValueError(
            f"{caller}(): data must be a pandas DataFrame (a tidy table), got "
            f"{type(data).__name__}."
        )
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise ValueError(
            f"{caller}(): data has no column(s) {', '.join(map(repr, missing))}; available: "
            f"{', '.join(map(str, data.columns))}. Fix: pass the tidy table described in "
            f"the docstring of {caller}."
        )


def mark_fit_problems(ax: Axes, table: pd.DataFrame) -> None:
    """Write a visible alert on the Axes when ``table`` comes from a non-converged fit.

    Tables made by the trajectory layer carry ``attrs["fit_converged"]`` (see
    :mod:`ipt_analytics.models.provenance`); a figure of such numbers must say so.
    """
    if table.attrs.get("fit_converged", True):
        return
    ax.text(
        0.5,
        0.98,
        "MODEL DID NOT CONVERGE: these estimates are not reliable",
        transform=ax.transAxes,
        ha="center",
        va="top",
        color=ALERT_COLOUR,
        fontweight="bold",
        gid="fit-problem-alert",
    )
