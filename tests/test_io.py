"""Tests of bsc_lib.data.io: reading CSV folders and workbooks, parsing cells, row numbers, robustness.

The minimal valid dataset lives in tests/data/io/minimal/ (hand-made: 2 institutions,
3 departments, 3 projects, 5 KPIs, 10 half-year results, a few ratings). Each test copies it
to tmp_path and changes what it needs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import shutil
import zipfile
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bsc_lib.data import model
from bsc_lib.data.io import BSCData, load, read_tables
from bsc_lib.data.io.parse import clean_text, parse_number
from bsc_lib.data.io.problems import MAX_PER_RULE, cap_problems
from bsc_lib.data.io.reader import decode_bytes
from bsc_lib.data.validate import validate
from bsc_lib.errors import DataError

MINIMAL = Path(__file__).parent / "data" / "io" / "minimal"


# --------------------------------------------------------------------------- helpers


def minimal_frames() -> dict[str, pd.DataFrame]:
    """The minimal dataset as text frames (every cell a string, '' for blank)."""
    return {f.stem: pd.read_csv(f, dtype=str, keep_default_na=False) for f in sorted(MINIMAL.glob("*.csv"))}


def csv_folder(tmp_path: Path, frames: dict[str, pd.DataFrame] | None = None, name: str = "data") -> Path:
    d = tmp_path / name
    if frames is None:
        shutil.copytree(MINIMAL, d)
        return d
    d.mkdir()
    for t, df in frames.items():
        df.to_csv(d / f"{t}.csv", index=False)
    return d


def small_folder(tmp_path: Path, files: dict[str, str | bytes]) -> Path:
    """A folder holding only ``files`` ({file name: text or bytes}); for read_tables tests."""
    d = tmp_path / "small"
    d.mkdir()
    for name, content in files.items():
        data = content.encode("utf-8") if isinstance(content, str) else content
        (d / name).write_bytes(data)
    return d


def write_xlsx(path: Path, frames: dict[str, pd.DataFrame], typed: bool = True) -> Path:
    """Write text frames as a workbook with openpyxl; ``typed`` writes numbers as numbers."""
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for t, df in frames.items():
        ws = wb.create_sheet(t)
        ws.append(list(df.columns))
        cols = model.TABLES[t]
        for row in df.itertuples(index=False):
            out = []
            for c, v in zip(df.columns, row, strict=True):
                dtype = cols.column(c).dtype
                if typed and v != "" and dtype in ("int", "float"):
                    out.append(float(v) if dtype == "float" else int(v))
                elif typed and v != "" and dtype == "bool":
                    out.append(v.upper() == "TRUE")
                else:
                    out.append(v if v != "" else None)
            ws.append(out)
    wb.save(path)
    return path


def sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def rules(problems) -> list[str]:
    return [p.rule for p in problems]


def only(problems, rule: str):
    hits = [p for p in problems if p.rule == rule]
    assert len(hits) == 1, problems
    return hits[0]


# --------------------------------------------------------------------------- round trips


def test_csv_folder_round_trip_is_canonical(tmp_path):
    d = csv_folder(tmp_path)
    data = load(d)
    assert isinstance(data, BSCData) and BSCData is model.BSCData
    assert set(data.tables) == set(model.TABLES)
    as_str = load(d, text="str")
    for name, t in model.TABLES.items():
        df, ds = data.tables[name], as_str.tables[name]
        assert list(df.columns) == t.column_names, name
        for c in t.columns:  # text integer-coded by default (category of str), else the model's dtype
            want = "category" if c.dtype == "str" else model.pandas_dtype(c)
            assert str(df[c.name].dtype) == want, (name, c.name)
            assert str(ds[c.name].dtype) == model.pandas_dtype(c), (name, c.name)
        assert isinstance(df.index, pd.RangeIndex)
    # absent optional table → empty frame with the model's columns
    assert len(data.performance_goals) == 0
    assert data.counts().set_index("table")["rows"].to_dict()["kpi_results"] == 10
    k = data.kpis.set_index("kpi_id")
    assert k.loc["K03", "band_low"] == 40.0 and k.loc["K03", "polarity"] == "band"
    assert np.isnan(k.loc["K01", "band_low"])
    assert data.kpi_results["verified"].tolist().count(False) == 2
    assert data.kpi_history["year"].tolist() == [2017, 2018, 2018]
    assert data.source == str(d)
    assert data.input_hashes == {f.name: sha(f) for f in sorted(d.glob("*.csv"))}


def test_xlsx_round_trip_equals_csv(tmp_path):
    from_csv = load(csv_folder(tmp_path))
    book = write_xlsx(tmp_path / "data.xlsx", minimal_frames(), typed=True)
    from_xlsx = load(book)
    for name in model.TABLES:
        pd.testing.assert_frame_equal(from_xlsx.tables[name], from_csv.tables[name], obj=name)
    assert from_xlsx.input_hashes == {"data.xlsx": sha(book)}


def test_xlsx_text_cells_equal_typed_cells(tmp_path):
    typed = load(write_xlsx(tmp_path / "a.xlsx", minimal_frames(), typed=True))
    text = load(write_xlsx(tmp_path / "b.xlsx", minimal_frames(), typed=False))
    for name in model.TABLES:
        pd.testing.assert_frame_equal(typed.tables[name], text.tables[name], obj=name)


def test_input_files_unchanged(tmp_path):
    d = csv_folder(tmp_path)
    book = write_xlsx(tmp_path / "data.xlsx", minimal_frames())
    before = {f: sha(f) for f in [*d.iterdir(), book]}
    load(d)
    validate(book)
    assert {f: sha(f) for f in [*d.iterdir(), book]} == before


def test_read_tables_returns_parsed_frames_and_problems(tmp_path):
    d = csv_folder(tmp_path)
    (d / "kpis.csv").write_text((d / "kpis.csv").read_text().replace(",60\n", ",6o\n"), encoding="utf-8")
    frames, problems, hashes = read_tables(d)
    assert str(frames["kpi_history"]["year"].dtype) == "Int64"
    assert str(frames["departments"]["consulting_participated"].dtype) == "boolean"
    p = only(problems, "not a number")
    assert (p.row, p.column, p.value) == (2, "weight", "6o")
    assert np.isnan(frames["kpis"]["weight"].iloc[0])
    assert "kpis.csv" in hashes


# --------------------------------------------------------------------------- encodings


DEPTS = "department_id,institution_id,name_ko,name_en,consulting_participated\n" \
        "D001,I01,평가협업담당관,,예\nD002,I01,조직담당관,,TRUE\nD003,I02,급수부,,아니오\n"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp949", "euc-kr", "utf-16"])
def test_csv_encodings(tmp_path, encoding):
    d = small_folder(tmp_path, {"departments.csv": DEPTS.encode(encoding)})
    frames, problems, _ = read_tables(d)
    # the only problems: the other required tables are absent
    assert rules(problems) == ["missing table"] * 3
    dep = frames["departments"]
    assert dep["name_ko"].tolist() == ["평가협업담당관", "조직담당관", "급수부"]
    assert dep["consulting_participated"].tolist() == [True, True, False]
    assert dep["department_id"].tolist() == ["D001", "D002", "D003"]  # no BOM left in the header


def test_decode_bytes_order():
    assert decode_bytes("가".encode())[1] == "utf-8"
    assert decode_bytes("가".encode("cp949"))[1] == "cp949"
    assert decode_bytes(b"\xff\xfe" + "a".encode("utf-16-le"))[1] == "utf-16"
    assert decode_bytes(b"\x81\x20\xff") is None  # neither UTF-8 nor CP949


def test_undecodable_csv_is_a_problem(tmp_path):
    d = csv_folder(tmp_path)
    (d / "people.csv").write_bytes(b"person_id,grade\n\x81\x20\xff,4\n")
    p = only(validate(d), "encoding")
    assert p.file == str(d / "people.csv")
    assert "UTF-8" in p.message and "CP949" in p.message


def test_tab_separated_csv(tmp_path):
    d = small_folder(tmp_path, {"institutions.csv":
                                "institution_id\tname_ko\tinst_type\nI01\t기획조정실\t본청\nI02\t상수도사업본부\t사업소\n"})
    frames, _, _ = read_tables(d)
    assert frames["institutions"]["inst_type"].tolist() == ["main_office", "business_office"]


# --------------------------------------------------------------------------- names and headers


def test_korean_file_names_and_headers(tmp_path):
    d = csv_folder(tmp_path)
    (d / "kpis.csv").unlink()
    # mixed Korean / English / template-form headers, Korean codes
    (d / "성과지표.csv").write_text(
        "지표ID,owner_id,수준 (level),사업ID,지표명,단위,극성,구간 하한,구간상한,지표유형,가중치 (weight)\n"
        "K01,D001,부서,P01,평가 만족도,점,상향,,,결과,60\n"
        "K02,D001,부서,P01,처리 기간,일,하향,,,과정,40\n"
        "K03,D002,부서,P02,진단 완료율,%,목표구간,40,60,산출,100\n"
        "K04,D003,부서,P03,수질 적합률,%,상향,,,결과,100\n"
        "K05,I01,실국,,기관 종합지표,점,UP,,,Outcome,100\n", encoding="utf-8")
    k = load(d).kpis
    assert k["polarity"].tolist() == ["up", "down", "band", "up", "up"]
    assert k["level"].tolist() == ["department"] * 4 + ["institution"]
    assert k["kpi_type"].tolist() == ["outcome", "process", "output", "outcome", "outcome"]
    assert k["band_high"].iloc[2] == 60.0


def test_korean_code_spellings_with_spaces_and_dots(tmp_path):
    d = small_folder(tmp_path, {"qualitative_ratings.csv":
        "year,half,project_id,rater_group,rater_id,item,score\n"
        "2019,상반기,P01,실·본부·국 자체평가,B1,importance,85\n"
        "2019,하반기,P01,기획 조정실,O1,results,75\n"
        "2019,h2,P03,전문가,E1,capability,90\n"})
    q = read_tables(d)[0]["qualitative_ratings"]
    assert q["half"].tolist() == ["H1", "H2", "H2"]
    assert q["rater_group"].tolist() == ["bureau_self", "planning_office", "expert"]


def test_unknown_column_with_suggestion_and_missing_required(tmp_path):
    d = csv_folder(tmp_path)
    text = (d / "kpis.csv").read_text(encoding="utf-8").replace(",weight\n", ",wieght\n", 1)
    (d / "kpis.csv").write_text(text, encoding="utf-8")
    probs = validate(d)
    unk = only(probs, "unknown column")
    assert (unk.column, unk.file) == ("wieght", str(d / "kpis.csv"))
    assert "did you mean 'weight'" in unk.message
    miss = only(probs, "missing column")
    assert miss.column == "weight" and miss.row is None
    # the missing column's cells are not reported one by one, and no weight-sum noise
    assert sorted(rules(probs)) == ["missing column", "unknown column"]


def test_duplicate_column_after_alias_mapping(tmp_path):
    d = csv_folder(tmp_path)
    (d / "institutions.csv").write_text(
        "institution_id,기관ID,name_ko,inst_type\nI01,I01,기획조정실,main_office\nI02,I02,상수도,business_office\n",
        encoding="utf-8")
    p = only(validate(d), "duplicate column")
    assert p.column == "기관ID" and "institution_id" in p.message


def test_missing_optional_column_filled_with_na(tmp_path):
    d = csv_folder(tmp_path)
    (d / "institutions.csv").write_text(
        "institution_id,name_ko,inst_type\nI01,기획조정실,main_office\nI02,상수도사업본부,business_office\n",
        encoding="utf-8")
    inst = load(d, text="str").institutions  # the full load: the canonical dtype of an all-NA column
    assert list(inst.columns) == model.TABLES["institutions"].column_names
    assert inst["name_en"].isna().all() and str(inst["name_en"].dtype) == "str"
    coded = load(d).institutions["name_en"]  # integer-coded: no category, but categories of text
    assert coded.isna().all() and str(coded.cat.categories.dtype) == "str"
    assert str(model.plain_text(coded).dtype) == "str"


def test_unknown_and_ignored_files(tmp_path):
    d = csv_folder(tmp_path)
    (d / "notes.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    (d / "_scratch.csv").write_text("junk", encoding="utf-8")
    (d / ".hidden.csv").write_text("junk", encoding="utf-8")
    (d / "readme.txt").write_text("not a table", encoding="utf-8")
    (d / "sub").mkdir()
    (d / "sub" / "kpis.csv").write_text("junk", encoding="utf-8")
    p = only(validate(d), "unknown table")
    assert p.file == str(d / "notes.csv")
    assert "institutions (기관)" in p.message and "kpi_results (지표실적)" in p.message


def test_duplicate_table_files(tmp_path):
    d = csv_folder(tmp_path)
    shutil.copy(d / "kpis.csv", d / "성과지표.csv")
    p = only(validate(d), "duplicate table")
    assert p.file == str(d / "성과지표.csv") and str(d / "kpis.csv") in p.message


def test_missing_required_and_optional_tables(tmp_path):
    d = csv_folder(tmp_path)
    (d / "kpi_results.csv").unlink()
    (d / "people.csv").unlink()
    (d / "org_management.csv").unlink()
    p = only(validate(d), "missing table")
    assert p.value == "kpi_results" and "kpi_results.csv" in p.message and "지표실적" in p.message
    # optional tables may be absent
    (d / "kpi_results.csv").write_bytes((MINIMAL / "kpi_results.csv").read_bytes())
    assert len(load(d).people) == 0


# --------------------------------------------------------------------------- cells


def test_number_formats(tmp_path):
    d = small_folder(tmp_path, {"kpi_results.csv":
        "kpi_id,year,half,target,actual,verified\n"
        'K01,2019,H1,"1,234",12.5%,TRUE\n'      # 1,234 → 1234; 12.5% → 12.5 (percent units)
        'K01,2019,H2," 1,234.5 ",-,TRUE\n'      # thousands + decimals; '-' → missing
        "K02,2019,H1,１２３,,TRUE\n"             # full-width digits → 123; blank → missing
        "K02,2019,H2,-5,N/A,FALSE\n"             # negative target is legal; N/A → missing
        "K03,2019,H1,1e3,０.５,예\n"             # 1e3 → 1000; full-width 0 → 0.5
        "K03,2019,H2,50,50 %,아니오\n"           # '50 %' → 50
        "K04,2019,H1,99.5,99.7,O\n"
        "K04,2019,H2,99.5,해당없음,x\n"
        "K05,2019,H1,80,81,y\nK05,2019,H2,80,79,n\n"})
    frames, problems, _ = read_tables(d)
    assert "not a number" not in rules(problems)
    r = frames["kpi_results"]
    assert r["target"].tolist() == [1234.0, 1234.5, 123.0, -5.0, 1000.0, 50.0, 99.5, 99.5, 80.0, 80.0]
    assert r["actual"].iloc[[0, 4, 5, 6]].tolist() == [12.5, 0.5, 50.0, 99.7]
    assert r["actual"].iloc[[1, 2, 3, 7]].isna().all()
    assert r["verified"].tolist() == [True, True, True, False, True, False, True, False, True, False]


@settings(max_examples=150, deadline=None)
@given(st.integers(min_value=-10**12, max_value=10**12), st.integers(min_value=0, max_value=99))
def test_thousands_separated_numbers_round_trip(whole, cents):
    # f"{n:,}" is the comma-grouped form an analyst types or Excel exports; it must parse back
    # to the same number, with or without decimals, a percent sign and surrounding blanks.
    sign = "-" if whole < 0 else ""
    texts = [f"{whole:,}", f" {sign}{abs(whole):,}.{cents:02d} ", f"{whole:,}%"]
    values, bad = parse_number(clean_text(pd.Series(texts, dtype="str")))
    assert not bad.any()
    expected = [float(whole), float(f"{sign}{abs(whole)}.{cents:02d}"), float(whole)]
    assert values.tolist() == expected


def test_unparseable_cells_name_row_column_and_original_text(tmp_path):
    d = csv_folder(tmp_path)
    (d / "kpi_results.csv").write_text(
        "kpi_id,연도,half,목표치,actual,verified\n"
        "K01,2019,H1,90,88,TRUE\n"
        "\n"                                     # blank line: skipped, but counts for row numbers
        "K01,2019,H2,\"12,34\",92,TRUE\n"        # row 4: comma not in thousands groups
        "K02,2019.5,H1,10,12,TRUE\n"             # row 5: year not whole
        "K02,2019,H2,10,inf,maybe\n"             # row 6: infinite; not a boolean
        "K03,2019,H1,50,55,TRUE\nK03,2019,H2,50,,FALSE\nK04,2019,H1,99.5,99.7,TRUE\n"
        "K04,2019,H2,99.5,99.1,TRUE\nK05,2019,H1,80,81,TRUE\nK05,2019,H2,80,79,TRUE\n", encoding="utf-8")
    probs = validate(d)
    got = sorted((p.row, p.column, p.rule, p.value) for p in probs)
    assert got == [
        (4, "목표치", "not a number", "12,34"),
        (5, "연도", "not a whole number", "2019.5"),
        (6, "actual", "not a number", "inf"),
        (6, "verified", "not a boolean", "maybe"),
    ]
    assert all(p.file == str(d / "kpi_results.csv") and p.sheet == "" for p in probs)


def test_problems_capped_per_rule_and_column(tmp_path):
    d = csv_folder(tmp_path)
    rows = "".join(f"K01,{1990 + i},x{i}\n" for i in range(MAX_PER_RULE + 10))
    (d / "kpi_history.csv").write_text("kpi_id,year,actual\n" + rows, encoding="utf-8")
    probs = validate(d)
    assert set(rules(probs)) == {"not a number"}
    assert len(probs) == MAX_PER_RULE + 1
    assert probs[0].row == 2 and probs[MAX_PER_RULE - 1].row == MAX_PER_RULE + 1
    assert probs[-1].row is None and "10 more" in probs[-1].message


def test_cap_problems_merges_summaries():
    from bsc_lib.errors import Problem

    ps = [Problem(file="f", rule="r", message=f"m{i}", row=i, column="c") for i in range(5)]
    capped = cap_problems(ps, cap=2)
    assert [p.row for p in capped] == [0, 1, None]
    assert "3 more" in capped[-1].message


def test_values_without_header_and_ragged_rows(tmp_path):
    d = csv_folder(tmp_path)
    (d / "institutions.csv").write_text(
        "institution_id,name_ko,name_en,inst_type,\n"
        "I01,기획조정실,,main_office,\n"
        "I02,상수도사업본부,,business_office,oops,more\n", encoding="utf-8")
    probs = validate(d)
    assert len(probs) == 2
    assert {(p.row, p.column, p.rule) for p in probs} == {
        (3, "column E", "unknown column"), (3, "column F", "unknown column")}


# --------------------------------------------------------------------------- workbooks


def test_xlsx_percent_date_and_formula_cells(tmp_path):
    frames = minimal_frames()
    book = write_xlsx(tmp_path / "data.xlsx", frames)
    wb = openpyxl.load_workbook(book)
    ws = wb["kpi_results"]
    ws["E2"] = 0.125                         # actual K01 H1, shown as 12.5 %
    ws["E2"].number_format = "0.0%"
    ws["E3"] = dt.datetime(2019, 3, 1)       # a date in a numeric column
    ws["E4"] = "=D4*1.2"                     # a formula openpyxl saves without a cached value
    wb.save(book)
    probs = validate(book)
    got = sorted((p.sheet, p.row, p.column, p.rule, p.value) for p in probs)
    assert got == [
        ("kpi_results", 3, "actual", "not a number", "2019-03-01"),
        ("kpi_results", 4, "actual", "formula", "=D4*1.2"),
    ]
    assert all(p.file == str(book) for p in probs)
    ws["E3"] = 7
    ws["E3"].number_format = "General"
    ws["E4"] = 8
    wb.save(book)
    assert load(book).kpi_results["actual"].iloc[0] == 12.5


def _patch_cached_formula(book: Path, sheet_xml: str, cell: str, formula: str, value: str) -> None:
    """Rewrite a cell of a saved workbook as a formula with a cached value (as Excel saves it)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(book) as zin, zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == sheet_xml:
                text = data.decode("utf-8")
                start = text.index(f'<c r="{cell}"')
                end = text.index("</c>", start) + len("</c>")
                text = text[:start] + f'<c r="{cell}"><f>{formula}</f><v>{value}</v></c>' + text[end:]
                data = text.encode("utf-8")
            zout.writestr(item, data)
    book.write_bytes(buf.getvalue())


