"""One achievement rate: bsc_lib.scoring.components.achievement.achievement_rate, used by the engine and the analyses.

Hand-checked table of (target, actual, polarity) → rate, the engine's ``results.kpi`` rates equal
``difficulty.achievement_rates`` on the same rows, and the analyses follow the same rule for zero
and negative values.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scoring_fixtures import kpi, make_data, mini_data, res, scheme_2019, tiny_units, with_knobs

from bsc_lib.analyses import difficulty
from bsc_lib.scoring.components.achievement import achievement_rate
from bsc_lib.scoring.engine import evaluate

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample" / "2019"
INF = math.inf

# (target, actual, polarity, uncapped rate, rate with cap 1.2 / floor 0 as the engine reports it)
CASES = [
    # up
    (80, 60, "up", 0.75, 0.75),          # 60/80
    (100, 130, "up", 1.3, 1.3),          # 130/100 (clipping to the cap comes later)
    (100, 0, "up", 0.0, 0.0),            # 0/100
    (100, -10, "up", -0.1, -0.1),        # −10/100: negative (clipped to the floor later)
    (0, 5, "up", INF, 1.2),              # zero target, positive actual: unbounded → cap
    (0, 0, "up", 1.0, 1.0),              # zero target met exactly
    (0, -1, "up", -INF, 0.0),            # zero target, negative actual: unbounded → floor
    (-10, -5, "up", 1.5, 1.5),           # 1 + (−5 + 10)/10
    (-10, -15, "up", 0.5, 0.5),          # 1 + (−15 + 10)/10
    (-10, 5, "up", 2.5, 2.5),            # 1 + (5 + 10)/10
    # down
    (80, 100, "down", 0.8, 0.8),         # 80/100
    (50, 40, "down", 1.25, 1.25),        # 50/40
    (80, 0, "down", INF, 1.2),           # actual 0 beats any positive target: unbounded → cap
    (80, -5, "down", INF, 1.2),          # negative actual, positive target: unbounded → cap
    (0, 0, "down", 1.0, 1.0),            # zero target met exactly (required: 1.0)
    (0, 3, "down", -INF, 0.0),           # zero target exceeded: unbounded → floor
    (0, -3, "down", INF, 1.2),           # below a zero target: unbounded → cap
    (-10, -20, "down", 2.0, 2.0),        # 1 + (−10 + 20)/10
    (-10, -5, "down", 0.5, 0.5),         # 1 + (−10 + 5)/10
    (-10, 5, "down", -0.5, -0.5),        # 1 + (−10 − 5)/10
    # missing values and unknown polarity
    (np.nan, 5, "up", np.nan, np.nan),
    (5, np.nan, "down", np.nan, np.nan),
    (5, 5, "sideways", np.nan, np.nan),
]


def _same(got, expected) -> bool:
    if isinstance(expected, float) and math.isnan(expected):
        return math.isnan(got)
    return got == pytest.approx(expected, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize(("t", "a", "pol", "uncapped", "engine"), CASES)
def test_hand_table(t, a, pol, uncapped, engine):
    assert _same(achievement_rate(t, a, pol), uncapped)
    assert _same(achievement_rate(t, a, pol, cap=1.2, floor=0.0), engine)


def test_hand_table_vectorised_and_series():
    t, a, pol, uncapped, engine = (list(c) for c in zip(*CASES, strict=True))
    arr = achievement_rate(np.array(t, float), np.array(a, float), np.array(pol, dtype=object))
    assert isinstance(arr, np.ndarray)
    np.testing.assert_array_equal(np.isnan(arr), np.isnan(np.array(uncapped, float)))
    idx = pd.Index([f"r{i}" for i in range(len(t))])
    s = achievement_rate(pd.Series(t, index=idx), pd.Series(a, index=idx), pd.Series(pol, index=idx),
                         cap=1.2, floor=0.0)
    assert isinstance(s, pd.Series) and s.name == "rate" and list(s.index) == list(idx)
    np.testing.assert_allclose(s.to_numpy(), np.array(engine, float), rtol=1e-12, equal_nan=True)
    assert not np.isinf(s.to_numpy()).any()


@pytest.mark.parametrize(("t", "a", "lo", "hi", "expected"), [
    (100, 100, 90, 110, 1.0),      # inside
    (100, 115, 90, 110, 0.5),      # 5 outside a 20-wide band, fall-off 0.5 × 20 = 10 → 1 − 5/10
    (100, 115, 110, 90, 0.5),      # inverted limits are swapped
    (100, 95, 90, np.nan, 1.0),    # missing high limit → the target: [90, 100]
    (100, 105, 90, np.nan, 0.0),   # … 5 above 100 with a 0.5 × 10 = 5 fall-off → 1 − 5/5 = 0
    (0, 0, 0, 0, 1.0),             # zero width at 0: exact hit
    (0, 1, 0, 0, 0.0),             # … any miss is 0
])
def test_band_rule(t, a, lo, hi, expected):
    got = achievement_rate(t, a, "band", lo, hi, band_falloff=0.5, cap=1.2, floor=0.3)
    assert got == pytest.approx(expected)  # cap and floor do not apply to band KPIs


def test_baseline_progress():
    # up B 50, T 70, A 65 → (65 − 50)/(70 − 50) = 0.75; target not beyond the baseline → ratio 60/50;
    # down B 50, T 40, A 45 → (45 − 50)/(40 − 50) = 0.5; no baseline → ratio 80/100
    got = achievement_rate([70, 50, 40, 80], [65, 60, 45, 100], ["up", "up", "down", "down"],
                           baseline=[50, 50, 50, np.nan])
    np.testing.assert_allclose(got, [0.75, 1.2, 0.5, 0.8])


# --------------------------------------------------------------------------- engine == analyses
def _engine_vs_difficulty(data, scheme, year=2019):
    """The engine's results.kpi rates and difficulty.achievement_rates on the same rows."""
    ach = scheme.components.achievement
    r = evaluate(data, scheme, year=year)
    k = r.kpi
    kp = data.kpis.assign(kpi_id=data.kpis["kpi_id"].astype("str")).set_index("kpi_id")
    got = difficulty.achievement_rates(
        k, k["polarity"], kp["band_low"].reindex(k["kpi_id"]), kp["band_high"].reindex(k["kpi_id"]),
        cap=ach.cap, floor=ach.floor, band_falloff=ach.band_falloff)
    return k, got


