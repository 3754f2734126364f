"""Caption jobs: write the missing captions of clips with the captioners of ``modeling.captioners``.

One file because the kinds' stage order, the cells, the batch that writes them and the
captioners the batch loads (with the media files they read) change together whenever a kind is
added; claims, heartbeats, the watchdog and the background thread are already apart
(:mod:`generation.engine`). The seam for a later split: the captioners kept per process and the
media helpers (``_cached`` to ``_one_by_one``) could become a module of their own.

A job is made of (clip, kind) cells (:class:`~generation.models.CaptionItem`) for the kinds

- ``video``: a GIT video captioner on the clip's video (``video_model``);
- ``music``: MU-LLaMA's music description of the clip's original audio (``music_checkpoint``,
  the converted base adapter);
- ``msi_pred``: a trained MusiScene asked the scene question (``musiscene_checkpoint``);
- ``fusion`` and ``msi``: the paper's Mixtral prompts on the clip's video and music captions,
  through a local model (``backend="local:PATH"``) or an OpenAI-compatible server
  (``backend="http:URL"``, served model ``llm_model``).

Kinds run in :data:`STAGES`: fusion and MSI wait until the video and music captions are written.
Only what is missing is made: a cell whose clip has a usable caption of the kind (approved or
unreviewed; for ``msi_pred``, one from the same checkpoint) is left out when the job is made and
skipped when it is claimed, so running the same command again after an interruption writes only
the rest. Every caption stores its provenance: the model, the exact prompt and the parameters
(sampling, seed, frames, backend, the ids of the captions a composed caption was made from).

Runs: :func:`caption_job_start` enqueues Celery tasks (``generation.tasks.caption_batch``) per
batch of one kind after commit; the last batch of a stage moves the job to the next stage with
one atomic ``UPDATE`` (:func:`caption_job_advance`). Without a broker the tasks run on the
server's background thread (inline with ``JOBS_EMBEDDED=inline``; :func:`caption_job_resume`
picks up a job a stopped server left); :func:`caption_job_run` runs a job in this process with a
progress callback (the command).
Claims, heartbeats, the watchdog that hands back a lost claim and the progress counts are the
engine's (:mod:`generation.engine`, kind :data:`CAPTIONS`); a job whose runner vanished (no
heartbeat) is closed as interrupted when the next job is made.

Settings read here (all optional): ``CAPTION_CLAIM_TIMEOUT_S`` (``GENERATION_CLAIM_TIMEOUT_S``,
300), ``CAPTION_DEVICE`` (``GENERATION_DEVICE``; "" = cuda when present), ``CAPTION_GPU_QUEUE``
("gpu"), ``CAPTION_MAX_MODELS`` (2 models kept loaded per process).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Q
from django.db.models.fields.files import FieldFile
from django.utils import timezone

from generation import engine, services
from generation.engine import TRANSIENT_ERRORS
from generation.models import Caption, CaptionItem, CaptionJob, CaptionKind, Clip
from generation.selectors import caption_for

logger = logging.getLogger(__name__)

Item = CaptionItem
Job = CaptionJob

#: The order kinds are written in: a stage starts when the one before it has finished.
STAGES: tuple[tuple[str, ...], ...] = (
    (CaptionKind.VIDEO.value, CaptionKind.MUSIC.value, CaptionKind.MSI_PREDICTED.value),
    (CaptionKind.FUSION.value, CaptionKind.MSI.value),
)
PIPELINE_KINDS: tuple[str, ...] = tuple(kind for stage in STAGES for kind in stage)
COMPOSED_KINDS = (CaptionKind.FUSION.value, CaptionKind.MSI.value)

DEFAULT_VIDEO_MODEL = "microsoft/git-base-vatex"
DEFAULT_LLM = "mistralai/Mixtral-8x7B-Instruct-v0.1"

#: Options of a job and their defaults. ``max_new_tokens`` None keeps each model's own default
#: (the paper's 512 for MU-LLaMA and the composer, 50 for GIT).
DEFAULT_OPTIONS: dict[str, Any] = {
    "video_model": DEFAULT_VIDEO_MODEL,
    "music_checkpoint": "",
    "musiscene_checkpoint": "",
    "backend": f"local:{DEFAULT_LLM}",
    "llm_model": "",
    "api": "completions",
    "timeout_s": 120.0,
    "retries": 4,
    "concurrency": 1,
    "batch_size": 8,
    "seed": 0,
    "max_new_tokens": None,
    "prompt_set": "paper",
}
#: Jobs made before prompt sets existed composed with the released script's wording.
LEGACY_PROMPT_SET = "released"

UNFINISHED = (Item.Status.PENDING, Item.Status.CLAIMED)

#: Caption jobs as the engine sees them.
CAPTIONS = engine.JobKind(
    name="caption job",
    job_model=Job,
    item_model=Item,
    unfinished=UNFINISHED,
    handed_back={Item.Status.CLAIMED: Item.Status.PENDING},
    watch_task="generation.tasks.watch_caption_job",
    timeout_setting="CAPTION_CLAIM_TIMEOUT_S",
)
BATCH_TASK = "generation.tasks.caption_batch"
claim_timeout_s = CAPTIONS.claim_timeout_s
heartbeat_s = CAPTIONS.heartbeat_s
watch_interval_s = CAPTIONS.watch_interval_s


# --------------------------------------------------------------------------------------------
# Options
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Backend:
    """Where the fusion/MSI composer runs: ``local`` (a model folder or id) or ``http`` (a URL)."""

    kind: str
    target: str


def parse_backend(spec: str) -> Backend:
    """``local:PATH`` or ``http:URL`` (a bare ``http(s)://...`` URL is the HTTP backend too).

    >>> parse_backend("http:http://localhost:8000/v1")
    Backend(kind='http', target='http://localhost:8000/v1')
    >>> parse_backend("local:runs/mixtral")
    Backend(kind='local', target='runs/mixtral')
    """
    spec = (spec or "").strip()
    if spec.startswith(("http://", "https://")):
        return Backend("http", spec)
    kind, sep, target = spec.partition(":")
    if not sep or kind not in ("local", "http") or not target.strip():
        raise ValidationError(f"the composer backend must be local:PATH or http:URL, got {spec!r}")
    target = target.strip()
    if kind == "http" and not target.startswith(("http://", "https://")):
        raise ValidationError(f"the HTTP backend needs an http(s) URL up to /v1, got {target!r}")
    return Backend(kind, target)


def options_clean(
    *, kinds: Iterable[str], options: dict[str, Any] | None
) -> tuple[list[str], dict[str, Any]]:
    """The kinds in stage order and the options with defaults filled in; ``ValidationError``
    names what is wrong (an unknown kind or option, a kind whose model was not named)."""
    kinds = [str(k).strip() for k in kinds if str(k).strip()]
    if not kinds:
        raise ValidationError(f"name the caption kinds to write: {', '.join(PIPELINE_KINDS)}")
    unknown = sorted(set(kinds) - set(PIPELINE_KINDS))
    if unknown:
        raise ValidationError(
            f"unknown caption kinds {', '.join(unknown)}; the pipeline writes "
            f"{', '.join(PIPELINE_KINDS)}"
        )
    ordered = [k for k in PIPELINE_KINDS if k in kinds]
    given = {k: v for k, v in (options or {}).items() if v is not None}
    extra = sorted(set(given) - set(DEFAULT_OPTIONS))
    if extra:
        raise ValidationError(
            f"unknown caption options {', '.join(extra)}; known: {', '.join(DEFAULT_OPTIONS)}"
        )
    out = {**DEFAULT_OPTIONS, **given}
    for name in (
        "video_model",
        "music_checkpoint",
        "musiscene_checkpoint",
        "backend",
        "llm_model",
        "api",
        "prompt_set",
    ):
        out[name] = str(out[name] or "").strip()
    try:
        out["batch_size"] = int(out["batch_size"])
        out["retries"] = int(out["retries"])
        out["concurrency"] = int(out["concurrency"])
        out["timeout_s"] = float(out["timeout_s"])
        out["seed"] = None if out["seed"] in ("", None) else int(out["seed"])
        if out["max_new_tokens"] is not None:
            out["max_new_tokens"] = int(out["max_new_tokens"])
    except (TypeError, ValueError):
        raise ValidationError(
            f"caption options must be numbers where numbers are expected, got {options!r}"
        ) from None
    if (
        out["batch_size"] < 1
        or out["concurrency"] < 1
        or out["retries"] < 0
        or out["timeout_s"] <= 0
    ):
        raise ValidationError(
            "batch_size and concurrency must be >= 1, retries >= 0 and timeout_s > 0"
        )
    if out["max_new_tokens"] is not None and out["max_new_tokens"] < 1:
        raise ValidationError("max_new_tokens must be >= 1")
    if "video" in ordered and not out["video_model"]:
        raise ValidationError("video captions need a video model (--video-model)")
    if "music" in ordered and not out["music_checkpoint"]:
        raise ValidationError(
            "music captions need MU-LLaMA's base adapter checkpoint (--music-checkpoint DIR)"
        )
    if "msi_pred" in ordered and not out["musiscene_checkpoint"]:
        raise ValidationError(
            "predicted MSI captions need a trained MusiScene checkpoint "
            "(--musiscene-checkpoint "
            "DIR)"
        )
    from modeling.captioners.composer import DEFAULT_PROMPT_SET, PROMPT_SETS

    out["prompt_set"] = out["prompt_set"] or DEFAULT_PROMPT_SET
    if out["prompt_set"] not in PROMPT_SETS:
        raise ValidationError(
            f"prompt_set must be one of {', '.join(PROMPT_SETS)} (paper: the paper's Table 1 "
            f"wording; released: the authors' script), got {out['prompt_set']!r}"
        )
    if set(ordered) & set(COMPOSED_KINDS):
        backend = parse_backend(out["backend"])
        if out["api"] not in ("completions", "chat"):
            raise ValidationError(f"api must be completions or chat, got {out['api']!r}")
        if backend.kind == "http" and not out["llm_model"]:
            out["llm_model"] = DEFAULT_LLM
    return ordered, out


# --------------------------------------------------------------------------------------------
# What is missing
# --------------------------------------------------------------------------------------------


def _cell_key(kind: str, options: dict[str, Any]) -> str:
    """Cells of ``msi_pred`` are per checkpoint; the other kinds need one caption of the kind."""
    return options.get("musiscene_checkpoint", "") if kind == CaptionKind.MSI_PREDICTED else ""


def existing_caption(*, clip: Clip, kind: str, options: dict[str, Any]) -> Caption | None:
    """The usable caption that makes the (clip, kind) cell done already, or None."""
    if kind == CaptionKind.MSI_PREDICTED:
        return (
            Caption.objects.filter(
                clip=clip, kind=kind, model_id=options.get("musiscene_checkpoint", "")
            )
            .exclude(status=Caption.Status.REJECTED)
            .order_by("-created_at", "-id")
            .first()
        )
    return caption_for(clip=clip, kind=kind)


def _cells_done(
    clip_ids: list[int], kinds: list[str], options: dict[str, Any]
) -> set[tuple[int, str]]:
    done = set()
    for clip_id, kind, model_id in (
        Caption.objects.filter(clip_id__in=clip_ids, kind__in=kinds)
        .exclude(status=Caption.Status.REJECTED)
        .values_list("clip_id", "kind", "model_id")
    ):
        if kind != CaptionKind.MSI_PREDICTED or model_id == _cell_key(kind, options):
            done.add((clip_id, kind))
    return done


def _cells_in_flight(
    kinds: list[str], options: dict[str, Any], *, exclude_job: int
) -> set[tuple[int, str]]:
    """(clip id, kind) of unfinished items of other live jobs (running, with a fresh heartbeat)."""
    cutoff = timezone.now() - timedelta(seconds=claim_timeout_s())
    live = {
        job.pk: job.options
        for job in Job.objects.filter(status=Job.Status.RUNNING, heartbeat_at__gte=cutoff)
        .exclude(pk=exclude_job)
        .only("pk", "options")
    }
    busy = set()
    for job_id, clip_id, kind in Item.objects.filter(
        job_id__in=list(live), kind__in=kinds, status__in=UNFINISHED
    ).values_list("job_id", "clip_id", "kind"):
        if _cell_key(kind, live[job_id]) == _cell_key(kind, options):
            busy.add((clip_id, kind))
    return busy


# --------------------------------------------------------------------------------------------
# Creating, starting and running jobs
# --------------------------------------------------------------------------------------------


def caption_job_create(
    *,
    clips: Iterable[Clip],
    kinds: Iterable[str],
    options: dict[str, Any] | None = None,
    user=None,
    label: str = "",
) -> CaptionJob:
    """A job for the (clip, kind) cells that have no usable caption and that no live job is
    writing. Jobs whose runner vanished are closed first (:func:`caption_jobs_close_interrupted`).
    Models are loaded only where the job runs, so a missing model fails the job there."""
    kinds, opts = options_clean(kinds=kinds, options=options)
    caption_jobs_close_interrupted()
    clips = list(clips)
    with transaction.atomic():
        job = Job.objects.create(
            label=label[:200],
            kinds=kinds,
            options=opts,
            created_by=user if getattr(user, "pk", None) else None,
        )
        skip = _cells_done([c.pk for c in clips], kinds, opts) | _cells_in_flight(
            kinds, opts, exclude_job=job.pk
        )
        items, seen = [], set()
        for clip in clips:
            for kind in kinds:
                if (clip.pk, kind) in skip or (clip.pk, kind) in seen:
                    continue
                seen.add((clip.pk, kind))
                items.append(Item(job=job, clip=clip, kind=kind))
        Item.objects.bulk_create(items)
    logger.info(
        "created %s: %d captions to write (%d clips x %d kinds)",
        job,
        len(items),
        len(clips),
        len(kinds),
    )
    return job


def _stage_of(kind: str) -> int:
    return next(i for i, stage in enumerate(STAGES) if kind in stage)


def _batches(job: CaptionJob, item_ids: Sequence[int]) -> list[list[int]]:
    """Batches of one kind each, kinds in stage order (one model load serves a run of batches)."""
    size = int(job.options.get("batch_size") or DEFAULT_OPTIONS["batch_size"])
    by_kind: dict[str, list[int]] = {}
    for item_id, kind in (
        Item.objects.filter(pk__in=list(item_ids)).order_by("id").values_list("id", "kind")
    ):
        by_kind.setdefault(kind, []).append(item_id)
    out = []
    for kind in PIPELINE_KINDS:
        ids = by_kind.get(kind, [])
        out += [ids[i : i + size] for i in range(0, len(ids), size)]
    return out


def _queue_for(job: CaptionJob, kind: str) -> str:
    """Model work goes to the GPU queue; a composer behind an HTTP endpoint is light CPU work."""
    from celery import current_app

    if kind in COMPOSED_KINDS and parse_backend(job.options["backend"]).kind == "http":
        return current_app.conf.task_default_queue
    return str(engine.setting("CAPTION_GPU_QUEUE", "gpu"))


def _enqueue(job: CaptionJob, item_ids: Sequence[int]) -> int:
    """Enqueue a ``caption_batch`` task per batch once the transaction commits."""
    batches = _batches(job, item_ids)
    kinds = dict(Item.objects.filter(pk__in=list(item_ids)).values_list("id", "kind"))
    for batch in batches:
        queue = _queue_for(job, kinds[batch[0]])
        engine.enqueue(BATCH_TASK, (job.pk, batch), kind=CAPTIONS, job_id=job.pk, queue=queue)
    return len(batches)


def _pending_of_stage(job: CaptionJob, stage: int) -> list[int]:
    return list(
        job.items.filter(status=Item.Status.PENDING, kind__in=STAGES[stage])
        .order_by("id")
        .values_list("id", flat=True)
    )


def caption_job_start(*, job: CaptionJob) -> CaptionJob:
    """Mark ``job`` running and enqueue the batches of its first stage after commit; with a
    broker a watchdog follows the job (stale claims, its heartbeat). Without one, the tasks run
    eagerly, before this returns."""
    from celery import current_app

    with transaction.atomic():
        first = min(
            (_stage_of(k) for k in job.items.values_list("kind", flat=True).distinct()), default=0
        )
        engine.job_begin(kind=CAPTIONS, job_id=job.pk, heartbeat_at=timezone.now(), stage=first)
        job.refresh_from_db()
        _enqueue(job, _pending_of_stage(job, first))
        if not current_app.conf.task_always_eager:
            engine.job_watch_start(kind=CAPTIONS, job=job)
        transaction.on_commit(lambda: caption_job_advance(job_id=job.pk))
    job.refresh_from_db()
    return job


def caption_job_run(
    *, job: CaptionJob, progress: Callable[[dict[str, Any]], None] | None = None
) -> CaptionJob:
    """Run ``job`` in this process, stage by stage and batch by batch, through the same code as
    the tasks; ``progress`` gets :func:`caption_job_progress` after each batch. The job's
    heartbeat is kept while it runs, so a killed run is recognised as interrupted."""
    engine.job_begin(kind=CAPTIONS, job_id=job.pk, heartbeat_at=timezone.now())
    job.refresh_from_db()
    if progress:
        progress(caption_job_progress(job=job))
    with engine.beat(
        lambda: Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING), every_s=heartbeat_s()
    ):
        for stage in range(len(STAGES)):
            Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING).update(stage=stage)
            for batch in _batches(job, _pending_of_stage(job, stage)):
                caption_batch_run(job_id=job.pk, item_ids=batch, token=uuid.uuid4().hex)
                if progress:
                    progress(caption_job_progress(job=job))
                if not Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING).exists():
                    break
    engine.job_finish_if_done(kind=CAPTIONS, job_id=job.pk)
    job.refresh_from_db()
    return job


def caption_job_advance(*, job_id: int) -> None:
    """Move a running job to its next stage once nothing of the current one is left (one atomic
    ``UPDATE ... WHERE stage=current``, so only one caller advances), enqueue that stage, and
    mark the job done after its last stage."""
    while True:
        job = Job.objects.filter(pk=job_id, status=Job.Status.RUNNING).first()
        if job is None:
            return
        if job.items.filter(status__in=UNFINISHED, kind__in=STAGES[job.stage]).exists():
            return
        if job.stage + 1 >= len(STAGES):
            engine.job_finish_if_done(kind=CAPTIONS, job_id=job_id)
            return
        with transaction.atomic():
            moved = Job.objects.filter(
                pk=job_id, status=Job.Status.RUNNING, stage=job.stage
            ).update(stage=job.stage + 1, heartbeat_at=timezone.now())
            if not moved:
                return  # another worker advanced it
            job.stage += 1
            pending = _pending_of_stage(job, job.stage)
            _enqueue(job, pending)
        if pending:
            return


def caption_jobs_close_interrupted(*, now=None) -> int:
    """Close running jobs that gave no sign of life for the claim timeout (a command killed
    mid-way, a broker job whose watchdog is gone): they fail with a message saying to run again,
    which writes only what is missing. Returns how many were closed."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=claim_timeout_s())
    stale = list(
        Job.objects.filter(status=Job.Status.RUNNING)
        .filter(Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, started_at__lt=cutoff))
        .values_list("pk", flat=True)
    )
    for job_id in stale:
        if engine.background.holds((CAPTIONS.name, job_id)):
            continue  # queued behind other work on this process's background thread
        if Item.objects.filter(
            job_id=job_id, status=Item.Status.CLAIMED, heartbeat_at__gte=cutoff
        ).exists():
            continue  # a worker still holds a live claim
        engine.job_fail(
            kind=CAPTIONS,
            job_id=job_id,
            message=(
                f"interrupted: no sign of life for {claim_timeout_s():g} s; run the captioning "
                "again to write "
                "what is missing"
            ),
        )
    return len(stale)


