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


def _subparsers():
    import argparse

    from bsc_lib.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return parser, sub.choices


def test_every_option_states_its_default():
    parser, subs = _subparsers()
    for name, sp in [("bsc", parser), *subs.items()]:
        for action in sp._actions:
            if not action.option_strings or action.dest == "help":
                continue
            text = (action.help or "") % {"default": action.default, "prog": name}
            assert "default:" in text or "required" in text, f"{name} {action.option_strings}: {text!r}"
            if action.default not in (None, False) and "%(default)s" not in action.help:
                raise AssertionError(f"{name} {action.option_strings}: use %(default)s for {action.default!r}")
    p = run("report", "--help")
    assert p.returncode == 0
    assert "--analysis" in p.stdout and "analysis.yaml" in p.stdout
    assert "the scheme's year" in p.stdout


def test_year_defaults_to_the_schemes_year_and_analysis_is_passed(monkeypatch, tmp_path):
    import bsc_lib.present.feedback
    import bsc_lib.runs.pipeline
    from bsc_lib.cli import DEFAULT_ANALYSIS, DEFAULT_SCHEME, main

    calls = []
    monkeypatch.setattr(bsc_lib.runs.pipeline, "run_report", lambda **kw: calls.append(kw) or tmp_path)
    monkeypatch.setattr(bsc_lib.present.feedback, "run_feedback", lambda **kw: calls.append(kw) or tmp_path)
    _, subs = _subparsers()
    for name in ("report", "feedback", "sample"):
        assert subs[name].parse_args([] if name != "sample" else ["x"]).year is None

    assert main(["report"]) == 0
    assert calls[-1]["year"] is None  # run_report takes the scheme's year
    assert calls[-1]["analysis_path"] == str(DEFAULT_ANALYSIS) and calls[-1]["scheme_path"] == str(DEFAULT_SCHEME)
    settings = tmp_path / "analysis.yaml"
    settings.write_text(DEFAULT_ANALYSIS.read_text(encoding="utf-8"), encoding="utf-8")
    assert main(["report", "--year", "2018", "--analysis", str(settings)]) == 0
    assert calls[-1]["year"] == 2018 and calls[-1]["analysis_path"] == str(settings)

    scheme_2020 = tmp_path / "scheme-2020.yaml"
    scheme_2020.write_text(DEFAULT_SCHEME.read_text(encoding="utf-8").replace("\nyear: 2019\n", "\nyear: 2020\n"),
                           encoding="utf-8")
    assert main(["feedback", "--scheme", str(scheme_2020)]) == 0
    assert calls[-1]["year"] == 2020  # the scheme's year
    assert main(["feedback", "--year", "2017"]) == 0
    assert calls[-1]["year"] == 2017


def test_bad_analysis_settings_are_reported_not_raised(tmp_path):
    bad = tmp_path / "analysis.yaml"
    bad.write_text("difficulty: {}\n", encoding="utf-8")
    p = run("report", "--analysis", str(bad), "--out", str(tmp_path / "out"))
    assert p.returncode == 2, p.stderr
    assert "Traceback" not in p.stderr and "analysis.yaml" in p.stderr
    assert not (tmp_path / "out").exists()


def _na_folder(tmp_path):
    """The sample with one actual as Excel's #N/A (row 3 of kpi_results.csv) and a notes row."""
    d = tmp_path / "na"
    d.mkdir()
    for f in (ROOT / "data" / "sample" / "2019").glob("*.csv"):
        (d / f.name).write_bytes(f.read_bytes())
    lines = (d / "kpi_results.csv").read_text(encoding="utf-8").splitlines()
    assert lines[2] == "K001,2019,H2,8.9,9.4,true"
    lines[2] = "K001,2019,H2,8.9,#N/A,true"
    lines.append("※ 자료: 성과평가팀,,,,,")
    (d / "kpi_results.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return d, len(lines)


def test_validate_na_as_missing_from_the_option_or_the_analysis_settings_and_notices(tmp_path):
    d, note_row = _na_folder(tmp_path)
    p = run("validate", str(d))
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert "row 3  actual  formula error" in p.stderr and "--na-as-missing" in p.stderr
    # notices come after the problems
    assert p.stderr.index("problems by rule") < p.stderr.index("notices (1)")
    assert f"row {note_row}  skipped row" in p.stderr
    p = run("validate", "--na-as-missing", str(d))
    assert p.returncode == 0, p.stderr
    out = p.stdout.splitlines()
    assert out[0].endswith("OK — no problems found")
    assert out[2].startswith("notices (1)") and f"kpi_results.csv row {note_row}  skipped row" in out[3]
    text = (ROOT / "params" / "analysis.yaml").read_text(encoding="utf-8")
    settings = tmp_path / "analysis.yaml"
    settings.write_text(text.replace("na_as_missing: false", "na_as_missing: true"), encoding="utf-8")
    p = run("validate", "--analysis", str(settings), str(d))
    assert p.returncode == 0, p.stderr
    assert "notices (1)" in p.stdout


def test_dashboard_startup_check_reads_na_as_the_analysis_settings_say(tmp_path):
    import pytest

    from bsc_lib.errors import DataError
    from bsc_lib.present.dashboard import startup_check

    d, _ = _na_folder(tmp_path)
    with pytest.raises(DataError) as info:
        startup_check(str(d), environ={})
    assert [p.rule for p in info.value.problems] == ["formula error"]
    text = (ROOT / "params" / "analysis.yaml").read_text(encoding="utf-8")
    settings = tmp_path / "analysis.yaml"
    settings.write_text(text.replace("na_as_missing: false", "na_as_missing: true"), encoding="utf-8")
    assert "697 KPIs" in startup_check(str(d), environ={"BSC_ANALYSIS": str(settings)})
