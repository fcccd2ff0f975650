"""Internal/external cooperation (대내·외 협력평가, institutional only).

Each evaluating division awards each institution points per item and half (the score is
already in points, ``0 … item points``). Institution score of a half = Σ items; the year =
top-level ``year_combine`` weighted sum. A score above its item's points or negative raises
:class:`~bsc_lib.errors.DataError` (validation should have caught it; defensive). An item
without a score for an institution in a half scores 0 (flag ``missing_item``) or raises
:class:`~bsc_lib.errors.DataError` when ``missing_item: error``. Scores of items not in the
scheme are ignored (flag ``unknown_item``).
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from bsc_lib.config.scheme import Cooperation
from bsc_lib.errors import DataError, Problem
from bsc_lib.scoring.components import (
    Component,
    ComponentResult,
    ScoringInput,
    check_unique,
    concat_flags,
    half_weights,
    ids,
    make_flags,
    map_float,
    num,
    register,
)

COMPONENT = "cooperation"


def score_cooperation(cooperation_scores: pd.DataFrame, institutions: pd.DataFrame, params: Cooperation, *,
                      year: int, weights: Mapping[str, float]) -> ComponentResult:
    """Cooperation points of every institution.

    Parameters
    ----------
    cooperation_scores, institutions
        Canonical input tables.
    params
        ``scheme.components.cooperation``.
    year, weights
        The year and ``{half: weight}``.

    Returns
    -------
    ComponentResult
        ``details``: one row per institution, half and item with ``score`` and
        ``item_points``.

    Raises
    ------
    DataError
        On a score outside ``[0, item points]`` or, with ``missing_item: error``, a missing item.
    """
    halves = list(weights)
    inst = ids(institutions["institution_id"]).drop_duplicates().reset_index(drop=True)
    items = pd.DataFrame({"item": [i.id for i in params.items], "item_points": [float(i.points) for i in params.items]})
    c = cooperation_scores.loc[(num(cooperation_scores["year"]) == year) & cooperation_scores["half"].isin(halves)]
    c = pd.DataFrame({"half": ids(c["half"]), "institution_id": ids(c["institution_id"]), "item": ids(c["item"]),
                      "score": num(c["score"])})
    check_unique(c, ["half", "institution_id", "item"], "cooperation_scores")
    unknown = c.loc[~c["item"].isin(items["item"])].drop_duplicates(["institution_id", "item"])
    c = c.merge(items, on="item", how="inner")
    bad = c["score"].notna() & ((c["score"] < -1e-9) | (c["score"] > c["item_points"] + 1e-9))
    if bad.any():
        b = c.loc[bad].head(20)
        raise DataError([
            Problem(file="cooperation_scores", rule="range", column="score", value=f"{s:g}",
                    message=f"{i}/{h}/{it}: score outside 0–{p:g} (the item's points)")
            for i, h, it, s, p in zip(b["institution_id"], b["half"], b["item"], b["score"], b["item_points"],
                                      strict=True)  # at most 20 error rows, not data
        ])
    grid = pd.DataFrame({"institution_id": inst}).merge(pd.DataFrame({"half": halves}), how="cross").merge(
        items, how="cross")
    grid = grid.merge(c.drop(columns="item_points"), on=["institution_id", "half", "item"], how="left")
    miss = grid.loc[grid["score"].isna()]
    if params.missing_item == "error" and len(miss):
        m = miss.head(20)
        raise DataError([
            Problem(file="cooperation_scores", rule="missing_item", column="item", value=f"{i}/{h}/{it}",
                    message="cooperation item without a score (missing_item: error)")
            for i, h, it in zip(m["institution_id"], m["half"], m["item"], strict=True)
        ])
    grid["value"] = grid["score"].fillna(0.0) * grid["half"].map(dict(weights)).astype(float)
    details = pd.DataFrame({
        "unit_id": grid["institution_id"], "unit_level": "institution", "item": grid["item"], "half": grid["half"],
        "source_id": "", "value": grid["value"].astype(float), "score": grid["score"],
        "item_points": grid["item_points"],
    })
    tot = details.groupby("unit_id", sort=False)["value"].sum()
    points = float(items["item_points"].sum())
    scores = pd.DataFrame({"unit_id": inst, "unit_level": "institution",
                           "points": map_float(inst, tot).fillna(0.0), "max_points": points})
    flags = concat_flags([
        make_flags(miss["institution_id"].to_numpy(), COMPONENT, "missing_item", item=miss["item"].to_numpy(),
                   half=miss["half"].to_numpy(), detail="no score for the item: 0"),
        make_flags(unknown["institution_id"].to_numpy(), COMPONENT, "unknown_item", item=unknown["item"].to_numpy(),
                   detail="item not in the scheme: ignored"),
    ])
    return ComponentResult(COMPONENT, scores, details, flags)


def _score_for_engine(inp: ScoringInput, prepared, evaluation: str, points: float) -> ComponentResult:
    return score_cooperation(inp.tables["cooperation_scores"], inp.tables["institutions"], inp.scheme.components.cooperation,
                             year=inp.year, weights=half_weights(inp.scheme.year_combine, inp.half))


register(Component("cooperation", score=_score_for_engine, evaluations=("institutional",),
                   scope="cooperation is scored for institutions only"))
