"""One producer per result: every result table of a run, made in exactly one place.

A :class:`Recipes` object holds the inputs of a run — the data, the scheme, the analysis
settings, the year and the half — and makes each result table on first request with the
one producer registered for it (:data:`PRODUCERS`), caching it for every later consumer.
Notebooks, the xlsx/CSV export (:func:`compute_tables`), ``bsc verify``, the dashboard and the
feedback reports all read their tables from here and never set an analysis up themselves, so
every scheme and analysis setting (grading method, group, rounding, caps, thresholds, seeds)
reaches every consumer, and two places cannot state two answers.

The flow is one way: scores (:func:`bsc_lib.scoring.engine.evaluate`) → analyses that read the
scores. A producer is a function of the :class:`Recipes` (its inputs and the tables it
depends on) returning a tidy DataFrame; ``python -c "import bsc_lib.analyses.recipes as r;
print(r.describe())"`` lists them with their dependencies.

Personal data: the ``individual`` table carries the pseudonymous ``person_id`` only, never
names.

Made once per run: ``bsc report`` computes the tables in its own process and shares them with
the notebook kernels through a private folder of pickles (:class:`SharedTables`, named by the
environment variable :data:`SHARED_ENV`). A :class:`Recipes` whose inputs, scheme, settings,
year and half are those of the run reads a table from there instead of making it again; any
other :class:`Recipes` (a notebook run by hand, other parameters) makes its own.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pickle
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from bsc_lib.analyses import (
    alignment,
    compare,
    difficulty,
    dispersion,
    perspectives,
    prior_year,
    reliability,
    robustness,
    scenarios,
    summary,
    targets,
)
from bsc_lib.config.analysis_params import AnalysisParams, load_analysis_params
from bsc_lib.config.paths import resolve
from bsc_lib.config.planning_params import PlanningParams, load_planning_params
from bsc_lib.config.scheme import Grading, Scheme, load_scheme
from bsc_lib.data.describe import unit_names, with_names
from bsc_lib.data.io import load
from bsc_lib.data.io.shared import SHARED_ENV, write_atomic
from bsc_lib.data.model import BSCData, plain_text
from bsc_lib.scoring.engine import Results, evaluate
from bsc_lib.scoring.grading import grade_labels

log = logging.getLogger(__name__)

#: The tables written to ``results.xlsx`` / ``tables/*.csv`` by ``bsc report``, in sheet order.
EXPORTED = (
    "institutional", "grade_counts", "close_calls", "perspective_rollup", "strategy_grid", "rank_changes",
    "grade_transitions", "departments", "individual", "components", "kpi", "flags", "integrity",
    "kpi_difficulty", "unit_difficulty", "discrimination", "effective_weights", "integrity_old_vs_new",
    "rater_reliability", "rater_leniency", "rank_robustness", "grade_boundaries",
)

#: Table name → producer. Filled by :func:`producer`; one entry per result.
PRODUCERS: dict[str, Callable[[Recipes], pd.DataFrame]] = {}

#: Total points are clipped to this range after deductions (as :func:`evaluate` does).
TOTAL_RANGE = (0.0, 100.0)

#: Seconds a reader waits for a table the run has planned but not written yet.
SHARED_WAIT_S = 900.0


class SharedTables:
    """A folder of result tables made once by a run and read by its notebook kernels.

    The writer (:meth:`create`) records the identity of the run (:meth:`Recipes.identity`) and
    the names it will write, in order, then writes each table as ``<name>.pkl`` (atomically)
    as soon as it is made, or ``<name>.err`` when its producer failed. A reader
    (:meth:`open`) with the same identity waits for a planned table and reads it, or is told
    to make it itself (not planned, failed, writer gone). The folder is private to the run
    (``mkdtemp``, mode 0700) and removed when the run ends: it holds unpublished tables.
    """

    INDEX = "shared.json"
    #: Written when the writer stopped early: readers make every missing table themselves.
    ABANDONED = "abandoned"

    def __init__(self, folder: str | Path, identity: str, planned: Iterable[str], writing: bool):
        self.folder = Path(folder)
        self.identity = identity
        self.planned = list(planned)
        self.writing = writing

    @classmethod
    def create(cls, folder: str | Path, identity: str, planned: Iterable[str]) -> SharedTables:
        """Start sharing: write the index (identity + planned names) into ``folder``."""
        shared = cls(folder, identity, planned, writing=True)
        shared._write(cls.INDEX, json.dumps({"identity": identity, "planned": shared.planned}).encode())
        return shared

    @classmethod
    def open(cls, folder: str | Path, identity: str | None) -> SharedTables | None:
        """The run's shared tables when ``folder`` holds those of ``identity``, else ``None``."""
        index = Path(folder) / cls.INDEX
        if identity is None or not index.is_file():
            return None
        try:
            meta = json.loads(index.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if meta.get("identity") != identity:
            log.info("shared tables in %s are another run's: not used", folder)
            return None
        return cls(folder, identity, meta.get("planned", []), writing=False)

    def _write(self, name: str, blob: bytes) -> None:
        write_atomic(self.folder / name, blob)

    def put(self, name: str, value: object) -> None:
        """Share one table (or the scores) under ``name``."""
        self._write(f"{name}.pkl", pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))

    def failed(self, name: str) -> None:
        """Tell readers that ``name`` will not come (they make it themselves)."""
        self._write(f"{name}.err", b"")

    @classmethod
    def abandon(cls, folder: str | Path) -> None:
        """Tell readers that no further table will come."""
        with open(Path(folder) / cls.ABANDONED, "wb"):
            pass

    def get(self, name: str, wait: float = SHARED_WAIT_S) -> tuple[bool, object]:
        """``(True, value)`` when ``name`` is (or becomes, within ``wait`` seconds) shared, else ``(False, None)``."""
        if name not in self.planned:
            return False, None
        pkl, err = self.folder / f"{name}.pkl", self.folder / f"{name}.err"
        deadline = time.monotonic() + wait
        while not pkl.is_file():
            if (err.exists() or (self.folder / self.ABANDONED).exists() or not self.folder.is_dir()
                    or time.monotonic() > deadline):
                return False, None
            time.sleep(0.02)
        with pkl.open("rb") as fh:
            return True, pickle.load(fh)  # noqa: S301 - the run's own private folder


