"""KL divergence between AudioSet class distributions of paired reference and generated clips.

Two published definitions, each under its own name:

* :func:`kl_audiocraft` is audiocraft's ``PasstKLDivergenceMetric`` (``audiocraft/metrics/kld.py``,
  the KL of MusicGen's tables): each clip is cut into non-overlapping 10 s segments (segments of
  0.15 s or less dropped), each segment gets a **softmax** over the 527 AudioSet logits, and
  ``kld = KL(reference || generated) = sum t (log t - log(p + 1e-6))`` is averaged over segments.
  ``kld_qp`` is the reverse direction (epsilon on the reference) and ``kld_both`` their sum.
* :func:`kl_stable_audio` is Stability AI's ``passt_kld`` (``stable-audio-metrics``): 10 s
  windows with 5 s overlap, logits **averaged** over windows, one softmax per file, and
  ``KL(generated || reference) = sum q (log q - log(t + 1e-6))`` averaged over files.

The classifier is any :class:`~analysis.metrics.taggers.AudioSetTagger` (PaSST where hear21passt is
installed, AST from transformers everywhere). The probability-level functions take arrays and
need no model.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from analysis.metrics.audio import resample_mono

if TYPE_CHECKING:
    from analysis.metrics.taggers import AudioSetTagger

logger = logging.getLogger(__name__)

__all__ = [
    "KLResult",
    "kl_divergence",
    "kl_audiocraft",
    "kl_stable_audio",
    "softmax",
    "audiocraft_segments",
    "stable_audio_windows",
    "kl_audiocraft_clips",
    "kl_stable_audio_clips",
    "ClipPair",
    "summarise_kl",
]

EPSILON = 1e-6
SEGMENT_SECONDS = 10.0
MIN_SEGMENT_SECONDS = 0.15


def softmax(logits: np.ndarray, *, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax in float64."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=axis, keepdims=True)
    e = np.exp(z)
    probs: np.ndarray = e / e.sum(axis=axis, keepdims=True)
    return probs


def _probs(x: np.ndarray, *, name: str) -> np.ndarray:
    arr = np.atleast_2d(np.asarray(x, dtype=np.float64))
    if arr.ndim != 2:
        raise ValueError(f"{name} must be (segments, classes); got shape {arr.shape}")
    if (arr < 0).any() or not np.allclose(arr.sum(axis=1), 1.0, atol=1e-4):
        raise ValueError(f"{name} rows must be probability distributions (softmax outputs)")
    return arr


def kl_divergence(p: np.ndarray, q: np.ndarray, *, epsilon: float = EPSILON) -> np.ndarray:
    """Row-wise ``KL(p || q) = sum p (log p - log(q + epsilon))`` with ``0 log 0 = 0``.

    The same as ``torch.nn.functional.kl_div((q + eps).log(), p, reduction="none").sum(-1)``,
    the form both reference implementations use.
    """
    p = _probs(p, name="p")
    q = _probs(q, name="q")
    if p.shape != q.shape:
        raise ValueError(f"shapes differ: {p.shape} vs {q.shape}")
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * (np.log(p) - np.log(q + epsilon)), 0.0)
    kl: np.ndarray = terms.sum(axis=1)
    return kl


@dataclass(frozen=True)
class KLResult:
    """KL values averaged over ``n`` segments (audiocraft) or files (Stable Audio)."""

    kld: float
    kld_pq: float
    kld_qp: float
    kld_both: float
    n: int


def kl_audiocraft(
    reference_probs: np.ndarray, generated_probs: np.ndarray, *, epsilon: float = EPSILON
) -> KLResult:
    """audiocraft's ``kld``: mean over segments of KL(reference || generated).

    Rows are paired segments (softmax outputs). ``kld = kld_pq``; ``kld_qp`` = KL(generated ||
    reference); ``kld_both = kld_pq + kld_qp``.

    Examples
    --------
    >>> r = kl_audiocraft(np.array([[0.5, 0.5]]), np.array([[0.9, 0.1]]))
    >>> round(r.kld, 5), round(r.kld_qp, 5)
    (0.51082, 0.36806)
    """
    t = _probs(reference_probs, name="reference_probs")
    p = _probs(generated_probs, name="generated_probs")
    if t.shape != p.shape:
        raise ValueError(f"reference and generated segments must pair up: {t.shape} vs {p.shape}")
    pq = kl_divergence(t, p, epsilon=epsilon)
    qp = kl_divergence(p, t, epsilon=epsilon)
    n = t.shape[0]
    return KLResult(
        kld=float(pq.mean()),
        kld_pq=float(pq.mean()),
        kld_qp=float(qp.mean()),
        kld_both=float((pq + qp).mean()),
        n=n,
    )


def kl_stable_audio(
    reference_probs: np.ndarray, generated_probs: np.ndarray, *, epsilon: float = EPSILON
) -> KLResult:
    """Stable Audio's ``passt_kld``: mean over files of KL(generated || reference).

    Rows are files (one softmax of the window-averaged logits each). Here ``kld`` is
    KL(generated || reference) with epsilon on the reference; ``kld_qp`` the same,
    ``kld_pq`` the reverse and ``kld_both`` the sum.
    """
    t = _probs(reference_probs, name="reference_probs")
    q = _probs(generated_probs, name="generated_probs")
    if t.shape != q.shape:
        raise ValueError(f"reference and generated files must pair up: {t.shape} vs {q.shape}")
    qp = kl_divergence(q, t, epsilon=epsilon)
    pq = kl_divergence(t, q, epsilon=epsilon)
    return KLResult(
        kld=float(qp.mean()),
        kld_pq=float(pq.mean()),
        kld_qp=float(qp.mean()),
        kld_both=float((pq + qp).mean()),
        n=t.shape[0],
    )


def audiocraft_segments(
    audio: np.ndarray,
    *,
    sample_rate: int,
    segment_seconds: float = SEGMENT_SECONDS,
    min_seconds: float = MIN_SEGMENT_SECONDS,
) -> list[np.ndarray]:
    """Non-overlapping ``segment_seconds`` pieces (``torch.split``), pieces of ``min_seconds`` or
    less dropped."""
    x = np.asarray(audio, dtype=np.float32).reshape(-1)
    size = int(round(segment_seconds * sample_rate))
    pieces = [x[i : i + size] for i in range(0, x.size, size)]
    return [p for p in pieces if p.size > min_seconds * sample_rate]


def stable_audio_windows(
    audio: np.ndarray,
    *,
    sample_rate: int,
    window_seconds: float = 10.0,
    overlap_seconds: float = 5.0,
    min_fraction: float = 0.15,
) -> list[np.ndarray]:
    """Stable Audio's analysis windows, quirks included.

    Starts at ``range(0, max(step, len - step), step)`` with ``step = window - overlap``; a
    short window longer than ``min_fraction`` of a window is zero-padded to full length, a
    shorter one is kept unpadded (the reference code says "discard" but does not).
    """
    x = np.asarray(audio, dtype=np.float32).reshape(-1)
    win = int(window_seconds * sample_rate)
    step = int((window_seconds - overlap_seconds) * sample_rate)
    out = []
    for start in range(0, max(step, x.size - step), step):
        w = x[start : start + win]
        if w.size < win and w.size > int(win * min_fraction):
            w = np.concatenate([w, np.zeros(win - w.size, dtype=np.float32)])
        out.append(w)
    return out


@dataclass(frozen=True)
class ClipPair:
    """One generated clip and its reference, mono, with their sample rates."""

    clip: str
    reference: np.ndarray
    generated: np.ndarray
    sample_rate: int
    reference_sample_rate: int | None = None


def _pair_audio(pair: ClipPair, rate: int) -> tuple[np.ndarray, np.ndarray]:
    ref = resample_mono(pair.reference, pair.reference_sample_rate or pair.sample_rate, rate)
    gen = resample_mono(pair.generated, pair.sample_rate, rate)
    if ref.size != gen.size:
        n = min(ref.size, gen.size)
        logger.debug(
            "clip %s: cropping reference %d and generated %d samples to %d",
            pair.clip,
            ref.size,
            gen.size,
            n,
        )
        ref, gen = ref[:n], gen[:n]
    return ref, gen


KL_CLIP_COLUMNS = [
    "clip",
    "kld",
    "kld_pq",
    "kld_qp",
    "kld_both",
    "n_segments",
    "definition",
    "classifier",
]


def kl_audiocraft_clips(
    pairs: Iterable[ClipPair] | Sequence[ClipPair], *, tagger: AudioSetTagger
) -> pd.DataFrame:
    """audiocraft's KL per clip pair, as a table; the overall ``kld`` is the segment-weighted mean.

    Both sides are resampled to the tagger's rate, cropped to their common length and cut with
    :func:`audiocraft_segments`. Returns one row per clip with columns
    ``clip, kld, kld_pq, kld_qp, kld_both, n_segments, definition, classifier``; the mean over all
    segments (audiocraft's number) is ``(df.kld * df.n_segments).sum() / df.n_segments.sum()``
    (see :func:`summarise_kl`).
    """
    rows = []
    for pair in pairs:
        ref, gen = _pair_audio(pair, tagger.sample_rate)
        ref_segs = audiocraft_segments(ref, sample_rate=tagger.sample_rate)
        gen_segs = audiocraft_segments(gen, sample_rate=tagger.sample_rate)
        if not ref_segs:
            raise ValueError(
                f"clip {pair.clip!r} is too short for a {MIN_SEGMENT_SECONDS} s segment"
            )
        t = softmax(np.stack([tagger.logits(s) for s in ref_segs]))
        p = softmax(np.stack([tagger.logits(s) for s in gen_segs]))
        res = kl_audiocraft(t, p)
        rows.append(
            [
                pair.clip,
                res.kld,
                res.kld_pq,
                res.kld_qp,
                res.kld_both,
                res.n,
                "audiocraft",
                tagger.name,
            ]
        )
    return pd.DataFrame(rows, columns=KL_CLIP_COLUMNS)


def kl_stable_audio_clips(
    pairs: Iterable[ClipPair] | Sequence[ClipPair], *, tagger: AudioSetTagger
) -> pd.DataFrame:
    """Stable Audio's KL per clip pair: mean logits over 10 s/5 s-overlap windows, one softmax per
    file.

    Stable Audio also peak-normalises each file to -1 dBFS first; that is done here too.
    Same columns as :func:`kl_audiocraft_clips` (``n_segments`` is 1: one distribution per file).
    """
    rows = []
    peak = 10 ** (-1.0 / 20)
    for pair in pairs:
        sides = []
        for audio, rate in (
            (pair.reference, pair.reference_sample_rate or pair.sample_rate),
            (pair.generated, pair.sample_rate),
        ):
            x = resample_mono(audio, rate, tagger.sample_rate)
            m = float(np.abs(x).max()) if x.size else 0.0
            if m > 0:
                x = x * (peak / m)
            logits = np.stack(
                [tagger.logits(w) for w in stable_audio_windows(x, sample_rate=tagger.sample_rate)]
            )
            sides.append(softmax(logits.mean(axis=0)))
        res = kl_stable_audio(sides[0][None], sides[1][None])
        rows.append(
            [
                pair.clip,
                res.kld,
                res.kld_pq,
                res.kld_qp,
                res.kld_both,
                1,
                "stable-audio",
                tagger.name,
            ]
        )
    return pd.DataFrame(rows, columns=KL_CLIP_COLUMNS)


def summarise_kl(per_clip: pd.DataFrame) -> dict[str, float]:
    """Segment-weighted means of a per-clip KL table (audiocraft's ``compute()`` numbers)."""
    w = per_clip["n_segments"].to_numpy(dtype=np.float64)
    out = {
        col: float((per_clip[col].to_numpy() * w).sum() / w.sum())
        for col in ("kld", "kld_pq", "kld_qp", "kld_both")
    }
    out["n_segments"] = int(w.sum())
    out["n_clips"] = len(per_clip)
    return out
