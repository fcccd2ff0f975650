"""Tests of bsc_lib.present.export: formula neutralisation, results.xlsx, CSVs, canonical hashes."""

from __future__ import annotations

import hashlib

import numpy as np
import openpyxl
import pandas as pd
import pytest

from bsc_lib.present.export import (
    canonical_csv_bytes,
    check_table_name,
    column_kind,
    neutralise_formulas,
    neutralise_text,
    table_sha256,
    table_summary,
    write_csvs,
    write_results_xlsx,
)


def _tables() -> dict[str, pd.DataFrame]:
    units = pd.DataFrame({
        "unit_id": ["D1", "D2", "D3"],
        "dept": ["도시계획과", "=1+2", "<script>alert(1)</script>"],
        "points": [12.5, 17.25, np.nan],
        "achievement_rate": [0.625, 0.8625, 1.2],
        "n_kpis": pd.array([3, 4, 5], dtype="int64"),
    })
    empty = pd.DataFrame({"unit_id": pd.Series(dtype="str"), "points": pd.Series(dtype="float64")})
    return {"unit_points": units, "empty": empty}


# --- neutralisation -------------------------------------------------------------------------


def test_neutralise_text_prefixes_every_formula_start_and_nothing_else():
    s = pd.Series(["=1+2", "+1", "-1", "@SUM(A1)", "\tx", "\rx", "ok", "a=b", None, ""], dtype=object)
    got = neutralise_text(s).tolist()
    assert got == ["'=1+2", "'+1", "'-1", "'@SUM(A1)", "'\tx", "'\rx", "ok", "a=b", None, ""]


def test_neutralise_leaves_numbers_alone_and_handles_mixed_object_columns():
    df = pd.DataFrame({"x": [-1.0, 2.0], "o": pd.Series([-5, "=HYPERLINK(1)"], dtype=object)})
    out = neutralise_formulas(df)
    assert out["x"].tolist() == [-1.0, 2.0]  # a negative number is not text
    assert out["o"].tolist() == [-5, "'=HYPERLINK(1)"]
    assert df["o"].tolist() == [-5, "=HYPERLINK(1)"]  # input not modified


def test_neutralise_covers_column_names_and_str_dtype():
    df = pd.DataFrame({"=evil": pd.Series(["@x", "y"], dtype="str")})
    out = neutralise_formulas(df)
    assert list(out.columns) == ["'=evil"]
    assert out.iloc[:, 0].tolist() == ["'@x", "y"]


# --- canonical CSV / hashes -----------------------------------------------------------------


def test_canonical_csv_bytes_hand_computed():
    df = pd.DataFrame({"b": [2.0, 1 / 3, -0.0], "a": ["y", "x", "z"]})
    # floats as %.10g: 2 -> "2", 1/3 -> "0.3333333333", -0.0 -> "0"; rows sorted by the text of
    # column b then a: "0" < "0.3333333333" < "2"; header keeps the column order b,a
    expected = b"b,a\n0,z\n0.3333333333,x\n2,y\n"
    assert canonical_csv_bytes(df) == expected
    assert table_sha256(df) == hashlib.sha256(expected).hexdigest()


def test_canonical_hash_ignores_row_order_and_float_noise_but_not_values():
    df = pd.DataFrame({"k": ["a", "b", "c"], "v": [0.1 + 0.2, 1.0, np.nan]})
    shuffled = df.iloc[[2, 0, 1]]
    noisy = df.assign(v=df["v"] + 1e-14)
    changed = df.assign(v=[0.3, 1.0001, np.nan])
    assert table_sha256(df) == table_sha256(shuffled) == table_sha256(noisy)
    assert table_sha256(df) != table_sha256(changed)
    assert table_sha256(df) != table_sha256(df.rename(columns={"v": "w"}))


def test_canonical_named_index_counts_as_a_column_unnamed_does_not():
    df = pd.DataFrame({"k": ["a", "b"], "v": [1, 2]})
    assert canonical_csv_bytes(df.set_index("k")) == canonical_csv_bytes(df)
    assert canonical_csv_bytes(df.set_axis([10, 20])) == canonical_csv_bytes(df)


