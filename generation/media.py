"""Media ingest: probe, decode, measure, normalise, transcode and mux.

One file because every public function shares the private PyAV helpers at the end (open, atomic
output, decode, AAC and H.264 streams) and the conventions below.

Pure Python on PyAV, soundfile, soxr, pyloudnorm and numpy; no Django. The services of the
``generation`` app call these functions and turn a :class:`MediaError` into a form or command
error, so every message says which file is wrong, what is wrong with it and what to do.

Conventions:

* audio arrays are float32 in [-1, 1]; mono is ``(N,)``, multichannel is ``(C, N)``;
* every writer writes a temporary file beside the target and ``os.replace``-s it into place,
  so an exception (a bad input, a full disk) never leaves a half-made file behind;
* every MP4 written here has its ``moov`` box before ``mdat`` (faststart), H.264 video in
  yuv420p with even dimensions, and AAC-LC audio: what Safari, iOS and every other current
  browser play, and what Web Audio's ``decodeAudioData`` decodes.
"""

from __future__ import annotations

import contextlib
import math
import os
import struct
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pyloudnorm
import soundfile
import soxr

__all__ = [
    "MediaError",
    "MediaInfo",
    "check_not_silent",
    "decode_audio",
    "extract_audio",
    "integrated_loudness",
    "is_faststart",
    "mp4_top_level_boxes",
    "mux",
    "normalize_loudness",
    "probe",
    "transcode_video",
    "write_audio_m4a",
    "write_video",
    "write_wav",
]

PathLike = str | os.PathLike[str]

# Sample rates the AAC encoder and every browser's AAC decoder accept.
AAC_SAMPLE_RATES = (
    8000,
    11025,
    12000,
    16000,
    22050,
    24000,
    32000,
    44100,
    48000,
    64000,
    88200,
    96000,
)
# H.264 profiles every current browser decodes (Safari and iOS included).
WEB_H264_PROFILES = ("Baseline", "Constrained Baseline", "Main", "High")
# A file whose streams decode to less than its declared duration minus this is truncated.
_TRUNCATION_TOLERANCE_S = 0.5
_LOUDNESS_BLOCK_S = 0.4  # the BS.1770 gating block
_FADE_S = 0.01  # fade applied where audio is cut, so the cut does not click
_MAX_CODEC_PADDING = 2048  # samples: at most one AAC/MP3 frame of encoder padding


class MediaError(ValueError):
    """A media file or signal cannot be used; the message is meant for the person who gave it."""


@dataclass(frozen=True)
class MediaInfo:
    """What :func:`probe` found out about a file, after decoding every stream."""

    container: str
    duration_s: float
    has_video: bool
    has_audio: bool
    video_codec: str | None
    audio_codec: str | None
    width: int | None
    height: int | None
    fps: float | None
    sample_rate: int | None
    channels: int | None


# ---------------------------------------------------------------------------------------------
# Probing and decoding


