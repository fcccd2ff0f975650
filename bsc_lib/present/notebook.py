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
import re

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
    display(Markdown(strong(text.format(**safe))))


_BOLD_RE = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*")


def strong(text: str) -> str:
    """``**bold**`` as ``<strong>bold</strong>``: CommonMark leaves ``**95개(15%)**의`` literal
    (a closing ``**`` after punctuation and before a letter does not close), Korean prose often
    has that shape."""
    return _BOLD_RE.sub(r"<strong>\1</strong>", text)


#: Columns whose values are codes of the label catalogue (shown as their labels).
CODE_COLUMNS = frozenset({
    "inst_type", "group", "evaluation", "component", "status", "flag", "severity", "level", "plan_level",
    "rater_group", "half", "kind", "polarity", "kpi_type", "nearest_side", "role", "round", "position",
    "measure", "what", "who", "verdict", "attribute", "value", "check", "column", "input", "output", "movement",
    "direction", "rag", "next_better_grade", "next_worse_grade", "perspective", "unit_level",
})
#: Columns holding totals: shown with as many decimals as it takes to tell different values apart.
TOTAL_COLUMNS = frozenset({"total", "total_prior", "nominal_total", "total_pct"})


def _decimals_to_separate(s: pd.Series, lo: int = 2, hi: int = 4) -> int:
    """Fewest decimals (``lo`` … ``hi``) at which distinct values of ``s`` stay distinct."""
    v = s.dropna().astype(float)
    n = v.nunique()
    for d in range(lo, hi + 1):
        if v.round(d).nunique() == n:
            return d
    return hi


def _fmt(col: str, s: pd.Series):
    if pd.api.types.is_bool_dtype(s):
        return None
    if pd.api.types.is_datetime64_any_dtype(s):
        return "date"
    if pd.api.types.is_float_dtype(s):
        nn = s.dropna()
        if any(h in col for h in _INT_HINTS) and (nn == nn.round()).all():
            return "{:,.0f}"
        if any(h in col for h in _PCT_HINTS) and nn.between(-1.5, 1.5).all():
            return "{:.1%}"
        if col in TOTAL_COLUMNS:
            return f"{{:,.{_decimals_to_separate(s)}f}}"
        return "{:,.2f}"
    if pd.api.types.is_integer_dtype(s):
        return "{:,d}"
    return None


def _cell(v, f, col: str, lang: str) -> str:
    if v is None or (not isinstance(v, list | tuple) and pd.isna(v)):
        return ""
    if isinstance(v, bool):
        return label("yes" if v else "no", lang)
    if f == "date":
        return pd.Timestamp(v).strftime("%Y-%m-%d")
    if f is not None:
        return f.format(v)
    if col in CODE_COLUMNS and isinstance(v, str):
        return label(v, lang)
    if isinstance(v, pd.Timestamp):
        return v.strftime("%Y-%m-%d")
    return str(v)


#: Marks a Korean name shown in an English table because the data has no English one.
KO_NAME_MARK = " (ko)"


#: Free-text columns written by the library in English (left out of Korean tables).
ENGLISH_TEXT_COLUMNS = ("reason", "detail")


def one_language_names(df: pd.DataFrame, lang: str) -> pd.DataFrame:
    """Keep the text of one language in a displayed table.

    * ``name_ko``/``name_en``: a Korean table drops ``name_en``; an English table shows
      ``name_en`` (the Korean name where it is missing, marked :data:`KO_NAME_MARK`).
    * ``X`` with a Korean twin ``X_ko`` (``flag_ko``, ``input_ko``, ``description_ko``): a Korean
      table shows the twin's text under ``X``; an English table drops the twin. ``label_ko``
      (the Korean label of a ``measure``/``column`` code) replaces the code in a Korean table.
    * ``interpretation``/``interpretation_en``: the one of the language.
    * :data:`ENGLISH_TEXT_COLUMNS`: dropped from Korean tables; dropped everywhere when empty.
    """
    out = df.copy()
    for c in list(out.columns):
        if c.endswith("_ko") and c not in ("name_ko", "institution_ko") and c[:-3] in out.columns:
            if lang == "ko":
                out[c[:-3]] = out[c]
            out = out.drop(columns=[c])
    if "label_ko" in out.columns:
        code = next((c for c in ("measure", "column") if c in out.columns), None)
        if lang == "ko" and code is not None:
            out[code] = out["label_ko"]
        out = out.drop(columns=["label_ko"])
    if "interpretation_en" in out.columns:
        if lang == "en" and "interpretation" in out.columns:
            out["interpretation"] = out["interpretation_en"]
        out = out.drop(columns=["interpretation_en"])
    for c in ENGLISH_TEXT_COLUMNS:
        if c in out.columns and (lang == "ko" or out[c].fillna("").astype(str).str.strip().eq("").all()):
            out = out.drop(columns=[c])
    if "name_ko" not in out.columns or "name_en" not in out.columns:
        return out
    if lang == "ko":
        return out.drop(columns=["name_en"])
    ko = out["name_ko"].astype("object")
    out["name_en"] = out["name_en"].astype("object").where(out["name_en"].notna() & (out["name_en"] != ""),
                                                           ko.map(lambda v: "" if pd.isna(v) else f"{v}{KO_NAME_MARK}"))
    return out.drop(columns=["name_ko"])


