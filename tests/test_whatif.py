"""What-if of the institutional evaluation (bsc_lib.analyses.whatif): hand calculations and exactness.

Exactness: for every (points, cap, quotas) the what-if table must equal
``evaluate(*equivalent_inputs(...))`` — the engine run under the modified scheme.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scoring_fixtures import kpi, make_data, mini_data, res, scheme_2019, tiny_units, with_knobs

from bsc_lib.analyses import whatif
from bsc_lib.config.scheme import Scheme, _consistency_problems
from bsc_lib.scoring.engine import evaluate

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample" / "2019"
POINTS_2019 = {"pre_evaluation": 20.0, "achievement": 20.0, "qualitative": 25.0, "evaluator": 10.0,
               "cooperation": 25.0}


def assert_same_as_engine(data, scheme, points=None, cap=None, quotas=None, half="year", base=None):
    """The what-if table equals the engine under the equivalent inputs (totals 1e-9, ranks, grades)."""
    if base is None:
        base = whatif.prepare(data, scheme, evaluate(data, scheme, year=2019, half=half))
    w = whatif.whatif_table(base, points, cap, quotas)
    d2, s2 = whatif.equivalent_inputs(data, scheme, points, cap, quotas)
    e = evaluate(d2, s2, year=2019, half=half).institutional.set_index("institution_id").loc[w["institution_id"]]
    comps = list(base.points)
    np.testing.assert_allclose(w[comps].to_numpy(float), e[comps].to_numpy(float), rtol=0, atol=1e-9)
    np.testing.assert_allclose(w["total"].to_numpy(float), e["total"].to_numpy(float), rtol=0, atol=1e-9)
    assert list(w["rank_in_group"]) == list(e["rank_in_group"])
    assert list(w["rank_overall"]) == list(e["rank_overall"])
    assert list(w["grade"]) == list(e["grade"])
    return w, e


# --------------------------------------------------------------------------- rebalance
def test_rebalance_hand_example():
    # achievement 20 → 40: the others share 60 in proportion 20:25:10:25 (sum 80) → 15, 18.75, 7.5,
    # 18.75; floors 15, 18, 7, 18 = 58; two points left go to the largest remainders .75
    # (qualitative) and .75 (cooperation; .5 of the evaluator loses) → 15, 40, 19, 7, 19.
    out = whatif.rebalance(POINTS_2019, "achievement", 40)
    assert out == {"pre_evaluation": 15.0, "achievement": 40.0, "qualitative": 19.0, "evaluator": 7.0,
                   "cooperation": 19.0}
    assert list(out) == list(POINTS_2019)


def test_rebalance_quotas_and_ties():
    # S 20 → 10: A, B, C share 90 in proportion 30:40:10 → 33.75, 45, 11.25; floors 33, 45, 11 = 89;
    # one left → the largest remainder .75 (A) → 34, 45, 11.
    assert whatif.rebalance({"S": 20, "A": 30, "B": 40, "C": 10}, "S", 10) == {
        "S": 10.0, "A": 34.0, "B": 45.0, "C": 11.0}
    # equal remainders: a → 2 leaves 98 for three equal others → 32.67 each, floors 32 (96), the
    # two points left go to the first two listed (b, c).
    assert whatif.rebalance({"a": 1, "b": 1, "c": 1, "d": 1}, "a", 2) == {"a": 2.0, "b": 33.0, "c": 33.0, "d": 32.0}


def test_rebalance_others_at_zero_use_the_reference_then_equal_shares():
    # everything on "a"; moving "a" to 50 shares 50 by the reference 20:30 → 20, 30
    vals = {"a": 100.0, "b": 0.0, "c": 0.0}
    assert whatif.rebalance(vals, "a", 50, reference={"a": 50, "b": 20, "c": 30}) == {"a": 50.0, "b": 20.0, "c": 30.0}
    # no reference: equal shares 25, 25
    assert whatif.rebalance(vals, "a", 50) == {"a": 50.0, "b": 25.0, "c": 25.0}


def test_rebalance_clips_rounds_and_steps():
    # 120 is clipped to 100 → the other gets 0. With step 0.5: 33.3 rounds to 33.5 (67 half-points);
    # 133 half-points are left for b:c = 1:1 → 66.5 each, floors 66 + 66, the one left to b (listed
    # first) → b 67 × .5 = 33.5, c 66 × .5 = 33.0
    assert whatif.rebalance({"a": 10, "b": 90}, "a", 120) == {"a": 100.0, "b": 0.0}
    assert whatif.rebalance({"a": 10, "b": 45, "c": 45}, "a", 33.3, step=0.5) == {"a": 33.5, "b": 33.5, "c": 33.0}


@pytest.mark.parametrize("kwargs, match", [
    ({"changed": "zzz", "value": 1}, "unknown key"),
    ({"changed": "a", "value": 1, "step": 0}, "step"),
    ({"changed": "a", "value": 1, "step": 3}, "not a multiple"),
])
def test_rebalance_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        whatif.rebalance({"a": 50, "b": 50}, **kwargs)


@settings(max_examples=60, deadline=None)
@given(vals=st.lists(st.integers(0, 60), min_size=2, max_size=6), pick=st.integers(0, 5),
       value=st.floats(-10, 120, allow_nan=False))
def test_rebalance_always_sums_to_the_total(vals, pick, value):
    keys = [f"c{i}" for i in range(len(vals))]
    changed = keys[pick % len(keys)]
    out = whatif.rebalance(dict(zip(keys, vals, strict=True)), changed, value)
    assert sum(out.values()) == 100.0
    assert all(v >= 0 and float(v).is_integer() for v in out.values())
    assert out[changed] == float(np.clip(np.round(value), 0, 100))


# --------------------------------------------------------------------------- achievement under a cap
def _cap_world(unverified_rule: str = "zero"):
    deps, insts = tiny_units(2)
    kpis = [kpi("K1", "D1", "up", 60.0), kpi("K2", "D1", "down", 40.0), kpi("K3", "D2", "up", 100.0)]
    rows = [res("K1", 100.0, 120.0), res("K2", 10.0, 0.0, verified=unverified_rule == "zero"),
            res("K3", 0.0, 5.0)]
    data = make_data(institutions=insts, departments=deps, kpis=kpis, kpi_results=rows)
    scheme = with_knobs(scheme_2019(), "achievement", unverified_rule=unverified_rule)
    return data, scheme


def test_achievement_fraction_hand_calculated():
    # Half H1 only (weight 1). D1: K1 up 120/100 = 1.2 (weight .6); K2 down with actual 0 → rate =
    # cap (guarded, weight .4). D2: K3 up with target 0 and actual 5 → rate = cap.
    # cap 1.0: D1 = (.6·1 + .4·1)/1 = 1; D2 = 1/1 = 1 → institution (mean) 1.
    # cap 1.5: D1 = (.6·1.2 + .4·1.5)/1.5 = 1.32/1.5 = .88; D2 = 1.5/1.5 = 1 → (.88 + 1)/2 = .94.
    data, scheme = _cap_world()
    r = evaluate(data, scheme, year=2019, half="H1")
    base = whatif.prepare(data, scheme, r)
    # K2 and K3 are unbounded by the rule (+inf): they clip to whatever cap
    assert int(np.isposinf(base.kpi_rows["rate"]).sum()) == 2
    assert whatif.achievement_fractions(base, 1.0)["I1"] == pytest.approx(1.0, abs=1e-12)
    assert whatif.achievement_fractions(base, 1.5)["I1"] == pytest.approx(0.94, abs=1e-12)
    # and the engine agrees: 20 points × .94 = 18.8
    e = evaluate(data, whatif.modified_scheme(scheme, cap=1.5), year=2019, half="H1")
    assert e.institutional.set_index("institution_id").loc["I1", "achievement"] == pytest.approx(18.8, abs=1e-9)


def test_unverified_excluded_whatever_the_cap():
    # unverified_rule exclude: K2 leaves the mean, K1 has the whole weight of D1.
    # cap 1.5: D1 = 1.2/1.5 = .8; D2 = 1 → institution .9
    data, scheme = _cap_world("exclude")
    base = whatif.prepare(data, scheme, evaluate(data, scheme, year=2019, half="H1"))
    assert whatif.achievement_fractions(base, 1.5)["I1"] == pytest.approx(0.9, abs=1e-12)


def test_cap_below_floor_is_refused():
    data, scheme = _cap_world()
    base = whatif.prepare(data, scheme, evaluate(data, scheme, year=2019, half="H1"))
    with pytest.raises(ValueError, match="floor"):
        whatif.achievement_fractions(base, -1.0)


# --------------------------------------------------------------------------- exactness
@pytest.mark.parametrize("knobs, seed, cap", [
    ({}, 0, 1.3),
    ({"missing_rule": "exclude", "unverified_rule": "exclude"}, 1, 2.0),
    ({"institution_from": "own_kpis"}, 2, 1.5),
    ({"institution_from": "all_kpis", "formula": "baseline_progress"}, 0, 1.2),
])
def test_exact_on_extreme_mini_data(knobs, seed, cap):
    """Zeros, negatives and missing actuals (guarded rates) under every institution_from."""
    scheme = with_knobs(scheme_2019(), "achievement", **knobs)
    data = mini_data(scheme, seed, extreme=True)
    assert_same_as_engine(data, scheme, whatif.rebalance(POINTS_2019, "achievement", 35), cap)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), mode=st.sampled_from(["departments_mean", "own_kpis", "all_kpis"]),
       formula=st.sampled_from(["ratio", "baseline_progress"]), rule=st.sampled_from(["zero", "exclude"]),
       cap=st.sampled_from([1.0, 1.2, 1.5]), half=st.sampled_from(["year", "H1"]))
def test_property_whatif_at_the_scheme_cap_is_the_engine(seed, mode, formula, rule, cap, half):
    """The what-if's achievement (the component's own aggregation) at the scheme's cap equals the
    engine's achievement points of every institution, zeros and negatives included."""
    scheme = with_knobs(scheme_2019(), "achievement", institution_from=mode, formula=formula, cap=cap,
                        missing_rule=rule, unverified_rule=rule)
    data = mini_data(scheme, seed, extreme=True)
    r = evaluate(data, scheme, year=2019, half=half)
    base = whatif.prepare(data, scheme, r)
    frac = whatif.achievement_fractions(base, cap)
    engine = r.institutional.set_index("institution_id")["achievement"].loc[frac.index]
    np.testing.assert_allclose(frac.to_numpy() * scheme.points("institutional", "achievement"),
                               engine.to_numpy(float), rtol=0, atol=1e-9)