def producer(name: str) -> Callable:
    """Register the one producer of table ``name`` (a second registration is an error)."""
    def register(fn: Callable[[Recipes], pd.DataFrame]) -> Callable[[Recipes], pd.DataFrame]:
        if name in PRODUCERS:
            raise RuntimeError(f"table {name!r} already has a producer ({PRODUCERS[name].__name__})")
        PRODUCERS[name] = fn
        return fn
    return register


@dataclass
class Recipes:
    """The inputs of one run and the result tables made from them (made once, on request).

    Parameters
    ----------
    data
        Loaded, validated data (:func:`bsc_lib.load`).
    scheme
        The evaluation scheme (:func:`bsc_lib.load_scheme`).
    settings
        Analysis settings (:func:`bsc_lib.config.analysis_params.load_analysis_params`); ``None`` =
        the packaged defaults.
    year
        Evaluation year; ``None`` = the scheme's year.
    half
        ``"year"``, ``"H1"`` or ``"H2"``.
    compare_scheme
        A second scheme scored on the same data (the ``compare_*`` tables); ``None`` = none.
    planning
        Settings of the scheme comparison and the target recommendation
        (:func:`bsc_lib.config.planning_params.load_planning_params`); ``None`` = the packaged defaults.

    Examples
    --------
    >>> r = Recipes(data, scheme, settings)            # doctest: +SKIP
    >>> r["rank_robustness"].head()                    # doctest: +SKIP
    """

    data: BSCData
    scheme: Scheme
    settings: AnalysisParams | None = None
    year: int | None = None
    half: str = "year"
    compare_scheme: Scheme | None = None
    planning: PlanningParams | None = None
    _cache: dict = field(default_factory=dict, repr=False)
    #: The run's shared tables (:class:`SharedTables`): read when the environment names them
    #: (:data:`SHARED_ENV`) and they are this run's; set by :func:`result_tables` to write them.
    shared: SharedTables | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.settings is None:
            self.settings = load_analysis_params()
        if self.year is None:
            self.year = int(self.scheme.year)
        if self.shared is None and os.environ.get(SHARED_ENV):
            self.shared = SharedTables.open(os.environ[SHARED_ENV], self.identity())

    def identity(self) -> str | None:
        """sha256 of the inputs (file hashes), scheme, settings, year and half; ``None`` when the
        data or the scheme were not read from files (nothing identifies them)."""
        hashes = getattr(self.data, "input_hashes", None)
        if not hashes or not getattr(self.scheme, "sha256", ""):
            return None
        blob = json.dumps({"inputs": dict(sorted(hashes.items())), "scheme": self.scheme.sha256,
                           "settings": self.settings.model_dump(mode="json"), "year": int(self.year),
                           "half": self.half}, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()

    def _made(self, name: str, make: Callable[[], object]) -> object:
        """``make()``, or the run's shared copy of ``name``; a writer shares what it makes."""
        sh = self.shared
        if sh is not None and not sh.writing:
            found, value = sh.get(name)
            if found:
                return value
        value = make()
        if sh is not None and sh.writing:
            sh.put(name, value)
        return value

    # --- the scores -------------------------------------------------------------------
    @property
    def results(self) -> Results:
        """:func:`bsc_lib.scoring.engine.evaluate` of the inputs (computed once)."""
        if "_results" not in self._cache:
            self._cache["_results"] = self._made(
                "_results", lambda: evaluate(self.data, self.scheme, year=self.year, half=self.half))
        return self._cache["_results"]

    def results_of(self, half: str) -> Results:
        """:func:`evaluate` of another half of the same year (for H1/H2 comparisons)."""
        if half == self.half:
            return self.results
        key = ("_results", half)
        if key not in self._cache:
            self._cache[key] = evaluate(self.data, self.scheme, year=self.year, half=half)
        return self._cache[key]

    # --- tables -----------------------------------------------------------------------
    def __getitem__(self, name: str) -> pd.DataFrame:
        if name not in PRODUCERS:
            raise KeyError(f"no result table {name!r}; known: {', '.join(sorted(PRODUCERS))}")
        if name not in self._cache:
            log.debug("recipes: making %s", name)
            self._cache[name] = self._made(name, lambda: plain_text(PRODUCERS[name](self)))
        return self._cache[name]

    def tables(self, names: Iterable[str] = EXPORTED) -> dict[str, pd.DataFrame]:
        """The tables ``names`` (default: the exported ones), keyed by name, in that order."""
        return {n: self[n] for n in names}

    def monte_carlo(self) -> robustness.MonteCarloResult:
        """The Monte Carlo behind ``rank_robustness`` (its ``draws_summary`` and ``weights``)."""
        if "_mc" not in self._cache:
            r = self.settings.robustness
            inp = self._robustness_inputs()
            self._cache["_mc"] = robustness.monte_carlo(
                inp["fractions"], inp["nominal_points"], n_draws=r.n_draws, concentration=r.concentration,
                seed=r.seed, **_mc_common(inp))
        return self._cache["_mc"]

    def _robustness_inputs(self) -> dict:
        if "_rob_inp" not in self._cache:
            r = self.settings.robustness
            inp = scenarios.robustness_inputs(self.data, self.scheme, self.year, self.half, r.caps, r.bootstrap,
                                              r.seed, results=self.results)
            self._cache["_rob_inp"] = inp
        return self._cache["_rob_inp"]


def _mc_common(inp: dict) -> dict:
    """Keyword arguments shared by the Monte Carlo and the Sobol analysis."""
    return {"groups": inp["groups"], "alternatives": inp["alternatives"] or None,
            "bootstrap": inp["bootstrap"] or None, "quotas": inp["quotas"], "rounding": inp["rounding"],
            "deductions": inp["deductions"], "clip": TOTAL_RANGE, "cutoffs": inp["cutoffs"]}


# =========================================================================== scores
#: The score tables: name → (the :class:`Results` attribute, what it holds).
SCORE_TABLES = {
    "institutional": ("institutional", "Institutional evaluation: one row per institution (:func:`evaluate`)."),
    "departments": ("departments", "Department scores (the unit scores heads inherit), ranks and grades."),
    "individual": ("individual", "Individual evaluation without names (pseudonymous ``person_id``)."),
    "components": ("components", "Component points, long: ``evaluation, unit_level, unit_id, component, points, max_points``."),
    "kpi": ("kpi", "KPI rates, status, flags and points (one row per KPI and half)."),
    "flags": ("flags", "Flags raised while scoring (missing or unverified actuals, …)."),
    "integrity": ("integrity", "The integrity index per department."),
}


def _score_table(attr: str, doc: str) -> Callable[[Recipes], pd.DataFrame]:
    def make(r: Recipes) -> pd.DataFrame:
        frame = getattr(r.results, attr)
        return frame.drop(columns=["name_ko"], errors="ignore") if attr == "individual" else frame
    make.__doc__ = doc
    make.__name__ = attr
    return make


for _name, (_attr, _doc) in SCORE_TABLES.items():
    producer(_name)(_score_table(_attr, _doc))


# =========================================================================== difficulty
@producer("kpi_difficulty")
def kpi_difficulty(r: Recipes) -> pd.DataFrame:
    """:func:`bsc_lib.analyses.difficulty.kpi_difficulty` with the analysis settings and the scheme's cap."""
    d = r.settings.difficulty
    ach = r.scheme.components.achievement
    return difficulty.kpi_difficulty(
        r.data.kpis, r.data.kpi_history, r.data.kpi_results, year=r.year, target_half=d.target_half,
        easy_margin=d.easy_margin, hard_margin=d.hard_margin, min_history=d.min_history,
        cap=ach.cap if ach is not None else 1.0,
    )


@producer("unit_difficulty")
def unit_difficulty(r: Recipes) -> pd.DataFrame:
    """:func:`bsc_lib.analyses.difficulty.unit_difficulty` with unit names (``unit_id`` = KPI owner)."""
    udiff = difficulty.unit_difficulty(r["kpi_difficulty"])
    return with_names(udiff.rename(columns={"owner_id": "unit_id"}), r.data)


@producer("challenge_crosscheck")
def challenge_crosscheck(r: Recipes) -> pd.DataFrame:
    """Reviewers' challenge ratings against the measured target difficulty."""
    return difficulty.challenge_crosscheck(difficulty.unit_difficulty(r["kpi_difficulty"]), r.data.pre_eval_ratings,
                                           round_rule=r.scheme.components.pre_evaluation.round_rule)


@producer("achievement_bunching")
def achievement_bunching(r: Recipes) -> pd.DataFrame:
    """Units whose achievement rates bunch just above 100 % (with names)."""
    d = r.settings.difficulty
    bunch = difficulty.achievement_bunching(r.data.kpi_results, lower=d.bunching_lower, upper=d.bunching_upper,
                                            kpis=r.data.kpis, year=r.year,
                                            half=r.half if r.half in ("H1", "H2") else None)
    return with_names(bunch.rename(columns={"owner_id": "unit_id"}), r.data)


# =========================================================================== dispersion
def _totals_long(results: Results) -> pd.DataFrame:
    parts = []
    for evaluation, frame, key in (("institutional", results.institutional, "institution_id"),
                                   ("individual", results.individual, "person_id")):
        if frame.empty:
            continue
        parts.append(pd.DataFrame({"evaluation": evaluation, "unit_id": frame[key], "component": "total",
                                   "points": frame["total"], "max_points": 100.0}))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


@producer("discrimination")
def discrimination(r: Recipes) -> pd.DataFrame:
    """Ties, spread and discrimination of every component and total, by evaluation."""
    return dispersion.discrimination(
        pd.concat([r.results.components, _totals_long(r.results)], ignore_index=True), "points",
        by=["evaluation", "component"], decimals=r.settings.dispersion.decimals,
    )


@producer("effective_weights")
def effective_weights(r: Recipes) -> pd.DataFrame:
    """Effective against nominal weights of the components (institutional and individual)."""
    res, scheme = r.results, r.scheme
    eff = []
    for evaluation, frame, key in (("institutional", res.institutional, "institution_id"),
                                   ("individual", res.individual, "person_id")):
        if evaluation not in scheme.evaluations:
            continue
        comps = [c for c in scheme.evaluations[evaluation].components if c in frame.columns]
        if not comps or frame.empty:
            continue
        w = dispersion.effective_weights(frame.set_index(key), comps, total_col="total",
                                         nominal=scheme.evaluations[evaluation].components)
        eff.append(w.assign(evaluation=evaluation))
    return pd.concat(eff, ignore_index=True) if eff else pd.DataFrame()


@producer("integrity_old_vs_new")
def integrity_old_vs_new(r: Recipes) -> pd.DataFrame:
    """The old common indicator (ACRC score) against the new integrity index."""
    return dispersion.compare_integrity(
        r.data.integrity[r.data.integrity["year"] == r.year],
        r.results.integrity[["department_id", "index"]].rename(columns={"index": "integrity_index"}),
        decimals=r.settings.dispersion.decimals,
    )


@producer("group_differences")
def group_differences(r: Recipes) -> pd.DataFrame:
    """Institutional totals compared between institution types."""
    return dispersion.group_differences(r.results.institutional, "total", "inst_type")


# =========================================================================== reliability
def _ratings(r: Recipes) -> pd.DataFrame:
    """The qualitative ratings of the run's year (and half, for a half-year run)."""
    q = r.data.qualitative_ratings
    q = q[q["year"] == r.year]
    return q[q["half"] == r.half] if r.half in ("H1", "H2") else q


@producer("rater_reliability")
def rater_reliability(r: Recipes) -> pd.DataFrame:
    """ICC and Kendall's W of the qualitative ratings by rater group and half."""
    return reliability.rater_reliability(_ratings(r), ["project_id", "item"], by=["rater_group", "half"])


@producer("rater_leniency")
def rater_leniency(r: Recipes) -> pd.DataFrame:
    """Lenient and harsh raters (deviation from the other raters, with CI)."""
    return reliability.rater_leniency(_ratings(r), ["project_id", "item"], by=["rater_group", "half"],
                                      threshold=r.settings.reliability.leniency_threshold, threshold_unit="score")


@producer("rater_grade_changes")
def rater_grade_changes(r: Recipes) -> pd.DataFrame:
    """Institutions whose grade changes when each flagged expert is removed and the run re-scored.

    Empty (with the columns of :func:`bsc_lib.analyses.reliability.grade_changes`' result absent) when
    no expert is flagged; ``attrs["n_changed"]`` counts the changed grades per removed rater.
    """
    len_ = r["rater_leniency"]
    flagged = len_[len_["flag"] != "neutral"]
    experts = sorted(flagged.loc[flagged["rater_group"] == "expert", "rater_id"].unique())
    if not experts:
        return pd.DataFrame()
    rescore = scenarios.qualitative_rescorer(r.data, r.scheme, r.year, r.half)
    return reliability.grade_changes(_ratings(r), experts, rescore, mode="remove")


# =========================================================================== robustness
@producer("rank_robustness")
def rank_robustness(r: Recipes) -> pd.DataFrame:
    """Monte Carlo rank intervals and grade probabilities of the institutions.

    Every draw's total includes the deductions and the clipping of :func:`evaluate`, and is
    graded with the scheme's grading (method, group, rounding, cutoffs), so the nominal row
    of every institution is its scored total, rank and grade.
    """
    return r.monte_carlo().units


@producer("sobol")
def sobol(r: Recipes) -> pd.DataFrame:
    """Sobol shares of the rank variance by uncertain input (same inputs as the Monte Carlo)."""
    p = r.settings.robustness
    inp = r._robustness_inputs()
    return robustness.sobol_indices(inp["fractions"], inp["nominal_points"], concentration=p.concentration,
                                    n_base=p.sobol_base, seed=p.seed, **_mc_common(inp))


def boundaries_of(results: Results, g: Grading, level: str = "institution") -> pd.DataFrame:
    """Grade boundaries of the institutions or departments of ``results`` under grading ``g``.

    Institutions are graded on ``total`` within the scheme's group; departments overall on
    ``total_pct`` (distances are converted back to total points). The producers
    ``grade_boundaries`` and ``department_grade_boundaries`` are this function.

    Returns
    -------
    pandas.DataFrame
        The columns of :func:`bsc_lib.analyses.robustness.grade_boundaries`, one row per unit in the
        order of the results.
    """
    if level == "institution":
        inst = results.institutional
        group = inst["inst_type"] if g.group_by == "inst_type" else "all"
        units = inst.rename(columns={"institution_id": "unit_id"}).assign(group=group)
        return robustness.unit_boundaries(units[["unit_id", "group", "total", "grade"]], g)
    if level == "department":
        dep = results.departments
        units = dep.rename(columns={"department_id": "unit_id"}).assign(group="all")
        return robustness.unit_boundaries(units[["unit_id", "group", "total", "grade"]], g,
                                          score=units["total_pct"], points_per_score=units["max_total"] / 100.0)
    raise ValueError(f"level must be 'institution' or 'department', got {level!r}")


@producer("grade_boundaries")
def grade_boundaries(r: Recipes) -> pd.DataFrame:
    """Points each institution is away from the next better and worse grade (scheme's grading)."""
    return boundaries_of(r.results, r.scheme.grading, "institution")


@producer("department_grade_boundaries")
def department_grade_boundaries(r: Recipes) -> pd.DataFrame:
    """Grade boundaries of the departments (graded overall on ``total_pct``), in total points."""
    return boundaries_of(r.results, r.scheme.grading, "department")


@producer("half_agreement")
def half_agreement(r: Recipes) -> pd.DataFrame:
    """Agreement of the first- and second-half institutional totals (Kendall, Spearman)."""
    h1 = r.results_of("H1").institutional.set_index("institution_id")["total"]
    h2 = r.results_of("H2").institutional.set_index("institution_id")["total"]
    return robustness.half_agreement(h1, h2)


# =========================================================================== alignment
@producer("task_coverage")
def task_coverage(r: Recipes) -> pd.DataFrame:
    """Plan tasks and whether a major project reaches them."""
    return alignment.task_coverage(r.data)


@producer("coverage_summary")
def coverage_summary(r: Recipes) -> pd.DataFrame:
    """Task coverage by plan level."""
    return alignment.coverage_summary(r["task_coverage"])


# =========================================================================== scheme comparison
#: The tables of ``bsc compare`` (scheme A = ``Recipes.scheme``, B = ``Recipes.compare_scheme``).
COMPARE_TABLES = ("compare_units", "compare_contributions", "compare_transitions", "compare_shifts",
                  "compare_discrimination", "compare_effective_weights")


def planning_of(r: Recipes) -> PlanningParams:
    """``r.planning``, or the packaged ``params/planning.yaml`` (loaded once) when ``None``."""
    if r.planning is None:
        r.planning = load_planning_params()
    return r.planning


def compared(r: Recipes) -> Recipes:
    """The recipes of the same inputs under ``r.compare_scheme`` (scheme B), made once."""
    if r.compare_scheme is None:
        raise ValueError("no comparison scheme: give Recipes(..., compare_scheme=...)")
    if "_compared" not in r._cache:
        r._cache["_compared"] = Recipes(r.data, r.compare_scheme, r.settings, r.year, r.half, planning=planning_of(r))
    return r._cache["_compared"]


@producer("compare_units")
def compare_units(r: Recipes) -> pd.DataFrame:
    """Total, rank and grade of every institution and department under schemes A and B, and the change."""
    return compare.unit_changes(r.results, compared(r).results, r.scheme, r.compare_scheme)


@producer("compare_contributions")
def compare_contributions(r: Recipes) -> pd.DataFrame:
    """Each unit's change of the total split into component contributions that add up exactly."""
    return compare.contributions(r.results, compared(r).results, decimals=planning_of(r).compare.decimals)


@producer("compare_transitions")
def compare_transitions(r: Recipes) -> pd.DataFrame:
    """Grade transition matrix (A's grade × B's grade), long."""
    return compare.grade_transitions(r["compare_units"], r.scheme, r.compare_scheme)


@producer("compare_shifts")
def compare_shifts(r: Recipes) -> pd.DataFrame:
    """Systematic shifts of the totals by institution type (with a Kruskal–Wallis test)."""
    return compare.type_shifts(r["compare_units"])


@producer("compare_discrimination")
def compare_discrimination(r: Recipes) -> pd.DataFrame:
    """``discrimination`` (ties, CV, …) of scheme A and scheme B side by side."""
    return compare.side_by_side(r["discrimination"], compared(r)["discrimination"])


@producer("compare_effective_weights")
def compare_effective_weights(r: Recipes) -> pd.DataFrame:
    """``effective_weights`` of scheme A and scheme B side by side."""
    return compare.side_by_side(r["effective_weights"], compared(r)["effective_weights"])


# =========================================================================== target recommendation
#: The tables of ``bsc targets`` (target year = ``Recipes.year + 1``).
TARGET_TABLES = ("target_recommendations", "target_backtest_summary", "target_backtest")


def _target_kwargs(r: Recipes) -> dict:
    t = planning_of(r).targets
    return {"min_history": t.min_history, "interval_level": t.interval_level,
            "challenge_percentile": t.challenge_percentile, "break_level": t.break_level}


@producer("yearly_actuals")
def yearly_actuals(r: Recipes) -> pd.DataFrame:
    """One actual per KPI and year (history, plus result years absent from it)."""
    return targets.yearly_actuals(r.data.kpi_history, r.data.kpi_results, planning_of(r).targets.actual_half)


@producer("target_recommendations")
def target_recommendations(r: Recipes) -> pd.DataFrame:
    """Recommended targets for the year after ``r.year`` with interval and flags, next to the current
    target and its ``kpi_difficulty`` verdict."""
    series = r["yearly_actuals"]
    targets.check_target_year(series, r.year + 1, planning_of(r).targets.min_history)
    rec = targets.recommend(r.data.kpis, series, r.year + 1, **_target_kwargs(r))
    return targets.with_current(rec, r["kpi_difficulty"])


@producer("target_backtest")
def target_backtest(r: Recipes) -> pd.DataFrame:
    """Backtest: each year of the history recommended from the years before it, against its actual."""
    return targets.backtest(r.data.kpis, r["yearly_actuals"], naive_growth=planning_of(r).backtest.naive_growth,
                            **_target_kwargs(r))


@producer("target_backtest_summary")
def target_backtest_summary(r: Recipes) -> pd.DataFrame:
    """Share of recommended targets met and interval coverage per year, trend against the naive rule."""
    t = planning_of(r).targets
    return targets.backtest_summary(r["target_backtest"], t.interval_level, t.challenge_percentile)
# =========================================================================== perspectives
def _named(df: pd.DataFrame, data: BSCData) -> pd.DataFrame:
    """``df`` with ``name_ko``, ``name_en``, ``institution_ko`` and ``inst_type`` after ``unit_id``."""
    out = with_names(df, data)
    names = unit_names(data).set_index("unit_id")
    pos = list(out.columns).index("name_ko") + 1
    out.insert(pos, "name_en", out["unit_id"].map(names["name_en"]))
    out.insert(pos + 2, "inst_type", out["unit_id"].map(names["inst_type"]))
    return out


def _kpi_links(r: Recipes) -> pd.DataFrame:
    d = r.data
    return perspectives.kpi_links(d.kpis, d.projects, d.performance_goals, d.strategic_goals, d.departments)


def _kpi_rates(r: Recipes) -> pd.DataFrame:
    return perspectives.kpi_period_rates(r.results.kpi, r.half, r.scheme.year_combine)


@producer("perspective_rollup")
def perspective_rollup(r: Recipes) -> pd.DataFrame:
    """KPI achievement by institution and BSC perspective with RAG status (with institution names).

    Columns of :func:`bsc_lib.analyses.perspectives.perspective_rollup` with ``institution_id``
    renamed ``unit_id`` and ``name_ko``/``name_en``/``institution_ko``/``inst_type`` added; the rate of a KPI is the
    period's (the half's, or the scheme's ``year_combine`` mean for the year).
    """
    roll = perspectives.perspective_rollup(_kpi_links(r), _kpi_rates(r), r.scheme.kpi_status, r.scheme.perspectives)
    n_unlinked = roll.attrs.get("n_unlinked", 0)
    out = _named(roll.rename(columns={"institution_id": "unit_id"}), r.data)
    out.attrs["n_unlinked"] = n_unlinked
    return out


@producer("strategy_map")
def strategy_map(r: Recipes) -> pd.DataFrame:
    """The strategy map: perspective → strategic goal → performance goal → KPI, each with rate and RAG."""
    d = r.data
    return perspectives.strategy_map(_kpi_links(r), _kpi_rates(r), r.scheme.kpi_status, d.strategic_goals,
                                     d.performance_goals, d.kpis, r.scheme.perspectives)


@producer("strategy_grid")
def strategy_grid(r: Recipes) -> pd.DataFrame:
    """The city-wide strategy map: perspective × city goal with KPI rate and RAG (see :func:`perspectives.strategy_grid`)."""
    d = r.data
    return perspectives.strategy_grid(_kpi_links(r), _kpi_rates(r), r.scheme.kpi_status, d.strategic_goals,
                                      d.plan_tasks, r.scheme.perspectives)


# =========================================================================== prior year
def _current_units(r: Recipes) -> dict[str, pd.DataFrame]:
    res = r.results
    inst = res.institutional
    group = inst["inst_type"] if r.scheme.grading.group_by == "inst_type" else "all"
    units = {"institution": pd.DataFrame({"unit_id": inst["institution_id"], "group": group, "total": inst["total"],
                                          "rank": inst["rank_in_group"], "grade": inst["grade"]})}
    dep = res.departments
    if not dep.empty:
        units["department"] = pd.DataFrame({"unit_id": dep["department_id"], "group": "all", "total": dep["total"],
                                            "rank": dep["rank_overall"], "grade": dep["grade"]})
    return units


@producer("rank_changes")
def rank_changes(r: Recipes) -> pd.DataFrame:
    """This year's totals, ranks and grades against the prior year's (``prior_results``), per unit.

    Columns ``level`` (``institution``/``department``) and those of
    :func:`bsc_lib.analyses.prior_year.unit_changes`, with unit names. Empty without prior results
    for ``year − 1``.
    """
    prior = prior_year.prior_rows(r.data.prior_results, r.year)
    grades = grade_labels(r.scheme.grading)
    parts = [prior_year.unit_changes(cur, prior, grades).assign(level=level)
             for level, cur in _current_units(r).items()]
    out = pd.concat(parts, ignore_index=True) if not prior.empty else parts[0].assign(level=pd.Series(dtype=str))
    out = out[["level", *[c for c in out.columns if c != "level"]]]
    return _named(out, r.data)


@producer("grade_transitions")
def grade_transitions(r: Recipes) -> pd.DataFrame:
    """The prior-grade × grade matrix (long form) per level: ``level``, ``grade_prior``, ``grade``, ``n``, ``share``."""
    ch = r["rank_changes"]
    grades = grade_labels(r.scheme.grading)
    parts = [prior_year.grade_transitions(ch[ch["level"] == lv], grades).assign(level=lv)
             for lv in ch["level"].drop_duplicates()]
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in ("level", "grade_prior", "grade", "n", "share")})
    out = pd.concat(parts, ignore_index=True)
    return out[["level", "grade_prior", "grade", "n", "share"]]


