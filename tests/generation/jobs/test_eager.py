"""Generation jobs on the embedded (eager) path: no broker, tasks run in-process."""

from __future__ import annotations

import os
import time
from datetime import timedelta
from io import StringIO

import numpy as np
import pytest
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from django.utils import timezone

from generation import jobs, services, tasks
from generation.models import Caption, CaptionKind, GenerationItem, GenerationJob, Track

Status = GenerationItem.Status
PARAMS = {"duration_s": 1.0, "batch_size": 4}


def _cells(study):
    from survey.selectors import study_generation_cells

    return study_generation_cells(study=study)


def _job(study, model, **kwargs):
    args = {
        "cells": _cells(study),
        "generator": "musicgen",
        "model": str(model),
        "parameters": PARAMS,
        "seed": 3,
        "loudness_target_lufs": study.loudness_target_lufs,
    } | kwargs
    return jobs.job_create(**args)


def _run(job, capture):
    with capture(execute=True):
        jobs.job_start(job=job)
    job.refresh_from_db()
    return job


def test_it_generates_a_study_eagerly_through_the_tasks(
    bare_study, tiny_musicgen, alice, django_capture_on_commit_callbacks
):
    job = _job(bare_study, tiny_musicgen, user=alice)
    assert job.items.count() == 4 and job.status == GenerationJob.Status.PENDING
    job = _run(job, django_capture_on_commit_callbacks)

    assert job.status == GenerationJob.Status.DONE and job.finished_at and job.created_by == alice
    items = list(job.items.select_related("track", "caption"))
    assert {i.status for i in items} == {Status.DONE}
    assert all(i.audio is None for i in items), "staged audio is cleared after ingest"
    tracks = Track.objects.filter(generator="musicgen")
    assert tracks.count() == 4
    for item in items:
        t = item.track
        assert (t.clip, t.condition) == (item.clip, item.condition)
        assert t.prompt == item.caption.text and item.caption.kind == item.condition.caption_kind
        assert t.model_id == str(tiny_musicgen) and t.seed == 3 and t.sample_rate == 32000
        assert t.parameters == {
            "duration_s": 1.0,
            "top_k": 250,
            "temperature": 1.0,
            "guidance_scale": 3.0,
        }
        assert t.duration_s == pytest.approx(1.0) and t.loudness_target_lufs == -23.0
        assert t.audio.storage.exists(t.audio.name) and t.video.storage.exists(t.video.name)
    assert jobs.job_progress(job=job) | {"errors": []} == {
        "id": job.pk,
        "status": "done",
        "error": "",
        "total": 4,
        "done": 4,
        "failed": 0,
        "generating": 0,
        "ingesting": 0,
        "pending": 0,
        "finished": True,
        "percent": 100.0,
        "errors": [],
    }


def test_it_makes_only_the_missing_tracks(
    bare_study, tiny_musicgen, conditions, django_capture_on_commit_callbacks
):
    _run(_job(bare_study, tiny_musicgen), django_capture_on_commit_callbacks)
    again = _run(_job(bare_study, tiny_musicgen), django_capture_on_commit_callbacks)
    assert again.items.count() == 0 and again.status == GenerationJob.Status.DONE
    assert Track.objects.count() == 4

    form = bare_study.forms.get()
    form.conditions.add(conditions["music_caps"])  # a new condition: just its cells are made
    third = _run(_job(bare_study, tiny_musicgen), django_capture_on_commit_callbacks)
    assert third.items.count() == 2
    assert set(third.items.values_list("condition__name", flat=True)) == {"music_caps"}
    assert Track.objects.count() == 6

    other_seed = _job(bare_study, tiny_musicgen, seed=4)  # other provenance: every cell again
    assert other_seed.items.count() == 6
    double_click = _job(bare_study, tiny_musicgen, seed=4)  # the same cells are being made
    assert double_click.items.count() == 0


def test_a_task_delivered_twice_makes_each_track_once(bare_study, tiny_musicgen):
    job = _job(bare_study, tiny_musicgen)
    jobs.job_start(job=job)  # on_commit never runs inside the test's transaction: nothing enqueued
    ids = list(job.items.values_list("id", flat=True))

    first = tasks.generate_batch.apply(args=(job.pk, ids), task_id="delivery-1")
    second = tasks.generate_batch.apply(args=(job.pk, ids), task_id="delivery-1")  # redelivered
    third = tasks.generate_batch.apply(args=(job.pk, ids), task_id="delivery-2")  # another copy
    assert (first.get(), second.get(), third.get()) == (4, 0, 0)
    assert set(job.items.values_list("status", flat=True)) == {Status.GENERATED}

    for item_id in ids:
        for delivery in ("a", "a", "b"):
            tasks.ingest_item.apply(args=(item_id,), task_id=f"ingest-{item_id}-{delivery}")
    assert Track.objects.count() == 4
    assert set(job.items.values_list("status", flat=True)) == {Status.DONE}
    job.refresh_from_db()
    assert job.status == GenerationJob.Status.DONE

    # An ingest redelivered after its item was taken back finds the track made: no second one.
    item = job.items.first()
    GenerationItem.objects.filter(pk=item.pk).update(
        status=Status.GENERATED, audio=b"\0" * 400, sample_rate=32000
    )
    assert tasks.ingest_item.apply(args=(item.pk,), task_id="late").get() == item.track_id
    assert Track.objects.count() == 4


