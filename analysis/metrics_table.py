"""The objective-metrics table of the analysis report, with each metric's correlation with the
ratings.

:func:`metrics_table` gives one row per metric x condition: the stored value, ``n`` (frames,
segments, pairs or tracks), a summary of its settings, the mean rating of the condition, and
two correlations of the metric with the mean ratings, each as Pearson and Spearman with 95%
intervals:

* ``by_condition_*``: across the conditions (one point per condition: its metric value and its
  mean rating). With three or four conditions this says little: the interval needs n >= 4 and
  is then very wide (ITU-T P.1401's per-condition correlation);
* ``by_clip_*``: across the clip x condition cells that have a per-clip value (KL, CLAP score,
  caption metrics; FAD has none) and ratings (P.1401's per-file correlation).

Intervals: Pearson's from Fisher's z, ``tanh(atanh r +- z_(1+c)/2 / sqrt(n - 3))`` (the
interval ``scipy.stats.pearsonr(...).confidence_interval()`` gives); Spearman's from Fisher's z
with the Bonett & Wright (2000) standard error ``sqrt((1 + rho^2 / 2) / (n - 3))``. Both need
n >= 4; p-values are scipy's (t distribution for both).

Caption metrics link to the conditions whose ``caption_kind`` is the candidate kind (a candidate
given as ``KIND@MODEL`` links to none: its rows carry no correlation). Expect negative
correlations for FAD and KL (lower is better) and positive ones for the CLAP score and the
caption metrics.
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from analysis.exports import ratings_frame
from analysis.metric_results import metric_results_latest
from analysis.models import MetricResult
from analysis.stats import analysis_rows
from generation.models import Condition
from survey.models import Study

__all__ = ["CORRELATION_METHOD", "correlation", "metrics_table", "METRICS_TABLE_COLUMNS"]

CORRELATION_METHOD = (
    "Pearson: Fisher z interval; Spearman: Fisher z interval with the Bonett-Wright "
    "standard error sqrt((1 + rho^2/2)/(n-3)); p from scipy"
)

_CORR_FIELDS = [
    "n",
    "pearson_r",
    "pearson_low",
    "pearson_high",
    "pearson_p",
    "spearman_rho",
    "spearman_low",
    "spearman_high",
    "spearman_p",
]

METRICS_TABLE_COLUMNS = [
    "kind",
    "metric",
    "variant",
    "reference",
    "candidate",
    "condition",
    "value",
    "n",
    "n_unit",
    "evaluated_on",
    "settings",
    "computed_at",
    "rating_mean",
    "rating_n",
    *(f"by_condition_{f}" for f in _CORR_FIELDS),
    *(f"by_clip_{f}" for f in _CORR_FIELDS),
    "correlation_method",
]

_METRIC_ORDER = [
    "fad",
    "kad",
    "fad_inf",
    "kld",
    "kld_qp",
    "kld_both",
    "clap_score",
    "bleu1",
    "bleu2",
    "bleu3",
    "bleu4",
    "bleu_avg",
    "bleu",
    "meteor",
    "rouge_l",
    "bertscore",
]


def correlation(
    x: Sequence[float], y: Sequence[float], *, confidence: float = 0.95
) -> dict[str, float]:
    """Pearson and Spearman correlation of paired values, with intervals (see the module docstring).

    Pairs with a missing value are dropped. Returns ``n`` and, for each method, the coefficient,
    the interval bounds and the p-value; NaN where undefined (n < 3, a constant variable; the
    intervals need n >= 4).

    Examples
    --------
    >>> c = correlation([1, 2, 3, 4, 5], [2, 1, 4, 3, 5])
    >>> c["n"], round(c["pearson_r"], 3), round(c["spearman_rho"], 3)
    (5, 0.8, 0.8)
    """
    xs = np.asarray(x, dtype=np.float64)
    ys = np.asarray(y, dtype=np.float64)
    if xs.shape != ys.shape:
        raise ValueError(f"x and y differ in length: {xs.shape} vs {ys.shape}")
    ok = np.isfinite(xs) & np.isfinite(ys)
    xs, ys = xs[ok], ys[ok]
    n = int(xs.size)
    out: dict[str, float] = {f: float("nan") for f in _CORR_FIELDS}
    out["n"] = n
    if n < 3 or np.ptp(xs) == 0 or np.ptp(ys) == 0:
        return out
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pearson = stats.pearsonr(xs, ys)
        spearman = stats.spearmanr(xs, ys)
    out["pearson_r"], out["pearson_p"] = float(pearson.statistic), float(pearson.pvalue)
    out["spearman_rho"], out["spearman_p"] = float(spearman.statistic), float(spearman.pvalue)
    if n >= 4:
        z = float(stats.norm.ppf(0.5 + confidence / 2))
        for name, coef, se in (
            ("pearson", out["pearson_r"], 1.0 / np.sqrt(n - 3)),
            (
                "spearman",
                out["spearman_rho"],
                np.sqrt((1.0 + out["spearman_rho"] ** 2 / 2.0) / (n - 3)),
            ),
        ):
            if not np.isfinite(coef):
                continue
            with np.errstate(divide="ignore"):
                centre = np.arctanh(np.clip(coef, -1.0, 1.0))
            out[f"{name}_low"] = float(np.tanh(centre - z * se))
            out[f"{name}_high"] = float(np.tanh(centre + z * se))
    return out


def _ratings_frame(study: Study, ratings: pd.DataFrame | None) -> pd.DataFrame:
    if ratings is None:
        ratings = ratings_frame(study=study)
    if ratings.empty or not {"clip", "condition", "value"} <= set(ratings.columns):
        return pd.DataFrame(columns=["clip", "condition", "value"])
    return analysis_rows(ratings)[["clip", "condition", "value"]]


def metrics_table(
    study: Study, *, ratings: pd.DataFrame | None = None, confidence: float = 0.95
) -> pd.DataFrame | None:
    """The objective metrics stored for ``study`` and their correlation with its ratings.

    One row per metric x condition (the columns of ``METRICS_TABLE_COLUMNS``) from the latest run
    of each metric (:func:`analysis.metric_results.metric_results_latest`: this study's results,
    and caption results stored over all clips). ``ratings`` (long: ``clip, condition, value``,
    e.g. after screening) defaults to all of the study's ratings. Returns ``None`` when nothing is
    stored.
    """

    results = metric_results_latest(study=study)
    if not results:
        return None
    data = _ratings_frame(study, ratings)
    cond_mean = data.groupby("condition")["value"].agg(["mean", "count"])
    cell_mean = data.groupby(["clip", "condition"])["value"].mean()
    kind_conditions: dict[str, list[str]] = defaultdict(list)
    for cond in Condition.objects.filter(forms__study=study).distinct().order_by("name"):
        kind_conditions[cond.caption_kind].append(cond.name)

    def linked(r: MetricResult) -> list[str]:
        if r.condition is not None:  # no query when condition_id is None
            return [r.condition.name]
        if r.kind == MetricResult.Kind.CAPTION and "@" not in r.candidate:
            return kind_conditions.get(r.candidate, [])
        return []

    run_at: dict[Any, Any] = {}
    for r in results:
        run_at[r.run] = min(run_at.get(r.run, r.created_at), r.created_at)
    rows: list[dict[str, Any]] = []
    cond_points: dict[tuple, list[tuple[str, float]]] = defaultdict(list)
    clip_points: dict[tuple, list[tuple[str, str, float]]] = defaultdict(list)
    for r in results:
        group = (r.study_id, r.kind, r.metric, r.variant, r.reference)
        conds = linked(r)
        if r.scope in (MetricResult.Scope.CLIP_CONDITION, MetricResult.Scope.CLIP_CAPTION_KIND):
            assert r.clip is not None  # the clip scopes always name a clip
            for c in conds:
                clip_points[group].append((r.clip.key, c, r.value))
            continue
        base = {
            "kind": r.kind,
            "metric": r.metric,
            "variant": r.variant,
            "reference": r.reference,
            "candidate": r.candidate,
            "value": r.value,
            "n": r.n,
            "n_unit": r.n_unit,
            "evaluated_on": "this study" if r.study_id else "all clips",
            "settings": str((r.settings or {}).get("summary", "")),
            "computed_at": run_at[r.run].strftime("%Y-%m-%d %H:%M UTC"),
            "_group": group,
        }
        for c in conds or [""]:
            rows.append({**base, "condition": c})
            if c and c in cond_mean.index:
                cond_points[group].append((c, r.value))
    if not rows:
        return None

    cond_corr = {
        g: correlation(
            [v for _, v in pts], [cond_mean.loc[c, "mean"] for c, _ in pts], confidence=confidence
        )
        for g, pts in cond_points.items()
    }
    clip_corr = {}
    for g, pts in clip_points.items():
        cells = (
            pd.DataFrame(pts, columns=["clip", "condition", "value"])
            .groupby(["clip", "condition"])["value"]
            .mean()
        )
        cells = cells[cells.index.isin(cell_mean.index)]
        clip_corr[g] = correlation(
            cells.to_numpy(), cell_mean.loc[cells.index].to_numpy(), confidence=confidence
        )
    empty = correlation([], [])
    for row in rows:
        g = row.pop("_group")
        c = row["condition"]
        row["rating_mean"] = float(cond_mean.loc[c, "mean"]) if c in cond_mean.index else np.nan
        row["rating_n"] = int(cond_mean.loc[c, "count"]) if c in cond_mean.index else 0
        for prefix, table in (("by_condition_", cond_corr), ("by_clip_", clip_corr)):
            for f, v in table.get(g, empty).items():
                row[prefix + f] = v
        row["correlation_method"] = CORRELATION_METHOD
    out = pd.DataFrame(rows, columns=METRICS_TABLE_COLUMNS)
    order = {m: i for i, m in enumerate(_METRIC_ORDER)}
    out["_o"] = out["metric"].map(lambda m: order.get(m, len(order)))
    out = out.sort_values(
        ["kind", "_o", "variant", "reference", "candidate", "condition"], kind="stable"
    )
    out = out.drop(columns="_o").reset_index(drop=True)
    for col in ("n", "rating_n", "by_condition_n", "by_clip_n"):
        out[col] = out[col].astype(int)
    out.attrs["correlation_method"] = CORRELATION_METHOD
    out.attrs["confidence"] = confidence
    return out
