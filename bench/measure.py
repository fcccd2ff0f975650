"""Measurement workers: one task per subprocess, result as one JSON line on stdout.

Run as ``python -m bench.measure TASK 'JSON-ARGS'`` (the orchestrator :mod:`bench.run` does
this). The last stdout line starting with :data:`MARK` carries the result. Each task runs its
warm-up and its repetitions in this one process; memory peaks are separated per stage by
resetting the kernel's peak-RSS counter (``/proc/self/clear_refs`` ← ``5``, Linux ≥ 4.0)
before the stage and reading ``VmHWM`` after it, so a stage's peak never includes an earlier
stage's (the generator's, say). Where that reset is not possible the peak is the process's
lifetime ``ru_maxrss`` and the result says so (``peak_method``).

Times: ``wall`` is ``time.perf_counter``; ``cpu`` is ``time.process_time`` of this process
(all its threads; kernels and worker processes are not included).
"""

from __future__ import annotations

import gc
import json
import logging
import os
import re
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
MARK = "BENCH_RESULT "
DATA_1X = REPO / "data" / "sample" / "2019"
SCHEME = REPO / "params" / "scheme-2019.yaml"

log = logging.getLogger("bench")


# ----------------------------------------------------------------------------- memory / time
def _status_kb(key: str) -> int | None:
    try:
        text = Path("/proc/self/status").read_text()
    except OSError:
        return None
    m = re.search(rf"^{key}:\s+(\d+)\s+kB", text, re.MULTILINE)
    return int(m.group(1)) if m else None


def rss_gb() -> float | None:
    """Current resident set size (GB = 1e9 bytes), or None off Linux."""
    kb = _status_kb("VmRSS")
    return None if kb is None else kb * 1e3 / 1e9


