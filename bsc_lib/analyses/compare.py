"""Scheme comparison: what does a change of the scheme do to the results of the same data?

The same data scored under scheme A (the current one) and scheme B (a proposal) gives two
:class:`bsc_lib.scoring.engine.Results`; the functions here compare them unit by unit:

* :func:`unit_changes` — per institution and department the total, rank and grade under each
  scheme and the change;
* :func:`contributions` — the change of every total decomposed into the contributions of the
  components (union of both schemes' components, a component absent from one scheme counts 0
  there), the deductions and the clipping to [0, 100]. The parts are exact differences
  (computed in decimal arithmetic from the binary values the engine produced), stated to
  ``decimals`` places with largest-remainder rounding, so that **the stated contributions add
  up to the stated change of the total to the last decimal** (the rounding moves no part by
  more than one unit of the last decimal). The clipping part is computed from the engine's
  own total of each scheme (``total − (Σ components − deductions)``), not as a residual of the
  comparison, so a wrong component would show as a non-zero clipping part of an unclipped unit;
* :func:`grade_transitions` — the grade transition matrix (A's grade × B's grade, counts);
* :func:`type_shifts` — systematic shifts by institution type (mean, median, SD of the change,
  mean rank change, grades up and down) and a Kruskal–Wallis test of the changes between types
  (:func:`bsc_lib.analyses.dispersion.group_differences`).

Discrimination before and after (ties, CV, effective weights) is the dispersion analysis of
each scheme side by side (the ``compare_discrimination`` and ``compare_effective_weights``
producers in :mod:`bsc_lib.analyses.recipes`). All functions are pure: Results and parameters
in, tidy DataFrames out.
"""

from __future__ import annotations

import decimal
from decimal import Decimal

import numpy as np
import pandas as pd

from bsc_lib.analyses.dispersion import group_differences
from bsc_lib.config.scheme import Scheme
from bsc_lib.errors import BSCError, Problem
from bsc_lib.scoring.engine import Results
from bsc_lib.scoring.grading import grade_labels

#: The evaluations compared: name → (Results attribute, id column, score column the grade is on).
LEVELS = {
    "institutional": ("institutional", "institution_id"),
    "department": ("departments", "department_id"),
}

#: Decimal context wide enough to hold the exact difference of two IEEE doubles.
_CTX = decimal.Context(prec=400)


def _unit_frame(results: Results, level: str) -> pd.DataFrame:
    attr, key = LEVELS[level]
    f = getattr(results, attr)
    rank = "rank_in_group" if "rank_in_group" in f.columns else "rank_overall"
    cols = {key: "unit_id", "name_ko": "name_ko", "total": "total", rank: "rank", "grade": "grade"}
    out = f[list(cols)].rename(columns=cols)
    if level == "institutional":
        out["inst_type"] = f["inst_type"].to_numpy()
    else:
        inst = results.institutional.set_index("institution_id")["inst_type"]
        out["inst_type"] = f["institution_id"].map(inst).to_numpy()
    return out


def unit_changes(a: Results, b: Results, scheme_a: Scheme, scheme_b: Scheme) -> pd.DataFrame:
    """Total, rank and grade of every institution and department under schemes A and B.

    Returns
    -------
    DataFrame
        One row per unit: ``evaluation`` (institutional / department), ``unit_id``,
        ``name_ko``, ``inst_type``, ``total_a``, ``total_b``, ``delta`` (B − A), ``rank_a``,
        ``rank_b`` (institutions: rank within type; departments: overall), ``rank_change``
        (A − B: positive = moved up), ``grade_a``, ``grade_b``, ``grade_steps`` (positive =
        better grade under B; position in each scheme's grade list, best first),
        ``grade_changed``. Sorted by evaluation, then ``delta`` descending, then ``unit_id``.
    """
    labels_a = grade_labels(scheme_a.grading)
    labels_b = grade_labels(scheme_b.grading)
    pos_a = {g: i for i, g in enumerate(labels_a)}
    pos_b = {g: i for i, g in enumerate(labels_b)}
    parts = []
    for level in LEVELS:
        fa, fb = _unit_frame(a, level), _unit_frame(b, level)
        m = fa.merge(fb[["unit_id", "total", "rank", "grade"]], on="unit_id", how="outer", suffixes=("_a", "_b"),
                     sort=False)
        m.insert(0, "evaluation", level)
        m["delta"] = m["total_b"] - m["total_a"]
        m["rank_change"] = (m["rank_a"] - m["rank_b"]).astype("Int64")
        m["grade_steps"] = (m["grade_a"].map(pos_a) - m["grade_b"].map(pos_b)).astype("Int64")
        m["grade_changed"] = (m["grade_a"] != m["grade_b"]).astype(bool)
        m["rank_a"] = m["rank_a"].astype("Int64")
        m["rank_b"] = m["rank_b"].astype("Int64")
        parts.append(m.sort_values(["delta", "unit_id"], ascending=[False, True], kind="stable"))
    cols = ["evaluation", "unit_id", "name_ko", "inst_type", "total_a", "total_b", "delta", "rank_a", "rank_b",
            "rank_change", "grade_a", "grade_b", "grade_steps", "grade_changed"]
    return pd.concat(parts, ignore_index=True)[cols]


