"""The ``bsc`` command line. ``bsc --help`` lists the subcommands.

Errors meant for the analyst (:class:`bsc_lib.errors.BSCError`) are printed as a table of
problems and the command exits with status 2; no traceback reaches the analyst unless
``--debug`` is given. Unexpected errors exit with status 3 and a one-line message.
"""

from __future__ import annotations

import argparse
import logging
import sys

from bsc_lib.config import paths
from bsc_lib.errors import BSCError, Problem, problems_frame

log = logging.getLogger("bsc_lib")

REPO_ROOT = paths.REPO_ROOT
#: The embedded sample (a repository checkout only; an installed package needs ``--data``).
DEFAULT_DATA = REPO_ROOT / "data" / "sample" / "2019"
#: ``params/scheme-2019.yaml`` of the checkout, or the copy inside the installed package.
DEFAULT_SCHEME = paths.default_scheme_path()
#: ``params/analysis.yaml`` of the checkout, or the copy inside the installed package.
DEFAULT_ANALYSIS = paths.default_analysis_path()
#: ``<repository>/outputs`` in a checkout, ``./outputs`` (current directory) when installed.
DEFAULT_OUT = paths.default_out_dir()


def _print_problems(problems, stream=None) -> None:
    """Print problems grouped by file (and sheet): one line each, then a count per rule.

    Line format: ``  row N  column  rule  message (value: …)``; Korean text is padded by its
    display width so the columns line up in a terminal. ``stream`` defaults to the current
    ``sys.stderr``.
    """
    import unicodedata

    stream = stream if stream is not None else sys.stderr

    def width(text: str) -> int:
        return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)

    def pad(text: str, n: int) -> str:
        return text + " " * max(0, n - width(text))

    df = problems_frame(problems)
    if df.empty:
        return
    df["where"] = df["file"] + df["sheet"].map(lambda s: f" [sheet {s}]" if s else "")
    df["at"] = ("row " + df["row"].astype("str")).where(df["row"].notna(), "")
    col_w = min(28, int(df["column"].map(width).max()))
    rule_w = int(df["rule"].map(len).max())
    at_w = int(df["at"].map(len).max())
    for where, grp in df.groupby("where", sort=False):
        print(f"\n{where}", file=stream)
        for p in grp.sort_values("row", na_position="first", kind="stable").itertuples(index=False):
            value = f" (value: {p.value})" if p.value and p.value not in p.message else ""
            cells = [pad(text, w) for text, w in ((p.at, at_w), (p.column, col_w)) if w]
            print("  " + "  ".join([*cells, pad(p.rule, rule_w), f"{p.message}{value}"]), file=stream)
    counts = df["rule"].value_counts(sort=True)
    print("\nproblems by rule: " + ", ".join(f"{r} {n}" for r, n in counts.items()), file=stream)


def _print_notices(notices, stream=None) -> None:
    """Print what the reader did on its own (one line each: where, rule, message)."""
    stream = stream if stream is not None else sys.stdout
    if not notices:
        return
    print(f"\nnotices ({len(notices)}) — read on its own, check that this is what you meant:", file=stream)
    for n in notices:
        where = n.file + (f" [sheet {n.sheet}]" if n.sheet else "") + (f" row {n.row}" if n.row is not None else "")
        col = f" {n.column}" if n.column else ""
        print(f"  {where}{col}  {n.rule}  {n.message}", file=stream)


def cmd_validate(args) -> int:
    from bsc_lib.config.analysis_params import load_analysis_params
    from bsc_lib.config.scheme import load_scheme

    scheme = load_scheme(args.scheme)
    settings = load_analysis_params(args.analysis)
    na = True if args.na_as_missing else settings.input.na_as_missing
    # imported once the scheme and the settings are read: a bad one is reported without pandas,
    # pandera and the loader (about half a second of start-up)
    from bsc_lib.data.validate import inspect_path

    _, problems, notices = inspect_path(args.path, scheme=scheme, na_as_missing=na)
    if problems:
        print(f"{args.path}: {len(problems)} problem(s) found", file=sys.stderr)
        _print_problems(problems)
        _print_notices(notices, sys.stderr)
        return 2
    print(f"{args.path}: OK — no problems found")
    _print_notices(notices)
    return 0


def cmd_template(args) -> int:
    from bsc_lib.data.io import write_template

    out = write_template(args.path)
    print(f"template written: {out}")
    return 0


def _scheme_year(scheme_path) -> int:
    """The ``year`` of a scheme file (the default of every ``--year``)."""
    from bsc_lib.config.scheme import load_scheme

    return int(load_scheme(paths.resolve(scheme_path)).year)


