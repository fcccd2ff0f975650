"""The report's executive summary and the tables of the perspectives section, in one language.

Functions here turn the result tables (:mod:`bsc_lib.analyses.recipes` producers
``grade_counts``, ``top_bottom``, ``close_calls``, ``weak_components``, ``rater_grade_changes``,
``perspective_rollup``, ``strategy_map``, ``rank_changes``, ``kpi_trend``) into markdown and
display tables with names instead of ids and labels instead of codes. The sentences live in
:data:`bsc_lib.present.labels.UI_TEXT` (section ``report``); names from the data are
HTML-escaped. Links point at the stable section anchors of
:func:`bsc_lib.present.report_html.section_slug` (``#sec-scores`` …).
"""

from __future__ import annotations

import html
import math

import pandas as pd

from bsc_lib.data.model import plain_text
from bsc_lib.present.labels import label, ui_text
from bsc_lib.present.notebook import KO_NAME_MARK


def _t(lang: str) -> dict[str, str]:
    return ui_text("report", lang)


def _name(row, lang: str, col: str = "name") -> str:
    ko, en = row.get(f"{col}_ko"), row.get(f"{col}_en")
    if lang == "en" and isinstance(en, str) and en:
        return html.escape(en)
    return html.escape(str(ko if isinstance(ko, str) else row.get("unit_id", "")))


def _pts(x: float) -> str:
    """Points with enough decimals to show a small margin (0.001 stays visible); margins below 1
    are cut, not rounded, so a margin under a threshold never prints as the threshold."""
    x = float(x)
    if abs(x) >= 1:
        return f"{x:.2f}"
    for d in (3, 4, 5, 6):
        cut = math.floor(abs(x) * 10**d) / 10**d
        if cut != 0 or d == 6:
            return f"{math.copysign(cut, x):.{d}f}"
    return f"{x:g}"


def _link(slug: str, lang: str) -> str:
    return f' <a href="#sec-{slug}">{_t(lang)["see_section"]}</a>'


def headline(tables, lang: str = "ko") -> str:
    """The summary's opening lines: grade counts overall, close calls, flags (markdown)."""
    t = _t(lang)
    gc = tables["grade_counts"]
    total = gc[gc["group"] == "total"].iloc[0]
    grades = [c for c in gc.columns if c not in ("group", "n")]
    dist = ", ".join(f"{g} {int(total[g])}" for g in grades)
    cc = tables["close_calls"]
    n_inst = int(cc.loc[cc["level"] == "institution", "unit_id"].nunique())
    n_dep = int(cc.loc[cc["level"] == "department", "unit_id"].nunique())
    flags = tables["flags"]
    n_flags = int((flags["severity"] != "info").sum()) if "severity" in flags else len(flags)
    period = label("half_year" if tables.half == "year" else tables.half, lang)
    lines = [
        "- " + t["sum_grades"].format(year=tables.year, period=period, n=int(total["n"]), dist=dist)
        + _link("scores", lang),
        "- " + t["sum_close"].format(i=n_inst, d=n_dep) + ' <a href="#close-calls">' + t["see_below"] + "</a>",
        "- " + t["sum_flags"].format(n=n_flags) + _link("scores", lang),
    ]
    return "\n".join(lines)


def grade_counts_table(gc: pd.DataFrame, lang: str = "ko") -> pd.DataFrame:
    """``grade_counts`` with the group labelled (``inst_type`` codes → names, ``total`` → 합계/Total)."""
    out = gc.copy()
    out["group"] = out["group"].map(lambda g: _t(lang)["total_row"] if g == "total" else label(g, lang))
    return out.rename(columns={"group": "inst_type"})


def top_bottom_table(tb: pd.DataFrame, lang: str = "ko") -> pd.DataFrame:
    """``top_bottom`` as one row per group: best and worst units with total and grade."""
    rows = []
    for grp, f in tb.groupby("group", sort=False):
        cell = {pos: ", ".join(f"{_name(r, lang)} ({r['total']:.2f}, {r['grade']})"
                               for _, r in f[f["position"] == pos].iterrows()) for pos in ("top", "bottom")}
        rows.append({"inst_type": label(grp, lang), "top_units": cell["top"], "bottom_units": cell["bottom"]})
    return pd.DataFrame(rows, columns=["inst_type", "top_units", "bottom_units"])


def close_calls_md(cc: pd.DataFrame, margin: float, lang: str = "ko") -> str:
    """Every close call of the institutions as a sentence; departments counted with their list.

    Each institution: name, grade, the kind of close call, the margin in points (enough
    decimals to see it) and the unit across the boundary.
    """
    t = _t(lang)
    lines = ['<span id="close-calls"></span>' + t["close_intro"].format(m=_pts(margin))]
    inst = cc[cc["level"] == "institution"]
    if inst.empty:
        lines.append("")
        lines.append(t["close_none"])
    lines.append("")
    for _, r in inst.iterrows():
        key = {"deduction": "close_deduction", "near_better": "close_near_better", "near_worse": "close_near_worse"}[r["kind"]]
        nb = _name(r, lang, "neighbour") if isinstance(r.get("neighbour_ko"), str) else "—"
        lines.append("- " + t[key].format(name=_name(r, lang), grade=r["grade"], other=r["other_grade"],
                                          margin=_pts(r["margin"]), ded=_pts(r["deductions"]), nb=nb,
                                          type=label(r["inst_type"], lang)))
    dep = cc[cc["level"] == "department"]
    if not dep.empty:
        lines.append("")
        names = ", ".join(f"{_name(r, lang)} ({r['grade']}→{r['other_grade']}, {_pts(r['margin'])})"
                          for _, r in dep.iterrows())
        lines.append(t["close_departments"].format(n=dep["unit_id"].nunique(), names=names))
    lines.append("")
    lines.append(t["close_robustness"] + _link("robustness", lang))
    return "\n".join(lines)


