"""Model invariants the database enforces, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import uuid

import pytest
from django.db import IntegrityError, transaction

from survey.models import Participant, Rating, Study


def _rating(participant, trial, track, value, **kw):
    return Rating.objects.create(
        participant=participant,
        trial=trial,
        track=track,
        value=value,
        position=0,
        trial_order=0,
        submission_id=uuid.uuid4(),
        **kw,
    )


@pytest.fixture
def rated(small_study):
    trial = small_study.forms.get().trials.first()
    track = trial.tracks.first()
    participant = Participant.objects.create(study=small_study, form=trial.form)
    return participant, trial, track


def test_it_stores_a_rating_in_range(rated):
    participant, trial, track = rated
    _rating(participant, trial, track, 0)
    assert Rating.objects.get().value == 0


@pytest.mark.parametrize("value", [-0.01, 100.5, 1000])
def test_it_rejects_out_of_range_values_in_the_database(rated, value):
    participant, trial, track = rated
    with pytest.raises(IntegrityError), transaction.atomic():
        _rating(participant, trial, track, value)
    assert Rating.objects.count() == 0


def test_it_allows_one_rating_per_participant_and_track(rated):
    participant, trial, track = rated
    _rating(participant, trial, track, 50)
    with pytest.raises(IntegrityError), transaction.atomic():
        _rating(participant, trial, track, 60)
    assert list(Rating.objects.values_list("value", flat=True)) == [50]


def test_it_rejects_negative_listening_time(rated):
    participant, trial, track = rated
    with pytest.raises(IntegrityError), transaction.atomic():
        _rating(participant, trial, track, 50, listening_s=-1)


def test_it_keeps_one_participant_per_prolific_pid_per_study(small_study):
    Participant.objects.create(study=small_study, prolific_pid="abc")
    Participant.objects.create(study=small_study, prolific_pid="")
    Participant.objects.create(study=small_study, prolific_pid="")  # blank ids do not collide
    with pytest.raises(IntegrityError), transaction.atomic():
        Participant.objects.create(study=small_study, prolific_pid="abc")
    other = Study.objects.create(title="Other", slug="other")
    Participant.objects.create(
        study=other, prolific_pid="abc"
    )  # another study may hold the same id
    assert Participant.objects.filter(prolific_pid="abc").count() == 2


def test_participant_codes_are_long_and_unique(small_study):
    codes = {Participant.objects.create(study=small_study).code for _ in range(20)}
    assert len(codes) == 20
    assert all(len(c) >= 22 for c in codes)


def test_track_files_have_opaque_names(small_study):
    trial = small_study.forms.get().trials.first()
    for tt in trial.trial_tracks.select_related("track", "condition"):
        for field in (tt.track.audio, tt.track.video):
            assert tt.condition.name not in field.name
            assert trial.clip.key not in field.name
