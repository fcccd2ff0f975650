"""One answer per result: every place that states a unit's total, rank or grade agrees with evaluate().

Property test over random schemes (grading method, group, rounding, quotas, cutoffs, a point
split without achievement) and random data (consulting no-shows → deductions, rating noise):
the nominal row of the Monte Carlo, the grade boundaries and the what-if at the scheme's own
settings state exactly what :func:`bsc_lib.evaluate` states.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bsc_lib
from bsc_lib.analyses import whatif
from bsc_lib.analyses.recipes import PRODUCERS, Recipes
from bsc_lib.config.analysis_params import load_analysis_params
from bsc_lib.config.scheme import load_scheme
from bsc_lib.data.model import BSCData
from bsc_lib.data.sample import generate
from bsc_lib.data.validate import validate_data
from bsc_lib.present.export import table_sha256

ROOT = Path(__file__).resolve().parent.parent
SCHEME = yaml.safe_load((ROOT / "params" / "scheme-2019.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def worlds():
    return [generate(2019, seed=s, scale=0.25) for s in (3, 11)]


@pytest.fixture(scope="module")
def quick_settings():
    s = load_analysis_params()
    rob = s.robustness.model_copy(update={"n_draws": 40, "bootstrap": 4, "caps": [1.0, 1.2]})
    return s.model_copy(update={"robustness": rob})


@st.composite
def schemes(draw):
    d = copy.deepcopy(SCHEME)
    g = d["grading"]
    g["method"] = draw(st.sampled_from(["forced", "cutoffs"]))
    g["group_by"] = draw(st.sampled_from(["inst_type", "none"]))
    g["rounding"] = draw(st.sampled_from(["largest_remainder", "floor_best"]))
    n = draw(st.integers(2, 5))
    labels = ["S", "A", "B", "C", "D"][:n]
    raw = draw(st.lists(st.integers(1, 10), min_size=n, max_size=n))
    shares = [round(x / sum(raw), 4) for x in raw]
    shares[-1] = round(1.0 - sum(shares[:-1]), 4)
    if shares[-1] < 0:
        shares = [round(1.0 / n, 4)] * (n - 1) + [round(1.0 - round(1.0 / n, 4) * (n - 1), 4)]
    g["quotas"] = dict(zip(labels, shares, strict=True))
    cuts = sorted(draw(st.lists(st.integers(0, 99), min_size=n, max_size=n, unique=True)), reverse=True)
    cuts[-1] = 0
    g["cutoffs"] = dict(zip(labels, [float(c) for c in cuts], strict=True))
    moved = draw(st.sampled_from([0, 10, 20]))  # 20: a scheme without the achievement component
    comps = d["evaluations"]["institutional"]["components"]
    comps["achievement"] -= moved
    comps["pre_evaluation"] += moved
    return d


def _scheme(tmp_path_factory, d) -> object:
    p = tmp_path_factory.mktemp("scheme") / "scheme.yaml"
    p.write_text(yaml.safe_dump(d, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return load_scheme(p)


def _perturb(data: BSCData, seed: int) -> BSCData:
    rng = np.random.default_rng(seed)
    t = dict(data.tables)
    dep = t["departments"].copy()
    dep["consulting_participated"] = rng.random(len(dep)) < 0.7
    t["departments"] = dep
    q = t["qualitative_ratings"].copy()
    q["score"] = np.clip(pd.to_numeric(q["score"]) + rng.normal(0, 5, len(q)).round(), 0, 100)
    t["qualitative_ratings"] = q
    return BSCData(tables=t, source=data.source)


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(d=schemes(), world=st.integers(0, 1), seed=st.integers(0, 2**16))
def test_every_grade_of_a_run_is_the_engines(tmp_path_factory, worlds, quick_settings, d, world, seed):
    scheme = _scheme(tmp_path_factory, d)
    data = _perturb(worlds[world], seed)
    r = Recipes(data, scheme, quick_settings, 2019, "year")
    inst = r.results.institutional.set_index("institution_id")
    grouped = scheme.grading.group_by == "inst_type"
    rank = inst["rank_in_group"] if grouped else inst["rank_overall"]

    mc = r["rank_robustness"].set_index("unit_id").reindex(inst.index)
    np.testing.assert_allclose(mc["nominal_total"], inst["total"], atol=1e-9)
    assert (mc["nominal_rank"].astype(int) == rank.astype(int)).all()
    assert (mc["nominal_grade"] == inst["grade"]).all()

    gb = r["grade_boundaries"].set_index("unit_id").reindex(inst.index)
    assert (gb["grade"] == inst["grade"]).all()
    # a unit never sits beyond its own boundary: the distance to the next worse grade is >= 0
    assert (gb["points_to_next_worse"].dropna() >= -1e-9).all()

    dep = r.results.departments.set_index("department_id")
    db = r["department_grade_boundaries"].set_index("unit_id").reindex(dep.index)
    assert (db["grade"] == dep["grade"]).all()

    base = whatif.prepare(data, scheme, r.results)
    wi = whatif.whatif_table(base).set_index("institution_id").reindex(inst.index)
    np.testing.assert_allclose(wi["total"], inst["total"], atol=1e-9)
    assert (wi["grade"] == inst["grade"]).all()


def test_sample_2019_robustness_nominal_rows_are_the_scored_grades():
    """The issue's reproduction: 4 of 45 institutions (I01, I07, I31, I38) disagreed before."""
    scheme = bsc_lib.load_scheme(ROOT / "params" / "scheme-2019.yaml")
    data = bsc_lib.load(ROOT / "data" / "sample" / "2019", scheme=scheme)
    r = Recipes(data, scheme)
    inst = r["institutional"].set_index("institution_id")
    mc = r["rank_robustness"].set_index("unit_id").reindex(inst.index)
    assert (mc["nominal_grade"] == inst["grade"]).all()
    assert (mc["nominal_rank"].astype(int) == inst["rank_in_group"].astype(int)).all()
    # p_grade_change is measured against the real grade: I01 (기획조정실) is a C whose grade rarely moves
    assert mc.loc["I01", "p_grade_change"] < 0.5


