"""The leadership dashboard: a Voila app over the evaluation results (``bsc dashboard``).

Eight tabs: overview (institutional ranking by group, grades, components, headline figures;
near-ties marked), drill-down (institution → department → KPI, with :meth:`Results.explain`),
perspectives (strategy map, institution × perspective) and against last year (grade
transitions, rank changes, KPI trend) — both from the report's producers in
:mod:`bsc_lib.analyses.recipes` —, indicator difficulty, dispersion (ties/CV/Gini, nominal
versus effective weights, old versus new integrity), a live what-if (component points,
achievement cap, grade quotas; :mod:`bsc_lib.analyses.whatif`; scenarios saved and compared)
and robustness (Monte Carlo rank intervals). Korean by default, with an English switch and a
presentation mode in the page.

How settings reach the notebook
-------------------------------
``notebooks/90-dashboard.ipynb`` has a ``parameters`` cell of literals and calls :func:`run`.
A parameter left empty (``""`` / ``None`` / ``0``) is taken from the environment, then from the
default — so ``bsc dashboard`` passes its options without editing the notebook (environment
variables also work with Voila's preheated kernels, which query strings do not):

============== ===================== =========================================
parameter      environment variable  default
============== ===================== =========================================
data_path      ``BSC_DATA``          ``data/sample/2019``
scheme_path    ``BSC_SCHEME``        ``params/scheme-2019.yaml``
analysis_path  ``BSC_ANALYSIS``      ``params/analysis.yaml``
lang           ``BSC_LANG``          ``ko``
pseudonymize   ``BSC_SHOW_NAMES``    pseudonymised unless ``BSC_SHOW_NAMES=1``
year           ``BSC_YEAR``          the scheme's year
half           ``BSC_HALF``          ``year``
mc_draws       ``BSC_MC_DRAWS``      ``robustness.n_draws`` of analysis.yaml
============== ===================== =========================================

Personal data: managers appear as ``관리자 P0012`` / ``Manager P0012``; their names are dropped
from the kernel's tables (so they never reach the browser) unless names are shown explicitly
(``bsc dashboard --show-names``).

Errors: any :class:`~bsc_lib.errors.BSCError` while loading (bad data path, invalid data or
scheme) becomes a friendly page in Korean and English with the table of problems; anything
else a short message. Tracebacks go to the server log only.

Serving: :func:`serve` checks the inputs (:func:`startup_check`), then starts Voila through
:mod:`bsc_lib.present.dashboard_server` (a cap on concurrent viewers with a busy page, kernels
of disconnected pages shut down, a preheated pool sized to the cap) on ``127.0.0.1`` with stripped sources,
no tracebacks, Voila's default file allowlist (images only; notebooks and ``.py`` denied) and a
template (``bsc-dashboard``, written to a temporary Jupyter data directory at launch) that
extends Voila's ``lab`` template without its CDN stylesheet, so the page loads no asset from
the internet (plotly renders through plotly's bundled JupyterLab extension).
"""

from __future__ import annotations

import html
import itertools
import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlencode

import numpy as np
import pandas as pd

from bsc_lib import allocator
from bsc_lib.analyses.summary import near_ties
from bsc_lib.config import paths as _paths
from bsc_lib.errors import BSCError
from bsc_lib.present.dashboard_server import QUERY_APPLIED
from bsc_lib.present.labels import UI_TEXT as _UI_TEXT
from bsc_lib.present.labels import label

if TYPE_CHECKING:  # heavy modules are imported where they are used (start-up time of the kernel)
    from bsc_lib.analyses.recipes import Recipes
    from bsc_lib.analyses.whatif import WhatIfBase
    from bsc_lib.config.analysis_params import AnalysisParams
    from bsc_lib.config.scheme import Scheme
    from bsc_lib.data.model import BSCData
    from bsc_lib.scoring.engine import Results

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
NOTEBOOK = _paths.notebooks_dir() / "90-dashboard.ipynb"
DEFAULT_DATA = "data/sample/2019"
DEFAULT_SCHEME = "params/scheme-2019.yaml"
DEFAULT_ANALYSIS = "params/analysis.yaml"
DEFAULT_PORT = 8866
#: Concurrent viewers (kernels handed to pages) before the busy page; also the preheated pool size.
DEFAULT_MAX_VIEWERS = 8
#: Seconds a viewer's page may stay disconnected before its kernel is shut down.
DEFAULT_GRACE_S = 30.0
TEMPLATE_NAME = "bsc-dashboard"
#: Written to the server log when a kernel has built the page (a preheated kernel is then ready).
READY_MARK = "page built"

ENV_DATA = "BSC_DATA"
ENV_SCHEME = "BSC_SCHEME"
ENV_ANALYSIS = "BSC_ANALYSIS"
ENV_LANG = "BSC_LANG"
ENV_SHOW_NAMES = "BSC_SHOW_NAMES"
ENV_YEAR = "BSC_YEAR"
ENV_HALF = "BSC_HALF"
ENV_MC_DRAWS = "BSC_MC_DRAWS"

LANGS = ("ko", "en")
#: Achievement caps offered by the what-if (plus the scheme's cap and the analysis caps).
CAP_CHOICES = (1.0, 1.05, 1.1, 1.15, 1.2, 1.25, 1.3, 1.4, 1.5)
DIFFICULTY_FLAGS = ("easy", "hard", "regressive", "chronic_overachiever", "no_history")
INST_TYPE_ORDER = ("main_office", "business_office", "independent")

#: The dashboard's strings (the ``dashboard`` section of the one catalogue,
#: :data:`bsc_lib.present.labels.UI_TEXT`); other keys fall back to :func:`label`.
UI_TEXT: dict[str, dict[str, str]] = _UI_TEXT["dashboard"]

#: Page styles (projector-friendly: 1920 × 1080, Noto Sans CJK KR).
CSS = """
<style>
.bsc-dash, .bsc-dash .widget-label, .bsc-dash .widget-html-content, .bsc-dash select,
.bsc-dash button, .bsc-dash .lm-TabBar-tab {
  font-family: "Noto Sans CJK KR", "Noto Sans KR", "Malgun Gothic", sans-serif; font-size: 16px; }
.bsc-dash { max-width: 1880px; --jp-widgets-horizontal-tab-width: 220px; }
.bsc-dash .lm-TabBar-tab { min-width: 160px; }
.bsc-dash h2 { font-size: 28px; margin: 4px 0; }
.bsc-dash h3 { font-size: 21px; margin: 14px 0 6px 0; }
.bsc-dash .bsc-sub { color: #555; font-size: 15px; }
.bsc-dash .bsc-cards { display: flex; gap: 18px; flex-wrap: wrap; margin: 8px 0 6px 0; }
.bsc-dash .bsc-card { border: 1px solid #ddd; border-radius: 8px; padding: 10px 18px; min-width: 190px;
  background: #fafafa; }
.bsc-dash .bsc-card .v { font-size: 34px; font-weight: 700; color: #08519c; }
.bsc-dash .bsc-card .k { font-size: 15px; color: #444; }
.bsc-dash table.bsc-t { border-collapse: collapse; font-size: 15px; margin: 4px 0 10px 0; }
.bsc-dash table.bsc-t th { background: #f0f0f0; text-align: left; padding: 4px 8px; border-bottom: 2px solid #bbb; }
.bsc-dash table.bsc-t td { padding: 3px 8px; border-bottom: 1px solid #e5e5e5; }
.bsc-dash table.bsc-t td.n { text-align: right; font-variant-numeric: tabular-nums; }
.bsc-dash table.bsc-t th.bsc-sortable { cursor: pointer; user-select: none; white-space: nowrap; }
.bsc-dash table.bsc-t th.bsc-sortable::after { content: " ↕"; color: #aaa; font-size: 0.8em; }
.bsc-dash table.bsc-t th[aria-sort="ascending"]::after { content: " ▲"; color: #333; }
.bsc-dash table.bsc-t th[aria-sort="descending"]::after { content: " ▼"; color: #333; }
.bsc-dash .bsc-filter-box { margin: 4px 0; }
.bsc-dash input.bsc-filter { font-size: 15px; padding: 3px 8px; width: 320px; border: 1px solid #bbb; border-radius: 4px; }
.bsc-dash .bsc-filter-n { margin-left: 8px; color: #666; font-size: 14px; }
.bsc-dash table.bsc-t tr.bsc-changed td { background: #fff3b0; }
.bsc-dash .bsc-grade { display: inline-block; min-width: 22px; text-align: center; border-radius: 4px;
  color: #fff; font-weight: 700; padding: 0 4px; }
.bsc-dash .bsc-error { border: 2px solid #d7301f; border-radius: 8px; padding: 12px 18px; background: #fff5f2; }
.bsc-dash .widget-slider .widget-label { min-width: 220px; }
.bsc-dash .bsc-note { color: #666; font-size: 14px; }
.bsc-dash .bsc-board { display: flex; gap: 28px; align-items: flex-start; }
.bsc-dash .rb-col { flex: 1 1 0; min-width: 0; }
.bsc-dash .rb-col h4 { font-size: 18px; margin: 4px 0 6px 0; }
.bsc-dash .rb-row { display: flex; align-items: center; gap: 8px; height: 27px; font-size: 15px; }
.bsc-dash .rb-rank { width: 26px; text-align: right; color: #666; }
.bsc-dash .rb-row { cursor: pointer; }
.bsc-dash .rb-row:hover { background: #f3f6fa; }
.bsc-dash .bsc-grade-move { white-space: nowrap; }
.bsc-dash .rb-name { width: 250px; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.bsc-dash .rb-bar { flex: 1 1 auto; height: 17px; background: #f3f3f3; }
.bsc-dash .rb-bar span { display: block; height: 100%; }
.bsc-dash .rb-total { width: 54px; text-align: right; font-variant-numeric: tabular-nums; }
.bsc-dash .cb-legend { margin: 0 0 6px 0; }
.bsc-dash .cb-key { margin-right: 16px; font-size: 15px; }
.bsc-dash .cb-key i { display: inline-block; width: 14px; height: 14px; margin-right: 5px; vertical-align: -2px; }
.bsc-dash .cb-row { display: flex; align-items: center; gap: 8px; height: 22px; font-size: 14px; }
.bsc-dash .cb-name { width: 250px; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.bsc-dash .cb-bar { flex: 1 1 auto; display: flex; height: 15px; background: #f3f3f3; }
.bsc-dash .cb-bar i { display: block; height: 100%; }
.bsc-dash .cb-total { width: 72px; text-align: right; font-variant-numeric: tabular-nums; }
.bsc-dash .bsc-tie { border-bottom: 2px dotted #d7301f; cursor: help; }
.bsc-dash .bsc-tie-mark { color: #d7301f; font-weight: 700; margin-left: 1px; }
.bsc-dash .rb-total { width: 74px; }
.bsc-dash .bsc-link { text-align: right; font-size: 14px; margin-top: 4px; }
.bsc-dash a.bsc-drill-link { color: inherit; text-decoration: none; border-bottom: 1px dotted #888; }
.bsc-dash .bsc-changed-cell .bsc-grade { outline: 3px solid #fdae61; }
.bsc-dash .bsc-whatif-controls { position: sticky; top: 8px; align-self: flex-start; background: #fff; z-index: 2; flex-shrink: 0; }
.bsc-dash .lm-TabPanel-stackedPanel, .bsc-dash .widget-tab-contents { overflow: visible; }
/* presentation mode (1920 x 1080 projector): body text >= 18 px, controls hidden */
.bsc-dash.bsc-present, .bsc-dash.bsc-present .widget-html-content, .bsc-dash.bsc-present .widget-label,
.bsc-dash.bsc-present .lm-TabBar-tab, .bsc-dash.bsc-present button { font-size: 20px; }
.bsc-dash.bsc-present table.bsc-t { font-size: 19px; }
.bsc-dash.bsc-present h2 { font-size: 36px; }
.bsc-dash.bsc-present h3 { font-size: 26px; }
.bsc-dash.bsc-present .bsc-note, .bsc-dash.bsc-present .bsc-sub, .bsc-dash.bsc-present .cb-key,
.bsc-dash.bsc-present .cb-row, .bsc-dash.bsc-present .rb-row, .bsc-dash.bsc-present .bsc-card .k { font-size: 19px; }
.bsc-dash.bsc-present .rb-row { height: 32px; }
.bsc-dash.bsc-present .rb-name, .bsc-dash.bsc-present .cb-name { width: 260px; }
.bsc-dash.bsc-present .bsc-card .v { font-size: 44px; }
.bsc-dash.bsc-present .bsc-whatif-controls, .bsc-dash.bsc-present .widget-dropdown,
.bsc-dash.bsc-present .bsc-w-lang, .bsc-dash.bsc-present .bsc-whatif-intro { display: none; }
</style>
"""


def text(key: str, lang: str = "ko", **values) -> str:
    """A dashboard text (:data:`UI_TEXT`, else :func:`bsc_lib.present.labels.label`) in ``lang``."""
    entry = UI_TEXT.get(key)
    s = entry.get(lang, entry["en"]) if entry else label(key, lang)
    return s.format(**values) if values else s


# ============================================================================ settings
@dataclass(frozen=True)
class Settings:
    """Resolved dashboard settings (see the module docstring for the precedence)."""

    data_path: str
    scheme_path: str
    analysis_path: str
    lang: str
    pseudonymize: bool
    year: int | None
    half: str
    mc_draws: int | None


def _truthy(v: str | None) -> bool:
    return str(v or "").strip().lower() in ("1", "true", "yes", "y", "on", "예")


