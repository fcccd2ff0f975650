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
* Excel's leftovers and links (folders): ``~$name.csv`` owner files are ignored; a symbolic
  link to nothing is ``broken link``; a link leaving the input folder is
  ``link_outside_folder`` and is not read.
* Workbooks: Strict Open XML is a ``format`` problem naming the fix; more than
  :data:`MAX_UNCOMPRESSED` bytes unpacked, :data:`MAX_SHEET_ROWS` rows or :data:`MAX_COLUMNS`
  columns is ``too large``. Formatted empty rows below a sheet's last value are cut from its
  XML before openpyxl parses it (:func:`sheet_layout`).
* Merged cells below the header: filled down in text columns (a notice), ``merged_cells`` in
  number columns and across headed columns (see :func:`_merged_cells`).
* Korean public-sector layouts: total/subtotal rows (:data:`TOTAL_LABELS`) and note rows
  (:data:`NOTE_ROW`) are skipped with a notice; hidden rows with data are ``hidden rows``;
  hidden columns are read with a notice. A units row directly under the header (``%``, ``건``,
  ``억원`` under ``목표치``, ``실적`` …) is skipped with a notice (:func:`_units_row`). Notices
  are in :attr:`RawTable.notices`.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import hashlib
import io
import logging
import os
import re
import zipfile
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd

from bsc_lib import parallel
from bsc_lib.data.aliases import DOC_SHEETS, table_lookup
from bsc_lib.data.io.text import clean_cells, fold_header, joined_texts, texts_matching, visible
from bsc_lib.data.model import TABLES, category_codes, normalise_header
from bsc_lib.errors import Problem

log = logging.getLogger(__name__)

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGIC = b"PK\x03\x04"
#: Largest single CSV field accepted (characters).
MAX_FIELD = 1_000_000
#: Largest total uncompressed size of a workbook's parts (bytes): 1 GiB.
MAX_UNCOMPRESSED = 1 << 30
#: Most rows of a sheet (Excel's own limit; only a crafted file has more).
MAX_SHEET_ROWS = 1_048_576
#: Most rows of a CSV file (2.5 times the 18.7 M ratings of a 1000-fold Seoul).
MAX_CSV_ROWS = 50_000_000
#: Most columns of a table (the widest model table has 13; a plan form adds year columns).
MAX_COLUMNS = 1_000
#: Cells that mark a total or subtotal row (spaces ignored, lower case).
TOTAL_LABELS = frozenset({"합계", "소계", "계", "총계", "총합계", "합", "total", "subtotal", "grandtotal", "sum"})
#: A row whose single filled cell starts like this is a note, a source or a unit line.
NOTE_ROW = re.compile(r"^\s*(?:※|\*|주\s*\d*\s*[):：]|\(주\)|註|자료\s*[:：]|출처\s*[:：]|비고\s*[:：]|"
                      r"\(?\s*단위\s*[:：]|note\s*\d*\s*[:：]|source\s*[:：])", re.IGNORECASE)
_UNIT_WORD = (r"(?:%p?|％|‰|퍼센트|[천만]?건|개소|개국|개월|개|[천만]?명|인|가구|세대|대|곳|권|종|편|회|배|점|호|필지|척|"
              r"[천만]?원|백만원|천만원|억원|조원|달러|\$|일|시간|분|초|년|월|주|km|㎞|m|㎡|m2|m²|㎥|m3|ha|"
              r"t|톤|kg|㎏|g|l|ℓ|kwh|mwh|gwh|mw|kw|tco2(?:eq)?|ppm|㎍/㎥|μg/m3|등급|단계)")
#: A cell of a units row: a unit (``%``, ``건``, ``억원``, ``명/일`` …) or a list of units
#: (``건, %``), optionally in brackets or after ``단위:`` (``(%)``, ``[억원]``, ``단위: 건``);
#: see :func:`_units_row`.
UNIT_CELL = re.compile(rf"^[(\[（［]?\s*(?:단위\s*[:：]?\s*)?{_UNIT_WORD}(?:\s*[/,·ㆍ・]\s*{_UNIT_WORD})*\s*[)\]）］]?$",
                       re.IGNORECASE)
#: The label cell a units row may start with (``단위``, ``(단위)``, ``unit``).
UNIT_LABEL = re.compile(r"^[(\[（［]?\s*(?:단위|units?)\s*[)\]）］]?\s*[:：]?$", re.IGNORECASE)
#: Namespace of a workbook saved as "Strict Open XML Spreadsheet".
STRICT_NS = b"purl.oclc.org/ooxml/spreadsheetml/main"


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
        per cell) for a CSV read by the C parser, ``str`` otherwise (workbooks, CSV read by
        :mod:`csv`, year columns unpivoted). Read them through
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
    #: Sheet column letter of each column of ``cells`` (workbooks; ``""`` where none, e.g. a
    #: column made by unpivoting year columns). None for CSV files.
    letters: list[str] | None = None
    #: What the reader did on its own (merged cells filled, total and note rows skipped,
    #: hidden columns read): not problems, loading goes on; logged and kept for the analyst.
    notices: list[Problem] = field(default_factory=list)


