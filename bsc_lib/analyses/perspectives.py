"""BSC perspectives: KPI achievement rolled up by perspective, and the strategy map.

The data carry the BSC chain of each department KPI: KPI → major project → performance goal
(성과목표) → strategic goal (전략목표) → perspective (관점, the scheme's ``perspectives``). This
module follows that chain and rolls the KPIs' achievement up it:

* :func:`kpi_links` — the chain of every KPI (links missing anywhere on the way are ``NaN``;
  institution-level KPIs have no project and so no perspective);
* :func:`kpi_period_rates` — one capped achievement rate per KPI for the evaluated period (the
  half's rate, or the scheme's ``year_combine`` weighted mean of the halves for the year);
* :func:`perspective_rollup` — per institution and perspective, the weight-averaged rate and
  its RAG status (the scheme's ``kpi_status`` rules applied to the average: the first rule is
  green, the last red, any between amber);
* :func:`strategy_map` — one row per strategic goal / performance goal / KPI with the rate and
  status of each level (the strategy-map table the report and the dashboard draw).

Pure functions: DataFrames and explicit parameters in, tidy DataFrames out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from bsc_lib.config.scheme import StatusRule
from bsc_lib.data.model import plain_text
from bsc_lib.scoring.grading import kpi_status

#: RAG colour of a status by its position in the scheme's ``kpi_status`` rules.
RAG = ("green", "amber", "red")


def rag_of(rules: Sequence[StatusRule]) -> dict[str, str]:
    """Map each status of ``rules`` to ``green`` (first), ``red`` (last) or ``amber`` (between).

    With a single rule it is green; with two, green and red.
    """
    codes = [r.status for r in rules]
    out = {}
    for i, c in enumerate(codes):
        out[c] = "green" if i == 0 else ("red" if i == len(codes) - 1 else "amber")
    return out


def kpi_links(kpis: pd.DataFrame, projects: pd.DataFrame, performance_goals: pd.DataFrame,
              strategic_goals: pd.DataFrame, departments: pd.DataFrame) -> pd.DataFrame:
    """The BSC chain of every KPI.

    Returns
    -------
    pandas.DataFrame
        One row per KPI in the order of ``kpis``: ``kpi_id``, ``owner_id``, ``institution_id``
        (the owner's institution, or the owner itself for institution-level KPIs),
        ``project_id``, ``performance_goal_id``, ``strategic_goal_id``, ``perspective``
        (missing where the chain breaks).
    """
    kpis, projects, performance_goals, strategic_goals, departments = (
        plain_text(t) for t in (kpis, projects, performance_goals, strategic_goals, departments))
    k = kpis[["kpi_id", "owner_id", "project_id"]].copy() if "project_id" in kpis else \
        kpis[["kpi_id", "owner_id"]].assign(project_id=np.nan)
    dept_inst = departments.set_index("department_id")["institution_id"]
    k["institution_id"] = k["owner_id"].map(dept_inst).fillna(k["owner_id"])
    proj_pg = projects.set_index("project_id")["performance_goal_id"] if len(projects) else pd.Series(dtype=object)
    k["performance_goal_id"] = k["project_id"].map(proj_pg)
    pg_sg = performance_goals.set_index("performance_goal_id")["strategic_goal_id"] if len(performance_goals) \
        else pd.Series(dtype=object)
    k["strategic_goal_id"] = k["performance_goal_id"].map(pg_sg)
    sg_p = strategic_goals.set_index("strategic_goal_id")["perspective"] if len(strategic_goals) \
        else pd.Series(dtype=object)
    k["perspective"] = k["strategic_goal_id"].map(sg_p)
    cols = ["kpi_id", "owner_id", "institution_id", "project_id", "performance_goal_id", "strategic_goal_id",
            "perspective"]
    return k[cols].reset_index(drop=True)


def kpi_period_rates(kpi: pd.DataFrame, half: str, year_combine: Mapping[str, float]) -> pd.DataFrame:
    """One capped achievement rate per KPI for the evaluated period.

    Parameters
    ----------
    kpi
        The scored ``kpi`` table (one row per KPI and half: ``kpi_id``, ``half``, ``weight``,
        ``capped_rate``).
    half
        ``"H1"``, ``"H2"`` (that half's rate) or ``"year"`` (the ``year_combine`` weighted mean of
        the halves present; a half with a missing rate drops out and the weights are renormalised).
    year_combine
        ``scheme.year_combine``.

    Returns
    -------
    pandas.DataFrame
        ``kpi_id``, ``weight``, ``rate`` (NaN when no half has a rate), sorted by ``kpi_id``.
    """
    k = kpi[["kpi_id", "half", "weight", "capped_rate"]]
    if half in ("H1", "H2"):
        k = k[k["half"] == half]
        w = pd.Series(1.0, index=k.index)
    else:
        w = k["half"].map(dict(year_combine)).astype(float).fillna(0.0)
    w = w.where(k["capped_rate"].notna(), 0.0)
    tmp = pd.DataFrame({"kpi_id": k["kpi_id"], "wr": w * k["capped_rate"].fillna(0.0), "w": w,
                        "weight": k["weight"]})
    g = tmp.groupby("kpi_id", sort=True).agg(wr=("wr", "sum"), w=("w", "sum"), weight=("weight", "first"))
    rate = (g["wr"] / g["w"]).where(g["w"] > 0)
    return pd.DataFrame({"kpi_id": g.index, "weight": g["weight"].to_numpy(), "rate": rate.to_numpy()})


def _weighted(frame: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    f = frame.dropna(subset=["rate"])
    w = f["weight"].astype(float).where(f["weight"] > 0, 1.0)
    tmp = f[by].assign(wr=w * f["rate"], w=w)
    g = tmp.groupby(by, sort=True, dropna=False).agg(wr=("wr", "sum"), w=("w", "sum"))
    n = frame.groupby(by, sort=True, dropna=False).size().rename("n_kpis")
    out = n.to_frame().join(g, how="left")
    out["rate"] = (out["wr"] / out["w"]).where(out["w"] > 0)
    return out.drop(columns=["wr", "w"]).reset_index()


def perspective_rollup(links: pd.DataFrame, rates: pd.DataFrame, rules: Sequence[StatusRule],
                       perspectives: Sequence[str] = ()) -> pd.DataFrame:
    """KPI achievement by institution and BSC perspective, with RAG status.

    Parameters
    ----------
    links
        :func:`kpi_links`.
    rates
        :func:`kpi_period_rates`.
    rules
        ``scheme.kpi_status`` (applied to the weighted mean rate; colours by :func:`rag_of`).
    perspectives
        The scheme's perspectives in display order (others follow alphabetically).

    Returns
    -------
    pandas.DataFrame
        One row per institution and perspective that has a linked KPI: ``institution_id``,
        ``perspective``, ``n_kpis``, ``n_rated`` (KPIs with a rate), ``rate`` (KPI-weight mean of
        the capped rates), ``status`` (the rule's code), ``rag`` (green/amber/red, missing without
        a rate), ``n_achieved``/``n_missed`` (KPIs in the first/last status). Sorted by
        institution then perspective order. KPIs without a perspective are left out;
        ``attrs["n_unlinked"]`` counts them.
    """
    f = links.merge(rates, on="kpi_id", how="left")
    unlinked = int(f["perspective"].isna().sum())
    f = f.dropna(subset=["perspective"])
    cols = ["institution_id", "perspective", "n_kpis", "n_rated", "rate", "status", "rag", "n_achieved", "n_missed"]
    if f.empty:
        out = pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
        out.attrs["n_unlinked"] = unlinked
        return out
    out = _weighted(f, ["institution_id", "perspective"])
    out["n_rated"] = f.groupby(["institution_id", "perspective"], sort=True)["rate"].count().to_numpy()
    f = f.assign(status=kpi_status(f["rate"], rules))
    codes = [r.status for r in rules]
    first, last = (codes[0], codes[-1]) if codes else ("", "")
    cnt = f.groupby(["institution_id", "perspective"], sort=True)["status"]
    out["n_achieved"] = cnt.apply(lambda s: int((s == first).sum())).to_numpy()
    out["n_missed"] = cnt.apply(lambda s: int((s == last).sum())).to_numpy() if len(codes) > 1 else 0
    out["status"] = kpi_status(out["rate"], rules)
    out["rag"] = out["status"].map(rag_of(rules))
    order = {p: i for i, p in enumerate(perspectives)}
    out["_o"] = out["perspective"].map(lambda p: order.get(p, len(order)))
    out = out.sort_values(["institution_id", "_o", "perspective"], kind="stable").drop(columns="_o")
    out = out[cols].reset_index(drop=True)
    out.attrs["n_unlinked"] = unlinked
    return out


def strategy_map(links: pd.DataFrame, rates: pd.DataFrame, rules: Sequence[StatusRule],
                 strategic_goals: pd.DataFrame, performance_goals: pd.DataFrame, kpis: pd.DataFrame,
                 perspectives: Sequence[str] = ()) -> pd.DataFrame:
    """The strategy map as a table: perspective → strategic goal → performance goal → KPI.

    Each level carries the KPI-weight mean rate of the KPIs below it and its status (the
    scheme's ``kpi_status`` rules) and RAG colour.

    Returns
    -------
    pandas.DataFrame
        One row per KPI linked to a perspective: ``perspective``, ``perspective_rate``,
        ``perspective_rag``, ``institution_id``, ``strategic_goal_id``, ``strategic_goal_ko``,
        ``strategic_goal_rate``, ``strategic_goal_rag``, ``performance_goal_id``,
        ``performance_goal_ko``, ``performance_goal_rate``, ``performance_goal_rag``,
        ``kpi_id``, ``kpi_ko``, ``rate``, ``status``, ``rag``. Sorted by perspective order,
        institution, strategic goal, performance goal, KPI.
    """
    links, strategic_goals, performance_goals, kpis = (
        plain_text(t) for t in (links, strategic_goals, performance_goals, kpis))
    f = links.dropna(subset=["perspective"]).merge(rates, on="kpi_id", how="left")
    rag = rag_of(rules)
    cols = ["perspective", "perspective_rate", "perspective_rag", "institution_id", "strategic_goal_id",
            "strategic_goal_ko", "strategic_goal_rate", "strategic_goal_rag", "performance_goal_id",
            "performance_goal_ko", "performance_goal_rate", "performance_goal_rag", "kpi_id", "kpi_ko",
            "rate", "status", "rag"]
    if f.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    for level, key in (("perspective", ["perspective"]), ("strategic_goal", ["strategic_goal_id"]),
                       ("performance_goal", ["performance_goal_id"])):
        agg = _weighted(f, key).set_index(key)["rate"]
        f[f"{level}_rate"] = pd.MultiIndex.from_frame(f[key]).map(agg) if len(key) > 1 else f[key[0]].map(agg)
        f[f"{level}_rag"] = kpi_status(f[f"{level}_rate"], rules).map(rag)
    f["status"] = kpi_status(f["rate"], rules)
    f["rag"] = f["status"].map(rag)
    f["strategic_goal_ko"] = f["strategic_goal_id"].map(strategic_goals.set_index("strategic_goal_id")["name_ko"])
    f["performance_goal_ko"] = f["performance_goal_id"].map(
        performance_goals.set_index("performance_goal_id")["name_ko"])
    f["kpi_ko"] = f["kpi_id"].map(kpis.set_index("kpi_id")["name_ko"])
    order = {p: i for i, p in enumerate(perspectives)}
    f["_o"] = f["perspective"].map(lambda p: order.get(p, len(order)))
    f = f.sort_values(["_o", "perspective", "institution_id", "strategic_goal_id", "performance_goal_id", "kpi_id"],
                      kind="stable")
    return f[cols].reset_index(drop=True)


def strategy_grid(links: pd.DataFrame, rates: pd.DataFrame, rules: Sequence[StatusRule],
                  strategic_goals: pd.DataFrame, plan_tasks: pd.DataFrame,
                  perspectives: Sequence[str] = ()) -> pd.DataFrame:
    """The city-wide strategy map: BSC perspective × city goal (시정목표) the strategic goals serve.

    Returns
    -------
    pandas.DataFrame
        One row per perspective and city goal with a linked KPI: ``perspective``,
        ``city_goal_id``, ``city_goal_ko`` (plan task name; ``"-"`` for strategic goals without a
        city goal), ``city_goal_en``, ``n_strategic_goals``, ``n_kpis``, ``rate`` (KPI-weight mean), ``status``,
        ``rag``. Sorted by perspective order then city goal id.
    """
    cols = ["perspective", "city_goal_id", "city_goal_ko", "city_goal_en", "n_strategic_goals", "n_kpis", "rate", "status",
            "rag"]
    links, strategic_goals, plan_tasks = (plain_text(t) for t in (links, strategic_goals, plan_tasks))
    f = links.dropna(subset=["perspective"]).merge(rates, on="kpi_id", how="left")
    if f.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    cg = strategic_goals.set_index("strategic_goal_id")["city_goal_id"] if "city_goal_id" in strategic_goals \
        else pd.Series(dtype=object)
    f["city_goal_id"] = f["strategic_goal_id"].map(cg).fillna("-")
    out = _weighted(f, ["perspective", "city_goal_id"])
    nsg = f.groupby(["perspective", "city_goal_id"], sort=True)["strategic_goal_id"].nunique()
    out["n_strategic_goals"] = nsg.to_numpy()
    pt = plan_tasks.set_index("task_id") if len(plan_tasks) else pd.DataFrame(columns=["name_ko", "name_en"])
    out["city_goal_ko"] = out["city_goal_id"].map(pt["name_ko"]).fillna("-")
    out["city_goal_en"] = out["city_goal_id"].map(pt["name_en"]) if "name_en" in pt else pd.NA
    out["status"] = kpi_status(out["rate"], rules)
    out["rag"] = out["status"].map(rag_of(rules))
    order = {p: i for i, p in enumerate(perspectives)}
    out["_o"] = out["perspective"].map(lambda p: order.get(p, len(order)))
    out = out.sort_values(["_o", "perspective", "city_goal_id"], kind="stable")
    return out[cols].reset_index(drop=True)


__all__ = ["RAG", "kpi_links", "kpi_period_rates", "perspective_rollup", "rag_of", "strategy_grid", "strategy_map"]
