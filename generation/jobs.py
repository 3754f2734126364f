"""Generation jobs: make the missing tracks of (clip, condition) cells on Celery workers.

One file because it is one kind of job from end to end (track specs and parameter checks, job
create and start, batches, MusicGen, ingest, reclaim and the orphan-file sweep), each step
handing its items to the next in the same item states; what it shares with caption jobs is
already apart (claims, heartbeats, the watchdog and the background thread in
:mod:`generation.engine` and :mod:`generation.background`, the task entry points in
:mod:`generation.tasks`).

A job is created with :func:`job_create` (or :func:`job_create_for`, clips x conditions) and
started with :func:`job_start`, which enqueues one ``generate_batch`` task per batch after the
transaction commits. A batch is claimed with one atomic ``UPDATE ... WHERE status='pending'``,
generated on one model load (a worker keeps its model, see :func:`musicgen_for`), and its audio
is staged in the item rows; ``ingest_item`` tasks on the default queue then run the foundation's
ingest (:func:`generation.services.track_create`: loudness, AAC, mux), which is idempotent by
provenance key, so a track is made once however often a task is delivered.

Claims, heartbeats, failures and the watchdog are the engine's (:mod:`generation.engine`, kind
:data:`GENERATION`): a worker that dies holding a claim stops its heartbeat, and
:func:`job_reclaim_stale` (run by each running job's watchdog task) hands such items back after
``GENERATION_CLAIM_TIMEOUT_S`` and removes track files that no row refers to. Without a broker
(the embedded default) the same tasks run on the server's background thread (or inline, with
``JOBS_EMBEDDED=inline``; :func:`job_resume` picks up a job a stopped server left), and
:func:`job_run` runs a job in-process with a progress callback (the command).

Settings read here (all optional): ``GENERATION_DEVICE`` ("" = cuda when available, else cpu),
``GENERATION_DTYPE`` ("" = float32 on CPU, bfloat16 on GPU), ``GENERATION_MUSICGEN_CACHE``
("" = dynamic, or "static"); the engine reads the claim timeout, heartbeat and reclaim limit.
"""

from __future__ import annotations

import functools
import logging
import math
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import PurePosixPath
from typing import Any

import numpy as np
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from generation import engine, media, services
from generation.models import (
    Clip,
    Condition,
    GenerationItem,
    GenerationJob,
    Track,
    track_audio_path,
)
from generation.selectors import caption_for_condition
from modeling import sketch

logger = logging.getLogger(__name__)

Item = GenerationItem
Job = GenerationJob

#: Defaults of MusicGen's generation parameters (the published ones) and of the track length.
MUSICGEN_DEFAULTS: dict[str, Any] = {
    "duration_s": 10.0,
    "top_k": 250,
    "temperature": 1.0,
    "guidance_scale": 3.0,
}
DEFAULT_BATCH_SIZE = 8
SKETCH_SAMPLE_RATE = 32000
MAX_SEED = 2**32 - 1

#: Items a worker still owes work on.
UNFINISHED = (
    Item.Status.PENDING,
    Item.Status.CLAIMED,
    Item.Status.GENERATED,
    Item.Status.INGESTING,
)

#: Generation jobs as the engine sees them: a lost generating claim goes back to pending, a
#: lost ingest back to generated (its audio is still staged in the row).
GENERATION = engine.JobKind(
    name="job",
    job_model=Job,
    item_model=Item,
    unfinished=UNFINISHED,
    handed_back={
        Item.Status.CLAIMED: Item.Status.PENDING,
        Item.Status.INGESTING: Item.Status.GENERATED,
    },
    watch_task="generation.tasks.watch_job",
    cleared_on_fail={"audio": None},
)
BATCH_TASK = "generation.tasks.generate_batch"
INGEST_TASK = "generation.tasks.ingest_item"
claim_timeout_s = GENERATION.claim_timeout_s
watch_interval_s = GENERATION.watch_interval_s


# --------------------------------------------------------------------------------------------
# What a job makes: the track spec of a cell
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrackSpec:
    """The provenance of the track a job makes for one prompt (what ``track_create`` records)."""

    generator: str
    model_id: str
    parameters: dict[str, Any]
    identity: dict[str, Any]

    @property
    def key(self) -> str:
        return services.params_hash(self.identity)


