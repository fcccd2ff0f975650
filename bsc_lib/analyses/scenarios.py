"""Scheme variations for robustness and what-if analyses, built on :func:`bsc_lib.scoring.engine.evaluate`.

These functions re-run the real scoring engine under modified schemes (another achievement
cap, a rater removed) so that the robustness analysis and the rater analysis are exact with
respect to the production scores, then hand plain DataFrames/arrays to
:mod:`bsc_lib.analyses.robustness` and :mod:`bsc_lib.analyses.reliability`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from bsc_lib.analyses import robustness
from bsc_lib.config.scheme import Scheme
from bsc_lib.data.model import BSCData, plain_text
from bsc_lib.scoring.engine import Results, evaluate

_UNIT_KEY = {"institutional": ("institutional", "institution_id"), "individual": ("individual", "person_id")}


def with_cap(scheme: Scheme, cap: float) -> Scheme:
    """A copy of ``scheme`` whose achievement cap is ``cap`` (other settings unchanged)."""
    ach = scheme.components.achievement
    if ach is None:
        raise ValueError("the scheme has no achievement component")
    comps = scheme.components.model_copy(update={"achievement": ach.model_copy(update={"cap": float(cap)})})
    return scheme.model_copy(update={"components": comps})


def cap_alternatives(data: BSCData, scheme: Scheme, caps: Sequence[float], year: int, half: str,
                     evaluation: str = "institutional") -> pd.DataFrame:
    """Achievement as a fraction of its points under each cap.

    Returns
    -------
    DataFrame
        Index unit id (institution or person), one column per cap (named like ``"cap=1.2"``),
        values in [0, 1].
    """
    frame_name, key = _UNIT_KEY[evaluation]
    pts = scheme.points(evaluation, "achievement")
    cols = {}
    for cap in caps:
        res = evaluate(data, with_cap(scheme, cap), year=year, half=half)
        f = getattr(res, frame_name).set_index(key)["achievement"]
        cols[f"cap={cap:g}"] = f / pts if pts else f * 0.0
    return pd.DataFrame(cols).sort_index()


def qualitative_unit_ratings(data: BSCData, scheme: Scheme, year: int, half: str) -> pd.DataFrame:
    """Qualitative ratings of the period with the institution they count for.

    Each rating is reduced to its item-share-weighted contribution, so a rater's mean over a
    unit's rows equals that rater's mean item score on the scale.

    Returns
    -------
    DataFrame
        Columns ``unit_id`` (institution), ``rater_group``, ``rater_id``, ``score`` (weighted
        mean over items per project and rater, on the scheme's scale).
    """
    q = scheme.components.qualitative
    r = data.qualitative_ratings
    r = r[r["year"] == year]
    if half in ("H1", "H2"):
        r = r[r["half"] == half]
    shares = {i.id: i.share for i in q.items}
    r = r[r["item"].isin(shares)].assign(w=lambda x: x["item"].map(shares))
    r = r.assign(ws=r["score"] * r["w"])
    g = r.groupby(["project_id", "half", "rater_group", "rater_id"], sort=True)[["ws", "w"]].sum()
    per_project = (g["ws"] / g["w"]).rename("score").reset_index()
    # plain text: pandas 3.1 maps a categorical through a one-to-one Series of categorical values
    # by the sorted order of those values, not by key (see bsc_lib.data.model.plain_text)
    dep = plain_text(data.projects.set_index("project_id")["department_id"])
    inst = plain_text(data.departments.set_index("department_id")["institution_id"])
    per_project["unit_id"] = per_project["project_id"].map(dep).map(inst)
    return per_project[["unit_id", "rater_group", "rater_id", "score"]].dropna(subset=["unit_id"])


def qualitative_bootstrap(data: BSCData, scheme: Scheme, year: int, half: str, B: int, seed: int,
                          units: Sequence[str] | None = None) -> np.ndarray:
    """Rater-bootstrap draws of the institutional qualitative component as fractions (unit × B).

    Raters are resampled within their group (robustness.bootstrap_fractions); groups are
    weighted by the scheme's institutional rater-group points. This approximates the
    component (pooled mean of ratings per institution, no trimming/standardising) and is
    used only for its spread.
    """
    q = scheme.components.qualitative
    groups = dict(q.rater_groups.get("institutional", {}))
    ratings = qualitative_unit_ratings(data, scheme, year, half)
    return robustness.bootstrap_fractions(
        ratings, unit_col="unit_id", rater_col="rater_id", score_col="score",
        scale=(q.scale.min, q.scale.max), B=B, seed=seed, by_group="rater_group",
        group_points=groups, units=list(units) if units is not None else None,
    )


def robustness_inputs(data: BSCData, scheme: Scheme, year: int, half: str, caps: Sequence[float],
                      B: int, seed: int, results: Results | None = None) -> dict:
    """Everything :func:`bsc_lib.analyses.robustness.monte_carlo` needs for the institutional ranking.

    Parameters
    ----------
    results
        :func:`evaluate` of ``data`` under ``scheme`` for ``year`` and ``half`` when already
        computed (it is computed otherwise).

    Returns
    -------
    dict
        ``fractions`` (institution × component, 0–1), ``nominal_points``, ``groups``
        (institution type, or None when the scheme grades overall), ``alternatives``
        (``{"achievement": cap_alternatives}``), ``bootstrap`` (``{"qualitative": unit × B}``,
        the rater-bootstrap replicates re-centred on the engine's qualitative fraction),
        ``quotas``, ``rounding``, ``cutoffs`` (None unless the scheme grades by cutoffs) and
        ``deductions`` (points per institution), so that the simulated totals and grades are
        the engine's.
    """
    res = results if results is not None else evaluate(data, scheme, year=year, half=half)
    fr, nominal = robustness.fractions_from_components(res.components, evaluation="institutional")
    inst = res.institutional.set_index("institution_id")
    groups = inst["inst_type"].reindex(fr.index) if scheme.grading.group_by == "inst_type" else None
    alternatives = {}
    if "achievement" in fr.columns and caps:
        alternatives["achievement"] = cap_alternatives(data, scheme, caps, year, half).reindex(fr.index)
    bootstrap = {}
    if "qualitative" in fr.columns and B and len(data.qualitative_ratings):
        bs = qualitative_bootstrap(data, scheme, year, half, B, seed, units=fr.index)
        # the bootstrap approximates the component (pooled means): it supplies the spread only,
        # centred on the engine's own score so the draws vary around what evaluate() states
        with np.errstate(invalid="ignore"):
            centred = bs - np.nanmean(bs, axis=1, keepdims=True) + fr["qualitative"].to_numpy(float)[:, None]
        bootstrap["qualitative"] = np.where(np.isfinite(bs), np.clip(centred, 0.0, 1.0), np.nan)
    g = scheme.grading
    return {"fractions": fr, "nominal_points": nominal, "groups": groups, "alternatives": alternatives,
            "bootstrap": bootstrap, "quotas": dict(g.quotas), "rounding": g.rounding,
            "cutoffs": dict(g.cutoffs) if g.method == "cutoffs" else None,
            "deductions": inst["deductions"].reindex(fr.index).astype(float)}


def qualitative_rescorer(data: BSCData, scheme: Scheme, year: int, half: str,
                         evaluation: str = "institutional") -> Callable[[pd.DataFrame], pd.Series]:
    """A ``rescore`` callable for :func:`bsc_lib.analyses.reliability.grade_changes`.

    The callable takes a (modified) qualitative ratings table and returns the grades of the
    evaluation's units after re-running :func:`evaluate` with it.
    """
    frame_name, key = _UNIT_KEY[evaluation]
    tables = dict(data.tables)

    def rescore(ratings: pd.DataFrame) -> pd.Series:
        t = dict(tables)
        t["qualitative_ratings"] = ratings
        res = evaluate(BSCData(tables=t, source=data.source), scheme, year=year, half=half)
        return getattr(res, frame_name).set_index(key)["grade"]

    return rescore
