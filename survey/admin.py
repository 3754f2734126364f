"""The survey app's admin: studies (with their design, validation and go-live actions), forms,
participants, ratings, withdrawals and data deletions.

One file because Django's admin registers each model's admin here; the study admin and its actions
are most of it (analysis/admin.py subclasses it to add the report pages).
"""

from __future__ import annotations

import re

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe

from survey import services
from survey.access import studies_for_user
from survey.models import (
    DataDeletion,
    Form,
    Participant,
    Rating,
    Study,
    StudyText,
    Trial,
    TrialTrack,
    Withdrawal,
)
from survey.selectors import study_generation_cells, study_progress


def _errors(exc: ValidationError) -> str:
    return "; ".join(exc.messages)


def _condition_sources(form: Form | None) -> str:
    """Which caption feeds each condition of a form, e.g. ``msi: msi_pred (...)``."""
    if form is None or not form.pk:
        return "-"
    conditions = form.conditions.order_by("name")
    return "; ".join(f"{c.name}: {c.caption_source}" for c in conditions) or "-"


class FormInline(admin.StackedInline):
    model = Form
    extra = 0
    fields = [
        "name",
        "kind",
        "n_videos",
        "conditions",
        "caption_sources",
        "clip_pool",
        "seed",
        "sampled_at",
        "annotation_media",
        "annotators_per_clip",
        "min_description_chars",
        "tag_vocabulary",
    ]
    readonly_fields = ["seed", "sampled_at", "caption_sources"]
    filter_horizontal = ["conditions", "clip_pool"]
    show_change_link = True

    @admin.display(description="caption source of each condition")
    def caption_sources(self, obj: Form | None) -> str:
        return _condition_sources(obj)

    def has_add_permission(self, request, obj=None):
        return super().has_add_permission(request, obj) and (obj is None or not obj.is_locked)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and (obj is None or not obj.is_locked)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and (obj is None or not obj.is_locked)


class StudyTextInline(admin.StackedInline):
    """The study's texts in each further language it offers (the study's own fields hold them
    in its default language). Go-live names any text still missing in an offered language."""

    model = StudyText
    extra = 0
    verbose_name = "text in another language"
    verbose_name_plural = (
        "Texts in the other languages (one per offered language besides the default; "
        "go-live names any text still missing)"
    )
    fields = [
        "language",
        "title",
        "consent_text",
        "instructions_text",
        "question",
        "scale_min_label",
        "scale_max_label",
        "privacy_text",
    ]

    def get_readonly_fields(self, request, obj=None):
        # what the lock keeps fixed in the default language stays fixed in every language
        if obj is not None and obj.is_locked:
            return ["language", "question", "scale_min_label", "scale_max_label"]
        return []


