"""A caption job started from the admin on the embedded default's background thread (no broker,
``JOBS_EMBEDDED=background``): the action answers before any caption is written, then the
stages run one after the other on the thread (the advance to the composed stage enqueues from
the thread itself) and the job's progress ends done. Commits for real (transaction=True)."""

from __future__ import annotations

import threading

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from generation import captioning, engine
from generation.models import Caption, CaptionJob

from .conftest import YTIDS

pytestmark = pytest.mark.django_db(transaction=True)


def test_caption_clips_answers_at_once_and_its_stages_run_in_the_background(
    clips, tiny, charlie, client, settings, monkeypatch
) -> None:
    settings.JOBS_EMBEDDED = "background"
    gate = threading.Event()
    media_kind = captioning._media_kind

    def held(*args, **kwargs):
        assert gate.wait(60), "the test never opened the gate"
        return media_kind(*args, **kwargs)

    monkeypatch.setattr(captioning, "_media_kind", held)
    client.force_login(charlie)
    r3 = clips[YTIDS[0]]
    try:
        response = client.post(
            reverse("admin:generation_clip_changelist"),
            {
                "action": "caption_clips",
                "_selected_action": [r3.pk],
                "apply": "1",
                "kinds": ["video", "music", "msi"],
                "video_model": str(tiny["git"]),
                "music_checkpoint": str(tiny["mu-llama"]),
                "backend": f"local:{tiny['composer']}",
                "batch_size": 2,
                "seed": 0,
            },
        )
        job = CaptionJob.objects.get()
        assert response.status_code == 302 and response["Location"] == reverse(
            "admin:generation_captionjob_change", args=[job.pk]
        )
        (message,) = [str(m) for m in get_messages(response.wsgi_request)]
        assert "3 captions to write in the background" in message
        job.refresh_from_db()
        assert job.status == CaptionJob.Status.RUNNING and not Caption.objects.exists()
        page = client.get(response["Location"])
        assert page.status_code == 200 and b'data-status="running"' in page.content
    finally:
        gate.set()
    assert engine.background.wait(120)
    progress = client.get(reverse("generation-caption-job-progress", args=[job.pk])).json()
    assert (progress["status"], progress["done"], progress["finished"]) == ("done", 3, True)
    job.refresh_from_db()
    assert job.stage == 1
    assert sorted(r3.captions.values_list("kind", flat=True)) == ["msi", "music", "video"]
