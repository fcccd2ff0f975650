"""Tests of bsc_lib.analyses.reliability: reliability per group, leniency, what-if on grades."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from bsc_lib.analyses.reliability import (
    grade_changes,
    interpret_icc,
    rater_leniency,
    rater_reliability,
    remove_rater,
    standardise_rater,
)

# Shrout & Fleiss (1979) Table 2: 6 targets x 4 judges (ICC3 = .71, ICC3k = .91 in Table 4).
SF = np.array([[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]])


def sf_long(group: str = "expert", item: str = "results") -> pd.DataFrame:
    n, k = SF.shape
    return pd.DataFrame(
        {
            "rater_group": group,
            "item": item,
            "project_id": np.repeat([f"P{i}" for i in range(n)], k),
            "rater_id": np.tile([f"E{j}" for j in range(k)], n),
            "score": SF.ravel().astype(float),
        }
    )


# Three raters A, B, C on three targets (hand example for leniency):
#   t1: A 10, B 8, C 6 ; t2: A 12, B 9, C 9 ; t3: A 12, B 10, C 6
HAND = pd.DataFrame(
    {"t": [1, 1, 1, 2, 2, 2, 3, 3, 3], "rater_id": list("ABC") * 3,
     "score": [10, 8, 6, 12, 9, 9, 12, 10, 6.0]}
)


# --------------------------------------------------------------------------- interpretation
def test_interpret_icc_koo_li_bands():
    v = [0.49, 0.5, 0.74, 0.75, 0.9, 0.91, np.nan]
    assert interpret_icc(v).tolist() == ["낮음", "보통", "보통", "양호", "양호", "우수", ""]
    assert interpret_icc(v, "en").tolist() == ["poor", "moderate", "moderate", "good", "good", "excellent", ""]


# --------------------------------------------------------------------------- reliability
def test_rater_reliability_by_group_uses_icc_and_w():
    ok = sf_long("expert")
    single = sf_long("planning_office").query("rater_id == 'E0'")  # one rater only
    res = rater_reliability(pd.concat([ok, single]), "project_id", by="rater_group")
    assert list(res.columns[:2]) == ["rater_group", "measure"]
    exp = res[res["rater_group"] == "expert"].set_index("measure")
    assert list(exp.index) == ["ICC1", "ICC2", "ICC3", "ICC1k", "ICC2k", "ICC3k", "W"]
    # S&F Table 4: ICC3 .71 (moderate, 보통), ICC3k .91 (excellent, 우수), ICC1 .17 (poor)
    assert round(exp.loc["ICC3", "value"], 2) == 0.71
    assert exp.loc["ICC3", "interpretation"] == "보통"
    assert exp.loc["ICC3k", "interpretation"] == "우수"
    assert exp.loc["ICC1", "interpretation_en"] == "poor"
    # Kendall's W of the S&F data by hand: ranks per judge (average ranks for ties)
    #   J0 9,6,8,7,10,6 -> 5,1.5,4,3,6,1.5 ; J1 2,1,4,1,5,2 -> 3.5,1.5,5,1.5,6,3.5
    #   J2 5,3,6,2,6,4 -> 4,2,5.5,1,5.5,3 ; J3 8,2,8,6,9,7 -> 4.5,1,4.5,2,6,3
    #   rank sums 17, 6, 19, 7.5, 23.5, 11 (mean 14) -> S = 9+64+25+42.25+90.25+9 = 239.5
    #   T per judge: 6, 12, 6, 6 -> sum 30 ; W = 12*239.5 / (16*210 - 4*30) = 2874/3240
    assert exp.loc["W", "value"] == pytest.approx(2874 / 3240)
    assert exp.loc["W", "interpretation"] == ""
    assert exp.loc["W", "statistic"] == pytest.approx(4 * 5 * 2874 / 3240)
    po = res[res["rater_group"] == "planning_office"]
    assert len(po) == 7 and po["value"].isna().all()
    assert po["reason"].str.contains("at least 2 raters").all()


def test_rater_reliability_without_by_and_bad_input():
    res = rater_reliability(sf_long(), ["rater_group", "project_id"])
    assert len(res) == 7 and "rater_group" not in res.columns
    with pytest.raises(ValueError, match="not in ratings"):
        rater_reliability(sf_long(), "unit_id")
    with pytest.raises(ValueError, match="numeric"):
        rater_reliability(sf_long().assign(score="x"), "project_id")


# --------------------------------------------------------------------------- leniency
def test_rater_leniency_hand_example():
    res = rater_leniency(HAND, "t").set_index("rater_id")
    # A's deviations from the mean of the others: t1 10-(8+6)/2 = 3 ; t2 12-9 = 3 ; t3 12-8 = 4
    # mean 10/3, sd sqrt(((1/3)^2*2 + (2/3)^2)/2) = sqrt(1/3), se = sqrt(1/3)/sqrt(3) = 1/3
    # t = (10/3)/(1/3) = 10 on 2 df ; p (df 2) = 1 - t/sqrt(2+t^2) = 1 - 10/sqrt(102)
    a = res.loc["A"]
    assert a["n_targets"] == 3
    assert a["mean_deviation"] == pytest.approx(10 / 3)
    assert a["se"] == pytest.approx(1 / 3)
    assert a["t"] == pytest.approx(10.0)
    assert a["pval"] == pytest.approx(1 - 10 / math.sqrt(102))
    # CI: 10/3 -/+ t_{.975,2} * 1/3 with t_{.975,2} = 4.302653
    assert a["ci_low"] == pytest.approx(10 / 3 - 4.302653 / 3, abs=1e-6)
    # effect size: SD of all 9 scores (mean 82/9, sum of squares 38.8889, /8) = 2.204793
    assert a["effect_size"] == pytest.approx((10 / 3) / math.sqrt(350 / 72))
    # only 3 raters: the leave-one-out z (SD of 2 other raters) is not computed
    assert math.isnan(a["z"]) and "at least 4 raters" in a["reason"]
    assert a["flag"] == "lenient" and a["flag_ko"] == "관대"
    # C: deviations -3, -1.5, -5 -> mean -19/6; CI (2 df) includes 0 -> neutral
    assert res.loc["C", "mean_deviation"] == pytest.approx(-19 / 6)
    assert res.loc["C", "flag"] == "neutral"
    assert res.loc["B", "mean_deviation"] == pytest.approx(-1 / 6)


def test_rater_leniency_leave_one_out_z():
    # 4 raters, target means 10: deviation from the others' mean = 4/3 * (score - target mean)
    # t1: A 13, B 10, C 9, D 8 -> 4, 0, -4/3, -8/3 ; t2: A 13, B 10, C 10, D 7 -> 4, 0, 0, -4
    # mean deviations: A 4, B 0, C -2/3, D -10/3
    # z_A: others 0, -2/3, -10/3 -> mean -4/3, sd sqrt((16/9 + 4/9 + 36/9)/2) = sqrt(28/9)
    #      z = (4 + 4/3)/sqrt(28/9) = 3.023716
    d = pd.DataFrame({"t": [1] * 4 + [2] * 4, "rater_id": list("ABCD") * 2,
                      "score": [13, 10, 9, 8, 13, 10, 10, 7.0]})
    res = rater_leniency(d, "t").set_index("rater_id")
    assert res["mean_deviation"].tolist() == pytest.approx([4, 0, -2 / 3, -10 / 3])
    assert res.loc["A", "z"] == pytest.approx((16 / 3) / math.sqrt(28 / 9))
    # z_B: others 4, -2/3, -10/3 -> mean 0, sd sqrt((16 + 4/9 + 100/9)/2) = sqrt(124/9)
    assert res.loc["B", "z"] == pytest.approx(0.0)
    assert res.loc["A", "sd_deviation"] == 0.0 and math.isinf(res.loc["A", "t"])
    assert res.loc["A", "flag"] == "lenient"  # exact shift: zero-width CI above 0


def test_rater_leniency_threshold_and_harsh():
    # C systematically 2 points below A and B on 5 targets with a little noise
    rows = []
    for t, (a, b, c) in enumerate([(50, 52, 49), (60, 61, 58), (70, 69, 67), (80, 81, 79), (90, 90, 87)]):
        rows += [(t, "A", a), (t, "B", b), (t, "C", c)]
    d = pd.DataFrame(rows, columns=["t", "rater_id", "score"])
    res = rater_leniency(d, "t").set_index("rater_id")
    # C's deviations: 49-51, 58-60.5, 67-69.5, 79-80.5, 87-90 = -2,-2.5,-2.5,-1.5,-3 -> mean -2.3
    assert res.loc["C", "mean_deviation"] == pytest.approx(-2.3)
    # sd of deviations: sqrt((.09+.04+.04+.64+.49)/4) = sqrt(.325) ; se = sqrt(.325/5) = 0.254951
    # 95 % CI (4 df, t = 2.776445): -2.3 -/+ 0.707857 = [-3.007857, -1.592143] -> excludes 0
    assert res.loc["C", "ci_high"] == pytest.approx(-2.3 + 2.776445 * math.sqrt(0.325 / 5), abs=1e-6)
    # but -2.3 points are only ~0.16 SD of all scores: below the default 0.2 SD threshold
    eff = res.loc["C", "effect_size"]
    assert eff == pytest.approx(-2.3 / d["score"].std())
    assert -0.2 < eff < 0 and res.loc["C", "flag"] == "neutral"
    assert rater_leniency(d, "t", threshold=0.0).set_index("rater_id").loc["C", "flag"] == "harsh"
    pts = rater_leniency(d, "t", threshold=2.0, threshold_unit="score").set_index("rater_id")
    assert pts.loc["C", "flag"] == "harsh" and pts.loc["C", "flag_ko"] == "엄격"
    big = rater_leniency(d, "t", threshold=3.0, threshold_unit="score").set_index("rater_id")
    assert big.loc["C", "flag"] == "neutral"  # |-2.3| < 3 points


def test_rater_leniency_by_group_and_edge_cases():
    d = pd.concat([HAND.assign(g="x"), HAND.assign(g="y").query("rater_id != 'C'")])
    solo = pd.DataFrame({"t": [9], "rater_id": ["Z"], "score": [5.0], "g": ["z"]})
    res = rater_leniency(pd.concat([d, solo]), "t", by="g")
    assert list(res.columns[:2]) == ["g", "rater_id"]
    z = res[res["g"] == "z"].iloc[0]
    assert z["n_targets"] == 0 and math.isnan(z["mean_deviation"]) and z["flag"] == "neutral"
    assert "no target rated by another rater" in z["reason"]
    y = res[res["g"] == "y"]
    assert y["z"].isna().all()  # only 2 raters: no leave-one-out z
    with pytest.raises(ValueError, match="same"):
        rater_leniency(pd.concat([HAND, HAND.head(1)]), "t")
    with pytest.raises(ValueError, match="ci"):
        rater_leniency(HAND, "t", ci=1.5)


# --------------------------------------------------------------------------- what-if helpers
def test_standardise_rater_hand_example():
    s = pd.DataFrame({"g": "x", "rater_id": ["X", "X", "Y", "Y", "Z", "Z"],
                      "score": [50, 70, 60, 80, 70, 90.0]})
    out = standardise_rater(s, "X", by="g")
    # X: mean 60, population sd 10 -> z = -1, +1 ; others 60,80,70,90: mean 75,
    # population sd sqrt((225+25+25+225)/4) = sqrt(125) = 11.180340 -> 63.819660, 86.180340
    assert out["score"].iloc[:2].tolist() == pytest.approx([75 - math.sqrt(125), 75 + math.sqrt(125)])
    # with sample SDs (ddof 1): X sd 14.142136, z = -/+0.707107 ; others sd sqrt(500/3) = 12.909944
    # -> 75 -/+ 9.128709 = 65.871291, 84.128709
    s1 = standardise_rater(s, "X", by="g", ddof=1)
    assert s1["score"].iloc[:2].tolist() == pytest.approx([65.871291, 84.128709], abs=1e-6)
    assert out["score"].iloc[2:].tolist() == [60, 80, 70, 90]
    assert s["score"].iloc[0] == 50  # input untouched
    clipped = standardise_rater(s, "X", by="g", clip=(0, 80))
    assert clipped["score"].iloc[1] == 80  # 86.18 clipped to the scale maximum
    with pytest.raises(ValueError, match="not found"):
        standardise_rater(s, "Q")


def test_remove_rater():
    out = remove_rater(HAND, "A")
    assert set(out["rater_id"]) == {"B", "C"} and len(out) == 6
    assert len(remove_rater(HAND, ["A", "B"])) == 3
    with pytest.raises(ValueError, match="not found"):
        remove_rater(HAND, "Q")


def _grade(df: pd.DataFrame) -> pd.Series:
    """Mean score per target; A when >= 9, else B."""
    m = df.groupby("t")["score"].mean()
    return pd.Series(np.where(m >= 9, "A", "B"), index=m.index)


def test_grade_changes_remove_and_standardise():
    # means with all raters: t1 8, t2 10, t3 28/3 = 9.33 -> B, A, A
    # without A: t1 7, t2 9, t3 8 -> B, A, B  (t3 changes, one step down)
    res = grade_changes(HAND, "A", _grade, mode="remove", grade_order=("A", "B"))
    assert res["changed"].sum() == 1
    row = res[res["changed"]].iloc[0]
    assert row["unit"] == 3 and row["grade_before"] == "A" and row["grade_after"] == "B"
    assert row["shift"] == -1.0
    assert res.attrs["n_changed"] == {"A": 1}
    # without C: t1 9, t2 10.5, t3 11 -> A, A, A (t1 changes, one step up)
    both = grade_changes(HAND, ["A", "C"], _grade)
    assert both.attrs["n_changed"] == {"A": 1, "C": 1}
    assert math.isnan(both["shift"].iloc[0])  # no grade_order
    # standardising A onto B and C's scale (population SDs): A's scores 10,12,12 (mean 34/3,
    # sd sqrt(8/9) = 0.942809) -> z = -1.414214, 0.707107, 0.707107 ;
    # B and C: 8,6,9,9,10,6 -> mean 8, sd sqrt(14/6) = 1.527525
    # A' = 8 - 2.160247 = 5.839753 (t1), 8 + 1.080123 = 9.080123 (t2, t3)
    # means: t1 (5.8398+8+6)/3 = 6.61 B ; t2 (9.0801+9+9)/3 = 9.03 A ; t3 (9.0801+10+6)/3 = 8.36 B
    # before B, A, A -> only t3 changes
    st = grade_changes(HAND, "A", _grade, mode="standardise")
    assert st["changed"].tolist() == [False, False, True]


def test_grade_changes_bad_rescore():
    with pytest.raises(ValueError, match="Series"):
        grade_changes(HAND, "A", lambda df: df.groupby("t")["score"].mean().to_frame())
    with pytest.raises(ValueError, match="mode"):
        grade_changes(HAND, "A", _grade, mode="drop")


def test_grade_changes_unit_missing_after():
    def only_units_with_three(df):
        g = df.groupby("t")["score"]
        m = g.mean()[g.count() == 3]
        return pd.Series(np.where(m >= 9, "A", "B"), index=m.index)

    res = grade_changes(HAND, "A", only_units_with_three)
    assert res["changed"].all()
    assert (res["reason"] == "not graded after the change").all()


# --------------------------------------------------------------------------- sample data
def test_planted_lenient_and_harsh_raters_found_in_sample():
    sample = pytest.importorskip("bsc_lib.data.sample")
    data = sample.generate()
    q = data.qualitative_ratings if hasattr(data, "qualitative_ratings") else data["qualitative_ratings"]
    planted = sample.planted()
    res = rater_leniency(q, ["year", "half", "project_id", "item"], by="rater_group")
    flags = res.set_index("rater_id")["flag"]
    assert flags[planted["lenient_rater"]] == "lenient"
    assert flags[planted["harsh_rater"]] == "harsh"
    experts = res[res["rater_group"] == "expert"]
    assert experts.loc[experts["mean_deviation"].idxmax(), "rater_id"] == planted["lenient_rater"]
    assert experts.loc[experts["mean_deviation"].idxmin(), "rater_id"] == planted["harsh_rater"]
