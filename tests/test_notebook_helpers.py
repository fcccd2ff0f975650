"""Presentation helpers: escaping and formats."""

import pandas as pd

from bsc_lib.notebook import table_html


def test_table_html_escapes_names_and_formats_numbers():
    df = pd.DataFrame({"name_ko": ["<script>alert(1)</script>"], "total": [83.456], "share_easy": [0.25],
                       "n_kpis": pd.Series([3], dtype="int64")})
    html = table_html(df, "ko")
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;" in html
    assert "83.46" in html and "25.0%" in html and ">3<" in html
    assert "총점" in html  # Korean header


def test_table_html_truncates_long_tables():
    df = pd.DataFrame({"x": range(100)})
    html = table_html(df, "en", max_rows=10)
    assert "90 more rows" in html
