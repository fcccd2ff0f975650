"""Plotly figures for the notebooks, the report and the dashboard.

Every function takes the tidy DataFrames the analysis modules return and gives back a
``plotly.graph_objects.Figure``; nothing here computes a score. Labels are Korean by
default (``lang="en"`` for English). Fonts: Noto Sans CJK KR (Debian ``fonts-noto-cjk``).
"""

from __future__ import annotations

import re

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from bsc_lib.data.model import plain_text
from bsc_lib.present.labels import label

FONT = "Noto Sans CJK KR, Noto Sans KR, Malgun Gothic, sans-serif"
GRADE_COLORS = {"S": "#1b7837", "A": "#7fbf7b", "B": "#fdb863", "C": "#d7301f"}
STATUS_COLORS = {"achieved": "#1b7837", "caution": "#fdb863", "missed": "#d7301f"}
TYPE_COLORS = {"main_office": "#2c7fb8", "business_office": "#7fcdbb", "independent": "#756bb1"}  # no grade colour


def _style(fig: go.Figure, title: str, height: int = 420) -> go.Figure:
    fig.update_layout(
        title={"text": title, "x": 0.01},
        font={"family": FONT, "size": 13},
        height=height,
        margin={"l": 60, "r": 20, "t": 90, "b": 50},
        template="plotly_white",
        legend={"orientation": "h", "y": 1.0, "yanchor": "bottom", "x": 1.0, "xanchor": "right", "title": {"text": ""}},
    )
    if fig.layout.annotations:  # facet titles sit at the top of the panels: the legend goes above them
        fig.update_layout(legend={"y": 1.09}, margin={"t": 115})
    return fig


_TYPE_ORDER = {t: i for i, t in enumerate(TYPE_COLORS)}


def _type_colors(lang: str) -> dict[str, str]:
    """:data:`TYPE_COLORS` keyed by the labels of ``lang`` (charts that colour by a labelled type)."""
    return {label(k, lang): v for k, v in TYPE_COLORS.items()}


def counts_by_type_bar(by_type: pd.DataFrame, lang: str = "ko") -> go.Figure:
    """Grouped bars of institutions/departments/KPIs per institution type (from describe.counts_by_type)."""
    d = by_type[by_type["inst_type"] != "total"].melt(
        id_vars="inst_type", value_vars=["institutions", "departments", "projects", "kpis"],
        var_name="what", value_name="n",
    )
    d["inst_type"] = d["inst_type"].map(lambda v: label(v, lang))
    d["what"] = d["what"].map(lambda v: label(v, lang))
    fig = px.bar(d, x="what", y="n", color="inst_type", barmode="group", text="n", color_discrete_map=_type_colors(lang),
                 labels={"what": "", "n": label("count", lang), "inst_type": label("inst_type", lang)})
    return _style(fig, label("title_counts_by_type", lang))


def schedule_timeline(schedule: pd.DataFrame, lang: str = "ko") -> go.Figure:
    """Gantt chart of the yearly cycle (from cycle.schedule_frame)."""
    d = schedule.sort_values(["start", "finish", "order"], kind="stable").copy()
    d["finish"] = d["finish"] + pd.Timedelta(days=1)
    d["label"] = d["order"].astype(str) + ". " + d["step"]
    fig = px.timeline(d, x_start="start", x_end="finish", y="label", color="who",
                      labels={"label": "", "who": label("who", lang)})
    fig.update_yaxes(autorange="reversed", categoryorder="array", categoryarray=list(d["label"]))
    fig.update_xaxes(tickformat="%Y-%m")
    return _style(fig, label("title_schedule", lang), height=150 + 34 * len(d))


def strategy_sunburst(tree: pd.DataFrame, lang: str = "ko") -> go.Figure:
    """Strategy map (from alignment.strategy_tree) as a sunburst sized by KPI count."""
    fig = go.Figure(go.Sunburst(ids=tree["id"], parents=tree["parent"], labels=tree["label"],
                                values=tree["value"], branchvalues="remainder", maxdepth=3,
                                insidetextorientation="radial"))
    return _style(fig, label("title_strategy_map", lang), height=640)


