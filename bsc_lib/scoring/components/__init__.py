"""Score components of the BSC scheme: one module per component, shared helpers here.

Every component function is pure: canonical input tables and explicit scheme parameters in,
a :class:`ComponentResult` out. A result carries

``scores``
    one row per scored unit: ``unit_id``, ``unit_level`` (``department`` | ``institution`` |
    ``person``), ``points``, ``max_points``;
``details``
    the decomposition of every unit's points into leaf contributions: ``unit_id``,
    ``unit_level``, ``item``, ``half``, ``source_id`` (the department or KPI owner a
    contribution comes from, ``""`` when it is the unit itself), ``value`` and descriptive
    columns (``target``, ``rating_mean`` …). For every unit, ``details.value`` sums to
    ``scores.points`` (tested);
``flags``
    anything unusual, never silently dropped: ``unit_id``, ``component``, ``item``, ``flag``,
    ``detail``, ``half``, ``severity`` (``warning`` | ``info``).

Conventions shared by the components (documented once here):

* Halves. A component rated twice a year is scored per half; the year's score is
  ``Σ_h w_h × score_h`` with the weights of the scheme's ``year_combine`` (``half="H1"`` or
  ``"H2"`` uses that half with weight 1). A half with no data for a unit scores 0 for that
  half and is flagged; weights are not renormalised.
* ``institution_from: departments_mean``: an institution's score is the plain mean over *all*
  its departments (those listed in ``departments``) of the department scores as defined by the
  component (a department that scores 0 because it has no data counts as 0 and carries its
  flag). An institution without departments scores 0 (flag ``no_departments``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from bsc_lib.data.model import HALVES, category_codes
from bsc_lib.errors import DataError, Problem

SCORE_COLUMNS = ["unit_id", "unit_level", "points", "max_points"]
DETAIL_COLUMNS = ["unit_id", "unit_level", "item", "half", "source_id", "value"]
FLAG_COLUMNS = ["unit_id", "component", "item", "flag", "detail", "half", "severity"]

#: Flags that only inform (not counted in ``n_flags``).
INFO_FLAGS = frozenset({"not_used", "zero_actual", "not_in_scope"})

#: Korean and English labels of every flag code the engine writes (for reports).
FLAG_LABELS: dict[str, dict[str, str]] = {
    "missing_actual": {"ko": "실적 누락", "en": "Actual missing"},
    "missing_target": {"ko": "목표 누락", "en": "Target missing"},
    "unverified": {"ko": "증빙 미검증", "en": "Not verified"},
    "zero_target": {"ko": "목표치 0", "en": "Zero target"},
    "negative_value": {"ko": "음수 값", "en": "Negative value"},
    "zero_actual": {"ko": "하향지표 실적 0", "en": "Down KPI with actual 0"},
    "no_baseline": {"ko": "기준실적 없음", "en": "No baseline"},
    "target_not_beyond_baseline": {"ko": "목표가 기준실적 이하", "en": "Target not beyond baseline"},
    "no_band": {"ko": "목표구간 누락", "en": "Band limit missing"},
    "band_inverted": {"ko": "목표구간 역전", "en": "Band limits inverted"},
    "no_kpis": {"ko": "성과지표 없음", "en": "No KPIs"},
    "no_scored_kpis": {"ko": "평가 가능한 지표 없음", "en": "No scorable KPI"},
    "zero_weights": {"ko": "가중치 합 0", "en": "Weights sum to 0"},
    "unknown_kpi": {"ko": "미등록 지표", "en": "Unknown KPI"},
    "unknown_owner": {"ko": "미등록 소관", "en": "Unknown owner"},
    "not_used": {"ko": "미반영", "en": "Not used"},
    "no_departments": {"ko": "소속 부서 없음", "en": "No departments"},
    "no_ratings": {"ko": "평가 없음", "en": "No ratings"},
    "missing_item": {"ko": "항목 누락", "en": "Item missing"},
    "missing_score": {"ko": "점수 공란", "en": "Blank score"},
    "unknown_item": {"ko": "미등록 항목", "en": "Unknown item"},
    "unknown_unit": {"ko": "미등록 대상", "en": "Unknown unit"},
    "unknown_project": {"ko": "미등록 사업", "en": "Unknown project"},
    "not_in_scope": {"ko": "평가대상 아님", "en": "Out of scope"},
    "missing_data": {"ko": "자료 누락", "en": "Data missing"},
    "no_data": {"ko": "자료 없음", "en": "No data"},
    "missing_consulting": {"ko": "컨설팅 참여 여부 누락", "en": "Consulting participation missing"},
    "role_unit_mismatch": {"ko": "역할·소속 불일치", "en": "Role does not match unit"},
}


class LazyTables(dict):
    """A ``dict`` of DataFrames whose values may be zero-argument callables, built on first access."""

    def __getitem__(self, key):
        v = super().__getitem__(key)
        if callable(v):
            v = v()
            super().__setitem__(key, v)
        return v

    def get(self, key, default=None):
        return self[key] if key in self else default

    def values(self):
        return [self[k] for k in self]

    def items(self):
        return [(k, self[k]) for k in self]

    def materialise(self) -> dict:
        return {k: self[k] for k in self}


class ComponentResult:
    """The output of one component for one evaluation (see the module docstring).

    ``details`` (and any value of ``tables``) may be given as a zero-argument callable: it is
    built on first access and kept. The scoring engine builds them only when
    :meth:`bsc_lib.scoring.engine.Results.explain` (or ``Results.details``) needs them, which saves
    most of the time and memory of a large evaluation.
    """

    def __init__(self, component: str, scores: pd.DataFrame, details: pd.DataFrame | Callable[[], pd.DataFrame],
                 flags: pd.DataFrame, tables: Mapping[str, pd.DataFrame] | None = None):
        self.component = component
        self.scores = scores
        self._details = details
        self.flags = flags
        self.tables = LazyTables(tables or {})

    @property
    def details(self) -> pd.DataFrame:
        if callable(self._details):
            self._details = self._details()
        return self._details

    @details.setter
    def details(self, value: pd.DataFrame) -> None:
        self._details = value

    def __getstate__(self) -> dict:  # closures cannot be pickled: build everything first
        return {"component": self.component, "scores": self.scores, "_details": self.details,
                "flags": self.flags, "tables": dict(self.tables.materialise())}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.tables = LazyTables(state["tables"])

    def __repr__(self) -> str:
        return f"ComponentResult(component={self.component!r}, scores={len(self.scores)} rows)"


# --------------------------------------------------------------------------- frames
def empty_scores() -> pd.DataFrame:
    """An empty ``scores`` frame."""
    return pd.DataFrame({
        "unit_id": pd.Series(dtype="str"), "unit_level": pd.Series(dtype="str"),
        "points": pd.Series(dtype="float64"), "max_points": pd.Series(dtype="float64"),
    })


def empty_details(extra: Iterable[str] = ()) -> pd.DataFrame:
    """An empty ``details`` frame with the base columns (+ ``extra`` float columns)."""
    cols = {c: pd.Series(dtype="str") for c in DETAIL_COLUMNS if c != "value"}
    cols["value"] = pd.Series(dtype="float64")
    for c in extra:
        cols[c] = pd.Series(dtype="float64")
    return pd.DataFrame(cols)


_EMPTY_FLAGS = pd.DataFrame({c: pd.Series(dtype="str") for c in FLAG_COLUMNS})


def empty_flags() -> pd.DataFrame:
    """An empty ``flags`` frame."""
    return _EMPTY_FLAGS.copy()


def make_flags(unit_id, component: str, flag, item="", detail="", half="") -> pd.DataFrame:
    """Build flag rows; every argument may be a scalar or an array-like of equal length.

    Returns
    -------
    pandas.DataFrame
        Columns ``unit_id, component, item, flag, detail, half, severity``.
    """
    n = 1 if np.isscalar(unit_id) else len(unit_id)
    if n == 0:
        return empty_flags()

    def col(v):
        if np.isscalar(v) or v is None:
            return np.full(n, "" if v is None else str(v), dtype=object)
        ser = pd.Series(np.asarray(v, dtype=object), dtype="object")
        if len(ser) != n:
            raise ValueError("make_flags: arguments of different lengths")
        return ser.where(ser.notna(), "").astype("str").to_numpy(dtype=object)

    out = pd.DataFrame({
        "unit_id": col(unit_id), "component": col(component), "item": col(item),
        "flag": col(flag), "detail": col(detail), "half": col(half),
    })
    out["severity"] = np.where(out["flag"].isin(INFO_FLAGS), "info", "warning")
    return out.astype("str")


def concat_frames(frames: Iterable[pd.DataFrame], empty: pd.DataFrame) -> pd.DataFrame:
    """Concatenate non-empty frames; ``empty`` when there are none."""
    frames = [f for f in frames if f is not None and len(f)]
    if not frames:
        return empty.copy()
    return pd.concat(frames, ignore_index=True, sort=False)


def concat_flags(frames: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate flag frames and drop exact duplicates (stable order)."""
    out = concat_frames(frames, empty_flags())
    return out.drop_duplicates(ignore_index=True)


