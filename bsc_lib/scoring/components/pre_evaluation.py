"""Pre-evaluation (사전평가) of each plan by the external agency, and the consulting deduction.

Per unit and item: the mean over raters of each round; ``round_rule``
``final_replaces_first`` uses the final round's mean where the unit has final ratings *for
that item* (else the first round's), ``mean`` averages the round means present. Then
``(mean − scale.min)/(scale.max − scale.min) × share × points``, summed over the items.
An item without ratings scores 0 (flag ``no_ratings``; one flag with an empty item when the
unit has no ratings at all).

The pre-evaluation has no halves: ``rounds`` selects the rounds available (the H1 evaluation in
July happens before the final round in September–October, so :func:`bsc_lib.scoring.engine.evaluate`
passes only ``first`` for ``half="H1"``).

Institutions (``institution_from``): ``departments_mean`` (an institution's own ratings are then
not used: flag ``not_used``), ``own_ratings_first`` (the institution's own ratings when it has
any, otherwise the mean of its departments).

The consulting no-show deduction (:func:`consulting_deductions`) is reported as deductions, not
in the pre-evaluation points.

Implementation: :func:`prepare` does everything that does not depend on the points (input
flags, the per-round means and the round rule, on integer codes of the id columns) and
:func:`score_prepared` the points, so the scoring engine prepares once for both evaluations;
``details`` are built when first read. ``_score_units`` is the same computation on DataFrames
(the reference; results are identical to the bit: the same pandas reductions run over the same
rows in the same order).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bsc_lib.config.scheme import PreEvaluation
from bsc_lib.scoring.components import (
    Codes,
    Component,
    ComponentResult,
    ScoringInput,
    concat_flags,
    concat_frames,
    empty_details,
    first_occurrence,
    ids,
    institution_details,
    institution_scores,
    institutions_from_departments,
    lookup,
    make_flags,
    map_float,
    member,
    register,
    selected_scores,
    take_rows,
)

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


@dataclass
class _Used:
    """The rating used per (unit, item): key ``unit code × n_items + item code``, sorted."""

    key: np.ndarray
    rating_mean: np.ndarray
    n_raters: np.ndarray
    round_used: np.ndarray


@dataclass
class _Part:
    """One set of units (departments, or institutions rated themselves) and their used ratings."""

    units: pd.DataFrame
    used: _Used
    g_mean: np.ndarray  # grid (units × items) rating means, NaN when not rated
    g_nr: np.ndarray
    g_round: np.ndarray
    rated_unit: np.ndarray  # per unit row: has any used rating


@dataclass
class PreparedPre:
    """The points-independent part of the pre-evaluation (see :func:`prepare`)."""

    flags: pd.DataFrame
    dept: _Part
    own: _Part | None
    own_ids: set
    inst: pd.DataFrame


def _used(unit: np.ndarray, item: np.ndarray, rnd: np.ndarray, score: np.ndarray, n_item: int,
          round_u: np.ndarray, params: PreEvaluation) -> _Used:
    n_round = max(len(round_u), 1)
    k = (unit.astype(np.int64) * n_item + item) * n_round + rnd
    pr = pd.Series(score, copy=False).groupby(k, sort=True).agg(mean="mean", n="count")
    keys = pr.index.to_numpy(dtype=np.int64)
    ui, rc = keys // n_round, keys % n_round
    if params.round_rule == "final_replaces_first":
        prio_u = np.array([_ROUND_PRIORITY.get(x, 9) for x in round_u], dtype=float)
        order = np.lexsort((prio_u[rc] if len(rc) else np.zeros(0), ui))  # stable: ties keep the round order
        first = np.ones(len(order), dtype=bool)
        first[1:] = ui[order][1:] != ui[order][:-1]
        pick = order[first]
        return _Used(ui[pick], pr["mean"].to_numpy()[pick], pr["n"].to_numpy()[pick].astype(float),
                     np.asarray(round_u, dtype=object)[rc[pick]] if len(pick) else np.zeros(0, dtype=object))
    g = (pd.DataFrame({"mean": pr["mean"].to_numpy(), "n": pr["n"].to_numpy(), "rc": rc})
         .groupby(ui, sort=True).agg(rating_mean=("mean", "mean"), n_raters=("n", "sum"), _lo=("rc", "min"),
                                     _hi=("rc", "max")))
    lo, hi = g["_lo"].to_numpy(), g["_hi"].to_numpy()
    rounds = np.asarray(round_u, dtype=object)
    used = np.where(lo == hi, rounds[lo] if len(lo) else lo, "first+final").astype(object)
    return _Used(g.index.to_numpy(dtype=np.int64), g["rating_mean"].to_numpy(dtype=float),
                 g["n_raters"].to_numpy().astype(float), used)


def _part(units: pd.DataFrame, rows: np.ndarray, k_unit, k_item, k_round, k_score, unit_u, item_u, round_u,
          params: PreEvaluation) -> _Part:
    n_item = max(len(item_u), 1)
    used = _used(k_unit[rows], k_item[rows], k_round[rows], k_score[rows], n_item, round_u, params)
    uc = lookup(unit_u, units["unit_id"])
    ic = lookup(item_u, [i.id for i in params.items])
    n_it = len(params.items)
    gu, gi = np.repeat(uc, n_it), np.tile(ic, len(uc))
    key = gu.astype(np.int64) * n_item + gi
    pos = np.searchsorted(used.key, key)
    pos_c = np.minimum(pos, max(len(used.key) - 1, 0))
    ok = (gu >= 0) & (gi >= 0)
    ok &= (used.key[pos_c] == key) if len(used.key) else False
    g_mean = np.where(ok, used.rating_mean[pos_c] if len(used.key) else np.nan, np.nan)
    g_nr = np.where(ok, used.n_raters[pos_c] if len(used.key) else np.nan, np.nan)
    g_round = np.where(ok, used.round_used[pos_c] if len(used.key) else None, None).astype(object)
    rated_codes = np.unique(used.key // n_item)
    rated_unit = np.isin(uc, rated_codes) & (uc >= 0)
    return _Part(units.reset_index(drop=True), used, g_mean, g_nr, g_round, rated_unit)


def _score_part(part: _Part, params: PreEvaluation, points: float
                ) -> tuple[pd.DataFrame, Callable[[], pd.DataFrame], pd.DataFrame]:
    """``(scores, details builder, flags)`` of a part (same rules as :func:`_score_units`)."""
    scale = params.scale
    units = part.units
    n_it = len(params.items)
    share = np.tile(np.array([float(i.share) for i in params.items]), len(units))
    norm = np.nan_to_num((part.g_mean - scale.min) / (scale.max - scale.min), nan=0.0)
    value = norm * share * points
    u_codes, _ = pd.factorize(units["unit_id"])
    tot = pd.Series(value).groupby(np.repeat(u_codes, n_it)).sum() if len(value) else pd.Series(dtype=float)
    scores = pd.DataFrame({"unit_id": units["unit_id"], "unit_level": units["unit_level"],
                           "points": map_float(pd.Series(u_codes), tot).fillna(0.0).to_numpy(),
                           "max_points": float(points)})
    # a unit counts as rated when its id has any used rating (duplicated ids share it)
    rated_id = pd.Series(part.rated_unit).groupby(u_codes).transform("any").to_numpy(dtype=bool) if len(units) \
        else part.rated_unit
    partly = np.flatnonzero(np.isnan(part.g_mean) & np.repeat(rated_id, n_it))
    item_ids = np.asarray([i.id for i in params.items], dtype=object)
    uid = units["unit_id"].to_numpy(dtype=object)
    flags = concat_flags([
        make_flags(uid[~rated_id], COMPONENT, "no_ratings", detail="no pre-evaluation ratings: 0 points"),
        make_flags(uid[partly // max(n_it, 1)], COMPONENT, "no_ratings", item=item_ids[partly % max(n_it, 1)],
                   detail="no ratings for this item: 0 for the item"),
    ])

    def details() -> pd.DataFrame:
        g = pd.DataFrame({
            "unit_id": np.repeat(uid, n_it), "unit_level": np.repeat(units["unit_level"].to_numpy(dtype=object), n_it),
            "item": np.tile(item_ids, len(units)), "share": share,
        }).astype({"unit_id": "str", "unit_level": "str", "item": "str"})
        g["value"] = value
        return pd.DataFrame({
            "unit_id": g["unit_id"], "unit_level": g["unit_level"], "item": g["item"], "half": "",
            "source_id": "", "value": g["value"].astype(float), "rating_mean": part.g_mean,
            "n_raters": part.g_nr.astype(float), "share": g["share"],
            "round_used": pd.Series(part.g_round, dtype="str").fillna("").astype("str"),
        })

    return scores, details, flags


def prepare(pre_eval_ratings: pd.DataFrame, departments: pd.DataFrame, institutions: pd.DataFrame,
            params: PreEvaluation, *, rounds: Sequence[str] = ("first", "final"),
            codes: Codes | None = None) -> PreparedPre:
    """Input flags, the rounds' means and the rating used per unit and item (no points yet).

    Parameters
    ----------
    pre_eval_ratings, departments, institutions
        Canonical input tables.
    params
        ``scheme.components.pre_evaluation``.
    rounds
        The rounds to use.
    codes
        Optional :class:`bsc_lib.scoring.components.Codes` of ``pre_eval_ratings``.

    Returns
    -------
    PreparedPre
        For :func:`score_prepared`.

    Raises
    ------
    DataError
        When a rating lies outside the scheme's scale.
    """
    r = pre_eval_ratings
    codes = codes if codes is not None and codes.frame is r else Codes(r)
    dept = pd.DataFrame({"unit_id": ids(departments["department_id"]), "unit_level": "department"})
    inst = pd.DataFrame({"unit_id": ids(institutions["institution_id"]), "unit_level": "institution"})
    rc_all, round_u = codes("round")
    sel = member(rc_all, len(round_u), lookup(round_u, list(rounds)))
    idx, score = selected_scores(codes, sel, params.scale.min, params.scale.max, "pre_eval_ratings")
    uc_all, unit_u = codes("unit_id")
    ic_all, item_u = codes("item")
    uc, ic, rc = (take_rows(a, idx) for a in (uc_all, ic_all, rc_all))
    del uc_all, ic_all, rc_all
    known_item = member(ic, len(item_u), lookup(item_u, [i.id for i in params.items]))
    is_dept_u = np.append(pd.Index(unit_u, dtype=object).isin(dept["unit_id"]), False)
    is_inst_u = np.append(pd.Index(unit_u, dtype=object).isin(inst["unit_id"]), False)
    unit_txt = np.append(np.asarray(unit_u, dtype=object), None)
    item_txt = np.append(np.asarray(item_u, dtype=object), None)
    n_i = len(item_u) + 1
    ukey = uc.astype(np.int64) + 1

    def u_str(rows: np.ndarray) -> np.ndarray:
        return unit_txt[uc[rows]]

    ui_rows = np.flatnonzero(~known_item)
    ui_rows = ui_rows[first_occurrence(ukey[ui_rows] * n_i + ic[ui_rows] + 1)]
    uu_rows = np.flatnonzero(~is_dept_u[uc] & ~is_inst_u[uc])
    uu_rows = uu_rows[first_occurrence(ukey[uu_rows])]
    ns_rows = np.flatnonzero(np.isnan(score))
    ns_rows = ns_rows[first_occurrence(ukey[ns_rows] * n_i + ic[ns_rows] + 1)]
    flags = [
        make_flags(u_str(ui_rows), COMPONENT, "unknown_item", item=item_txt[ic[ui_rows]],
                   detail="item not in the scheme: ignored"),
        make_flags(u_str(uu_rows), COMPONENT, "unknown_unit",
                   detail="rated unit is neither a department nor an institution: ignored"),
        make_flags(u_str(ns_rows), COMPONENT, "missing_score", item=item_txt[ic[ns_rows]],
                   detail="blank score ignored"),
    ]
    keep = known_item & ~np.isnan(score)
    k_unit, k_item, k_round, k_score = uc[keep], ic[keep], rc[keep], score[keep]
    del ic, rc, score, keep, known_item
    dept_part = _part(dept, np.flatnonzero(is_dept_u[k_unit]), k_unit, k_item, k_round, k_score,
                      unit_u, item_u, round_u, params)
    rated_u = np.unique(k_unit)
    own_mask = np.isin(lookup(unit_u, inst["unit_id"]), rated_u[rated_u >= 0]) & (lookup(unit_u, inst["unit_id"]) >= 0)
    own_rated = inst.loc[own_mask]
    own = None
    if params.institution_from == "own_ratings_first" and len(own_rated):
        own_codes = lookup(unit_u, own_rated["unit_id"])
        own = _part(own_rated, np.flatnonzero(np.isin(k_unit, own_codes)), k_unit, k_item, k_round, k_score,
                    unit_u, item_u, round_u, params)
    return PreparedPre(flags=flags, dept=dept_part, own=own, own_ids=set(own_rated["unit_id"]), inst=inst)


def score_prepared(prep: PreparedPre, departments: pd.DataFrame, params: PreEvaluation, *,
                   points: float) -> ComponentResult:
    """The points of :func:`prepare`'s units (see :func:`score_pre_evaluation`)."""
    inst = prep.inst
    d_scores, d_details, d_flags = _score_part(prep.dept, params, points)
    m_scores, m_flags = institution_scores(d_scores, departments, inst["unit_id"], COMPONENT, points)
    flag_frames = [*prep.flags, d_flags]
    if prep.own is not None:
        o_scores, o_details, o_flags = _score_part(prep.own, params, points)
        own = prep.own_ids
        i_scores = concat_frames([o_scores, m_scores.loc[~m_scores["unit_id"].isin(own)]], o_scores)
        i_scores = i_scores.set_index("unit_id").loc[inst["unit_id"]].reset_index()
        flag_frames += [o_flags, m_flags.loc[~m_flags["unit_id"].isin(own)]]

        def i_details(d: pd.DataFrame) -> pd.DataFrame:
            m = institution_details(d, departments)
            o = o_details()
            return concat_frames([o, m.loc[~m["unit_id"].isin(own)]], o)
    else:
        i_scores = m_scores
        flag_frames.append(m_flags)
        if prep.own_ids:
            own_rated = inst.loc[inst["unit_id"].isin(prep.own_ids)]
            flag_frames.append(make_flags(own_rated["unit_id"].to_numpy(), COMPONENT, "not_used",
                                          detail="institution's own ratings not used (institution_from=departments_mean)"))

        def i_details(d: pd.DataFrame) -> pd.DataFrame:
            return institution_details(d, departments)

    scores = concat_frames([d_scores, i_scores], d_scores.iloc[0:0])

    def details() -> pd.DataFrame:
        d = d_details()
        return concat_frames([d, i_details(d)], empty_details(["rating_mean", "n_raters", "share"]))

    return ComponentResult(COMPONENT, scores, details, concat_flags(flag_frames))


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
    prep = prepare(pre_eval_ratings, departments, institutions, params, rounds=rounds)
    return score_prepared(prep, departments, params, points=points)


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


def _prepare_for_engine(inp: ScoringInput):
    rounds = ("first",) if inp.half == "H1" else ("first", "final")
    return prepare(inp.tables["pre_eval_ratings"], inp.tables["departments"], inp.tables["institutions"],
                   inp.scheme.components.pre_evaluation, rounds=rounds, codes=inp.codes.pop("pre_eval_ratings", None))


def _score_for_engine(inp: ScoringInput, prepared, evaluation: str, points: float) -> ComponentResult:
    return score_prepared(prepared, inp.tables["departments"], inp.scheme.components.pre_evaluation, points=points)


register(Component("pre_evaluation", score=_score_for_engine, prepare=_prepare_for_engine))