#: Columns that identify the unit of a row (matched against the ``near_ties`` producer's ``unit_id``).
UNIT_ID_COLUMNS = ("unit_id", "institution_id", "department_id")

#: Appended to a near-tied total (the dashboard's mark too).
NEAR_TIE_MARK = " ≈"


def _tie_marks(d: pd.DataFrame, ties: pd.DataFrame | None) -> pd.Series | None:
    """Per row of ``d``: the decimals of its near-tied ``total`` (from the ``near_ties``
    producer), NaN when not near-tied; ``None`` when ``d`` has no total or no unit id."""
    if ties is None or "total" not in d.columns:
        return None
    col = next((c for c in UNIT_ID_COLUMNS if c in d.columns), None)
    if col is None:
        return None
    level = {"institution_id": "institution", "department_id": "department"}.get(col)
    t = ties if level is None else ties[ties["level"] == level]
    t = t[t["near_tie"].astype(bool)].drop_duplicates("unit_id").set_index("unit_id")
    return d[col].map(t["digits"])


def table_html(df: pd.DataFrame, lang: str = "ko", max_rows: int = 60, ties: pd.DataFrame | None = None) -> str:
    """An HTML table with labelled headers and number formats (cells are escaped).

    ``ties``: the ``near_ties`` producer's table; a near-tied ``total`` (rows matched by
    :data:`UNIT_ID_COLUMNS`) is shown with the decimals that separate it from its neighbour and
    :data:`NEAR_TIE_MARK`, as in the dashboard.
    """
    d = one_language_names(df.head(max_rows), lang)
    fmts = {c: _fmt(str(c), d[c]) for c in d.columns}
    marks = _tie_marks(d, ties)
    out = pd.DataFrame(index=d.index)
    for c in d.columns:
        out[label(c, lang)] = d[c].map(lambda v, f=fmts[c], c=str(c): _cell(v, f, c, lang))
    if marks is not None:
        tcol = label("total", lang)
        near = marks.notna()
        out.loc[near, tcol] = [f"{float(v):,.{max(int(k), 2)}f}{NEAR_TIE_MARK}"
                               for v, k in zip(d.loc[near, "total"], marks[near], strict=True)]
    more = ""
    if len(df) > max_rows:
        more = f"<p><em>{len(df) - max_rows:,} {'행 생략' if lang == 'ko' else 'more rows'}</em></p>"
    return out.to_html(index=False, escape=True, classes="bsc-table", border=0) + more


def show(df: pd.DataFrame, lang: str = "ko", max_rows: int = 60, ties: pd.DataFrame | None = None) -> None:
    """Display ``df`` as a labelled, formatted table (at most ``max_rows`` rows; near-tied
    totals of the ``near_ties`` producer marked ≈, see :func:`table_html`)."""
    display(HTML(table_html(df, lang=lang, max_rows=max_rows, ties=ties)))


def show_code(df: pd.DataFrame, lang: str = "ko", max_rows: int = 60) -> None:
    """Display ``df`` with every cell as ``<code>``: settings and identifiers an analyst types
    into a file (the scheme settings of the appendix), shown as identifiers, not as prose."""
    d = df.head(max_rows)
    rows = "".join("<tr>" + "".join(f"<td><code>{html.escape('' if pd.isna(v) else str(v))}</code></td>"
                                    for v in r) + "</tr>" for r in d.itertuples(index=False))
    head = "".join(f"<th>{html.escape(label(c, lang))}</th>" for c in d.columns)
    display(HTML(f'<table class="bsc-table settings"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'))
