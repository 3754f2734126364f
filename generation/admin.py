"""The generation app's admin: clips (upload, review, the generate and caption actions), captions,
conditions, tracks and the two job kinds.

One file because Django's admin registers each model's admin here, and the clip actions start the
jobs whose admins follow.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from generation import caption_csv, captioning, engine, jobs, media, services
from generation.access import jobs_for_user
from generation.models import (
    Caption,
    CaptionItem,
    CaptionJob,
    CaptionKind,
    CaptionRevision,
    Clip,
    Condition,
    GenerationItem,
    GenerationJob,
    Track,
)

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations


def _upload_to_temp(upload) -> Path:
    """Copy an upload to a private temp folder under its own (sanitised) name, so that error
    messages name the file the researcher chose. Remove it with ``_discard``."""
    name = Path(upload.name).name.replace("\x00", "")[-100:] or "upload"
    path = Path(tempfile.mkdtemp(prefix="musiscene-upload-")) / name
    with open(path, "wb") as fh:
        for chunk in upload.chunks():
            fh.write(chunk)
    return path


def _discard(path: Path) -> None:
    shutil.rmtree(path.parent, ignore_errors=True)


def _probe_upload(form: forms.BaseForm, upload, **require: bool) -> None:
    """Probe an upload while the form is validated, so a broken file is a form error."""
    tmp = _upload_to_temp(upload)
    try:
        media.probe(tmp, max_duration_s=settings.MEDIA_MAX_DURATION_S, **require)
    except media.MediaError as exc:
        form.add_error("upload", str(exc))
    finally:
        _discard(tmp)


def _media_link(field, label: str) -> str:
    if not field:
        return "-"
    return format_html(
        '<a href="{}" target="_blank">{}</a>', reverse("staff-media", args=[field.name]), label
    )


class ClipUploadForm(forms.ModelForm):
    upload = forms.FileField(
        required=False,
        help_text="A video file (MP4, MOV, WebM, MKV ...). It is "
        "probed, transcoded to web-ready H.264 and its audio kept as the original audio.",
    )

    class Meta:
        model = Clip
        fields = [
            "key",
            "title",
            "description",
            "source",
            "youtube_id",
            "start_s",
            "end_s",
            "labels",
        ]

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if not self.instance.pk and not data.get("upload"):
            raise ValidationError("Upload a video file for the new clip.")
        if data.get("upload"):
            _probe_upload(self, data["upload"], require_video=True)
        return data


class CaptionInline(admin.TabularInline):
    model = Caption
    extra = 0
    fields = ["kind", "text", "status", "model_id"]


@admin.register(Clip)
class ClipAdmin(admin.ModelAdmin):
    form = ClipUploadForm
    list_display = ["key", "title", "source", "duration_s", "n_tracks", "preview", "review_link"]
    list_filter = ["source"]
    search_fields = ["key", "title", "youtube_id", "description"]
    inlines = [CaptionInline]
    readonly_fields = ["preview", "duration_s", "width", "height", "created_at"]
    actions: list[Callable[..., Any] | str] = []  # generate_tracks and caption_clips (below)

    @admin.display(description="tracks")
    def n_tracks(self, obj: Clip) -> int:
        return obj.tracks.count()

    @admin.display(description="captions")
    def review_link(self, obj: Clip) -> str:
        return format_html(
            '<a href="{}">review</a>', reverse("admin:generation_clip_review", args=[obj.pk])
        )

    def get_urls(self):
        from django.urls import path

        review = path(
            "<int:pk>/review/",
            self.admin_site.admin_view(self.review_view),
            name="generation_clip_review",
        )
        return [review, *super().get_urls()]

    def review_view(self, request, pk: int):
        return clip_review_view(self, request, pk)

    def save_formset(self, request, form, formset, change):
        if formset.model is not Caption:
            return super().save_formset(request, form, formset, change)
        # edits of existing captions go through the service, which records who changed what
        instances = formset.save(commit=False)
        for obj in formset.deleted_objects:
            obj.delete()
        for obj in instances:
            if obj.pk is None:
                obj.save()
                continue
            Caption.objects.filter(pk=obj.pk).update(kind=obj.kind, model_id=obj.model_id)
            services.caption_edit(obj, text=obj.text, status=obj.status, user=request.user)
        formset.save_m2m()

    @admin.display(description="video")
    def preview(self, obj: Clip) -> str:
        if not obj.video:
            return "-"
        return format_html(
            '<video src="{}" controls muted preload="metadata" style="max-width:320px"></video>',
            reverse("staff-media", args=[obj.video.name]),
        )

    def save_model(self, request, obj, form, change):
        upload = form.cleaned_data.get("upload")
        if change and not upload:
            return super().save_model(request, obj, form, change)
        tmp = _upload_to_temp(upload)
        try:
            data = form.cleaned_data
            new = services.clip_import(
                path=tmp,
                key=data["key"],
                title=data.get("title", ""),
                description=data.get("description", ""),
                source=data.get("source") or Clip.Source.UPLOAD,
                youtube_id=data.get("youtube_id", ""),
                start_s=data.get("start_s"),
                end_s=data.get("end_s"),
                labels=data.get("labels") or [],
            )
            obj.pk = new.pk
            obj.__dict__.update({k: v for k, v in new.__dict__.items() if not k.startswith("_")})
        finally:
            _discard(tmp)

    def add_view(self, request, form_url="", extra_context=None):
        try:
            return super().add_view(request, form_url, extra_context)
        except (media.MediaError, ValidationError) as exc:
            self.message_user(
                request, f"The clip was not imported: {_message(exc)}", messages.ERROR
            )
            from django.http import HttpResponseRedirect

            return HttpResponseRedirect(request.path)


def _message(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(exc.messages)
    return str(exc)


class RevisionInline(admin.TabularInline):
    model = CaptionRevision
    verbose_name_plural = "history (the first row's old text is the original)"
    fields = readonly_fields = (
        "created_at",
        "user",
        "old_status",
        "new_status",
        "old_text",
        "new_text",
    )
    extra = 0
    max_num = 0
    can_delete = False


class CaptionImportForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text="UTF-8, a header row; columns clip, kind, text and, optionally, model, prompt, "
        "provenance.",
    )
    replace = forms.BooleanField(
        required=False,
        help_text="When a clip already has a caption of the row's kind, reject the stored one "
        "(kept, never used again) and add the row's. Unticked: keep the stored one, skip the row.",
    )
    approve = forms.BooleanField(
        required=False, help_text="Store the captions approved (unticked: unreviewed)."
    )
    dry_run = forms.BooleanField(
        required=False,
        initial=True,
        label="Dry run",
        help_text="Only check the file and say what would happen.",
    )


def caption_import_view(model_admin: admin.ModelAdmin, request):
    """Upload a captions CSV (``generation.caption_csv``, as ``import_captions`` does)."""
    from django.core.exceptions import PermissionDenied

    if not model_admin.has_add_permission(request):
        raise PermissionDenied
    errors: list[str] = []
    report = None
    if request.method == "POST":
        form = CaptionImportForm(request.POST, request.FILES)
        if form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                report = caption_csv.captions_import_csv(
                    upload.read(),
                    source=upload.name,
                    replace=form.cleaned_data["replace"],
                    approve=form.cleaned_data["approve"],
                    dry_run=form.cleaned_data["dry_run"],
                    user=request.user,
                )
            except caption_csv.CaptionCSVError as exc:
                errors = exc.errors
            else:
                if not report.dry_run:
                    model_admin.message_user(request, report.summary(), messages.SUCCESS)
                    for line in report.skipped:
                        model_admin.message_user(request, line, messages.WARNING)
                    return HttpResponseRedirect(reverse("admin:generation_caption_changelist"))
    else:
        form = CaptionImportForm()
    return TemplateResponse(
        request,
        "admin/generation/caption/import.html",
        {
            **model_admin.admin_site.each_context(request),
            "opts": model_admin.model._meta,
            "title": "Import captions from a CSV file",
            "form": form,
            "errors": errors,
            "report": report,
            "kinds": CaptionKind.choices,
        },
    )


@admin.register(Caption)
class CaptionAdmin(admin.ModelAdmin):
    list_display = ["clip", "kind", "short_text", "status", "provenance"]
    list_filter = ["kind", "status"]
    search_fields = ["text", "clip__key", "model_id"]
    autocomplete_fields = ["clip"]
    actions = ["approve", "reject"]

    @admin.display(description="text")
    def short_text(self, obj: Caption) -> str:
        return obj.text[:100]

    @admin.action(description="Approve selected captions")
    def approve(self, request, queryset):
        n = services.captions_set_status(
            captions=queryset, status=Caption.Status.APPROVED, user=request.user
        )
        self.message_user(request, f"{n} captions approved.")

    @admin.action(description="Reject selected captions (left out of generation and exports)")
    def reject(self, request, queryset):
        n = services.captions_set_status(
            captions=queryset, status=Caption.Status.REJECTED, user=request.user
        )
        self.message_user(request, f"{n} captions rejected.")

    inlines = [RevisionInline]
    change_list_template = "admin/generation/caption/change_list.html"

    def get_urls(self):
        from django.urls import path

        upload = path(
            "import/",
            self.admin_site.admin_view(self.import_view),
            name="generation_caption_import",
        )
        return [upload, *super().get_urls()]

    def import_view(self, request):
        return caption_import_view(self, request)

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return [
            "clip",
            "kind",
            "model_id",
            "prompt",
            "parameters",
            "author",
            "author_note",
            "created_at",
            "review",
        ]

    @admin.display(description="clip review")
    def review(self, obj: Caption) -> str:
        return format_html(
            '<a href="{}">all captions of {}</a>',
            reverse("admin:generation_clip_review", args=[obj.clip_id]),
            obj.clip.key,
        )

    def save_model(self, request, obj, form, change):
        if not change:
            return super().save_model(request, obj, form, change)
        # an edit keeps the original text: it goes through the service, which records a revision
        services.caption_edit(
            obj,
            text=form.cleaned_data.get("text"),
            status=form.cleaned_data.get("status"),
            user=request.user,
        )


@admin.register(Condition)
class ConditionAdmin(admin.ModelAdmin):
    list_display = ["name", "caption_source", "label"]
    list_filter = ["caption_kind"]
    fields = ["name", "label", "caption_kind", "caption_model_id", "caption_source", "description"]
    readonly_fields = ["caption_source"]

    @admin.display(description="caption source")
    def caption_source(self, obj: Condition) -> str:
        return obj.caption_source if obj.caption_kind else "-"


class TrackUploadForm(forms.ModelForm):
    upload = forms.FileField(
        help_text="An audio file (WAV, FLAC, MP3, M4A ...) or a video whose audio is the track. "
        "It is loudness-normalised and muxed onto the clip."
    )
    loudness_target_lufs = forms.FloatField(
        initial=settings.DEFAULT_LOUDNESS_LUFS, help_text="Use the study's target (LUFS)."
    )

    class Meta:
        model = Track
        fields = ["clip", "condition", "generator", "model_id", "prompt"]

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if data.get("upload"):
            _probe_upload(self, data["upload"], require_audio=True)
        return data


@admin.register(Track)
class TrackAdmin(admin.ModelAdmin):
    list_display = [
        "clip",
        "condition",
        "generator",
        "model_id",
        "seed",
        "loudness_lufs",
        "duration_s",
        "files",
    ]
    list_filter = ["condition", "generator"]
    search_fields = ["clip__key", "model_id", "prompt"]
    autocomplete_fields = ["clip"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = TrackUploadForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return [f.name for f in Track._meta.fields] + ["files"]

    @admin.display(description="files")
    def files(self, obj: Track) -> str:
        return format_html(
            "{} · {}", _media_link(obj.audio, "audio"), _media_link(obj.video, "video")
        )

    def save_model(self, request, obj, form, change):
        if change:
            return
        tmp = _upload_to_temp(form.cleaned_data["upload"])
        try:
            data = form.cleaned_data
            new = services.track_import_file(
                clip=data["clip"],
                condition=data["condition"],
                path=tmp,
                loudness_target_lufs=data["loudness_target_lufs"],
                generator=data.get("generator") or "upload",
                model_id=data.get("model_id", ""),
                prompt=data.get("prompt", ""),
            )
            obj.pk = new.pk
            obj.__dict__.update({k: v for k, v in new.__dict__.items() if not k.startswith("_")})
        finally:
            _discard(tmp)

    def add_view(self, request, form_url="", extra_context=None):
        try:
            return super().add_view(request, form_url, extra_context)
        except (media.MediaError, ValidationError) as exc:
            self.message_user(
                request, f"The track was not imported: {_message(exc)}", messages.ERROR
            )
            from django.http import HttpResponseRedirect

            return HttpResponseRedirect(request.path)


# --- generation jobs --------------------------------------------------------------------------


def _progress_bar(
    job, total: int, finished: int, failed: int, *, url_name: str = "generation-job-progress"
) -> str:
    """A progress bar that the admin's script keeps up to date from ``url_name``'s JSON."""
    text = f"{finished}/{total}" + (f", {failed} failed" if failed else "")
    return format_html(
        '<progress class="genjob-progress" max="{}" value="{}" data-url="{}" data-status="{}" '
        'style="width:12em"></progress> <span class="genjob-progress-text">{}</span>',
        total or 1,
        finished if total else 1,
        reverse(url_name, args=[job.pk]),
        job.status,
        text,
    )


class _ItemCounts(TypedDict):
    n_total: int
    n_finished: int
    n_failed: int


def _with_item_counts(queryset, item_status):
    """Annotate jobs with ``n_total``, ``n_finished`` (done or failed) and ``n_failed`` items."""
    return queryset.select_related("created_by").annotate(
        n_total=Count("items"),
        n_finished=Count(
            "items", filter=Q(items__status__in=[item_status.DONE, item_status.FAILED])
        ),
        n_failed=Count("items", filter=Q(items__status=item_status.FAILED)),
    )


def _error_summary(job, items) -> str:
    """The failed items' errors, each distinct message once with how many items it hit (the
    job's own error, when the whole job failed, is shown above and only referred to)."""
    rows = list(items.values("error").annotate(n=Count("id")).order_by("-n", "error")[:20])
    if not rows:
        return "-"

    def text(error: str) -> str:
        if job.error and error == job.error[: len(error)]:
            return "the job's error, above"
        return error or "(no message)"

    return format_html_join(
        "",
        "<p><strong>{} item{}:</strong> {}</p>",
        ((r["n"], "" if r["n"] == 1 else "s", text(r["error"])) for r in rows),
    )


