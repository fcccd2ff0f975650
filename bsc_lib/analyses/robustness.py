"""How robust is the ranking? Monte Carlo over the scheme, Sobol shares, grade boundaries.

The evaluation scheme fixes many things the seed document leaves open (component points,
achievement caps, the rater mix of the qualitative score, grade quotas). This module asks
how much the final ranks and grades depend on those choices and on who happened to rate:

* :func:`monte_carlo` perturbs the component points (Dirichlet around the nominal points),
  draws alternative component scores (e.g. achievement under caps 1.0 / 1.1 / 1.2), draws
  rater-bootstrap replicates of rated components (:func:`bootstrap_fractions`) and
  alternative grade quotas, re-ranks and re-grades every draw, and summarises each unit's
  rank interval and grade probabilities.
* :func:`sobol_indices` apportions the rank variance to those uncertain inputs (first-order
  and total Sobol indices, pick-freeze estimators of Saltelli et al. 2010 and Jansen 1999).
* :func:`grade_boundaries` gives the points each unit is away from the next grade.
* :func:`half_agreement` compares the first- and second-half rankings.

The module does not import the scoring engine: it works on plain tables. Use
:func:`fractions_from_components` to turn the engine's long ``results.components`` table
into the ``unit × component`` fraction matrix and the nominal points.

Totals and grades are the engine's: every draw's total is ``Σ points − deductions`` clipped
to ``clip`` (pass the unit's deductions and ``(0, 100)``), and ranks and grades come from the
one grading kernel of :mod:`bsc_lib.scoring.grading` (:func:`bsc_lib.scoring.grading.grade_matrix`: ranks with
ties sharing the best rank, forced distribution with the scheme's rounding, or cutoffs), so
the nominal row of every simulation is what :func:`bsc_lib.scoring.engine.evaluate` states.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats

from bsc_lib.config.scheme import Grading
from bsc_lib.scoring import grading

log = logging.getLogger(__name__)

#: Grade quotas of the 2019 scheme (``scheme.grading.quotas``), best grade first.
DEFAULT_QUOTAS: Mapping[str, float] = MappingProxyType({"S": 0.2, "A": 0.3, "B": 0.4, "C": 0.1})
#: Totals are rounded to this many decimals before ranking (ties are exact ties).
TOTAL_DECIMALS = 9
#: Default seed (the plan's date, 2019-02-01).
DEFAULT_SEED = 20190201
#: Label of the single group used when no groups are given.
ALL_GROUP = "전체"

Rounding = Literal["largest_remainder", "floor_best"]

__all__ = [
    "DEFAULT_QUOTAS",
    "MonteCarloResult",
    "bootstrap_fractions",
    "forced_distribution_counts",
    "forced_grades",
    "fractions_from_components",
    "grade_boundaries",
    "half_agreement",
    "unit_boundaries",
    "monte_carlo",
    "pick_freeze_indices",
    "sobol_indices",
]


# ---------------------------------------------------------------------------
# Forced distribution
# ---------------------------------------------------------------------------


def _check_quotas(quotas: Mapping[str, float], what: str = "quotas") -> tuple[list[str], np.ndarray]:
    if not isinstance(quotas, Mapping) or len(quotas) == 0:
        raise ValueError(f"{what}: must be a non-empty mapping grade -> share, best grade first")
    grades = [str(g) for g in quotas]
    q = np.array([float(v) for v in quotas.values()], dtype=float)
    if not np.all(np.isfinite(q)) or np.any(q < 0):
        raise ValueError(f"{what}: shares must be finite and >= 0, got {dict(quotas)}")
    if abs(q.sum() - 1.0) > 1e-6:
        raise ValueError(f"{what}: shares must sum to 1, got {q.sum():g}")
    return grades, q


def forced_distribution_counts(
    n: int, quotas: Mapping[str, float] = DEFAULT_QUOTAS, rounding: Rounding = "largest_remainder"
) -> dict[str, int]:
    """Number of units per grade in a group of ``n`` units (forced distribution).

    Parameters
    ----------
    n
        Group size (>= 0).
    quotas
        Grade -> share, best grade first, shares summing to 1 (``scheme.grading.quotas``).
    rounding
        ``"largest_remainder"`` (``scheme.grading.rounding`` default): floor ``quota × n`` and
        hand the remaining units to the grades with the largest fractional parts, equal
        remainders favouring the better grade. ``"floor_best"``: floor every grade and give
        the units left over to the best grade (as :func:`bsc_lib.scoring.grading.forced_counts`).

    Returns
    -------
    dict
        Grade -> count, in the order of ``quotas``; the counts sum to ``n``.

    Examples
    --------
    13 units, 20/30/40/10 %: 2.6, 3.9, 5.2, 1.3 -> floors 2, 3, 5, 1 (11); the two units
    left go to A (.9) and S (.6): ``{"S": 3, "A": 4, "B": 5, "C": 1}``.
    """
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
        raise ValueError(f"n: group size must be a non-negative integer, got {n!r}")
    grades, q = _check_quotas(quotas)
    counts = grading.count_array(int(n), q, rounding)
    return {g: int(c) for g, c in zip(grades, counts, strict=True)}


def forced_grades(
    totals: pd.Series,
    groups: pd.Series | None = None,
    quotas: Mapping[str, float] = DEFAULT_QUOTAS,
    rounding: Rounding = "largest_remainder",
) -> pd.DataFrame:
    """Rank and grade units by forced distribution within groups (``scheme.grading`` rules).

    Parameters
    ----------
    totals
        Total points indexed by unit id. NaN totals are not ranked (rank and grade missing,
        ``reason`` says why) and do not count towards the group size.
    groups
        Group label per unit id (e.g. ``inst_type``); ``None`` grades all units together.
    quotas
        Grade -> share, best grade first.
    rounding
        See :func:`forced_distribution_counts`.

    Returns
    -------
    pandas.DataFrame
        One row per unit, in the order of ``totals``: ``unit_id``, ``group``, ``total``,
        ``rank`` (Int64, 1 = best, ties share the best rank), ``grade``, ``n_group``
        (ranked units in the group), ``reason`` ("" when graded).
    """
    totals, gser = _align_groups(totals, groups)
    grades, q = _check_quotas(quotas)
    values = pd.to_numeric(totals, errors="coerce").to_numpy(dtype=float)
    valid = np.isfinite(values)
    labels, gcode = grading.group_codes(gser[valid], gser.index[valid])
    sizes = np.bincount(gcode, minlength=len(labels))
    ranks, gidx = grading.grade_matrix(values[valid][None, :], grading.forced_rule(quotas, rounding), gcode)
    ranks, gidx = ranks[0], gidx[0]
    pos = np.flatnonzero(valid)
    rank_all = np.full(len(values), np.nan)
    rank_all[pos] = ranks
    size_all = np.full(len(values), np.nan)
    size_all[pos] = sizes[gcode]
    grade_all = np.full(len(values), None, dtype=object)
    grade_all[pos] = np.asarray(grades, dtype=object)[gidx]
    out = pd.DataFrame(
        {
            "unit_id": totals.index.to_numpy(),
            "group": gser.to_numpy(),
            "total": values,
            "rank": pd.array(rank_all, dtype="Int64"),
            "grade": pd.Series(grade_all, dtype="str").to_numpy(),
            "n_group": pd.array(size_all, dtype="Int64"),
            "reason": pd.Series(np.where(valid, "", "missing total"), dtype="str").to_numpy(),
        }
    )
    return out


def _align_groups(values: pd.Series, groups: pd.Series | None) -> tuple[pd.Series, pd.Series]:
    if not isinstance(values, pd.Series):
        raise ValueError("totals: must be a pandas Series indexed by unit id")
    if values.index.has_duplicates:
        dup = values.index[values.index.duplicated()].unique()[:5].tolist()
        raise ValueError(f"unit ids must be unique; duplicated: {dup}")
    if groups is None:
        return values, pd.Series(ALL_GROUP, index=values.index, dtype="str")
    if not isinstance(groups, pd.Series):
        raise ValueError("groups: must be a pandas Series indexed by unit id (or None)")
    if groups.index.has_duplicates:
        raise ValueError("groups: index (unit id) must be unique")
    g = groups.reindex(values.index)
    missing = g.isna()
    if missing.any():
        ids = values.index[missing.to_numpy()][:5].tolist()
        raise ValueError(f"groups: no group for {int(missing.sum())} unit(s), e.g. {ids}")
    return values, g


# ---------------------------------------------------------------------------
# Glue: engine output -> fractions
# ---------------------------------------------------------------------------


def fractions_from_components(
    components: pd.DataFrame, evaluation: str | None = None
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Turn the engine's long component table into fractions and nominal points.

    Parameters
    ----------
    components
        Long table with columns ``unit_id``, ``component``, ``points``, ``max_points`` (and
        ``evaluation`` when several evaluations are present), one row per unit and component.
    evaluation
        Keep only this evaluation (``institutional`` / ``individual``).

    Returns
    -------
    fractions : pandas.DataFrame
        Index ``unit_id``, one column per component: ``points / max_points`` (0–1).
        Components with ``max_points`` 0 are dropped.
    nominal_points : dict
        Component -> ``max_points`` (must be the same for every unit of a component).
    """
    need = {"unit_id", "component", "points", "max_points"}
    miss = need - set(components.columns)
    if miss:
        raise ValueError(f"components: missing column(s) {sorted(miss)}")
    df = components
    if evaluation is not None:
        if "evaluation" not in df.columns:
            raise ValueError("components: no 'evaluation' column to filter on")
        df = df[df["evaluation"] == evaluation]
        if df.empty:
            raise ValueError(f"components: no rows for evaluation {evaluation!r}")
    elif "evaluation" in df.columns and df["evaluation"].nunique() > 1:
        raise ValueError("components: several evaluations present; pass evaluation=")
    dup = df.duplicated(["unit_id", "component"])
    if dup.any():
        ex = df.loc[dup, ["unit_id", "component"]].head(3).to_dict("records")
        raise ValueError(f"components: more than one row per unit and component, e.g. {ex}")
    mp = df.groupby("component", sort=False)["max_points"].agg(["min", "max"])
    bad = mp.index[(mp["max"] - mp["min"]).abs() > 1e-9].tolist()
    if bad:
        raise ValueError(f"components: max_points differs between units for {bad}")
    keep = mp.index[mp["max"] > 0]
    nominal = {str(c): float(mp.loc[c, "max"]) for c in keep}
    df = df[df["component"].isin(keep)]
    frac = df.assign(fraction=df["points"] / df["max_points"]).pivot(
        index="unit_id", columns="component", values="fraction"
    )
    frac = frac.reindex(columns=list(keep))
    frac.columns.name = None
    return frac, nominal