def reset_peak() -> bool:
    """Reset the kernel's peak-RSS counter of this process; False when not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def peak_gb() -> float:
    """Peak RSS since the last :func:`reset_peak` (VmHWM), else the lifetime ``ru_maxrss``."""
    kb = _status_kb("VmHWM")
    if kb is None:
        kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb * 1e3 / 1e9


def measure(fn: Callable[[], Any]) -> tuple[Any, dict]:
    """Run ``fn`` once: its result and ``{wall, cpu, base_rss_gb, peak_rss_gb, peak_method}``."""
    gc.collect()
    base = rss_gb()
    ok = reset_peak()
    c0, t0 = time.process_time(), time.perf_counter()
    out = fn()
    t1, c1 = time.perf_counter(), time.process_time()
    rec = {"wall": t1 - t0, "cpu": c1 - c0, "base_rss_gb": base, "peak_rss_gb": peak_gb(),
           "peak_method": "VmHWM after clear_refs" if ok else "ru_maxrss (lifetime)"}
    return out, rec


# ----------------------------------------------------------------------------- tasks
def task_scale(scale: float, reps: int, warmup: int = 1, year: int = 2019, seed: int | None = None,
               warmup_scale: float | None = None, text: str = "category") -> dict:
    """evaluate → kpi_difficulty → discrimination on in-memory synthetic data at ``scale``.

    ``text="category"`` (the default, as ``load(path)`` hands text over): the generated tables'
    text columns are made categorical first (the conversion is data preparation, not timed, like
    the generation); ``text="str"``: as generated (``load(path, text="str")``).

    Each repetition runs the three stages in that order (dispersion needs the evaluation's
    components), each stage timed and its memory peak taken separately; the first ``warmup``
    repetitions are returned but flagged. With ``warmup_scale`` the warm-up runs on data of
    that (smaller) scale: the same code paths and imports, in a fraction of the time.
    """
    from bsc_lib import allocator
    from bsc_lib.analyses import dispersion
    from bsc_lib.analyses.difficulty import kpi_difficulty
    from bsc_lib.config.scheme import load_scheme
    from bsc_lib.data import sample
    from bsc_lib.scoring.engine import evaluate

    scheme = load_scheme(SCHEME)
    kw = {} if seed is None else {"seed": seed}
    data, gen = measure(lambda: _text_as(sample.generate(year=year, scale=scale, **kw), text))
    n_kpi = len(data.kpis)
    sizes = {name: len(df) for name, df in data.tables.items()}
    gc.collect()
    data_rss = rss_gb()
    small = (_text_as(sample.generate(year=year, scale=warmup_scale, **kw), text)
             if warmup and warmup_scale else None)
    runs = []
    for i in range(warmup + reps):
        d = small if (i < warmup and small is not None) else data
        res, r_eval = measure(lambda d=d: evaluate(d, scheme, year=year))
        _, r_diff = measure(lambda d=d: kpi_difficulty(d.kpis, d.kpi_history, d.kpi_results, year=year))
        comp = res.components
        _, r_disp = measure(lambda c=comp: dispersion.discrimination(c, "points", by=["evaluation", "component"]))
        runs.append({"warmup": i < warmup, "evaluate": r_eval, "difficulty": r_diff, "dispersion": r_disp})
        del res, comp
    del small
    return {"scale": scale, "n_kpis": n_kpi, "rows": sizes, "generate": gen, "data_rss_gb": data_rss,
            "runs": runs, "text": text, "allocator": allocator.tune()}


def _text_as(data, text: str):
    """``data`` with its ``str`` columns as ``category`` (in place) when ``text == "category"``."""
    if text == "category":
        for name, df in data.tables.items():
            data.tables[name] = df.astype({c: "category" for c in df.columns if str(df[c].dtype) == "str"})
    return data


def task_write_csv(scale: float, path: str, year: int = 2019) -> dict:
    """Write the synthetic sample at ``scale`` as a CSV folder (input of :func:`task_load`)."""
    from bsc_lib.data import sample

    _, rec = measure(lambda: sample.write_sample(path, year=year, scale=scale))
    files = list(Path(path).glob("*.csv"))
    return {"scale": scale, "path": path, "write": rec, "bytes": sum(f.stat().st_size for f in files),
            "files": len(files)}


def task_load(path: str, reps: int, warmup: int = 1, warmup_path: str | None = None,
              text: str = "category") -> dict:
    """``bsc_lib.data.io.load`` (read + parse + validate) of a CSV folder (warm-up on ``warmup_path``
    when given: a smaller folder, same code paths); ``text`` is passed to ``load`` (default: its
    default, ``category``)."""
    from bsc_lib import allocator
    from bsc_lib.config.scheme import load_scheme
    from bsc_lib.data.io import load

    scheme = load_scheme(SCHEME)
    runs = []
    n_kpi = None
    for i in range(warmup + reps):
        src = warmup_path if (i < warmup and warmup_path) else path
        data, rec = measure(lambda src=src: load(src, scheme=scheme, text=text))  # explicit: the default is category
        if src == path:
            n_kpi = len(data.kpis)
        runs.append({"warmup": i < warmup, "load": rec})
        del data
    return {"path": path, "n_kpis": n_kpi, "runs": runs, "text": text, "allocator": allocator.tune()}


def task_montecarlo(n_draws: int, reps: int, warmup: int = 1, naive_draws: int = 20,
                    naive_eval_draws: int = 5, seed: int = 20190201) -> dict:
    """Vectorised :func:`bsc_lib.analyses.robustness.monte_carlo` against the naive references."""
    from bench import naive
    from bsc_lib.analyses import robustness
    from bsc_lib.config.scheme import load_scheme
    from bsc_lib.data import sample
    from bsc_lib.scoring.engine import evaluate

    scheme = load_scheme(SCHEME)
    data = sample.generate()
    res = evaluate(data, scheme)
    frac, nominal = robustness.fractions_from_components(res.components, evaluation="department")
    runs = []
    mc = None
    for i in range(warmup + reps):
        mc, rec = measure(lambda: robustness.monte_carlo(frac, nominal, n_draws=n_draws, seed=seed))
        runs.append({"warmup": i < warmup, "monte_carlo": rec})
    # the naive pandas loop on the same draws: must give the same ranks as the fast path
    small = robustness.monte_carlo(frac, nominal, n_draws=naive_draws, seed=seed)
    nv, rec_naive = measure(lambda: naive.monte_carlo_pandas(res.components, nominal, n_draws=naive_draws,
                                                             seed=seed))
    fast_mean = small.units.set_index("unit_id")["mean_rank"]
    same = bool((nv["mean_rank"].reindex(fast_mean.index) - fast_mean).abs().max() < 1e-9)
    same_grades = bool((nv["p_grade_change"].reindex(fast_mean.index)
                        - small.units.set_index("unit_id")["p_grade_change"]).abs().max() < 1e-9)
    _, rec_eval = measure(lambda: naive.monte_carlo_evaluate(data, scheme, nominal, n_draws=naive_eval_draws,
                                                             seed=seed))
    return {"n_units": int(mc.draws_summary["n_units"]), "n_draws": n_draws, "components": nominal,
            "runs": runs, "naive_pandas": {"n_draws": naive_draws, **rec_naive, "same_ranks": same,
                                           "same_grade_changes": same_grades},
            "naive_evaluate": {"n_draws": naive_eval_draws, **rec_eval}}


def _manifest(run_dir: Path) -> dict:
    return json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))


def task_pipeline(out: str, pdf: bool = True) -> dict:
    """``bsc report`` on the embedded sample (``run_report`` with the production defaults)."""
    from bsc_lib.runs import pipeline

    timing: dict[str, float] = {}

    def tables_fn(data_path, scheme_path, year, half, analysis_path=None, shared_dir=None, data=None):
        t0 = time.perf_counter()
        try:
            return pipeline.default_tables_fn(data_path, scheme_path, year, half, analysis_path, shared_dir, data)
        finally:
            timing["tables_fn"] = time.perf_counter() - t0

    run_dir, rec = measure(lambda: pipeline.run_report(DATA_1X, SCHEME, out=out, progress=False, pdf=pdf,
                                                        tables_fn=tables_fn))
    m = _manifest(run_dir)
    nbs = {n["name"]: n["duration_s"] for n in m["notebooks"]}
    return {"total": rec, "notebooks": nbs, "tables_fn_s": timing.get("tables_fn"), "pdf": m.get("pdf"),
            "run_dir": str(run_dir)}


#: Tag of the floor notebook's cell that holds the setup's statements other than imports (loading
#: the scheme, the data and the settings): its duration is the part of the floor beyond "bare
#: kernel start plus imports", the floor's definition in issue 15.
FLOOR_LOAD_TAG = "floor-load"


def _split_imports(source: str) -> tuple[list[str], list[str]]:
    """The top-level statements of ``source`` (in order): ``(imports, the others)``."""
    import ast

    tree = ast.parse(source)
    imports, rest = [], []
    for stmt in tree.body:
        text = ast.get_source_segment(source, stmt)
        (imports if isinstance(stmt, ast.Import | ast.ImportFrom) else rest).append(text)
    return imports, rest


def floor_notebook(nb_path: Path):
    """The floor of a report notebook: its parameters cell, then the import statements of its
    setup cell and every other top-level import line of the notebook, then the setup cell's
    other statements (loading the scheme, the data and the settings; tagged
    :data:`FLOOR_LOAD_TAG`), nothing else.

    The notebook's total is the floor as measured since issue 7 (kernel + imports + load); minus
    the tagged cell's duration it is the floor as issue 15 defines it (kernel + imports).
    """
    import nbformat

    nb = nbformat.read(str(nb_path), as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    params = [c for c in code if "parameters" in (c.metadata.get("tags") or [])]
    rest = [c for c in code if c not in params]
    setup_imports, setup_rest = _split_imports(rest[0].source) if rest else ([], [])
    seen = set(setup_imports)
    imports = list(setup_imports)
    for c in rest[1:]:
        for line in c.source.splitlines():
            if re.match(r"^(import |from \S+ import )", line) and line not in seen:
                seen.add(line)
                imports.append(line)
    out = nbformat.v4.new_notebook()
    out.metadata = nb.metadata
    cells = [nbformat.v4.new_code_cell(p.source, metadata={"tags": ["parameters"]}) for p in params]
    cells.append(nbformat.v4.new_code_cell("\n".join(imports)))
    cells.append(nbformat.v4.new_code_cell("\n".join(setup_rest), metadata={"tags": [FLOOR_LOAD_TAG]}))
    out.cells = cells
    return out


def _cell_seconds(executed, tag: str) -> float:
    """Seconds papermill recorded for the executed notebook's cells tagged ``tag``."""
    return sum(float((c.metadata.get("papermill") or {}).get("duration") or 0.0)
               for c in executed.cells if tag in (c.metadata.get("tags") or []))


