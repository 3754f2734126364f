"""The participant's side of a study: start, consent, assignment, trials, checks, completion.

Every write a participant causes goes through these functions; the views only translate HTTP.
A participant refers to trials by their place in their own sequence and to tracks by blind
label (A, B, C): no database id of a trial, track or condition ever reaches the browser.

One file because it is the participant's state machine: each function moves one participant
through the same sequence under the same rules (stage, progress, the conditional UPDATE that
makes a submit exactly-once), and reading them side by side is how that machine is checked.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Exists, OuterRef, Q
from django.utils import timezone

from generation.models import Track
from survey import hotread, hotwrite
from survey import submit_schema as schema
from survey.models import (
    Annotation,
    Assignment,
    Form,
    PageVisit,
    Participant,
    QualityCheck,
    Rating,
    Study,
    Trial,
    TrialResponse,
    TrialTrack,
)

LABELS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
#: A participant's draw: the item order, each trial's track order, the practice tracks.
Drawn = tuple[list[int], dict[str, list[int]], list[int]]
HEADPHONE_TRIALS = 6
HEADPHONE_PASS = 5
ATTENTION_MAX_VALUE = 10.0  # "set the slider to 0": a value at or under this passes
LISTEN_TOLERANCE_S = 0.5
#: How much more listening per track a submit may claim than the time since its item was first
#: shown by the server: the page's timer and the request's own time. Beyond it, the claim is
#: impossible and the submit is refused whole.
LISTEN_ELAPSED_TOLERANCE_S = 1.0
MAX_EVENTS = schema.MAX_EVENTS


class ParticipationError(Exception):
    """A request a participant's page must not make; ``status`` is the HTTP status to answer."""

    def __init__(self, message: str, *, status: int = 400, code: str = "invalid"):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code


# -- start and assignment -----------------------------------------------------------------------


def release_abandoned(*, study: Study, now=None) -> int:
    """Mark participants idle longer than the study's limit as abandoned: their slot is free."""
    now = now or timezone.now()
    cutoff = now - timedelta(minutes=study.abandon_after_minutes)
    return Participant.objects.filter(
        study=study, status=Participant.Status.ACTIVE, last_seen_at__lt=cutoff
    ).update(status=Participant.Status.ABANDONED)


#: A completion that counts toward a form's target: completed at a humanly possible pace. A
#: participant flagged for impossible timing (a bot) is excluded by the report's screening, so it
#: must not fill the study either, or bots could still lock real participants out.
_COUNTS = Q(participants__status=Participant.Status.COMPLETED, participants__timing_flag="")


_FORMS_WITH_COUNTS = hotread.CompiledRead(
    Form,
    lambda study_id: (
        Form.objects.filter(study_id=study_id)
        .annotate(
            done=Count("participants", filter=_COUNTS),
            load=Count(
                "participants",
                filter=Q(participants__status=Participant.Status.ACTIVE) | _COUNTS,
            ),
            has_trials=Exists(Trial.objects.filter(form=OuterRef("pk"))),
        )
        .order_by("name")
    ),
    (hotread.STAND_IN_ID,),
)


_STUDY_LOCK = hotread.CompiledRead(
    Study,
    lambda study_id: Study.objects.select_for_update().filter(pk=study_id).values_list("pk"),
    (hotread.STAND_IN_ID,),
)


def _forms_with_counts(study: Study) -> list[Form]:
    """The study's forms (by name), each with ``done`` (completions that count), ``load``
    (those plus the active participants) and ``has_trials``: one query, compiled once per
    process (it runs three times per participant's start, once under the study's lock)."""
    return hotread.annotated(_FORMS_WITH_COUNTS, study.pk, study=study)


def _is_full(study: Study, forms: list[Form]) -> bool:
    return bool(forms) and all(f.done >= study.target_per_form for f in forms)  # type: ignore[attr-defined]


def study_is_full(*, study: Study) -> bool:
    return _is_full(study, _forms_with_counts(study))


def _pick_form(forms: list[Form]) -> Form:
    """The form with the fewest completed plus active participants (ties: the first by name).
    A form without trials is never given out (go-live refuses one; this guards older data)."""
    open_forms = [f for f in forms if f.has_trials]  # type: ignore[attr-defined]
    if not open_forms:
        raise ParticipationError("this study has no forms yet", status=409, code="no_forms")
    return min(open_forms, key=lambda f: f.load)  # type: ignore[attr-defined]


def _annotation_sequence(form: Form, rng: random.Random) -> list[int]:
    """The ``n_videos`` clips with the fewest descriptions given or under way (completed and
    active annotators), ties broken at random: each clip moves toward its target together."""
    load = dict(
        Trial.objects.filter(form=form)
        .annotate(
            n=Count(
                "assignments",
                filter=Q(
                    assignments__participant__status__in=[
                        Participant.Status.ACTIVE,
                        Participant.Status.COMPLETED,
                    ]
                ),
            )
        )
        .values_list("id", "n")
    )
    ids = list(load)
    rng.shuffle(ids)
    ids.sort(key=lambda t: load[t])
    return ids[: form.n_videos]


