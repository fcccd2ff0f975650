"""Run the benchmarks and write ``bench/RESULTS.md`` and ``bench/results.json`` (``make bench``).

Figures (``--only`` takes a comma-separated subset):

``scale``
    Synthetic data at 1×, 10×, 100× and 1000× Seoul, generated in memory: time and peak RSS
    of ``evaluate``, ``kpi_difficulty`` and ``discrimination`` (one subprocess per scale, the
    peak reset before every stage), plus ``load`` (read + parse + validate) of CSV folders
    written to a temporary directory at 1×, 10× and 100×.
``montecarlo``
    ``robustness.monte_carlo``: 10,000 draws × 248 departments, side by side with a naive
    pandas loop over draws (same draws, same ranks) and with ``evaluate()`` per draw.
``pipeline``
    ``bsc report`` (``run_report``, PDF on) on the embedded sample against its floor: the same
    notebooks reduced to their parameters, imports and data load, executed the same way.
``feedback``
    ``bsc feedback``: 248 department reports with 2 worker processes.
``dashboard``
    ``bsc dashboard`` (Voila, preheated kernel) in headless Chromium: first render and the
    what-if re-rank latency.

Every measurement runs in its own subprocess (``python -m bench.measure``). ``--quick`` runs
tiny sizes with one repetition (the smoke test); its numbers are not benchmarks.

RESULTS.md shows every figure beside those of an earlier run, ``--before`` (default
``bench/results-before.json``: the last ``make bench`` before issue 15). The whole run keeps
within ``budget_s`` (590 s): the pipeline skips repetitions beyond its first run and floor run
that would not fit, and RESULTS.md says which.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # `python bench/run.py` puts bench/ first on the path, not the repo
    sys.path.insert(0, str(REPO))

from bench.measure import MARK  # noqa: E402

FIGURES = ("scale", "montecarlo", "pipeline", "feedback", "dashboard")
BENCH_DIR = REPO / "bench"

#: Targets of issue 7.
TARGETS = {
    "e2e_1000_s": 10.0,
    "e2e_1000_gb": 4.0,
    "per_kpi_drift": 1.2,
    "mc_s": 2.0,
    "mc_speedup": 100.0,
    "pipeline_ratio": 1.0,
    "feedback_s": 180.0,
    "dashboard_first_s": 3.0,
    "dashboard_whatif_ms": 300.0,
    "total_s": 600.0,
}

#: Repetitions per figure (after ``warmup`` runs that are not counted).
FULL_PLAN: dict[str, Any] = {
    "scales": [1, 10, 100, 1000],
    "scale_reps": {1: 5, 10: 5, 100: 5, 1000: 5},
    "scale_warmup": {1: 1, 10: 1, 100: 1, 1000: 1},
    # load + validate reads CSV folders; 1000x (~1.5 GB of CSV, ~20 GB while parsing as Python
    # strings) does not fit the 10-minute budget and is extrapolated in RESULTS.md instead
    "load_scales": [1, 10, 100],
    "load_reps": {1: 5, 10: 5, 100: 5},
    "load_warmup": {1: 1, 10: 1, 100: 1},
    "mc_draws": 10_000,
    "mc_reps": 5,
    "naive_draws": 20,
    "naive_eval_draws": 5,
    # a whole report is ~40 s, its floor ~25 s: 3 runs + 2 floor runs keep the benchmark within 10 minutes
    "pipeline_reps": 3,
    "floor_reps": 2,
    "feedback_reps": 3,
    "dashboard_reps": 5,
    "timeout_s": 900,
    # the whole make bench (issue 7 and 15: within 10 minutes); the pipeline drops repetitions
    # beyond its first run and floor when they would not fit
    "budget_s": 590,
    # warm-up runs of the larger scales run on 1x data (same code paths, a fraction of the time)
    "warmup_scale": 1,
}
QUICK_PLAN: dict[str, Any] = {
    "scales": [0.5, 1],
    "scale_reps": {0.5: 1, 1: 1},
    "scale_warmup": {0.5: 0, 1: 0},
    "load_scales": [0.5],
    "load_reps": {0.5: 1},
    "load_warmup": {0.5: 0},
    "mc_draws": 200,
    "mc_reps": 1,
    "naive_draws": 3,
    "naive_eval_draws": 1,
    "pipeline_reps": 1,
    "floor_reps": 1,
    "feedback_reps": 1,
    "dashboard_reps": 1,
    "timeout_s": 300,
}


# ----------------------------------------------------------------------------- subprocesses
def run_task(task: str, args: dict, timeout: float, tmpdir: str | None = None) -> dict:
    """Run ``python -m bench.measure task args`` and return its JSON result.

    On failure (exit code, timeout, no result line) returns ``{"error": "..."}``; the process
    group started here is killed on timeout (nothing else).
    """
    payload = dict(args)
    if tmpdir:
        payload["tmpdir"] = tmpdir
    cmd = [sys.executable, "-m", "bench.measure", task, json.dumps(payload)]
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, err = proc.communicate()
        return {"error": f"timeout after {timeout:g} s", "stderr": _tail(err)}
    lines = [ln for ln in out.splitlines() if ln.startswith(MARK)]
    if proc.returncode != 0 or not lines:
        return {"error": f"exit code {proc.returncode}", "stderr": _tail(err)}
    return json.loads(lines[-1][len(MARK):])


def _tail(text: str, n: int = 15) -> str:
    return "\n".join((text or "").strip().splitlines()[-n:])


# ----------------------------------------------------------------------------- statistics
def summarise(values: Sequence[float]) -> dict:
    """``{median, min, max, n}`` of the values (NaN-free); ``n = 0`` gives None statistics."""
    v = [float(x) for x in values if x is not None]
    if not v:
        return {"median": None, "min": None, "max": None, "n": 0}
    return {"median": statistics.median(v), "min": min(v), "max": max(v), "n": len(v)}


def counted(runs: list[dict]) -> list[dict]:
    """The repetitions that count (warm-up runs dropped)."""
    return [r for r in runs if not r.get("warmup")]


def verdict(value: float | None, target: float, higher_is_better: bool = False) -> str:
    """``pass`` / ``FAIL`` against a target, ``n/a`` without a value."""
    if value is None:
        return "n/a"
    ok = value >= target if higher_is_better else value <= target
    return "pass" if ok else "FAIL"


# ----------------------------------------------------------------------------- figures
def figure_scale(plan: dict, tmp: str, log) -> dict:
    out: dict[str, Any] = {"scales": {}, "load": {}}
    for s in plan["scales"]:
        log(f"scale {s:g}×: generate + evaluate/difficulty/dispersion")
        args = {"scale": s, "reps": plan["scale_reps"][s], "warmup": plan["scale_warmup"][s]}
        if plan.get("warmup_scale") and s > plan["warmup_scale"]:
            args["warmup_scale"] = plan["warmup_scale"]
        out["scales"][str(s)] = run_task("scale", args, plan["timeout_s"], tmp)
    first_folder = None
    for s in plan["load_scales"]:
        folder = str(Path(tmp) / f"csv-{s:g}x" / "data")
        log(f"scale {s:g}×: write CSV folder, load + validate")
        w = run_task("write_csv", {"scale": s, "path": folder}, plan["timeout_s"], tmp)
        if "error" in w:
            out["load"][str(s)] = {"error": w["error"], "stderr": w.get("stderr", "")}
            continue
        args = {"path": folder, "reps": plan["load_reps"][s], "warmup": plan["load_warmup"][s]}
        if plan.get("warmup_scale") and first_folder and s > plan["warmup_scale"]:
            args["warmup_path"] = first_folder  # the smallest folder, written first
        first_folder = first_folder or folder
        r = run_task("load", args, plan["timeout_s"], tmp)
        r["csv"] = {"bytes": w["bytes"], "write_s": w["write"]["wall"]}
        out["load"][str(s)] = r
    return out


def scale_rows(fig: dict) -> tuple[list[dict], dict]:
    """Summary rows of the scale figure and the headline numbers."""
    rows: list[dict] = []
    per_kpi: dict[str, float] = {}
    head: dict[str, Any] = {}
    for s, r in fig.get("scales", {}).items():
        if "error" in r:
            rows.append({"figure": "scale", "measure": f"{float(s):g}× evaluate + difficulty + dispersion",
                         "error": r["error"]})
            continue
        runs = counted(r["runs"])
        n = r["n_kpis"]
        for stage in ("evaluate", "difficulty", "dispersion"):
            rows.append({"figure": "scale", "scale": float(s), "n_kpis": n, "stage": stage,
                         "wall": summarise([x[stage]["wall"] for x in runs]),
                         "cpu": summarise([x[stage]["cpu"] for x in runs]),
                         "peak_gb": summarise([x[stage]["peak_rss_gb"] for x in runs]),
                         "base_gb": summarise([x[stage]["base_rss_gb"] for x in runs])})
        e2e = [sum(x[st]["wall"] for st in ("evaluate", "difficulty", "dispersion")) for x in runs]
        e2e_cpu = [sum(x[st]["cpu"] for st in ("evaluate", "difficulty", "dispersion")) for x in runs]
        peak = [max(x[st]["peak_rss_gb"] for st in ("evaluate", "difficulty", "dispersion")) for x in runs]
        row = {"figure": "scale", "scale": float(s), "n_kpis": n, "stage": "end to end",
               "wall": summarise(e2e), "cpu": summarise(e2e_cpu), "peak_gb": summarise(peak),
               "base_gb": {"median": r.get("data_rss_gb")},
               "per_kpi_us": summarise([t / n * 1e6 for t in e2e]),
               "generate_s": r["generate"]["wall"], "reps": len(runs),
               "warmup": sum(1 for x in r["runs"] if x.get("warmup"))}
        rows.append(row)
        per_kpi[s] = row["per_kpi_us"]["median"]
    for s, r in fig.get("load", {}).items():
        if "error" in r:
            rows.append({"figure": "scale", "scale": float(s), "stage": "load + validate (CSV)", "error": r["error"]})
            continue
        runs = counted(r["runs"])
        rows.append({"figure": "scale", "scale": float(s), "n_kpis": r["n_kpis"], "stage": "load + validate (CSV)",
                     "wall": summarise([x["load"]["wall"] for x in runs]),
                     "cpu": summarise([x["load"]["cpu"] for x in runs]),
                     "peak_gb": summarise([x["load"]["peak_rss_gb"] for x in runs]),
                     "per_kpi_us": summarise([x["load"]["wall"] / r["n_kpis"] * 1e6 for x in runs]),
                     "csv_mb": r["csv"]["bytes"] / 1e6, "reps": len(runs),
                     "warmup": sum(1 for x in r["runs"] if x.get("warmup"))})
    keys = sorted(per_kpi, key=float)
    if len(keys) >= 2:
        a, b = keys[-2], keys[-1]
        head["drift_from"], head["drift_to"] = float(a), float(b)
        head["per_kpi_drift"] = per_kpi[b] / per_kpi[a] if per_kpi[a] else None
    top = [r for r in rows if r.get("stage") == "end to end" and r.get("scale") == max(
        (float(k) for k in fig.get("scales", {})), default=None)]
    if top:
        head["top_scale"] = top[0]["scale"]
        head["e2e_s"] = top[0]["wall"]["median"]
        head["e2e_cpu_s"] = top[0]["cpu"]["median"]
        head["e2e_peak_gb"] = top[0]["peak_gb"]["max"]
        head["e2e_base_gb"] = top[0]["base_gb"]["median"]
    return rows, head


def figure_montecarlo(plan: dict, tmp: str, log) -> dict:
    log("Monte Carlo: vectorised vs naive")
    return run_task("montecarlo", {"n_draws": plan["mc_draws"], "reps": plan["mc_reps"],
                                   "naive_draws": plan["naive_draws"],
                                   "naive_eval_draws": plan["naive_eval_draws"]}, plan["timeout_s"], tmp)


def montecarlo_head(fig: dict) -> dict:
    if "error" in fig:
        return {"error": fig["error"]}
    runs = counted(fig["runs"])
    fast = summarise([x["monte_carlo"]["wall"] for x in runs])
    fast_cpu = summarise([x["monte_carlo"]["cpu"] for x in runs])
    n = fig["n_draws"]
    per_fast = fast["median"] / n
    nv = fig["naive_pandas"]
    ne = fig["naive_evaluate"]
    per_naive = nv["wall"] / nv["n_draws"]
    per_eval = ne["wall"] / ne["n_draws"]
    return {"n_units": fig["n_units"], "n_draws": n, "wall": fast, "cpu": fast_cpu,
            "per_draw_ms": per_fast * 1e3, "naive_per_draw_ms": per_naive * 1e3,
            "naive_eval_per_draw_ms": per_eval * 1e3, "speedup_pandas": per_naive / per_fast,
            "speedup_evaluate": per_eval / per_fast, "same_ranks": nv["same_ranks"],
            "same_grade_changes": nv["same_grade_changes"], "naive_draws": nv["n_draws"],
            "naive_eval_draws": ne["n_draws"]}


#: Seconds kept for the figures after the pipeline (feedback, dashboard) within ``budget_s``.
AFTER_PIPELINE_S = 90.0
#: ``time.perf_counter()`` at the start of the benchmark run (set by :func:`main`).
_T_START: float | None = None


def _left_s(plan: dict) -> float:
    """Seconds of the plan's ``budget_s`` left before the figures after the pipeline."""
    if not plan.get("budget_s") or _T_START is None:
        return float("inf")
    return plan["budget_s"] - (time.perf_counter() - _T_START) - AFTER_PIPELINE_S