def _item_done(item: CaptionItem, *, token: str, caption: Caption) -> bool:
    return engine.item_advance(
        kind=CAPTIONS,
        item_id=item.pk,
        token=token,
        source=Item.Status.CLAIMED,
        target=Item.Status.DONE,
        caption=caption,
        error="",
    )


def _item_fail(item_id: int, *, token: str, message: str) -> bool:
    return engine.item_fail(kind=CAPTIONS, item_id=item_id, token=token, message=message)


# --------------------------------------------------------------------------------------------
# Captioners, kept per process
# --------------------------------------------------------------------------------------------

#: Captioners a worker keeps loaded (``CAPTION_MAX_MODELS``).
_models = engine.ModelCache(keep=lambda: int(engine.setting("CAPTION_MAX_MODELS", 2)))


def _device():
    return engine.device("CAPTION_DEVICE", "GENERATION_DEVICE")


def _cached(key: tuple, load: Callable[[], Any]) -> Any:
    """A loaded captioner, kept for the life of the process (see ``_models``)."""

    def load_and_log() -> Any:
        loaded = load()
        logger.info("loaded captioner %s", key)
        return loaded

    return _models.get(key, load_and_log)


def _video_captioner(options: dict[str, Any]):
    from modeling.captioners.video import VideoCaptioner

    kwargs = {"max_new_tokens": options["max_new_tokens"]} if options.get("max_new_tokens") else {}
    device = _device()
    return _cached(
        ("video", options["video_model"], str(device), tuple(kwargs.items())),
        lambda: VideoCaptioner.from_pretrained(options["video_model"], device=device, **kwargs),
    )


