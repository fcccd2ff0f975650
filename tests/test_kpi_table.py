"""Tests of bsc_lib.data.io.kpi_table: reading real-data-like KPI tables (wide xlsx, long CP949 CSV)
into the canonical frames, cell parsing, errors, and the end-to-end run of kpi_difficulty."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
import yaml

from bsc_lib.analyses.difficulty import kpi_difficulty
from bsc_lib.data.io.kpi_table import KPITable, parse_numbers, read_kpi_table
from bsc_lib.errors import DataError

DATA = Path(__file__).parent / "data" / "kpi_table"
WIDE = DATA / "riverton_performance_measures.xlsx"
LONG = DATA / "gu_kpi_long_cp949.csv"


def _mapping(name: str) -> dict:
    return yaml.safe_load((DATA / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def wide() -> KPITable:
    return read_kpi_table(WIDE, _mapping("riverton_mapping.yaml"))


@pytest.fixture(scope="module")
def long() -> KPITable:
    return read_kpi_table(LONG, _mapping("gu_mapping.yaml"))


def _hist(t: KPITable, kpi: str) -> list[float]:
    h = t.history[t.history["kpi_id"] == kpi].sort_values("year")
    return h["actual"].tolist()


def _nan_eq(a: list[float], b: list[float]) -> bool:
    return len(a) == len(b) and all((math.isnan(x) and math.isnan(y)) or x == y for x, y in zip(a, b, strict=True))


# --------------------------------------------------------------------------- wide xlsx


def test_wide_canonical_frames(wide):
    k = wide.kpis
    assert list(k.columns) == ["kpi_id", "owner_id", "level", "project_id", "name_ko", "unit", "polarity",
                               "band_low", "band_high", "kpi_type", "weight"]
    assert len(k) == 12  # the footnote row is skipped
    pol = k.set_index("kpi_id")["polarity"].to_dict()
    # Up, Lower is better, Down, Higher is better, Within range (mapping), +, − (Unicode minus)
    assert (pol["PW-01"], pol["PD-01"], pol["PD-02"], pol["LIB-01"], pol["FIN-01"], pol["TR-01"], pol["EN-01"]) == (
        "up", "down", "down", "up", "band", "up", "down")
    # equal weights per owner summing to 100: Public Works has 2 KPIs, Parks 1
    w = k.set_index("kpi_id")["weight"]
    assert w["PW-01"] == 50.0 and w["PR-01"] == 100.0
    assert k.groupby("owner_id")["weight"].sum().eq(100.0).all()
    assert (k["kpi_type"] == "outcome").all() and (k["level"] == "department").all()
    assert list(wide.history.columns) == ["kpi_id", "year", "actual"]
    assert wide.history["year"].dtype == "int64" and wide.history["actual"].dtype == "float64"
    assert list(wide.results.columns) == ["kpi_id", "year", "half", "target", "actual", "verified"]
    assert wide.sheet == "Measures"


def test_wide_cell_parsing(wide):
    assert _hist(wide, "PW-02") == [1200, 1260, 1290, 1350]           # "1,200" …
    assert _hist(wide, "HR-01")[:2] == [85, 88] and math.isnan(_hist(wide, "HR-01")[2])  # "85%", "n/a"
    assert _hist(wide, "PR-01") == [0, 0, 0, 0]                         # zero kept
    assert _nan_eq(_hist(wide, "LIB-01"), [500, np.nan, 520, 530])      # "NA"
    assert _nan_eq(_hist(wide, "LIB-02"), [np.nan, np.nan, 1000, 1500])  # blank cells
    assert _nan_eq(_hist(wide, "CS-01"), [70, 72, np.nan, 76])          # "see note 2" → NaN + problem
    r = wide.results.set_index("kpi_id")
    assert r.loc["EN-01", "target"] == 47000 and r.loc["HR-01", "target"] == 88
    assert r.loc["PW-02", "actual"] == 1420 and math.isnan(r.loc["PD-02", "actual"])
    assert (r["year"] == 2019).all() and (r["half"] == "H2").all() and r["verified"].all()
    probs = wide.reasons
    bad = probs[probs["rule"] == "not_a_number"]
    # header on row 4 → CS-01 (10th measure) is row 14; FY2017 is its header
    assert bad[["row", "column", "value"]].values.tolist() == [[14, "FY2017", "see note 2"]]
    skipped = probs[probs["rule"] == "skipped_row"]
    assert skipped["row"].tolist() == [18]


def test_wide_end_to_end_flags_planted(wide):
    d = kpi_difficulty(**wide).set_index("kpi_id")
    # planted (hand calculation, x = year − 2019):
    #   PW-02 up 1200, 1260, 1290, 1350: ȳ 1275, Sxy = 1.5·75 + 0.5·15 + 0.5·15 + 1.5·75 = 240, b 48,
    #         F = 1275 + 48·2.5 = 1395; target 1300 → gap −95/1395; 1300 < 1350 → regressive
    #   PD-01 down 9.0 … 8.4 (exact line, −0.2/yr): F 8.2; target 8.5 → gap (8.2 − 8.5)/8.2; regressive
    #   HR-01 up 85 (2015), 88 (2016), 90 (2018): x̄ −8/3, ȳ 263/3, Sxx 42/9, Sxy 66/9 → b 11/7,
    #         F = 263/3 + (11/7)(8/3) = 1929/21; target 88 → gap (1848 − 1929)/1929 = −81/1929; regressive
    #   EN-01 down 52000 … 47500 (−1500/yr): F 46000; target 47000 → gap −1000/46000 (easy, not regressive)
    # not easy: TR-01 up 88, 87, 89, 90: b 0.8, F 90.5, gap −0.5/90.5 = −0.55 % (inside the 2 % margin)
    #   LIB-01 up 500, 520, 530 at x −4, −2, −1: b 10, F 540, gap 5/540
    assert d.loc["PW-02", "gap"] == pytest.approx(-95 / 1395)
    assert d.loc["PD-01", "gap"] == pytest.approx(-0.3 / 8.2)
    assert d.loc["HR-01", "trend_forecast"] == pytest.approx(1929 / 21)
    assert d.loc["HR-01", "gap"] == pytest.approx(-81 / 1929)
    assert d.loc["EN-01", "gap"] == pytest.approx(-1 / 46)
    assert d.loc["TR-01", "gap"] == pytest.approx(-0.5 / 90.5)
    assert d.loc["LIB-01", "gap"] == pytest.approx(5 / 540)
    assert set(d.index[d["easy"]]) == {"PW-02", "PD-01", "HR-01", "EN-01"}
    assert set(d.index[d["regressive"]]) == {"PW-02", "PD-01", "HR-01"}
    # not assessable: LIB-02 (2 points), PR-01 (forecast 0), FIN-01 (band)
    assert set(d.index[~d["assessable"]]) == {"LIB-02", "PR-01", "FIN-01"}


# --------------------------------------------------------------------------- long CP949 CSV


def test_long_cp949_canonical_frames(long):
    k = long.kpis.set_index("kpi_id")
    assert len(k) == 9
    assert k.loc["K02", "name_ko"] == "불법주정차 단속 건수" and k.loc["K04", "unit"] == "㎍/㎥"
    assert k.loc["K08", "polarity"] == "down"   # 낮을수록 좋음
    assert k.loc["K05", "polarity"] == "band"   # 목표구간
    assert k.loc["K02", "owner_id"] == "교통행정과" and k.loc["K02", "weight"] == 50.0
    assert _hist(long, "K02") == [12000, 12500, 13100, 13600]
    assert _nan_eq(_hist(long, "K08"), [3.0, np.nan, 2.6, 2.5])
    assert _hist(long, "K06") == [75]
    assert (long.history["year"] < 2019).all()
    r = long.results.set_index("kpi_id")
    assert r.loc["K02", "target"] == 13000 and r.loc["K03", "target"] == 30  # the 2020 row is ignored
    assert math.isnan(r.loc["K01", "actual"])  # the 2019 rows carry no actual
    probs = long.reasons.set_index("rule")
    # title on row 1, header row 2; K09's 2018 row is line 43, the 2020 row line 45
    assert probs.loc["not_a_number", "row"] == 43 and probs.loc["not_a_number", "value"] == "집계중"
    assert probs.loc["after_target_year", "row"] == 45


def test_long_end_to_end_flags_planted(long):
    d = kpi_difficulty(**long).set_index("kpi_id")
    # K02 up: ȳ 12800, Sxy = 1.5·800 + 0.5·300 + 0.5·300 + 1.5·800 = 2700, b 540, F 14150;
    #     target 13000 → gap −1150/14150; 13000 < 13600 → regressive
    # K04 down 48, 44, 41, 39: ȳ 43, Sxy = −15, b −3, F 35.5; target 40 → gap −4.5/35.5; regressive
    # K08 down 3.0, 2.6, 2.5 at x −4, −2, −1: ȳ 2.7, Sxy −0.8, Sxx 42/9 → b −0.8·9/42, F = 2.7 − 0.4 = 2.3;
    #     target 2.4 → gap −0.1/2.3 (easy; 2.4 < 2.5 so not regressive)
    # K09 up 10, 11, 12 ("집계중" dropped): F 14; target 13 → gap −1/14 (13 > last 12: not regressive)
    # K07 up 0, 0, 120, 300: ȳ 105, Sxy = 1.5·105 + 0.5·105 + 0.5·15 + 1.5·195 = 510, b 102, F 360;
    #     target 400 → gap 40/360 > 0.10 → hard
    assert d.loc["K02", "gap"] == pytest.approx(-1150 / 14150)
    assert d.loc["K04", "gap"] == pytest.approx(-4.5 / 35.5)
    assert d.loc["K08", "trend_forecast"] == pytest.approx(2.3)
    assert d.loc["K08", "gap"] == pytest.approx(-0.1 / 2.3)
    assert d.loc["K09", "gap"] == pytest.approx(-1 / 14)
    assert d.loc["K07", "gap"] == pytest.approx(40 / 360)
    assert set(d.index[d["easy"]]) == {"K02", "K04", "K08", "K09"}
    assert set(d.index[d["regressive"]]) == {"K02", "K04"}
    assert set(d.index[d["hard"]]) == {"K07"}
    assert math.isnan(d.loc["K07", "cagr"])  # starts at 0
    assert set(d.index[~d["assessable"]]) == {"K05", "K06"}


def test_input_files_are_never_written(tmp_path):
    before = {p: (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns) for p in (WIDE, LONG)}
    read_kpi_table(WIDE, _mapping("riverton_mapping.yaml"))
    read_kpi_table(LONG, _mapping("gu_mapping.yaml"))
    after = {p: (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns) for p in (WIDE, LONG)}
    assert before == after


def test_kpitable_is_a_mapping(long):
    assert list(long) == ["kpis", "history", "results"]
    assert set(dict(**long)) == {"kpis", "history", "results"}
    with pytest.raises(KeyError):
        long["problems"]


# --------------------------------------------------------------------------- errors


def test_unknown_mapped_column_names_file_sheet_column_and_headers():
    m = _mapping("riverton_mapping.yaml")
    m["columns"]["target"] = "FY2019 Budget Target"
    with pytest.raises(DataError) as ei:
        read_kpi_table(WIDE, m)
    p = ei.value.problems[0]
    assert p.file.endswith("riverton_performance_measures.xlsx") and p.sheet == "Measures"
    assert p.column == "FY2019 Budget Target" and p.rule == "unknown_column"
    assert "FY2019 Target" in p.message and "Measure ID" in p.message


def test_missing_sheet_and_file():
    m = _mapping("riverton_mapping.yaml")
    m["sheet"] = "성과지표"
    with pytest.raises(DataError, match="Cover"):
        read_kpi_table(WIDE, m)
    with pytest.raises(DataError, match="file not found"):
        read_kpi_table(DATA / "nope.csv", _mapping("gu_mapping.yaml"))
    m = _mapping("riverton_mapping.yaml") | {"header_row": 3}  # row 3 of the sheet is blank
    with pytest.raises(DataError, match="header row 3 is empty"):
        read_kpi_table(WIDE, m)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"format": "diagonal"}, "format"),
        ({"colour": "red"}, "unknown key"),
        ({"target_year": "next"}, "target_year"),
        ({"years": {2019: "FY2019 Target"}}, "not before target_year"),
        ({"columns": {"name": "Measure", "direction": "Direction", "target": "FY2019 Target"}}, "kpi_id"),
        ({"direction_values": {"Up": "sideways"}}, "not up/down/band"),
        ({"header_row": 0}, "header_row"),
    ],
)
def test_malformed_mapping_is_a_value_error(change, message):
    m = _mapping("riverton_mapping.yaml") | change
    with pytest.raises(ValueError, match=message):
        read_kpi_table(WIDE, m)


def _write_csv(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def test_duplicates_are_data_errors(tmp_path):
    wide = _write_csv(tmp_path / "w.csv", "id,dir,y1,t\nA,up,1,2\nA,up,3,4\n")
    mw = {"format": "wide", "columns": {"kpi_id": "id", "direction": "dir", "target": "t"},
          "years": {2018: "y1"}, "target_year": 2019}
    with pytest.raises(DataError) as ei:
        read_kpi_table(wide, mw)
    assert [p.row for p in ei.value.problems] == [2, 3]
    longf = _write_csv(tmp_path / "l.csv", "id,dir,year,v\nA,up,2018,1\nA,up,2018,2\n")
    ml = {"format": "long", "columns": {"kpi_id": "id", "direction": "dir", "year": "year", "actual": "v"},
          "target_year": 2019}
    with pytest.raises(DataError, match="more than one row"):
        read_kpi_table(longf, ml)


# --------------------------------------------------------------------------- parsing details


def test_parse_numbers():
    s = pd.Series(["NA", "n/a", "-", "", "1,234", "12%", "0", "(12)", "△3", "\u22125", "abc", "1e3", " 7 ",
                   "12.5 %", "inf"])
    val, bad = parse_numbers(s)
    expected = [np.nan, np.nan, np.nan, np.nan, 1234, 12, 0, -12, -3, -5, np.nan, 1000, 7, 12.5, np.nan]
    assert _nan_eq(val.tolist(), expected)
    assert bad.tolist() == [False] * 10 + [True] + [False] * 3 + [True]


def test_long_without_target_column_uses_target_year_row(tmp_path):
    # BOM-prefixed UTF-8, detected without an 'encoding' key; the 2019 row's value is the target
    f = _write_csv(tmp_path / "l.csv",
                   "code,direction,year,value\nA,상향,2016,1\nA,상향,2017,2\nA,상향,2018,4\nA,상향,2019,5\n"
                   "B,,2018,3\nB,,2019,2\n", encoding="utf-8-sig")
    m = {"format": "long", "columns": {"kpi_id": "code", "direction": "direction", "year": "year", "actual": "value"},
         "target_year": 2019, "default_direction": "down"}
    t = read_kpi_table(f, m)
    r = t.results.set_index("kpi_id")
    assert r.loc["A", "target"] == 5 and r.loc["B", "target"] == 2
    assert r["actual"].isna().all()
    assert t.kpis.set_index("kpi_id")["polarity"].to_dict() == {"A": "up", "B": "down"}
    assert t.kpis["owner_id"].eq("all").all() and t.kpis["weight"].eq(50.0).all()


def test_cp949_detected_without_encoding_and_normalised_headers(tmp_path):
    f = _write_csv(tmp_path / "k.csv", "지표 ID,방향,2018년 실적,2019년 목표\nK1,하향,10,9\n", encoding="cp949")
    m = {"format": "wide", "columns": {"kpi_id": "지표ID", "direction": "방향", "target": "2019년목표"},
         "years": {2018: "2018년 실적"}, "target_year": 2019}
    t = read_kpi_table(f, m)
    assert t.kpis.loc[0, "polarity"] == "down" and t.results.loc[0, "target"] == 9
    assert t.kpis.loc[0, "name_ko"] == "K1"  # no name column → the id


def test_directions_kpi_types_weights_and_problems(tmp_path):
    f = _write_csv(tmp_path / "k.csv",
                   "id,name,dir,type,w,y,t\n"
                   "A,a,↑,산출,60,1,2\n"
                   "B,b,sideways,결과,40,1,2\n"
                   "C,c,Neutral,mystery,x,1,2\n"
                   "D,d,Down,,,1,\n")
    m = {"format": "wide", "target_year": 2019, "years": {2018: "y"},
         "columns": {"kpi_id": "id", "name": "name", "direction": "dir", "kpi_type": "type", "weight": "w",
                     "target": "t"},
         "direction_values": {"Neutral": None}}
    t = read_kpi_table(f, m)
    k = t.kpis.set_index("kpi_id")
    assert k.loc["A", "polarity"] == "up" and k.loc["A", "kpi_type"] == "output"
    assert pd.isna(k.loc["B", "polarity"]) and pd.isna(k.loc["C", "polarity"])
    assert k.loc["B", "kpi_type"] == "outcome" and pd.isna(k.loc["C", "kpi_type"])
    assert k.loc["D", "kpi_type"] == "outcome"  # blank → default
    assert k.loc["A", "weight"] == 60 and math.isnan(k.loc["C", "weight"])
    rules = t.reasons.set_index(["rule", "row"])
    assert ("unknown_direction", 3) in rules.index and ("unknown_direction", 4) in rules.index
    assert ("unknown_kpi_type", 4) in rules.index and ("not_a_number", 4) in rules.index
    assert "no_target" in set(t.reasons["rule"])
    d = kpi_difficulty(**t).set_index("kpi_id")  # unknown polarity → NaN gap with reason, no crash
    assert "unknown polarity" in d.loc["B", "reason"]


def test_xlsx_percent_format_read_as_shown(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["id", "dir", "y2018", "target"])
    ws.append(["A", "up", 0.85, 0.9])
    ws["C2"].number_format = "0%"
    ws["D2"].number_format = "0.0%"
    ws.append([101, "down", 3, 2])  # numeric id → "101"
    f = tmp_path / "p.xlsx"
    wb.save(f)
    m = {"format": "wide", "columns": {"kpi_id": "id", "direction": "dir", "target": "target"},
         "years": {2018: "y2018"}, "target_year": 2019, "sheet": 0}
    t = read_kpi_table(f, m)
    assert t.history.set_index("kpi_id").loc["A", "actual"] == pytest.approx(85.0)
    assert t.results.set_index("kpi_id").loc["A", "target"] == pytest.approx(90.0)
    assert t.kpis["kpi_id"].tolist() == ["A", "101"]


# --------------------------------------------------------------------------- real published tables (issue 14)


def test_na_in_the_agency_column_is_an_unassigned_owner_with_a_problem(tmp_path):
    # a city's published table: unowned KPIs carry "NA" (or "-", or nothing) in the agency column
    f = _write_csv(tmp_path / "city.csv",
                   "Measure ID,Measure,Agency,Direction,FY2018,FY2019 Target\n"
                   "M1,Potholes filled,DOT,up,10,12\n"
                   "M2,Noise complaints,NA,down,5,4\n"
                   "M3,Trees planted,-,up,7,8\n"
                   "M4,Library visits,,up,1,2\n"
                   "M5,Unit cost,N/A,down,3,3\n")
    m = {"format": "wide", "target_year": 2019, "years": {2018: "FY2018"},
         "columns": {"kpi_id": "Measure ID", "name": "Measure", "owner": "Agency", "direction": "Direction",
                     "target": "FY2019 Target"}}
    t = read_kpi_table(f, m)
    owners = t.kpis.set_index("kpi_id")["owner_id"].to_dict()
    assert owners == {"M1": "DOT", "M2": "unassigned", "M3": "unassigned", "M4": "unassigned", "M5": "unassigned"}
    assert "NA" not in owners.values()
    r = t.reasons
    no_owner = r[r["rule"] == "no_owner"]
    assert no_owner["row"].tolist() == [3, 4, 5, 6] and set(no_owner["column"]) == {"Agency"}
    assert "M2" in no_owner["message"].iloc[0] and "'unassigned'" in no_owner["message"].iloc[0]
    # equal weights per owner: DOT's one KPI 100, the four unassigned 25 each
    w = t.kpis.set_index("kpi_id")["weight"]
    assert w["M1"] == 100.0 and w["M2"] == 25.0


def test_missing_tokens_in_text_columns_and_invisible_characters_in_ids(tmp_path):
    f = _write_csv(tmp_path / "k.csv",
                   "id,name,unit,dir,y,t\n"
                   "A\u200b,NA,-,up,1,2\n"      # a zero-width space after the id (pasted from the web)
                   "\ufeffB,b,㎍/㎥,down,1,2\n")
    m = {"format": "wide", "target_year": 2019, "years": {2018: "y"},
         "columns": {"kpi_id": "id", "name": "name", "unit": "unit", "direction": "dir", "target": "t"}}
    t = read_kpi_table(f, m)
    k = t.kpis.set_index("kpi_id")
    assert list(k.index) == ["A", "B"]
    assert k.loc["A", "name_ko"] == "A" and k.loc["A", "unit"] == ""  # NA name → the id; "-" unit → none
    assert k.loc["B", "unit"] == "㎍/㎥"  # free text keeps its compatibility characters


def test_rates_follow_the_engines_one_rule_for_zero_targets(tmp_path):
    """Hand-checked against the table of achievement_rate: down T=0 A=0 → 1 (met exactly),
    down T=0 A>0 → −inf (unbounded below), up T=0 A>0 → +inf, up T=0 A=0 → 1, down T=4 A=5 → 0.8."""
    f = _write_csv(tmp_path / "z.csv",
                   "id,dir,y,t,a\n"
                   "D00,down,1,0,0\n"
                   "D01,down,1,0,3\n"
                   "U10,up,1,0,2\n"
                   "U00,up,1,0,0\n"
                   "D45,down,9,4,5\n"
                   "X,up,1,,1\n")
    m = {"format": "wide", "target_year": 2019, "years": {2018: "y"},
         "columns": {"kpi_id": "id", "direction": "dir", "target": "t", "actual": "a"}}
    t = read_kpi_table(f, m)
    rate = t.rates.set_index("kpi_id")["rate"]
    assert rate["D00"] == 1.0 and rate["U00"] == 1.0
    assert rate["D01"] == -np.inf and rate["U10"] == np.inf
    assert rate["D45"] == pytest.approx(0.8)
    assert math.isnan(rate["X"])
    assert list(t.rates.columns) == ["kpi_id", "year", "half", "polarity", "target", "actual", "rate"]
    # the difficulty analyses give the same rates (one rule)
    from bsc_lib.analyses.difficulty import achievement_rates

    same = achievement_rates(t.results, t.kpis.set_index("kpi_id")["polarity"].reindex(t.results["kpi_id"]))
    np.testing.assert_array_equal(same.to_numpy(), t.rates["rate"].to_numpy())
