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

from bsc_lib.scheme import Grading, StatusRule

DECIMALS = 9


def _key(scores: pd.Series) -> pd.Series:
    return scores.astype(float).round(DECIMALS)


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
    key = _key(scores)
    if groups is None:
        r = key.rank(method="min", ascending=False)
    else:
        r = key.groupby(groups.astype("str"), sort=False).rank(method="min", ascending=False)
    return r.astype("Int64")


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
    grades = list(quotas)
    exact = np.array([float(quotas[g]) * n for g in grades])
    fl = np.floor(exact + 1e-9)
    left = int(round(n - fl.sum()))
    if rounding == "largest_remainder":
        # remainders rounded so float noise (.29 × 50 = 14.499999…) cannot break a tie:
        # equal remainders favour the better grade (stable order, best grade first)
        frac = np.round(np.where(exact - fl > 1e-9, exact - fl, 0.0), 9)
        order = np.argsort(-frac, kind="stable")
        fl[order[:left]] += 1
    elif rounding == "floor_best":
        if grades:
            fl[0] += left
    else:
        raise ValueError(f"unknown rounding {rounding!r}")
    return {g: int(c) for g, c in zip(grades, fl, strict=True)}


def forced_grades(scores: pd.Series, groups: pd.Series | None, quotas: Mapping[str, float],
                  rounding: str = "largest_remainder") -> pd.Series:
    """Forced-distribution grades within groups (see the module docstring for ties).

    Returns
    -------
    pandas.Series
        Grade labels aligned to ``scores`` (missing for a missing total).
    """
    grades = np.array(list(quotas), dtype=object)
    grp = (groups.astype("str") if groups is not None else pd.Series("all", index=scores.index))
    rank = rank_min(scores, grp if groups is not None else None)
    out = pd.Series(pd.NA, index=scores.index, dtype="str")
    valid = rank.notna()
    for g in pd.unique(grp[valid]):  # loop over groups (a handful), not data rows
        sel = valid & (grp == g)
        counts = forced_counts(int(sel.sum()), quotas, rounding)
        cum = np.cumsum([counts[k] for k in quotas])
        pos = rank[sel].astype(int).to_numpy() - 1
        idx = np.minimum(np.searchsorted(cum, pos, side="right"), len(grades) - 1)
        out.loc[sel] = grades[idx]
    return out


def cutoff_grades(scores: pd.Series, cutoffs: Mapping[str, float]) -> pd.Series:
    """Grade = the best grade whose cutoff the total reaches; below all → the last grade.

    Returns
    -------
    pandas.Series
        Grade labels aligned to ``scores`` (missing for a missing total).
    """
    grades = list(cutoffs)
    key = _key(scores)
    conds = [key >= round(float(cutoffs[g]), DECIMALS) for g in grades]
    lab = np.select(conds, grades, default=grades[-1]).astype(object)
    out = pd.Series(lab, index=scores.index, dtype="str")
    return out.where(key.notna(), pd.NA)


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
    out["rank_in_group"] = rank_min(scores, groups)
    out["rank_overall"] = rank_min(scores)
    if grading.method == "forced":
        out["grade"] = forced_grades(scores, groups, grading.quotas, grading.rounding)
    else:
        out["grade"] = cutoff_grades(scores, grading.cutoffs)
    return out


def display_order(frame: pd.DataFrame, score_col: str, id_col: str) -> pd.DataFrame:
    """``frame`` sorted by total descending then unit id (stable), index reset."""
    tmp = frame.assign(_k=_key(frame[score_col]))
    return tmp.sort_values(["_k", id_col], ascending=[False, True], kind="stable",
                           na_position="last").drop(columns="_k").reset_index(drop=True)


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