def figure_pipeline(plan: dict, tmp: str, log) -> dict:
    """Report runs and floor runs, alternated (run, floor, run, floor, run: both see the same
    load); a repetition after the first of each is skipped when it would not fit the plan's
    ``budget_s`` (the whole ``make bench`` within 10 minutes), and the result says so."""
    runs: list[dict] = []
    floors: list[dict] = []
    spent: dict[str, float] = {}
    skipped = []
    order = []
    for i in range(max(plan["pipeline_reps"], plan["floor_reps"])):
        if i < plan["pipeline_reps"]:
            order.append(("run", i))
        if i < plan["floor_reps"]:
            order.append(("floor", i))
    for kind, i in order:
        done = runs if kind == "run" else floors
        if done and spent.get(kind, 0.0) > _left_s(plan):
            skipped.append(f"{kind} {i + 1}")
            continue
        t0 = time.perf_counter()
        if kind == "run":
            log(f"pipeline: bsc report run {i + 1}/{plan['pipeline_reps']}")
            runs.append(run_task("pipeline", {"out": str(Path(tmp) / f"report-{i}"), "pdf": True},
                                 plan["timeout_s"], tmp))
        else:
            log(f"pipeline: floor run {i + 1}/{plan['floor_reps']}")
            floors.append(run_task("pipeline_floor", {"workdir": str(Path(tmp) / f"floor-{i}")},
                                   plan["timeout_s"], tmp))
        spent[kind] = time.perf_counter() - t0
    if skipped:
        log(f"pipeline: skipped to stay within the budget: {', '.join(skipped)}")
    return {"runs": runs, "floors": floors, "skipped_for_budget": skipped}


