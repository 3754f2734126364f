"""Krippendorff's alpha and ICC against their published worked examples."""

import numpy as np
import pandas as pd
import pytest

from analysis.agreement import icc, krippendorff_alpha, stimulus_agreement
from analysis.stats import AnalysisError

nan = np.nan
# Krippendorff's 3-coder x 15-unit example (fast-krippendorff doctest / Wikipedia)
THREE = [
    [nan, nan, nan, nan, nan, 3, 4, 1, 2, 1, 1, 3, 3, nan, 3],
    [1, nan, 2, 1, 3, 3, 4, 3, nan, nan, nan, nan, nan, nan, nan],
    [nan, nan, 2, 1, 3, 4, 4, nan, 2, 1, 1, 3, 3, nan, 4],
]
# Krippendorff (2011) "Computing Krippendorff's alpha-reliability", 4 observers x 12 units
FOUR = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, nan, nan, nan],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, nan, 3],
    [nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, nan],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, nan],
]


def _long(matrix) -> pd.DataFrame:
    return pd.DataFrame(matrix).stack().rename("v").rename_axis(["coder", "unit"]).reset_index()


def _alpha(matrix, level):
    return krippendorff_alpha(_long(matrix), raters="coder", units="unit", ratings="v", level=level)


def test_it_reproduces_the_three_coder_example():
    assert round(_alpha(THREE, "nominal"), 6) == 0.691358
    assert round(_alpha(THREE, "interval"), 6) == 0.810845


@pytest.mark.parametrize(
    "level,expected",
    [("nominal", 0.743421), ("ordinal", 0.815388), ("interval", 0.849107), ("ratio", 0.797403)],
)
def test_it_reproduces_the_four_observer_example(level, expected):
    assert round(_alpha(FOUR, level), 6) == expected


def test_nominal_alpha_takes_string_labels():
    data = [["pos", "neg", "neu", None], ["pos", "neg", "neu", "pos"], ["pos", "neg", "pos", "pos"]]
    long = pd.DataFrame(data).stack().rename("v").rename_axis(["coder", "unit"]).reset_index()
    # fast-krippendorff's test_string_labels_nominal: 0.722222
    a = krippendorff_alpha(long, raters="coder", units="unit", ratings="v", level="nominal")
    assert round(a, 6) == 0.722222


def test_perfect_agreement_is_one_and_constant_data_is_refused():
    same = [[1, 2, 3, 4]] * 3
    assert _alpha(same, "interval") == pytest.approx(1.0)
    assert _alpha(same, "nominal") == pytest.approx(1.0)
    with pytest.raises(AnalysisError, match="same value"):
        _alpha([[5, 5], [5, 5]], "interval")
    with pytest.raises(AnalysisError, match="at least two raters"):
        _alpha([[1, nan], [nan, 2]], "interval")


# Shrout & Fleiss (1979) Table 2: 6 targets x 4 judges
SF = pd.DataFrame(
    [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]
)


def test_icc_reproduces_shrout_fleiss_and_r_psych():
    long = SF.stack().rename("score").rename_axis(["target", "judge"]).reset_index()
    res = icc(long, targets="target", raters="judge", ratings="score").set_index("Type")
    assert list(res.columns) == [
        "Description",
        "ICC",
        "F",
        "df1",
        "df2",
        "pval",
        "ci_low",
        "ci_high",
    ]
    # published: 0.17, 0.29, 0.71, 0.44, 0.62, 0.91 (psych::ICC prints 3 decimals)
    expected = {
        "ICC(1,1)": 0.166,
        "ICC(A,1)": 0.290,
        "ICC(C,1)": 0.715,
        "ICC(1,k)": 0.443,
        "ICC(A,k)": 0.620,
        "ICC(C,k)": 0.909,
    }
    for name, value in expected.items():
        assert res.loc[name, "ICC"] == pytest.approx(value, abs=5e-4)
    # psych::ICC(sf) bounds: ICC1 [-0.133, 0.72], ICC2 [0.019, 0.76], ICC3 [0.342, 0.95],
    # ICC1k [-0.884, 0.91], ICC2k [0.071, 0.93], ICC3k [0.676, 0.99]; F 1.79 and 11.03
    bounds = {
        "ICC(1,1)": (-0.133, 0.72),
        "ICC(A,1)": (0.019, 0.76),
        "ICC(C,1)": (0.342, 0.95),
        "ICC(1,k)": (-0.884, 0.91),
        "ICC(A,k)": (0.071, 0.93),
        "ICC(C,k)": (0.676, 0.99),
    }
    for name, (lo, hi) in bounds.items():
        assert res.loc[name, "ci_low"] == pytest.approx(lo, abs=1.5e-3)
        assert res.loc[name, "ci_high"] == pytest.approx(hi, abs=6e-3)
    assert res.loc["ICC(1,1)", "F"] == pytest.approx(1.79, abs=0.01)
    assert res.loc["ICC(C,1)", "F"] == pytest.approx(11.03, abs=0.01)


def test_icc_leaves_out_incomplete_raters_and_refuses_too_little():
    long = SF.stack().rename("score").rename_axis(["target", "judge"]).reset_index()
    extra = pd.DataFrame({"target": [0], "judge": [9], "score": [3]})
    res = icc(pd.concat([long, extra]), targets="target", raters="judge", ratings="score")
    assert res.loc[res["Type"] == "ICC(A,1)", "ICC"].item() == pytest.approx(0.290, abs=5e-4)
    with pytest.raises(AnalysisError, match="at least 2 targets and 2 raters"):
        icc(long[long["judge"] == 0], targets="target", raters="judge", ratings="score")


def test_stimulus_agreement_reports_alpha_and_iccs():
    long = SF.stack().rename("value").rename_axis(["clip", "participant"]).reset_index()
    long["condition"] = "c"
    res = stimulus_agreement(long).set_index("measure")
    assert res.loc["ICC(A,k)", "value"] == pytest.approx(0.620, abs=5e-4)
    direct = krippendorff_alpha(long, raters="participant", units="clip", ratings="value")
    assert res.loc["Krippendorff alpha (interval)", "value"] == pytest.approx(direct)
