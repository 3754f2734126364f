"""generation.synth: the demo scenes, their videos and the procedural "sketch" generator."""

from __future__ import annotations

import json
import time

import av
import numpy as np
import pytest

from generation import media, synth

SR = 32000


def onset_rate(x: np.ndarray, sr: int) -> float:
    """Onsets per second from positive spectral flux (a plain onset detector)."""
    hop, n = 256, 1024
    frames = np.lib.stride_tricks.sliding_window_view(x, n)[::hop] * np.hanning(n)
    mag = np.log1p(100 * np.abs(np.fft.rfft(frames, axis=1)))
    flux = np.maximum(0, np.diff(mag, axis=0)).sum(axis=1)
    threshold = flux.mean() + flux.std()
    peaks = [
        i
        for i in range(1, len(flux) - 1)
        if flux[i] > threshold and flux[i] >= flux[i - 1] and flux[i] >= flux[i + 1]
    ]
    kept: list[int] = []
    for p in peaks:
        if not kept or (p - kept[-1]) * hop / sr > 0.05:
            kept.append(p)
    return len(kept) / (len(x) / sr)


def first_frames(path, count: int = 3) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [
            f.to_ndarray(format="rgb24")
            for _, f in zip(range(count), c.decode(video=0), strict=False)
        ]


# ---------------------------------------------------------------------------------------------
# Scenes


def test_there_are_at_least_24_distinct_scenes_with_every_caption():
    assert len(synth.SCENES) >= 24
    assert len({s.key for s in synth.SCENES}) == len(synth.SCENES)
    assert len({s.description for s in synth.SCENES}) == len(synth.SCENES)
    for scene in synth.SCENES:
        for kind in (
            "description",
            "video_caption",
            "music_caption",
            "fusion_caption",
            "msi_caption",
        ):
            assert getattr(scene, kind).strip(), (scene.key, kind)
        assert scene.msi_caption.startswith(
            "The music is suitable for a scene"
        )  # the paper's MSI style
        assert len(scene.fusion_caption.split()) > len(
            scene.music_caption.split()
        )  # fusion is verbose
        assert "Music" in scene.labels
        assert isinstance(scene.labels, tuple)


def test_scene_by_key():
    assert synth.scene_by_key("fireworks").key == "fireworks"
    with pytest.raises(KeyError, match="no demo scene"):
        synth.scene_by_key("nope")


def test_every_scene_renders_and_moves(tmp_path):
    for scene in synth.SCENES:
        path = synth.render_scene_video(
            scene, tmp_path / f"{scene.key}.mp4", duration_s=1.0, size=(160, 90)
        )
        info = media.probe(path, require_video=True, require_audio=True)
        assert (info.width, info.height) == (160, 90), scene.key
        frames = first_frames(path, 24)
        assert np.abs(frames[0].astype(int) - frames[-1].astype(int)).mean() > 0.2, (
            f"{scene.key} does not move"
        )
        assert frames[0].std() > 5, f"{scene.key} is a flat picture"


def test_a_rendered_scene_is_a_web_ready_clip_with_its_original_audio(tmp_path):
    scene = synth.scene_by_key("fireworks")
    started = time.process_time()
    path = synth.render_scene_video(scene, tmp_path / "fireworks.mp4")
    cpu = time.process_time() - started
    info = media.probe(path, require_video=True, require_audio=True)
    assert (info.video_codec, info.audio_codec) == ("h264", "aac")
    assert (info.width, info.height, info.fps) == (320, 180, 24.0)
    assert info.duration_s == pytest.approx(10.0, abs=0.05)
    assert media.is_faststart(path)
    with av.open(str(path)) as c:
        assert c.streams.video[0].codec_context.pix_fmt == "yuv420p"
        assert c.streams.video[0].frames == 240
    audio, sr = media.decode_audio(path)
    assert len(audio) == pytest.approx(10 * sr, abs=2)
    media.check_not_silent(audio, sr)
    rms_dbfs = 20 * np.log10(np.sqrt(np.mean(audio**2)))
    assert -40 < rms_dbfs < -20  # quiet ambience, not music
    assert cpu < 5.0  # about 0.6 s of CPU here; generous for a busy machine


def test_rendering_is_deterministic_per_seed(tmp_path):
    scene = synth.scene_by_key("snow-village")
    a = synth.render_scene_video(scene, tmp_path / "a.mp4", duration_s=0.5, seed=3)
    b = synth.render_scene_video(scene, tmp_path / "b.mp4", duration_s=0.5, seed=3)
    c = synth.render_scene_video(scene, tmp_path / "c.mp4", duration_s=0.5, seed=4)
    assert all(np.array_equal(x, y) for x, y in zip(first_frames(a), first_frames(b), strict=True))
    assert not np.array_equal(first_frames(a)[0], first_frames(c)[0])


