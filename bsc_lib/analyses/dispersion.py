"""Discrimination and dispersion of scores (spec §6.2): can an indicator tell units apart?

The 2019 plan replaced the old common indicator "공무원 청렴도" because it gave 199 of 248
departments the same score. The functions here make that visible for any score vector:

* :func:`discrimination` — ties, spread and inequality of a score (per group);
* :func:`effective_weights` — how much each component actually moves the total
  (a component everybody gets full marks on has nominal points but no effective weight);
* :func:`compare_integrity` — the old ACRC-derived score against the new integrity index;
* :func:`group_differences` — Kruskal–Wallis test and effect sizes between groups
  (e.g. do business offices score differently from main-office bureaus?).

References
----------
.. [TT14] Tomczak, M., & Tomczak, E. (2014). The need to report effect size estimates
   revisited. An overview of some recommended measures of effect size. *Trends in Sport
   Sciences*, 1(21), 19–25.
.. [KW52] Kruskal, W. H., & Wallis, W. A. (1952). Use of ranks in one-criterion variance
   analysis. *JASA*, 47(260), 583–621.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats as _st

from bsc_lib import parallel
from bsc_lib.analyses._checks import as_list, require_columns
from bsc_lib.analyses.stats import _largest_tie, _value_counts, entropy_norm, gini

log = logging.getLogger(__name__)

__all__ = ["discrimination", "effective_weights", "compare_integrity", "group_differences",
           "DISCRIMINATION_COLUMNS"]

#: Columns of :func:`discrimination` after the ``by`` columns.
DISCRIMINATION_COLUMNS = [
    "n", "n_missing", "n_distinct", "largest_tie_value", "largest_tie_share", "mean", "sd",
    "cv", "iqr", "range", "gini", "entropy_norm", "skew", "reason",
]






def _numeric(s: pd.Series, name: str) -> np.ndarray:
    if not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
        raise ValueError(f"column {name!r} must be numeric, has dtype {s.dtype}")
    return s.to_numpy(dtype="float64", na_value=np.nan)


# --------------------------------------------------------------------------------------
# discrimination
# --------------------------------------------------------------------------------------
def _describe(values: np.ndarray, decimals: int | None) -> dict:
    """Discrimination statistics of one vector (see :func:`discrimination`)."""
    n_missing = int(np.isnan(values).sum())
    a = values[~np.isnan(values)]
    n = int(a.size)
    reasons: list[str] = []
    if n == 0:
        return {"n": 0, "n_missing": n_missing, "n_distinct": 0, "largest_tie_value": np.nan,
                "largest_tie_share": np.nan, "mean": np.nan, "sd": np.nan, "cv": np.nan,
                "iqr": np.nan, "range": np.nan, "gini": np.nan, "entropy_norm": np.nan,
                "skew": np.nan, "reason": "no values"}
    vals, _ = _value_counts(a, decimals)
    tie_value, tie_share = _largest_tie(a, decimals)
    mean = float(a.mean())
    sd = float(a.std(ddof=0))
    constant = len(vals) == 1
    if sd <= 1e-12 * max(1.0, abs(mean)):
        sd = 0.0
    cv = sd / abs(mean) if mean != 0 else np.nan
    q75, q25 = np.percentile(a, [75, 25])
    g = gini(a)
    ent = entropy_norm(a, decimals)
    m2 = float(((a - mean) ** 2).mean())
    skew = float(((a - mean) ** 3).mean() / m2**1.5) if sd > 0 else np.nan
    if n == 1:
        reasons.append("only one value: no spread to measure")
    elif constant:
        reasons.append("all values equal: no discrimination")
    if mean == 0:
        reasons.append("mean is 0: cv undefined")
    if (a < 0).any():
        reasons.append("negative values: gini undefined")
    return {
        "n": n, "n_missing": n_missing, "n_distinct": int(len(vals)),
        "largest_tie_value": tie_value, "largest_tie_share": tie_share, "mean": mean, "sd": sd,
        "cv": float(cv), "iqr": float(q75 - q25), "range": float(a.max() - a.min()),
        "gini": g, "entropy_norm": ent, "skew": skew, "reason": "; ".join(reasons),
    }


def discrimination(
    df: pd.DataFrame,
    value_col: str,
    by: str | Sequence[str] | None = None,
    decimals: int | None = 6,
) -> pd.DataFrame:
    r"""How well a score discriminates between units: ties, spread and inequality.

    Parameters
    ----------
    df
        Long table with one score per row (e.g. one row per department).
    value_col
        Numeric score column.
    by
        Optional grouping column(s) (e.g. ``"kpi_id"``, ``"component"``); one row per
        group (NaN group keys form their own group).
    decimals
        Values are rounded to this many decimals before counting distinct values and
        ties (absorbs floating-point noise: 80.0000000001 and 80 are one score);
        ``None`` compares exactly. Spread statistics use the unrounded values.

    Returns
    -------
    pandas.DataFrame
        Columns ``*by``, ``n`` (non-missing values), ``n_missing``, ``n_distinct``,
        ``largest_tie_value`` (the most frequent value; the smallest on equal counts),
        ``largest_tie_share`` (its share of n: 1/n when all distinct, 1 when constant —
        the old integrity score: 199/248 = 0.802), ``mean``, ``sd`` (population,
        ddof 0), ``cv`` (sd/|mean|), ``iqr`` (75th − 25th percentile, linear
        interpolation), ``range``, ``gini`` (:func:`bsc_lib.analyses.stats.gini`),
        ``entropy_norm`` (:func:`bsc_lib.analyses.stats.entropy_norm`: 1 all distinct, 0 all
        equal), ``skew`` (Fisher–Pearson :math:`g_1 = m_3/m_2^{3/2}`, biased),
        ``reason`` (why a value is NaN or the row needs a caveat).

        Defined edge cases: n = 0 → all statistics NaN (reason "no values"); n = 1 →
        sd, iqr, range, gini 0, tie share 1, entropy and skew NaN; constant values →
        sd 0, entropy 0, skew NaN; mean 0 → cv NaN; negative values → gini NaN.

    Raises
    ------
    ValueError
        Missing columns or a non-numeric value column.
    """
    by_cols = as_list(by)
    require_columns(df, [value_col, *by_cols])
    values = _numeric(df[value_col], value_col)
    if not by_cols:
        return pd.DataFrame([_describe(values, decimals)], columns=DISCRIMINATION_COLUMNS)
    keys = df[by_cols]
    # one pass over groups (indicators / components), not over data rows
    groups = list(keys.groupby(by_cols, sort=True, dropna=False).indices.items())
    # the groups are described independently: on two threads (bsc_lib.parallel), in group order
    described = parallel.run_all([(lambda idx=idx: _describe(values[idx], decimals)) for _, idx in groups])
    rows = []
    for (key, _), stats_ in zip(groups, described, strict=True):
        key_t = key if isinstance(key, tuple) else (key,)
        rows.append({**dict(zip(by_cols, key_t, strict=True)), **stats_})
    if not rows:
        return pd.DataFrame(columns=[*by_cols, *DISCRIMINATION_COLUMNS])
    return pd.DataFrame(rows, columns=[*by_cols, *DISCRIMINATION_COLUMNS])


# --------------------------------------------------------------------------------------
# effective weights
# --------------------------------------------------------------------------------------
def effective_weights(
    wide: pd.DataFrame,
    components: Sequence[str],
    total_col: str | None = "total",
    nominal: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    r"""Nominal versus effective weight of each component in the total score.

    The effective (variance) share of component :math:`c_i` is

    .. math::

        e_i = \frac{\operatorname{cov}(c_i, T)}{\operatorname{var}(T)}
            = \frac{\operatorname{var}(c_i) + \sum_{j \ne i} \operatorname{cov}(c_i, c_j)}
                   {\operatorname{var}(T)}

    (the second form when :math:`T = \sum_j c_j`: every covariance is split evenly
    between its two components). When the total is the sum of the components the
    shares sum to 1. A constant component has share 0 — full marks for everybody
    decide nothing, whatever the nominal points. A negative share means the component
    moves against the rest of the total.

    Parameters
    ----------
    wide
        One row per unit with the component columns (and the total).
    components
        Component columns.
    total_col
        Column with the total; ``None`` = the row sum of ``components``. Rows with a
        missing component or total are dropped (listwise).
    nominal
        Nominal points per component (e.g. ``{"achievement": 20, ...}`` from the
        scheme); ``None`` leaves ``nominal_points`` / ``nominal_share`` NaN.

    Returns
    -------
    pandas.DataFrame
        One row per component, columns ``component``, ``nominal_points``,
        ``nominal_share`` (points / sum of the given points), ``mean``, ``variance``
        (ddof 1), ``cov_total``, ``effective_share``, ``ratio`` (effective / nominal
        share), ``corr_total`` (Pearson with the total), ``n``, ``reason``.
        ``attrs["share_sum"]`` is the sum of the effective shares and
        ``attrs["total_is_sum"]`` whether the total equals the component sum (1e-6).

    Raises
    ------
    ValueError
        Missing or non-numeric columns, no components, or ``nominal`` lacking a
        component.
    """
    comps = as_list(components)
    if not comps:
        raise ValueError("components must name at least one column")
    if len(set(comps)) != len(comps):
        raise ValueError(f"components are not unique: {comps}")
    require_columns(wide, [*comps, *([total_col] if total_col is not None else [])], "wide")
    x = np.column_stack([_numeric(wide[c], c) for c in comps])
    if total_col is None:
        total = x.sum(axis=1)
    else:
        total = _numeric(wide[total_col], total_col)
    if nominal is not None:
        absent = [c for c in comps if c not in nominal]
        if absent:
            raise ValueError(f"nominal points missing for component(s) {absent}")
    ok = ~np.isnan(x).any(axis=1) & ~np.isnan(total)
    n_drop = int((~ok).sum())
    if n_drop:
        log.info("effective_weights: dropping %d row(s) with a missing component or total", n_drop)
    x, total = x[ok], total[ok]
    n = int(x.shape[0])

    nom = np.array([np.nan if nominal is None else float(nominal[c]) for c in comps])
    nom_share = nom / nom.sum() if nominal is not None and nom.sum() != 0 else np.full(len(comps), np.nan)
    reasons = np.full(len(comps), "", dtype=object)
    if nominal is None:
        reasons[:] = "nominal points not given"
    if n < 2:
        var = cov = share = corr = np.full(len(comps), np.nan)
        means = x.mean(axis=0) if n else np.full(len(comps), np.nan)
        reasons[:] = "fewer than 2 complete units"
        total_is_sum = bool(np.allclose(x.sum(axis=1), total, atol=1e-6)) if n else False
    else:
        means = x.mean(axis=0)
        xc = x - means
        tc = total - total.mean()
        var = (xc**2).sum(axis=0) / (n - 1)
        cov = (xc * tc[:, None]).sum(axis=0) / (n - 1)
        var_t = float((tc**2).sum() / (n - 1))
        tol = 1e-12 * max(1.0, float(np.abs(x).max()) ** 2)
        var = np.where(var <= tol, 0.0, var)
        cov = np.where(var == 0.0, 0.0, cov)
        total_is_sum = bool(np.allclose(x.sum(axis=1), total, atol=1e-6))
        if var_t <= tol:
            share = corr = np.full(len(comps), np.nan)
            reasons[:] = "total is constant: no variance to share"
        else:
            share = cov / var_t
            with np.errstate(divide="ignore", invalid="ignore"):
                corr = cov / np.sqrt(var * var_t)
            const = var == 0.0
            corr = np.where(const, np.nan, corr)
            reasons = np.where(const, "constant component: no effective weight", reasons)
        if not total_is_sum:
            log.info("effective_weights: %s is not the sum of the components; shares need not sum to 1",
                        total_col)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = share / nom_share
    ratio = np.where(np.isfinite(ratio), ratio, np.nan)
    out = pd.DataFrame(
        {
            "component": comps, "nominal_points": nom, "nominal_share": nom_share,
            "mean": means, "variance": var, "cov_total": cov, "effective_share": share,
            "ratio": ratio, "corr_total": corr, "n": n, "reason": reasons.astype(str),
        }
    )
    out.attrs["share_sum"] = float(np.nansum(share)) if np.isfinite(share).any() else float("nan")
    out.attrs["total_is_sum"] = total_is_sum
    out.attrs["n_dropped"] = n_drop
    return out


# --------------------------------------------------------------------------------------
# old versus new integrity
# --------------------------------------------------------------------------------------
def compare_integrity(
    integrity: pd.DataFrame,
    new_index: pd.DataFrame | pd.Series,
    on: str | Sequence[str] = "department_id",
    old_col: str = "acrc_score",
    new_col: str = "integrity_index",
    decimals: int | None = 6,
) -> pd.DataFrame:
    """The old ACRC-derived integrity score against the new integrity index, side by side.

    Both measures are compared on the same units: those having both values (inner join
    on ``on``).

    Parameters
    ----------
    integrity
        Table with ``on`` and ``old_col`` (e.g. the ``integrity`` input table).
    new_index
        DataFrame with ``on`` and ``new_col``, or a Series of the new index indexed by
        the unit id (its name is ignored).
    on
        Key column(s); pass ``["year", "department_id"]`` for several years.
    old_col, new_col
        Value columns.
    decimals
        Tie rounding, as in :func:`discrimination`.

    Returns
    -------
    pandas.DataFrame
        Two rows (``measure`` = ``old`` / ``new``) with ``label_ko`` (공무원 청렴도(구) /
        청렴지수), ``column``, all :func:`discrimination` columns, and the same
        ``spearman_rho``, ``spearman_pval``, ``n_paired``, ``n_unpaired`` (units with
        only one of the two values, excluded) on both rows. With 199 of 248 tied old
        scores the old row shows ``largest_tie_share`` 0.802.

    Raises
    ------
    ValueError
        Missing or non-numeric columns, or duplicate keys in either input.
    """
    keys = as_list(on)
    if isinstance(new_index, pd.Series):
        s = new_index.rename(new_col)
        if len(keys) != 1 and s.index.nlevels != len(keys):
            raise ValueError(f"a Series new_index needs an index matching the keys {keys}")
        s.index = s.index.set_names(keys)
        new_index = s.reset_index()
    require_columns(integrity, [*keys, old_col], "integrity")
    require_columns(new_index, [*keys, new_col], "new_index")
    for name, frame in (("integrity", integrity), ("new_index", new_index)):
        dup = frame.duplicated(subset=keys)
        if dup.any():
            raise ValueError(
                f"{name} has {int(dup.sum())} duplicate key(s) on {keys}"
                + ("; several years? pass on=['year', 'department_id']" if "year" not in keys else "")
            )
    _numeric(integrity[old_col], old_col)
    _numeric(new_index[new_col], new_col)
    left = integrity[[*keys, old_col]].loc[integrity[old_col].notna()]
    right = new_index[[*keys, new_col]].rename(columns={new_col: "__new"})
    right = right.loc[right["__new"].notna()]
    both = left.merge(right, on=keys, how="inner", validate="one_to_one")
    n_union = len(pd.concat([left[keys], right[keys]]).drop_duplicates())
    n_unpaired = n_union - len(both)
    if n_unpaired:
        log.info("compare_integrity: %d unit(s) have only one of the two scores; excluded", n_unpaired)
    old = both[old_col].to_numpy(dtype="float64")
    new = both["__new"].to_numpy(dtype="float64")
    reason = ""
    if len(both) < 3:
        rho = p = np.nan
        reason = "fewer than 3 paired units: no correlation"
    elif np.all(old == old[0]) or np.all(new == new[0]):
        rho = p = np.nan
        reason = "a constant score: correlation undefined"
    else:
        res = _st.spearmanr(old, new)
        rho, p = float(res.statistic), float(res.pvalue)
    rows = []
    for measure, label, col, v in (("old", "공무원 청렴도(구)", old_col, old),
                                   ("new", "청렴지수", new_col, new)):
        d = _describe(v, decimals)
        d["reason"] = "; ".join(r for r in (d["reason"], reason) if r)
        rows.append({"measure": measure, "label_ko": label, "column": col, **d})
    out = pd.DataFrame(rows)
    out["spearman_rho"] = rho
    out["spearman_pval"] = p
    out["n_paired"] = len(both)
    out["n_unpaired"] = n_unpaired
    cols = ["measure", "label_ko", "column", *[c for c in DISCRIMINATION_COLUMNS if c != "reason"],
            "spearman_rho", "spearman_pval", "n_paired", "n_unpaired", "reason"]
    return out[cols]


# --------------------------------------------------------------------------------------
# group differences
# --------------------------------------------------------------------------------------
def group_differences(df: pd.DataFrame, value_col: str, group_col: str) -> pd.DataFrame:
    r"""Kruskal–Wallis test of differences between groups, with effect sizes.

    Parameters
    ----------
    df
        Long table with a score and a group per row (rows with a missing score or group
        are ignored).
    value_col
        Numeric score column.
    group_col
        Group column (e.g. ``inst_type``).

    Returns
    -------
    pandas.DataFrame
        One row per group, columns ``group``, ``n``, ``median``, ``mean_rank`` (rank in
        the pooled sample, average ranks for ties) and the test, repeated on every row:
        ``H`` (tie-corrected, scipy), ``df`` (k − 1), ``pval``, ``epsilon2``
        :math:`= H/(n-1)` and ``eta2_h`` :math:`= (H - k + 1)/(n - k)`
        (Tomczak & Tomczak 2014), ``n_total``, ``k``, ``reason``. Fewer than 2 non-empty
        groups or all values equal give NaN statistics with a reason; ``eta2_h`` is NaN
        when n = k.

    Raises
    ------
    ValueError
        Missing columns or a non-numeric value column.

    Notes
    -----
    :math:`\varepsilon^2_R = H/((n^2-1)/(n+1)) = H/(n-1)` and
    :math:`\eta^2_H = (H-k+1)/(n-k)` both estimate the share of rank variance explained
    by the groups (0 none, 1 all); :math:`\eta^2_H` can be slightly negative when H is
    below its expectation k − 1.
    """
    require_columns(df, [value_col, group_col])
    v = _numeric(df[value_col], value_col)
    d = pd.DataFrame({"group": df[group_col].to_numpy(), "v": v})
    d = d.loc[d["v"].notna() & d["group"].notna()]
    d["rank"] = _st.rankdata(d["v"].to_numpy()) if len(d) else np.array([], dtype="float64")
    per = (
        d.groupby("group", sort=True)
        .agg(n=("v", "size"), median=("v", "median"), mean_rank=("rank", "mean"))
        .reset_index()
    )
    k = len(per)
    n = int(len(d))
    h = p = eps = eta = np.nan
    reason = ""
    if k < 2:
        reason = f"fewer than 2 groups with values ({k})"
    elif np.all(d["v"].to_numpy() == d["v"].iloc[0]):
        reason = "all values equal: no ranking"
    else:
        samples = [g["v"].to_numpy() for _, g in d.groupby("group", sort=True)]
        res = _st.kruskal(*samples)
        h, p = float(res.statistic), float(res.pvalue)
        eps = h / (n - 1)
        eta = (h - k + 1) / (n - k) if n > k else np.nan
        if n == k:
            reason = "one value per group: eta2_h undefined"
    per["H"] = h
    per["df"] = (k - 1) if k >= 2 else np.nan
    per["pval"] = p
    per["epsilon2"] = eps
    per["eta2_h"] = eta
    per["n_total"] = n
    per["k"] = k
    per["reason"] = reason
    if per.empty:
        return pd.DataFrame(
            [{"group": np.nan, "n": 0, "median": np.nan, "mean_rank": np.nan, "H": np.nan,
              "df": np.nan, "pval": np.nan, "epsilon2": np.nan, "eta2_h": np.nan,
              "n_total": 0, "k": 0, "reason": reason}]
        )
    return per