def track_spec(*, job: GenerationJob, prompt: str) -> TrackSpec:
    """The track ``job`` makes from ``prompt``. Sketch tracks get the same provenance as
    :func:`generation.services.track_generate_sketch` gives them, so either finds the other's."""
    if job.generator == Job.Generator.SKETCH:
        duration = float(job.parameters["duration_s"])
        parameters = {
            **sketch.sketch_parameters(prompt),
            "duration_s": duration,
            "sample_rate": SKETCH_SAMPLE_RATE,
        }
        generator, model_id = sketch.SKETCH_GENERATOR_ID, f"sketch-v{sketch.SKETCH_VERSION}"
    else:
        parameters = {k: job.parameters[k] for k in MUSICGEN_DEFAULTS}
        generator, model_id = Job.Generator.MUSICGEN.value, job.model_id
    identity = {**parameters, "prompt": prompt, "loudness_target_lufs": job.loudness_target_lufs}
    return TrackSpec(
        generator=generator, model_id=model_id, parameters=parameters, identity=identity
    )


def _track_exists(*, job: GenerationJob, clip: Clip, condition: Condition, prompt: str) -> bool:
    spec = track_spec(job=job, prompt=prompt)
    return Track.objects.filter(
        clip=clip,
        condition=condition,
        generator=spec.generator,
        model_id=spec.model_id,
        seed=job.seed,
        params_hash=spec.key,
    ).exists()


def job_parameters_clean(
    *, generator: str, parameters: dict[str, Any] | None
) -> tuple[dict[str, Any], int]:
    """Validate ``parameters`` (defaults filled in) and split off the batch size.

    Returns ``(track parameters, batch_size)``; raises ``ValidationError`` naming the bad value.
    The batch size changes no track (MusicGen's sampling is per track), so it is not provenance.
    """
    if generator not in Job.Generator.values:
        raise ValidationError(
            f"unknown generator {generator!r}; known: {', '.join(Job.Generator.values)}"
        )
    given = dict(parameters or {})
    batch_size = given.pop("batch_size", None)
    batch_size = DEFAULT_BATCH_SIZE if batch_size is None else batch_size
    known = set(MUSICGEN_DEFAULTS) if generator == Job.Generator.MUSICGEN else {"duration_s"}
    unknown = set(given) - known
    if unknown:
        raise ValidationError(
            f"unknown {generator} parameters: {', '.join(sorted(unknown))}; known: "
            f"{', '.join(sorted(known | {'batch_size'}))}"
        )
    out = {k: given.get(k, MUSICGEN_DEFAULTS[k]) for k in MUSICGEN_DEFAULTS if k in known}
    try:
        out["duration_s"] = float(out["duration_s"])
        if "top_k" in out:
            if isinstance(out["top_k"], float) and not out["top_k"].is_integer():
                raise ValueError
            out["top_k"] = int(out["top_k"])
            out["temperature"] = float(out["temperature"])
            out["guidance_scale"] = float(out["guidance_scale"])
        batch_size = int(batch_size)
    except (TypeError, ValueError):
        raise ValidationError(
            f"generation parameters must be numbers, got {parameters!r}"
        ) from None
    if not (
        math.isfinite(out["duration_s"]) and 0 < out["duration_s"] <= settings.MEDIA_MAX_DURATION_S
    ):
        raise ValidationError(
            f"duration_s must be in (0, {settings.MEDIA_MAX_DURATION_S:g}] seconds, "
            f"got {out['duration_s']:g}"
        )
    if generator == Job.Generator.MUSICGEN:
        if out["top_k"] < 0:
            raise ValidationError(f"top_k must be >= 0 (0 = no truncation), got {out['top_k']}")
        if not (math.isfinite(out["temperature"]) and out["temperature"] > 0):
            raise ValidationError(f"temperature must be > 0, got {out['temperature']:g}")
        if not (math.isfinite(out["guidance_scale"]) and out["guidance_scale"] >= 1):
            raise ValidationError(
                f"guidance_scale must be >= 1 (1 = no guidance), got {out['guidance_scale']:g}"
            )
    if batch_size < 1:
        raise ValidationError(f"batch_size must be at least 1, got {batch_size}")
    return out, batch_size


# --------------------------------------------------------------------------------------------
# Creating and starting jobs
# --------------------------------------------------------------------------------------------