@pytest.fixture(scope="module")
def sample():
    if not SAMPLE.is_dir():
        pytest.fail("data/sample/2019 is missing: run `make sample`")
    from bsc_lib.data.io import load

    scheme = scheme_2019()
    data = load(SAMPLE, scheme=scheme)
    r = evaluate(data, scheme)
    return data, scheme, r, whatif.prepare(data, scheme, r)


def test_unchanged_settings_reproduce_the_results(sample):
    data, scheme, r, base = sample
    w = whatif.whatif_table(base, None, scheme.components.achievement.cap, None)
    inst = r.institutional
    assert list(w["institution_id"]) == list(inst["institution_id"])
    np.testing.assert_allclose(w["total"], inst["total"], rtol=0, atol=1e-9)
    assert list(w["grade"]) == list(inst["grade"])
    assert not w["grade_changed"].any() and (w["rank_change"] == 0).all()


def test_whatif_at_the_scheme_cap_is_the_engine_on_the_sample(sample):
    # recomputed through the component's aggregation (not the base fractions) for every institution
    _, scheme, r, base = sample
    frac = whatif.achievement_fractions(base, scheme.components.achievement.cap)
    engine = r.institutional.set_index("institution_id")["achievement"].loc[frac.index]
    assert len(frac) == 45
    np.testing.assert_allclose(frac.to_numpy() * 20.0, engine.to_numpy(float), rtol=0, atol=1e-9)