def coverage_bar(coverage: pd.DataFrame, lang: str = "ko") -> go.Figure:
    """Projects per plan task (from alignment.task_coverage), uncovered tasks highlighted."""
    d = coverage.sort_values(["plan_level", "n_projects", "task_id"], kind="stable").copy()
    d["status"] = d["covered"].map({True: label("covered", lang), False: label("uncovered", lang)})
    fig = px.bar(d, x="task_id", y="n_projects", color="status", facet_col="plan_level",
                 hover_data=["name_ko", "goal_name_ko", "n_kpis"],
                 color_discrete_map={label("covered", lang): "#2c7fb8", label("uncovered", lang): "#d7301f"},
                 labels={"task_id": "", "n_projects": label("n_projects", lang), "status": ""})
    fig.update_xaxes(matches=None, showticklabels=False)
    levels = list(dict.fromkeys(d["plan_level"]))
    for i, lev in enumerate(levels, start=1):  # tasks without a project: a marker at zero (a bar of height 0 is invisible)
        u = d[(d["plan_level"] == lev) & ~d["covered"].astype(bool)]
        if len(u):
            fig.add_trace(go.Scatter(x=u["task_id"], y=[0] * len(u), mode="markers", name=label("uncovered", lang),
                                     marker={"symbol": "x", "size": 9, "color": "#d7301f"}, showlegend=i == 1,
                                     hovertext=u["name_ko"]), row=1, col=i)
    fig.for_each_annotation(lambda a: a.update(text=label(a.text.split("=")[-1], lang)))
    fig.for_each_trace(lambda t: t.update(showlegend=False) if t.type == "bar" and t.name == label("uncovered", lang)
                       else None)
    fig.update_yaxes(rangemode="tozero")
    fig = _style(fig, label("title_task_coverage", lang))
    fig.update_layout(legend={"y": -0.05, "yanchor": "top", "x": 0.0, "xanchor": "left"})
    return fig


def target_vs_trend(kdiff: pd.DataFrame, lang: str = "ko", easy_margin: float | None = None,
                    hard_margin: float | None = None) -> go.Figure:
    """Each KPI's target against its own trend forecast, as the polarity-signed gap (from
    difficulty.kpi_difficulty): KPIs sorted by gap, easy ones (below the line) red, demanding green.

    A target on its trend has gap 0; ``easy_margin``/``hard_margin`` draw the classification
    lines. Gaps beyond ±60 % are drawn at the edge (hover shows the value).
    """
    d = kdiff.dropna(subset=["gap"]).sort_values(["gap", "kpi_id"], kind="stable").reset_index(drop=True)
    cls = pd.Series("normal", index=d.index)
    cls[d["hard"].fillna(False).astype(bool)] = "hard"
    cls[d["easy"].fillna(False).astype(bool)] = "easy"
    colors = {"easy": "#d7301f", "hard": "#1b7837", "normal": "#969696"}
    fig = go.Figure()
    for c in ("easy", "normal", "hard"):
        f = d[cls == c]
        fig.add_trace(go.Scatter(x=f.index + 1, y=f["gap"].clip(-0.6, 0.6), mode="markers", name=label(c, lang),
                                 marker={"color": colors[c], "size": 5},
                                 customdata=f[["kpi_id", "name_ko", "gap"]].to_numpy(),
                                 hovertemplate="%{customdata[0]} %{customdata[1]}: %{customdata[2]:+.1%}<extra></extra>"))
    fig.add_hline(y=0, line_color="#444", line_width=1)
    if easy_margin is not None:
        fig.add_hline(y=-easy_margin, line_dash="dash", line_color="#d7301f")
    if hard_margin is not None:
        fig.add_hline(y=hard_margin, line_dash="dash", line_color="#1b7837")
    fig.update_yaxes(tickformat=".0%", title=label("gap", lang), range=[-0.65, 0.65])
    fig.update_xaxes(title=label("kpis_by_gap", lang))
    return _style(fig, label("title_target_vs_trend", lang), height=460)


def gap_histogram(kdiff: pd.DataFrame, easy_margin: float = 0.02, lang: str = "ko") -> go.Figure:
    """Distribution of the polarity-signed gap between target and trend forecast."""
    d = kdiff.dropna(subset=["gap"])
    fig = px.histogram(d, x="gap", nbins=60, labels={"gap": label("gap", lang)})
    fig.add_vline(x=-easy_margin, line_dash="dash", line_color="#d7301f",
                  annotation_text=label("easy_threshold", lang))
    fig.update_xaxes(tickformat=".0%")
    return _style(fig, label("title_gap_histogram", lang))