@dataclass
class RawInput:
    """Everything read from one input path."""

    source: str
    tables: dict[str, RawTable] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    hashes: dict[str, str] = field(default_factory=dict)
    #: ``{table name: (file, sheet)}`` of tables whose file/sheet could not be read at all.
    unreadable: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: ``{table name: after(table)}`` when :func:`read_raw` was given ``after`` (CSV folders)
    after: dict[str, object] = field(default_factory=dict)


def known_tables_text() -> str:
    """``"institutions (기관), departments (부서), …"`` for messages."""
    return ", ".join(f"{t.name} ({t.ko})" for t in TABLES.values())


def suggest_table(name: str) -> str:
    """``"did you mean 'departments' (부서)? "`` for a near-miss file or sheet name, else ``""``."""
    import difflib

    lookup = table_lookup()
    close = difflib.get_close_matches(normalise_header(fold_header(name)), list(lookup), n=1, cutoff=0.75)
    if not close:
        return ""
    t = TABLES[lookup[close[0]]]
    return f"did you mean '{t.name}' ({t.ko})? "


def match_table(name: str) -> str | None:
    """The table a file stem or sheet name designates, or None."""
    return table_lookup().get(normalise_header(fold_header(name)))


def read_raw(path: str | Path, after=None) -> RawInput:
    """Read a CSV folder or an ``.xlsx`` workbook into :class:`RawTable` objects.

    Parameters
    ----------
    path
        A folder of CSV files or an ``.xlsx``/``.xlsm`` workbook.
    after
        Optional function of a :class:`RawTable`, called for each table of a CSV folder by the
        thread that read it (so that, e.g., parsing overlaps with reading the other files);
        its results are in :attr:`RawInput.after`. Workbooks: not called.

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
        _read_folder(p, spath, out, after)
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


def _link_problem(f: Path, root: Path, fpath: str) -> Problem | None:
    """The problem of a symbolic link in the input folder (None: a link to a file inside it)."""
    try:
        target = Path(os.path.realpath(f))
    except (OSError, RuntimeError):  # a link loop
        target = None
    if target is None or not target.exists():
        return Problem(file=fpath, rule="broken link", value=visible(f.name), message=(
            f"'{visible(f.name)}' is a link (shortcut) to a file that does not exist; put the file "
            "itself into the folder"))
    if not target.is_relative_to(root):
        return Problem(file=fpath, rule="link_outside_folder", value=visible(f.name), message=(
            f"'{visible(f.name)}' is a link to a file outside the input folder, which is not read; "
            "copy the file into the folder"))
    return None


#: Most threads reading the files of a CSV folder at once (see :func:`read_workers`).
MAX_READ_THREADS = 4


def read_workers() -> int:
    """Threads that read the files of a CSV folder: the CPUs this process may use, at most
    :data:`MAX_READ_THREADS` (``BSC_READ_THREADS`` lowers it; 1 reads one file after another)."""
    return parallel.max_threads(MAX_READ_THREADS, "BSC_READ_THREADS")


def _read_csv_file(f: Path, fpath: str, name: str, after) -> tuple[str | None, list[Problem], RawTable | None, object]:
    """Read, hash and grid one CSV file: ``(sha256 or None, problems, table or None, after(table))``."""
    try:
        raw = f.read_bytes()
    except OSError as exc:
        return None, [Problem(file=fpath, rule="unreadable", message=f"cannot read the file: {exc}")], None, None
    digest = hashlib.sha256(raw).hexdigest()
    grid, probs = _csv_grid(raw, fpath)
    del raw
    if grid is None:
        return digest, probs, None, None
    table, more = _grid_to_table(grid, name, fpath, "", None, [])
    del grid
    return digest, probs + more, table, (after(table) if after is not None and table is not None else None)


def _read_folder(folder: Path, spath: str, out: RawInput, after=None) -> None:
    """Read the CSV files of ``folder`` into ``out``.

    The file checks (names, links, duplicates) are made first, in file-name order; the files
    to read are then read by :func:`read_workers` threads, largest first (pandas' C parser
    tokenizes without holding the GIL), and their results are taken in file-name order again:
    tables, hashes and problems do not depend on which thread finished first.
    """
    root = Path(os.path.realpath(folder))
    files = sorted((f for f in folder.iterdir() if f.is_symlink() or f.is_file()), key=lambda f: f.name)
    steps: list[Problem | int] = []  # in file order: a problem, or the index of a file to read
    jobs: list[tuple[Path, str, str]] = []
    claimed: dict[str, str] = {}  # table name -> the file that gives it (read or not)
    for f in files:
        # ~$name.csv is Excel's owner file, present while name.csv is open in Excel
        if f.name.startswith(("_", ".", "~$")) or f.suffix.lower() != ".csv":
            continue
        fpath = str(Path(spath) / f.name)
        name = match_table(f.stem)
        link = _link_problem(f, root, fpath) if f.is_symlink() else None
        if link is not None:
            steps.append(link)
            if name is not None and name not in claimed:
                claimed[name] = fpath
                out.unreadable[name] = (fpath, "")
            continue
        if not f.is_file():  # a link to a folder inside the input folder
            continue
        if name is None:
            steps.append(Problem(file=fpath, rule="unknown table", value=visible(f.stem), message=(
                f"'{visible(f.name)}' is not a known table; {suggest_table(f.stem)}"
                f"name CSV files after one of: {known_tables_text()}")))
            continue
        if name in claimed:
            steps.append(Problem(file=fpath, rule="duplicate table", value=f.stem, message=(
                f"table {name} ({TABLES[name].ko}) is also given by {claimed[name]}; keep one file per table")))
            continue
        claimed[name] = fpath
        steps.append(len(jobs))
        jobs.append((f, fpath, name))
    # largest file first, results back in file order (bsc_lib.parallel: by position)
    def size(i: int) -> int:
        try:
            return jobs[i][0].stat().st_size
        except OSError:
            return 0
    order = sorted(range(len(jobs)), key=lambda i: (-size(i), i))
    done = parallel.run_all([functools.partial(_read_csv_file, *jobs[i], after) for i in order],
                            workers=read_workers())
    results = [None] * len(jobs)
    for pos, i in enumerate(order):
        results[i] = done[pos]
    for step in steps:
        if isinstance(step, Problem):
            out.problems.append(step)
            continue
        f, fpath, name = jobs[step]
        digest, probs, table, done = results[step]
        if digest is not None:
            out.hashes[f.name] = digest
        out.problems.extend(probs)
        if table is None:
            out.unreadable[name] = (fpath, "")
        else:
            out.tables[name] = table
            if after is not None:
                out.after[name] = done


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
        total = sum(i.file_size for i in probe.infolist())
        wb_xml = _read_part(probe, "xl/workbook.xml", 1 << 24) if "xl/workbook.xml" in parts else b""
    if total > MAX_UNCOMPRESSED:
        out.problems.append(Problem(file=spath, rule="too large", value=f"{total:,} bytes", message=(
            f"the workbook unpacks to {total / 2**20:,.0f} MB, more than the limit of "
            f"{MAX_UNCOMPRESSED / 2**20:,.0f} MB; save each table as a CSV file instead")))
        return
    if STRICT_NS in wb_xml:
        out.problems.append(Problem(file=spath, rule="format", message=(
            "the workbook was saved as Strict Open XML Spreadsheet, which cannot be read; open it in "
            "Excel and save it as 'Excel Workbook (*.xlsx)'")))
        return
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
    # a pass over each table sheet's XML: merged cells, hidden rows/columns, filters, and the
    # styled-but-empty cells and rows (a million formatted rows) removed before openpyxl reads it
    layouts: dict[str, SheetLayout] = {}
    cleaned: dict[str, bytes] = {}
    for sheet in wb_val.sheetnames:
        part = getattr(wb_val[sheet], "_worksheet_path", None)
        if part is None or sheet.strip().lower() in DOC_SHEETS or match_table(sheet) is None:
            continue
        try:
            layouts[sheet], slim = sheet_layout(_read_part(zf, part, MAX_UNCOMPRESSED))
        except KeyError:
            continue
        if slim is not None:
            cleaned[part] = slim
    if cleaned:
        raw_read = _replace_parts(zf, cleaned)
        wb_val.close()
        wb_val = openpyxl.load_workbook(io.BytesIO(raw_read), read_only=True, data_only=True)
    else:
        raw_read = raw
    try:
        for sheet in wb_val.sheetnames:
            if sheet.strip().lower() in DOC_SHEETS:
                continue
            name = match_table(sheet)
            if name is None:
                out.problems.append(Problem(file=spath, sheet=sheet, rule="unknown sheet", value=visible(sheet), message=(
                    f"'{visible(sheet)}' is not a known table; {suggest_table(sheet)}name sheets after one of: "
                    f"{known_tables_text()} (a README/설명 sheet is ignored)")))
                continue
            if name in out.tables or name in out.unreadable:
                prev = out.tables[name].sheet if name in out.tables else out.unreadable[name][1]
                out.problems.append(Problem(file=spath, sheet=sheet, rule="duplicate table", value=sheet, message=(
                    f"table {name} ({TABLES[name].ko}) is also given by sheet '{prev}'; keep one sheet per table")))
                continue
            layout = layouts.get(sheet)
            try:
                ws_frm = None
                if layout.formulas if layout is not None else _has_formulas(zf, wb_val[sheet]):
                    if wb_frm is None:
                        wb_frm = openpyxl.load_workbook(io.BytesIO(raw_read), read_only=True, data_only=False)
                    ws_frm = wb_frm[sheet]
                grid, dates, formulas = _sheet_grid(wb_val[sheet], ws_frm)
            except _TooLarge as exc:
                out.problems.append(Problem(file=spath, sheet=sheet, rule="too large", message=(
                    f"the sheet has {exc}; a table of this tool has at most {MAX_SHEET_ROWS:,} rows and "
                    f"{MAX_COLUMNS:,} columns: delete what does not belong to the table")))
                out.unreadable[name] = (spath, sheet)
                continue
            except Exception as exc:  # noqa: BLE001 - corrupt sheet XML
                out.problems.append(Problem(file=spath, sheet=sheet, rule="format", message=(
                    f"cannot read the sheet ({type(exc).__name__}: {exc})")))
                out.unreadable[name] = (spath, sheet)
                continue
            table, probs = _grid_to_table(grid, name, spath, sheet, dates, formulas, layout)
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
_ROW_TAG = re.compile(rb"<(?:\w+:)?row\b([^>]*)>")
_COL_TAG = re.compile(rb"<(?:\w+:)?col\b([^>]*?)/?>")
_MERGE = re.compile(rb"<(?:\w+:)?mergeCell\b[^>]*\bref=\"\$?([A-Z]+)\$?(\d+)(?::\$?([A-Z]+)\$?(\d+))?\"")
_HIDDEN = re.compile(rb"\bhidden=\"(?:1|true)\"")
_ATTR_R = re.compile(rb"\br=\"(\d+)\"")
_ATTR_MIN = re.compile(rb"\bmin=\"(\d+)\"")
_ATTR_MAX = re.compile(rb"\bmax=\"(\d+)\"")
_AUTOFILTER = re.compile(rb"<(?:\w+:)?autoFilter\b")


class _TooLarge(Exception):
    """A sheet beyond :data:`MAX_SHEET_ROWS` rows or :data:`MAX_COLUMNS` columns."""


@dataclass
class SheetLayout:
    """What a sheet's XML says besides its cell values.

    Attributes
    ----------
    merges
        Merged ranges ``(first_row, first_col, last_row, last_col)``, 0-based, inclusive.
    hidden_rows
        0-based rows that are hidden (by Hide or by a filter) and hold a cell with content.
    hidden_cols
        0-based hidden columns.
    filtered
        The sheet has an AutoFilter.
    formulas
        The sheet holds a formula element.
    """

    merges: list[tuple[int, int, int, int]] = field(default_factory=list)
    hidden_rows: list[int] = field(default_factory=list)
    hidden_cols: set[int] = field(default_factory=set)
    filtered: bool = False
    formulas: bool = True


def _read_part(zf: zipfile.ZipFile, part: str, limit: int) -> bytes:
    """A zip member's bytes, refusing more than ``limit`` bytes whatever its header says."""
    with zf.open(part) as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise _TooLarge(f"a part ({part}) larger than {limit:,} bytes")
    return data