def test_xlsx_formula_with_cached_value_is_read(tmp_path):
    frames = {"institutions": minimal_frames()["institutions"]}
    frames.update({k: v for k, v in minimal_frames().items() if k != "institutions"})
    book = write_xlsx(tmp_path / "data.xlsx", frames)
    # sheet1 = institutions; kpis is sheet order index of "kpis" + 1
    idx = list(frames).index("kpis") + 1
    _patch_cached_formula(book, f"xl/worksheets/sheet{idx}.xml", "K2", "30*2", "60")
    assert load(book).kpis["weight"].iloc[0] == 60.0


def test_xlsx_sheets_readme_unknown_and_korean_names(tmp_path):
    frames = minimal_frames()
    book = write_xlsx(tmp_path / "data.xlsx", frames)
    wb = openpyxl.load_workbook(book)
    wb["kpis"].title = "성과지표"
    wb.create_sheet("README").append(["anything"])
    wb.create_sheet("설명")
    wb.create_sheet("메모").append(["x"])
    wb.save(book)
    p = only(validate(book), "unknown sheet")
    assert (p.sheet, p.file) == ("메모", str(book))
    del wb["메모"]
    wb.save(book)
    assert len(load(book).kpis) == 5


def test_xlsx_header_not_in_first_row_and_blank_rows(tmp_path):
    book = write_xlsx(tmp_path / "data.xlsx", minimal_frames())
    wb = openpyxl.load_workbook(book)
    ws = wb["kpis"]
    ws.insert_rows(1, amount=2)              # header now on row 3, data from row 4
    ws.insert_rows(6)                        # a blank row between data rows
    ws["K8"] = "abc"                         # K04's weight (data row 4 → sheet row 8)
    wb.save(book)
    p = only(validate(book), "not a number")
    assert (p.sheet, p.row, p.column, p.value) == ("kpis", 8, "weight", "abc")


