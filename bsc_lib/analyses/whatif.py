"""What-if of the institutional evaluation: other component points, achievement cap, grade quotas.

The dashboard's what-if panel recomputes the institutional ranking live. It must give *exactly*
what :func:`bsc_lib.scoring.engine.evaluate` gives under the same modified scheme, without re-running
the engine on every slider move. It relies on three properties of the engine:

* **Component points.** Every institutional component score is ``fraction × points``: the
  pre-evaluation, achievement and evaluator scores multiply their normalised value by the
  ``points`` the evaluation gives them, the qualitative score by its rater-group points (which
  :func:`modified_scheme` scales in proportion, so they keep summing to the qualitative points),
  and the cooperation score is the sum of the evaluating divisions' awards. For cooperation the
  what-if keeps each institution's *fraction* of the cooperation points, i.e. it assumes the
  divisions' awards scale with the item points: :func:`equivalent_inputs` builds the rescaled
  scheme *and* data that :func:`evaluate` needs to reproduce it. Deductions do not scale.
* **Achievement cap.** A cap change is not a rescaling (capping is non-linear), so the KPI rows
  are rated once (:func:`prepare`, with the component's
  :func:`bsc_lib.scoring.components.achievement.kpi_rates`), keeping the *unbounded* rates of the
  rule (:func:`~bsc_lib.scoring.components.achievement.achievement_rate` with ``cap = +inf``: an up
  KPI with target 0 and a positive actual, a down KPI with actual 0 …) as ``±inf``, and with
  the weight shares of the component (:func:`~bsc_lib.scoring.components.achievement.kpi_weighting`).
  For a new cap (:func:`achievement_fractions`) the rows are re-capped with the component's
  :func:`~bsc_lib.scoring.components.achievement.capped_rates` (``±inf`` clip to the cap / the floor,
  exactly the engine's value for those rows; missing and unverified actuals keep their rule
  value) and aggregated by the component's own
  :func:`~bsc_lib.scoring.components.achievement.unit_points` (and, for ``departments_mean``,
  :func:`bsc_lib.scoring.components.institution_scores`), with ``points = 1``.
* **Grade quotas.** Ranks and grades come from :func:`bsc_lib.scoring.grading.assign_grades` with the
  modified ``grading`` section — the engine's own function.

Totals are ``Σ fraction × points − deductions`` clipped to ``[0, 100]``, as in the engine.

Sliders keep the points summing to 100 (and the quotas to 100 %) with :func:`rebalance`: the
component the analyst moves takes the new value and the *other* components share the rest in
proportion to their current values, rounded to the slider step by the largest remainder (equal
remainders: the component listed first in the scheme). When the others are all at 0 they share
the rest in proportion to the scheme's points (``reference``), or equally.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bsc_lib.config.scheme import Scheme
from bsc_lib.data.model import BSCData
from bsc_lib.scoring import grading
from bsc_lib.scoring.components import half_weights, ids, institution_scores, num
from bsc_lib.scoring.components.achievement import (
    Weighting,
    capped_rates,
    institution_rows,
    kpi_rates,
    kpi_rows_rate,
    kpi_weighting,
    prepare_split,
    unit_points,
)
from bsc_lib.scoring.engine import Results

log = logging.getLogger(__name__)

EVALUATION = "institutional"
_TOL = 1e-9

#: Columns of :func:`whatif_table` besides the component columns.
WHATIF_COLUMNS = [
    "institution_id", "name_ko", "name_en", "inst_type", "deductions", "total", "rank_in_group",
    "rank_overall", "grade", "base_total", "base_rank_in_group", "base_rank_overall", "base_grade",
    "rank_change", "grade_changed",
]


@dataclass(frozen=True)
class WhatIfBase:
    """Everything the what-if needs, computed once from a dataset, a scheme and its results.

    Attributes
    ----------
    units
        One row per institution (in the order of ``results.institutional``):
        ``institution_id, name_ko, name_en, inst_type, deductions, base_total,
        base_rank_in_group, base_rank_overall, base_grade``.
    fractions
        Index ``institution_id``; one column per component of the institutional evaluation:
        the base score as a fraction of the component's base points (NaN for a component with
        0 base points: its fraction is unknown and it cannot be raised).
    points
        Base points per component (scheme order).
    cap
        Base achievement cap (``None`` when the scheme has no achievement component).
    floor
        Achievement floor.
    quotas
        Base grade quotas.
    kpi_rows
        The KPI rows (KPI × half) the achievement of an institution is built from, as the
        component scores them: ``kpi_id, owner_id, unit, half, weight, actual, verified, rate,
        capped_rate`` — ``unit`` is the scored unit (a department for ``departments_mean``, an
        institution otherwise), ``rate`` the rate of
        :func:`bsc_lib.scoring.components.achievement.achievement_rate` with the unbounded cases kept
        as ``±inf`` (they clip to any cap / the floor), ``capped_rate`` the engine's at the base
        cap.
    institution_from
        The achievement's ``institution_from``.
    dept_institution
        ``department_id → institution_id`` of every department (the ``departments_mean``
        denominators).
    scheme
        The base scheme.
    weighting
        The component's :func:`~bsc_lib.scoring.components.achievement.kpi_weighting` of ``kpi_rows``
        (None without an achievement component).
    """

    units: pd.DataFrame
    fractions: pd.DataFrame
    points: dict[str, float]
    cap: float | None
    floor: float
    quotas: dict[str, float]
    kpi_rows: pd.DataFrame
    institution_from: str
    dept_institution: pd.Series
    scheme: Scheme
    weighting: Weighting | None = None

    @property
    def components(self) -> list[str]:
        """Component names in scheme order."""
        return list(self.points)


# ----------------------------------------------------------------------------- rebalance
def rebalance(values: Mapping[str, float], changed: str, value: float, *, total: float = 100.0,
              step: float = 1.0, reference: Mapping[str, float] | None = None) -> dict[str, float]:
    """Set one share and rescale the others so that everything sums to ``total``.

    Parameters
    ----------
    values
        Current values (component points or quota percentages), in display order.
    changed
        The key the analyst moved.
    value
        Its new value (clipped to ``[0, total]`` and rounded to ``step``).
    total
        What the values must sum to (100 points, 100 %).
    step
        Slider step; every returned value is a multiple of it (``total`` must be one).
    reference
        Proportions used when all the other values are 0 (e.g. the scheme's points); equal
        shares when absent or all 0 too.

    Returns
    -------
    dict
        The new values, same keys and order, summing to ``total`` exactly (up to float
        representation of multiples of ``step``).

    Raises
    ------
    ValueError
        Unknown ``changed`` key, negative values, ``step <= 0`` or ``total`` not a multiple of
        ``step``.

    Examples
    --------
    Achievement to 40 under the 2019 points: the other four share 60 in proportion
    20:25:10:25 → 15, 18.75, 7.5, 18.75; floors 15, 18, 7, 18 (58); the two units left go to
    the largest remainders .75 (qualitative) and .75 (cooperation).

    >>> rebalance({"pre": 20, "ach": 20, "qual": 25, "eval": 10, "coop": 25}, "ach", 40)
    {'pre': 15.0, 'ach': 40.0, 'qual': 19.0, 'eval': 7.0, 'coop': 19.0}
    """
    keys = list(values)
    if changed not in values:
        raise ValueError(f"rebalance: unknown key {changed!r} (known: {', '.join(keys)})")
    if step <= 0:
        raise ValueError(f"rebalance: step must be > 0, got {step}")
    units_total = total / step
    if abs(units_total - round(units_total)) > 1e-9:
        raise ValueError(f"rebalance: total {total} is not a multiple of step {step}")
    units_total = int(round(units_total))
    cur = np.array([float(values[k]) for k in keys])
    if np.any(cur < 0) or np.any(~np.isfinite(cur)):
        raise ValueError("rebalance: values must be finite and >= 0")
    v_units = int(np.clip(np.round(float(value) / step), 0, units_total))
    others = [i for i, k in enumerate(keys) if k != changed]
    out = np.zeros(len(keys))
    out[keys.index(changed)] = v_units
    rest = units_total - v_units
    if others:
        w = cur[others]
        if w.sum() <= 0 and reference is not None:
            w = np.array([max(float(reference.get(keys[i], 0.0)), 0.0) for i in others])
        if w.sum() <= 0:
            w = np.ones(len(others))
        exact = w / w.sum() * rest
        fl = np.floor(exact + 1e-9)
        left = int(round(rest - fl.sum()))
        frac = np.where(exact - fl > 1e-9, exact - fl, 0.0)
        order = np.argsort(-frac, kind="stable")
        fl[order[:left]] += 1
        out[others] = fl
    else:
        out[keys.index(changed)] = units_total
    return {k: float(u * step) for k, u in zip(keys, out, strict=True)}


# ----------------------------------------------------------------------------- prepare
def prepare(data: BSCData, scheme: Scheme, results: Results) -> WhatIfBase:
    """Precompute the what-if of the institutional evaluation.

    Parameters
    ----------
    data
        The dataset ``results`` were computed from.
    scheme
        The scheme ``results`` were computed with.
    results
        ``evaluate(data, scheme, year, half)``.

    Returns
    -------
    WhatIfBase
        See the class; ``units`` columns ``institution_id, name_ko, name_en, inst_type,
        deductions, base_total, base_rank_in_group, base_rank_overall, base_grade``.

    Raises
    ------
    ValueError
        When the scheme has no institutional evaluation.
    """
    if EVALUATION not in scheme.evaluations:
        raise ValueError("what-if: the scheme has no institutional evaluation")
    points = {c: float(p) for c, p in scheme.evaluations[EVALUATION].components.items()}
    inst = results.institutional
    units = pd.DataFrame({
        "institution_id": inst["institution_id"].astype("str"), "name_ko": inst["name_ko"],
        "name_en": inst["name_en"], "inst_type": inst["inst_type"],
        "deductions": inst["deductions"].astype(float), "base_total": inst["total"].astype(float),
        "base_rank_in_group": inst["rank_in_group"], "base_rank_overall": inst["rank_overall"],
        "base_grade": inst["grade"],
    }).reset_index(drop=True)
    fr = pd.DataFrame(index=pd.Index(units["institution_id"], name="institution_id"))
    for c, p in points.items():
        vals = inst[c].to_numpy(dtype=float)
        fr[c] = vals / p if p > 0 else np.nan
    ach = scheme.components.achievement
    dmap = pd.Series(ids(data.departments["institution_id"]).to_numpy(),
                     index=ids(data.departments["department_id"]).to_numpy(), name="institution_id")
    if ach is None or "achievement" not in points:
        rows = pd.DataFrame(columns=["kpi_id", "owner_id", "unit", "half", "weight", "actual", "verified", "rate",
                                     "capped_rate"])
        return WhatIfBase(units, fr, points, None, 0.0, dict(scheme.grading.quotas), rows, "", dmap, scheme)
    hw = half_weights(ach.year_combine, results.half)
    rows = _kpi_rows(data, ach, results.year, hw)
    return WhatIfBase(units, fr, points, float(ach.cap), float(ach.floor), dict(scheme.grading.quotas),
                      rows, ach.institution_from, dmap, scheme, kpi_weighting(rows, "unit", hw))


def _kpi_rows(data: BSCData, ach, year: int, hw: dict[str, float]) -> pd.DataFrame:
    """Rows of :attr:`WhatIfBase.kpi_rows`: the component's rows of the scored units."""
    rows, flags = kpi_rates(data.kpis, data.kpi_results, data.kpi_history, ach, year=year, halves=list(hw))
    prep = prepare_split(rows, flags, data.departments, data.institutions)
    scored = institution_rows(prep, data.departments, ach.institution_from)
    r = (prep.drows if scored is None else scored).reset_index(drop=True)
    return pd.DataFrame({
        "kpi_id": r["kpi_id"].astype("str"), "owner_id": r["owner_id"].astype("str"),
        "unit": r["unit"].astype("str"), "half": r["half"].astype("str"), "weight": r["weight"].astype(float),
        "actual": r["actual"].astype(float), "verified": r["verified"].astype(bool),
        "rate": kpi_rows_rate(r, ach), "capped_rate": r["capped_rate"].astype(float),
    })


# ----------------------------------------------------------------------------- compute
def achievement_fractions(base: WhatIfBase, cap: float) -> pd.Series:
    """Institutional achievement fraction of every institution under another cap.

    Parameters
    ----------
    base
        From :func:`prepare`.
    cap
        The achievement cap (``>= floor``).

    Returns
    -------
    pandas.Series
        Index ``institution_id`` (order of ``base.units``): the component's
        :func:`~bsc_lib.scoring.components.achievement.unit_points` with ``points = 1``, i.e.
        ``Σ_h w_h Σ_k share_k · capped_k / cap`` (``departments_mean``: the mean of that over
        all the institution's departments, :func:`bsc_lib.scoring.components.institution_scores`) —
        the achievement points divided by the component's points.

    Raises
    ------
    ValueError
        When the scheme has no achievement component or ``cap`` is below the floor or not > 0.
    """
    if base.cap is None:
        raise ValueError("what-if: the scheme has no achievement component")
    cap = float(cap)
    if not cap > 0 or cap < base.floor:
        raise ValueError(f"what-if: cap must be > 0 and >= the floor ({base.floor:g}), got {cap:g}")
    r = base.kpi_rows
    ach = base.scheme.components.achievement
    capped = capped_rates(r["rate"].to_numpy(float), r["actual"].to_numpy(float), r["verified"].to_numpy(bool),
                          ach, cap=cap)
    _, per_unit = unit_points(capped, base.weighting, points=1.0, cap=cap)
    inst_ids = base.units["institution_id"]
    if base.institution_from == "departments_mean":
        d = base.dept_institution
        dept = pd.DataFrame({"unit_id": d.index, "points": d.index.map(per_unit).fillna(0.0).astype(float)})
        dmap = pd.DataFrame({"department_id": d.index, "institution_id": d.to_numpy()})
        scores, _ = institution_scores(dept, dmap, inst_ids, "achievement", 1.0)
        out = inst_ids.map(scores.set_index("unit_id")["points"]).fillna(0.0)
    else:
        out = inst_ids.map(per_unit).fillna(0.0)
    return pd.Series(out.to_numpy(float), index=pd.Index(inst_ids, name="institution_id"), name="achievement")


def _check_points(base: WhatIfBase, points: Mapping[str, float]) -> dict[str, float]:
    unknown = [c for c in points if c not in base.points]
    if unknown:
        raise ValueError(f"what-if: unknown component(s) {unknown} (known: {', '.join(base.points)})")
    pts = {c: float(points.get(c, base.points[c])) for c in base.points}
    bad = [c for c, v in pts.items() if not np.isfinite(v) or v < 0]
    if bad:
        raise ValueError(f"what-if: points must be finite and >= 0; check {bad}")
    if abs(sum(pts.values()) - 100.0) > 1e-6:
        raise ValueError(f"what-if: component points must sum to 100, got {sum(pts.values()):g}")
    raised = [c for c, v in pts.items() if v > 0 and base.points[c] <= 0]
    if raised:
        raise ValueError(f"what-if: component(s) {raised} have 0 points in the scheme; their fraction is unknown")
    return pts


def _check_quotas(quotas: Mapping[str, float], base: WhatIfBase) -> dict[str, float]:
    if list(quotas) != list(base.quotas):
        raise ValueError(f"what-if: quotas must name the grades {list(base.quotas)} in that order")
    q = {g: float(v) for g, v in quotas.items()}
    if any(v < 0 or not np.isfinite(v) for v in q.values()) or abs(sum(q.values()) - 1.0) > 1e-6:
        raise ValueError(f"what-if: quotas must be >= 0 and sum to 1, got {q}")
    return q


def whatif_table(base: WhatIfBase, points: Mapping[str, float] | None = None, cap: float | None = None,
                 quotas: Mapping[str, float] | None = None,
                 achievement: pd.Series | None = None) -> pd.DataFrame:
    """The institutional ranking under other points, cap and quotas.

    Parameters
    ----------
    base
        From :func:`prepare`.
    points
        Component points (summing to 100); ``None`` = the scheme's.
    cap
        Achievement cap; ``None`` = the scheme's.
    quotas
        Grade quotas (same grades, summing to 1); ``None`` = the scheme's.
    achievement
        Optional precomputed :func:`achievement_fractions` for ``cap`` (a cache).

    Returns
    -------
    pandas.DataFrame
        One row per institution in display order (total descending, then id): ``institution_id,
        name_ko, name_en, inst_type``, one column per component (points), ``deductions, total,
        rank_in_group, rank_overall, grade, base_total, base_rank_in_group, base_rank_overall,
        base_grade, rank_change`` (base overall rank − new overall rank: positive = moved up)
        and ``grade_changed`` (bool).

    Raises
    ------
    ValueError
        Points not summing to 100, negative, unknown components; bad quotas or cap.
    """
    pts = _check_points(base, points or base.points)
    q = _check_quotas(quotas, base) if quotas is not None else dict(base.quotas)
    fr = base.fractions
    if "achievement" in pts and cap is not None and base.cap is not None and float(cap) != base.cap:
        ach = achievement if achievement is not None else achievement_fractions(base, cap)
        fr = fr.assign(achievement=ach.reindex(fr.index).to_numpy(float))
    elif cap is not None and base.cap is not None and float(cap) < base.floor:
        raise ValueError(f"what-if: cap must be >= the floor ({base.floor:g})")
    out = base.units[["institution_id", "name_ko", "name_en", "inst_type"]].copy()
    comp_cols = {}
    for c, p in pts.items():
        f = fr[c].to_numpy(float)
        comp_cols[c] = np.where(p > 0, np.nan_to_num(f, nan=0.0) * p, 0.0)
    out = pd.concat([out, pd.DataFrame(comp_cols, index=out.index)], axis=1)
    out["deductions"] = base.units["deductions"].to_numpy(float)
    out["total"] = (out[list(pts)].sum(axis=1) - out["deductions"]).clip(0.0, 100.0)
    g = base.scheme.grading.model_copy(update={"quotas": q})
    groups = out["inst_type"] if g.group_by == "inst_type" else None
    gr = grading.assign_grades(out["total"], g, groups)
    out = pd.concat([out, gr], axis=1)
    for c in ("base_total", "base_rank_in_group", "base_rank_overall", "base_grade"):
        out[c] = base.units[c].to_numpy()
    out["rank_change"] = (out["base_rank_overall"].astype("Int64") - out["rank_overall"].astype("Int64"))
    out["grade_changed"] = (out["grade"].astype("str") != out["base_grade"].astype("str")).fillna(True).astype(bool)
    out = grading.display_order(out, "total", "institution_id")
    return out[[*WHATIF_COLUMNS[:4], *pts, *WHATIF_COLUMNS[4:]]]


# ----------------------------------------------------------------------------- equivalence
def modified_scheme(scheme: Scheme, points: Mapping[str, float] | None = None, cap: float | None = None,
                    quotas: Mapping[str, float] | None = None) -> Scheme:
    """The scheme the what-if corresponds to.

    Institutional points replaced; the institutional qualitative rater-group points and the
    cooperation item points scaled by the same factor as their component (so the scheme stays
    consistent); achievement cap and grade quotas replaced.

    Parameters
    ----------
    scheme
        The base scheme.
    points, cap, quotas
        As in :func:`whatif_table` (``None`` keeps the scheme's).

    Returns
    -------
    Scheme
        A copy (``scheme_id`` suffixed ``+whatif``; ``sha256`` and ``path`` cleared).
    """
    ev = scheme.evaluations[EVALUATION]
    base_pts = {c: float(p) for c, p in ev.components.items()}
    pts = {c: float((points or {}).get(c, base_pts[c])) for c in base_pts}
    comps = scheme.components
    comp_update: dict = {}
    q = comps.qualitative
    if q is not None and "qualitative" in pts and EVALUATION in q.rater_groups:
        f = pts["qualitative"] / base_pts["qualitative"] if base_pts["qualitative"] > 0 else 0.0
        groups = dict(q.rater_groups)
        groups[EVALUATION] = {g: float(v) * f for g, v in q.rater_groups[EVALUATION].items()}
        comp_update["qualitative"] = q.model_copy(update={"rater_groups": groups})
    co = comps.cooperation
    if co is not None and "cooperation" in pts:
        f = pts["cooperation"] / base_pts["cooperation"] if base_pts["cooperation"] > 0 else 0.0
        comp_update["cooperation"] = co.model_copy(update={
            "items": [it.model_copy(update={"points": float(it.points) * f}) for it in co.items]})
    if cap is not None and comps.achievement is not None:
        comp_update["achievement"] = comps.achievement.model_copy(update={"cap": float(cap)})
    evals = dict(scheme.evaluations)
    evals[EVALUATION] = ev.model_copy(update={"components": pts})
    update = {"evaluations": evals, "components": comps.model_copy(update=comp_update),
              "scheme_id": f"{scheme.scheme_id}+whatif", "sha256": "", "path": ""}
    if quotas is not None:
        update["grading"] = scheme.grading.model_copy(update={"quotas": {g: float(v) for g, v in quotas.items()}})
    return scheme.model_copy(update=update)


def equivalent_inputs(data: BSCData, scheme: Scheme, points: Mapping[str, float] | None = None,
                      cap: float | None = None,
                      quotas: Mapping[str, float] | None = None) -> tuple[BSCData, Scheme]:
    """Data and scheme under which :func:`evaluate` reproduces :func:`whatif_table`.

    The scheme is :func:`modified_scheme`; the data are ``data`` with the cooperation awards
    scaled by the cooperation factor (new points / scheme points), since cooperation scores are
    given in points of the item. Used by the tests and to document what the what-if means.

    Returns
    -------
    tuple
        ``(data, scheme)``.
    """
    new_scheme = modified_scheme(scheme, points, cap, quotas)
    base_pts = scheme.points(EVALUATION, "cooperation")
    new_pts = new_scheme.points(EVALUATION, "cooperation")
    tables = dict(data.tables)
    if base_pts > 0 and new_pts != base_pts and "cooperation_scores" in tables:
        cs = tables["cooperation_scores"]
        tables["cooperation_scores"] = cs.assign(score=num(cs["score"]) * (new_pts / base_pts))
    return BSCData(tables=tables, source=data.source, input_hashes=dict(data.input_hashes)), new_scheme
