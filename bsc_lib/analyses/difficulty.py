"""Indicator difficulty: are the KPI targets demanding? (spec §6, problem 1 "easy indicators").

Every target is compared with what the KPI's own history predicts for the evaluation year:

* ``trend_forecast`` F — the ordinary least-squares linear trend of the yearly actuals
  (``kpi_history``, years before the evaluation year) evaluated at the evaluation year;
* ``pred_se`` — the standard error of a *new observation* at that year,
  ``s · sqrt(1 + 1/n + (x0 − x̄)² / Sxx)`` with ``s² = SSR / (n − 2)``, and the matching
  t prediction interval (``n − 2`` degrees of freedom);
* ``gap`` — the polarity-signed relative gap, ``(target − F) / |F|`` for ``up`` KPIs and
  ``(F − target) / |F|`` for ``down`` KPIs, so a positive gap always means "more demanding
  than the trend" and a negative gap "easier than simply continuing the trend";
* ``challenge_z`` — the same signed difference in units of ``pred_se``.

Flags: ``easy`` (``gap < −easy_margin``, only for KPIs with at least ``min_history``
history points), ``hard`` (``gap > hard_margin``), ``regressive`` (target worse than the
last actual), ``chronic_overachiever`` (target met at ``≥ cap`` in every available
period) and ``no_history``.

Threshold choice. ``easy_margin = 0.02`` and ``min_history = 3``: a linear trend fitted on
two points has no residual and therefore no estimate of its own noise, so with fewer than
three points a "below trend" target cannot be told apart from measurement noise; three
points is the smallest sample with a prediction standard error. The 2 % margin keeps a
target that merely rounds the trend (|gap| ≤ 2 %) out of the "easy" class. Both are
parameters.

The unit summaries (:func:`unit_difficulty`), a cross-check against the pre-evaluation's
"KPI challenge" rating (:func:`challenge_crosscheck`) and two gaming detectors
(:func:`achievement_bunching`, :func:`target_loosening`) build on the KPI table.
All functions are pure: DataFrames and parameters in, tidy DataFrames out.

Achievement rates. Every rate here (:func:`achievement_rates`, the bunching window, the
chronic over-achiever test, a loosened target step) is
:func:`bsc_lib.scoring.components.achievement.achievement_rate`, the scoring engine's own rule,
uncapped: zero and negative targets and actuals are treated exactly as the engine treats them,
and a rate the engine scores at its cap (an up KPI with target 0 and a positive actual, a down
KPI with actual 0 against a positive target …) is ``+inf`` here, one it scores at its floor
``−inf``.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable

import numpy as np
import pandas as pd
from scipy import stats

from bsc_lib import parallel
from bsc_lib.data.model import KPI_TYPES, VALUE_ALIASES, category_codes, is_coded_text
from bsc_lib.scoring.components.achievement import achievement_rate

log = logging.getLogger(__name__)

#: Labels of the output columns (Korean default, English), for presenters.
DIFFICULTY_LABELS: dict[str, dict[str, str]] = {
    "n_history": {"ko": "과거실적 수", "en": "History points"},
    "last_actual": {"ko": "최근 실적", "en": "Last actual"},
    "last_year": {"ko": "최근 실적연도", "en": "Last year"},
    "mean_3y": {"ko": "최근 3년 평균", "en": "3-year mean"},
    "cagr": {"ko": "연평균 증가율", "en": "CAGR"},
    "trend_forecast": {"ko": "추세 예측치", "en": "Trend forecast"},
    "pred_se": {"ko": "예측 표준오차", "en": "Prediction SE"},
    "pi_low": {"ko": "95% 예측구간 하한", "en": "95% PI low"},
    "pi_high": {"ko": "95% 예측구간 상한", "en": "95% PI high"},
    "gap": {"ko": "목표-추세 격차", "en": "Gap to trend"},
    "challenge_z": {"ko": "도전성 z", "en": "Challenge z"},
    "target_percentile": {"ko": "목표 백분위(과거실적 대비)", "en": "Target percentile"},
    "assessable": {"ko": "판정가능", "en": "Assessable"},
    "easy": {"ko": "쉬운 목표", "en": "Easy target"},
    "hard": {"ko": "도전적 목표", "en": "Hard target"},
    "regressive": {"ko": "후퇴 목표", "en": "Regressive target"},
    "chronic_overachiever": {"ko": "상습 초과달성", "en": "Chronic overachiever"},
    "no_history": {"ko": "과거실적 없음", "en": "No history"},
    "reason": {"ko": "사유", "en": "Reason"},
    "n_kpis": {"ko": "지표 수", "en": "KPIs"},
    "n_assessable": {"ko": "판정가능 지표 수", "en": "Assessable KPIs"},
    "n_easy": {"ko": "쉬운 목표 수", "en": "Easy KPIs"},
    "share_easy": {"ko": "쉬운 목표 비율", "en": "Share easy"},
    "weight_on_easy": {"ko": "쉬운 목표 가중치 비중", "en": "Weight on easy"},
    "weight_on_hard": {"ko": "도전적 목표 가중치 비중", "en": "Weight on hard"},
    "mean_gap": {"ko": "평균 격차", "en": "Mean gap"},
    "weighted_gap": {"ko": "가중 평균 격차", "en": "Weighted gap"},
    "n_regressive": {"ko": "후퇴 목표 수", "en": "Regressive KPIs"},
    "easy_heavy": {"ko": "쉬운 목표에 가중치 절반 이상", "en": "Half the weight or more on easy"},
    "easy_majority": {"ko": "쉬운 목표가 과반", "en": "Mostly easy KPIs"},
    "share_bunched": {"ko": "100% 직상 달성 비율", "en": "Share just above 100%"},
    "consecutive_loosening": {"ko": "연속 목표 완화", "en": "Consecutive loosening"},
}

_SIGN = {"up": 1.0, "down": -1.0}


# --------------------------------------------------------------------------- helpers


def _require(df: pd.DataFrame, cols: Iterable[str], what: str) -> None:
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"{what}: expected a DataFrame, got {type(df).__name__}")
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ValueError(
            f"{what}: missing column(s) {missing}; available: {list(df.columns)}"
        )


def _num(s: pd.Series) -> pd.Series:
    """Numeric float Series; non-numbers and ±inf become NaN."""
    out = s if s.dtype == np.float64 else pd.to_numeric(s, errors="coerce").astype("float64")
    return out.where(np.isfinite(out))


def _polarity(s: pd.Series) -> pd.Series:
    """Polarity codes (accepts the Korean aliases of the model); unknown → NaN."""
    codes, uniques = pd.factorize(s.astype("str"))  # normalise the few distinct spellings, not every row
    raw = pd.Series(uniques, dtype="str").str.strip().str.lower()
    aliases = {k.lower(): v for k, v in VALUE_ALIASES["polarity"].items()}
    norm = raw.map(aliases).fillna(raw)
    norm = norm.where(norm.isin(["up", "down", "band"]))
    out = pd.Series(np.append(norm.to_numpy(dtype=object), np.nan)[codes], index=s.index, dtype="str")
    return out.where(out.isin(["up", "down", "band"]))


def _shared_id_codes(cols: list[pd.Series]) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes of the concatenated id columns as text (−1: missing), equal ids equal codes.

    Codes are positions in ``uniques``; which number an id gets does not matter to the callers
    (they group and match by code). When every column is categorical with text categories
    (``load(text="category")``), only the categories are hashed, not every row.
    """
    if all(is_coded_text(c.dtype) for c in cols):
        cats = [c.cat.categories for c in cols]
        if all(x is cats[0] or x.equals(cats[0]) for x in cats[1:]):
            # the same categories (the usual case): hashing them would number them 0, 1, 2 …
            # in their order, which is what the category codes already are
            return (np.concatenate([category_codes(c) for c in cols]).astype(np.intp),
                    np.asarray(pd.Series(cats[0], dtype="str")))
        cat_codes, uniques = pd.factorize(pd.concat([pd.Series(x, dtype="str") for x in cats], ignore_index=True),
                                          use_na_sentinel=True)
        parts, start = [], 0
        for c, x in zip(cols, cats, strict=True):
            lut = np.append(cat_codes[start:start + len(x)], -1)  # code −1 (missing) → −1
            start += len(x)
            parts.append(lut[category_codes(c)])
        return np.concatenate(parts).astype(np.intp), np.asarray(uniques)
    ids = pd.concat([c.astype("str").reset_index(drop=True) for c in cols], ignore_index=True)
    codes, uniques = pd.factorize(ids, use_na_sentinel=True)
    return codes, np.asarray(uniques)


