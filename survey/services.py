"""Writes of the survey app: designing, sampling, validating and running studies."""

from __future__ import annotations

import logging
import random
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from generation import media
from generation.models import Clip, Condition
from generation.selectors import track_for
from generation.services import conditions_ensure_paper
from survey.access import RESEARCHER_GROUP, RESEARCHER_PERMISSIONS
from survey.models import (
    STUDY_TEXT_FIELDS,
    DataDeletion,
    Form,
    Participant,
    Rating,
    Study,
    StudyText,
    Trial,
    TrialTrack,
)

logger = logging.getLogger(__name__)

#: The paper's two forms: 15 videos x {video, music, MSI} and 8 videos x {fusion, MSI}.
PAPER_FORMS: tuple[tuple[str, int, tuple[str, ...]], ...] = (
    ("form1", 15, ("video_caps", "music_caps", "msi")),
    ("form2", 8, ("fusion", "msi")),
)


def researcher_group_ensure() -> Group:
    """The Researcher group: found, or made with exactly ``RESEARCHER_PERMISSIONS``.

    The group is made by a migration; a database that lost it (restored from a partial dump,
    flushed by a test) gets it back here instead of failing. An existing group is left as is.
    """
    group, created = Group.objects.get_or_create(name=RESEARCHER_GROUP)
    if created:
        wanted = []
        for name in RESEARCHER_PERMISSIONS:
            app_label, codename = name.split(".")
            wanted.append(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )
        group.permissions.set(wanted)
    return group


def _ensure_unlocked(study: Study) -> None:
    if study.is_locked:
        raise ValidationError(f"study {study.slug!r} is {study.status}: its design is locked")


def form_create(
    *,
    study: Study,
    name: str,
    n_videos: int,
    conditions: list[Condition] | None = None,
    clip_pool: list[Clip] | None = None,
    kind: str = Form.Kind.RATING,
    **annotation,
) -> Form:
    """A rating form (``conditions`` required) or an annotation form (``kind="annotation"``, with
    ``annotation_media``, ``annotators_per_clip``, ``min_description_chars``,
    ``tag_vocabulary``)."""
    _ensure_unlocked(study)
    conditions = conditions or []
    if kind == Form.Kind.RATING and not conditions:
        raise ValidationError("a form needs at least one condition")
    form = Form.objects.create(study=study, name=name, n_videos=n_videos, kind=kind, **annotation)
    form.conditions.set(conditions)
    if clip_pool:
        form.clip_pool.set(clip_pool)
    return form


@transaction.atomic
def form_sample_trials(*, form: Form, seed: int | None = None) -> list[Trial]:
    """Draw ``form.n_videos`` clips from the pool with a seeded RNG, store the seed, make trials
    and bind each condition's track. A new draw replaces the old one (drafts only)."""
    form = Form.objects.select_for_update().select_related("study").get(pk=form.pk)
    _ensure_unlocked(form.study)
    pool = list(form.clip_pool.order_by("key")) or list(Clip.objects.order_by("key"))
    if form.kind == Form.Kind.ANNOTATION:
        # Every clip of the pool is a trial; each annotator is given n_videos of them at start.
        form.trials.all().delete()
        trials = Trial.objects.bulk_create(
            [Trial(form=form, clip=clip, position=i) for i, clip in enumerate(pool)]
        )
        form.seed = seed if seed is not None else 0
        form.sampled_at = timezone.now()
        form.save(update_fields=["seed", "sampled_at"])
        return trials
    if len(pool) < form.n_videos:
        raise ValidationError(
            f"form {form.name!r} wants {form.n_videos} videos but its pool has {len(pool)} clips"
        )
    if seed is None:
        seed = secrets.randbits(31)
    chosen = random.Random(seed).sample(pool, form.n_videos)
    form.trials.all().delete()
    trials = Trial.objects.bulk_create(
        [Trial(form=form, clip=clip, position=i) for i, clip in enumerate(chosen)]
    )
    form.seed = seed
    form.sampled_at = timezone.now()
    form.save(update_fields=["seed", "sampled_at"])
    form_bind_tracks(form=form)
    logger.info("sampled %d trials for %s with seed %d", len(trials), form, seed)
    return trials