#: A rating form's design as a consent reads it: its trials (id, clip id) in position order and
#: each trial's track ids. Kept by each server process once the form's study is no longer a
#: draft, from when no path can change it (the design guards in ``survey.models`` refuse every
#: write, and a study never returns to draft), so a consent reads it once per process.
Design = tuple[list[tuple[int, int]], dict[int, list[int]]]
_designs: dict[int, Design] = {}
_DESIGNS_MAX = 10_000


def forget_designs() -> None:
    """Empty this process's form designs (tests: a rolled-back form's id is given again)."""
    _designs.clear()


def _design(form: Form, study: Study) -> Design:
    kept = _designs.get(form.pk)
    if kept is not None:
        return kept
    # ids, not model instances: this runs at every consent of a draft's preview
    trials = list(form.trials.order_by("position").values_list("id", "clip_id"))
    tracks_of: dict[int, list[int]] = {t: [] for t, _ in trials}
    for trial_id, track_id in (
        TrialTrack.objects.filter(trial__form=form)
        .order_by("pk")
        .values_list("trial_id", "track_id")
    ):
        tracks_of[trial_id].append(track_id)
    if study.is_locked:
        if len(_designs) >= _DESIGNS_MAX:
            _designs.clear()
        _designs[form.pk] = (trials, tracks_of)
    return trials, tracks_of


def _sequence(form: Form, study: Study, rng: random.Random) -> Drawn:
    if form.kind == Form.Kind.ANNOTATION:
        order = _annotation_sequence(form, rng)
        return order, {str(t): [] for t in order}, []
    design_trials, tracks_of = _design(form, study)
    trials = list(design_trials)  # copies: the kept design is shuffled by no one
    rng.shuffle(trials)
    order = [t for t, _ in trials]
    labels: dict[str, list[int]] = {}
    for t in order:
        track_ids = list(tracks_of[t])
        rng.shuffle(track_ids)
        labels[str(t)] = track_ids
    # Attention checks go after the first trial, spread over the rest, never first.
    n_checks = min(study.attention_trials, len(order))
    if n_checks:
        spots = sorted(rng.sample(range(1, len(order) + 1), n_checks), reverse=True)
        sources = rng.sample(order, n_checks)
        for spot, src in zip(spots, sources, strict=True):
            order.insert(spot, -src)
    practice = _practice_tracks(form, {clip for _, clip in trials}, rng)
    return order, labels, practice


def _practice_tracks(form: Form, used_clips: set[int], rng: random.Random) -> list[int]:
    """Tracks of a clip outside the form's trials when there is one (else of the first trial)."""
    conditions = form.conditions.values("pk")  # a subquery
    qs = Track.objects.filter(condition__in=conditions).exclude(clip_id__in=used_clips)
    if form.clip_pool.exists():
        qs = qs.filter(clip__in=form.clip_pool.values("pk"))
    clip_id = qs.order_by("clip_id").values_list("clip_id", flat=True).first()
    if clip_id is None:
        first = form.trials.order_by("position").first()
        return [tt.track_id for tt in first.trial_tracks.all()] if first else []
    chosen: dict[int, int] = {}
    newest_first = Track.objects.filter(clip_id=clip_id, condition__in=conditions).order_by(
        "-created_at"
    )
    for condition_id, track_id in newest_first.values_list("condition_id", "id"):
        chosen.setdefault(condition_id, track_id)
    ids = list(chosen.values())
    rng.shuffle(ids)
    return ids


def _sequence_ahead(study: Study, rng: random.Random) -> dict[int, Drawn]:
    """Before the study's lock: free abandoned slots (an idempotent UPDATE) and draw the
    sequence of the form a start would get now, by its id. A rating form's sequence reads only
    its design, which is locked while the study runs; an annotation form's depends on what
    the others were given, so it is drawn under the lock (nothing here)."""
    release_abandoned(study=study)
    forms = _forms_with_counts(study)
    if _is_full(study, forms) or not any(f.has_trials for f in forms):  # type: ignore[attr-defined]
        return {}
    form = _pick_form(forms)
    if form.kind == Form.Kind.ANNOTATION:
        return {}
    return {form.pk: _sequence(form, study, rng)}


def pid_has_session(*, study: Study, prolific_pid: str) -> bool:
    return Participant.objects.filter(study=study, prolific_pid=prolific_pid).exists()


