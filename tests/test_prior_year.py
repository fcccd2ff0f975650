"""Prior-year comparison: rank changes, grade transitions, KPI trend (hand-calculated cases)."""

import pandas as pd
import pytest

from bsc_lib.analyses import prior_year as Y

GRADES = ["S", "A", "B", "C"]


def _current():
    return pd.DataFrame({"unit_id": ["U1", "U2", "U3", "U4"], "group": ["x", "x", "x", "y"],
                         "total": [90.0, 85.0, 80.0, 70.0], "rank": [1, 2, 3, 1], "grade": ["S", "A", "B", "C"]})


def test_prior_rows_pick_last_year():
    p = pd.DataFrame({"year": [2017, 2018], "unit_id": ["U1", "U1"], "total": [1.0, 2.0], "grade": ["C", "B"]})
    assert Y.prior_rows(p, 2019)["total"].tolist() == [2.0]


def test_unit_changes_ranks_among_common_units_and_grade_steps():
    prior = pd.DataFrame({"unit_id": ["U1", "U2", "U4"], "total": [80.0, 88.0, 75.0], "grade": ["A", "S", "C"]})
    ch = Y.unit_changes(_current(), prior, GRADES).set_index("unit_id")
    # U1 and U2 swap places in group x (U3 is new and not ranked against last year)
    assert ch.loc["U1", "rank_prior"] == 2 and ch.loc["U1", "rank_change"] == 1
    assert ch.loc["U2", "rank_change"] == -1
    assert ch.loc["U1", "grade_steps"] == 1 and ch.loc["U1", "movement"] == "up"
    assert ch.loc["U2", "movement"] == "down"
    assert ch.loc["U4", "movement"] == "same" and ch.loc["U4", "total_change"] == pytest.approx(-5.0)
    assert ch.loc["U3", "movement"] == "new" and pd.isna(ch.loc["U3", "rank_prior"])


def test_unit_changes_empty_without_prior():
    assert Y.unit_changes(_current(), Y.prior_rows(pd.DataFrame(), 2019), GRADES).empty


def test_grade_transitions_full_matrix_with_new_row():
    prior = pd.DataFrame({"unit_id": ["U1", "U2", "U4"], "total": [80.0, 88.0, 75.0], "grade": ["A", "S", "C"]})
    t = Y.grade_transitions(Y.unit_changes(_current(), prior, GRADES), GRADES)
    assert len(t) == 5 * 4
    cell = t.set_index(["grade_prior", "grade"])["n"]
    assert cell[("A", "S")] == 1 and cell[("S", "A")] == 1 and cell[("new", "B")] == 1 and cell[("C", "C")] == 1
    assert t["n"].sum() == 4


def test_kpi_trend_polarity_and_band():
    kpis = pd.DataFrame({"kpi_id": ["up", "down", "band", "none", "miss"], "polarity": ["up", "down", "band", "up", "up"],
                         "band_low": [None, None, 10.0, None, None], "band_high": [None, None, 20.0, None, None]})
    hist = pd.DataFrame({"kpi_id": ["up", "down", "band", "miss", "up"], "year": [2018, 2018, 2018, 2018, 2017],
                         "actual": [100.0, 10.0, 25.0, 5.0, 1.0]})
    period = pd.DataFrame({"kpi_id": ["up", "down", "band", "none", "miss"], "actual": [110.0, 12.0, 22.0, 3.0, None]})
    t = Y.kpi_trend(period, hist, kpis, 2019).set_index("kpi_id")
    assert t["direction"].to_dict() == {"up": "improved", "down": "declined", "band": "improved",
                                        "none": "no_prior", "miss": "no_actual"}
    assert t.loc["up", "change_pct"] == pytest.approx(0.1)