@admin.register(Study)
class StudyAdmin(admin.ModelAdmin):
    list_display = ["title", "slug", "status", "n_forms", "n_participants", "links"]
    list_filter = ["status"]
    search_fields = ["title", "slug"]
    prepopulated_fields = {"slug": ["title"]}
    filter_horizontal = ["researchers"]
    inlines = [StudyTextInline, FormInline]
    actions = [
        "add_paper_forms",
        "generate_tracks",
        "resample",
        "validate",
        "go_live",
        "close",
    ]
    fieldsets = [
        (None, {"fields": ["title", "slug", "status", "researchers"]}),
        (
            "Languages",
            {
                "fields": ["languages", "default_language"],
                "description": "The texts below are in the default language; write them in each "
                "other language under “Texts in the other languages”. A participant gets the "
                "language their browser asks for among these, and can switch on the consent page.",
            },
        ),
        (
            "What participants read",
            {
                "fields": [
                    "consent_text",
                    "instructions_text",
                    "question",
                    "scale_min_label",
                    "scale_max_label",
                ]
            },
        ),
        (
            "Design",
            {
                "fields": [
                    "target_per_form",
                    "min_listen_s",
                    "loudness_target_lufs",
                    "abandon_after_minutes",
                ]
            },
        ),
        (
            "Quality controls",
            {
                "fields": [
                    "headphone_check",
                    "attention_trials",
                    "screen_out_on_attention_fail",
                    "min_trial_s",
                ]
            },
        ),
        (
            "Completion",
            {
                "fields": [
                    "completion_code",
                    "decline_code",
                    "screenout_code",
                    "completion_redirect_url",
                ]
            },
        ),
        ("Hostile clients", {"fields": ["max_starts_per_minute", "require_recruiter_id"]}),
        (
            "Personal data",
            {"fields": ["privacy_text", "contact_email", "retention_until"]},
        ),
    ]

    def get_queryset(self, request):
        return studies_for_user(request.user)

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "languages":  # a list of codes, as checkboxes
            return forms.MultipleChoiceField(
                choices=[(c, str(n)) for c, n in settings.LANGUAGES],
                widget=forms.CheckboxSelectMultiple,
                initial=[settings.LANGUAGE_CODE],
                required=False,
                help_text="The languages participants may take the study in; none ticked = the "
                "default language only. Save, then write the texts of each further language "
                "below.",
            )
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if db_field.name == "default_language" and field is not None:
            field.required = False  # left out: the model's default (English)
        return field

    def get_inline_instances(self, request, obj=None):
        # the texts per language once the study offers more than one (or has some already)
        inlines = super().get_inline_instances(request, obj)
        if obj is None or (len(obj.offered_languages) < 2 and not obj.texts.exists()):
            inlines = [i for i in inlines if not isinstance(i, StudyTextInline)]
        return inlines

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "researchers":  # staff accounts only, never participants or others
            kwargs["queryset"] = get_user_model().objects.filter(is_staff=True, is_active=True)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    #: What cannot change once the study is live: its address, the design, what participants
    #: are asked and the quality controls they pass (headphone check, attention trials, the
    #: shortest trial and the must-hear rule).
    LOCKED_FIELDS = (
        "slug",
        "languages",
        "default_language",
        "target_per_form",
        "min_listen_s",
        "loudness_target_lufs",
        "question",
        "scale_min_label",
        "scale_max_label",
        "headphone_check",
        "attention_trials",
        "screen_out_on_attention_fail",
        "min_trial_s",
    )

    def get_readonly_fields(self, request, obj=None):
        ro = ["status"]
        if obj is not None and obj.is_locked:
            ro += list(self.LOCKED_FIELDS)
        return ro

    def get_prepopulated_fields(self, request, obj=None):
        # a read-only slug cannot be prepopulated (the admin would look for its input: KeyError)
        if obj is not None and obj.is_locked:
            return {}
        return super().get_prepopulated_fields(request, obj)

    def get_changeform_initial_data(self, request):
        # a new study's form shows its author under "Chosen": save_related lists them anyway
        initial = super().get_changeform_initial_data(request)
        if request.user.is_staff:
            initial.setdefault("researchers", [request.user.pk])
        return initial

    def save_related(self, request, form, formsets, change):
        # after the form's own many-to-many (which would otherwise empty it): the researcher who
        # adds a study is listed on it, so it stays in their list
        super().save_related(request, form, formsets, change)
        if not change:
            form.instance.researchers.add(request.user)

    @admin.display(description="forms")
    def n_forms(self, obj: Study) -> int:
        return obj.forms.count()

    @admin.display(description="participants")
    def n_participants(self, obj: Study) -> int:
        return obj.participants.count()

    def link_items(self, obj: Study) -> list[tuple[str, str, bool]]:
        """The study's pages as (label, URL, opens in a new tab); the analysis app adds its own."""
        return [
            ("progress", reverse("admin:survey_study_progress", args=[obj.pk]), False),
            ("validate", reverse("admin:survey_study_validate", args=[obj.pk]), False),
            ("participant link", reverse("study-entry", args=[obj.slug]), True),
        ]

    @admin.display(description="")
    def links(self, obj: Study) -> str:
        return format_html_join(
            " · ",
            '<a href="{}"{}>{}</a>',
            (
                (url, mark_safe(' target="_blank"') if new_tab else "", label)
                for label, url, new_tab in self.link_items(obj)
            ),
        )

    # -- actions ---------------------------------------------------------------------------------
    def _each(self, request, queryset, fn, done: str) -> None:
        for study in queryset:
            try:
                fn(study)
            except ValidationError as exc:
                self.message_user(request, f"Study {study.slug}: {_errors(exc)}", messages.ERROR)
            else:
                self.message_user(request, f"Study {study.slug}: {done}", messages.SUCCESS)

    @admin.action(
        description="Add the paper's forms (15 x video/music/MSI, 8 x fusion/MSI) and sample them"
    )
    def add_paper_forms(self, request, queryset):
        self._each(
            request,
            queryset,
            lambda s: services.study_add_paper_forms(study=s),
            "paper forms added and sampled",
        )

    @admin.action(
        description="Generate the missing tracks of the study's trials (MusicGen or sketch)"
    )
    def generate_tracks(self, request, queryset):
        """One study at a time: ask for the generator and its parameters, start a job for the
        (trial clip x condition) cells without a track, bind the tracks when it has run."""
        from celery import current_app

        from generation import engine, jobs
        from generation.admin import GenerateTracksForm, job_outcome
        from generation.models import GenerationJob

        if queryset.count() != 1:
            self.message_user(request, "Select one study to generate its tracks.", messages.ERROR)
            return None
        study = queryset.get()
        form = GenerateTracksForm(
            request.POST if "apply" in request.POST else None,
            initial={"loudness_target_lufs": study.loudness_target_lufs},
        )
        form.fields.pop("conditions")
        form.fields.pop("loudness_target_lufs")
        if "apply" in request.POST and form.is_valid():
            data = form.cleaned_data
            parameters = {"duration_s": data["duration_s"], "batch_size": data["batch_size"]}
            if data["generator"] == GenerationJob.Generator.MUSICGEN:
                parameters.update(
                    top_k=data["top_k"],
                    temperature=data["temperature"],
                    guidance_scale=data["guidance_scale"],
                )
            try:
                job = jobs.job_create(
                    cells=study_generation_cells(study=study),
                    generator=data["generator"],
                    model=data["model"],
                    parameters=parameters,
                    seed=data["seed"],
                    loudness_target_lufs=study.loudness_target_lufs,
                    user=request.user,
                    label=f"study {study.slug} (admin)",
                )
                jobs.job_start(job=job)
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                job.refresh_from_db()
                bound = job.status == GenerationJob.Status.DONE and not study.is_locked
                if bound:  # an in-process job has run already: bind its tracks now
                    services.study_bind_tracks(study=study)
                level, text = job_outcome(job, bound=bound)
                if level == messages.INFO and not study.is_locked:
                    text += (
                        " When it has finished, run this action again: it makes nothing twice"
                        " and binds the new tracks to the trials."
                    )
                self.message_user(request, text, level)
                return redirect("admin:generation_generationjob_change", job.pk)
        return TemplateResponse(
            request,
            "admin/survey/study_generate.html",
            {
                **self.admin_site.each_context(request),
                "title": f"Generate the tracks of {study.title}",
                "form": form,
                "study": study,
                "opts": self.model._meta,
                "n_cells": len(cells := study_generation_cells(study=study)),
                # a clip shown under the same condition in two forms shares one track
                "n_pairs": len({(clip.pk, condition.pk) for clip, condition in cells}),
                # without a broker: JOBS_EMBEDDED=inline runs the job inside the request
                "jobs_inline": current_app.conf.task_always_eager
                and not engine.runs_in_background(),
                "action_checkbox_name": ACTION_CHECKBOX_NAME,
            },
        )

    @admin.action(description="Sample the trials of every form again (new seed; drafts only)")
    def resample(self, request, queryset):
        def run(study):
            for form in study.forms.all():
                services.form_sample_trials(form=form)

        self._each(request, queryset, run, "trials sampled")

    @admin.action(description="Validate (every trial has a playable track for each condition)")
    def validate(self, request, queryset):
        for study in queryset:
            problems = services.study_validate(study=study)
            if problems:
                shown = "; ".join(map(str, problems[:10])) + (
                    f" (+{len(problems) - 10} more)" if len(problems) > 10 else ""
                )
                self.message_user(
                    request, f"{study.slug}: {len(problems)} problems: {shown}", messages.ERROR
                )
            else:
                self.message_user(
                    request, f"Study {study.slug}: ready to go live", messages.SUCCESS
                )

    @admin.action(description="Go live (validates first; locks the design)")
    def go_live(self, request, queryset):
        self._each(request, queryset, lambda s: services.study_go_live(study=s), "live")

    @admin.action(description="Close")
    def close(self, request, queryset):
        self._each(request, queryset, lambda s: services.study_close(study=s), "closed")

    # -- views -----------------------------------------------------------------------------------
    def get_urls(self):
        own = [
            path(
                "<int:pk>/progress/",
                self.admin_site.admin_view(self.progress_view),
                name="survey_study_progress",
            ),
            path(
                "<int:pk>/validate/",
                self.admin_site.admin_view(self.validate_view),
                name="survey_study_validate",
            ),
            path(
                "trial/<int:trial_pk>/preview/",
                self.admin_site.admin_view(self.preview_view),
                name="survey_trial_preview",
            ),
        ]
        return own + super().get_urls()

    def _study(self, request, pk: int) -> Study:
        study = get_object_or_404(self.get_queryset(request), pk=pk)
        if not self.has_view_permission(request, study):
            raise PermissionDenied
        return study

    def progress_view(self, request, pk: int):
        study = self._study(request, pk)
        progress = study_progress(study=study)
        cells: dict[tuple[str, str], dict[str, int]] = {}
        conditions: set[str] = set()
        for c in progress["ratings_per_cell"]:
            cells.setdefault((c["form"], c["clip"]), {})[c["condition"]] = c["n"]
            conditions.add(c["condition"])
        # a condition the form does not have is shown as "-", not as 0 ratings
        of_form = {
            f.name: {c.name for c in f.conditions.all()}
            for f in study.forms.prefetch_related("conditions")
        }
        ctx = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "study": study,
            "title": f"Progress of {study.title}",
            "progress": progress,
            "n_participants": sum(progress["participants"].values()),
            "conditions": sorted(conditions),
            "cells": [
                (
                    form,
                    clip,
                    [
                        counts.get(c, 0) if c in of_form.get(form, ()) else "-"
                        for c in sorted(conditions)
                    ],
                )
                for (form, clip), counts in sorted(cells.items())
            ],
        }
        return TemplateResponse(request, "admin/survey/study_progress.html", ctx)

    def validate_view(self, request, pk: int):
        study = self._study(request, pk)
        problems = services.study_validate(study=study)
        if request.method == "POST" and "go_live" in request.POST:
            if not self.has_change_permission(request, study):
                raise PermissionDenied
            try:
                services.study_go_live(study=study)
            except ValidationError as exc:
                self.message_user(request, _errors(exc), messages.ERROR)
            else:
                self.message_user(request, f"Study {study.slug} is live.", messages.SUCCESS)
            return redirect("admin:survey_study_validate", pk=study.pk)
        ctx = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "study": study,
            "title": f"Validate {study.title}",
            "problems": problems,
            "trials": Trial.objects.filter(form__study=study)
            .select_related("form", "clip")
            .order_by("form__name", "position"),
        }
        return TemplateResponse(request, "admin/survey/study_validate.html", ctx)

    def preview_view(self, request, trial_pk: int):
        trial = get_object_or_404(
            Trial.objects.select_related("form__study", "clip"),
            pk=trial_pk,
            form__study__in=self.get_queryset(request),
        )
        tts = list(
            trial.trial_tracks.select_related("track", "condition").order_by("condition__name")
        )
        labels = [chr(ord("A") + i) for i in range(len(tts))]
        ctx = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "study": trial.form.study,
            "title": f"Preview: {trial}",
            "trial": trial,
            "tracks": [
                {
                    "label": lab,
                    "condition": tt.condition.name,
                    "audio_url": reverse("staff-media", args=[tt.track.audio.name]),
                }
                for lab, tt in zip(labels, tts, strict=True)
            ],
            "video_url": reverse("staff-media", args=[trial.clip.video.name]),
        }
        return TemplateResponse(request, "admin/survey/trial_preview.html", ctx)


