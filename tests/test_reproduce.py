"""``ipt-analytics reproduce``: the shipped specs reproduce, and failures fail loudly.

The published numbers are the independent reference: each shipped spec holds the digits
printed in its cited publication (or, for ``origin = "r-derived"``, R's output). The own
specs of the sample cohort pin the toolkit's current output so that drift fails CI.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest

from ipt_analytics.cli import main
from ipt_analytics.datasets.public import dataset_path, load_dataset
from ipt_analytics.reproduce import SPEC_DIR, SPEC_SCHEMA, SpecError, check, load_spec
from ipt_analytics.reproduce.data import load_data
from ipt_analytics.reproduce.update import rewrite_values

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
SPECS = sorted(SPEC_DIR.glob("*.toml"))
NNT = SPEC_DIR / "cuijpers_2011_nnt.toml"


def n_numbers(path: Path) -> int:
    return len(tomllib.loads(path.read_text(encoding="utf-8"))["numbers"])


def write_spec(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


# -- CI: every shipped spec ----------------------------------------------------------------
def test_every_shipped_spec_reproduces(tmp_path, capsys):
    junit = tmp_path / "junit.xml"
    code = main(["reproduce", str(SPEC_DIR), "--out", str(tmp_path), "--junit", str(junit)])
    out = capsys.readouterr().out
    assert code == 0, out
    total = sum(n_numbers(p) for p in SPECS)
    assert f"{len(SPECS)} specs, {total} numbers: {total} reproduced, 0 mismatched" in out
    root = ET.parse(junit).getroot()
    assert root.get("tests") == str(total) and root.get("failures") == "0"
    assert len(root.findall("./testsuite/testcase")) == total
    doc = json.loads((tmp_path / "reproduce.json").read_text())
    assert {s["spec_id"] for s in doc["specs"]} == {load_spec(p).id for p in SPECS}
    assert all(s["status"] == "pass" for s in doc["specs"])
    assert (
        "| quantity | published | reproduced | tolerance | result |"
        in (tmp_path / "reproduce.md").read_text()
    )


def test_shipped_specs_cover_the_published_tables():
    origins = {load_spec(p).id: load_spec(p).origin for p in SPECS}
    published = {k for k, v in origins.items() if v == "published"}
    assert published == {
        "hsaur3_btheb_lmer",
        "hsaur1_btheb_lmer",
        "bates_2015_sleepstudy",
        "nhs_digital_2020_06",
        "nhs_digital_2020_12",
        "nhs_england_2025_04",
        "hscic_2014_15",
        "dennis_2020_telephone_ipt",
        "cuijpers_2011_nnt",
    }
    assert origins["btheb_lmer2_lme4"] == "r-derived"
    own = {k for k, v in origins.items() if v == "own"}
    assert own == {"sample_table1_baseline", "sample_table2_trajectory", "sample_table3_outcomes"}


@pytest.mark.parametrize("path", SPECS, ids=[p.stem for p in SPECS])
def test_shipped_spec_is_valid_and_complete(path):
    doc = tomllib.loads(path.read_text(encoding="utf-8"))
    jsonschema.validate(doc, SPEC_SCHEMA)
    assert all("value" in n for n in doc["numbers"])
    if doc["spec"]["origin"] == "published":
        # printed digits: every published number is compared as printed or states why not
        default = doc.get("defaults", {}).get("tolerance")
        for n in doc["numbers"]:
            if n.get("tolerance", default) == "as printed":
                assert isinstance(n["value"], str)


def test_schema_is_a_valid_json_schema():
    jsonschema.Draft202012Validator.check_schema(SPEC_SCHEMA)


# -- exit codes, messages, JUnit -----------------------------------------------------------
def test_mismatch_exits_1_and_junit_has_one_failure(tmp_path, capsys):
    text = NNT.read_text().replace('value = "2.91"', 'value = "2.92"')
    spec = write_spec(tmp_path, "drifted.toml", text)
    junit = tmp_path / "j.xml"
    assert main(["reproduce", str(spec), "--out", str(tmp_path), "--junit", str(junit)]) == 1
    out = capsys.readouterr().out
    assert "2.92" in out and "FAIL" in out and "1 mismatched" in out
    case = ET.parse(junit).getroot().find("./testsuite/testcase")
    assert case.get("name") == "NNT for d = 0.63"
    assert "reproduced 2.91" in case.find("failure").get("message")


@pytest.mark.parametrize(
    ("old", "new", "key", "fix"),
    [
        ("d = 0.63", "dd = 0.63", "analysis[0].dd", "allowed keys: d, name, run"),
        ('value = "2.91"', "value = 2.91", "numbers[0].value", 'value = "2.91"'),
        ('run = "nnt_from_d"', 'run = "nnt"', "analysis[0].run", "nnt_from_d"),
        ('column = "nnt"', 'column = "estimate"', "numbers[0].column", "use one of: nnt"),
        ('from = "nnt.value"', 'from = "nnx.value"', "numbers[0].from", "use one of: nnt"),
        ('tolerance = "as printed"', 'tolerance = "exact"', "defaults.tolerance", "rel = 1e-4"),
        ('origin = "published"', 'origin = "mine"', "spec.origin", "published, r-derived, own"),
        ('origin = "published"', 'origin = "own"', "numbers[0].tolerance", "rel = 1e-6"),
        ("d = 0.63", "d = 0.63 x", "(TOML)", "fix the syntax"),
    ],
)
def test_broken_spec_exits_2_naming_spec_key_and_fix(tmp_path, capsys, old, new, key, fix):
    spec = write_spec(tmp_path, "broken.toml", NNT.read_text().replace(old, new))
    assert main(["reproduce", str(spec), str(NNT), "--out", str(tmp_path)]) == 2
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if "BROKEN SPEC" in x)
    assert str(spec) in line and f": {key}: " in line and "Fix:" in line and fix in line
    assert "1 of 1 numbers reproduced" in out  # the other spec still ran


def test_broken_spec_is_a_junit_error(tmp_path):
    spec = write_spec(tmp_path, "b.toml", NNT.read_text().replace("d = 0.63", "dd = 0.63"))
    junit = tmp_path / "j.xml"
    assert main(["reproduce", str(spec), "--out", str(tmp_path), "--junit", str(junit)]) == 2
    root = ET.parse(junit).getroot()
    assert root.get("errors") == "1"
    assert "analysis[0].dd" in root.find("./testsuite/testcase/error").get("message")


def test_missing_spec_path_exits_2(tmp_path, capsys):
    assert main(["reproduce", str(tmp_path / "nope.toml"), "--out", str(tmp_path)]) == 2
    assert "does not exist" in capsys.readouterr().out


def test_where_matching_no_row_names_the_rows(tmp_path, capsys):
    text = (SPEC_DIR / "hsaur3_btheb_lmer.toml").read_text()
    text = text.replace('where = { term = "time" }', 'where = { term = "week" }', 1)
    spec = write_spec(tmp_path, "w.toml", text)
    assert main(["reproduce", str(spec), "--out", str(tmp_path)]) == 2
    out = capsys.readouterr().out
    assert ".where: matches 0 rows of lmer1.fixed" in out and "bdi_pre" in out


# -- --update ------------------------------------------------------------------------------
OWN = """\
[spec]
id = "own_rate"
title = "a rate of our own"
origin = "own"

