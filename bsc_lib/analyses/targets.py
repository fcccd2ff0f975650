"""Target recommendation: what would a fair target for next year be, KPI by KPI?

Model. The yearly actuals of a KPI (``kpi_history`` and, for years that are only in
``kpi_results``, the actual of ``actual_half``) before the target year ``Y`` are fitted with the
ordinary least-squares linear trend — the same fit as the difficulty analysis
(:func:`bsc_lib.analyses.difficulty._history_stats`: forecast ``F`` at ``Y`` and the standard
error of a new observation ``se = s·sqrt(1 + 1/n + (Y − x̄)²/Sxx)``, ``s² = SSR/(n − 2)``). The
predictive distribution of the year-``Y`` actual is taken as ``F + se·T`` with ``T`` Student's t
with ``n − 2`` degrees of freedom (the classical prediction interval of linear regression, e.g.
Montgomery, Peck & Vining, *Introduction to Linear Regression Analysis*, §2.5), so

* the ``interval_level`` prediction interval is ``F ± t_{(1+level)/2, n−2}·se``;
* the recommended target of an ``up`` KPI is the ``challenge_percentile`` quantile
  ``F + t_{p, n−2}·se`` (p = 0.6: the trend alone meets it with probability 0.4), of a ``down``
  KPI the ``1 − p`` quantile ``F − t_{p, n−2}·se``;
* a ``band`` KPI's recommendation is the forecast clipped into ``[band_low, band_high]``.

Flags: ``too_little_history`` (fewer than ``min_history`` yearly actuals: no recommendation),
``structural_break`` (the last actual lies outside the ``break_level`` prediction interval of the
trend fitted on the years before it — needs ``min_history + 1`` actuals), ``perfect_fit`` (zero
residuals: the interval has zero width).

:func:`backtest` replays the recommendation: for every year ``t`` of the series it recommends from
the years before ``t`` and compares with the actual of ``t``: the share of recommended targets
met, the coverage of the prediction interval (an 80 % interval should cover about 80 %), and the
same share for the naive rule "last actual + ``naive_growth``" (up; − for down). All functions
are pure: DataFrames and parameters in, tidy DataFrames out.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from bsc_lib.analyses.difficulty import _history_stats, _polarity
from bsc_lib.errors import BSCError, Problem

_SIGN = {"up": 1.0, "down": -1.0}


def yearly_actuals(history: pd.DataFrame, results: pd.DataFrame, actual_half: str = "H2") -> pd.DataFrame:
    """One actual per KPI and year: ``kpi_history``, plus ``kpi_results`` years absent from it.

    Returns
    -------
    DataFrame
        ``kpi_id``, ``year`` (int), ``actual`` (float), ``source`` (``history`` or
        ``results``), sorted by KPI and year; missing actuals dropped, duplicate years averaged.
    """
    h = pd.DataFrame({"kpi_id": history["kpi_id"].astype("str"),
                      "year": pd.to_numeric(history["year"], errors="coerce"),
                      "actual": pd.to_numeric(history["actual"], errors="coerce")}).dropna()
    h = h.groupby(["kpi_id", "year"], as_index=False)["actual"].mean().assign(source="history")
    r = results[results["half"].astype("str") == actual_half]
    r = pd.DataFrame({"kpi_id": r["kpi_id"].astype("str"), "year": pd.to_numeric(r["year"], errors="coerce"),
                      "actual": pd.to_numeric(r["actual"], errors="coerce")}).dropna()
    r = r.groupby(["kpi_id", "year"], as_index=False)["actual"].mean().assign(source="results")
    seen = pd.MultiIndex.from_frame(h[["kpi_id", "year"]])
    r = r[~pd.MultiIndex.from_frame(r[["kpi_id", "year"]]).isin(seen)]
    out = pd.concat([h, r], ignore_index=True)
    out["year"] = out["year"].astype("int64")
    return out.sort_values(["kpi_id", "year"], kind="stable").reset_index(drop=True)


def _forecast(series: pd.DataFrame, year: int) -> pd.DataFrame:
    """Trend forecast and prediction SE at ``year`` from the series' years before ``year``."""
    s = series[series["year"] < year][["kpi_id", "year", "actual"]]
    if s.empty:
        return pd.DataFrame(columns=["kpi_id", "n_history", "last_year", "last_actual", "trend_forecast", "pred_se"])
    return _history_stats(s, year)[["kpi_id", "n_history", "last_year", "last_actual", "trend_forecast", "pred_se"]]


def _tq(q: float, df: pd.Series) -> pd.Series:
    return pd.Series(stats.t.ppf(q, df.clip(lower=1)), index=df.index)


