"""Shared fixtures for the captioner tests: tiny random models, built once, and small videos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tiny random GIT, Mixtral, LLaMA and MERT, built through ``python -m modeling.tiny``'s
    registry."""
    from modeling.tiny import build

    out = tmp_path_factory.mktemp("tiny-captioners")
    build(out, ["git", "composer", "llama", "mert"])
    return out


def write_video(
    path: Path, frames: list[np.ndarray], *, fps: int = 10, audio: bool = False
) -> Path:
    """An H.264 MP4 of ``frames`` ((H, W, 3) uint8), optionally with a silent AAC track."""
    import av

    h, w = frames[0].shape[:2]
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = w, h, "yuv420p"
        video.options = {"crf": "10"}
        sound = out.add_stream("aac", rate=16000) if audio else None
        for image in frames:
            out.mux(video.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        out.mux(video.encode())
        if sound is not None:
            samples = np.zeros((1, 16000), dtype=np.float32)
            frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
            frame.sample_rate = 16000
            out.mux(sound.encode(frame))
            out.mux(sound.encode())
    return path


def grey_ramp(n: int, *, size: tuple[int, int] = (48, 64)) -> list[np.ndarray]:
    """Frame i is a flat grey of level 8 * i, so a decoded frame tells its index."""
    return [np.full((*size, 3), 8 * i, dtype=np.uint8) for i in range(n)]


def noise_frames(n: int, *, seed: int, size: tuple[int, int] = (48, 64)) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 255, (*size, 3), dtype=np.uint8) for _ in range(n)]


@pytest.fixture(scope="session")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("videos")
    return {
        "ramp": write_video(root / "ramp.mp4", grey_ramp(30)),
        "short": write_video(root / "short.mp4", grey_ramp(2)),
        **{
            f"noise{i}": write_video(root / f"noise{i}.mp4", noise_frames(12, seed=i), audio=True)
            for i in range(3)
        },
    }
