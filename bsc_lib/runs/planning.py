"""Run folders of ``bsc compare`` and ``bsc targets``.

Each writes ``<out>/<year>/<kind>-<UTC timestamp>-<key>/`` with ``results.xlsx`` (formatted,
Korean or English headers), ``tables/*.csv`` and ``manifest.json`` (input hashes, schemes,
settings, table hashes), built in a ``.tmp-…`` folder and renamed only when complete, like
``bsc report``. The tables come from the one producer of each
(:mod:`bsc_lib.analyses.recipes`); invalid inputs raise before any folder is created.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from bsc_lib.analyses.compare import check_year
from bsc_lib.analyses.recipes import COMPARE_TABLES, TARGET_TABLES, Recipes
from bsc_lib.config.analysis_params import load_analysis_params
from bsc_lib.config.paths import default_analysis_path, resolve
from bsc_lib.config.planning_params import default_planning_path, load_planning_params
from bsc_lib.config.scheme import load_scheme
from bsc_lib.data.io import load
from bsc_lib.errors import DataError, Problem, SchemeError
from bsc_lib.present.export import table_summary, write_csvs, write_results_xlsx
from bsc_lib.runs import folder

log = logging.getLogger(__name__)


@dataclass
class PlanningInputs:
    """Loaded, validated inputs of a compare or targets run."""

    recipes: Recipes
    files: dict[str, Path]
    input_hashes: dict


def _scheme(path, role: str):
    p = resolve(path)
    try:
        return load_scheme(p)
    except SchemeError as exc:
        raise SchemeError([_tag(pr, role) for pr in exc.problems]) from None


def _tag(p: Problem, role: str) -> Problem:
    return Problem(file=p.file, rule=p.rule, message=f"{role}: {p.message}", sheet=p.sheet, row=p.row,
                   column=p.column, value=p.value)


def load_inputs(data_path, scheme_path, *, compare_path=None, analysis_path=None, planning_path=None,
                year: int | None = None, half: str = "year") -> PlanningInputs:
    """Load and validate the data under every scheme given, and the settings.

    The data is validated under scheme B too (a proposal may change item points or scales the
    data was rated on); its problems are named ``scheme B``.
    """
    a = _scheme(scheme_path, "scheme A" if compare_path else "scheme")
    data_file = resolve(data_path)
    afile = resolve(analysis_path) if analysis_path else default_analysis_path()
    settings = load_analysis_params(afile)
    na = settings.input.na_as_missing
    data = load(data_file, scheme=a, na_as_missing=na)
    b = None
    files = {"data": data_file, "scheme": resolve(scheme_path)}
    if compare_path is not None:
        b = _scheme(compare_path, "scheme B")
        files["compare_scheme"] = resolve(compare_path)
        try:
            load(data_file, scheme=b, na_as_missing=na)
        except DataError as exc:
            raise DataError([_tag(p, f"under scheme B ({Path(compare_path).name})") for p in exc.problems]) from None
    pfile = resolve(planning_path) if planning_path else default_planning_path()
    planning = load_planning_params(pfile)
    files.update(analysis=afile, planning=pfile)
    r = Recipes(data, a, settings, year, half, compare_scheme=b, planning=planning)
    return PlanningInputs(r, files, dict(getattr(data, "input_hashes", None) or {}))


def _write_run(kind: str, inputs: PlanningInputs, tables: dict[str, pd.DataFrame], year: int, out, lang: str,
               params: dict, settings: dict | None = None) -> Path:
    started = folder.utcnow()
    hashes = {k: folder.sha256_file(p) for k, p in inputs.files.items() if p.is_file()}
    key = folder.run_key({**inputs.input_hashes, **hashes}, inputs.recipes.scheme.sha256, params)
    name = f"{kind}-{started:%Y%m%dT%H%M%S}-{key}"
    year_dir = Path(out) / str(year)
    tmp = folder.new_run_folder(year_dir, name, out)
    manifest = {
        "run_id": name, "kind": kind, "status": "running", "started_at": folder.iso(started), "finished_at": None,
        "parameters": {**params, "lang": lang}, "settings": settings or {},
        "inputs": {k: {"path": folder.portable(p), "sha256": hashes.get(k)} for k, p in inputs.files.items()},
        "data_files": dict(sorted(inputs.input_hashes.items())),
        "tables": {}, "packages": folder.package_versions(), "git": folder.git_state(),
    }
    try:
        with folder.stop_signals_as_interrupt():
            write_results_xlsx(tables, tmp / "results.xlsx", lang=lang)
            write_csvs(tables, tmp / "tables")
            manifest["tables"] = table_summary(tables)
            manifest["status"] = "complete"
            manifest["finished_at"] = folder.iso(folder.utcnow())
            folder.write_json(tmp / "manifest.json", manifest)
            final = folder.rename_unique(tmp, year_dir / name)
    except BaseException as exc:
        folder.mark_failed(tmp, year_dir / name, manifest, folder.error_entry(exc), what=kind)
        raise
    return final


def run_compare(data_path, scheme_path, compare_path, *, year=None, half="year", lang="ko", out="outputs",
                analysis_path=None, planning_path=None) -> Path:
    """``bsc compare``: the comparison tables of the data under two schemes into a run folder.

    Returns
    -------
    pathlib.Path
        The run folder ``<out>/<year>/compare-<timestamp>-<key>`` (``results.xlsx``,
        ``tables/*.csv``, ``manifest.json``) with the tables of
        :data:`bsc_lib.analyses.recipes.COMPARE_TABLES`.
    """
    inp = load_inputs(data_path, scheme_path, compare_path=compare_path, analysis_path=analysis_path,
                      planning_path=planning_path, year=year, half=half)
    r = inp.recipes
    check_year(r.data.kpi_results, r.year)
    tables = r.tables(COMPARE_TABLES)
    params = {"year": r.year, "half": half, "scheme_b_sha256": r.compare_scheme.sha256}
    return _write_run("compare", inp, tables, r.year, out, lang, params)


def run_targets(data_path, scheme_path, year: int, *, lang="ko", out="outputs", analysis_path=None,
                planning_path=None) -> Path:
    """``bsc targets``: recommended targets for ``year`` and the backtest into a run folder.

    The current year (the difficulty verdict of the current target) is ``year − 1``.

    Returns
    -------
    pathlib.Path
        ``<out>/<year>/targets-<timestamp>-<key>`` with the tables of
        :data:`bsc_lib.analyses.recipes.TARGET_TABLES`.
    """
    inp = load_inputs(data_path, scheme_path, analysis_path=analysis_path, planning_path=planning_path,
                      year=int(year) - 1)
    r = inp.recipes
    tables = r.tables(TARGET_TABLES)
    p = inp.recipes.planning
    settings = {**p.targets.model_dump(), **p.backtest.model_dump()}
    return _write_run("targets", inp, tables, int(year), out, lang, {"target_year": int(year)}, settings)


def summary_text(kind: str, run_dir: Path, lang: str = "ko") -> str:
    """The one-paragraph summary ``bsc compare`` / ``bsc targets`` print, read back from the run's
    CSV tables (``kind``: ``compare`` or ``targets``), in ``lang``."""
    from bsc_lib.present.labels import ui_text

    tables = Path(run_dir) / "tables"
    manifest = json.loads((Path(run_dir) / "manifest.json").read_text(encoding="utf-8"))
    if kind == "compare":
        u = pd.read_csv(tables / "compare_units.csv", encoding="utf-8-sig")
        i, d = u[u["evaluation"] == "institutional"], u[u["evaluation"] == "department"]
        return ui_text("compare", lang)["headline"].format(
            ni=len(i), gi=int(i["grade_changed"].sum()), nd=len(d), gd=int(d["grade_changed"].sum()),
            mi=i["delta"].mean(), md=d["delta"].mean())
    t = ui_text("targets", lang)
    rec = pd.read_csv(tables / "target_recommendations.csv", encoding="utf-8-sig")
    s = pd.read_csv(tables / "target_backtest_summary.csv", encoding="utf-8-sig", dtype={"year": "str"})
    pooled = s[(s["year"] == "all") & (s["kpi_group"] == "up/down")].iloc[0]
    p = manifest["settings"]
    first = t["summary"].format(year=manifest["parameters"]["target_year"], n=len(rec),
                                k=int(rec["recommended"].notna().sum()), short=int(rec["too_little_history"].sum()),
                                brk=int(rec["structural_break"].sum()), p=p["challenge_percentile"],
                                q=1 - p["challenge_percentile"])
    return first + "\n" + t["backtest"].format(met=pooled["share_met_trend"], exp=pooled["expected_met"],
                                               lvl=pooled["nominal_coverage"], cov=pooled["coverage"],
                                               g=p["naive_growth"], naive=pooled["share_met_naive"])


def compare_hook(data_file: Path, compare_path, notebooks, params: dict) -> dict:
    """What ``bsc report --compare-scheme B.yaml`` adds to a report run (``{}`` without B).

    Loads scheme B and validates the data under it (problems raised before any folder exists),
    puts B's sha256 into the run key ``params``, and returns ``notebooks`` (the default notebooks
    with ``09-compare``, or the caller's list) and ``nb_params`` (``compare_scheme_path``, passed
    to the comparison notebook only).
    """
    if compare_path is None:
        return {}
    from bsc_lib.runs.pipeline import default_notebooks

    b = _scheme(compare_path, "scheme B")
    try:
        load(data_file, scheme=b)
    except DataError as exc:
        raise DataError([_tag(p, f"under scheme B ({Path(compare_path).name})") for p in exc.problems]) from None
    params["compare_scheme_sha256"] = b.sha256
    nbs = default_notebooks(compare=True) if notebooks is None else [Path(p) for p in notebooks]
    return {"notebooks": nbs, "nb_params": {"compare_scheme_path": str(resolve(compare_path))}}


__all__ = ["PlanningInputs", "compare_hook", "summary_text", "load_inputs", "run_compare", "run_targets"]
