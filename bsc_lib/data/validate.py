"""Validate BSC input data: per-column checks (pandera) and cross-table rules.

All problems are collected, never only the first. Each :class:`~bsc_lib.errors.Problem`
names the file, sheet, spreadsheet row (1-based, header = row 1), the column header as
written, the rule, the value and a message.

Per-column checks (a pandera ``DataFrameSchema`` per table, built from
:data:`bsc_lib.data.model.TABLES`, run with ``lazy=True``):

==================  ==============================================================
rule                meaning
==================  ==============================================================
``dtype``           the column's dtype is not the model's
``missing value``   a required (non-nullable) cell is empty
``unknown code``    a categorical value is not one of the allowed codes / spellings
``below minimum``   a number is below the column's ``min_value``
``above maximum``   a number is above the column's ``max_value``
==================  ==============================================================

Cross-table rules (:func:`validate_data`):

=======================  ===========================================================
rule                     meaning
=======================  ===========================================================
``empty table``          a required table has no rows
``duplicate key``        two rows share the table's key (``Table.key``)
``unknown reference``    a foreign key (``Column.fk``) is found in none of its tables
``weight sum``           the KPI weights of an owner do not sum to
                         ``scheme.validation.weight_sum`` ± ``weight_tolerance``
``band limits``          a band KPI lacks ``band_low``/``band_high`` or has low > high
``kpi level``            an institution-level KPI owned by a department or vice versa
``unknown item``         a rated item is not in the scheme's items of its component
``out of scale``         a rating outside the component's scale in the scheme
``above item points``    a cooperation score above the item's points
``unknown perspective``  a strategic goal's perspective is not in ``scheme.perspectives``
=======================  ===========================================================

Not flagged (deliberately): zero or negative targets (legal, the scoring handles them);
band limits on up/down KPIs (ignored by the scoring). Rules of components absent from the
scheme are skipped. Foreign keys into a table that is missing or unreadable, or whose key
column is missing, are not checked (the missing table or column is already reported).
"""

from __future__ import annotations

import logging
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa

from bsc_lib.config.scheme import Scheme, default_scheme_path, load_scheme
from bsc_lib.data.aliases import describe_codes
from bsc_lib.data.io.problems import TableOrigin, cap_problems, cell_problems, dedupe, fmt_value
from bsc_lib.data.io.text import visible
from bsc_lib.data.model import (
    CODESET_OF_COLUMN,
    TABLES,
    BSCData,
    Column,
    Table,
    category_codes,
    pandas_dtype,
    plain_text,
)
from bsc_lib.errors import Problem

log = logging.getLogger(__name__)

__all__ = ["validate", "validate_data", "table_schema", "check_path"]


# --------------------------------------------------------------------------- pandera


def _column_checks(c: Column) -> list[tuple[pa.Check, str, str]]:
    """pandera checks of a column with, for each, the problem rule and message template."""
    out: list[tuple[pa.Check, str, str]] = []
    if c.allowed:
        codes = describe_codes(CODESET_OF_COLUMN.get(c.name), c.allowed)
        out.append((pa.Check.isin(list(c.allowed)), "unknown code",
                    f"unknown code '{{value}}' for {c.name} ({c.ko}); allowed: {codes}"))
    if c.min_value is not None:
        out.append((pa.Check.ge(c.min_value), "below minimum",
                    f"{{value}} is below the minimum {fmt_value(float(c.min_value))} of {c.name}"))
    if c.max_value is not None:
        out.append((pa.Check.le(c.max_value), "above maximum",
                    f"{{value}} is above the maximum {fmt_value(float(c.max_value))} of {c.name}"))
    return out


def table_schema(table: Table, *, parsed: bool = False) -> pa.DataFrameSchema:
    """The pandera schema of one model table.

    Parameters
    ----------
    table
        A :class:`bsc_lib.data.model.Table`.
    parsed
        False: the canonical dtypes of :func:`bsc_lib.data.model.pandas_dtype` (a loaded
        :class:`~bsc_lib.data.model.BSCData`). True: the loader's intermediate dtypes (nullable
        ``Int64``/``boolean``), used while validating freshly parsed input.

    Returns
    -------
    pandera.DataFrameSchema
        One column per model column: dtype, ``nullable``, allowed codes, min/max.
    """
    from bsc_lib.data.io.parse import parsed_dtype

    cols = {}
    for c in table.columns:
        dtype = parsed_dtype(c) if parsed else pandas_dtype(c)
        cols[c.name] = pa.Column(dtype, checks=[chk for chk, _, _ in _column_checks(c)],
                                 nullable=c.nullable, required=True)
    return pa.DataFrameSchema(cols, strict=True, ordered=False, name=table.name)


