"""Achievement (달성도평가): KPI targets against actuals, per half, weighted per unit.

Rate of one KPI in one half (``A`` actual, ``T`` target, ``B`` baseline): :func:`achievement_rate`,
the one rule of the library (the difficulty analyses call it too), documented there with its
table of zero and negative targets and actuals. In short:

``formula: ratio``
    up ``A/T``, down ``T/A``. A zero target is decided by the sign of the actual: met exactly →
    ``1`` (a down KPI with target 0 and actual 0 has met it), good side → ``cap``, bad side →
    ``floor`` (flag ``zero_target``). A down KPI with ``A ≤ 0`` against a positive target →
    ``cap`` (flag ``zero_actual`` (info) or ``negative_value``). A negative target → ``1 +
    (A − T)/|T|`` (up) or ``1 + (T − A)/|T|`` (down) (flag ``negative_value``); a negative
    actual with a positive target is flagged ``negative_value`` too (up: its ratio is negative
    and ends at the floor).
``formula: baseline_progress``
    ``(A − B)/(T − B)`` with ``B`` the last non-missing ``kpi_history`` actual of a year
    ``≤ year − 1``. Used only when the target lies beyond the baseline in the KPI's direction
    (up: ``T > B``; down: ``T < B``); otherwise the ratio rate is used and the KPI flagged
    ``no_baseline`` (no history) or ``target_not_beyond_baseline``.
band KPIs (either formula)
    1 inside ``[band_low, band_high]``; outside, linear fall-off to 0 at a distance of
    ``band_falloff × (high − low)`` (``× |violated limit|`` for a zero-width band; when that is
    0 too, any miss is 0). A missing limit is replaced by the target (flag ``no_band``);
    inverted limits are swapped (flag ``band_inverted``).

The rate is clipped to ``[floor, cap]`` (``capped_rate``, :func:`capped_rates`); no ``inf`` or
``NaN`` leaks: a missing actual (or missing row, or a target needed but missing) follows
``missing_rule`` and an unverified actual ``unverified_rule``: ``zero`` → capped rate 0 (below
the floor on purpose: a penalty), ``exclude`` → dropped from the weighted mean (capped rate NaN);
both flagged.

Unit score of a half (:func:`kpi_weighting` and :func:`unit_points`, the aggregation the
what-if of :mod:`bsc_lib.analyses.whatif` calls too) = ``points × Σ w_i·capped_i / Σ w_i / cap`` over the
included KPIs, so the maximum is exactly the component's points and with ``cap > 1``
over-achievement on one KPI can compensate another. When the included weights sum to 0 the KPIs are weighted equally (flag
``zero_weights``). A unit without KPIs scores 0 (flag ``no_kpis``); one whose KPIs are all
excluded in a half scores 0 for it (flag ``no_scored_kpis``). The year is the
``achievement.year_combine`` weighted sum of the halves.

Institutions (``institution_from``): ``departments_mean`` (institution-level KPIs are then not
used: ``points`` 0, flag ``not_used``, info), ``own_kpis`` (the institution's own KPIs, scored
like a department), ``all_kpis`` (own and all its departments' KPIs pooled, raw weights).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bsc_lib.config.scheme import Achievement
from bsc_lib.errors import DataError, Problem
from bsc_lib.scoring.components import (
    Codes,
    Component,
    ComponentResult,
    ScoringInput,
    as_bool,
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
    num,
    register,
)

log = logging.getLogger(__name__)

COMPONENT = "achievement"
KPI_COLUMNS = [
    "kpi_id", "owner_id", "level", "polarity", "weight", "target", "actual", "baseline",
    "verified", "rate", "capped_rate", "flag", "points", "half",
]
_DETAIL_EXTRA = ["target", "actual", "baseline", "rate", "capped_rate", "weight", "weight_share"]


def _as_array(x, n: int | None = None) -> np.ndarray:
    """Float array of ``x`` (a Series, array, list or scalar); ``None`` → NaN."""
    if x is None:
        return np.full(n if n is not None else (), np.nan)
    if isinstance(x, pd.Series):
        return pd.to_numeric(x, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    return np.asarray(x, dtype=float)


def _band_rate(actual: np.ndarray, low: np.ndarray, high: np.ndarray, falloff: float) -> np.ndarray:
    """Band rate: 1 inside ``[low, high]``, linear fall-off outside (see :func:`achievement_rate`)."""
    a, lo, hi = actual, low, high
    width = hi - lo
    dist = np.maximum(np.maximum(lo - a, a - hi), 0.0)
    limit = np.where(a < lo, lo, hi)
    span = np.where(width > 0, falloff * width, falloff * np.abs(limit))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        r = np.where(dist <= 0, 1.0, np.where(span > 0, np.maximum(0.0, 1.0 - dist / span), 0.0))
    return np.where(np.isnan(a) | np.isnan(lo) | np.isnan(hi), np.nan, r)


def achievement_rate(target, actual, polarity, band_low=None, band_high=None, *, baseline=None,
                     cap: float = np.inf, floor: float = -np.inf, band_falloff: float = 0.5):
    """Achievement rate of KPI targets against actuals: the one rule of the whole library.

    The scoring engine (:func:`kpi_rates`, then clipped to ``[floor, cap]``) and every
    difficulty analysis (:func:`bsc_lib.analyses.difficulty.achievement_rates`,
    ``achievement_bunching``, ``target_loosening``, ``kpi_difficulty``'s chronic
    over-achiever) compute rates with this function. Vectorised; no clipping here.

    Rule (``T`` target, ``A`` actual; "unbounded" = the ratio is infinite):

    ============  ===========  ===========  ============================================
    polarity      target       actual       rate
    ============  ===========  ===========  ============================================
    up            ``T > 0``    any          ``A/T`` (negative when ``A < 0``)
    up            ``T = 0``    ``A > 0``    unbounded above → ``cap``
    up            ``T = 0``    ``A = 0``    ``1`` (target met exactly)
    up            ``T = 0``    ``A < 0``    unbounded below → ``floor``
    up            ``T < 0``    any          ``1 + (A − T)/|T|``
    down          ``T > 0``    ``A > 0``    ``T/A``
    down          ``T > 0``    ``A ≤ 0``    unbounded above → ``cap`` (0 beats any
                                            positive target)
    down          ``T = 0``    ``A < 0``    unbounded above → ``cap``
    down          ``T = 0``    ``A = 0``    ``1`` (target met exactly)
    down          ``T = 0``    ``A > 0``    unbounded below → ``floor``
    down          ``T < 0``    any          ``1 + (T − A)/|T|``
    band          —            any          1 inside ``[band_low, band_high]``, linear
                                            fall-off outside (below)
    ============  ===========  ===========  ============================================

    So with a zero target the sign of the actual decides: met exactly → 1, on the good side →
    ``cap``, on the bad side → ``floor``. For a negative target the rate is
    difference-based (it equals ``A/T`` for positive targets and keeps "better than the
    target" above 1 whatever the signs). A ratio that overflows (a target of 1e-310 …) is
    unbounded too. A missing target or actual (or an unknown polarity) gives NaN.

    ``baseline`` (the engine's ``formula: baseline_progress``): ``(A − B)/(T − B)`` where the
    target lies beyond the baseline ``B`` in the KPI's direction (up ``T > B``, down
    ``T < B``); elsewhere (no baseline, or target not beyond it) the ratio rule above.

    Band KPIs: 1 inside ``[band_low, band_high]``; outside, linear fall-off to 0 at a
    distance of ``band_falloff × (high − low)`` (``× |violated limit|`` for a zero-width band;
    when that is 0 too, any miss is 0). A missing limit is replaced by the target; inverted
    limits are swapped. Band rates lie in ``[0, 1]``; ``cap`` and ``floor`` do not apply.

    Parameters
    ----------
    target, actual
        Numbers (Series, arrays or scalars; non-numbers count as missing).
    polarity
        ``"up"``, ``"down"`` or ``"band"`` per row (or one value for all).
    band_low, band_high
        Band limits (only read for band KPIs); None = missing (the target is used).
    baseline
        Baseline per row for the baseline-progress formula; None = ratio rule only.
    cap, floor
        The value given to an unbounded rate above / below. The defaults (``±inf``) are the
        mathematical limits, as the analyses use them; the engine passes its scheme's cap and
        floor, so these rows score exactly the cap / the floor after clipping.
    band_falloff
        Fall-off of band KPIs (the 2019 scheme's 0.5 by default).

    Returns
    -------
    pandas.Series or numpy.ndarray
        The uncapped rate: a Series named ``rate`` with the index of the first Series among
        ``target``, ``actual``, ``polarity``; otherwise an array (a float for scalars).

    Examples
    --------
    >>> achievement_rate([0, 0, 80, 100], [0, 3, 0, 120], ["down", "down", "down", "up"])
    array([ 1. , -inf,  inf,  1.2])
    >>> achievement_rate([0, 80], [3, 0], "down", cap=1.2, floor=0.0)
    array([0. , 1.2])
    """
    index = next((x.index for x in (target, actual, polarity) if isinstance(x, pd.Series)), None)
    t, a = _as_array(target), _as_array(actual)
    pol = (polarity.to_numpy(dtype=object, na_value="") if isinstance(polarity, pd.Series)
           else np.asarray(polarity, dtype=object))
    t, a, pol = np.broadcast_arrays(t, a, pol)
    lo = _as_array(band_low, t.shape) if band_low is not None else np.full(t.shape, np.nan)
    hi = _as_array(band_high, t.shape) if band_high is not None else np.full(t.shape, np.nan)
    up, down, band = pol == "up", pol == "down", pol == "band"
    inf = np.inf
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        up_rate = np.select([t > 0, t == 0, t < 0],
                            [a / t, np.where(a > 0, inf, np.where(a == 0, 1.0, -inf)), 1 + (a - t) / np.abs(t)],
                            np.nan)
        down_rate = np.select([(t > 0) & (a > 0), (t > 0) & (a <= 0), t == 0, t < 0],
                              [t / a, np.full(t.shape, inf), np.where(a < 0, inf, np.where(a == 0, 1.0, -inf)),
                               1 + (t - a) / np.abs(t)], np.nan)
        rate = np.where(up, up_rate, np.where(down, down_rate, np.nan))
        rate = np.where(np.isnan(t) | np.isnan(a), np.nan, rate)
        if baseline is not None:
            b = np.broadcast_to(_as_array(baseline), t.shape)
            bp_ok = ~np.isnan(b) & ((up & (t > b)) | (down & (t < b)))
            rate = np.where(bp_ok, (a - b) / (t - b), rate)
    if band.any():
        lo = np.where(np.isnan(lo), t, lo)
        hi = np.where(np.isnan(hi), t, hi)
        lo, hi = np.minimum(lo, hi), np.maximum(lo, hi)
        rate = np.where(band, _band_rate(a, lo, hi, float(band_falloff)), rate)
    rate = np.where(np.isposinf(rate), float(cap), np.where(np.isneginf(rate), float(floor), rate))
    if index is not None:
        return pd.Series(rate, index=index, name="rate")
    return float(rate) if rate.ndim == 0 else rate


def kpi_rows_rate(rows: pd.DataFrame, params: Achievement, *, cap: float = np.inf,
                  floor: float = -np.inf) -> np.ndarray:
    """:func:`achievement_rate` of :func:`kpi_rates` rows under ``params`` (formula, band fall-off).

    ``cap``/``floor`` as in :func:`achievement_rate` (the engine passes the scheme's; the
    what-if keeps ``±inf`` to re-cap the rows under another cap).
    """
    bp = params.formula == "baseline_progress"
    return achievement_rate(rows["target"].to_numpy(float), rows["actual"].to_numpy(float),
                            rows["polarity"].to_numpy(dtype=object), rows["band_low"].to_numpy(float),
                            rows["band_high"].to_numpy(float),
                            baseline=rows["baseline"].to_numpy(float) if bp else None,
                            cap=cap, floor=floor, band_falloff=float(params.band_falloff))


def _rule_masks(rate: np.ndarray, actual: np.ndarray, verified: np.ndarray) -> tuple[np.ndarray, ...]:
    """``(missing, no_target, unverified)``: the rows whose capped rate follows a rule."""
    missing = np.isnan(actual)
    no_target = ~missing & np.isnan(rate)
    unverified = ~missing & ~no_target & ~np.asarray(verified, dtype=bool)
    return missing, no_target, unverified


def capped_rates(rate: np.ndarray, actual: np.ndarray, verified: np.ndarray, params: Achievement, *,
                 cap: float | None = None) -> np.ndarray:
    """Capped rate: ``rate`` clipped to ``[floor, cap]``, or the rule value of a missing or
    unverified actual (``zero`` → 0, ``exclude`` → NaN, i.e. out of the weighted mean).

    Parameters
    ----------
    rate
        Rates from :func:`achievement_rate` (``±inf`` allowed: they clip to cap / floor).
    actual, verified
        The rows' actual (NaN = missing) and verification.
    params
        ``scheme.components.achievement`` (floor, ``missing_rule``, ``unverified_rule``).
    cap
        The cap; None = ``params.cap`` (the what-if passes another).
    """
    cap = float(params.cap if cap is None else cap)
    rate = np.asarray(rate, dtype=float)
    missing, no_target, unverified = _rule_masks(rate, np.asarray(actual, dtype=float), verified)
    capped = np.clip(rate, float(params.floor), cap)
    miss_val = 0.0 if params.missing_rule == "zero" else np.nan
    unv_val = 0.0 if params.unverified_rule == "zero" else np.nan
    capped = np.where(missing | no_target, miss_val, capped)
    return np.where(unverified, unv_val, capped)


def kpi_rates(kpis: pd.DataFrame, kpi_results: pd.DataFrame, kpi_history: pd.DataFrame,
              params: Achievement, *, year: int, halves: list[str],
              codes: Mapping[str, Codes] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rate and capped rate of every KPI in every half of ``halves``.

    Parameters
    ----------
    kpis, kpi_results, kpi_history
        Canonical input tables.
    params
        ``scheme.components.achievement``.
    year
        Evaluation year (``kpi_results.year``; the baseline uses history years ``≤ year − 1``).
    halves
        Halves to rate (a KPI without a result row in a half is treated as a missing actual).
    codes
        Optional :class:`bsc_lib.scoring.components.Codes` of ``kpis``, ``kpi_results`` and
        ``kpi_history`` (keys: the table names), as the scoring engine computes them.

    Returns
    -------
    tuple of DataFrame
        ``(rows, flags)``. ``rows``: one row per KPI and half with ``kpi_id, owner_id, level,
        polarity, weight, half, target, actual, baseline, verified, has_row, rate,
        capped_rate, flag``. ``flags``: the flag rows (``unit_id`` = KPI owner, ``item`` =
        ``kpi_id``).
    """
    k = pd.DataFrame({
        "kpi_id": ids(kpis["kpi_id"]), "owner_id": ids(kpis["owner_id"]), "level": ids(kpis["level"]),
        "polarity": ids(kpis["polarity"]), "weight": num(kpis["weight"]),
        "band_low": num(kpis["band_low"]) if "band_low" in kpis else np.nan,
        "band_high": num(kpis["band_high"]) if "band_high" in kpis else np.nan,
    })
    codes = dict(codes or {})
    kc = codes.get("kpis")
    kc = kc if kc is not None and kc.frame is kpis and kc.order is None else Codes(kpis)
    k_code, k_u = kc("kpi_id")
    if _has_duplicates(k_code):
        check_unique(k, ["kpi_id"], "kpis")
    bad_w = k["weight"].isna() | (k["weight"] < 0)
    if bad_w.any():
        raise DataError([Problem(file="kpis", rule="range", column="weight", value=str(v),
                                 message="KPI weight missing or negative")
                         for v in k.loc[bad_w, "kpi_id"].head(20)])
    bad_p = ~k["polarity"].isin(["up", "down", "band"])
    if bad_p.any():
        raise DataError([Problem(file="kpis", rule="allowed", column="polarity", value=str(v),
                                 message="polarity must be up, down or band")
                         for v in k.loc[bad_p, "polarity"].head(20)])
    halves = list(halves)
    n_h = len(halves)
    grid = k.merge(pd.DataFrame({"half": pd.Series(halves, dtype="str")}), how="cross")
    # KPI id → row of k (ids are unique now); a missing id is matched like pandas merges it
    k_index = pd.Index(k["kpi_id"])
    # ids unique (checked above), none missing, all text: k_code is a permutation of k's rows
    k_plain = (len(k_code) == len(k_u) and not bool((k_code < 0).any())
               and pd.api.types.infer_dtype(k_u, skipna=False) == "string")

    def kpi_row(uniques: np.ndarray) -> np.ndarray:
        if k_plain and len(uniques) == len(k_u) and pd.api.types.infer_dtype(uniques, skipna=False) == "string" \
                and bool((np.asarray(uniques, dtype=object) == k_u).all()):
            # the same ids as k's, sorted: the row of each is read from k's codes, no string hashed
            rows = np.empty(len(k_u), dtype=np.intp)
            rows[k_code] = np.arange(len(k_code), dtype=np.intp)
            return np.append(rows, -1)  # no missing id in k: a missing id matches no row
        pos = k_index.get_indexer(pd.Index(uniques, dtype=object)) if len(uniques) else np.zeros(0, dtype=np.intp)
        return np.append(pos, k_index.get_indexer(pd.Index([np.nan], dtype=object)))

    rc = codes.get("kpi_results")
    rc = rc if rc is not None and rc.frame is kpi_results and rc.order is None else Codes(kpi_results)
    r_half, r_half_u = rc("half")
    h_pos = np.append(lookup(halves, r_half_u) if len(r_half_u) else np.zeros(0, dtype=np.intp), -1)
    sel = (num(kpi_results["year"]) == year).to_numpy(dtype=bool) & (h_pos[r_half] >= 0)
    r_kpi, r_kpi_u = rc("kpi_id")
    idx = np.flatnonzero(sel)
    rk, rh = r_kpi[idx], r_half[idx]
    if _has_duplicates((rk.astype(np.int64) + 1) * (len(r_half_u) + 1) + rh):
        sub = kpi_results.iloc[idx]
        check_unique(pd.DataFrame({"kpi_id": ids(sub["kpi_id"]), "half": ids(sub["half"])}), ["kpi_id", "half"],
                     "kpi_results")
    r_row = kpi_row(r_kpi_u)[rk]
    unknown = np.flatnonzero(r_row < 0)
    kpi_txt = np.append(np.asarray(r_kpi_u, dtype=object), None)
    half_txt = np.append(np.asarray(r_half_u, dtype=object), None)
    flag_frames = [make_flags(np.full(len(unknown), "", dtype=object), COMPONENT, "unknown_kpi",
                              item=kpi_txt[rk[unknown]], half=half_txt[rh[unknown]],
                              detail="kpi_results row for a KPI not in kpis: ignored")]
    found = r_row >= 0
    gpos = r_row[found].astype(np.int64) * n_h + h_pos[rh[found]]
    src = idx[found]
    target = np.full(len(grid), np.nan)
    actual = np.full(len(grid), np.nan)
    verified = np.zeros(len(grid), dtype=bool)
    has_row = np.zeros(len(grid), dtype=bool)
    target[gpos] = num(kpi_results["target"]).to_numpy(dtype=float)[src]
    actual[gpos] = num(kpi_results["actual"]).to_numpy(dtype=float)[src]
    verified[gpos] = as_bool(kpi_results["verified"]).to_numpy(dtype=bool)[src]
    has_row[gpos] = True
    m = grid
    m["target"] = target
    m["actual"] = actual
    m["verified"] = verified
    m["has_row"] = has_row

    # baseline: the last history actual of a year ≤ year − 1 (history sorted by KPI, year)
    hc = codes.get("kpi_history")
    hc = hc if hc is not None and hc.frame is kpi_history and hc.order is None else Codes(kpi_history)
    hy = num(kpi_history["year"])
    ha = num(kpi_history["actual"])
    hsel = np.flatnonzero(((hy <= year - 1) & ha.notna()).to_numpy(dtype=bool))
    h_kpi, h_kpi_u = hc("kpi_id")
    h_year, h_year_u = hc("year")
    baseline_k = np.full(len(k), np.nan)
    if len(hsel):
        hk = np.where(h_kpi[hsel] < 0, len(h_kpi_u), h_kpi[hsel]).astype(np.int64)
        hyr = np.where(h_year[hsel] < 0, len(h_year_u), h_year[hsel]).astype(np.int64)
        order = np.argsort(hk * (len(h_year_u) + 1) + hyr, kind="stable")
        hk_o = hk[order]
        last = np.ones(len(order), dtype=bool)
        last[:-1] = hk_o[1:] != hk_o[:-1]
        pick = hsel[order[last]]
        pos = kpi_row(h_kpi_u)[np.where(h_kpi[pick] < 0, len(h_kpi_u), h_kpi[pick])]
        ok = pos >= 0
        baseline_k[pos[ok]] = ha.to_numpy(dtype=float)[pick[ok]]
    m["baseline"] = np.repeat(baseline_k, n_h)

    t = m["target"].to_numpy(float)
    a = m["actual"].to_numpy(float)
    b = m["baseline"].to_numpy(float)
    pol = m["polarity"].to_numpy()
    up, down, band = pol == "up", pol == "down", pol == "band"
    cap, floor = float(params.cap), float(params.floor)

    rate = kpi_rows_rate(m, params, cap=cap, floor=floor)
    # which rule applied (for the flags; the rate itself comes from achievement_rate)
    use_bp = (params.formula == "baseline_progress") & ~band
    bp_ok = use_bp & ~np.isnan(b) & ((up & (t > b)) | (down & (t < b)))
    lo = m["band_low"].to_numpy(float)
    hi = m["band_high"].to_numpy(float)
    no_band = band & (np.isnan(lo) | np.isnan(hi))
    inverted = band & (np.where(np.isnan(lo), t, lo) > np.where(np.isnan(hi), t, hi))

    verified = m["verified"].to_numpy(bool)
    missing, no_target, unverified = _rule_masks(rate, a, verified)
    capped = capped_rates(rate, a, verified, params)
    m["rate"] = rate
    m["capped_rate"] = capped

    scored = ~missing & ~no_target
    miss_txt = f"actual missing: {'rate 0' if params.missing_rule == 'zero' else 'excluded'} (missing_rule={params.missing_rule})"
    rules = [
        (missing & ~m["has_row"].to_numpy(), "missing_actual", "no kpi_results row for the half; " + miss_txt),
        (missing & m["has_row"].to_numpy(), "missing_actual", miss_txt),
        (no_target, "missing_target",
         f"target (or band limits) missing: rate not computable (missing_rule={params.missing_rule})"),
        (unverified, "unverified",
         f"actual not verified: {'rate 0' if params.unverified_rule == 'zero' else 'excluded'} "
         f"(unverified_rule={params.unverified_rule})"),
        (scored & ~band & (t == 0), "zero_target", "target 0: rate set by rule (cap / 1 / floor)"),
        (scored & ~band & ((t < 0) | (a < 0)), "negative_value",
         "negative target or actual: difference-based rate or cap/floor"),
        (scored & down & (t > 0) & (a == 0), "zero_actual", "down KPI with actual 0: rate = cap"),
        (scored & use_bp & np.isnan(b), "no_baseline", "no history actual before the year: ratio used"),
        (scored & use_bp & ~np.isnan(b) & ~bp_ok, "target_not_beyond_baseline",
         "target not beyond the baseline in the KPI's direction: ratio used"),
        (band & no_band, "no_band", "band limit missing: the target is used"),
        (band & inverted, "band_inverted", "band_low > band_high: limits swapped"),
    ]
    joined = np.full(len(m), "", dtype=object)  # the row's flags, ";"-joined in rule order
    owner, kid, half = (m[c].to_numpy(dtype=object) for c in ("owner_id", "kpi_id", "half"))
    for mask, flag, detail in rules:
        sel = np.flatnonzero(mask)
        flag_frames.append(make_flags(owner[sel], COMPONENT, flag, item=kid[sel], detail=detail, half=half[sel]))
        cur = joined[sel]
        joined[sel] = np.where(cur == "", flag, cur + ";" + flag)
    flags = concat_flags(flag_frames)
    joined[pd.isna(kid) | (kid == "")] = ""  # flags without an item are not joined to a row
    m["flag"] = pd.Series(joined, dtype="str")
    return m, flags


def _has_duplicates(codes: np.ndarray) -> bool:
    """Whether integer codes (≥ −1; −1 = missing, missing values equal each other) repeat."""
    if len(codes) < 2:
        return False
    c = codes.astype(np.int64) + 1
    return bool(np.bincount(c).max() > 1) if c.max() < 50_000_000 else bool(len(np.unique(c)) < len(c))


@dataclass(frozen=True)
class Weighting:
    """The cap-independent part of the aggregation of KPI rows into unit points.

    Built by :func:`kpi_weighting`; :func:`unit_points` applies it to capped rates. Arrays are
    aligned to the rows.

    Attributes
    ----------
    unit_codes
        Code of the row's unit in ``units`` (−1: no unit).
    units
        Unit ids of the codes.
    key
        Group code of (unit, half) (NaN when the unit or half is missing).
    share
        The row's weight share in its (unit, half): ``w / Σ w`` over the included rows (equal
        shares when the included weights sum to 0; 0 for an excluded row).
    half_weight
        The ``year_combine`` weight of the row's half.
    n_included, weight_sum
        Included rows and their weight sum in the row's (unit, half).
    """

    unit_codes: np.ndarray
    units: pd.Index
    key: np.ndarray
    share: np.ndarray
    half_weight: np.ndarray
    n_included: np.ndarray
    weight_sum: np.ndarray


def kpi_weighting(rows: pd.DataFrame, unit_col: str, weights: Mapping[str, float]) -> Weighting:
    """Weight shares of KPI rows grouped by ``unit_col`` and half (see :class:`Weighting`).

    ``rows`` need ``unit_col``, ``half``, ``weight`` and ``capped_rate`` (NaN = excluded; which
    rows are excluded does not depend on the cap). The groups are integer codes of (unit, half):
    the same groups, rows and order as grouping by the strings, so the same sums.
    """
    uc, uu = pd.factorize(rows[unit_col])
    hc, hu = pd.factorize(rows["half"])
    missing = (uc < 0) | (hc < 0)
    key = uc.astype(np.int64) * max(len(hu), 1) + hc
    if missing.any():
        key = np.where(missing, np.nan, key)
    inc = pd.Series(rows["capped_rate"].notna().to_numpy(), index=rows.index)
    w = rows["weight"].where(inc, 0.0)
    wsum = w.groupby(key).transform("sum")
    ninc = inc.astype(float).groupby(key).transform("sum")
    eff = np.where(wsum > 0, w / wsum.where(wsum > 0, 1.0),
                   np.where(inc & (ninc > 0), 1.0 / ninc.where(ninc > 0, 1.0), 0.0))
    hw_u = np.append(pd.Series(hu, dtype="str").map(dict(weights)).astype(float).fillna(0.0).to_numpy(), 0.0)
    return Weighting(unit_codes=uc, units=pd.Index(np.asarray(uu, dtype=object), dtype=object), key=key,
                     share=eff, half_weight=hw_u[hc], n_included=ninc.to_numpy(), weight_sum=wsum.to_numpy())


def unit_points(capped: np.ndarray, weighting: Weighting, *, points: float, cap: float) -> tuple[np.ndarray, pd.Series]:
    """Achievement points of units from capped rates: ``points × Σ_h w_h Σ_k share_k·capped_k / cap``.

    The one aggregation of the component: :func:`score_achievement` and the what-if
    (:func:`bsc_lib.analyses.whatif.achievement_fractions`, with ``points=1``) both call it.

    Parameters
    ----------
    capped
        Capped rates of the rows (:func:`capped_rates`; NaN = excluded, contributes 0).
    weighting
        :func:`kpi_weighting` of the same rows.
    points, cap
        The component's points and the cap the rates were capped at.

    Returns
    -------
    tuple
        ``(value, totals)``: each row's contribution (array) and the points per unit
        (Series indexed by the unit ids that have rows).
    """
    c = np.asarray(capped, dtype=float)
    frac = weighting.share * np.where(np.isnan(c), 0.0, c) / cap
    value = frac * points * weighting.half_weight
    uc = weighting.unit_codes
    ok = uc >= 0
    tot = pd.Series(value[ok]).groupby(uc[ok]).sum()
    tot.index = pd.Index(np.asarray(weighting.units, dtype=object)[tot.index.to_numpy(dtype=np.intp)], dtype=object)
    return value, tot


def _score_units(rows: pd.DataFrame, unit_col: str, units: pd.DataFrame,
                 weights: Mapping[str, float], points: float, cap: float) -> tuple[
                     pd.DataFrame, Callable[[], pd.DataFrame], pd.DataFrame, pd.Series]:
    """Points of the units of ``unit_col`` (:func:`kpi_weighting` and :func:`unit_points`) with
    their details and flags.

    Returns ``(scores, details builder, flags, value)``; ``value`` is aligned to ``rows``.
    """
    rows = rows.reset_index(drop=True)
    wt = kpi_weighting(rows, unit_col, weights)
    value_arr, tot = unit_points(rows["capped_rate"].to_numpy(float), wt, points=points, cap=cap)
    value = pd.Series(value_arr, index=rows.index)
    eff = wt.share

    def details() -> pd.DataFrame:
        return pd.DataFrame({
            "unit_id": rows[unit_col], "unit_level": rows[unit_col].map(units.set_index("unit_id")["unit_level"]),
            "item": rows["kpi_id"], "half": rows["half"],
            "source_id": rows["owner_id"].where(rows["owner_id"] != rows[unit_col], ""),
            "value": value, "target": rows["target"], "actual": rows["actual"],
            "baseline": rows["baseline"], "rate": rows["rate"], "capped_rate": rows["capped_rate"],
            "weight": rows["weight"], "weight_share": eff,
        })

    scores = pd.DataFrame({"unit_id": units["unit_id"], "unit_level": units["unit_level"],
                           "points": map_float(units["unit_id"], tot).fillna(0.0),
                           "max_points": float(points)})
    first = first_occurrence(np.where(np.isnan(wt.key), -1, wt.key).astype(np.int64))
    g = pd.DataFrame({"unit": rows[unit_col].to_numpy()[first], "half": rows["half"].to_numpy()[first],
                      "ninc": wt.n_included[first], "wsum": wt.weight_sum[first]})
    none = g.loc[g["ninc"] == 0]
    zero_w = g.loc[(g["ninc"] > 0) & (g["wsum"] == 0)]
    no_kpis = units.loc[~units["unit_id"].isin(wt.units), "unit_id"]
    flags = concat_flags([
        make_flags(no_kpis.to_numpy(), COMPONENT, "no_kpis", detail="unit has no KPIs: 0 points"),
        make_flags(none["unit"].to_numpy(), COMPONENT, "no_scored_kpis", half=none["half"].to_numpy(),
                   detail="every KPI excluded in this half: 0 points for the half"),
        make_flags(zero_w["unit"].to_numpy(), COMPONENT, "zero_weights", half=zero_w["half"].to_numpy(),
                   detail="included KPI weights sum to 0: equal weights used"),
    ])
    return scores, details, flags, value


@dataclass
class PreparedAchievement:
    """:func:`kpi_rates` output split by owner kind (shared by the evaluations of a scheme)."""

    rows: pd.DataFrame
    flags: pd.DataFrame
    is_dept: np.ndarray
    is_inst: np.ndarray
    drows: pd.DataFrame
    irows: pd.DataFrame
    unknown_owner_flags: pd.DataFrame
    _flag: pd.Series | None = None

    def flag_not_used(self) -> pd.Series:
        """The ``flag`` column with ``not_used`` appended on institution-owned KPIs."""
        if self._flag is None:
            f = self.rows["flag"].copy()
            f.loc[self.is_inst] = (f.loc[self.is_inst] + ";not_used").str.lstrip(";")
            self._flag = f
        return self._flag


def prepare_split(rows: pd.DataFrame, flags: pd.DataFrame, departments: pd.DataFrame,
                  institutions: pd.DataFrame) -> PreparedAchievement:
    """Split :func:`kpi_rates` rows by owner: departments, institutions, unknown (flagged)."""
    oc, ou = pd.factorize(rows["owner_id"])
    ou = pd.Index(ou, dtype=object)
    is_dept = np.append(ou.isin(ids(departments["department_id"])), False)[oc]
    is_inst = np.append(ou.isin(ids(institutions["institution_id"])), False)[oc]
    unk = np.flatnonzero(~is_dept & ~is_inst)
    unk = unk[first_occurrence(oc[unk])]
    unknown = make_flags(rows["owner_id"].to_numpy()[unk], COMPONENT, "unknown_owner",
                         detail="KPI owner is neither a department nor an institution: ignored")
    return PreparedAchievement(rows=rows, flags=flags, is_dept=is_dept, is_inst=is_inst,
                               drows=rows.loc[is_dept].assign(unit=lambda x: x["owner_id"]),
                               irows=rows.loc[is_inst].assign(unit=lambda x: x["owner_id"]),
                               unknown_owner_flags=unknown)


def institution_rows(prep: PreparedAchievement, departments: pd.DataFrame,
                     institution_from: str) -> pd.DataFrame | None:
    """KPI rows scored for institutions, ``unit`` = the institution (None for ``departments_mean``).

    ``own_kpis``: the institutions' own KPI rows; ``all_kpis``: those and every department's KPI
    rows pooled per institution (raw weights).
    """
    if institution_from == "departments_mean":
        return None
    if institution_from == "own_kpis":
        return prep.irows
    dmap = departments[["department_id", "institution_id"]].astype("str")
    return pd.concat([
        prep.irows,
        prep.drows.drop(columns="unit").merge(dmap, left_on="owner_id", right_on="department_id")
        .drop(columns="department_id").rename(columns={"institution_id": "unit"}),
    ], ignore_index=True)


def score_achievement(kpis: pd.DataFrame, kpi_results: pd.DataFrame, kpi_history: pd.DataFrame,
                      departments: pd.DataFrame, institutions: pd.DataFrame, params: Achievement, *,
                      points: float, year: int, weights: Mapping[str, float],
                      rates: tuple[pd.DataFrame, pd.DataFrame] | PreparedAchievement | None = None,
                      ) -> ComponentResult:
    """Achievement points of every department and institution.

    Parameters
    ----------
    kpis, kpi_results, kpi_history, departments, institutions
        Canonical input tables.
    params
        ``scheme.components.achievement``.
    points
        The component's points in the evaluation.
    year
        Evaluation year.
    weights
        ``{half: weight}`` (see :func:`bsc_lib.scoring.components.half_weights`).
    rates
        The output of :func:`kpi_rates` for the same inputs, ``year`` and halves, or that of
        :func:`prepare_split` on it, when already computed (the scoring engine shares it between
        evaluations); computed when None.

    Returns
    -------
    ComponentResult
        ``scores`` (departments and institutions), ``details`` (one row per unit, KPI and half
        with ``target, actual, baseline, rate, capped_rate, weight, weight_share``), ``flags``
        and ``tables["kpi"]``: one row per KPI and half with columns ``kpi_id, owner_id, level,
        polarity, weight, target, actual, baseline, verified, rate, capped_rate, flag, points,
        half`` (``points`` = the KPI's contribution to its owner's achievement points).
    """
    halves = list(weights)
    if isinstance(rates, PreparedAchievement):
        prep = rates
    else:
        rows, flags = rates if rates is not None else kpi_rates(kpis, kpi_results, kpi_history, params, year=year,
                                                                halves=halves)
        prep = prepare_split(rows, flags, departments, institutions)
    rows, flags, is_inst = prep.rows, prep.flags, prep.is_inst
    dept = pd.DataFrame({"unit_id": ids(departments["department_id"]), "unit_level": "department"})
    inst = pd.DataFrame({"unit_id": ids(institutions["institution_id"]), "unit_level": "institution"})
    cap = float(params.cap)
    flag_frames = [flags, prep.unknown_owner_flags]

    drows = prep.drows
    d_scores, d_details, d_flags, d_value = _score_units(drows, "unit", dept, weights, points, cap)
    flag_frames.append(d_flags)
    kpi_points = pd.Series(d_value.to_numpy(), index=drows.index)

    irows = prep.irows
    if params.institution_from == "departments_mean":
        i_scores, i_flags = institution_scores(d_scores, departments, inst["unit_id"], COMPONENT, points)

        def i_details() -> pd.DataFrame:
            return institution_details(d_details(), departments)
        nu = irows.drop_duplicates("kpi_id")
        i_flags = concat_flags([i_flags, make_flags(
            nu["owner_id"].to_numpy(), COMPONENT, "not_used", item=nu["kpi_id"].to_numpy(),
            detail="institution-level KPI not scored (institution_from=departments_mean)")])
    elif params.institution_from == "own_kpis":
        i_scores, i_details, i_flags, i_value = _score_units(irows, "unit", inst, weights, points, cap)
        kpi_points = pd.concat([kpi_points, pd.Series(i_value.to_numpy(), index=irows.index)])
    else:  # all_kpis
        pooled = institution_rows(prep, departments, params.institution_from)
        i_scores, i_details, i_flags, i_value = _score_units(pooled, "unit", inst, weights, points, cap)
        own = pooled["owner_id"] == pooled["unit"]
        kpi_points = pd.concat([kpi_points, pd.Series(
            i_value.to_numpy()[own.to_numpy()], index=irows.index)])
    flag_frames.append(i_flags)

    kpi = rows.copy(deep=False)  # copy-on-write: only the columns set below are new
    if params.institution_from == "departments_mean" and is_inst.any():
        kpi["flag"] = prep.flag_not_used()
    kpi["points"] = kpi_points.reindex(kpi.index).fillna(0.0).astype(float)
    kpi = kpi[KPI_COLUMNS]
    scores = concat_frames([d_scores, i_scores], d_scores.iloc[0:0])

    def details() -> pd.DataFrame:
        return concat_frames([d_details(), i_details()], empty_details(_DETAIL_EXTRA))

    log.debug("achievement: %d KPI rows, %d units", len(rows), len(scores))
    return ComponentResult(COMPONENT, scores, details, concat_flags(flag_frames) if flag_frames else empty_flags(),
                           tables={"kpi": kpi})


def _prepare_for_engine(inp: ScoringInput):
    c = inp.scheme.components.achievement
    t = inp.tables
    rows, flags = kpi_rates(t["kpis"], t["kpi_results"], t["kpi_history"], c, year=inp.year,
                            halves=list(half_weights(c.year_combine, inp.half)),
                            codes={n: inp.codes.pop(n) for n in ("kpis", "kpi_results", "kpi_history") if n in inp.codes})
    return prepare_split(rows, flags, t["departments"], t["institutions"])


def _score_for_engine(inp: ScoringInput, prepared, evaluation: str, points: float) -> ComponentResult:
    c = inp.scheme.components.achievement
    t = inp.tables
    return score_achievement(t["kpis"], t["kpi_results"], t["kpi_history"], t["departments"], t["institutions"], c,
                             points=points, year=inp.year, weights=half_weights(c.year_combine, inp.half),
                             rates=prepared)


register(Component("achievement", score=_score_for_engine, prepare=_prepare_for_engine))
