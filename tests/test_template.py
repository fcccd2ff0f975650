"""Tests of the input template (bsc_lib.data.io.template): layout, documentation, round trip."""

from __future__ import annotations

import openpyxl
import pytest

from bsc_lib.cli import main
from bsc_lib.data import model
from bsc_lib.data.io import load, write_template
from bsc_lib.data.io.parse import resolve_header
from bsc_lib.data.io.template import template_header
from bsc_lib.data.validate import validate


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    return write_template(tmp_path_factory.mktemp("tpl") / "sub" / "template.xlsx")


def test_sheets_and_headers(template):
    wb = openpyxl.load_workbook(template)
    assert wb.sheetnames == ["README", *model.TABLES]
    for name, t in model.TABLES.items():
        ws = wb[name]
        headers = [c.value for c in ws[1]]
        assert headers == [f"{c.ko} ({c.name})" for c in t.columns], name
        assert ws.max_row == 1  # no data rows
    assert wb["kpis"]["A1"].value == "지표ID (kpi_id)"
    assert "Unique id." in wb["kpis"]["A1"].comment.text


def test_template_headers_resolve_to_their_columns():
    for name, t in model.TABLES.items():
        for c in t.columns:
            assert resolve_header(template_header(c), name) == c.name, (name, c.name)
    # Korean names that contain parentheses themselves
    assert resolve_header("기관명(영문) (name_en)", "institutions") == "name_en"
    assert resolve_header("공무원청렴도(구)", "integrity") == "acrc_score"


def test_readme_documents_columns_codes_and_tokens(template):
    wb = openpyxl.load_workbook(template)
    text = "\n".join(str(v) for row in wb["README"].iter_rows(values_only=True) for v in row if v is not None)
    for t in model.TABLES.values():
        for c in t.columns:
            assert template_header(c) in text, c.name
    assert "up (상향" in text and "목표구간" in text and "main_office (본청" in text
    assert "'해당없음'" in text and "'#n/a'" in text          # missing tokens
    assert "12.5% → 12.5" in text and "1,234" in text        # number formats
    assert "예/yes" in text                                   # booleans
    assert "필수 열 / required column" in text and "빈칸 허용 / blank allowed" in text
    assert "empty table" in text


def test_empty_template_reports_only_empty_required_tables(template):
    probs = validate(template)
    assert sorted((p.sheet, p.rule) for p in probs) == sorted(
        (name, "empty table") for name, t in model.TABLES.items() if t.required)


def test_filled_template_loads(tmp_path, template):
    wb = openpyxl.load_workbook(template)
    wb["institutions"].append(["I01", "기획조정실", None, "본청"])
    wb["departments"].append(["D001", "I01", "평가협업담당관", None, "예"])
    wb["kpis"].append(["K01", "D001", "부서", None, "평가 만족도", "점", "상향", None, None, "결과", 100])
    wb["kpi_results"].append(["K01", 2019, "상반기", 90, 88, True])
    wb["kpi_results"].append(["K01", 2019, "H2", "1,000", "-", "아니오"])
    out = tmp_path / "filled.xlsx"
    wb.save(out)
    data = load(out)
    assert data.institutions["inst_type"].tolist() == ["main_office"]
    assert data.departments["consulting_participated"].tolist() == [True]
    k = data.kpis.iloc[0]
    assert (k["level"], k["polarity"], k["kpi_type"], k["weight"]) == ("department", "up", "outcome", 100.0)
    r = data.kpi_results
    assert r["half"].tolist() == ["H1", "H2"]
    assert r["target"].tolist() == [90.0, 1000.0]
    assert r["actual"].iloc[0] == 88.0 and r["actual"].isna().iloc[1]
    assert r["verified"].tolist() == [True, False]
    assert len(data.integrity) == 0 and list(data.integrity.columns) == model.TABLES["integrity"].column_names


def test_cli_template(tmp_path, capsys):
    out = tmp_path / "t.xlsx"
    assert main(["template", str(out)]) == 0
    assert out.exists() and "template written" in capsys.readouterr().out
