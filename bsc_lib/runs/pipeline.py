"""The report pipeline: one run folder per ``bsc report``, written atomically, verifiable.

:func:`run_report` loads and validates the inputs, computes the result tables in-process,
executes the analysis notebooks with papermill, and writes into
``<out>/<year>/<YYYYmmddTHHMMSS>-<key>/``::

    01-validate.ipynb …     the executed notebooks (numbered names kept)
    report.html             one self-contained offline report (:mod:`bsc_lib.present.report_html`)
    report.pdf              printed from report.html by headless Chromium (when installed)
    results.xlsx            the result tables, one formatted sheet each (:mod:`bsc_lib.present.export`)
    tables/<name>.csv       the same tables as CSV (UTF-8 with BOM)
    manifest.json           parameters, input and scheme hashes, versions, table hashes

The folder is built as ``.tmp-<name>-<pid>-<random>`` and renamed to its final name only
when everything succeeded; a failed run is renamed ``<name>-FAILED`` with a manifest saying
why. :func:`verify_run` recomputes the tables of a finished run and compares their hashes.
The timestamp in the folder name and the manifest times are UTC.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import inspect
import json
import logging
import numbers
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from papermill.exceptions import PapermillExecutionError
from tqdm.auto import tqdm

from bsc_lib import allocator
from bsc_lib.config.analysis_params import default_analysis_path, load_analysis_params
from bsc_lib.config.paths import resolve
from bsc_lib.config.scheme import load_scheme
from bsc_lib.data.io.loader import NA_AS_MISSING_ENV
from bsc_lib.data.io.shared import share_inputs
from bsc_lib.errors import BSCError, DataError, Problem
from bsc_lib.parallel import usable_cpus
from bsc_lib.present.export import table_summary, write_csvs, write_results_xlsx
from bsc_lib.present.report_html import build_report_html, external_references
from bsc_lib.runs import folder

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
#: Version of the manifest layout; bump when keys change meaning.
MANIFEST_SCHEMA_VERSION = 1
MANIFEST_NAME = "manifest.json"
#: Plotly renderer of the notebook kernels: the JSON mimetype (used by report.html) plus
#: the offline notebook renderer (so the executed .ipynb also shows charts in Jupyter).
PLOTLY_RENDERER = "plotly_mimetype"  # JSON only: report_html inlines plotly.js once; keeps executed notebooks small
#: Where Chromium is looked for first (Debian package); then ``chromium`` on PATH.
CHROMIUM = "/usr/bin/chromium"
PDF_TIMEOUT_S = 120
#: Notebooks executed at once (each in its own kernel); at most the number of CPUs.
NOTEBOOK_WORKERS = 2
HALVES = ("year", "H1", "H2")
LANGS = ("ko", "en")

#: ``tables_fn(data_path, scheme_path, year, half[, analysis_path=…])``; ``analysis_path`` is passed
#: only to functions whose signature has that keyword (or ``**kwargs``).
TablesFn = Callable[..., Mapping[str, pd.DataFrame]]
LoadFn = Callable[..., object]


class RunFailed(BSCError):
    """A report run failed (a notebook raised, or the run was interrupted).

    Attributes
    ----------
    run_dir
        The ``…-FAILED`` folder holding the partial outputs and ``manifest.json``.
    """

    def __init__(self, problems: list[Problem] | str, run_dir: Path | None = None):
        super().__init__(problems)
        self.run_dir = run_dir


#: The run folder cannot be created or written (:class:`bsc_lib.runs.folder.OutputError`).
OutputError = folder.OutputError


class ManifestError(BSCError):
    """A run folder has no readable ``manifest.json`` or the run did not complete."""


class InputsChanged(BSCError):
    """The data or scheme files differ from those recorded in a run's manifest."""


# ---------------------------------------------------------------------------------------------
# defaults (imported lazily: the modules may not exist while the package is being built)


def default_notebooks(root: str | Path | None = None, compare: bool = False) -> list[Path]:
    """The report notebooks: ``<root>/notebooks/NN-*.ipynb``, sorted, without dashboards.

    Parameters
    ----------
    root
        A folder holding ``notebooks/`` (default: :func:`bsc_lib.config.paths.notebooks_dir`, the
        repository's notebooks or, when installed, the packaged copies).

    Returns
    -------
    list of pathlib.Path
        Sorted by file name; names containing ``dashboard`` are excluded.
    """
    from bsc_lib.config.paths import notebooks_dir

    folder = Path(root) / "notebooks" if root else notebooks_dir()
    found = [p for p in folder.glob("[0-9][0-9]-*.ipynb") if "dashboard" not in p.name.lower()
             and ("compare" not in p.name.lower() or compare)]  # the scheme comparison only with --compare-scheme
    return sorted(found, key=lambda p: p.name)


def default_tables_fn(data_path: str, scheme_path: str, year: int, half: str,
                      analysis_path: str | None = None, shared_dir: str | None = None,
                      data=None) -> Mapping[str, pd.DataFrame]:
    """The production result tables: :func:`bsc_lib.analyses.recipes.result_tables` (which also
    shares every table with the notebooks through ``shared_dir``, when given; ``data``: the
    inputs already loaded from ``data_path``, not loaded again)."""
    from bsc_lib.analyses.recipes import result_tables

    return _call_tables(result_tables, data_path, scheme_path, year, half, analysis_path, shared_dir, data)


def _accepts_keyword(fn: Callable, name: str) -> bool:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return any((p.name == name and p.kind != p.POSITIONAL_ONLY) or p.kind == p.VAR_KEYWORD for p in params)


def _accepts_analysis_path(fn: Callable) -> bool:
    return _accepts_keyword(fn, "analysis_path")


def _call_tables(fn: Callable, data_path: str, scheme_path: str, year: int, half: str,
                 analysis_path: str | None, shared_dir: str | None = None, data=None):
    """``fn(data_path, scheme_path, year, half)``, plus ``analysis_path=``, ``shared_dir=`` and
    ``data=`` (the inputs already loaded from ``data_path``) when given and ``fn`` takes them."""
    kw = {}
    if analysis_path is not None and _accepts_analysis_path(fn):
        kw["analysis_path"] = analysis_path
    if shared_dir is not None and _accepts_keyword(fn, "shared_dir"):
        kw["shared_dir"] = shared_dir
    if data is not None and _accepts_keyword(fn, "data"):
        kw["data"] = data
    return fn(data_path, scheme_path, year, half, **kw)


