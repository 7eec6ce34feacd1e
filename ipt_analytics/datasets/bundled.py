"""Where the bundled synthetic sample is: the repository's copy, or a fresh identical one.

``ipt-analytics report`` with no data file reports on the sample. A checkout (or an editable
install) has ``data/sample/sessions.csv``; an installed wheel does not ship it, so the file is
regenerated from the synthetic generator, which writes it byte-identically
(:func:`ipt_analytics.datasets.sample_files.write_sample`), into a temporary folder.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

__all__ = ["sample_sessions_path"]

_RELATIVE = Path("data") / "sample" / "sessions.csv"


def sample_sessions_path() -> Path:
    """Path of the sample ``sessions.csv`` (the checkout, the current folder, or regenerated).

    Examples
    --------
    >>> sample_sessions_path().name
    'sessions.csv'
    """
    for root in (Path(__file__).resolve().parents[2], Path.cwd()):
        if (root / _RELATIVE).is_file():
            return root / _RELATIVE
    from ipt_analytics.datasets.sample_files import write_sample

    return write_sample(tempfile.mkdtemp(prefix="ipt_sample_"))["sessions.csv"]
