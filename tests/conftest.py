"""Test-suite settings: hypothesis profiles and the fuzzing report.

Hypothesis profiles (``--hypothesis-profile NAME``, or ``HYPOTHESIS_PROFILE=NAME``):

``ci`` (the default, and what ``make test`` selects)
    :data:`CI_EXAMPLES` examples per property target that does not fix its own count, so the
    whole suite stays within ``make test``'s 10 minutes on two cores.
``fuzz`` (``make fuzz``: the property targets of ``tests/test_properties.py``)
    at least :data:`FUZZ_EXAMPLES` examples per ``@given`` target collected — also for a test
    that fixes a smaller count for ``make test`` — with no time limit. ``--fuzz-report PATH``
    writes what ran (examples per target, outcome, time) to ``PATH``.

A test that fixes ``max_examples`` itself (``@settings(max_examples=…)``) keeps its count under
``ci``; under ``fuzz`` every target runs at least :data:`FUZZ_EXAMPLES`.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

#: Examples per property target in ``make test`` (hypothesis' own default is 100).
CI_EXAMPLES = 100
#: Examples per property target in ``make fuzz``.
FUZZ_EXAMPLES = 1000

_COMMON = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow]}
settings.register_profile("ci", max_examples=CI_EXAMPLES, **_COMMON)
settings.register_profile("fuzz", max_examples=FUZZ_EXAMPLES, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--fuzz-report", default=None, metavar="PATH",
                     help="write the property targets' examples, outcomes and times to PATH (make fuzz)")


def _fuzzing(config: pytest.Config) -> bool:
    return (config.getoption("hypothesis_profile", None) or os.environ.get("HYPOTHESIS_PROFILE")) == "fuzz"


#: The test files that take longest, longest first (seconds of one file alone, ``--durations``,
#: on the shared 2-core machine at a load average of 4–7; issue 15). Under pytest-xdist (``make
#: test``: ``--dist loadfile --no-loadscope-reorder``) the workers take files in collection order,
#: so these start first and the short files fill the end: the two workers finish together instead
#: of one running a long file alone at the end (xdist's own order, most tests first, put files
#: with a few long tests such as test_dashboard_server.py last). Order only: every test still runs.
SLOWEST_FIRST = (
    "test_bad_inputs.py",           # 310 s: the bsc executable on every catalogue case (~110 processes)
    "test_notebooks.py",            # 143 s: every report notebook executed, then again by nbval
    "test_properties.py",           # 118 s: the property targets
    "test_report_checks.py",        # 115 s: whole reports (ko, en) checked page by page
    "test_consistency_matrix.py",   # 101 s: a whole report under another scheme, five schemes
    "test_wheel.py",                # 97 s: a report run from the built wheel in another folder
    "test_dashboard.py",            # 95 s: Voila + Chromium
    "test_nothing_lost.py",         # 85 s: report runs stopped by signals, two runs at once
    "test_one_answer.py",           # 72 s: random worlds through every producer
    "test_dashboard_server.py",     # 72 s: 100 abrupt page loads against the viewer cap
    "test_report_e2e.py",           # 60 s: a whole report run
    "test_pipeline.py",             # 41 s
    "test_feedback.py",             # 39 s
    "test_scoring.py",              # 34 s
    "test_cli.py",                  # 32 s
)


def _slowest_first(items: list[pytest.Item]) -> None:
    """Sort ``items`` so the files of :data:`SLOWEST_FIRST` come first, in that order (stable:
    the tests of a file, and the other files, keep their order)."""
    rank = {name: i for i, name in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Longest files first on xdist workers (:data:`SLOWEST_FIRST`); under ``fuzz``, raise every
    property target's own example count to :data:`FUZZ_EXAMPLES`."""
    if hasattr(config, "workerinput"):  # an xdist worker: its collection order is the schedule's
        _slowest_first(items)
    if not _fuzzing(config):
        return
    for item in items:
        fn = getattr(getattr(item, "obj", None), "__func__", getattr(item, "obj", None))
        own = getattr(fn, "_hypothesis_internal_use_settings", None)
        if own is not None and own.max_examples < FUZZ_EXAMPLES:
            fn._hypothesis_internal_use_settings = settings(own, max_examples=FUZZ_EXAMPLES)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call):
    """A failing test that used a dashboard server (a ``server`` fixture with ``text()``) gets the
    tail of that server's log in its report (the kernels' own log lines say what the page did)."""
    outcome = yield
    rep = outcome.get_result()
    if rep.failed and rep.when in ("setup", "call"):
        srv = getattr(item, "funcargs", {}).get("server")
        if callable(getattr(srv, "text", None)):
            rep.sections.append(("dashboard server log (tail)", srv.text()))