def resolve_settings(data_path: str = "", scheme_path: str = "", analysis_path: str = "", lang: str = "",
                     pseudonymize: bool | None = None, year: int | None = None, half: str = "",
                     mc_draws: int | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from the notebook parameters, then the environment, then the defaults.

    Parameters
    ----------
    data_path, scheme_path, analysis_path, lang, pseudonymize, year, half, mc_draws
        Notebook parameters; an empty value (``""``, ``None``, ``0``) defers to the environment.
    environ
        The environment (default ``os.environ``).

    Returns
    -------
    Settings
        Paths as given (resolved later), ``lang`` in ``ko``/``en``, ``pseudonymize`` true unless
        names are explicitly shown.

    Raises
    ------
    ValueError
        For an unknown language or half, or a non-integer year or number of draws.
    """
    env = os.environ if environ is None else environ
    lang = (lang or env.get(ENV_LANG, "") or "ko").strip().lower()
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {', '.join(LANGS)}; got {lang!r}")
    if pseudonymize is None:
        pseudonymize = not _truthy(env.get(ENV_SHOW_NAMES))
    half = (half or env.get(ENV_HALF, "") or "year").strip()
    if half not in ("H1", "H2", "year"):
        raise ValueError(f"half must be H1, H2 or year; got {half!r}")

    def _int(v, name):
        if v in (None, "", 0):
            return None
        try:
            return int(v)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be an integer; got {v!r}") from None

    return Settings(
        data_path=str(data_path or env.get(ENV_DATA, "") or DEFAULT_DATA),
        scheme_path=str(scheme_path or env.get(ENV_SCHEME, "") or DEFAULT_SCHEME),
        analysis_path=str(analysis_path or env.get(ENV_ANALYSIS, "") or DEFAULT_ANALYSIS),
        lang=lang, pseudonymize=bool(pseudonymize),
        year=_int(year, "year") or _int(env.get(ENV_YEAR), ENV_YEAR),
        half=half,
        mc_draws=_int(mc_draws, "mc_draws") or _int(env.get(ENV_MC_DRAWS), ENV_MC_DRAWS),
    )


# ============================================================================ pure helpers
def people_view(individual: pd.DataFrame, pseudonymize: bool = True) -> pd.DataFrame:
    """The individual results as the dashboard holds them.

    Parameters
    ----------
    individual
        ``Results.individual``.
    pseudonymize
        Drop ``name_ko`` (the default): names then never leave the kernel.

    Returns
    -------
    pandas.DataFrame
        ``person_id, position_grade, role, unit_id, total, rank_overall, grade`` (+ ``name_ko``
        only when ``pseudonymize`` is false).
    """
    cols = ["person_id", "position_grade", "role", "unit_id", "total", "rank_overall", "grade"]
    if not pseudonymize and "name_ko" in individual.columns:
        cols.insert(1, "name_ko")
    return individual[[c for c in cols if c in individual.columns]].reset_index(drop=True)


def person_label(person_id: str, name: str | None, pseudonymize: bool, lang: str = "ko") -> str:
    """``관리자 P0012`` (pseudonymised) or ``홍길동 (P0012)``."""
    if pseudonymize or name is None or (isinstance(name, float) and np.isnan(name)) or name is pd.NA:
        return f"{text('manager', lang)} {person_id}"
    return f"{name} ({person_id})"


def position_grade_label(value, lang: str = "ko") -> str:
    """A civil-service grade as shown: ``4급`` in Korean, ``Grade 4`` in English."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    v = str(value)
    if lang == "en":
        import re

        m = re.fullmatch(r"\s*(\d+)\s*급\s*", v)
        if m:
            return f"Grade {m.group(1)}"
    return v


def share_achieved(kpi: pd.DataFrame) -> float:
    """Share of the scored KPI results (KPI × half, not ``not_used``) whose status is ``achieved``.

    Returns
    -------
    float
        NaN when no KPI result has a status.
    """
    k = kpi.loc[kpi["status"].notna() & ~kpi["flag"].fillna("").str.contains("not_used", regex=False)]
    return float((k["status"] == "achieved").mean()) if len(k) else float("nan")


def fmt_points(v) -> str:
    """Points as shown everywhere in the dashboard: two decimals (``86.46``); blank for NaN."""
    return "" if v is None or pd.isna(v) else f"{round(float(v), 2) + 0.0:.2f}"  # + 0.0: no "-0.00"


def institution_ties(near: pd.DataFrame) -> pd.DataFrame:
    """The institutions' rows of the ``near_ties`` producer (:mod:`bsc_lib.analyses.recipes`),
    indexed by institution id: the marks every overview total carries."""
    return near.loc[near["level"] == "institution"].set_index("unit_id")


def total_html(total, tie: Mapping | None, lang: str = "ko") -> str:
    """A total as shown: 2 decimals; near-tied totals with the decimals that separate them, a ≈
    mark, and the exact total and the gap on hover."""
    if tie is None or not bool(tie.get("near_tie")):
        return fmt_points(total)
    d = int(tie.get("digits") or 2)
    tip = text("tie_hover", lang, exact=f"{float(total):.6f}", neighbour=f"{float(tie['neighbour']):.6f}",
               gap=f"{float(tie['gap']):.6f}")
    return (f'<span class="bsc-tie" title="{html.escape(tip)}">{float(total):.{d}f}'
            f'<sup class="bsc-tie-mark">≈</sup></span>')


def _fmt_pct(v, digits: int = 1) -> str:
    return "" if v is None or pd.isna(v) else f"{float(v) * 100:.{digits}f}%"


def _fmt_num(v) -> str:
    if v is None or pd.isna(v):
        return ""
    v = float(v)
    return f"{v:,.0f}" if abs(v) >= 1000 or v == int(v) else f"{v:,.2f}"


def _esc(v) -> str:
    return "" if v is None or (not isinstance(v, str) and pd.isna(v)) else html.escape(str(v))


def flag_labels(frame: pd.DataFrame, flags, lang: str = "ko") -> pd.Series:
    """Comma-joined labels of the boolean columns ``flags`` that are true, per row (vectorised)."""
    out = pd.Series("", index=frame.index, dtype="str")
    for f in flags:
        if f in frame:
            on = frame[f].astype("boolean").fillna(False).to_numpy(bool)
            out = out + np.where(on, label(f, lang) + ", ", "")
    return out.str.rstrip(", ")


def grade_badge(grade) -> str:
    """HTML badge of a grade in its colour."""
    from bsc_lib.present.plots import GRADE_COLORS

    g = "" if grade is None or pd.isna(grade) else str(grade)
    col = GRADE_COLORS.get(g, "#636363")
    return f'<span class="bsc-grade" style="background:{col}">{html.escape(g)}</span>'


def grade_move(before, after) -> str:
    """HTML of a grade change, ``A → S`` on one line (a narrow column must not split it)."""
    return f'<span class="bsc-grade-move">{grade_badge(before)} → {grade_badge(after)}</span>'


#: Sorting a table by a click on a header (inline handler: widget HTML runs no ``<script>``; no
#: library, nothing fetched). Numeric cells sort on ``data-sort`` (the raw value), others on
#: ``data-key`` or their text; blanks last; a second click reverses.
_SORT_JS = (
    "var th=this,t=th.closest('table'),b=t.tBodies[0],i=th.cellIndex,"
    "d=th.getAttribute('aria-sort')==='ascending'?-1:1;"
    "Array.prototype.forEach.call(t.tHead.rows[0].cells,function(h){h.removeAttribute('aria-sort')});"
    "th.setAttribute('aria-sort',d>0?'ascending':'descending');"
    "var k=function(r){var c=r.cells[i];return c.hasAttribute('data-sort')?c.getAttribute('data-sort'):"
    "(c.hasAttribute('data-key')?c.getAttribute('data-key'):c.textContent.trim())};"
    "var rs=Array.prototype.slice.call(b.rows);"
    "rs.sort(function(x,y){var a=k(x),c=k(y);if(a===''||c===''){return (a==='')-(c==='')}"
    "var r=x.cells[i].hasAttribute('data-sort')?(+a)-(+c):a.localeCompare(c,undefined,{numeric:true});"
    "return d*r||0});rs.forEach(function(r){b.appendChild(r)});"
)
#: Filtering a table's rows by the text typed into the box above it (case-insensitive).
_FILTER_JS = (
    "var w=this.closest('.bsc-tw'),q=this.value.trim().toLowerCase(),t=w.querySelector('table.bsc-t'),n=0;"
    "Array.prototype.forEach.call(t.tBodies[0].rows,function(r){var s=!q||r.textContent.toLowerCase()"
    ".indexOf(q)>=0;r.style.display=s?'':'none';n+=s});"
    "w.querySelector('.bsc-filter-n').textContent=q?n+' / '+t.tBodies[0].rows.length:'';"
)
#: Tables with more rows than this get a filter box (when ``html_table`` is given the language).
FILTER_MIN_ROWS = 10

_NUM_RE = re.compile(r"[-−]?\d[\d,]*(?:\.\d+)?")


def _sort_value(v) -> str:
    """The raw number of a cell as ``data-sort`` (blank for NaN)."""
    try:
        f = float(v)
    except (TypeError, ValueError):
        return ""
    return "" if not np.isfinite(f) else repr(f)


def _sort_value_of_html(v) -> str:
    """The first number in a trusted-markup cell (a total with its ≈ mark) as ``data-sort``."""
    m = _NUM_RE.search(re.sub(r"<[^>]+>", " ", "" if v is None else str(v)))
    return "" if m is None else m.group(0).replace(",", "").replace("−", "-")


def _grade_key(v) -> str:
    """Grades sort best first: S, then A, B, C, … (``data-key``)."""
    g = "" if v is None or (not isinstance(v, str) and pd.isna(v)) else str(v)
    return "" if not g else ("0" + g if g.startswith("S") else "1" + g)


def html_table(rows: pd.DataFrame, columns: list[tuple[str, str, str]], *, row_class: pd.Series | None = None,
               row_data: dict[str, pd.Series] | None = None, table_class: str = "", lang: str | None = None,
               sort_values: dict[str, pd.Series] | None = None) -> str:
    """An escaped HTML table.

    Parameters
    ----------
    rows
        The data.
    columns
        ``(column, header, kind)``; kind ``text`` (escaped), ``num`` (right-aligned, formatted),
        ``points`` (2 decimals), ``pct`` (percent), ``grade`` (badge), ``html`` (trusted
        markup built by the caller) or ``htmlnum`` (trusted markup, right-aligned).
    row_class
        Optional CSS class per row.
    row_data
        ``{name: values}`` written as ``data-<name>`` attributes per row (for tests and styling).
    lang
        Given: a table of more than :data:`FILTER_MIN_ROWS` rows gets a filter box in that
        language above it.
    sort_values
        ``{column: raw numbers}`` a column sorts on instead of its shown text (the exact totals
        behind ``htmlnum`` cells with a ≈ mark).

    Every table sorts by a click on a column header (numbers by value, grades best first,
    blanks last; again: reversed). Filter and sort run in the browser and nothing is fetched.

    Returns
    -------
    str
        ``<table class="bsc-t ...">``, inside ``<div class="bsc-tw">`` with the filter box.
    """
    fmt = {"num": _fmt_num, "points": fmt_points, "pct": _fmt_pct, "grade": grade_badge,
           "text": _esc, "html": lambda v: "" if v is None else str(v),
           "htmlnum": lambda v: "" if v is None else str(v)}
    sort_js = html.escape(_SORT_JS, quote=True)
    head = "".join(f'<th class="bsc-sortable" onclick="{sort_js}">{html.escape(h)}</th>' for _, h, _ in columns)
    cells = {c: rows[c].map(fmt[kind]).to_numpy() if c in rows else np.full(len(rows), "") for c, _, kind in columns}
    # sort keys per cell: data-sort (numbers) or data-key (grades)
    keys = {}
    for c, _, kind in columns:
        if c not in rows:
            continue
        if sort_values and c in sort_values:
            keys[c] = [f' data-sort="{_sort_value(v)}"' for v in sort_values[c]]
        elif kind in ("num", "points", "pct"):
            keys[c] = [f' data-sort="{v}"' for v in rows[c].map(_sort_value)]
        elif kind == "htmlnum":
            keys[c] = [f' data-sort="{v}"' for v in rows[c].map(_sort_value_of_html)]
        elif kind == "grade":
            keys[c] = [f' data-key="{_esc(v)}"' for v in rows[c].map(_grade_key)]
    numeric = {c for c, _, kind in columns if kind in ("num", "points", "pct", "htmlnum")}
    rc = row_class.to_numpy() if row_class is not None else np.full(len(rows), "")
    attrs = np.full(len(rows), "", dtype=object)
    for name, vals in (row_data or {}).items():
        attrs = attrs + np.array([f' data-{name}="{_esc(v)}"' for v in vals], dtype=object)
    body = []
    for i in range(len(rows)):  # rendering an HTML table: one string per displayed row
        tds = "".join(f'<td class="n"{keys[c][i] if c in keys else ""}>{cells[c][i]}</td>' if c in numeric
                      else f"<td{keys[c][i] if c in keys else ''}>{cells[c][i]}</td>" for c, _, _ in columns)
        cls = f' class="{html.escape(rc[i])}"' if rc[i] else ""
        body.append(f"<tr{cls}{attrs[i]}>{tds}</tr>")
    table = f'<table class="bsc-t {table_class}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'
    box = ""
    if lang is not None and len(rows) > FILTER_MIN_ROWS:
        box = (f'<div class="bsc-filter-box"><input type="search" class="bsc-filter" '
               f'placeholder="{html.escape(text("table_filter", lang))}" '
               f'aria-label="{html.escape(text("table_filter", lang))}" '
               f'oninput="{html.escape(_FILTER_JS, quote=True)}"><span class="bsc-filter-n"></span></div>')
    return f'<div class="bsc-tw">{box}{table}</div>'


def error_html(exc: BaseException, lang: str = "ko") -> str:
    """The friendly error page: Korean and English headline, the problems table, no traceback.

    Parameters
    ----------
    exc
        A :class:`~bsc_lib.errors.BSCError` (its problems are listed) or any other exception
        (its type and message only).
    lang
        Which language comes first.

    Returns
    -------
    str
        HTML (every value escaped).
    """
    other = "en" if lang == "ko" else "ko"
    if isinstance(exc, BSCError):
        head = f"{text('error_title', lang)} / {text('error_title', other)}"
        from bsc_lib.errors import problems_frame

        pf = problems_frame(exc.problems).head(200)
        cols = [("file", text("file", lang), "text"), ("row", text("row", lang), "text"),
                ("column", text("column", lang), "text"), ("rule", text("rule", lang), "text"),
                ("message", text("message", lang), "text"), ("value", text("value", lang), "text")]
        pf = pf.assign(row=pf["row"].astype("str").replace({"<NA>": ""}))
        body = (f"<p>{html.escape(text('error_hint', lang))}<br>{html.escape(text('error_hint', other))}</p>"
                + html_table(pf, cols, table_class="bsc-problems"))
    else:
        head = f"{text('unexpected', lang)} / {text('unexpected', other)}"
        body = f"<p><code>{html.escape(type(exc).__name__)}: {html.escape(str(exc))}</code></p>"
    return f'<div class="bsc-error"><h2>{html.escape(head)}</h2>{body}</div>'


def busy_html(max_viewers: int, retry_s: int = 20) -> str:
    """The page beyond the cap of concurrent viewers (Korean and English; it retries by itself).

    Written to a file by :func:`serve` and served by :mod:`bsc_lib.present.dashboard_server`
    (which then need not import the library's heavy modules).
    """
    title = f"{text('busy_title', 'ko')} / {text('busy_title', 'en')}"
    body = "".join(f"<p>{html.escape(text('busy_body', lang, n=max_viewers, s=retry_s))}</p>" for lang in LANGS)
    return (f'<!doctype html><html lang="ko"><head><meta charset="utf-8"><meta http-equiv="refresh" '
            f'content="{int(retry_s)}"><title>{html.escape(title)}</title><style>body{{font-family:"Noto Sans CJK KR",'
            f'"Noto Sans KR",sans-serif;font-size:22px;margin:12vh auto;max-width:900px;color:#222}}'
            f"h1{{font-size:34px}}p{{line-height:1.6}}</style></head><body class=\"bsc-busy\"><h1>{html.escape(title)}</h1>"
            f"{body}</body></html>")


# ============================================================================ HTML charts
#: Colours of the components in the stacked bars (scheme order; cycled).
COMPONENT_COLORS = ("#2c7fb8", "#41ab5d", "#807dba", "#fd8d3c", "#e7298a", "#969696")


def _group_order(types: pd.Series) -> list[str]:
    present = set(types.dropna())
    return [t for t in INST_TYPE_ORDER if t in present] + sorted(present - set(INST_TYPE_ORDER))


#: A click anywhere on a ranking row (bar, total, grade) follows the row's drill-down link.
_ROW_CLICK = html.escape("if(!event.target.closest('a')){this.querySelector('a.bsc-drill-link').click()}", quote=True)


def drill_link(unit_id: str, name: str, lang: str) -> str:
    """``name`` as a link that opens the institution's drill-down (the view's URL: ``?tab=drill&inst=…``)."""
    q = urlencode({"tab": "drill", "inst": unit_id, "lang": lang})
    return f'<a class="bsc-drill-link" href="?{html.escape(q)}">{_esc(name)}</a>'


def ranking_board_html(inst: pd.DataFrame, ties: pd.DataFrame, lang: str = "ko") -> str:
    """The ranking by group as HTML: one column per institution type, a grade-coloured bar per unit.

    Parameters
    ----------
    inst
        ``Results.institutional`` (``institution_id, inst_type, total, rank_in_group, grade``)
        with a display ``name`` column.

    Returns
    -------
    str
        ``<div class="bsc-board">``; rows carry ``data-unit``, ``data-total`` (2 decimals) and
        ``data-grade``. Bar lengths are linear in the total between (lowest total − 5) and 100.
    ties
        Near-ties indexed by institution id (:func:`institution_ties` of the ``near_ties``
        producer): near-tied totals carry the ≈ mark.
    """
    from bsc_lib.present.plots import GRADE_COLORS

    lo = max(0.0, float(inst["total"].min()) - 5.0) if len(inst) else 0.0
    span = max(100.0 - lo, 1e-9)
    cols = []
    for g in _group_order(inst["inst_type"]):
        d = inst.loc[inst["inst_type"] == g].sort_values(["rank_in_group", "institution_id"], kind="stable")
        width = ((d["total"] - lo) / span * 100.0).clip(0.0, 100.0).round(2)
        tie = ties.reindex(d["institution_id"])
        shown = pd.Series([total_html(v, t, lang) for v, t in zip(d["total"], tie.to_dict("records"), strict=True)],
                          index=d.index)
        color = d["grade"].map(lambda v: GRADE_COLORS.get(str(v), "#636363"))
        link = pd.Series([drill_link(u, n, lang) for u, n in zip(d["institution_id"], d["name"], strict=True)],
                         index=d.index)
        rows = (
            '<div class="rb-row" onclick="' + _ROW_CLICK + '" data-unit="' + d["institution_id"].map(_esc) + '" data-total="'
            + d["total"].map(fmt_points) + '" data-grade="' + d["grade"].map(_esc) + '">'
            + '<span class="rb-rank">' + d["rank_in_group"].astype("str") + "</span>"
            + '<span class="rb-name">' + link + "</span>"
            + '<span class="rb-bar"><span style="width:' + width.astype("str") + "%;background:" + color + '"></span></span>'
            + '<span class="rb-total">' + shown + "</span>"
            + d["grade"].map(grade_badge) + "</div>"
        )
        cols.append(f'<div class="rb-col"><h4>{html.escape(label(g, lang))} ({len(d)})</h4>{"".join(rows)}</div>')
    note = text("board_axis", lang, lo=lo)
    return (f'<h3>{html.escape(label("title_institutional_ranking", lang))}</h3>'
            f'<div class="bsc-note">{html.escape(note)}</div><div class="bsc-board">{"".join(cols)}</div>')


def grade_counts_html(inst: pd.DataFrame, lang: str = "ko") -> str:
    """Units per grade and institution type (with a total row) as an HTML table.

    Returns
    -------
    str
        A ``bsc-t bsc-grade-counts`` table: one row per type and ``전체``/``All``, one column
        per grade (best first).
    """
    from bsc_lib.present.plots import GRADE_COLORS

    grades = [g for g in GRADE_COLORS if g in set(inst["grade"].dropna())]
    grades += sorted(set(inst["grade"].dropna()) - set(grades))
    ct = pd.crosstab(inst["inst_type"], inst["grade"]).reindex(index=_group_order(inst["inst_type"]),
                                                               columns=grades, fill_value=0)
    ct.loc["__all__"] = ct.sum()
    view = ct.reset_index().rename(columns={"inst_type": "_g"})
    view["group"] = view["_g"].map(lambda v: text("all", lang) if v == "__all__" else label(v, lang))
    cols = [("group", text("group", lang), "text")] + [(g, g, "num") for g in grades]
    return (f'<h3>{html.escape(label("title_grade_distribution", lang))}</h3>'
            + html_table(view, cols, table_class="bsc-grade-counts"))


def component_bars_html(inst: pd.DataFrame, components: list[str], lang: str = "ko",
                        ties: pd.DataFrame | None = None) -> str:
    """Stacked bars of the component points of every institution (best total first), as HTML.

    Parameters
    ----------
    inst
        ``Results.institutional`` with a display ``name`` column and the component columns.
    components
        Component columns, in scheme order.
    ties
        Near-ties indexed by institution id (:func:`institution_ties`): those totals carry ≈.

    Returns
    -------
    str
        A legend and one row per institution; a segment's width is its points (% of 100) and its
        tooltip names the component and the points.
    """
    d = inst.sort_values(["total", "institution_id"], ascending=[False, True], kind="stable")
    colors = {c: COMPONENT_COLORS[k % len(COMPONENT_COLORS)] for k, c in enumerate(components)}
    legend = "".join(f'<span class="cb-key"><i style="background:{colors[c]}"></i>{html.escape(label(c, lang))}</span>'
                     for c in components)
    segs = pd.Series("", index=d.index, dtype="str")
    for c in components:
        pts = d[c].astype(float).clip(lower=0.0)
        segs = segs + ('<i style="width:' + pts.round(3).astype("str") + "%;background:" + colors[c]
                       + '" title="' + html.escape(label(c, lang)) + " " + pts.map(fmt_points) + '"></i>')
    names = pd.Series([drill_link(u, n, lang) for u, n in zip(d["institution_id"], d["name"], strict=True)],
                      index=d.index) if "institution_id" in d else d["name"].map(_esc)
    tie = (ties.reindex(d["institution_id"]).to_dict("records") if ties is not None and "institution_id" in d
           else [None] * len(d))
    shown = pd.Series([total_html(v, t, lang) for v, t in zip(d["total"], tie, strict=True)], index=d.index)
    rows = ('<div class="cb-row"><span class="cb-name">' + names + '</span><span class="cb-bar">'
            + segs + '</span><span class="cb-total">' + shown + "</span></div>")
    return (f'<h3>{html.escape(label("title_component_stack", lang))}</h3><div class="cb-legend">{legend}</div>'
            f'<div class="bsc-comp-bars">{"".join(rows)}</div>')


# ============================================================================ context
@dataclass
class Context:
    """Loaded inputs, results and lazily computed analyses behind the dashboard."""

    settings: Settings
    data: BSCData
    scheme: Scheme
    results: Results
    analysis: AnalysisParams
    whatif: WhatIfBase
    people: pd.DataFrame
    names: pd.DataFrame
    year: int
    half: str
    tables: Recipes | None = None
    seconds: float = 0.0
    _cache: dict = field(default_factory=dict, repr=False)

    def unit_name(self, unit_id: str, lang: str = "ko") -> str:
        """Korean (or English, falling back to Korean) name of a unit."""
        n = self._cache.get("name_idx")
        if n is None:
            n = self.names.set_index("unit_id")
            self._cache["name_idx"] = n
        if unit_id not in n.index:
            return str(unit_id)
        row = n.loc[unit_id]
        en = row["name_en"]
        return str(row["name_ko"]) if lang == "ko" or en is None or pd.isna(en) else str(en)

    def shown(self) -> BSCData:
        """The inputs the panels show (names, KPI rows and history) with plain ``str`` text
        (:meth:`~bsc_lib.data.model.BSCData.plain`; made once)."""
        if "shown" not in self._cache:
            self._cache["shown"] = self.data.plain("departments", "kpis", "kpi_history")
        return self._cache["shown"]

    def kdiff(self) -> pd.DataFrame:
        """The run's ``kpi_difficulty`` table with ``institution_id`` (for the institution filter)."""
        if "kdiff" not in self._cache:
            kd = self.tables["kpi_difficulty"].copy()
            dmap = self.shown().departments.set_index("department_id")["institution_id"]
            kd["institution_id"] = kd["owner_id"].map(dmap).fillna(kd["owner_id"])
            self._cache["kdiff"] = kd
        return self._cache["kdiff"]

    def dispersion(self) -> dict[str, pd.DataFrame]:
        """The run's discrimination, effective weights and old-versus-new integrity tables
        (institutional and department rows: the views of the dashboard)."""
        if "dispersion" not in self._cache:
            t = self.tables
            disc = t["discrimination"]
            disc = disc.loc[disc["evaluation"].isin(["institutional", "department"])].reset_index(drop=True)
            eff = t["effective_weights"]
            eff = eff.loc[eff["evaluation"] == "institutional"].reset_index(drop=True) if len(eff) else eff
            out = {"discrimination": disc, "effective_weights": eff}
            integ = self.results.integrity
            if len(integ) and integ["acrc_score"].notna().any():
                out["integrity"] = t["integrity_old_vs_new"]
                out["integrity_values"] = integ[["department_id", "acrc_score", "index"]]
            self._cache["dispersion"] = out
        return self._cache["dispersion"]

    def achievement_fraction(self, cap: float) -> pd.Series:
        """:func:`bsc_lib.analyses.whatif.achievement_fractions` for ``cap`` (cached per cap)."""
        from bsc_lib.analyses import whatif

        key = ("ach", round(float(cap), 9))
        if key not in self._cache:
            self._cache[key] = whatif.achievement_fractions(self.whatif, cap)
        return self._cache[key]

    def robustness(self) -> tuple[pd.DataFrame, dict]:
        """The run's ``rank_robustness`` table (:mod:`bsc_lib.analyses.recipes`) and its settings.

        The same producer as the report's, with the scheme's grading and the engine's
        deductions; ``Settings.mc_draws`` (when set) replaces the analysis settings' number
        of draws before the context is built.
        """
        if "mc" not in self._cache:
            rp = self.analysis.robustness
            units = self.tables["rank_robustness"]
            summary = self.tables.monte_carlo().draws_summary
            info = {"n": rp.n_draws, "seed": rp.seed, "conc": rp.concentration,
                    "caps": "/".join(f"{c:g}" for c in rp.caps),
                    "boot": rp.bootstrap if summary.get("bootstrap_replicates") else 0}
            self._cache["mc"] = (units, info)
        return self._cache["mc"]


def build_context(settings: Settings) -> Context:
    """Load the scheme, settings and data, score them and prepare the what-if.

    Raises
    ------
    BSCError
        From loading (bad path, invalid data or scheme).
    """
    from bsc_lib.analyses import whatif
    from bsc_lib.analyses.recipes import Recipes
    from bsc_lib.config.analysis_params import load_analysis_params
    from bsc_lib.config.paths import resolve
    from bsc_lib.config.scheme import load_scheme
    from bsc_lib.data.describe import unit_names
    from bsc_lib.data.io import load

    t0 = time.perf_counter()
    scheme = load_scheme(resolve(settings.scheme_path))
    analysis = load_analysis_params(resolve(settings.analysis_path))
    data = load(resolve(settings.data_path), scheme=scheme, na_as_missing=analysis.input.na_as_missing)
    year = settings.year or scheme.year
    if settings.mc_draws:
        rob = analysis.robustness.model_copy(update={"n_draws": int(settings.mc_draws)})
        analysis = analysis.model_copy(update={"robustness": rob})
    tables = Recipes(data, scheme, analysis, year, settings.half)
    results = tables.results
    base = whatif.prepare(data, scheme, results)
    people = people_view(results.individual, settings.pseudonymize)
    ctx = Context(settings=settings, data=data, scheme=scheme, results=results, analysis=analysis, whatif=base,
                  people=people, names=unit_names(data), year=year, half=settings.half, tables=tables)
    allocator.release()  # a kernel (preheated ones too) idles with its tables, not with load's and evaluate's peak
    ctx.seconds = time.perf_counter() - t0
    log.info("dashboard context built in %.2f s", ctx.seconds)
    return ctx


# ============================================================================ widgets
def _widgets():
    import ipywidgets as widgets

    return widgets


PLOTLY_MIME = "application/vnd.plotly.v1+json"
PLOTLY_CONFIG = {"displaylogo": False, "responsive": True}


def figure_bundle(fig) -> dict:
    """The display bundle of a plotly figure: the plotly JSON mimetype only (no CDN, no inline JS).

    Rendered by plotly's JupyterLab extension (bundled plotly.js) in Voila and JupyterLab. Built
    directly instead of through ``plotly.io`` renderers, whose import pulls in nbformat and
    jsonschema (seconds of start-up).
    """
    fig.update_layout(font={"size": 15})
    return {PLOTLY_MIME: {**json.loads(fig.to_json()), "config": dict(PLOTLY_CONFIG)}}


def _show_figures(out, *figs) -> None:
    """Replace an Output widget's content by plotly figures (none: empty it).

    The figures are set as the widget's synced ``outputs`` state, not printed inside
    ``with out:``. That capture happens in the browser: it needs the widget's view model to be
    listening before the kernel's output message arrives, which a panel built and rendered in
    one callback does not guarantee on a busy machine (the figures were then lost).
    """
    out.outputs = tuple({"output_type": "display_data", "data": figure_bundle(fig), "metadata": {}}
                        for fig in figs if fig is not None)


class _Panel:
    """One tab: builds its widgets on first view, relabels them per language, renders lazily.

    Building lazily keeps the first page small: the browser fetches every widget model of the
    kernel when it connects, so widgets of tabs nobody opened would only slow the first render.
    """

    tab_key = ""

    def __init__(self, app: DashboardApp):
        self.app = app
        self.ctx = app.ctx
        self.dirty = True
        self.built = False
        self._muted = False
        w = _widgets()
        self.box = w.VBox([w.HTML(f'<p class="bsc-note">{html.escape(text("loading", app.lang))}</p>')])

    @property
    def lang(self) -> str:
        return self.app.lang

    def build(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def view_state(self) -> dict[str, str]:
        """This tab's selections as query parameters (none by default)."""
        return {}

    def apply_view(self, query: Mapping[str, str]) -> None:
        """Restore this tab's selections from query parameters (none by default)."""

    def relabel(self) -> None:
        """Update widget labels for ``app.lang`` (outputs are re-rendered by :meth:`render`)."""

    def render(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def ensure(self) -> None:
        """Build on first use, then render when stale."""
        if not self.built:
            self.build()  # builds in the current language
            self.built = True
        if self.dirty:
            self.render()
            self.dirty = False

    def _set_options(self, dd, options) -> None:
        """Change a dropdown's options keeping its value (without firing our callbacks)."""
        old = dd.value
        self._muted = True
        try:
            dd.options = options
            values = [v for _, v in options]
            if old in values:
                dd.value = old
        finally:
            self._muted = False


class OverviewPanel(_Panel):
    """Headline figures, the ranking board by group, grades, component breakdown, the ranking table.

    The overview is plain HTML (no plotly): it is the first thing shown, and plotly's bundle
    (≈ 5 MB of JavaScript) is then only loaded when a tab with figures is opened.
    """

    tab_key = "tab_overview"

    def build(self) -> None:
        w = _widgets()
        self.cards = w.HTML().add_class("bsc-cards-box")
        self.board = w.HTML().add_class("bsc-board-box")
        self.grades = w.HTML(layout={"width": "34%"}).add_class("bsc-grades-box")
        self.comps = w.HTML(layout={"width": "66%"}).add_class("bsc-comp-box")
        self.table = w.HTML().add_class("bsc-ranking")
        self.box.children = [self.cards, self.board, w.HBox([self.grades, self.comps]), self.table]

    def render(self) -> None:
        lang, r = self.lang, self.ctx.results
        inst = r.institutional.assign(
            name=lambda d: d["institution_id"].map(lambda u: self.ctx.unit_name(u, lang)))
        n_kpi = len(self.ctx.data.kpis)
        cards = [(text("institutions", lang), f"{len(inst):,}"), (text("departments", lang), f"{len(r.departments):,}"),
                 (text("kpis", lang), f"{n_kpi:,}"), (text("share_achieved", lang), _fmt_pct(share_achieved(r.kpi)))]
        self.cards.value = ('<div class="bsc-cards">' + "".join(
            f'<div class="bsc-card"><div class="v">{html.escape(v)}</div><div class="k">{html.escape(k)}</div></div>'
            for k, v in cards) + f'</div><div class="bsc-note">{html.escape(text("share_achieved_note", lang))}</div>')
        comps = list(self.ctx.scheme.evaluations["institutional"].components)
        ties = institution_ties(self.ctx.tables["near_ties"])
        self.board.value = ranking_board_html(inst, ties, lang)
        self.grades.value = grade_counts_html(inst, lang)
        self.comps.value = component_bars_html(inst, comps, lang, ties)
        self.table.value = self._ranking_table(inst, comps, ties)

    def _ranking_table(self, inst: pd.DataFrame, comps: list[str], all_ties: pd.DataFrame) -> str:
        lang = self.lang
        order = {t: i for i, t in enumerate(INST_TYPE_ORDER)}
        d = inst.assign(_g=inst["inst_type"].map(order).fillna(9)).sort_values(
            ["_g", "rank_in_group", "institution_id"], kind="stable")
        ties = all_ties.reindex(d["institution_id"]).set_index(d.index)
        d = d.assign(name_link=[drill_link(u, n, lang) for u, n in zip(d["institution_id"], d["name"], strict=True)])
        d = d.assign(group=d["inst_type"].map(lambda v: label(v, lang)),
                     total_h=[total_html(v, t, lang) for v, t in zip(d["total"], ties.to_dict("records"), strict=True)])
        cols = [("rank_in_group", text("rank_in_group", lang), "num"), ("rank_overall", text("rank", lang), "num"),
                ("name_link", text("institution", lang), "html"), ("group", text("group", lang), "text"),
                ("total_h", text("total", lang), "htmlnum"), ("grade", text("grade", lang), "grade")]
        cols += [(c, label(c, lang), "points") for c in comps]
        n_ties = int(ties["near_tie"].sum())
        tol = self.ctx.analysis.summary.near_tie_tolerance
        note = (f'<p class="bsc-note">{html.escape(text("tie_note", lang, n=n_ties, tol=tol))}</p>' if n_ties else "")
        return (f"<h3>{html.escape(text('ranking_table', lang))}</h3>" + note
                + html_table(d, cols, row_data={"unit": d["institution_id"], "total": d["total"].map(fmt_points),
                                                "grade": d["grade"], "tie": ties["near_tie"].map(int)},
                             table_class="bsc-ranking-table", lang=lang,
                             sort_values={"total_h": d["total"]}))


class DrilldownPanel(_Panel):
    tab_key = "tab_drill"

    def build(self) -> None:
        w = _widgets()
        inst = self.ctx.results.institutional
        self.inst_dd = w.Dropdown(options=[("", "")], style={"description_width": "initial"}, layout={"width": "560px"}).add_class("bsc-w-inst")
        self.dept_dd = w.Dropdown(options=[("", "")], style={"description_width": "initial"}, layout={"width": "560px"}).add_class("bsc-w-dept")
        self.kpi_dd = w.Dropdown(options=[("", "")], style={"description_width": "initial"}, layout={"width": "760px"}).add_class("bsc-w-kpi")
        self._inst_ids = list(inst["institution_id"])
        self.inst_html = w.HTML().add_class("bsc-inst-view")
        self.inst_fig = w.Output(layout={"width": "45%"})
        self.dept_html = w.HTML().add_class("bsc-dept-view")
        self.dept_fig = w.Output(layout={"width": "45%"})
        self.kpi_html = w.HTML().add_class("bsc-kpi-view")
        self.kpi_fig = w.Output()
        self.box.children = [
            w.HBox([self.inst_dd, self.dept_dd]),
            w.HBox([self.inst_html, self.inst_fig]),
            w.HBox([self.dept_html, self.dept_fig]),
            self.kpi_dd, self.kpi_fig, self.kpi_html,
        ]
        self.relabel()
        self.inst_dd.value = self._inst_ids[0] if self._inst_ids else ""
        self._fill_departments()
        self.inst_dd.observe(self._on_inst, "value")
        self.dept_dd.observe(self._on_dept, "value")
        self.kpi_dd.observe(self._on_kpi, "value")

    # --- options
    def relabel(self) -> None:
        lang = self.lang
        self.inst_dd.description = text("institution", lang)
        self.dept_dd.description = text("department", lang)
        self.kpi_dd.description = text("kpi", lang)
        self._set_options(self.inst_dd, [(f"{u} {self.ctx.unit_name(u, lang)}", u) for u in self._inst_ids])
        self._fill_departments(keep=True)

    def _dept_ids(self) -> list[str]:
        dep = self.ctx.results.departments
        return list(dep.loc[dep["institution_id"] == self.inst_dd.value, "department_id"])

    def _fill_departments(self, keep: bool = False) -> None:
        ids = self._dept_ids()
        opts = [(f"{d} {self.ctx.unit_name(d, self.lang)}", d) for d in ids] or [("", "")]
        old = self.dept_dd.value
        self._set_options(self.dept_dd, opts)
        if not (keep and old in ids):
            self._muted = True
            self.dept_dd.value = opts[0][1]
            self._muted = False
        self._fill_kpis(keep=keep)

    def _fill_kpis(self, keep: bool = False) -> None:
        k = self.ctx.shown().kpis
        sel = k.loc[k["owner_id"] == self.dept_dd.value]
        opts = [(f"{kid} {name}", kid) for kid, name in zip(sel["kpi_id"], sel["name_ko"], strict=True)] or [("", "")]
        old = self.kpi_dd.value
        self._set_options(self.kpi_dd, opts)
        if not (keep and old in set(sel["kpi_id"])):
            self._muted = True
            self.kpi_dd.value = opts[0][1]
            self._muted = False

    def view_state(self) -> dict[str, str]:
        return {k: v for k, v in (("inst", self.inst_dd.value), ("dept", self.dept_dd.value)) if v}

    def apply_view(self, query: Mapping[str, str]) -> None:
        if query.get("inst") in self._inst_ids and query["inst"] != self.inst_dd.value:
            self.inst_dd.value = query["inst"]  # fills the departments and renders
        if query.get("dept") and query["dept"] in self._dept_ids() and query["dept"] != self.dept_dd.value:
            self.dept_dd.value = query["dept"]

    # --- callbacks
    def _on_inst(self, _change) -> None:
        if self._muted:
            return
        self._fill_departments()
        self.render()
        self.app.update_link()

    def _on_dept(self, _change) -> None:
        if self._muted:
            return
        self._fill_kpis()
        self._render_dept()
        self._render_kpi()
        self.app.update_link()

    def _on_kpi(self, _change) -> None:
        if self._muted:
            return
        self._render_kpi()

    # --- rendering
    def render(self) -> None:
        self._render_inst()
        self._render_dept()
        self._render_kpi()

    def _explain_table(self, unit_id: str) -> tuple[str, pd.DataFrame]:
        lang = self.lang
        ex = self.ctx.results.explain(unit_id)
        comp = ex.loc[ex["level"] == "component"]
        n_detail = ex.loc[ex["level"] == "detail"].groupby("component").size()
        view = pd.DataFrame({"component": comp["component"].map(lambda c: label(c, lang)),
                             "value": comp["value"], "n": comp["component"].map(n_detail).fillna(0).astype(int)})
        tot = ex.loc[ex["level"] == "total", "value"]
        view = pd.concat([view, pd.DataFrame({"component": [text("total", lang)], "value": [tot.iloc[0]],
                                              "n": [int(n_detail.sum())]})], ignore_index=True)
        cols = [("component", text("component", lang), "text"), ("value", text("points", lang), "points"),
                ("n", text("n_detail", lang), "num")]
        return html_table(view, cols, table_class="bsc-explain"), ex

    def _managers(self, unit_id: str) -> str:
        lang, ctx = self.lang, self.ctx
        p = ctx.people.loc[ctx.people["unit_id"] == unit_id]
        if not len(p):
            return f'<p class="bsc-note">{html.escape(text("no_managers", lang))}</p>'
        names = p["name_ko"] if "name_ko" in p else pd.Series([None] * len(p), index=p.index)
        p = p.assign(who=[person_label(i, n, ctx.settings.pseudonymize, lang)
                          for i, n in zip(p["person_id"], names, strict=True)],
                     position_grade=p["position_grade"].map(lambda v: position_grade_label(v, lang)))
        cols = [("who", text("manager", lang), "text"), ("position_grade", label("position_grade", lang), "text"),
                ("total", text("total", lang), "points"), ("rank_overall", text("rank", lang), "num"),
                ("grade", text("grade", lang), "grade")]
        return html_table(p, cols, table_class="bsc-managers")

    def _render_inst(self) -> None:
        from bsc_lib.present import plots

        lang, ctx = self.lang, self.ctx
        uid = self.inst_dd.value
        if not uid:
            return
        row = ctx.results.institutional.set_index("institution_id").loc[uid]
        tab, ex = self._explain_table(uid)
        dep = ctx.results.departments.loc[ctx.results.departments["institution_id"] == uid]
        dep = dep.assign(name=dep["department_id"].map(lambda u: ctx.unit_name(u, lang)))
        dcols = [("department_id", "ID", "text"), ("name", text("department", lang), "text"),
                 ("total", text("total", lang), "points"), ("rank_overall", text("rank", lang), "num"),
                 ("grade", text("grade", lang), "grade"), ("n_flags", label("n_flags", lang), "num")]
        head = (f"<h3>{html.escape(uid)} {html.escape(ctx.unit_name(uid, lang))} — {html.escape(text('total', lang))} "
                f'<span class="bsc-inst-total">{fmt_points(row["total"])}</span> {grade_badge(row["grade"])} '
                f"({html.escape(label(row['inst_type'], lang))} {int(row['rank_in_group'])}{'위' if lang == 'ko' else ''})</h3>")
        self.inst_html.value = (head + f"<b>{html.escape(text('decomposition', lang))}</b>" + tab
                                + f"<b>{html.escape(text('managers', lang))}</b>" + self._managers(uid)
                                + f"<b>{html.escape(text('departments_of', lang))}</b>" + html_table(dep, dcols, lang=lang))
        _show_figures(self.inst_fig, plots.explain_waterfall(ex, lang, title=f"{ctx.unit_name(uid, lang)}: {label('title_explain', lang)}"))

    def _render_dept(self) -> None:
        from bsc_lib.present import plots

        lang, ctx = self.lang, self.ctx
        did = self.dept_dd.value
        if not did:
            self.dept_html.value = ""
            _show_figures(self.dept_fig)
            return
        row = ctx.results.departments.set_index("department_id").loc[did]
        tab, ex = self._explain_table(did)
        kp = ctx.results.kpi.loc[ctx.results.kpi["owner_id"] == did]
        meta = ctx.shown().kpis.set_index("kpi_id")
        kd = ctx.kdiff().set_index("kpi_id")
        dfl = flag_labels(kd, DIFFICULTY_FLAGS, lang)

        kp = kp.assign(name=kp["kpi_id"].map(meta["name_ko"]), pol=kp["polarity"].map(lambda v: label(v, lang)),
                       st=kp["status"].map(lambda v: "" if pd.isna(v) else label(v, lang)),
                       hl=kp["half"].map(lambda v: label(v, lang)),
                       fl=kp["flag"].fillna("").map(lambda s: ", ".join(label(f, lang) for f in s.split(";") if f)),
                       dfl=kp["kpi_id"].map(dfl).fillna(""))
        kcols = [("kpi_id", "ID", "text"), ("name", text("kpi", lang), "text"), ("pol", text("polarity", lang), "text"),
                 ("weight", text("weight", lang), "num"), ("hl", text("half", lang), "text"),
                 ("target", text("target", lang), "num"), ("actual", text("actual", lang), "num"),
                 ("capped_rate", text("rate", lang), "pct"), ("st", text("status", lang), "text"),
                 ("points", text("points", lang), "points"), ("fl", text("engine_flags", lang), "text"),
                 ("dfl", text("difficulty", lang), "text")]
        head = (f"<h3>{html.escape(did)} {html.escape(ctx.unit_name(did, lang))} — {html.escape(text('total', lang))} "
                f'<span class="bsc-dept-total">{fmt_points(row["total"])}</span> / {fmt_points(row["max_total"])} '
                f"{grade_badge(row['grade'])}</h3>")
        self.dept_html.value = (head + f"<b>{html.escape(text('decomposition', lang))}</b>" + tab
                                + f"<b>{html.escape(text('managers', lang))}</b>" + self._managers(did))
        self.kpi_html.value = f"<h3>{html.escape(text('kpis_of', lang))}</h3>" + html_table(kp, kcols, table_class="bsc-kpis", lang=lang)
        _show_figures(self.dept_fig, plots.explain_waterfall(ex, lang, title=f"{ctx.unit_name(did, lang)}: {label('title_explain', lang)}"))

    def _render_kpi(self) -> None:
        from bsc_lib.present import plots

        kid = self.kpi_dd.value
        if not kid:
            _show_figures(self.kpi_fig)
            return
        ctx = self.ctx
        shown = ctx.shown()
        h = shown.kpi_history.loc[shown.kpi_history["kpi_id"] == kid]
        k = ctx.results.kpi.loc[ctx.results.kpi["kpi_id"] == kid].assign(year=ctx.year)
        name = shown.kpis.set_index("kpi_id").loc[kid, "name_ko"]
        unit = shown.kpis.set_index("kpi_id").loc[kid, "unit"]
        _show_figures(self.kpi_fig, plots.kpi_history_chart(h, k, self.lang, title=f"{kid} {name} ({unit})"))


class DifficultyPanel(_Panel):
    tab_key = "tab_difficulty"
    top = 40

    def build(self) -> None:
        w = _widgets()
        self.inst_dd = w.Dropdown(options=[("", "")], style={"description_width": "initial"}, layout={"width": "520px"}).add_class("bsc-w-dinst")
        self.type_dd = w.Dropdown(options=[("", "")], style={"description_width": "initial"}, layout={"width": "340px"}).add_class("bsc-w-dtype")
        self.flag_dd = w.Dropdown(options=[("", "")], style={"description_width": "initial"}, layout={"width": "420px"}).add_class("bsc-w-dflag")
        self.info = w.HTML()
        self.fig = w.Output()
        self.table = w.HTML().add_class("bsc-difficulty-table")
        self.box.children = [w.HBox([self.inst_dd, self.type_dd, self.flag_dd]), self.info, self.fig, self.table]
        self.relabel()
        for dd in (self.inst_dd, self.type_dd, self.flag_dd):
            dd.observe(self._on_change, "value")

    def relabel(self) -> None:
        from bsc_lib.data.model import KPI_TYPES

        lang = self.lang
        self.inst_dd.description = text("institution", lang)
        self.type_dd.description = text("kpi_type", lang)
        self.flag_dd.description = text("flag", lang)
        ids = list(self.ctx.results.institutional.sort_values("institution_id", kind="stable")["institution_id"])
        self._set_options(self.inst_dd, [(text("all", lang), "")] + [(f"{u} {self.ctx.unit_name(u, lang)}", u) for u in ids])
        self._set_options(self.type_dd, [(text("all", lang), "")] + [(label(t, lang), t) for t in KPI_TYPES])
        self._set_options(self.flag_dd, [(text("all", lang), "")] + [(label(f, lang), f) for f in DIFFICULTY_FLAGS])

    def _on_change(self, _change) -> None:
        if not self._muted:
            self.render()

    def filtered(self) -> pd.DataFrame:
        """The KPI difficulty table under the current filters."""
        kd = self.ctx.kdiff()
        m = pd.Series(True, index=kd.index)
        if self.inst_dd.value:
            m &= kd["institution_id"] == self.inst_dd.value
        if self.type_dd.value:
            m &= kd["kpi_type"] == self.type_dd.value
        if self.flag_dd.value:
            m &= kd[self.flag_dd.value].fillna(False).astype(bool)
        return kd.loc[m]

    def render(self) -> None:
        from bsc_lib.present import plots

        lang = self.lang
        d = self.filtered()
        top = d.sort_values(["gap", "kpi_id"], kind="stable", na_position="last").head(self.top)
        self.info.value = f"<p>{html.escape(text('n_shown', lang, n=len(d), m=len(top)))}</p>"
        _show_figures(self.fig, plots.target_vs_trend(d, lang))
        top = top.assign(owner=top["owner_id"].map(lambda u: f"{u} {self.ctx.unit_name(u, lang)}"),
                         ktype=top["kpi_type"].map(lambda v: label(v, lang)),
                         pol=top["polarity"].map(lambda v: label(v, lang)),
                         verdict=flag_labels(top, DIFFICULTY_FLAGS, lang))
        cols = [("kpi_id", "ID", "text"), ("name_ko", text("kpi", lang), "text"), ("owner", label("owner_id", lang), "text"),
                ("ktype", text("kpi_type", lang), "text"), ("pol", text("polarity", lang), "text"),
                ("last_actual", label("last_actual", lang) if lang == "en" else "최근 실적", "num"),
                ("trend_forecast", label("trend_forecast", lang), "num"), ("target", text("target", lang), "num"),
                ("gap", text("gap", lang), "pct"), ("verdict", text("flag", lang), "text")]
        self.table.value = html_table(top, cols, lang=lang)


class DispersionPanel(_Panel):
    tab_key = "tab_dispersion"

    def build(self) -> None:
        w = _widgets()
        half = {"width": "50%"}
        self.table = w.HTML(layout=half).add_class("bsc-disc-table")
        self.eff_table = w.HTML(layout=half).add_class("bsc-eff-table")
        self.integ = w.HTML(layout=half).add_class("bsc-integrity")
        self.fig_ties = w.Output(layout=half)
        self.fig_eff = w.Output(layout=half)
        self.fig_integ = w.Output(layout=half)
        self.box.children = [w.HBox([self.table, self.fig_ties]), w.HBox([self.eff_table, self.fig_eff]),
                             w.HBox([self.integ, self.fig_integ])]

    def render(self) -> None:
        from bsc_lib.present import plots

        lang = self.lang
        t = self.ctx.dispersion()
        disc = t["discrimination"]
        d = disc.assign(ev=disc["evaluation"].map(lambda v: label(v, lang) if v != "department" else text("departments", lang)),
                        comp=disc["component"].map(lambda v: label(v, lang)))
        cols = [("ev", text("evaluation", lang), "text"), ("comp", text("component", lang), "text"),
                ("n", text("n", lang), "num"), ("n_distinct", text("n_distinct", lang), "num"),
                ("largest_tie_share", text("largest_tie_share", lang), "pct"), ("cv", text("cv", lang), "pct"),
                ("gini", text("gini", lang), "num")]
        eff = t["effective_weights"]
        ecols = [("comp", text("component", lang), "text"), ("nominal_points", text("max_points", lang), "num"),
                 ("nominal_share", text("nominal_share", lang), "pct"),
                 ("effective_share", text("effective_share", lang), "pct")]
        self.table.value = f"<h3>{html.escape(text('discrimination', lang))}</h3>" + html_table(d, cols, lang=lang)
        self.eff_table.value = (f"<h3>{html.escape(label('title_effective_weights', lang))}</h3>"
                                + html_table(eff.assign(comp=eff["component"].map(lambda v: label(v, lang))), ecols, lang=lang))
        _show_figures(self.fig_ties, plots.tie_share_bar(disc, lang))
        _show_figures(self.fig_eff, plots.effective_weights_bar(eff, lang))
        if "integrity" in t:
            ig = t["integrity"]
            ig = ig.assign(m=ig["measure"].map(lambda v: text(v, lang)))
            icols = [("m", text("measure", lang), "text"), ("n", text("n", lang), "num"),
                     ("n_distinct", text("n_distinct", lang), "num"),
                     ("largest_tie_share", text("largest_tie_share", lang), "pct"), ("cv", text("cv", lang), "pct"),
                     ("spearman_rho", text("spearman", lang), "num")]
            self.integ.value = f"<h3>{html.escape(text('integrity', lang))}</h3>" + html_table(ig, icols)
            v = t["integrity_values"]
            _show_figures(self.fig_integ, plots.integrity_old_new(v["acrc_score"], v["index"], lang))
        else:
            self.integ.value = ""
            _show_figures(self.fig_integ)


class WhatIfPanel(_Panel):
    tab_key = "tab_whatif"

    def build(self) -> None:
        w = _widgets()
        base = self.ctx.whatif
        self.points = dict(base.points)
        integral = all(float(v).is_integer() for v in self.points.values())
        self.step = 1.0 if integral else 0.5
        self.quota_pct = {g: round(v * 100.0) for g, v in base.quotas.items()}
        self._quota_exact = all(abs(v * 100.0 - round(v * 100.0)) < 1e-9 for v in base.quotas.values())
        self._anchors: dict[str, tuple[str | None, dict | None]] = {}
        self.intro = w.HTML()
        self.h_points = w.HTML()
        self.sliders = {}
        for c, p in self.points.items():
            s = w.FloatSlider(value=p, min=0.0, max=100.0, step=self.step, continuous_update=False,
                              readout_format=".0f" if integral else ".1f", disabled=base.points[c] <= 0,
                              style={"description_width": "220px"}, layout={"width": "620px"})
            s.add_class(f"bsc-w-{c}")
            s.observe(lambda ch, c=c: self._on_points(c, ch), "value")
            self.sliders[c] = s
        self.cap = None
        if base.cap is not None:
            caps = sorted({round(c, 4) for c in (*CAP_CHOICES, base.cap, *self.ctx.analysis.robustness.caps)
                           if c >= base.floor and c > 0})
            self.cap = w.SelectionSlider(options=[(f"{c * 100:.0f}%", c) for c in caps], value=round(base.cap, 4),
                                         continuous_update=False, style={"description_width": "220px"},
                                         layout={"width": "620px"}).add_class("bsc-w-cap")
            self.cap.observe(lambda ch: self._recompute(), "value")
        self.h_quotas = w.HTML()
        self.quota_sliders = {}
        for g, v in self.quota_pct.items():
            s = w.FloatSlider(value=float(v), min=0.0, max=100.0, step=1.0, continuous_update=False,
                              readout_format=".0f", style={"description_width": "220px"}, layout={"width": "620px"})
            s.add_class(f"bsc-w-quota-{g}")
            s.observe(lambda ch, g=g: self._on_quota(g, ch), "value")
            self.quota_sliders[g] = s
        self.reset = w.Button(icon="", layout={"width": "220px"}).add_class("bsc-w-reset")
        self.reset.on_click(lambda _b: self._reset())
        self.summary = w.HTML().add_class("bsc-whatif-summary")
        self.table = w.HTML().add_class("bsc-whatif")
        # saved scenarios: name → (points, cap, quotas), compared side by side
        self.scenarios: dict[str, tuple[dict, float | None, dict]] = {}
        self.h_scen = w.HTML()
        self.scen_name = w.Text(layout={"width": "300px"}).add_class("bsc-w-scen-name")
        self.scen_save = w.Button(layout={"width": "160px"}).add_class("bsc-w-scen-save")
        self.scen_save.on_click(lambda _b: self._save_scenario())
        self.scen_pick = w.Dropdown(options=[("", "")], layout={"width": "300px"}).add_class("bsc-w-scen-pick")
        self.scen_load = w.Button(layout={"width": "160px"}).add_class("bsc-w-scen-load")
        self.scen_load.on_click(lambda _b: self._load_scenario())
        self.compare = w.HTML().add_class("bsc-scenario-compare")
        controls = [self.h_points, *self.sliders.values()]
        if self.cap is not None:
            controls.append(self.cap)
        controls += [self.h_quotas, *self.quota_sliders.values(), self.reset, self.h_scen,
                     w.HBox([self.scen_name, self.scen_save]), w.HBox([self.scen_pick, self.scen_load])]
        self.box.children = [self.intro, w.HBox([w.VBox(controls, layout={"width": "660px"}).add_class("bsc-whatif-controls"),
                                                 w.VBox([self.summary, self.compare, self.table])])]
        self.relabel()

    def relabel(self) -> None:
        lang = self.lang
        self.intro.value = f"<p>{html.escape(text('whatif_intro', lang))}</p>"
        self.h_points.value = f"<b>{html.escape(text('component_points', lang))}</b>"
        self.h_quotas.value = f"<b>{html.escape(text('quotas', lang))}</b>"
        for c, s in self.sliders.items():
            s.description = label(c, lang)
        if self.cap is not None:
            self.cap.description = text("cap", lang)
        for g, s in self.quota_sliders.items():
            s.description = f"{text('grade', lang)} {g}"
        self.reset.description = text("reset", lang)
        self.h_scen.value = f"<b>{html.escape(text('scenarios', lang))}</b>"
        self.scen_name.placeholder = text("scenario_name", lang)
        self.scen_save.description = text("save", lang)
        self.scen_load.description = text("load", lang)
        self._render_compare()

    # --- state changes
    def _anchor(self, which: str, key: str, current: dict) -> dict:
        """The values the others are shared from while one control is being moved.

        They are the values from before that control's first move (kept while the same control
        moves again), so moving it back to where it was restores every other value exactly, and
        repeated moves do not drift by rounding.
        """
        k, vals = self._anchors.get(which, (None, None))
        if k != key:
            vals = dict(current)
            self._anchors[which] = (key, vals)
        return vals

    def _on_points(self, comp: str, change) -> None:
        if self._muted or change["new"] == self.points.get(comp):  # our own update coming back
            return
        anchor = self._anchor("points", comp, self.points)
        new = self._rebalance(anchor, comp, change["new"], self.step, self.ctx.whatif.points)
        self.points = new
        self._sync(self.sliders, new)
        self._recompute()

    def _on_quota(self, grade: str, change) -> None:
        if self._muted or change["new"] == self.quota_pct.get(grade):  # our own update coming back
            return
        anchor = self._anchor("quotas", grade, self.quota_pct)
        new = self._rebalance(anchor, grade, change["new"], 1.0, None)
        self.quota_pct = new
        self._quota_exact = True
        self._sync(self.quota_sliders, new)
        self._recompute()

    @staticmethod
    def _rebalance(values, key, value, step, reference):
        from bsc_lib.analyses.whatif import rebalance

        return rebalance(values, key, value, total=100.0, step=step, reference=reference)

    def _sync(self, sliders: dict, values: dict) -> None:
        self._muted = True
        try:
            for k, s in sliders.items():
                if s.value != values[k]:
                    s.value = values[k]
        finally:
            self._muted = False

    def _reset(self) -> None:
        self._anchors = {}
        base = self.ctx.whatif
        self.points = dict(base.points)
        self.quota_pct = {g: round(v * 100.0) for g, v in base.quotas.items()}
        self._quota_exact = all(abs(v * 100.0 - round(v * 100.0)) < 1e-9 for v in base.quotas.values())
        self._sync(self.sliders, self.points)
        self._sync(self.quota_sliders, self.quota_pct)
        if self.cap is not None:
            self._muted = True
            self.cap.value = round(base.cap, 4)
            self._muted = False
        self._recompute()

    def view_state(self) -> dict[str, str]:
        points, cap, quotas = self.current()
        base = self.ctx.whatif
        st = {}
        if points != dict(base.points):
            st["points"] = ",".join(f"{k}:{v:g}" for k, v in points.items())
        if cap is not None and base.cap is not None and round(cap, 4) != round(base.cap, 4):
            st["cap"] = f"{cap:g}"
        if self._quota_exact and any(abs(v - base.quotas[g]) > 1e-9 for g, v in quotas.items()):
            st["quotas"] = ",".join(f"{g}:{v * 100:g}" for g, v in quotas.items())
        return st

    def apply_view(self, query: Mapping[str, str]) -> None:
        def pairs(v: str) -> dict[str, float]:
            out = {}
            for part in (v or "").split(","):
                k, _, x = part.partition(":")
                try:
                    out[k] = float(x)
                except ValueError:
                    return {}
            return out

        pts, qts = pairs(query.get("points", "")), pairs(query.get("quotas", ""))
        ok_pts = set(pts) == set(self.points) and abs(sum(pts.values()) - 100.0) < 1e-6
        ok_qts = set(qts) == set(self.quota_pct) and abs(sum(qts.values()) - 100.0) < 1e-6
        if ok_pts:
            self.points = pts
            self._sync(self.sliders, pts)
        if ok_qts:
            self.quota_pct = {g: round(v) for g, v in qts.items()}
            self._quota_exact = True
            self._sync(self.quota_sliders, self.quota_pct)
        if self.cap is not None and query.get("cap"):
            try:
                c = round(float(query["cap"]), 4)
            except ValueError:
                c = None
            if c in {v for _, v in self.cap.options}:
                self._muted = True
                self.cap.value = c
                self._muted = False
        self._anchors = {}
        self.render()

    def _save_scenario(self) -> None:
        name = (self.scen_name.value or "").strip() or text("scenario_n", self.lang, n=len(self.scenarios) + 1)
        self.scenarios[name] = self.current()
        self._set_options(self.scen_pick, [(k, k) for k in self.scenarios])
        self.scen_pick.value = name
        self.scen_name.value = ""
        self._render_compare()

    def _load_scenario(self) -> None:
        """Put the controls back exactly where a saved scenario had them."""
        sc = self.scenarios.get(self.scen_pick.value)
        if sc is None:
            return
        points, cap, quotas = sc
        self._anchors = {}
        self.points = dict(points)
        self.quota_pct = {g: round(v * 100.0) for g, v in quotas.items()}
        self._quota_exact = True
        self._sync(self.sliders, self.points)
        self._sync(self.quota_sliders, self.quota_pct)
        if self.cap is not None and cap is not None:
            self._muted = True
            self.cap.value = round(cap, 4)
            self._muted = False
        self._recompute()

    def _render_compare(self) -> None:
        """Saved scenarios side by side: the grade of every institution whose grade any of them changes."""
        from bsc_lib.analyses import whatif

        lang, ctx = self.lang, self.ctx
        if not self.scenarios:
            self.compare.value = ""
            return
        base = None
        cols = [("name", text("institution", lang), "text"), ("group", text("group", lang), "text"),
                ("base_grade", text("base", lang), "grade")]
        counts = {}
        for k, (name, (points, cap, quotas)) in enumerate(self.scenarios.items()):
            ach = ctx.achievement_fraction(cap) if cap is not None and cap != ctx.whatif.cap else None
            tab = whatif.whatif_table(ctx.whatif, points, cap, quotas, achievement=ach).set_index("institution_id")
            if base is None:
                base = tab[["inst_type", "base_grade"]].copy()
            col = f"s{k}"
            base[col] = [f"{grade_badge(g)}" if not ch else f'<span class="bsc-changed-cell">{grade_badge(g)}</span>'
                         for g, ch in zip(tab["grade"], tab["grade_changed"], strict=True)]
            base[col + "_ch"] = tab["grade_changed"].to_numpy()
            counts[name] = int(tab["grade_changed"].sum())
            cols.append((col, name, "html"))
        changed = base[[c for c in base.columns if c.endswith("_ch")]].any(axis=1)
        d = base.loc[changed].reset_index()
        d = d.assign(name=d["institution_id"].map(lambda u: ctx.unit_name(u, lang)),
                     group=d["inst_type"].map(lambda v: label(v, lang)))
        summary = " · ".join(text("scenario_count", lang, name=n, n=c) for n, c in counts.items())
        self.compare.value = (f"<h3>{html.escape(text('scenario_compare', lang))}</h3>"
                              f'<p class="bsc-note">{html.escape(summary)}</p>'
                              + (html_table(d, cols, row_data={"unit": d["institution_id"]},
                                            table_class="bsc-scenario-table", lang=lang) if len(d) else ""))

    def current(self) -> tuple[dict[str, float], float | None, dict[str, float]]:
        """``(points, cap, quotas)`` as the panel stands."""
        quotas = ({g: v / 100.0 for g, v in self.quota_pct.items()} if self._quota_exact
                  else dict(self.ctx.whatif.quotas))
        cap = float(self.cap.value) if self.cap is not None else None
        return dict(self.points), cap, quotas

    def _recompute(self) -> None:
        if self._muted:
            return
        self.render()

    def render(self) -> None:
        from bsc_lib.analyses import whatif

        t0 = time.perf_counter()
        lang, ctx = self.lang, self.ctx
        points, cap, quotas = self.current()
        ach = ctx.achievement_fraction(cap) if cap is not None and cap != ctx.whatif.cap else None
        tab = whatif.whatif_table(ctx.whatif, points, cap, quotas, achievement=ach)
        n_grade = int(tab["grade_changed"].sum())
        n_rank = int((tab["rank_change"].fillna(0) != 0).sum())
        # re-scored totals: the producer's rule and tolerance (bsc_lib.analyses.summary.near_ties)
        group = tab["inst_type"] if ctx.scheme.grading.group_by == "inst_type" else pd.Series("all", index=tab.index)
        ties = near_ties(tab["total"], group, ctx.analysis.summary.near_tie_tolerance)
        # the scheme's totals carry the producer's own marks (the same as the overview's)
        base_ties = institution_ties(ctx.tables["near_ties"]).reindex(tab["institution_id"])
        tab = tab.assign(total_h=[total_html(v, t, lang) for v, t in zip(tab["total"], ties.to_dict("records"),
                                                                          strict=True)],
                         base_total_h=[total_html(v, None if pd.isna(t.get("near_tie")) else t, lang)
                                       for v, t in zip(tab["base_total"], base_ties.to_dict("records"), strict=True)])
        tab = tab.assign(name=tab["institution_id"].map(lambda u: ctx.unit_name(u, lang)),
                         group=tab["inst_type"].map(lambda v: label(v, lang)),
                         grades=[grade_move(b, g) if ch else grade_badge(g)
                                 for b, g, ch in zip(tab["base_grade"], tab["grade"], tab["grade_changed"], strict=True)],
                         moved=tab["rank_change"].map(lambda v: "" if pd.isna(v) or v == 0 else (f"▲{v}" if v > 0 else f"▼{-v}")))
        cols = [("rank_overall", text("rank", lang), "num"), ("rank_in_group", text("rank_in_group", lang), "num"),
                ("name", text("institution", lang), "text"), ("group", text("group", lang), "text"),
                ("total_h", text("new_total", lang), "htmlnum"), ("base_total_h", text("base_total", lang), "htmlnum"),
                ("grades", text("grade", lang), "html"), ("moved", text("rank_change", lang), "text")]
        table = html_table(tab, cols, row_class=tab["grade_changed"].map({True: "bsc-changed", False: ""}),
                           row_data={"unit": tab["institution_id"], "rank": tab["rank_in_group"],
                                     "rank-overall": tab["rank_overall"], "grade": tab["grade"],
                                     "total": tab["total"].map(fmt_points)},
                           table_class="bsc-whatif-table", lang=lang,
                           sort_values={"total_h": tab["total"], "base_total_h": tab["base_total"]})
        ms = (time.perf_counter() - t0) * 1000.0
        state = (f'<div class="bsc-whatif-state" data-points="{_esc(",".join(f"{k}={v:g}" for k, v in points.items()))}" '
                 f'data-cap="{_esc("" if cap is None else f"{cap:g}")}" '
                 f'data-quotas="{_esc(",".join(f"{k}={v:g}" for k, v in quotas.items()))}"></div>')
        self.summary.value = (state + f"<p><b>{html.escape(text('changed_grades', lang, n=n_grade, m=n_rank))}</b> "
                              f'<span class="bsc-note">{html.escape(text("computed_in", lang, ms=ms))}</span></p>')
        self.table.value = table
        self.last_ms = ms
        if self.app.tabs.selected_index is not None and self.app.panels[self.app.tabs.selected_index] is self:
            self.app.update_link()


class RobustnessPanel(_Panel):
    tab_key = "tab_robustness"

    def build(self) -> None:
        w = _widgets()
        self.info = w.HTML()
        self.fig = w.Output()
        self.table = w.HTML().add_class("bsc-robust-table")
        self.box.children = [self.info, self.fig, self.table]

    def render(self) -> None:
        from bsc_lib.present import plots

        lang = self.lang
        self.info.value = f"<p>{html.escape(text('loading', lang))}</p>"
        units, info = self.ctx.robustness()
        self.info.value = (f"<p>{html.escape(text('robustness_intro', lang, **info))}</p>"
                           f'<p class="bsc-note">{html.escape(text("robustness_method", lang, **info))}</p>')
        names = pd.Series({u: self.ctx.unit_name(u, lang) for u in units["unit_id"]})
        _show_figures(self.fig, plots.rank_intervals(units, names, lang))
        d = units.loc[units["p_grade_change"] > 0].sort_values(["p_grade_change", "unit_id"], ascending=[False, True],
                                                               kind="stable")
        d = d.assign(name=d["unit_id"].map(names), group_l=d["group"].map(lambda v: label(v, lang)),
                     interval=[f"{int(a)}–{int(b)}" for a, b in zip(d["rank_p05"], d["rank_p95"], strict=True)])
        cols = [("name", text("institution", lang), "text"), ("group_l", text("group", lang), "text"),
                ("nominal_rank", text("nominal_rank", lang), "num"), ("nominal_grade", text("grade", lang), "grade"),
                ("interval", text("rank_interval", lang), "text"), ("p_grade_change", text("p_grade_change", lang), "pct")]
        self.table.value = f"<h3>{html.escape(text('unstable', lang))}</h3>" + html_table(d, cols, lang=lang)


class PerspectivePanel(_Panel):
    """The BSC perspectives: the city-wide strategy map and institution × perspective achievement.

    Both from the report's producers (``strategy_grid``, ``perspective_rollup``), not re-derived.
    """

    tab_key = "tab_perspectives"

    def build(self) -> None:
        w = _widgets()
        self.intro = w.HTML()
        self.map_fig = w.Output()
        self.heat_fig = w.Output()
        self.box.children = [self.intro, self.map_fig, self.heat_fig]
        self.box.add_class("bsc-perspectives-box")

    def render(self) -> None:
        from bsc_lib.present import plots

        lang, t = self.lang, self.ctx.tables
        self.intro.value = f"<p>{html.escape(text('perspectives_intro', lang))}</p>"
        grid, roll = t["strategy_grid"], t["perspective_rollup"]
        persp = list(getattr(self.ctx.scheme, "perspectives", None) or [])
        _show_figures(self.map_fig, plots.strategy_map_chart(grid, lang))
        _show_figures(self.heat_fig, plots.perspective_heatmap(roll, persp, lang))


class LastYearPanel(_Panel):
    """This year against last year: grade transitions, rank changes, KPI trend (producers
    ``grade_transitions``, ``rank_changes``, ``kpi_trend``)."""

    tab_key = "tab_last_year"

    def build(self) -> None:
        w = _widgets()
        half = {"width": "50%"}
        self.intro = w.HTML()
        self.trans_fig = w.Output(layout=half)
        self.trend = w.HTML(layout=half).add_class("bsc-kpi-trend")
        self.rank_fig = w.Output()
        self.table = w.HTML().add_class("bsc-rank-changes")
        self.box.children = [self.intro, w.HBox([self.trans_fig, self.trend]), self.rank_fig, self.table]

    def render(self) -> None:
        from bsc_lib.present import plots

        lang, ctx = self.lang, self.ctx
        t = ctx.tables
        ch = t["rank_changes"]
        inst = ch.loc[ch["level"] == "institution"] if len(ch) else ch
        if not len(inst) or inst["rank_prior"].isna().all():
            self.intro.value = f'<p class="bsc-note">{html.escape(text("no_prior", lang))}</p>'
            for o in (self.trans_fig, self.rank_fig):
                _show_figures(o)
            self.trend.value = self.table.value = ""
            return
        self.intro.value = f"<p>{html.escape(text('last_year_intro', lang, prior=ctx.year - 1, year=ctx.year))}</p>"
        _show_figures(self.trans_fig, plots.grade_transition_heatmap(t["grade_transitions"], ctx.year, lang))
        kt = t["kpi_trend"]
        counts = kt["direction"].value_counts()
        rows = pd.DataFrame({"direction": [label(f"direction_{k}", lang) for k in counts.index], "n": counts.to_numpy()})
        self.trend.value = (f"<h3>{html.escape(text('kpi_trend', lang))}</h3>"
                            + html_table(rows, [("direction", text("direction", lang), "text"),
                                                ("n", text("kpis", lang), "num")], table_class="bsc-trend-table"))
        _show_figures(self.rank_fig, plots.rank_change_chart(inst, lang))
        d = inst.sort_values(["rank_change", "unit_id"], ascending=[False, True], kind="stable", na_position="last")
        d = d.assign(name=d["unit_id"].map(lambda u: ctx.unit_name(u, lang)),
                     group_l=d["inst_type"].map(lambda v: label(v, lang)),
                     grades=[grade_move(a, b) if isinstance(a, str) else grade_badge(b)
                             for a, b in zip(d["grade_prior"], d["grade"], strict=True)],
                     moved=d["rank_change"].map(lambda v: "" if pd.isna(v) or v == 0
                                                else (f"▲{int(v)}" if v > 0 else f"▼{int(-v)}")))
        cols = [("name", text("institution", lang), "text"), ("group_l", text("group", lang), "text"),
                ("total_prior", text("total_prior", lang, prior=ctx.year - 1), "points"),
                ("total", text("total", lang), "points"), ("rank_prior", text("rank_prior", lang), "num"),
                ("rank", text("rank", lang), "num"), ("moved", text("rank_change", lang), "text"),
                ("grades", text("grade", lang), "html")]
        self.table.value = html_table(d, cols, row_data={"unit": d["unit_id"], "grade": d["grade"],
                                                        "grade-prior": d["grade_prior"]},
                                      table_class="bsc-rank-change-table", lang=lang)


class DashboardApp:
    """The dashboard widget tree over a :class:`Context` (``.root`` is displayed)."""

    PANELS = (OverviewPanel, DrilldownPanel, PerspectivePanel, LastYearPanel, DifficultyPanel, DispersionPanel,
              WhatIfPanel, RobustnessPanel)

    def __init__(self, ctx: Context):
        w = _widgets()
        self.ctx = ctx
        self.lang = ctx.settings.lang
        self.header = w.HTML().add_class("bsc-header")
        self.lang_toggle = w.ToggleButtons(options=[("한국어", "ko"), ("English", "en")], value=self.lang,
                                           layout={"width": "auto"}).add_class("bsc-w-lang")
        self.present_toggle = w.ToggleButton(value=False, layout={"width": "auto"}).add_class("bsc-w-present")
        self.link = w.HTML().add_class("bsc-link")
        self.panels = [cls(self) for cls in self.PANELS]
        self.tabs = w.Tab(children=[p.box for p in self.panels]).add_class("bsc-tabs")
        self.root = w.VBox([w.HTML(CSS), w.HBox([self.header, w.VBox([w.HBox([self.present_toggle, self.lang_toggle]),
                                                                      self.link])],
                                                 layout={"justify_content": "space-between", "width": "100%"}),
                            self.tabs]).add_class("bsc-dash")
        self.present_toggle.observe(self._on_present, "value")
        self._relabel()
        self.panels[0].ensure()
        self.tabs.observe(self._on_tab, "selected_index")
        self.lang_toggle.observe(self._on_lang, "value")

    def _relabel(self) -> None:
        lang, ctx = self.lang, self.ctx
        s = ctx.scheme
        title = s.title_ko if lang == "ko" else s.title_en
        from bsc_lib.present.labels import period_label

        names_note = text("names_hidden" if ctx.settings.pseudonymize else "names_shown", lang)
        self.header.value = (f'<h2>{html.escape(text("title", lang))}</h2><div class="bsc-sub">'
                             f"{html.escape(title)} · {ctx.year} {html.escape(period_label(ctx.half, lang))} · "
                             f"{html.escape(text('source', lang))}: {html.escape(dataset_name(ctx.data.source))} · "
                             f"{html.escape(text('scheme', lang))}: {html.escape(s.scheme_id)}<br>"
                             f"{html.escape(names_note)}</div>")
        self.tabs.titles = tuple(text(p.tab_key, lang) for p in self.panels)
        self.present_toggle.description = text("present_mode", lang)
        self.present_toggle.tooltip = text("present_hint", lang)
        for p in self.panels:
            if p.built:
                p.relabel()

    # --- the view in the URL
    def view_state(self) -> dict[str, str]:
        """The view as query parameters: ``tab``, ``lang`` and the selections of the open tab."""
        idx = self.tabs.selected_index or 0
        panel = self.panels[idx]
        st = {"tab": panel.tab_key.removeprefix("tab_"), "lang": self.lang}
        if panel.built:
            st.update(panel.view_state())
        return st

    def view_query(self) -> str:
        """``?tab=…&lang=…`` of :meth:`view_state` (a link that reopens this view)."""
        return "?" + urlencode(self.view_state())

    def update_link(self) -> None:
        self.link.value = (f'<a class="bsc-view-link" href="{html.escape(self.view_query())}" '
                           f'title="{html.escape(text("link_hint", self.lang))}">{html.escape(text("link", self.lang))}</a>')

    def apply_query(self, query: str) -> None:
        """Open the view a link describes (unknown or invalid parameters are ignored)."""
        from urllib.parse import parse_qs

        q = {k: v[-1] for k, v in parse_qs(query or "").items() if v}
        if q.get("lang") in LANGS and q["lang"] != self.lang:
            self.lang_toggle.value = q["lang"]
        keys = [p.tab_key.removeprefix("tab_") for p in self.panels]
        idx = keys.index(q["tab"]) if q.get("tab") in keys else None
        if idx is not None:
            self.panels[idx].ensure()
            self.panels[idx].apply_view(q)
            # the page's tab bar may report its initial tab (0) as it renders, more than once on a
            # loaded server: put the wanted tab back (see _on_tab)
            self._wanted_tab = (idx, time.monotonic(), TAB_RESTORES)
            self.tabs.selected_index = idx
        self.update_link()

    def _on_present(self, change) -> None:
        """Presentation mode: large type, controls hidden (CSS class ``bsc-present`` on the root)."""
        if change["new"]:
            self.root.add_class("bsc-present")
        else:
            self.root.remove_class("bsc-present")

    def _on_tab(self, change) -> None:
        idx = change["new"]
        wanted = getattr(self, "_wanted_tab", None)
        if wanted is not None and idx != wanted[0]:
            self._wanted_tab = None
            tab, since, left = wanted
            # a report of tab 0 soon after the link's tab was set is the page rendering (a viewer's
            # own click on the overview comes later, or is put back at most TAB_RESTORES times)
            window = TAB_RESTORE_S if left == TAB_RESTORES else TAB_RESTORE_AGAIN_S
            age = time.monotonic() - since
            if idx == 0 and left > 0 and age < window:
                log.info("link view: the page reported tab 0 %.1f s after tab %d was set; put back", age, tab)
                self._wanted_tab = (tab, time.monotonic(), left - 1) if left > 1 else None
                self.tabs.selected_index = tab
                return
            log.info("link view: tab %s reported %.1f s after tab %d was set (%d put-backs left): the viewer's",
                     idx, age, tab, left)
        if idx is not None:
            self.panels[idx].ensure()
            self.update_link()

    def _on_lang(self, change) -> None:
        self.lang = change["new"]
        for p in self.panels:
            p.dirty = True
        self._relabel()
        idx = self.tabs.selected_index or 0
        self.panels[idx].ensure()
        self.update_link()


#: How long after a link's view is applied the page's first report of its initial tab (0) is
#: taken as the page rendering, not as the viewer's click (a loaded server renders slowly).
TAB_RESTORE_S = 60.0
#: How many times such a report is answered by putting the link's tab back (a language in the link
#: relabels the tabs, which can make the page report tab 0 once more) …
TAB_RESTORES = 3
#: … each later one only within this many seconds of the previous.
TAB_RESTORE_AGAIN_S = 15.0


def _route_logs() -> None:
    """Send library warnings, Python warnings and the dashboard's own INFO lines to the server log.

    The server log is the kernel's real stderr (inherited from Voila), not the page.
    """
    root = logging.getLogger("bsc_lib")
    if not any(getattr(h, "_bsc_dashboard", False) for h in root.handlers):
        fmt = logging.Formatter("[bsc-dashboard] %(levelname)s %(name)s: %(message)s")
        h = logging.StreamHandler(sys.__stderr__)
        h.setLevel(logging.WARNING)
        h.setFormatter(fmt)
        h._bsc_dashboard = True  # type: ignore[attr-defined]
        root.addHandler(h)
        pw = logging.getLogger("py.warnings")
        pw.addHandler(h)
        pw.propagate = False
        own = logging.StreamHandler(sys.__stderr__)
        own.setLevel(logging.INFO)
        own.setFormatter(fmt)
        log.addHandler(own)
        log.setLevel(logging.INFO)
        log.propagate = False
    logging.captureWarnings(True)


def _follow_request(apply: Callable[[str], None] | None) -> None:
    """Open the view of the page's query string (``?tab=drill&inst=I12&lang=en``) before the page is sent.

    Without preheating, Voila puts the query string in the kernel's environment: it is applied at
    once, before the page's widgets are displayed. A preheated kernel learns its request only
    when a page takes it: a background thread waits for it (:func:`_await_request`), applies it on
    the kernel's main thread and answers :data:`~bsc_lib.present.dashboard_server.QUERY_APPLIED`;
    the server holds the page until then, so the browser loads the widgets' state with the view
    already set. ``apply=None`` (an error page) only answers.
    """
    def safe(query: str) -> None:
        if apply is None:
            return
        try:
            apply(query)
        except Exception:  # noqa: BLE001 - a bad link must not break the page
            log.exception("the page's query string could not be applied")

    if os.environ.get("VOILA_PREHEAT", "False") != "True":
        safe(os.environ.get("QUERY_STRING", ""))
        return
    threading.Thread(target=_await_request, args=(lambda q: _on_main_thread(lambda: safe(q)), _request_url()),
                     name="bsc-dashboard-query", daemon=True).start()


def _request_url() -> str:
    """Voila's request-info websocket of this kernel (as ``voila.utils.wait_for_request`` builds it)."""
    env = os.environ.get
    base = env("VOILA_WS_BASE_URL") or env("VOILA_SERVER_URL", "/")
    return (f"{env('VOILA_WS_PROTOCOL', 'ws')}://{env('VOILA_APP_IP', '127.0.0.1')}:{env('VOILA_APP_PORT', '8866')}"
            f"{base}voila/query/{env('VOILA_KERNEL_ID', '')}")


#: Seconds between attempts to reach the request-info socket (the last one repeats).
REQUEST_RETRY_S = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)


def _await_request(apply: Callable[[str], None], url: str, retry_s: tuple[float, ...] = REQUEST_RETRY_S) -> None:
    """Wait for the page's request at ``url``, put it in the environment, ``apply`` its query
    string and answer :data:`~bsc_lib.present.dashboard_server.QUERY_APPLIED`.

    Unlike ``voila.utils.wait_for_request`` the connection ignores proxy settings (the server is
    local; with ``http_proxy`` set, Voila's own call fails and the link is ignored), allows 30 s
    to open on a loaded machine, sends no keep-alive pings (a kernel may wait hours for a viewer;
    a missed pong would drop the request) and is opened again after a failure: Voila keeps the
    request of a kernel that is not connected and hands it over when it connects.
    """
    from websockets.exceptions import WebSocketException
    from websockets.sync.client import connect

    for attempt in itertools.count():
        try:
            with connect(url, open_timeout=30, ping_interval=None, close_timeout=5, proxy=None) as ws:
                info = json.loads(ws.recv())
                os.environ.update({str(k): str(v) for k, v in info.items()})
                query = str(info.get("QUERY_STRING", ""))
                apply(query)
                if query:
                    log.info("link view: ?%s applied", query)
                try:
                    ws.send(QUERY_APPLIED)
                except (OSError, WebSocketException) as exc:  # the server holds the page until its timeout
                    log.warning("the server was not told that the page's view is set: %s", exc)
                return
        except (OSError, TimeoutError, WebSocketException, ValueError) as exc:
            delay = retry_s[min(attempt, len(retry_s) - 1)]
            log.warning("waiting for the page's request at %s: %s; again in %g s", url, exc, delay)
            time.sleep(delay)


def _on_main_thread(fn: Callable[[], None], timeout: float = 120.0) -> None:
    """Run ``fn`` on the kernel's main thread, between its messages, and wait for it (directly
    when there is no kernel): widgets are then never changed while the kernel handles a message
    from the page."""
    kernel = getattr(_ipython(), "kernel", None)
    loop = getattr(kernel, "io_loop", None)
    if loop is None:
        fn()
        return
    done = threading.Event()

    def run_it() -> None:
        try:
            fn()
        finally:
            done.set()

    loop.add_callback(run_it)
    if not done.wait(timeout):
        log.warning("the kernel's main thread did not apply the page's view within %g s", timeout)


def _ipython():
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - the dashboard's kernel always has IPython
        return None
    return get_ipython()


def run(data_path: str = "", scheme_path: str = "", analysis_path: str = "", lang: str = "",
        pseudonymize: bool | None = None, year: int | None = None, half: str = "",
        mc_draws: int | None = None):
    """Build the dashboard for the notebook (the entry point of ``90-dashboard.ipynb``).

    Parameters
    ----------
    data_path, scheme_path, analysis_path, lang, pseudonymize, year, half, mc_draws
        The notebook parameters (see :func:`resolve_settings`).

    Returns
    -------
    ipywidgets.Widget
        The dashboard, or an error panel (problems table, no traceback) when loading fails.
    """
    w = _widgets()
    _route_logs()
    lang_first = "ko"
    try:
        settings = resolve_settings(data_path, scheme_path, analysis_path, lang, pseudonymize, year, half, mc_draws)
        lang_first = settings.lang
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            t0 = time.perf_counter()
            ctx = build_context(settings)
            app = DashboardApp(ctx)
            app.update_link()
            _follow_request(app.apply_query)
            log.info("%s: dashboard ready in %.1f s (data %s)", READY_MARK, time.perf_counter() - t0, ctx.data.source)
            return app.root
    except BSCError as exc:
        log.warning("%s: dashboard shows a data error: %s", READY_MARK, exc)
        _follow_request(None)
        return w.VBox([w.HTML(CSS), w.HTML(error_html(exc, lang_first))]).add_class("bsc-dash")
    except Exception as exc:  # noqa: BLE001 - the page shows a message, the server log the traceback
        log.exception("%s: dashboard shows an unexpected error", READY_MARK)
        _follow_request(None)
        return w.VBox([w.HTML(CSS), w.HTML(error_html(exc, lang_first))]).add_class("bsc-dash")


# ============================================================================ serving
#: The Voila template: Voila's ``lab`` template without its CDN stylesheet (font-awesome).
TEMPLATE_INDEX = """{%- extends 'voila/templates/lab/index.html.j2' -%}
{% import "spinner.macro.html.j2" as spinner %}
{%- block notebook_css -%}
  {% if frontend == "voila" %}
    {{ resources.include_js("static/voila-style.js") }}
  {% endif %}
  {{ spinner.css() }}
  <style>
    .jp-mod-noOutputs.jp-mod-noInput { display: none; }
    body { font-family: "Noto Sans CJK KR", "Noto Sans KR", "Malgun Gothic", sans-serif; }
    #rendered_cells { padding: 8px 18px; }
    a.anchor-link { display: none; }
    .jp-Collapser { display: none; }
    /* the notebook's own title cell: the app has its own header (and a language switch) */
    .jp-MarkdownCell { display: none; }
  </style>
  {{ resources.include_css("static/index.css") }}
  {% if resources.theme == 'dark' %}
    {{ resources.include_css("static/theme-dark.css") }}
  {% elif resources.theme == 'light' %}
    {{ resources.include_css("static/theme-light.css") }}
  {% else %}
    {{ resources.include_lab_theme(resources.theme) }}
  {% endif %}
{%- endblock notebook_css -%}
{%- block html_head_js_mermaidjs -%}
{%- endblock html_head_js_mermaidjs -%}
"""


def write_template(root: str | Path) -> Path:
    """Write the ``bsc-dashboard`` Voila template under ``root/voila/templates/`` (a Jupyter data dir).

    Returns
    -------
    pathlib.Path
        The template directory.
    """
    d = Path(root) / "voila" / "templates" / TEMPLATE_NAME
    d.mkdir(parents=True, exist_ok=True)
    (d / "conf.json").write_text(json.dumps({"base_template": "lab"}), encoding="utf-8")
    (d / "index.html.j2").write_text(TEMPLATE_INDEX, encoding="utf-8")
    return d


def voila_command(notebook: str | Path, port: int, *, timeout: int = 300, python: str | None = None,
                  max_viewers: int = DEFAULT_MAX_VIEWERS, grace: float = DEFAULT_GRACE_S,
                  busy_page: str | Path | None = None) -> list[str]:
    """The server command line of :func:`serve`: Voila with bounded resources.

    :mod:`bsc_lib.present.dashboard_server` (Voila plus a cap of ``max_viewers`` concurrent
    viewers with a busy page beyond it, shutdown of kernels whose page has been disconnected for
    ``grace`` seconds, and a preheated pool of up to ``max_viewers`` kernels). Loopback only, no
    browser, sources stripped, no tracebacks, the ``bsc-dashboard`` template, no port fallback (a
    busy port is an error), Voila's default file allowlist (images only) and denylist
    (notebooks, ``.py``).
    """
    return [
        python or sys.executable, "-m", "bsc_lib.present.dashboard_server", str(notebook),
        f"--max-viewers={int(max_viewers)}", f"--grace={float(grace):g}",
        *([f"--busy-page={busy_page}"] if busy_page else []),
        f"--port={int(port)}", "--Voila.ip=127.0.0.1", "--Voila.port_retries=0", "--no-browser",
        "--preheat_kernel=True", f"--pool_size={int(max_viewers)}", "--strip_sources=True",
        "--show_tracebacks=False", f"--template={TEMPLATE_NAME}", "--theme=light",
        f"--VoilaExecutor.timeout={int(timeout)}",
        # backstop only: idle kernels without any connection after 30 minutes (the server's own
        # reaper shuts down disconnected pages' kernels after `grace` seconds)
        "--MappingKernelManager.cull_idle_timeout=1800", "--MappingKernelManager.cull_interval=300",
    ]


def dashboard_env(data: str | None, scheme: str | None, show_names: bool, jupyter_path: str | Path,
                  base: Mapping[str, str] | None = None, lang: str | None = None) -> dict[str, str]:
    """The environment of the Voila process (and so of its kernels).

    Paths are resolved here (current directory first, then the repository root) because the
    kernel runs in ``notebooks/``.
    """
    from bsc_lib.config.paths import resolve

    env = allocator.child_env(base)  # the C allocator settings of bsc_lib.allocator
    for key, value in ((ENV_DATA, data), (ENV_SCHEME, scheme)):
        if value:
            env[key] = str(resolve(value))
        else:
            env.pop(key, None)
    env[ENV_SHOW_NAMES] = "1" if show_names else "0"
    if lang:
        env[ENV_LANG] = lang
    prev = env.get("JUPYTER_PATH", "")
    env["JUPYTER_PATH"] = str(jupyter_path) + (os.pathsep + prev if prev else "")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def startup_check(data: str | None = None, scheme: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    """Load and validate the scheme, analysis settings and data the kernels will use (``bsc dashboard``).

    The same resolution as the kernels (:func:`resolve_settings` over ``environ`` with
    ``data``/``scheme`` given first), so a bad dataset or scheme stops the launch with the problem
    table instead of reaching the audience.

    Returns
    -------
    str
        A one-line summary (``source: N institutions, M departments, K KPIs``).

    Raises
    ------
    BSCError
        The problems (file, sheet, row, column, rule) of the scheme, settings or data.
    """
    from bsc_lib.config.analysis_params import load_analysis_params
    from bsc_lib.config.paths import resolve
    from bsc_lib.config.scheme import load_scheme
    from bsc_lib.data.io import load

    st = resolve_settings(data_path=data or "", scheme_path=scheme or "", environ=environ)
    sch = load_scheme(resolve(st.scheme_path))
    na = load_analysis_params(resolve(st.analysis_path)).input.na_as_missing
    d = load(resolve(st.data_path), scheme=sch, na_as_missing=na)
    return (f"{dataset_name(d.source)}: {len(d.institutions):,} institutions, {len(d.departments):,} departments, "
            f"{len(d.kpis):,} KPIs; scheme {sch.scheme_id}")


def dataset_name(source) -> str:
    """What the audience sees of a dataset: its folder or file name, never the server's path."""
    p = Path(str(source))
    return p.name or str(source)


class _Stop(Exception):
    """Raised by the signal handlers of :func:`serve`."""


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", int(port)))
        except OSError:
            return False
    return True


def _wait_listening(port: int, proc: subprocess.Popen, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.settimeout(0.5)
            if s.connect_ex(("127.0.0.1", int(port))) == 0:
                return True
        time.sleep(0.2)
    return False


def serve(data: str | None = None, scheme: str | None = None, port: int = DEFAULT_PORT, show_names: bool = False,
          lang: str | None = None, notebook: str | Path = NOTEBOOK, startup_timeout: float = 120.0,
          stream=None, max_viewers: int = DEFAULT_MAX_VIEWERS, grace: float = DEFAULT_GRACE_S) -> int:
    """Run the dashboard with Voila until Ctrl-C (``bsc dashboard``).

    Parameters
    ----------
    data, scheme
        Data folder/workbook and scheme YAML (``None``: the defaults of the notebook).
    port
        Loopback port (``127.0.0.1``); a busy port is an error, not a silent fallback.
    show_names
        Show managers' names instead of pseudonyms.
    lang
        Initial language (``ko``/``en``).
    notebook
        The Voila notebook.
    startup_timeout
        Seconds to wait for the server to listen.
    stream
        Where the URL and messages go (default ``sys.stdout``).
    max_viewers
        Concurrent viewers before the busy page (and the size of the preheated pool).
    grace
        Seconds a page may stay disconnected before its kernel is shut down.

    Returns
    -------
    int
        0 after a clean stop (Ctrl-C or SIGTERM), 1 when the server could not start or died.

    Raises
    ------
    BSCError
        From :func:`startup_check`, before anything is started: the data or scheme is invalid.
    """
    out = stream or sys.stdout
    summary = startup_check(data, scheme)  # raises BSCError: the CLI prints the problem table, exit 2
    print(f"checked: {summary}", file=out, flush=True)
    if not Path(notebook).is_file():
        print(f"error: dashboard notebook not found: {notebook}", file=sys.stderr)
        return 1
    if not _port_free(port):
        print(f"error: port {port} on 127.0.0.1 is in use; choose another with --port", file=sys.stderr)
        return 1
    tmp = tempfile.mkdtemp(prefix="bsc-dashboard-")
    proc = None
    main_thread = threading.current_thread() is threading.main_thread()
    previous = ({sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)} if main_thread else {})
    previous = {sig: h for sig, h in previous.items() if h is not None}

    def _stop(signum, _frame):
        raise _Stop(signum)

    try:
        for sig in previous:  # Ctrl-C and SIGTERM stop the server cleanly, also when started in the background
            signal.signal(sig, _stop)
        write_template(tmp)
        env = dashboard_env(data, scheme, show_names, tmp, lang=lang)
        busy = Path(tmp) / "busy.html"
        busy.write_text(busy_html(max_viewers), encoding="utf-8")
        cmd = voila_command(notebook, port, max_viewers=max_viewers, grace=grace, busy_page=busy)
        log.info("starting: %s", " ".join(cmd))
        proc = subprocess.Popen(cmd, env=env, cwd=str(_paths.base_dir()))
        url = f"http://127.0.0.1:{int(port)}/"
        if not _wait_listening(port, proc, startup_timeout):
            print(f"error: the dashboard server did not start (see the messages above); URL would be {url}",
                  file=sys.stderr)
            return 1
        print(f"dashboard: {url}  (Ctrl-C to stop; up to {int(max_viewers)} viewers at a time)", file=out,
              flush=True)
        rc = proc.wait()
        return 0 if rc in (0, -signal.SIGINT, -signal.SIGTERM) else 1
    except (KeyboardInterrupt, _Stop):
        print("stopping the dashboard ...", file=out, flush=True)
        return 0
    finally:
        for sig in previous:  # no second interruption while Voila shuts its kernels down
            signal.signal(sig, signal.SIG_IGN)
        try:
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)
            shutil.rmtree(tmp, ignore_errors=True)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


# ============================================================================ scheme comparison tab (issue 16)
ENV_COMPARE_SCHEME = "BSC_COMPARE_SCHEME"


class ComparePanel(_Panel):
    """Scheme comparison: the same data under the dashboard's scheme (A) and another scheme (B).

    B is chosen from the ``params/scheme-*.yaml`` files other than A (``$BSC_COMPARE_SCHEME``
    first when set). Tables come from the ``compare_*`` producers
    (:mod:`bsc_lib.analyses.recipes`); a scheme B that does not load, or data that does not fit
    it, shows the problem table.
    """

    tab_key = "tab_compare"

    def _candidates(self) -> list[str]:
        from bsc_lib.config.paths import params_dir, resolve

        current = resolve(self.ctx.settings.scheme_path).resolve()
        found = [str(p) for p in sorted(params_dir().glob("scheme-*.yaml")) if p.resolve() != current]
        env = os.environ.get(ENV_COMPARE_SCHEME, "")
        if env:
            env = str(resolve(env))
            found = [env, *[f for f in found if f != env]]
        return found

    def build(self) -> None:
        w = _widgets()
        t = _compare_text(self.lang)
        self.pick = w.Dropdown(options=[(Path(p).name, p) for p in self._candidates()], description="B",
                               layout={"width": "420px"})
        self.level = w.ToggleButtons(options=[(label("institutional", self.lang), "institutional")], layout={"width": "auto"})
        self.changed_only = w.Checkbox(value=True, description=t["changed_only"], indent=False)
        self.head = w.HTML()
        self.fig = w.Output()
        self.fig_tr = w.Output(layout={"width": "40%"})
        self.table = w.HTML(layout={"width": "60%"}).add_class("bsc-compare-table")
        self.shifts = w.HTML().add_class("bsc-compare-shifts")
        self.disc = w.HTML().add_class("bsc-compare-disc")
        self.box.children = [w.HBox([self.pick, self.level, self.changed_only]), self.head,
                             w.HBox([self.fig_tr, self.table]), self.fig, self.shifts, self.disc]
        self._relabel_level()
        for wid in (self.pick, self.level, self.changed_only):
            wid.observe(self._changed, "value")

    def _relabel_level(self) -> None:
        self._muted = True
        try:
            old = self.level.value
            self.level.options = [(label("institutional", self.lang), "institutional"),
                                  (text("departments", self.lang), "department")]
            self.level.value = old or "institutional"
            self.changed_only.description = _compare_text(self.lang)["changed_only"]
        finally:
            self._muted = False

    def relabel(self) -> None:
        self._relabel_level()

    def _changed(self, _change) -> None:
        if not self._muted:
            self.render()

    def _recipes(self, path: str):
        from bsc_lib.analyses.recipes import Recipes
        from bsc_lib.config.paths import resolve
        from bsc_lib.data.io import load
        from bsc_lib.runs.planning import _scheme, _tag

        key = ("compare", path)
        if key not in self.ctx._cache:
            b = _scheme(path, "scheme B")
            try:
                load(resolve(self.ctx.settings.data_path), scheme=b,
                     na_as_missing=self.ctx.analysis.input.na_as_missing)
            except BSCError as exc:
                raise type(exc)([_tag(p, f"under scheme B ({Path(path).name})") for p in exc.problems]) from None
            self.ctx._cache[key] = Recipes(self.ctx.data, self.ctx.scheme, self.ctx.analysis, self.ctx.year,
                                           self.ctx.half, compare_scheme=b)
        return self.ctx._cache[key]

    def render(self) -> None:
        from bsc_lib.present import planning_plots

        lang, t = self.lang, _compare_text(self.lang)
        for out in (self.fig, self.fig_tr):
            _show_figures(out)
        self.table.value = self.shifts.value = self.disc.value = ""
        if not self.pick.value:
            self.head.value = f'<p class="bsc-note">{html.escape(t["none"])}</p>'
            return
        try:
            r = self._recipes(self.pick.value)
            units = r["compare_units"]
        except BSCError as exc:
            self.head.value = error_html(exc, lang)
            return
        a, b = r.scheme, r.compare_scheme
        ta, tb = (a.title_ko, b.title_ko) if lang == "ko" else (a.title_en, b.title_en)
        inst, dept = units[units["evaluation"] == "institutional"], units[units["evaluation"] == "department"]
        d = r.planning.compare.decimals
        self.head.value = (f"<h3>{html.escape(t['title'].format(a=ta, b=tb))}</h3><p>{html.escape(t['intro'].format(d=d))}"
                           f"</p><p><b>{html.escape(t['headline'].format(ni=len(inst), gi=int(inst['grade_changed'].sum()), nd=len(dept), gd=int(dept['grade_changed'].sum()), mi=inst['delta'].mean(), md=dept['delta'].mean()))}</b></p>")
        ev = self.level.value
        u = units[units["evaluation"] == ev]
        shown = u[u["grade_changed"]] if self.changed_only.value else u
        shown = shown.assign(name=shown["unit_id"].map(lambda x: self.ctx.unit_name(x, lang)),
                             typ=shown["inst_type"].map(lambda v: label(v, lang)))
        cols = [("name", t["name"], "text"), ("typ", text("group", lang), "text"),
                ("total_a", label("total_a", lang), "points"), ("total_b", label("total_b", lang), "points"),
                ("delta", label("delta", lang), "points"), ("rank_a", label("rank_a", lang), "num"),
                ("rank_b", label("rank_b", lang), "num"), ("grade_a", label("grade_a", lang), "grade"),
                ("grade_b", label("grade_b", lang), "grade")]
        self.table.value = html_table(shown.head(60), cols, lang=lang)
        _show_figures(self.fig_tr, planning_plots.transition_heatmap(r["compare_transitions"], ev, lang))
        names = pd.Series({x: self.ctx.unit_name(x, lang) for x in u["unit_id"]})
        _show_figures(self.fig, planning_plots.contribution_bars(r["compare_contributions"], units, ev, lang,
                                                                 top=30 if ev == "department" else None, names=names))
        sh = r["compare_shifts"]
        sh = sh[sh["evaluation"] == ev].assign(typ=lambda x: x["inst_type"].map(lambda v: label(v, lang)))
        scols = [("typ", text("group", lang), "text"), ("n_units", text("n", lang), "num"),
                 ("mean_delta", label("mean_delta", lang), "points"), ("sd_delta", label("sd_delta", lang), "points"),
                 ("mean_rank_change", label("mean_rank_change", lang), "num"),
                 ("n_grade_up", label("n_grade_up", lang), "num"), ("n_grade_down", label("n_grade_down", lang), "num"),
                 ("kw_p", label("kw_p", lang), "num")]
        self.shifts.value = f"<h3>{html.escape(t['shifts'])}</h3>" + html_table(sh, scols)
        dc = r["compare_discrimination"]
        dc = dc[dc["evaluation"] == ev].assign(comp=lambda x: x["component"].map(lambda v: label(v, lang)))
        dcols = [("scheme", label("scheme", lang), "text"), ("comp", text("component", lang), "text"),
                 ("n_distinct", text("n_distinct", lang), "num"),
                 ("largest_tie_share", text("largest_tie_share", lang), "pct"), ("cv", text("cv", lang), "pct")]
        self.disc.value = f"<h3>{html.escape(t['discrimination'])}</h3>" + html_table(dc, dcols)


def _compare_text(lang: str) -> dict[str, str]:
    from bsc_lib.present.labels import ui_text

    return ui_text("compare", lang)


DashboardApp.PANELS = (*DashboardApp.PANELS, ComparePanel)