def probe(
    path: PathLike,
    *,
    max_duration_s: float = 600.0,
    require_video: bool = False,
    require_audio: bool = False,
) -> MediaInfo:
    """Open ``path`` with PyAV, decode its first video and first audio stream completely, and
    describe it. Raises :class:`MediaError` for anything a study cannot use: a missing or empty
    file, an unknown container, corrupt or truncated data, a codec FFmpeg cannot decode, no
    audio/video stream (or not the one required), a zero or unknown duration, or a duration
    over ``max_duration_s``.

    Decoding everything is what catches a truncated or damaged file: the container header of a
    file cut in half still looks fine.
    """
    path = _existing_file(path)
    name = path.name
    with _open_input(path) as container:
        video = _first_video_stream(container)
        audio = container.streams.audio[0] if container.streams.audio else None
        if video is None and audio is None:
            raise MediaError(
                f"{name} contains no audio or video stream. Upload a video clip (MP4, MOV, WebM) "
                "or an audio file (WAV, FLAC, MP3, M4A)."
            )
        if require_video and video is None:
            raise MediaError(
                f"{name} has no video stream (it is audio only). A clip must be a video file, "
                "e.g. an MP4 with H.264 video."
            )
        if require_audio and audio is None:
            raise MediaError(
                f"{name} has no audio stream. Upload a file that contains the audio track."
            )
        streams = [s for s in (video, audio) if s is not None]
        for stream in streams:
            if stream.codec_context is None:
                raise MediaError(
                    f"{name}: its {stream.type} stream uses a codec this server cannot decode. "
                    "Convert it, e.g. to H.264 video with AAC audio in MP4, or to 16-bit PCM WAV."
                )

        declared = _declared_duration(container, streams)
        if declared is not None and declared > max_duration_s:
            raise _too_long(name, declared, max_duration_s)

        spans = _decode_all(container, streams, name, max_duration_s)
        for stream in streams:
            if spans[stream.index] is None:
                raise MediaError(
                    f"{name}: its {stream.type} stream is empty (0 s of {stream.type}) or cannot "
                    "be "
                    "decoded. Export or download it again."
                )
        _check_riff_complete(path)
        start = min(span[0] for span in spans.values())  # type: ignore[index]
        end = max(span[1] for span in spans.values())  # type: ignore[index]
        decoded_s = end - start
        if declared is not None and decoded_s < declared - _TRUNCATION_TOLERANCE_S:
            raise MediaError(
                f"{name} is truncated: it says it lasts {declared:.1f} s but its data ends after "
                f"{decoded_s:.1f} s. The upload or export was probably interrupted; upload it "
                "again."
            )
        duration = declared if declared is not None else decoded_s
        if not duration or duration <= 0 or not math.isfinite(duration):
            raise MediaError(f"{name} has no duration (0 s). Upload a file that has content.")
        if duration > max_duration_s:
            raise _too_long(name, duration, max_duration_s)

        fps = None
        if video is not None:
            rate = video.average_rate or video.guessed_rate or video.base_rate
            fps = float(rate) if rate else None
        return MediaInfo(
            container=container.format.name,
            duration_s=float(duration),
            has_video=video is not None,
            has_audio=audio is not None,
            video_codec=video.codec_context.name if video is not None else None,
            audio_codec=audio.codec_context.name if audio is not None else None,
            width=video.codec_context.width if video is not None else None,
            height=video.codec_context.height if video is not None else None,
            fps=fps,
            sample_rate=audio.codec_context.sample_rate if audio is not None else None,
            channels=audio.codec_context.channels if audio is not None else None,
        )


def decode_audio(
    path: PathLike, *, sample_rate: int | None = None, mono: bool = True
) -> tuple[np.ndarray, int]:
    """Decode the first audio stream of ``path`` to float32: ``(N,)`` when ``mono`` (the mean of
    the channels), else ``(C, N)``. With ``sample_rate`` the audio is resampled with soxr (high
    quality), so e.g. an 11025 Hz WAV comes back at 32000 Hz. Returns ``(samples, rate)``."""
    path = _existing_file(path)
    with _open_input(path) as container:
        if not container.streams.audio:
            raise MediaError(f"{path.name} has no audio track. Upload a file that contains audio.")
        stream = container.streams.audio[0]
        if stream.codec_context is None:
            raise MediaError(
                f"{path.name}: its audio uses a codec this server cannot decode. "
                "Convert it to WAV (16-bit PCM), FLAC or AAC."
            )
        rate = stream.codec_context.sample_rate
        declared = (
            int(round(float(stream.duration * stream.time_base) * rate))
            if stream.duration and stream.time_base is not None
            else None
        )
        resampler = av.AudioResampler(format="fltp", layout=stream.codec_context.layout, rate=rate)
        chunks: list[np.ndarray] = []
        for _, frame in _decoded(container, [stream], path.name):
            chunks.extend(out.to_ndarray() for out in resampler.resample(frame))
        chunks.extend(out.to_ndarray() for out in resampler.resample(None))
    if not chunks:
        raise MediaError(f"{path.name}: its audio track is empty.")
    samples = np.concatenate(chunks, axis=1).astype(np.float32, copy=False)  # (C, N)
    if declared and 0 < samples.shape[1] - declared <= _MAX_CODEC_PADDING:
        # AAC and MP3 encoders pad the last frame; the container knows the true length.
        samples = samples[:, :declared]
    if sample_rate is not None and int(sample_rate) != rate:
        samples = soxr.resample(samples.T, rate, int(sample_rate), quality="HQ").T
        rate = int(sample_rate)
    if mono:
        samples = samples.mean(axis=0)
    return np.ascontiguousarray(samples, dtype=np.float32), int(rate)


def extract_audio(
    in_path: PathLike, *, sample_rate: int | None = None, mono: bool = False
) -> tuple[np.ndarray, int]:
    """A clip's original audio track, as :func:`decode_audio` returns it (channels kept unless
    ``mono``). Raises :class:`MediaError` when the clip has no audio."""
    return decode_audio(in_path, sample_rate=sample_rate, mono=mono)


