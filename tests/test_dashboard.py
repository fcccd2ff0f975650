"""The Voila dashboard (bsc_lib.present.dashboard): helpers, and the real thing in Chromium.

The browser tests start ``bsc dashboard`` as a subprocess on a free loopback port (one server per
module; a second one for a bad data path), open it in Debian's Chromium through Playwright with
every request that is not to 127.0.0.1/localhost blocked and recorded, and check the page against
numbers computed directly with :func:`bsc_lib.scoring.engine.evaluate`. Screenshots go to ``tmp_path``.
The first-render time and the what-if latency are printed (``-s``) and recorded as test properties;
they are not asserted (no timing assertions).
"""

from __future__ import annotations

import os
import socket
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from dashboard_helpers import (
    DEAD_PROXY,
    UI_TIMEOUT,
    Server,
    _get,
    _open,
    chromium_browser,
    close_page,
    set_whatif_slider,
    status,
    wait_status,
)

from bsc_lib.analyses.recipes import Recipes
from bsc_lib.analyses.summary import near_ties
from bsc_lib.errors import DataError, Problem
from bsc_lib.present import dashboard as db
from bsc_lib.present import dashboard_server as ds

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample" / "2019"


# =========================================================================== helpers (no browser)
def test_a_preheated_kernel_gets_its_page_request_past_a_dropped_connection_and_a_proxy(monkeypatch):
    """The wait of a preheated kernel for its page (Voila's request-info socket): the first
    connection is dropped before the request, the second brings it; the query string is applied
    once, the request's variables are in the environment and QUERY_APPLIED is answered. An HTTP
    proxy in the environment is not used (with websockets' default it would be, and the wait
    would never end: Voila's own ``wait_for_request`` gives up and the link is ignored)."""
    import json
    import threading

    from websockets.sync.server import serve

    for k, v in DEAD_PROXY.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("QUERY_STRING", "")
    monkeypatch.setenv("SCRIPT_NAME", "")
    paths, answers, applied = [], [], []

    def handler(ws):
        paths.append(ws.request.path)
        if len(paths) == 1:
            ws.close()  # dropped before the page came
            return
        ws.send(json.dumps({"QUERY_STRING": "tab=drill&inst=I01&lang=en", "SCRIPT_NAME": "/x"}))
        answers.append(ws.recv(timeout=10))

    with serve(handler, "127.0.0.1", 0) as srv:
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        url = f"ws://127.0.0.1:{srv.socket.getsockname()[1]}/voila/query/k1"
        waiter = threading.Thread(target=db._await_request, args=(applied.append, url, (0.05,)), daemon=True)
        waiter.start()
        waiter.join(30)
        srv.shutdown()
    assert not waiter.is_alive(), "the request never arrived"
    assert applied == ["tab=drill&inst=I01&lang=en"]
    assert answers == [ds.QUERY_APPLIED]
    assert paths == ["/voila/query/k1"] * 2
    assert os.environ["QUERY_STRING"] == "tab=drill&inst=I01&lang=en" and os.environ["SCRIPT_NAME"] == "/x"


def test_without_preheating_the_query_string_is_applied_before_the_page_is_shown(monkeypatch):
    """A kernel started for a page (pool empty) has its query string in the environment: it is
    applied at once, and a failing apply is logged, never raised into the page."""
    monkeypatch.setenv("VOILA_PREHEAT", "False")
    monkeypatch.setenv("QUERY_STRING", "tab=drill")
    got = []
    db._follow_request(got.append)
    assert got == ["tab=drill"]

    def fail(q):
        raise ValueError(q)

    db._follow_request(fail)  # logged
    db._follow_request(None)  # an error page: nothing to apply


def test_settings_precedence():
    env = {"BSC_DATA": "/x/data", "BSC_SHOW_NAMES": "1", "BSC_LANG": "en", "BSC_MC_DRAWS": "500"}
    s = db.resolve_settings(environ=env)
    assert (s.data_path, s.lang, s.pseudonymize, s.mc_draws) == ("/x/data", "en", False, 500)
    # notebook literals win over the environment; empty values fall back to the defaults
    s = db.resolve_settings(data_path="mine", lang="ko", pseudonymize=True, environ=env)
    assert (s.data_path, s.lang, s.pseudonymize) == ("mine", "ko", True)
    s = db.resolve_settings(environ={})
    assert (s.data_path, s.scheme_path, s.lang, s.pseudonymize, s.half, s.year, s.mc_draws) == (
        db.DEFAULT_DATA, db.DEFAULT_SCHEME, "ko", True, "year", None, None)
    assert db.resolve_settings(environ={"BSC_SHOW_NAMES": "0"}).pseudonymize is True


@pytest.mark.parametrize("kwargs, match", [({"lang": "fr"}, "lang"), ({"half": "Q3"}, "half"),
                                           ({"year": "twenty"}, "year")])
def test_settings_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        db.resolve_settings(environ={}, **kwargs)


def test_people_are_pseudonymised_unless_asked():
    ind = pd.DataFrame({"person_id": ["P0012", "P0013"], "name_ko": ["홍길동", "김철수"], "position_grade": ["4급", "3급"],
                        "role": ["department_head", "bureau_head"], "unit_id": ["D1", "I1"], "total": [80.0, 70.0],
                        "rank_overall": [1, 2], "grade": ["S", "A"]})
    hidden = db.people_view(ind, pseudonymize=True)
    assert "name_ko" not in hidden.columns
    assert "홍길동" not in hidden.to_csv()
    assert db.person_label("P0012", None, True, "ko") == "관리자 P0012"
    assert db.person_label("P0012", "홍길동", True, "en") == "Manager P0012"
    shown = db.people_view(ind, pseudonymize=False)
    assert db.person_label("P0012", shown.loc[0, "name_ko"], False) == "홍길동 (P0012)"


