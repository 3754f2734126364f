"""Reads of clips, captions and tracks."""

from __future__ import annotations

from django.db.models import QuerySet

from generation.models import Caption, Clip, Condition, Track


def caption_for(*, clip: Clip, kind: str) -> Caption | None:
    """The caption of ``kind`` that feeds generation: the newest approved one, else the newest
    unreviewed one. Rejected captions never feed anything."""
    captions = Caption.objects.filter(clip=clip, kind=kind).exclude(status=Caption.Status.REJECTED)
    return (
        captions.filter(status=Caption.Status.APPROVED).order_by("-created_at", "-id").first()
        or captions.order_by("-created_at", "-id").first()
    )


def track_for(*, clip: Clip, condition: Condition) -> Track | None:
    """The newest track of ``clip`` under ``condition``."""
    return (
        Track.objects.filter(clip=clip, condition=condition).order_by("-created_at", "-id").first()
    )


def clips_missing_tracks(
    *, clips: QuerySet[Clip], conditions: list[Condition]
) -> list[tuple[Clip, Condition]]:
    have = set(
        Track.objects.filter(clip__in=clips, condition__in=conditions).values_list(
            "clip_id", "condition_id"
        )
    )
    return [(clip, cond) for clip in clips for cond in conditions if (clip.id, cond.id) not in have]
