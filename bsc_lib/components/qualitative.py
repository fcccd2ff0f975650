"""Qualitative evaluation (정성평가) of core projects by rater groups, per half.

Steps, per half:

1. Ratings of the year and half for projects in scope (``projects: core`` → ``is_core``
   projects only; ``all`` → every project). Ratings of other projects are ignored (flag
   ``not_in_scope``, info), of unknown projects or items ignored with a warning flag.
2. ``standardise_raters``: each rater's scores are z-standardised within (half, rater group,
   rater) over everything that rater scored, then mapped back to the group's overall mean and
   SD within (half, rater group): ``x' = mean_g + sd_g × (x − mean_r)/sd_r`` (population SDs;
   a rater with ``sd_r = 0`` maps to ``mean_g``). Mapped scores are clipped to the scale.
3. Per (half, project, rater group, item): the mean over the group's raters;
   ``trim_extremes`` drops one highest and one lowest score when the group has at least
   ``trim_min_raters`` raters for that project and item (standardisation comes first).
4. Normalise to 0–1 by the scale, weight by the item shares, multiply by the group's points
   (``rater_groups[evaluation]``), sum over the evaluation's groups → the project's score.
   A group of the evaluation with no rating of a rated project scores 0 for that project
   (flag ``no_ratings``); a missing item within a group scores 0 (flag ``missing_item``). No
   reweighting of the other groups.
5. Department score of a half = mean over its *rated* projects (a project with no rating from
   any of the evaluation's groups is left out, flag ``no_ratings``); a department with no rated
   project in a half scores 0 for it (flag ``no_ratings``). Institution = mean over its
   departments (``institution_from: departments_mean``).
6. The year = top-level ``year_combine`` weighted sum of the halves.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
import pandas as pd

from bsc_lib.components import (
    ComponentResult,
    as_bool,
    check_range,
    concat_flags,
    concat_frames,
    empty_details,
    ids,
    institutions_from_departments,
    make_flags,
    num,
)
from bsc_lib.scheme import Qualitative

log = logging.getLogger(__name__)

COMPONENT = "qualitative"
_DETAIL_EXTRA = ["rating_mean", "n_raters", "n_used", "share", "group_points"]


def prepare_ratings(qualitative_ratings: pd.DataFrame, projects: pd.DataFrame, params: Qualitative, *,
                    year: int, halves: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Filter the ratings to the year, halves, projects in scope and known items; standardise.

    Parameters
    ----------
    qualitative_ratings, projects
        Canonical input tables.
    params
        ``scheme.components.qualitative``.
    year, halves
        The period.

    Returns
    -------
    tuple of DataFrame
        ``(ratings, flags)``; ``ratings`` has ``half, project_id, department_id, rater_group,
        rater_id, item, score, score_used`` (``score_used`` is the standardised score when
        ``standardise_raters`` is on, else ``score``).

    Raises
    ------
    DataError
        When a rating lies outside the scheme's scale.
    """
    q = qualitative_ratings
    q = q.loc[(num(q["year"]) == year) & q["half"].isin(halves)]
    r = pd.DataFrame({"half": ids(q["half"]), "project_id": ids(q["project_id"]),
                      "rater_group": ids(q["rater_group"]), "rater_id": ids(q["rater_id"]),
                      "item": ids(q["item"]), "score": num(q["score"])})
    check_range(r, "score", params.scale.min, params.scale.max, "qualitative_ratings")
    p = pd.DataFrame({"project_id": ids(projects["project_id"]),
                      "department_id": ids(projects["department_id"]),
                      "is_core": as_bool(projects["is_core"])})
    in_scope = p if params.projects == "all" else p.loc[p["is_core"]]
    r = r.merge(p[["project_id", "department_id"]], on="project_id", how="left")
    unknown = r.loc[r["department_id"].isna()].drop_duplicates("project_id")
    out = r.loc[r["department_id"].notna() & ~r["project_id"].isin(in_scope["project_id"])].drop_duplicates(
        ["project_id", "half"])
    known_items = {i.id for i in params.items}
    bad_item = r.loc[~r["item"].isin(known_items)].drop_duplicates(["project_id", "item"])
    blank = r.loc[r["score"].isna()].drop_duplicates(["project_id", "half"])
    flags = concat_flags([
        make_flags(np.full(len(unknown), "", dtype=object), COMPONENT, "unknown_project",
                   item=unknown["project_id"].to_numpy(), detail="rated project not in projects: ignored"),
        make_flags(out["department_id"].to_numpy(), COMPONENT, "not_in_scope", item=out["project_id"].to_numpy(),
                   half=out["half"].to_numpy(), detail=f"ratings of a project outside projects={params.projects}: ignored"),
        make_flags(bad_item["department_id"].fillna("").to_numpy(), COMPONENT, "unknown_item",
                   item=(bad_item["project_id"] + ":" + bad_item["item"]).to_numpy(),
                   detail="item not in the scheme: ignored"),
        make_flags(blank["department_id"].fillna("").to_numpy(), COMPONENT, "missing_score",
                   item=blank["project_id"].to_numpy(), half=blank["half"].to_numpy(),
                   detail="blank score ignored"),
    ])
    r = r.loc[r["project_id"].isin(in_scope["project_id"]) & r["item"].isin(known_items)
              & r["score"].notna()].reset_index(drop=True)
    r["department_id"] = r["department_id"].astype("str")
    if params.standardise_raters and len(r):
        rk = [r["half"], r["rater_group"], r["rater_id"]]
        gk = [r["half"], r["rater_group"]]
        mean_r = r["score"].groupby(rk).transform("mean")
        sd_r = r["score"].groupby(rk).transform("std", ddof=0)
        mean_g = r["score"].groupby(gk).transform("mean")
        sd_g = r["score"].groupby(gk).transform("std", ddof=0)
        z = ((r["score"] - mean_r) / sd_r.where(sd_r > 0, 1.0)).where(sd_r > 0, 0.0)
        r["score_used"] = (mean_g + sd_g * z).clip(params.scale.min, params.scale.max)
    else:
        r["score_used"] = r["score"]
    return r, flags


