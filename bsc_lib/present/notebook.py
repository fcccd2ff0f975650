"""Presentation helpers for the notebooks: bilingual prose and labelled tables.

Notebooks call :func:`md` for prose that follows the ``lang`` parameter and :func:`show`
for tables with Korean (or English) headers. Importing this module also chooses how plotly
figures are displayed:

* ``PLOTLY_RENDERER=plotly_mimetype`` (set by ``bsc report``): figures are displayed as the
  plotly JSON mimetype only, built directly (:func:`use_plotly_json_display`). This is what
  plotly's own ``plotly_mimetype`` renderer emits, without importing ``plotly.io``'s renderers,
  which pull in nbformat → jsonschema → rfc3987_syntax and cost about 1.6 s in every kernel.
* ``PLOTLY_RENDERER`` set to anything else: plotly's renderer of that name.
* not set (an analyst in JupyterLab): ``plotly_mimetype+notebook``, which keeps charts in
  executed notebooks and in nbconvert HTML without a CDN.
"""

from __future__ import annotations

import html
import json
import os

import pandas as pd
from IPython.display import HTML, Markdown, display

from bsc_lib.present.labels import label

#: The plotly JSON mimetype (rendered by JupyterLab, Voila and ``report.html``).
PLOTLY_MIME = "application/vnd.plotly.v1+json"


def plotly_json_bundle(fig) -> dict:
    """The display bundle plotly's ``plotly_mimetype`` renderer would emit for ``fig``.

    ``{"application/vnd.plotly.v1+json": {"data": [...], "layout": {...}}}``, JSON-safe (numpy
    arrays as lists, NaN as null), without importing ``plotly.io._renderers``.
    """
    return {PLOTLY_MIME: json.loads(fig.to_json(validate=False, remove_uids=False))}


def use_plotly_json_display(shell=None) -> bool:
    """Display every plotly figure in ``shell`` (default: the running IPython) as its JSON bundle.

    Registered as an ``ipython_display`` printer, so IPython asks no other formatter (plotly's
    ``_repr_html_`` would import the renderers anyway). Returns False outside IPython.
    """
    if shell is None:
        from IPython import get_ipython

        shell = get_ipython()
    if shell is None:
        return False
    from plotly.basedatatypes import BaseFigure

    def _display(fig) -> None:
        display(plotly_json_bundle(fig), raw=True)

    shell.display_formatter.ipython_display_formatter.for_type(BaseFigure, _display)
    return True


_renderer = os.environ.get("PLOTLY_RENDERER")
if _renderer == "plotly_mimetype":
    use_plotly_json_display()
else:
    import plotly.io as pio

    pio.renderers.default = _renderer or "plotly_mimetype+notebook"

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
