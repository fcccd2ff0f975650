"""Tests of bsc_lib.analyses.difficulty: hand-calculated trend statistics, flags, unit summaries,
the pre-evaluation cross-check, the gaming detectors and recovery of the sample's plants."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bsc_lib.analyses.difficulty import (
    _mean_per_kpi_year,
    _shared_id_codes,
    achievement_bunching,
    challenge_crosscheck,
    kpi_difficulty,
    recovery,
    target_loosening,
    unit_difficulty,
)

# t quantile 0.975 with 2 df; published tables give 4.303 (e.g. NIST/SEMATECH e-Handbook,
# table 1.3.6.7.2); exact value 4.302652729911275.
T_975_2 = 4.302652729911275


def _frames(series: dict[str, list], polarity: dict[str, str], target: dict[str, float],
            years: dict[str, list[int]] | None = None, owner: dict[str, str] | None = None,
            kpi_type: dict[str, str] | None = None, weight: dict[str, float] | None = None):
    ids = list(polarity)
    kpis = pd.DataFrame({
        "kpi_id": ids,
        "owner_id": [(owner or {}).get(k, "D1") for k in ids],
        "name_ko": [f"지표 {k}" for k in ids],
        "polarity": [polarity[k] for k in ids],
        "kpi_type": [(kpi_type or {}).get(k, "outcome") for k in ids],
        "weight": [(weight or {}).get(k, 100.0 / len(ids)) for k in ids],
    })
    rows = []
    for k, ys in series.items():
        yrs = (years or {}).get(k, list(range(2019 - len(ys), 2019)))
        rows += [(k, y, v) for y, v in zip(yrs, ys, strict=True)]
    history = pd.DataFrame(rows, columns=["kpi_id", "year", "actual"])
    results = pd.DataFrame({
        "kpi_id": list(target), "year": 2019, "half": "H2",
        "target": list(target.values()), "actual": np.nan, "verified": True,
    })
    return kpis, history, results


def _row(d: pd.DataFrame, kpi: str) -> pd.Series:
    return d.set_index("kpi_id").loc[kpi]


# --------------------------------------------------------------------------- KPI level


def test_four_point_series_hand_calculation():
    # history 2015..2018 = 10, 12, 13, 15; x = year − 2019 = −4, −3, −2, −1
    # x̄ = −2.5, ȳ = 12.5, Sxx = 2.25+0.25+0.25+2.25 = 5
    # Sxy = (−1.5)(−2.5)+(−0.5)(−0.5)+(0.5)(0.5)+(1.5)(2.5) = 8 → slope b = 1.6
    # F = ȳ + b(0 − x̄) = 12.5 + 1.6·2.5 = 16.5
    # fitted 10.1, 11.7, 13.3, 14.9 → residuals −0.1, 0.3, −0.3, 0.1 → SSR = 0.2, s² = 0.2/2 = 0.1
    # pred var = s²(1 + 1/n + (0 − x̄)²/Sxx) = 0.1(1 + 0.25 + 6.25/5) = 0.25 → pred_se = 0.5
    # PI = 16.5 ± t(0.975, 2)·0.5
    # target 18 (up): gap = 1.5/16.5 = 0.090909…, z = 1.5/0.5 = 3
    # percentile: 18 is above all four history values → 100
    # CAGR = (15/10)^(1/3) − 1 = 0.1447142…; mean_3y = (12+13+15)/3
    kpis, hist, res = _frames({"A": [10, 12, 13, 15]}, {"A": "up"}, {"A": 18})
    r = _row(kpi_difficulty(kpis, hist, res), "A")
    assert r["n_history"] == 4
    assert r["trend_forecast"] == pytest.approx(16.5)
    assert r["pred_se"] == pytest.approx(0.5)
    assert r["pi_low"] == pytest.approx(16.5 - T_975_2 * 0.5)
    assert r["pi_high"] == pytest.approx(16.5 + T_975_2 * 0.5)
    assert r["gap"] == pytest.approx(1.5 / 16.5)
    assert r["challenge_z"] == pytest.approx(3.0)
    assert r["target_percentile"] == pytest.approx(100.0)
    assert r["cagr"] == pytest.approx(1.5 ** (1 / 3) - 1)
    assert r["mean_3y"] == pytest.approx(40 / 3)
    assert r["last_actual"] == 15 and r["last_year"] == 2018
    assert r["assessable"] and not r["easy"] and not r["regressive"] and not r["hard"]
    assert r["reason"] == ""


def test_polarity_down_signs_gap_and_z():
    # same history, down KPI, target 15.5: gap = (F − target)/|F| = (16.5 − 15.5)/16.5,
    # z = (16.5 − 15.5)/0.5 = 2. Percentile (down: share of history above the target): none → 0.
    # 15.5 > last actual 15 → regressive for a down KPI.
    kpis, hist, res = _frames({"B": [10, 12, 13, 15]}, {"B": "down"}, {"B": 15.5})
    r = _row(kpi_difficulty(kpis, hist, res), "B")
    assert r["gap"] == pytest.approx(1 / 16.5)
    assert r["challenge_z"] == pytest.approx(2.0)
    assert r["target_percentile"] == pytest.approx(0.0)
    assert r["regressive"]
    assert not r["easy"]


def test_easy_flag_and_margin_parameter():
    # target 16 (up) against F = 16.5: gap = −0.5/16.5 = −0.0303 < −0.02 → easy; z = −1
    # percentile: 16 is above 10, 12, 13, 15 → 100 (easy against the trend, not against the levels)
    kpis, hist, res = _frames({"C": [10, 12, 13, 15]}, {"C": "up"}, {"C": 16})
    r = _row(kpi_difficulty(kpis, hist, res), "C")
    assert r["gap"] == pytest.approx(-0.5 / 16.5)
    assert r["challenge_z"] == pytest.approx(-1.0)
    assert r["easy"]
    assert not _row(kpi_difficulty(kpis, hist, res, easy_margin=0.05), "C")["easy"]


def test_percentile_mid_rank_with_ties():
    # history 10, 12, 12, 15; up target 12: below = 1 (10), ties = 2 → (1 + 0.5·2)/4 = 50 %
    # down target 12: above = 1 (15) → (1 + 1)/4 = 50 %; down target 11: above 12, 12, 15 → 75 %
    kpis, hist, res = _frames(
        {"U": [10, 12, 12, 15], "D": [10, 12, 12, 15], "E": [10, 12, 12, 15]},
        {"U": "up", "D": "down", "E": "down"}, {"U": 12, "D": 12, "E": 11},
    )
    d = kpi_difficulty(kpis, hist, res)
    assert _row(d, "U")["target_percentile"] == pytest.approx(50.0)
    assert _row(d, "D")["target_percentile"] == pytest.approx(50.0)
    assert _row(d, "E")["target_percentile"] == pytest.approx(75.0)


def test_band_kpi_gap_nan_with_reason():
    kpis, hist, res = _frames({"D": [1, 2, 3, 5]}, {"D": "band"}, {"D": 3})
    r = _row(kpi_difficulty(kpis, hist, res), "D")
    assert math.isnan(r["gap"]) and math.isnan(r["challenge_z"]) and math.isnan(r["target_percentile"])
    assert "band" in r["reason"]
    assert not r["assessable"] and not r["easy"] and not r["regressive"]
    # the trend is still reported: ȳ = 2.75, Sxy = 1.5·1.75 + 0.5·0.75 + 0.5·0.25 + 1.5·2.25 = 6.5,
    # b = 6.5/5 = 1.3 → F = 2.75 + 1.3·2.5 = 6.0
    assert r["trend_forecast"] == pytest.approx(6.0)


def test_one_history_point():
    # n = 1: no trend, no SE, no CAGR; percentile still defined (target 11 > 10 → 100);
    # regressive is still decidable (11 ≥ 10: not regressive).
    kpis, hist, res = _frames({"E": [10]}, {"E": "up"}, {"E": 11})
    r = _row(kpi_difficulty(kpis, hist, res), "E")
    assert r["n_history"] == 1
    assert all(math.isnan(r[c]) for c in ("trend_forecast", "pred_se", "gap", "challenge_z", "cagr", "pi_low"))
    assert r["target_percentile"] == pytest.approx(100.0)
    assert "1 history point" in r["reason"]
    assert not r["easy"] and not r["assessable"] and not r["no_history"]


def test_two_points_min_history_parameter():
    # 2017 = 10, 2018 = 12: line through both → F(2019) = 14; no residual df → pred_se NaN.
    # target 13: gap = (13 − 14)/14 = −0.0714. Not assessable with min_history=3, easy with 2.
    kpis, hist, res = _frames({"F": [10, 12]}, {"F": "up"}, {"F": 13})
    r = _row(kpi_difficulty(kpis, hist, res), "F")
    assert r["trend_forecast"] == pytest.approx(14.0)
    assert math.isnan(r["pred_se"])
    assert r["gap"] == pytest.approx(-1 / 14)
    assert not r["easy"]
    assert _row(kpi_difficulty(kpis, hist, res, min_history=2), "F")["easy"]


def test_constant_history_zero_se_guarded():
    # 5, 5, 5, 5: F = 5, SSR = 0 → pred_se = 0 → z would be 0/0: NaN with a reason, no inf.
    # target 5: gap 0; percentile: 4 ties → 50.
    kpis, hist, res = _frames({"G": [5, 5, 5, 5]}, {"G": "up"}, {"G": 5})
    r = _row(kpi_difficulty(kpis, hist, res), "G")
    assert r["trend_forecast"] == pytest.approx(5.0)
    assert r["pred_se"] == 0.0
    assert math.isnan(r["challenge_z"])
    assert "prediction SE 0" in r["reason"]
    assert r["gap"] == pytest.approx(0.0)
    assert r["target_percentile"] == pytest.approx(50.0)
    assert r["pi_low"] == pytest.approx(5.0) and r["pi_high"] == pytest.approx(5.0)


def test_zero_history_forecast_zero():
    # 0, 0, 0, 0: F = 0 → relative gap undefined; CAGR undefined (non-positive values).
    kpis, hist, res = _frames({"H": [0, 0, 0, 0]}, {"H": "up"}, {"H": 1})
    d = kpi_difficulty(kpis, hist, res)
    r = _row(d, "H")
    assert r["trend_forecast"] == 0.0
    assert math.isnan(r["gap"]) and math.isnan(r["cagr"])
    assert "forecast is 0" in r["reason"] and "CAGR" in r["reason"]
    assert not np.isinf(d.select_dtypes("number").to_numpy(dtype=float)).any()


def test_negative_values():
    # N1: −5, −2, −1, 1: ȳ = −1.75; dy = −3.25, −0.25, 0.75, 2.75
    #     Sxy = 4.875 + 0.125 + 0.375 + 4.125 = 9.5 → b = 1.9 → F = −1.75 + 1.9·2.5 = 3.0
    #     target 2 (up): gap = (2 − 3)/|3| = −1/3 → easy. CAGR undefined (first value negative).
    # N2: 1, −1, −3, −5: exact line, slope −2 → F = −7; target −6 (up):
    #     gap = (−6 − (−7))/|−7| = +1/7 (more demanding than the trend) but −6 < last −5 → regressive.
    kpis, hist, res = _frames({"N1": [-5, -2, -1, 1], "N2": [1, -1, -3, -5]},
                              {"N1": "up", "N2": "up"}, {"N1": 2, "N2": -6})
    d = kpi_difficulty(kpis, hist, res)
    n1, n2 = _row(d, "N1"), _row(d, "N2")
    assert n1["trend_forecast"] == pytest.approx(3.0)
    assert n1["gap"] == pytest.approx(-1 / 3)
    assert n1["easy"] and math.isnan(n1["cagr"])
    assert n2["trend_forecast"] == pytest.approx(-7.0)
    assert n2["gap"] == pytest.approx(1 / 7)
    assert n2["regressive"] and n2["hard"] and not n2["easy"]


def test_no_history_missing_target_and_ignored_rows():
    # K "X": no history at all; "Y": history with a NaN and a 2019 row (both ignored) → 3 points
    # 2015 = 10, 2017 = 14, 2018 = 16: x = −4, −2, −1; x̄ = −7/3, ȳ = 40/3
    # Sxx = 25/9 + 1/9 + 16/9 = 42/9; Sxy = (−5/3)(−10/3) + (1/3)(2/3) + (4/3)(8/3) = 84/9 → b = 2
    # F = 40/3 + 2·7/3 = 18. "Z": no target row.
    kpis = pd.DataFrame({"kpi_id": ["X", "Y", "Z"], "owner_id": "D1", "polarity": "up",
                         "kpi_type": "output", "weight": [40.0, 30.0, 30.0]})
    hist = pd.DataFrame({"kpi_id": ["Y"] * 5 + ["Z"], "year": [2015, 2016, 2017, 2018, 2019, 2018],
                         "actual": [10, np.nan, 14, 16, 99, 3]})
    res = pd.DataFrame({"kpi_id": ["X", "Y"], "year": 2019, "half": "H2", "target": [5.0, 18.0],
                        "actual": np.nan, "verified": True})
    d = kpi_difficulty(kpis, hist, res)
    x, y, z = _row(d, "X"), _row(d, "Y"), _row(d, "Z")
    assert x["no_history"] and x["n_history"] == 0 and "no history" in x["reason"]
    assert pd.isna(x["last_year"])
    assert y["n_history"] == 3 and y["trend_forecast"] == pytest.approx(18.0)
    assert y["gap"] == pytest.approx(0.0)
    assert math.isnan(z["target"]) and "no target for 2019 H2" in z["reason"]
    assert list(d["kpi_id"]) == ["X", "Y", "Z"]


def test_chronic_overachiever():
    # A up: 2018 H2 11/10, 2019 H1 5.2/5, 2019 H2 12/12 → all rates ≥ 1 → chronic (3 periods)
    # B down: 2019 H1 10/9 = 1.11, H2 10/10 = 1.0 → chronic at cap 1.0, not at cap 1.1
    # C up: H1 12/10 met, H2 actual missing → 1 period < min_periods 2 → not chronic
    # D up: H1 met, H2 9/10 missed → not chronic; a 2020 row (met) is ignored
    kpis = pd.DataFrame({"kpi_id": list("ABCD"), "owner_id": "D1",
                         "polarity": ["up", "down", "up", "up"], "kpi_type": "outcome", "weight": 25.0})
    hist = pd.DataFrame({"kpi_id": list("ABCD"), "year": 2018, "actual": 1.0})
    res = pd.DataFrame({
        "kpi_id": ["A", "A", "A", "B", "B", "C", "C", "D", "D", "D"],
        "year": [2018, 2019, 2019, 2019, 2019, 2019, 2019, 2019, 2019, 2020],
        "half": ["H2", "H1", "H2", "H1", "H2", "H1", "H2", "H1", "H2", "H2"],
        "target": [10, 5, 12, 10, 10, 10, 10, 10, 10, 1],
        "actual": [11, 5.2, 12, 9, 10, 12, np.nan, 10, 9, 5],
        "verified": True,
    })
    d = kpi_difficulty(kpis, hist, res).set_index("kpi_id")
    assert d["chronic_overachiever"].to_dict() == {"A": True, "B": True, "C": False, "D": False}
    assert d["n_result_periods"].to_dict() == {"A": 3, "B": 2, "C": 1, "D": 2}
    d11 = kpi_difficulty(kpis, hist, res, cap=1.1).set_index("kpi_id")
    assert not d11.loc["B", "chronic_overachiever"]


def test_bad_input_errors_and_unknown_polarity():
    kpis, hist, res = _frames({"A": [1, 2, 4]}, {"A": "sideways"}, {"A": 5})
    r = _row(kpi_difficulty(kpis, hist, res), "A")
    assert math.isnan(r["gap"]) and "unknown polarity sideways" in r["reason"]
    with pytest.raises(ValueError, match="history: missing column"):
        kpi_difficulty(kpis, hist.drop(columns="actual"), res)
    with pytest.raises(ValueError, match="min_history"):
        kpi_difficulty(kpis, hist, res, min_history=1)


def test_korean_polarity_alias_accepted():
    kpis, hist, res = _frames({"B": [10, 12, 13, 15]}, {"B": "하향"}, {"B": 15.5})
    assert _row(kpi_difficulty(kpis, hist, res), "B")["polarity"] == "down"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    values=st.lists(
        st.one_of(st.just(np.nan), st.just(0.0), st.floats(-1e6, 1e6, allow_nan=False)), min_size=0, max_size=5
    ),
    target=st.one_of(st.just(np.nan), st.just(0.0), st.floats(-1e6, 1e6, allow_nan=False)),
    polarity=st.sampled_from(["up", "down", "band", "?"]),
)
def test_never_inf_never_crash(values, target, polarity):
    kpis, hist, res = _frames({"A": values}, {"A": polarity}, {"A": target})
    d = kpi_difficulty(kpis, hist, res)
    assert len(d) == 1
    num = d.select_dtypes("number").to_numpy(dtype=float)
    assert not np.isinf(num).any()
    r = d.iloc[0]
    if math.isnan(r["gap"]) and r["n_history"] >= 1:
        assert r["reason"] != ""


# --------------------------------------------------------------------------- unit level


def _kd(**cols) -> pd.DataFrame:
    return pd.DataFrame(cols)


def test_unit_difficulty_hand_calculation():
    # D1: 4 KPIs, weights 40/30/20/10; assessable A, B, C; easy A; hard C; regressive A
    #   share_easy = 1/3; weight_on_easy = 40/100; weight_on_hard = 20/100
    #   mean_gap = (−0.10 + 0.02 + 0.20)/3 = 0.04
    #   weighted_gap = (40·−0.10 + 30·0.02 + 20·0.20)/(40+30+20) = (−4 + 0.6 + 4)/90 = 0.6/90
    #   types: output A, B; outcome C, D → share_output 0.5, share_outcome 0.5
    # D2: one band KPI, nothing assessable → share_easy NaN, reason
    kd = _kd(
        kpi_id=list("ABCDE"), owner_id=["D1"] * 4 + ["D2"],
        kpi_type=["output", "output", "outcome", "outcome", "process"],
        weight=[40.0, 30.0, 20.0, 10.0, 100.0],
        gap=[-0.10, 0.02, 0.20, np.nan, np.nan],
        assessable=[True, True, True, False, False],
        easy=[True, False, False, False, False],
        hard=[False, False, True, False, False],
        regressive=[True, False, False, False, False],
    )
    u = unit_difficulty(kd).set_index("owner_id")
    d1, d2 = u.loc["D1"], u.loc["D2"]
    assert (d1["n_kpis"], d1["n_assessable"], d1["n_easy"], d1["n_regressive"]) == (4, 3, 1, 1)
    assert d1["share_easy"] == pytest.approx(1 / 3)
    assert d1["weight_on_easy"] == pytest.approx(0.4)
    assert d1["weight_on_hard"] == pytest.approx(0.2)
    assert d1["mean_gap"] == pytest.approx(0.04)
    assert d1["weighted_gap"] == pytest.approx(0.6 / 90)
    assert d1["share_output"] == pytest.approx(0.5) and d1["share_outcome"] == pytest.approx(0.5)
    assert d1["share_input"] == 0.0
    assert math.isnan(d2["share_easy"]) and "no assessable" in d2["reason"]
    assert d2["share_process"] == 1.0
    # easy_heavy is about weight: D1 has 40 % of its weight on easy KPIs (< 50 %), D2 none;
    # with heavy_weight 0.4 D1 qualifies (≥)
    assert not u["easy_heavy"].any()
    assert unit_difficulty(kd, heavy_weight=0.4).set_index("owner_id")["easy_heavy"].to_dict() == {
        "D1": True, "D2": False}
    # easy_majority is about KPI counts: share_easy 1/3 is not > 0.5; with majority_share 0.3 D1
    # (3 assessable) qualifies, but not when 4 assessable KPIs are required
    assert not u["easy_majority"].any()
    assert unit_difficulty(kd, majority_share=0.3).set_index("owner_id")["easy_majority"].to_dict() == {
        "D1": True, "D2": False}
    assert not unit_difficulty(kd, majority_share=0.3, min_assessable=4)["easy_majority"].any()


def test_easy_heavy_counts_weight_not_kpis():
    # U1: 1 easy KPI of 4 but it carries 60 % of the weight → easy_heavy, not easy_majority
    # U2: 3 easy KPIs of 4 with 10 % weight each (30 %) → easy_majority, not easy_heavy
    # U3: exactly half the weight on easy → easy_heavy (≥ 0.5); U4: total weight 0 → NaN share, False
    kd = _kd(
        kpi_id=[f"K{i}" for i in range(13)],
        owner_id=["U1"] * 4 + ["U2"] * 4 + ["U3"] * 3 + ["U4"] * 2,
        kpi_type="output",
        weight=[60.0, 20.0, 10.0, 10.0, 10.0, 10.0, 10.0, 70.0, 50.0, 25.0, 25.0, 0.0, 0.0],
        gap=[-0.1, 0.0, 0.0, 0.0, -0.1, -0.1, -0.1, 0.0, -0.1, 0.0, 0.0, -0.1, 0.0],
        assessable=True,
        easy=[True, False, False, False, True, True, True, False, True, False, False, True, False],
        hard=False, regressive=False,
    )
    u = unit_difficulty(kd).set_index("owner_id")
    assert u["weight_on_easy"].iloc[:3].tolist() == pytest.approx([0.6, 0.3, 0.5])
    assert math.isnan(u.loc["U4", "weight_on_easy"])
    assert u["easy_heavy"].to_dict() == {"U1": True, "U2": False, "U3": True, "U4": False}
    assert u["easy_majority"].to_dict() == {"U1": False, "U2": True, "U3": False, "U4": False}


# --------------------------------------------------------------------------- cross-check


def test_challenge_crosscheck_hand_calculation():
    # ratings (final replaces first): U1 = 60, U2 = 70, U3 = mean(75, 85) = 80 (first 10 ignored), U4 = 90
    # mean_gap: U1 0.01, U2 0.02, U3 0.05, U4 0.04 → ranks 1, 2, 4, 3 vs 1, 2, 3, 4
    # Spearman: Σd² = 0+0+1+1 = 2 → ρ = 1 − 6·2/(4·15) = 0.8
    #   p (t approximation, df 2): t = 0.8·sqrt(2/0.36); for df = 2, sf(t) = ½(1 − t/sqrt(t²+2))
    #   t/sqrt(t²+2) = 0.8 exactly → sf = 0.1 → two-sided p = 0.2
    # Kendall: 6 pairs, 1 discordant (U3, U4) → τ = (5 − 1)/6 = 2/3
    #   exact p: permutations of 4 with ≤ 1 inversion = 1 + 3 = 4 of 24 → two-sided 2·4/24 = 1/3
    unit = pd.DataFrame({"owner_id": ["U1", "U2", "U3", "U4", "U5"],
                         "mean_gap": [0.01, 0.02, 0.05, 0.04, 0.0],
                         "share_easy": [0.5, 0.5, 0.5, 0.5, 0.1]})
    ratings = pd.DataFrame({
        "unit_id": ["U1", "U2", "U3", "U3", "U3", "U4", "U4", "U2"],
        "round": ["first", "first", "first", "final", "final", "final", "first", "first"],
        "item": ["kpi_challenge"] * 7 + ["kpi_appropriateness"],
        "rater_id": ["r1", "r1", "r1", "r1", "r2", "r1", "r1", "r1"],
        "score": [60, 70, 10, 75, 85, 90, 0, 5],
    })
    cc = challenge_crosscheck(unit, ratings, measures=["mean_gap", "share_easy"]).set_index("measure")
    g = cc.loc["mean_gap"]
    assert g["n"] == 4 and g["expected_sign"] == 1
    assert g["spearman_rho"] == pytest.approx(0.8)
    assert g["spearman_p"] == pytest.approx(0.2)
    assert g["kendall_tau_b"] == pytest.approx(2 / 3)
    assert g["kendall_p"] == pytest.approx(1 / 3)
    se = cc.loc["share_easy"]
    assert se["expected_sign"] == -1 and math.isnan(se["spearman_rho"]) and "constant" in se["reason"]


def test_challenge_crosscheck_mean_rule_small_n_and_bad_rule():
    unit = pd.DataFrame({"owner_id": ["U1", "U2"], "mean_gap": [0.1, 0.2]})
    ratings = pd.DataFrame({"unit_id": ["U1", "U2"], "round": ["first", "최종"],
                            "item": "kpi_challenge", "rater_id": "r", "score": [1.0, 2.0]})
    cc = challenge_crosscheck(unit, ratings, round_rule="mean", measures=["mean_gap"])
    assert cc.loc[0, "n"] == 2 and "only 2 unit" in cc.loc[0, "reason"]
    with pytest.raises(ValueError, match="round_rule"):
        challenge_crosscheck(unit, ratings, round_rule="median", measures=["mean_gap"])


# --------------------------------------------------------------------------- gaming


def test_achievement_bunching_hand_calculation():
    # H2 rates (up: A/T with T = 100; down: T/A):
    #   U1: 1.00, 1.01, 1.02, 1.029 → 4 of 4 in [1, 1.03)
    #   U2: 0.90, 1.10, 1.20, 0.95 and an up KPI with target 0 and actual 5 (rate +inf, the
    #       engine's cap: a rate outside the window) → 0 of 5; + a band KPI (excluded);
    #       its H1 row at 1.01 is ignored (half="H2")
    #   U3: 1.005, 0.80, 1.30, 0.70 and down 50/49 = 1.0204 → 2 of 5
    # pooled p0 = 6/14 = 3/7
    # U1: P(X ≥ 4 | 4, 3/7) = (3/7)^4 = 81/2401
    # U3: P(X ≥ 2 | 5, 3/7) = 1 − (4/7)^5 − 5(3/7)(4/7)^4 = 1 − (1024 + 3840)/16807 = 11943/16807
    # U2: P(X ≥ 0) = 1
    # BH: sorted p = 0.0337, 0.7106, 1 → adj = 3·81/2401 = 0.1012, min(1, 1.5·0.7106) = 1, 1
    owner = ["U1"] * 4 + ["U2"] * 6 + ["U3"] * 5
    pol = ["up"] * 8 + ["band", "up"] + ["up"] * 4 + ["down"]
    kpis = pd.DataFrame({"kpi_id": [f"K{i:02d}" for i in range(15)], "owner_id": owner, "polarity": pol})
    target = [100] * 9 + [0] + [100] * 4 + [50]
    actual = [100, 101, 102, 102.9, 90, 110, 120, 95, 100, 5, 100.5, 80, 130, 70, 49]
    res = pd.DataFrame({"kpi_id": kpis["kpi_id"], "year": 2019, "half": "H2",
                        "target": target, "actual": actual, "verified": True})
    h1 = pd.DataFrame({"kpi_id": ["K04"], "year": 2019, "half": "H1", "target": [100], "actual": [101],
                       "verified": True})
    both = pd.concat([res, h1], ignore_index=True)
    b = achievement_bunching(both, kpis=kpis, half="H2").set_index("owner_id")
    assert b["n_rates"].to_dict() == {"U1": 4, "U2": 5, "U3": 5}
    assert b["n_excluded"].to_dict() == {"U1": 0, "U2": 1, "U3": 0}
    assert b["n_bunched"].to_dict() == {"U1": 4, "U2": 0, "U3": 2}
    assert b["overall_share"].iloc[0] == pytest.approx(3 / 7)
    assert b.loc["U1", "p_value"] == pytest.approx(81 / 2401)
    assert b.loc["U3", "p_value"] == pytest.approx(11943 / 16807)
    assert b.loc["U2", "p_value"] == pytest.approx(1.0)
    assert b.loc["U1", "p_adj"] == pytest.approx(3 * 81 / 2401)
    assert not b["bunching"].any()
    assert achievement_bunching(res, kpis=kpis, alpha=0.2).set_index("owner_id")["bunching"].to_dict() == {
        "U1": True, "U2": False, "U3": False}
    # default half=None also counts the H1 row: U2 then has 1 of 5 bunched
    assert achievement_bunching(both, kpis=kpis).set_index("owner_id").loc["U2", "n_bunched"] == 1


def test_achievement_bunching_needs_polarity():
    res = pd.DataFrame({"kpi_id": ["A"], "half": "H2", "target": [1.0], "actual": [1.0]})
    with pytest.raises(ValueError, match="polarity"):
        achievement_bunching(res)


def test_target_loosening_fixture():
    # A up: 100 → 95 → 90 → 92: loosen, loosen, tighten → 2 loosened, run 2 → consecutive
    # B down: 10 → 12 → 11: loosen, tighten → run 1 → not consecutive
    # C up: 5 (2018), NaN (2019, skipped), 4 (2020): one step, loosened, the latest
    # D band: no direction; E: a single year
    t = pd.DataFrame({
        "kpi_id": ["A"] * 4 + ["B"] * 3 + ["C"] * 3 + ["D"] * 2 + ["E"],
        "year": [2016, 2017, 2018, 2019, 2017, 2018, 2019, 2018, 2019, 2020, 2018, 2019, 2019],
        "target": [100, 95, 90, 92, 10, 12, 11, 5, np.nan, 4, 1, 2, 7],
        "polarity": ["up"] * 4 + ["down"] * 3 + ["up"] * 3 + ["band"] * 2 + ["up"],
    })
    r = target_loosening(t).set_index("kpi_id")
    assert r["n_loosened"].to_dict() == {"A": 2, "B": 1, "C": 1, "D": 0, "E": 0}
    assert r["max_run"].to_dict() == {"A": 2, "B": 1, "C": 1, "D": 0, "E": 0}
    assert r["consecutive_loosening"].to_dict() == {"A": True, "B": False, "C": False, "D": False, "E": False}
    assert r["loosened_last"].to_dict() == {"A": False, "B": False, "C": True, "D": False, "E": False}
    assert r.loc["C", "n_steps"] == 1 and r.loc["C", "n_years"] == 2
    assert "polarity" in r.loc["D", "reason"] and "fewer than 2" in r.loc["E", "reason"]
    assert target_loosening(t, min_run=1).set_index("kpi_id").loc["C", "consecutive_loosening"]


def test_recovery():
    # flagged {a, b, c}, truth {b, c, d, e}: tp 2, fp 1, fn 2 → P 2/3, R 1/2, F1 = 2·(1/3)/(7/6) = 4/7
    r = recovery(["a", "b", "c"], ["b", "c", "d", "e"])
    assert (r["tp"], r["fp"], r["fn"]) == (2, 1, 2)
    assert r["precision"] == pytest.approx(2 / 3) and r["recall"] == pytest.approx(0.5)
    assert r["f1"] == pytest.approx(4 / 7)
    s = pd.Series([True, False, True], index=["b", "x", "d"])
    assert recovery(s, ["b", "d"])["f1"] == pytest.approx(1.0)
    assert math.isnan(recovery([], ["a"])["precision"])


# --------------------------------------------------------------------------- sample


@pytest.fixture(scope="module")
def sample_run():
    sample = pytest.importorskip("bsc_lib.data.sample")
    data = sample.generate()
    tables = data.tables if hasattr(data, "tables") else data
    return tables, sample.planted()


def test_recovers_planted_easy_and_regressive_kpis(sample_run):
    tables, truth = sample_run
    d = kpi_difficulty(tables["kpis"], tables["kpi_history"], tables["kpi_results"])
    easy = recovery(d.loc[d["easy"], "kpi_id"], truth["easy_kpis"])
    assert easy["precision"] >= 0.9 and easy["recall"] >= 0.9, easy
    regr = recovery(d.loc[d["regressive"], "kpi_id"], truth["regressive_kpis"])
    assert regr["precision"] >= 0.9 and regr["recall"] >= 0.9, regr
    nohist = recovery(d.loc[d["no_history"], "kpi_id"], truth["no_history_kpis"])
    assert nohist["precision"] >= 0.9 and nohist["recall"] >= 0.9, nohist


def test_recovers_easy_heavy_units_and_challenge_rating_agrees(sample_run):
    tables, truth = sample_run
    u = unit_difficulty(kpi_difficulty(tables["kpis"], tables["kpi_history"], tables["kpi_results"]))
    # the sample plants departments whose KPIs are mostly easy by count: easy_majority finds them
    heavy = recovery(u.loc[u["easy_majority"], "owner_id"], truth["easy_heavy_departments"])
    assert heavy["precision"] >= 0.9 and heavy["recall"] >= 0.9, heavy
    # "at least half the weight on easy KPIs" (notebook 03's headline) is a wider set: 44 units,
    # the 12 planted departments among them (easy KPIs carry above-average weight in the sample)
    assert (u["easy_heavy"] == (u["weight_on_easy"] >= 0.5)).all()
    assert int(u["easy_heavy"].sum()) == 44
    assert set(truth["easy_heavy_departments"]) <= set(u.loc[u["easy_heavy"], "owner_id"])
    cc = challenge_crosscheck(u, tables["pre_eval_ratings"]).set_index("measure")
    # the sample plants a challenge rating that falls with the unit's share of easy KPIs
    assert cc.loc["share_easy", "spearman_rho"] < -0.3 and cc.loc["share_easy", "spearman_p"] < 0.01
    assert cc.loc["share_easy", "kendall_tau_b"] < 0 and cc.loc["mean_gap", "spearman_rho"] > 0


def test_recovers_gaming_departments(sample_run):
    tables, truth = sample_run
    b = achievement_bunching(tables["kpi_results"], kpis=tables["kpis"])
    gaming = recovery(b.loc[b["bunching"], "owner_id"], truth["gaming_departments"])
    assert gaming["precision"] >= 0.9 and gaming["recall"] >= 0.9, gaming


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.sampled_from([2015, 2016, 2018, -5, 10**9]),
                          st.floats(-1e6, 1e6, allow_nan=False)), max_size=40),
       st.booleans())
def test_mean_per_kpi_year_is_the_two_column_groupby(rows, shuffle):
    # one int64 key instead of two columns: the same groups, rows and order, so the same bits
    h = pd.DataFrame(rows, columns=["kpi_id", "year", "actual"]).astype({"kpi_id": "int64", "year": "int64"})
    if not shuffle:
        h = h.sort_values(["kpi_id", "year"], kind="stable").reset_index(drop=True)
    want = h.groupby(["kpi_id", "year"], as_index=False, sort=True)["actual"].mean()
    pd.testing.assert_frame_equal(_mean_per_kpi_year(h), want, check_exact=True)


def _codes_by_hashing_categories(cols):
    """The reference: the categories of all columns hashed together, codes read through them."""
    cats = [c.cat.categories for c in cols]
    cat_codes, uniques = pd.factorize(pd.concat([pd.Series(x, dtype="str") for x in cats], ignore_index=True))
    parts, start = [], 0
    for c, x in zip(cols, cats, strict=True):
        parts.append(np.append(cat_codes[start:start + len(x)], -1)[c.cat.codes.to_numpy()])
        start += len(x)
    return np.concatenate(parts).tolist(), list(uniques)


def test_shared_id_codes_of_categories_are_the_hashed_codes():
    cols = [pd.Series(["K3", "K1", None, "K2", "K1"], dtype="category"), pd.Series(["K2", "K1", "K3"], dtype="category"),
            pd.Series(["K1", None, "K3", "K2"], dtype="category")]
    for group in (cols, [cols[0], pd.Series(["K9", "K1"], dtype="category")]):  # same categories; others
        codes, uniques = _shared_id_codes(group)
        assert (codes.tolist(), list(uniques)) == _codes_by_hashing_categories(group)
    codes, _ = _shared_id_codes([c.astype("str") for c in cols])  # text: equal ids, equal codes
    assert codes.tolist() == [0, 1, -1, 2, 1, 2, 1, 0, 1, -1, 0, 2]
