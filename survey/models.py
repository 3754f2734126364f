"""Studies, their forms and trials, participants and their ratings.

One file because the models and the guards that lock a study's design and live data (the signal
receivers at the end) are one set of rules; Django loads an app's models from here.

The database enforces the invariants that matter for the science: one rating per participant
and track, 0 <= value <= 100, one participant per recruiter id in a study.
"""

from __future__ import annotations

import contextlib
import contextvars
import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.db.models.signals import m2m_changed, pre_delete, pre_save
from django.dispatch import receiver

from generation.models import Clip, Condition, Track


def new_participant_code() -> str:
    return secrets.token_urlsafe(16)  # 128 bits: unguessable


def public_participant_id(pk: int) -> str:
    return f"P{pk:06d}"


def new_completion_code() -> str:
    return secrets.token_hex(4).upper()


#: The instructions a study starts with; an annotation form shows ANNOTATION_INSTRUCTIONS
#: instead while the study keeps this default (see ``Study.annotation_instructions``).
RATING_INSTRUCTIONS = (
    "Watch each video with each of its soundtracks, then rate how well each one suits the video."
)
ANNOTATION_INSTRUCTIONS = (
    "Listen to each piece of music, then describe the scene or video it would suit."
)


def site_language_choices() -> list[tuple[str, str]]:
    return [(code, str(name)) for code, name in settings.LANGUAGES]


def default_study_languages() -> list[str]:
    return [settings.LANGUAGE_CODE]


#: The researcher's texts that participants read, in the order the admin shows them. A study
#: holds them in its default language; a ``StudyText`` holds them in each other offered language.
STUDY_TEXT_FIELDS = (
    "title",
    "consent_text",
    "instructions_text",
    "question",
    "scale_min_label",
    "scale_max_label",
    "privacy_text",
)