def _add_reason(reason: np.ndarray, cond, text) -> np.ndarray:
    """Append ``text`` (a string or one per row) to ``reason`` where ``cond`` ("; "-separated)."""
    cond = np.asarray(cond, dtype=bool)
    out = np.asarray(reason, dtype=object).copy()
    idx = np.flatnonzero(cond)
    if len(idx):
        t = np.asarray(text, dtype=object)[idx] if np.ndim(text) else text
        cur = out[idx]
        out[idx] = np.where(cur == "", t, cur + "; " + t)
    return out


def _signed(pol: pd.Series) -> pd.Series:
    return pol.map(_SIGN).astype("float64")


# --------------------------------------------------------------------------- KPI level


def _mean_per_kpi_year(h: pd.DataFrame) -> pd.DataFrame:
    """``h.groupby(["kpi_id", "year"], as_index=False, sort=True)["actual"].mean()`` grouped on one
    int64 key (KPI code × number of years + year code) instead of two columns.

    The key orders the rows as the two columns do, so pandas numbers the groups alike and
    averages the same rows in the same order (same kernel, same bits); one integer key is
    factorised much faster than two (and not at all when it already rises).

    Parameters
    ----------
    h
        ``kpi_id`` (int64 codes ≥ 0), ``year`` (int64), ``actual`` (float).

    Returns
    -------
    pandas.DataFrame
        ``kpi_id, year, actual`` (the mean), one row per KPI and year, sorted by both.
    """
    kpi = h["kpi_id"].to_numpy(dtype=np.int64)
    y = h["year"].to_numpy(dtype=np.int64)
    if not len(y):
        return h.groupby(["kpi_id", "year"], as_index=False, sort=True)["actual"].mean()
    lo, hi = int(y.min()), int(y.max())
    if hi - lo < 1 << 20:  # years: the offset from the first is the code
        years, y_code = None, y - lo
        n_y = hi - lo + 1
    else:
        years, y_code = np.unique(y, return_inverse=True)
        n_y = len(years)
    key = kpi * n_y + y_code
    m = h["actual"].groupby(key, sort=True).mean()
    ku = m.index.to_numpy(dtype=np.int64)
    return pd.DataFrame({"kpi_id": ku // n_y,
                         "year": (ku % n_y + lo) if years is None else years[ku % n_y].astype(np.int64),
                         "actual": m.to_numpy()})