def cmd_sample(args) -> int:
    from bsc_lib.data.sample import write_sample

    year = args.year if args.year is not None else _scheme_year(DEFAULT_SCHEME)
    out = write_sample(args.outdir, year=year, seed=args.seed, scale=args.scale)
    print(f"sample written: {out}")
    return 0


def cmd_describe(args) -> int:
    from bsc_lib.config.analysis_params import load_analysis_params
    from bsc_lib.config.scheme import load_scheme

    na = load_analysis_params(DEFAULT_ANALYSIS).input.na_as_missing
    scheme = load_scheme(args.scheme)
    # imported once the settings and the scheme are read: a bad scheme is reported without
    # pandas, pandera and the loader (about half a second of start-up)
    from bsc_lib.data.describe import describe_text
    from bsc_lib.data.io import load

    data = load(args.data, scheme=scheme, na_as_missing=na)
    print(describe_text(data, lang=args.lang))
    return 0


def cmd_report(args) -> int:
    from bsc_lib.runs.pipeline import run_report

    run_dir = run_report(
        data_path=args.data, scheme_path=args.scheme, year=args.year, half=args.half,
        lang=args.lang, out=args.out, analysis_path=args.analysis, compare_scheme_path=args.compare_scheme,
        notes=args.notes,
    )
    print(f"report complete: {run_dir}")
    return 0


def cmd_verify(args) -> int:
    from bsc_lib.runs.pipeline import InputsChanged, load_callable, verify_run

    tables_fn = load_callable(args.tables_fn) if args.tables_fn else None
    load_fn = load_callable(args.load_fn) if args.load_fn else None
    try:
        result = verify_run(args.run_dir, tables_fn=tables_fn, load_fn=load_fn,
                            data_path=args.data, scheme_path=args.scheme, analysis_path=args.analysis)
    except InputsChanged as exc:
        print(f"{args.run_dir}: NOT VERIFIED — the inputs changed since the run", file=sys.stderr)
        _print_problems(exc.problems)
        return 1
    shown = result[["table", "rows_recorded", "rows_now", "identical"]].astype(
        {"rows_recorded": "str", "rows_now": "str"})
    shown = shown.assign(identical=result["identical"].map({True: "yes", False: "NO"}))
    print(shown.to_string(index=False))
    if bool(result["identical"].all()):
        print(f"{args.run_dir}: verified — all {len(result)} table(s) identical")
        return 0
    bad = ", ".join(result.loc[~result["identical"], "table"])
    print(f"{args.run_dir}: NOT VERIFIED — differing table(s): {bad}", file=sys.stderr)
    return 1


def cmd_dashboard(args) -> int:
    from bsc_lib.present.dashboard import serve

    return serve(data=args.data, scheme=args.scheme, port=args.port, show_names=args.show_names, lang=args.lang,
                 max_viewers=args.max_viewers, grace=args.grace)


def cmd_feedback(args) -> int:
    from bsc_lib.present.feedback import run_feedback

    year = args.year if args.year is not None else _scheme_year(args.scheme)
    run_dir = run_feedback(
        data_path=args.data, scheme_path=args.scheme, year=year, half=args.half, level=args.level,
        lang=args.lang, out=args.out, workers=args.workers, scheduler=args.scheduler,
        progress=not args.no_progress,
    )
    print(f"feedback complete: {run_dir}")
    return 0


# --- bsc compare / bsc targets (scheme comparison, target recommendation) -------------------
def cmd_compare(args) -> int:
    from bsc_lib.runs.planning import run_compare, summary_text

    if len(args.schemes) != 2:
        raise BSCError([Problem(
            file="", rule="arguments", column="--scheme", value=str(len(args.schemes)),
            message="give exactly two schemes: --scheme A.yaml --scheme B.yaml")])
    run_dir = run_compare(args.data, args.schemes[0], args.schemes[1], year=args.year, half=args.half,
                          lang=args.lang, out=args.out, analysis_path=args.analysis, planning_path=args.planning)
    print(summary_text("compare", run_dir, args.lang))
    print(f"comparison complete: {run_dir}")
    return 0


def cmd_targets(args) -> int:
    from bsc_lib.runs.planning import run_targets, summary_text

    run_dir = run_targets(args.data, args.scheme, args.year, lang=args.lang, out=args.out,
                          analysis_path=args.analysis, planning_path=args.planning)
    print(summary_text("targets", run_dir, args.lang))
    print(f"target recommendation complete: {run_dir}")
    return 0


