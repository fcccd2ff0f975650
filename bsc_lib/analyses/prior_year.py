"""Last year: grade transitions, rank changes and the KPI trend against the prior year.

Reads the optional ``prior_results`` input table (last year's total and grade per unit) and
the KPI history. Without prior results the tables are empty and the report says so.

* :func:`unit_changes` — every unit's total, rank and grade now and in the prior year, the
  change of each and a movement code (``up``/``down``/``same`` grade, ``new`` without a prior row);
* :func:`grade_transitions` — the prior-grade × grade matrix (long form, every cell present);
* :func:`kpi_trend` — each KPI's actual of the period against last year's actual, signed by
  polarity (``improved``/``declined``/``unchanged``; ``no_prior``/``no_actual`` when a value is missing).

Ranks of the prior year are recomputed from the prior totals within the same groups as this
year's ranks (competition ranks, :func:`bsc_lib.scoring.grading.rank_min`), so the rank change is
``rank_prior − rank`` (positive = moved up) among the units present in both years.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from bsc_lib.data.model import plain_text
from bsc_lib.scoring.grading import rank_min

#: Movement codes of :func:`unit_changes` (grade compared with the prior year).
MOVEMENTS = ("up", "same", "down", "new")
#: Direction codes of :func:`kpi_trend`.
DIRECTIONS = ("improved", "unchanged", "declined", "no_prior", "no_actual")


def prior_rows(prior_results: pd.DataFrame, year: int) -> pd.DataFrame:
    """The rows of ``prior_results`` for ``year − 1`` (``unit_id``, ``total``, ``grade``)."""
    if prior_results is None or prior_results.empty:
        return pd.DataFrame({"unit_id": pd.Series(dtype=str), "total": pd.Series(dtype=float),
                             "grade": pd.Series(dtype=str)})
    p = prior_results[prior_results["year"] == year - 1]
    return plain_text(p[["unit_id", "total", "grade"]].reset_index(drop=True))


def unit_changes(current: pd.DataFrame, prior: pd.DataFrame, grades: Sequence[str]) -> pd.DataFrame:
    """Totals, ranks and grades of this year against the prior year, per unit.

    Parameters
    ----------
    current
        This year's units: ``unit_id``, ``group`` (ranking group, e.g. institution type or
        ``"all"``), ``total``, ``rank`` (within the group), ``grade``.
    prior
        :func:`prior_rows` (``unit_id``, ``total``, ``grade``).
    grades
        The scheme's grades, best first (orders grade steps).

    Returns
    -------
    pandas.DataFrame
        One row per current unit in the order of ``current``: ``unit_id``, ``group``,
        ``total``, ``rank``, ``grade``, ``total_prior``, ``rank_prior`` (``Int64``, among the
        units of the group present in both years), ``grade_prior``, ``total_change``,
        ``rank_change`` (``rank_prior − rank`` with this year's rank among the same units;
        positive = moved up), ``grade_steps`` (positive = better grade), ``movement``
        (:data:`MOVEMENTS`). Empty frame with these columns when ``prior`` is empty.
    """
    cols = ["unit_id", "group", "total", "rank", "grade", "total_prior", "rank_prior", "grade_prior",
            "total_change", "rank_change", "grade_steps", "movement"]
    if prior.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    current, prior = plain_text(current), plain_text(prior)
    out = current[["unit_id", "group", "total", "rank", "grade"]].reset_index(drop=True).copy()
    p = prior.drop_duplicates("unit_id").set_index("unit_id")
    out["total_prior"] = out["unit_id"].map(p["total"]).astype(float)
    out["grade_prior"] = out["unit_id"].map(p["grade"])
    both = out["total_prior"].notna() & out["total"].notna()
    rp = pd.Series(pd.NA, index=out.index, dtype="Int64")
    rn = pd.Series(pd.NA, index=out.index, dtype="Int64")
    if both.any():
        sub = out[both]
        rp[both] = rank_min(sub["total_prior"], sub["group"]).astype("Int64")
        rn[both] = rank_min(sub["total"], sub["group"]).astype("Int64")
    out["rank_prior"] = rp
    out["total_change"] = out["total"] - out["total_prior"]
    out["rank_change"] = (rp - rn).astype("Int64")
    pos = {g: i for i, g in enumerate(grades)}
    now = out["grade"].map(pos)
    before = out["grade_prior"].map(pos)
    steps = (before - now)
    out["grade_steps"] = steps.astype("Int64") if steps.notna().any() else pd.Series(pd.NA, index=out.index,
                                                                                    dtype="Int64")
    mv = np.where(out["grade_prior"].isna(), "new",
                  np.where(steps > 0, "up", np.where(steps < 0, "down", "same")))
    out["movement"] = pd.Series(mv, index=out.index, dtype="str")
    out["rank"] = out["rank"].astype("Int64")
    return out[cols]


def grade_transitions(changes: pd.DataFrame, grades: Sequence[str], new_label: str = "new") -> pd.DataFrame:
    """The prior-grade × grade matrix of :func:`unit_changes`, long form.

    Returns
    -------
    pandas.DataFrame
        ``grade_prior``, ``grade``, ``n`` (units), ``share`` (of the units with that prior
        grade): every combination of ``grades`` (best first, prior grade outer), plus rows with
        ``grade_prior == new_label`` when some units have no prior grade. Empty when
        ``changes`` is empty.
    """
    cols = ["grade_prior", "grade", "n", "share"]
    if changes.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    prior = changes["grade_prior"].fillna(new_label)
    counts = pd.crosstab(prior, changes["grade"])
    rows_order = list(grades) + ([new_label] if (prior == new_label).any() else [])
    counts = counts.reindex(index=rows_order, columns=list(grades), fill_value=0)
    long = counts.stack().rename("n").reset_index()
    long.columns = ["grade_prior", "grade", "n"]
    tot = long.groupby("grade_prior", sort=False)["n"].transform("sum")
    long["share"] = (long["n"] / tot).where(tot > 0)
    long["n"] = long["n"].astype(int)
    return long[cols]


def kpi_trend(kpi_period: pd.DataFrame, kpi_history: pd.DataFrame, kpis: pd.DataFrame, year: int,
              tolerance: float = 1e-9) -> pd.DataFrame:
    """Each KPI's actual of the period against last year's actual, polarity-signed.

    Parameters
    ----------
    kpi_period
        One row per KPI with the period's ``actual`` (``kpi_id``, ``actual``).
    kpi_history
        ``kpi_history`` (``kpi_id``, ``year``, ``actual``); the row of ``year − 1`` is last year.
    kpis
        ``kpis`` (``kpi_id``, ``polarity``, ``band_low``, ``band_high``).
    year
        The evaluation year.
    tolerance
        Relative change treated as unchanged.

    Returns
    -------
    pandas.DataFrame
        One row per KPI of ``kpis``: ``kpi_id``, ``polarity``, ``actual_prior``, ``actual``,
        ``change`` (``actual − actual_prior``), ``change_pct`` (relative to ``|actual_prior|``;
        NaN for a prior of 0), ``direction`` (:data:`DIRECTIONS`: better/worse in the KPI's
        direction; band KPIs by the distance to the band).
    """
    h = kpi_history[kpi_history["year"] == year - 1].drop_duplicates("kpi_id").set_index("kpi_id")["actual"]
    a = kpi_period.drop_duplicates("kpi_id").set_index("kpi_id")["actual"]
    k = kpis[["kpi_id", "polarity"]].copy()
    k["actual_prior"] = k["kpi_id"].map(h).astype(float)
    k["actual"] = k["kpi_id"].map(a).astype(float)
    k["change"] = k["actual"] - k["actual_prior"]
    k["change_pct"] = (k["change"] / k["actual_prior"].abs()).where(k["actual_prior"].abs() > 0)
    lo = kpis["band_low"].astype(float).to_numpy() if "band_low" in kpis else np.full(len(k), np.nan)
    hi = kpis["band_high"].astype(float).to_numpy() if "band_high" in kpis else np.full(len(k), np.nan)

    def dist(x: np.ndarray) -> np.ndarray:
        return np.maximum(0.0, np.nan_to_num(lo, nan=-np.inf) - x) + np.maximum(0.0, x - np.nan_to_num(hi, nan=np.inf))

    pol = k["polarity"].to_numpy()
    prior, now = k["actual_prior"].to_numpy(), k["actual"].to_numpy()
    with np.errstate(invalid="ignore"):
        better = np.where(pol == "down", prior - now, np.where(pol == "band", dist(prior) - dist(now), now - prior))
    scale = np.maximum(np.abs(prior), 1.0)
    d = np.where(np.isnan(now), "no_actual", np.where(np.isnan(prior), "no_prior",
                 np.where(better > tolerance * scale, "improved",
                          np.where(better < -tolerance * scale, "declined", "unchanged"))))
    k["direction"] = pd.Series(d, index=k.index, dtype="str")
    return k[["kpi_id", "polarity", "actual_prior", "actual", "change", "change_pct", "direction"]].reset_index(drop=True)


__all__ = ["DIRECTIONS", "MOVEMENTS", "grade_transitions", "kpi_trend", "prior_rows", "unit_changes"]
