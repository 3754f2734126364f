"""Statistics against published reference values (pingouin and scipy docstrings, R)."""

import numpy as np
import pandas as pd
import pytest
import scipy.stats
from statsmodels.stats.multitest import multipletests

from analysis.stats import (
    AnalysisError,
    describe_conditions,
    friedman,
    kendall_w,
    p_adjust,
    pairwise_wilcoxon,
)

# pingouin.friedman docstring: 12 subjects x 3 wines
WINES = pd.DataFrame(
    {
        "white": [10, 8, 7, 9, 7, 4, 5, 6, 5, 10, 4, 7],
        "red": [7, 5, 8, 6, 5, 7, 9, 6, 4, 6, 7, 3],
        "rose": [8, 5, 6, 4, 7, 5, 3, 7, 6, 4, 4, 3],
    }
)


def _long(wide: pd.DataFrame) -> pd.DataFrame:
    return wide.melt(ignore_index=False, var_name="condition").reset_index(names="participant")


def test_it_reproduces_pingouin_friedman_chisq():
    res = friedman(_long(WINES))
    assert list(res.columns) == ["Source", "n", "k", "W", "ddof1", "Q", "p_unc"]
    row = res.iloc[0]
    assert row["W"] == pytest.approx(0.083333, abs=1e-6)
    assert row["Q"] == pytest.approx(2.0, abs=1e-9)
    assert row["p_unc"] == pytest.approx(0.367879, abs=1e-6)
    assert (row["n"], row["k"], row["ddof1"]) == (12, 3, 2)


def test_it_reproduces_pingouin_friedman_f_method():
    row = friedman(_long(WINES), method="f").iloc[0]
    assert row["F"] == pytest.approx(1.0, abs=1e-9)
    assert row["ddof1"] == pytest.approx(1.833333, abs=1e-6)
    assert row["ddof2"] == pytest.approx(20.166667, abs=1e-6)
    assert row["p_unc"] == pytest.approx(0.378959, abs=1e-6)


def test_it_matches_scipy_friedmanchisquare_docstring_example():
    # scipy.stats.friedmanchisquare docstring: statistic 10.5714..., p 0.0050634...
    before = [72, 96, 88, 92, 74, 76, 82]
    immediately = [120, 120, 132, 120, 101, 96, 112]
    five = [76, 95, 104, 96, 84, 72, 76]
    wide = pd.DataFrame({"a": before, "b": immediately, "c": five})
    row = friedman(_long(wide)).iloc[0]
    ref = scipy.stats.friedmanchisquare(before, immediately, five)
    assert row["Q"] == pytest.approx(ref.statistic, rel=1e-12)
    assert row["p_unc"] == pytest.approx(ref.pvalue, rel=1e-9)
    assert row["Q"] == pytest.approx(10.57142857142857, rel=1e-9)


def test_it_averages_repeated_ratings_and_uses_complete_cases():
    long = _long(WINES)
    doubled = pd.concat([long, long], ignore_index=True)  # same means
    extra = pd.DataFrame({"participant": [99], "condition": ["white"], "value": [1]})
    res = friedman(pd.concat([doubled, extra], ignore_index=True)).iloc[0]
    assert res["n"] == 12 and res["Q"] == pytest.approx(2.0)
    assert kendall_w(long) == pytest.approx(0.083333, abs=1e-6)


