"""Report plots (bsc_lib.present.plots): names, not ids, in the labels a chart shows."""

from __future__ import annotations

import pandas as pd

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
