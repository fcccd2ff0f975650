"""Scheme scenarios: cap alternatives and rescoring match evaluate() exactly."""

from pathlib import Path

import numpy as np
import pytest

import bsc_lib
from bsc_lib.analyses import reliability, scenarios
from bsc_lib.data.sample import generate

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def world():
    scheme = bsc_lib.load_scheme(ROOT / "params" / "scheme-2019.yaml")
    return generate(scale=0.2), scheme


def test_with_cap_changes_only_the_cap(world):
    _, scheme = world
    s2 = scenarios.with_cap(scheme, 1.2)
    assert s2.components.achievement.cap == 1.2
    assert scheme.components.achievement.cap == 1.0
    assert s2.components.achievement.formula == scheme.components.achievement.formula
    assert s2.evaluations == scheme.evaluations


def test_cap_alternatives_equal_evaluate_with_that_cap(world):
    data, scheme = world
    alt = scenarios.cap_alternatives(data, scheme, [1.0, 1.2], 2019, "year")
    for cap, col in ((1.0, "cap=1"), (1.2, "cap=1.2")):
        res = bsc_lib.evaluate(data, scenarios.with_cap(scheme, cap), year=2019, half="year")
        want = res.institutional.set_index("institution_id")["achievement"] / 20
        assert np.allclose(alt[col].reindex(want.index), want, atol=1e-12)
    assert ((alt >= 0) & (alt <= 1)).all().all()


def test_robustness_inputs_reproduce_nominal_totals(world):
    data, scheme = world
    inp = scenarios.robustness_inputs(data, scheme, 2019, "year", [1.0, 1.1], B=20, seed=1)
    res = bsc_lib.evaluate(data, scheme, year=2019, half="year")
    inst = res.institutional.set_index("institution_id")
    # totals = Σ fraction × nominal points (+ deductions, which are 0 here unless a no-show)
    fr = inp["fractions"]
    tot = sum(fr[c] * inp["nominal_points"][c] for c in fr.columns)
    assert np.allclose(tot - inst["deductions"].reindex(fr.index), inst["total"].reindex(fr.index), atol=1e-9)
    assert inp["bootstrap"]["qualitative"].shape == (len(fr), 20)
    assert set(inp["alternatives"]["achievement"].columns) == {"cap=1", "cap=1.1"}


def test_rescorer_without_changes_reproduces_the_grades(world):
    data, scheme = world
    rescore = scenarios.qualitative_rescorer(data, scheme, 2019, "year")
    grades = rescore(data.qualitative_ratings)
    res = bsc_lib.evaluate(data, scheme, year=2019, half="year")
    assert grades.sort_index().equals(res.institutional.set_index("institution_id")["grade"].sort_index())
    out = reliability.grade_changes(data.qualitative_ratings, "E3", rescore, mode="remove")
    assert "E3" in out.attrs["n_changed"]