def test_it_reproduces_pingouin_wilcoxon_example():
    x = [20, 22, 19, 20, 22, 18, 24, 20, 19, 24, 26, 13]
    y = [38, 37, 33, 29, 14, 12, 20, 22, 17, 25, 26, 16]
    df = pd.DataFrame(
        {"participant": list(range(12)) * 2, "condition": ["x"] * 12 + ["y"] * 12, "value": x + y}
    )
    res = pairwise_wilcoxon(df)
    assert list(res.columns) == [
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
    row = res.iloc[0]
    assert row["W_val"] == 20.5
    # pingouin's default (continuity-corrected normal approximation; a zero and ties): 0.285765
    assert row["p_unc"] == pytest.approx(0.285765, abs=1e-6)
    assert row["RBC"] == pytest.approx(-0.378788, abs=1e-6)
    d = np.array(x) - np.array(y)
    assert row["dz"] == pytest.approx(d.mean() / d.std(ddof=1))


def test_without_ties_the_p_value_is_exact():
    a = np.array([1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30])
    b = np.array([0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29])
    df = pd.DataFrame(
        {
            "participant": list(range(9)) * 2,
            "condition": ["a"] * 9 + ["b"] * 9,
            "value": np.concatenate([a, b]),
        }
    )
    # R: wilcox.test(a, b, paired = TRUE) -> V = 40, p-value = 0.03906 (exact)
    row = pairwise_wilcoxon(df).iloc[0]
    assert row["W_val"] == 5.0  # scipy reports min(R+, R-): 45 - 40
    assert row["p_unc"] == pytest.approx(0.0390625, abs=1e-9)


def test_holm_and_bh_match_statsmodels_multipletests():
    rng = np.random.default_rng(0)
    p = rng.uniform(0, 0.2, 9)
    for method in ("holm", "fdr_bh", "bonferroni"):
        assert np.allclose(p_adjust(p, method=method), multipletests(p, method=method)[1])
    # R: p.adjust(c(0.01, 0.02, 0.03, 0.04, 0.05), "holm") -> 0.05 0.08 0.09 0.09 0.09
    assert np.allclose(
        p_adjust([0.01, 0.02, 0.03, 0.04, 0.05], method="holm"), [0.05, 0.08, 0.09, 0.09, 0.09]
    )
    assert np.isnan(p_adjust([0.01, np.nan], method="holm")[1])


def test_pairwise_holm_corrects_across_the_three_pairs():
    long = _long(WINES)
    res = pairwise_wilcoxon(long, padjust="holm")
    assert len(res) == 3
    assert np.allclose(res["p_corr"], multipletests(res["p_unc"], method="holm")[1])
    bh = pairwise_wilcoxon(long, padjust="fdr_bh")
    assert np.allclose(bh["p_corr"], multipletests(bh["p_unc"], method="fdr_bh")[1])
    assert set(bh["p_adjust"]) == {"fdr_bh"}


def test_t_interval_is_on_participant_means():
    rng = np.random.default_rng(2)
    rows = []
    for p in range(10):
        for _k in range(1 + p % 3):  # unequal numbers of ratings per participant
            rows.append({"participant": p, "condition": "a", "value": 50 + p + rng.normal()})
    df = pd.DataFrame(rows)
    d = describe_conditions(df, n_boot=500).iloc[0]
    pm = df.groupby("participant")["value"].mean()
    lo, hi = scipy.stats.t.interval(0.95, len(pm) - 1, loc=pm.mean(), scale=scipy.stats.sem(pm))
    assert d["pmean"] == pytest.approx(pm.mean())
    assert (d["t_low"], d["t_high"]) == (pytest.approx(lo), pytest.approx(hi))
    assert d["mean"] == pytest.approx(df["value"].mean())
    assert d["n"] == len(df) and d["n_participants"] == 10


def test_cluster_bootstrap_is_seeded_and_close_to_the_t_interval():
    rng = np.random.default_rng(5)
    n = 80
    df = pd.DataFrame(
        {
            "participant": np.repeat(np.arange(n), 4),
            "condition": "a",
            "value": np.repeat(rng.normal(60, 10, n), 4) + rng.normal(0, 5, 4 * n),
        }
    )
    a = describe_conditions(df, n_boot=2000, seed=1)
    b = describe_conditions(df, n_boot=2000, seed=1)
    pd.testing.assert_frame_equal(a, b)
    row = a.iloc[0]
    width_t, width_b = row["t_high"] - row["t_low"], row["boot_high"] - row["boot_low"]
    assert width_b == pytest.approx(width_t, rel=0.15)  # same clustered uncertainty
    naive = 2 * 1.96 * df["value"].std() / np.sqrt(len(df))
    assert width_b > 1.5 * naive  # votes are not independent


def test_friedman_refuses_one_condition():
    df = pd.DataFrame({"participant": [1, 2], "condition": ["a", "a"], "value": [1.0, 2.0]})
    with pytest.raises(AnalysisError, match="at least 2 conditions"):
        friedman(df)
