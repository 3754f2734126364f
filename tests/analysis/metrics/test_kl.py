"""KL definitions (audiocraft, Stable Audio) against research/C_metrics.md 2 and 5.2."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.metrics.kl import (
    ClipPair,
    audiocraft_segments,
    kl_audiocraft,
    kl_audiocraft_clips,
    kl_divergence,
    kl_stable_audio,
    kl_stable_audio_clips,
    softmax,
    stable_audio_windows,
    summarise_kl,
)


def test_it_reproduces_audiocrafts_analytic_vector():
    # pred (generated) = [0.9, 0.1], target (reference) = [0.5, 0.5]: kld 0.51082, kld_qp 0.36806
    res = kl_audiocraft(np.array([[0.5, 0.5]]), np.array([[0.9, 0.1]]))
    assert res.kld == pytest.approx(0.51082, abs=1e-5)
    assert res.kld_qp == pytest.approx(0.36806, abs=1e-5)
    assert res.kld_both == pytest.approx(0.51082 + 0.36806, abs=2e-5)
    exact = 0.5 * np.log(0.5 / 0.9) + 0.5 * np.log(0.5 / 0.1)
    assert abs(res.kld - exact) < 1e-5 and res.kld != exact  # the epsilon shifts it slightly


def test_stable_audio_is_the_other_direction():
    ref, gen = np.array([[0.5, 0.5]]), np.array([[0.9, 0.1]])
    assert kl_stable_audio(ref, gen).kld == pytest.approx(0.36806, abs=1e-5)


def test_kl_averages_over_segments_and_handles_zeros():
    t = np.array([[1.0, 0.0], [0.5, 0.5]])
    p = np.array([[1.0, 0.0], [0.5, 0.5]])
    assert kl_audiocraft(t, p).kld == pytest.approx(0.0, abs=1e-5)
    assert kl_audiocraft(t, p).n == 2
    np.testing.assert_allclose(kl_divergence(t, p), [0.0, 0.0], atol=1e-5)
    with pytest.raises(ValueError, match="pair up"):
        kl_audiocraft(t, p[:1])
    with pytest.raises(ValueError, match="probability"):
        kl_audiocraft(np.array([[2.0, 1.0]]), np.array([[0.5, 0.5]]))


def test_audiocraft_segments_drop_pieces_of_015_s_or_less():
    sr = 100
    assert [s.size for s in audiocraft_segments(np.zeros(2500), sample_rate=sr)] == [
        1000,
        1000,
        500,
    ]
    assert [s.size for s in audiocraft_segments(np.zeros(2015), sample_rate=sr)] == [1000, 1000]
    assert [s.size for s in audiocraft_segments(np.zeros(2016), sample_rate=sr)] == [1000, 1000, 16]


def test_stable_audio_windows_keep_their_quirks():
    sr = 100
    sizes = [w.size for w in stable_audio_windows(np.zeros(2200), sample_rate=sr)]
    # starts 0, 500, 1000, 1500 (range(0, max(500, 1700), 500)); the short last ones are padded
    assert sizes == [1000, 1000, 1000, 1000]
    sizes = [w.size for w in stable_audio_windows(np.zeros(1100), sample_rate=sr)]
    # starts 0, 500: 1000, then 600 > 150 padded to 1000
    assert sizes == [1000, 1000]
    # a window of 15% or less is not dropped, only left unpadded
    sizes = [w.size for w in stable_audio_windows(np.zeros(100), sample_rate=sr)]
    assert sizes == [100]


class _FakeTagger:
    """Logits that depend on the segment's RMS, to test the plumbing without a model."""

    name = "fake"
    sample_rate = 1000

    def logits(self, segment):
        rms = float(np.sqrt(np.mean(np.square(segment))))
        return np.array([rms * 10, 0.0, -rms * 10])


def test_clip_tables_pair_segments_and_weight_by_count():
    rng = np.random.default_rng(0)
    loud = rng.normal(scale=0.5, size=25_000).astype(np.float32)  # 25 s at 1 kHz: 3 segments
    quiet = (loud * 0.1).astype(np.float32)
    pairs = [ClipPair("a", loud, loud, 1000), ClipPair("b", loud, quiet, 1000)]
    table = kl_audiocraft_clips(pairs, tagger=_FakeTagger())
    assert list(table["n_segments"]) == [3, 3]
    assert table.loc[0, "kld"] == pytest.approx(0.0, abs=1e-5)
    assert table.loc[1, "kld"] > 0.1
    summary = summarise_kl(table)
    assert summary["kld"] == pytest.approx(table["kld"].mean())
    assert summary["n_segments"] == 6
    sa = kl_stable_audio_clips(pairs, tagger=_FakeTagger())
    # both files are peak-normalised first, so a pure gain change gives (almost) no divergence
    assert sa.loc[1, "kld"] == pytest.approx(0.0, abs=1e-4)
    assert (sa["definition"] == "stable-audio").all()


def test_softmax_is_stable():
    p = softmax(np.array([[1000.0, 1000.0, -1000.0]]))
    np.testing.assert_allclose(p, [[0.5, 0.5, 0.0]], atol=1e-12)
