"""Consistency of a study's timestamps, as the exports give them (the ratings and participants
tables that both the live study and ``analysis.simulate`` produce)."""

from __future__ import annotations

import pandas as pd

SLACK = pd.Timedelta(milliseconds=5)


def timeline_problems(ratings: pd.DataFrame, participants: pd.DataFrame) -> list[str]:
    """Everything impossible in the tables: a trial before its participant started or after they
    finished, trials of one participant that overlap, a trial shorter than the listening it
    claims, a participant's duration shorter than their trials. An empty list when consistent."""
    problems: list[str] = []
    people = participants.set_index("participant")
    trials = (
        ratings.groupby(["participant", "trial_order"], sort=True)
        .agg(
            started_at=("started_at", "first"),
            submitted_at=("submitted_at", "first"),
            duration=("trial_duration_s", "first"),
            listening=("listening_s", "sum"),
            longest=("listening_s", "max"),
            n_starts=("started_at", "nunique"),
        )
        .reset_index()
    )
    for t in trials.itertuples():
        where = f"participant {t.participant}, trial {t.trial_order}"
        if t.n_starts != 1:
            problems.append(f"{where}: its ratings disagree on when it started")
        if pd.isna(t.started_at) or pd.isna(t.submitted_at):
            problems.append(f"{where}: no start or submit time")
            continue
        span = (t.submitted_at - t.started_at).total_seconds()
        if span < 0:
            problems.append(f"{where}: submitted before it was shown")
        if abs(span - t.duration) > 0.01:
            problems.append(f"{where}: lasted {span:.2f} s by its times, {t.duration:.2f} s stated")
        if t.listening > t.duration + 0.01:
            problems.append(
                f"{where}: {t.listening:.2f} s of listening in a {t.duration:.2f} s trial"
            )
        person = people.loc[t.participant] if t.participant in people.index else None
        if person is None:
            problems.append(f"{where}: not in the participants table")
            continue
        if t.started_at + SLACK < person["started_at"]:
            problems.append(f"{where}: shown before the participant started")
        if pd.notna(person["completed_at"]) and t.submitted_at > person["completed_at"] + SLACK:
            problems.append(f"{where}: submitted after the participant finished")
    for pid, own in trials.sort_values("started_at").groupby("participant"):
        starts, ends = own["started_at"].to_list(), own["submitted_at"].to_list()
        if any(s + SLACK < e for s, e in zip(starts[1:], ends[:-1], strict=True)):
            problems.append(f"participant {pid}: trials overlap")
        if list(own["trial_order"]) != sorted(own["trial_order"]):
            problems.append(f"participant {pid}: trials not in their order")
        person = people.loc[pid] if pid in people.index else None
        if person is not None and pd.notna(person["completed_at"]):
            took = (person["completed_at"] - person["started_at"]).total_seconds()
            if took + 0.01 < own["duration"].sum():
                problems.append(
                    f"participant {pid}: took {took:.1f} s for {own['duration'].sum():.1f} s "
                    "of "
                    "trials"
                )
    return problems
