"""Qualitative evaluation (정성평가) of core projects by rater groups, per half.

Steps, per half:

1. Ratings of the year and half for projects in scope (``projects: core`` → ``is_core``
   projects only; ``all`` → every project). Ratings of other projects are ignored (flag
   ``not_in_scope``, info), of unknown projects or items ignored with a warning flag.
2. ``standardise_raters``: each rater's scores are z-standardised within (half, rater group,
   rater) over everything that rater scored, then mapped back to the group's overall mean and
   SD within (half, rater group): ``x' = mean_g + sd_g × (x − mean_r)/sd_r`` (population SDs;
   a rater with ``sd_r = 0`` maps to ``mean_g``). Mapped scores are clipped to the scale.
3. Per (half, project, rater group, item): the mean over the group's raters;
   ``trim_extremes`` drops one highest and one lowest score when the group has at least
   ``trim_min_raters`` raters for that project and item (standardisation comes first).
4. Normalise to 0–1 by the scale, weight by the item shares, multiply by the group's points
   (``rater_groups[evaluation]``), sum over the evaluation's groups → the project's score.
   A group of the evaluation with no rating of a rated project scores 0 for that project
   (flag ``no_ratings``); a missing item within a group scores 0 (flag ``missing_item``). No
   reweighting of the other groups.
5. Department score of a half = mean over its *rated* projects (a project with no rating from
   any of the evaluation's groups is left out, flag ``no_ratings``); a department with no rated
   project in a half scores 0 for it (flag ``no_ratings``). Institution = mean over its
   departments (``institution_from: departments_mean``).
6. The year = top-level ``year_combine`` weighted sum of the halves.

Implementation: :func:`score_qualitative` runs :func:`prepare` (everything that does not depend
on the evaluation: filtering, flags of the inputs, standardisation, the aggregation of step 3)
and :func:`score_prepared` (steps 4–6 for one evaluation's rater groups), so the scoring engine
prepares once for both evaluations. Both work on integer codes of the id columns (each string
column is hashed once); the per-row ``details`` and ``tables["ratings"]`` are built only when
read. :func:`prepare_ratings` and :func:`aggregate_ratings` are the same steps on DataFrames
(the reference implementation, kept for callers and tests); the results are identical, to the
bit, because the same pandas reductions run over the same rows in the same order.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bsc_lib.config.scheme import Qualitative
from bsc_lib.scoring.components import (
    Codes,
    Component,
    ComponentResult,
    ScoringInput,
    as_bool,
    check_range,
    check_unique,
    concat_flags,
    concat_frames,
    empty_details,
    empty_flags,
    first_occurrence,
    half_weights,
    ids,
    institution_details,
    institution_scores,
    lookup,
    make_flags,
    map_float,
    member,
    num,
    register,
    selected_scores,
    take_rows,
)

log = logging.getLogger(__name__)

COMPONENT = "qualitative"
_DETAIL_EXTRA = ["rating_mean", "n_raters", "n_used", "share", "group_points"]


def prepare_ratings(qualitative_ratings: pd.DataFrame, projects: pd.DataFrame, params: Qualitative, *,
                    year: int, halves: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Filter the ratings to the year, halves, projects in scope and known items; standardise.

    Parameters
    ----------
    qualitative_ratings, projects
        Canonical input tables.
    params
        ``scheme.components.qualitative``.
    year, halves
        The period.

    Returns
    -------
    tuple of DataFrame
        ``(ratings, flags)``; ``ratings`` has ``half, project_id, department_id, rater_group,
        rater_id, item, score, score_used`` (``score_used`` is the standardised score when
        ``standardise_raters`` is on, else ``score``).

    Raises
    ------
    DataError
        When a rating lies outside the scheme's scale.
    """
    q = qualitative_ratings
    q = q.loc[(num(q["year"]) == year) & q["half"].isin(halves)]
    r = pd.DataFrame({"half": ids(q["half"]), "project_id": ids(q["project_id"]),
                      "rater_group": ids(q["rater_group"]), "rater_id": ids(q["rater_id"]),
                      "item": ids(q["item"]), "score": num(q["score"])})
    check_range(r, "score", params.scale.min, params.scale.max, "qualitative_ratings")
    p = pd.DataFrame({"project_id": ids(projects["project_id"]),
                      "department_id": ids(projects["department_id"]),
                      "is_core": as_bool(projects["is_core"])})
    in_scope = p if params.projects == "all" else p.loc[p["is_core"]]
    r = r.merge(p[["project_id", "department_id"]], on="project_id", how="left")
    unknown = r.loc[r["department_id"].isna()].drop_duplicates("project_id")
    out = r.loc[r["department_id"].notna() & ~r["project_id"].isin(in_scope["project_id"])].drop_duplicates(
        ["project_id", "half"])
    known_items = {i.id for i in params.items}
    bad_item = r.loc[~r["item"].isin(known_items)].drop_duplicates(["project_id", "item"])
    blank = r.loc[r["score"].isna()].drop_duplicates(["project_id", "half"])
    flags = concat_flags([
        make_flags(np.full(len(unknown), "", dtype=object), COMPONENT, "unknown_project",
                   item=unknown["project_id"].to_numpy(), detail="rated project not in projects: ignored"),
        make_flags(out["department_id"].to_numpy(), COMPONENT, "not_in_scope", item=out["project_id"].to_numpy(),
                   half=out["half"].to_numpy(), detail=f"ratings of a project outside projects={params.projects}: ignored"),
        make_flags(bad_item["department_id"].fillna("").to_numpy(), COMPONENT, "unknown_item",
                   item=(bad_item["project_id"] + ":" + bad_item["item"]).to_numpy(),
                   detail="item not in the scheme: ignored"),
        make_flags(blank["department_id"].fillna("").to_numpy(), COMPONENT, "missing_score",
                   item=blank["project_id"].to_numpy(), half=blank["half"].to_numpy(),
                   detail="blank score ignored"),
    ])
    r = r.loc[r["project_id"].isin(in_scope["project_id"]) & r["item"].isin(known_items)
              & r["score"].notna()].reset_index(drop=True)
    r["department_id"] = r["department_id"].astype("str")
    if params.standardise_raters and len(r):
        rk = [r["half"], r["rater_group"], r["rater_id"]]
        gk = [r["half"], r["rater_group"]]
        mean_r = r["score"].groupby(rk).transform("mean")
        sd_r = r["score"].groupby(rk).transform("std", ddof=0)
        mean_g = r["score"].groupby(gk).transform("mean")
        sd_g = r["score"].groupby(gk).transform("std", ddof=0)
        z = ((r["score"] - mean_r) / sd_r.where(sd_r > 0, 1.0)).where(sd_r > 0, 0.0)
        r["score_used"] = (mean_g + sd_g * z).clip(params.scale.min, params.scale.max)
    else:
        r["score_used"] = r["score"]
    return r, flags


