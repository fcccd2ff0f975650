"""Synthetic Seoul-style BSC dataset with planted, documented effects (the embedded sample).

Everything here is invented: institutions and departments carry real-sounding Seoul
names, but every number, person and rating is generated from a seeded random model.
The generator plants effects an analysis should find (easy targets, a lenient and a
harsh expert, gaming departments, a non-discriminating ACRC score, unmapped plan
tasks …); :func:`planted` returns that ground truth, computed by the *same* generation
run as :func:`generate` (both call one private builder).

Proportions follow the 2019 plan (spec §1, §3, §5): 45 institutions (30 main office,
13 business offices, 2 independent), 248 departments, 450 major projects, 697 KPIs
(90 institution-level, 607 department-level), 1 vision, 5 goals, 25 core and 151 general
plan tasks, 199 of 248 departments tied on the old ACRC score. ``scale`` multiplies
the counts of institutions, departments, projects and KPIs (and the rows that hang
off them); rater panels stay the same size per rated unit.

Design choices the spec leaves open (documented in ``data/sample/README.md``):

* Difficulty is planted against the OLS linear-trend forecast ``F`` of the evaluation
  year fitted on the KPI's own generated (rounded) history: normal targets have the
  polarity-signed gap ``g`` in [0.03, 0.15], easy ones in [−0.12, −0.04]. Rounding of
  the target is accounted for, so the ranges hold exactly for the written values.
* No normal or non-regressive easy target is worse than the last history actual;
  regressive targets are strictly worse.
* H1 targets: level units (%, 점, 일, band KPIs) carry the annual target; cumulative
  units (건, 명, 억원, 개소) carry 45–55 % of it. The H2 row holds the whole year
  (annual target, actual cumulated to December).
* A row with a missing H2 actual also has ``verified = false`` (nothing to verify);
  ``unverified_kpis`` lists only rows *with* an actual that failed verification.

Only :func:`write_sample` does file I/O.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import numpy as np
import pandas as pd

from bsc_lib.config.scheme import Scheme, default_scheme_path, load_scheme
from bsc_lib.data.model import TABLES, BSCData, pandas_dtype
from bsc_lib.scoring import grading

log = logging.getLogger(__name__)

DEFAULT_YEAR = 2019
DEFAULT_SEED = 20190201

#: Difficulty bands of the plant (polarity-signed gap to the trend forecast).
NORMAL_GAP = (0.03, 0.15)
EASY_GAP = (-0.12, -0.04)
#: Planted rater offsets (qualitative scale points).
LENIENT_OFFSET = 8.0
HARSH_OFFSET = -8.0
BUREAU_SELF_OFFSET = 5.0
#: The tied value of the old ACRC-derived integrity score.
ACRC_TIED_VALUE = 85.3

# ---------------------------------------------------------------------------------------
# Name material. Institutions: type | Korean | English | theme (short Korean stem used in
# goal, project and KPI names) | departments "Korean:English" separated by ";".
# At scale 1 the department pools are used exactly (they sum to 248).
# ---------------------------------------------------------------------------------------
_INSTITUTION_SPEC = """
main|기획조정실|Planning and Coordination Office|시정기획|기획담당관:Planning Division;조직담당관:Organisation Division;평가협업담당관:Evaluation and Collaboration Division;예산담당관:Budget Division;재정관리담당관:Fiscal Management Division;법무담당관:Legal Affairs Division;공기업담당관:Public Enterprise Division;대외협력과:External Relations Division;국제협력과:International Cooperation Division;규제개혁담당관:Regulatory Reform Division;인권담당관:Human Rights Division
main|경제정책실|Economic Policy Office|민생경제|경제정책과:Economic Policy Division;소상공인정책담당관:Small Business Policy Division;공정경제과:Fair Economy Division;투자창업과:Investment and Start-up Division;산업정책과:Industrial Policy Division;일자리정책과:Job Policy Division;도시농업과:Urban Agriculture Division;민생경제과:Livelihood Economy Division;생활경제과:Living Economy Division;신성장산업과:New Growth Industries Division;소상공인지원과:Small Business Support Division;도시제조업지원과:Urban Manufacturing Support Division;경제협력과:Economic Cooperation Division
main|복지정책실|Welfare Policy Office|복지|복지정책과:Welfare Policy Division;지역돌봄복지과:Community Care Division;자활지원과:Self-Sufficiency Support Division;장애인복지정책과:Disability Welfare Policy Division;장애인자립지원과:Independent Living Support Division;어르신복지과:Senior Welfare Division;인생이모작지원과:Second Career Support Division;희망복지지원과:Hope Welfare Support Division;복지시설과:Welfare Facilities Division;기초생활보장과:Basic Livelihood Security Division;장애인시설과:Disability Facilities Division
main|도시교통실|Urban Transportation Office|교통|교통정책과:Transport Policy Division;보행정책과:Pedestrian Policy Division;자전거정책과:Cycling Policy Division;교통운영과:Traffic Operations Division;버스정책과:Bus Policy Division;택시물류과:Taxi and Logistics Division;주차계획과:Parking Planning Division;교통기획과:Transport Planning Division;도시철도과:Urban Railway Division;교통정보과:Traffic Information Division;교통지도과:Traffic Enforcement Division;교통안전과:Traffic Safety Division;대중교통과:Public Transit Division
main|여성가족정책실|Women and Family Policy Office|여성가족|여성정책담당관:Women's Policy Division;여성권익담당관:Women's Rights Division;가족담당관:Family Division;보육담당관:Childcare Division;아동담당관:Child Welfare Division;청소년담당관:Youth Division;외국인다문화담당관:Foreign Residents and Multicultural Division;저출산대책과:Low Fertility Response Division;아이돌봄과:Child Care Services Division
main|안전총괄실|Safety Management Office|도시안전|안전총괄과:Safety Management Division;안전지원과:Safety Support Division;도로관리과:Road Management Division;도로계획과:Road Planning Division;시설안전과:Facility Safety Division;교량안전과:Bridge Safety Division;보도환경개선과:Sidewalk Improvement Division;재난대응과:Disaster Response Division;도시철도안전과:Metro Safety Division
main|도시재생실|Urban Regeneration Office|도시재생|재생정책과:Regeneration Policy Division;재생지원과:Regeneration Support Division;주거재생과:Residential Regeneration Division;역사도심재생과:Historic Downtown Regeneration Division;공공재생과:Public Regeneration Division;도시활성화과:Urban Revitalisation Division;재생협력과:Regeneration Partnership Division
main|행정국|Administration Bureau|행정|총무과:General Affairs Division;인사과:Personnel Division;자치행정과:Local Autonomy Division;정보공개정책과:Information Disclosure Policy Division;행정정보과:Administrative Information Division;후생복지과:Staff Welfare Division;기록관리과:Records Management Division
main|재무국|Finance Bureau|재무|재무과:Finance Division;세무과:Tax Division;세제과:Tax Policy Division;38세금징수과:Tax Collection Division 38;계약심사과:Contract Review Division;자산관리과:Asset Management Division;회계과:Accounting Division
main|평생교육국|Lifelong Education Bureau|평생교육|평생교육정책과:Lifelong Education Policy Division;교육협력과:Education Cooperation Division;학교지원과:School Support Division;친환경급식과:Eco-friendly School Meals Division
main|관광체육국|Tourism and Sports Bureau|관광체육|관광정책과:Tourism Policy Division;관광산업과:Tourism Industry Division;체육정책과:Sports Policy Division;체육진흥과:Sports Promotion Division;전국체전기획과:National Sports Festival Planning Division;관광마케팅과:Tourism Marketing Division
main|도시계획국|Urban Planning Bureau|도시계획|도시계획과:Urban Planning Division;시설계획과:Facility Planning Division;도시관리과:Urban Management Division;토지관리과:Land Management Division;공간정보담당관:Spatial Information Division;도시계획상임기획과:Planning Committee Division;지구단위계획과:District Unit Planning Division
main|주택건축본부|Housing and Architecture Headquarters|주거|주택정책과:Housing Policy Division;공공주택과:Public Housing Division;주거사업과:Housing Projects Division;공동주택과:Apartment Housing Division;건축기획과:Architecture Planning Division;주거환경과:Residential Environment Division;임대주택과:Rental Housing Division;건축안전과:Building Safety Division
main|기후환경본부|Climate and Environment Headquarters|기후환경|환경정책과:Environmental Policy Division;기후변화정책과:Climate Change Policy Division;대기정책과:Air Quality Policy Division;차량공해저감과:Vehicle Emission Reduction Division;친환경에너지과:Green Energy Division;에너지시민협력과:Energy Citizen Cooperation Division;자원순환과:Resource Circulation Division;생활환경과:Living Environment Division;환경협력과:Environmental Cooperation Division;미세먼지대응과:Fine Dust Response Division
main|문화본부|Culture Headquarters|문화|문화정책과:Cultural Policy Division;문화예술과:Culture and Arts Division;박물관과:Museums Division;역사문화재과:Historic Heritage Division;디자인정책과:Design Policy Division;문화시설과:Cultural Facilities Division;문화예술교육과:Arts Education Division;문화도시과:Cultural City Division
main|물순환안전국|Water Circulation Safety Bureau|물순환|물순환정책과:Water Circulation Policy Division;하천관리과:River Management Division;치수안전과:Flood Control Division;물재생계획과:Water Reclamation Planning Division;물재생시설과:Water Reclamation Facilities Division;생활하수과:Sewerage Division;물순환협력과:Water Partnership Division
main|푸른도시국|Green City Bureau|공원녹지|조경과:Landscape Division;공원조성과:Park Construction Division;산지방재과:Forest Disaster Prevention Division;자연생태과:Natural Ecology Division;공원녹지정책과:Parks and Green Space Policy Division;산림휴양과:Forest Recreation Division;도시숲과:Urban Forest Division
main|시민건강국|Public Health Bureau|시민건강|보건의료정책과:Health Care Policy Division;건강증진과:Health Promotion Division;식품정책과:Food Policy Division;생활보건과:Community Health Division;감염병관리과:Infectious Disease Control Division;동물보호과:Animal Welfare Division;식품안전과:Food Safety Division
main|균형발전본부|Balanced Development Headquarters|균형발전|균형발전정책과:Balanced Development Policy Division;동남권사업과:Southeast Area Projects Division;서남권사업과:Southwest Area Projects Division;도심권사업과:Downtown Projects Division;동북권사업과:Northeast Area Projects Division;서북권사업과:Northwest Area Projects Division;강북권개발과:Gangbuk Development Division;역세권사업과:Station-Area Projects Division
main|시민소통기획관|Citizen Communication Office|시민소통|시민소통담당관:Citizen Communication Division;뉴미디어담당관:New Media Division;민원담당관:Civil Petitions Division;응답소운영과:Eungdapso Operations Division;여론분석담당관:Opinion Analysis Division
main|서울혁신기획관|Seoul Innovation Office|사회혁신|사회혁신담당관:Social Innovation Division;협치담당관:Governance Division;마을공동체담당관:Village Community Division;사회적경제담당관:Social Economy Division;마을자치과:Village Autonomy Division;사회혁신사업과:Social Innovation Projects Division
main|정보기획관|Information Planning Office|정보화|정보기획담당관:Information Planning Division;빅데이터담당관:Big Data Division;정보통신보안담당관:ICT Security Division;스마트도시담당관:Smart City Division;정보시스템담당관:Information Systems Division;데이터센터운영과:Data Centre Operations Division
main|민생사법경찰단|Special Judicial Police Bureau|민생수사|수사지원과:Investigation Support Division;민생수사1반:Investigation Unit 1;민생수사2반:Investigation Unit 2;민생수사3반:Investigation Unit 3
main|노동민생정책관|Labour and Livelihood Policy Office|노동|노동정책담당관:Labour Policy Division;노동권익담당관:Labour Rights Division;노동협력담당관:Labour Cooperation Division;청년일자리과:Youth Employment Division;일자리창출과:Job Creation Division
main|비상기획관|Emergency Planning Office|비상대비|비상대비과:Emergency Preparedness Division;민방위담당관:Civil Defence Division;통합방위과:Integrated Defence Division
main|대변인|Office of the Spokesperson|시정홍보|언론담당관:Press Division;홍보기획담당관:Public Relations Planning Division;영상홍보담당관:Video Communications Division
main|도시공간개선단|Urban Space Improvement Group|도시공간|도시공간개선과:Urban Space Improvement Division;공공개발과:Public Development Division;공공공간기획과:Public Space Planning Division
main|서울청년청|Seoul Youth Office|청년|청년정책담당관:Youth Policy Division;청년사업담당관:Youth Projects Division
main|서울민주주의위원회|Seoul Democracy Committee|시민참여|민주주의기획담당관:Democracy Planning Division;시민숙의예산담당관:Participatory Budget Division
main|건설기술정책관|Construction Technology Policy Office|건설기술|건설혁신과:Construction Innovation Division;기술심사담당관:Technical Review Division;공사관리과:Construction Management Division;품질관리과:Quality Control Division
business_office|상수도사업본부|Waterworks Headquarters|상수도|경영지원과:Business Support Division;요금관리과:Water Rates Division;급수부:Water Supply Department;생산부:Water Production Department;수질연구소:Water Quality Research Institute
business_office|소방재난본부|Fire and Disaster Headquarters|소방|소방행정과:Fire Administration Division;예방과:Fire Prevention Division;119재난대응과:119 Disaster Response Division;구조구급과:Rescue and EMS Division;종합방재센터:Integrated Disaster Control Centre
business_office|도시기반시설본부|Infrastructure Headquarters|기반시설|관리부:Administration Department;토목부:Civil Works Department;건축부:Building Department;기전부:Mechanical and Electrical Department;도시철도부:Urban Railway Department
business_office|한강사업본부|Hangang Park Headquarters|한강|총무부:General Affairs Department;운영부:Operations Department;시설부:Facilities Department
business_office|서울대공원|Seoul Grand Park|대공원|관리과:Administration Division;동물원:Zoo Department;조경과:Landscape Division
business_office|인재개발원|Human Resources Development Centre|인재개발|인재기획과:HR Planning Division;교육운영과:Training Operations Division;역량개발과:Capacity Development Division
business_office|보건환경연구원|Health and Environment Research Institute|보건환경연구|연구기획과:Research Planning Division;식약품부:Food and Drug Department;환경보건부:Environmental Health Department
business_office|서울시립미술관|Seoul Museum of Art|미술관|운영부:Operations Department;학예부:Curatorial Department
business_office|서울역사박물관|Seoul Museum of History|역사박물관|관리과:Administration Division;유물관리과:Collections Division;전시과:Exhibitions Division
business_office|서울도서관|Seoul Metropolitan Library|도서관|도서관정책과:Library Policy Division;정보서비스과:Information Services Division
business_office|농업기술센터|Agricultural Technology Centre|도시농업|농업지원과:Agricultural Support Division;농업기술과:Agricultural Technology Division
business_office|어린이병원|Seoul Children's Hospital|어린이진료|행정지원과:Administrative Support Division;진료부:Medical Department
business_office|서북병원|Seobuk Hospital|공공의료|행정지원과:Administrative Support Division;진료부:Medical Department
independent|감사위원회|Audit Committee|감사|감사담당관:Audit Division;조사담당관:Investigation Division;청렴담당관:Integrity Division;민원조사담당관:Complaint Investigation Division
independent|시민감사옴부즈만위원회|Citizen Audit Ombudsman Committee|옴부즈만|옴부즈만지원담당관:Ombudsman Support Division;시민감사담당관:Citizen Audit Division
"""

_VISION = ("내 삶이 행복한 서울, 시민이 주인인 서울", "Seoul where my life is happy and citizens are in charge")
_GOALS = (
    ("미래 서울", "Future Seoul"),
    ("안전 서울", "Safe Seoul"),
    ("복지 서울", "Welfare Seoul"),
    ("균형 서울", "Balanced Seoul"),
    ("민주 서울", "Democratic Seoul"),
)
_CORE_TASKS = (
    (("스마트시티 조성", "Build a smart city"), ("혁신성장 산업 육성", "Foster innovation-led industries"),
     ("청년 일자리 창출", "Create jobs for young people"), ("서울형 창업 생태계 조성", "Build a start-up ecosystem"),
     ("글로벌 관광도시 도약", "Become a global tourism city")),
    (("미세먼지 저감", "Cut fine dust"), ("생활안전 강화", "Strengthen everyday safety"),
     ("재난 대응체계 고도화", "Upgrade disaster response"), ("안전한 먹거리 보장", "Guarantee safe food"),
     ("교통안전 강화", "Improve road safety")),
    (("서울형 돌봄체계 구축", "Build the Seoul care system"), ("공공보육 확대", "Expand public childcare"),
     ("어르신 복지 강화", "Strengthen senior welfare"), ("공공주택 확충", "Expand public housing"),
     ("시민 건강 증진", "Improve citizens' health")),
    (("지역균형발전 추진", "Pursue balanced regional development"), ("도시재생 확산", "Spread urban regeneration"),
     ("강북 교통인프라 확충", "Expand Gangbuk transport infrastructure"), ("보행친화도시 조성", "Build a walkable city"),
     ("공정경제 실현", "Realise a fair economy")),
    (("시민참여 확대", "Expand citizen participation"), ("협치 행정 정착", "Embed collaborative governance"),
     ("노동존중 도시", "A city that respects labour"), ("성평등 도시 실현", "Realise a gender-equal city"),
     ("인권도시 구현", "Become a human-rights city")),
)
_GENERAL_TOPICS = (
    (("공공 빅데이터", "public big data"), ("핀테크 산업", "the fintech industry"),
     ("바이오·의료 산업", "the bio-medical industry"), ("사회적경제 기업", "social-economy enterprises"),
     ("도시제조업", "urban manufacturing"), ("창업 지원 공간", "start-up spaces"),
     ("관광 콘텐츠", "tourism content"), ("문화예술 향유", "access to the arts"),
     ("평생학습", "lifelong learning"), ("청년 활동", "youth activities"),
     ("공공 와이파이", "public Wi-Fi"), ("전기차 보급", "electric-vehicle uptake")),
    (("노후 기반시설 안전", "ageing-infrastructure safety"), ("지하철 안전", "metro safety"),
     ("하천 홍수 예방", "flood prevention"), ("화재 예방", "fire prevention"),
     ("식품 위생", "food hygiene"), ("감염병 대응", "infectious-disease response"),
     ("어린이 보호구역", "school zones"), ("보행자 안전", "pedestrian safety"),
     ("건축물 안전", "building safety"), ("대기질 관리", "air-quality management"),
     ("먹는 물 수질", "drinking-water quality"), ("생활 방범", "crime prevention")),
    (("찾아가는 동주민센터", "outreach community centres"), ("국공립 어린이집", "public daycare centres"),
     ("장애인 자립", "independent living for disabled people"), ("치매 관리", "dementia care"),
     ("저소득층 자활", "self-sufficiency of low-income households"), ("주거 안정", "housing stability"),
     ("공공의료", "public health care"), ("청년 주거", "youth housing"),
     ("어르신 일자리", "jobs for seniors"), ("아동학대 예방", "child-abuse prevention"),
     ("생활체육", "community sports"), ("정신건강", "mental health")),
    (("역세권 개발", "station-area development"), ("생활SOC", "neighbourhood infrastructure"),
     ("골목상권", "alley commerce"), ("전통시장", "traditional markets"),
     ("공원녹지", "parks and green space"), ("도시철도 연장", "rail extensions"),
     ("버스 노선", "bus routes"), ("주차 환경", "parking"),
     ("공공 공간", "public spaces"), ("소상공인", "small businesses"),
     ("지역 문화시설", "local cultural facilities"), ("자전거 도로", "cycle lanes")),
    (("주민자치", "resident autonomy"), ("시민 숙의예산", "participatory budgeting"),
     ("정보공개", "information disclosure"), ("노동권익", "labour rights"),
     ("비정규직 정규직화", "regular employment"), ("성인지 정책", "gender-sensitive policy"),
     ("인권 교육", "human-rights education"), ("외국인 주민", "foreign residents"),
     ("마을공동체", "village communities"), ("청렴 행정", "integrity in administration"),
     ("민원 서비스", "petition services"), ("시민 소통", "citizen communication")),
)
_GENERAL_ACTIONS = (("확대", "Expand"), ("강화", "Strengthen"), ("개선", "Improve"),
                    ("지원", "Support"), ("활성화", "Promote"))
_GENERAL_PER_GOAL = (31, 30, 30, 30, 30)

_SG_TEMPLATES = {
    "시민": "시민이 체감하는 {} 서비스 제공",
    "재정": "{} 재원의 효율적 운용",
    "내부프로세스": "{} 업무 프로세스 혁신",
    "학습성장": "{} 전문역량 및 협업 강화",
}
_PG_NOUNS = ("서비스 품질 제고", "시민 체감 성과 창출", "효율적 업무 추진", "협력 기반 강화")
_PROJECT_NOUNS = ("종합계획 추진", "시민서비스 개선", "기반 구축", "혁신 추진", "인프라 확충", "시범사업",
                  "지원사업", "품질 향상", "체계 고도화", "활성화", "시민참여 확대", "제도 개선")

# KPI units: code → (label, decimals, bounded to 0–100, cumulative over the year)
_UNITS = ("%", "건", "명", "점", "억원", "일", "개소")
_U_PCT, _U_CASES, _U_PEOPLE, _U_SCORE, _U_MONEY, _U_DAYS, _U_SITES = range(7)
_UNIT_DEC = np.array([1, 0, 0, 1, 1, 1, 0])
_UNIT_BOUNDED = np.array([True, False, False, True, False, False, False])
_UNIT_CUMULATIVE = np.array([False, True, True, False, True, False, True])
_UP, _DOWN, _BAND = 0, 1, 2
_POLARITY_CODES = ("up", "down", "band")
_UNIT_P = {  # unit distribution per polarity
    _UP: {_U_PCT: 0.32, _U_CASES: 0.24, _U_PEOPLE: 0.17, _U_SCORE: 0.11, _U_MONEY: 0.08, _U_SITES: 0.08},
    _DOWN: {_U_DAYS: 0.35, _U_CASES: 0.40, _U_PCT: 0.25},
    _BAND: {_U_PCT: 1.0},
}
_KPI_TEMPLATES = {
    (_UP, _U_PCT): ("목표 달성률", "서비스 이용률", "시민 참여율", "처리율", "보급률", "개선율"),
    (_UP, _U_CASES): ("처리 건수", "지원 건수", "발굴 건수", "점검 건수", "협력사업 건수"),
    (_UP, _U_PEOPLE): ("참여자 수", "수혜자 수", "교육 이수자 수", "이용자 수"),
    (_UP, _U_SCORE): ("시민 만족도", "서비스 품질 평가 점수", "고객 만족도"),
    (_UP, _U_MONEY): ("투자 유치액", "재원 확보액", "예산 절감액"),
    (_UP, _U_SITES): ("조성 개소 수", "설치 개소 수", "확충 시설 수"),
    (_DOWN, _U_DAYS): ("평균 처리기간", "민원 처리 소요일수"),
    (_DOWN, _U_CASES): ("안전사고 발생 건수", "민원 발생 건수", "지적 건수"),
    (_DOWN, _U_PCT): ("부적합률", "지연율", "재발생률"),
    (_BAND, _U_PCT): ("예산 집행률(적정구간)", "시설 가동률(적정구간)"),
}
_KPI_TYPE_SHARES = (("input", 0.13), ("process", 0.20), ("output", 0.42), ("outcome", 0.25))

_SURNAMES = ("김", "이", "박", "최", "정", "강", "조", "윤", "장", "임", "한", "오", "서", "신", "권",
             "황", "안", "송", "류", "전", "홍", "고", "문", "양", "손")
_SURNAME_P = np.array([21.5, 14.7, 8.4, 4.7, 4.4, 2.3, 2.1, 2.1, 2.0, 1.7, 1.5, 1.4, 1.4, 1.4, 1.4,
                       1.4, 1.3, 1.3, 1.2, 1.1, 1.1, 0.9, 0.9, 0.9, 0.9])
_GIVEN_1 = tuple("민서지현성영정준상동재승종경태진수은혜미희윤용광기")
_GIVEN_2 = tuple("호수희진영준민석철우훈숙경아연환식규원형")

_STREAMS = ("institutions", "departments", "people", "plan", "goals", "projects", "tasks", "kpis",
            "history", "select", "targets", "results", "pre_eval", "qualitative", "evaluator",
            "cooperation", "integrity", "org", "prior")


def _parse_institutions() -> list[tuple[str, str, str, str, list[tuple[str, str]]]]:
    out = []
    for line in _INSTITUTION_SPEC.strip().splitlines():
        typ, ko, en, theme, depts = line.split("|")
        pairs = [tuple(d.split(":", 1)) for d in depts.split(";")]
        out.append((typ, ko, en, theme, pairs))
    return out


_INSTITUTIONS = _parse_institutions()


# ---------------------------------------------------------------------------------------
# small vectorised helpers
# ---------------------------------------------------------------------------------------
def _r(x: float) -> int:
    """Round half up (Python's round() rounds half to even)."""
    return int(math.floor(x + 0.5))


def _largest_remainder(total: int, weights, minimum: int = 0) -> np.ndarray:
    """Integers >= ``minimum`` summing to ``total``, proportional to ``weights`` (Hamilton)."""
    w = np.asarray(weights, dtype="float64")
    n = len(w)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    rest = int(total) - minimum * n
    if rest < 0:
        raise ValueError(f"cannot give {n} groups at least {minimum} of {total}")
    if not w.sum() > 0:
        w = np.ones(n)
    quota = rest * w / w.sum()
    fl = np.floor(quota + 1e-9).astype(np.int64)
    left = rest - int(fl.sum())
    order = np.argsort(-(quota - fl), kind="stable")
    fl[order[:left]] += 1
    return fl + minimum


def _ids(prefix: str, n: int, width: int) -> np.ndarray:
    """``prefix`` + zero-padded 1..n, widened so lexicographic order stays numeric."""
    w = max(width, len(str(max(n, 1))))
    nums = pd.Series(np.arange(1, n + 1)).astype(str).str.zfill(w).to_numpy(dtype=object)
    return prefix + nums


def _within_rank(groups: np.ndarray) -> np.ndarray:
    """0-based position of each element within its run of equal (contiguous) group codes."""
    n = len(groups)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.r_[0, np.flatnonzero(np.diff(groups)) + 1]
    lengths = np.diff(np.r_[starts, n])
    return np.arange(n) - np.repeat(starts, lengths)


def _suffix(cycle: np.ndarray) -> np.ndarray:
    """" 2", " 3" … for repeated name cycles, "" for the first."""
    num = pd.Series(np.asarray(cycle) + 1).astype(str).to_numpy(dtype=object)
    return np.where(np.asarray(cycle) > 0, " " + num, "").astype(object)


def _obj(values) -> np.ndarray:
    return np.asarray(values, dtype=object)


def _exact_composition(rng: np.random.Generator, n: int, shares) -> np.ndarray:
    """Codes 0..k-1 with exact (largest-remainder) counts for ``shares``, randomly ordered."""
    counts = _largest_remainder(n, shares)
    return rng.permutation(np.repeat(np.arange(len(counts)), counts))


def _tnorm(rng: np.random.Generator, size, bound: float = 2.5) -> np.ndarray:
    """Standard normal draws truncated (clipped) at ``±bound``."""
    return np.clip(rng.standard_normal(size), -bound, bound)


def _round_dec(x: np.ndarray, dec: np.ndarray) -> np.ndarray:
    """Round each value to its own number of decimals (0 or 1)."""
    return np.where(dec == 0, np.round(x), np.round(x, 1))


def _person_names(rng: np.random.Generator, n: int) -> np.ndarray:
    p = _SURNAME_P / _SURNAME_P.sum()
    s = _obj(_SURNAMES)[rng.choice(len(_SURNAMES), size=n, p=p)]
    g1 = _obj(_GIVEN_1)[rng.integers(0, len(_GIVEN_1), n)]
    g2 = _obj(_GIVEN_2)[rng.integers(0, len(_GIVEN_2), n)]
    return s + g1 + g2


def _ols_forecast(y: np.ndarray, x: np.ndarray, x0: float) -> np.ndarray:
    """Row-wise OLS line through the non-NaN points of ``y`` (n × k) at ``x``, evaluated at ``x0``.

    NaN where a row has fewer than two points.
    """
    m = ~np.isnan(y)
    xm = np.where(m, x[None, :], 0.0)
    ym = np.where(m, y, 0.0)
    n = m.sum(axis=1).astype("float64")
    sx, sy = xm.sum(axis=1), ym.sum(axis=1)
    sxx, sxy = (xm * xm).sum(axis=1), (xm * ym).sum(axis=1)
    den = n * sxx - sx * sx
    with np.errstate(invalid="ignore", divide="ignore"):
        slope = (n * sxy - sx * sy) / den
        icpt = (sy - slope * sx) / n
        f = icpt + slope * x0
    return np.where(n >= 2, f, np.nan)


def _frame(name: str, cols: dict, n: int | None = None) -> pd.DataFrame:
    """Build table ``name`` in canonical form: model column order, :func:`pandas_dtype` dtypes.

    Values may be arrays, scalars (broadcast) or zero-argument callables (evaluated one
    column at a time, so large object arrays never coexist). Missing columns are NaN.
    """
    t = TABLES[name]
    unknown = set(cols) - set(t.column_names)
    if unknown:  # pragma: no cover - programming error
        raise KeyError(f"{name}: unknown columns {sorted(unknown)}")
    if n is None:
        n = max(len(v) for v in cols.values() if not callable(v) and not np.isscalar(v) and v is not None)
    index = pd.RangeIndex(n)
    data = {}
    for c in t.columns:
        v = cols.pop(c.name, np.nan)
        if callable(v):
            v = v()
        data[c.name] = pd.Series(v, index=index, dtype=pandas_dtype(c))
        del v
    return pd.DataFrame(data, copy=False)


# ---------------------------------------------------------------------------------------
# the builder (shared by generate, planted and write_sample)
# ---------------------------------------------------------------------------------------
def _check_args(year, seed, scale) -> tuple[int, int, float]:
    if isinstance(year, bool) or not isinstance(year, int | np.integer) or not 1995 <= int(year) <= 2100:
        raise ValueError(f"year must be an integer between 1995 and 2100, got {year!r}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or int(seed) < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    try:
        sc = float(scale)
    except (TypeError, ValueError):
        raise ValueError(f"scale must be a positive number, got {scale!r}") from None
    if not math.isfinite(sc) or sc <= 0:
        raise ValueError(f"scale must be a positive finite number, got {scale!r}")
    if _r(45 * sc) < 1:
        raise ValueError(f"scale {scale!r} is too small: it gives no institution (minimum about 0.012)")
    return int(year), int(seed), sc


def _build(year: int, seed: int, scale: float, scheme: Scheme | None) -> tuple[dict[str, pd.DataFrame], dict]:
    year, seed, scale = _check_args(year, seed, scale)
    if scheme is None:
        scheme = load_scheme(default_scheme_path())
    comp = scheme.components
    children = np.random.SeedSequence(seed).spawn(len(_STREAMS))
    rng = {name: np.random.default_rng(ch) for name, ch in zip(_STREAMS, children, strict=True)}
    tables: dict[str, pd.DataFrame] = {}
    truth: dict = {"generator": "bsc_lib.data.sample", "year": year, "seed": seed, "scale": scale}

    # ---------------- institutions ----------------
    type_names = ("main_office", "business_office", "independent")
    spec_type = np.array([{"main": 0, "business_office": 1, "independent": 2}[s[0]] for s in _INSTITUTIONS])
    n_inst = max(1, _r(45 * scale))
    type_counts = _largest_remainder(n_inst, [30, 13, 2])
    base_parts, cyc_parts = [], []
    for t in range(3):
        pool = np.flatnonzero(spec_type == t)
        k = np.arange(type_counts[t])
        base_parts.append(pool[k % len(pool)])
        cyc_parts.append(k // len(pool))
    inst_base = np.concatenate(base_parts)
    inst_cyc = np.concatenate(cyc_parts)
    inst_type = spec_type[inst_base]
    spec_ko = _obj([s[1] for s in _INSTITUTIONS])
    spec_en = _obj([s[2] for s in _INSTITUTIONS])
    spec_theme = _obj([s[3] for s in _INSTITUTIONS])
    inst_ids = _ids("I", n_inst, 2)
    inst_suffix = _suffix(inst_cyc)
    inst_ko = spec_ko[inst_base] + inst_suffix
    inst_theme = spec_theme[inst_base]
    tables["institutions"] = _frame("institutions", {
        "institution_id": inst_ids, "name_ko": inst_ko, "name_en": spec_en[inst_base] + inst_suffix,
        "inst_type": _obj(type_names)[inst_type],
    })
    truth["institutions_by_type"] = {type_names[t]: int(type_counts[t]) for t in range(3)}

    # ---------------- departments ----------------
    r_dep = rng["departments"]
    pool_len = np.array([len(s[4]) for s in _INSTITUTIONS])
    pool_off = np.r_[0, np.cumsum(pool_len)[:-1]]
    pool_ko = _obj([d[0] for s in _INSTITUTIONS for d in s[4]])
    pool_en = _obj([d[1] for s in _INSTITUTIONS for d in s[4]])
    n_dept = max(n_inst, _r(248 * scale))
    dept_counts = _largest_remainder(n_dept, pool_len[inst_base] - 1, minimum=1)
    dept_inst = np.repeat(np.arange(n_inst), dept_counts)
    dept_rank = _within_rank(dept_inst)
    dlen = pool_len[inst_base[dept_inst]]
    didx = pool_off[inst_base[dept_inst]] + dept_rank % dlen
    dsuffix = _suffix(dept_rank // dlen)
    dept_ko = pool_ko[didx] + dsuffix
    dept_stem = pd.Series(pool_ko[didx], dtype=object).str.replace(
        r"(담당관|과|부|반|센터|연구소)$", "", regex=True).to_numpy(dtype=object)
    dept_ids = _ids("D", n_dept, 3)
    n_noc = _r(0.05 * n_dept)
    no_consult = np.zeros(n_dept, dtype=bool)
    no_consult[r_dep.choice(n_dept, size=n_noc, replace=False)] = True
    tables["departments"] = _frame("departments", {
        "department_id": dept_ids, "institution_id": inst_ids[dept_inst], "name_ko": dept_ko,
        "name_en": pool_en[didx] + dsuffix, "consulting_participated": ~no_consult,
    })
    truth["no_consulting_departments"] = dept_ids[no_consult].tolist()

    # ---------------- people ----------------
    r_ppl = rng["people"]
    n_people = n_inst + n_dept
    person_ids = _ids("P", n_people, 4)
    head_of_inst = person_ids[:n_inst]
    top_grade = pd.Series(spec_ko[inst_base], dtype=object).str.contains(r"(?:실|본부)$", regex=True).to_numpy()
    tables["people"] = _frame("people", {
        "person_id": person_ids,
        "name_ko": _person_names(r_ppl, n_people),
        "grade": np.r_[np.where(top_grade, "2급", "3급").astype(object), np.full(n_dept, "4급", dtype=object)],
        "unit_id": np.r_[inst_ids, dept_ids],
        "role": np.r_[np.full(n_inst, "bureau_head", dtype=object), np.full(n_dept, "department_head", dtype=object)],
    })

    # ---------------- plan tasks ----------------
    r_plan = rng["plan"]
    task_ids = ["V"] + [f"G{g + 1}" for g in range(5)]
    task_level = ["vision"] + ["goal"] * 5
    task_parent: list = [None] + ["V"] * 5
    task_ko = [_VISION[0]] + [g[0] for g in _GOALS]
    task_en = [_VISION[1]] + [g[1] for g in _GOALS]
    core_goal, gen_goal = [], []
    for g in range(5):
        for ko, en in _CORE_TASKS[g]:
            task_ids.append(f"C{len(core_goal) + 1:02d}")
            task_level.append("core")
            task_parent.append(f"G{g + 1}")
            task_ko.append(ko)
            task_en.append(en)
            core_goal.append(g)
    for g in range(5):
        topics, acts = _GENERAL_TOPICS[g], _GENERAL_ACTIONS
        combos = r_plan.permutation(len(topics) * len(acts))[:_GENERAL_PER_GOAL[g]]
        for c in np.sort(combos):
            (tko, ten), (ako, aen) = topics[c // len(acts)], acts[c % len(acts)]
            task_ids.append(f"T{len(gen_goal) + 1:03d}")
            task_level.append("general")
            task_parent.append(f"G{g + 1}")
            task_ko.append(f"{tko} {ako}")
            task_en.append(f"{aen} {ten}")
            gen_goal.append(g)
    tables["plan_tasks"] = _frame("plan_tasks", {
        "task_id": task_ids, "plan_level": task_level, "parent_id": task_parent,
        "name_ko": task_ko, "name_en": task_en,
    })
    n_core_t, n_gen_t = len(core_goal), len(gen_goal)
    # task catalogue for mapping: positions 0..n_core_t-1 core, then general (id order)
    map_task_ids = _obj(task_ids[6:])
    unmapped_core = r_plan.choice(n_core_t, size=2, replace=False)
    unmapped_gen = n_core_t + r_plan.choice(n_gen_t, size=9, replace=False)
    planted_unmapped = np.sort(np.r_[unmapped_core, unmapped_gen])
    mappable = np.setdiff1d(np.arange(n_core_t + n_gen_t), planted_unmapped)

    # ---------------- strategic and performance goals ----------------
    r_goal = rng["goals"]
    persp = list(scheme.perspectives) or ["시민"]
    n_p = len(persp)
    sg_k = 2 + (r_goal.random(n_inst) < 0.4).astype(np.int64)
    order = r_goal.random((n_inst, max(n_p, 3))).argsort(axis=1) % n_p
    sg_inst, sg_slot = np.nonzero(np.arange(3)[None, :] < sg_k[:, None])
    sg_persp = order[sg_inst, sg_slot]
    n_sg = len(sg_inst)
    sg_ids = _ids("SG", n_sg, 3)
    templ = [_SG_TEMPLATES.get(p, "{} " + p + " 관점 목표") for p in persp]
    t_pre = _obj([t.split("{}", 1)[0] for t in templ])
    t_post = _obj([t.split("{}", 1)[1] for t in templ])
    sg_ko = t_pre[sg_persp] + inst_theme[sg_inst] + t_post[sg_persp]
    tables["strategic_goals"] = _frame("strategic_goals", {
        "strategic_goal_id": sg_ids, "institution_id": inst_ids[sg_inst],
        "perspective": _obj(persp)[sg_persp], "name_ko": sg_ko,
        "city_goal_id": _obj([f"G{g + 1}" for g in range(5)])[r_goal.integers(0, 5, n_sg)],
    })
    sg_start = np.r_[0, np.cumsum(sg_k)[:-1]]

    pg_k = 1 + (r_goal.random(n_dept) < 0.5).astype(np.int64)
    pg_dept = np.repeat(np.arange(n_dept), pg_k)
    pg_rank = _within_rank(pg_dept)
    n_pg = len(pg_dept)
    pg_inst = dept_inst[pg_dept]
    pg_sg = sg_start[pg_inst] + np.floor(r_goal.random(n_pg) * sg_k[pg_inst]).astype(np.int64)
    pg_off = r_goal.integers(0, len(_PG_NOUNS), n_dept)
    pg_ids = _ids("PG", n_pg, 3)
    tables["performance_goals"] = _frame("performance_goals", {
        "performance_goal_id": pg_ids, "department_id": dept_ids[pg_dept], "strategic_goal_id": sg_ids[pg_sg],
        "name_ko": dept_stem[pg_dept] + " " + _obj(_PG_NOUNS)[(pg_off[pg_dept] + pg_rank) % len(_PG_NOUNS)],
    })
    pg_start = np.r_[0, np.cumsum(pg_k)[:-1]]

    # ---------------- projects ----------------
    r_prj = rng["projects"]
    n_proj = max(n_dept, _r(450 * scale))
    p_w = r_prj.gamma(3.0, 1.0, n_dept)
    proj_counts = 1 + r_prj.multinomial(n_proj - n_dept, p_w / p_w.sum())
    proj_dept = np.repeat(np.arange(n_dept), proj_counts)
    proj_rank = _within_rank(proj_dept)
    multi = np.flatnonzero(proj_counts >= 2)
    two_core = r_prj.choice(multi, size=min(len(multi), _r(0.05 * n_dept)), replace=False)
    two_core_mask = np.zeros(n_dept, dtype=bool)
    two_core_mask[two_core] = True
    is_core = (proj_rank == 0) | ((proj_rank == 1) & two_core_mask[proj_dept])
    proj_pg = pg_start[proj_dept] + proj_rank % pg_k[proj_dept]
    noun_off = r_prj.integers(0, len(_PROJECT_NOUNS), n_dept)
    nidx = noun_off[proj_dept] + proj_rank
    proj_ids = _ids("PJ", n_proj, 3)
    tables["projects"] = _frame("projects", {
        "project_id": proj_ids, "department_id": dept_ids[proj_dept], "performance_goal_id": pg_ids[proj_pg],
        "name_ko": dept_stem[proj_dept] + " " + _obj(_PROJECT_NOUNS)[nidx % len(_PROJECT_NOUNS)]
        + _suffix(proj_rank // len(_PROJECT_NOUNS)),
        "is_core": is_core,
    })
    proj_start = np.r_[0, np.cumsum(proj_counts)[:-1]]
    truth["two_core_project_departments"] = dept_ids[np.sort(two_core)].tolist()

    # ---------------- project ↔ plan task ----------------
    r_tsk = rng["tasks"]
    perm = r_tsk.permutation(n_proj)
    k_cov = min(n_proj, len(mappable))
    primary = np.empty(n_proj, dtype=np.int64)
    primary[perm[:k_cov]] = r_tsk.permutation(mappable)[:k_cov]
    rest = perm[k_cov:]
    tw = np.where(mappable < n_core_t, 2.0, 1.0)
    primary[rest] = r_tsk.choice(mappable, size=len(rest), p=tw / tw.sum())
    second_mask = r_tsk.random(n_proj) < 0.2
    second = r_tsk.choice(mappable, size=n_proj)
    pt_proj = np.r_[np.arange(n_proj), np.flatnonzero(second_mask & (second != primary))]
    pt_task = np.r_[primary, second[second_mask & (second != primary)]]
    o = np.lexsort((pt_task, pt_proj))
    pt_proj, pt_task = pt_proj[o], pt_task[o]
    tables["project_tasks"] = _frame("project_tasks", {"project_id": proj_ids[pt_proj], "task_id": map_task_ids[pt_task]})
    unmapped = np.setdiff1d(np.arange(n_core_t + n_gen_t), pt_task)
    truth["unmapped_tasks"] = map_task_ids[unmapped].tolist()
    truth["unmapped_core_tasks"] = map_task_ids[unmapped[unmapped < n_core_t]].tolist()
    truth["unmapped_general_tasks"] = map_task_ids[unmapped[unmapped >= n_core_t]].tolist()

    # ---------------- KPIs: structure ----------------
    r_kpi = rng["kpis"]
    n_kpi_total = max(_r(697 * scale), 2 * n_inst + n_dept)
    n_inst_kpi = 2 * n_inst
    n_dept_kpi = max(n_dept, n_kpi_total - n_inst_kpi)
    k_w = proj_counts * r_kpi.gamma(4.0, 1.0, n_dept)
    kpi_counts_d = 1 + r_kpi.multinomial(n_dept_kpi - n_dept, k_w / k_w.sum())
    k_dept = np.r_[np.full(n_inst_kpi, -1), np.repeat(np.arange(n_dept), kpi_counts_d)]
    k_is_inst = k_dept < 0
    k_inst = np.r_[np.repeat(np.arange(n_inst), 2), dept_inst[k_dept[n_inst_kpi:]]]
    k_owner = np.where(k_is_inst, k_inst, n_inst + k_dept)  # owner code, contiguous
    n_kpi = len(k_dept)
    k_rank = _within_rank(k_owner)
    kd = np.maximum(k_dept, 0)
    k_proj = np.where(k_is_inst, -1, proj_start[kd] + k_rank % proj_counts[kd])
    kpi_ids = _ids("K", n_kpi, 3)
    owner_ids = np.where(k_is_inst, inst_ids[k_inst], dept_ids[kd])
    pol = _exact_composition(r_kpi, n_kpi, [0.82, 0.15, 0.03])
    unit = np.zeros(n_kpi, dtype=np.int64)
    for p, dist in _UNIT_P.items():
        sel = np.flatnonzero(pol == p)
        codes, probs = np.array(list(dist)), np.array(list(dist.values()))
        unit[sel] = codes[r_kpi.choice(len(codes), size=len(sel), p=probs / probs.sum())]
    ktype = _exact_composition(r_kpi, n_kpi, [s for _, s in _KPI_TYPE_SHARES])
    # names: owner stem + template for (polarity, unit)
    keys = list(_KPI_TEMPLATES)
    tpl_flat = _obj([t for k in keys for t in _KPI_TEMPLATES[k]])
    tpl_len = np.array([len(_KPI_TEMPLATES[k]) for k in keys])
    tpl_off = np.r_[0, np.cumsum(tpl_len)[:-1]]
    key_index = np.full((3, len(_UNITS)), -1)
    for i, (p, u) in enumerate(keys):
        key_index[p, u] = i
    ki = key_index[pol, unit]
    # distinct templates within an owner (a numeric suffix only once a template list is used up)
    key_rank = pd.DataFrame({"o": k_owner, "k": ki}).groupby(["o", "k"], sort=False).cumcount().to_numpy()
    owner_off = r_kpi.integers(0, 60, n_inst + n_dept)[k_owner]
    tidx = tpl_off[ki] + (owner_off + key_rank) % tpl_len[ki]
    stem = np.where(k_is_inst, inst_theme[k_inst], dept_stem[kd])
    kpi_name = stem + " " + tpl_flat[tidx] + _suffix(key_rank // tpl_len[ki])

    # ---------------- KPI history ----------------
    r_his = rng["history"]
    hist_years = np.arange(year - 4, year)
    # categories: 0 full, 1 gap (NaN row), 2 gap (row absent), 3 short (last two years only),
    # 4 new (no rows), 5 new (rows, all NaN)
    hcat = _exact_composition(r_his, n_kpi, [0.92, 0.01, 0.01, 0.02, 0.02, 0.02])
    gap_year = r_his.integers(0, 3, n_kpi)
    lo_hi = {  # level ranges per (polarity, unit): (low, high, log-uniform?)
        (_UP, _U_PCT): (20, 65, False), (_DOWN, _U_PCT): (5, 25, False), (_BAND, _U_PCT): (80, 92, False),
        (_UP, _U_CASES): (40, 3000, True), (_DOWN, _U_CASES): (60, 800, True),
        (_UP, _U_PEOPLE): (100, 50000, True), (_UP, _U_SCORE): (50, 65, False),
        (_UP, _U_MONEY): (10, 2000, True), (_DOWN, _U_DAYS): (5, 40, False), (_UP, _U_SITES): (30, 400, True),
    }
    lv_lo, lv_hi, lv_log = np.zeros(n_kpi), np.zeros(n_kpi), np.zeros(n_kpi, dtype=bool)
    for (p, u), (a, b, lg) in lo_hi.items():
        m = (pol == p) & (unit == u)
        lv_lo[m], lv_hi[m], lv_log[m] = a, b, lg
    uu = r_his.random(n_kpi)
    level = np.where(lv_log, np.exp(np.log(lv_lo) + uu * (np.log(lv_hi) - np.log(lv_lo))),
                     lv_lo + uu * (lv_hi - lv_lo))
    sgn = np.where(pol == _DOWN, -1.0, 1.0)
    trend = np.where(pol == _BAND, 0.0, r_his.uniform(0.05, 0.12, n_kpi))
    dec = _UNIT_DEC[unit]
    step = np.where(dec == 0, 1.0, 0.1)
    band_w = np.where(pol == _BAND, np.round(r_his.uniform(4.0, 8.0, n_kpi) * 2) / 2, 0.0)
    band_mid = np.round(level, 1)
    kk = (hist_years - (year - 1))[None, :].astype("float64")  # -3..0
    noise = _tnorm(r_his, (n_kpi, 4))
    y = level[:, None] * (1 + sgn[:, None] * trend[:, None] * kk) + 0.015 * level[:, None] * noise
    y = np.where((pol == _BAND)[:, None], band_mid[:, None] + band_w[:, None] / 4 * noise, y)
    y = _round_dec(y, dec[:, None])
    y = np.maximum(y, step[:, None])
    y = np.where(_UNIT_BOUNDED[unit][:, None], np.minimum(y, 100.0), y)
    yi = np.arange(4)[None, :]
    value_present = np.ones((n_kpi, 4), dtype=bool)
    row_present = np.ones((n_kpi, 4), dtype=bool)
    is_gap = (hcat == 1) | (hcat == 2)
    value_present &= ~(is_gap[:, None] & (yi == gap_year[:, None]))
    row_present &= ~((hcat == 2)[:, None] & (yi == gap_year[:, None]))
    value_present &= ~((hcat == 3)[:, None] & (yi < 2))
    row_present &= ~((hcat == 3)[:, None] & (yi < 2))
    value_present &= ~((hcat == 4) | (hcat == 5))[:, None]
    row_present &= ~(hcat == 4)[:, None]
    yv = np.where(value_present, y, np.nan)
    hk, hy = np.nonzero(row_present)
    tables["kpi_history"] = _frame("kpi_history", {"kpi_id": kpi_ids[hk], "year": hist_years[hy], "actual": yv[hk, hy]})
    n_pts = value_present.sum(axis=1)
    F = _ols_forecast(yv, (hist_years - hist_years[0]).astype("float64"), float(year - hist_years[0]))
    last = yv[np.arange(n_kpi), 3]  # the last history year is present for every KPI with history
    g_last = sgn * (last - F) / np.abs(F)  # signed gap of the last actual (NaN without a forecast)

    # ---------------- selection of planted units and easy KPIs ----------------
    r_sel = rng["select"]
    # an easy target must be placeable either non-regressively or regressively once the
    # target is rounded to the unit's step (m_rel: the rounding error relative to F)
    m_rel = 0.5 * step / np.abs(np.where(np.isnan(F), 1.0, F)) + 1e-9
    nonreg_ok = np.maximum(EASY_GAP[0], g_last) + 2 * m_rel + 0.002 < EASY_GAP[1]
    reg_ok = EASY_GAP[0] + 2.5 * m_rel + 0.002 < np.minimum(EASY_GAP[1], g_last)
    eligible = (pol != _BAND) & (n_pts >= 3)
    placeable = eligible & (nonreg_ok | reg_ok)
    dept_kpi_n = np.bincount(kd[~k_is_inst], minlength=n_dept)
    dept_elig_n = np.bincount(kd[~k_is_inst & placeable], minlength=n_dept)
    n_eh = _r(0.05 * n_dept)
    cand = np.flatnonzero(dept_elig_n >= 3)
    eh_depts = np.sort(r_sel.choice(cand, size=min(n_eh, len(cand)), replace=False))
    eh_mask = np.zeros(n_dept, dtype=bool)
    eh_mask[eh_depts] = True
    n_game = _r(0.025 * n_dept)
    cand = np.flatnonzero((dept_kpi_n >= 2) & ~eh_mask)
    game_depts = np.sort(r_sel.choice(cand, size=min(n_game, len(cand)), replace=False))
    game_mask = np.zeros(n_dept, dtype=bool)
    game_mask[game_depts] = True
    k_in_eh = ~k_is_inst & eh_mask[kd]
    k_in_game = ~k_is_inst & game_mask[kd]
    n_eligible = int(eligible.sum())
    n_easy_target = _r(0.15 * n_eligible)
    easy = placeable & k_in_eh
    # the rest: at most one easy KPI per other owner with >= 2 KPIs (so only the planted
    # easy-heavy departments file *mostly* easy targets), drawn at random
    owner_n = np.bincount(k_owner, minlength=n_inst + n_dept)
    pool = placeable & ~k_in_eh & ~k_in_game & (owner_n[k_owner] >= 2)
    key = r_sel.random(n_kpi)
    pidx = np.flatnonzero(pool)
    o = np.lexsort((key[pidx], k_owner[pidx]))
    pidx = pidx[o]
    first_of_owner = pidx[_within_rank(k_owner[pidx]) == 0]
    n_rand = max(0, n_easy_target - int(easy.sum()))
    pick = r_sel.permutation(first_of_owner)[:n_rand]
    easy[pick] = True
    # regressive subset: forced where a non-regressive easy target is impossible, else drawn
    regressive = easy & ~nonreg_ok
    n_reg_target = _r(0.12 * int(easy.sum()))
    flex = np.flatnonzero(easy & nonreg_ok & reg_ok)
    extra = max(0, n_reg_target - int(regressive.sum()))
    regressive[r_sel.permutation(flex)[:extra]] = True
    if np.any(easy & ~nonreg_ok & ~reg_ok):  # pragma: no cover - impossible by construction
        raise RuntimeError("sample generator: an easy KPI admits neither a regressive nor a non-regressive target")

    # ---------------- targets ----------------
    r_tgt = rng["targets"]
    has_f = ~np.isnan(F) & (pol != _BAND)
    normal = has_f & ~easy
    lo = np.full(n_kpi, np.nan)
    hi = np.full(n_kpi, np.nan)
    lo[normal] = np.maximum(NORMAL_GAP[0], g_last[normal]) + m_rel[normal]
    hi[normal] = NORMAL_GAP[1] - m_rel[normal]
    e_nr = easy & ~regressive
    lo[e_nr] = np.maximum(EASY_GAP[0], g_last[e_nr]) + m_rel[e_nr]
    hi[e_nr] = EASY_GAP[1] - m_rel[e_nr]
    lo[regressive] = EASY_GAP[0] + m_rel[regressive]
    hi[regressive] = np.minimum(EASY_GAP[1] - m_rel[regressive], g_last[regressive] - 1.5 * m_rel[regressive])
    if np.any(hi[has_f] < lo[has_f]):  # pragma: no cover - impossible by construction
        raise RuntimeError("sample generator: empty target interval")
    g = lo + r_tgt.random(n_kpi) * (hi - lo)
    target = np.full(n_kpi, np.nan)
    target[has_f] = F[has_f] * (1 + sgn[has_f] * g[has_f])
    no_f = np.isnan(F) & (pol != _BAND)
    target[no_f] = level[no_f] * (1 + sgn[no_f] * r_tgt.uniform(0.03, 0.15, int(no_f.sum())))
    band = pol == _BAND
    target[band] = band_mid[band]
    target = _round_dec(target, dec)
    if np.any(target[_UNIT_BOUNDED[unit]] > 100) or np.any(target <= 0):  # pragma: no cover
        raise RuntimeError("sample generator: target outside the unit's physical range")
    band_low = np.where(band, np.round(band_mid - band_w / 2, 1), np.nan)
    band_high = np.where(band, np.round(band_mid + band_w / 2, 1), np.nan)

    # ---------------- weights (integer, sum 100 per owner) ----------------
    raw = r_kpi.gamma(4.0, 1.0, n_kpi) * np.where(easy & ~k_in_eh, 1.8, 1.0)
    k_n = owner_n[k_owner]
    if np.any(k_n > 100):  # pragma: no cover - not reachable with the generator's KPI counts
        raise RuntimeError("sample generator: an owner has more than 100 KPIs")
    wstep = np.where(k_n <= 20, 5, 1)
    units_total = 100 // wstep
    gsum = np.bincount(k_owner, weights=raw)[k_owner]
    quota = (units_total - k_n) * raw / gsum
    fl = np.floor(quota + 1e-9)
    left = (units_total - k_n) - np.bincount(k_owner, weights=fl)[k_owner]
    o = np.lexsort((-(quota - fl), k_owner))
    rank_rem = np.empty(n_kpi, dtype=np.int64)
    rank_rem[o] = _within_rank(k_owner[o])
    weight = ((1 + fl + (rank_rem < left)) * wstep).astype("float64")

    tables["kpis"] = _frame("kpis", {
        "kpi_id": kpi_ids, "owner_id": owner_ids,
        "level": np.where(k_is_inst, "institution", "department").astype(object),
        "project_id": np.where(k_is_inst, None, proj_ids[np.maximum(k_proj, 0)]),
        "name_ko": kpi_name, "unit": _obj(_UNITS)[unit], "polarity": _obj(_POLARITY_CODES)[pol],
        "band_low": band_low, "band_high": band_high,
        "kpi_type": _obj([t for t, _ in _KPI_TYPE_SHARES])[ktype], "weight": weight,
    })

    # ---------------- results (H1, H2) ----------------
    r_res = rng["results"]
    cum = _UNIT_CUMULATIVE[unit] & ~band
    t_h1 = np.where(cum, _round_dec(target * r_res.uniform(0.45, 0.55, n_kpi), dec), target)
    t_h1 = np.maximum(t_h1, step)
    ratio2 = np.clip(1.0 + 0.06 * r_res.standard_normal(n_kpi), 0.75, 1.30)
    easy_act = F * (1 + sgn * (0.01 + 0.04 * r_res.standard_normal(n_kpi)))
    with np.errstate(invalid="ignore", divide="ignore"):
        easy_ratio = np.where(pol == _DOWN, target / easy_act, easy_act / target)
    ratio2 = np.where(easy, easy_ratio, ratio2)
    ratio1 = np.clip(ratio2 + 0.04 * r_res.standard_normal(n_kpi), 0.6, 1.4)
    game_r1 = r_res.uniform(1.0, 1.03, n_kpi)
    game_r2 = r_res.uniform(1.0, 1.03, n_kpi)
    band_n1 = r_res.standard_normal(n_kpi)
    band_n2 = r_res.standard_normal(n_kpi)

    def _actual(tgt, ratio, game_ratio, band_noise):
        a = np.where(pol == _DOWN, tgt / ratio, tgt * ratio)
        a = _round_dec(a, dec)
        scale10 = np.where(dec == 0, 1.0, 10.0)
        up_g = np.maximum(np.floor(tgt * game_ratio * scale10 + 1e-9) / scale10, tgt)
        down_g = np.minimum(np.ceil(tgt / game_ratio * scale10 - 1e-9) / scale10, tgt)
        a = np.where(k_in_game, np.where(pol == _DOWN, down_g, up_g), a)
        a = np.where(band, np.round(band_mid + 0.3 * band_w * band_noise, 1), a)
        a = np.maximum(a, 0.0)
        return np.where(_UNIT_BOUNDED[unit], np.minimum(a, 100.0), a)

    a1 = _actual(t_h1, ratio1, game_r1, band_n1)
    a2 = _actual(target, ratio2, game_r2, band_n2)
    verified2 = np.ones(n_kpi, dtype=bool)
    cand = r_res.permutation(np.flatnonzero(~k_is_inst & ~k_in_game))
    n_miss, n_unver = _r(6 * scale), _r(8 * scale)
    miss = np.sort(cand[:n_miss])
    unver = np.sort(cand[n_miss:n_miss + n_unver])
    a2[miss] = np.nan
    verified2[miss] = False
    verified2[unver] = False
    tables["kpi_results"] = _frame("kpi_results", {
        "kpi_id": np.repeat(kpi_ids, 2), "year": year, "half": np.tile(_obj(["H1", "H2"]), n_kpi),
        "target": np.column_stack([t_h1, target]).ravel(), "actual": np.column_stack([a1, a2]).ravel(),
        "verified": np.column_stack([np.ones(n_kpi, dtype=bool), verified2]).ravel(),
    })

    # ---------------- pre-evaluation ----------------
    r_pre = rng["pre_eval"]
    pre = comp.pre_evaluation
    items = [i.id for i in pre.items] if pre is not None else []
    pmin, pmax = (pre.scale.min, pre.scale.max) if pre is not None else (0.0, 100.0)
    easy_share = np.bincount(kd[~k_is_inst & easy], minlength=n_dept) / np.maximum(dept_kpi_n, 1)
    n_rater = 3
    n_item = len(items)
    item_base = np.array([{"project_importance": 80.0, "project_difficulty": 74.0,
                           "kpi_appropriateness": 77.0, "kpi_challenge": 76.0}.get(i, 76.0) for i in items])
    is_chal = np.array([i == "kpi_challenge" for i in items], dtype=bool)
    is_appr = np.array([i == "kpi_appropriateness" for i in items], dtype=bool)
    q_dept = 4.0 * r_pre.standard_normal(n_dept)
    rater_eff = 1.5 * r_pre.standard_normal(n_rater)
    n_nofinal = _r(0.02 * n_dept)
    no_final = np.zeros(n_dept, dtype=bool)
    no_final[r_pre.choice(n_dept, size=n_nofinal, replace=False)] = True
    shape = (n_dept, 2, n_item, n_rater)
    # score = item base + department quality − challenge penalty for easy targets
    #         − appropriateness penalty without consulting + rater effect + round effect + noise
    score = r_pre.standard_normal(shape)
    score *= 3.5
    score += item_base[None, None, :, None] + q_dept[:, None, None, None]
    score -= 30.0 * (easy_share[:, None, None, None] - easy_share.mean()) * is_chal[None, None, :, None]
    score -= 5.0 * no_consult[:, None, None, None] * is_appr[None, None, :, None]
    score += rater_eff[None, None, None, :] + np.array([0.0, 1.5])[None, :, None, None]
    score = np.clip(np.round(score, 1), pmin, pmax)
    keep = np.ones(shape, dtype=bool)
    keep[:, 1] &= ~no_final[:, None, None]
    flat = np.flatnonzero(keep.ravel())
    del keep
    tables["pre_eval_ratings"] = _frame("pre_eval_ratings", {
        "unit_id": lambda: dept_ids[flat // (2 * n_item * n_rater)],
        "round": lambda: _obj(["first", "final"])[(flat // (n_item * n_rater)) % 2],
        "item": lambda: _obj(items)[(flat // n_rater) % max(n_item, 1)],
        "rater_id": lambda: _obj([f"A{j + 1}" for j in range(n_rater)])[flat % n_rater],
        "score": lambda: score.ravel()[flat],
    }, n=len(flat))
    if is_chal.any() and n_dept >= 3 and np.unique(easy_share).size > 1:
        chal = score[:, :, is_chal, :].mean(axis=(2, 3))  # dept × round
        chal_final = np.where(no_final, chal[:, 0], chal[:, 1])
        # a constant column has no rank correlation: None, as the NaN pandas would give (and warn)
        rho = (pd.Series(chal_final).corr(pd.Series(easy_share), method="spearman")
               if np.unique(chal_final).size > 1 else np.nan)
        truth["kpi_challenge_spearman"] = None if pd.isna(rho) else round(float(rho), 4)

    # ---------------- qualitative ratings ----------------
    r_q = rng["qualitative"]
    qual = comp.qualitative
    q_items = [i.id for i in qual.items] if qual is not None else []
    qmin, qmax = (qual.scale.min, qual.scale.max) if qual is not None else (0.0, 100.0)
    core_idx = np.flatnonzero(is_core)
    n_core = len(core_idx)
    n_po, n_ex = 3, 5
    rater_ids = np.r_[_ids("B", n_inst, 2), _obj([f"PO{j + 1}" for j in range(n_po)]),
                      _obj([f"E{j + 1}" for j in range(n_ex)])]
    rater_group = np.r_[np.full(n_inst, "bureau_self", dtype=object), np.full(n_po, "planning_office", dtype=object),
                        np.full(n_ex, "expert", dtype=object)]
    ex_eff = np.clip(r_q.standard_normal(n_ex), -2.0, 2.0)
    len_harsh = r_q.choice(n_ex, size=2, replace=False)
    ex_eff[len_harsh[0]] = LENIENT_OFFSET
    ex_eff[len_harsh[1]] = HARSH_OFFSET
    r_eff = np.r_[BUREAU_SELF_OFFSET + 2.0 * r_q.standard_normal(n_inst), 1.5 * r_q.standard_normal(n_po), ex_eff]
    slot_rater = np.empty((n_core, 1 + n_po + n_ex), dtype=np.int32)
    slot_rater[:, 0] = dept_inst[proj_dept[core_idx]]
    slot_rater[:, 1:] = n_inst + np.arange(n_po + n_ex)[None, :]
    q_item_eff = np.array([{"importance": 3.0, "difficulty": 0.0, "capability": 1.0, "results": -1.0}.get(i, 0.0)
                           for i in q_items])
    p_q = 6.0 * r_q.standard_normal(n_core)
    drift = 2.0 * r_q.standard_normal((n_core, 2))
    n_slot, n_it = slot_rater.shape[1], len(q_items)
    # score = 76 + item effect + project quality + half drift + rater effect + noise,
    # rounded to whole points and clipped to the scale (built in place: large at big scales)
    qs = r_q.standard_normal((2, n_core, n_slot, n_it))
    qs *= 4.0
    qs += 76.0 + q_item_eff[None, None, None, :]
    qs += p_q[None, :, None, None]
    qs += drift.T[:, :, None, None]
    qs += r_eff[slot_rater][None, :, :, None]
    np.round(qs, out=qs)
    np.clip(qs, qmin, qmax, out=qs)
    per = n_core * n_slot * n_it
    rr_one = np.repeat(slot_rater.ravel(), n_it)  # rater of each row within one half
    tables["qualitative_ratings"] = _frame("qualitative_ratings", {
        "year": year,
        "half": lambda: _obj(["H1", "H2"])[np.repeat(np.arange(2, dtype=np.int8), per)],
        "project_id": lambda: np.tile(np.repeat(proj_ids[core_idx], n_slot * n_it), 2),
        "rater_group": lambda: np.tile(rater_group[rr_one], 2),
        "rater_id": lambda: np.tile(rater_ids[rr_one], 2),
        "item": lambda: np.tile(_obj(q_items), 2 * n_core * n_slot),
        "score": qs.ravel(),
    }, n=2 * per)
    expert_ids = [f"E{j + 1}" for j in range(n_ex)]
    truth["lenient_rater"] = expert_ids[len_harsh[0]]
    truth["harsh_rater"] = expert_ids[len_harsh[1]]
    truth["expert_offsets"] = {e: round(float(v), 4) for e, v in zip(expert_ids, ex_eff, strict=True)}
    truth["bureau_self_offset"] = BUREAU_SELF_OFFSET

    # ---------------- evaluator scores ----------------
    r_ev = rng["evaluator"]
    ev = comp.evaluator
    emin, emax = (ev.scale.min, ev.scale.max) if ev is not None else (0.0, 100.0)
    n_v = 3
    i_eff = 4.0 * r_ev.standard_normal(n_inst)
    v_eff = 1.5 * r_ev.standard_normal(n_v)
    i_score = np.clip(np.round(85.0 + i_eff[None, :, None] + v_eff[None, None, :]
                               + 2.0 * r_ev.standard_normal((2, n_inst, n_v)), 1), emin, emax)
    d_eff = 4.0 * r_ev.standard_normal(n_dept)
    d_score = np.clip(np.round(85.0 + d_eff[None, :] + 2.0 * r_ev.standard_normal((2, n_dept)), 1), emin, emax)
    hi_i, ii_, vi = (a.ravel() for a in np.indices((2, n_inst, n_v)))
    hi_d, di_ = (a.ravel() for a in np.indices((2, n_dept)))
    tables["evaluator_scores"] = _frame("evaluator_scores", {
        "year": year,
        "half": np.r_[_obj(["H1", "H2"])[hi_i], _obj(["H1", "H2"])[hi_d]],
        "unit_id": np.r_[inst_ids[ii_], dept_ids[di_]],
        "evaluator_id": np.r_[_obj([f"V{j + 1}" for j in range(n_v)])[vi], head_of_inst[dept_inst[di_]]],
        "score": np.r_[i_score.ravel(), d_score.ravel()],
    })

    # ---------------- cooperation ----------------
    r_co = rng["cooperation"]
    coop = comp.cooperation
    c_items = [i.id for i in coop.items] if coop is not None else []
    c_pts = np.array([float(i.points) for i in coop.items]) if coop is not None else np.zeros(0)
    c_grp = [i.group for i in coop.items] if coop is not None else []
    noisy = np.array([gr == "governance" for gr in c_grp], dtype=bool)
    c_inst = 0.06 * r_co.standard_normal(n_inst)
    c_sd = np.where(noisy, 0.15, 0.07)
    frac = np.clip(0.8 + c_inst[None, :, None] + c_sd[None, None, :] * r_co.standard_normal((2, n_inst, len(c_items))),
                   0.0, 1.0)
    c_score = np.clip(np.round(frac * c_pts[None, None, :] * 2) / 2, 0.0, c_pts[None, None, :])
    hc, ic, jc = (a.ravel() for a in np.indices(c_score.shape))
    tables["cooperation_scores"] = _frame("cooperation_scores", {
        "year": year, "half": _obj(["H1", "H2"])[hc], "institution_id": inst_ids[ic],
        "item": _obj(c_items)[jc], "score": c_score.ravel(),
    })
    truth["low_reliability_cooperation_items"] = [c for c, nz in zip(c_items, noisy, strict=True) if nz]

    # ---------------- integrity ----------------
    r_in = rng["integrity"]
    plan_status = np.array([100.0, 90.0, 80.0, 70.0, 60.0])[
        r_in.choice(5, size=n_dept, p=[0.45, 0.30, 0.15, 0.07, 0.03])]
    expense = np.clip(np.round(95.0 + 4.0 * r_in.standard_normal(n_dept), 1), 0.0, 100.0)
    training = np.clip(np.round(93.0 + 5.0 * r_in.standard_normal(n_dept), 1), 0.0, 100.0)
    survey = np.clip(np.round(82.0 + 5.0 * r_in.standard_normal(n_dept), 2), 0.0, 100.0)
    misconduct = _exact_composition(r_in, n_dept, [0.92, 0.06, 0.02]).astype(np.int64)
    n_tied = _r(199 / 248 * n_dept)
    tied = np.zeros(n_dept, dtype=bool)
    tied[r_in.choice(n_dept, size=n_tied, replace=False)] = True
    off = np.round(r_in.uniform(0.5, 6.0, n_dept), 1) * np.where(r_in.random(n_dept) < 0.5, -1.0, 1.0)
    acrc = np.where(tied, ACRC_TIED_VALUE, np.round(ACRC_TIED_VALUE + off, 1))
    tables["integrity"] = _frame("integrity", {
        "year": year, "department_id": dept_ids, "plan_status": plan_status, "expense_disclosure": expense,
        "training_completion": training, "survey_score": survey, "misconduct_count": misconduct,
        "acrc_score": acrc,
    })
    truth["acrc_tied_value"] = ACRC_TIED_VALUE
    truth["acrc_tied_departments"] = int(tied.sum())
    truth["acrc_untied_department_ids"] = dept_ids[~tied].tolist()
    truth["misconduct_departments"] = dept_ids[misconduct > 0].tolist()

    # ---------------- organisation management ----------------
    r_or = rng["org"]
    ot18 = np.clip(25.0 + 7.0 * r_or.standard_normal(n_people), 8.0, 45.0)
    lv18 = np.clip(11.5 + 2.0 * r_or.standard_normal(n_people), 6.0, 18.0)
    ot19 = np.clip(ot18 - (2.0 + 2.5 * r_or.standard_normal(n_people)), 5.0, 45.0)
    lv19 = np.clip(lv18 + (0.8 + 0.8 * r_or.standard_normal(n_people)), 5.0, 20.0)
    tables["org_management"] = _frame("org_management", {
        "person_id": np.repeat(person_ids, 2), "year": np.tile(np.array([year - 1, year]), n_people),
        "avg_overtime_hours": np.round(np.column_stack([ot18, ot19]).ravel(), 1),
        "avg_leave_days": np.round(np.column_stack([lv18, lv19]).ravel(), 1),
    })

    # ---------------- prior-year evaluation ----------------
    # last year's totals and grades: institutions carry their departments' quality (q_dept, the
    # pre-evaluation effect) plus noise; departments their own quality plus noise; graded with the
    # scheme's grading (groups = institution types) so last year's grade counts follow the quotas.
    # A few departments set up this year have no prior row.
    r_pr = rng["prior"]
    inst_q = np.bincount(dept_inst, weights=q_dept, minlength=n_inst) / np.maximum(
        np.bincount(dept_inst, minlength=n_inst), 1)
    inst_prior = np.round(np.clip(80.0 + 0.6 * inst_q + 2.2 * r_pr.standard_normal(n_inst), 60.0, 98.0), 2)
    dept_prior = np.round(np.clip(80.0 + 0.7 * q_dept + 3.0 * r_pr.standard_normal(n_dept), 55.0, 95.0), 2)
    new_dept = np.zeros(n_dept, dtype=bool)
    new_dept[r_pr.choice(n_dept, size=min(n_dept - 1, max(1, _r(0.01 * n_dept))), replace=False)] = True
    g = scheme.grading
    inst_grade = grading.assign_grades(pd.Series(inst_prior), g, pd.Series(_obj(type_names)[inst_type]))["grade"]
    kept = np.flatnonzero(~new_dept)
    dept_grade = grading.assign_grades(pd.Series(dept_prior[kept]), g, None)["grade"]
    tables["prior_results"] = _frame("prior_results", {
        "year": year - 1,
        "unit_id": np.concatenate([inst_ids, dept_ids[kept]]),
        "total": np.concatenate([inst_prior, dept_prior[kept]]),
        "grade": np.concatenate([inst_grade.to_numpy(dtype=object), dept_grade.to_numpy(dtype=object)]),
    })
    truth["prior_year"] = year - 1
    truth["prior_missing_departments"] = dept_ids[new_dept].tolist()

    # ---------------- ground truth ----------------
    def sel(mask: np.ndarray) -> list[str]:
        return kpi_ids[mask].tolist()

    truth.update({
        "normal_gap_range": list(NORMAL_GAP),
        "easy_gap_range": list(EASY_GAP),
        "easy_kpis": sel(easy),
        "regressive_kpis": sel(regressive),
        "normal_target_kpis": sel(normal),
        "band_kpis": sel(band),
        "no_history_kpis": sel((hcat == 4) | (hcat == 5)),
        "no_history_rows_absent_kpis": sel(hcat == 4),
        "no_history_rows_nan_kpis": sel(hcat == 5),
        "short_history_kpis": sel(hcat == 3),
        "gap_kpis": sel(is_gap),
        "easy_heavy_departments": dept_ids[eh_depts].tolist(),
        "gaming_departments": dept_ids[game_depts].tolist(),
        "gaming_kpis": sel(k_in_game),
        "gaming_achievement_range": [1.0, 1.03],
        "missing_actual_kpis": kpi_ids[miss].tolist(),
        "unverified_kpis": kpi_ids[unver].tolist(),
        "h1_target_rule": {"same_as_annual": ["%", "점", "일", "band"],
                           "about_half_of_annual": ["건", "명", "억원", "개소"], "half_share_range": [0.45, 0.55]},
        "no_final_round_departments": dept_ids[no_final].tolist(),
    })
    out = {name: tables.pop(name) for name in TABLES}
    truth["counts"] = {name: len(df) for name, df in out.items()}
    truth["counts"].update({
        "core_projects": int(is_core.sum()), "institution_kpis": int(k_is_inst.sum()),
        "department_kpis": int((~k_is_inst).sum()), "eligible_for_easy": n_eligible,
    })
    log.info("sample generated: year %d, seed %d, scale %g, %d KPIs", year, seed, scale, n_kpi)
    return out, truth


# ---------------------------------------------------------------------------------------
# public API
# ---------------------------------------------------------------------------------------
def generate(year: int = DEFAULT_YEAR, seed: int = DEFAULT_SEED, scale: float = 1.0, *,
             scheme: Scheme | None = None) -> BSCData:
    """Generate the synthetic BSC dataset in canonical form.

    Parameters
    ----------
    year
        Evaluation year; history covers the four years before it, organisation data the
        year before and the year itself.
    seed
        Seed of the random generator (``numpy.random.default_rng`` streams spawned from it).
    scale
        Size factor: 1 gives Seoul 2019 (45 institutions, 248 departments, 450 projects,
        697 KPIs); other values scale those counts proportionally (rounded).
    scheme
        Scheme whose items, scales, cooperation points and perspectives are used
        (default: the shipped 2019 scheme).

    Returns
    -------
    BSCData
        One canonical DataFrame per table of :data:`bsc_lib.data.model.TABLES`, columns in
        model order with the dtypes of :func:`bsc_lib.data.model.pandas_dtype`:
        ``institutions`` (institution_id, name_ko, name_en, inst_type),
        ``departments`` (department_id, institution_id, name_ko, name_en,
        consulting_participated), ``plan_tasks``, ``strategic_goals``,
        ``performance_goals``, ``projects``, ``project_tasks``, ``kpis``, ``kpi_history``,
        ``kpi_results``, ``pre_eval_ratings``, ``qualitative_ratings``,
        ``evaluator_scores``, ``cooperation_scores``, ``integrity``, ``people`` and
        ``org_management`` (see the model for each table's columns).

    Raises
    ------
    ValueError
        If ``year``, ``seed`` or ``scale`` is out of range.
    """
    tables, _ = _build(year, seed, scale, scheme)
    return BSCData(tables=tables, source=f"synthetic:bsc_lib.data.sample(year={year}, seed={seed}, scale={scale:g})")


def planted(year: int = DEFAULT_YEAR, seed: int = DEFAULT_SEED, scale: float = 1.0, *,
            scheme: Scheme | None = None) -> dict:
    """The ground truth of the effects planted by :func:`generate` with the same arguments.

    Parameters
    ----------
    year, seed, scale, scheme
        As for :func:`generate`.

    Returns
    -------
    dict
        JSON-serialisable. Keys include ``easy_kpis``, ``regressive_kpis``,
        ``normal_target_kpis``, ``no_history_kpis``, ``short_history_kpis``, ``gap_kpis``,
        ``band_kpis``, ``easy_heavy_departments``, ``gaming_departments``, ``gaming_kpis``,
        ``missing_actual_kpis``, ``unverified_kpis``, ``lenient_rater``, ``harsh_rater``,
        ``expert_offsets``, ``unmapped_tasks``, ``acrc_tied_value``,
        ``acrc_tied_departments``, ``no_consulting_departments``,
        ``kpi_challenge_spearman``, ``counts`` and the plant parameters
        (``normal_gap_range``, ``easy_gap_range``, ``h1_target_rule`` …).
    """
    _, truth = _build(year, seed, scale, scheme)
    return truth


def _csv_frame(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    for c in out.columns:
        dt = out[c].dtype
        if dt == "bool" or str(dt) == "boolean":
            out[c] = out[c].map({True: "true", False: "false"}).astype(object)
    return out


def write_sample(outdir: str | Path, year: int = DEFAULT_YEAR, seed: int = DEFAULT_SEED, scale: float = 1.0,
                 *, scheme: Scheme | None = None) -> Path:
    """Write the sample as one UTF-8 CSV per table plus the planted ground truth.

    Files: ``outdir/<table>.csv`` for every table of :data:`bsc_lib.data.model.TABLES`
    (canonical English column names, booleans ``true``/``false``, missing values
    empty, floats in shortest round-trip form, ``\\n`` line ends) and
    ``outdir.parent / f"planted-{year}.json"``. The output is byte-for-byte
    deterministic for given arguments.

    Parameters
    ----------
    outdir
        Folder for the CSV files (created if needed).
    year, seed, scale, scheme
        As for :func:`generate`.

    Returns
    -------
    Path
        ``outdir``.
    """
    outdir = Path(outdir)
    tables, truth = _build(year, seed, scale, scheme)
    outdir.mkdir(parents=True, exist_ok=True)
    for name, df in tables.items():
        _csv_frame(df).to_csv(outdir / f"{name}.csv", index=False, lineterminator="\n", na_rep="",
                              encoding="utf-8")
    text = json.dumps(truth, ensure_ascii=False, indent=1) + "\n"
    (outdir.parent / f"planted-{truth['year']}.json").write_text(text, encoding="utf-8")
    log.info("sample written to %s", outdir)
    return outdir
