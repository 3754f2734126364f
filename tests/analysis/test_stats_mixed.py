"""The crossed mixed model: closed-form reference, statsmodels agreement, recovery, type-I error."""

import numpy as np
import pandas as pd
import pytest

from analysis.simulate import FormDesign, RatingModel, simulate_ratings
from analysis.stats import AnalysisError, friedman, mixed_model, pairwise_wilcoxon

QUIET = RatingModel(
    careless_fraction=0.0, attention_checks=0, headphone_fail_rate=0.0, decimals=None
)


def _balanced(seed: int, n_p: int = 20, n_i: int = 8) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    b, g = rng.normal(0, 3, n_p), rng.normal(0, 2, n_i)
    p, i = np.meshgrid(np.arange(n_p), np.arange(n_i), indexing="ij")
    y = 20 + b[p] + g[i] + rng.normal(0, 1, p.shape)
    return pd.DataFrame(
        {"participant": p.ravel(), "clip": i.ravel(), "condition": "c", "value": y.ravel()}
    )


def test_it_equals_the_anova_estimates_on_a_balanced_crossed_design():
    # Balanced two-way crossed random design, one observation per cell: the REML estimates
    # equal the ANOVA (method-of-moments) estimates when those are positive (Searle, Casella
    # & McCulloch 1992, ch. 4), and Var(grand mean) = s2_p/P + s2_i/I + s2_e/(P I).
    df = _balanced(3)
    y = df.pivot(index="participant", columns="clip", values="value").to_numpy()
    n_p, n_i = y.shape
    g, rm, cm = y.mean(), y.mean(axis=1), y.mean(axis=0)
    ms_p = n_i * np.sum((rm - g) ** 2) / (n_p - 1)
    ms_i = n_p * np.sum((cm - g) ** 2) / (n_i - 1)
    ms_e = np.sum((y - rm[:, None] - cm[None, :] + g) ** 2) / ((n_p - 1) * (n_i - 1))
    vp, vi = (ms_p - ms_e) / n_i, (ms_i - ms_e) / n_p
    se = np.sqrt(vp / n_p + vi / n_i + ms_e / (n_p * n_i))
    fit = mixed_model(df, engine="profiled")
    var = fit.variance.set_index("component")["variance"]
    assert var["participant"] == pytest.approx(vp, rel=1e-4)
    assert var["clip"] == pytest.approx(vi, rel=1e-4)
    assert var["residual"] == pytest.approx(ms_e, rel=1e-4)
    assert fit.fixed["estimate"].iloc[0] == pytest.approx(g, rel=1e-10)
    assert fit.fixed["se"].iloc[0] == pytest.approx(se, rel=1e-4)
    assert fit.converged and fit.engine == "profiled"


def test_profiled_and_statsmodels_engines_agree():
    df = simulate_ratings(
        forms=[FormDesign("f", {"a": 45.0, "b": 55.0, "c": 50.0}, 6, 25)], model=QUIET, seed=4
    )
    a = mixed_model(df, engine="profiled")
    b = mixed_model(df, engine="statsmodels")
    assert b.engine == "statsmodels"
    assert np.allclose(a.fixed["estimate"], b.fixed["estimate"], atol=1e-3)
    assert np.allclose(a.fixed["se"], b.fixed["se"], rtol=2e-3)
    assert np.allclose(a.variance["variance"], b.variance["variance"], rtol=5e-3)
    assert a.objective == pytest.approx(b.objective, abs=1e-3)  # same REML criterion
    ml_a, ml_b = (
        mixed_model(df, engine="profiled", reml=False),
        mixed_model(df, engine="statsmodels", reml=False),
    )
    assert ml_a.objective == pytest.approx(ml_b.objective, abs=1e-3)
    assert list(a.means.columns) == ["condition", "estimate", "se", "ci_low", "ci_high"]
    assert list(a.contrasts.columns) == [
        "A",
        "B",
        "estimate",
        "se",
        "z",
        "p_unc",
        "p_corr",
        "p_adjust",
        "ci_low",
        "ci_high",
        "d_std",
    ]


def test_it_recovers_known_condition_effects_within_the_interval():
    truth = {"a": 40.0, "b": 50.0, "c": 58.0}
    hits = 0
    for seed in range(3):
        df = simulate_ratings(forms=[FormDesign("f", truth, 12, 60)], model=QUIET, seed=seed)
        fit = mixed_model(df, engine="profiled").means.set_index("condition")
        for cond, mu in truth.items():
            hits += fit.loc[cond, "ci_low"] <= mu <= fit.loc[cond, "ci_high"]
        var = mixed_model(df, engine="profiled").variance.set_index("component")["sd"]
        assert var["residual"] == pytest.approx(
            np.hypot(QUIET.sd_residual, QUIET.sd_clip_condition), rel=0.1
        )
    assert hits >= 8  # 9 intervals at 95%


def test_a_null_effect_is_not_significant_more_often_than_alpha():
    null = {"a": 50.0, "b": 50.0}
    model = RatingModel(careless_fraction=0.0, attention_checks=0, sd_clip_condition=0.0)
    p_mixed, p_wil, p_fr = [], [], []
    for seed in range(40):
        df = simulate_ratings(forms=[FormDesign("f", null, 6, 20)], model=model, seed=seed)
        df = df[~df["is_attention"]]
        p_mixed.append(mixed_model(df, engine="profiled").contrasts["p_unc"].iloc[0])
        p_wil.append(pairwise_wilcoxon(df)["p_unc"].iloc[0])
        p_fr.append(friedman(df)["p_unc"].iloc[0])
    for ps in (p_mixed, p_wil, p_fr):
        rate = np.mean(np.array(ps) < 0.05)
        assert rate <= 0.125  # 0.05 plus ~2.2 binomial SDs at 40 seeds


def test_it_refuses_identical_ratings_with_a_clear_message():
    df = _balanced(1)
    df["value"] = 50.0
    with pytest.raises(AnalysisError, match="identical"):
        mixed_model(df)