def _music_captioner(checkpoint: str, *, question: str, options: dict[str, Any]):
    from modeling.captioners.music import MusicCaptioner
    from modeling.musiscene.generate import SamplingConfig

    sampling = (
        SamplingConfig(max_new_tokens=options["max_new_tokens"])
        if options.get("max_new_tokens")
        else None
    )
    device = _device()
    return _cached(
        ("music", checkpoint, question, str(device), options.get("max_new_tokens")),
        lambda: MusicCaptioner.from_checkpoint(
            checkpoint, device=device, question=question, sampling=sampling
        ),
    )


def _composer(options: dict[str, Any]):
    from modeling.captioners.composer import (
        Composer,
        ComposerSampling,
        EndpointConfig,
        HTTPBackend,
        LocalBackend,
    )

    sampling = (
        ComposerSampling(max_new_tokens=options["max_new_tokens"])
        if options.get("max_new_tokens")
        else None
    )
    prompt_set = options.get("prompt_set") or LEGACY_PROMPT_SET
    backend = parse_backend(options["backend"])
    if backend.kind == "http":  # no model to load: a fresh client each time is cheap
        endpoint = EndpointConfig(
            base_url=backend.target,
            model=options["llm_model"] or DEFAULT_LLM,
            api=options["api"],
            timeout_s=options["timeout_s"],
            retries=options["retries"],
            concurrency=options["concurrency"],
        )
        return Composer(HTTPBackend(endpoint), sampling=sampling, prompt_set=prompt_set)
    device = _device()
    local = _cached(
        ("composer", backend.target, str(device), options["batch_size"]),
        lambda: LocalBackend.from_pretrained(
            backend.target, device=device, batch_size=options["batch_size"]
        ),
    )
    return Composer(local, sampling=sampling, prompt_set=prompt_set)


