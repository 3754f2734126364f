"""The crossed mixed model: closed-form reference, statsmodels agreement, recovery, type-I error."""

import numpy as np
import pandas as pd
import pytest
import scipy.stats

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
    a = mixed_model(df, engine="profiled", random="intercepts")
    b = mixed_model(df, engine="statsmodels", random="intercepts")
    assert b.engine == "statsmodels"
    assert np.allclose(a.fixed["estimate"], b.fixed["estimate"], atol=1e-3)
    assert np.allclose(a.fixed["se"], b.fixed["se"], rtol=2e-3)
    assert np.allclose(a.variance["variance"], b.variance["variance"], rtol=5e-3)
    assert a.objective == pytest.approx(b.objective, abs=1e-3)  # same REML criterion
    ml_a, ml_b = (
        mixed_model(df, engine="profiled", reml=False, random="intercepts"),
        mixed_model(df, engine="statsmodels", reml=False, random="intercepts"),
    )
    assert ml_a.objective == pytest.approx(ml_b.objective, abs=1e-3)
    assert list(a.means.columns) == ["condition", "estimate", "se", "df", "ci_low", "ci_high"]
    assert list(a.contrasts.columns) == [
        "A",
        "B",
        "estimate",
        "se",
        "df",
        "t",
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
        assert var["residual"] == pytest.approx(QUIET.sd_residual, rel=0.1)
        assert "clip:condition" in var.index  # the maximal model separates it
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


def test_maximal_model_likelihood_equals_statsmodels():
    # The same REML model, (1|participant) + (1|participant:condition) + (1|clip) +
    # (1|clip:condition), in statsmodels' MixedLM (one group, vc_formula) and the profiled
    # engine: at statsmodels' estimates both compute the same REML criterion and the same
    # fixed-effect covariance, and the profiled optimum is at least as good.
    from analysis import stats

    df = simulate_ratings(
        forms=[FormDesign("f", {"a": 45.0, "b": 55.0}, 4, 10)], model=QUIET, seed=8
    )
    a = mixed_model(df, engine="profiled")
    b = mixed_model(df, engine="statsmodels")
    assert (
        a.formula
        == b.formula
        == (
            "value ~ condition + (1|participant) + (1|participant:condition) + (1|clip)"
            " + (1|clip:condition)"
        )
    )
    assert (a.engine, b.engine) == ("profiled", "statsmodels")
    comps = list(b.variance["component"][:-1])
    codes = {c: pd.factorize(df[c])[0] for c in ("participant", "clip", "condition")}
    counts = {c: int(v.max()) + 1 for c, v in codes.items()}
    known = stats._component_names("participant", "clip", "condition")
    x = np.column_stack([np.ones(len(df)), (df["condition"] == "b").to_numpy(float)])
    problem = stats._VCProblem(
        df["value"].to_numpy(float),
        x,
        [stats._component_codes(known[c], codes, counts, "participant") for c in comps],
        codes["participant"],
    )
    var = b.variance["variance"].to_numpy()
    assert problem.deviance(var[:-1], var[-1], True) == pytest.approx(b.objective, abs=1e-6)
    beta, cov = problem.beta_cov(var[:-1], var[-1])
    assert np.allclose(beta, b.fixed["estimate"], atol=1e-6)
    assert np.allclose(np.sqrt(np.diag(cov)), b.fixed["se"], rtol=1e-5)
    assert a.objective <= b.objective + 1e-6
    assert np.allclose(a.fixed["estimate"], b.fixed["estimate"], atol=1e-3)


def test_satterthwaite_df_and_se_equal_the_classical_anova_in_a_balanced_design():
    # y = mu_c + b_p + g_i + h_ic + e, balanced, one rating per participant x clip x
    # condition. The contrast of two conditions has variance 2 E[MS_ic] / (P I), MS_ic the
    # clip x condition mean square with (I - 1)(K - 1) df, so (REML = ANOVA here) its
    # standard error is sqrt(2 MS_ic / (P I)) and its Satterthwaite df exactly (I-1)(K-1).
    df = simulate_ratings(
        forms=[FormDesign("f", {"a": 50.0, "b": 55.0}, 8, 40)], model=QUIET, seed=2
    )
    fit = mixed_model(df, engine="profiled", random=["participant", "clip", "clip:condition"])
    cell = df.pivot_table(index="clip", columns="condition", values="value", aggfunc="mean")
    n_p, (n_i, n_k) = df["participant"].nunique(), cell.shape
    inter = cell - cell.mean(axis=1).to_numpy()[:, None] - cell.mean(axis=0) + cell.values.mean()
    ms_ic = n_p * float((inter.to_numpy() ** 2).sum()) / ((n_i - 1) * (n_k - 1))
    con = fit.contrasts.iloc[0]
    assert con["se"] == pytest.approx(np.sqrt(2 * ms_ic / (n_p * n_i)), rel=1e-4)
    assert con["df"] == pytest.approx((n_i - 1) * (n_k - 1), rel=1e-2)
    half = con["ci_high"] - con["estimate"]
    assert half == pytest.approx(scipy.stats.t.ppf(0.975, con["df"]) * con["se"], rel=1e-9)
    assert fit.df_method == "satterthwaite"


def test_fallback_is_recorded_when_the_maximal_model_cannot_be_fitted(monkeypatch):
    from analysis import stats

    real = stats._VCProblem.fit

    def fit_unless_maximal(self, *, reml):
        if self.k == 4:  # the maximal structure: pretend the optimiser failed
            return {"converged": False, "error": "injected failure"}
        return real(self, reml=reml)

    monkeypatch.setattr(stats._VCProblem, "fit", fit_unless_maximal)
    df = simulate_ratings(
        forms=[FormDesign("f", {"a": 45.0, "b": 55.0}, 4, 10)], model=QUIET, seed=8
    )
    fit = mixed_model(df, engine="profiled")
    assert fit.fallback
    assert fit.requested.endswith("(1|clip) + (1|clip:condition)")
    assert fit.formula == "value ~ condition + (1|participant) + (1|clip) + (1|clip:condition)"
    assert any("injected failure" in m for m in fit.messages)
    assert fit.summary_table()["formula"].iloc[0] == fit.formula


def test_the_platforms_simulation_has_clip_by_condition_variance_and_the_model_finds_it():
    # analysis.simulate draws h_clip,condition ~ N(0, sd_clip_condition^2) per clip x condition
    # (the Django simulation uses the same rate_trials); the maximal model recovers its SD.
    model = RatingModel(
        careless_fraction=0.0, attention_checks=0, decimals=None, sd_clip_condition=4.0
    )
    df = simulate_ratings(
        forms=[FormDesign("f", {"a": 40.0, "b": 50.0, "c": 60.0}, 40, 40)], model=model, seed=21
    )
    sd = mixed_model(df, engine="profiled").variance.set_index("component")["sd"]
    assert sd["clip:condition"] == pytest.approx(4.0, rel=0.3)  # ~3 SEs with 120 cells
    assert sd["residual"] == pytest.approx(model.sd_residual, rel=0.05)
    assert sd["participant"] == pytest.approx(model.sd_participant, rel=0.35)
    none = simulate_ratings(
        forms=[FormDesign("f", {"a": 40.0, "b": 50.0, "c": 60.0}, 40, 40)],
        model=RatingModel(
            careless_fraction=0.0, attention_checks=0, decimals=None, sd_clip_condition=0.0
        ),
        seed=21,
    )
    sd0 = mixed_model(none, engine="profiled").variance.set_index("component")["sd"]
    assert sd0["clip:condition"] < 1.0  # and finds (almost) none when there is none