def pipeline_head(fig: dict) -> dict:
    runs = [r for r in fig.get("runs", []) if "error" not in r]
    floors = [r for r in fig.get("floors", []) if "error" not in r]
    errors = [r["error"] for r in fig.get("runs", []) + fig.get("floors", []) if "error" in r]
    if not runs or not floors:
        return {"error": "; ".join(errors) or "no run"}
    total = summarise([r["total"]["wall"] for r in runs])
    floor = summarise([r["total_s"] for r in floors])
    names = list(runs[0]["notebooks"])
    per_nb = []
    for nm in names:
        per_nb.append({"notebook": nm, "run": summarise([r["notebooks"].get(nm) for r in runs]),
                       "floor": summarise([f["notebooks"].get(nm) for f in floors]),
                       "floor_imports": summarise([f["notebooks"][nm] - f["load_s"][nm] for f in floors
                                                   if nm in f.get("load_s", {}) and nm in f["notebooks"]])})
    nb_sum = summarise([sum(v for v in r["notebooks"].values() if v is not None) for r in runs])
    # issue 15's floor: bare kernel start plus imports (the floor without loading the inputs);
    # floor runs from before issue 15 did not time the loading apart
    imp = summarise([f.get("imports_total_s") for f in floors])
    return {"total": total, "floor": floor, "ratio": total["median"] / floor["median"],
            "floor_imports": imp, "ratio_imports": total["median"] / imp["median"] if imp["median"] else None,
            "notebooks_sum": nb_sum, "tables_fn": summarise([r.get("tables_fn_s") for r in runs]),
            "bare_kernel": summarise([f["bare_kernel_s"] for f in floors]), "per_notebook": per_nb,
            "pdf": runs[0].get("pdf"), "reps": len(runs), "floor_reps": len(floors), "errors": errors,
            "skipped": fig.get("skipped_for_budget", [])}


def figure_feedback(plan: dict, tmp: str, log) -> dict:
    log("feedback: 248 department reports, 2 workers")
    return {"runs": [run_task("feedback", {"out": str(Path(tmp) / f"feedback-{i}"), "workers": 2,
                                           "level": "department"}, plan["timeout_s"], tmp)
                     for i in range(plan["feedback_reps"])]}


def feedback_head(fig: dict) -> dict:
    runs = fig.get("runs", [])
    if runs and all(r.get("available") is False for r in runs):
        return {"available": False, "why": runs[0].get("why")}
    ok = [r for r in runs if "error" not in r and r.get("available")]
    if not ok:
        return {"error": "; ".join(r.get("error", "?") for r in runs) or "no run",
                "stderr": runs[0].get("stderr", "") if runs else ""}
    return {"available": True, "total": summarise([r["total"]["wall"] for r in ok]), "reports": ok[0]["reports"],
            "durations_s": ok[0].get("durations_s"), "executor": ok[0].get("executor"), "reps": len(ok)}


def figure_dashboard(plan: dict, tmp: str, log) -> dict:
    log("dashboard: Voila + Chromium")
    return run_task("dashboard", {"reps": plan["dashboard_reps"], "workdir": str(Path(tmp) / "dashboard")},
                    plan["timeout_s"], tmp)


