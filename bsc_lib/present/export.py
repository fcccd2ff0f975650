"""Export result tables: a formatted ``results.xlsx``, CSV files and canonical hashes.

Every writer here neutralises spreadsheet formula injection: a text cell (or header) that
starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is written as text with a
leading single quote (``'=1+2``), so Excel and LibreOffice never evaluate it.

:func:`canonical_csv_bytes` / :func:`table_sha256` give a byte representation of a table
that does not depend on row order or float noise below 10 significant digits; the run
manifest records it and ``bsc verify`` compares it.
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

log = logging.getLogger(__name__)

#: First characters that make a spreadsheet treat a text cell as a formula (OWASP CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
#: Float format of the canonical CSV used for table hashes.
CANONICAL_FLOAT_FORMAT = "%.10g"
#: Table names allowed (they become file and sheet names).
TABLE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")

#: Column-name tokens marking a fraction shown as a percentage (``0.0%``), when all values
#: lie in [-1.5, 1.5] (the same convention as :mod:`bsc_lib.present.notebook`).
_RATE_TOKENS = frozenset({"rate", "share", "pct", "ratio", "percent"})
_WIDE_RE = r"[\u1100-\u11ff\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6]"
_MIN_WIDTH, _MAX_WIDTH = 6, 60


def check_table_name(name: str) -> str:
    """Return ``name`` if it is a safe table name (letters, digits, ``_ . -``), else raise.

    Raises
    ------
    ValueError
        When the name could escape its folder or is not a usable file/sheet name.
    """
    if not isinstance(name, str) or not TABLE_NAME_RE.match(name) or ".." in name:
        raise ValueError(
            f"invalid result table name {name!r}: use letters, digits, '_', '.', '-' "
            "(starting with a letter or digit, at most 100 characters)"
        )
    return name


def _check_tables(tables: Mapping[str, pd.DataFrame]) -> None:
    if not isinstance(tables, Mapping):
        raise ValueError(f"result tables must be a mapping name -> DataFrame, got {type(tables).__name__}")
    for name, df in tables.items():
        check_table_name(name)
        if not isinstance(df, pd.DataFrame):
            raise ValueError(f"result table {name!r} is a {type(df).__name__}, not a DataFrame")


def _flatten(df: pd.DataFrame) -> pd.DataFrame:
    """Named index levels become columns; MultiIndex columns are joined with ``_``."""
    out = df
    if any(n is not None for n in out.index.names):
        out = out.reset_index()
    if isinstance(out.columns, pd.MultiIndex):
        out = out.set_axis(["_".join(str(x) for x in tup if str(x) != "") for tup in out.columns], axis=1)
    return out


def neutralise_text(series: pd.Series) -> pd.Series:
    """Prefix ``'`` to the text values of ``series`` that start with a formula character.

    Non-text values (numbers, booleans, missing) are returned unchanged.

    Parameters
    ----------
    series
        Any Series.

    Returns
    -------
    pandas.Series
        Same index; affected strings become ``"'" + value``.
    """
    if not (pd.api.types.is_string_dtype(series) or pd.api.types.is_object_dtype(series)
            or isinstance(series.dtype, pd.CategoricalDtype)):
        return series
    s = series.astype(object) if isinstance(series.dtype, pd.CategoricalDtype) else series
    # .str on an object column gives NaN for non-strings: those are not text, never neutralised
    mask = s.str.startswith(FORMULA_PREFIXES).fillna(False).astype(bool)
    if not mask.any():
        return series
    return s.mask(mask, "'" + s[mask].astype(str))


def neutralise_formulas(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` whose text cells and column names cannot be read as formulas.

    Parameters
    ----------
    df
        Any DataFrame.

    Returns
    -------
    pandas.DataFrame
        Same shape and column order; text values and column names starting with one of
        :data:`FORMULA_PREFIXES` get a leading ``'``.
    """
    out = df.copy()
    for j in range(out.shape[1]):
        col = out.iloc[:, j]
        new = neutralise_text(col)
        if new is not col:
            out.isetitem(j, new)
    names = neutralise_text(pd.Series([str(c) for c in out.columns], dtype=object))
    if (names != pd.Series([str(c) for c in out.columns], dtype=object)).any():
        out.columns = list(names)
    return out


#: Code-valued columns of result tables that the report does not display but the workbook does.
XLSX_CODE_COLUMNS = frozenset({"unit_level", "role", "evaluation_level", "movement", "rag"})


def _code_columns() -> frozenset[str]:
    from bsc_lib.present.notebook import CODE_COLUMNS  # the report's list of code-valued columns
    return CODE_COLUMNS | XLSX_CODE_COLUMNS