def default_load_fn(data_path, scheme):
    """The production loader: :func:`bsc_lib.data.io.load` (returns a validated ``BSCData``)."""
    from bsc_lib.data.io import load

    return load(data_path, scheme=scheme)


def load_callable(spec: str) -> Callable:
    """Import ``"package.module:function"`` and return the function.

    Raises
    ------
    ValueError
        When ``spec`` is malformed, the module cannot be imported or lacks the attribute.
    """
    mod_name, sep, attr = str(spec).partition(":")
    if not sep or not mod_name or not attr:
        raise ValueError(f"expected 'module:function', got {spec!r}")
    try:
        obj = importlib.import_module(mod_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"cannot load {spec!r}: {exc}") from None
    if not callable(obj):
        raise ValueError(f"{spec!r} is not callable")
    return obj


# ---------------------------------------------------------------------------------------------
# small helpers


@contextlib.contextmanager
def _environ(**values: str) -> Iterator[None]:
    """Set environment variables (inherited by the notebook kernels) for the block."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v




# ---------------------------------------------------------------------------------------------
# PDF


def find_chromium() -> str | None:
    """Path of a Chromium executable (:data:`CHROMIUM` first, then PATH), or ``None``."""
    if Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


def print_pdf(html_path: str | Path, pdf_path: str | Path, *, chromium: str | None = None,
              timeout: float = PDF_TIMEOUT_S) -> str:
    """Print an HTML file to PDF with headless Chromium (no network, throw-away profile).

    Parameters
    ----------
    html_path, pdf_path
        Input HTML file and output PDF file.
    chromium
        Chromium executable; default :func:`find_chromium`.
    timeout
        Seconds before Chromium is killed.

    Returns
    -------
    str
        ``"ok"``, ``"skipped: chromium not found"`` or ``"failed: <reason>"``; never raises
        for a Chromium problem (the HTML report is the primary output).
    """
    exe = chromium if chromium is not None else find_chromium()
    if not exe or not Path(exe).is_file():
        log.warning("PDF skipped: chromium not found (run `make system-deps` to install it)")
        return "skipped: chromium not found"
    html_path, pdf_path = Path(html_path).resolve(), Path(pdf_path).resolve()
    with tempfile.TemporaryDirectory(prefix="bsc-chromium-") as profile:
        cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run",
               "--no-default-browser-check", "--disable-extensions", f"--user-data-dir={profile}",
               "--no-pdf-header-footer", "--virtual-time-budget=20000",
               f"--print-to-pdf={pdf_path}", html_path.as_uri()]
        try:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE, start_new_session=True)
        except OSError as exc:
            return f"failed: cannot start chromium: {exc}"
        try:
            _, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # the session we started, nothing else
            proc.communicate()
            log.warning("PDF failed: chromium timed out after %s s", timeout)
            return f"failed: timeout after {timeout:g} s"
    ok = pdf_path.is_file() and pdf_path.stat().st_size > 0 and pdf_path.read_bytes()[:5] == b"%PDF-"
    if proc.returncode != 0 or not ok:
        last = folder.clean_text(err.decode("utf-8", "replace").strip().splitlines()[-1:] or [""], 300)
        log.warning("PDF failed: chromium exit code %s %s", proc.returncode, last)
        return f"failed: chromium exit code {proc.returncode}"
    return "ok"


# ---------------------------------------------------------------------------------------------
# the run


def _check_tables(tables: object) -> dict[str, pd.DataFrame]:
    if not isinstance(tables, Mapping) or not all(isinstance(v, pd.DataFrame) for v in tables.values()):
        raise ValueError("tables_fn must return a mapping {name: DataFrame}")
    return dict(tables)


def _title(year: int, half: str, lang: str, scheme) -> tuple[str, str]:
    from bsc_lib.present.labels import label

    period = "" if half == "year" else f" {label(half, lang)}"
    if lang == "ko":
        return f"{year}년{period} BSC 성과평가 보고서", scheme.title_ko
    return f"{year}{period} BSC performance evaluation report", scheme.title_en


def _meta_rows(manifest: Mapping, scheme, lang: str) -> list[tuple[str, str]]:
    from bsc_lib.present.labels import label

    p = manifest["parameters"]
    inputs = manifest["inputs"]["files"]
    combined = hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:12]
    rows = {
        "ko": [("평가연도", str(p["year"])), ("평가기간", label(p["half"], "ko")),
               ("평가체계", f"{scheme.title_ko} ({scheme.scheme_id})"),
               ("자료", Path(p["data_path"]).name), ("입력 파일", f"{len(inputs)}개 (해시 {combined})"),
               ("실행 ID", manifest["run_id"]), ("생성 시각 (UTC)", manifest["started_at"])],
        "en": [("Year", str(p["year"])), ("Period", label(p["half"], "en")),
               ("Scheme", f"{scheme.title_en} ({scheme.scheme_id})"),
               ("Data", Path(p["data_path"]).name), ("Input files", f"{len(inputs)} (hash {combined})"),
               ("Run id", manifest["run_id"]), ("Generated (UTC)", manifest["started_at"])],
    }
    return rows[lang]


class _TablesJob(threading.Thread):
    """``tables_fn`` plus the xlsx and CSV exports of its tables, in a background thread."""

    def __init__(self, tfn: TablesFn, data_file: str, scheme_file: str, year: int, half: str, tmp: Path,
                 lang: str, analysis_file: str | None = None, shared_dir: str | None = None, data=None):
        super().__init__(name="bsc-tables", daemon=True)
        self._args = (tfn, data_file, scheme_file, year, half, tmp, lang, analysis_file)
        self.shared_dir = shared_dir
        self._data = data  # the inputs the run validated (loaded once), handed to tfn and then dropped
        self._tables: Mapping[str, pd.DataFrame] | None = None
        self._error: BaseException | None = None

    def run(self) -> None:
        tfn, data_file, scheme_file, year, half, tmp, lang, analysis_file = self._args
        data, self._data = self._data, None
        try:
            tables = _check_tables(_call_tables(tfn, data_file, scheme_file, year, half, analysis_file,
                                                self.shared_dir, data))
            del data
            write_results_xlsx(tables, tmp / "results.xlsx", lang=lang, readme=_xlsx_readme(lang))
            write_csvs(tables, tmp / "tables")
            self._tables = tables
        except BaseException as exc:  # handed to the main thread by result()
            self._error = exc
            _abandon_shared(self.shared_dir)

    def raise_if_failed(self) -> None:
        """Raise the job's error now if it has already failed."""
        if not self.is_alive() and self._error is not None:
            raise self._error

    def result(self) -> Mapping[str, pd.DataFrame]:
        """Wait for the job; its tables, or its error raised here."""
        self.join()
        if self._error is not None:
            raise self._error
        assert self._tables is not None
        return self._tables


