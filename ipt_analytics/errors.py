"""Exception and warning classes shared by every part of the toolkit."""

from __future__ import annotations

__all__ = ["SchemaError", "IptWarning", "FitWarning", "DataWarning"]


class SchemaError(ValueError):
    """Input data that does not meet the data contract.

    Raised by :func:`ipt_analytics.read_sessions` with ``on_error="raise"``. The
    message lists the first problems with source row, column, value, reason and
    the fix; the full table of problems is on ``.problems`` (a DataFrame with
    columns ``source_row, column, value, reason, message``).

    Examples
    --------
    >>> err = SchemaError("read_sessions(): 1 problem")
    >>> isinstance(err, ValueError)
    True
    """

    def __init__(self, message: str, problems=None):
        super().__init__(message)
        self.problems = problems


class IptWarning(UserWarning):
    """Base class of every warning the toolkit emits."""


class FitWarning(IptWarning):
    """A model fit has a problem (no convergence, singular fit, boundary estimate)."""


class DataWarning(IptWarning):
    """Input data were usable but something about them deserves attention."""