@producer("kpi_trend")
def kpi_trend(r: Recipes) -> pd.DataFrame:
    """Each KPI's actual of the period against last year's (history ``year − 1``), polarity-signed.

    The period's actual is the half's (H1/H2); for the year it is the H2 (year-end) actual.
    Columns of :func:`bsc_lib.analyses.prior_year.kpi_trend` plus ``owner_id``, ``institution_id``,
    ``name_ko`` and ``unit``.
    """
    k = r.results.kpi
    half = "H1" if r.half == "H1" else "H2"
    period = k.loc[k["half"] == half, ["kpi_id", "actual"]]
    out = prior_year.kpi_trend(period, r.data.kpi_history, r.data.kpis, r.year)
    links = _kpi_links(r).set_index("kpi_id")
    # plain text: pandas 3.1 maps a categorical through a one-to-one Series of categorical values
    # by the sorted order of those values, not by key (a wrong name per KPI, silently)
    kp = plain_text(r.data.kpis).set_index("kpi_id")
    out.insert(1, "owner_id", out["kpi_id"].map(links["owner_id"]))
    out.insert(2, "institution_id", out["kpi_id"].map(links["institution_id"]))
    out.insert(3, "name_ko", out["kpi_id"].map(kp["name_ko"]))
    out.insert(4, "unit", out["kpi_id"].map(kp["unit"]))
    return out