# ---------------------------------------------------------------------------------------------
# Levels and loudness


def check_not_silent(
    samples: np.ndarray,
    sample_rate: int,
    *,
    threshold_dbfs: float = -60.0,
    name: str = "The audio",
) -> None:
    """Raise :class:`MediaError` when the RMS level of ``samples`` is below ``threshold_dbfs``
    (a full-scale sine is -3 dBFS RMS), i.e. when the audio is silent or all but silent."""
    data = _channels_first(samples)
    if data.shape[1] == 0:
        raise MediaError(f"{name} is empty (0 samples).")
    rms = float(np.sqrt(np.mean(np.square(data, dtype=np.float64))))
    level = 20.0 * math.log10(rms) if rms > 0 else -math.inf
    if level < threshold_dbfs:
        shown = "-inf" if level == -math.inf else f"{level:.1f}"
        raise MediaError(
            f"{name} is silent (RMS level {shown} dBFS over {data.shape[1] / sample_rate:.1f} s, "
            f"below {threshold_dbfs:g} dBFS). Check that the right track was exported."
        )


def integrated_loudness(
    samples: np.ndarray, sample_rate: int, *, dual_mono: bool = True, name: str = "The audio"
) -> float:
    """Integrated loudness in LUFS, ITU-R BS.1770-4 (K-weighting, 400 ms blocks, absolute and
    relative gates) through pyloudnorm.

    A browser plays a mono track on both speakers, so by default a mono signal is measured as
    dual mono (the same signal on left and right, +3.01 LU over the one-channel figure). Mono
    and stereo tracks normalised to the same target then sound equally loud. Pass
    ``dual_mono=False`` for the plain one-channel BS.1770 value.
    """
    data = _channels_first(samples)
    if data.shape[0] > 5:
        raise MediaError(f"{name} has {data.shape[0]} channels; loudness is measured for up to 5.")
    seconds = data.shape[1] / sample_rate
    if data.shape[1] <= _LOUDNESS_BLOCK_S * sample_rate:
        raise MediaError(
            f"{name} is too short to measure its loudness ({seconds:.2f} s; ITU-R BS.1770 needs "
            f"more than {_LOUDNESS_BLOCK_S:g} s)."
        )
    if dual_mono and data.shape[0] == 1:
        data = np.concatenate([data, data])
    meter = pyloudnorm.Meter(sample_rate)
    lufs = float(meter.integrated_loudness(data.T.astype(np.float64)))
    if not math.isfinite(lufs):
        raise MediaError(
            f"{name} is silent: every 400 ms block is below the -70 LUFS gate of ITU-R BS.1770."
        )
    return lufs


def normalize_loudness(
    samples: np.ndarray,
    sample_rate: int,
    *,
    target_lufs: float = -23.0,
    peak_ceiling_dbfs: float = -1.0,
    dual_mono: bool = True,
    name: str = "The audio",
) -> tuple[np.ndarray, float, float]:
    """Scale ``samples`` to ``target_lufs`` integrated loudness by a single gain.

    Returns ``(normalised, measured_lufs_before, applied_gain_db)``. The gain is limited so that
    the sample peak stays at or under ``peak_ceiling_dbfs``: for a very dynamic track (a loud
    peak in a quiet piece) the result is then *quieter* than the target, by
    ``target_lufs - (measured + applied_gain_db)`` LU. Callers should store
    ``measured + applied_gain_db`` as the track's loudness and report the shortfall. No limiter
    or compressor is applied: the music is only made louder or softer, never reshaped.
    """
    data = _channels_first(samples)
    measured = integrated_loudness(data, sample_rate, dual_mono=dual_mono, name=name)
    gain_db = target_lufs - measured
    peak = float(np.max(np.abs(data)))
    if peak > 0:
        gain_db = min(gain_db, peak_ceiling_dbfs - 20.0 * math.log10(peak))
    out = (data * np.float32(10.0 ** (gain_db / 20.0))).astype(np.float32)
    if np.ndim(samples) == 1:
        out = out[0]
    return out, measured, float(gain_db)


# ---------------------------------------------------------------------------------------------
# Writers


