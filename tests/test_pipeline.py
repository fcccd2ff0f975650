"""Tests of bsc_lib.runs.pipeline: run folder, manifest, report, PDF, failures, verify.

The pipeline runs the small notebooks of ``tests/data/notebooks`` with a tiny loader and a
tiny ``tables_fn`` defined here (dependency injection), so nothing depends on the real
scoring engine. The expensive run happens once per module.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import shutil
import signal
import threading
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from plotly.offline import get_plotlyjs

from bsc_lib.cli import main as cli_main
from bsc_lib.data.model import BSCData
from bsc_lib.errors import DataError, Problem, SchemeError
from bsc_lib.present.export import table_sha256
from bsc_lib.present.report_html import count_figures, external_references
from bsc_lib.runs import folder, pipeline
from bsc_lib.runs.pipeline import (
    InputsChanged,
    ManifestError,
    RunFailed,
    default_notebooks,
    load_callable,
    print_pdf,
    read_manifest,
    run_report,
    verify_run,
)

REPO = Path(__file__).resolve().parent.parent
NB_DIR = Path(__file__).resolve().parent / "data" / "notebooks"
NOTEBOOKS = [NB_DIR / "01-alpha.ipynb", NB_DIR / "02-beta.ipynb"]
FAILING = [NB_DIR / "failing" / "01-fails.ipynb"]
SCHEME = REPO / "params" / "scheme-2019.yaml"
CHROMIUM = "/usr/bin/chromium"
RUN_NAME_RE = re.compile(r"^\d{8}T\d{6}-(year|H1|H2)-(ko|en)-[0-9a-f]{8}(-\d+)?$")

UNITS_CSV = "unit_id,name\nD1,<script>alert(1)</script>\nD2,=1+2\nD3,도시계획과\n"
SCORES_CSV = "unit_id,half,points\nD1,H1,10\nD1,H2,14\nD2,H1,16\nD2,H2,18\nD3,H1,7\nD3,H2,9.5\n"


# --- injected dependencies ------------------------------------------------------------------


def tiny_load(data_path, scheme=None) -> BSCData:
    """Loader: a folder of CSVs; input hashes are the sha256 of each file."""
    p = Path(data_path)
    if not p.is_dir():
        raise DataError([Problem(file=str(p), rule="exists", message="data folder not found")])
    hashes = {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in sorted(p.glob("*.csv"))}
    return BSCData(tables={}, source=str(p), input_hashes=hashes)


def tiny_tables(data_path, scheme_path, year, half) -> dict[str, pd.DataFrame]:
    """Two small result tables computed from the data and the parameters."""
    p = Path(data_path)
    units = pd.read_csv(p / "units.csv")
    scores = pd.read_csv(p / "scores.csv")
    if half != "year":
        scores = scores[scores["half"] == half]
    pts = scores.groupby("unit_id", as_index=False)["points"].mean()
    up = units.merge(pts, on="unit_id", how="left").assign(achievement_rate=lambda d: d["points"] / 20)
    summary = pd.DataFrame({"year": [year], "half": [half], "n_units": [len(up)],
                            "mean_points": [up["points"].mean()]})
    return {"unit_points": up, "summary": summary}


def _write_data(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "units.csv").write_text(UNITS_CSV, encoding="utf-8")
    (folder / "scores.csv").write_text(SCORES_CSV, encoding="utf-8")
    return folder


def _entries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def _spec(fn) -> str:
    return f"{fn.__module__}:{fn.__name__}"


@pytest.fixture(scope="module")
def done(tmp_path_factory):
    base = tmp_path_factory.mktemp("pipeline")
    data = _write_data(base / "data")
    out = base / "outputs"
    run_dir = run_report(data, SCHEME, year=2019, half="year", lang="ko", out=out,
                         notebooks=NOTEBOOKS, tables_fn=tiny_tables, load_fn=tiny_load,
                         progress=False, pdf=True)
    return {"run": run_dir, "out": out, "data": data, "manifest": read_manifest(run_dir)}


# --- a complete run -------------------------------------------------------------------------


@pytest.mark.slow
def test_run_folder_complete_and_renamed(done):
    run = done["run"]
    assert run.parent == done["out"] / "2019"
    assert RUN_NAME_RE.match(run.name)
    assert not [n for n in _entries(run.parent) if n.startswith(".tmp-") or n.endswith("FAILED")]
    assert _entries(run) == ["01-alpha.ipynb", "02-beta.ipynb", "manifest.json", "report.html",
                             "report.pdf", "results.xlsx", "tables"]
    assert _entries(run / "tables") == ["summary.csv", "unit_points.csv"]
    umask = os.umask(0o022)
    os.umask(umask)
    assert run.stat().st_mode & 0o777 == 0o777 & ~umask  # a normal folder, not mkdtemp's 0700


@pytest.mark.slow
def test_manifest(done):
    m, data = done["manifest"], done["data"]
    assert m["schema_version"] == 1 and m["status"] == "complete"
    assert m["run_id"] == done["run"].name
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", m["started_at"])
    assert m["started_at"] <= m["finished_at"]
    assert m["parameters"] == {"data_path": str(data.resolve()), "scheme_path": "params/scheme-2019.yaml",
                               "year": 2019, "half": "year", "lang": "ko", "kernel_name": "python3"}
    assert m["inputs"]["files"] == {
        "scores.csv": hashlib.sha256(SCORES_CSV.encode()).hexdigest(),
        "units.csv": hashlib.sha256(UNITS_CSV.encode()).hexdigest(),
    }
    assert m["scheme"]["sha256"] == hashlib.sha256(SCHEME.read_bytes()).hexdigest()
    assert [n["name"] for n in m["notebooks"]] == ["01-alpha.ipynb", "02-beta.ipynb"]
    assert all(n["status"] == "ok" and n["duration_s"] > 0 for n in m["notebooks"])
    assert m["packages"]["pandas"] == pd.__version__ and m["packages"]["python"]
    assert {"papermill", "plotly", "numpy", "scipy", "bsc-workbench"} <= set(m["packages"])
    expected = tiny_tables(data, SCHEME, 2019, "year")
    assert m["tables"] == {name: {"rows": len(df), "columns": df.shape[1], "sha256": table_sha256(df)}
                           for name, df in expected.items()}
    assert m["tables"]["unit_points"]["rows"] == 3
    assert m["pdf"] == "ok"
    assert m["tables_fn"] == _spec(tiny_tables)
    assert m["outputs"]["report.html"]["sha256"] == hashlib.sha256(
        (done["run"] / "report.html").read_bytes()).hexdigest()
    text = (done["run"] / "manifest.json").read_text(encoding="utf-8")
    for value in ("도시계획과", "alert(1)", "=1+2"):  # no data values (names) in the manifest
        assert value not in text


@pytest.mark.slow
def test_report_html(done):
    doc = (done["run"] / "report.html").read_text(encoding="utf-8")
    assert doc.count(get_plotlyjs()[:300]) == 1
    assert count_figures(doc) == 2
    assert external_references(doc) == []
    assert not re.search(r"<script[^>]*\ssrc\s*=\s*['\"]?(https?:)?//", doc, re.IGNORECASE)
    assert not re.search(r"<link[^>]*\shref\s*=\s*['\"]?(https?:)?//", doc, re.IGNORECASE)
    toc = re.search(r'<nav class="toc".*?</nav>', doc, re.DOTALL).group(0)
    for heading in ("알파 노트북 Alpha", "부서 표 Department table", "그림 Figure",
                    "베타 노트북 Beta", "요약 Summary", "산점도 Scatter"):
        assert f">{heading}</a>" in toc
    # code is hidden: no source of any code cell, including the injected parameters
    for source in ("import pandas as pd", "fig.show()", "px.scatter(", "print('half =", "run_dir = "):
        assert source not in doc
    assert "half = year lang = ko" in doc  # the stdout of a cell, with the injected parameters
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in doc and "<script>alert(1)" not in doc
    assert "2019년 BSC 성과평가 보고서" in doc and done["run"].name in doc


@pytest.mark.slow
def test_pdf_printed(done):
    assert (done["run"] / "report.pdf").read_bytes()[:5] == b"%PDF-"


@pytest.mark.slow
@pytest.mark.browser
def test_report_renders_offline_in_chromium(done, tmp_path):
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} not found: run `make system-deps` (browser tests need Chromium)")
    from playwright.sync_api import sync_playwright

    blocked: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"])
        try:
            page = browser.new_page()

            def route(r):
                if r.request.url.startswith("file:"):
                    r.continue_()
                else:
                    blocked.append(r.request.url)
                    r.abort()

            page.route("**/*", route)
            page.goto((done["run"] / "report.html").as_uri())
            page.wait_for_function("document.querySelectorAll('.js-plotly-plot .main-svg').length > 0",
                                   timeout=20000)
            plots = page.evaluate("Array.from(document.querySelectorAll('.js-plotly-plot'))"
                                  ".filter(el => el.querySelector('.main-svg')).length")
            alerts = page.evaluate("typeof window.__xss_md === 'undefined' && typeof window.__xss_plot === 'undefined'")
            page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        finally:
            browser.close()
    assert blocked == []
    assert plots == 2
    assert alerts is True
    assert (tmp_path / "report.png").stat().st_size > 10_000


@pytest.mark.slow
def test_results_xlsx_and_csvs(done):
    wb = openpyxl.load_workbook(done["run"] / "results.xlsx")
    assert wb.sheetnames == ["안내", "unit_points", "summary"]  # README sheet first (Korean report)
    ws = wb["unit_points"]
    assert ws.freeze_panes == "A2" and ws.auto_filter.ref == "A1:D4"
    assert ws["A1"].value == "평가대상ID"  # Korean header (lang="ko")
    assert ws["B3"].value == "'=1+2"
    # D1: mean(10, 14) = 12; D2: mean(16, 18) = 17; D3: mean(7, 9.5) = 8.25; rate = points / 20
    assert [ws[f"C{r}"].value for r in (2, 3, 4)] == [12, 17, 8.25]
    assert [ws[f"D{r}"].value for r in (2, 3, 4)] == [0.6, 0.85, 0.4125]
    csv = (done["run"] / "tables" / "unit_points.csv").read_bytes()
    assert csv.startswith(b"\xef\xbb\xbf")
    assert "D2,'=1+2,17.0,0.85" in csv.decode("utf-8-sig")


# --- reproducibility and verify -------------------------------------------------------------


@pytest.mark.slow
def test_second_run_same_hashes_distinct_folder_and_verify(done, capsys):
    second = run_report(done["data"], SCHEME, out=done["out"], notebooks=NOTEBOOKS[1:],
                        tables_fn=tiny_tables, load_fn=tiny_load, progress=False, pdf=False)
    m2 = read_manifest(second)
    assert second != done["run"] and RUN_NAME_RE.match(second.name)
    assert m2["tables"] == done["manifest"]["tables"]
    assert m2["pdf"] == "skipped: disabled" and not (second / "report.pdf").exists()
    # same inputs, scheme and parameters -> same key after the timestamp
    assert second.name.split("-")[1] == done["run"].name.split("-")[1]

    result = verify_run(done["run"], tables_fn=tiny_tables, load_fn=tiny_load)
    assert list(result.columns) == ["table", "rows_recorded", "rows_now", "sha256_recorded",
                                    "sha256_now", "identical"]
    assert result["table"].tolist() == ["unit_points", "summary"]
    assert result["identical"].tolist() == [True, True]
    code = cli_main(["verify", str(done["run"]), "--tables-fn", _spec(tiny_tables),
                     "--load-fn", _spec(tiny_load)])
    assert code == 0
    assert "verified" in capsys.readouterr().out


@pytest.mark.slow
def test_verify_detects_a_changed_table(done, tmp_path, capsys):
    run = Path(shutil.copytree(done["run"], tmp_path / "run", ignore=shutil.ignore_patterns("*.ipynb", "*.pdf")))
    m = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    m["tables"]["summary"]["sha256"] = "0" * 64
    (run / "manifest.json").write_text(json.dumps(m), encoding="utf-8")
    result = verify_run(run, tables_fn=tiny_tables, load_fn=tiny_load)
    assert result.set_index("table")["identical"].to_dict() == {"unit_points": True, "summary": False}
    code = cli_main(["verify", str(run), "--tables-fn", _spec(tiny_tables), "--load-fn", _spec(tiny_load)])
    assert code == 1
    assert "summary" in capsys.readouterr().err


@pytest.mark.slow
def test_verify_detects_changed_input(done, tmp_path, capsys):
    data = Path(shutil.copytree(done["data"], tmp_path / "data"))
    ok = verify_run(done["run"], tables_fn=tiny_tables, load_fn=tiny_load, data_path=data)
    assert ok["identical"].all()
    (data / "scores.csv").write_text(SCORES_CSV.replace("D3,H2,9.5", "D3,H2,19.5"), encoding="utf-8")
    with pytest.raises(InputsChanged) as info:
        verify_run(done["run"], tables_fn=tiny_tables, load_fn=tiny_load, data_path=data)
    assert [(p.sheet, p.message) for p in info.value.problems] == [("scores.csv", "file changed since the run")]
    code = cli_main(["verify", str(done["run"]), "--data", str(data), "--tables-fn", _spec(tiny_tables),
                     "--load-fn", _spec(tiny_load)])
    assert code == 1
    assert "inputs changed" in capsys.readouterr().err


def test_verify_refuses_missing_or_failed_manifest(tmp_path):
    with pytest.raises(ManifestError, match="no manifest.json"):
        verify_run(tmp_path, tables_fn=tiny_tables, load_fn=tiny_load)
    (tmp_path / "manifest.json").write_text(json.dumps({
        "schema_version": 1, "status": "failed", "parameters": {}, "inputs": {}, "scheme": {}, "tables": {}}))
    with pytest.raises(ManifestError, match="not 'complete'"):
        verify_run(tmp_path, tables_fn=tiny_tables, load_fn=tiny_load)
    assert cli_main(["verify", str(tmp_path / "nowhere")]) == 2


# --- failures -------------------------------------------------------------------------------


@pytest.mark.slow
def test_failing_notebook_leaves_failed_folder(tmp_path):
    data = _write_data(tmp_path / "data")
    out = tmp_path / "out"
    with pytest.raises(RunFailed) as info:
        run_report(data, SCHEME, out=out, notebooks=FAILING, tables_fn=tiny_tables, load_fn=tiny_load,
                   progress=False, pdf=False)
    failed = info.value.run_dir
    assert failed is not None and failed.name.endswith("-FAILED")
    assert _entries(out / "2019") == [failed.name]  # nothing complete, no .tmp left
    m = read_manifest(failed)
    assert m["status"] == "failed"
    assert m["failed_notebook"] == "01-fails.ipynb"
    assert m["notebooks"][0]["status"] == "failed"
    assert m["error"]["ename"] == "ValueError"
    assert "deliberate failure in year 2019" in m["error"]["evalue"]
    text = (failed / "manifest.json").read_text(encoding="utf-8")
    assert "Traceback" not in text and "\x1b[" not in text
    assert (failed / "01-fails.ipynb").is_file()  # the executed notebook, for debugging
    problem = info.value.problems[0]
    assert problem.rule == "notebook failed" and problem.file.endswith("01-fails.ipynb")
    assert "ValueError: 일부러 실패 deliberate failure in year 2019" in str(info.value)
    with pytest.raises(ManifestError):
        verify_run(failed, tables_fn=tiny_tables, load_fn=tiny_load)


def test_bad_input_fails_fast_without_a_folder(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(DataError, match="data folder not found"):
        run_report(tmp_path / "no-data", SCHEME, out=out, notebooks=NOTEBOOKS, tables_fn=tiny_tables,
                   load_fn=tiny_load, progress=False)
    bad_scheme = tmp_path / "bad.yaml"
    bad_scheme.write_text("scheme_id: x\n", encoding="utf-8")
    with pytest.raises(SchemeError):
        run_report(_write_data(tmp_path / "data"), bad_scheme, out=out, notebooks=NOTEBOOKS,
                   tables_fn=tiny_tables, load_fn=tiny_load, progress=False)
    assert not out.exists()


def test_bad_parameters_are_rejected_before_anything_runs(tmp_path):
    data = _write_data(tmp_path / "data")
    kw = {"out": tmp_path / "out", "notebooks": NOTEBOOKS, "tables_fn": tiny_tables, "load_fn": tiny_load}
    with pytest.raises(ValueError, match="half"):
        run_report(data, SCHEME, half="Q3", **kw)
    with pytest.raises(ValueError, match="lang"):
        run_report(data, SCHEME, lang="fr", **kw)
    with pytest.raises(ValueError, match="notebook"):
        run_report(data, SCHEME, **{**kw, "notebooks": [tmp_path / "missing.ipynb"]})
    with pytest.raises(ValueError, match="unique"):
        run_report(data, SCHEME, **{**kw, "notebooks": [NOTEBOOKS[0], NOTEBOOKS[0]]})
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("error", [KeyboardInterrupt, ZeroDivisionError])
def test_interrupt_or_crash_never_looks_complete(tmp_path, error):
    def exploding_tables(data_path, scheme_path, year, half):
        raise error("stop")

    out = tmp_path / "out"
    third = tmp_path / "03-gamma.ipynb"  # more notebooks than run at once (NOTEBOOK_WORKERS)
    shutil.copy2(NOTEBOOKS[1], third)
    with pytest.raises(error):
        run_report(_write_data(tmp_path / "data"), SCHEME, out=out, notebooks=[*NOTEBOOKS, third],
                   tables_fn=exploding_tables, load_fn=tiny_load, progress=False)
    (name,) = _entries(out / "2019")
    assert name.endswith("-FAILED")
    m = read_manifest(out / "2019" / name)
    assert m["status"] == "failed" and m["error"]["ename"] == error.__name__
    assert m["error"]["type"] == ("interrupted" if error is KeyboardInterrupt else "exception")
    # the tables are computed while the notebooks run: the failure stops the run after the
    # notebooks that were running, which are not blamed for it; no further notebook starts
    assert m.get("failed_notebook") is None
    assert all(n["status"] in ("ok", "not run") for n in m["notebooks"])
    assert m["notebooks"][-1]["status"] == "not run"


def test_sigterm_marks_the_run_failed(tmp_path):
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signal handlers can only be installed from the main thread")

    def terminated_tables(data_path, scheme_path, year, half):
        os.kill(os.getpid(), signal.SIGTERM)  # as `kill PID` would; the handler raises
        raise AssertionError("SIGTERM was not turned into an interrupt")

    out = tmp_path / "out"
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt, match="signal 15"):
        run_report(_write_data(tmp_path / "data"), SCHEME, out=out, notebooks=NOTEBOOKS,
                   tables_fn=terminated_tables, load_fn=tiny_load, progress=False)
    assert signal.getsignal(signal.SIGTERM) is before  # handler restored
    (name,) = _entries(out / "2019")
    assert name.endswith("-FAILED")
    assert read_manifest(out / "2019" / name)["error"]["type"] == "interrupted"


def test_kernel_liveness_check_raises_after_a_stop_signal():
    # nbclient asks the kernel manager every second whether the kernel lives while a cell runs:
    # after a stop signal that check ends the cell even if the first KeyboardInterrupt was lost
    stop = folder.StopSignals()
    km = pipeline._quiet_kernel_manager(stop)(kernel_name="python3")
    assert asyncio.run(km.is_alive()) is False  # no kernel started
    stop.received = signal.SIGTERM
    with pytest.raises(KeyboardInterrupt, match="signal 15"):
        asyncio.run(km.is_alive())


def test_tables_fn_must_return_frames(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(ValueError, match="tables_fn must return"):
        run_report(_write_data(tmp_path / "data"), SCHEME, out=out, notebooks=NOTEBOOKS,
                   tables_fn=lambda *a: {"x": [1, 2]}, load_fn=tiny_load, progress=False)
    assert [n for n in _entries(out / "2019") if not n.endswith("-FAILED")] == []


# --- helpers --------------------------------------------------------------------------------


def test_default_notebooks_numbered_sorted_without_dashboards(tmp_path):
    nb = tmp_path / "notebooks"
    nb.mkdir()
    for name in ("02-b.ipynb", "01-a.ipynb", "05-dashboard.ipynb", "x-c.ipynb", "3-d.ipynb", "10-e.ipynb",
                 "04-f.py"):
        (nb / name).write_text("{}", encoding="utf-8")
    assert [p.name for p in default_notebooks(tmp_path)] == ["01-a.ipynb", "02-b.ipynb", "10-e.ipynb"]


def test_print_pdf_skips_without_chromium(tmp_path):
    html = tmp_path / "r.html"
    html.write_text("<p>x</p>", encoding="utf-8")
    status = print_pdf(html, tmp_path / "r.pdf", chromium=str(tmp_path / "no-chromium"))
    assert status == "skipped: chromium not found"
    assert not (tmp_path / "r.pdf").exists()


def test_load_callable():
    assert load_callable("bsc_lib.present.export:table_sha256").__name__ == "table_sha256"
    for bad in ("no_colon", "bsc_lib.present.export:missing", "no.such.module:f", "bsc_lib.present.export:FORMULA_PREFIXES"):
        with pytest.raises(ValueError):
            load_callable(bad)




@pytest.mark.skipif(os.name != "posix", reason="ipc transport is POSIX-only; Windows keeps TCP")
def test_kernels_talk_over_unix_sockets_not_tcp_ports(tmp_path):
    # Two runs started at once could pick the same free TCP port and one kernel died before
    # replying (seen in CI); Unix sockets named after the connection file cannot collide.
    import nbformat

    from bsc_lib.runs.pipeline import _execute

    probe = tmp_path / "transport.json"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        "import json, pathlib\nfrom ipykernel.connect import get_connection_info\n"
        f"pathlib.Path({str(probe)!r}).write_text(get_connection_info())")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    src = tmp_path / "probe.ipynb"
    nbformat.write(nb, src)
    _execute(src, tmp_path / "probe-out.ipynb", {}, "python3")
    info = json.loads(probe.read_text(encoding="utf-8"))
    assert info["transport"] == "ipc"
    assert Path(info["ip"]).is_absolute()  # next to the connection file, not in a working folder
    assert len(info["ip"]) < 90  # a Unix socket path is limited to 107 bytes
    assert not Path(info["ip"]).parent.exists()  # the private socket folder goes with the kernel


@pytest.mark.slow
def test_year_from_the_scheme_and_analysis_settings_reach_notebooks_tables_manifest_and_verify(tmp_path):
    import nbformat

    from bsc_lib.config.analysis_params import default_analysis_path

    probe = tmp_path / "injected.json"
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('year = 0\nanalysis_path = ""')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(
        f"import json, pathlib\npathlib.Path({str(probe)!r}).write_text("
        "json.dumps({'year': year, 'analysis_path': analysis_path}))")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "01-probe.ipynb")
    scheme = tmp_path / "scheme-2018.yaml"
    scheme.write_text(SCHEME.read_text(encoding="utf-8").replace("\nyear: 2019\n", "\nyear: 2018\n"), encoding="utf-8")
    settings = tmp_path / "analysis.yaml"
    settings.write_text(default_analysis_path().read_text(encoding="utf-8"), encoding="utf-8")
    seen = []

    def tables_with_settings(data_path, scheme_path, year, half, analysis_path=None):
        seen.append(analysis_path)
        return tiny_tables(data_path, scheme_path, year, half)

    out = tmp_path / "out"
    run = run_report(_write_data(tmp_path / "data"), scheme, out=out, notebooks=[tmp_path / "01-probe.ipynb"],
                     tables_fn=tables_with_settings, load_fn=tiny_load, progress=False, pdf=False,
                     analysis_path=settings)
    assert run.parent == out / "2018"  # year=None: the scheme's year
    assert json.loads(probe.read_text(encoding="utf-8")) == {"year": 2018, "analysis_path": str(settings)}
    assert seen == [str(settings)]
    m = read_manifest(run)
    assert m["parameters"]["year"] == 2018
    assert m["analysis"] == {"path": str(settings), "sha256": hashlib.sha256(settings.read_bytes()).hexdigest()}

    assert verify_run(run, tables_fn=tables_with_settings, load_fn=tiny_load)["identical"].all()
    assert seen[-1] == str(settings)  # verify uses the recorded settings
    settings.write_text(settings.read_text(encoding="utf-8") + "# changed\n", encoding="utf-8")
    with pytest.raises(InputsChanged) as info:
        verify_run(run, tables_fn=tables_with_settings, load_fn=tiny_load)
    assert [p.message for p in info.value.problems] == ["analysis settings changed since the run"]


@pytest.mark.slow
def test_na_as_missing_setting_reaches_loader_kernels_tables_manifest_and_verify(tmp_path):
    """input.na_as_missing of the analysis settings: the run's own load, the notebook kernels and
    the tables all read Excel's #N/A as missing; the manifest records it with the reader's notices;
    verify reads the data the same way. Without the setting the same folder fails fast."""
    import nbformat

    from bsc_lib.config.analysis_params import default_analysis_path

    data = tmp_path / "na"
    shutil.copytree(REPO / "data" / "sample" / "2019", data)
    lines = (data / "kpi_results.csv").read_text(encoding="utf-8").splitlines()
    lines[2] = lines[2].replace(",9.4,", ",#N/A,")
    lines.append("※ 자료: 성과평가팀,,,,,")
    (data / "kpi_results.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    probe = tmp_path / "kernel.json"
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('data_path = ""')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(
        "import json, pathlib, bsc_lib\nd = bsc_lib.load(data_path)\n"
        f"pathlib.Path({str(probe)!r}).write_text(json.dumps(int(d.kpi_results['actual'].isna().sum())))")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "01-probe.ipynb")

    def na_tables(data_path, scheme_path, year, half):
        from bsc_lib.data.io import load

        d = load(data_path)
        return {"missing": pd.DataFrame({"missing_actuals": [int(d.kpi_results["actual"].isna().sum())]})}

    text = default_analysis_path().read_text(encoding="utf-8")
    settings = tmp_path / "analysis.yaml"
    settings.write_text(text.replace("na_as_missing: false", "na_as_missing: true"), encoding="utf-8")
    with pytest.raises(DataError) as info:  # the default settings: #N/A is a problem, no folder
        run_report(data, SCHEME, out=tmp_path / "out", notebooks=[tmp_path / "01-probe.ipynb"],
                   tables_fn=na_tables, progress=False, pdf=False)
    assert [(p.row, p.column, p.rule) for p in info.value.problems] == [(3, "actual", "formula error")]
    assert not (tmp_path / "out").exists()
    run = run_report(data, SCHEME, out=tmp_path / "out", notebooks=[tmp_path / "01-probe.ipynb"],
                     tables_fn=na_tables, progress=False, pdf=False, analysis_path=settings)
    baseline = int(pd.read_csv(REPO / "data" / "sample" / "2019" / "kpi_results.csv")["actual"].isna().sum())
    assert json.loads(probe.read_text(encoding="utf-8")) == baseline + 1
    m = read_manifest(run)
    assert m["inputs"]["na_as_missing"] is True
    assert [(n["file"], n["row"], n["rule"]) for n in m["inputs"]["notices"]] == [
        ("kpi_results.csv", len(lines), "skipped row")]
    assert pd.read_csv(run / "tables" / "missing.csv")["missing_actuals"].tolist() == [baseline + 1]
    assert os.environ.get("BSC_NA_AS_MISSING") is None  # the run leaves the environment as it found it
    assert verify_run(run, tables_fn=na_tables)["identical"].all()


@pytest.mark.parametrize("na", [False, True])
def test_report_and_validate_agree_on_the_na_catalogue_case_and_leave_no_manifest(tmp_path, na, capsys):
    """The catalogue's #N/A case: ``bsc validate`` (option or settings) and ``bsc report`` report
    the same problems under the same ``input.na_as_missing``; no run folder is made."""
    from bsc_lib.config.analysis_params import default_analysis_path
    from bsc_lib.data.validate import validate

    case = REPO / "tests" / "bad_inputs" / "cases" / "xlsx_formula_na_lookup.xlsx"
    settings = tmp_path / "analysis.yaml"
    settings.write_text(default_analysis_path().read_text(encoding="utf-8").replace(
        "na_as_missing: false", f"na_as_missing: {str(na).lower()}"), encoding="utf-8")
    expected = validate(case, na_as_missing=na)
    assert [p.rule for p in expected] == (["missing value"] if na else ["formula error", "formula error"])
    with pytest.raises(DataError) as info:
        run_report(case, SCHEME, out=tmp_path / "out", notebooks=NOTEBOOKS, tables_fn=tiny_tables,
                   progress=False, pdf=False, analysis_path=settings)
    assert info.value.problems == expected
    assert not (tmp_path / "out").exists()
    assert cli_main(["validate", "--analysis", str(settings), str(case)]) == 2
    err = capsys.readouterr().err
    assert all(p.message in err for p in expected)