def participant_start(
    *,
    study: Study,
    prolific_pid: str = "",
    external_study_id: str = "",
    external_session_id: str = "",
    user_agent: str = "",
    language: str = "en",
) -> tuple[Participant, bool]:
    """The participant who consented: the same PROLIFIC_PID gets the same participant back.
    Otherwise a new one is assigned, atomically, to the least-loaded form."""
    if study.status != Study.Status.LIVE:
        raise ParticipationError("this study is not open", status=410, code="not_live")
    if prolific_pid:
        existing = Participant.objects.filter(study=study, prolific_pid=prolific_pid).first()
        if existing is not None:
            return existing, False
    rng = random.Random(secrets.randbits(64))
    drawn = _sequence_ahead(study, rng)
    fields: dict[str, Any] = dict(
        study=study,
        prolific_pid=prolific_pid[:64],
        external_study_id=external_study_id[:64],
        external_session_id=external_session_id[:64],
        user_agent=user_agent[:400],
        language=language,
        consented_at=timezone.now(),
        stage=Participant.Stage.INSTRUCTIONS,
    )
    prepared = None
    if drawn:  # the row as the guessed form would have it, ready before the lock
        [(guessed, (order, labels, practice))] = drawn.items()
        prepared = hotwrite.PreparedInsert(
            [
                Participant(
                    **fields,
                    form_id=guessed,
                    trial_order=order,
                    label_order=labels,
                    practice_tracks=practice,
                )
            ],
            returning=True,
        )
    try:
        with transaction.atomic():
            # One assignment at a time per study: the row lock serialises concurrent starts,
            # so the locked section is short (when a Prolific study goes live, hundreds of
            # consents queue on it): the lock, the counts, the check, the insert, each a
            # statement compiled before (a thread that holds the lock while it waits for the
            # CPU makes every other consent wait too).
            _STUDY_LOCK.rows(study.pk)
            # Checked here, under the lock, so that no path (a direct consent POST, two at
            # once) admits anyone into a full study.
            forms = _forms_with_counts(study)
            if _is_full(study, forms):
                raise ParticipationError(
                    "this study has all the responses it needs", status=409, code="full"
                )
            form = _pick_form(forms)
            if prepared is not None and form.pk in drawn:
                prepared.run()
                participant = cast(Participant, prepared.objs[0])
            else:  # another start took the guessed form's turn meanwhile: drawn here instead
                order, labels, practice = _sequence(form, study, rng)
                participant = Participant.objects.create(
                    **fields,
                    form=form,
                    trial_order=order,
                    label_order=labels,
                    practice_tracks=practice,
                )
            if form.kind == Form.Kind.ANNOTATION:
                Assignment.objects.bulk_create(
                    [Assignment(participant=participant, trial_id=t) for t in order]
                )
    except IntegrityError:
        if prolific_pid:  # the same PID started twice at once: the first one stands
            return Participant.objects.get(study=study, prolific_pid=prolific_pid), False
        raise
    return participant, True


def participant_decline(
    *,
    study: Study,
    prolific_pid: str = "",
    external_study_id: str = "",
    external_session_id: str = "",
    user_agent: str = "",
    language: str = "en",
) -> Participant:
    """Record that someone declined consent (no form slot is taken).

    The decline is recorded without binding the PROLIFIC_PID: whoever declines with a PID
    (theirs or someone else's) never locks that PID out, and a PID that has a session elsewhere
    is left as it is. The decliner gets the decline code either way."""
    return Participant.objects.create(
        study=study,
        external_study_id=external_study_id[:64],
        external_session_id=external_session_id[:64],
        user_agent=user_agent[:400],
        language=language,
        status=Participant.Status.DECLINED,
        stage=Participant.Stage.DONE,
        completion_code=study.decline_code,
    )


def participant_touch(
    *,
    participant: Participant,
    page: str,
    sequence_index: int | None = None,
    item_shown: bool = False,
) -> None:
    """Record a page view and keep the participant's slot alive (an abandoned one comes back).
    With ``item_shown``, also remember when item ``sequence_index`` was first shown (one UPDATE)."""
    now = timezone.now()
    fields: dict[str, Any] = {"last_seen_at": now}
    if participant.status == Participant.Status.ABANDONED:
        fields["status"] = Participant.Status.ACTIVE
    if (
        item_shown
        and sequence_index is not None
        and participant.item_started_index != sequence_index
    ):
        fields.update(item_started_at=now, item_started_index=sequence_index)
    hotwrite.update(Participant, participant.pk, fields)
    for k, v in fields.items():
        setattr(participant, k, v)
    visit = PageVisit(participant=participant, page=page, sequence_index=sequence_index)
    hotwrite.insert([visit])


def participant_advance(*, participant: Participant, from_stage: str) -> Participant:
    """Move past an informational stage. Idempotent: a stale or repeated request changes nothing."""
    if from_stage == Participant.Stage.INSTRUCTIONS:
        form = participant.form  # read only here: the practice's advance needs no form
        annotating = form is not None and form.kind == Form.Kind.ANNOTATION
        nxt = Participant.Stage.TRIALS if annotating else Participant.Stage.PRACTICE
    elif from_stage == Participant.Stage.PRACTICE:
        headphones = participant.study.headphone_check
        nxt = Participant.Stage.HEADPHONE if headphones else Participant.Stage.TRIALS
    else:
        raise ParticipationError(f"cannot advance from {from_stage!r}", code="bad_stage")
    moved = hotwrite.update(
        Participant,
        participant.pk,
        {"stage": nxt},
        where={"stage": from_stage, "status": Participant.Status.ACTIVE},
    )
    if moved:
        participant.stage = nxt
    else:  # stale or repeated: as it is now
        participant.refresh_from_db()
    return participant


