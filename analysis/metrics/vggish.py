"""VGGish in PyTorch with Google's front end, for FAD.

* Front end (``tensorflow/models: research/audioset/vggish/mel_features.py`` and
  ``vggish_input.py``): 16 kHz mono; magnitude STFT with a 25 ms periodic Hann window, 10 ms hop,
  512-point FFT, no padding; 64 HTK-mel bands from 125 to 7500 Hz (triangles in mel space, DC bin
  excluded); ``log(mel + 0.01)``; examples of 96 frames (0.96 s, 64 bands).
* Two framings, each under its own name (research/C_metrics.md 1.1 and 1.4):

  - ``"google"``: Google's FAD reference (``frechet_audio_distance/audioset_model.py``): the clip
    is divided by ``max(0.1, max(x))`` (the signed peak), then cut into 1 s windows every 0.5 s,
    and each window gives one 0.96 s example. About 19 examples per 10 s.
  - ``"torchvggish"``: fadtk and the ``frechet-audio-distance`` package (torchvggish): no
    normalisation, one log-mel over the clip, non-overlapping 96-frame examples. About 10 per 10 s.

* Network: the VGG of ``vggish_slim.py`` (conv 64, pool, conv 128, pool, 2 x conv 256, pool,
  2 x conv 512, pool, fc 4096, fc 4096, fc 128). The embedding is the **pre-activation** output of
  the last layer (Google's ``vggish/embedding`` tensor; torchvggish with its last ReLU removed), no
  PCA, no quantisation.

Weights: the torchvggish state dict ``vggish-10086976.pth`` (converted from Google's checkpoint;
keys ``features.N.*`` and ``embeddings.N.*``) loads as is. The layer widths are read from the
state dict, so a tiny random VGGish saved with :func:`save_vggish` loads through the same code.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import nn

from analysis.metrics.audio import resample_mono

logger = logging.getLogger(__name__)

__all__ = [
    "SAMPLE_RATE",
    "VGGish",
    "VGGishConfig",
    "log_mel_spectrogram",
    "mel_matrix",
    "waveform_to_examples",
    "load_vggish",
    "save_vggish",
    "build_tiny_vggish",
]

SAMPLE_RATE = 16000
STFT_WINDOW = 400  # 25 ms
STFT_HOP = 160  # 10 ms
FFT_LENGTH = 512
NUM_MEL_BINS = 64
MEL_MIN_HZ = 125.0
MEL_MAX_HZ = 7500.0
LOG_OFFSET = 0.01
EXAMPLE_FRAMES = 96  # 0.96 s
GOOGLE_WINDOW = SAMPLE_RATE  # 1 s
GOOGLE_STEP = 8000  # 0.5 s, --model_step_size
GOOGLE_MIN_PEAK = 0.1

Framing = Literal["google", "torchvggish"]
FRAMINGS: dict[str, str] = {
    "google": "1 s windows every 0.5 s, peak-normalised (Google's FAD reference)",
    "torchvggish": (
        "non-overlapping 0.96 s examples, no normalisation (fadtk, frechet-audio-distance)"
    ),
}


def _hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    return 1127.0 * np.log1p(np.asarray(hz, dtype=np.float64) / 700.0)


def mel_matrix(
    *,
    num_spectrogram_bins: int = FFT_LENGTH // 2 + 1,
    num_mel_bins: int = NUM_MEL_BINS,
    sample_rate: int = SAMPLE_RATE,
    lower_hz: float = MEL_MIN_HZ,
    upper_hz: float = MEL_MAX_HZ,
) -> np.ndarray:
    """``(num_spectrogram_bins, num_mel_bins)`` HTK triangles, linear in mel, DC row zero."""
    bins_mel = _hz_to_mel(np.linspace(0.0, sample_rate / 2.0, num_spectrogram_bins))
    edges = np.linspace(_hz_to_mel(lower_hz), _hz_to_mel(upper_hz), num_mel_bins + 2)
    lower, center, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (bins_mel[:, None] - lower) / (center - lower)
    falling = (upper - bins_mel[:, None]) / (upper - center)
    weights: np.ndarray = np.maximum(0.0, np.minimum(rising, falling))
    weights[0, :] = 0.0
    return weights


_MEL = mel_matrix()
_WINDOW = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(STFT_WINDOW) / STFT_WINDOW)  # periodic Hann


def log_mel_spectrogram(audio: np.ndarray) -> np.ndarray:
    """VGGish log-mel of 16 kHz mono audio: ``(frames, 64)`` with ``frames = 1 + (len - 400) //
    160``."""
    x = np.asarray(audio, dtype=np.float64).reshape(-1)
    if x.size < STFT_WINDOW:
        return np.zeros((0, NUM_MEL_BINS))
    n_frames = 1 + (x.size - STFT_WINDOW) // STFT_HOP
    frames = np.lib.stride_tricks.sliding_window_view(x, STFT_WINDOW)[::STFT_HOP][:n_frames]
    spectrum = np.abs(np.fft.rfft(frames * _WINDOW, FFT_LENGTH))  # (frames, 257)
    log_mel: np.ndarray = np.log(spectrum @ _MEL + LOG_OFFSET)
    return log_mel


def _examples(log_mel: np.ndarray) -> np.ndarray:
    n = log_mel.shape[0] // EXAMPLE_FRAMES
    return log_mel[: n * EXAMPLE_FRAMES].reshape(n, EXAMPLE_FRAMES, NUM_MEL_BINS)


def waveform_to_examples(audio: np.ndarray, *, sample_rate: int, framing: Framing) -> np.ndarray:
    """VGGish input examples ``(N, 96, 64)`` of a clip under the named framing (see module doc)."""
    if framing not in FRAMINGS:
        raise ValueError(f"unknown framing {framing!r}; choose one of {sorted(FRAMINGS)}")
    x = resample_mono(audio, sample_rate, SAMPLE_RATE).astype(np.float64)
    if framing == "torchvggish":
        return _examples(log_mel_spectrogram(x)).astype(np.float32)
    if x.size:
        x = x / max(GOOGLE_MIN_PEAK, float(x.max()))
    starts = range(0, x.size - GOOGLE_WINDOW + 1, GOOGLE_STEP)
    out = [_examples(log_mel_spectrogram(x[s : s + GOOGLE_WINDOW])) for s in starts]
    if not out:
        return np.zeros((0, EXAMPLE_FRAMES, NUM_MEL_BINS), np.float32)
    return np.concatenate(out).astype(np.float32)


@dataclass(frozen=True)
class VGGishConfig:
    """Layer widths; the defaults are the published VGGish."""

    channels: tuple[int, int, int, int] = (64, 128, 256, 512)
    hidden_size: int = 4096
    embedding_size: int = 128


class VGGish(nn.Module):
    """The VGGish network; ``forward`` maps ``(N, 1, 96, 64)`` log-mel examples to ``(N, 128)``."""

    def __init__(self, config: VGGishConfig | None = None) -> None:
        super().__init__()
        self.config = config or VGGishConfig()
        c1, c2, c3, c4 = self.config.channels

        def conv(cin: int, cout: int) -> list[nn.Module]:
            return [nn.Conv2d(cin, cout, kernel_size=3, padding=1), nn.ReLU(inplace=True)]

        pool = nn.MaxPool2d(kernel_size=2, stride=2)
        # Same indices as torchvggish, so its state dict loads: convs at 0, 3, 6, 8, 11, 13.
        self.features = nn.Sequential(
            *conv(1, c1),
            pool,
            *conv(c1, c2),
            pool,
            *conv(c2, c3),
            *conv(c3, c3),
            pool,
            *conv(c3, c4),
            *conv(c4, c4),
            pool,
        )
        h = self.config.hidden_size
        self.embeddings = nn.Sequential(
            nn.Linear(c4 * 6 * 4, h),
            nn.ReLU(inplace=True),
            nn.Linear(h, h),
            nn.ReLU(inplace=True),
            nn.Linear(h, self.config.embedding_size),  # pre-activation: no final ReLU
        )

    def forward(self, examples: torch.Tensor) -> torch.Tensor:
        x = self.features(examples)  # (N, C, 6, 4)
        x = x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)  # TF's (H, W, C) flattening order
        return self.embeddings(x)  # (N, 128)


def _config_from_state(state: dict[str, torch.Tensor]) -> VGGishConfig:
    try:
        channels = tuple(int(state[f"features.{i}.weight"].shape[0]) for i in (0, 3, 6, 11))
        hidden = int(state["embeddings.0.weight"].shape[0])
        emb = int(state["embeddings.4.weight"].shape[0])
    except KeyError as exc:
        raise ValueError(
            f"not a VGGish state dict (missing {exc.args[0]}); expected torchvggish's "
            "vggish-10086976.pth layout (features.N.*, embeddings.N.*)"
        ) from None
    return VGGishConfig(channels=channels, hidden_size=hidden, embedding_size=emb)  # type: ignore[arg-type]


def load_vggish(path: str | Path) -> VGGish:
    """Load VGGish weights from a local ``.pth`` state dict (torchvggish's, or one from
    :func:`save_vggish`).

    PCA parameters (``pproc.*``) in the file are ignored: FAD uses the raw embedding.
    """
    from analysis.metrics.models import ModelMissingError

    path = Path(path).expanduser()
    if not path.is_file():
        raise ModelMissingError(
            f"VGGish weights not found at {str(path)!r}. Download torchvggish's "
            "vggish-10086976.pth (GitHub release v0.1 of harritaylor/torchvggish) on a machine "
            "with internet and pass its path, e.g. `--embedding "
            "vggish:/models/vggish-10086976.pth`."
        )
    state = torch.load(path, map_location="cpu", weights_only=True)
    state = {k: v for k, v in state.items() if not k.startswith("pproc.")}
    model = VGGish(_config_from_state(state))
    model.load_state_dict(state, strict=True)
    model.eval()
    return model


def save_vggish(model: VGGish, path: str | Path) -> Path:
    """Write ``model``'s state dict in torchvggish's layout."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), path)
    return path


def build_tiny_vggish(out_dir: str | Path, *, seed: int = 0) -> Path:
    """A random VGGish with tiny widths (128-d output) at ``out_dir/vggish.pth``, for tests."""
    torch.manual_seed(seed)
    model = VGGish(VGGishConfig(channels=(4, 8, 8, 8), hidden_size=32, embedding_size=128))
    return save_vggish(model, Path(out_dir) / "vggish.pth")