def _exact(x: float) -> Decimal:
    return Decimal(float(x)) if np.isfinite(x) else Decimal(0)


def _hamilton(values: list[Decimal], total: Decimal, unit: Decimal) -> list[Decimal]:
    """``values`` rounded to multiples of ``unit`` so that they sum to ``total`` (a multiple of
    ``unit``): floors, then one more unit to the largest remainders (ties: first listed)."""
    floors = [(v / unit).to_integral_value(rounding=decimal.ROUND_FLOOR) for v in values]
    rem = [v / unit - f for v, f in zip(values, floors, strict=True)]
    k = int(total / unit - sum(floors))
    order = sorted(range(len(values)), key=lambda i: (-rem[i], i))
    out = list(floors)
    for i in order[:k]:
        out[i] += 1
    return [f * unit for f in out]


def contributions(a: Results, b: Results, decimals: int = 6) -> pd.DataFrame:
    """The change of every total (B − A) decomposed into component contributions.

    Parameters
    ----------
    a, b
        :func:`bsc_lib.scoring.engine.evaluate` of the same data under schemes A and B.
    decimals
        Places of the stated contributions and change. The parts are rounded with largest
        remainders so that they sum exactly to the change rounded half-even to ``decimals``.

    Returns
    -------
    DataFrame
        Long, one row per unit and part: ``evaluation``, ``unit_id``, ``part`` (a component id,
        ``deductions`` or ``clipping``), ``points_a``, ``points_b`` (the part's points under
        each scheme; deductions as a negative number, clipping = engine total − (Σ components −
        deductions)), ``contribution`` (``points_b − points_a`` to ``decimals`` places, the
        parts of a unit summing exactly to its ``delta``), ``delta`` (the unit's change of the
        total to ``decimals`` places). Components in the order of A's scheme, then B's new ones.
    """
    unit = Decimal(1).scaleb(-decimals)
    rows = []
    with decimal.localcontext(_CTX):
        for level, (attr, key) in LEVELS.items():
            ca = a.components[a.components["evaluation"] == level]
            cb = b.components[b.components["evaluation"] == level]
            comps = list(dict.fromkeys([*ca["component"], *cb["component"]]))
            pa = ca.pivot_table(index="unit_id", columns="component", values="points", aggfunc="sum")
            pb = cb.pivot_table(index="unit_id", columns="component", values="points", aggfunc="sum")
            fa = getattr(a, attr).set_index(key)
            fb = getattr(b, attr).set_index(key)
            for uid in fa.index.union(fb.index, sort=False):
                parts = {}
                for side, piv, fr in (("a", pa, fa), ("b", pb, fb)):
                    vals = {c: _exact(piv.at[uid, c]) if (uid in piv.index and c in piv.columns) else Decimal(0)
                            for c in comps}
                    ded = _exact(fr.at[uid, "deductions"]) if uid in fr.index else Decimal(0)
                    tot = _exact(fr.at[uid, "total"]) if uid in fr.index else Decimal(0)
                    vals["deductions"] = -ded
                    vals["clipping"] = tot - (sum(vals[c] for c in comps) - ded)
                    vals["_total"] = tot
                    parts[side] = vals
                names = [*comps, "deductions", "clipping"]
                exact = [parts["b"][n] - parts["a"][n] for n in names]
                delta = (parts["b"]["_total"] - parts["a"]["_total"]).quantize(unit, rounding=decimal.ROUND_HALF_EVEN)
                stated = _hamilton(exact, delta, unit)
                for n, s in zip(names, stated, strict=True):
                    rows.append((level, uid, n, float(parts["a"][n]), float(parts["b"][n]), float(s), float(delta)))
    return pd.DataFrame(rows, columns=["evaluation", "unit_id", "part", "points_a", "points_b", "contribution",
                                       "delta"])


