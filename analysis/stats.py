"""Statistics for 0-100 listening-study ratings.

Long DataFrame + column names in, tidy DataFrame with stable column names out (pingouin's
style). Everything here is pure: pandas, numpy, scipy, statsmodels; no Django.

The functions follow research/C_metrics.md section 4.3:

- :func:`describe_conditions`: per condition mean, SD, median, quartiles, a t interval on
  per-participant condition means and a participant-cluster bootstrap interval.
- :func:`friedman` and :func:`kendall_w`: omnibus rank test over participants' condition means.
- :func:`pairwise_wilcoxon`: Wilcoxon signed-rank per pair of conditions with Holm (or
  Benjamini-Hochberg) correction, rank-biserial r and paired Cohen's dz.
- :func:`mixed_model`: ``rating ~ condition + (1 | participant) + (1 | clip)`` with crossed
  random intercepts, estimated condition means and pairwise contrasts.
- :func:`paper_tables`: mean per condition per form, the layout of the paper's Tables 4 and 5.

A statistic that the data cannot support raises :class:`AnalysisError` whose message says why
(for example "Friedman needs at least 2 participants ..."); a value that is merely undefined in
one row of a table is NaN with the reason in that row's ``note`` column.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
import scipy.stats
from scipy.optimize import minimize

logger = logging.getLogger(__name__)

__all__ = [
    "AnalysisError",
    "MixedModelResult",
    "analysis_rows",
    "describe_conditions",
    "friedman",
    "kendall_w",
    "mixed_model",
    "paper_tables",
    "pairwise_wilcoxon",
    "p_adjust",
]

PAdjust = Literal["holm", "fdr_bh", "bonferroni", "none"]


class AnalysisError(ValueError):
    """The data cannot support the requested statistic; the message says why."""


# --------------------------------------------------------------------------------------------
# helpers


def _require_columns(data: pd.DataFrame, columns: Sequence[str]) -> None:
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"expected a pandas DataFrame, got {type(data).__name__}")
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise AnalysisError(f"the table lacks the column(s) {missing}; it has {list(data.columns)}")


def analysis_rows(ratings: pd.DataFrame, *, dv: str = "value") -> pd.DataFrame:
    """The rows that carry a rating to analyse.

    Drops attention/catch trials (``is_attention`` true, when that column exists) and rows
    whose ``dv`` is missing. Returns a new DataFrame; the input is not modified.
    """
    _require_columns(ratings, [dv])
    keep = ratings[dv].notna().to_numpy()
    if "is_attention" in ratings.columns:
        keep = keep & ~ratings["is_attention"].fillna(False).astype(bool).to_numpy()
    out = ratings.loc[keep].copy()
    out[dv] = out[dv].astype(float)
    return out


def _participant_means(data: pd.DataFrame, *, dv: str, within: str, subject: str) -> pd.DataFrame:
    """Wide table: one row per participant, one column per condition, cell = mean rating."""
    return data.pivot_table(index=subject, columns=within, values=dv, aggfunc="mean", observed=True)


def p_adjust(pvalues: Sequence[float] | np.ndarray, *, method: PAdjust = "holm") -> np.ndarray:
    """Adjust p-values for multiple comparisons; NaN entries stay NaN and do not count.

    ``holm``: Holm (1979) step-down; ``fdr_bh``: Benjamini-Hochberg (1995) step-up;
    ``bonferroni``; ``none``. Same results as R's ``p.adjust`` and statsmodels'
    ``multipletests``.

    >>> p_adjust([0.01, 0.04, 0.03], method="holm").round(3).tolist()
    [0.03, 0.06, 0.06]
    >>> p_adjust([0.01, 0.04, 0.03], method="fdr_bh").round(3).tolist()
    [0.03, 0.04, 0.04]
    """
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    m = int(ok.sum())
    if m == 0:
        return out
    q = p[ok]
    if method == "none":
        adj = q
    elif method == "bonferroni":
        adj = np.minimum(q * m, 1.0)
    elif method == "holm":
        order = np.argsort(q, kind="stable")
        stepped = np.maximum.accumulate((m - np.arange(m)) * q[order])
        adj = np.empty(m)
        adj[order] = np.minimum(stepped, 1.0)
    elif method == "fdr_bh":
        order = np.argsort(q, kind="stable")[::-1]
        ranks = m - np.arange(m)  # rank of each sorted-descending p
        stepped = np.minimum.accumulate(q[order] * m / ranks)
        adj = np.empty(m)
        adj[order] = np.minimum(stepped, 1.0)
    else:
        raise ValueError(
            f"unknown p-value adjustment {method!r}; use holm, fdr_bh, bonferroni or none"
        )
    out[ok] = adj
    return out


# --------------------------------------------------------------------------------------------
# descriptives


def describe_conditions(
    data: pd.DataFrame,
    *,
    dv: str = "value",
    within: str = "condition",
    subject: str = "participant",
    by: str | None = None,
    conditions: Sequence[str] | None = None,
    confidence: float = 0.95,
    n_boot: int = 10_000,
    seed: int = 0,
) -> pd.DataFrame:
    """Per-condition descriptives with two participant-level intervals.

    Definitions (all over the rows of ``data``; drop attention trials first with
    :func:`analysis_rows`):

    - ``n``: number of ratings; ``n_participants``: participants with at least one rating.
    - ``mean``, ``sd`` (ddof 1), ``median``, ``q1``, ``q3``: over all ratings of the condition.
      ``mean`` is the figure the paper's Tables 4 and 5 report.
    - ``pmean``: mean of the per-participant condition means (each participant's ratings of
      the condition averaged first). ``t_low``/``t_high``: ``pmean -/+ t(1-a/2, n-1) * s/sqrt(n)``
      with ``s`` the SD of the participant means and ``n = n_participants`` (the interval
      research/C_metrics.md 4.3 recommends; it respects rater clustering).
    - ``boot_low``/``boot_high``: percentile interval of ``mean`` under a participant-cluster
      bootstrap: ``n_boot`` resamples of whole participants with replacement (all their
      ratings travel together), the same resample for every condition, seeded by ``seed``.
    - ``note``: why a value is missing (no ratings, one participant, ...), else empty.

    ``by`` (e.g. ``"form"``) repeats the table per group; ``conditions`` lists conditions
    that must appear even without ratings (their row has ``n = 0`` and a note).

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({
    ...     "participant": ["a", "a", "b", "b", "c", "c"],
    ...     "condition": ["x", "y"] * 3,
    ...     "value": [60.0, 70.0, 50.0, 65.0, 55.0, 75.0]})
    >>> d = describe_conditions(df, n_boot=200)
    >>> d[["condition", "n", "mean", "t_low", "t_high"]].round(2)
      condition  n  mean  t_low  t_high
    0         x  3  55.0  42.58   67.42
    1         y  3  70.0  57.58   82.42
    """
    needed = [dv, within, subject] + ([by] if by else [])
    _require_columns(data, needed)
    if not 0 < confidence < 1:
        raise ValueError("confidence must lie strictly between 0 and 1")
    groups: list[tuple[object, pd.DataFrame]]
    if by:
        groups = list(data.groupby(by, sort=True, observed=True))
        if not groups:
            groups = []
    else:
        groups = [(None, data)]
    seeds = np.random.SeedSequence(seed).spawn(max(1, len(groups)))
    frames = []
    for (key, part), ss in zip(groups, seeds, strict=False):
        table = _describe_one(
            part,
            dv=dv,
            within=within,
            subject=subject,
            conditions=conditions,
            confidence=confidence,
            n_boot=n_boot,
            rng=np.random.default_rng(ss),
        )
        if by:
            table.insert(0, by, key)
        frames.append(table)
    if not frames:
        frames.append(
            _describe_one(
                data,
                dv=dv,
                within=within,
                subject=subject,
                conditions=conditions,
                confidence=confidence,
                n_boot=n_boot,
                rng=np.random.default_rng(seed),
            )
        )
    return pd.concat(frames, ignore_index=True)


_DESCRIBE_COLUMNS = [
    "n",
    "n_participants",
    "mean",
    "sd",
    "median",
    "q1",
    "q3",
    "pmean",
    "t_low",
    "t_high",
    "boot_low",
    "boot_high",
    "note",
]


def _describe_one(
    data: pd.DataFrame,
    *,
    dv: str,
    within: str,
    subject: str,
    conditions: Sequence[str] | None,
    confidence: float,
    n_boot: int,
    rng: np.random.Generator,
) -> pd.DataFrame:
    data = data[data[dv].notna()]
    present = list(pd.unique(data[within]))
    order = list(conditions) if conditions is not None else sorted(present, key=str)
    order += [c for c in sorted(present, key=str) if c not in order]
    alpha = 1 - confidence
    rows = []
    if len(data):
        pm = _participant_means(data, dv=dv, within=within, subject=subject)
        boot = _cluster_bootstrap(
            data,
            dv=dv,
            within=within,
            subject=subject,
            conditions=[c for c in order if c in present],
            n_boot=n_boot,
            rng=rng,
            alpha=alpha,
        )
    for cond in order:
        vals = data.loc[data[within] == cond, dv].to_numpy(dtype=float)
        row: dict[str, object] = {within: cond}
        row.update({c: np.nan for c in _DESCRIBE_COLUMNS})
        row.update({"n": int(vals.size), "n_participants": 0, "note": ""})
        if vals.size == 0:
            row["note"] = "no ratings"
            rows.append(row)
            continue
        means = pm[cond].dropna().to_numpy()
        k = means.size
        row.update(
            n_participants=int(k),
            mean=float(vals.mean()),
            sd=float(vals.std(ddof=1)) if vals.size > 1 else np.nan,
            median=float(np.median(vals)),
            q1=float(np.quantile(vals, 0.25)),
            q3=float(np.quantile(vals, 0.75)),
            pmean=float(means.mean()),
        )
        notes = []
        if vals.size < 2:
            notes.append("one rating: no SD")
        if k >= 2:
            half = scipy.stats.t.ppf(1 - alpha / 2, k - 1) * means.std(ddof=1) / math.sqrt(k)
            row["t_low"], row["t_high"] = row["pmean"] - half, row["pmean"] + half
            lo, hi = boot[cond]
            row["boot_low"], row["boot_high"] = lo, hi
        else:
            notes.append("one participant: no interval")
        row["note"] = "; ".join(notes)
        rows.append(row)
    return pd.DataFrame(rows, columns=[within, *_DESCRIBE_COLUMNS])


def _cluster_bootstrap(
    data: pd.DataFrame,
    *,
    dv: str,
    within: str,
    subject: str,
    conditions: list,
    n_boot: int,
    rng: np.random.Generator,
    alpha: float,
) -> dict[object, tuple[float, float]]:
    """Percentile interval of each condition's rating mean, resampling whole participants."""
    if n_boot < 1 or not conditions:
        return {c: (np.nan, np.nan) for c in conditions}
    codes, parts = pd.factorize(data[subject])
    cond_index = {c: i for i, c in enumerate(conditions)}
    ccodes = data[within].map(cond_index).to_numpy()
    ok = ~pd.isna(ccodes)
    n_p, n_c = len(parts), len(conditions)
    flat = codes[ok] * n_c + ccodes[ok].astype(int)
    sums = np.bincount(flat, weights=data[dv].to_numpy(float)[ok], minlength=n_p * n_c)
    counts = np.bincount(flat, minlength=n_p * n_c).astype(float)
    sums, counts = sums.reshape(n_p, n_c), counts.reshape(n_p, n_c)
    chunk = max(1, int(4_000_000 // max(1, n_p * n_c)))
    stats = np.empty((n_boot, n_c))
    done = 0
    while done < n_boot:
        b = min(chunk, n_boot - done)
        idx = rng.integers(0, n_p, size=(b, n_p))
        s = sums[idx].sum(axis=1)
        c = counts[idx].sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            stats[done : done + b] = s / c
        done += b
    lo = np.nanquantile(stats, alpha / 2, axis=0)
    hi = np.nanquantile(stats, 1 - alpha / 2, axis=0)
    return {c: (float(lo[i]), float(hi[i])) for i, c in enumerate(conditions)}


# --------------------------------------------------------------------------------------------
# Friedman and Kendall's W


def _complete_wide(
    data: pd.DataFrame, *, dv: str, within: str, subject: str, test: str
) -> pd.DataFrame:
    _require_columns(data, [dv, within, subject])
    data = data[data[dv].notna()]
    if data.empty:
        raise AnalysisError(f"{test}: there are no ratings")
    wide = _participant_means(data, dv=dv, within=within, subject=subject)
    k = wide.shape[1]
    if k < 2:
        raise AnalysisError(f"{test} needs at least 2 conditions; found {k}")
    complete = wide.dropna()
    dropped = len(wide) - len(complete)
    if dropped:
        logger.info(
            "%s: %d participant(s) without a rating in every condition left out", test, dropped
        )
    if len(complete) < 2:
        raise AnalysisError(
            f"{test} needs at least 2 participants with ratings in every condition; "
            f"found {len(complete)}"
        )
    return complete


def kendall_w(
    data: pd.DataFrame,
    *,
    dv: str = "value",
    within: str = "condition",
    subject: str = "participant",
) -> float:
    """Kendall's coefficient of concordance W, corrected for ties.

    Computed over participants' condition means (complete cases), ranking the ``k``
    conditions within each of the ``n`` participants:
    ``W = (12 * sum_j R_j^2 - 3 n^2 k (k+1)^2) / (n^2 k (k^2 - 1) - n * sum t (t^2 - 1))``
    where ``R_j`` is condition j's rank sum and ``t`` runs over the sizes of tied groups
    within participants (the definition pingouin's ``friedman`` uses). W = Q / (n (k - 1)).

    >>> import pandas as pd
    >>> df = pd.DataFrame({"participant": [1, 1, 2, 2], "condition": ["a", "b"] * 2,
    ...                    "value": [1.0, 2.0, 1.0, 2.0]})
    >>> kendall_w(df)
    1.0
    """
    wide = _complete_wide(data, dv=dv, within=within, subject=subject, test="Kendall's W")
    return _kendall_w_array(wide.to_numpy())


def _kendall_w_array(x: np.ndarray) -> float:
    n, k = x.shape
    ranked = scipy.stats.rankdata(x, axis=1)
    ssbn = float((ranked.sum(axis=0) ** 2).sum())
    ties = 0.0
    for row in x:
        _, counts = np.unique(row, return_counts=True)
        ties += float(np.sum(counts * (counts * counts - 1)))
    denom = n**2 * k * (k - 1) * (k + 1) - n * ties
    if denom <= 0:
        raise AnalysisError(
            "Kendall's W is undefined: every participant gave all conditions the same mean rating"
        )
    return float((12 * ssbn - 3 * n**2 * k * (k + 1) ** 2) / denom)


def friedman(
    data: pd.DataFrame,
    *,
    dv: str = "value",
    within: str = "condition",
    subject: str = "participant",
    method: Literal["chisq", "f"] = "chisq",
) -> pd.DataFrame:
    """Friedman test over participants' condition means, with Kendall's W.

    Each participant's ratings are averaged per condition; participants without a rating in
    every condition are left out (complete cases, as pingouin and JASP do). With ``n``
    participants and ``k`` conditions, W is :func:`kendall_w` (tie-corrected) and

    - ``method="chisq"``: ``Q = n (k - 1) W`` against chi-squared with ``k - 1`` df
      (identical to ``scipy.stats.friedmanchisquare``);
    - ``method="f"``: ``F = W (n - 1) / (1 - W)`` against F with ``k - 1 - 2/n`` and
      ``(n - 1)(k - 1 - 2/n)`` df (less conservative for small samples; Marozzi 2014).

    Columns: ``Source, n, k, W, ddof1, Q, p_unc`` (chisq) or
    ``Source, n, k, W, ddof1, ddof2, F, p_unc`` (f), pingouin's names.

    Examples
    --------
    pingouin's docstring example (12 subjects rating 3 wines): Q = 2.0, W = 0.083333,
    p = 0.367879; with ``method="f"``, F = 1.0, p = 0.378959.

    >>> import pandas as pd
    >>> wide = pd.DataFrame({"white": [10, 8, 7, 9, 7, 4, 5, 6, 5, 10, 4, 7],
    ...                      "red": [7, 5, 8, 6, 5, 7, 9, 6, 4, 6, 7, 3],
    ...                      "rose": [8, 5, 6, 4, 7, 5, 3, 7, 6, 4, 4, 3]})
    >>> long = wide.melt(ignore_index=False, var_name="condition").reset_index(names="participant")
    >>> friedman(long).round(6)[["W", "Q", "p_unc"]]
              W    Q     p_unc
    0  0.083333  2.0  0.367879
    """
    wide = _complete_wide(data, dv=dv, within=within, subject=subject, test="Friedman")
    x = wide.to_numpy()
    n, k = x.shape
    w = _kendall_w_array(x)
    if method == "chisq":
        q = n * (k - 1) * w
        ddof1 = k - 1
        p = float(scipy.stats.chi2.sf(q, ddof1))
        row = {"Source": within, "n": n, "k": k, "W": w, "ddof1": ddof1, "Q": q, "p_unc": p}
    elif method == "f":
        if w >= 1:
            f_stat, p = np.inf, 0.0
        else:
            f_stat = w * (n - 1) / (1 - w)
        ddof1 = k - 1 - 2 / n
        ddof2 = (n - 1) * ddof1
        if w < 1:
            p = float(scipy.stats.f.sf(f_stat, ddof1, ddof2))
        row = {
            "Source": within,
            "n": n,
            "k": k,
            "W": w,
            "ddof1": ddof1,
            "ddof2": ddof2,
            "F": f_stat,
            "p_unc": p,
        }
    else:
        raise ValueError(f"unknown method {method!r}; use 'chisq' or 'f'")
    return pd.DataFrame([row])


# --------------------------------------------------------------------------------------------
# pairwise Wilcoxon


def pairwise_wilcoxon(
    data: pd.DataFrame,
    *,
    dv: str = "value",
    within: str = "condition",
    subject: str = "participant",
    padjust: PAdjust = "holm",
    alternative: Literal["two-sided", "greater", "less"] = "two-sided",
    order: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Wilcoxon signed-rank tests for every pair of conditions, on participant means.

    For each pair (A, B), ``d = mean_A - mean_B`` per participant who rated both (pairwise
    complete). The test is ``scipy.stats.wilcoxon(d)`` with R's ``wilcox.test`` rules, which
    are deterministic: zero differences dropped; the exact p-value when there are at most 50
    differences and no ties or zeros; otherwise the normal approximation with the tie-corrected
    variance and a continuity correction (pingouin's default). (scipy's own ``"auto"`` would
    switch to a randomised permutation test when there are ties.) Effect sizes:

    - ``RBC``: matched-pairs rank-biserial correlation ``(R+ - R-) / (R+ + R-)`` over the
      ranks of the non-zero ``|d|`` (Kerby 2014); positive when A is rated higher.
    - ``dz``: paired Cohen's d, ``mean(d) / sd(d)`` (ddof 1).

    ``p_corr`` adjusts ``p_unc`` across the pairs of the table with ``padjust`` (Holm by
    default; ``fdr_bh`` for Benjamini-Hochberg). Columns: ``A, B, n, mean_A, mean_B, diff,
    W_val, alternative, p_unc, p_corr, p_adjust, RBC, dz, note``.

    Examples
    --------
    pingouin's ``wilcoxon`` docstring example (it has a zero and ties, so the normal
    approximation with continuity correction applies): W = 20.5, p = 0.285765, RBC = -0.378788.

    >>> import numpy as np, pandas as pd
    >>> x = [20, 22, 19, 20, 22, 18, 24, 20, 19, 24, 26, 13]
    >>> y = [38, 37, 33, 29, 14, 12, 20, 22, 17, 25, 26, 16]
    >>> df = pd.DataFrame({"participant": list(range(12)) * 2, "condition": ["x"] * 12 + ["y"] * 12,
    ...                    "value": x + y})
    >>> pairwise_wilcoxon(df).round(6)[["A", "B", "W_val", "p_unc", "RBC"]]
       A  B  W_val     p_unc       RBC
    0  x  y   20.5  0.285765 -0.378788
    """
    _require_columns(data, [dv, within, subject])
    data = data[data[dv].notna()]
    wide = _participant_means(data, dv=dv, within=within, subject=subject)
    conds = list(order) if order is not None else sorted(wide.columns, key=str)
    rows = []
    for i, a in enumerate(conds):
        for b in conds[i + 1 :]:
            rows.append(_wilcoxon_pair(wide, a, b, alternative=alternative))
    columns = [
        "A",
        "B",
        "n",
        "mean_A",
        "mean_B",
        "diff",
        "W_val",
        "alternative",
        "p_unc",
        "p_corr",
        "p_adjust",
        "RBC",
        "dz",
        "note",
    ]
    out = pd.DataFrame(rows, columns=columns)
    out["p_corr"] = p_adjust(out["p_unc"].to_numpy(dtype=float), method=padjust)
    out["p_adjust"] = padjust
    return out


def _wilcoxon_pair(wide: pd.DataFrame, a: object, b: object, *, alternative: str) -> dict:
    row: dict[str, object] = {"A": a, "B": b, "alternative": alternative, "note": ""}
    if a not in wide.columns or b not in wide.columns:
        missing = a if a not in wide.columns else b
        row.update(
            n=0,
            mean_A=np.nan,
            mean_B=np.nan,
            diff=np.nan,
            W_val=np.nan,
            p_unc=np.nan,
            RBC=np.nan,
            dz=np.nan,
            note=f"no ratings of {missing}",
        )
        return row
    pair = wide[[a, b]].dropna()
    d = (pair[a] - pair[b]).to_numpy()
    row.update(
        n=int(d.size),
        mean_A=float(pair[a].mean()) if d.size else np.nan,
        mean_B=float(pair[b].mean()) if d.size else np.nan,
        diff=float(d.mean()) if d.size else np.nan,
    )
    notes = []
    nz = d[d != 0]
    if nz.size == 0:
        row.update(W_val=np.nan, p_unc=np.nan, RBC=np.nan)
        notes.append(
            "no participant with a non-zero difference: test undefined"
            if d.size
            else "no participant rated both"
        )
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            exact = nz.size == d.size and nz.size <= 50 and np.unique(np.abs(nz)).size == nz.size
            res = scipy.stats.wilcoxon(
                d,
                alternative=alternative,
                method="exact" if exact else "asymptotic",
                correction=not exact,
            )
        ranks = scipy.stats.rankdata(np.abs(nz))
        r_plus, r_minus = ranks[nz > 0].sum(), ranks[nz < 0].sum()
        row.update(
            W_val=float(res.statistic),
            p_unc=float(res.pvalue),
            RBC=float((r_plus - r_minus) / (r_plus + r_minus)),
        )
        if nz.size < 6:
            notes.append(f"only {nz.size} non-zero differences: little power")
    sd = d.std(ddof=1) if d.size > 1 else np.nan
    row["dz"] = float(d.mean() / sd) if d.size > 1 and sd > 0 else np.nan
    if d.size > 1 and not sd > 0:
        notes.append("differences have no spread: dz undefined")
    row["note"] = "; ".join(notes)
    return row


# --------------------------------------------------------------------------------------------
# mixed model with crossed random intercepts


@dataclass
class MixedModelResult:
    """A fitted ``dv ~ condition + (1 | subject) + (1 | item)`` model.

    - ``fixed``: ``term, estimate, se, z, p_unc, ci_low, ci_high`` (treatment coding against
      ``reference``; Wald z tests and normal intervals, as statsmodels reports them).
    - ``variance``: ``component, variance, sd`` for the subject, item and residual terms.
    - ``means``: estimated mean rating per condition (``estimate, se, ci_low, ci_high``):
      the intercept plus the condition's coefficient, ``L beta`` with ``se = sqrt(L V L')``.
    - ``contrasts``: every pair ``A - B`` of estimated means with ``se, z, p_unc, p_corr``
      (adjusted across pairs), the interval, and ``d_std = estimate /
      sqrt(var_subject + var_item + var_residual)`` (research/C_metrics.md 4.3, item 6).
    """

    fixed: pd.DataFrame
    variance: pd.DataFrame
    means: pd.DataFrame
    contrasts: pd.DataFrame
    n_obs: int
    n_groups: dict[str, int]
    reference: object
    engine: str
    reml: bool
    objective: float
    converged: bool
    messages: list[str] = field(default_factory=list)

    def summary_table(self) -> pd.DataFrame:
        """One-row overview: engine, criterion, convergence and sizes."""
        row = {
            "engine": self.engine,
            "method": "REML" if self.reml else "ML",
            "criterion": self.objective,
            "converged": self.converged,
            "n_obs": self.n_obs,
        }
        row.update({f"n_{k}": v for k, v in self.n_groups.items()})
        return pd.DataFrame([row])


def mixed_model(
    data: pd.DataFrame,
    *,
    dv: str = "value",
    within: str = "condition",
    subject: str = "participant",
    item: str = "clip",
    reference: object | None = None,
    reml: bool = True,
    engine: Literal["auto", "profiled", "statsmodels"] = "auto",
    confidence: float = 0.95,
    padjust: PAdjust = "holm",
) -> MixedModelResult:
    """Fit ``dv ~ C(within) + (1 | subject) + (1 | item)`` with crossed random intercepts.

    The model: ``y = X beta + b_subject + b_item + e`` with independent
    ``b_subject ~ N(0, s2_subject)``, ``b_item ~ N(0, s2_item)``, ``e ~ N(0, s2)``; REML
    by default (``reml=False`` for maximum likelihood), the criterion lme4 reports.

    Two engines estimate this same model:

    - ``"statsmodels"``: ``MixedLM`` with one group spanning all rows and the two factors as
      variance components (``vc_formula``), the crossed design of statsmodels' "Variance
      Component Analysis" notebook. Its design matrices are dense (rows x levels), so it
      suits studies up to a few hundred participants.
    - ``"profiled"``: the lme4 formulation (Bates et al. 2015): the relative standard
      deviations theta = (s_subject / s, s_item / s) are found by minimising the profiled
      (REML) deviance; the subject block of the penalised normal equations is diagonal, so
      it is eliminated in closed form and each evaluation costs O(P * (I + p)^2) for P
      subjects, I items and p fixed effects. Scales to 10,000 participants.

    ``"auto"`` takes statsmodels when rows x (subjects + items) is at most 300,000 (about
    one paper-sized form) and the profiled engine otherwise, or when statsmodels fails to
    converge; the result says which engine ran. Measured here on the paper's form 1 (68 x 45
    ratings): statsmodels 2.4 s, profiled 0.04 s, estimates equal to 4 digits. The tests check that both agree and match lme4's values
    on the Penicillin data.

    Examples
    --------
    >>> from analysis.simulate import simulate_ratings, FormDesign
    >>> df = simulate_ratings(forms=[FormDesign("f", {"a": 50.0, "b": 60.0}, 6, 30)], seed=1)
    >>> fit = mixed_model(df[~df["is_attention"]], engine="profiled")
    >>> list(fit.means.columns)
    ['condition', 'estimate', 'se', 'ci_low', 'ci_high']
    """
    _require_columns(data, [dv, within, subject, item])
    data = data[data[dv].notna()]
    if data.empty:
        raise AnalysisError("mixed model: there are no ratings")
    y = data[dv].to_numpy(dtype=float)
    if np.ptp(y) == 0:
        raise AnalysisError(
            "mixed model: all ratings are identical, so there is no variance to model"
        )
    levels = sorted(pd.unique(data[within]), key=str)
    if reference is None:
        reference = levels[0]
    if reference not in levels:
        raise AnalysisError(f"mixed model: reference condition {reference!r} has no ratings")
    others = [c for c in levels if c != reference]
    cond = data[within].to_numpy()
    x = np.column_stack([np.ones(len(y))] + [(cond == c).astype(float) for c in others])
    terms = ["Intercept"] + [f"{within}[{c}]" for c in others]
    s_codes, s_levels = pd.factorize(data[subject])
    i_codes, i_levels = pd.factorize(data[item])
    n_groups = {subject: len(s_levels), item: len(i_levels)}
    messages: list[str] = []
    if len(y) <= x.shape[1]:
        raise AnalysisError(
            f"mixed model: {len(y)} ratings cannot estimate {x.shape[1]} fixed effects"
        )

    size = len(y) * (len(s_levels) + len(i_levels))
    use = engine
    if engine == "auto":
        use = "statsmodels" if size <= 300_000 else "profiled"
    fit = None
    if use == "statsmodels":
        try:
            fit = _fit_statsmodels(
                data,
                dv=dv,
                within=within,
                subject=subject,
                item=item,
                reference=reference,
                reml=reml,
                terms=terms,
            )
            if not fit["converged"] and engine == "auto":
                messages.append("statsmodels did not converge; refitted with the profiled engine")
                fit = None
        except Exception as exc:  # noqa: BLE001 - statsmodels raises many kinds
            if engine != "auto":
                raise AnalysisError(f"mixed model (statsmodels) failed: {exc}") from exc
            messages.append(f"statsmodels failed ({exc}); refitted with the profiled engine")
            fit = None
    if fit is None:
        fit = _fit_profiled(y, x, s_codes, len(s_levels), i_codes, len(i_levels), reml=reml)
    messages += fit.get("messages", [])
    beta, cov = fit["beta"], fit["cov"]
    var_s, var_i, var_e = fit["var_subject"], fit["var_item"], fit["var_resid"]
    zcrit = scipy.stats.norm.ppf(1 - (1 - confidence) / 2)

    se = np.sqrt(np.diag(cov))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = beta / se
    fixed = pd.DataFrame(
        {
            "term": terms,
            "estimate": beta,
            "se": se,
            "z": z,
            "p_unc": 2 * scipy.stats.norm.sf(np.abs(z)),
            "ci_low": beta - zcrit * se,
            "ci_high": beta + zcrit * se,
        }
    )
    variance = pd.DataFrame(
        {
            "component": [subject, item, "residual"],
            "variance": [var_s, var_i, var_e],
            "sd": np.sqrt([var_s, var_i, var_e]),
        }
    )
    lmat = np.zeros((len(levels), len(terms)))
    lmat[:, 0] = 1
    for j, c in enumerate(others):
        lmat[levels.index(c), j + 1] = 1
    est = lmat @ beta
    mse = np.sqrt(np.einsum("ij,jk,ik->i", lmat, cov, lmat))
    means = pd.DataFrame(
        {
            within: levels,
            "estimate": est,
            "se": mse,
            "ci_low": est - zcrit * mse,
            "ci_high": est + zcrit * mse,
        }
    )
    total_sd = math.sqrt(var_s + var_i + var_e)
    crow = []
    for i, a in enumerate(levels):
        for b in levels[i + 1 :]:
            vec = lmat[i] - lmat[levels.index(b)]
            e = float(vec @ beta)
            s = float(np.sqrt(vec @ cov @ vec))
            zz = e / s if s > 0 else np.nan
            crow.append(
                {
                    "A": a,
                    "B": b,
                    "estimate": e,
                    "se": s,
                    "z": zz,
                    "p_unc": float(2 * scipy.stats.norm.sf(abs(zz))) if s > 0 else np.nan,
                    "ci_low": e - zcrit * s,
                    "ci_high": e + zcrit * s,
                    "d_std": e / total_sd if total_sd > 0 else np.nan,
                }
            )
    contrasts = pd.DataFrame(
        crow, columns=["A", "B", "estimate", "se", "z", "p_unc", "ci_low", "ci_high", "d_std"]
    )
    contrasts.insert(6, "p_corr", p_adjust(contrasts["p_unc"].to_numpy(float), method=padjust))
    contrasts.insert(7, "p_adjust", padjust)
    if var_s < 1e-8 * max(var_e, 1e-12) or var_i < 1e-8 * max(var_e, 1e-12):
        messages.append("a random-effect variance is estimated at zero (singular fit)")
    for name, count in n_groups.items():
        if count < 2:
            messages.append(f"only {count} {name}: its variance cannot be estimated")
    return MixedModelResult(
        fixed=fixed,
        variance=variance,
        means=means,
        contrasts=contrasts,
        n_obs=len(y),
        n_groups=n_groups,
        reference=reference,
        engine=fit["engine"],
        reml=reml,
        objective=float(fit["objective"]),
        converged=bool(fit["converged"]),
        messages=messages,
    )


def _fit_statsmodels(
    data: pd.DataFrame,
    *,
    dv: str,
    within: str,
    subject: str,
    item: str,
    reference: object,
    reml: bool,
    terms: list[str],
) -> dict:
    import statsmodels.formula.api as smf
    from statsmodels.tools.sm_exceptions import ConvergenceWarning

    df = pd.DataFrame(
        {
            "y": data[dv].to_numpy(float),
            "cond": data[within].astype(str).to_numpy(),
            "subj": data[subject].astype(str).to_numpy(),
            "item": data[item].astype(str).to_numpy(),
            "grp": np.ones(len(data)),
        }
    )
    ref = str(reference)
    formula = f"y ~ C(cond, Treatment(reference={ref!r}))"
    model = smf.mixedlm(
        formula,
        df,
        groups="grp",
        re_formula="0",
        vc_formula={"subj": "0 + C(subj)", "item": "0 + C(item)"},
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = model.fit(reml=reml, method=["lbfgs", "bfgs", "powell"])
    converged = bool(res.converged) and not any(
        issubclass(w.category, ConvergenceWarning) for w in caught
    )
    k = len(terms)
    fe = np.asarray(res.fe_params, dtype=float)
    cov = np.asarray(res.cov_params(), dtype=float)[:k, :k]
    vc = dict(zip(model.exog_vc.names, np.asarray(res.vcomp, dtype=float), strict=True))
    return {
        "engine": "statsmodels",
        "beta": fe,
        "cov": cov,
        "var_subject": float(vc["subj"]),
        "var_item": float(vc["item"]),
        "var_resid": float(res.scale),
        "objective": float(-2 * res.llf),
        "converged": converged,
        "messages": [],
    }


def _fit_profiled(
    y: np.ndarray,
    x: np.ndarray,
    s_codes: np.ndarray,
    n_s: int,
    i_codes: np.ndarray,
    n_i: int,
    *,
    reml: bool,
) -> dict:
    """lme4-style profiled deviance for two crossed random intercepts (see mixed_model)."""
    n, p = x.shape
    ns = np.bincount(s_codes, minlength=n_s).astype(float)
    ni = np.bincount(i_codes, minlength=n_i).astype(float)
    nsi = np.bincount(s_codes * n_i + i_codes, minlength=n_s * n_i).reshape(n_s, n_i).astype(float)
    zsx = np.zeros((n_s, p))
    np.add.at(zsx, s_codes, x)
    zix = np.zeros((n_i, p))
    np.add.at(zix, i_codes, x)
    zsy = np.bincount(s_codes, weights=y, minlength=n_s)
    ziy = np.bincount(i_codes, weights=y, minlength=n_i)
    xtx, xty, yty = x.T @ x, x.T @ y, float(y @ y)
    free = np.array([n_s > 1, n_i > 1])

    def solve(theta: np.ndarray) -> dict:
        t1, t2 = theta
        a = t1 * t1 * ns + 1.0  # diagonal subject block
        m = n_i + p
        b = np.zeros((m, m))
        b[:n_i, :n_i] = np.diag(t2 * t2 * ni + 1.0)
        b[:n_i, n_i:] = t2 * zix
        b[n_i:, :n_i] = t2 * zix.T
        b[n_i:, n_i:] = xtx
        e = np.hstack([t1 * t2 * nsi, t1 * zsx])  # (n_s, m)
        r1 = t1 * zsy
        r2 = np.concatenate([t2 * ziy, xty])
        ea = e / a[:, None]
        s = b - e.T @ ea
        s = (s + s.T) / 2
        chol = np.linalg.cholesky(s)
        rhs = r2 - ea.T @ r1
        x2 = np.linalg.solve(chol.T, np.linalg.solve(chol, rhs))
        x1 = (r1 - e @ x2) / a
        pwrss = yty - float(r1 @ x1) - float(r2 @ x2)
        dg = np.log(np.diag(chol))
        logdet_re = float(np.log(a).sum() + 2 * dg[:n_i].sum())
        logdet_rx = float(2 * dg[n_i:].sum())
        return {
            "x1": x1,
            "x2": x2,
            "pwrss": max(pwrss, 1e-300),
            "chol": chol,
            "ld_re": logdet_re,
            "ld_rx": logdet_rx,
        }

    def deviance(th: np.ndarray) -> float:
        theta = np.zeros(2)
        theta[free] = th
        st = solve(theta)
        if reml:
            dof = n - p
            return st["ld_re"] + st["ld_rx"] + dof * (1 + math.log(2 * math.pi * st["pwrss"] / dof))
        return st["ld_re"] + n * (1 + math.log(2 * math.pi * st["pwrss"] / n))

    k = int(free.sum())
    best = None
    if k:
        for start in (np.ones(k), np.full(k, 0.3)):
            res = minimize(
                deviance,
                start,
                method="L-BFGS-B",
                bounds=[(0, None)] * k,
                options={"ftol": 1e-12, "gtol": 1e-8, "maxiter": 500},
            )
            if best is None or res.fun < best.fun:
                best = res
        th = best.x
        converged = bool(best.success)
        objective = float(best.fun)
    else:
        th = np.zeros(0)
        converged = True
        objective = deviance(th)
    theta = np.zeros(2)
    theta[free] = th
    st = solve(theta)
    dof = n - p if reml else n
    sigma2 = st["pwrss"] / dof
    beta = st["x2"][n_i:]
    lff = st["chol"][n_i:, n_i:]
    rx_inv = np.linalg.inv(lff)
    cov = sigma2 * (rx_inv.T @ rx_inv)
    return {
        "engine": "profiled",
        "beta": beta,
        "cov": cov,
        "var_subject": float(sigma2 * theta[0] ** 2),
        "var_item": float(sigma2 * theta[1] ** 2),
        "var_resid": float(sigma2),
        "objective": objective,
        "converged": converged,
        "theta": theta,
        "messages": [],
    }


# --------------------------------------------------------------------------------------------
# the paper's tables


def paper_tables(
    data: pd.DataFrame,
    *,
    dv: str = "value",
    within: str = "condition",
    form: str = "form",
    order: Sequence[str] | None = None,
) -> dict[str, pd.DataFrame]:
    """Mean rating per condition per form: the layout of the paper's Tables 4 and 5.

    Returns ``{form: one-row DataFrame}``; the row (index ``"mean"``) holds the plain mean
    of all ratings of each condition in that form, columns ordered by ``order`` when given
    (conditions not in the form are skipped), else from the highest mean to the lowest as the
    paper prints them (MSI 74.2, Music Caps 73.5, Video Caps 61.4).

    >>> import pandas as pd
    >>> df = pd.DataFrame({"form": ["f1"] * 4, "condition": ["msi", "msi", "video", "video"],
    ...                    "value": [70.0, 80.0, 60.0, 61.0]})
    >>> paper_tables(df)["f1"]
           msi  video
    mean  75.0   60.5
    """
    _require_columns(data, [dv, within, form])
    data = data[data[dv].notna()]
    out: dict[str, pd.DataFrame] = {}
    for key, part in data.groupby(form, sort=True, observed=True):
        means = part.groupby(within, observed=True)[dv].mean()
        if order is not None:
            cols = [c for c in order if c in means.index]
            cols += [c for c in means.sort_values(ascending=False).index if c not in cols]
        else:
            cols = list(means.sort_values(ascending=False, kind="stable").index)
        table = pd.DataFrame([means[cols].to_numpy()], columns=cols, index=["mean"])
        table.columns.name = None
        out[str(key)] = table
    return out
