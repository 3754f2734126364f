"""CLAP text-audio similarity: does each track follow its prompt?

``clap_score`` of a track is the cosine between the CLAP embedding of its prompt and the CLAP
embedding of its audio (the mean over 10 s windows, L2-normalised), as in audiocraft's
``clap_consistency.py`` and the Make-An-Audio convention in gudgud96's ``clap_score.py`` (plain
cosine, no ``max(0, w cos)`` clipping of CLIPScore). The set-level number is the mean over tracks.
Note that with the *caption* as text it measures prompt adherence, not fit to the video.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from analysis.metrics.audio import load_audio, resample_mono
from analysis.metrics.embeddings import DEFAULT_MODELS, ClapEmbedder

__all__ = ["TextAudio", "clap_scores"]


@dataclass(frozen=True)
class TextAudio:
    """One track: an id, its prompt, and its audio (a path, or samples with ``sample_rate``)."""

    track: str
    text: str
    audio: str | Path | np.ndarray
    sample_rate: int | None = None


def clap_scores(
    items: Iterable[TextAudio] | Sequence[TextAudio],
    *,
    model: str | Path | ClapEmbedder = DEFAULT_MODELS["clap"],
    device: str | None = None,
) -> pd.DataFrame:
    """CLAP cosine of every track with its text; columns ``track, clap_score, n_windows, model``."""
    clap = model if isinstance(model, ClapEmbedder) else ClapEmbedder(model, device=device)
    rows = []
    for item in items:
        if isinstance(item.audio, np.ndarray):
            if item.sample_rate is None:
                raise ValueError(f"track {item.track!r}: sample_rate is needed with raw samples")
            x = resample_mono(item.audio, item.sample_rate, clap.sample_rate)
        else:
            x, _ = load_audio(item.audio, sample_rate=clap.sample_rate)
        windows = clap._windows(x)
        audio_emb = F.normalize(clap.audio_features(windows).float(), dim=-1).mean(0)  # (P,)
        audio_emb = F.normalize(audio_emb, dim=0)
        text_emb = F.normalize(clap.text_features([item.text]).float()[0], dim=0)  # (P,)
        rows.append(
            [item.track, float(torch.dot(audio_emb, text_emb)), len(windows), clap.model_id]
        )
    return pd.DataFrame(rows, columns=["track", "clap_score", "n_windows", "model"])