def job_create(
    *,
    cells: Iterable[tuple[Clip, Condition]],
    generator: str,
    model: str = "",
    parameters: dict[str, Any] | None = None,
    seed: int = 0,
    loudness_target_lufs: float | None = None,
    user=None,
    label: str = "",
) -> GenerationJob:
    """A job for the cells of ``cells`` whose track (this generator, model, seed, parameters,
    prompt and loudness target) does not exist yet. Cells with a track are left out, so running
    the same job twice makes nothing the second time, and adding a condition makes just its cells;
    so are cells an unfinished job is making with the same settings (a double click).

    ``parameters`` may hold ``duration_s``, ``top_k``, ``temperature``, ``guidance_scale``
    (MusicGen; published defaults) and ``batch_size`` (default 8). The model is only loaded on a
    worker, so a missing model fails the job there, with the message saying how to provide it.
    """
    params, batch_size = job_parameters_clean(generator=generator, parameters=parameters)
    if generator == Job.Generator.MUSICGEN:
        model = (model or "").strip()
        if not model:
            raise ValidationError(
                "name the MusicGen model: an id such as facebook/musicgen-small, or a folder"
            )
        if len(model) > 200:
            raise ValidationError("the model id or path is longer than 200 characters")
    else:
        model = f"sketch-v{sketch.SKETCH_VERSION}"
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise ValidationError(f"seed must be an integer in [0, 2**32), got {seed!r}")
    target = (
        settings.DEFAULT_LOUDNESS_LUFS
        if loudness_target_lufs is None
        else float(loudness_target_lufs)
    )
    with transaction.atomic():
        job = Job.objects.create(
            label=label[:200],
            generator=generator,
            model_id=model,
            parameters=params,
            batch_size=batch_size,
            seed=seed,
            loudness_target_lufs=target,
            created_by=user if getattr(user, "pk", None) else None,
        )
        items, seen = [], _cells_in_flight(job)
        for clip, condition in cells:
            if (clip.pk, condition.pk) in seen:
                continue
            seen.add((clip.pk, condition.pk))
            caption = caption_for_condition(clip=clip, condition=condition)
            if caption is not None and _track_exists(
                job=job, clip=clip, condition=condition, prompt=caption.text
            ):
                continue
            items.append(Item(job=job, clip=clip, condition=condition))
        Item.objects.bulk_create(items)
    logger.info(
        "created %s: %d tracks to make (%d cells had theirs or are being made)",
        job,
        len(items),
        len(seen) - len(items),
    )
    return job


def _cells_in_flight(job: GenerationJob) -> set[tuple[int, int]]:
    """(clip id, condition id) of the unfinished items of other jobs with ``job``'s settings."""
    others = [
        other.pk
        for other in Job.objects.filter(
            status__in=[Job.Status.PENDING, Job.Status.RUNNING],
            generator=job.generator,
            model_id=job.model_id,
            seed=job.seed,
            loudness_target_lufs=job.loudness_target_lufs,
        )
        .exclude(pk=job.pk)
        .only("pk", "parameters")
        if other.parameters == job.parameters
    ]
    return set(
        Item.objects.filter(job_id__in=others, status__in=UNFINISHED).values_list(
            "clip_id", "condition_id"
        )
    )


def job_create_for(
    *,
    clips: Iterable[Clip],
    conditions: Iterable[Condition],
    generator: str,
    model: str = "",
    parameters: dict[str, Any] | None = None,
    seed: int = 0,
    user=None,
    loudness_target_lufs: float | None = None,
    label: str = "",
) -> GenerationJob:
    """:func:`job_create` for every clip x condition."""
    conditions = list(conditions)
    return job_create(
        cells=[(clip, cond) for clip in clips for cond in conditions],
        generator=generator,
        model=model,
        parameters=parameters,
        seed=seed,
        loudness_target_lufs=loudness_target_lufs,
        user=user,
        label=label,
    )


def _batches(job: GenerationJob, item_ids: Sequence[int]) -> list[list[int]]:
    size = job.batch_size
    return [list(item_ids[i : i + size]) for i in range(0, len(item_ids), size)]