def unit_easy_bar(udiff: pd.DataFrame, top: int = 20, lang: str = "ko") -> go.Figure:
    """Units with the most weight on easy targets (from difficulty.unit_difficulty + names)."""
    d = udiff.sort_values(["weight_on_easy", "share_easy"], ascending=False, kind="stable").head(top)
    name = d["name_ko"] if "name_ko" in d else d["owner_id"]
    d = d.assign(unit=d["owner_id"] + " " + name.fillna(""))
    fig = go.Figure([
        go.Bar(y=d["unit"], x=d["weight_on_easy"], orientation="h", name=label("weight_on_easy", lang), marker_color="#d7301f"),
        go.Bar(y=d["unit"], x=d["share_easy"], orientation="h", name=label("share_easy", lang), marker_color="#fdb863"),
    ])
    fig.update_layout(barmode="group")
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(tickformat=".0%")
    return _style(fig, label("title_unit_easy", lang), height=160 + 28 * len(d))


def _grade_order(grades) -> list[str]:
    known = [g for g in GRADE_COLORS if g in set(grades)]
    return known + sorted(set(grades) - set(known))


def institutional_ranking(inst: pd.DataFrame, lang: str = "ko") -> go.Figure:
    """Institutional totals as a dot plot: one row per institution, grouped by type on the axis
    (no facet panels whose labels could overlap), sorted by rank, coloured by grade."""
    d = inst.assign(_t=inst["inst_type"].map(_TYPE_ORDER).fillna(len(_TYPE_ORDER))).sort_values(
        ["_t", "inst_type", "rank_in_group", "institution_id"], kind="stable")
    d["group"] = d["inst_type"].map(lambda v: label(v, lang))
    d["name"] = d["name_ko"] if lang == "ko" else d["name_en"].fillna(d["name_ko"])
    fig = go.Figure()
    for g in _grade_order(d["grade"]):
        f = d[d["grade"] == g]
        fig.add_trace(go.Scatter(x=f["total"], y=[f["group"], f["name"]], mode="markers", name=g,
                                 marker={"color": GRADE_COLORS.get(g, "#888"), "size": 10,
                                         "line": {"color": "#333", "width": 0.5}},
                                 customdata=f[["rank_in_group", "rank_overall"]].to_numpy(),
                                 hovertemplate="%{y}: %{x:.3f} (%{customdata[0]}, %{customdata[1]})<extra></extra>"))
    fig.update_yaxes(autorange="reversed", type="multicategory", showgrid=True, tickfont={"size": 11})
    fig.update_xaxes(title=label("total", lang), showgrid=True)
    fig.update_yaxes(tickfont={"size": 10})
    fig = _style(fig, label("title_institutional_ranking", lang), height=150 + 14 * len(d))
    fig.update_layout(margin={"l": 230, "r": 20, "t": 90, "b": 50})
    return fig


def component_stack(frame: pd.DataFrame, components: list[str], id_col: str, name_col: str = "name_ko",
                    lang: str = "ko") -> go.Figure:
    """Stacked component points per unit, units sorted by total (institutional or departments)."""
    d = frame.sort_values(["total", id_col], ascending=[False, True], kind="stable")
    names = (d[name_col].fillna(d["name_ko"]) if name_col in d and "name_ko" in d else
             d[name_col] if name_col in d else d[id_col])
    colors = px.colors.qualitative.Safe
    if len(d) <= 60:  # one row per unit, names readable on the left, zero-based stacked bars
        fig = go.Figure([go.Bar(y=names, x=d[c], name=label(c, lang), orientation="h",
                                marker_color=colors[i % len(colors)]) for i, c in enumerate(components)])
        fig.update_layout(barmode="stack", legend={"traceorder": "normal"})
        fig.update_yaxes(autorange="reversed", tickfont={"size": 11})
        fig.update_xaxes(title=label("points", lang), rangemode="tozero")
        fig.update_yaxes(tickfont={"size": 10})
        fig = _style(fig, label("title_component_stack", lang), height=160 + 14 * len(d))
        fig.update_layout(margin={"l": 200})
        return fig
    fig = go.Figure([go.Bar(x=names, y=d[c], name=label(c, lang), marker_color=colors[i % len(colors)])
                     for i, c in enumerate(components)])
    fig.update_layout(barmode="stack", legend={"traceorder": "normal"})
    fig.update_yaxes(title=label("points", lang))
    return _style(fig, label("title_component_stack", lang), height=480)


