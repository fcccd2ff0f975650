"""The scoring engine end to end: hand-calculated totals, explain(), both schemes, properties."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scoring_fixtures import (
    PEOPLE,
    make_data,
    mini_data,
    scheme_2019,
    scheme_2020,
    table,
)

from bsc_lib.data.model import TABLES, BSCData
from bsc_lib.scoring.engine import Results, evaluate

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample" / "2019"
SCHEMES = {"2019": scheme_2019, "2020": scheme_2020}


def all_unit_ids(r: Results) -> list[str]:
    return [*r.institutional["institution_id"], *r.departments["department_id"], *r.individual["person_id"]]


def assert_explain_adds_up(r: Results, unit_ids) -> None:
    """Detail rows sum to their component, components to the total (np.isclose, atol 1e-9)."""
    for u in unit_ids:
        e = r.explain(u)
        total = e.loc[e["level"] == "total", "value"]
        assert len(total) == 1, u
        comps = e.loc[e["level"] == "component"]
        assert np.isclose(comps["value"].sum(), total.iloc[0], rtol=0, atol=1e-9), u
        det = e.loc[e["level"] == "detail"].groupby("component")["value"].sum()
        for comp, val in zip(comps["component"], comps["value"], strict=True):
            if comp == "clip_adjustment":
                continue
            assert np.isclose(det.get(comp, 0.0), val, rtol=0, atol=1e-9), (u, comp, det.get(comp, 0.0), val)
        assert set(det.index) <= set(comps["component"]), u


# --------------------------------------------------------------------------- a world by hand
def hand_world() -> BSCData:
    """One institution, one department (consulting no-show), two heads; every number round."""
    s = scheme_2019().components
    qual = [{"year": 2019, "half": h, "project_id": "PR1", "rater_group": g, "rater_id": "R", "item": it.id,
             "score": 50.0} for h in ("H1", "H2") for g in ("bureau_self", "planning_office", "expert")
            for it in s.qualitative.items]
    return make_data(
        institutions=[{"institution_id": "I1", "name_ko": "기관", "name_en": "Inst", "inst_type": "main_office"}],
        departments=[{"department_id": "D1", "institution_id": "I1", "name_ko": "부서",
                      "consulting_participated": False}],
        projects=[{"project_id": "PR1", "department_id": "D1", "name_ko": "사업", "is_core": True}],
        kpis=[{"kpi_id": "K1", "owner_id": "D1", "level": "department", "polarity": "up", "weight": 100.0,
               "name_ko": "지표", "unit": "%", "kpi_type": "outcome"}],
        kpi_results=[{"kpi_id": "K1", "year": 2019, "half": "H1", "target": 100.0, "actual": 100.0, "verified": True},
                     {"kpi_id": "K1", "year": 2019, "half": "H2", "target": 100.0, "actual": 50.0, "verified": True}],
        pre_eval_ratings=[{"unit_id": "D1", "round": "first", "item": it.id, "rater_id": "R", "score": 80.0}
                          for it in s.pre_evaluation.items],
        qualitative_ratings=qual,
        evaluator_scores=[{"year": 2019, "half": h, "unit_id": u, "evaluator_id": "E", "score": v}
                          for h in ("H1", "H2") for u, v in (("D1", 70.0), ("I1", 90.0))],
        cooperation_scores=[{"year": 2019, "half": "H1", "institution_id": "I1", "item": it.id, "score": it.points}
                            for it in s.cooperation.items],
        integrity=[{"year": 2019, "department_id": "D1", "plan_status": 80.0, "expense_disclosure": 80.0,
                    "training_completion": 80.0, "survey_score": 80.0, "misconduct_count": 0}],
        people=[{"person_id": "P0", "grade": "3급", "unit_id": "I1", "role": "bureau_head"},
                {"person_id": "P1", "grade": "4급", "unit_id": "D1", "role": "department_head"}],
        org_management=[{"person_id": "P1", "year": 2018, "avg_overtime_hours": 20.0, "avg_leave_days": 10.0},
                        {"person_id": "P1", "year": 2019, "avg_overtime_hours": 10.0, "avg_leave_days": 15.0},
                        {"person_id": "P0", "year": 2018, "avg_overtime_hours": 10.0, "avg_leave_days": 10.0},
                        {"person_id": "P0", "year": 2019, "avg_overtime_hours": 10.0, "avg_leave_days": 5.0}],
    )


@pytest.fixture(scope="module")
def hand() -> Results:
    return evaluate(hand_world(), scheme_2019())


def test_hand_calculated_institution(hand):
    row = hand.institutional.set_index("institution_id").loc["I1"]
    # pre: every item 80/100 → 0.8 × 20 = 16 (D1; I1 = mean of its one department)
    # achievement: H1 100/100 = 1, H2 50/100 = 0.5 → 20 × (0.5·1 + 0.5·0.5) = 15
    # qualitative (institutional groups 12.5 + 12.5): all 50/100 → 25 × 0.5 = 12.5
    # evaluator: I1's own 90/100 → 0.9 × 10 = 9
    # cooperation: H1 all items full (25), H2 none (0, flagged) → 0.5 × 25 = 12.5
    # deductions: the only department skipped consulting → mean(1.0) = 1
    # total = 16 + 15 + 12.5 + 9 + 12.5 − 1 = 64
    expected = {"pre_evaluation": 16.0, "achievement": 15.0, "qualitative": 12.5, "evaluator": 9.0,
                "cooperation": 12.5, "deductions": 1.0, "total": 64.0}
    for k, v in expected.items():
        assert row[k] == pytest.approx(v), k
    # a group of one: quotas 0.2/0.3/0.4/0.1 → floors 0, the one unit to the largest fraction (B)
    assert row["grade"] == "B" and row["rank_in_group"] == 1
    f = hand.flags
    assert len(f.loc[(f["unit_id"] == "I1") & (f["flag"] == "missing_item") & (f["half"] == "H2")]) == 9
    assert row["n_flags"] == 9


def test_hand_calculated_department_and_people(hand):
    d = hand.departments.set_index("department_id").loc["D1"]
    # individual points: pre 16, achievement 15, qualitative 40 × 0.5 = 20, evaluator 0.7 × 15 = 10.5
    # → 61.5 − 1 (no-show) = 60.5 of 95; integrity (80·20 + 80·20 + 80·20 + 80·40)/100 = 80, not added
    assert d["qualitative"] == pytest.approx(20.0)
    assert d["evaluator"] == pytest.approx(10.5)
    assert d["total"] == pytest.approx(60.5)
    assert d["max_total"] == 95.0
    assert d["integrity_index"] == pytest.approx(80.0)
    p = hand.individual.set_index("person_id")
    # organisation: P1 better on both sub-items (overtime −10 h vs 0; leave 15 vs 5), n = 2 →
    # percentile_linear gives P1 2.5 + 2.5 = 5 and P0 0
    # P1 (heads D1): 61.5 + 5 − 1 = 65.5
    assert p.loc["P1", "organisation"] == pytest.approx(5.0)
    assert p.loc["P1", "total"] == pytest.approx(65.5)
    # P0 (heads I1): pre 16, achievement 15, qualitative 20, evaluator I1 0.9 × 15 = 13.5, org 0, −1
    assert p.loc["P0", "evaluator"] == pytest.approx(13.5)
    assert p.loc["P0", "total"] == pytest.approx(63.5)
    assert p.loc["P1", "rank_overall"] == 1 and p.loc["P0", "rank_overall"] == 2
    # two people: exact 0.4/0.6/0.8/0.2 → floors 0; the two units go to B (.8) and A (.6)
    assert (p.loc["P1", "grade"], p.loc["P0", "grade"]) == ("A", "B")
    assert list(hand.individual["person_id"]) == ["P1", "P0"]  # display order: total desc


def test_explain_of_the_hand_world(hand):
    e = hand.explain("P1")
    assert e.iloc[0]["level"] == "total" and e.iloc[0]["value"] == pytest.approx(65.5)
    ach = e.loc[(e["level"] == "detail") & (e["component"] == "achievement")]
    # per half: 20 × 0.5 (half weight) × rate → H1 10, H2 5; inputs carried along
    assert ach["value"].tolist() == pytest.approx([10.0, 5.0])
    assert ach["target"].tolist() == [100.0, 100.0]
    assert set(ach["source_id"]) == {"D1"}
    assert e.loc[e["component"] == "deductions", "value"].tolist() == [-1.0, -1.0]
    assert_explain_adds_up(hand, all_unit_ids(hand))


def test_components_long_table(hand):
    c = hand.components
    assert list(c.columns) == ["evaluation", "unit_level", "unit_id", "component", "points", "max_points"]
    assert set(c["evaluation"]) == {"institutional", "individual", "department"}
    p1 = c.loc[(c["evaluation"] == "individual") & (c["unit_id"] == "P1")].set_index("component")
    assert p1["points"].sum() == pytest.approx(66.5)  # components before the deduction
    assert p1["max_points"].sum() == pytest.approx(100.0)


def test_kpi_table(hand):
    k = hand.kpi
    assert list(k.columns) == ["kpi_id", "owner_id", "level", "polarity", "weight", "target", "actual", "baseline",
                               "verified", "rate", "capped_rate", "status", "flag", "points", "half"]
    assert k["status"].tolist() == ["achieved", "missed"]
    assert k["points"].sum() == pytest.approx(15.0)


def test_params_record_the_knobs(hand):
    p = hand.params
    assert p["scheme_id"] == "seoul-bsc-2019"
    assert p["half_weights"] == {"H1": 0.5, "H2": 0.5}
    assert p["components"]["achievement"]["cap"] == 1.0
    assert p["grading"]["method"] == "forced"
    assert p["department_points_basis"] == "individual"


def test_first_half_uses_first_round_and_h1_only():
    r = evaluate(hand_world(), scheme_2019(), half="H1")
    row = r.institutional.set_index("institution_id").loc["I1"]
    assert row["achievement"] == pytest.approx(20.0)   # H1 rate 1
    assert row["cooperation"] == pytest.approx(25.0)   # H1 all full
    assert r.params["pre_evaluation_rounds"] == ["first"]
    assert set(r.kpi["half"]) == {"H1"}


def test_total_is_clipped_and_explained():
    # a department with nothing but a no-show deduction: 0 − 1 → clipped to 0, shown as +1
    data = make_data(
        institutions=[{"institution_id": "I1", "name_ko": "기관", "inst_type": "main_office"}],
        departments=[{"department_id": "D1", "institution_id": "I1", "name_ko": "부서",
                      "consulting_participated": False}],
        people=[{"person_id": "P1", "grade": "4급", "unit_id": "D1", "role": "department_head"}],
    )
    r = evaluate(data, scheme_2019())
    assert r.institutional["total"].iloc[0] == 0.0
    e = r.explain("D1")
    assert e.loc[e["component"] == "clip_adjustment", "value"].tolist() == [1.0]
    assert_explain_adds_up(r, all_unit_ids(r))
    assert {"no_kpis", "no_ratings", "missing_data", "no_data"} <= set(r.flags["flag"])


def test_unknown_unit_and_bad_half():
    r = evaluate(make_data(), scheme_2019())
    assert r.institutional.empty and r.individual.empty
    with pytest.raises(KeyError, match="X9"):
        r.explain("X9")
    with pytest.raises(ValueError, match="half"):
        evaluate(make_data(), scheme_2019(), half="Q3")


def test_person_with_unknown_unit_and_role_mismatch():
    data = make_data(
        institutions=[{"institution_id": "I1", "name_ko": "기관", "inst_type": "main_office"}],
        departments=[{"department_id": "D1", "institution_id": "I1", "name_ko": "부서",
                      "consulting_participated": True}],
        people=[{"person_id": "P1", "grade": "4급", "unit_id": "I1", "role": "department_head"},
                {"person_id": "P2", "grade": "4급", "unit_id": "ZZ", "role": "department_head"}],
    )
    r = evaluate(data, scheme_2019())
    assert "role_unit_mismatch" in set(r.flags.loc[r.flags["unit_id"] == "P1", "flag"])
    assert "unknown_unit" in set(r.flags.loc[r.flags["unit_id"] == "P2", "flag"])
    assert r.individual.set_index("person_id").loc["P2", "total"] == 0.0


# --------------------------------------------------------------------------- both schemes, mini world
@pytest.mark.parametrize("half", ["H1", "H2", "year"])
@pytest.mark.parametrize("scheme_name", ["2019", "2020"])
def test_explain_adds_up_for_every_unit(scheme_name, half):
    s = SCHEMES[scheme_name]()
    r = evaluate(mini_data(s, seed=1, extreme=half == "year"), s, half=half)
    assert_explain_adds_up(r, all_unit_ids(r))
    ev = s.evaluations
    assert list(r.institutional.columns) == ["institution_id", "name_ko", "name_en", "inst_type",
                                             *ev["institutional"].components, "deductions", "total",
                                             "rank_in_group", "rank_overall", "grade", "n_flags"]
    assert list(r.individual.columns) == ["person_id", "name_ko", "position_grade", "role", "unit_id", "unit_level",
                                          *ev["individual"].components, "deductions", "total", "rank_overall",
                                          "grade", "n_flags"]
    assert set(r.individual["person_id"]) == {p["person_id"] for p in PEOPLE}
    for t in (r.institutional, r.individual):
        assert t["total"].between(0, 100).all()
        assert set(t["grade"]) <= set(s.grading.quotas)
    assert list(r.flags.columns) == ["unit_id", "component", "item", "flag", "detail", "half", "severity"]


def test_example_2020_scheme_runs_with_its_own_knobs():
    s = scheme_2020()
    r = evaluate(mini_data(s, seed=2), s)
    assert r.params["components"]["achievement"]["formula"] == "baseline_progress"
    assert r.institutional["cooperation"].max() <= 30.0
    assert set(r.institutional["grade"]) <= {"S", "A", "B"}
    # cutoffs: the grade follows the total alone
    for total, grade in zip(r.institutional["total"], r.institutional["grade"], strict=True):
        assert grade == ("S" if total >= 85 else "A" if total >= 70 else "B")
    # all_kpis: the institution-level KPI contributes to I1; cap 1.2 lets capped rates exceed 1
    assert r.kpi.loc[r.kpi["owner_id"] == "I1", "points"].gt(0).any()
    assert r.kpi["capped_rate"].max() <= 1.2
    assert set(r.integrity.columns) >= {"department_id", "plan_status", "index", "acrc_score"}


def test_every_flag_has_a_label():
    from bsc_lib.scoring.components import FLAG_LABELS

    s = scheme_2019()
    r = evaluate(mini_data(s, seed=5, extreme=True), s)
    assert set(r.flags["flag"]) <= set(FLAG_LABELS)
    assert set(r.flags["severity"]) <= {"warning", "info"}


def test_integrity_is_reported_not_added():
    s = scheme_2019()
    r = evaluate(mini_data(s, seed=4), s)
    d = r.departments
    comps = list(r.params["component_order"]["department"])
    assert np.allclose(d["total"], (d[comps].sum(axis=1) - d["deductions"]).clip(0, 95))
    assert d["integrity_index"].notna().sum() == 3


def test_component_in_the_wrong_evaluation_is_a_clear_error():
    s = scheme_2019()
    ev = dict(s.evaluations)
    ind = ev["individual"].model_copy(update={"components": {"cooperation": 25, "pre_evaluation": 75}})
    bad = s.model_copy(update={"evaluations": {**ev, "individual": ind}})
    with pytest.raises(ValueError, match="cooperation is scored for institutions only"):
        evaluate(mini_data(s), bad)


# --------------------------------------------------------------------------- properties
def _shuffle(data: BSCData, seed: int) -> BSCData:
    rng = np.random.default_rng(seed)
    return BSCData(tables={n: df.iloc[rng.permutation(len(df))].reset_index(drop=True)
                           for n, df in data.tables.items()})


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), scheme_name=st.sampled_from(["2019", "2020"]))
def test_property_row_order_changes_nothing(seed, scheme_name):
    s = SCHEMES[scheme_name]()
    data = mini_data(s, seed=seed % 7, extreme=True)
    a, b = evaluate(data, s), evaluate(_shuffle(data, seed), s)
    for name in ("institutional", "individual", "departments", "components", "kpi", "flags", "integrity"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name), check_exact=True, obj=name)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), level=st.one_of(st.none(), st.sampled_from([0.0, 1.0]), st.floats(0, 1)),
       extreme=st.booleans(), scheme_name=st.sampled_from(["2019", "2020"]))
def test_property_totals_stay_in_0_100(seed, level, extreme, scheme_name):
    s = SCHEMES[scheme_name]()
    r = evaluate(mini_data(s, seed=seed, extreme=extreme, level=level), s)
    for t in (r.institutional, r.individual):
        assert t["total"].between(0.0, 100.0).all()
    assert r.departments["total"].between(0.0, r.departments["max_total"].iloc[0]).all()
    assert np.isfinite(r.components["points"]).all()
    assert r.kpi["rate"].replace([np.inf, -np.inf], np.nan).notna().sum() == np.isfinite(r.kpi["rate"]).sum()


# --------------------------------------------------------------------------- the embedded sample
@pytest.fixture(scope="module")
def sample_results():
    if not (SAMPLE / "kpis.csv").is_file():
        pytest.skip("data/sample/2019 not generated")
    io = pytest.importorskip("bsc_lib.data.io")
    s = scheme_2019()
    data = io.load(SAMPLE, scheme=s)
    return data, evaluate(data, s)


def test_sample_scores_sanely(sample_results):
    data, r = sample_results
    assert len(r.institutional) == len(data.institutions) == 45
    assert len(r.departments) == len(data.departments)
    assert len(r.individual) == len(data.people)
    assert len(r.kpi) == 2 * len(data.kpis)  # one row per KPI and half
    for t in (r.institutional, r.individual):
        assert t["total"].between(0, 100).all()
        assert t["grade"].notna().all()
    # forced distribution inside each institution type sums to the group size
    counts = r.institutional.groupby("inst_type").size()
    assert r.institutional.groupby("inst_type")["grade"].count().equals(counts)
    assert r.kpi["capped_rate"].dropna().between(0, 1).all()
    assert r.integrity["index"].dropna().between(0, 100).all()


def test_sample_explain_adds_up(sample_results):
    _, r = sample_results
    # every unit, vectorised over the decomposition explain() reads …
    d = r.details.groupby(["view", "unit_id", "component"])["value"].sum()
    for view, frame, idc, comps in (
        ("institution", r.institutional, "institution_id", r.params["component_order"]["institutional"]),
        ("department", r.departments, "department_id", r.params["component_order"]["department"]),
        ("person", r.individual, "person_id", r.params["component_order"]["individual"]),
    ):
        for comp in comps:
            got = frame[idc].map(lambda u, c=comp, v=view: d.get((v, u, c), 0.0))
            assert np.allclose(got, frame[comp], rtol=0, atol=1e-9), (view, comp)
        ded = frame[idc].map(lambda u, v=view: d.get((v, u, "deductions"), 0.0))
        assert np.allclose(ded, -frame["deductions"], rtol=0, atol=1e-9)
    # … and explain() itself on every institution and every 10th department and person
    ids = [*r.institutional["institution_id"], *r.departments["department_id"].iloc[::10],
           *r.individual["person_id"].iloc[::10]]
    assert_explain_adds_up(r, ids)


def test_fixture_tables_match_the_model():
    for name in TABLES:
        assert list(table(name, []).columns) == TABLES[name].column_names


def test_integer_coded_text_scores_the_same(sample_results):
    """evaluate, kpi_difficulty and discrimination give identical tables (values and dtypes)
    on the sample loaded with its text integer-coded (``load(text="category")``)."""
    from bsc_lib.analyses import dispersion
    from bsc_lib.analyses.difficulty import kpi_difficulty
    from bsc_lib.data import io

    data, r = sample_results
    coded = io.load(SAMPLE, scheme=scheme_2019(), text="category")
    assert isinstance(coded.qualitative_ratings["project_id"].dtype, pd.CategoricalDtype)
    rc = evaluate(coded, scheme_2019())
    for name in ("institutional", "individual", "departments", "components", "kpi", "flags", "integrity",
                 "details"):
        pd.testing.assert_frame_equal(getattr(rc, name), getattr(r, name), check_exact=True)
    unit = r.departments["department_id"].iloc[0]
    pd.testing.assert_frame_equal(rc.explain(unit), r.explain(unit), check_exact=True)
    pd.testing.assert_frame_equal(kpi_difficulty(coded.kpis, coded.kpi_history, coded.kpi_results),
                                  kpi_difficulty(data.kpis, data.kpi_history, data.kpi_results), check_exact=True)
    by = ["evaluation", "component"]
    pd.testing.assert_frame_equal(dispersion.discrimination(rc.components, "points", by=by),
                                  dispersion.discrimination(r.components, "points", by=by), check_exact=True)