@transaction.atomic
def form_bind_tracks(*, form: Form) -> int:
    """Bind the newest track of each (trial clip, condition); returns how many are still missing."""
    _ensure_unlocked(form.study)
    missing = 0
    if form.kind == Form.Kind.ANNOTATION:
        return 0
    conditions = list(form.conditions.all())
    for trial in form.trials.select_related("clip"):
        for condition in conditions:
            track = track_for(clip=trial.clip, condition=condition)
            if track is None:
                missing += 1
                TrialTrack.objects.filter(trial=trial, condition=condition).delete()
                continue
            TrialTrack.objects.update_or_create(
                trial=trial, condition=condition, defaults={"track": track}
            )
        TrialTrack.objects.filter(trial=trial).exclude(condition__in=conditions).delete()
    return missing


@transaction.atomic
def study_bind_tracks(*, study: Study) -> int:
    """Bind the newest tracks to the trials of every form of a draft study, whatever made them
    (a job just now, an earlier one, another generator); returns the trial tracks still missing."""
    _ensure_unlocked(study)
    return sum(form_bind_tracks(form=form) for form in study.forms.all())


@transaction.atomic
def study_add_paper_forms(
    *,
    study: Study,
    seed: int | None = None,
    max_videos: int | None = None,
    clip_pool: list[Clip] | None = None,
) -> list[Form]:
    """The paper's design in one step: form1 (15 x video/music/MSI) and form2 (8 x fusion/MSI),
    sampled with ``seed`` (form i uses seed + i, so both are reproducible from one number).
    ``max_videos`` caps the videos per form (for pilots with a small clip pool); ``clip_pool``
    (e.g. the held-out clips of a stored split, which MusiScene was not trained on) is what the
    forms sample from, default every clip."""
    _ensure_unlocked(study)
    conditions = {c.name: c for c in conditions_ensure_paper()}
    base = secrets.randbits(30) if seed is None else seed
    forms = []
    for i, (name, n_videos, cond_names) in enumerate(PAPER_FORMS):
        if max_videos is not None:
            n_videos = min(n_videos, max_videos)
        form = study.forms.filter(name=name).first() or form_create(
            study=study,
            name=name,
            n_videos=n_videos,
            conditions=[conditions[c] for c in cond_names],
            clip_pool=clip_pool,
        )
        form_sample_trials(form=form, seed=base + i)
        form.refresh_from_db()
        forms.append(form)
    return forms


@dataclass(frozen=True)
class Problem:
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


def study_validate(*, study: Study, decode: bool = True) -> list[Problem]:
    """Everything that would break a participant's session. Empty list = ready to go live.

    Checks: every form has conditions and exactly ``n_videos`` trials; every trial has a track for
    each condition; each track's files exist and decode (``decode=True``) and were normalised to
    the study's loudness target.
    """
    problems: list[Problem] = []
    forms = list(study.forms.prefetch_related("conditions"))
    if not forms:
        problems.append(Problem(study.slug, "the study has no forms"))
    problems.extend(
        study_language_problems(study=study, rating=any(f.kind == Form.Kind.RATING for f in forms))
    )
    checked: set[int] = set()
    for form in forms:
        if form.sampled_at is None:
            problems.append(
                Problem(form.name, "the form's trials were never sampled (Forms → Sample trials)")
            )
        if form.kind == Form.Kind.ANNOTATION:
            problems.extend(_validate_annotation_form(form, decode=decode))
            continue
        conditions = list(form.conditions.all())
        if not conditions:
            problems.append(Problem(form.name, "the form has no conditions"))
        trials = list(
            form.trials.select_related("clip").prefetch_related(
                "trial_tracks__track", "trial_tracks__condition"
            )
        )
        if len(trials) != form.n_videos:
            problems.append(
                Problem(form.name, f"{len(trials)} trials sampled, {form.n_videos} wanted")
            )
        for trial in trials:
            bound = {tt.condition_id: tt.track for tt in trial.trial_tracks.all()}
            for condition in conditions:
                track = bound.get(condition.id)
                where = f"{form.name} / {trial.clip.key} / {condition.name}"
                if track is None:
                    problems.append(Problem(where, "no track"))
                    continue
                if abs(track.loudness_target_lufs - study.loudness_target_lufs) > 0.5:
                    problems.append(
                        Problem(
                            where,
                            f"track normalised to {track.loudness_target_lufs:g} LUFS, "
                            f"the study's target is {study.loudness_target_lufs:g} LUFS",
                        )
                    )
                if track.id in checked:
                    continue
                checked.add(track.id)
                for label, field in (("audio", track.audio), ("video", track.video)):
                    problems.extend(_check_file(where, label, field, decode=decode))
    return problems


