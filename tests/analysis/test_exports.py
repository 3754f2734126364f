"""The long ratings table and the participants table: the analysis core's column contract,
filled with exactly what participants submitted, in few queries, as CSV, Parquet and JSON."""

from __future__ import annotations

import io
import json
import uuid

import pandas as pd
import pytest
from django.core.management import call_command

from analysis.exports import (
    IDENTIFYING_COLUMNS,
    participants_frame,
    pseudonymise,
    ratings_frame,
    ratings_frames,
    write_frames,
)
from survey import participation as P
from survey.models import Participant, QualityCheck, Rating, TrialResponse
from survey.simulation import simulate_participants
from tests.harness.bots import Bot

# The contract, as the analysis core's own tests state it (tests/analysis/test_report.py).
CONTRACT = [
    "study",
    "form",
    "participant",
    "prolific_pid",
    "study_id",
    "session_id",
    "clip",
    "condition",
    "track",
    "value",
    "position",
    "trial_order",
    "listening_s",
    "started_at",
    "submitted_at",
    "is_attention",
    "attention_passed",
    "headphone_passed",
    "trial_duration_s",
    "language",
]
PARTICIPANT_CONTRACT = [
    "study",
    "form",
    "participant",
    "status",
    "started_at",
    "completed_at",
    "age_range",
    "device",
    "music_training",
    "headphone_passed",
]


def _walk(bot: Bot, *, attention_value: float, values: dict[str, float]) -> None:
    """Through the real pages: consent, instructions, practice, headphones, every item,
    questionnaire."""
    bot.to_trials()
    p = bot.participant
    P.submit_headphone(participant=p, answers=P.headphone_plan(p))
    while True:
        html = bot.page().content.decode()
        if 'id="trial-config"' not in html:
            break
        cfg = bot.config()
        if cfg["mode"] == "attention":
            resp = bot.submit(cfg, values={"A": attention_value})
        else:
            resp = bot.submit(cfg, values=values)
        assert resp.status_code == 200, resp.content
    resp = bot.client.post(
        f"/s/{bot.study.slug}/run/questionnaire/",
        {"age_range": "25-34", "device": "headphones", "music_training": "some", "comment": "nice"},
    )
    assert resp.status_code == 302


@pytest.fixture
def walked(live_small):
    good = Bot(live_small, PROLIFIC_PID="PID-GOOD", STUDY_ID="S1", SESSION_ID="X1")
    _walk(good, attention_value=0, values={"A": 12, "B": 87})
    careless = Bot(live_small, PROLIFIC_PID="PID-BAD")
    _walk(careless, attention_value=60, values={"A": 50, "B": 50})
    return live_small, good.participant, careless.participant


def test_it_follows_the_column_contract(walked):
    study, good, _ = walked
    df = ratings_frame(study=study)
    assert list(df.columns) == CONTRACT
    assert str(df["started_at"].dt.tz) == "UTC" and str(df["submitted_at"].dt.tz) == "UTC"
    assert df["is_attention"].dtype == bool
    assert (
        str(df["attention_passed"].dtype) == "boolean"
        and str(df["headphone_passed"].dtype) == "boolean"
    )
    people = participants_frame(study=study)
    assert list(people.columns[: len(PARTICIPANT_CONTRACT)]) == PARTICIPANT_CONTRACT


PUBLIC_CONTRACT = [c for c in CONTRACT if c not in IDENTIFYING_COLUMNS]


def test_each_rating_row_is_what_was_submitted(walked):
    study, good, careless = walked
    df = ratings_frame(study=study)
    rows = df.loc[~df["is_attention"]]
    assert len(rows) == Rating.objects.count() == 8
    for r in Rating.objects.select_related("trial__clip", "track__condition", "participant"):
        row = rows.loc[
            (rows["participant"] == r.participant.public_id) & (rows["track"] == r.track_id)
        ]
        assert len(row) == 1
        row = row.iloc[0]
        resp = TrialResponse.objects.get(participant=r.participant, sequence_index=r.trial_order)
        assert (
            row["value"] == r.value
            and row["position"] == r.position
            and row["trial_order"] == r.trial_order
        )
        assert row["clip"] == r.trial.clip.key and row["condition"] == r.track.condition.name
        assert row["listening_s"] == r.listening_s >= 1.0
        assert row["started_at"] == pd.Timestamp(resp.shown_at)
        assert row["submitted_at"] == pd.Timestamp(resp.submitted_at)
        assert row["trial_duration_s"] == pytest.approx(resp.duration_s)
        assert row["study"] == "small" and row["form"] == "f1"
    mine = rows.loc[rows["participant"] == good.public_id]
    assert sorted(mine["value"]) == [12, 12, 87, 87]  # label A got 12, B got 87 in both trials
    assert set(mine["prolific_pid"]) == {"PID-GOOD"} and set(mine["study_id"]) == {"S1"}
    assert set(mine["session_id"]) == {"X1"}
    assert mine["headphone_passed"].all() and mine["attention_passed"].all()
    theirs = rows.loc[rows["participant"] == careless.public_id]
    assert (~theirs["attention_passed"].astype(bool)).all()