@contextmanager
def _local_paths(fields: Sequence[FieldFile]) -> Iterator[list[Path]]:
    """Local paths of stored media files: the file itself on a file-system storage, a private
    temporary copy otherwise (S3)."""
    tmp: Path | None = None
    out = []
    try:
        for field in fields:
            try:
                out.append(Path(field.path))
                continue
            except NotImplementedError:
                pass
            if tmp is None:
                tmp = Path(tempfile.mkdtemp(prefix="musiscene-caption-"))
            target = tmp / f"{len(out)}{Path(field.name or '').suffix}"
            with field.open("rb") as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)
            out.append(target)
        yield out
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def _missing_media(field: FieldFile, what: str, clip: Clip) -> str | None:
    if not field:
        return f"clip {clip.key} has no {what}"
    try:
        if not field.storage.exists(field.name or ""):  # a non-empty field has a name
            return f"the {what} of clip {clip.key} is missing from the media storage ({field.name})"
    except OSError as exc:
        return f"the {what} of clip {clip.key} cannot be read ({exc})"
    return None


# --------------------------------------------------------------------------------------------
# The work: caption a batch
# --------------------------------------------------------------------------------------------


@dataclass
class _Written:
    text: str
    model_id: str
    prompt: str
    parameters: dict[str, Any]


