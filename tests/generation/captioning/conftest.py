"""Fixtures of the caption pipeline tests: tiny captioners, a media folder, clips with media."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

#: YouTube ids of the media folder (11 characters, as in AudioSet); the last has no file.
YTIDS = ("R3mcZxi-r9U", "gy6R280ZUMQ", "abcdefghijk", "nofile00000")


@pytest.fixture(autouse=True)
def fresh_captioners():
    """Each test loads its own captioners (they are kept per process otherwise)."""
    from generation import captioning

    captioning._models.clear()
    yield
    captioning._models.clear()


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny random GIT, Mixtral, LLaMA and MERT, plus two MusiScene checkpoints on them: MU-LLaMA's
    base adapter (music captions) and a "trained" one (predicted MSI)."""
    import torch
    from transformers import AutoConfig

    from modeling.musiscene.config import MusiSceneConfig
    from modeling.musiscene.model import adapter_config_for, build_musiscene
    from modeling.tiny import build

    root = tmp_path_factory.mktemp("tiny-pipeline")
    paths = build(root, ["git", "composer", "llama", "mert"])
    llama = str(paths["llama"])
    adapter = adapter_config_for(
        AutoConfig.from_pretrained(llama), mert_layers=3, mert_dim=32, query_layers=2
    )
    for name, seed in (("mu-llama", 1), ("musiscene", 2)):
        model = build_musiscene(
            MusiSceneConfig(llama=llama, mert=str(paths["mert"]), adapter=adapter), seed=seed
        )
        with torch.no_grad():  # open gates, so that the music changes the answer
            for gate in model.gates:
                gate.gate.fill_(2.0)
            for p in model.adapter.parameters():
                p.mul_(30.0)
        paths[name] = model.save_checkpoint(root / name)
    return paths


def write_clip_video(path: Path, *, seed: int, seconds: float = 1.0, fps: int = 8) -> Path:
    """A small H.264 + AAC MP4: moving noise and a tone of its own."""
    from generation import media

    rng = np.random.default_rng(seed)
    frames = [rng.integers(0, 255, (48, 64, 3), dtype=np.uint8) for _ in range(int(seconds * fps))]
    t = np.arange(int(seconds * 32000)) / 32000
    sound = (0.3 * np.sin(2 * np.pi * (220 + 170 * seed) * t)).astype(np.float32)
    return media.write_video(frames, fps, path, audio=sound, sample_rate=32000)


@pytest.fixture(scope="session")
def media_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Videos named by YouTube id (``YTID.mp4``) and an AudioSet-style segment list of them."""
    root = tmp_path_factory.mktemp("audioset")
    for i, ytid in enumerate(YTIDS[:3]):
        write_clip_video(root / f"{ytid}.mp4", seed=i)
    lines = [
        "# Segments csv created Sun Mar  5 10:54:25 2017",
        "# num_ytids=4, num_segs=4",
        "# YTID, start_seconds, end_seconds, positive_labels",
    ]
    lines += [
        f'{ytid}, {30 + i}.000, {40 + i}.000, "/m/04rlf,/m/0342h"' for i, ytid in enumerate(YTIDS)
    ]
    (root / "segments.csv").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture
def clips(db, media_folder):
    """The media folder's three clips, imported through ``import_media``."""
    from django.core.management import call_command
    from django.core.management.base import CommandError

    from generation.models import Clip

    try:
        call_command(
            "import_media", str(media_folder), csv=media_folder / "segments.csv", label=["/m/04rlf"]
        )
    except CommandError:  # pragma: no cover - a broken test video
        raise
    return {c.youtube_id: c for c in Clip.objects.order_by("key")}


def musiscene_csv(path: Path, rows: list[dict[str, str]], *, ytids: list[str]) -> tuple[Path, Path]:
    """A CSV in the published layout (with pandas' index column) and its paired JSON."""
    import csv

    columns = [
        "Music Caption 1",
        "Music Caption 2",
        "Video Caption",
        "Mixtral Audio",
        "Mixtral Video",
    ]
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["", *columns])
        for i, row in enumerate(rows):
            writer.writerow([i, *(row.get(c, "") for c in columns)])
    paired = path.with_suffix(".json")
    paired.write_text(json.dumps({y: {"pred": "x", "q": "q"} for y in ytids}))
    return path, paired
