"""Achievement component: hand-calculated rates, rules, unit scores and properties."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scoring_fixtures import kpi, res, scheme_2019, table, tiny_units, with_knobs

from bsc_lib.errors import DataError
from bsc_lib.scoring.components.achievement import achievement_rate, score_achievement


def run(kpis, results, history=(), *, n_depts=1, points=20.0, weights=None, **knobs):
    s = with_knobs(scheme_2019(), "achievement", **knobs)
    deps, insts = tiny_units(n_depts)
    return score_achievement(
        table("kpis", kpis), table("kpi_results", results), table("kpi_history", list(history)), deps, insts,
        s.components.achievement, points=points, year=2019, weights=weights or {"H1": 1.0})


def pts(r, unit="D1"):
    return float(r.scores.set_index("unit_id").loc[unit, "points"])


def kpi_row(r, kpi_id, half="H1"):
    k = r.tables["kpi"]
    return k.loc[(k["kpi_id"] == kpi_id) & (k["half"] == half)].iloc[0]


def flags_of(r, kpi_id=None):
    f = r.flags
    return set(f.loc[f["item"] == kpi_id, "flag"]) if kpi_id else set(f["flag"])


# --------------------------------------------------------------------------- rates
def test_ratio_up_and_down_weighted_unit_score():
    # up: 60/80 = 0.75; down: 80/100 = 0.8; weights 50/50 → 20 × (0.75 + 0.8)/2 = 15.5
    r = run([kpi("K1", weight=50), kpi("K2", polarity="down", weight=50)],
            [res("K1", 80, 60), res("K2", 80, 100)])
    assert kpi_row(r, "K1")["rate"] == pytest.approx(0.75)
    assert kpi_row(r, "K2")["rate"] == pytest.approx(0.8)
    assert pts(r) == pytest.approx(15.5)
    # the KPI points are the contributions: 20 × 0.5 × 0.75 = 7.5 and 20 × 0.5 × 0.8 = 8
    assert kpi_row(r, "K1")["points"] == pytest.approx(7.5)
    assert kpi_row(r, "K2")["points"] == pytest.approx(8.0)


@pytest.mark.parametrize(
    ("up", "t", "a", "expected"),
    [
        (True, 0, 5, 1.2),      # up, zero target, positive actual → cap
        (True, 0, 0, 1.0),      # up, target 0 met exactly → 1
        (True, 0, -1, 0.0),     # up, zero target, negative actual → floor
        (True, -10, -5, 1.5),   # 1 + (−5 − (−10))/10 = 1.5
        (True, -10, -15, 0.5),  # 1 + (−15 + 10)/10 = 0.5
        (True, 100, -10, -0.1),  # −10/100 (raw; clipped to the floor later)
        (False, 80, 0, 1.2),    # down with actual 0 → cap
        (False, 80, -5, 1.2),   # down with a negative actual → cap
        (False, 0, 0, 1.0),     # down, zero target met → 1
        (False, 0, 3, 0.0),     # down, zero target exceeded → floor
        (False, 0, -3, 1.2),    # down, below a zero target → cap
        (False, -10, -20, 2.0),  # 1 + (−10 + 20)/10 = 2
        (False, -10, -5, 0.5),  # 1 + (−10 + 5)/10 = 0.5
        (True, 50, np.nan, np.nan),
    ],
)
def test_ratio_rate_guarded_cases(up, t, a, expected):
    got = achievement_rate(np.array([t], float), np.array([a], float), np.array(["up" if up else "down"]),
                           cap=1.2, floor=0.0)[0]
    if np.isnan(expected):
        assert np.isnan(got)
    else:
        assert got == pytest.approx(expected)
        assert np.isfinite(got)


def test_guarded_cases_are_flagged_and_clipped():
    r = run([kpi("K1", weight=25), kpi("K2", polarity="down", weight=25), kpi("K3", weight=25),
             kpi("K4", polarity="down", weight=25)],
            [res("K1", 0, 5), res("K2", 80, 0), res("K3", 100, -10), res("K4", -10, -5)])
    assert "zero_target" in flags_of(r, "K1")
    assert "zero_actual" in flags_of(r, "K2")
    assert "negative_value" in flags_of(r, "K3")
    assert "negative_value" in flags_of(r, "K4")
    # capped (cap 1, floor 0): K1 1, K2 1, K3 0, K4 0.5 → 20 × 2.5/4 = 12.5
    assert kpi_row(r, "K3")["capped_rate"] == 0.0
    assert pts(r) == pytest.approx(12.5)
    assert np.isfinite(r.tables["kpi"][["rate", "capped_rate", "points"]].to_numpy()).all()


@pytest.mark.parametrize(
    ("a", "lo", "hi", "expected"),
    [
        (100, 90, 110, 1.0),  # inside
        (110, 90, 110, 1.0),  # at the upper limit
        (90, 90, 110, 1.0),   # at the lower limit
        (115, 90, 110, 0.5),  # 5 outside, fall-off span 0.5 × 20 = 10 → 1 − 5/10
        (85, 90, 110, 0.5),
        (120, 90, 110, 0.0),  # exactly at the end of the fall-off
        (130, 90, 110, 0.0),  # beyond the fall-off
        (60, 50, 50, 0.6),    # zero width: span 0.5 × |50| = 25 → 1 − 10/25
        (50, 50, 50, 1.0),
        (0, 0, 0, 1.0),       # zero width at 0: exact hit
        (1, 0, 0, 0.0),       # … any miss is 0
    ],
)
def test_band_rate(a, lo, hi, expected):
    got = achievement_rate(np.nan, a, "band", lo, hi, band_falloff=0.5)
    assert got == pytest.approx(expected)
    assert achievement_rate(100.0, a, "band", hi, lo, band_falloff=0.5) == pytest.approx(expected)  # swapped


def test_band_missing_and_inverted_limits():
    r = run([kpi("K1", polarity="band", weight=50, band=(110, 90)),
             {**kpi("K2", polarity="band", weight=50), "band_low": 90.0}],
            [res("K1", 100, 115), res("K2", 100, 95)])
    # K1: limits swapped to [90, 110] → 115 is 5 out of a 10-wide fall-off → 0.5
    assert kpi_row(r, "K1")["rate"] == pytest.approx(0.5)
    assert "band_inverted" in flags_of(r, "K1")
    # K2: missing high limit → target 100: band [90, 100], 95 inside → 1
    assert kpi_row(r, "K2")["rate"] == pytest.approx(1.0)
    assert "no_band" in flags_of(r, "K2")


# --------------------------------------------------------------------------- formulas and rules
def test_baseline_progress():
    hist = [{"kpi_id": "K1", "year": 2017, "actual": 40.0}, {"kpi_id": "K1", "year": 2018, "actual": 50.0},
            {"kpi_id": "K1", "year": 2019, "actual": 99.0},  # not before the year: ignored
            {"kpi_id": "K2", "year": 2018, "actual": 50.0},
            {"kpi_id": "K4", "year": 2018, "actual": 50.0},
            {"kpi_id": "K5", "year": 2017, "actual": 30.0}, {"kpi_id": "K5", "year": 2018, "actual": None}]
    r = run([kpi("K1", weight=20), kpi("K2", polarity="down", weight=20), kpi("K3", weight=20),
             kpi("K4", weight=20), kpi("K5", weight=20)],
            [res("K1", 70, 65), res("K2", 40, 45), res("K3", 80, 60), res("K4", 50, 60), res("K5", 70, 50)],
            hist, formula="baseline_progress", cap=1.2)
    assert kpi_row(r, "K1")["baseline"] == 50.0
    assert kpi_row(r, "K1")["rate"] == pytest.approx(0.75)   # (65 − 50)/(70 − 50)
    assert kpi_row(r, "K2")["rate"] == pytest.approx(0.5)    # (45 − 50)/(40 − 50)
    assert kpi_row(r, "K3")["rate"] == pytest.approx(0.75)   # no history → ratio 60/80
    assert "no_baseline" in flags_of(r, "K3")
    assert kpi_row(r, "K4")["rate"] == pytest.approx(1.2)    # target = baseline → ratio 60/50
    assert "target_not_beyond_baseline" in flags_of(r, "K4")
    assert kpi_row(r, "K5")["rate"] == pytest.approx(0.5)    # last non-missing (2017: 30): 20/40
    # unit: 20 × (0.75 + 0.5 + 0.75 + 1.2 + 0.5)/5 / 1.2 = 20 × 0.74/1.2 = 12.333…
    assert pts(r) == pytest.approx(20 * 0.74 / 1.2)


@pytest.mark.parametrize(("cap", "expected"), [(1.0, 18.0), (1.2, 20 * 1.0 / 1.2)])
def test_cap_lets_over_achievement_compensate(cap, expected):
    # K1 130/100 = 1.3 → capped 1.0 or 1.2; K2 0.8. cap 1: 20 × 0.9 = 18; cap 1.2: 20 × 1.0/1.2
    r = run([kpi("K1", weight=50), kpi("K2", weight=50)], [res("K1", 100, 130), res("K2", 100, 80)], cap=cap)
    assert pts(r) == pytest.approx(expected)
    assert kpi_row(r, "K1")["capped_rate"] == pytest.approx(cap)


@pytest.mark.parametrize(("rule", "expected"), [("zero", 12.0), ("exclude", 20.0)])
def test_missing_rule(rule, expected):
    # K1 w60 rate 1; K2 w40 missing. zero: 20 × 0.6 = 12; exclude: 20 × 60/60 = 20
    r = run([kpi("K1", weight=60), kpi("K2", weight=40)], [res("K1", 100, 100), res("K2", 100, None)],
            missing_rule=rule)
    assert pts(r) == pytest.approx(expected)
    assert "missing_actual" in flags_of(r, "K2")
    row = kpi_row(r, "K2")
    assert np.isnan(row["rate"])
    assert (row["capped_rate"] == 0.0) if rule == "zero" else np.isnan(row["capped_rate"])


@pytest.mark.parametrize(("rule", "expected"), [("zero", 12.0), ("exclude", 20.0)])
def test_missing_row_follows_missing_rule(rule, expected):
    r = run([kpi("K1", weight=60), kpi("K2", weight=40)], [res("K1", 100, 100)], missing_rule=rule)
    assert pts(r) == pytest.approx(expected)
    assert "missing_actual" in flags_of(r, "K2")


@pytest.mark.parametrize(("rule", "expected"), [("zero", 12.0), ("exclude", 20.0)])
def test_unverified_rule(rule, expected):
    r = run([kpi("K1", weight=60), kpi("K2", weight=40)],
            [res("K1", 100, 100), res("K2", 100, 90, verified=False)], unverified_rule=rule)
    assert pts(r) == pytest.approx(expected)
    assert "unverified" in flags_of(r, "K2")
    assert kpi_row(r, "K2")["rate"] == pytest.approx(0.9)  # the raw rate stays visible


def test_unit_without_kpis_and_all_excluded():
    r = run([kpi("K1", weight=100)], [res("K1", 100, None)], n_depts=2, missing_rule="exclude")
    assert pts(r, "D2") == 0.0
    f = r.flags
    assert ((f["unit_id"] == "D2") & (f["flag"] == "no_kpis")).any()
    assert pts(r, "D1") == 0.0
    assert ((f["unit_id"] == "D1") & (f["flag"] == "no_scored_kpis")).any()


def test_zero_weights_use_equal_weights():
    r = run([kpi("K1", weight=0), kpi("K2", weight=0)], [res("K1", 100, 100), res("K2", 100, 50)])
    assert pts(r) == pytest.approx(15.0)  # 20 × (1 + 0.5)/2
    assert "zero_weights" in flags_of(r)


@pytest.mark.parametrize(("weights", "expected"), [({"H1": 0.5, "H2": 0.5}, 15.0), ({"H1": 0.4, "H2": 0.6}, 14.0)])
def test_halves_combined(weights, expected):
    # H1 rate 1, H2 rate 0.5: 20 × (0.5 × 1 + 0.5 × 0.5) = 15; 20 × (0.4 + 0.6 × 0.5) = 14
    r = run([kpi("K1")], [res("K1", 100, 100, "H1"), res("K1", 100, 50, "H2")], weights=weights)
    assert pts(r) == pytest.approx(expected)
    assert r.tables["kpi"]["points"].sum() == pytest.approx(expected)


@pytest.mark.parametrize(("mode", "expected"), [
    ("departments_mean", 15.0),       # (20 + 10)/2
    ("own_kpis", 5.0),                # 20 × 0.25
    ("all_kpis", 20 * 1.75 / 3),      # pooled weights 100/100/100: (1 + 0.5 + 0.25)/3
])
def test_institution_from(mode, expected):
    r = run([kpi("K1", "D1"), kpi("K2", "D2"), kpi("KI", "I1", level="institution")],
            [res("K1", 100, 100), res("K2", 100, 50), res("KI", 100, 25)], n_depts=2, institution_from=mode)
    assert pts(r, "D1") == pytest.approx(20.0)
    assert pts(r, "D2") == pytest.approx(10.0)
    assert pts(r, "I1") == pytest.approx(expected)
    d = r.details
    assert d.loc[d["unit_id"] == "I1", "value"].sum() == pytest.approx(expected, abs=1e-12)
    ki = kpi_row(r, "KI")
    if mode == "departments_mean":
        assert ki["points"] == 0.0
        assert "not_used" in ki["flag"]
    else:
        assert ki["points"] > 0


def test_negative_weight_is_a_data_error():
    with pytest.raises(DataError, match="weight"):
        run([kpi("K1", weight=-5)], [res("K1", 100, 100)])


# --------------------------------------------------------------------------- properties
finite = st.floats(-1e4, 1e4, allow_nan=False, allow_infinity=False)


@settings(max_examples=200, deadline=None)
@given(t=finite, a1=finite, a2=finite, cap=st.sampled_from([1.0, 1.2, 1.5]), floor=st.sampled_from([0.0, 0.3]))
def test_property_up_rate_never_falls_when_actual_rises(t, a1, a2, cap, floor):
    lo, hi = min(a1, a2), max(a1, a2)
    r = achievement_rate(np.array([t, t]), np.array([lo, hi]), np.array(["up", "up"]), cap=cap, floor=floor)
    c = np.clip(r, floor, cap)
    assert np.isfinite(r).all()
    assert c[1] >= c[0] - 1e-12


@settings(max_examples=200, deadline=None)
@given(a=finite, lo=finite, width=st.floats(0, 1e4), falloff=st.floats(0.01, 3))
def test_property_band_rate_in_unit_interval(a, lo, width, falloff):
    r = achievement_rate(np.array([np.nan]), np.array([a]), np.array(["band"]), np.array([lo]),
                         np.array([lo + width]), band_falloff=falloff)[0]
    assert 0.0 <= r <= 1.0


kpi_case = st.tuples(st.floats(-50, 200, allow_nan=False), st.floats(-50, 300, allow_nan=False),
                     st.floats(0, 100, allow_nan=False), st.sampled_from(["up", "down", "band"]))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases=st.lists(kpi_case, min_size=1, max_size=5), which=st.integers(0, 4),
       bump=st.floats(0, 500, allow_nan=False), formula=st.sampled_from(["ratio", "baseline_progress"]),
       cap=st.sampled_from([1.0, 1.2]))
def test_property_raising_an_up_actual_never_lowers_the_unit(cases, which, bump, formula, cap):
    kp = [kpi(f"K{i}", polarity=p, weight=w, band=(t - 10, t + 10) if p == "band" else None)
          for i, (t, _, w, p) in enumerate(cases)]
    kp[which % len(kp)]["polarity"] = "up"
    hist = [{"kpi_id": f"K{i}", "year": 2018, "actual": t * 0.8} for i, (t, *_rest) in enumerate(cases)]
    base = [res(f"K{i}", t, a) for i, (t, a, _, _) in enumerate(cases)]
    bumped = [dict(r) for r in base]
    bumped[which % len(kp)]["actual"] += bump
    r0 = run(kp, base, hist, formula=formula, cap=cap)
    r1 = run(kp, bumped, hist, formula=formula, cap=cap)
    assert pts(r1) >= pts(r0) - 1e-9
    assert 0.0 <= pts(r1) <= 20.0 + 1e-9
    assert not pd.isna(r1.tables["kpi"]["capped_rate"]).any()
