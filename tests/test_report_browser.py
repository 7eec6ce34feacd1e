"""The report in a real browser: headless Chromium renders every figure, logs no console
error and prints the page to PDF (A4). Chromium is required: without it this test FAILS.

Artifacts (screenshot PNG and PDF) go to ``$IPT_REPORT_ARTIFACTS`` when set (CI keeps them),
else to the test's temporary folder.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from ipt_analytics.datasets.synth import simulate_cohort
from ipt_analytics.io.sessiondata import read_sessions
from ipt_analytics.reporting.report import build_report

PROBE = """<script>
window.__errors = [];
window.addEventListener("error", function (e) { window.__errors.push(String(e.message)); });
const _err = console.error;
console.error = function () { window.__errors.push(Array.from(arguments).join(" "));
                              _err.apply(console, arguments); };
window.addEventListener("load", function () {
  const out = [];
  document.querySelectorAll("svg, img").forEach(function (el, i) {
    const r = el.getBoundingClientRect();
    out.push(el.tagName + ":" + Math.round(r.width) + "x" + Math.round(r.height));
  });
  const pre = document.createElement("pre");
  pre.id = "probe";
  pre.textContent = ["PROBE", "SIZES"].join("_") + " " + out.join(" ") + "\\nERRORS " +
                    window.__errors.length +
                    " " + window.__errors.join(" | ");
  document.body.appendChild(pre);
});
</script>"""


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.fail(
        "headless Chromium is required for the report's browser test and was not "
        "found. Fix: apt-get install -y chromium (.ci/run installs it)"
    )


def _run(args, timeout=180):
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def report_html(tmp_path_factory):
    out = tmp_path_factory.mktemp("browser")
    data = read_sessions(simulate_cohort(n_episodes=300, seed=3))
    build_report(data, as_of="2026-07-01").write(out)
    return out / "report.html"


def test_report_renders_in_chromium_and_prints_to_pdf(report_html):
    chromium = _chromium()
    base = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-extensions",
        "--enable-logging=stderr",
        "--v=0",
    ]
    html = report_html.read_text(encoding="utf-8")
    # nothing to fetch: every src/href points inside the page (SVG's xlink:href="#id")
    external = re.findall(r"(?:src|href)\s*=\s*[\"'](?!#)([^\"']*)", html)
    assert not external, f"the page refers to outside resources: {external[:5]}"
    assert "<script" not in html.lower() and "<link" not in html.lower()
    probe = report_html.with_name("probe.html")
    probe.write_text(html.replace("</head>", PROBE + "\n</head>", 1), encoding="utf-8")
    dom = _run([chromium, *base, "--dump-dom", probe.as_uri()])
    found = re.search(r"PROBE_SIZES (.*)\nERRORS (\d+) ?(.*?)</pre>", dom.stdout, re.S)
    assert found, f"the probe did not run; chromium said: {dom.stderr[-2000:]}"
    sizes = found.group(1).split()
    n_figures = html.count("<svg")
    assert len(sizes) == n_figures >= 5
    for s in sizes:
        w, h = (int(v) for v in s.split(":")[1].split("x"))
        assert w > 50 and h > 50, f"a figure rendered at {s}"
    assert found.group(2) == "0", f"console errors: {found.group(3)}"
    console = [line for line in dom.stderr.splitlines() if "CONSOLE" in line]
    assert not console, console
    artifacts = Path(os.environ.get("IPT_REPORT_ARTIFACTS", report_html.parent))
    artifacts.mkdir(parents=True, exist_ok=True)
    pdf, png = artifacts / "report.pdf", artifacts / "report_first_page.png"
    _run([chromium, *base, "--no-pdf-header-footer", f"--print-to-pdf={pdf}", report_html.as_uri()])
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF")
    pages = len(re.findall(rb"/Type\s*/Page[^s]", data))
    assert pages >= 3, f"the PDF has {pages} pages"
    boxes = re.findall(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", data)
    assert boxes and all(
        abs(float(w) - 595.3) < 1 and abs(float(h) - 841.9) < 1 for w, h in boxes
    ), f"pages are not A4 (595 x 842 pt): {boxes[:3]}"
    _run(
        [
            chromium,
            *base,
            "--hide-scrollbars",
            "--window-size=1100,1500",
            f"--screenshot={png}",
            report_html.as_uri(),
        ]
    )
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
