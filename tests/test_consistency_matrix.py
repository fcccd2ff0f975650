"""The consistency matrix: every place that states a unit's total, rank or grade agrees with evaluate().

Schemes: the 2019 scheme, the example scheme, and 2019 variants (grading over all units, fixed
cutoffs, ``floor_best`` rounding, three grades only, no achievement component). Places: the
result tables of :mod:`bsc_lib.analyses.recipes` (scores, rank robustness, grade boundaries), the xlsx
export read back, the feedback payloads (institutions and departments), the dashboard's data
(context, robustness view, what-if at the scheme's settings). One full ``bsc report`` run under
a non-default scheme also checks its CSVs, xlsx sheets and the executed notebooks' tables.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
import yaml

import bsc_lib
from bsc_lib.analyses import whatif
from bsc_lib.analyses.recipes import Recipes
from bsc_lib.config.analysis_params import load_analysis_params
from bsc_lib.data.sample import write_sample
from bsc_lib.present import export
from bsc_lib.present.dashboard import build_context, resolve_settings
from bsc_lib.present.feedback import build_payloads
from bsc_lib.present.labels import label

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data" / "sample" / "2019"
BASE = yaml.safe_load((ROOT / "params" / "scheme-2019.yaml").read_text(encoding="utf-8"))
YEAR = 2019


def _variant(name: str) -> dict:
    if name == "example":
        return yaml.safe_load((ROOT / "params" / "scheme-example-2020.yaml").read_text(encoding="utf-8"))
    d = copy.deepcopy(BASE)
    g = d["grading"]
    if name == "all_units":
        g["group_by"] = "none"
    elif name == "cutoffs":
        g["method"] = "cutoffs"
    elif name == "floor_best":
        g["rounding"] = "floor_best"
    elif name == "three_grades":
        g["quotas"] = {"S": 0.3, "A": 0.5, "B": 0.2}
        g["cutoffs"] = {"S": 85.0, "A": 75.0, "B": 0.0}
    elif name == "no_achievement":
        comps = d["evaluations"]["institutional"]["components"]
        comps["pre_evaluation"] += comps.pop("achievement")
    elif name == "combined":
        g.update(method="cutoffs", group_by="none", rounding="floor_best")
    return d


VARIANTS = ["2019", "example", "all_units", "cutoffs", "floor_best", "three_grades", "no_achievement"]


@pytest.fixture(scope="module")
def quick_analysis(tmp_path_factory) -> Path:
    a = yaml.safe_load((ROOT / "params" / "analysis.yaml").read_text(encoding="utf-8"))
    a["robustness"].update(n_draws=200, bootstrap=10, sobol_base=32)
    p = tmp_path_factory.mktemp("analysis") / "analysis.yaml"
    p.write_text(yaml.safe_dump(a, sort_keys=False), encoding="utf-8")
    return p


def _write_scheme(tmp: Path, name: str) -> Path:
    p = tmp / f"scheme-{name}.yaml"
    p.write_text(yaml.safe_dump(_variant(name), allow_unicode=True, sort_keys=False), encoding="utf-8")
    return p


def _agree(stated: pd.DataFrame, truth: pd.DataFrame, where: str, *, rank: bool = True) -> None:
    """``stated`` (index unit id; ``total``, ``rank``, ``grade``) equals ``truth`` for every unit."""
    s = stated.reindex(truth.index)
    assert s.index.equals(truth.index)
    np.testing.assert_allclose(s["total"].astype(float), truth["total"].astype(float), atol=1e-9, err_msg=where)
    bad = truth.index[(s["grade"].astype("str") != truth["grade"].astype("str")).to_numpy()]
    assert not len(bad), f"{where}: grades differ for {list(bad)[:10]}"
    if rank:
        bad = truth.index[(s["rank"].astype(int) != truth["rank"].astype(int)).to_numpy()]
        assert not len(bad), f"{where}: ranks differ for {list(bad)[:10]}"


def _truth(results, scheme) -> tuple[pd.DataFrame, pd.DataFrame]:
    inst = results.institutional.set_index("institution_id")
    rank = inst["rank_in_group"] if scheme.grading.group_by == "inst_type" else inst["rank_overall"]
    dep = results.departments.set_index("department_id")
    return (pd.DataFrame({"total": inst["total"], "rank": rank, "grade": inst["grade"]}),
            pd.DataFrame({"total": dep["total"], "rank": dep["rank_overall"], "grade": dep["grade"]}))


@pytest.fixture(scope="module")
def example_data(tmp_path_factory) -> Path:
    """The sample generated for the example scheme (its own pre-evaluation items), year 2020."""
    scheme = bsc_lib.load_scheme(ROOT / "params" / "scheme-example-2020.yaml")
    return write_sample(tmp_path_factory.mktemp("example") / "2020", year=2020, seed=7, scale=0.5, scheme=scheme)


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_place_states_the_engines_grade(variant, tmp_path, quick_analysis, example_data):
    scheme_path = _write_scheme(tmp_path, variant)
    scheme = bsc_lib.load_scheme(scheme_path)
    data_dir, year = (example_data, 2020) if variant == "example" else (DATA, YEAR)
    data = bsc_lib.load(data_dir, scheme=scheme)
    settings = load_analysis_params(quick_analysis)
    r = Recipes(data, scheme, settings, year, "year")
    truth, dept_truth = _truth(bsc_lib.evaluate(data, scheme, year=year), scheme)

    # result tables
    _agree(r["institutional"].set_index("institution_id").rename(columns={}).assign(
        rank=lambda x: truth["rank"].reindex(x.index)), truth, "institutional")
    mc = r["rank_robustness"].set_index("unit_id")
    _agree(mc.rename(columns={"nominal_total": "total", "nominal_rank": "rank", "nominal_grade": "grade"}),
           truth, "rank_robustness")
    _agree(r["grade_boundaries"].set_index("unit_id"), truth, "grade_boundaries", rank=False)
    _agree(r["department_grade_boundaries"].set_index("unit_id"), dept_truth, "department_grade_boundaries",
           rank=False)

    # the xlsx export, read back
    xlsx = export.write_results_xlsx(r.tables(), tmp_path / "results.xlsx")
    wb = openpyxl.load_workbook(xlsx, read_only=True)
    for sheet, id_key, cols in (("institutional", "institution_id", ("total", "grade")),
                                ("rank_robustness", "unit_id", ("nominal_total", "nominal_grade")),
                                ("grade_boundaries", "unit_id", ("total", "grade"))):
        rows = list(wb[export.sheet_label(sheet, "ko")].iter_rows(values_only=True))
        head = list(rows[0])
        frame = pd.DataFrame(rows[1:], columns=head).set_index(label(id_key))
        stated = pd.DataFrame({"total": frame[label(cols[0])], "grade": frame[label(cols[1])]})
        _agree(stated, truth, f"results.xlsx sheet {sheet}", rank=False)
    wb.close()

    # feedback payloads
    for level, t, table in (("institution", truth, "grade_boundaries"),
                            ("department", dept_truth, "department_grade_boundaries")):
        pays = build_payloads(data, scheme, r.results, r["kpi_difficulty"], level=level,
                              boundaries=r[table])
        stated = pd.DataFrame([{"unit_id": p["unit_id"], "total": p["total"], "rank": p["rank"], "grade": p["grade"]}
                               for p in pays]).set_index("unit_id")
        _agree(stated, t, f"feedback payloads ({level})")
        b = r[table].set_index("unit_id")
        got = pd.Series({p["unit_id"]: p["boundary"]["points_to_next_better"] for p in pays}, dtype=float)
        np.testing.assert_allclose(got.reindex(b.index), b["points_to_next_better"], equal_nan=True)

    # the dashboard's data
    ctx = build_context(resolve_settings(data_path=str(data_dir), scheme_path=str(scheme_path),
                                         analysis_path=str(quick_analysis), year=year))
    dash_truth, _ = _truth(ctx.results, scheme)
    pd.testing.assert_frame_equal(dash_truth, truth)
    units, _ = ctx.robustness()
    _agree(units.set_index("unit_id").rename(columns={"nominal_total": "total", "nominal_rank": "rank",
                                                      "nominal_grade": "grade"}), truth, "dashboard robustness")
    wi = whatif.whatif_table(ctx.whatif).set_index("institution_id")
    wi = wi.assign(rank=wi["rank_in_group"] if scheme.grading.group_by == "inst_type" else wi["rank_overall"])
    _agree(wi, truth, "dashboard what-if at the scheme's settings")


class _Tables(HTMLParser):
    """Rows of every <table> of an HTML fragment (header row first)."""

    def __init__(self):
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self.tables and self.tables[-1]:
            self.tables[-1][-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def _notebook_tables(path: Path) -> list[pd.DataFrame]:
    nb = json.loads(path.read_text(encoding="utf-8"))
    out = []
    for cell in nb["cells"]:
        for o in cell.get("outputs", []):
            h = o.get("data", {}).get("text/html")
            if not h:
                continue
            p = _Tables()
            p.feed("".join(h) if isinstance(h, list) else h)
            for rows in p.tables:
                if len(rows) > 1 and len(set(rows[0])) == len(rows[0]):
                    out.append(pd.DataFrame([r for r in rows[1:] if len(r) == len(rows[0])], columns=rows[0]))
    return out


@pytest.mark.slow
def test_a_whole_report_under_another_scheme_agrees_with_evaluate(tmp_path, quick_analysis):
    """``bsc report`` with cutoffs, grading over all units and floor_best: CSVs, xlsx, notebooks."""
    scheme_path = _write_scheme(tmp_path, "combined")
    out = tmp_path / "out"
    env = dict(os.environ)
    proc = subprocess.run([sys.executable, "-m", "bsc_lib.cli", "report", "--data", str(DATA), "--scheme",
                           str(scheme_path), "--analysis", str(quick_analysis), "--year", str(YEAR),
                           "--out", str(out)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = next(p for p in (out / str(YEAR)).iterdir() if (p / "manifest.json").exists())
    scheme = bsc_lib.load_scheme(scheme_path)
    data = bsc_lib.load(DATA, scheme=scheme)
    truth, _ = _truth(bsc_lib.evaluate(data, scheme, year=YEAR), scheme)

    csv = pd.read_csv(run / "tables" / "institutional.csv", encoding="utf-8-sig").set_index("institution_id")
    _agree(csv.assign(rank=csv["rank_overall"]), truth, "tables/institutional.csv")
    rr = pd.read_csv(run / "tables" / "rank_robustness.csv", encoding="utf-8-sig").set_index("unit_id")
    _agree(rr.rename(columns={"nominal_total": "total", "nominal_rank": "rank", "nominal_grade": "grade"}),
           truth, "tables/rank_robustness.csv")
    gb = pd.read_csv(run / "tables" / "grade_boundaries.csv", encoding="utf-8-sig").set_index("unit_id")
    _agree(gb, truth, "tables/grade_boundaries.csv", rank=False)

    # executed notebooks: every shown table with a unit id and a grade column states the engine's grade
    id_cols = {label(k) for k in ("institution_id", "unit_id")}
    grade_cols = {label(k) for k in ("grade", "nominal_grade")}
    checked = 0
    for nb in sorted(run.glob("*.ipynb")):
        for t in _notebook_tables(nb):
            idc = next((c for c in t.columns if c in id_cols), None)
            if idc is None:
                continue
            rows = t[t[idc].isin(truth.index)]
            for gc in (c for c in t.columns if c in grade_cols):
                stated = rows.set_index(idc)[gc]
                bad = [u for u, g in stated.items() if g != truth.loc[u, "grade"]]
                assert not bad, f"{nb.name}: column {gc} states other grades for {bad[:10]}"
                checked += len(stated)
    assert checked >= 45, f"only {checked} grades found in the notebooks' tables"
