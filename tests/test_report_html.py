"""Tests of bsc_lib.present.report_html: one offline HTML document from executed notebooks.

The notebooks here are built in memory with their outputs (no kernel), so the file is fast;
one browser test renders the document in Chromium with every network request blocked.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import nbformat
import pandas as pd
import plotly.graph_objects as go
import pytest

from bsc_lib.present.report_html import (
    build_report_html,
    count_figures,
    external_references,
    sanitize_html,
)

CHROMIUM = "/usr/bin/chromium"
FAKE_PLOTLY = "/* FAKE-PLOTLY-JS */ window.Plotly = {newPlot: function () {}, Plots: {}};"
# a 1x1 transparent PNG
PNG_B64 = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=")


def _figure_json(title: str, hover: str = "ok") -> dict:
    fig = go.Figure(go.Bar(x=["가", "나"], y=[1, 2], hovertext=[hover, "ok"]))
    fig.update_layout(title=title)
    return fig.to_plotly_json()


def _display(data: dict, kind: str = "display_data"):
    if kind == "execute_result":
        return nbformat.v4.new_output("execute_result", data=data, execution_count=1)
    return nbformat.v4.new_output("display_data", data=data)


def _notebooks() -> list[tuple[str, nbformat.NotebookNode]]:
    md, code = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell
    table = pd.DataFrame({"department": ["<script>window.__xss_table=1</script>", "도시계획과"],
                          "points": [12.5, 17.25]})
    params = code('year = 2019  # PARAMETERS-CELL-SOURCE')
    params.metadata["tags"] = ["parameters"]
    c_table = code("df  # TABLE-CELL-SOURCE")
    c_table.outputs = [_display({"text/html": table.to_html(), "text/plain": "df"}, "execute_result")]
    c_plot = code("fig.show()  # PLOT-CELL-SOURCE")
    c_plot.outputs = [
        # what plotly's "notebook" renderer emits once per notebook: must not reach the report
        _display({"text/html": "<script>window.PlotlyConfig = {};</script><script>/* 5 MB */</script>"}),
        _display({"application/vnd.plotly.v1+json":
                  _figure_json("연도 2019", "</script><script>window.__xss_plot=1</script>"),
                  "text/html": '<div class="plotly-graph-div"></div>'
                               '<script src="https://cdn.plot.ly/plotly.min.js"></script>'}),
    ]
    c_streams = code("print('x')")
    c_streams.outputs = [nbformat.v4.new_output("stream", name="stdout", text="half = year <b>\n"),
                         nbformat.v4.new_output("stream", name="stderr", text="SOME-WARNING\n")]
    c_md = code("display(Markdown(...))")
    c_md.outputs = [_display({"text/markdown": '부서: <img src=x onerror="window.__xss_md=1"> **굵게**',
                              "text/plain": "<Markdown>"})]
    c_remote = code("HTML(...)")
    c_remote.outputs = [_display({"text/html": (
        '<link rel="stylesheet" href="https://cdn.example.com/x.css">'
        '<script src="https://cdn.example.com/require.js"></script>'
        '<img src="https://example.com/track.png"><a href="https://seoul.go.kr">서울시</a>'
        '<style>@import url("https://fonts.example.com/f.css"); p { color: red; }</style>')})]
    c_images = code("images")
    svg = '<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"><script>window.__xss_svg=1</script></svg>'
    c_images.outputs = [_display({"image/png": PNG_B64}), _display({"image/svg+xml": svg})]
    c_removed = code("secret")
    c_removed.metadata["tags"] = ["remove-cell"]
    c_removed.outputs = [nbformat.v4.new_output("stream", name="stdout", text="REMOVED-CELL-OUTPUT\n")]
    c_hidden_out = code("x")
    c_hidden_out.metadata["tags"] = ["remove-output"]
    c_hidden_out.outputs = [nbformat.v4.new_output("stream", name="stdout", text="REMOVED-OUTPUT\n")]
    nb1 = nbformat.v4.new_notebook(cells=[
        md("# 알파 Alpha\n\n본문 text."), params, md("## 표 Table"), c_table, c_md,
        md("## 그림 Figure"), c_plot, c_streams, c_remote, c_images, c_removed, c_hidden_out,
    ])
    c_plot2 = code("fig2")
    c_plot2.outputs = [_display({"application/vnd.plotly.v1+json": _figure_json("두 번째")})]
    c_err = code("1/0")
    c_err.outputs = [nbformat.v4.new_output("error", ename="ZeroDivisionError", evalue="division by zero",
                                            traceback=["\x1b[31mTRACEBACK-LINE\x1b[0m"])]
    nb2 = nbformat.v4.new_notebook(cells=[md("## 소제목만 Only H2 <b>&</b>"), c_plot2, c_err])
    return [("01-alpha.ipynb", nb1), ("02-beta.ipynb", nb2)]


@pytest.fixture(scope="module")
def doc() -> str:
    return build_report_html(_notebooks(), title="2019년 <보고서>", subtitle="부제",
                             meta=[("실행 ID", "run-<1>")], lang="ko", plotly_js=FAKE_PLOTLY)


# --- structure ------------------------------------------------------------------------------


def test_plotly_js_inlined_exactly_once_and_figures_counted(doc):
    assert doc.count("FAKE-PLOTLY-JS") == 1
    assert count_figures(doc) == 2
    assert "window.PlotlyConfig" not in doc  # the renderer's init output is dropped


def test_no_plotly_js_without_figures():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Only text")])
    d = build_report_html([("x.ipynb", nb)], title="t", plotly_js=FAKE_PLOTLY)
    assert "FAKE-PLOTLY-JS" not in d and "<script" not in d


def test_no_external_resources(doc):
    assert external_references(doc) == []
    assert not re.search(r"<script[^>]+src\s*=", doc, re.IGNORECASE)
    assert not re.search(r"<link[^>]+href\s*=\s*['\"]?(https?:)?//", doc, re.IGNORECASE)
    assert "https://cdn" not in doc and "fonts.example.com" not in doc and "track.png" not in doc
    assert '<a href="https://seoul.go.kr">서울시</a>' in doc  # a plain link is not a fetch


def test_code_inputs_hidden_and_tagged_cells_removed(doc):
    for text in ("PARAMETERS-CELL-SOURCE", "TABLE-CELL-SOURCE", "PLOT-CELL-SOURCE",
                 "REMOVED-CELL-OUTPUT", "REMOVED-OUTPUT", "SOME-WARNING", "TRACEBACK-LINE"):
        assert text not in doc


def test_outputs_rendered_and_escaped(doc):
    assert "&lt;script&gt;window.__xss_table=1&lt;/script&gt;" in doc  # pandas escaped the cell
    assert "<script>window.__xss" not in doc
    assert "<pre class=\"stream\">half = year &lt;b&gt;\n</pre>" in doc
    assert "onerror" not in doc
    assert "<strong>굵게</strong>" in doc
    assert "ZeroDivisionError: division by zero" in doc
    assert f'src="data:image/png;base64,{PNG_B64}"' in doc
    # the SVG is embedded as an image (its script can never run)
    assert "data:image/svg+xml;base64," in doc and "__xss_svg" not in doc
    # plotly hover text: "</script>" inside the JSON is escaped as \u003c/script\u003e
    assert "\\u003c/script\\u003e\\u003cscript\\u003ewindow.__xss_plot=1" in doc


def test_title_page_escaped(doc):
    assert "<title>2019년 &lt;보고서&gt;</title>" in doc
    assert "<th>실행 ID</th><td>run-&lt;1&gt;</td>" in doc
    assert '<div class="report-subtitle">부제</div>' in doc


def test_table_of_contents(doc):
    toc = re.search(r'<nav class="toc".*?</nav>', doc, re.DOTALL).group(0)
    assert '<div class="toc-title">목차</div>' in toc
    # notebook 1: its H1 with its two H2s nested
    assert ('<li><a href="#nb01-h1">알파 Alpha</a><ol><li><a href="#nb01-h2">표 Table</a></li>'
            '<li><a href="#nb01-h3">그림 Figure</a></li></ol></li>') in toc
    # notebook 2 has no H1: the entry is its file name, pointing at the section; tags stripped
    assert ('<li><a href="#nb02">02-beta</a><ol><li><a href="#nb02-h1">소제목만 Only H2 &amp;</a>'
            "</li></ol></li>") in toc
    assert '<h1 id="nb01-h1">알파 Alpha</h1>' in doc
    assert '<section class="notebook" id="nb02" data-notebook="02-beta.ipynb">' in doc


def test_print_css_and_korean_font(doc):
    assert '"Noto Sans CJK KR"' in doc
    assert "@media print" in doc and "section.notebook { break-before: page;" in doc


def test_content_security_policy_hashes_the_two_scripts(doc):
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', doc).group(1)
    assert "default-src &#x27;none&#x27;" in csp or "default-src 'none'" in csp
    scripts = re.findall(r"<script(?: id=\"plotlyjs\")?>(.*?)</script>", doc, re.DOTALL)
    assert len(scripts) == 2
    for s in scripts:
        digest = base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()
        assert f"sha256-{digest}" in csp


def test_english_words():
    d = build_report_html(_notebooks()[1:], title="t", lang="en", plotly_js=FAKE_PLOTLY)
    assert '<div class="toc-title">Contents</div>' in d
    with pytest.raises(ValueError, match="lang"):
        build_report_html([], title="t", lang="fr")


# --- sanitiser ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fragment", "expected"),
    [
        ('<p onclick="x()">a &amp; b &lt;c&gt; 1 < 2</p>', "<p>a &amp; b &lt;c&gt; 1 &lt; 2</p>"),
        ("<b>x</b><script>alert(1)</script>y", "<b>x</b>y"),
        ('<a href="javascript:alert(1)">l</a>', "<a>l</a>"),
        ('<a href=" jav&#x09;ascript:alert(1)">l</a>', "<a>l</a>"),
        ('<a href="https://seoul.go.kr" title="t">l</a>', '<a href="https://seoul.go.kr" title="t">l</a>'),
        ('<img src="https://e.com/x.png" alt="a">', '<img alt="a">'),
        ('<img src="data:image/png;base64,AAAA">', '<img src="data:image/png;base64,AAAA">'),
        ('<iframe src="x">inner</iframe>after', "after"),
        ('<style>@import url(http://e/x.css); .a{background:url("https://e/b.png")} a>b{}</style>',
         "<style> .a{background:url()} a>b{}</style>"),
        ('<svg><use href="https://e/s.svg#a"/><use href="#local"/></svg>', '<svg><use /><use href="#local" /></svg>'),
        ('<div style="background:url(http://e/x)">t</div>', '<div style="background:url()">t</div>'),
        ("<!-- c --><meta http-equiv=refresh content=0><p>ok</p>", "<p>ok</p>"),
    ],
)
def test_sanitize_html(fragment, expected):
    assert sanitize_html(fragment) == expected


def test_external_references_finds_fetching_markup():
    bad = ('<script src="https://x/a.js"></script><link href="//x/s.css" rel="stylesheet">'
           '<img src="http://x/i.png"><style>@import "x.css";</style><div style="background:url(https://x/b)">')
    hits = external_references(bad)
    assert len(hits) == 5
    assert external_references('<a href="https://x">x</a><script>var u = "https://x";</script>') == []


# --- in a browser ---------------------------------------------------------------------------


def _chromium() -> str:
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} not found: run `make system-deps` (browser tests need Chromium)")
    return CHROMIUM


def open_offline(path: Path, screenshot: Path):
    """Open ``path`` in Chromium with every non-file request blocked; return what happened."""
    from playwright.sync_api import sync_playwright

    blocked: list[str] = []
    console: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=_chromium(),
            args=["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"])
        try:
            page = browser.new_page()
            page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
            page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))

            def route(r):
                if r.request.url.startswith("file:"):
                    r.continue_()
                else:
                    blocked.append(r.request.url)
                    r.abort()

            page.route("**/*", route)
            page.goto(path.resolve().as_uri())
            page.wait_for_function("document.querySelectorAll('.js-plotly-plot').length > 0", timeout=20000)
            plots = page.evaluate(
                "Array.from(document.querySelectorAll('.js-plotly-plot'))"
                ".filter(el => el.querySelector('.main-svg')).length")
            xss = page.evaluate("[window.__xss_table, window.__xss_md, window.__xss_plot, window.__xss_svg]"
                                ".filter(v => v !== undefined).length")
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    return {"blocked": blocked, "console": console, "plots": plots, "xss": xss}


@pytest.mark.slow
@pytest.mark.browser
def test_report_renders_offline_in_chromium(tmp_path):
    document = build_report_html(_notebooks(), title="보고서", lang="ko")  # real plotly.js
    path = tmp_path / "report.html"
    path.write_text(document, encoding="utf-8")
    shot = tmp_path / "report.png"
    seen = open_offline(path, shot)
    assert seen["blocked"] == []
    assert seen["plots"] == count_figures(document) == 2
    assert seen["xss"] == 0
    assert [c for c in seen["console"] if "Content Security Policy" in c or "pageerror" in c] == []
    assert shot.stat().st_size > 10_000


# --- issue 12: one language, stable anchors, commentary, print -----------------------------------
from bsc_lib.present.report_html import localize_markdown, parse_notes, section_slug  # noqa: E402


def test_localize_markdown_keeps_one_language_of_bilingual_lines():
    text = "# 평가 결과 · Scores\n\n기관평가·개인평가 점수입니다. · Scores of institutions.\n## 개요 · Overview\n표만 있음"
    assert localize_markdown(text, "ko") == "# 평가 결과\n\n기관평가·개인평가 점수입니다.\n## 개요\n표만 있음"
    assert localize_markdown(text, "en") == "# Scores\n\nScores of institutions.\n## Overview\n표만 있음"


def test_section_slug_and_notes_parsing():
    assert section_slug("02-perspectives.ipynb") == "sec-perspectives"
    notes = parse_notes("ignored\n# summary\n요약 의견\n## sub stays\n# sec-scores\n점수 의견\n# unit I38\n감점 설명\n# empty\n")
    assert notes == {"sec-summary": "요약 의견\n## sub stays", "sec-scores": "점수 의견", "unit:I38": "감점 설명"}


def test_commentary_boxes_anchor_header_footer_watermark():
    nbs = [("00-summary.ipynb", nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# 요약 · Summary\n\n목적 · Purpose")])),
           ("01-scores.ipynb", nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# 점수 · Scores")]))]
    d = build_report_html(nbs, title="T", lang="en", plotly_js=FAKE_PLOTLY, print_header="T 2019",
                          print_footer="Run 20190101T000000-year-en-abc", classification="Confidential",
                          watermark="SYNTHETIC DATA", commentary={"summary": "Look **here**", "sec-nowhere": "x"},
                          unit_names={"I38": "Seoul Museum of Art"})
    assert '<span class="anchor" id="sec-summary"></span>' in d and 'id="sec-scores"' in d
    assert '<aside class="commentary">' in d and "<strong>here</strong>" in d
    assert d.index("<h1") < d.index('<aside class="commentary">') < d.index('id="sec-scores"')
    assert "counter(page)" in d and "@bottom-left" in d and "@top-right" in d
    assert '"Confidential"' in d and 'class="watermark"' in d and "SYNTHETIC DATA" in d
    assert ".modebar" in d  # the plotly toolbar is hidden in print
    assert "<h1" in d and "Summary" in d and "요약" not in d.split("<main>")[1].split("</main>")[0]
    assert d.index('data-notebook="00-summary.ipynb"') < d.index('<nav class="toc"') < d.index('data-notebook="01-scores.ipynb"')


@pytest.mark.slow
@pytest.mark.browser
def test_printed_figures_fit_a_page_share_and_keep_rows_apart(tmp_path):
    """Before printing a figure taller than PRINT_FIGURE_CAP is shrunk to it (so it can share a
    page instead of leaving a near-empty page before it), its fonts shrink with it; after
    printing the screen size comes back. A short figure is left alone."""
    from playwright.sync_api import sync_playwright

    from bsc_lib.present.notebook import PLOTLY_MIME
    from bsc_lib.present.report_html import PRINT_FIGURE_CAP

    names = [f"기관 {i:02d}" for i in range(45)]
    tall = go.Figure(go.Bar(y=names, x=list(range(45)), orientation="h"))
    tall.update_layout(height=1400, font={"size": 12})
    short = go.Figure(go.Bar(x=[1, 2], y=[3, 4]))
    short.update_layout(height=300)
    cells = [nbformat.v4.new_markdown_cell("# 그림 · Figures")]
    for fig in (tall, short):
        c = nbformat.v4.new_code_cell("fig")
        c.outputs = [nbformat.v4.new_output("display_data", data={PLOTLY_MIME: fig.to_plotly_json()})]
        cells.append(c)
    doc = build_report_html([("01-figs.ipynb", nbformat.v4.new_notebook(cells=cells))], title="T", lang="ko")
    path = tmp_path / "r.html"
    path.write_text(doc, encoding="utf-8")
    heights = "Array.from(document.querySelectorAll('.js-plotly-plot')).map(p => [p.layout.height, p.layout.font.size])"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=_chromium(), args=["--no-sandbox", "--headless"])
        try:
            page = browser.new_page()
            page.goto(path.as_uri())
            page.wait_for_function("document.querySelectorAll('.js-plotly-plot').length == 2", timeout=20000)
            before = page.evaluate(heights)
            page.evaluate("window.dispatchEvent(new Event('beforeprint'))")
            printed = page.evaluate(heights)
            page.evaluate("window.dispatchEvent(new Event('afterprint'))")
            after = page.evaluate(heights)
        finally:
            browser.close()
    assert before[0] == [1400, 12]
    assert printed[0][0] == PRINT_FIGURE_CAP and 7 <= printed[0][1] < 12
    assert printed[1][0] == 300
    assert after[0] == [1400, 12]
