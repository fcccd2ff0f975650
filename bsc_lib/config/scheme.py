"""The evaluation scheme as data: load and validate ``params/scheme-*.yaml``.

A scheme is strict: unknown keys, missing keys, wrong types and inconsistent points
(components not summing to 100, rater groups not summing to the qualitative points,
item shares not summing to 1, unknown components) are all reported together as a
:class:`SchemeError` naming the file and the key path.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from bsc_lib.errors import Problem, SchemeError

log = logging.getLogger(__name__)

#: Components the scoring engine knows. A scheme may use any subset per evaluation.
KNOWN_COMPONENTS = (
    "pre_evaluation",
    "achievement",
    "qualitative",
    "evaluator",
    "cooperation",
    "organisation",
)
#: Evaluations (who is scored) the engine knows.
KNOWN_EVALUATIONS = ("institutional", "individual")
#: Largest scheme file accepted (bytes); guards against YAML bombs together with the alias limit.
MAX_SCHEME_BYTES = 1_000_000
#: Deepest nesting of YAML collections accepted (the 2019 scheme needs 5).
MAX_YAML_DEPTH = 32
_TOL = 1e-6


class _Strict(BaseModel):
    # unknown keys are errors; .nan/.inf are not numbers a scheme can use
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Scale(_Strict):
    min: float
    max: float

    @model_validator(mode="after")
    def _check(self):
        if not self.max > self.min:
            raise ValueError(f"scale max ({self.max}) must be greater than min ({self.min})")
        return self


class RatedItem(_Strict):
    id: str
    label_ko: str
    label_en: str
    share: float = Field(ge=0, le=1)


class Evaluation(_Strict):
    label_ko: str
    label_en: str
    components: dict[str, float]


class PreEvaluation(_Strict):
    label_ko: str
    label_en: str
    scale: Scale
    items: list[RatedItem]
    round_rule: Literal["final_replaces_first", "mean"]
    consulting_no_show_deduction: float = Field(ge=0)
    institution_from: Literal["departments_mean", "own_ratings_first"]


class Achievement(_Strict):
    label_ko: str
    label_en: str
    formula: Literal["ratio", "baseline_progress"]
    cap: float = Field(gt=0)
    floor: float = Field(ge=0)
    band_falloff: float = Field(gt=0)
    missing_rule: Literal["zero", "exclude"]
    unverified_rule: Literal["zero", "exclude"]
    year_combine: dict[Literal["H1", "H2"], float]
    institution_from: Literal["departments_mean", "own_kpis", "all_kpis"]


class Qualitative(_Strict):
    label_ko: str
    label_en: str
    scale: Scale
    items: list[RatedItem]
    rater_groups: dict[str, dict[Literal["bureau_self", "planning_office", "expert"], float]]
    trim_extremes: bool
    trim_min_raters: int = Field(ge=3)
    standardise_raters: bool
    projects: Literal["core", "all"]
    institution_from: Literal["departments_mean"]


class EvaluatorComponent(_Strict):
    label_ko: str
    label_en: str
    scale: Scale


class OrgSubItem(_Strict):
    id: Literal["overtime_reduction", "leave_days"]
    label_ko: str
    label_en: str
    points_share: float = Field(ge=0, le=1)
    higher_is_better: bool


class Organisation(_Strict):
    label_ko: str
    label_en: str
    sub_items: list[OrgSubItem]
    curve: Literal["percentile_linear", "minmax_linear"]


class CoopItem(_Strict):
    id: str
    group: str
    label_ko: str
    label_en: str
    points: float = Field(gt=0)
    division_ko: str


class Cooperation(_Strict):
    label_ko: str
    label_en: str
    items: list[CoopItem]
    missing_item: Literal["zero", "error"]


class Components(_Strict):
    pre_evaluation: PreEvaluation | None = None
    achievement: Achievement | None = None
    qualitative: Qualitative | None = None
    evaluator: EvaluatorComponent | None = None
    organisation: Organisation | None = None
    cooperation: Cooperation | None = None


class IntegrityComponent(_Strict):
    id: Literal["plan_status", "expense_disclosure", "training_completion", "survey_score"]
    weight: float = Field(ge=0)
    direction: Literal["up", "down"]


class IntegrityIndex(_Strict):
    label_ko: str
    label_en: str
    components: list[IntegrityComponent]
    misconduct_deduction_per_case: float = Field(ge=0)
    normalisation: Literal["range_0_100", "minmax"]


class Grading(_Strict):
    method: Literal["forced", "cutoffs"]
    group_by: Literal["inst_type", "none"]
    quotas: dict[str, float]
    rounding: Literal["largest_remainder", "floor_best"]
    cutoffs: dict[str, float]
    tie_rule: Literal["min"]


class StatusRule(_Strict):
    status: str
    label_ko: str
    label_en: str
    min_rate: float | None


class ValidationParams(_Strict):
    weight_sum: float = Field(gt=0)
    weight_tolerance: float = Field(ge=0)


class ScheduleStep(_Strict):
    start: str = Field(pattern=r"^\d{4}-\d{2}$")
    end: str = Field(pattern=r"^\d{4}-\d{2}$")
    step_ko: str
    step_en: str
    who: str


class Scheme(_Strict):
    """A validated evaluation scheme. Access sub-sections as attributes."""

    scheme_id: str
    year: int
    title_ko: str
    title_en: str
    source: str
    evaluations: dict[Literal["institutional", "individual"], Evaluation]
    components: Components
    year_combine: dict[Literal["H1", "H2"], float]
    integrity_index: IntegrityIndex
    grading: Grading
    kpi_status: list[StatusRule]
    validation: ValidationParams
    perspectives: list[str]
    schedule: list[ScheduleStep]
    #: sha256 of the file's bytes (set by :func:`load_scheme`; not a YAML key).
    sha256: str = ""
    path: str = ""

    def points(self, evaluation: str, component: str) -> float:
        """Points of ``component`` in ``evaluation`` (0 when the evaluation lacks it)."""
        return float(self.evaluations[evaluation].components.get(component, 0.0))


def _consistency_problems(s: Scheme) -> list[str]:
    """Cross-field rules a type check cannot express. Returns messages (key path: rule)."""
    out: list[str] = []
    for ev_name, ev in s.evaluations.items():
        total = sum(ev.components.values())
        if abs(total - 100) > _TOL:
            out.append(f"evaluations.{ev_name}.components: points must sum to 100, got {total:g}")
        for comp, pts in ev.components.items():
            if comp not in KNOWN_COMPONENTS:
                out.append(
                    f"evaluations.{ev_name}.components.{comp}: unknown component "
                    f"(known: {', '.join(KNOWN_COMPONENTS)})"
                )
                continue
            if pts < 0:
                out.append(f"evaluations.{ev_name}.components.{comp}: points must be >= 0, got {pts:g}")
            if getattr(s.components, comp) is None:
                out.append(f"components.{comp}: missing, but evaluations.{ev_name} gives it {pts:g} points")
    for comp in ("pre_evaluation", "qualitative"):
        c = getattr(s.components, comp)
        if c is None:
            continue
        share = sum(i.share for i in c.items)
        if abs(share - 1) > _TOL:
            out.append(f"components.{comp}.items: shares must sum to 1, got {share:g}")
        ids = [i.id for i in c.items]
        if len(set(ids)) != len(ids):
            out.append(f"components.{comp}.items: duplicate item ids")
    q = s.components.qualitative
    if q is not None:
        for ev_name, ev in s.evaluations.items():
            pts = ev.components.get("qualitative")
            if pts is None:
                continue
            groups = q.rater_groups.get(ev_name)
            if groups is None:
                out.append(f"components.qualitative.rater_groups.{ev_name}: missing (evaluation {ev_name} has a qualitative component)")
                continue
            g = sum(groups.values())
            if abs(g - pts) > _TOL:
                out.append(
                    f"components.qualitative.rater_groups.{ev_name}: rater-group points must sum to the "
                    f"qualitative points ({pts:g}), got {g:g}"
                )
        for ev_name in q.rater_groups:
            if ev_name not in s.evaluations:
                out.append(f"components.qualitative.rater_groups.{ev_name}: no such evaluation")
    a = s.components.achievement
    if a is not None:
        if a.floor > a.cap:
            out.append(f"components.achievement: floor ({a.floor:g}) above cap ({a.cap:g})")
        if abs(sum(a.year_combine.values()) - 1) > _TOL:
            out.append("components.achievement.year_combine: weights must sum to 1")
    if abs(sum(s.year_combine.values()) - 1) > _TOL:
        out.append("year_combine: weights must sum to 1")
    o = s.components.organisation
    if o is not None:
        share = sum(i.points_share for i in o.sub_items)
        if abs(share - 1) > _TOL:
            out.append(f"components.organisation.sub_items: points_share must sum to 1, got {share:g}")
    c = s.components.cooperation
    if c is not None:
        ids = [i.id for i in c.items]
        if len(set(ids)) != len(ids):
            out.append("components.cooperation.items: duplicate item ids")
        for ev_name, ev in s.evaluations.items():
            pts = ev.components.get("cooperation")
            if pts is not None:
                tot = sum(i.points for i in c.items)
                if abs(tot - pts) > _TOL:
                    out.append(
                        f"components.cooperation.items: item points must sum to the cooperation points "
                        f"of {ev_name} ({pts:g}), got {tot:g}"
                    )
    w = sum(ci.weight for ci in s.integrity_index.components)
    if abs(w - 100) > _TOL:
        out.append(f"integrity_index.components: weights must sum to 100, got {w:g}")
    g = s.grading
    qs = sum(g.quotas.values())
    if abs(qs - 1) > _TOL:
        out.append(f"grading.quotas: shares must sum to 1, got {qs:g}")
    if list(g.quotas) != list(g.cutoffs):
        out.append("grading.cutoffs: must name the same grades, in the same order, as grading.quotas")
    cut = list(g.cutoffs.values())
    if any(cut[i] < cut[i + 1] for i in range(len(cut) - 1)):
        out.append("grading.cutoffs: must not increase from the best grade to the worst")
    rates = [r.min_rate for r in s.kpi_status]
    if not rates or rates[-1] is not None or any(r is None for r in rates[:-1]):
        out.append("kpi_status: the last rule, and only the last, must have min_rate: null (catch-all)")
    elif any(rates[i] < rates[i + 1] for i in range(len(rates) - 2)):
        out.append("kpi_status: min_rate must decrease from the first rule to the last")
    return out


def _safe_yaml(text: str, path: str):
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.compose_node_orig = Loader.compose_node  # type: ignore[attr-defined]

    def compose_node(self, parent, index):
        if self.check_event(yaml.events.AliasEvent):
            ev = self.peek_event()
            raise SchemeError([Problem(file=path, row=ev.start_mark.line + 1, column="", rule="yaml",
                                       message="YAML aliases (*name) are not allowed in a scheme file")])
        depth = getattr(self, "_bsc_depth", 0)
        if depth >= MAX_YAML_DEPTH:
            ev = self.peek_event()
            raise SchemeError([Problem(file=path, row=ev.start_mark.line + 1, column="", rule="yaml",
                                       message=f"YAML nested deeper than {MAX_YAML_DEPTH} levels; "
                                               "a scheme file is never that deep")])
        self._bsc_depth = depth + 1
        try:
            return Loader.compose_node_orig(self, parent, index)
        finally:
            self._bsc_depth = depth

    Loader.compose_node = compose_node  # type: ignore[method-assign]
    try:
        return yaml.load(text, Loader=Loader)  # noqa: S506 - SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        row = mark.line + 1 if mark is not None else None
        raise SchemeError([Problem(file=path, row=row, column="", rule="yaml",
                                   message=f"not valid YAML: {getattr(exc, 'problem', exc)}")]) from None
    except RecursionError:  # the parser's own recursion (flow collections): same rule as above
        raise SchemeError([Problem(file=path, column="", rule="yaml", message=(
            f"YAML nested deeper than {MAX_YAML_DEPTH} levels; a scheme file is never that deep"))]) from None


def _model_at(loc: tuple) -> type[BaseModel] | None:
    """The pydantic model validating the mapping at ``loc`` (a pydantic error location).

    ``loc`` alternates field names with list indices and dict keys, e.g.
    ``("components", "cooperation", "items", 3)`` or ``("evaluations", "individual")``.
    """
    import typing

    model: object = Scheme
    skip = 0  # list indices / dict keys still to pass over
    for part in loc:
        if skip:
            skip -= 1
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return None
        field = model.model_fields.get(str(part))
        if field is None:
            return None
        model = field.annotation
        while True:  # unwrap Optional[...], list[...] and dict[..., ...]
            origin = typing.get_origin(model)
            args = [a for a in typing.get_args(model) if a is not type(None)]
            if origin in (list, dict) and args:
                model, skip = args[-1], skip + 1
            elif origin is not None and origin is not typing.Literal and len(args) == 1:
                model = args[0]
            else:
                break
    if skip:
        return None
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _did_you_mean(loc: tuple) -> str:
    """``"; did you mean 'formula'?"`` for an unknown key at ``loc``, else the known keys."""
    import difflib

    model = _model_at(tuple(loc[:-1]))
    if model is None:
        return ""
    known = [k for k in model.model_fields if k not in ("sha256", "path")]
    close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
    if close:
        return f"; did you mean '{close[0]}'?"
    return f"; known keys here: {', '.join(known)}"


def load_scheme(path: str | Path) -> Scheme:
    """Load and validate a scheme YAML file.

    Parameters
    ----------
    path
        Path to a scheme file such as ``params/scheme-2019.yaml``.

    Returns
    -------
    Scheme
        The validated scheme, with ``sha256`` and ``path`` set.

    Raises
    ------
    SchemeError
        Listing every problem (key path and rule); never a bare traceback.
    """
    p = Path(path)
    spath = str(p)
    if not p.is_file():
        raise SchemeError([Problem(file=spath, rule="exists", message="scheme file not found")])
    raw = p.read_bytes()
    if len(raw) > MAX_SCHEME_BYTES:
        raise SchemeError([Problem(file=spath, rule="size", message=f"scheme file larger than {MAX_SCHEME_BYTES} bytes")])
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SchemeError([Problem(file=spath, rule="encoding", message="scheme file must be UTF-8")]) from None
    data = _safe_yaml(text, spath)
    scheme = scheme_from_mapping(data, source=spath)
    scheme = scheme.model_copy(update={"sha256": hashlib.sha256(raw).hexdigest(), "path": spath})
    log.debug("loaded scheme %s from %s", scheme.scheme_id, spath)
    return scheme


def scheme_from_mapping(data: object, source: str = "") -> Scheme:
    """Validate an already-parsed scheme (the mapping a scheme YAML file holds).

    The rules are those of :func:`load_scheme` after reading the file: a mapping, no
    reserved keys, every key known (with a did-you-mean for typos), types, finite numbers
    and the consistency rules.

    Parameters
    ----------
    data
        The parsed YAML document (anything; a non-mapping is a problem).
    source
        Named as ``file`` in the problems (e.g. the YAML path).

    Returns
    -------
    Scheme
        The validated scheme (``sha256`` and ``path`` empty).

    Raises
    ------
    SchemeError
        Listing every problem.
    """
    spath = source
    if not isinstance(data, dict):
        raise SchemeError([Problem(file=spath, rule="structure", message="a scheme must be a YAML mapping")])
    data = dict(data)
    for reserved in ("sha256", "path"):
        if reserved in data:
            raise SchemeError([Problem(file=spath, column=reserved, rule="unknown key",
                                       message=f"{reserved}: reserved, not a scheme key")])
    try:
        scheme = Scheme.model_validate(data)
    except ValidationError as exc:
        probs = []
        for e in exc.errors():
            loc = ".".join(str(x) for x in e["loc"])
            kind = {"extra_forbidden": "unknown key", "missing": "missing key"}.get(e["type"], e["type"])
            value = "" if e["type"] == "missing" else repr(e.get("input"))[:80]
            hint = _did_you_mean(tuple(e["loc"])) if e["type"] == "extra_forbidden" else ""
            msg = f"{loc}: unknown key{hint}" if e["type"] == "extra_forbidden" else f"{loc}: {e['msg']}"
            probs.append(Problem(file=spath, column=loc, rule=kind, value=value, message=msg))
        raise SchemeError(probs) from None
    problems = _consistency_problems(scheme)
    if problems:
        raise SchemeError([Problem(file=spath, column=m.split(":", 1)[0], rule="consistency", message=m) for m in problems])
    return scheme


def default_scheme_path() -> Path:
    """The shipped 2019 scheme, ``params/scheme-2019.yaml`` (see :func:`bsc_lib.config.paths.resource_dir`)."""
    from bsc_lib.config.paths import default_scheme_path as _default

    return _default()
