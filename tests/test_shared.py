"""The run's validated inputs handed to the notebook kernels (bsc_lib.data.io.shared)."""

import os
import shutil
from pathlib import Path

import pytest

import bsc_lib
from bsc_lib.data.io import shared as shared_mod
from bsc_lib.data.io.shared import INPUTS_FILE, SHARED_ENV, run_data, share_inputs
from bsc_lib.present.export import table_sha256

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data" / "sample" / "2019"
SCHEME = ROOT / "params" / "scheme-2019.yaml"


@pytest.fixture(scope="module")
def loaded():
    scheme = bsc_lib.load_scheme(SCHEME)
    return scheme, bsc_lib.load(DATA, scheme=scheme)


def _hashes(data):
    return {name: table_sha256(df) for name, df in data.tables.items()}


def _no_loading(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the data were loaded again")

    monkeypatch.setattr(shared_mod, "load", refuse)


def test_without_a_shared_copy_the_data_are_loaded(loaded, monkeypatch):
    scheme, data = loaded
    monkeypatch.delenv(SHARED_ENV, raising=False)
    got = run_data(DATA, scheme)
    assert _hashes(got) == _hashes(data)
    assert got.input_hashes == data.input_hashes


def test_the_runs_copy_is_read_not_loaded_again(loaded, tmp_path, monkeypatch):
    scheme, data = loaded
    share_inputs(tmp_path, data, DATA, scheme, na_as_missing=False)
    assert [p.name for p in tmp_path.iterdir()] == [INPUTS_FILE]  # written atomically: no part file left
    _no_loading(monkeypatch)
    monkeypatch.setenv(SHARED_ENV, str(tmp_path))
    got = run_data(str(DATA), scheme)  # what every report notebook does (the path as a string)
    assert _hashes(got) == _hashes(data)
    assert got.input_hashes == data.input_hashes and got.notices == data.notices
    # the folder can also be given explicitly
    monkeypatch.delenv(SHARED_ENV)
    assert _hashes(run_data(DATA, scheme, shared_dir=tmp_path)) == _hashes(data)


@pytest.mark.parametrize("other", ["path", "scheme", "na_as_missing", "text", "str copy", "corrupt", "empty folder"])
def test_another_inputs_copy_is_never_used(loaded, tmp_path, monkeypatch, other):
    scheme, data = loaded
    marker = bsc_lib.load(DATA, scheme=scheme, text="str" if other == "str copy" else "category")
    marker.tables["institutions"] = marker.tables["institutions"].iloc[:1]  # recognisable if returned
    share_inputs(tmp_path, marker, DATA, scheme, na_as_missing=False)
    kw: dict = {}
    path = DATA
    if other == "path":
        path = tmp_path / "copy"  # the same files, but not the path the run validated
        shutil.copytree(DATA, path)
    elif other == "scheme":
        scheme = bsc_lib.load_scheme(ROOT / "params" / "scheme-2019-reform-split.yaml")
    elif other == "na_as_missing":
        kw["na_as_missing"] = True
    elif other == "text":  # the copy holds integer-coded text; this reader asks for str
        kw["text"] = "str"
    elif other == "corrupt":
        (tmp_path / INPUTS_FILE).write_bytes(b"not a pickle")
    else:
        (tmp_path / INPUTS_FILE).unlink()
    monkeypatch.setenv(SHARED_ENV, str(tmp_path))
    got = run_data(path, scheme, **kw)
    assert len(got.institutions) == len(data.institutions) > 1  # loaded, not the shared marker


def test_a_report_shares_its_inputs_with_the_kernels(monkeypatch, tmp_path):
    """``bsc report`` writes the validated inputs into the shared folder before any kernel starts."""
    from bsc_lib.runs import pipeline

    seen = {}

    def no_notebooks(nb_paths, tmp, nb_params, kernel_name, manifest, state, progress):
        folder = Path(os.environ[SHARED_ENV])
        seen["files"] = sorted(p.name for p in folder.iterdir())
        scheme = bsc_lib.load_scheme(nb_params["scheme_path"])
        _no_loading(monkeypatch)
        seen["data"] = run_data(nb_params["data_path"], scheme)  # as the notebooks' setup cell
        raise KeyboardInterrupt  # stop the run here: nothing else is needed

    monkeypatch.setattr(pipeline, "_execute_notebooks", no_notebooks)
    with pytest.raises(KeyboardInterrupt):
        pipeline.run_report(DATA, SCHEME, out=tmp_path / "out", progress=False, pdf=False)
    assert INPUTS_FILE in seen["files"]
    scheme = bsc_lib.load_scheme(SCHEME)
    assert _hashes(seen["data"]) == _hashes(bsc_lib.load(DATA, scheme=scheme))
