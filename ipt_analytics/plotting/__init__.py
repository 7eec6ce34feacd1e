"""Figures for IPT outcome data (the only part of the toolkit that imports matplotlib).

Every function takes a tidy table (the output of a computation elsewhere in the package),
draws on ``ax`` (a new figure's Axes when omitted) and returns the Axes; none calls
``plt.show()``. Colours come from the Okabe-Ito palette (:data:`OKABE_ITO`); axis labels
name the instrument and its range; legends give the number of episodes.

Families: trajectories (:func:`plot_observed_trajectories`,
:func:`plot_predicted_trajectories`), estimates (:func:`plot_marginal_means`,
:func:`plot_contrasts`), severity (:func:`plot_severity_shares`), episode outcomes
(:func:`plot_waterfall`, :func:`plot_reliable_change`), survival
(:func:`plot_kaplan_meier`), expected recovery (:func:`plot_expected_recovery`) and
process control (:func:`plot_p_chart`).
"""

from __future__ import annotations

from ipt_analytics.plotting._style import ALERT_COLOUR, GROUP_COLOURS, OKABE_ITO
from ipt_analytics.plotting.estimates import plot_contrasts, plot_marginal_means
from ipt_analytics.plotting.outcomes import plot_reliable_change, plot_waterfall
from ipt_analytics.plotting.recovery import plot_expected_recovery
from ipt_analytics.plotting.severity import plot_severity_shares
from ipt_analytics.plotting.spc import plot_p_chart, plot_run_chart
from ipt_analytics.plotting.survival import plot_kaplan_meier
from ipt_analytics.plotting.trajectories import (
    plot_observed_trajectories,
    plot_predicted_trajectories,
)

__all__ = [
    "OKABE_ITO",
    "GROUP_COLOURS",
    "ALERT_COLOUR",
    "plot_observed_trajectories",
    "plot_predicted_trajectories",
    "plot_marginal_means",
    "plot_contrasts",
    "plot_severity_shares",
    "plot_waterfall",
    "plot_reliable_change",
    "plot_kaplan_meier",
    "plot_expected_recovery",
    "plot_p_chart",
    "plot_run_chart",
]