def grade_distribution(frame: pd.DataFrame, group_col: str | None = "inst_type", lang: str = "ko") -> go.Figure:
    """Number of units per grade (and group)."""
    d = frame.copy()
    if group_col and group_col in d:
        d["group"] = d[group_col].map(lambda v: label(v, lang))
        g = d.groupby(["group", "grade"]).size().rename("n").reset_index()
        fig = px.bar(g, x="grade", y="n", color="group", barmode="group", text="n",
                     category_orders={"grade": _grade_order(g["grade"])}, color_discrete_map=_type_colors(lang),
                     labels={"grade": label("grade", lang), "n": label("count", lang), "group": ""})
    else:
        g = d.groupby("grade").size().rename("n").reset_index()
        fig = px.bar(g, x="grade", y="n", color="grade", text="n", color_discrete_map=GRADE_COLORS,
                     category_orders={"grade": _grade_order(g["grade"])},
                     labels={"grade": label("grade", lang), "n": label("count", lang)})
    return _style(fig, label("title_grade_distribution", lang))


def kpi_status_bar(kpi: pd.DataFrame, lang: str = "ko") -> go.Figure:
    """KPI status counts per half (from Results.kpi)."""
    g = kpi.groupby(["half", "status"]).size().rename("n").reset_index()
    g["status_label"] = g["status"].map(lambda v: label(v, lang))
    fig = px.bar(g, x="half", y="n", color="status", text="n", barmode="stack",
                 color_discrete_map=STATUS_COLORS, hover_data=["status_label"],
                 labels={"half": "", "n": label("kpis", lang), "status": label("status", lang)})
    fig.for_each_trace(lambda t: t.update(name=label(t.name, lang)))
    return _style(fig, label("title_kpi_status", lang))


def total_histogram(frame: pd.DataFrame, color: str | None = "grade", lang: str = "ko") -> go.Figure:
    """Distribution of totals (e.g. the individual evaluation), coloured by grade."""
    fig = px.histogram(frame, x="total", color=color, nbins=40, color_discrete_map=GRADE_COLORS,
                       category_orders={"grade": _grade_order(frame["grade"])} if color == "grade" else None,
                       labels={"total": label("total", lang), "grade": label("grade", lang)})
    return _style(fig, label("title_total_histogram", lang))


def tie_share_bar(disc: pd.DataFrame, lang: str = "ko") -> go.Figure:
    """Largest tie share and CV per component (from dispersion.discrimination by evaluation, component)."""
    d = disc.copy()
    d["what"] = d["evaluation"].map(lambda v: label(v, lang)) + " · " + d["component"].map(lambda v: label(v, lang))
    fig = go.Figure([
        go.Bar(x=d["what"], y=d["largest_tie_share"], name=label("largest_tie_share", lang), marker_color="#d7301f"),
        go.Bar(x=d["what"], y=d["cv"], name=label("cv", lang), marker_color="#2c7fb8"),
    ])
    fig.update_layout(barmode="group")
    fig.update_yaxes(tickformat=".0%", rangemode="tozero")
    fig.update_xaxes(tickangle=-30, automargin=True)
    return _style(fig, label("title_tie_share", lang), height=460)


def effective_weights_bar(eff: pd.DataFrame, lang: str = "ko") -> go.Figure:
    """Nominal versus effective (variance) share of each component (from dispersion.effective_weights)."""
    d = eff.copy()
    d["comp"] = d["component"].map(lambda v: label(v, lang))
    long = d.melt(id_vars=["evaluation", "comp"], value_vars=["nominal_share", "effective_share"],
                  var_name="kind", value_name="share")
    long["kind"] = long["kind"].map(lambda v: label(v, lang))
    long["evaluation"] = long["evaluation"].map(lambda v: label(v, lang))
    fig = px.bar(long, x="comp", y="share", color="kind", barmode="group", facet_col="evaluation",
                 labels={"comp": "", "share": "", "kind": ""})
    fig.update_yaxes(tickformat=".0%", rangemode="tozero")
    fig.update_xaxes(matches=None, tickangle=-30, automargin=True)
    fig.for_each_annotation(lambda a: a.update(text=a.text.split("=")[-1]))
    return _style(fig, label("title_effective_weights", lang), height=460)


def integrity_old_new(old: pd.Series, new: pd.Series, lang: str = "ko") -> go.Figure:
    """Histograms of the old ACRC-derived score and the new integrity index."""
    fig = go.Figure([
        go.Histogram(x=old, name=label("acrc_score", lang), opacity=0.75, nbinsx=60, marker_color="#d7301f"),
        go.Histogram(x=new, name=label("integrity_index", lang), opacity=0.6, nbinsx=60, marker_color="#2c7fb8"),
    ])
    fig.update_layout(barmode="overlay")
    fig.update_xaxes(title=label("points", lang))
    fig.update_yaxes(title=label("departments", lang))
    return _style(fig, label("title_integrity_old_new", lang))


