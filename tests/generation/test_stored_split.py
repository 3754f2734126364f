"""Issue 14, item 4: one stored 80/20 split, used by the export (trainer), the predictor and the
caption evaluation alike; Table 2 scores MU-LLaMA's and MusiScene's predictions on the held-out
clips, candidates named by model checkpoint, printed in the paper's layout."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command

from generation import services
from generation.models import Clip, SplitMember
from generation.splits import split_clips, split_ensure

pytestmark = pytest.mark.django_db


def _parts(name: str = "vacad") -> dict[str, str]:
    return dict(SplitMember.objects.filter(split__name=name).values_list("clip__key", "part"))


def test_the_split_is_drawn_once_and_only_extended(make_clip) -> None:
    clips = [make_clip(f"c{i:02d}", captions=False) for i in range(10)]
    split_ensure(clips=clips, train_fraction=0.8, seed=3)
    first = _parts()
    assert sorted(first.values()).count("train") == 8 and len(first) == 10
    more = [make_clip(f"d{i:02d}", captions=False) for i in range(5)]
    split_ensure(clips=clips + more, train_fraction=0.8, seed=3)
    after = _parts()
    assert {k: after[k] for k in first} == first  # nobody moves
    assert list(after.values()).count("train") == 12  # round(15 * 0.8)
    with pytest.raises(ValidationError, match="drawn with train fraction 0.8 and seed 3"):
        split_ensure(train_fraction=0.7, seed=3)
    assert [c.key for c in split_clips("vacad", "test")] == sorted(
        k for k, p in after.items() if p == "test"
    )


def test_the_export_keeps_each_clips_part_when_clips_are_added(make_clip, tmp_path: Path) -> None:
    """Before: each export reshuffled its rows, so a clip could be trained on after it had been
    evaluated as held out."""
    for i in range(5):
        make_clip(f"c{i}")
    call_command("export_vacad", str(tmp_path / "a"), stdout=StringIO())
    rows = [json.loads(x) for x in (tmp_path / "a" / "vacad.jsonl").read_text().splitlines()]
    before = {r["id"]: r["split"] for r in rows}
    for i in range(5, 9):
        make_clip(f"c{i}")
    call_command("export_vacad", str(tmp_path / "b"), stdout=StringIO())
    rows = [json.loads(x) for x in (tmp_path / "b" / "vacad.jsonl").read_text().splitlines()]
    after = {r["id"]: r["split"] for r in rows}
    assert {k: after[k] for k in before} == before == {k: _parts()[k] for k in before}
    assert list(after.values()).count("test") == 2  # 9 clips: 7 train, 2 held out
    from modeling.train_musiscene import load_records, split_records

    train, held = split_records(
        load_records(tmp_path / "b" / "vacad.jsonl", answer_field="msi"), eval_fraction=0.2, seed=0
    )
    assert len(held) == 2 and {r.audio.name for r in held} == {
        f"{k}.m4a" for k, p in after.items() if p == "test"
    }


def test_table_2_scores_both_checkpoints_on_the_held_out_clips(make_clip) -> None:
    clips = [make_clip(f"c{i}", captions=False) for i in range(10)]
    for clip in clips:
        services.caption_add(clip=clip, kind="msi", text=f"a calm beach at dawn {clip.key}")
        services.caption_add(
            clip=clip, kind="msi_pred", text="a rock concert", model_id="ckpt/mu-llama"
        )
        services.caption_add(
            clip=clip,
            kind="msi_pred",
            text=f"a calm beach at dawn {clip.key}",
            model_id="ckpt/musiscene",
        )
    split_ensure(clips=clips)
    held = {c.key for c in split_clips("vacad", "test")}
    out = StringIO()
    call_command(
        "evaluate_captions",
        "--reference",
        "msi",
        "--candidates",
        "msi_pred@ckpt/mu-llama,msi_pred@ckpt/musiscene",
        "--mode",
        "standard",
        "--no-bertscore",
        "--split",
        "vacad",
        "--paper-layout",
        stdout=out,
    )
    text = out.getvalue()
    layout = text.split("Table 2 (the paper's layout), mode standard:")[1].splitlines()
    assert layout[1].split() == ["Model", "B-U", "M-R", "R-L", "B-S"]
    mu, ours = layout[2].split(), layout[3].split()
    assert mu[0] == "ckpt/mu-llama" and ours[0] == "ckpt/musiscene"
    assert float(ours[3]) == pytest.approx(1.0) and float(mu[3]) < 0.5  # ROUGE-L
    from analysis.models import MetricResult

    rows = MetricResult.objects.filter(scope="clip_caption_kind", metric="rouge_l")
    assert {r.clip.key for r in rows} == held and len(held) == 2
    assert Clip.objects.count() == 10


def test_the_paper_forms_sample_the_held_out_clips_only(make_clip) -> None:
    from survey.models import Study
    from survey.services import study_add_paper_forms

    clips = [make_clip(f"c{i:02d}", captions=False) for i in range(20)]
    split_ensure(clips=clips)
    held = list(split_clips("vacad", "test"))
    study = Study.objects.create(title="Reproduction", slug="repro")
    forms = study_add_paper_forms(study=study, seed=1, max_videos=len(held), clip_pool=held)
    for form in forms:
        assert {t.clip for t in form.trials.all()} == set(held)  # 4 held-out clips, 4 videos