def test_xlsx_empty_sheet_is_a_problem(tmp_path):
    frames = minimal_frames()
    frames["people"] = frames["people"].iloc[0:0]
    book = write_xlsx(tmp_path / "data.xlsx", frames)
    wb = openpyxl.load_workbook(book)
    ws = wb["people"]
    ws.delete_rows(1)
    wb.save(book)
    p = only(validate(book), "empty")
    assert p.sheet == "people" and "no header row" in p.message


# --------------------------------------------------------------------------- broken inputs


def test_empty_csv_file(tmp_path):
    d = csv_folder(tmp_path)
    (d / "kpis.csv").write_bytes(b"")
    probs = validate(d)
    assert rules(probs) == ["empty"]
    assert probs[0].file == str(d / "kpis.csv")


def test_binary_file_named_csv(tmp_path):
    d = csv_folder(tmp_path)
    (d / "people.csv").write_bytes(b"\x00\x01\x02binary\x00")
    p = only(validate(d), "format")
    assert "not a CSV" in p.message


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"", "empty"),
        (b"this is plain text, not a workbook\n", "not a zip"),
        (b"PK\x03\x04" + b"\x00" * 100, "not a zip"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504, "password"),
    ],
    ids=["empty", "text", "truncated-zip", "encrypted-ole"],
)
def test_broken_workbooks_give_one_clean_problem(tmp_path, content, needle):
    book = tmp_path / "data.xlsx"
    book.write_bytes(content)
    probs = validate(book)
    assert len(probs) == 1 and probs[0].file == str(book)
    assert needle in probs[0].message
    with pytest.raises(DataError) as exc:
        load(book)
    assert exc.value.problems == probs


