"""Pre-evaluation (사전평가) of each plan by the external agency, and the consulting deduction.

Per unit and item: the mean over raters of each round; ``round_rule``
``final_replaces_first`` uses the final round's mean where the unit has final ratings *for
that item* (else the first round's), ``mean`` averages the round means present. Then
``(mean − scale.min)/(scale.max − scale.min) × share × points``, summed over the items.
An item without ratings scores 0 (flag ``no_ratings``; one flag with an empty item when the
unit has no ratings at all).

The pre-evaluation has no halves: ``rounds`` selects the rounds available (the H1 evaluation in
July happens before the final round in September–October, so :func:`bsc_lib.scoring.evaluate`
passes only ``first`` for ``half="H1"``).

Institutions (``institution_from``): ``departments_mean`` (an institution's own ratings are then
not used: flag ``not_used``), ``own_ratings_first`` (the institution's own ratings when it has
any, otherwise the mean of its departments).

The consulting no-show deduction (:func:`consulting_deductions`) is reported as deductions, not
in the pre-evaluation points.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd

from bsc_lib.components import (
    ComponentResult,
    check_range,
    concat_flags,
    concat_frames,
    empty_details,
    ids,
    institutions_from_departments,
    make_flags,
    num,
)
from bsc_lib.scheme import PreEvaluation

log = logging.getLogger(__name__)

COMPONENT = "pre_evaluation"
_ROUND_PRIORITY = {"final": 0, "first": 1}


def _score_units(r: pd.DataFrame, units: pd.DataFrame, params: PreEvaluation,
                 points: float) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Score the units of ``units`` (``unit_id, unit_level``) from ratings ``r``."""
    scale = params.scale
    per_round = (r.groupby(["unit_id", "item", "round"], sort=True)["score"]
                 .agg(mean="mean", n="count").reset_index())
    if params.round_rule == "final_replaces_first":
        per_round["_p"] = per_round["round"].map(_ROUND_PRIORITY).fillna(9)
        used = (per_round.sort_values(["unit_id", "item", "_p"], kind="stable")
                .drop_duplicates(["unit_id", "item"], keep="first")
                .rename(columns={"mean": "rating_mean", "n": "n_raters", "round": "round_used"})
                .drop(columns="_p"))
    else:
        used = (per_round.groupby(["unit_id", "item"], sort=True)
                .agg(rating_mean=("mean", "mean"), n_raters=("n", "sum"), _lo=("round", "min"),
                     _hi=("round", "max"))
                .reset_index())
        used["round_used"] = used["_lo"].where(used["_lo"] == used["_hi"], "first+final")
        used = used.drop(columns=["_lo", "_hi"])
    items = pd.DataFrame({"item": [i.id for i in params.items],
                          "share": [float(i.share) for i in params.items]})
    grid = units.merge(items, how="cross")
    g = grid.merge(used, on=["unit_id", "item"], how="left")
    norm = ((g["rating_mean"] - scale.min) / (scale.max - scale.min)).fillna(0.0)
    g["value"] = norm * g["share"] * points
    details = pd.DataFrame({
        "unit_id": g["unit_id"], "unit_level": g["unit_level"], "item": g["item"], "half": "",
        "source_id": "", "value": g["value"].astype(float), "rating_mean": g["rating_mean"],
        "n_raters": g["n_raters"].astype(float), "share": g["share"],
        "round_used": g["round_used"].fillna("").astype("str"),
    })
    tot = details.groupby("unit_id")["value"].sum()
    scores = pd.DataFrame({"unit_id": units["unit_id"], "unit_level": units["unit_level"],
                           "points": units["unit_id"].map(tot).fillna(0.0).astype(float),
                           "max_points": float(points)})
    rated_units = set(used["unit_id"])
    missing = g.loc[g["rating_mean"].isna()]
    partly = missing.loc[missing["unit_id"].isin(rated_units)]
    none = units.loc[~units["unit_id"].isin(rated_units), "unit_id"]
    flags = concat_flags([
        make_flags(none.to_numpy(), COMPONENT, "no_ratings", detail="no pre-evaluation ratings: 0 points"),
        make_flags(partly["unit_id"].to_numpy(), COMPONENT, "no_ratings", item=partly["item"].to_numpy(),
                   detail="no ratings for this item: 0 for the item"),
    ])
    return scores, details, flags


