"""Tests of bsc_lib.analyses.targets and ``bsc targets``: the recommendation against a hand
calculation, band clipping, flags, the backtest's calibration on simulated trend data, bad input."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
from scipy import stats

from bsc_lib.analyses import targets as T
from bsc_lib.analyses.recipes import PRODUCERS, TARGET_TABLES, Recipes
from bsc_lib.cli import main
from bsc_lib.config.scheme import load_scheme
from bsc_lib.data.io import load
from bsc_lib.errors import BSCError

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample" / "2019"


def _t2(p: float) -> float:
    """Student t quantile with 2 degrees of freedom in closed form: F(t) = 1/2 + t / (2 sqrt(2 + t²))
    gives t = a·sqrt(2 / (1 − a²)) with a = 2p − 1 (independent of scipy)."""
    a = 2 * p - 1
    return a * math.sqrt(2 / (1 - a * a))


def _kpis(**pol):
    return pd.DataFrame({"kpi_id": list(pol), "owner_id": "D1", "name_ko": "지표",
                         "polarity": list(pol.values()), "band_low": np.nan, "band_high": np.nan})


def _series(values: dict[str, list[float]], start: int = 2015) -> pd.DataFrame:
    return pd.DataFrame([(k, start + i, v) for k, vs in values.items() for i, v in enumerate(vs)],
                        columns=["kpi_id", "year", "actual"])


def test_hand_calculation():
    """y = 10, 12, 13, 15 (2015–2018), forecast 2019. By hand: x̄ = 1.5, ȳ = 12.5, Sxx = 5,
    Sxy = 8, slope 1.6, F = 12.5 + 1.6·2.5 = 16.5; residuals −0.1, 0.3, −0.3, 0.1, SSR 0.2,
    s² = 0.1, se = sqrt(0.1·(1 + 1/4 + 2.5²/5)) = 0.5. t(0.6; 2) = 0.288675…, t(0.9; 2) = 1.885618…"""
    assert _t2(0.6) == pytest.approx(0.28867513459481287, abs=1e-15)
    assert _t2(0.6) == pytest.approx(stats.t.ppf(0.6, 2), abs=1e-12)
    rec = T.recommend(_kpis(U="up", D="down"), _series({"U": [10, 12, 13, 15], "D": [10, 12, 13, 15]}), 2019,
                      interval_level=0.8, challenge_percentile=0.6).set_index("kpi_id")
    assert rec.at["U", "trend_forecast"] == pytest.approx(16.5, abs=1e-12)
    assert rec.at["U", "pred_se"] == pytest.approx(0.5, abs=1e-12)
    assert rec.at["U", "recommended"] == pytest.approx(16.5 + 0.5 * _t2(0.6), abs=1e-12)  # 16.644338
    assert rec.at["D", "recommended"] == pytest.approx(16.5 - 0.5 * _t2(0.6), abs=1e-12)  # 16.355662
    assert rec.at["U", "interval_low"] == pytest.approx(16.5 - 0.5 * _t2(0.9), abs=1e-12)      # 15.557191
    assert rec.at["U", "interval_high"] == pytest.approx(16.5 + 0.5 * _t2(0.9), abs=1e-12)     # 17.442809
    assert not rec["too_little_history"].any() and not rec["structural_break"].any()


def test_band_clipped_and_short_history():
    k = _kpis(B="band", S="up", N="up")
    k.loc[0, ["band_low", "band_high"]] = [80.0, 85.0]
    rec = T.recommend(k, _series({"B": [70, 75, 80, 86], "S": [1, 2]}), 2019).set_index("kpi_id")
    assert rec.at["B", "recommended"] == 85.0  # forecast above the band → the upper limit
    assert math.isnan(rec.at["S", "recommended"]) and rec.at["S", "too_little_history"]
    assert rec.at["N", "n_history"] == 0 and "no history" in rec.at["N", "reason"]


def test_structural_break_flag():
    calm = [10.0, 11.1, 11.9, 13.05, 14.0]
    jump = [10.0, 11.1, 11.9, 13.05, 25.0]
    rec = T.recommend(_kpis(C="up", J="up"), _series({"C": calm, "J": jump}), 2020).set_index("kpi_id")
    assert not rec.at["C", "structural_break"]
    assert rec.at["J", "structural_break"] and "structural break" in rec.at["J", "reason"]


def test_yearly_actuals_history_wins_and_results_fill():
    hist = pd.DataFrame({"kpi_id": ["K", "K"], "year": [2017, 2018], "actual": [1.0, 2.0]})
    res = pd.DataFrame({"kpi_id": ["K", "K", "K"], "year": [2018, 2019, 2019], "half": ["H2", "H1", "H2"],
                        "target": 0.0, "actual": [9.0, 1.5, 3.0]})
    s = T.yearly_actuals(hist, res, "H2")
    assert s[["year", "actual", "source"]].values.tolist() == [[2017, 1.0, "history"], [2018, 2.0, "history"],
                                                              [2019, 3.0, "results"]]


def test_backtest_is_calibrated_on_trend_data():
    """Simulated KPIs that follow a linear trend with normal noise: the 80 % interval covers
    about 80 % of the held-out actuals and the 60th-percentile target is met about 40 % of the time."""
    rng = np.random.default_rng(20190201)
    n = 1500
    vals = {f"K{i:04d}": list(100 + rng.normal(3, 1) * np.arange(6) + rng.normal(0, 2, 6)) for i in range(n)}
    kpis = _kpis(**{k: "up" for k in vals})
    bt = T.backtest(kpis, _series(vals), min_history=3, interval_level=0.8, challenge_percentile=0.6,
                    naive_growth=0.03)
    assert sorted(bt["year"].unique()) == [2018, 2019, 2020]
    summ = T.backtest_summary(bt, 0.8, 0.6).set_index(["year", "kpi_group"])
    pooled = summ.loc[("all", "up/down")]
    # binomial SE of a share over 4500 draws ≈ 0.006–0.007: allow 3 SE
    assert pooled["coverage"] == pytest.approx(0.8, abs=0.02)
    assert pooled["share_met_trend"] == pytest.approx(0.4, abs=0.025)
    assert pooled["coverage_ci_low"] < pooled["coverage"] < pooled["coverage_ci_high"]
    # naive rule by hand for one row
    row = bt.iloc[0]
    last = vals[row["kpi_id"]][row["year"] - 2015 - 1]
    assert row["naive"] == pytest.approx(last * 1.03)
    assert bool(row["naive_met"]) == (row["actual"] >= last * 1.03)


def test_check_target_year():
    s = _series({"K": [1, 2, 3, 4, 5]})  # 2015–2019
    T.check_target_year(s, 2020)
    T.check_target_year(s, 2018)
    for y in (2017, 2021):
        with pytest.raises(BSCError, match="outside the history"):
            T.check_target_year(s, y)
    with pytest.raises(BSCError, match="no KPI has a yearly actual"):
        T.check_target_year(s.iloc[:0], 2020)
    # KPIs without history: only the current year's results → no year can be recommended
    with pytest.raises(BSCError, match="at least 3 years of history"):
        T.check_target_year(_series({"K": [5]}, start=2019), 2020)


@pytest.fixture(scope="module")
def rec():
    a = load_scheme(ROOT / "params" / "scheme-2019.yaml")
    return Recipes(load(SAMPLE, scheme=a), a, None, 2019)


def test_producers_on_the_sample(rec):
    for name in TARGET_TABLES:
        assert name in PRODUCERS
    t = rec["target_recommendations"]
    assert len(t) == 697
    # the 28 planted KPIs without history have only their 2019 actual: flagged, no recommendation
    n_short = int(t["too_little_history"].sum())
    assert n_short == int((t["n_history"] < 3).sum()) == 28
    assert t.loc[t["too_little_history"], "recommended"].isna().all()
    # current target and verdict come from the kpi_difficulty producer
    kd = rec["kpi_difficulty"].set_index("kpi_id")
    easy = t[t["current_verdict"] == "easy"]["kpi_id"]
    assert len(easy) == int(kd["easy"].sum()) == 95
    # a recommended up target is above the forecast, a down one below, a band one inside its band
    up, down = t[t["polarity"] == "up"].dropna(subset=["recommended"]), t[t["polarity"] == "down"].dropna(
        subset=["recommended"])
    assert (up["recommended"] >= up["trend_forecast"]).all() and (down["recommended"] <= down["trend_forecast"]).all()
    band = t[t["polarity"] == "band"].dropna(subset=["recommended"])
    assert band["recommended"].between(band["band_low"], band["band_high"]).all()


def test_cli_targets(tmp_path, capsys):
    assert main(["targets", "--year", "2020", "--lang", "en", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "669 of 697 KPIs (28 with too little history" in out and "naive rule (last year +3%)" in out
    (run,) = (tmp_path / "2020").glob("targets-*")
    wb = openpyxl.load_workbook(run / "results.xlsx", read_only=True)
    assert len(wb.sheetnames) == len(TARGET_TABLES)
    assert main(["targets", "--year", "2031", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "target year 2031 is outside the history" in err and "Traceback" not in err
    assert not (tmp_path / "2031").exists()