class Study(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        LIVE = "live", "Live"
        CLOSED = "closed", "Closed"

    title = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.DRAFT)
    researchers = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        related_name="studies",
        blank=True,
        help_text="Who may see and change this study (superusers see all).",
    )
    languages = models.JSONField(
        default=default_study_languages,
        help_text="The languages participants may take the study in (codes of LANGUAGES); "
        "empty = the default language only.",
    )
    default_language = models.CharField(
        max_length=10,
        choices=site_language_choices,
        default="en",
        help_text="The language of the texts below, and the one a participant gets when their "
        "browser asks for none of the study's languages.",
    )
    consent_text = models.TextField(default="I agree to take part in this listening study.")
    instructions_text = models.TextField(default=RATING_INSTRUCTIONS)
    question = models.CharField(max_length=300, default="How well does this music suit the video?")
    scale_min_label = models.CharField(max_length=60, default="Not at all")
    scale_max_label = models.CharField(max_length=60, default="Perfectly")
    target_per_form = models.PositiveIntegerField(
        default=50, help_text="Respondents wanted per form."
    )
    min_listen_s = models.FloatField(
        null=True,
        blank=True,
        help_text="A slider unlocks after this many seconds of a track; empty = the whole track.",
    )
    loudness_target_lufs = models.FloatField(
        default=-23.0, help_text="Integrated loudness of every track."
    )
    completion_code = models.CharField(max_length=32, default=new_completion_code)
    decline_code = models.CharField(max_length=32, default=new_completion_code)
    screenout_code = models.CharField(max_length=32, default=new_completion_code)
    completion_redirect_url = models.URLField(
        blank=True, help_text="E.g. https://app.prolific.com/submissions/complete?cc=CODE"
    )
    abandon_after_minutes = models.PositiveIntegerField(
        default=60, help_text="A participant idle this long releases their form slot."
    )
    # Quality controls: all off by default.
    headphone_check = models.BooleanField(
        default=False,
        help_text="Antiphase headphone screen (Woods et al. 2017): 6 trials, pass with 5 correct.",
    )
    attention_trials = models.PositiveSmallIntegerField(
        default=0,
        help_text='Instructed-response checks ("set this slider to 0") mixed into the trials.',
    )
    screen_out_on_attention_fail = models.BooleanField(
        default=False,
        help_text=(
            "End the study (screen-out code) at a failed attention check; else only record it."
        ),
    )
    min_trial_s = models.FloatField(
        null=True,
        blank=True,
        help_text="A trial cannot be submitted sooner than this many seconds after it opened.",
    )
    # Hostile clients (docs/how-to/ops/security.md).
    max_starts_per_minute = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="New participants admitted in any minute; empty = the site default "
        "(RATELIMIT_STUDY_STARTS_PER_MIN). A bot cannot fill the study faster than this.",
    )
    require_recruiter_id = models.BooleanField(
        default=False,
        help_text="Admit only links that carry a well-formed PROLIFIC_PID (24 hexadecimal "
        "characters), as Prolific sends them.",
    )
    # Personal data (docs/how-to/ops/data-protection.md).
    retention_until = models.DateField(
        null=True,
        blank=True,
        help_text="After this date `purge_identifying_data` (and its daily task) blanks recruiter "
        "ids, user agents and free-text answers; the pseudonymised research data stays.",
    )
    privacy_text = models.TextField(
        blank=True,
        help_text="Shown on the consent page: what is stored, why, for how long, how to withdraw, "
        "who to contact. Empty = the platform's standard text with this study's retention date.",
    )
    contact_email = models.EmailField(
        blank=True, help_text="Where participants write to withdraw or ask about their data."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    live_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    purged_at = models.DateTimeField(
        null=True, blank=True, help_text="When identifying fields were last purged."
    )

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "studies"
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["draft", "live", "closed"]), name="study_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.title

    def clean(self) -> None:
        languages = self.languages
        if isinstance(languages, list) and languages and self.default_language not in languages:
            raise ValidationError(
                {"default_language": "The default language must be one of the study's languages."}
            )

    @property
    def annotation_instructions(self) -> str:
        """What annotators read: the researcher's text, unless it is still the rating default
        (which speaks of rating soundtracks, not describing music)."""
        if self.instructions_text.strip() == RATING_INSTRUCTIONS:
            return ANNOTATION_INSTRUCTIONS
        return self.instructions_text

    @property
    def is_locked(self) -> bool:
        """Once live, the design (forms, trials, tracks) can no longer change."""
        return self.status != self.Status.DRAFT

    @property
    def offered_languages(self) -> list[str]:
        """The study's languages that the site has, the default first; never empty."""
        site = {code for code, _name in settings.LANGUAGES}
        offered = [c for c in (self.languages or []) if isinstance(c, str) and c in site]
        return [self.default_language] + [c for c in offered if c != self.default_language]

    def texts_in(self, language: str) -> StudyText | Study:
        """The object that holds this study's texts in ``language`` (``STUDY_TEXT_FIELDS``):
        the study itself in its default language, else its ``StudyText`` for that language
        (loaded once per study object), else the study (its default language)."""
        if language == self.default_language:
            return self
        cache = self.__dict__.setdefault("_texts_cache", {})
        if language not in cache:
            cache[language] = StudyText.objects.filter(study=self, language=language).first()
        return cache[language] or self

    def text(self, field: str, language: str) -> str:
        """One text in ``language``; a blank title or privacy text falls back to the study's
        own (the platform's standard privacy text when that is blank too)."""
        value = getattr(self.texts_in(language), field)
        if not value and field in ("title", "privacy_text"):
            return getattr(self, field) if field == "title" else ""
        return value


