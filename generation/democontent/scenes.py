"""The demo's scenes, as data (``scenes.json``): each with a written description and captions of
every kind the paper uses. Captions follow the paper's kinds: a SwinBERT-style video caption
(what is seen), a MU-LLaMA-style music caption (mood, rhythm, genre, instruments), a Mixtral
fusion caption (the music, described from both) and a Mixtral MSI caption (the scene the music
suits)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Scene:
    key: str
    description: str
    video_caption: str
    music_caption: str
    fusion_caption: str
    msi_caption: str
    labels: tuple[str, ...]


def _load() -> tuple[Scene, ...]:
    rows = json.loads((Path(__file__).with_name("scenes.json")).read_text(encoding="utf-8"))
    return tuple(Scene(**{**row, "labels": tuple(row["labels"])}) for row in rows)


SCENES: tuple[Scene, ...] = _load()


def scene_by_key(key: str) -> Scene:
    for scene in SCENES:
        if scene.key == key:
            return scene
    raise KeyError(f"no demo scene {key!r}; known: {', '.join(s.key for s in SCENES)}")
