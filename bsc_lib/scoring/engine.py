"""The scoring engine: every component of a scheme, totals, ranks, grades and provenance.

:func:`evaluate` runs each component of each evaluation of the scheme (modules under
:mod:`bsc_lib.scoring.components`), assembles the unit tables, applies deductions, clips totals, ranks
and grades (:mod:`bsc_lib.scoring.grading`), and keeps the decomposition of every total so that
:meth:`Results.explain` can show where each point came from.

Rules decided here (the spec leaves them open):

* Who inherits what. A department head's BSC components (pre-evaluation, achievement,
  qualitative, evaluator) are those of the department they head, a bureau head's those of the
  institution (computed with the *individual* evaluation's points and rater groups);
  organisation comes from the person's own data. The unit is found by looking ``unit_id`` up in
  ``departments`` then ``institutions``; a role that does not match is flagged
  (``role_unit_mismatch``), an unknown unit gives 0 points (flag ``unknown_unit``).
* ``departments`` reports the department-level components with the points of the individual
  evaluation (the unit scores department heads inherit; the institutional evaluation's points
  when the scheme has no individual evaluation). Its ``total`` is their sum minus deductions
  (max ``max_total``), ranked overall and graded on ``total_pct`` (= total / max_total × 100)
  so that cutoffs on a 100-point scale stay meaningful.
* Deductions: a department's consulting no-show deduction; an institution's is the mean of its
  departments'; a person's is that of their unit. Totals are ``Σ components − deductions``
  clipped to ``[0, 100]`` (the clipping shows in :meth:`Results.explain` as
  ``clip_adjustment``).
* ``n_flags`` counts warning flags (not ``info``) on the unit itself and, for an institution,
  on its departments (whose data feed its score); for a person, their own and their unit's.
* The integrity index is reported (``integrity``, ``departments.integrity_index``), never added
  to a total.
* For ``half="H1"`` only the first pre-evaluation round is used (the final round comes later in
  the year); organisation management is yearly and the same for every ``half``.
* Input tables are sorted by their keys first, so the order of input rows never changes a
  result.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bsc_lib import parallel
from bsc_lib.config.scheme import Grading, Scheme
from bsc_lib.data.model import TABLES, BSCData, empty_table, plain_text
from bsc_lib.scoring import grading

# the component modules register themselves in REGISTRY when imported
from bsc_lib.scoring.components import (  # noqa: F401 - imported for their registration
    FLAG_COLUMNS,
    INFO_FLAGS,
    REGISTRY,
    Codes,
    Component,
    ComponentResult,
    ScoringInput,
    achievement,
    concat_flags,
    concat_frames,
    cooperation,
    evaluator,
    factorize_sorted,
    half_weights,
    ids,
    make_flags,
    map_float,
    organisation,
    pre_evaluation,
    qualitative,
)
from bsc_lib.scoring.components.achievement import KPI_COLUMNS
from bsc_lib.scoring.components.integrity import integrity_index
from bsc_lib.scoring.components.pre_evaluation import consulting_deductions

log = logging.getLogger(__name__)

HALF_CHOICES = ("H1", "H2", "year")
#: Components scored at department/institution level (inherited by people).
UNIT_COMPONENTS = ("pre_evaluation", "achievement", "qualitative", "evaluator")
KPI_TABLE_COLUMNS = [*KPI_COLUMNS[:11], "status", *KPI_COLUMNS[11:]]
EXPLAIN_BASE = ["level", "component", "item", "value", "half", "source_id"]


@dataclass
class Results:
    """The results of :func:`evaluate`: tidy DataFrames and the knobs used.

    Attributes
    ----------
    institutional, individual, departments
        One row per institution, person and department (columns: see :func:`evaluate`),
        in display order (total descending, then id).
    components
        Long: ``evaluation, unit_level, unit_id, component, points, max_points``.
    kpi
        One row per KPI and half (rates, status, flags, points).
    flags
        ``unit_id, component, item, flag, detail, half, severity`` (labels:
        :data:`bsc_lib.scoring.components.FLAG_LABELS`).
    integrity
        The integrity index per department.
    params
        The scheme knobs and engine rules used (for the report).
    details
        The decomposition behind :meth:`explain`: ``view`` (``institution`` |
        ``department`` | ``person``), ``unit_id``, ``component``, ``item``, ``value``,
        ``half``, ``source_id`` and the descriptive columns. Built on first access (a
        property; :func:`evaluate` passes a builder as ``_details``): at scale it is the
        largest table by far and most callers never read it. The builder scores a
        copy-on-write snapshot of the input again (the same numbers) rather than keeping every
        component's intermediate results alive for the lifetime of the results.
    year, half
        The period scored.
    """

    institutional: pd.DataFrame
    individual: pd.DataFrame
    departments: pd.DataFrame
    components: pd.DataFrame
    kpi: pd.DataFrame
    flags: pd.DataFrame
    integrity: pd.DataFrame
    params: dict
    _details: pd.DataFrame | Callable[[], pd.DataFrame] = field(repr=False)
    year: int = 2019
    half: str = "year"

    @property
    def details(self) -> pd.DataFrame:
        """The decomposition behind :meth:`explain` (built on first access, then kept)."""
        if callable(self._details):
            self._details = self._details()
        return self._details

    def __getstate__(self) -> dict:  # the builder is a closure: pickle the built frame
        state = dict(self.__dict__)
        state["_details"] = self.details
        state.pop("_detail_idx", None)
        return state

    def _view(self, unit_id: str) -> tuple[str, pd.Series, list[str]]:
        uid = str(unit_id)
        inst = self.institutional
        if uid in set(inst["institution_id"]):
            return "institution", inst.loc[inst["institution_id"] == uid].iloc[0], self.params["component_order"]["institutional"]
        dep = self.departments
        if uid in set(dep["department_id"]):
            return "department", dep.loc[dep["department_id"] == uid].iloc[0], self.params["component_order"]["department"]
        ind = self.individual
        if uid in set(ind["person_id"]):
            return "person", ind.loc[ind["person_id"] == uid].iloc[0], self.params["component_order"]["individual"]
        raise KeyError(f"unknown unit id {uid!r}: not an institution, department or person of these results")

    def explain(self, unit_id: str) -> pd.DataFrame:
        """Decompose one unit's total (institution, department or person id).

        Parameters
        ----------
        unit_id
            An ``institution_id``, ``department_id`` or ``person_id``.

        Returns
        -------
        pandas.DataFrame
            Rows ``level`` (``total`` | ``component`` | ``detail``), ``component``, ``item``
            (KPI id, ``project:group:item``, cooperation item, sub-item, pre-evaluation item,
            half for the evaluator score, department for deductions), ``value`` (points
            contributed; deductions negative), ``half``, ``source_id`` (the department or KPI
            owner a contribution comes from) and the descriptive columns that apply (``target,
            actual, baseline, rate, capped_rate, weight, weight_share, rating_mean, n_raters,
            n_used, share, group_points, score, item_points, raw_value, round_used, project_id,
            rater_group, rated_item``). Detail rows of a component sum to its component row,
            component rows to the total.

        Raises
        ------
        KeyError
            For an id that is none of the above.
        """
        view, row, comps = self._view(unit_id)
        idx = self._detail_index().get((view, str(unit_id)))
        d = self.details.iloc[idx] if idx is not None else self.details.iloc[0:0]
        names = [*comps, "deductions"]
        values = [float(row[c]) for c in comps] + [-float(row["deductions"])]
        adj = float(row["total"]) - float(np.sum(values))
        if abs(adj) > 0:
            names.append("clip_adjustment")
            values.append(adj)
        order = {c: i for i, c in enumerate(names)}
        head = pd.DataFrame({
            "level": ["total", *["component"] * len(names)], "component": ["total", *names],
            "item": "", "value": [float(row["total"]), *values], "half": "", "source_id": "",
            "_c": [-1, *range(len(names))], "_l": 0,
        })
        det = d.drop(columns=["view", "unit_id"]).assign(
            level="detail", _c=d["component"].map(order).fillna(len(names)).to_numpy(), _l=1)
        out = pd.concat([head, det], ignore_index=True, sort=False)
        out = out.sort_values(["_c", "_l"], kind="stable").drop(columns=["_c", "_l"]).reset_index(drop=True)
        filled = out.notna() & out.ne("")
        extra = [c for c in out.columns if c not in EXPLAIN_BASE and bool(filled[c].any())]
        out = out[EXPLAIN_BASE + extra]
        for c in ("item", "half", "source_id"):
            out[c] = out[c].fillna("").astype("str")
        return out

    def _detail_index(self) -> dict:
        """Row positions of ``details`` per (view, unit_id), computed once."""
        cache = self.__dict__.get("_detail_idx")
        if cache is None:
            cache = self.details.groupby(["view", "unit_id"], sort=False).indices
            self.__dict__["_detail_idx"] = cache
        return cache


# ----------------------------------------------------------------------------- helpers
#: The tables the engine reads (the others are passed through untouched).
SCORED_TABLES = frozenset({
    "institutions", "departments", "projects", "kpis", "kpi_history", "kpi_results", "pre_eval_ratings",
    "qualitative_ratings", "evaluator_scores", "cooperation_scores", "integrity", "people", "org_management",
})
#: Tables only read by a component through their :class:`Codes` (which carry the sort order),
#: so :func:`_canonical` does not copy them into key order (the two largest tables).
_READ_THROUGH_CODES = frozenset({"qualitative_ratings", "pre_eval_ratings"})


def _canonical(data: BSCData) -> tuple[dict[str, pd.DataFrame], dict[str, Codes]]:
    """Every model table (empty when absent), rows of the :data:`SCORED_TABLES` sorted by the
    table key (stable).

    Returns the tables and, per table, the :class:`~bsc_lib.scoring.components.Codes` of its key
    columns (computed to sort, reused by the components). The sort is the one of
    ``sort_values(key, kind="stable")`` (missing values last) but computed on integer codes,
    and skipped when the rows are already in key order. The tables of
    :data:`_READ_THROUGH_CODES` are returned unsorted with the order in their ``Codes``.
    """
    frames, keys = {}, {}
    for name, t in TABLES.items():
        df = data.tables.get(name)
        if df is None:
            df = empty_table(name)
        else:
            for c in t.columns:
                if c.name not in df.columns:
                    df = df.assign(**{c.name: empty_table(name)[c.name].reindex(df.index)})
        key = [k for k in t.key if k in df.columns]
        if name not in SCORED_TABLES:  # not read by the engine: left as it is
            key = []
        frames[name], keys[name] = df, (key if len(df) else [])
    # the key columns are factorised independently of each other (two threads: pandas' hash
    # tables release the GIL), then each table is ordered (also independent of the others)
    columns = [(name, k) for name, key in keys.items() for k in key]
    coded = dict(zip(columns, parallel.run_all([functools.partial(_try_factorize, frames[name][k])
                                                for name, k in columns]), strict=True))
    done = parallel.run_all([functools.partial(_canonical_table, name, frames[name], keys[name], coded)
                             for name in TABLES])
    out, codes = {}, {}
    for name, (df, c) in zip(TABLES, done, strict=True):
        out[name], codes[name] = df, c
    return out, codes


def _try_factorize(s: pd.Series) -> tuple[np.ndarray, np.ndarray] | Exception:
    """:func:`factorize_sorted`, or the ``TypeError``/``ValueError`` it raised (unorderable values)."""
    try:
        return factorize_sorted(s)
    except (TypeError, ValueError) as exc:
        return exc


def _canonical_table(name: str, df: pd.DataFrame, key: list[str], coded: dict) -> tuple[pd.DataFrame, Codes]:
    """One table of :func:`_canonical` from the codes of its key columns."""
    known: dict = {}
    if key:
        try:
            known = {}
            for k in key:
                c = coded.pop((name, k))  # the unordered codes go when the ordered ones exist
                if isinstance(c, Exception):
                    raise c
                known[k] = c
            order = _key_order([known[k] for k in key])
        except (TypeError, ValueError):  # unorderable values: let pandas sort (or raise) as before
            known, order = {}, None
            df = df.sort_values(key, kind="stable")
        if order is not None:
            known = {k: (c[order], u) for k, (c, u) in known.items()}
            if name in _READ_THROUGH_CODES:  # the component reads it in this order: no copy
                df = df.reset_index(drop=True)
                return df, Codes(df, known, order=order)
            df = df.take(order)
    df = df.reset_index(drop=True)
    return df, Codes(df, known)


def _key_order(cols: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray | None:
    """Stable order of rows by the coded key columns (missing last); None when already sorted."""
    radix = [len(u) + 1 for _, u in cols]
    total = 1
    for r in radix:
        total *= r
    if total < 2**62:
        # the mixed-radix key; a column with one value and no missing value adds nothing to the
        # order (skipped), codes without a missing value are added as they are
        key = None
        for (c, u), r in zip(cols, radix, strict=True):
            missing = bool((c < 0).any()) if len(c) else False
            if len(u) <= 1 and not missing:
                continue
            c = np.where(c < 0, len(u), c) if missing else c
            if key is None:
                key = c.astype(np.int64)
            else:
                key *= r
                key += c
        if key is None or len(key) < 2 or bool((key[1:] >= key[:-1]).all()):
            return None
        return np.argsort(key, kind="stable")
    order = np.lexsort([np.where(c < 0, len(u), c) for c, u in reversed(cols)])
    return None if bool(np.all(order == np.arange(len(order)))) else order


def _score_map(res: ComponentResult, level: str) -> pd.Series:
    s = res.scores.loc[res.scores["unit_level"] == level]
    return s.set_index("unit_id")["points"]


#: Components whose evaluation-independent part is prepared once per :func:`evaluate`, in this
#: order: the largest first, so its temporaries never sit on top of the others' results.
PREPARED_COMPONENTS = ("qualitative", "pre_evaluation", "achievement", "evaluator")


def _component(comp: str, evaluation: str) -> Component:
    """The registered component ``comp``, checked to belong to ``evaluation``."""
    spec = REGISTRY.get(comp)
    if spec is None:
        raise ValueError(f"unknown component {comp!r}")
    if evaluation not in spec.evaluations:
        raise ValueError(f"{spec.scope}; the scheme gives it to the {evaluation} evaluation")
    return spec


def _prepare_component(comp: str, t: dict[str, pd.DataFrame], scheme: Scheme, *, year: int, half: str,
                       codes: dict[str, Codes], cache: dict) -> None:
    """Put the points-independent part of ``comp`` in ``cache`` (and drop the codes it used)."""
    spec = REGISTRY[comp]
    if spec.prepare is not None:
        cache[comp] = spec.prepare(ScoringInput(t, scheme, year, half, codes))


#: The components by their cost at scale (largest first): the order in which the two threads of
#: :func:`evaluate` take them (any other component comes after these).
_COST_ORDER = ("qualitative", "achievement", "pre_evaluation", "cooperation", "evaluator", "organisation")
def _dept_basis(scheme: Scheme) -> str:
    """The evaluation whose points the ``departments`` table reports (individual when there is one)."""
    return "individual" if "individual" in scheme.evaluations else "institutional"


def _keys_held_as_text(ratings: pd.DataFrame) -> bool:
    """Whether the ratings' id columns are held as text (not integer-coded categoricals)."""
    return any(not isinstance(ratings[c].dtype, pd.CategoricalDtype) and ratings[c].dtype.kind not in "iufb"
               for c in ("project_id", "rater_id") if c in ratings.columns)