def test_share_achieved_ignores_unused_kpis():
    # 4 scored results: 2 achieved → 0.5; the not_used institution KPI (achieved) and the row
    # without a status do not count.
    kpi = pd.DataFrame({"status": ["achieved", "missed", "achieved", "caution", "achieved", None],
                        "flag": ["", "", "unverified", "", "not_used", ""]})
    assert db.share_achieved(kpi) == 0.5


def test_fmt_points_and_table_escaping():
    assert db.fmt_points(86.458515) == "86.46" and db.fmt_points(-1e-12) == "0.00" and db.fmt_points(None) == ""
    t = db.html_table(pd.DataFrame({"a": ["<script>x</script>"], "b": [1.234]}),
                      [("a", "<A>", "text"), ("b", "B", "points")], row_data={"unit": pd.Series(['"I1'])})
    assert "<script>" not in t and "&lt;script&gt;" in t and "&lt;A&gt;" in t
    assert 'data-unit="&quot;I1"' in t and ">1.23<" in t


def test_near_tied_totals_show_the_separating_decimals_and_the_exact_totals_on_hover():
    # hand-made: A/B 0.001 apart (print 78.79 both), C alone in its group, D/E 0.004 apart and
    # printing differently (82.97 / 82.98) — still near; F 1 point from E — not near.
    t = pd.Series([78.7876, 78.7886, 78.7881, 82.9720, 82.9760, 83.9760], index=list("ABCDEF"))
    g = pd.Series(["m", "m", "b", "m", "m", "m"], index=list("ABCDEF"))
    nt = near_ties(t, g)  # the producer's rule (bsc_lib.analyses.summary; tested in test_summary)
    cell = db.total_html(t["A"], nt.loc["A"].to_dict(), "en")
    assert ">78.788<" in cell and "≈" in cell and "78.787600" in cell and "0.001000" in cell
    assert db.total_html(t["F"], nt.loc["F"].to_dict()) == "83.98"


@pytest.mark.parametrize(("tolerance", "group_by"), [(0.01, "inst_type"), (0.6, "inst_type"), (0.3, "none"),
                                                   (0.0, "inst_type")])
def test_overview_ties_are_the_producers_under_other_settings(tmp_path, tolerance, group_by):
    """The ≈ marks of the overview (board and ranking table) are the ``near_ties`` producer's,
    whatever the tolerance of the analysis settings and the grading group."""
    import re
    import types

    import yaml

    analysis = yaml.safe_load((ROOT / "params" / "analysis.yaml").read_text(encoding="utf-8"))
    analysis["summary"]["near_tie_tolerance"] = tolerance
    (tmp_path / "analysis.yaml").write_text(yaml.safe_dump(analysis, allow_unicode=True), encoding="utf-8")
    scheme = (ROOT / "params" / "scheme-2019.yaml").read_text(encoding="utf-8")
    scheme = re.sub(r"(?m)^(  group_by:) inst_type", rf"\1 {group_by}", scheme)
    (tmp_path / "scheme.yaml").write_text(scheme, encoding="utf-8")
    ctx = db.build_context(db.resolve_settings(data_path=str(SAMPLE), scheme_path=str(tmp_path / "scheme.yaml"),
                                               analysis_path=str(tmp_path / "analysis.yaml"), environ={}))
    assert ctx.analysis.summary.near_tie_tolerance == tolerance and ctx.scheme.grading.group_by == group_by
    prod = ctx.tables["near_ties"]
    inst = prod[prod["level"] == "institution"]
    want = set(inst.loc[inst["near_tie"], "unit_id"])
    if tolerance >= 0.3:  # wider tolerances mark more than the exact/printing-equal ties
        base = near_ties(inst["total"], inst["group"], 0.01)
        assert want > set(inst.loc[base["near_tie"], "unit_id"])
    panel = db.OverviewPanel(types.SimpleNamespace(ctx=ctx, lang="en"))
    panel.build()
    panel.render()
    table_ties = set(re.findall(r'data-unit="([^"]+)"[^>]*data-tie="1"', panel.table.value))
    assert table_ties == want
    board_rows = re.findall(r'<div class="rb-row"[^>]*data-unit="([^"]+)".*?</div>', panel.board.value)
    board_ties = {u for u, row in zip(board_rows, re.findall(r'<div class="rb-row".*?</div>', panel.board.value),
                                      strict=True) if "bsc-tie-mark" in row}
    assert board_ties == want
    comp_rows = re.findall(r'<div class="cb-row">.*?</div>', panel.comps.value)
    comp_ties = {re.search(r"inst=([^&]+)&", row).group(1) for row in comp_rows if "bsc-tie-mark" in row}
    assert comp_ties == want
    # the what-if table's scheme totals (its base column) carry the same marks as the overview
    app = types.SimpleNamespace(ctx=ctx, lang="en", tabs=types.SimpleNamespace(selected_index=None), panels=[])
    whatif_panel = db.WhatIfPanel(app)
    whatif_panel.build()
    whatif_panel.render()
    rows = re.findall(r'<tr[^>]*data-unit="([^"]+)"[^>]*>(.*?)</tr>', whatif_panel.table.value, re.S)
    assert len(rows) == len(inst)
    base_col = [re.findall(r"<td[^>]*>(.*?)</td>", cells, re.S)[5] for _, cells in rows]
    assert {u for (u, _), cell in zip(rows, base_col, strict=True) if "bsc-tie-mark" in cell} == want


