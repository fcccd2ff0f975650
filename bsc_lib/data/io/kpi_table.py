"""Read any agency's published KPI table (CSV or xlsx) into the canonical KPI frames.

Real KPI tables come in two shapes:

* **wide** — one row per KPI, one column per year of actuals (``FY2015 … FY2018``) and a
  target column (``FY2019 Target``);
* **long** — one row per KPI and year (``Year``, ``Value``), the target either in its own
  column or as the value of the target-year row.

A *mapping* (a dict, typically loaded from YAML by the caller) says which header holds
what; :func:`read_kpi_table` returns a :class:`KPITable` whose ``kpis``, ``history`` and
``results`` are the canonical tables of :mod:`bsc_lib.data.model`, so
``kpi_difficulty(**read_kpi_table(path, mapping))`` runs directly. The format is documented
in ``docs/kpi-table-mapping.md``.

Cell parsing: every cell NFC-normalised, white space, zero-width characters and BOMs removed
at its edges (an id ``A<U+200B>`` is ``A``). Missing tokens (``NA``, ``n/a``, ``-``, blank …
plus the mapping's ``missing_values``) → NaN in number columns and empty in the text columns
id, name, owner, unit and KPI type (a KPI whose owner is missing goes to the owner
:data:`UNASSIGNED` with a ``no_owner`` problem, never to an owner named "NA"); ``1,234`` → 1234; ``12%`` → 12 (percent points, as shown);
``(12)`` and ``△12`` → −12; a Unicode minus is a minus; a zero stays 0. xlsx cells with
a percent number format are read as shown (stored 0.12 with format ``0%`` → 12). Any other
text in a numeric column → NaN and a :class:`bsc_lib.errors.Problem` in ``problems`` (also
logged); the read never fails on a cell. It fails (``DataError``) on a missing file or
sheet, a mapped header that is not in the file (the message lists the available headers),
and duplicate KPI ids (wide) or KPI-years (long); a malformed mapping is a ``ValueError``.
The input file is only read, never written.
"""

from __future__ import annotations

import csv
import datetime as _dt
import io as _io
import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bsc_lib.data.io.text import clean_cells, fold_header, visible
from bsc_lib.data.model import KPI_TYPES, MISSING_TOKENS, VALUE_ALIASES, normalise_header
from bsc_lib.errors import DataError, Problem, problems_frame
from bsc_lib.scoring.components.achievement import achievement_rate

log = logging.getLogger(__name__)

#: Owner of the KPIs whose owner cell is empty or a missing token (when an owner column is mapped).
UNASSIGNED = "unassigned"
#: Text roles whose missing tokens (``NA``, ``-`` …) are read as empty.
TEXT_ROLES = ("kpi_id", "name", "owner", "unit", "kpi_type")

#: Keys accepted at the top level of a mapping.
MAPPING_KEYS = (
    "format", "sheet", "header_row", "columns", "years", "target_year", "direction_values",
    "missing_values", "encoding", "sep", "default_direction", "kpi_type_values", "half",
)
#: Keys accepted under ``columns`` (role → header in the file).
COLUMN_ROLES = (
    "kpi_id", "name", "direction", "target", "actual", "year", "owner", "unit", "kpi_type",
    "weight", "band_low", "band_high",
)

_UP = ("up", "상향", "상향형", "+", "↑", "▲", "higher is better", "higher", "high", "increase",
       "increasing", "높을수록 좋음", "높을수록", "증가", "positive", "max", "maximise", "maximize")
_DOWN = ("down", "하향", "하향형", "-", "−", "–", "↓", "▼", "lower is better", "lower", "low",
         "decrease", "decreasing", "낮을수록 좋음", "낮을수록", "감소", "negative", "min",
         "minimise", "minimize")
_BAND = ("band", "목표구간", "구간", "구간형", "목표구간형", "range", "target range", "within range")


def _dir_key(text: str) -> str:
    return re.sub(r"\s+", "", str(text).strip().lower())


#: Built-in direction spellings (normalised: lower case, no whitespace) → polarity code.
DIRECTION_DEFAULTS: dict[str, str] = {
    **{_dir_key(v): "up" for v in _UP},
    **{_dir_key(v): "down" for v in _DOWN},
    **{_dir_key(v): "band" for v in _BAND},
}


