"""Celery tasks of generation and caption jobs: thin, idempotent, taking ids; each calls one
service of ``generation.jobs`` or ``generation.captioning`` (claims and watchdogs are
``generation.engine``'s). The import goes one way: those modules enqueue these tasks by their
registered name and never import this module (an import-linter contract).

Queues: ``generate_batch`` is routed to ``gpu`` by ``CELERY_TASK_ROUTES`` (sketch batches are sent
to the default queue); ``ingest_item`` and the watchdog run on the default queue, where the media
storage is. All are acknowledged after they finish (``acks_late``) and given back to the queue
when their worker dies (``reject_on_worker_lost``); a duplicate delivery finds its items claimed
or finished and does nothing. Transient database and broker errors are retried with backoff; bad
input is not retried: the item (or the job) is marked failed with the message.
"""

from __future__ import annotations

import logging

from celery import shared_task
from celery.signals import worker_ready
from django.conf import settings

from generation import captioning, engine, jobs
from generation.engine import TRANSIENT_ERRORS

logger = logging.getLogger(__name__)

_RETRY = {
    "acks_late": True,
    "reject_on_worker_lost": True,
    "autoretry_for": TRANSIENT_ERRORS,
    "retry_backoff": 5,
    "retry_backoff_max": 300,
    "retry_jitter": True,
    "max_retries": 5,
}

BATCH_TIME_LIMIT_S = int(getattr(settings, "GENERATION_BATCH_TIME_LIMIT_S", 1800))
INGEST_TIME_LIMIT_S = int(getattr(settings, "GENERATION_INGEST_TIME_LIMIT_S", 300))


@shared_task(
    bind=True,
    name="generation.tasks.generate_batch",
    **_RETRY,
    time_limit=BATCH_TIME_LIMIT_S,
    soft_time_limit=max(1, BATCH_TIME_LIMIT_S - 60),
)
def generate_batch(self, job_id: int, item_ids: list[int]) -> int:
    """Generate the audio of a batch of items on one model load, then enqueue their ingest."""
    staged = jobs.job_run_batch(
        job_id=job_id,
        item_ids=item_ids,
        token=self.request.id or "",
        heartbeat=engine.heartbeat_wanted(self.request),
        enqueue_ingest=True,
    )
    return len(staged)


@shared_task(
    bind=True,
    name="generation.tasks.ingest_item",
    **_RETRY,
    time_limit=INGEST_TIME_LIMIT_S,
    soft_time_limit=max(1, INGEST_TIME_LIMIT_S - 30),
)
def ingest_item(self, item_id: int) -> int | None:
    """Normalise, encode and mux one generated item into its Track (made once, whatever happens)."""
    track = jobs.item_ingest(
        item_id=item_id,
        token=self.request.id or "",
        heartbeat=engine.heartbeat_wanted(self.request),
    )
    return track.pk if track else None


@shared_task(
    bind=True, name="generation.tasks.watch_job", **_RETRY, time_limit=120, soft_time_limit=100
)
def watch_job(self, job_id: int, token: str) -> bool:
    """Reclaim a job's stale claims; comes back every ``watch_interval_s`` while the job runs."""
    going_on = jobs.job_watch(job_id=job_id, token=token)
    if going_on:
        watch_job.apply_async((job_id, token), countdown=jobs.watch_interval_s())
    return going_on


@shared_task(
    bind=True, name="generation.tasks.watch_resume", **_RETRY, time_limit=120, soft_time_limit=100
)
def watch_resume(self) -> int:
    """Restart the watchdogs of running jobs (sent by every worker as it starts)."""
    return jobs.jobs_watch_resume()


@worker_ready.connect
def _resume_watchdogs(sender=None, **kwargs) -> None:
    # The worker that held a watchdog may have died with it: a starting worker restarts them.
    try:
        watch_resume.delay()
    except Exception:  # noqa: BLE001 - the next worker start tries again
        logger.exception("could not enqueue watch_resume")


# --- caption jobs (generation/captioning.py) --------------------------------------------------

CAPTION_BATCH_TIME_LIMIT_S = int(
    getattr(settings, "CAPTION_BATCH_TIME_LIMIT_S", 0) or BATCH_TIME_LIMIT_S
)


@shared_task(
    bind=True,
    name="generation.tasks.caption_batch",
    **_RETRY,
    time_limit=CAPTION_BATCH_TIME_LIMIT_S,
    soft_time_limit=max(1, CAPTION_BATCH_TIME_LIMIT_S - 60),
)
def caption_batch(self, job_id: int, item_ids: list[int]) -> int:
    """Write the captions of a batch of one kind, then move the job on when its stage is done."""
    return captioning.caption_batch_run(
        job_id=job_id,
        item_ids=item_ids,
        token=self.request.id or "",
        heartbeat=engine.heartbeat_wanted(self.request),
        advance=True,
    )


@shared_task(
    bind=True,
    name="generation.tasks.watch_caption_job",
    **_RETRY,
    time_limit=120,
    soft_time_limit=100,
)
def watch_caption_job(self, job_id: int, token: str) -> bool:
    """Keep a caption job's heartbeat and reclaim its stale claims; comes back while it runs."""
    going_on = captioning.caption_job_watch(job_id=job_id, token=token)
    if going_on:
        watch_caption_job.apply_async((job_id, token), countdown=captioning.watch_interval_s())
    return going_on


@shared_task(
    bind=True,
    name="generation.tasks.watch_caption_resume",
    **_RETRY,
    time_limit=120,
    soft_time_limit=100,
)
def watch_caption_resume(self) -> int:
    """Restart the watchdogs of running caption jobs (sent by every worker as it starts)."""
    return captioning.caption_jobs_watch_resume()


@worker_ready.connect
def _resume_caption_watchdogs(sender=None, **kwargs) -> None:
    try:
        watch_caption_resume.delay()
    except Exception:  # noqa: BLE001 - the next worker start tries again
        logger.exception("could not enqueue watch_caption_resume")