def write_wav(
    samples: np.ndarray, sample_rate: int, out_path: PathLike, *, subtype: str = "PCM_16"
) -> Path:
    """Write ``samples`` as a WAV file (16-bit PCM unless ``subtype`` says otherwise)."""
    data = _clip(_channels_first(samples))
    out_path = Path(out_path)
    with _atomic_output(out_path) as tmp:
        soundfile.write(tmp, data.T, int(sample_rate), subtype=subtype, format="WAV")
    return out_path


def write_audio_m4a(
    samples: np.ndarray, sample_rate: int, out_path: PathLike, *, bitrate: int = 160_000
) -> Path:
    """Write ``samples`` as AAC-LC in an MP4/M4A container with faststart: a file that Web
    Audio's ``decodeAudioData`` decodes in every browser, Safari included. A sample rate AAC
    does not support is resampled to 48 kHz first."""
    data = _clip(_channels_first(samples))
    out_path = Path(out_path)
    fmt = "ipod" if out_path.suffix.lower() == ".m4a" else "mp4"
    with _atomic_output(out_path) as tmp:
        with av.open(tmp, mode="w", format=fmt, options={"movflags": "+faststart"}) as output:
            stream = _add_aac_stream(output, data.shape[0], _aac_rate(sample_rate), bitrate)
            _encode_audio(output, stream, data, int(sample_rate))
    return out_path


def transcode_video(
    in_path: PathLike,
    out_path: PathLike,
    *,
    max_height: int = 720,
    keep_audio: bool = False,
    crf: int = 23,
    preset: str = "veryfast",
    start_s: float | None = None,
    end_s: float | None = None,
) -> Path:
    """Re-encode a video as web-ready H.264 (Main profile, yuv420p, even dimensions, at most
    ``max_height`` lines, square pixels) in an MP4 with faststart. The result is muted unless
    ``keep_audio``, in which case the first audio stream is re-encoded as AAC. ``start_s`` and
    ``end_s`` keep only the pictures shown in ``[start_s, end_s)`` (seconds from the start of
    the video; video only, the audio of a segment is cut from the decoded samples)."""
    if (start_s is not None or end_s is not None) and keep_audio:
        raise ValueError("a segment is cut from the video only (keep_audio=False)")
    in_path = _existing_file(in_path)
    out_path = Path(out_path)
    with _open_input(in_path) as source, _atomic_output(out_path) as tmp:
        video = _first_video_stream(source)
        if video is None:
            raise MediaError(f"{in_path.name} has no video stream to transcode.")
        audio = source.streams.audio[0] if keep_audio and source.streams.audio else None
        if keep_audio and audio is None:
            raise MediaError(f"{in_path.name} has no audio track to keep.")
        with av.open(tmp, mode="w", format="mp4", options={"movflags": "+faststart"}) as output:
            width, height = _web_size(video, max_height)
            v_out = _add_h264_stream(output, video, width, height, crf=crf, preset=preset)
            a_out = None
            if audio is not None:
                a_out = _add_aac_stream(
                    output, audio.codec_context.channels, _aac_rate(audio.codec_context.sample_rate)
                )
            _transcode_streams(
                source,
                output,
                video,
                v_out,
                audio,
                a_out,
                in_path.name,
                window=(start_s, end_s) if start_s is not None or end_s is not None else None,
            )
    return out_path


def mux(
    video_path: PathLike,
    audio: np.ndarray,
    sample_rate: int,
    out_path: PathLike,
    *,
    duration_s: float | None = None,
    bitrate: int = 160_000,
    max_height: int = 720,
) -> Path:
    """Put ``audio`` under the pictures of ``video_path``: an MP4 with faststart holding the
    clip's video (copied when it is already web-ready H.264, otherwise re-encoded as by
    :func:`transcode_video`) and ``audio`` as AAC. Any audio of the clip itself is dropped.

    The audio is trimmed (with a 10 ms fade) or padded with silence to the video's duration,
    or to ``duration_s`` when given; the video is kept whole either way.
    """
    video_path = _existing_file(video_path)
    out_path = Path(out_path)
    data = _clip(_channels_first(audio))
    with _open_input(video_path) as source, _atomic_output(out_path) as tmp:
        video = _first_video_stream(source)
        if video is None:
            raise MediaError(f"{video_path.name} has no video stream to put the music under.")
        if duration_s is None:  # the video's own length; the clip's audio may run longer
            own = (
                float(video.duration * video.time_base)
                if video.duration and video.time_base
                else None
            )
            duration_s = own or _declared_duration(source, [video])
            if duration_s is None:
                raise MediaError(f"{video_path.name} has no known duration; transcode it first.")
        data = _fit_length(data, int(round(duration_s * sample_rate)), sample_rate)
        with av.open(tmp, mode="w", format="mp4", options={"movflags": "+faststart"}) as output:
            if _is_web_ready(video):
                v_out = output.add_stream_from_template(video)
                copy = True
            else:
                width, height = _web_size(video, max_height)
                v_out = _add_h264_stream(output, video, width, height)
                copy = False
            a_out = _add_aac_stream(output, data.shape[0], _aac_rate(sample_rate), bitrate)
            if copy:
                for packet in _packets(source, [video], video_path.name):
                    if packet.dts is None:  # the demuxer's flush packet
                        continue
                    packet.stream = v_out
                    output.mux(packet)
            else:
                _transcode_streams(source, output, video, v_out, None, None, video_path.name)
            _encode_audio(output, a_out, data, int(sample_rate))
    return out_path


