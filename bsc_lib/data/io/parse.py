"""Map headers to columns and parse text cells into typed columns, collecting problems.

Input: a :class:`bsc_lib.data.io.reader.RawTable` (all text). Output: a :class:`ParsedTable`
whose frame has every column of the model table, in model order, with the *parsed* dtypes
(``str``, ``float64``, nullable ``Int64`` and ``boolean`` so that unparseable cells can be
NA), plus the problems found and the cells that already have a problem (so that later
checks do not report the same cell twice).

Cell rules (all vectorised per column)
--------------------------------------
* Every cell: Unicode NFKC normalisation (full-width digits, letters, ``％`` and ``，`` become
  ASCII), then leading/trailing whitespace stripped.
* Missing: the tokens of :data:`bsc_lib.data.model.MISSING_TOKENS` (case-insensitive, e.g. blank,
  ``-``, ``NA``, ``#N/A``, ``해당없음``) are NA.
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
import unicodedata
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bsc_lib.data.aliases import code_lookup, header_lookup
from bsc_lib.data.io.problems import TableOrigin, cell_problems
from bsc_lib.data.io.reader import RawTable
from bsc_lib.data.model import (
    BOOL_FALSE,
    BOOL_TRUE,
    CODESET_OF_COLUMN,
    MISSING_TOKENS,
    TABLES,
    Column,
    Table,
    normalise_header,
)
from bsc_lib.errors import Problem, short_text

#: dtype of each model dtype while validating (nullable, so that bad cells can be NA). Text is
#: ``category`` (its distinct values and an integer code per cell) until :func:`canonical`: the
#: validation rules compare codes, never hash millions of strings.
PARSED_DTYPES = {"str": "category", "int": "Int64", "float": "float64", "bool": "boolean"}
_THOUSANDS = r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?"
_NORM_DROP = r"[ _.\u00b7\u318d\u00a0\ufeff\n\t]"
_TEMPLATE_HEADER = re.compile(r"^(.*)\(([^()]*)\)\s*$")
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
    text = unicodedata.normalize("NFKC", str(text)).strip()
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
    key = normalise_header(unicodedata.normalize("NFKC", str(text)))
    m = _TEMPLATE_HEADER.match(str(text).strip())
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
            m = YEAR_HEADER.match(unicodedata.normalize("NFKC", head))
            sugg = suggest_column(head, raw.name)
            if m and m.group("label") and "year" not in t.column_names:
                hint = (f"; it looks like a year column of the plan form: yearly actuals go into the "
                        f"table kpi_history ({TABLES['kpi_history'].ko}), one row per KPI and year, or a "
                        f"sheet with 지표ID and the '실적치' columns under a merged '실적치' header")
            elif sugg:
                hint = f"; did you mean '{sugg}' ({t.column(sugg).ko})?"
            else:
                hint = f"; known columns: {', '.join(t.column_names)}"
            shown = short_text(head)
            problems.append(Problem(file=raw.file, sheet=raw.sheet, column=head, rule="unknown column",
                                    value=head, message=f"unknown column '{shown}' in table {t.name}{hint}"))
            continue
        if col in mapping:
            first = raw.headers[mapping[col]]
            problems.append(Problem(file=raw.file, sheet=raw.sheet, column=head, rule="duplicate column",
                                    value=head, message=(f"'{head}' and '{first}' both mean column {col} "
                                                         f"({t.column(col).ko}); the first one is used")))
            continue
        mapping[col] = j
    for c in t.columns:
        if c.required and c.name not in mapping:
            problems.append(Problem(file=raw.file, sheet=raw.sheet, column=c.name, rule="missing column",
                                    message=(f"required column {c.name} ({c.ko}) is missing from table "
                                             f"{t.name}; add a column headed '{c.ko}' or '{c.name}'")))
    return mapping, problems


def clean_text(s: pd.Series) -> pd.Series:
    """NFKC-normalise and strip cells; missing tokens become NA (``str`` dtype)."""
    s = s.astype("str").str.normalize("NFKC").str.strip()
    missing = s.str.lower().isin(MISSING_TOKENS) | s.isna()
    return s.mask(missing)


def parse_number(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Parse cleaned text (NA = missing) to float64. Returns ``(values, bad)``.

    ``bad`` is True where the text is present but not a finite number.
    """
    t = s.str.replace("\u2212", "-", regex=False)
    pct = t.str.endswith("%").fillna(False).astype(bool)
    t = t.mask(pct, t.str[:-1].str.strip())
    thousands = t.str.fullmatch(_THOUSANDS).fillna(False).astype(bool)
    t = t.mask(thousands, t.str.replace(",", "", regex=False))
    has_comma = t.str.contains(",", regex=False).fillna(False).astype(bool)
    v = pd.to_numeric(t.mask(has_comma), errors="coerce").astype("float64")
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
    keys = normalise_series(s)
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
        codes = s.cat.codes.to_numpy()
        spellings = pd.Series(np.append(np.asarray(cats, dtype=object), np.nan), dtype="str")
        if len(codes) and codes.min() < 0:  # a missing cell (not from the reader, whose cells are all text)
            codes = np.where(codes < 0, len(cats), codes.astype(np.intp))
        return codes, spellings
    text = s.astype("str")
    codes, uniques = pd.factorize(text, use_na_sentinel=True)
    spellings = pd.Series(np.append(np.asarray(uniques, dtype=object), np.nan), dtype="str")
    return np.where(codes < 0, len(uniques), codes), spellings


def parse_table(raw: RawTable) -> ParsedTable:
    """Map the headers and parse every cell of ``raw``.

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
            problems += cell_problems(origin, c.name, pos, original.iloc[pos], "not a number",
                                      "'{value}' is not a number (accepted: " + NUMBER_FORMATS + ")")
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
            vcodes, values = pd.factorize(out.where(used), sort=True, use_na_sentinel=True)
            cols[c.name] = pd.Series(pd.Categorical.from_codes(
                vcodes[codes], categories=pd.Index(values, dtype="str"), validate=False))
            continue
        cols[c.name] = out.take(codes).reset_index(drop=True)
    frame = pd.DataFrame(cols, index=pd.RangeIndex(n))
    frame = frame.astype({c.name: parsed_dtype(c) for c in t.columns})
    return ParsedTable(frame=frame, origin=origin, problems=problems, bad_cells=bad_cells,
                       missing_columns=missing_columns)


def canonical(frame: pd.DataFrame, table: str, text: str = "str") -> pd.DataFrame:
    """Cast a parsed frame (no NA in non-nullable columns) to the model's canonical dtypes.

    ``text="str"`` (the default) turns categorical text into ``str``; ``text="category"`` keeps
    it integer-coded (the distinct values, sorted, and a code per cell)."""
    from bsc_lib.data.model import pandas_dtype

    if text not in ("str", "category"):
        raise ValueError(f"text must be 'str' or 'category', not {text!r}")
    t = TABLES[table]
    out = frame[t.column_names].reset_index(drop=True)
    keep = text == "category"
    return out.astype({c.name: ("category" if keep and c.dtype == "str" else pandas_dtype(c)) for c in t.columns})
