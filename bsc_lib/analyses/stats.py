"""Statistics helpers: intraclass correlation, Kendall's W and dispersion measures.

Everything here is pure (arrays / DataFrames in, numbers / DataFrames out) and
deterministic. The functions are the building blocks of :mod:`bsc_lib.analyses.reliability`
(are rated items rated reliably? — spec §6.3) and :mod:`bsc_lib.analyses.dispersion` (does an
indicator discriminate between units? — spec §6.2).

References
----------
.. [SF79] Shrout, P. E., & Fleiss, J. L. (1979). Intraclass correlations: uses in
   assessing rater reliability. *Psychological Bulletin*, 86(2), 420–428.
.. [MW96] McGraw, K. O., & Wong, S. P. (1996). Forming inferences about some
   intraclass correlation coefficients. *Psychological Methods*, 1(1), 30–46.
.. [KL16] Koo, T. K., & Li, M. Y. (2016). A guideline of selecting and reporting
   intraclass correlation coefficients for reliability research. *Journal of
   Chiropractic Medicine*, 15(2), 155–163.
.. [KS39] Kendall, M. G., & Babington Smith, B. (1939). The problem of m rankings.
   *Annals of Mathematical Statistics*, 10(3), 275–287.
.. [SC88] Siegel, S., & Castellan, N. J. (1988). *Nonparametric Statistics for the
   Behavioral Sciences* (2nd ed.), §9.4 (Kendall coefficient of concordance W).
.. [L05] Legendre, P. (2005). Species associations: the Kendall coefficient of
   concordance revisited. *JABES*, 10(2), 226–245.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats as _st

log = logging.getLogger(__name__)

__all__ = ["icc", "kendall_w", "gini", "tie_share", "entropy_norm", "cv", "ICC_TYPES"]

#: The six Shrout & Fleiss forms: (type, description (pingouin / psych wording), Korean label).
ICC_TYPES: tuple[tuple[str, str, str], ...] = (
    ("ICC1", "Single raters absolute", "단일 평가자, 절대 일치 (일원 무선)"),
    ("ICC2", "Single random raters", "단일 평가자, 절대 일치 (이원 무선)"),
    ("ICC3", "Single fixed raters", "단일 평가자, 일관성 (이원 혼합)"),
    ("ICC1k", "Average raters absolute", "평균 평가, 절대 일치 (일원 무선)"),
    ("ICC2k", "Average random raters", "평균 평가, 절대 일치 (이원 무선)"),
    ("ICC3k", "Average fixed raters", "평균 평가, 일관성 (이원 혼합)"),
)

ICC_COLUMNS = [
    "type", "description", "description_ko", "icc", "F", "df1", "df2", "pval",
    "ci95_low", "ci95_high", "n_targets", "n_raters", "n_dropped", "reason",
]
KENDALL_COLUMNS = ["W", "chi2", "df", "pval", "n_targets", "n_raters", "n_dropped", "ties_corrected", "reason"]


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------
def _as_list(cols: str | Sequence[str]) -> list[str]:
    if isinstance(cols, str):
        return [cols]
    out = list(cols)
    if not out:
        raise ValueError("at least one target column is required")
    return out


def _complete_matrix(
    data: pd.DataFrame,
    targets: str | Sequence[str],
    raters: str,
    ratings: str,
    nan_policy: str,
) -> tuple[np.ndarray, int]:
    """Long table → complete targets × raters matrix (float) and the number of dropped targets.

    Targets with a missing rating from any rater (an absent row or a NaN score) are
    dropped when ``nan_policy="omit"``; ``"raise"`` raises instead.
    """
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    tcols = _as_list(targets)
    missing = [c for c in [*tcols, raters, ratings] if c not in data.columns]
    if missing:
        raise ValueError(f"column(s) not in data: {missing}; available: {list(data.columns)}")
    if nan_policy not in ("omit", "raise"):
        raise ValueError(f"nan_policy must be 'omit' or 'raise', got {nan_policy!r}")
    score = data[ratings]
    if not pd.api.types.is_numeric_dtype(score) or pd.api.types.is_bool_dtype(score):
        raise ValueError(f"ratings column {ratings!r} must be numeric, has dtype {score.dtype}")
    cats = {c: data[c].astype(object) for c in [*tcols, raters]
            if isinstance(data[c].dtype, pd.CategoricalDtype)}
    if cats:  # unused categories must not become empty targets / raters
        data = data.assign(**cats)
    for c in [*tcols, raters]:
        if data[c].isna().any():
            raise ValueError(f"column {c!r} has {int(data[c].isna().sum())} missing id(s)")
    dup = data.duplicated(subset=[*tcols, raters], keep=False)
    if dup.any():
        first = data.loc[dup, [*tcols, raters]].iloc[0].to_dict()
        raise ValueError(
            f"{int(dup.sum())} rows share a (target, rater) pair, e.g. {first}; "
            "aggregate them (one rating per target and rater) first"
        )
    wide = data.set_index([*tcols, raters])[ratings].astype("float64").unstack(raters)
    incomplete = wide.isna().any(axis=1)
    n_dropped = int(incomplete.sum())
    if n_dropped and nan_policy == "raise":
        raise ValueError(f"{n_dropped} target(s) lack a rating from at least one rater")
    if n_dropped:
        log.info("dropping %d incomplete target(s) of %d", n_dropped, len(wide))
    x = wide.loc[~incomplete].to_numpy(dtype="float64")
    n, k = x.shape
    if k < 2:
        raise ValueError(f"at least 2 raters are needed, found {k}")
    if n < 2:
        raise ValueError(
            f"at least 2 targets rated by all {k} raters are needed, found {n} "
            f"({n_dropped} incomplete target(s) dropped)"
        )
    return x, n_dropped


def _clean(x) -> np.ndarray:
    """1-D float array without NaN."""
    a = np.asarray(x, dtype="float64").ravel()
    return a[~np.isnan(a)]


# --------------------------------------------------------------------------------------
# ICC
# --------------------------------------------------------------------------------------
def icc(
    data: pd.DataFrame,
    targets: str | Sequence[str],
    raters: str,
    ratings: str,
    nan_policy: Literal["omit", "raise"] = "omit",
) -> pd.DataFrame:
    r"""Intraclass correlations: the six forms of Shrout & Fleiss (1979).

    Parameters
    ----------
    data
        Long table, one row per target × rater.
    targets
        Column(s) identifying the rated target (e.g. ``"project_id"`` or
        ``["project_id", "item"]``).
    raters
        Column identifying the rater.
    ratings
        Numeric column with the rating.
    nan_policy
        ``"omit"`` (default): targets lacking a rating from any rater (absent row or NaN)
        are dropped and counted in ``n_dropped``; ``"raise"``: raise ``ValueError``.

    Returns
    -------
    pandas.DataFrame
        Six rows (ICC1, ICC2, ICC3, ICC1k, ICC2k, ICC3k), columns

        ``type``, ``description`` (English, as pingouin / R psych), ``description_ko``,
        ``icc``, ``F``, ``df1``, ``df2``, ``pval`` (one-sided F test of ICC = 0),
        ``ci95_low``, ``ci95_high``, ``n_targets`` (complete targets used), ``n_raters``,
        ``n_dropped`` (incomplete targets dropped), ``reason`` (empty, or why a value is
        NaN).

    Raises
    ------
    ValueError
        Missing columns, a non-numeric ratings column, missing ids, duplicate
        (target, rater) pairs, fewer than 2 raters or fewer than 2 complete targets.

    Notes
    -----
    With :math:`n` targets, :math:`k` raters and the two-way ANOVA mean squares
    between targets :math:`MS_R` (df :math:`n-1`), within targets :math:`MS_W`
    (df :math:`n(k-1)`), between raters :math:`MS_C` (df :math:`k-1`) and residual
    :math:`MS_E` (df :math:`(n-1)(k-1)`):

    .. math::

        ICC1 = \frac{MS_R - MS_W}{MS_R + (k-1) MS_W}, \quad
        ICC2 = \frac{MS_R - MS_E}{MS_R + (k-1) MS_E + k (MS_C - MS_E)/n}, \quad
        ICC3 = \frac{MS_R - MS_E}{MS_R + (k-1) MS_E}

        ICC1k = \frac{MS_R - MS_W}{MS_R}, \quad
        ICC2k = \frac{MS_R - MS_E}{MS_R + (MS_C - MS_E)/n}, \quad
        ICC3k = \frac{MS_R - MS_E}{MS_R}

    F tests: :math:`F = MS_R/MS_W` on (:math:`n-1`, :math:`n(k-1)`) df for ICC1/ICC1k,
    :math:`F = MS_R/MS_E` on (:math:`n-1`, :math:`(n-1)(k-1)`) df for the others.
    95 % confidence intervals follow Shrout & Fleiss (1979) and McGraw & Wong (1996):
    exact F-based limits for ICC1/ICC3 (and their k forms) and the Satterthwaite
    approximation for ICC2/ICC2k — the formulas used by R ``psych::ICC`` and
    ``pingouin.intraclass_corr``.

    ICC1/ICC2 measure absolute agreement, ICC3 consistency (rater means may differ).
    Constant ratings give NaN with a reason, never an error; perfect agreement with
    some spread gives 1 with an infinite F.
    Interpretation (Koo & Li 2016): < .5 poor, .5–.75 moderate, .75–.9 good, > .9
    excellent — see :func:`bsc_lib.analyses.reliability.interpret_icc`.

    Examples
    --------
    Shrout & Fleiss (1979), Table 2 (6 targets × 4 judges) gives ICC3 ≈ .71.
    """
    x, n_dropped = _complete_matrix(data, targets, raters, ratings, nan_policy)
    n, k = x.shape
    gm = x.mean()
    row_m = x.mean(axis=1)
    col_m = x.mean(axis=0)
    ss_total = float(((x - gm) ** 2).sum())
    ss_r = float(k * ((row_m - gm) ** 2).sum())
    ss_c = float(n * ((col_m - gm) ** 2).sum())
    ss_w = ss_total - ss_r
    ss_e = ss_total - ss_r - ss_c
    # floating-point noise: tiny negative / near-zero sums of squares are zero
    tol = 1e-12 * max(ss_total, 1.0)
    ss_w, ss_e, ss_r, ss_c = (0.0 if abs(v) <= tol else v for v in (ss_w, ss_e, ss_r, ss_c))

    df_r, df_w, df_c, df_e = n - 1, n * (k - 1), k - 1, (n - 1) * (k - 1)
    # numpy floats so that a zero denominator gives inf/NaN instead of ZeroDivisionError
    ms_r, ms_w, ms_c, ms_e = (
        np.float64(ss_r) / df_r, np.float64(ss_w) / df_w,
        np.float64(ss_c) / df_c, np.float64(ss_e) / df_e,
    )

    base = {"n_targets": n, "n_raters": k, "n_dropped": n_dropped}
    types = [t for t, _, _ in ICC_TYPES]
    if ss_total == 0.0:
        out = pd.DataFrame(
            {
                "type": types,
                "description": [d for _, d, _ in ICC_TYPES],
                "description_ko": [d for _, _, d in ICC_TYPES],
                "icc": np.nan, "F": np.nan,
                "df1": df_r, "df2": [df_w, df_e, df_e, df_w, df_e, df_e],
                "pval": np.nan, "ci95_low": np.nan, "ci95_high": np.nan, **base,
                "reason": "constant ratings: no variance",
            }
        )
        return out[ICC_COLUMNS]

    alpha = 0.05
    with np.errstate(divide="ignore", invalid="ignore"):
        icc1 = (ms_r - ms_w) / (ms_r + (k - 1) * ms_w)
        icc2 = (ms_r - ms_e) / (ms_r + (k - 1) * ms_e + k * (ms_c - ms_e) / n)
        icc3 = (ms_r - ms_e) / (ms_r + (k - 1) * ms_e)
        icc1k = (ms_r - ms_w) / ms_r
        icc2k = (ms_r - ms_e) / (ms_r + (ms_c - ms_e) / n)
        icc3k = (ms_r - ms_e) / ms_r

        f1 = ms_r / ms_w
        f3 = ms_r / ms_e
        p1 = _st.f.sf(f1, df_r, df_w)
        p3 = _st.f.sf(f3, df_r, df_e)

        # ICC1 / ICC1k: exact limits (Shrout & Fleiss 1979, eq. 4–5)
        f1l = f1 / _st.f.isf(alpha / 2, df_r, df_w)
        f1u = f1 * _st.f.isf(alpha / 2, df_w, df_r)
        # ICC3 / ICC3k: exact limits with the residual mean square
        f3l = f3 / _st.f.isf(alpha / 2, df_r, df_e)
        f3u = f3 * _st.f.isf(alpha / 2, df_e, df_r)

        # (F - 1)/(F + k - 1) written as 1 - k/(F + k - 1) so that F = inf gives 1
        def single(fv):
            return 1.0 - k / (fv + k - 1)

        def average(fv):
            return 1.0 - 1.0 / fv

        l1, u1 = single(f1l), single(f1u)
        l3, u3 = single(f3l), single(f3u)
        l1k, u1k = average(f1l), average(f1u)
        l3k, u3k = average(f3l), average(f3u)

        # ICC2: Satterthwaite df for the approximate F (Shrout & Fleiss eq. 9, McGraw & Wong)
        fj = ms_c / ms_e
        a = k * icc2 * fj + n * (1 + (k - 1) * icc2) - k * icc2
        vn = df_e * a**2
        vd = df_r * (k * icc2 * fj) ** 2 + (n * (1 + (k - 1) * icc2) - k * icc2) ** 2
        v = vn / vd
        f2u = _st.f.isf(alpha / 2, n - 1, v)
        f2l = _st.f.isf(alpha / 2, v, n - 1)
        denom = k * ms_c + (k * n - k - n) * ms_e
        l2 = n * (ms_r - f2u * ms_e) / (f2u * denom + n * ms_r)
        u2 = n * (f2l * ms_r - ms_e) / (denom + n * f2l * ms_r)
        l2k = l2 * k / (1 + l2 * (k - 1))
        u2k = u2 * k / (1 + u2 * (k - 1))

    vals = np.array([icc1, icc2, icc3, icc1k, icc2k, icc3k], dtype="float64")
    lows = np.array([l1, l2, l3, l1k, l2k, l3k], dtype="float64")
    highs = np.array([u1, u2, u3, u1k, u2k, u3k], dtype="float64")
    fs = np.array([f1, f3, f3, f1, f3, f3], dtype="float64")
    ps = np.array([p1, p3, p3, p1, p3, p3], dtype="float64")
    reasons = np.full(6, "", dtype=object)

    # undefined values (zero denominators) → NaN with a reason
    bad_val = ~np.isfinite(vals)
    if bad_val.any():
        vals[bad_val] = np.nan
        lows[bad_val] = np.nan
        highs[bad_val] = np.nan
        reasons[bad_val] = "undefined: no variance between targets"
    bad_ci = ~(np.isfinite(lows) & np.isfinite(highs)) & ~bad_val
    if bad_ci.any():
        lows[bad_ci] = np.nan
        highs[bad_ci] = np.nan
        reasons[bad_ci] = "confidence interval undefined (no residual variance)"
    if ms_e == 0.0:
        log.info("ICC: residual mean square is 0 (raters agree perfectly up to a shift)")

    out = pd.DataFrame(
        {
            "type": types,
            "description": [d for _, d, _ in ICC_TYPES],
            "description_ko": [d for _, _, d in ICC_TYPES],
            "icc": vals,
            "F": fs,
            "df1": df_r,
            "df2": [df_w, df_e, df_e, df_w, df_e, df_e],
            "pval": ps,
            "ci95_low": lows,
            "ci95_high": highs,
            **base,
            "reason": reasons.astype(str),
        }
    )
    out.attrs["anova"] = {
        "ms_targets": ms_r, "ms_within": ms_w, "ms_raters": ms_c, "ms_residual": ms_e,
        "df_targets": df_r, "df_within": df_w, "df_raters": df_c, "df_residual": df_e,
    }
    return out[ICC_COLUMNS]


# --------------------------------------------------------------------------------------
# Kendall's W
# --------------------------------------------------------------------------------------
def kendall_w(
    data: pd.DataFrame,
    targets: str | Sequence[str],
    raters: str,
    ratings: str,
    correct_ties: bool = True,
    nan_policy: Literal["omit", "raise"] = "omit",
) -> pd.DataFrame:
    r"""Kendall's coefficient of concordance W of ``m`` raters ranking ``n`` targets.

    Parameters
    ----------
    data
        Long table, one row per target × rater.
    targets, raters, ratings
        Column names as in :func:`icc` (``targets`` may be several columns).
    correct_ties
        Apply the tie correction (default ``True``).
    nan_policy
        ``"omit"``: drop targets lacking a rating from any rater; ``"raise"``: error.

    Returns
    -------
    pandas.DataFrame
        One row with columns ``W``, ``chi2``, ``df``, ``pval``, ``n_targets``,
        ``n_raters``, ``n_dropped``, ``ties_corrected``, ``reason``.

    Raises
    ------
    ValueError
        As :func:`icc` (fewer than 2 raters or targets, duplicates, bad columns).

    Notes
    -----
    Each rater's ratings are ranked over the targets (average ranks for ties). With
    rank sums :math:`R_i` and :math:`S = \sum_i (R_i - m(n+1)/2)^2`:

    .. math::

        W = \frac{12 S}{m^2 (n^3 - n) - m \sum_j T_j}, \qquad
        T_j = \sum (t^3 - t)

    where :math:`t` runs over the sizes of the groups of tied ratings of rater
    :math:`j` (:math:`T_j = 0` when ``correct_ties`` is false). The test statistic
    :math:`\chi^2 = m (n-1) W` has :math:`n-1` df (Kendall & Babington Smith 1939;
    Siegel & Castellan 1988, §9.4; Legendre 2005). Without ties, W relates to the mean
    Spearman correlation over all rater pairs by
    :math:`\bar\rho = (mW - 1)/(m - 1)`. W is 1 for perfect agreement and 0 for none.
    If every rater gives all targets the same rating, W is NaN with a reason.
    """
    x, n_dropped = _complete_matrix(data, targets, raters, ratings, nan_policy)
    n, m = x.shape
    ranks = _st.rankdata(x, axis=0, method="average")
    rsum = ranks.sum(axis=1)
    s = float(((rsum - m * (n + 1) / 2.0) ** 2).sum())
    t_sum = 0.0
    if correct_ties:
        # tie group sizes per rater, vectorised: sort each column, count runs of equal values
        xs = np.sort(x, axis=0)
        long = pd.DataFrame({"rater": np.tile(np.arange(m), n), "v": xs.ravel()})
        t = long.groupby(["rater", "v"], sort=False).size().to_numpy(dtype="float64")
        t_sum = float((t**3 - t).sum())
    denom = m**2 * (n**3 - n) - m * t_sum
    reason = ""
    if denom <= 0:
        w = chi2 = p = np.nan
        reason = "every rater gave all targets the same rating: no ranking"
    else:
        w = 12.0 * s / denom
        chi2 = m * (n - 1) * w
        p = float(_st.chi2.sf(chi2, n - 1))
    return pd.DataFrame(
        [
            {
                "W": w, "chi2": chi2, "df": n - 1, "pval": p, "n_targets": n, "n_raters": m,
                "n_dropped": n_dropped, "ties_corrected": bool(correct_ties), "reason": reason,
            }
        ],
        columns=KENDALL_COLUMNS,
    )


# --------------------------------------------------------------------------------------
# dispersion of a score vector
# --------------------------------------------------------------------------------------
def gini(x) -> float:
    r"""Gini coefficient of non-negative values (NaN ignored).

    .. math::

        G = \frac{\sum_i \sum_j |x_i - x_j|}{2 n^2 \bar x}
          = \frac{2 \sum_{i=1}^n i\, x_{(i)}}{n \sum_i x_i} - \frac{n+1}{n}

    with :math:`x_{(i)}` sorted ascending (population form, no small-sample
    correction). 0 = all values equal, → 1 = one unit has everything.

    Parameters
    ----------
    x
        Array-like of numbers.

    Returns
    -------
    float
        G; ``0.0`` when all values are equal (including all zero); NaN when there are
        no values or any value is negative (Gini is not defined for negative values).
    """
    a = _clean(x)
    if a.size == 0 or (a < 0).any():
        return float("nan")
    if np.all(a == a[0]):
        return 0.0
    a = np.sort(a, kind="mergesort")
    n = a.size
    i = np.arange(1, n + 1, dtype="float64")
    return float(2.0 * (i * a).sum() / (n * a.sum()) - (n + 1.0) / n)


def _value_counts(a: np.ndarray, decimals: int | None) -> tuple[np.ndarray, np.ndarray]:
    if decimals is not None:
        a = np.round(a, decimals)
        a = np.where(a == 0, 0.0, a)  # -0.0 and 0.0 are one value
    return np.unique(a, return_counts=True)


def _largest_tie(a: np.ndarray, decimals: int | None) -> tuple[float, float]:
    """(value, share) of the most frequent value; the smallest such value on equal counts."""
    if a.size == 0:
        return float("nan"), float("nan")
    vals, counts = _value_counts(a, decimals)
    i = int(np.argmax(counts))  # first maximum = smallest value (np.unique sorts)
    return float(vals[i]), float(counts[i] / a.size)


def tie_share(x, decimals: int | None = None) -> float:
    """Largest share of equal values: (count of the most frequent value) / n.

    Parameters
    ----------
    x
        Array-like of numbers; NaN is ignored (not counted in n).
    decimals
        Round to this many decimals before comparing (absorbs floating-point noise,
        e.g. ``decimals=6``); ``None`` compares exactly.

    Returns
    -------
    float
        In ``[1/n, 1]``: 1 when all values are equal, ``1/n`` when all are distinct;
        NaN when there are no values. The spec's example (199 of 248 departments with
        the same score) gives 199/248 = 0.802.
    """
    return _largest_tie(_clean(x), decimals)[1]


def entropy_norm(x, decimals: int | None = None) -> float:
    r"""Normalised Shannon entropy of the value distribution (NaN ignored).

    .. math::

        H_{norm} = \frac{-\sum_v p_v \ln p_v}{\ln n}

    where :math:`p_v` is the share of observations equal to value :math:`v` and
    :math:`n` the number of observations (the largest possible number of distinct
    values). So all-distinct = 1 and all-equal = 0.

    Parameters
    ----------
    x
        Array-like of numbers.
    decimals
        Round before comparing values (see :func:`tie_share`).

    Returns
    -------
    float
        In ``[0, 1]``; NaN when fewer than 2 values (``ln 1 = 0``).
    """
    a = _clean(x)
    if a.size < 2:
        return float("nan")
    _, counts = _value_counts(a, decimals)
    p = counts / a.size
    h = float(-(p * np.log(p)).sum())
    return max(0.0, h / float(np.log(a.size)))


def cv(x, ddof: int = 0) -> float:
    """Coefficient of variation: standard deviation / |mean| (NaN ignored).

    Parameters
    ----------
    x
        Array-like of numbers.
    ddof
        Delta degrees of freedom of the standard deviation (0 = population SD).

    Returns
    -------
    float
        ``sd / |mean|``; NaN when there are no values, when ``n <= ddof`` or when the
        mean is 0.
    """
    a = _clean(x)
    if a.size <= ddof or a.size == 0:
        return float("nan")
    mean = float(a.mean())
    if mean == 0.0:
        return float("nan")
    return float(a.std(ddof=ddof) / abs(mean))