def test_a_missing_model_fails_the_job_with_its_message(
    bare_study, tmp_path, django_capture_on_commit_callbacks
):
    job = _run(_job(bare_study, tmp_path / "no-such-model"), django_capture_on_commit_callbacks)
    assert job.status == GenerationJob.Status.FAILED
    assert "no-such-model" in job.error and "not found" in job.error
    assert set(job.items.values_list("status", flat=True)) == {Status.FAILED}
    assert Track.objects.count() == 0


def test_a_clip_without_the_caption_fails_its_items_and_the_others_are_made(
    bare_study, tiny_musicgen, django_capture_on_commit_callbacks
):
    clip = bare_study.forms.get().trials.order_by("position").first().clip
    Caption.objects.filter(clip=clip, kind=CaptionKind.MSI_PREDICTED).update(
        status=Caption.Status.REJECTED
    )
    job = _run(_job(bare_study, tiny_musicgen), django_capture_on_commit_callbacks)

    assert job.status == GenerationJob.Status.DONE
    failed = job.items.get(status=Status.FAILED)
    assert (failed.clip, failed.condition.name) == (clip, "msi")
    assert f"clip {clip.key} has no msi_pred (MSI predicted by a trained MusiScene) caption" in (
        failed.error
    )
    assert job.items.filter(status=Status.DONE).count() == 3 and Track.objects.count() == 3
    p = jobs.job_progress(job=job)
    assert (p["done"], p["failed"]) == (3, 1) and p["errors"][0]["clip"] == clip.key


def test_bad_parameters_are_refused_before_any_work(bare_study, tiny_musicgen):
    for params, words in [
        ({"temperature": 0}, "temperature"),
        ({"duration_s": -1}, "duration_s"),
        ({"guidance_scale": 0.5}, "guidance_scale"),
        ({"batch_size": 0}, "batch_size"),
        ({"top_p": 0.9}, "unknown"),
    ]:
        with pytest.raises(ValidationError, match=words):
            _job(bare_study, tiny_musicgen, parameters=params)
    with pytest.raises(ValidationError, match="seed"):
        _job(bare_study, tiny_musicgen, seed=-1)
    with pytest.raises(ValidationError, match="name the MusicGen model"):
        _job(bare_study, "")
    assert not GenerationJob.objects.exists()


def test_sketch_jobs_find_the_sketch_tracks_made_elsewhere(
    bare_study, django_capture_on_commit_callbacks
):
    clip, condition = _cells(bare_study)[0]
    services.track_generate_sketch(
        clip=clip, condition=condition, loudness_target_lufs=-23.0, duration_s=1.0, seed=0
    )
    job = _job(bare_study, "", generator="sketch", seed=0, parameters={"duration_s": 1.0})
    assert job.items.count() == 3 and job.model_id == "sketch-v1"
    job = _run(job, django_capture_on_commit_callbacks)
    assert job.status == GenerationJob.Status.DONE
    assert Track.objects.filter(generator="sketch").count() == 4


def test_stale_claims_are_reclaimed_and_orphan_files_removed(
    bare_study, tiny_musicgen, settings, django_capture_on_commit_callbacks
):
    settings.GENERATION_CLAIM_TIMEOUT_S = 5
    job = _job(bare_study, tiny_musicgen)
    jobs.job_start(job=job)
    a, b, c, d = job.items.order_by("id")
    long_ago = timezone.now() - timedelta(seconds=60)
    # a: its generating worker died; b: its ingesting worker died; c: alive; d: lost too often.
    GenerationItem.objects.filter(pk=a.pk).update(
        status=Status.CLAIMED, claim_token="dead", heartbeat_at=long_ago
    )
    GenerationItem.objects.filter(pk=b.pk).update(
        status=Status.INGESTING,
        claim_token="dead",
        heartbeat_at=long_ago,
        audio=(0.1 * np.sin(np.arange(32000) / 5)).astype("<f4").tobytes(),
        sample_rate=32000,
        prompt="calm piano",
    )
    GenerationItem.objects.filter(pk=c.pk).update(
        status=Status.CLAIMED, claim_token="alive", heartbeat_at=timezone.now()
    )
    GenerationItem.objects.filter(pk=d.pk).update(
        status=Status.CLAIMED, claim_token="dead", heartbeat_at=long_ago, reclaims=2
    )
    orphan = default_storage.save("tracks/orphan-of-a-killed-ingest.m4a", ContentFile(b"x"))
    os.utime(default_storage.path(orphan), (time.time() - 60, time.time() - 60))
    fresh = default_storage.save("tracks/being-ingested-now.m4a", ContentFile(b"x"))

    with django_capture_on_commit_callbacks() as enqueued:
        assert jobs.job_reclaim_stale(job=job) == 3
    assert len(enqueued) == 2  # a's batch and b's ingest
    states = dict(job.items.values_list("id", "status"))
    assert states == {
        a.pk: Status.PENDING,
        b.pk: Status.GENERATED,
        c.pk: Status.CLAIMED,
        d.pk: Status.FAILED,
    }
    assert "lost 3 times" in job.items.get(pk=d.pk).error
    assert not default_storage.exists(orphan) and default_storage.exists(fresh)
    default_storage.delete(fresh)

    with django_capture_on_commit_callbacks(execute=True):  # the reclaimed work completes
        for callback in enqueued:
            callback()
    assert dict(job.items.values_list("id", "status"))[a.pk] == Status.DONE
    assert job.items.get(pk=b.pk).track.prompt == "calm piano"


