"""The MusicGen wrapper, run end to end on a tiny random checkpoint (no network, no GPU)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from modeling.hub import ModelNotFoundError
from modeling.musicgen import MusicGen, SeededSampler, build_tiny, get_pretrained

os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[2]
TEXTS = ["upbeat jazz with piano", "calm ambient strings for a night scene", "rock"]


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny(tmp_path_factory.mktemp("models") / "musicgen", seed=0)


@pytest.fixture(scope="module")
def model(tiny_dir: Path) -> MusicGen:
    return get_pretrained(str(tiny_dir), device="cpu")


@pytest.fixture()
def codes_of(model: MusicGen, monkeypatch: pytest.MonkeyPatch) -> list[torch.Tensor]:
    """Records the audio codes each generate() call hands to EnCodec, (B, K, frames) each."""
    seen: list[torch.Tensor] = []
    decode = model.model.audio_encoder.decode

    def spy(audio_codes: torch.Tensor, **kwargs):  # audio_codes: (1, B, K, frames)
        seen.append(audio_codes[0].clone())
        return decode(audio_codes, **kwargs)

    monkeypatch.setattr(model.model.audio_encoder, "decode", spy)
    return seen


def test_it_builds_a_complete_checkpoint_and_loads_it_by_the_public_path(
    tiny_dir: Path, model: MusicGen
):
    names = {p.name for p in tiny_dir.iterdir()}
    assert {
        "config.json",
        "generation_config.json",
        "model.safetensors",
        "processor_config.json",
        "tokenizer.json",
    } <= names
    config = json.loads((tiny_dir / "config.json").read_text())
    assert config["decoder"]["num_codebooks"] == 4
    assert model.sample_rate == 32_000
    assert model.frame_rate == 50
    assert model.num_codebooks == 4
    assert model.dtype == torch.float32 and model.device.type == "cpu"
    assert type(model.processor).__name__ == "MusicgenProcessor"
    assert (
        model.processor.tokenizer("calm piano").input_ids[-1]
        == model.processor.tokenizer.eos_token_id
    )


def test_it_follows_the_frames_rule(model: MusicGen):
    assert model.max_new_tokens(10) == 503
    assert model.max_new_tokens(1) == 53
    assert model.max_new_tokens(0.01) == 4  # 320 samples: one 640-sample frame, then trimmed


@pytest.mark.parametrize("duration_s", [0.01, 0.3, 1.0, 1.234, 1 / 3])
def test_it_returns_exactly_the_asked_length(model: MusicGen, duration_s: float):
    audio = model.generate(["calm piano"], duration_s=duration_s, seed=0, guidance_scale=1.0)
    assert audio.shape == (1, round(duration_s * 32_000))
    assert audio.dtype == np.float32


def test_it_generates_a_batch_of_finite_nonsilent_mono_tracks(model: MusicGen):
    audio = model.generate(TEXTS, duration_s=0.5, seed=0)
    assert audio.shape == (3, 16_000)
    assert np.isfinite(audio).all()
    assert (audio.std(axis=1) > 1e-4).all()


def test_it_is_reproducible_for_a_seed(model: MusicGen, codes_of: list[torch.Tensor]):
    a = model.generate(TEXTS, duration_s=0.4, seed=7)
    b = model.generate(TEXTS, duration_s=0.4, seed=7)
    assert np.array_equal(a, b)
    assert torch.equal(codes_of[0], codes_of[1])


def test_different_seeds_give_different_tracks(model: MusicGen, codes_of: list[torch.Tensor]):
    a = model.generate(TEXTS[:1], duration_s=0.4, seed=0)
    b = model.generate(TEXTS[:1], duration_s=0.4, seed=1)
    assert (codes_of[0] != codes_of[1]).float().mean() > 0.5
    assert np.abs(a - b).max() > 1e-3


def test_a_track_does_not_depend_on_the_rest_of_its_batch(
    model: MusicGen, codes_of: list[torch.Tensor]
):
    batch = model.generate(TEXTS, duration_s=0.4, seed=3)
    for i, text in enumerate(TEXTS):
        alone = model.generate([text], duration_s=0.4, seed=3)
        assert torch.equal(codes_of[0][i], codes_of[i + 1][0])
        np.testing.assert_allclose(batch[i], alone[0], atol=1e-6)  # batched EnCodec rounding only


def test_it_takes_one_seed_per_text(model: MusicGen, codes_of: list[torch.Tensor]):
    model.generate(["rock", "rock"], duration_s=0.3, seed=[1, 2])
    model.generate(["rock"], duration_s=0.3, seed=2)
    assert not torch.equal(codes_of[0][0], codes_of[0][1])
    assert torch.equal(codes_of[0][1], codes_of[1][0])


def test_guidance_and_text_change_the_codes(model: MusicGen, codes_of: list[torch.Tensor]):
    off = model.generate(["upbeat jazz"], duration_s=0.4, seed=0, guidance_scale=1.0)
    model.generate(["upbeat jazz"], duration_s=0.4, seed=0, guidance_scale=3.0)
    model.generate(["sad ambient night"], duration_s=0.4, seed=0, guidance_scale=3.0)
    assert off.shape == (1, 12_800)
    assert not torch.equal(codes_of[0], codes_of[1])  # the unconditional rows were used
    assert not torch.equal(codes_of[1], codes_of[2])  # the text conditions the music


def test_top_k_one_is_greedy_whatever_the_seed(model: MusicGen, codes_of: list[torch.Tensor]):
    model.generate(["rock"], duration_s=0.3, seed=0, top_k=1)
    model.generate(["rock"], duration_s=0.3, seed=99, top_k=1)
    assert torch.equal(codes_of[0], codes_of[1])


def test_the_sampler_noise_is_uniform_and_keyed_by_seed_step_and_codebook():
    sampler = SeededSampler(
        seeds=[0, 1], num_codebooks=4, top_k=0, temperature=1.0, guidance_scale=1.0
    )
    u = sampler.noise(5, 2048, torch.device("cpu"))  # (8, 2048)
    assert u.shape == (8, 2048) and bool(((u > 0) & (u < 1)).all())
    assert abs(u.mean().item() - 0.5) < 0.01
    assert not torch.equal(u[0], u[1])  # codebooks differ
    assert not torch.equal(u[0], u[4])  # seeds differ
    assert not torch.equal(u, sampler.noise(6, 2048, torch.device("cpu")))  # steps differ
    again = SeededSampler(seeds=[1], num_codebooks=4, top_k=0, temperature=1.0, guidance_scale=1.0)
    assert torch.equal(again.noise(5, 2048, torch.device("cpu")), u[4:])  # batch-independent


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"texts": []}, "texts is empty"),
        ({"texts": "rock"}, "not one string"),
        ({"duration_s": 0}, "positive number of seconds"),
        ({"duration_s": -1.0}, "positive number of seconds"),
        ({"duration_s": float("nan")}, "positive number of seconds"),
        ({"seed": -1}, "seeds must be ints"),
        ({"seed": [0, 1]}, "2 seeds for 1 texts"),
        ({"top_k": -5}, "top_k"),
        ({"temperature": 0.0}, "temperature"),
        ({"guidance_scale": 0.5}, "guidance_scale"),
    ],
)
def test_bad_arguments_raise_clear_errors(model: MusicGen, kwargs: dict, message: str):
    args = {"texts": ["rock"], "duration_s": 0.2, "seed": 0} | kwargs
    texts = args.pop("texts")
    with pytest.raises((ValueError, TypeError), match=message):
        model.generate(texts, **args)


def test_a_missing_model_names_itself_and_says_how_to_provide_it(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("MUSISCENE_MODEL_DIR", raising=False)
    with pytest.raises(ModelNotFoundError) as err:
        get_pretrained("facebook/musicgen-not-on-this-machine", device="cpu")
    text = str(err.value)
    assert "facebook/musicgen-not-on-this-machine" in text
    assert "download" in text and "MUSISCENE_MODEL_DIR" in text


def test_a_folder_without_a_checkpoint_is_refused(tmp_path: Path):
    with pytest.raises(ModelNotFoundError, match="no config.json"):
        get_pretrained(str(tmp_path), device="cpu")


def test_the_tiny_command_builds_a_loadable_musicgen(tmp_path: Path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "modeling.tiny", "build", str(tmp_path), "--family", "musicgen"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert f"musicgen: {tmp_path / 'musicgen'}" in result.stdout
    loaded = get_pretrained(str(tmp_path / "musicgen"), device="cpu")
    assert loaded.generate(["rock"], duration_s=0.1, seed=0).shape == (1, 3200)


def test_the_static_cache_gives_the_same_codes(
    tiny_dir: Path, model: MusicGen, codes_of: list[torch.Tensor]
):
    dynamic = model.generate(TEXTS[:2], duration_s=0.3, seed=4)
    static = get_pretrained(str(tiny_dir), device="cpu", cache_implementation="static")
    assert static.cache_implementation == "static"
    static.model.audio_encoder.decode = model.model.audio_encoder.decode  # the same spy
    np.testing.assert_allclose(
        static.generate(TEXTS[:2], duration_s=0.3, seed=4), dynamic, atol=1e-6
    )
    assert torch.equal(codes_of[0], codes_of[1])
