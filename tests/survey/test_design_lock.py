"""A live or closed study: its admin page opens, its design and quality controls cannot change
by any path, participants are only sent to forms with trials, go-live wants every form sampled."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.urls import reverse

from survey import participation, services
from survey.models import DesignLocked, Form, Participant, Study, Trial, TrialTrack

QC = ("headphone_check", "attention_trials", "screen_out_on_attention_fail", "min_trial_s")


@pytest.fixture
def super_client(client, charlie):
    client.force_login(charlie)
    return client


@pytest.mark.parametrize("state", ["live", "closed"])
def test_a_locked_studys_admin_page_opens_with_its_design_read_only(
    super_client, live_study, state
):
    if state == "closed":
        services.study_close(study=live_study)
    url = reverse("admin:survey_study_change", args=[live_study.pk])
    page = super_client.get(url)
    assert page.status_code == 200  # was a 500: KeyError 'slug' (prepopulated + read-only)
    html = page.content.decode()
    for field in ("slug", "min_listen_s", *QC):
        assert f'name="{field}"' not in html, field  # shown, not editable
    assert 'name="title"' in html  # the wording stays editable
    resp = super_client.post(
        url,
        {
            "title": "Renamed",
            "researchers": [],
            "consent_text": "ok",
            "instructions_text": "ok",
            "completion_code": "C",
            "decline_code": "D",
            "screenout_code": "S",
            "abandon_after_minutes": 60,
            "headphone_check": "on",
            "attention_trials": 3,
            "min_trial_s": 99,
            "min_listen_s": 0,
            "slug": "moved",
            "forms-TOTAL_FORMS": 0,
            "forms-INITIAL_FORMS": 0,
        },
    )
    assert resp.status_code == 302
    study = Study.objects.get(pk=live_study.pk)
    assert study.title == "Renamed"
    assert (study.slug, study.headphone_check, study.attention_trials, study.min_trial_s) == (
        "small",
        False,
        0,
        None,
    )
    assert study.min_listen_s == 1.0


def test_forms_add_refuses_a_live_study(super_client, live_study, conditions):
    resp = super_client.post(
        reverse("admin:survey_form_add"),
        {
            "study": live_study.pk,
            "name": "sneaked-in",
            "kind": "rating",
            "n_videos": 1,
            "conditions": [conditions["msi"].pk],
            "annotation_media": "audio",
            "annotators_per_clip": 3,
            "min_description_chars": 30,
            "tag_vocabulary": "{}",
        },
    )
    assert resp.status_code == 200  # the form again, with the error
    assert "Select a valid choice" in resp.content.decode()
    assert not Form.objects.filter(name="sneaked-in").exists()


def test_no_path_changes_a_locked_design(live_study, conditions, make_clip):
    # (each refused write runs in its own savepoint, as a request's transaction would)
    form = live_study.forms.get()
    trial = form.trials.first()
    with pytest.raises(DesignLocked), transaction.atomic():
        Form.objects.create(study=live_study, name="f2")
    with pytest.raises(DesignLocked), transaction.atomic():
        form.n_videos = 1
        form.save()
    with pytest.raises(DesignLocked), transaction.atomic():
        form.conditions.add(conditions["fusion"])
    with pytest.raises(DesignLocked), transaction.atomic():
        conditions["fusion"].forms.add(form)  # the reverse side too
    with pytest.raises(DesignLocked), transaction.atomic():
        form.clip_pool.add(trial.clip)
    with pytest.raises(DesignLocked), transaction.atomic():
        trial.delete()
    with pytest.raises(DesignLocked), transaction.atomic():
        Trial.objects.filter(form=form).delete()
    with pytest.raises(DesignLocked), transaction.atomic():
        Trial.objects.create(form=form, clip=make_clip("late"), position=99)
    tt = TrialTrack.objects.filter(trial=trial).first()
    with pytest.raises(DesignLocked), transaction.atomic():
        tt.delete()
    with pytest.raises(DesignLocked), transaction.atomic():
        form.delete()
    for call in (
        lambda: services.form_create(
            study=live_study, name="f3", n_videos=1, conditions=[conditions["msi"]]
        ),
        lambda: services.form_sample_trials(form=form),
        lambda: services.form_bind_tracks(form=form),
        lambda: services.study_add_paper_forms(study=live_study),
    ):
        with pytest.raises(services.ValidationError), transaction.atomic():
            call()
    assert form.trials.count() == 2 and set(form.conditions.values_list("name", flat=True)) == {
        "video_caps",
        "msi",
    }
    # a study deleted as a whole still takes its design with it
    Study.objects.filter(pk=live_study.pk).delete()
    assert not Form.objects.filter(pk=form.pk).exists()


def test_assignment_never_gives_out_a_form_without_trials(live_study):
    # older data: an empty form that slipped in before the lock existed (bulk_create skips it)
    Form.objects.bulk_create([Form(study=live_study, name="a-empty", n_videos=1)])
    for _ in range(3):
        p, _new = participation.participant_start(study=live_study)
        assert p.form.name == "f1"
    assert not Participant.objects.filter(form__name="a-empty").exists()


def test_go_live_refuses_a_form_that_was_never_sampled(small_study, conditions):
    services.form_create(study=small_study, name="f2", n_videos=1, conditions=[conditions["msi"]])
    problems = [str(p) for p in services.study_validate(study=small_study)]
    assert any("never sampled" in p for p in problems), problems
    with pytest.raises(services.ValidationError, match="never sampled"):
        services.study_go_live(study=small_study)