def leniency_forest(len_df: pd.DataFrame, lang: str = "ko") -> go.Figure:
    """Mean deviation of each rater from the other raters with its CI (from reliability.rater_leniency)."""
    d = len_df.dropna(subset=["mean_deviation"]).copy()
    d["who"] = d["rater_group"].map(lambda v: label(v, lang)) + " · " + d["half"] + " · " + d["rater_id"]
    d = d.sort_values(["rater_group", "half", "rater_id"], kind="stable")
    colors = d["flag"].map({"lenient": "#1b7837", "harsh": "#d7301f"}).fillna("#636363")
    fig = go.Figure(go.Scatter(
        x=d["mean_deviation"], y=d["who"], mode="markers", marker={"color": colors, "size": 9},
        error_x={"type": "data", "symmetric": False, "array": d["ci_high"] - d["mean_deviation"],
                 "arrayminus": d["mean_deviation"] - d["ci_low"]},
        hovertext=d["flag"], name=""))
    fig.add_vline(x=0, line_dash="dot")
    fig.update_xaxes(title=label("mean_deviation", lang))
    fig.update_yaxes(autorange="reversed")
    return _style(fig, label("title_leniency", lang), height=140 + 24 * len(d))


def rank_intervals(units: pd.DataFrame, names: pd.Series | None = None, lang: str = "ko") -> go.Figure:
    """Median rank with the 5–95 % rank interval per unit (from robustness.monte_carlo().units),
    one panel, units grouped by their grading group on the axis (a group of two gets two rows)."""
    d = units.assign(_t=units["group"].map(_TYPE_ORDER).fillna(len(_TYPE_ORDER))).sort_values(
        ["_t", "group", "nominal_rank", "unit_id"], kind="stable")
    d["name"] = d["unit_id"] if names is None else d["unit_id"].map(plain_text(names)).fillna(d["unit_id"])
    d["group_label"] = d["group"].map(lambda v: label(v, lang))
    fig = go.Figure()
    for g in _grade_order(d["nominal_grade"]):
        f = d[d["nominal_grade"] == g]
        fig.add_trace(go.Scatter(
            x=f["median_rank"], y=[f["group_label"], f["name"]], mode="markers", name=g,
            marker={"color": GRADE_COLORS.get(g, "#888"), "size": 9},
            error_x={"type": "data", "symmetric": False, "array": (f["rank_p95"] - f["median_rank"]).astype(float),
                     "arrayminus": (f["median_rank"] - f["rank_p05"]).astype(float), "color": "#666"},
            customdata=f[["nominal_rank", "rank_p05", "rank_p95", "p_grade_change"]].astype(float).to_numpy(),
            hovertemplate="%{y}: %{customdata[0]:.0f} (%{customdata[1]:.0f}–%{customdata[2]:.0f}), "
                          "P=%{customdata[3]:.0%}<extra></extra>"))
    fig.update_yaxes(autorange="reversed", type="multicategory", tickfont={"size": 11})
    fig.update_xaxes(title=label("median_rank", lang), rangemode="tozero", dtick=5)
    fig.update_yaxes(tickfont={"size": 10})
    fig = _style(fig, label("title_rank_intervals", lang), height=150 + 14 * len(d))
    fig.update_layout(margin={"l": 230, "r": 20, "t": 90, "b": 50})
    return fig


def sobol_named(sobol: pd.DataFrame) -> pd.DataFrame:
    """The Sobol table with the component ids inside ``input_ko`` as their Korean labels.

    ``robustness.sobol_indices`` writes ``대안 점수: achievement`` (the analysis knows no labels);
    the report reads ``대안 점수: 달성도평가``.

    Returns
    -------
    pandas.DataFrame
        ``sobol`` with ``input_ko`` relabelled (other columns unchanged).
    """
    if "input_ko" not in sobol:
        return sobol
    out = sobol.copy()
    out["input_ko"] = out["input_ko"].map(
        lambda v: re.sub(r"(?<=: )([A-Za-z][\w.-]*)$", lambda m: label(m.group(1), "ko"), v) if isinstance(v, str) else v)
    return out