class TrialTrackInline(admin.TabularInline):
    model = TrialTrack
    extra = 0
    fields = ["condition", "track"]
    readonly_fields = ["condition", "track"]
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Form)
class FormAdmin(admin.ModelAdmin):
    list_display = ["__str__", "n_videos", "caption_sources", "seed", "sampled_at", "n_trials"]
    list_filter = [("study", admin.RelatedOnlyFieldListFilter)]
    filter_horizontal = ["conditions", "clip_pool"]
    readonly_fields = ["seed", "sampled_at", "trial_list", "caption_sources"]
    actions = ["sample", "bind"]

    @admin.display(description="caption source of each condition")
    def caption_sources(self, obj: Form | None) -> str:
        return _condition_sources(obj)

    def get_queryset(self, request):
        return super().get_queryset(request).filter(study__in=studies_for_user(request.user))

    def get_field_queryset(self, db, db_field, request):
        if db_field.name == "study":  # a form can only be added to (or moved within) drafts
            return studies_for_user(request.user).filter(status=Study.Status.DRAFT)
        return super().get_field_queryset(db, db_field, request)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and (
            obj is None or not obj.study.is_locked
        )

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and (
            obj is None or not obj.study.is_locked
        )

    @admin.display(description="trials")
    def n_trials(self, obj: Form) -> int:
        return obj.trials.count()

    @admin.display(description="trials (preview as a participant sees them)")
    def trial_list(self, obj: Form) -> str:
        return format_html_join(
            "",
            '<div><a href="{}" target="_blank">#{} {}</a></div>',
            (
                (reverse("admin:survey_trial_preview", args=[t.pk]), t.position, t.clip.key)
                for t in obj.trials.select_related("clip")
            ),
        )

    @admin.action(description="Sample trials (new random seed, stored)")
    def sample(self, request, queryset):
        for form in queryset:
            try:
                services.form_sample_trials(form=form)
            except ValidationError as exc:
                self.message_user(request, f"{form}: {_errors(exc)}", messages.ERROR)
            else:
                self.message_user(
                    request,
                    f"{form}: sampled with seed {form.__class__.objects.get(pk=form.pk).seed}",
                )

    @admin.action(description="Bind the newest tracks to the trials")
    def bind(self, request, queryset):
        for form in queryset:
            try:
                missing = services.form_bind_tracks(form=form)
            except ValidationError as exc:
                self.message_user(request, f"{form}: {_errors(exc)}", messages.ERROR)
            else:
                level = messages.WARNING if missing else messages.SUCCESS
                self.message_user(request, f"{form}: tracks bound, {missing} missing", level)


