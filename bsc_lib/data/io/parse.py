"""Map headers to columns and parse text cells into typed columns, collecting problems.

Input: a :class:`bsc_lib.data.io.reader.RawTable` (all text). Output: a :class:`ParsedTable`
whose frame has every column of the model table, in model order, with the *parsed* dtypes
(``str``, ``float64``, nullable ``Int64`` and ``boolean`` so that unparseable cells can be
NA), plus the problems found and the cells that already have a problem (so that later
checks do not report the same cell twice).

Cell rules (all vectorised per column)
--------------------------------------
* Every cell: Unicode NFKC normalisation (full-width digits, letters, ``％`` and ``，`` become
  ASCII), then white space, zero-width characters, BOMs and non-breaking spaces removed at
  both edges (:func:`bsc_lib.data.io.text.clean_cells`).
* Ids (key and reference columns): two spellings of one column that become the same id only
  after that cleaning (``D001<U+200B>`` and ``D001``) are the problem ``ambiguous id``, naming
  both with their invisible characters shown.
* Excel formula errors (``#N/A``, ``#REF!``, ``#VALUE!``, ``#DIV/0!``, ``#NAME?``, ``#NUM!``,
  ``#NULL!``, ``#SPILL!``, ``#CALC!`` …), cached in a workbook or exported into a CSV, are the
  problem ``formula error`` with their cell; with ``na_as_missing=True`` a ``#N/A`` is read as
  a missing value instead. For the analyst this is ``input.na_as_missing`` in
  ``params/analysis.yaml`` (every command that reads the data honours it; ``bsc validate`` also
  takes ``--na-as-missing``).
* Missing: the tokens of :data:`bsc_lib.data.model.MISSING_TOKENS` (case-insensitive, e.g. blank,
  ``-``, ``NA``, ``해당없음``) are NA.
* Numbers: ``1234``, ``-5``, ``1,234``, ``1,234.5`` (comma = thousands separator only, in
  groups of three), ``1e3``, ``12.5%``. A trailing ``%`` is dropped and the value kept in
  percent units (``12.5%`` → 12.5). Any other text, and infinities, is ``not a number``. Int
  columns also need a whole number (``2019.0`` is fine, ``2019.5`` is not).
* Booleans: :data:`bsc_lib.data.model.BOOL_TRUE` / :data:`bsc_lib.data.model.BOOL_FALSE`
  (case-insensitive: ``TRUE``, ``예``, ``O``, ``1`` …).
* Text: a cell longer than :data:`MAX_TEXT_CHARS` characters (after stripping) is the
  problem ``too long`` and read as missing (names and ids are short; such a cell is a paste
  gone wrong, and Excel itself cannot hold more than 32,767 characters in a cell).
* Codes (columns of :data:`bsc_lib.data.model.CODESET_OF_COLUMN`): English code or any spelling
  of :data:`bsc_lib.data.model.VALUE_ALIASES` / :data:`bsc_lib.data.aliases.EXTRA_VALUE_ALIASES`,
  compared case-, space- and middle-dot-insensitively. Unknown spellings are left as they
  are and reported by the ``allowed`` check of the validator.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bsc_lib.data.aliases import code_lookup, header_lookup
from bsc_lib.data.io.problems import MAX_PER_RULE, TableOrigin, cell_problems
from bsc_lib.data.io.reader import UNIT_CELL, RawTable
from bsc_lib.data.io.text import clean_cells, fold_dots, fold_header, visible
from bsc_lib.data.model import (
    BOOL_FALSE,
    BOOL_TRUE,
    CODESET_OF_COLUMN,
    MISSING_TOKENS,
    TABLES,
    Column,
    Table,
    category_codes,
    normalise_header,
)
from bsc_lib.errors import Problem, short_text

#: dtype of each model dtype while validating (nullable, so that bad cells can be NA). Text is
#: ``category`` (its distinct values and an integer code per cell) until :func:`canonical`: the
#: validation rules compare codes, never hash millions of strings.
PARSED_DTYPES = {"str": "category", "int": "Int64", "float": "float64", "bool": "boolean"}
_THOUSANDS = r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?"
_NORM_DROP = r"[ _.\u00b7\u318d\u119e\u30fb\uff65\u2027\u2219\u22c5\u00a0\ufeff\n\t]"
_TEMPLATE_HEADER = re.compile(r"^(.*)\(([^()]*)\)\s*$", re.DOTALL)
#: Excel's error values (a formula that failed), upper case.
EXCEL_ERRORS = ("#N/A", "#REF!", "#VALUE!", "#DIV/0!", "#NAME?", "#NUM!", "#NULL!", "#SPILL!", "#CALC!",
                "#GETTING_DATA", "#FIELD!", "#BLOCKED!", "#CONNECT!", "#BUSY!", "#UNKNOWN!", "#N/A!")
NUMBER_FORMATS = "1234, -5, 1,234, 1,234.5, 1e3, 12.5%"
#: Longest text cell accepted (characters); longer cells are the problem ``too long``.
MAX_TEXT_CHARS = 1000
#: A header naming a value and a year, e.g. ``실적치 2015`` (a plan form's year column).
YEAR_HEADER = re.compile(r"^(?P<label>.*?\D)?\s*(?P<year>(?:19|20)\d{2})\s*(?:년도|년)?\s*$")


def parsed_dtype(c: Column) -> str:
    """dtype of column ``c`` in a :class:`ParsedTable` frame."""
    return PARSED_DTYPES[c.dtype]


@dataclass
class ParsedTable:
    """A table after header mapping and cell parsing.

    Attributes
    ----------
    frame
        All model columns in model order, parsed dtypes (see :data:`PARSED_DTYPES`),
        RangeIndex; absent optional columns are all-NA.
    origin
        File, sheet, row numbers and header texts.
    problems
        Header and cell problems.
    bad_cells
        ``{(column, position)}`` of cells that already have a problem.
    missing_columns
        Required columns absent from the file (already reported; their cells are not).
    """

    frame: pd.DataFrame
    origin: TableOrigin
    problems: list[Problem] = field(default_factory=list)
    bad_cells: set[tuple[str, int]] = field(default_factory=set)
    missing_columns: set[str] = field(default_factory=set)


def resolve_header(text: str, table: str) -> str | None:
    """Column name for a header cell, or None when unknown.

    Accepts every spelling of :func:`bsc_lib.data.aliases.header_lookup` and the template form
    ``한국어 (english)`` (e.g. ``지표ID (kpi_id)``).
    """
    lookup = header_lookup(table)
    text = fold_header(text)
    hit = lookup.get(normalise_header(text))
    if hit is not None:
        return hit
    m = _TEMPLATE_HEADER.match(text)
    if m:
        inner, outer = lookup.get(normalise_header(m.group(2))), lookup.get(normalise_header(m.group(1)))
        return inner or outer
    return None


def suggest_column(text: str, table: str) -> str | None:
    """Closest known column name to an unknown header (difflib), or None."""
    lookup = header_lookup(table)
    text = fold_header(text)
    key = normalise_header(text)
    m = _TEMPLATE_HEADER.match(text)
    candidates = [key] + ([normalise_header(m.group(2)), normalise_header(m.group(1))] if m else [])
    for cand in candidates:
        close = difflib.get_close_matches(cand, list(lookup), n=1, cutoff=0.6)
        if close:
            return lookup[close[0]]
    return None


def map_headers(raw: RawTable) -> tuple[dict[str, int], list[Problem]]:
    """``{column name: position in raw.cells}`` and the header problems of ``raw``.

    Problems: ``unknown column`` (with a close-match suggestion), ``duplicate column`` (two
    headers meaning the same column; the first is used) and ``missing column`` (a required
    column of the model is absent).
    """
    t = TABLES[raw.name]
    problems: list[Problem] = []
    mapping: dict[str, int] = {}
    for j, head in enumerate(raw.headers):
        col = resolve_header(head, raw.name)
        if col is None:
            m = YEAR_HEADER.match(fold_header(head))
            sugg = suggest_column(head, raw.name)
            if m and m.group("label") and "year" not in t.column_names:
                hint = (f"; it looks like a year column of the plan form: yearly actuals go into the "
                        f"table kpi_history ({TABLES['kpi_history'].ko}), one row per KPI and year, or a "
                        f"sheet with 지표ID and the '실적치' columns under a merged '실적치' header")
            elif sugg:
                hint = f"; did you mean '{sugg}' ({t.column(sugg).ko})?"
            else:
                hint = f"; known columns: {', '.join(t.column_names)}"
            shown = short_text(visible(head))
            problems.append(Problem(file=raw.file, sheet=raw.sheet, column=visible(head), rule="unknown column",
                                    value=visible(head), message=f"unknown column '{shown}' in table {t.name}{hint}"))
            continue
        if col in mapping:
            first = visible(raw.headers[mapping[col]])
            problems.append(Problem(file=raw.file, sheet=raw.sheet, column=visible(head), rule="duplicate column",
                                    value=visible(head), message=(f"'{visible(head)}' and '{first}' both mean column {col} "
                                                         f"({t.column(col).ko}); the first one is used")))
            continue
        mapping[col] = j
    for c in t.columns:
        if c.required and c.name not in mapping:
            problems.append(Problem(file=raw.file, sheet=raw.sheet, column=c.name, rule="missing column",
                                    message=(f"required column {c.name} ({c.ko}) is missing from table "
                                             f"{t.name}; add a column headed '{c.ko}' or '{c.name}'")))
    return mapping, problems


#: Longest missing token: ``str.lower`` never shortens a text, so a longer text is no token.
_MAX_TOKEN = max(map(len, MISSING_TOKENS))


def clean_text(s: pd.Series) -> pd.Series:
    """Clean cells (:func:`bsc_lib.data.io.text.clean_cells`); missing tokens become NA (``str`` dtype)."""
    s = clean_cells(s)
    lengths = s.str.len().to_numpy(dtype="float64", na_value=np.nan)
    short = lengths <= _MAX_TOKEN  # only these can be a token (ids and names are longer)
    missing = s.isna().to_numpy(dtype=bool, copy=True)
    if short.any():
        missing[short] |= s[short].str.lower().isin(MISSING_TOKENS).to_numpy(dtype=bool)
    return s.mask(missing)


def _has_char(s: pd.Series, chars: str) -> bool:
    """Whether any present text of ``s`` holds one of ``chars`` (one pass over the joined texts)."""
    joined = "\x00".join(s[s.notna()].tolist())
    return any(ch in joined for ch in chars)


def formula_errors(s: pd.Series) -> np.ndarray:
    """True where a text cell is one of Excel's error values (:data:`EXCEL_ERRORS`)."""
    if not _has_char(s, "#"):
        return np.zeros(len(s), dtype=bool)
    out = s.str.contains("#", regex=False).fillna(False).to_numpy(dtype=bool, copy=True)
    if out.any():  # only texts with a '#' are cleaned and compared
        out[out] = clean_cells(s[out]).str.upper().isin(EXCEL_ERRORS).to_numpy(dtype=bool)
    return out


