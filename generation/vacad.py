"""VACAD in and out: import the published MusiScene captions, export clips + captions for training.

Import (:func:`musiscene_csv_import`): the published ``dataset.csv`` (``Music Caption 1, Music
Caption 2, Video Caption, Mixtral Audio, Mixtral Video``) with its YouTube ids from the paired
JSON, parsed by :func:`modeling.datasets.parse_musiscene_csv` (every malformed line reported with
its number, nothing imported then). Each row's captions go to the clip of that YouTube id, with
the paper's models and, for fusion and MSI, the exact prompt rebuilt from the row's own video and
music captions. Empty cells make no caption; a caption already there (same clip, kind and text)
is not made twice.

Export (:func:`vacad_export`): ``OUT/vacad.jsonl`` (every row, with its split), the audio in
``OUT/audio/`` and a Hugging Face ``datasets`` folder: ``OUT/data/{train,test}.jsonl`` and a
dataset card ``OUT/README.md`` declaring the splits and the features, so that
``load_dataset("OUT")`` or ``load_dataset("json", data_dir="OUT/data")`` loads it. Audio paths
are relative to the file that names them (as ``python -m modeling.train_musiscene`` reads them).
A row holds one caption of each kind (approved, else unreviewed, never rejected: the caption that
would feed generation), the human MSI descriptions as a list, and the provenance of each caption.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db import transaction
from django.utils import timezone

from generation.models import Caption, CaptionKind, CaptionRevision, Clip

logger = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------------
# Import of the published MusiScene CSV
# --------------------------------------------------------------------------------------------

#: CSV column -> (row field, caption kind, the model the paper used)
CSV_CAPTIONS: tuple[tuple[str, str, str, str], ...] = (
    ("Video Caption", "video_caption", CaptionKind.VIDEO.value, "SwinBERT"),
    ("Music Caption 1", "music_caption", CaptionKind.MUSIC.value, "MU-LLaMA"),
    (
        "Mixtral Audio",
        "fusion_caption",
        CaptionKind.FUSION.value,
        "Mixtral-8x7B-Instruct-v0.1-GPTQ",
    ),
    ("Mixtral Video", "msi_caption", CaptionKind.MSI.value, "Mixtral-8x7B-Instruct-v0.1-GPTQ"),
    ("Music Caption 2", "music_context_caption", CaptionKind.OTHER.value, "MU-LLaMA"),
)
MUSIC_CONTEXT_QUESTION = (
    "Describe elements of the music, such as its mood, rhythm, and genre. What is the context? "
    "What type of videos are suitable with this music?"
)
MIXTRAL_SAMPLING = {
    "temperature": 0.7,
    "top_p": 0.95,
    "top_k": 40,
    "max_new_tokens": 512,
    "do_sample": True,
}
MU_LLAMA_SAMPLING = {"temperature": 0.6, "top_p": 0.8, "max_new_tokens": 512}


@dataclass
class ImportReport:
    rows: int = 0
    created: int = 0
    existing: int = 0
    empty_cells: int = 0
    problems: list[str] = field(
        default_factory=list
    )  # "line N: ..." for rows that matched no single clip


def _provenance(column: str, row, *, source: str) -> tuple[str, dict[str, Any]]:
    """The prompt and parameters of a published caption, as far as the paper's scripts tell them."""
    from modeling.captioners.composer import ComposedKind, apply_template, build_prompt
    from modeling.musiscene.prompts import CAPTION_QUESTION, format_prompt

    base = {"source": source, "line": row.line, "column": column}
    if column in ("Mixtral Audio", "Mixtral Video"):
        kind: ComposedKind = "fusion" if column == "Mixtral Audio" else "msi"
        prompt = ""
        if row.video_caption and row.music_caption:
            # the published CSV was made by the authors' released script
            prompt = apply_template(
                build_prompt(kind, row.video_caption, row.music_caption, prompt_set="released")
            )
        return prompt, {**base, **MIXTRAL_SAMPLING, "prompt_set": "released"}
    if column == "Music Caption 1":
        return format_prompt(CAPTION_QUESTION, mode="compat"), {
            **base,
            "question": CAPTION_QUESTION,
            **MU_LLAMA_SAMPLING,
        }
    if column == "Music Caption 2":
        return format_prompt(MUSIC_CONTEXT_QUESTION, mode="compat"), {
            **base,
            "question": MUSIC_CONTEXT_QUESTION,
            **MU_LLAMA_SAMPLING,
        }
    return "", base


