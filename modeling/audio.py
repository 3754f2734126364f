"""Audio loading for the models: any file soundfile or PyAV decodes -> mono float32 at a rate.

Resampling uses soxr (high quality). A file that cannot be decoded raises
:class:`AudioDecodeError` naming the file; a missing file raises ``FileNotFoundError``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)


class AudioDecodeError(ValueError):
    """An audio file exists but is corrupt, empty or in a format nothing here decodes."""


def _read_soundfile(path: Path, max_seconds: float | None) -> tuple[np.ndarray, int]:
    import soundfile as sf

    with sf.SoundFile(str(path)) as f:
        frames = -1 if max_seconds is None else int(round(max_seconds * f.samplerate))
        data = f.read(frames=frames, dtype="float32", always_2d=True)  # (T, C)
        return data.mean(axis=1), f.samplerate


def _read_pyav(path: Path, max_seconds: float | None) -> tuple[np.ndarray, int]:
    import av

    with av.open(str(path)) as container:
        if not container.streams.audio:
            raise AudioDecodeError(f"{path} has no audio stream")
        stream = container.streams.audio[0]
        rate = stream.codec_context.sample_rate or stream.rate
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        limit = None if max_seconds is None else int(round(max_seconds * rate))
        chunks: list[np.ndarray] = []
        total = 0
        for frame in container.decode(stream):
            for out in resampler.resample(frame):
                chunk = out.to_ndarray().reshape(-1)
                chunks.append(chunk)
                total += chunk.size
            if limit is not None and total >= limit:
                break
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray().reshape(-1))
        data = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
        return (data if limit is None else data[:limit]).astype(np.float32), int(rate)


def load_audio(
    path: Path | str, *, sample_rate: int, max_seconds: float | None = None
) -> np.ndarray:
    """Decode ``path``, mix to mono, keep the first ``max_seconds`` and resample to ``sample_rate``.

    Returns a float32 array of shape (T,).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"audio file not found: {path}")
    errors: list[str] = []
    for reader in (_read_soundfile, _read_pyav):
        try:
            data, rate = reader(path, max_seconds)
            break
        except AudioDecodeError:
            raise
        except Exception as exc:  # each backend raises its own error types
            errors.append(f"{reader.__name__.removeprefix('_read_')}: {exc}")
    else:
        raise AudioDecodeError(
            f"cannot decode audio file {path} (corrupt or unsupported): {'; '.join(errors)}"
        )
    if data.size == 0:
        raise AudioDecodeError(f"audio file {path} holds no samples")
    if not np.all(np.isfinite(data)):
        raise AudioDecodeError(f"audio file {path} holds non-finite samples")
    if rate != sample_rate:
        import soxr

        data = soxr.resample(data, rate, sample_rate, quality="HQ").astype(np.float32)
    return data