def task_pipeline_floor(workdir: str, notebooks: list[str] | None = None) -> dict:
    """Kernel start + imports + load of every report notebook, executed like the pipeline does.

    ``notebooks``: seconds per notebook (kernel + imports + load); ``load_s``: the part of each
    spent loading (the :data:`FLOOR_LOAD_TAG` cell); ``total_s`` and ``imports_total_s``: the
    sums with and without the loading.
    """
    import nbformat

    from bsc_lib.runs import pipeline

    work = Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    nb_paths = [Path(p) for p in notebooks] if notebooks else pipeline.default_notebooks()
    params = {"data_path": str(DATA_1X), "scheme_path": str(SCHEME), "year": 2019, "half": "year",
              "lang": "ko", "run_dir": str(work)}
    per, load = {}, {}
    with pipeline._environ(PLOTLY_RENDERER=pipeline.PLOTLY_RENDERER, PYDEVD_DISABLE_FILE_VALIDATION="1"):
        bare = nbformat.v4.new_notebook()
        bare.metadata = nbformat.read(str(nb_paths[0]), as_version=4).metadata
        bare.cells = [nbformat.v4.new_code_cell("pass")]
        bare_path = work / "00-bare-kernel.ipynb"
        nbformat.write(bare, str(bare_path))
        _, bare_rec = measure(lambda: pipeline._execute(bare_path, work / "out-bare.ipynb", {}, "python3"))
        for p in nb_paths:
            fp = work / f"floor-{p.name}"
            nbformat.write(floor_notebook(p), str(fp))
            executed, rec = measure(lambda fp=fp, p=p: pipeline._execute(fp, work / f"out-{p.name}", params,
                                                                         "python3"))
            per[p.name] = rec["wall"]
            load[p.name] = min(_cell_seconds(executed, FLOOR_LOAD_TAG), rec["wall"])
    return {"bare_kernel_s": bare_rec["wall"], "notebooks": per, "load_s": load, "total_s": sum(per.values()),
            "imports_total_s": sum(per.values()) - sum(load.values())}