def _one_by_one(run: Callable[[list], list], inputs: list) -> list[Any]:
    """Run ``run`` on all inputs; if the batch fails, on each alone, so one bad file fails one item.
    Each output is a result or the exception of its input."""
    try:
        return run(inputs)
    except TRANSIENT_ERRORS:
        raise
    except Exception:  # noqa: BLE001 - isolate the bad input below
        if len(inputs) == 1:
            raise
    out: list[Any] = []
    for one in inputs:
        try:
            out += run([one])
        except TRANSIENT_ERRORS:
            raise
        except Exception as exc:  # noqa: BLE001 - this input's own error
            out.append(exc)
    return out


def _media_kind(
    job: CaptionJob, kind: str, items: list[CaptionItem]
) -> list[tuple[CaptionItem, Any]]:
    """Video, music or predicted-MSI captions of ``items``: (item, _Written or an error message)."""
    from modeling.musiscene.prompts import CAPTION_QUESTION, SCENE_QUESTION

    opts = job.options
    results: list[tuple[CaptionItem, Any]] = []
    ready = []
    for item in items:
        field = item.clip.video if kind == CaptionKind.VIDEO else item.clip.original_audio
        problem = _missing_media(
            field, "video" if kind == CaptionKind.VIDEO else "audio track", item.clip
        )
        if problem:
            results.append((item, problem))
        else:
            ready.append(item)
    if not ready:
        return results
    if kind == CaptionKind.VIDEO:
        captioner = _video_captioner(opts)
        fields = [i.clip.video for i in ready]

        def run(paths: list) -> list:
            return captioner.caption(paths, batch_size=len(paths))
    else:
        checkpoint = (
            opts["music_checkpoint"] if kind == CaptionKind.MUSIC else opts["musiscene_checkpoint"]
        )
        question = CAPTION_QUESTION if kind == CaptionKind.MUSIC else SCENE_QUESTION
        captioner = _music_captioner(checkpoint, question=question, options=opts)
        fields = [i.clip.original_audio for i in ready]

        def run(paths: list) -> list:
            return captioner.caption(paths, batch_size=len(paths), seed=opts.get("seed"))

    with _local_paths(fields) as paths:
        outputs = _one_by_one(run, list(paths))
    for item, out in zip(ready, outputs, strict=True):
        if isinstance(out, Exception):
            results.append((item, f"{type(out).__name__}: {out}"))
            continue
        parameters = {**out.parameters, "caption_job": job.pk}
        results.append((item, _Written(out.text, out.model, out.prompt or "", parameters)))
    return results