def _col_index(letters: bytes) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + (ch - 64)
    return n - 1


def _drop_empty_rows(xml: bytes) -> tuple[bytes, bool]:
    """The sheet XML without the rows below its last value (formatted but empty rows).

    Returns ``(xml, dropped)``. The last ``</c>`` of the sheet data (a cell with content: a
    value, an inline string or a formula; an empty formatted cell is ``<c r=… s=…/>``) is
    found by one backward search, and every row element after the row that holds it is cut
    in one slice: no regular expression and no per-row work over
    a part that is 300 MB for a million formatted rows. Rows above it are untouched (their
    numbering, given or implied, stays as it was).
    """
    start = xml.find(b"<sheetData")
    end = xml.rfind(b"</sheetData>")
    if start < 0 or end < 0:
        return xml, False
    last = xml.rfind(b"</c>", start, end)  # a cell with content closes; an empty one is <c …/>
    if last < 0:
        cut = xml.index(b">", start) + 1  # no value at all: every row goes
        if xml[cut - 2:cut] == b"/>":
            return xml, False
    else:
        close = xml.find(b"</row>", last, end)
        if close < 0:
            return xml, False
        cut = close + len(b"</row>")
    if end - cut < 64:
        return xml, False
    return xml[:cut] + xml[end:], True