# --------------------------------------------------------------------------- inputs
def num(s: pd.Series) -> pd.Series:
    """A column as float64 (unparseable → NaN); a float64 column as it is (copy-on-write)."""
    if s.dtype == np.float64:
        return s
    return pd.to_numeric(s, errors="coerce").astype("float64")


def as_bool(s: pd.Series) -> pd.Series:
    """A boolean column as plain ``bool`` with missing values read as ``False``."""
    return s.astype("boolean").fillna(False).astype(bool)


def ids(s: pd.Series) -> pd.Series:
    """An id column as ``str``."""
    return s.astype("str")


def take_rows(a: np.ndarray, idx: np.ndarray | None) -> np.ndarray:
    """``a[idx]``, or ``a`` itself when ``idx`` is None (every row kept: no copy)."""
    return a if idx is None else a[idx]


def selected_scores(codes: Codes, sel: np.ndarray, lo: float, hi: float, table: str
                    ) -> tuple[np.ndarray | None, np.ndarray]:
    """The rows of a ratings table kept by ``sel`` and their ``score`` column, range-checked.

    Parameters
    ----------
    codes
        :class:`Codes` of the ratings table (with a ``score`` column).
    sel
        Boolean mask of the rows to keep.
    lo, hi
        The scheme's scale.
    table
        Table name for the error message.

    Returns
    -------
    tuple
        ``(idx, score)``: the kept row positions (None when every row is kept) and their
        scores as float64 (NaN where missing).

    Raises
    ------
    bsc_lib.errors.DataError
        When a kept score lies outside ``[lo, hi]`` (see :func:`check_range`).
    """
    idx = None if sel.all() else np.flatnonzero(sel)
    score = num(codes.values("score", idx)).to_numpy(dtype=float)
    bad = ~np.isnan(score) & ((score < lo - 1e-9) | (score > hi + 1e-9))
    if bad.any():
        check_range(pd.DataFrame({"score": score[bad][:20]}), "score", lo, hi, table)
    return idx, score