def test_zip_that_is_not_a_workbook(tmp_path):
    book = tmp_path / "data.xlsx"
    with zipfile.ZipFile(book, "w") as z:
        z.writestr("hello.txt", "not a workbook")
    p = only(validate(book), "format")
    assert "corrupt" in p.message


def test_path_errors(tmp_path):
    assert rules(validate(tmp_path / "nope")) == ["not found"]
    (tmp_path / "old.xls").write_bytes(b"x")
    assert ".xlsx" in only(validate(tmp_path / "old.xls"), "format").message
    (tmp_path / "one.csv").write_text("a\n", encoding="utf-8")
    assert "folder" in only(validate(tmp_path / "one.csv"), "format").message
    empty = tmp_path / "empty_dir"
    empty.mkdir()
    assert rules(validate(empty)) == ["missing table"] * 4


def test_load_raises_data_error_listing_all_problems(tmp_path):
    d = csv_folder(tmp_path)
    (d / "kpi_results.csv").write_text(
        (d / "kpi_results.csv").read_text(encoding="utf-8").replace("K01,2019,H1,90,88,TRUE", "K01,2019,H9,abc,88,TRUE"),
        encoding="utf-8")
    with pytest.raises(DataError) as exc:
        load(d)
    assert sorted(rules(exc.value.problems)) == ["not a number", "unknown code"]
    assert "2 problems found" in str(exc.value)