def _history_stats(hist: pd.DataFrame, year: int) -> pd.DataFrame:
    """Per-KPI trend statistics of a clean history (kpi_id, year, actual; no NaN)."""
    k, y = hist["kpi_id"].to_numpy(), hist["year"].to_numpy()
    if len(k) > 1 and bool(((k[1:] > k[:-1]) | ((k[1:] == k[:-1]) & (y[1:] >= y[:-1]))).all()):
        h = hist.reset_index(drop=True)  # already in (kpi_id, year) order: the stable sort keeps it
    else:
        h = hist.sort_values(["kpi_id", "year"], kind="stable").reset_index(drop=True)
    h["x"] = (h["year"] - year).astype("float64")
    g = h.groupby("kpi_id", sort=True)
    n = g.size().rename("n_history")
    xbar = g["x"].transform("mean")
    ybar = g["actual"].transform("mean")
    dx = h["x"] - xbar
    dy = h["actual"] - ybar
    sxx = (dx * dx).groupby(h["kpi_id"]).sum()
    sxy = (dx * dy).groupby(h["kpi_id"]).sum()
    slope = (sxy / sxx).where(sxx > 0)
    resid = dy - h["kpi_id"].map(slope) * dx
    ssr = (resid * resid).groupby(h["kpi_id"]).sum()
    scale = h["actual"].abs().groupby(h["kpi_id"]).max()
    # residuals of a perfectly linear (or constant) series are rounding noise: call them 0
    ssr = ssr.where(np.sqrt(ssr / n) > 1e-9 * scale.clip(lower=1e-300), 0.0)

    xbar_k = g["x"].mean()
    ybar_k = g["actual"].mean()
    forecast = (ybar_k + slope * (0.0 - xbar_k)).where(n >= 2)
    s2 = (ssr / (n - 2)).where(n >= 3)
    pred_se = np.sqrt(s2 * (1.0 + 1.0 / n + xbar_k**2 / sxx)).where(n >= 3)
    first = g[["year", "actual"]].first()
    last = g[["year", "actual"]].last()
    span = (last["year"] - first["year"]).astype("float64")
    pos = (first["actual"] > 0) & (last["actual"] > 0) & (n >= 2) & (span > 0)
    ratio = (last["actual"] / first["actual"]).where(pos)
    cagr = (ratio ** (1.0 / span.where(pos))) - 1.0
    recent = h[h["year"] >= year - 3]
    mean_3y = recent.groupby("kpi_id")["actual"].mean()
    out = pd.DataFrame(
        {
            "n_history": n,
            "last_actual": last["actual"],
            "last_year": last["year"],
            "mean_3y": mean_3y,
            "cagr": cagr,
            "cagr_nonpositive": (n >= 2) & ~((first["actual"] > 0) & (last["actual"] > 0)),
            "trend_forecast": forecast,
            "pred_se": pred_se,
        }
    )
    out.index.name = "kpi_id"
    return out.reset_index()