def _quiet_kernel_manager(stop: folder.StopSignals | None = None):
    """An ``AsyncKernelManager`` whose kernels do not write to the analyst's terminal.

    A kernel's own log (its stderr: the "running over TCP without encryption" warning, the
    tracebacks ipykernel logs while it is shut down after Ctrl-C) is not meant for the
    analyst; cell errors still reach the run through the notebook's outputs.

    With ``stop``, the liveness check nbclient makes every second while a cell runs raises
    ``KeyboardInterrupt`` once a stop signal was received: a Ctrl-C whose own exception was
    swallowed still ends the cell within a second instead of after it.
    """
    from jupyter_client import AsyncKernelManager
    from jupyter_client.localinterfaces import localhost
    from traitlets import CaselessStrEnum, default

    class QuietKernelManager(AsyncKernelManager):
        # Unix sockets (named after the kernel's connection file) instead of TCP ports: two runs
        # started at once can pick the same free port, and the kernel that loses dies before it
        # replies (papermill #511). Windows has no ipc transport and keeps TCP.
        transport = CaselessStrEnum(["tcp", "ipc"], default_value="ipc" if os.name == "posix" else "tcp",
                                    config=True)
        _ipc_dir: str | None = None

        @default("ip")
        def _private_socket_path(self) -> str:
            # jupyter_client's default for ipc is "kernel-ipc" in the working folder, where two
            # runs collide again; a private folder per kernel, short enough for a socket path
            if self.transport != "ipc":
                return localhost()
            self._ipc_dir = tempfile.mkdtemp(prefix="bsc-kernel-")
            return os.path.join(self._ipc_dir, "k")

        async def _async_cleanup_resources(self, restart: bool = False) -> None:
            await super()._async_cleanup_resources(restart=restart)
            if not restart and self._ipc_dir:
                shutil.rmtree(self._ipc_dir, ignore_errors=True)

        async def start_kernel(self, **kw):
            from bsc_lib.config.paths import base_dir

            kw.setdefault("stderr", subprocess.DEVNULL)
            # the kernel's working folder, given to the kernel alone: papermill's cwd= changes the
            # working folder of the whole process, which two notebooks run at once would race for
            kw.setdefault("cwd", str(base_dir()))
            kw["env"] = allocator.child_env(kw.get("env"))  # the C allocator settings of bsc_lib.allocator
            return await super().start_kernel(**kw)

        async def _async_is_alive(self) -> bool:
            if stop is not None:
                stop.raise_if_received()
            return await super()._async_is_alive()

        # nbclient's liveness check asks the client, which asks its manager's _async_is_alive
        # (jupyter_client: AsyncKernelManager.is_alive is the same function): both names stop
        is_alive = _async_is_alive

    return QuietKernelManager


#: What the notebook threads import on their first call (papermill's engines and translators,
#: nbclient, jupyter_client's kernel manager, IPython). Imported once in the main thread before
#: any thread starts: two threads importing the same package at once can hit Python's import
#: deadlock detection ("deadlock detected by _ModuleLock('IPython.testing.skipdoctest')").
THREAD_IMPORTS = ("IPython", "IPython.testing.skipdoctest", "nbformat", "nbclient", "jupyter_client",
                  "jupyter_client.manager", "jupyter_client.localinterfaces", "papermill", "papermill.execute",
                  "papermill.engines", "papermill.translators", "papermill.iorw", "papermill.parameterize")


def _tables_target(tfn: TablesFn) -> Callable:
    """The function that really makes the tables: ``tfn``, or for :func:`default_tables_fn` the
    production :func:`bsc_lib.analyses.recipes.result_tables` it calls."""
    if tfn is default_tables_fn:
        return importlib.import_module("bsc_lib.analyses.recipes").result_tables
    return tfn


def _import_before_threads(tfn: TablesFn) -> None:
    """Import in the main thread what the tables thread and the notebook threads would import
    concurrently: :data:`THREAD_IMPORTS` and the module of the tables function."""
    for name in THREAD_IMPORTS:
        with contextlib.suppress(ImportError):  # a name moved in another release: not needed
            importlib.import_module(name)
    module = getattr(_tables_target(tfn), "__module__", None)
    if module:
        with contextlib.suppress(ImportError):
            importlib.import_module(module)


def _execute(nb_path: Path, out_path: Path, parameters: Mapping, kernel_name: str,
             stop: folder.StopSignals | None = None):
    """Execute one notebook with papermill (safe to call from several threads at once)."""
    import papermill as pm

    return pm.execute_notebook(
        str(nb_path), str(out_path), parameters=dict(parameters), kernel_name=kernel_name,
        progress_bar=False, log_output=False,
        request_save_on_cell_execute=False, kernel_manager_class=_quiet_kernel_manager(stop),
    )


