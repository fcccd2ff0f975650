"""The bad-input catalogue: every malformed input gives exactly the expected, clear problems.

``tests/bad_inputs/cases.yaml`` lists each case under ``tests/bad_inputs/cases/`` (built by
``tests/bad_inputs/make_cases.py`` from the minimal fixture) with every problem it must
produce – file, sheet, row, column, rule, a value substring and the message – or ``[]`` for
inputs that are unusual but valid and must load (with some of the loaded values).

Each case is checked three ways: through the library (``validate`` / ``load`` /
``load_scheme``), through the command line in-process (exit status 2, the problems on stderr,
no traceback) and through the real ``bsc`` executable in a subprocess (a few representative
cases always; every case in the ``slow`` test).
"""

from __future__ import annotations

import filecmp
import math
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from bsc_lib.cli import main as cli_main
from bsc_lib.config.scheme import load_scheme
from bsc_lib.data.io import load
from bsc_lib.data.model import plain_text
from bsc_lib.data.validate import inspect_path, validate
from bsc_lib.errors import DataError, Problem, SchemeError

BAD = Path(__file__).resolve().parent / "bad_inputs"
REPO = BAD.parent.parent
MINIMAL = REPO / "tests" / "data" / "io" / "minimal"
BSC = Path(sys.executable).with_name("bsc")
CASES: list[dict] = yaml.safe_load((BAD / "cases.yaml").read_text(encoding="utf-8"))
BY_ID = {c["id"]: c for c in CASES}
ERROR_CASES = [c for c in CASES if c["expected"]]
VALID_CASES = [c for c in CASES if not c["expected"]]
#: One case per family, run through the real executable in the fast suite.
SUBPROCESS_SAMPLE = ("misspelled_column", "xlsx_password_protected", "scheme_billion_laughs")


def _ids(cases: list[dict]) -> list[str]:
    return [c["id"] for c in cases]


def _rel(file: str) -> str:
    return os.path.relpath(file, BAD) if file else ""


def _problems(case: dict) -> list[Problem]:
    path = BAD / case["path"]
    if case["kind"] == "scheme":
        try:
            load_scheme(path)
        except SchemeError as exc:
            return exc.problems
        return []
    return validate(path)


def _matches(exp: dict, p: Problem) -> bool:
    return (_rel(p.file) == exp["file"] and p.sheet == exp["sheet"] and p.row == exp["row"]
            and p.column == exp["column"] and p.rule == exp["rule"]
            and exp["value"] in p.value and exp["message"] in p.message)


def _assign(expected: list[dict], problems: list[Problem]) -> list[dict]:
    """Expected entries without a distinct matching problem (greedy, in order)."""
    left = list(problems)
    unmatched = []
    for exp in expected:
        hit = next((p for p in left if _matches(exp, p)), None)
        if hit is None:
            unmatched.append(exp)
        else:
            left.remove(hit)
    return unmatched


# --------------------------------------------------------------------------- the catalogue itself


def test_catalogue_lists_every_case_once_and_has_at_least_40_malformed_inputs():
    ids = _ids(CASES)
    assert len(ids) == len(set(ids))
    on_disk = {p.name for p in (BAD / "cases").iterdir()}
    listed = {Path(c["path"]).name for c in CASES}
    assert on_disk == listed
    assert all(Path(c["path"]).name.split(".")[0] == c["id"] for c in CASES)
    assert all(c["kind"] in ("data", "scheme") and c["about"] for c in CASES)
    assert len(ERROR_CASES) >= 40
    # valid cases are named so, and only they
    assert {c["id"] for c in VALID_CASES} == {c["id"] for c in CASES if c["id"].endswith("_valid")}


def test_make_cases_reproduces_the_committed_files(tmp_path):
    sys.path.insert(0, str(BAD))
    try:
        import make_cases
    finally:
        sys.path.remove(str(BAD))
    built = make_cases.build(tmp_path)
    committed = BAD / "cases"

    def tree(root: Path) -> list[str]:
        return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))

    assert tree(built) == tree(committed)
    links = [f for f in tree(committed) if (committed / f).is_symlink()]
    assert links  # the link cases (broken, outside, inside the folder) are links, compared as such
    assert [os.readlink(committed / f) for f in links] == [os.readlink(built / f) for f in links]
    files = [f for f in tree(committed) if (committed / f).is_file() and f not in links]
    _, mismatch, errors = filecmp.cmpfiles(committed, built, files, shallow=False)
    assert mismatch == [] and errors == []


# --------------------------------------------------------------------------- library + command line


def _argv(case: dict) -> list[str]:
    path = str(BAD / case["path"])
    if case["kind"] == "scheme":
        return ["describe", "--scheme", path, "--data", str(MINIMAL)]
    return ["validate", path]


def _check_cli_output(case: dict, code: int, out: str, err: str) -> None:
    assert "Traceback" not in err and "Traceback" not in out
    assert "internal error" not in err
    if not case["expected"]:
        assert code == 0, err
        return
    assert code == 2, err
    for exp in case["expected"]:
        assert exp["rule"] in err
        assert exp["message"][:60] in err
        if exp["row"] is not None:
            assert f"row {exp['row']}" in err