@dataclass(eq=False)
class KPITable(Mapping):
    """The canonical frames read from one KPI table.

    Behaves as a read-only mapping with the keys ``kpis``, ``history`` and ``results``, so
    ``kpi_difficulty(**table)`` works.

    Attributes
    ----------
    kpis
        Canonical ``kpis`` (model column order): ``kpi_id``, ``owner_id`` (mapped owner or
        ``"all"``), ``level`` (``"department"``), ``project_id`` (NaN), ``name_ko``,
        ``unit`` (mapped or ``""``), ``polarity`` (NaN when the direction is unknown),
        ``band_low``, ``band_high``, ``kpi_type`` (mapped or ``"outcome"``), ``weight``
        (mapped, else equal weights per owner summing to 100).
    history
        Canonical ``kpi_history``: ``kpi_id``, ``year``, ``actual`` — one row per KPI and
        history year (years before ``target_year``), NaN where the cell was missing.
    results
        Canonical ``kpi_results``: ``kpi_id``, ``year`` (= ``target_year``), ``half``
        (``"H2"`` unless the mapping sets ``half``), ``target`` (NaN when missing),
        ``actual`` (NaN unless a target-year actual is mapped), ``verified`` (True).
    rates
        (property) the target year's achievement rates by the scoring engine's one rule
        (:func:`bsc_lib.scoring.components.achievement.achievement_rate`).
    problems
        Cells that could not be read and rows that were skipped, as
        :class:`bsc_lib.errors.Problem` (``reasons`` gives them as a DataFrame).
    source, sheet
        The file read and the sheet (``""`` for CSV).
    """

    kpis: pd.DataFrame
    history: pd.DataFrame
    results: pd.DataFrame
    problems: list[Problem] = field(default_factory=list)
    source: str = ""
    sheet: str = ""

    _KEYS = ("kpis", "history", "results")

    def __getitem__(self, key: str) -> pd.DataFrame:
        if key not in self._KEYS:
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._KEYS)

    def __len__(self) -> int:
        return len(self._KEYS)

    @property
    def rates(self) -> pd.DataFrame:
        """Achievement rate of each KPI in the target year, by the scoring engine's one rule.

        :func:`bsc_lib.scoring.components.achievement.achievement_rate` of ``results.target``
        and ``results.actual`` with the KPI's polarity and band limits (no clipping: an
        unbounded rate is ``±inf``; a zero target met exactly is 1, e.g. a "down" KPI with
        target 0 and actual 0). Columns: ``kpi_id``, ``year``, ``half``, ``polarity``,
        ``target``, ``actual``, ``rate`` (NaN when the target, the actual or the direction is
        missing).
        """
        k = self.kpis.set_index("kpi_id")
        r = self.results
        pol = r["kpi_id"].map(k["polarity"])
        rate = achievement_rate(r["target"].to_numpy(), r["actual"].to_numpy(), pol.to_numpy(dtype=object),
                                r["kpi_id"].map(k["band_low"]).to_numpy(), r["kpi_id"].map(k["band_high"]).to_numpy())
        return pd.DataFrame({"kpi_id": r["kpi_id"], "year": r["year"], "half": r["half"], "polarity": pol,
                             "target": r["target"], "actual": r["actual"],
                             "rate": np.asarray(rate, dtype="float64")})

    @property
    def reasons(self) -> pd.DataFrame:
        """``problems`` as a DataFrame: file, sheet, row, column, rule, value, message."""
        return problems_frame(self.problems)


# --------------------------------------------------------------------------- mapping


