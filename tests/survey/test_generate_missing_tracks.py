"""The study's "Generate the missing tracks" action: the model is looked for before a job starts,
a failed job is reported as failed, its errors are shown once with a count, and the answer never
asks for a binding the action has done."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils.html import escape

from generation.models import GenerationJob

FORM = {
    "action": "generate_tracks",
    "apply": "1",
    "duration_s": "1",
    "batch_size": "4",
    "seed": "0",
    "top_k": "250",
    "temperature": "1.0",
    "guidance_scale": "3.0",
}


@pytest.fixture
def super_client(client, charlie):
    client.force_login(charlie)
    return client


@pytest.fixture
def gaps(small_study, conditions):
    form = small_study.forms.get()
    form.conditions.add(conditions["fusion"])  # its 2 cells have no track
    return small_study


def _post(client, study, **data):
    return client.post(
        reverse("admin:survey_study_changelist"),
        {**FORM, "_selected_action": [study.pk], **data},
    )


def test_a_missing_model_is_named_before_anything_starts(super_client, gaps, monkeypatch, tmp_path):
    monkeypatch.setenv("MUSISCENE_MODEL_DIR", str(tmp_path))
    resp = _post(super_client, gaps, generator="musicgen", model="facebook/musicgen-small")
    page = resp.content.decode()
    assert resp.status_code == 200  # the form again, with the error on the model
    assert "facebook/musicgen-small" in page and "was not found on this machine" in page
    assert "MUSISCENE_MODEL_DIR" in page and "sketch generator" in page
    assert not GenerationJob.objects.exists()


# Without a broker the job runs in-process when job_start commits, before the action answers:
# these tests commit for real (transaction=True), as a request does.
@pytest.mark.django_db(transaction=True)
def test_a_failed_job_is_reported_as_failed_with_each_error_once(super_client, gaps, tmp_path):
    broken = tmp_path / "broken-musicgen"  # a folder, so it is found, but it holds no model
    broken.mkdir()
    resp = _post(super_client, gaps, generator="musicgen", model=str(broken))
    job = GenerationJob.objects.get()
    assert resp.status_code == 302 and resp["Location"].endswith(f"/{job.pk}/change/")
    shown = [(m.level_tag, m.message) for m in get_messages(resp.wsgi_request)]
    assert len(shown) == 1 and shown[0][0] == "error", shown
    assert "failed" in shown[0][1] and "Bind" not in shown[0][1]
    n = job.items.count()
    assert n == 6 and job.items.filter(status="failed").count() == n  # 2 trials x 3 conditions
    first = super_client.get(resp["Location"]).content.decode()
    assert 'class="error"' in first  # the red banner, shown once on the job's page
    page = super_client.get(resp["Location"]).content.decode()  # the page itself, banner gone
    job.refresh_from_db()
    assert job.status == "failed" and "has no config.json" in job.error
    assert set(job.items.values_list("error", flat=True)) == {job.error}
    assert f"{n} items:</strong> the job&#x27;s error, above" in page
    assert page.count(escape(job.error[:80])) == 1  # once, not once per item


@pytest.mark.django_db(transaction=True)
def test_a_finished_job_says_its_tracks_are_bound(super_client, gaps):
    resp = _post(super_client, gaps, generator="sketch", model="")
    shown = [(m.level_tag, m.message) for m in get_messages(resp.wsgi_request)]
    assert len(shown) == 1 and shown[0][0] == "success", shown
    assert "bound to the study's trials" in shown[0][1] and "Bind" not in shown[0][1]
    form = gaps.forms.get()
    assert all(t.trial_tracks.count() == 3 for t in form.trials.all())


def test_identical_item_errors_are_listed_once_with_their_count(super_client, gaps, conditions):
    from generation.models import GenerationItem

    job = GenerationJob.objects.create(
        label="items", generator="musicgen", model_id="m", loudness_target_lufs=-23
    )
    long_error = "RuntimeError: " + "the same long message " * 30
    clips = [t.clip for t in gaps.forms.get().trials.all()]
    for i, (clip, cond) in enumerate(
        (c, k) for c in clips for k in (conditions["msi"], conditions["fusion"])
    ):
        GenerationItem.objects.create(
            job=job,
            clip=clip,
            condition=cond,
            status="failed",
            error=long_error if i < 3 else "ValueError: another",
        )
    page = super_client.get(
        reverse("admin:generation_generationjob_change", args=[job.pk])
    ).content.decode()
    assert page.count(long_error[:200]) == 1 and "3 items:</strong> RuntimeError" in page
    assert "1 item:</strong> ValueError: another" in page


def test_the_page_counts_cells_and_the_tracks_they_share(super_client, small_study, conditions):
    """A clip in two forms under the same condition is one track: the page gives both numbers,
    the second being the job's number of items (a new-user finding: 61 cells, then 53 items)."""
    from survey import services

    second = services.form_create(
        study=small_study, name="f2", n_videos=3, conditions=[conditions["msi"]]
    )
    services.form_sample_trials(form=second, seed=3)
    cells = [
        (t.clip_id, c.pk)
        for f in small_study.forms.all()
        for t in f.trials.all()
        for c in f.conditions.all()
    ]
    assert len(cells) == 7 and len(set(cells)) == 5  # f1: 2 x 2, f2: 3 x 1, 2 clips shared
    resp = super_client.post(
        reverse("admin:survey_study_changelist"),
        {"action": "generate_tracks", "_selected_action": [small_study.pk]},
    )
    page = " ".join(resp.content.decode().split())
    assert "7 cells (trial clip x condition) in <strong>Small</strong>, 5 distinct clip x" in page
    assert "shares one track" in page and "the job makes at most 5 tracks" in page
    assert "the page stays loading until every track is made" in page


@pytest.mark.django_db(transaction=True)
def test_the_command_binds_tracks_an_earlier_job_made(gaps):
    """Run after the admin's job made the tracks (or after Ctrl-C and a rerun), the command makes
    nothing and still binds them: it used to bind only when its own job made a track."""
    from io import StringIO

    from django.core.management import call_command

    from survey.models import TrialTrack

    def run() -> str:
        out = StringIO()
        call_command(
            "generate_tracks",
            "--study",
            gaps.slug,
            "--generator",
            "sketch",
            "--duration",
            "1",
            stdout=out,
        )
        return out.getvalue()

    run()
    form = gaps.forms.get()
    TrialTrack.objects.filter(trial__form=form).delete()  # made, not bound, as the clip action
    text = run()
    assert "done: 0 tracks made" in text and "0 trial tracks still missing" in text, text
    assert all(t.trial_tracks.count() == 3 for t in form.trials.all())