def _add_planning_commands(sub) -> None:
    planning = str(paths.params_dir() / "planning.yaml")
    s = sub.add_parser("compare", help="score the same data under two schemes and compare (run folder with xlsx/CSV)")
    _add_data(s)
    s.add_argument("--scheme", dest="schemes", action="append", required=True, metavar="PATH",
                   help="scheme YAML, required twice: --scheme A.yaml (current) --scheme B.yaml (proposal)")
    s.add_argument("--analysis", default=str(DEFAULT_ANALYSIS), metavar="PATH",
                   help="analysis settings YAML (default: %(default)s)")
    s.add_argument("--planning", default=planning, metavar="PATH",
                   help="comparison and target settings YAML (default: %(default)s)")
    _add_year(s, "scheme A's year")
    _add_half(s)
    _add_lang(s, "table header language")
    _add_out(s)
    s.set_defaults(func=cmd_compare)

    s = sub.add_parser("targets", help="recommend next year's KPI targets from their history, with a backtest")
    _add_data(s)
    _add_scheme(s)
    s.add_argument("--year", type=int, required=True, help="the target year, e.g. 2020, required (its previous year is the current one)")
    s.add_argument("--analysis", default=str(DEFAULT_ANALYSIS), metavar="PATH",
                   help="analysis settings YAML: the difficulty verdict of the current target (default: %(default)s)")
    s.add_argument("--planning", default=planning, metavar="PATH",
                   help="target settings YAML: challenge percentile, interval level, history minimum, break test "
                        "(default: %(default)s)")
    _add_lang(s, "table header language")
    _add_out(s)
    s.set_defaults(func=cmd_targets)


def _add_data(s: argparse.ArgumentParser) -> None:
    """``--data``: the embedded sample by default in a checkout, required when installed."""
    what = "folder of CSV files or an .xlsx workbook"
    if paths.in_checkout():
        s.add_argument("--data", default=str(DEFAULT_DATA), metavar="PATH",
                       help=f"{what} (default: %(default)s, the embedded sample)")
    else:
        s.add_argument("--data", required=True, metavar="PATH",
                       help=f"{what} (required: the sample data ships with the repository, not the package)")


def _add_scheme(s: argparse.ArgumentParser) -> None:
    s.add_argument("--scheme", default=str(DEFAULT_SCHEME), metavar="PATH",
                   help="evaluation scheme YAML (default: %(default)s)")


def _add_year(s: argparse.ArgumentParser, whose: str = "the scheme's year") -> None:
    s.add_argument("--year", type=int, default=None, help=f"evaluation year (default: {whose})")


def _add_half(s: argparse.ArgumentParser) -> None:
    s.add_argument("--half", choices=["year", "H1", "H2"], default="year",
                   help="period: the whole year or one half (default: %(default)s)")


def _add_lang(s: argparse.ArgumentParser, what: str = "report language") -> None:
    s.add_argument("--lang", choices=["ko", "en"], default="ko", help=f"{what} (default: %(default)s)")


def _add_out(s: argparse.ArgumentParser) -> None:
    s.add_argument("--out", default=str(DEFAULT_OUT), metavar="FOLDER",
                   help="output root; runs go to FOLDER/<year>/<run>/ (default: %(default)s)")


