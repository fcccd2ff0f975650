"""Strategy alignment: plan-task coverage and the strategy tree, on a hand-made plan and the sample."""

import json
from pathlib import Path

import pandas as pd

import bsc_lib
from bsc_lib.analyses.alignment import coverage_summary, strategy_tree, task_coverage
from bsc_lib.data.model import TABLES, BSCData, empty_table

ROOT = Path(__file__).resolve().parent.parent


def _tiny() -> BSCData:
    t = {n: empty_table(n) for n in TABLES}
    t["institutions"] = pd.DataFrame({"institution_id": ["I1"], "name_ko": ["기관"], "name_en": ["Inst"],
                                      "inst_type": ["main_office"]})
    t["departments"] = pd.DataFrame({"department_id": ["D1", "D2"], "institution_id": ["I1", "I1"],
                                     "name_ko": ["가과", "나과"], "name_en": ["A", "B"],
                                     "consulting_participated": [True, True]})
    t["plan_tasks"] = pd.DataFrame({"task_id": ["V", "G1", "C1", "C2", "T1"],
                                    "plan_level": ["vision", "goal", "core", "core", "general"],
                                    "parent_id": [None, "V", "G1", "G1", "G1"],
                                    "name_ko": ["비전", "목표", "핵심1", "핵심2", "일반1"], "name_en": [None] * 5})
    t["projects"] = pd.DataFrame({"project_id": ["P1", "P2", "P3"], "department_id": ["D1", "D2", "D2"],
                                  "performance_goal_id": [None] * 3, "name_ko": ["사업1", "사업2", "사업3"],
                                  "is_core": [True, False, True]})
    t["project_tasks"] = pd.DataFrame({"project_id": ["P1", "P2", "P3"], "task_id": ["C1", "C1", "T1"]})
    t["kpis"] = pd.DataFrame({"kpi_id": ["K1", "K2"], "owner_id": ["D1", "D2"], "level": ["department"] * 2,
                              "project_id": ["P1", "P2"], "name_ko": ["a", "b"], "unit": ["%", "건"],
                              "polarity": ["up", "up"], "band_low": [None, None], "band_high": [None, None],
                              "kpi_type": ["output", "outcome"], "weight": [100.0, 100.0]})
    return BSCData(tables=t)


def test_task_coverage_by_hand():
    cov = task_coverage(_tiny()).set_index("task_id")
    # C1 ← P1 (D1, 1 KPI) and P2 (D2, 1 KPI); C2 ← nothing; T1 ← P3 (D2, no KPI)
    assert cov.loc["C1", ["n_projects", "n_departments", "n_kpis"]].tolist() == [2, 2, 2]
    assert cov.loc["C2", "n_projects"] == 0 and not cov.loc["C2", "covered"]
    assert cov.loc["T1", ["n_projects", "n_kpis"]].tolist() == [1, 0]
    assert cov.loc["C1", "goal_name_ko"] == "목표"
    s = coverage_summary(task_coverage(_tiny())).set_index("plan_level")
    assert s.loc["core", ["tasks", "covered", "uncovered"]].tolist() == [2, 1, 1]
    assert s.loc["general", "share_covered"] == 1.0


def test_sample_recovers_planted_unmapped_tasks():
    scheme = bsc_lib.load_scheme(ROOT / "params" / "scheme-2019.yaml")
    data = bsc_lib.load(ROOT / "data" / "sample" / "2019", scheme=scheme)
    planted = json.loads((ROOT / "data" / "sample" / "planted-2019.json").read_text(encoding="utf-8"))
    cov = task_coverage(data)
    assert len(cov) == 25 + 151
    assert sorted(cov.loc[~cov["covered"], "task_id"]) == sorted(planted["unmapped_tasks"])


def test_strategy_tree_is_a_valid_hierarchy():
    tree = strategy_tree(_tiny())
    ids = set(tree["id"])
    assert tree["id"].is_unique
    assert all(p == "" or p in ids for p in tree["parent"])
    leaves = tree[tree["level"] == "project"].set_index("id")
    # P3 has no KPI but stays visible with value 1
    assert leaves.loc["pr:P3", "value"] == 1 and leaves.loc["pr:P1", "value"] == 1
    # projects without a performance goal hang under their institution
    assert leaves.loc["pr:P1", "parent"] == "inst:I1"
