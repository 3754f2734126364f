"""Writes of the generation app: clip import, captions, conditions and track ingest.

Every file goes through ``generation.media``: probed, decoded in full, rejected with a clear
message when broken. A failure at any step leaves neither a database row nor a stored file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File
from django.db import IntegrityError, transaction
from django.db.models.fields.files import FieldFile

from generation import media
from generation.models import Caption, CaptionKind, Clip, Condition, Track

logger = logging.getLogger(__name__)

#: The paper's conditions: a name, the caption kind that feeds the generator, a label. The
#: paper's MSI condition is music made from *MusiScene's output* (abstract, section 5.2): the
#: scene it imagines from the music alone, ``msi_pred``.
PAPER_CONDITIONS: tuple[tuple[str, str, str], ...] = (
    ("video_caps", CaptionKind.VIDEO, "Generated from the video caption"),
    ("music_caps", CaptionKind.MUSIC, "Generated from the music caption"),
    ("msi", CaptionKind.MSI_PREDICTED, "Generated from MusiScene's predicted MSI caption"),
    ("fusion", CaptionKind.FUSION, "Generated from the fusion caption"),
)
#: Named conditions beside the paper's: the LLM-composed MSI caption (MusiScene's training
#: target, composed by an LLM that has read the video caption) as a condition of its own.
EXTRA_CONDITIONS: tuple[tuple[str, str, str], ...] = (
    ("msi_llm", CaptionKind.MSI, "Generated from the LLM-composed MSI caption"),
)


def params_hash(parameters: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of ``parameters`` (sorted keys): the provenance key."""
    return hashlib.sha256(json.dumps(parameters, sort_keys=True, default=str).encode()).hexdigest()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@contextmanager
def _scratch_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="musiscene-ingest-") as tmp:
        yield Path(tmp)


@contextmanager
def _files_cleaned_on_error(files: list[FieldFile]) -> Iterator[None]:
    """Delete the stored files in ``files`` if the block fails: no orphan media."""
    try:
        yield
    except BaseException:
        for f in files:
            if f and f.name:
                try:
                    f.storage.delete(f.name)
                except OSError:  # pragma: no cover - best effort on an already broken disk
                    logger.exception("could not remove %s after a failed ingest", f.name)
        raise


def _store(field: FieldFile, path: Path, stored: list[FieldFile]) -> None:
    with open(path, "rb") as fh:
        field.save(path.name, File(fh), save=False)
    stored.append(field)


def track_raw_audio_name(track: Track) -> str:
    """Storage name of the track's raw generator output (before loudness normalisation).

    It sits beside the listening copy: ``<audio name without .m4a>.raw.wav``. Tracks made
    before raw copies were kept have none (``storage.exists`` is false).
    """
    stem = track.audio.name.rsplit(".", 1)[0] if track.audio.name else ""
    return f"{stem}.raw.wav" if stem else ""


def _store_raw(track: Track, path: Path) -> None:
    name = track_raw_audio_name(track)
    with open(path, "rb") as fh:
        saved = track.audio.storage.save(name, File(fh))
    if saved != name:  # the storage renamed it (a file of that name existed): keep one rule
        track.audio.storage.delete(saved)
        raise media.MediaError(f"could not keep the raw output at {name}: the name is taken")


def conditions_ensure_paper() -> list[Condition]:
    """Create (if missing) the paper's four conditions and the extra named ones (``msi_llm``);
    return the paper's four."""
    out = []
    for name, kind, label in PAPER_CONDITIONS + EXTRA_CONDITIONS:
        cond, _ = Condition.objects.get_or_create(
            name=name, defaults={"caption_kind": kind, "label": label}
        )
        if name in {n for n, _, _ in PAPER_CONDITIONS}:
            out.append(cond)
    return out


def caption_add(
    *,
    clip: Clip,
    kind: str,
    text: str,
    model_id: str = "",
    prompt: str = "",
    parameters: dict[str, Any] | None = None,
    author=None,
    author_note: str = "",
    status: str = Caption.Status.UNREVIEWED,
) -> Caption:
    text = text.strip()
    if not text:
        raise ValidationError(f"an empty {kind} caption for clip {clip.key} was not stored")
    if kind not in CaptionKind.values:
        raise ValidationError(
            f"unknown caption kind {kind!r}; known: {', '.join(CaptionKind.values)}"
        )
    return Caption.objects.create(
        clip=clip,
        kind=kind,
        text=text,
        model_id=model_id,
        prompt=prompt,
        parameters=parameters or {},
        author=author,
        author_note=author_note,
        status=status,
    )