# -- the items a participant sees -------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    """The participant's current (or any) item of their sequence."""

    index: int
    kind: str  # "trial" or "attention"
    trial: Trial
    tracks: list[Track]  # in blind-label order

    @property
    def labels(self) -> list[str]:
        return [LABELS[i] for i in range(len(self.tracks))]


def participant_item(*, participant: Participant, index: int) -> Item:
    if not 0 <= index < len(participant.trial_order):
        raise ParticipationError("no such item", status=404, code="no_item")
    raw = participant.trial_order[index]
    trial = Trial.objects.select_related("clip", "form").get(pk=abs(raw))
    if trial.form.kind == Form.Kind.ANNOTATION:
        return Item(index, TrialResponse.Kind.ANNOTATION, trial, [])
    track_ids = participant.label_order[str(abs(raw))]
    by_id = Track.objects.order_by().in_bulk(track_ids)
    tracks = [by_id[i] for i in track_ids]
    if raw < 0:
        return Item(index, TrialResponse.Kind.ATTENTION, trial, tracks[:1])
    return Item(index, TrialResponse.Kind.TRIAL, trial, tracks)


def item_shown(*, participant: Participant, index: int) -> None:
    """Remember when the current item was first shown (for the minimum time per trial)."""
    if participant.item_started_index != index:
        now = timezone.now()
        Participant.objects.filter(pk=participant.pk).update(
            item_started_at=now, item_started_index=index
        )
        participant.item_started_at, participant.item_started_index = now, index


def required_listen_s(*, study: Study, track: Track | TrackTime) -> float:
    """Seconds of a track that must be heard before its slider counts."""
    if study.min_listen_s is not None:
        return min(study.min_listen_s, track.duration_s)
    return track.duration_s


# -- media tokens -------------------------------------------------------------------------------


MEDIA_TOKEN_RE = re.compile(r"[0-9a-f]{40}")


def media_token(participant: Participant, kind: str, index: int, slot: str) -> str:
    """An opaque, unguessable name for one media file of one participant."""
    msg = f"{participant.code}|{kind}|{index}|{slot}".encode()
    return hmac.new(settings.SECRET_KEY.encode(), msg, hashlib.sha256).hexdigest()[:40]


def media_for_token(*, participant: Participant, token: str):
    """The stored file behind a participant's media token, or None (wrong participant, forged)."""
    if not isinstance(token, str) or not MEDIA_TOKEN_RE.fullmatch(token):
        return None  # compare_digest takes ASCII strings only
    for index, raw in enumerate(participant.trial_order):
        if index < participant.progress - 1:
            continue  # media of finished items is no longer needed
        track_ids = participant.label_order[str(abs(raw))]
        if raw < 0:
            track_ids = track_ids[:1]
        if hmac.compare_digest(token, media_token(participant, "item", index, "video")):
            return Trial.objects.select_related("clip").get(pk=abs(raw)).clip.video
        if hmac.compare_digest(token, media_token(participant, "item", index, "music")):
            return Trial.objects.select_related("clip").get(pk=abs(raw)).clip.original_audio
        for i, track_id in enumerate(track_ids):
            if hmac.compare_digest(token, media_token(participant, "item", index, LABELS[i])):
                return Track.objects.get(pk=track_id).audio
    for i, track_id in enumerate(participant.practice_tracks):
        if hmac.compare_digest(token, media_token(participant, "practice", 0, LABELS[i])):
            return Track.objects.get(pk=track_id).audio
    if participant.practice_tracks and hmac.compare_digest(
        token, media_token(participant, "practice", 0, "video")
    ):
        return (
            Track.objects.select_related("clip").get(pk=participant.practice_tracks[0]).clip.video
        )
    return None


# -- submitting a trial -------------------------------------------------------------------------


def _declared(clean, *args, **kwargs):
    """``clean`` (a part of the declared submit, ``survey.submit_schema``) as a 400."""
    try:
        return clean(*args, **kwargs)
    except schema.SchemaError as exc:
        raise ParticipationError(exc.message, code=exc.code) from None


def _item_elapsed_s(participant: Participant, index: int, now) -> float | None:
    """Seconds since item ``index`` was first shown (the server's clock), or None if never."""
    if participant.item_started_at and participant.item_started_index == index:
        return (now - participant.item_started_at).total_seconds()
    return None


