"""Scheme files: both shipped schemes load; inconsistent schemes are rejected with key paths."""

from pathlib import Path

import pytest
import yaml

from bsc_lib.config.scheme import load_scheme
from bsc_lib.errors import SchemeError

ROOT = Path(__file__).resolve().parent.parent
S2019 = ROOT / "params" / "scheme-2019.yaml"
S2020 = ROOT / "params" / "scheme-example-2020.yaml"


def test_2019_scheme_matches_the_seed_table():
    s = load_scheme(S2019)
    # seed §Ⅳ.2: institutional 20/20/25/10/–/25, individual 20/20/40/15/5/–
    assert s.evaluations["institutional"].components == {
        "pre_evaluation": 20, "achievement": 20, "qualitative": 25, "evaluator": 10, "cooperation": 25}
    assert s.evaluations["individual"].components == {
        "pre_evaluation": 20, "achievement": 20, "qualitative": 40, "evaluator": 15, "organisation": 5}
    assert s.points("individual", "qualitative") == 40.0
    assert s.points("institutional", "organisation") == 0.0
    assert sum(i.points for i in s.components.cooperation.items) == 25
    assert len(s.sha256) == 64


def test_example_2020_scheme_loads_and_differs():
    s19, s20 = load_scheme(S2019), load_scheme(S2020)
    # the 2017-like split: BSC 60 (15 + 25 + 20), cooperation 30 in 11 items, evaluator 10
    inst = s20.evaluations["institutional"].components
    assert inst["pre_evaluation"] + inst["achievement"] + inst["qualitative"] == 60
    assert inst["cooperation"] == 30 and len(s20.components.cooperation.items) == 11
    assert inst["evaluator"] == 10
    assert s20.components.achievement.cap == 1.2
    assert s20.components.achievement.formula == "baseline_progress"
    assert [i.id for i in s20.components.qualitative.items] != [i.id for i in s19.components.qualitative.items]
    assert s20.grading.method == "cutoffs" and list(s20.grading.cutoffs) == ["S", "A", "B"]


def _write(tmp_path: Path, mutate) -> Path:
    data = yaml.safe_load(S2019.read_text(encoding="utf-8"))
    mutate(data)
    p = tmp_path / "scheme.yaml"
    p.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return p


def _messages(exc: SchemeError) -> str:
    return "\n".join(str(p) for p in exc.problems)


def test_points_not_summing_to_100(tmp_path):
    def m(d):
        d["evaluations"]["institutional"]["components"]["evaluator"] = 15  # 105
    with pytest.raises(SchemeError) as e:
        load_scheme(_write(tmp_path, m))
    assert "evaluations.institutional.components: points must sum to 100, got 105" in _messages(e.value)


def test_unknown_component(tmp_path):
    def m(d):
        comps = d["evaluations"]["individual"]["components"]
        comps["charisma"] = comps.pop("organisation")
    with pytest.raises(SchemeError) as e:
        load_scheme(_write(tmp_path, m))
    assert "evaluations.individual.components.charisma: unknown component" in _messages(e.value)


def test_rater_group_points_not_summing_to_qualitative_points(tmp_path):
    def m(d):
        d["components"]["qualitative"]["rater_groups"]["institutional"]["expert"] = 10  # 12.5 + 10 ≠ 25
    with pytest.raises(SchemeError) as e:
        load_scheme(_write(tmp_path, m))
    assert "components.qualitative.rater_groups.institutional" in _messages(e.value)
    assert "got 22.5" in _messages(e.value)


def test_item_shares_not_summing_to_one(tmp_path):
    def m(d):
        d["components"]["pre_evaluation"]["items"][0]["share"] = 0.5  # 1.25
    with pytest.raises(SchemeError) as e:
        load_scheme(_write(tmp_path, m))
    assert "components.pre_evaluation.items: shares must sum to 1, got 1.25" in _messages(e.value)


def test_cooperation_items_not_summing_to_points(tmp_path):
    def m(d):
        d["components"]["cooperation"]["items"][0]["points"] = 3  # 26
    with pytest.raises(SchemeError) as e:
        load_scheme(_write(tmp_path, m))
    assert "cooperation points of institutional (25), got 26" in _messages(e.value)


def test_unknown_key_and_bad_choice(tmp_path):
    def m(d):
        d["components"]["achievement"]["formula"] = "magic"
        d["components"]["achievement"]["bonus"] = 1
    with pytest.raises(SchemeError) as e:
        load_scheme(_write(tmp_path, m))
    msg = _messages(e.value)
    assert "components.achievement.formula" in msg
    assert "unknown key" in msg and "bonus" in msg
