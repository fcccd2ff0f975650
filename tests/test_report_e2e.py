"""End to end: `bsc report` on the embedded sample, as an analyst runs it.

One real run (all eight notebooks, PDF when Chromium exists) through the CLI, then: the run
folder is complete, the manifest is valid, report.html is self-contained and renders offline
in Chromium with every chart drawn, results.xlsx totals equal evaluate()'s, and `bsc verify`
recomputes identical tables.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BSC = [sys.executable, "-m", "bsc_lib.cli"]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("outputs")
    proc = subprocess.run([*BSC, "report", "--out", str(out)], capture_output=True, text=True,
                          cwd=str(ROOT), timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    m = re.search(r"report complete: (.+)$", proc.stdout.strip(), re.M)
    assert m, proc.stdout
    return Path(m.group(1))


def test_run_folder_is_complete(run_dir):
    assert re.fullmatch(r"\d{8}T\d{6}-(year|H1|H2)-(ko|en)-[0-9a-f]{8}", run_dir.name)
    assert run_dir.parent.name == "2019"
    names = {p.name for p in run_dir.iterdir()}
    nbs = {p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb")
           if "dashboard" not in p.name and "compare" not in p.name}  # 09-compare only with --compare-scheme
    assert nbs <= names
    assert {"report.html", "results.xlsx", "manifest.json", "tables"} <= names
    assert not any(p.name.startswith(".tmp-") for p in run_dir.parent.iterdir())


def test_manifest_is_valid(run_dir):
    m = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    assert m["status"] == "complete"
    assert m["parameters"]["year"] == 2019 and m["parameters"]["half"] == "year"
    assert len(m["inputs"]["files"]) == 18 and all(len(h) == 64 for h in m["inputs"]["files"].values())
    assert len(m["scheme"]["sha256"]) == 64 and len(m["analysis"]["sha256"]) == 64
    assert all(nb["status"] == "ok" for nb in m["notebooks"])
    assert {"institutional", "individual", "kpi", "kpi_difficulty", "rank_robustness"} <= set(m["tables"])
    people = (ROOT / "data" / "sample" / "2019" / "people.csv").read_text(encoding="utf-8").splitlines()[1:]
    names = [line.split(",")[1] for line in people]
    text = json.dumps(m, ensure_ascii=False)
    assert not any(n and n in text for n in names), "no personal data in the manifest"
    if CHROMIUM.exists():
        assert m["pdf"] == "ok" or str(m["pdf"]).startswith("ok")
        assert (run_dir / "report.pdf").stat().st_size > 10_000


def test_report_html_is_self_contained_and_renders_offline(run_dir, tmp_path):
    from plotly.offline import get_plotlyjs

    from bsc_lib.present.report_html import count_figures, external_references

    html = (run_dir / "report.html").read_text(encoding="utf-8")
    assert external_references(html) == []
    # (plotly.js itself mentions CDN URLs for map icons; the browser check below proves nothing is fetched)
    assert html.count(get_plotlyjs()[:200]) == 1, "plotly.js inlined exactly once"
    n_figures = count_figures(html)
    assert n_figures >= 15
    assert html.count("<table") >= 20, "result tables are in the report"
    if not CHROMIUM.exists():
        pytest.fail("/usr/bin/chromium is missing: run `make system-deps` (CI installs it)")
    from playwright.sync_api import sync_playwright

    blocked = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})

            def route(r):
                if r.request.url.startswith("file:") or r.request.url.startswith("data:"):
                    r.continue_()
                else:
                    blocked.append(r.request.url)
                    r.abort()

            page.route("**/*", route)
            page.goto((run_dir / "report.html").as_uri())
            page.wait_for_function(
                f"document.querySelectorAll('.js-plotly-plot').length >= {n_figures}", timeout=60_000)
            n_plots = page.locator(".js-plotly-plot").count()
            n_drawn = page.evaluate(
                "Array.from(document.querySelectorAll('.js-plotly-plot')).filter(e => e.querySelector('.main-svg')).length")
            page.screenshot(path=str(tmp_path / "report.png"))
            assert "Traceback" not in page.inner_text("body")
        finally:
            browser.close()
    assert blocked == []
    assert n_plots == n_figures and n_drawn == n_figures


def test_results_xlsx_totals_equal_evaluate(run_dir):
    import openpyxl

    import bsc_lib

    scheme = bsc_lib.load_scheme(ROOT / "params" / "scheme-2019.yaml")
    data = bsc_lib.load(ROOT / "data" / "sample" / "2019", scheme=scheme)
    res = bsc_lib.evaluate(data, scheme, year=2019, half="year")
    from bsc_lib.present.export import sheet_label

    wb = openpyxl.load_workbook(run_dir / "results.xlsx", read_only=True)
    assert wb.sheetnames[0] == "안내"  # the README sheet of a Korean report
    ws = wb[sheet_label("institutional", "ko")]
    rows = list(ws.iter_rows(values_only=True))
    header = rows[0]
    from bsc_lib.present.labels import label

    i_id, i_total = header.index(label("institution_id")), header.index(label("total"))
    got = {r[i_id]: r[i_total] for r in rows[1:]}
    want = res.institutional.set_index("institution_id")["total"].to_dict()
    assert got.keys() == want.keys()
    assert all(abs(got[k] - want[k]) < 1e-9 for k in want)
    assert sheet_label("individual", "ko") in wb.sheetnames
    ind_header = next(wb[sheet_label("individual", "ko")].iter_rows(values_only=True))
    assert label("name_ko") not in ind_header, "no names in the individual results"


def test_verify_recomputes_identical_tables(run_dir):
    proc = subprocess.run([*BSC, "verify", str(run_dir)], capture_output=True, text=True, cwd=str(ROOT), timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr


def test_bad_data_path_is_a_clear_error_without_traceback(tmp_path):
    proc = subprocess.run([*BSC, "report", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "o")],
                          capture_output=True, text=True, cwd=str(ROOT), timeout=300,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert "nope" in proc.stderr
    assert not (tmp_path / "o" / "2019").exists() or not any((tmp_path / "o" / "2019").iterdir())
