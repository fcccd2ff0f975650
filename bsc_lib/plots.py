"""Plotly figures for the notebooks, the report and the dashboard.

Every function takes the tidy DataFrames the analysis modules return and gives back a
``plotly.graph_objects.Figure``; nothing here computes a score. Labels are Korean by
default (``lang="en"`` for English). Fonts: Noto Sans CJK KR (Debian ``fonts-noto-cjk``).
"""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from bsc_lib.labels import label

FONT = "Noto Sans CJK KR, Noto Sans KR, Malgun Gothic, sans-serif"
GRADE_COLORS = {"S": "#1b7837", "A": "#7fbf7b", "B": "#fdb863", "C": "#d7301f"}
STATUS_COLORS = {"achieved": "#1b7837", "caution": "#fdb863", "missed": "#d7301f"}
TYPE_COLORS = {"main_office": "#2c7fb8", "business_office": "#7fcdbb", "independent": "#f03b20"}


def _style(fig: go.Figure, title: str, height: int = 420) -> go.Figure:
    fig.update_layout(
        title={"text": title, "x": 0.01},
        font={"family": FONT, "size": 13},
        height=height,
        margin={"l": 60, "r": 20, "t": 60, "b": 50},
        template="plotly_white",
        legend={"orientation": "h", "y": -0.15},
    )
    return fig


def counts_by_type_bar(by_type: pd.DataFrame, lang: str = "ko") -> go.Figure:
    """Grouped bars of institutions/departments/KPIs per institution type (from describe.counts_by_type)."""
    d = by_type[by_type["inst_type"] != "total"].melt(
        id_vars="inst_type", value_vars=["institutions", "departments", "projects", "kpis"],
        var_name="what", value_name="n",
    )
    d["inst_type"] = d["inst_type"].map(lambda v: label(v, lang))
    d["what"] = d["what"].map(lambda v: label(v, lang))
    fig = px.bar(d, x="what", y="n", color="inst_type", barmode="group", text="n",
                 labels={"what": "", "n": label("count", lang), "inst_type": label("inst_type", lang)})
    return _style(fig, label("title_counts_by_type", lang))


def schedule_timeline(schedule: pd.DataFrame, lang: str = "ko") -> go.Figure:
    """Gantt chart of the yearly cycle (from cycle.schedule_frame)."""
    d = schedule.copy()
    d["finish"] = d["finish"] + pd.Timedelta(days=1)
    d["label"] = d["order"].astype(str) + ". " + d["step"]
    fig = px.timeline(d, x_start="start", x_end="finish", y="label", color="who",
                      labels={"label": "", "who": label("who", lang)})
    fig.update_yaxes(autorange="reversed")
    return _style(fig, label("title_schedule", lang), height=120 + 34 * len(d))


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
    return _style(fig, label("title_task_coverage", lang))


def target_vs_trend(kdiff: pd.DataFrame, lang: str = "ko") -> go.Figure:
    """Target against the KPI's own trend forecast (from difficulty.kpi_difficulty), log-log.

    Points below the diagonal (for up KPIs) ask for less than the history's trend; the
    colour marks the easy / hard / other classification.
    """
    d = kdiff[(kdiff["trend_forecast"] > 0) & (kdiff["target"] > 0)].copy()
    cls = pd.Series("normal", index=d.index)
    cls[d["hard"].fillna(False).astype(bool)] = "hard"
    cls[d["easy"].fillna(False).astype(bool)] = "easy"
    d["class"] = cls.map(lambda v: label(v, lang))
    fig = px.scatter(d, x="trend_forecast", y="target", color="class", symbol="polarity", log_x=True, log_y=True,
                     hover_data=["kpi_id", "name_ko", "owner_id", "gap", "challenge_z"],
                     color_discrete_map={label("easy", lang): "#d7301f", label("hard", lang): "#1b7837",
                                         label("normal", lang): "#969696"},
                     labels={"trend_forecast": label("trend_forecast", lang), "target": label("target", lang),
                             "class": "", "polarity": label("polarity", lang)})
    if len(d):
        lo, hi = float(min(d["trend_forecast"].min(), d["target"].min())), float(max(d["trend_forecast"].max(), d["target"].max()))
        fig.add_trace(go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", line={"dash": "dot", "color": "#444"},
                                 name=label("target_equals_trend", lang), hoverinfo="skip"))
    return _style(fig, label("title_target_vs_trend", lang), height=520)


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