def write_video(
    frames: Iterable[np.ndarray],
    fps: int | Fraction,
    out_path: PathLike,
    *,
    audio: np.ndarray | None = None,
    sample_rate: int | None = None,
    crf: int = 23,
    preset: str = "veryfast",
    audio_bitrate: int = 128_000,
) -> Path:
    """Encode RGB ``uint8`` frames shaped ``(H, W, 3)`` (even ``H`` and ``W``) as web-ready
    H.264 at ``fps``, with ``audio`` (float32 ``(N,)`` or ``(C, N)`` at ``sample_rate``) as AAC
    when given, into an MP4 with faststart. Used by the demo and by tests that need clips."""
    out_path = Path(out_path)
    sound: tuple[np.ndarray, int] | None = None  # (channels, samples) and its rate
    if audio is not None:
        if sample_rate is None:
            raise ValueError("sample_rate is required with audio")
        sound = (_clip(_channels_first(audio)), int(sample_rate))
    rate = Fraction(fps).limit_denominator(1001)
    with _atomic_output(out_path) as tmp:
        with av.open(tmp, mode="w", format="mp4", options={"movflags": "+faststart"}) as output:
            stream = a_out = None
            for index, image in enumerate(frames):
                if stream is None:
                    height, width = image.shape[:2]
                    if height % 2 or width % 2:
                        raise ValueError(f"frame size {width}x{height} must be even for yuv420p")
                    stream = output.add_stream(
                        "libx264",
                        rate=rate,
                        options={"preset": preset, "profile": "main", "crf": str(crf)},
                    )
                    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
                    if sound is not None:
                        a_out = _add_aac_stream(
                            output, sound[0].shape[0], _aac_rate(sound[1]), audio_bitrate
                        )
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
                frame = frame.reformat(format="yuv420p")
                frame.pts = index
                frame.time_base = 1 / rate
                output.mux(stream.encode(frame))
            if stream is None:
                raise ValueError("no frames to write")
            output.mux(stream.encode(None))
            if a_out is not None and sound is not None:
                _encode_audio(output, a_out, *sound)
    return out_path


# ---------------------------------------------------------------------------------------------
# MP4 structure


def mp4_top_level_boxes(path: PathLike) -> list[str]:
    """The types of the top-level boxes of an MP4/MOV file, in file order, e.g.
    ``['ftyp', 'moov', 'free', 'mdat']``."""
    boxes = []
    with open(path, "rb") as fh:
        size_total = os.fstat(fh.fileno()).st_size
        offset = 0
        while offset + 8 <= size_total:
            fh.seek(offset)
            size, kind = struct.unpack(">I4s", fh.read(8))
            if size == 1:  # 64-bit size follows
                size = struct.unpack(">Q", fh.read(8))[0]
            elif size == 0:  # the box runs to the end of the file
                size = size_total - offset
            boxes.append(kind.decode("latin-1"))
            if size < 8:
                break
            offset += size
    return boxes


def is_faststart(path: PathLike) -> bool:
    """True when the ``moov`` box comes before ``mdat``, so a browser can start playing (and
    seek with HTTP Range) before the whole file has arrived."""
    boxes = mp4_top_level_boxes(path)
    return "moov" in boxes and "mdat" in boxes and boxes.index("moov") < boxes.index("mdat")


# ---------------------------------------------------------------------------------------------
# Helpers