def test_engine_rates_equal_difficulty_rates_on_the_sample():
    if not SAMPLE.is_dir():
        pytest.fail("data/sample/2019 is missing: run `make sample`")
    from bsc_lib.data.io import load

    scheme = scheme_2019()
    data = load(SAMPLE, scheme=scheme)
    k, got = _engine_vs_difficulty(data, scheme)
    # 1394 KPI-half rows: up, down and band KPIs; the 6 missing actuals are NaN in both
    assert len(k) == 1394 and set(k["polarity"]) == {"up", "down", "band"}
    assert k["rate"].isna().sum() == k["actual"].isna().sum() == 6
    np.testing.assert_array_equal(got.to_numpy(), k["rate"].to_numpy(float))  # bit for bit, NaN = NaN


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("cap", [1.0, 1.3])
def test_engine_rates_equal_difficulty_rates_with_zeros_and_negatives(seed, cap):
    # mini worlds with targets and actuals drawn from {−20, −1, 0, 0, 1, 50, 100, 200, missing}
    scheme = with_knobs(scheme_2019(), "achievement", cap=cap, floor=0.0)
    data = mini_data(scheme, seed, extreme=True)
    k, got = _engine_vs_difficulty(data, scheme)
    t, a = k["target"].to_numpy(float), k["actual"].to_numpy(float)
    assert ((t == 0) | (t < 0) | (a <= 0)).any()  # the special cases are there
    np.testing.assert_array_equal(got.to_numpy(), k["rate"].to_numpy(float))