def test_error_html_is_bilingual_and_has_no_traceback():
    exc = DataError([Problem(file="kpis.csv", rule="exists", message="<b>not found</b>", row=3)])
    page = db.error_html(exc, "ko")
    assert "데이터를 불러올 수 없습니다" in page and "The data could not be loaded" in page
    assert "kpis.csv" in page and "&lt;b&gt;not found&lt;/b&gt;" in page and "Traceback" not in page
    other = db.error_html(RuntimeError("boom"), "en")
    assert other.index("An unexpected error occurred") < other.index("예기치 못한 오류") and "RuntimeError: boom" in other


def test_voila_command_is_locked_down(tmp_path):
    cmd = db.voila_command("nb.ipynb", 9999)
    assert cmd[:3] == [sys.executable, "-m", "bsc_lib.present.dashboard_server"]
    for flag in ("--port=9999", "--max-viewers=8", "--pool_size=8", "--grace=30", "--Voila.ip=127.0.0.1", "--Voila.port_retries=0", "--no-browser",
                 "--preheat_kernel=True", "--strip_sources=True", "--show_tracebacks=False",
                 f"--template={db.TEMPLATE_NAME}"):
        assert flag in cmd
    assert not any("allowlist" in c or "denylist" in c for c in cmd), "the default file allowlist is kept"
    d = db.write_template(tmp_path)
    index = (d / "index.html.j2").read_text(encoding="utf-8")
    assert "http" not in index, "the template loads nothing from the internet"
    env = db.dashboard_env("data/sample/2019", None, False, tmp_path, base={"JUPYTER_PATH": "/old"})
    assert env["BSC_DATA"] == str(SAMPLE.resolve()) and env["BSC_SHOW_NAMES"] == "0"
    assert "BSC_SCHEME" not in env and env["JUPYTER_PATH"] == f"{tmp_path}{os.pathsep}/old"


def test_cli_refuses_a_busy_port(capsys):
    from bsc_lib.cli import main

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        assert main(["dashboard", "--port", str(port)]) == 1
    assert f"port {port}" in capsys.readouterr().err


@pytest.fixture(scope="module")
def expected():
    """Results computed directly, to compare the page with."""
    from bsc_lib.config.scheme import load_scheme
    from bsc_lib.data.io import load
    from bsc_lib.scoring.engine import evaluate

    scheme = load_scheme(ROOT / "params" / "scheme-2019.yaml")
    data = load(SAMPLE, scheme=scheme)
    return data, scheme, evaluate(data, scheme)


@pytest.fixture(scope="module")
def browser():
    yield from chromium_browser()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    # three viewers: the module's page, a test's own page, and the page it navigates to while the
    # kernel of the page it left is still being released (the cap itself: test_dashboard_server);
    # an HTTP proxy in the environment that answers nothing (no loopback request may use it)
    srv = Server(tmp_path_factory.mktemp("dashboard"), max_viewers=3, env=DEAD_PROXY)
    try:
        srv.wait_ready()
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def page(browser, server):
    pg = _open(browser, server.url)
    t0 = time.perf_counter()
    pg.goto(server.url, wait_until="domcontentloaded", timeout=UI_TIMEOUT)
    pg.wait_for_selector(".bsc-board .rb-row", timeout=UI_TIMEOUT)
    pg.wait_for_selector(".bsc-ranking-table", timeout=UI_TIMEOUT)
    pg.first_render = time.perf_counter() - t0
    print(f"\nfirst render with a preheated kernel: {pg.first_render:.2f} s")
    try:
        yield pg
    finally:
        close_page(pg)  # lets Voila shut the kernel down


def _tab(page, title: str) -> None:
    page.locator(".bsc-tabs .lm-TabBar-tab", has_text=title).first.click()