def test_attention_checks_are_rows_the_screening_reads(walked):
    study, good, careless = walked
    att = ratings_frame(study=study).query("is_attention")
    assert len(att) == 2 == QualityCheck.objects.filter(kind="attention").count()
    by = att.set_index("participant")
    assert (
        by.loc[good.public_id, "value"] == 0
        and bool(by.loc[good.public_id, "attention_passed"]) is True
    )
    assert (
        by.loc[careless.public_id, "value"] == 60
        and bool(by.loc[careless.public_id, "attention_passed"]) is False
    )
    assert set(att["condition"]) == {"attention"}
    from analysis.screening import ScreeningSettings, screen

    # the bots answer within milliseconds: leave the too-fast and timing rules out here
    result = screen(
        ratings_frame(study=study),
        participants_frame(study=study),
        settings=ScreeningSettings(min_trial_duration_s=None, impossible_timing=False),
    )
    assert set(result.log["participant"]) == {careless.public_id}
    assert {"attention", "flat"} <= set(result.log["rule"])


def test_the_participants_table_holds_the_questionnaire(walked):
    study, good, careless = walked
    people = participants_frame(study=study).set_index("participant")
    g = people.loc[good.public_id]
    assert g["status"] == "completed" and g["form"] == "f1"
    assert (g["age_range"], g["device"], g["music_training"], g["comment"]) == (
        "25-34",
        "headphones",
        "some",
        "nice",
    )
    assert g["n_ratings"] == 4 and g["attention_checks"] == 1 and g["attention_failures"] == 0
    assert bool(g["headphone_passed"]) and bool(g["attention_passed"])
    assert pd.notna(g["completed_at"]) and g["prolific_pid"] == "PID-GOOD"
    assert people.loc[careless.public_id, "attention_failures"] == 1


def test_a_participant_without_checks_has_no_attention_result(live_small):
    declined = P.participant_decline(study=live_small, prolific_pid="NO")
    people = participants_frame(study=live_small)
    assert len(people) == 1 and people.iloc[0]["status"] == "declined"
    assert pd.isna(people.iloc[0]["attention_passed"]) and pd.isna(people.iloc[0]["form"])
    assert people.iloc[0]["participant"] == declined.public_id


def test_few_queries_whatever_the_number_of_participants(
    three_way_study, django_assert_max_num_queries
):
    simulate_participants(three_way_study, 12, seed=1)
    with django_assert_max_num_queries(8):
        big = ratings_frame(study=three_way_study)
    with django_assert_max_num_queries(3):
        participants_frame(study=three_way_study)
    assert (~big["is_attention"]).sum() == Rating.objects.count()
    chunks = list(ratings_frames(study=three_way_study, chunk_participants=5))
    assert len(chunks) == 3
    pd.testing.assert_frame_equal(pd.concat(chunks, ignore_index=True), big)


@pytest.mark.parametrize("fmt", ["csv", "parquet", "json"])
def test_each_format_reads_back_to_the_same_table(walked, tmp_path, fmt):
    study = walked[0]
    df = ratings_frame(study=study)
    out = tmp_path / f"ratings.{fmt}"
    people_out = tmp_path / f"people.{fmt}"
    call_command(
        "export_ratings",
        "--study",
        "small",
        "--format",
        fmt,
        "--out",
        str(out),
        "--participants-out",
        str(people_out),
        "--include-free-text",
    )
    df = pseudonymise(df)  # the export is pseudonymised: no recruiter ids
    if fmt == "csv":
        back = pd.read_csv(out, parse_dates=["started_at", "submitted_at"])
        people = pd.read_csv(people_out)
    elif fmt == "parquet":
        back = pd.read_parquet(out)
        people = pd.read_parquet(people_out)
        assert str(back["attention_passed"].dtype) in ("boolean", "bool", "object")
    else:
        records = json.loads(out.read_text())
        assert set(records[0]) == set(PUBLIC_CONTRACT)
        back = pd.DataFrame(records)
        back["started_at"] = pd.to_datetime(back["started_at"], utc=True)
        people = pd.DataFrame(json.loads(people_out.read_text()))
    assert list(back.columns) == PUBLIC_CONTRACT and len(back) == len(df) == 10
    assert back["value"].tolist() == df["value"].tolist()
    assert back["participant"].tolist() == df["participant"].tolist()
    assert back["track"].tolist() == df["track"].tolist()
    assert (
        pd.to_datetime(back["started_at"], utc=True) - df["started_at"]
    ).abs().max() < pd.Timedelta("1ms")
    assert len(people) == 2 and set(people["comment"]) == {"nice"}


def test_an_empty_study_exports_a_header(live_small, tmp_path, capsys):
    out = tmp_path / "r.csv"
    call_command("export_ratings", "--study", "small", "--format", "csv", "--out", str(out))
    assert out.read_text().strip().split(",") == PUBLIC_CONTRACT
    assert "no ratings yet" in capsys.readouterr().out
    buf = io.BytesIO()
    assert write_frames(ratings_frames(study=live_small), buf, "parquet") == 0
    assert list(pd.read_parquet(io.BytesIO(buf.getvalue())).columns) == CONTRACT
    buf = io.BytesIO()
    write_frames(ratings_frames(study=live_small), buf, "json")
    assert json.loads(buf.getvalue()) == []


def test_ratings_made_outside_the_services_still_export(live_small):
    """Ratings without a TrialResponse (imported, say): times from the rating, no duration."""
    form = live_small.forms.get()
    p = Participant.objects.create(study=live_small, form=form)
    trial = form.trials.first()
    tt = trial.trial_tracks.first()
    Rating.objects.create(
        participant=p,
        trial=trial,
        track=tt.track,
        value=42,
        position=0,
        trial_order=0,
        listening_s=3.0,
        submission_id=uuid.uuid4(),
    )
    df = ratings_frame(study=live_small)
    assert len(df) == 1 and df.iloc[0]["value"] == 42 and pd.isna(df.iloc[0]["trial_duration_s"])
    assert pd.notna(df.iloc[0]["submitted_at"]) and pd.isna(df.iloc[0]["attention_passed"])