def test_engine_scores_down_kpi_with_zero_target_and_zero_actual_as_met():
    # K1 down T 0 A 0 → 1 (met); K2 down T 0 A 2 → floor 0; weights 50/50 → 20 × 0.5 = 10
    deps, insts = tiny_units(1)
    data = make_data(institutions=insts, departments=deps,
                     kpis=[kpi("K1", "D1", "down", 50.0), kpi("K2", "D1", "down", 50.0)],
                     kpi_results=[res("K1", 0.0, 0.0), res("K2", 0.0, 2.0)])
    r = evaluate(data, scheme_2019(), year=2019, half="H1")
    rate = r.kpi.set_index("kpi_id")["rate"]
    assert rate["K1"] == 1.0 and rate["K2"] == 0.0
    assert r.departments.set_index("department_id").loc["D1", "achievement"] == pytest.approx(10.0)
    assert difficulty.achievement_rates(r.kpi, r.kpi["polarity"]).tolist() == [1.0, -INF]


# --------------------------------------------------------------------------- the analyses follow the rule
def test_bunching_counts_a_zero_target_met_exactly():
    # U1: down T 0 A 0 → rate 1 (in [1, 1.03)); up T 100 A 90 → 0.9; down T 5 A 0 → +inf (a rate,
    # outside the window) → 1 of 3. U2: up 100/100 → 1 of 1. Before the one rule the zero-target
    # rows were excluded.
    kpis = pd.DataFrame({"kpi_id": ["A", "B", "C", "D"], "owner_id": ["U1", "U1", "U1", "U2"],
                         "polarity": ["down", "up", "down", "up"]})
    res_ = pd.DataFrame({"kpi_id": ["A", "B", "C", "D"], "year": 2019, "half": "H2",
                         "target": [0.0, 100.0, 5.0, 100.0], "actual": [0.0, 90.0, 0.0, 100.0]})
    b = difficulty.achievement_bunching(res_, kpis=kpis).set_index("owner_id")
    assert b["n_rates"].to_dict() == {"U1": 3, "U2": 1}
    assert b["n_bunched"].to_dict() == {"U1": 1, "U2": 1}
    assert b["n_excluded"].to_dict() == {"U1": 0, "U2": 0}


def test_chronic_overachiever_with_zero_targets():
    # A down, targets 0 and actuals 0 in both halves → rate 1 ≥ cap 1 → chronic (was: no valid period);
    # B down, targets 5, actuals 0 → +inf → chronic; C up, target 0, actual −1 → −inf → not met
    kpis = pd.DataFrame({"kpi_id": ["A", "B", "C"], "polarity": ["down", "down", "up"]})
    hist = pd.DataFrame({"kpi_id": [], "year": [], "actual": []})
    res_ = pd.DataFrame({"kpi_id": ["A", "A", "B", "B", "C", "C"], "year": 2019, "half": ["H1", "H2"] * 3,
                         "target": [0.0, 0.0, 5.0, 5.0, 0.0, 0.0], "actual": [0.0, 0.0, 0.0, 0.0, -1.0, 3.0]})
    d = difficulty.kpi_difficulty(kpis, hist, res_).set_index("kpi_id")
    assert d["n_result_periods"].to_dict() == {"A": 2, "B": 2, "C": 2}
    assert d["chronic_overachiever"].to_dict() == {"A": True, "B": True, "C": False}


def test_target_loosening_with_zero_and_negative_targets():
    # A up 0 → −1: unbounded below → loosened; −1 → −2: 1 + (−2 + 1)/1 = 0 → loosened
    # B down 5 → 0: rate +inf (tightened); 0 → 0: 1 (unchanged); 0 → 2: unbounded below → loosened
    # C up 100 → 96 with rel_tol 0.05: 0.96 ≥ 0.95 → not loosened
    t = pd.DataFrame({"kpi_id": ["A"] * 3 + ["B"] * 4 + ["C"] * 2,
                      "year": [2017, 2018, 2019, 2016, 2017, 2018, 2019, 2018, 2019],
                      "target": [0.0, -1.0, -2.0, 5.0, 0.0, 0.0, 2.0, 100.0, 96.0],
                      "polarity": ["up"] * 3 + ["down"] * 4 + ["up"] * 2})
    r = difficulty.target_loosening(t, rel_tol=0.05).set_index("kpi_id")
    assert r["n_loosened"].to_dict() == {"A": 2, "B": 1, "C": 0}
    assert r["max_run"].to_dict() == {"A": 2, "B": 1, "C": 0}
    assert r["loosened_last"].to_dict() == {"A": True, "B": True, "C": False}
