"""Evaluator score: mean over evaluators, rescaled, halves combined — by hand."""

import pytest
from scoring_fixtures import scheme_2019, table, tiny_units

from bsc_lib.config.scheme import EvaluatorComponent, Scale
from bsc_lib.errors import DataError
from bsc_lib.scoring.components.evaluator import score_evaluator


def ev(unit, half, evaluator, score):
    return {"year": 2019, "half": half, "unit_id": unit, "evaluator_id": evaluator, "score": score}


def run(rows, params=None, points=10.0, weights=None):
    deps, insts = tiny_units(2)
    return score_evaluator(table("evaluator_scores", rows), deps, insts, params or scheme_2019().components.evaluator,
                           points=points, year=2019, weights=weights or {"H1": 0.5, "H2": 0.5})


def test_mean_rescaled_and_halves_combined():
    # D1: H1 (70 + 90)/2 = 80 → 8 of 10; H2 60 → 6; year 0.5 × 8 + 0.5 × 6 = 7
    r = run([ev("D1", "H1", "E1", 70), ev("D1", "H1", "E2", 90), ev("D1", "H2", "E1", 60)])
    s = r.scores.set_index("unit_id")["points"]
    assert s["D1"] == pytest.approx(7.0)
    # D2 and I1 without scores: 0 and one flag per half
    assert s["D2"] == 0.0 and s["I1"] == 0.0
    f = r.flags
    assert len(f.loc[(f["unit_id"] == "D2") & (f["flag"] == "no_ratings")]) == 2


def test_missing_half_counts_zero_without_reweighting():
    r = run([ev("D1", "H1", "E1", 80)])
    assert r.scores.set_index("unit_id").loc["D1", "points"] == pytest.approx(4.0)  # 0.5 × 8 + 0.5 × 0


def test_other_scale():
    # scale 1–10, score 5.5 → (5.5 − 1)/9 = 0.5 → 15 × 0.5 = 7.5
    p = EvaluatorComponent(label_ko="x", label_en="x", scale=Scale(min=1, max=10))
    r = run([ev("I1", "H2", "E1", 5.5)], params=p, points=15.0, weights={"H2": 1.0})
    assert r.scores.set_index("unit_id").loc["I1", "points"] == pytest.approx(7.5)


def test_out_of_scale_is_a_data_error():
    with pytest.raises(DataError):
        run([ev("D1", "H1", "E1", -1)])