@pytest.mark.parametrize("points, cap, quotas, half", [
    (whatif.rebalance(POINTS_2019, "achievement", 40), 1.0, None, "year"),
    (None, 1.2, {"S": 0.1, "A": 0.4, "B": 0.4, "C": 0.1}, "year"),
    (whatif.rebalance(POINTS_2019, "cooperation", 5), 1.5, None, "H1"),
])
def test_exact_on_the_sample(sample, points, cap, quotas, half):
    data, scheme, _, base = sample
    w, _ = assert_same_as_engine(data, scheme, points, cap, quotas, half=half,
                                 base=base if half == "year" else None)
    if points is not None and points["achievement"] == 40:
        # the change matters: some institution changes grade under achievement 40
        assert w["grade_changed"].any()


def test_table_marks_changes(sample):
    _, _, r, base = sample
    w = whatif.whatif_table(base, whatif.rebalance(POINTS_2019, "achievement", 40))
    b = r.institutional.set_index("institution_id").loc[w["institution_id"]]
    assert (w["grade_changed"].to_numpy() == (w["grade"].to_numpy() != b["grade"].to_numpy())).all()
    assert (w["rank_change"].to_numpy() == (b["rank_overall"].to_numpy() - w["rank_overall"].to_numpy())).all()
    assert list(w.columns) == [*whatif.WHATIF_COLUMNS[:4], *POINTS_2019, *whatif.WHATIF_COLUMNS[4:]]