def id_columns(t: Table) -> list[str]:
    """Columns of ``t`` that hold ids: its key and reference columns and ``*_id`` columns."""
    return [c.name for c in t.columns
            if c.dtype == "str" and (c.name in t.key or c.fk or c.name.endswith("_id"))]


def parse_number(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Parse cleaned text (NA = missing) to float64. Returns ``(values, bad)``.

    ``bad`` is True where the text is present but not a finite number.
    """
    if _has_char(s, "\u2212%,"):
        t = s.str.replace("\u2212", "-", regex=False)
        pct = t.str.endswith("%").fillna(False).astype(bool)
        t = t.mask(pct, t.str[:-1].str.strip())
        thousands = t.str.fullmatch(_THOUSANDS).fillna(False).astype(bool)
        t = t.mask(thousands, t.str.replace(",", "", regex=False))
        has_comma = t.str.contains(",", regex=False).fillna(False).astype(bool)
        t = t.mask(has_comma)
    else:  # no minus sign, percent or comma anywhere: the texts go to to_numeric as they are
        t = s
    v = pd.to_numeric(t, errors="coerce").astype("float64")
    v = v.mask(~np.isfinite(v.to_numpy()))
    bad = s.notna() & v.isna()
    return v, bad


def parse_bool(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Parse cleaned text to nullable boolean. Returns ``(values, bad)``."""
    low = s.str.lower()
    true = low.isin(BOOL_TRUE).to_numpy()
    false = low.isin(BOOL_FALSE).to_numpy()
    vals = pd.array(np.where(true, True, False), dtype="boolean")
    vals[~(true | false)] = pd.NA
    out = pd.Series(vals, index=s.index)
    bad = s.notna() & ~(true | false)
    return out, bad


def parse_code(s: pd.Series, codeset: str) -> pd.Series:
    """Map spellings to English codes; unknown spellings are kept as written."""
    lookup = code_lookup(codeset)
    keys = normalise_series(fold_dots(s))
    mapped = keys.map(lookup)
    return mapped.where(mapped.notna(), s).astype("str")


def normalise_series(s: pd.Series) -> pd.Series:
    """Vectorised :func:`bsc_lib.data.model.normalise_header` of a text column."""
    return s.str.strip().str.lower().str.replace(_NORM_DROP, "", regex=True)


def _na_column(c: Column, n: int) -> pd.Series:
    return pd.Series(pd.array([pd.NA] * n, dtype=parsed_dtype(c)) if c.dtype in ("int", "bool")
                     else np.full(n, np.nan), dtype=parsed_dtype(c))


def _factorize_text(s: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """``(codes, spellings)``: the distinct texts of ``s`` (``str`` dtype, a missing value last)
    and, per row, the position of its text among them; ``spellings.take(codes)`` is ``s`` as text.
    A categorical ``s`` (the reader's cells) gives its categories and codes as they are."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        cats = s.cat.categories
        codes = category_codes(s)
        spellings = pd.Series(np.append(np.asarray(cats, dtype=object), np.nan), dtype="str")
        if len(codes) and codes.min() < 0:  # a missing cell (not from the reader, whose cells are all text)
            codes = np.where(codes < 0, len(cats), codes.astype(np.intp))
        return codes, spellings
    text = s.astype("str")
    codes, uniques = pd.factorize(text, use_na_sentinel=True)
    spellings = pd.Series(np.append(np.asarray(uniques, dtype=object), np.nan), dtype="str")
    return np.where(codes < 0, len(uniques), codes), spellings


def _factorize_sorted(out: pd.Series, used: np.ndarray) -> tuple[np.ndarray, object]:
    """``pd.factorize(out.where(used), sort=True)``: the sorted distinct used values and the code
    of each entry. When the present values of ``out`` already rise strictly (the C parser's sorted
    categories that cleaning did not change, the usual case) the codes are their ranks among the
    used values: no text is hashed or sorted again."""
    present = out.notna().to_numpy()
    vals = out.to_numpy(dtype=object)[present]
    if len(vals) and bool(np.all(vals[1:] > vals[:-1])):
        keep = used & present
        vcodes = np.where(keep, np.cumsum(keep) - 1, -1)
        return vcodes, out[keep].to_numpy(dtype=object)
    return pd.factorize(out.where(used), sort=True, use_na_sentinel=True)


def _formula_error_problems(origin: TableOrigin, column: str, letter: str, codes: np.ndarray,
                            original: pd.Series, err_u: np.ndarray) -> tuple[list[Problem], np.ndarray]:
    """One ``formula error`` problem per cell (capped later), and the row positions."""
    pos = np.flatnonzero(err_u[codes])
    out = []
    for p in pos[:MAX_PER_RULE]:
        v = clean_cells(pd.Series([original.iloc[p]])).iloc[0].upper()
        row = origin.row(int(p))
        cell = f"cell {letter}{row}" if letter and row is not None else "this cell"
        hint = (" (a lookup that found nothing?)" if v == "#N/A" else "")
        na = (", or read #N/A as missing (input.na_as_missing: true in the analysis settings, "
              "or bsc validate --na-as-missing)") if v == "#N/A" else ""
        out.append(Problem(file=origin.file, sheet=origin.sheet, row=row, column=origin.header(column),
                           rule="formula error", value=v, message=(
                               f"{cell} holds the Excel formula error {v}{hint}; fix the formula or the "
                               f"data it uses, let Excel recalculate and save again{na}")))
    if len(pos) > MAX_PER_RULE:
        out.append(Problem(file=origin.file, sheet=origin.sheet, column=origin.header(column), rule="formula error",
                           message=(f"... and {len(pos) - MAX_PER_RULE} more 'formula error' problem(s) "
                                    "in this column (not listed)")))
    return out, pos


def _distinct(s: pd.Series) -> bool:
    """Whether the present texts of ``s`` are all different: strictly rising (the cleaned sorted
    categories of the C parser, compared in one pass, no hashing) or else unique."""
    vals = s.to_numpy(dtype=object)[s.notna().to_numpy()]
    return len(vals) < 2 or bool(np.all(vals[1:] > vals[:-1])) or pd.Index(vals).is_unique


def ambiguous_ids(origin: TableOrigin, column: str, codes: np.ndarray, spellings: pd.Series,
                  cleaned: pd.Series) -> list[Problem]:
    """``ambiguous id`` problems: spellings of one id column that differ as written (beyond white
    space at the edges, non-breaking spaces included) but are the same id after :func:`clean_text`
    (zero-width characters, BOMs, full-width letters).

    ``spellings`` are the distinct raw texts of the column, ``cleaned`` their cleaned texts and
    ``codes`` the position of each row's text among them. One problem per extra spelling, at
    its first row, naming the spelling seen first (invisible characters shown as ``<U+200B>``).
    """
    if _distinct(cleaned):  # no two spellings clean to the same id (the usual case)
        return []
    loose = spellings.str.strip()  # white space at the edges (NBSP too) is not a different id
    frame = pd.DataFrame({"loose": loose.to_numpy(dtype=object), "clean": cleaned.to_numpy(dtype=object)})
    frame = frame[frame["clean"].notna() & frame["loose"].notna()]
    if frame["clean"].is_unique:
        return []
    groups = frame.drop_duplicates("loose").groupby("clean", sort=False)["loose"].size()
    clash = groups[groups > 1].index
    if not len(clash):
        return []
    out = []
    sub = frame[frame["clean"].isin(clash)]
    first_row = {int(u): int(np.flatnonzero(codes == u)[0]) for u in sub.index}
    for clean, g in sub.groupby("clean", sort=False):
        order = sorted(g.index, key=lambda u: first_row[int(u)])
        seen: dict[str, int] = {}
        for u in order:
            loose_u = g.at[u, "loose"]
            if loose_u in seen:
                continue
            seen[loose_u] = int(u)
            if len(seen) == 1:
                first_u = int(u)
                continue
            p = first_row[int(u)]
            row, row0 = origin.row(p), origin.row(first_row[first_u])
            a, b = visible(loose_u), visible(g.at[first_u, "loose"])
            out.append(Problem(file=origin.file, sheet=origin.sheet, row=row, column=origin.header(column),
                               rule="ambiguous id", value=a, message=(
                                   f"'{a}' (row {row}) and '{b}' (row {row0}) differ only by invisible or "
                                   f"full-width characters and would be the same {column} '{visible(clean)}'; "
                                   f"type the id again in row {row} so that both rows read alike")))
    return out


def _unit_like(cells: pd.Series) -> np.ndarray:
    """True where a cell is a unit (``%``, ``억원``, ``(건)`` … :data:`reader.UNIT_CELL`), not a number."""
    texts = clean_cells(cells.astype("str").reset_index(drop=True))
    return texts.str.match(UNIT_CELL).fillna(False).to_numpy(dtype=bool)


def parse_table(raw: RawTable, *, na_as_missing: bool = False) -> ParsedTable:
    """Map the headers and parse every cell of ``raw``.

    ``na_as_missing`` reads the Excel error ``#N/A`` as a missing value instead of the
    problem ``formula error``.

    Returns
    -------
    ParsedTable
        ``frame`` with columns = the model table's columns (model order, parsed dtypes),
        ``origin``, header and cell ``problems``, ``bad_cells``.
    """
    t: Table = TABLES[raw.name]
    mapping, problems = map_headers(raw)
    origin = TableOrigin(file=raw.file, sheet=raw.sheet, rows=raw.rows,
                         headers={col: raw.headers[j] for col, j in mapping.items()})
    n = len(raw.cells)
    bad_cells: set[tuple[str, int]] = set()
    missing_columns: set[str] = set()
    ids_of = set(id_columns(t))
    cols: dict[str, pd.Series] = {}
    for c in t.columns:
        if c.name not in mapping:
            cols[c.name] = _na_column(c, n)
            if c.required:  # the column is missing: do not also report each empty cell
                missing_columns.add(c.name)
            continue
        j = mapping[c.name]
        original = raw.cells[j].reset_index(drop=True)
        # every distinct spelling is cleaned and parsed once: a column of 18 M ratings has a few
        # hundred distinct texts, and the string operations are the cost of loading
        codes, spellings = _factorize_text(original)
        text = clean_text(spellings)
        err_all = formula_errors(spellings)
        if err_all.any():  # every error value is read as missing; all but a tolerated #N/A are reported
            err_u = err_all.copy()
            if na_as_missing:
                err_u &= clean_cells(spellings).str.upper().ne("#N/A").fillna(True).to_numpy(dtype=bool)
            letter = raw.letters[j] if raw.letters is not None and j < len(raw.letters) else ""
            probs, pos = _formula_error_problems(origin, c.name, letter, codes, original, err_u)
            problems += probs
            bad_cells.update((c.name, int(i)) for i in pos)
            text = text.mask(err_all)
        if c.name in ids_of:
            problems += ambiguous_ids(origin, c.name, codes, spellings, text)
        if c.dtype in ("int", "float"):
            vals, bad_u = parse_number(text)
            bad = bad_u.to_numpy()[codes]
            is_date = (raw.dates[j].reset_index(drop=True).to_numpy() if raw.dates is not None
                       else np.zeros(n, dtype=bool))
            date_bad = bad & is_date
            num_bad = bad & ~is_date
            pos = np.flatnonzero(date_bad)
            problems += cell_problems(origin, c.name, pos, original.iloc[pos], "not a number",
                                      "a date in a numeric column ({value}); enter a number")
            pos = np.flatnonzero(num_bad)
            unit = _unit_like(original.iloc[pos])
            problems += cell_problems(origin, c.name, pos[~unit], original.iloc[pos[~unit]], "not a number",
                                      "'{value}' is not a number (accepted: " + NUMBER_FORMATS + ")")
            problems += cell_problems(origin, c.name, pos[unit], original.iloc[pos[unit]], "not a number", (
                "'{value}' is a unit, not a number: a units row is recognised only directly under the "
                "header; delete this row, or write the unit in the header (e.g. '목표 (%)')"))
            bad_cells.update((c.name, int(i)) for i in np.flatnonzero(bad))
            if c.dtype == "int":
                arr = vals.to_numpy()
                frac = ~np.isnan(arr) & (arr != np.floor(arr))
                too_big = ~np.isnan(arr) & (np.abs(arr) > 2**53)
                nonint_u = frac | too_big
                pos = np.flatnonzero(nonint_u[codes])
                problems += cell_problems(origin, c.name, pos, original.iloc[pos], "not a whole number",
                                          "'{value}' is not a whole number")
                bad_cells.update((c.name, int(i)) for i in pos)
                vals = vals.mask(nonint_u)
                out = pd.Series(pd.array(vals.round().to_numpy(), dtype="Int64"))
            else:
                out = vals
        elif c.dtype == "bool":
            out, bad_u = parse_bool(text)
            pos = np.flatnonzero(bad_u.to_numpy()[codes])
            accepted = ", ".join(BOOL_TRUE) + " / " + ", ".join(BOOL_FALSE)
            problems += cell_problems(origin, c.name, pos, original.iloc[pos], "not a boolean",
                                      "'{value}' is not yes/no (accepted: " + accepted + ")")
            bad_cells.update((c.name, int(i)) for i in pos)
        else:
            too_long_u = (text.str.len() > MAX_TEXT_CHARS).fillna(False).to_numpy(dtype=bool)
            if too_long_u.any():
                pos = np.flatnonzero(too_long_u[codes])
                problems += cell_problems(origin, c.name, pos, original.iloc[pos], "too long", (
                    f"the text is longer than {MAX_TEXT_CHARS:,} characters: shorten it "
                    "(a name or id pasted by mistake?)"))
                bad_cells.update((c.name, int(i)) for i in pos)
                text = text.mask(too_long_u)
            codeset = CODESET_OF_COLUMN.get(c.name)
            out = parse_code(text, codeset) if codeset and c.allowed else text
        out = out.reset_index(drop=True)
        if c.dtype == "str":  # categorical: the distinct cleaned texts, one integer code per cell
            used = np.bincount(codes, minlength=len(out)) > 0  # spellings of no cell (the header …) go
            vcodes, values = _factorize_sorted(out, used)
            cols[c.name] = pd.Series(pd.Categorical.from_codes(
                vcodes[codes], categories=pd.Index(values, dtype="str"), validate=False))
            continue
        cols[c.name] = out.take(codes).reset_index(drop=True)
    frame = pd.DataFrame(cols, index=pd.RangeIndex(n))
    frame = frame.astype({c.name: parsed_dtype(c) for c in t.columns})
    return ParsedTable(frame=frame, origin=origin, problems=problems, bad_cells=bad_cells,
                       missing_columns=missing_columns)


def canonical(frame: pd.DataFrame, table: str, text: str = "category") -> pd.DataFrame:
    """Cast a parsed frame (no NA in non-nullable columns) to the model's canonical dtypes.

    ``text="category"`` (the default, as :func:`bsc_lib.data.io.load`) keeps text integer-coded
    (the distinct values, sorted, and a code per cell); ``text="str"`` turns it into ``str``."""
    from bsc_lib.data.model import PANDAS_DTYPES, pandas_dtype

    if text not in ("str", "category"):
        raise ValueError(f"text must be 'str' or 'category', not {text!r}")
    t = TABLES[table]
    out = frame[t.column_names].reset_index(drop=True)
    keep = text == "category"
    dtypes = {c.name: ("category" if keep and c.dtype == "str" else pandas_dtype(c)) for c in t.columns}
    if not keep:  # categorical text as str: each column is its categories taken by the codes
        for c in t.columns:
            col = out[c.name]
            if c.dtype == "str" and isinstance(col.dtype, pd.CategoricalDtype) \
                    and col.cat.categories.dtype == pd.api.types.pandas_dtype(dtypes[c.name]):
                out[c.name] = pd.Series(col.cat.categories.array.take(category_codes(col), allow_fill=True),
                                        index=out.index, name=c.name)
    out = out.astype(dtypes)
    if keep:  # categories of text are text also when every cell is missing (no category at all)
        text_dtype = pd.api.types.pandas_dtype(PANDAS_DTYPES["str"])
        for c in t.columns:
            cats = out[c.name].cat.categories if c.dtype == "str" else None
            if cats is not None and cats.dtype != text_dtype:
                out[c.name] = out[c.name].cat.set_categories(pd.Index(cats, dtype=text_dtype))
    return out