def _enqueue_batches(job: GenerationJob, item_ids: Sequence[int]) -> int:
    """Enqueue ``generate_batch`` tasks for ``item_ids`` once the transaction commits. MusicGen
    batches go where the task routes send them (``gpu``); sketch batches are CPU work and go to
    the default queue."""
    from celery import current_app

    options = {}
    if job.generator == Job.Generator.SKETCH:
        options["queue"] = current_app.conf.task_default_queue
    batches = _batches(job, item_ids)
    for batch in batches:
        engine.enqueue(BATCH_TASK, (job.pk, batch), kind=GENERATION, job_id=job.pk, **options)
    return len(batches)


def items_ingest_enqueue(item_ids: Iterable[int], *, job_id: int | None = None) -> None:
    """Enqueue ``ingest_item`` (default queue) for each item once the transaction commits. On the
    embedded background thread an ingest runs at once, right after its batch, so that tracks
    appear as they are made; a request that resumes a job (``job_id``) hands them to that
    thread."""
    if job_id is not None and engine.runs_in_background() and not engine.background.inside():
        for item_id in item_ids:
            engine.enqueue(INGEST_TASK, (item_id,), kind=GENERATION, job_id=job_id)
        return
    ingest_item = engine.task(INGEST_TASK)
    for item_id in item_ids:
        transaction.on_commit(functools.partial(engine.send, ingest_item, (item_id,)))


def job_start(*, job: GenerationJob) -> GenerationJob:
    """Mark ``job`` running and enqueue its pending items, in batches, after commit; with a broker
    a watchdog task follows the job until it finishes (see :func:`job_watch`)."""
    from celery import current_app

    with transaction.atomic():
        engine.job_begin(kind=GENERATION, job_id=job.pk)
        pending = list(
            job.items.filter(status=Item.Status.PENDING).order_by("id").values_list("id", flat=True)
        )
        n_batches = _enqueue_batches(job, pending)
        if not current_app.conf.task_always_eager:
            engine.job_watch_start(kind=GENERATION, job=job)
        transaction.on_commit(lambda: job_refresh(job_id=job.pk))
    logger.info("started %s: %d items in %d batches", job, len(pending), n_batches)
    job.refresh_from_db()
    return job


def job_run(
    *, job: GenerationJob, progress: Callable[[dict[str, Any]], None] | None = None
) -> GenerationJob:
    """Run ``job`` in this process, batch by batch, through the same services as the tasks;
    ``progress`` gets :func:`job_progress` after each batch. For the embedded default (no
    broker)."""
    engine.job_begin(kind=GENERATION, job_id=job.pk)
    pending = list(
        job.items.filter(status=Item.Status.PENDING).order_by("id").values_list("id", flat=True)
    )
    if progress:
        progress(job_progress(job=job))
    for batch in _batches(job, pending):
        staged = job_run_batch(job_id=job.pk, item_ids=batch, token=uuid.uuid4().hex)
        for item_id in staged:
            item_ingest(item_id=item_id, token=uuid.uuid4().hex)
        if progress:
            progress(job_progress(job=job))
    job_refresh(job_id=job.pk)
    job.refresh_from_db()
    return job


def _item_fail(item_id: int, *, token: str, message: str) -> bool:
    return engine.item_fail(kind=GENERATION, item_id=item_id, token=token, message=message)


# --------------------------------------------------------------------------------------------
# The per-process model cache and the generators
# --------------------------------------------------------------------------------------------

#: One MusicGen at a time: loading another frees the first, which matters on a GPU.
_models = engine.ModelCache(keep=lambda: 1)


def generator_check(*, generator: str, model: str) -> None:
    """Before a job starts: is the generator's model on this machine? ``ValidationError`` naming
    the model, how to provide it, and that the sketch generator needs none. (The workers load it
    from the same places: ``$MUSISCENE_MODEL_DIR`` or the Hugging Face cache, never a download.)"""
    if generator != Job.Generator.MUSICGEN:
        return
    if not (model or "").strip():
        raise ValidationError(
            "name the MusicGen model: an id such as facebook/musicgen-small, or a folder "
            "(or choose the sketch generator, which needs no model)",
            code="no_model",
        )
    from modeling.hub import ModelNotFoundError, resolve_pretrained

    try:
        resolve_pretrained((model or "").strip(), kind="MusicGen")
    except ModelNotFoundError as exc:
        raise ValidationError(
            f"{exc} Or choose the sketch generator, which needs no model.", code="no_model"
        ) from None


