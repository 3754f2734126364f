"""Video captions: even frame sampling with PyAV, batched GIT captioning, provenance, clear
errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from modeling.captioners.video import VideoCaptioner, VideoDecodeError, frame_indices, read_frames
from modeling.hub import ModelNotFoundError


def test_it_takes_the_middle_frame_of_each_equal_part() -> None:
    assert frame_indices(60, 6) == [5, 15, 25, 35, 45, 55]
    assert frame_indices(30, 3) == [5, 15, 25]
    assert frame_indices(7, 1) == [3]
    assert frame_indices(2, 4) == [0, 0, 1, 1]  # a clip shorter than N frames repeats frames
    with pytest.raises(ValueError):
        frame_indices(0, 6)


def test_it_reads_the_evenly_spaced_frames_of_a_video(videos: dict[str, Path]) -> None:
    frames = read_frames(videos["ramp"], 3)
    assert [f.shape for f in frames] == [(48, 64, 3)] * 3 and frames[0].dtype == np.uint8
    levels = [float(f.mean()) / 8 for f in frames]  # frame i was filled with grey 8 * i
    assert np.allclose(levels, [5, 15, 25], atol=0.5), levels
    short = read_frames(videos["short"], 4)
    assert np.allclose([float(f.mean()) / 8 for f in short], [0, 0, 1, 1], atol=0.5)


def test_it_names_a_missing_or_undecodable_video(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope.mp4"):
        read_frames(tmp_path / "nope.mp4", 3)
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00not a video" * 50)
    with pytest.raises(VideoDecodeError, match="junk.mp4"):
        read_frames(junk, 3)


def test_it_refuses_a_file_without_video(tmp_path: Path) -> None:
    import soundfile as sf

    wav = tmp_path / "tone.wav"
    sf.write(wav, np.zeros(8000, dtype=np.float32), 16000)
    with pytest.raises(VideoDecodeError, match="no video stream"):
        read_frames(wav, 3)


@pytest.fixture(scope="module")
def captioner(tiny_dir: Path) -> VideoCaptioner:
    return VideoCaptioner.from_pretrained(str(tiny_dir / "git"), device="cpu", max_new_tokens=6)


def test_it_captions_in_batches_as_one_by_one(
    captioner: VideoCaptioner, videos: dict[str, Path]
) -> None:
    clips = [videos["noise0"], videos["noise1"], videos["noise2"]]
    batched = captioner.caption(clips, batch_size=2)
    single = [captioner.caption([c])[0] for c in clips]
    assert [r.text for r in batched] == [r.text for r in single]
    assert all(r.text for r in batched)
    assert len({r.text for r in batched}) > 1  # the frames change the caption
    assert [r.source for r in batched] == [str(c) for c in clips]


def test_it_records_the_provenance(
    captioner: VideoCaptioner, tiny_dir: Path, videos: dict[str, Path]
) -> None:
    [result] = captioner.caption([videos["noise0"]])
    assert (
        result.kind == "video" and result.model == str(tiny_dir / "git") and result.prompt is None
    )
    assert result.provenance()["parameters"] == {
        "num_frames": 3,
        "frame_sampling": "segment-middle",
        "decoding": "greedy",
        "num_beams": 1,
        "max_new_tokens": 6,
    }


def test_it_uses_the_checkpoints_frame_count(captioner: VideoCaptioner) -> None:
    assert captioner.num_frames == 3
    with pytest.raises(ValueError, match="takes 3 frames per clip, got 2"):
        captioner.caption_frames([[np.zeros((32, 32, 3), np.uint8)] * 2])


def test_it_loads_the_image_processor_without_torchvision(captioner: VideoCaptioner) -> None:
    import importlib.util

    assert importlib.util.find_spec("torchvision") is None
    assert type(captioner.processor.image_processor).__name__ == "CLIPImageProcessorPil"


def test_it_names_a_missing_model() -> None:
    with pytest.raises(ModelNotFoundError, match="nobody/git-missing-vatex"):
        VideoCaptioner.from_pretrained("nobody/git-missing-vatex")
