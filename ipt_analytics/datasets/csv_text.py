"""The one CSV dialect of the committed sample files (byte-identical on every run)."""

from __future__ import annotations

import pandas as pd

__all__ = ["csv_text"]


def csv_text(frame: pd.DataFrame) -> str:
    """``frame`` as CSV text: no index, ``"\\n"`` line ends, ISO dates, 6 significant digits.

    Examples
    --------
    >>> import pandas as pd
    >>> csv_text(pd.DataFrame({"a": [1.23456789]}))
    'a\\n1.23457\\n'
    """
    return frame.to_csv(
        index=False, lineterminator="\n", date_format="%Y-%m-%d", float_format="%.6g"
    )
