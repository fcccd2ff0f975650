"""The analysis notebooks: house rules (static) and nbval on a small fixture dataset.

Static rules: numbered names, H1 title + purpose first, a ``parameters`` cell of literals
with a comment each, no function/class/lambda definitions, no outputs committed, no file
path that is not a parameter.

nbval: each notebook is executed with papermill against a generated fixture dataset
(``bsc_lib.data.sample`` at scale 0.2, written to a temp folder), then ``pytest --nbval-lax``
re-executes the executed copy and compares the cells marked ``# NBVAL_CHECK_OUTPUT`` — so the
checked outputs must be reproducible — and we compare some of those outputs with numbers
computed directly by the library.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))
REPORT_NOTEBOOKS = [p for p in NOTEBOOKS if "dashboard" not in p.name]
REQUIRED_PARAMS = {"data_path", "scheme_path", "year", "half", "lang", "run_dir"}


def _code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def test_the_report_opens_with_the_summary_and_ends_with_the_appendix():
    names = [p.stem for p in REPORT_NOTEBOOKS]
    assert names[:3] == ["00-summary", "01-scores", "02-perspectives"]
    assert names[-1] == "99-appendix"
    assert {"03-difficulty", "04-dispersion", "05-reliability", "06-robustness", "07-alignment", "08-cycle"} <= set(names)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_house_rules(path):
    nb = nbformat.read(path, as_version=4)
    first = nb.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# "), "H1 title first"
    assert len(first.source.strip().splitlines()) >= 2, "a one-line purpose under the title"
    params = [c for c in _code_cells(nb) if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1, "exactly one cell tagged 'parameters'"
    tree = ast.parse(params[0].source)
    names = set()
    for node in tree.body:
        assert isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant), "literals only"
        names.add(node.targets[0].id)
    for line in params[0].source.splitlines():
        assert "#" in line, f"every parameter has a comment: {line!r}"
    if "dashboard" not in path.name:
        assert REQUIRED_PARAMS <= names
    for c in _code_cells(nb):
        assert not c.get("outputs"), "committed without outputs"
        assert c.get("execution_count") is None
        if c is params[0]:
            continue
        for node in ast.walk(ast.parse(c.source)):
            assert not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda), \
                "notebooks define no function or class"
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                v = node.value
                assert not v.endswith((".csv", ".xlsx", ".yaml", ".yml", ".json")), f"path literal {v!r}"
                assert "data/" not in v and "params/" not in v, f"path literal {v!r}"


@pytest.mark.parametrize("path", REPORT_NOTEBOOKS, ids=lambda p: p.name)
def test_markdown_keeps_one_language_per_report(path):
    """Every markdown line of a report notebook is ``한국어 · English`` or language-neutral: the
    ``en`` report keeps no Hangul, the ``ko`` report no English sentence (the old 09-compare
    opened with "(What does a change of the scheme do …?)" in the Korean report), and the H1
    carries no section number (the table of contents and the summary link by title)."""
    import re

    from bsc_lib.present.report_html import localize_markdown

    hangul = re.compile(r"[\uac00-\ud7a3]")
    nb = nbformat.read(path, as_version=4)
    for i, c in enumerate(nb.cells):
        if c.cell_type != "markdown":
            continue
        en = re.sub(r"`[^`]*`", "", localize_markdown(c.source, "en"))
        ko = re.sub(r"`[^`]*`", "", localize_markdown(c.source, "ko"))
        assert not hangul.search(en), f"cell {i}: Hangul in the English report: {en[:120]!r}"
        for line in ko.splitlines():
            assert not re.search(r"[A-Za-z]{4,}\s+[A-Za-z]{3,}\s+[A-Za-z]{2,}", line), \
                f"cell {i}: English in the Korean report: {line[:120]!r}"
    assert not re.match(r"#\s+\d", nb.cells[0].source), "H1 without a section number"


@pytest.fixture(scope="module")
def fixture_data(tmp_path_factory):
    from bsc_lib.data.sample import write_sample

    folder = tmp_path_factory.mktemp("fixture") / "2019"
    write_sample(folder, scale=0.2)
    return folder


@pytest.fixture(scope="module")
def executed(fixture_data, tmp_path_factory):
    """Every report notebook executed with papermill on the fixture dataset."""
    import papermill as pm

    out = tmp_path_factory.mktemp("executed")
    env_before = os.environ.get("PLOTLY_RENDERER")
    os.environ["PLOTLY_RENDERER"] = "plotly_mimetype"
    try:
        paths = []
        for nb in REPORT_NOTEBOOKS:
            target = out / nb.name
            pm.execute_notebook(str(nb), str(target), parameters={"data_path": str(fixture_data)},
                                kernel_name="python3", cwd=str(ROOT), progress_bar=False)
            paths.append(target)
    finally:
        if env_before is None:
            os.environ.pop("PLOTLY_RENDERER", None)
        else:
            os.environ["PLOTLY_RENDERER"] = env_before
    return paths


def _checked_outputs(path: Path) -> list[str]:
    nb = json.loads(path.read_text(encoding="utf-8"))
    texts = []
    for c in nb["cells"]:
        if c["cell_type"] == "code" and "".join(c["source"]).startswith("# NBVAL_CHECK_OUTPUT"):
            texts.append("".join("".join(o.get("text", "")) for o in c.get("outputs", []) if o["output_type"] == "stream"))
    return texts


@pytest.mark.slow
def test_every_notebook_has_a_checked_cell_with_output(executed):
    for p in executed:
        texts = _checked_outputs(p)
        assert texts and all(t.strip() for t in texts), p.name


@pytest.mark.slow
def test_checked_outputs_match_the_library(executed, fixture_data):
    import bsc_lib
    from bsc_lib.analyses import alignment

    scheme = bsc_lib.load_scheme(ROOT / "params" / "scheme-2019.yaml")
    data = bsc_lib.load(fixture_data, scheme=scheme)
    by_name = {p.stem.split("-", 1)[1]: p for p in executed}
    counts = _checked_outputs(by_name["appendix"])[0]
    for row in data.counts().itertuples():
        assert f"{row.table}" in counts and f" {row.rows}" in counts
    res = bsc_lib.evaluate(data, scheme, year=2019, half="year")
    grades = _checked_outputs(by_name["scores"])[0]
    for (t, g), n in res.institutional.groupby(["inst_type", "grade"]).size().items():
        assert t in grades and f"{g}" in grades and str(n) in grades
    cov = alignment.coverage_summary(alignment.task_coverage(data))
    text07 = _checked_outputs(by_name["alignment"])[0]
    for r in cov.itertuples():
        assert f"{r.plan_level}" in text07 and f" {r.tasks} " in text07 and f" {r.uncovered} " in text07


@pytest.mark.slow
def test_nbval_reproduces_checked_outputs(executed, tmp_path):
    """nbval re-executes the executed notebooks and compares the NBVAL_CHECK_OUTPUT cells."""
    sanitize = ROOT / "tests" / "nbval_sanitize.cfg"
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax",
           "--nbval-sanitize-with", str(sanitize), "--nbval-cell-timeout", "300",
           "-o", "addopts=", "--rootdir", str(tmp_path), *[str(p) for p in executed]]
    env = {**os.environ, "PLOTLY_RENDERER": "plotly_mimetype"}
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=str(ROOT), env=env, timeout=1500)
    tail = (proc.stdout + proc.stderr)[-4000:]
    assert proc.returncode == 0, tail
    assert " passed" in proc.stdout and " failed" not in proc.stdout, tail
