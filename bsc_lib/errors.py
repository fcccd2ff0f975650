"""Errors for analysts: every problem names file, sheet, row, column, rule and value.

Library code raises :class:`BSCError` subclasses carrying a list of :class:`Problem`;
the command line prints them as a table and exits non-zero, never with a traceback.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

#: Longest ``value`` / ``column`` / ``sheet`` text kept in a :class:`Problem` (characters).
MAX_VALUE_CHARS = 200
#: Longest ``message`` kept in a :class:`Problem` (characters).
MAX_MESSAGE_CHARS = 2000


def short_text(text: object, limit: int = MAX_VALUE_CHARS) -> str:
    """``text`` as a string of at most about ``limit`` characters.

    Longer texts keep their first ``limit`` characters followed by
    ``"… (N characters)"``, so a pasted 100,000-character cell cannot flood a terminal
    or a report while the analyst still sees what it starts with and how long it is.
    """
    s = str(text)
    if len(s) <= limit:
        return s
    return f"{s[:limit]}… ({len(s):,} characters)"


@dataclass(frozen=True)
class Problem:
    """One problem found in an input.

    ``row`` is the row number as the analyst sees it in Excel or a text editor:
    1-based, counting the header row (so the first data row is 2). ``None`` when the
    problem concerns a whole file, sheet or column.
    """

    file: str
    rule: str
    message: str
    sheet: str = ""
    row: int | None = None
    column: str = ""
    value: str = ""

    def __post_init__(self) -> None:
        # a problem never carries an unbounded text (e.g. a 100k-character cell or header)
        for name, limit in (("value", MAX_VALUE_CHARS), ("column", MAX_VALUE_CHARS),
                            ("sheet", MAX_VALUE_CHARS), ("message", MAX_MESSAGE_CHARS)):
            v = getattr(self, name)
            if isinstance(v, str) and len(v) > limit:
                object.__setattr__(self, name, short_text(v, limit))

    def as_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        where = self.file
        if self.sheet:
            where += f" [{self.sheet}]"
        if self.row is not None:
            where += f" row {self.row}"
        if self.column:
            where += f" column {self.column}"
        val = f" (value: {self.value})" if self.value != "" else ""
        return f"{where}: {self.rule}: {self.message}{val}"


class BSCError(Exception):
    """Base class of errors meant for the analyst (printed without a traceback)."""

    def __init__(self, problems: list[Problem] | str):
        if isinstance(problems, str):
            problems = [Problem(file="", rule="error", message=problems)]
        self.problems = list(problems)
        super().__init__(self._summary())

    def _summary(self) -> str:
        n = len(self.problems)
        head = f"{n} problem{'s' if n != 1 else ''} found"
        lines = [str(p) for p in self.problems[:20]]
        more = [f"... and {n - 20} more"] if n > 20 else []
        return "\n".join([head, *lines, *more])


class DataError(BSCError):
    """The input data (CSV folder / xlsx workbook) is invalid."""


class SchemeError(BSCError):
    """The scheme YAML is invalid."""


def problems_frame(problems: list[Problem]):
    """Problems as a DataFrame with columns file, sheet, row, column, rule, value, message."""
    import pandas as pd

    cols = ["file", "sheet", "row", "column", "rule", "value", "message"]
    return pd.DataFrame([p.as_dict() for p in problems], columns=cols).astype({"row": "Int64"})