def run_report(
    data_path: str | Path,
    scheme_path: str | Path,
    year: int | None = None,
    half: str = "year",
    lang: str = "ko",
    out: str | Path = "outputs",
    notebooks: Sequence[str | Path] | None = None,
    tables_fn: TablesFn | None = None,
    progress: bool = True,
    kernel_name: str = "python3",
    pdf: bool = True,
    *,
    load_fn: LoadFn | None = None,
    analysis_path: str | Path | None = None,
    compare_scheme_path: str | Path | None = None,
    notes: str | Path | None = None,
) -> Path:
    """Run the whole report into a new run folder and return its path.

    Parameters
    ----------
    data_path
        CSV folder or xlsx workbook (see :mod:`bsc_lib.data.model`).
    scheme_path
        Scheme YAML, e.g. ``params/scheme-2019.yaml``.
    year, half, lang
        Evaluation year (``None``: the scheme's ``year``); ``"year"``, ``"H1"`` or ``"H2"``;
        report language ``"ko"``/``"en"``. Passed to every notebook's ``parameters`` cell
        (with ``data_path``, ``scheme_path``, ``analysis_path`` as absolute paths and
        ``run_dir``, the final run folder).
    out
        Output root; the run folder is ``<out>/<year>/<UTC YYYYmmddTHHMMSS>-<key>``, where
        ``key`` is a short hash of the input hashes, the scheme hash and the parameters.
    notebooks
        Notebooks to execute, in order; default :func:`default_notebooks`.
    tables_fn
        ``tables_fn(data_path, scheme_path, year, half) -> {name: DataFrame}`` computing
        the result tables in-process; default :func:`default_tables_fn`. A function with an
        ``analysis_path`` keyword also receives the analysis settings file.
    progress
        Show a tqdm progress bar over the notebooks on stderr.
    kernel_name
        Jupyter kernel for papermill.
    pdf
        Print ``report.pdf`` with Chromium (skipped with a logged message when absent).
    load_fn
        ``load_fn(data_path, scheme=scheme) -> BSCData``, run before anything else so
        invalid input fails fast; default :func:`default_load_fn` (``bsc_lib.data.io.load``).
    analysis_path
        Analysis settings YAML; default :func:`bsc_lib.config.paths.default_analysis_path`
        (``params/analysis.yaml``). Its path and sha256 are recorded in the manifest and
        checked again by :func:`verify_run`.
    compare_scheme_path
        A second scheme: adds the scheme-comparison notebook (``09-compare``) with this scheme as
        B (:func:`bsc_lib.runs.planning.compare_hook`); ``None`` = no comparison section.
    notes
        An analyst's commentary (markdown, one ``# <section>`` heading per section, optional
        ``# unit <id>`` notes; :func:`bsc_lib.present.report_html.parse_notes`) merged into the
        report as commentary boxes. Its path and sha256 are recorded in the manifest.

    Returns
    -------
    pathlib.Path
        The completed run folder.

    Raises
    ------
    DataError, SchemeError
        Invalid input (raised before any folder is created).
    OutputError
        The run folder cannot be created under ``out`` (not a folder, read-only …) or its
        outputs cannot be written (disk full …).
    RunFailed
        A notebook failed; the folder is renamed ``…-FAILED`` with ``manifest.json``
        (status ``failed``, the notebook, the exception name and value).
    ValueError
        Bad parameters (half, lang, notebooks, tables).

    Notes
    -----
    Any other exception, ``KeyboardInterrupt`` and SIGTERM also leave a ``…-FAILED`` folder
    (or, if killed outright, a ``.tmp-…`` one): an incomplete run never has a final name.
    """
    started = folder.utcnow()
    nb_paths = _check_run_args(year, half, lang, notebooks)
    tfn = tables_fn or default_tables_fn
    inputs = _load_inputs(data_path, scheme_path, year, load_fn, analysis_path)
    na_env = {NA_AS_MISSING_ENV: "1" if inputs.na_as_missing else "0"}  # the kernels read the data the same way
    commentary, notes_info = _read_notes(notes)  # a bad notes file fails before any folder exists
    year = inputs.year
    params = {"year": year, "half": half, "lang": lang, "analysis_sha256": inputs.analysis_sha}
    compare: dict = {}
    if compare_scheme_path is not None:  # the scheme comparison section (09-compare)
        from bsc_lib.runs.planning import compare_hook

        with _environ(**na_env):
            compare = compare_hook(inputs.data_file, compare_scheme_path, notebooks, params)
    nb_paths = compare.get("notebooks", nb_paths)
    run_name = run_folder_name(started, half, lang, folder.run_key(inputs.input_hashes, inputs.scheme.sha256, params))
    year_dir = Path(out) / str(year)
    tmp = folder.new_run_folder(year_dir, run_name, out)
    log.info("run %s: working in %s", run_name, tmp)
    manifest = _new_manifest(run_name, started, inputs, half, lang, kernel_name, nb_paths, tfn)
    if notes_info:
        manifest["notes"] = notes_info
    nb_params = {"data_path": str(inputs.data_file), "scheme_path": str(inputs.scheme_file),
                 "analysis_path": str(inputs.analysis_file), "year": year, "half": half, "lang": lang,
                 "run_dir": str((year_dir / run_name).resolve()), **compare.get("nb_params", {})}
    state = _RunState()
    shared = _shared_tables_dir(tfn)
    try:
        with folder.stop_signals_as_interrupt() as state.stop, _environ(
                PLOTLY_RENDERER=PLOTLY_RENDERER, PYDEVD_DISABLE_FILE_VALIDATION="1", **_shared_env(shared), **na_env):
            # The result tables and their exports are computed in this process while the notebooks
            # run in their kernels (other processes): the two overlap instead of adding up, and
            # the kernels read the tables made here (shared) instead of making them again.
            if shared is not None and inputs.data is not None:  # the kernels read these, not the files again
                share_inputs(shared, inputs.data, inputs.data_file, inputs.scheme, inputs.na_as_missing)
            _import_before_threads(tfn)
            state.tables_job = _TablesJob(tfn, str(inputs.data_file), str(inputs.scheme_file), year, half, tmp,
                                          lang, str(inputs.analysis_file), shared, inputs.data)
            inputs.data = None  # the tables job holds the loaded inputs while it needs them
            state.tables_job.start()
            executed = _execute_notebooks(nb_paths, tmp, nb_params, kernel_name, manifest, state, progress)
            manifest["tables"] = table_summary(state.tables_job.result())
            extras = _report_extras(inputs, manifest, lang, commentary, state.tables_job.result())
            _write_report(executed, tmp, manifest, inputs.scheme, year, half, lang, pdf, extras)
            del executed
            final = _seal(tmp, manifest, year_dir / run_name)
    except BaseException as exc:
        _fail_run(exc, tmp, year_dir, run_name, manifest, state, [p.name for p in nb_paths])
        raise
    finally:
        _remove_shared(shared, state)
    log.info("run complete: %s", final)
    return final


def _xlsx_readme(lang: str) -> str:
    from bsc_lib.present.labels import ui_text

    return ui_text("report", lang)["xlsx_readme"]


def _own_params(nb_params: dict, nb_path: Path) -> dict:
    """``nb_params`` for ``nb_path``: ``compare_scheme_path`` goes to the comparison notebook only."""
    return {k: v for k, v in nb_params.items() if k != "compare_scheme_path" or "compare" in nb_path.name}


