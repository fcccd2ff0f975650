"""User-facing labels: Korean by default, English on request.

``COLUMN_LABELS`` maps identifiers (column names, codes, titles) to ``{"ko": …, "en": …}``;
:func:`label` looks one up and falls back to the identifier itself. Model columns get
their Korean header from :mod:`bsc_lib.data.model` automatically.
"""

from __future__ import annotations

from bsc_lib.data.model import TABLES

COLUMN_LABELS: dict[str, dict[str, str]] = {
    # codes
    "main_office": {"ko": "본청", "en": "Main office"},
    "business_office": {"ko": "사업소", "en": "Business office"},
    "independent": {"ko": "독립기관", "en": "Independent body"},
    "institutional": {"ko": "기관평가", "en": "Institutional"},
    "individual": {"ko": "개인평가", "en": "Individual"},
    "department": {"ko": "부서", "en": "Department"},
    "institution": {"ko": "기관", "en": "Institution"},
    "achieved": {"ko": "달성", "en": "Achieved"},
    "caution": {"ko": "주의", "en": "Caution"},
    "missed": {"ko": "미달", "en": "Missed"},
    "core": {"ko": "핵심과제", "en": "Core task"},
    "general": {"ko": "일반과제", "en": "General task"},
    "covered": {"ko": "연계됨", "en": "Covered"},
    "uncovered": {"ko": "미연계", "en": "Not covered"},
    "H1": {"ko": "상반기", "en": "First half"},
    "H2": {"ko": "하반기", "en": "Second half"},
    "half_year": {"ko": "연간", "en": "Whole year"},
    # components
    "pre_evaluation": {"ko": "사전평가", "en": "Pre-evaluation"},
    "achievement": {"ko": "달성도평가", "en": "Achievement"},
    "qualitative": {"ko": "정성평가", "en": "Qualitative"},
    "evaluator": {"ko": "평가자 점수", "en": "Evaluator score"},
    "cooperation": {"ko": "대내·외 협력평가", "en": "Cooperation"},
    "organisation": {"ko": "조직관리", "en": "Organisation management"},
    "deductions": {"ko": "감점", "en": "Deductions"},
    # result columns
    "institutions": {"ko": "기관 수", "en": "Institutions"},
    "departments": {"ko": "부서 수", "en": "Departments"},
    "projects": {"ko": "주요사업 수", "en": "Major projects"},
    "core_projects": {"ko": "핵심사업 수", "en": "Core projects"},
    "kpis": {"ko": "성과지표 수", "en": "KPIs"},
    "count": {"ko": "개수", "en": "Count"},
    "who": {"ko": "담당", "en": "Responsible"},
    "n_projects": {"ko": "연계 사업 수", "en": "Projects"},
    "total": {"ko": "총점", "en": "Total"},
    "grade": {"ko": "등급", "en": "Grade"},
    "rank_in_group": {"ko": "유형 내 순위", "en": "Rank in group"},
    "rank_overall": {"ko": "전체 순위", "en": "Overall rank"},
    "points": {"ko": "점수", "en": "Points"},
    "max_points": {"ko": "배점", "en": "Max points"},
    "component": {"ko": "평가요소", "en": "Component"},
    "unit_id": {"ko": "평가대상ID", "en": "Unit id"},
    "evaluation": {"ko": "평가구분", "en": "Evaluation"},
    "rate": {"ko": "달성률", "en": "Achievement rate"},
    "capped_rate": {"ko": "달성률(상한적용)", "en": "Capped rate"},
    "status": {"ko": "달성상태", "en": "Status"},
    "flag": {"ko": "비고", "en": "Flag"},
    "baseline": {"ko": "기준치", "en": "Baseline"},
    "position_grade": {"ko": "직급", "en": "Position grade"},
    "n_flags": {"ko": "확인필요 건수", "en": "Flags"},
    "index": {"ko": "청렴지수", "en": "Integrity index"},
    # difficulty
    "easy": {"ko": "쉬운 목표", "en": "Easy target"},
    "hard": {"ko": "도전적 목표", "en": "Demanding target"},
    "normal": {"ko": "보통", "en": "Normal"},
    "trend_forecast": {"ko": "추세 예측치", "en": "Trend forecast"},
    "target_equals_trend": {"ko": "목표 = 추세", "en": "Target = trend"},
    "gap": {"ko": "추세 대비 목표 격차", "en": "Gap to trend"},
    "easy_threshold": {"ko": "쉬운 목표 기준", "en": "Easy threshold"},
    "weight_on_easy": {"ko": "쉬운 지표 가중치 비중", "en": "Weight on easy KPIs"},
    "weight_on_hard": {"ko": "도전적 지표 가중치 비중", "en": "Weight on demanding KPIs"},
    "share_easy": {"ko": "쉬운 지표 비율", "en": "Share of easy KPIs"},
    "challenge_z": {"ko": "도전성 z", "en": "Challenge z"},
    "n_history": {"ko": "이력 연수", "en": "History years"},
    "regressive": {"ko": "후퇴 목표", "en": "Regressive"},
    "chronic_overachiever": {"ko": "상습 초과달성", "en": "Chronic over-achiever"},
    "no_history": {"ko": "이력 없음", "en": "No history"},
    "name_ko": {"ko": "명칭", "en": "Name (ko)"},
    "institution_ko": {"ko": "소속 기관", "en": "Institution"},
    "owner_id": {"ko": "소관ID", "en": "Owner"},
    "title_target_vs_trend": {"ko": "목표치와 과거 추세 예측치 (로그 축)", "en": "Target against the trend forecast (log axes)"},
    "title_gap_histogram": {"ko": "추세 대비 목표 격차 분포", "en": "Distribution of the gap between target and trend"},
    "title_unit_easy": {"ko": "쉬운 목표에 가중치를 많이 둔 부서", "en": "Units placing most weight on easy targets"},
    # scores, dispersion, reliability, robustness
    "largest_tie_share": {"ko": "최다 동점 비율", "en": "Largest tie share"},
    "cv": {"ko": "변동계수", "en": "Coefficient of variation"},
    "nominal_share": {"ko": "명목 배점 비중", "en": "Nominal share"},
    "effective_share": {"ko": "실질 영향 비중(분산)", "en": "Effective share (variance)"},
    "acrc_score": {"ko": "공무원 청렴도(구, 권익위 환산)", "en": "Old ACRC-derived score"},
    "integrity_index": {"ko": "청렴지수(신)", "en": "New integrity index"},
    "mean_deviation": {"ko": "다른 평가자 대비 평균 편차(점)", "en": "Mean deviation from the other raters (points)"},
    "median_rank": {"ko": "순위 중앙값 (5~95% 구간)", "en": "Median rank (5–95 % interval)"},
    "bureau_self": {"ko": "실·본부·국 자체", "en": "Bureau self"},
    "planning_office": {"ko": "기획조정실", "en": "Planning office"},
    "expert": {"ko": "전문가", "en": "Experts"},
    "title_institutional_ranking": {"ko": "기관유형별 종합점수와 등급", "en": "Institutional totals and grades by group"},
    "title_component_stack": {"ko": "평가요소별 점수 구성", "en": "Points by component"},
    "title_grade_distribution": {"ko": "등급 분포", "en": "Grade distribution"},
    "title_kpi_status": {"ko": "성과지표 달성 상태", "en": "KPI status"},
    "title_total_histogram": {"ko": "종합점수 분포", "en": "Distribution of totals"},
    "title_tie_share": {"ko": "평가요소별 변별력: 최다 동점 비율과 변동계수", "en": "Discrimination by component: largest tie share and CV"},
    "title_effective_weights": {"ko": "명목 배점과 실질 영향력", "en": "Nominal versus effective weight"},
    "title_integrity_old_new": {"ko": "청렴도 지표: 구(권익위 환산) 대 신(청렴지수)", "en": "Integrity: old ACRC-derived score versus the new index"},
    "title_leniency": {"ko": "평가자별 관대화·엄격화 경향 (95% 신뢰구간)", "en": "Rater leniency and severity (95 % CI)"},
    "title_rank_intervals": {"ko": "순위의 불확실성: 몬테카를로 5~95% 순위 구간", "en": "Rank uncertainty: Monte Carlo 5–95 % rank intervals"},
    "title_sobol": {"ko": "순위 변동의 원인: Sobol 민감도 지수", "en": "What moves the ranking: Sobol sensitivity indices"},
    # dashboard (bsc_lib.present.dashboard)
    "up": {"ko": "상향", "en": "Up"},
    "down": {"ko": "하향", "en": "Down"},
    "band": {"ko": "목표구간", "en": "Band"},
    "input": {"ko": "투입", "en": "Input"},
    "process": {"ko": "과정", "en": "Process"},
    "output": {"ko": "산출", "en": "Output"},
    "outcome": {"ko": "결과", "en": "Outcome"},
    "series_actual": {"ko": "실적", "en": "Actual"},
    "series_target": {"ko": "목표", "en": "Target"},
    "title_explain": {"ko": "총점 구성", "en": "How the total is made up"},
    "title_kpi_history": {"ko": "지표 실적 추이와 목표", "en": "KPI actuals over time and targets"},
    # titles
    "title_counts_by_type": {"ko": "기관유형별 평가대상 규모", "en": "Evaluated units by institution type"},
    "title_schedule": {"ko": "연간 성과관리 추진일정", "en": "The yearly evaluation cycle"},
    "title_strategy_map": {"ko": "전략맵: 기관 → 전략목표 → 성과목표 → 주요사업 (지표 수)",
                           "en": "Strategy map: institution → strategic goal → performance goal → project (KPIs)"},
    "title_task_coverage": {"ko": "시정 4개년 계획 과제별 연계 사업 수", "en": "Projects per four-year-plan task"},
}