def _chain_group(comps: list[str], *args) -> dict:
    """:func:`_component_chain` of each of ``comps``, one after the other (one task)."""
    found: dict = {}
    for comp in comps:
        found.update(_component_chain(comp, *args))
    return found


@dataclass
class _Failure:
    exc: Exception


def _guarded(key: tuple[int, int], fn: Callable, *args, **kwargs) -> dict:
    """``{key: fn(*args, **kwargs)}``, or ``{key: _Failure}`` when it raised."""
    try:
        return {key: fn(*args, **kwargs)}
    except Exception as exc:
        return {key: _Failure(exc)}


def _component_chain(comp: str, prep: list[str], jobs: list[tuple[str, str, float]], t: dict[str, pd.DataFrame],
                     scheme: Scheme, year: int, half: str, codes: dict[str, Codes], keep_details: bool) -> dict:
    """Prepare ``comp`` (when in ``prep``) and score it for each of its ``jobs``.

    Returns ``{(0, i): None | _Failure}`` for its preparation (``i`` its position in ``prep``)
    and ``{(1, j): ComponentResult | _Failure}`` for its scorings (``j`` the position in
    ``jobs``); it stops at the first failure, like a sequential run. The achievement task adds
    ``{(4, 0): DataFrame | _Failure}``, the KPI table (:func:`_kpi_table`).
    """
    found: dict = {}
    cache: dict = {}
    if comp in prep:
        try:
            _prepare_component(comp, t, scheme, year=year, half=half, codes=codes, cache=cache)
        except Exception as exc:
            found[(0, prep.index(comp))] = _Failure(exc)
            return found
    for j, (ev_name, c, pts) in enumerate(jobs):
        if c != comp:
            continue
        try:
            found[(1, j)] = r = _run_component(comp, ev_name, pts, t, scheme, year=year, half=half, codes=codes,
                                               cache=cache)
            if not keep_details:  # details come from a re-run: the intermediate state goes now
                r.details = pd.DataFrame()
        except Exception as exc:
            found[(1, j)] = _Failure(exc)
            return found
    if comp == "achievement":  # the KPI table needs only the achievement results: built in this task
        scored = {(ev_name, c): found[(1, j)] for j, (ev_name, c, _) in enumerate(jobs) if c == comp}
        found.update(_guarded((4, 0), _kpi_table, scored, _dept_basis(scheme), scheme))
    return found