# --------------------------------------------------------------------------- text str or integer-coded


def _coded(data: BSCData) -> BSCData:
    """``data`` with every ``str`` column integer-coded (``category``), as ``load()`` gives it."""
    tables = {n: t.astype({c: "category" for c in t.columns if str(t[c].dtype) == "str"})
              for n, t in data.tables.items()}
    return BSCData(tables=tables, source=data.source, input_hashes=dict(data.input_hashes))


def _ids_shuffled(data: BSCData, seed: int) -> BSCData:
    """``data`` with every id (columns ``*_id``) renamed by a seeded permutation among the ids of
    the same prefix, consistently in every table: the sorted order of one table's ids no longer
    follows another's (a key that sorts first may own the department that sorts last)."""
    ids = sorted({v for t in data.tables.values() for c in t.columns if c.endswith("_id")
                  for v in t[c].dropna()})
    groups: dict[str, list[str]] = {}
    for v in ids:
        groups.setdefault(v.rstrip("0123456789"), []).append(v)
    rng = np.random.default_rng(seed)
    new = {v: vs[i] for vs in groups.values() for v, i in zip(vs, rng.permutation(len(vs)), strict=True)}
    tables = {n: t.assign(**{c: t[c].map(new).astype("str") for c in t.columns if c.endswith("_id")})
              for n, t in data.tables.items()}
    return BSCData(tables=tables, source=data.source)


def _all_tables(data: BSCData, scheme, scheme_b) -> dict[str, pd.DataFrame]:
    out = {}
    for half in ("year", "H1"):
        r = Recipes(data, scheme, None, 2019, half, compare_scheme=scheme_b)
        out.update({f"{half}:{name}": r[name] for name in PRODUCERS})
    return out


@pytest.mark.parametrize("source", ["sample loaded", "generated, ids shuffled"])
def test_every_result_table_is_the_same_for_str_and_integer_coded_text(source):
    """Every producer's table (both halves, scheme comparison included) is identical — values,
    dtypes, index and hash — whether the inputs hold their text as ``str`` or as ``category``
    (``load()``'s default); result tables never hold ``category`` text. The shuffled ids catch
    maps that are right only while keys and values sort alike (pandas 3.1 maps a categorical
    through a one-to-one Series of categorical values by their sorted order: ``kpi_trend`` named
    the wrong KPIs on generated data)."""
    scheme = bsc_lib.load_scheme(ROOT / "params" / "scheme-2019.yaml")
    scheme_b = bsc_lib.load_scheme(ROOT / "params" / "scheme-2019-reform-split.yaml")
    if source == "sample loaded":
        path = ROOT / "data" / "sample" / "2019"
        as_str, coded = bsc_lib.load(path, scheme=scheme, text="str"), bsc_lib.load(path, scheme=scheme)
    else:  # built in code with str columns, and the same tables integer-coded
        as_str = _ids_shuffled(generate(2019, seed=7, scale=0.3), seed=20190201)
        assert validate_data(as_str, scheme) == []
        coded = _coded(as_str)
    assert any(isinstance(dt, pd.CategoricalDtype) for t in coded.tables.values() for dt in t.dtypes)
    assert not any(isinstance(dt, pd.CategoricalDtype) for t in as_str.tables.values() for dt in t.dtypes)
    a, b = _all_tables(as_str, scheme, scheme_b), _all_tables(coded, scheme, scheme_b)
    assert list(a) == list(b) and len(a) == 2 * len(PRODUCERS)
    for key, df in a.items():
        assert not any(isinstance(dt, pd.CategoricalDtype) for dt in b[key].dtypes), key
        pd.testing.assert_frame_equal(b[key], df, check_exact=True, obj=key)
        assert table_sha256(b[key]) == table_sha256(df), key


def test_no_producer_maps_integer_coded_text_through_integer_coded_values(coded_map_calls):
    """The durable guard for the pandas 3.1 trap above: no producer calls ``Series.map`` /
    ``Index.map`` on a ``category`` column with a mapper whose values are ``category`` (pandas
    then answers by the mapper values' sorted order, not by key). Such a mapper must be made
    plain first (:func:`bsc_lib.data.model.plain_text`). Checked on the loaded sample (text
    integer-coded, ``load()``'s default) for every producer, both halves, scheme comparison
    included."""
    scheme = bsc_lib.load_scheme(ROOT / "params" / "scheme-2019.yaml")
    scheme_b = bsc_lib.load_scheme(ROOT / "params" / "scheme-2019-reform-split.yaml")
    coded = bsc_lib.load(ROOT / "data" / "sample" / "2019", scheme=scheme)
    tables = _all_tables(coded, scheme, scheme_b)
    assert len(tables) == 2 * len(PRODUCERS)
    assert coded_map_calls == []