@pytest.mark.browser
def test_overview_shows_the_engine_numbers_offline(page, expected, tmp_path, record_property):
    record_property("first_render_s", round(page.first_render, 2))
    _, _, r = expected
    inst = r.institutional
    top = inst.iloc[0]  # display order: best total first
    rows = page.locator(".bsc-ranking-table tbody tr")
    assert rows.count() == len(inst)
    row = page.locator(f'.bsc-ranking-table tr[data-unit="{top["institution_id"]}"]')
    assert row.get_attribute("data-total") == f"{top['total']:.2f}"
    assert f"{top['total']:.2f}" in row.inner_text() and top["name_ko"] in row.inner_text()
    cards = page.locator(".bsc-cards").inner_text()
    assert f"{len(inst):,}" in cards and f"{len(r.departments):,}" in cards
    # every institution's grade as the engine says
    shown = dict(zip(page.eval_on_selector_all(".bsc-ranking-table tbody tr", "rs => rs.map(r => r.dataset.unit)"),
                     page.eval_on_selector_all(".bsc-ranking-table tbody tr", "rs => rs.map(r => r.dataset.grade)"),
                     strict=True))
    assert shown == dict(zip(inst["institution_id"], inst["grade"], strict=True))
    # the ranking board by group: same totals and grades, in rank order within each group
    board = pd.DataFrame({
        "unit": page.eval_on_selector_all(".bsc-board .rb-row", "rs => rs.map(r => r.dataset.unit)"),
        "total": page.eval_on_selector_all(".bsc-board .rb-row", "rs => rs.map(r => r.dataset.total)"),
        "grade": page.eval_on_selector_all(".bsc-board .rb-row", "rs => rs.map(r => r.dataset.grade)")})
    order = {"main_office": 0, "business_office": 1, "independent": 2}
    want = inst.assign(_g=inst["inst_type"].map(order)).sort_values(["_g", "rank_in_group", "institution_id"],
                                                                    kind="stable")
    assert list(board["unit"]) == list(want["institution_id"])
    assert list(board["total"]) == [f"{v:.2f}" for v in want["total"]]
    assert list(board["grade"]) == list(want["grade"])
    # near-ties (within the group) are marked, with the exact totals on hover
    data, scheme, _ = expected
    ties = Recipes(data, scheme)["near_ties"]  # the producer the report's tables mark too
    want_ties = set(ties.loc[(ties["level"] == "institution") & ties["near_tie"], "unit_id"])
    assert want_ties, "the sample has near-tied totals (78.79, 82.97)"
    got_ties = page.eval_on_selector_all('.bsc-ranking-table tr[data-tie="1"]', "rs => rs.map(r => r.dataset.unit)")
    assert set(got_ties) == want_ties
    some = sorted(want_ties)[0]
    tip = page.locator(f'.bsc-ranking-table tr[data-unit="{some}"] .bsc-tie').get_attribute("title")
    exact = float(inst.set_index("institution_id").loc[some, "total"])
    assert f"{exact:.6f}" in tip
    counts = page.locator(".bsc-grade-counts").inner_text()
    assert all(str(n) in counts for n in inst["grade"].value_counts())
    assert page.locator(".bsc-comp-bars .cb-row").count() == len(inst)
    body = page.content()
    assert "Traceback" not in body and "from bsc_lib.present.dashboard import run" not in body, "sources stripped"
    page.screenshot(path=str(tmp_path / "overview.png"))
    assert (tmp_path / "overview.png").stat().st_size > 20_000
    assert page.blocked == []


@pytest.mark.browser
def test_drill_down_to_a_department(page, expected, tmp_path):
    _, _, r = expected
    dep = r.departments.sort_values("total", ascending=False, kind="stable").iloc[3]
    inst_id = dep["institution_id"]
    inst = r.institutional.set_index("institution_id").loc[inst_id]
    _tab(page, "기관·부서 상세")
    page.wait_for_selector(".bsc-inst-view h3", timeout=UI_TIMEOUT)
    page.locator(".bsc-w-inst select").select_option(label=f"{inst_id} {inst['name_ko']}")
    page.wait_for_function(f"document.querySelector('.bsc-inst-view h3').textContent.startsWith('{inst_id} ')",
                           timeout=UI_TIMEOUT)
    assert page.locator(".bsc-inst-total").inner_text() == f"{inst['total']:.2f}"
    page.locator(".bsc-w-dept select").select_option(label=f"{dep['department_id']} {dep['name_ko']}")
    page.wait_for_function(
        f"document.querySelector('.bsc-dept-view h3').textContent.startsWith('{dep['department_id']} ')",
        timeout=UI_TIMEOUT)
    assert page.locator(".bsc-dept-total").inner_text() == f"{dep['total']:.2f}"
    # the decomposition (explain) of the department: its components and total
    ex = r.explain(dep["department_id"])
    table = page.locator(".bsc-dept-view table.bsc-explain").inner_text()
    for v in ex.loc[ex["level"].isin(["component", "total"]), "value"]:
        assert f"{round(v, 2) + 0.0:.2f}" in table
    # its KPIs, and managers only as pseudonyms
    kpis = page.locator(".bsc-kpi-view").inner_text()
    for k in r.kpi.loc[r.kpi["owner_id"] == dep["department_id"], "kpi_id"]:
        assert k in kpis
    heads = r.individual.loc[r.individual["unit_id"] == dep["department_id"]]
    dept_text = page.locator(".bsc-dept-view").inner_text()
    for pid, name in zip(heads["person_id"], heads["name_ko"], strict=True):
        assert f"관리자 {pid}" in dept_text and name not in page.content()
    page.wait_for_function("document.querySelectorAll('.js-plotly-plot .main-svg').length >= 3", timeout=UI_TIMEOUT)
    page.screenshot(path=str(tmp_path / "drill-down.png"), full_page=True)
    assert page.blocked == []


