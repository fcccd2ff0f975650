"""The result tables of a run: scores and analyses, computed in-process for export and verify.

:func:`compute_tables` is pure (data + scheme + settings in, DataFrames out);
:func:`result_tables` is the pipeline's ``tables_fn`` (paths in) and is the only place here
that reads files. Personal data: the individual table carries pseudonymous ``person_id``
only, never names.
"""

from __future__ import annotations

import pandas as pd

from bsc_lib import difficulty, dispersion, reliability, robustness, scenarios
from bsc_lib.analysis_params import AnalysisParams, load_analysis_params
from bsc_lib.describe import with_names
from bsc_lib.model import BSCData
from bsc_lib.scheme import Scheme
from bsc_lib.scoring import Results, evaluate


def analyse(data: BSCData, scheme: Scheme, results: Results, settings: AnalysisParams, year: int,
            half: str = "year") -> dict[str, pd.DataFrame]:
    """The analysis tables behind the report (difficulty, dispersion, reliability, robustness).

    Returns
    -------
    dict
        ``kpi_difficulty`` (difficulty.kpi_difficulty), ``unit_difficulty``
        (difficulty.unit_difficulty with names), ``discrimination`` (dispersion.discrimination of
        every component and total by evaluation), ``effective_weights`` (institutional and
        individual), ``integrity_old_vs_new`` (dispersion.compare_integrity),
        ``rater_reliability`` and ``rater_leniency`` (qualitative ratings by rater group and
        half), ``rank_robustness`` (robustness.monte_carlo ``.units`` for institutions, with
        the achievement caps and the rater bootstrap of the settings) and
        ``grade_boundaries`` (institutions).
    """
    d = settings.difficulty
    kdiff = difficulty.kpi_difficulty(
        data.kpis, data.kpi_history, data.kpi_results, year=year, target_half=d.target_half,
        easy_margin=d.easy_margin, hard_margin=d.hard_margin, min_history=d.min_history,
        cap=scheme.components.achievement.cap if scheme.components.achievement else 1.0,
    )
    udiff = difficulty.unit_difficulty(kdiff)
    udiff = with_names(udiff.rename(columns={"owner_id": "unit_id"}), data)

    comp = results.components
    disc = dispersion.discrimination(
        pd.concat([comp, _totals_long(results)], ignore_index=True), "points",
        by=["evaluation", "component"], decimals=settings.dispersion.decimals,
    )
    eff = []
    for evaluation, frame, key in (("institutional", results.institutional, "institution_id"),
                                   ("individual", results.individual, "person_id")):
        comps = list(scheme.evaluations[evaluation].components) if evaluation in scheme.evaluations else []
        comps = [c for c in comps if c in frame.columns]
        if not comps or frame.empty:
            continue
        w = dispersion.effective_weights(frame.set_index(key), comps, total_col="total",
                                         nominal=scheme.evaluations[evaluation].components)
        eff.append(w.assign(evaluation=evaluation))
    eff_df = pd.concat(eff, ignore_index=True) if eff else pd.DataFrame()

    integ = dispersion.compare_integrity(
        data.integrity[data.integrity["year"] == year],
        results.integrity[["department_id", "index"]].rename(columns={"index": "integrity_index"}),
        decimals=settings.dispersion.decimals,
    )

    q = data.qualitative_ratings[data.qualitative_ratings["year"] == year]
    rel = reliability.rater_reliability(q, ["project_id", "item"], by=["rater_group", "half"])
    len_ = reliability.rater_leniency(q, ["project_id", "item"], by=["rater_group", "half"],
                                      threshold=settings.reliability.leniency_threshold, threshold_unit="score")

    r = settings.robustness
    inp = scenarios.robustness_inputs(data, scheme, year, half, r.caps, r.bootstrap, r.seed)
    mc = robustness.monte_carlo(inp["fractions"], inp["nominal_points"], groups=inp["groups"],
                                alternatives=inp["alternatives"], bootstrap=inp["bootstrap"],
                                quotas=inp["quotas"], n_draws=r.n_draws, concentration=r.concentration,
                                seed=r.seed)
    units = mc.units
    inst_totals = results.institutional.rename(columns={"institution_id": "unit_id"})
    group = inst_totals["inst_type"] if scheme.grading.group_by == "inst_type" else "all"
    bounds = robustness.grade_boundaries(
        inst_totals.assign(group=group)[["unit_id", "group", "total", "grade"]], scheme.grading.quotas,
    )
    return {
        "kpi_difficulty": kdiff,
        "unit_difficulty": udiff,
        "discrimination": disc,
        "effective_weights": eff_df,
        "integrity_old_vs_new": integ,
        "rater_reliability": rel,
        "rater_leniency": len_,
        "rank_robustness": units,
        "grade_boundaries": bounds,
    }


def _totals_long(results: Results) -> pd.DataFrame:
    parts = []
    for evaluation, frame, key in (("institutional", results.institutional, "institution_id"),
                                   ("individual", results.individual, "person_id")):
        if frame.empty:
            continue
        parts.append(pd.DataFrame({"evaluation": evaluation, "unit_id": frame[key], "component": "total",
                                   "points": frame["total"], "max_points": 100.0}))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def compute_tables(data: BSCData, scheme: Scheme, year: int, half: str,
                   settings: AnalysisParams | None = None) -> dict[str, pd.DataFrame]:
    """Every result table of a run, keyed by sheet name.

    Returns
    -------
    dict
        Scores: ``institutional``, ``departments``, ``individual`` (no names), ``components``,
        ``kpi``, ``flags``, ``integrity``; then the analyses of :func:`analyse`.
    """
    settings = settings or load_analysis_params()
    res = evaluate(data, scheme, year=year, half=half)
    individual = res.individual.drop(columns=["name_ko"], errors="ignore")
    out = {
        "institutional": res.institutional,
        "departments": res.departments,
        "individual": individual,
        "components": res.components,
        "kpi": res.kpi,
        "flags": res.flags,
        "integrity": res.integrity,
    }
    out.update(analyse(data, scheme, res, settings, year, half))
    return out


def result_tables(data_path: str, scheme_path: str, year: int, half: str) -> dict[str, pd.DataFrame]:
    """The pipeline's ``tables_fn``: load inputs from paths and :func:`compute_tables`."""
    from bsc_lib.io import load
    from bsc_lib.paths import resolve
    from bsc_lib.scheme import load_scheme

    scheme = load_scheme(resolve(scheme_path))
    data = load(resolve(data_path), scheme=scheme)
    return compute_tables(data, scheme, year, half)