def _composed_kind(
    job: CaptionJob, kind: str, items: list[CaptionItem]
) -> list[tuple[CaptionItem, Any]]:
    """Fusion or MSI captions from each clip's video and music captions."""
    results: list[tuple[CaptionItem, Any]] = []
    ready, pairs, sources = [], [], []
    for item in items:
        video = caption_for(clip=item.clip, kind=CaptionKind.VIDEO)
        music = caption_for(clip=item.clip, kind=CaptionKind.MUSIC)
        if video is None or music is None:
            missing = " and ".join(k for k, c in (("video", video), ("music", music)) if c is None)
            results.append(
                (
                    item,
                    f"clip {item.clip.key} has no {missing} caption (approved or unreviewed), "
                    "which "
                    f"a {kind} caption is composed from; write it first (kinds video,music)",
                )
            )
            continue
        ready.append(item)
        pairs.append((video.text, music.text))
        sources.append({"video_caption_id": video.pk, "music_caption_id": music.pk})
    if not ready:
        return results
    composer = _composer(job.options)
    outputs = composer.compose(kind, pairs, seed=job.options.get("seed"))
    for item, out, source in zip(ready, outputs, sources, strict=True):
        parameters = {**out.parameters, **source, "caption_job": job.pk}
        results.append((item, _Written(out.text, out.model, out.prompt or "", parameters)))
    return results