@cache
def _cached_schema(name: str, parsed: bool) -> pa.DataFrameSchema:
    """:func:`table_schema` of a model table, built once (never handed out: callers get fresh ones)."""
    return table_schema(TABLES[name], parsed=parsed)


def _light_categoricals(frame: pd.DataFrame, table: Table) -> pd.DataFrame:
    """``frame`` with each categorical column that has no value check (no allowed codes, no
    minimum or maximum: ids, names) replaced by its missingness as a one-category ``category``.

    pandera's dtype check copies a categorical's categories one by one (2 µs each: 697,000 KPI
    ids at 1000×) and such a column is only checked for its dtype and for missing cells, whose
    positions and values (missing) are the same in the light column: the failure cases are
    unchanged."""
    light = {}
    for c in table.columns:
        if c.name not in frame.columns or _column_checks(c):
            continue
        col = frame[c.name]
        if isinstance(col.dtype, pd.CategoricalDtype) and not col.cat.ordered and len(col.cat.categories) > 1:
            codes = category_codes(col)
            light[c.name] = pd.Series(pd.Categorical.from_codes(
                np.where(codes < 0, -1, 0).astype(np.int8), categories=pd.Index(["x"], dtype=col.cat.categories.dtype),
                validate=False), index=col.index, name=col.name)
    if not light:
        return frame
    out = frame.copy(deep=False)
    for name, col in light.items():
        out[name] = col
    return out


def _pandera_problems(
    frame: pd.DataFrame,
    table: Table,
    origin: TableOrigin,
    parsed: bool,
    skip: set[tuple[str, int]],
    missing_columns: set[str],
) -> list[Problem]:
    """Run the table's pandera schema and translate its failure cases into problems."""
    schema = _cached_schema(table.name, parsed)
    try:
        schema.validate(_light_categoricals(frame, table), lazy=True)
        return []
    except pa.errors.SchemaErrors as exc:
        fc = exc.failure_cases
    except Exception as exc:  # noqa: BLE001 - pandera itself failed on odd data
        return [Problem(file=origin.file, sheet=origin.sheet, rule="check",
                        message=f"table {table.name} could not be checked: {type(exc).__name__}: {exc}")]
    problems: list[Problem] = []
    fc = fc.reset_index(drop=True)
    checks = {c.name: _column_checks(c) for c in table.columns}
    fc_col = fc["column"].astype(object)
    fc_check = fc["check"].astype(object).map(str)
    fc_num = fc["check_number"].astype(object)
    groups = pd.DataFrame({"column": fc_col, "check": fc_check, "num": fc_num.map(fmt_value)})
    for (col, check, num), idx in groups.groupby(["column", "check", "num"], sort=False, dropna=False).groups.items():
        sub = fc.loc[idx]
        col = fmt_value(col)
        if check == "column_in_dataframe":
            for v in sub["failure_case"]:
                problems.append(Problem(file=origin.file, sheet=origin.sheet, column=str(v),
                                        rule="missing column", message=f"column {v} is missing from table {table.name}"))
            continue
        if check == "column_in_schema":
            for v in sub["failure_case"]:
                problems.append(Problem(file=origin.file, sheet=origin.sheet, column=str(v),
                                        rule="unknown column", message=f"column {v} is not a column of table {table.name}"))
            continue
        if col in missing_columns:
            continue
        if check.startswith("dtype("):
            want = pandas_dtype(table.column(col)) if not parsed else check
            problems.append(Problem(
                file=origin.file, sheet=origin.sheet, column=origin.header(col), rule="dtype",
                value=fmt_value(sub["failure_case"].iloc[0]),
                message=f"column {col} has dtype {fmt_value(sub['failure_case'].iloc[0])}, expected {want}"))
            continue
        index = pd.to_numeric(sub["index"], errors="coerce")
        ok = index.notna().to_numpy()
        pos = index[ok].astype("int64").to_numpy()
        vals = sub["failure_case"][ok].to_numpy()
        keep = np.array([(col, int(p)) not in skip for p in pos], dtype=bool)
        pos, vals = pos[keep], vals[keep]
        if check == "not_nullable":
            c = table.column(col)
            problems += cell_problems(origin, col, pos, vals, "missing value",
                                      f"{col} ({c.ko}) is required; the cell is empty")
            continue
        try:
            _, rule, message = checks[col][int(num)]
        except (KeyError, ValueError, IndexError):
            rule, message = "check", f"failed check {check}: {{value}}"
        problems += cell_problems(origin, col, pos, vals, rule, message)
    return problems


