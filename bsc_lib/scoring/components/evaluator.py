"""Evaluator score (평가자 점수): judgement of the process and effort behind the results.

Per unit (department or institution, each from its *own* ``evaluator_scores`` rows) and half:
the mean over evaluators, rescaled linearly from the scheme's scale to the component's points:
``(mean − min)/(max − min) × points``. A unit without scores in a half gets 0 for that half
(flag ``no_ratings``). The year = top-level ``year_combine`` weighted sum of the halves.

:func:`prepare` computes the means (independent of the points) and :func:`score_prepared` the
points, so the scoring engine reads the scores once for both evaluations.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bsc_lib.config.scheme import EvaluatorComponent
from bsc_lib.scoring.components import (
    Codes,
    Component,
    ComponentResult,
    ScoringInput,
    check_range,
    concat_flags,
    first_occurrence,
    half_weights,
    ids,
    lookup,
    make_flags,
    map_float,
    member,
    num,
    register,
)

COMPONENT = "evaluator"


@dataclass
class PreparedEvaluator:
    """Means per unit and half (see :func:`prepare`)."""

    units: pd.DataFrame
    halves: list[str]
    weights: dict[str, float]
    rating_mean: np.ndarray  # grid units × halves
    n_raters: np.ndarray
    flags: pd.DataFrame


def prepare(evaluator_scores: pd.DataFrame, departments: pd.DataFrame, institutions: pd.DataFrame,
            params: EvaluatorComponent, *, year: int, weights: Mapping[str, float],
            codes: Codes | None = None) -> PreparedEvaluator:
    """The mean evaluator score of every unit and half, and the flags (no points yet).

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
    es = evaluator_scores
    codes = codes if codes is not None and codes.frame is es and codes.order is None else Codes(es)
    hc, hu = codes("half")
    sel = np.flatnonzero((num(es["year"]) == year).to_numpy(dtype=bool) & member(hc, len(hu), lookup(hu, halves)))
    score = num(es["score"]).to_numpy(dtype=float)[sel]
    bad = ~np.isnan(score) & ((score < params.scale.min - 1e-9) | (score > params.scale.max + 1e-9))
    if bad.any():
        check_range(pd.DataFrame({"score": score[bad][:20]}), "score", params.scale.min, params.scale.max,
                    "evaluator_scores")
    uc, uu = codes("unit_id")
    uc, hc = uc[sel], hc[sel]
    known_u = np.append(pd.Index(uu, dtype=object).isin(units["unit_id"]), False)
    unk = np.flatnonzero(~known_u[uc])
    unk = unk[first_occurrence(uc[unk])]
    unit_txt = np.append(np.asarray(uu, dtype=object), None)
    ok = ~np.isnan(score) & (uc >= 0) & (hc >= 0)
    n_h = len(hu)
    agg = pd.Series(score[ok]).groupby(uc[ok].astype(np.int64) * n_h + hc[ok], sort=True).agg(
        rating_mean="mean", n_raters="count")
    g_u = np.repeat(lookup(uu, units["unit_id"]), len(halves))
    g_h = np.tile(lookup(hu, halves), len(units))
    key = g_u.astype(np.int64) * n_h + g_h
    a_key = agg.index.to_numpy(dtype=np.int64)
    pos = np.minimum(np.searchsorted(a_key, key), max(len(a_key) - 1, 0))
    hit = (g_u >= 0) & (g_h >= 0)
    hit &= (a_key[pos] == key) if len(a_key) else False
    rating_mean = np.where(hit, agg["rating_mean"].to_numpy()[pos] if len(a_key) else np.nan, np.nan)
    n_raters = np.where(hit, agg["n_raters"].to_numpy()[pos] if len(a_key) else np.nan, np.nan).astype(float)
    none = np.flatnonzero(np.isnan(rating_mean))
    half_arr = np.asarray(halves, dtype=object)
    flags = concat_flags([
        make_flags(units["unit_id"].to_numpy(dtype=object)[none // max(len(halves), 1)], COMPONENT, "no_ratings",
                   half=half_arr[none % max(len(halves), 1)], detail="no evaluator score in the half: 0 for the half"),
        make_flags(unit_txt[uc[unk]], COMPONENT, "unknown_unit",
                   detail="scored unit is neither a department nor an institution: ignored"),
    ])
    return PreparedEvaluator(units=units, halves=halves, weights=dict(weights), rating_mean=rating_mean,
                             n_raters=n_raters, flags=flags)


def score_prepared(prep: PreparedEvaluator, params: EvaluatorComponent, *, points: float) -> ComponentResult:
    """The evaluator points of :func:`prepare`'s units."""
    units, halves = prep.units, prep.halves
    n_h = len(halves)
    norm = np.nan_to_num((prep.rating_mean - params.scale.min) / (params.scale.max - params.scale.min), nan=0.0)
    hw = np.tile(np.array([float(prep.weights[h]) for h in halves]), len(units))
    value = norm * points * hw
    u_codes, _ = pd.factorize(units["unit_id"])
    tot = pd.Series(value).groupby(np.repeat(u_codes, n_h), sort=False).sum() if len(value) else pd.Series(dtype=float)
    scores = pd.DataFrame({"unit_id": units["unit_id"], "unit_level": units["unit_level"],
                           "points": map_float(pd.Series(u_codes), tot).fillna(0.0).to_numpy(),
                           "max_points": float(points)})

    def details() -> pd.DataFrame:
        half = pd.Series(np.tile(np.asarray(halves, dtype=object), len(units)), dtype="str")
        return pd.DataFrame({
            "unit_id": pd.Series(np.repeat(units["unit_id"].to_numpy(dtype=object), n_h), dtype="str"),
            "unit_level": pd.Series(np.repeat(units["unit_level"].to_numpy(dtype=object), n_h), dtype="str"),
            "item": half, "half": half, "source_id": "", "value": value.astype(float),
            "rating_mean": prep.rating_mean, "n_raters": prep.n_raters,
        })

    return ComponentResult(COMPONENT, scores, details, prep.flags)


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
    prep = prepare(evaluator_scores, departments, institutions, params, year=year, weights=weights)
    return score_prepared(prep, params, points=points)


def _prepare_for_engine(inp: ScoringInput):
    return prepare(inp.tables["evaluator_scores"], inp.tables["departments"], inp.tables["institutions"],
                   inp.scheme.components.evaluator, year=inp.year,
                   weights=half_weights(inp.scheme.year_combine, inp.half),
                   codes=inp.codes.pop("evaluator_scores", None))


def _score_for_engine(inp: ScoringInput, prepared, evaluation: str, points: float) -> ComponentResult:
    return score_prepared(prepared, inp.scheme.components.evaluator, points=points)


register(Component("evaluator", score=_score_for_engine, prepare=_prepare_for_engine))
