"""Participants' personal data: withdrawal with everything derived, retention purges, and the
timing flags that mark paces no person can keep (docs/how-to/ops/data-protection.md).

- :func:`participant_withdraw` deletes a participant and everything derived from their answers
  (ratings, trial responses, checks, page visits, descriptions and the captions made of them)
  and leaves a :class:`~survey.models.Withdrawal` record naming only the public id. Records of
  earlier deletions of their ratings (:class:`~survey.models.DataDeletion`, the audit trail of
  the published data set) keep that something was removed, but no longer the values removed.
- :func:`purge_identifying` blanks the identifying fields of a study's participants (recruiter
  ids, user agent, free-text answers); :func:`purge_due` does it for every study past its
  ``retention_until`` (the ``purge_identifying_data`` command and the daily Celery task).
- :func:`timing_flag` says why a participant's pace is not humanly possible, or "".
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from survey.models import (
    Annotation,
    DataDeletion,
    PageVisit,
    Participant,
    QualityCheck,
    Rating,
    Study,
    TrialResponse,
    Withdrawal,
    live_deletion_allowed,
)

IDENTIFYING_FIELDS = ("prolific_pid", "external_study_id", "external_session_id", "user_agent")
FREE_TEXT_ANSWERS = ("comment",)


def participant_withdraw(
    *, participant: Participant, requested_by: str, done_by: str = "", reason: str = ""
) -> Withdrawal:
    """Delete ``participant`` with everything derived from their answers; keep the record."""
    from generation.models import Caption

    with transaction.atomic():
        caption_ids = list(
            Annotation.objects.filter(participant=participant)
            .exclude(caption=None)
            .values_list("caption_id", flat=True)
        )
        deleted = {
            "ratings": Rating.objects.filter(participant=participant).count(),
            "trial_responses": TrialResponse.objects.filter(participant=participant).count(),
            "quality_checks": QualityCheck.objects.filter(participant=participant).count(),
            "page_visits": PageVisit.objects.filter(participant=participant).count(),
            "annotations": Annotation.objects.filter(participant=participant).count(),
            "captions": len(caption_ids),
            "questionnaire": int(bool(participant.answers)),
        }
        record = Withdrawal.objects.create(
            study=participant.study,
            public_id=participant.public_id,
            requested_by=requested_by[:40],
            done_by=done_by[:150],
            reason=reason[:300],
            deleted=deleted,
        )
        with live_deletion_allowed():  # a withdrawal is the participant's right, live or not
            participant.delete()  # cascades: ratings, responses, checks, visits, annotations
        Caption.objects.filter(pk__in=caption_ids).delete()
        # A rating of theirs deleted earlier is still described (clip, condition, value) in the
        # deletion records: the record of that deletion stays, the values go.
        earlier = DataDeletion.objects.filter(study=participant.study, participant=record.public_id)
        for d in earlier:
            d.summary = f"{d.get_what_display().lower()} of {record.public_id}: details removed "
            d.summary += "when the participant withdrew"
            d.details = {"withdrawn": True}
            d.save(update_fields=["summary", "details"])
    return record


def purge_identifying(*, study: Study, now: dt.datetime | None = None) -> int:
    """Blank the identifying fields of every participant of ``study``; returns how many rows
    held any. The pseudonymised research data (ratings, timings, choice answers) stays."""
    now = now or timezone.now()
    n = 0
    with transaction.atomic():
        for p in Participant.objects.filter(study=study).only("pk", "answers", *IDENTIFYING_FIELDS):
            answers = p.answers if isinstance(p.answers, dict) else {}
            clean = {k: v for k, v in answers.items() if k not in FREE_TEXT_ANSWERS}
            if clean == answers and not any(getattr(p, f) for f in IDENTIFYING_FIELDS):
                continue
            Participant.objects.filter(pk=p.pk).update(
                answers=clean, **{f: "" for f in IDENTIFYING_FIELDS}
            )
            n += 1
        Study.objects.filter(pk=study.pk).update(purged_at=now)
    return n


def purge_due(*, today: dt.date | None = None) -> dict[str, int]:
    """Purge every study whose retention date has passed; {slug: participants purged}."""
    today = today or timezone.localdate()
    return {
        study.slug: purge_identifying(study=study)
        for study in Study.objects.filter(retention_until__lt=today).order_by("slug")
    }


# -- timing that no person can produce ------------------------------------------------------------

#: A trial answered in under this share of the audio it requires is flagged (tracks are heard one
#: at a time, so a person needs at least the sum of the required listening).
MIN_SHARE_OF_REQUIRED_AUDIO = 0.5
#: Reported listening longer than the time the trial was open, beyond this many seconds.
LISTENING_SLACK_S = 2.0


def timing_flag(participant: Participant) -> str:
    """Why this participant's timing is not humanly possible, or "" when it is plausible."""
    from survey.participation import TrackTime, required_listen_s

    study = participant.study
    responses = list(
        TrialResponse.objects.filter(participant=participant, kind=TrialResponse.Kind.TRIAL)
        .order_by("sequence_index")
        .values("sequence_index", "trial_id", "duration_s", "listening")
    )
    if not responses:
        return ""
    # The listening each trial asked for, from its rated tracks' durations (values, not model
    # instances: this runs at every completion).
    required_by_trial: dict[int, float] = {}
    rated = Rating.objects.filter(participant=participant).order_by()
    for trial_id, track_id, duration_s in rated.values_list(
        "trial_id", "track_id", "track__duration_s"
    ):
        track = TrackTime(track_id, duration_s)
        required_by_trial[trial_id] = required_by_trial.get(trial_id, 0.0) + required_listen_s(
            study=study, track=track
        )
    for r in responses:
        duration = r["duration_s"]
        if duration is None:
            continue
        heard = sum(float(v) for v in (r["listening"] or {}).values())
        if heard > duration + LISTENING_SLACK_S:
            return (
                f"item {r['sequence_index']}: {heard:.1f} s of listening reported in a trial "
                f"open {duration:.1f} s"
            )
        required = required_by_trial.get(r["trial_id"], 0.0)
        if required and duration < MIN_SHARE_OF_REQUIRED_AUDIO * required:
            return (
                f"item {r['sequence_index']}: answered in {duration:.1f} s, the tracks to hear "
                f"last {required:.1f} s"
            )
    return ""


def flag_timing(participant: Participant) -> str:
    """Store :func:`timing_flag` on the participant (done at completion); returns it."""
    flag = timing_flag(participant)[:200]
    if flag != participant.timing_flag:
        Participant.objects.filter(pk=participant.pk).update(timing_flag=flag)
        participant.timing_flag = flag
    return flag


__all__ = [
    "flag_timing",
    "participant_withdraw",
    "purge_due",
    "purge_identifying",
    "timing_flag",
]