def _run_component(comp: str, evaluation: str, points: float, t: dict[str, pd.DataFrame], scheme: Scheme,
                   *, year: int, half: str, codes: dict[str, Codes] | None = None,
                   cache: dict | None = None) -> ComponentResult:
    """One component of one evaluation (:data:`bsc_lib.scoring.components.REGISTRY`); ``cache``
    shares the points-independent work between evaluations (same numbers as scoring each
    evaluation from scratch)."""
    spec = _component(comp, evaluation)
    codes = {} if codes is None else codes
    cache = {} if cache is None else cache
    inp = ScoringInput(t, scheme, year, half, codes)
    if spec.prepare is not None and comp not in cache:
        cache[comp] = spec.prepare(inp)
    return spec.score(inp, cache.get(comp), evaluation, points)


def _count_flags(flags: pd.DataFrame, unit_ids: pd.Series, members: pd.DataFrame | None = None) -> pd.Series:
    """Warning flags per unit; ``members`` (unit_id, member_id) adds the flags of members."""
    w = flags.loc[flags["severity"] != "info"]
    per = w.groupby("unit_id").size()
    n = map_float(unit_ids, per).fillna(0)
    if members is not None and len(members):
        m = members.assign(n=map_float(members["member_id"], per).fillna(0)).groupby("unit_id")["n"].sum()
        n = n + map_float(unit_ids, m).fillna(0)
    return n.astype(int)


