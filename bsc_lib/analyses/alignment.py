"""Strategy alignment: does every four-year-plan task reach a major project, and the strategy map.

Spec §3: the plans must carry the vision, the 5 city goals and the 25 core / 151 general
tasks into major projects. Pure functions on :class:`bsc_lib.data.model.BSCData`.
"""

from __future__ import annotations

import pandas as pd

from bsc_lib.data.model import BSCData


def task_coverage(data: BSCData) -> pd.DataFrame:
    """Projects and KPIs reaching each core/general plan task.

    Returns
    -------
    DataFrame
        One row per core or general task: ``task_id``, ``plan_level``, ``goal_id``,
        ``goal_name_ko``, ``name_ko``, ``n_projects``, ``n_departments``, ``n_kpis``,
        ``covered`` (at least one project). Sorted by task_id.
    """
    data = data.plain("plan_tasks", "project_tasks", "projects", "kpis")
    tasks = data.plan_tasks
    goals = tasks.loc[tasks["plan_level"] == "goal", ["task_id", "name_ko"]].rename(
        columns={"task_id": "goal_id", "name_ko": "goal_name_ko"}
    )
    t = tasks.loc[tasks["plan_level"].isin(["core", "general"]), ["task_id", "plan_level", "parent_id", "name_ko"]]
    t = t.rename(columns={"parent_id": "goal_id"}).merge(goals, on="goal_id", how="left")
    pt = data.project_tasks.merge(data.projects[["project_id", "department_id"]], on="project_id", how="left")
    kp = data.kpis.dropna(subset=["project_id"]).groupby("project_id").size().rename("kpis")
    pt = pt.assign(kpis=pt["project_id"].map(kp).fillna(0).astype(int))
    agg = pt.groupby("task_id").agg(
        n_projects=("project_id", "nunique"), n_departments=("department_id", "nunique"), n_kpis=("kpis", "sum")
    )
    out = t.merge(agg, left_on="task_id", right_index=True, how="left")
    for c in ("n_projects", "n_departments", "n_kpis"):
        out[c] = out[c].fillna(0).astype(int)
    out["covered"] = out["n_projects"] > 0
    cols = ["task_id", "plan_level", "goal_id", "goal_name_ko", "name_ko", "n_projects", "n_departments", "n_kpis", "covered"]
    return out[cols].sort_values("task_id", kind="stable").reset_index(drop=True)


def coverage_summary(coverage: pd.DataFrame) -> pd.DataFrame:
    """Covered share per plan level.

    Returns
    -------
    DataFrame
        Columns ``plan_level`` (core, general), ``tasks``, ``covered``, ``uncovered``, ``share_covered``.
    """
    g = coverage.groupby("plan_level", sort=True)["covered"].agg(tasks="size", covered="sum")
    g["uncovered"] = g["tasks"] - g["covered"]
    g["share_covered"] = g["covered"] / g["tasks"]
    return g.reset_index()


def strategy_tree(data: BSCData, lang: str = "ko") -> pd.DataFrame:
    """The strategy map as a parent/child table for a sunburst or treemap.

    Levels: institution type → institution → strategic goal → performance goal →
    major project; ``value`` is the number of KPIs under each node (leaf projects carry
    their KPI count, at least 1 so empty projects stay visible).

    Returns
    -------
    DataFrame
        Columns ``id``, ``parent``, ``label``, ``level``, ``value``.
    """
    from bsc_lib.data.describe import INST_TYPE_LABELS

    name = "name_ko" if lang == "ko" else "name_en"
    data = data.plain("institutions", "strategic_goals", "performance_goals", "departments", "projects", "kpis")
    inst = data.institutions
    rows = [pd.DataFrame({"id": ["type:" + t for t in inst["inst_type"].unique()], "parent": "",
                          "label": [INST_TYPE_LABELS[lang][t] for t in inst["inst_type"].unique()], "level": "inst_type"})]
    inst_label = inst[name].fillna(inst["name_ko"]) if name in inst else inst["name_ko"]
    rows.append(pd.DataFrame({"id": "inst:" + inst["institution_id"], "parent": "type:" + inst["inst_type"],
                              "label": inst_label, "level": "institution"}))
    sg = data.strategic_goals
    rows.append(pd.DataFrame({"id": "sg:" + sg["strategic_goal_id"], "parent": "inst:" + sg["institution_id"],
                              "label": sg["name_ko"], "level": "strategic_goal"}))
    pg = data.performance_goals
    pg_parent = ("sg:" + pg["strategic_goal_id"]).fillna(
        "inst:" + pg["department_id"].map(data.departments.set_index("department_id")["institution_id"])
    )
    rows.append(pd.DataFrame({"id": "pg:" + pg["performance_goal_id"], "parent": pg_parent,
                              "label": pg["name_ko"], "level": "performance_goal"}))
    pr = data.projects
    dep_inst = pr["department_id"].map(data.departments.set_index("department_id")["institution_id"])
    pr_parent = ("pg:" + pr["performance_goal_id"]).fillna("inst:" + dep_inst)
    n_kpi = data.kpis.dropna(subset=["project_id"]).groupby("project_id").size()
    rows.append(pd.DataFrame({"id": "pr:" + pr["project_id"], "parent": pr_parent, "label": pr["name_ko"],
                              "level": "project", "value": pr["project_id"].map(n_kpi).fillna(0).clip(lower=1)}))
    out = pd.concat(rows, ignore_index=True)
    out["value"] = out["value"].fillna(0.0) if "value" in out else 0.0
    known = set(out["id"])
    out = out[(out["parent"] == "") | out["parent"].isin(known)]
    return out.reset_index(drop=True)