def run_folder_name(started, half: str, lang: str, key: str) -> str:
    """``<UTC YYYYmmddTHHMMSS>-<period>-<lang>-<key>``, e.g. ``20190201T090000-H1-en-1a2b3c4d``
    (period ``year``, ``H1`` or ``H2``): the folder name says which report it holds."""
    return f"{started:%Y%m%dT%H%M%S}-{half}-{lang}-{key}"


# ---------------------------------------------------------------------------------------------
# result tables shared with the notebook kernels (made once per run)


def _shared_tables_dir(tfn: TablesFn) -> str | None:
    """A private folder for the tables the run shares with its kernels, when ``tfn`` shares them
    (takes ``shared_dir``, as :func:`default_tables_fn` does); else ``None``."""
    if not _accepts_keyword(_tables_target(tfn), "shared_dir"):
        return None
    return tempfile.mkdtemp(prefix="bsc-shared-tables-")


def _shared_env(shared: str | None) -> dict[str, str]:
    """The environment naming the shared tables for the kernels (:data:`recipes.SHARED_ENV`)."""
    if shared is None:
        return {}
    from bsc_lib.analyses.recipes import SHARED_ENV

    return {SHARED_ENV: shared}


def _abandon_shared(shared: str | None) -> None:
    """Tell the kernels waiting for shared tables that none will come (the tables job failed)."""
    if shared is None:
        return
    from bsc_lib.analyses.recipes import SharedTables

    with contextlib.suppress(OSError):
        SharedTables.abandon(shared)


def _remove_shared(shared: str | None, state: _RunState) -> None:
    """Remove the shared tables (unpublished, may hold names) once nothing uses them."""
    if shared is None:
        return
    if state.tables_job is not None and state.tables_job.is_alive():
        state.tables_job.join()
    shutil.rmtree(shared, ignore_errors=True)


@dataclass
class _Inputs:
    """The checked inputs of a run (the data itself is not kept: notebooks and tables load it)."""

    scheme_file: Path
    data_file: Path
    scheme: object
    year: int
    input_hashes: dict
    analysis_file: Path
    analysis_sha: str | None
    #: ``input.na_as_missing`` of the analysis settings (Excel's ``#N/A`` read as missing)
    na_as_missing: bool = False
    #: what the reader did on its own (``Problem.as_dict()`` records), shown in the manifest and appendix
    notices: list = field(default_factory=list)
    #: the loaded inputs (production loader only), handed to the tables function
    data: object = None


@dataclass
class _RunState:
    """What the failure handler needs to know: the notebook running, the tables thread."""

    nb_index: int | None = None
    tables_job: _TablesJob | None = None
    stop: folder.StopSignals = field(default_factory=folder.StopSignals)
    #: The threads executing notebooks at once (:func:`_execute_notebooks_parallel`).
    notebook_pool: object | None = None


def _check_run_args(year, half: str, lang: str, notebooks) -> list[Path]:
    """Validate the parameters and the notebook list (before anything is loaded)."""
    if half not in HALVES:
        raise ValueError(f"half must be one of {HALVES}, got {half!r}")
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {LANGS}, got {lang!r}")
    if year is not None and (isinstance(year, bool) or not isinstance(year, numbers.Integral)):
        raise ValueError(f"year must be an integer, got {year!r}")
    nb_paths = [Path(p) for p in (default_notebooks() if notebooks is None else notebooks)]
    if not nb_paths:
        from bsc_lib.config.paths import notebooks_dir

        raise ValueError(f"no notebooks to run (looked for {notebooks_dir()}/NN-*.ipynb)")
    missing = [str(p) for p in nb_paths if not p.is_file()]
    if missing:
        raise ValueError(f"notebook(s) not found: {', '.join(missing)}")
    names = [p.name for p in nb_paths]
    if len(set(names)) != len(names) or any(n == MANIFEST_NAME for n in names):
        raise ValueError(f"notebook file names must be unique: {names}")
    return nb_paths


def _load_inputs(data_path, scheme_path, year, load_fn, analysis_path) -> _Inputs:
    """Load the scheme, the data (for its input hashes) and the analysis settings; any problem
    is raised here, before a run folder exists."""
    scheme_file = resolve(scheme_path)
    data_file = resolve(data_path)
    scheme = load_scheme(scheme_file)
    year = int(scheme.year if year is None else year)
    analysis_file = default_analysis_path() if analysis_path is None else resolve(analysis_path)
    settings = load_analysis_params(analysis_file)  # invalid settings fail before any folder is created
    na = bool(settings.input.na_as_missing)
    with _environ(**{NA_AS_MISSING_ENV: "1" if na else "0"}):
        data = (load_fn or default_load_fn)(data_file, scheme=scheme)
    input_hashes = dict(getattr(data, "input_hashes", None) or {})
    notices = [{**n.as_dict(), "file": Path(n.file).name} for n in (getattr(data, "notices", None) or [])]
    analysis_sha = folder.sha256_file(analysis_file) if analysis_file.is_file() else None
    # the production loader's data is what the tables function would load again: handed to it
    # (loaded once); data from another load_fn is not (the tables function loads for itself)
    keep = data if load_fn is None else None
    return _Inputs(scheme_file, data_file, scheme, year, input_hashes, analysis_file, analysis_sha, na, notices,
                   keep)


def _new_manifest(run_name: str, started, inputs: _Inputs, half: str, lang: str, kernel_name: str,
                  nb_paths: list[Path], tfn: TablesFn) -> dict:
    """The manifest of a run that has started (status ``running``)."""
    return {
        "schema_version": MANIFEST_SCHEMA_VERSION,
        "run_id": run_name,
        "status": "running",
        "started_at": folder.iso(started),
        "finished_at": None,
        "parameters": {"data_path": folder.portable(inputs.data_file),
                       "scheme_path": folder.portable(inputs.scheme_file),
                       "year": inputs.year, "half": half, "lang": lang, "kernel_name": kernel_name},
        "inputs": {"data_path": folder.portable(inputs.data_file), "files": dict(sorted(inputs.input_hashes.items())),
                   "na_as_missing": inputs.na_as_missing, "notices": inputs.notices},
        "scheme": {"path": folder.portable(inputs.scheme_file), "sha256": inputs.scheme.sha256,
                   "scheme_id": inputs.scheme.scheme_id},
        "analysis": {"path": folder.portable(inputs.analysis_file), "sha256": inputs.analysis_sha},
        "notebooks": [{"name": p.name, "status": "not run", "duration_s": None} for p in nb_paths],
        "tables_fn": folder.qualname(tfn),
        "tables": {},
        "pdf": None,
        "packages": folder.package_versions(),
        "git": folder.git_state(),
        "plotly_renderer": PLOTLY_RENDERER,
    }