class ImpossibleTimingFilter(admin.SimpleListFilter):
    title = "timing"
    parameter_name = "timing"

    def lookups(self, request, model_admin):
        return [("impossible", "not humanly possible"), ("plausible", "plausible")]

    def queryset(self, request, queryset):
        if self.value() == "impossible":
            return queryset.exclude(timing_flag="")
        if self.value() == "plausible":
            return queryset.filter(timing_flag="")
        return queryset


@admin.register(Participant)
class ParticipantAdmin(admin.ModelAdmin):
    list_display = [
        "short_code",
        "study",
        "form",
        "status",
        "progress",
        "prolific_pid",
        "started_at",
        "completed_at",
        "timing",
    ]
    list_filter = [
        ("study", admin.RelatedOnlyFieldListFilter),
        "status",
        ("form", admin.RelatedOnlyFieldListFilter),
        ImpossibleTimingFilter,
        "simulated",
    ]
    actions = ["withdraw"]
    search_fields = ["code", "prolific_pid"]
    readonly_fields = [f.name for f in Participant._meta.fields]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .filter(study__in=studies_for_user(request.user))
            .select_related("study", "form")
        )

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and _deletable(obj)

    def delete_model(self, request, obj):
        services.data_delete(objects=[obj], user=request.user)

    def delete_queryset(self, request, queryset):
        services.data_delete(objects=queryset.select_related("form"), user=request.user)

    def get_search_results(self, request, queryset, search_term):
        """A public id (``P000001``, as exports and reports name participants) finds its
        participant; other terms search the recruiter ids."""
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip()
        if re.fullmatch(r"[Pp]\d{1,12}", term):
            results |= queryset.filter(pk=int(term[1:]))
        return results, may_have_duplicates

    @admin.display(description="public id")
    def short_code(self, obj: Participant) -> str:
        return obj.public_id

    @admin.display(description="timing", boolean=False)
    def timing(self, obj: Participant) -> str:
        return "not humanly possible" if obj.timing_flag else ""

    @admin.action(
        description="Withdraw: delete their data and everything derived, keep a record",
        permissions=["delete"],
    )
    def withdraw(self, request, queryset):
        from survey.privacy import participant_withdraw

        for p in list(queryset):
            record = participant_withdraw(
                participant=p,
                requested_by="researcher",
                done_by=request.user.get_username(),
                reason="withdrawn in the admin",
            )
            self.message_user(request, f"{record.public_id} withdrawn", messages.SUCCESS)