# --------------------------------------------------------------------------- cross-table rules


class _Ctx:
    """Frames, origins and what to skip, shared by the cross-table rules."""

    def __init__(self, frames: dict[str, pd.DataFrame], origins: dict[str, TableOrigin],
                 unavailable: set[str]):
        self.frames = frames
        self.origins = origins
        self.unavailable = unavailable

    def origin(self, table: str) -> TableOrigin:
        return self.origins[table]

    def problems(self, table: str, column: str, mask, values, rule: str, message: str) -> list[Problem]:
        """Problems of the cells where ``mask`` holds; ``values`` (array or Series, row order) are
        read only at those cells."""
        pos = np.flatnonzero(np.asarray(mask, dtype=bool))
        if not len(pos):
            return []
        vals = (values.iloc[pos].to_numpy(dtype=object) if isinstance(values, pd.Series)
                else np.asarray(values, dtype=object)[pos])
        return cell_problems(self.origin(table), column, pos, vals, rule, message)


def _texts_at(mask: np.ndarray, make) -> np.ndarray:
    """An object array with ``make(positions)`` (a list of texts) where ``mask`` holds: a problem's
    value text is made for the failing cells only (:meth:`_Ctx.problems` reads no other)."""
    out = np.full(len(mask), None, dtype=object)
    pos = np.flatnonzero(mask)
    if len(pos):
        out[pos] = make(pos)
    return out


def _ids(frame: pd.DataFrame, col: str) -> set:
    return set(frame[col].dropna().tolist())


def _not_in(s: pd.Series, values) -> np.ndarray:
    """``s.notna() & ~s.isin(values)`` as a boolean array; a categorical ``s`` is looked up once
    per category and read through its codes (no pass of ``isin`` over millions of codes)."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        codes = category_codes(s)
        known = np.append(np.asarray(s.cat.categories.isin(values), dtype=bool), True)  # slot −1: missing
        return ~known[codes]
    return s.notna().to_numpy() & ~s.isin(values).to_numpy()


def _rule_empty_tables(ctx: _Ctx, present: set[str]) -> list[Problem]:
    out = []
    for name, t in TABLES.items():
        if t.required and name in present and len(ctx.frames[name]) == 0:
            o = ctx.origin(name)
            out.append(Problem(file=o.file, sheet=o.sheet, rule="empty table", value=name,
                               message=f"required table {name} ({t.ko}) has no rows"))
    return out


def _key_codes(s: pd.Series) -> tuple[np.ndarray, int]:
    """Integer codes of a column (−1 = missing) and their number; categorical text by its codes."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        return category_codes(s).astype(np.int64), len(s.cat.categories)
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    return codes.astype(np.int64), len(uniques)