def aggregate_ratings(r: pd.DataFrame, params: Qualitative) -> pd.DataFrame:
    """Mean per (half, project, rater group, item), trimming extremes when configured.

    Returns
    -------
    pandas.DataFrame
        ``half, project_id, department_id, rater_group, item, rating_mean, n_raters, n_used``.
    """
    keys = ["half", "project_id", "department_id", "rater_group", "item"]
    a = (r.groupby(keys, sort=True)["score_used"]
         .agg(s="sum", n="count", hi="max", lo="min").reset_index())
    trim = bool(params.trim_extremes) & (a["n"] >= params.trim_min_raters)
    a["rating_mean"] = np.where(trim, (a["s"] - a["hi"] - a["lo"]) / (a["n"] - 2).where(trim, 1),
                                a["s"] / a["n"])
    a["n_raters"] = a["n"].astype(float)
    a["n_used"] = np.where(trim, a["n"] - 2, a["n"]).astype(float)
    return a[keys + ["rating_mean", "n_raters", "n_used"]]


def _year_mask(col: pd.Series, year: int) -> np.ndarray:
    """``num(col) == year`` as a boolean array (no float copy for integer columns)."""
    if pd.api.types.is_integer_dtype(col.dtype) and not isinstance(col.dtype, pd.api.extensions.ExtensionDtype):
        return col.to_numpy() == year
    return (num(col) == year).to_numpy(dtype=bool)


def _str_array(values: np.ndarray) -> pd.Series:
    return pd.Series(values, dtype="str")


