"""Qualitative component: rater groups, trimming, standardisation, projects — by hand."""

import math

import pandas as pd
import pytest
from scoring_fixtures import scheme_2019, table, tiny_units, with_knobs

from bsc_lib.config.scheme import RatedItem
from bsc_lib.errors import DataError
from bsc_lib.scoring.components import qualitative
from bsc_lib.scoring.components.qualitative import score_qualitative

TWO_ITEMS = [RatedItem(id="a", label_ko="가", label_en="A", share=0.5),
             RatedItem(id="b", label_ko="나", label_en="B", share=0.5)]
PROJECTS = [
    {"project_id": "P1", "department_id": "D1", "name_ko": "p1", "is_core": True},
    {"project_id": "P2", "department_id": "D1", "name_ko": "p2", "is_core": True},
    {"project_id": "P3", "department_id": "D1", "name_ko": "p3", "is_core": False},
]


def q(project, group, rater, item, score, half="H1"):
    return {"year": 2019, "half": half, "project_id": project, "rater_group": group, "rater_id": rater,
            "item": item, "score": score}


def both(project, group, rater, score, half="H1"):
    return [q(project, group, rater, "a", score, half), q(project, group, rater, "b", score, half)]


# P1 in H1: bureau_self a (80, 60) → 70, b 50; planning_office a 90, b 70; expert a 40, b 60
P1 = [q("P1", "bureau_self", "B1", "a", 80), q("P1", "bureau_self", "B2", "a", 60),
      q("P1", "bureau_self", "B1", "b", 50),
      q("P1", "planning_office", "O1", "a", 90), q("P1", "planning_office", "O1", "b", 70),
      q("P1", "expert", "X1", "a", 40), q("P1", "expert", "X1", "b", 60)]


def run(ratings, *, evaluation="individual", n_depts=1, weights=None, **knobs):
    s = with_knobs(scheme_2019(), "qualitative", items=TWO_ITEMS, **knobs)
    deps, insts = tiny_units(n_depts)
    return score_qualitative(table("qualitative_ratings", ratings), table("projects", PROJECTS), deps, insts,
                             s.components.qualitative, evaluation=evaluation, year=2019,
                             weights=weights or {"H1": 1.0})


def pts(r, unit="D1"):
    return float(r.scores.set_index("unit_id").loc[unit, "points"])


def has_flag(r, flag, item=None, unit="D1"):
    f = r.flags
    m = (f["flag"] == flag) & (f["unit_id"] == unit)
    if item is not None:
        m &= f["item"] == item
    return bool(m.any())


def test_groups_items_and_points_by_evaluation():
    # individual: bureau_self 20 × (0.5·0.7 + 0.5·0.5) = 12; planning 10 × 0.8 = 8; expert 10 × 0.5 = 5 → 25
    r = run(P1)
    assert pts(r) == pytest.approx(25.0)
    # institutional: planning 12.5 × 0.8 = 10; expert 12.5 × 0.5 = 6.25 → 16.25 (bureau_self not used)
    assert pts(run(P1, evaluation="institutional")) == pytest.approx(16.25)
    # P2 (core) has no rating at all: left out of the mean, flagged
    assert has_flag(r, "no_ratings", "P2")
    assert r.details["value"].sum() == pytest.approx(25.0 + 25.0)  # department + its institution


def test_department_mean_over_rated_projects():
    # P2 rated 100 by everyone → 40; D1 = (25 + 40)/2 = 32.5
    p2 = [x for g, rr in (("bureau_self", "B1"), ("planning_office", "O1"), ("expert", "X1"))
          for x in both("P2", g, rr, 100)]
    assert pts(run(P1 + p2)) == pytest.approx(32.5)


def test_group_without_ratings_scores_zero_and_is_flagged():
    r = run([x for x in P1 if x["rater_group"] != "expert"])
    assert pts(r) == pytest.approx(20.0)  # 12 + 8 + 0
    assert has_flag(r, "no_ratings", "P1:expert")


def test_missing_item_within_a_group():
    r = run([x for x in P1 if not (x["rater_group"] == "planning_office" and x["item"] == "b")])
    # planning: 10 × 0.5 × 0.9 = 4.5 → 12 + 4.5 + 5 = 21.5
    assert pts(r) == pytest.approx(21.5)
    assert has_flag(r, "missing_item", "P1:planning_office:b")