# =========================================================================== executive summary
def _inst_units(r: Recipes) -> pd.DataFrame:
    inst = r.results.institutional
    return pd.DataFrame({"unit_id": inst["institution_id"], "inst_type": inst["inst_type"], "total": inst["total"],
                         "rank": inst["rank_in_group"], "grade": inst["grade"], "deductions": inst["deductions"]})


@producer("grade_counts")
def grade_counts(r: Recipes) -> pd.DataFrame:
    """Institutions per institution type and grade (``group``, one column per grade, ``n``; last row ``total``)."""
    return summary.grade_counts(_inst_units(r), grade_labels(r.scheme.grading), "inst_type")


@producer("top_bottom")
def top_bottom(r: Recipes) -> pd.DataFrame:
    """The ``summary.top_n`` best and worst institutions per type, with names."""
    return _named(summary.top_bottom(_inst_units(r), r.settings.summary.top_n, "inst_type"), r.data)


@producer("close_calls")
def close_calls(r: Recipes) -> pd.DataFrame:
    """Units whose grade was decided by less than ``summary.close_call_margin`` points or by a deduction.

    Columns ``level`` and those of :func:`bsc_lib.analyses.summary.close_calls`, with unit and
    neighbour names (``neighbour_ko``, ``neighbour_en``).
    """
    margin = r.settings.summary.close_call_margin
    forced = r.scheme.grading.method == "forced"
    parts = [summary.close_calls(_inst_units(r), r["grade_boundaries"], margin, forced).assign(level="institution")]
    dep = r.results.departments
    if not dep.empty:
        du = pd.DataFrame({"unit_id": dep["department_id"], "total": dep["total"], "grade": dep["grade"],
                           "deductions": dep["deductions"]})
        parts.append(summary.close_calls(du, r["department_grade_boundaries"], margin, forced)
                     .assign(level="department"))
    out = pd.concat(parts, ignore_index=True)
    out = _named(out[["level", *[c for c in out.columns if c != "level"]]], r.data)
    names = unit_names(r.data).set_index("unit_id")
    out["neighbour_ko"] = out["neighbour_id"].map(names["name_ko"])
    out["neighbour_en"] = out["neighbour_id"].map(names["name_en"])
    return out