def test_load_keeps_text_integer_coded_by_default():
    """``load()`` (= ``text="category"``): the same values as ``load(text="str")``, text as sorted
    categoricals whose categories all occur; :meth:`BSCData.plain` gives the ``str`` tables back."""
    sample = Path(__file__).resolve().parent.parent / "data" / "sample" / "2019"
    plain = load(sample, text="str")
    coded = load(sample)
    for name, df in coded.plain().tables.items():
        pd.testing.assert_frame_equal(df, plain.tables[name])
    for name, df in plain.tables.items():
        c = coded.tables[name]
        for col in df.columns:
            if str(df[col].dtype) == "str":
                assert isinstance(c[col].dtype, pd.CategoricalDtype), (name, col)
                cats = c[col].cat.categories
                assert cats.is_monotonic_increasing
                assert len(df) == 0 or set(cats) == set(df[col].dropna())
        pd.testing.assert_frame_equal(c.astype({k: "str" for k in c.columns
                                                if isinstance(c[k].dtype, pd.CategoricalDtype)}), df)
    with pytest.raises(ValueError):
        load(sample, text="bytes")


# --------------------------------------------------------------------------- real exports (issue 14)

BAD = Path(__file__).parent / "bad_inputs" / "cases"


def test_visible_shows_invisible_characters_and_keeps_text():
    from bsc_lib.data.io.text import visible

    assert visible("D001\u200b") == "D001<U+200B>"
    assert visible("\ufeffK01\u00a0") == "<U+FEFF>K01<U+00A0>"
    assert visible("목표치\n(단위)") == "목표치<U+000A>(단위)"
    assert visible("평가 만족도 (점)") == "평가 만족도 (점)"  # ordinary text unchanged


