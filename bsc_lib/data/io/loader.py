"""Read + parse an input path into typed (not yet validated) tables.

:func:`read_parsed` is the layer between :mod:`bsc_lib.data.io.reader` (text) and
:mod:`bsc_lib.data.validate` (rules): it returns one frame per model table (absent tables as
empty frames), their origins and the reading/header/cell problems.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pandas as pd

from bsc_lib.data.io.parse import parse_table, parsed_dtype
from bsc_lib.data.io.problems import TableOrigin
from bsc_lib.data.io.reader import read_raw
from bsc_lib.data.model import TABLES
from bsc_lib.errors import Problem

#: environment variable carrying ``input.na_as_missing`` of the analysis settings to the
#: notebook kernels of a run (set by :func:`bsc_lib.runs.pipeline.run_report`)
NA_AS_MISSING_ENV = "BSC_NA_AS_MISSING"


def resolve_na_as_missing(value: bool | None) -> bool:
    """``value``, or (when None) the ``BSC_NA_AS_MISSING`` environment variable (``1``/``true``).

    None is the default of every loading function: inside ``bsc report`` the run's
    ``input.na_as_missing`` (``params/analysis.yaml``) reaches the notebook kernels this way;
    elsewhere it is False unless the variable is set.
    """
    if value is not None:
        return bool(value)
    return os.environ.get(NA_AS_MISSING_ENV, "").strip().lower() in ("1", "true", "yes")


@dataclass
class ReadResult:
    """Parsed tables of one input path (see :func:`read_parsed`)."""

    source: str
    frames: dict[str, pd.DataFrame]
    origins: dict[str, TableOrigin]
    problems: list[Problem]
    hashes: dict[str, str]
    bad_cells: dict[str, set[tuple[str, int]]] = field(default_factory=dict)
    missing_columns: dict[str, set[str]] = field(default_factory=dict)
    #: tables missing (required) or unreadable: rules that need them are skipped
    unavailable: set[str] = field(default_factory=set)
    #: tables read from a file or sheet (even with no rows)
    present: set[str] = field(default_factory=set)
    #: what the reader did on its own (merged cells filled, total/note rows skipped, hidden
    #: columns read), as :class:`~bsc_lib.errors.Problem` records that do not stop loading
    notices: list[Problem] = field(default_factory=list)


def empty_parsed(name: str) -> pd.DataFrame:
    """An empty frame with the parsed dtypes of table ``name`` (a fresh copy each call)."""
    return _empty_parsed_template(name).copy()


@cache
def _empty_parsed_template(name: str) -> pd.DataFrame:
    return pd.DataFrame({c.name: pd.Series(dtype=parsed_dtype(c)) for c in TABLES[name].columns})


def read_parsed(path: str | Path, *, na_as_missing: bool | None = None) -> ReadResult:
    """Read ``path`` (CSV folder or xlsx) and parse every table.

    ``na_as_missing`` reads Excel's ``#N/A`` as a missing value instead of the problem
    ``formula error`` (other formula errors are always reported); None: see
    :func:`resolve_na_as_missing`.

    Returns
    -------
    ReadResult
        ``frames`` (every model table, parsed dtypes ``category`` (text) /``float64``/``Int64``/``boolean``,
        model column order, RangeIndex), ``origins``, ``problems`` (reading, headers, cells,
        missing required tables), ``hashes`` ``{file name: sha256}``.
    """
    na = resolve_na_as_missing(na_as_missing)
    raw = read_raw(path, after=functools.partial(parse_table, na_as_missing=na))
    spath = str(path)
    is_book = Path(path).suffix.lower() in (".xlsx", ".xlsm")
    res = ReadResult(source=spath, frames={}, origins={}, problems=list(raw.problems), hashes=raw.hashes)
    # the input itself could not be opened (not found, corrupt workbook …): no per-table noise
    fatal = any(p.file == spath and p.sheet == "" and p.rule in ("not found", "format", "empty", "unreadable", "too large")
                for p in raw.problems)
    for name, t in TABLES.items():
        if name in raw.tables:
            pt = raw.after.get(name) or parse_table(raw.tables[name], na_as_missing=na)
            res.notices += raw.tables[name].notices
            res.frames[name] = pt.frame
            res.origins[name] = pt.origin
            res.problems += pt.problems
            res.bad_cells[name] = pt.bad_cells
            res.missing_columns[name] = pt.missing_columns
            res.present.add(name)
            continue
        res.frames[name] = empty_parsed(name)
        if name in raw.unreadable:
            file, sheet = raw.unreadable[name]
            res.origins[name] = TableOrigin(file=file, sheet=sheet)
            res.unavailable.add(name)
            continue
        res.origins[name] = TableOrigin(file=spath if is_book else str(Path(spath) / f"{name}.csv"))
        if t.required:
            res.unavailable.add(name)
            if fatal:  # the whole input could not be read: one problem is enough
                continue
            where = (f"add a sheet named '{name}' or '{t.ko}'" if is_book
                     else f"add {name}.csv (or {t.ko}.csv) to the folder")
            res.problems.append(Problem(file=spath, rule="missing table", value=name, message=(
                f"required table {name} ({t.ko}) is missing: {where}")))
    return res


def read_tables(path: str | Path, *, na_as_missing: bool | None = None,
                ) -> tuple[dict[str, pd.DataFrame], list[Problem], dict[str, str]]:
    """Read and parse ``path`` without the validation rules.

    Parameters
    ----------
    path
        A folder of CSV files or an ``.xlsx`` workbook.

    Returns
    -------
    tuple
        ``(frames, problems, hashes)``: ``frames`` = ``{table: DataFrame}`` for every model
        table, columns in model order with the parsed dtypes (``str``, ``float64``, ``Int64``,
        ``boolean``), categorical codes mapped to English codes where known; ``problems`` =
        reading, header and cell-parsing problems (not the validation rules); ``hashes`` =
        ``{file name: sha256}`` of the files read.
    """
    res = read_parsed(path, na_as_missing=na_as_missing)
    frames = {name: f.astype({c: "str" for c in f.columns if isinstance(f[c].dtype, pd.CategoricalDtype)})
              for name, f in res.frames.items()}
    return frames, res.problems, res.hashes
