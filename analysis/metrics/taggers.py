"""AudioSet classifiers for the KL metric: PaSST (hear21passt, optional) and AST (transformers).

A tagger maps one mono segment at its ``sample_rate`` to the 527 AudioSet **logits**; the KL
functions in :mod:`analysis.metrics.kl` apply the softmax. Both models are in eval mode (PaSST's
random frequency augmentation is only off in eval mode).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch

from analysis.metrics.models import ModelMissingError, resolve_model

logger = logging.getLogger(__name__)

__all__ = ["AudioSetTagger", "ASTTagger", "PaSSTTagger", "get_tagger", "DEFAULT_AST"]

DEFAULT_AST = "MIT/ast-finetuned-audioset-10-10-0.4593"
NUM_AUDIOSET_CLASSES = 527


@runtime_checkable
class AudioSetTagger(Protocol):
    name: str
    sample_rate: int

    def logits(self, segment: np.ndarray) -> np.ndarray:
        """``(527,)`` AudioSet logits of one mono segment at ``sample_rate``."""
        ...


def _device(device: str | torch.device | None) -> torch.device:
    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class ASTTagger:
    """``ASTForAudioClassification`` (16 kHz, 128-bin fbank, 1024 frames = 10.24 s): the same 527
    classes as PaSST."""

    def __init__(
        self, model: str | Path = DEFAULT_AST, *, device: str | torch.device | None = None
    ) -> None:
        from transformers import ASTFeatureExtractor, ASTForAudioClassification

        path = resolve_model(model, kind="AST AudioSet classifier")
        self.device = _device(device)
        self.model = ASTForAudioClassification.from_pretrained(path).to(self.device).eval()
        self.feature_extractor = ASTFeatureExtractor.from_pretrained(path)
        n = self.model.config.num_labels
        if n != NUM_AUDIOSET_CLASSES:
            raise ValueError(
                f"{model} has {n} outputs, not the {NUM_AUDIOSET_CLASSES} AudioSet classes"
            )
        self.sample_rate = int(self.feature_extractor.sampling_rate)
        self.name = f"ast:{model}"

    @torch.inference_mode()
    def logits(self, segment: np.ndarray) -> np.ndarray:
        inputs = self.feature_extractor(
            np.asarray(segment, dtype=np.float32),
            sampling_rate=self.sample_rate,
            return_tensors="pt",
        )
        out = self.model(inputs["input_values"].to(self.device)).logits  # (1, 527)
        logits: np.ndarray = out[0].double().cpu().numpy()
        return logits


class PaSSTTagger:
    """PaSST-S (``passt_s_swa_p16_128_ap476``, 32 kHz) from hear21passt, weights from a local file.

    The weights are ``passt-s-f128-p16-s10-ap.476-swa.pt`` from the GitHub releases of
    kkoutini/PaSST (v0.0.1-audioset); hear21passt itself would download them at run time, so they
    are loaded here from ``checkpoint`` instead. ``pip install hear21passt`` where it installs
    beside your torch (its PyPI wheel has no weights).
    """

    sample_rate = 32000

    def __init__(self, checkpoint: str | Path, *, device: str | torch.device | None = None) -> None:
        try:
            from hear21passt.models.passt import get_model
            from hear21passt.models.preprocess import AugmentMelSTFT
            from hear21passt.wrapper import PasstBasicWrapper
        except ImportError as exc:
            raise ModelMissingError(
                "PaSST needs the hear21passt package (pip install hear21passt); use the AST "
                "classifier (--classifier ast) where it cannot be installed"
            ) from exc
        path = Path(checkpoint).expanduser()
        if not path.is_file():
            raise ModelMissingError(
                f"PaSST weights not found at {str(path)!r}: download "
                "passt-s-f128-p16-s10-ap.476-swa.pt from the v0.0.1-audioset release of "
                "kkoutini/PaSST on a machine with internet and pass its path"
            )
        mel = AugmentMelSTFT(
            n_mels=128,
            sr=32000,
            win_length=800,
            hopsize=320,
            n_fft=1024,
            freqm=48,
            timem=192,
            htk=False,
            fmin=0.0,
            fmax=None,
            norm=1,
            fmin_aug_range=10,
            fmax_aug_range=2000,
        )
        net = get_model(arch="passt_s_swa_p16_128_ap476", pretrained=False)
        state = torch.load(path, map_location="cpu", weights_only=True)
        net.load_state_dict(state.get("state_dict", state) if isinstance(state, dict) else state)
        self.device = _device(device)
        self.model = PasstBasicWrapper(mel=mel, net=net, mode="logits").to(self.device).eval()
        self.name = "passt:passt_s_swa_p16_128_ap476"

    @torch.inference_mode()
    def logits(self, segment: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.asarray(segment, dtype=np.float32))[None].to(self.device)  # (1, T)
        old_stft = torch.stft

        def stft(
            *args: Any, **kwargs: Any
        ) -> Any:  # old hear21passt versions call stft without return_complex
            kwargs.setdefault("return_complex", False)
            return old_stft(*args, **kwargs)

        torch.stft = stft
        try:
            out = self.model(x)
        finally:
            torch.stft = old_stft
        logits: np.ndarray = out.reshape(-1).double().cpu().numpy()
        return logits


def get_tagger(spec: str = "ast", *, device: str | torch.device | None = None) -> AudioSetTagger:
    """``ast[:MODEL]`` or ``passt:CHECKPOINT``."""
    name, _, path = spec.partition(":")
    name = name.strip().lower()
    if name == "ast":
        return ASTTagger(path or DEFAULT_AST, device=device)
    if name == "passt":
        if not path:
            raise ValueError(
                "passt needs its checkpoint: passt:/path/to/passt-s-f128-p16-s10-ap.476-swa.pt"
            )
        return PaSSTTagger(path, device=device)
    raise ValueError(f"unknown classifier {name!r}; choose ast[:MODEL] or passt:CHECKPOINT")