def test_clean_cells_strips_invisible_edges_only():
    from bsc_lib.data.io.text import clean_cells

    s = pd.Series(["D001\u200b", "\ufeffD001", "\u00a0D001 ", "D0\u200b01", "ＤＯ１", None], dtype="str")
    got = clean_cells(s)
    assert got.iloc[:4].tolist() == ["D001", "D001", "D001", "D0\u200b01"]  # inside: kept (and reported)
    assert got.iloc[4] == "DO1" and pd.isna(got.iloc[5])


@pytest.mark.parametrize("header, column", [
    ("목표치\n(단위)", "target"), ("목표치\r\n(단위)", "target"), ("목표치 (단위)", "target"),
    ("weight\u200b", "weight"), ("\ufeffkpi_id", "kpi_id"), ("가중치\u00a0(%)", "weight"),
    ("구간\u30fb상한", "band_high"), ("지표\nID", "kpi_id"),
])
def test_resolve_header_after_folding(header, column):
    from bsc_lib.data.io.parse import resolve_header

    table = "kpi_results" if column == "target" else "kpis"
    assert resolve_header(header, table) == column


def test_unknown_header_with_invisible_character_is_shown_visibly(tmp_path):
    frames = minimal_frames()
    frames["kpis"] = frames["kpis"].rename(columns={"weight": "wei\u2063ght"})  # invisible separator
    probs = validate(csv_folder(tmp_path, frames))
    unknown = [p for p in probs if p.rule == "unknown column"]
    assert len(unknown) == 1 and "'wei<U+2063>ght'" in unknown[0].message
    assert "did you mean 'weight'" in unknown[0].message


