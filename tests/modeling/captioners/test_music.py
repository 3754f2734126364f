"""Music captions: MU-LLaMA asked the music-description question, with its provenance."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from transformers import AutoConfig

from modeling.captioners.music import MusicCaptioner
from modeling.hub import ModelNotFoundError
from modeling.musiscene.config import MusiSceneConfig
from modeling.musiscene.generate import SamplingConfig
from modeling.musiscene.model import adapter_config_for, build_musiscene


@pytest.fixture(scope="module")
def base_checkpoint(tiny_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A MusiScene checkpoint standing in for MU-LLaMA's converted base adapter (gates open)."""
    llama = str(tiny_dir / "llama")
    adapter = adapter_config_for(
        AutoConfig.from_pretrained(llama), mert_layers=3, mert_dim=32, query_layers=2
    )
    model = build_musiscene(
        MusiSceneConfig(llama=llama, mert=str(tiny_dir / "mert"), adapter=adapter), seed=1
    )
    with torch.no_grad():
        for gate in model.gates:
            gate.gate.fill_(2.0)
        for p in model.adapter.parameters():
            p.mul_(30.0)
    return model.save_checkpoint(tmp_path_factory.mktemp("mu-llama") / "base")


def tone(path: Path, freq: float) -> Path:
    t = np.arange(12000) / 24000
    sf.write(path, (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32), 24000)
    return path


def test_it_asks_the_music_description_question(
    base_checkpoint: Path, tiny_dir: Path, tmp_path: Path
) -> None:
    clips = [tone(tmp_path / f"{f:g}.wav", f) for f in (300.0, 2700.0)]
    captioner = MusicCaptioner.from_checkpoint(
        base_checkpoint, device="cpu", sampling=SamplingConfig(temperature=0.0, max_new_tokens=6)
    )
    results = captioner.caption(clips, batch_size=2)
    assert [r.source for r in results] == [str(c) for c in clips]
    assert all(r.kind == "music" and r.text for r in results)
    assert len({r.text for r in results}) > 1  # the music changes the caption
    r = results[0]
    assert r.model == str(base_checkpoint)
    assert (
        "### Instruction:\nDescribe elements of the music, such as its mood, rhythm, and genre\n\n"
        in r.prompt
    )
    assert "### Input:\n<built-in function input>" in r.prompt  # MU-LLaMA's literal prompt
    assert (
        r.parameters["question"]
        == "Describe elements of the music, such as its mood, rhythm, and genre"
    )
    assert (r.parameters["llama"], r.parameters["mert"]) == (
        str(tiny_dir / "llama"),
        str(tiny_dir / "mert"),
    )
    assert {
        k: r.parameters[k]
        for k in ("temperature", "top_p", "max_new_tokens", "seed", "prompt_mode")
    } == {
        "temperature": 0.0,
        "top_p": 0.8,
        "max_new_tokens": 6,
        "seed": None,
        "prompt_mode": "compat",
    }


def test_its_defaults_are_mu_llamas_sampling(base_checkpoint: Path, tmp_path: Path) -> None:
    captioner = MusicCaptioner.from_checkpoint(base_checkpoint, device="cpu")
    assert (
        captioner.sampling.temperature,
        captioner.sampling.top_p,
        captioner.sampling.max_new_tokens,
    ) == (0.6, 0.8, 512)
    captioner.sampling = SamplingConfig(max_new_tokens=5)
    clip = tone(tmp_path / "a.wav", 440.0)
    first, again = captioner.caption([clip], seed=3), captioner.caption([clip], seed=3)
    assert first[0].text == again[0].text and first[0].parameters["seed"] == 3


def test_it_names_a_missing_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="no-such-adapter"):
        MusicCaptioner.from_checkpoint(tmp_path / "no-such-adapter")