def _existing_file(path: PathLike) -> Path:
    path = Path(path)
    if not path.exists():
        raise MediaError(f"{path.name}: file not found ({path}).")
    if not path.is_file():
        raise MediaError(f"{path.name} is not a file.")
    if path.stat().st_size == 0:
        raise MediaError(f"{path.name} is empty (0 bytes). The upload or export failed; try again.")
    return path


@contextlib.contextmanager
def _open_input(path: Path) -> Iterator[av.container.InputContainer]:
    try:
        container = av.open(str(path), mode="r", metadata_errors="ignore")
    except av.error.FFmpegError as exc:
        raise MediaError(
            f"{path.name} is not a media file this server can read: unknown container or damaged "
            "header. Upload a video (MP4, MOV, WebM, MKV) or audio file (WAV, FLAC, MP3, M4A, OGG)."
        ) from exc
    try:
        yield container
    finally:
        container.close()


@contextlib.contextmanager
def _atomic_output(out_path: Path) -> Iterator[str]:
    """Yield a temporary path beside ``out_path``; on success fsync it and move it into place,
    on any failure delete it. The target never exists half-written."""
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out_path.parent, prefix=f".{out_path.name}.", suffix=".part")
    os.close(fd)
    try:
        yield tmp
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a web server must be able to read it
        os.replace(tmp, out_path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _first_video_stream(container: av.container.InputContainer) -> av.VideoStream | None:
    for stream in container.streams.video:
        # Cover art in an audio file is a one-picture "video" stream: not a video.
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    return None


def _check_riff_complete(path: Path) -> None:
    """A WAV cut short still opens and decodes (FFmpeg estimates its duration from the file
    size), so compare the size its ``data`` chunk declares with the bytes that are there."""
    with open(path, "rb") as fh:
        head = fh.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return
        size = os.fstat(fh.fileno()).st_size
        offset = 12
        while offset + 8 <= size:
            fh.seek(offset)
            kind, length = struct.unpack("<4sI", fh.read(8))
            if kind == b"data":
                if length in (0, 0xFFFFFFFF):  # written while streaming: size unknown
                    return
                present = size - offset - 8
                if present < length:
                    raise MediaError(
                        f"{path.name} is truncated: its header announces {length} bytes of audio "
                        f"but only {present} are there. The upload or export was probably "
                        "interrupted; upload it again."
                    )
                return
            offset += 8 + length + (length & 1)


def _declared_duration(container: av.container.Container, streams: list) -> float | None:
    if container.duration is not None and container.duration > 0:
        return container.duration / av.time_base
    spans = [
        float(s.duration * s.time_base) for s in streams if s.duration and s.time_base is not None
    ]
    return max(spans) if spans else None


def _decode_all(
    container: av.container.InputContainer, streams: list, name: str, max_duration_s: float
) -> dict[int, tuple[float, float] | None]:
    """Decode every frame of ``streams``; return each stream's (first, last) presentation time."""
    spans: dict[int, tuple[float, float] | None] = {s.index: None for s in streams}
    for stream in streams:
        if stream.type == "video":
            stream.thread_type = "AUTO"
    first: float | None = None
    for stream, frame in _decoded(container, streams, name):
        if frame.time is None:
            continue
        if isinstance(frame, av.AudioFrame):
            length = frame.samples / frame.sample_rate
        elif frame.duration:
            length = float(frame.duration * frame.time_base)
        else:
            rate = stream.average_rate or stream.guessed_rate
            length = 1.0 / float(rate) if rate else 0.0
        start, end = frame.time, frame.time + length
        span = spans[stream.index]
        spans[stream.index] = (
            (start, end) if span is None else (min(span[0], start), max(span[1], end))
        )
        first = start if first is None else min(first, start)
        if end - first > max_duration_s + 1:  # no declared duration, and it goes on and on
            raise _too_long(name, end - first, max_duration_s, at_least=True)
    return spans


def _packets(
    container: av.container.InputContainer, streams: list, name: str
) -> Iterator[av.Packet]:
    """Demux ``streams`` (the final empty packets flush the decoders) and check that every
    packet the container's index announces was there: a file cut short often still demuxes
    without an error, just with fewer packets."""
    counts = {stream.index: 0 for stream in streams}
    try:
        for packet in container.demux(*streams):
            if packet.size:
                counts[packet.stream.index] += 1
            yield packet
    except av.error.FFmpegError as exc:
        raise _damaged(name, exc) from exc
    for stream in streams:
        if stream.frames and counts[stream.index] < stream.frames:
            raise MediaError(
                f"{name} is truncated: its {stream.type} stream should hold {stream.frames} "
                "packets "
                f"but only {counts[stream.index]} are there. The upload or export was probably "
                "interrupted; upload it again."
            )


def _decoded(container: av.container.InputContainer, streams: list, name: str) -> Iterator[tuple]:
    """(stream, frame) for every frame of ``streams``, in file order."""
    by_index = {stream.index: stream for stream in streams}
    for packet in _packets(container, streams, name):
        stream = by_index[packet.stream.index]
        try:
            frames = packet.decode()
        except av.error.FFmpegError as exc:
            raise _damaged(name, exc) from exc
        for frame in frames:
            yield stream, frame


def _damaged(name: str, exc: Exception) -> MediaError:
    return MediaError(
        f"{name} is damaged or truncated: decoding failed ({_ffmpeg_reason(exc)}). The upload or "
        "export was probably interrupted; export or download it again."
    )


def _ffmpeg_reason(exc: Exception) -> str:
    return getattr(exc, "strerror", None) or str(exc)


def _too_long(name: str, seconds: float, limit: float, *, at_least: bool = False) -> MediaError:
    amount = f"more than {seconds:.0f}" if at_least else f"{seconds:.1f}"
    return MediaError(
        f"{name} is too long ({amount} s; the limit is {limit:g} s). Cut it to the part you need."
    )


def _channels_first(samples: np.ndarray) -> np.ndarray:
    """``(N,)`` or ``(C, N)`` -> float32 ``(C, N)``; reject anything else and non-finite values."""
    data = np.asarray(samples)
    if data.ndim == 1:
        data = data[None, :]
    if data.ndim != 2 or data.shape[0] > 16:
        raise ValueError(f"expected audio shaped (N,) or (channels, N), got {np.shape(samples)}")
    data = data.astype(np.float32, copy=False)
    if not np.all(np.isfinite(data)):
        raise MediaError("The audio contains NaN or infinite samples; the generator failed.")
    return data


def _clip(data: np.ndarray) -> np.ndarray:
    return np.clip(data, -1.0, 1.0)


def _fit_length(data: np.ndarray, length: int, sample_rate: int) -> np.ndarray:
    """Trim (with a short fade-out) or zero-pad ``(C, N)`` audio to ``length`` samples."""
    if data.shape[1] >= length:
        data = data[:, :length].copy()
        fade = min(length, int(_FADE_S * sample_rate))
        if fade:
            data[:, length - fade :] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
        return data
    return np.pad(data, ((0, 0), (0, length - data.shape[1])))


def _aac_rate(sample_rate: int) -> int:
    return int(sample_rate) if int(sample_rate) in AAC_SAMPLE_RATES else 48000


def _add_aac_stream(output, channels: int, rate: int, bitrate: int = 160_000):
    if channels not in (1, 2):
        channels = 2
    stream = output.add_stream("aac", rate=rate)
    stream.layout = "mono" if channels == 1 else "stereo"
    stream.bit_rate = int(bitrate)
    return stream


def _encode_audio(output, stream, data: np.ndarray, sample_rate: int) -> None:
    """Encode float32 ``(C, N)`` audio into ``stream``, resampling to the stream's rate and
    mixing down to its layout as needed."""
    rate = stream.codec_context.sample_rate
    channels = stream.codec_context.channels
    if data.shape[0] != channels:
        data = np.repeat(data.mean(axis=0, keepdims=True), channels, axis=0)
    if rate != sample_rate:
        data = np.ascontiguousarray(soxr.resample(data.T, sample_rate, rate, quality="HQ").T)
        data = _clip(data)
    layout = "mono" if channels == 1 else "stereo"
    step = 4096
    for start in range(0, data.shape[1], step):
        chunk = np.ascontiguousarray(data[:, start : start + step], dtype=np.float32)
        frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=layout)
        frame.sample_rate = rate
        frame.pts = start
        frame.time_base = Fraction(1, rate)
        output.mux(stream.encode(frame))
    output.mux(stream.encode(None))


