"""Rater reliability, rater leniency and the effect of a rater on grades (spec §6.3).

The 2019 plan introduces expert-built indicators because rated items (cooperation,
qualitative ratings) are rated unreliably. This module measures that:

* :func:`rater_reliability` — the six ICC forms and Kendall's W per group (e.g. per rater
  group and item), with the Koo & Li (2016) interpretation;
* :func:`rater_leniency` — per rater, the mean deviation from the *other* raters on the
  same targets, with a t-based confidence interval and a lenient / harsh / neutral flag;
* :func:`grade_changes` — how many units' grades change when a rater is removed or
  standardised (with the helpers :func:`remove_rater` and :func:`standardise_rater`).

All functions take plain long DataFrames (one row per target × rater), so they work on
``qualitative_ratings``, ``pre_eval_ratings``, ``evaluator_scores`` or any other rated
table; nothing here depends on the scoring engine.

Interpretation of the ICC (Koo & Li 2016, p. 158): below .50 poor (낮음), .50–.75
moderate (보통), .75–.90 good (양호), above .90 excellent (우수). Koo & Li recommend
judging the 95 % confidence interval, not only the point estimate; both are reported.
Intervals are closed below: .50 is moderate, .75 good, .90 good, .9001 excellent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats as _st

from bsc_lib.analyses._checks import as_list, require_columns
from bsc_lib.analyses.stats import ICC_TYPES, icc, kendall_w

log = logging.getLogger(__name__)

__all__ = [
    "interpret_icc",
    "rater_reliability",
    "rater_leniency",
    "remove_rater",
    "standardise_rater",
    "grade_changes",
    "KOO_LI_LABELS",
    "FLAG_LABELS_KO",
]

#: Koo & Li (2016) bands, ascending: (code, Korean label, lower bound, lower bound inclusive).
KOO_LI_LABELS: tuple[tuple[str, str, float, bool], ...] = (
    ("poor", "낮음", -np.inf, True),
    ("moderate", "보통", 0.5, True),
    ("good", "양호", 0.75, True),
    ("excellent", "우수", 0.9, False),
)

#: Korean labels of the leniency flags.
FLAG_LABELS_KO = {"lenient": "관대", "harsh": "엄격", "neutral": "중립"}

_ALL = "__all__"
#: Fewest raters in a group for the leave-one-out z of :func:`rater_leniency`.
_MIN_RATERS_Z = 4

RELIABILITY_COLUMNS = [
    "measure", "description", "description_ko", "value", "ci95_low", "ci95_high",
    "statistic", "df1", "df2", "pval", "n_targets", "n_raters", "n_dropped",
    "interpretation", "interpretation_en", "reason",
]


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------




def _check_numeric(df: pd.DataFrame, col: str) -> None:
    s = df[col]
    if not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
        raise ValueError(f"score column {col!r} must be numeric, has dtype {s.dtype}")


def interpret_icc(values, lang: Literal["ko", "en"] = "ko") -> pd.Series:
    """Koo & Li (2016) label of ICC values.

    Parameters
    ----------
    values
        Array-like of ICC values.
    lang
        ``"ko"`` (default): 낮음 / 보통 / 양호 / 우수; ``"en"``: poor / moderate / good /
        excellent.

    Returns
    -------
    pandas.Series
        One label per value (``str``); empty string for NaN.

    Notes
    -----
    < .50 poor, .50 ≤ ICC < .75 moderate, .75 ≤ ICC ≤ .90 good, > .90 excellent.
    """
    v = np.asarray(values, dtype="float64").ravel()
    labels = [(ko if lang == "ko" else code) for code, ko, _, _ in KOO_LI_LABELS]
    # band index = number of band lower bounds the value reaches
    reached = [v >= lo if incl else v > lo for _, _, lo, incl in KOO_LI_LABELS[1:]]
    band = np.sum(reached, axis=0) if reached else np.zeros(v.shape, dtype=int)
    out = np.asarray(labels, dtype=object)[band]
    out[np.isnan(v)] = ""
    return pd.Series(out, dtype="str")


# --------------------------------------------------------------------------------------
# reliability
# --------------------------------------------------------------------------------------
def _reliability_one(g: pd.DataFrame, targets: list[str], rater_col: str, score_col: str,
                     nan_policy: str) -> pd.DataFrame:
    try:
        r = icc(g, targets, rater_col, score_col, nan_policy=nan_policy)
        icc_rows = pd.DataFrame(
            {
                "measure": r["type"], "description": r["description"],
                "description_ko": r["description_ko"], "value": r["icc"],
                "ci95_low": r["ci95_low"], "ci95_high": r["ci95_high"], "statistic": r["F"],
                "df1": r["df1"].astype("float64"), "df2": r["df2"].astype("float64"),
                "pval": r["pval"], "n_targets": r["n_targets"], "n_raters": r["n_raters"],
                "n_dropped": r["n_dropped"], "reason": r["reason"],
            }
        )
    except ValueError as e:
        icc_rows = pd.DataFrame(
            {
                "measure": [t for t, _, _ in ICC_TYPES],
                "description": [d for _, d, _ in ICC_TYPES],
                "description_ko": [d for _, _, d in ICC_TYPES],
                "value": np.nan, "ci95_low": np.nan, "ci95_high": np.nan, "statistic": np.nan,
                "df1": np.nan, "df2": np.nan, "pval": np.nan, "n_targets": 0, "n_raters": 0,
                "n_dropped": 0, "reason": str(e),
            }
        )
    try:
        w = kendall_w(g, targets, rater_col, score_col, nan_policy=nan_policy).iloc[0]
        w_row = {
            "value": w["W"], "statistic": w["chi2"], "df1": float(w["df"]), "pval": w["pval"],
            "n_targets": int(w["n_targets"]), "n_raters": int(w["n_raters"]),
            "n_dropped": int(w["n_dropped"]), "reason": w["reason"],
        }
    except ValueError as e:
        w_row = {"value": np.nan, "statistic": np.nan, "df1": np.nan, "pval": np.nan,
                 "n_targets": 0, "n_raters": 0, "n_dropped": 0, "reason": str(e)}
    w_frame = pd.DataFrame(
        [{"measure": "W", "description": "Kendall's coefficient of concordance",
          "description_ko": "켄달 일치계수 W (순위 일치도)", "ci95_low": np.nan,
          "ci95_high": np.nan, "df2": np.nan, **w_row}]
    )
    out = pd.concat([icc_rows, w_frame], ignore_index=True)
    is_icc = out["measure"] != "W"
    out["interpretation"] = interpret_icc(out["value"], "ko").where(is_icc, "")
    out["interpretation_en"] = interpret_icc(out["value"], "en").where(is_icc, "")
    return out


def rater_reliability(
    ratings: pd.DataFrame,
    target_cols: str | Sequence[str],
    rater_col: str = "rater_id",
    score_col: str = "score",
    by: str | Sequence[str] | None = None,
    nan_policy: Literal["omit", "raise"] = "omit",
) -> pd.DataFrame:
    """ICC (six Shrout & Fleiss forms) and Kendall's W, per group.

    Parameters
    ----------
    ratings
        Long table, one row per target × rater (e.g. ``qualitative_ratings``).
    target_cols
        Column(s) identifying what is rated, e.g. ``["year", "half", "project_id"]``.
    rater_col, score_col
        Rater id and numeric rating columns.
    by
        Optional grouping column(s), e.g. ``["rater_group", "item"]``; reliability is
        computed separately within each group.
    nan_policy
        Passed to :func:`bsc_lib.analyses.stats.icc`: ``"omit"`` drops targets that some rater
        of the group did not rate (counted in ``n_dropped``).

    Returns
    -------
    pandas.DataFrame
        Seven rows per group (ICC1, ICC2, ICC3, ICC1k, ICC2k, ICC3k, W), columns
        ``*by``, ``measure``, ``description``, ``description_ko``, ``value`` (the ICC or
        W), ``ci95_low``, ``ci95_high`` (ICC only), ``statistic`` (F for ICC, chi² for
        W), ``df1``, ``df2``, ``pval``, ``n_targets``, ``n_raters``, ``n_dropped``,
        ``interpretation`` (Koo & Li 2016, Korean; ICC rows only),
        ``interpretation_en``, ``reason`` (why a value is NaN, e.g. fewer than 2 raters
        in the group — such a group gives NaN rows, not an error).

    Raises
    ------
    ValueError
        Missing columns or a non-numeric score column.
    """
    targets = as_list(target_cols)
    if not targets:
        raise ValueError("target_cols must name at least one column")
    by_cols = as_list(by)
    require_columns(ratings, [*targets, rater_col, score_col, *by_cols], "ratings")
    _check_numeric(ratings, score_col)
    if not by_cols:
        out = _reliability_one(ratings, targets, rater_col, score_col, nan_policy)
        return out[RELIABILITY_COLUMNS].reset_index(drop=True)
    parts = []
    for key, g in ratings.groupby(by_cols, sort=True, dropna=False):
        part = _reliability_one(g, targets, rater_col, score_col, nan_policy)
        for c, v in zip(by_cols, key, strict=True):
            part.insert(by_cols.index(c), c, v)
        parts.append(part)
    if not parts:
        return pd.DataFrame(columns=[*by_cols, *RELIABILITY_COLUMNS])
    return pd.concat(parts, ignore_index=True)[[*by_cols, *RELIABILITY_COLUMNS]]


# --------------------------------------------------------------------------------------
# leniency
# --------------------------------------------------------------------------------------
def _prepare(ratings: pd.DataFrame, targets: list[str], rater_col: str, score_col: str,
             by_cols: list[str]) -> tuple[pd.DataFrame, list[str]]:
    """Select, check duplicates, drop NaN scores; add a constant group key if ``by`` is empty."""
    require_columns(ratings, [*targets, rater_col, score_col, *by_cols], "ratings")
    _check_numeric(ratings, score_col)
    cols = list(dict.fromkeys([*by_cols, *targets, rater_col, score_col]))
    df = ratings[cols].copy()
    if df[rater_col].isna().any():
        raise ValueError(f"column {rater_col!r} has {int(df[rater_col].isna().sum())} missing rater id(s)")
    keys = list(dict.fromkeys([*by_cols, *targets, rater_col]))
    dup = df.duplicated(subset=keys, keep=False)
    if dup.any():
        raise ValueError(
            f"{int(dup.sum())} rows share the same (group, target, rater); "
            f"e.g. {df.loc[dup, keys].iloc[0].to_dict()} — one rating per target and rater expected"
        )
    n_nan = int(df[score_col].isna().sum())
    if n_nan:
        log.info("ignoring %d rating(s) with a missing score", n_nan)
        df = df.loc[df[score_col].notna()]
    gcols = by_cols
    if not gcols:
        df[_ALL] = 0
        gcols = [_ALL]
    return df, gcols


def rater_leniency(
    ratings: pd.DataFrame,
    target_cols: str | Sequence[str],
    rater_col: str = "rater_id",
    score_col: str = "score",
    by: str | Sequence[str] | None = None,
    ci: float = 0.95,
    threshold: float = 0.2,
    threshold_unit: Literal["sd", "score"] = "sd",
) -> pd.DataFrame:
    r"""Per rater: how far the rater's scores lie from the other raters' on the same targets.

    For every rating :math:`s_{rt}` of rater :math:`r` on target :math:`t` (within the
    ``by`` group) the deviation is :math:`d_{rt} = s_{rt} - \bar s_{-r,t}`, where
    :math:`\bar s_{-r,t}` is the mean of the *other* raters' ratings of the same target
    (targets with a single rater give no deviation). Per rater:

    * ``mean_deviation`` :math:`\bar d_r`, ``sd_deviation`` (ddof 1), ``se`` =
      sd/√n, ``t`` = :math:`\bar d_r`/se on n−1 df, two-sided ``pval`` and a ``ci``
      confidence interval :math:`\bar d_r \pm t_{crit}\,se`;
    * ``effect_size`` = :math:`\bar d_r` / SD of all ratings in the group (ddof 1);
    * ``z`` = :math:`(\bar d_r - \text{mean}_{r' \ne r} \bar d_{r'}) /
      \text{sd}_{r' \ne r} \bar d_{r'}` — leave-one-out z-score against the other
      raters of the group (needs at least 4 raters: an SD of fewer than 3 other raters
      is too unstable to scale by);
    * ``flag``: ``lenient`` (관대) when the CI lies above 0 and the deviation reaches
      the threshold, ``harsh`` (엄격) when the CI lies below 0 and the deviation
      reaches the threshold, else ``neutral`` (중립).

    Parameters
    ----------
    ratings
        Long table, one row per target × rater.
    target_cols
        Column(s) identifying the rated target, e.g. ``["year", "half", "project_id",
        "item"]``.
    rater_col, score_col
        Rater id and numeric rating columns.
    by
        Optional grouping column(s) (e.g. ``"rater_group"``); raters are compared only
        with raters of the same group.
    ci
        Confidence level of the interval (default 0.95). No multiple-comparison
        correction is applied; raise ``ci`` (e.g. to ``1 - 0.05/m``) for a Bonferroni
        flag over m raters.
    threshold
        Minimum absolute deviation for a flag, in SDs of the group's ratings
        (``threshold_unit="sd"``, default 0.2) or in score points (``"score"``).
    threshold_unit
        ``"sd"`` or ``"score"``.

    Returns
    -------
    pandas.DataFrame
        One row per (``by`` group, rater), columns ``*by``, ``<rater_col>``,
        ``n_targets``, ``mean_score``, ``mean_deviation``, ``sd_deviation``, ``se``,
        ``ci_low``, ``ci_high``, ``t``, ``df``, ``pval``, ``effect_size``, ``z``,
        ``flag``, ``flag_ko``, ``reason`` (why a statistic is NaN).

    Raises
    ------
    ValueError
        Missing columns, non-numeric scores, duplicate (target, rater) rows, a bad
        ``ci`` or ``threshold_unit``.
    """
    if not 0 < ci < 1:
        raise ValueError(f"ci must be between 0 and 1, got {ci}")
    if threshold_unit not in ("sd", "score"):
        raise ValueError(f"threshold_unit must be 'sd' or 'score', got {threshold_unit!r}")
    if threshold < 0:
        raise ValueError(f"threshold must be >= 0, got {threshold}")
    targets = as_list(target_cols)
    if not targets:
        raise ValueError("target_cols must name at least one column")
    by_cols = as_list(by)
    df, gcols = _prepare(ratings, targets, rater_col, score_col, by_cols)

    tkeys = list(dict.fromkeys([*gcols, *targets]))
    s = df[score_col].astype("float64")
    tsum = s.groupby([df[c] for c in tkeys], dropna=False).transform("sum")
    tcnt = s.groupby([df[c] for c in tkeys], dropna=False).transform("count")
    with np.errstate(divide="ignore", invalid="ignore"):
        others = (tsum - s) / (tcnt - 1)
    df = df.assign(_dev=(s - others).where(tcnt >= 2))
    group_sd = s.groupby([df[c] for c in gcols], dropna=False).std(ddof=1).rename("_group_sd")

    rkeys = [*gcols, rater_col]
    agg = (
        df.groupby(rkeys, sort=True, dropna=False)
        .agg(
            n_targets=("_dev", "count"),
            mean_score=(score_col, "mean"),
            mean_deviation=("_dev", "mean"),
            sd_deviation=("_dev", "std"),
        )
        .reset_index()
    )
    agg = agg.merge(group_sd.reset_index(), on=gcols, how="left")
    n = agg["n_targets"].to_numpy(dtype="float64")
    md = agg["mean_deviation"].to_numpy(dtype="float64")
    sd = agg["sd_deviation"].to_numpy(dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        se = sd / np.sqrt(n)
        dfree = n - 1
        tcrit = _st.t.ppf(1 - (1 - ci) / 2, np.where(dfree >= 1, dfree, np.nan))
        t = md / se
        # zero spread: an exact shift (t = ±inf) or exact agreement (t = 0)
        t = np.where((se == 0) & (md == 0), 0.0, t)
        p = 2 * _st.t.sf(np.abs(t), np.where(dfree >= 1, dfree, np.nan))
        lo = md - tcrit * se
        hi = md + tcrit * se
        effect = md / agg["_group_sd"].to_numpy(dtype="float64")

    # leave-one-out z of the rater's mean deviation among the raters of its group
    g = agg.groupby(gcols, dropna=False)["mean_deviation"]
    m = g.transform("count").to_numpy(dtype="float64")
    ssum = g.transform("sum").to_numpy(dtype="float64")
    ssq = (agg["mean_deviation"] ** 2).groupby([agg[c] for c in gcols], dropna=False).transform("sum").to_numpy(dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        loo_mean = (ssum - md) / (m - 1)
        loo_var = (ssq - md**2 - (m - 1) * loo_mean**2) / (m - 2)
        loo_var = np.where(loo_var < 0, 0.0, loo_var)  # rounding noise
        z = (md - loo_mean) / np.sqrt(loo_var)
    z = np.where((m >= _MIN_RATERS_Z) & np.isfinite(z), z, np.nan)

    size = np.abs(effect) if threshold_unit == "sd" else np.abs(md)
    big = np.nan_to_num(size, nan=-1.0) >= threshold
    lenient = (np.nan_to_num(lo, nan=-np.inf) > 0) & big
    harsh = (np.nan_to_num(hi, nan=np.inf) < 0) & big
    flag = np.where(lenient, "lenient", np.where(harsh, "harsh", "neutral"))

    reason = np.full(len(agg), "", dtype=object)
    reason = np.where(n < 2, "fewer than 2 targets shared with other raters: no interval", reason)
    reason = np.where(n == 0, "no target rated by another rater", reason)
    reason = np.where((reason == "") & (m < _MIN_RATERS_Z),
                      f"z needs at least {_MIN_RATERS_Z} raters in the group", reason)
    reason = np.where((reason == "") & ~np.isfinite(effect) & (n > 0),
                      "no spread of ratings in the group: effect size undefined", reason)

    out = agg.drop(columns="_group_sd").assign(
        se=se, ci_low=lo, ci_high=hi, t=t, df=dfree, pval=p, effect_size=effect, z=z,
        flag=flag, flag_ko=pd.Series(flag).map(FLAG_LABELS_KO).to_numpy(),
        reason=reason.astype(str),
    )
    for c in ("se", "ci_low", "ci_high", "t", "pval", "effect_size", "df"):
        out[c] = out[c].astype("float64")
    out.loc[out["n_targets"] < 2, ["df"]] = np.nan
    if not by_cols:
        out = out.drop(columns=_ALL)
    cols = [*by_cols, rater_col, "n_targets", "mean_score", "mean_deviation", "sd_deviation",
            "se", "ci_low", "ci_high", "t", "df", "pval", "effect_size", "z", "flag",
            "flag_ko", "reason"]
    return out[cols].reset_index(drop=True)


# --------------------------------------------------------------------------------------
# what-if: remove or standardise a rater
# --------------------------------------------------------------------------------------
def remove_rater(
    ratings: pd.DataFrame, rater: str | Sequence[str], rater_col: str = "rater_id"
) -> pd.DataFrame:
    """Ratings without the given rater(s).

    Parameters
    ----------
    ratings
        Long ratings table.
    rater
        One rater id or several.
    rater_col
        Rater id column.

    Returns
    -------
    pandas.DataFrame
        ``ratings`` (same columns) without the rater's rows; the index is kept.

    Raises
    ------
    ValueError
        The column is missing or a rater does not occur in ``ratings``.
    """
    require_columns(ratings, [rater_col], "ratings")
    raters = as_list(rater)
    absent = [r for r in raters if not (ratings[rater_col] == r).any()]
    if absent:
        raise ValueError(f"rater(s) {absent} not found in column {rater_col!r}")
    return ratings.loc[~ratings[rater_col].isin(raters)].copy()


def standardise_rater(
    ratings: pd.DataFrame,
    rater: str,
    rater_col: str = "rater_id",
    score_col: str = "score",
    by: str | Sequence[str] | None = None,
    clip: tuple[float, float] | None = None,
    ddof: int = 0,
) -> pd.DataFrame:
    r"""Ratings with one rater's scores mapped onto the other raters' mean and SD.

    Within each ``by`` group: :math:`s' = \bar s_{oth} + sd_{oth}\,(s - \bar s_r)/sd_r`
    — the rater's scores are z-standardised with the rater's own mean and SD and put
    back on the scale of the other raters of the group (the same idea as the scheme's
    ``qualitative.standardise_raters`` option, applied to one rater; population SDs by
    default, as the scoring engine uses). A rater with no spread (:math:`sd_r` = 0, or
    undefined) gets :math:`\bar s_{oth}`; a group without other raters is left
    unchanged (logged).

    Parameters
    ----------
    ratings
        Long ratings table.
    rater
        Rater to standardise.
    rater_col, score_col
        Rater id and numeric score columns.
    by
        Grouping column(s) (e.g. ``["rater_group", "item"]``); ``None`` = one group.
    clip
        Optional ``(min, max)`` of the rating scale to clip the new scores to.
    ddof
        Delta degrees of freedom of both SDs (0 = population SD, the default).

    Returns
    -------
    pandas.DataFrame
        ``ratings`` with the rater's ``score_col`` replaced (float); other rows and the
        index unchanged.

    Raises
    ------
    ValueError
        Missing columns, non-numeric scores or a rater not in ``ratings``.
    """
    by_cols = as_list(by)
    require_columns(ratings, [rater_col, score_col, *by_cols], "ratings")
    _check_numeric(ratings, score_col)
    mask = ratings[rater_col] == rater
    if not mask.any():
        raise ValueError(f"rater {rater!r} not found in column {rater_col!r}")
    out = ratings.copy()
    out[score_col] = out[score_col].astype("float64")
    keys = [out[c] for c in by_cols] if by_cols else [pd.Series(0, index=out.index)]
    s = out[score_col]
    own = s.where(mask)
    oth = s.where(~mask)
    mean_r = own.groupby(keys, dropna=False).transform("mean")
    sd_r = own.groupby(keys, dropna=False).transform("std", ddof=ddof)
    mean_o = oth.groupby(keys, dropna=False).transform("mean")
    sd_o = oth.groupby(keys, dropna=False).transform("std", ddof=ddof)
    no_others = mean_o.isna()
    if (mask & no_others).any():
        log.warning("standardise_rater: %d rating(s) of %r have no other raters in their group; left unchanged",
                    int((mask & no_others).sum()), rater)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (s - mean_r) / sd_r
    z = z.where(sd_r > 0, 0.0)
    new = mean_o + sd_o.fillna(0.0) * z
    if clip is not None:
        new = new.clip(lower=clip[0], upper=clip[1])
    change = mask & ~no_others & s.notna()
    out[score_col] = s.where(~change, new)
    return out


def grade_changes(
    ratings: pd.DataFrame,
    rater: str | Sequence[str],
    rescore: Callable[[pd.DataFrame], pd.Series],
    mode: Literal["remove", "standardise"] = "remove",
    rater_col: str = "rater_id",
    score_col: str = "score",
    by: str | Sequence[str] | None = None,
    grade_order: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Which units' grades change when a rater is removed or standardised.

    Parameters
    ----------
    ratings
        Long ratings table (the input of ``rescore``).
    rater
        One rater id, or several — each is treated separately (one what-if per rater).
    rescore
        Callable ``ratings DataFrame → Series of grades indexed by unit`` (e.g. a
        closure running the scoring engine with the modified ratings).
    mode
        ``"remove"`` (:func:`remove_rater`) or ``"standardise"``
        (:func:`standardise_rater` with ``by``).
    rater_col, score_col, by
        Passed to the helpers.
    grade_order
        Grades best first (e.g. ``("S", "A", "B", "C")``); when given, ``shift`` is the
        number of grade steps gained (positive = better after the change).

    Returns
    -------
    pandas.DataFrame
        One row per (rater, unit), columns ``rater``, ``unit``, ``grade_before``,
        ``grade_after``, ``changed`` (bool; a unit graded on one side only counts as
        changed), ``shift`` (float, NaN without ``grade_order`` or an unknown grade),
        ``reason``. ``out.attrs["n_changed"]`` is ``{rater: number of changed units}``.

    Raises
    ------
    ValueError
        Unknown ``mode``, a rater not in ``ratings``, or ``rescore`` not returning a
        Series with a unique index.
    """
    if mode not in ("remove", "standardise"):
        raise ValueError(f"mode must be 'remove' or 'standardise', got {mode!r}")
    if not callable(rescore):
        raise ValueError("rescore must be a callable ratings → Series of grades")

    def _grades(df: pd.DataFrame, what: str) -> pd.Series:
        g = rescore(df)
        if not isinstance(g, pd.Series):
            raise ValueError(f"rescore must return a pandas Series ({what}), got {type(g).__name__}")
        if not g.index.is_unique:
            raise ValueError(f"rescore returned duplicate units ({what})")
        return g

    before = _grades(ratings, "original ratings")
    order = {g: i for i, g in enumerate(grade_order)} if grade_order is not None else None
    parts = []
    n_changed: dict[str, int] = {}
    for r in as_list(rater):  # one what-if per rater (a handful), not a loop over data rows
        if mode == "remove":
            mod = remove_rater(ratings, r, rater_col)
        else:
            mod = standardise_rater(ratings, r, rater_col, score_col, by)
        after = _grades(mod, f"without/standardised {r}")
        both = pd.concat([before.rename("grade_before"), after.rename("grade_after")], axis=1, sort=True)
        both.index.name = "unit"
        both = both.reset_index()
        gb, ga = both["grade_before"], both["grade_after"]
        missing = gb.isna() | ga.isna()
        changed = (gb.astype("object") != ga.astype("object")) | (gb.isna() != ga.isna())
        changed = changed & ~(gb.isna() & ga.isna())
        if order is not None:
            pb = gb.map(order).astype("float64")
            pa = ga.map(order).astype("float64")
            shift = pb - pa
        else:
            shift = pd.Series(np.nan, index=both.index)
        reason = np.where(gb.isna() & ga.notna(), "not graded before the change",
                          np.where(ga.isna() & gb.notna(), "not graded after the change",
                                   np.where(gb.isna() & ga.isna(), "not graded", "")))
        if order is not None:
            unknown = ~missing & shift.isna()
            reason = np.where(unknown, "grade not in grade_order", reason)
        part = both.assign(changed=changed.astype(bool), shift=shift.astype("float64"),
                           reason=reason.astype(str))
        part.insert(0, "rater", r)
        n_changed[r] = int(part["changed"].sum())
        log.info("grade_changes: %s %s changes %d unit grade(s)", mode, r, n_changed[r])
        parts.append(part)
    out = pd.concat(parts, ignore_index=True)[
        ["rater", "unit", "grade_before", "grade_after", "changed", "shift", "reason"]
    ]
    out.attrs["n_changed"] = n_changed
    return out
