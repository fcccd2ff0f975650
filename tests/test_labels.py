"""Labels: Korean by default, English on request, model headers included."""

from bsc_lib.present.labels import label, period_label, relabel_columns


def test_label_korean_default_and_english():
    assert label("achievement") == "달성도평가"
    assert label("achievement", "en") == "Achievement"
    assert label("weight") == "가중치"  # from the model's Korean header
    assert label("missing_actual") == "실적 누락"  # from the components' flag labels
    assert label("no_such_thing") == "no_such_thing"


def test_year_column_keeps_its_column_label():
    assert label("year") == "연도"
    assert period_label("year") == "연간" and period_label("H1") == "상반기"
    assert period_label("H2", "en") == "Second half"


def test_relabel_columns():
    assert relabel_columns(["total", "grade"], "ko") == ["총점", "등급"]