def score_pre_evaluation(pre_eval_ratings: pd.DataFrame, departments: pd.DataFrame,
                         institutions: pd.DataFrame, params: PreEvaluation, *, points: float,
                         rounds: Sequence[str] = ("first", "final")) -> ComponentResult:
    """Pre-evaluation points of every department and institution.

    Parameters
    ----------
    pre_eval_ratings, departments, institutions
        Canonical input tables.
    params
        ``scheme.components.pre_evaluation``.
    points
        The component's points in the evaluation.
    rounds
        The rounds to use (``("first",)`` for a first-half evaluation).

    Returns
    -------
    ComponentResult
        ``scores`` (departments and institutions) and ``details`` with one row per unit and
        item: ``rating_mean, n_raters, share, round_used``.

    Raises
    ------
    DataError
        When a rating lies outside the scheme's scale.
    """
    dept = pd.DataFrame({"unit_id": ids(departments["department_id"]), "unit_level": "department"})
    inst = pd.DataFrame({"unit_id": ids(institutions["institution_id"]), "unit_level": "institution"})
    r = pre_eval_ratings.loc[pre_eval_ratings["round"].isin(list(rounds))]
    r = pd.DataFrame({"unit_id": ids(r["unit_id"]), "round": ids(r["round"]), "item": ids(r["item"]),
                      "rater_id": ids(r["rater_id"]), "score": num(r["score"])})
    check_range(r, "score", params.scale.min, params.scale.max, "pre_eval_ratings")
    known = {i.id for i in params.items}
    unk_item = r.loc[~r["item"].isin(known)].drop_duplicates(["unit_id", "item"])
    unk_unit = r.loc[~r["unit_id"].isin(dept["unit_id"]) & ~r["unit_id"].isin(inst["unit_id"])]
    no_score = r.loc[r["score"].isna()].drop_duplicates(["unit_id", "item"])
    flag_frames = [
        make_flags(unk_item["unit_id"].to_numpy(), COMPONENT, "unknown_item", item=unk_item["item"].to_numpy(),
                   detail="item not in the scheme: ignored"),
        make_flags(unk_unit["unit_id"].drop_duplicates().to_numpy(), COMPONENT, "unknown_unit",
                   detail="rated unit is neither a department nor an institution: ignored"),
        make_flags(no_score["unit_id"].to_numpy(), COMPONENT, "missing_score", item=no_score["item"].to_numpy(),
                   detail="blank score ignored"),
    ]
    r = r.loc[r["item"].isin(known) & r["score"].notna()]

    d_scores, d_details, d_flags = _score_units(r.loc[r["unit_id"].isin(dept["unit_id"])], dept, params, points)
    m_scores, m_details, m_flags = institutions_from_departments(
        d_scores, d_details, departments, inst["unit_id"], COMPONENT, points)
    flag_frames += [d_flags]
    own_rated = inst.loc[inst["unit_id"].isin(r["unit_id"])]
    if params.institution_from == "own_ratings_first" and len(own_rated):
        o_scores, o_details, o_flags = _score_units(r.loc[r["unit_id"].isin(own_rated["unit_id"])],
                                                    own_rated, params, points)
        own = set(own_rated["unit_id"])
        i_scores = concat_frames([o_scores, m_scores.loc[~m_scores["unit_id"].isin(own)]], o_scores)
        i_scores = i_scores.set_index("unit_id").loc[inst["unit_id"]].reset_index()
        i_details = concat_frames([o_details, m_details.loc[~m_details["unit_id"].isin(own)]], o_details)
        flag_frames += [o_flags, m_flags.loc[~m_flags["unit_id"].isin(own)]]
    else:
        i_scores, i_details = m_scores, m_details
        flag_frames.append(m_flags)
        if len(own_rated):
            flag_frames.append(make_flags(own_rated["unit_id"].to_numpy(), COMPONENT, "not_used",
                                          detail="institution's own ratings not used (institution_from=departments_mean)"))
    scores = concat_frames([d_scores, i_scores], d_scores.iloc[0:0])
    details = concat_frames([d_details, i_details], empty_details(["rating_mean", "n_raters", "share"]))
    return ComponentResult(COMPONENT, scores, details, concat_flags(flag_frames))


def consulting_deductions(departments: pd.DataFrame, institutions: pd.DataFrame,
                          params: PreEvaluation | None) -> ComponentResult:
    """Consulting no-show deductions (컨설팅 미참여 감점).

    A department with ``consulting_participated`` false loses
    ``params.consulting_no_show_deduction`` points; a missing value deducts nothing and is
    flagged ``missing_consulting``. An institution's deduction is the mean of its departments'.

    Parameters
    ----------
    departments, institutions
        Canonical input tables.
    params
        ``scheme.components.pre_evaluation`` (``None`` → no deductions).

    Returns
    -------
    ComponentResult
        Component ``deductions``: ``scores.points`` is the (positive) deduction; ``details``
        values are negative (what the deduction contributes to a total), item
        ``consulting_no_show``.
    """
    amount = float(params.consulting_no_show_deduction) if params is not None else 0.0
    part = departments["consulting_participated"].astype("boolean")
    dept_id = ids(departments["department_id"])
    ded = np.where(part.fillna(True).to_numpy(dtype=bool), 0.0, amount)
    d_scores = pd.DataFrame({"unit_id": dept_id, "unit_level": "department", "points": ded,
                             "max_points": amount})
    d_details = pd.DataFrame({"unit_id": dept_id, "unit_level": "department", "item": "consulting_no_show",
                              "half": "", "source_id": "", "value": -ded})
    d_details = d_details.loc[d_details["value"] != 0].reset_index(drop=True)
    i_scores, i_details, i_flags = institutions_from_departments(
        d_scores, d_details, departments, ids(institutions["institution_id"]), "deductions", amount)
    miss = dept_id[part.isna().to_numpy()]
    flags = concat_flags([i_flags.iloc[0:0], make_flags(
        miss.to_numpy(), "deductions", "missing_consulting",
        detail="consulting_participated missing: no deduction")])
    return ComponentResult("deductions", concat_frames([d_scores, i_scores], d_scores.iloc[0:0]),
                           concat_frames([d_details, i_details], empty_details()), flags)
