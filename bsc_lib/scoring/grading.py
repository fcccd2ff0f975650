"""Ranks, grades (forced distribution or cutoffs) and KPI status.

Conventions
-----------
* Totals are compared after rounding to 9 decimals, so totals that differ only by
  floating-point noise tie.
* Ranks (``tie_rule: min``): equal totals share the best rank (1, 2, 2, 4); the display order
  is total descending, then unit id (stable).
* Forced distribution: the number of units per grade in a group is ``quota × n`` rounded by
  ``largest_remainder`` (floors, then one more unit to the grades with the largest fractional
  parts, the better grade first on equal fractions) or ``floor_best`` (floors, the remainder
  to the best grade). Grades are assigned by position in the rank order; a unit gets the grade
  of the position of its rank (``rank − 1``), so units tied across a grade boundary all get the
  better grade (that grade then holds more units than its quota and the next ones fewer).
* Cutoffs: the best grade whose cutoff (lowest total for the grade) the total reaches; totals
  below every cutoff get the last grade.
* Units with a missing total get no rank and no grade.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from bsc_lib.config.scheme import Grading, StatusRule

DECIMALS = 9


def _key(scores: pd.Series) -> pd.Series:
    return scores.astype(float).round(DECIMALS)


def _valid_codes(scores: pd.Series, groups: pd.Series | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Positions of the non-missing totals, their values and their group codes."""
    values = pd.to_numeric(scores, errors="coerce").to_numpy(dtype=float)
    pos = np.flatnonzero(np.isfinite(values))
    grp = None
    if groups is not None:
        aligned = groups if groups.index.equals(scores.index) else groups.reindex(scores.index)
        grp = aligned.iloc[pos]
    _, gcode = group_codes(grp, pd.RangeIndex(len(pos)))
    return pos, values[pos], gcode


def rank_min(scores: pd.Series, groups: pd.Series | None = None) -> pd.Series:
    """Competition ranks (1, 2, 2, 4), best total first, within ``groups`` (or overall).

    Parameters
    ----------
    scores
        Totals (NaN → no rank).
    groups
        Group labels aligned to ``scores``; ``None`` ranks everything together.

    Returns
    -------
    pandas.Series
        ``Int64`` ranks aligned to ``scores``.
    """
    pos, values, gcode = _valid_codes(scores, groups)
    out = np.full(len(scores), np.nan)
    out[pos] = rank_matrix(values, gcode)
    return pd.Series(pd.array(out, dtype="Int64"), index=scores.index)


def forced_counts(n: int, quotas: Mapping[str, float], rounding: str = "largest_remainder") -> dict[str, int]:
    """Number of units per grade for a group of ``n`` units.

    Parameters
    ----------
    n
        Group size.
    quotas
        ``{grade: share}``, best grade first, shares summing to 1.
    rounding
        ``largest_remainder`` or ``floor_best``.

    Returns
    -------
    dict
        ``{grade: count}`` summing to ``n``.

    Examples
    --------
    13 units, quotas 0.2/0.3/0.4/0.1 → exact 2.6/3.9/5.2/1.3, floors 2/3/5/1 (11), two left:
    the largest fractions are .9 (A) and .6 (S) → 3/4/5/1.

    >>> forced_counts(13, {"S": .2, "A": .3, "B": .4, "C": .1})
    {'S': 3, 'A': 4, 'B': 5, 'C': 1}
    """
    if n < 0:
        raise ValueError(f"group size must be >= 0, got {n}")
    counts = count_array(int(n), np.array([float(v) for v in quotas.values()]), rounding)
    return {str(g): int(c) for g, c in zip(quotas, counts, strict=True)}


def _grades_series(scores: pd.Series, pos: np.ndarray, labels: list[str], gidx: np.ndarray) -> pd.Series:
    lab = np.full(len(scores), None, dtype=object)
    lab[pos] = np.asarray(labels, dtype=object)[gidx]
    return pd.Series(lab, index=scores.index, dtype="str")


