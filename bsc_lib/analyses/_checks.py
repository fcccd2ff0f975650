"""Small argument checks shared by the analysis modules."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pandas as pd


def as_list(cols: str | Sequence[str] | None) -> list[str]:
    """``None`` → ``[]``, a column name → ``[name]``, a sequence → a list."""
    if cols is None:
        return []
    if isinstance(cols, str):
        return [cols]
    return list(cols)


def require_columns(df: pd.DataFrame, cols: Iterable[str], what: str = "df") -> None:
    """Raise TypeError unless ``df`` is a DataFrame, ValueError naming the columns it lacks."""
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"{what} must be a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ValueError(f"column(s) not in {what}: {missing}; available: {list(df.columns)}")