@pytest.mark.parametrize(("trim", "min_raters", "expected"), [
    (True, 5, 6.0),    # 5 raters ≥ 5: drop 10 and 100 → (50 + 60 + 70)/3 = 60 → 10 × 0.6
    (True, 6, 5.8),    # fewer raters than trim_min_raters: mean 290/5 = 58
    (False, 5, 5.8),
])
def test_trim_extremes(trim, min_raters, expected):
    ratings = [x for i, s in enumerate([10, 50, 60, 70, 100]) for x in both("P1", "expert", f"X{i}", s)]
    r = run(ratings, trim_extremes=trim, trim_min_raters=min_raters)
    assert pts(r) == pytest.approx(expected)
    n_used = r.details.loc[(r.details["unit_id"] == "D1") & (r.details["rater_group"] == "expert"), "n_used"]
    assert (n_used == (3 if expected == 6.0 else 5)).all()


def test_standardise_raters():
    # planning office, H1: rater A gives P1 60, P2 80; rater B P1 70, P2 90 (both items).
    # A: mean 70, sd 10; B: mean 80, sd 10; group: mean 75, sd √125 = 11.1803.
    # z = −1 for P1, +1 for P2 for both raters → P1 75 − 11.1803 = 63.8197, P2 86.1803.
    ratings = both("P1", "planning_office", "A", 60) + both("P2", "planning_office", "A", 80) \
        + both("P1", "planning_office", "B", 70) + both("P2", "planning_office", "B", 90)
    r = run(ratings, evaluation="institutional", standardise_raters=True)
    d = r.details.loc[(r.details["unit_id"] == "D1") & (r.details["rated_item"] == "a")
                      & (r.details["rater_group"] == "planning_office")].set_index("project_id")
    assert d.loc["P1", "rating_mean"] == pytest.approx(75 - math.sqrt(125))
    assert d.loc["P2", "rating_mean"] == pytest.approx(75 + math.sqrt(125))
    # the department: planning 12.5 × mean(0.638197, 0.861803) = 12.5 × 0.75 = 9.375 (expert 0)
    assert pts(r) == pytest.approx(9.375)
    plain = run(ratings, evaluation="institutional")
    pl = plain.details.loc[(plain.details["unit_id"] == "D1") & (plain.details["rated_item"] == "a")
                           & (plain.details["rater_group"] == "planning_office")]
    assert sorted(pl["rating_mean"]) == [65.0, 85.0]


def test_projects_core_or_all():
    p3 = [x for g, rr in (("bureau_self", "B1"), ("planning_office", "O1"), ("expert", "X1"))
          for x in both("P3", g, rr, 100)]
    r_core = run(P1 + p3)
    assert pts(r_core) == pytest.approx(25.0)
    assert has_flag(r_core, "not_in_scope", "P3")
    assert pts(run(P1 + p3, projects="all")) == pytest.approx(32.5)  # (25 + 40)/2


def test_halves_and_institution_mean():
    h2 = [x for g, rr in (("bureau_self", "B1"), ("planning_office", "O1"), ("expert", "X1"))
          for x in both("P1", g, rr, 100, half="H2")]
    r = run(P1 + h2, n_depts=2, weights={"H1": 0.5, "H2": 0.5})
    # D1: 0.5 × 25 + 0.5 × 40 = 32.5; D2 has no project → 0 (flagged); I1 = (32.5 + 0)/2
    assert pts(r) == pytest.approx(32.5)
    assert pts(r, "D2") == 0.0
    assert has_flag(r, "no_ratings", unit="D2")
    assert pts(r, "I1") == pytest.approx(16.25)
    d = r.details
    assert d.loc[d["unit_id"] == "I1", "value"].sum() == pytest.approx(16.25)


def test_out_of_scale_is_a_data_error():
    with pytest.raises(DataError):
        run([q("P1", "expert", "X1", "a", 120)])


@pytest.mark.parametrize("evaluation", ["individual", "institutional"])
def test_aggregates_found_by_table_or_by_search_alike(monkeypatch, evaluation):
    # PreparedRatings.find looks keys up through a table (small key spaces) or by binary search
    # (large ones): the same rows, so the same scores, flags and details
    ratings = P1 + [q("P3", "expert", "X1", "a", 70), q("P9", "expert", "X1", "a", 10),
                    q("P2", "planning_office", "O1", "c", 50, half="H2")] + both("P2", "expert", "X2", 30, half="H2")
    kw = {"evaluation": evaluation, "weights": {"H1": 0.5, "H2": 0.5}}
    by_table = run(ratings, **kw)
    monkeypatch.setattr(qualitative, "LUT_MAX", 0)
    by_search = run(ratings, **kw)
    for a, b in ((by_table.scores, by_search.scores), (by_table.flags, by_search.flags),
                 (by_table.details, by_search.details)):
        pd.testing.assert_frame_equal(a, b)