def _check_listening_fits(heard: float, elapsed: float | None, what: str) -> None:
    """Nobody hears more of a track than the time its item has been on screen."""
    shown = max(elapsed or 0.0, 0.0)
    if heard > shown + LISTEN_ELAPSED_TOLERANCE_S:
        raise ParticipationError(
            f"{what} claims {heard:.1f} s of listening, but this item was shown {shown:.1f} s "
            "ago: nothing was saved",
            code="impossible_listening",
        )


def _open_submit(
    participant: Participant, index: int, submission_id: str | uuid.UUID
) -> tuple[uuid.UUID, dict | None]:
    """The checks every submit starts with. Returns the submission id, and the answer to give
    at once when this exact submission was stored before (a resend).

    A resend of a stored submission always names an item before ``progress``, so the lookup of
    earlier submissions runs only then: the common path (the next item) costs no query here."""
    if isinstance(submission_id, uuid.UUID):
        sub_id = submission_id
    else:
        sub_id = _declared(schema.clean_submission_id, submission_id)
    if index != participant.progress or participant.stage != Participant.Stage.TRIALS:
        previous = TrialResponse.objects.filter(
            participant=participant, submission_id=sub_id
        ).first()
        if previous is not None:
            return sub_id, {"status": "duplicate", "index": previous.sequence_index}
    if participant.study.status != Study.Status.LIVE:
        raise ParticipationError("this study has closed", status=410, code="closed")
    if participant.status not in (Participant.Status.ACTIVE, Participant.Status.ABANDONED):
        raise ParticipationError("this session has ended", status=409, code="ended")
    if participant.stage != Participant.Stage.TRIALS:
        raise ParticipationError("not at the trials", status=409, code="bad_stage")
    if index != participant.progress:
        raise ParticipationError(
            "this item was saved already"
            if index < participant.progress
            else "items must be done in order",
            status=409,
            code="stale" if index < participant.progress else "out_of_order",
        )
    return sub_id, None


def _reused_submission_id() -> ParticipationError:
    """The database refused the row: this participant used the submission id for another item."""
    return ParticipationError(
        "this submission id was already used for another item; reload the page",
        code="reused_submission_id",
    )


@dataclass(frozen=True)
class TrackTime:
    """What a rating submit needs of a track: its id and how long it lasts."""

    id: int
    duration_s: float


#: Track durations by track id, kept by each server process: a track's duration is fixed when
#: it is made (``generation.services``; no code path changes it, a track a study uses cannot be
#: deleted, and neither database hands out a committed row's id again), so a submit reads the
#: durations of its tracks from the database once per process instead of once per trial.
#: Bounded: emptied when it holds ``_TRACK_TIMES_MAX`` tracks.
_track_times: dict[int, float] = {}
_TRACK_TIMES_MAX = 200_000


def forget_track_durations() -> None:
    """Empty this process's track durations (tests: a rolled-back track's id is given again)."""
    _track_times.clear()


def _track_durations(ids: set[int]) -> dict[int, float]:
    missing = [i for i in ids if i not in _track_times]
    if missing:
        if len(_track_times) + len(missing) > _TRACK_TIMES_MAX:
            _track_times.clear()
        # order_by(): no ORDER BY (Track's default ordering joins the clip) for a lookup by key
        found = Track.objects.order_by().filter(pk__in=missing).values_list("id", "duration_s")
        _track_times.update(found)
    return {i: _track_times[i] for i in ids if i in _track_times}


@dataclass(frozen=True)
class RatingItem:
    """What a rating submit needs of its item (and the page of the next one): its place, kind
    and tracks in blind-label order."""

    index: int
    trial_id: int
    kind: str
    tracks: list[TrackTime]

    @property
    def labels(self) -> list[str]:
        return [LABELS[i] for i in range(len(self.tracks))]


def _rating_items(participant: Participant, indexes: list[int]) -> list[RatingItem | None]:
    """The rating items at ``indexes`` of the participant's sequence, with their tracks'
    durations (known to the process, else read in one query); None for an index past the end or
    an item that takes a description."""
    raws = [
        participant.trial_order[i] if 0 <= i < len(participant.trial_order) else None
        for i in indexes
    ]
    ids = {
        raw: participant.label_order.get(str(abs(raw)), []) if raw is not None else []
        for raw in raws
    }
    durations = _track_durations({t for track_ids in ids.values() for t in track_ids})
    items: list[RatingItem | None] = []
    for index, raw in zip(indexes, raws, strict=True):
        if raw is None or not ids[raw]:
            items.append(None)
            continue
        tracks = [TrackTime(i, durations[i]) for i in ids[raw]]
        if raw < 0:
            items.append(RatingItem(index, abs(raw), TrialResponse.Kind.ATTENTION, tracks[:1]))
        else:
            items.append(RatingItem(index, raw, TrialResponse.Kind.TRIAL, tracks))
    return items