def test_table_summary_rows_columns_hash():
    t = _tables()
    s = table_summary(t)
    assert s["unit_points"] == {"rows": 3, "columns": 5, "sha256": table_sha256(t["unit_points"])}
    assert s["empty"]["rows"] == 0


def test_unsafe_table_names_and_non_frames_are_rejected():
    for bad in ("../evil", "a/b", "", ".hidden", "x" * 101):
        with pytest.raises(ValueError, match="invalid result table name"):
            check_table_name(bad)
    with pytest.raises(ValueError, match="not a DataFrame"):
        table_summary({"ok": [1, 2]})


# --- column kinds ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "values", "kind"),
    [
        ("achievement_rate", [0.5, 1.2], "rate"),
        ("share", [0.1], "rate"),
        ("rate", [50.0, 120.0], "points"),  # a percentage number, not a fraction
        ("points", [0.5], "points"),
        ("n_kpis", [1, 2], "int"),
        ("verified", [True, False], "bool"),
        ("name", ["x"], "text"),
        ("separate", [0.5], "points"),  # 'rate' only as a whole token
    ],
)
def test_column_kind(name, values, kind):
    assert column_kind(name, pd.Series(values)) == kind


# --- results.xlsx ---------------------------------------------------------------------------


def test_write_results_xlsx_formatting(tmp_path):
    path = write_results_xlsx(_tables(), tmp_path / "results.xlsx", lang="ko")
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["unit_points", "empty"]
    ws = wb["unit_points"]
    # Korean headers from bsc_lib.present.labels; "dept" has no label and keeps its name
    assert [c.value for c in ws[1]] == ["평가대상ID", "dept", "점수", "achievement_rate", "지표 수"]
    assert ws.freeze_panes == "A2"
    assert ws.auto_filter.ref == "A1:E4"
    assert ws["B3"].value == "'=1+2" and ws["B3"].data_type == "s"
    assert ws["B4"].value == "<script>alert(1)</script>"
    assert ws["C2"].value == 12.5 and ws["C2"].number_format == "0.00"
    assert ws["C4"].value is None  # NaN -> blank
    assert ws["D2"].number_format == "0.0%"
    assert ws["E2"].value == 3 and ws["E2"].number_format == "0"
    assert ws["A1"].font.b
    # dept: widest value is "<script>alert(1)</script>" = 25 chars + 2 padding = 27
    # (xlsxwriter stores width + 0.71 for the default font)
    assert 27 <= ws.column_dimensions["B"].width < 28
    empty = wb["empty"]
    assert [c.value for c in empty[1]] == ["평가대상ID", "점수"]
    assert empty.auto_filter.ref == "A1:B1" and empty.max_row == 1


def test_write_results_xlsx_korean_width_and_english_headers(tmp_path):
    df = pd.DataFrame({"dept": ["도시계획과", "x"], "points": [1.0, 2.0]})
    path = write_results_xlsx({"t": df}, tmp_path / "r.xlsx", lang="en")
    ws = openpyxl.load_workbook(path)["t"]
    assert [c.value for c in ws[1]] == ["dept", "Points"]
    # "도시계획과": 5 wide characters count 10, + 2 padding = 12
    assert 12 <= ws.column_dimensions["A"].width < 13


def test_write_results_xlsx_neutralises_headers_and_rejects_bad_lang(tmp_path):
    df = pd.DataFrame({"=cmd|' /C calc'!A0": [1]})
    ws = openpyxl.load_workbook(write_results_xlsx({"t": df}, tmp_path / "r.xlsx"))["t"]
    assert ws["A1"].value == "'=cmd|' /C calc'!A0" and ws["A1"].data_type == "s"
    with pytest.raises(ValueError, match="lang"):
        write_results_xlsx({"t": df}, tmp_path / "r2.xlsx", lang="fr")


# --- CSV ------------------------------------------------------------------------------------