#: A segment's source video (a whole YouTube video) may be this long (seconds).
SEGMENT_SOURCE_MAX_S = 3 * 3600.0
#: Slack (seconds) when a file's length is compared with a segment's times.
SEGMENT_SLACK_S = 0.5


def segment_cut(
    duration_s: float, start_s: float, end_s: float, *, name: str = "the file"
) -> tuple[float, float] | None:
    """Where to cut a file of ``duration_s`` seconds for the segment ``[start_s, end_s)``.

    A file that reaches the segment's end (within :data:`SEGMENT_SLACK_S`) is the whole video:
    cut it there (AudioSet segments at a video's end may be shorter; the cut stops at the end).
    A file that ends before the segment's end cannot be the whole video: it is taken to be the
    segment already (AudioSet downloads are usually cut) and kept whole, ``None``; a length that
    differs from the segment's is logged.

    >>> segment_cut(60.0, 30.0, 40.0)
    (30.0, 40.0)
    >>> segment_cut(10.0, 30.0, 40.0) is None
    True
    """
    if end_s <= start_s:
        raise media.MediaError(f"bad segment {start_s:g}-{end_s:g} s for {name}")
    if duration_s >= end_s - SEGMENT_SLACK_S:
        return (float(start_s), float(min(end_s, duration_s)))
    if abs(duration_s - (end_s - start_s)) > SEGMENT_SLACK_S:
        logger.warning(
            "%s is %.1f s long, ending before its segment's end (%g s): kept whole as the "
            "segment, although the segment is %g s",
            name,
            duration_s,
            end_s,
            end_s - start_s,
        )
    return None


def clip_import(
    *,
    path: Path | str,
    key: str,
    title: str = "",
    description: str = "",
    source: str = Clip.Source.UPLOAD,
    youtube_id: str = "",
    start_s: float | None = None,
    end_s: float | None = None,
    labels: Iterable[str] = (),
) -> Clip:
    """Probe a video file, store a web-ready muted H.264 copy and its original audio, make a Clip.

    With ``start_s`` and ``end_s`` (an AudioSet segment) the clip is that segment: a file that
    reaches the segment's end is the whole video and is cut to ``[start_s, end_s)`` (video and
    audio); a file as long as the segment is taken to be the segment already and is kept whole
    (see :func:`segment_cut`).

    Raises ``media.MediaError`` (a ``ValueError``) for a broken file and ``ValidationError`` for a
    key that exists; nothing is stored then.
    """
    path = Path(path)
    if Clip.objects.filter(key=key).exists():
        raise ValidationError(f"a clip with key {key!r} exists already")
    segment = start_s is not None and end_s is not None
    limit = max(settings.MEDIA_MAX_DURATION_S, SEGMENT_SOURCE_MAX_S if segment else 0)
    info = media.probe(path, max_duration_s=limit, require_video=True)
    cut = (
        segment_cut(info.duration_s, start_s, end_s, name=path.name)
        if start_s is not None and end_s is not None
        else None
    )
    if cut is None and info.duration_s > settings.MEDIA_MAX_DURATION_S:
        raise media.MediaError(
            f"{path.name} is {info.duration_s:.0f} s long; clips are at most "
            f"{settings.MEDIA_MAX_DURATION_S:g} s (MEDIA_MAX_DURATION_S)"
        )
    with _scratch_dir() as tmp:
        video_out = media.transcode_video(
            path,
            tmp / "video.mp4",
            start_s=cut[0] if cut is not None else None,
            end_s=cut[1] if cut is not None else None,
        )
        web = media.probe(video_out, require_video=True)
        audio_out = None
        if info.has_audio:
            samples, sr = media.extract_audio(path)
            if cut is not None:
                samples = samples[..., round(cut[0] * sr) : round(cut[1] * sr)]
            audio_out = media.write_audio_m4a(samples, sr, tmp / "audio.m4a")
        clip = Clip(
            key=key,
            title=title,
            description=description,
            source=source,
            youtube_id=youtube_id,
            start_s=start_s,
            end_s=end_s,
            labels=list(labels),
            duration_s=web.duration_s,
            width=web.width or 0,
            height=web.height or 0,
        )
        stored: list[FieldFile] = []
        with _files_cleaned_on_error(stored):
            _store(clip.video, video_out, stored)
            if audio_out is not None:
                _store(clip.original_audio, audio_out, stored)
            try:
                with transaction.atomic():
                    clip.full_clean(exclude=["video", "original_audio"])
                    clip.save()
            except IntegrityError as exc:
                raise ValidationError(
                    f"clip {key!r} conflicts with an existing clip: {exc}"
                ) from exc
    logger.info("imported clip %s (%.1f s, %dx%d)", key, clip.duration_s, clip.width, clip.height)
    return clip