def kpi_difficulty(
    kpis: pd.DataFrame,
    history: pd.DataFrame,
    results: pd.DataFrame,
    year: int = 2019,
    target_half: str = "H2",
    easy_margin: float = 0.02,
    cap: float = 1.0,
    min_history: int = 3,
    hard_margin: float = 0.10,
    level: float = 0.95,
    min_periods: int = 2,
) -> pd.DataFrame:
    """How demanding is each KPI's target against the KPI's own history?

    Parameters
    ----------
    kpis
        Canonical ``kpis`` table; needs ``kpi_id`` and ``polarity`` (``owner_id``,
        ``name_ko``, ``kpi_type``, ``weight`` are carried when present).
    history
        ``kpi_history``: ``kpi_id, year, actual``. Only years before ``year`` are used;
        missing actuals are ignored; duplicate years are averaged.
    results
        ``kpi_results``: ``kpi_id, year, half, target, actual``. The target is the row of
        ``(year, target_half)``; every row of ``year`` and earlier years with a target
        and an actual is a period for ``chronic_overachiever`` (of an up or down KPI).
    year
        Evaluation year (the forecast point).
    target_half
        Half whose target is "the" target of the year (``H2``: the year-end target).
    easy_margin
        ``easy`` when ``gap < −easy_margin``.
    cap
        ``chronic_overachiever`` when the (uncapped) achievement rate
        (:func:`bsc_lib.scoring.components.achievement.achievement_rate`: up actual/target, down
        target/actual, zero and negative values as the engine treats them) is ``≥ cap`` in
        every available period.
    min_history
        Fewest history points for the ``easy``/``hard`` verdict (default 3: the
        smallest sample with a prediction standard error).
    hard_margin
        ``hard`` when ``gap > hard_margin``.
    level
        Coverage of the prediction interval ``pi_low``/``pi_high``.
    min_periods
        Fewest result periods for the ``chronic_overachiever`` verdict.

    Returns
    -------
    DataFrame
        One row per KPI of ``kpis`` (in its order). Columns: ``kpi_id``, ``name_ko``,
        ``owner_id``, ``polarity``, ``kpi_type``, ``weight``, ``n_history``,
        ``last_actual``, ``last_year`` (Int64), ``mean_3y`` (mean of the actuals of the
        three years before ``year``), ``cagr`` (first to last history point; NaN when
        fewer than 2 points or a non-positive end value), ``trend_forecast``,
        ``pred_se`` (NaN when n < 3; 0 for a perfectly linear history), ``pi_low``,
        ``pi_high``, ``target``, ``gap`` (NaN for band or unknown polarity, F = 0,
        missing target or trend), ``challenge_z`` (NaN when ``pred_se`` is NaN or 0),
        ``target_percentile`` (0–100, mid-rank percentile of the target among the
        history values, oriented so that high = demanding: for up the share of history
        below the target, for down the share above it, ties counted half — as
        ``scipy.stats.percentileofscore(kind="mean")``), ``n_result_periods``,
        ``assessable`` (up/down, ``n_history ≥ min_history`` and a finite gap),
        ``easy``, ``hard``, ``regressive`` (up: target < last actual; down: target >
        last actual), ``chronic_overachiever``, ``no_history`` and ``reason`` (why a value
        is NaN or a verdict is not possible; empty when all is well).
    """
    _require(kpis, ["kpi_id", "polarity"], "kpis")
    _require(history, ["kpi_id", "year", "actual"], "history")
    _require(results, ["kpi_id", "year", "half", "target", "actual"], "results")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if min_history < 2:
        raise ValueError(f"min_history must be at least 2, got {min_history}")

    # Independent parts run on two threads (bsc_lib.parallel: results by position, the
    # same numbers as one after the other): the KPI columns and the shared id codes, then the
    # history statistics and the results' targets and periods.
    def kpi_columns() -> pd.DataFrame:
        k = pd.DataFrame({"kpi_id": kpis["kpi_id"].astype("str")})
        for col in ("name_ko", "owner_id", "kpi_type"):
            k[col] = kpis[col].astype("str") if col in kpis else pd.Series(np.nan, index=k.index, dtype="str")
        k["polarity"] = _polarity(kpis["polarity"])
        k["weight"] = _num(kpis["weight"]) if "weight" in kpis else np.nan
        return k.reset_index(drop=True)

    # KPI ids as integer codes shared by the three tables (the strings are hashed once); a
    # missing id is code −1: it matches a missing id in merges and forms no group
    k, (all_codes, uniques) = parallel.run_all([
        kpi_columns, functools.partial(_shared_id_codes, [kpis["kpi_id"], history["kpi_id"], results["kpi_id"]])])
    n_k, n_h = len(k), len(history)
    k_code = all_codes[:n_k]
    known = np.zeros(len(uniques) + 1, dtype=bool)  # slot −1: a missing id
    known[k_code] = True

    def history_part() -> tuple[pd.DataFrame, pd.DataFrame | None]:
        h_code = all_codes[n_k:n_k + n_h]
        h = pd.DataFrame(
            {
                "kpi_id": np.where(h_code < 0, np.nan, h_code),
                "year": _num(history["year"]).to_numpy(),
                "actual": _num(history["actual"]).to_numpy(),
            }
        ).dropna()
        h = h[(h["year"] < year) & known[h["kpi_id"].to_numpy(dtype=np.int64)]]
        h["kpi_id"] = h["kpi_id"].astype("int64")
        h["year"] = h["year"].astype("int64")
        h = _mean_per_kpi_year(h)
        return h, (_history_stats(h, year) if len(h) else None)

    def results_part() -> tuple[pd.Series, pd.DataFrame]:
        # ---- target of the year
        r_code = all_codes[n_k + n_h:]
        half_codes, half_u = pd.factorize(results["half"].astype("str"))
        half_is = np.append(pd.Series(half_u, dtype="str").str.strip().to_numpy(dtype=object) == target_half, False)
        r = pd.DataFrame(
            {
                "kpi_id": r_code,
                "year": _num(results["year"]).to_numpy(),
                "is_target_half": half_is[half_codes],
                "target": _num(results["target"]).to_numpy(),
                "actual": _num(results["actual"]).to_numpy(),
            }
        )
        r = r[known[r["kpi_id"].to_numpy()]]
        sel = r[(r["year"] == year) & r["is_target_half"] & (r["kpi_id"] >= 0)]
        tgt = sel.groupby("kpi_id", sort=False)["target"].last()
        # ---- achievement periods (H1/H2 of the year and any earlier results)
        pol = pd.DataFrame({"kpi_id": k_code, "polarity": k["polarity"]})
        rp = r[(r["year"] <= year)].merge(pol, on="kpi_id", how="left")
        rate = achievement_rate(rp["target"], rp["actual"], rp["polarity"])
        valid = rp["polarity"].isin(["up", "down"]) & rate.notna()
        rp = rp.assign(valid=valid, met=valid & (rate >= cap))
        return tgt, rp[rp["kpi_id"] >= 0].groupby("kpi_id")[["valid", "met"]].sum()

    (h, hs), (tgt, per) = parallel.run_all([history_part, results_part])

    out = k.copy()
    out["_code"] = k_code
    if hs is not None:
        out = out.merge(hs.rename(columns={"kpi_id": "_code"}), on="_code", how="left")
    else:
        for c in ("n_history", "last_actual", "last_year", "mean_3y", "cagr", "trend_forecast", "pred_se"):
            out[c] = np.nan
        out["cagr_nonpositive"] = False
    out["n_history"] = out["n_history"].fillna(0).astype("int64")
    out["last_year"] = out["last_year"].astype("Int64")
    out["cagr_nonpositive"] = out["cagr_nonpositive"].fillna(False).astype(bool)
    out["target"] = out["_code"].map(tgt).astype("float64")

    sign = _signed(out["polarity"])
    f = out["trend_forecast"]
    diff = sign * (out["target"] - f)
    f_ok = f.notna() & (f != 0)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        gap = diff / f.abs()
    overflow = f_ok & diff.notna() & ~np.isfinite(gap)
    out["gap"] = gap.where(f_ok & ~overflow)
    n = out["n_history"]
    tcrit = pd.Series(stats.t.ppf((1 + level) / 2, (n - 2).clip(lower=1)), index=out.index)
    half_width = tcrit * out["pred_se"]
    out["pi_low"] = (f - half_width).where(out["pred_se"].notna())
    out["pi_high"] = (f + half_width).where(out["pred_se"].notna())
    se_ok = out["pred_se"] > 0
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        z = diff / out["pred_se"]
    out["challenge_z"] = z.where(se_ok & np.isfinite(z))

    # ---- percentile of the target among the history values
    if len(h):
        hh = h.merge(out[["_code", "target", "polarity"]].rename(columns={"_code": "kpi_id"}), on="kpi_id",
                     how="left")
        eq = np.isclose(hh["actual"], hh["target"], rtol=1e-12, atol=0.0)
        below = (hh["actual"] < hh["target"]) & ~eq
        above = (hh["actual"] > hh["target"]) & ~eq
        worse = below.where(hh["polarity"] == "up", above).astype("float64") + 0.5 * eq
        pct = 100.0 * worse.groupby(hh["kpi_id"]).mean()
        out["target_percentile"] = out["_code"].map(pct).astype("float64")
    else:
        out["target_percentile"] = np.nan
    directed = out["polarity"].isin(["up", "down"])
    out["target_percentile"] = out["target_percentile"].where(directed & out["target"].notna())

    out["n_result_periods"] = out["_code"].map(per["valid"]).fillna(0).astype("int64")
    n_met = out["_code"].map(per["met"]).fillna(0).astype("int64")

    # ---- flags
    out["assessable"] = directed & (n >= min_history) & out["gap"].notna()
    out["easy"] = out["assessable"] & (out["gap"] < -easy_margin)
    out["hard"] = out["assessable"] & (out["gap"] > hard_margin)
    out["regressive"] = (
        directed & out["target"].notna() & out["last_actual"].notna()
        & (sign * (out["target"] - out["last_actual"]) < 0)
    ).astype(bool)
    out["chronic_overachiever"] = (
        (out["n_result_periods"] >= min_periods) & (n_met == out["n_result_periods"])
    ).astype(bool)
    out["no_history"] = n == 0

    # ---- reasons
    reason = np.full(len(out), "", dtype=object)
    pol_raw = kpis["polarity"].reset_index(drop=True)
    reason = _add_reason(reason, out["polarity"] == "band", "band KPI: no direction, gap not defined")
    unknown_pol = out["polarity"].isna().to_numpy()
    pol_text = np.full(len(out), "", dtype=object)
    pol_text[unknown_pol] = "unknown polarity " + pol_raw[unknown_pol].astype("str").to_numpy().astype(str)
    reason = _add_reason(reason, unknown_pol, pol_text)
    reason = _add_reason(reason, out["target"].isna(), f"no target for {year} {target_half}")
    reason = _add_reason(reason, n == 0, "no history")
    reason = _add_reason(reason, n == 1, "1 history point: no trend")
    reason = _add_reason(reason, (n >= 1) & (n < 3), "fewer than 3 history points: no prediction SE")
    reason = _add_reason(
        reason, (n >= 3) & (n < min_history), f"fewer than {min_history} history points: no easy/hard verdict"
    )
    reason = _add_reason(reason, f.notna() & (f == 0), "trend forecast is 0: relative gap not defined")
    reason = _add_reason(reason, overflow, "trend forecast too close to 0: relative gap overflows")
    reason = _add_reason(
        reason, out["pred_se"].notna() & ~se_ok,
        "history exactly on a line (prediction SE 0): challenge z not defined",
    )
    reason = _add_reason(reason, out["cagr_nonpositive"], "non-positive first or last actual: CAGR not defined")
    out["reason"] = pd.Series(reason, index=out.index).astype("str")

    num = out.select_dtypes("float64").columns
    out[num] = out[num].where(np.isfinite(out[num]))  # last guard: no inf leaves this function
    cols = [
        "kpi_id", "name_ko", "owner_id", "polarity", "kpi_type", "weight", "n_history",
        "last_actual", "last_year", "mean_3y", "cagr", "trend_forecast", "pred_se", "pi_low",
        "pi_high", "target", "gap", "challenge_z", "target_percentile", "n_result_periods",
        "assessable", "easy", "hard", "regressive", "chronic_overachiever", "no_history", "reason",
    ]
    log.info(
        "kpi_difficulty: %d KPIs, %d assessable, %d easy, %d regressive",
        len(out), int(out["assessable"].sum()), int(out["easy"].sum()), int(out["regressive"].sum()),
    )
    return out[cols]


