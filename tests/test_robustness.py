"""Tests of bsc_lib.analyses.robustness: forced distribution, Monte Carlo, bootstrap, Sobol, boundaries."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from bsc_lib.analyses import robustness as rb

QUOTAS = {"S": 0.2, "A": 0.3, "B": 0.4, "C": 0.1}
POINTS = {"pre_evaluation": 20.0, "achievement": 20.0, "qualitative": 25.0, "evaluator": 10.0,
          "cooperation": 25.0}


def _random_fractions(n: int = 30, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        rng.uniform(0.4, 1.0, size=(n, len(POINTS))),
        index=pd.Index([f"D{i:03d}" for i in range(n)], name="unit_id"),
        columns=list(POINTS),
    )


# ---------------------------------------------------------------------------
# forced distribution
# ---------------------------------------------------------------------------


def test_forced_counts_13_units_largest_remainder():
    # 13 × (.2, .3, .4, .1) = 2.6, 3.9, 5.2, 1.3 -> floors 2, 3, 5, 1 (sum 11);
    # remainders .6, .9, .2, .3 -> the 2 left go to A (.9) and S (.6) -> 3, 4, 5, 1
    assert rb.forced_distribution_counts(13, QUOTAS) == {"S": 3, "A": 4, "B": 5, "C": 1}


def test_forced_counts_exact_and_equal_remainders():
    # 10 units: 2, 3, 4, 1 exactly
    assert rb.forced_distribution_counts(10, QUOTAS) == {"S": 2, "A": 3, "B": 4, "C": 1}
    # 5 units: 1, 1.5, 2, .5 -> floors 1, 1, 2, 0 (4); remainders A .5 = C .5 -> the better (A)
    assert rb.forced_distribution_counts(5, QUOTAS) == {"S": 1, "A": 2, "B": 2, "C": 0}
    # 100 units with .29/.71: 28.999999999999996 must not floor to 28
    assert rb.forced_distribution_counts(100, {"A": 0.29, "B": 0.71}) == {"A": 29, "B": 71}
    assert rb.forced_distribution_counts(0, QUOTAS) == {"S": 0, "A": 0, "B": 0, "C": 0}


def test_forced_counts_floor_best():
    # 13 units: floors 2, 3, 5, 1 and the 2 left over go to the best grade -> 4, 3, 5, 1
    assert rb.forced_distribution_counts(13, QUOTAS, rounding="floor_best") == {
        "S": 4, "A": 3, "B": 5, "C": 1}


@pytest.mark.parametrize("bad", [{"S": 0.5, "A": 0.4}, {}, {"S": 1.2, "A": -0.2}])
def test_forced_counts_bad_quotas(bad):
    with pytest.raises(ValueError, match="quotas"):
        rb.forced_distribution_counts(10, bad)


def test_forced_counts_bad_n():
    with pytest.raises(ValueError, match="group size"):
        rb.forced_distribution_counts(-1, QUOTAS)


def test_forced_grades_ties_at_boundary_get_better_grade():
    # 13 units -> counts 3/4/5/1, cumulative 3, 7, 12, 13.
    # totals 100, 90, 80, 80, 70, ...: ranks 1, 2, 3, 3, 5, ... (min method).
    # The two 80s tie at the S/A boundary (positions 3 and 4) -> both S (4 S units);
    # A then holds ranks 5..7 (3 units), B ranks 8..12, C rank 13.
    totals = pd.Series([100, 90, 80, 80, 70, 60, 50, 40, 30, 20, 10, 5, 1.0],
                       index=[f"u{i:02d}" for i in range(13)])
    g = rb.forced_grades(totals, quotas=QUOTAS)
    assert g["rank"].tolist() == [1, 2, 3, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13]
    assert g["grade"].tolist() == ["S"] * 4 + ["A"] * 3 + ["B"] * 5 + ["C"]
    assert (g["n_group"] == 13).all()


def test_forced_grades_within_groups_and_missing_total():
    # group x: 3 units -> .6, .9, 1.2, .3 -> floors 0, 0, 1, 0; +1 A (.9), +1 S (.6) -> S, A, B
    # group y: 2 units -> .4, .6, .8, .2 -> +1 B (.8), +1 A (.6) -> A, B; one unit NaN (not ranked)
    totals = pd.Series([50, 70, 60, 10, 20, np.nan], index=list("abcdef"))
    groups = pd.Series(["x", "x", "x", "y", "y", "y"], index=list("abcdef"))
    g = rb.forced_grades(totals, groups, QUOTAS).set_index("unit_id")
    assert g.loc[["b", "c", "a"], "grade"].tolist() == ["S", "A", "B"]
    assert g.loc[["e", "d"], "grade"].tolist() == ["A", "B"]
    assert g.loc[["e", "d"], "rank"].tolist() == [1, 2]
    assert pd.isna(g.loc["f", "rank"]) and pd.isna(g.loc["f", "grade"])
    assert g.loc["f", "reason"] == "missing total"
    assert g.loc["d", "n_group"] == 2


def test_forced_grades_rejects_missing_group():
    totals = pd.Series([1.0, 2.0], index=["a", "b"])
    with pytest.raises(ValueError, match="no group"):
        rb.forced_grades(totals, pd.Series(["x"], index=["a"]))


def test_float_noise_does_not_split_ties():
    # 0.1 + 0.2 != 0.3 in binary floating point; rounded totals tie -> same rank
    totals = pd.Series([0.1 + 0.2, 0.3, 0.0], index=["a", "b", "c"])
    g = rb.forced_grades(totals)
    assert g["rank"].tolist() == [1, 1, 3]


# ---------------------------------------------------------------------------
# fractions_from_components
# ---------------------------------------------------------------------------


def test_fractions_from_components():
    comp = pd.DataFrame({
        "evaluation": ["institutional"] * 4 + ["individual"],
        "unit_id": ["I01", "I01", "I02", "I02", "P1"],
        "component": ["achievement", "qualitative", "achievement", "qualitative", "achievement"],
        "points": [15.0, 20.0, 10.0, 25.0, 5.0],
        "max_points": [20.0, 25.0, 20.0, 25.0, 20.0],
    })
    frac, nominal = rb.fractions_from_components(comp, "institutional")
    # 15/20 = .75, 20/25 = .8, 10/20 = .5, 25/25 = 1
    assert frac.loc["I01", "achievement"] == pytest.approx(0.75)
    assert frac.loc["I01", "qualitative"] == pytest.approx(0.8)
    assert frac.loc["I02"].tolist() == pytest.approx([0.5, 1.0])
    assert nominal == {"achievement": 20.0, "qualitative": 25.0}
    with pytest.raises(ValueError, match="several evaluations"):
        rb.fractions_from_components(comp)


# ---------------------------------------------------------------------------
# monte_carlo
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("concentration", [1e9, np.inf])
def test_monte_carlo_tight_concentration_reproduces_nominal(concentration):
    fr = _random_fractions(40)
    groups = pd.Series(np.where(np.arange(40) % 3 == 0, "x", "y"), index=fr.index)
    res = rb.monte_carlo(fr, POINTS, groups=groups, n_draws=300, concentration=concentration)
    u = res.units
    nominal = rb.forced_grades(fr @ pd.Series(POINTS), groups, QUOTAS)
    assert u["nominal_rank"].tolist() == nominal["rank"].tolist()
    assert u["nominal_grade"].tolist() == nominal["grade"].tolist()
    assert u["nominal_total"].to_numpy() == pytest.approx((fr @ pd.Series(POINTS)).to_numpy())
    for col in ("median_rank", "rank_p05", "rank_p95", "mean_rank"):
        assert (u[col] == u["nominal_rank"].astype(float)).all(), col
    assert (u["rank_iqr"] == 0).all()
    p_nominal = np.array([u.loc[i, f"p_{g}"] for i, g in enumerate(u["nominal_grade"])])
    assert (p_nominal == 1.0).all()
    assert (u["p_grade_change"] == 0).all()
    assert res.draws_summary["mean_footrule"] == 0
    assert res.draws_summary["p_any_grade_change"] == 0


def test_monte_carlo_dominated_unit_never_above():
    # group g1 holds only Y and X; X is below Y on every component and in every
    # alternative/bootstrap column, so X must be rank 2 in every draw (mean rank exactly 2).
    fr = _random_fractions(20, seed=3)
    fr.loc["Y"] = [0.9, 0.8, 0.85, 0.7, 0.9]
    fr.loc["X"] = [0.5, 0.6, 0.55, 0.4, 0.6]
    groups = pd.Series(["g0"] * 20 + ["g1", "g1"], index=fr.index)
    alt = pd.DataFrame({"c1.0": fr["achievement"], "c1.2": fr["achievement"] * 0.8})
    rng = np.random.default_rng(0)
    boot = np.clip(fr["qualitative"].to_numpy()[:, None] + rng.normal(0, 0.01, (22, 50)), 0, 1)
    res = rb.monte_carlo(fr, POINTS, groups=groups, n_draws=1000, concentration=5.0,
                         alternatives={"achievement": alt}, bootstrap={"qualitative": boot})
    u = res.units.set_index("unit_id")
    assert u.loc["X", "mean_rank"] == 2.0
    assert u.loc["Y", "mean_rank"] == 1.0
    # and in the big group: a unit worst on every component is always last
    fr2 = _random_fractions(25, seed=4)
    fr2.loc["W"] = 0.1
    u2 = rb.monte_carlo(fr2, POINTS, n_draws=500, concentration=2.0).units.set_index("unit_id")
    assert u2.loc["W", "rank_p05"] == 26 and u2.loc["W", "mean_rank"] == 26.0
    assert u2.loc["W", "p_C"] == 1.0


def test_monte_carlo_determinism_and_chunking():
    fr = _random_fractions(30)
    kw = dict(n_draws=600, concentration=50.0)
    a = rb.monte_carlo(fr, POINTS, seed=1, **kw)
    b = rb.monte_carlo(fr, POINTS, seed=1, **kw)
    c = rb.monte_carlo(fr, POINTS, seed=2, **kw)
    d = rb.monte_carlo(fr, POINTS, seed=1, chunk_size=77, **kw)
    pd.testing.assert_frame_equal(a.units, b.units)
    pd.testing.assert_frame_equal(a.units, d.units)
    pd.testing.assert_frame_equal(a.weights, b.weights)
    assert not np.array_equal(a.units["mean_rank"], c.units["mean_rank"])
    assert a.draws_summary["seed"] == 1 and a.draws_summary["n_draws"] == 600


def test_monte_carlo_dirichlet_points():
    # Dirichlet(c · s) × 100: mean 100 s, sd 100 sqrt(s (1 − s) / (c + 1)).
    # qualitative s = .25, c = 200: sd = 100 sqrt(.1875 / 201) = 3.054
    # evaluator   s = .10, c = 200: sd = 100 sqrt(.09 / 201)   = 2.116
    fr = _random_fractions(10)
    res = rb.monte_carlo(fr, POINTS, n_draws=2000, concentration=200.0)
    w = res.weights.set_index("component")
    assert w.loc["qualitative", "mean"] == pytest.approx(25.0, abs=0.25)
    assert w.loc["qualitative", "sd"] == pytest.approx(3.054, rel=0.08)
    assert w.loc["evaluator", "sd"] == pytest.approx(2.116, rel=0.08)
    assert w["nominal_points"].sum() == 100


def test_monte_carlo_quota_alternatives():
    # 10 units, fixed points: ranks never move. Quota sets drawn uniformly:
    #   20/30/40/10 -> counts 2, 3, 4, 1 (cumulative 2, 5, 9, 10)
    #   10/30/40/20 -> counts 1, 3, 4, 2 (cumulative 1, 4, 8, 10)
    # rank 2 -> S in set 1, A in set 2; rank 9 -> B in set 1, C in set 2; rank 3 -> A in both.
    fr = pd.DataFrame({"a": np.linspace(1.0, 0.1, 10)}, index=[f"u{i}" for i in range(1, 11)])
    sets = [QUOTAS, {"S": 0.1, "A": 0.3, "B": 0.4, "C": 0.2}]
    res = rb.monte_carlo(fr, {"a": 100}, n_draws=2000, concentration=np.inf,
                         quota_alternatives=sets)
    u = res.units.set_index("unit_id")
    assert u.loc["u2", "p_S"] == pytest.approx(0.5, abs=0.05)
    assert u.loc["u2", "p_S"] + u.loc["u2", "p_A"] == 1.0
    assert u.loc["u9", "p_C"] == pytest.approx(0.5, abs=0.05)
    assert u.loc["u9", "p_B"] + u.loc["u9", "p_C"] == 1.0
    assert u.loc["u3", "p_A"] == 1.0 and u.loc["u3", "p_grade_change"] == 0.0
    assert u.loc["u2", "nominal_grade"] == "S"
    assert (u["rank_iqr"] == 0).all()
    grade_cols = ["p_S", "p_A", "p_B", "p_C"]
    assert np.allclose(u[grade_cols].sum(axis=1), 1.0)


def test_monte_carlo_alternatives_swap_ranks():
    # two units; alternative 1 favours u1, alternative 2 favours u2; each drawn ~ half the time
    fr = pd.DataFrame({"a": [0.5, 0.5]}, index=["u1", "u2"])
    alt = pd.DataFrame({"cap1": [0.9, 0.8], "cap2": [0.7, 0.8]}, index=["u1", "u2"])
    res = rb.monte_carlo(fr, {"a": 100}, n_draws=2000, concentration=np.inf,
                         alternatives={"a": alt})
    u = res.units.set_index("unit_id")
    # nominal: tie -> both rank 1 and, for n = 2 (.4, .6, .8, .2 -> A, B), both get A
    assert u["nominal_rank"].tolist() == [1, 1]
    assert u["nominal_grade"].tolist() == ["A", "A"]
    assert u.loc["u1", "mean_rank"] == pytest.approx(1.5, abs=0.05)
    assert u.loc["u1", "mean_rank"] + u.loc["u2", "mean_rank"] == pytest.approx(3.0)
    assert res.draws_summary["alternatives"] == {"a": ["cap1", "cap2"]}


def test_monte_carlo_missing_input_gives_nan_and_reason():
    fr = _random_fractions(8)
    fr.loc["D003", "evaluator"] = np.nan
    boot = np.tile(fr["qualitative"].to_numpy()[:, None], (1, 5))
    boot[5, 2] = np.nan
    res = rb.monte_carlo(fr, POINTS, n_draws=100, bootstrap={"qualitative": boot})
    u = res.units.set_index("unit_id")
    assert u.loc["D003", "reason"] == "missing fraction: evaluator"
    assert u.loc["D005", "reason"] == "missing bootstrap: qualitative"
    assert np.isnan(u.loc["D003", "median_rank"]) and pd.isna(u.loc["D003", "nominal_rank"])
    assert u["n_group"].dropna().eq(6).all()
    assert res.draws_summary["n_units_ranked"] == 6


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(nominal_points={"nope": 10.0}), "no column"),
        (dict(concentration=0.0), "concentration"),
        (dict(n_draws=0), "n_draws"),
        (dict(bootstrap={"qualitative": np.zeros((3, 4))}), "shape"),
        (dict(quota_alternatives=[{"S": 0.5, "B": 0.5}]), "grades"),
        (dict(alternatives={"achievement": pd.DataFrame({"x": [0.1]})},
              bootstrap={"achievement": np.zeros((6, 2))}), "both"),
    ],
)
def test_monte_carlo_bad_input(kwargs, match):
    fr = _random_fractions(6)
    args = {"nominal_points": POINTS, **kwargs}
    with pytest.raises(ValueError, match=match):
        rb.monte_carlo(fr, **args)


# ---------------------------------------------------------------------------
# bootstrap_fractions
# ---------------------------------------------------------------------------


def test_bootstrap_one_rater_is_that_raters_scores():
    ratings = pd.DataFrame({"unit_id": ["u1", "u2", "u3", "u1"], "rater_id": "r1",
                            "rater_group": "expert", "score": [60.0, 80.0, 100.0, 70.0]})
    b = rb.bootstrap_fractions(ratings, B=20)
    # u1: mean of its two items (60 + 70) / 2 = 65 -> .65; u2 .8; u3 1.0 in every replicate
    assert b.shape == (3, 20)
    assert np.allclose(b, np.array([[0.65], [0.8], [1.0]]))


def test_bootstrap_two_raters_distribution_and_masking():
    # u1 rated 60 by r1 and 80 by r2: a replicate draws (r1, r1), (r1, r2) or (r2, r2) with
    # probabilities 1/4, 1/2, 1/4 -> fractions .6, .7, .8.
    # u2 rated only by r1 (50): r2 is masked; when only r2 is drawn, the full mean (.5) is used.
    # u0 has no rating -> NaN.
    ratings = pd.DataFrame({"unit_id": ["u1", "u1", "u2"], "rater_id": ["r1", "r2", "r1"],
                            "rater_group": "expert", "score": [60.0, 80.0, 50.0]})
    b = rb.bootstrap_fractions(ratings, B=2000, seed=5, units=["u1", "u2", "u0"])
    vals, counts = np.unique(b[0], return_counts=True)
    assert vals == pytest.approx([0.6, 0.7, 0.8])
    assert counts / 2000 == pytest.approx([0.25, 0.5, 0.25], abs=0.04)
    assert np.all(b[1] == 0.5)
    assert np.all(np.isnan(b[2]))
    again = rb.bootstrap_fractions(ratings, B=2000, seed=5, units=["u1", "u2", "u0"])
    np.testing.assert_array_equal(b, again)


def test_bootstrap_group_points_and_scale():
    # one planning-office rater 60, one expert 100, one bureau-self 0 (no points -> dropped):
    # (20 × .6 + 10 × 1.0) / 30 = 22 / 30 = .7333
    ratings = pd.DataFrame({"unit_id": "u1", "rater_id": ["p1", "e1", "s1"],
                            "rater_group": ["planning_office", "expert", "bureau_self"],
                            "score": [60.0, 100.0, 0.0]})
    b = rb.bootstrap_fractions(ratings, B=4, group_points={"planning_office": 20, "expert": 10})
    assert np.allclose(b, 22 / 30)
    # scale 1..5: a single rating of 4 -> (4 − 1) / (5 − 1) = .75
    r2 = pd.DataFrame({"unit_id": ["u1"], "rater_id": ["a"], "score": [4.0]})
    assert np.allclose(rb.bootstrap_fractions(r2, scale=(1, 5), B=3, by_group=None), 0.75)


def test_bootstrap_group_without_unit_ratings_renormalises():
    # u1 has only an expert rating (80); with group points 12.5 / 12.5 the weights renormalise
    # over the groups it has -> .8
    ratings = pd.DataFrame({"unit_id": ["u1", "u2"], "rater_id": ["e1", "p1"],
                            "rater_group": ["expert", "planning_office"], "score": [80.0, 40.0]})
    b = rb.bootstrap_fractions(ratings, B=3, group_points={"planning_office": 12.5, "expert": 12.5})
    assert np.allclose(b[0], 0.8) and np.allclose(b[1], 0.4)


def test_bootstrap_bad_input():
    r = pd.DataFrame({"unit_id": ["u1"], "rater_id": ["a"], "rater_group": ["expert"], "score": [120.0]})
    with pytest.raises(ValueError, match="outside the scale"):
        rb.bootstrap_fractions(r)
    with pytest.raises(ValueError, match="missing column"):
        rb.bootstrap_fractions(r.drop(columns="rater_group"))
    with pytest.raises(ValueError, match="B:"):
        rb.bootstrap_fractions(r.assign(score=50.0), B=0)


def test_bootstrap_feeds_monte_carlo():
    # bootstrap rows aligned with fractions.index via units=
    fr = _random_fractions(5)
    rng = np.random.default_rng(2)
    ratings = pd.DataFrame({
        "unit_id": np.repeat(fr.index.to_numpy(), 4),
        "rater_id": np.tile(["e1", "e2", "p1", "p2"], 5),
        "rater_group": np.tile(["expert", "expert", "planning_office", "planning_office"], 5),
        "score": rng.uniform(50, 100, 20),
    })
    boot = rb.bootstrap_fractions(ratings, B=50, units=fr.index[::-1])[::-1]
    res = rb.monte_carlo(fr, POINTS, n_draws=200, bootstrap={"qualitative": boot})
    assert res.draws_summary["bootstrap_replicates"] == {"qualitative": 50}
    assert (res.units["reason"] == "").all()


# ---------------------------------------------------------------------------
# Sobol
# ---------------------------------------------------------------------------

# Ishigami, a = 7, b = 0.1: analytic S1 = (.3139, .4424, 0), ST = (.5576, .4424, .2437)
# (Saltelli et al. 2008/2010; SALib documentation of the Ishigami test function).
ISHIGAMI_S1 = np.array([0.3139, 0.4424, 0.0])
ISHIGAMI_ST = np.array([0.5576, 0.4424, 0.2437])


def _ishigami(x: np.ndarray, a: float = 7.0, b: float = 0.1) -> np.ndarray:
    return np.sin(x[..., 0]) + a * np.sin(x[..., 1]) ** 2 + b * x[..., 2] ** 4 * np.sin(x[..., 0])


def test_pick_freeze_ishigami():
    rng = np.random.default_rng(2010)
    n = 2**14
    a = rng.uniform(-np.pi, np.pi, (n, 3))
    b = rng.uniform(-np.pi, np.pi, (n, 3))
    ab = np.repeat(a[None], 3, axis=0)
    for i in range(3):
        ab[i, :, i] = b[:, i]
    s1, st = rb.pick_freeze_indices(_ishigami(a), _ishigami(b), _ishigami(ab))
    assert s1 == pytest.approx(ISHIGAMI_S1, abs=0.03)
    assert st == pytest.approx(ISHIGAMI_ST, abs=0.03)
    # same function through scipy's implementation (Saltelli 2010 / Jansen, QMC sample)
    res = stats.sobol_indices(
        func=lambda x: _ishigami(x.T), n=2**12,
        dists=[stats.uniform(loc=-np.pi, scale=2 * np.pi)] * 3, rng=np.random.default_rng(1),
    )
    assert s1 == pytest.approx(res.first_order, abs=0.04)
    assert st == pytest.approx(res.total_order, abs=0.04)


def test_pick_freeze_constant_output_is_nan():
    s1, st = rb.pick_freeze_indices(np.ones(10), np.ones(10), np.ones((2, 10)))
    assert np.isnan(s1).all() and np.isnan(st).all()


def test_sobol_indices_single_input_and_inert_inputs():
    # Fixed points (concentration inf). Achievement alternatives reshuffle the ranking; the
    # evaluator "alternatives" are identical columns, so AB_i = A exactly -> S1 = ST = 0;
    # quotas cannot move ranks -> 0. With a single influential input, S1 ≈ ST ≈ 1.
    fr = _random_fractions(30)
    rng = np.random.default_rng(9)
    alt = pd.DataFrame(rng.uniform(0, 1, (30, 4)), index=fr.index)
    inert = pd.DataFrame({"x": fr["evaluator"], "y": fr["evaluator"]})
    out = rb.sobol_indices(
        fr, POINTS, concentration=np.inf, alternatives={"achievement": alt, "evaluator": inert},
        quota_alternatives=[QUOTAS, {"S": 0.1, "A": 0.4, "B": 0.4, "C": 0.1}],
        n_base=256, n_boot=50,
    )
    assert set(out["output"]) == {"per_unit_mean", "footrule"}
    m = out[out["output"] == "per_unit_mean"].set_index("input")
    assert list(m.index) == ["achievement", "evaluator", "quotas"]
    assert m.loc["achievement", "S1"] == pytest.approx(1.0, abs=0.15)
    assert m.loc["achievement", "ST"] == pytest.approx(1.0, abs=0.15)
    assert m.loc["evaluator", "S1"] == 0.0 and m.loc["evaluator", "ST"] == 0.0
    assert m.loc["quotas", "S1"] == 0.0 and m.loc["quotas", "ST"] == 0.0
    assert (m["S1_ci_low"] <= m["S1"] + 1e-12).all() and (m["S1"] <= m["S1_ci_high"] + 1e-12).all()
    assert m.loc["achievement", "input_ko"] == "대안 점수: achievement"


def test_sobol_indices_grade_output_sees_quotas_and_is_deterministic():
    # grade output, fixed points and scores: only the quota draw changes grades -> S1 ≈ ST ≈ 1
    fr = _random_fractions(20)
    inert = pd.DataFrame({"x": fr["evaluator"], "y": fr["evaluator"]})
    kw = dict(concentration=np.inf, alternatives={"evaluator": inert},
              quota_alternatives=[QUOTAS, {"S": 0.1, "A": 0.2, "B": 0.4, "C": 0.3}],
              n_base=256, n_boot=20, output="grade", seed=3)
    out = rb.sobol_indices(fr, POINTS, **kw)
    f = out[out["output"] == "footrule"].set_index("input")
    assert f.loc["quotas", "S1"] == pytest.approx(1.0, abs=0.15)
    assert f.loc["evaluator", "ST"] == 0.0
    pd.testing.assert_frame_equal(out, rb.sobol_indices(fr, POINTS, **kw))


def test_sobol_indices_needs_an_uncertain_input():
    with pytest.raises(ValueError, match="no uncertain input"):
        rb.sobol_indices(_random_fractions(5), POINTS, concentration=np.inf)


# ---------------------------------------------------------------------------
# grade_boundaries
# ---------------------------------------------------------------------------


def test_grade_boundaries_hand_example():
    # group x: a 90 S, b 85 A, c 80 A, d 70 B; group y: e 60 S, f 50 C (A, B absent)
    t = pd.DataFrame({"unit_id": list("abcdef"), "group": ["x"] * 4 + ["y"] * 2,
                      "total": [90, 85, 80, 70, 60, 50.0],
                      "grade": ["S", "A", "A", "B", "S", "C"]})
    eps = 1e-9
    g = rb.grade_boundaries(t, QUOTAS, epsilon=eps).set_index("unit_id")
    # b: lowest S is 90 -> 90 − 85 = 5 (+eps); highest B is 70 -> 85 − 70 = 15
    assert g.loc["b", "points_to_next_better"] == pytest.approx(5 + eps, abs=1e-12)
    assert g.loc["b", "points_to_next_worse"] == 15
    assert g.loc["b", "nearest_boundary"] == pytest.approx(5 + eps, abs=1e-12)
    assert g.loc["b", "nearest_side"] == "better"
    # c: 90 − 80 = 10 up, 80 − 70 = 10 down -> nearest is the worse side (10 < 10 + eps)
    assert g.loc["c", "points_to_next_worse"] == 10 and g.loc["c", "nearest_side"] == "worse"
    # a: top grade -> NaN up; d: bottom of x -> NaN down, up = 80 − 70 = 10
    assert np.isnan(g.loc["a", "points_to_next_better"]) and g.loc["a", "points_to_next_worse"] == 5
    assert np.isnan(g.loc["d", "points_to_next_worse"])
    assert g.loc["d", "next_better_grade"] == "A"
    # f: next better grade present in y is S (60 − 50 = 10)
    assert g.loc["f", "next_better_grade"] == "S"
    assert g.loc["f", "points_to_next_better"] == pytest.approx(10 + eps, abs=1e-12)
    assert g.loc["e", "next_worse_grade"] == "C" and g.loc["e", "points_to_next_worse"] == 10


def test_grade_boundaries_agrees_with_forced_grades():
    # moving a unit by points_to_next_better lifts it; by points_to_next_worse keeps it,
    # a bit more drops it (re-grade with the forced grader)
    totals = pd.Series([95, 90, 84, 80, 77, 70, 66, 60, 55, 50.0], index=[f"u{i}" for i in range(10)])
    graded = rb.forced_grades(totals)
    gb = rb.grade_boundaries(graded).set_index("unit_id")
    up = gb.loc["u2", "points_to_next_better"]  # u2 is the best A
    moved = totals.copy()
    moved["u2"] += up
    assert rb.forced_grades(moved).set_index("unit_id").loc["u2", "grade"] == "S"
    down = gb.loc["u4", "points_to_next_worse"]  # u4 is the worst A
    moved = totals.copy()
    moved["u4"] -= down
    assert rb.forced_grades(moved).set_index("unit_id").loc["u4", "grade"] == "A"
    moved["u4"] -= 0.01
    assert rb.forced_grades(moved).set_index("unit_id").loc["u4", "grade"] == "B"


def test_grade_boundaries_bad_input():
    t = pd.DataFrame({"unit_id": ["a", "b"], "total": [1.0, np.nan], "grade": ["S", "Z"]})
    with pytest.raises(ValueError, match="not in the grade order"):
        rb.grade_boundaries(t)
    t2 = pd.DataFrame({"unit_id": ["a", "b"], "total": [1.0, np.nan], "grade": ["S", "A"]})
    g = rb.grade_boundaries(t2, ["S", "A"])
    assert g["reason"].tolist() == ["", "missing total"]
    assert np.isnan(g.loc[0, "points_to_next_worse"])  # no ranked A unit left


# ---------------------------------------------------------------------------
# half_agreement
# ---------------------------------------------------------------------------


def test_half_agreement_matches_scipy_and_aligns():
    h1 = pd.Series([70, 80, 65, 90, 85, 60, np.nan], index=list("abcdefg"))
    h2 = pd.Series([75, 90, 85, 60, 70, 72, 80, 99], index=list("hgfedcba"))
    out = rb.half_agreement(h1, h2).set_index("measure")
    both = pd.concat([h1, h2], axis=1, join="inner").dropna()
    kt = stats.kendalltau(both[0], both[1])
    sp = stats.spearmanr(both[0], both[1])
    assert out.loc["kendall_tau_b", "statistic"] == pytest.approx(kt.statistic)
    assert out.loc["kendall_tau_b", "p_value"] == pytest.approx(kt.pvalue)
    assert out.loc["spearman", "statistic"] == pytest.approx(sp.statistic)
    assert out.loc["spearman", "p_value"] == pytest.approx(sp.pvalue)
    assert (out["n"] == 6).all()  # g is NaN in h1, h is absent from h1


def test_half_agreement_hand_value_and_degenerate():
    # x = 1, 2, 3, 4 and y = 2, 1, 4, 3: 6 pairs, 4 concordant, 2 discordant -> tau = 2/6;
    # d = -1, 1, -1, 1 -> rho = 1 − 6 · 4 / (4 · 15) = .6
    out = rb.half_agreement(pd.Series([1, 2, 3, 4.0]), pd.Series([2, 1, 4, 3.0]))
    assert out["statistic"].tolist() == pytest.approx([1 / 3, 0.6])
    few = rb.half_agreement(pd.Series([1.0, 2.0]), pd.Series([1.0, 2.0]))
    assert few["statistic"].isna().all() and (few["reason"] == "n < 3").all()
    const = rb.half_agreement(pd.Series([1.0, 1.0, 1.0]), pd.Series([1.0, 2.0, 3.0]))
    assert (const["reason"] == "constant half").all()