def track_create(
    *,
    clip: Clip,
    condition: Condition,
    samples: np.ndarray,
    sample_rate: int,
    generator: str,
    loudness_target_lufs: float,
    model_id: str = "",
    model_revision: str = "",
    prompt: str = "",
    caption: Caption | None = None,
    seed: int | None = None,
    parameters: dict[str, Any] | None = None,
    identity: dict[str, Any] | None = None,
) -> Track:
    """Loudness-normalise ``samples``, store them as AAC and muxed onto the clip, make a Track.

    Idempotent: the track of (clip, condition, generator, model_id, seed, parameters) is made once;
    a second call returns the first track. ``identity`` (default: ``parameters`` plus the prompt
    and the loudness target) is what the provenance hash covers.
    """
    parameters = dict(parameters or {})
    identity = (
        identity
        if identity is not None
        else {
            **parameters,
            "prompt": prompt,
            "loudness_target_lufs": loudness_target_lufs,
        }
    )
    key = params_hash(identity)
    existing = Track.objects.filter(
        clip=clip,
        condition=condition,
        generator=generator,
        model_id=model_id,
        seed=seed,
        params_hash=key,
    ).first()
    if existing is not None:
        return existing
    samples = np.asarray(samples, dtype=np.float32)
    if samples.ndim != 1:
        raise media.MediaError(f"track audio must be mono (1-D), got shape {samples.shape}")
    if samples.size == 0:
        raise media.MediaError(f"the track for {clip.key}/{condition.name} is empty")
    if not np.all(np.isfinite(samples)):
        raise media.MediaError(
            f"the track for {clip.key}/{condition.name} contains NaN or infinite samples"
        )
    media.check_not_silent(samples, sample_rate)
    normalised, measured, gain_db = media.normalize_loudness(
        samples, sample_rate, target_lufs=loudness_target_lufs
    )
    with _scratch_dir() as tmp:
        audio_out = media.write_audio_m4a(normalised, sample_rate, tmp / "track.m4a")
        # the generator's raw output, kept beside the listening copy for the objective
        # metrics (FAD and KL are computed on it: issue 14); 32-bit float WAV, lossless
        raw_out = media.write_wav(samples, sample_rate, tmp / "track.raw.wav", subtype="FLOAT")
        with clip.video.open("rb") as fh:
            video_in = tmp / "clip.mp4"
            video_in.write_bytes(fh.read())
        video_out = media.mux(video_in, normalised, sample_rate, tmp / "muxed.mp4")
        track = Track(
            clip=clip,
            condition=condition,
            duration_s=samples.size / sample_rate,
            sample_rate=sample_rate,
            loudness_lufs=measured,
            loudness_target_lufs=loudness_target_lufs,
            gain_db=gain_db,
            generator=generator,
            model_id=model_id,
            model_revision=model_revision,
            prompt=prompt,
            caption=caption,
            seed=seed,
            parameters=parameters,
            params_hash=key,
        )
        stored: list[FieldFile] = []
        try:
            with _files_cleaned_on_error(stored):
                _store(track.audio, audio_out, stored)
                _store(track.video, video_out, stored)
                try:
                    _store_raw(track, raw_out)
                    with transaction.atomic():
                        track.save()
                except BaseException:
                    track.audio.storage.delete(track_raw_audio_name(track))
                    raise
        except IntegrityError:
            # Another worker made the same track meanwhile: theirs stands, ours is discarded.
            return Track.objects.get(
                clip=clip,
                condition=condition,
                generator=generator,
                model_id=model_id,
                seed=seed,
                params_hash=key,
            )
    return track


