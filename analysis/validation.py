"""Checking the statistics by simulation with a known truth.

:func:`interval_coverage` simulates many studies from the rating model of
:mod:`analysis.simulate` (participant, clip and clip-by-condition effects, residual noise,
ratings clipped to 0-100 and rounded like a slider) and counts how often each interval
method holds the true value and how often each test rejects a true null. It is what
``benchmarks/coverage.py`` prints and what ``tests/analysis/test_coverage.py`` checks with
fewer studies.

The truth of a condition is the expected rating of a new participant on a new clip, which
is the condition's mean ``mu_c`` pushed through the 0-100 clipping:
``E[clip(N(mu_c, s^2), 0, 100)]`` with ``s^2`` the sum of all variance components
(:func:`expected_clipped_mean`). Without clipping it is ``mu_c`` itself.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import scipy.stats

from analysis.simulate import FormDesign, RatingModel, simulate_ratings
from analysis.stats import (
    AnalysisError,
    describe_conditions,
    friedman,
    mixed_model,
    pairwise_wilcoxon,
)

__all__ = ["CoverageResult", "expected_clipped_mean", "interval_coverage", "binomial_band"]

#: The rating model of the coverage checks: the simulation's defaults without careless
#: raters or attention trials (screening is checked elsewhere).
CLEAN = RatingModel(careless_fraction=0.0, attention_checks=0, headphone_fail_rate=0.0)


def expected_clipped_mean(mu: float, sd: float, low: float = 0.0, high: float = 100.0) -> float:
    """``E[min(max(X, low), high)]`` for ``X ~ N(mu, sd^2)`` (closed form).

    >>> round(expected_clipped_mean(50.0, 10.0), 6)
    50.0
    >>> expected_clipped_mean(100.0, 10.0) < 100.0
    True
    """
    if sd <= 0:
        return float(min(max(mu, low), high))
    a, b = (low - mu) / sd, (high - mu) / sd
    cdf, pdf = scipy.stats.norm.cdf, scipy.stats.norm.pdf
    return float(
        low * cdf(a) + high * (1 - cdf(b)) + mu * (cdf(b) - cdf(a)) + sd * (pdf(a) - pdf(b))
    )


def binomial_band(p: float, n: int, z: float = 3.0) -> tuple[float, float]:
    """``p -/+ z * sqrt(p (1 - p) / n)``: where a rate measured on ``n`` draws should fall."""
    half = z * math.sqrt(p * (1 - p) / n)
    return p - half, p + half


@dataclass
class CoverageResult:
    """Counts per method: ``coverage[method] = (hits, trials)``, ``rejections`` likewise."""

    coverage: dict[str, tuple[int, int]] = field(default_factory=dict)
    rejections: dict[str, tuple[int, int]] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)
    fitted: dict[str, int] = field(default_factory=dict)

    def rate(self, kind: str, method: str) -> float:
        hits, n = getattr(self, kind)[method]
        return hits / n if n else float("nan")

    def add(self, kind: str, method: str, hits: int, n: int) -> None:
        table = getattr(self, kind)
        h0, n0 = table.get(method, (0, 0))
        table[method] = (h0 + int(hits), n0 + int(n))

    def table(self) -> pd.DataFrame:
        rows = []
        for kind, target in (("coverage", 0.95), ("rejections", 0.05)):
            for method, (hits, n) in getattr(self, kind).items():
                rate = hits / n if n else float("nan")
                lo, hi = binomial_band(target, n, 1.96) if n else (np.nan, np.nan)
                rows.append(
                    {
                        "measure": "coverage of 95% intervals"
                        if kind == "coverage"
                        else "type-I error at alpha 0.05",
                        "method": method,
                        "rate": rate,
                        "hits": hits,
                        "n": n,
                        "target": target,
                        "expected_band_95": f"{lo:.3f}-{hi:.3f}",
                    }
                )
        return pd.DataFrame(rows)


def _truth(design: FormDesign, model: RatingModel) -> dict[str, float]:
    sd = math.sqrt(
        model.sd_participant**2
        + model.sd_clip**2
        + model.sd_clip_condition**2
        + model.sd_residual**2
    )
    return {c: expected_clipped_mean(mu, sd) for c, mu in design.conditions.items()}


def interval_coverage(
    designs: Sequence[FormDesign],
    *,
    n_studies: int,
    model: RatingModel = CLEAN,
    seed: int = 0,
    methods: Sequence[str] = ("maximal", "intercepts", "describe", "wilcoxon", "friedman"),
    progress: Callable[[int], None] | None = None,
) -> CoverageResult:
    """Simulate ``n_studies`` studies per design and score the interval methods.

    Per study and design, with truth ``T_c`` (see the module docstring):

    - ``maximal`` / ``intercepts``: :func:`analysis.stats.mixed_model` with that random
      structure; coverage of every contrast interval of ``T_A - T_B`` (``"<m>
      contrasts"``) and of every condition-mean interval of ``T_c`` (``"<m> means"``);
      rejections of the contrasts at p_unc < 0.05 where ``T_A = T_B``.
    - ``describe``: the t interval on participant means of
      :func:`analysis.stats.describe_conditions`, against ``T_c``.
    - ``wilcoxon``: :func:`analysis.stats.pairwise_wilcoxon` over participants' means
      (``"wilcoxon by participant"``) and over clips' means (``"wilcoxon by clip"``),
      rejections where ``T_A = T_B``.
    - ``friedman``: Friedman over participants and over clips, rejections when all ``T``
      are equal.
    """
    out = CoverageResult()
    rng = np.random.default_rng(seed)
    for s in range(n_studies):
        for design in designs:
            truth = _truth(design, model)
            df = simulate_ratings(forms=[design], model=model, seed=int(rng.integers(2**31)))
            df = df[~df["is_attention"]]
            for m in ("maximal", "intercepts"):
                if m not in methods:
                    continue
                try:
                    fit = mixed_model(df, random=m)
                except AnalysisError:
                    out.failures[m] = out.failures.get(m, 0) + 1
                    continue
                out.fitted[fit.formula] = out.fitted.get(fit.formula, 0) + 1
                for r in fit.contrasts.itertuples():
                    diff = truth[r.A] - truth[r.B]
                    if abs(diff) < 1e-9:
                        out.add("rejections", f"mixed {m}: contrasts", r.p_unc < 0.05, 1)
                    out.add("coverage", f"mixed {m}: contrasts", r.ci_low <= diff <= r.ci_high, 1)
                for r in fit.means.itertuples():
                    mu = truth[r.condition]
                    out.add("coverage", f"mixed {m}: means", r.ci_low <= mu <= r.ci_high, 1)
            if "describe" in methods:
                d = describe_conditions(df, n_boot=0)
                for r in d.itertuples():
                    mu = truth[r.condition]
                    out.add(
                        "coverage", "t interval on participant means", r.t_low <= mu <= r.t_high, 1
                    )
            if "wilcoxon" in methods:
                for unit in ("participant", "clip"):
                    pw = pairwise_wilcoxon(df, subject=unit)
                    for r in pw.itertuples():
                        if abs(truth[r.A] - truth[r.B]) < 1e-9:
                            out.add("rejections", f"wilcoxon by {unit}", r.p_unc < 0.05, 1)
            if "friedman" in methods and len(set(truth.values())) == 1 and len(truth) > 2:
                for unit in ("participant", "clip"):
                    p = float(friedman(df, subject=unit)["p_unc"].iloc[0])
                    out.add("rejections", f"friedman by {unit}", p < 0.05, 1)
        if progress is not None:
            progress(s + 1)
    return out


def null_designs(designs: Sequence[FormDesign], level: float = 70.0) -> list[FormDesign]:
    """The same designs with every condition at the same true mean (the null)."""
    return [replace(d, conditions=dict.fromkeys(d.conditions, level)) for d in designs]


def paper_scale(n_participants: int = 60) -> list[FormDesign]:
    """The paper's two forms (15 clips x 3 conditions, 8 clips x 2) at ~60 participants."""
    from analysis.simulate import PAPER_FORMS

    return [replace(f, n_participants=n_participants) for f in PAPER_FORMS]
