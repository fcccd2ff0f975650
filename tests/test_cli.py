"""The `bsc` command line: help, describe, validate errors without tracebacks."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BSC = [sys.executable, "-m", "bsc_lib.cli"]


def run(*args, **kw):
    return subprocess.run([*BSC, *args], capture_output=True, text=True, cwd=str(ROOT), timeout=300, **kw)


def test_help_lists_subcommands():
    p = run("--help")
    assert p.returncode == 0
    for sub in ("validate", "template", "sample", "describe", "report", "verify"):
        assert sub in p.stdout


def test_describe_sample():
    p = run("describe", "--lang", "en")
    assert p.returncode == 0, p.stderr
    assert "By institution type" in p.stdout and "697" in p.stdout


def test_validate_ok_and_bad(tmp_path):
    assert run("validate", "data/sample/2019").returncode == 0
    bad = tmp_path / "bad"
    bad.mkdir()
    for f in (ROOT / "data" / "sample" / "2019").glob("*.csv"):
        (bad / f.name).write_bytes(f.read_bytes())
    kpis = (bad / "kpis.csv").read_text(encoding="utf-8").splitlines()
    kpis[1] = kpis[1].replace(",down,", ",sideways,")  # row 2 = first data row
    (bad / "kpis.csv").write_text("\n".join(kpis) + "\n", encoding="utf-8")
    p = run("validate", str(bad))
    assert p.returncode == 2
    assert "Traceback" not in p.stderr
    assert "kpis.csv" in p.stderr and "row 2" in p.stderr and "polarity" in p.stderr and "sideways" in p.stderr


def test_bad_scheme_is_reported_not_raised(tmp_path):
    s = tmp_path / "s.yaml"
    s.write_text((ROOT / "params" / "scheme-2019.yaml").read_text(encoding="utf-8").replace("qualitative: 25", "qualitative: 24"),
                 encoding="utf-8")
    p = run("describe", "--scheme", str(s))
    assert p.returncode == 2
    assert "Traceback" not in p.stderr and "sum to 100" in p.stderr
