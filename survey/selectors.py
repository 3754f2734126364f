"""Reads of the survey app: the cells a study shows and its progress."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q

from generation.models import Clip, Condition
from survey.models import Form, Participant, Rating, Study


def study_generation_cells(*, study: Study) -> list[tuple[Clip, Condition]]:
    """The (clip, condition) cells a study shows: each form's trial clips x its conditions."""
    cells: list[tuple[Clip, Condition]] = []
    for form in study.forms.prefetch_related("conditions").order_by("name"):
        conditions = list(form.conditions.order_by("name"))
        for trial in form.trials.select_related("clip").order_by("position"):
            cells.extend((trial.clip, condition) for condition in conditions)
    return cells


def study_progress(*, study: Study) -> dict[str, Any]:
    """Participants per form by status, and ratings per clip x condition."""
    forms = (
        Form.objects.filter(study=study)
        .annotate(
            n_trials=Count("trials", distinct=True),
            started=Count("participants", distinct=True),
            completed=Count(
                "participants",
                filter=Q(participants__status=Participant.Status.COMPLETED),
                distinct=True,
            ),
            active=Count(
                "participants",
                filter=Q(participants__status=Participant.Status.ACTIVE),
                distinct=True,
            ),
            abandoned=Count(
                "participants",
                filter=Q(participants__status=Participant.Status.ABANDONED),
                distinct=True,
            ),
            screened_out=Count(
                "participants",
                filter=Q(participants__status=Participant.Status.SCREENED_OUT),
                distinct=True,
            ),
        )
        .order_by("name")
    )
    cells = (
        Rating.objects.filter(participant__study=study)
        .values("trial__form__name", "trial__clip__key", "track__condition__name")
        .annotate(n=Count("id"))
        .order_by("trial__form__name", "trial__clip__key", "track__condition__name")
    )
    by_status = dict(
        Participant.objects.filter(study=study)
        .values_list("status")
        .annotate(n=Count("id"))
        .order_by()
    )
    return {
        "study": study.slug,
        "status": study.status,
        # everyone who reached the study, by status (declined: no form was given)
        "participants": {s: by_status.get(s, 0) for s in Participant.Status.values},
        "forms": [
            {
                "form": f.name,
                "n_videos": f.n_videos,
                "n_trials": f.n_trials,
                "target": study.target_per_form,
                "started": f.started,
                "active": f.active,
                "completed": f.completed,
                "abandoned": f.abandoned,
                "screened_out": f.screened_out,
            }
            for f in forms
        ],
        "ratings_per_cell": [
            {
                "form": c["trial__form__name"],
                "clip": c["trial__clip__key"],
                "condition": c["track__condition__name"],
                "n": c["n"],
            }
            for c in cells
        ],
    }
