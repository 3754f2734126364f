"""Reads of clips, captions and tracks."""

from __future__ import annotations

from django.db.models import QuerySet

from generation.models import Caption, Clip, Condition, Track


def caption_for(*, clip: Clip, kind: str, model_id: str = "") -> Caption | None:
    """The caption of ``kind`` that feeds generation: the newest approved one, else the newest
    unreviewed one. Rejected captions never feed anything. ``model_id`` keeps only the captions
    that model wrote."""
    captions = Caption.objects.filter(clip=clip, kind=kind).exclude(status=Caption.Status.REJECTED)
    if model_id:
        captions = captions.filter(model_id=model_id)
    return (
        captions.filter(status=Caption.Status.APPROVED).order_by("-created_at", "-id").first()
        or captions.order_by("-created_at", "-id").first()
    )


def caption_for_condition(*, clip: Clip, condition: Condition) -> Caption | None:
    """The caption that feeds ``condition`` for ``clip`` (its kind and, if set, its model)."""
    return caption_for(clip=clip, kind=condition.caption_kind, model_id=condition.caption_model_id)


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