def _check_mapping(mapping: Mapping[str, Any]) -> dict[str, Any]:
    """Validate and complete a mapping; ValueError naming the bad key."""
    if not isinstance(mapping, Mapping):
        raise ValueError(f"mapping must be a dict, got {type(mapping).__name__}")
    unknown = [k for k in mapping if k not in MAPPING_KEYS]
    if unknown:
        raise ValueError(f"mapping: unknown key(s) {unknown}; allowed: {list(MAPPING_KEYS)}")
    m = dict(mapping)
    fmt = str(m.get("format", "wide")).strip().lower()
    if fmt not in ("wide", "long"):
        raise ValueError(f"mapping: format must be 'wide' or 'long', got {m.get('format')!r}")
    m["format"] = fmt
    cols = m.get("columns")
    if not isinstance(cols, Mapping):
        raise ValueError("mapping: 'columns' must be a dict of role → header")
    bad = [k for k in cols if k not in COLUMN_ROLES]
    if bad:
        raise ValueError(f"mapping: unknown column role(s) {bad}; allowed: {list(COLUMN_ROLES)}")
    cols = {k: str(v) for k, v in cols.items() if v is not None and str(v).strip() != ""}
    need = ["kpi_id"] + (["year", "actual"] if fmt == "long" else ["target"])
    if "default_direction" not in m or m.get("default_direction") is None:
        need.append("direction")
    missing = [k for k in need if k not in cols]
    if missing:
        raise ValueError(f"mapping: columns must map {missing} for format {fmt!r}")
    m["columns"] = cols
    try:
        m["target_year"] = int(m["target_year"])
    except (KeyError, TypeError, ValueError):
        raise ValueError(f"mapping: 'target_year' must be a year, got {m.get('target_year')!r}") from None
    if fmt == "wide":
        years = m.get("years")
        if not isinstance(years, Mapping) or not years:
            raise ValueError("mapping: wide format needs 'years': {year: header, …}")
        try:
            m["years"] = {int(y): str(h) for y, h in years.items()}
        except (TypeError, ValueError):
            raise ValueError(f"mapping: 'years' keys must be years, got {list(years)}") from None
        late = [y for y in m["years"] if y >= m["target_year"]]
        if late:
            raise ValueError(f"mapping: history years {late} are not before target_year {m['target_year']}")
    hr = m.get("header_row", 1)
    if hr is None:
        hr = 1
    if not isinstance(hr, int) or isinstance(hr, bool) or hr < 1:
        raise ValueError(f"mapping: header_row must be a row number ≥ 1, got {hr!r}")
    m["header_row"] = hr
    dv = m.get("direction_values") or {}
    if not isinstance(dv, Mapping):
        raise ValueError("mapping: 'direction_values' must be a dict of cell text → up/down/band")
    directions = dict(DIRECTION_DEFAULTS)
    for raw, code in dv.items():
        code_n = None if code is None else str(code).strip().lower()
        code_n = DIRECTION_DEFAULTS.get(_dir_key(code_n), code_n) if code_n else None
        if code_n not in ("up", "down", "band", None):
            raise ValueError(f"mapping: direction_values[{raw!r}] = {code!r} is not up/down/band")
        directions[_dir_key(raw)] = code_n
    m["_directions"] = directions
    dd = m.get("default_direction")
    if dd is not None:
        dd_n = directions.get(_dir_key(dd))
        if dd_n is None:
            raise ValueError(f"mapping: default_direction {dd!r} is not up/down/band")
        m["default_direction"] = dd_n
    mv = m.get("missing_values") or []
    if isinstance(mv, str):
        mv = [mv]
    m["_missing"] = {str(t).strip().lower() for t in (*MISSING_TOKENS, *mv)}
    kt = {k.lower(): v for k, v in VALUE_ALIASES["kpi_type"].items()}
    kt.update({t: t for t in KPI_TYPES})
    for raw, code in (m.get("kpi_type_values") or {}).items():
        if code not in KPI_TYPES:
            raise ValueError(f"mapping: kpi_type_values[{raw!r}] = {code!r} is not one of {KPI_TYPES}")
        kt[str(raw).strip().lower()] = code
    m["_kpi_types"] = kt
    half = m.get("half", "H2") or "H2"
    if half not in ("H1", "H2"):
        raise ValueError(f"mapping: half must be H1 or H2, got {half!r}")
    m["half"] = half
    return m


# --------------------------------------------------------------------------- reading


