"""Batch feedback: one short, self-contained, offline HTML report per institution or department.

Design (``bsc feedback``):

1. the parent process loads and scores the data ONCE (:func:`bsc_lib.scoring.engine.evaluate`,
   :func:`bsc_lib.analyses.difficulty.kpi_difficulty`, :func:`bsc_lib.analyses.robustness.grade_boundaries`);
2. :func:`build_payloads` cuts the results into one small, picklable payload per unit (plain
   dicts and small DataFrames of raw values);
3. :func:`render_unit` turns a payload into an HTML string — a pure function, run in parallel
   by a pluggable executor (:mod:`bsc_lib.runs.executors`: local processes, in-process, or Dask);
4. the parent writes the files (workers never touch the file system, so remote Dask workers
   need no shared disk), :func:`render_index` lists every unit, and :func:`run_feedback`
   builds the run folder atomically with a ``manifest.json``.

Each unit report shows: the unit's total (two decimals, as the engine's totals are shown
everywhere), its components (points / max, the group median and the difference), rank and
grade in its group, "what moves its grade" (points to the next better / worse grade, the
components where it loses most against the group median), the KPI table (target, actual,
rate, status, a history sparkline 2015–2018 + target as inline SVG, difficulty badges from
:func:`bsc_lib.analyses.difficulty.kpi_difficulty`) and the engine's flags. No script, no external
URL (a Content-Security-Policy forbids any fetch), all data text HTML-escaped; people's
names are never read.

Groups. Institutions are ranked and graded within their group (``grading.group_by``:
``inst_type`` → 본청/사업소/독립기관, otherwise all institutions); departments within the
departments table (all departments, graded on ``total_pct``). An institution's report lists
the KPIs it owns and those of its departments (whose scores make its achievement under
``institution_from: departments_mean``) and the flags of both, as ``n_flags`` counts them.

Everything above the "run folder" section is pure; :func:`run_feedback` is the only function
here that reads or writes files.
"""

from __future__ import annotations

import functools
import hashlib
import html
import json
import logging
import math
import numbers
import sys
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from bsc_lib.errors import BSCError, Problem
from bsc_lib.present.labels import ui_text
from bsc_lib.present.report_html import FONT_FAMILY, external_references

if TYPE_CHECKING:  # the workers import only what rendering needs (no scipy, no scoring engine)
    from bsc_lib.config.scheme import Scheme
    from bsc_lib.data.model import BSCData
    from bsc_lib.scoring.engine import Results

log = logging.getLogger(__name__)

LEVELS = ("institution", "department")
LANGS = ("ko", "en")
HALVES = ("year", "H1", "H2")
#: Years of history shown in the sparkline: the four years before the evaluation year.
HISTORY_SPAN = 4
#: Components listed under "loses most against the group median".
N_LOSSES = 2
#: Version of the feedback manifest layout.
MANIFEST_SCHEMA_VERSION = 1
MANIFEST_NAME = "manifest.json"
INDEX_NAME = "index.html"
MISSING = "–"
#: Difficulty verdicts shown as badges, in display order.
DIFFICULTY_BADGES = ("easy", "regressive", "chronic_overachiever", "hard")

#: The feedback reports' strings by language (``feedback`` section of the one catalogue).
_TEXT: dict[str, dict[str, str]] = {lang: ui_text("feedback", lang) for lang in ("ko", "en")}

_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:; "
        "connect-src 'none'; base-uri 'none'; form-action 'none'; frame-src 'none'; object-src 'none'")

_CSS = """
:root{--ink:#1d2530;--muted:#5b6675;--rule:#d5dbe3;--accent:#1f4e8c;--good:#1b7a3a;--bad:#a23b2a;--warn:#8a6100}
*{box-sizing:border-box}
html{font-family:FONT;color:var(--ink);line-height:1.5}
body{margin:0;background:#fff}
.page{max-width:1000px;margin:0 auto;padding:20px 28px 48px}
h1{color:var(--accent);font-size:1.6em;margin:.2em 0 .1em;border-bottom:2px solid var(--accent);padding-bottom:.15em}
h2{color:var(--accent);font-size:1.2em;border-bottom:1px solid var(--rule);margin:1.6em 0 .5em}
p.sub,p.note,footer{color:var(--muted)}
p.note,footer{font-size:.85em}
dl.cards{display:flex;flex-wrap:wrap;gap:10px;margin:1em 0}
dl.cards div{border:1px solid var(--rule);border-radius:6px;padding:.4em .9em;min-width:120px}
dl.cards dt{color:var(--muted);font-size:.82em}
dl.cards dd{margin:0;font-size:1.35em;font-weight:700}
table{border-collapse:collapse;font-size:.86em;margin:.4em 0;width:100%}
th,td{border:1px solid var(--rule);padding:.22em .5em;vertical-align:middle}
thead th{background:#eef2f7;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr.sum td{font-weight:700}
.bar{background:#eef2f7;height:8px;border-radius:4px;min-width:70px}
.bar>span{display:block;height:8px;background:var(--accent);border-radius:4px}
.pos{color:var(--good)}.neg{color:var(--bad)}
.s-achieved{color:var(--good)}.s-caution{color:var(--warn)}.s-missed{color:var(--bad)}
.badge{display:inline-block;font-size:.78em;padding:0 .35em;border-radius:3px;margin:1px;border:1px solid currentColor;white-space:nowrap}
.b-easy,.b-regressive,.b-chronic_overachiever{color:var(--bad)}.b-hard{color:var(--good)}
.sev-warning{color:var(--bad)}.sev-info{color:var(--muted)}
ul.moves li{margin:.2em 0}
@media print{.page{max-width:none;padding:0}h2{break-after:avoid}tr{break-inside:avoid}}
""".replace("FONT", FONT_FAMILY)


class FeedbackFailed(BSCError):
    """A feedback run failed; ``run_dir`` is the ``…-FAILED`` folder (or ``None``)."""

    def __init__(self, problems: list[Problem] | str, run_dir: Path | None = None):
        super().__init__(problems)
        self.run_dir = run_dir


# ---------------------------------------------------------------------------------------------
# formatting helpers (numpy object arrays: one call per column, not per row)


def _e(x: object) -> str:
    """HTML-escaped text of one value (missing → empty string)."""
    if x is None or x is pd.NA or (isinstance(x, float) and math.isnan(x)):
        return ""
    return html.escape(str(x), quote=True)


def _fmt_one(v: object, spec: str) -> str:
    try:
        f = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return MISSING
    return format(f, spec) if math.isfinite(f) else MISSING


def _value_one(v: object) -> str:
    try:
        f = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return MISSING
    if not math.isfinite(f):
        return MISSING
    s = f"{f:,.2f}" if abs(f) >= 1 else f"{f:,.4f}"
    return s.rstrip("0").rstrip(".")


_ESC = np.frompyfunc(_e, 1, 1)
_FMT = np.frompyfunc(_fmt_one, 2, 1)
_VAL = np.frompyfunc(_value_one, 1, 1)


def _obj(a: object) -> np.ndarray:
    return np.asarray(a, dtype=object).reshape(-1)