@producer("near_ties")
def near_ties(r: Recipes) -> pd.DataFrame:
    """Near-tied totals (≈): within ``summary.near_tie_tolerance`` points of, or printing the same as, another.

    Institutions within their grading group (the scheme's ``group_by``), departments among all
    departments. Every place that shows totals (the dashboard, the report's score tables) marks
    these rows; the dashboard's what-if applies the same
    :func:`bsc_lib.analyses.summary.near_ties` with the same tolerance to its re-scored totals.

    Returns
    -------
    pandas.DataFrame
        One row per unit in the order of the results: ``level`` (institution, department),
        ``unit_id``, ``group``, ``total``, and the columns of
        :func:`bsc_lib.analyses.summary.near_ties` (``near_tie``, ``gap``, ``neighbour``,
        ``digits``).
    """
    tol = r.settings.summary.near_tie_tolerance
    inst = r.results.institutional
    group = inst["inst_type"] if r.scheme.grading.group_by == "inst_type" else pd.Series("all", index=inst.index)
    parts = [pd.DataFrame({"level": "institution", "unit_id": inst["institution_id"], "group": group.astype(str),
                           "total": inst["total"].astype(float)})]
    dep = r.results.departments
    if not dep.empty:
        parts.append(pd.DataFrame({"level": "department", "unit_id": dep["department_id"], "group": "all",
                                   "total": dep["total"].astype(float)}))
    out = pd.concat(parts, ignore_index=True)
    ties = summary.near_ties(out["total"], out["level"] + "/" + out["group"], tol)
    return pd.concat([out, ties], axis=1)


