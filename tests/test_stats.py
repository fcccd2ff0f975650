"""Tests of bsc_lib.analyses.stats against published reference values and hand calculations."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st

from bsc_lib.analyses.stats import cv, entropy_norm, gini, icc, kendall_w, tie_share

# Shrout & Fleiss (1979), Table 2: 6 targets (rows) x 4 judges (columns).
SF = np.array([[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]])

# pingouin's `read_dataset('icc')` wine data (pingouin/datasets/icc.csv): 8 wines x judges A-D.
WINE = {
    "A": [1, 1, 3, 6, 6, 7, 8, 9],
    "B": [2, 3, 8, 4, 5, 5, 7, 9],
    "C": [0, 3, 1, 3, 5, 6, 7, 9],
    "D": [1, 2, 4, 3, 6, 2, 9, 8],
}


def long_from_matrix(m, target="target", rater="rater", rating="score") -> pd.DataFrame:
    m = np.asarray(m, dtype=float)
    n, k = m.shape
    return pd.DataFrame(
        {
            target: np.repeat(np.arange(n), k),
            rater: np.tile([f"J{j}" for j in range(k)], n),
            rating: m.ravel(),
        }
    )


def wine_long() -> pd.DataFrame:
    return pd.DataFrame(
        [(w + 1, j, s) for j, col in WINE.items() for w, s in enumerate(col)],
        columns=["Wine", "Judge", "Scores"],
    )


# --------------------------------------------------------------------------- ICC
def test_icc_shrout_fleiss_table4_and_anova():
    res = icc(long_from_matrix(SF), "target", "rater", "score").set_index("type")
    # Hand ANOVA (S&F Table 3): grand total G = 127, N = 24, G^2/N = 16129/24.
    # target sums 24,12,26,16,30,19 -> SS_targets = 2913/4 - 16129/24 = 1349/24, MS = 1349/120 = 11.24
    # judge sums 46,15,26,40 -> SS_judges = 4617/6 - 16129/24 = 2339/24, MS = 2339/72 = 32.49
    # sum x^2 = 841 -> SS_total = 841 - 16129/24 = 4055/24
    # SS_within = (4055-1349)/24 = 2706/24, MS = 2706/432 = 6.26 ; SS_res = 367/24, MS = 367/360 = 1.02
    an = icc(long_from_matrix(SF), "target", "rater", "score").attrs["anova"]
    assert an["ms_targets"] == pytest.approx(1349 / 120)
    assert an["ms_raters"] == pytest.approx(2339 / 72)
    assert an["ms_within"] == pytest.approx(2706 / 432)
    assert an["ms_residual"] == pytest.approx(367 / 360)
    # ICC3 = (BMS-EMS)/(BMS+3 EMS) = (4047-367)/(4047+1101) = 3680/5148 (x360/360)
    assert res.loc["ICC3", "icc"] == pytest.approx(3680 / 5148)
    # Shrout & Fleiss (1979) Table 4: .17 .29 .71 .44 .62 .91
    expected = {"ICC1": 0.17, "ICC2": 0.29, "ICC3": 0.71, "ICC1k": 0.44, "ICC2k": 0.62, "ICC3k": 0.91}
    for t, v in expected.items():
        assert round(res.loc[t, "icc"], 2) == v, t
    assert (res["n_targets"] == 6).all() and (res["n_raters"] == 4).all()
    assert (res["n_dropped"] == 0).all() and (res["reason"] == "").all()


def test_icc_matches_psych_documented_output():
    # R psych::ICC on the Shrout & Fleiss data, as printed in D. Wollschlaeger's R examples
    # (github.com/dwoll/RExRepos, interRaterICC) and DescTools::ICC (F 1.79 / 11.03,
    # p 0.164769 / 0.000135):
    #   ICC1 F 1.8 df 5,18 p .16477 [-0.133, 0.72]; ICC2 F 11.0 df 5,15 p .00013 [0.019, 0.76]
    #   ICC3 [0.342, 0.95]; ICC1k [-0.884, 0.91]; ICC2k [0.071, 0.93]; ICC3k [0.676, 0.99]
    res = icc(long_from_matrix(SF), "target", "rater", "score").set_index("type")
    assert res.loc["ICC1", "F"] == pytest.approx(1.79, abs=0.005)
    assert res.loc["ICC3", "F"] == pytest.approx(11.03, abs=0.005)
    assert list(res["df1"]) == [5] * 6
    assert list(res["df2"]) == [18, 15, 15, 18, 15, 15]
    assert res.loc["ICC1", "pval"] == pytest.approx(0.164769, abs=1e-6)
    assert res.loc["ICC2", "pval"] == pytest.approx(0.000135, abs=1e-6)
    lows = {"ICC1": -0.133, "ICC2": 0.019, "ICC3": 0.342, "ICC1k": -0.884, "ICC2k": 0.071, "ICC3k": 0.676}
    highs = {"ICC1": 0.72, "ICC2": 0.76, "ICC3": 0.95, "ICC1k": 0.91, "ICC2k": 0.93, "ICC3k": 0.99}
    for t in lows:
        assert res.loc[t, "ci95_low"] == pytest.approx(lows[t], abs=0.0005), t
        assert res.loc[t, "ci95_high"] == pytest.approx(highs[t], abs=0.005), t


def test_icc_wine_pingouin_example():
    res = icc(wine_long(), "Wine", "Judge", "Scores").set_index("type")
    # Hand mean squares (8 wines x 4 judges, N = 32):
    # wine sums 4,9,16,16,22,20,31,35 (G = 153); G^2/N = 23409/32 = 731.53125
    # SS_wines = 3679/4 - 731.53125 = 188.21875 -> MS_R = 188.21875/7 = 26.888393
    # judge sums 41,43,34,35 -> SS_judges = 5911/8 - 731.53125 = 7.34375 -> MS_C = 2.447917
    # sum x^2 = 975 -> SS_total = 243.46875; SS_res = 243.46875-188.21875-7.34375 = 47.90625
    # -> MS_E = 47.90625/21 = 2.28125; SS_within = 55.25 -> MS_W = 55.25/24 = 2.302083
    ms_r, ms_c, ms_e, ms_w, k, n = 188.21875 / 7, 7.34375 / 3, 2.28125, 55.25 / 24, 4, 8
    assert res.loc["ICC1", "icc"] == pytest.approx((ms_r - ms_w) / (ms_r + (k - 1) * ms_w))
    assert res.loc["ICC2", "icc"] == pytest.approx(
        (ms_r - ms_e) / (ms_r + (k - 1) * ms_e + k * (ms_c - ms_e) / n))
    assert res.loc["ICC3", "icc"] == pytest.approx((ms_r - ms_e) / (ms_r + (k - 1) * ms_e))
    assert res.loc["ICC3k", "icc"] == pytest.approx((ms_r - ms_e) / ms_r)
    assert res.loc["ICC3", "F"] == pytest.approx(ms_r / ms_e)
    # pingouin's documented output (intraclass_corr docstring): ICC1 0.728, F 11.680, df 7/24,
    # p 0.000002, CI [0.43, 0.93]; ICC2 0.728 [0.43, 0.93]; ICC1k/ICC2k 0.914 [0.75, 0.98];
    # ICC3k 0.915 [0.75, 0.98]; F2/F3 df 7/21, p 0.000005.
    assert round(res.loc["ICC1", "icc"], 3) == 0.728
    assert round(res.loc["ICC2", "icc"], 3) == 0.728
    assert round(res.loc["ICC1k", "icc"], 3) == 0.914
    assert round(res.loc["ICC2k", "icc"], 3) == 0.914
    assert round(res.loc["ICC3k", "icc"], 3) == 0.915
    assert round(res.loc["ICC1", "F"], 3) == 11.680
    assert round(res.loc["ICC1", "pval"], 6) == 0.000002
    assert round(res.loc["ICC2", "pval"], 6) == 0.000005
    for t in ("ICC1", "ICC2", "ICC3"):
        assert (round(res.loc[t, "ci95_low"], 2), round(res.loc[t, "ci95_high"], 2)) == (0.43, 0.93)
    for t in ("ICC1k", "ICC2k", "ICC3k"):
        assert (round(res.loc[t, "ci95_low"], 2), round(res.loc[t, "ci95_high"], 2)) == (0.75, 0.98)


def test_icc_drops_incomplete_targets_and_counts_them():
    d = long_from_matrix(SF)
    extra = pd.DataFrame({"target": [6, 6, 7], "rater": ["J0", "J1", "J2"], "score": [5.0, 4.0, np.nan]})
    res = icc(pd.concat([d, extra], ignore_index=True), "target", "rater", "score")
    # the two incomplete targets are dropped; the result equals the complete S&F data
    assert (res["n_dropped"] == 2).all() and (res["n_targets"] == 6).all()
    assert res.loc[res["type"] == "ICC3", "icc"].iloc[0] == pytest.approx(3680 / 5148)
    with pytest.raises(ValueError, match="lack a rating"):
        icc(pd.concat([d, extra], ignore_index=True), "target", "rater", "score", nan_policy="raise")


def test_icc_multiple_target_columns():
    d = long_from_matrix(SF)
    d["year"] = 2019
    res = icc(d, ["year", "target"], "rater", "score")
    assert round(res.set_index("type").loc["ICC2", "icc"], 2) == 0.29
    # categorical ids with unused categories do not create empty targets or raters
    cat = d.assign(target=pd.Categorical(d["target"], categories=range(9)),
                   rater=pd.Categorical(d["rater"], categories=[f"J{j}" for j in range(6)]))
    res = icc(cat, "target", "rater", "score")
    assert (res["n_targets"] == 6).all() and (res["n_raters"] == 4).all() and (res["n_dropped"] == 0).all()


def test_icc_bad_input_errors():
    d = long_from_matrix(SF)
    with pytest.raises(ValueError, match="at least 2 raters"):
        icc(d[d["rater"] == "J0"], "target", "rater", "score")
    with pytest.raises(ValueError, match="at least 2 targets"):
        icc(d[d["target"] == 0], "target", "rater", "score")
    with pytest.raises(ValueError, match="share a"):
        icc(pd.concat([d, d.head(1)]), "target", "rater", "score")
    with pytest.raises(ValueError, match="not in data"):
        icc(d, "target", "judge", "score")
    with pytest.raises(ValueError, match="must be numeric"):
        icc(d.assign(score=d["score"].astype(str)), "target", "rater", "score")


def test_icc_constant_ratings_nan_with_reason():
    d = long_from_matrix(np.full((5, 3), 4.0))
    res = icc(d, "target", "rater", "score")
    assert res["icc"].isna().all()
    assert res["reason"].str.contains("constant").all()


def test_icc_perfect_agreement_is_one():
    # every rater gives target i the score i: no within-target variance
    m = np.repeat(np.arange(5.0)[:, None], 3, axis=1)
    res = icc(long_from_matrix(m), "target", "rater", "score").set_index("type")
    assert res["icc"].tolist() == pytest.approx([1.0] * 6)
    assert res.loc["ICC3", "ci95_low"] == pytest.approx(1.0)
    # a constant shift between raters keeps consistency (ICC3 = 1) but not absolute agreement
    shifted = m + np.array([0.0, 1.0, 2.0])
    res = icc(long_from_matrix(shifted), "target", "rater", "score").set_index("type")
    assert res.loc["ICC3", "icc"] == pytest.approx(1.0)
    assert res.loc["ICC1", "icc"] < 1.0 and res.loc["ICC2", "icc"] < 1.0


# --------------------------------------------------------------------------- Kendall's W
KW = {"r1": [1, 6, 3, 2, 5, 4], "r2": [1, 5, 6, 2, 4, 3], "r3": [2, 3, 6, 5, 4, 1]}


def kw_long(d) -> pd.DataFrame:
    return long_from_matrix(np.column_stack(list(d.values())))


def test_kendall_w_published_example():
    # R irr::kendall on these ratings (D. Wollschlaeger, RExRepos "Inter-rater-reliability",
    # github.com/dwoll/RExRepos): W = 0.568, Chisq(5) = 8.52, p-value = 0.13.
    # Hand: rank sums 4,14,15,9,13,8 (mean 10.5) -> S = 42.25+12.25+20.25+2.25+6.25+6.25 = 89.5
    # W = 12*89.5 / (3^2 * (6^3 - 6)) = 1074/1890 = 0.568254; chi2 = 3*5*W = 8.52381
    r = kendall_w(kw_long(KW), "target", "rater", "score").iloc[0]
    assert r["W"] == pytest.approx(1074 / 1890)
    assert r["chi2"] == pytest.approx(15 * 1074 / 1890)
    assert r["df"] == 5
    assert round(r["pval"], 2) == 0.13
    assert r["reason"] == ""


def test_kendall_w_ties_hand_calculation():
    # 4 targets, 3 raters: r1 1,2,3,4 ; r2 1,1,3,4 ; r3 2,1,4,4
    # ranks: r1 1,2,3,4 ; r2 1.5,1.5,3,4 (T=2^3-2=6) ; r3 2,1,3.5,3.5 (T=6)
    # rank sums 4.5,4.5,9.5,11.5 (mean 7.5) -> S = 9+9+4+16 = 38
    # corrected W = 12*38 / (9*60 - 3*12) = 456/504 ; uncorrected 456/540
    d = long_from_matrix(np.array([[1, 1, 2], [2, 1, 1], [3, 3, 4], [4, 4, 4]]))
    r = kendall_w(d, "target", "rater", "score").iloc[0]
    assert r["W"] == pytest.approx(456 / 504)
    assert r["chi2"] == pytest.approx(3 * 3 * 456 / 504)
    r0 = kendall_w(d, "target", "rater", "score", correct_ties=False).iloc[0]
    assert r0["W"] == pytest.approx(456 / 540)
    assert not r0["ties_corrected"]


def test_kendall_w_perfect_agreement_and_mean_spearman_relation():
    same = long_from_matrix(np.column_stack([[3, 1, 4, 1.5, 9]] * 4))
    assert kendall_w(same, "target", "rater", "score")["W"].iloc[0] == pytest.approx(1.0)
    # without ties: mean pairwise Spearman rho = (mW - 1)/(m - 1)
    rng = np.random.default_rng(7)
    m_ = np.column_stack([rng.permutation(8) for _ in range(5)]).astype(float)
    w = kendall_w(long_from_matrix(m_), "target", "rater", "score")["W"].iloc[0]
    rhos = [st.spearmanr(m_[:, i], m_[:, j]).statistic for i, j in itertools.combinations(range(5), 2)]
    assert np.mean(rhos) == pytest.approx((5 * w - 1) / 4)


def test_kendall_w_all_raters_constant_nan_reason():
    d = long_from_matrix(np.full((4, 3), 2.0))
    r = kendall_w(d, "target", "rater", "score").iloc[0]
    assert math.isnan(r["W"]) and "same rating" in r["reason"]


# --------------------------------------------------------------------------- dispersion
def test_gini_hand_values():
    # [1,2,3,4]: sum over ordered pairs |xi-xj| = 2*(1+2+3+1+2+1) = 20 ; G = 20/(2*16*2.5) = 0.25
    assert gini([1, 2, 3, 4]) == pytest.approx(0.25)
    # [0,0,0,1]: sum = 2*3*1 = 6 ; G = 6/(2*16*0.25) = 0.75 = (n-1)/n
    assert gini([0, 0, 0, 1, np.nan]) == pytest.approx(0.75)
    assert gini([5, 5, 5]) == 0.0
    assert gini([0, 0]) == 0.0
    assert math.isnan(gini([]))
    assert math.isnan(gini([-1, 2]))


def test_tie_share_hand_values():
    assert tie_share([85, 85, 85, 70, np.nan]) == pytest.approx(3 / 4)
    assert tie_share([1, 2, 3, 4]) == pytest.approx(1 / 4)
    assert tie_share([1.0000001, 1.0, 2.0]) == pytest.approx(1 / 3)
    assert tie_share([1.0000001, 1.0, 2.0], decimals=6) == pytest.approx(2 / 3)
    # the spec's example: 199 of 248 departments with the same score -> 0.802
    x = np.r_[np.full(199, 90.0), np.arange(49.0)]
    assert round(tie_share(x), 3) == 0.802
    assert math.isnan(tie_share([np.nan]))


def test_entropy_norm_hand_values():
    # [1,1,2,3]: p = .5,.25,.25 ; H = .5 ln2 + .5 ln4 = 1.5 ln2 ; / ln4 = 0.75
    assert entropy_norm([1, 1, 2, 3]) == pytest.approx(0.75)
    assert entropy_norm([1, 2, 3]) == pytest.approx(1.0)
    assert entropy_norm([7, 7, 7, np.nan]) == 0.0
    assert math.isnan(entropy_norm([7]))


def test_cv_hand_values():
    # [2,4,4,4,5,5,7,9]: mean 5, population sd 2 -> 0.4 ; sample sd sqrt(32/7) -> 0.427618
    x = [2, 4, 4, 4, 5, 5, 7, 9]
    assert cv(x) == pytest.approx(0.4)
    assert cv(x, ddof=1) == pytest.approx(math.sqrt(32 / 7) / 5)
    assert cv([-2, -4]) == pytest.approx(1 / 3)  # sd 1 / |mean| 3
    assert math.isnan(cv([1, -1]))
    assert math.isnan(cv([3], ddof=1))
    assert math.isnan(cv([]))