def label_values(df: pd.DataFrame, lang: str) -> pd.DataFrame:
    """A copy of ``df`` whose code cells read as the report shows them.

    Text cells of a code column (``inst_type``, ``status``, ``flag``, ``component`` … — the
    report's :data:`bsc_lib.present.notebook.CODE_COLUMNS`, grade columns excepted: grades are
    letters and keep their colours) become their label of the catalogue in ``lang`` (a code
    without a label stays as it is); boolean cells become ``예``/``아니오`` (``Yes``/``No``).

    Parameters
    ----------
    df
        A flat table (no named index levels).
    lang
        ``"ko"`` or ``"en"``.

    ``interpretation``/``interpretation_en`` keep the one of ``lang`` (as in the report), and
    ``new`` in a grade column (a unit without last year's grade) reads 신규/New.

    Returns
    -------
    pandas.DataFrame
        Same rows and column order (``interpretation_en`` dropped).
    """
    out = df
    if "interpretation_en" in df.columns:  # one language: the interpretation of ``lang`` only
        out = df.copy()
        if lang == "en" and "interpretation" in out.columns:
            out["interpretation"] = out["interpretation_en"]
        out = out.drop(columns=["interpretation_en"])
        df = out
    codes = _code_columns() - GRADE_COLUMNS
    yes_no = {True: _label("yes", lang), False: _label("no", lang)}
    for j, c in enumerate(df.columns):
        col = df.iloc[:, j]
        new = None
        if pd.api.types.is_bool_dtype(col):
            new = col.map(yes_no).astype(object)
        elif str(c) in codes and (pd.api.types.is_object_dtype(col) or pd.api.types.is_string_dtype(col)
                                  or isinstance(col.dtype, pd.CategoricalDtype)):
            new = col.astype(object).map(lambda v: _label(v, lang) if isinstance(v, str) else v)
        elif str(c) in GRADE_COLUMNS and (col.astype(object) == "new").any():  # no prior grade: a new unit
            new = col.astype(object).map(lambda v: _label("new_unit", lang) if v == "new" else v)
        elif pd.api.types.is_object_dtype(col) and col.map(lambda v: isinstance(v, bool)).any():
            new = col.map(lambda v: yes_no[v] if isinstance(v, bool) else v)
        if new is not None:
            if out is df:
                out = df.copy()
            out.isetitem(j, new)
    return out


def _label(col: str, lang: str) -> str:
    try:
        from bsc_lib.present.labels import label
    except ImportError:  # pragma: no cover - labels.py is part of the package
        return str(col)
    return label(str(col), lang)


def column_kind(name: str, series: pd.Series) -> str:
    """How a result column is formatted: ``"rate"``, ``"points"``, ``"total"``, ``"rank"``,
    ``"int"``, ``"bool"`` or ``"text"``.

    Floats whose name has a token ``rate``/``share``/``pct``/``ratio``/``percent`` and whose
    values all lie in [-1.5, 1.5] are fractions shown as ``0.0%``; whole-number floats of a
    ``rank`` column are ranks (``0``); totals get three decimals (``0.000``: units 0.001 point
    apart stay apart); other floats are points shown as ``0.00``.
    """
    if pd.api.types.is_bool_dtype(series):
        return "bool"
    if pd.api.types.is_integer_dtype(series):
        return "int"
    if pd.api.types.is_float_dtype(series):
        tokens = set(re.split(r"[^a-z0-9]+", str(name).lower()))
        vals = series.dropna()
        if tokens & _RATE_TOKENS and vals.between(-1.5, 1.5).all():
            return "rate"
        if "rank" in tokens and (vals == vals.round()).all():
            return "rank"
        if str(name) in ("total", "total_prior", "nominal_total"):
            return "total"
        return "points"
    return "text"


_NUM_FORMATS = {"rate": "0.0%", "points": "0.00", "int": "0", "rank": "0", "total": "0.000"}
#: Columns holding a grade: cells coloured by grade (the report's grade colours).
GRADE_COLUMNS = frozenset({"grade", "nominal_grade", "grade_prior", "grade_before", "grade_after", "other_grade",
                           "next_better_grade", "next_worse_grade"})
GRADE_FILLS = {"S": "#A6D9A8", "A": "#D9F0D3", "B": "#FEE6C2", "C": "#F4B6AE"}


def _display_width(values: pd.Series) -> int:
    """Largest display width of the values (East-Asian wide characters count twice)."""
    if values.empty:
        return 0
    s = values.astype(object).where(values.notna(), "").astype(str)
    width = s.str.len() + s.str.count(_WIDE_RE)
    return int(width.max())


