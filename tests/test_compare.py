"""Tests of bsc_lib.analyses.compare and ``bsc compare``: the component decomposition adds up to
the last decimal, hand-checked contributions, the transition matrix, shifts by type, bad input."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from bsc_lib.analyses import compare
from bsc_lib.analyses.recipes import COMPARE_TABLES, PRODUCERS, Recipes
from bsc_lib.cli import main
from bsc_lib.config.planning_params import load_planning_params
from bsc_lib.config.scheme import load_scheme
from bsc_lib.data.io import load
from bsc_lib.errors import SchemeError

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample" / "2019"
A = ROOT / "params" / "scheme-2019.yaml"
B = ROOT / "params" / "scheme-2019-reform-split.yaml"


@pytest.fixture(scope="module")
def rec():
    a, b = load_scheme(A), load_scheme(B)
    data = load(SAMPLE, scheme=a)
    return Recipes(data, a, None, 2019, "year", compare_scheme=b)


def test_producers_registered():
    for name in COMPARE_TABLES:
        assert name in PRODUCERS


def test_contributions_add_up_to_the_last_decimal(rec):
    con = rec["compare_contributions"]
    d = load_planning_params().compare.decimals
    scale = 10 ** d
    units = rec["compare_units"].set_index(["evaluation", "unit_id"])
    assert len(con.groupby(["evaluation", "unit_id"])) == len(units) == 45 + 248
    for (ev, uid), g in con.groupby(["evaluation", "unit_id"]):
        parts = [round(x * scale) for x in g["contribution"]]
        delta = round(g["delta"].iloc[0] * scale)
        assert sum(parts) == delta, (ev, uid)  # integers in units of the last decimal: exact
        # the stated change is the engine totals' exact difference rounded half-even
        exact = Decimal(float(units.at[(ev, uid), "total_b"])) - Decimal(float(units.at[(ev, uid), "total_a"]))
        assert Decimal(str(g["delta"].iloc[0])) == exact.quantize(Decimal(1).scaleb(-d))
        # every stated part is within one unit of the last decimal of the exact difference
        exact_parts = g["points_b"] - g["points_a"]
        assert (g["contribution"] - exact_parts).abs().max() <= 1.0001 / scale


def test_clipping_part_is_the_engines_not_a_residual(rec):
    con = rec["compare_contributions"]
    clip = con[con["part"] == "clipping"]
    # no sample total is clipped to [0, 100]: the part is float noise only, on both sides
    assert clip[["points_a", "points_b"]].abs().max().max() < 1e-9


def test_hand_checked_contributions(rec):
    """Scheme B changes institutional pre-evaluation 20 → 15 points and achievement 20 → 25 with cap
    1.0 → 1.2; qualitative, evaluator and cooperation are unchanged."""
    con = rec["compare_contributions"].set_index(["evaluation", "unit_id", "part"])
    inst = rec.results.institutional.set_index("institution_id")
    for uid in inst.index:
        pre = inst.at[uid, "pre_evaluation"]
        assert con.at[("institutional", uid, "pre_evaluation"), "contribution"] == pytest.approx(-pre / 4, abs=2e-6)
        for part in ("qualitative", "evaluator", "cooperation", "deductions"):
            assert con.at[("institutional", uid, part), "contribution"] == 0.0
    # achievement: points × Σw·min(rate, cap)/Σw / cap, so with every rate ≤ 1 B gives 25/1.2 per 20
    ach_a = inst["achievement"]
    full = ach_a[ach_a == 20.0].index  # met every target under A (rates may exceed 1)
    for uid in full:
        assert con.at[("institutional", uid, "achievement"), "points_b"] >= 25 / 1.2 - 1e-9


def test_unit_changes_and_transitions(rec):
    ch = rec["compare_units"]
    tr = rec["compare_transitions"]
    inst = ch[ch["evaluation"] == "institutional"]
    assert (inst["delta"] == inst["total_b"] - inst["total_a"]).all()
    for ev, g in ch.groupby("evaluation"):
        t = tr[tr["evaluation"] == ev]
        assert t["n"].sum() == len(g)
        off = t[t["grade_a"] != t["grade_b"]]["n"].sum()
        assert off == int(g["grade_changed"].sum())
        # row shares sum to 1 for every grade present under A
        s = t.groupby("grade_a")["share_of_a"].sum().dropna()
        assert ((s - 1).abs() < 1e-12).all()
    # grade steps: S→A is −1
    row = ch[(ch["grade_a"] == "S") & (ch["grade_b"] == "A")]
    assert (row["grade_steps"] == -1).all()


def test_type_shifts_match_hand_means(rec):
    ch = rec["compare_units"]
    sh = rec["compare_shifts"].set_index(["evaluation", "inst_type"])
    for (ev, typ), g in ch.groupby(["evaluation", "inst_type"]):
        assert sh.at[(ev, typ), "n_units"] == len(g)
        assert sh.at[(ev, typ), "mean_delta"] == pytest.approx(g["delta"].mean(), abs=1e-12)
        assert sh.at[(ev, typ), "n_grade_up"] == int((g["grade_steps"] > 0).sum())
    assert sh["kw_p"].between(0, 1).all()


def test_discrimination_side_by_side(rec):
    disc = rec["compare_discrimination"]
    assert list(disc.columns[:1]) == ["scheme"]
    a = disc[disc["scheme"] == "A"].drop(columns="scheme").reset_index(drop=True)
    pd.testing.assert_frame_equal(a, rec["discrimination"].reset_index(drop=True))
    # the 120 % cap breaks the achievement ties of the departments
    dep = disc[(disc["evaluation"] == "department") & (disc["component"] == "achievement")].set_index("scheme")
    assert dep.at["B", "largest_tie_share"] < dep.at["A", "largest_tie_share"]
    eff = rec["compare_effective_weights"]
    assert set(eff["scheme"]) == {"A", "B"}


def test_same_scheme_changes_nothing():
    a = load_scheme(A)
    data = load(SAMPLE, scheme=a)
    r = Recipes(data, a, None, 2019, "year", compare_scheme=a)
    assert (r["compare_contributions"]["contribution"] == 0).all()
    assert not r["compare_units"]["grade_changed"].any()


def test_hamilton_rounding_sums_exactly():
    unit = Decimal("0.01")
    vals = [Decimal("0.333"), Decimal("0.333"), Decimal("0.334")]
    out = compare._hamilton(vals, Decimal("1.00"), unit)
    assert sum(out) == Decimal("1.00") and out == [Decimal("0.33"), Decimal("0.33"), Decimal("0.34")]
    neg = compare._hamilton([Decimal("-0.005"), Decimal("0.015")], Decimal("0.01"), unit)
    assert sum(neg) == Decimal("0.01")


def test_no_compare_scheme_is_a_clear_error():
    a = load_scheme(A)
    r = Recipes(load(SAMPLE, scheme=a), a, None, 2019)
    with pytest.raises(ValueError, match="no comparison scheme"):
        r["compare_units"]


def test_cli_compare_writes_a_run_folder(tmp_path):
    assert main(["compare", "--scheme", str(A), "--scheme", str(B), "--out", str(tmp_path)]) == 0
    (run,) = (tmp_path / "2019").glob("compare-*")
    wb = openpyxl.load_workbook(run / "results.xlsx", read_only=True)
    assert len(wb.sheetnames) == len(COMPARE_TABLES)
    assert {p.stem for p in (run / "tables").glob("*.csv")} == set(COMPARE_TABLES)
    assert (run / "manifest.json").is_file()


def test_cli_compare_bad_inputs(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("evaluations: [", encoding="utf-8")
    assert main(["compare", "--scheme", str(A), "--scheme", str(bad), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "bad.yaml" in err and "scheme B" in err and "Traceback" not in err
    assert main(["compare", "--scheme", str(A), "--out", str(tmp_path)]) == 2
    assert "exactly two schemes" in capsys.readouterr().err
    # a proposal that lowers cooperation item points below the rated scores: the data does not fit B
    text = A.read_text(encoding="utf-8")
    text = text.replace("label_en: Organisational culture, points: 5,", "label_en: Organisational culture, points: 2,")
    text = text.replace("label_en: Disabled staff placement, points: 2,", "label_en: Disabled staff placement, points: 5,")
    b2 = tmp_path / "b2.yaml"
    b2.write_text(text, encoding="utf-8")
    assert main(["compare", "--scheme", str(A), "--scheme", str(b2), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "cooperation_scores" in err and "under scheme B (b2.yaml)" in err
    assert not list((tmp_path / "2019").glob("compare-*")) if (tmp_path / "2019").exists() else True
    # a year the data holds no results for
    assert main(["compare", "--scheme", str(A), "--scheme", str(B), "--year", "2030", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "year outside the data" in err and "no KPI results for 2030" in err and "2019" in err
    assert not (tmp_path / "2030").exists()


def test_planning_params_strict(tmp_path):
    p = tmp_path / "planning.yaml"
    p.write_text((ROOT / "params" / "planning.yaml").read_text(encoding="utf-8") + "extra: 1\n", encoding="utf-8")
    with pytest.raises(SchemeError, match="unknown key"):
        load_planning_params(p)
    p.write_text("compare: {decimals: 6}\n", encoding="utf-8")
    with pytest.raises(SchemeError, match="missing key"):
        load_planning_params(p)


def test_report_hook_adds_the_compare_notebook_only_on_request(tmp_path):
    from bsc_lib.runs.pipeline import default_notebooks
    from bsc_lib.runs.planning import compare_hook

    assert not any("compare" in p.name for p in default_notebooks())
    assert compare_hook(SAMPLE, None, None, {}) == {}
    params: dict = {}
    hook = compare_hook(SAMPLE, B, None, params)
    names = [p.name for p in hook["notebooks"]]
    assert "09-compare.ipynb" in names and names == sorted(names)  # before the appendix (99)
    assert hook["nb_params"] == {"compare_scheme_path": str(B)}
    assert len(params["compare_scheme_sha256"]) == 64  # scheme B enters the run key
    bad = tmp_path / "bad.yaml"
    bad.write_text("scheme_id: x\n", encoding="utf-8")
    with pytest.raises(SchemeError, match="scheme B"):
        compare_hook(SAMPLE, bad, None, {})


def test_display_views_label_codes(rec):
    from bsc_lib.present import planning_plots

    w = planning_plots.weights_view(rec["compare_effective_weights"], "en")
    row = w[(w["evaluation"] == "Institutional") & (w["component"] == "Pre-evaluation")].iloc[0]
    assert (row["nominal_a"], row["nominal_b"]) == (20.0, 15.0)
    d = planning_plots.discrimination_view(rec["compare_discrimination"], "ko")
    assert "pre_evaluation" not in set(d["component"]) and {"tie_share_a", "tie_share_b"} <= set(d.columns)
    u = planning_plots.units_view(rec["compare_units"], "ko")
    assert "main_office" not in set(u["type_of_unit"]) and "unit_name" in u.columns
    fig = planning_plots.contribution_bars(rec["compare_contributions"], rec["compare_units"], "institutional", "en")
    assert len(fig.data[-1].y) == 45


def test_dashboard_compare_tab():
    from bsc_lib.present import dashboard as D

    assert D.DashboardApp.PANELS[-1] is D.ComparePanel
    ctx = D.build_context(D.resolve_settings(environ={}))
    app = D.DashboardApp(ctx)
    panel = app.panels[-1]
    panel.ensure()
    assert panel.pick.value.endswith("scheme-2019-reform-split.yaml")
    assert "45" in panel.head.value and "<table" in panel.table.value and "<table" in panel.shifts.value
    panel.level.value = "department"
    assert "248" in panel.head.value


def test_schemes_with_different_grade_lists(tmp_path):
    """B grades S/A/B (30/40/30 %) instead of S/A/B/C: the matrix is 4 × 3, C → B is one step up."""
    text = A.read_text(encoding="utf-8")
    text = text.replace("quotas: {S: 0.2, A: 0.3, B: 0.4, C: 0.1}", "quotas: {S: 0.3, A: 0.4, B: 0.3}")
    text = text.replace("cutoffs: {S: 90, A: 80, B: 70, C: 0}", "cutoffs: {S: 90, A: 80, B: 0}")
    b3 = tmp_path / "three.yaml"
    b3.write_text(text, encoding="utf-8")
    a, b = load_scheme(A), load_scheme(b3)
    r = Recipes(load(SAMPLE, scheme=a), a, None, 2019, compare_scheme=b)
    tr = r["compare_transitions"]
    inst = tr[tr["evaluation"] == "institutional"]
    assert len(inst) == 12 and inst["n"].sum() == 45
    ch = r["compare_units"]
    c_to_b = ch[(ch["grade_a"] == "C") & (ch["grade_b"] == "B")]
    assert len(c_to_b) and (c_to_b["grade_steps"] == 1).all()
    assert (r["compare_contributions"]["contribution"] == 0).all()  # only the grading changed