def test_render_rejects_odd_sizes(tmp_path):
    with pytest.raises(ValueError, match="even"):
        synth.render_scene_video(synth.SCENES[0], tmp_path / "x.mp4", size=(321, 180))
    assert not (tmp_path / "x.mp4").exists()


def test_a_scene_that_is_not_built_in_gets_a_look_from_its_words(tmp_path):
    scene = synth.Scene(
        key="my-own",
        description="Rain over a harbour",
        video_caption="rain falls on boats",
        music_caption="calm piano",
        fusion_caption="calm piano and rain",
        msi_caption="The music is suitable for a scene of rain.",
        labels=("Music",),
    )
    path = synth.render_scene_video(scene, tmp_path / "own.mp4", duration_s=0.5)
    assert media.probe(path).has_audio


# ---------------------------------------------------------------------------------------------
# The sketch generator


def test_sketch_is_deterministic_exact_in_range_and_not_silent():
    a = synth.sketch_generate("calm piano by the sea", duration_s=3.3, sample_rate=22050, seed=7)
    b = synth.sketch_generate("calm piano by the sea", duration_s=3.3, sample_rate=22050, seed=7)
    assert np.array_equal(a, b)
    assert a.dtype == np.float32 and a.shape == (round(3.3 * 22050),)
    assert np.abs(a).max() <= 1.0 and np.abs(a).max() > 0.5
    media.check_not_silent(a, 22050)
    assert synth.sketch_generate("x", duration_s=10.0).shape == (320000,)


def test_sketch_seeds_and_captions_change_the_music():
    base = synth.sketch_generate("happy guitar song", duration_s=4.0)
    other_seed = synth.sketch_generate("happy guitar song", duration_s=4.0, seed=1)
    other_caption = synth.sketch_generate("dark ambient synth drone", duration_s=4.0)
    assert not np.array_equal(base, other_seed)
    assert abs(np.corrcoef(base, other_caption)[0, 1]) < 0.3


def test_tempo_mode_and_instruments_follow_the_words():
    slow = synth.sketch_parameters("slow sad piano")
    fast = synth.sketch_parameters("fast energetic drums")
    happy = synth.sketch_parameters("a happy, bright and cheerful tune")
    assert 60 <= slow["tempo_bpm"] <= 80 and slow["mode"] == "minor" and slow["energy"] == "low"
    assert "piano" in slow["instruments"] and "drums" not in slow["instruments"]
    assert 120 <= fast["tempo_bpm"] <= 140 and fast["energy"] == "high"
    assert "drums" in fast["instruments"] and "bass" in fast["instruments"]
    assert happy["mode"] == "major"
    assert slow["key"].endswith(" minor") and slow["matched_words"]["minor"] == ["sad"]
    moderate = synth.sketch_parameters("a steady folk song")
    assert 90 <= moderate["tempo_bpm"] <= 110
    assert synth.sketch_parameters("strings and bells and a flute")["instruments"][:3] == [
        "strings",
        "bells",
        "flute",
    ]


def test_sketch_parameters_are_provenance():
    params = synth.sketch_parameters(synth.SCENES[0].music_caption)
    assert params["generator"] == synth.SKETCH_GENERATOR_ID == "sketch"
    assert params["version"] == synth.SKETCH_VERSION == "1"
    assert json.loads(json.dumps(params)) == params
    assert params == synth.sketch_parameters("  " + synth.SCENES[0].music_caption + "  ")


def test_fast_captions_have_more_onsets_than_slow_ones():
    slow = synth.sketch_generate("slow sad piano", duration_s=8.0)
    fast = synth.sketch_generate("fast energetic drums", duration_s=8.0)
    assert onset_rate(fast, SR) > 2 * onset_rate(slow, SR)


def test_every_scene_caption_makes_a_distinct_track():
    tracks = {}
    for scene in synth.SCENES[:4]:
        for kind in ("video_caption", "music_caption", "msi_caption"):
            tracks[(scene.key, kind)] = synth.sketch_generate(getattr(scene, kind), duration_s=1.0)
    fingerprints = {hash(t.tobytes()) for t in tracks.values()}
    assert len(fingerprints) == len(tracks)


def test_sketch_is_ready_for_the_track_pipeline():
    music = synth.sketch_generate(synth.SCENES[12].music_caption)  # dance party
    out, before, gain = media.normalize_loudness(music, SR)
    assert media.integrated_loudness(out, SR) == pytest.approx(-23.0, abs=0.5)
    assert -30 < before < -5


def test_sketch_rejects_bad_arguments():
    with pytest.raises(ValueError):
        synth.sketch_generate("x", duration_s=0)
    with pytest.raises(ValueError):
        synth.sketch_generate("x", sample_rate=100)