def forced_grades(scores: pd.Series, groups: pd.Series | None, quotas: Mapping[str, float],
                  rounding: str = "largest_remainder") -> pd.Series:
    """Forced-distribution grades within groups (see the module docstring for ties).

    Returns
    -------
    pandas.Series
        Grade labels aligned to ``scores`` (missing for a missing total).
    """
    pos, values, gcode = _valid_codes(scores, groups)
    _, gidx = grade_matrix(values[None, :], forced_rule(quotas, rounding), gcode)
    return _grades_series(scores, pos, list(map(str, quotas)), gidx[0])


def cutoff_grades(scores: pd.Series, cutoffs: Mapping[str, float]) -> pd.Series:
    """Grade = the best grade whose cutoff (lowest total) the total reaches; below all → the last grade.

    Returns
    -------
    pandas.Series
        Grade labels aligned to ``scores`` (missing for a missing total).
    """
    pos, values, _ = _valid_codes(scores, None)
    gidx = cutoff_index(values, np.array([float(v) for v in cutoffs.values()]))
    return _grades_series(scores, pos, list(map(str, cutoffs)), gidx)


def assign_grades(scores: pd.Series, grading: Grading, groups: pd.Series | None = None) -> pd.DataFrame:
    """Ranks and grades of units.

    Parameters
    ----------
    scores
        Totals, indexed like the unit table.
    grading
        ``scheme.grading``.
    groups
        Grading groups (e.g. ``inst_type``) or ``None`` for one group.

    Returns
    -------
    pandas.DataFrame
        Aligned to ``scores``: ``rank_in_group``, ``rank_overall`` (``Int64``) and ``grade``.
    """
    out = pd.DataFrame(index=scores.index)
    pos, values, gcode = _valid_codes(scores, groups)
    ranks, gidx = grade_matrix(values[None, :], grading, gcode)  # ranks within the groups
    in_group = np.full(len(scores), np.nan)
    in_group[pos] = ranks[0]
    out["rank_in_group"] = pd.Series(pd.array(in_group, dtype="Int64"), index=scores.index)  # = rank_min(scores, groups)
    out["rank_overall"] = rank_min(scores) if groups is not None else out["rank_in_group"].copy()
    out["grade"] = _grades_series(scores, pos, grade_labels(grading), gidx[0])
    return out


def display_order(frame: pd.DataFrame, score_col: str, id_col: str) -> pd.DataFrame:
    """``frame`` sorted by total descending then unit id (stable), index reset.

    When the unit ids already rise strictly (the engine's tables, in key order) the rows are
    ordered by the rounded total alone, stable (ties and missing totals, last, keep the id
    order): the order of the sort by total and id, without hashing or comparing the ids again.
    """
    k = _key(frame[score_col])
    if rises_strictly(frame[id_col].to_numpy(dtype=object)):
        return frame.take(np.argsort(-k.to_numpy(dtype=float), kind="stable")).reset_index(drop=True)
    tmp = frame.assign(_k=k)
    return tmp.sort_values(["_k", id_col], ascending=[False, True], kind="stable",
                           na_position="last").drop(columns="_k").reset_index(drop=True)


def rises_strictly(values: np.ndarray) -> bool:
    """Whether the values of an object array are all text and rise strictly (each ``<`` the next).

    Then a stable sort by value is the identity. Text only: Python's ``<`` on text is a total
    order, so the answer is the sort's; other values (missing, numbers, mixed) answer ``False``.

    Parameters
    ----------
    values
        A one-dimensional object array.

    Returns
    -------
    bool
    """
    if len(values) < 2:
        return len(values) == 0 or type(values[0]) is str
    if pd.api.types.infer_dtype(values, skipna=False) != "string":  # every value a str (C loop)
        return False
    return bool(np.greater(values[1:], values[:-1]).all())


