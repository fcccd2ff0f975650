"""Tests of bsc_lib.present.feedback (per-unit HTML feedback reports) and bsc_lib.runs.executors.

Speed: the embedded 2019 sample is loaded once (module fixture) and reported at both levels
in-process; everything else runs on ``generate(scale=0.2)`` written to a temporary folder
(9 institutions, 50 departments). The process pool, the in-process Dask cluster and two
CLI subprocesses are the slow parts (a few seconds each).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import operator
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bsc_lib.analyses.difficulty import kpi_difficulty
from bsc_lib.config.scheme import load_scheme
from bsc_lib.data.io import load
from bsc_lib.data.model import BSCData, plain_text
from bsc_lib.data.sample import write_sample
from bsc_lib.present.feedback import (
    MISSING,
    FeedbackFailed,
    build_payloads,
    fmt_points,
    index_entries,
    render_index,
    render_unit,
    report_filenames,
    run_feedback,
    sparkline_svgs,
)
from bsc_lib.present.report_html import external_references
from bsc_lib.runs.executors import (
    DaskExecutor,
    ExecutorError,
    ProcessExecutor,
    SequentialExecutor,
    chunk_size,
    get_executor,
)
from bsc_lib.scoring.engine import evaluate

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "data" / "sample" / "2019"
SCHEME = REPO / "params" / "scheme-2019.yaml"
SCRIPT = "<script>alert(1)</script>"
URL_IN_ATTR = re.compile(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", re.IGNORECASE)


# ------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def scheme():
    return load_scheme(SCHEME)


@pytest.fixture(scope="module")
def sample(scheme):
    return load(SAMPLE, scheme=scheme)


@pytest.fixture(scope="module")
def small_dir(tmp_path_factory):
    return write_sample(tmp_path_factory.mktemp("small") / "2019", scale=0.2)


@pytest.fixture(scope="module")
def small(small_dir, scheme):
    return load(small_dir, scheme=scheme)


@pytest.fixture(scope="module")
def small_analysis(small, scheme):
    return _analysis(small, scheme)


def _given(data: BSCData):
    """A ``load_fn`` returning already loaded data (saves re-reading the CSVs)."""
    return lambda path, scheme: data


@pytest.fixture(scope="module")
def sample_runs(sample, tmp_path_factory):
    """The sample reported at both levels in-process (the data is loaded once)."""
    out = tmp_path_factory.mktemp("sample-out")
    runs = {}
    for level in ("institution", "department"):
        runs[level] = run_feedback(SAMPLE, SCHEME, level=level, workers=1, out=out, progress=False,
                                   load_fn=_given(sample))
    return runs


@pytest.fixture(scope="module")
def small_runs(small_dir, small, tmp_path_factory):
    """The small dataset, department level, in-process and with two local processes."""
    out = tmp_path_factory.mktemp("small-out")
    return {w: run_feedback(small_dir, SCHEME, level="department", workers=w, out=out, progress=False,
                            load_fn=_given(small))
            for w in (1, 2)}


def _docs(run_dir: Path) -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(run_dir.glob("*.html"))}


def _analysis(data: BSCData, scheme, half: str = "year"):
    res = evaluate(data, scheme, year=2019, half=half)
    kd = kpi_difficulty(data.kpis, data.kpi_history, data.kpi_results, year=2019)
    return res, kd


# ------------------------------------------------------------------------------ the sample


def test_sample_institution_run_writes_45_reports_index_and_manifest(sample_runs, sample, scheme):
    run = sample_runs["institution"]
    assert re.fullmatch(r"feedback-institution-\d{8}T\d{6}-[0-9a-f]{8}", run.name)
    assert run.parent.name == "2019"
    docs = _docs(run)
    # 45 institutions (spec §5) + index.html
    assert len(docs) == 46 and "index.html" in docs
    assert {f"{i}.html" for i in sample.institutions["institution_id"]} | {"index.html"} == set(docs)
    m = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    assert m["status"] == "complete" and m["kind"] == "feedback"
    assert m["counts"]["units"] == 45 and m["counts"]["reports"] == 45 and m["counts"]["failed"] == 0
    assert m["parameters"]["level"] == "institution" and m["executor"]["kind"] == "sequential"
    assert m["inputs"]["files"] == dict(sorted(sample.input_hashes.items()))
    assert m["scheme"]["sha256"] == scheme.sha256
    assert set(m["durations_s"]) >= {"load_s", "evaluate_s", "payloads_s", "render_s", "total_s"}
    for name, doc in docs.items():  # every output is listed with its hash
        assert m["outputs"][name]["sha256"] == hashlib.sha256(doc.encode("utf-8")).hexdigest()
    assert not list(run.parent.glob(".tmp-*"))


def test_sample_department_run_writes_248_reports(sample_runs, sample):
    docs = _docs(sample_runs["department"])
    assert len(docs) == 249  # 248 departments (spec §1) + index.html
    index = docs["index.html"]
    assert len(re.findall(r'<a href="D\d{3}\.html">', index)) == 248


def test_institution_reports_show_total_grade_and_rank_in_group(sample_runs, sample, scheme):
    res = evaluate(sample, scheme)
    inst = res.institutional
    # group sizes of the sample: 30 main offices, 13 business offices, 2 independent bodies
    # (the 2017 plan's split of the 45 institutions, spec §5)
    size = inst["inst_type"].map({"main_office": 30, "business_office": 13, "independent": 2})
    assert inst["inst_type"].value_counts().to_dict() == {"main_office": 30, "business_office": 13, "independent": 2}
    docs = _docs(sample_runs["institution"])
    for row, n in zip(inst.itertuples(index=False), size, strict=True):
        doc = docs[f"{row.institution_id}.html"]
        assert f'<dd class="total">{row.total:.2f}</dd>' in doc
        assert f'<dd class="grade">{row.grade}</dd>' in doc
        assert f'<dd class="rank">{row.rank_in_group} / {n}</dd>' in doc
        assert f'<dd class="rank-overall">{row.rank_overall} / 45</dd>' in doc


def test_department_reports_show_total_grade_and_overall_rank(sample_runs, sample, scheme):
    dep = evaluate(sample, scheme).departments
    docs = _docs(sample_runs["department"])
    for row in dep.itertuples(index=False):
        doc = docs[f"{row.department_id}.html"]
        assert f'<dd class="total">{row.total:.2f}</dd>' in doc
        assert f'<dd class="grade">{row.grade}</dd>' in doc
        assert f'<dd class="rank">{row.rank_overall} / 248</dd>' in doc


def test_kpi_row_of_the_sample_hand_calculated(sample_runs):
    # K001 (I01, down KPI): H1 target 8.9, actual 9.1 → rate = target / actual = 8.9 / 9.1
    # = 0.97802… → "97.8%", status 주의 (0.9 ≤ rate < 1.0); history 2015–2018 = 14.4, 13.6,
    # 12.2, 11.1 and the annual (H2) target 8.9 appear in the sparkline's title.
    doc = _docs(sample_runs["institution"])["I01.html"]
    row = re.search(r"K001 · %.*?</tr>", doc).group(0)
    assert '<td class="n">8.9</td><td class="n">9.1</td><td class="n">97.8%</td>' in row
    assert '<td class="s-caution">주의</td>' in row
    assert "<title>2015: 14.4 · 2016: 13.6 · 2017: 12.2 · 2018: 11.1 · 2019 목표: 8.9</title>" in row


def test_no_external_urls_and_no_person_names(sample_runs, sample):
    names = sorted(set(sample.people["name_ko"].dropna()), key=len, reverse=True)
    assert len(names) > 100
    who = re.compile("|".join(map(re.escape, names)))
    for level in ("institution", "department"):
        for name, doc in _docs(sample_runs[level]).items():
            assert external_references(doc) == [], name
            assert not URL_IN_ATTR.search(doc), name
            assert "http://" not in doc and "https://" not in doc, name
            assert "<script" not in doc.lower(), name
            assert "Content-Security-Policy" in doc
            hit = who.search(doc)
            assert hit is None, f"{name} contains the person name {hit.group(0) if hit else ''}"


# ------------------------------------------------------------------------------ payloads / render


def test_unit_name_with_script_is_escaped(small, scheme, tmp_path):
    dep = plain_text(small.departments).copy()  # text as str: a new name is not one of the categories
    dep.loc[0, "name_ko"] = SCRIPT
    inst = plain_text(small.institutions).copy()
    inst.loc[0, "name_ko"] = SCRIPT
    mutated = BSCData(tables={**small.tables, "departments": dep, "institutions": inst},
                      source="mutated", input_hashes=dict(small.input_hashes))
    for level in ("department", "institution"):
        run = run_feedback("unused", SCHEME, level=level, workers=1, out=tmp_path, progress=False,
                           load_fn=_given(mutated))
        docs = _docs(run)
        unit = dep.loc[0, "department_id"] if level == "department" else inst.loc[0, "institution_id"]
        escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
        assert escaped in docs[f"{unit}.html"] and escaped in docs["index.html"]
        for doc in docs.values():
            assert "<script" not in doc.lower()


def test_english_reports(small, scheme, small_analysis):
    res, kd = small_analysis
    p = build_payloads(small, scheme, res, kd, level="institution", lang="en")
    doc = render_unit(p[0])
    row = small.institutions.set_index("institution_id").loc[p[0]["unit_id"]]
    assert f"<h1>{row['name_en']}: performance evaluation feedback</h1>" in doc
    assert '<html lang="en">' in doc and "<dt>Total</dt>" in doc and "Points by component" in doc
    assert "총점" not in doc


def test_first_half_reports_show_only_the_first_half(small, scheme):
    res, kd = _analysis(small, scheme, half="H1")
    payloads = build_payloads(small, scheme, res, kd, level="department")
    halves = np.concatenate([p["kpis"]["half"] for p in payloads])
    assert set(halves) == {"H1"}
    doc = render_unit(payloads[0])
    assert "2019년 상반기" in doc and "하반기" not in doc


def _hand_results(small, analysis):
    """Three main-office institutions with hand-set totals, grades and components.

    I01: total 90 grade S, components a 45 / b 45
    I02: total 80 grade A, components a 40 / b 40
    I03: total 70 grade B, components a 30 / b 40   (points out of 50 each)
    """
    res, kd = analysis
    ids = ["I01", "I02", "I03"]
    inst = res.institutional.set_index("institution_id").loc[ids].reset_index()
    inst = inst.assign(inst_type="main_office", total=[90.0, 80.0, 70.0], deductions=0.0,
                       grade=["S", "A", "B"], rank_in_group=[1, 2, 3], rank_overall=[1, 2, 3], n_flags=0)
    comps = pd.DataFrame({
        "evaluation": "institutional", "unit_level": "institution",
        "unit_id": ["I01", "I01", "I02", "I02", "I03", "I03"],
        "component": ["a", "b"] * 3, "points": [45.0, 45.0, 40.0, 40.0, 30.0, 40.0], "max_points": 50.0})
    params = {**res.params, "component_order": {**res.params["component_order"], "institutional": ["a", "b"]},
              "evaluations": {**res.params["evaluations"], "institutional": {"a": 50, "b": 50}}}
    return dataclasses.replace(res, institutional=inst, components=comps, params=params), kd


def test_what_moves_the_grade_hand_calculated(small, scheme, small_analysis):
    res, kd = _hand_results(small, small_analysis)
    p = {q["unit_id"]: q for q in build_payloads(small, scheme, res, kd, level="institution")}
    assert list(p) == ["I01", "I02", "I03"]
    # medians: a = median(45, 40, 30) = 40, b = median(45, 40, 40) = 40
    np.testing.assert_allclose(p["I03"]["components"]["median"], [40.0, 40.0])
    np.testing.assert_allclose(p["I03"]["components"]["diff"], [-10.0, 0.0])
    # I02 (A, 80): next better S starts at 90 → 10 (+1e-9, shown rounded up: 10.00);
    # next worse B ends at 70 → may lose 10.00
    d2 = render_unit(p["I02"])
    assert "S 등급까지 10.00점이 더 필요합니다." in d2
    assert "10.00점보다 많이 잃으면 B 등급으로 내려갑니다." in d2
    assert "모든 평가요소가 그룹 중앙값 이상입니다." in d2
    # I01 is the top grade; I03 the bottom one and 10 points below the median in a
    d1, d3 = render_unit(p["I01"]), render_unit(p["I03"])
    assert "그룹 내 최상위 등급(S)입니다." in d1
    assert "그룹 내 최하위 등급(B)입니다." in d3 and "A 등급까지 10.00점이 더 필요합니다." in d3
    assert "<li>a: 중앙값보다 10.00점 낮음</li>" in d3
    # components table: 30.00 of 50, 60.0 % bar, median 40.00, difference -10.00
    assert ('<td>a</td><td class="n">30.00</td><td class="n">50</td><td><div class="bar">'
            '<span style="width:60.0%"></span></div></td><td class="n">40.00</td>'
            '<td class="n neg">-10.00</td>') in d3
    assert '<dd class="rank">3 / 3</dd>' in d3 and f'<dd class="total">{fmt_points(70)}</dd>' in d3


def test_cutoff_grading_boundaries_hand_calculated(small, scheme, small_analysis):
    res, kd = _hand_results(small, small_analysis)
    grading = {**res.params["grading"], "method": "cutoffs", "cutoffs": {"S": 90.0, "A": 80.0, "B": 70.0, "C": 0.0}}
    res = dataclasses.replace(res, params={**res.params, "grading": grading},
                              institutional=res.institutional.assign(total=[92.5, 80.0, 71.0], grade=["S", "A", "B"]))
    cut_scheme = scheme.model_copy(update={"grading": scheme.grading.model_copy(update={
        "method": "cutoffs", "cutoffs": grading["cutoffs"]})})
    p = {q["unit_id"]: q for q in build_payloads(small, cut_scheme, res, kd, level="institution")}
    # I03 (71, B): next better A from 80 → 80 − 71 = 9.00 points (max total 100, so 1 score
    # point = 1 total point); it keeps B down to the B cutoff 70 → may lose 71 − 70 = 1.00
    assert p["I03"]["boundary"]["points_to_next_better"] == pytest.approx(9.0)
    assert p["I03"]["boundary"]["points_to_next_worse"] == pytest.approx(1.0)
    assert p["I03"]["boundary"]["next_worse_grade"] == "C"
    # I02 (80.0, A) sits on its cutoff: any loss drops it to B
    assert "점수를 조금이라도 잃으면 B 등급으로 내려갑니다." in render_unit(p["I02"])
    # I01 (92.5, S) is top: only the way down, 2.50 points
    assert "2.50점보다 많이 잃으면 A 등급으로 내려갑니다." in render_unit(p["I01"])


def test_institution_payload_collects_its_departments_kpis_and_flags(small, scheme, small_analysis):
    res, kd = small_analysis
    p = {q["unit_id"]: q for q in build_payloads(small, scheme, res, kd, level="institution")}
    plain = small.plain()
    dep_inst = plain.departments.set_index("department_id")["institution_id"]
    owner_inst = plain.kpis["owner_id"].map(dep_inst).fillna(plain.kpis["owner_id"])
    for uid, q in p.items():
        expected = set(plain.kpis.loc[owner_inst == uid, "kpi_id"])
        assert set(q["kpis"]["kpi_id"]) == expected
        assert len(q["kpis"]["kpi_id"]) == 2 * len(expected)  # H1 and H2 rows
        assert len(q["history"]["values"]) == len(expected)
    flags = res.flags.assign(inst=res.flags["unit_id"].map(dep_inst).fillna(res.flags["unit_id"]))
    for uid, q in p.items():
        assert len(q["flags"]["flag"]) == int((flags["inst"] == uid).sum())


def test_bad_arguments_give_clear_errors(small, scheme, small_analysis):
    res, kd = small_analysis
    with pytest.raises(ValueError, match="level must be one of"):
        build_payloads(small, scheme, res, kd, level="person")
    with pytest.raises(ValueError, match="lang must be one of"):
        build_payloads(small, scheme, res, kd, lang="fr")
    with pytest.raises(ValueError, match="kpi_diff"):
        build_payloads(small, scheme, res, kd.drop(columns="kpi_id"))
    with pytest.raises(ValueError, match="half must be one of"):
        run_feedback(SAMPLE, SCHEME, half="Q3", workers=1)


def test_missing_difficulty_verdicts_count_as_false(small, scheme, small_analysis):
    res, kd = small_analysis
    p = build_payloads(small, scheme, res, kd[["kpi_id", "target"]], level="department")
    assert not any(p[0]["kpis"]["easy"]) and "쉬운 목표 0개" in render_unit(p[0])


def test_unit_without_kpis_or_history(small, scheme):
    t = dict(small.tables)
    t["kpis"] = small.kpis[small.kpis["owner_id"] != "D001"].reset_index(drop=True)
    t["kpi_results"] = small.kpi_results[small.kpi_results["kpi_id"].isin(t["kpis"]["kpi_id"])].reset_index(drop=True)
    t["kpi_history"] = small.kpi_history.iloc[0:0]
    data = BSCData(tables=t)
    res, kd = _analysis(data, scheme)
    p = {q["unit_id"]: q for q in build_payloads(data, scheme, res, kd, level="department")}
    assert len(p["D001"]["kpis"]["kpi_id"]) == 0 and p["D001"]["history"]["values"].shape == (0, 5)
    assert "성과지표가 없습니다." in render_unit(p["D001"])
    # no history: only the target is drawn (a diamond, no line, no dot)
    doc = render_unit(p["D002"])
    assert "<polygon" in doc and "<polyline" not in doc and "<circle" not in doc


# ------------------------------------------------------------------------------ sparklines, files


def test_sparkline_hand_calculated():
    # width 120, height 28, padding 4: x = 4 + j·28 → 4, 32, 60, 88, 116;
    # y = 4 + (1 − (v − 1)/(5 − 1))·20 → 24, 19, 14, 9, 4
    svg = sparkline_svgs(np.array([[1.0, 2.0, 3.0, 4.0, 5.0]]), ["2015", "2016", "2017", "2018", "목표"])[0]
    assert '<polyline points="4.0,24.0 32.0,19.0 60.0,14.0 88.0,9.0"' in svg
    assert '<line x1="88.0" y1="9.0" x2="116.0" y2="4.0"' in svg
    assert '<polygon points="116.0,1.0 119.0,4.0 116.0,7.0 113.0,4.0"' in svg  # diamond ±3 px
    assert "<title>2015: 1 · 2016: 2 · 2017: 3 · 2018: 4 · 목표: 5</title>" in svg
    assert "http" not in svg


def test_sparkline_flat_gaps_and_empty_rows():
    v = np.array([[2.0, 2.0, np.nan, 2.0, 2.0], [np.nan] * 5, [np.nan, np.nan, np.nan, 7.0, np.nan]])
    out = sparkline_svgs(v, ["a", "b", "c", "d", "<t>"])
    # equal values → middle line y = 14; the gap (NaN) is skipped
    assert '<polyline points="4.0,14.0 32.0,14.0 88.0,14.0"' in out[0]
    assert "&lt;t&gt;: 2" in out[0]
    assert out[1] == MISSING
    # a single actual and no target: one dot, no line, no diamond
    assert "<polyline" not in out[2] and "<polygon" not in out[2] and out[2].count("<circle") == 1
    with pytest.raises(ValueError, match="labels"):
        sparkline_svgs(v, ["a"])


def test_report_filenames_are_safe_and_unique():
    ids = pd.Series(["D001", "../etc/passwd", "d001", "index", SCRIPT, "D 1"])
    names = report_filenames(ids)

    def h(s):
        return "unit-" + hashlib.sha256(s.encode()).hexdigest()[:12] + ".html"

    assert names.tolist() == ["D001.html", h("../etc/passwd"), "d001-2.html", h("index"), h(SCRIPT), h("D 1")]


def test_index_escapes_and_links(small, scheme, small_analysis):
    res, kd = small_analysis
    payloads = build_payloads(small, scheme, res, kd, level="department")
    payloads[0] = {**payloads[0], "name": SCRIPT}
    e = index_entries(payloads)
    doc = render_index(e, payloads[0]["meta"], level="department")
    assert "&lt;script&gt;" in doc and "<script" not in doc.lower()
    assert doc.count('<a href="') == 50 and external_references(doc) == []


# ------------------------------------------------------------------------------ executors, determinism


def test_workers_1_and_2_give_byte_identical_reports(small_runs):
    one, two = _docs(small_runs[1]), _docs(small_runs[2])
    assert len(one) == 51  # 50 departments + index
    assert one == two
    m1 = json.loads((small_runs[1] / "manifest.json").read_text(encoding="utf-8"))
    m2 = json.loads((small_runs[2] / "manifest.json").read_text(encoding="utf-8"))
    assert m1["executor"]["kind"] == "sequential"
    assert m2["executor"] == {"kind": "processes", "workers": 2, "start_method": m2["executor"]["start_method"]}
    assert m1["run_id"].split("-")[-1] == m2["run_id"].split("-")[-1]  # the key ignores the executor


def test_dask_executor_gives_the_same_reports(small_dir, small, small_runs, tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(processes=False, n_workers=1, threads_per_worker=1,
                                  dashboard_address=None) as cluster:
        with get_executor(scheduler=cluster.scheduler_address) as ex:
            assert isinstance(ex, DaskExecutor)
            assert list(ex.map(operator.neg, [1, 2, 3])) == [-1, -2, -3]
        run = run_feedback(small_dir, SCHEME, level="department", scheduler=cluster.scheduler_address,
                           out=tmp_path, progress=False, load_fn=_given(small))
    assert _docs(run) == _docs(small_runs[1])
    m = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    assert m["executor"]["kind"] == "dask" and m["executor"]["scheduler"] == cluster.scheduler_address


def test_executor_errors_are_clear():
    with pytest.raises(ExecutorError, match="at least 1"):
        get_executor(0)
    with pytest.raises(ExecutorError, match="at least 1"):
        get_executor(True)
    with pytest.raises(ExecutorError, match="cannot connect"):
        get_executor(scheduler="tcp://127.0.0.1:1", timeout=2)
    with pytest.raises(ExecutorError, match="missing port"):
        get_executor(scheduler="not-an-address")
    with pytest.raises(ExecutorError, match="unknown transport"):
        get_executor(scheduler="bogus://x")


def test_missing_distributed_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # makes `import distributed` fail
    with pytest.raises(ExecutorError, match="pip install 'bsc-workbench\\[distributed\\]'"):
        get_executor(scheduler="tcp://127.0.0.1:8786")


def test_executor_map_order_chunks_and_errors():
    # chunk_size: ceil(248 / (2 workers × 4)) = 31; ceil(5 / 16) → 1
    assert chunk_size(248, 2) == 31 and chunk_size(5, 4) == 1 and chunk_size(0, 2) == 1
    assert isinstance(get_executor(1), SequentialExecutor)
    with SequentialExecutor() as ex:
        assert list(ex.map(operator.neg, [3, 1, 2])) == [-3, -1, -2]
    with get_executor(2) as ex:
        assert isinstance(ex, ProcessExecutor)
        items = list(range(23))
        assert list(ex.map(operator.neg, items)) == [-i for i in items]
        assert sorted(ex.as_completed(operator.neg, items)) == [(i, -i) for i in items]
        with pytest.raises(ValueError, match="invalid literal"):
            list(ex.map(int, ["1", "x", "3"]))


# ------------------------------------------------------------------------------ failures, CLI


def _fail_on_second(payload):
    if payload["unit_id"] == "D002":
        raise RuntimeError("boom in D002")
    return render_unit(payload)


def test_render_failure_leaves_a_failed_folder(small_dir, small, tmp_path):
    with pytest.raises(FeedbackFailed) as info:
        run_feedback(small_dir, SCHEME, level="department", workers=1, out=tmp_path, progress=False,
                     render_fn=_fail_on_second, load_fn=_given(small))
    run = info.value.run_dir
    assert run is not None and run.name.endswith("-FAILED") and run.is_dir()
    m = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    assert m["status"] == "failed" and m["error"]["type"] == "render"
    assert m["failed_units"] == [{"unit_id": "D002", "error": "RuntimeError: boom in D002"}]
    assert m["counts"]["failed"] == 1 and m["counts"]["reports"] == 49
    assert "D002" in str(info.value) and "boom" in str(info.value)
    assert not (run / "index.html").exists()
    assert [p.name for p in (tmp_path / "2019").iterdir()] == [run.name]  # no complete folder, no .tmp


def test_external_reference_from_a_renderer_fails_the_run(small_dir, small, tmp_path):
    with pytest.raises(FeedbackFailed, match="external reference"):
        run_feedback(small_dir, SCHEME, level="institution", workers=1, out=tmp_path, progress=False,
                     render_fn=_leaky_render, load_fn=_given(small))


def _leaky_render(payload):
    return render_unit(payload).replace("</body>", '<img src="https://example.org/x.png"></body>')


def test_bad_data_path_creates_no_folder(tmp_path):
    from bsc_lib.errors import DataError

    with pytest.raises(DataError):
        run_feedback(tmp_path / "nope", SCHEME, workers=1, out=tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


def _cli(*args, cwd=REPO):
    return subprocess.run([sys.executable, "-m", "bsc_lib.cli", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=120, check=False)


def test_cli_feedback_prints_the_folder(small_dir, tmp_path):
    r = _cli("feedback", "--data", str(small_dir), "--out", str(tmp_path), "--workers", "1", "--level",
             "institution", "--no-progress")
    assert r.returncode == 0, r.stderr
    m = re.search(r"feedback complete: (\S+)", r.stdout)
    run = Path(m.group(1))
    assert run.is_dir() and run.parent == tmp_path / "2019"
    assert len(list(run.glob("*.html"))) == 10  # 9 institutions + index


def test_cli_bad_data_path_exits_cleanly(tmp_path):
    r = _cli("feedback", "--data", str(tmp_path / "missing"), "--out", str(tmp_path), "--workers", "1")
    assert r.returncode == 2 and "Traceback" not in r.stderr and "missing" in r.stderr
    assert not (tmp_path / "2019").exists()


def test_cli_bad_workers_and_scheduler_exit_cleanly(tmp_path, capsys):
    from bsc_lib.cli import main

    assert main(["feedback", "--out", str(tmp_path), "--workers", "0"]) == 2
    err = capsys.readouterr().err
    assert "--workers" in err and "at least 1" in err and "Traceback" not in err
    assert main(["feedback", "--out", str(tmp_path), "--scheduler", "tcp://127.0.0.1:1"]) == 2
    err = capsys.readouterr().err
    assert "unreachable" in err and "Traceback" not in err
    assert not (tmp_path / "2019").exists()
