"""Presentation helpers for the notebooks: bilingual prose and labelled tables.

Notebooks call :func:`md` for prose that follows the ``lang`` parameter and :func:`show`
for tables with Korean (or English) headers. Importing this module also selects a plotly
renderer that keeps charts in executed notebooks and in nbconvert HTML without a CDN
(``plotly_mimetype+notebook``) unless ``PLOTLY_RENDERER`` is set.
"""

from __future__ import annotations

import html
import os

import pandas as pd
import plotly.io as pio
from IPython.display import HTML, Markdown, display

from bsc_lib.labels import label

if not os.environ.get("PLOTLY_RENDERER"):
    pio.renderers.default = "plotly_mimetype+notebook"

#: Column-name patterns and their display formats.
_PCT_HINTS = ("share", "rate", "_pct", "p_", "weight_on")
_INT_HINTS = ("n_", "rank", "count", "rows")


def md(lang: str, ko: str, en: str, **values) -> None:
    """Display prose in ``lang``; ``{name}`` placeholders are filled from ``values``.

    Values are HTML-escaped before formatting, so names from the data cannot inject markup.
    """
    text = ko if lang == "ko" else en
    safe = {k: html.escape(v) if isinstance(v, str) else v for k, v in values.items()}
    display(Markdown(text.format(**safe)))


def _fmt(col: str, s: pd.Series):
    if pd.api.types.is_bool_dtype(s):
        return None
    if pd.api.types.is_float_dtype(s):
        if any(h in col for h in _PCT_HINTS) and s.dropna().between(-1.5, 1.5).all():
            return "{:.1%}"
        return "{:,.2f}"
    if pd.api.types.is_integer_dtype(s):
        return "{:,d}"
    return None


def table_html(df: pd.DataFrame, lang: str = "ko", max_rows: int = 60) -> str:
    """An HTML table with labelled headers and number formats (cells are escaped)."""
    d = df.head(max_rows)
    fmts = {c: _fmt(str(c), d[c]) for c in d.columns}
    out = pd.DataFrame(index=d.index)
    for c in d.columns:
        f = fmts[c]
        if f is None:
            out[label(c, lang)] = d[c].map(lambda v: "" if pd.isna(v) else str(v))
        else:
            out[label(c, lang)] = d[c].map(lambda v, f=f: "" if pd.isna(v) else f.format(v))
    more = ""
    if len(df) > max_rows:
        more = f"<p><em>{len(df) - max_rows:,} {'행 생략' if lang == 'ko' else 'more rows'}</em></p>"
    return out.to_html(index=False, escape=True, classes="bsc-table", border=0) + more


def show(df: pd.DataFrame, lang: str = "ko", max_rows: int = 60) -> None:
    """Display ``df`` as a labelled, formatted table (at most ``max_rows`` rows)."""
    display(HTML(table_html(df, lang=lang, max_rows=max_rows)))