[citation]
reference = "our paper"
where = "Table 9"

[defaults]
tolerance = { rel = 1e-6 }

[[analysis]]
name = "r"
run = "nhs_rate"
numerator = 1
denominator = 3

[[numbers]]
quantity = "rate"  # one third, in percent
from = "r.value"
column = "rate"
"""


def test_update_writes_own_numbers_and_shows_the_diff(tmp_path, capsys):
    spec = write_spec(tmp_path, "own.toml", OWN)
    assert main(["reproduce", str(spec), "--out", str(tmp_path)]) == 2  # no value yet
    assert "run ipt-analytics reproduce --update" in capsys.readouterr().out
    assert main(["reproduce", "--update", str(spec), "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "+value = 33.33333333" in out  # 100 / 3 to 10 significant digits
    assert spec.read_text() == OWN + "value = 33.33333333\n"
    assert main(["reproduce", str(spec), "--out", str(tmp_path)]) == 0
    # drift: a wrong number fails, --update rewrites it in place
    spec.write_text(OWN + "value = 30.0  # old\n")
    assert main(["reproduce", str(spec), "--out", str(tmp_path)]) == 1
    assert main(["reproduce", "--update", str(spec), "--out", str(tmp_path)]) == 0
    assert spec.read_text() == OWN + "value = 33.33333333  # old\n"
    assert main(["reproduce", "--update", str(spec), "--out", str(tmp_path)]) == 0
    assert "numbers unchanged" in capsys.readouterr().out


def test_update_never_rewrites_a_published_spec(tmp_path, capsys):
    spec = write_spec(tmp_path, "pub.toml", NNT.read_text().replace('"2.91"', '"2.92"'))
    before = spec.read_bytes()
    assert main(["reproduce", "--update", str(spec), "--out", str(tmp_path)]) == 1
    assert spec.read_bytes() == before
    out = capsys.readouterr().out
    assert "origin = 'published'" in out and "never rewritten" in out and "FAIL" in out


def test_rewrite_values_keeps_layout_and_comments():
    text = '# top\n[[numbers]]\nvalue = 1.0 # c\nquantity = "a"\n\n[[numbers]]\nquantity = "b"\n'
    assert rewrite_values(text, {0: 2.0, 1: 1e-12}) == (
        '# top\n[[numbers]]\nvalue = 2.0  # c\nquantity = "a"\n\n'
        '[[numbers]]\nquantity = "b"\nvalue = 1e-12\n'
    )


# -- tolerances (hand-computed cases) ------------------------------------------------------
@pytest.mark.parametrize(
    ("published", "reproduced", "tolerance", "passed"),
    [
        ("44.8", 44.849956, "as printed", True),  # HSCIC 2014/15: one rounding, not two
        ("44.9", 44.849956, "as printed", False),
        ("0.120", 0.120294, "as printed", True),  # trailing zero counts: 3 decimals
        ("0.12", 0.1249, "as printed", True),
        ("0.120", 0.1249, "as printed", False),
        ("-0.13", -0.125, "as printed", True),  # exact binary half: away from zero
        ("8.8e-11", 8.76e-11, "as printed", True),  # printed significant digits
        ("8.8e-11", 8.74e-11, "as printed", False),
        ("1802", 1802.49, "as printed", True),
        (10.0, 10.001, {"rel": 1e-4}, True),
        (10.0, 10.0011, {"rel": 1e-4}, False),
        (0.0, 1e-10, {"rel": 1e-6, "abs": 1e-9}, True),
        (0.0, 2e-9, {"rel": 1e-6, "abs": 1e-9}, False),
        (1.0, float("nan"), {"abs": 1.0}, False),
    ],
)
def test_tolerances(published, reproduced, tolerance, passed):
    assert check(published, reproduced, tolerance).passed is passed


# -- data ----------------------------------------------------------------------------------
def test_bundled_datasets():
    btheb = load_dataset("btheb")
    # non-missing BDI counts as documented for HSAUR's BtheB: 100, 97, 73, 58, 52
    assert btheb.filter(like="bdi").notna().sum().tolist() == [100, 97, 73, 58, 52]
    assert btheb["treatment"].value_counts().to_dict() == {"BtheB": 52, "TAU": 48}
    sleep = load_dataset("sleepstudy")
    assert sleep.shape == (180, 3) and sleep["Days"].max() == 9
    for name in ("btheb", "sleepstudy"):  # the same files as the test suite's references
        ref = ROOT / "tests" / "reference" / "data" / f"{name}.csv"
        assert dataset_path(name).read_bytes() == ref.read_bytes()
    sample = hashlib.sha256(dataset_path("sample_sessions").read_bytes()).hexdigest()
    committed = (ROOT / "data" / "sample" / "sessions.csv").read_bytes()
    assert sample == hashlib.sha256(committed).hexdigest()
    with pytest.raises(ValueError, match="allowed: btheb, sample_sessions, sleepstudy"):
        load_dataset("riesby")


def test_btheb_long_has_280_ratings_of_97_patients():
    # HSAUR3 Fig. 13.2: "Number of obs: 280, groups: subject, 97"
    long = load_data(load_spec(SPEC_DIR / "hsaur3_btheb_lmer.toml"))
    assert len(long) == 280 and long["subject"].nunique() == 97
    assert sorted(long["time"].unique()) == [2, 3, 5, 8]
    assert list(long["treatment"].cat.categories) == ["TAU", "BtheB"]


def test_unlisted_recode_value_is_a_broken_spec(tmp_path):
    text = (SPEC_DIR / "hsaur3_btheb_lmer.toml").read_text().replace('"bdi.8m" = 8', "")
    text = text.replace(', "bdi.5m" = 5,', ', "bdi.5m" = 5')
    spec = load_spec(write_spec(tmp_path, "r.toml", text))
    with pytest.raises(SpecError, match=r"data.steps\[2\].map: values \['bdi.8m'\]"):
        load_data(spec)


def test_data_path_is_relative_to_the_spec(tmp_path):
    shutil.copy(dataset_path("sleepstudy"), tmp_path / "sleep.csv")
    text = (SPEC_DIR / "bates_2015_sleepstudy.toml").read_text()
    text = text.replace('bundled = "sleepstudy"', 'path = "sleep.csv"')
    spec = load_spec(write_spec(tmp_path, "s.toml", text))
    assert len(load_data(spec)) == 180
    missing = load_spec(write_spec(tmp_path, "m.toml", text.replace("sleep.csv", "no.csv")))
    with pytest.raises(SpecError, match="data.path: 'no.csv' was found neither"):
        load_data(missing)


# -- runners on a plain table (hand-computed) ----------------------------------------------
TABLE = """\
arm,score,severe,area,improved
a,1,true,grief,true
a,2,false,grief,false
a,3,true,role_dispute,true
a,,,role_dispute,false
b,4,false,grief,true
b,6,false,grief,false
"""

DESCRIBE = """\
[spec]
id = "hand"
title = "hand-computed"
origin = "own"

