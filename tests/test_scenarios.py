"""Scheme scenarios: cap alternatives and rescoring match evaluate() exactly."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import bsc_lib
from bsc_lib.analyses import reliability, scenarios
from bsc_lib.data.model import BSCData, plain_text
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


def test_unit_ratings_of_integer_coded_text_when_each_project_has_its_own_department(world):
    """One project per department and one department per institution, the pairing reversed so
    that the sorted project ids do not follow the sorted department ids: the look-up project →
    department → institution is one-to-one, where pandas 3.1 maps a categorical by the sorted order of
    categorical values instead of by key. ``category`` text must give the ``str`` answer."""
    data, scheme = world
    dep = data.departments.drop_duplicates("institution_id")
    proj = data.projects[data.projects["department_id"].isin(dep["department_id"])].drop_duplicates("department_id")
    # reverse the project → department pairing: project ids rise while their departments fall
    proj = proj.assign(department_id=proj["department_id"].to_numpy()[::-1])
    ratings = data.qualitative_ratings[data.qualitative_ratings["project_id"].isin(proj["project_id"])]
    tables = {**data.tables, "departments": dep, "projects": proj, "qualitative_ratings": ratings}
    as_str = BSCData(tables=tables)
    coded = BSCData(tables={n: t.astype({c: "category" for c in t.columns if str(t[c].dtype) == "str"})
                            for n, t in tables.items()})
    year = int(scheme.year)
    want = scenarios.qualitative_unit_ratings(as_str, scheme, year, "year")
    got = scenarios.qualitative_unit_ratings(coded, scheme, year, "year")
    assert len(want) > 0 and want["unit_id"].nunique() > 2
    pd.testing.assert_frame_equal(plain_text(got), want)
