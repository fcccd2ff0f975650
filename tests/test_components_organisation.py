"""Organisation management: overtime reduction and leave days on the scheme's curves."""

import numpy as np
import pandas as pd
import pytest
from scoring_fixtures import scheme_2019, table, with_knobs

from bsc_lib.scoring.components.organisation import curve_points, score_organisation

PEOPLE = [{"person_id": p, "grade": "4급", "unit_id": "D1", "role": "department_head"}
          for p in ("P1", "P2", "P3", "P4", "P5")]


def org(person, year, hours, leave):
    return {"person_id": person, "year": year, "avg_overtime_hours": hours, "avg_leave_days": leave}


# overtime reduction 2018 → 2019: P1 20 → 15 (5), P2 10 → 7 (3), P3 12 → 9 (3), P4 8 → 9 (−1);
# leave 2019: P1 10, P2 12, P3 8, P4 12. P5 has no data.
ROWS = [org("P1", 2018, 20, 9), org("P1", 2019, 15, 10), org("P2", 2018, 10, 9), org("P2", 2019, 7, 12),
        org("P3", 2018, 12, 9), org("P3", 2019, 9, 8), org("P4", 2018, 8, 9), org("P4", 2019, 9, 12)]


def run(rows=ROWS, **knobs):
    s = with_knobs(scheme_2019(), "organisation", **knobs)
    return score_organisation(table("org_management", rows), table("people", PEOPLE), s.components.organisation,
                              points=5.0, year=2019)


def detail(r, person, item):
    d = r.details
    return float(d.loc[(d["unit_id"] == person) & (d["item"] == item), "value"].iloc[0])


def test_percentile_linear_with_average_ranks():
    r = run()
    # overtime: values 5, 3, 3, −1 → ranks 4, 2.5, 2.5, 1 → (rank − 1)/3 × 2.5
    assert detail(r, "P1", "overtime_reduction") == pytest.approx(2.5)
    assert detail(r, "P2", "overtime_reduction") == pytest.approx(1.5 / 3 * 2.5)
    assert detail(r, "P3", "overtime_reduction") == pytest.approx(1.25)
    assert detail(r, "P4", "overtime_reduction") == 0.0
    # leave: 10, 12, 8, 12 → ranks 2, 3.5, 1, 3.5 → P1 1/3 × 2.5, P2 2.5 × 2.5/3, P3 0
    assert detail(r, "P1", "leave_days") == pytest.approx(2.5 / 3)
    assert detail(r, "P2", "leave_days") == pytest.approx(2.5 * 2.5 / 3)
    s = r.scores.set_index("unit_id")["points"]
    assert s["P1"] == pytest.approx(2.5 + 2.5 / 3)
    # P5 without data: 0 and two flags
    assert s["P5"] == 0.0
    assert set(r.flags.loc[r.flags["unit_id"] == "P5", "item"]) == {"overtime_reduction", "leave_days"}


def test_minmax_linear():
    r = run(curve="minmax_linear")
    # overtime: (x − (−1))/(5 − (−1)) × 2.5 → P1 2.5, P2 4/6 × 2.5, P4 0
    assert detail(r, "P2", "overtime_reduction") == pytest.approx(4 / 6 * 2.5)
    assert detail(r, "P4", "overtime_reduction") == 0.0


def test_curve_points_reverse_single_and_constant():
    x = pd.Series([1.0, 2.0, 4.0, np.nan])
    # lower is better: minmax (4 − x)/3 × 3 → 3, 2, 0, NaN
    got = curve_points(x, "minmax_linear", 3.0, higher_is_better=False)
    assert got.iloc[:3].tolist() == pytest.approx([3.0, 2.0, 0.0])
    assert np.isnan(got.iloc[3])
    # a single manager gets the full points; all equal → full points
    assert curve_points(pd.Series([7.0]), "percentile_linear", 2.0).tolist() == [2.0]
    assert curve_points(pd.Series([7.0, 7.0]), "minmax_linear", 2.0).tolist() == [2.0, 2.0]
    # percentile ties: average rank 1.5 for both → (1.5 − 1)/1 × 2 = 1
    assert curve_points(pd.Series([7.0, 7.0]), "percentile_linear", 2.0).tolist() == [1.0, 1.0]
