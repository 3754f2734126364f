"""evaluate_captions end to end: Table 2 from stored captions, stored results and their settings."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
import torch
from django.core.management import CommandError, call_command

from analysis.metrics import text as T
from analysis.models import MetricResult
from generation import services as gen
from generation.models import Caption, CaptionKind

pytestmark = pytest.mark.django_db

TEXTS = {
    "music": [
        "a calm piano melody with soft strings",
        "fast drums and loud guitar rock",
        "a gentle jazz song for a quiet night",
    ],
    "msi": [
        "a romantic dinner scene with calm piano",
        "a loud rock video with fast drums",
        "a quiet night scene with gentle jazz",
    ],
    "video": ["people eat dinner", "a band plays", "a street at night"],
}


@pytest.fixture(scope="module")
def wordnet():
    try:
        return T.load_wordnet()
    except T.WordNetMissingError as exc:
        pytest.skip(f"WordNet is not installed here: {exc}")


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory) -> Path:
    from transformers import BertConfig, BertModel

    from analysis.metrics.tiny import tiny_tokenizer

    path = tmp_path_factory.mktemp("tiny_bert")
    tok = tiny_tokenizer(roberta=False)
    torch.manual_seed(0)
    BertModel(
        BertConfig(
            vocab_size=len(tok),
            hidden_size=16,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=32,
            max_position_embeddings=64,
        )
    ).save_pretrained(path)
    tok.save_pretrained(path)
    return path


@pytest.fixture
def captioned(make_clip):
    """Three clips with music, msi and video captions; the third lacks its video caption."""
    clips = [make_clip(f"cap-{i}", captions=False) for i in range(3)]
    for kind, texts in TEXTS.items():
        for clip, text in zip(clips, texts, strict=True):
            if kind == "video" and clip.key == "cap-2":
                continue
            gen.caption_add(clip=clip, kind=kind, text=text, status=Caption.Status.APPROVED)
    return clips


def run(*args: str) -> str:
    out = StringIO()
    call_command("evaluate_captions", *args, stdout=out)
    return out.getvalue()


def test_it_prints_table_2_and_stores_every_metric_with_its_settings(wordnet, tiny_bert, captioned):
    out = run(
        "--reference",
        "music",
        "--candidates",
        "msi,video",
        "--mode",
        "both",
        "--bertscore-model",
        str(tiny_bert),
        "--bertscore-layers",
        "1",
    )
    assert "Table 2, mode mu-llama" in out and "Table 2, mode standard" in out
    assert "clips without a video caption (skipped for video): cap-2" in out

    summary = MetricResult.objects.filter(scope=MetricResult.Scope.CAPTION_KIND)
    assert summary.count() == 2 * 2 * 9  # modes x candidates x metrics
    assert set(summary.values_list("kind", flat=True)) == {"caption"}
    assert summary.filter(study__isnull=True).count() == summary.count()
    msi = summary.get(variant="mu-llama", candidate="msi", metric="rouge_l")
    assert msi.reference == "music" and msi.n == 3 and msi.n_unit == "pairs"
    video = summary.get(variant="standard", candidate="video", metric="bleu")
    assert video.n == 2 and video.settings["clips_skipped"] == ["cap-2"]
    assert video.settings["bleu_signature"].startswith("nrefs:1")
    bs = summary.get(variant="mu-llama", candidate="msi", metric="bertscore")
    assert (
        bs.settings["bertscore_model"] == str(tiny_bert) and "_L1_" in bs.settings["bertscore_hash"]
    )
    assert bs.software["nltk"] and bs.software["python"]

    # the stored numbers are the core's numbers on the same pairs
    expected = T.caption_scores(
        TEXTS["music"],
        TEXTS["msi"],
        mode="mu-llama",
        bertscore_model=str(tiny_bert),
        bertscore_layers=1,
    )
    for metric in ("bleu", "bleu_avg", "meteor", "rouge_l", "bertscore"):
        got = summary.get(variant="mu-llama", candidate="msi", metric=metric).value
        assert got == pytest.approx(expected[metric], abs=1e-9), metric

    items = MetricResult.objects.filter(
        scope=MetricResult.Scope.CLIP_CAPTION_KIND,
        variant="mu-llama",
        candidate="msi",
        metric="rouge_l",
    )
    assert sorted(items.values_list("clip__key", flat=True)) == ["cap-0", "cap-1", "cap-2"]
    item = items.get(clip__key="cap-1")
    assert item.value == pytest.approx(
        T.caption_item_scores(
            [TEXTS["music"][1]], [TEXTS["msi"][1]], mode="mu-llama", bertscore_model=None
        )["rouge_l"][0]
    )
    assert set(item.settings) == {"reference_caption", "candidate_caption"}
    assert len(set(MetricResult.objects.values_list("run", flat=True))) == 1


def test_rejected_captions_are_never_used_and_a_model_can_be_chosen(wordnet, captioned):
    clip = captioned[0]
    Caption.objects.filter(clip=clip, kind="msi").update(status=Caption.Status.REJECTED)
    gen.caption_add(clip=clip, kind="msi", text=TEXTS["music"][0], model_id="musiscene")
    gen.caption_add(clip=captioned[1], kind="msi", text="a rock video", model_id="mu-llama")
    out = run(
        "--reference",
        "music",
        "--candidates",
        "msi,msi@musiscene",
        "--mode",
        "mu-llama",
        "--no-bertscore",
    )
    assert "clips without a msi@musiscene caption (skipped for msi@musiscene): cap-1, cap-2" in out
    chosen = MetricResult.objects.get(
        scope="clip_caption_kind", candidate="msi", metric="rouge_l", clip=clip
    )
    # the rejected caption is gone; the newest unreviewed one (identical to the reference) is used
    assert chosen.value == pytest.approx(1.0)
    assert (
        MetricResult.objects.get(
            scope="caption_kind", candidate="msi@musiscene", metric="rouge_l"
        ).n
        == 1
    )
    assert not MetricResult.objects.filter(metric="bertscore").exists()


def test_study_limits_the_clips_and_owns_the_results(wordnet, small_study):
    out = run(
        "--reference",
        "music",
        "--candidates",
        "msi",
        "--mode",
        "standard",
        "--no-bertscore",
        "--study",
        "small",
    )
    assert "for study small" in out
    rows = MetricResult.objects.filter(scope="caption_kind")
    assert rows.count() == 8 and set(rows.values_list("study__slug", flat=True)) == {"small"}
    trial_clips = set(small_study.forms.get().trials.values_list("clip__key", flat=True))
    assert (
        set(
            MetricResult.objects.filter(scope="clip_caption_kind").values_list(
                "clip__key", flat=True
            )
        )
        == trial_clips
    )


def test_no_store_prints_without_storing(wordnet, captioned):
    out = run(
        "--reference",
        "music",
        "--candidates",
        "msi",
        "--mode",
        "mu-llama",
        "--no-bertscore",
        "--no-store",
    )
    assert "nothing stored" in out
    table = out.split("Table 2, mode mu-llama", 1)[1].splitlines()
    assert (
        table[1].split()[:4] == ["candidate", "n", "bleu1", "bleu2"] and "bertscore" not in table[1]
    )
    assert table[2].split()[:2] == ["msi", "3"]
    assert not MetricResult.objects.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--reference", "lyrics", "--candidates", "msi"], "unknown caption kind 'lyrics'"),
        (["--reference", "music", "--candidates", "msi,poem"], "unknown caption kind 'poem'"),
        (["--reference", "music", "--candidates", "music"], "also a candidate"),
        (
            ["--reference", "music", "--candidates", "fusion"],
            "no clip has both a music and a fusion caption",
        ),
        (["--reference", "music", "--candidates", "msi@nobody"], "models with msi captions: none"),
        (
            ["--reference", "music", "--candidates", "msi", "--study", "nope"],
            "no study with slug 'nope'",
        ),
        (
            [
                "--reference",
                "music",
                "--candidates",
                "msi",
                "--bertscore-model",
                "/nonexistent/bert-model",
                "--bertscore-layers",
                "1",
            ],
            "/nonexistent/bert-model",
        ),
    ],
)
def test_bad_input_is_a_command_error_naming_it(captioned, args, message):
    with pytest.raises(CommandError, match=message.replace("(", r"\(").replace(")", r"\)")):
        run(*args, "--mode", "mu-llama")
    assert not MetricResult.objects.exists()


def test_a_model_without_known_layers_asks_for_them(captioned, tiny_bert):
    with pytest.raises(CommandError, match="num_layers"):
        run("--reference", "music", "--candidates", "msi", "--bertscore-model", str(tiny_bert))


def test_kinds_are_the_models_caption_kinds():
    assert {"video", "music", "fusion", "msi"} <= set(CaptionKind.values)