def kpi_status(rates: pd.Series, rules: Sequence[StatusRule]) -> pd.Series:
    """KPI status: the first rule whose ``min_rate`` the rate reaches (``null`` = catch-all).

    Parameters
    ----------
    rates
        Capped achievement rates (NaN → missing status).
    rules
        ``scheme.kpi_status``, in order.

    Returns
    -------
    pandas.Series
        Status codes aligned to ``rates``.
    """
    r = rates.astype(float)
    conds, labels = [], []
    for rule in rules:
        labels.append(rule.status)
        conds.append(np.ones(len(r), dtype=bool) if rule.min_rate is None
                     else (r + 1e-12 >= float(rule.min_rate)).to_numpy())
    lab = np.select(conds, labels, default=labels[-1] if labels else "").astype(object)
    return pd.Series(lab, index=rates.index, dtype="str").where(r.notna(), pd.NA)


# ---------------------------------------------------------------------------
# The grading kernel: one vectorised implementation of ranks and grades for a matrix of
# totals (draws × units). ``evaluate`` (one row), the Monte Carlo and Sobol analyses (many
# rows), what-if and grade boundaries all grade through these functions.
# ---------------------------------------------------------------------------


def rank_matrix(totals: np.ndarray, gcode: np.ndarray | None = None) -> np.ndarray:
    """Competition ranks (1, 2, 2, 4), best total first, of every row of ``totals``.

    Parameters
    ----------
    totals
        ``draws × units`` array without NaN (a 1-D array is one draw).
    gcode
        Integer group code per unit (``0 … n_groups − 1``): ranks are within groups;
        ``None`` ranks all units together.

    Returns
    -------
    numpy.ndarray
        ``int64`` ranks, the shape of ``totals``.
    """
    x = np.asarray(totals, dtype=float)
    one = x.ndim == 1
    x = np.atleast_2d(x)
    if gcode is None:
        out = _rank_rows(x)
    else:
        gcode = np.asarray(gcode, dtype=np.int64)
        out = np.empty(x.shape, dtype=np.int64)
        for g in np.unique(gcode):  # loop over the (few) groups, not over data rows
            cols = np.flatnonzero(gcode == g)
            out[:, cols] = _rank_rows(x[:, cols])
    return out[0] if one else out


def _rank_rows(x: np.ndarray) -> np.ndarray:
    d, m = x.shape
    if m == 0:
        return np.zeros((d, 0), dtype=np.int64)
    xr = np.round(x, DECIMALS)
    order = np.argsort(-xr, axis=1, kind="stable")
    xs = np.take_along_axis(xr, order, axis=1)
    new = np.ones((d, m), dtype=bool)
    new[:, 1:] = xs[:, 1:] != xs[:, :-1]
    start = np.maximum.accumulate(np.where(new, np.arange(m)[None, :], 0), axis=1)
    ranks = np.empty((d, m), dtype=np.int64)
    np.put_along_axis(ranks, order, start + 1, axis=1)
    return ranks


def count_array(n: int, shares: np.ndarray, rounding: str = "largest_remainder") -> np.ndarray:
    """Units per grade for a group of ``n`` (array form of :func:`forced_counts`)."""
    exact = np.round(np.asarray(shares, dtype=float) * n, DECIMALS)
    base = np.floor(exact).astype(np.int64)
    left = int(n - base.sum())
    if rounding == "largest_remainder":
        if left > 0:
            # remainders rounded so float noise cannot break a tie; equal remainders favour
            # the better grade (stable order, best grade first)
            rem = np.round(exact - base, DECIMALS)
            order = np.argsort(-rem, kind="stable")
            base[order[:left]] += 1
    elif rounding == "floor_best":
        if left > 0 and len(base):
            base[0] += left
    else:
        raise ValueError(f"rounding: unknown rule {rounding!r} (known: largest_remainder, floor_best)")
    return base


def quota_thresholds(sizes: np.ndarray, shares: np.ndarray, rounding: str = "largest_remainder") -> np.ndarray:
    """Cumulative grade counts (``groups × grades``) of forced distribution per group size."""
    return np.stack([np.cumsum(count_array(int(s), shares, rounding)) for s in np.asarray(sizes)]) \
        if len(sizes) else np.zeros((0, len(shares)), dtype=np.int64)


