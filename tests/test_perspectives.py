"""Perspective roll-up and strategy map: hand-calculated small cases."""

import pandas as pd
import pytest

from bsc_lib.analyses import perspectives as P
from bsc_lib.config.scheme import StatusRule

RULES = [StatusRule(status="achieved", label_ko="달성", label_en="Achieved", min_rate=1.0),
         StatusRule(status="caution", label_ko="주의", label_en="Caution", min_rate=0.9),
         StatusRule(status="missed", label_ko="미달", label_en="Missed", min_rate=None)]


def _chain():
    kpis = pd.DataFrame({"kpi_id": ["K1", "K2", "K3", "K4"], "owner_id": ["D1", "D1", "D2", "I1"],
                         "project_id": ["P1", "P1", "P2", None], "name_ko": ["가", "나", "다", "라"]})
    projects = pd.DataFrame({"project_id": ["P1", "P2"], "performance_goal_id": ["PG1", "PG2"]})
    pgs = pd.DataFrame({"performance_goal_id": ["PG1", "PG2"], "strategic_goal_id": ["SG1", "SG2"],
                        "name_ko": ["성과1", "성과2"]})
    sgs = pd.DataFrame({"strategic_goal_id": ["SG1", "SG2"], "perspective": ["시민", "재정"],
                        "name_ko": ["전략1", "전략2"]})
    depts = pd.DataFrame({"department_id": ["D1", "D2"], "institution_id": ["I1", "I1"]})
    return kpis, projects, pgs, sgs, depts


def test_rag_of_first_green_last_red():
    assert P.rag_of(RULES) == {"achieved": "green", "caution": "amber", "missed": "red"}


def test_links_follow_the_chain_and_leave_institution_kpis_unlinked():
    kpis, projects, pgs, sgs, depts = _chain()
    links = P.kpi_links(kpis, projects, pgs, sgs, depts)
    assert links["perspective"].tolist()[:3] == ["시민", "시민", "재정"]
    assert pd.isna(links["perspective"].iloc[3])
    assert links["institution_id"].tolist() == ["I1"] * 4


def test_period_rate_year_is_year_combine_mean_and_half_is_the_half():
    kpi = pd.DataFrame({"kpi_id": ["K1", "K1", "K2", "K2"], "half": ["H1", "H2", "H1", "H2"],
                        "weight": [60.0, 60.0, 40.0, 40.0], "capped_rate": [0.8, 1.0, None, 0.9]})
    y = P.kpi_period_rates(kpi, "year", {"H1": 0.25, "H2": 0.75}).set_index("kpi_id")["rate"]
    assert y["K1"] == pytest.approx(0.25 * 0.8 + 0.75 * 1.0)
    assert y["K2"] == pytest.approx(0.9)  # the missing half drops out
    h1 = P.kpi_period_rates(kpi, "H1", {"H1": 0.5, "H2": 0.5}).set_index("kpi_id")["rate"]
    assert h1["K1"] == pytest.approx(0.8) and pd.isna(h1["K2"])


def test_rollup_weighted_mean_and_status():
    kpis, projects, pgs, sgs, depts = _chain()
    links = P.kpi_links(kpis, projects, pgs, sgs, depts)
    rates = pd.DataFrame({"kpi_id": ["K1", "K2", "K3", "K4"], "weight": [60.0, 40.0, 100.0, 50.0],
                          "rate": [1.0, 0.8, 0.85, 1.0]})
    roll = P.perspective_rollup(links, rates, RULES, ["시민", "재정"])
    assert roll["perspective"].tolist() == ["시민", "재정"]
    citizen = roll.iloc[0]
    assert citizen["rate"] == pytest.approx(0.6 * 1.0 + 0.4 * 0.8)  # 0.92 -> caution / amber
    assert (citizen["status"], citizen["rag"], citizen["n_kpis"], citizen["n_achieved"], citizen["n_missed"]) == \
        ("caution", "amber", 2, 1, 1)
    assert (roll.iloc[1]["status"], roll.iloc[1]["rag"]) == ("missed", "red")
    assert roll.attrs["n_unlinked"] == 1


def test_strategy_map_levels_carry_rates():
    kpis, projects, pgs, sgs, depts = _chain()
    links = P.kpi_links(kpis, projects, pgs, sgs, depts)
    rates = pd.DataFrame({"kpi_id": ["K1", "K2", "K3", "K4"], "weight": [60.0, 40.0, 100.0, 50.0],
                          "rate": [1.0, 0.8, 0.85, 1.0]})
    m = P.strategy_map(links, rates, RULES, sgs, pgs, kpis, ["재정", "시민"])
    assert m["perspective"].tolist() == ["재정", "시민", "시민"]  # scheme order
    assert m.loc[m["kpi_id"] == "K1", "strategic_goal_rate"].item() == pytest.approx(0.92)
    assert m.loc[m["kpi_id"] == "K1", "rag"].item() == "green"
    assert m.loc[m["kpi_id"] == "K3", "strategic_goal_ko"].item() == "전략2"
    assert "K4" not in set(m["kpi_id"])