class StudyText(models.Model):
    """The study's participant-facing texts in one more of its languages."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="texts")
    language = models.CharField(max_length=10, choices=site_language_choices)
    title = models.CharField(
        max_length=200, blank=True, help_text="Empty = the study's title as it is."
    )
    consent_text = models.TextField(blank=True)
    instructions_text = models.TextField(blank=True)
    question = models.CharField(max_length=300, blank=True)
    scale_min_label = models.CharField(max_length=60, blank=True)
    scale_max_label = models.CharField(max_length=60, blank=True)
    privacy_text = models.TextField(
        blank=True,
        help_text="Needed when the study has its own privacy text; empty otherwise (the "
        "platform's standard text, translated).",
    )

    class Meta:
        ordering = ["study", "language"]
        constraints = [
            models.UniqueConstraint(fields=["study", "language"], name="studytext_one_per_language")
        ]

    def __str__(self) -> str:
        return f"{self.study.slug} [{self.language}]"


DEFAULT_TAG_VOCABULARY = {
    "mood": ["calm", "happy", "sad", "tense", "romantic", "epic", "playful", "dark"],
    "setting": ["city", "nature", "sea", "home", "party", "sport", "travel", "film scene"],
    "time of day": ["morning", "day", "evening", "night"],
    "pace": ["slow", "moderate", "fast"],
}


def default_tag_vocabulary() -> dict[str, list[str]]:
    return {k: list(v) for k, v in DEFAULT_TAG_VOCABULARY.items()}


class Form(models.Model):
    """One questionnaire of a study: N videos sampled from a clip pool x a set of conditions
    (a rating form), or N clips from the pool to describe (an annotation form)."""

    class Kind(models.TextChoices):
        RATING = "rating", "Rating (blind tracks, 0-100)"
        ANNOTATION = "annotation", "Annotation (describe the scene the music evokes)"

    class AnnotationMedia(models.TextChoices):
        AUDIO = "audio", "Audio only"
        VIDEO = "video", "The clip's own video (muted) with its music"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="forms")
    name = models.CharField(max_length=80)
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.RATING)
    conditions = models.ManyToManyField(Condition, related_name="forms", blank=True)
    n_videos = models.PositiveIntegerField(
        default=15, help_text="Videos per participant (annotation: clips each annotator describes)."
    )
    annotation_media = models.CharField(
        max_length=8, choices=AnnotationMedia.choices, default=AnnotationMedia.AUDIO
    )
    annotators_per_clip = models.PositiveIntegerField(
        default=3, help_text="Annotation: descriptions wanted per clip."
    )
    min_description_chars = models.PositiveIntegerField(
        default=30, help_text="Annotation: shortest description."
    )
    tag_vocabulary = models.JSONField(
        default=default_tag_vocabulary,
        blank=True,
        help_text='Annotation: optional tags, {"mood": ["calm", ...], ...}.',
    )
    clip_pool = models.ManyToManyField(
        Clip, related_name="+", blank=True, help_text="Clips to sample from; empty = every clip."
    )
    seed = models.BigIntegerField(
        null=True, blank=True, help_text="Seed of the last sampling (stored)."
    )
    sampled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["study", "name"]
        constraints = [
            models.UniqueConstraint(fields=["study", "name"], name="form_unique_name"),
            models.CheckConstraint(condition=Q(n_videos__gte=1), name="form_n_videos_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.study.slug} / {self.name}"


class Trial(models.Model):
    """A video of a form with the tracks shown with it (one per condition)."""

    form = models.ForeignKey(Form, on_delete=models.CASCADE, related_name="trials")
    clip = models.ForeignKey(Clip, on_delete=models.PROTECT, related_name="trials")
    position = models.PositiveIntegerField(
        help_text="Order in the form's design (participants see their own order)."
    )
    tracks: models.ManyToManyField[Track, TrialTrack] = models.ManyToManyField(
        Track, through="TrialTrack", related_name="trials"
    )

    class Meta:
        ordering = ["form", "position"]
        constraints = [
            models.UniqueConstraint(fields=["form", "clip"], name="trial_unique_clip"),
            models.UniqueConstraint(fields=["form", "position"], name="trial_unique_position"),
        ]

    def __str__(self) -> str:
        return f"{self.form} #{self.position} {self.clip.key}"


class TrialTrack(models.Model):
    trial = models.ForeignKey(Trial, on_delete=models.CASCADE, related_name="trial_tracks")
    condition = models.ForeignKey(Condition, on_delete=models.PROTECT, related_name="+")
    track = models.ForeignKey(Track, on_delete=models.PROTECT, related_name="trial_tracks")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["trial", "condition"], name="trialtrack_one_per_condition"
            ),
            models.UniqueConstraint(fields=["trial", "track"], name="trialtrack_unique_track"),
        ]

    def __str__(self) -> str:
        return f"trial {self.trial_id}: {self.condition_id} -> track {self.track_id}"


class Participant(models.Model):
    class Stage(models.TextChoices):
        INSTRUCTIONS = "instructions", "Instructions"
        PRACTICE = "practice", "Practice trial"
        HEADPHONE = "headphone", "Headphone check"
        TRIALS = "trials", "Trials"
        QUESTIONNAIRE = "questionnaire", "Questionnaire"
        DONE = "done", "Done"

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        COMPLETED = "completed", "Completed"
        ABANDONED = "abandoned", "Abandoned"
        DECLINED = "declined", "Declined consent"
        SCREENED_OUT = "screened_out", "Screened out"

    code = models.CharField(
        max_length=32, unique=True, default=new_participant_code, editable=False
    )
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="participants")
    form = models.ForeignKey(
        Form, null=True, blank=True, on_delete=models.PROTECT, related_name="participants"
    )
    prolific_pid = models.CharField("PROLIFIC_PID", max_length=64, blank=True)
    external_study_id = models.CharField("STUDY_ID", max_length=64, blank=True)
    external_session_id = models.CharField("SESSION_ID", max_length=64, blank=True)
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.ACTIVE, db_index=True
    )
    stage = models.CharField(max_length=16, choices=Stage.choices, default=Stage.INSTRUCTIONS)
    consented_at = models.DateTimeField(null=True, blank=True)
    trial_order = models.JSONField(
        default=list,
        blank=True,
        help_text=(
            "This participant's sequence: trial ids; a negative id is an attention check on "
            "that trial's clip."
        ),
    )
    label_order = models.JSONField(
        default=dict,
        blank=True,
        help_text="Per trial id: track ids in blind-label order (A, B, C...).",
    )
    practice_tracks = models.JSONField(
        default=list, blank=True, help_text="Track ids of the practice trial."
    )
    progress = models.PositiveIntegerField(
        default=0, help_text="Index of the next unfinished item of the sequence."
    )
    item_started_at = models.DateTimeField(
        null=True, blank=True, help_text="When the current item was first shown."
    )
    item_started_index = models.IntegerField(default=-1)
    headphone_passed = models.BooleanField(null=True, blank=True)
    screened_out_reason = models.CharField(max_length=40, blank=True)
    user_agent = models.CharField(max_length=400, blank=True)
    language = models.CharField(
        max_length=10, default="en", help_text="The language the participant took the study in."
    )
    answers = models.JSONField(default=dict, blank=True, help_text="The closing questionnaire.")
    completion_code = models.CharField(max_length=32, blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    timing_flag = models.CharField(
        max_length=200,
        blank=True,
        help_text="Why this participant's pace is not humanly possible (empty = plausible); "
        "the screening rules exclude flagged participants.",
    )
    simulated = models.BooleanField(
        default=False,
        editable=False,
        help_text="Created by the participant simulator (demo, pilots), not a person: exports "
        "and reports show it.",
    )

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["study", "prolific_pid"],
                condition=~Q(prolific_pid=""),
                name="participant_unique_prolific_pid",
            ),
        ]
        indexes = [models.Index(fields=["study", "form", "status"])]

    def __str__(self) -> str:
        return f"{self.public_id} ({self.status})"

    @property
    def public_id(self) -> str:
        """The id that exports, reports and caption provenance use. The ``code`` itself opens the
        participant's session, so it never leaves the server."""
        return public_participant_id(self.pk)