class FailedItemInline(admin.TabularInline):
    model = GenerationItem
    verbose_name_plural = "failed items (their errors are listed once, above)"
    fields = readonly_fields = ("clip", "condition", "reclaims", "finished_at")
    extra = 0
    max_num = 0
    can_delete = False

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .filter(status=GenerationItem.Status.FAILED)
            .select_related("clip", "condition")
        )


@admin.register(GenerationJob)
class GenerationJobAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "label",
        "generator",
        "model_id",
        "status",
        "progress",
        "created_by",
        "created_at",
    ]
    list_filter = ["status", "generator"]
    search_fields = ["label", "model_id"]
    inlines = [FailedItemInline]
    readonly_fields = fields = (
        "label",
        "generator",
        "model_id",
        "parameters",
        "batch_size",
        "seed",
        "loudness_target_lufs",
        "status",
        "progress",
        "error",
        "item_errors",
        "created_by",
        "created_at",
        "started_at",
        "finished_at",
    )

    def get_queryset(self, request):
        return _with_item_counts(
            jobs_for_user(request.user, super().get_queryset(request)), GenerationItem.Status
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        job = (
            jobs_for_user(request.user, GenerationJob.objects.filter(pk=object_id)).first()
            if (str(object_id).isdigit())
            else None
        )
        if job is not None:  # a job the stopped server was running goes on (embedded default)
            jobs.job_resume(job=job)
        return super().change_view(request, object_id, form_url, extra_context)

    def has_add_permission(self, request):
        return (
            False  # jobs start from the "Generate tracks" actions and `manage.py generate_tracks`
        )

    @admin.display(description="progress")
    def progress(self, obj: WithAnnotations[GenerationJob, _ItemCounts]) -> str:
        return _progress_bar(obj, obj.n_total, obj.n_finished, obj.n_failed)

    @admin.display(description="errors of the failed items")
    def item_errors(self, obj: GenerationJob) -> str:
        return _error_summary(obj, obj.items.filter(status=GenerationItem.Status.FAILED))


class GenerateTracksForm(forms.Form):
    conditions = forms.ModelMultipleChoiceField(
        queryset=Condition.objects.all(),
        widget=forms.CheckboxSelectMultiple,
        help_text="A track is made from each condition's caption of each clip.",
    )
    generator = forms.ChoiceField(
        choices=GenerationJob.Generator.choices, initial=GenerationJob.Generator.MUSICGEN
    )
    model = forms.CharField(
        required=False,
        max_length=200,
        initial="facebook/musicgen-small",
        help_text="MusicGen: an id in the workers' Hugging Face cache or $MUSISCENE_MODEL_DIR, "
        "or a folder on the workers. Ignored for sketch.",
    )
    duration_s = forms.FloatField(
        initial=jobs.MUSICGEN_DEFAULTS["duration_s"], min_value=0.1, label="duration (s)"
    )
    batch_size = forms.IntegerField(
        initial=jobs.DEFAULT_BATCH_SIZE, min_value=1, help_text="Tracks per model call."
    )
    seed = forms.IntegerField(initial=0, min_value=0, max_value=jobs.MAX_SEED)
    top_k = forms.IntegerField(initial=jobs.MUSICGEN_DEFAULTS["top_k"], min_value=0)
    temperature = forms.FloatField(initial=jobs.MUSICGEN_DEFAULTS["temperature"])
    guidance_scale = forms.FloatField(initial=jobs.MUSICGEN_DEFAULTS["guidance_scale"])
    loudness_target_lufs = forms.FloatField(
        initial=settings.DEFAULT_LOUDNESS_LUFS,
        label="loudness target (LUFS)",
        help_text="Use the study's target.",
    )

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if data.get("generator"):  # the model is looked for before any job starts
            try:
                jobs.generator_check(generator=data["generator"], model=data.get("model", ""))
            except ValidationError as exc:
                self.add_error("model", exc)
        return data


def job_outcome(job: GenerationJob, *, bound: bool = False) -> tuple[int, str]:
    """The admin message after starting ``job``: (level, text). An in-process job has run
    already, so it says how it ended (a failure is an error, never a green banner); a job on the
    workers says it started."""
    job.refresh_from_db()
    p = jobs.job_progress(job=job)
    if job.status == GenerationJob.Status.FAILED:
        return messages.ERROR, f"{job} failed: {job.error or 'see its failed items'}"
    if job.status == GenerationJob.Status.DONE:
        if p["total"] and p["failed"] == p["total"]:
            return messages.ERROR, f"{job}: all {p['total']} tracks failed (the job lists why)"
        made = f"{job}: {p['done']} tracks made" + (
            ", and bound to the study's trials" if bound else ""
        )
        if p["failed"]:
            return messages.WARNING, f"{made}; {p['failed']} failed (the job lists why)."
        return messages.SUCCESS, made + "."
    where = "in the background" if engine.runs_in_background() else "on the workers"
    return messages.INFO, (
        f"Started {job}: {p['total']} tracks to make {where}; this page follows its progress."
    )


@admin.action(description="Generate tracks for the selected clips")
def generate_tracks(modeladmin, request, queryset):
    """Ask for conditions and parameters, then start a generation job for the missing tracks."""
    form = GenerateTracksForm(request.POST if "apply" in request.POST else None)
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
            job = jobs.job_create_for(
                clips=queryset.order_by("key"),
                conditions=data["conditions"],
                generator=data["generator"],
                model=data["model"],
                parameters=parameters,
                seed=data["seed"],
                user=request.user,
                loudness_target_lufs=data["loudness_target_lufs"],
                label=f"{queryset.count()} clips (admin)",
            )
            jobs.job_start(job=job)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            level, text = job_outcome(job)
            modeladmin.message_user(request, text, level)
            return HttpResponseRedirect(
                reverse("admin:generation_generationjob_change", args=[job.pk])
            )
    return TemplateResponse(
        request,
        "admin/generation/clip/generate_tracks.html",
        {
            **modeladmin.admin_site.each_context(request),
            "title": "Generate tracks",
            "form": form,
            "clips": queryset.order_by("key"),
            "opts": modeladmin.model._meta,
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
        },
    )


ClipAdmin.actions.append(generate_tracks)


# --- caption jobs and the caption review --------------------------------------------------------


class FailedCaptionItemInline(admin.TabularInline):
    model = CaptionItem
    verbose_name_plural = "failed captions (their errors are listed once, above)"
    fields = readonly_fields = ("clip", "kind", "reclaims", "finished_at")
    extra = 0
    max_num = 0
    can_delete = False

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .filter(status=CaptionItem.Status.FAILED)
            .select_related("clip")
        )