def musiscene_csv_import(
    *, csv_path: Path | str, ytids: Path | str | bytes | list[str], user=None
) -> ImportReport:
    """Import the captions of a MusiScene CSV for the clips matched by YouTube id.

    Raises ``modeling.datasets.MusiSceneCSVError`` (a ``ValueError`` listing every malformed line)
    before anything is stored. Rows whose YouTube id matches no clip, or several, are reported in
    ``problems`` and skipped; the rest are imported in one transaction.
    """
    from modeling.datasets import parse_musiscene_csv

    rows = parse_musiscene_csv(csv_path, ytids)
    source = Path(csv_path).name
    report = ImportReport(rows=len(rows))
    clips: dict[str, list[Clip]] = {}
    for clip in Clip.objects.filter(youtube_id__in=[r.ytid for r in rows]).order_by("key"):
        clips.setdefault(clip.youtube_id, []).append(clip)
    with transaction.atomic():
        for row in rows:
            matched = clips.get(row.ytid, [])
            if len(matched) != 1:
                report.problems.append(
                    (
                        f"line {row.line}: no clip has the YouTube id {row.ytid} (import its media "
                        "first)"
                    )
                    if not matched
                    else f"line {row.line}: {len(matched)} clips have the YouTube id {row.ytid} "
                    f"({', '.join(c.key for c in matched)}); its captions were not imported"
                )
                continue
            clip = matched[0]
            for column, attr, kind, model in CSV_CAPTIONS:
                text = getattr(row, attr)
                if not text:
                    report.empty_cells += 1
                    continue
                text = text.strip()
                if Caption.objects.filter(clip=clip, kind=kind, text=text).exists():
                    report.existing += 1
                    continue
                prompt, parameters = _provenance(column, row, source=source)
                Caption.objects.create(
                    clip=clip,
                    kind=kind,
                    text=text,
                    model_id=model,
                    prompt=prompt,
                    parameters=parameters,
                    author=user if getattr(user, "pk", None) else None,
                    author_note=f"imported from {source[:120]} line {row.line}",
                )
                report.created += 1
    logger.info(
        "imported %d captions from %s (%d there already, %d rows unmatched)",
        report.created,
        source,
        report.existing,
        len(report.problems),
    )
    return report


# --------------------------------------------------------------------------------------------
# Export
# --------------------------------------------------------------------------------------------

#: Kinds with one caption per clip in a row's ``captions``; human MSI is a list of its own.
EXPORT_KINDS: tuple[str, ...] = (
    CaptionKind.VIDEO.value,
    CaptionKind.MUSIC.value,
    CaptionKind.FUSION.value,
    CaptionKind.MSI.value,
    CaptionKind.MSI_PREDICTED.value,
)
SPLITS = ("train", "test")
#: The source of a missing caption: every field typed, so that a split without any caption of a
#: kind still loads with the same features as the others.
NO_SOURCE: dict[str, Any] = {"id": 0, "model": "", "status": "", "edited": False}


@dataclass
class ExportReport:
    out_dir: Path
    rows: int = 0
    splits: dict[str, int] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)  # clips left out, with the reason


def _usable(captions: list[Caption]) -> Caption | None:
    """What ``selectors.caption_for`` picks: the newest approved, else the newest unreviewed."""
    ok = [c for c in captions if c.status != Caption.Status.REJECTED]
    ok.sort(key=lambda c: (c.created_at, c.pk), reverse=True)
    return next((c for c in ok if c.status == Caption.Status.APPROVED), ok[0] if ok else None)


def _features_card(splits: dict[str, int], *, split: float, seed: int, name: str = "") -> str:
    """A dataset card whose YAML declares the data files and the features (typed even where a
    split has no caption of some kind)."""
    lines = ["---", "configs:", "- config_name: default", "  data_files:"]
    for name in SPLITS:
        if splits.get(name):
            lines += [f"  - split: {name}", f"    path: data/{name}.jsonl"]
    lines += ["dataset_info:", "  features:"]
    for name in ("id", "ytid"):
        lines += [f"  - name: {name}", "    dtype: string"]
    for name in ("start_s", "end_s"):
        lines += [f"  - name: {name}", "    dtype: float64"]
    lines += [
        "  - name: audio",
        "    dtype: string",
        "  - name: split",
        "    dtype: string",
        "  - name: captions",
        "    struct:",
    ]
    lines += [f"    - name: {k}\n      dtype: string" for k in EXPORT_KINDS]
    lines += ["  - name: human_msi", "    list: string", "  - name: sources", "    struct:"]
    for k in EXPORT_KINDS:
        lines += [
            f"    - name: {k}",
            "      struct:",
            "      - name: id",
            "        dtype: int64",
            "      - name: model",
            "        dtype: string",
            "      - name: status",
            "        dtype: string",
            "      - name: edited",
            "        dtype: bool",
        ]
    lines += [
        "---",
        "",
        "# VACAD export (MusiScene Studio)",
        "",
        f"Clips split {split:g} / {1 - split:g} into train / test with seed {seed} (the stored "
        f"split {name!r}: the trainer, the predictor and the evaluation use the same one); "
        + ", ".join(f"{n} {name}" for name, n in splits.items())
        + ".",
        "",
        "Audio paths are relative to the file that names them. Missing captions are empty strings; "
        "rejected captions are never exported.",
        "",
    ]
    return "\n".join(lines)