class Rating(models.Model):
    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="ratings")
    trial = models.ForeignKey(Trial, on_delete=models.PROTECT, related_name="ratings")
    track = models.ForeignKey(Track, on_delete=models.PROTECT, related_name="ratings")
    value = models.FloatField()
    position = models.PositiveSmallIntegerField(
        help_text="0-based blind-label position shown (A=0)."
    )
    trial_order = models.PositiveSmallIntegerField(
        help_text="0-based order of the trial for this participant."
    )
    listening_s = models.FloatField(default=0.0)
    language = models.CharField(
        max_length=10, default="en", help_text="The language the trial page was shown in."
    )
    submission_id = models.UUIDField(
        help_text="Client-made id of the submit: retries store one rating."
    )
    trial_started_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["participant", "trial_order", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["participant", "track"], name="rating_one_per_participant_track"
            ),
            models.CheckConstraint(
                condition=Q(value__gte=0) & Q(value__lte=100), name="rating_value_0_100"
            ),
            models.CheckConstraint(
                condition=Q(listening_s__gte=0), name="rating_listening_nonnegative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.participant_id} {self.track_id} = {self.value}"


class TrialResponse(models.Model):
    """One submitted item of a participant's sequence, with the player's event log."""

    class Kind(models.TextChoices):
        TRIAL = "trial", "Trial"
        ATTENTION = "attention", "Attention check"
        ANNOTATION = "annotation", "Annotation"

    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="responses")
    trial = models.ForeignKey(Trial, on_delete=models.PROTECT, related_name="responses")
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.TRIAL)
    sequence_index = models.PositiveSmallIntegerField()
    submission_id = models.UUIDField()
    shown_at = models.DateTimeField(
        null=True, blank=True, help_text="When the server first served the item."
    )
    submitted_at = models.DateTimeField(auto_now_add=True)
    duration_s = models.FloatField(
        null=True, blank=True, help_text="Server-measured time from shown to submitted."
    )
    listening = models.JSONField(default=dict, help_text="Seconds heard per blind label.")
    events = models.JSONField(
        default=list, help_text="Play, pause, seek, switch ... with client times."
    )

    class Meta:
        ordering = ["participant", "sequence_index"]
        constraints = [
            models.UniqueConstraint(
                fields=["participant", "sequence_index"], name="response_one_per_item"
            ),
            models.UniqueConstraint(
                fields=["participant", "submission_id"], name="response_unique_submission"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.participant_id} item {self.sequence_index} ({self.kind})"


class QualityCheck(models.Model):
    class Kind(models.TextChoices):
        HEADPHONE = "headphone", "Headphone check"
        ATTENTION = "attention", "Attention check"

    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="checks")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    passed = models.BooleanField()
    details = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["participant", "created_at"]

    def __str__(self) -> str:
        return f"{self.kind} {'passed' if self.passed else 'failed'} ({self.participant_id})"


