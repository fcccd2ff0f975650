"""Integrity index (청렴지수평가제) per department — reported, not added to the totals.

Each component of ``integrity_index.components`` is normalised to 0–100
(``range_0_100``: the value as is, clipped to 0–100; ``minmax``: rescaled over the departments
of the year, all equal → 100 for all); ``direction: down`` reverses it (``100 − x``). The index
is the weighted mean of the normalised components minus ``misconduct_deduction_per_case ×
misconduct_count``, floored at 0. A department without integrity data has a NaN index (flag
``no_data``). The old ACRC-derived score (``acrc_score``) is carried along for comparison.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bsc_lib.config.scheme import IntegrityIndex
from bsc_lib.scoring.components import (
    ComponentResult,
    check_unique,
    concat_flags,
    ids,
    make_flags,
    map_float,
    num,
)

COMPONENT = "integrity"


def integrity_index(integrity: pd.DataFrame, departments: pd.DataFrame, params: IntegrityIndex, *,
                    year: int) -> ComponentResult:
    """The integrity index of every department.

    Parameters
    ----------
    integrity, departments
        Canonical input tables.
    params
        ``scheme.integrity_index``.
    year
        The year of the integrity data used.

    Returns
    -------
    ComponentResult
        ``tables["integrity"]``: one row per department with ``department_id``, one column per
        normalised component (named by its id), ``misconduct_count``, ``misconduct_deduction``,
        ``index`` (0–100) and ``acrc_score``; ``scores.points`` is the index.
    """
    dept = ids(departments["department_id"]).drop_duplicates().reset_index(drop=True)
    g = integrity.loc[num(integrity["year"]) == year]
    g = g.assign(department_id=ids(g["department_id"]))
    check_unique(g, ["department_id"], "integrity")
    g = g.set_index("department_id")
    out = pd.DataFrame({"department_id": dept})
    wsum = float(sum(c.weight for c in params.components))
    acc = pd.Series(0.0, index=out.index)
    for c in params.components:  # loop over the scheme's components, not data rows
        x = map_float(dept, num(g[c.id]))
        if params.normalisation == "minmax":
            lo, hi = x.min(), x.max()
            x = (x - lo) / (hi - lo) * 100.0 if hi > lo else pd.Series(np.where(x.notna(), 100.0, np.nan))
        else:
            x = x.clip(0.0, 100.0)
        if c.direction == "down":
            x = 100.0 - x
        out[c.id] = x
        acc = acc + x * float(c.weight)
    count = map_float(dept, num(g["misconduct_count"]))
    out["misconduct_count"] = count
    out["misconduct_deduction"] = count * float(params.misconduct_deduction_per_case)
    index = acc / wsum - out["misconduct_deduction"]
    out["index"] = index.clip(lower=0.0)
    out["acrc_score"] = map_float(dept, num(g["acrc_score"])) if "acrc_score" in g else np.nan
    missing = out["index"].isna()
    flags = concat_flags([make_flags(dept[missing].to_numpy(), COMPONENT, "no_data",
                                     detail=f"no complete integrity data for {year}: index NaN")])
    scores = pd.DataFrame({"unit_id": dept, "unit_level": "department", "points": out["index"], "max_points": 100.0})
    details = pd.DataFrame(columns=["unit_id", "unit_level", "item", "half", "source_id", "value"])
    return ComponentResult(COMPONENT, scores, details, flags, tables={"integrity": out})
