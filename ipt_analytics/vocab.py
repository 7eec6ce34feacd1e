"""Controlled vocabularies and their alias tables.

Labels are matched after folding: lower case, surrounding whitespace removed, and every run
of spaces, hyphens and underscores replaced by a single space (``"Face-to-Face"``,
``"face_to_face"`` and ``" face to  face "`` all fold to ``"face to face"``). A folded label
is then looked up in the alias table of its vocabulary. There is no fuzzy matching: a
label that is not in the table is rejected with the list of accepted labels.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

__all__ = [
    "MISSING_LABELS",
    "OPTIONAL_LABEL_COLUMNS",
    "VOCABULARIES",
    "accepted_labels",
    "alias_table",
    "fold_label",
    "lookup_label",
    "normalise_distinct",
    "normalise_labels",
]

# canonical value -> aliases (the canonical code itself is always accepted too)
VOCABULARIES: dict[str, dict[str, tuple[str, ...]]] = {
    "format": {
        "individual": (
            "in person",
            "in-person",
            "face to face",
            "face-to-face",
            "f2f",
            "individual ipt",
            "ipt individual",
            "one to one",
            "1:1",
        ),
        "group": ("group ipt", "ipt group", "ipt-g", "group therapy", "group session"),
        "telehealth": (
            "video",
            "video call",
            "videoconference",
            "video conference",
            "tele-health",
            "tele health",
            "telemedicine",
            "remote video",
        ),
        "telephone": ("phone", "telephone ipt", "tel", "by phone", "phone call"),
        "internet": (
            "online",
            "self-guided",
            "self guided",
            "internet ipt",
            "web",
            "web-based",
            "iipt",
        ),
    },
    "problem_area": {
        "grief": ("bereavement", "complicated bereavement", "complicated grief"),
        "role_dispute": (
            "role dispute",
            "interpersonal dispute",
            "interpersonal disputes",
            "interpersonal role dispute",
            "disputes",
            "dispute",
        ),
        "role_transition": (
            "role transition",
            "role transitions",
            "life transition",
            "life transitions",
            "life changes",
            "life change",
            "transition",
        ),
        "interpersonal_deficits": (
            "interpersonal deficits",
            "interpersonal deficit",
            "social isolation",
            "interpersonal sensitivity",
            "loneliness",
            "loneliness/social isolation",
        ),
    },
    "instrument": {
        "phq9": ("phq-9", "phq 9", "phq_9"),
        "gad7": ("gad-7", "gad 7", "gad_7"),
        # bare "QIDS" is deliberately absent: it could be the clinician-rated QIDS-C16
        # "QIDS-SR" is the self-report form, which has 16 items: it is the QIDS-SR16
        "qids_sr16": (
            "qids-sr16",
            "qids sr16",
            "qids-sr-16",
            "qids sr 16",
            "qidssr16",
            "qids-sr",
            "qidssr",
        ),
        "cudos": ("cudos",),
    },
    "end_reason": {
        "completed": ("complete", "completed treatment", "finished", "finished treatment"),
        "dropout": ("drop out", "drop-out", "dropped out", "dropped", "drop"),
        "referred_on": ("referred on", "referred", "onward referral", "referred elsewhere"),
        "ongoing": ("in treatment", "open", "active", "continuing"),
    },
    "contact_type": {
        "treatment": ("treatment contact", "therapy", "attended"),
        "assessment": ("assessment contact", "initial assessment"),
        "not_attended": ("dna", "did not attend", "not attended", "no show", "missed"),
    },
    "boolean": {
        "true": ("yes", "y", "1", "t", "true"),
        "false": ("no", "n", "0", "f", "false"),
    },
}

#: Labels that say a value is not known; read as missing in optional columns
#: (:data:`OPTIONAL_LABEL_COLUMNS`), where a blank is allowed anyway.
MISSING_LABELS: tuple[str, ...] = ("unknown", "not known", "unk", "n/a", "missing", "not recorded")
#: Label columns that may be missing (a required column must be filled in).
OPTIONAL_LABEL_COLUMNS = (
    "problem_area",
    "secondary_problem_area",
    "end_reason",
    "medication",
    "contact_type",
)

# which input columns are checked against which vocabulary
COLUMN_VOCABULARY: dict[str, str] = {
    "format": "format",
    "problem_area": "problem_area",
    "secondary_problem_area": "problem_area",
    "instrument": "instrument",
    "end_reason": "end_reason",
    "medication": "boolean",
    "contact_type": "contact_type",
}

_SEPARATORS = re.compile(r"[\s_\-]+")


def fold_label(label: str) -> str:
    """Fold a label for matching: lower case, trimmed, separators collapsed to one space.

    Examples
    --------
    >>> fold_label("  Face-to_Face ")
    'face to face'
    """
    return _SEPARATORS.sub(" ", str(label).strip().lower()).strip()


def _lookup(vocabulary: str) -> dict[str, str]:
    if vocabulary not in VOCABULARIES:
        raise ValueError(
            f"vocabulary={vocabulary!r} is unknown. Accepted: {', '.join(VOCABULARIES)}."
        )
    table: dict[str, str] = {}
    for canonical, aliases in VOCABULARIES[vocabulary].items():
        for alias in (canonical, *aliases):
            table[fold_label(alias)] = canonical
    return table


_LOOKUPS = {name: _lookup(name) for name in VOCABULARIES}


def accepted_labels(vocabulary: str) -> list[str]:
    """Canonical values of a vocabulary.

    Examples
    --------
    >>> accepted_labels("end_reason")
    ['completed', 'dropout', 'referred_on', 'ongoing']
    """
    _lookup(vocabulary)
    return list(VOCABULARIES[vocabulary])


def lookup_label(label: str, vocabulary: str) -> str | None:
    """Canonical value of one label, or ``None`` if it matches nothing.

    Examples
    --------
    >>> lookup_label("Tele-Health", "format")
    'telehealth'
    >>> lookup_label("blended", "format") is None
    True
    """
    _lookup(vocabulary)
    return _LOOKUPS[vocabulary].get(fold_label(label))


def normalise_labels(
    values: pd.Series, vocabulary: str, *, missing_labels: tuple[str, ...] = ()
) -> tuple[pd.Series, pd.Series]:
    """Map a column of labels to canonical values.

    Parameters
    ----------
    values : Series of str
        Raw labels; blank strings and missing values count as missing, not as errors.
    vocabulary : str
        Name of a vocabulary in :data:`VOCABULARIES`.
    missing_labels : tuple of str, optional
        Labels read as missing rather than rejected (e.g. :data:`MISSING_LABELS` for an
        optional column).

    Returns
    -------
    canonical : Series
        Canonical values (missing where blank or unknown).
    unknown : Series of bool
        True where a non-blank label matched nothing.

    Examples
    --------
    >>> canon, bad = normalise_labels(pd.Series(["Video", "", "hybrid"]), "format")
    >>> canon.tolist()[0], bad.tolist()
    ('telehealth', [False, False, True])
    >>> canon, bad = normalise_labels(pd.Series(["Y", "Unknown"]), "boolean",
    ...                               missing_labels=MISSING_LABELS)
    >>> canon.isna().tolist(), bad.tolist()
    ([False, True], [False, False])
    """
    # fold the distinct labels only, then spread back (columns hold few distinct labels)
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    canon, bad = normalise_distinct(uniques, vocabulary, missing_labels=missing_labels)
    # spread back through codes into the distinct canonical values, so that no Python string
    # is made per row
    known = pd.Series(canon, dtype=object).notna().to_numpy()
    canon_codes, canon_values = pd.factorize(pd.Series(canon[known], dtype=object))
    per_unique = np.full(len(uniques), -1, dtype=np.int64)
    per_unique[known] = canon_codes
    cats = pd.Index(np.asarray(canon_values, dtype=object), dtype="str")
    mapped = pd.Series(
        pd.Categorical.from_codes(per_unique[codes] if len(codes) else [], categories=cats),
        index=values.index,
    ).astype("str")
    return mapped, pd.Series(bad[codes] if len(codes) else [], index=values.index, dtype=bool)


def normalise_distinct(
    labels, vocabulary: str, *, missing_labels: tuple[str, ...] = ()
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`normalise_labels` of distinct labels, as arrays (canonical or NaN, unknown).

    Examples
    --------
    >>> canon, bad = normalise_distinct(["F2F", "", "blended"], "format")
    >>> canon.tolist(), bad.tolist()
    (['individual', nan, nan], [False, False, True])
    """
    _lookup(vocabulary)
    table = _LOOKUPS[vocabulary]
    missing = {fold_label(m) for m in missing_labels}
    canon = np.empty(len(labels), dtype=object)
    bad = np.zeros(len(labels), dtype=bool)
    for k, label in enumerate(labels):
        blank = label is None or (isinstance(label, float) and np.isnan(label))
        blank = blank or str(label).strip() == "" or fold_label(label) in missing
        canon[k] = np.nan if blank else table.get(fold_label(label), np.nan)
        bad[k] = not blank and canon[k] is np.nan
    return canon, bad


def alias_table() -> pd.DataFrame:
    """Every accepted label, as a tidy table for documentation.

    Returns
    -------
    DataFrame
        Columns ``vocabulary, alias, canonical``; the canonical code itself is listed as an
        alias of itself.

    Examples
    --------
    >>> tab = alias_table()
    >>> tab.loc[tab["alias"] == "bereavement", "canonical"].item()
    'grief'
    """
    rows = []
    for vocabulary, entries in VOCABULARIES.items():
        for canonical, aliases in entries.items():
            seen = []
            for alias in (canonical, *aliases):
                if alias not in seen:
                    seen.append(alias)
                    rows.append((vocabulary, alias, canonical))
    return pd.DataFrame(rows, columns=["vocabulary", "alias", "canonical"])