def forced_index(ranks: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Grade index (0 = best) of forced distribution.

    A unit of rank ``r`` gets the grade whose cumulative count first exceeds ``r − 1`` (tied
    units share the best rank, so a tie across a boundary takes the better grade).
    ``thresholds``: cumulative counts per unit, shape ``ranks.shape + (grades,)`` or
    broadcastable to it. Positions past the last count get the last grade.
    """
    idx = (thresholds <= (ranks - 1)[..., None]).sum(axis=-1)
    return np.minimum(idx, thresholds.shape[-1] - 1)


def cutoff_index(totals: np.ndarray, cutoffs: np.ndarray) -> np.ndarray:
    """Grade index (0 = best): the first grade whose cutoff the total reaches, else the last."""
    key = np.round(np.asarray(totals, dtype=float), DECIMALS)
    cut = np.round(np.asarray(cutoffs, dtype=float), DECIMALS)
    reach = key[..., None] >= cut
    return np.where(reach.any(axis=-1), reach.argmax(axis=-1), len(cut) - 1)


def grade_matrix(totals: np.ndarray, grading: Grading, gcode: np.ndarray | None = None, *,
                 quota_sets: np.ndarray | None = None,
                 quota_pick: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Ranks and grade indices of every row of ``totals`` under ``grading``.

    Parameters
    ----------
    totals
        ``draws × units`` (no NaN).
    grading
        ``scheme.grading`` (method, quotas, rounding, cutoffs).
    gcode
        Group code per unit (grading groups), ``None`` = one group.
    quota_sets, quota_pick
        Forced distribution only: alternative share vectors (``sets × grades``, same grades
        as ``grading.quotas``) and, per draw, the index of the set to use. ``None`` = the
        scheme's quotas for every draw.

    Returns
    -------
    tuple of numpy.ndarray
        ``ranks`` (within groups) and ``gidx`` (index into :func:`grade_labels`), both
        ``draws × units``.
    """
    x = np.atleast_2d(np.asarray(totals, dtype=float))
    gc = np.zeros(x.shape[1], dtype=np.int64) if gcode is None else np.asarray(gcode, dtype=np.int64)
    ranks = rank_matrix(x, gc)
    if grading.method == "cutoffs":
        return ranks, cutoff_index(x, np.array(list(grading.cutoffs.values()), dtype=float))
    sizes = np.bincount(gc, minlength=int(gc.max()) + 1 if len(gc) else 0)
    if quota_sets is None:
        shares = np.array(list(grading.quotas.values()), dtype=float)
        thr = quota_thresholds(sizes, shares, grading.rounding)[gc][None, :, :]
    else:
        per_set = np.stack([quota_thresholds(sizes, q, grading.rounding) for q in quota_sets])
        pick = np.zeros(x.shape[0], dtype=np.int64) if quota_pick is None else np.asarray(quota_pick)
        thr = per_set[pick[:, None], gc[None, :], :]
    return ranks, forced_index(ranks, thr)


def forced_rule(quotas: Mapping[str, float], rounding: str = "largest_remainder",
                cutoffs: Mapping[str, float] | None = None) -> Grading:
    """A ``Grading`` for the kernel from quotas and rounding (grades by ``cutoffs`` when given)."""
    return Grading(method="cutoffs" if cutoffs else "forced", group_by="none",
                   quotas={str(k): float(v) for k, v in quotas.items()}, rounding=rounding,
                   cutoffs={str(k): float(v) for k, v in (cutoffs or {}).items()}, tie_rule="min")


def grade_labels(grading: Grading) -> list[str]:
    """Grade labels, best first, of the grading method in use (quotas or cutoffs)."""
    return [str(g) for g in (grading.cutoffs if grading.method == "cutoffs" else grading.quotas)]


def group_codes(groups: pd.Series | None, index: pd.Index) -> tuple[list, np.ndarray]:
    """Group labels (first-seen order) and an integer code per unit (``None`` → one group)."""
    if groups is None:
        return ["all"], np.zeros(len(index), dtype=np.int64)
    codes, uniques = pd.factorize(groups.astype("str"), sort=False)
    return list(uniques), codes.astype(np.int64)
