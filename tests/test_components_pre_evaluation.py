"""Pre-evaluation component and the consulting deduction: hand-calculated cases."""

import pandas as pd
import pytest
from scoring_fixtures import scheme_2019, table, tiny_units, with_knobs

from bsc_lib.config.scheme import RatedItem
from bsc_lib.errors import DataError
from bsc_lib.scoring.components.pre_evaluation import consulting_deductions, score_pre_evaluation

TWO_ITEMS = [RatedItem(id="a", label_ko="가", label_en="A", share=0.5),
             RatedItem(id="b", label_ko="나", label_en="B", share=0.5)]


def rating(unit, rnd, item, rater, score):
    return {"unit_id": unit, "round": rnd, "item": item, "rater_id": rater, "score": score}


# D1: item a first 60, 80 (mean 70), final 90; item b first 50 only
D1_RATINGS = [rating("D1", "first", "a", "R1", 60), rating("D1", "first", "a", "R2", 80),
              rating("D1", "final", "a", "R1", 90), rating("D1", "first", "b", "R1", 50)]


def run(ratings, *, n_depts=1, rounds=("first", "final"), points=20.0, **knobs):
    s = with_knobs(scheme_2019(), "pre_evaluation", items=TWO_ITEMS, **knobs)
    deps, insts = tiny_units(n_depts)
    return score_pre_evaluation(table("pre_eval_ratings", ratings), deps, insts, s.components.pre_evaluation,
                                points=points, rounds=rounds)


def pts(r, unit="D1"):
    return float(r.scores.set_index("unit_id").loc[unit, "points"])


def test_final_replaces_first_per_item():
    # a: final 90 replaces the first round; b: first 50. (0.9 × 0.5 + 0.5 × 0.5) × 20 = 14
    r = run(D1_RATINGS)
    assert pts(r) == pytest.approx(14.0)
    d = r.details.set_index(["unit_id", "item"])
    assert d.loc[("D1", "a"), "round_used"] == "final"
    assert d.loc[("D1", "a"), "value"] == pytest.approx(9.0)


def test_mean_of_rounds():
    # a: (70 + 90)/2 = 80; b: 50 → (0.8 × 0.5 + 0.5 × 0.5) × 20 = 13
    r = run(D1_RATINGS, round_rule="mean")
    assert pts(r) == pytest.approx(13.0)
    used = r.details.set_index(["unit_id", "item"])["round_used"]
    assert (used[("D1", "a")], used[("D1", "b")]) == ("first+final", "first")


def test_first_half_uses_only_the_first_round():
    # a: 70, b: 50 → (0.35 + 0.25) × 20 = 12
    assert pts(run(D1_RATINGS, rounds=("first",))) == pytest.approx(12.0)


def test_missing_item_and_unit_score_zero_with_flags():
    r = run([rating("D1", "first", "a", "R1", 100)], n_depts=2)
    assert pts(r) == pytest.approx(10.0)  # a 1.0 × 0.5 × 20; b missing → 0
    assert pts(r, "D2") == 0.0
    f = r.flags
    assert ((f["unit_id"] == "D1") & (f["item"] == "b") & (f["flag"] == "no_ratings")).any()
    assert ((f["unit_id"] == "D2") & (f["item"] == "") & (f["flag"] == "no_ratings")).any()


def test_scale_is_respected():
    # scale 0–10: a 7.0 → 0.7, b 5 → 0.5: (0.35 + 0.25) × 15 = 9
    from bsc_lib.config.scheme import Scale
    r = run([rating("D1", "first", "a", "R1", 7.0), rating("D1", "first", "b", "R1", 5.0)], points=15.0,
            scale=Scale(min=0, max=10))
    assert pts(r) == pytest.approx(9.0)


def test_out_of_scale_rating_is_a_data_error():
    with pytest.raises(DataError, match="scale"):
        run([rating("D1", "first", "a", "R1", 101)])


@pytest.mark.parametrize(("mode", "expected"), [("departments_mean", 7.0), ("own_ratings_first", 20.0)])
def test_institution_from(mode, expected):
    # D1 14 (as above), D2 0 (no ratings) → mean 7; own ratings of I1: 100/100 → 20
    ratings = D1_RATINGS + [rating("I1", "first", "a", "R1", 100), rating("I1", "first", "b", "R1", 100)]
    r = run(ratings, n_depts=2, institution_from=mode)
    assert pts(r, "I1") == pytest.approx(expected)
    d = r.details
    assert d.loc[d["unit_id"] == "I1", "value"].sum() == pytest.approx(expected)


def test_own_ratings_first_falls_back_to_departments():
    r = run(D1_RATINGS, n_depts=2, institution_from="own_ratings_first")
    assert pts(r, "I1") == pytest.approx(7.0)


def test_consulting_deductions():
    deps = table("departments", [
        {"department_id": "D1", "institution_id": "I1", "name_ko": "a", "consulting_participated": False},
        {"department_id": "D2", "institution_id": "I1", "name_ko": "b", "consulting_participated": True},
        {"department_id": "D3", "institution_id": "I2", "name_ko": "c", "consulting_participated": None},
    ])
    # a nullable column (the loader would reject the blank; the engine must still not crash)
    deps["consulting_participated"] = pd.array([False, True, None], dtype="boolean")
    insts = table("institutions", [{"institution_id": "I1", "name_ko": "x", "inst_type": "main_office"},
                                   {"institution_id": "I2", "name_ko": "y", "inst_type": "main_office"}])
    r = consulting_deductions(deps, insts, scheme_2019().components.pre_evaluation)
    s = r.scores.set_index("unit_id")["points"]
    # D1 no-show → 1.0; D2 0; D3 missing → 0 (flagged); I1 = (1 + 0)/2 = 0.5; I2 = 0
    assert s.to_dict() == {"D1": 1.0, "D2": 0.0, "D3": 0.0, "I1": 0.5, "I2": 0.0}
    assert set(r.flags.loc[r.flags["flag"] == "missing_consulting", "unit_id"]) == {"D3"}
    d = r.details
    assert d.loc[d["unit_id"] == "I1", "value"].sum() == pytest.approx(-0.5)
