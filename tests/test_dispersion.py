"""Tests of bsc_lib.analyses.dispersion: discrimination, effective weights, old vs new integrity, groups."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs
from hypothesis.extra.numpy import arrays

from bsc_lib.analyses.dispersion import (
    DISCRIMINATION_COLUMNS,
    compare_integrity,
    discrimination,
    effective_weights,
    group_differences,
)


# --------------------------------------------------------------------------- discrimination
def test_discrimination_hand_values():
    res = discrimination(pd.DataFrame({"v": [1.0, 2.0, 3.0, 10.0, np.nan]}), "v").iloc[0]
    # [1,2,3,10]: mean 4 ; deviations -3,-2,-1,6 ; m2 = 50/4 = 12.5 ; m3 = 180/4 = 45
    assert res["n"] == 4 and res["n_missing"] == 1 and res["n_distinct"] == 4
    assert res["largest_tie_share"] == pytest.approx(0.25)
    assert res["largest_tie_value"] == 1.0  # all counts equal -> smallest value
    assert res["sd"] == pytest.approx(math.sqrt(12.5))
    assert res["cv"] == pytest.approx(math.sqrt(12.5) / 4)
    assert res["skew"] == pytest.approx(45 / 12.5**1.5)  # 1.018233
    # percentiles (linear): q25 at position 0.75 -> 1.75 ; q75 at 2.25 -> 3 + .25*7 = 4.75
    assert res["iqr"] == pytest.approx(3.0)
    assert res["range"] == 9.0
    # gini: sum over ordered pairs |xi-xj| = 2*(1+2+9+1+8+7) = 56 ; 56/(2*16*4) = 0.4375
    assert res["gini"] == pytest.approx(0.4375)
    assert res["entropy_norm"] == pytest.approx(1.0)
    assert res["reason"] == ""


def test_discrimination_199_of_248_tied():
    # the spec's old integrity score: 199 of 248 departments share one score
    rng = np.random.default_rng(3)
    old = np.r_[np.full(199, 85.0), 60 + np.arange(49) * 0.5]
    new = rng.permutation(np.linspace(55, 98, 248))
    df = pd.DataFrame({"measure": ["old"] * 248 + ["new"] * 248, "v": np.r_[old, new]})
    res = discrimination(df, "v", by="measure").set_index("measure")
    assert list(res.index) == ["new", "old"]  # sorted groups
    assert res.loc["old", "largest_tie_value"] == 85.0
    assert round(res.loc["old", "largest_tie_share"], 3) == 0.802  # 199/248
    assert res.loc["old", "n_distinct"] == 50
    assert res.loc["old", "iqr"] == 0.0
    assert res.loc["new", "largest_tie_share"] == pytest.approx(1 / 248)
    assert res.loc["new", "entropy_norm"] == pytest.approx(1.0)
    assert res.loc["old", "entropy_norm"] < 0.3


def test_discrimination_rounding_absorbs_float_noise():
    df = pd.DataFrame({"v": [80.0, 80.0 + 1e-10, 70.0]})
    assert discrimination(df, "v")["n_distinct"].iloc[0] == 2
    assert discrimination(df, "v", decimals=None)["n_distinct"].iloc[0] == 3


def test_discrimination_edge_cases_defined():
    df = pd.DataFrame(
        {"g": ["empty", "empty", "one", "const", "const", "neg", "neg"],
         "v": [np.nan, np.nan, 5.0, 3.0, 3.0, -1.0, 1.0]}
    )
    res = discrimination(df, "v", by="g").set_index("g")
    assert list(res.columns) == DISCRIMINATION_COLUMNS
    e = res.loc["empty"]
    assert e["n"] == 0 and e["n_missing"] == 2 and math.isnan(e["sd"]) and e["reason"] == "no values"
    o = res.loc["one"]
    assert o["n"] == 1 and o["sd"] == 0 and o["largest_tie_share"] == 1.0 and o["gini"] == 0.0
    assert math.isnan(o["entropy_norm"]) and math.isnan(o["skew"]) and "only one value" in o["reason"]
    c = res.loc["const"]
    assert c["sd"] == 0 and c["entropy_norm"] == 0.0 and math.isnan(c["skew"])
    assert "no discrimination" in c["reason"]
    ng = res.loc["neg"]
    assert math.isnan(ng["gini"]) and math.isnan(ng["cv"])
    assert "gini undefined" in ng["reason"] and "cv undefined" in ng["reason"]
    with pytest.raises(ValueError, match="numeric"):
        discrimination(pd.DataFrame({"v": ["a", "b"]}), "v")
    with pytest.raises(ValueError, match="not in df"):
        discrimination(df, "score")


# --------------------------------------------------------------------------- effective weights
def hand_wide() -> pd.DataFrame:
    w = pd.DataFrame({"a": [1.0, 2, 3, 4], "b": [2.0, 2, 2, 2], "c": [0.0, 2, 1, 5]})
    return w.assign(total=w.sum(axis=1))  # 3, 6, 6, 11


def test_effective_weights_hand_example():
    res = effective_weights(hand_wide(), ["a", "b", "c"], nominal={"a": 20, "b": 20, "c": 10})
    r = res.set_index("component")
    # centred: a -1.5,-.5,.5,1.5 ; c -2,0,-1,3 ; total -3.5,-.5,-.5,4.5
    # var a = 5/3, var c = 14/3, cov(a,c) = 7/3, var total = 33/3 = 11
    # cov(a,T) = 5/3+7/3 = 4 -> share 4/11 ; cov(c,T) = 14/3+7/3 = 7 -> share 7/11 ; b: 0
    assert r.loc["a", "variance"] == pytest.approx(5 / 3)
    assert r.loc["c", "cov_total"] == pytest.approx(7.0)
    assert r.loc["a", "effective_share"] == pytest.approx(4 / 11)
    assert r.loc["c", "effective_share"] == pytest.approx(7 / 11)
    assert r.loc["b", "effective_share"] == 0.0
    assert "constant component" in r.loc["b", "reason"]
    # corr(a,T) = 4/sqrt(5/3*11) = 0.934199 ; corr(c,T) = 7/sqrt(14/3*11) = 0.977008
    assert r.loc["a", "corr_total"] == pytest.approx(4 / math.sqrt(55 / 3))
    assert r.loc["c", "corr_total"] == pytest.approx(7 / math.sqrt(154 / 3))
    assert math.isnan(r.loc["b", "corr_total"])
    # nominal shares 20/50, 20/50, 10/50 ; ratio a = (4/11)/.4, c = (7/11)/.2
    assert r["nominal_share"].tolist() == pytest.approx([0.4, 0.4, 0.2])
    assert r.loc["c", "ratio"] == pytest.approx((7 / 11) / 0.2)
    assert res.attrs["share_sum"] == pytest.approx(1.0) and res.attrs["total_is_sum"]


def test_effective_weights_total_none_missing_rows_and_errors():
    w = hand_wide()
    w.loc[4] = [np.nan, 2.0, 1.0, np.nan]
    res = effective_weights(w.drop(columns="total"), ["a", "b", "c"], total_col=None)
    assert res.attrs["n_dropped"] == 1 and (res["n"] == 4).all()
    assert res["effective_share"].tolist() == pytest.approx([4 / 11, 0.0, 7 / 11])
    assert res["nominal_share"].isna().all() and res["reason"].str.contains("nominal").any()
    with pytest.raises(ValueError, match="nominal points missing"):
        effective_weights(hand_wide(), ["a", "b", "c"], nominal={"a": 1})
    with pytest.raises(ValueError, match="not in wide"):
        effective_weights(hand_wide(), ["a", "x"])
    const = effective_weights(pd.DataFrame({"a": [1.0, 1], "total": [1.0, 1]}), ["a"])
    assert const["effective_share"].isna().all() and "total is constant" in const["reason"].iloc[0]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(arrays(np.float64, hs.tuples(hs.integers(3, 12), hs.integers(1, 4)),
              elements=hs.floats(0, 100, allow_nan=False, allow_subnormal=False)))
def test_effective_shares_sum_to_one_when_total_is_sum(x):
    comps = [f"c{i}" for i in range(x.shape[1])]
    wide = pd.DataFrame(x, columns=comps)
    wide["total"] = wide[comps].sum(axis=1)
    res = effective_weights(wide, comps)
    if wide["total"].var() > 1e-6:
        assert res["effective_share"].sum() == pytest.approx(1.0, abs=1e-6)


# --------------------------------------------------------------------------- old vs new integrity
def test_compare_integrity_side_by_side():
    ids = [f"D{i:03d}" for i in range(248)]
    old = np.r_[np.full(199, 85.0), 86 + np.arange(49) * 0.2]
    integ = pd.DataFrame({"year": 2019, "department_id": ids, "acrc_score": old})
    # new index = a strictly increasing function of position: distinct everywhere
    new = pd.Series(50 + np.arange(248) * 0.2, index=pd.Index(ids, name="department_id"))
    res = compare_integrity(integ, new).set_index("measure")
    assert round(res.loc["old", "largest_tie_share"], 3) == 0.802
    assert res.loc["new", "largest_tie_share"] == pytest.approx(1 / 248)
    assert res.loc["old", "label_ko"] == "공무원 청렴도(구)"
    assert (res["n_paired"] == 248).all() and (res["n_unpaired"] == 0).all()
    # Spearman: old ranks are tied at 100 (average of 1..199) for the first 199 positions, then
    # 200..248; new ranks 1..248. Centred old ranks: -24.5 (x199), 75.5..123.5; rho = cov/sds:
    r_old = np.r_[np.full(199, 100.0), np.arange(200, 249.0)]
    r_new = np.arange(1, 249.0)
    rho = np.corrcoef(r_old, r_new)[0, 1]  # Pearson correlation of the ranks = Spearman rho
    assert res["spearman_rho"].tolist() == pytest.approx([rho, rho])


def test_compare_integrity_hand_spearman_and_unpaired():
    integ = pd.DataFrame({"department_id": ["a", "b", "c", "d", "e"], "acrc_score": [1.0, 2, 3, 4, np.nan]})
    new = pd.DataFrame({"department_id": ["a", "b", "c", "d", "f"], "integrity_index": [10.0, 30, 20, 40, 5]})
    res = compare_integrity(integ, new)
    # paired a-d: ranks old 1,2,3,4 ; new 1,3,2,4 ; d^2 = 0,1,1,0 -> rho = 1 - 6*2/(4*15) = 0.8
    assert res["spearman_rho"].iloc[0] == pytest.approx(0.8)
    # e has neither score (old NaN, no new) ; f only the new one -> 1 unpaired
    assert res["n_paired"].iloc[0] == 4 and res["n_unpaired"].iloc[0] == 1
    with pytest.raises(ValueError, match="duplicate"):
        compare_integrity(pd.concat([integ, integ.head(1)]), new)
    const = compare_integrity(integ.assign(acrc_score=80.0), new)
    assert const["spearman_rho"].isna().all() and "constant" in const["reason"].iloc[0]


# --------------------------------------------------------------------------- group differences
def test_group_differences_hand_kruskal_wallis():
    df = pd.DataFrame({"g": list("aaabbbccc"), "v": [1, 2, 3, 4, 5, 6, 7, 8, 9.0]})
    res = group_differences(df, "v", "g")
    # rank sums 6, 15, 24 ; H = 12/(9*10) * (36+225+576)/3 - 3*10 = 37.2 - 30 = 7.2
    # epsilon2 = H/(n-1) = 0.9 ; eta2_H = (H-k+1)/(n-k) = 5.2/6
    assert res["H"].iloc[0] == pytest.approx(7.2)
    assert res["df"].iloc[0] == 2
    assert res["pval"].iloc[0] == pytest.approx(math.exp(-7.2 / 2))  # chi2 sf with 2 df
    assert res["epsilon2"].iloc[0] == pytest.approx(0.9)
    assert res["eta2_h"].iloc[0] == pytest.approx(5.2 / 6)
    assert res["median"].tolist() == [2.0, 5.0, 8.0]
    assert res["mean_rank"].tolist() == [2.0, 5.0, 8.0]


def test_group_differences_ties():
    df = pd.DataFrame({"g": list("aaabbb"), "v": [1, 2, 2, 3, 4, 5.0]})
    res = group_differences(df, "v", "g").iloc[0]
    # ranks 1, 2.5, 2.5 | 4, 5, 6 ; rank sums 6, 15 ; H = 12/42*(12+75) - 21 = 3.857143
    # tie correction C = 1 - (2^3-2)/(6^3-6) = 1 - 6/210 ; H_c = 3.857143/C = 3.970588
    h = (12 / 42 * 87 - 21) / (1 - 6 / 210)
    assert res["H"] == pytest.approx(h)
    assert res["epsilon2"] == pytest.approx(h / 5)
    assert res["eta2_h"] == pytest.approx((h - 1) / 4)


def test_group_differences_degenerate_nan_with_reason():
    one = group_differences(pd.DataFrame({"g": ["a"] * 3, "v": [1, 2, 3.0]}), "v", "g")
    assert math.isnan(one["H"].iloc[0]) and "fewer than 2 groups" in one["reason"].iloc[0]
    const = group_differences(pd.DataFrame({"g": list("aabb"), "v": [5.0] * 4}), "v", "g")
    assert const["H"].isna().all() and "all values equal" in const["reason"].iloc[0]
    empty = group_differences(pd.DataFrame({"g": ["a"], "v": [np.nan]}), "v", "g")
    assert len(empty) == 1 and empty["k"].iloc[0] == 0


# --------------------------------------------------------------------------- sample data
def test_sample_old_acrc_score_does_not_discriminate_new_index_does():
    sample = pytest.importorskip("bsc_lib.data.sample")
    integrity_mod = pytest.importorskip("bsc_lib.scoring.components.integrity")
    from pathlib import Path

    from bsc_lib.config.scheme import load_scheme

    scheme = load_scheme(Path(__file__).resolve().parents[1] / "params" / "scheme-2019.yaml")
    data = sample.generate()
    planted = sample.planted()
    new = integrity_mod.integrity_index(data.integrity, data.departments, scheme.integrity_index, year=2019)
    res = compare_integrity(data.integrity, new.tables["integrity"][["department_id", "index"]],
                            new_col="index").set_index("measure")
    # spec §6.2: 199 of 248 departments share the old score -> 199/248 = 0.802
    assert res.loc["old", "n"] == 248
    assert res.loc["old", "largest_tie_value"] == planted["acrc_tied_value"]
    assert round(res.loc["old", "largest_tie_share"], 3) == 0.802
    assert res.loc["new", "largest_tie_share"] < 0.05
    assert res.loc["new", "entropy_norm"] > 0.9 > res.loc["old", "entropy_norm"]