def _details_frame(res: ComponentResult, level: str, view: str, component: str) -> Callable[[], pd.DataFrame]:
    def build() -> pd.DataFrame:
        d = res.details.loc[res.details["unit_level"] == level].drop(columns="unit_level")
        return d.assign(view=view, component=component)
    return build


def _unit_frames(inst_t: pd.DataFrame, dept_t: pd.DataFrame, people_t: pd.DataFrame
                 ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame, list[pd.DataFrame]]:
    """The columns of the three unit tables that do not depend on any score.

    Returns
    -------
    tuple
        ``(institutions, departments, people, department map, person flags)``: institutions
        ``institution_id, name_ko, name_en, inst_type``; departments ``department_id,
        institution_id, name_ko, name_en``; people ``person_id, name_ko, position_grade, role,
        unit_id, unit_level`` (``department`` | ``institution`` | ``""``); the map
        ``department_id, institution_id``; the flags ``unknown_unit`` and
        ``role_unit_mismatch``.
    """
    dmap = pd.DataFrame({"department_id": ids(dept_t["department_id"]), "institution_id": ids(dept_t["institution_id"])})
    inst_df = pd.DataFrame({"institution_id": ids(inst_t["institution_id"]), "name_ko": plain_text(inst_t["name_ko"]),
                            "name_en": plain_text(inst_t["name_en"]), "inst_type": plain_text(inst_t["inst_type"])})
    dep_df = pd.DataFrame({"department_id": dmap["department_id"], "institution_id": dmap["institution_id"],
                           "name_ko": plain_text(dept_t["name_ko"]), "name_en": plain_text(dept_t["name_en"])})
    ppl_df = pd.DataFrame({"person_id": ids(people_t["person_id"]), "name_ko": plain_text(people_t["name_ko"]),
                           "position_grade": plain_text(people_t["grade"]), "role": ids(people_t["role"]),
                           "unit_id": ids(people_t["unit_id"])})
    ppl_df["unit_level"] = np.select([ppl_df["unit_id"].isin(dep_df["department_id"]), ppl_df["unit_id"].isin(inst_df["institution_id"])],
                                     ["department", "institution"], default="")
    bad_unit = ppl_df.loc[ppl_df["unit_level"] == ""]
    mismatch = ppl_df.loc[((ppl_df["role"] == "department_head") & (ppl_df["unit_level"] == "institution"))
                          | ((ppl_df["role"] == "bureau_head") & (ppl_df["unit_level"] == "department"))]
    person_flags = [
        make_flags(bad_unit["person_id"].to_numpy(), "individual", "unknown_unit", item=bad_unit["unit_id"].to_numpy(),
                   detail="unit is neither a department nor an institution: 0 for unit components"),
        make_flags(mismatch["person_id"].to_numpy(), "individual", "role_unit_mismatch",
                   item=mismatch["unit_id"].to_numpy(), detail="role does not match the kind of unit headed"),
    ]
    return inst_df, dep_df, ppl_df, dmap, person_flags


# ----------------------------------------------------------------------------- evaluate
def evaluate(data: BSCData, scheme: Scheme, year: int = 2019, half: str = "year") -> Results:
    """Score a dataset under a scheme.

    Parameters
    ----------
    data
        A loaded dataset (absent tables may be missing from ``data.tables``).
    scheme
        The evaluation scheme (:func:`bsc_lib.config.scheme.load_scheme`).
    year
        Evaluation year.
    half
        ``"H1"``, ``"H2"`` or ``"year"`` (halves combined by the scheme's ``year_combine``).

    Returns
    -------
    Results
        ``institutional``: ``institution_id, name_ko, name_en, inst_type``, one column per
        component of the institutional evaluation, ``deductions, total, rank_in_group,
        rank_overall, grade, n_flags``.
        ``individual``: ``person_id, name_ko, position_grade, role, unit_id, unit_level``, one
        column per component of the individual evaluation, ``deductions, total,
        rank_overall, grade, n_flags``.
        ``departments``: ``department_id, institution_id, name_ko, name_en``, the
        department-level components, ``integrity_index, deductions, total, max_total,
        total_pct, rank_overall, grade, n_flags``.
        ``components``: ``evaluation, unit_level, unit_id, component, points, max_points``;
        ``evaluation`` is ``institutional`` (institutions), ``individual`` (people, with the
        component points they inherit) or ``department`` (departments, points of
        ``params["department_points_basis"]``).
        ``kpi``: ``kpi_id, owner_id, level, polarity, weight, target, actual, baseline,
        verified, rate, capped_rate, status, flag, points, half`` (one row per KPI and half;
        ``points`` is the contribution to the owner's achievement as reported in
        ``departments`` for department-owned KPIs and in ``institutional`` for
        institution-owned ones).
        ``flags``: ``unit_id, component, item, flag, detail, half, severity``.
        ``integrity``: ``department_id``, the normalised integrity components,
        ``misconduct_count, misconduct_deduction, index, acrc_score``.
        ``params``: the scheme knobs and rules used.

    Raises
    ------
    ValueError
        For an unknown ``half`` or a component given to an evaluation that cannot have it.
    DataError
        For data the engine cannot score (ratings outside a scale, duplicate keys …).
    """
    return _evaluate(data, scheme, year, half, keep_details=False)


