"""Helpers to build :class:`bsc_lib.errors.Problem` lists: where a table came from, capping.

Every table read from disk carries a :class:`TableOrigin` (file, sheet, the spreadsheet row
number of each data row and the header text of each column as written), so that problems
found after parsing – by pandera or by the cross-table rules – still name the row and the
header the analyst sees.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from bsc_lib.data.io.text import visible
from bsc_lib.errors import Problem, short_text

#: At most this many problems are reported per (file, sheet, column, rule); then one summary.
MAX_PER_RULE = 50


@dataclass(frozen=True)
class TableOrigin:
    """Where the rows of one table come from.

    Attributes
    ----------
    file
        The file as given by the caller (a CSV path, or the workbook path).
    sheet
        The sheet name for workbooks, ``""`` for CSV files.
    rows
        Spreadsheet row number (1-based, header row included) of each data row, by position.
    headers
        ``{column name: header text as written}`` for the columns present in the file.
    """

    file: str
    sheet: str = ""
    rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    headers: dict[str, str] = field(default_factory=dict)

    def row(self, position: int) -> int | None:
        """Spreadsheet row of the data row at ``position`` (None when out of range)."""
        if 0 <= position < len(self.rows):
            return int(self.rows[position])
        return None

    def header(self, column: str) -> str:
        """The header text as written, or the canonical name when the column was absent."""
        return self.headers.get(column, column)

    @classmethod
    def default(cls, table: str, n_rows: int) -> TableOrigin:
        """Origin of an in-memory table: file = table name, row = position + 2."""
        return cls(file=table, rows=np.arange(n_rows, dtype=np.int64) + 2, headers={})


def fmt_value(v) -> str:
    """A cell value as text for a problem (``""`` for missing, integers without ``.0``)."""
    if v is None:
        return ""
    if isinstance(v, float):
        if v != v:  # NaN
            return ""
        if v.is_integer() and abs(v) < 1e15:
            return str(int(v))
        return repr(v)
    if isinstance(v, np.floating | np.integer | np.bool_):
        return fmt_value(v.item())
    try:
        import pandas as pd

        if v is pd.NA:
            return ""
    except ImportError:  # pragma: no cover
        pass
    return str(v)


def cell_problems(
    origin: TableOrigin,
    column: str,
    positions: Iterable[int],
    values: Iterable,
    rule: str,
    message: str,
) -> list[Problem]:
    """One problem per failing cell; ``message`` may use ``{value}``.

    Values are shortened by :func:`bsc_lib.errors.short_text` (a huge cell is shown by its
    first 200 characters and its length) and invisible characters are shown as ``<U+200B>``
    (:func:`bsc_lib.data.io.text.visible`).

    At most :data:`MAX_PER_RULE` problems are built, plus one ``"... and N more"`` summary.
    """
    positions = list(positions)
    values = list(values)
    header = origin.header(column)
    shown = [short_text(visible(fmt_value(v))) for v in values[:MAX_PER_RULE]]
    out = [
        Problem(file=origin.file, sheet=origin.sheet, row=origin.row(int(p)), column=visible(header),
                rule=rule, value=v, message=message.format(value=v))
        for p, v in zip(positions[:MAX_PER_RULE], shown, strict=False)
    ]
    extra = len(positions) - MAX_PER_RULE
    if extra > 0:
        out.append(_summary(origin.file, origin.sheet, header, rule, extra))
    return out


def _summary(file: str, sheet: str, column: str, rule: str, extra: int) -> Problem:
    return Problem(file=file, sheet=sheet, column=column, rule=rule,
                   message=f"... and {extra} more '{rule}' problem(s) in this column (not listed)")


def cap_problems(problems: list[Problem], cap: int = MAX_PER_RULE) -> list[Problem]:
    """Keep at most ``cap`` problems per (file, sheet, column, rule), then add one summary each.

    Order is preserved; existing summaries (``row is None`` and a ``"... and"`` message) count
    towards the number left out.
    """
    seen: Counter = Counter()
    left_out: Counter = Counter()
    kept: list[Problem] = []
    order: list[tuple] = []
    for p in problems:
        key = (p.file, p.sheet, p.column, p.rule)
        if p.message.startswith("... and ") and p.row is None:
            n = int(p.message.split()[2])
            left_out[key] += n
            if key not in order:
                order.append(key)
            continue
        seen[key] += 1
        if seen[key] <= cap:
            kept.append(p)
        else:
            left_out[key] += 1
            if key not in order:
                order.append(key)
    for key in order:
        if left_out[key]:
            kept.append(_summary(*key, left_out[key]))
    return kept


def dedupe(problems: list[Problem]) -> list[Problem]:
    """Drop exact duplicates, keeping the first occurrence."""
    seen = set()
    out = []
    for p in problems:
        if p not in seen:
            seen.add(p)
            out.append(p)
    return out
