"""Tests of the synthetic sample generator (bsc_lib.data.sample) and the committed sample."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from bsc_lib.config.scheme import default_scheme_path, load_scheme
from bsc_lib.data import sample
from bsc_lib.data.model import TABLES, pandas_dtype

REPO = Path(__file__).resolve().parent.parent
COMMITTED = REPO / "data" / "sample" / "2019"
COMMITTED_TRUTH = REPO / "data" / "sample" / "planted-2019.json"


@pytest.fixture(scope="module")
def scheme():
    return load_scheme(default_scheme_path())


@pytest.fixture(scope="module")
def data(scheme):
    return sample.generate(scheme=scheme)


@pytest.fixture(scope="module")
def truth(scheme):
    return sample.planted(scheme=scheme)


@pytest.fixture(scope="module")
def kpi_view(data):
    """One row per KPI: attributes, H1/H2 target and actual, and an independent np.polyfit forecast."""
    k = data.kpis.set_index("kpi_id")
    r = data.kpi_results
    for half in ("H1", "H2"):
        h = r[r["half"] == half].set_index("kpi_id")
        k[f"target_{half}"] = h["target"]
        k[f"actual_{half}"] = h["actual"]
        k[f"verified_{half}"] = h["verified"]
    hist = data.kpi_history.dropna(subset=["actual"])
    rows = []
    for kid, g in hist.groupby("kpi_id"):
        g = g.sort_values("year")
        f = np.nan
        if len(g) >= 2:
            coef = np.polyfit(g["year"].to_numpy(float), g["actual"].to_numpy(float), 1)
            f = float(np.polyval(coef, 2019.0))
        rows.append((kid, f, float(g["actual"].iloc[-1]), len(g)))
    f = pd.DataFrame(rows, columns=["kpi_id", "F", "last", "n_hist"]).set_index("kpi_id")
    k = k.join(f)
    k["n_hist"] = k["n_hist"].fillna(0).astype(int)
    sign = np.where(k["polarity"] == "down", -1.0, 1.0)
    k["gap"] = sign * (k["target_H2"] - k["F"]) / k["F"].abs()
    k["worse_than_last"] = sign * (k["target_H2"] - k["last"]) < 0
    k["ach_H1"] = np.where(k["polarity"] == "down", k["target_H1"] / k["actual_H1"], k["actual_H1"] / k["target_H1"])
    k["ach_H2"] = np.where(k["polarity"] == "down", k["target_H2"] / k["actual_H2"], k["actual_H2"] / k["target_H2"])
    return k


# --------------------------------------------------------------------------- helpers
def test_largest_remainder_hand_calculated():
    # 10 split 1:1:1 -> quotas 3.33 each -> floors 3,3,3, one left to the first (stable) -> 4,3,3
    assert sample._largest_remainder(10, [1, 1, 1]).tolist() == [4, 3, 3]
    # Seoul: 45 institutions in proportions 30:13:2 -> exactly 30, 13, 2
    assert sample._largest_remainder(45, [30, 13, 2]).tolist() == [30, 13, 2]
    # minimum 1 each, 7 over weights 0,1,3: rest 4 -> quotas 0, 1, 3 -> 1, 2, 4
    assert sample._largest_remainder(7, [0, 1, 3], minimum=1).tolist() == [1, 2, 4]
    with pytest.raises(ValueError):
        sample._largest_remainder(2, [1, 1, 1], minimum=1)


def test_ols_forecast_hand_calculated():
    # y = 1, 2, 4 at x = 0, 1, 2: x̄ = 1, ȳ = 7/3, Sxy = 3, Sxx = 2 -> slope 1.5,
    # intercept 7/3 - 1.5 = 5/6; at x = 3: 5/6 + 4.5 = 16/3.
    # Second row: NaN at x = 1 -> line through (0, 1) and (2, 4): slope 1.5, at 3: 5.5.
    # Third row: one point -> NaN.
    y = np.array([[1.0, 2.0, 4.0], [1.0, np.nan, 4.0], [np.nan, np.nan, 3.0]])
    f = sample._ols_forecast(y, np.array([0.0, 1.0, 2.0]), 3.0)
    assert f[0] == pytest.approx(16 / 3)
    assert f[1] == pytest.approx(5.5)
    assert np.isnan(f[2])


def test_ids_are_zero_padded_and_widen():
    assert sample._ids("D", 3, 3).tolist() == ["D001", "D002", "D003"]
    ids = sample._ids("K", 1200, 3)
    assert ids[0] == "K0001" and ids[-1] == "K1200"
    assert sorted(ids.tolist()) == ids.tolist()


# --------------------------------------------------------------------------- determinism
def test_same_seed_identical_frames(data, truth, scheme):
    again = sample.generate(scheme=scheme)
    for name in TABLES:
        pd.testing.assert_frame_equal(data.tables[name], again.tables[name], check_exact=True)
    assert sample.planted(scheme=scheme) == truth


def test_different_seed_differs(data, scheme):
    other = sample.generate(seed=1, scheme=scheme)
    # same structure at scale 1 ...
    assert len(other.kpis) == len(data.kpis) == 697
    # ... but different values
    assert not data.kpi_results["target"].equals(other.kpi_results["target"])
    assert not data.qualitative_ratings["score"].equals(other.qualitative_ratings["score"])


# --------------------------------------------------------------------------- form and counts
def test_canonical_form(data):
    assert list(data.tables) == list(TABLES)
    for name, t in TABLES.items():
        df = data.tables[name]
        assert df.columns.tolist() == t.column_names, name
        for c in t.columns:
            assert str(df[c.name].dtype) == pandas_dtype(c), (name, c.name, df[c.name].dtype)
            if c.allowed:
                assert set(df[c.name].dropna()) <= set(c.allowed), (name, c.name)
            if not c.nullable and c.required:
                assert df[c.name].notna().all(), (name, c.name)


def test_exact_counts_scale_1(data, truth):
    inst = data.institutions
    assert len(inst) == 45
    assert inst["inst_type"].value_counts().to_dict() == {"main_office": 30, "business_office": 13, "independent": 2}
    assert inst["institution_id"].iloc[[0, -1]].tolist() == ["I01", "I45"]
    assert len(data.departments) == 248
    assert data.departments["department_id"].iloc[[0, -1]].tolist() == ["D001", "D248"]
    assert len(data.projects) == 450
    k = data.kpis
    assert len(k) == 697
    assert (k["level"] == "institution").sum() == 90
    assert (k["level"] == "department").sum() == 607
    # 2 institution KPIs per institution, owned by the institution, without a project
    ik = k[k["level"] == "institution"]
    assert ik.groupby("owner_id").size().eq(2).all() and ik["owner_id"].nunique() == 45
    assert ik["project_id"].isna().all()
    assert k.loc[k["level"] == "department", "project_id"].notna().all()
    pt = data.plan_tasks["plan_level"].value_counts().to_dict()
    assert pt == {"vision": 1, "goal": 5, "core": 25, "general": 151}
    assert data.plan_tasks.loc[data.plan_tasks["plan_level"] == "vision", "name_ko"].item() == (
        "내 삶이 행복한 서울, 시민이 주인인 서울")
    assert data.plan_tasks.loc[data.plan_tasks["plan_level"] == "goal", "name_ko"].tolist() == [
        "미래 서울", "안전 서울", "복지 서울", "균형 서울", "민주 서울"]
    # people: one bureau head per institution + one department head per department = 45 + 248
    assert len(data.people) == 293
    assert data.people["role"].value_counts().to_dict() == {"department_head": 248, "bureau_head": 45}
    assert set(data.people.loc[data.people["role"] == "department_head", "grade"]) == {"4급"}
    assert set(data.people.loc[data.people["role"] == "bureau_head", "grade"]) <= {"2급", "3급"}
    assert truth["counts"]["kpis"] == 697 and truth["counts"]["departments"] == 248


def test_every_department_has_project_core_project_and_kpi(data):
    d = set(data.departments["department_id"])
    p = data.projects
    assert set(p["department_id"]) == d
    assert set(p.loc[p["is_core"], "department_id"]) == d
    # about one core project per department: 248 departments, 5 % (12) with a second one
    assert p["is_core"].sum() == 248 + 12
    k = data.kpis
    assert set(k.loc[k["level"] == "department", "owner_id"]) == d
    # a department KPI measures one of its own department's projects
    m = k.dropna(subset=["project_id"]).merge(p[["project_id", "department_id"]], on="project_id")
    assert (m["owner_id"] == m["department_id"]).all()
    # goals: 2-3 strategic goals per institution, 1-2 performance goals per department
    assert data.strategic_goals.groupby("institution_id").size().between(2, 3).all()
    assert data.performance_goals.groupby("department_id").size().between(1, 2).all()


def test_keys_unique_and_foreign_keys_resolve(data):
    for name, t in TABLES.items():
        df = data.tables[name]
        key = list(t.key)
        assert df[key].notna().all().all(), name
        assert not df.duplicated(key).any(), name
        for c in t.columns:
            if not c.fk:
                continue
            known: set = set()
            for ref in c.fk:
                tt, tc = ref.split(".")
                known |= set(data.tables[tt][tc].dropna())
            vals = df[c.name].dropna()
            assert vals.isin(known).all(), (name, c.name, sorted(set(vals) - known)[:5])


def test_validate_committed_sample():
    validate = pytest.importorskip("bsc_lib.data.validate").validate
    assert validate(str(COMMITTED)) == []


def test_weights_integer_and_sum_100_per_owner(data):
    w = data.kpis.groupby("owner_id")["weight"]
    assert (w.sum() == 100).all()
    assert (data.kpis["weight"] == data.kpis["weight"].round()).all()
    assert (data.kpis["weight"] > 0).all()


def test_ratings_inside_scheme_scales(data, scheme):
    comp = scheme.components
    for table, c in (("pre_eval_ratings", comp.pre_evaluation), ("qualitative_ratings", comp.qualitative),
                     ("evaluator_scores", comp.evaluator)):
        s = data.tables[table]["score"]
        assert s.between(c.scale.min, c.scale.max).all(), table
    pre = data.pre_eval_ratings
    assert set(pre["item"]) == {i.id for i in comp.pre_evaluation.items}
    assert set(pre["rater_id"]) == {"A1", "A2", "A3"}
    assert set(pre["unit_id"]) == set(data.departments["department_id"])
    q = data.qualitative_ratings
    assert set(q["item"]) == {i.id for i in comp.qualitative.items}
    assert set(q["project_id"]) == set(data.projects.loc[data.projects["is_core"], "project_id"])
    assert q.groupby("rater_group")["rater_id"].nunique().to_dict() == {
        "bureau_self": 45, "planning_office": 3, "expert": 5}
    co = data.cooperation_scores
    pts = {i.id: i.points for i in comp.cooperation.items}
    assert set(co["item"]) == set(pts)
    assert (co["score"] <= co["item"].map(pts)).all() and (co["score"] >= 0).all()
    assert ((co["score"] * 2) == (co["score"] * 2).round()).all()  # 0.5 steps
    assert co.groupby("item")["score"].std().gt(0).all()  # some spread in every item
    assert set(data.strategic_goals["perspective"]) <= set(scheme.perspectives)


def test_values_physically_plausible(data, kpi_view):
    k = kpi_view
    bounded = k["unit"].isin(["%", "점"])
    for col in ("target_H1", "target_H2", "actual_H1", "actual_H2"):
        assert (k.loc[bounded, col].dropna() <= 100).all(), col
        assert (k[col].dropna() >= 0).all(), col
    counts = k["unit"].isin(["건", "명", "개소"])
    for col in ("target_H1", "target_H2", "actual_H2"):
        v = k.loc[counts, col].dropna()
        assert (v == v.round()).all(), col
    h = data.kpi_history.merge(data.kpis[["kpi_id", "unit"]], on="kpi_id")
    assert (h["actual"].dropna() > 0).all()
    assert (h.loc[h["unit"].isin(["%", "점"]), "actual"].dropna() <= 100).all()
    band = k["polarity"] == "band"
    assert k.loc[band, ["band_low", "band_high"]].notna().all().all()
    assert k.loc[~band, ["band_low", "band_high"]].isna().all().all()
    assert (k.loc[band, "band_low"] < k.loc[band, "band_high"]).all()
    # polarity mix: 15 % down = round(104.55) = 105, 3 % band = round(20.91) = 21
    assert k["polarity"].value_counts().to_dict() == {"up": 571, "down": 105, "band": 21}
    assert k["kpi_type"].value_counts().idxmax() == "output"
    assert set(k["unit"]) >= {"%", "건", "명", "점", "억원", "일"}


def test_history_categories(data, truth, kpi_view):
    k = kpi_view
    # 4 % of 697 = 27.88 -> 28 new KPIs (14 without rows, 14 with all-NaN rows)
    assert len(truth["no_history_kpis"]) == 28
    assert (k.loc[truth["no_history_kpis"], "n_hist"] == 0).all()
    assert set(k.index[k["n_hist"] == 0]) == set(truth["no_history_kpis"])
    hist_ids = set(data.kpi_history["kpi_id"])
    assert not set(truth["no_history_rows_absent_kpis"]) & hist_ids
    assert set(truth["no_history_rows_nan_kpis"]) <= hist_ids
    assert (k.loc[truth["gap_kpis"], "n_hist"] == 3).all()
    assert (k.loc[truth["short_history_kpis"], "n_hist"] == 2).all()
    assert data.kpi_history["year"].between(2015, 2018).all()


# --------------------------------------------------------------------------- planted effects
def test_planted_difficulty_recomputed_with_polyfit(kpi_view, truth):
    k = kpi_view
    lo_e, hi_e = truth["easy_gap_range"]
    lo_n, hi_n = truth["normal_gap_range"]
    assert (lo_e, hi_e, lo_n, hi_n) == (-0.12, -0.04, 0.03, 0.15)
    easy = k.loc[truth["easy_kpis"]]
    normal = k.loc[truth["normal_target_kpis"]]
    eps = 1e-9
    assert easy["gap"].between(lo_e - eps, hi_e + eps).all()
    assert normal["gap"].between(lo_n - eps, hi_n + eps).all()
    # easy: up/down with >= 3 history points; never band
    assert (easy["n_hist"] >= 3).all() and not (easy["polarity"] == "band").any()
    # every up/down KPI with a forecast is either easy or normal
    has_f = k["F"].notna() & (k["polarity"] != "band")
    assert set(k.index[has_f]) == set(truth["easy_kpis"]) | set(truth["normal_target_kpis"])
    # ~15 % of the eligible: eligible = up/down with >= 3 points = 635 -> round(95.25) = 95
    eligible = (k["polarity"] != "band") & (k["n_hist"] >= 3)
    assert eligible.sum() == 635 and len(truth["easy_kpis"]) == 95
    # regressive = exactly the easy KPIs whose target is worse than the last actual
    reg = set(truth["regressive_kpis"])
    assert reg <= set(truth["easy_kpis"]) and 10 <= len(reg) <= 15
    assert set(k.index[has_f & k["worse_than_last"]]) == reg


def test_easy_targets_concentrate_in_units(kpi_view, truth):
    k = kpi_view
    k = k.assign(easy=k.index.isin(truth["easy_kpis"]))
    dk = k[k["level"] == "department"]
    share = dk.groupby("owner_id")["easy"].mean()
    heavy = truth["easy_heavy_departments"]
    assert len(heavy) == 12  # 5 % of 248 = 12.4 -> 12
    assert (share.loc[heavy] >= 0.75).all()
    assert (share.drop(heavy) <= 0.5).all()
    # easy KPIs carry above-average weight in their unit (weight / owner mean weight)
    rel = k["weight"] / k.groupby("owner_id")["weight"].transform("mean")
    assert rel[k["easy"]].mean() > 1.05 > rel[~k["easy"]].mean()


def test_pre_eval_challenge_tracks_easy_share(data, truth):
    k = data.kpis[data.kpis["level"] == "department"]
    share = k.assign(easy=k["kpi_id"].isin(truth["easy_kpis"])).groupby("owner_id")["easy"].mean()
    pre = data.pre_eval_ratings
    ch = pre[pre["item"] == "kpi_challenge"].groupby(["unit_id", "round"])["score"].mean().unstack()
    final = ch["final"].fillna(ch["first"])
    rho = stats.spearmanr(final.loc[share.index], share).statistic
    assert -0.8 < rho < -0.4
    assert rho == pytest.approx(truth["kpi_challenge_spearman"], abs=1e-4)
    assert len(truth["no_final_round_departments"]) == 5  # 2 % of 248 = 4.96 -> 5
    assert set(ch.index[ch["final"].isna()]) == set(truth["no_final_round_departments"])


def test_lenient_and_harsh_expert(data, truth):
    q = data.qualitative_ratings
    ex = q[q["rater_group"] == "expert"]
    dev = ex["score"] - ex.groupby(["half", "project_id", "item"])["score"].transform("mean")
    mean_dev = dev.groupby(ex["rater_id"]).mean()
    assert truth["lenient_rater"] != truth["harsh_rater"]
    # planted ±8 against a panel mean that contains the rater itself: about ±8·(4/5) ≈ ±6.4
    assert mean_dev[truth["lenient_rater"]] > 5
    assert mean_dev[truth["harsh_rater"]] < -5
    others = mean_dev.drop([truth["lenient_rater"], truth["harsh_rater"]])
    assert others.abs().max() < 3


def test_achievement_plants(kpi_view, truth):
    k = kpi_view
    game = k.loc[truth["gaming_kpis"]]
    assert len(truth["gaming_departments"]) == 6  # 2.5 % of 248 = 6.2 -> 6
    assert set(game["owner_id"]) == set(truth["gaming_departments"])
    band = game["polarity"] == "band"
    for h in ("ach_H1", "ach_H2"):
        assert game.loc[~band, h].between(1.0, 1.03 + 1e-12).all(), h
    easy = k.loc[truth["easy_kpis"], "ach_H2"].dropna()
    assert easy.median() > 1.04 and (easy > 1).mean() > 0.8  # easy targets are mostly over-achieved
    normal = k.loc[truth["normal_target_kpis"]].drop(truth["gaming_kpis"], errors="ignore")["ach_H2"].dropna()
    assert 0.97 < normal.median() < 1.03 and normal.std() > 0.03


def test_missing_and_unverified_actuals(kpi_view, truth):
    k = kpi_view
    assert len(truth["missing_actual_kpis"]) == 6 and len(truth["unverified_kpis"]) == 8
    assert set(k.index[k["actual_H2"].isna()]) == set(truth["missing_actual_kpis"])
    assert k["actual_H1"].notna().all() and k["verified_H1"].all()
    assert set(k.index[~k["verified_H2"]]) == set(truth["missing_actual_kpis"]) | set(truth["unverified_kpis"])
    assert k.loc[truth["unverified_kpis"], "actual_H2"].notna().all()


def test_h1_targets(kpi_view):
    k = kpi_view
    level = k["unit"].isin(["%", "점", "일"]) | (k["polarity"] == "band")
    assert (k.loc[level, "target_H1"] == k.loc[level, "target_H2"]).all()
    ratio = (k.loc[~level, "target_H1"] / k.loc[~level, "target_H2"])
    # 45-55 % of the annual target, up to the rounding to whole units (targets >= 27)
    assert ratio.between(0.42, 0.58).all()


def test_unmapped_tasks(data, truth):
    tasks = data.plan_tasks
    mappable = set(tasks.loc[tasks["plan_level"].isin(["core", "general"]), "task_id"])
    unmapped = mappable - set(data.project_tasks["task_id"])
    assert unmapped == set(truth["unmapped_tasks"])
    assert len(truth["unmapped_core_tasks"]) == 2 and len(truth["unmapped_general_tasks"]) == 9
    assert set(data.project_tasks["project_id"]) == set(data.projects["project_id"])


def test_integrity_and_acrc_ties(data, truth):
    it = data.integrity
    vc = it["acrc_score"].value_counts()
    assert vc.iloc[0] == 199 and vc.index[0] == truth["acrc_tied_value"]
    assert truth["acrc_tied_departments"] == 199
    untied = it.loc[it["acrc_score"] != truth["acrc_tied_value"], "department_id"]
    assert len(untied) == 49 and set(untied) == set(truth["acrc_untied_department_ids"])
    assert it["survey_score"].nunique() > 230  # continuous, few ties
    assert it["misconduct_count"].value_counts().to_dict() == {0: 228, 1: 15, 2: 5}  # 92/6/2 % of 248
    for c in ("plan_status", "expense_disclosure", "training_completion", "survey_score"):
        assert it[c].between(0, 100).all()


def test_consulting_people_and_org(data, truth):
    d = data.departments
    assert (~d["consulting_participated"]).sum() == 12  # 5 % of 248 = 12.4 -> 12
    assert set(d.loc[~d["consulting_participated"], "department_id"]) == set(truth["no_consulting_departments"])
    names = data.people["name_ko"]
    assert names.str.len().eq(3).all()
    o = data.org_management.pivot(index="person_id", columns="year")
    assert len(o) == 293
    better = o[("avg_overtime_hours", 2019)] < o[("avg_overtime_hours", 2018)]
    assert better.mean() > 0.7
    assert (o[("avg_leave_days", 2019)] > o[("avg_leave_days", 2018)]).mean() > 0.7
    ev = data.evaluator_scores
    heads = data.people.set_index("unit_id")["person_id"]
    dept_ev = ev[ev["unit_id"].str.startswith("D")].merge(data.departments, left_on="unit_id", right_on="department_id")
    assert (dept_ev["evaluator_id"] == dept_ev["institution_id"].map(heads)).all()
    assert ev[ev["unit_id"].str.startswith("I")].groupby(["half", "unit_id"]).size().eq(3).all()


# --------------------------------------------------------------------------- files
def test_committed_sample_equals_write_sample(tmp_path):
    out = sample.write_sample(tmp_path / "2019")
    assert out == tmp_path / "2019"
    written = sorted(p.name for p in out.iterdir())
    assert written == sorted(f"{n}.csv" for n in TABLES)
    assert sorted(p.name for p in COMMITTED.iterdir()) == written
    for name in written:
        assert (out / name).read_bytes() == (COMMITTED / name).read_bytes(), name
    assert (tmp_path / "planted-2019.json").read_bytes() == COMMITTED_TRUTH.read_bytes()


def test_csv_reads_back_identically(tmp_path, data, truth):
    out = sample.write_sample(tmp_path / "s")
    raw = (out / "kpi_results.csv").read_bytes()
    assert b"\r\n" not in raw
    assert raw.decode("utf-8").splitlines()[0] == ",".join(TABLES["kpi_results"].column_names)
    r = pd.read_csv(out / "kpi_results.csv", keep_default_na=False, na_values=[""], dtype={"verified": str})
    assert set(r["verified"].astype(str)) == {"true", "false"}
    np.testing.assert_array_equal(r["target"].to_numpy(), data.kpi_results["target"].to_numpy())
    np.testing.assert_array_equal(r["actual"].to_numpy(), data.kpi_results["actual"].to_numpy())
    assert json.loads((tmp_path / "planted-2019.json").read_text(encoding="utf-8")) == truth


def test_scale_2_doubles(scheme):
    t2 = sample.planted(scale=2, scheme=scheme)
    c = t2["counts"]
    # 697·2 = 1394, 248·2 = 496, 45·2 = 90, 450·2 = 900
    assert (c["kpis"], c["departments"], c["institutions"], c["projects"]) == (1394, 496, 90, 900)
    assert t2["acrc_tied_departments"] == 398  # 199/248·496
    d2 = sample.generate(scale=0.1, scheme=scheme)
    assert len(d2.kpis) == 70 and len(d2.institutions) == 5  # round(69.7), round(4.5) half up
    assert not d2.kpis.duplicated("kpi_id").any()


@pytest.mark.parametrize("kwargs", [{"scale": 0}, {"scale": -1}, {"scale": math.nan}, {"scale": "big"},
                                    {"scale": 0.001}, {"seed": -1}, {"year": 1800}, {"year": 2019.5}])
def test_bad_arguments_raise_value_error(kwargs):
    with pytest.raises(ValueError):
        sample.generate(**kwargs)