def _cell_text(cell) -> str:
    v = cell.value
    if v is None:
        return ""
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, int | float):
        fmt = getattr(cell, "number_format", "") or ""
        if "%" in fmt:
            v = v * 100
        if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
            return str(int(v))
        return repr(v) if isinstance(v, float) else str(v)
    if isinstance(v, _dt.datetime | _dt.date):
        return v.isoformat()
    return str(v)


def _read_xlsx(path: Path, sheet) -> tuple[list[list[str]], str]:
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # corrupt or not a workbook
        raise DataError([Problem(file=str(path), rule="unreadable_file", message=f"cannot open workbook: {exc}")]) from exc
    try:
        names = wb.sheetnames
        if sheet is None:
            ws = wb.worksheets[0]
        elif isinstance(sheet, int) and not isinstance(sheet, bool):
            if not 0 <= sheet < len(names):
                raise DataError([Problem(file=str(path), rule="unknown_sheet", sheet=str(sheet),
                                         message=f"sheet index {sheet} out of range; sheets: {names}")])
            ws = wb.worksheets[sheet]
        elif str(sheet) in names:
            ws = wb[str(sheet)]
        else:
            raise DataError([Problem(file=str(path), rule="unknown_sheet", sheet=str(sheet),
                                     message=f"sheet {sheet!r} not found; sheets: {names}")])
        grid = [[_cell_text(c) for c in row] for row in ws.iter_rows()]
        return grid, ws.title
    finally:
        wb.close()


def _read_csv(path: Path, encoding: str | None, sep: str) -> list[list[str]]:
    data = path.read_bytes()
    encodings = [encoding] if encoding else ["utf-8-sig", "cp949"]
    text = None
    for enc in encodings:
        try:
            text = data.decode(enc)
            break
        except (UnicodeDecodeError, LookupError) as exc:
            last = exc
    if text is None:
        raise DataError([Problem(file=str(path), rule="encoding",
                                 message=f"cannot decode with {encodings}: {last}; set 'encoding' in the mapping")])
    return [list(r) for r in csv.reader(_io.StringIO(text, newline=""), delimiter=sep)]


def _grid_frame(grid: list[list[str]], header_row: int, file: str, sheet: str) -> tuple[list[str], pd.DataFrame]:
    if len(grid) < header_row:
        raise DataError([Problem(file=file, sheet=sheet, rule="no_header",
                                 message=f"header_row {header_row} is beyond the last row ({len(grid)})")])
    width = max(len(r) for r in grid)
    padded = [r + [""] * (width - len(r)) for r in grid]
    headers = [str(h).strip() if fold_header(h) else "" for h in padded[header_row - 1]]
    if not any(headers):
        raise DataError([Problem(file=file, sheet=sheet, rule="no_header", row=header_row,
                                 message=f"header row {header_row} is empty; set 'header_row' in the mapping")])
    body = pd.DataFrame(padded[header_row:], columns=range(width), dtype="str")
    # NFC (units such as ㎍/㎥ kept); white space, zero-width characters and BOMs at the edges removed
    body = body.fillna("").apply(lambda c: clean_cells(c, "NFC"))
    body.index = pd.RangeIndex(header_row + 1, header_row + 1 + len(body))  # spreadsheet row numbers
    return headers, body


def _locate(roles: dict[str, str], headers: list[str], file: str, sheet: str) -> dict[str, int]:
    """Column position of each mapped header (exact, then normalised match)."""
    exact = {}
    norm = {}
    for i, h in enumerate(headers):
        exact.setdefault(h, i)
        norm.setdefault(normalise_header(fold_header(h)), i)
    pos: dict[str, int] = {}
    problems = []
    for role, header in roles.items():
        h = header.strip()
        if h in exact:
            pos[role] = exact[h]
        elif normalise_header(fold_header(h)) in norm:
            pos[role] = norm[normalise_header(fold_header(h))]
        else:
            problems.append(Problem(
                file=file, sheet=sheet, rule="unknown_column", column=header,
                message=f"mapped column {visible(header)!r} (for {role}) not in the file; "
                        f"available headers: {[visible(x) for x in headers if x]}",
            ))
    if problems:
        raise DataError(problems)
    return pos


# --------------------------------------------------------------------------- parsing


