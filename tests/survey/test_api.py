"""The researcher API: authenticated, and each endpoint shows a researcher only their studies."""

from __future__ import annotations

import csv
import io
import uuid

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from survey.models import Participant, Rating

ENDPOINTS = ["api-study", "api-forms", "api-progress", "api-ratings"]


def _url(name: str, slug: str) -> str:
    from django.urls import reverse

    return reverse(name, args=[slug])


@pytest.fixture
def api(alice):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=alice).key}")
    return client


@pytest.fixture
def rated_study(small_study):
    form = small_study.forms.get()
    p = Participant.objects.create(study=small_study, form=form, prolific_pid="PID1")
    for order, trial in enumerate(form.trials.all()):
        for pos, tt in enumerate(trial.trial_tracks.all()):
            Rating.objects.create(
                participant=p,
                trial=trial,
                track=tt.track,
                value=10 * (pos + 1) + order,
                position=pos,
                trial_order=order,
                listening_s=5.0,
                submission_id=uuid.uuid4(),
            )
    return small_study


def test_it_needs_authentication(client, small_study):
    assert client.get("/api/studies/").status_code in (401, 403)
    for name in ENDPOINTS:
        assert client.get(_url(name, "small")).status_code in (401, 403)


def test_a_participant_code_opens_nothing(client, small_study):
    p = Participant.objects.create(study=small_study)
    for name in ENDPOINTS:
        resp = client.get(_url(name, "small"), HTTP_AUTHORIZATION=f"Token {p.code}")
        assert resp.status_code in (401, 403)


def test_it_lists_only_my_studies(api, small_study, bob):
    from survey.models import Study

    theirs = Study.objects.create(title="Bob's", slug="bobs")
    theirs.researchers.add(bob)
    resp = api.get("/api/studies/")
    assert resp.status_code == 200
    assert [s["slug"] for s in resp.json()] == ["small"]


@pytest.mark.parametrize("name", ENDPOINTS)
def test_each_endpoint_hides_other_researchers_studies(rated_study, bob, name):
    client = APIClient()
    client.force_authenticate(bob)
    assert client.get(_url(name, "small")).status_code == 404


@pytest.mark.parametrize("name", ENDPOINTS)
def test_each_endpoint_serves_the_owner(api, rated_study, name):
    assert api.get(_url(name, "small")).status_code == 200


def test_a_superuser_sees_every_study(rated_study, charlie):
    client = APIClient()
    client.force_authenticate(charlie)
    assert client.get(_url("api-ratings", "small")).status_code == 200


def test_forms_show_the_design(api, small_study):
    forms = api.get(_url("api-forms", "small")).json()
    assert forms[0]["name"] == "f1" and forms[0]["seed"] == 7
    assert sorted(forms[0]["conditions"]) == ["msi", "video_caps"]
    assert len(forms[0]["trials"]) == 2
    assert all(set(t["tracks"]) == {"msi", "video_caps"} for t in forms[0]["trials"])


def test_ratings_export_is_long_format(api, rated_study):
    rows = api.get(_url("api-ratings", "small")).json()
    assert len(rows) == Rating.objects.count() == 4
    row = rows[0]
    assert row["participant"] == Participant.objects.get().public_id
    assert Participant.objects.get().code not in str(
        rows
    )  # the code opens a session: never exported
    assert "prolific_pid" not in row and row["form"] == "f1"  # pseudonymised
    assert "PID1" not in str(rows)
    assert row["condition"] in {"msi", "video_caps"}
    assert {r["value"] for r in rows} == {10, 20, 11, 21}
    resp = api.get(_url("api-ratings", "small") + "?as=csv")
    assert resp["Content-Type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(b"".join(resp.streaming_content).decode())))
    assert len(table) == 4 and sorted(float(r["value"]) for r in table) == [10, 11, 20, 21]


def test_progress_counts_participants_and_cells(api, rated_study):
    progress = api.get(_url("api-progress", "small")).json()
    assert progress["forms"][0]["started"] == 1 and progress["forms"][0]["completed"] == 0
    assert sum(c["n"] for c in progress["ratings_per_cell"]) == 4


def test_the_openapi_schema_is_served(api):
    resp = api.get("/api/schema/")
    assert resp.status_code == 200
    assert b"/api/studies/{slug}/ratings/" in resp.content