class PageVisit(models.Model):
    """Server-side timestamps of every page a participant loaded. An item the trial page shows
    in place of the previous one (from the submit's answer, no page load) has no visit: when it
    was shown is its trial response's ``shown_at`` (and, until it is answered, the participant's
    ``item_started_at``)."""

    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="visits")
    page = models.CharField(max_length=16)
    sequence_index = models.IntegerField(null=True, blank=True)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["participant", "at"]

    def __str__(self) -> str:
        return f"{self.participant_id} saw {self.page} at {self.at:%Y-%m-%d %H:%M:%S}"


class Annotation(models.Model):
    """What an annotator wrote about the scene a clip's music evokes."""

    participant = models.ForeignKey(
        Participant, on_delete=models.CASCADE, related_name="annotations"
    )
    trial = models.ForeignKey(Trial, on_delete=models.PROTECT, related_name="annotations")
    text = models.TextField()
    tags = models.JSONField(default=dict, blank=True, help_text="Chosen tags per category.")
    listening_s = models.FloatField(default=0.0)
    duration_s = models.FloatField(null=True, blank=True)
    submission_id = models.UUIDField()
    caption = models.OneToOneField(
        "generation.Caption",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="annotation",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["trial", "created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["participant", "trial"], name="annotation_one_per_participant_trial"
            ),
            models.CheckConstraint(condition=~Q(text=""), name="annotation_text_not_empty"),
        ]

    def __str__(self) -> str:
        return f"{self.trial.clip.key}: {self.text[:60]}"


