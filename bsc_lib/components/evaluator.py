"""Evaluator score (평가자 점수): judgement of the process and effort behind the results.

Per unit (department or institution, each from its *own* ``evaluator_scores`` rows) and half:
the mean over evaluators, rescaled linearly from the scheme's scale to the component's points:
``(mean − min)/(max − min) × points``. A unit without scores in a half gets 0 for that half
(flag ``no_ratings``). The year = top-level ``year_combine`` weighted sum of the halves.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from bsc_lib.components import (
    ComponentResult,
    check_range,
    concat_flags,
    ids,
    make_flags,
    num,
)
from bsc_lib.scheme import EvaluatorComponent

COMPONENT = "evaluator"


def score_evaluator(evaluator_scores: pd.DataFrame, departments: pd.DataFrame, institutions: pd.DataFrame,
                    params: EvaluatorComponent, *, points: float, year: int,
                    weights: Mapping[str, float]) -> ComponentResult:
    """Evaluator points of every department and institution.

    Parameters
    ----------
    evaluator_scores, departments, institutions
        Canonical input tables.
    params
        ``scheme.components.evaluator``.
    points
        The component's points in the evaluation.
    year, weights
        The year and ``{half: weight}``.

    Returns
    -------
    ComponentResult
        ``details``: one row per unit and half (``item`` = the half) with ``rating_mean`` and
        ``n_raters``.

    Raises
    ------
    DataError
        When a score lies outside the scheme's scale.
    """
    halves = list(weights)
    units = pd.concat([
        pd.DataFrame({"unit_id": ids(departments["department_id"]), "unit_level": "department"}),
        pd.DataFrame({"unit_id": ids(institutions["institution_id"]), "unit_level": "institution"}),
    ], ignore_index=True)
    e = evaluator_scores.loc[(num(evaluator_scores["year"]) == year) & evaluator_scores["half"].isin(halves)]
    e = pd.DataFrame({"half": ids(e["half"]), "unit_id": ids(e["unit_id"]), "score": num(e["score"])})
    check_range(e, "score", params.scale.min, params.scale.max, "evaluator_scores")
    unknown = e.loc[~e["unit_id"].isin(units["unit_id"])].drop_duplicates("unit_id")
    e = e.loc[e["score"].notna()]
    agg = e.groupby(["unit_id", "half"], sort=True)["score"].agg(rating_mean="mean", n_raters="count").reset_index()
    grid = units.merge(pd.DataFrame({"half": halves}), how="cross").merge(agg, on=["unit_id", "half"], how="left")
    norm = ((grid["rating_mean"] - params.scale.min) / (params.scale.max - params.scale.min)).fillna(0.0)
    grid["value"] = norm * points * grid["half"].map(dict(weights)).astype(float)
    details = pd.DataFrame({
        "unit_id": grid["unit_id"], "unit_level": grid["unit_level"], "item": grid["half"], "half": grid["half"],
        "source_id": "", "value": grid["value"].astype(float), "rating_mean": grid["rating_mean"],
        "n_raters": grid["n_raters"].astype(float),
    })
    tot = details.groupby("unit_id", sort=False)["value"].sum()
    scores = pd.DataFrame({"unit_id": units["unit_id"], "unit_level": units["unit_level"],
                           "points": units["unit_id"].map(tot).fillna(0.0).astype(float), "max_points": float(points)})
    none = grid.loc[grid["rating_mean"].isna()]
    flags = concat_flags([
        make_flags(none["unit_id"].to_numpy(), COMPONENT, "no_ratings", half=none["half"].to_numpy(),
                   detail="no evaluator score in the half: 0 for the half"),
        make_flags(unknown["unit_id"].to_numpy(), COMPONENT, "unknown_unit",
                   detail="scored unit is neither a department nor an institution: ignored"),
    ])
    return ComponentResult(COMPONENT, scores, details, flags)
