"""Clips, their captions, the conditions that turn captions into music, and the tracks made.

File names on disk are random (``uuid4``): nothing in a path reveals a clip's condition.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from generation.engine import ItemBase, JobBase


def _opaque_path(folder: str, ext: str) -> str:
    return f"{folder}/{uuid.uuid4().hex}{ext}"


def clip_video_path(instance: Clip, filename: str) -> str:
    return _opaque_path("clips", ".mp4")


def clip_audio_path(instance: Clip, filename: str) -> str:
    return _opaque_path("clips", ".m4a")


def track_audio_path(instance: Track, filename: str) -> str:
    return _opaque_path("tracks", ".m4a")


def track_video_path(instance: Track, filename: str) -> str:
    return _opaque_path("tracks", ".mp4")


class Clip(models.Model):
    """A short video clip (AudioSet-style, ~10 s) that soundtracks are made for."""

    class Source(models.TextChoices):
        AUDIOSET = "audioset", "AudioSet"
        UPLOAD = "upload", "Upload"
        DEMO = "demo", "Demo (synthetic)"

    key = models.SlugField(max_length=120, unique=True, help_text="Stable id, e.g. YTID_start.")
    title = models.CharField(max_length=200, blank=True)
    description = models.TextField(blank=True, help_text="What the clip shows (for researchers).")
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.UPLOAD)
    youtube_id = models.CharField("YouTube id", max_length=32, blank=True, db_index=True)
    start_s = models.FloatField("start (s)", null=True, blank=True)
    end_s = models.FloatField("end (s)", null=True, blank=True)
    labels = models.JSONField(default=list, blank=True, help_text="Ontology labels, e.g. /m/04rlf.")
    video = models.FileField(
        upload_to=clip_video_path,
        max_length=200,
        help_text="Web-ready muted H.264 MP4 (faststart).",
    )
    original_audio = models.FileField(upload_to=clip_audio_path, max_length=200, blank=True)
    duration_s = models.FloatField()
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["key"]
        constraints = [
            models.UniqueConstraint(
                fields=["youtube_id", "start_s"],
                condition=~models.Q(youtube_id=""),
                name="clip_unique_audioset_segment",
            ),
            models.CheckConstraint(
                condition=models.Q(duration_s__gt=0), name="clip_duration_positive"
            ),
        ]

    def __str__(self) -> str:
        return self.key


class CaptionKind(models.TextChoices):
    VIDEO = "video", "Video caption"
    MUSIC = "music", "Music caption"
    FUSION = "fusion", "Fusion caption"
    MSI = "msi", "Music scene imagination (MSI)"
    MSI_PREDICTED = "msi_pred", "MSI predicted by a trained MusiScene"
    HUMAN_MSI = "human_msi", "MSI written by a person (annotation)"
    OTHER = "other", "Other"


class Caption(models.Model):
    """A text about a clip, with what produced it: a model and its prompt, or a person."""

    class Status(models.TextChoices):
        UNREVIEWED = "unreviewed", "Unreviewed"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"

    clip = models.ForeignKey(Clip, on_delete=models.CASCADE, related_name="captions")
    kind = models.CharField(max_length=16, choices=CaptionKind.choices, db_index=True)
    text = models.TextField()
    model_id = models.CharField(
        max_length=200, blank=True, help_text="Model that wrote it, if any."
    )
    prompt = models.TextField(blank=True)
    parameters = models.JSONField(default=dict, blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        help_text="Person who wrote it, if not a model.",
    )
    author_note = models.CharField(
        max_length=200, blank=True, help_text="E.g. 'imported from CSV'."
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.UNREVIEWED)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["clip", "kind", "-created_at"]
        constraints = [
            models.CheckConstraint(condition=~models.Q(text=""), name="caption_text_not_empty"),
        ]

    def __str__(self) -> str:
        return f"{self.clip.key} {self.kind}: {self.text[:60]}"

    @property
    def provenance(self) -> str:
        if self.model_id:
            return f"model {self.model_id}"
        if self.author_id:
            return f"person {self.author}"
        return self.author_note or "unknown"


class Condition(models.Model):
    """A named way to make a track, e.g. ``msi``: which caption source feeds the generator.

    The source is a caption kind and, optionally, the model that must have written the caption
    (``caption_model_id``): the paper's ``msi`` condition is fed by MusiScene's predictions
    (``msi_pred``), ``msi_llm`` by the LLM-composed MSI caption.
    """

    name = models.SlugField(max_length=40, unique=True)
    label = models.CharField(max_length=120, blank=True)
    caption_kind = models.CharField(max_length=16, choices=CaptionKind.choices)
    caption_model_id = models.CharField(
        "caption model",
        max_length=200,
        blank=True,
        help_text="Only captions written by this model (id or checkpoint path) feed the "
        "condition; empty = the caption of the kind that would feed generation, whoever wrote it.",
    )
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def caption_source(self) -> str:
        """In words: which captions feed this condition, e.g. ``msi_pred (MSI predicted by a
        trained MusiScene)``."""
        text = f"{self.caption_kind} ({CaptionKind(self.caption_kind).label})"
        if self.caption_model_id:
            text += f" written by {self.caption_model_id}"
        return text


class Track(models.Model):
    """A candidate soundtrack for a clip under a condition, with its full provenance."""

    clip = models.ForeignKey(Clip, on_delete=models.CASCADE, related_name="tracks")
    condition = models.ForeignKey(Condition, on_delete=models.PROTECT, related_name="tracks")
    audio = models.FileField(
        upload_to=track_audio_path,
        max_length=200,
        help_text="Loudness-normalised AAC (M4A) for the trial player.",
    )
    video = models.FileField(
        upload_to=track_video_path,
        max_length=200,
        help_text="The clip muxed with this track: H.264 + AAC MP4, faststart.",
    )
    duration_s = models.FloatField()
    sample_rate = models.PositiveIntegerField()
    loudness_lufs = models.FloatField(
        help_text="Integrated loudness (BS.1770) before normalisation."
    )
    loudness_target_lufs = models.FloatField()
    gain_db = models.FloatField(
        help_text="Gain applied; under the target's when the peak ceiling limited it."
    )
    generator = models.CharField(max_length=40, help_text="sketch, musicgen, upload ...")
    model_id = models.CharField(max_length=200, blank=True)
    model_revision = models.CharField(max_length=80, blank=True)
    prompt = models.TextField(blank=True)
    caption = models.ForeignKey(
        Caption, null=True, blank=True, on_delete=models.SET_NULL, related_name="tracks"
    )
    seed = models.BigIntegerField(null=True, blank=True)
    parameters = models.JSONField(default=dict, blank=True)
    params_hash = models.CharField(max_length=64, help_text="sha256 of the canonical parameters.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["clip", "condition", "-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["clip", "condition", "generator", "model_id", "seed", "params_hash"],
                name="track_unique_provenance",
            ),
            models.CheckConstraint(
                condition=models.Q(duration_s__gt=0), name="track_duration_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.clip.key} / {self.condition.name} ({self.generator})"


class GenerationJob(JobBase):
    """A batch of tracks to make: (clip, condition) cells, one generator, one model, one seed.

    The work is in its :class:`GenerationItem` rows; progress is counted from them. Status,
    error, watchdog and times come from the engine's :class:`~generation.engine.JobBase`.
    """

    class Generator(models.TextChoices):
        MUSICGEN = "musicgen", "MusicGen"
        SKETCH = "sketch", "Sketch (procedural, for pilots)"

    generator = models.CharField(max_length=16, choices=Generator.choices)
    model_id = models.CharField(
        max_length=200, help_text="Model id or path (sketch: the sketch version)."
    )
    parameters = models.JSONField(
        default=dict,
        blank=True,
        help_text="Generation parameters recorded on each track (duration_s, top_k ...).",
    )
    batch_size = models.PositiveIntegerField(
        default=8, help_text="Tracks per model call on a worker."
    )
    seed = models.BigIntegerField(default=0)
    loudness_target_lufs = models.FloatField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="generation_jobs",
    )

    class Meta(JobBase.Meta):
        constraints = [
            models.CheckConstraint(
                condition=models.Q(batch_size__gte=1), name="generationjob_batch_size_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"job {self.pk}: {self.generator} {self.model_id}" + (
            f" ({self.label})" if self.label else ""
        )


class GenerationItem(ItemBase):
    """One cell of a job: the track of ``clip`` under ``condition``.

    pending -> claimed (a worker generates it) -> generated (audio waits in ``audio``) ->
    ingesting -> done (``track`` set), or failed (``error`` says why). Claims, heartbeats and
    reclaims are the engine's (:mod:`generation.engine`).
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        CLAIMED = "claimed", "Generating"
        GENERATED = "generated", "Generated, waiting for ingest"
        INGESTING = "ingesting", "Ingesting"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    job = models.ForeignKey(GenerationJob, on_delete=models.CASCADE, related_name="items")
    clip = models.ForeignKey(Clip, on_delete=models.CASCADE, related_name="+")
    condition = models.ForeignKey(Condition, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    caption = models.ForeignKey(
        Caption, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    prompt = models.TextField(
        blank=True, help_text="The caption text the audio was generated from."
    )
    audio = models.BinaryField(
        null=True,
        blank=True,
        editable=False,
        help_text="Generated float32 samples waiting for ingest; cleared after.",
    )
    sample_rate = models.PositiveIntegerField(null=True, blank=True)
    model_revision = models.CharField(max_length=80, blank=True)
    track = models.ForeignKey(
        Track, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta(ItemBase.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=["job", "clip", "condition"], name="generationitem_unique_cell"
            ),
        ]
        indexes = [models.Index(fields=["job", "status"])]

    def __str__(self) -> str:
        return f"{self.clip.key} / {self.condition.name} ({self.status})"


class CaptionJob(JobBase):
    """A batch of captions to write: (clip, caption kind) cells, with the models that write them.

    Kinds run in stages (:data:`generation.captioning.STAGES`): video and music captions (and
    predicted MSI) first, then the fusion and MSI captions that are composed from them. The work
    is in :class:`CaptionItem` rows; progress is counted from them.
    """

    kinds = models.JSONField(
        default=list, help_text="Caption kinds to write, e.g. ['video', 'music', 'fusion', 'msi']."
    )
    options = models.JSONField(
        default=dict,
        blank=True,
        help_text="Models and backend: video_model, music_checkpoint, musiscene_checkpoint, "
        "backend, llm_model, batch_size, seed ...",
    )
    stage = models.PositiveSmallIntegerField(default=0, help_text="The stage whose items run now.")
    heartbeat_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Last sign of life of whoever runs the job (runner or watchdog).",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="caption_jobs",
    )

    def __str__(self) -> str:
        return f"caption job {self.pk}: {', '.join(self.kinds)}" + (
            f" ({self.label})" if self.label else ""
        )


class CaptionItem(ItemBase):
    """One cell of a caption job: the ``kind`` caption of ``clip``.

    pending -> claimed (a worker writes it) -> done (``caption`` set; an existing caption found
    at claim time counts), or failed (``error`` says why). Claims are the engine's.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        CLAIMED = "claimed", "Captioning"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    job = models.ForeignKey(CaptionJob, on_delete=models.CASCADE, related_name="items")
    clip = models.ForeignKey(Clip, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=16, choices=CaptionKind.choices)
    status = models.CharField(
        max_length=8, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    caption = models.ForeignKey(
        Caption, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta(ItemBase.Meta):
        constraints = [
            models.UniqueConstraint(fields=["job", "clip", "kind"], name="captionitem_unique_cell"),
        ]
        indexes = [models.Index(fields=["job", "status"])]

    def __str__(self) -> str:
        return f"{self.clip.key} / {self.kind} ({self.status})"


class CaptionRevision(models.Model):
    """One change of a caption by a researcher: its text and/or its review status, before and after.

    The first revision of a caption holds its original text in ``old_text``.
    """

    caption = models.ForeignKey(Caption, on_delete=models.CASCADE, related_name="revisions")
    old_text = models.TextField()
    new_text = models.TextField()
    old_status = models.CharField(max_length=16, choices=Caption.Status.choices)
    new_status = models.CharField(max_length=16, choices=Caption.Status.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="caption_revisions",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["caption", "created_at", "id"]

    def __str__(self) -> str:
        return (
            f"revision of caption {self.caption_id} by {self.user or 'unknown'} at "
            f"{self.created_at:%Y-%m-%d %H:%M}"
        )

    @property
    def text_changed(self) -> bool:
        return self.old_text != self.new_text

    @property
    def status_changed(self) -> bool:
        return self.old_status != self.new_status


class DatasetSplit(models.Model):
    """A train/test split of clips, drawn once and stored (the paper's 80/20).

    The trainer (through the VACAD export), the predictor (held-out clips only) and the caption
    evaluation all read the same rows, so a clip is never trained on and then evaluated. Members
    never change part; clips added later are assigned when the split is extended.
    """

    name = models.SlugField(max_length=60, unique=True)
    train_fraction = models.FloatField(default=0.8)
    seed = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(train_fraction__gt=0, train_fraction__lte=1),
                name="datasetsplit_fraction_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.train_fraction:g} train, seed {self.seed})"


class SplitMember(models.Model):
    """One clip's part (train or test) in a :class:`DatasetSplit`."""

    class Part(models.TextChoices):
        TRAIN = "train", "Train"
        TEST = "test", "Test (held out)"

    split = models.ForeignKey(DatasetSplit, on_delete=models.CASCADE, related_name="members")
    clip = models.ForeignKey(Clip, on_delete=models.CASCADE, related_name="split_memberships")
    part = models.CharField(max_length=8, choices=Part.choices)

    class Meta:
        ordering = ["split", "clip"]
        constraints = [
            models.UniqueConstraint(fields=["split", "clip"], name="splitmember_unique_clip"),
        ]

    def __str__(self) -> str:
        return f"{self.split.name}: {self.clip.key} {self.part}"
