"""Property-based tests (hypothesis): parsers, loader and scheme never crash; scores stay in range.

Targets (examples per target: the hypothesis profile's — ``ci``, 100, in ``make test``;
``fuzz``, at least 1,000, in ``make fuzz``, which writes ``bench/FUZZ.md``; see tests/conftest.py):

* cell parsing – any text, formatted numbers round trip, whole tables of random cells
  through ``parse_table``;
* the CSV loader – garbage bytes through reading and parsing, valid-ish tables (the minimal
  fixture with cells replaced and rows shuffled) through reading, both through the whole
  ``load`` (a load with pandera and the cross-table rules costs 50–150 ms);
* scheme loading – mutations of the parsed 2019 scheme, text edits of the YAML file through
  ``load_scheme``;
* scoring – ``evaluate`` on random valid datasets (one evaluation costs ~300 ms).

At 1,000 examples per target the file takes about 11 minutes on two busy cores (measured
2026-11-29: 676 s), at the ``ci`` profile's 100 about a tenth of that.
"""

from __future__ import annotations

import csv
import math
import shutil
import string
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bsc_lib.config.scheme import Scheme, default_scheme_path, load_scheme, scheme_from_mapping
from bsc_lib.data.io import load, read_tables
from bsc_lib.data.io.parse import clean_text, parse_bool, parse_number, parse_table, parsed_dtype
from bsc_lib.data.io.reader import RawTable
from bsc_lib.data.model import TABLES, BSCData, pandas_dtype, plain_text
from bsc_lib.errors import DataError, Problem, SchemeError

MINIMAL = Path(__file__).resolve().parent / "data" / "io" / "minimal"
BASE = ("institutions", "departments", "projects", "kpis", "kpi_results")
SCHEME = load_scheme(default_scheme_path())
SCHEME_TEXT = default_scheme_path().read_text(encoding="utf-8")
SCHEME_DICT = yaml.safe_load(SCHEME_TEXT)

#: Examples per target come from the loaded hypothesis profile (tests/conftest.py: ``ci``, ``fuzz``).
CHEAP = LOADS = SCORES = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])

FULLWIDTH = str.maketrans("0123456789.,-%", "０１２３４５６７８９．，－％")


