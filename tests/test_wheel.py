"""The wheel installs and works without a repository checkout.

The source (package, notebooks, params, build files) is copied to a temporary folder, a
wheel is built from it, and the wheel is installed with ``pip install --target`` into a
folder put first on ``PYTHONPATH``. The project venv's own (editable) ``bsc_lib`` stays
installed: its finder is appended to ``sys.meta_path`` and so comes after ``PYTHONPATH``;
the tests assert that every process (the CLI and each notebook kernel) imports the wheel's
copy.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample" / "2019"
#: What a build needs (what the sdist holds): copied, without caches, to build from.
SOURCE = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "bsc_lib", "notebooks", "params")
RESOURCES = {"notebooks": "*.ipynb", "params": "*.yaml"}
#: Appended to the installed ``bsc_lib/__init__.py``: every process importing the installed
#: copy leaves a file named after its pid holding the ``__file__`` it imported.
MARKER = """
import os as _os
if _os.environ.get("BSC_TEST_IMPORT_MARKERS"):
    with open(_os.path.join(_os.environ["BSC_TEST_IMPORT_MARKERS"], str(_os.getpid())), "w") as _f:
        _f.write(__file__)
"""


def _has_build_requirements() -> bool:
    """True when this interpreter satisfies ``[build-system] requires`` (build offline)."""
    from packaging.requirements import Requirement

    requires = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["build-system"]["requires"]
    for text in requires:
        req = Requirement(text)
        try:
            have = version(req.name)
        except PackageNotFoundError:
            return False
        if not req.specifier.contains(have, prereleases=True):
            return False
    return True


def _report_notebooks() -> list[str]:
    """Names of the repository's report notebooks (as :func:`bsc_lib.runs.pipeline.default_notebooks`)."""
    return sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb")
                  if "dashboard" not in p.name and "compare" not in p.name)  # 09-compare: --compare-scheme only


def _env(site: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "BSC_"))}
    env.update(PYTHONPATH=str(site), PYTHONNOUSERSITE="1", **extra)
    return env


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """``{"src", "wheel", "site"}``: the copied source, the wheel, the --target install."""
    base = tmp_path_factory.mktemp("wheel")
    src = base / "src"
    src.mkdir()
    for name in SOURCE:
        item = ROOT / name
        if item.is_dir():
            shutil.copytree(item, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(item, src / name)
    dist = base / "dist"
    # with setuptools>=77 in this venv the build is offline; otherwise pip fetches it (isolated build)
    isolation = ["--no-build-isolation"] if _has_build_requirements() else []
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", *isolation, "-w", str(dist), "."],
                          cwd=str(src), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    wheels = sorted(dist.glob("bsc_workbench-*.whl"))
    assert len(wheels) == 1, wheels
    site = base / "site"
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index",
                           "--target", str(site), str(wheels[0])], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    return {"src": src, "wheel": wheels[0], "site": site}


def test_wheel_holds_every_module_notebook_and_param(built):
    src = built["src"]
    with zipfile.ZipFile(built["wheel"]) as z:
        names = set(z.namelist())
        modules = {p.relative_to(src).as_posix() for p in (src / "bsc_lib").rglob("*.py")}
        assert {"bsc_lib/data/io/loader.py", "bsc_lib/scoring/components/__init__.py"} <= modules  # subpackages exist
        assert modules - names == set(), "modules missing from the wheel"
        for folder, pattern in RESOURCES.items():
            files = sorted((src / folder).glob(pattern))
            assert files, f"no {folder}/{pattern}"
            for f in files:
                packaged = f"bsc_lib/_resources/{folder}/{f.name}"
                assert packaged in names, packaged
                assert z.read(packaged) == f.read_bytes(), packaged
        entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        assert re.search(r"^bsc\s*=\s*bsc_lib\.cli:main$", z.read(entry_points).decode(), re.M)