def recommend(kpis: pd.DataFrame, series: pd.DataFrame, year: int, *, min_history: int = 3,
              interval_level: float = 0.8, challenge_percentile: float = 0.6,
              break_level: float = 0.95) -> pd.DataFrame:
    """Recommended target of every KPI for ``year`` from its yearly actuals before ``year``.

    Parameters
    ----------
    kpis
        Canonical ``kpis``: ``kpi_id``, ``polarity`` (``owner_id``, ``name_ko``, ``band_low``,
        ``band_high``, ``weight`` carried when present).
    series
        :func:`yearly_actuals`: ``kpi_id, year, actual``.
    year
        The target year; only actuals of earlier years are used.
    min_history, interval_level, challenge_percentile, break_level
        ``params/planning.yaml`` ``targets.*`` (see the module docstring).

    Returns
    -------
    DataFrame
        One row per KPI of ``kpis`` in its order: ``kpi_id``, ``owner_id``, ``name_ko``,
        ``polarity``, ``n_history``, ``last_year``, ``last_actual``, ``trend_forecast``,
        ``pred_se``, ``interval_level``, ``interval_low``, ``interval_high`` (the prediction interval),
        ``recommended`` (NaN when too little history or unknown polarity), ``band_low``,
        ``band_high``, ``too_little_history``, ``structural_break``, ``perfect_fit``, ``reason``.
    """
    if not 0 < challenge_percentile < 1 or not 0 < interval_level < 1 or not 0 < break_level < 1:
        raise ValueError("challenge_percentile, interval_level and break_level must be in (0, 1)")
    k = pd.DataFrame({"kpi_id": kpis["kpi_id"].astype("str")}).reset_index(drop=True)
    for col in ("owner_id", "name_ko"):
        k[col] = kpis[col].astype("str").to_numpy() if col in kpis else ""
    k["polarity"] = _polarity(kpis["polarity"]).to_numpy()
    for col in ("band_low", "band_high"):
        k[col] = pd.to_numeric(kpis[col], errors="coerce").to_numpy() if col in kpis else np.nan
    f = _forecast(series, year)
    out = k.merge(f, on="kpi_id", how="left")
    out["n_history"] = out["n_history"].fillna(0).astype("int64")
    out["last_year"] = out["last_year"].astype("Int64")
    n = out["n_history"]
    enough = n >= min_history
    dof = (n - 2).astype("float64")
    se = out["pred_se"].where(enough)
    fc = out["trend_forecast"].where(enough)
    half = _tq((1 + interval_level) / 2, dof) * se
    out["trend_forecast"] = fc
    out["pred_se"] = se
    out["interval_level"] = interval_level
    out["interval_low"] = fc - half
    out["interval_high"] = fc + half
    step = _tq(challenge_percentile, dof) * se
    sign = out["polarity"].map(_SIGN).astype("float64")
    rec = fc + sign * step
    band = out["polarity"] == "band"
    rec = rec.where(~band, fc.clip(lower=out["band_low"], upper=out["band_high"]))
    out["recommended"] = rec
    out["too_little_history"] = ~enough
    out["perfect_fit"] = enough & (se == 0)

    # structural break: the last actual against the trend of the years before it
    out["structural_break"] = out["kpi_id"].isin(_breaks(series[series["year"] < year], min_history, break_level))

    reason = np.full(len(out), "", dtype=object)

    def add(cond, text):
        c = np.asarray(cond, dtype=bool)
        reason[c] = np.where(reason[c] == "", text, reason[c] + "; " + text)

    add(n == 0, "no history")
    add((n > 0) & ~enough, f"fewer than {min_history} yearly actuals before {year}: no recommendation")
    add(out["polarity"].isna(), "unknown polarity")
    add(band & (out["band_low"].isna() | out["band_high"].isna()), "band KPI without both limits")
    add(out["structural_break"], f"last actual outside the {break_level:.0%} interval of the earlier trend: "
                                 "check for a structural break before using the trend")
    add(out["perfect_fit"], "perfectly linear history: the interval has zero width")
    out["reason"] = reason
    cols = ["kpi_id", "owner_id", "name_ko", "polarity", "n_history", "last_year", "last_actual", "trend_forecast",
            "pred_se", "interval_level", "interval_low", "interval_high", "recommended", "band_low", "band_high", "too_little_history",
            "structural_break", "perfect_fit", "reason"]
    return out[cols]