# --------------------------------------------------------------------------- unit level


def unit_difficulty(
    kpi_diff: pd.DataFrame,
    by: str = "owner_id",
    heavy_weight: float = 0.5,
    majority_share: float = 0.5,
    min_assessable: int = 3,
) -> pd.DataFrame:
    """Summarise :func:`kpi_difficulty` per unit: which units file easy targets?

    Parameters
    ----------
    kpi_diff
        Output of :func:`kpi_difficulty` (any extra column, e.g. an institution id merged
        in by the caller, can serve as ``by``).
    by
        Unit column.
    heavy_weight
        ``easy_heavy`` when ``weight_on_easy ≥ heavy_weight``: the unit puts at least this
        share of its KPI weight on easy targets. Default 0.5 ("at least half the weight");
        ``params/analysis.yaml`` has no setting for it.
    majority_share, min_assessable
        ``easy_majority`` when ``share_easy > majority_share`` among at least
        ``min_assessable`` assessable KPIs: the unit files *mostly* easy targets, counted in
        KPIs whatever their weight (the sample plants such units).

    Returns
    -------
    DataFrame
        One row per unit, sorted by ``by``. Columns: ``by``, ``n_kpis``,
        ``n_assessable``, ``n_easy``, ``share_easy`` (``n_easy / n_assessable``; NaN when
        nothing is assessable), ``weight_on_easy`` and ``weight_on_hard`` (share of the
        unit's total weight on easy / hard KPIs; NaN when the total weight is 0 or
        missing), ``mean_gap`` and ``weighted_gap`` (plain and weight-weighted mean gap of
        the assessable KPIs), ``share_input``, ``share_process``, ``share_output``,
        ``share_outcome`` (share of the unit's KPIs of each ``kpi_type``),
        ``n_regressive``, ``easy_heavy`` (bool: ``weight_on_easy ≥ heavy_weight``; False
        when the weight share is NaN), ``easy_majority`` (bool: ``share_easy >
        majority_share`` with ``n_assessable ≥ min_assessable``), ``reason``.
    """
    _require(
        kpi_diff, [by, "weight", "gap", "assessable", "easy", "hard", "regressive", "kpi_type"], "kpi_diff"
    )
    d = kpi_diff
    w = _num(d["weight"])
    assess = d["assessable"].fillna(False).astype(bool)
    easy = d["easy"].fillna(False).astype(bool)
    hard = d["hard"].fillna(False).astype(bool)
    gap_a = _num(d["gap"]).where(assess)
    wg_ok = gap_a.notna() & w.notna()
    tmp = pd.DataFrame(
        {
            by: d[by],
            "one": 1,
            "assess": assess.astype("int64"),
            "easy": easy.astype("int64"),
            "w": w,
            "w_easy": w.where(easy, 0.0),
            "w_hard": w.where(hard, 0.0),
            "gap_a": gap_a,
            "wg": (w * gap_a).where(wg_ok),
            "w_g": w.where(wg_ok),
            "regr": d["regressive"].fillna(False).astype("int64"),
        }
    )
    for t in KPI_TYPES:
        tmp[f"t_{t}"] = (d["kpi_type"] == t).astype("int64")
    g = tmp.groupby(by, sort=True, dropna=False)
    agg = g.agg(
        n_kpis=("one", "sum"),
        n_assessable=("assess", "sum"),
        n_easy=("easy", "sum"),
        w_tot=("w", "sum"),
        w_easy=("w_easy", "sum"),
        w_hard=("w_hard", "sum"),
        mean_gap=("gap_a", "mean"),
        wg=("wg", "sum"),
        w_g=("w_g", "sum"),
        n_regressive=("regr", "sum"),
        **{f"t_{t}": (f"t_{t}", "sum") for t in KPI_TYPES},
    )
    res = pd.DataFrame(index=agg.index)
    res["n_kpis"] = agg["n_kpis"].astype("int64")
    res["n_assessable"] = agg["n_assessable"].astype("int64")
    res["n_easy"] = agg["n_easy"].astype("int64")
    res["share_easy"] = (agg["n_easy"] / agg["n_assessable"]).where(agg["n_assessable"] > 0)
    w_ok = agg["w_tot"] > 0
    res["weight_on_easy"] = (agg["w_easy"] / agg["w_tot"]).where(w_ok)
    res["weight_on_hard"] = (agg["w_hard"] / agg["w_tot"]).where(w_ok)
    res["mean_gap"] = agg["mean_gap"]
    res["weighted_gap"] = (agg["wg"] / agg["w_g"]).where(agg["w_g"] > 0)
    for t in KPI_TYPES:
        res[f"share_{t}"] = agg[f"t_{t}"] / agg["n_kpis"]
    res["n_regressive"] = agg["n_regressive"].astype("int64")
    res["easy_heavy"] = (res["weight_on_easy"] >= heavy_weight).fillna(False).astype(bool)
    res["easy_majority"] = ((res["n_assessable"] >= min_assessable) & (res["share_easy"] > majority_share)).astype(bool)
    reason = np.full(len(res), "", dtype=object)
    reason = _add_reason(reason, res["n_assessable"] == 0, "no assessable KPI")
    reason = _add_reason(reason, ~w_ok, "total weight is 0 or missing")
    res["reason"] = pd.Series(reason, index=res.index).astype("str")
    return res.reset_index()


