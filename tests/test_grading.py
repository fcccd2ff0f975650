"""Ranks, forced-distribution and cutoff grades, KPI status."""

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st
from scoring_fixtures import scheme_2019, scheme_2020

from bsc_lib.scoring.grading import (
    assign_grades,
    cutoff_grades,
    display_order,
    forced_counts,
    forced_grades,
    kpi_status,
    rank_min,
    rises_strictly,
)

Q = {"S": 0.2, "A": 0.3, "B": 0.4, "C": 0.1}


def test_forced_counts_largest_remainder_13_units():
    # 13 × (0.2, 0.3, 0.4, 0.1) = 2.6, 3.9, 5.2, 1.3 → floors 2, 3, 5, 1 (sum 11), 2 left:
    # the largest fractions are .9 (A) and .6 (S) → 3, 4, 5, 1
    assert forced_counts(13, Q) == {"S": 3, "A": 4, "B": 5, "C": 1}


def test_forced_counts_floor_best():
    # floors 2, 3, 5, 1 and the 2 left over go to S → 4, 3, 5, 1
    assert forced_counts(13, Q, "floor_best") == {"S": 4, "A": 3, "B": 5, "C": 1}


def test_forced_counts_exact_and_float_noise():
    # 10 × 0.3 = 3.0000000000000004 and 10 × 0.1 = 1.0: no spurious remainder
    assert forced_counts(10, Q) == {"S": 2, "A": 3, "B": 4, "C": 1}
    assert forced_counts(0, Q) == {"S": 0, "A": 0, "B": 0, "C": 0}
    # equal fractions go to the better grade: 5 × … = 1, 1.5, 2, 0.5 → floors 1, 1, 2, 0; A before C
    assert forced_counts(5, Q) == {"S": 1, "A": 2, "B": 2, "C": 0}


@settings(max_examples=200, deadline=None)
@given(n=st.integers(0, 500), rounding=st.sampled_from(["largest_remainder", "floor_best"]))
def test_property_counts_sum_to_n_and_stay_near_quota(n, rounding):
    c = forced_counts(n, Q, rounding)
    assert sum(c.values()) == n
    if rounding == "largest_remainder":
        for g, q in Q.items():
            assert abs(c[g] - q * n) < 1.0 + 1e-9


def test_rank_min_ties_and_groups():
    s = pd.Series([90.0, 80.0, 80.0, 70.0])
    assert rank_min(s).tolist() == [1, 2, 2, 4]
    g = pd.Series(["x", "y", "x", "y"])
    assert rank_min(s, g).tolist() == [1, 1, 2, 2]
    # float noise does not split a tie
    assert rank_min(pd.Series([0.1 + 0.2, 0.3])).tolist() == [1, 1]
    assert rank_min(pd.Series([1.0, np.nan])).isna().tolist() == [False, True]


def test_ties_at_a_grade_boundary_get_the_better_grade():
    # 5 units → counts S 1, A 2, B 2, C 0. Totals 90, 90, 80, 70, 60 → ranks 1, 1, 3, 4, 5;
    # positions (rank − 1) 0, 0, 2, 3, 4 against cumulative counts 1, 3, 5, 5 → S, S, A, B, B
    s = pd.Series([90.0, 90.0, 80.0, 70.0, 60.0])
    assert forced_grades(s, None, Q).tolist() == ["S", "S", "A", "B", "B"]


def test_forced_grades_13_units_within_groups():
    s = pd.Series(np.arange(13, 0, -1, dtype=float))  # 13 distinct totals, best first
    assert forced_grades(s, None, Q).tolist() == ["S"] * 3 + ["A"] * 4 + ["B"] * 5 + ["C"]
    groups = pd.Series(["a"] * 5 + ["b"] * 8)
    # group a (5): 1, 2, 2, 0; group b (8): 1.6, 2.4, 3.2, 0.8 → floors 1, 2, 3, 0; 2 left →
    # fractions .8 (C) and .6 (S) → 2, 2, 3, 1
    got = forced_grades(s, groups, Q).tolist()
    assert got[:5] == ["S", "A", "A", "B", "B"]
    assert got[5:] == ["S", "S", "A", "A", "B", "B", "B", "C"]