# ---------------------------------------------------------------------------
# Rater bootstrap
# ---------------------------------------------------------------------------


def bootstrap_fractions(
    ratings: pd.DataFrame,
    unit_col: str = "unit_id",
    rater_col: str = "rater_id",
    score_col: str = "score",
    scale: tuple[float, float] = (0.0, 100.0),
    B: int = 200,
    seed: int = DEFAULT_SEED,
    by_group: str | None = "rater_group",
    group_points: Mapping[str, float] | None = None,
    units: Sequence | pd.Index | None = None,
) -> np.ndarray:
    """Rater-bootstrap replicates of a rated component, as fractions of its maximum.

    Every replicate resamples the raters with replacement, separately within each rater
    group (``by_group``), as multinomial count weights (raters × B). A unit's replicate
    score is the count-weighted mean of the mean scores of the raters who rated it
    (unit × rater mean-score matrix, raters who did not rate the unit masked out), computed
    for all replicates at once as matrix products. Group means are combined with
    ``group_points`` weights when given (a unit without any rating in a group is scored on
    the groups it has, weights renormalised), else pooled over raters (each drawn rater's
    mean counting once). The score is mapped to ``(score − lo) / (hi − lo)``.

    When no rater of a unit is drawn in a replicate (possible when a unit was rated by only
    some raters of a group), the unit's full-sample group mean is used for that replicate;
    the share of such fall-backs is logged.

    Parameters
    ----------
    ratings
        One row per rating. Several rows per (unit, rater) (items, projects) are averaged.
        Rows with a missing score are dropped (logged).
    unit_col, rater_col, score_col
        Column names.
    scale
        ``(lo, hi)`` of the rating scale (``scheme.components.qualitative.scale``).
    B
        Number of replicates.
    seed
        Seed of ``numpy.random.default_rng``.
    by_group
        Column with the rater group (stratum); ``None`` resamples all raters together. A
        rater is identified by (group, rater id).
    group_points
        Rater group -> points (e.g. ``scheme.components.qualitative.rater_groups
        ["institutional"]``). Groups absent from the mapping are dropped (logged).
    units
        Row order of the result (e.g. ``fractions.index``); units without ratings give NaN
        rows. Default: the sorted unique unit ids of ``ratings``.

    Returns
    -------
    numpy.ndarray
        Shape ``(len(units), B)``, fractions 0–1.
    """
    cols = [unit_col, rater_col, score_col] + ([by_group] if by_group else [])
    miss = [c for c in cols if c not in ratings.columns]
    if miss:
        raise ValueError(f"ratings: missing column(s) {miss}")
    if isinstance(B, bool) or not isinstance(B, int | np.integer) or B < 1:
        raise ValueError(f"B: must be a positive integer, got {B!r}")
    lo, hi = float(scale[0]), float(scale[1])
    if not hi > lo:
        raise ValueError(f"scale: max ({hi}) must be greater than min ({lo})")
    df = ratings[cols].copy()
    df[score_col] = pd.to_numeric(df[score_col], errors="coerce")
    na = df[score_col].isna()
    if na.any():
        log.warning("bootstrap_fractions: dropped %d rating(s) without a score", int(na.sum()))
        df = df[~na]
    out_of = (df[score_col] < lo - 1e-9) | (df[score_col] > hi + 1e-9)
    if out_of.any():
        ex = df.loc[out_of, score_col].head(3).tolist()
        raise ValueError(
            f"ratings: {int(out_of.sum())} score(s) outside the scale [{lo:g}, {hi:g}], e.g. {ex}"
        )
    gcol = "__group"
    df[gcol] = df[by_group].astype("str") if by_group else ALL_GROUP
    if group_points is not None:
        gp = {str(k): float(v) for k, v in group_points.items()}
        if any(not np.isfinite(v) or v < 0 for v in gp.values()) or sum(gp.values()) <= 0:
            raise ValueError(f"group_points: must be >= 0 with a positive sum, got {gp}")
        drop = ~df[gcol].isin(list(gp))
        if drop.any():
            log.info(
                "bootstrap_fractions: dropped %d rating(s) of rater group(s) %s without points",
                int(drop.sum()), sorted(df.loc[drop, gcol].unique().tolist()),
            )
            df = df[~drop]
    unit_index = pd.Index(sorted(df[unit_col].unique().tolist())) if units is None else pd.Index(units)
    if unit_index.has_duplicates:
        raise ValueError("units: must be unique")
    n_units = len(unit_index)
    extra_units = ~df[unit_col].isin(unit_index)
    if extra_units.any():
        log.info("bootstrap_fractions: %d rating(s) of units not in `units` ignored",
                 int(extra_units.sum()))
    rng = np.random.default_rng(seed)
    means = df.groupby([gcol, rater_col, unit_col], sort=True)[score_col].mean()
    group_labels = sorted(df[gcol].unique().tolist())
    num_sum = np.zeros((n_units, B))
    den_sum = np.zeros((n_units, B))
    weighted = np.zeros((n_units, B))
    wsum = np.zeros((n_units, B))
    n_fallback = 0
    for g in group_labels:  # loop over the (few) rater groups
        mg = means.xs(g, level=gcol).unstack(rater_col)  # unit × rater
        mg = mg.reindex(unit_index)
        m = mg.to_numpy(dtype=float)
        w = np.isfinite(m).astype(float)
        m0 = np.where(w > 0, m, 0.0)
        r = m.shape[1]
        counts = rng.multinomial(r, np.full(r, 1.0 / r), size=B).T.astype(float)  # raters × B
        num = m0 @ counts
        den = w @ counts
        full_den = w.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            full_mean = m0.sum(axis=1) / full_den
        rated = full_den > 0
        empty = (den == 0) & rated[:, None]
        n_fallback += int(empty.sum())
        # fall back to the full-sample group mean where no rater of the unit was drawn
        num = np.where(empty, full_mean[:, None], num)
        den = np.where(empty, 1.0, den)
        num_sum += num
        den_sum += den
        if group_points is not None:
            pts = gp[g]
            with np.errstate(invalid="ignore", divide="ignore"):
                gm = num / den
            has = rated[:, None] & np.ones((1, B), dtype=bool)
            weighted += np.where(has, pts * np.nan_to_num(gm), 0.0)
            wsum += np.where(has, pts, 0.0)
    if n_fallback:
        log.info(
            "bootstrap_fractions: %d of %d unit-replicates used the full-sample mean "
            "(no rater of the unit drawn)", n_fallback, n_units * B * max(len(group_labels), 1),
        )
    with np.errstate(invalid="ignore", divide="ignore"):
        score = weighted / wsum if group_points is not None else num_sum / den_sum
    score = np.where(np.isfinite(score), score, np.nan)
    return (score - lo) / (hi - lo)