def track_import_file(
    *,
    clip: Clip,
    condition: Condition,
    path: Path | str,
    loudness_target_lufs: float,
    generator: str = "upload",
    model_id: str = "",
    prompt: str = "",
    parameters: dict[str, Any] | None = None,
) -> Track:
    """Ingest an audio (or video) file as a track: probed, decoded, normalised and muxed."""
    path = Path(path)
    media.probe(path, max_duration_s=settings.MEDIA_MAX_DURATION_S, require_audio=True)
    samples, sr = media.decode_audio(path, mono=True)
    params = {**(parameters or {}), "source_sha256": file_sha256(path), "source_name": path.name}
    return track_create(
        clip=clip,
        condition=condition,
        samples=samples,
        sample_rate=sr,
        generator=generator,
        loudness_target_lufs=loudness_target_lufs,
        model_id=model_id,
        prompt=prompt,
        parameters=params,
    )


def track_generate_sketch(
    *,
    clip: Clip,
    condition: Condition,
    loudness_target_lufs: float,
    duration_s: float | None = None,
    seed: int = 0,
) -> Track:
    """Make a track with the built-in procedural "sketch" generator from the condition's caption.

    Sketch tracks are for pilots and demos; MusicGen is the real generator.
    """
    from generation.selectors import caption_for_condition
    from modeling import sketch

    caption = caption_for_condition(clip=clip, condition=condition)
    if caption is None:
        raise ValidationError(
            f"clip {clip.key} has no {condition.caption_source} caption for condition "
            f"{condition.name}"
        )
    duration = float(duration_s or clip.duration_s)
    samples = sketch.sketch_generate(
        caption.text, duration_s=duration, sample_rate=32000, seed=seed
    )
    parameters = {
        **sketch.sketch_parameters(caption.text),
        "duration_s": duration,
        "sample_rate": 32000,
    }
    return track_create(
        clip=clip,
        condition=condition,
        samples=samples,
        sample_rate=32000,
        generator=sketch.SKETCH_GENERATOR_ID,
        model_id=f"sketch-v{sketch.SKETCH_VERSION}",
        prompt=caption.text,
        caption=caption,
        seed=seed,
        parameters=parameters,
        loudness_target_lufs=loudness_target_lufs,
    )


def caption_edit(
    caption: Caption, *, text: str | None = None, status: str | None = None, user
) -> Caption:
    """Change a caption's text and/or review status, recording who changed what and when.

    The caption row holds the current text; each change adds a ``CaptionRevision`` with the text
    and status before and after, so the first revision keeps the original text. A call that
    changes nothing records nothing. Raises ``ValidationError`` for an empty text or an unknown
    status.
    """
    from generation.models import CaptionRevision

    if status is not None and status not in Caption.Status.values:
        raise ValidationError(
            f"unknown caption status {status!r}; known: {', '.join(Caption.Status.values)}"
        )
    if text is not None:
        text = text.strip()
        if not text:
            raise ValidationError("a caption's text cannot be empty: reject the caption instead")
    with transaction.atomic():
        current = Caption.objects.select_for_update().get(pk=caption.pk)
        new_text = current.text if text is None else text
        new_status = current.status if status is None else status
        if (new_text, new_status) != (current.text, current.status):
            CaptionRevision.objects.create(
                caption=current,
                old_text=current.text,
                new_text=new_text,
                old_status=current.status,
                new_status=new_status,
                user=user if getattr(user, "pk", None) else None,
            )
            Caption.objects.filter(pk=current.pk).update(text=new_text, status=new_status)
            logger.info(
                "caption %s edited by %s (status %s -> %s%s)",
                current.pk,
                user,
                current.status,
                new_status,
                ", text changed" if new_text != current.text else "",
            )
    caption.text, caption.status = new_text, new_status
    return caption


def captions_set_status(*, captions: Iterable[Caption], status: str, user) -> int:
    """Approve or reject (or reset) many captions, each change recorded. Returns how many
    changed."""
    changed = 0
    for caption in captions:
        before = Caption.objects.filter(pk=caption.pk).values_list("status", flat=True).first()
        caption_edit(caption, status=status, user=user)
        changed += caption.status != before
    return changed
