"""Executive-summary findings: grade counts, top/bottom, close calls (constructed cases)."""

import pandas as pd
import pytest

from bsc_lib.analyses import summary as S
from bsc_lib.analyses.robustness import grade_boundaries

GRADES = ["S", "A", "B", "C"]


def _units():
    # group x: 4 units, grades S A B C by forced distribution; 0.05 and 0.5 point gaps
    return pd.DataFrame({"unit_id": ["U1", "U2", "U3", "U4", "V1", "V2"],
                         "inst_type": ["x", "x", "x", "x", "y", "y"],
                         "total": [90.0, 89.95, 85.0, 80.0, 70.0, 60.0], "rank": [1, 2, 3, 4, 1, 2],
                         "grade": ["S", "A", "B", "C", "A", "B"],
                         "deductions": [0.0, 0.0, 5.0, 0.0, 0.0, 0.0]})


def _bounds(u):
    return grade_boundaries(u.rename(columns={"inst_type": "group"})[["unit_id", "group", "total", "grade"]], GRADES)


def test_grade_counts_zero_filled_with_total():
    g = S.grade_counts(_units(), GRADES).set_index("group")
    assert g.loc["x", ["S", "A", "B", "C", "n"]].tolist() == [1, 1, 1, 1, 4]
    assert g.loc["y", "S"] == 0 and g.loc["total", "n"] == 6


def test_top_bottom_small_groups_list_each_unit_once():
    t = S.top_bottom(_units(), n=3)
    x = t[t["group"] == "x"]
    assert x.loc[x["position"] == "top", "unit_id"].tolist() == ["U1", "U2"]
    assert x.loc[x["position"] == "bottom", "unit_id"].tolist() == ["U4", "U3"]
    assert t["unit_id"].is_unique


def test_close_calls_name_each_constructed_case():
    u = _units()
    cc = S.close_calls(u, _bounds(u), margin=0.1)
    got = {(r.unit_id, r.kind): r for r in cc.itertuples()}
    # U2 missed S by 0.05 behind U1; U1 kept S by 0.05 over U2
    assert got[("U2", "near_better")].margin == pytest.approx(0.05)
    assert got[("U2", "near_better")].neighbour_id == "U1"
    assert got[("U1", "near_worse")].other_grade == "A"
    # U3 is 4.95 below A but lost 5 points to a deduction: decided by the deduction
    assert got[("U3", "deduction")].other_grade == "A"
    assert got[("U3", "deduction")].margin == pytest.approx(4.95)
    assert set(cc["unit_id"]) == {"U1", "U2", "U3"}


def test_close_call_margin_is_a_parameter():
    u = _units()
    assert "V1" in set(S.close_calls(u, _bounds(u), margin=20.0)["unit_id"])
    assert S.close_calls(u.assign(deductions=0.0), _bounds(u), margin=0.01).empty


def test_weak_components():
    eff = pd.DataFrame({"evaluation": ["i", "i"], "component": ["a", "b"], "nominal_points": [50.0, 50.0],
                        "nominal_share": [0.5, 0.5], "effective_share": [0.9, 0.1], "ratio": [1.8, 0.2]})
    assert S.weak_components(eff, 0.5)["component"].tolist() == ["b"]


def test_near_ties_within_groups_with_enough_decimals():
    # hand-made: A/B 0.001 apart (print 78.79 both), C alone in its group, D/E 0.004 apart and
    # printing differently (82.97 / 82.98) — near at 0.01; F 1 point from E — not near.
    t = pd.Series([78.7876, 78.7886, 78.7881, 82.9720, 82.9760, 83.9760], index=list("ABCDEF"))
    g = pd.Series(["m", "m", "b", "m", "m", "m"], index=list("ABCDEF"))
    nt = S.near_ties(t, g)
    assert list(nt["near_tie"]) == [True, True, False, True, True, False]
    assert nt.loc["A", "gap"] == pytest.approx(0.001) and nt.loc["A", "neighbour"] == 78.7886
    assert nt.loc["A", "digits"] == 3 and nt.loc["D", "digits"] == 3  # 78.788 / 78.789
    assert pd.isna(nt.loc["C", "gap"])
    exact = S.near_ties(pd.Series([70.0, 70.0, 60.0]))
    assert list(exact["near_tie"]) == [True, True, False] and list(exact["digits"][:2]) == [2, 2]


def test_near_tie_tolerance_is_a_parameter_and_printing_the_same_always_counts():
    t = pd.Series([78.7876, 78.7886, 82.9720, 82.9760, 83.9760], index=list("ABDEF"))
    assert list(S.near_ties(t, tolerance=1.5)["near_tie"]) == [True, True, True, True, True]
    # tolerance 0: only totals that print the same at 2 decimals (A/B: 78.79) are near-ties
    assert list(S.near_ties(t, tolerance=0.0)["near_tie"]) == [True, True, False, False, False]
    # printed with 3 decimals A/B differ (78.788 / 78.789): no longer the same on paper
    assert not S.near_ties(t, tolerance=0.0, print_decimals=3)["near_tie"].any()
