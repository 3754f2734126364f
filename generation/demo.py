"""Demo content made in Python: synthetic clips, their written captions and sketch tracks."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from pathlib import Path

from generation import democontent, services
from generation.models import Caption, CaptionKind, Clip, Condition
from generation.selectors import clips_missing_tracks

logger = logging.getLogger(__name__)

DEMO_CAPTION_SOURCE = "written for the demo"
#: The demo has no trained MusiScene: its scene text stands in for the model's prediction and
#: says so in the caption's provenance.
DEMO_PREDICTION_SOURCE = "written for the demo, standing in for MusiScene's prediction"


def demo_clips_ensure(
    *,
    n_clips: int = 24,
    duration_s: float = 10.0,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> list[Clip]:
    """The first ``n_clips`` demo scenes as clips with a caption of every kind (made once)."""
    if n_clips > len(democontent.SCENES):
        raise ValueError(f"the demo has {len(democontent.SCENES)} scenes, {n_clips} were asked for")
    clips = []
    for i, scene in enumerate(democontent.SCENES[:n_clips]):
        key = f"demo-{scene.key}"
        clip = Clip.objects.filter(key=key).first()
        if clip is None:
            with tempfile.TemporaryDirectory(prefix="musiscene-demo-") as tmp:
                path = democontent.render_scene_video(
                    scene, Path(tmp) / f"{scene.key}.mp4", duration_s=duration_s, seed=seed + i
                )
                clip = services.clip_import(
                    path=path,
                    key=key,
                    title=scene.description.capitalize(),
                    description=scene.description,
                    source=Clip.Source.DEMO,
                    labels=list(scene.labels),
                )
            if progress:
                progress(f"clip {i + 1}/{n_clips}: {key}")
        texts = {
            CaptionKind.VIDEO: scene.video_caption,
            CaptionKind.MUSIC: scene.music_caption,
            CaptionKind.FUSION: scene.fusion_caption,
            CaptionKind.MSI: scene.msi_caption,
        }
        texts[CaptionKind.MSI_PREDICTED] = scene.msi_caption
        for kind, text in texts.items():
            if not Caption.objects.filter(clip=clip, kind=kind).exists():
                services.caption_add(
                    clip=clip,
                    kind=kind,
                    text=text,
                    author_note=(
                        DEMO_PREDICTION_SOURCE
                        if kind == CaptionKind.MSI_PREDICTED
                        else DEMO_CAPTION_SOURCE
                    ),
                    status=Caption.Status.APPROVED,
                )
        clips.append(clip)
    return clips


def demo_tracks_ensure(
    *,
    clips: list[Clip],
    conditions: list[Condition],
    loudness_target_lufs: float,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> int:
    """A sketch track for every clip x condition that has none yet; returns how many were made."""
    todo = clips_missing_tracks(
        clips=Clip.objects.filter(pk__in=[c.pk for c in clips]), conditions=conditions
    )
    for n, (clip, condition) in enumerate(todo, start=1):
        services.track_generate_sketch(
            clip=clip, condition=condition, loudness_target_lufs=loudness_target_lufs, seed=seed
        )
        if progress:
            progress(f"track {n}/{len(todo)}: {clip.key} / {condition.name}")
    return len(todo)


#: The file ``demo_clips_export`` writes beside the clips, in ``import_captions``'s layout.
DEMO_CAPTIONS_FILE = "captions.csv"


def demo_clips_export(
    folder: Path,
    *,
    n_clips: int = 16,
    duration_s: float = 10.0,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> list[Path]:
    """Practice material: the first ``n_clips`` demo scenes as MP4 files (H.264 + AAC, named
    by scene, e.g. ``sunset-sea.mp4``) in ``folder``, and ``captions.csv`` with their video,
    music and fusion captions and a stand-in ``msi_pred`` caption (the scene's written MSI,
    marked as standing in for MusiScene's prediction). Files already there are kept."""
    from generation.caption_csv import demo_captions_csv

    if not 1 <= n_clips <= len(democontent.SCENES):
        raise ValueError(f"the demo has {len(democontent.SCENES)} scenes, {n_clips} were asked for")
    folder.mkdir(parents=True, exist_ok=True)
    paths, rows = [], []
    for i, scene in enumerate(democontent.SCENES[:n_clips]):
        path = folder / f"{scene.key}.mp4"
        if not path.exists():
            democontent.render_scene_video(scene, path, duration_s=duration_s, seed=seed + i)
        paths.append(path)
        if progress:
            progress(f"clip {i + 1}/{n_clips}: {path}")
        written = {"provenance": DEMO_CAPTION_SOURCE}
        rows += [
            {"clip": scene.key, "kind": "video", "text": scene.video_caption, **written},
            {"clip": scene.key, "kind": "music", "text": scene.music_caption, **written},
            {"clip": scene.key, "kind": "fusion", "text": scene.fusion_caption, **written},
            {
                "clip": scene.key,
                "kind": CaptionKind.MSI_PREDICTED.value,
                "text": scene.msi_caption,
                "provenance": DEMO_PREDICTION_SOURCE,
            },
        ]
    (folder / DEMO_CAPTIONS_FILE).write_text(demo_captions_csv(rows), encoding="utf-8")
    return paths