def test_installed_package_finds_its_files_without_checkout(built, tmp_path):
    site = built["site"]
    code = """
import json, bsc_lib, bsc_lib.data.io, bsc_lib.scoring.components
from bsc_lib.config import paths
from bsc_lib.cli import DEFAULT_ANALYSIS, DEFAULT_OUT, DEFAULT_SCHEME
from bsc_lib.runs.folder import git_state
from bsc_lib.runs.pipeline import default_notebooks
print(json.dumps({
    "file": bsc_lib.__file__, "io": bsc_lib.data.io.__file__, "components": bsc_lib.scoring.components.__file__,
    "checkout": paths.in_checkout(), "notebooks": [str(p) for p in default_notebooks()],
    "scheme": str(DEFAULT_SCHEME), "analysis": str(DEFAULT_ANALYSIS), "out": str(DEFAULT_OUT),
    "resolved": str(paths.resolve("params/scheme-2019.yaml")), "git": git_state()}))
"""
    proc = subprocess.run([sys.executable, "-c", code], cwd=str(tmp_path), env=_env(site),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    info = json.loads(proc.stdout)
    pkg = site / "bsc_lib"
    assert Path(info["file"]) == pkg / "__init__.py"  # the wheel's copy, not the editable install
    assert pkg in Path(info["io"]).parents and pkg in Path(info["components"]).parents
    assert info["checkout"] is False
    assert [Path(p).name for p in info["notebooks"]] == _report_notebooks()
    assert all(Path(p).parent == pkg / "_resources" / "notebooks" for p in info["notebooks"])
    assert Path(info["scheme"]) == Path(info["resolved"]) == pkg / "_resources" / "params" / "scheme-2019.yaml"
    assert Path(info["analysis"]) == pkg / "_resources" / "params" / "analysis.yaml"
    assert Path(info["out"]) == tmp_path / "outputs"
    assert info["git"] == {"commit": None, "dirty": None}


@pytest.mark.slow
def test_report_runs_from_the_wheel_in_any_folder(built, tmp_path):
    site = built["site"]
    init = site / "bsc_lib" / "__init__.py"
    init.write_text(init.read_text(encoding="utf-8") + MARKER, encoding="utf-8")
    markers = tmp_path / "markers"
    markers.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    bsc = site / "bin" / "bsc"
    assert bsc.is_file(), "pip did not install the bsc entry point"
    env = _env(site, BSC_TEST_IMPORT_MARKERS=str(markers))

    proc = subprocess.run([str(bsc), "report", "--data", str(SAMPLE)], cwd=str(work), env=env,
                          capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "Traceback" not in proc.stderr
    m = re.search(r"report complete: (.+)$", proc.stdout.strip(), re.M)
    assert m, proc.stdout
    run = Path(m.group(1))
    assert run.parent == work / "outputs" / "2019"  # default --out: ./outputs; default --year: the scheme's
    assert sorted(p.name for p in work.iterdir()) == ["outputs"]  # nothing else written in the folder
    notebooks = _report_notebooks()
    assert sorted(p.name for p in run.glob("*.ipynb")) == notebooks
    assert {"report.html", "results.xlsx", "manifest.json"} <= {p.name for p in run.iterdir()}

    manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["status"] == "complete"
    assert manifest["git"] == {"commit": None, "dirty": None}
    packaged = site / "bsc_lib" / "_resources" / "params"
    assert Path(manifest["scheme"]["path"]) == packaged / "scheme-2019.yaml"
    assert Path(manifest["analysis"]["path"]) == packaged / "analysis.yaml"
    assert manifest["parameters"]["year"] == 2019

    # the CLI process and every notebook kernel imported the wheel's bsc_lib
    imported = {p.name: p.read_text(encoding="utf-8") for p in markers.iterdir()}
    assert set(imported.values()) == {str(init)}
    assert len(imported) >= 1 + len(notebooks), imported

    proc = subprocess.run([str(bsc), "verify", str(run)], cwd=str(work), env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert "verified" in proc.stdout
