"""Stored results of the analysis: objective metric values with what reproduces them."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from generation.models import Clip, Condition, Track
from survey.models import Study


class MetricResult(models.Model):
    """One stored number of an objective metric, with everything needed to reproduce it.

    A command run (``evaluate_captions``, ``audio_metrics``) stores all its rows under one ``run``
    id. ``scope`` says what a value describes: a condition, one clip x condition (a track), a
    candidate caption kind, or one clip's caption of that kind. ``n`` always says how many units
    the value rests on (``n_unit``: frames, pairs, segments, windows, tracks).
    """

    class Kind(models.TextChoices):
        CAPTION = "caption", "Caption metric"
        AUDIO = "audio", "Audio metric"

    class Scope(models.TextChoices):
        CONDITION = "condition", "Condition"
        CLIP_CONDITION = "clip_condition", "Clip x condition"
        CAPTION_KIND = "caption_kind", "Caption kind"
        CLIP_CAPTION_KIND = "clip_caption_kind", "Clip x caption kind"

    run = models.UUIDField(db_index=True, help_text="The command run that stored this row.")
    study = models.ForeignKey(
        Study,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="metric_results",
        help_text="Empty for caption metrics over all clips.",
    )
    kind = models.CharField(max_length=8, choices=Kind.choices)
    metric = models.CharField(
        max_length=40, help_text="fad, kad, fad_inf, kld, clap_score, bleu1 ... bertscore."
    )
    variant = models.CharField(
        max_length=300, help_text="Caption mode, or the embedding / classifier / CLAP model."
    )
    reference = models.CharField(
        max_length=200, help_text="original, a condition, or the reference caption kind."
    )
    scope = models.CharField(max_length=20, choices=Scope.choices)
    condition = models.ForeignKey(
        Condition, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    candidate = models.CharField(
        max_length=200, blank=True, help_text="Candidate caption kind[@model]."
    )
    clip = models.ForeignKey(
        Clip, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    track = models.ForeignKey(
        Track, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    value = models.FloatField()
    n = models.PositiveIntegerField(help_text="How many units the value rests on.")
    n_unit = models.CharField(
        max_length=20, help_text="frames, pairs, segments, windows, tracks ..."
    )
    settings = models.JSONField(
        default=dict, blank=True, help_text="Models, framing, sample sizes, seed ..."
    )
    software = models.JSONField(
        default=dict, blank=True, help_text="Versions of the packages behind the value."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "survey_metricresult"  # made by the survey app, before analysis had models
        ordering = ["-created_at", "kind", "metric", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=["caption", "audio"]), name="metricresult_kind_valid"
            ),
            models.CheckConstraint(
                condition=Q(
                    scope__in=["condition", "clip_condition", "caption_kind", "clip_caption_kind"]
                ),
                name="metricresult_scope_valid",
            ),
        ]
        indexes = [
            models.Index(fields=["study", "kind", "metric"], name="survey_metr_study_i_fd6dcf_idx")
        ]

    def __str__(self) -> str:
        where = self.condition.name if self.condition is not None else self.candidate
        return (
            f"{self.metric} [{self.variant}] {where} = {self.value:.4g} (n={self.n} {self.n_unit})"
        )
