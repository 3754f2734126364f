"""Training really learns, checkpoints hold only trainable keys, resume continues the schedule."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from modeling.audio import AudioDecodeError
from modeling.hub import ModelNotFoundError
from modeling.musiscene.features import MertEncoder, encode_files
from modeling.musiscene.generate import SamplingConfig, generate_answers
from modeling.musiscene.model import WEIGHTS_NAME, load_musiscene, load_tokenizer
from modeling.musiscene.prompts import SCENE_QUESTION
from modeling.train_musiscene import TrainConfig, load_records, lr_factor, split_records, train


def _config(tone_set: Path, tiny_dir: Path, out: Path, **overrides: object) -> TrainConfig:
    base = TrainConfig(
        data=tone_set,
        out_dir=out,
        llama=str(tiny_dir / "llama"),
        mert=str(tiny_dir / "mert"),
        epochs=30,
        batch_size=8,
        grad_accum=1,
        lr=1e-2,
        warmup_epochs=3,
        max_grad_norm=1.0,
        precision="fp32",
        progress=False,
        cpu=True,
        feature_cache=tone_set.parent / "features",
    )
    return replace(base, **overrides)


def test_it_learns_each_clips_own_answer(
    tone_set: Path, tone_answers: tuple[str, ...], tiny_dir: Path, tmp_path: Path
) -> None:
    # 300 optimizer steps over 8 tones; the adapter and MU-LLaMA's LoRA/bias/norm set train together
    # (a random 2-layer LLaMA is too weak for the adapter alone to spell out 8 answers this fast)
    result = train(_config(tone_set, tiny_dir, tmp_path / "run", trainable="both"))
    assert result.history[-1]["step"] == 300
    assert result.history[-1]["train_loss"] < 0.2 * result.history[0]["train_loss"]
    model = load_musiscene(result.checkpoint)
    feats = encode_files(
        [tone_set.parent / f"tone{i}.wav" for i in range(8)],
        encoder=MertEncoder(str(tiny_dir / "mert")),
    )
    answers = generate_answers(
        model,
        load_tokenizer(str(tiny_dir / "llama")),
        features=feats,
        questions=[SCENE_QUESTION] * 8,
        sampling=SamplingConfig(temperature=0.0, max_new_tokens=16),
    )
    assert answers == list(tone_answers)
    lines = [
        json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    ]
    assert [m["epoch"] for m in lines] == list(range(1, 31))
    assert all(m["eval_loss"] is not None for m in lines)


def test_it_trains_the_adapter_alone_and_checkpoints_only_it(
    tone_set: Path, tiny_dir: Path, tmp_path: Path
) -> None:
    result = train(_config(tone_set, tiny_dir, tmp_path / "run", epochs=6))
    assert result.history[-1]["eval_loss"] < 0.8 * result.history[0]["eval_loss"]
    stored = load_file(str(result.checkpoint / WEIGHTS_NAME))
    assert all(k.startswith("adapter.") or k.endswith(".gate") for k in stored)
    assert sum(k.endswith(".gate") for k in stored) == 2
    model = load_musiscene(result.checkpoint)
    assert set(stored) == set(model.trainable_names())
    # the round trip is exact, and the frozen LLaMA is not in the checkpoint
    assert all(torch.equal(stored[k], v) for k, v in model.trainable_state_dict().items())
    assert not any("embed_tokens" in k or "q_proj" in k for k in stored)
    assert any(float(v.abs().max()) > 0 for k, v in stored.items() if k.endswith(".gate"))


def test_it_resumes_where_it_stopped(tone_set: Path, tiny_dir: Path, tmp_path: Path) -> None:
    kwargs = dict(epochs=3, batch_size=4, grad_accum=2, warmup_epochs=1, lr=3e-3)
    whole = train(_config(tone_set, tiny_dir, tmp_path / "whole", **kwargs))
    first = train(_config(tone_set, tiny_dir, tmp_path / "split", stop_after_epochs=2, **kwargs))
    assert first.epochs_done == 2
    rest = train(_config(tone_set, tiny_dir, tmp_path / "split", resume=True, **kwargs))
    assert [h["epoch"] for h in rest.history] == [3]
    assert rest.history[0]["step"] == whole.history[-1]["step"] == 30  # 80 clips / 4 / 2 per epoch
    assert rest.history[0]["lr"] == pytest.approx(whole.history[-1]["lr"])
    assert rest.history[0]["train_loss"] == pytest.approx(whole.history[-1]["train_loss"], rel=1e-4)
    a = load_file(str(whole.checkpoint / WEIGHTS_NAME))
    b = load_file(str(rest.checkpoint / WEIGHTS_NAME))
    assert all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)


def test_it_gives_clear_errors_for_corrupt_audio_and_missing_models(
    tone_set: Path, tiny_dir: Path, tmp_path: Path
) -> None:
    (tmp_path / "bad.wav").write_bytes(b"\x00\x01garbage" * 10)
    (tmp_path / "bad.jsonl").write_text(
        json.dumps({"audio": "bad.wav", "question": "q", "answer": "a"}) + "\n"
    )
    with pytest.raises(AudioDecodeError, match="bad.wav"):
        train(_config(tmp_path / "bad.jsonl", tiny_dir, tmp_path / "out", feature_cache=None))
    with pytest.raises(ModelNotFoundError, match="LLaMA"):
        train(_config(tone_set, tiny_dir, tmp_path / "out2", llama=str(tmp_path / "no-such-llama")))


def test_it_reads_vacad_rows_and_splits(tmp_path: Path) -> None:
    rows = [
        {
            "ytid": "R3mcZxi-r9U",
            "audio_path": "a.wav",
            "captions": {"msi": "a beach", "music": "calm"},
            "split": "train",
        },
        {
            "ytid": "gy6R280ZUMQ",
            "audio_path": "b.wav",
            "captions": {"msi": "", "music": "loud"},
            "split": "train",
        },
        {"ytid": "x", "audio_path": "/abs/c.wav", "msi_caption": "a city", "split": "test"},
    ]
    path = tmp_path / "vacad.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    records = load_records(path)
    assert [(r.audio, r.answer, r.question) for r in records] == [
        (tmp_path / "a.wav", "a beach", SCENE_QUESTION),
        (Path("/abs/c.wav"), "a city", SCENE_QUESTION),
    ]
    train_rows, held = split_records(records, eval_fraction=0.2, seed=0)
    assert [r.answer for r in train_rows] == ["a beach"] and [r.answer for r in held] == ["a city"]
    music = load_records(path, answer_field="music", question="Describe the music")
    assert [r.answer for r in music] == ["calm", "loud"]
    path.write_text(json.dumps(rows[0]) + "\n{not json\n")
    with pytest.raises(ValueError, match=":2: not JSON"):
        load_records(path)


def test_it_splits_80_20_by_seed_without_a_split_column(tmp_path: Path) -> None:
    path = tmp_path / "qa.jsonl"
    path.write_text(
        "".join(
            json.dumps({"audio": f"{i}.wav", "question": "q", "answer": str(i)}) + "\n"
            for i in range(50)
        )
    )
    records = load_records(path)
    train_a, eval_a = split_records(records, eval_fraction=0.2, seed=0)
    train_b, eval_b = split_records(records, eval_fraction=0.2, seed=0)
    _, eval_c = split_records(records, eval_fraction=0.2, seed=1)
    assert (len(train_a), len(eval_a)) == (40, 10)
    assert eval_a == eval_b and eval_a != eval_c
    assert not {r.answer for r in train_a} & {r.answer for r in eval_a}


def test_it_warms_up_then_follows_a_half_cosine() -> None:
    f = lambda s: lr_factor(s, warmup_steps=10, total_steps=110, min_ratio=0.1)  # noqa: E731
    assert f(0) == pytest.approx(0.1) and f(4) == pytest.approx(0.5) and f(9) == pytest.approx(1.0)
    assert f(10) == pytest.approx(1.0)
    assert f(60) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5)))  # halfway: 0.55
    assert f(110) == pytest.approx(0.1)


def test_each_human_description_becomes_its_own_example(tmp_path):
    import json

    from modeling.train_musiscene import load_records

    data = tmp_path / "vacad.jsonl"
    data.write_text(
        "\n".join(
            json.dumps(r)
            for r in [
                {
                    "audio": "a.wav",
                    "msi": "a beach",
                    "human_msi": ["a quiet harbour", "boats at dawn"],
                    "split": "train",
                },
                {"audio": "b.wav", "msi": "a city", "human_msi": [], "split": "test"},
            ]
        )
        + "\n"
    )
    human = load_records(data, answer_field="human_msi")
    assert [r.answer for r in human] == [
        "a quiet harbour",
        "boats at dawn",
    ]  # the row without any is skipped
    assert all(r.audio.name == "a.wav" and r.split == "train" for r in human)
    assert [r.answer for r in load_records(data, answer_field="msi")] == ["a beach", "a city"]