@pytest.fixture(scope="module")
def workdir():
    d = Path(tempfile.mkdtemp(prefix="bsc-prop-"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


def _fresh(workdir: Path, name: str) -> Path:
    d = workdir / name
    if d.exists():
        shutil.rmtree(d)
    d.mkdir()
    return d


def _check_problems(problems) -> None:
    assert all(isinstance(p, Problem) for p in problems)
    for p in problems:
        assert p.rule and p.message
        assert p.row is None or p.row >= 1
        assert len(p.value) <= 260 and len(p.message) <= 2100


# --------------------------------------------------------------------------- cell parsing

cell_text = st.one_of(
    st.text(max_size=30),
    st.text(alphabet="0123456789,.-+%eE \u2212\uff10\uff11\uff0c\uff05", max_size=15),
    st.sampled_from(["", "-", "N/A", "#N/A", "해당없음", "1,234", "12.5%", "inf", "-inf", "nan",
                     "1e400", "1,23", "１，２３４", "−5", "0x10", "1_000", "TRUE", "예"]),
)


@CHEAP
@given(st.lists(cell_text, min_size=1, max_size=6))
def test_cell_parsers_are_total_on_any_text(cells):
    s = pd.Series(cells, dtype="str")
    text = clean_text(s)
    values, bad = parse_number(text)
    assert len(values) == len(s) and values.dtype == "float64"
    arr = values.to_numpy()
    assert not np.isinf(arr).any()  # a number is finite or missing
    np.testing.assert_array_equal(bad.to_numpy(dtype=bool), text.notna().to_numpy() & np.isnan(arr))
    flags, bad_b = parse_bool(text)
    assert str(flags.dtype) == "boolean" and len(flags) == len(s)
    assert not (bad_b.to_numpy(dtype=bool) & flags.notna().to_numpy()).any()


def _format(x: float, style: str) -> str:
    r = repr(float(x)) if not float(x).is_integer() or abs(x) >= 1e16 else str(int(x))
    if style == "plain":
        return r
    if style == "thousands":
        return f"{x:,}" if isinstance(x, int) else f"{float(x):,}"
    if style == "percent":
        return r + "%"
    if style == "fullwidth":
        return r.translate(FULLWIDTH)
    if style == "spaces":
        return f"  {r}\t"
    if style == "unicode_minus":
        return r.replace("-", "\u2212")
    raise AssertionError(style)


@CHEAP
@given(
    st.one_of(st.integers(-10**12, 10**12), st.floats(-1e12, 1e12, allow_nan=False, allow_infinity=False)),
    st.sampled_from(["plain", "thousands", "percent", "fullwidth", "spaces", "unicode_minus"]),
)
def test_formatted_numbers_round_trip(x, style):
    text = _format(x, style)
    values, bad = parse_number(clean_text(pd.Series([text], dtype="str")))
    assert not bool(bad.iloc[0]), text
    # repr() round-trips a float exactly; "{:,}" and % keep every digit
    assert values.iloc[0] == float(x), (text, values.iloc[0])


@CHEAP
@given(st.data())
def test_parse_table_on_random_cells(data):
    name = data.draw(st.sampled_from(sorted(TABLES)))
    t = TABLES[name]
    spellings = [s for c in t.columns for s in (c.name, c.ko)] + ["비고", "", "Unknown"]
    headers = data.draw(st.lists(st.sampled_from(spellings), min_size=1, max_size=len(t.columns) + 2))
    n = data.draw(st.integers(0, 4))
    cells = pd.DataFrame({j: pd.Series(data.draw(st.lists(cell_text, min_size=n, max_size=n)), dtype="str")
                          for j in range(len(headers))})
    raw = RawTable(name=name, file=f"{name}.csv", sheet="", headers=headers, cells=cells,
                   rows=np.arange(n, dtype=np.int64) + 2)
    pt = parse_table(raw)
    assert list(pt.frame.columns) == t.column_names and len(pt.frame) == n
    assert {c: str(pt.frame[c].dtype) for c in pt.frame} == {c.name: parsed_dtype(c) for c in t.columns}
    _check_problems(pt.problems)
    assert all(p.row is None or 2 <= p.row <= n + 1 for p in pt.problems)


# --------------------------------------------------------------------------- CSV loader

garbage = st.one_of(
    st.binary(max_size=400),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=200).map(lambda s: s.encode("utf-8")),
    st.text(alphabet=',"\n\r\t;가나다ID0123456789 ', max_size=200).map(lambda s: s.encode("utf-8")),
    st.text(alphabet=',"\n가나다지표명', max_size=100).map(lambda s: s.encode("cp949")),
    st.text(max_size=100).map(lambda s: s.encode("utf-16")),
)


@CHEAP
@given(garbage, st.sampled_from(["kpis.csv", "성과지표.csv", "departments.csv", "misc.csv", "x.CSV"]))
def test_reading_garbage_bytes_never_raises(workdir, content, name):
    d = _fresh(workdir, "garbage")
    (d / name).write_bytes(content)
    frames, problems, hashes = read_tables(d)
    assert set(frames) == set(TABLES)
    _check_problems(problems)
    assert (d / name).read_bytes() == content  # read-only


@LOADS
@given(garbage)
def test_load_on_garbage_raises_only_data_error(workdir, content):
    d = _fresh(workdir, "garbage-load")
    for t in BASE:
        shutil.copy(MINIMAL / f"{t}.csv", d)
    (d / "kpis.csv").write_bytes(content)
    with pytest.raises(DataError) as info:  # the bytes are never a valid kpis table
        load(d, SCHEME)
    _check_problems(info.value.problems)


def _minimal_rows(name: str) -> pd.DataFrame:
    return pd.read_csv(MINIMAL / f"{name}.csv", dtype=str, keep_default_na=False)


valid_ish = st.one_of(
    st.sampled_from(["", "-", "N/A", "0", "-5", "1,234", "12.5%", "１００", "상향", "하향", "목표구간",
                     "상반기", "하반기", "부서", "기관", "예", "아니오", "TRUE", "FALSE", "D001", "D999",
                     "I01", "K01", "P01", "band", "up", "2019", "2019.5", "100", "60", "40"]),
    st.integers(-10**6, 10**6).map(str),
    st.floats(-1e6, 1e6, allow_nan=False).map(repr),
    st.text(alphabet=st.characters(exclude_categories=("Cc", "Cs")), max_size=12),
)


@st.composite
def mutated_table(draw) -> tuple[str, pd.DataFrame]:
    """One base table with up to 4 cells replaced by valid-ish text, rows maybe shuffled."""
    t = draw(st.sampled_from(BASE))
    df = _minimal_rows(t)
    for _ in range(draw(st.integers(0, 4))):
        i = draw(st.integers(0, len(df) - 1))
        c = draw(st.sampled_from(list(df.columns)))
        df.iloc[i, df.columns.get_loc(c)] = draw(valid_ish)
    if draw(st.booleans()):
        df = df.iloc[list(draw(st.permutations(range(len(df)))))].reset_index(drop=True)
    return t, df


def _write(d: Path, tables: dict[str, pd.DataFrame]) -> None:
    for t, df in tables.items():
        df.to_csv(d / f"{t}.csv", index=False, lineterminator="\n", quoting=csv.QUOTE_ALL)


def _filled_rows(df: pd.DataFrame) -> int:
    """Rows with at least one non-blank cell (blank rows are skipped by the reader)."""
    return int(df.apply(lambda c: c.str.strip() != "").any(axis=1).sum())


@CHEAP
@given(mutated_table())
def test_reading_valid_ish_tables_never_raises_nor_loses_rows(workdir, drawn):
    name, df = drawn
    d = _fresh(workdir, "validish-read")
    _write(d, {name: df})
    frames, problems, _ = read_tables(d)
    _check_problems(problems)
    assert len(frames[name]) == _filled_rows(df)  # every row is read, none lost


@LOADS
@given(mutated_table())
def test_load_valid_ish_tables_returns_canonical_data_or_data_error(workdir, drawn):
    tables = {t: _minimal_rows(t) for t in BASE}
    tables[drawn[0]] = drawn[1]
    d = _fresh(workdir, "validish-load")
    _write(d, tables)
    try:
        data = load(d, SCHEME)
    except DataError as exc:
        _check_problems(exc.problems)
        files = {str(d / f"{t}.csv") for t in tables} | {str(d)}
        assert all(p.file in files for p in exc.problems)
        for p in exc.problems:  # rows point into the file
            if p.row is not None and p.file.endswith(".csv"):
                n = len(tables[Path(p.file).stem])
                assert 2 <= p.row <= n + 1
        return
    for t, df in data.tables.items():  # text integer-coded (category of str) by default, else the model's dtypes
        for c in TABLES[t].columns:
            if c.dtype == "str":
                assert isinstance(df[c.name].dtype, pd.CategoricalDtype), (t, c.name)
                assert str(df[c.name].cat.categories.dtype) == "str", (t, c.name)
        plain = plain_text(df)
        assert {c: str(plain[c].dtype) for c in plain} == {c.name: pandas_dtype(c) for c in TABLES[t].columns}
    for t in BASE:
        assert len(data.tables[t]) == _filled_rows(tables[t])


# --------------------------------------------------------------------------- scheme

yaml_value = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(), st.text(max_size=10)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=6,
)


