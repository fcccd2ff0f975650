"""Analysis settings are validated like the scheme: unknown or missing keys are errors."""

import pytest

from bsc_lib.config.analysis_params import default_analysis_path, load_analysis_params
from bsc_lib.errors import SchemeError


def test_default_settings_load():
    p = load_analysis_params()
    assert p.robustness.n_draws == 10000 and p.difficulty.easy_margin == 0.02


def test_unknown_and_missing_keys_are_errors(tmp_path):
    text = default_analysis_path().read_text(encoding="utf-8")
    bad = tmp_path / "a.yaml"
    bad.write_text(text.replace("easy_margin:", "easy_margn:"), encoding="utf-8")
    with pytest.raises(SchemeError) as e:
        load_analysis_params(bad)
    rules = {p.rule for p in e.value.problems}
    assert {"unknown key", "missing key"} <= rules
    assert any("easy_margn" in p.column for p in e.value.problems)


def test_out_of_range_value(tmp_path):
    text = default_analysis_path().read_text(encoding="utf-8")
    bad = tmp_path / "a.yaml"
    bad.write_text(text.replace("n_draws: 10000", "n_draws: 0"), encoding="utf-8")
    with pytest.raises(SchemeError) as e:
        load_analysis_params(bad)
    assert any("n_draws" in p.column for p in e.value.problems)