def _esc(a: object) -> np.ndarray:
    """HTML-escaped texts (object array; missing → ``""``)."""
    return _ESC(_obj(a)).astype(object)


def _fmt(a: object, spec: str) -> np.ndarray:
    """``format(value, spec)`` of every finite number; anything else → :data:`MISSING`."""
    return _FMT(_obj(a), spec).astype(object)


def _fmt_value(a: object) -> np.ndarray:
    """Targets and actuals: thousands separators, 2 decimals (4 below 1), trailing zeros cut."""
    return _VAL(_obj(a)).astype(object)


def _float(a: object) -> np.ndarray:
    arr = np.asarray(a)
    if arr.dtype.kind in "fiub":
        return arr.astype("float64").reshape(-1)
    return pd.to_numeric(pd.Series(_obj(a)), errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def fmt_points(value: float) -> str:
    """Points as every report shows them: two decimals (``86.46``); missing → ``–``."""
    return _fmt_one(value, ".2f")


def _ceil2(x: float) -> float:
    """Round up to 0.01 (ignoring float noise below 1e-6 of a hundredth)."""
    return math.ceil(round(x * 100, 6)) / 100


def _floor2(x: float) -> float:
    return math.floor(round(x * 100, 6)) / 100


def _td(a: np.ndarray, cls: str = "") -> np.ndarray:
    return (f'<td class="{cls}">' if cls else "<td>") + _obj(a) + "</td>"


def _rows(cells: Sequence[np.ndarray]) -> str:
    row = functools.reduce(np.add, [_obj(c) for c in cells])
    return "".join(("<tr>" + row + "</tr>").tolist())


def _thead(headers: Sequence[str]) -> str:
    return "<thead><tr>" + "".join(f"<th>{_e(h)}</th>" for h in headers) + "</tr></thead>"


def _display_name(name_ko: pd.Series, name_en: pd.Series | None, lang: str) -> pd.Series:
    ko = name_ko.astype("object").where(name_ko.notna(), "").astype("str")
    if lang != "en" or name_en is None:
        return ko
    en = name_en.astype("object").where(name_en.notna(), "").astype("str").str.strip()
    return en.where(en != "", ko)


# ---------------------------------------------------------------------------------------------
# sparklines


def sparkline_svgs(values: np.ndarray | pd.DataFrame, labels: Sequence[str] | None = None, *,
                   width: int = 120, height: int = 28) -> np.ndarray:
    """Inline SVG sparklines: one per row, yearly actuals then the target in the last column.

    Parameters
    ----------
    values
        2-D numbers, one row per KPI: the first columns are yearly actuals (oldest first),
        the last column is the target; NaN = missing.
    labels
        One name per column for the SVG's ``<title>`` (escaped), e.g. ``["2015", …, "2019
        목표"]``; default: the DataFrame's column names or ``0, 1, …``.
    width, height
        Size in CSS pixels.

    Returns
    -------
    numpy.ndarray
        One string per row: an ``<svg>`` element (a line through the actuals, a dot per
        actual, a diamond for the target joined to the last actual by a dashed line, a
        ``<title>`` listing the values), or :data:`MISSING` when a row has no value. The y
        axis spans each row's own minimum to maximum (middle line when they are equal). No
        ``xmlns`` (inline SVG in HTML needs none), hence no URL at all.
    """
    if labels is None:
        labels = [str(c) for c in values.columns] if isinstance(values, pd.DataFrame) else None
    v = np.asarray(values, dtype="float64")
    if v.ndim != 2 or v.shape[1] < 1:
        raise ValueError(f"values must be 2-D with at least one column, got shape {v.shape}")
    n, m = v.shape
    labels = [str(x) for x in (labels if labels is not None else range(m))]
    if len(labels) != m:
        raise ValueError(f"labels: {len(labels)} given for {m} columns")
    if n == 0:
        return np.array([], dtype=object)
    pad = 4.0
    has = ~np.isnan(v)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        lo = np.nanmin(v, axis=1)
        hi = np.nanmax(v, axis=1)
    span = hi - lo
    flat = ~(span > 0)
    frac = np.where(flat[:, None], 0.5, (v - lo[:, None]) / np.where(flat, 1.0, span)[:, None])
    xs = pad + np.arange(m) * (width - 2 * pad) / max(m - 1, 1)
    ys = np.where(has, pad + (1.0 - frac) * (height - 2 * pad), 0.0)
    x_s = np.char.mod("%.1f", xs).astype(object)
    y_s = np.char.mod("%.1f", ys).astype(object)
    n_hist = m - 1
    line = np.full(n, "", dtype=object)
    dots = np.full(n, "", dtype=object)
    for j in range(n_hist):  # loop over the (4) year columns, vectorised over the KPIs
        pt = x_s[j] + "," + y_s[:, j]
        line = line + np.where(has[:, j], " " + pt, "")
        dots = dots + np.where(has[:, j], '<circle cx="' + x_s[j] + '" cy="' + y_s[:, j]
                               + '" r="1.8" fill="#1f4e8c"/>', "")
    poly = np.where(has[:, :n_hist].sum(axis=1) >= 2,
                    '<polyline points="' + np.char.strip(line.astype(str)).astype(object)
                    + '" fill="none" stroke="#1f4e8c" stroke-width="1.5"/>', "")
    rows = np.arange(n)
    if n_hist:
        rev = has[:, :n_hist][:, ::-1]
        any_hist = rev.any(axis=1)
        last = n_hist - 1 - rev.argmax(axis=1)
        lx, ly = x_s[last], y_s[rows, last]
    else:
        any_hist = np.zeros(n, dtype=bool)
        lx = ly = np.full(n, "", dtype=object)
    tx, has_t = xs[m - 1], has[:, m - 1]
    ty = ys[:, m - 1]
    dash = np.where(any_hist & has_t,
                    '<line x1="' + lx + '" y1="' + ly + '" x2="' + f"{tx:.1f}" + '" y2="' + y_s[:, m - 1]
                    + '" stroke="#a23b2a" stroke-width="1" stroke-dasharray="2,2"/>', "")
    d = 3.0
    up_s = np.char.mod("%.1f", ty - d).astype(object)
    down_s = np.char.mod("%.1f", ty + d).astype(object)
    diamond = np.where(has_t, '<polygon points="' + f"{tx:.1f}," + up_s + f" {tx + d:.1f}," + y_s[:, m - 1]
                       + f" {tx:.1f}," + down_s + f" {tx - d:.1f}," + y_s[:, m - 1]
                       + '" fill="#a23b2a"/>', "")
    title = np.full(n, "", dtype=object)
    for j, name in enumerate(labels):  # one pass per column
        title = title + ("" if j == 0 else " · ") + _e(name) + ": " + _fmt_value(v[:, j])
    svg = (f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
           'role="img"><title>' + title + "</title>" + poly + dash + dots + diamond + "</svg>")
    return np.where(has.any(axis=1), svg, MISSING).astype(object)


# ---------------------------------------------------------------------------------------------
# payloads (parent side)


def _check_args(level: str, lang: str) -> None:
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, got {level!r}")
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {LANGS}, got {lang!r}")


def _data_hash(input_hashes: Mapping[str, str]) -> str:
    if not input_hashes:
        return MISSING
    blob = json.dumps(dict(sorted(input_hashes.items())), sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def _labels(s: pd.Series, lang: str) -> pd.Series:
    """:func:`bsc_lib.present.labels.label` of every code (looked up once per distinct code)."""
    from bsc_lib.present.labels import label

    codes = s.astype("object").where(s.notna(), "").astype("str")
    table = {c: label(c, lang) if c else MISSING for c in codes.unique()}
    return codes.map(table)


def _units_frame(data: BSCData, results: Results, level: str, lang: str) -> pd.DataFrame:
    """One row per unit: ids, display names, group, total, grade, rank, group size."""
    t = _TEXT[lang]
    g = results.params.get("grading", {})
    if level == "institution":
        src = results.institutional
        grouped = g.get("group_by") == "inst_type"
        comps = results.params["component_order"]["institutional"]
        max_total = float(sum(results.params["evaluations"]["institutional"][c] for c in comps)) if comps else 100.0
        u = pd.DataFrame({
            "unit_id": src["institution_id"].astype("str"),
            "name": _display_name(src["name_ko"], src.get("name_en"), lang),
            "institution": "",
            "group": src["inst_type"].astype("str") if grouped else "all",
            "total": pd.to_numeric(src["total"], errors="coerce"),
            "max_total": max_total,
            "score": pd.to_numeric(src["total"], errors="coerce"),
            "deductions": pd.to_numeric(src["deductions"], errors="coerce"),
            "grade": src["grade"],
            "rank": src["rank_in_group"] if grouped else src["rank_overall"],
            "rank_overall": src["rank_overall"],
            "n_flags": src["n_flags"],
        })
        u["group_label"] = _labels(u["group"], lang) if grouped else t["group_all_inst"]
    else:
        src = results.departments
        inst = data.institutions
        inst_name = pd.Series(_display_name(inst["name_ko"], inst.get("name_en"), lang).to_numpy(),
                              index=inst["institution_id"].astype("str"))
        u = pd.DataFrame({
            "unit_id": src["department_id"].astype("str"),
            "name": _display_name(src["name_ko"], src.get("name_en"), lang),
            "institution": src["institution_id"].astype("str").map(inst_name).fillna(""),
            "group": "all",
            "total": pd.to_numeric(src["total"], errors="coerce"),
            "max_total": pd.to_numeric(src["max_total"], errors="coerce"),
            "score": pd.to_numeric(src["total_pct"], errors="coerce"),
            "deductions": pd.to_numeric(src["deductions"], errors="coerce"),
            "grade": src["grade"],
            "rank": src["rank_overall"], "rank_overall": src["rank_overall"],
            "n_flags": src["n_flags"],
        })
        u["group_label"] = t["group_all_dept"]
    u["grade"] = u["grade"].astype("object").where(u["grade"].notna(), None)
    u["rank"] = pd.to_numeric(u["rank"], errors="coerce").astype("Int64")
    u["rank_overall"] = pd.to_numeric(u["rank_overall"], errors="coerce").astype("Int64")
    u["n_flags"] = pd.to_numeric(u["n_flags"], errors="coerce").fillna(0).astype("int64")
    u["group_size"] = u["group"].map(u.loc[u["rank"].notna()].groupby("group").size()).fillna(0).astype("int64")
    u["n_overall"] = int(u["rank_overall"].notna().sum())
    return u.reset_index(drop=True)


def _component_frame(results: Results, u: pd.DataFrame, level: str, lang: str) -> pd.DataFrame:
    ev = "institutional" if level == "institution" else "department"
    c = results.components.loc[results.components["evaluation"] == ev,
                               ["unit_id", "component", "points", "max_points"]]
    c = c.astype({"unit_id": "str"}).merge(u[["unit_id", "group"]], on="unit_id", how="inner")
    c["median"] = c.groupby(["group", "component"])["points"].transform("median")
    c["diff"] = c["points"] - c["median"]
    order_key = "institutional" if level == "institution" else "department"
    order = {name: i for i, name in enumerate(results.params["component_order"][order_key])}
    c["_o"] = c["component"].map(order).fillna(len(order))
    c["label"] = _labels(c["component"], lang)
    c = c.sort_values(["unit_id", "_o"], kind="stable").drop(columns=["_o", "group"])
    return c.reset_index(drop=True)


def _kpi_frame(data: BSCData, results: Results, kpi_diff: pd.DataFrame, names: pd.DataFrame,
               level: str, lang: str) -> pd.DataFrame:
    k = results.kpi.astype({"kpi_id": "str", "owner_id": "str"})
    meta = data.kpis[["kpi_id", "name_ko", "unit"]].astype({"kpi_id": "str"})
    k = k.merge(meta, on="kpi_id", how="left")
    dcols = [c for c in ("target", *DIFFICULTY_BADGES) if c in kpi_diff.columns]
    d = (kpi_diff[["kpi_id", *dcols]].astype({"kpi_id": "str"}).rename(columns={"target": "annual_target"})
         .drop_duplicates("kpi_id"))
    k = k.merge(d, on="kpi_id", how="left")
    for b in DIFFICULTY_BADGES:
        k[b] = k[b].astype("object").where(k[b].notna(), False).astype(bool) if b in k.columns else False
    if "annual_target" not in k.columns:
        k["annual_target"] = np.nan
    nm = names.set_index("unit_id")
    k["owner_name"] = k["owner_id"].map(nm["display"]).fillna(k["owner_id"])
    if level == "institution":
        k["report_unit"] = k["owner_id"].map(nm["institution_id"]).fillna(k["owner_id"])
        k["own"] = k["owner_id"] == k["report_unit"]
    else:
        k["report_unit"] = k["owner_id"]
        k["own"] = True
    k["status_label"] = _labels(k["status"], lang)
    k["half_label"] = _labels(k["half"], lang)
    k = k.sort_values(["report_unit", "own", "owner_id", "kpi_id", "half"],
                      ascending=[True, False, True, True, True], kind="stable")
    return k.reset_index(drop=True)


def _history_matrix(data: BSCData, kpis: pd.DataFrame, year: int) -> tuple[list[int], pd.DataFrame]:
    """Actuals of the :data:`HISTORY_SPAN` years before ``year`` and the annual target, per KPI."""
    years = list(range(year - HISTORY_SPAN, year))
    h = data.kpi_history
    h = h.loc[h["year"].isin(years), ["kpi_id", "year", "actual"]].astype({"kpi_id": "str"})
    ids = pd.Index(kpis["kpi_id"].unique(), name="kpi_id")
    wide = h.pivot_table(index="kpi_id", columns="year", values="actual", aggfunc="mean")
    wide = wide.reindex(index=ids, columns=years)
    wide["target"] = kpis.drop_duplicates("kpi_id").set_index("kpi_id")["annual_target"].reindex(ids)
    return years, wide


def _flag_frame(results: Results, names: pd.DataFrame, level: str, lang: str) -> pd.DataFrame:
    f = results.flags.astype({"unit_id": "str"})
    nm = names.set_index("unit_id")
    if level == "institution":
        f = f.assign(report_unit=f["unit_id"].map(nm["institution_id"]))
    else:
        f = f.assign(report_unit=f["unit_id"].where(f["unit_id"].map(nm["level"]) == "department"))
    f = f.loc[f["report_unit"].notna()]
    f = f.assign(unit_name=f["unit_id"].map(nm["display"]).fillna(f["unit_id"]),
                 component_label=_labels(f["component"], lang), flag_label=_labels(f["flag"], lang),
                 severity_label=f["severity"].map(_TEXT[lang]).fillna(f["severity"]),
                 _w=(f["severity"] != "warning").astype(int))
    f = f.sort_values(["report_unit", "_w", "unit_id", "component", "item", "half", "flag"], kind="stable")
    return f.drop(columns="_w").reset_index(drop=True)


def _columns(frame: pd.DataFrame, cols: Sequence[str]) -> dict[str, np.ndarray]:
    """Plain numpy columns (floats as float64 with NaN, texts as objects)."""
    out = {}
    for c in cols:
        s = frame[c]
        if pd.api.types.is_bool_dtype(s):
            out[c] = s.to_numpy(dtype=bool)
        elif pd.api.types.is_numeric_dtype(s):
            out[c] = s.to_numpy(dtype="float64", na_value=np.nan)
        else:
            out[c] = s.astype("object").where(s.notna(), None).to_numpy(dtype=object)
    return out


def _take(cols: Mapping[str, np.ndarray], pos: np.ndarray) -> dict[str, np.ndarray]:
    return {c: a[pos] for c, a in cols.items()}


KPI_PAYLOAD_COLUMNS = ["kpi_id", "name_ko", "unit", "owner_id", "owner_name", "own", "half", "half_label",
                       "weight", "target", "actual", "rate", "capped_rate", "status", "status_label", "flag",
                       "points", "annual_target", *DIFFICULTY_BADGES]
FLAG_PAYLOAD_COLUMNS = ["unit_id", "unit_name", "component", "component_label", "item", "flag", "flag_label",
                        "detail", "half", "severity", "severity_label"]
COMPONENT_PAYLOAD_COLUMNS = ["component", "label", "points", "max_points", "median", "diff"]


def build_payloads(data: BSCData, scheme: Scheme, results: Results, kpi_diff: pd.DataFrame, *,
                   level: str = "institution", lang: str = "ko",
                   boundaries: pd.DataFrame | None = None) -> list[dict[str, Any]]:
    """One small, picklable payload per unit, for :func:`render_unit`.

    Parameters
    ----------
    data
        The dataset that was scored (names, KPI names and units, KPI history).
    scheme
        The scheme used (title).
    results
        :func:`bsc_lib.scoring.engine.evaluate` of ``data``.
    kpi_diff
        :func:`bsc_lib.analyses.difficulty.kpi_difficulty` of ``data`` (columns ``kpi_id``, ``target``
        and the verdicts ``easy``, ``regressive``, ``chronic_overachiever``, ``hard``;
        missing verdict columns count as ``False``).
    level
        ``"institution"`` (one report per institution) or ``"department"``.
    lang
        ``"ko"`` or ``"en"`` (names: ``name_en`` when given, else ``name_ko``).
    boundaries
        The run's grade boundaries of the level (:mod:`bsc_lib.analyses.recipes` tables
        ``grade_boundaries`` / ``department_grade_boundaries``); ``None`` = made by the same
        function (:func:`bsc_lib.analyses.recipes.boundaries_of`).

    Returns
    -------
    list of dict
        In display order (total descending, then id). Scalars: ``unit_id``, ``level``,
        ``lang``, ``name``, ``institution`` (department reports), ``group``,
        ``group_label``, ``total``, ``max_total``, ``deductions``, ``grade``, ``rank``,
        ``group_size``, ``rank_overall``, ``n_overall``, ``n_flags``; ``boundary`` (dict
        ``next_better_grade``, ``points_to_next_better``, ``next_worse_grade``,
        ``points_to_next_worse``); column dicts of numpy arrays: ``components``
        (:data:`COMPONENT_PAYLOAD_COLUMNS`: points, max, group median, difference),
        ``kpis`` (:data:`KPI_PAYLOAD_COLUMNS`, one row per KPI and half, a KPI's rows
        adjacent) and ``flags`` (:data:`FLAG_PAYLOAD_COLUMNS`); ``history`` (dict ``years``
        and ``values``: one row per distinct KPI of ``kpis`` in order, the actuals of the
        four years before ``year`` and the annual target); ``meta`` (``year``, ``half``,
        ``period``, ``scheme_title``, ``scheme_id``, ``data_hash``, ``badge_labels``).
        People (and their names) are never read.

    Raises
    ------
    ValueError
        Unknown ``level`` or ``lang``; ``kpi_diff`` without a ``kpi_id`` column.
    """
    from bsc_lib.analyses.recipes import boundaries_of
    from bsc_lib.data.describe import unit_names
    from bsc_lib.present.labels import label, period_label

    _check_args(level, lang)
    data = data.plain("institutions", "departments", "kpis", "kpi_history")  # names and KPI rows are shown
    if not isinstance(kpi_diff, pd.DataFrame) or "kpi_id" not in kpi_diff.columns:
        raise ValueError("kpi_diff: expected the DataFrame of difficulty.kpi_difficulty with a 'kpi_id' column")
    year = int(results.year)
    names = unit_names(data).astype({"unit_id": "str", "institution_id": "str"})
    names["display"] = _display_name(names["name_ko"], names["name_en"], lang)

    u = _units_frame(data, results, level, lang)
    if boundaries is None:
        boundaries = boundaries_of(results, scheme.grading, level)
    cols = ["next_better_grade", "points_to_next_better", "next_worse_grade", "points_to_next_worse"]
    bounds = boundaries.set_index(boundaries["unit_id"].astype("str"))[cols].reindex(u["unit_id"])
    bounds = bounds.astype("object").where(bounds.notna(), np.nan).set_axis(u.index)
    comps = _component_frame(results, u, level, lang)
    kpis = _kpi_frame(data, results, kpi_diff, names, level, lang)
    years, hist = _history_matrix(data, kpis, year)
    kpis["hist_row"] = hist.index.get_indexer(kpis["kpi_id"])
    hist_values = hist.to_numpy(dtype="float64", na_value=np.nan)
    flags = _flag_frame(results, names, level, lang)

    comp_cols = _columns(comps, COMPONENT_PAYLOAD_COLUMNS)
    kpi_cols = _columns(kpis, KPI_PAYLOAD_COLUMNS)
    kpi_hist_row = kpis["hist_row"].to_numpy()
    kpi_ids = kpis["kpi_id"].to_numpy(dtype=object)
    flag_cols = _columns(flags, FLAG_PAYLOAD_COLUMNS)
    comp_idx = comps.groupby("unit_id", sort=False).indices
    kpi_idx = kpis.groupby("report_unit", sort=False).indices
    flag_idx = flags.groupby("report_unit", sort=False).indices
    empty = np.array([], dtype=np.int64)
    meta = {
        "year": year, "half": results.half, "period": period_label(results.half, lang),
        "scheme_title": scheme.title_ko if lang == "ko" else scheme.title_en,
        "scheme_id": scheme.scheme_id, "data_hash": _data_hash(getattr(data, "input_hashes", {}) or {}),
        "badge_labels": {b: label(b, lang) for b in DIFFICULTY_BADGES},
    }
    units = u.assign(**{c: bounds[c] for c in bounds.columns}).to_dict("records")
    payloads: list[dict[str, Any]] = []
    for rec in units:  # one payload per unit (45 / 248): numpy slices, no per-row work
        uid = rec["unit_id"]
        kpos = kpi_idx.get(uid, empty)
        first = np.r_[True, kpi_ids[kpos][1:] != kpi_ids[kpos][:-1]] if len(kpos) else np.array([], dtype=bool)
        payloads.append({
            "unit_id": uid, "level": level, "lang": lang, "name": rec["name"],
            "institution": rec["institution"], "group": rec["group"], "group_label": rec["group_label"],
            "total": _scalar(rec["total"]), "max_total": _scalar(rec["max_total"]),
            "deductions": _scalar(rec["deductions"]) or 0.0,
            "grade": rec["grade"],
            "rank": int(rec["rank"]) if pd.notna(rec["rank"]) else None,
            "group_size": int(rec["group_size"]),
            "rank_overall": int(rec["rank_overall"]) if pd.notna(rec["rank_overall"]) else None,
            "n_overall": int(rec["n_overall"]), "n_flags": int(rec["n_flags"]),
            "boundary": {c: (_scalar(rec[c]) if c.startswith("points") else
                             (str(rec[c]) if isinstance(rec[c], str) else None)) for c in bounds.columns},
            "components": _take(comp_cols, comp_idx.get(uid, empty)),
            "kpis": _take(kpi_cols, kpos),
            "history": {"years": years, "values": hist_values[kpi_hist_row[kpos][first]]},
            "flags": _take(flag_cols, flag_idx.get(uid, empty)),
            "meta": meta,
        })
    log.info("feedback payloads: %d %s units, %d KPI rows, %d flags", len(payloads), level, len(kpis), len(flags))
    return payloads


def _scalar(x: object) -> float | None:
    try:
        f = float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


# ---------------------------------------------------------------------------------------------
# rendering (worker side; pure)


def _document(title: str, body: str, lang: str) -> str:
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="{lang}">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{html.escape(_CSP)}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="generator" content="bsc-workbench feedback">\n'
        '<meta name="referrer" content="no-referrer">\n'
        f"<title>{_e(title)}</title>\n<style>{_CSS}</style>\n</head>\n"
        f'<body>\n<div class="page">\n{body}\n</div>\n</body>\n</html>\n')


def _rank_text(rank: int | None, size: int) -> str:
    return MISSING if rank is None else f"{rank} / {size}"


def _components_html(p: Mapping[str, Any], t: Mapping[str, str]) -> str:
    c = p["components"]
    if not len(c["component"]):
        return f"<p>{MISSING}</p>"
    pts, mx, diff = _float(c["points"]), _float(c["max_points"]), _float(c["diff"])
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.clip(np.where(mx > 0, pts / mx, np.nan), 0, 1)
    width = np.where(np.isnan(share), "0", _fmt(share * 100, ".1f"))
    bar = '<div class="bar"><span style="width:' + width.astype(object) + '%"></span></div>'
    diff_cls = np.where(diff < 0, "n neg", np.where(diff > 0, "n pos", "n")).astype(object)
    rows = _rows([
        _td(_esc(c["label"])), _td(_fmt(pts, ".2f"), "n"), _td(_fmt(mx, "g"), "n"), _td(bar),
        _td(_fmt(c["median"], ".2f"), "n"), '<td class="' + diff_cls + '">' + _fmt(diff, "+.2f") + "</td>",
    ])
    extra = ""
    if p["deductions"]:
        extra += (f'<tr><td>{_e(t["deductions"])}</td><td class="n neg">{-p["deductions"]:.2f}</td>'
                  "<td></td><td></td><td></td><td></td></tr>")
    extra += (f'<tr class="sum"><td>{_e(t["total"])}</td><td class="n">{fmt_points(p["total"])}</td>'
              f'<td class="n">{_fmt_one(p["max_total"], "g")}</td><td></td><td></td><td></td></tr>')
    head = _thead([t["component"], t["points"], t["max_points"], t["share"], t["median"], t["vs_median"]])
    return f"<table>{head}<tbody>{rows}{extra}</tbody></table>"


def _moves_html(p: Mapping[str, Any], t: Mapping[str, str]) -> str:
    b = p["boundary"]
    items = []
    if p["grade"] is None:
        items.append(t["no_grade"])
    else:
        up = b.get("points_to_next_better")
        if up is None or not b.get("next_better_grade"):
            items.append(t["top_grade"].format(grade=p["grade"]))
        else:
            items.append(t["to_better"].format(grade=b["next_better_grade"], points=f"{_ceil2(up):.2f}"))
        down = b.get("points_to_next_worse")
        if down is None or not b.get("next_worse_grade"):
            items.append(t["bottom_grade"].format(grade=p["grade"]))
        elif _floor2(down) <= 0:
            items.append(t["to_worse_zero"].format(grade=b["next_worse_grade"]))
        else:
            items.append(t["to_worse"].format(grade=b["next_worse_grade"], points=f"{_floor2(down):.2f}"))
    c = p["components"]
    diff = _float(c["diff"])
    below = np.flatnonzero(diff < 0)
    below = below[np.argsort(diff[below], kind="stable")][:N_LOSSES]
    if not len(below):
        loss_html = f"<p>{_e(t['no_losses'])}</p>"
    else:
        lis = [t["loss_item"].format(component=c["label"][i], points=f"{-diff[i]:.2f}") for i in below]
        loss_html = '<ul class="moves">' + "".join(f"<li>{_e(x)}</li>" for x in lis) + "</ul>"
    return (f'<ul class="moves">{"".join(f"<li>{_e(x)}</li>" for x in items)}</ul>'
            f'<p class="note">{_e(t["boundary_note"])}</p>'
            f"<h3>{_e(t['losses'])}</h3>{loss_html}")


def _kpi_html(p: Mapping[str, Any], t: Mapping[str, str]) -> str:
    k = p["kpis"]
    n = len(k["kpi_id"])
    if not n:
        return f"<p>{_e(t['no_kpis'])}</p>"
    m = p["meta"]
    year = m["year"]
    ids = _obj(k["kpi_id"])
    first = np.r_[True, ids[1:] != ids[:-1]]
    run = np.cumsum(first) - 1
    span = np.bincount(run)[run].astype(str).astype(object)
    years = list(p["history"]["years"])
    spark = sparkline_svgs(p["history"]["values"], [*map(str, years), f"{year} {t['target']}"])
    if len(spark) != int(first.sum()):
        raise ValueError(f"history has {len(spark)} rows for {int(first.sum())} KPIs")
    badges = np.full(n, "", dtype=object)
    for b in DIFFICULTY_BADGES:  # four verdict columns, vectorised over the KPIs
        tag = f'<span class="badge b-{b}">{_e(m["badge_labels"].get(b, b))}</span>'
        badges = badges + np.where(np.asarray(k[b], dtype=bool), tag, "")
    name = np.where(pd.isna(k["name_ko"]), ids, k["name_ko"])
    name_cell = (_esc(name) + "<br><small>" + _esc(ids) + " · " + _esc(k["unit"]) + " · " + _e(t["weight"])
                 + " " + _fmt(k["weight"], "g") + "</small>")
    rs = '<td rowspan="' + span + '">'
    lead = rs + name_cell + "</td>"
    if p["level"] == "institution":
        lead = lead + rs + _esc(k["owner_name"]) + "</td>"
    lead = lead + rs + spark[run] + "</td>" + rs + badges + "</td>"
    lead = np.where(first, lead, "")
    rate = _float(k["rate"])
    rate_s = np.where(np.isnan(rate), MISSING, _fmt(rate * 100, ".1f") + "%")
    rows = _rows([
        lead, _td(_esc(k["half_label"])), _td(_fmt_value(k["target"]), "n"), _td(_fmt_value(k["actual"]), "n"),
        _td(rate_s, "n"), '<td class="s-' + _esc(k["status"]) + '">' + _esc(k["status_label"]) + "</td>",
        _td(_fmt(k["points"], ".2f"), "n"),
    ])
    hist_head = t["history"].format(first=years[0] if years else "", last=years[-1] if years else "", year=year)
    heads = [t["kpi"], *([t["owner"]] if p["level"] == "institution" else []), hist_head, t["difficulty"],
             t["half"], t["target"], t["actual"], t["rate"], t["status"], t["kpi_points"]]
    counts = {b: int(np.asarray(k[b], dtype=bool)[first].sum()) for b in DIFFICULTY_BADGES}
    summary = t["difficulty_summary"].format(n=int(first.sum()), easy=counts["easy"],
                                             regressive=counts["regressive"],
                                             chronic=counts["chronic_overachiever"], hard=counts["hard"])
    return (f"<table>{_thead(heads)}<tbody>{rows}</tbody></table>"
            f"<h3>{_e(t['difficulty_title'])}</h3><p>{_e(summary)}</p>"
            f'<p class="note">{_e(t["difficulty_note"])}</p>')


def _flags_html(p: Mapping[str, Any], t: Mapping[str, str]) -> str:
    f = p["flags"]
    if not len(f["flag"]):
        return f"<p>{_e(t['no_flags'])}</p>"
    inst = p["level"] == "institution"
    cells = [
        '<td class="sev-' + _esc(f["severity"]) + '">' + _esc(f["severity_label"]) + "</td>",
        *([_td(_esc(f["unit_name"]))] if inst else []),
        _td(_esc(f["component_label"])), _td(_esc(f["item"])), _td(_esc(f["flag_label"])),
        _td(_esc(f["detail"])), _td(_esc(f["half"])),
    ]
    heads = [t["severity"], *([t["flag_unit"]] if inst else []), t["component"], t["item"], t["flag"],
             t["detail"], t["half"]]
    return f"<table>{_thead(heads)}<tbody>{_rows(cells)}</tbody></table>"


def render_unit(payload: Mapping[str, Any]) -> str:
    """The HTML report of one unit (a pure function of its payload).

    Parameters
    ----------
    payload
        One element of :func:`build_payloads`.

    Returns
    -------
    str
        A complete, self-contained HTML document: no script, no external reference, a
        Content-Security-Policy that forbids any fetch; every data text is escaped. The
        total is shown with two decimals (:func:`fmt_points`) in ``<dd class="total">``, the
        grade in ``<dd class="grade">`` and the rank as ``rank / group size`` in
        ``<dd class="rank">``.
    """
    p = payload
    t = _TEXT[p["lang"]]
    m = p["meta"]
    title = t["title"].format(name=p["name"])
    sub = t["subtitle"].format(year=m["year"], period=m["period"], scheme=m["scheme_title"])
    cards = [
        ("total", t["total"], fmt_points(p["total"])),
        ("grade", t["grade"], p["grade"] if p["grade"] is not None else MISSING),
        ("rank", t["rank_group"] if p["level"] == "institution" else t["rank_overall"],
         _rank_text(p["rank"], p["group_size"])),
    ]
    if p["level"] == "institution":
        cards.append(("rank-overall", t["rank_overall"], _rank_text(p["rank_overall"], p["n_overall"])))
    cards.append(("flags", t["n_flags"], str(p["n_flags"])))
    cards_html = "".join(f'<div><dt>{_e(lab)}</dt><dd class="{cls}">{_e(val)}</dd></div>'
                         for cls, lab, val in cards)
    where = [(t["group"], p["group_label"])]
    if p["level"] == "department":
        where.insert(0, (t["institution"], p["institution"]))
    where_html = " · ".join(f"{_e(a)}: {_e(b)}" for a, b in where)
    body = (
        f'<header><h1>{_e(title)}</h1><p class="sub">{_e(sub)}</p>'
        f'<p class="sub">{_e(p["unit_id"])} · {where_html}</p></header>\n'
        f'<section id="summary"><h2>{_e(t["summary"])}</h2><dl class="cards">{cards_html}</dl></section>\n'
        f'<section id="components"><h2>{_e(t["components"])}</h2>{_components_html(p, t)}</section>\n'
        f'<section id="moves"><h2>{_e(t["moves"])}</h2>{_moves_html(p, t)}</section>\n'
        f'<section id="kpis"><h2>{_e(t["kpis"])}</h2>{_kpi_html(p, t)}</section>\n'
        f'<section id="flags"><h2>{_e(t["flags"])}</h2>{_flags_html(p, t)}</section>\n'
        f'<footer><p>{_e(t["footer"].format(hash=m["data_hash"], scheme_id=m["scheme_id"]))}</p></footer>'
    )
    return _document(title, body, p["lang"])


def report_filenames(unit_ids: pd.Series) -> pd.Series:
    """Safe, unique file names for unit reports: ``<unit_id>.html``.

    An id that is not a plain name (letters, digits, ``_ . -``, at most 100 characters, no
    ``..``, not ``index``) becomes ``unit-<12 hex digits of its sha256>.html``; names equal
    except for case get ``-2``, ``-3`` … (case-insensitive file systems).

    Returns
    -------
    pandas.Series
        Same index as ``unit_ids``.
    """
    ids = unit_ids.astype("object").where(unit_ids.notna(), "").astype("str")
    safe = (ids.str.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}") & ~ids.str.contains("..", regex=False)
            & (ids.str.lower() != "index"))
    hashed = "unit-" + ids.map(lambda s: hashlib.sha256(s.encode("utf-8")).hexdigest()[:12])
    stem = ids.where(safe, hashed)
    n = stem.str.lower().groupby(stem.str.lower()).cumcount()
    stem = stem.where(n == 0, stem + "-" + (n + 1).astype("str"))
    return (stem + ".html").astype("str")


