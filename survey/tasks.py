"""Periodic tasks of the survey app (Celery beat: ``CELERY_BEAT_SCHEDULE`` in settings)."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="survey.purge_identifying_data")
def purge_identifying_data() -> dict[str, int]:
    """Daily: blank the identifying fields of every study past its retention date."""
    from survey.privacy import purge_due

    return purge_due()