def _notebook_workers(n_notebooks: int) -> int:
    """Notebooks to execute at once: :data:`NOTEBOOK_WORKERS`, at most the CPUs and the notebooks."""
    return max(1, min(NOTEBOOK_WORKERS, usable_cpus(), n_notebooks))


def _execute_notebooks(nb_paths: list[Path], tmp: Path, nb_params: dict, kernel_name: str, manifest: dict,
                       state: _RunState, progress: bool) -> list:
    """Execute the notebooks into the run folder, :func:`_notebook_workers` at a time."""
    if _notebook_workers(len(nb_paths)) > 1:
        return _execute_notebooks_parallel(nb_paths, tmp, nb_params, kernel_name, manifest, state, progress,
                                           _notebook_workers(len(nb_paths)))
    return _execute_notebooks_in_turn(nb_paths, tmp, nb_params, kernel_name, manifest, state, progress)


def _execute_notebooks_in_turn(nb_paths: list[Path], tmp: Path, nb_params: dict, kernel_name: str,
                               manifest: dict, state: _RunState, progress: bool) -> list:
    """Execute the notebooks in order into the run folder; a failing tables thread stops the run."""
    executed = []
    bar = tqdm(nb_paths, desc="notebooks", unit="nb", file=sys.stderr, disable=not progress, dynamic_ncols=True)
    for i, nb_path in enumerate(bar):
        state.nb_index = i
        bar.set_postfix_str(nb_path.name)
        log.info("executing %s", nb_path.name)
        t0 = time.monotonic()
        entry = manifest["notebooks"][i]
        try:
            nb = _execute(nb_path, tmp / nb_path.name, _own_params(nb_params, nb_path), kernel_name, state.stop)
        finally:
            entry["duration_s"] = round(time.monotonic() - t0, 3)
        entry["status"] = "ok"
        executed.append((nb_path.name, nb))
        state.nb_index = None
        state.stop.raise_if_received()  # a stop signal whose KeyboardInterrupt was swallowed
        state.tables_job.raise_if_failed()  # a broken tables_fn stops the run at once
    bar.close()
    state.nb_index = None
    return executed


def _read_notes(notes: str | Path | None) -> tuple[dict[str, str], dict]:
    """The commentary file parsed into ``{key: markdown}``, and ``{path, sha256}`` for the manifest."""
    if notes is None:
        return {}, {}
    path = resolve(notes)
    if not path.is_file():
        raise DataError([Problem(file=str(path), rule="exists", message="notes file not found")])
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise DataError([Problem(file=str(path), rule="encoding", message="notes file is not UTF-8 text")]) from None
    from bsc_lib.present.report_html import parse_notes

    return parse_notes(text), {"path": str(path), "sha256": folder.sha256_file(path)}


def is_embedded_sample(data_file: Path) -> bool:
    """Whether ``data_file`` is the embedded synthetic sample (``data/sample/<year>`` next to its
    ``planted-<year>.json`` ground truth): its report carries a "synthetic data" watermark."""
    p = Path(data_file)
    return p.is_dir() and (p.parent / f"planted-{p.name}.json").is_file()


def _report_extras(inputs, manifest: dict, lang: str, commentary: dict, tables: Mapping) -> dict:
    """Print header/footer, classification mark, watermark, commentary and unit names of report.html."""
    from bsc_lib.present.labels import ui_text

    text = ui_text("report", lang)
    rep = load_analysis_params(inputs.analysis_file).report
    names: dict[str, str] = {}
    for name, key in (("institutional", "institution_id"), ("departments", "department_id")):
        t = tables.get(name)
        if t is not None and key in t:
            col = "name_en" if lang == "en" and "name_en" in t else "name_ko"
            names.update(dict(zip(t[key], t[col].fillna(t["name_ko"]), strict=True)))
    return {"print_footer": text["footer"].format(run_id=manifest["run_id"]),
            "classification": rep.classification_ko if lang == "ko" else rep.classification_en,
            "watermark": text["watermark"] if is_embedded_sample(inputs.data_file) else "",
            "commentary": commentary, "unit_names": names}


def _execute_notebooks_parallel(nb_paths: list[Path], tmp: Path, nb_params: dict, kernel_name: str,
                                manifest: dict, state: _RunState, progress: bool, workers: int) -> list:
    """Execute the notebooks ``workers`` at a time, each in its own kernel, started in file order.

    The report notebooks are independent (each reads the inputs and the result tables, and
    writes only its own executed copy), so on two cores two of them overlap. A notebook that
    fails, a failing tables thread or a stop signal starts no further notebook; the notebooks
    still running end first (after a stop signal within a second: their kernel manager's
    liveness check raises). Returns ``[(name, executed notebook), …]`` in file order.
    """
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

    done_nbs: dict[int, object] = {}
    started: dict[object, tuple[int, float]] = {}
    bar = tqdm(total=len(nb_paths), desc="notebooks", unit="nb", file=sys.stderr, disable=not progress,
               dynamic_ncols=True)
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="bsc-notebook")
    state.notebook_pool = pool
    pending = list(enumerate(nb_paths))
    failure: BaseException | None = None
    shown = ""
    try:
        while pending or started:
            while pending and len(started) < workers and failure is None:
                state.stop.raise_if_received()
                state.tables_job.raise_if_failed()
                i, nb_path = pending.pop(0)
                log.info("executing %s", nb_path.name)
                fut = pool.submit(_execute, nb_path, tmp / nb_path.name, _own_params(nb_params, nb_path), kernel_name,
                                  state.stop)
                started[fut] = (i, time.monotonic())
            running = ", ".join(nb_paths[i].name for i, _ in sorted(started.values()))
            if running != shown:
                bar.set_postfix_str(running)
                shown = running
            finished, _ = wait(list(started), timeout=0.5, return_when=FIRST_COMPLETED)
            for fut in sorted(finished, key=lambda f: started[f][0]):
                i, t0 = started.pop(fut)
                entry = manifest["notebooks"][i]
                entry["duration_s"] = round(time.monotonic() - t0, 3)
                if fut.exception() is None:
                    entry["status"] = "ok"
                    done_nbs[i] = fut.result()
                    bar.update(1)
                elif failure is None:
                    failure, state.nb_index = fut.exception(), i
                else:
                    entry["status"] = "failed"
            if failure is not None and not started:
                raise failure
    finally:
        # notebooks still executing end first (after a stop signal within a second): the run
        # folder is renamed only when nothing writes into it any more
        pool.shutdown(wait=True)
        state.notebook_pool = None
        for fut, (i, t0) in sorted(started.items(), key=lambda kv: kv[1][0]):
            entry = manifest["notebooks"][i]
            entry["duration_s"] = round(time.monotonic() - t0, 3)
            entry["status"] = "ok" if fut.exception() is None else "failed"
            if fut.exception() is not None and state.nb_index is None:
                state.nb_index = i
        bar.close()
    state.stop.raise_if_received()
    state.tables_job.raise_if_failed()
    return [(nb_paths[i].name, done_nbs[i]) for i in sorted(done_nbs)]