_TEXT_NAMES = {
    "title": "title",
    "consent_text": "consent text",
    "instructions_text": "instructions",
    "question": "question",
    "scale_min_label": "scale's low-end label",
    "scale_max_label": "scale's high-end label",
    "privacy_text": "privacy text",
}


def study_language_problems(*, study: Study, rating: bool = True) -> list[Problem]:
    """Every offered language needs the study's texts in it: a ``StudyText`` with the consent,
    the instructions and (for rating forms) the question and the scale's end labels, and the
    privacy text when the study has its own. The title may stay empty (the study's own)."""
    from django.utils.translation import get_language_info

    problems: list[Problem] = []
    site = {code for code, _name in settings.LANGUAGES}
    for code in study.languages or []:
        if code not in site:
            problems.append(
                Problem("languages", f"{code!r} is not a language of this site (LANGUAGES)")
            )
    if study.languages and study.default_language not in study.languages:
        problems.append(
            Problem("languages", f"the default language {study.default_language!r} is not offered")
        )
    needed = ["consent_text", "instructions_text"]
    if rating:
        needed += ["question", "scale_min_label", "scale_max_label"]
    if study.privacy_text.strip():
        needed.append("privacy_text")
    texts = {t.language: t for t in StudyText.objects.filter(study=study)}
    for code in study.offered_languages:
        if code == study.default_language:
            continue
        where = f"texts in {get_language_info(code)['name']} ({code})"
        text = texts.get(code)
        missing = [
            _TEXT_NAMES[f]
            for f in STUDY_TEXT_FIELDS
            if f in needed and not (text is not None and getattr(text, f).strip())
        ]
        if missing:
            problems.append(Problem(where, "missing " + ", ".join(missing)))
    return problems


def _validate_annotation_form(form: Form, *, decode: bool) -> list[Problem]:
    problems: list[Problem] = []
    trials = list(form.trials.select_related("clip"))
    if len(trials) < form.n_videos:
        problems.append(
            Problem(
                form.name, f"{len(trials)} clips in the pool, each annotator needs {form.n_videos}"
            )
        )
    if not isinstance(form.tag_vocabulary, dict) or not all(
        isinstance(v, list) and all(isinstance(t, str) for t in v)
        for v in form.tag_vocabulary.values()
    ):
        problems.append(
            Problem(form.name, 'the tag vocabulary must look like {"mood": ["calm", "sad"]}')
        )
    for trial in trials:
        where = f"{form.name} / {trial.clip.key}"
        problems.extend(
            _check_file(
                where, "music (the clip's original audio)", trial.clip.original_audio, decode=decode
            )
        )
        if form.annotation_media == Form.AnnotationMedia.VIDEO:
            problems.extend(_check_file(where, "video", trial.clip.video, decode=decode))
    return problems