@pytest.mark.browser
def test_what_if_slider_matches_the_engine(page, expected, record_property):
    from bsc_lib.analyses import whatif
    from bsc_lib.scoring.engine import evaluate

    data, scheme, r = expected
    points = whatif.rebalance(scheme.evaluations["institutional"].components, "achievement", 40)
    d2, s2 = whatif.equivalent_inputs(data, scheme, points)
    e = evaluate(d2, s2).institutional
    assert (e["grade"].to_numpy() != r.institutional.set_index("institution_id").loc[e["institution_id"], "grade"]
            .to_numpy()).any(), "the chosen change must move some grade"
    _tab(page, "가정 분석")
    page.wait_for_selector(".bsc-whatif-table", timeout=UI_TIMEOUT)
    readout = page.locator(".bsc-w-achievement .widget-readout")
    readout.click()
    page.keyboard.press("Control+A")
    page.keyboard.type("40")
    t0 = time.perf_counter()
    page.keyboard.press("Enter")
    page.wait_for_function(
        "document.querySelector('.bsc-whatif-state').dataset.points.includes('achievement=40')", timeout=UI_TIMEOUT)
    latency = time.perf_counter() - t0
    record_property("whatif_latency_ms", round(latency * 1000))
    print(f"\nwhat-if latency (Enter → table updated): {latency * 1000:.0f} ms")
    state = page.locator(".bsc-whatif-state").get_attribute("data-points")
    assert state == ",".join(f"{k}={v:g}" for k, v in points.items())
    # the other sliders moved too (total stays 100)
    for comp, v in points.items():
        assert page.locator(f".bsc-w-{comp} .widget-readout").inner_text().strip() == f"{v:.0f}"
    got = pd.DataFrame({
        "unit": page.eval_on_selector_all(".bsc-whatif-table tbody tr", "rs => rs.map(r => r.dataset.unit)"),
        "rank": page.eval_on_selector_all(".bsc-whatif-table tbody tr", "rs => rs.map(r => +r.dataset.rank)"),
        "grade": page.eval_on_selector_all(".bsc-whatif-table tbody tr", "rs => rs.map(r => r.dataset.grade)"),
        "total": page.eval_on_selector_all(".bsc-whatif-table tbody tr", "rs => rs.map(r => r.dataset.total)"),
    })
    assert list(got["unit"]) == list(e["institution_id"]), "display order = the engine's"
    assert list(got["rank"]) == [int(v) for v in e["rank_in_group"]]
    assert list(got["grade"]) == list(e["grade"])
    assert list(got["total"]) == [f"{v:.2f}" for v in e["total"]]
    changed = page.eval_on_selector_all(".bsc-whatif-table tr.bsc-changed", "rs => rs.map(r => r.dataset.unit)")
    base = r.institutional.set_index("institution_id")["grade"]
    assert set(changed) == {u for u, g in zip(e["institution_id"], e["grade"], strict=True) if g != base[u]}
    assert page.blocked == []


@pytest.mark.browser
def test_language_switch(page, tmp_path):
    page.locator(".bsc-w-lang button", has_text="English").click()
    page.wait_for_function(
        "Array.from(document.querySelectorAll('.bsc-tabs .lm-TabBar-tab')).some(t => t.textContent.includes('Drill-down'))",
        timeout=UI_TIMEOUT)
    assert "Seoul BSC evaluation dashboard" in page.locator(".bsc-header").inner_text()
    page.wait_for_function("document.querySelector('.bsc-whatif-summary').textContent.includes('institutions change grade')",
                           timeout=UI_TIMEOUT)
    _tab(page, "Overview")
    page.wait_for_function("document.querySelector('.bsc-ranking').textContent.includes('Institutional ranking')",
                           timeout=UI_TIMEOUT)
    assert "Main office" in page.locator(".bsc-ranking").inner_text()
    page.screenshot(path=str(tmp_path / "overview-en.png"))
    page.locator(".bsc-w-lang button", has_text="한국어").click()
    page.wait_for_function("document.querySelector('.bsc-ranking').textContent.includes('기관별 순위')", timeout=UI_TIMEOUT)
    assert page.blocked == []


@pytest.mark.browser
def test_other_tabs_render(page, tmp_path):
    for title, selector, n_plots in (("관점·전략지도", ".bsc-perspectives-box", 2),
                                     ("전년 대비", ".bsc-rank-change-table", 2),
                                     ("지표 난이도", ".bsc-difficulty-table table", 1),
                                     ("변별력", ".bsc-integrity table", 3),
                                     ("순위 안정성", ".bsc-robust-table table", 1)):
        _tab(page, title)
        page.wait_for_selector(selector, timeout=UI_TIMEOUT)
        # the figures of the visible tab have rendered
        page.wait_for_function(
            "n => Array.from(document.querySelectorAll('.js-plotly-plot')).filter(e => e.offsetParent !== null"
            " && e.querySelector('.main-svg')).length >= n", arg=n_plots, timeout=UI_TIMEOUT)
        page.screenshot(path=str(tmp_path / f"{selector.split()[0][5:]}.png"))
    assert "Traceback" not in page.content()
    assert page.blocked == []


@pytest.mark.browser
def test_last_year_comes_from_the_report_producer(page, expected):
    from bsc_lib.analyses.recipes import Recipes
    from bsc_lib.config.analysis_params import load_analysis_params

    data, scheme, _ = expected
    tables = Recipes(data, scheme, load_analysis_params(ROOT / "params" / "analysis.yaml"), scheme.year, "year")
    ch = tables["rank_changes"]
    inst = ch.loc[ch["level"] == "institution"]
    _tab(page, "전년 대비")
    page.wait_for_selector(".bsc-rank-change-table", timeout=UI_TIMEOUT)
    units = page.eval_on_selector_all(".bsc-rank-change-table tbody tr", "rs => rs.map(r => r.dataset.unit)")
    prior = page.eval_on_selector_all(".bsc-rank-change-table tbody tr", "rs => rs.map(r => r.dataset.gradePrior)")
    want = inst.set_index("unit_id")["grade_prior"].fillna("")
    assert sorted(units) == sorted(want.index)
    assert dict(zip(units, prior, strict=True)) == want.to_dict()


@pytest.mark.browser
def test_what_if_control_back_to_the_scheme_restores_it_exactly(page, expected):
    _, scheme, _ = expected
    quotas = {g: round(v * 100) for g, v in scheme.grading.quotas.items()}
    _tab(page, "가정 분석")
    page.wait_for_selector(".bsc-whatif-table", timeout=UI_TIMEOUT)
    page.locator(".bsc-w-reset").click()
    first = next(iter(quotas))

    for v in (quotas[first] + 13, quotas[first] + 4, quotas[first]):  # several moves, then back
        set_whatif_slider(page, f"bsc-w-quota-{first}", v, "quotas", first, 0.01)
    for g, v in quotas.items():
        assert page.locator(f".bsc-w-quota-{g} .widget-readout").inner_text().strip() == f"{v}"
    state = page.locator(".bsc-whatif-state").get_attribute("data-quotas")
    assert state == ",".join(f"{g}={v / 100:g}" for g, v in quotas.items())