@producer("weak_components")
def weak_components(r: Recipes) -> pd.DataFrame:
    """Components whose effective weight is below ``summary.weak_ratio`` × their nominal weight."""
    return summary.weak_components(r["effective_weights"], r.settings.summary.weak_ratio)


# =========================================================================== run entry points
def compute_tables(data: BSCData, scheme: Scheme, year: int | None = None, half: str = "year",
                   settings: AnalysisParams | None = None) -> dict[str, pd.DataFrame]:
    """Every exported result table of a run, keyed by sheet name (:data:`EXPORTED`).

    Returns
    -------
    dict
        Scores: ``institutional``, ``departments``, ``individual`` (no names), ``components``,
        ``kpi``, ``flags``, ``integrity``; analyses: ``kpi_difficulty``, ``unit_difficulty``,
        ``discrimination``, ``effective_weights``, ``integrity_old_vs_new``,
        ``rater_reliability``, ``rater_leniency``, ``rank_robustness``, ``grade_boundaries``.
    """
    return Recipes(data, scheme, settings, year, half).tables()


def _shared_tables() -> tuple[str, ...]:
    """The tables a report run shares with its notebooks: every producer's, except those of
    ``bsc compare`` (they need scheme B; ``09-compare`` makes them) and ``bsc targets``."""
    own = {*COMPARE_TABLES, *TARGET_TABLES, "yearly_actuals"}
    return tuple(n for n in PRODUCERS if n not in own)