def _breaks(series: pd.DataFrame, min_history: int, level: float) -> set[str]:
    """KPIs whose last actual lies outside the ``level`` prediction interval of the trend fitted
    on their earlier actuals (at least ``min_history`` of them, with a positive SE)."""
    if series.empty:
        return set()
    last = series.groupby("kpi_id")["year"].max().rename("last")
    s = series.merge(last, left_on="kpi_id", right_index=True)
    prev, final = s[s["year"] < s["last"]], s[s["year"] == s["last"]].set_index("kpi_id")["actual"]
    flagged: set[str] = set()
    for ly, grp in prev.groupby("last"):  # forecast each KPI at its own last year
        st = _history_stats(grp[["kpi_id", "year", "actual"]], int(ly))
        st = st[(st["n_history"] >= min_history) & (st["pred_se"] > 0)]
        tcrit = _tq((1 + level) / 2, (st["n_history"] - 2).astype("float64"))
        dev = (st["kpi_id"].map(final) - st["trend_forecast"]).abs()
        flagged |= set(st.loc[dev > tcrit * st["pred_se"], "kpi_id"])
    return flagged


def check_target_year(series: pd.DataFrame, year: int, min_history: int = 3,
                      file: str = "kpi_history / kpi_results") -> None:
    """Raise :class:`BSCError` when ``year`` cannot be recommended from the data's actuals.

    The recommendation of ``year`` needs the actuals of ``year − 1`` (a later year would
    extrapolate over a gap) and ``min_history`` years before it (an earlier year has no KPI with
    enough history).
    """
    years = sorted(series["year"].unique().tolist()) if len(series) else []
    if not years:
        raise BSCError([Problem(file=file, rule="no history", column="year",
                                message="no KPI has a yearly actual: targets cannot be recommended")])
    lo, hi = years[0] + min_history, years[-1] + 1
    if not lo <= year <= hi:
        raise BSCError([Problem(file=file, rule="year outside the history", column="year", value=str(year),
                                message=(f"target year {year} is outside the history: the data holds actuals for "
                                         f"{years[0]}–{years[-1]}; with at least {min_history} years of history targets can be "
                                         f"recommended for {lo}–{hi}"))])


def with_current(rec: pd.DataFrame, difficulty: pd.DataFrame) -> pd.DataFrame:
    """The recommendation next to the current target and its verdict from the difficulty analysis.

    Parameters
    ----------
    rec
        :func:`recommend`.
    difficulty
        The ``kpi_difficulty`` result table of the current year (the year before the target year).

    Returns
    -------
    DataFrame
        ``rec`` reordered for the consulting round (KPI, current target and verdict,
        recommendation, change, interval first) with ``current_target``, ``current_verdict`` (``easy``, ``hard``, ``neutral``,
        ``not assessable``), ``current_gap`` (the difficulty analysis' gap) and ``change``
        (``recommended − current_target``, polarity-signed: positive = more demanding).
    """
    d = difficulty.set_index("kpi_id")
    out = rec.copy()
    out["current_target"] = out["kpi_id"].map(d["target"]).astype("float64")
    verdict = np.where(d["easy"], "easy", np.where(d["hard"], "hard", np.where(d["assessable"], "neutral",
                                                                                  "not assessable")))
    out["current_verdict"] = out["kpi_id"].map(pd.Series(verdict, index=d.index)).fillna("not assessable")
    out["current_gap"] = out["kpi_id"].map(d["gap"]).astype("float64")
    sign = out["polarity"].map(_SIGN).astype("float64")
    out["change"] = sign * (out["recommended"] - out["current_target"])
    first = ["kpi_id", "owner_id", "name_ko", "polarity", "current_target", "current_verdict", "recommended", "change",
             "interval_level", "interval_low", "interval_high"]
    return out[[*first, *[c for c in out.columns if c not in first]]]


def _met(polarity: pd.Series, target: pd.Series, actual: pd.Series, low: pd.Series, high: pd.Series) -> pd.Series:
    up = polarity == "up"
    down = polarity == "down"
    band = polarity == "band"
    met = (up & (actual >= target)) | (down & (actual <= target)) | (band & (actual >= low) & (actual <= high))
    return met.where(target.notna() & actual.notna() & polarity.isin(["up", "down", "band"]))


