"""Result tables of a run: complete, deterministic, no personal names."""

from pathlib import Path

import pytest

import bsc_lib
from bsc_lib.analyses.recipes import compute_tables
from bsc_lib.data.sample import generate
from bsc_lib.present.export import table_sha256

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def tables():
    scheme = bsc_lib.load_scheme(ROOT / "params" / "scheme-2019.yaml")
    data = generate(scale=0.2)
    return data, scheme, compute_tables(data, scheme, 2019, "year")


def test_every_table_present_and_non_empty(tables):
    _, _, t = tables
    want = {"institutional", "departments", "individual", "components", "kpi", "flags", "integrity",
            "kpi_difficulty", "unit_difficulty", "discrimination", "effective_weights",
            "integrity_old_vs_new", "rater_reliability", "rater_leniency", "rank_robustness", "grade_boundaries",
            "grade_counts", "close_calls", "perspective_rollup", "strategy_grid", "rank_changes", "grade_transitions"}
    assert set(t) == want
    assert all(len(v) for k, v in t.items() if k not in ("flags", "close_calls"))


def test_individual_table_has_no_names(tables):
    data, _, t = tables
    assert "name_ko" not in t["individual"].columns
    names = set(data.people["name_ko"].dropna())
    for df in t.values():
        for col in df.columns:
            if df[col].dtype == object or str(df[col].dtype) == "str":
                assert not names & set(df[col].dropna().astype(str)), col


def test_tables_are_deterministic(tables):
    data, scheme, t = tables
    again = compute_tables(data, scheme, 2019, "year")
    assert {k: table_sha256(v) for k, v in t.items()} == {k: table_sha256(v) for k, v in again.items()}


def test_effective_shares_sum_to_one_when_total_is_the_sum(tables):
    _, _, t = tables
    eff = t["effective_weights"]
    for _, g in eff.groupby("evaluation"):
        assert abs(g["effective_share"].sum() - 1) < 0.05  # deductions/clipping make total ≠ Σ exactly


# --- tables made once per run and shared with the notebook kernels ----------------------------


@pytest.fixture(scope="module")
def shared_run(tmp_path_factory):
    """``result_tables`` on the sample, sharing every table through a folder (as ``bsc report``)."""
    from bsc_lib.analyses.recipes import result_tables

    folder = tmp_path_factory.mktemp("shared")
    args = (str(ROOT / "data" / "sample" / "2019"), str(ROOT / "params" / "scheme-2019.yaml"), 2019, "year")
    return folder, args, result_tables(*args, shared_dir=str(folder)), result_tables(*args)


@pytest.mark.slow
def test_sharing_changes_no_exported_table(shared_run):
    folder, _, shared, plain = shared_run
    assert {k: table_sha256(v) for k, v in shared.items()} == {k: table_sha256(v) for k, v in plain.items()}
    from bsc_lib.analyses.recipes import COMPARE_TABLES, PRODUCERS, SHARED_TABLES

    assert {p.name for p in folder.glob("*.pkl")} == {f"{n}.pkl" for n in ["_results", *SHARED_TABLES]}
    assert set(SHARED_TABLES) < set(PRODUCERS) and not set(COMPARE_TABLES) & set(SHARED_TABLES)


@pytest.mark.slow
def test_a_kernel_reads_the_runs_shared_tables_and_only_those(shared_run, monkeypatch):
    import pickle

    import pandas as pd

    from bsc_lib.analyses.recipes import SHARED_ENV, Recipes
    from bsc_lib.config.analysis_params import load_analysis_params

    folder, (data_path, scheme_path, year, half), _, plain = shared_run
    scheme = bsc_lib.load_scheme(scheme_path)
    data = bsc_lib.load(data_path, scheme=scheme)
    settings = load_analysis_params()
    marker = pd.DataFrame({"from": ["the shared folder"]})
    (folder / "sobol.pkl").write_bytes(pickle.dumps(marker))
    monkeypatch.setenv(SHARED_ENV, str(folder))
    r = Recipes(data, scheme, settings, year, half)  # what every report notebook does
    assert r.shared is not None
    assert r["sobol"].equals(marker)  # read, not made again
    assert table_sha256(r["rank_robustness"]) == table_sha256(plain["rank_robustness"])
    assert table_sha256(r.results.institutional) == table_sha256(plain["institutional"])
    # other parameters: another run's tables are never used
    other = Recipes(data, scheme, settings, year, "H1")
    assert other.shared is None
    assert not other["sobol"].equals(marker)
    # a table whose producer failed in the run is made by the reader
    (folder / "half_agreement.pkl").unlink()
    (folder / "half_agreement.err").write_bytes(b"")
    assert len(Recipes(data, scheme, settings, year, half)["half_agreement"])
