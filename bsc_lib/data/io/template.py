"""Write the empty, documented input workbook (``bsc template PATH.xlsx``).

Layout: a ``README`` sheet (Korean and English: the sheets, every column's meaning, type,
whether it is required, the allowed codes with their Korean spellings, the missing-value
tokens and number formats the loader accepts), then one sheet per table of
:data:`bsc_lib.data.model.TABLES`, named by the table's English name, with one header row whose
cells read ``한국어 (english)``, e.g. ``지표ID (kpi_id)``. Header cells carry the column's
description as a comment; code and yes/no columns get a drop-down list (other accepted
spellings may still be typed: the list only warns); text columns are formatted as text so
that ids like ``001`` keep their zeros.

An unfilled template is *not* a valid dataset: :func:`bsc_lib.data.validate.validate` reports
one ``empty table`` problem per required table (institutions, departments, kpis,
kpi_results) and nothing else. Fill those sheets (the optional ones may stay empty).
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

from bsc_lib.data.aliases import describe_codes
from bsc_lib.data.io.parse import NUMBER_FORMATS
from bsc_lib.data.model import (
    BOOL_FALSE,
    BOOL_TRUE,
    CODESET_OF_COLUMN,
    MISSING_TOKENS,
    TABLES,
    Column,
)

log = logging.getLogger(__name__)

TYPE_LABELS = {
    "str": ("문자", "text"),
    "int": ("정수", "whole number"),
    "float": ("숫자", "number"),
    "bool": ("예/아니오", "yes/no"),
}

_REQUIRED_FILL = "FFF2CC"  # required column: light yellow
_OPTIONAL_FILL = "E7E6E6"  # optional column: light grey
_HEAD_FILL = "DDEBF7"


def template_header(c: Column) -> str:
    """The template's header text of a column: ``한국어 (english)``."""
    return f"{c.ko} ({c.name})"


def _range_text(c: Column) -> str:
    if c.min_value is None and c.max_value is None:
        return ""
    lo = "" if c.min_value is None else f"{c.min_value:g}"
    hi = "" if c.max_value is None else f"{c.max_value:g}"
    return f"{lo} … {hi}".strip()


def _codes_text(c: Column) -> str:
    if c.allowed:
        return describe_codes(CODESET_OF_COLUMN.get(c.name), c.allowed, extras=True)
    if c.dtype == "bool":
        return f"예/yes: {', '.join(BOOL_TRUE)}  |  아니오/no: {', '.join(BOOL_FALSE)}"
    return ""


def _need_text(c: Column) -> tuple[str, str]:
    col = "필수 열 / required column" if c.required else "선택 열 / optional column"
    cell = "빈칸 허용 / blank allowed" if c.nullable else "값 필수 / value required"
    return col, cell


def _readme_rows() -> list[list[str]]:
    missing = ", ".join(repr(t) if t else "(빈칸 blank)" for t in MISSING_TOKENS)
    required = ", ".join(f"{t.name} ({t.ko})" for t in TABLES.values() if t.required)
    general = [
        ["BSC 성과평가 입력 서식 · BSC evaluation input template"],
        [],
        ["사용법", "How to use"],
        ["표마다 시트가 하나입니다. 시트 이름(영문 표 이름 또는 한글 표 이름)을 바꾸지 마십시오.",
         "One sheet per table. Keep the sheet names (the table's English or Korean name)."],
        ["1행은 머리글, 자료는 2행부터 입력합니다. 머리글은 한글·영문·'한글 (영문)' 모두 인식합니다.",
         "Row 1 is the header; enter data from row 2. Korean, English or 'Korean (english)' headers all work."],
        ["오류 보고의 행 번호는 엑셀 행 번호입니다(머리글 = 1행).",
         "Row numbers in problem reports are Excel row numbers (header = row 1)."],
        [f"필수 표: {required}. 빈 서식을 그대로 검증하면 필수 표마다 '행 없음(empty table)' 문제가 보고됩니다.",
         f"Required tables: {required}. An unfilled template reports one 'empty table' problem per required table."],
        ["선택 표는 비워 두거나 시트를 지워도 됩니다.", "Optional tables may stay empty or their sheets be deleted."],
        ["README/설명 시트는 읽지 않습니다. 다른 이름의 시트는 '알 수 없는 시트' 문제가 됩니다.",
         "The README/설명 sheet is ignored; sheets with other unknown names are reported ('unknown sheet')."],
        ["CSV 폴더도 됩니다: 표마다 <영문 표 이름>.csv 또는 <한글 표 이름>.csv, 인코딩 UTF-8·UTF-8(BOM)·UTF-16·CP949.",
         "A folder of CSV files also works: <english name>.csv or <korean name>.csv per table; "
         "encodings UTF-8, UTF-8 with BOM, UTF-16, CP949/EUC-KR."],
        [],
        ["값 입력 규칙", "Cell rules"],
        [f"빈 값으로 읽는 표기(대소문자 무시): {missing}", f"Read as missing (any case): {missing}"],
        [f"숫자: {NUMBER_FORMATS}. 쉼표는 천 단위 구분만, '%'는 떼고 퍼센트 값 그대로(12.5% → 12.5). 전각 숫자도 됩니다.",
         f"Numbers: {NUMBER_FORMATS}. Comma = thousands separator only; a trailing % is dropped and the value "
         "kept in percent units (12.5% → 12.5); full-width digits are fine. An Excel cell formatted as % is "
         "read as displayed (0.125 shown as 12.5% → 12.5)."],
        [f"예/아니오: {', '.join(BOOL_TRUE)} / {', '.join(BOOL_FALSE)}", f"Yes/no: {', '.join(BOOL_TRUE)} / {', '.join(BOOL_FALSE)}"],
        ["코드 열은 영문 코드 또는 한글 표기를 씁니다(아래 '허용 코드').", "Code columns take the English code or a Korean spelling ('allowed codes' below)."],
        ["수식은 저장된 계산값을 읽습니다. 숫자 열에 날짜를 넣으면 오류입니다.",
         "Formulas: the saved (cached) value is read. A date in a numeric column is an error."],
        [],
        ["표 목록 · Tables"],
        ["시트 sheet", "한글 이름 Korean", "필수 required", "키 key", "설명 description"],
    ]
    for t in TABLES.values():
        general.append([t.name, t.ko, "필수 required" if t.required else "선택 optional",
                        ", ".join(t.key), t.description])
    general += [
        [],
        ["열 목록 · Columns"],
        ["시트 sheet", "머리글 header", "열 이름 column", "한글 Korean", "형식 type", "열 필수 여부 column needed",
         "값 필수 여부 value needed",
         "허용 코드 / 범위 allowed codes / range", "참조 references", "설명 description"],
    ]
    for t in TABLES.values():
        for c in t.columns:
            ko_t, en_t = TYPE_LABELS[c.dtype]
            col_need, cell_need = _need_text(c)
            allowed = " ; ".join(x for x in (_codes_text(c), _range_text(c)) if x)
            general.append([t.name, template_header(c), c.name, c.ko, f"{ko_t} {en_t}", col_need, cell_need,
                            allowed, " or ".join(c.fk), c.description])
    return general