def caption_batch_run(
    *,
    job_id: int,
    item_ids: Sequence[int],
    token: str,
    heartbeat: bool = False,
    advance: bool = False,
) -> int:
    """Claim the pending items of ``item_ids`` (one kind), write their captions, store them with
    their provenance. Returns how many captions were stored. With ``advance`` (the task), the
    job then moves on if its stage is done (:func:`caption_job_advance`).

    A cell that has a usable caption by now is done without a model call. A missing model fails
    the whole job; a bad file, a missing input caption or an endpoint that fails (after its own
    retries) fails its items with the message; transient database errors propagate, for the task
    to retry.
    """
    stored = _batch_write(job_id=job_id, item_ids=item_ids, token=token, heartbeat=heartbeat)
    if advance:
        caption_job_advance(job_id=job_id)
    return stored


def _batch_write(*, job_id: int, item_ids: Sequence[int], token: str, heartbeat: bool) -> int:
    job = Job.objects.filter(pk=job_id).first()
    if job is None or job.status != Job.Status.RUNNING:
        return 0
    claimed = engine.items_claim(
        kind=CAPTIONS, item_ids=item_ids, token=token, related=("clip", "job")
    )
    if not claimed:
        return 0
    Job.objects.filter(pk=job_id, status=Job.Status.RUNNING).update(heartbeat_at=timezone.now())
    stored = 0
    by_kind: dict[str, list[CaptionItem]] = {}
    for item in claimed:
        existing = existing_caption(clip=item.clip, kind=item.kind, options=job.options)
        if existing is not None:
            _item_done(item, token=token, caption=existing)
        else:
            by_kind.setdefault(item.kind, []).append(item)
    for kind, items in by_kind.items():
        ids = [i.pk for i in items]
        with engine.items_work(
            kind=CAPTIONS,
            job_id=job.pk,
            item_ids=ids,
            token=token,
            status=Item.Status.CLAIMED,
            heartbeat=heartbeat,
        ) as work:  # an endpoint down, a broken model: the items say why
            if kind in COMPOSED_KINDS:
                results = _composed_kind(job, kind, items)
            else:
                results = _media_kind(job, kind, items)
        if work.job_failed:  # a model is missing
            return stored
        if work.failed:
            continue
        for item, written in results:
            if isinstance(written, str):
                _item_fail(item.pk, token=token, message=written)
                continue
            try:
                with transaction.atomic():
                    caption = services.caption_add(
                        clip=item.clip,
                        kind=kind,
                        text=written.text,
                        model_id=written.model_id[:200],
                        prompt=written.prompt,
                        parameters=written.parameters,
                        author_note=f"caption job {job.pk}",
                    )
                    if not _item_done(item, token=token, caption=caption):
                        raise _Reclaimed
            except _Reclaimed:
                logger.warning(
                    "item %s was taken back while captioning; its caption is dropped", item.pk
                )
                continue
            except ValidationError as exc:
                _item_fail(
                    item.pk,
                    token=token,
                    message=f"the model wrote nothing usable: {'; '.join(exc.messages)}",
                )
                continue
            stored += 1
    logger.info("%s: stored %d captions", job, stored)
    return stored