@admin.register(CaptionJob)
class CaptionJobAdmin(admin.ModelAdmin):
    list_display = ["id", "label", "kinds", "status", "progress", "created_by", "created_at"]
    list_filter = ["status"]
    search_fields = ["label"]
    inlines = [FailedCaptionItemInline]
    readonly_fields = fields = (
        "label",
        "kinds",
        "options",
        "stage",
        "status",
        "progress",
        "error",
        "item_errors",
        "created_by",
        "created_at",
        "started_at",
        "finished_at",
    )
    change_form_template = "admin/generation/generationjob/change_form.html"
    change_list_template = "admin/generation/generationjob/change_list.html"

    def get_queryset(self, request):
        return _with_item_counts(
            jobs_for_user(request.user, super().get_queryset(request)), CaptionItem.Status
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        job = (
            jobs_for_user(request.user, CaptionJob.objects.filter(pk=object_id)).first()
            if (str(object_id).isdigit())
            else None
        )
        if job is not None:  # a job the stopped server was running goes on (embedded default)
            captioning.caption_job_resume(job=job)
        return super().change_view(request, object_id, form_url, extra_context)

    def has_add_permission(self, request):
        # jobs start from the "Caption the selected clips" action and `manage.py caption_clips`
        return False

    @admin.display(description="progress")
    def progress(self, obj: WithAnnotations[CaptionJob, _ItemCounts]) -> str:
        return _progress_bar(
            obj,
            obj.n_total,
            obj.n_finished,
            obj.n_failed,
            url_name="generation-caption-job-progress",
        )

    @admin.display(description="errors of the failed items")
    def item_errors(self, obj: CaptionJob) -> str:
        return _error_summary(obj, obj.items.filter(status=CaptionItem.Status.FAILED))


class CaptionClipsForm(forms.Form):
    kinds = forms.MultipleChoiceField(
        choices=[(k, CaptionKind(k).label) for k in captioning.PIPELINE_KINDS],
        widget=forms.CheckboxSelectMultiple,
        initial=["video", "music", "fusion", "msi"],
        help_text="Only missing captions are written (approved or unreviewed ones count; rejected "
        "ones do not). "
        "Fusion and MSI are composed from the video and music captions, after them.",
    )
    video_model = forms.CharField(
        max_length=300,
        initial=captioning.DEFAULT_VIDEO_MODEL,
        help_text="GIT video captioner: an id in the workers' cache or a folder.",
    )
    music_checkpoint = forms.CharField(
        max_length=300,
        required=False,
        help_text="MU-LLaMA base adapter (a converted checkpoint folder on the workers).",
    )
    musiscene_checkpoint = forms.CharField(
        max_length=300,
        required=False,
        help_text="A trained MusiScene checkpoint: writes predicted MSI.",
    )
    backend = forms.CharField(
        max_length=300,
        initial=f"local:{captioning.DEFAULT_LLM}",
        help_text="Fusion/MSI composer: local:PATH or http:URL (OpenAI-compatible, up to /v1).",
    )
    llm_model = forms.CharField(
        max_length=200, required=False, help_text="HTTP: the served model name."
    )
    prompt_set = forms.ChoiceField(
        choices=[
            ("paper", "The paper's (Table 1: What type of scene the music is suitable for?)"),
            ("released", "The authors' released script (Describe the video ...)"),
        ],
        initial="paper",
        required=False,
        help_text="The fusion/MSI prompts (default the paper's); each caption records the set "
        "it was written with.",
    )
    batch_size = forms.IntegerField(initial=8, min_value=1)
    seed = forms.IntegerField(initial=0, min_value=0)


@admin.action(description="Caption the selected clips")
def caption_clips(modeladmin, request, queryset):
    """Ask for kinds and models, then start a caption job for the missing captions."""
    form = CaptionClipsForm(request.POST if "apply" in request.POST else None)
    if "apply" in request.POST and form.is_valid():
        data = dict(form.cleaned_data)
        kinds = data.pop("kinds")
        try:
            job = captioning.caption_job_create(
                clips=queryset.order_by("key"),
                kinds=kinds,
                options=data,
                user=request.user,
                label=f"{queryset.count()} clips (admin)",
            )
            captioning.caption_job_start(job=job)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            where = "in the background" if engine.runs_in_background() else "on the workers"
            modeladmin.message_user(
                request,
                f"Started {job}: {job.items.count()} captions to write {where}; this page "
                "follows its progress.",
            )
            return HttpResponseRedirect(
                reverse("admin:generation_captionjob_change", args=[job.pk])
            )
    return TemplateResponse(
        request,
        "admin/generation/clip/caption_clips.html",
        {
            **modeladmin.admin_site.each_context(request),
            "title": "Caption clips",
            "form": form,
            "clips": queryset.order_by("key"),
            "opts": modeladmin.model._meta,
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
        },
    )


ClipAdmin.actions.append(caption_clips)

#: Columns of the review page, in this order; kinds without captions are left out.
REVIEW_KINDS = (*captioning.PIPELINE_KINDS, CaptionKind.HUMAN_MSI.value, CaptionKind.OTHER.value)


def clip_review_view(modeladmin, request, pk: int):
    """A clip, playable, with its captions of every kind side by side: edit, approve or reject
    each (through ``services.caption_edit``, which keeps the history), or approve all unreviewed."""
    from django.shortcuts import get_object_or_404

    clip = get_object_or_404(Clip, pk=pk)
    if not modeladmin.has_view_permission(request, clip):
        from django.core.exceptions import PermissionDenied

        raise PermissionDenied
    if request.method == "POST":
        if not request.user.has_perm("generation.change_caption"):
            from django.core.exceptions import PermissionDenied

            raise PermissionDenied
        here = reverse("admin:generation_clip_review", args=[clip.pk])
        if "approve_unreviewed" in request.POST:
            n = services.captions_set_status(
                captions=clip.captions.filter(status=Caption.Status.UNREVIEWED),
                status=Caption.Status.APPROVED,
                user=request.user,
            )
            modeladmin.message_user(request, f"{n} captions approved.")
            return HttpResponseRedirect(here)
        caption = get_object_or_404(Caption, pk=request.POST.get("caption"), clip=clip)
        status = {
            "approve": Caption.Status.APPROVED,
            "reject": Caption.Status.REJECTED,
            "unreview": Caption.Status.UNREVIEWED,
        }.get(request.POST.get("do", ""))
        text = request.POST.get("text")
        try:
            services.caption_edit(caption, text=text, status=status, user=request.user)
        except ValidationError as exc:
            modeladmin.message_user(
                request, f"Caption {caption.pk} not changed: {_message(exc)}", messages.ERROR
            )
        else:
            modeladmin.message_user(
                request, f"Caption {caption.pk} ({caption.kind}) saved: {caption.status}."
            )
        return HttpResponseRedirect(f"{here}#caption-{caption.pk}")
    captions = list(
        clip.captions.select_related("author")
        .prefetch_related("revisions__user")
        .order_by("kind", "-created_at", "-id")
    )
    columns = []
    for kind in REVIEW_KINDS:
        mine = [c for c in captions if c.kind == kind]
        if mine:
            columns.append({"kind": kind, "label": CaptionKind(kind).label, "captions": mine})
    following = (
        Clip.objects.filter(key__gt=clip.key, captions__status=Caption.Status.UNREVIEWED)
        .order_by("key")
        .values_list("pk", flat=True)
        .first()
    )
    return TemplateResponse(
        request,
        "admin/generation/clip/review.html",
        {
            **modeladmin.admin_site.each_context(request),
            "title": f"Captions of {clip.key}",
            "clip": clip,
            "columns": columns,
            "opts": modeladmin.model._meta,
            "video_url": reverse("staff-media", args=[clip.video.name]) if clip.video else "",
            "audio_url": reverse("staff-media", args=[clip.original_audio.name])
            if clip.original_audio
            else "",
            "next_url": reverse("admin:generation_clip_review", args=[following])
            if following
            else "",
            "n_unreviewed": sum(c.status == Caption.Status.UNREVIEWED for c in captions),
            "can_change": request.user.has_perm("generation.change_caption"),
        },
    )