# ---------------------------------------------------------------------------
# Shared simulation core
# ---------------------------------------------------------------------------


@dataclass
class _Setup:
    unit_ids: pd.Index
    group_all: np.ndarray  # group label per unit (all units)
    valid: np.ndarray  # bool per unit (all units)
    reason: np.ndarray  # str per unit (all units)
    comps: list[str]
    nominal: np.ndarray  # points per component
    total_points: float
    f_fixed: np.ndarray  # valid units × comps (variable components zeroed)
    f_nominal: np.ndarray  # valid units × comps
    variable: dict[str, np.ndarray]  # comp -> valid units × alternatives
    kinds: dict[str, str]  # comp -> "alternative" | "bootstrap"
    alt_names: dict[str, list[str]]
    group_labels: list
    gcode: np.ndarray
    grades: list[str]
    grading: Grading  # method, nominal quotas, rounding, cutoffs
    quota_sets: np.ndarray  # quota sets × grades (shares) drawn per draw
    deductions: np.ndarray  # points subtracted per valid unit
    clip: tuple[float, float] | None  # totals clipped to [lo, hi] after deductions
    concentration: float
    nominal_ranks: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    nominal_gidx: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    nominal_totals: np.ndarray = field(default_factory=lambda: np.zeros(0))


def _prepare(
    fractions: pd.DataFrame,
    nominal_points: Mapping[str, float],
    groups: pd.Series | None,
    alternatives: Mapping[str, pd.DataFrame] | None,
    bootstrap: Mapping[str, np.ndarray | pd.DataFrame] | None,
    quotas: Mapping[str, float],
    quota_alternatives: Sequence[Mapping[str, float]] | None,
    concentration: float,
    rounding: Rounding,
    deductions: pd.Series | None = None,
    clip: tuple[float, float] | None = None,
    cutoffs: Mapping[str, float] | None = None,
) -> _Setup:
    if not isinstance(fractions, pd.DataFrame) or fractions.empty:
        raise ValueError("fractions: must be a non-empty DataFrame (unit × component)")
    if fractions.index.has_duplicates:
        dup = fractions.index[fractions.index.duplicated()].unique()[:5].tolist()
        raise ValueError(f"fractions: unit ids (index) must be unique; duplicated: {dup}")
    if not isinstance(nominal_points, Mapping) or not nominal_points:
        raise ValueError("nominal_points: must be a non-empty mapping component -> points")
    pts = {str(k): float(v) for k, v in nominal_points.items()}
    bad = {k: v for k, v in pts.items() if not np.isfinite(v) or v < 0}
    if bad:
        raise ValueError(f"nominal_points: points must be finite and >= 0, got {bad}")
    comps = [c for c, v in pts.items() if v > 0]
    if not comps:
        raise ValueError("nominal_points: at least one component needs points > 0")
    missing = [c for c in comps if c not in fractions.columns]
    if missing:
        raise ValueError(f"fractions: no column for component(s) {missing}")
    extra = [c for c in fractions.columns if c not in pts]
    if extra:
        log.info("robustness: fraction columns without nominal points ignored: %s", extra)
    clash = [c for c in comps if c in ("weights", "quotas")]
    if clash:
        raise ValueError(f"nominal_points: component name(s) {clash} are reserved input names")
    if not (concentration > 0):
        raise ValueError(f"concentration: must be > 0 (np.inf = fixed points), got {concentration}")
    _, q0 = _check_quotas(quotas)
    grade_rule = grading.forced_rule(quotas, rounding, cutoffs)
    grades = grading.grade_labels(grade_rule)
    if clip is not None and not (np.isfinite(clip[0]) and np.isfinite(clip[1]) and clip[0] <= clip[1]):
        raise ValueError(f"clip: must be (lo, hi) with lo <= hi, got {clip}")
    qsets = [q0]
    if quota_alternatives:
        qsets = []
        for i, qa in enumerate(quota_alternatives):
            g_i, q_i = _check_quotas(qa, what=f"quota_alternatives[{i}]")
            if g_i != list(quotas):
                raise ValueError(
                    f"quota_alternatives[{i}]: must name the grades {list(quotas)} in that order, got {g_i}"
                )
            qsets.append(q_i)
    _, gser = _align_groups(fractions.iloc[:, 0], groups)

    ids = fractions.index
    f = fractions[comps].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    reason = np.full(len(ids), "", dtype=object)
    nan_cols = ~np.isfinite(f)

    def _note(mask: np.ndarray, text: str) -> None:
        sel = mask & (reason == "")
        reason[sel] = text

    for j, c in enumerate(comps):
        _note(nan_cols[:, j], f"missing fraction: {c}")
    variable: dict[str, np.ndarray] = {}
    kinds: dict[str, str] = {}
    alt_names: dict[str, list[str]] = {}
    for c, alt in (alternatives or {}).items():
        c = str(c)
        if c not in comps:
            raise ValueError(f"alternatives: component {c!r} has no nominal points")
        if not isinstance(alt, pd.DataFrame) or alt.shape[1] == 0:
            raise ValueError(f"alternatives[{c!r}]: must be a DataFrame unit × alternative")
        if alt.index.has_duplicates:
            raise ValueError(f"alternatives[{c!r}]: unit ids (index) must be unique")
        a = alt.reindex(ids).apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
        _note(~np.isfinite(a).all(axis=1), f"missing alternative: {c}")
        variable[c] = a
        kinds[c] = "alternative"
        alt_names[c] = [str(x) for x in alt.columns]
    for c, bs in (bootstrap or {}).items():
        c = str(c)
        if c not in comps:
            raise ValueError(f"bootstrap: component {c!r} has no nominal points")
        if c in variable:
            raise ValueError(f"component {c!r} given both as alternatives and bootstrap; choose one")
        if isinstance(bs, pd.DataFrame):
            if bs.index.has_duplicates:
                raise ValueError(f"bootstrap[{c!r}]: unit ids (index) must be unique")
            b = bs.reindex(ids).to_numpy(dtype=float)
        else:
            b = np.asarray(bs, dtype=float)
            if b.ndim != 2 or b.shape[0] != len(ids) or b.shape[1] < 1:
                raise ValueError(
                    f"bootstrap[{c!r}]: expected an array of shape (units={len(ids)}, B), "
                    f"rows in the order of fractions.index; got {b.shape}"
                )
        _note(~np.isfinite(b).all(axis=1), f"missing bootstrap: {c}")
        variable[c] = b
        kinds[c] = "bootstrap"
        alt_names[c] = [str(i) for i in range(b.shape[1])]
    valid = reason == ""
    if not valid.any():
        raise ValueError("no unit has complete fractions for all components; nothing to rank")
    if (~valid).any():
        log.warning("robustness: %d unit(s) not ranked (incomplete inputs)", int((~valid).sum()))
    fv = f[valid]
    if np.any((fv < -1e-9) | (fv > 1.5)):
        log.warning("robustness: some fractions are outside 0–1; are they fractions of the maximum?")
    f_fixed = fv.copy()
    for c in variable:
        f_fixed[:, comps.index(c)] = 0.0
        variable[c] = variable[c][valid]
    labels, gcode = grading.group_codes(gser[valid], gser.index[valid])
    ded = np.zeros(len(ids))
    if deductions is not None:
        if not isinstance(deductions, pd.Series) or deductions.index.has_duplicates:
            raise ValueError("deductions: must be a pandas Series of points indexed by unique unit ids")
        ded = pd.to_numeric(deductions.reindex(ids), errors="coerce").fillna(0.0).to_numpy(dtype=float)
    nominal = np.array([pts[c] for c in comps])
    setup = _Setup(
        unit_ids=ids,
        group_all=gser.to_numpy(),
        valid=valid,
        reason=reason,
        comps=comps,
        nominal=nominal,
        total_points=float(nominal.sum()),
        f_fixed=f_fixed,
        f_nominal=fv,
        variable=variable,
        kinds=kinds,
        alt_names=alt_names,
        group_labels=labels,
        gcode=gcode,
        grades=grades,
        grading=grade_rule,
        quota_sets=np.stack(qsets),
        deductions=ded[valid],
        clip=None if clip is None else (float(clip[0]), float(clip[1])),
        concentration=float(concentration),
    )
    tot = _finish_totals(setup, (fv @ nominal)[None, :])
    setup.nominal_totals = tot[0]
    ranks, gidx = grading.grade_matrix(tot, grade_rule, gcode)
    setup.nominal_ranks, setup.nominal_gidx = ranks[0], gidx[0]
    return setup