# --------------------------------------------------------------------------- the modified scheme
def test_modified_scheme_is_consistent():
    s = whatif.modified_scheme(scheme_2019(), whatif.rebalance(POINTS_2019, "qualitative", 30), cap=1.2,
                               quotas={"S": 0.1, "A": 0.4, "B": 0.4, "C": 0.1})
    # qualitative 25 → 30: rater groups 12.5 + 12.5 scaled by 30/25 → 15 + 15. The others share 70 as
    # 20:20:10:25 → 18.67, 18.67, 9.33, 23.33 → 19, 19, 9, 23: cooperation items scaled by 23/25.
    assert s.evaluations["institutional"].components["qualitative"] == 30.0
    assert s.components.qualitative.rater_groups["institutional"] == {"planning_office": 15.0, "expert": 15.0}
    assert s.components.qualitative.rater_groups["individual"] == scheme_2019().components.qualitative.rater_groups["individual"]
    assert sum(i.points for i in s.components.cooperation.items) == pytest.approx(23.0)
    assert s.components.achievement.cap == 1.2
    assert s.grading.quotas == {"S": 0.1, "A": 0.4, "B": 0.4, "C": 0.1}
    again = Scheme.model_validate(s.model_dump(exclude={"sha256", "path"}))
    assert _consistency_problems(again) == []


@pytest.mark.parametrize("kwargs, match", [
    ({"points": {**POINTS_2019, "achievement": 30.0}}, "sum to 100"),
    ({"points": {"nope": 100.0}}, "unknown component"),
    ({"points": {**POINTS_2019, "achievement": -5.0, "qualitative": 50.0}}, ">= 0"),
    ({"quotas": {"S": 0.5, "A": 0.5}}, "grades"),
    ({"quotas": {"S": 0.5, "A": 0.5, "B": 0.5, "C": 0.0}}, "sum to 1"),
])
def test_bad_what_if_inputs_are_refused(kwargs, match):
    data, scheme = _cap_world()
    base = whatif.prepare(data, scheme, evaluate(data, scheme, year=2019, half="H1"))
    with pytest.raises(ValueError, match=match):
        whatif.whatif_table(base, **kwargs)


def test_no_institutional_evaluation_is_refused():
    s = scheme_2019()
    ind_only = s.model_copy(update={"evaluations": {"individual": s.evaluations["individual"]}})
    data, _ = _cap_world()
    r = evaluate(data, ind_only, year=2019, half="H1")
    with pytest.raises(ValueError, match="no institutional evaluation"):
        whatif.prepare(data, ind_only, r)


def test_empty_cooperation_table_is_fine():
    data, scheme = _cap_world()
    d2, s2 = whatif.equivalent_inputs(data, scheme, whatif.rebalance(POINTS_2019, "cooperation", 10))
    assert d2.cooperation_scores.empty
    assert pd.Series([i.points for i in s2.components.cooperation.items]).sum() == pytest.approx(10.0)