def musicgen_for(*, model: str):
    """The loaded MusicGen for ``model``, kept for the life of the process: a worker loads a
    model once and reuses it for every batch. Keyed by (resolved path, device, dtype); one model
    is kept at a time (loading another frees the first, which matters on a GPU).

    Raises ``modeling.hub.ModelNotFoundError`` when the model is not on this machine.
    """
    import torch

    from modeling.hub import resolve_pretrained
    from modeling.musicgen import default_dtype, get_pretrained

    path = resolve_pretrained(model, kind="MusicGen").resolve()
    device = engine.device("GENERATION_DEVICE")
    dtype_name = engine.setting("GENERATION_DTYPE", "")
    dtype = getattr(torch, dtype_name) if dtype_name else default_dtype(device)

    def load() -> Any:
        loaded = get_pretrained(
            str(path),
            device=device,
            dtype=dtype,
            cache_implementation=engine.setting("GENERATION_MUSICGEN_CACHE", "") or None,
        )
        logger.info("worker loaded MusicGen %s (%s, %s)", model, device, dtype)
        return loaded

    return _models.get((str(path), str(device), str(dtype)), load)


def _revision(model: str) -> str:
    """The Hugging Face snapshot (commit) a model id resolved to, if it came from the cache."""
    from modeling.hub import resolve_pretrained

    path = resolve_pretrained(model, kind="MusicGen")
    return path.name[:80] if path.parent.name == "snapshots" else ""


def _generate(job: GenerationJob, prompts: list[str]) -> tuple[np.ndarray, int, str]:
    """(len(prompts), N) float32 audio, its sample rate and the model revision."""
    duration = float(job.parameters["duration_s"])
    if job.generator == Job.Generator.SKETCH:
        audio = np.stack(
            [
                sketch.sketch_generate(
                    p, duration_s=duration, sample_rate=SKETCH_SAMPLE_RATE, seed=job.seed
                )
                for p in prompts
            ]
        )
        return audio.astype(np.float32), SKETCH_SAMPLE_RATE, ""
    model = musicgen_for(model=job.model_id)
    audio = model.generate(
        prompts,
        duration_s=duration,
        seed=job.seed,
        top_k=job.parameters["top_k"],
        temperature=job.parameters["temperature"],
        guidance_scale=job.parameters["guidance_scale"],
    )  # (B, N)
    return audio, model.sample_rate, _revision(job.model_id)


# --------------------------------------------------------------------------------------------
# The work: generate a batch, ingest an item
# --------------------------------------------------------------------------------------------


def job_run_batch(
    *,
    job_id: int,
    item_ids: Sequence[int],
    token: str,
    heartbeat: bool = False,
    enqueue_ingest: bool = False,
) -> list[int]:
    """Claim the pending items of ``item_ids``, generate their audio on one model call and stage
    it in the rows. Returns the ids of the staged items, whose ``ingest_item`` tasks are
    enqueued after commit with ``enqueue_ingest`` (the task); else the caller ingests them.

    Bad input fails an item with its message (a clip without the condition's caption) or the
    whole job (the model is missing); transient database and broker errors propagate, for the
    task to retry. ``token`` identifies the claim holder (the task id, stable across retries).
    """
    job = Job.objects.get(pk=job_id)
    if job.status != Job.Status.RUNNING:
        logger.info("%s is %s: batch of %d items skipped", job, job.status, len(item_ids))
        return []
    claimed = engine.items_claim(
        kind=GENERATION, item_ids=item_ids, token=token, related=("clip", "condition", "job")
    )
    if not claimed:
        return []
    ready = []
    for item in claimed:
        caption = caption_for_condition(clip=item.clip, condition=item.condition)
        if caption is None:
            _item_fail(
                item.pk,
                token=token,
                message=(
                    f"clip {item.clip.key} has no {item.condition.caption_source} caption, which "
                    f"condition {item.condition.name} generates from; add one and run the job again"
                ),
            )
            continue
        ready.append((item, caption))
    if not ready:
        job_refresh(job_id=job.pk)
        return []
    prompts = [caption.text for _, caption in ready]
    ids = [item.pk for item, _ in ready]
    with engine.items_work(
        kind=GENERATION,
        job_id=job.pk,
        item_ids=ids,
        token=token,
        status=Item.Status.CLAIMED,
        heartbeat=heartbeat,
        message=lambda exc: _batch_error(exc, n_items=len(ids)),
    ) as work:
        audio, sample_rate, revision = _generate(job, prompts)
    if work.failed:
        job_refresh(job_id=job.pk)
        return []
    staged = []
    for (item, caption), samples in zip(ready, audio, strict=True):
        if engine.item_advance(
            kind=GENERATION,
            item_id=item.pk,
            token=token,
            source=Item.Status.CLAIMED,
            target=Item.Status.GENERATED,
            audio=np.ascontiguousarray(samples, dtype="<f4").tobytes(),
            sample_rate=sample_rate,
            caption=caption,
            prompt=caption.text,
            model_revision=revision,
            heartbeat_at=timezone.now(),
        ):
            staged.append(item.pk)
        else:  # taken back meanwhile (this worker was thought dead): the new holder makes it
            logger.warning("item %s was reclaimed while generating; its audio is dropped", item.pk)
    logger.info("%s: generated %d tracks", job, len(staged))
    if enqueue_ingest:
        items_ingest_enqueue(staged)
    return staged