def parse_numbers(s: pd.Series, missing: set[str] | None = None) -> tuple[pd.Series, pd.Series]:
    """Parse published-table number text.

    Parameters
    ----------
    s
        Cell texts.
    missing
        Lower-case tokens read as missing (default: :data:`bsc_lib.data.model.MISSING_TOKENS`).

    Returns
    -------
    tuple of Series
        ``(values, bad)``: float values (NaN for missing or unreadable) and a boolean
        Series, True where a non-missing cell was not a number.
    """
    missing = {t.lower() for t in (MISSING_TOKENS if missing is None else missing)}
    t = s.astype("str").fillna("").str.strip()
    is_missing = t.str.lower().isin(missing)
    t = t.str.replace("\u2212", "-", regex=False).str.replace(r"[\s\u00a0]", "", regex=True)
    paren = t.str.fullmatch(r"\(.+\)")
    t = t.where(~paren, t.str.slice(1, -1))
    tri = t.str.startswith("△")
    t = t.str.lstrip("△")
    t = t.str.removesuffix("%").str.replace(",", "", regex=False)
    val = pd.to_numeric(t.where(~is_missing), errors="coerce").astype("float64")
    val = val.where(np.isfinite(val))
    val = val.where(~(paren | tri), -val)
    bad = ~is_missing & val.isna()
    return val, bad


def _cell_problems(bad: pd.Series, raw: pd.Series, ids: pd.Series, header: str, file: str, sheet: str,
                   rule: str, what: str) -> list[Problem]:
    idx = bad[bad].index
    return [
        Problem(file=file, sheet=sheet, row=int(r), column=header, rule=rule, value=str(raw[r]),
                message=f"KPI {ids[r]}: {what}")
        for r in idx  # one Problem per bad cell (few), not per data row
    ]


def _directions(raw: pd.Series, m: dict) -> pd.Series:
    keys = raw.map(_dir_key)
    pol = keys.map(m["_directions"])
    if m.get("default_direction"):
        pol = pol.where(raw != "", m["default_direction"])
    return pol.astype("str")


