"""Time to first response / first remission, with a censoring flag.

Time is measured in weeks from the baseline rating (``week`` of the rating minus ``week`` of
the baseline). The event time is that of the first post-baseline rating meeting the rule
(response: >= 50% reduction from baseline, Trivedi 2006; remission: the instrument's cut-off).
Without such a rating the episode is censored (event False) at its last rating. Without any
post-baseline rating both time and event are NA (the episode adds no follow-up time).
"""

from __future__ import annotations

import numpy as np

__all__ = ["first_event_time"]


def first_event_time(times, met):
    """Time of the first post-baseline rating with ``met`` True, or censoring time.

    Parameters
    ----------
    times : numpy.ndarray
        Weeks of one episode's ratings, baseline first.
    met : numpy.ndarray of bool
        Whether each rating meets the rule (the baseline entry is ignored).

    Returns
    -------
    (time, event) : (float, bool) or (nan, None)

    Examples
    --------
    >>> first_event_time(np.array([0., 1., 2., 3.]), np.array([False, False, True, True]))
    (2.0, True)
    >>> first_event_time(np.array([0., 1.5]), np.array([False, False]))
    (1.5, False)
    """
    if times.size < 2:
        return float("nan"), None
    hits = np.flatnonzero(np.asarray(met, dtype=bool)[1:]) + 1
    if hits.size:
        return float(times[hits[0]] - times[0]), True
    return float(times[-1] - times[0]), False