def _positive_int(v: str) -> int:
    try:
        n = int(v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {v!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {n}")
    return n


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bsc", description="Seoul BSC evaluation workbench.")
    p.add_argument("--debug", action="store_true", help="show tracebacks, for developers (default: off)")
    p.add_argument("-v", "--verbose", action="store_true", help="log progress (default: off)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    s = sub.add_parser("validate", help="check a CSV folder or xlsx workbook; list every problem")
    s.add_argument("path", help="folder of CSV files or an .xlsx workbook")
    _add_scheme(s)
    s.add_argument("--analysis", default=str(DEFAULT_ANALYSIS), metavar="PATH",
                   help="analysis settings YAML: its input.na_as_missing applies (default: %(default)s)")
    s.add_argument("--na-as-missing", action="store_true",
                   help="read Excel's #N/A as a missing value, as input.na_as_missing: true in the analysis "
                        "settings does (default: that setting)")
    s.set_defaults(func=cmd_validate)

    s = sub.add_parser("template", help="write an empty, documented input workbook")
    s.add_argument("path", help="output .xlsx path")
    s.set_defaults(func=cmd_template)

    s = sub.add_parser("sample", help="write the synthetic sample dataset (CSV folder)")
    s.add_argument("outdir", help="output folder of the CSV files")
    _add_year(s, f"the year of {DEFAULT_SCHEME.name}")
    s.add_argument("--seed", type=int, default=20190201, help="random seed (default: %(default)s)")
    s.add_argument("--scale", type=float, default=1.0,
                   help="size factor, 1 = Seoul: 697 KPIs (default: %(default)s)")
    s.set_defaults(func=cmd_sample)

    s = sub.add_parser("describe", help="load, validate and summarise a dataset")
    _add_data(s)
    _add_scheme(s)
    _add_lang(s, "output language")
    s.set_defaults(func=cmd_describe)

    s = sub.add_parser("report", help="run the whole annual report into <out>/<year>/<run>/")
    _add_data(s)
    _add_scheme(s)
    s.add_argument("--analysis", default=str(DEFAULT_ANALYSIS), metavar="PATH",
                   help="analysis settings YAML: thresholds, simulation sizes (default: %(default)s)")
    _add_year(s)
    _add_half(s)
    _add_lang(s)
    _add_out(s)
    s.add_argument("--compare-scheme", default=None, metavar="PATH",
                   help="a second scheme: adds the scheme comparison section (09-compare) (default: none)")
    s.add_argument("--notes", default=None, metavar="FILE.md",
                   help="analyst's commentary merged into the report: one '# <section>' heading per section "
                        "(summary, scores, perspectives, …) and optional '# unit <id>' notes (default: none)")
    s.set_defaults(func=cmd_report)

    s = sub.add_parser("verify", help="recompute a run's result tables; exit 0 when identical, 1 otherwise")
    s.add_argument("run_dir", help="a completed run folder <out>/<year>/<run>/")
    s.add_argument("--data", default=None, metavar="PATH", help="data path (default: the one in the manifest)")
    s.add_argument("--scheme", default=None, metavar="PATH", help="scheme YAML (default: the one in the manifest)")
    s.add_argument("--analysis", default=None, metavar="PATH",
                   help="analysis settings YAML (default: the one in the manifest)")
    s.add_argument("--tables-fn", default=None, metavar="MODULE:FUNCTION",
                   help="advanced: the function computing the result tables (default: bsc_lib.analyses.recipes.result_tables)")
    s.add_argument("--load-fn", default=None, metavar="MODULE:FUNCTION",
                   help="advanced: the data loader (default: bsc_lib.data.io.load)")
    s.set_defaults(func=cmd_verify)

    s = sub.add_parser("dashboard", help="serve the leadership dashboard (Voila) on 127.0.0.1 until Ctrl-C")
    s.add_argument("--data", default=None, metavar="PATH",
                   help="data folder or workbook (default: $BSC_DATA, else the embedded 2019 sample)")
    s.add_argument("--scheme", default=None, metavar="PATH",
                   help="scheme YAML (default: $BSC_SCHEME, else params/scheme-2019.yaml)")
    s.add_argument("--port", type=int, default=8866, help="loopback port (default: %(default)s)")
    s.add_argument("--show-names", action="store_true",
                   help="show managers' names (default: off, pseudonymous ids such as 관리자 P0012)")
    s.add_argument("--lang", choices=["ko", "en"], default=None,
                   help="initial language; the page has a switch (default: $BSC_LANG, else ko)")
    s.add_argument("--max-viewers", type=_positive_int, default=8, metavar="N",
                   help="concurrent viewers before a 'busy, try again' page; also the number of preheated "
                        "kernels (default: %(default)s; each holds about 200 MB)")
    s.add_argument("--grace", type=float, default=30.0, metavar="SECONDS",
                   help="shut down the kernel of a page disconnected this long (default: %(default)s)")
    s.set_defaults(func=cmd_dashboard)

    s = sub.add_parser("feedback", help="write one short HTML feedback report per institution or department")
    _add_data(s)
    _add_scheme(s)
    _add_year(s)
    _add_half(s)
    s.add_argument("--level", choices=["institution", "department"], default="institution",
                   help="one report per institution (45) or per department (248) (default: %(default)s)")
    s.add_argument("--workers", type=int, default=None,
                   help="local worker processes, 1 = in-process (default: the number of CPUs)")
    s.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="Dask scheduler address, e.g. tcp://10.0.0.5:8786, needs bsc-workbench[distributed] "
                        "(default: none, local processes)")
    _add_lang(s)
    _add_out(s)
    s.add_argument("--no-progress", action="store_true", help="no progress bar (default: progress bar shown)")
    s.set_defaults(func=cmd_feedback)

    _add_planning_commands(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args) or 0)
    except BSCError as exc:
        print(f"error: {len(exc.problems)} problem(s) found", file=sys.stderr)
        _print_problems(exc.problems)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - last line of defence: no traceback for analysts
        if args.debug:
            raise
        print(f"internal error: {type(exc).__name__}: {exc} (run with --debug for details)", file=sys.stderr)
        return 3


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
