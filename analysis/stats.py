"""Statistics for 0-100 listening-study ratings.

One file because every statistic shares the long-frame contract, its checks and AnalysisError; the
mixed model (its profiled REML engine, about half the file) is the one part that could move to a
module of its own.

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
from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.stats
from scipy.optimize import OptimizeResult, minimize

logger = logging.getLogger(__name__)

__all__ = [
    "AnalysisError",
    "MixedModelResult",
    "analysis_rows",
    "describe_conditions",
    "friedman",
    "kendall_w",
    "mixed_model",
    "supported_random_effects",
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
    conditions: list[object],
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


def _wilcoxon_pair(
    wide: pd.DataFrame, a: object, b: object, *, alternative: str
) -> dict[str, object]:
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
# linear mixed model with crossed random effects (maximal structure by default)


@dataclass
class MixedModelResult:
    """A fitted linear mixed model ``dv ~ condition + random effects``.

    - ``formula``: the model that was fitted, lme4 notation, e.g.
      ``value ~ condition + (1|participant) + (1|participant:condition) + (1|clip) +
      (1|clip:condition)``. ``requested`` is the model that was asked for; the two differ
      when the fit fell back to a simpler structure (``fallback`` true; ``messages`` says why).
    - ``fixed``: ``term, estimate, se, df, t, p_unc, ci_low, ci_high`` (treatment coding
      against ``reference``). ``df`` are Satterthwaite degrees of freedom; ``t`` is tested
      against Student's t with them and the interval is ``estimate -/+ t(df) * se``.
    - ``variance``: ``component, variance, sd`` for each random effect and the residual.
    - ``means``: estimated mean rating per condition (``estimate, se, df, ci_low,
      ci_high``): the intercept plus the condition's coefficient, ``L beta`` with
      ``se = sqrt(L V L')``.
    - ``contrasts``: every pair ``A - B`` of estimated means with ``se, df, t, p_unc,
      p_corr`` (adjusted across pairs), the interval, and ``d_std = estimate / sqrt(sum of
      all variance components)`` (research/C_metrics.md 4.3, item 6).
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
    formula: str = ""
    requested: str = ""
    fallback: bool = False
    df_method: str = "satterthwaite"

    def summary_table(self) -> pd.DataFrame:
        """One-row overview: model, engine, criterion, convergence and sizes."""
        row = {
            "formula": self.formula,
            "fallback": self.fallback,
            "requested": self.requested,
            "engine": self.engine,
            "method": "REML" if self.reml else "ML",
            "df_method": self.df_method,
            "criterion": self.objective,
            "converged": self.converged,
            "n_obs": self.n_obs,
        }
        row.update({f"n_{k}": v for k, v in self.n_groups.items()})
        return pd.DataFrame([row])


RandomSpec = Literal["maximal", "intercepts"] | Sequence[str]


def _component_names(subject: str, item: str, within: str) -> dict[str, tuple[str, ...]]:
    return {
        subject: (subject,),
        f"{subject}:{within}": (subject, within),
        f"{subject}:{item}": (subject, item),
        item: (item,),
        f"{item}:{within}": (item, within),
    }


def supported_random_effects(
    data: pd.DataFrame,
    *,
    within: str = "condition",
    subject: str = "participant",
    item: str = "clip",
) -> list[str]:
    """The maximal random-effects structure this design supports (Barr et al. 2013).

    Condition varies within participants and within clips, so the maximal model has a
    random intercept and a random condition effect for both: ``(1|participant) +
    (1|participant:condition) + (1|clip) + (1|clip:condition)`` (independent variance
    components: the compound-symmetric form of ``(1 + condition | participant)``). A term
    is supported when it has at least 2 levels, its cells hold replicated ratings (more
    rows than cells, so it is not confounded with the residual) and it has more cells than
    its coarser term (so it is not confounded with that one). ``participant:clip`` (the
    trial) is not part of the default: it cancels from within-trial contrasts; name it in
    ``random=[...]`` to fit it.
    """
    n = len(data)
    out = []
    n_sub, n_item = data[subject].nunique(), data[item].nunique()
    if n_sub >= 2:
        out.append(subject)
    sc = data.groupby([subject, within], observed=True).ngroups
    if data[within].nunique() >= 2 and n_sub >= 2 and sc > n_sub and sc < n:
        out.append(f"{subject}:{within}")
    if n_item >= 2:
        out.append(item)
    ic = data.groupby([item, within], observed=True).ngroups
    if data[within].nunique() >= 2 and n_item >= 2 and ic > n_item and ic < n:
        out.append(f"{item}:{within}")
    return out


def _formula(dv: str, within: str, comps: Sequence[str]) -> str:
    return f"{dv} ~ {within}" + "".join(f" + (1|{c})" for c in comps)


def mixed_model(
    data: pd.DataFrame,
    *,
    dv: str = "value",
    within: str = "condition",
    subject: str = "participant",
    item: str = "clip",
    random: RandomSpec = "maximal",
    reference: object | None = None,
    reml: bool = True,
    engine: Literal["auto", "profiled", "statsmodels"] = "auto",
    confidence: float = 0.95,
    padjust: PAdjust = "holm",
) -> MixedModelResult:
    """Fit ``dv ~ C(within) + random effects`` and compare the conditions.

    ``random="maximal"`` (the default) fits the maximal structure the design supports
    (:func:`supported_random_effects`): for the paper's design, where every participant
    rates every clip in every condition,

        y = X beta + b_participant + c_participant:condition + g_clip + h_clip:condition + e

    with independent normal effects. The clip-by-condition term matters most: without it
    the intervals of condition differences treat the clips as fixed and are far too narrow
    (coverage of the true difference 58 % in the issue's simulation; see
    ``benchmarks/coverage.py``). ``random="intercepts"`` is the old
    ``(1|participant) + (1|clip)`` model, kept for comparison; a list of component names
    (``"participant"``, ``"participant:condition"``, ``"participant:clip"``, ``"clip"``,
    ``"clip:condition"``) fits exactly those.

    Estimation is REML by default (``reml=False`` for ML), the criterion lme4 reports.
    Intervals and p-values use Student's t with Satterthwaite degrees of freedom (as
    lmerTest does): the variance of each contrast is differentiated with respect to the
    variance parameters, whose covariance is twice the inverse Hessian of the REML
    deviance. Components estimated at zero are held at zero.

    Engines (both fit the same model; the result says which ran):

    - ``"profiled"``: the lme4 formulation (Bates et al. 2015): relative standard
      deviations theta are found by minimising the profiled deviance; the blocks of the
      participant terms are eliminated participant by participant (participants with the
      same design pattern share the work), so it scales to 10,000 participants.
    - ``"statsmodels"``: ``MixedLM`` with one group spanning all rows and each term as a
      variance component (``vc_formula``), the crossed design of statsmodels' "Variance
      Component Analysis" notebook. Dense, so for small studies and cross-checks.
    - ``"auto"``: the profiled engine; statsmodels when that fails and the study is small
      (rows x random-effect levels at most 300,000).

    Fallback: when the requested structure cannot be fitted (the optimiser fails or the
    system is singular), terms are dropped in this order until a fit succeeds:
    ``participant:clip``, ``participant:condition``, ``clip``; ``formula`` then names the
    model actually fitted, ``fallback`` is true and ``messages`` records each failure.
    The minimal model kept is ``(1|participant) + (1|clip:condition)``.

    Examples
    --------
    >>> from analysis.simulate import simulate_ratings, FormDesign
    >>> df = simulate_ratings(forms=[FormDesign("f", {"a": 50.0, "b": 60.0}, 6, 30)], seed=1)
    >>> fit = mixed_model(df[~df["is_attention"]], engine="profiled")
    >>> fit.formula
    'value ~ condition + (1|participant) + (1|participant:condition) + (1|clip) +
    (1|clip:condition)'
    >>> list(fit.means.columns)
    ['condition', 'estimate', 'se', 'df', 'ci_low', 'ci_high']
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
    if not 0 < confidence < 1:
        raise ValueError("confidence must lie strictly between 0 and 1")
    levels = sorted(pd.unique(data[within]), key=str)
    if reference is None:
        reference = levels[0]
    if reference not in levels:
        raise AnalysisError(f"mixed model: reference condition {reference!r} has no ratings")
    others = [c for c in levels if c != reference]
    cond = data[within].to_numpy()
    x = np.column_stack([np.ones(len(y))] + [(cond == c).astype(float) for c in others])
    terms = ["Intercept"] + [f"{within}[{c}]" for c in others]
    if len(y) <= x.shape[1]:
        raise AnalysisError(
            f"mixed model: {len(y)} ratings cannot estimate {x.shape[1]} fixed effects"
        )
    known = _component_names(subject, item, within)
    if isinstance(random, str) and random == "maximal":
        requested = supported_random_effects(data, within=within, subject=subject, item=item)
    elif isinstance(random, str) and random == "intercepts":
        requested = [c for c in (subject, item) if data[c].nunique() >= 2]
    elif isinstance(random, str):
        raise ValueError(
            f"random must be 'maximal', 'intercepts' or a list of terms, not {random!r}"
        )
    else:
        requested = list(random)
        bad = [c for c in requested if c not in known]
        if bad:
            raise ValueError(f"unknown random-effect term(s) {bad}; choose from {list(known)}")
    codes = {
        name: pd.factorize(data[c])[0]
        for name, c in ((subject, subject), (item, item), (within, within))
    }
    counts = {k: int(v.max()) + 1 for k, v in codes.items()}
    n_groups = {subject: counts[subject], item: counts[item]}
    messages: list[str] = []
    for name, count in n_groups.items():
        if count < 2:
            messages.append(f"only {count} {name}: its variance cannot be estimated")

    # candidate structures: the requested one, then the fallbacks
    candidates = [requested]
    for drop in (f"{subject}:{item}", f"{subject}:{within}", item):
        last = candidates[-1]
        if drop in last:
            smaller = [c for c in last if c != drop]
            if f"{item}:{within}" not in smaller and drop == item:
                break
            candidates.append(smaller)

    size_per_row = sum(int(np.prod([counts[f] for f in known[c]])) for c in requested)
    engines: list[str] = [engine]
    if engine == "auto":
        engines = ["profiled"] + (["statsmodels"] if len(y) * size_per_row <= 300_000 else [])

    fit = None
    fitted: list[str] = requested
    for comps in candidates:
        problem = _VCProblem(
            y,
            x,
            [_component_codes(known[c], codes, counts, subject) for c in comps],
            codes[subject],
        )
        for eng in engines:
            try:
                if eng == "statsmodels":
                    fit = _fit_statsmodels(
                        data,
                        dv=dv,
                        within=within,
                        comps=comps,
                        known=known,
                        reference=reference,
                        reml=reml,
                        terms=terms,
                    )
                else:
                    fit = problem.fit(reml=reml)
            except Exception as exc:  # noqa: BLE001 - statsmodels and LAPACK raise many kinds
                fit = {"converged": False, "error": f"{type(exc).__name__}: {exc}"}
            if fit.get("converged") and np.all(np.isfinite(fit["beta"])):
                break
            why = fit.get("error") or "the optimiser did not converge"
            messages.append(f"{eng} engine: {_formula(dv, within, comps)} not fitted ({why})")
            fit = None
        if fit is not None:
            fitted = comps
            break
    if fit is None:
        raise AnalysisError(
            "mixed model: no random-effects structure could be fitted: " + "; ".join(messages)
        )
    if fitted != requested:
        messages.append(f"fell back to {_formula(dv, within, fitted)}")

    beta, cov = fit["beta"], fit["cov"]
    variances = fit["variances"]  # per component of `fitted`
    var_e = fit["var_resid"]
    alpha = 1 - confidence

    # L matrices: means and contrasts, then Satterthwaite df for every row at once
    lmat = np.zeros((len(levels), len(terms)))
    lmat[:, 0] = 1
    for j, c in enumerate(others):
        lmat[levels.index(c), j + 1] = 1
    pairs = [(i, j) for i in range(len(levels)) for j in range(i + 1, len(levels))]
    cmat = np.array([lmat[i] - lmat[j] for i, j in pairs]).reshape(len(pairs), len(terms))
    allrows = np.vstack([np.eye(len(terms)), lmat, cmat])
    df_all, df_note = problem.satterthwaite(allrows, np.asarray(variances), var_e, reml=reml)
    if df_note:
        messages.append(df_note)
    nf, nm = len(terms), len(levels)
    df_fixed, df_means, df_con = df_all[:nf], df_all[nf : nf + nm], df_all[nf + nm :]

    def crit(df: np.ndarray) -> np.ndarray:
        q: np.ndarray = scipy.stats.t.ppf(1 - alpha / 2, df)
        return q

    se = np.sqrt(np.diag(cov))
    with np.errstate(divide="ignore", invalid="ignore"):
        tval = beta / se
    fixed = pd.DataFrame(
        {
            "term": terms,
            "estimate": beta,
            "se": se,
            "df": df_fixed,
            "t": tval,
            "p_unc": 2 * scipy.stats.t.sf(np.abs(tval), df_fixed),
            "ci_low": beta - crit(df_fixed) * se,
            "ci_high": beta + crit(df_fixed) * se,
        }
    )
    variance = pd.DataFrame(
        {
            "component": [*fitted, "residual"],
            "variance": [*variances, var_e],
            "sd": np.sqrt([*variances, var_e]),
        }
    )
    est = lmat @ beta
    mse = np.sqrt(np.einsum("ij,jk,ik->i", lmat, cov, lmat))
    means = pd.DataFrame(
        {
            within: levels,
            "estimate": est,
            "se": mse,
            "df": df_means,
            "ci_low": est - crit(df_means) * mse,
            "ci_high": est + crit(df_means) * mse,
        }
    )
    total_sd = math.sqrt(float(np.sum(variances)) + var_e)
    crow = []
    for (i, j), vec, dfc in zip(pairs, cmat, df_con, strict=True):
        e = float(vec @ beta)
        s = float(np.sqrt(vec @ cov @ vec))
        tt = e / s if s > 0 else np.nan
        q = float(crit(np.asarray(dfc)))
        crow.append(
            {
                "A": levels[i],
                "B": levels[j],
                "estimate": e,
                "se": s,
                "df": float(dfc),
                "t": tt,
                "p_unc": float(2 * scipy.stats.t.sf(abs(tt), dfc)) if s > 0 else np.nan,
                "ci_low": e - q * s,
                "ci_high": e + q * s,
                "d_std": e / total_sd if total_sd > 0 else np.nan,
            }
        )
    contrasts = pd.DataFrame(
        crow, columns=["A", "B", "estimate", "se", "df", "t", "p_unc", "ci_low", "ci_high", "d_std"]
    )
    contrasts.insert(7, "p_corr", p_adjust(contrasts["p_unc"].to_numpy(float), method=padjust))
    contrasts.insert(8, "p_adjust", padjust)
    zero = [c for c, v in zip(fitted, variances, strict=True) if v < 1e-8 * max(var_e, 1e-12)]
    if zero:
        messages.append("variance estimated at zero (singular fit) for " + ", ".join(zero))
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
        formula=_formula(dv, within, fitted),
        requested=_formula(dv, within, requested),
        fallback=fitted != requested,
        df_method="satterthwaite" if not df_note else "satterthwaite (partial)",
    )


@dataclass(eq=False)
class _Component:
    nested: bool  # its levels belong to one subject (eliminated subject by subject)
    codes: np.ndarray  # per row: slot within the subject (nested) or global level (crossed)
    size: int  # slots per subject (nested) or number of levels (crossed)


def _component_codes(
    factors: tuple[str, ...], codes: dict[str, np.ndarray], counts: dict[str, int], subject: str
) -> _Component:
    if factors[0] == subject:
        rest = factors[1:]
        local = np.zeros(len(codes[subject]), dtype=np.int64)
        size = 1
        for f in rest:
            local = local * counts[f] + codes[f]
            size *= counts[f]
        return _Component(True, local, size)
    glob = np.zeros(len(codes[subject]), dtype=np.int64)
    size = 1
    for f in factors:
        glob = glob * counts[f] + codes[f]
        size *= counts[f]
    return _Component(False, glob, size)


class _VCProblem:
    """Profiled (RE)ML for y = X b + sum_k Z_k u_k + e with independent variance components.

    lme4's formulation: u_k = theta_k * sigma * v_k, v ~ N(0, I). For a given theta the
    penalised least-squares system

        [ L'Z'Z L + I   L'Z'X ] [v]   [L'Z'y]
        [ X'Z L         X'X   ] [b] = [X'y ]

    is solved with the subject-nested terms eliminated block by block (a block per
    subject holds that subject's levels of every nested term; subjects with identical
    design patterns share one block), the crossed terms and fixed effects in one dense
    Cholesky factor of the Schur complement. Deviance as in Bates et al. (2015), eq. 34/41.
    """

    def __init__(
        self, y: np.ndarray, x: np.ndarray, comps: list[_Component], subject_codes: np.ndarray
    ) -> None:
        self.y, self.x, self.comps = y, x, comps
        n, p = x.shape
        self.n, self.p = n, p
        nested = [(j, c) for j, c in enumerate(comps) if c.nested]
        crossed = [(j, c) for j, c in enumerate(comps) if not c.nested]
        self.k = len(comps)
        # slots of the nested terms within a subject, columns of the crossed terms
        offs, m = [], 0
        for _, c in nested:
            offs.append(m)
            m += c.size
        self.m = m
        coffs, q = [], 0
        for _, c in crossed:
            coffs.append(q)
            q += c.size
        self.q = q
        self.slot_comp = np.concatenate(
            [np.full(c.size, j) for j, c in nested] or [np.zeros(0, int)]
        ).astype(int)
        self.col_comp = np.concatenate(
            [np.full(c.size, j) for j, c in crossed] or [np.zeros(0, int)]
        ).astype(int)
        jj = [c.codes + o for (_, c), o in zip(nested, offs, strict=True)]
        rr = [c.codes + o for (_, c), o in zip(crossed, coffs, strict=True)]
        # crossed block
        g = np.zeros((q, q))
        h = np.zeros((q, p))
        zy = np.zeros(q)
        for a in rr:
            np.add.at(h, a, x)
            zy += np.bincount(a, weights=y, minlength=q)
            for b in rr:
                np.add.at(g, (a, b), 1.0)
        self.g, self.h, self.zy = g, h, zy
        self.xtx, self.xty, self.yty = x.T @ x, x.T @ y, float(y @ y)
        if m:
            s_codes = subject_codes
            n_s = int(s_codes.max()) + 1
            nn = np.zeros((n_s, m, m))
            cc = np.zeros((n_s, m, q))
            dd = np.zeros((n_s, m, p))
            ry = np.zeros((n_s, m))
            for a in jj:
                np.add.at(dd, (s_codes, a), x)
                np.add.at(ry, (s_codes, a), y)
                for b in jj:
                    np.add.at(nn, (s_codes, a, b), 1.0)
                for b in rr:
                    np.add.at(cc, (s_codes, a, b), 1.0)
            pattern = np.concatenate(
                [nn.reshape(n_s, -1), cc.reshape(n_s, -1), dd.reshape(n_s, -1)], axis=1
            )
            _, first, inverse = np.unique(pattern, axis=0, return_index=True, return_inverse=True)
            inverse = inverse.ravel()
            n_g = len(first)
            self.nn, self.cc, self.dd = nn[first], cc[first], dd[first]
            self.ry_sum = np.zeros((n_g, m))
            np.add.at(self.ry_sum, inverse, ry)
            self.ry_outer = np.zeros((n_g, m, m))
            np.add.at(self.ry_outer, inverse, ry[:, :, None] * ry[:, None, :])
            self.count = np.bincount(inverse, minlength=n_g).astype(float)

    def solve(self, theta: np.ndarray) -> dict[str, Any]:
        q, p, m = self.q, self.p, self.m
        tr = theta[self.col_comp] if q else np.zeros(0)
        b = np.zeros((q + p, q + p))
        b[:q, :q] = tr[:, None] * self.g * tr[None, :] + np.eye(q)
        b[:q, q:] = tr[:, None] * self.h
        b[q:, :q] = b[:q, q:].T
        b[q:, q:] = self.xtx
        r2 = np.concatenate([tr * self.zy, self.xty])
        ld_a = 0.0
        quad_r1 = 0.0
        if m:
            tn = theta[self.slot_comp]
            a = tn[None, :, None] * self.nn * tn[None, None, :] + np.eye(m)[None]
            e = np.concatenate(
                [tn[None, :, None] * self.cc * tr[None, None, :], tn[None, :, None] * self.dd],
                axis=2,
            )
            r1s = tn[None, :] * self.ry_sum
            ainv_e = np.linalg.solve(a, e)
            ainv = np.linalg.inv(a)
            b = b - np.einsum("g,gmi,gmj->ij", self.count, e, ainv_e)
            r2 = r2 - np.einsum("gmi,gm->i", ainv_e, r1s)
            sign, logdet = np.linalg.slogdet(a)
            if np.any(sign <= 0):
                raise np.linalg.LinAlgError("a subject block is not positive definite")
            ld_a = float(self.count @ logdet)
            outer = tn[None, :, None] * self.ry_outer * tn[None, None, :]
            quad_r1 = float(np.einsum("gij,gij->", ainv, outer))
        b = (b + b.T) / 2
        chol = np.linalg.cholesky(b)
        x2 = np.linalg.solve(chol.T, np.linalg.solve(chol, r2))
        # y'y - r'sol: r1' A^-1 r1 - r1' A^-1 E x2 for the eliminated part
        pwrss = self.yty - quad_r1 - float(r2 @ x2)
        dg = np.log(np.diag(chol))
        return {
            "x2": x2,
            "pwrss": max(pwrss, 1e-300),
            "chol": chol,
            "ld_re": ld_a + 2 * float(dg[:q].sum()),
            "ld_rx": 2 * float(dg[q:].sum()),
        }

    def profiled_deviance(self, theta: np.ndarray, reml: bool) -> float:
        st = self.solve(theta)
        if reml:
            dof = self.n - self.p
            deviance: float = (
                st["ld_re"] + st["ld_rx"] + dof * (1 + math.log(2 * math.pi * st["pwrss"] / dof))
            )
        else:
            deviance = st["ld_re"] + self.n * (1 + math.log(2 * math.pi * st["pwrss"] / self.n))
        return deviance

    def deviance(self, variances: np.ndarray, sigma2: float, reml: bool) -> float:
        """-2 (RE)ML log-likelihood at given variance components (not profiled)."""
        theta = np.sqrt(np.maximum(variances, 0) / sigma2)
        st = self.solve(theta)
        dof = self.n - self.p if reml else self.n
        ld = st["ld_re"] + (st["ld_rx"] if reml else 0.0)
        deviance: float = ld + st["pwrss"] / sigma2 + dof * math.log(2 * math.pi * sigma2)
        return deviance

    def beta_cov(self, variances: np.ndarray, sigma2: float) -> tuple[np.ndarray, np.ndarray]:
        theta = np.sqrt(np.maximum(variances, 0) / sigma2)
        st = self.solve(theta)
        lff = st["chol"][self.q :, self.q :]
        rx_inv = np.linalg.inv(lff)
        return st["x2"][self.q :], sigma2 * (rx_inv.T @ rx_inv)

    def fit(self, *, reml: bool) -> dict[str, Any]:
        k = self.k
        if k:
            # The deviance is even in each theta, so theta_k = 0 is always a stationary
            # point: a gradient method that reaches it cannot tell a minimum from a saddle.
            # Hence several starts, a polish from the optimum, and a probe off every zero.
            def run(start: np.ndarray, tol: float = 1e-12) -> OptimizeResult:
                return minimize(
                    lambda th: self.profiled_deviance(th, reml),
                    start,
                    method="L-BFGS-B",
                    bounds=[(0, None)] * k,
                    options={"ftol": tol, "gtol": 1e-9, "maxiter": 1000},
                )

            best = run(np.ones(k))
            res = run(np.full(k, 0.3))
            if (res.success and res.fun < best.fun) or not best.success:
                best = res
            for _ in range(k):
                improved = False
                for j in np.flatnonzero(best.x < 1e-4):
                    start = best.x.copy()
                    start[j] = 0.5
                    res = run(start)
                    if res.success and res.fun < best.fun - 1e-9:
                        best, improved = res, True
                if not improved:
                    break
            polish = run(best.x, 1e-14)  # may end "ABNORMAL" at the optimum: keep the point
            if best.success and polish.fun <= best.fun:
                best.x, best.fun = polish.x, polish.fun
            theta = np.asarray(best.x, np.float64)
            converged = bool(best.success) and bool(np.isfinite(best.fun))
            objective = float(best.fun)
            error = "" if converged else f"the optimiser stopped: {best.message}"
        else:
            theta = np.zeros(0)
            converged = True
            objective = self.profiled_deviance(theta, reml)
            error = ""
        st = self.solve(theta)
        dof = self.n - self.p if reml else self.n
        sigma2 = st["pwrss"] / dof
        variances = sigma2 * theta**2
        beta, cov = self.beta_cov(variances, sigma2)
        return {
            "engine": "profiled",
            "beta": beta,
            "cov": cov,
            "variances": [float(v) for v in variances],
            "var_resid": float(sigma2),
            "objective": objective,
            "converged": converged,
            "error": error,
        }

    def satterthwaite(
        self, lrows: np.ndarray, variances: np.ndarray, sigma2: float, *, reml: bool
    ) -> tuple[np.ndarray, str]:
        """Satterthwaite df for each row l of ``lrows``: 2 (l'Vl)^2 / (g' A g).

        ``g`` is the gradient of l'V(phi)l over the variance parameters phi (the positive
        components and the residual variance), ``A = 2 H^-1`` with H the Hessian of the
        (RE)ML deviance in phi (lmerTest's method, Kuznetsova et al. 2017).
        """
        phi = np.append(np.asarray(variances, float), sigma2)
        free = phi > 1e-8 * sigma2
        free[-1] = True
        idx = np.flatnonzero(free)
        step = 1e-2 * phi[idx]

        def dev(v: np.ndarray) -> float:
            full = phi.copy()
            full[idx] = v
            return self.deviance(full[:-1], full[-1], reml)

        def lvl(v: np.ndarray) -> np.ndarray:
            full = phi.copy()
            full[idx] = v
            _, cov = self.beta_cov(full[:-1], full[-1])
            quad: np.ndarray = np.einsum("ij,jk,ik->i", lrows, cov, lrows)
            return quad

        v0 = phi[idx]
        d = len(idx)
        hess = np.zeros((d, d))
        f0 = dev(v0)
        for i in range(d):
            ei = np.zeros(d)
            ei[i] = step[i]
            hess[i, i] = (dev(v0 + ei) - 2 * f0 + dev(v0 - ei)) / step[i] ** 2
            for j in range(i + 1, d):
                ej = np.zeros(d)
                ej[j] = step[j]
                hess[i, j] = hess[j, i] = (
                    dev(v0 + ei + ej) - dev(v0 + ei - ej) - dev(v0 - ei + ej) + dev(v0 - ei - ej)
                ) / (4 * step[i] * step[j])
        grad = np.zeros((len(lrows), d))
        for i in range(d):
            ei = np.zeros(d)
            ei[i] = step[i]
            grad[:, i] = (lvl(v0 + ei) - lvl(v0 - ei)) / (2 * step[i])
        var_l = lvl(v0)
        try:
            eig = np.linalg.eigvalsh(hess)
            if not np.all(eig > 0):
                raise np.linalg.LinAlgError("Hessian not positive definite")
            acov = 2 * np.linalg.inv(hess)
        except np.linalg.LinAlgError as exc:
            return np.full(len(lrows), np.inf), (
                f"Satterthwaite df unavailable ({exc}); normal (z) intervals used"
            )
        denom = np.einsum("ri,ij,rj->r", grad, acov, grad)
        with np.errstate(divide="ignore", invalid="ignore"):
            df = 2 * var_l**2 / denom
        df = np.where(np.isfinite(df) & (df > 0), df, np.inf)
        return np.clip(df, 1.0, self.n - self.p), ""


def _fit_statsmodels(
    data: pd.DataFrame,
    *,
    dv: str,
    within: str,
    comps: Sequence[str],
    known: dict[str, tuple[str, ...]],
    reference: object,
    reml: bool,
    terms: list[str],
) -> dict[str, Any]:
    import statsmodels.formula.api as smf
    from statsmodels.tools.sm_exceptions import ConvergenceWarning

    df = pd.DataFrame(
        {
            "y": data[dv].to_numpy(float),
            "cond": data[within].astype(str).to_numpy(),
            "grp": np.ones(len(data)),
        }
    )
    vc = {}
    for j, name in enumerate(comps):
        key = f"vc{j}"
        label = data[known[name][0]].astype(str)
        for f in known[name][1:]:
            label = label + "\x1f" + data[f].astype(str)
        df[key] = label.to_numpy()
        vc[key] = f"0 + C({key})"
    ref = str(reference)
    model = smf.mixedlm(
        f"y ~ C(cond, Treatment(reference={ref!r}))",
        df,
        groups="grp",
        re_formula="0",
        vc_formula=vc,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = model.fit(reml=reml, method=["lbfgs", "bfgs", "powell"])
    converged = bool(res.converged) and not any(
        issubclass(w.category, ConvergenceWarning) for w in caught
    )
    k = len(terms)
    got = dict(zip(model.exog_vc.names, np.asarray(res.vcomp, dtype=float), strict=True))
    return {
        "engine": "statsmodels",
        "beta": np.asarray(res.fe_params, dtype=float),
        "cov": np.asarray(res.cov_params(), dtype=float)[:k, :k],
        "variances": [float(got[f"vc{j}"]) for j in range(len(comps))],
        "var_resid": float(res.scale),
        "objective": float(-2 * res.llf),
        "converged": converged,
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
