"""Alias tables: docs/data-contract.md aliases, folding rules, and rejection of unknown labels."""

import pandas as pd
import pytest

from ipt_analytics.vocab import (
    MISSING_LABELS,
    VOCABULARIES,
    accepted_labels,
    alias_table,
    fold_label,
    lookup_label,
    normalise_labels,
)

DESIGN_ALIASES = [
    ("format", "in-person", "individual"),
    ("format", "face-to-face", "individual"),
    ("format", "video", "telehealth"),
    ("format", "tele-health", "telehealth"),
    ("format", "phone", "telephone"),
    ("format", "online", "internet"),
    ("format", "self-guided", "internet"),
    ("format", "group ipt", "group"),
    ("problem_area", "bereavement", "grief"),
    ("problem_area", "interpersonal dispute", "role_dispute"),
    ("problem_area", "life transition", "role_transition"),
    ("problem_area", "social isolation", "interpersonal_deficits"),
    ("problem_area", "interpersonal sensitivity", "interpersonal_deficits"),
    ("instrument", "PHQ-9", "phq9"),
    ("instrument", "QIDS-SR16", "qids_sr16"),
    ("end_reason", "drop-out", "dropout"),
    ("end_reason", "referred on", "referred_on"),
]


@pytest.mark.parametrize(("vocabulary", "label", "canonical"), DESIGN_ALIASES)
def test_design_aliases(vocabulary, label, canonical):
    assert lookup_label(label, vocabulary) == canonical


@pytest.mark.parametrize(
    "label", ["Face-To-Face", " face to face ", "FACE_TO_FACE", "face  -  to_face"]
)
def test_case_whitespace_hyphen_underscore_folding(label):
    assert lookup_label(label, "format") == "individual"


@pytest.mark.parametrize(
    ("label", "value"),
    [
        ("yes", "true"),
        ("Y", "true"),
        ("1", "true"),
        ("TRUE", "true"),
        ("True", "true"),
        ("no", "false"),
        ("n", "false"),
        ("0", "false"),
        ("False", "false"),
    ],
)
def test_booleans(label, value):
    assert lookup_label(label, "boolean") == value


@pytest.mark.parametrize(
    ("vocabulary", "label"),
    [
        ("format", "blended"),
        ("format", "vid"),
        ("problem_area", "griefs"),
        ("instrument", "qids"),
        ("boolean", "maybe"),
        ("end_reason", "lost"),
    ],
)
def test_unknown_labels_are_not_guessed(vocabulary, label):
    assert lookup_label(label, vocabulary) is None


def test_every_canonical_code_matches_itself():
    for vocabulary, entries in VOCABULARIES.items():
        for canonical in entries:
            assert lookup_label(canonical, vocabulary) == canonical


def test_no_folded_alias_points_to_two_values():
    tab = alias_table()
    tab["folded"] = tab["alias"].map(fold_label)
    per = tab.groupby(["vocabulary", "folded"])["canonical"].nunique()
    assert (per == 1).all()


def test_normalise_labels_vectorised():
    values = pd.Series(["Video", "", "hybrid", None, "phone"])
    canon, unknown = normalise_labels(values, "format")
    assert canon.iloc[0] == "telehealth" and canon.iloc[4] == "telephone"
    assert canon.iloc[[1, 2, 3]].isna().all()
    assert unknown.tolist() == [False, False, True, False, False]


def test_alias_table_and_accepted_labels():
    tab = alias_table()
    assert list(tab.columns) == ["vocabulary", "alias", "canonical"]
    assert set(tab["vocabulary"]) == set(VOCABULARIES)
    assert accepted_labels("format") == [
        "individual",
        "group",
        "telehealth",
        "telephone",
        "internet",
    ]
    assert accepted_labels("problem_area") == [
        "grief",
        "role_dispute",
        "role_transition",
        "interpersonal_deficits",
    ]
    with pytest.raises(ValueError, match="vocabulary='colour'"):
        accepted_labels("colour")


@pytest.mark.parametrize("label", ["QIDS-SR", "qids sr", "QIDS-SR16", "QIDSSR"])
def test_qids_sr_is_the_qids_sr16(label):
    assert lookup_label(label, "instrument") == "qids_sr16"


def test_bare_qids_stays_unknown():
    assert lookup_label("QIDS", "instrument") is None


def test_missing_labels_only_when_asked():
    values = pd.Series(["unknown", "Y"])
    canon, bad = normalise_labels(values, "boolean")
    assert bad.tolist() == [True, False]
    canon, bad = normalise_labels(values, "boolean", missing_labels=MISSING_LABELS)
    assert bad.tolist() == [False, False]
    assert canon.isna().tolist() == [True, False]
