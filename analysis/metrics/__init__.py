"""Objective metrics: FAD/KAD on audio embeddings, KL over AudioSet classes, CLAP text-audio
similarity and caption metrics (BLEU, METEOR, ROUGE-L, BERTScore).

Pure core: numpy/pandas/torch/transformers, no Django. Importing this package loads no model;
the model backends (VGGish, CLAP, EnCodec, MERT, AST, PaSST) load on first use.
The plain ``fad`` function lives in :mod:`analysis.metrics.fad` (not re-exported here, so that
the name keeps meaning the module).
"""

from analysis.metrics.fad import (
    FADInfResult,
    FADResult,
    GaussianStats,
    fad_inf,
    fad_table,
    frechet_distance,
    kad,
    subsample_equal,
)
from analysis.metrics.kl import (
    ClipPair,
    KLResult,
    kl_audiocraft,
    kl_audiocraft_clips,
    kl_stable_audio,
    kl_stable_audio_clips,
    summarise_kl,
)
from analysis.metrics.text import MODES, caption_item_scores, caption_scores, caption_table

__all__ = [
    "MODES",
    "ClipPair",
    "KLResult",
    "caption_item_scores",
    "caption_scores",
    "caption_table",
    "kl_audiocraft",
    "kl_audiocraft_clips",
    "kl_stable_audio",
    "kl_stable_audio_clips",
    "summarise_kl",
    "FADInfResult",
    "FADResult",
    "GaussianStats",
    "fad_inf",
    "fad_table",
    "frechet_distance",
    "kad",
    "subsample_equal",
]