[citation]
reference = "hand computation in tests/test_reproduce.py"
where = "the table TABLE"

[data]
path = "table.csv"

[defaults]
tolerance = {{ abs = 1e-12 }}

[[analysis]]
name = "t1"
run = "describe"
table = "data"
by = "arm"
variables = [
    {{ column = "score", stats = ["n", "mean", "sd", "median"] }},
    {{ column = "score", stats = ["percent_at_least"], threshold = 2 }},
    {{ column = "severe", stats = ["percent_true"] }},
    {{ column = "area", stats = ["percent_equal"], threshold = "grief" }},
]

[[analysis]]
name = "rates"
run = "compare_groups"
table = "data"
by = "arm"
outcome = "improved"
{numbers}"""


@pytest.mark.parametrize(
    ("where", "column", "value"),
    [
        ('{ group = "a", variable = "rows", statistic = "n" }', "value", 4.0),
        ('{ group = "a", variable = "score", statistic = "n" }', "value", 3.0),
        ('{ group = "a", variable = "score", statistic = "mean" }', "value", 2.0),
        ('{ group = "a", variable = "score", statistic = "sd" }', "value", 1.0),
        ('{ group = "b", variable = "score", statistic = "sd" }', "value", 2**0.5),
        ('{ group = "b", variable = "score", statistic = "median" }', "value", 5.0),
        ('{ group = "all", variable = "score", statistic = "mean" }', "value", 16 / 5),
        (
            '{ group = "a", variable = "score", statistic = "percent_at_least" }',
            "value",
            200 / 3,
        ),
        ('{ group = "a", variable = "severe", statistic = "percent_true" }', "value", 200 / 3),
        ('{ group = "all", variable = "area", statistic = "percent_equal" }', "value", 400 / 6),
    ],
)
def test_describe_on_a_plain_table(tmp_path, where, column, value):
    (tmp_path / "table.csv").write_text(TABLE)
    number = f'[[numbers]]\nquantity = "q"\nfrom = "t1.describe"\nwhere = {where}\n'
    number += f'column = "{column}"\nvalue = {value!r}\n'
    spec = write_spec(tmp_path, "hand.toml", DESCRIBE.format(numbers=number))
    assert main(["reproduce", str(spec), "--out", str(tmp_path)]) == 0


def test_compare_groups_on_a_plain_table(tmp_path, capsys):
    # arm a: 2 of 4 improved, arm b: 1 of 2
    (tmp_path / "table.csv").write_text(TABLE)
    numbers = "".join(
        f'[[numbers]]\nquantity = "{g} {c}"\nfrom = "rates.groups"\nwhere = {{ group = "{g}" }}\n'
        f'column = "{c}"\nvalue = {v!r}\n\n'
        for g, c, v in [
            ("a", "events", 2.0),
            ("a", "n", 4.0),
            ("a", "rate", 0.5),
            ("b", "rate", 0.5),
        ]  # fmt: skip
    )
    spec = write_spec(tmp_path, "hand.toml", DESCRIBE.format(numbers=numbers))
    assert main(["reproduce", str(spec), "--out", str(tmp_path)]) == 0, capsys.readouterr().out