def read_kpi_table(path: str | Path, mapping: Mapping[str, Any]) -> KPITable:
    """Read a KPI table (CSV or xlsx, wide or long) into the canonical KPI frames.

    Parameters
    ----------
    path
        ``.csv``/``.txt`` (comma or the mapping's ``sep``; UTF-8, UTF-8 with BOM or CP949
        unless ``encoding`` is set) or ``.xlsx``/``.xlsm`` (``sheet`` name or 0-based
        index; first sheet when omitted).
    mapping
        Which header holds what; see ``docs/kpi-table-mapping.md``. Keys: ``format``
        (``wide``/``long``), ``sheet``, ``header_row`` (1-based row of the headers, rows
        above are ignored), ``columns`` (role → header; roles ``kpi_id``, ``name``,
        ``direction``, ``target``, ``actual``, ``year``, ``owner``, ``unit``,
        ``kpi_type``, ``weight``, ``band_low``, ``band_high``), ``years`` (wide:
        ``{year: header}``), ``target_year``, ``direction_values`` (extra cell text →
        ``up``/``down``/``band``), ``default_direction``, ``kpi_type_values``,
        ``missing_values`` (extra missing tokens), ``encoding``, ``sep``, ``half``.

    Returns
    -------
    KPITable
        ``kpis``, ``history``, ``results`` (canonical columns, see :class:`KPITable`)
        and ``problems``.

    Raises
    ------
    DataError
        File or sheet missing or unreadable, a mapped header not found (the message names
        file, sheet, column and the available headers), duplicate KPI ids (wide) or KPI
        years (long).
    ValueError
        A malformed mapping.
    """
    m = _check_mapping(mapping)
    p = Path(path)
    file = str(path)
    if not p.is_file():
        raise DataError([Problem(file=file, rule="missing_file", message="file not found")])
    suffix = p.suffix.lower()
    sheet = ""
    if suffix in (".xlsx", ".xlsm"):
        grid, sheet = _read_xlsx(p, m.get("sheet"))
    elif suffix in (".csv", ".txt", ".tsv"):
        sep = m.get("sep") or ("\t" if suffix == ".tsv" else ",")
        grid = _read_csv(p, m.get("encoding"), sep)
    else:
        raise DataError([Problem(file=file, rule="file_type",
                                 message=f"unsupported file type {suffix!r}: use .csv or .xlsx")])
    if not grid:
        raise DataError([Problem(file=file, sheet=sheet, rule="empty_file", message="the file is empty")])
    headers, body = _grid_frame(grid, m["header_row"], file, sheet)
    cols = m["columns"]
    roles = dict(cols)
    if m["format"] == "wide":
        roles.update({f"year:{y}": h for y, h in m["years"].items()})
    pos = _locate(roles, headers, file, sheet)
    hdr = {role: headers[i] for role, i in pos.items()}
    col = {role: body[i] for role, i in pos.items()}
    problems: list[Problem] = []
    for role in TEXT_ROLES:  # "NA" in an agency column is no agency, not an agency named NA
        if role in col:
            col[role] = col[role].mask(col[role].str.lower().isin(m["_missing"]), "")

    # rows with no KPI id, or nothing but the id (notes, sources, totals), are skipped
    ids = col["kpi_id"]
    others = [r for r in pos if r != "kpi_id"]
    empty_others = np.logical_and.reduce([col[r] == "" for r in others]) if others else np.ones(len(body), bool)
    skip = (ids == "") | pd.Series(empty_others, index=body.index)
    noted = skip & (body != "").any(axis=1)
    problems += [
        Problem(file=file, sheet=sheet, row=int(r), column=hdr["kpi_id"], rule="skipped_row",
                value=str(ids[r]), message="row skipped: no KPI id or no data besides it")
        for r in noted[noted].index
    ]
    keep = ~skip
    body = body[keep]
    col = {r: s[keep] for r, s in col.items()}
    ids = col["kpi_id"]

    if m["format"] == "wide":
        kpi_rows, history, target, actual = _wide(col, hdr, ids, m, file, sheet, problems)
    else:
        kpi_rows, history, target, actual = _long(col, hdr, ids, m, file, sheet, problems)

    kpis = _kpi_frame(kpi_rows, hdr, m, file, sheet, problems)
    results = pd.DataFrame(
        {
            "kpi_id": kpis["kpi_id"],
            "year": np.int64(m["target_year"]),
            "half": m["half"],
            "target": kpis["kpi_id"].map(target).astype("float64").to_numpy(),
            "actual": kpis["kpi_id"].map(actual).astype("float64").to_numpy() if actual is not None else np.nan,
            "verified": True,
        }
    ).astype({"kpi_id": "str", "year": "int64", "half": "str", "target": "float64",
              "actual": "float64", "verified": "bool"})
    no_target = results["target"].isna()
    problems += [
        Problem(file=file, sheet=sheet, column=hdr.get("target", ""), rule="no_target",
                value=str(k), message=f"KPI {k}: no target for {m['target_year']}")
        for k in results.loc[no_target, "kpi_id"]
    ]
    if problems:
        log.warning("read_kpi_table %s: %d cell/row problem(s); see .problems", file, len(problems))
    log.info("read_kpi_table %s: %d KPIs, %d history rows", file, len(kpis), len(history))
    return KPITable(kpis=kpis, history=history, results=results, problems=problems, source=file, sheet=sheet)


def _attrs(col: dict, ids: pd.Series) -> pd.DataFrame:
    """KPI-level text attributes (per row)."""
    out = pd.DataFrame({"kpi_id": ids})
    for role in ("name", "direction", "owner", "unit", "kpi_type", "weight", "band_low", "band_high"):
        if role in col:
            out[role] = col[role]
    return out