def sheet_layout(xml: bytes) -> tuple[SheetLayout, bytes | None]:
    """Read a sheet's XML for its layout and drop its empty (formatted) rows.

    Returns ``(layout, slim)``: ``slim`` is the XML without the rows below the last value
    (:func:`_drop_empty_rows`) when that removes more than 1 MB (a sheet with a million
    formatted empty rows), else None. The layout is read from the slim XML (merged ranges,
    hidden rows with data, hidden columns, a filter, formulas).
    """
    slim, dropped = _drop_empty_rows(xml)
    dropped = dropped and len(xml) - len(slim) > 1_000_000
    if not dropped:
        slim = xml
    layout = SheetLayout(formulas=_FORMULA_TAG.search(slim) is not None)
    if b"<mergeCell" in slim:
        for m in _MERGE.finditer(slim):
            c0, r0 = _col_index(m.group(1)), int(m.group(2)) - 1
            c1, r1 = (_col_index(m.group(3)), int(m.group(4)) - 1) if m.group(3) else (c0, r0)
            layout.merges.append((min(r0, r1), min(c0, c1), max(r0, r1), max(c0, c1)))
    if b'hidden="' in slim:
        for m in _ROW_TAG.finditer(slim):
            attrs = m.group(1)
            if attrs.endswith(b"/") or not _HIDDEN.search(attrs):
                continue
            r = _ATTR_R.search(attrs)
            if r:
                layout.hidden_rows.append(int(r.group(1)) - 1)
        for m in _COL_TAG.finditer(slim):
            attrs = m.group(1)
            lo, hi = _ATTR_MIN.search(attrs), _ATTR_MAX.search(attrs)
            if _HIDDEN.search(attrs) and lo and hi:
                layout.hidden_cols.update(range(int(lo.group(1)) - 1, min(int(hi.group(1)), MAX_COLUMNS + 1)))
    layout.filtered = b"autoFilter" in slim and _AUTOFILTER.search(slim) is not None
    return layout, (slim if dropped else None)