def sobol_bar(sobol: pd.DataFrame, lang: str = "ko") -> go.Figure:
    """First-order and total Sobol shares per uncertain input (from robustness.sobol_indices)."""
    sobol = sobol_named(sobol)
    d = sobol[sobol["output"] == "per_unit_mean"]
    if lang == "ko" and "input_ko" in d:
        x = d["input_ko"].fillna(d["input"])
    else:
        x = d["input"].map(lambda v: label(v, lang))
    fig = go.Figure([
        go.Bar(y=x, x=d["S1"], name=label("sobol_s1", lang), orientation="h", marker_color="#2c7fb8",
               error_x={"type": "data", "symmetric": False,
                        "array": d["S1_ci_high"] - d["S1"], "arrayminus": d["S1"] - d["S1_ci_low"]}),
        go.Bar(y=x, x=d["ST"], name=label("sobol_st", lang), orientation="h", marker_color="#fdb863",
               error_x={"type": "data", "symmetric": False,
                        "array": d["ST_ci_high"] - d["ST"], "arrayminus": d["ST"] - d["ST_ci_low"]}),
    ])
    fig.update_layout(barmode="group", margin={"l": 200})
    fig.update_yaxes(autorange="reversed", automargin=True)
    fig.update_xaxes(rangemode="tozero", tickformat=".0%")
    return _style(fig, label("title_sobol", lang))


def explain_waterfall(explain: pd.DataFrame, lang: str = "ko", title: str | None = None) -> go.Figure:
    """Waterfall of one unit's total: component contributions (deductions negative) to the total.

    Parameters
    ----------
    explain
        ``Results.explain(unit_id)``: the ``component`` rows (``level == "component"``) and the
        ``total`` row are used.
    """
    comp = explain[explain["level"] == "component"]
    total = explain.loc[explain["level"] == "total", "value"]
    x = [label(c, lang) for c in comp["component"]] + [label("total", lang)]
    y = [float(v) for v in comp["value"]] + [float(total.iloc[0]) if len(total) else float(comp["value"].sum())]
    fig = go.Figure(go.Waterfall(
        x=x, y=y, measure=["relative"] * len(comp) + ["total"], text=[f"{round(v, 2) + 0.0:.2f}" for v in y],
        textposition="outside", connector={"line": {"color": "#bdbdbd"}},
        increasing={"marker": {"color": "#2c7fb8"}}, decreasing={"marker": {"color": "#d7301f"}},
        totals={"marker": {"color": "#1b7837"}}))
    fig.update_yaxes(title=label("points", lang), range=[0, max(y + [0.0]) * 1.12 + 1])
    return _style(fig, title or label("title_explain", lang), height=420)


def kpi_history_chart(history: pd.DataFrame, results: pd.DataFrame, lang: str = "ko",
                      title: str | None = None) -> go.Figure:
    """One KPI's yearly actuals (``kpi_history``) followed by the evaluation year's targets and actuals.

    Parameters
    ----------
    history
        Rows of ``kpi_history`` for the KPI: ``year, actual``.
    results
        Rows of ``Results.kpi`` (or ``kpi_results``) for the KPI: ``half, target, actual`` and
        ``year`` when present.
    """
    h = history.dropna(subset=["actual"]).sort_values("year", kind="stable")
    r = results.sort_values("half", kind="stable")
    year = int(r["year"].iloc[0]) if "year" in r and len(r) else None
    r_x = [f"{year or ''} {label(hv, lang)}".strip() for hv in r["half"]]
    h_x = [str(int(y)) for y in h["year"]]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=h_x + r_x, y=list(h["actual"]) + list(r["actual"]), mode="lines+markers",
                             name=label("series_actual", lang), line={"color": "#2c7fb8"}))
    fig.add_trace(go.Scatter(x=r_x, y=list(r["target"]), mode="markers", name=label("series_target", lang),
                             marker={"symbol": "diamond", "size": 13, "color": "#d7301f"}))
    fig.update_xaxes(type="category", categoryorder="array", categoryarray=h_x + r_x)
    return _style(fig, title or label("title_kpi_history", lang), height=380)



# --------------------------------------------------------------------------- perspectives, last year
RAG_COLORS = {"green": "#1b7837", "amber": "#f1a340", "red": "#d7301f"}