def _wide(col, hdr, ids, m, file, sheet, problems):
    dup = ids.duplicated(keep=False)
    if dup.any():
        raise DataError([
            Problem(file=file, sheet=sheet, row=int(r), column=hdr["kpi_id"], rule="duplicate_kpi",
                    value=str(ids[r]), message="KPI id appears on more than one row")
            for r in dup[dup].index
        ])
    frames = []
    for y in sorted(m["years"]):  # a few year columns
        role = f"year:{y}"
        val, bad = parse_numbers(col[role], m["_missing"])
        problems += _cell_problems(bad, col[role], ids, hdr[role], file, sheet, "not_a_number",
                                   f"{y} actual is not a number")
        frames.append(pd.DataFrame({"kpi_id": ids.to_numpy(), "year": y, "actual": val.to_numpy()}))
    history = pd.concat(frames, ignore_index=True)
    history = history.sort_values(["kpi_id", "year"], kind="stable").reset_index(drop=True)
    tval, bad = parse_numbers(col["target"], m["_missing"])
    problems += _cell_problems(bad, col["target"], ids, hdr["target"], file, sheet, "not_a_number",
                               "target is not a number")
    target = pd.Series(tval.to_numpy(), index=ids.to_numpy())
    actual = None
    if "actual" in col:
        aval, bad = parse_numbers(col["actual"], m["_missing"])
        problems += _cell_problems(bad, col["actual"], ids, hdr["actual"], file, sheet, "not_a_number",
                                   f"{m['target_year']} actual is not a number")
        actual = pd.Series(aval.to_numpy(), index=ids.to_numpy())
    return _attrs(col, ids), history, target, actual


def _long(col, hdr, ids, m, file, sheet, problems):
    ty = m["target_year"]
    yraw = col["year"]
    year = pd.to_numeric(yraw.str.extract(r"((?:19|20)\d{2})", expand=False), errors="coerce")
    bad_y = year.isna()
    problems += _cell_problems(bad_y, yraw, ids, hdr["year"], file, sheet, "bad_year",
                               "year not recognised, row ignored")
    val, bad = parse_numbers(col["actual"], m["_missing"])
    problems += _cell_problems(bad & ~bad_y, col["actual"], ids, hdr["actual"], file, sheet,
                               "not_a_number", "value is not a number")
    frame = pd.DataFrame({"kpi_id": ids, "year": year, "value": val})
    if "target" in col:
        tval, tbad = parse_numbers(col["target"], m["_missing"])
        problems += _cell_problems(tbad & ~bad_y, col["target"], ids, hdr["target"], file, sheet,
                                   "not_a_number", "target is not a number")
        frame["target"] = tval
    frame = frame[~bad_y]
    dup = frame.duplicated(["kpi_id", "year"], keep=False)
    if dup.any():
        raise DataError([
            Problem(file=file, sheet=sheet, row=int(r), column=hdr["year"], rule="duplicate_kpi_year",
                    value=f"{frame.at[r, 'kpi_id']} {int(frame.at[r, 'year'])}",
                    message="KPI and year appear on more than one row")
            for r in dup[dup].index
        ])
    frame = frame.astype({"year": "int64"})
    later = frame["year"] > ty
    problems += [
        Problem(file=file, sheet=sheet, row=int(r), column=hdr["year"], rule="after_target_year",
                value=str(frame.at[r, "year"]), message=f"KPI {frame.at[r, 'kpi_id']}: year after {ty} ignored")
        for r in later[later].index
    ]
    hist = frame[frame["year"] < ty]
    history = (
        hist[["kpi_id", "year", "value"]].rename(columns={"value": "actual"})
        .sort_values(["kpi_id", "year"], kind="stable").reset_index(drop=True)
    )
    cur = frame[frame["year"] == ty].set_index("kpi_id")
    if "target" in frame:
        target = cur["target"]
        # target given on other rows only (e.g. repeated on every row): use it when unique
        others = frame.dropna(subset=["target"]).groupby("kpi_id")["target"]
        uniq = others.nunique()
        fallback = others.first()[uniq == 1]
        conflict = uniq[uniq > 1].index
        target = target.reindex(target.index.union(fallback.index))
        target = target.fillna(fallback.reindex(target.index))
        problems += [
            Problem(file=file, sheet=sheet, column=hdr["target"], rule="ambiguous_target", value=str(k),
                    message=f"KPI {k}: no target in the {ty} row and different targets on other rows")
            for k in conflict if pd.isna(target.get(k))
        ]
        actual = cur["value"]
    else:
        target = cur["value"]
        actual = None
    # KPI attributes: the first non-empty cell of each KPI
    attrs = _attrs(col, ids)
    first = attrs.replace("", np.nan).groupby("kpi_id", sort=False).first().reset_index()
    for role in first.columns:
        if role != "kpi_id":
            n_distinct = attrs[attrs[role] != ""].groupby("kpi_id")[role].nunique()
            for k in n_distinct[n_distinct > 1].index:  # few conflicting KPIs
                problems.append(Problem(file=file, sheet=sheet, column=hdr[role], rule="conflicting_attribute",
                                        value=str(k), message=f"KPI {k}: different {role} values on its rows; first used"))
    first = first.fillna("")
    # a KPI spans several rows: problems about its attributes name its first row
    first_row = pd.Series(attrs.index, index=attrs.index).groupby(attrs["kpi_id"], sort=False).first()
    first.index = pd.Index(first["kpi_id"].map(first_row).to_numpy())
    return first, history, target, actual


