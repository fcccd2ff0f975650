"""Figures of the scheme comparison and the target recommendation (ko/en labels from
:mod:`bsc_lib.present.labels`). Functions of result tables, returning plotly figures."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from bsc_lib.present.labels import label

#: One colour per component part (stable across figures); others fall back to grey.
PART_COLOURS = {
    "pre_evaluation": "#4c78a8", "achievement": "#f58518", "qualitative": "#54a24b", "evaluator": "#b279a2",
    "cooperation": "#e45756", "organisation": "#72b7b2", "deductions": "#9d755d", "clipping": "#bab0ac",
}


def _style(fig: go.Figure, title: str, height: int = 460) -> go.Figure:
    fig.update_layout(title={"text": title, "x": 0.0, "xanchor": "left"}, height=height, template="plotly_white",
                      margin={"l": 60, "r": 20, "t": 60, "b": 60},
                      font={"family": "Noto Sans CJK KR, Noto Sans KR, sans-serif", "size": 12},
                      legend={"orientation": "h", "y": -0.18})
    return fig


def contribution_bars(contrib: pd.DataFrame, units: pd.DataFrame, evaluation: str = "institutional",
                      lang: str = "ko", top: int | None = None, names: pd.Series | None = None) -> go.Figure:
    """Stacked bars of each unit's contributions (B − A) by component, with the change of the total
    as a marker; units sorted by the change. ``top``: only the units with the largest |change|;
    ``names``: display name per unit id (default ``name_ko``)."""
    c = contrib[contrib["evaluation"] == evaluation]
    u = units[units["evaluation"] == evaluation].set_index("unit_id")
    order = u.sort_values(["delta", "unit_id"], ascending=[True, True]).index.tolist()
    if top is not None and len(order) > top:
        keep = u["delta"].abs().sort_values(ascending=False, kind="stable").index[:top]
        order = [x for x in order if x in set(keep)]
    shown = names if names is not None else u["name_ko"]
    names = [f"{shown.get(i)} ({i})" if isinstance(shown.get(i), str) else i for i in order]
    fig = go.Figure()
    for part, g in c.groupby("part", sort=False):
        vals = g.set_index("unit_id")["contribution"].reindex(order)
        if (vals.fillna(0) == 0).all():
            continue
        fig.add_bar(y=names, x=vals, orientation="h", name=label(part, lang),
                    marker_color=PART_COLOURS.get(part, "#999999"))
    fig.add_scatter(y=names, x=u["delta"].reindex(order), mode="markers", name=label("delta", lang),
                    marker={"color": "black", "symbol": "diamond", "size": 7})
    fig.update_layout(barmode="relative", xaxis_title=label("contribution", lang))
    fig.update_yaxes(dtick=1, automargin=True)  # every unit named (plotly would skip labels)
    _style(fig, label("title_compare_delta", lang), height=max(420, 22 * len(order) + 170))
    fig.update_layout(legend={"orientation": "h", "y": 1.0, "yanchor": "bottom", "x": 0.0}, margin={"t": 90})
    return fig


def transition_heatmap(trans: pd.DataFrame, evaluation: str = "institutional", lang: str = "ko") -> go.Figure:
    """The grade transition matrix as an annotated heat map (rows: grade under A)."""
    t = trans[trans["evaluation"] == evaluation]
    rows = list(dict.fromkeys(t["grade_a"]))
    cols = list(dict.fromkeys(t["grade_b"]))
    z = t.pivot(index="grade_a", columns="grade_b", values="n").reindex(index=rows, columns=cols)
    fig = go.Figure(go.Heatmap(z=z.to_numpy(), x=[f"B: {g}" for g in cols], y=[f"A: {g}" for g in rows],
                               colorscale="Blues", text=z.to_numpy(), texttemplate="%{text}", showscale=False))
    fig.update_yaxes(autorange="reversed")
    return _style(fig, f"{label('title_compare_transitions', lang)} — {label(evaluation, lang)}", height=380)


# ---------------------------------------------------------------------------- display tables
def _codes(s: pd.Series, lang: str) -> pd.Series:
    return s.map(lambda v: label(v, lang) if isinstance(v, str) else v)


def display_names(names: pd.DataFrame, lang: str = "ko") -> pd.Series:
    """Unit id → display name in ``lang`` (English falling back to Korean) from
    :func:`bsc_lib.data.describe.unit_names`."""
    n = names.set_index("unit_id")
    return n["name_ko"] if lang == "ko" else n["name_en"].where(n["name_en"].notna() & (n["name_en"] != ""), n["name_ko"])


def units_view(units: pd.DataFrame, lang: str = "ko") -> pd.DataFrame:
    """``compare_units`` rows for display: codes as labels, the columns an analyst reads."""
    cols = ["unit_id", "name_ko", "inst_type", "total_a", "total_b", "delta", "rank_a", "rank_b", "rank_change",
            "grade_a", "grade_b"]
    return units[cols].assign(inst_type=_codes(units["inst_type"], lang)).rename(columns={"inst_type": "type_of_unit", "name_ko": "unit_name"})


def _wide(side: pd.DataFrame, values: dict[str, str], lang: str) -> pd.DataFrame:
    """A side-by-side (``scheme`` A/B) table as one row per evaluation and component."""
    keys = ["evaluation", "component"]
    a = side[side["scheme"] == "A"].set_index(keys)
    b = side[side["scheme"] == "B"].set_index(keys)
    idx = list(dict.fromkeys([*a.index, *b.index]))
    out = pd.DataFrame(index=pd.MultiIndex.from_tuples(idx, names=keys))
    for col, stem in values.items():
        out[f"{stem}_a"] = a[col].reindex(out.index)
        out[f"{stem}_b"] = b[col].reindex(out.index)
    out = out.reset_index()
    return out.assign(evaluation=_codes(out["evaluation"], lang), component=_codes(out["component"], lang))


def weights_view(eff: pd.DataFrame, lang: str = "ko") -> pd.DataFrame:
    """``compare_effective_weights`` wide: nominal points and effective (variance) share under A and B."""
    return _wide(eff, {"nominal_points": "nominal", "effective_share": "effective_share"}, lang)


def discrimination_view(disc: pd.DataFrame, lang: str = "ko", evaluations=("institutional", "department")) -> pd.DataFrame:
    """``compare_discrimination`` wide: distinct scores, largest tie share and CV under A and B."""
    d = disc[disc["evaluation"].isin(evaluations)]
    return _wide(d, {"n_distinct": "distinct", "largest_tie_share": "tie_share", "cv": "cv"}, lang)


def shifts_view(shifts: pd.DataFrame, lang: str = "ko") -> pd.DataFrame:
    """``compare_shifts`` with labelled codes."""
    return shifts.assign(evaluation=_codes(shifts["evaluation"], lang), inst_type=_codes(shifts["inst_type"], lang)).rename(
        columns={"inst_type": "type_of_unit"})


__all__ = ["contribution_bars", "discrimination_view", "display_names", "shifts_view", "transition_heatmap", "units_view",
           "weights_view"]