class Assignment(models.Model):
    """An annotation slot: this participant was given this trial (clip) to describe."""

    participant = models.ForeignKey(
        Participant, on_delete=models.CASCADE, related_name="assignments"
    )
    trial = models.ForeignKey(Trial, on_delete=models.CASCADE, related_name="assignments")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["participant", "trial"], name="assignment_unique")
        ]

    def __str__(self) -> str:
        return f"{self.participant_id} describes trial {self.trial_id}"


class DataDeletion(models.Model):
    """A participant or a rating removed from a study (only allowed once it is not live): who,
    when and what, kept with the study and listed in its exports and report."""

    class What(models.TextChoices):
        PARTICIPANT = "participant", "Participant (with all their data)"
        RATING = "rating", "Rating"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="deletions")
    what = models.CharField(max_length=12, choices=What.choices)
    participant = models.CharField(max_length=16, help_text="The participant's public id.")
    summary = models.CharField(max_length=400, help_text="What was removed, in words.")
    details = models.JSONField(default=dict, blank=True, help_text="Counts and values removed.")
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    deleted_by_name = models.CharField(
        max_length=150, blank=True, help_text="The account's name at the time."
    )
    deleted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["study", "-deleted_at", "-id"]

    def __str__(self) -> str:
        return f"{self.summary} (by {self.deleted_by_name or 'unknown'})"


# --- the design lock ----------------------------------------------------------------------------
# Once a study is live its design (forms, their conditions and clip pools, trials and the tracks
# bound to them) cannot change, whatever the path: the admin, a service, a shell. The services and
# the admin refuse first with a friendly message; these receivers are the last line.


class DesignLocked(ValidationError):
    """A write that would change the design of a live or closed study."""


def _locked_study_ids(study_ids) -> list[int]:
    ids = {i for i in study_ids if i is not None}
    if not ids:
        return []
    return list(
        Study.objects.filter(pk__in=ids)
        .exclude(status=Study.Status.DRAFT)
        .values_list("pk", flat=True)
    )


def _refuse_if_locked(study_ids, what: str) -> None:
    locked = _locked_study_ids(study_ids)
    if locked:
        slugs = ", ".join(Study.objects.filter(pk__in=locked).values_list("slug", flat=True))
        raise DesignLocked(f"study {slugs} is not a draft: its design is locked ({what})")


def _study_ids_of(instance) -> list[int]:
    if isinstance(instance, Form):
        ids = [instance.study_id]
        if instance.pk:  # moving a form out of a locked study changes that study too
            ids += Form.objects.filter(pk=instance.pk).values_list("study_id", flat=True)
        return ids
    if isinstance(instance, Trial):
        ids = list(Form.objects.filter(pk=instance.form_id).values_list("study_id", flat=True))
        if instance.pk:
            ids += Trial.objects.filter(pk=instance.pk).values_list("form__study_id", flat=True)
        return ids
    if isinstance(instance, TrialTrack):
        ids = list(
            Trial.objects.filter(pk=instance.trial_id).values_list("form__study_id", flat=True)
        )
        if instance.pk:
            ids += TrialTrack.objects.filter(pk=instance.pk).values_list(
                "trial__form__study_id", flat=True
            )
        return ids
    return []