def submit_item(
    *,
    participant: Participant,
    index: int,
    submission_id: str | uuid.UUID,
    ratings: list[dict[str, Any]] | list[schema.RatingIn] | None,
    events: list[Any] | None = None,
    show_next: bool = False,
) -> dict[str, Any]:
    """Store the ratings of item ``index``. Exactly once: a resent submit (same ``submission_id``)
    answers as the first did; any other submit of a finished item is refused (409).

    With ``show_next``, the answer's ``"next"`` is the following item when it is a rating item
    too (the trial page shows it without loading a page), and that item counts as shown now
    (``item_started_at``, which its trial response keeps as ``shown_at``; no page visit is
    recorded, as no page was loaded). One conditional UPDATE of the participant and the inserts,
    in one transaction."""
    sub_id, resent = _open_submit(participant, index, submission_id)
    if resent is not None:
        return resent
    study = participant.study
    item, following = _rating_items(participant, [index, index + 1 if show_next else -1])
    if item is None:
        raise ParticipationError("this item takes a description, not ratings", code="kind")
    cleaned = _declared(schema.clean_ratings, ratings)
    events = _declared(schema.clean_events, events)
    by_label = {r.label: r for r in cleaned}
    if set(by_label) != set(item.labels):
        raise ParticipationError(f"expected ratings for {', '.join(item.labels)}", code="labels")
    now = timezone.now()
    duration = _item_elapsed_s(participant, index, now)
    if study.min_trial_s and (duration is None or duration + 0.05 < study.min_trial_s):
        raise ParticipationError(
            f"please spend at least {study.min_trial_s:g} seconds on each video",
            status=400,
            code="too_fast",
        )
    values: dict[str, float] = {}
    listened: dict[str, float] = {}
    for label, track in zip(item.labels, item.tracks, strict=True):
        r = by_label[label]
        value, heard = r.value, r.listening_s
        if not r.moved:
            raise ParticipationError(
                f"the slider of track {label} has not been moved", code="not_moved"
            )
        if item.kind == TrialResponse.Kind.TRIAL and heard + LISTEN_TOLERANCE_S < required_listen_s(
            study=study, track=track
        ):
            raise ParticipationError(f"track {label} has not been heard yet", code="not_heard")
        _check_listening_fits(heard, duration, f"track {label}")
        values[label], listened[label] = value, heard
    try:
        last = index + 1 >= len(participant.trial_order)
        fields: dict[str, Any] = {"progress": index + 1, "last_seen_at": now}
        fields["status"] = Participant.Status.ACTIVE
        if last:
            fields["stage"] = Participant.Stage.QUESTIONNAIRE
        if following is not None:  # shown by this answer
            fields.update(item_started_at=now, item_started_index=index + 1)
        with transaction.atomic():
            # the statements of survey.hotwrite: the ORM's, with SQL built once per process
            moved = hotwrite.update(
                Participant,
                participant.pk,
                fields,
                where={"progress": index, "stage": Participant.Stage.TRIALS},
            )
            if not moved:  # a concurrent copy of this submit won the race
                raise ParticipationError("this trial was saved already", status=409, code="stale")
            response = TrialResponse(
                participant=participant,
                trial_id=item.trial_id,
                kind=item.kind,
                sequence_index=index,
                submission_id=sub_id,
                shown_at=participant.item_started_at
                if participant.item_started_index == index
                else None,
                duration_s=duration,
                listening=listened,
                events=events,
            )
            hotwrite.insert([response])
            if item.kind == TrialResponse.Kind.TRIAL:
                hotwrite.insert(
                    [
                        Rating(
                            participant=participant,
                            trial_id=item.trial_id,
                            track_id=track.id,
                            value=values[label],
                            position=pos,
                            trial_order=index,
                            listening_s=listened[label],
                            language=participant.language,
                            submission_id=sub_id,
                            trial_started_at=participant.item_started_at,
                        )
                        for pos, (label, track) in enumerate(
                            zip(item.labels, item.tracks, strict=True)
                        )
                    ]
                )
            else:
                passed = values[item.labels[0]] <= ATTENTION_MAX_VALUE
                QualityCheck.objects.create(
                    participant=participant,
                    kind=QualityCheck.Kind.ATTENTION,
                    passed=passed,
                    details={"value": values[item.labels[0]], "index": index},
                )
                if not passed and study.screen_out_on_attention_fail:
                    _screen_out(participant, "attention")
                    return {"status": "screened_out", "index": index}
    except IntegrityError:
        raise _reused_submission_id() from None
    for name, value in fields.items():
        setattr(participant, name, value)
    answer: dict[str, Any] = {"status": "stored", "index": index}
    if following is not None:
        answer["next"] = following
    return answer


# -- headphone check (Woods et al. 2017) ---------------------------------------------------------


def headphone_plan(participant: Participant) -> list[int]:
    """Per trial, the position (0-2) of the quiet in-phase tone: the right answer. Deterministic
    per participant, so a reload shows the same trials."""
    rng = random.Random(
        hmac.new(
            settings.SECRET_KEY.encode(), f"hp|{participant.code}".encode(), hashlib.sha256
        ).digest()
    )
    return [rng.randrange(3) for _ in range(HEADPHONE_TRIALS)]


