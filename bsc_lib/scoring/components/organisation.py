"""Organisation management (조직관리, individual evaluation only): overtime and leave.

Raw values per person (from ``org_management``):

* ``overtime_reduction`` = ``avg_overtime_hours(year − 1) − avg_overtime_hours(year)``, an
  absolute reduction in hours (chosen over a relative one: it is defined when last year's value
  is 0 and does not reward units that start from very little overtime);
* ``leave_days`` = ``avg_leave_days(year)``.

``higher_is_better: false`` reverses a sub-item. Curves over the evaluated managers (the people
table) with a value:

* ``percentile_linear``: rank with average ranks for ties, the worst rank 1 and the best ``n``;
  ``(rank − 1)/(n − 1) × sub-item points`` (``n = 1`` → full points);
* ``minmax_linear``: ``(x − min)/(max − min) × sub-item points`` (all equal → full points).

A person without the needed data gets 0 for the sub-item (flag ``missing_data``). The
component is yearly: the same value is used for ``half`` H1, H2 and the year.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bsc_lib.config.scheme import Organisation
from bsc_lib.scoring.components import (
    Component,
    ComponentResult,
    ScoringInput,
    concat_flags,
    ids,
    make_flags,
    map_float,
    num,
    register,
)

COMPONENT = "organisation"


def curve_points(values: pd.Series, curve: str, points: float, higher_is_better: bool = True) -> pd.Series:
    """Map raw values to ``[0, points]`` by the scheme's curve; NaN stays NaN.

    Parameters
    ----------
    values
        Raw values (NaN = missing, not ranked).
    curve
        ``percentile_linear`` or ``minmax_linear``.
    points
        Points of the best value.
    higher_is_better
        ``False`` reverses the direction.

    Returns
    -------
    pandas.Series
        Points, aligned to ``values``.
    """
    g = values.astype(float) if higher_is_better else -values.astype(float)
    n = int(g.notna().sum())
    if curve == "percentile_linear":
        rank = g.rank(method="average", ascending=True)
        out = (rank - 1) / (n - 1) * points if n > 1 else pd.Series(np.where(g.notna(), points, np.nan), index=g.index)
    elif curve == "minmax_linear":
        lo, hi = g.min(), g.max()
        out = (g - lo) / (hi - lo) * points if n > 0 and hi > lo else pd.Series(
            np.where(g.notna(), points, np.nan), index=g.index)
    else:
        raise ValueError(f"unknown organisation curve {curve!r}")
    return out.astype(float)


def score_organisation(org_management: pd.DataFrame, people: pd.DataFrame, params: Organisation, *,
                       points: float, year: int) -> ComponentResult:
    """Organisation-management points of every person.

    Parameters
    ----------
    org_management, people
        Canonical input tables.
    params
        ``scheme.components.organisation``.
    points
        The component's points in the individual evaluation.
    year
        Evaluation year (the overtime reduction compares with ``year − 1``).

    Returns
    -------
    ComponentResult
        ``scores`` at ``unit_level == "person"``; ``details``: one row per person and sub-item
        with ``raw_value`` and ``share``.
    """
    pid = ids(people["person_id"]).drop_duplicates().reset_index(drop=True)
    o = pd.DataFrame({"person_id": ids(org_management["person_id"]), "year": num(org_management["year"]),
                      "hours": num(org_management["avg_overtime_hours"]),
                      "leave": num(org_management["avg_leave_days"])})
    this = o.loc[o["year"] == year].drop_duplicates("person_id").set_index("person_id")
    prev = o.loc[o["year"] == year - 1].drop_duplicates("person_id").set_index("person_id")
    raw = {
        "overtime_reduction": map_float(pid, prev["hours"]) - map_float(pid, this["hours"]),
        "leave_days": map_float(pid, this["leave"]),
    }
    frames, flags = [], []
    for sub in params.sub_items:  # loop over the scheme's sub-items, not data rows
        sub_pts = float(points) * float(sub.points_share)
        x = raw[sub.id]
        val = curve_points(x, params.curve, sub_pts, sub.higher_is_better)
        frames.append(pd.DataFrame({
            "unit_id": pid, "unit_level": "person", "item": sub.id, "half": "", "source_id": "",
            "value": val.fillna(0.0), "raw_value": x, "share": float(sub.points_share),
        }))
        miss = pid[x.isna()]
        flags.append(make_flags(miss.to_numpy(), COMPONENT, "missing_data", item=sub.id,
                                detail=f"no data for {sub.id} ({year} / {year - 1}): 0 for the sub-item"))
    details = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["unit_id", "unit_level", "item", "half", "source_id", "value"])
    tot = details.groupby("unit_id", sort=False)["value"].sum()
    scores = pd.DataFrame({"unit_id": pid, "unit_level": "person",
                           "points": map_float(pid, tot).fillna(0.0), "max_points": float(points)})
    return ComponentResult(COMPONENT, scores, details, concat_flags(flags))


def _score_for_engine(inp: ScoringInput, prepared, evaluation: str, points: float) -> ComponentResult:
    return score_organisation(inp.tables["org_management"], inp.tables["people"], inp.scheme.components.organisation,
                              points=points, year=inp.year)


register(Component("organisation", score=_score_for_engine, evaluations=("individual",),
                   scope="organisation management is scored for people only"))