def _unit_rating(ratings: pd.DataFrame, item: str, round_rule: str) -> pd.Series:
    """Mean rating of ``item`` per unit under ``round_rule``."""
    r = ratings[ratings["item"].astype("str") == item]
    rd_raw = r["round"].astype("str").str.strip()
    rd = rd_raw.map(VALUE_ALIASES["round"]).fillna(rd_raw.str.lower())
    r = r.assign(score=_num(r["score"]), round=rd).dropna(subset=["score"])
    by_round = r.groupby(["unit_id", "round"])["score"].mean().unstack("round")
    for rd in ("first", "final"):
        if rd not in by_round:
            by_round[rd] = np.nan
    if round_rule == "final_replaces_first":
        return by_round["final"].fillna(by_round["first"]).rename("rating")
    if round_rule == "mean":
        return by_round[["first", "final"]].mean(axis=1).rename("rating")
    raise ValueError(f"round_rule must be 'final_replaces_first' or 'mean', got {round_rule!r}")


def challenge_crosscheck(
    unit_diff: pd.DataFrame,
    pre_eval_ratings: pd.DataFrame,
    item: str = "kpi_challenge",
    round_rule: str = "final_replaces_first",
    unit_col: str = "owner_id",
    measures: Iterable[str] = ("mean_gap", "weighted_gap", "share_easy", "weight_on_easy"),
) -> pd.DataFrame:
    """Do the agency's "KPI challenge" ratings agree with the measured target difficulty?

    Each unit's rating is the mean over raters of the ``final`` round, or of the
    ``first`` round when the unit has no final rating (``round_rule="mean"``: the mean of
    the two round means). It is rank-correlated with each difficulty measure over the
    units present in both tables.

    Parameters
    ----------
    unit_diff
        Output of :func:`unit_difficulty`.
    pre_eval_ratings
        Canonical ``pre_eval_ratings``: ``unit_id, round, item, rater_id, score``.
    item
        Pre-evaluation item id (scheme ``pre_evaluation.items``).
    round_rule
        ``final_replaces_first`` or ``mean`` (scheme ``pre_evaluation.round_rule``).
    unit_col
        Unit id column of ``unit_diff``.
    measures
        Columns of ``unit_diff`` to correlate.

    Returns
    -------
    DataFrame
        One row per measure. Columns: ``measure``, ``expected_sign`` (+1 when a higher
        challenge rating should go with a higher value: the gaps; −1 for the easy
        shares), ``n`` (units with both values), ``spearman_rho``, ``spearman_p``,
        ``kendall_tau_b``, ``kendall_p`` (two-sided) and ``reason`` (why NaN: n < 3 or a
        constant variable).
    """
    _require(unit_diff, [unit_col], "unit_diff")
    _require(pre_eval_ratings, ["unit_id", "round", "item", "score"], "pre_eval_ratings")
    measures = list(measures)
    _require(unit_diff, measures, "unit_diff")
    rating = _unit_rating(pre_eval_ratings, item, round_rule)
    ud = unit_diff.assign(**{unit_col: unit_diff[unit_col].astype("str")})
    merged = ud.merge(rating, left_on=unit_col, right_index=True, how="inner")
    rows = []
    for m in measures:  # a handful of measures, not data rows
        pair = pd.DataFrame({"x": merged["rating"], "y": _num(merged[m])}).dropna()
        nn = len(pair)
        row = {
            "measure": m,
            "expected_sign": -1 if m in ("share_easy", "weight_on_easy") else 1,
            "n": nn,
            "spearman_rho": np.nan,
            "spearman_p": np.nan,
            "kendall_tau_b": np.nan,
            "kendall_p": np.nan,
            "reason": "",
        }
        if nn < 3:
            row["reason"] = f"only {nn} unit(s) with both a rating and {m}"
        elif pair["x"].nunique() < 2 or pair["y"].nunique() < 2:
            row["reason"] = "constant rating or measure: correlation not defined"
        else:
            sp = stats.spearmanr(pair["x"], pair["y"])
            kt = stats.kendalltau(pair["x"], pair["y"], variant="b")
            row.update(
                spearman_rho=float(sp.statistic), spearman_p=float(sp.pvalue),
                kendall_tau_b=float(kt.statistic), kendall_p=float(kt.pvalue),
            )
        rows.append(row)
    return pd.DataFrame(rows).astype({"reason": "str"})


# --------------------------------------------------------------------------- gaming