def backtest(kpis: pd.DataFrame, series: pd.DataFrame, *, min_history: int = 3, interval_level: float = 0.8,
             challenge_percentile: float = 0.6, break_level: float = 0.95,
             naive_growth: float = 0.03) -> pd.DataFrame:
    """For each year ``t`` of ``series``: recommend from the years before ``t``, compare with ``t``'s actual.

    Returns
    -------
    DataFrame
        One row per KPI and year ``t`` with a recommendation and an actual: ``year``,
        ``kpi_id``, ``polarity``, ``n_history``, ``last_actual`` (of the years before ``t``), ``recommended``, ``interval_low``, ``interval_high``,
        ``actual``, ``met`` (up: actual ≥ target; down: ≤; band: actual inside the band),
        ``in_interval`` (actual inside the prediction interval; NaN for zero-width intervals),
        ``naive`` (last actual × (1 ± ``naive_growth``); band: the band), ``naive_met``,
        ``structural_break``.
    """
    rows = []
    for t in sorted(series["year"].unique()):
        rec = recommend(kpis, series, int(t), min_history=min_history, interval_level=interval_level,
                        challenge_percentile=challenge_percentile, break_level=break_level)
        act = series[series["year"] == t].set_index("kpi_id")["actual"]
        rec = rec[rec["recommended"].notna()].copy()
        rec["actual"] = rec["kpi_id"].map(act)
        rec = rec[rec["actual"].notna()]
        if rec.empty:
            continue
        rec.insert(0, "year", int(t))
        rec["met"] = _met(rec["polarity"], rec["recommended"], rec["actual"], rec["band_low"], rec["band_high"])
        width = rec["interval_high"] - rec["interval_low"]
        rec["in_interval"] = ((rec["actual"] >= rec["interval_low"]) & (rec["actual"] <= rec["interval_high"])).where(width > 0)
        sign = rec["polarity"].map(_SIGN).astype("float64")
        rec["naive"] = (rec["last_actual"] * (1 + sign * naive_growth)).where(rec["polarity"] != "band")
        rec["naive_met"] = _met(rec["polarity"], rec["naive"].where(rec["polarity"] != "band", 0.0), rec["actual"],
                                rec["band_low"], rec["band_high"])
        rows.append(rec)
    cols = ["year", "kpi_id", "polarity", "n_history", "last_actual", "recommended", "interval_low", "interval_high", "actual", "met",
            "in_interval", "naive", "naive_met", "structural_break"]
    if not rows:
        return pd.DataFrame(columns=cols)
    out = pd.concat(rows, ignore_index=True)[cols]
    for c in ("met", "in_interval", "naive_met"):
        out[c] = out[c].astype("boolean")
    return out


def backtest_summary(bt: pd.DataFrame, interval_level: float = 0.8, challenge_percentile: float = 0.6) -> pd.DataFrame:
    """Per backtest year and overall, per polarity group (``up/down`` and ``all``): the rules side by side.

    Returns
    -------
    DataFrame
        ``year`` (``all`` for the pooled row), ``kpi_group`` (``up/down`` or ``all``), ``n``,
        ``share_met_trend`` (recommended targets met), ``expected_met`` (1 − challenge
        percentile: what a calibrated trend recommendation should give for up/down KPIs),
        ``share_met_naive``, ``coverage`` (of the prediction interval), ``nominal_coverage``,
        ``n_covered_of`` (intervals with positive width), ``coverage_ci_low``,
        ``coverage_ci_high`` (95 % Wilson interval of the coverage).
    """
    rows = []
    yrs = [*sorted(bt["year"].unique().tolist()), "all"]
    for y in yrs:
        d = bt if y == "all" else bt[bt["year"] == y]
        for grp, sel in (("up/down", d["polarity"].isin(["up", "down"])), ("all", pd.Series(True, index=d.index))):
            g = d[sel]
            cov = g["in_interval"].dropna().astype(bool)
            lo, hi = _wilson(int(cov.sum()), len(cov))
            rows.append({
                "year": str(y), "kpi_group": grp, "n": len(g),
                "share_met_trend": float(g["met"].dropna().astype(bool).mean()) if g["met"].notna().any() else np.nan,
                "expected_met": (1 - challenge_percentile) if grp == "up/down" else np.nan,
                "share_met_naive": (float(g["naive_met"].dropna().astype(bool).mean())
                                    if g["naive_met"].notna().any() else np.nan),
                "coverage": float(cov.mean()) if len(cov) else np.nan, "nominal_coverage": interval_level,
                "n_covered_of": len(cov), "coverage_ci_low": lo, "coverage_ci_high": hi,
            })
    return pd.DataFrame(rows)


def _wilson(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson score interval of a proportion k/n (NaN for n = 0)."""
    if n == 0:
        return np.nan, np.nan
    p = k / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return float(centre - half), float(centre + half)


__all__ = ["backtest", "backtest_summary", "check_target_year", "recommend", "with_current", "yearly_actuals"]