def test_cutoff_grades():
    cut = {"S": 90, "A": 80, "B": 70, "C": 0}
    s = pd.Series([95.0, 90.0, 89.9999, 10.0, np.nan])
    got = cutoff_grades(s, cut)
    assert got.iloc[:4].tolist() == ["S", "S", "A", "C"]
    assert pd.isna(got.iloc[4])
    # below every cutoff → the last grade
    assert cutoff_grades(pd.Series([5.0]), {"S": 85, "A": 70, "B": 10}).tolist() == ["B"]


def test_assign_grades_follows_the_scheme():
    s = pd.Series([90.0, 72.0, 50.0])
    g19 = assign_grades(s, scheme_2019().grading)        # forced: 3 × quotas → 1, 1, 1, 0
    assert g19["grade"].tolist() == ["S", "A", "B"]
    g20 = assign_grades(s, scheme_2020().grading)        # cutoffs 85 / 70 / 0
    assert g20["grade"].tolist() == ["S", "A", "B"]
    assert g20["rank_overall"].tolist() == [1, 2, 3]


def test_display_order_is_total_then_id():
    df = pd.DataFrame({"id": ["b", "a", "c"], "total": [50.0, 50.0, 70.0]})
    assert display_order(df, "total", "id")["id"].tolist() == ["c", "a", "b"]


def test_rises_strictly_only_for_rising_text():
    assert rises_strictly(np.array(["a", "b", "가"], dtype=object))
    assert rises_strictly(np.array([], dtype=object)) and rises_strictly(np.array(["x"], dtype=object))
    assert not rises_strictly(np.array(["a", "a"], dtype=object))  # equal: not strictly
    assert not rises_strictly(np.array(["b", "a"], dtype=object))
    assert not rises_strictly(np.array(["a", None], dtype=object))  # missing
    assert not rises_strictly(np.array([1, 2], dtype=object))  # not text
    assert not rises_strictly(np.array([np.nan], dtype=object))


def _display_order_by_sort(frame, score_col, id_col):
    """The general path of display_order: pandas' sort by total descending, then id."""
    tmp = frame.assign(_k=frame[score_col].astype(float).round(9))
    return tmp.sort_values(["_k", id_col], ascending=[False, True], kind="stable",
                           na_position="last").drop(columns="_k").reset_index(drop=True)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([0.0, -0.0, 1.0, 1.0 + 1e-12, 2.5, 100.0, np.nan, np.inf]),
                          st.integers(0, 5)), min_size=0, max_size=25, unique_by=lambda t: t[1]))
def test_display_order_of_rising_ids_equals_the_sort(rows):
    # ids already rising (the engine's tables in key order) take the shortcut: same frame as the sort
    rows = sorted(rows, key=lambda t: t[1])
    df = pd.DataFrame({"id": pd.Series([f"u{i}" for _, i in rows], dtype="str"),
                       "total": pd.Series([t for t, _ in rows], dtype="float64"), "x": range(len(rows))})
    pd.testing.assert_frame_equal(display_order(df, "total", "id"), _display_order_by_sort(df, "total", "id"))


def test_kpi_status():
    rates = pd.Series([1.0, 0.95, 0.9, 0.89, np.nan, 1.2])
    got = kpi_status(rates, scheme_2019().kpi_status)
    assert got.iloc[[0, 1, 2, 3, 5]].tolist() == ["achieved", "caution", "caution", "missed", "achieved"]
    assert pd.isna(got.iloc[4])
    got20 = kpi_status(pd.Series([1.15, 1.0, 0.85, 0.5]), scheme_2020().kpi_status)
    assert got20.tolist() == ["exceeded", "achieved", "caution", "missed"]


def test_equal_remainders_favour_the_better_grade_despite_float_noise():
    # 50 × .29 = 14.499999999999998 and 50 × .71 = 35.5 in floating point: both remainders are
    # really .5, so the one unit left goes to the better grade A → 15/35 (not 14/36).
    assert forced_counts(50, {"A": 0.29, "B": 0.71}) == {"A": 15, "B": 35}
