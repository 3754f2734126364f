"""Every embedding backend end to end with a tiny random model, and VGGish's front end."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from analysis.metrics import tiny
from analysis.metrics.clap import TextAudio, clap_scores
from analysis.metrics.embeddings import (
    ClapEmbedder,
    EncodecEmbedder,
    HubertEmbedder,
    VGGishEmbedder,
    embed_clips,
    get_embedder,
)
from analysis.metrics.fad import fad_table
from analysis.metrics.kl import ClipPair, kl_audiocraft_clips
from analysis.metrics.models import resolve_model
from analysis.metrics.taggers import ASTTagger, get_tagger
from analysis.metrics.vggish import log_mel_spectrogram, mel_matrix, waveform_to_examples

SR = 16000


def _sine(seconds: float, freq: float = 1000.0, sr: int = SR) -> np.ndarray:
    return np.sin(2 * np.pi * freq * np.arange(int(seconds * sr)) / sr).astype(np.float32)


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny_metric_models")
    return {
        "vggish": tiny.build_tiny_vggish(root / "vggish"),
        "clap": tiny.build_tiny_clap(root / "clap"),
        "encodec": tiny.build_tiny_encodec(root / "encodec"),
        "mert": tiny.build_tiny_hubert(root / "mert"),
        "ast": tiny.build_tiny_ast(root / "ast"),
    }


def test_vggish_framings_give_the_documented_example_counts():
    # VGGish smoke test: 3 s at 16 kHz -> input batch [3, 96, 64] (non-overlapping examples)
    assert waveform_to_examples(_sine(3), sample_rate=SR, framing="torchvggish").shape == (
        3,
        96,
        64,
    )
    ten = _sine(10)
    assert waveform_to_examples(ten, sample_rate=SR, framing="torchvggish").shape[0] == 10
    assert waveform_to_examples(ten, sample_rate=SR, framing="google").shape[0] == 19  # 1 s / 0.5 s
    assert waveform_to_examples(_sine(0.9), sample_rate=SR, framing="google").shape[0] == 0


def test_google_framing_peak_normalises_by_the_signed_maximum():
    x = 0.05 * _sine(2)  # peak below 0.1: divided by 0.1, i.e. scaled to peak 0.5, not 1
    quiet = waveform_to_examples(x, sample_rate=SR, framing="google")
    np.testing.assert_allclose(quiet[0], log_mel_spectrogram(0.5 * _sine(1))[:96], atol=1e-4)
    assert not np.allclose(
        quiet, waveform_to_examples(0.5 * _sine(2), sample_rate=SR, framing="google"), atol=1e-2
    )
    loud = waveform_to_examples(0.5 * _sine(2), sample_rate=SR, framing="google")
    louder = waveform_to_examples(0.9 * _sine(2), sample_rate=SR, framing="google")
    np.testing.assert_allclose(loud, louder, atol=1e-4)  # both scaled to peak 1


def test_vggish_log_mel_matches_transformers_htk_filterbank():
    # An independent peer: transformers' TF-compatible mel filters (triangles in mel space).
    from transformers.audio_utils import mel_filter_bank

    peer = mel_filter_bank(
        num_frequency_bins=257,
        num_mel_filters=64,
        min_frequency=125.0,
        max_frequency=7500.0,
        sampling_rate=SR,
        norm=None,
        mel_scale="htk",
        triangularize_in_mel_space=True,
    )
    ours = mel_matrix()
    np.testing.assert_allclose(ours[1:], peer[1:], atol=1e-6)
    assert (ours[0] == 0).all()
    x = _sine(1.0)
    frames = log_mel_spectrogram(x)
    assert frames.shape == (1 + (SR - 400) // 160, 64)
    # a 1 kHz tone puts its energy in the band around 1 kHz
    centers = 700 * (
        np.exp(
            np.linspace(1127 * np.log1p(125 / 700), 1127 * np.log1p(7500 / 700), 66)[1:-1] / 1127
        )
        - 1
    )
    assert abs(centers[frames.mean(0).argmax()] - 1000) < 60


def test_vggish_backend_end_to_end(models, tmp_path):
    emb = get_embedder(f"vggish:{models['vggish']}")
    assert isinstance(emb, VGGishEmbedder) and emb.framing == "google"
    out = emb.embed(_sine(3, sr=32000), sample_rate=32000)
    assert out.shape == (5, 128) and out.dtype == np.float32
    assert get_embedder(f"vggish-torch:{models['vggish']}").embed(
        _sine(3), sample_rate=SR
    ).shape == (3, 128)
    path = tmp_path / "clip.wav"
    sf.write(path, _sine(2) * 0.3, SR)
    stack = embed_clips(emb, {"a": path, "b": (_sine(1.5), SR), "short": (_sine(0.5), SR)})
    assert stack.counts == {"a": 3, "b": 2, "short": 0}
    assert stack.frames.shape == (5, 128)
    assert stack.for_clips(["b"]).shape == (2, 128)


def test_missing_weights_say_how_to_provide_them(tmp_path):
    with pytest.raises(FileNotFoundError, match="vggish-10086976.pth"):
        get_embedder(f"vggish:{tmp_path / 'nothing.pth'}")
    with pytest.raises(ValueError, match="path of its weights"):
        get_embedder("vggish")
    with pytest.raises(FileNotFoundError, match="nobody/no-clap"):
        resolve_model("nobody/no-clap", kind="CLAP")


@pytest.mark.skipif(
    not os.environ.get("MUSISCENE_VGGISH_WEIGHTS"),
    reason="real VGGish weights absent: set MUSISCENE_VGGISH_WEIGHTS to vggish-10086976.pth",
)
def test_real_vggish_matches_googles_smoke_test():
    # tensorflow/models vggish_smoke_test.py: raw embedding mean 0.000657, std 0.343
    emb = VGGishEmbedder(os.environ["MUSISCENE_VGGISH_WEIGHTS"], framing="torchvggish")
    out = emb.embed(_sine(3), sample_rate=SR)
    assert out.shape == (3, 128)
    assert out.mean() == pytest.approx(0.000657, abs=2e-3)
    assert out.std() == pytest.approx(0.343, rel=0.05)


def test_clap_encodec_and_mert_backends_end_to_end(models):
    x = 0.3 * _sine(3, freq=440, sr=48000)
    clap = get_embedder(f"clap:{models['clap']}")
    assert isinstance(clap, ClapEmbedder)
    assert clap.embed(x, sample_rate=48000).shape == (1, 16)
    assert clap.embed(np.tile(x, 5), sample_rate=48000).shape == (2, 16)  # 15 s: two 10 s windows
    enc = get_embedder(f"encodec:{models['encodec']}")
    assert isinstance(enc, EncodecEmbedder)
    assert enc.embed(x, sample_rate=48000).shape == (225, 16)  # 75 Hz at 24 kHz
    mert = get_embedder(f"mert:{models['mert']}")
    assert isinstance(mert, HubertEmbedder) and mert.sample_rate == 24000
    out = mert.embed(x, sample_rate=48000)
    assert out.ndim == 2 and out.shape[1] == 16 and out.shape[0] > 100
    layer0 = HubertEmbedder(models["mert"], layer=0).embed(x, sample_rate=48000)
    assert layer0.shape == out.shape and not np.allclose(layer0, out)


def test_fad_over_tiny_vggish_embeddings_separates_conditions(models):
    emb = VGGishEmbedder(models["vggish"], framing="torchvggish")
    rng = np.random.default_rng(0)
    ref = embed_clips(emb, {f"r{i}": (0.3 * _sine(4, 300 + 50 * i), SR) for i in range(6)})
    same = embed_clips(emb, {f"s{i}": (0.3 * _sine(4, 325 + 50 * i), SR) for i in range(6)})
    noise = embed_clips(
        emb,
        {f"n{i}": (rng.normal(scale=0.3, size=4 * SR).astype(np.float32), SR) for i in range(6)},
    )
    table = fad_table(
        {"tones": same.frames, "noise": noise.frames}, reference=ref.frames, with_kad=True
    )
    by = table.set_index("condition")
    assert by.loc["noise", "fad"] > by.loc["tones", "fad"]
    assert (table["n_evaluated"] == 24).all()


def test_clap_score_per_track(models):
    clap = ClapEmbedder(models["clap"])
    x = 0.3 * _sine(2, freq=440, sr=48000)
    table = clap_scores(
        [
            TextAudio("t1", "calm piano melody", x, 48000),
            TextAudio("t2", "fast rock drums", x, 48000),
        ],
        model=clap,
    )
    assert list(table["track"]) == ["t1", "t2"]
    assert table["clap_score"].between(-1, 1).all()
    assert table["clap_score"].nunique() == 2  # the text matters
    # the score is the cosine of the L2-normalised audio and text embeddings
    import torch.nn.functional as F

    a = F.normalize(clap.audio_features([x]).float(), dim=-1)[0]
    t = F.normalize(clap.text_features(["calm piano melody"]).float(), dim=-1)[0]
    assert table.loc[0, "clap_score"] == pytest.approx(float(a @ t), abs=1e-5)


def test_ast_tagger_drives_the_kl_end_to_end(models):
    tagger = get_tagger(f"ast:{models['ast']}")
    assert isinstance(tagger, ASTTagger) and tagger.sample_rate == 16000
    logits = tagger.logits(_sine(2))
    assert logits.shape == (527,)
    rng = np.random.default_rng(1)
    clip = (0.3 * _sine(12, sr=32000)).astype(np.float32)
    other = rng.normal(scale=0.3, size=clip.size).astype(np.float32)
    table = kl_audiocraft_clips(
        [ClipPair("same", clip, clip, 32000), ClipPair("diff", clip, other, 32000)], tagger=tagger
    )
    assert list(table["n_segments"]) == [2, 2]  # 10 s + 2 s
    # audiocraft's epsilon on the generated side: identical clips give about -527 * 1e-6
    assert table.loc[0, "kld"] == pytest.approx(-527e-6, rel=0.05)
    assert table.loc[1, "kld"] > 0
    assert table.loc[0, "classifier"].startswith("ast:")