def _write_report(executed: list, tmp: Path, manifest: dict, scheme, year: int, half: str, lang: str,
                  pdf: bool, extras: Mapping | None = None) -> None:
    """``report.html`` (offline, checked for outside references) and ``report.pdf``."""
    title, subtitle = _title(year, half, lang, scheme)
    document = build_report_html(executed, title=title, subtitle=subtitle,
                                 meta=_meta_rows(manifest, scheme, lang), lang=lang,
                                 print_header=title, **dict(extras or {}))
    leaks = external_references(document)
    if leaks:  # build_report_html sanitises; this is a last check, never expected
        raise RuntimeError(f"report.html would load external resources: {leaks[:3]}")
    (tmp / "report.html").write_text(document, encoding="utf-8")
    manifest["pdf"] = print_pdf(tmp / "report.html", tmp / "report.pdf") if pdf else "skipped: disabled"


def _seal(tmp: Path, manifest: dict, final_name: Path) -> Path:
    """Record every output's size and hash, mark the run complete and give it its final name."""
    manifest["outputs"] = {
        p.relative_to(tmp).as_posix(): {"bytes": p.stat().st_size, "sha256": folder.sha256_file(p)}
        for p in sorted(tmp.rglob("*")) if p.is_file() and p.name != MANIFEST_NAME
    }
    manifest["status"] = "complete"
    manifest["finished_at"] = folder.iso(folder.utcnow())
    folder.write_json(tmp / MANIFEST_NAME, manifest)
    return folder.rename_unique(tmp, final_name)


def _fail_run(exc: BaseException, tmp: Path, year_dir: Path, run_name: str, manifest: dict, state: _RunState,
              names: list[str]) -> None:
    """Rename the folder ``…-FAILED`` with the reason, and turn known failures into analyst errors
    (:class:`RunFailed`, :class:`OutputError`); otherwise the caller re-raises ``exc``."""
    if isinstance(exc, KeyboardInterrupt):
        _silence_abandoned_kernel_tasks()
    if state.tables_job is not None:
        state.tables_job.join()  # it writes into the run folder: let it finish before renaming
    if state.notebook_pool is not None:
        state.notebook_pool.shutdown(wait=True)  # the same for notebooks still executing
    nb_index = state.nb_index
    failed_dir = _fail(tmp, year_dir, run_name, manifest, nb_index, exc)
    if isinstance(exc, PapermillExecutionError):
        nb_name = names[nb_index] if nb_index is not None else "?"
        where = failed_dir / nb_name if failed_dir else Path(nb_name)
        raise RunFailed([Problem(
            file=str(where), rule="notebook failed",
            column=f"cell {exc.exec_count}" if exc.exec_count is not None else "",
            message=f"{exc.ename}: {folder.clean_text(exc.evalue, 500)} (run folder: {failed_dir})",
        )], run_dir=failed_dir) from None
    if isinstance(exc, OSError) and exc.filename is not None and _inside(Path(exc.filename), tmp):
        raise OutputError([Problem(
            file=str(exc.filename), rule="output folder",
            message=(f"cannot write the run's outputs: {exc.strerror or exc}"
                     + (f" (run folder: {failed_dir})" if failed_dir else "")))]) from None



class _AbandonedTaskFilter(logging.Filter):
    """Drop asyncio's reports of notebook-execution tasks abandoned by an interrupt."""

    def filter(self, record: logging.LogRecord) -> bool:
        msg = str(record.msg)
        return not (msg.startswith("Task exception was never retrieved")
                    or msg.startswith("Task was destroyed but it is pending"))


def _silence_abandoned_kernel_tasks() -> None:
    """After Ctrl-C / SIGTERM, the kernel is shut down under a pending execute task; when
    that task is garbage-collected asyncio logs "Task exception was never retrieved" with a
    DeadKernelError traceback. The run is already reported as interrupted: drop that noise."""
    logger = logging.getLogger("asyncio")
    if not any(isinstance(f, _AbandonedTaskFilter) for f in logger.filters):
        logger.addFilter(_AbandonedTaskFilter())


def _inside(path: Path, parent: Path) -> bool:
    try:
        path.resolve().relative_to(parent.resolve())
    except (ValueError, OSError):
        return False
    return True


def _fail(tmp: Path, year_dir: Path, run_name: str, manifest: dict, nb_index: int | None,
          exc: BaseException) -> Path | None:
    """Record the failure in the manifest and rename the folder ``…-FAILED`` (best effort)."""
    if nb_index is not None:
        manifest["notebooks"][nb_index]["status"] = "failed"
        manifest["failed_notebook"] = manifest["notebooks"][nb_index]["name"]
    error = ({"type": "notebook", "ename": exc.ename, "evalue": folder.clean_text(exc.evalue),
              "cell_execution_count": exc.exec_count} if isinstance(exc, PapermillExecutionError)
             else folder.error_entry(exc))
    return folder.mark_failed(tmp, year_dir / run_name, manifest, error, manifest_name=MANIFEST_NAME)


# ---------------------------------------------------------------------------------------------
# verify


