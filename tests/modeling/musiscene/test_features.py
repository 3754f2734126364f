"""Audio loading, MERT pooling and the on-disk feature cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from modeling.audio import AudioDecodeError, load_audio
from modeling.hub import ModelNotFoundError
from modeling.musiscene.features import FeatureCache, MertEncoder, encode_files


def tone(
    path: Path, *, freq: float, seconds: float = 1.0, rate: int = 48000, stereo: bool = False
) -> Path:
    t = np.arange(int(seconds * rate)) / rate
    wave = 0.5 * np.sin(2 * np.pi * freq * t).astype(np.float32)
    sf.write(path, np.stack([wave, wave], 1) if stereo else wave, rate)
    return path


def test_it_resamples_to_mono_24k_with_the_same_pitch(tmp_path: Path) -> None:
    path = tone(tmp_path / "a.wav", freq=1000.0, seconds=1.0, rate=48000, stereo=True)
    audio = load_audio(path, sample_rate=24000)
    assert audio.dtype == np.float32 and audio.shape == (24000,)
    spectrum = np.abs(np.fft.rfft(audio))
    assert np.argmax(spectrum) == 1000  # 1 Hz bins over 1 s: the tone is still at 1 kHz
    assert load_audio(path, sample_rate=24000, max_seconds=0.25).shape == (6000,)


def test_it_reports_corrupt_and_missing_audio_clearly(tmp_path: Path) -> None:
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really audio")
    with pytest.raises(AudioDecodeError, match="broken.wav"):
        load_audio(bad, sample_rate=24000)
    with pytest.raises(FileNotFoundError, match="nowhere.wav"):
        load_audio(tmp_path / "nowhere.wav", sample_rate=24000)


def test_it_pools_every_hidden_state_with_the_post_norm_last_one(
    tiny_mert: Path, tmp_path: Path
) -> None:
    encoder = MertEncoder(str(tiny_mert))
    wave = load_audio(tone(tmp_path / "t.wav", freq=440.0), sample_rate=24000)
    feats = encoder.encode_waveform(wave)
    assert feats.shape == (3, 32)  # embeddings + 2 layers, hidden 32
    values = encoder.processor(wave, sampling_rate=24000, return_tensors="pt")["input_values"]
    with torch.no_grad():
        out = encoder.model(input_values=values, output_hidden_states=True)
    assert torch.allclose(feats[-1], out.last_hidden_state[0].mean(0), atol=1e-6)
    assert torch.allclose(feats[0], out.hidden_states[0][0].mean(0), atol=1e-6)
    # transformers 5 gives the pre-LayerNorm state as hidden_states[-1]; MU-LLaMA used the
    # post-norm one
    assert not torch.allclose(out.hidden_states[-1], out.last_hidden_state)


def test_it_encodes_only_the_first_seconds(tiny_mert: Path, tmp_path: Path) -> None:
    encoder = MertEncoder(str(tiny_mert), max_seconds=0.5)
    wave = load_audio(tone(tmp_path / "t.wav", freq=440.0, seconds=1.0), sample_rate=24000)
    noisy = wave.copy()
    noisy[12000:] = np.random.default_rng(0).normal(size=12000).astype(np.float32)
    assert torch.allclose(encoder.encode_waveform(wave), encoder.encode_waveform(noisy))


def test_it_reads_cached_features_instead_of_encoding_again(
    tiny_mert: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    encoder = MertEncoder(str(tiny_mert))
    clips = [tone(tmp_path / f"{f}.wav", freq=f) for f in (220.0, 440.0)]
    cache = FeatureCache(tmp_path / "cache", encoder_id=encoder.encoder_id)
    first = encode_files(clips, encoder=encoder, cache=cache)
    assert first.shape == (2, 3, 32) and not torch.allclose(first[0], first[1])
    assert len(list(cache.dir.glob("*.safetensors"))) == 2

    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("the encoder ran although the features were cached")

    monkeypatch.setattr(encoder, "encode_waveform", fail)
    copy = tmp_path / "copy-of-220.wav"
    copy.write_bytes(clips[0].read_bytes())  # same content, another name: still a cache hit
    again = encode_files([clips[1], copy], encoder=encoder, cache=cache)
    assert torch.equal(again[0], first[1]) and torch.equal(again[1], first[0])


def test_it_names_a_missing_encoder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    with pytest.raises(ModelNotFoundError, match="MERT music encoder.*m-a-p/MERT-v1-330M"):
        MertEncoder("m-a-p/MERT-v1-330M")
