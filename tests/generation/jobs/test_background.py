"""Jobs on the embedded default's background thread (no broker, ``JOBS_EMBEDDED=background``):
the admin's "Start the job" answers at once, the job's page follows the job as its tracks are
made, a job the stopped server left goes on when its page is visited, and the commands still
run their job in the foreground.

The rest of the suite runs jobs inline (studyserver/test_settings.py); these tests commit for
real (transaction=True), as a request does, since the background thread has its own connection.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.messages import get_messages
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from generation import engine, jobs
from generation.models import GenerationItem, GenerationJob, Track

pytestmark = pytest.mark.django_db(transaction=True)

Status = GenerationItem.Status

START = {
    "action": "generate_tracks",
    "apply": "1",
    "generator": "sketch",
    "model": "",
    "duration_s": "1",
    "batch_size": "1",
    "seed": "0",
    "top_k": "250",
    "temperature": "1.0",
    "guidance_scale": "3.0",
}


@pytest.fixture
def background(settings):
    settings.JOBS_EMBEDDED = "background"
    assert engine.runs_in_background()
    yield
    assert engine.background.wait(60), "the background thread is still busy after the test"


@pytest.fixture
def gate(monkeypatch):
    """Holds every generation batch until ``gate.set()``: the job is certainly unfinished while
    the test looks at it."""
    event = threading.Event()
    generate = jobs._generate

    def held(*args, **kwargs):
        assert event.wait(60), "the test never opened the gate"
        return generate(*args, **kwargs)

    monkeypatch.setattr(jobs, "_generate", held)
    yield event
    event.set()


def _progress(client, job):
    return client.get(reverse("generation-job-progress", args=[job.pk])).json()


def test_start_the_job_answers_at_once_and_the_job_page_follows_it(
    client, charlie, bare_study, background, gate, settings
):
    settings.GENERATION_CLAIM_TIMEOUT_S = 3  # heartbeats every second
    client.force_login(charlie)
    ask = client.post(
        reverse("admin:survey_study_changelist"),
        {"action": "generate_tracks", "_selected_action": [bare_study.pk]},
    )
    assert "makes the tracks in the background" in " ".join(ask.content.decode().split())
    resp = client.post(
        reverse("admin:survey_study_changelist"), {**START, "_selected_action": [bare_study.pk]}
    )
    job = GenerationJob.objects.get()
    page_url = reverse("admin:generation_generationjob_change", args=[job.pk])
    assert resp.status_code == 302 and resp["Location"] == page_url
    # The request has answered while the first batch is still held: nothing is made yet.
    job.refresh_from_db()
    assert job.status == GenerationJob.Status.RUNNING
    assert Track.objects.count() == 0
    (message,) = [str(m) for m in get_messages(resp.wsgi_request)]
    assert "4 tracks to make in the background; this page follows its progress" in message
    assert "run this action again" in message  # the new tracks are bound then

    page = client.get(page_url)
    assert page.status_code == 200
    assert b'data-status="running"' in page.content  # the page's script polls progress.json
    p = _progress(client, job)
    assert (p["status"], p["done"], p["total"], p["finished"]) == ("running", 0, 4, False)

    # The background thread keeps its claim alive while it works (another request may look for
    # stale claims meanwhile): its heartbeat moves on.
    claimed = GenerationItem.objects.get(job=job, status=Status.CLAIMED)
    first_beat = claimed.heartbeat_at
    deadline = timezone.now() + timedelta(seconds=10)
    while GenerationItem.objects.get(pk=claimed.pk).heartbeat_at == first_beat:
        assert timezone.now() < deadline, "no heartbeat on the background thread's claim"
        threading.Event().wait(0.2)

    gate.set()
    assert engine.background.wait(60)
    p = _progress(client, job)
    assert (p["status"], p["done"], p["failed"], p["finished"]) == ("done", 4, 0, True)
    page = client.get(page_url)
    assert b'data-status="done"' in page.content and b"4/4" in page.content
    assert Track.objects.filter(generator="sketch").count() == 4

    # Run again, as the message says: nothing is made twice and the tracks are bound.
    resp = client.post(
        reverse("admin:survey_study_changelist"), {**START, "_selected_action": [bare_study.pk]}
    )
    assert engine.background.wait(60)
    assert Track.objects.count() == 4
    form = bare_study.forms.get()
    assert form.trials.count() * form.conditions.count() == 4
    assert sum(t.trial_tracks.count() for t in form.trials.all()) == 4


def test_a_job_the_stopped_server_left_goes_on_when_its_page_is_visited(
    client, charlie, bare_study, background, settings
):
    """The server stopped mid-job: its queue is gone, one claim was just taken (its heartbeat is
    recent) and one is long dead. Visiting the job's page hands the pending items to this
    process's background thread at once; a claim comes back once it is stale (the claim timeout
    without a heartbeat), at a later visit or poll of the page."""
    from survey.selectors import study_generation_cells

    settings.GENERATION_CLAIM_TIMEOUT_S = 30
    job = jobs.job_create(
        cells=study_generation_cells(study=bare_study),
        generator="sketch",
        model="",
        parameters={"duration_s": 1.0, "batch_size": 1},
        seed=0,
        loudness_target_lufs=bare_study.loudness_target_lufs,
    )
    engine.job_begin(kind=jobs.GENERATION, job_id=job.pk)  # started; its work died with the server
    recent, dead, *pending = job.items.order_by("id")
    long_ago = timezone.now() - timedelta(seconds=600)
    GenerationItem.objects.filter(pk=recent.pk).update(
        status=Status.CLAIMED,
        claim_token="gone",
        claimed_at=timezone.now(),
        heartbeat_at=timezone.now(),
    )
    GenerationItem.objects.filter(pk=dead.pk).update(
        status=Status.CLAIMED, claim_token="gone", claimed_at=long_ago, heartbeat_at=long_ago
    )

    client.force_login(charlie)
    page_url = reverse("admin:generation_generationjob_change", args=[job.pk])
    assert client.get(page_url).status_code == 200
    assert engine.background.wait(60)
    states = dict(job.items.values_list("id", "status"))
    assert states[dead.pk] == Status.DONE and all(states[i.pk] == Status.DONE for i in pending)
    assert states[recent.pk] == Status.CLAIMED  # not stale yet: its holder may be alive
    assert _progress(client, job)["finished"] is False

    # The claim timeout passes with no heartbeat: the page's next poll takes the claim back.
    GenerationItem.objects.filter(pk=recent.pk).update(heartbeat_at=long_ago)
    _progress(client, job)
    assert engine.background.wait(60)
    p = _progress(client, job)
    assert (p["status"], p["done"], p["finished"]) == ("done", 4, True)
    assert job.items.get(pk=recent.pk).reclaims == 1
    assert Track.objects.filter(generator="sketch").count() == 4


def test_the_command_still_runs_its_job_in_the_foreground(bare_study, background):
    out = StringIO()
    call_command(
        "generate_tracks",
        "--study",
        "gen",
        "--generator",
        "sketch",
        "--duration",
        "1",
        "--batch-size",
        "2",
        stdout=out,
    )
    text = out.getvalue()
    assert "4 of 4 tracks to make" in text and "done: 4 tracks made" in text
    assert GenerationJob.objects.get().status == GenerationJob.Status.DONE
    assert Track.objects.filter(generator="sketch").count() == 4


def test_a_job_without_a_broker_never_asks_kombu_for_one(
    client, charlie, bare_study, background, caplog
):
    """Without CELERY_BROKER_URL a job from the server logged `WARNING kombu.connection No
    hostname was supplied. Reverting to default 'localhost'`: Celery's eager apply_async still
    takes a producer from the broker's pool. The app's pool is closed first, so that a connection
    an earlier test opened cannot hide a new one."""
    from celery import current_app

    current_app.close()  # the producer pool goes; the next apply_async would open a connection
    caplog.set_level(logging.WARNING, logger="kombu")
    client.force_login(charlie)
    client.post(
        reverse("admin:survey_study_changelist"), {**START, "_selected_action": [bare_study.pk]}
    )
    assert engine.background.wait(60)
    assert Track.objects.filter(generator="sketch").count() == 4  # batches and ingests ran
    kombu = [r.getMessage() for r in caplog.records if r.name.startswith("kombu")]
    assert not kombu, kombu