def _draw_inputs(s: _Setup, rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Independent draws of every uncertain input group (fixed order of RNG use)."""
    out: dict[str, np.ndarray] = {}
    if np.isinf(s.concentration):
        out["weights"] = np.broadcast_to(s.nominal, (n, len(s.comps))).copy()
    else:
        alpha = s.concentration * s.nominal / s.total_points
        out["weights"] = rng.dirichlet(alpha, size=n) * s.total_points
    for c in s.variable:
        out[c] = rng.integers(0, s.variable[c].shape[1], size=n)
    out["quotas"] = rng.integers(0, s.quota_sets.shape[0], size=n)
    return out


def _finish_totals(s: _Setup, totals: np.ndarray) -> np.ndarray:
    """Σ points − deductions, clipped: the engine's total (``bsc_lib.scoring.engine.evaluate``)."""
    totals = totals - s.deductions[None, :]
    if s.clip is not None:
        np.clip(totals, s.clip[0], s.clip[1], out=totals)
    return totals


def _evaluate(s: _Setup, inp: Mapping[str, np.ndarray], lo: int = 0, hi: int | None = None):
    """Totals, ranks and grade indices (draws × valid units) for draws ``lo:hi``."""
    w = inp["weights"][lo:hi]
    totals = w @ s.f_fixed.T  # d × n
    for c, x in s.variable.items():
        j = s.comps.index(c)
        totals += x[:, inp[c][lo:hi]].T * w[:, j : j + 1]
    totals = _finish_totals(s, totals)
    ranks, gidx = grading.grade_matrix(totals, s.grading, s.gcode, quota_sets=s.quota_sets,
                                       quota_pick=inp["quotas"][lo:hi])
    return totals, ranks, gidx


def _input_label_ko(name: str, kind: str) -> str:
    if kind == "weights":
        return "배점(가중치)"
    if kind == "quotas":
        return "등급 배분율"
    if kind == "alternative":
        return f"대안 점수: {name}"
    return f"평가자 재표집: {name}"


# ---------------------------------------------------------------------------
# Monte Carlo
# ---------------------------------------------------------------------------


@dataclass
class MonteCarloResult:
    """Result of :func:`monte_carlo`.

    Attributes
    ----------
    units
        One row per unit (order of ``fractions``): ``unit_id``, ``group``, ``n_group``,
        ``nominal_total``, ``nominal_rank``, ``nominal_grade``, ``mean_rank``,
        ``median_rank``, ``rank_p05``, ``rank_p95``, ``rank_p25``, ``rank_p75``,
        ``rank_iqr``, ``p_<grade>`` per grade (best first), ``p_grade_change`` (share of
        draws whose grade differs from the nominal grade), ``reason`` ("" when ranked).
    draws_summary
        Settings and whole-ranking statistics: ``n_draws``, ``seed``, ``concentration``,
        ``chunk_size``, ``components``, ``nominal_points``, ``alternatives``,
        ``bootstrap_replicates``, ``n_quota_sets``, ``n_units``, ``n_units_ranked``,
        ``mean_footrule`` (mean over draws of Σ|rank − nominal rank|),
        ``mean_abs_rank_change`` (per unit), ``p_any_grade_change``.
    weights
        Drawn component points: ``component``, ``nominal_points``, ``mean``, ``sd``,
        ``p05``, ``p95``.
    """

    units: pd.DataFrame
    draws_summary: dict
    weights: pd.DataFrame


def _quantile_from_counts(cdf: np.ndarray, q: float) -> np.ndarray:
    """Inverted-CDF quantile of integer ranks from per-unit cumulative shares (units × ranks)."""
    return np.argmax(cdf >= q - 1e-12, axis=1).astype(float)


def monte_carlo(
    fractions: pd.DataFrame,
    nominal_points: Mapping[str, float],
    *,
    groups: pd.Series | None = None,
    n_draws: int = 10_000,
    concentration: float = 200.0,
    alternatives: Mapping[str, pd.DataFrame] | None = None,
    bootstrap: Mapping[str, np.ndarray | pd.DataFrame] | None = None,
    quotas: Mapping[str, float] = DEFAULT_QUOTAS,
    quota_alternatives: Sequence[Mapping[str, float]] | None = None,
    seed: int = DEFAULT_SEED,
    rounding: Rounding = "largest_remainder",
    chunk_size: int = 1_000,
    deductions: pd.Series | None = None,
    clip: tuple[float, float] | None = None,
    cutoffs: Mapping[str, float] | None = None,
) -> MonteCarloResult:
    """Monte Carlo over the scheme: how stable is each unit's rank and grade?

    Every draw

    * draws the component points from ``Dirichlet(concentration × nominal share) × P``
      (``P`` = sum of the nominal points, 100 for both evaluations), so they always sum to
      ``P`` and centre on the nominal points; larger ``concentration`` = tighter (the
      coefficient of variation of a component with share ``s`` is
      ``sqrt((1 − s) / (s (concentration + 1)))``); ``np.inf`` keeps the nominal points;
    * for each component in ``alternatives`` uses one alternative column, drawn uniformly
      (e.g. achievement under caps 1.0 / 1.1 / 1.2);
    * for each component in ``bootstrap`` uses one rater-bootstrap replicate, drawn
      uniformly;
    * draws one quota set uniformly from ``quota_alternatives`` (the full candidate set;
      include the nominal quotas if they should be drawn too); else uses ``quotas``;

    then totals = fractions · points, ranks within groups (ties share the best rank) and
    grades by forced distribution within groups (see the module docstring). The nominal
    ranking uses ``fractions`` and ``nominal_points`` with ``quotas``.

    All random inputs are drawn up front from ``numpy.random.default_rng(seed)``; the
    draws are evaluated in chunks of ``chunk_size`` (the result does not depend on it).

    Parameters
    ----------
    fractions
        Index unit id; one column per component: the unit's score as a fraction of the
        component's maximum (0–1), see :func:`fractions_from_components`.
    nominal_points
        Component -> nominal points (``scheme.evaluations[...].components``). Components
        with 0 points are left out.
    groups
        Group per unit id (e.g. ``inst_type`` for institutions); ``None``: one group.
    n_draws
        Number of draws.
    concentration
        Dirichlet concentration (> 0, ``np.inf`` for fixed points).
    alternatives
        Component -> DataFrame (unit id × alternative) of fractions.
    bootstrap
        Component -> array (units × B) of replicate fractions with rows in the order of
        ``fractions.index`` (see ``units=`` of :func:`bootstrap_fractions`), or a DataFrame
        indexed by unit id.
    quotas
        Nominal grade quotas, best grade first.
    quota_alternatives
        Candidate quota sets drawn per draw (same grades, same order as ``quotas``).
    seed
        Seed.
    rounding
        Forced-distribution rounding (``scheme.grading.rounding``).
    chunk_size
        Draws evaluated at once (memory ~ chunk_size × units × 8 bytes × a few).
    deductions
        Points subtracted from each unit's total (indexed by unit id; missing → 0), as the
        engine subtracts them (``results.institutional["deductions"]``).
    clip
        ``(lo, hi)``: totals are clipped to this range after the deductions, as the engine
        clips them (``(0, 100)``); ``None`` = no clipping.
    cutoffs
        Grade → lowest total (``scheme.grading.cutoffs``): grades by cutoffs instead of the
        forced distribution (``scheme.grading.method == "cutoffs"``); ranks are unchanged.

    With ``deductions``, ``clip`` and the scheme's grading, the nominal row (``nominal_total``,
    ``nominal_rank``, ``nominal_grade``) equals :func:`bsc_lib.scoring.engine.evaluate`'s total, rank
    and grade; :func:`bsc_lib.analyses.recipes.rank_robustness` passes them.

    Returns
    -------
    MonteCarloResult
        ``.units``, ``.draws_summary`` and ``.weights`` (see :class:`MonteCarloResult`).
        Units with a missing input (fraction, alternative or bootstrap value) are not
        ranked: their statistics are NaN and ``reason`` names the input.
    """
    if isinstance(n_draws, bool) or not isinstance(n_draws, int | np.integer) or n_draws < 1:
        raise ValueError(f"n_draws: must be a positive integer, got {n_draws!r}")
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int | np.integer) or chunk_size < 1:
        raise ValueError(f"chunk_size: must be a positive integer, got {chunk_size!r}")
    s = _prepare(fractions, nominal_points, groups, alternatives, bootstrap, quotas,
                 quota_alternatives, concentration, rounding, deductions, clip, cutoffs)
    rng = np.random.default_rng(seed)
    inp = _draw_inputs(s, rng, int(n_draws))
    n = len(s.gcode)
    n_grades = len(s.grades)
    max_rank = n + 1
    rank_counts = np.zeros(n * max_rank, dtype=np.int64)
    grade_counts = np.zeros(n * n_grades, dtype=np.int64)
    rank_sum = np.zeros(n)
    footrule = np.empty(n_draws)
    any_change = np.empty(n_draws, dtype=bool)
    unit_off = np.arange(n)[None, :]
    for lo in range(0, n_draws, chunk_size):  # chunks of draws
        hi = min(lo + chunk_size, n_draws)
        _, ranks, gidx = _evaluate(s, inp, lo, hi)
        rank_counts += np.bincount((unit_off * max_rank + ranks).ravel(), minlength=n * max_rank)
        grade_counts += np.bincount((unit_off * n_grades + gidx).ravel(), minlength=n * n_grades)
        rank_sum += ranks.sum(axis=0)
        footrule[lo:hi] = np.abs(ranks - s.nominal_ranks[None, :]).sum(axis=1)
        any_change[lo:hi] = (gidx != s.nominal_gidx[None, :]).any(axis=1)
    rc = rank_counts.reshape(n, max_rank)
    cdf = np.cumsum(rc, axis=1) / n_draws
    gp = grade_counts.reshape(n, n_grades) / n_draws
    q = {p: _quantile_from_counts(cdf, p) for p in (0.05, 0.25, 0.5, 0.75, 0.95)}

    n_all = len(s.unit_ids)
    pos = np.flatnonzero(s.valid)

    def _full(vals: np.ndarray) -> np.ndarray:
        arr = np.full(n_all, np.nan)
        arr[pos] = vals
        return arr

    sizes = np.bincount(s.gcode, minlength=len(s.group_labels))
    units = pd.DataFrame({"unit_id": s.unit_ids.to_numpy(), "group": s.group_all})
    units["n_group"] = pd.array(_full(sizes[s.gcode]), dtype="Int64")
    units["nominal_total"] = _full(s.nominal_totals)
    units["nominal_rank"] = pd.array(_full(s.nominal_ranks), dtype="Int64")
    nominal_grade = np.full(n_all, None, dtype=object)
    nominal_grade[pos] = np.asarray(s.grades, dtype=object)[s.nominal_gidx]
    units["nominal_grade"] = pd.Series(nominal_grade, dtype="str")
    units["mean_rank"] = _full(rank_sum / n_draws)
    units["median_rank"] = _full(q[0.5])
    units["rank_p05"] = _full(q[0.05])
    units["rank_p95"] = _full(q[0.95])
    units["rank_p25"] = _full(q[0.25])
    units["rank_p75"] = _full(q[0.75])
    units["rank_iqr"] = units["rank_p75"] - units["rank_p25"]
    for k, g in enumerate(s.grades):
        units[f"p_{g}"] = _full(gp[:, k])
    units["p_grade_change"] = _full(1.0 - gp[np.arange(n), s.nominal_gidx])
    units["reason"] = pd.Series(s.reason, dtype="str")

    w = inp["weights"]
    weights = pd.DataFrame(
        {
            "component": s.comps,
            "nominal_points": s.nominal,
            "mean": w.mean(axis=0),
            "sd": w.std(axis=0, ddof=1) if n_draws > 1 else np.zeros(len(s.comps)),
            "p05": np.quantile(w, 0.05, axis=0),
            "p95": np.quantile(w, 0.95, axis=0),
        }
    )
    summary = {
        "n_draws": int(n_draws),
        "seed": seed,
        "concentration": float(concentration),
        "chunk_size": int(chunk_size),
        "rounding": rounding,
        "components": list(s.comps),
        "nominal_points": dict(zip(s.comps, s.nominal.tolist(), strict=True)),
        "alternatives": {c: s.alt_names[c] for c, k in s.kinds.items() if k == "alternative"},
        "bootstrap_replicates": {c: s.variable[c].shape[1] for c, k in s.kinds.items() if k == "bootstrap"},
        "quotas": dict(zip(s.grades, _check_quotas(quotas)[1].tolist(), strict=True)),
        "n_quota_sets": int(s.quota_sets.shape[0]),
        "grading_method": s.grading.method,
        "deductions": bool(np.any(s.deductions != 0)),
        "clip": list(s.clip) if s.clip is not None else None,
        "groups": [str(g) for g in s.group_labels],
        "n_units": int(n_all),
        "n_units_ranked": int(n),
        "mean_footrule": float(footrule.mean()),
        "mean_abs_rank_change": float(footrule.mean() / n),
        "p_any_grade_change": float(any_change.mean()),
    }
    log.info("monte_carlo: %d draws × %d units, seed %s", n_draws, n, seed)
    return MonteCarloResult(units=units, draws_summary=summary, weights=weights)


