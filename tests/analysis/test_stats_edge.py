"""Empty studies, one participant, a condition without ratings, all-equal ratings."""

import re

import numpy as np
import pandas as pd
import pytest

from analysis.report import AnalysisSettings, analyze, build_report
from analysis.simulate import FormDesign, simulate_study
from analysis.stats import AnalysisError, describe_conditions, friedman, pairwise_wilcoxon

FAST = AnalysisSettings(n_boot=200)
COLUMNS = ["study", "form", "participant", "clip", "condition", "value", "is_attention"]


def _no_nan_number(page: str) -> None:
    text = re.sub(r"<script.*?</script>", "", page, flags=re.S)
    assert not re.search(r">\s*(nan|NaN|<NA>|None)\s*<", text)


def test_an_empty_study_gives_a_report_with_a_message():
    page = build_report(
        pd.DataFrame(columns=COLUMNS), None, design={"study": "empty"}, provenance=[], settings=FAST
    )
    assert "no ratings yet" in page
    _no_nan_number(page)


def test_one_participant_gives_numbers_without_intervals_and_messages():
    s = simulate_study(forms=[FormDesign("f", {"a": 50.0, "b": 60.0}, 4, 1)], seed=0)
    r = s.ratings[~s.ratings["is_attention"]]
    d = describe_conditions(r, n_boot=100)
    assert d["t_low"].isna().all() and (d["note"] == "one participant: no interval").all()
    with pytest.raises(AnalysisError, match="at least 2 participants"):
        friedman(r)
    page = build_report(
        s.ratings, s.participants, design={}, provenance=[], settings=AnalysisSettings(n_boot=100)
    )
    assert "at least 2 participants" in page
    _no_nan_number(page)


def test_a_condition_without_ratings_is_listed_with_a_message():
    s = simulate_study(forms=[FormDesign("f", {"a": 50.0, "b": 60.0}, 4, 12)], seed=1)
    design = {"conditions": {"f": ["a", "b", "ghost"]}}
    a = analyze(s.ratings, s.participants, settings=FAST, conditions=design["conditions"])
    row = a.screened["f"].describe.set_index("condition").loc["ghost"]
    assert row["n"] == 0 and row["note"] == "no ratings" and np.isnan(row["mean"])
    assert "no ratings of ghost" in a.screened["f"].messages["conditions"]
    page = build_report(s.ratings, s.participants, design=design, provenance=[], settings=FAST)
    assert "no ratings of ghost" in page
    _no_nan_number(page)


def test_all_equal_ratings_give_messages_not_numbers():
    s = simulate_study(forms=[FormDesign("f", {"a": 50.0, "b": 60.0}, 4, 10)], seed=2)
    r = s.ratings.copy()
    r.loc[~r["is_attention"], "value"] = 70.0
    with pytest.raises(AnalysisError, match="same mean rating"):
        friedman(r[~r["is_attention"]])
    pw = pairwise_wilcoxon(r[~r["is_attention"]]).iloc[0]
    assert np.isnan(pw["p_unc"]) and "non-zero difference" in pw["note"]
    settings = AnalysisSettings(n_boot=100)
    a = analyze(r, s.participants, settings=settings)
    msgs = a.unscreened["f"].messages
    assert "identical" in msgs["mixed"] and "same mean rating" in msgs["friedman"]
    page = build_report(r, s.participants, design={}, provenance=[], settings=settings)
    assert "identical" in page
    _no_nan_number(page)
