"""Regenerate the example KPI tables of this folder (run by hand; the files are checked in).

    .venv/bin/python tests/data/kpi_table/make_examples.py

* ``riverton_performance_measures.xlsx`` — a (fictitious) US city's published performance
  measures report: wide, FY columns, a title block above the header (header on row 4), a
  cover sheet before the data sheet, "NA"/blank/0/text/"85%"/"1,200" cells, a footnote row.
* ``gu_kpi_long_cp949.csv`` — a (fictitious) Seoul district's KPI actuals in long form, CP949,
  Korean headers, a title line above the header, "2015년" year cells, a "집계중" text cell,
  a 2020 row after the target year.

The planted easy / regressive KPIs and the hand calculations are in tests/test_kpi_table.py.
"""

from __future__ import annotations

import csv
from pathlib import Path

import openpyxl

HERE = Path(__file__).parent

WIDE_HEADER = ["Dept", "Measure ID", "Measure", "Unit", "Direction",
               "FY2015", "FY2016", "FY2017", "FY2018", "FY2019 Target", "FY2019 Actual"]
WIDE_ROWS = [
    ["Public Works", "PW-01", "Potholes repaired within 48 hours", "%", "Up", 80, 83, 84, 86, 95, 93],
    ["Public Works", "PW-02", "Street lights repaired", "count", "Up", "1,200", "1,260", "1,290", "1,350", "1,300", "1,420"],
    ["Police", "PD-01", "Priority 1 response time", "minutes", "Lower is better", 9.0, 8.8, 8.6, 8.4, 8.5, 8.3],
    ["Police", "PD-02", "Traffic fatalities", "persons", "Down", 30, 28, 27, 25, 22, "NA"],
    ["Library", "LIB-01", "Library visits", "thousands", "Higher is better", 500, "NA", 520, 530, 545, None],
    ["Library", "LIB-02", "E-book loans", "loans", "Up", None, None, 1000, 1500, 2000, None],
    ["Parks", "PR-01", "New park acreage opened", "acres", "Up", 0, 0, 0, 0, 10, None],
    ["Human Resources", "HR-01", "Staff training completion", "%", "Up", "85%", "88%", "n/a", "90%", "88%", None],
    ["Finance", "FIN-01", "General fund budget variance", "%", "Within range", 2.1, 1.8, 2.4, 1.9, 2.0, None],
    ["Customer Service", "CS-01", "311 calls answered within 30 seconds", "%", "Up", 70, 72, "see note 2", 76, 80, None],
    ["Transit", "TR-01", "Bus on-time performance", "%", "+", 88, 87, 89, 90, 90, None],
    ["Environment", "EN-01", "Waste sent to landfill", "tons", "\u2212", "52,000", "50,500", "49,000", "47,500", "47,000", None],
]


def make_wide() -> None:
    wb = openpyxl.Workbook()
    cover = wb.active
    cover.title = "Cover"
    cover.append(["City of Riverton — Performance Measures Report, FY2019 Adopted Budget"])
    cover.append(["Fictitious example data for bsc-workbench tests."])
    ws = wb.create_sheet("Measures")
    ws.append(["City of Riverton — Key Performance Measures"])
    ws.append(["Source: Office of Performance Management (fictitious example)"])
    ws.append([])
    ws.append(WIDE_HEADER)
    for row in WIDE_ROWS:
        ws.append(row)
    ws.append([])
    ws.append(["Note: NA = not available. 2) 311 system migration in FY2017, no data."])
    wb.save(HERE / "riverton_performance_measures.xlsx")


LONG_HEADER = ["지표코드", "지표명", "소관부서", "방향", "단위", "연도", "실적", "목표"]
_LONG = {
    # id: (name, owner, direction, unit, {year: actual}, target 2019)
    "K01": ("민원처리 기간 준수율", "민원여권과", "상향", "%", {2015: 90, 2016: 91, 2017: 93, 2018: 94}, 97),
    "K02": ("불법주정차 단속 건수", "교통행정과", "상향", "건", {2015: "12,000", 2016: "12,500", 2017: "13,100", 2018: "13,600"}, "13,000"),
    "K03": ("교통사고 사망자 수", "교통행정과", "하향", "명", {2015: 40, 2016: 38, 2017: 35, 2018: 33}, 30),
    "K04": ("미세먼지 연평균 농도", "환경과", "하향", "㎍/㎥", {2015: 48, 2016: 44, 2017: 41, 2018: 39}, 40),
    "K05": ("주민참여예산 비율", "기획예산과", "목표구간", "%", {2015: 4.8, 2016: 5.1, 2017: 5.0, 2018: 4.9}, 5.0),
    "K06": ("신규 문화사업 만족도", "문화체육과", "상향", "점", {2018: 75}, 80),
    "K07": ("공공자전거 이용 건수", "자전거정책과", "상향", "천건", {2015: 0, 2016: 0, 2017: 120, 2018: 300}, 400),
    "K08": ("하천 수질(BOD)", "환경과", "낮을수록 좋음", "mg/L", {2015: 3.0, 2016: "-", 2017: 2.6, 2018: 2.5}, 2.4),
    "K09": ("주민자치회 운영 건수", "자치행정과", "상향", "건", {2015: 10, 2016: 11, 2017: 12, 2018: "집계중"}, 13),
}


def make_long() -> None:
    path = HERE / "gu_kpi_long_cp949.csv"
    with path.open("w", encoding="cp949", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["○○구 성과지표 실적 및 목표 (예시 자료)"])
        w.writerow(LONG_HEADER)
        for kid, (name, owner, direction, unit, actuals, target) in _LONG.items():
            for y, a in actuals.items():
                w.writerow([kid, name, owner, direction, unit, f"{y}년", a, ""])
            w.writerow([kid, name, owner, direction, unit, "2019년", "", target])
        w.writerow(["K03", "교통사고 사망자 수", "교통행정과", "하향", "명", "2020년", "", 28])


if __name__ == "__main__":
    make_wide()
    make_long()