def _first_of_key(df: pd.DataFrame, key: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """``(complete, first)``: whether each row's key has no missing part, and the position of the
    first row with the same key (the row itself for the first; meaningless when incomplete)."""
    coded = [_key_codes(df[k]) for k in key]
    complete = np.ones(len(df), dtype=bool)
    for c, _ in coded:
        complete &= c >= 0
    total = 1
    for _, n in coded:
        total *= n + 1
    if total < 2**62:  # one int64 per row: the key's mixed-radix number
        ids = np.zeros(len(df), dtype=np.int64)
        for c, n in coded:
            ids *= n + 1
            ids += c + 1
    else:
        ids = pd.MultiIndex.from_arrays([c for c, _ in coded]).factorize()[0].astype(np.int64)
    pos = np.arange(len(df))
    if len(ids) < 2 or bool(np.all(ids[1:] > ids[:-1])):  # strictly increasing: every key once
        return complete, pos
    ranked = np.sort(ids)  # numpy's (vectorised) sort: whether any key repeats, before the stable one
    if bool(np.all(ranked[1:] != ranked[:-1])):
        return complete, pos
    del ranked
    order = np.argsort(ids, kind="stable")  # equal keys keep their row order: the first comes first
    sorted_ids = ids[order]
    new_key = np.r_[True, sorted_ids[1:] != sorted_ids[:-1]]
    if new_key.all():
        return complete, pos
    start = np.maximum.accumulate(np.where(new_key, np.arange(len(ids)), 0))
    first = np.empty(len(ids), dtype=np.int64)
    first[order] = order[start]
    return complete, first


def _rule_unique_keys(ctx: _Ctx) -> list[Problem]:
    out = []
    for name, t in TABLES.items():
        df = ctx.frames[name]
        if len(df) == 0:
            continue
        key = list(t.key)
        complete, first = _first_of_key(df, key)
        pos = np.arange(len(df))
        dup = complete & (pos != first)
        if not dup.any():
            continue
        o = ctx.origin(name)
        col = ", ".join(o.header(k) for k in key)
        dpos = np.flatnonzero(dup)
        for p in dpos[:50]:
            kdesc = ", ".join(f"{k}={visible(fmt_value(df[k].iloc[p]))}" for k in key)
            out.append(Problem(file=o.file, sheet=o.sheet, row=o.row(int(p)), column=col, rule="duplicate key",
                               value=kdesc, message=(f"duplicate {name} row ({kdesc}): the same key is already "
                                                     f"in row {o.row(int(first[p]))}")))
        if len(dpos) > 50:
            out.append(Problem(file=o.file, sheet=o.sheet, column=col, rule="duplicate key",
                               message=f"... and {len(dpos) - 50} more 'duplicate key' problem(s) in this column (not listed)"))
    return out


def _rule_foreign_keys(ctx: _Ctx) -> list[Problem]:
    out = []
    for name, t in TABLES.items():
        df = ctx.frames[name]
        if len(df) == 0:
            continue
        for c in t.columns:
            if not c.fk:
                continue
            targets = [ref.split(".", 1) for ref in c.fk]
            if any(tt in ctx.unavailable for tt, _ in targets):
                continue
            known: set = set()
            for tt, tc in targets:
                known |= _ids(ctx.frames[tt], tc)
            s = df[c.name]
            bad = _not_in(s, known)
            where = " or ".join(c.fk)
            empty = [tt for tt, _ in targets if len(ctx.frames[tt]) == 0]
            note = f" (table {', '.join(empty)} has no rows)" if empty else ""
            out += ctx.problems(name, c.name, bad, s, "unknown reference",
                                f"{c.name} '{{value}}' not found in {where}{note}")
    return out


def _rule_kpis(ctx: _Ctx, scheme: Scheme) -> list[Problem]:
    out: list[Problem] = []
    k = ctx.frames["kpis"]
    if len(k) == 0:
        return out
    o = ctx.origin("kpis")
    # weight sums per owner (owners with a missing or bad weight are skipped: already reported)
    target, tol = float(scheme.validation.weight_sum), float(scheme.validation.weight_tolerance)
    w = k["weight"].astype("float64")
    owner = k["owner_id"]
    g = pd.DataFrame({"owner": owner, "w": w, "na": w.isna(), "pos": np.arange(len(k))}).dropna(subset=["owner"])
    agg = g.groupby("owner", sort=False).agg(total=("w", "sum"), n=("w", "size"), nna=("na", "sum"),
                                             first=("pos", "min"))
    bad = agg[(agg["nna"] == 0) & ((agg["total"] - target).abs() > tol + 1e-9)]
    members = g[g["owner"].isin(bad.index)]
    for own, r in bad.iterrows():  # one problem per owner whose weights are off
        pos = members.loc[members["owner"] == own, "pos"].to_numpy()
        rows = ", ".join(str(o.row(int(p))) for p in pos[:20]) + (" …" if len(pos) > 20 else "")
        total = fmt_value(round(float(r["total"]), 10))
        out.append(Problem(
            file=o.file, sheet=o.sheet, row=o.row(int(r["first"])), column=o.header("weight"), rule="weight sum",
            value=total, message=(f"the weights of owner {own}'s {int(r['n'])} KPI(s) (rows {rows}) sum to "
                                  f"{total}; expected {fmt_value(target)} ± {fmt_value(tol)}")))
    # band KPIs
    band = (k["polarity"] == "band").fillna(False).to_numpy(dtype=bool)
    lo, hi = k["band_low"].astype("float64"), k["band_high"].astype("float64")
    no_lo = band & lo.isna().to_numpy()
    no_hi = band & hi.isna().to_numpy()
    out += ctx.problems("kpis", "band_low", no_lo, lo.to_numpy(dtype=object), "band limits",
                        "a band (목표구간) KPI needs band_low (구간하한)")
    out += ctx.problems("kpis", "band_high", no_hi, hi.to_numpy(dtype=object), "band limits",
                        "a band (목표구간) KPI needs band_high (구간상한)")
    inverted = band & (lo > hi).fillna(False).to_numpy(dtype=bool)
    vals = _texts_at(inverted, lambda pos: [f"{fmt_value(a)} > {fmt_value(b)}" for a, b in zip(
        lo.to_numpy()[pos].tolist(), hi.to_numpy()[pos].tolist(), strict=True)])
    out += ctx.problems("kpis", "band_low", inverted, vals, "band limits",
                        "band_low is above band_high ({value}); the lower limit must not exceed the upper")
    # level consistent with owner
    if not ({"institutions", "departments"} & ctx.unavailable):
        inst = _ids(ctx.frames["institutions"], "institution_id")
        dept = _ids(ctx.frames["departments"], "department_id")
        is_inst = owner.isin(inst).to_numpy()
        is_dept = owner.isin(dept).to_numpy()
        lvl = k["level"]
        m1 = (lvl == "institution").fillna(False).to_numpy(dtype=bool) & is_dept & ~is_inst
        m2 = (lvl == "department").fillna(False).to_numpy(dtype=bool) & is_inst & ~is_dept
        ov = owner.to_numpy(dtype=object)
        out += ctx.problems("kpis", "level", m1, ov, "kpi level",
                            "an institution-level KPI is owned by department '{value}'; its owner_id must be an institution id")
        out += ctx.problems("kpis", "level", m2, ov, "kpi level",
                            "a department-level KPI is owned by institution '{value}'; its owner_id must be a department id")
    return out


def _rule_scheme_ratings(ctx: _Ctx, scheme: Scheme) -> list[Problem]:
    out: list[Problem] = []
    comp = scheme.components
    rated = [("pre_eval_ratings", "pre_evaluation", comp.pre_evaluation),
             ("qualitative_ratings", "qualitative", comp.qualitative),
             ("evaluator_scores", "evaluator", comp.evaluator)]
    for table, cname, c in rated:
        df = ctx.frames[table]
        if c is None or len(df) == 0:
            continue
        if hasattr(c, "items"):
            items = [i.id for i in c.items]
            it = df["item"]
            bad = _not_in(it, items)
            out += ctx.problems(table, "item", bad, it, "unknown item",
                                f"unknown item '{{value}}'; the scheme's {cname} items are: {', '.join(items)}")
        s = df["score"].astype("float64")
        lo, hi = float(c.scale.min), float(c.scale.max)
        bad = ((s < lo) | (s > hi)).fillna(False).to_numpy(dtype=bool)
        out += ctx.problems(table, "score", bad, s, "out of scale",
                            f"score {{value}} is outside the {cname} scale {fmt_value(lo)}–{fmt_value(hi)}")
    coop = comp.cooperation
    df = ctx.frames["cooperation_scores"]
    if coop is not None and len(df):
        points = {i.id: float(i.points) for i in coop.items}
        it = df["item"]
        bad = _not_in(it, list(points))
        out += ctx.problems("cooperation_scores", "item", bad, it.to_numpy(dtype=object), "unknown item",
                            f"unknown item '{{value}}'; the scheme's cooperation items are: {', '.join(points)}")
        cap = it.map(points).astype("float64")
        s = df["score"].astype("float64")
        over = (s > cap + 1e-9).fillna(False).to_numpy(dtype=bool)
        vals = _texts_at(over, lambda pos: [f"{fmt_value(a)} > {fmt_value(b)} ({c})" for a, b, c in zip(
            s.to_numpy()[pos].tolist(), cap.to_numpy()[pos].tolist(), it.astype(str).iloc[pos].tolist(),
            strict=True)])
        out += ctx.problems("cooperation_scores", "score", over, vals, "above item points",
                            "score above the item's points: {value}")
    sg = ctx.frames["strategic_goals"]
    if len(sg) and scheme.perspectives:
        p = sg["perspective"]
        bad = _not_in(p, scheme.perspectives)
        out += ctx.problems("strategic_goals", "perspective", bad, p.to_numpy(dtype=object), "unknown perspective",
                            f"perspective '{{value}}' is not one of the scheme's: {', '.join(scheme.perspectives)}")
    return out


def _validate_frames(
    frames: dict[str, pd.DataFrame],
    scheme: Scheme,
    origins: dict[str, TableOrigin],
    *,
    parsed: bool,
    bad_cells: dict[str, set[tuple[str, int]]] | None = None,
    missing_columns: dict[str, set[str]] | None = None,
    unavailable: set[str] | None = None,
    present: set[str] | None = None,
) -> list[Problem]:
    bad_cells = bad_cells or {}
    missing_columns = missing_columns or {}
    unavailable = set(unavailable or ())
    problems: list[Problem] = []
    for name, t in TABLES.items():
        if name in unavailable:
            continue
        if present is not None and name not in present and len(frames[name]) == 0:
            continue  # an absent optional table: an empty frame built with the right dtypes
        problems += _pandera_problems(frames[name], t, origins[name], parsed,
                                      bad_cells.get(name, set()), missing_columns.get(name, set()))
    # a table whose key column is missing cannot be referred to: its references are not checked
    for n, cols in missing_columns.items():
        if set(cols) & set(TABLES[n].key):
            unavailable.add(n)
    # cross-table rules only on frames whose columns are all there
    usable = {n: f for n, f in frames.items() if set(TABLES[n].column_names) <= set(f.columns)}
    for n in TABLES:
        if n not in usable:
            unavailable.add(n)
            usable[n] = pd.DataFrame({c: pd.Series(dtype=object) for c in TABLES[n].column_names})
    ctx = _Ctx(usable, origins, unavailable)
    problems += _rule_empty_tables(ctx, set(present) if present is not None else set(frames) - unavailable)
    problems += _rule_unique_keys(ctx)
    problems += _rule_foreign_keys(ctx)
    problems += _rule_kpis(ctx, scheme)
    problems += _rule_scheme_ratings(ctx, scheme)
    return problems


def validate_data(
    data: BSCData, scheme: Scheme | None = None, origins: dict[str, TableOrigin] | None = None
) -> list[Problem]:
    """Check already-parsed tables: column checks (pandera) and the cross-table rules.

    Parameters
    ----------
    data
        A :class:`~bsc_lib.data.model.BSCData` with canonical dtypes (e.g. built in code or by
        the sample generator). Tables absent from ``data.tables`` are reported.
    scheme
        The evaluation scheme (weight sum, scales, items, perspectives); None loads
        ``params/scheme-2019.yaml``.
    origins
        Optional ``{table: TableOrigin}`` giving file, sheet and row numbers; without it a
        problem names the table as ``file`` and the row as position + 2 (as if the frame
        were a CSV file with a header row).

    Returns
    -------
    list[Problem]
        Every problem found (empty list = valid), at most 50 per (file, column, rule) plus
        a summary problem.
    """
    if scheme is None:
        scheme = load_scheme(default_scheme_path())
    frames: dict[str, pd.DataFrame] = {}
    problems: list[Problem] = []
    unavailable: set[str] = set()
    origins = dict(origins or {})
    for name, t in TABLES.items():
        df = data.tables.get(name)
        if df is None:
            problems.append(Problem(file=name, rule="missing table", value=name,
                                    message=f"table {name} ({t.ko}) is missing from the data"))
            unavailable.add(name)
            df = pd.DataFrame({c: pd.Series(dtype=object) for c in t.column_names})
        frames[name] = plain_text(df.reset_index(drop=True))  # integer-coded text is text (str)
        origins.setdefault(name, TableOrigin.default(name, len(df)))
    problems += _validate_frames(frames, scheme, origins, parsed=False, unavailable=unavailable,
                                 present=set(TABLES) - unavailable)
    return cap_problems(dedupe(problems))


def check_path(path: str | Path, scheme: Scheme | None = None, *, na_as_missing: bool | None = None,
               text: str = "category") -> tuple[BSCData | None, list[Problem]]:
    """Read, parse and validate ``path``; the canonical data when there is no problem.

    ``na_as_missing`` reads Excel's ``#N/A`` as a missing value (not a ``formula error``);
    None: see :func:`bsc_lib.data.io.loader.resolve_na_as_missing`.
    ``text="category"`` (default) keeps the text columns integer-coded, ``text="str"`` makes them
    ``str`` (see :func:`bsc_lib.data.io.load`).

    Returns
    -------
    tuple
        ``(data, problems)``: ``data`` is a canonical :class:`~bsc_lib.data.model.BSCData` (None
        when any problem was found; its ``notices`` list what the reader did on its own);
        ``problems`` lists every problem.
    """
    data, problems, _ = inspect_path(path, scheme, na_as_missing=na_as_missing, text=text)
    return data, problems


def inspect_path(path: str | Path, scheme: Scheme | None = None, *, na_as_missing: bool | None = None,
                 text: str = "category") -> tuple[BSCData | None, list[Problem], list[Problem]]:
    """:func:`check_path` plus the reader's notices (also when there are problems).

    Returns
    -------
    tuple
        ``(data, problems, notices)``; ``notices`` are :class:`~bsc_lib.errors.Problem` records
        of what the reader did on its own (merged cells filled, total/note/unit rows skipped,
        hidden columns read) that do not stop loading.
    """
    from bsc_lib.data.io.loader import read_parsed
    from bsc_lib.data.io.parse import canonical

    if scheme is None:
        scheme = load_scheme(default_scheme_path())
    res = read_parsed(path, na_as_missing=na_as_missing)
    problems = list(res.problems)
    problems += _validate_frames(res.frames, scheme, res.origins, parsed=True, bad_cells=res.bad_cells,
                                 missing_columns=res.missing_columns, unavailable=res.unavailable,
                                 present=res.present)
    problems = cap_problems(dedupe(problems))
    if problems:
        log.info("%s: %d problem(s)", path, len(problems))
        return None, problems, list(res.notices)
    tables = {name: canonical(res.frames[name], name, text=text) for name in TABLES}
    data = BSCData(tables=tables, source=str(path), input_hashes=dict(res.hashes), notices=list(res.notices))
    log.info("%s: loaded %s", path, ", ".join(f"{n}={len(f)}" for n, f in tables.items() if len(f)))
    return data, [], list(res.notices)


def validate(path: str | Path, scheme: Scheme | None = None, *, na_as_missing: bool | None = None) -> list[Problem]:
    """Read and validate a CSV folder or an ``.xlsx`` workbook; return every problem.

    Parameters
    ----------
    path
        Folder of CSV files or an ``.xlsx`` workbook (see :mod:`bsc_lib.data.io`).
    scheme
        The evaluation scheme; None loads ``params/scheme-2019.yaml``.
    na_as_missing
        Read Excel's ``#N/A`` error as a missing value instead of the problem ``formula error``
        (None: see :func:`bsc_lib.data.io.loader.resolve_na_as_missing`).

    Returns
    -------
    list[Problem]
        Empty when the input is valid. Fields: file, sheet, row, column, rule, value,
        message (see :func:`bsc_lib.errors.problems_frame` for a DataFrame).
    """
    return check_path(path, scheme, na_as_missing=na_as_missing)[1]