def _snapshot(data: BSCData) -> BSCData:
    """A copy-on-write snapshot of the tables (no data copied now; later edits of ``data`` do
    not reach it)."""
    return BSCData(tables={k: v.copy(deep=False) for k, v in data.tables.items()}, source=data.source,
                   input_hashes=dict(data.input_hashes))


def _details_by_rerun(data: BSCData, scheme: Scheme, year: int, half: str) -> pd.DataFrame:
    return _evaluate(data, scheme, year, half, keep_details=True, quiet=True).details


def _evaluate(data: BSCData, scheme: Scheme, year: int, half: str, *, keep_details: bool,
              quiet: bool = False) -> Results:
    """:func:`evaluate`. ``keep_details``: the details builder keeps this run's intermediate
    results (fast first :meth:`Results.explain`, more memory); otherwise it scores a snapshot of
    the data again when first needed, and the results hold nothing but their tables."""
    if half not in HALF_CHOICES:
        raise ValueError(f"half must be one of {', '.join(HALF_CHOICES)}; got {half!r}")
    if scheme.year != year and not quiet:
        log.warning("scheme %s is for %s, scoring year %s", scheme.scheme_id, scheme.year, year)
    t, codes = _canonical(data)
    cache: dict = {}
    inst_t, dept_t, people_t = t["institutions"], t["departments"], t["people"]
    evals = scheme.evaluations
    dept_basis = _dept_basis(scheme)

    res: dict[tuple[str, str], ComponentResult] = {}
    wanted = {comp for ev in evals.values() for comp in ev.components}
    # Each component's preparation and scorings are independent of the other components': one
    # task per component on two threads (bsc_lib.parallel), the largest first (with
    # integer-coded input the qualitative component alone is about as long as the others
    # together); results and the error raised (if any) are those of scoring them one after the
    # other. The unit tables' columns that do not depend on the scores are built meanwhile.
    prep = [comp for comp in PREPARED_COMPONENTS if comp in wanted]
    jobs = [(ev_name, comp, float(pts)) for ev_name, ev in evals.items() for comp, pts in ev.components.items()]
    chains = list(dict.fromkeys(
        [c for c in _COST_ORDER if c in prep or any(c == j[1] for j in jobs)] + prep + [j[1] for j in jobs]))
    outcome: dict = {}
    if _keys_held_as_text(t["qualitative_ratings"]):
        # text-held input is large in memory (≈ 2.8 GB at 1000×): the qualitative component's
        # peak is not shared with achievement's nor pre-evaluation's, which run after it
        later = [c for c in ("pre_evaluation", "achievement") if c in chains]
        groups = [[[c] for c in chains if c not in later], [[c] for c in later]]
    else:
        groups = [[[c] for c in chains], []]
    stages = [[functools.partial(_chain_group, g, prep, jobs, t, scheme, year, half, codes, keep_details)
               for g in stage] for stage in groups]
    stages[0] += [  # the deductions, the integrity index and the unit tables' columns, in the first stage
        functools.partial(_guarded, (2, 0), consulting_deductions, dept_t, inst_t, scheme.components.pre_evaluation),
        functools.partial(_guarded, (2, 1), integrity_index, t["integrity"], dept_t, scheme.integrity_index,
                          year=year),
        functools.partial(_guarded, (3, 0), _unit_frames, inst_t, dept_t, people_t)]
    for stage in stages:
        for found in parallel.run_all(stage):
            outcome.update(found)
    failed = sorted(k for k, v in outcome.items() if isinstance(v, _Failure))
    if failed:  # what a sequential run would have raised: preparations first, then scorings, in order
        raise outcome[failed[0]].exc
    for i, (ev_name, comp, _) in enumerate(jobs):
        res[(ev_name, comp)] = outcome[(1, i)]
    del cache, codes
    if not keep_details:  # details come from a re-run: let the components' intermediate state go now
        for r in res.values():
            r.details = pd.DataFrame()
    ded, integ = outcome[(2, 0)], outcome[(2, 1)]
    # the KPI table (built by the achievement task; empty without achievement)
    kpi = outcome[(4, 0)] if (4, 0) in outcome else _kpi_table(res, dept_basis, scheme)
    flag_frames = [r.flags for r in res.values()] + [ded.flags, integ.flags]
    inst_df, dep_df, ppl_df, dmap, person_flags = outcome[(3, 0)]
    members = dmap.rename(columns={"institution_id": "unit_id", "department_id": "member_id"})
    detail_frames: list[Callable[[], pd.DataFrame]] = []

    # --- institutional
    inst_comps = list(evals["institutional"].components) if "institutional" in evals else []
    for comp in inst_comps:
        inst_df[comp] = map_float(inst_df["institution_id"], _score_map(res[("institutional", comp)], "institution")).fillna(0.0)
        detail_frames.append(_details_frame(res[("institutional", comp)], "institution", "institution", comp))
    inst_df["deductions"] = map_float(inst_df["institution_id"], _score_map(ded, "institution")).fillna(0.0)
    detail_frames.append(_details_frame(ded, "institution", "institution", "deductions"))
    inst_df["total"] = (inst_df[inst_comps].sum(axis=1) - inst_df["deductions"]).clip(0.0, 100.0)

    # --- departments
    dept_comps = [c for c in evals[dept_basis].components if c in UNIT_COMPONENTS]
    for comp in dept_comps:
        dep_df[comp] = map_float(dep_df["department_id"], _score_map(res[(dept_basis, comp)], "department")).fillna(0.0)
        detail_frames.append(_details_frame(res[(dept_basis, comp)], "department", "department", comp))
    dep_df["integrity_index"] = map_float(dep_df["department_id"], _score_map(integ, "department"))
    dep_df["deductions"] = map_float(dep_df["department_id"], _score_map(ded, "department")).fillna(0.0)
    detail_frames.append(_details_frame(ded, "department", "department", "deductions"))
    max_total = float(sum(evals[dept_basis].components[c] for c in dept_comps))
    dep_df["total"] = (dep_df[dept_comps].sum(axis=1) - dep_df["deductions"]).clip(0.0, max_total)
    dep_df["max_total"] = max_total
    dep_df["total_pct"] = dep_df["total"] / max_total * 100.0 if max_total > 0 else np.nan

    # --- individual
    ind_comps = list(evals["individual"].components) if "individual" in evals else []
    flag_frames += person_flags
    link = ppl_df[["person_id", "unit_id", "unit_level"]]
    lookups: list = []
    for comp in ind_comps:
        r = res[("individual", comp)]
        if comp == "organisation":
            ppl_df[comp] = map_float(ppl_df["person_id"], _score_map(r, "person")).fillna(0.0)
            detail_frames.append(_details_frame(r, "person", "person", comp))
            continue
        ppl_df[comp] = _unit_lookup(link, r.scores, lookups)
        detail_frames.append(_person_details(r, link, comp))
    ppl_df["deductions"] = _unit_lookup(link, ded.scores, lookups)
    detail_frames.append(_person_details(ded, link, "deductions"))
    ppl_df["total"] = (ppl_df[ind_comps].sum(axis=1) - ppl_df["deductions"]).clip(0.0, 100.0)

    # --- the flags and the long components table (from the unit tables, so they always agree;
    # built while the unit tables are still in key order, where their ids need no sort): two
    # independent tasks that only read the unit tables
    flags, components = parallel.run_all([
        functools.partial(_sorted_flags, flag_frames),
        functools.partial(_components_long, [
            ("institutional", "institution", inst_df, "institution_id", inst_comps, "institutional"),
            ("individual", "person", ppl_df, "person_id", ind_comps, "individual"),
            ("department", "department", dep_df, "department_id", dept_comps, dept_basis),
        ], evals)])

    # --- ranks, grades, flag counts
    g = scheme.grading
    inst_df, dep_df = parallel.run_all([functools.partial(_graded_institutions, inst_df, g, flags, members),
                                        functools.partial(_graded_departments, dep_df, g, flags)])

    pg = grading.assign_grades(ppl_df["total"], g)
    ppl_df["rank_overall"] = pg["rank_overall"]
    ppl_df["grade"] = pg["grade"]
    unit_n = pd.concat([inst_df.set_index("institution_id")["n_flags"], dep_df.set_index("department_id")["n_flags"]])
    ppl_df["n_flags"] = (_count_flags(flags, ppl_df["person_id"]) + map_float(ppl_df["unit_id"], unit_n).fillna(0)).astype(int)
    ppl_df = grading.display_order(ppl_df, "total", "person_id")

    def details() -> pd.DataFrame:
        out = concat_frames((f() for f in detail_frames), pd.DataFrame(
            {c: pd.Series(dtype="str") for c in ["view", "unit_id", "component", "item", "half", "source_id"]}
            | {"value": pd.Series(dtype="float64")}))
        out = out.astype({"view": "str", "unit_id": "str", "component": "str"})
        for c in ("item", "half", "source_id"):
            out[c] = out[c].fillna("").astype("str")
        return out

    params = _params(scheme, year, half, dept_basis, inst_comps, dept_comps, ind_comps)
    if not quiet:
        log.info("evaluated %d institutions, %d departments, %d people; %d flags", len(inst_df), len(dep_df),
                 len(ppl_df), len(flags))
    if not keep_details:  # do not hold every component's intermediate results for explain()
        details = functools.partial(_details_by_rerun, _snapshot(data), scheme, year, half)
    return Results(institutional=inst_df, individual=ppl_df, departments=dep_df, components=components, kpi=kpi, flags=flags,
                   integrity=integ.tables["integrity"], params=params, _details=details, year=year, half=half)