def _paths(obj, prefix=()):
    """Every (path, value) in a nested dict/list structure."""
    yield prefix, obj
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, (*prefix, i))


ALL_PATHS = [p for p, _ in _paths(SCHEME_DICT) if p]


@st.composite
def scheme_mutation(draw):
    import copy

    d = copy.deepcopy(SCHEME_DICT)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(ALL_PATHS))
        parent = d
        try:
            for k in path[:-1]:
                parent = parent[k]
            key = path[-1]
            parent[key]  # noqa: B018 - the path may be gone after an earlier mutation
        except (KeyError, IndexError, TypeError):
            continue
        action = draw(st.sampled_from(["replace", "delete", "rename", "number"]))
        if action == "replace":
            parent[key] = draw(yaml_value)
        elif action == "number" and isinstance(parent[key], int | float) and not isinstance(parent[key], bool):
            parent[key] = draw(st.one_of(st.floats(), st.integers(-1000, 1000)))
        elif action == "delete":
            del parent[key]
        elif action == "rename" and isinstance(parent, dict):
            parent[str(key) + draw(st.sampled_from(["x", "_", "s"]))] = parent.pop(key)
    return d


@CHEAP
@given(scheme_mutation())
def test_scheme_mapping_mutations_raise_only_scheme_error(mapping):
    try:
        s = scheme_from_mapping(mapping, source="mutated.yaml")
    except SchemeError as exc:
        _check_problems(exc.problems)
        assert all(p.file == "mutated.yaml" for p in exc.problems)
        return
    assert isinstance(s, Scheme)
    for ev in s.evaluations.values():  # an accepted scheme is consistent
        assert math.isclose(sum(ev.components.values()), 100, abs_tol=1e-6)


