"""Clip and track ingest through the services: good files become records, bad ones leave nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from django.core.exceptions import ValidationError

from generation import media, services
from generation.models import Clip, Track
from tests.conftest import make_tone, make_video


def _media_files() -> set[str]:
    root = Path(settings.MEDIA_ROOT)
    return (
        {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}
        if root.exists()
        else set()
    )


def _bad_files(tmp: Path, video_file: Path) -> dict[str, Path]:
    files = {}
    files["empty"] = tmp / "empty.mp4"
    files["empty"].write_bytes(b"")
    files["random"] = tmp / "random.mp4"
    files["random"].write_bytes(np.random.default_rng(0).bytes(20_000))
    files["text"] = tmp / "notes.mp4"
    files["text"].write_text("this is not a video\n" * 50)
    data = video_file.read_bytes()
    files["truncated"] = tmp / "truncated.mp4"
    files["truncated"].write_bytes(data[: len(data) // 2])
    files["audio-only"] = tmp / "audio.wav"
    media.write_wav(make_tone(1.0), 32000, files["audio-only"])
    return files


def test_it_imports_a_clip_as_web_ready_video_with_its_audio(db, video_file):
    clip = services.clip_import(
        path=video_file, key="c1", youtube_id="abc", start_s=30.0, labels=["/m/04rlf"]
    )
    info = media.probe(clip.video.path, require_video=True)
    assert info.video_codec == "h264" and not info.has_audio  # the clip plays muted
    assert media.is_faststart(clip.video.path)
    assert abs(clip.duration_s - 2.0) < 0.2
    assert (clip.width, clip.height) == (64, 48)
    assert media.probe(clip.original_audio.path).has_audio
    assert Clip.objects.get(youtube_id="abc").labels == ["/m/04rlf"]


@pytest.mark.parametrize("kind", ["empty", "random", "text", "truncated", "audio-only"])
def test_it_rejects_a_bad_clip_and_stores_nothing(db, tmp_path, video_file, kind):
    before = _media_files()
    path = _bad_files(tmp_path, video_file)[kind]
    with pytest.raises(media.MediaError) as err:
        services.clip_import(path=path, key=f"bad-{kind}")
    assert path.name in str(err.value)  # the message names the file
    assert not Clip.objects.exists()
    assert _media_files() == before


def test_it_refuses_a_duplicate_clip_key(db, video_file):
    services.clip_import(path=video_file, key="dup")
    before = _media_files()
    with pytest.raises(ValidationError):
        services.clip_import(path=video_file, key="dup")
    assert Clip.objects.count() == 1
    assert _media_files() == before


def test_it_refuses_a_clip_longer_than_the_limit(db, tmp_path, settings):
    settings.MEDIA_MAX_DURATION_S = 1.0
    path = make_video(tmp_path / "long.mp4", seconds=2.0)
    with pytest.raises(media.MediaError, match="long"):
        services.clip_import(path=path, key="long")
    assert not Clip.objects.exists()


def test_it_normalises_and_muxes_a_track(make_clip, conditions):
    clip = make_clip("c1")
    track = services.track_create(
        clip=clip,
        condition=conditions["msi"],
        samples=make_tone(2.0, amp=0.02),
        sample_rate=32000,
        generator="test",
        seed=1,
        loudness_target_lufs=-23.0,
    )
    audio, sr = media.decode_audio(track.audio.path)
    assert abs(media.integrated_loudness(audio, sr) - (-23.0)) < 1.0
    assert track.loudness_lufs < -30  # the quiet input was measured before normalising
    assert track.gain_db > 5
    info = media.probe(track.video.path, require_video=True, require_audio=True)
    assert (info.video_codec, info.audio_codec) == ("h264", "aac")
    assert media.is_faststart(track.video.path)


def test_a_track_is_made_once_per_provenance(make_clip, conditions):
    clip = make_clip("c1")
    kwargs = dict(
        clip=clip,
        condition=conditions["msi"],
        sample_rate=32000,
        generator="test",
        seed=1,
        parameters={"top_k": 250},
        loudness_target_lufs=-23.0,
    )
    first = services.track_create(samples=make_tone(2.0), **kwargs)
    files = _media_files()
    again = services.track_create(samples=make_tone(2.0), **kwargs)
    assert again.pk == first.pk
    assert _media_files() == files  # nothing re-encoded or stored twice
    other_seed = services.track_create(samples=make_tone(2.0), **{**kwargs, "seed": 2})
    assert other_seed.pk != first.pk


@pytest.mark.parametrize(
    "samples,message",
    [
        (np.zeros(64000, dtype=np.float32), "silent"),
        (np.zeros(0, dtype=np.float32), "empty"),
        (np.full(64000, np.nan, dtype=np.float32), "NaN"),
    ],
)
def test_it_rejects_bad_track_audio_and_stores_nothing(make_clip, conditions, samples, message):
    clip = make_clip("c1")
    before = _media_files()
    with pytest.raises(media.MediaError, match=message):
        services.track_create(
            clip=clip,
            condition=conditions["msi"],
            samples=samples,
            sample_rate=32000,
            generator="test",
            loudness_target_lufs=-23.0,
        )
    assert not Track.objects.exists()
    assert _media_files() == before


def test_it_imports_an_audio_file_at_another_sample_rate(make_clip, conditions, tmp_path):
    clip = make_clip("c1")
    path = media.write_wav(make_tone(2.0, sample_rate=22050), 22050, tmp_path / "t.wav")
    track = services.track_import_file(
        clip=clip, condition=conditions["msi"], path=path, loudness_target_lufs=-20.0
    )
    assert track.generator == "upload"
    assert track.parameters["source_sha256"] == services.file_sha256(path)
    assert abs(track.duration_s - 2.0) < 0.05


def test_no_half_record_when_the_disk_fills_mid_ingest(make_clip, conditions, monkeypatch):
    """The audio file is stored, then the disk is full for the video: no track, no orphan file."""
    import errno

    from django.core.files.storage import FileSystemStorage

    clip = make_clip("c1")
    before = _media_files()
    real_save = FileSystemStorage._save
    calls = []

    def save_then_fill(self, name, content):
        calls.append(name)
        if len(calls) > 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(self, name, content)

    monkeypatch.setattr(FileSystemStorage, "_save", save_then_fill)
    with pytest.raises(OSError, match="No space"):
        services.track_create(
            clip=clip,
            condition=conditions["msi"],
            samples=make_tone(2.0),
            sample_rate=32000,
            generator="test",
            loudness_target_lufs=-23.0,
        )
    assert len(calls) == 2
    assert not Track.objects.exists()
    assert _media_files() == before


def test_a_failed_save_removes_the_files_already_stored(make_clip, conditions, monkeypatch):
    clip = make_clip("c1")
    before = _media_files()

    def boom(self, *a, **kw):
        raise RuntimeError("database went away")

    monkeypatch.setattr(Track, "save", boom)
    with pytest.raises(RuntimeError):
        services.track_create(
            clip=clip,
            condition=conditions["msi"],
            samples=make_tone(2.0),
            sample_rate=32000,
            generator="test",
            loudness_target_lufs=-23.0,
        )
    assert _media_files() == before