def _excel_ready(df: pd.DataFrame) -> pd.DataFrame:
    """Timezone-aware datetimes → naive UTC (Excel has no time zones)."""
    out = df
    for j in range(df.shape[1]):
        col = df.iloc[:, j]
        if isinstance(col.dtype, pd.DatetimeTZDtype):
            if out is df:
                out = df.copy()
            out.isetitem(j, col.dt.tz_convert("UTC").dt.tz_localize(None))
    return out


def _sheet_name(name: str, used: set[str]) -> str:
    base = re.sub(r"[\[\]:*?/\\']", "_", name)[:31] or "sheet"
    cand, i = base, 2
    while cand.lower() in used:
        suffix = f"~{i}"
        cand = base[: 31 - len(suffix)] + suffix
        i += 1
    used.add(cand.lower())
    return cand


def sheet_label(name: str, lang: str) -> str:
    """The sheet name of table ``name`` in ``lang`` (``sheet_<name>`` of the label catalogue, else ``name``)."""
    lab = _label(f"sheet_{name}", lang)
    return name if lab == f"sheet_{name}" else lab


def _readme_rows(tables: Mapping[str, pd.DataFrame], sheets: Mapping[str, str], lang: str) -> list[list[str]]:
    head = {"ko": ["시트", "표 ID", "행 수", "내용"], "en": ["Sheet", "Table id", "Rows", "What it holds"]}[lang]
    rows = [head]
    for name, df in tables.items():
        desc = _label(f"desc_{name}", lang)
        rows.append([sheets[name], name, str(len(df)), "" if desc == f"desc_{name}" else desc])
    return rows


def write_results_xlsx(tables: Mapping[str, pd.DataFrame], path: str | Path, lang: str = "ko",
                       readme: str | None = None) -> Path:
    """Write the result tables to one formatted workbook, one sheet per table.

    Headers are the labels of :func:`bsc_lib.present.labels.label` in ``lang`` (the column name
    when no label exists); sheet names are :func:`sheet_label` in ``lang``. Each sheet has a
    bold frozen header row, an autofilter over the data, column widths fitted to the content
    and number formats by column kind (:func:`column_kind`); code cells and booleans are labelled
    (:func:`label_values`: 본청, 실적 누락, 예/아니오 — not ``main_office``, ``True``); grade columns
    (:data:`GRADE_COLUMNS`) are coloured by grade. Text cells and headers are
    formula-neutralised; missing values are blank. With ``readme`` a first sheet
    (``README``/``안내``) holds that text and one row per sheet (sheet, table id, rows, content).

    Parameters
    ----------
    tables
        ``{table name: DataFrame}`` in sheet order.
    path
        The ``.xlsx`` file to write (overwritten).
    lang
        ``"ko"`` (default) or ``"en"`` headers.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    ValueError
        Unknown ``lang``, a table that is not a DataFrame or an unsafe table name.
    """
    if lang not in ("ko", "en"):
        raise ValueError(f"lang must be 'ko' or 'en', got {lang!r}")
    _check_tables(tables)
    path = Path(path)
    options = {"strings_to_formulas": False, "strings_to_urls": False,
               "strings_to_numbers": False, "nan_inf_to_errors": True}
    used: set[str] = set()
    readme_sheet = {"ko": "안내", "en": "README"}[lang] if readme is not None else None
    if readme_sheet:
        used.add(readme_sheet.lower())
    sheets = {name: _sheet_name(sheet_label(name, lang), used) for name in tables}
    with pd.ExcelWriter(path, engine="xlsxwriter", engine_kwargs={"options": options}) as writer:
        book = writer.book
        header_fmt = book.add_format({"bold": True, "text_wrap": True, "valign": "top",
                                      "bg_color": "#DDE4EE", "border": 1})
        formats = {k: book.add_format({"num_format": v}) for k, v in _NUM_FORMATS.items()}
        grade_fmts = {g: book.add_format({"bg_color": c}) for g, c in GRADE_FILLS.items()}
        if readme_sheet:
            ws = book.add_worksheet(readme_sheet)
            title_fmt = book.add_format({"bold": True, "font_size": 13})
            wrap = book.add_format({"text_wrap": True, "valign": "top"})
            ws.write_string(0, 0, readme, title_fmt)
            for i, row in enumerate(_readme_rows(tables, sheets, lang)):
                for j, v in enumerate(row):
                    v = neutralise_text(pd.Series([v], dtype=object)).iloc[0]
                    ws.write_string(2 + i, j, v, header_fmt if i == 0 else wrap)
            ws.set_column(0, 0, 28)
            ws.set_column(1, 1, 26)
            ws.set_column(2, 2, 8)
            ws.set_column(3, 3, 90)
        if not tables and not readme_sheet:
            book.add_worksheet("empty")
        for name, df in tables.items():
            flat = label_values(_flatten(df), lang)
            kinds = [column_kind(str(c), flat.iloc[:, j]) for j, c in enumerate(flat.columns)]
            headers = [_label(str(c), lang) for c in flat.columns]
            seen: dict[str, int] = {}
            for j, h in enumerate(headers):  # duplicate labels get the identifier appended
                if h in seen:
                    headers[j] = f"{h} ({flat.columns[j]})"
                seen.setdefault(h, j)
            body = neutralise_formulas(_excel_ready(flat))
            heads = neutralise_text(pd.Series(headers, dtype=object)).tolist()
            sheet = sheets[name]
            body.to_excel(writer, sheet_name=sheet, index=False, header=False, startrow=1, na_rep="")
            ws = writer.sheets[sheet]
            for j, h in enumerate(heads):
                ws.write_string(0, j, h, header_fmt)
                kind = kinds[j]
                if kind in ("points", "rate"):
                    width = 12
                else:
                    width = _display_width(body.iloc[:, j]) + 2
                head_w = _display_width(pd.Series([h], dtype=object)) + 2
                width = min(max(width, head_w, _MIN_WIDTH), _MAX_WIDTH)
                ws.set_column(j, j, width, formats.get(kind))
            for j, c in enumerate(flat.columns):
                if str(c) in GRADE_COLUMNS and len(body):
                    for g, fmt in grade_fmts.items():
                        ws.conditional_format(1, j, len(body), j, {"type": "cell", "criteria": "==",
                                                                    "value": f'"{g}"', "format": fmt})
            ws.freeze_panes(1, 0)
            if heads:
                ws.autofilter(0, 0, max(len(body), 0), len(heads) - 1)
    log.info("results workbook written: %s (%d sheets)", path, len(tables))
    return path