@admin.register(Withdrawal)
class WithdrawalAdmin(admin.ModelAdmin):
    """The records that participants' data was withdrawn (read-only)."""

    list_display = ["public_id", "study", "withdrawn_at", "requested_by", "done_by", "reason"]
    list_filter = [("study", admin.RelatedOnlyFieldListFilter), "requested_by"]
    readonly_fields = [f.name for f in Withdrawal._meta.fields]

    def get_queryset(self, request):
        return super().get_queryset(request).filter(study__in=studies_for_user(request.user))

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Rating)
class RatingAdmin(admin.ModelAdmin):
    list_display = [
        "participant",
        "trial",
        "track",
        "value",
        "position",
        "listening_s",
        "created_at",
    ]
    list_filter = [("trial__form__study", admin.RelatedOnlyFieldListFilter)]
    readonly_fields = [f.name for f in Rating._meta.fields]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .filter(participant__study__in=studies_for_user(request.user))
            .select_related("participant", "trial__clip", "track")
        )

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and _deletable(obj)

    def delete_model(self, request, obj):
        services.data_delete(objects=[obj], user=request.user)

    def delete_queryset(self, request, queryset):
        services.data_delete(
            objects=queryset.select_related("participant", "trial__clip", "trial__form"),
            user=request.user,
        )


def _deletable(obj) -> bool:
    """Collected data (a participant, a rating) can be deleted only once its study is not live;
    each deletion is recorded (``DataDeletion``)."""
    if obj is None:
        return True
    study = obj.study if isinstance(obj, Participant) else obj.participant.study
    return study.status != Study.Status.LIVE


@admin.register(DataDeletion)
class DataDeletionAdmin(admin.ModelAdmin):
    """Who deleted which participant or rating, and when: read-only."""

    list_display = ["deleted_at", "study", "what", "participant", "summary", "deleted_by_name"]
    list_filter = [("study", admin.RelatedOnlyFieldListFilter), "what"]
    search_fields = ["participant", "summary", "deleted_by_name"]
    readonly_fields = [f.name for f in DataDeletion._meta.fields]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .filter(study__in=studies_for_user(request.user))
            .select_related("study")
        )

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