@pytest.mark.browser
def test_saved_scenarios_side_by_side_and_restored(page, expected):
    from bsc_lib.analyses import whatif

    data, scheme, r = expected
    base = whatif.prepare(data, scheme, r)
    _tab(page, "가정 분석")
    page.wait_for_selector(".bsc-whatif-table", timeout=UI_TIMEOUT)

    def save(name: str) -> None:
        page.locator(".bsc-w-scen-name input").fill(name)
        page.locator(".bsc-w-scen-save").click()
        page.wait_for_function(f"document.querySelector('.bsc-scenario-compare') && "
                               f"document.querySelector('.bsc-scenario-compare').textContent.includes('{name}')",
                               timeout=UI_TIMEOUT)

    page.locator(".bsc-w-reset").click()
    set_whatif_slider(page, "bsc-w-achievement", 40, "points", "achievement")
    points40 = page.locator(".bsc-whatif-state").get_attribute("data-points")
    save("A40")
    page.locator(".bsc-w-reset").click()
    first = next(iter(scheme.grading.quotas))
    q = round(scheme.grading.quotas[first] * 100) + 10
    set_whatif_slider(page, f"bsc-w-quota-{first}", q, "quotas", first, 0.01)
    save("Q+10")
    # expected: the engine-exact what-if of each saved scenario
    pts = dict(p.split("=") for p in points40.split(","))
    t1 = whatif.whatif_table(base, {k: float(v) for k, v in pts.items()}, base.cap, base.quotas)
    changed1 = set(t1.loc[t1["grade_changed"], "institution_id"])
    rows = set(page.eval_on_selector_all(".bsc-scenario-table tbody tr", "rs => rs.map(r => r.dataset.unit)"))
    assert changed1 <= rows and changed1, "every institution A40 moves is listed"
    head = page.locator(".bsc-scenario-table thead").inner_text()
    assert "A40" in head and "Q+10" in head
    assert f"A40: 등급 변동 {len(changed1)}곳" in page.locator(".bsc-scenario-compare").inner_text()
    # restoring a saved scenario puts every control back exactly
    page.locator(".bsc-w-scen-pick select").select_option("A40")
    page.locator(".bsc-w-scen-load").click()
    page.wait_for_function(f"document.querySelector('.bsc-whatif-state').dataset.points === '{points40}'",
                           timeout=UI_TIMEOUT)
    page.locator(".bsc-w-reset").click()
    assert page.blocked == []


@pytest.mark.browser
def test_a_link_reopens_the_view(browser, server, page, expected):
    """Overview names link to their drill-down; the header's link carries tab, unit, language and
    what-if settings, and opening it (a new viewer) shows that view."""
    _, _, r = expected
    inst = r.institutional.iloc[5]
    uid = inst["institution_id"]
    _tab(page, "종합")
    href = page.locator(f'.bsc-ranking-table tr[data-unit="{uid}"] a.bsc-drill-link').get_attribute("href")
    assert href == f"?tab=drill&inst={uid}&lang=ko"
    pg = _open(browser, server.url)
    try:
        pg.goto(server.url + f"?tab=drill&inst={uid}&lang=en&points=x", wait_until="domcontentloaded",
                timeout=UI_TIMEOUT)
        pg.wait_for_function(f"document.querySelector('.bsc-inst-view h3') && "
                             f"document.querySelector('.bsc-inst-view h3').textContent.startsWith('{uid} ')",
                             timeout=UI_TIMEOUT)
        pg.wait_for_function("document.querySelector('.bsc-tabs .lm-TabBar-tab.lm-mod-current').textContent"
                             ".includes('Drill-down')", timeout=UI_TIMEOUT)
        assert "Seoul BSC evaluation dashboard" in pg.locator(".bsc-header").inner_text()
        link = pg.locator(".bsc-view-link").get_attribute("href")
        assert f"inst={uid}" in link and "tab=drill" in link and "lang=en" in link
        # a what-if view in a link
        pg.goto(server.url + "?tab=whatif&points=pre_evaluation:20,achievement:40,qualitative:15,evaluator:10,"
                "cooperation:15", wait_until="domcontentloaded", timeout=UI_TIMEOUT)
        pg.wait_for_function("document.querySelector('.bsc-whatif-state') && document.querySelector("
                             "'.bsc-whatif-state').dataset.points.split(',').includes('achievement=40')",
                             timeout=UI_TIMEOUT)
        assert "points=pre_evaluation%3A20%2Cachievement%3A40" in pg.locator(".bsc-view-link").get_attribute("href")
        assert pg.blocked == []
    finally:
        close_page(pg)


