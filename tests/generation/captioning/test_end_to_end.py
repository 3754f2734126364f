"""From an AudioSet media folder and the published CSV to a VACAD export that trains MusiScene."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from generation.models import Caption, CaptionItem, CaptionJob

from .conftest import YTIDS, musiscene_csv


def _caption(*, kinds: str, tiny, extra=(), clips=()) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    args = [
        "caption_clips",
        "--kinds",
        kinds,
        "--video-model",
        str(tiny["git"]),
        "--music-checkpoint",
        str(tiny["mu-llama"]),
        "--musiscene-checkpoint",
        str(tiny["musiscene"]),
        "--backend",
        f"local:{tiny['composer']}",
        "--max-new-tokens",
        "6",
        "--batch-size",
        "2",
        *extra,
    ]
    if clips:
        args += ["--clips", *clips]
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_it_goes_from_media_and_csv_to_a_dataset(clips, tiny, tmp_path: Path, alice) -> None:
    from generation import services

    # 1. media: three clips, the fourth segment has no file (reported, not fatal)
    assert len(clips) == 3
    r3, gy, ab = (clips[y] for y in YTIDS[:3])

    # 2. the published captions: a full row, a row with empty cells, a row for a clip not here
    csv_path, ytids = musiscene_csv(
        tmp_path / "dataset.csv",
        [
            {
                "Music Caption 1": "calm piano",
                "Music Caption 2": "calm piano, for a vlog",
                "Video Caption": "a man surfs",
                "Mixtral Audio": "a calm surf song",
                "Mixtral Video": "a surfer at dawn",
            },
            {"Video Caption": "people dance on a beach"},
            {"Music Caption 1": "loud rock"},
        ],
        ytids=[r3.youtube_id, gy.youtube_id, YTIDS[3]],
    )
    out, err = StringIO(), StringIO()
    call_command(
        "import_musiscene_csv", str(csv_path), "--ytids", str(ytids), stdout=out, stderr=err
    )
    assert "6 captions imported" in out.getvalue() and "1 rows without a clip" in out.getvalue()
    assert f"line 4: no clip has the YouTube id {YTIDS[3]}" in err.getvalue()
    msi = Caption.objects.get(clip=r3, kind="msi")
    assert (
        msi.model_id.startswith("Mixtral") and msi.author_note == "imported from dataset.csv line 2"
    )
    assert msi.prompt == (
        "[INST] Video caption: 'a man surfs' \nMusic caption: 'calm piano' \nDescribe the video "
        "from the given video and music information. Return answer only without intro/outro. "
        "[/INST]\n    "
    )
    assert msi.parameters["temperature"] == 0.7 and msi.parameters["line"] == 2
    assert msi.parameters["prompt_set"] == "released"  # the published CSV came from the script
    assert Caption.objects.get(clip=r3, kind="other").parameters["column"] == "Music Caption 2"
    call_command(
        "import_musiscene_csv",
        str(csv_path),
        "--ytids",
        str(ytids),
        stdout=StringIO(),
        stderr=StringIO(),
    )
    assert Caption.objects.count() == 6, "a second import adds nothing"

    # 3. captioning writes only what is missing, fusion/MSI after the video and music captions
    out, _ = _caption(kinds="video,music,fusion,msi,msi_pred", tiny=tiny)
    job = CaptionJob.objects.get()
    assert job.status == CaptionJob.Status.DONE, job.error
    cells = sorted((i.clip.youtube_id, i.kind) for i in job.items.all())
    expected = sorted(
        [(y, "msi_pred") for y in YTIDS[:3]]
        + [(gy.youtube_id, k) for k in ("music", "fusion", "msi")]
        + [(ab.youtube_id, k) for k in ("video", "music", "fusion", "msi")]
    )
    assert cells == expected
    assert set(job.items.values_list("status", flat=True)) == {CaptionItem.Status.DONE}, list(
        job.items.values_list("error", flat=True)
    )
    video = Caption.objects.get(clip=ab, kind="video")
    assert (
        video.model_id == str(tiny["git"])
        and video.parameters["num_frames"] == 3
        and video.prompt == ""
    )
    music = Caption.objects.get(clip=ab, kind="music")
    assert (
        music.model_id == str(tiny["mu-llama"]) and "Describe elements of the music" in music.prompt
    )
    fusion = Caption.objects.get(clip=ab, kind="fusion")
    # the paper's prompt set by default (issue 14, item 3), recorded with the caption
    assert fusion.prompt.startswith(
        f'[INST] Video Caption: "{video.text}", Music Caption: "{music.text}". Describe the music'
    )
    assert fusion.parameters["prompt_set"] == "paper" and job.options["prompt_set"] == "paper"
    composed_msi = Caption.objects.get(clip=ab, kind="msi")
    assert "What type of scene the music is suitable for? [/INST]" in composed_msi.prompt
    assert (
        fusion.parameters["video_caption_id"] == video.pk
        and fusion.parameters["music_caption_id"] == music.pk
    )
    assert fusion.parameters["backend"] == "local" and fusion.parameters["caption_job"] == job.pk
    assert fusion.parameters["max_new_tokens"] == 6 and fusion.parameters["top_k"] == 40
    pred = Caption.objects.get(clip=ab, kind="msi_pred")
    assert pred.model_id == str(tiny["musiscene"]) and "What kinds of video" in pred.prompt
    gy_fusion = Caption.objects.get(
        clip=gy, kind="fusion"
    )  # composed from the imported video caption
    assert gy_fusion.parameters["video_caption_id"] == Caption.objects.get(clip=gy, kind="video").pk
    assert "10/10 (0 failed)" in out

    # a rerun does nothing; a rejected caption is missing again, and only it is rewritten
    _caption(kinds="video,music,fusion,msi,msi_pred", tiny=tiny)
    assert CaptionJob.objects.count() == 2 and CaptionJob.objects.first().items.count() == 0
    services.caption_edit(
        Caption.objects.get(clip=r3, kind="msi"), status=Caption.Status.REJECTED, user=alice
    )
    _caption(kinds="msi", tiny=tiny, clips=[r3.key], extra=("--prompt-set", "released"))
    assert CaptionJob.objects.first().items.get().clip == r3
    assert Caption.objects.filter(clip=r3, kind="msi").count() == 2
    rewritten = Caption.objects.filter(clip=r3, kind="msi").order_by("-id").first()
    assert rewritten.parameters["prompt_set"] == "released"
    assert "Describe the video from the given video and music information" in rewritten.prompt

    # 4. the export: the rejected caption is left out, the split is seeded
    services.caption_add(
        clip=gy, kind="human_msi", text="a beach party at sunset", author_note="annotator x"
    )
    out_dir = tmp_path / "vacad"
    call_command("export_vacad", str(out_dir), "--split", "0.67", "--seed", "0", stdout=StringIO())
    rows = [json.loads(line) for line in (out_dir / "vacad.jsonl").read_text().splitlines()]
    assert [r["ytid"] for r in rows] == sorted(
        (c.youtube_id for c in clips.values()), key=lambda y: clips[y].key
    )
    by_ytid = {r["ytid"]: r for r in rows}
    row = by_ytid[r3.youtube_id]
    assert row["captions"]["msi"] != "a surfer at dawn" and row["captions"]["msi"]
    assert (
        row["captions"]["video"] == "a man surfs" and row["sources"]["video"]["model"] == "SwinBERT"
    )
    assert row["start_s"] == 30.0 and row["end_s"] == 40.0 and (out_dir / row["audio"]).is_file()
    assert by_ytid[gy.youtube_id]["human_msi"] == ["a beach party at sunset"]
    assert sorted(r["split"] for r in rows) == ["test", "train", "train"]
    call_command(
        "export_vacad", str(tmp_path / "again"), "--split", "0.67", "--seed", "0", stdout=StringIO()
    )
    again = [
        json.loads(line) for line in (tmp_path / "again" / "vacad.jsonl").read_text().splitlines()
    ]
    assert [r["split"] for r in again] == [r["split"] for r in rows]

    # ... which Hugging Face datasets loads ...
    datasets = pytest.importorskip("datasets")
    for loaded in (
        datasets.load_dataset(str(out_dir)),
        datasets.load_dataset("json", data_dir=str(out_dir / "data")),
    ):
        assert loaded["train"].num_rows == 2 and loaded["test"].num_rows == 1
        first = loaded["train"][0]
        assert (out_dir / "data" / first["audio"]).resolve().is_file()
        assert set(first["captions"]) == {"video", "music", "fusion", "msi", "msi_pred"}

    # ... and the training command reads, split and all
    from modeling.train_musiscene import load_records, split_records

    records = load_records(out_dir / "vacad.jsonl", answer_field="msi")
    assert len(records) == 3 and all(r.audio.is_file() for r in records)
    train, held = split_records(records, eval_fraction=0.2, seed=0)
    assert (len(train), len(held)) == (2, 1)
    assert {r.answer for r in records} >= {row["captions"]["msi"]}
    split_train = load_records(out_dir / "data" / "train.jsonl", answer_field="video")
    assert all(r.audio.is_file() for r in split_train)


def test_it_names_the_model_a_kind_needs(clips) -> None:
    with pytest.raises(
        CommandError, match="music captions need MU-LLaMA's base adapter checkpoint"
    ):
        call_command("caption_clips", "--kinds", "music", stdout=StringIO())
    with pytest.raises(CommandError, match="unknown caption kinds nonsense"):
        call_command("caption_clips", "--kinds", "video,nonsense", stdout=StringIO())
    with pytest.raises(CommandError, match="local:PATH or http:URL"):
        call_command("caption_clips", "--kinds", "fusion", "--backend", "ftp:x", stdout=StringIO())
    with pytest.raises(CommandError, match="no clips with the keys nope"):
        call_command("caption_clips", "--kinds", "video", "--clips", "nope", stdout=StringIO())
    assert not CaptionJob.objects.exists()
