"""Clips, their captions, the conditions that turn captions into music, and the tracks made.

File names on disk are random (``uuid4``): nothing in a path reveals a clip's condition.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


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
    video = models.FileField(upload_to=clip_video_path, max_length=200,
                             help_text="Web-ready muted H.264 MP4 (faststart).")
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
            models.CheckConstraint(condition=models.Q(duration_s__gt=0), name="clip_duration_positive"),
        ]

    def __str__(self) -> str:
        return self.key


class CaptionKind(models.TextChoices):
    VIDEO = "video", "Video caption"
    MUSIC = "music", "Music caption"
    FUSION = "fusion", "Fusion caption"
    MSI = "msi", "Music scene imagination (MSI)"
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
    model_id = models.CharField(max_length=200, blank=True, help_text="Model that wrote it, if any.")
    prompt = models.TextField(blank=True)
    parameters = models.JSONField(default=dict, blank=True)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                               help_text="Person who wrote it, if not a model.")
    author_note = models.CharField(max_length=200, blank=True, help_text="E.g. 'imported from CSV'.")
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
    """A named way to make a track, e.g. ``msi``: which caption kind feeds the generator."""

    name = models.SlugField(max_length=40, unique=True)
    label = models.CharField(max_length=120, blank=True)
    caption_kind = models.CharField(max_length=16, choices=CaptionKind.choices)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Track(models.Model):
    """A candidate soundtrack for a clip under a condition, with its full provenance."""

    clip = models.ForeignKey(Clip, on_delete=models.CASCADE, related_name="tracks")
    condition = models.ForeignKey(Condition, on_delete=models.PROTECT, related_name="tracks")
    audio = models.FileField(upload_to=track_audio_path, max_length=200,
                             help_text="Loudness-normalised AAC (M4A) for the trial player.")
    video = models.FileField(upload_to=track_video_path, max_length=200,
                             help_text="The clip muxed with this track: H.264 + AAC MP4, faststart.")
    duration_s = models.FloatField()
    sample_rate = models.PositiveIntegerField()
    loudness_lufs = models.FloatField(help_text="Integrated loudness (BS.1770) before normalisation.")
    loudness_target_lufs = models.FloatField()
    gain_db = models.FloatField(help_text="Gain applied; under the target's when the peak ceiling limited it.")
    generator = models.CharField(max_length=40, help_text="sketch, musicgen, upload ...")
    model_id = models.CharField(max_length=200, blank=True)
    model_revision = models.CharField(max_length=80, blank=True)
    prompt = models.TextField(blank=True)
    caption = models.ForeignKey(Caption, null=True, blank=True, on_delete=models.SET_NULL, related_name="tracks")
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
            models.CheckConstraint(condition=models.Q(duration_s__gt=0), name="track_duration_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.clip.key} / {self.condition.name} ({self.generator})"