def test_na_as_missing_reads_na_errors_as_missing_and_still_reports_other_errors():
    case = BAD / "xlsx_formula_na_lookup.xlsx"
    probs = validate(case, na_as_missing=True)
    # the #N/A owner becomes an empty required cell; the #N/A actual is a legal missing actual
    assert [(p.sheet, p.row, p.column, p.rule) for p in probs] == [("kpis", 6, "owner_id", "missing value")]
    errors = validate(BAD / "xlsx_formula_errors.xlsx", na_as_missing=True)
    assert sorted(p.value for p in errors) == ["#DIV/0!", "#REF!", "#VALUE!"]


def test_notices_name_merged_ranges_and_skipped_rows():
    from bsc_lib.data.io.loader import read_parsed

    res = read_parsed(BAD / "merged_project_cells_valid.xlsx")
    assert res.problems == []
    assert sorted((n.row, n.value) for n in res.notices) == [(2, "B2:B3"), (2, "D2:D3")]
    assert all(n.rule == "merged_cells" and n.sheet == "kpis" for n in res.notices)
    res = read_parsed(BAD / "subtotal_rows_xlsx_valid.xlsx")
    assert [(n.row, n.rule) for n in res.notices] == [(4, "skipped row"), (6, "skipped row"), (8, "skipped row"),
                                                     (10, "skipped row")]


def test_sheet_layout_reads_merges_hidden_rows_and_cuts_empty_tail():
    from bsc_lib.data.io.reader import sheet_layout

    rows = "".join(f'<row r="{r}"><c r="A{r}" t="n"><v>{r}</v></c></row>' for r in (1, 2, 3))
    rows += '<row r="4" hidden="1"><c r="A4"><v>4</v></c></row>'
    empty = "".join(f'<row r="{r}" s="1" customFormat="1"><c r="A{r}" s="1"/><c r="B{r}" s="1"/></row>'
                    for r in range(5, 40_000))
    xml = (f'<worksheet><cols><col min="2" max="3" hidden="1"/></cols><sheetData>{rows}{empty}</sheetData>'
           '<autoFilter ref="A1:B4"/><mergeCells><mergeCell ref="A2:A3"/><mergeCell ref="B1:C1"/></mergeCells>'
           '</worksheet>').encode()
    layout, slim = sheet_layout(xml)
    assert slim is not None and len(slim) < 1_000 and b'r="39999"' not in slim and b'<v>4</v>' in slim
    assert layout.merges == [(1, 0, 2, 0), (0, 1, 0, 2)]
    assert layout.hidden_rows == [3] and layout.hidden_cols == {1, 2} and layout.filtered
    assert not layout.formulas
    small, none = sheet_layout(xml[:200] + xml[-200:])  # nothing worth cutting: the XML is kept
    assert none is None