def perspective_heatmap(roll: pd.DataFrame, perspectives: list[str] | None = None, lang: str = "ko") -> go.Figure:
    """Institution × perspective achievement (from the ``perspective_rollup`` producer), cells coloured by RAG.

    Each cell shows the weighted mean rate; the colour is the cell's status (green/amber/red by
    the scheme's KPI status rules), grey where the institution has no KPI in the perspective.
    """
    if roll.empty:
        return _style(go.Figure(), label("title_perspective_heatmap", lang))
    d = roll.copy()
    d["name"] = d["name_ko"] if lang == "ko" else d["name_en"].fillna(d["name_ko"])
    order = list(dict.fromkeys([*(perspectives or []), *d["perspective"]]))
    order = [p for p in order if p in set(d["perspective"])]
    d["_t"] = d["inst_type"].map(_TYPE_ORDER).fillna(len(_TYPE_ORDER))
    names = list(dict.fromkeys(d.sort_values(["_t", "inst_type", "unit_id"], kind="stable")["name"]))
    code = {"green": 2, "amber": 1, "red": 0}
    z = d.pivot_table(index="name", columns="perspective", values="rag", aggfunc="first").reindex(
        index=names, columns=order)
    rate = d.pivot_table(index="name", columns="perspective", values="rate", aggfunc="first").reindex(
        index=names, columns=order)
    zc = z.apply(lambda col: col.map(code)).astype(float)
    text = rate.apply(lambda col: col.map(lambda v: "" if pd.isna(v) else f"{v:.0%}"))
    colorscale = [[0.0, RAG_COLORS["red"]], [0.33, RAG_COLORS["red"]], [0.34, RAG_COLORS["amber"]],
                  [0.66, RAG_COLORS["amber"]], [0.67, RAG_COLORS["green"]], [1.0, RAG_COLORS["green"]]]
    fig = go.Figure(go.Heatmap(z=zc.to_numpy(), x=[label(p, lang) for p in order], y=names, text=text.to_numpy(),
                               texttemplate="%{text}",
                               colorscale=colorscale, zmin=0, zmax=2, showscale=False, xgap=2, ygap=2,
                               hovertemplate="%{y} · %{x}: %{text}<extra></extra>"))
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(side="top")
    fig.update_yaxes(tickfont={"size": 10})
    fig = _style(fig, label("title_perspective_heatmap", lang), height=130 + 15 * len(names))
    fig.update_layout(margin={"l": 200, "r": 20, "t": 90, "b": 20})
    for rag in ("green", "amber", "red"):  # legend entries for the three colours
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=label(f"rag_{rag}", lang),
                                 marker={"color": RAG_COLORS[rag], "size": 12, "symbol": "square"}))
    fig.update_layout(showlegend=True, legend={"orientation": "h", "y": 0.0, "yanchor": "top", "x": 0.0,
                                               "xanchor": "left"})
    fig.update_layout(margin={"l": 200, "r": 20, "t": 90, "b": 50})
    return fig


def strategy_map_chart(grid: pd.DataFrame, lang: str = "ko") -> go.Figure:
    """The city-wide strategy map (from the ``strategy_grid`` producer): BSC perspectives as layers
    (first perspective on top), city goals as columns; each box shows the strategic goals and KPIs
    under it and their weighted achievement, coloured by RAG status."""
    if grid.empty:
        return _style(go.Figure(), label("title_strategy_map", lang))
    rows = list(dict.fromkeys(grid["perspective"]))
    cols = list(dict.fromkeys(grid["city_goal_id"]))
    first = grid.drop_duplicates("city_goal_id").set_index("city_goal_id")
    cname = first["city_goal_en"].fillna(first["city_goal_ko"]) if lang == "en" and "city_goal_en" in first \
        else first["city_goal_ko"]
    xlab = [f"{c} {cname[c]}" if cname[c] != "-" else "-" for c in cols]
    code = {"green": 2, "amber": 1, "red": 0}
    g = grid.set_index(["perspective", "city_goal_id"])
    z, text = [], []
    for r in rows:
        zr, tr = [], []
        for c in cols:
            if (r, c) in g.index:
                e = g.loc[(r, c)]
                zr.append(code.get(e["rag"], None))
                rate = "" if pd.isna(e["rate"]) else f"<b>{e['rate']:.1%}</b>"
                tr.append(f"{rate}<br>{int(e['n_strategic_goals'])} / {int(e['n_kpis'])}")
            else:
                zr.append(None)
                tr.append("")
        z.append(zr)
        text.append(tr)
    colorscale = [[0.0, RAG_COLORS["red"]], [0.33, RAG_COLORS["red"]], [0.34, RAG_COLORS["amber"]],
                  [0.66, RAG_COLORS["amber"]], [0.67, RAG_COLORS["green"]], [1.0, RAG_COLORS["green"]]]
    fig = go.Figure(go.Heatmap(z=z, x=xlab, y=[label(r, lang) for r in rows], text=text, texttemplate="%{text}",
                               textfont={"size": 12},
                               colorscale=colorscale, zmin=0, zmax=2, showscale=False, xgap=6, ygap=6,
                               hovertemplate="%{y} · %{x}<br>%{text}<extra></extra>"))
    fig.update_yaxes(autorange="reversed", ticklabelstandoff=8)
    fig.update_xaxes(side="top")
    fig = _style(fig, label("title_strategy_map", lang), height=200 + 80 * len(rows))
    keys = " ".join(f'<span style="color:{RAG_COLORS[r]}">■</span> {label(f"rag_{r}", lang)}' for r in RAG_COLORS)
    fig.add_annotation(text=f"{keys} · {label('strategy_map_cell', lang)}", xref="paper", yref="paper", x=0.0,
                       y=-0.03, xanchor="left", yanchor="top", showarrow=False, font={"size": 11, "color": "#5b6675"})
    fig.update_layout(margin={"l": 110, "r": 20, "t": 100, "b": 50})
    return fig


