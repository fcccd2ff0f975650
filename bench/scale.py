"""The scale benchmark (``make bench-scale``): 100× and 1000× Seoul loaded and scored.

Writes ``bench/RESULTS-scale.md`` and ``bench/results-scale.json``. Figures, each measured in its
own subprocess (``python -m bench.measure``, the tasks of ``make bench``):

* **load + validate**: ``bsc_lib.data.io.load`` of the CSV folder that
  ``sample.write_sample(scale=…)`` writes (1× = 697 KPIs, 1000× = 697,000 KPIs and 18.7 M
  qualitative ratings, 1.4 GB of CSV), with text integer-coded (``category``, the default) and
  as ``str`` (``text="str"``; the default before issue 15);
* **scoring**: ``evaluate`` + ``kpi_difficulty`` + ``discrimination`` on the generated data held
  in memory, text as ``category`` and as ``str``.

Old figures come from ``bench/results.json`` (the last ``make bench``, before issue 15): they are
printed beside the new ones. Writing the 1000× CSV folder takes minutes (the generator);
``--csv DIR`` reuses folders ``DIR/csv-<scale>x/data`` written by an earlier run.

Memory: ``make bench-scale`` runs under ``ulimit -v`` (see the Makefile), so a runaway stage
fails instead of starving the machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.run import _write, machine_info, run_task  # noqa: E402

BENCH_DIR = REPO / "bench"
TARGETS = {"load_1000_s": 60.0, "load_1000_gb": 8.0, "e2e_1000_s": 10.0, "e2e_1000_gb": 4.0, "per_kpi_drift": 1.2}
PLAN: dict[str, Any] = {
    "scales": [100, 1000],
    "texts": ["category", "str"],
    "load_reps": {100: 3, 1000: 2},
    "scale_reps": {100: 3, 1000: 3},
    "timeout_s": 3600,
}
QUICK: dict[str, Any] = {"scales": [1, 2], "texts": ["category", "str"], "load_reps": {1: 1, 2: 1},
                         "scale_reps": {1: 1, 2: 1}, "timeout_s": 600}
STAGES = ("evaluate", "difficulty", "dispersion")


def _med(xs: list[float]) -> float | None:
    return statistics.median(xs) if xs else None


def _counted(runs: list[dict]) -> list[dict]:
    return [r for r in runs if not r.get("warmup")]


def _csv_folder(root: Path, scale: float, log) -> tuple[str, dict]:
    folder = root / f"csv-{scale:g}x" / "data"
    if folder.is_dir() and any(folder.glob("*.csv")):
        log(f"{scale:g}×: reusing {folder}")
        return str(folder), {"reused": True, "bytes": sum(f.stat().st_size for f in folder.glob("*.csv"))}
    log(f"{scale:g}×: writing the CSV folder")
    w = run_task("write_csv", {"scale": scale, "path": str(folder)}, PLAN["timeout_s"] * 2)
    if "error" in w:
        raise RuntimeError(f"writing the {scale:g}× CSV folder failed: {w['error']}\n{w.get('stderr', '')}")
    return str(folder), {"reused": False, "bytes": w["bytes"], "write_s": w["write"]["wall"]}


def measure_all(plan: dict, csv_root: Path, log) -> dict:
    out: dict[str, Any] = {"load": {}, "scoring": {}, "csv": {}}
    warm, _ = _csv_folder(csv_root, 1, log)
    for s in plan["scales"]:
        folder, info = _csv_folder(csv_root, s, log)
        out["csv"][str(s)] = info
        for text in plan["texts"]:
            log(f"{s:g}×: load + validate, text={text}")
            out["load"][f"{s:g}/{text}"] = run_task(
                "load", {"path": folder, "reps": plan["load_reps"][s], "warmup": 1, "warmup_path": warm,
                         "text": text}, plan["timeout_s"])
    for s in plan["scales"]:
        for text in plan["texts"]:
            log(f"{s:g}×: evaluate + difficulty + dispersion, text={text}")
            out["scoring"][f"{s:g}/{text}"] = run_task(
                "scale", {"scale": s, "reps": plan["scale_reps"][s], "warmup": 1, "warmup_scale": 1,
                          "text": text}, plan["timeout_s"])
    return out


def load_row(r: dict) -> dict:
    if "error" in r:
        return {"error": r["error"], "stderr": r.get("stderr", "")}
    runs = _counted(r["runs"])
    return {"wall": _med([x["load"]["wall"] for x in runs]), "cpu": _med([x["load"]["cpu"] for x in runs]),
            "peak_gb": max(x["load"]["peak_rss_gb"] for x in runs), "n_kpis": r["n_kpis"], "runs": len(runs),
            "walls": [x["load"]["wall"] for x in runs]}


def scoring_row(r: dict) -> dict:
    if "error" in r:
        return {"error": r["error"], "stderr": r.get("stderr", "")}
    runs = _counted(r["runs"])
    e2e = [sum(x[st]["wall"] for st in STAGES) for x in runs]
    return {"wall": _med(e2e), "cpu": _med([sum(x[st]["cpu"] for st in STAGES) for x in runs]),
            "peak_gb": max(max(x[st]["peak_rss_gb"] for st in STAGES) for x in runs),
            "stages": {st: _med([x[st]["wall"] for x in runs]) for st in STAGES},
            "n_kpis": r["n_kpis"], "per_kpi_us": _med([t / r["n_kpis"] * 1e6 for t in e2e]), "runs": len(runs),
            "walls": e2e, "data_rss_gb": r.get("data_rss_gb")}


def old_figures(path: Path) -> dict:
    """Load and scoring figures of the last ``make bench`` (``bench/results.json``)."""
    try:
        fig = json.loads(path.read_text(encoding="utf-8"))["figures"]["scale"]
    except (OSError, KeyError, ValueError):
        return {}
    out: dict[str, Any] = {"load": {}, "scoring": {}, "date": None}
    for s, r in fig.get("load", {}).items():
        if "error" not in r:
            out["load"][f"{float(s):g}"] = load_row(r)
    for s, r in fig.get("scales", {}).items():
        if "error" not in r:
            out["scoring"][f"{float(s):g}"] = scoring_row(r)
    return out


def _f(x: float | None, spec: str = ".1f", unit: str = "") -> str:
    return "–" if x is None else f"{x:{spec}}{unit}"


def _allocator_states(obj) -> list[str]:
    """The distinct ``allocator`` states (:func:`bsc_lib.allocator.tune`) the measuring processes reported."""
    found: list[str] = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            found += [v] if k == "allocator" and isinstance(v, str) else _allocator_states(v)
    elif isinstance(obj, list):
        for v in obj:
            found += _allocator_states(v)
    return sorted(set(found))


def render(res: dict) -> str:
    old, new, m = res["old"], res["new"], res["machine"]
    alloc = _allocator_states(res)
    lines = ["# Scale benchmark (issue 15)", "",
             f"Generated by `{res['command']}` on {m.get('date')} in {res['duration_s']:.0f} s "
             f"(git {m.get('git_commit')}, {m.get('cores')} cores, load average at start "
             f"{m.get('load_avg_start')}). Raw numbers: `bench/results-scale.json`. Old = the last `make bench` "
             "(`bench/results.json`, the code before issue 15); new = this run. Wall-clock medians of the "
             "counted runs (a warm-up run on 1× data first, not counted); peak RSS is the stage's peak "
             "including the data already in memory." + (
                 f" C allocator settings (`bsc_lib.allocator.tune()` in each measuring process): "
                 f"{', '.join(alloc)}." if alloc else ""), ""]
    lines += ["## Load + validate (CSV folder → `BSCData`)", "",
              "| scale | KPIs | CSV | text | old wall | old peak | new wall | new CPU | new peak | runs |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for key, r in new["load"].items():
        s, text = key.split("/")
        o = old.get("load", {}).get(s, {}) if text == "str" else {}
        mb = res["csv"].get(s, {}).get("bytes", 0) / 1e6
        if "error" in r:
            lines.append(f"| {s}× | | {mb:,.0f} MB | {text} | | | error: {r['error']} | | | |")
            continue
        ow, op = _f(o.get("wall"), ".1f", " s"), _f(o.get("peak_gb"), ".2f", " GB")
        if text == "str" and not o and s == "1000":
            ow, op = "≈235 s (extrapolated)", "≈23 GB (extrapolated)"
        lines.append(f"| {s}× | {r['n_kpis']:,} | {mb:,.0f} MB | {text} | {ow} | {op} | {r['wall']:.1f} s | "
                     f"{r['cpu']:.1f} s | {r['peak_gb']:.2f} GB | {r['runs']} |")
    lines += ["", "## Scoring (`evaluate` + `kpi_difficulty` + `discrimination`, data in memory)", "",
              "| scale | KPIs | text | old wall | old peak | new wall | new CPU | new peak | evaluate / difficulty / "
              "dispersion | µs per KPI | runs |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for key, r in new["scoring"].items():
        s, text = key.split("/")
        o = old.get("scoring", {}).get(s, {}) if text == "str" else {}
        if "error" in r:
            lines.append(f"| {s}× | | {text} | | | error: {r['error']} | | | | | |")
            continue
        st = " / ".join(f"{r['stages'][x]:.2f}" for x in STAGES)
        lines.append(f"| {s}× | {r['n_kpis']:,} | {text} | {_f(o.get('wall'), '.2f', ' s')} | "
                     f"{_f(o.get('peak_gb'), '.2f', ' GB')} | {r['wall']:.2f} s | {r['cpu']:.2f} s | "
                     f"{r['peak_gb']:.2f} GB | {st} s | {r['per_kpi_us']:.1f} | {r['runs']} |")
    lines += ["", "## Against the targets of issue 15", "",
              "Wall clock is the measure; the CPU time of the process is given beside it because the 2-core "
              "machine is shared (a wall time well above the CPU time means the process waited for a core).", "",
              "| measure | target | value (wall) | CPU | result |", "|---|---|---|---|---|"]
    for text in res["plan"]["texts"]:
        lr = new["load"].get(f"1000/{text}", {})
        sr = new["scoring"].get(f"1000/{text}", {})
        s100 = new["scoring"].get(f"100/{text}", {})
        rows = [(f"load + validate 1000×, text={text}", f"≤ {TARGETS['load_1000_s']:g} s", lr.get("wall"), "s",
                 TARGETS["load_1000_s"], lr.get("cpu")),
                (f"load + validate 1000× peak, text={text}", f"≤ {TARGETS['load_1000_gb']:g} GB", lr.get("peak_gb"),
                 "GB", TARGETS["load_1000_gb"], None),
                (f"scoring 1000×, text={text}", f"≤ {TARGETS['e2e_1000_s']:g} s", sr.get("wall"), "s",
                 TARGETS["e2e_1000_s"], sr.get("cpu")),
                (f"scoring 1000× peak, text={text}", f"≤ {TARGETS['e2e_1000_gb']:g} GB", sr.get("peak_gb"), "GB",
                 TARGETS["e2e_1000_gb"], None)]
        if sr.get("per_kpi_us") and s100.get("per_kpi_us"):
            rows.append((f"per-KPI drift 100× → 1000×, text={text}", f"≤ {TARGETS['per_kpi_drift']:g}×",
                         sr["per_kpi_us"] / s100["per_kpi_us"], "×", TARGETS["per_kpi_drift"],
                         sr["cpu"] / sr["n_kpis"] / (s100["cpu"] / s100["n_kpis"])))
        for name, tgt, val, unit, lim, cpu in rows:
            verdict = "–" if val is None else ("pass" if val <= lim else "FAIL")
            lines.append(f"| {name} | {tgt} | {_f(val, '.2f', ' ' + unit)} | {_f(cpu, '.2f', ' ' + unit)} | {verdict} |")
    notes = res.get("notes", "")
    return "\n".join(lines) + "\n" + (("\n" + notes.strip() + "\n") if notes.strip() else "")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="1× and 2× only (smoke test; not a benchmark)")
    ap.add_argument("--csv", default="", help="folder holding csv-<scale>x/data folders to reuse (and keep)")
    ap.add_argument("--out", default=str(BENCH_DIR), help="folder for RESULTS-scale.md / results-scale.json")
    ap.add_argument("--reps", type=int, default=0, help="counted repetitions per measurement (default: the plan's)")
    ap.add_argument("--notes", default=str(BENCH_DIR / "NOTES-scale.md"), help="markdown appended to the results")
    ap.add_argument("--render", action="store_true",
                    help="only re-write RESULTS-scale.md from results-scale.json (e.g. after editing the notes)")
    args = ap.parse_args(argv)
    if args.render:
        out = Path(args.out)
        res = json.loads((out / "results-scale.json").read_text(encoding="utf-8"))
        notes = Path(args.notes)
        res["notes"] = notes.read_text(encoding="utf-8") if notes.is_file() and not res.get("quick") else ""
        _write(out / "RESULTS-scale.md", render(res))
        return 0
    plan = dict(QUICK if args.quick else PLAN)
    if args.reps:
        plan["load_reps"] = {s: args.reps for s in plan["scales"]}
        plan["scale_reps"] = {s: args.reps for s in plan["scales"]}
    t0 = time.perf_counter()

    def log(msg: str) -> None:
        print(f"[bench-scale {time.perf_counter() - t0:6.0f} s] {msg}", file=sys.stderr, flush=True)

    res: dict[str, Any] = {"machine": machine_info(), "plan": {k: ({str(a): b for a, b in v.items()}
                                                                 if isinstance(v, dict) else v)
                                                             for k, v in plan.items()},
                           "targets": TARGETS, "quick": args.quick,
                           "command": "python bench/scale.py " + " ".join(argv if argv is not None else sys.argv[1:])}
    with tempfile.TemporaryDirectory(prefix="bsc-bench-scale-") as tmp:
        root = Path(args.csv) if args.csv else Path(tmp)
        raw = measure_all(plan, root, log)
    res["csv"] = raw["csv"]
    res["raw"] = raw
    res["new"] = {"load": {k: load_row(v) for k, v in raw["load"].items()},
                  "scoring": {k: scoring_row(v) for k, v in raw["scoring"].items()}}
    res["old"] = old_figures(BENCH_DIR / "results.json")
    res["duration_s"] = time.perf_counter() - t0
    notes = Path(args.notes)
    res["notes"] = notes.read_text(encoding="utf-8") if notes.is_file() and not args.quick else ""
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    _write(out / "results-scale.json", json.dumps({k: v for k, v in res.items() if k != "notes"},
                                                  ensure_ascii=False, indent=1, default=str) + "\n")
    _write(out / "RESULTS-scale.md", render(res))
    log(f"done: {out / 'RESULTS-scale.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