def _na_as_missing(analysis_file: Path | None) -> bool:
    """``input.na_as_missing`` of an analysis settings file (the default file when None)."""
    path = analysis_file if analysis_file is not None else default_analysis_path()
    return path.is_file() and bool(load_analysis_params(path).input.na_as_missing)


def read_manifest(run_dir: str | Path) -> dict:
    """Read ``<run_dir>/manifest.json``.

    Raises
    ------
    ManifestError
        Missing, unreadable or not a run manifest.
    """
    path = Path(run_dir) / MANIFEST_NAME
    if not path.is_file():
        raise ManifestError([Problem(file=str(path), rule="exists", message="no manifest.json in this folder")])
    try:
        m = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ManifestError([Problem(file=str(path), rule="json", message=f"unreadable manifest: {exc}")]) from None
    need = ("schema_version", "status", "parameters", "inputs", "scheme", "tables")
    lacking = [k for k in need if not isinstance(m, dict) or k not in m]
    if lacking:
        raise ManifestError([Problem(file=str(path), rule="structure",
                                     message=f"not a run manifest: missing {', '.join(lacking)}")])
    return m


def verify_run(
    run_dir: str | Path,
    tables_fn: TablesFn | None = None,
    *,
    load_fn: LoadFn | None = None,
    data_path: str | Path | None = None,
    scheme_path: str | Path | None = None,
    analysis_path: str | Path | None = None,
) -> pd.DataFrame:
    """Recompute a finished run's result tables and compare them with its manifest.

    Parameters
    ----------
    run_dir
        A completed run folder.
    tables_fn, load_fn
        As in :func:`run_report` (defaults: production functions).
    data_path, scheme_path, analysis_path
        Override the paths recorded in the manifest (e.g. after moving the data).

    Returns
    -------
    pandas.DataFrame
        One row per table (recorded or recomputed), columns ``table``, ``rows_recorded``,
        ``rows_now``, ``sha256_recorded``, ``sha256_now``, ``identical`` (bool). The run
        reproduces when ``identical.all()``.

    Raises
    ------
    ManifestError
        No usable manifest, or the run did not complete.
    InputsChanged
        A data file, the scheme or the analysis settings differ from the recorded sha256.
    """
    m = read_manifest(run_dir)
    if m.get("status") != "complete":
        raise ManifestError([Problem(file=str(Path(run_dir) / MANIFEST_NAME), rule="status",
                                     message=f"run status is {m.get('status')!r}, not 'complete'")])
    p = m["parameters"]
    scheme_file = Path(scheme_path) if scheme_path is not None else folder.from_manifest_path(p["scheme_path"])
    data_file = Path(data_path) if data_path is not None else folder.from_manifest_path(p["data_path"])
    if not scheme_file.is_file():
        raise InputsChanged([Problem(file=str(scheme_file), rule="exists", message="scheme file not found")])
    scheme_now = folder.sha256_file(scheme_file)
    if scheme_now != m["scheme"]["sha256"]:
        raise InputsChanged([Problem(file=str(scheme_file), rule="sha256",
                                     message="scheme file changed since the run",
                                     value=f"{m['scheme']['sha256'][:12]} → {scheme_now[:12]}")])
    rec_analysis = (m.get("analysis") or {})
    a_file: Path | None = None
    if analysis_path is not None:
        a_file = Path(analysis_path)
    elif rec_analysis.get("path"):
        a_file = folder.from_manifest_path(rec_analysis["path"])
    if rec_analysis.get("sha256"):
        a_file = a_file or default_analysis_path()
        a_now = folder.sha256_file(a_file) if a_file.is_file() else None
        if a_now != rec_analysis["sha256"]:
            raise InputsChanged([Problem(file=str(a_file), rule="sha256",
                                         message="analysis settings changed since the run",
                                         value=f"{rec_analysis['sha256'][:12]} → {(a_now or '-')[:12]}")])
    na_env = {NA_AS_MISSING_ENV: "1" if _na_as_missing(a_file) else "0"}  # read the data as the run did
    try:
        with _environ(**na_env):
            data = (load_fn or default_load_fn)(data_file, scheme=load_scheme(scheme_file))
    except DataError as exc:
        raise InputsChanged([Problem(file=str(data_file), rule="load",
                                     message="the data no longer loads (changed since the run?)"),
                             *exc.problems]) from None
    now = dict(getattr(data, "input_hashes", None) or {})
    rec = m["inputs"]["files"]
    changed: list[Problem] = []
    for name in sorted(set(rec) | set(now)):
        if rec.get(name) != now.get(name):
            what = ("file removed" if name not in now else "file added" if name not in rec
                    else "file changed since the run")
            changed.append(Problem(file=str(data_file), sheet=name, rule="sha256", message=what,
                                   value=f"{(rec.get(name) or '-')[:12]} → {(now.get(name) or '-')[:12]}"))
    if changed:
        raise InputsChanged(changed)
    tfn = tables_fn or default_tables_fn
    if m.get("tables_fn") and m["tables_fn"] != folder.qualname(tfn):
        log.warning("the run used tables_fn %s, verifying with %s", m["tables_fn"], folder.qualname(tfn))
    with _environ(**na_env):
        tables = _check_tables(_call_tables(tfn, str(data_file), str(scheme_file), int(p["year"]),
                                            str(p["half"]), str(a_file) if a_file is not None else None))
    now_summary = table_summary(tables)
    recorded = m["tables"]
    rows = []
    for name in list(recorded) + [n for n in now_summary if n not in recorded]:
        r, n = recorded.get(name, {}), now_summary.get(name, {})
        rows.append({"table": name, "rows_recorded": r.get("rows"), "rows_now": n.get("rows"),
                     "sha256_recorded": r.get("sha256"), "sha256_now": n.get("sha256"),
                     "identical": bool(r) and bool(n) and r.get("sha256") == n.get("sha256")})
    out = pd.DataFrame(rows, columns=["table", "rows_recorded", "rows_now", "sha256_recorded",
                                      "sha256_now", "identical"])
    return out.astype({"rows_recorded": "Int64", "rows_now": "Int64", "identical": bool})


__all__ = [
    "InputsChanged", "ManifestError", "OutputError", "RunFailed", "default_notebooks", "default_tables_fn",
    "find_chromium", "load_callable", "print_pdf", "read_manifest",
    "run_report", "verify_run",
]
