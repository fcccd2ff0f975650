"""Naive reference implementations for the benchmarks: a Python loop over Monte Carlo draws.

Both draw the component points exactly as :func:`bsc_lib.analyses.robustness.monte_carlo` does
(``numpy.random.default_rng(seed).dirichlet(concentration × nominal share, size=n) × P``,
drawn up front), so the draws are the same and the pandas loop must reproduce the
vectorised result to the last rank:

* :func:`monte_carlo_pandas` — per draw, department totals with a pandas ``groupby`` over the
  long component table, ranks and grades with the engine's pandas grading
  (:func:`bsc_lib.scoring.grading.rank_min`, :func:`bsc_lib.scoring.grading.forced_grades`);
* :func:`monte_carlo_evaluate` — per draw, a scheme whose component points (and the
  qualitative rater-group points, scaled to the drawn qualitative points) are the drawn ones,
  scored from scratch with :func:`bsc_lib.scoring.engine.evaluate`. Timing only: its totals also
  carry the consulting deductions, which the fraction model leaves out.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from bsc_lib.analyses.robustness import DEFAULT_QUOTAS, DEFAULT_SEED
from bsc_lib.config.scheme import Scheme
from bsc_lib.data.model import BSCData
from bsc_lib.scoring import grading
from bsc_lib.scoring.engine import evaluate


def draw_points(nominal: Mapping[str, float], n_draws: int, seed: int = DEFAULT_SEED,
                concentration: float = 200.0) -> pd.DataFrame:
    """The component points of every draw (draws × components), as ``monte_carlo`` draws them."""
    comps = [c for c, v in nominal.items() if v > 0]
    nom = np.array([float(nominal[c]) for c in comps])
    rng = np.random.default_rng(seed)
    w = rng.dirichlet(concentration * nom / nom.sum(), size=n_draws) * nom.sum()
    return pd.DataFrame(w, columns=comps)


def monte_carlo_pandas(components: pd.DataFrame, nominal: Mapping[str, float], *, n_draws: int,
                       seed: int = DEFAULT_SEED, evaluation: str = "department",
                       quotas: Mapping[str, float] = DEFAULT_QUOTAS,
                       rounding: str = "largest_remainder") -> pd.DataFrame:
    """Rank and grade every unit once per draw with pandas, one draw at a time.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``unit_id``: ``mean_rank`` and ``p_grade_change`` (share of draws whose
        grade differs from the grade under the nominal points).
    """
    c = components.loc[components["evaluation"] == evaluation]
    c = c.loc[c["component"].isin([k for k, v in nominal.items() if v > 0])]
    long = pd.DataFrame({"unit_id": c["unit_id"], "component": c["component"],
                         "fraction": c["points"] / c["max_points"]})
    draws = draw_points(nominal, n_draws, seed)

    def grade_draw(points: pd.Series) -> tuple[pd.Series, pd.Series]:
        total = (long["fraction"] * long["component"].map(points)).groupby(long["unit_id"]).sum()
        return grading.rank_min(total), grading.forced_grades(total, None, quotas, rounding)

    _, nominal_grade = grade_draw(pd.Series(nominal, dtype=float))
    rank_sum = None
    changed = None
    for d in range(n_draws):  # the naive way: one pandas pass per draw
        rank, grade = grade_draw(draws.iloc[d])
        rank_sum = rank.astype(float) if rank_sum is None else rank_sum + rank.astype(float)
        ch = (grade != nominal_grade).astype(float)
        changed = ch if changed is None else changed + ch
    return pd.DataFrame({"mean_rank": rank_sum / n_draws, "p_grade_change": changed / n_draws})


def scheme_with_points(scheme: Scheme, evaluation: str, points: Mapping[str, float]) -> Scheme:
    """A copy of ``scheme`` whose ``evaluation`` gives ``points``; the qualitative rater-group
    points of that evaluation are scaled to the new qualitative points."""
    ev = scheme.evaluations[evaluation]
    comps = {**ev.components, **{k: float(v) for k, v in points.items()}}
    evals = {**scheme.evaluations, evaluation: ev.model_copy(update={"components": comps})}
    update = {"evaluations": evals}
    q = scheme.components.qualitative
    if q is not None and "qualitative" in points and evaluation in q.rater_groups:
        groups = q.rater_groups[evaluation]
        f = float(points["qualitative"]) / float(sum(groups.values()))
        rg = {**q.rater_groups, evaluation: {g: v * f for g, v in groups.items()}}
        comp = scheme.components.model_copy(update={"qualitative": q.model_copy(update={"rater_groups": rg})})
        update["components"] = comp
    return scheme.model_copy(update=update)


def monte_carlo_evaluate(data: BSCData, scheme: Scheme, nominal: Mapping[str, float], *, n_draws: int,
                         seed: int = DEFAULT_SEED, evaluation: str = "individual") -> pd.DataFrame:
    """Score the whole dataset with :func:`evaluate` once per draw (department ranks and grades).

    Returns
    -------
    pandas.DataFrame
        ``draw, department_id, rank_overall, grade`` (one row per draw and department).
    """
    draws = draw_points(nominal, n_draws, seed)
    out = []
    for d in range(n_draws):  # the naive way: the whole engine per draw
        res = evaluate(data, scheme_with_points(scheme, evaluation, draws.iloc[d].to_dict()))
        out.append(res.departments[["department_id", "rank_overall", "grade"]].assign(draw=d))
    return pd.concat(out, ignore_index=True)[["draw", "department_id", "rank_overall", "grade"]]