def index_entries(payloads: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """The rows of :func:`render_index` from the payloads (``file`` from :func:`report_filenames`).

    Returns
    -------
    pandas.DataFrame
        ``unit_id, file, name, institution, group_label, total, grade, rank, group_size, n_flags``
        in payload order.
    """
    cols = ["unit_id", "name", "institution", "group_label", "total", "grade", "rank", "group_size", "n_flags"]
    e = pd.DataFrame([{c: p[c] for c in cols} for p in payloads], columns=cols)
    e = e.astype({"unit_id": "str"})
    e.insert(1, "file", report_filenames(e["unit_id"]))
    return e


def render_index(entries: pd.DataFrame, meta: Mapping[str, Any], *, level: str, lang: str = "ko") -> str:
    """The ``index.html`` listing every unit report.

    Parameters
    ----------
    entries
        :func:`index_entries`.
    meta
        ``year``, ``period``, ``scheme_title``, ``scheme_id``, ``data_hash`` (as in a payload).
    level, lang
        As for :func:`build_payloads`.

    Returns
    -------
    str
        A self-contained HTML document; links are relative (``<unit_id>.html``).
    """
    _check_args(level, lang)
    t = _TEXT[lang]
    title = t["index_title"].format(year=meta["year"], period=meta["period"], level=t[f"level_{level}"])
    e = entries
    rank = _float(e["rank"])
    rank_s = np.where(np.isnan(rank), MISSING, _fmt(rank, ".0f") + " / " + _fmt(e["group_size"], ".0f"))
    dept = level == "department"
    cells = [_td(rank_s, "n"), _td(_esc(e["grade"])),
             _td('<a href="' + _esc(e["file"]) + '">' + _esc(e["name"]) + "</a>"),
             *([_td(_esc(e["institution"]))] if dept else []),
             _td(_esc(e["group_label"])), _td(_fmt(e["total"], ".2f"), "n"),
             _td(_fmt(e["n_flags"], ".0f"), "n"), _td(_esc(e["unit_id"]))]
    heads = [t["rank"], t["grade"], t["name"], *([t["institution"]] if dept else []), t["group"], t["total"],
             t["n_flags"], "ID"]
    rows = _rows(cells) if len(e) else ""
    body = (f'<header><h1>{_e(title)}</h1><p class="sub">{_e(meta["scheme_title"])} · '
            f"{_e(t['index_count'].format(n=len(e)))}</p></header>\n"
            f"<table>{_thead(heads)}<tbody>{rows}</tbody></table>\n"
            f'<footer><p>{_e(t["footer"].format(hash=meta["data_hash"], scheme_id=meta["scheme_id"]))}</p></footer>')
    return _document(title, body, lang)


def _render_guarded(render_fn: Callable[[Mapping[str, Any]], str], payload: Mapping[str, Any]) -> dict[str, Any]:
    """Worker entry point: render one payload, turning an exception into an error record."""
    try:
        doc = render_fn(payload)
        if not isinstance(doc, str):
            raise TypeError(f"the render function returned {type(doc).__name__}, not str")
        return {"ok": True, "html": doc}
    except Exception as exc:  # noqa: BLE001 - reported per unit by the parent
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}