def aggregate_ratings(r: pd.DataFrame, params: Qualitative) -> pd.DataFrame:
    """Mean per (half, project, rater group, item), trimming extremes when configured.

    Returns
    -------
    pandas.DataFrame
        ``half, project_id, department_id, rater_group, item, rating_mean, n_raters, n_used``.
    """
    keys = ["half", "project_id", "department_id", "rater_group", "item"]
    a = (r.groupby(keys, sort=True)["score_used"]
         .agg(s="sum", n="count", hi="max", lo="min").reset_index())
    trim = bool(params.trim_extremes) & (a["n"] >= params.trim_min_raters)
    a["rating_mean"] = np.where(trim, (a["s"] - a["hi"] - a["lo"]) / (a["n"] - 2).where(trim, 1),
                                a["s"] / a["n"])
    a["n_raters"] = a["n"].astype(float)
    a["n_used"] = np.where(trim, a["n"] - 2, a["n"]).astype(float)
    return a[keys + ["rating_mean", "n_raters", "n_used"]]


def score_qualitative(qualitative_ratings: pd.DataFrame, projects: pd.DataFrame, departments: pd.DataFrame,
                      institutions: pd.DataFrame, params: Qualitative, *, evaluation: str, year: int,
                      weights: Mapping[str, float]) -> ComponentResult:
    """Qualitative points of every department and institution for one evaluation.

    Parameters
    ----------
    qualitative_ratings, projects, departments, institutions
        Canonical input tables.
    params
        ``scheme.components.qualitative``.
    evaluation
        ``institutional`` or ``individual``: selects the rater groups and their points.
    year, weights
        The year and ``{half: weight}``.

    Returns
    -------
    ComponentResult
        ``details`` has one row per unit, half, project, rater group and item (``item`` =
        ``project:group:item``) with ``project_id, rater_group, rated_item, rating_mean,
        n_raters, n_used, share, group_points``.
    """
    halves = list(weights)
    groups = dict(params.rater_groups[evaluation])
    points = float(sum(groups.values()))
    dept = pd.DataFrame({"unit_id": ids(departments["department_id"]), "unit_level": "department"})
    inst = pd.DataFrame({"unit_id": ids(institutions["institution_id"]), "unit_level": "institution"})
    r, flags0 = prepare_ratings(qualitative_ratings, projects, params, year=year, halves=halves)
    a = aggregate_ratings(r, params)
    a = a.loc[a["rater_group"].isin(list(groups))]

    p = pd.DataFrame({"project_id": ids(projects["project_id"]), "department_id": ids(projects["department_id"]),
                      "is_core": as_bool(projects["is_core"])})
    in_scope = p if params.projects == "all" else p.loc[p["is_core"]]
    in_scope = in_scope.loc[in_scope["department_id"].isin(dept["unit_id"])]
    hp = in_scope.merge(pd.DataFrame({"half": halves}), how="cross")
    rated = a[["half", "project_id"]].drop_duplicates()
    hp = hp.merge(rated, on=["half", "project_id"], how="left", indicator="_r")
    unrated = hp.loc[hp["_r"] == "left_only"]
    hp = hp.loc[hp["_r"] == "both", ["half", "project_id", "department_id"]]
    hp["n_proj"] = hp.groupby(["department_id", "half"])["project_id"].transform("count").astype(float)

    gp = pd.DataFrame({"rater_group": list(groups), "group_points": [float(v) for v in groups.values()]})
    it = pd.DataFrame({"rated_item": [i.id for i in params.items], "share": [float(i.share) for i in params.items]})
    grid = hp.merge(gp, how="cross").merge(it, how="cross")
    grid = grid.merge(a.drop(columns="department_id").rename(columns={"item": "rated_item"}),
                      on=["half", "project_id", "rater_group", "rated_item"], how="left")
    norm = ((grid["rating_mean"] - params.scale.min) / (params.scale.max - params.scale.min)).fillna(0.0)
    hw = grid["half"].map(dict(weights)).astype(float)
    grid["value"] = hw * grid["group_points"] * grid["share"] * norm / grid["n_proj"]
    details = pd.DataFrame({
        "unit_id": grid["department_id"], "unit_level": "department",
        "item": grid["project_id"] + ":" + grid["rater_group"] + ":" + grid["rated_item"],
        "half": grid["half"], "source_id": "", "value": grid["value"].astype(float),
        "project_id": grid["project_id"], "rater_group": grid["rater_group"], "rated_item": grid["rated_item"],
        "rating_mean": grid["rating_mean"], "n_raters": grid["n_raters"], "n_used": grid["n_used"],
        "share": grid["share"], "group_points": grid["group_points"],
    })
    tot = details.groupby("unit_id")["value"].sum()
    d_scores = pd.DataFrame({"unit_id": dept["unit_id"], "unit_level": "department",
                             "points": dept["unit_id"].map(tot).fillna(0.0).astype(float),
                             "max_points": points})

    grp_seen = grid.groupby(["half", "project_id", "rater_group"], sort=False)["rating_mean"].count().reset_index()
    no_grp = grp_seen.loc[grp_seen["rating_mean"] == 0].merge(hp[["half", "project_id", "department_id"]],
                                                             on=["half", "project_id"])
    miss_item = grid.loc[grid["rating_mean"].isna()].merge(
        grp_seen.loc[grp_seen["rating_mean"] > 0, ["half", "project_id", "rater_group"]],
        on=["half", "project_id", "rater_group"])
    dh = dept.merge(pd.DataFrame({"half": halves}), how="cross").merge(
        hp[["department_id", "half"]].drop_duplicates(), left_on=["unit_id", "half"],
        right_on=["department_id", "half"], how="left", indicator="_r")
    dept_none = dh.loc[dh["_r"] == "left_only"]
    flags = concat_flags([
        flags0,
        make_flags(unrated["department_id"].to_numpy(), COMPONENT, "no_ratings", item=unrated["project_id"].to_numpy(),
                   half=unrated["half"].to_numpy(),
                   detail="project not rated by the rater groups of the evaluation: left out of the department mean"),
        make_flags(no_grp["department_id"].to_numpy(), COMPONENT, "no_ratings",
                   item=(no_grp["project_id"] + ":" + no_grp["rater_group"]).to_numpy(), half=no_grp["half"].to_numpy(),
                   detail="rater group gave no rating: 0 for the group"),
        make_flags(miss_item["department_id"].to_numpy(), COMPONENT, "missing_item",
                   item=(miss_item["project_id"] + ":" + miss_item["rater_group"] + ":" + miss_item["rated_item"]).to_numpy(),
                   half=miss_item["half"].to_numpy(), detail="item not rated by the group: 0 for the item"),
        make_flags(dept_none["unit_id"].to_numpy(), COMPONENT, "no_ratings", half=dept_none["half"].to_numpy(),
                   detail="no rated project in the half: 0 for the half"),
    ])
    i_scores, i_details, i_flags = institutions_from_departments(
        d_scores, details, departments, inst["unit_id"], COMPONENT, points)
    scores = concat_frames([d_scores, i_scores], d_scores.iloc[0:0])
    all_details = concat_frames([details, i_details], empty_details(_DETAIL_EXTRA))
    return ComponentResult(COMPONENT, scores, all_details, concat_flags([flags, i_flags]),
                           tables={"ratings": r})
