from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from generation import jobs, media, services
from generation.models import Caption, Clip, Condition, GenerationItem, GenerationJob, Track


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


def _probe_upload(form: forms.Form, upload, **require: bool) -> None:
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
    return format_html('<a href="{}" target="_blank">{}</a>', reverse("staff-media", args=[field.name]), label)


class ClipUploadForm(forms.ModelForm):
    upload = forms.FileField(required=False, help_text="A video file (MP4, MOV, WebM, MKV ...). It is "
                             "probed, transcoded to web-ready H.264 and its audio kept as the original audio.")

    class Meta:
        model = Clip
        fields = ["key", "title", "description", "source", "youtube_id", "start_s", "end_s", "labels"]

    def clean(self):
        data = super().clean()
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
    list_display = ["key", "title", "source", "duration_s", "n_tracks", "preview"]
    list_filter = ["source"]
    search_fields = ["key", "title", "youtube_id", "description"]
    inlines = [CaptionInline]
    readonly_fields = ["preview", "duration_s", "width", "height", "created_at"]

    @admin.display(description="tracks")
    def n_tracks(self, obj: Clip) -> int:
        return obj.tracks.count()

    @admin.display(description="video")
    def preview(self, obj: Clip) -> str:
        if not obj.video:
            return "-"
        return format_html('<video src="{}" controls muted preload="metadata" style="max-width:320px"></video>',
                           reverse("staff-media", args=[obj.video.name]))

    def save_model(self, request, obj, form, change):
        upload = form.cleaned_data.get("upload")
        if change and not upload:
            return super().save_model(request, obj, form, change)
        tmp = _upload_to_temp(upload)
        try:
            data = form.cleaned_data
            new = services.clip_import(
                path=tmp, key=data["key"], title=data.get("title", ""), description=data.get("description", ""),
                source=data.get("source") or Clip.Source.UPLOAD, youtube_id=data.get("youtube_id", ""),
                start_s=data.get("start_s"), end_s=data.get("end_s"), labels=data.get("labels") or [],
            )
            obj.pk = new.pk
            obj.__dict__.update({k: v for k, v in new.__dict__.items() if not k.startswith("_")})
        finally:
            _discard(tmp)

    def add_view(self, request, form_url="", extra_context=None):
        try:
            return super().add_view(request, form_url, extra_context)
        except (media.MediaError, ValidationError) as exc:
            self.message_user(request, f"The clip was not imported: {_message(exc)}", messages.ERROR)
            from django.http import HttpResponseRedirect
            return HttpResponseRedirect(request.path)