# ---------------------------------------------------------------------------------------------
# run folder (the only I/O of this module)


def run_feedback(
    data_path: str | Path,
    scheme_path: str | Path,
    year: int = 2019,
    half: str = "year",
    level: str = "institution",
    lang: str = "ko",
    out: str | Path = "outputs",
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool = True,
    *,
    load_fn: Callable[..., BSCData] | None = None,
    render_fn: Callable[[Mapping[str, Any]], str] | None = None,
    scheduler_timeout: float | None = None,
) -> Path:
    """Write one HTML feedback report per unit into a new run folder and return its path.

    The folder ``<out>/<year>/feedback-<level>-<UTC YYYYmmddTHHMMSS>-<key>/`` (``key``: a
    short hash of the input hashes, the scheme, the analysis settings and the parameters)
    holds ``<unit_id>.html`` per unit (:func:`report_filenames`), ``index.html`` and
    ``manifest.json`` (parameters, input hashes, executor, counts, durations, every output's
    size and sha256). It is built as ``.tmp-…`` and renamed when complete; a failure renames
    it ``…-FAILED`` with the manifest saying why.

    Parameters
    ----------
    data_path, scheme_path
        CSV folder or xlsx workbook; scheme YAML.
    year, half, level, lang
        Evaluation year; ``"year"``/``"H1"``/``"H2"``; ``"institution"``/``"department"``;
        ``"ko"``/``"en"``.
    out
        Output root.
    workers, scheduler
        Executor (:func:`bsc_lib.runs.executors.get_executor`): ``None`` = one local process per CPU
        this process may use, ``1`` = in-process, or a Dask scheduler address.
    progress
        tqdm progress bar on stderr.
    load_fn
        ``load_fn(data_path, scheme=scheme) -> BSCData``; default :func:`bsc_lib.data.io.load`.
    render_fn
        Payload → HTML; default :func:`render_unit` (must be picklable for processes/Dask).
    scheduler_timeout
        Seconds to wait for the Dask scheduler (default
        :data:`bsc_lib.runs.executors.DEFAULT_SCHEDULER_TIMEOUT`).

    Returns
    -------
    pathlib.Path
        The completed run folder.

    Raises
    ------
    ValueError
        Bad ``half``, ``level``, ``lang`` or ``year``.
    DataError, SchemeError
        Invalid inputs (raised before any folder is created).
    ExecutorError
        Bad worker count, ``distributed`` missing, scheduler unreachable (before any folder).
    FeedbackFailed
        A unit could not be rendered (the folder is renamed ``…-FAILED``).

    Notes
    -----
    Local worker processes start with ``forkserver`` (or ``spawn``): like any
    :mod:`multiprocessing` code, a *script* calling this with ``workers > 1`` must do so
    under ``if __name__ == "__main__":``. The command line and notebooks need nothing.
    """
    from bsc_lib.analyses.recipes import Recipes
    from bsc_lib.config.analysis_params import default_analysis_path, load_analysis_params
    from bsc_lib.config.paths import resolve
    from bsc_lib.config.scheme import load_scheme
    from bsc_lib.data.io.loader import NA_AS_MISSING_ENV
    from bsc_lib.present.labels import period_label
    from bsc_lib.runs import folder
    from bsc_lib.runs.executors import DEFAULT_SCHEDULER_TIMEOUT, get_executor
    from bsc_lib.runs.pipeline import _environ, default_load_fn

    t_start = time.monotonic()
    started = folder.utcnow()
    if half not in HALVES:
        raise ValueError(f"half must be one of {HALVES}, got {half!r}")
    _check_args(level, lang)
    if isinstance(year, bool) or not isinstance(year, numbers.Integral):
        raise ValueError(f"year must be an integer, got {year!r}")
    year = int(year)
    render = render_fn or render_unit
    durations: dict[str, float] = {}

    scheme_file = resolve(scheme_path)
    data_file = resolve(data_path)
    scheme = load_scheme(scheme_file)
    # the executor first: an unreachable scheduler fails before the data is loaded
    executor = get_executor(workers, scheduler, preload=("bsc_lib.present.feedback",),
                            timeout=scheduler_timeout or DEFAULT_SCHEDULER_TIMEOUT)
    try:
        analysis_file = default_analysis_path()
        settings = load_analysis_params(analysis_file)
        t0 = time.monotonic()
        with _environ(**{NA_AS_MISSING_ENV: "1" if settings.input.na_as_missing else "0"}):
            data = (load_fn or default_load_fn)(data_file, scheme=scheme)
        durations["load_s"] = round(time.monotonic() - t0, 3)
        input_hashes = dict(getattr(data, "input_hashes", None) or {})
        analysis_sha = folder.sha256_file(analysis_file) if analysis_file.is_file() else None
        params = {"kind": "feedback", "year": year, "half": half, "level": level, "lang": lang,
                  "analysis_sha256": analysis_sha}
        run_name = f"feedback-{level}-{started:%Y%m%dT%H%M%S}-{folder.run_key(input_hashes, scheme.sha256, params)}"
        year_dir = Path(out) / str(year)
        tmp = folder.new_run_folder(year_dir, run_name, out)
    except BaseException:
        executor.close()
        raise
    log.info("feedback run %s: working in %s", run_name, tmp)
    manifest: dict[str, Any] = {
        "schema_version": MANIFEST_SCHEMA_VERSION,
        "kind": "feedback",
        "run_id": run_name,
        "status": "running",
        "started_at": folder.iso(started),
        "finished_at": None,
        "parameters": {"data_path": folder.portable(data_file), "scheme_path": folder.portable(scheme_file),
                       "year": year, "half": half, "level": level, "lang": lang},
        "executor": {"kind": getattr(executor, "kind", type(executor).__name__)},
        "inputs": {"data_path": folder.portable(data_file), "files": dict(sorted(input_hashes.items()))},
        "scheme": {"path": folder.portable(scheme_file), "sha256": scheme.sha256, "scheme_id": scheme.scheme_id},
        "analysis": {"path": folder.portable(analysis_file), "sha256": analysis_sha},
        "render_fn": folder.qualname(render),
        "counts": {},
        "durations_s": durations,
        "packages": None,
        "git": None,
    }
    try:
        with executor, folder.stop_signals_as_interrupt():
            manifest["executor"] = executor.describe()
            manifest["packages"] = folder.package_versions()
            manifest["git"] = folder.git_state()
            t0 = time.monotonic()
            tables = Recipes(data, scheme, settings, year, half)
            results, kdiff = tables.results, tables["kpi_difficulty"]
            bounds = tables["grade_boundaries" if level == "institution" else "department_grade_boundaries"]
            durations["evaluate_s"] = round(time.monotonic() - t0, 3)

            t0 = time.monotonic()
            payloads = build_payloads(data, scheme, results, kdiff, level=level, lang=lang, boundaries=bounds)
            entries = index_entries(payloads)
            files = entries["file"].tolist()
            durations["payloads_s"] = round(time.monotonic() - t0, 3)

            from tqdm.auto import tqdm

            t0 = time.monotonic()
            failed: list[tuple[str, str]] = []
            leaks: list[tuple[str, str]] = []
            written = 0
            task = functools.partial(_render_guarded, render)
            with tqdm(total=len(payloads), desc=f"feedback ({level})", unit="unit", file=sys.stderr,
                      disable=not progress, dynamic_ncols=True) as bar:
                for i, res in executor.as_completed(task, payloads):
                    bar.update(1)
                    uid = payloads[i]["unit_id"]
                    if not res["ok"]:
                        failed.append((uid, res["error"]))
                        continue
                    doc = res["html"]
                    bad = external_references(doc)
                    if bad:  # render_unit never links out; a last check for injected renderers
                        leaks.append((uid, bad[0]))
                        continue
                    (tmp / files[i]).write_text(doc, encoding="utf-8")
                    written += 1
            durations["render_s"] = round(time.monotonic() - t0, 3)
            manifest["counts"] = {"units": len(payloads), "reports": written, "failed": len(failed) + len(leaks),
                                  "kpi_rows": int(sum(len(p["kpis"]) for p in payloads)),
                                  "flags": int(sum(len(p["flags"]) for p in payloads))}
            if failed or leaks:
                manifest["failed_units"] = ([{"unit_id": u, "error": folder.clean_text(e, 500)} for u, e in failed]
                                            + [{"unit_id": u, "error": f"external reference: {folder.clean_text(e, 200)}"}
                                               for u, e in leaks])
                raise _UnitsFailed(failed, leaks)

            meta = payloads[0]["meta"] if payloads else {
                "year": year, "period": period_label(half, lang),
                "scheme_title": scheme.title_ko if lang == "ko" else scheme.title_en,
                "scheme_id": scheme.scheme_id, "data_hash": _data_hash(input_hashes)}
            (tmp / INDEX_NAME).write_text(render_index(entries, meta, level=level, lang=lang), encoding="utf-8")
            manifest["units"] = entries[["unit_id", "file"]].to_dict("records")
            manifest["outputs"] = {
                p.name: {"bytes": p.stat().st_size, "sha256": folder.sha256_file(p)}
                for p in sorted(tmp.iterdir()) if p.is_file() and p.name != MANIFEST_NAME
            }
            durations["total_s"] = round(time.monotonic() - t_start, 3)
            manifest["status"] = "complete"
            manifest["finished_at"] = folder.iso(folder.utcnow())
            folder.write_json(tmp / MANIFEST_NAME, manifest)
            final = folder.rename_unique(tmp, year_dir / run_name)
    except BaseException as exc:
        durations["total_s"] = round(time.monotonic() - t_start, 3)
        failed_dir = _fail(tmp, year_dir, run_name, manifest, exc)
        if isinstance(exc, _UnitsFailed):
            problems = [Problem(file=str(failed_dir or tmp), rule="render failed", column=u,
                                message=folder.clean_text(e, 500)) for u, e in exc.failed]
            problems += [Problem(file=str(failed_dir or tmp), rule="external reference", column=u,
                                 message=folder.clean_text(e, 200)) for u, e in exc.leaks]
            raise FeedbackFailed(problems, run_dir=failed_dir) from None
        raise
    log.info("feedback run complete: %s (%d reports)", final, written)
    return final


class _UnitsFailed(Exception):
    def __init__(self, failed: list[tuple[str, str]], leaks: list[tuple[str, str]]):
        super().__init__(f"{len(failed) + len(leaks)} unit report(s) failed")
        self.failed = failed
        self.leaks = leaks


def _fail(tmp: Path, year_dir: Path, run_name: str, manifest: dict, exc: BaseException) -> Path | None:
    """Record the failure in the manifest and rename the folder ``…-FAILED`` (best effort)."""
    from bsc_lib.runs import folder

    error = ({"type": "render", "ename": "RenderFailed", "evalue": str(exc)} if isinstance(exc, _UnitsFailed)
             else folder.error_entry(exc))
    return folder.mark_failed(tmp, year_dir / run_name, manifest, error, manifest_name=MANIFEST_NAME,
                              what="feedback run")


__all__ = ["COMPONENT_PAYLOAD_COLUMNS", "DIFFICULTY_BADGES", "FLAG_PAYLOAD_COLUMNS", "FeedbackFailed",
           "KPI_PAYLOAD_COLUMNS", "LEVELS", "build_payloads", "fmt_points", "index_entries", "render_index",
           "render_unit", "report_filenames", "run_feedback", "sparkline_svgs"]