def grade_transition_heatmap(trans: pd.DataFrame, year: int, lang: str = "ko",
                             level: str = "institution") -> go.Figure:
    """Prior grade × grade counts (from the ``grade_transitions`` producer) as an annotated matrix."""
    d = trans[trans["level"] == level]
    rows = list(dict.fromkeys(d["grade_prior"]))
    cols = list(dict.fromkeys(d["grade"]))
    m = d.pivot_table(index="grade_prior", columns="grade", values="n", aggfunc="sum").reindex(index=rows, columns=cols)
    ylab = [label("movement_new", lang) if r == "new" else r for r in rows]
    diag = [[1.0 if r == c else 0.0 for c in cols] for r in rows]
    fig = go.Figure(go.Heatmap(z=m.to_numpy(), x=cols, y=ylab, text=m.to_numpy(), texttemplate="%{text}",
                               colorscale="Blues", showscale=False, xgap=2, ygap=2,
                               customdata=diag, hovertemplate="%{y} → %{x}: %{z}<extra></extra>"))
    fig.update_yaxes(autorange="reversed", title=f"{year - 1} {label('grade', lang)}", type="category")
    fig.update_xaxes(side="top", title=f"{year} {label('grade', lang)}", type="category")
    fig = _style(fig, label("title_grade_transitions", lang), height=155 + 60 * len(rows))
    # the x axis (ticks and its title) sits on top: the title is pinned to the top edge of the
    # figure and the top margin leaves a band for it above the axis title, so they cannot overlap
    fig.update_layout(width=None, margin={"l": 80, "r": 20, "t": 125, "b": 20},
                      title={"y": 1.0, "yref": "container", "yanchor": "top", "pad": {"t": 14}})
    return fig


def rank_change_chart(changes: pd.DataFrame, lang: str = "ko") -> go.Figure:
    """Rank change against last year per institution (from ``rank_changes``), zero-based bars by type."""
    d = changes.dropna(subset=["rank_change"]).copy()
    d["name"] = d["name_ko"] if lang == "ko" else d["name_en"].fillna(d["name_ko"])
    d = d.sort_values(["rank_change", "unit_id"], ascending=[True, True], kind="stable")
    fig = go.Figure()
    for t, f in d.groupby("inst_type", sort=False):
        fig.add_trace(go.Bar(x=f["rank_change"].astype(float), y=f["name"], orientation="h",
                             name=label(t, lang), marker_color=TYPE_COLORS.get(t, "#888888"),
                             hovertemplate="%{y}: %{x:+d}<extra></extra>"))
    fig.update_yaxes(categoryorder="array", categoryarray=list(d["name"]))
    fig.update_xaxes(title=label("rank_change", lang), zeroline=True, zerolinewidth=2, zerolinecolor="#444")
    fig.update_yaxes(tickfont={"size": 10})
    fig = _style(fig, label("title_rank_change", lang), height=150 + 14 * len(d))
    fig.update_layout(margin={"l": 200, "r": 20, "t": 60, "b": 50}, barmode="overlay",
                      legend={"orientation": "h", "y": 1.0, "yanchor": "bottom", "x": 0.0})
    return fig