# ---------------------------------------------------------------------------
# Sobol
# ---------------------------------------------------------------------------


def _pick_freeze_weighted(
    w: np.ndarray, y_a: np.ndarray, y_b: np.ndarray, y_ab: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Pick-freeze estimators with row weights ``w`` (R × N, each row summing to N).

    ``y_a``, ``y_b``: N × m; ``y_ab``: k × N × m. Returns S1, ST of shape R × k × m. Every
    mean over base rows is a weighted mean, so a bootstrap over rows (multinomial counts)
    is a handful of matrix products.
    """
    n = y_a.shape[0]
    wn = w / n
    mu = 0.5 * (wn @ y_a + wn @ y_b)  # R × m
    var = 0.5 * (wn @ (y_a**2) + wn @ (y_b**2)) - mu**2
    diff = y_ab - y_a[None]  # k × N × m
    # centred first order: mean((b − mu)(ab − a)) = mean(b (ab − a)) − mu · mean(ab − a)
    def wmean(x: np.ndarray) -> np.ndarray:  # k × N × m -> R × k × m
        return np.moveaxis(np.matmul(wn, x), 0, 1)

    v1 = wmean(y_b[None] * diff) - mu[:, None, :] * wmean(diff)
    vt = 0.5 * wmean(diff**2)
    scale = np.maximum(1.0, np.abs(mu)) ** 2
    ok = (var > 1e-12 * scale)[:, None, :]
    den = np.where(ok, var[:, None, :], 1.0)
    s1 = np.where(ok, v1 / den, np.nan)
    st = np.where(ok, vt / den, np.nan)
    return s1, st


def pick_freeze_indices(
    y_a: np.ndarray, y_b: np.ndarray, y_ab: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """First-order and total Sobol indices from pick-freeze model runs.

    ``y_ab[i]`` are the outputs for matrix ``A`` with the columns of input (group) ``i``
    taken from ``B``. First order: Saltelli et al. (2010), Table 2 (b),
    ``V_i = mean(f(B) · (f(AB_i) − f(A)))``; total: Jansen (1999),
    ``VT_i = mean((f(A) − f(AB_i))²) / 2``; both divided by the (population) variance of
    ``f(A) ∪ f(B)``. Outputs are centred on the pooled mean first (same expectation, lower
    estimator variance).

    Parameters
    ----------
    y_a, y_b
        Shape ``(N,)`` or ``(N, m)`` (``m`` outputs).
    y_ab
        Shape ``(k, N)`` or ``(k, N, m)``.

    Returns
    -------
    (S1, ST)
        Arrays of shape ``(k,)`` or ``(k, m)``; NaN where the output variance is 0.
    """
    y_a = np.asarray(y_a, dtype=float)
    y_b = np.asarray(y_b, dtype=float)
    y_ab = np.asarray(y_ab, dtype=float)
    if y_a.ndim not in (1, 2) or y_a.shape != y_b.shape or y_ab.shape[1:] != y_a.shape:
        raise ValueError(f"shapes do not match: y_a {y_a.shape}, y_b {y_b.shape}, y_ab {y_ab.shape}")
    vec = y_a.ndim == 1
    if vec:
        y_a, y_b, y_ab = y_a[:, None], y_b[:, None], y_ab[:, :, None]
    s1, st = _pick_freeze_weighted(np.ones((1, y_a.shape[0])), y_a, y_b, y_ab)
    s1, st = s1[0], st[0]
    if vec:
        return s1[:, 0], st[:, 0]
    return s1, st


def _unit_mean(s: np.ndarray) -> np.ndarray:
    """Mean over units (last axis) of per-unit indices, ignoring units without variance."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(s, axis=-1)


def sobol_indices(
    fractions: pd.DataFrame,
    nominal_points: Mapping[str, float],
    *,
    groups: pd.Series | None = None,
    alternatives: Mapping[str, pd.DataFrame] | None = None,
    bootstrap: Mapping[str, np.ndarray | pd.DataFrame] | None = None,
    quotas: Mapping[str, float] = DEFAULT_QUOTAS,
    quota_alternatives: Sequence[Mapping[str, float]] | None = None,
    concentration: float = 200.0,
    n_base: int = 1024,
    seed: int = DEFAULT_SEED,
    output: Literal["rank", "grade"] = "rank",
    n_boot: int = 200,
    ci: float = 0.95,
    rounding: Rounding = "largest_remainder",
    deductions: pd.Series | None = None,
    clip: tuple[float, float] | None = None,
    cutoffs: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """Sobol sensitivity of the ranking to each uncertain input group.

    Input groups (as in :func:`monte_carlo`): ``weights`` (the Dirichlet point vector, one
    group; only when ``concentration`` is finite), one group per component in
    ``alternatives`` and in ``bootstrap``, and ``quotas`` (only with
    ``quota_alternatives``; quotas cannot move ranks, so their indices are 0 for
    ``output="rank"``). Two independent base samples ``A`` and ``B`` of ``n_base`` rows are
    drawn; ``AB_i`` is ``A`` with group ``i`` taken from ``B``; the model is run on
    ``n_base × (k + 2)`` draws and :func:`pick_freeze_indices` gives the indices.

    Outputs: ``per_unit_mean`` — the indices of each unit's rank (or grade index, with
    ``output="grade"``), averaged over the units whose output varies; ``footrule`` — the
    indices of ``Σ_units |rank − nominal rank|`` (or Σ|grade − nominal grade|), one scalar
    summarising the whole ranking. Confidence intervals: percentile bootstrap over the base
    rows (``n_boot`` resamples, same rows for ``A``, ``B`` and every ``AB_i``).

    Parameters
    ----------
    fractions, nominal_points, groups, alternatives, bootstrap, quotas, quota_alternatives, concentration, rounding, deductions, clip, cutoffs
        As in :func:`monte_carlo`.
    n_base
        Base sample size ``N``.
    seed
        Seed.
    output
        ``"rank"`` or ``"grade"`` (grade index, 0 = best).
    n_boot
        Bootstrap resamples for the confidence intervals (0: no intervals).
    ci
        Confidence level.

    Returns
    -------
    pandas.DataFrame
        One row per output and input group: ``output`` (``per_unit_mean`` / ``footrule``),
        ``input``, ``input_ko``, ``S1``, ``ST``, ``S1_ci_low``, ``S1_ci_high``,
        ``ST_ci_low``, ``ST_ci_high``, ``n_base``, ``n_units`` (units whose output varies;
        all ranked units for ``footrule``). Indices are NaN when the output never varies.
    """
    if isinstance(n_base, bool) or not isinstance(n_base, int | np.integer) or n_base < 2:
        raise ValueError(f"n_base: must be an integer >= 2, got {n_base!r}")
    if output not in ("rank", "grade"):
        raise ValueError(f"output: 'rank' or 'grade', got {output!r}")
    if not 0 < ci < 1:
        raise ValueError(f"ci: must be between 0 and 1, got {ci}")
    s = _prepare(fractions, nominal_points, groups, alternatives, bootstrap, quotas,
                 quota_alternatives, concentration, rounding, deductions, clip, cutoffs)
    names: list[str] = []
    kinds: list[str] = []
    if not np.isinf(s.concentration):
        names.append("weights")
        kinds.append("weights")
    for c in s.variable:
        names.append(c)
        kinds.append(s.kinds[c])
    if quota_alternatives:
        names.append("quotas")
        kinds.append("quotas")
    if not names:
        raise ValueError("sobol_indices: no uncertain input (finite concentration, alternatives, "
                         "bootstrap or quota_alternatives needed)")
    rng = np.random.default_rng(seed)
    n = int(n_base)
    a = _draw_inputs(s, rng, n)
    b = _draw_inputs(s, rng, n)

    nominal = s.nominal_ranks if output == "rank" else s.nominal_gidx

    def run(inp: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        _, ranks, gidx = _evaluate(s, inp)
        y = (ranks if output == "rank" else gidx).astype(float)
        return y, np.abs(y - nominal[None, :]).sum(axis=1)

    y_a, f_a = run(a)
    y_b, f_b = run(b)
    y_ab = np.empty((len(names), n, y_a.shape[1]))
    f_ab = np.empty((len(names), n))
    for i, name in enumerate(names):  # one model run per input group
        ab = dict(a)
        ab[name] = b[name]
        y_ab[i], f_ab[i] = run(ab)

    s1_all, st_all = pick_freeze_indices(y_a, y_b, y_ab)  # k × units
    n_used = int(np.isfinite(s1_all[0]).sum())
    s1_u, st_u = _unit_mean(s1_all), _unit_mean(st_all)
    s1_f, st_f = pick_freeze_indices(f_a, f_b, f_ab)

    k = len(names)
    lo_q, hi_q = (1 - ci) / 2, 1 - (1 - ci) / 2
    ci_u = np.full((4, k), np.nan)
    ci_f = np.full((4, k), np.nan)
    if n_boot and n_boot > 0:
        # bootstrap over base rows as multinomial row counts (same rows for A, B, AB_i)
        counts = rng.multinomial(n, np.full(n, 1.0 / n), size=int(n_boot)).astype(float)
        bs1, bst = _pick_freeze_weighted(counts, y_a, y_b, y_ab)  # n_boot × k × units
        bs1_u, bst_u = _unit_mean(bs1), _unit_mean(bst)
        bs1_f, bst_f = _pick_freeze_weighted(counts, f_a[:, None], f_b[:, None], f_ab[:, :, None])
        bs1_f, bst_f = bs1_f[..., 0], bst_f[..., 0]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            for arr, (s1b, stb) in ((ci_u, (bs1_u, bst_u)), (ci_f, (bs1_f, bst_f))):
                arr[0], arr[1] = np.nanquantile(s1b, lo_q, axis=0), np.nanquantile(s1b, hi_q, axis=0)
                arr[2], arr[3] = np.nanquantile(stb, lo_q, axis=0), np.nanquantile(stb, hi_q, axis=0)

    rows = []
    for out_name, s1v, stv, civ, nu in (
        ("per_unit_mean", s1_u, st_u, ci_u, n_used),
        ("footrule", s1_f, st_f, ci_f, len(s.gcode)),
    ):
        rows.append(
            pd.DataFrame(
                {
                    "output": out_name,
                    "input": names,
                    "input_ko": [_input_label_ko(nm, kd) for nm, kd in zip(names, kinds, strict=True)],
                    "S1": s1v,
                    "ST": stv,
                    "S1_ci_low": civ[0],
                    "S1_ci_high": civ[1],
                    "ST_ci_low": civ[2],
                    "ST_ci_high": civ[3],
                    "n_base": n,
                    "n_units": nu,
                }
            )
        )
    log.info("sobol_indices: %d inputs, N=%d, %d model runs", k, n, n * (k + 2))
    return pd.concat(rows, ignore_index=True)


# ---------------------------------------------------------------------------
# Grade boundaries
# ---------------------------------------------------------------------------


def grade_boundaries(
    totals: pd.DataFrame,
    grades: Mapping[str, float] | Sequence[str] = DEFAULT_QUOTAS,
    *,
    epsilon: float = 1e-9,
) -> pd.DataFrame:
    """Points each unit is away from the next better and the next worse grade.

    Within each group, ``points_to_next_better`` = total of the lowest unit holding the
    next better grade present in the group − own total + ``epsilon``. Because tied units
    get the better grade, gaining the plain gap (reaching a tie) already lifts a unit;
    ``epsilon`` (default 1e-9, below the rounding used for ranking) is a guard so that
    gaining the reported amount lifts the unit also under floating-point rounding.
    ``points_to_next_worse`` = own total − highest total of the next worse grade present
    in the group: a unit keeps its grade while it loses at most this much (at a tie it
    keeps the better grade) and drops when it loses more. Both assume everybody else's
    totals stay put. NaN for the top (resp. bottom) grade present in the group.

    Parameters
    ----------
    totals
        Columns ``unit_id``, ``group``, ``total``, ``grade`` (e.g. from
        :func:`forced_grades` or the engine's results). ``group`` may be absent (one group).
    grades
        Grade order, best first: the quotas mapping or a sequence of grade labels.
    epsilon
        Added to ``points_to_next_better``.

    Returns
    -------
    pandas.DataFrame
        The input rows (same order) with ``unit_id``, ``group``, ``total``, ``grade``,
        ``next_better_grade``, ``points_to_next_better``, ``next_worse_grade``,
        ``points_to_next_worse``, ``nearest_boundary`` (the smaller of the two distances),
        ``nearest_side`` (``better`` / ``worse``), ``reason`` ("" or why NaN).
    """
    need = {"unit_id", "total", "grade"}
    miss = need - set(totals.columns)
    if miss:
        raise ValueError(f"totals: missing column(s) {sorted(miss)}")
    order = [str(g) for g in grades]
    if len(set(order)) != len(order) or not order:
        raise ValueError(f"grades: must be a non-empty sequence of distinct grade labels, got {order}")
    df = totals.loc[:, [c for c in ("unit_id", "group", "total", "grade") if c in totals.columns]].copy()
    df = df.reset_index(drop=True)
    if "group" not in df.columns:
        df["group"] = ALL_GROUP
    df["total"] = pd.to_numeric(df["total"], errors="coerce")
    rank_of = {g: i for i, g in enumerate(order)}
    gi = df["grade"].map(rank_of)
    unknown = df["grade"].notna() & gi.isna()
    if unknown.any():
        bad = sorted(df.loc[unknown, "grade"].astype(str).unique().tolist())
        raise ValueError(f"totals: grade(s) {bad} not in the grade order {order}")
    df["_gi"] = gi
    ok = df["total"].notna() & df["_gi"].notna() & df["group"].notna()
    reason = np.where(
        df["total"].isna(), "missing total",
        np.where(df["_gi"].isna(), "missing grade", np.where(df["group"].isna(), "missing group", "")),
    )
    stats_ = (
        df[ok]
        .groupby(["group", "_gi"], sort=True)["total"]
        .agg(grade_min="min", grade_max="max")
        .reset_index()
        .sort_values(["group", "_gi"], kind="stable")
    )
    by_group = stats_.groupby("group", sort=False)
    stats_["better_gi"] = by_group["_gi"].shift(1)
    stats_["better_min"] = by_group["grade_min"].shift(1)
    stats_["worse_gi"] = by_group["_gi"].shift(-1)
    stats_["worse_max"] = by_group["grade_max"].shift(-1)
    m = df.merge(stats_[["group", "_gi", "better_gi", "better_min", "worse_gi", "worse_max"]],
                 on=["group", "_gi"], how="left", sort=False)
    labels = np.asarray(order, dtype=object)

    def _label(x: pd.Series) -> pd.Series:
        arr = np.full(len(x), None, dtype=object)
        has = x.notna().to_numpy()
        arr[has] = labels[x[has].to_numpy(dtype=np.int64)]
        return pd.Series(arr, dtype="str")

    out = pd.DataFrame(
        {
            "unit_id": m["unit_id"],
            "group": m["group"],
            "total": m["total"],
            "grade": m["grade"],
            "next_better_grade": _label(m["better_gi"]),
            "points_to_next_better": m["better_min"] - m["total"] + epsilon,
            "next_worse_grade": _label(m["worse_gi"]),
            "points_to_next_worse": m["total"] - m["worse_max"],
        }
    )
    out["nearest_boundary"], out["nearest_side"] = _nearest(out["points_to_next_better"],
                                                             out["points_to_next_worse"])
    out["reason"] = pd.Series(reason, dtype="str")
    return out


def _nearest(up: pd.Series, down: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """The smaller of the two distances and its side (``better`` / ``worse``; ties → better)."""
    up_a, down_a = np.asarray(up, dtype=float), np.asarray(down, dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        nearest = np.fmin(up_a, down_a)
    side = np.where(np.isnan(up_a) & np.isnan(down_a), None,
                    np.where(np.isnan(down_a) | (up_a <= down_a), "better", "worse"))
    return nearest, pd.Series(side, dtype="str")


def unit_boundaries(
    units: pd.DataFrame,
    grading_rule: Grading,
    *,
    score: pd.Series | None = None,
    points_per_score: pd.Series | float = 1.0,
) -> pd.DataFrame:
    """Grade boundaries under a scheme's grading, forced distribution or cutoffs.

    Forced distribution: :func:`grade_boundaries` within ``units["group"]`` (the distance to
    the lowest total of the next better grade and to the highest of the next worse).
    Cutoffs: the distance of the graded score to the next better grade's cutoff and to the
    own grade's cutoff (a unit keeps its grade while its score stays at or above it),
    converted to total points with ``points_per_score`` (departments are graded on
    ``total_pct``: ``max_total / 100`` points per percentage point).

    Parameters
    ----------
    units
        ``unit_id``, ``group``, ``total``, ``grade`` (the engine's grades).
    grading_rule
        ``scheme.grading``.
    score
        The graded score aligned to ``units`` (default: ``total``).
    points_per_score
        Total points per unit of ``score``.

    Returns
    -------
    pandas.DataFrame
        The columns of :func:`grade_boundaries`, rows in the order of ``units``.
    """
    order = grading.grade_labels(grading_rule)
    if grading_rule.method == "forced":
        return grade_boundaries(units[["unit_id", "group", "total", "grade"]], order)
    u = units.reset_index(drop=True)
    sc = pd.to_numeric(u["total"] if score is None else pd.Series(np.asarray(score, dtype=float)),
                       errors="coerce")
    per = (pd.Series(np.asarray(points_per_score, dtype=float)) if isinstance(points_per_score, pd.Series)
           else float(points_per_score))
    cut = {str(k): float(v) for k, v in grading_rule.cutoffs.items()}
    pos = u["grade"].map({g: i for i, g in enumerate(order)})
    label_at = dict(enumerate(order))
    better = (pos - 1).map(label_at).where(pos.notna())
    worse = (pos + 1).map(label_at).where(pos.notna())
    up = (better.map(cut) - sc) * per
    down = ((sc - u["grade"].map(cut)) * per).where(worse.notna())
    nearest, side = _nearest(up, down)
    reason = np.where(u["total"].isna(), "missing total", np.where(u["grade"].isna(), "missing grade", ""))
    return pd.DataFrame({
        "unit_id": u["unit_id"], "group": u["group"], "total": pd.to_numeric(u["total"], errors="coerce"),
        "grade": u["grade"], "next_better_grade": pd.Series(better, dtype="str"),
        "points_to_next_better": up.to_numpy(dtype=float), "next_worse_grade": pd.Series(worse, dtype="str"),
        "points_to_next_worse": down.to_numpy(dtype=float), "nearest_boundary": nearest,
        "nearest_side": side, "reason": pd.Series(reason, dtype="str"),
    })


# ---------------------------------------------------------------------------
# H1 vs H2
# ---------------------------------------------------------------------------


def half_agreement(h1: pd.Series, h2: pd.Series) -> pd.DataFrame:
    """Agreement of the first- and second-half results (totals or ranks) of the same units.

    The two series are aligned on their index (unit id); units missing or NaN in either
    half are left out.

    Parameters
    ----------
    h1, h2
        Totals (or ranks) indexed by unit id.

    Returns
    -------
    pandas.DataFrame
        Two rows: ``measure`` (``kendall_tau_b``, ``spearman``), ``label_ko``,
        ``statistic``, ``p_value`` (two-sided, scipy), ``n`` (units used), ``reason``
        ("" or why NaN: fewer than 3 units, or a constant half).
    """
    if not isinstance(h1, pd.Series) or not isinstance(h2, pd.Series):
        raise ValueError("h1, h2: must be pandas Series indexed by unit id")
    for nm, sr in (("h1", h1), ("h2", h2)):
        if sr.index.has_duplicates:
            raise ValueError(f"{nm}: unit ids (index) must be unique")
    x = pd.to_numeric(h1, errors="coerce").rename("h1")
    y = pd.to_numeric(h2, errors="coerce").rename("h2")
    both = pd.concat([x, y], axis=1, join="inner").dropna()
    n = len(both)
    reason = ""
    stat_k = p_k = stat_s = p_s = np.nan
    if n < 3:
        reason = "n < 3"
    elif both["h1"].nunique() < 2 or both["h2"].nunique() < 2:
        reason = "constant half"
    else:
        xv = both["h1"].to_numpy(dtype=float)
        yv = both["h2"].to_numpy(dtype=float)
        kt = stats.kendalltau(xv, yv, variant="b")
        sp = stats.spearmanr(xv, yv)
        stat_k, p_k = float(kt.statistic), float(kt.pvalue)
        stat_s, p_s = float(sp.statistic), float(sp.pvalue)
    return pd.DataFrame(
        {
            "measure": ["kendall_tau_b", "spearman"],
            "label_ko": ["켄달 타우-b", "스피어만 순위상관"],
            "statistic": [stat_k, stat_s],
            "p_value": [p_k, p_s],
            "n": [n, n],
            "reason": [reason, reason],
        }
    )
