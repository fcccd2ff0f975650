"""The data model: README in sync, header aliases, canonical empty tables."""

from pathlib import Path

import pytest

from bsc_lib.data.model import (
    TABLES,
    BSCData,
    data_format_markdown,
    empty_table,
    header_aliases,
    normalise_header,
    pandas_dtype,
)

ROOT = Path(__file__).resolve().parent.parent


def test_readme_data_format_section_is_generated_from_model():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("<!-- BEGIN DATA FORMAT -->\n") + len("<!-- BEGIN DATA FORMAT -->\n")
    end = text.index("<!-- END DATA FORMAT -->")
    assert text[start:end] == data_format_markdown(), "regenerate the README section from bsc_lib.data.model"


def test_every_fk_points_to_a_real_column():
    for t in TABLES.values():
        for c in t.columns:
            for fk in c.fk:
                table, col = fk.split(".")
                assert col in TABLES[table].column_names, (t.name, c.name, fk)
        assert set(t.key) <= set(t.column_names)


def test_header_aliases_accept_korean_english_and_spacing():
    al = header_aliases(TABLES["kpis"])
    assert al[normalise_header("가중치")] == "weight"
    assert al[normalise_header(" Weight ")] == "weight"
    assert al[normalise_header("kpi id")] == "kpi_id"
    assert al[normalise_header("지표 ID")] == "kpi_id"


def test_no_two_columns_share_an_alias_within_a_table():
    for t in TABLES.values():
        seen = {}
        for c in t.columns:
            for s in (c.name, c.ko, *c.aliases):
                k = normalise_header(s)
                assert seen.setdefault(k, c.name) == c.name, (t.name, s)


@pytest.mark.parametrize("name", list(TABLES))
def test_empty_table_has_model_columns_and_dtypes(name):
    df = empty_table(name)
    assert list(df.columns) == TABLES[name].column_names
    for c in TABLES[name].columns:
        assert str(df[c.name].dtype) == pandas_dtype(c) or (c.dtype == "str" and df[c.name].dtype == "str")


def test_bscdata_attribute_access_and_counts():
    d = BSCData(tables={n: empty_table(n) for n in TABLES})
    assert d.kpis is d.tables["kpis"]
    counts = d.counts()
    assert list(counts["table"]) == list(TABLES)
    assert (counts["rows"] == 0).all()
    with pytest.raises(AttributeError):
        d.nonexistent  # noqa: B018