def write_csvs(tables: Mapping[str, pd.DataFrame], folder: str | Path) -> list[Path]:
    """Write each table as ``<folder>/<name>.csv`` (UTF-8 with BOM, formula-neutralised).

    Column headers are the column identifiers (English); floats keep full precision;
    missing values are empty fields; named index levels become columns.

    Parameters
    ----------
    tables
        ``{table name: DataFrame}``.
    folder
        Output folder (created when missing).

    Returns
    -------
    list of pathlib.Path
        The files written, in table order.
    """
    _check_tables(tables)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for name, df in tables.items():
        p = folder / f"{name}.csv"
        neutralise_formulas(_flatten(df)).to_csv(p, index=False, encoding="utf-8-sig", lineterminator="\n")
        out.append(p)
    return out


def canonical_csv_bytes(df: pd.DataFrame) -> bytes:
    """The canonical CSV bytes of a table, the input of :func:`table_sha256`.

    Rules: named index levels become columns (an unnamed index is ignored); columns keep
    their order; floats are written with ``%.10g`` (``-0`` becomes ``0``); missing values
    are empty; rows are sorted stably by their rendered text over all columns, left to right,
    so the row order of the input does not matter; UTF-8, ``\\n`` line ends.

    Parameters
    ----------
    df
        Any DataFrame.

    Returns
    -------
    bytes
        Header line plus one line per row.
    """
    flat = _flatten(df)
    if flat.shape[1] == 0:
        return f"(no columns; {len(flat)} rows)\n".encode()
    fixed = flat.copy()
    for j in range(fixed.shape[1]):
        col = fixed.iloc[:, j]
        if pd.api.types.is_float_dtype(col):
            fixed.isetitem(j, col + 0.0)  # -0.0 + 0.0 == +0.0
    text = fixed.to_csv(index=False, float_format=CANONICAL_FLOAT_FORMAT, lineterminator="\n", na_rep="")
    header, _, _ = text.partition("\n")
    rendered = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_filter=False,
                           skip_blank_lines=False)
    rendered.columns = range(rendered.shape[1])
    rows = rendered.sort_values(list(rendered.columns), kind="stable")
    body = rows.to_csv(index=False, header=False, lineterminator="\n")
    return (header + "\n" + body).encode("utf-8")


def table_sha256(df: pd.DataFrame) -> str:
    """sha256 hex digest of :func:`canonical_csv_bytes`."""
    return hashlib.sha256(canonical_csv_bytes(df)).hexdigest()


def table_summary(tables: Mapping[str, pd.DataFrame]) -> dict[str, dict]:
    """``{name: {"rows", "columns", "sha256"}}`` for the run manifest."""
    _check_tables(tables)
    return {
        name: {"rows": int(len(df)), "columns": int(_flatten(df).shape[1]), "sha256": table_sha256(df)}
        for name, df in tables.items()
    }


__all__ = [
    "FORMULA_PREFIXES", "canonical_csv_bytes", "check_table_name", "column_kind",
    "label_values", "neutralise_formulas", "neutralise_text", "table_sha256", "table_summary",
    "write_csvs", "write_results_xlsx",
]