def task_feedback(out: str, workers: int = 2, level: str = "department") -> dict:
    """``bsc feedback``: one HTML report per department with ``workers`` local processes."""
    try:
        from bsc_lib.present.feedback import run_feedback
    except ImportError as exc:
        return {"available": False, "why": f"bsc_lib.present.feedback not importable: {exc}"}
    run_dir, rec = measure(lambda: run_feedback(DATA_1X, SCHEME, level=level, workers=workers, out=out,
                                                progress=False))
    m = _manifest(Path(run_dir))
    n_html = len([p for p in Path(run_dir).glob("*.html") if p.name != "index.html"])
    return {"available": True, "total": rec, "reports": n_html, "level": level, "workers": workers,
            "durations_s": m.get("durations_s", {}), "executor": m.get("executor"), "counts": m.get("counts")}


TASKS: dict[str, Callable[..., dict]] = {
    "scale": task_scale,
    "write_csv": task_write_csv,
    "load": task_load,
    "montecarlo": task_montecarlo,
    "pipeline": task_pipeline,
    "pipeline_floor": task_pipeline_floor,
    "feedback": task_feedback,
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in TASKS and argv[0] != "dashboard":
        print(f"usage: python -m bench.measure {{{'|'.join([*TASKS, 'dashboard'])}}} 'JSON'", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    kwargs = json.loads(argv[1]) if len(argv) > 1 else {}
    if argv[0] == "dashboard":
        from bench.dashboard import task_dashboard as fn
    else:
        fn = TASKS[argv[0]]
    os.environ.setdefault("MPLBACKEND", "Agg")
    tempfile.tempdir = kwargs.pop("tmpdir", None) or tempfile.gettempdir()
    result = fn(**kwargs)
    sys.stdout.write(MARK + json.dumps(result, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