def grade_transitions(changes: pd.DataFrame, scheme_a: Scheme, scheme_b: Scheme) -> pd.DataFrame:
    """Grade transition matrix: how many units go from each grade under A to each grade under B.

    Returns
    -------
    DataFrame
        Long, every (evaluation, grade_a, grade_b) combination of the two schemes' grade lists
        (best first) with ``n`` (count, 0 included) and ``share_of_a`` (of the units graded
        ``grade_a`` under A).
    """
    la, lb = grade_labels(scheme_a.grading), grade_labels(scheme_b.grading)
    rows = []
    for ev, g in changes.groupby("evaluation", sort=False):
        counts = g.groupby(["grade_a", "grade_b"]).size()
        n_a = g.groupby("grade_a").size()
        for ga in la:
            for gb in lb:
                n = int(counts.get((ga, gb), 0))
                rows.append((ev, ga, gb, n, n / n_a[ga] if n_a.get(ga, 0) else np.nan))
    return pd.DataFrame(rows, columns=["evaluation", "grade_a", "grade_b", "n", "share_of_a"])


def type_shifts(changes: pd.DataFrame) -> pd.DataFrame:
    """Systematic shifts by institution type: does scheme B favour one type?

    Returns
    -------
    DataFrame
        One row per evaluation and ``inst_type`` (departments by their institution's type):
        ``n_units``, ``mean_delta``, ``median_delta``, ``sd_delta``, ``mean_rank_change``,
        ``n_grade_up``, ``n_grade_down``, and per evaluation the Kruskal–Wallis ``kw_h``,
        ``kw_p`` and ``epsilon_sq`` of ``delta`` between types
        (:func:`bsc_lib.analyses.dispersion.group_differences`; NaN with fewer than two types).
    """
    out = []
    for ev, g in changes.groupby("evaluation", sort=False):
        s = g.groupby("inst_type", sort=True).agg(
            n_units=("delta", "size"), mean_delta=("delta", "mean"), median_delta=("delta", "median"),
            sd_delta=("delta", "std"), mean_rank_change=("rank_change", lambda x: x.astype("float64").mean()),
            n_grade_up=("grade_steps", lambda x: int((x > 0).sum())),
            n_grade_down=("grade_steps", lambda x: int((x < 0).sum())),
        ).reset_index()
        kw_h = kw_p = eps = np.nan
        if g["inst_type"].nunique() >= 2:
            gd = group_differences(g, "delta", "inst_type")
            kw_h, kw_p, eps = _kw(gd)
        s.insert(0, "evaluation", ev)
        out.append(s.assign(kw_h=kw_h, kw_p=kw_p, epsilon_sq=eps))
    return pd.concat(out, ignore_index=True)


def _kw(gd: pd.DataFrame) -> tuple[float, float, float]:
    """Kruskal–Wallis H, p and epsilon² from :func:`group_differences`' result (same on every row)."""
    row = gd.iloc[0]
    return float(row["H"]), float(row["pval"]), float(row["epsilon2"])


def check_year(kpi_results: pd.DataFrame, year: int, file: str = "kpi_results") -> None:
    """Raise :class:`BSCError` when the data holds no KPI results for ``year`` (scoring it would
    give every unit zero achievement and compare nothing)."""
    years = sorted(pd.to_numeric(kpi_results["year"], errors="coerce").dropna().astype(int).unique().tolist())
    if year not in years:
        shown = ", ".join(map(str, years)) or "none"
        raise BSCError([Problem(file=file, rule="year outside the data", column="year", value=str(year),
                                message=f"no KPI results for {year}; the data holds results for: {shown}")])


def side_by_side(table_a: pd.DataFrame, table_b: pd.DataFrame) -> pd.DataFrame:
    """Two tables of the same shape (e.g. ``discrimination`` of each scheme) stacked with a
    ``scheme`` column ``A``/``B`` first."""
    return pd.concat([table_a.assign(scheme="A"), table_b.assign(scheme="B")], ignore_index=True).pipe(
        lambda d: d[["scheme", *[c for c in d.columns if c != "scheme"]]])


__all__ = ["LEVELS", "check_year", "contributions", "grade_transitions", "side_by_side", "type_shifts", "unit_changes"]