def _batch_error(exc: Exception, *, n_items: int) -> str:
    from celery.exceptions import SoftTimeLimitExceeded

    if isinstance(exc, SoftTimeLimitExceeded):
        return (
            f"a batch of {n_items} took longer than the time limit; "
            f"start the job again with a smaller batch size"
        )
    return engine.error_message(exc)


def _ingest_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(exc.messages)
    if isinstance(exc, media.MediaError):
        return str(exc)
    return engine.error_message(exc)


def item_ingest(*, item_id: int, token: str, heartbeat: bool = False) -> Track | None:
    """Ingest the staged audio of a generated item through ``track_create`` (loudness, AAC, mux).

    Returns the track, or None when another holder has the item or it is finished already.
    Bad audio (silent, NaN) or a missing clip file fails the item with its message; transient
    database errors propagate, for the task to retry.
    """
    claimed = engine.items_claim(
        kind=GENERATION,
        item_ids=[item_id],
        token=token,
        source=Item.Status.GENERATED,
        target=Item.Status.INGESTING,
    )
    if not claimed:
        return None
    item = Item.objects.select_related("job", "clip", "condition", "caption").get(pk=item_id)
    job = item.job
    spec = track_spec(job=job, prompt=item.prompt)
    if item.audio is None or item.sample_rate is None:  # GENERATED items hold both
        raise RuntimeError(f"generation item {item_id} has no audio to ingest")
    sample_rate: int = item.sample_rate
    samples = np.frombuffer(bytes(item.audio), dtype="<f4")
    with engine.items_work(
        kind=GENERATION,
        job_id=job.pk,
        item_ids=[item_id],
        token=token,
        status=Item.Status.INGESTING,
        heartbeat=heartbeat,
        message=_ingest_error,
    ) as work:
        track = services.track_create(
            clip=item.clip,
            condition=item.condition,
            samples=samples,
            sample_rate=sample_rate,
            generator=spec.generator,
            loudness_target_lufs=job.loudness_target_lufs,
            model_id=spec.model_id,
            model_revision=item.model_revision,
            prompt=item.prompt,
            caption=item.caption,
            seed=job.seed,
            parameters=spec.parameters,
            identity=spec.identity,
        )
    if work.failed:
        job_refresh(job_id=job.pk)
        return None
    engine.item_advance(
        kind=GENERATION,
        item_id=item_id,
        token=token,
        source=Item.Status.INGESTING,
        target=Item.Status.DONE,
        track=track,
        audio=None,
        error="",
    )
    job_refresh(job_id=job.pk)
    return track


def job_fail(*, job_id: int, message: str) -> None:
    """Fail the whole job (e.g. its model is missing): it and its unfinished items keep
    ``message``."""
    engine.job_fail(kind=GENERATION, job_id=job_id, message=message)


def job_refresh(*, job_id: int) -> None:
    """Mark a running job done once no item is left to work on."""
    engine.job_finish_if_done(kind=GENERATION, job_id=job_id)


# --------------------------------------------------------------------------------------------
# Lost workers: stale claims, orphan files, the watchdog
# --------------------------------------------------------------------------------------------


