"""Read an input (a folder of CSV files or an ``.xlsx`` workbook) into raw text tables.

This is the only module that touches the input files. Files are opened read-only (their
bytes are read once, hashed, then parsed from memory), so an input is never modified.

Output: one :class:`RawTable` per recognised table – every cell as text, the header cells
as written and the spreadsheet row number of every data row – plus the problems found
while reading (unknown tables, encodings, empty or corrupt files …) and the sha256 of each
file read. Typing the cells is :mod:`bsc_lib.data.io.parse`'s job.

Reading rules
-------------
* Folder: ``<english name>.csv`` or ``<korean name>.csv`` per table (``.CSV`` too); names
  starting with ``_`` or ``.`` and non-CSV files are ignored; other CSV files are the
  problem ``unknown table``. Sub-folders are ignored.
* CSV encodings: UTF-8 (with or without BOM), UTF-16 with BOM, then CP949/EUC-KR. The
  delimiter is ``,``; a header line without a comma but with tabs (or semicolons) is read as
  tab- (semicolon-) separated.
* Workbook: a sheet per table (English or Korean name); ``README``/``설명`` sheets are
  skipped; other sheets are the problem ``unknown sheet``. Cached values of formulas are
  read; a formula without a cached value is a problem. Numbers are read as numbers; a cell
  formatted as a percentage is read as displayed (0.125 shown as ``12.5%`` → 12.5, the same
  as the CSV text ``12.5%``). Dates are kept as ISO text and flagged when they sit in a
  numeric column.
* The header row is the first non-blank row, except that title lines above it (rows with a
  single filled cell, such as ``2019년 성과관리계획``) are skipped when a row with two or
  more filled cells follows; blank rows are skipped; row numbers are those of the
  spreadsheet (1-based, header included), so the first data row is normally 2.
* Two-row headers (the city's plan form): when the row under the header is a sub-header – it
  is blank under the first header cell and has a cell under a blank header cell that follows
  a filled one (a merged cell such as ``실 적 치`` spanning the year columns) – the two rows
  are combined: each sub-header cell gets the nearest filled header cell on its left as a
  prefix (``실 적 치`` + ``2015`` → ``실 적 치 2015``); header cells merged over both rows keep
  their text. Data then start on the row after the sub-header.
* Year columns: in a table with a ``year`` column (e.g. ``kpi_history``) that has no year
  column in the file, headers such as ``실적치 2015`` (a column name or alias followed by a
  year, optionally ``년``/``년도``) are unpivoted: each data row becomes one row per year, with
  the year in ``year`` and the value under the column named by the label; a row whose year
  cells are all blank gives no row for that year. The row numbers stay those of the sheet.
* CSV quoting: a double quote that is never closed (the rest of the file would be read as
  one cell) makes the file unreadable, with the row where the quote opens.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import logging
import re
import zipfile
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd

from bsc_lib.data.aliases import DOC_SHEETS, table_lookup
from bsc_lib.data.model import TABLES, normalise_header
from bsc_lib.errors import Problem

log = logging.getLogger(__name__)

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGIC = b"PK\x03\x04"
#: Largest single CSV field accepted (characters).
MAX_FIELD = 1_000_000


@dataclass
class RawTable:
    """One table as read: text cells, header texts, spreadsheet row numbers.

    Attributes
    ----------
    name
        Canonical table name (a key of :data:`bsc_lib.data.model.TABLES`).
    file, sheet
        Where it came from (path as given; sheet name or ``""``).
    headers
        Header text of each column, as written (positional).
    cells
        Data cells as text (``""`` for empty), columns ``0 … n-1`` matching ``headers``;
        blank rows removed. Columns are ``category`` (the distinct texts and an integer code
        per cell) as read; ``str`` after year columns were unpivoted. Read them through
        ``Series.cat``/``astype("str")`` or value by value, never by ``.str`` on the codes.
    rows
        Spreadsheet row number of each row of ``cells``.
    dates
        Same shape as ``cells``: True where a workbook cell held a date/time. None for CSV.
    """

    name: str
    file: str
    sheet: str
    headers: list[str]
    cells: pd.DataFrame
    rows: np.ndarray
    dates: pd.DataFrame | None = None


@dataclass
class RawInput:
    """Everything read from one input path."""

    source: str
    tables: dict[str, RawTable] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    hashes: dict[str, str] = field(default_factory=dict)
    #: ``{table name: (file, sheet)}`` of tables whose file/sheet could not be read at all.
    unreadable: dict[str, tuple[str, str]] = field(default_factory=dict)


def known_tables_text() -> str:
    """``"institutions (기관), departments (부서), …"`` for messages."""
    return ", ".join(f"{t.name} ({t.ko})" for t in TABLES.values())


def suggest_table(name: str) -> str:
    """``"did you mean 'departments' (부서)? "`` for a near-miss file or sheet name, else ``""``."""
    import difflib
    import unicodedata

    lookup = table_lookup()
    close = difflib.get_close_matches(normalise_header(unicodedata.normalize("NFKC", name)), list(lookup),
                                      n=1, cutoff=0.75)
    if not close:
        return ""
    t = TABLES[lookup[close[0]]]
    return f"did you mean '{t.name}' ({t.ko})? "


def match_table(name: str) -> str | None:
    """The table a file stem or sheet name designates, or None."""
    import unicodedata

    return table_lookup().get(normalise_header(unicodedata.normalize("NFKC", name)))


def read_raw(path: str | Path) -> RawInput:
    """Read a CSV folder or an ``.xlsx`` workbook into :class:`RawTable` objects.

    Parameters
    ----------
    path
        A folder of CSV files or an ``.xlsx``/``.xlsm`` workbook.

    Returns
    -------
    RawInput
        ``tables`` (by canonical name), ``problems`` found while reading, ``hashes``
        ``{file name: sha256}`` of every file read. Never raises for bad input.
    """
    spath = str(path)
    p = Path(path)
    out = RawInput(source=spath)
    if not p.exists():
        out.problems.append(Problem(file=spath, rule="not found",
                                    message="no such file or folder"))
        return out
    if p.is_dir():
        _read_folder(p, spath, out)
    elif p.suffix.lower() in (".xlsx", ".xlsm"):
        _read_workbook(p, spath, out)
    elif p.suffix.lower() == ".xls":
        out.problems.append(Problem(file=spath, rule="format", message=(
            "old Excel .xls workbooks are not supported: open it in Excel and save as .xlsx")))
    else:
        out.problems.append(Problem(file=spath, rule="format", message=(
            "expected a folder of CSV files or an .xlsx workbook")))
    return out


# --------------------------------------------------------------------------- CSV folder


def _read_folder(folder: Path, spath: str, out: RawInput) -> None:
    files = sorted((f for f in folder.iterdir() if f.is_file()), key=lambda f: f.name)
    for f in files:
        if f.name.startswith(("_", ".")) or f.suffix.lower() != ".csv":
            continue
        fpath = str(Path(spath) / f.name)
        name = match_table(f.stem)
        if name is None:
            out.problems.append(Problem(file=fpath, rule="unknown table", value=f.stem, message=(
                f"'{f.name}' is not a known table; {suggest_table(f.stem)}"
                f"name CSV files after one of: {known_tables_text()}")))
            continue
        if name in out.tables or name in out.unreadable:
            prev = out.tables[name].file if name in out.tables else out.unreadable[name][0]
            out.problems.append(Problem(file=fpath, rule="duplicate table", value=f.stem, message=(
                f"table {name} ({TABLES[name].ko}) is also given by {prev}; keep one file per table")))
            continue
        try:
            raw = f.read_bytes()
        except OSError as exc:
            out.problems.append(Problem(file=fpath, rule="unreadable", message=f"cannot read the file: {exc}"))
            out.unreadable[name] = (fpath, "")
            continue
        out.hashes[f.name] = hashlib.sha256(raw).hexdigest()
        grid, probs = _csv_grid(raw, fpath)
        out.problems.extend(probs)
        if grid is None:
            out.unreadable[name] = (fpath, "")
            continue
        table, probs = _grid_to_table(grid, name, fpath, "", None, [])
        out.problems.extend(probs)
        if table is None:
            out.unreadable[name] = (fpath, "")
        else:
            out.tables[name] = table


def decode_bytes(raw: bytes) -> tuple[str, str] | None:
    """Decode CSV bytes: BOM (UTF-8, UTF-16), then strict UTF-8, then CP949. None if all fail.

    Returns ``(text, encoding name)``.
    """
    if raw.startswith(b"\xef\xbb\xbf"):
        encs = ["utf-8-sig"]
    elif raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        encs = ["utf-16"]
    else:
        encs = ["utf-8", "cp949"]
    for enc in encs:
        try:
            return raw.decode(enc), enc
        except UnicodeDecodeError:
            continue
    return None


def _csv_grid(raw: bytes, fpath: str) -> tuple[pd.DataFrame | list[list[str]] | None, list[Problem]]:
    """The cells of a CSV file: a frame of categorical text columns (pandas' C parser) or, when
    the C parser would not read the file exactly as :mod:`csv` does (ragged rows, unclosed
    quotes, huge fields …), a list of rows read by :mod:`csv`. None with the problem when the
    file cannot be read."""
    if not raw or raw.isspace():
        return None, [Problem(file=fpath, rule="empty", message="the file is empty (no header row)")]
    if not raw.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")) and b"\x00" not in raw:
        # UTF-8 without BOM, the common case: the C parser reads the bytes (a byte sequence that is
        # not UTF-8 makes it decline, and the file is decoded below as before)
        delim = _delimiter(_first_line_utf8(raw))
        fast = _c_parser_grid(raw, "", "utf-8", delim) if delim is not None else None
        if fast is not None:
            log.debug("%s decoded as utf-8", fpath)
            return fast, []
    decoded = decode_bytes(raw)
    if decoded is None:
        return None, [Problem(file=fpath, rule="encoding", message=(
            "cannot decode the file as UTF-8, UTF-16 or CP949/EUC-KR; save it as 'CSV UTF-8'"))]
    text, enc = decoded
    if "\x00" in text:
        return None, [Problem(file=fpath, rule="format", message=(
            "not a CSV text file (binary content, or UTF-16 without a byte-order mark); "
            "save the table as 'CSV UTF-8'"))]
    log.debug("%s decoded as %s", fpath, enc)
    first = next((ln for ln in text.splitlines() if ln.strip()), "")
    delim = _delimiter(first)
    fast = _c_parser_grid(raw, text, enc, delim) if enc != "utf-8" else None  # UTF-8: tried above
    if fast is not None:
        return fast, []
    old_limit = csv.field_size_limit()
    try:
        csv.field_size_limit(MAX_FIELD)
        grid = list(csv.reader(io.StringIO(text, newline=""), delimiter=delim))
        unclosed = False
        if '"' in text:
            try:
                for _ in csv.reader(io.StringIO(text, newline=""), delimiter=delim, strict=True):
                    pass
            except csv.Error as exc:
                unclosed = "unexpected end of data" in str(exc)
    except csv.Error as exc:
        return None, [Problem(file=fpath, rule="format", message=f"not a readable CSV file: {exc}")]
    finally:
        csv.field_size_limit(old_limit)
    if unclosed:
        return None, [Problem(file=fpath, row=len(grid), rule="format", value='"', message=(
            f"a double quote (\") opened in row {len(grid)} is never closed, so the rest of the file "
            "would be read as one cell; close the quote or remove it"))]
    return grid, []


def _delimiter(first: str | None) -> str | None:
    """The delimiter of a file whose first non-blank line is ``first``: ``,`` unless the line has
    no comma but a tab (``\\t``) or a semicolon (``;``). None passes None through."""
    if first is None:
        return None
    if "," not in first:
        if "\t" in first:
            return "\t"
        if ";" in first:
            return ";"
    return ","


def _first_line_utf8(raw: bytes, prefix: int = 1 << 20) -> str | None:
    """The first non-blank line of UTF-8 bytes (as ``str.splitlines`` splits the decoded text),
    read from the first complete lines of at most ``prefix`` bytes; None when they hold none or
    are not UTF-8 (the caller then decodes the whole file)."""
    head = raw[:prefix]
    if len(raw) > prefix:
        cut = head.rfind(b"\n")
        if cut < 0:
            return None
        head = head[:cut + 1]
    try:
        lines = head.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        return None
    first = next((ln for ln in lines if ln.strip()), None)
    if first is None and len(raw) <= prefix:
        return ""
    return first


#: Options of :func:`pandas.read_csv` that read a file the way ``csv.reader`` does (every cell as
#: written: no NA tokens, no type inference of the cells, blank lines kept as rows).
_C_PARSER_OPTIONS = dict(header=None, index_col=False, engine="c", na_filter=False, keep_default_na=False,
                         skip_blank_lines=False, quoting=csv.QUOTE_MINIMAL, quotechar='"', doublequote=True,
                         encoding="utf-8")


def _c_parser_grid(raw: bytes, text: str, enc: str, delim: str) -> pd.DataFrame | None:
    """The cells of a decoded CSV file as categorical text columns, read by pandas' C parser.

    Each column is a ``category`` whose categories are the distinct cell texts (as written)
    and whose codes are integers: at scale the file's text is never held as one Python string
    per cell. Returns None when the C parser cannot read the file exactly as ``csv.reader``
    does, so that the caller reads it with :mod:`csv` (same grid, same messages): rows longer
    than the first row, a quote never closed, a field longer than :data:`MAX_FIELD`.
    """
    if enc == "utf-8":
        buf = raw
    elif enc == "utf-8-sig":
        buf = raw[3:]
    else:  # UTF-16, CP949: hand the C parser UTF-8
        buf = text.encode("utf-8")
    try:
        df = pd.read_csv(io.BytesIO(buf), sep=delim, dtype="category", **_C_PARSER_OPTIONS)
        inferred = [j for j in df.columns if not _text_categories(df[j])]
        if inferred:  # the C parser typed these categories (all numbers or all booleans): read as text
            again = pd.read_csv(io.BytesIO(buf), sep=delim, dtype=object, usecols=inferred, **_C_PARSER_OPTIONS)
            for j in inferred:
                df[j] = pd.Categorical(again[j].to_numpy(dtype=object))
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError, UnicodeDecodeError) as exc:
        log.debug("C parser declined (%s): reading with csv", exc)
        return None
    for j in df.columns:
        cats = df[j].cat.categories
        if len(cats) and int(pd.Series(cats, dtype="str").str.len().max()) > MAX_FIELD:
            return None
    df.columns = range(df.shape[1])
    return df


def _text_categories(col: pd.Series) -> bool:
    cats = col.cat.categories
    return len(cats) == 0 or pd.api.types.is_string_dtype(cats.dtype)


# --------------------------------------------------------------------------- workbook


def _read_workbook(p: Path, spath: str, out: RawInput) -> None:
    try:
        raw = p.read_bytes()
    except OSError as exc:
        out.problems.append(Problem(file=spath, rule="unreadable", message=f"cannot read the file: {exc}"))
        return
    out.hashes[p.name] = hashlib.sha256(raw).hexdigest()
    if not raw:
        out.problems.append(Problem(file=spath, rule="empty", message="the file is empty (0 bytes)"))
        return
    if raw.startswith(OLE_MAGIC):
        out.problems.append(Problem(file=spath, rule="format", message=(
            "this is a password-protected (encrypted) workbook or an old .xls file: remove the "
            "password (File > Info > Protect Workbook) or save as .xlsx, then try again")))
        return
    if raw.startswith(ZIP_MAGIC) and not zipfile.is_zipfile(io.BytesIO(raw)):
        out.problems.append(Problem(file=spath, rule="format", message=(
            "the workbook is corrupt or truncated: it starts like an .xlsx file but is not a zip "
            "archive that can be opened (a copy or download that stopped half way?); save it again "
            "from Excel")))
        return
    if not raw.startswith(ZIP_MAGIC) or not zipfile.is_zipfile(io.BytesIO(raw)):
        out.problems.append(Problem(file=spath, rule="format", message=(
            "not an .xlsx workbook (the file is not a zip archive); save it from Excel as .xlsx")))
        return
    with zipfile.ZipFile(io.BytesIO(raw)) as probe:
        parts = set(probe.namelist())
    if not {"[Content_Types].xml", "xl/workbook.xml"} <= parts:
        out.problems.append(Problem(file=spath, rule="format", message=(
            "the workbook is corrupt or not an Excel workbook: a zip archive without "
            "xl/workbook.xml; save the workbook from Excel as .xlsx")))
        return
    import openpyxl

    try:
        wb_val = openpyxl.load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - any openpyxl failure is a corrupt workbook
        out.problems.append(Problem(file=spath, rule="format", message=(
            f"the workbook is corrupt or not an .xlsx file ({type(exc).__name__}: {exc})")))
        return
    wb_frm = None  # second, formula-text view of the workbook: opened only when a sheet has formulas
    zf = zipfile.ZipFile(io.BytesIO(raw))
    try:
        for sheet in wb_val.sheetnames:
            if sheet.strip().lower() in DOC_SHEETS:
                continue
            name = match_table(sheet)
            if name is None:
                out.problems.append(Problem(file=spath, sheet=sheet, rule="unknown sheet", value=sheet, message=(
                    f"'{sheet}' is not a known table; {suggest_table(sheet)}name sheets after one of: "
                    f"{known_tables_text()} (a README/설명 sheet is ignored)")))
                continue
            if name in out.tables or name in out.unreadable:
                prev = out.tables[name].sheet if name in out.tables else out.unreadable[name][1]
                out.problems.append(Problem(file=spath, sheet=sheet, rule="duplicate table", value=sheet, message=(
                    f"table {name} ({TABLES[name].ko}) is also given by sheet '{prev}'; keep one sheet per table")))
                continue
            try:
                ws_frm = None
                if _has_formulas(zf, wb_val[sheet]):
                    if wb_frm is None:
                        wb_frm = openpyxl.load_workbook(io.BytesIO(raw), read_only=True, data_only=False)
                    ws_frm = wb_frm[sheet]
                grid, dates, formulas = _sheet_grid(wb_val[sheet], ws_frm)
            except Exception as exc:  # noqa: BLE001 - corrupt sheet XML
                out.problems.append(Problem(file=spath, sheet=sheet, rule="format", message=(
                    f"cannot read the sheet ({type(exc).__name__}: {exc})")))
                out.unreadable[name] = (spath, sheet)
                continue
            table, probs = _grid_to_table(grid, name, spath, sheet, dates, formulas)
            out.problems.extend(probs)
            if table is None:
                out.unreadable[name] = (spath, sheet)
            else:
                out.tables[name] = table
    finally:
        wb_val.close()
        if wb_frm is not None:
            wb_frm.close()
        zf.close()


_FORMULA_TAG = re.compile(rb"<(?:\w+:)?f[\s>/]")


def _has_formulas(zf: zipfile.ZipFile, ws) -> bool:
    """Whether a sheet's XML holds any formula element (True when it cannot be told)."""
    part = getattr(ws, "_worksheet_path", None)
    try:
        return part is None or _FORMULA_TAG.search(zf.read(part)) is not None
    except KeyError:
        return True


def _cell_text(v, number_format: str | None) -> tuple[str, bool]:
    """Text of a workbook cell value and whether it was a date/time."""
    if v is None:
        return "", False
    if isinstance(v, bool):
        return ("TRUE" if v else "FALSE"), False
    if isinstance(v, int):
        if number_format and "%" in number_format:
            return str(Decimal(v) * 100), False
        return str(v), False
    if isinstance(v, float):
        if number_format and "%" in number_format:
            return str(Decimal(repr(v)) * 100), False
        if v.is_integer() and abs(v) < 1e15:
            return str(int(v)), False
        return repr(v), False
    if isinstance(v, dt.datetime | dt.date | dt.time):
        if isinstance(v, dt.datetime) and v.time() == dt.time(0):
            return v.date().isoformat(), True
        return v.isoformat(), True
    if isinstance(v, dt.timedelta):
        return str(v), True
    return str(v), False


def _sheet_grid(ws_val, ws_frm) -> tuple[list[list[str]], set[tuple[int, int]], list[tuple[int, int, str]]]:
    """Text grid of a sheet, the set of date cells and formula cells without cached value.

    ``ws_frm`` is the same sheet opened with ``data_only=False`` (formula texts), or None when
    the sheet has no formulas. Reading a workbook is inherently cell by cell (openpyxl); this
    is the I/O layer.
    """
    ws_val.reset_dimensions()
    frm_rows = iter(())
    if ws_frm is not None:
        ws_frm.reset_dimensions()
        frm_rows = ws_frm.iter_rows()
    grid: list[list[str]] = []
    dates: set[tuple[int, int]] = set()
    formulas: list[tuple[int, int, str]] = []
    for i, rv in enumerate(ws_val.iter_rows()):
        rf = next(frm_rows, ())
        texts = []
        for j, cell in enumerate(rv):
            text, is_date = _cell_text(cell.value, getattr(cell, "number_format", None))
            if is_date:
                dates.add((i, j))
            if cell.value is None and j < len(rf):
                f = rf[j].value
                if isinstance(f, str) and f.startswith("="):
                    formulas.append((i, j, f))
                elif f is not None and type(f).__name__ in ("ArrayFormula", "DataTableFormula"):
                    formulas.append((i, j, str(getattr(f, "text", f))))
            texts.append(text)
        grid.append(texts)
    return grid, dates, formulas


# --------------------------------------------------------------------------- common


def _column_letter(j: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(j + 1)


def _nonblank(col: pd.Series) -> np.ndarray:
    """True where the cell has something besides white space (each distinct text stripped once)."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        codes, uniques = col.cat.codes.to_numpy(), col.cat.categories
    else:
        codes, uniques = pd.factorize(col, use_na_sentinel=True)
    filled = np.fromiter((bool(str(u).strip()) for u in uniques), dtype=bool, count=len(uniques))
    return np.append(filled, False)[codes]


def _grid_to_table(
    grid: pd.DataFrame | list[list[str]],
    name: str,
    file: str,
    sheet: str,
    dates: set[tuple[int, int]] | None,
    formulas: list[tuple[int, int, str]],
) -> tuple[RawTable | None, list[Problem]]:
    """Find the header row, drop blank rows and unnamed empty columns, keep row numbers.

    ``grid`` is a list of rows of text (workbooks, CSV read by :mod:`csv`) or a frame of
    categorical text columns (CSV read by the C parser); the cells of the table are categorical
    either way (:attr:`RawTable.cells`).
    """
    problems: list[Problem] = []
    where = "sheet" if sheet else "file"
    width = grid.shape[1] if isinstance(grid, pd.DataFrame) else max((len(r) for r in grid), default=0)
    if width == 0 or len(grid) == 0:
        return None, [Problem(file=file, sheet=sheet, rule="empty", message=(
            f"the {where} is empty: no header row (table {name}, {TABLES[name].ko})"))]
    if isinstance(grid, pd.DataFrame):
        df = grid
    else:
        padded = [r + [""] * (width - len(r)) if len(r) < width else r for r in grid]
        df = pd.DataFrame(padded, columns=range(width), dtype=object).fillna("").astype("str").astype("category")
    nonblank = [_nonblank(df[j]) for j in range(width)]  # per column, one bool per row
    filled_per_row = np.zeros(len(df), dtype=np.int32)
    for col in nonblank:
        filled_per_row += col
    row_has = filled_per_row > 0
    if not row_has.any():
        return None, [Problem(file=file, sheet=sheet, rule="empty", message=(
            f"the {where} is empty: no header row (table {name}, {TABLES[name].ko})"))]
    candidates = np.flatnonzero(row_has)
    h = int(candidates[0])
    # title lines above the header (one filled cell, e.g. "2019년 성과관리계획") are skipped
    wide = candidates[filled_per_row[candidates] >= 2]
    if len(wide) and (filled_per_row[candidates[candidates < wide[0]]] == 1).all():
        h = int(wide[0])
    headers = [str(x).strip() for x in df.iloc[h].tolist()]
    last_header = h
    if h + 1 < len(df) and row_has[h + 1]:
        sub = [str(x).strip() for x in df.iloc[h + 1].tolist()]
        combined = combine_header_rows(headers, sub)
        if combined is not None:
            log.debug("%s %s: two-row header combined: %s", file, sheet, combined)
            headers, last_header = combined, h + 1
    data_pos = np.flatnonzero(row_has)
    data_pos = data_pos[data_pos > last_header]
    cells = df.iloc[data_pos].reset_index(drop=True)
    rows = data_pos.astype(np.int64) + 1
    # columns without a header: dropped when empty, a problem otherwise
    keep = []
    for j, head in enumerate(headers):
        if head:
            keep.append(j)
            continue
        filled = np.flatnonzero(nonblank[j][data_pos])
        if len(filled):
            problems.append(Problem(
                file=file, sheet=sheet, row=int(rows[filled[0]]), column=f"column {_column_letter(j)}",
                rule="unknown column", value=str(cells.iloc[filled[0], j]),
                message=(f"column {_column_letter(j)} has values ({len(filled)} cell(s)) but no header; "
                         "add a header or delete the values")))
    date_mask = None
    if dates is not None:
        arr = np.zeros(df.shape, dtype=bool)
        if dates:
            ii, jj = zip(*dates, strict=True)
            arr[list(ii), list(jj)] = True
        date_mask = pd.DataFrame(arr[data_pos][:, keep], columns=range(len(keep)))
    for i, j, f in formulas:
        if i > last_header and j in keep:
            problems.append(Problem(
                file=file, sheet=sheet, row=i + 1, column=headers[j], rule="formula", value=f,
                message=("formula without a cached value; open the workbook in Excel, let it "
                         "calculate and save it, or paste the values")))
    cells = cells[keep]
    cells.columns = range(len(keep))
    table = RawTable(
        name=name, file=file, sheet=sheet, headers=[headers[j] for j in keep], cells=cells,
        rows=rows, dates=date_mask,
    )
    return unpivot_year_columns(table), problems


def combine_header_rows(top: list[str], sub: list[str]) -> list[str] | None:
    """Combined headers when ``sub`` is the second row of a two-row header, else None.

    ``sub`` is a sub-header when it is blank under the first filled cell of ``top`` and has
    a filled cell under a blank ``top`` cell to the right of a filled one (the cells a
    merged top cell spans). Each filled ``sub`` cell is prefixed by the nearest filled
    ``top`` cell at or left of it (``"실 적 치"`` + ``"2015"`` → ``"실 적 치 2015"``); a
    blank ``sub`` cell keeps the ``top`` text (a header merged over both rows).
    """
    filled = [j for j, t in enumerate(top) if t]
    if not filled or sub[filled[0]]:
        return None
    first = filled[0]
    if not any(not top[j] and sub[j] for j in range(first + 1, len(top))):
        return None
    out, current = [], ""
    for j, (t, b) in enumerate(zip(top, sub, strict=True)):
        if t:
            current = t
        if not b:
            out.append(t)
        elif j < first:  # a sub-header cell left of every header: keep it as it is
            out.append(b)
        else:
            out.append(f"{current} {b}")
    return out


def unpivot_year_columns(table: RawTable) -> RawTable:
    """Turn ``<label> <year>`` columns into rows (one per year) for tables with a year column.

    Applies when the model table has a ``year`` column, the file has none, and at least one
    header is a known column of the table followed by a year (``실적치 2015``). Other
    headers are kept on every row. Rows whose year cells are all blank are dropped for that
    year; row numbers (and date flags) follow the original rows. Returns ``table`` unchanged
    when it does not apply.
    """
    import unicodedata

    from bsc_lib.data.aliases import header_lookup

    t = TABLES[table.name]
    if "year" not in t.column_names:
        return table
    lookup = header_lookup(table.name)
    norm = [normalise_header(unicodedata.normalize("NFKC", hd)) for hd in table.headers]
    if any(lookup.get(k) == "year" for k in norm):
        return table
    from bsc_lib.data.io.parse import YEAR_HEADER

    year_cols: dict[int, tuple[str, int]] = {}  # position -> (column name, year)
    label_header: dict[str, str] = {}  # column name -> the label as written (first seen)
    for j, hd in enumerate(table.headers):
        m = YEAR_HEADER.match(unicodedata.normalize("NFKC", hd))
        if not m or not m.group("label"):
            continue
        col = lookup.get(normalise_header(m.group("label")))
        # a second column for the same value and year stays a column (reported, never dropped)
        if col is not None and col != "year" and col not in t.key \
                and (col, int(m.group("year"))) not in year_cols.values():
            year_cols[j] = (col, int(m.group("year")))
            label_header.setdefault(col, m.group("label").strip())
    if not year_cols:
        return table
    labels = list(label_header)
    years = sorted({y for _, y in year_cols.values()})
    fixed = [j for j in range(len(table.headers)) if j not in year_cols]
    n = len(table.cells)
    parts, part_rows, part_dates, part_pos = [], [], [], []
    for y in years:
        block = {k: table.cells[j].to_numpy() for k, j in enumerate(fixed)}
        dblock = ({k: table.dates[j].to_numpy() for k, j in enumerate(fixed)}
                  if table.dates is not None else None)
        any_value = np.zeros(n, dtype=bool)
        for i, col in enumerate(labels):
            js = [j for j, (c, yy) in year_cols.items() if c == col and yy == y]
            vals = table.cells[js[0]].to_numpy() if js else np.full(n, "", dtype=object)
            any_value |= np.char.strip(vals.astype(str)) != ""
            block[len(fixed) + 1 + i] = vals
            if dblock is not None:
                dblock[len(fixed) + 1 + i] = (table.dates[js[0]].to_numpy() if js
                                              else np.zeros(n, dtype=bool))
        block[len(fixed)] = np.full(n, str(y), dtype=object)
        if dblock is not None:
            dblock[len(fixed)] = np.zeros(n, dtype=bool)
        keep = any_value
        parts.append(pd.DataFrame(block).loc[keep])
        if dblock is not None:
            part_dates.append(pd.DataFrame(dblock).loc[keep])
        part_rows.append(table.rows[keep])
        part_pos.append(np.flatnonzero(keep))
    width = len(fixed) + 1 + len(labels)
    order = np.argsort(np.concatenate(part_pos), kind="stable")
    cells = pd.concat(parts, ignore_index=True).iloc[order].reset_index(drop=True)
    cells = cells[list(range(width))].astype("str")
    rows = np.concatenate(part_rows)[order].astype(np.int64)
    dates = None
    if table.dates is not None:
        dates = pd.concat(part_dates, ignore_index=True).iloc[order].reset_index(drop=True)
        dates = dates[list(range(width))].astype(bool)
    headers = [table.headers[j] for j in fixed] + ["year"] + [label_header[c] for c in labels]
    log.debug("%s %s: %d year column(s) unpivoted into rows", table.file, table.sheet, len(year_cols))
    return RawTable(name=table.name, file=table.file, sheet=table.sheet, headers=headers,
                    cells=cells, rows=rows, dates=dates)
