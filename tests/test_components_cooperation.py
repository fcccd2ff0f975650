"""Cooperation: item points summed per half, combined; defensive errors."""

import pytest
from scoring_fixtures import scheme_2019, table, with_knobs

from bsc_lib.errors import DataError
from bsc_lib.scoring.components.cooperation import score_cooperation

INSTS = [{"institution_id": "I1", "name_ko": "a", "inst_type": "main_office"},
         {"institution_id": "I2", "name_ko": "b", "inst_type": "main_office"}]
ITEMS = [(i.id, i.points) for i in scheme_2019().components.cooperation.items]


def co(inst, half, item, score):
    return {"year": 2019, "half": half, "institution_id": inst, "item": item, "score": score}


def full(inst, half, frac):
    return [co(inst, half, it, p * frac) for it, p in ITEMS]


def run(rows, weights=None, **knobs):
    s = with_knobs(scheme_2019(), "cooperation", **knobs)
    return score_cooperation(table("cooperation_scores", rows), table("institutions", INSTS),
                             s.components.cooperation, year=2019, weights=weights or {"H1": 0.5, "H2": 0.5})


def test_sum_of_items_and_halves():
    # I1: H1 every item at full points (25), H2 at 60 % (15) → 0.5 × 25 + 0.5 × 15 = 20
    r = run(full("I1", "H1", 1.0) + full("I1", "H2", 0.6) + full("I2", "H1", 0.0) + full("I2", "H2", 0.0))
    s = r.scores.set_index("unit_id")["points"]
    assert s["I1"] == pytest.approx(20.0)
    assert s["I2"] == 0.0
    assert r.flags.empty


def test_missing_item_zero_and_flag():
    rows = [x for x in full("I1", "H1", 1.0) if x["item"] != "inter_agency"]
    r = run(rows, weights={"H1": 1.0})
    assert r.scores.set_index("unit_id").loc["I1", "points"] == pytest.approx(20.0)  # 25 − 5
    f = r.flags
    assert ((f["unit_id"] == "I1") & (f["item"] == "inter_agency") & (f["flag"] == "missing_item")).any()


def test_missing_item_error_rule():
    with pytest.raises(DataError, match="missing_item"):
        run(full("I1", "H1", 1.0), weights={"H1": 1.0}, missing_item="error")  # I2 has none


def test_score_above_item_points_is_a_data_error():
    with pytest.raises(DataError, match="inter_agency"):
        run([co("I1", "H1", "inter_agency", 5.5)])


def test_unknown_item_flagged_not_counted():
    r = run([co("I1", "H1", "nonsense", 1.0)], weights={"H1": 1.0})
    assert r.scores.set_index("unit_id").loc["I1", "points"] == 0.0
    assert (r.flags["flag"] == "unknown_item").any()