def _check_file(where: str, label: str, field, *, decode: bool) -> list[Problem]:
    if not field or not field.name or not field.storage.exists(field.name):
        return [Problem(where, f"the {label} file is missing")]
    if not decode:
        return []
    try:
        local = field.path
    except NotImplementedError:  # remote storage: the object exists; decoding is a worker's job
        return []
    try:
        media.probe(local, max_duration_s=settings.MEDIA_MAX_DURATION_S)
    except media.MediaError as exc:
        return [Problem(where, f"the {label} file does not decode: {exc}")]
    return []


@transaction.atomic
def study_go_live(*, study: Study) -> Study:
    """Validate and open the study; from now on its design is locked."""
    study = Study.objects.select_for_update().get(pk=study.pk)
    if study.status != Study.Status.DRAFT:
        raise ValidationError(f"study {study.slug!r} is {study.status}, not a draft")
    problems = study_validate(study=study)
    if problems:
        raise ValidationError([str(p) for p in problems])
    study.status = Study.Status.LIVE
    study.live_at = timezone.now()
    study.save(update_fields=["status", "live_at"])
    return study


@transaction.atomic
def study_close(*, study: Study) -> Study:
    study = Study.objects.select_for_update().get(pk=study.pk)
    if study.status != Study.Status.LIVE:
        raise ValidationError(f"study {study.slug!r} is {study.status}, not live")
    study.status = Study.Status.CLOSED
    study.closed_at = timezone.now()
    study.save(update_fields=["status", "closed_at"])
    return study


@transaction.atomic
def data_delete(*, objects, user=None) -> list[DataDeletion]:
    """Delete participants (with everything they gave) or single ratings, recording for each who
    deleted it, when and what. Refused while a study is live: close it first."""
    objects = list(objects)
    study_ids = {
        o.study_id if isinstance(o, Participant) else o.participant.study_id for o in objects
    }
    live = Study.objects.filter(pk__in=study_ids, status=Study.Status.LIVE)
    if live.exists():
        raise ValidationError(
            f"study {', '.join(live.values_list('slug', flat=True))} is live: its participants "
            "and ratings cannot be deleted until it is closed"
        )
    name = getattr(user, "get_username", lambda: "")() if user is not None else ""
    records = []
    details: dict[str, object]
    for obj in objects:
        if isinstance(obj, Participant):
            details = {
                "status": obj.status,
                "form": obj.form.name if obj.form is not None else None,
                "ratings": obj.ratings.count(),
                "annotations": obj.annotations.count(),
                "responses": obj.responses.count(),
                "checks": obj.checks.count(),
            }
            summary = (
                f"participant {obj.public_id} ({obj.status}"
                + (f", form {details['form']}" if details["form"] else "")
                + f"): {details['ratings']} ratings, {details['annotations']} annotations"
            )
            what, who, study_id = DataDeletion.What.PARTICIPANT, obj.public_id, obj.study_id
        elif isinstance(obj, Rating):
            p = obj.participant
            details = {
                "rating": obj.pk,
                "clip": obj.trial.clip.key,
                "form": obj.trial.form.name,
                "condition": obj.track.condition.name,
                "track": obj.track_id,
                "value": obj.value,
            }
            summary = (
                f"rating {obj.pk} of {p.public_id}: {details['form']} / {details['clip']} / "
                f"{details['condition']} = {obj.value:g}"
            )
            what, who, study_id = DataDeletion.What.RATING, p.public_id, p.study_id
        else:
            raise TypeError(f"data_delete deletes participants and ratings, not {type(obj)}")
        records.append(
            DataDeletion(
                study_id=study_id,
                what=what,
                participant=who,
                summary=summary[:400],
                details=details,
                deleted_by=user if user is not None and user.pk else None,
                deleted_by_name=name,
            )
        )
        obj.delete()
    DataDeletion.objects.bulk_create(records)
    logger.info("deleted %d objects of studies %s (by %s)", len(records), sorted(study_ids), name)
    return records
