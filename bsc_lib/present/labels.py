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


#: Sentences and interface strings, by where they are shown (``dashboard``, ``feedback``,
#: ``report``): key → ``{"ko": …, "en": …}``. With :data:`COLUMN_LABELS` this is the one ko/en
#: catalogue of the user text; :func:`ui_text` gives one section in one language.
UI_TEXT: dict[str, dict[str, dict[str, str]]] = {
    "dashboard": {
        "title": {"ko": "서울시 BSC 성과평가 대시보드", "en": "Seoul BSC evaluation dashboard"},
        "tab_overview": {"ko": "종합", "en": "Overview"},
        "tab_drill": {"ko": "기관·부서 상세", "en": "Drill-down"},
        "tab_difficulty": {"ko": "지표 난이도", "en": "Indicator difficulty"},
        "tab_dispersion": {"ko": "변별력", "en": "Dispersion"},
        "tab_whatif": {"ko": "가정 분석", "en": "What-if"},
        "tab_robustness": {"ko": "순위 안정성", "en": "Robustness"},
        "institutions": {"ko": "평가 기관", "en": "Institutions"},
        "departments": {"ko": "부서", "en": "Departments"},
        "kpis": {"ko": "성과지표", "en": "KPIs"},
        "share_achieved": {"ko": "지표 달성 비율", "en": "KPI results achieved"},
        "share_achieved_note": {"ko": "평가에 반영된 지표·반기 실적 중 달성(≥100%) 비율", "en": "share of the scored KPI results (KPI × half) achieved (≥ 100 %)"},
        "board_axis": {"ko": "막대 길이: {lo:.0f}점(최저 총점 − 5) ~ 100점 구간", "en": "Bars span {lo:.0f} (lowest total − 5) to 100 points"},
        "ranking_table": {"ko": "기관별 순위", "en": "Institutional ranking"},
        "rank": {"ko": "순위", "en": "Rank"},
        "rank_in_group": {"ko": "유형 내", "en": "In group"},
        "kpi": {"ko": "지표", "en": "KPI"},
        "group": {"ko": "유형", "en": "Group"},
        "all": {"ko": "전체", "en": "All"},
        "kpi_type": {"ko": "지표유형", "en": "KPI type"},
        "flag": {"ko": "난이도 판정", "en": "Difficulty flag"},
        "decomposition": {"ko": "총점은 이렇게 구성됩니다", "en": "How the total is made up"},
        "max_points": {"ko": "배점", "en": "Max"},
        "n_detail": {"ko": "세부 항목 수", "en": "Detail rows"},
        "departments_of": {"ko": "소속 부서", "en": "Departments"},
        "kpis_of": {"ko": "부서 성과지표", "en": "The department's KPIs"},
        "managers": {"ko": "관리자 (개인평가)", "en": "Managers (individual evaluation)"},
        "manager": {"ko": "관리자", "en": "Manager"},
        "no_managers": {"ko": "해당 관리자 없음", "en": "No manager recorded"},
        "names_hidden": {"ko": "개인 결과는 가명(대상자ID)으로 표시됩니다.", "en": "Individual results are shown under pseudonymous ids."},
        "names_shown": {"ko": "주의: 관리자 실명이 표시됩니다 (--show-names).", "en": "Note: managers' names are shown (--show-names)."},
        "half": {"ko": "반기", "en": "Half"},
        "target": {"ko": "목표", "en": "Target"},
        "actual": {"ko": "실적", "en": "Actual"},
        "rate": {"ko": "달성률", "en": "Rate"},
        "status": {"ko": "상태", "en": "Status"},
        "weight": {"ko": "가중치", "en": "Weight"},
        "polarity": {"ko": "극성", "en": "Polarity"},
        "engine_flags": {"ko": "확인사항", "en": "Flags"},
        "difficulty": {"ko": "난이도", "en": "Difficulty"},
        "gap": {"ko": "추세 대비 격차", "en": "Gap to trend"},
        "n_shown": {"ko": "선택된 지표 {n}개 (표는 쉬운 순 상위 {m}개)", "en": "{n} KPIs selected (table: the {m} easiest)"},
        "discrimination": {"ko": "평가요소별 변별력", "en": "Discrimination by component"},
        "n": {"ko": "대상 수", "en": "Units"},
        "n_distinct": {"ko": "서로 다른 점수 수", "en": "Distinct scores"},
        "cv": {"ko": "변동계수", "en": "CV"},
        "gini": {"ko": "지니계수", "en": "Gini"},
        "nominal_share": {"ko": "명목 비중", "en": "Nominal share"},
        "effective_share": {"ko": "실질 비중", "en": "Effective share"},
        "integrity": {"ko": "청렴도: 구 지표 대 청렴지수", "en": "Integrity: old indicator versus the new index"},
        "measure": {"ko": "지표", "en": "Measure"},
        "old": {"ko": "공무원 청렴도(구)", "en": "Old ACRC-derived score"},
        "new": {"ko": "청렴지수(신)", "en": "New integrity index"},
        "spearman": {"ko": "순위상관(스피어만)", "en": "Spearman rho"},
        "whatif_intro": {"ko": "배점·달성률 상한·등급 비율을 바꾸면 순위와 등급이 즉시 다시 계산됩니다 (평가엔진과 동일한 결과). 한 요소의 배점을 움직이면 나머지 요소가 현재 비율대로 나머지 점수를 나누어 합계 100점을 유지합니다.", "en": "Change the points, the achievement cap or the grade quotas: ranks and grades are recomputed at once (identical to the scoring engine). Moving one component's points shares the rest among the others in proportion to their current points, so the total stays 100."},
        "component_points": {"ko": "평가요소 배점 (합계 100)", "en": "Component points (sum 100)"},
        "cap": {"ko": "달성률 상한", "en": "Achievement cap"},
        "quotas": {"ko": "등급 비율 (%, 합계 100)", "en": "Grade quotas (%, sum 100)"},
        "reset": {"ko": "원래 배점으로", "en": "Reset to the scheme"},
        "changed_grades": {"ko": "등급이 바뀐 기관 {n}곳 (노란색), 순위가 바뀐 기관 {m}곳", "en": "{n} institutions change grade (highlighted), {m} change rank"},
        "base": {"ko": "기준", "en": "Scheme"},
        "new_total": {"ko": "가정 총점", "en": "What-if total"},
        "base_total": {"ko": "기준 총점", "en": "Scheme total"},
        "rank_change": {"ko": "순위 변동", "en": "Rank change"},
        "computed_in": {"ko": "계산 {ms:.0f} ms", "en": "computed in {ms:.0f} ms"},
        "robustness_intro": {"ko": "배점, 달성률 상한, 정성평가 평가위원이 조금씩 달랐다면 순위가 어디까지 움직일까요? 그럴듯한 조건 {n:,}가지로 다시 계산해 보면, 각 기관의 순위는 대부분(90%) 막대 구간 안에 머뭅니다. 구간이 짧을수록 순위가 안정적입니다.", "en": "How far could ranks move if the points, the achievement cap and the panel of raters had been slightly different? Recomputed under {n:,} plausible variations, each institution's rank stays within its bar nine times out of ten. The shorter the bar, the more stable the rank."},
        "robustness_method": {"ko": "방법: 배점은 현행 배점 주변에서 무작위 추출(디리클레 분포, 집중도 {conc:g}), 달성률 상한 {caps}, 정성평가는 평가위원 재표집 {boot}회, 난수 시드 {seed}.", "en": "Method: points drawn around the scheme's (Dirichlet, concentration {conc:g}), achievement cap {caps}, qualitative score with the raters resampled ({boot} replicates), seed {seed}."},
        "rank_interval": {"ko": "순위 5~95% 구간", "en": "Rank 5–95 %"},
        "nominal_rank": {"ko": "현재 순위", "en": "Rank"},
        "unstable": {"ko": "등급이 흔들리는 기관", "en": "Institutions whose grade is not stable"},
        "loading": {"ko": "계산 중…", "en": "Computing…"},
        "error_title": {"ko": "데이터를 불러올 수 없습니다", "en": "The data could not be loaded"},
        "error_hint": {"ko": "아래 문제를 고친 뒤 대시보드를 다시 시작하세요 (bsc validate 로 미리 확인할 수 있습니다).", "en": "Fix the problems below and restart the dashboard (bsc validate checks a dataset first)."},
        "unexpected": {"ko": "예기치 못한 오류가 발생했습니다", "en": "An unexpected error occurred"},
        "file": {"ko": "파일", "en": "File"},
        "row": {"ko": "행", "en": "Row"},
        "column": {"ko": "열", "en": "Column"},
        "rule": {"ko": "규칙", "en": "Rule"},
        "message": {"ko": "내용", "en": "Message"},
        "source": {"ko": "자료", "en": "Data"},
        "scheme": {"ko": "평가체계", "en": "Scheme"},
        "tie_hover": {"ko": "정확한 총점 {exact} · 가장 가까운 기관 {neighbour} · 차이 {gap}점", "en": "Exact total {exact} · nearest in the group {neighbour} · gap {gap} points"},
        "tie_note": {"ko": "≈ 표시: 같은 유형의 다른 기관과 총점 차이가 {tol:g}점 미만이거나 소수 둘째 자리까지 같은 기관 {n}곳 — 등급·순위를 가르는 차이가 매우 작습니다 (자릿수를 늘려 표시, 마우스를 올리면 정확한 값과 차이).", "en": "≈ marks {n} institutions whose total is within {tol:g} points of, or prints the same as, another in their group: the difference that separates their ranks and grades is tiny (shown with more decimals; hover for the exact totals and the gap)."},
        "busy_title": {"ko": "지금은 대시보드 이용자가 많습니다", "en": "The dashboard is busy right now"},
        "busy_body": {"ko": "동시에 볼 수 있는 화면 {n}개가 모두 사용 중입니다. 다른 화면이 닫히면 자리가 납니다. 이 페이지는 {s}초 뒤 자동으로 다시 시도합니다.", "en": "All {n} places for simultaneous viewers are in use; one frees up when another viewer closes the page. This page tries again by itself in {s} seconds."},
    },
    "feedback": {
        "title": {"ko": "{name} 성과평가 피드백", "en": "{name}: performance evaluation feedback"},
        "subtitle": {"ko": "{year}년 {period} · {scheme}", "en": "{year} {period} · {scheme}"},
        "summary": {"ko": "요약", "en": "Summary"},
        "total": {"ko": "총점", "en": "Total"},
        "grade": {"ko": "등급", "en": "Grade"},
        "rank_group": {"ko": "그룹 내 순위", "en": "Rank in group"},
        "rank_overall": {"ko": "전체 순위", "en": "Overall rank"},
        "group": {"ko": "평가 그룹", "en": "Group"},
        "institution": {"ko": "소속 기관", "en": "Institution"},
        "n_flags": {"ko": "확인필요 건수", "en": "Flags"},
        "components": {"ko": "평가요소별 점수", "en": "Points by component"},
        "component": {"ko": "평가요소", "en": "Component"},
        "points": {"ko": "점수", "en": "Points"},
        "max_points": {"ko": "배점", "en": "Max"},
        "share": {"ko": "득점률", "en": "Share"},
        "median": {"ko": "그룹 중앙값", "en": "Group median"},
        "vs_median": {"ko": "중앙값 대비", "en": "vs median"},
        "deductions": {"ko": "감점", "en": "Deductions"},
        "moves": {"ko": "등급을 움직이는 요인", "en": "What moves the grade"},
        "to_better": {"ko": "{grade} 등급까지 {points}점이 더 필요합니다.", "en": "{points} more points reach grade {grade}."},
        "top_grade": {"ko": "그룹 내 최상위 등급({grade})입니다.", "en": "Top grade of the group ({grade})."},
        "to_worse": {"ko": "{points}점보다 많이 잃으면 {grade} 등급으로 내려갑니다.", "en": "Losing more than {points} points drops it to grade {grade}."},
        "to_worse_zero": {"ko": "점수를 조금이라도 잃으면 {grade} 등급으로 내려갑니다.", "en": "Losing any points drops it to grade {grade}."},
        "bottom_grade": {"ko": "그룹 내 최하위 등급({grade})입니다.", "en": "Bottom grade of the group ({grade})."},
        "no_grade": {"ko": "등급이 없습니다.", "en": "No grade."},
        "boundary_note": {"ko": "다른 평가대상의 점수가 그대로일 때의 거리입니다.", "en": "Distances assume the other units' totals stay as they are."},
        "losses": {"ko": "그룹 중앙값보다 가장 많이 뒤처진 평가요소", "en": "Components furthest below the group median"},
        "loss_item": {"ko": "{component}: 중앙값보다 {points}점 낮음", "en": "{component}: {points} points below the median"},
        "no_losses": {"ko": "모든 평가요소가 그룹 중앙값 이상입니다.", "en": "Every component is at or above the group median."},
        "kpis": {"ko": "성과지표", "en": "Key performance indicators"},
        "kpi": {"ko": "지표", "en": "KPI"},
        "owner": {"ko": "소관", "en": "Owner"},
        "unit": {"ko": "단위", "en": "Unit"},
        "weight": {"ko": "가중치", "en": "Weight"},
        "half": {"ko": "반기", "en": "Half"},
        "target": {"ko": "목표", "en": "Target"},
        "actual": {"ko": "실적", "en": "Actual"},
        "rate": {"ko": "달성률", "en": "Rate"},
        "status": {"ko": "상태", "en": "Status"},
        "kpi_points": {"ko": "반영 점수", "en": "Points"},
        "history": {"ko": "추이({first}–{last}, ◆ {year} 목표)", "en": "Trend ({first}–{last}, ◆ {year} target)"},
        "difficulty": {"ko": "목표 난이도", "en": "Target difficulty"},
        "no_kpis": {"ko": "성과지표가 없습니다.", "en": "No KPIs."},
        "difficulty_title": {"ko": "목표 난이도 점검", "en": "Target difficulty check"},
        "difficulty_summary": {"ko": "성과지표 {n}개 중 쉬운 목표 {easy}개, 후퇴 목표 {regressive}개, 상습 초과달성 {chronic}개, 도전적 목표 {hard}개.", "en": "Of {n} KPIs: {easy} easy, {regressive} regressive, {chronic} chronic over-achiever, {hard} demanding target(s)."},
        "difficulty_note": {"ko": "쉬운 목표: 과거 추세 예측치보다 낮은 목표. 후퇴 목표: 직전 실적보다 낮은 목표. 상습 초과달성: 모든 기간에 목표를 달성한 지표.", "en": "Easy: target below the KPI's own trend forecast. Regressive: target worse than the last actual. Chronic over-achiever: target met in every period."},
        "flags": {"ko": "확인이 필요한 사항", "en": "Flags to check"},
        "no_flags": {"ko": "확인이 필요한 사항이 없습니다.", "en": "Nothing to check."},
        "flag_unit": {"ko": "대상", "en": "Unit"},
        "flag": {"ko": "내용", "en": "Flag"},
        "item": {"ko": "항목", "en": "Item"},
        "detail": {"ko": "설명", "en": "Detail"},
        "severity": {"ko": "구분", "en": "Severity"},
        "warning": {"ko": "경고", "en": "Warning"},
        "info": {"ko": "참고", "en": "Info"},
        "footer": {"ko": "자료 해시 {hash} · 평가체계 {scheme_id} · bsc-workbench 피드백 보고서", "en": "Data hash {hash} · scheme {scheme_id} · bsc-workbench feedback report"},
        "group_all_inst": {"ko": "전체 기관", "en": "All institutions"},
        "group_all_dept": {"ko": "전체 부서", "en": "All departments"},
        "index_title": {"ko": "{year}년 {period} {level} 피드백 보고서", "en": "{year} {period} feedback reports by {level}"},
        "level_institution": {"ko": "기관별", "en": "institution"},
        "level_department": {"ko": "부서별", "en": "department"},
        "index_count": {"ko": "{n}개 보고서", "en": "{n} reports"},
        "report": {"ko": "보고서", "en": "Report"},
        "name": {"ko": "명칭", "en": "Name"},
        "rank": {"ko": "순위", "en": "Rank"},
    },
    "report": {
        "toc": {"ko": "목차", "en": "Contents"},
        "fig_error": {"ko": "그림을 그릴 수 없습니다", "en": "The figure could not be drawn"},
    },
}


def ui_text(section: str, lang: str = "ko") -> dict[str, str]:
    """The strings of one :data:`UI_TEXT` section in ``lang`` (English where a Korean one is missing)."""
    return {k: v.get(lang, v.get("en", k)) for k, v in UI_TEXT[section].items()}