def check_range(df: pd.DataFrame, col: str, lo: float, hi: float, table: str,
                what: str = "the scheme's scale") -> None:
    """Raise :class:`DataError` listing rows of ``df[col]`` outside ``[lo, hi]`` (NaN ignored)."""
    v = num(df[col])
    bad = v.notna() & ((v < lo - 1e-9) | (v > hi + 1e-9))
    if bad.any():
        rows = df.loc[bad]
        probs = [
            Problem(file=table, rule="range", column=col, value=f"{x:g}",
                    message=f"{col} outside {what} [{lo:g}, {hi:g}]")
            for x in num(rows[col]).head(20)
        ]
        raise DataError(probs)


def check_unique(df: pd.DataFrame, key: list[str], table: str) -> None:
    """Raise :class:`DataError` when ``key`` is not unique in ``df``."""
    dup = df.duplicated(key, keep=False)
    if dup.any():
        vals = df.loc[dup, key].astype("str").agg("/".join, axis=1).head(20)
        raise DataError([Problem(file=table, rule="unique", column="+".join(key), value=v,
                                 message=f"duplicate key ({', '.join(key)})") for v in vals])


# --------------------------------------------------------------------------- halves
def half_weights(year_combine: Mapping[str, float], half: str) -> dict[str, float]:
    """Weights of the halves used for ``half`` (``"H1"``, ``"H2"`` or ``"year"``).

    ``"year"`` uses ``year_combine`` (halves with weight 0 are dropped); a single half
    has weight 1.
    """
    if half == "year":
        return {h: float(year_combine.get(h, 0.0)) for h in HALVES if year_combine.get(h, 0.0) > 0}
    if half in HALVES:
        return {half: 1.0}
    raise ValueError(f"half must be one of H1, H2, year; got {half!r}")


