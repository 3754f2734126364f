"""Audio embedding backends for FAD/KAD: VGGish, CLAP, EnCodec and MERT/HuBERT.

Every backend is an :class:`Embedder`: ``embed(audio, sample_rate=...)`` takes one mono clip and
returns its frame embeddings ``(frames, D)`` as float32. :func:`get_embedder` builds one from a
``NAME[:PATH]`` spec, the form the ``audio_metrics`` command takes:

===================  =========================================================================
``vggish-google``    VGGish, Google's framing (1 s windows, 0.5 s hop, peak normalisation);
                     the framing of Google's FAD reference and of MusicGen's FAD. PATH: a .pth.
``vggish-torch``     VGGish, non-overlapping 0.96 s examples (fadtk, frechet-audio-distance).
``vggish``           alias of ``vggish-google``.
``clap``             transformers ``ClapModel`` audio embedding, one per 10 s window (48 kHz).
``encodec``          transformers ``EncodecModel`` encoder output, one per frame (75 Hz at 24 kHz).
``mert``/``hubert``  transformers ``HubertModel`` hidden states (``last_hidden_state`` by default).
===================  =========================================================================

Models load from a local path or the local Hugging Face cache, never from the network.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, cast, runtime_checkable

import numpy as np
import torch

from analysis.metrics.audio import load_audio, resample_mono
from analysis.metrics.models import resolve_model

if TYPE_CHECKING:
    from analysis.metrics.vggish import Framing

logger = logging.getLogger(__name__)

__all__ = [
    "Embedder",
    "Embeddings",
    "VGGishEmbedder",
    "ClapEmbedder",
    "EncodecEmbedder",
    "HubertEmbedder",
    "get_embedder",
    "embed_clips",
    "EMBEDDERS",
    "DEFAULT_MODELS",
]

# Default model ids per backend (used when the spec has no PATH); they must be in the local cache.
DEFAULT_MODELS: dict[str, str] = {
    "clap": "laion/clap-htsat-unfused",
    "encodec": "facebook/encodec_24khz",
    "mert": "m-a-p/MERT-v1-95M",
    "hubert": "facebook/hubert-base-ls960",
}


@runtime_checkable
class Embedder(Protocol):
    """One clip in, ``(frames, D)`` float32 out."""

    name: str
    framing: str
    sample_rate: int

    def embed(self, audio: np.ndarray, *, sample_rate: int) -> np.ndarray: ...


def _pick_device(device: str | torch.device | None) -> torch.device:
    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class VGGishEmbedder:
    """VGGish (see :mod:`analysis.metrics.vggish`) under the ``google`` or ``torchvggish``
    framing."""

    sample_rate = 16000

    def __init__(
        self,
        weights: str | Path,
        *,
        framing: str = "google",
        batch_size: int = 64,
        device: str | torch.device | None = None,
    ) -> None:
        from analysis.metrics.vggish import FRAMINGS, load_vggish

        if framing not in FRAMINGS:
            raise ValueError(
                f"unknown VGGish framing {framing!r}; choose one of {sorted(FRAMINGS)}"
            )
        self.framing = framing
        self.name = "vggish-google" if framing == "google" else "vggish-torch"
        self.weights = str(weights)
        self.device = _pick_device(device)
        self.model = load_vggish(weights).to(self.device)
        self.batch_size = batch_size

    @torch.inference_mode()
    def embed(self, audio: np.ndarray, *, sample_rate: int) -> np.ndarray:
        from analysis.metrics.vggish import waveform_to_examples

        framing = cast("Framing", self.framing)  # checked against FRAMINGS in __init__
        examples = waveform_to_examples(audio, sample_rate=sample_rate, framing=framing)
        dim = self.model.config.embedding_size
        if examples.shape[0] == 0:
            return np.zeros((0, dim), np.float32)
        x = torch.from_numpy(examples).unsqueeze(1)  # (N, 1, 96, 64)
        out = [
            self.model(x[i : i + self.batch_size].to(self.device)).float().cpu()
            for i in range(0, x.shape[0], self.batch_size)
        ]
        emb: np.ndarray = torch.cat(out).numpy()  # (N, 128)
        return emb


class ClapEmbedder:
    """transformers ``ClapModel.get_audio_features``: one embedding per ``window_seconds`` window.

    The clip is cut into non-overlapping windows (a last piece shorter than 1 s is dropped unless
    it is the only one); the processor pads or truncates each to the model's input length.
    """

    def __init__(
        self,
        model: str | Path = DEFAULT_MODELS["clap"],
        *,
        window_seconds: float = 10.0,
        device: str | torch.device | None = None,
    ) -> None:
        from transformers import ClapModel, ClapProcessor

        path = resolve_model(model, kind="CLAP")
        self.processor = ClapProcessor.from_pretrained(path)
        self.device = _pick_device(device)
        self.model = ClapModel.from_pretrained(path).to(self.device).eval()
        self.sample_rate = int(self.processor.feature_extractor.sampling_rate)
        self.window_seconds = window_seconds
        self.name = "clap"
        self.framing = f"clap-{window_seconds:g}s"
        self.model_id = str(model)

    def _windows(self, x: np.ndarray) -> list[np.ndarray]:
        size = int(self.window_seconds * self.sample_rate)
        pieces = [x[i : i + size] for i in range(0, max(x.size, 1), size)]
        return [p for k, p in enumerate(pieces) if k == 0 or p.size >= self.sample_rate]

    @torch.inference_mode()
    def audio_features(self, windows: list[np.ndarray]) -> torch.Tensor:
        inputs = self.processor(audio=windows, sampling_rate=self.sample_rate, return_tensors="pt")
        inputs = {k: v.to(self.device) for k, v in inputs.items()}
        out = self.model.get_audio_features(**inputs)
        return _as_tensor(out)

    @torch.inference_mode()
    def text_features(self, texts: list[str]) -> torch.Tensor:
        inputs = self.processor(text=texts, return_tensors="pt", padding=True)
        inputs = {k: v.to(self.device) for k, v in inputs.items()}
        return _as_tensor(self.model.get_text_features(**inputs))

    def embed(self, audio: np.ndarray, *, sample_rate: int) -> np.ndarray:
        x = resample_mono(audio, sample_rate, self.sample_rate)
        emb: np.ndarray = self.audio_features(self._windows(x)).float().cpu().numpy()
        return emb


def _as_tensor(out: object) -> torch.Tensor:
    # transformers 5 may return a model output object from get_*_features
    if isinstance(out, torch.Tensor):
        return out
    for attr in ("pooler_output", "audio_embeds", "text_embeds"):
        value = getattr(out, attr, None)
        if isinstance(value, torch.Tensor):
            return value
    raise TypeError(f"unexpected CLAP feature output {type(out).__name__}")


class EncodecEmbedder:
    """transformers ``EncodecModel`` encoder output before quantisation, one row per frame (fadtk's
    ``encodec-emb``)."""

    def __init__(
        self,
        model: str | Path = DEFAULT_MODELS["encodec"],
        *,
        device: str | torch.device | None = None,
    ) -> None:
        from transformers import EncodecModel

        path = resolve_model(model, kind="EnCodec")
        self.device = _pick_device(device)
        self.model = EncodecModel.from_pretrained(path).to(self.device).eval()
        self.sample_rate = int(self.model.config.sampling_rate)
        self.name = "encodec"
        self.framing = "encodec-frames"
        self.model_id = str(model)

    @torch.inference_mode()
    def embed(self, audio: np.ndarray, *, sample_rate: int) -> np.ndarray:
        x = resample_mono(audio, sample_rate, self.sample_rate)
        wav = torch.from_numpy(x).view(1, 1, -1).to(self.device)  # (1, 1, T)
        channels = self.model.config.audio_channels
        if channels > 1:
            wav = wav.expand(1, channels, -1)
        emb = self.model.encoder(wav)  # (1, D, frames)
        frames: np.ndarray = emb[0].transpose(0, 1).float().cpu().numpy()  # (frames, D)
        return frames


class HubertEmbedder:
    """transformers ``HubertModel`` (MERT-v1 loads as one): frame hidden states of one layer.

    ``layer=None`` takes ``last_hidden_state`` (as MU-LLaMA does); an integer takes that entry of
    ``hidden_states`` (0 = the CNN features after projection).
    """

    def __init__(
        self,
        model: str | Path = DEFAULT_MODELS["mert"],
        *,
        layer: int | None = None,
        name: str = "mert",
        sample_rate: int | None = None,
        device: str | torch.device | None = None,
    ) -> None:
        from transformers import AutoFeatureExtractor, HubertModel

        path = resolve_model(model, kind="MERT/HuBERT")
        self.device = _pick_device(device)
        self.model = HubertModel.from_pretrained(path).to(self.device).eval()
        try:
            self.feature_extractor = AutoFeatureExtractor.from_pretrained(path)
        except (OSError, ValueError):
            self.feature_extractor = None
        rate = sample_rate or getattr(self.feature_extractor, "sampling_rate", None)
        if rate is None:
            raise ValueError(
                f"{model}: no feature extractor with a sampling rate; pass sample_rate="
            )
        self.sample_rate = int(rate)
        self.layer = layer
        self.name = name if layer is None else f"{name}-L{layer}"
        self.framing = "hubert-frames"
        self.model_id = str(model)

    @torch.inference_mode()
    def embed(self, audio: np.ndarray, *, sample_rate: int) -> np.ndarray:
        x = resample_mono(audio, sample_rate, self.sample_rate)
        if self.feature_extractor is not None:
            values = self.feature_extractor(
                x, sampling_rate=self.sample_rate, return_tensors="pt"
            ).input_values
        else:
            values = torch.from_numpy(x)[None]
        out = self.model(values.to(self.device), output_hidden_states=self.layer is not None)
        hidden = out.last_hidden_state if self.layer is None else out.hidden_states[self.layer]
        frames: np.ndarray = hidden[0].float().cpu().numpy()  # (frames, D)
        return frames


EMBEDDERS = ("vggish", "vggish-google", "vggish-torch", "clap", "encodec", "mert", "hubert")


def get_embedder(spec: str, *, device: str | torch.device | None = None) -> Embedder:
    """Build an embedder from ``NAME[:PATH]`` (e.g. ``vggish:/models/vggish-10086976.pth``,
    ``clap:laion/larger_clap_music``, ``mert``). See the module docstring for the names."""
    name, _, path = spec.partition(":")
    name = name.strip().lower()
    if name in ("vggish", "vggish-google", "vggish-torch"):
        if not path:
            raise ValueError(
                f"{name} needs the path of its weights: {name}:/path/to/vggish-10086976.pth"
            )
        framing = "torchvggish" if name == "vggish-torch" else "google"
        return VGGishEmbedder(path, framing=framing, device=device)
    if name == "clap":
        return ClapEmbedder(path or DEFAULT_MODELS["clap"], device=device)
    if name == "encodec":
        return EncodecEmbedder(path or DEFAULT_MODELS["encodec"], device=device)
    if name in ("mert", "hubert"):
        return HubertEmbedder(path or DEFAULT_MODELS[name], name=name, device=device)
    raise ValueError(f"unknown embedding {name!r}; choose one of {', '.join(EMBEDDERS)}")


@dataclass
class Embeddings:
    """Frame embeddings of many clips: ``frames`` (N, D) and the clip each row came from."""

    frames: np.ndarray
    clip_ids: np.ndarray
    embedder: str
    framing: str
    counts: dict[str, int] = field(default_factory=dict)

    def for_clips(self, clips: Iterable[str]) -> np.ndarray:
        """The rows of the given clips (e.g. one condition's tracks)."""
        wanted = np.isin(self.clip_ids, list(clips))
        return self.frames[wanted]


def embed_clips(
    embedder: Embedder, clips: Mapping[str, str | Path | tuple[np.ndarray, int]]
) -> Embeddings:
    """Embed every clip (a file path, or ``(audio, sample_rate)``) and stack the frames.

    A clip that yields no frame (e.g. shorter than VGGish's 1 s under the Google framing) is
    logged and contributes nothing; its count is 0 in ``counts``.
    """
    rows, ids, counts = [], [], {}
    for clip, source in clips.items():
        if isinstance(source, tuple):
            audio, rate = source
        else:
            audio, rate = load_audio(source)
        frames = embedder.embed(audio, sample_rate=rate)
        counts[clip] = int(frames.shape[0])
        if frames.shape[0] == 0:
            logger.warning("clip %s gave no %s frames (too short?)", clip, embedder.name)
            continue
        rows.append(frames)
        ids.extend([clip] * frames.shape[0])
    if not rows:
        raise ValueError("no clip produced any embedding frame")
    return Embeddings(
        frames=np.concatenate(rows).astype(np.float32),
        clip_ids=np.asarray(ids),
        embedder=embedder.name,
        framing=embedder.framing,
        counts=counts,
    )
