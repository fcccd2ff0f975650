"""Report plots (bsc_lib.present.plots): names, not ids, in the labels a chart shows; rendered
geometry of figures in Debian's Chromium."""

from __future__ import annotations

import pandas as pd
import pytest
from dashboard_helpers import chromium_browser

from bsc_lib.present import plots
from bsc_lib.present.labels import label


def _sobol() -> pd.DataFrame:
    return pd.DataFrame({
        "output": ["per_unit_mean"] * 4,
        "input": ["weights", "achievement", "qualitative", "quotas"],
        "input_ko": ["배점(가중치)", "대안 점수: achievement", "평가자 재표집: qualitative", "등급 배분율"],
        "S1": [0.5, 0.2, 0.1, 0.0], "ST": [0.6, 0.3, 0.1, 0.0],
        "S1_ci_low": [0.4, 0.1, 0.0, 0.0], "S1_ci_high": [0.6, 0.3, 0.2, 0.0],
        "ST_ci_low": [0.5, 0.2, 0.0, 0.0], "ST_ci_high": [0.7, 0.4, 0.2, 0.0],
    })


def test_sobol_inputs_carry_the_korean_component_label():
    named = plots.sobol_named(_sobol())
    assert named["input_ko"].tolist() == ["배점(가중치)", f"대안 점수: {label('achievement', 'ko')}",
                                          f"평가자 재표집: {label('qualitative', 'ko')}", "등급 배분율"]
    assert named["input"].tolist() == _sobol()["input"].tolist()  # the ids stay for the English report
    ticks = list(plots.sobol_bar(_sobol(), "ko").data[0].y)
    assert not [t for t in ticks if "achievement" in t or "qualitative" in t], ticks


@pytest.fixture(scope="module")
def browser():
    yield from chromium_browser()


def _transitions() -> pd.DataFrame:
    grades = ["S", "A", "B", "C"]
    rows = [{"level": "institution", "grade_prior": p, "grade": g, "n": (i * 3 + j) % 7}
            for i, p in enumerate([*grades, "new"]) for j, g in enumerate(grades)]
    return pd.DataFrame(rows)


@pytest.mark.parametrize("lang", ["ko", "en"])
@pytest.mark.parametrize("width", [700, 1200])
def test_grade_transition_title_clears_the_top_axis_title(browser, tmp_path, lang, width):
    """The x axis sits on top of the heatmap: the figure title must end above the axis title."""
    fig = plots.grade_transition_heatmap(_transitions(), 2019, lang)
    fig.update_layout(width=width)
    page_file = tmp_path / "fig.html"
    fig.write_html(page_file, include_plotlyjs=True, full_html=True)
    page = browser.new_context(viewport={"width": width + 40, "height": 900}).new_page()
    page.goto(page_file.as_uri())
    page.wait_for_selector(".gtitle")
    title = page.locator(".gtitle").bounding_box()
    xtitle = page.locator(".xtitle").bounding_box()
    ticks = page.locator(".xtick text").first.bounding_box()
    assert title["y"] >= 0 and title["y"] + title["height"] <= xtitle["y"] - 4, (title, xtitle)
    assert xtitle["y"] + xtitle["height"] <= ticks["y"], (xtitle, ticks)
    assert "2019" in page.locator(".xtitle").text_content() and "2018" in page.locator(".ytitle").text_content()