def _deleting_whole_study(origin) -> bool:
    """A study deleted as a whole takes its design with it."""
    if isinstance(origin, Study):
        return True
    return isinstance(origin, models.QuerySet) and origin.model is Study


@receiver(pre_save, sender=Form)
@receiver(pre_save, sender=Trial)
@receiver(pre_save, sender=TrialTrack)
def _design_save_guard(sender, instance, raw=False, **kwargs):
    if not raw:
        _refuse_if_locked(_study_ids_of(instance), f"saving {sender.__name__.lower()}")


@receiver(pre_delete, sender=Form)
@receiver(pre_delete, sender=Trial)
@receiver(pre_delete, sender=TrialTrack)
def _design_delete_guard(sender, instance, origin=None, **kwargs):
    if not _deleting_whole_study(origin):
        _refuse_if_locked(_study_ids_of(instance), f"deleting {sender.__name__.lower()}")


def _other_end(through) -> str:
    return next(f.name for f in through._meta.get_fields() if f.name not in ("id", "form"))


@receiver(m2m_changed, sender=Form.conditions.through)
@receiver(m2m_changed, sender=Form.clip_pool.through)
def _design_m2m_guard(sender, instance, action, reverse, pk_set, **kwargs):
    if not action.startswith("pre_"):
        return
    if isinstance(instance, Form):
        ids = [instance.study_id]
    elif pk_set:
        ids = list(Form.objects.filter(pk__in=pk_set).values_list("study_id", flat=True))
    else:  # condition.forms.clear(): every form that has this condition or clip
        ids = list(
            sender.objects.filter(**{_other_end(sender): instance.pk}).values_list(
                "form__study_id", flat=True
            )
        )
    _refuse_if_locked(ids, "changing a form's conditions or clip pool")


class Withdrawal(models.Model):
    """The record that a participant's data was withdrawn: who, when, by whom and what was
    deleted. It names the participant only by the public id they had."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="withdrawals")
    public_id = models.CharField(max_length=16)
    withdrawn_at = models.DateTimeField(auto_now_add=True)
    requested_by = models.CharField(
        max_length=40, help_text="participant (on request), researcher, or recruiter"
    )
    done_by = models.CharField(max_length=150, blank=True, help_text="The account that did it.")
    reason = models.CharField(max_length=300, blank=True)
    deleted = models.JSONField(default=dict, help_text="Rows deleted, by kind.")

    class Meta:
        ordering = ["-withdrawn_at"]

    def __str__(self) -> str:
        return f"{self.public_id} withdrawn {self.withdrawn_at:%Y-%m-%d}"


# --- collected data cannot be deleted while the study runs ---------------------------------------


class DataLocked(ValidationError):
    """A deletion of participants or ratings of a live study."""


_live_deletion_allowed: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "live_deletion_allowed", default=False
)


@contextlib.contextmanager
def live_deletion_allowed():
    """Within this block a live study's data may be deleted: only for a participant's own
    withdrawal (their right), which keeps its own record (``Withdrawal``)."""
    token = _live_deletion_allowed.set(True)
    try:
        yield
    finally:
        _live_deletion_allowed.reset(token)


@receiver(pre_delete, sender=Participant)
@receiver(pre_delete, sender=Rating)
def _live_data_delete_guard(sender, instance, origin=None, **kwargs):
    if _deleting_whole_study(origin) or _live_deletion_allowed.get():
        return
    study_id = (
        instance.study_id
        if isinstance(instance, Participant)
        else Participant.objects.filter(pk=instance.participant_id)
        .values_list("study_id", flat=True)
        .first()
    )
    if study_id is None:  # the participant is gone already
        return
    status = Study.objects.filter(pk=study_id).values_list("status", flat=True).first()
    if status == Study.Status.LIVE:
        raise DataLocked(
            "the study is live: its participants and ratings cannot be deleted until it is closed"
        )
