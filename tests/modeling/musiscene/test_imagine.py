"""Prompts, sampling and batched imagination through the CLI and the Python API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from transformers import AutoConfig

from modeling.imagine import SceneImaginer, main
from modeling.musiscene.config import MusiSceneConfig
from modeling.musiscene.generate import SamplingConfig, sample_top_p
from modeling.musiscene.model import adapter_config_for, build_musiscene, load_tokenizer
from modeling.musiscene.prompts import CAPTION_QUESTION, encode_example, format_prompt

# MU-LLaMA's rendered prompt (llama/utils.py format_prompt), with Python's builtin `input` in it.
MU_LLAMA_PROMPT = (
    "Below is an instruction that describes a task, paired with an input that provides further "
    "context. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\nDescribe the music\n\n"
    "### Input:\n<built-in function input>\n\n### Response:"
)


def test_it_reproduces_mu_llamas_prompt_quirk_in_compat_mode() -> None:
    assert format_prompt("Describe the music", mode="compat") == MU_LLAMA_PROMPT
    assert format_prompt("Describe the music", mode="compat") == MU_LLAMA_PROMPT.replace(
        "<built-in function input>", str(input)
    )  # what format_map({'input': input}) gives
    clean = format_prompt("Describe the music", mode="clean")
    assert "### Input" not in clean and clean.endswith(
        "### Instruction:\nDescribe the music\n\n### Response:"
    )


def test_it_masks_the_prompt_in_the_labels(tiny_llama: Path) -> None:
    tok = load_tokenizer(str(tiny_llama))
    ex = encode_example(tok, "Describe the music", "calm piano", mode="compat")
    answer = [t for t in ex.labels if t != -100]
    assert (
        ex.input_ids[0] == tok.bos_token_id and ex.input_ids[-1] == tok.eos_token_id == answer[-1]
    )
    assert tok.decode(answer[:-1]) == "calm piano"
    assert ex.labels[: len(ex.input_ids) - len(answer)] == [-100] * (
        len(ex.input_ids) - len(answer)
    )
    assert (
        len(encode_example(tok, "Describe the music", "calm piano " * 100, max_tokens=40).input_ids)
        == 40
    )


def test_it_samples_only_inside_the_nucleus() -> None:
    probs = torch.tensor([[0.5, 0.3, 0.2]]).repeat(2000, 1)
    picks = sample_top_p(probs, 0.6, generator=torch.Generator().manual_seed(0))
    # MU-LLaMA keeps a token while the mass before it is <= top_p: tokens 0 (0.0) and 1 (0.5), not
    # 2 (0.8)
    assert set(picks.tolist()) == {0, 1}
    assert abs((picks == 0).float().mean().item() - 0.5 / 0.8) < 0.05


@pytest.fixture(scope="module")
def checkpoint(tiny_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    llama = str(tiny_dir / "llama")
    adapter = adapter_config_for(
        AutoConfig.from_pretrained(llama), mert_layers=3, mert_dim=32, query_layers=2
    )
    model = build_musiscene(
        MusiSceneConfig(llama=llama, mert=str(tiny_dir / "mert"), adapter=adapter), seed=1
    )
    with torch.no_grad():  # an "trained" adapter: open gates so that each clip changes the answer
        for gate in model.gates:
            gate.gate.fill_(2.0)
        for p in model.adapter.parameters():
            p.mul_(30.0)
    return model.save_checkpoint(tmp_path_factory.mktemp("ckpt") / "musiscene")


def test_it_answers_the_same_in_batches_as_one_by_one(
    checkpoint: Path, tone_writer, tmp_path: Path
) -> None:
    write_tone = tone_writer
    clips = [write_tone(tmp_path / f"{f}.wav", freq=f, seconds=0.5) for f in (300.0, 900.0, 2700.0)]
    imaginer = SceneImaginer.from_checkpoint(checkpoint, device="cpu")
    greedy = dict(temperature=0.0, top_p=1.0, max_new_tokens=8)
    batched = imaginer.imagine(clips, sampling=SamplingConfig(**greedy), batch_size=2)
    single = [imaginer.imagine([c], sampling=SamplingConfig(**greedy))[0] for c in clips]
    assert [r.answer for r in batched] == [r.answer for r in single]
    assert len({r.answer for r in single}) > 1  # the music changes the answer
    assert [r.audio for r in batched] == [str(c) for c in clips]


def test_it_prints_one_json_line_per_clip(
    checkpoint: Path, tone_writer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_tone = tone_writer
    clips = [write_tone(tmp_path / f"{i}.wav", freq=440.0 * (i + 1), seconds=0.5) for i in range(2)]
    assert (
        main(
            [
                "--checkpoint",
                str(checkpoint),
                "--caption",
                "--max-new-tokens",
                "4",
                "--seed",
                "0",
                "--device",
                "cpu",
                *map(str, clips),
            ]
        )
        == 0
    )
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["audio"] for line in lines] == [str(c) for c in clips]
    assert all(
        line["question"] == CAPTION_QUESTION and isinstance(line["answer"], str) for line in lines
    )