class _Reclaimed(Exception):
    """The claim was taken back while the batch ran: the caption is not stored."""


# --------------------------------------------------------------------------------------------
# Lost workers: the watchdog
# --------------------------------------------------------------------------------------------


def caption_job_reclaim_stale(*, job: CaptionJob, now=None) -> int:
    """Hand back claims whose holder gave no sign of life for the claim timeout (pending again,
    enqueued again); an item lost ``GENERATION_MAX_RECLAIMS`` times fails. Returns how many."""
    reclaimed = engine.items_reclaim_stale(kind=CAPTIONS, job=job, now=now)
    again = reclaimed.back.get(Item.Status.PENDING, [])
    if again:
        _enqueue(job, again)
    return reclaimed.stale


def caption_job_resume(*, job: CaptionJob) -> bool:
    """Pick up a running job whose background work this process does not hold (the embedded
    default's server stopped mid-job; called when its page or progress is looked at): stale
    claims come back (after the claim timeout), the pending items of its stage are handed to the
    background thread again, and a finished stage moves on. Returns whether it did."""
    if not engine.resumable(kind=CAPTIONS, job=job):
        return False
    with transaction.atomic():
        Job.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now())
        engine.items_reclaim_stale(kind=CAPTIONS, job=job)
        _enqueue(job, _pending_of_stage(job, job.stage))
        transaction.on_commit(lambda: caption_job_advance(job_id=job.pk))
    return True


def _watch_round(job: CaptionJob) -> None:
    Job.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now())
    caption_job_reclaim_stale(job=job)
    caption_job_advance(job_id=job.pk)


def caption_job_watch(*, job_id: int, token: str) -> bool:
    """One round of a job's watchdog: keep its heartbeat, reclaim stale claims, advance a stage
    nobody advanced. Returns whether the chain goes on."""
    return engine.job_watch(kind=CAPTIONS, job_id=job_id, token=token, work=_watch_round)


def caption_jobs_watch_resume() -> int:
    """Restart the watchdogs of all running caption jobs. Returns how many."""
    return engine.jobs_watch_resume(kind=CAPTIONS)


# --------------------------------------------------------------------------------------------
# Reads
# --------------------------------------------------------------------------------------------


def caption_job_progress(*, job: CaptionJob) -> dict[str, Any]:
    """Counts of a job's items by state and kind, its status, stage and errors
    (JSON-serialisable). The keys ``total``, ``done``, ``failed``, ``generating`` match the
    generation jobs' progress bars."""
    progress = engine.job_progress(
        kind=CAPTIONS,
        job_id=job.pk,
        busy={"captioning": [Item.Status.CLAIMED]},
        describe={"clip": "clip__key", "kind": "kind"},
    )
    by_kind: dict[str, dict[str, int]] = {}
    for kind, status, n in (
        Item.objects.filter(job_id=job.pk)
        .values_list("kind", "status")
        .annotate(n=Count("id"))
        .order_by()
    ):
        entry = by_kind.setdefault(kind, {"total": 0, "done": 0, "failed": 0})
        entry["total"] += n
        if status in ("done", "failed"):
            entry[status] += n
    return progress | {
        "stage": Job.objects.filter(pk=job.pk).values_list("stage", flat=True).get(),
        "generating": progress["captioning"],
        "by_kind": {k: by_kind[k] for k in PIPELINE_KINDS if k in by_kind},
    }
