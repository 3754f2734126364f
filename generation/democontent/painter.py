"""The demo's painter: a 10 s moving picture of a scene (a sky gradient plus layers) with a quiet
ambient "original audio" track that suits it, written as a web-ready H.264 + AAC MP4.
Deterministic: the same scene and seed give the same pixels and samples."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from generation.democontent.ambience import AMBIENCE_SAMPLE_RATE, ambience
from generation.democontent.canvas import Canvas, Layer, rgb
from generation.democontent.nature import (
    Aurora,
    Birds,
    Bubbles,
    Clouds,
    Foam,
    Ground,
    Leaves,
    Lightning,
    Meadow,
    Moon,
    Mountains,
    Rain,
    Snow,
    Stars,
    Sun,
    Trees,
    Water,
)
from generation.democontent.places import (
    Candles,
    Confetti,
    Court,
    Crowd,
    Fire,
    Fireworks,
    Lanterns,
    Neon,
    Road,
    Runner,
    Skyline,
    Spotlights,
    Traffic,
    Warp,
    Wheel,
    WindowDrops,
)
from generation.democontent.scenes import Scene
from generation.media import write_video
from modeling.sketch import caption_words, stable_seed


@dataclass(frozen=True)
class _Look:
    sky: tuple[str, str]
    layers: tuple[tuple[type[Layer], dict], ...]
    ambience: str


_LOOKS: dict[str, _Look] = {
    "sunset-sea": _Look(
        ("#3a2a6a", "#ff9a50"),
        (
            (
                Sun,
                dict(colour="#ffb347", start=(0.5, 0.42), end=(0.5, 0.58), radius=16, horizon=0.6),
            ),
            (
                Water,
                dict(
                    top=0.6,
                    colour="#c46a4a",
                    deep="#2a2050",
                    ripple=0.05,
                    speed=0.6,
                    light_x=0.5,
                    light="#ffd080",
                ),
            ),
            (Clouds, dict(n=4, speed=4, colour="#ffb0a0", alpha=0.4, top=0.1, bottom=0.3)),
        ),
        "sea",
    ),
    "city-night-traffic": _Look(
        ("#05060f", "#241a3a"),
        (
            (Stars, dict(n=40, bottom=0.3)),
            (Skyline, dict(base=0.78, height=(0.25, 0.6))),
            (Traffic, dict(y=0.86, n=16)),
        ),
        "city",
    ),
    "forest-rain": _Look(
        ("#3a4048", "#6a7480"),
        ((Trees, dict(base=0.92, n=18)), (Rain, dict(n=260, speed=300, alpha=0.3))),
        "rain",
    ),
    "fireworks": _Look(
        ("#02030a", "#0c1430"),
        (
            (Stars, dict(n=50, bottom=0.5, twinkle=0.3)),
            (Fireworks, dict(bursts=7)),
            (Skyline, dict(base=0.8, height=(0.06, 0.16), lit=0.5, colour="#05050a")),
            (Water, dict(top=0.8, colour="#101830", deep="#02040c", ripple=0.03, speed=0.8)),
        ),
        "fireworks",
    ),
    "runner-track": _Look(("#6aa8e8", "#cfe6ff"), ((Runner, dict(y=0.8, speed=60)),), "crowd"),
    "snow-village": _Look(
        ("#0e1a30", "#3a4a6a"),
        (
            (Ground, dict(top=0.82, colour="#e8eef8", far="#c8d4e8")),
            (
                Skyline,
                dict(
                    base=0.83,
                    height=(0.12, 0.2),
                    colour="#1a1a28",
                    window="#ffc060",
                    lit=0.5,
                    houses=True,
                ),
            ),
            (Snow, dict(n=300)),
        ),
        "wind",
    ),
    "desert-stars": _Look(
        ("#02040c", "#1a1838"),
        (
            (Stars, dict(n=220, bottom=0.75, twinkle=0.6)),
            (Moon, dict(x=0.78, y=0.22)),
            (Ground, dict(top=0.76, colour="#3a2a1a", far="#1a1410")),
        ),
        "night",
    ),
    "campfire": _Look(
        ("#020204", "#0c0a10"),
        (
            (Stars, dict(n=60, bottom=0.5)),
            (Trees, dict(base=0.8, n=12, height=(0.3, 0.55), colour="#050806", far="#0a0e0c")),
            (Ground, dict(top=0.8, colour="#140c08", far="#0a0806")),
            (Fire, dict(x=0.5, base=0.84, size=1.0)),
        ),
        "fire",
    ),
    "thunderstorm": _Look(
        ("#1a1e26", "#3a4050"),
        (
            (Clouds, dict(n=8, speed=14, colour="#0a0c10", alpha=0.8, top=0.0, bottom=0.3)),
            (Ground, dict(top=0.8, colour="#14180e", far="#242a1c")),
            (Lightning, dict(strikes=3)),
            (Rain, dict(n=300, speed=380, slant=0.35, alpha=0.3)),
        ),
        "storm",
    ),
    "autumn-park": _Look(
        ("#88b0d8", "#e8d8b0"),
        (
            (Trees, dict(base=0.85, n=10, height=(0.45, 0.7), colour="#8a3a10", far="#b0602a")),
            (Ground, dict(top=0.85, colour="#6a4a20", far="#8a6a30")),
            (Leaves, dict(n=80)),
        ),
        "wind",
    ),
    "underwater": _Look(("#1c6aa0", "#031830"), ((Bubbles, dict(n=45)),), "underwater"),
    "northern-lights": _Look(
        ("#020614", "#0a1a2a"),
        (
            (Stars, dict(n=120, bottom=0.65)),
            (Aurora, dict(bottom=0.65)),
            (Mountains, dict(ridges=("#0e1626",), top=0.55)),
            (Ground, dict(top=0.78, colour="#a8b8d0", far="#6a7a98")),
        ),
        "wind",
    ),
    "dance-party": _Look(
        ("#06020c", "#140828"),
        ((Spotlights, dict(n=4)), (Crowd, dict(top=0.78, n=40, bob=3.0, rate=124 / 60))),
        "party",
    ),
    "highway-dusk": _Look(
        ("#2a1a5a", "#ff7aa0"),
        (
            (Sun, dict(colour="#ffd06a", start=(0.5, 0.5), end=(0.5, 0.53), radius=18, glow=1.0)),
            (Road, dict(horizon=0.55, speed=1.4)),
        ),
        "car",
    ),
    "birds-sunrise": _Look(
        ("#6a8ad8", "#ffb080"),
        (
            (Sun, dict(colour="#fff0a0", start=(0.3, 0.62), end=(0.3, 0.5), radius=12)),
            (Mountains, dict(ridges=("#6a9a6a", "#4a7a4a", "#2e5a32"), top=0.55)),
            (Birds, dict(n=9, speed=40)),
        ),
        "birds",
    ),
    "mountain-clouds": _Look(
        ("#4a80c8", "#cfe0f4"),
        (
            (Mountains, dict(top=0.35, snow=True)),
            (Clouds, dict(n=7, speed=10, top=0.25, bottom=0.55)),
        ),
        "wind",
    ),
    "spring-meadow": _Look(
        ("#58a8f0", "#d8f0ff"),
        (
            (
                Sun,
                dict(colour="#fff6c0", start=(0.85, 0.15), end=(0.84, 0.14), radius=10, glow=1.0),
            ),
            (Clouds, dict(n=4, speed=6, top=0.1, bottom=0.3)),
            (Meadow, dict(top=0.6, butterflies=10)),
        ),
        "birds",
    ),
    "space-journey": _Look(("#000004", "#04020c"), ((Warp, dict(n=280, speed=0.45)),), "space"),
    "candlelit-dinner": _Look(
        ("#0a0404", "#1a0c08"), ((Candles, dict(xs=(0.38, 0.62), base=0.62)),), "room"
    ),
    "basketball-game": _Look(("#1a1c24", "#262a36"), ((Court, dict(floor=0.6)),), "crowd"),
    "rainy-window": _Look(
        ("#0a0c16", "#1a1c2a"),
        (
            (WindowDrops, dict(n=40, bokeh=28)),
            (Rain, dict(n=80, speed=120, length=6, slant=0.05, alpha=0.15)),
        ),
        "rain",
    ),
    "carnival-wheel": _Look(
        ("#06081a", "#1a1440"),
        (
            (Stars, dict(n=50, bottom=0.4)),
            (Wheel, dict()),
            (Ground, dict(top=0.9, colour="#141018")),
        ),
        "carnival",
    ),
    "neon-street": _Look(
        ("#07040f", "#120a20"),
        (
            (
                Skyline,
                dict(base=0.8, height=(0.4, 0.75), colour="#0a0812", window="#60e0ff", lit=0.15),
            ),
            (Ground, dict(top=0.8, colour="#1a1424", far="#0c0a14")),
            (Neon, dict(signs=6)),
            (Rain, dict(n=150, speed=280, alpha=0.2, colour="#a080c0")),
        ),
        "rain",
    ),
    "lantern-festival": _Look(
        ("#050818", "#2a1838"),
        (
            (Stars, dict(n=60, bottom=0.6)),
            (Lanterns, dict(n=34)),
            (
                Skyline,
                dict(base=0.92, height=(0.08, 0.14), houses=True, colour="#08060c", lit=0.3),
            ),
        ),
        "night",
    ),
    "waves-rocks": _Look(
        ("#5a6878", "#a8b4c0"),
        (
            (
                Water,
                dict(top=0.5, colour="#40586a", deep="#1a2a38", ripple=0.1, speed=2.2, rough=1.8),
            ),
            (Foam, dict(period=3.5, rocks_y=0.74)),
        ),
        "surf",
    ),
    "confetti-celebration": _Look(
        ("#2a0a3a", "#5a1a5a"),
        (
            (Spotlights, dict(n=3, strobe=False)),
            (Confetti, dict(n=260)),
            (Crowd, dict(top=0.84, n=30, bob=2.0, rate=128 / 60)),
        ),
        "party",
    ),
}


def render_scene_video(
    scene: Scene,
    out_path,
    *,
    duration_s: float = 10.0,
    fps: int = 24,
    size: tuple[int, int] = (320, 180),
    seed: int = 0,
    crf: int = 23,
    preset: str = "ultrafast",
) -> Path:
    """Draw ``scene`` for ``duration_s`` seconds at ``fps`` and ``size`` (width, height, both
    even) and write it as a web-ready H.264 MP4 with faststart, with a quiet ambient "original
    audio" track (AAC, 48 kHz mono) that suits the scene: waves for the sea, rain for a rainy
    forest, booms in time with the fireworks, and so on."""
    width, height = size
    if width % 2 or height % 2:
        raise ValueError(f"size must be even for H.264 yuv420p, got {width}x{height}")
    if duration_s <= 0 or fps <= 0:
        raise ValueError("duration_s and fps must be positive")
    look = _LOOKS.get(scene.key) or _look_for_description(scene)
    rng = np.random.default_rng(stable_seed("video", scene.key, seed))
    canvas = Canvas(width, height, duration_s, rng)
    layers = [cls(canvas, **params) for cls, params in look.layers]
    background = _sky(canvas, look.sky)
    for layer in layers:
        layer.paint(background)
    n_frames = int(round(duration_s * fps))

    def frames() -> Iterator[np.ndarray]:
        for i in range(n_frames):
            t = i / fps
            img = background.copy()
            for layer in layers:
                layer.draw(img, t)
            yield (np.clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)

    audio = ambience(look.ambience, layers, duration_s, AMBIENCE_SAMPLE_RATE, rng)
    return write_video(
        frames(),
        fps,
        out_path,
        audio=audio,
        sample_rate=AMBIENCE_SAMPLE_RATE,
        crf=crf,
        preset=preset,
    )


def _sky(c: Canvas, colours: tuple[str, str]) -> np.ndarray:
    k = np.linspace(0.0, 1.0, c.h, dtype=np.float32)[:, None, None]
    top, bottom = rgb(colours[0]), rgb(colours[1])
    return np.broadcast_to(top * (1 - k) + bottom * k, (c.h, c.w, 3)).copy()


def _look_for_description(scene: Scene) -> _Look:
    """A look for a scene that is not in :data:`SCENES`, picked from its description's words."""
    words = set(caption_words(scene.description + " " + scene.video_caption))
    for key, keywords in (
        ("forest-rain", {"rain", "rainy", "storm"}),
        ("snow-village", {"snow", "winter", "snowy"}),
        ("fireworks", {"fireworks", "celebration"}),
        ("city-night-traffic", {"city", "traffic", "street", "cars"}),
        ("sunset-sea", {"sea", "ocean", "sunset", "beach", "lake"}),
        ("campfire", {"fire", "campfire", "flames"}),
        ("space-journey", {"space", "stars", "galaxy"}),
        ("dance-party", {"party", "dance", "dancing", "club"}),
    ):
        if words & keywords:
            return _LOOKS[key]
    return _LOOKS["mountain-clouds"]