def _key(*parts: tuple[np.ndarray, int]) -> np.ndarray:
    """Mixed-radix int64 key of codes ``(codes, radix)``; ``codes`` ≥ 0."""
    total = 1
    for _, radix in parts:
        total *= max(int(radix), 1)
    if total >= 2**62:
        raise ValueError("qualitative: too many distinct halves × projects × rater groups × items to index")
    key = np.zeros(len(parts[0][0]), dtype=np.int64)
    for codes, radix in parts:
        key *= max(int(radix), 1)
        key += codes
    return key


@dataclass
class PreparedRatings:
    """The evaluation-independent part of the qualitative component (see :func:`prepare`).

    Codes: ``*_u`` are the unique values of a ratings column, rows carry positions into them;
    ``k_proj`` is the row of the project in ``projects``. ``k_*`` describe the ratings kept
    (rows in input order); ``a_*`` the aggregates per (half, project, rater group, item),
    sorted by ``a_key``.
    """

    halves: list[str]
    flags: pd.DataFrame
    proj_ids: np.ndarray
    proj_dept: np.ndarray
    proj_core: np.ndarray
    half_u: np.ndarray
    group_u: np.ndarray
    rater_u: np.ndarray
    item_u: np.ndarray
    k_half: np.ndarray
    k_proj: np.ndarray
    k_group: np.ndarray
    k_rater: np.ndarray
    k_item: np.ndarray
    k_score: np.ndarray
    k_used: np.ndarray
    a_key: np.ndarray
    a_mean: np.ndarray
    a_nr: np.ndarray
    a_nu: np.ndarray

    rows_dropped: bool = False
    _lut: np.ndarray | None = None

    def find(self, key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Row of each aggregate key in ``a_key`` (``(positions, found)``; a position where not found
        is 0).

        Through a table indexed by the key itself (built on first use, kept) when the key space
        (halves × projects × rater groups × items) has at most :data:`LUT_MAX` entries, else by
        binary search in the sorted ``a_key``; both give the row whose key is equal.
        """
        space = max(len(self.half_u), 1) * max(len(self.proj_ids), 1) * max(len(self.group_u), 1) * max(len(self.item_u), 1)
        if not len(self.a_key):
            return np.zeros(len(key), dtype=np.intp), np.zeros(len(key), dtype=bool)
        if space <= LUT_MAX:
            if self._lut is None:
                lut = np.full(space, -1, dtype=np.int32 if len(self.a_key) < 2**31 - 1 else np.int64)
                lut[self.a_key] = np.arange(len(self.a_key))
                self._lut = lut
            inside = (key >= 0) & (key < space)
            pos = self._lut[np.where(inside, key, 0)]
            found = inside & (pos >= 0)
            return np.maximum(pos, 0), found
        pos = np.searchsorted(self.a_key, key)
        np.minimum(pos, len(self.a_key) - 1, out=pos)
        return pos, self.a_key[pos] == key

    def drop_rows(self) -> None:
        """Free the per-rating arrays (``k_*``); the aggregates stay (enough for scoring, but
        ``tables["ratings"]`` is then not available)."""
        empty = np.zeros(0, dtype=np.int64)
        self.k_half = self.k_proj = self.k_group = self.k_rater = self.k_item = empty
        self.k_score = self.k_used = np.zeros(0)
        self.rows_dropped = True

    @property
    def radix(self) -> tuple[int, int, int]:
        return len(self.proj_ids), len(self.group_u), len(self.item_u)

    def ratings_frame(self) -> pd.DataFrame:
        """The kept ratings as :func:`prepare_ratings` returns them."""
        def pick(u: np.ndarray, c: np.ndarray) -> pd.Series:
            return _str_array(np.append(u, None)[c] if len(c) else np.zeros(0, dtype=object))

        return pd.DataFrame({
            "half": pick(self.half_u, self.k_half), "project_id": _str_array(self.proj_ids[self.k_proj]),
            "rater_group": pick(self.group_u, self.k_group), "rater_id": pick(self.rater_u, self.k_rater),
            "item": pick(self.item_u, self.k_item), "score": self.k_score,
            "department_id": _str_array(self.proj_dept[self.k_proj]), "score_used": self.k_used,
        })


def prepare(qualitative_ratings: pd.DataFrame, projects: pd.DataFrame, params: Qualitative, *, year: int,
            halves: list[str], codes: Codes | None = None) -> PreparedRatings:
    """Filter, flag, standardise and aggregate the ratings (steps 1–3; evaluation-independent).

    Parameters
    ----------
    qualitative_ratings, projects
        Canonical input tables (project ids must be unique).
    params
        ``scheme.components.qualitative``.
    year, halves
        The period.
    codes
        Optional :class:`bsc_lib.scoring.components.Codes` of ``qualitative_ratings`` (computed when
        absent).

    Returns
    -------
    PreparedRatings
        Input flags (``unknown_project``, ``not_in_scope``, ``unknown_item``,
        ``missing_score``), the kept ratings and their aggregates (see the class).

    Raises
    ------
    DataError
        When a rating lies outside the scheme's scale or a project id is duplicated.
    """
    q = qualitative_ratings
    codes = codes if codes is not None and codes.frame is q else Codes(q)
    hc_all, half_u = codes("half")
    yc_all, year_u = codes("year")  # the year test on the distinct years, read through the codes
    sel = member(yc_all, len(year_u), np.flatnonzero(_year_mask(pd.Series(year_u), year)))
    del yc_all
    sel &= member(hc_all, len(half_u), lookup(half_u, halves))
    idx, score = selected_scores(codes, sel, params.scale.min, params.scale.max, "qualitative_ratings")
    pc_all, proj_u = codes("project_id")
    gc_all, group_u = codes("rater_group")
    ic_all, item_u = codes("item")
    hc, pc, gc, ic = (take_rows(a, idx) for a in (hc_all, pc_all, gc_all, ic_all))
    del hc_all, pc_all, gc_all, ic_all

    p_ids = ids(projects["project_id"])
    check_unique(pd.DataFrame({"project_id": p_ids}), ["project_id"], "projects")
    p_ids = p_ids.to_numpy(dtype=object)
    p_dept = ids(projects["department_id"]).to_numpy(dtype=object)
    p_core = as_bool(projects["is_core"]).to_numpy(dtype=bool)
    p_known = ~pd.isna(p_dept)
    in_scope_p = np.ones(len(p_ids), dtype=bool) if params.projects == "all" else p_core.copy()
    row_of_u = np.append(pd.Index(p_ids).get_indexer(pd.Index(proj_u, dtype=object)), -1)
    row_of_u = row_of_u.astype(np.int32 if len(p_ids) < 2**31 - 1 else np.int64)
    prow = row_of_u[pc]  # row of the rated project in projects (−1: unknown)
    known = prow >= 0
    if not p_known.all():
        known[known] = p_known[prow[known]]
    known_item = member(ic, len(item_u), lookup(item_u, [i.id for i in params.items]))

    proj_txt = np.append(proj_u, None)
    half_txt = np.append(half_u, None)
    item_txt = np.append(item_u, None)
    n_h = len(half_u) + 1
    n_i = len(item_u) + 1

    def pkey(rows: np.ndarray) -> np.ndarray:
        return pc[rows].astype(np.int64) + 1

    def dept_or_empty(rows: np.ndarray) -> np.ndarray:
        out = np.full(len(rows), "", dtype=object)
        ok = known[rows]
        out[ok] = p_dept[prow[rows[ok]]]
        return out

    def joined(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        out = np.full(len(a), "", dtype=object)
        ok = ~(pd.isna(a) | pd.isna(b))
        out[ok] = a[ok].astype(str).astype(object) + ":" + b[ok].astype(str).astype(object)
        return out

    unk = np.flatnonzero(~known)
    unk = unk[first_occurrence(pkey(unk))]
    if known.all() and in_scope_p.all():
        scope_row = known
    else:
        scope_row = np.zeros(len(prow), dtype=bool)
        scope_row[known] = in_scope_p[prow[known]]
    out_ = np.flatnonzero(known & ~scope_row)
    out_ = out_[first_occurrence(pkey(out_) * n_h + hc[out_] + 1)]
    bi = np.flatnonzero(~known_item)
    bi = bi[first_occurrence(pkey(bi) * n_i + ic[bi] + 1)]
    blank = np.isnan(score)
    bl = np.flatnonzero(blank)
    bl = bl[first_occurrence(pkey(bl) * n_h + hc[bl] + 1)]
    flags = concat_flags([
        make_flags(np.full(len(unk), "", dtype=object), COMPONENT, "unknown_project",
                   item=proj_txt[pc[unk]], detail="rated project not in projects: ignored"),
        make_flags(p_dept[prow[out_]], COMPONENT, "not_in_scope", item=proj_txt[pc[out_]],
                   half=half_txt[hc[out_]],
                   detail=f"ratings of a project outside projects={params.projects}: ignored"),
        make_flags(dept_or_empty(bi), COMPONENT, "unknown_item", item=joined(proj_txt[pc[bi]], item_txt[ic[bi]]),
                   detail="item not in the scheme: ignored"),
        make_flags(dept_or_empty(bl), COMPONENT, "missing_score", item=proj_txt[pc[bl]], half=half_txt[hc[bl]],
                   detail="blank score ignored"),
    ]) if (len(unk) or len(out_) or len(bi) or len(bl)) else empty_flags()

    keep = scope_row & known_item & ~blank
    del scope_row, known_item, blank
    rc_all, rater_u = codes("rater_id")
    if idx is None and keep.all():  # every rating is used: no copies
        k_rater, k_half, k_proj, k_group, k_item, k_score = rc_all, hc, prow, gc, ic, score
    else:
        k_rater = (rc_all if idx is None else rc_all[idx])[keep]
        k_half, k_proj, k_group, k_item, k_score = hc[keep], prow[keep], gc[keep], ic[keep], score[keep]
    del rc_all, hc, gc, ic, score, keep
    pc = prow = None  # (closures above hold the names) free the arrays
    n_p, n_g, n_i = len(p_ids), len(group_u), len(item_u)
    if k_proj.dtype != np.int64 and n_p * n_g * n_i * max(len(half_u), 1) >= 2**31:
        k_proj = k_proj.astype(np.int64)

    if params.standardise_raters and len(k_score):
        s = pd.Series(k_score)
        rk = _nan_key(_key((k_half, len(half_u)), (np.maximum(k_group, 0), n_g), (np.maximum(k_rater, 0), len(rater_u))),
                      (k_group < 0) | (k_rater < 0))
        gk = _nan_key(_key((k_half, len(half_u)), (np.maximum(k_group, 0), n_g)), k_group < 0)
        mean_r = s.groupby(rk).transform("mean")
        sd_r = s.groupby(rk).transform("std", ddof=0)
        mean_g = s.groupby(gk).transform("mean")
        sd_g = s.groupby(gk).transform("std", ddof=0)
        z = ((s - mean_r) / sd_r.where(sd_r > 0, 1.0)).where(sd_r > 0, 0.0)
        k_used = (mean_g + sd_g * z).clip(params.scale.min, params.scale.max).to_numpy(dtype=float)
    else:
        k_used = k_score

    a = _aggregate(k_half, len(half_u), k_proj, n_p, k_group, n_g, k_item, n_i, k_used,
                   extremes=bool(params.trim_extremes))
    trim = bool(params.trim_extremes) & (a["n"] >= params.trim_min_raters)
    rating_mean = (np.where(trim, (a["s"] - a["hi"] - a["lo"]) / (a["n"] - 2).where(trim, 1), a["s"] / a["n"])
                   if params.trim_extremes else (a["s"] / a["n"]).to_numpy())
    n_used = np.where(trim, a["n"] - 2, a["n"]).astype(float)
    return PreparedRatings(
        halves=list(halves), flags=flags, proj_ids=p_ids, proj_dept=p_dept, proj_core=p_core,
        half_u=half_u, group_u=group_u, rater_u=rater_u, item_u=item_u,
        k_half=k_half, k_proj=k_proj, k_group=k_group, k_rater=k_rater, k_item=k_item, k_score=k_score,
        k_used=k_used, a_key=a.index.to_numpy(dtype=np.int64), a_mean=np.asarray(rating_mean, dtype=float),
        a_nr=a["n"].astype(float).to_numpy(), a_nu=n_used)


#: Largest key space (halves × projects × rater groups × items) that :meth:`PreparedRatings.find`
#: looks up through a table indexed by the key (4 bytes an entry: 128 MB at most).
LUT_MAX = 1 << 25

#: Rows per chunk of the aggregation (bounds the memory of pandas' groupby at scale).
AGG_CHUNK = 2_000_000


def _aggregate(h, n_h, p, n_p, g, n_g, i, n_i, used, *, extremes: bool) -> pd.DataFrame:
    """Sum and count (and max/min) of ``used`` per (half, project, rater group, item), sorted by key.

    pandas' groupby over one integer key: the same groups, rows and order as grouping by the
    strings, so the same sums. Rows with a missing rater group form no group. When the rows
    are ordered by (half, project) — as the engine passes them — the work is split into chunks
    at (half, project) boundaries, which no group crosses.
    """
    funcs = {"s": "sum", "n": "count", "hi": "max", "lo": "min"} if extremes else {"s": "sum", "n": "count"}
    n = len(used)
    hp = h.astype(np.int64) * n_p + p if n else np.zeros(0, dtype=np.int64)
    chunked = n > AGG_CHUNK and bool(np.all(hp[1:] >= hp[:-1]))
    bounds = [0, n]
    if chunked:
        cuts = np.searchsorted(hp, hp[np.arange(AGG_CHUNK, n, AGG_CHUNK)], side="left")
        bounds = sorted({0, n, *(int(c) for c in cuts)})
    del hp
    parts = []
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        gg = g[lo:hi]
        grouped = gg >= 0
        key = _key((h[lo:hi], n_h), (p[lo:hi], n_p), (np.maximum(gg, 0), n_g), (i[lo:hi], n_i))
        u = used[lo:hi]
        if not grouped.all():
            key, u = key[grouped], u[grouped]
        if key.max(initial=0) < 2**31 - 1:
            key = key.astype(np.int32)
        parts.append(pd.Series(u).groupby(key, sort=True).agg(**funcs))
        del key, u
    if len(parts) == 1:
        return parts[0]
    # the chunks' rows one after the other (pd.concat's frame, from numpy concatenations)
    return pd.DataFrame({c: np.concatenate([part[c].to_numpy() for part in parts]) for c in funcs},
                        index=pd.Index(np.concatenate([part.index.to_numpy(dtype=np.int64) for part in parts])))


def _nan_key(key: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """``key`` as a grouping key where rows with a missing code form no group (NaN)."""
    if not missing.any():
        return key
    out = key.astype(float)
    out[missing] = np.nan
    return out


def score_prepared(prep: PreparedRatings, departments: pd.DataFrame, institutions: pd.DataFrame,
                   params: Qualitative, *, evaluation: str, weights: Mapping[str, float]) -> ComponentResult:
    """Steps 4–6 for one evaluation from :func:`prepare` (see :func:`score_qualitative`)."""
    halves = list(weights)
    if halves != prep.halves:
        raise ValueError(f"prepared for halves {prep.halves}, asked for {halves}")
    groups = dict(params.rater_groups[evaluation])
    points = float(sum(groups.values()))
    dept_ids = ids(departments["department_id"])
    inst_ids = ids(institutions["institution_id"])
    n_p, n_g, n_i = prep.radix
    n_h = len(halves)

    # projects in scope whose department is scored, × halves; rated = some rating of the evaluation's groups
    scope = np.ones(n_p, dtype=bool) if params.projects == "all" else prep.proj_core.copy()
    scope &= pd.Series(prep.proj_dept, dtype="str").isin(dept_ids).to_numpy(dtype=bool)
    s_rows = np.flatnonzero(scope)
    g_names = list(groups)
    g_code = lookup(prep.group_u, g_names)
    h_code = lookup(prep.half_u, halves)
    a_pair = prep.a_key[member(prep.a_key // n_i % max(n_g, 1), n_g, g_code)] // max(n_g * n_i, 1)
    pair = a_pair[np.r_[True, a_pair[1:] != a_pair[:-1]]] if len(a_pair) else a_pair  # a_key is sorted
    hp_proj = np.repeat(s_rows, n_h)
    hp_h = np.tile(np.arange(n_h), len(s_rows))
    hp_pair = np.where(h_code[hp_h] >= 0, h_code[hp_h].astype(np.int64) * n_p + hp_proj, -1)
    rated = np.isin(hp_pair, pair) & (hp_pair >= 0)
    unrated = np.flatnonzero(~rated)
    hp_proj, hp_h = hp_proj[rated], hp_h[rated]
    hp_dept = prep.proj_dept[hp_proj]
    half_arr = np.asarray(halves, dtype=object)

    # departments coded together with the departments table (duplicates there are kept apart as pandas would)
    d_codes, _ = pd.factorize(np.concatenate([dept_ids.to_numpy(dtype=object), hp_dept]))
    n_dc = int(d_codes.max()) + 1 if len(d_codes) else 0
    hp_d = d_codes[len(dept_ids):]
    dh_count = np.bincount(hp_d.astype(np.int64) * n_h + hp_h, minlength=n_dc * n_h)
    n_proj = dh_count[hp_d.astype(np.int64) * n_h + hp_h].astype(float)

    shares = np.array([float(i.share) for i in params.items])
    g_points = np.array([float(v) for v in groups.values()])
    ni_s = len(shares)
    i_code = lookup(prep.item_u, [i.id for i in params.items])
    n_hp, n_gs = len(hp_proj), len(g_names)

    def grid_ratings(counts: bool = False):
        """rating_mean (and n_raters, n_used) of the grid hp × groups × items, in grid order."""
        hc = h_code[hp_h]
        base = np.where(hc >= 0, (hc.astype(np.int64) * n_p + hp_proj) * n_g, -1)
        key = (((base[:, None] + g_code[None, :]) * n_i)[:, :, None] + i_code[None, None, :]).ravel()
        ok = ((base >= 0)[:, None, None] & (g_code >= 0)[None, :, None] & (i_code >= 0)[None, None, :]).ravel()
        del base
        pos, found = prep.find(key)
        ok &= found
        del key, found

        def pick(v):
            return np.where(ok, v[pos] if len(v) else np.nan, np.nan)
        return (pick(prep.a_mean), pick(prep.a_nr), pick(prep.a_nu)) if counts else pick(prep.a_mean)

    hw_of = np.array([float(weights[h]) for h in halves])

    def grid_values(rating_mean):
        norm = np.nan_to_num((rating_mean - params.scale.min) / (params.scale.max - params.scale.min), nan=0.0)
        norm = norm.reshape(n_hp, n_gs, ni_s)
        return (hw_of[hp_h][:, None, None] * g_points[None, :, None] * shares[None, None, :] * norm
                / n_proj[:, None, None]).ravel()

    rating_mean = grid_ratings()
    value = grid_values(rating_mean)
    tot = (pd.Series(value).groupby(np.repeat(hp_d, n_gs * ni_s)).sum() if len(value)
           else pd.Series(dtype=float))
    del value
    dep_code = d_codes[:len(dept_ids)]
    pts_ = map_float(pd.Series(dep_code), tot).fillna(0.0).to_numpy()
    d_scores = pd.DataFrame({"unit_id": dept_ids, "unit_level": "department", "points": pts_, "max_points": points})

    seen = ~np.isnan(rating_mean)
    cnt = seen.reshape(n_hp * n_gs, ni_s).sum(axis=1) if n_hp * n_gs and ni_s else np.zeros(n_hp * n_gs, dtype=int)
    no_grp = np.flatnonzero(cnt == 0)
    miss = np.flatnonzero(~seen & np.repeat(cnt > 0, ni_s))
    del rating_mean, seen
    hp_pid = prep.proj_ids[hp_proj]
    ng_hp, ng_g = no_grp // max(n_gs, 1), no_grp % max(n_gs, 1)
    mi_hp, mi_g, mi_i = miss // (n_gs * ni_s), miss // ni_s % max(n_gs, 1), miss % max(ni_s, 1)
    gname = np.asarray(g_names, dtype=object)
    iname = np.asarray([i.id for i in params.items], dtype=object)
    un_proj = np.repeat(s_rows, n_h)[unrated]
    un_h = np.tile(np.arange(n_h), len(s_rows))[unrated]
    none = np.flatnonzero(dh_count[np.repeat(dep_code.astype(np.int64) * n_h, n_h) + np.tile(np.arange(n_h), len(dep_code))] == 0)
    flags = concat_flags([
        prep.flags,
        make_flags(prep.proj_dept[un_proj], COMPONENT, "no_ratings", item=prep.proj_ids[un_proj], half=half_arr[un_h],
                   detail="project not rated by the rater groups of the evaluation: left out of the department mean"),
        make_flags(hp_dept[ng_hp], COMPONENT, "no_ratings", item=hp_pid[ng_hp] + ":" + gname[ng_g],
                   half=half_arr[hp_h[ng_hp]], detail="rater group gave no rating: 0 for the group"),
        make_flags(hp_dept[mi_hp], COMPONENT, "missing_item", item=hp_pid[mi_hp] + ":" + gname[mi_g] + ":" + iname[mi_i],
                   half=half_arr[hp_h[mi_hp]], detail="item not rated by the group: 0 for the item"),
        make_flags(dept_ids.to_numpy(dtype=object)[none // n_h], COMPONENT, "no_ratings", half=half_arr[none % n_h],
                   detail="no rated project in the half: 0 for the half"),
    ])
    i_scores, i_flags = institution_scores(d_scores, departments, inst_ids, COMPONENT, points)
    scores = concat_frames([d_scores, i_scores], d_scores.iloc[0:0])

    def build_details() -> pd.DataFrame:
        rating_mean, n_raters, n_used = grid_ratings(counts=True)
        r_hp = np.repeat(np.arange(n_hp), n_gs * ni_s)
        r_g = np.tile(np.repeat(np.arange(n_gs), ni_s), n_hp)
        r_i = np.tile(np.arange(ni_s), n_hp * n_gs)
        grid = pd.DataFrame({
            "half": _str_array(half_arr[hp_h[r_hp]]), "project_id": _str_array(hp_pid[r_hp]),
            "department_id": _str_array(hp_dept[r_hp]), "rater_group": _str_array(gname[r_g]),
            "group_points": g_points[r_g], "rated_item": _str_array(iname[r_i]), "share": shares[r_i],
            "rating_mean": rating_mean, "n_raters": n_raters, "n_used": n_used,
        })
        grid["value"] = grid_values(rating_mean)
        details = pd.DataFrame({
            "unit_id": grid["department_id"], "unit_level": "department",
            "item": grid["project_id"] + ":" + grid["rater_group"] + ":" + grid["rated_item"],
            "half": grid["half"], "source_id": "", "value": grid["value"].astype(float),
            "project_id": grid["project_id"], "rater_group": grid["rater_group"], "rated_item": grid["rated_item"],
            "rating_mean": grid["rating_mean"], "n_raters": grid["n_raters"], "n_used": grid["n_used"],
            "share": grid["share"], "group_points": grid["group_points"],
        })
        i_details = institution_details(details, departments)
        return concat_frames([details, i_details], empty_details(_DETAIL_EXTRA))

    return ComponentResult(COMPONENT, scores, build_details, concat_flags([flags, i_flags]),
                           tables={} if prep.rows_dropped else {"ratings": prep.ratings_frame})


def score_qualitative(qualitative_ratings: pd.DataFrame, projects: pd.DataFrame, departments: pd.DataFrame,
                      institutions: pd.DataFrame, params: Qualitative, *, evaluation: str, year: int,
                      weights: Mapping[str, float]) -> ComponentResult:
    """Qualitative points of every department and institution for one evaluation.

    Parameters
    ----------
    qualitative_ratings, projects, departments, institutions
        Canonical input tables.
    params
        ``scheme.components.qualitative``.
    evaluation
        ``institutional`` or ``individual``: selects the rater groups and their points.
    year, weights
        The year and ``{half: weight}``.

    Returns
    -------
    ComponentResult
        ``details`` has one row per unit, half, project, rater group and item (``item`` =
        ``project:group:item``) with ``project_id, rater_group, rated_item, rating_mean,
        n_raters, n_used, share, group_points``; ``tables["ratings"]`` the ratings used
        (see :func:`prepare_ratings`).

    Raises
    ------
    DataError
        When a rating lies outside the scheme's scale or a project id is duplicated.
    """
    prep = prepare(qualitative_ratings, projects, params, year=year, halves=list(weights))
    return score_prepared(prep, departments, institutions, params, evaluation=evaluation, weights=weights)


def _prepare_for_engine(inp: ScoringInput) -> PreparedRatings:
    top = half_weights(inp.scheme.year_combine, inp.half)
    prep = prepare(inp.tables["qualitative_ratings"], inp.tables["projects"], inp.scheme.components.qualitative,
                   year=inp.year, halves=list(top), codes=inp.codes.pop("qualitative_ratings", None))
    prep.drop_rows()  # Results do not carry the rating rows
    return prep


def _score_for_engine(inp: ScoringInput, prepared, evaluation: str, points: float) -> ComponentResult:
    return score_prepared(prepared, inp.tables["departments"], inp.tables["institutions"],
                          inp.scheme.components.qualitative, evaluation=evaluation,
                          weights=half_weights(inp.scheme.year_combine, inp.half))


register(Component("qualitative", score=_score_for_engine, prepare=_prepare_for_engine))