def weight_by_half(values: pd.Series, halves: pd.Series, weights: Mapping[str, float]) -> pd.Series:
    """``values × weights[half]`` (halves not in ``weights`` → 0)."""
    return values * halves.map(dict(weights)).astype("float64").fillna(0.0)


# --------------------------------------------------------------------------- institutions
def institutions_from_departments(
    dept_scores: pd.DataFrame,
    dept_details: pd.DataFrame,
    departments: pd.DataFrame,
    institution_ids: pd.Series,
    component: str,
    max_points: float,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Institution score = mean over all its departments of the department scores.

    Parameters
    ----------
    dept_scores, dept_details
        Department ``scores`` and ``details`` of a component (every department present).
    departments
        ``department_id``, ``institution_id``.
    institution_ids
        The institutions to score.
    component, max_points
        For flags and the ``max_points`` column.

    Returns
    -------
    tuple of DataFrame
        ``(scores, details, flags)`` at ``unit_level == "institution"``; detail values are the
        department contributions divided by the number of departments, ``source_id`` is the
        department (or the KPI owner when already set).
    """
    scores, flags = institution_scores(dept_scores, departments, institution_ids, component, max_points)
    return scores, institution_details(dept_details, departments), flags


def institution_scores(dept_scores: pd.DataFrame, departments: pd.DataFrame, institution_ids: pd.Series,
                       component: str, max_points: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ``(scores, flags)`` part of :func:`institutions_from_departments`."""
    dmap = departments[["department_id", "institution_id"]].astype("str")
    inst = pd.DataFrame({"unit_id": pd.Series(institution_ids, dtype="str").unique()})
    fast = _institution_sums(dept_scores, dmap, inst["unit_id"])
    if fast is not None:
        n_arr, tot_arr = fast
        inst["n"] = n_arr
        inst["points"] = (pd.Series(tot_arr) / inst["n"].where(inst["n"] > 0, 1)).where(inst["n"] > 0, 0.0)
    else:
        n = dmap.groupby("institution_id").size().rename("n_departments")
        s = dept_scores.merge(dmap, left_on="unit_id", right_on="department_id", how="inner")
        tot = s.groupby("institution_id")["points"].sum()
        inst["n"] = inst["unit_id"].map(n).fillna(0).astype(int)
        inst["points"] = (inst["unit_id"].map(tot).fillna(0.0) / inst["n"].where(inst["n"] > 0, 1)).where(
            inst["n"] > 0, 0.0)
    scores = pd.DataFrame({"unit_id": inst["unit_id"], "unit_level": "institution",
                           "points": inst["points"].astype(float), "max_points": float(max_points)})
    no_dep = inst.loc[inst["n"] == 0, "unit_id"]
    flags = make_flags(no_dep.to_numpy(), component, "no_departments",
                       detail="institution has no departments: 0 points (departments_mean)")
    return scores, flags


def _institution_sums(dept_scores: pd.DataFrame, dmap: pd.DataFrame, inst_ids: pd.Series
                      ) -> tuple[np.ndarray, np.ndarray] | None:
    """Departments per institution and the sum of their points, aligned to ``inst_ids``, by
    position lookups instead of a merge and two groupbys on text; None when the shortcut does
    not apply (then :func:`institution_scores` merges and groups as before).

    Applies when no id is missing, department ids are unique, every department's institution is
    one of ``inst_ids`` and these are strictly ascending: then the rows summed (the scored
    departments found in ``dmap``, in ``dept_scores`` order, as the inner merge keeps them) and
    the group numbers (institution positions, in the order of the institution ids) are those of
    grouping the merge by institution id, so pandas adds the same numbers in the same order.
    """
    u = inst_ids.to_numpy(dtype=object)
    d_dep = dmap["department_id"].to_numpy(dtype=object)
    d_inst = dmap["institution_id"].to_numpy(dtype=object)
    su = dept_scores["unit_id"].to_numpy(dtype=object)
    if (not len(u) or pd.isna(u).any() or pd.isna(d_dep).any() or pd.isna(d_inst).any()
            or not all(type(x) is str for x in u) or not bool((u[1:] > u[:-1]).all())):
        return None
    dep_index = pd.Index(d_dep, dtype=object)
    if not dep_index.is_unique:
        return None
    ipos = pd.Index(u, dtype=object).get_indexer(pd.Index(d_inst, dtype=object))
    if (ipos < 0).any():
        return None
    n = np.bincount(ipos, minlength=len(u)).astype(int)
    if len(su) == len(d_dep) and bool((su == d_dep).all()):
        dpos = np.arange(len(d_dep))
    else:
        dpos = dep_index.get_indexer(pd.Index(su, dtype=object))
    keep = np.flatnonzero(dpos >= 0)
    pts = dept_scores["points"].to_numpy()[keep]
    tot = np.zeros(len(u))
    if len(keep):
        g = pd.Series(pts).groupby(ipos[dpos[keep]], sort=True).sum()
        tot[g.index.to_numpy(dtype=np.intp)] = g.to_numpy(dtype=float)
    return n, tot


def institution_details(dept_details: pd.DataFrame, departments: pd.DataFrame) -> pd.DataFrame:
    """The ``details`` part of :func:`institutions_from_departments`."""
    dmap = departments[["department_id", "institution_id"]].astype("str")
    n = dmap.groupby("institution_id").size().rename("n_departments")
    d = dept_details.merge(dmap, left_on="unit_id", right_on="department_id", how="inner")
    if len(d):
        d["source_id"] = d["source_id"].where(d["source_id"] != "", d["department_id"])
        d["value"] = d["value"] / d["institution_id"].map(n).astype(float)
        d["unit_id"] = d["institution_id"]
        d["unit_level"] = "institution"
        d = d.drop(columns=["department_id", "institution_id"])
    else:
        d = dept_details.iloc[0:0].copy()
    return d


# --------------------------------------------------------------------------- integer codes
def _small_int(codes: np.ndarray, n: int) -> np.ndarray:
    """``codes`` (−1 … n − 1) in the smallest signed integer dtype that holds them."""
    for dt in (np.int8, np.int16, np.int32):
        if n < np.iinfo(dt).max:
            return codes.astype(dt, copy=False)
    return codes.astype(np.int64, copy=False)


def factorize_sorted(s: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes of a column in the sort order of its values.

    Returns
    -------
    tuple
        ``(codes, uniques)``: ``uniques`` sorted ascending (as ``sort_values`` orders them),
        ``codes[i]`` the position of row ``i``'s value in ``uniques`` (−1 for a missing
        value), in the smallest signed integer dtype that holds them.
    """
    if isinstance(s.dtype, pd.CategoricalDtype):
        return _factorize_categorical(s)
    if s.dtype.kind in "iu" and not isinstance(s.dtype, pd.api.extensions.ExtensionDtype) and len(s):
        fast = _factorize_int(s.to_numpy())
        if fast is not None:
            return fast
    # ``pd.factorize(s, sort=True)`` in two steps, with the same codes and uniques: the rows
    # unsorted, then the few distinct values sorted by the same ``factorize(sort=True)``; the
    # rows' codes are read through that small rank table straight into the small dtype (one
    # int64 array per row fewer alive at once than sorting the rows' codes).
    raw, first_seen = pd.factorize(s, use_na_sentinel=True)
    rank, uniques = pd.factorize(first_seen, sort=True, use_na_sentinel=True)
    uniques = np.asarray(uniques, dtype=object) if not pd.api.types.is_numeric_dtype(uniques) else np.asarray(uniques)
    lut = _small_int(np.append(rank, -1), len(uniques))  # slot −1: a missing value stays −1
    return lut[raw], uniques


#: Widest value range (max − min) of an integer column coded through a lookup table.
_INT_SPAN = 1 << 22


def _factorize_int(values: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """:func:`factorize_sorted` of a numpy integer column whose values span a small range (years,
    counts), without hashing: a lookup table over ``min … max`` marks the values present and
    numbers them in ascending order (what ``factorize(sort=True)`` gives). None for a wide range."""
    lo, hi = int(values.min()), int(values.max())
    if hi - lo >= _INT_SPAN:
        return None
    off = values - lo if lo else values
    present = np.zeros(hi - lo + 1, dtype=bool)
    present[off] = True
    uniques = np.flatnonzero(present) + lo
    if len(uniques) == len(present):  # every value of the range occurs: the offset is the code
        return _small_int(off, len(uniques)), uniques.astype(values.dtype)
    rank = np.cumsum(present) - 1
    return _small_int(rank[off], len(uniques)), uniques.astype(values.dtype)


def _factorize_categorical(s: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """:func:`factorize_sorted` of a categorical column from its codes: the categories that occur,
    sorted by value (whatever the categories' own order), without hashing a single value."""
    cat_codes = category_codes(s)
    cats = s.cat.categories
    used = np.zeros(len(cats) + 1, dtype=bool)  # last slot: code −1 (missing)
    used[cat_codes] = True
    used = used[:-1]
    if used.all() and cats.is_monotonic_increasing:  # the loader's categories: codes are the answer
        uniques = np.asarray(cats)
        uniques = uniques.astype(object) if not pd.api.types.is_numeric_dtype(uniques) else uniques
        return _small_int(cat_codes, len(uniques)), uniques
    used_pos = np.flatnonzero(used)
    present = cats.take(used_pos)
    by_value = np.argsort(np.asarray(present), kind="stable")  # the value order of sort_values
    rank = np.full(len(cats) + 1, -1, dtype=np.int64)  # last slot: code -1 (missing) stays -1
    rank[used_pos[by_value]] = np.arange(len(used_pos))
    uniques = np.asarray(present.take(by_value))
    uniques = uniques.astype(object) if not pd.api.types.is_numeric_dtype(uniques) else uniques
    return _small_int(rank[cat_codes], len(uniques)), uniques


class Codes:
    """Lazily computed, cached :func:`factorize_sorted` codes of the columns of one frame.

    :func:`bsc_lib.scoring.engine.evaluate` computes the codes of every key column once (to sort the
    tables) and hands them to the components, which then never hash the same strings twice.
    With ``order`` (a row permutation) the frame is left as it is and everything read through
    this object — codes and :meth:`values` — comes in that order: the engine sorts its
    largest tables this way instead of copying every column.
    """

    def __init__(self, frame: pd.DataFrame, known: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None,
                 order: np.ndarray | None = None):
        self.frame = frame
        self.order = order
        self._known = dict(known or {})

    def __call__(self, column: str) -> tuple[np.ndarray, np.ndarray]:
        if column not in self._known:
            c, u = factorize_sorted(self.frame[column])
            self._known[column] = (c if self.order is None else c[self.order], u)
        return self._known[column]

    def values(self, column: str, rows: np.ndarray | None = None) -> pd.Series:
        """The column in this object's row order (RangeIndex), only the positions ``rows`` of
        that order when given (one take either way).

        A column held in a numpy array is taken by numpy (same values and dtype as
        ``Series.take``, several times faster on millions of rows).
        """
        s = self.frame[column]
        pick = self.order if rows is None else (rows if self.order is None else self.order[rows])
        if pick is None:
            return s
        if isinstance(s.dtype, np.dtype):
            return pd.Series(s.to_numpy()[pick], name=s.name, copy=False)  # the take is already new
        return s.take(pick).reset_index(drop=True)


def lookup(uniques: np.ndarray, wanted: Iterable) -> np.ndarray:
    """Position of each value of ``wanted`` in ``uniques`` (−1 when absent)."""
    if isinstance(wanted, (pd.Series, pd.Index, np.ndarray, pd.api.extensions.ExtensionArray)):
        # the same values as list(wanted), without a Python-level iteration over the array
        values = pd.Series(wanted).to_numpy(dtype=object) if not isinstance(wanted, np.ndarray) else wanted.astype(object)
    else:
        values = list(wanted)
    return pd.Index(uniques).get_indexer(pd.Index(values, dtype=object))


def map_float(keys: pd.Series, mapping: pd.Series) -> pd.Series:
    """``keys.map(mapping).astype(float)``: the value of each key's entry in ``mapping`` (NaN
    when absent), found by one ``get_indexer`` on the mapping's index and a numpy take.

    ``Series.map`` does the same lookup, then tries to cast the result back to the keys'
    dtype (value by value for text keys): several times slower on hundreds of thousands of
    ids. A missing key matches a missing index entry, as with ``map``.

    Parameters
    ----------
    keys
        The values to look up (any dtype ``Index.get_indexer`` accepts).
    mapping
        Values indexed by key; a key listed twice raises ``pandas.errors.InvalidIndexError``
        (as ``Series.map`` does).

    Returns
    -------
    pandas.Series
        float64, aligned to ``keys`` (same index and name).
    """
    pos = mapping.index.get_indexer(keys)
    vals = mapping.to_numpy(dtype=float, na_value=np.nan)
    out = np.full(len(pos), np.nan)
    found = pos >= 0
    out[found] = vals[pos[found]]
    return pd.Series(out, index=keys.index, name=keys.name)


def member(codes: np.ndarray, n_uniques: int, positions: Iterable[int]) -> np.ndarray:
    """Boolean mask: ``codes`` is one of ``positions`` (code −1, missing, is never a member)."""
    lut = np.zeros(n_uniques + 1, dtype=bool)
    pos = np.asarray([p for p in positions if p >= 0], dtype=np.int64)
    lut[pos] = True
    return lut[codes]


def first_occurrence(key: np.ndarray) -> np.ndarray:
    """Positions (ascending) of the first row of every distinct value of ``key``."""
    if len(key) == 0:
        return np.zeros(0, dtype=np.int64)
    _, idx = np.unique(key, return_index=True)
    return np.sort(idx)


# ---------------------------------------------------------------------------------------------
# The component protocol and its registry


@dataclass
class ScoringInput:
    """What every component is scored from: the canonical tables, the scheme, the period and the
    integer codes of the key columns (a component pops the codes of the tables it reads)."""

    tables: Mapping[str, pd.DataFrame]
    scheme: Any  # bsc_lib.config.scheme.Scheme
    year: int
    half: str
    codes: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Component:
    """How the scoring engine scores one component of a scheme.

    Attributes
    ----------
    name
        The component's key in ``scheme.components`` and ``scheme.evaluations``.
    score
        ``score(inp, prepared, evaluation, points) -> ComponentResult``: the component's points
        of every unit of the evaluation.
    prepare
        ``prepare(inp) -> prepared``: the points-independent work, done once and shared by the
        evaluations that use the component (``None``: nothing to share).
    evaluations
        The evaluations the component may be given to.
    scope
        The sentence naming where the component belongs, used in the error for other evaluations.
    """

    name: str
    score: Callable[[ScoringInput, Any, str, float], ComponentResult]
    prepare: Callable[[ScoringInput], Any] | None = None
    evaluations: tuple[str, ...] = ("institutional", "individual")
    scope: str = ""


#: Registered components, by name (each component module registers itself on import).
REGISTRY: dict[str, Component] = {}


def register(component: Component) -> Component:
    """Add ``component`` to :data:`REGISTRY` (a second component of the same name is an error)."""
    if component.name in REGISTRY:
        raise RuntimeError(f"component {component.name!r} is already registered")
    REGISTRY[component.name] = component
    return component
