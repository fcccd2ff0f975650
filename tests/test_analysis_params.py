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


def test_input_na_as_missing_is_documented_optional_and_strict(tmp_path):
    assert load_analysis_params().input.na_as_missing is False  # the shipped file states it
    assert "na_as_missing: false" in default_analysis_path().read_text(encoding="utf-8")
    text = default_analysis_path().read_text(encoding="utf-8")
    on = tmp_path / "on.yaml"
    on.write_text(text.replace("na_as_missing: false", "na_as_missing: true"), encoding="utf-8")
    assert load_analysis_params(on).input.na_as_missing is True
    old = tmp_path / "old.yaml"  # a settings file from before the option: the section may be left out
    old.write_text(text[:text.index("input:")], encoding="utf-8")
    assert load_analysis_params(old).input.na_as_missing is False
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("na_as_missing: false", "na_as_missing: false\n  na_missing: true"), encoding="utf-8")
    with pytest.raises(SchemeError) as e:
        load_analysis_params(bad)
    assert [(p.rule, p.column) for p in e.value.problems] == [("unknown key", "input.na_missing")]
    bad.write_text(text.replace("na_as_missing: false", "na_as_missing: maybe"), encoding="utf-8")
    with pytest.raises(SchemeError):
        load_analysis_params(bad)