def achievement_rates(
    results: pd.DataFrame,
    polarity: pd.Series,
    band_low: pd.Series | None = None,
    band_high: pd.Series | None = None,
    *,
    cap: float = np.inf,
    floor: float = -np.inf,
    band_falloff: float = 0.5,
) -> pd.Series:
    """Uncapped achievement rate per results row, by the scoring engine's own rule.

    :func:`bsc_lib.scoring.components.achievement.achievement_rate` of ``results.target`` and
    ``results.actual`` (see there for the rule on zero and negative values): up
    actual/target, down target/actual, band 1 inside the band with a linear fall-off.

    Parameters
    ----------
    results
        Rows with ``target`` and ``actual`` (e.g. ``kpi_results``).
    polarity, band_low, band_high
        Aligned with ``results`` by position (Korean polarity aliases accepted; an unknown
        polarity gives NaN). Missing band limits are replaced by the target, as in the engine.
    cap, floor
        The value of an unbounded rate above / below (default ``±inf``: e.g. ``+inf`` for a
        down KPI with actual 0 against a positive target). With the scheme's ``cap``,
        ``floor`` and ``band_falloff`` the result equals the engine's ``results.kpi["rate"]``.
    band_falloff
        Band fall-off (the 2019 scheme's 0.5 by default).

    Returns
    -------
    pandas.Series
        ``rate``, indexed like ``results``: NaN for a missing target or actual or an unknown
        polarity; ``±inf`` (or ``cap``/``floor``) for the unbounded cases; never clipped.
    """
    def aligned(x):
        return None if x is None else _num(pd.Series(x).reset_index(drop=True)).set_axis(results.index)

    pol = _polarity(pd.Series(polarity).reset_index(drop=True)).set_axis(results.index)
    return achievement_rate(_num(results["target"]), _num(results["actual"]), pol, aligned(band_low),
                            aligned(band_high), cap=cap, floor=floor, band_falloff=band_falloff).rename("rate")


def achievement_bunching(
    results: pd.DataFrame,
    lower: float = 1.0,
    upper: float = 1.03,
    by: str = "owner_id",
    kpis: pd.DataFrame | None = None,
    year: int | None = None,
    half: str | None = None,
    alpha: float = 0.10,
) -> pd.DataFrame:
    """Units whose achievement rates pile up just above 100 % (targets set to be just met).

    The achievement rate (:func:`achievement_rates`: the engine's rule, uncapped; up
    actual/target, down target/actual) of every result row of an up or down KPI is put in the
    bunching window ``[lower, upper)``. Band KPIs are left out (a band KPI inside its band
    has rate 1 by construction, which says nothing about how its target was set). An
    unbounded rate (``±inf``: a zero target, a down KPI with actual ≤ 0 …) counts as a rate
    outside the window; a zero target met exactly (rate 1) counts as inside it. Each unit's share of
    rates in the window is compared with the pooled share over all units by a one-sided
    binomial test, ``p = P(X ≥ k)`` for ``X ~ Binomial(n, p0)``, with Benjamini–Hochberg
    adjustment over the units.

    Parameters
    ----------
    results
        ``kpi_results`` (``kpi_id, year, half, target, actual``).
    lower, upper
        Bunching window of the rate.
    by
        Unit column (taken from ``kpis``, else from ``results``).
    kpis
        Canonical ``kpis`` supplying ``polarity`` and ``by``; when None, ``results`` must
        carry both columns.
    year, half
        Restrict to one year / half (None: all). The default uses every period (H1 and
        H2): a unit has only a handful of KPIs, and one rate per KPI gives the test
        little power. The H1 and H2 rates of one KPI are correlated, so the binomial
        p-values are somewhat optimistic: read them as a screening ranking, not as
        proof (``half="H2"`` gives one year-end rate per KPI and year).
    alpha
        False-discovery level for the ``bunching`` flag (on the BH-adjusted p-value;
        0.10, a usual level for screening).

    Returns
    -------
    DataFrame
        One row per unit, sorted by ``by``. Columns: ``by``, ``n_rates`` (rows of up/down
        KPIs with a rate), ``n_excluded`` (the others: band KPIs, a missing target or
        actual, unknown polarity),
        ``n_bunched``, ``share_bunched``, ``overall_share`` (pooled over all units),
        ``excess`` (share − overall), ``p_value``, ``p_adj`` (BH), ``bunching`` (bool).
    """
    _require(results, ["kpi_id", "target", "actual"], "results")
    if not lower < upper:
        raise ValueError(f"lower ({lower}) must be below upper ({upper})")
    r = results
    if year is not None:
        _require(r, ["year"], "results")
        r = r[_num(r["year"]) == year]
    if half is not None:
        _require(r, ["half"], "results")
        r = r[r["half"].astype("str") == half]
    r = r.reset_index(drop=True)
    if kpis is not None:
        _require(kpis, ["kpi_id", "polarity", by], "kpis")
        kk = kpis[["kpi_id", "polarity", by]].assign(kpi_id=kpis["kpi_id"].astype("str"))
        base = r.drop(columns=[c for c in ("polarity", by) if c in r.columns])
        r = base.assign(kpi_id=base["kpi_id"].astype("str")).merge(kk, on="kpi_id", how="left")
    else:
        _require(r, ["polarity", by], "results (no kpis given)")
    pol = _polarity(r["polarity"])
    rate = achievement_rates(r, pol)
    ok = pol.isin(["up", "down"]) & rate.notna()
    tmp = pd.DataFrame(
        {
            by: r[by],
            "ok": ok.astype("int64"),
            "bunched": (ok & (rate >= lower) & (rate < upper)).astype("int64"),
        }
    )
    tmp["excl"] = 1 - tmp["ok"]
    agg = tmp.groupby(by, sort=True).agg(
        n_rates=("ok", "sum"), n_excluded=("excl", "sum"), n_bunched=("bunched", "sum")
    )
    total = agg["n_rates"].sum()
    p0 = agg["n_bunched"].sum() / total if total > 0 else np.nan
    agg["share_bunched"] = (agg["n_bunched"] / agg["n_rates"]).where(agg["n_rates"] > 0)
    agg["overall_share"] = p0
    agg["excess"] = agg["share_bunched"] - p0
    k = agg["n_bunched"].to_numpy()
    nn = agg["n_rates"].to_numpy()
    if np.isfinite(p0):
        pv = stats.binom.sf(k - 1, nn, p0)
    else:
        pv = np.full(len(agg), np.nan)
    pv = np.where(nn > 0, pv, np.nan)
    agg["p_value"] = pv
    padj = np.full(len(agg), np.nan)
    ok = np.isfinite(pv)
    if ok.any():
        padj[ok] = stats.false_discovery_control(pv[ok], method="bh")
    agg["p_adj"] = padj
    agg["bunching"] = agg["p_adj"] < alpha
    return agg.reset_index()