#: The tables a report run makes once and shares with its notebooks (:func:`result_tables`).
SHARED_TABLES = _shared_tables()


def result_tables(data_path: str, scheme_path: str, year: int | None, half: str,
                  analysis_path: str | None = None, shared_dir: str | None = None,
                  data: BSCData | None = None) -> dict[str, pd.DataFrame]:
    """The pipeline's ``tables_fn``: load the inputs from paths, then :func:`compute_tables`.

    ``data``: the inputs already loaded from ``data_path`` with this scheme (``bsc report``
    validates them first and hands them over), used instead of loading them again.

    With ``shared_dir`` (an empty private folder), every table of :data:`SHARED_TABLES` and the
    scores are also made once and shared there (:class:`SharedTables`) for the run's notebooks,
    in registry order. A table that is not exported and whose producer fails is marked failed
    (its notebook makes it, and fails, as without sharing); the exported tables are unchanged.
    """
    scheme = load_scheme(resolve(scheme_path))
    if data is None:
        data = load(resolve(data_path), scheme=scheme)
    settings = load_analysis_params(resolve(analysis_path) if analysis_path else None)
    if not shared_dir:
        return compute_tables(data, scheme, year, half, settings)
    r = Recipes(data, scheme, settings, year, half)
    identity = r.identity()
    if identity is None:
        return r.tables()
    planned = ["_results", *SHARED_TABLES]
    r.shared = SharedTables.create(shared_dir, identity, planned)
    for i, name in enumerate(planned):
        try:
            r.results if name == "_results" else r[name]  # noqa: B018 - made and shared
        except Exception:
            if name == "_results" or name in EXPORTED:
                for rest in planned[i:]:
                    r.shared.failed(rest)
                raise
            log.warning("shared tables: %s failed; its notebook makes it", name, exc_info=True)
            r.shared.failed(name)
    return r.tables()


def describe() -> str:
    """One line per table: its name and the first line of its producer's docstring."""
    return "\n".join(f"{n:28s} {(fn.__doc__ or '').strip().splitlines()[0]}" for n, fn in PRODUCERS.items())


__all__ = ["COMPARE_TABLES", "EXPORTED", "PRODUCERS", "SHARED_ENV", "SHARED_TABLES", "TARGET_TABLES", "Recipes", "SharedTables",
           "boundaries_of", "compared", "compute_tables", "describe", "producer", "result_tables"]