def _web_size(stream, max_height: int) -> tuple[int, int]:
    """Output size with square pixels, at most ``max_height`` lines, both sides even."""
    ctx = stream.codec_context
    width, height = ctx.width, ctx.height
    sar = stream.sample_aspect_ratio or ctx.sample_aspect_ratio
    if sar and sar > 0 and sar != 1:
        width = width * float(sar)
    if height > max_height:
        width = width * max_height / height
        height = max_height

    def even(x: float) -> int:  # rounding down, so a size never grows
        return max(2, int(x // 2) * 2)

    return even(width), even(height)


def _add_h264_stream(
    output, source, width: int, height: int, *, crf: int = 23, preset: str = "veryfast"
):
    rate = source.average_rate or source.guessed_rate or source.base_rate or Fraction(25)
    rate = Fraction(rate).limit_denominator(1001)
    stream = output.add_stream(
        "libx264", rate=rate, options={"preset": preset, "profile": "main", "crf": str(crf)}
    )
    stream.width = width
    stream.height = height
    stream.pix_fmt = "yuv420p"
    return stream


def _transcode_streams(
    source,
    output,
    video,
    v_out,
    audio,
    a_out,
    name: str,
    *,
    window: tuple[float | None, float | None] | None = None,
) -> None:
    """Decode ``video`` (and ``audio`` when given) from ``source`` and encode them into
    ``v_out``/``a_out``. Video is written at a constant frame rate: each frame goes to the slot
    of its timestamp, and frames that land in an already filled slot are dropped. ``window``
    (start, end) in seconds from the first picture keeps only the pictures inside it."""
    rate = Fraction(v_out.codec_context.framerate or v_out.average_rate)
    width, height = v_out.codec_context.width, v_out.codec_context.height
    video.thread_type = "AUTO"
    resampler = None
    audio_limit = None  # the source's declared length, to drop the encoder's tail padding
    if audio is not None:
        layout = "mono" if a_out.codec_context.channels == 1 else "stereo"
        out_rate = a_out.codec_context.sample_rate
        resampler = av.AudioResampler(format="fltp", layout=layout, rate=out_rate)
        if audio.duration and audio.time_base is not None:
            audio_limit = int(round(float(audio.duration * audio.time_base) * out_rate))

    audio_pts = 0

    def encode_audio(frames) -> None:
        nonlocal audio_pts
        for out in frames:
            if audio_limit is not None and audio_pts + out.samples > audio_limit:
                keep = audio_limit - audio_pts
                if keep <= 0:
                    continue
                out = av.AudioFrame.from_ndarray(
                    np.ascontiguousarray(out.to_ndarray()[:, :keep]), format="fltp", layout=layout
                )
                out.sample_rate = out_rate
            out.pts = audio_pts
            out.time_base = Fraction(1, out_rate)
            audio_pts += out.samples
            output.mux(a_out.encode(out))

    streams = [video] + ([audio] if audio is not None else [])
    t0: float | Fraction | None = None
    last_pts = -1
    first: float | Fraction | None = None  # the source's first picture time (``window``'s origin)
    lo, hi = window if window is not None else (None, None)
    for _, frame in _decoded(source, streams, name):
        if isinstance(frame, av.VideoFrame):
            t: float | Fraction = frame.time if frame.time is not None else (last_pts + 1) / rate
            if window is not None:
                first = t if first is None else first
                if lo is not None and t - first < lo - 1e-6:
                    continue
                if hi is not None and t - first >= hi - 1e-6:
                    break
            if t0 is None:
                t0 = t
            pts = int(round((t - t0) * rate))
            if pts <= last_pts:
                continue
            out = frame.reformat(width=width, height=height, format="yuv420p")
            out.pts = pts
            out.time_base = 1 / rate
            last_pts = pts
            output.mux(v_out.encode(out))
        elif resampler is not None:  # audio frames come only when ``audio`` is given
            encode_audio(resampler.resample(frame))
    if resampler is not None:
        encode_audio(resampler.resample(None))
    if last_pts < 0:
        if window is not None:
            raise MediaError(
                f"{name}: no picture between {lo or 0:g} s and {hi:g} s; is the segment inside "
                "the video?"
                if hi is not None
                else f"{name}: no picture after {lo:g} s"
            )
        raise MediaError(f"{name}: its video stream holds no decodable pictures.")
    output.mux(v_out.encode(None))
    if a_out is not None:
        output.mux(a_out.encode(None))


def _is_web_ready(stream) -> bool:
    ctx = stream.codec_context
    return (
        ctx is not None
        and ctx.name == "h264"
        and ctx.pix_fmt == "yuv420p"
        and ctx.profile in WEB_H264_PROFILES
        and ctx.width % 2 == 0
        and ctx.height % 2 == 0
    )
