"""The tutorial notebooks run top to bottom and show the numbers they promise.

Each notebook is executed once (nbclient, kernel ``python3`` = the ipykernel installed in this
environment) and its outputs are checked against counts taken directly from the sample CSV
files with the ``csv`` module, independently of the toolkit. The generator
``notebooks/_build_notebooks.py`` must reproduce the committed notebooks byte for byte.
"""

from __future__ import annotations

import csv
import importlib.util
import platform
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parents[1]
NB_DIR = ROOT / "notebooks"
SAMPLE = ROOT / "data" / "sample"
NOTEBOOKS = [
    "01_quickstart.ipynb",
    "02_trajectories.ipynb",
    "03_formats_and_problem_areas.ipynb",
    "04_quality_improvement.ipynb",
    "05_reproduce.ipynb",
]
TIMEOUT = 600  # seconds per cell; the four notebooks take about 1.5 minutes in all

_EXECUTED: dict[str, nbformat.NotebookNode] = {}


def _load_generator():
    path = NB_DIR / "_build_notebooks.py"
    spec = importlib.util.spec_from_file_location("_build_notebooks", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def executed(name: str) -> nbformat.NotebookNode:
    """The notebook after running every cell (cached for the test session)."""
    if name not in _EXECUTED:
        nb = nbformat.read(NB_DIR / name, as_version=4)
        client = NotebookClient(
            nb,
            timeout=TIMEOUT,
            kernel_name="python3",
            resources={"metadata": {"path": str(NB_DIR)}},
        )
        try:
            client.execute()
        except CellExecutionError as err:
            pytest.fail(f"{name} failed:\n{err}")
        _EXECUTED[name] = nb
    return _EXECUTED[name]


def texts(nb, *, html: bool = False) -> list[str]:
    """Every text output: streams, text/plain results (and text/html with ``html``)."""
    out = []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            if o.output_type == "stream":
                out.append(o.text)
            elif o.output_type in ("execute_result", "display_data"):
                out.append(o.data.get("text/plain", ""))
                if html:
                    out.append(o.data.get("text/html", ""))
            elif o.output_type == "error":
                out.append("\n".join(o.traceback))
    return out


def n_images(nb) -> int:
    return sum(
        "image/png" in o.get("data", {}) for cell in nb.cells for o in cell.get("outputs", [])
    )


def find(nb, pattern: str) -> re.Match:
    for text in texts(nb):
        match = re.search(pattern, text, flags=re.MULTILINE)
        if match:
            return match
    raise AssertionError(f"no output matches {pattern!r}")


def csv_rows(path: Path) -> list[dict]:
    with path.open(newline="", encoding="utf-8-sig") as f:
        return [row for row in csv.DictReader(f) if any(v.strip() for v in row.values() if v)]


# -- the generator ------------------------------------------------------------------------


def test_generator_reproduces_committed_notebooks(tmp_path):
    generator = _load_generator()
    assert sorted(generator.NOTEBOOKS) == NOTEBOOKS
    for path in generator.write_all(tmp_path):
        committed = NB_DIR / path.name
        assert committed.read_bytes() == path.read_bytes(), (
            f"{committed} differs from the generator's output; run "
            "python notebooks/_build_notebooks.py"
        )
    assert generator.main(["--check", "--out", str(tmp_path)]) == 0
    (tmp_path / NOTEBOOKS[0]).write_text("{}")
    assert generator.main(["--check", "--out", str(tmp_path)]) == 1


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_committed_notebooks_have_no_outputs(name):
    nb = nbformat.read(NB_DIR / name, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.outputs == [] and c.execution_count is None for c in code)
    assert nb.metadata.kernelspec.name == "python3"


# -- execution ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_top_to_bottom(name):
    nb = executed(name)
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert errors == []
    assert all(c.execution_count for c in nb.cells if c.cell_type == "code")
    assert n_images(nb) >= 2, "every notebook shows at least two figures"
    # the kernel is this environment's interpreter (ipykernel installed alongside the package)
    assert nb.metadata.language_info.version == platform.python_version()


def test_quickstart_accounting_balances_and_matches_the_file():
    m = find(
        executed(NOTEBOOKS[0]),
        r"accounting: (\d+) input rows = (\d+) accepted \+ (\d+) rejected "
        r"\+ (\d+) duplicates collapsed \(balanced\)",
    )
    n_input, accepted, rejected, collapsed = map(int, m.groups())
    assert n_input == len(csv_rows(SAMPLE / "messy_sessions.csv"))
    assert accepted + rejected + collapsed == n_input
    planted = csv_rows(SAMPLE / "messy_expected.csv")
    faulty_rows = {r["source_row"] for r in planted if r["reason"] != "exact_duplicate"}
    assert rejected == len(faulty_rows)
    assert collapsed == sum(r["reason"] == "exact_duplicate" for r in planted)


def test_quickstart_safety_flag_count_matches_item_9():
    rows = csv_rows(SAMPLE / "sessions.csv")
    flagged = sum(float(r["phq9_9"]) > 0 for r in rows)
    m = find(executed(NOTEBOOKS[0]), r"^ratings with item 9 > 0\s+(\d+)$")
    assert int(m.group(1)) == flagged


def test_trajectories_flags_among_ongoing_episodes():
    rows = csv_rows(SAMPLE / "sessions.csv")
    ongoing = {r["episode_id"] for r in rows if r["end_reason"] == "ongoing"}
    m = find(executed(NOTEBOOKS[1]), r"(\d+) of (\d+) ongoing episodes are not on track")
    n_flagged, n_ongoing = map(int, m.groups())
    assert n_ongoing == len(ongoing)
    assert 0 < n_flagged < n_ongoing


def test_formats_table1_counts_every_episode():
    rows = csv_rows(SAMPLE / "sessions.csv")
    m = find(executed(NOTEBOOKS[2]), r"^episodes, n((?:\s+\d+){5})\s*$")
    assert sum(map(int, m.group(1).split())) == len({r["episode_id"] for r in rows})


def test_quality_improvement_p_chart_has_eight_quarters():
    nb = executed(NOTEBOOKS[3])
    chart = next(t for t in texts(nb) if "incomplete" in t and "ucl" in t)
    quarters = re.findall(r"^\d+\s+(\d{4}Q[1-4])\s", chart, flags=re.MULTILINE)
    assert quarters == [
        "2024Q3", "2024Q4", "2025Q1", "2025Q2", "2025Q3", "2025Q4", "2026Q1", "2026Q2",
    ]  # fmt: skip
    # the sample starts 2024-07-01 and its longest episode lasts 126 days: the quarters
    # starting before 2024-11-04 are incomplete (marked, never flagged)
    flags = re.findall(r"^\d+\s+\d{4}Q[1-4]\s.*?(True|False)\s*(incomplete)?\s*$", chart,
                       flags=re.MULTILINE)  # fmt: skip
    assert [f[0] for f in flags] == ["True", "True"] + ["False"] * 6
    assert [f[1] for f in flags] == ["incomplete"] * 2 + [""] * 6


def test_quality_improvement_shows_no_client_identifiers():
    nb = executed(NOTEBOOKS[3])
    client_ids = {r["client_id"] for r in csv_rows(SAMPLE / "sessions.csv")}
    shown = "\n".join(texts(nb, html=True))
    assert "client_id" not in shown
    assert not [c for c in re.findall(r"\bC\d{5}\b", shown) if c in client_ids]


def test_reproduce_notebook_shows_pass_update_mismatch_and_broken():
    out = "\n".join(texts(executed("05_reproduce.ipynb")))
    assert "62 of 62 numbers reproduced" in out  # HSAUR3 Beat the Blues, every printed digit
    assert "updated" in out and "+value = " in out  # --update wrote the own spec's numbers
    assert [int(c) for c in re.findall(r"^exit code (\d)$", out, re.M)] == [0, 0, 1, 2]
    assert "BROKEN SPEC" in out and "analysis[0].effect" in out
