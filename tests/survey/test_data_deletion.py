"""Collected data cannot be deleted while a study runs; after closing, each deletion is recorded
(who, when, what) and the exports and the report say what was removed."""

from __future__ import annotations

import io
import uuid
import zipfile

import pandas as pd
import pytest
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from analysis.study_report import study_report
from survey import participation, services
from survey.models import DataDeletion, DataLocked, Participant, Rating


def _rated(study, pid):
    p, _ = participation.participant_start(study=study, prolific_pid=pid)
    trial = study.forms.get().trials.first()
    for i, tt in enumerate(trial.trial_tracks.all()):
        Rating.objects.create(
            participant=p,
            trial=trial,
            track=tt.track,
            value=30 + i,
            position=i,
            trial_order=0,
            submission_id=uuid.uuid4(),
            trial_started_at=timezone.now(),
        )
    return p


@pytest.fixture
def super_client(client, charlie):
    client.force_login(charlie)
    return client


def test_nothing_collected_can_be_deleted_while_live(super_client, live_study):
    p = _rated(live_study, "keep-me")
    rating = p.ratings.first()
    for name, obj in (("participant", p), ("rating", rating)):
        url = reverse(f"admin:survey_{name}_delete", args=[obj.pk])
        assert super_client.get(url).status_code == 403
        assert super_client.post(url, {"post": "yes"}).status_code == 403
    resp = super_client.post(
        reverse("admin:survey_participant_changelist"),
        {"action": "delete_selected", "_selected_action": [p.pk], "post": "yes"},
    )
    assert resp.status_code == 403 or "permission" in resp.content.decode()
    with pytest.raises(DataLocked), transaction.atomic():
        Participant.objects.filter(pk=p.pk).delete()
    with pytest.raises(services.ValidationError, match="live"), transaction.atomic():
        services.data_delete(objects=[rating], user=None)
    assert Participant.objects.filter(pk=p.pk).exists() and p.ratings.count() == 2
    assert not DataDeletion.objects.exists()


def test_a_deletion_after_closing_is_recorded_and_exported(super_client, live_study, charlie):
    gone = _rated(live_study, "withdraws")
    kept = _rated(live_study, "stays")
    services.study_close(study=live_study)
    url = reverse("admin:survey_participant_delete", args=[gone.pk])
    assert super_client.get(url).status_code == 200
    assert super_client.post(url, {"post": "yes"}).status_code == 302
    assert not Participant.objects.filter(pk=gone.pk).exists()
    one = kept.ratings.order_by("position").first()
    resp = super_client.post(
        reverse("admin:survey_rating_changelist"),
        {"action": "delete_selected", "_selected_action": [one.pk], "post": "yes"},
    )
    assert resp.status_code == 302 and not Rating.objects.filter(pk=one.pk).exists()

    records = list(DataDeletion.objects.order_by("id"))
    assert [(r.what, r.participant, r.deleted_by, r.deleted_by_name) for r in records] == [
        ("participant", gone.public_id, charlie, "charlie"),
        ("rating", kept.public_id, charlie, "charlie"),
    ]
    assert records[0].details["ratings"] == 2 and "2 ratings" in records[0].summary
    assert records[1].details["value"] == one.value
    assert all(r.study_id == live_study.pk for r in records)

    csv = super_client.get(
        reverse("admin:survey_study_export", args=[live_study.pk]) + "?table=deletions&format=csv"
    )
    table = pd.read_csv(io.StringIO(b"".join(csv.streaming_content).decode()))
    assert list(table["participant"]) == [gone.public_id, kept.public_id]
    assert list(table["deleted_by"]) == ["charlie", "charlie"]
    report = study_report(study=live_study)
    assert report.design["removed after collection"].startswith("1 participant and 1 rating")
    assert any("removed after collection" in n for n in report.notes)
    assert "1 participant and 1 rating deleted" in report.html
    bundle = super_client.get(reverse("admin:survey_study_report_bundle", args=[live_study.pk]))
    with zipfile.ZipFile(io.BytesIO(bundle.content)) as zf:
        assert gone.public_id in zf.read("deletions.csv").decode()
    log = super_client.get(reverse("admin:survey_datadeletion_changelist"))
    assert log.status_code == 200 and gone.public_id in log.content.decode()
