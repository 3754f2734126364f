"""The researcher admin: design actions, validation, preview, progress, uploads, scoping."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from generation.models import Clip, Track
from survey.models import Study
from tests.conftest import make_tone


@pytest.fixture
def alice_client(client, alice):
    alice.is_superuser = False
    client.force_login(alice)
    return client


@pytest.fixture
def super_client(client, charlie):
    client.force_login(charlie)
    return client


def _action(client, action: str, study: Study):
    return client.post(
        reverse("admin:survey_study_changelist"),
        {"action": action, "_selected_action": [study.pk]},
        follow=True,
    )


def test_validate_and_go_live_actions(super_client, small_study):
    resp = _action(super_client, "validate", small_study)
    # the slug as the researcher typed it (the admin capitalises the message's first letter)
    assert "Study small: ready to go live" in resp.content.decode()
    resp = _action(super_client, "go_live", small_study)
    small_study.refresh_from_db()
    assert small_study.status == "live"
    resp = _action(super_client, "resample", small_study)
    assert "locked" in resp.content.decode()
    resp = _action(super_client, "close", small_study)
    small_study.refresh_from_db()
    assert small_study.status == "closed"


def test_go_live_refuses_an_invalid_study(super_client, small_study, conditions):
    form = small_study.forms.get()
    form.conditions.add(conditions["fusion"])
    resp = _action(super_client, "go_live", small_study)
    assert "no track" in resp.content.decode()
    small_study.refresh_from_db()
    assert small_study.status == "draft"


def test_the_paper_forms_action(super_client, db, make_clip, clone_track, conditions):
    for i in range(15):
        clip = make_clip(f"k{i:02d}")
        for cond in conditions.values():
            clone_track(clip, cond)
    study = Study.objects.create(title="Paper", slug="paper")
    _action(super_client, "add_paper_forms", study)
    assert sorted(study.forms.values_list("name", "n_videos")) == [("form1", 15), ("form2", 8)]
    assert study.forms.get(name="form1").trials.count() == 15


def test_validate_page_and_preview(super_client, small_study):
    resp = super_client.get(reverse("admin:survey_study_validate", args=[small_study.pk]))
    assert resp.status_code == 200 and "Go live" in resp.content.decode()
    trial = small_study.forms.get().trials.first()
    resp = super_client.get(reverse("admin:survey_trial_preview", args=[trial.pk]))
    page = resp.content.decode()
    assert resp.status_code == 200
    assert "Track A" in page and "Track B" in page and "player.js" in page
    for tt in trial.trial_tracks.all():
        assert reverse("staff-media", args=[tt.track.audio.name]) in page
    resp = super_client.post(
        reverse("admin:survey_study_validate", args=[small_study.pk]), {"go_live": "1"}
    )
    small_study.refresh_from_db()
    assert small_study.status == "live"


def test_progress_page(super_client, small_study):
    resp = super_client.get(reverse("admin:survey_study_progress", args=[small_study.pk]))
    assert resp.status_code == 200 and "f1" in resp.content.decode()


def test_a_researcher_sees_only_their_studies(client, small_study, bob):
    from django.contrib.auth.models import Permission

    bob.user_permissions.set(
        Permission.objects.filter(content_type__app_label__in=["survey", "generation"])
    )
    client.force_login(bob)
    resp = client.get(reverse("admin:survey_study_changelist"))
    assert resp.status_code == 200 and "small" not in resp.content.decode()
    assert (
        client.get(reverse("admin:survey_study_progress", args=[small_study.pk])).status_code == 404
    )
    assert client.get(reverse("admin:survey_study_change", args=[small_study.pk])).status_code in (
        302,
        404,
    )
    trial = small_study.forms.get().trials.first()
    assert client.get(reverse("admin:survey_trial_preview", args=[trial.pk])).status_code == 404


def test_the_design_is_read_only_once_live(super_client, small_study):
    from survey.services import study_go_live

    study_go_live(study=small_study)
    form = small_study.forms.get()
    resp = super_client.get(reverse("admin:survey_form_change", args=[form.pk]))
    assert resp.status_code == 200
    assert 'name="n_videos"' not in resp.content.decode()  # shown, not editable


def test_clip_upload_in_the_admin(super_client, video_file):
    with open(video_file, "rb") as fh:
        resp = super_client.post(
            reverse("admin:generation_clip_add"),
            {
                "key": "uploaded",
                "title": "Up",
                "source": "upload",
                "labels": "[]",
                "upload": fh,
                "captions-TOTAL_FORMS": 0,
                "captions-INITIAL_FORMS": 0,
            },
            follow=True,
        )
    assert resp.status_code == 200
    clip = Clip.objects.get(key="uploaded")
    assert clip.video.name.startswith("clips/") and clip.duration_s > 1


def test_a_broken_clip_upload_is_a_form_error(super_client, tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"garbage" * 100)
    with open(bad, "rb") as fh:
        resp = super_client.post(
            reverse("admin:generation_clip_add"),
            {
                "key": "broken",
                "source": "upload",
                "labels": "[]",
                "upload": fh,
                "captions-TOTAL_FORMS": 0,
                "captions-INITIAL_FORMS": 0,
            },
        )
    assert resp.status_code == 200  # the form again, with the error
    assert "bad.mp4" in resp.content.decode()
    assert not Clip.objects.filter(key="broken").exists()


def test_track_upload_in_the_admin(super_client, make_clip, conditions, tmp_path):
    from generation import media

    clip = make_clip("c1")
    wav = media.write_wav(make_tone(2.0, sample_rate=44100), 44100, tmp_path / "t.wav")
    with open(wav, "rb") as fh:
        resp = super_client.post(
            reverse("admin:generation_track_add"),
            {
                "clip": clip.pk,
                "condition": conditions["msi"].pk,
                "generator": "upload",
                "model_id": "",
                "prompt": "",
                "loudness_target_lufs": "-23",
                "upload": fh,
            },
            follow=True,
        )
    assert resp.status_code == 200
    track = Track.objects.get(clip=clip)
    assert track.generator == "upload" and track.sample_rate == 44100


def test_a_silent_track_upload_is_refused(super_client, make_clip, conditions, tmp_path):
    import numpy as np

    from generation import media

    clip = make_clip("c1")
    wav = media.write_wav(np.zeros(64000, dtype=np.float32), 32000, tmp_path / "silent.wav")
    with open(wav, "rb") as fh:
        resp = super_client.post(
            reverse("admin:generation_track_add"),
            {
                "clip": clip.pk,
                "condition": conditions["msi"].pk,
                "generator": "upload",
                "model_id": "",
                "prompt": "",
                "loudness_target_lufs": "-23",
                "upload": fh,
            },
            follow=True,
        )
    assert "silent" in resp.content.decode()
    assert not Track.objects.exists()


def test_caption_review_actions(super_client, make_clip):
    from generation.models import Caption
    from generation.selectors import caption_for

    clip = make_clip("c1")
    msi = Caption.objects.get(clip=clip, kind="msi")
    super_client.post(
        reverse("admin:generation_caption_changelist"),
        {"action": "reject", "_selected_action": [msi.pk]},
    )
    msi.refresh_from_db()
    assert msi.status == "rejected"
    assert caption_for(clip=clip, kind="msi") is None  # rejected captions feed nothing


def test_staff_media_serves_ranges_and_only_to_staff(client, super_client, small_study):
    track = small_study.forms.get().trials.first().tracks.first()
    url = reverse("staff-media", args=[track.audio.name])
    resp = super_client.get(url, HTTP_RANGE="bytes=0-99")
    assert resp.status_code == 206
    assert resp["Content-Range"].startswith("bytes 0-99/")
    assert len(b"".join(resp.streaming_content)) == 100
    size = int(resp["Content-Range"].split("/")[1])
    resp = super_client.get(url, HTTP_RANGE="bytes=-10")
    assert (
        resp.status_code == 206 and resp["Content-Range"] == f"bytes {size - 10}-{size - 1}/{size}"
    )
    assert super_client.get(url, HTTP_RANGE=f"bytes={size}-").status_code == 416
    assert super_client.get(url).status_code == 200
    assert (
        super_client.get(reverse("staff-media", args=["tracks/../../etc/passwd"])).status_code
        == 404
    )
    super_client.logout()
    assert client.get(url).status_code == 302  # to the admin login


def test_generate_the_missing_tracks_of_a_study(
    super_client, small_study, conditions, django_capture_on_commit_callbacks
):
    from generation.models import GenerationJob

    form = small_study.forms.get()
    form.conditions.add(conditions["fusion"])  # its cells have no track yet
    page = super_client.post(
        reverse("admin:survey_study_changelist"),
        {"action": "generate_tracks", "_selected_action": [small_study.pk]},
    )
    assert page.status_code == 200 and "Start the job" in page.content.decode()
    with django_capture_on_commit_callbacks(execute=True):  # the job is enqueued after commit
        resp = super_client.post(
            reverse("admin:survey_study_changelist"),
            {
                "action": "generate_tracks",
                "_selected_action": [small_study.pk],
                "apply": "1",
                "generator": "sketch",
                "model": "",
                "duration_s": "2",
                "batch_size": "4",
                "seed": "0",
                "top_k": "250",
                "temperature": "1.0",
                "guidance_scale": "3.0",
            },
        )
    assert resp.status_code == 302
    from survey.services import form_bind_tracks

    form_bind_tracks(form=form)
    job = GenerationJob.objects.get()
    assert (
        job.items.count() == 6
    )  # 2 clips x 3 conditions: no cell had a sketch track with these settings
    assert Track.objects.filter(condition=conditions["fusion"], generator="sketch").count() == 2
    again = super_client.post(
        reverse("admin:survey_study_changelist"),
        {
            "action": "generate_tracks",
            "_selected_action": [small_study.pk],
            "apply": "1",
            "generator": "sketch",
            "model": "",
            "duration_s": "2",
            "batch_size": "4",
            "seed": "0",
            "top_k": "250",
            "temperature": "1.0",
            "guidance_scale": "3.0",
        },
    )
    assert (
        again.status_code == 302 and GenerationJob.objects.latest("pk").items.count() == 0
    )  # nothing missing
    assert all(t.trial_tracks.count() == 3 for t in form.trials.all())  # bound to the trials
    assert all(
        tt.track.generator == "sketch" for t in form.trials.all() for tt in t.trial_tracks.all()
    )


def test_progress_shows_a_dash_for_a_condition_the_form_does_not_have(
    super_client, small_study, conditions
):
    """New-user finding: form 1's rows read 0 fusion ratings, as if data were missing."""
    from survey import services
    from survey.models import Participant, Rating

    f1 = small_study.forms.get()
    f2 = services.form_create(
        study=small_study, name="f2", n_videos=1, conditions=[conditions["msi"]]
    )
    services.form_sample_trials(form=f2, seed=1)
    services.form_bind_tracks(form=f2)
    for i, (form, condition) in enumerate(((f1, "video_caps"), (f2, "msi"))):
        trial = form.trials.first()
        tt = trial.trial_tracks.get(track__condition__name=condition)
        p = Participant.objects.create(study=small_study, form=form)
        Rating.objects.create(
            participant=p,
            trial=trial,
            track=tt.track,
            value=50,
            position=0,
            trial_order=0,
            submission_id=f"00000000-0000-0000-0000-00000000000{i}",
        )
    resp = super_client.get(reverse("admin:survey_study_progress", args=[small_study.pk]))
    rows = re.findall(
        r"<tr><td>(f\d)</td><td>[^<]*</td>((?:<td>[^<]*</td>)+)</tr>", resp.content.decode()
    )
    cells = {form: re.findall(r"<td>([^<]*)</td>", counts) for form, counts in rows}
    # columns: msi, video_caps
    assert cells == {"f1": ["0", "1"], "f2": ["1", "-"]}
