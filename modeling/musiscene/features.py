"""Frozen MERT features: every hidden state mean-pooled over time, cached on disk.

Definition (MU-LLaMA's ``encode_audio``, research/B_modeling.md 2.2 and 3.5): the first 60 s of a
clip at 24 kHz mono go through MERT (a transformers ``HubertModel``); its L+1 hidden states
(embeddings and every layer, with the last one taken *after* the final LayerNorm, i.e.
``last_hidden_state``, as transformers 4.30 returned it) are averaged over time -> (L+1, D).
Features are cached by the audio file's SHA-256 and an encoder id, so training runs the encoder
once per clip.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from ..audio import load_audio
from ..hub import resolve_pretrained

logger = logging.getLogger(__name__)

MIN_SECONDS = 0.05  # below this MERT's convolutional front end has no output frame


class MertEncoder:
    """MERT-v1 (330M or 95M) loaded as a plain ``HubertModel``, frozen."""

    def __init__(
        self,
        name_or_path: str,
        *,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        max_seconds: float = 60.0,
    ) -> None:
        from transformers import HubertModel, Wav2Vec2FeatureExtractor

        path = resolve_pretrained(name_or_path, kind="MERT music encoder")
        self.name = name_or_path
        self.device = torch.device(device)
        self.max_seconds = max_seconds
        self.model = (
            HubertModel.from_pretrained(path, local_files_only=True, dtype=dtype)
            .to(self.device)
            .eval()
        )
        self.model.requires_grad_(False)
        if (path / "preprocessor_config.json").is_file():
            self.processor = Wav2Vec2FeatureExtractor.from_pretrained(path, local_files_only=True)
        else:  # MERT-v1's published preprocessor settings
            self.processor = Wav2Vec2FeatureExtractor(
                feature_size=1,
                sampling_rate=24000,
                padding_value=0.0,
                do_normalize=True,
                return_attention_mask=False,
            )
        self.sample_rate = int(self.processor.sampling_rate)
        config_text = json.dumps(self.model.config.to_dict(), sort_keys=True, default=str)
        digest = hashlib.sha256(
            f"{config_text}|{self.sample_rate}|{max_seconds}|v1".encode()
        ).hexdigest()[:16]
        # the id names the encoder and everything that changes its features
        self.encoder_id = f"{Path(name_or_path).name or name_or_path}-{digest}"

    @property
    def n_states(self) -> int:
        return int(self.model.config.num_hidden_layers) + 1

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)

    @torch.no_grad()
    def encode_waveform(self, waveform: np.ndarray) -> torch.Tensor:
        """(T,) mono float32 at ``sample_rate`` -> (L+1, D) float32 pooled hidden states."""
        waveform = waveform[: int(self.max_seconds * self.sample_rate)]
        if waveform.size < MIN_SECONDS * self.sample_rate:
            raise ValueError(
                f"clip too short for MERT: {waveform.size} samples at {self.sample_rate} Hz"
            )
        inputs = self.processor(waveform, sampling_rate=self.sample_rate, return_tensors="pt")
        values = inputs["input_values"].to(self.device, self.model.dtype)  # (1, T)
        out = self.model(input_values=values, output_hidden_states=True)
        states = tuple(out.hidden_states[:-1]) + (out.last_hidden_state,)  # L+1 x (1, T', D)
        return torch.stack(states, dim=0)[:, 0].float().mean(dim=1).cpu()  # (L+1, D)

    def encode_file(self, path: Path | str) -> torch.Tensor:
        return self.encode_waveform(
            load_audio(path, sample_rate=self.sample_rate, max_seconds=self.max_seconds)
        )


def file_sha256(path: Path | str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class FeatureCache:
    """Pooled features on disk: ``root/<encoder_id>/<sha256 of the audio file>.safetensors``."""

    def __init__(self, root: Path | str, *, encoder_id: str) -> None:
        self.dir = Path(root) / encoder_id
        self.dir.mkdir(parents=True, exist_ok=True)

    def path_for(self, audio: Path | str) -> Path:
        return self.dir / f"{file_sha256(audio)}.safetensors"

    def get(self, audio: Path | str) -> torch.Tensor | None:
        path = self.path_for(audio)
        return load_file(str(path))["features"] if path.is_file() else None

    def put(self, audio: Path | str, features: torch.Tensor) -> None:
        path = self.path_for(audio)
        tmp = path.with_suffix(".tmp")
        save_file({"features": features.contiguous()}, str(tmp))
        tmp.replace(path)  # atomic: concurrent workers never read half a file


def encode_files(
    paths: Sequence[Path | str],
    *,
    encoder: MertEncoder,
    cache: FeatureCache | None = None,
    progress: Iterable[Path | str] | None = None,
) -> torch.Tensor:
    """Pooled features of each file, (N, L+1, D); cached ones are read, others encoded and
    stored."""
    out: list[torch.Tensor] = []
    hits = 0
    for path in progress if progress is not None else paths:
        feats = cache.get(path) if cache is not None else None
        if feats is None:
            feats = encoder.encode_file(path)
            if cache is not None:
                cache.put(path, feats)
        else:
            hits += 1
        out.append(feats)
    logger.info("features for %d clips (%d from the cache)", len(out), hits)
    return torch.stack(out) if out else torch.zeros(0, encoder.n_states, encoder.dim)