def dashboard_head(fig: dict) -> dict:
    if fig.get("available") is False:
        return {"available": False, "why": fig.get("why")}
    if "error" in fig:
        return {"error": fig["error"], "stderr": fig.get("stderr", "")}
    return {"available": True, "first_render": summarise(fig.get("first_render_s", [])),
            "later_render": summarise(fig.get("later_render_s", [])),
            "whatif_ms": summarise([x * 1e3 for x in fig.get("whatif_s", [])]),
            "server_start_s": fig.get("server_start_s"), "pool_full_s": fig.get("pool_full_s"),
            "notes": fig.get("notes", [])}


# ----------------------------------------------------------------------------- machine
def machine_info() -> dict:
    import numpy
    import pandas

    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram = int(line.split()[1]) * 1024 / 1e9
    except OSError:
        pass
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    commit = None
    try:
        r = subprocess.run(["git", "--no-optional-locks", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                           capture_output=True, text=True, timeout=10, check=False)
        commit = r.stdout.strip() or None
        d = subprocess.run(["git", "--no-optional-locks", "-C", str(REPO), "status", "--porcelain",
                            "--untracked-files=no"], capture_output=True, text=True, timeout=10, check=False)
        dirty = bool(d.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        dirty = None
    return {"cpu_model": cpu, "cores": os.cpu_count(), "ram_gb": ram, "python": platform.python_version(),
            "pandas": pandas.__version__, "numpy": numpy.__version__, "platform": platform.platform(),
            "date": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "load_avg_start": list(load) if load else None, "git_commit": commit, "git_dirty": dirty}


# ----------------------------------------------------------------------------- report
def _f(x: float | None, spec: str = ".2f") -> str:
    return "–" if x is None else format(x, spec)


def _mm(s: dict, spec: str = ".2f", unit: str = "") -> tuple[str, str]:
    if not s or s.get("median") is None:
        return "–", "–"
    return f"{_f(s['median'], spec)}{unit}", f"{_f(s['min'], spec)}–{_f(s['max'], spec)}{unit}"


def build_summary(results: dict) -> list[dict]:
    """The headline rows (figure, measure, median, range, runs, target, result) of the report."""
    rows: list[dict] = []
    figs = results["figures"]
    if "scale" in figs:
        _, head = scale_rows(figs["scale"])
        e2e_row = next((r for r in scale_rows(figs["scale"])[0]
                        if r.get("stage") == "end to end" and r.get("scale") == head.get("top_scale")), None)
        top = head.get("top_scale")
        if e2e_row:
            med, rng = _mm(e2e_row["wall"], ".2f", " s")
            rows.append({"key": "e2e", "figure": "1 scale", "measure": f"end to end at {top:g}× (evaluate + difficulty + dispersion, in memory)",
                         "median": med, "range": rng, "runs": e2e_row["reps"], "target": "≤ 10 s",
                         "result": verdict(head.get("e2e_s"), TARGETS["e2e_1000_s"])})
            pk = e2e_row["peak_gb"]
            rows.append({"key": "e2e_peak", "figure": "1 scale", "measure": f"peak RSS at {top:g}× (process, incl. the "
                         f"{_f(head.get('e2e_base_gb'))} GB dataset)",
                         "median": f"{_f(pk['median'])} GB", "range": f"{_f(pk['min'])}–{_f(pk['max'])} GB",
                         "runs": e2e_row["reps"], "target": "≤ 4 GB",
                         "result": verdict(head.get("e2e_peak_gb"), TARGETS["e2e_1000_gb"])})
        if head.get("per_kpi_drift") is not None:
            rows.append({"key": "drift", "figure": "1 scale", "measure": f"per-KPI cost drift {head['drift_from']:g}× → {head['drift_to']:g}×",
                         "median": f"{head['per_kpi_drift']:.2f}×", "range": "", "runs": "", "target": "≤ 1.2×",
                         "result": verdict(head["per_kpi_drift"], TARGETS["per_kpi_drift"])})
    if "montecarlo" in figs:
        h = montecarlo_head(figs["montecarlo"])
        if "error" in h:
            rows.append({"key": "mc", "figure": "2 Monte Carlo", "measure": "monte_carlo", "median": "error", "range": h["error"],
                         "runs": "", "target": "≤ 2 s", "result": "FAIL"})
        else:
            med, rng = _mm(h["wall"], ".2f", " s")
            rows.append({"key": "mc", "figure": "2 Monte Carlo", "measure": f"{h['n_draws']:,} draws × {h['n_units']} departments",
                         "median": med, "range": rng, "runs": h["wall"]["n"], "target": "≤ 2 s",
                         "result": verdict(h["wall"]["median"], TARGETS["mc_s"])})
            rows.append({"key": "mc_evaluate", "figure": "2 Monte Carlo", "measure": "speed-up vs the naive reference: a Python loop over "
                         f"draws calling the pandas scoring, `evaluate()`, per draw ({h['naive_eval_draws']} draws)",
                         "median": f"{h['speedup_evaluate']:,.0f}×", "range": "", "runs": 1, "target": "≥ 100×",
                         "result": verdict(h["speedup_evaluate"], TARGETS["mc_speedup"], higher_is_better=True)})
            rows.append({"key": "mc_pandas", "figure": "2 Monte Carlo", "measure": "speed-up vs a lean pandas loop (only the totals, by "
                         f"groupby per draw; {h['naive_draws']} draws, same ranks: {'yes' if h['same_ranks'] else 'NO'})",
                         "median": f"{h['speedup_pandas']:,.0f}×", "range": "", "runs": 1,
                         "target": "none (stricter baseline)", "result": "info"})
    if "pipeline" in figs:
        h = pipeline_head(figs["pipeline"])
        if "error" in h:
            rows.append({"key": "pipeline", "figure": "3 pipeline", "measure": "bsc report", "median": "error", "range": h["error"],
                         "runs": "", "target": "≤ 1.0× floor", "result": "FAIL"})
        else:
            med, rng = _mm(h["total"], ".1f", " s")
            fmed, _ = _mm(h["floor"], ".1f", " s")
            rows.append({"key": "pipeline", "figure": "3 pipeline",
                         "measure": f"bsc report total against its floor with loading (kernel + imports + load of "
                         f"the inputs per notebook, as since issue 7: {fmed})", "median": med,
                         "range": rng, "runs": h["reps"], "target": "≤ 1.0× floor",
                         "result": f"{verdict(h['ratio'], TARGETS['pipeline_ratio'])} ({h['ratio']:.2f}×)"})
            if h.get("ratio_imports") is not None:
                imed, _ = _mm(h["floor_imports"], ".1f", " s")
                rows.append({"key": "pipeline_imports", "figure": "3 pipeline",
                             "measure": f"bsc report total against issue 15's floor (bare kernel start plus imports "
                             f"per notebook: {imed})", "median": med, "range": rng, "runs": h["reps"],
                             "target": "≤ 1.0× floor",
                             "result": f"{verdict(h['ratio_imports'], TARGETS['pipeline_ratio'])} "
                                       f"({h['ratio_imports']:.2f}×)"})
    if "feedback" in figs:
        h = feedback_head(figs["feedback"])
        if h.get("available") is False:
            rows.append({"key": "feedback", "figure": "4 feedback", "measure": "248 department reports, 2 workers", "median": "–",
                         "range": "", "runs": 0, "target": "≤ 3 min", "result": "not yet available"})
        elif "error" in h:
            rows.append({"key": "feedback", "figure": "4 feedback", "measure": "248 department reports, 2 workers", "median": "error",
                         "range": h["error"], "runs": 0, "target": "≤ 3 min", "result": "FAIL"})
        else:
            med, rng = _mm(h["total"], ".1f", " s")
            rows.append({"key": "feedback", "figure": "4 feedback", "measure": f"{h['reports']} department reports, 2 workers",
                         "median": med, "range": rng, "runs": h["reps"], "target": "≤ 3 min",
                         "result": verdict(h["total"]["median"], TARGETS["feedback_s"])})
    if "dashboard" in figs:
        h = dashboard_head(figs["dashboard"])
        if h.get("available") is False or "error" in h:
            res = "not yet available" if h.get("available") is False else "FAIL"
            for key, m, tg in (("dash_first", "first render (preheated kernel)", "≤ 3 s"),
                               ("dash_later", "second and later viewers' first render (max)", "≤ 3 s"),
                               ("dash_whatif", "what-if re-rank latency", "≤ 300 ms")):
                rows.append({"key": key, "figure": "5 dashboard", "measure": m, "median": "–" if res != "FAIL" else "error",
                             "range": h.get("error", ""), "runs": 0, "target": tg, "result": res})
        else:
            med, rng = _mm(h["first_render"], ".2f", " s")
            rows.append({"key": "dash_first", "figure": "5 dashboard", "measure": "first render (preheated kernel)", "median": med,
                         "range": rng, "runs": h["first_render"]["n"], "target": "≤ 3 s",
                         "result": verdict(h["first_render"]["median"], TARGETS["dashboard_first_s"])})
            if h["later_render"]["n"]:
                med, rng = _mm(h["later_render"], ".2f", " s")
                rows.append({"key": "dash_later", "figure": "5 dashboard", "measure": "second and later viewers' first render (earlier "
                             "viewers still open)", "median": med, "range": rng, "runs": h["later_render"]["n"],
                             "target": "≤ 3 s each",
                             "result": verdict(h["later_render"]["max"], TARGETS["dashboard_first_s"])})
            med, rng = _mm(h["whatif_ms"], ".0f", " ms")
            rows.append({"key": "dash_whatif", "figure": "5 dashboard", "measure": "what-if re-rank latency", "median": med, "range": rng,
                         "runs": h["whatif_ms"]["n"], "target": "≤ 300 ms",
                         "result": verdict(h["whatif_ms"]["median"], TARGETS["dashboard_whatif_ms"])})
    dur = results.get("duration_s")
    if dur is not None and set(FIGURES) <= set(figs):
        rows.append({"key": "total", "figure": "all", "measure": "whole `make bench`", "median": f"{dur:.0f} s", "range": "",
                     "runs": 1, "target": "≤ 10 min", "result": verdict(dur, TARGETS["total_s"])})
    return rows


def _table(header: list[str], rows: list[list]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def _before_cell(row: dict | None) -> str:
    """A headline row of the "before" results as one cell: its median (and ratio, if any)."""
    if row is None:
        return "–"
    ratio = re.search(r"\(([\d.,]+×)\)", str(row.get("result", "")))
    return f"{row['median']} ({ratio.group(1)})" if ratio else str(row["median"])


def _before_scale(before: dict | None) -> dict:
    """``{(scale, stage): row}`` of the "before" results' scale figure."""
    if not before or "scale" not in before.get("figures", {}):
        return {}
    rows, _ = scale_rows(before["figures"]["scale"])
    return {(r.get("scale"), r.get("stage")): r for r in rows if "error" not in r}


def render_markdown(results: dict, notes: str = "", before: dict | None = None) -> str:
    """RESULTS.md: machine, headline table, then one section per figure.

    ``before``: the results of an earlier run (``bench/results-before.json``, the last
    ``make bench`` before issue 15), shown side by side with the new figures in every section.
    """
    m = results["machine"]
    quick = results.get("quick")
    bfigs = (before or {}).get("figures", {})
    bm = (before or {}).get("machine", {})
    lines = ["# Benchmarks (issues 7 and 15)", ""]
    if quick:
        lines += ["> **Quick smoke run (`--quick`)**: tiny sizes, one repetition — not benchmark numbers.", ""]
    lines += [f"Generated by `{results.get('command', 'make bench')}` on {m['date']} in "
              f"{_f(results.get('duration_s'), '.0f')} s. Raw numbers: `bench/results.json`."]
    if before:
        lines += [f"**Before** = `{results.get('before_path', 'bench/results-before.json')}`: the last `make bench` "
                  f"before issue 15 (git {bm.get('git_commit')}, {bm.get('date')}, "
                  f"{_f(before.get('duration_s'), '.0f')} s), shown beside the new figures in every section."]

    def load_avg(mm: dict) -> str:
        return " / ".join(f"{x:.2f}" for x in mm["load_avg_start"]) if mm.get("load_avg_start") else "–"

    def commit(mm: dict) -> str:
        return f"{mm.get('git_commit')}{' + uncommitted changes' if mm.get('git_dirty') else ''}"

    mrows = [["CPU", m["cpu_model"], bm.get("cpu_model", "–")], ["cores", m["cores"], bm.get("cores", "–")],
             ["RAM", f"{_f(m['ram_gb'], '.1f')} GB", f"{_f(bm.get('ram_gb'), '.1f')} GB"],
             ["Python / pandas / numpy", f"{m['python']} / {m['pandas']} / {m['numpy']}",
              f"{bm.get('python')} / {bm.get('pandas')} / {bm.get('numpy')}" if bm else "–"],
             ["platform", m["platform"], bm.get("platform", "–")],
             ["load average at start (1/5/15 min)", load_avg(m), load_avg(bm)],
             ["git commit", commit(m), commit(bm) if bm else "–"],
             ["date (UTC)", m["date"], bm.get("date", "–")]]
    lines += ["", "## Machine", "",
              _table(["", "now", "before"], mrows) if before else _table(["", ""], [r[:2] for r in mrows]), ""]
    lines += ["## Headline", "",
              "Median of the counted runs after warm-up (runs column), min–max in brackets; wall-clock "
              "time. Pass/fail is against the targets of issues 7 and 15 (now)"
              + ("; **before** is the median of the run before issue 15 (its ratio in brackets)." if before else "."),
              ""]
    summ = build_summary(results)
    bsum = {r.get("key"): r for r in build_summary(before)} if before else {}
    if before:
        lines.append(_table(["figure", "measure", "before", "now: median", "min–max", "runs", "target", "result"],
                            [[r["figure"], r["measure"], _before_cell(bsum.get(r.get("key"))), r["median"], r["range"],
                              r["runs"], r["target"], r["result"]] for r in summ]))
    else:
        lines.append(_table(["figure", "measure", "median", "min–max", "runs", "target", "result"],
                            [[r["figure"], r["measure"], r["median"], r["range"], r["runs"], r["target"], r["result"]]
                             for r in summ]))
    lines.append("")
    figs = results["figures"]
    if "scale" in figs:
        rows, head = scale_rows(figs["scale"])
        lines += ["## 1. Scale", "",
                  "Synthetic data from `bsc_lib.data.sample.generate(scale=…)` (1× = 45 institutions, 248 "
                  "departments, 697 KPIs, 18,720 qualitative ratings; 1000× = 697,000 KPIs, 18.7 M "
                  "qualitative ratings), in memory. One subprocess per scale; every stage's peak RSS is "
                  "measured separately (kernel peak counter reset before the stage), so it includes the "
                  "dataset already in memory (base) but no earlier stage. **End to end** = "
                  "`evaluate(data, scheme)` + `kpi_difficulty(kpis, kpi_history, kpi_results)` + "
                  "`discrimination(results.components, 'points', by=['evaluation', 'component'])` on the "
                  "in-memory data, text integer-coded (`category`) as `load()` hands it over by default "
                  "(the figures before issue 15 are the old default, `str`); not included: data generation, "
                  "loading, the report. "
                  "**load + validate** = `bsc_lib.data.io.load(folder)` of the CSV folder written by "
                  "`sample.write_sample` to a temporary directory (read, parse, pandera and cross-table "
                  "rules).", ""]
        tab = []
        old = _before_scale(before)
        for r in rows:
            if "error" in r:
                tab.append([f"{r.get('scale', 0):g}×", "–", r.get("stage", r.get("measure")), "error: " + r["error"],
                            "", "", "", "", "", "", ""])
                continue
            med, rng = _mm(r["wall"], ".3f", " s")
            cpu, _ = _mm(r["cpu"], ".3f", " s")
            pk, _ = _mm(r["peak_gb"], ".2f", " GB")
            per = r.get("per_kpi_us")
            b = old.get((r["scale"], r["stage"]))
            bmed, _ = _mm(b["wall"], ".3f", " s") if b else ("–", "")
            bpk, _ = _mm(b["peak_gb"], ".2f", " GB") if b else ("–", "")
            tab.append([f"{r['scale']:g}×", f"{r['n_kpis']:,}", r["stage"], bmed, med, rng, cpu, bpk, pk,
                        _f(per["median"], ".1f") if per else "", r.get("reps", "")])
        lines.append(_table(["scale", "KPIs", "stage", "before: wall median", "now: wall median", "min–max",
                             "CPU median", "before: peak RSS", "now: peak RSS", "µs per KPI", "runs"], tab))
        lines.append("")
        bhead = scale_rows(bfigs["scale"])[1] if "scale" in bfigs else {}
        if bhead.get("per_kpi_drift") is not None:
            lines += [f"Before: per-KPI end-to-end cost {bhead['drift_from']:g}× → {bhead['drift_to']:g}×: "
                      f"{bhead['per_kpi_drift']:.2f}×.", ""]
        if head.get("per_kpi_drift") is not None:
            lines += [f"Per-KPI end-to-end cost {head['drift_from']:g}× → {head['drift_to']:g}×: "
                      f"{head['per_kpi_drift']:.2f}× (target ≤ 1.2×).", ""]
        loads = [r for r in rows if r.get("stage") == "load + validate (CSV)" and "error" not in r]
        top_load = max(loads, key=lambda r: r["scale"], default=None)
        top_scale = head.get("top_scale")
        if top_load and top_scale and top_scale > top_load["scale"]:
            per = top_load["per_kpi_us"]["median"]
            n_top = next((r["n_kpis"] for r in rows if r.get("scale") == top_scale and r.get("n_kpis")), None)
            if per and n_top:
                lines += [f"load + validate at {top_scale:g}× is not measured (it would not fit the 10-minute "
                          f"budget): at the {top_load['scale']:g}× per-KPI cost ({per:.0f} µs) it would take "
                          f"about {per * n_top / 1e6:.0f} s, and its peak memory scales like the "
                          f"{top_load['scale']:g}× peak ({top_load['peak_gb']['median']:.2f} GB) × "
                          f"{top_scale / top_load['scale']:g}.", ""]
    if "montecarlo" in figs:
        h = montecarlo_head(figs["montecarlo"])
        lines += ["## 2. Monte Carlo robustness", ""]
        if "error" in h:
            lines += [f"Error: {h['error']}", ""]
        else:
            lines += [
                f"`robustness.monte_carlo(fractions, nominal_points, n_draws={h['n_draws']:,})` over the "
                f"{h['n_units']} departments' component fractions (`evaluate().components`, evaluation "
                "`department`), Dirichlet concentration 200, forced-distribution grades. Naive references "
                "(`bench/naive.py`) draw the same points from the same seed: (a) a Python loop over draws "
                "that computes totals with a pandas groupby and ranks/grades with `bsc_lib.scoring.grading` — "
                f"its mean ranks and grade-change shares equal the vectorised ones: "
                f"**{'yes' if h['same_ranks'] and h['same_grade_changes'] else 'NO'}**; (b) a loop that "
                "builds a scheme with the drawn points (qualitative rater-group points scaled alike) and "
                "calls `evaluate()` per draw (timing only). Per-draw cost extrapolated from "
                f"{h['naive_draws']} resp. {h['naive_eval_draws']} draws.", "",
                _table(["", "per draw", "10,000 draws", "speed-up of the vectorised run"], [
                    ["vectorised (`monte_carlo`)", f"{h['per_draw_ms']:.3f} ms", f"{h['wall']['median']:.2f} s "
                     f"(CPU {h['cpu']['median']:.2f} s)", "1×"],
                    ["naive pandas loop", f"{h['naive_per_draw_ms']:.2f} ms", f"{h['naive_per_draw_ms'] * 10:.0f} s "
                     "(extrapolated)", f"{h['speedup_pandas']:,.0f}×"],
                    ["naive `evaluate()` per draw", f"{h['naive_eval_per_draw_ms']:.0f} ms",
                     f"{h['naive_eval_per_draw_ms'] * 10 / 60:.0f} min (extrapolated)", f"{h['speedup_evaluate']:,.0f}×"],
                ]), ""]
            b = montecarlo_head(bfigs["montecarlo"]) if "montecarlo" in bfigs else None
            if b and "error" not in b:
                lines += [f"Before: vectorised {b['per_draw_ms']:.3f} ms per draw, {b['wall']['median']:.2f} s for "
                          f"{b['n_draws']:,} draws (CPU {b['cpu']['median']:.2f} s); speed-up "
                          f"{b['speedup_pandas']:,.0f}× over the pandas loop and {b['speedup_evaluate']:,.0f}× over "
                          "`evaluate()` per draw.", ""]
    if "pipeline" in figs:
        h = pipeline_head(figs["pipeline"])
        lines += ["## 3. Pipeline (`bsc report`)", ""]
        if "error" in h:
            lines += [f"Error: {h['error']}", ""]
        else:
            lines += [
                f"`run_report(data/sample/2019, params/scheme-2019.yaml, pdf=True)`: {h['reps']} run(s), "
                f"floor {h['floor_reps']} run(s) (each run is a whole report; fewer repetitions to stay "
                "within the 10-minute budget). Floor per notebook: the notebook reduced to its parameters "
                "cell, its import statements (those of its setup cell and every other import line it "
                "has) and the setup cell's other statements (`load_scheme`, `load` of the sample, "
                "analysis settings), executed by papermill exactly as the pipeline does "
                f"(fresh `python3` kernel each). A bare kernel (`pass`) takes {_f(h['bare_kernel']['median'])} s. "
                "Total = input validation + the notebooks, two at a time (each in its own kernel; their "
                f"durations add up to {_f(h['notebooks_sum']['median'], '.1f')} s, so a notebook's run "
                "below includes sharing the 2 cores with another) + HTML and PDF "
                f"({h['pdf']}); the result tables (tables_fn {_f(h['tables_fn']['median'], '.1f')} s: "
                "every table, made once and shared with the kernels, which read instead of recomputing) "
                "and their xlsx/CSV are computed in a thread while the notebooks run.", "",
                "Floor as defined in issue 15 (bare kernel start plus imports per notebook): the same "
                "floor run without its loading cell (`load_scheme`, `load`, settings; timed apart by "
                "papermill). Runs and floor runs alternate, so both see the same load."
                + (f" Skipped to keep `make bench` within 10 minutes: {', '.join(h['skipped'])}."
                   if h.get("skipped") else ""), ""]
            b = pipeline_head(bfigs["pipeline"]) if "pipeline" in bfigs else None
            b = b if b and "error" not in b else None
            bnb = {p["notebook"]: p for p in (b or {}).get("per_notebook", [])}

            def sec(x: float | None) -> str:
                return f"{_f(x, '.1f')} s" if x is not None else "–"

            def ratio(a: float | None, c: float | None) -> str:
                return _f(a / c if a and c else None, ".2f") + "×"

            trows = []
            for p in h["per_notebook"]:
                bp = bnb.get(p["notebook"], {})
                trows.append([p["notebook"], sec(bp.get("run", {}).get("median")), sec(bp.get("floor", {}).get("median")),
                              sec(p["run"]["median"]), sec(p["floor"]["median"]), sec(p["floor_imports"]["median"]),
                              ratio(p["run"]["median"], p["floor"]["median"])])
            for nm, bp in bnb.items():
                if not any(p["notebook"] == nm for p in h["per_notebook"]):
                    trows.append([nm, sec(bp["run"]["median"]), sec(bp["floor"]["median"]), "–", "–", "–", "–"])
            trows.append(["**total**", sec(b["total"]["median"]) if b else "–", sec(b["floor"]["median"]) if b else "–",
                          sec(h["total"]["median"]), sec(h["floor"]["median"]), sec(h["floor_imports"]["median"]),
                          f"**{h['ratio']:.2f}×** (issue 15's floor: "
                          f"**{_f(h.get('ratio_imports'), '.2f')}×**)"])
            lines += [_table(["notebook", "before: run", "before: floor", "now: run", "now: floor",
                              "now: floor without loading", "now: run / floor"], trows), ""]
            if b:
                lines += [f"Before (git {bm.get('git_commit')}): {b['reps']} run(s), total "
                          f"{sec(b['total']['median'])} against a floor of {sec(b['floor']['median'])} = "
                          f"{b['ratio']:.2f}× (its notebooks were named and split differently; its floor "
                          "included the loading and was not timed without it).", ""]
    if "feedback" in figs:
        h = feedback_head(figs["feedback"])
        lines += ["## 4. Batch feedback reports", ""]
        if h.get("available") is False:
            lines += [f"Not yet available ({h.get('why')}); `bench/measure.py:task_feedback` runs it when "
                      "`bsc_lib.present.feedback` is present.", ""]
        elif "error" in h:
            lines += [f"Error: {h['error']}", "", "```", h.get("stderr", ""), "```", ""]
        else:
            lines += [f"`run_feedback(data/sample/2019, level='department', workers=2)`: {h['reports']} "
                      f"reports in {_f(h['total']['median'], '.1f')} s ({h['reps']} run). Phases: "
                      + ", ".join(f"{k} {v}" for k, v in (h.get("durations_s") or {}).items())
                      + f". Executor: {h.get('executor')}.", ""]
        b = feedback_head(bfigs["feedback"]) if "feedback" in bfigs else None
        if b and b.get("available") and "error" not in b:
            lines += [f"Before: {b['reports']} reports in {_f(b['total']['median'], '.1f')} s ({b['reps']} run(s)).", ""]
    if "dashboard" in figs:
        h = dashboard_head(figs["dashboard"])
        lines += ["## 5. Dashboard", ""]
        if h.get("available") is False:
            lines += [f"Not yet available ({h.get('why')}); `bench/dashboard.py` measures it when present.", ""]
        elif "error" in h:
            lines += [f"Error: {h['error']}", "", "```", h.get("stderr", ""), "```", ""]
        else:
            later = (f"; second and later viewers (earlier ones still open): "
                     f"{_mm(h['later_render'], '.2f', ' s')[0]} (range {_mm(h['later_render'], '.2f', ' s')[1]})"
                     if h.get("later_render", {}).get("n") else "")
            lines += [f"Voila server start (not counted): {_f(h.get('server_start_s'), '.1f')} s; preheated pool "
                      f"full after {_f(h.get('pool_full_s'), '.1f')} s. First viewer's first render: "
                      f"{_mm(h['first_render'], '.2f', ' s')[0]}{later}; what-if re-rank: "
                      f"{_mm(h['whatif_ms'], '.0f', ' ms')[0]}.", ""] + [f"* {n}" for n in h.get("notes", [])] + [""]
        b = dashboard_head(bfigs["dashboard"]) if "dashboard" in bfigs else None
        if b and b.get("available") and "error" not in b:
            blater = (f"; second and later viewers {_mm(b['later_render'], '.2f', ' s')[0]}"
                      if b.get("later_render", {}).get("n") else "; second and later viewers not measured")
            lines += [f"Before: first viewer's first render {_mm(b['first_render'], '.2f', ' s')[0]}{blater}; "
                      f"what-if re-rank {_mm(b['whatif_ms'], '.0f', ' ms')[0]}.", ""]
    if notes:
        lines += [notes.rstrip(), ""]
    return "\n".join(lines).rstrip() + "\n"


# ----------------------------------------------------------------------------- main
def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes, one repetition (smoke test)")
    ap.add_argument("--only", default="", help=f"comma-separated figures out of {', '.join(FIGURES)}")
    ap.add_argument("--out", default=str(BENCH_DIR), help="folder for RESULTS.md and results.json (default bench/)")
    ap.add_argument("--before", default=str(BENCH_DIR / "results-before.json"),
                    help="results.json of an earlier run shown beside the new figures (default "
                         "bench/results-before.json, the last make bench before issue 15; '' for none)")
    ap.add_argument("--notes", default=str(BENCH_DIR / "NOTES.md"),
                    help="markdown appended to RESULTS.md (profiles, before/after); default bench/NOTES.md")
    args = ap.parse_args(argv)
    figures = [f.strip() for f in args.only.split(",") if f.strip()] or list(FIGURES)
    unknown = [f for f in figures if f not in FIGURES]
    if unknown:
        ap.error(f"unknown figure(s) {unknown}; choose from {', '.join(FIGURES)}")
    plan = QUICK_PLAN if args.quick else FULL_PLAN
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    global _T_START
    _T_START = t_start

    def log(msg: str) -> None:
        print(f"[bench {time.perf_counter() - t_start:6.0f} s] {msg}", file=sys.stderr, flush=True)

    results: dict[str, Any] = {"machine": machine_info(), "quick": bool(args.quick), "plan": {
        k: ({str(kk): vv for kk, vv in v.items()} if isinstance(v, dict) else v) for k, v in plan.items()},
        "targets": TARGETS, "figures": {},
        "command": "python bench/run.py " + " ".join(argv if argv is not None else sys.argv[1:])}
    runners = {"scale": figure_scale, "montecarlo": figure_montecarlo, "pipeline": figure_pipeline,
               "feedback": figure_feedback, "dashboard": figure_dashboard}
    with tempfile.TemporaryDirectory(prefix="bsc-bench-") as tmp:
        for f in FIGURES:
            if f in figures:
                t0 = time.perf_counter()
                results["figures"][f] = runners[f](plan, tmp, log)
                results.setdefault("figure_s", {})[f] = time.perf_counter() - t0
    results["duration_s"] = time.perf_counter() - t_start
    results["summary"] = build_summary(results)
    notes_path = Path(args.notes)
    notes = notes_path.read_text(encoding="utf-8") if notes_path.is_file() and not args.quick else ""
    before_path = Path(args.before) if args.before else None
    before = (json.loads(before_path.read_text(encoding="utf-8")) if before_path and before_path.is_file()
              else None)
    if before is not None:
        try:
            results["before_path"] = str(before_path.resolve().relative_to(REPO))
        except ValueError:
            results["before_path"] = str(before_path)
    _write(out_dir / "results.json", json.dumps(results, ensure_ascii=False, indent=1, default=str) + "\n")
    _write(out_dir / "RESULTS.md", render_markdown(results, notes, before))
    log(f"done: {out_dir / 'RESULTS.md'}")
    for r in results["summary"]:
        log(f"{r['figure']:14} {r['measure'][:70]:70} {r['median']:>12} {r['result']}")
    return 0


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


if __name__ == "__main__":
    sys.exit(main())