def test_the_command_runs_in_process_without_a_broker(bare_study, tiny_musicgen):
    out = StringIO()
    call_command(
        "generate_tracks",
        "--study",
        "gen",
        "--generator",
        "musicgen",
        "--model",
        str(tiny_musicgen),
        "--duration",
        "1",
        "--batch-size",
        "3",
        "--seed",
        "0",
        stdout=out,
    )
    text = out.getvalue()
    assert (
        "4 of 4 tracks to make" in text and "4/4 tracks" in text and "done: 4 tracks made" in text
    )
    form = bare_study.forms.get()
    assert services_missing(form) == 0, "the new tracks are bound to the trials"

    out = StringIO()
    call_command(
        "generate_tracks",
        "--study",
        "gen",
        "--model",
        str(tiny_musicgen),
        "--duration",
        "1",
        stdout=out,
    )
    assert "0 of 4 tracks to make" in out.getvalue()

    with pytest.raises(CommandError, match="no study"):
        call_command("generate_tracks", "--study", "nope", "--model", "x", stdout=StringIO())
    n_jobs = GenerationJob.objects.count()
    # a missing model is named before any job starts (issue 13), with the sketch alternative
    with pytest.raises(
        CommandError, match="MusicGen model '/nowhere/musicgen' was not found.*sketch"
    ):
        call_command(
            "generate_tracks",
            "--study",
            "gen",
            "--model",
            "/nowhere/musicgen",
            "--duration",
            "2",
            stdout=StringIO(),
        )
    assert GenerationJob.objects.count() == n_jobs


def services_missing(form) -> int:
    from survey import services as survey_services

    return survey_services.form_bind_tracks(form=form)


def test_admin_starts_a_job_from_clips_and_shows_its_progress(
    client, charlie, bare_study, conditions, django_capture_on_commit_callbacks
):
    clips = [clip for clip, _ in _cells(bare_study)][::2]
    client.force_login(charlie)
    url = reverse("admin:generation_clip_changelist")
    page = client.post(
        url, {"action": "generate_tracks", "_selected_action": [c.pk for c in clips]}
    )
    assert page.status_code == 200 and b"Start the job" in page.content
    with django_capture_on_commit_callbacks(execute=True):
        resp = client.post(
            url,
            {
                "action": "generate_tracks",
                "_selected_action": [c.pk for c in clips],
                "apply": "1",
                "conditions": [conditions["msi"].pk],
                "generator": "sketch",
                "model": "",
                "duration_s": "1",
                "batch_size": "2",
                "seed": "0",
                "top_k": "250",
                "temperature": "1",
                "guidance_scale": "3",
                "loudness_target_lufs": "-23",
            },
        )
    job = GenerationJob.objects.get()
    assert resp.status_code == 302 and resp["Location"] == reverse(
        "admin:generation_generationjob_change", args=[job.pk]
    )
    assert job.status == GenerationJob.Status.DONE and job.created_by == charlie
    assert Track.objects.filter(generator="sketch", condition=conditions["msi"]).count() == 2

    progress_url = reverse("generation-job-progress", args=[job.pk])
    assert client.get(progress_url).json()["done"] == 2
    for page_url in (reverse("admin:generation_generationjob_changelist"), resp["Location"]):
        page = client.get(page_url)
        assert page.status_code == 200
        assert (
            f'data-url="{progress_url}"'.encode() in page.content
            and b"genjob-progress" in page.content
        )
    client.logout()
    assert client.get(progress_url).status_code == 302  # staff only
    assert not GenerationJob.objects.filter(status="failed").exists()


def test_admin_shows_form_errors_and_starts_nothing(client, charlie, bare_study, conditions):
    clip = _cells(bare_study)[0][0]
    client.force_login(charlie)
    resp = client.post(
        reverse("admin:generation_clip_changelist"),
        {
            "action": "generate_tracks",
            "_selected_action": [clip.pk],
            "apply": "1",
            "conditions": [conditions["msi"].pk],
            "generator": "musicgen",
            "model": "",
            "duration_s": "1",
            "batch_size": "2",
            "seed": "0",
            "top_k": "250",
            "temperature": "1",
            "guidance_scale": "3",
            "loudness_target_lufs": "-23",
        },
    )
    assert resp.status_code == 200 and b"name the MusicGen model" in resp.content
    assert not GenerationJob.objects.exists()