def _graded_institutions(inst_df: pd.DataFrame, g: Grading, flags: pd.DataFrame,
                         members: pd.DataFrame) -> pd.DataFrame:
    """The institutions' table with ranks, grades and flag counts, in display order."""
    groups = inst_df["inst_type"] if g.group_by == "inst_type" else None
    inst_df = pd.concat([inst_df, grading.assign_grades(inst_df["total"], g, groups)], axis=1)
    inst_df["n_flags"] = _count_flags(flags, inst_df["institution_id"], members)
    return grading.display_order(inst_df, "total", "institution_id")


def _graded_departments(dep_df: pd.DataFrame, g: Grading, flags: pd.DataFrame) -> pd.DataFrame:
    """The departments' table (changed in place) with overall rank, grade and flag counts, in
    display order."""
    dg = grading.assign_grades(dep_df["total_pct"], g)
    dep_df["rank_overall"] = dg["rank_overall"]
    dep_df["grade"] = dg["grade"]
    dep_df["n_flags"] = _count_flags(flags, dep_df["department_id"])
    return grading.display_order(dep_df, "total", "department_id")


def _sorted_flags(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """The run's flags: ``frames`` concatenated without exact duplicates, sorted by unit,
    component, item, half and flag (stable), columns :data:`FLAG_COLUMNS`."""
    flags = concat_flags(frames)
    flags = flags.sort_values(["unit_id", "component", "item", "half", "flag"], kind="stable").reset_index(drop=True)
    return flags[FLAG_COLUMNS]


def _unit_lookup(link: pd.DataFrame, scores: pd.DataFrame, lookups: list | None = None) -> pd.Series:
    """Points of each person's unit (``link``: unit_level, unit_id), 0 when unknown.

    ``lookups`` caches the row of each person's unit in a ``scores`` frame; the unit
    components list the same units in the same order, so it is computed once.
    """
    lvl = scores["unit_level"].to_numpy(dtype=object)
    uid = scores["unit_id"].to_numpy(dtype=object)
    pos = None
    for c_lvl, c_uid, c_pos in lookups or ():
        if len(c_lvl) == len(lvl) and bool((c_lvl == lvl).all()) and bool((c_uid == uid).all()):
            pos = c_pos
            break
    if pos is None:
        # the row of each (unit_level, unit_id) of ``link`` in ``scores``: one id index per level
        # (the few levels), as a two-level index would find it
        l_lvl = link["unit_level"].to_numpy(dtype=object)
        l_uid = link["unit_id"].to_numpy(dtype=object)
        pos = np.full(len(link), -1, dtype=np.intp)
        for level in pd.unique(lvl):
            rows = np.flatnonzero(lvl == level) if not pd.isna(level) else np.flatnonzero(pd.isna(lvl))
            index = pd.Index(uid[rows], dtype=object)
            if not index.is_unique:  # a unit listed twice: pandas' merge semantics (rows repeat)
                m = link[["unit_level", "unit_id"]].merge(scores[["unit_level", "unit_id", "points"]],
                                                          on=["unit_level", "unit_id"], how="left")
                return pd.Series(m["points"].to_numpy(dtype=float), index=link.index).fillna(0.0)
            wanted = np.flatnonzero(l_lvl == level) if not pd.isna(level) else np.flatnonzero(pd.isna(l_lvl))
            found = index.get_indexer(pd.Index(l_uid[wanted], dtype=object))
            pos[wanted] = np.where(found >= 0, rows[np.maximum(found, 0)] if len(rows) else -1, -1)
        if lookups is not None:
            lookups.append((lvl, uid, pos))
    pts = scores["points"].to_numpy(dtype=float)
    vals = np.where(pos >= 0, pts[np.maximum(pos, 0)] if len(pts) else np.nan, np.nan)
    return pd.Series(vals, index=link.index).fillna(0.0)


def _person_details(res: ComponentResult, link: pd.DataFrame, comp: str) -> Callable[[], pd.DataFrame]:
    """Unit details re-keyed to the people who head the unit (built when called)."""
    def build() -> pd.DataFrame:
        d = res.details.merge(link, on=["unit_level", "unit_id"], how="inner")
        if not len(d):
            return d.iloc[0:0]
        d["source_id"] = d["source_id"].where(d["source_id"] != "", d["unit_id"])
        d["unit_id"] = d["person_id"]
        return d.drop(columns=["person_id", "unit_level"]).assign(view="person", component=comp)
    return build


_COMPONENT_COLUMNS = ["evaluation", "unit_level", "unit_id", "component", "points", "max_points"]


def _components_long(specs: list[tuple], evals) -> pd.DataFrame:
    """The long ``components`` table, sorted by evaluation, unit id and component.

    Built block by block in that order (units sorted by id, components by name) when every
    unit id is unique, which is what a stable sort of the melted tables gives; otherwise
    melted and sorted.
    """
    empty = pd.DataFrame({c: pd.Series(dtype="str") for c in _COMPONENT_COLUMNS[:4]}
                         | {"points": pd.Series(dtype="float64"), "max_points": pd.Series(dtype="float64")})
    specs = [sp for sp in specs if sp[4] and len(sp[2])]
    if all(sp[2][sp[3]].is_unique and sp[2][sp[3]].notna().all() for sp in specs):
        blocks = []
        for ev_label, level, frame, idc, comps, basis in sorted(specs, key=lambda sp: sp[0]):
            unit_ids = frame[idc].to_numpy(dtype=object)
            order = _text_order(unit_ids)
            cs = sorted(comps)
            pts = dict(evals[basis].components)
            n, k = len(order), len(cs)
            # text columns as takes of their few distinct values (no per-row validation of new text)
            labels = pd.array([ev_label, level, *cs], dtype="str")
            rows = np.repeat(order, k)
            blocks.append(pd.DataFrame({
                "evaluation": pd.Series(labels.take(np.zeros(n * k, dtype=np.intp))),
                "unit_level": pd.Series(labels.take(np.ones(n * k, dtype=np.intp))),
                "unit_id": (pd.Series(frame[idc].array.take(rows)) if isinstance(frame[idc].dtype, pd.StringDtype)
                            else pd.Series(unit_ids[rows], dtype=frame[idc].dtype)),
                "component": pd.Series(labels.take(np.tile(np.arange(2, 2 + k), n))),
                "points": frame[cs].to_numpy(dtype=float)[order].ravel(),
                "max_points": np.tile(np.array([float(pts[c]) for c in cs]), n),
            }))
        return concat_frames(blocks, empty)[_COMPONENT_COLUMNS].reset_index(drop=True)
    comp_rows = []
    for ev_label, level, frame, idc, comps, basis in specs:
        long = frame[[idc, *comps]].melt(id_vars=idc, var_name="component", value_name="points")
        long["max_points"] = long["component"].map(dict(evals[basis].components)).astype(float)
        comp_rows.append(long.rename(columns={idc: "unit_id"}).assign(evaluation=ev_label, unit_level=level))
    components = concat_frames(comp_rows, empty)[_COMPONENT_COLUMNS]
    return components.sort_values(["evaluation", "unit_id", "component"], kind="stable").reset_index(drop=True)


def _text_order(values: np.ndarray) -> np.ndarray:
    """``np.argsort(values, kind="stable")`` of an object array; for text (the usual unit ids)
    sorted as a fixed-width unicode array, which compares code points in C like Python's ``<``
    (not when a value ends in NUL, which that array cannot tell from padding, nor for long text,
    which would make the array large); no sort at all when the values already rise strictly."""
    if grading.rises_strictly(values):
        return np.arange(len(values))
    if (len(values) > 1 and all(type(v) is str for v in values) and max(map(len, values)) <= 256
            and not any(v.endswith("\x00") for v in values)):
        return np.argsort(values.astype(str), kind="stable")
    return np.argsort(values, kind="stable")


def _kpi_table(res: dict[tuple[str, str], ComponentResult], dept_basis: str, scheme: Scheme) -> pd.DataFrame:
    dep = res.get((dept_basis, "achievement"))
    ins = res.get(("institutional", "achievement"))
    if dep is None and ins is None:
        cols = {c: pd.Series(dtype="float64") for c in KPI_TABLE_COLUMNS}
        return pd.DataFrame(cols)
    dep = dep if dep is not None else ins
    ins = ins if ins is not None else dep
    kd, ki = dep.tables["kpi"], ins.tables["kpi"]
    owners_dep = dep.scores.loc[dep.scores["unit_level"] == "department", "unit_id"]
    in_d = kd["owner_id"].isin(owners_dep).to_numpy(dtype=bool)
    in_i = ~ki["owner_id"].isin(owners_dep).to_numpy(dtype=bool)
    if (_same_strictly_sorted_keys(kd, ki) and bool((in_i == ~in_d).all())
            and all(_same_column(kd[c], ki[c]) for c in kd.columns if c != "points")):
        # both tables list the same (kpi_id, half) rows in strictly increasing key order and
        # differ in the points only: the sorted concatenation is kd with ki's points where
        # the owner is not a department
        kpi = kd.copy(deep=False)
        kpi["points"] = np.where(in_d, kd["points"].to_numpy(dtype=float), ki["points"].to_numpy(dtype=float))
        kpi["status"] = grading.kpi_status(kpi["capped_rate"], scheme.kpi_status)
        return kpi[KPI_TABLE_COLUMNS].reset_index(drop=True)
    kpi = pd.concat([kd.loc[in_d], ki.loc[in_i]], ignore_index=True)
    kpi["status"] = grading.kpi_status(kpi["capped_rate"], scheme.kpi_status)
    kpi = kpi[KPI_TABLE_COLUMNS]
    return kpi.sort_values(["kpi_id", "half"], kind="stable").reset_index(drop=True)


def _same_strictly_sorted_keys(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    if len(a) != len(b):
        return False
    k1, h1 = a["kpi_id"].to_numpy(dtype=object), a["half"].to_numpy(dtype=object)
    k2, h2 = b["kpi_id"].to_numpy(dtype=object), b["half"].to_numpy(dtype=object)
    if pd.isna(k1).any() or pd.isna(h1).any() or not (
            (_same_memory(k1, k2) or bool((k1 == k2).all())) and (_same_memory(h1, h2) or bool((h1 == h2).all()))):
        return False
    if len(k1) < 2:
        return True
    return bool(((k1[1:] > k1[:-1]) | ((k1[1:] == k1[:-1]) & (h1[1:] > h1[:-1]))).all())


def _same_memory(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two arrays are views of the very same memory (then their values are equal)."""
    return (a.dtype == b.dtype and a.shape == b.shape and a.strides == b.strides
            and a.__array_interface__["data"][0] == b.__array_interface__["data"][0])


def _same_column(a: pd.Series, b: pd.Series) -> bool:
    """``a.equals(b)``, answered without comparing the values when both columns hold the same
    memory (the two achievement evaluations share every KPI column but the points)."""
    plain = isinstance(a.dtype, np.dtype) or (isinstance(a.dtype, pd.StringDtype) and a.dtype.storage == "python")
    if (plain and a.dtype == b.dtype and a.index.equals(b.index)  # arrays whose np.asarray is no copy
            and _same_memory(np.asarray(a.array), np.asarray(b.array))):
        return True
    return a.equals(b)


def _params(scheme: Scheme, year: int, half: str, dept_basis: str, inst_comps, dept_comps, ind_comps) -> dict:
    c = scheme.components
    comps = {name: getattr(c, name).model_dump() for name in type(c).model_fields if getattr(c, name) is not None}
    return {
        "scheme_id": scheme.scheme_id, "scheme_path": scheme.path, "scheme_sha256": scheme.sha256,
        "year": year, "half": half,
        "half_weights": half_weights(scheme.year_combine, half),
        "achievement_half_weights": half_weights(c.achievement.year_combine, half) if c.achievement else {},
        "pre_evaluation_rounds": ["first"] if half == "H1" else ["first", "final"],
        "evaluations": {k: dict(v.components) for k, v in scheme.evaluations.items()},
        "component_order": {"institutional": inst_comps, "department": dept_comps, "individual": ind_comps},
        "department_points_basis": dept_basis,
        "components": comps,
        "integrity_index": scheme.integrity_index.model_dump(),
        "grading": scheme.grading.model_dump(),
        "kpi_status": [r.model_dump() for r in scheme.kpi_status],
        "info_flags": sorted(INFO_FLAGS),
        "rules": {
            "achievement_unit_score": "points × Σ w·capped_rate / Σ w / cap",
            "institution_deduction": "mean of its departments' consulting deductions",
            "total": "Σ components − deductions, clipped to [0, 100]",
            "ranks": "min (1, 2, 2, 4); order total desc, then id; totals rounded to 9 decimals",
            "grade_ties": "units tied across a grade boundary all get the better grade",
            "integrity_index": "reported only, not added to totals",
        },
    }


def params_frame(params: dict) -> pd.DataFrame:
    """The scheme knobs and rules of :attr:`Results.params` as a flat table for reports.

    Returns
    -------
    DataFrame
        Columns ``setting`` (dotted key path, e.g. ``components.achievement.cap``) and ``value``
        (text), in the order of ``params``; lists of records are shown compactly.
    """
    rows: list[tuple[str, str]] = []

    def walk(prefix: str, v) -> None:
        if isinstance(v, dict) and v and not all(isinstance(x, int | float | str | bool | None) for x in v.values()):
            for k, x in v.items():
                walk(f"{prefix}.{k}" if prefix else str(k), x)
        elif isinstance(v, dict):
            rows.append((prefix, ", ".join(f"{k}: {x}" for k, x in v.items())))
        elif isinstance(v, list) and v and isinstance(v[0], dict):
            ident = "id" if "id" in v[0] else next(iter(v[0]))
            rows.append((prefix, "; ".join(
                f"{d.get(ident)} (" + ", ".join(f"{k}={x}" for k, x in d.items() if k != ident and not str(k).startswith("label")) + ")"
                for d in v)))
        elif isinstance(v, list):
            rows.append((prefix, ", ".join(str(x) for x in v)))
        else:
            rows.append((prefix, str(v)))

    walk("", {k: v for k, v in params.items() if k not in ("info_flags", "component_order", "scheme_sha256")})
    return pd.DataFrame(rows, columns=["setting", "value"])