@LOADS
@given(st.lists(st.tuples(st.integers(0, len(SCHEME_TEXT)), st.integers(0, 8),
                          st.text(alphabet=string.printable + "가:[]{}&*!|>-", max_size=6)),
                min_size=1, max_size=4))
def test_scheme_file_text_mutations_raise_only_scheme_error(workdir, edits):
    text = SCHEME_TEXT
    for pos, cut, insert in edits:
        text = text[:pos] + insert + text[pos + cut:]
    assume(text != SCHEME_TEXT)
    p = workdir / "mutated.yaml"
    p.write_text(text, encoding="utf-8")
    try:
        load_scheme(p)
    except SchemeError as exc:
        _check_problems(exc.problems)


# --------------------------------------------------------------------------- scoring


def _valid_minimal() -> BSCData:
    return load(MINIMAL, SCHEME)


MINIMAL_DATA = _valid_minimal()
FLOATS = st.floats(-1e4, 1e4, allow_nan=False, allow_infinity=False)


def _column(draw, n: int, elements) -> list:
    return draw(st.lists(elements, min_size=n, max_size=n))


@st.composite
def scored_dataset(draw) -> BSCData:
    """The minimal dataset with actuals, targets, ratings and scores redrawn within their valid ranges."""
    t = {k: v.copy() for k, v in MINIMAL_DATA.tables.items()}
    r = t["kpi_results"]
    n = len(r)
    r["target"] = _column(draw, n, st.one_of(FLOATS, st.just(0.0)))
    r["actual"] = _column(draw, n, st.one_of(FLOATS, st.just(0.0), st.just(float("nan"))))
    r["verified"] = _column(draw, n, st.booleans())
    h = t["kpi_history"]
    h["actual"] = _column(draw, len(h), st.one_of(FLOATS, st.just(float("nan"))))
    scale = st.floats(0, 100, allow_nan=False)
    for name in ("pre_eval_ratings", "qualitative_ratings", "evaluator_scores"):
        t[name]["score"] = _column(draw, len(t[name]), scale)
    c = t["cooperation_scores"]
    points = {i.id: i.points for i in SCHEME.components.cooperation.items}
    share = _column(draw, len(c), st.floats(0, 1, allow_nan=False))
    c["score"] = c["item"].map(points).to_numpy() * np.asarray(share)
    o = t["org_management"]
    for col in ("avg_overtime_hours", "avg_leave_days"):
        o[col] = _column(draw, len(o), st.one_of(st.floats(0, 300, allow_nan=False), st.just(float("nan"))))
    t["departments"]["consulting_participated"] = _column(draw, len(t["departments"]), st.booleans())
    k = t["kpis"]
    w = np.asarray(_column(draw, len(k), st.integers(1, 9)), dtype=float)
    k["weight"] = w / pd.Series(w).groupby(k["owner_id"].to_numpy()).transform("sum").to_numpy() * 100
    return BSCData(tables=t, source="hypothesis")


@SCORES
@given(scored_dataset(), st.sampled_from(["year", "H1", "H2"]))
def test_scores_stay_within_their_points_on_random_valid_data(data, half):
    from bsc_lib.data.validate import validate_data
    from bsc_lib.scoring.engine import evaluate

    assert validate_data(data, SCHEME) == []  # the draw really is a valid dataset
    res = evaluate(data, SCHEME, year=2019, half=half)
    _assert_in_range(res)


@SCORES
@given(st.integers(0, 2**32 - 1))
def test_scores_stay_within_their_points_on_random_samples(seed):
    from bsc_lib.data import sample
    from bsc_lib.scoring.engine import evaluate

    res = evaluate(sample.generate(scale=0.05, seed=seed), SCHEME)
    _assert_in_range(res)


def _assert_in_range(res) -> None:
    eps = 1e-9
    for frame in (res.institutional, res.individual):
        tot = frame["total"].to_numpy(dtype=float)
        assert not np.isnan(tot).any()
        assert ((tot >= -eps) & (tot <= 100 + eps)).all(), frame
    dep = res.departments
    assert ((dep["total"] >= -eps) & (dep["total"] <= dep["max_total"] + eps)).all()
    comp = res.components
    pts = comp["points"].to_numpy(dtype=float)
    assert not np.isnan(pts).any()
    assert ((pts >= -eps) & (pts <= comp["max_points"].to_numpy(dtype=float) + eps)).all(), comp
