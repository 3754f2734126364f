"""Issue 13, defect 7: the analysis core's simulated study has consistent times (participants
start before their trials, their duration covers them, listening fits inside each trial)."""

from __future__ import annotations

import pandas as pd

from analysis.simulate import FormDesign, RatingModel, simulate_study
from tests.harness.timeline import timeline_problems


def test_the_simulated_study_keeps_time():
    forms = [
        FormDesign("f1", {"a": 50.0, "b": 60.0, "c": 70.0}, n_clips=5, n_participants=12),
        FormDesign("f2", {"a": 55.0, "b": 65.0}, n_clips=4, n_participants=8),
    ]
    model = RatingModel(careless_fraction=0.25, careless_kinds=("fast",), attention_checks=2)
    s = simulate_study(forms=forms, model=model, seed=5)
    assert set(s.truth["careless"].values()) == {"fast"}  # the quickest raters are in it
    assert timeline_problems(s.ratings, s.participants) == []


def test_the_checker_finds_what_is_impossible():
    s = simulate_study(
        forms=[FormDesign("f", {"a": 50.0, "b": 60.0}, n_clips=3, n_participants=2)], seed=1
    )
    ratings = s.ratings.copy()
    first = ratings.index[0]
    ratings.loc[first, "listening_s"] = 10_000.0  # more listening than the trial lasted
    who = ratings.loc[first, "participant"]
    people = s.participants.copy()
    people.loc[people["participant"] == who, "started_at"] = ratings["submitted_at"].max()
    people.loc[people["participant"] == who, "completed_at"] = ratings["submitted_at"].max()
    found = timeline_problems(ratings, people)
    assert any("of listening in a" in p for p in found)
    assert any("shown before the participant started" in p for p in found)
    assert any(f"participant {who}: took" in p for p in found)
    assert timeline_problems(s.ratings, s.participants) == []
    assert isinstance(s.ratings["started_at"].iloc[0], pd.Timestamp)