def _message(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(exc.messages)
    return str(exc)


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
        n = queryset.update(status=Caption.Status.APPROVED)
        self.message_user(request, f"{n} captions approved.")

    @admin.action(description="Reject selected captions")
    def reject(self, request, queryset):
        n = queryset.update(status=Caption.Status.REJECTED)
        self.message_user(request, f"{n} captions rejected.")


@admin.register(Condition)
class ConditionAdmin(admin.ModelAdmin):
    list_display = ["name", "caption_kind", "label"]


class TrackUploadForm(forms.ModelForm):
    upload = forms.FileField(help_text="An audio file (WAV, FLAC, MP3, M4A ...) or a video whose audio is the track. "
                                       "It is loudness-normalised and muxed onto the clip.")
    loudness_target_lufs = forms.FloatField(initial=settings.DEFAULT_LOUDNESS_LUFS,
                                            help_text="Use the study's target (LUFS).")

    class Meta:
        model = Track
        fields = ["clip", "condition", "generator", "model_id", "prompt"]

    def clean(self):
        data = super().clean()
        if data.get("upload"):
            _probe_upload(self, data["upload"], require_audio=True)
        return data


@admin.register(Track)
class TrackAdmin(admin.ModelAdmin):
    list_display = ["clip", "condition", "generator", "model_id", "seed", "loudness_lufs", "duration_s", "files"]
    list_filter = ["condition", "generator"]
    search_fields = ["clip__key", "model_id", "prompt"]
    autocomplete_fields = ["clip"]

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = TrackUploadForm
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return [f.name for f in Track._meta.fields] + ["files"]

    @admin.display(description="files")
    def files(self, obj: Track) -> str:
        return format_html("{} · {}", _media_link(obj.audio, "audio"), _media_link(obj.video, "video"))

    def save_model(self, request, obj, form, change):
        if change:
            return
        tmp = _upload_to_temp(form.cleaned_data["upload"])
        try:
            data = form.cleaned_data
            new = services.track_import_file(
                clip=data["clip"], condition=data["condition"], path=tmp,
                loudness_target_lufs=data["loudness_target_lufs"], generator=data.get("generator") or "upload",
                model_id=data.get("model_id", ""), prompt=data.get("prompt", ""),
            )
            obj.pk = new.pk
            obj.__dict__.update({k: v for k, v in new.__dict__.items() if not k.startswith("_")})
        finally:
            _discard(tmp)

    def add_view(self, request, form_url="", extra_context=None):
        try:
            return super().add_view(request, form_url, extra_context)
        except (media.MediaError, ValidationError) as exc:
            self.message_user(request, f"The track was not imported: {_message(exc)}", messages.ERROR)
            from django.http import HttpResponseRedirect
            return HttpResponseRedirect(request.path)


# --- generation jobs --------------------------------------------------------------------------


def _progress_bar(job: GenerationJob, total: int, finished: int, failed: int) -> str:
    text = f"{finished}/{total}" + (f", {failed} failed" if failed else "")
    return format_html(
        '<progress class="genjob-progress" max="{}" value="{}" data-url="{}" data-status="{}" '
        'style="width:12em"></progress> <span class="genjob-progress-text">{}</span>',
        total or 1, finished if total else 1, reverse("generation-job-progress", args=[job.pk]), job.status, text,
    )


class FailedItemInline(admin.TabularInline):
    model = GenerationItem
    verbose_name_plural = "failed items"
    fields = ["clip", "condition", "error", "reclaims", "finished_at"]
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False

    def get_queryset(self, request):
        return super().get_queryset(request).filter(status=GenerationItem.Status.FAILED).select_related(
            "clip", "condition")


@admin.register(GenerationJob)
class GenerationJobAdmin(admin.ModelAdmin):
    list_display = ["id", "label", "generator", "model_id", "status", "progress", "created_by", "created_at"]
    list_filter = ["status", "generator"]
    search_fields = ["label", "model_id"]
    inlines = [FailedItemInline]
    readonly_fields = ["label", "generator", "model_id", "parameters", "batch_size", "seed", "loudness_target_lufs",
                       "status", "progress", "error", "created_by", "created_at", "started_at", "finished_at"]
    fields = readonly_fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("created_by").annotate(
            n_total=Count("items"),
            n_finished=Count("items", filter=Q(items__status__in=[GenerationItem.Status.DONE,
                                                                  GenerationItem.Status.FAILED])),
            n_failed=Count("items", filter=Q(items__status=GenerationItem.Status.FAILED)),
        )

    def has_add_permission(self, request):
        return False  # jobs start from the "Generate tracks" actions and `manage.py generate_tracks`

    @admin.display(description="progress")
    def progress(self, obj: GenerationJob) -> str:
        return _progress_bar(obj, obj.n_total, obj.n_finished, obj.n_failed)


class GenerateTracksForm(forms.Form):
    conditions = forms.ModelMultipleChoiceField(
        queryset=Condition.objects.all(), widget=forms.CheckboxSelectMultiple,
        help_text="A track is made from each condition's caption of each clip.")
    generator = forms.ChoiceField(choices=GenerationJob.Generator.choices, initial=GenerationJob.Generator.MUSICGEN)
    model = forms.CharField(required=False, max_length=200, initial="facebook/musicgen-small",
                            help_text="MusicGen: an id in the workers' Hugging Face cache or $MUSISCENE_MODEL_DIR, "
                                      "or a folder on the workers. Ignored for sketch.")
    duration_s = forms.FloatField(initial=jobs.MUSICGEN_DEFAULTS["duration_s"], min_value=0.1,
                                  label="duration (s)")
    batch_size = forms.IntegerField(initial=jobs.DEFAULT_BATCH_SIZE, min_value=1, help_text="Tracks per model call.")
    seed = forms.IntegerField(initial=0, min_value=0, max_value=jobs.MAX_SEED)
    top_k = forms.IntegerField(initial=jobs.MUSICGEN_DEFAULTS["top_k"], min_value=0)
    temperature = forms.FloatField(initial=jobs.MUSICGEN_DEFAULTS["temperature"])
    guidance_scale = forms.FloatField(initial=jobs.MUSICGEN_DEFAULTS["guidance_scale"])
    loudness_target_lufs = forms.FloatField(initial=settings.DEFAULT_LOUDNESS_LUFS, label="loudness target (LUFS)",
                                            help_text="Use the study's target.")


@admin.action(description="Generate tracks for the selected clips")
def generate_tracks(modeladmin, request, queryset):
    """Ask for conditions and parameters, then start a generation job for the missing tracks."""
    form = GenerateTracksForm(request.POST if "apply" in request.POST else None)
    if "apply" in request.POST and form.is_valid():
        data = form.cleaned_data
        parameters = {"duration_s": data["duration_s"], "batch_size": data["batch_size"]}
        if data["generator"] == GenerationJob.Generator.MUSICGEN:
            parameters.update(top_k=data["top_k"], temperature=data["temperature"],
                              guidance_scale=data["guidance_scale"])
        try:
            job = jobs.job_create_for(
                clips=queryset.order_by("key"), conditions=data["conditions"], generator=data["generator"],
                model=data["model"], parameters=parameters, seed=data["seed"], user=request.user,
                loudness_target_lufs=data["loudness_target_lufs"], label=f"{queryset.count()} clips (admin)",
            )
            jobs.job_start(job=job)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            modeladmin.message_user(request, f"Started {job}: {job.items.count()} tracks to make.")
            return HttpResponseRedirect(reverse("admin:generation_generationjob_change", args=[job.pk]))
    return TemplateResponse(request, "admin/generation/clip/generate_tracks.html", {
        **modeladmin.admin_site.each_context(request),
        "title": "Generate tracks", "form": form, "clips": queryset.order_by("key"),
        "opts": modeladmin.model._meta, "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
    })


ClipAdmin.actions = [*(ClipAdmin.actions or ()), generate_tracks]
