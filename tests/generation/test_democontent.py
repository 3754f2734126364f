"""generation.democontent: the demo scenes (as data), their videos with ambience, and the
sketch music their captions make."""

from __future__ import annotations

import json
import time

import av
import numpy as np
import pytest

from generation import democontent, media
from modeling import sketch

SR = 32000


def first_frames(path, count: int = 3) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [
            f.to_ndarray(format="rgb24")
            for _, f in zip(range(count), c.decode(video=0), strict=False)
        ]


# ---------------------------------------------------------------------------------------------
# Scenes


def test_there_are_at_least_24_distinct_scenes_with_every_caption():
    assert len(democontent.SCENES) >= 24
    assert len({s.key for s in democontent.SCENES}) == len(democontent.SCENES)
    assert len({s.description for s in democontent.SCENES}) == len(democontent.SCENES)
    for scene in democontent.SCENES:
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
    assert democontent.scene_by_key("fireworks").key == "fireworks"
    with pytest.raises(KeyError, match="no demo scene"):
        democontent.scene_by_key("nope")


def test_every_scene_renders_and_moves(tmp_path):
    for scene in democontent.SCENES:
        path = democontent.render_scene_video(
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
    scene = democontent.scene_by_key("fireworks")
    started = time.process_time()
    path = democontent.render_scene_video(scene, tmp_path / "fireworks.mp4")
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
    scene = democontent.scene_by_key("snow-village")
    a = democontent.render_scene_video(scene, tmp_path / "a.mp4", duration_s=0.5, seed=3)
    b = democontent.render_scene_video(scene, tmp_path / "b.mp4", duration_s=0.5, seed=3)
    c = democontent.render_scene_video(scene, tmp_path / "c.mp4", duration_s=0.5, seed=4)
    assert all(np.array_equal(x, y) for x, y in zip(first_frames(a), first_frames(b), strict=True))
    assert not np.array_equal(first_frames(a)[0], first_frames(c)[0])


def test_render_rejects_odd_sizes(tmp_path):
    with pytest.raises(ValueError, match="even"):
        democontent.render_scene_video(democontent.SCENES[0], tmp_path / "x.mp4", size=(321, 180))
    assert not (tmp_path / "x.mp4").exists()


def test_a_scene_that_is_not_built_in_gets_a_look_from_its_words(tmp_path):
    scene = democontent.Scene(
        key="my-own",
        description="Rain over a harbour",
        video_caption="rain falls on boats",
        music_caption="calm piano",
        fusion_caption="calm piano and rain",
        msi_caption="The music is suitable for a scene of rain.",
        labels=("Music",),
    )
    path = democontent.render_scene_video(scene, tmp_path / "own.mp4", duration_s=0.5)
    assert media.probe(path).has_audio


# ---------------------------------------------------------------------------------------------
# The sketch generator


def test_sketch_parameters_are_provenance():
    params = sketch.sketch_parameters(democontent.SCENES[0].music_caption)
    assert params["generator"] == sketch.SKETCH_GENERATOR_ID == "sketch"
    assert params["version"] == sketch.SKETCH_VERSION == "1"
    assert json.loads(json.dumps(params)) == params
    assert params == sketch.sketch_parameters("  " + democontent.SCENES[0].music_caption + "  ")


def test_every_scene_caption_makes_a_distinct_track():
    tracks = {}
    for scene in democontent.SCENES[:4]:
        for kind in ("video_caption", "music_caption", "msi_caption"):
            tracks[(scene.key, kind)] = sketch.sketch_generate(getattr(scene, kind), duration_s=1.0)
    fingerprints = {hash(t.tobytes()) for t in tracks.values()}
    assert len(fingerprints) == len(tracks)


def test_sketch_is_ready_for_the_track_pipeline():
    music = sketch.sketch_generate(democontent.SCENES[12].music_caption)  # dance party
    out, before, gain = media.normalize_loudness(music, SR)
    assert media.integrated_loudness(out, SR) == pytest.approx(-23.0, abs=0.5)
    assert -30 < before < -5
