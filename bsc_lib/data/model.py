"""The BSC data model: every input table, its columns, types, Korean aliases and keys.

This module is the single source of truth for the input format. The loader
(:mod:`bsc_lib.data.io`), the validator (:mod:`bsc_lib.data.validate`), the template writer and
the README's data-format section are all derived from :data:`TABLES`.

Conventions
-----------
* Table and column identifiers are English ``snake_case``; each column also has a Korean
  header (``ko``) and optional further aliases, any of which the loader accepts.
* Categorical codes are English (``up``, ``main_office``, ``H1``); Korean spellings listed
  in :data:`VALUE_ALIASES` are accepted on input and mapped to the codes.
* ``dtype`` is one of ``str``, ``int``, ``float``, ``bool``.
* ``fk`` names ``"table.column"`` that the value must exist in (``None`` values are allowed
  when the column is not required). ``fk`` may be a tuple when the value may live in
  either of several tables (e.g. a unit id is a department or an institution).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Column:
    """One column of an input table."""

    name: str
    dtype: str
    ko: str
    description: str
    required: bool = True
    nullable: bool = False
    allowed: tuple[str, ...] | None = None
    fk: tuple[str, ...] = ()
    min_value: float | None = None
    max_value: float | None = None
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Table:
    """One input table (a CSV file ``<name>.csv`` or an xlsx sheet named ``name`` or ``ko``)."""

    name: str
    ko: str
    description: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    required: bool = True
    ko_aliases: tuple[str, ...] = field(default=())

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


INST_TYPES = ("main_office", "business_office", "independent")
HALVES = ("H1", "H2")
POLARITIES = ("up", "down", "band")
KPI_TYPES = ("input", "process", "output", "outcome")
KPI_LEVELS = ("institution", "department")
PLAN_LEVELS = ("vision", "goal", "core", "general")
PRE_ROUNDS = ("first", "final")
RATER_GROUPS = ("bureau_self", "planning_office", "expert")
ROLES = ("bureau_head", "department_head")
HISTORY_YEARS = (2015, 2016, 2017, 2018)

#: Korean (and other) spellings accepted for categorical codes, per code set.
VALUE_ALIASES: dict[str, dict[str, str]] = {
    "inst_type": {"본청": "main_office", "사업소": "business_office", "독립기관": "independent",
                  "main": "main_office", "business": "business_office"},
    "half": {"상반기": "H1", "하반기": "H2", "h1": "H1", "h2": "H2"},
    "polarity": {"상향": "up", "하향": "down", "목표구간": "band", "구간": "band",
                 "increase": "up", "decrease": "down"},
    "kpi_type": {"투입": "input", "과정": "process", "산출": "output", "결과": "outcome"},
    "level": {"기관": "institution", "실국": "institution", "부서": "department"},
    "plan_level": {"비전": "vision", "시정목표": "goal", "핵심과제": "core", "일반과제": "general"},
    "round": {"1차": "first", "최종": "final"},
    "rater_group": {"자체평가": "bureau_self", "실본부국": "bureau_self",
                    "기획조정실": "planning_office", "전문가": "expert"},
    "role": {"실국장": "bureau_head", "부서장": "department_head"},
}
#: Spellings accepted for booleans.
BOOL_TRUE = ("true", "t", "yes", "y", "1", "예", "o", "참여", "검증", "완료", "핵심")
BOOL_FALSE = ("false", "f", "no", "n", "0", "아니오", "x", "미참여", "미검증", "미완료", "일반")
#: Cell texts read as missing.
MISSING_TOKENS = ("", "-", "–", "—", "na", "n/a", "nan", "null", "none", "#n/a", "해당없음")


def _c(name, dtype, ko, description, **kw) -> Column:
    return Column(name=name, dtype=dtype, ko=ko, description=description, **kw)


TABLES: dict[str, Table] = {
    t.name: t
    for t in [
        Table(
            "institutions", "기관", "The 45 evaluated institutions (bureaus, business offices, independent bodies).",
            (
                _c("institution_id", "str", "기관ID", "Unique institution id, e.g. I01."),
                _c("name_ko", "str", "기관명", "Korean name."),
                _c("name_en", "str", "기관명(영문)", "English name.", required=False, nullable=True),
                _c("inst_type", "str", "기관유형", "Institution type: main_office 본청, business_office 사업소, independent 독립기관.",
                   allowed=INST_TYPES),
            ),
            key=("institution_id",),
        ),
        Table(
            "departments", "부서", "Departments (과·담당관) of each institution.",
            (
                _c("department_id", "str", "부서ID", "Unique department id, e.g. D001."),
                _c("institution_id", "str", "기관ID", "Institution the department belongs to.", fk=("institutions.institution_id",)),
                _c("name_ko", "str", "부서명", "Korean name."),
                _c("name_en", "str", "부서명(영문)", "English name.", required=False, nullable=True),
                _c("consulting_participated", "bool", "컨설팅참여", "Took part in the agency's KPI consulting (no-show → deduction)."),
            ),
            key=("department_id",),
        ),
        Table(
            "plan_tasks", "시정4개년계획", "The four-year city plan: vision, 5 city goals, 25 core and 151 general tasks.",
            (
                _c("task_id", "str", "과제ID", "Unique id (V, G1…G5, C01…, T001…)."),
                _c("plan_level", "str", "구분", "vision 비전, goal 시정목표, core 핵심과제, general 일반과제.", allowed=PLAN_LEVELS),
                _c("parent_id", "str", "상위ID", "Parent task (goal → vision, task → goal).", nullable=True, required=False, fk=("plan_tasks.task_id",)),
                _c("name_ko", "str", "과제명", "Korean name."),
                _c("name_en", "str", "과제명(영문)", "English name.", required=False, nullable=True),
            ),
            key=("task_id",),
            required=False,
        ),
        Table(
            "strategic_goals", "전략목표", "Bureau-level strategic goals (전략목표) with their BSC perspective (관점).",
            (
                _c("strategic_goal_id", "str", "전략목표ID", "Unique id."),
                _c("institution_id", "str", "기관ID", "Owning institution.", fk=("institutions.institution_id",)),
                _c("perspective", "str", "관점", "BSC perspective (names are a scheme parameter; seed silent)."),
                _c("name_ko", "str", "전략목표명", "Korean name."),
                _c("city_goal_id", "str", "시정목표ID", "The city goal it serves.", nullable=True, required=False, fk=("plan_tasks.task_id",)),
            ),
            key=("strategic_goal_id",),
            required=False,
        ),
        Table(
            "performance_goals", "성과목표", "Department-level performance goals (성과목표).",
            (
                _c("performance_goal_id", "str", "성과목표ID", "Unique id."),
                _c("department_id", "str", "부서ID", "Owning department.", fk=("departments.department_id",)),
                _c("strategic_goal_id", "str", "전략목표ID", "Strategic goal it serves.", nullable=True, fk=("strategic_goals.strategic_goal_id",)),
                _c("name_ko", "str", "성과목표명", "Korean name."),
            ),
            key=("performance_goal_id",),
            required=False,
        ),
        Table(
            "projects", "주요사업", "Major projects (주요사업) of each department.",
            (
                _c("project_id", "str", "사업ID", "Unique id."),
                _c("department_id", "str", "부서ID", "Owning department.", fk=("departments.department_id",)),
                _c("performance_goal_id", "str", "성과목표ID", "Performance goal.", nullable=True, required=False, fk=("performance_goals.performance_goal_id",)),
                _c("name_ko", "str", "사업명", "Korean name."),
                _c("is_core", "bool", "핵심사업", "Core project (rated in the qualitative evaluation)."),
            ),
            key=("project_id",),
            required=False,
        ),
        Table(
            "project_tasks", "사업-과제연계", "Which four-year-plan tasks each major project carries (many-to-many).",
            (
                _c("project_id", "str", "사업ID", "Project.", fk=("projects.project_id",)),
                _c("task_id", "str", "과제ID", "Core or general plan task.", fk=("plan_tasks.task_id",)),
            ),
            key=("project_id", "task_id"),
            required=False,
        ),
        Table(
            "kpis", "성과지표", "Key performance indicators (핵심성과지표) with polarity, type and weight.",
            (
                _c("kpi_id", "str", "지표ID", "Unique id."),
                _c("owner_id", "str", "소관ID", "Owning department (or institution for bureau-level KPIs).",
                   fk=("departments.department_id", "institutions.institution_id")),
                _c("level", "str", "수준", "institution (실·본부·국) or department (과·담당관).", allowed=KPI_LEVELS),
                _c("project_id", "str", "사업ID", "Major project measured (department level).", nullable=True, required=False, fk=("projects.project_id",)),
                _c("name_ko", "str", "지표명", "Korean name."),
                _c("unit", "str", "단위", "Unit of measure (%, 건, 명, 점, 억원, 일 …)."),
                _c("polarity", "str", "극성", "up 상향 (higher is better), down 하향, band 목표구간.", allowed=POLARITIES),
                _c("band_low", "float", "구간하한", "Lower band limit (band KPIs only).", nullable=True, required=False),
                _c("band_high", "float", "구간상한", "Upper band limit (band KPIs only).", nullable=True, required=False),
                _c("kpi_type", "str", "지표유형", "input 투입, process 과정, output 산출, outcome 결과.", allowed=KPI_TYPES),
                _c("weight", "float", "가중치", "Weight within the owner's KPIs (sum 100 per owner).", min_value=0, max_value=100),
            ),
            key=("kpi_id",),
        ),
        Table(
            "kpi_history", "지표실적이력", "Yearly actuals before the evaluation year (2015–2018).",
            (
                _c("kpi_id", "str", "지표ID", "KPI.", fk=("kpis.kpi_id",)),
                _c("year", "int", "연도", "Year.", min_value=1990, max_value=2100),
                _c("actual", "float", "실적", "Actual value (blank when missing).", nullable=True),
            ),
            key=("kpi_id", "year"),
            required=False,
        ),
        Table(
            "kpi_results", "지표실적", "Targets and actuals of the evaluation year, per half.",
            (
                _c("kpi_id", "str", "지표ID", "KPI.", fk=("kpis.kpi_id",)),
                _c("year", "int", "연도", "Evaluation year.", min_value=1990, max_value=2100),
                _c("half", "str", "반기", "H1 상반기 or H2 하반기.", allowed=HALVES),
                _c("target", "float", "목표치", "Target for the period."),
                _c("actual", "float", "실적치", "Actual entered by the department (blank when missing).", nullable=True),
                _c("verified", "bool", "증빙검증", "Verified by the office against evidence (증빙자료)."),
            ),
            key=("kpi_id", "year", "half"),
        ),
        Table(
            "pre_eval_ratings", "사전평가", "Pre-evaluation ratings of each department's plan by the external agency.",
            (
                _c("unit_id", "str", "평가대상ID", "Department (or institution) whose plan is rated.",
                   fk=("departments.department_id", "institutions.institution_id")),
                _c("round", "str", "차수", "first 1차 or final 최종.", allowed=PRE_ROUNDS),
                _c("item", "str", "평가항목", "Item id from the scheme (pre_evaluation.items)."),
                _c("rater_id", "str", "평가자ID", "Rater (pseudonymous)."),
                _c("score", "float", "점수", "Rating on the item's scale (scheme)."),
            ),
            key=("unit_id", "round", "item", "rater_id"),
            required=False,
        ),
        Table(
            "qualitative_ratings", "정성평가", "Qualitative ratings of core projects per half, rater group and item.",
            (
                _c("year", "int", "연도", "Evaluation year.", min_value=1990, max_value=2100),
                _c("half", "str", "반기", "H1 or H2.", allowed=HALVES),
                _c("project_id", "str", "사업ID", "Rated project.", fk=("projects.project_id",)),
                _c("rater_group", "str", "평가자그룹", "bureau_self 실·본부·국 자체평가, planning_office 기획조정실, expert 전문가.", allowed=RATER_GROUPS),
                _c("rater_id", "str", "평가자ID", "Rater (pseudonymous)."),
                _c("item", "str", "평가항목", "Item id from the scheme (qualitative.items)."),
                _c("score", "float", "점수", "Rating on the item's scale (scheme)."),
            ),
            key=("year", "half", "project_id", "rater_group", "rater_id", "item"),
            required=False,
        ),
        Table(
            "evaluator_scores", "평가자점수", "Evaluator scores (평가자 점수) per unit and half.",
            (
                _c("year", "int", "연도", "Evaluation year.", min_value=1990, max_value=2100),
                _c("half", "str", "반기", "H1 or H2.", allowed=HALVES),
                _c("unit_id", "str", "평가대상ID", "Institution or department.",
                   fk=("departments.department_id", "institutions.institution_id")),
                _c("evaluator_id", "str", "평가자ID", "Evaluator (pseudonymous)."),
                _c("score", "float", "점수", "Score on the scheme's evaluator scale."),
            ),
            key=("year", "half", "unit_id", "evaluator_id"),
            required=False,
        ),
        Table(
            "cooperation_scores", "협력평가", "Internal/external cooperation item scores per institution and half.",
            (
                _c("year", "int", "연도", "Evaluation year.", min_value=1990, max_value=2100),
                _c("half", "str", "반기", "H1 or H2.", allowed=HALVES),
                _c("institution_id", "str", "기관ID", "Institution.", fk=("institutions.institution_id",)),
                _c("item", "str", "평가항목", "Item id from the scheme (cooperation.items)."),
                _c("score", "float", "점수", "Points awarded (0 … the item's points).", min_value=0),
            ),
            key=("year", "half", "institution_id", "item"),
            required=False,
        ),
        Table(
            "integrity", "청렴지수", "Integrity-index components (청렴지수평가제) and the old ACRC-derived score per department.",
            (
                _c("year", "int", "연도", "Year.", min_value=1990, max_value=2100),
                _c("department_id", "str", "부서ID", "Department.", fk=("departments.department_id",)),
                _c("plan_status", "float", "청렴대책수립", "Integrity plan status, 0–100.", min_value=0, max_value=100),
                _c("expense_disclosure", "float", "업무추진비공개", "Disclosure rate of business-promotion expenses, 0–100 %.", min_value=0, max_value=100),
                _c("training_completion", "float", "청렴교육이수", "Integrity-training completion rate, 0–100 %.", min_value=0, max_value=100),
                _c("survey_score", "float", "청렴도설문", "Integrity survey result, 0–100.", min_value=0, max_value=100),
                _c("misconduct_count", "int", "비위적발", "Misconduct cases found (a deduction).", min_value=0),
                _c("acrc_score", "float", "공무원청렴도(구)", "Old common indicator: ACRC city-wide survey converted to a department score.",
                   nullable=True, required=False),
            ),
            key=("year", "department_id"),
            required=False,
        ),
        Table(
            "people", "평가대상자", "Managers evaluated individually (grade 4 and above), pseudonymous.",
            (
                _c("person_id", "str", "대상자ID", "Pseudonymous id, e.g. P0001."),
                _c("name_ko", "str", "성명", "Name (personal data: pseudonymised in dashboards).", required=False, nullable=True),
                _c("grade", "str", "직급", "Grade, e.g. 2급, 3급, 4급."),
                _c("unit_id", "str", "소속ID", "Unit headed (department or institution).",
                   fk=("departments.department_id", "institutions.institution_id")),
                _c("role", "str", "역할", "bureau_head 실국장 or department_head 부서장.", allowed=ROLES),
            ),
            key=("person_id",),
            required=False,
        ),
        Table(
            "org_management", "조직관리", "Organisation management data per manager and year (overtime, leave).",
            (
                _c("person_id", "str", "대상자ID", "Manager.", fk=("people.person_id",)),
                _c("year", "int", "연도", "Year (the evaluation year and the one before).", min_value=1990, max_value=2100),
                _c("avg_overtime_hours", "float", "평균초과근무시간", "Average monthly overtime hours per staff member.", min_value=0, nullable=True),
                _c("avg_leave_days", "float", "평균연가사용일수", "Average annual-leave days used per staff member.", min_value=0, nullable=True),
            ),
            key=("person_id", "year"),
            required=False,
        ),
        Table(
            "prior_results", "전년도평가결과",
            "Last year's (or earlier years') evaluation results per unit: total and grade, for grade transitions "
            "and rank changes. Optional: without it the report says that no prior year is available.",
            (
                _c("year", "int", "연도", "Year of the prior evaluation (e.g. 2018).", min_value=1990, max_value=2100),
                _c("unit_id", "str", "평가대상ID", "Institution or department.",
                   fk=("departments.department_id", "institutions.institution_id")),
                _c("total", "float", "총점", "Total points of that year's evaluation.", min_value=0, max_value=100),
                _c("grade", "str", "등급", "Grade awarded that year (a grade of the scheme, e.g. S, A, B, C)."),
            ),
            key=("year", "unit_id"),
            required=False,
        ),
    ]
}

#: Which categorical code set (in :data:`VALUE_ALIASES`) each column name uses.
CODESET_OF_COLUMN: dict[str, str] = {
    "inst_type": "inst_type",
    "half": "half",
    "polarity": "polarity",
    "kpi_type": "kpi_type",
    "level": "level",
    "plan_level": "plan_level",
    "round": "round",
    "rater_group": "rater_group",
    "role": "role",
}


def header_aliases(table: Table) -> dict[str, str]:
    """Map every accepted header spelling (normalised) of ``table`` to its column name.

    Normalisation: strip, lower-case, remove spaces, underscores, dots and the
    Korean middle dot, so ``"Kpi ID"``, ``"kpi_id"`` and ``"지표 ID"`` all match.
    """
    out: dict[str, str] = {}
    for c in table.columns:
        for spelling in (c.name, c.ko, *c.aliases):
            out[normalise_header(spelling)] = c.name
    return out


def normalise_header(text: str) -> str:
    """Normalise a header cell for alias matching (see :func:`header_aliases`)."""
    s = str(text).strip().lower()
    for ch in (" ", "_", ".", "·", "ㆍ", "\u00a0", "\ufeff", "\n", "\t"):
        s = s.replace(ch, "")
    return s


#: pandas dtype of each model dtype in a loaded (canonical) table.
PANDAS_DTYPES = {"str": "str", "int": "int64", "float": "float64", "bool": "bool"}


def empty_table(name: str) -> pd.DataFrame:
    """An empty canonical DataFrame for table ``name`` (used for absent optional tables)."""
    t = TABLES[name]
    return pd.DataFrame({c.name: pd.Series(dtype=_pd_dtype(c)) for c in t.columns})


def _pd_dtype(c: Column) -> str:
    # nullable ints/bools use pandas' nullable extension types
    if c.nullable and c.dtype == "int":
        return "Int64"
    if c.nullable and c.dtype == "bool":
        return "boolean"
    return PANDAS_DTYPES[c.dtype]


def pandas_dtype(c: Column) -> str:
    """The pandas dtype a loaded column has (``str``, ``int64``/``Int64``, ``float64``, ``bool``/``boolean``)."""
    return _pd_dtype(c)


def is_coded_text(dtype: object) -> bool:
    """True for a ``category`` dtype whose categories are text (or that has no category: an
    all-missing column, whose categories pandas types as numbers)."""
    return isinstance(dtype, pd.CategoricalDtype) and (
        pd.api.types.is_string_dtype(dtype.categories.dtype) or dtype.categories.dtype == object
        or len(dtype.categories) == 0)


def category_codes(s: pd.Series) -> np.ndarray:
    """The integer codes of a categorical Series (−1 = missing), without a copy.

    A read-only view of the codes the Series holds (writing to it raises): ``s.cat.codes``
    builds a new Series over a copy of them, a measurable cost on 18.7 M ratings.
    """
    return s.array.codes


def _plain_series(s: pd.Series) -> pd.Series:
    values = s.cat.categories.array.take(category_codes(s), allow_fill=True)
    return pd.Series(values, index=s.index, name=s.name, copy=False).astype("str")


def _plain_index(ix: pd.Index) -> pd.Index:
    if not is_coded_text(ix.dtype):
        return ix
    return pd.Index(_plain_series(pd.Series(ix, copy=False)).array, name=ix.name)


def plain_text(obj: pd.DataFrame | pd.Series) -> pd.DataFrame | pd.Series:
    """``obj`` with integer-coded text (``category`` of text) as plain ``str``; other columns as they are.

    :func:`bsc_lib.data.io.load` keeps text integer-coded by default (fast keys); a table that is
    shown, exported or combined with other text (``fillna`` with a new value, ``concat`` with
    other categories, formatting) needs the values themselves. Values, missing cells (``NA``),
    row order, index and ``attrs`` are kept; the dtype becomes the model's ``str``, so a result
    made from ``category`` input equals (values and dtypes) the one made from ``str`` input.
    A frame or series without such columns (or index) is returned unchanged, not copied.

    Look-ups need it too: pandas 3.1 maps a ``category`` Series through a Series whose values are
    ``category`` and one-to-one (e.g. ``kpis.set_index("kpi_id")["name_ko"]``) by the sorted order
    of those values instead of by key — silently wrong names. Make such a mapper plain first.
    """
    if isinstance(obj, pd.Series):
        out = _plain_series(obj) if is_coded_text(obj.dtype) else obj
        ix = _plain_index(out.index)
        if ix is not out.index:
            out = out.set_axis(ix)
        return out
    cols = [i for i, dt in enumerate(obj.dtypes) if is_coded_text(dt)]
    ix = _plain_index(obj.index)
    if not cols and ix is obj.index:
        return obj
    out = obj.copy(deep=False)
    for i in cols:
        out.isetitem(i, _plain_series(obj.iloc[:, i]))
    if ix is not obj.index:
        out.index = ix
    return out


@dataclass
class BSCData:
    """A loaded, validated dataset: one canonical DataFrame per table of :data:`TABLES`.

    Every table is present (absent optional tables are empty frames with the right
    columns). Columns are in model order with the dtypes of :func:`pandas_dtype`;
    categorical codes are the English codes; missing values are NaN/NA.
    Tables are available as attributes: ``data.kpis``, ``data.kpi_results`` …

    Attributes
    ----------
    tables
        ``{table name: DataFrame}``.
    source
        The path the data was loaded from.
    input_hashes
        ``{file name: sha256}`` of the input files read.
    notices
        What the reader did on its own (:class:`~bsc_lib.errors.Problem` records that did not
        stop loading: merged cells filled, total/note/unit rows skipped, hidden columns read).
    """

    tables: dict[str, pd.DataFrame]
    source: str = ""
    input_hashes: dict[str, str] = field(default_factory=dict)
    notices: list = field(default_factory=list)

    def __getattr__(self, name: str) -> pd.DataFrame:
        tables = self.__dict__.get("tables", {})
        if name in tables:
            return tables[name]
        raise AttributeError(name)

    def plain(self, *names: str) -> BSCData:
        """The same data with the integer-coded text of tables ``names`` (default: all) as ``str``
        (:func:`plain_text`); the other tables are shared, not copied. ``self`` when none of
        them holds ``category`` text."""
        tables = {n: plain_text(t) if not names or n in names else t for n, t in self.tables.items()}
        if all(tables[n] is t for n, t in self.tables.items()):
            return self
        return BSCData(tables=tables, source=self.source, input_hashes=dict(self.input_hashes),
                       notices=list(self.notices))

    def counts(self) -> pd.DataFrame:
        """Rows per table: columns ``table``, ``table_ko``, ``rows``."""
        return pd.DataFrame(
            [{"table": n, "table_ko": TABLES[n].ko, "rows": len(self.tables[n])} for n in TABLES]
        )


def data_format_markdown() -> str:
    """The README's data-format section, generated from :data:`TABLES` (a test keeps them in sync)."""
    lines = []
    for t in TABLES.values():
        req = "required" if t.required else "optional"
        lines.append(f"#### `{t.name}` ({t.ko}) — {req}")
        lines.append("")
        lines.append(f"{t.description} Key: `{', '.join(t.key)}`.")
        lines.append("")
        lines.append("| column | 한국어 헤더 | type | required | meaning |")
        lines.append("|---|---|---|---|---|")
        for c in t.columns:
            need = "yes" if c.required and not c.nullable else ("blank ok" if c.required else "no")
            extra = ""
            if c.allowed:
                extra = " Codes: " + ", ".join(f"`{a}`" for a in c.allowed) + "."
            if c.fk:
                extra += " Must exist in " + " or ".join(f"`{f}`" for f in c.fk) + "."
            lines.append(f"| `{c.name}` | {c.ko} | {c.dtype} | {need} | {c.description}{extra} |")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
