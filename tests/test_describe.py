"""bsc_lib.data.describe on the sample (counts planted by the generator) and a hand-made case."""

from pathlib import Path

import pytest

import bsc_lib
from bsc_lib.data.describe import (
    completeness,
    counts_by_type,
    describe,
    describe_text,
    kpi_mix,
    unit_names,
    with_names,
)

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def data():
    scheme = bsc_lib.load_scheme(ROOT / "params" / "scheme-2019.yaml")
    return bsc_lib.load(ROOT / "data" / "sample" / "2019", scheme=scheme)


def test_counts_by_type_match_the_seed_proportions(data):
    t = counts_by_type(data).set_index("inst_type")
    # spec §5: 45 institutions = 30 main office + 13 business offices + 2 independent bodies
    assert t.loc["main_office", "institutions"] == 30
    assert t.loc["business_office", "institutions"] == 13
    assert t.loc["independent", "institutions"] == 2
    assert t.loc["total", "institutions"] == 45
    assert t.loc["total", "departments"] == 248
    assert t.loc["total", "projects"] == 450
    assert t.loc["total", "kpis"] == 697
    assert t.drop(index="total").sum()["kpis"] == 697


def test_kpi_mix_shares_sum_to_one_per_attribute(data):
    m = kpi_mix(data)
    for _, g in m.groupby("attribute"):
        assert g["kpis"].sum() == 697
        assert abs(g["share"].sum() - 1) < 1e-12
    lv = m[m["attribute"] == "level"].set_index("value")["kpis"]
    assert lv["institution"] == 90 and lv["department"] == 607


def test_completeness_counts_the_planted_missing_and_unverified(data):
    import json

    planted = json.loads((ROOT / "data" / "sample" / "planted-2019.json").read_text(encoding="utf-8"))
    c = completeness(data, 2019).set_index("check")
    assert c.loc["missing_actual_H2", "count"] == len(planted["missing_actual_kpis"])
    assert c.loc["result_rows_H1", "count"] == 697
    assert c.loc["kpis_without_history", "count"] == len(planted["no_history_kpis"])
    # unverified in H2 = the planted unverified rows + the missing ones (a missing actual is not verified)
    assert c.loc["unverified_H2", "count"] == len(planted["unverified_kpis"]) + len(planted["missing_actual_kpis"])


def test_unit_names_and_with_names(data):
    u = unit_names(data)
    assert len(u) == 45 + 248 and u["unit_id"].is_unique
    d = u[u["unit_id"] == data.departments["department_id"].iloc[0]].iloc[0]
    assert d["level"] == "department" and d["institution_id"] == data.departments["institution_id"].iloc[0]
    import pandas as pd

    df = pd.DataFrame({"unit_id": ["I01", "D001"], "x": [1, 2]})
    out = with_names(df, data)
    assert list(out.columns) == ["unit_id", "name_ko", "institution_ko", "x"]
    assert out["name_ko"].notna().all()


def test_describe_text_is_bilingual(data):
    ko = describe_text(data, lang="ko")
    en = describe_text(data, lang="en")
    assert "기관유형별" in ko and "본청" in ko
    assert "By institution type" in en and "Main office" in en
    assert set(describe(data)) == {"tables", "by_type", "kpi_mix", "completeness"}