def headphone_stimulus(*, quiet_position: int, sample_rate: int = 44100) -> bytes:
    """Three 200 Hz tones (1 s, 0.5 s apart): one plain, one 6 dB quieter, one in antiphase
    between the ears. Over headphones the quieter tone is heard as quietest; over loudspeakers
    the antiphase tone cancels acoustically and seems quietest instead."""
    import io

    import numpy as np
    import soundfile

    n, gap = sample_rate, sample_rate // 2
    t = np.arange(n) / sample_rate
    ramp = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.1)
    tone = 0.25 * np.sin(2 * np.pi * 200 * t) * ramp
    others = [p for p in range(3) if p != quiet_position]
    antiphase_position = others[0] if (quiet_position % 2 == 0) else others[1]
    blocks = []
    for pos in range(3):
        if pos == quiet_position:
            left = right = tone * 10 ** (-6 / 20)
        elif pos == antiphase_position:
            left, right = tone, -tone
        else:
            left = right = tone
        blocks.append(np.stack([left, right], axis=1))
        if pos < 2:
            blocks.append(np.zeros((gap, 2)))
    buf = io.BytesIO()
    soundfile.write(
        buf, np.concatenate(blocks).astype(np.float32), sample_rate, format="WAV", subtype="PCM_16"
    )
    return buf.getvalue()


def submit_headphone(*, participant: Participant, answers: list[int]) -> bool:
    if participant.stage != Participant.Stage.HEADPHONE:
        raise ParticipationError("not at the headphone check", status=409, code="bad_stage")
    plan = headphone_plan(participant)
    if len(answers) != len(plan) or any(a not in (0, 1, 2) for a in answers):
        raise ParticipationError(f"answer all {len(plan)} questions")
    correct = sum(int(a == p) for a, p in zip(answers, plan, strict=True))
    passed = correct >= HEADPHONE_PASS
    with transaction.atomic():
        updated = Participant.objects.filter(
            pk=participant.pk, stage=Participant.Stage.HEADPHONE
        ).update(headphone_passed=passed, stage=Participant.Stage.TRIALS)
        if not updated:
            return bool(Participant.objects.get(pk=participant.pk).headphone_passed)
        QualityCheck.objects.create(
            participant=participant,
            kind=QualityCheck.Kind.HEADPHONE,
            passed=passed,
            details={"answers": answers, "correct": correct, "of": len(plan)},
        )
        if not passed:
            _screen_out(participant, "headphones")
    participant.refresh_from_db()
    return passed


def _screen_out(participant: Participant, reason: str) -> None:
    Participant.objects.filter(pk=participant.pk).update(
        status=Participant.Status.SCREENED_OUT,
        stage=Participant.Stage.DONE,
        screened_out_reason=reason,
        completion_code=participant.study.screenout_code,
        completed_at=timezone.now(),
    )
    participant.refresh_from_db()


# -- questionnaire and completion ---------------------------------------------------------------

QUESTIONNAIRE_FIELDS = ("age_range", "device", "music_training", "comment")


def expected_ratings(participant: Participant) -> int:
    return sum(len(participant.label_order[str(t)]) for t in participant.trial_order if t > 0)


def _all_answers_stored(participant: Participant) -> bool:
    if participant.form is not None and participant.form.kind == Form.Kind.ANNOTATION:
        return Annotation.objects.filter(participant=participant).count() == len(
            participant.trial_order
        )
    return Rating.objects.filter(participant=participant).count() == expected_ratings(participant)


def participant_complete(*, participant: Participant, answers: dict[str, str]) -> Participant:
    """Store the questionnaire and complete, only once every rating is confirmed stored."""
    if participant.status == Participant.Status.COMPLETED:
        return participant
    if participant.stage != Participant.Stage.QUESTIONNAIRE:
        raise ParticipationError("not at the questionnaire", status=409, code="bad_stage")
    if not _all_answers_stored(participant):
        raise ParticipationError(
            "some answers are not stored yet; please go back", status=409, code="incomplete"
        )
    clean = {
        k: _declared(schema.clean_text, str(answers.get(k, ""))[:2000], k, max_chars=2000)
        for k in QUESTIONNAIRE_FIELDS
    }
    Participant.objects.filter(pk=participant.pk, status=Participant.Status.ACTIVE).update(
        answers=clean,
        status=Participant.Status.COMPLETED,
        stage=Participant.Stage.DONE,
        completion_code=participant.study.completion_code,
        completed_at=timezone.now(),
    )
    participant.refresh_from_db()
    from survey.privacy import flag_timing

    flag_timing(participant)  # a pace no person can keep: flagged for the admin and the report
    return participant


def redirect_url(*, study: Study, code: str) -> str:
    """The recruiter's URL for ``code``: ``{code}`` in the configured URL is replaced, else the
    URL is used as it is (Prolific's complete URL carries its own ``cc=``)."""
    url = study.completion_redirect_url
    if not url:
        return ""
    return url.replace("{code}", code)