def attention_md(tables, settings, lang: str = "ko") -> str:
    """Weak components, raters who change grades, KPI headline, perspectives, last year (markdown)."""
    t = _t(lang)
    out = []
    weak = tables["weak_components"]
    if weak.empty:
        out.append("- " + t["weak_none"] + _link("dispersion", lang))
    for _, r in weak.iterrows():
        out.append("- " + t["weak_component"].format(
            comp=label(r["component"], lang), ev=label(r["evaluation"], lang), nom=r["nominal_share"],
            eff=max(float(r["effective_share"]), 0.0)) + _link("dispersion", lang))
    rgc = tables["rater_grade_changes"]
    changed = rgc[rgc["changed"]] if not rgc.empty and "changed" in rgc else pd.DataFrame()
    if changed.empty:
        out.append("- " + t["raters_none"] + _link("reliability", lang))
    else:
        raters = ", ".join(sorted(changed["rater"].astype(str).unique()))
        out.append("- " + t["raters_change"].format(n=changed["unit"].nunique(), raters=raters)
                   + _link("reliability", lang))
    kpi = tables.results.kpi
    used = kpi[kpi["flag"] != "not_used"] if "flag" in kpi else kpi
    st = used["status"].value_counts()
    n = int(st.sum())
    if n:
        out.append("- " + t["kpi_headline"].format(n=n, a=st.get("achieved", 0) / n, c=st.get("caution", 0) / n,
                                                   m=st.get("missed", 0) / n) + _link("scores", lang))
    roll = tables["perspective_rollup"]
    if not roll.empty:
        rag = roll["rag"].value_counts()
        out.append("- " + t["perspective_headline"].format(g=int(rag.get("green", 0)), a=int(rag.get("amber", 0)),
                                                           r=int(rag.get("red", 0)))
                   + _link("perspectives", lang))
    ch = tables["rank_changes"]
    if ch.empty:
        out.append("- " + t["prior_none"] + _link("perspectives", lang))
    else:
        inst = ch[ch["level"] == "institution"]
        out.append("- " + t["prior_headline"].format(y=tables.year - 1, up=int((inst["movement"] == "up").sum()),
                                                     down=int((inst["movement"] == "down").sum()))
                   + _link("perspectives", lang))
    return "\n".join(out)


def strategy_goals_table(smap: pd.DataFrame, data, lang: str = "ko") -> pd.DataFrame:
    """The strategy map per strategic goal: perspective, institution, goal, KPIs, rate, status."""
    if smap.empty:
        return pd.DataFrame(columns=["perspective", "institution", "strategic_goal", "n_kpis", "rate", "status"])
    inst = plain_text(data.institutions).set_index("institution_id")
    nm = inst["name_en"] if lang == "en" and "name_en" in inst else inst["name_ko"]
    nm = nm.fillna(inst["name_ko"])
    g = smap.groupby(["perspective", "institution_id", "strategic_goal_id"], sort=False).agg(
        strategic_goal=("strategic_goal_ko", "first"), n_kpis=("kpi_id", "size"), rate=("strategic_goal_rate", "first"),
        rag=("strategic_goal_rag", "first")).reset_index()
    g = g.sort_values(["rate", "strategic_goal_id"], kind="stable")
    goal = g["strategic_goal"] if lang == "ko" else g["strategic_goal"].map(lambda v: f"{v}{KO_NAME_MARK}")
    return pd.DataFrame({"perspective": g["perspective"], "institution": g["institution_id"].map(nm),
                         "strategic_goal": goal, "n_kpis": g["n_kpis"], "rate": g["rate"],
                         "rag": g["rag"].map(lambda v: label(f"rag_{v}", lang) if isinstance(v, str) else "")})


def rank_changes_table(ch: pd.DataFrame, lang: str = "ko") -> pd.DataFrame:
    """Institutions that changed grade, largest change first: name, type, grades, ranks, totals."""
    f = ch[ch["movement"].isin(["up", "down"])].copy()
    f = f.sort_values(["grade_steps", "rank_change", "unit_id"], ascending=[False, False, True], kind="stable")
    name = f["name_en"].fillna(f["name_ko"]) if lang == "en" else f["name_ko"]
    return pd.DataFrame({"name": name, "inst_type": f["inst_type"].map(lambda v: label(v, lang)),
                         "grade_prior": f["grade_prior"], "grade": f["grade"], "rank_prior": f["rank_prior"],
                         "rank": f["rank"], "total_prior": f["total_prior"], "total": f["total"],
                         "movement": f["movement"].map(lambda v: label(f"movement_{v}", lang))})


def kpi_trend_table(trend: pd.DataFrame, lang: str = "ko") -> pd.DataFrame:
    """KPIs against last year's actual: counts per direction, with shares."""
    n = len(trend)
    counts = trend["direction"].value_counts()
    order = ["improved", "unchanged", "declined", "no_prior", "no_actual"]
    return pd.DataFrame({"direction": [label(f"direction_{d}", lang) for d in order],
                         "n_kpis": [int(counts.get(d, 0)) for d in order],
                         "share": [counts.get(d, 0) / n if n else 0.0 for d in order]})


__all__ = ["attention_md", "close_calls_md", "grade_counts_table", "headline", "kpi_trend_table",
           "rank_changes_table", "strategy_goals_table", "top_bottom_table"]
