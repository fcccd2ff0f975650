"""Result tables of a run: complete, deterministic, no personal names."""

from pathlib import Path

import pytest

import bsc_lib
from bsc_lib.analyses.recipes import compute_tables
from bsc_lib.data.sample import generate
from bsc_lib.present.export import table_sha256

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def tables():
    scheme = bsc_lib.load_scheme(ROOT / "params" / "scheme-2019.yaml")
    data = generate(scale=0.2)
    return data, scheme, compute_tables(data, scheme, 2019, "year")


def test_every_table_present_and_non_empty(tables):
    _, _, t = tables
    want = {"institutional", "departments", "individual", "components", "kpi", "flags", "integrity",
            "kpi_difficulty", "unit_difficulty", "discrimination", "effective_weights",
            "integrity_old_vs_new", "rater_reliability", "rater_leniency", "rank_robustness", "grade_boundaries",
            "grade_counts", "close_calls", "perspective_rollup", "strategy_grid", "rank_changes", "grade_transitions"}
    assert set(t) == want
    assert all(len(v) for k, v in t.items() if k not in ("flags", "close_calls"))


def test_individual_table_has_no_names(tables):
    data, _, t = tables
    assert "name_ko" not in t["individual"].columns
    names = set(data.people["name_ko"].dropna())
    for df in t.values():
        for col in df.columns:
            if df[col].dtype == object or str(df[col].dtype) == "str":
                assert not names & set(df[col].dropna().astype(str)), col


def test_tables_are_deterministic(tables):
    data, scheme, t = tables
    again = compute_tables(data, scheme, 2019, "year")
    assert {k: table_sha256(v) for k, v in t.items()} == {k: table_sha256(v) for k, v in again.items()}


def test_effective_shares_sum_to_one_when_total_is_the_sum(tables):
    _, _, t = tables
    eff = t["effective_weights"]
    for _, g in eff.groupby("evaluation"):
        assert abs(g["effective_share"].sum() - 1) < 0.05  # deductions/clipping make total ≠ Σ exactly