def _cli_capturing_problems(case: dict, monkeypatch) -> tuple[int, list[Problem] | None]:
    """Run the CLI in-process on ``case`` and capture the problems the library returned.

    The command line imports ``inspect_path`` / ``load_scheme`` when it runs, so wrapping the
    module attributes records what it printed from (one validation per case).
    """
    import bsc_lib.config.scheme
    import bsc_lib.data.validate

    seen: list[list[Problem]] = []
    if case["kind"] == "data":
        real = bsc_lib.data.validate.inspect_path

        def spy(*args, **kwargs):
            result = real(*args, **kwargs)
            seen.append(result[1])
            return result

        monkeypatch.setattr(bsc_lib.data.validate, "inspect_path", spy)
    else:
        real_scheme = bsc_lib.config.scheme.load_scheme

        def spy_scheme(path, *args, **kwargs):
            if Path(path) != BAD / case["path"]:
                return real_scheme(path, *args, **kwargs)
            try:
                return real_scheme(path, *args, **kwargs)
            except SchemeError as exc:
                seen.append(exc.problems)
                raise

        monkeypatch.setattr(bsc_lib.config.scheme, "load_scheme", spy_scheme)
    code = cli_main(_argv(case))
    return code, (seen[0] if seen else None)


@pytest.mark.parametrize("case", ERROR_CASES, ids=_ids(ERROR_CASES))
def test_error_case_gives_exactly_the_expected_problems_and_a_clean_cli_exit(case, monkeypatch, capsys):
    code, problems = _cli_capturing_problems(case, monkeypatch)
    out, err = capsys.readouterr()
    assert problems is not None, "the library raised no problem"
    unmatched = _assign(case["expected"], problems)
    assert unmatched == [], "\n".join(["missing:", *map(str, unmatched), "got:", *map(str, problems)])
    assert len(problems) == len(case["expected"]), "\n".join(map(str, problems))
    for p in problems:  # every problem is short enough to read (huge cells are cut)
        assert len(p.value) <= 260 and len(p.message) <= 2100
    _check_cli_output(case, code, out, err)


@pytest.mark.parametrize("case_id", ["missing_column", "xlsx_truncated", "plan_form_bad_cell", "very_long_name"])
def test_load_raises_data_error_with_the_same_problems(case_id):
    case = BY_ID[case_id]
    with pytest.raises(DataError) as info:
        load(BAD / case["path"])
    assert info.value.problems == validate(BAD / case["path"])
    assert "Traceback" not in str(info.value)


@pytest.mark.parametrize("case", [c for c in CASES if "notices" in c], ids=_ids([c for c in CASES if "notices" in c]))
def test_notices_are_exactly_the_expected_ones_and_printed_by_validate(case, capsys):
    _, _, notices = inspect_path(BAD / case["path"])
    got = [{"file": _rel(n.file), "sheet": n.sheet, "row": n.row, "rule": n.rule, "message": n.message} for n in notices]
    assert got == case["notices"]
    cli_main(_argv(case))
    out, err = capsys.readouterr()
    for n in case["notices"]:
        assert n["message"] in out + err


@pytest.mark.parametrize("case", VALID_CASES, ids=_ids(VALID_CASES))
def test_valid_case_loads_with_the_expected_values(case, capsys):
    code = cli_main(_argv(case))
    out, err = capsys.readouterr()
    _check_cli_output(case, code, out, err)
    data = load(BAD / case["path"])
    for v in case.get("values", []):
        df = data.tables[v["table"]]
        mask = True
        for k, want in v["where"].items():
            mask = mask & (df[k] == want)
        hit = df.loc[mask, v["column"]]
        assert len(hit) == 1, (v, df)
        got = hit.iloc[0]
        if "length" in v:
            assert len(got) == v["length"]
        elif v["equals"] is None:
            assert got is None or (isinstance(got, float) and math.isnan(got))
        elif isinstance(v["equals"], float):
            assert got == pytest.approx(v["equals"], abs=1e-12)
        else:
            assert got == v["equals"]


def test_plan_form_reads_like_the_long_table():
    """The two-row plan form (xlsx and CSV) gives the same kpi_history as the long layout.

    Long layout written by hand from make_cases.PLAN_HISTORY (blank year cells give no row):
    K01 2017 80, K01 2018 85.5, K02 2015 15, 2016 14, 2017 12.5, 2018 11, K04 2015 98.
    """
    import pandas as pd

    want = pd.DataFrame({
        "kpi_id": ["K01", "K01", "K02", "K02", "K02", "K02", "K04"],
        "year": [2017, 2018, 2015, 2016, 2017, 2018, 2015],
        "actual": [80.0, 85.5, 15.0, 14.0, 12.5, 11.0, 98.0],
    }).astype({"kpi_id": "str", "year": "int64", "actual": "float64"})
    for case in ("plan_form_two_row_header_valid", "plan_form_two_row_header_csv_valid"):
        got = load(BAD / BY_ID[case]["path"]).kpi_history
        assert isinstance(got["kpi_id"].dtype, pd.CategoricalDtype)  # text integer-coded by default
        pd.testing.assert_frame_equal(plain_text(got), want)


# --------------------------------------------------------------------------- the bsc executable


def _run_bsc(case: dict) -> tuple[dict, int, str, str]:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    r = subprocess.run([str(BSC), *_argv(case)], capture_output=True, text=True, encoding="utf-8",
                       cwd=REPO, env=env, timeout=300, check=False)
    return case, r.returncode, r.stdout, r.stderr


@pytest.mark.parametrize("case_id", SUBPROCESS_SAMPLE)
def test_bsc_executable_on_representative_cases(case_id):
    case, code, out, err = _run_bsc(BY_ID[case_id])
    _check_cli_output(case, code, out, err)


@pytest.mark.slow
def test_bsc_executable_on_every_case():
    # every case not already run through the executable by the representative test above
    rest = [c for c in CASES if c["id"] not in SUBPROCESS_SAMPLE]
    with ThreadPoolExecutor(max_workers=2) as pool:  # 2 cores on the build machine
        results = list(pool.map(_run_bsc, rest))
    for case, code, out, err in results:
        _check_cli_output(case, code, out, err)
