"""Expected-recovery band with one client's scores ("not on track" feedback chart)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from ipt_analytics.instruments.table import get_instrument
from ipt_analytics.plotting._style import (
    ALERT_MARKER,
    OKABE_ITO,
    get_ax,
    instrument_label,
    integer_ticks,
    legend_outside,
    mark_fit_problems,
    require,
    time_label,
)

__all__ = ["plot_expected_recovery", "BAND_COLUMNS"]

#: Columns of an expected-recovery band table (besides the time column).
BAND_COLUMNS = ("expected", "lower_80", "upper_80", "lower_90", "upper_90")


def plot_expected_recovery(
    bands: pd.DataFrame,
    *,
    client: pd.DataFrame | None = None,
    instrument: str = "phq9",
    time: str = "session",
    flag_level: int = 90,
    client_label: str = "this client",
    ax: Axes | None = None,
    **kwargs,
) -> Axes:
    """Expected recovery with 80% and 90% bands, and one client's scores against them.

    Band table format (what :mod:`ipt_analytics.models.recovery` returns and this function
    reads): one row per time point with columns

    - ``session`` (int) or ``week`` (float): the time point, named by ``time``;
    - ``expected``: expected score at that time for a client like this one;
    - ``lower_80``, ``upper_80``: limits within which 80% of similar clients' scores lie;
    - ``lower_90``, ``upper_90``: the same for 90%.

    Client scores above the upper limit of the ``flag_level`` band are drawn in vermillion
    and named "not on track" in the legend (higher scores are worse). If ``client`` has a
    boolean ``not_on_track`` column, that flag is drawn as given instead.

    Parameters
    ----------
    bands : DataFrame
        Band table, as above.
    client : DataFrame, optional
        The client's ratings: the ``time`` column and ``total`` (e.g. the sessions rows of
        one episode and instrument).
    instrument : str, default "phq9"
    time : {"session", "week"}, default "session"
    flag_level : {80, 90}, default 90
        Band whose upper limit defines "not on track" when ``client`` has no flag column.
        Between band time points the limit is interpolated linearly.
    client_label : str, default "this client"
        Legend text of the client's line (never put a client identifier in a shared figure).
    ax : matplotlib Axes, optional
    **kwargs
        Passed to the client's line.

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import pandas as pd
    >>> b = pd.DataFrame({"session": [1, 2, 3], "expected": [18.0, 16.0, 14.0],
    ...                   "lower_80": [15.0, 12.0, 10.0], "upper_80": [21.0, 20.0, 18.0],
    ...                   "lower_90": [14.0, 11.0, 9.0], "upper_90": [22.0, 21.0, 19.0]})
    >>> c = pd.DataFrame({"session": [1, 2, 3], "total": [18.0, 19.0, 20.0]})
    >>> ax = plot_expected_recovery(b, client=c)
    >>> [l.get_gid() for l in ax.lines]
    ['expected', 'client', 'not_on_track']
    >>> ax.lines[2].get_xydata().tolist()
    [[3.0, 20.0]]
    """
    caller = "plot_expected_recovery"
    require(bands, [time, *BAND_COLUMNS], caller)
    if flag_level not in (80, 90):
        raise ValueError(f"{caller}(): flag_level={flag_level!r} is not allowed; use 80 or 90.")
    ax = get_ax(ax)
    b = bands.sort_values(time)
    x = b[time].to_numpy(dtype=float)
    band_colour = OKABE_ITO["sky_blue"]
    ax.fill_between(
        x,
        b["lower_90"].to_numpy(dtype=float),
        b["upper_90"].to_numpy(dtype=float),
        color=band_colour,
        alpha=0.22,
        linewidth=0,
        gid="band_90",
    )
    ax.fill_between(
        x,
        b["lower_80"].to_numpy(dtype=float),
        b["upper_80"].to_numpy(dtype=float),
        color=band_colour,
        alpha=0.45,
        linewidth=0,
        gid="band_80",
    )
    ax.plot(
        x,
        b["expected"].to_numpy(dtype=float),
        color=OKABE_ITO["blue"],
        linestyle="--",
        linewidth=1.5,
        gid="expected",
    )
    handles = [
        Line2D(
            [],
            [],
            color=OKABE_ITO["blue"],
            linestyle="--",
            linewidth=1.5,
            label="expected recovery",
        ),
        Patch(color=band_colour, alpha=0.45, label="80% of similar clients"),
        Patch(color=band_colour, alpha=0.22, label="90% of similar clients"),
    ]
    if client is not None:
        require(client, [time, "total"], caller)
        c = client.loc[client["total"].notna()].sort_values(time)
        cx = c[time].to_numpy(dtype=float)
        cy = c["total"].to_numpy(dtype=float)
        if "not_on_track" in c.columns:
            flagged = c["not_on_track"].fillna(False).astype(bool).to_numpy()
        else:
            limit = np.interp(
                cx, x, b[f"upper_{flag_level}"].to_numpy(dtype=float), left=np.nan, right=np.nan
            )
            flagged = cy > limit
        style = {"color": "black", "linewidth": 1.5, "marker": "o", "markersize": 5}
        style.update(kwargs)
        ax.plot(cx, cy, gid="client", zorder=3, **style)
        handles.append(Line2D([], [], label=client_label, **style))
        if flagged.any():
            ax.plot(cx[flagged], cy[flagged], markersize=9, zorder=4, gid="not_on_track",
                    **ALERT_MARKER)  # fmt: skip
            what = "flagged" if "not_on_track" in c.columns else f"above the {flag_level}% band"
            handles.append(
                Line2D([], [], markersize=9, label=f"not on track ({what})", **ALERT_MARKER)
            )
    inst = get_instrument(instrument)
    # bands from a normal approximation can run past the scale; the scale is what is real
    ax.set_ylim(inst.total_min - 0.5, inst.total_max + 0.5)
    ax.set_xlabel(time_label(time))
    ax.set_ylabel(instrument_label(instrument))
    legend_outside(ax, handles=handles)
    integer_ticks(ax)
    mark_fit_problems(ax, bands)
    return ax