def target_loosening(
    targets_long: pd.DataFrame, min_run: int = 2, rel_tol: float = 0.0
) -> pd.DataFrame:
    """Flag KPIs whose target is loosened year on year.

    A step (successive available target years of the same KPI) *loosens* when the new
    target, read as an actual against the previous target, would not meet it: its
    achievement rate (:func:`bsc_lib.scoring.components.achievement.achievement_rate`, the engine's
    rule) is below ``1 − rel_tol``. With ``rel_tol = 0`` that is a move in the easy
    direction (down for ``up`` KPIs, up for ``down`` KPIs), and zero and negative targets
    follow the engine's rule (e.g. an up target going from 0 to −1 loosens, a down target
    going from 5 to 0 tightens). Missing targets are skipped (the step spans them).
    Note: the sample dataset has a single target year (2019), so this detector needs a
    multi-year target table (e.g. several years' plans); it is tested on a small fixture.

    Parameters
    ----------
    targets_long
        Columns ``kpi_id, year, target, polarity``.
    min_run
        ``consecutive_loosening`` when at least this many successive steps loosen.
    rel_tol
        Tolerance on the rate: a step loosens only when the rate is below ``1 − rel_tol``
        (for positive targets: up ``new < (1 − rel_tol)·previous``, down
        ``new > previous/(1 − rel_tol)``).

    Returns
    -------
    DataFrame
        One row per KPI, sorted by ``kpi_id``. Columns: ``kpi_id``, ``polarity``,
        ``n_years`` (years with a target), ``first_year``, ``last_year``, ``n_steps``,
        ``n_loosened``, ``max_run`` (longest run of successive loosening steps),
        ``loosened_last`` (the latest step loosened), ``consecutive_loosening`` and
        ``reason``.
    """
    _require(targets_long, ["kpi_id", "year", "target", "polarity"], "targets_long")
    if min_run < 1:
        raise ValueError(f"min_run must be at least 1, got {min_run}")
    t = pd.DataFrame(
        {
            "kpi_id": targets_long["kpi_id"].astype("str"),
            "year": _num(targets_long["year"]),
            "target": _num(targets_long["target"]),
            "polarity": _polarity(targets_long["polarity"]),
        }
    )
    pol = t.groupby("kpi_id", sort=True)["polarity"].first()
    t = t.dropna(subset=["year", "target"])
    t = t.groupby(["kpi_id", "year"], as_index=False, sort=True).agg(
        target=("target", "last"), polarity=("polarity", "first")
    )
    t = t.sort_values(["kpi_id", "year"], kind="stable").reset_index(drop=True)
    g = t.groupby("kpi_id", sort=True)
    prev = g["target"].shift(1)
    pol_row = t["kpi_id"].map(pol)
    rate = achievement_rate(prev, t["target"], pol_row)  # the new target against the previous one
    is_step = prev.notna()
    loosened = is_step & pol_row.isin(["up", "down"]) & (rate < 1.0 - rel_tol)
    # run length of consecutive loosening steps ending at each row
    breaks = (~loosened).astype("int64").groupby(t["kpi_id"]).cumsum()
    run = loosened.astype("int64").groupby([t["kpi_id"], breaks]).cumsum()
    t = t.assign(step=is_step.astype("int64"), loose=loosened.astype("int64"), run=run)
    agg = t.groupby("kpi_id", sort=True).agg(
        n_years=("year", "size"),
        first_year=("year", "min"),
        last_year=("year", "max"),
        n_steps=("step", "sum"),
        n_loosened=("loose", "sum"),
        max_run=("run", "max"),
        loosened_last=("loose", "last"),
    )
    res = pd.DataFrame(index=pol.index)
    res["polarity"] = pol
    res = res.join(agg, how="left")
    for c in ("n_years", "n_steps", "n_loosened", "max_run"):
        res[c] = res[c].fillna(0).astype("int64")
    for c in ("first_year", "last_year"):
        res[c] = res[c].astype("Int64")
    res["loosened_last"] = res["loosened_last"].fillna(0).astype(bool)
    res["consecutive_loosening"] = res["max_run"] >= min_run
    reason = np.full(len(res), "", dtype=object)
    reason = _add_reason(reason, ~res["polarity"].isin(["up", "down"]), "polarity not up/down")
    reason = _add_reason(reason, res["n_steps"] == 0, "fewer than 2 target years")
    res["reason"] = pd.Series(reason, index=res.index).astype("str")
    return res.reset_index()


# --------------------------------------------------------------------------- evaluation


def recovery(flags: Iterable | pd.Series, truth: Iterable) -> dict:
    """Precision, recall and F1 of flagged ids against the planted truth.

    Parameters
    ----------
    flags
        Iterable of flagged ids, or a boolean Series indexed by id (True = flagged).
    truth
        Iterable of the truly planted ids.

    Returns
    -------
    dict
        ``tp``, ``fp``, ``fn``, ``precision`` (NaN when nothing flagged), ``recall`` (NaN
        when the truth is empty), ``f1`` (NaN when either is NaN or both are 0).
    """
    if isinstance(flags, pd.Series) and flags.dtype == bool:
        flagged = set(flags.index[flags.to_numpy()])
    else:
        flagged = set(flags)
    true = set(truth)
    tp = len(flagged & true)
    fp = len(flagged - true)
    fn = len(true - flagged)
    precision = tp / (tp + fp) if flagged else float("nan")
    recall = tp / (tp + fn) if true else float("nan")
    if np.isnan(precision) or np.isnan(recall) or precision + recall == 0:
        f1 = float("nan")
    else:
        f1 = 2 * precision * recall / (precision + recall)
    return {"tp": tp, "fp": fp, "fn": fn, "precision": precision, "recall": recall, "f1": f1}