@pytest.mark.browser
def test_tables_sort_and_filter_in_the_page(page, expected, tmp_path):
    """Ranking table: a header click sorts by that column (numbers by value, grades best first),
    a second click reverses; the filter box hides the rows that do not contain the text. No
    request leaves the loopback (the sort and filter are the page's own)."""
    _, _, r = expected
    inst = r.institutional
    _tab(page, "종합")
    table = ".bsc-ranking-table"
    units = f"Array.from(document.querySelectorAll('{table} tbody tr')).map(r => r.dataset.unit)"
    heads = page.locator(f"{table} thead th")
    n_cols = heads.count()
    idx = {heads.nth(i).inner_text().strip(" ↕▲▼"): i for i in range(n_cols)}
    by_total = inst.sort_values(["total", "institution_id"], kind="stable")
    heads.nth(idx["총점"]).click()
    got = page.evaluate(units)
    assert [float(inst.set_index("institution_id").loc[u, "total"]) for u in got] == sorted(inst["total"])
    assert heads.nth(idx["총점"]).get_attribute("aria-sort") == "ascending"
    heads.nth(idx["총점"]).click()
    got = page.evaluate(units)
    assert [float(inst.set_index("institution_id").loc[u, "total"]) for u in got] == sorted(inst["total"], reverse=True)
    assert got[0] == by_total["institution_id"].iloc[-1]
    heads.nth(idx["등급"]).click()  # grades best first: S, A, B, C
    grades = page.eval_on_selector_all(f"{table} tbody tr", "rs => rs.map(r => r.dataset.grade)")
    order = {"S": 0, "A": 1, "B": 2, "C": 3}
    assert [order[g] for g in grades] == sorted(order[g] for g in grades)
    # filter: an institution's name leaves its row (and any other containing the text)
    some = inst.iloc[3]
    box = page.locator(".bsc-ranking input.bsc-filter")
    box.fill(some["name_ko"])
    visible = page.eval_on_selector_all(f"{table} tbody tr", "rs => rs.filter(r => r.style.display !== 'none')"
                                        ".map(r => r.dataset.unit)")
    assert some["institution_id"] in visible and len(visible) < len(inst)
    assert all(some["name_ko"] in inst.set_index("institution_id").loc[u, "name_ko"] for u in visible)
    assert page.locator(".bsc-ranking .bsc-filter-n").inner_text() == f"{len(visible)} / {len(inst)}"
    page.screenshot(path=str(tmp_path / "sorted_filtered.png"), full_page=False)
    box.fill("")
    assert page.eval_on_selector_all(f"{table} tbody tr", "rs => rs.filter(r => r.style.display !== 'none').length") \
        == len(inst)
    # the component chart's names link to the drill-down too
    assert page.locator(".bsc-comp-bars a.bsc-drill-link").count() == len(inst)
    assert page.blocked == []


@pytest.mark.browser
def test_ranking_chart_marks_open_the_drill_down(browser, server, expected):
    """Clicking an institution's bar in the overview ranking chart opens its drill-down."""
    _, _, r = expected
    uid = r.institutional.iloc[7]["institution_id"]
    pg = _open(browser, server.url)
    try:
        pg.goto(server.url, wait_until="domcontentloaded", timeout=UI_TIMEOUT)
        pg.wait_for_selector(".bsc-board .rb-row", timeout=UI_TIMEOUT)
        # a place for the next page while this one still holds its kernel (an earlier test's page
        # may still be shutting down): the navigation is then admitted whichever of the page's
        # request and the left page's shutdown beacon reaches the server first
        wait_status(server, lambda st: st["viewers"] + st["closing"] + st["claims"] < st["max_viewers"], 60,
                    "a free place for the drill-down page")
        with pg.expect_navigation(timeout=UI_TIMEOUT) as nav:
            pg.locator(f'.bsc-board .rb-row[data-unit="{uid}"] .rb-bar').click()
        assert nav.value.status == 200
        assert f"inst={uid}" in pg.url and "tab=drill" in pg.url
        pg.wait_for_function(f"document.querySelector('.bsc-inst-view h3') && "
                             f"document.querySelector('.bsc-inst-view h3').textContent.startsWith('{uid} ')",
                             timeout=UI_TIMEOUT)
        assert pg.blocked == []
    finally:
        close_page(pg)


@pytest.mark.browser
def test_a_closed_page_gives_its_kernel_back_at_once(browser, server):
    """Closing a page (its ``beforeunload`` beacon) shuts its kernel down now, not after the
    server's grace of 30 s: the beacon's ``_xsrf`` token is the cookie the page request set."""
    pg = _open(browser, server.url)
    try:
        pg.goto(server.url, wait_until="domcontentloaded", timeout=UI_TIMEOUT)
        pg.wait_for_selector(".bsc-ranking-table", timeout=UI_TIMEOUT)
        assert any(c["name"] == "_xsrf" for c in pg.context.cookies())
        viewers = status(server)["viewers"]
    finally:
        close_page(pg)
    wait_status(server, lambda st: st["viewers"] == viewers - 1, 15, "the closed page's kernel shut down")
    assert "'_xsrf' argument missing" not in server.log.read_text(encoding="utf-8", errors="replace")