def _replace_parts(zf: zipfile.ZipFile, parts: dict[str, bytes]) -> bytes:
    """The workbook's zip with some parts replaced (stored uncompressed: read once, from memory)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zout:
        for info in zf.infolist():
            body = parts[info.filename] if info.filename in parts else zf.read(info.filename)
            zout.writestr(zipfile.ZipInfo(info.filename, date_time=info.date_time), body)
    return out.getvalue()


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
        if i >= MAX_SHEET_ROWS:
            raise _TooLarge(f"more than {MAX_SHEET_ROWS:,} rows")
        if len(rv) > MAX_COLUMNS and any(c.value is not None for c in rv[MAX_COLUMNS:]):
            raise _TooLarge(f"a value beyond column {MAX_COLUMNS:,} (row {i + 1})")
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
        while texts and texts[-1] == "":
            texts.pop()
        grid.append(texts)
    return grid, dates, formulas


# --------------------------------------------------------------------------- common


def _column_letter(j: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(j + 1)


def _nonblank_facts(col: pd.Series) -> tuple[pd.Series, np.ndarray, pd.Series]:
    """``(nonblank, codes, cleaned distinct texts)`` of a text column (one factorisation).

    ``nonblank`` is True where the cell has something besides white space and zero-width
    characters (each distinct text cleaned once). A categorical column (the C parser's) gives its
    codes and categories as they are (no hashing)."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        codes, uniques = category_codes(col), np.asarray(col.cat.categories, dtype=object)
    else:
        codes, uniques = pd.factorize(col, use_na_sentinel=True)
    cleaned = clean_cells(pd.Series(uniques, dtype="str"))
    filled = (cleaned != "").to_numpy(dtype=bool)
    return pd.Series(np.append(filled, False)[codes], index=col.index), codes, cleaned


def _nonblank_frame(df: pd.DataFrame) -> tuple[pd.DataFrame, dict[int, tuple[np.ndarray, pd.Series]]]:
    """Nonblank mask of every column and, per column, its codes and cleaned distinct texts."""
    masks, facts = {}, {}
    for j in df.columns:
        masks[j], codes, cleaned = _nonblank_facts(df[j])
        facts[j] = (codes, cleaned)
    return pd.DataFrame(masks, index=df.index), facts


def _header_text(x: object) -> str:
    """A header cell as written (stripped), ``""`` when it holds only invisible characters."""
    return str(x).strip() if fold_header(x) else ""


#: :data:`NOTE_ROW` for :func:`bsc_lib.data.io.text.joined_texts`: anchored at the start of each text.
_NOTE_AT = re.compile(r"\x00" + NOTE_ROW.pattern.removeprefix("^"), NOTE_ROW.flags)


#: Characters whose lower case is in a :data:`TOTAL_LABELS` label (the labels' own characters
#: and their upper case; ``tests/test_io.py`` checks every code point).
TOTAL_CHARS = "".join(sorted(set("".join(TOTAL_LABELS)) | {c.upper() for c in "".join(TOTAL_LABELS)}))
#: A joined text (:func:`bsc_lib.data.io.text.joined_texts`) made only of white space and
#: :data:`TOTAL_CHARS`: the only texts that can be a total label once white space is removed
#: and the text lower-cased.
_TOTAL_AT = re.compile(rf"\x00[\s{re.escape(TOTAL_CHARS)}]+(?=\x00)")


def _label_flags(cleaned: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """``(is_total, is_note)`` of each distinct cleaned text (plus a ``False`` slot for a missing
    value): ``is_total`` when the text without white space, lower-cased, is a :data:`TOTAL_LABELS`
    label; ``is_note`` when :data:`NOTE_ROW` matches. Only the texts a pass over the joined texts
    finds possible are tested one by one."""
    n = len(cleaned)
    is_total = np.zeros(n + 1, dtype=bool)
    is_note = np.zeros(n + 1, dtype=bool)
    present = cleaned.notna().to_numpy()
    texts = cleaned.to_numpy(dtype=object)[present].tolist()
    if not texts:
        return is_total, is_note
    where = np.flatnonzero(present)
    joined, starts = joined_texts(texts)
    cand = texts_matching(_TOTAL_AT, joined, starts)
    if len(cand):
        key = pd.Series([texts[i] for i in cand.tolist()], dtype="str").str.replace(r"\s+", "", regex=True).str.lower()
        is_total[where[cand]] = key.isin(TOTAL_LABELS).to_numpy(dtype=bool)
    cand = texts_matching(_NOTE_AT, joined, starts)
    if len(cand):
        sub = pd.Series([texts[i] for i in cand.tolist()], dtype="str")
        is_note[where[cand]] = sub.str.contains(NOTE_ROW, regex=True).fillna(False).to_numpy(dtype=bool)
    return is_total, is_note


def _label_rows(facts: dict[int, tuple[np.ndarray, pd.Series]], nonblank: pd.DataFrame,
                rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Among positions ``rows``: total/subtotal rows and note rows (masks over ``rows``).

    A total row's first filled cell is a :data:`TOTAL_LABELS` label (``합계``, ``소 계``,
    ``Total`` …). A note row has a single filled cell starting like :data:`NOTE_ROW`
    (``※ …``, ``주) …``, ``자료: …``, ``(단위: 억원)``). ``facts`` are the columns' codes and
    cleaned distinct texts (:func:`_nonblank_frame`): only the distinct texts are looked at.
    """
    total = np.zeros(len(rows), bool)
    note = np.zeros(len(rows), bool)
    flags = {}  # per column: (is_total, is_note) over its distinct texts (+ a missing-value slot)
    for j, (_, cleaned) in facts.items():
        flags[j] = _label_flags(cleaned)
    hits = [j for j, (a, b) in flags.items() if a.any() or b.any()]
    if not len(rows) or not hits:  # the usual case: no label anywhere, no pass over the rows
        return total, note
    before = np.zeros(len(rows), bool)  # a filled cell left of column j
    single = None
    for j in [j for j in facts if j <= max(hits)]:
        nb_j = nonblank[j].to_numpy()[rows]
        first = nb_j & ~before
        before |= nb_j
        is_total, is_note = flags[j]
        if j not in hits or not first.any():
            continue
        c = facts[j][0][rows]
        total |= first & is_total[c]
        if is_note.any():
            if single is None:
                single = nonblank.to_numpy()[rows].sum(axis=1) == 1
            note |= first & is_note[c] & single
    return total, note & ~total


def _units_row(df: pd.DataFrame, nonblank: pd.DataFrame, headers: list[str], data_pos: np.ndarray,
               file: str, sheet: str) -> Problem | None:
    """The notice ``skipped row`` when the first row under the header is a units row, else None.

    A units row (``%``, ``건``, ``억원`` under ``목표치``, ``실적`` … as Korean tables print
    them) has only units (:data:`UNIT_CELL`) in its filled cells, at least one, each under a
    header, and at most a ``단위`` label (:data:`UNIT_LABEL`) in its first filled cell. It is
    skipped (not read as data) with a notice naming each column's unit; the values below are
    read as written (no unit conversion). A unit row anywhere else is read as data.
    """
    if not len(data_pos):
        return None
    p = int(data_pos[0])
    filled = np.flatnonzero(nonblank.iloc[p].to_numpy())
    texts = {int(j): str(df.iat[p, j]).strip() for j in filled}
    units = []
    for k, (j, text) in enumerate(texts.items()):
        if k == 0 and UNIT_LABEL.match(text):
            continue
        if not UNIT_CELL.match(text) or j >= len(headers) or not headers[j]:
            return None
        units.append(f"{visible(headers[j])}: {short_value(text)}")
    if not units:
        return None
    listed = ", ".join(units)
    return Problem(file=file, sheet=sheet, row=p + 1, rule="skipped row", value=listed, message=(
        f"row {p + 1} is a units row ({listed}): it is not read as data; the values below are read "
        "as written (no unit conversion)"))


def _range_text(r0: int, c0: int, r1: int, c1: int) -> str:
    return f"{_column_letter(c0)}{r0 + 1}:{_column_letter(c1)}{r1 + 1}"


def _merged_cells(df: pd.DataFrame, headers: list[str], last_header: int, name: str, file: str, sheet: str,
                  layout: SheetLayout) -> tuple[list[Problem], list[Problem]]:
    """Apply the merged ranges below the header to ``df`` (in place): ``(problems, notices)``.

    * A range over several rows in a text column (ids, names, codes, units …): its value is
      written into every row of the range (a project merged over its KPIs belongs to each of
      them), with a notice naming the range.
    * A range over several rows in a number or yes/no column: the problem ``merged_cells`` (a
      merged weight or target could be each row's value or their total); the value is still
      written into each row so that no row is also reported as empty.
    * A range over columns that have headers of their own: the problem ``merged_cells`` (which
      column does the value belong to?). Columns without a header (the header merged over the
      same columns) are fine: the value is the first column's.
    Merges in or above the header rows are the header's business (two-row headers).
    """
    from bsc_lib.data.io.parse import resolve_header

    problems: list[Problem] = []
    notices: list[Problem] = []
    t = TABLES[name]
    n, width = df.shape
    for r0, c0, r1, c1 in layout.merges:
        if r0 <= last_header or r0 >= n or c0 >= width:
            continue
        r1, c1 = min(r1, n - 1), min(c1, width - 1)
        rng = _range_text(r0, c0, r1, c1)
        head = headers[c0] if c0 < len(headers) else ""
        col = resolve_header(head, name) if head else None
        value = str(df.iat[r0, c0])
        covered = [headers[j] for j in range(c0 + 1, c1 + 1) if j < len(headers) and headers[j]]
        if covered:
            problems.append(Problem(
                file=file, sheet=sheet, row=r0 + 1, column=visible(head) or f"column {_column_letter(c0)}",
                rule="merged_cells", value=rng, message=(
                    f"cells {rng} are merged across the columns {', '.join(map(visible, [head, *covered]))}: "
                    "it is not clear which column the value belongs to; unmerge the cells (Home > Merge & "
                    "Center) and put each value in its own column")))
            continue
        if r1 == r0 or col is None:
            continue
        df.iloc[r0 + 1:r1 + 1, c0] = value  # a number column's value too: no row reads as empty
        if t.column(col).dtype != "str":
            problems.append(Problem(
                file=file, sheet=sheet, row=r0 + 1, column=visible(head), rule="merged_cells", value=rng,
                message=(f"cells {rng} are merged over rows {r0 + 1}–{r1 + 1} of the number column "
                         f"{col}: it is not clear whether {short_value(value)} is each row's value or "
                         "their total; unmerge the cells and enter the value of each row")))
            continue
        notices.append(Problem(
            file=file, sheet=sheet, row=r0 + 1, column=visible(head), rule="merged_cells", value=rng,
            message=f"cells {rng} are merged: '{short_value(value)}' is read on each of rows {r0 + 1}–{r1 + 1}"))
    return problems, notices


def short_value(v: str) -> str:
    """A cell text for a message: invisible characters shown, at most 60 characters."""
    v = visible(v)
    return v if len(v) <= 60 else v[:60] + "…"


def _grid_to_table(
    grid: pd.DataFrame | list[list[str]],
    name: str,
    file: str,
    sheet: str,
    dates: set[tuple[int, int]] | None,
    formulas: list[tuple[int, int, str]],
    layout: SheetLayout | None = None,
) -> tuple[RawTable | None, list[Problem]]:
    """Find the header row, drop blank rows and unnamed empty columns, keep row numbers.

    ``grid`` is a list of rows of text (workbooks, CSV read by :mod:`csv`) or a frame of
    categorical text columns (CSV read by the C parser); the cells of the table keep that dtype
    (:attr:`RawTable.cells`).

    Also (see the module docstring): merged cells below the header (``layout``, workbooks),
    total and note rows skipped with a notice, hidden rows reported, limits on rows and columns.
    """
    problems: list[Problem] = []
    notices: list[Problem] = []
    where = "sheet" if sheet else "file"
    width = grid.shape[1] if isinstance(grid, pd.DataFrame) else max((len(r) for r in grid), default=0)
    if width == 0 or len(grid) == 0:
        return None, [Problem(file=file, sheet=sheet, rule="empty", message=(
            f"the {where} is empty: no header row (table {name}, {TABLES[name].ko})"))]
    if width > MAX_COLUMNS or len(grid) > (MAX_SHEET_ROWS if sheet else MAX_CSV_ROWS):
        too = (f"{width:,} columns (at most {MAX_COLUMNS:,})" if width > MAX_COLUMNS
               else f"{len(grid):,} rows (at most {MAX_SHEET_ROWS if sheet else MAX_CSV_ROWS:,})")
        return None, [Problem(file=file, sheet=sheet, rule="too large", message=(
            f"the {where} has {too}; delete what does not belong to table {name}"))]
    if isinstance(grid, pd.DataFrame):  # categorical text columns (the C parser)
        df = grid
    else:
        padded = [r + [""] * (width - len(r)) if len(r) < width else r for r in grid]
        df = pd.DataFrame(padded, columns=range(width), dtype=object).fillna("").astype("str")
    nonblank, facts = _nonblank_frame(df)
    row_has = nonblank.any(axis=1).to_numpy()
    if not row_has.any():
        return None, [Problem(file=file, sheet=sheet, rule="empty", message=(
            f"the {where} is empty: no header row (table {name}, {TABLES[name].ko})"))]
    filled_per_row = nonblank.sum(axis=1).to_numpy()
    candidates = np.flatnonzero(row_has)
    h = int(candidates[0])
    # title lines above the header (one filled cell, e.g. "2019년 성과관리계획") are skipped
    wide = candidates[filled_per_row[candidates] >= 2]
    if len(wide) and (filled_per_row[candidates[candidates < wide[0]]] == 1).all():
        h = int(wide[0])
    headers = [_header_text(x) for x in df.iloc[h].tolist()]
    last_header = h
    if h + 1 < len(df) and row_has[h + 1]:
        sub = [_header_text(x) for x in df.iloc[h + 1].tolist()]
        combined = combine_header_rows(headers, sub)
        if combined is not None:
            log.debug("%s %s: two-row header combined: %s", file, sheet, combined)
            headers, last_header = combined, h + 1
    if layout is not None and layout.merges:
        probs, notes = _merged_cells(df, headers, last_header, name, file, sheet, layout)
        problems += probs
        notices += notes
        if notes or probs:
            nonblank, facts = _nonblank_frame(df)
            row_has = nonblank.any(axis=1).to_numpy()
    data_pos = np.flatnonzero(row_has)
    data_pos = data_pos[data_pos > last_header]
    unit_notice = _units_row(df, nonblank, headers, data_pos, file, sheet)
    if unit_notice is not None:
        notices.append(unit_notice)
        data_pos = data_pos[1:]
    total, note = _label_rows(facts, nonblank, data_pos)
    for kind, mask in (("a total row", total), ("a note", note)):
        for p in data_pos[mask]:
            text = short_value(next(x for x in df.iloc[p].tolist() if clean_cells(pd.Series([x])).iloc[0]))
            notices.append(Problem(file=file, sheet=sheet, row=int(p) + 1, rule="skipped row", value=text,
                                   message=f"row {p + 1} is {kind} ('{text}'): it is not read as data"))
    data_pos = data_pos[~(total | note)]
    if layout is not None and layout.hidden_rows:
        hidden = np.intersect1d(data_pos, np.asarray(layout.hidden_rows, dtype=np.int64))
        if len(hidden):
            listed = ", ".join(str(r + 1) for r in hidden[:20]) + (" …" if len(hidden) > 20 else "")
            how = ("are hidden by the filter on this sheet (rows {}); clear the filter (Data > Clear)"
                   if layout.filtered else "are hidden (rows {}); unhide them").format(listed)
            problems.append(Problem(
                file=file, sheet=sheet, row=int(hidden[0]) + 1, rule="hidden rows", value=listed, message=(
                    f"{len(hidden)} row(s) with data {how} to read them, or delete them to leave them out "
                    "(a hidden row is neither read nor dropped silently)")))
    cells = df.iloc[data_pos].reset_index(drop=True)
    rows = data_pos.astype(np.int64) + 1
    # columns without a header: dropped when empty, a problem otherwise
    keep = []
    for j, head in enumerate(headers):
        if head:
            keep.append(j)
            continue
        filled = np.flatnonzero(nonblank[j].to_numpy()[data_pos])
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
    if layout is not None:
        for j in sorted(layout.hidden_cols & set(keep)):
            notices.append(Problem(file=file, sheet=sheet, column=visible(headers[j]), rule="hidden column",
                                   value=_column_letter(j), message=(
                                       f"column {_column_letter(j)} ({visible(headers[j])}) is hidden in the "
                                       "sheet; it is read like the other columns")))
    cells = cells[keep]
    cells.columns = range(len(keep))
    table = RawTable(
        name=name, file=file, sheet=sheet, headers=[headers[j] for j in keep], cells=cells,
        rows=rows, dates=date_mask, letters=[_column_letter(j) for j in keep] if sheet else None,
        notices=notices,
    )
    for n in notices:
        log.info("%s", n)
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
    letters = None
    if table.letters is not None:
        letters = [table.letters[j] for j in fixed] + [""] * (1 + len(labels))
    return RawTable(name=table.name, file=table.file, sheet=table.sheet, headers=headers,
                    cells=cells, rows=rows, dates=dates, letters=letters, notices=table.notices)