def vacad_export(
    *,
    out_dir: Path | str,
    split: float = 0.8,
    seed: int = 0,
    clips=None,
    split_name: str = "vacad",
) -> ExportReport:
    """Write the VACAD dataset of ``clips`` (default: every clip with audio and a usable caption).

    Each row's part comes from the stored split ``split_name`` (:mod:`generation.splits`), drawn
    with train fraction ``split`` and ``seed`` the first time and extended to new clips after,
    so that the trainer, the predictor and the evaluation see the same held-out clips."""
    from generation.splits import split_ensure, split_parts

    if not 0 < split <= 1:
        raise ValueError(f"--split is the train fraction, in (0, 1]; got {split}")
    out = Path(out_dir)
    (out / "audio").mkdir(parents=True, exist_ok=True)
    (out / "data").mkdir(parents=True, exist_ok=True)
    report = ExportReport(out_dir=out)
    queryset = (clips if clips is not None else Clip.objects.all()).order_by("key")
    by_clip: dict[int, list[Caption]] = {}
    for caption in Caption.objects.filter(clip__in=queryset).exclude(
        status=Caption.Status.REJECTED
    ):
        by_clip.setdefault(caption.clip_id, []).append(caption)
    edited = {
        caption_id
        for caption_id, old, new in CaptionRevision.objects.filter(
            caption__clip__in=queryset
        ).values_list("caption_id", "old_text", "new_text")
        if old != new
    }
    rows: list[dict[str, Any]] = []
    for clip in queryset:
        captions = by_clip.get(clip.pk, [])
        if not captions:
            report.skipped.append(f"{clip.key}: no caption (approved or unreviewed)")
            continue
        if not clip.original_audio:
            report.skipped.append(f"{clip.key}: no audio track")
            continue
        if not clip.original_audio.storage.exists(clip.original_audio.name):
            report.skipped.append(f"{clip.key}: its audio is missing from the media storage")
            continue
        name = f"{clip.key}{Path(clip.original_audio.name).suffix or '.m4a'}"
        target = out / "audio" / name
        if not (target.is_file() and target.stat().st_size == clip.original_audio.size):
            with clip.original_audio.open("rb") as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)
        chosen = {k: _usable([c for c in captions if c.kind == k]) for k in EXPORT_KINDS}
        human = sorted(
            (c for c in captions if c.kind == CaptionKind.HUMAN_MSI),
            key=lambda c: (c.created_at, c.pk),
        )
        rows.append(
            {
                "id": clip.key,
                "ytid": clip.youtube_id,
                "start_s": clip.start_s,
                "end_s": clip.end_s,
                "audio": f"audio/{name}",
                "captions": {k: (c.text if c else "") for k, c in chosen.items()},
                "human_msi": [c.text for c in human],
                "sources": {
                    k: (
                        {
                            "id": c.pk,
                            "model": c.model_id or c.provenance,
                            "status": c.status,
                            "edited": c.pk in edited,
                        }
                        if c
                        else dict(NO_SOURCE)
                    )
                    for k, c in chosen.items()
                },
            }
        )
    stored = split_ensure(
        name=split_name,
        clips=queryset.filter(key__in=[r["id"] for r in rows]),
        train_fraction=split,
        seed=seed,
    )
    parts = split_parts(stored)
    keys = dict(queryset.values_list("key", "pk"))
    for row in rows:
        row["split"] = parts[keys[row["id"]]]
    report.rows = len(rows)
    report.splits = {name: sum(r["split"] == name for r in rows) for name in SPLITS}
    with open(out / "vacad.jsonl", "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    for name in SPLITS:
        path = out / "data" / f"{name}.jsonl"
        path.unlink(missing_ok=True)
        if report.splits[name]:
            with open(path, "w", encoding="utf-8") as f:
                for row in rows:
                    if row["split"] == name:
                        f.write(
                            json.dumps({**row, "audio": f"../{row['audio']}"}, ensure_ascii=False)
                            + "\n"
                        )
    (out / "README.md").write_text(
        _features_card(report.splits, split=split, seed=seed, name=split_name), encoding="utf-8"
    )
    (out / "export.json").write_text(
        json.dumps(
            {
                "created_at": timezone.now().isoformat(),
                "split": split,
                "seed": seed,
                "split_name": split_name,
                "rows": report.rows,
                "splits": report.splits,
                "skipped": report.skipped,
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    logger.info("exported %d clips to %s (%s)", report.rows, out, report.splits)
    return report