def _model_labels() -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for t in TABLES.values():
        out.setdefault(t.name, {"ko": t.ko, "en": t.name})
        for c in t.columns:
            out.setdefault(c.name, {"ko": c.ko, "en": c.name})
    return out


def _module_labels() -> dict[str, dict[str, str]]:
    """Labels kept next to the code that defines the identifiers (flags, difficulty columns)."""
    from bsc_lib.analyses.difficulty import DIFFICULTY_LABELS
    from bsc_lib.scoring.components import FLAG_LABELS

    return {**FLAG_LABELS, **DIFFICULTY_LABELS}


COLUMN_LABELS.update({
    "n_kpis": {"ko": "지표 수", "en": "KPIs"},
    "n_easy": {"ko": "쉬운 지표 수", "en": "Easy KPIs"},
    "mean_gap": {"ko": "평균 격차", "en": "Mean gap"},
    "weighted_gap": {"ko": "가중 평균 격차", "en": "Weighted gap"},
    "share_output": {"ko": "산출지표 비율", "en": "Output share"},
    "share_outcome": {"ko": "결과지표 비율", "en": "Outcome share"},
    "share_input": {"ko": "투입지표 비율", "en": "Input share"},
    "share_process": {"ko": "과정지표 비율", "en": "Process share"},
    "p_grade_change": {"ko": "등급 변동 확률", "en": "P(grade change)"},
    "nominal_rank": {"ko": "실제 순위", "en": "Nominal rank"},
    "nominal_total": {"ko": "실제 총점", "en": "Nominal total"},
    "nominal_grade": {"ko": "실제 등급", "en": "Nominal grade"},
    "rank_p05": {"ko": "순위 5%", "en": "Rank p5"},
    "rank_p95": {"ko": "순위 95%", "en": "Rank p95"},
    "setting": {"ko": "설정", "en": "Setting"},
    "value": {"ko": "값", "en": "Value"},
    "severity": {"ko": "중요도", "en": "Severity"},
    "detail": {"ko": "내용", "en": "Detail"},
    "item": {"ko": "항목", "en": "Item"},
})

_ALL = {**_model_labels(), **_module_labels(), **COLUMN_LABELS}


def label(key: str, lang: str = "ko") -> str:
    """The label of ``key`` in ``lang`` ("ko" or "en"); the key itself when unknown."""
    entry = _ALL.get(str(key))
    if entry is None:
        return str(key)
    return entry.get(lang, entry.get("en", str(key)))


def relabel_columns(columns, lang: str = "ko") -> list[str]:
    """Labels for a list of column names (for displayed and exported tables)."""
    return [label(c, lang) for c in columns]


def period_label(half: str, lang: str = "ko") -> str:
    """Label of an evaluation period: ``H1`` 상반기, ``H2`` 하반기, ``year`` 연간."""
    return label("half_year" if half == "year" else half, lang)
