"""The documentation in docs/ stays true to the code and its links resolve in the repository."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from ipt_analytics.instruments.table import INSTRUMENTS
from ipt_analytics.io.validate import REASONS

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
CONTRACT = DOCS / "data-contract.md"
DEFINITIONS = DOCS / "definitions.md"
LINKED_PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]

# [text](target) but not images' alt text edge cases; code spans are removed first
_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
_CODE_SPAN = re.compile(r"`[^`]*`")
_TEST_REF = re.compile(r"`(tests/test_[a-z0-9_]+\.py)::(test_[a-z0-9_]+)`")
_BARE_TEST = re.compile(r"`(test_[a-z0-9_]+)`")


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _test_names(path: Path) -> set[str]:
    tree = ast.parse(_text(path))
    return {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}


@pytest.mark.parametrize("reason", sorted(REASONS))
def test_every_validation_reason_is_documented_with_its_fix(reason):
    rows = [line for line in _text(CONTRACT).splitlines() if line.startswith(f"| `{reason}` |")]
    assert len(rows) == 1, f"docs/data-contract.md has no table row for reason {reason!r}"
    # the documented fix is the fix the code prints in every message, word for word
    assert f"| {REASONS[reason]} |" in rows[0], (reason, REASONS[reason])


def test_no_reason_is_documented_that_the_code_does_not_have():
    table = [ln for ln in _text(CONTRACT).split("## Validation reasons")[1].splitlines()
             if ln.startswith("| `")]  # fmt: skip
    documented = {re.match(r"\| `([a-z_]+)`", ln).group(1) for ln in table}
    assert documented == set(REASONS)


@pytest.mark.parametrize("key", sorted(INSTRUMENTS))
def test_every_instrument_is_documented(key):
    inst = INSTRUMENTS[key]
    for page in (CONTRACT, DEFINITIONS):
        rows = [ln for ln in _text(page).splitlines() if ln.startswith(f"| `{key}` |")]
        assert rows, f"{page.name} has no table row for instrument {key!r}"
    row = next(ln for ln in _text(DEFINITIONS).splitlines() if ln.startswith(f"| `{key}` |"))
    # every severity band edge of the code appears in the definitions table
    for low, high, _label in inst.bands:
        assert f"{low}-{high}" in row, (key, low, high)
    assert f"0-{inst.total_max}" in row


def _relative_links(path: Path):
    text = _CODE_SPAN.sub("", _text(path))
    for target in _LINK.findall(text):
        if re.match(r"^[a-z]+:", target) or target.startswith("#"):
            continue
        yield target.split("#")[0]


@pytest.mark.parametrize("page", LINKED_PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_resolve_inside_the_repository(page):
    targets = list(_relative_links(page))
    for target in targets:
        resolved = (page.parent / target).resolve()
        assert resolved.is_relative_to(ROOT), f"{page.name}: {target} points outside the repo"
        assert resolved.exists(), f"{page.name}: link {target} does not resolve"


def test_the_link_checker_sees_links_and_skips_code_and_urls(tmp_path):
    page = tmp_path / "p.md"
    page.write_text("[a](x.md) `[b](y.md)` [c](https://e.org) [d](#s) [e](z.md#k)\n")
    assert list(_relative_links(page)) == ["x.md", "z.md"]


def test_every_test_named_in_the_docs_exists():
    for page in (CONTRACT, DEFINITIONS):
        text = _text(page)
        for file, name in _TEST_REF.findall(text):
            assert name in _test_names(ROOT / file), f"{page.name}: {file}::{name} not found"
        # bare names refer to a test file named earlier on the page; they must exist somewhere
        known = set().union(*(_test_names(p) for p in (ROOT / "tests").glob("test_*.py")))
        for name in _BARE_TEST.findall(text):
            assert name in known, f"{page.name}: test {name} not found in tests/"


def test_no_project_file_points_outside_the_repository():
    # the forbidden paths are assembled from parts so that this guard does not name them itself
    outside = ["..", "shared"]
    pattern = re.compile(
        "|".join([re.escape("/".join(outside)), re.escape(outside[1] + "/reference"),
                  r"DESIGN\.md", r"reference/definitions\.md"])
    )  # fmt: skip
    suffixes = {".md", ".py", ".ipynb", ".R", ".toml", ".txt", ".cfg"}

    def hidden(f):  # .git, .venv, .ci-venv, build metadata
        return any(p.startswith(".") or p.endswith(".egg-info") for p in f.relative_to(ROOT).parts)

    files = [f for f in ROOT.rglob("*") if f.suffix in suffixes and not hidden(f)]
    offenders = [
        f"{f.relative_to(ROOT)}:{i}"
        for f in files
        if f.name != "test_docs.py"
        for i, line in enumerate(_text(f).splitlines(), 1)
        if pattern.search(line)
    ]
    assert not offenders, offenders
