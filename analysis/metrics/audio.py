"""Small audio helpers shared by the metric backends: reading, down-mixing and resampling."""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["load_audio", "resample_mono", "to_mono"]


def to_mono(audio: np.ndarray) -> np.ndarray:
    """Average the channels of ``(samples,)``, ``(samples, channels)`` or ``(channels, samples)``
    audio.

    A 2-D array is read as ``(samples, channels)`` (soundfile's layout) when it has more rows than
    columns, else as ``(channels, samples)``.
    """
    x = np.asarray(audio, dtype=np.float32)
    if x.ndim == 1:
        return x
    if x.ndim != 2:
        raise ValueError(f"audio must be 1-D or 2-D; got shape {x.shape}")
    mono: np.ndarray = x.mean(axis=1 if x.shape[0] >= x.shape[1] else 0).astype(np.float32)
    return mono


def resample_mono(audio: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Mono float32 audio at ``rate_out`` (soxr's high-quality resampler when the rates differ)."""
    x = to_mono(audio)
    if int(rate_in) == int(rate_out) or x.size == 0:
        return x
    import soxr

    out: np.ndarray = soxr.resample(x, int(rate_in), int(rate_out), quality="HQ")
    return out.astype(np.float32)


def load_audio(path: str | Path, *, sample_rate: int | None = None) -> tuple[np.ndarray, int]:
    """Read an audio file as mono float32 in [-1, 1]; resample when ``sample_rate`` is given.

    WAV/FLAC/OGG go through soundfile; other containers (MP4, M4A, MP3) through PyAV.
    """
    path = Path(path)
    try:
        import soundfile as sf

        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
        mono = data.mean(axis=1).astype(np.float32)
    except Exception:  # not a format libsndfile reads: decode with PyAV
        mono, rate = _load_with_av(path)
    if sample_rate is not None and rate != sample_rate:
        mono = resample_mono(mono, rate, sample_rate)
        rate = sample_rate
    return mono, int(rate)


def _load_with_av(path: Path) -> tuple[np.ndarray, int]:
    import av

    with av.open(str(path)) as container:
        stream = next((s for s in container.streams if s.type == "audio"), None)
        if stream is None:
            raise ValueError(f"{path} has no audio stream")
        rate = stream.rate
        chunks = []
        for frame in container.decode(stream):
            arr = frame.to_ndarray()
            if arr.dtype.kind in "iu":
                arr = arr.astype(np.float32) / float(np.iinfo(arr.dtype).max)
            if frame.format.is_planar:
                chunks.append(arr.astype(np.float32).mean(axis=0))
            else:
                chunks.append(
                    arr.reshape(-1, len(frame.layout.channels)).astype(np.float32).mean(axis=1)
                )
    return (np.concatenate(chunks) if chunks else np.zeros(0, np.float32)), int(rate)