@pytest.mark.browser
def test_presentation_mode(page, tmp_path):
    _tab(page, "종합")
    page.wait_for_selector(".bsc-ranking-table", timeout=UI_TIMEOUT)
    page.locator(".bsc-w-present").click()
    page.wait_for_selector(".bsc-dash.bsc-present", timeout=UI_TIMEOUT)
    sizes = page.eval_on_selector_all(
        ".bsc-ranking-table td, .bsc-board .rb-row, .bsc-cards .k, .bsc-note",
        "es => es.filter(e => e.offsetParent !== null).map(e => parseFloat(getComputedStyle(e).fontSize))")
    assert sizes and min(sizes) >= 18, f"body text below 18 px: {min(sizes)}"
    page.screenshot(path=str(tmp_path / "present.png"))
    # keyboard: from a focused tab title, the arrow keys move between tabs
    page.locator(".bsc-tabs .lm-TabBar-tab", has_text="종합").first.focus()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Enter")
    page.wait_for_function("document.querySelector('.bsc-tabs .lm-TabBar-tab.lm-mod-current').textContent"
                           ".includes('기관·부서 상세')", timeout=UI_TIMEOUT)
    assert not page.locator(".bsc-w-inst").is_visible(), "controls hidden"
    _tab(page, "가정 분석")
    page.wait_for_selector(".bsc-whatif-table", timeout=UI_TIMEOUT)
    assert not page.locator(".bsc-whatif-controls").is_visible()
    page.locator(".bsc-w-present").click()
    page.wait_for_function("!document.querySelector('.bsc-dash').classList.contains('bsc-present')",
                           timeout=UI_TIMEOUT)
    assert page.locator(".bsc-whatif-controls").is_visible()
    assert page.blocked == []


@pytest.mark.browser
def test_files_and_sources_are_not_served(server):
    for path in ("voila/files/90-dashboard.ipynb", "voila/files/notebooks/90-dashboard.ipynb",
                 "voila/files/../data/sample/2019/kpis.csv", "voila/files/%2E%2E/data/sample/2019/kpis.csv",
                 "voila/files/../params/scheme-2019.yaml", "voila/files/../bsc_lib/present/dashboard.py",
                 "voila/render/90-dashboard.ipynb", "api/contents/90-dashboard.ipynb",
                 "voila/api/contents/90-dashboard.ipynb"):
        status, body = _get(server.url + path)
        assert status in (403, 404), f"{path}: {status}"
        assert "bsc_lib.present.dashboard" not in body


@pytest.mark.parametrize("case", ["missing", "invalid"])
def test_cli_refuses_bad_data_before_serving(case, tmp_path, capsys):
    """The start-up check: the problem table and exit 2, and nothing starts listening."""
    import shutil

    from bsc_lib.cli import main

    if case == "missing":
        data = tmp_path / "no-such-folder"
    else:
        data = tmp_path / "broken"
        shutil.copytree(SAMPLE, data)
        kpis = (data / "kpis.csv").read_text(encoding="utf-8-sig").splitlines()
        kpis[1] = kpis[1].replace(kpis[1].split(",")[0], "", 1)  # a KPI without its id
        (data / "kpis.csv").write_text("\n".join(kpis) + "\n", encoding="utf-8")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert main(["dashboard", "--data", str(data), "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert "problem(s) found" in err and ("no-such-folder" in err if case == "missing" else "kpis.csv" in err)
    assert "Traceback" not in err
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0, "no server was started"


def test_a_links_tab_survives_the_page_reporting_its_first_tab(monkeypatch):
    """Kernel side of a link: the page may report tab 0 more than once while it renders (a
    language in the link relabels the tabs); the link's tab is put back each time, at most
    TAB_RESTORES times, and a viewer's own click on the overview afterwards is honoured."""
    from bsc_lib.present import dashboard as D

    app = D.DashboardApp(D.build_context(D.resolve_settings(environ={})))
    keys = [p.tab_key.removeprefix("tab_") for p in app.panels]
    drill = keys.index("drill")
    clock = [1000.0]
    monkeypatch.setattr(D.time, "monotonic", lambda: clock[0])
    app.apply_query("tab=drill&lang=en")
    assert app.tabs.selected_index == drill
    for _ in range(D.TAB_RESTORES):  # the page rendering: each report of tab 0 is answered
        clock[0] += 2.0
        app.tabs.selected_index = 0
        assert app.tabs.selected_index == drill
    clock[0] += 2.0
    app.tabs.selected_index = 0  # no more: the viewer's own click
    assert app.tabs.selected_index == 0
    # a click on the overview long after the link was opened is the viewer's
    app.apply_query("tab=drill")
    clock[0] += D.TAB_RESTORE_S + 1
    app.tabs.selected_index = 0
    assert app.tabs.selected_index == 0
    # after one put-back, a later report of tab 0 beyond the shorter window is the viewer's too
    app.apply_query("tab=drill")
    clock[0] += 1.0
    app.tabs.selected_index = 0
    assert app.tabs.selected_index == drill
    clock[0] += D.TAB_RESTORE_AGAIN_S + 1
    app.tabs.selected_index = 0
    assert app.tabs.selected_index == 0


def test_no_panel_maps_integer_coded_text_through_integer_coded_values(coded_map_calls):
    """The map guard of ``test_one_answer`` over the dashboard's own look-ups: every panel built
    and rendered in both languages from the loaded sample (text integer-coded, ``load()``'s
    default), the drill-down on an institution and a department of it."""
    from bsc_lib.data.model import is_coded_text
    from bsc_lib.present import dashboard as D

    app = D.DashboardApp(D.build_context(D.resolve_settings(environ={})))
    assert is_coded_text(app.ctx.data.departments["department_id"].dtype)  # the guard has something to see
    drill = next(p for p in app.panels if isinstance(p, D.DrilldownPanel))
    for lang in ("ko", "en"):
        app.lang = lang
        for panel in app.panels:
            panel.dirty = True
            panel.ensure()
        inst = sorted(drill._inst_ids)[0]
        dept = app.ctx.data.departments.loc[app.ctx.data.departments["institution_id"] == inst, "department_id"]
        drill.apply_view({"inst": inst, "dept": str(dept.iloc[0]) if len(dept) else ""})
    assert coded_map_calls == []
