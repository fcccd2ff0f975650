"""Presentation helpers: escaping and formats."""

import pandas as pd

from bsc_lib.present.notebook import table_html


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


def test_plotly_json_bundle_is_what_plotlys_mimetype_renderer_emits():
    import numpy as np
    import plotly.graph_objects as go
    import plotly.io as pio

    from bsc_lib.present.notebook import plotly_json_bundle

    fig = go.Figure(go.Bar(x=np.array(["가", "나"]), y=np.array([1.5, np.nan])), layout={"title": "순위"})
    assert plotly_json_bundle(fig) == pio.renderers["plotly_mimetype"].to_mimebundle(fig.to_dict())


def test_report_kernels_display_figures_without_importing_plotlys_renderers():
    # Under `bsc report` (PLOTLY_RENDERER=plotly_mimetype) a figure is displayed as its JSON
    # bundle only, and nbformat/jsonschema (≈1.6 s per kernel) are never imported.
    import json
    import os
    import subprocess
    import sys

    code = """
import json, sys
from IPython.core.displaypub import CapturingDisplayPublisher
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
shell.display_pub = CapturingDisplayPublisher()
import bsc_lib.present.notebook
import plotly.graph_objects as go
shell.display_formatter.format(go.Figure(go.Bar(x=[1], y=[2])))
print(json.dumps({"outputs": [o["data"] for o in shell.display_pub.outputs],
                  "nbformat": "nbformat" in sys.modules,
                  "renderers": "plotly.io._renderers" in sys.modules}))
"""
    env = {**os.environ, "PLOTLY_RENDERER": "plotly_mimetype"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert not res["nbformat"] and not res["renderers"]
    assert len(res["outputs"]) == 1 and list(res["outputs"][0]) == ["application/vnd.plotly.v1+json"]
    assert res["outputs"][0]["application/vnd.plotly.v1+json"]["data"][0]["type"] == "bar"


def test_table_html_one_language_labels_and_number_formats():
    df = pd.DataFrame({"unit_id": ["I1", "I2"], "name_ko": ["가", "나"], "name_en": ["Alpha", None],
                       "inst_type": ["main_office", "business_office"], "rank_overall": [1.0, 2.0],
                       "total": [78.7886, 78.7876], "flag": ["missing_actual", "unverified"], "flag_ko": ["누락", "미검증"],
                       "covered": [True, False], "start": pd.to_datetime(["2019-02-01", "2019-03-01"]),
                       "reason": ["english text", ""]})
    ko = table_html(df, "ko")
    assert "Alpha" not in ko and "본청" in ko and "main_office" not in ko and "누락" in ko
    assert "english text" not in ko and ">1<" in ko and "2.00" not in ko
    assert "78.789" in ko and "78.788" in ko  # enough decimals to separate them
    assert "예" in ko and "True" not in ko and "2019-02-01" in ko and "00:00:00" not in ko
    en = table_html(df, "en")
    assert "Alpha" in en and "나 (ko)" in en and "Main office" in en and "누락" not in en


def test_md_bold_survives_korean_punctuation():
    from bsc_lib.present.notebook import strong

    assert strong("**95개(15%)**의 목표") == "<strong>95개(15%)</strong>의 목표"


def test_report_table_marks_exactly_the_producers_near_ties():
    """The report's score table (01-scores) marks ≈ the totals the ``near_ties`` producer marks —
    the same rows the dashboard marks — with the decimals that tell the neighbours apart."""
    import re
    from pathlib import Path

    import bsc_lib
    from bsc_lib.analyses.recipes import Recipes
    from bsc_lib.config.analysis_params import load_analysis_params

    root = Path(__file__).resolve().parent.parent
    scheme = bsc_lib.load_scheme(root / "params" / "scheme-2019.yaml")
    data = bsc_lib.load(root / "data" / "sample" / "2019", scheme=scheme)
    base = load_analysis_params(root / "params" / "analysis.yaml")
    for tol in (base.summary.near_tie_tolerance, 0.5):
        settings = base.model_copy(update={"summary": base.summary.model_copy(update={"near_tie_tolerance": tol})})
        r = Recipes(data, scheme, settings)
        ties = r["near_ties"]
        inst = r.results.institutional.sort_values(["inst_type", "rank_in_group"], kind="stable")
        want = ties[(ties["level"] == "institution") & ties["near_tie"]].set_index("unit_id")
        assert len(want) >= 2
        for lang in ("ko", "en"):
            page = table_html(inst, lang, max_rows=len(inst), ties=ties)
            rows = re.findall(r"<tr>(.*?)</tr>", page.split("<tbody>")[1], flags=re.S)
            marked = {u for u, row in zip(inst["institution_id"], rows, strict=True) if "≈" in row}
            assert marked == set(want.index)
            u = want.index[0]
            d = int(want.loc[u, "digits"])
            assert f"{float(want.loc[u, 'total']):,.{d}f} ≈" in page
    # without the producer's table nothing is marked
    assert "≈" not in table_html(inst, "ko", max_rows=len(inst))