def _kpi_frame(a: pd.DataFrame, hdr, m, file, sheet, problems) -> pd.DataFrame:
    ids = a["kpi_id"]
    n = len(a)
    out = pd.DataFrame(index=a.index)
    out["kpi_id"] = ids
    if "owner" in a:
        no_owner = a["owner"] == ""
        out["owner_id"] = a["owner"].where(~no_owner, UNASSIGNED)
        problems += [
            Problem(file=file, sheet=sheet, row=int(r), column=hdr["owner"], rule="no_owner", value="",
                    message=f"KPI {visible(ids[r])}: no owner (the cell is empty or a missing-value token); "
                            f"counted under the owner '{UNASSIGNED}'")
            for r in no_owner[no_owner].index
        ]
    else:
        out["owner_id"] = "all"
    out["level"] = "department"
    out["project_id"] = pd.Series(np.nan, index=a.index, dtype="str")
    out["name_ko"] = a["name"].where(a["name"] != "", ids) if "name" in a else ids
    out["unit"] = a["unit"] if "unit" in a else ""
    if "direction" in a:
        pol = _directions(a["direction"], m)
        bad = pol.isna()
        problems += [
            Problem(file=file, sheet=sheet, row=int(r), column=hdr["direction"], rule="unknown_direction",
                    value=str(a.at[r, "direction"]),
                    message=f"KPI {ids[r]}: direction not recognised (add it to direction_values)")
            for r in bad[bad].index
        ]
    else:
        pol = pd.Series(m["default_direction"], index=a.index, dtype="str")
    out["polarity"] = pol
    for role in ("band_low", "band_high"):
        if role in a:
            v, bad = parse_numbers(a[role], m["_missing"])
            problems += _cell_problems(bad, a[role], ids, hdr[role], file, sheet, "not_a_number",
                                       f"{role} is not a number")
            out[role] = v
        else:
            out[role] = np.nan
    if "kpi_type" in a:
        raw_kt = a["kpi_type"].str.strip()
        kt = raw_kt.str.lower().map(m["_kpi_types"]).where(raw_kt != "", "outcome")
        bad = kt.isna()
        problems += [
            Problem(file=file, sheet=sheet, row=int(r), column=hdr["kpi_type"], rule="unknown_kpi_type",
                    value=str(a.at[r, "kpi_type"]), message=f"KPI {ids[r]}: KPI type not recognised")
            for r in bad[bad].index
        ]
        out["kpi_type"] = kt
    else:
        out["kpi_type"] = "outcome"
    if "weight" in a:
        w, bad = parse_numbers(a["weight"], m["_missing"])
        problems += _cell_problems(bad, a["weight"], ids, hdr["weight"], file, sheet, "not_a_number",
                                   "weight is not a number")
        out["weight"] = w
    else:
        per_owner = out.groupby("owner_id")["kpi_id"].transform("size") if n else pd.Series(dtype="float64")
        out["weight"] = 100.0 / per_owner
    out = out.reset_index(drop=True)
    return out.astype({
        "kpi_id": "str", "owner_id": "str", "level": "str", "project_id": "str", "name_ko": "str",
        "unit": "str", "polarity": "str", "band_low": "float64", "band_high": "float64",
        "kpi_type": "str", "weight": "float64",
    })
