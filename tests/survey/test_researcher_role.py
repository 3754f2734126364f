"""The researcher role: a non-superuser staff account made by ``create_researcher`` uses the
admin and the API for the studies it is listed on, and sees nothing of the others."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token

from generation.models import GenerationJob
from survey.access import RESEARCHER_GROUP, RESEARCHER_PERMISSIONS
from survey.models import Participant, Rating, Study

PASSWORD = "a-long-researcher-passphrase-17"


def _create(username, *studies, password=PASSWORD, **kw):
    out = io.StringIO()
    args = [username, "--email", f"{username}@example.org"]
    if password is not None:
        args += ["--password", password]
    for slug in studies:
        args += ["--study", slug]
    call_command("create_researcher", *args, stdout=out, **kw)
    return out.getvalue()


@pytest.fixture
def two_studies(small_study, conditions):
    """``small`` (with one participant and a rating) and ``hidden``, which rita is not on."""
    hidden = Study.objects.create(title="Hidden study", slug="hush-hush")
    for study in (small_study, hidden):
        trial = small_study.forms.get().trials.first()
        p = Participant.objects.create(study=study, form=small_study.forms.get())
        if study is small_study:
            tt = trial.trial_tracks.first()
            Rating.objects.create(
                participant=p,
                trial=trial,
                track=tt.track,
                value=40,
                position=0,
                trial_order=0,
                submission_id="00000000-0000-0000-0000-000000000001",
                trial_started_at=timezone.now(),
            )
    return small_study, hidden


def test_the_migration_makes_the_group_with_exactly_the_needed_permissions(db):
    group = Group.objects.get(name=RESEARCHER_GROUP)
    have = {
        f"{app}.{code}"
        for app, code in group.permissions.values_list("content_type__app_label", "codename")
    }
    assert have == set(RESEARCHER_PERMISSIONS)
    assert not any(p.startswith("auth.") or p == "survey.delete_study" for p in have)


def test_create_researcher_makes_a_working_account_with_a_token(client, small_study):
    out = _create("rita", "small")
    rita = get_user_model().objects.get(username="rita")
    assert rita.is_staff and not rita.is_superuser
    assert rita.groups.filter(name=RESEARCHER_GROUP).exists()
    assert list(rita.studies.values_list("slug", flat=True)) == ["small"]
    token = Token.objects.get(user=rita)
    assert f"API token: {token.key}" in out
    assert client.login(username="rita", password=PASSWORD)
    # the token opens the API, scoped to rita's studies
    api = client.__class__()
    resp = api.get("/api/studies/", HTTP_AUTHORIZATION=f"Token {token.key}")
    assert resp.status_code == 200 and [s["slug"] for s in resp.json()] == ["small"]
    # again: same token, the password kept, a study added
    Study.objects.create(title="Second", slug="second")
    out = _create("rita", "second", password=None, **{"no_input": True})
    assert Token.objects.get(user=rita).key == token.key
    assert client.login(username="rita", password=PASSWORD)
    assert sorted(rita.studies.values_list("slug", flat=True)) == ["second", "small"]


def test_create_researcher_refuses_bad_input(db, small_study, charlie):
    with pytest.raises(CommandError, match="no study 'nope'.*small"):
        _create("rita", "nope")
    with pytest.raises(CommandError, match="password refused"):
        _create("rita", "small", password="123")
    with pytest.raises(CommandError, match="superuser"):
        _create("charlie", "small")
    assert not get_user_model().objects.filter(username="rita").exists()
    out = _create("nopass", "small", password=None, no_input=True)
    assert "changepassword nopass" in out
    assert not get_user_model().objects.get(username="nopass").has_usable_password()


def test_a_researcher_uses_the_admin_for_their_studies_only(client, two_studies):
    small, hidden = two_studies
    _create("rita", "small")
    client.login(username="rita", password=PASSWORD)
    index = client.get(reverse("admin:index"))
    assert index.status_code == 200
    assert "permission to view or edit anything" not in index.content.decode()
    for name in (
        "survey_study_changelist",
        "survey_form_changelist",
        "survey_participant_changelist",
        "survey_rating_changelist",
    ):
        page = client.get(reverse(f"admin:{name}"))
        assert page.status_code == 200, name
        assert "Hidden study" not in page.content.decode(), name
        assert "hush-hush" not in page.content.decode(), name
    assert (
        client.get(reverse("admin:survey_participant_changelist")).context["cl"].result_count == 1
    )
    assert client.get(reverse("admin:survey_rating_changelist")).context["cl"].result_count == 1
    for view in ("change", "progress", "validate", "report"):
        assert client.get(reverse(f"admin:survey_study_{view}", args=[small.pk])).status_code == 200
        resp = client.get(reverse(f"admin:survey_study_{view}", args=[hidden.pk]))
        assert resp.status_code in (302, 404), view  # the admin's "does not exist" redirect
    export = reverse("admin:survey_study_export", args=[small.pk])
    assert client.get(export + "?table=ratings&format=csv").status_code == 200
    hidden_export = reverse("admin:survey_study_export", args=[hidden.pk])
    assert client.get(hidden_export + "?table=ratings&format=csv").status_code == 404
    other = Participant.objects.get(study=hidden)
    assert client.get(reverse("admin:survey_participant_change", args=[other.pk])).status_code in (
        302,
        404,
    )
    # users, groups and tokens stay with superusers
    assert client.get(reverse("admin:auth_user_changelist")).status_code == 403
    assert client.get(reverse("admin:survey_study_delete", args=[small.pk])).status_code == 403


def test_a_researcher_sees_only_the_jobs_they_started(client, small_study, charlie):
    _create("rita", "small")
    rita = get_user_model().objects.get(username="rita")
    mine = GenerationJob.objects.create(
        label="rita's", generator="sketch", loudness_target_lufs=-23, created_by=rita
    )
    theirs = GenerationJob.objects.create(
        label="charlie's", generator="sketch", loudness_target_lufs=-23, created_by=charlie
    )
    client.login(username="rita", password=PASSWORD)
    page = client.get(reverse("admin:generation_generationjob_changelist"))
    assert page.status_code == 200 and page.context["cl"].result_count == 1
    assert client.get(reverse("generation-job-progress", args=[mine.pk])).status_code == 200
    assert client.get(reverse("generation-job-progress", args=[theirs.pk])).status_code == 404


def test_a_study_a_researcher_adds_stays_in_their_list(client, db):
    """Found by the real-study walk: the admin saved the form's (empty) researcher list after the
    study, so the researcher who added it was taken off it and it vanished from their list."""
    _create("rita")
    client.login(username="rita", password=PASSWORD)
    resp = client.post(
        "/admin/survey/study/add/",
        {
            "title": "Mine",
            "slug": "mine",
            "consent_text": "I agree.",
            "instructions_text": "Listen.",
            "question": "How well does it suit?",
            "scale_min_label": "not at all",
            "scale_max_label": "perfectly",
            "target_per_form": 10,
            "loudness_target_lufs": -23,
            "abandon_after_minutes": 60,
            "attention_trials": 0,
            "completion_code": "C1",
            "decline_code": "D1",
            "screenout_code": "S1",
            "forms-TOTAL_FORMS": 0,
            "forms-INITIAL_FORMS": 0,
        },
    )
    assert resp.status_code == 302, resp.content.decode()[:3000]
    study = Study.objects.get(slug="mine")
    assert list(study.researchers.values_list("username", flat=True)) == ["rita"]
    assert "Mine" in client.get("/admin/survey/study/").content.decode()


def test_the_new_study_form_shows_its_researcher_as_chosen(client, db):
    """New-user finding: the form listed rita under *Available* although saving lists her."""
    _create("rita")
    _create("tom")
    client.login(username="rita", password=PASSWORD)
    page = client.get("/admin/survey/study/add/").content.decode()
    rita = get_user_model().objects.get(username="rita").pk
    tom = get_user_model().objects.get(username="tom").pk
    assert f'<option value="{rita}" selected>rita</option>' in page
    assert f'<option value="{tom}">tom</option>' in page


def test_create_researcher_remakes_a_lost_group_with_the_needed_permissions(db, small_study):
    Group.objects.filter(name=RESEARCHER_GROUP).delete()  # a database that lost it (a flush)

    _create("rita", small_study.slug)

    group = Group.objects.get(name=RESEARCHER_GROUP)
    have = {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.all()}
    assert have == set(RESEARCHER_PERMISSIONS)
    assert get_user_model().objects.get(username="rita").groups.filter(pk=group.pk).exists()


def test_a_researcher_reads_the_withdrawal_records_of_their_studies_only(client, two_studies):
    from survey.privacy import participant_withdraw

    small, hidden = two_studies
    for study in (small, hidden):
        participant_withdraw(
            participant=study.participants.get(), requested_by="participant", done_by="t"
        )
    _create("rita", small.slug)
    client.login(username="rita", password=PASSWORD)

    page = client.get(reverse("admin:survey_withdrawal_changelist"))

    assert page.status_code == 200
    assert page.context["cl"].result_count == 1
    assert hidden.title not in page.content.decode()