def job_reclaim_stale(*, job: GenerationJob, now=None) -> int:
    """Hand back the claims of ``job`` whose holder has given no sign of life for
    ``GENERATION_CLAIM_TIMEOUT_S`` (:func:`generation.engine.items_reclaim_stale`): a generating
    item goes back to pending, an ingesting one back to generated, and the work is enqueued
    again. When an ingest was lost, track files no row refers to are removed. Returns how many."""
    reclaimed = engine.items_reclaim_stale(kind=GENERATION, job=job, now=now)
    to_generate = reclaimed.back.get(Item.Status.PENDING, [])
    to_ingest = reclaimed.back.get(Item.Status.GENERATED, [])
    if to_generate:
        _enqueue_batches(job, to_generate)
    items_ingest_enqueue(to_ingest, job_id=job.pk)
    if to_ingest:
        track_files_sweep_orphans(older_than_s=claim_timeout_s())
    if reclaimed.stale:
        job_refresh(job_id=job.pk)
    return reclaimed.stale


def job_resume(*, job: GenerationJob) -> bool:
    """Pick up a running job whose background work this process does not hold (the embedded
    default's server stopped mid-job; called when its page or progress is looked at): stale
    claims come back (:func:`job_reclaim_stale`, after the claim timeout), and pending and
    generated items are handed to the background thread again. Returns whether it did."""
    if not engine.resumable(kind=GENERATION, job=job):
        return False
    with transaction.atomic():
        reclaimed = engine.items_reclaim_stale(kind=GENERATION, job=job)
        pending = list(
            job.items.filter(status=Item.Status.PENDING).order_by("id").values_list("id", flat=True)
        )
        generated = list(
            job.items.filter(status=Item.Status.GENERATED)
            .order_by("id")
            .values_list("id", flat=True)
        )
        _enqueue_batches(job, pending)
        items_ingest_enqueue(generated, job_id=job.pk)
        transaction.on_commit(lambda: job_refresh(job_id=job.pk))
    if reclaimed.back.get(Item.Status.GENERATED):
        track_files_sweep_orphans(older_than_s=claim_timeout_s())
    if pending or generated:
        logger.info("resumed %s: %d to generate, %d to ingest", job, len(pending), len(generated))
    return True


def track_files_sweep_orphans(*, older_than_s: float) -> list[str]:
    """Delete files in the tracks folder that no Track refers to and that are older than
    ``older_than_s`` (an ingest in progress stores its files moments before its row). These are
    left by a worker killed between storing a track's files and saving its row."""
    folder = str(PurePosixPath(track_audio_path(None, "x")).parent)  # type: ignore[arg-type]
    try:
        _, names = default_storage.listdir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return []
    referenced = set(Track.objects.values_list("audio", flat=True)) | set(
        Track.objects.values_list("video", flat=True)
    )
    cutoff = timezone.now() - timedelta(seconds=older_than_s)
    removed = []
    for name in names:
        path = f"{folder}/{name}"
        if path in referenced:
            continue
        try:
            if default_storage.get_modified_time(path) >= cutoff:
                continue
            default_storage.delete(path)
        except FileNotFoundError:
            continue
        removed.append(path)
    if removed:
        logger.warning("removed %d orphan track files: %s", len(removed), ", ".join(removed[:10]))
    return removed


def _watch_round(job: GenerationJob) -> None:
    job_reclaim_stale(job=job)
    job_refresh(job_id=job.pk)


def job_watch(*, job_id: int, token: str) -> bool:
    """One round of a job's watchdog: reclaim stale claims, finish the job if nothing is left.
    Returns whether the chain goes on (the job runs and this chain is still its watchdog)."""
    return engine.job_watch(kind=GENERATION, job_id=job_id, token=token, work=_watch_round)


def jobs_watch_resume() -> int:
    """Restart the watchdogs of all running jobs (a worker starting may replace a dead one that
    held them). Returns how many."""
    return engine.jobs_watch_resume(kind=GENERATION)


# --------------------------------------------------------------------------------------------
# Reads
# --------------------------------------------------------------------------------------------


def job_progress(*, job: GenerationJob) -> dict[str, Any]:
    """Counts of a job's items by state, with the job's status and errors (JSON-serialisable)."""
    return engine.job_progress(
        kind=GENERATION,
        job_id=job.pk,
        busy={
            "generating": [Item.Status.CLAIMED],
            "ingesting": [Item.Status.GENERATED, Item.Status.INGESTING],
        },
        describe={"clip": "clip__key", "condition": "condition__name"},
    )