# -- annotation -------------------------------------------------------------------------------

MAX_DESCRIPTION_CHARS = 4000


def required_listen_clip_s(*, study: Study, trial: Trial) -> float:
    if study.min_listen_s is not None:
        return min(study.min_listen_s, trial.clip.duration_s)
    return trial.clip.duration_s


def _clean_tags(raw: Any, vocabulary: dict[str, list[str]]) -> dict[str, list[str]]:
    if raw in (None, {}, []):
        return {}
    if not isinstance(raw, dict):
        raise ParticipationError("tags must be an object of category: [tags]")
    out: dict[str, list[str]] = {}
    for category, tags in raw.items():
        if category not in vocabulary:
            raise ParticipationError(f"unknown tag category {str(category)[:40]!r}")
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise ParticipationError(f"the tags of {category!r} must be a list of words")
        unknown = [t for t in tags if t not in vocabulary[category]]
        if unknown:
            raise ParticipationError(f"unknown tag {unknown[0][:40]!r} in {category!r}")
        if tags:
            out[category] = sorted(set(tags))
    return out


def submit_annotation(
    *,
    participant: Participant,
    index: int,
    submission_id: str | uuid.UUID,
    text: Any,
    tags: Any = None,
    listening_s: Any = 0,
    events: list[Any] | None = None,
) -> dict[str, Any]:
    """Store a description of item ``index`` exactly once, with a caption of kind ``human_msi``
    whose provenance is the annotator's code and timing."""
    from generation.models import Caption, CaptionKind

    sub_id, resent = _open_submit(participant, index, submission_id)
    if resent is not None:
        return resent
    study = participant.study
    item = participant_item(participant=participant, index=index)
    if item.kind != TrialResponse.Kind.ANNOTATION:
        raise ParticipationError("this item is not a description", code="kind")
    form = item.trial.form
    text = " ".join(
        _declared(
            schema.clean_text, text, "the description", max_chars=2 * MAX_DESCRIPTION_CHARS
        ).split()
    )
    if len(text) < form.min_description_chars:
        raise ParticipationError(
            f"please write at least {form.min_description_chars} characters", code="too_short"
        )
    if len(text) > MAX_DESCRIPTION_CHARS:
        raise ParticipationError(
            f"please keep it under {MAX_DESCRIPTION_CHARS} characters", code="too_long"
        )
    heard = _declared(schema.clean_listening, listening_s)
    events = _declared(schema.clean_events, events)
    if heard + LISTEN_TOLERANCE_S < required_listen_clip_s(study=study, trial=item.trial):
        raise ParticipationError("please listen to the music first", code="not_heard")
    chosen = _clean_tags(_declared(schema.clean_tags, tags), form.tag_vocabulary or {})
    now = timezone.now()
    duration = _item_elapsed_s(participant, index, now)
    _check_listening_fits(heard, duration, "the music")
    if study.min_trial_s and (duration is None or duration + 0.05 < study.min_trial_s):
        raise ParticipationError(
            f"please spend at least {study.min_trial_s:g} seconds on each clip", code="too_fast"
        )
    try:
        with transaction.atomic():
            moved = Participant.objects.filter(
                pk=participant.pk, progress=index, stage=Participant.Stage.TRIALS
            ).update(progress=index + 1, last_seen_at=now, status=Participant.Status.ACTIVE)
            if not moved:
                raise ParticipationError(
                    "this description was saved already", status=409, code="stale"
                )
            TrialResponse.objects.create(
                participant=participant,
                trial=item.trial,
                kind=TrialResponse.Kind.ANNOTATION,
                sequence_index=index,
                submission_id=sub_id,
                shown_at=participant.item_started_at
                if participant.item_started_index == index
                else None,
                duration_s=duration,
                listening={"music": heard},
                events=events,
            )
            caption = Caption.objects.create(
                clip=item.trial.clip,
                kind=CaptionKind.HUMAN_MSI,
                text=text,
                author_note=f"annotator {participant.public_id} ({study.slug}/{form.name})",
                parameters={
                    "participant": participant.public_id,
                    "study": study.slug,
                    "form": form.name,
                    "tags": chosen,
                    "listening_s": heard,
                    "duration_s": duration,
                    "written_at": now.isoformat(),
                },
            )
            Annotation.objects.create(
                participant=participant,
                trial=item.trial,
                text=text,
                tags=chosen,
                listening_s=heard,
                duration_s=duration,
                submission_id=sub_id,
                caption=caption,
            )
            if index + 1 >= len(participant.trial_order):
                Participant.objects.filter(pk=participant.pk).update(
                    stage=Participant.Stage.QUESTIONNAIRE
                )
    except IntegrityError:
        raise _reused_submission_id() from None
    participant.progress = index + 1
    return {"status": "stored", "index": index}