def test_csv_with_too_many_columns_is_too_large(tmp_path, monkeypatch):
    from bsc_lib.data.io import reader

    monkeypatch.setattr(reader, "MAX_COLUMNS", 20)
    d = small_folder(tmp_path, {"institutions.csv": ",".join(f"c{i}" for i in range(25)) + "\n"})
    _, probs, _ = read_tables(d)
    big = [p for p in probs if p.rule == "too large"]
    assert len(big) == 1 and "25 columns (at most 20)" in big[0].message


def test_ambiguous_ids_name_both_spellings_in_one_column(tmp_path):
    frames = minimal_frames()
    k = frames["kpis"]
    k.loc[1, "owner_id"] = "D001\u2060"  # word joiner after K02's owner; K01 has D001
    probs = validate(csv_folder(tmp_path, frames))
    assert [(p.row, p.column, p.rule, p.value) for p in probs] == [(3, "owner_id", "ambiguous id", "D001<U+2060>")]
    assert "'D001<U+2060>' (row 3) and 'D001' (row 2)" in probs[0].message


def test_lock_file_for_an_unknown_name_and_dotfiles_are_ignored(tmp_path):
    d = csv_folder(tmp_path)
    (d / "~$성과지표.csv").write_bytes(b"\x08owner" + bytes(150))
    (d / "~$whatever.csv").write_bytes(b"")
    assert validate(d) == []


def test_total_chars_cover_every_character_lowering_into_a_label():
    """The joined-text pre-filter of total rows looks only at texts made of white space and
    TOTAL_CHARS: every code point whose lower case is made of label characters must be in it."""
    from bsc_lib.data.io.reader import TOTAL_CHARS, TOTAL_LABELS

    label = set("".join(TOTAL_LABELS))
    lowering = {chr(c) for c in range(0x110000)
                if not 0xD800 <= c < 0xE000 and (low := chr(c).lower()) and set(low) <= label}
    assert lowering <= set(TOTAL_CHARS)


_FAST_ALPHABET = list("aZ 1#%-·ㆍ가각ᄀ\u1161\u0301é\u212a\u0130ｆ１㎍\t\n\r\x0b\x0c\x1c\x85\xa0\u2028\u3000"
                      "\u200b\ufeff\u00ad\u200e\u202a\u2066\x00※*주):：(") + [
    "합계", "소 계", "Total", "SUB total", "자료:", "(단위: 억원)", "note 2:", "n/a", "해당없음", "#N/A"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.none(), st.lists(st.sampled_from(_FAST_ALPHABET), max_size=5).map("".join)),
                max_size=12))
def test_text_fast_paths_equal_the_cell_by_cell_rules(texts):
    """clean_cells, clean_text and the total/note flags pre-filter the joined texts; the result
    must be what the plain per-cell rules give."""
    from bsc_lib.data.io.parse import MISSING_TOKENS
    from bsc_lib.data.io.reader import NOTE_ROW, TOTAL_LABELS, _label_flags
    from bsc_lib.data.io.text import _EDGES, clean_cells

    s = pd.Series(texts, dtype="str", index=np.arange(len(texts)) * 2)
    for form in ("NFKC", "NFC"):
        plain = s.str.normalize(form).str.replace(_EDGES, "", regex=True)
        pd.testing.assert_series_equal(clean_cells(s, form), plain)
    cleaned = s.str.normalize("NFKC").str.replace(_EDGES, "", regex=True)
    pd.testing.assert_series_equal(clean_text(s), cleaned.mask(cleaned.str.lower().isin(MISSING_TOKENS) | cleaned.isna()))
    is_total, is_note = _label_flags(cleaned)
    key = cleaned.str.replace(r"\s+", "", regex=True).str.lower()
    assert is_total.tolist() == [*key.isin(TOTAL_LABELS).tolist(), False]
    assert is_note.tolist() == [*cleaned.str.contains(NOTE_ROW, regex=True).fillna(False).astype(bool).tolist(), False]
