"""Integrity index: weights, normalisation, misconduct deduction, floor."""

import numpy as np
import pytest
from scoring_fixtures import scheme_2019, table, tiny_units, with_knobs

from bsc_lib.scoring.components.integrity import integrity_index


def row(dep, plan, expense, training, survey, misconduct, acrc=80.0):
    return {"year": 2019, "department_id": dep, "plan_status": plan, "expense_disclosure": expense,
            "training_completion": training, "survey_score": survey, "misconduct_count": misconduct,
            "acrc_score": acrc}


def run(rows, n_depts=3, **knobs):
    s = with_knobs(scheme_2019(), "integrity_index", **knobs)
    deps, _ = tiny_units(n_depts)
    return integrity_index(table("integrity", rows), deps, s.integrity_index, year=2019)


def test_range_0_100_weights_and_deduction():
    # weights 20/20/20/40: (80·20 + 60·20 + 100·20 + 50·40)/100 = 68; one case → −5 = 63
    # D2: (10·20 + 10·20 + 10·20 + 10·40)/100 = 10; three cases → 10 − 15 < 0 → floored at 0
    r = run([row("D1", 80, 60, 100, 50, 1), row("D2", 10, 10, 10, 10, 3)])
    t = r.tables["integrity"].set_index("department_id")
    assert t.loc["D1", "index"] == pytest.approx(63.0)
    assert t.loc["D1", "misconduct_deduction"] == 5.0
    assert t.loc["D2", "index"] == 0.0
    assert np.isnan(t.loc["D3", "index"])  # no data
    assert (r.flags["unit_id"] == "D3").any()
    assert t.loc["D1", "acrc_score"] == 80.0


def test_minmax_normalisation_and_constant_component():
    # plan: 40 → 0, 80 → 100; the other components are equal across departments → 100 for all
    # D1: (0·20 + 100·80)/100 = 80; D2: 100
    r = run([row("D1", 40, 70, 70, 70, 0), row("D2", 80, 70, 70, 70, 0)], n_depts=2, normalisation="minmax")
    t = r.tables["integrity"].set_index("department_id")
    assert t.loc["D1", "plan_status"] == 0.0
    assert t.loc["D1", "index"] == pytest.approx(80.0)
    assert t.loc["D2", "index"] == pytest.approx(100.0)


def test_direction_down_reverses():
    from bsc_lib.config.scheme import IntegrityComponent
    comps = [IntegrityComponent(id="plan_status", weight=50, direction="down"),
             IntegrityComponent(id="survey_score", weight=50, direction="up")]
    # (100 − 30)·0.5 + 90·0.5 = 80
    r = run([row("D1", 30, 0, 0, 90, 0)], n_depts=1, components=comps)
    assert r.tables["integrity"].loc[0, "index"] == pytest.approx(80.0)