_STATS_KEY = "_hypothesis_stats"
_PASSING = re.compile(r"- (\d+) passing, (\d+) failing, and (\d+) invalid")


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    """``--fuzz-report PATH``: one row per property target (examples run, outcome, seconds)."""
    path = config.getoption("fuzz_report")
    if not path or hasattr(config, "workerinput"):  # an xdist worker: the controller sees every report
        return
    rows: dict[str, dict] = {}
    for reports in terminalreporter.stats.values():
        for rep in reports:
            nodeid = getattr(rep, "nodeid", None)
            if not nodeid or getattr(rep, "when", None) is None:
                continue
            row = rows.setdefault(nodeid, {"outcome": "passed", "seconds": 0.0, "stats": None})
            row["seconds"] += getattr(rep, "duration", 0.0) or 0.0
            if rep.outcome != "passed" and row["outcome"] == "passed":
                row["outcome"] = rep.outcome
            if rep.__dict__.get(_STATS_KEY):
                row["stats"] = rep.__dict__[_STATS_KEY]
    targets = {k: v for k, v in rows.items() if v["stats"]}
    lines = [
        "# Fuzzing (`make fuzz`)",
        "",
        f"Generated {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} by `make fuzz`: the property "
        f"targets (`@given` tests) collected, with the hypothesis profile `fuzz` (at least "
        f"{FUZZ_EXAMPLES:,} examples each; fewer only where hypothesis exhausted the target's whole "
        "input space). Exit status of the run: "
        f"{exitstatus}.",
        "",
        "| target | outcome | valid examples | invalid | seconds |",
        "|---|---|---|---|---|",
    ]
    for nodeid in sorted(targets):
        v = targets[nodeid]
        found = [tuple(int(x) for x in m) for m in _PASSING.findall(v["stats"])]
        valid = sum(p + f for p, f, _ in found)
        invalid = sum(i for _, _, i in found)
        lines.append(f"| `{nodeid}` | {v['outcome']} | {valid:,} | {invalid:,} | {v['seconds']:.1f} |")
    short = [k for k, v in targets.items() if v["outcome"] == "passed"
             and sum(int(p) + int(f) for p, f, _ in _PASSING.findall(v["stats"])) < FUZZ_EXAMPLES]
    lines += ["", f"{len(targets)} targets, {sum(v['outcome'] == 'passed' for v in targets.values())} passed; "
              f"below {FUZZ_EXAMPLES:,} valid examples: {', '.join(f'`{s}`' for s in sorted(short)) or 'none'}.", ""]
    Path(path).write_text("\n".join(lines), encoding="utf-8")
    terminalreporter.write_line(f"fuzz report written to {path}")


@pytest.fixture
def coded_map_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The ``Series.map`` / ``Index.map`` calls made while the test runs on a ``category`` column
    with a mapper whose values are ``category`` too: pandas 3.1 answers such a map by the mapper
    values' sorted order, not by key (see ``test_one_answer``); a caller must make the mapper
    plain first (:func:`bsc_lib.data.model.plain_text`). The test asserts the list is empty."""
    import pandas as pd

    calls: list[str] = []

    def guarded(original):
        def map_(self, arg, *args, **kwargs):
            if (isinstance(self.dtype, pd.CategoricalDtype) and isinstance(arg, pd.Series)
                    and isinstance(arg.dtype, pd.CategoricalDtype)):
                calls.append(f"{type(self).__name__}.map of {getattr(self, 'name', None)!r} "
                             f"through {arg.name!r}")
            return original(self, arg, *args, **kwargs)
        return map_

    monkeypatch.setattr(pd.Series, "map", guarded(pd.Series.map))
    monkeypatch.setattr(pd.Index, "map", guarded(pd.Index.map))
    monkeypatch.setattr(pd.CategoricalIndex, "map", guarded(pd.CategoricalIndex.map))
    return calls
