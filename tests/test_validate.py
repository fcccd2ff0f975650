"""Tests of bsc_lib.data.validate: pandera column checks and the cross-table rules.

Each test starts from the hand-made valid dataset in tests/data/io/minimal/ (see its CSVs:
KPI weights D001 = 60 + 40, D002 = 100, D003 = 100, I01 = 100), breaks one thing and checks
the exact rule, row (spreadsheet row: header = 1, first data row = 2), column and message.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from bsc_lib.cli import main
from bsc_lib.config.scheme import default_scheme_path, load_scheme
from bsc_lib.data import model
from bsc_lib.data.io import load
from bsc_lib.data.validate import table_schema, validate, validate_data

MINIMAL = Path(__file__).parent / "data" / "io" / "minimal"
SAMPLE = Path(__file__).resolve().parent.parent / "data" / "sample" / "2019"


@pytest.fixture(scope="module")
def scheme():
    return load_scheme(default_scheme_path())


@pytest.fixture(scope="module")
def valid_data(scheme):
    return load(MINIMAL, scheme=scheme)


def folder(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    shutil.copytree(MINIMAL, d)
    return d


def edit(d: Path, table: str, old: str, new: str) -> None:
    """Replace one line (or part of it) of ``<table>.csv``; fails when ``old`` is absent."""
    f = d / f"{table}.csv"
    text = f.read_text(encoding="utf-8")
    assert old in text, (table, old)
    f.write_text(text.replace(old, new, 1), encoding="utf-8")


def one(problems, rule):
    hits = [p for p in problems if p.rule == rule]
    assert len(hits) == 1, problems
    assert len(problems) == 1, problems  # nothing else was reported
    return hits[0]


# --------------------------------------------------------------------------- valid inputs


def test_minimal_dataset_is_valid(scheme):
    assert validate(MINIMAL, scheme=scheme) == []


def test_validate_data_on_loaded_data_is_clean(valid_data, scheme):
    assert validate_data(valid_data, scheme) == []


def test_zero_and_negative_targets_are_not_flagged(tmp_path, scheme):
    d = folder(tmp_path)
    edit(d, "kpi_results", "K01,2019,H1,90,88,TRUE", "K01,2019,H1,0,88,TRUE")
    edit(d, "kpi_results", "K01,2019,H2,90,92,TRUE", "K01,2019,H2,-3.5,92,TRUE")
    assert validate(d, scheme=scheme) == []


def test_band_limits_on_up_kpi_are_not_flagged(tmp_path, scheme):
    d = folder(tmp_path)
    edit(d, "kpis", "K01,D001,department,P01,평가 만족도,점,up,,,", "K01,D001,department,P01,평가 만족도,점,up,1,2,")
    assert validate(d, scheme=scheme) == []


# --------------------------------------------------------------------------- column checks (pandera)


def test_missing_required_value(tmp_path, scheme):
    d = folder(tmp_path)
    edit(d, "kpis", "K04,D003,department,P03,수질 적합률", "K04,D003,department,P03,")
    p = one(validate(d, scheme=scheme), "missing value")
    # kpis.csv: header row 1, K04 is the 4th data row → row 5
    assert (p.file, p.row, p.column) == (str(d / "kpis.csv"), 5, "name_ko")
    assert p.message == "name_ko (지표명) is required; the cell is empty"


def test_unknown_code_lists_allowed_codes(tmp_path, scheme):
    d = folder(tmp_path)
    edit(d, "institutions", "I02,상수도사업본부,Waterworks Headquarters,business_office",
         "I02,상수도사업본부,Waterworks Headquarters,구청")
    p = one(validate(d, scheme=scheme), "unknown code")
    assert (p.row, p.column, p.value) == (3, "inst_type", "구청")
    assert p.message == ("unknown code '구청' for inst_type (기관유형); allowed: "
                         "main_office (본청), business_office (사업소), independent (독립기관)")


def test_min_and_max(tmp_path, scheme):
    d = folder(tmp_path)
    # weight 120 > 100 (and the D003 weight sum becomes 120: a second, separate problem)
    edit(d, "kpis", "K04,D003,department,P03,수질 적합률,%,up,,,outcome,100", "K04,D003,department,P03,수질 적합률,%,up,,,outcome,120")
    edit(d, "integrity", "2019,D002,70,80,60,75,1,", "2019,D002,70,80,60,75,-1,")
    probs = validate(d, scheme=scheme)
    got = sorted((p.file.rsplit("/", 1)[1], p.row, p.column, p.rule, p.value) for p in probs)
    assert got == [
        ("integrity.csv", 3, "misconduct_count", "below minimum", "-1"),
        ("kpis.csv", 5, "weight", "above maximum", "120"),
        ("kpis.csv", 5, "weight", "weight sum", "120"),
    ]
    above = next(p for p in probs if p.rule == "above maximum")
    assert above.message == "120 is above the maximum 100 of weight"


# --------------------------------------------------------------------------- keys


def test_duplicate_key_rows(tmp_path, scheme):
    d = folder(tmp_path)
    # the second K01 row becomes H1 again: (K01, 2019, H1) twice, rows 2 and 3
    edit(d, "kpi_results", "K01,2019,H2,90,92,TRUE", "K01,2019,H1,90,92,TRUE")
    p = one(validate(d, scheme=scheme), "duplicate key")
    assert (p.row, p.column, p.value) == (3, "kpi_id, year, half", "kpi_id=K01, year=2019, half=H1")
    assert p.message == ("duplicate kpi_results row (kpi_id=K01, year=2019, half=H1): "
                         "the same key is already in row 2")


def test_duplicate_id(tmp_path, scheme):
    d = folder(tmp_path)
    edit(d, "projects", "P03,D003,,수질관리,TRUE", "P03,D003,,수질관리,TRUE\nP01,D003,,중복,FALSE")
    p = one(validate(d, scheme=scheme), "duplicate key")
    assert (p.file, p.row, p.column, p.value) == (str(d / "projects.csv"), 5, "project_id", "project_id=P01")


def test_foreign_keys(tmp_path, scheme):
    d = folder(tmp_path)
    edit(d, "kpis", "K04,D003,", "K04,D999,")
    edit(d, "pre_eval_ratings", "I01,first", "I09,first")
    probs = validate(d, scheme=scheme)
    got = sorted((p.file.rsplit("/", 1)[1], p.row, p.column, p.rule, p.message) for p in probs)
    assert got == [
        ("kpis.csv", 5, "owner_id", "unknown reference",
         "owner_id 'D999' not found in departments.department_id or institutions.institution_id"),
        ("pre_eval_ratings.csv", 4, "unit_id", "unknown reference",
         "unit_id 'I09' not found in departments.department_id or institutions.institution_id"),
    ]


def test_foreign_key_into_absent_optional_table(tmp_path, scheme):
    d = folder(tmp_path)
    edit(d, "projects", "P02,D002,,", "P02,D002,PG1,")
    p = one(validate(d, scheme=scheme), "unknown reference")
    assert p.row == 3 and p.column == "performance_goal_id"
    assert p.message == ("performance_goal_id 'PG1' not found in performance_goals.performance_goal_id "
                         "(table performance_goals has no rows)")


def test_missing_required_table_does_not_cascade(tmp_path, scheme):
    d = folder(tmp_path)
    (d / "institutions.csv").unlink()
    probs = validate(d, scheme=scheme)
    assert [p.rule for p in probs] == ["missing table"]


# --------------------------------------------------------------------------- KPI rules


def test_weight_sum_per_owner(tmp_path, scheme):
    d = folder(tmp_path)
    # D001: 60 + 30 = 90 ≠ 100 (tolerance 0.5) → problem at the owner's first KPI row (2)
    edit(d, "kpis", "process,40", "process,30")
    # D003: 99.6 is within 100 ± 0.5 → no problem
    edit(d, "kpis", "K04,D003,department,P03,수질 적합률,%,up,,,outcome,100", "K04,D003,department,P03,수질 적합률,%,up,,,outcome,99.6")
    p = one(validate(d, scheme=scheme), "weight sum")
    assert (p.row, p.column, p.value) == (2, "weight", "90")
    assert p.message == "the weights of owner D001's 2 KPI(s) (rows 2, 3) sum to 90; expected 100 ± 0.5"


def test_weight_sum_just_outside_tolerance(tmp_path, scheme):
    d = folder(tmp_path)
    edit(d, "kpis", "K04,D003,department,P03,수질 적합률,%,up,,,outcome,100", "K04,D003,department,P03,수질 적합률,%,up,,,outcome,99.4")
    p = one(validate(d, scheme=scheme), "weight sum")
    assert (p.row, p.value) == (5, "99.4")


def test_band_kpi_limits(tmp_path, scheme):
    d = folder(tmp_path)
    # K03 (row 4): band without band_high; K02 (row 3) turned band with low 9 > high 5
    edit(d, "kpis", "band,40,60,", "band,40,,")
    edit(d, "kpis", "K02,D001,department,P01,처리 기간,일,down,,,", "K02,D001,department,P01,처리 기간,일,목표구간,9,5,")
    probs = validate(d, scheme=scheme)
    got = sorted((p.row, p.column, p.rule, p.value, p.message) for p in probs)
    assert got == [
        (3, "band_low", "band limits", "9 > 5",
         "band_low is above band_high (9 > 5); the lower limit must not exceed the upper"),
        (4, "band_high", "band limits", "", "a band (목표구간) KPI needs band_high (구간상한)"),
    ]


def test_kpi_level_consistent_with_owner(tmp_path, scheme):
    d = folder(tmp_path)
    edit(d, "kpis", "K04,D003,department", "K04,D003,institution")
    edit(d, "kpis", "K05,I01,institution", "K05,I01,department")
    probs = validate(d, scheme=scheme)
    got = sorted((p.row, p.column, p.rule, p.value) for p in probs)
    assert got == [(5, "level", "kpi level", "D003"), (6, "level", "kpi level", "I01")]
    assert probs[0].message.startswith("an institution-level KPI is owned by department 'D003'")


# --------------------------------------------------------------------------- scheme rules


def test_ratings_inside_scheme_scales_and_items(tmp_path, scheme):
    d = folder(tmp_path)
    edit(d, "pre_eval_ratings", "D001,first,project_importance,R1,80", "D001,first,project_importance,R1,120")
    edit(d, "qualitative_ratings", "P01,planning_office,O1,results,75", "P01,planning_office,O1,resultz,75")
    edit(d, "evaluator_scores", "2019,H1,D001,V1,85", "2019,H1,D001,V1,-1")
    probs = validate(d, scheme=scheme)
    got = sorted((p.file.rsplit("/", 1)[1], p.row, p.column, p.rule, p.value) for p in probs)
    assert got == [
        ("evaluator_scores.csv", 3, "score", "out of scale", "-1"),
        ("pre_eval_ratings.csv", 2, "score", "out of scale", "120"),
        ("qualitative_ratings.csv", 3, "item", "unknown item", "resultz"),
    ]
    scale = next(p for p in probs if p.file.endswith("pre_eval_ratings.csv"))
    assert scale.message == "score 120 is outside the pre_evaluation scale 0–100"
    item = next(p for p in probs if p.rule == "unknown item")
    assert item.message == ("unknown item 'resultz'; the scheme's qualitative items are: "
                            "importance, difficulty, capability, results")


def test_cooperation_scores_against_item_points(tmp_path, scheme):
    d = folder(tmp_path)
    # budget_execution is worth 3 points: 3.5 is too much; 3 is fine; unknown item flagged
    edit(d, "cooperation_scores", "I01,budget_execution,2.5", "I01,budget_execution,3.5")
    edit(d, "cooperation_scores", "I02,inter_agency,5", "I02,teamwork,1")
    probs = validate(d, scheme=scheme)
    got = sorted((p.row, p.column, p.rule, p.value) for p in probs)
    assert got == [(2, "score", "above item points", "3.5 > 3 (budget_execution)"),
                   (3, "item", "unknown item", "teamwork")]


def test_unknown_perspective(tmp_path, scheme):
    d = folder(tmp_path)
    edit(d, "strategic_goals", "S02,I02,내부프로세스", "S02,I02,고객")
    p = one(validate(d, scheme=scheme), "unknown perspective")
    assert (p.row, p.column, p.value) == (3, "perspective", "고객")


def test_rules_of_absent_components_are_skipped(tmp_path, scheme):
    d = folder(tmp_path)
    edit(d, "pre_eval_ratings", "D001,first,project_importance,R1,80", "D001,first,whatever,R1,500")
    assert {p.rule for p in validate(d, scheme=scheme)} == {"unknown item", "out of scale"}
    no_pre = scheme.model_copy(update={
        "components": scheme.components.model_copy(update={"pre_evaluation": None})})
    assert validate(d, scheme=no_pre) == []


# --------------------------------------------------------------------------- everything together


def test_three_different_errors_give_three_problems(tmp_path, scheme):
    d = folder(tmp_path)
    edit(d, "kpis", "process,40", "process,4o")                 # not a number, kpis row 3
    edit(d, "kpi_results", "K03,2019,H1", "K03,2019,H3")        # unknown code, kpi_results row 6
    edit(d, "departments", "D003,I02", "D003,I99")              # unknown reference, departments row 4
    probs = validate(d, scheme=scheme)
    got = sorted((p.file.rsplit("/", 1)[1], p.row, p.column, p.rule) for p in probs)
    assert got == [
        ("departments.csv", 4, "institution_id", "unknown reference"),
        ("kpi_results.csv", 6, "half", "unknown code"),
        ("kpis.csv", 3, "weight", "not a number"),
    ]


def test_empty_required_table(tmp_path, scheme):
    d = folder(tmp_path)
    (d / "kpi_results.csv").write_text("kpi_id,year,half,target,actual,verified\n", encoding="utf-8")
    p = one(validate(d, scheme=scheme), "empty table")
    assert p.file == str(d / "kpi_results.csv")
    assert p.message == "required table kpi_results (지표실적) has no rows"


# --------------------------------------------------------------------------- validate_data on in-memory data


def test_validate_data_dtype_and_missing_table(valid_data, scheme):
    tables = dict(valid_data.tables)
    tables["kpis"] = tables["kpis"].astype({"weight": "int64"})
    del tables["people"]
    probs = validate_data(model.BSCData(tables=tables), scheme)
    got = sorted((p.file, p.column, p.rule) for p in probs)
    assert got == [("kpis", "weight", "dtype"), ("people", "", "missing table")]
    dtype = next(p for p in probs if p.rule == "dtype")
    assert dtype.message == "column weight has dtype int64, expected float64"


def test_validate_data_default_rows_are_position_plus_two(valid_data, scheme):
    tables = dict(valid_data.tables)
    k = tables["kpis"].copy()
    k.loc[2, "weight"] = 50.0   # third KPI (K03, D002): sum 50
    tables["kpis"] = k
    p = one(validate_data(model.BSCData(tables=tables), scheme), "weight sum")
    assert (p.file, p.row, p.column) == ("kpis", 4, "weight")


def test_table_schema_dtypes():
    s = table_schema(model.TABLES["kpi_history"])
    assert str(s.columns["year"].dtype) == "int64"
    assert str(table_schema(model.TABLES["kpi_history"], parsed=True).columns["year"].dtype) == "Int64"


# --------------------------------------------------------------------------- CLI


def test_cli_validate_prints_readable_problems(tmp_path, capsys):
    d = folder(tmp_path)
    edit(d, "kpis", "process,40", "process,4o")
    assert main(["validate", str(d)]) == 2
    err = capsys.readouterr().err
    assert "1 problem(s) found" in err
    assert "kpis.csv" in err and "row 3" in err and "not a number" in err and "'4o' is not a number" in err
    assert main(["validate", str(MINIMAL)]) == 0
    assert "no problems found" in capsys.readouterr().out


# --------------------------------------------------------------------------- the sample dataset


@pytest.mark.skipif(not (SAMPLE / "kpis.csv").exists(), reason="sample not generated yet")
def test_sample_dataset_validates(scheme):
    probs = validate(SAMPLE, scheme=scheme)
    assert probs == [], pd.DataFrame([p.as_dict() for p in probs[:20]]).to_string()


# --------------------------------------------------------------------------- invisible characters (issue 14)


def test_duplicate_key_with_an_invisible_character_inside_shows_it(tmp_path, scheme):
    d = folder(tmp_path)
    # a new project whose id has a zero-width space inside, twice: one id, reported visibly
    edit(d, "projects", "P03,D003,,수질관리,TRUE",
         "P03,D003,,수질관리,TRUE\nP0\u200b4,D003,,신규,FALSE\nP0\u200b4,D003,,중복,FALSE")
    p = one(validate(d, scheme=scheme), "duplicate key")
    assert (p.row, p.value) == (6, "project_id=P0<U+200B>4")
    assert "(project_id=P0<U+200B>4): the same key is already in row 5" in p.message


def test_zero_width_twin_of_a_department_is_an_error_not_a_second_department(tmp_path, scheme):
    d = folder(tmp_path)
    edit(d, "departments", "D003,I02,급수부,,FALSE", "D003,I02,급수부,,FALSE\nD003\u200b,I02,급수부,,FALSE")
    problems = validate(d, scheme=scheme)
    assert sorted(p.rule for p in problems) == ["ambiguous id", "duplicate key"]
    amb = next(p for p in problems if p.rule == "ambiguous id")
    assert (amb.row, amb.column, amb.value) == (5, "department_id", "D003<U+200B>")
    assert "'D003<U+200B>' (row 5) and 'D003' (row 4)" in amb.message