def write_template(path: str | Path) -> Path:
    """Write the empty, documented input workbook.

    Parameters
    ----------
    path
        Output ``.xlsx`` path (parent folders are created).

    Returns
    -------
    Path
        The path written.
    """
    import openpyxl
    from openpyxl.comments import Comment
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    out = Path(path)
    wb = openpyxl.Workbook()
    wb.properties.creator = "bsc-workbench"
    wb.properties.created = dt.datetime(2019, 2, 1)
    readme = wb.active
    readme.title = "README"
    bold = Font(bold=True)
    for r in _readme_rows():
        readme.append(r)
    for row in readme.iter_rows():
        first = row[0].value if row else None
        if isinstance(first, str) and (first.startswith(("BSC 성과평가", "사용법", "값 입력", "표 목록", "열 목록",
                                                          "시트 sheet"))):
            for cell in row:
                cell.font = bold
    for j, width in enumerate((22, 30, 22, 20, 16, 24, 24, 50, 40, 60), start=1):
        readme.column_dimensions[get_column_letter(j)].width = width

    for t in TABLES.values():
        ws = wb.create_sheet(t.name)
        for j, c in enumerate(t.columns, start=1):
            cell = ws.cell(row=1, column=j, value=template_header(c))
            cell.font = bold
            cell.alignment = Alignment(horizontal="center")
            cell.fill = PatternFill("solid", fgColor=_REQUIRED_FILL if c.required else _OPTIONAL_FILL)
            ko_t, en_t = TYPE_LABELS[c.dtype]
            col_need, cell_need = _need_text(c)
            note = [c.description, f"{ko_t} / {en_t}; {col_need}; {cell_need}"]
            if _codes_text(c):
                note.append(_codes_text(c))
            if _range_text(c):
                note.append(f"범위 range: {_range_text(c)}")
            if c.fk:
                note.append(f"참조 references: {' or '.join(c.fk)}")
            cell.comment = Comment("\n".join(note), "bsc-workbench", width=320, height=160)
            letter = get_column_letter(j)
            ws.column_dimensions[letter].width = max(12, min(40, int(len(template_header(c)) * 1.5)))
            if c.dtype == "str":
                ws.column_dimensions[letter].number_format = "@"
            choices: list[str] = []
            if c.allowed:
                choices = list(c.allowed)
            elif c.dtype == "bool":
                choices = ["TRUE", "FALSE", "예", "아니오"]
            if choices:
                dv = DataValidation(type="list", formula1='"' + ",".join(choices) + '"', allow_blank=True,
                                    errorStyle="warning", showErrorMessage=True,
                                    error=("허용 코드가 아닙니다 / not a listed code: " + _codes_text(c))[:200])
                ws.add_data_validation(dv)
                dv.add(f"{letter}2:{letter}5000")
        ws.freeze_panes = "A2"
    out.parent.mkdir(parents=True, exist_ok=True)
    wb.save(out)
    log.info("template written to %s", out)
    return out
