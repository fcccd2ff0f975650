"""The executive summary's findings: grade counts, top and bottom units, close calls, weak
components.

Pure functions on the score and analysis tables; the producers ``grade_counts``,
``top_bottom``, ``close_calls``, ``near_ties`` and ``weak_components`` of
:mod:`bsc_lib.analyses.recipes` call them with the analysis settings (``summary.close_call_margin``,
``summary.near_tie_tolerance``, ``summary.weak_ratio``, ``summary.top_n``).

A **close call** is a unit whose grade was decided by a small margin or by a deduction:

* ``near_better`` — the unit missed the next better grade by less than ``margin`` points
  (its ``points_to_next_better`` of the grade boundaries);
* ``near_worse`` — it kept its grade by less than ``margin`` points over the next worse grade;
* ``deduction`` — its deductions are at least its distance to the next better grade: without
  them it would have reached the better grade (other units unchanged).

Under a forced distribution the neighbour across the boundary (the lowest total of the better
grade, the highest of the worse grade, within the unit's group) is named.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

#: Kinds of close call, in display order.
CLOSE_CALL_KINDS = ("deduction", "near_better", "near_worse")


def grade_counts(units: pd.DataFrame, grades: Sequence[str], group_col: str = "inst_type") -> pd.DataFrame:
    """Units per group and grade (every grade of the scheme present, zero-filled).

    Returns
    -------
    pandas.DataFrame
        ``group`` plus one column per grade (best first) and ``n`` (units of the group); a last
        row with group ``"total"``.
    """
    g = units[group_col].astype(str) if group_col in units else pd.Series("all", index=units.index)
    ct = pd.crosstab(g, units["grade"]).reindex(columns=list(grades), fill_value=0)
    order = list(dict.fromkeys(g))
    ct = ct.reindex(order, fill_value=0)
    ct.loc["total"] = ct.sum()
    ct["n"] = ct[list(grades)].sum(axis=1)
    out = ct.reset_index().rename(columns={group_col: "group", "row_0": "group"})
    out.columns = ["group", *out.columns[1:]]
    out.columns.name = None
    for c in [*grades, "n"]:
        out[c] = out[c].astype(int)
    return out


def top_bottom(units: pd.DataFrame, n: int = 3, group_col: str = "inst_type") -> pd.DataFrame:
    """The ``n`` best and ``n`` worst units of each group (by total; ties by unit id).

    Returns
    -------
    pandas.DataFrame
        ``group``, ``position`` (``top``/``bottom``), ``place`` (1 = best / worst), ``unit_id``,
        ``total``, ``rank`` (``Int64``), ``grade``. A group with at most ``2·n`` units lists
        each unit once (as top when it is in the upper half).
    """
    rows = []
    for grp, f in units.groupby(group_col, sort=False):
        f = f.sort_values(["total", "unit_id"], ascending=[False, True], kind="stable")
        k = min(n, (len(f) + 1) // 2)
        top = f.head(k)
        bottom = f.iloc[k:].tail(min(n, len(f) - k)).iloc[::-1]
        for pos, part in (("top", top), ("bottom", bottom)):
            for place, (_, r) in enumerate(part.iterrows(), start=1):
                rows.append({"group": grp, "position": pos, "place": place, "unit_id": r["unit_id"],
                             "total": r["total"], "rank": r["rank"], "grade": r["grade"]})
    out = pd.DataFrame(rows, columns=["group", "position", "place", "unit_id", "total", "rank", "grade"])
    out["rank"] = out["rank"].astype("Int64")
    return out


def _neighbours(units: pd.DataFrame, forced: bool) -> tuple[pd.Series, pd.Series]:
    """Per unit, the id of the lowest unit of the next better grade and of the highest of the next
    worse grade in its group (forced distribution only; missing otherwise)."""
    better = pd.Series(pd.NA, index=units.index, dtype=object)
    worse = pd.Series(pd.NA, index=units.index, dtype=object)
    if not forced:
        return better, worse
    for _, f in units.groupby("group", sort=False):
        lo = f.sort_values(["total", "unit_id"], kind="stable").groupby("grade").head(1).set_index("grade")["unit_id"]
        hi = f.sort_values(["total", "unit_id"], ascending=[False, True], kind="stable").groupby(
            "grade").head(1).set_index("grade")["unit_id"]
        better[f.index] = f["next_better_grade"].map(lo)
        worse[f.index] = f["next_worse_grade"].map(hi)
    return better, worse


def close_calls(units: pd.DataFrame, boundaries: pd.DataFrame, margin: float = 0.1, forced: bool = True) -> pd.DataFrame:
    """Units whose grade was decided by less than ``margin`` points or by a deduction.

    Parameters
    ----------
    units
        ``unit_id``, ``total``, ``grade``, ``deductions`` (0 when absent).
    boundaries
        The grade boundaries of the same units (``unit_id``, ``group``, ``next_better_grade``,
        ``points_to_next_better``, ``next_worse_grade``, ``points_to_next_worse``).
    margin
        Points: a distance to a boundary below it is a close call.
    forced
        Whether grades are a forced distribution (then the neighbour unit is named).

    Returns
    -------
    pandas.DataFrame
        One row per close call (a unit can have two): ``unit_id``, ``group``, ``total``,
        ``grade``, ``kind`` (:data:`CLOSE_CALL_KINDS`), ``other_grade`` (the grade across the
        boundary), ``margin`` (points to the boundary), ``deductions``, ``neighbour_id`` (the
        unit across the boundary, forced grading). Sorted by kind order, margin, unit id.
    """
    cols = ["unit_id", "group", "total", "grade", "kind", "other_grade", "margin", "deductions", "neighbour_id"]
    b = boundaries[["unit_id", "group", "next_better_grade", "points_to_next_better", "next_worse_grade",
                    "points_to_next_worse"]]
    u = units[["unit_id", "total", "grade"]].assign(
        deductions=units["deductions"].fillna(0.0).astype(float) if "deductions" in units else 0.0)
    f = u.merge(b, on="unit_id", how="inner").reset_index(drop=True)
    nb_better, nb_worse = _neighbours(f, forced)
    to_better = f["points_to_next_better"].astype(float)
    to_worse = f["points_to_next_worse"].astype(float)
    rows = []
    ded = (f["deductions"] > 0) & to_better.notna() & (f["deductions"] + 1e-9 >= to_better)
    near_b = to_better.notna() & (to_better < margin) & ~ded
    near_w = to_worse.notna() & (to_worse < margin)
    for kind, mask, other, dist, nb in (("deduction", ded, "next_better_grade", to_better, nb_better),
                                        ("near_better", near_b, "next_better_grade", to_better, nb_better),
                                        ("near_worse", near_w, "next_worse_grade", to_worse, nb_worse)):
        sel = f[mask]
        rows.append(pd.DataFrame({"unit_id": sel["unit_id"], "group": sel["group"], "total": sel["total"],
                                  "grade": sel["grade"], "kind": kind, "other_grade": sel[other],
                                  "margin": dist[mask], "deductions": sel["deductions"],
                                  "neighbour_id": nb[mask]}))
    out = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=cols)
    out["_k"] = out["kind"].map({k: i for i, k in enumerate(CLOSE_CALL_KINDS)})
    out = out.sort_values(["_k", "margin", "unit_id"], kind="stable").drop(columns="_k")
    return out[cols].reset_index(drop=True)


def weak_components(effective: pd.DataFrame, ratio: float = 0.5) -> pd.DataFrame:
    """Components that barely discriminate: effective share below ``ratio`` × nominal share.

    Returns
    -------
    pandas.DataFrame
        The rows of the ``effective_weights`` table with ``ratio`` (effective / nominal) below
        ``ratio``: ``evaluation``, ``component``, ``nominal_share``, ``effective_share``,
        ``ratio``; sorted by evaluation then ratio.
    """
    cols = ["evaluation", "component", "nominal_points", "nominal_share", "effective_share", "ratio"]
    if effective.empty:
        return pd.DataFrame(columns=cols)
    e = effective[np.isfinite(effective["ratio"].astype(float)) & (effective["ratio"] < ratio)]
    return e.sort_values(["evaluation", "ratio"], kind="stable")[cols].reset_index(drop=True)


#: Decimals totals are printed with (the dashboard, the report tables): totals that print the
#: same at this many decimals are near-ties whatever the tolerance.
PRINT_DECIMALS = 2


def near_ties(totals: pd.Series, groups: pd.Series | None = None, tolerance: float = 0.01,
              print_decimals: int = PRINT_DECIMALS) -> pd.DataFrame:
    """Near-ties among totals within each group: the ≈ marks wherever totals are shown.

    A total is near-tied when the nearest other total of its group is less than ``tolerance``
    points away or prints the same at ``print_decimals`` decimals (a reader cannot tell them
    apart, yet they can carry different ranks and grades).

    Parameters
    ----------
    totals
        Totals (any index).
    groups
        Group of each total (same index); ``None``: one group. Ties only count within a group,
        where they decide ranks and grades.
    tolerance
        Points (``summary.near_tie_tolerance`` of the analysis settings).
    print_decimals
        Decimals the totals are printed with.

    Returns
    -------
    pandas.DataFrame
        Same index: ``near_tie`` (bool), ``gap`` (distance to the nearest other total of the
        group; NaN alone), ``neighbour`` (that total), ``digits`` (decimals that tell the two
        apart, ``print_decimals``–6; ``print_decimals`` for an exact tie or no near-tie).
    """
    t = pd.to_numeric(totals, errors="coerce").astype(float)
    g = (pd.Series(0, index=t.index) if groups is None else groups.reindex(t.index)).astype("str")
    order = pd.DataFrame({"t": t, "g": g}).sort_values(["g", "t"], kind="stable")
    same_prev = order["g"].eq(order["g"].shift(1))
    same_next = order["g"].eq(order["g"].shift(-1))
    d_prev = (order["t"] - order["t"].shift(1)).abs().where(same_prev)
    d_next = (order["t"].shift(-1) - order["t"]).abs().where(same_next)
    use_next = d_next.lt(d_prev) | d_prev.isna()
    gap = d_prev.where(~use_next, d_next)
    neighbour = order["t"].shift(1).where(~use_next, order["t"].shift(-1))
    prints_same = order["t"].round(print_decimals).eq(neighbour.round(print_decimals))
    near = (gap.lt(tolerance) | prints_same) & gap.notna()
    digits = pd.Series(print_decimals, index=order.index)
    for d in range(6, print_decimals, -1):  # the fewest decimals (> print_decimals) that tell the two apart
        digits = digits.mask(near & gap.gt(0) & order["t"].round(d).ne(neighbour.round(d)), d)
    out = pd.DataFrame({"near_tie": near.astype(bool), "gap": gap, "neighbour": neighbour, "digits": digits})
    return out.reindex(t.index)


__all__ = ["CLOSE_CALL_KINDS", "PRINT_DECIMALS", "close_calls", "grade_counts", "near_ties", "top_bottom",
           "weak_components"]