def test_write_csvs_bom_neutralised_full_precision(tmp_path):
    t = {"unit_points": pd.DataFrame({"dept": ["=1+2", "ok"], "points": [1 / 3, 2.0]})}
    (path,) = write_csvs(t, tmp_path / "tables")
    raw = path.read_bytes()
    assert path.name == "unit_points.csv"
    assert raw.startswith(b"\xef\xbb\xbf")
    assert raw.decode("utf-8-sig").splitlines()[1] == "'=1+2,0.3333333333333333"
    back = pd.read_csv(path, encoding="utf-8-sig")
    assert back["points"].iloc[0] == 1 / 3


def test_results_xlsx_readme_sheet_names_in_the_language_and_grade_colours(tmp_path):
    import openpyxl

    tables = {"institutional": pd.DataFrame({"institution_id": ["I1", "I2"], "total": [81.0011, 81.0001],
                                             "rank_overall": [1.0, 2.0], "grade": ["S", "C"]}),
              "close_calls": pd.DataFrame({"unit_id": ["I2"], "margin": [0.001]})}
    for lang, readme, sheet in (("ko", "안내", "기관평가"), ("en", "README", "Institutions")):
        path = write_results_xlsx(tables, tmp_path / f"r-{lang}.xlsx", lang=lang, readme="title")
        wb = openpyxl.load_workbook(path)
        assert wb.sheetnames[0] == readme and wb.sheetnames[1] == sheet
        rows = [[c.value for c in r] for r in wb[readme].iter_rows(min_row=3)]
        assert [r[1] for r in rows[1:]] == ["institutional", "close_calls"] and rows[1][2] == "2"
        ws = wb[sheet]
        assert ws["B2"].number_format == "0.000"  # totals 0.001 apart stay apart
        assert ws["C2"].number_format == "0"  # ranks are integers
        rules = [r for rng in ws.conditional_formatting for r in rng.rules]
        assert {r.formula[0] for r in rules} >= {'"S"', '"A"', '"B"', '"C"'}


@pytest.mark.parametrize("lang", ["ko", "en"])
def test_results_xlsx_code_cells_and_booleans_are_labelled(tmp_path, lang):
    """Cells of code columns read as the report shows them: no main_office / missing_actual /
    core / True in a labelled workbook; grades stay letters (they carry the grade colours);
    ids and free text are untouched."""
    from bsc_lib.present.labels import label
    from bsc_lib.present.notebook import CODE_COLUMNS

    t = pd.DataFrame({
        "unit_id": ["I01", "I02", "I03"],
        "inst_type": ["main_office", "bureau_self", "main_office"],
        "flag": ["missing_actual", None, "missing_actual"],
        "kpi_type": ["core", "core", "not_a_catalogue_code"],
        "grade": ["S", "A", "B"],
        "excluded": [True, False, True],
        "mixed": pd.Series([True, "x", None], dtype=object),
    })
    p = write_results_xlsx({"units": t}, tmp_path / "r.xlsx", lang=lang)
    ws = openpyxl.load_workbook(p).active
    rows = [[c.value for c in r] for r in ws.iter_rows(min_row=2)]
    cells = {str(v) for r in rows for v in r if v is not None}
    for code in ("main_office", "bureau_self", "missing_actual", "core", "True", "False"):
        assert code not in cells, code
    assert rows[0][1] == label("main_office", lang) and rows[1][1] == label("bureau_self", lang)
    assert rows[0][2] == label("missing_actual", lang) and rows[1][2] is None
    assert rows[2][3] == "not_a_catalogue_code"  # a code without a label stays as it is
    assert [r[4] for r in rows] == ["S", "A", "B"]
    assert [r[5] for r in rows] == [label("yes", lang), label("no", lang), label("yes", lang)]
    assert rows[0][6] == label("yes", lang) and rows[1][6] == "x"
    assert [r[0] for r in rows] == ["I01", "I02", "I03"]
    assert {"inst_type", "flag", "kpi_type"} <= CODE_COLUMNS
