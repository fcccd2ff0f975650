"""Smoke tests of the benchmark harness (``bench/``): it runs and reports; nothing is timed here.

Performance is measured by ``make bench`` (``bench/RESULTS.md``), never asserted in tests.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bench import naive
from bench import run as bench_run
from bench.measure import floor_notebook

ROOT = Path(__file__).resolve().parent.parent


def test_summarise_and_verdict():
    assert bench_run.summarise([3.0, 1.0, 2.0, None]) == {"median": 2.0, "min": 1.0, "max": 3.0, "n": 3}
    assert bench_run.summarise([])["n"] == 0
    assert bench_run.verdict(9.9, 10.0) == "pass" and bench_run.verdict(10.1, 10.0) == "FAIL"
    assert bench_run.verdict(150, 100, higher_is_better=True) == "pass"
    assert bench_run.verdict(None, 1.0) == "n/a"
    assert bench_run.counted([{"warmup": True}, {"warmup": False}, {}]) == [{"warmup": False}, {}]


def test_naive_monte_carlo_reproduces_the_vectorised_ranks():
    from bsc_lib.analyses import robustness
    from bsc_lib.config.scheme import load_scheme
    from bsc_lib.data import sample
    from bsc_lib.scoring.engine import evaluate

    res = evaluate(sample.generate(), load_scheme(ROOT / "params" / "scheme-2019.yaml"))
    frac, nominal = robustness.fractions_from_components(res.components, evaluation="department")
    fast = robustness.monte_carlo(frac, nominal, n_draws=7, seed=11).units.set_index("unit_id")
    slow = naive.monte_carlo_pandas(res.components, nominal, n_draws=7, seed=11)
    assert len(fast) == 248
    np.testing.assert_allclose(slow["mean_rank"].reindex(fast.index), fast["mean_rank"], atol=1e-9)
    np.testing.assert_allclose(slow["p_grade_change"].reindex(fast.index), fast["p_grade_change"], atol=1e-9)


def test_floor_notebook_keeps_parameters_setup_and_imports_only():
    import ast

    import nbformat

    from bench.measure import FLOOR_LOAD_TAG

    src = ROOT / "notebooks" / "01-scores.ipynb"
    nb = nbformat.read(str(src), as_version=4)
    floor = floor_notebook(src)
    code = [c for c in nb.cells if c.cell_type == "code"]
    setup = [c for c in code if "parameters" not in c.metadata.get("tags", [])][0].source
    assert floor.cells[0].metadata["tags"] == ["parameters"]
    assert floor.cells[0].source == code[0].source
    assert len(floor.cells) == 3 and len(floor.cells) < len(code)
    imports, load = floor.cells[1], floor.cells[2]
    # the imports cell: import statements only (the setup's, then the notebook's other import lines)
    assert all(isinstance(s, ast.Import | ast.ImportFrom) for s in ast.parse(imports.source).body)
    assert all(line.startswith(("import ", "from ")) for line in imports.source.splitlines())
    # the load cell: the setup's other statements, tagged so its duration can be told apart
    assert load.metadata["tags"] == [FLOOR_LOAD_TAG]
    assert not any(isinstance(s, ast.Import | ast.ImportFrom) for s in ast.parse(load.source).body)
    assert "run_data(" in load.source  # the floor loads the data itself (no run shares them)
    # together they hold every statement of the setup cell, each once, in the setup's order
    stmts = [ast.get_source_segment(setup, s) for s in ast.parse(setup).body]
    got_imports = [ast.get_source_segment(imports.source, s) for s in ast.parse(imports.source).body]
    got_load = [ast.get_source_segment(load.source, s) for s in ast.parse(load.source).body]
    assert got_imports[:len(stmts) - len(got_load)] + got_load == [
        s for s in stmts if s.startswith(("import ", "from "))] + [s for s in stmts if not s.startswith(("import ", "from "))]
    assert sorted(got_imports[:len(stmts) - len(got_load)] + got_load) == sorted(stmts)


@pytest.mark.slow
def test_quick_run_writes_results_md_and_json(tmp_path):
    # the cheap figures end to end, through the subprocess workers; the pipeline, feedback and
    # dashboard figures are exercised by their own end-to-end tests
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "run.py"), "--quick", "--only", "scale,montecarlo",
                           "--out", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    assert res["quick"] is True and set(res["figures"]) == {"scale", "montecarlo"}
    assert "error" not in res["figures"]["montecarlo"], res["figures"]["montecarlo"]
    for s, r in res["figures"]["scale"]["scales"].items():
        assert "error" not in r, (s, r)
        assert r["n_kpis"] > 0 and r["runs"][0]["evaluate"]["peak_rss_gb"] > 0
    assert res["figures"]["montecarlo"]["naive_pandas"]["same_ranks"] is True
    md = (tmp_path / "RESULTS.md").read_text(encoding="utf-8")
    assert "Quick smoke run" in md and "## Machine" in md and "## Headline" in md
    assert "## 1. Scale" in md and "## 2. Monte Carlo robustness" in md
    # beside the figures of the last make bench before issue 15 (bench/results-before.json)
    assert "| figure | measure | before | now: median | min–max | runs | target | result |" in md
    assert "**Before** = `bench/results-before.json`" in md
    assert "before: wall median | now: wall median" in md


def test_unknown_figure_is_refused(capsys):
    with pytest.raises(SystemExit):
        bench_run.main(["--only", "nonsense", "--out", "/nonexistent"])
    assert "unknown figure" in capsys.readouterr().err
