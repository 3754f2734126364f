"""generation.media: probing and rejecting bad files, loudness, writers, transcode and mux.

Every fixture file is made here, in tmp_path; nothing binary is committed.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile

from generation import media
from generation.media import MediaError

SR = 32000


# ---------------------------------------------------------------------------------------------
# Fixture makers


def tone(
    seconds: float = 2.0, *, sr: int = SR, freq: float = 440.0, amp: float = 0.3
) -> np.ndarray:
    t = np.arange(int(round(seconds * sr))) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def music_like(seconds: float = 6.0, *, sr: int = 48000, seed: int = 0) -> np.ndarray:
    """Pink-ish noise with a beat: a signal with the dynamics of music, not a steady tone."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.maximum(np.fft.rfftfreq(n, 1 / sr), 20.0)
    x = np.fft.irfft(spec / np.sqrt(f), n)
    beat = 0.4 + 0.6 * np.exp(-((np.arange(n) / sr) % 0.5) / 0.12)
    x = x * beat
    return (0.2 * x / np.max(np.abs(x))).astype(np.float32)


def moving_frames(n: int, size: tuple[int, int] = (96, 64)) -> list[np.ndarray]:
    w, h = size
    x = np.linspace(0, 1, w)[None, :, None]
    y = np.linspace(0, 1, h)[:, None, None]
    return [
        (255 * (0.5 + 0.5 * np.sin(2 * np.pi * (x + y + i / 10) + np.array([0, 2, 4])))).astype(
            np.uint8
        )
        for i in range(n)
    ]


@pytest.fixture
def clip(tmp_path) -> Path:
    """A 2 s web-ready clip: H.264 + AAC, 96x64 at 12 fps, a 440 Hz tone."""
    return media.write_video(
        moving_frames(24), 12, tmp_path / "clip.mp4", audio=tone(2.0), sample_rate=SR
    )


def write_raw_mp4(
    path: Path,
    *,
    seconds=2.0,
    fps=12,
    codec="libx264",
    fmt="mp4",
    size=(96, 64),
    pix_fmt="yuv420p",
    audio=True,
    options=None,
) -> Path:
    """An MP4 (or other container) written without faststart, or with an unusual codec."""
    with av.open(str(path), "w", format=fmt, options=options or {}) as out:
        vs = out.add_stream(codec, rate=fps)
        vs.width, vs.height, vs.pix_fmt = size[0], size[1], pix_fmt
        a_out = None
        if audio:
            a_out = out.add_stream("aac", rate=SR)
            a_out.layout = "mono"
        for i, img in enumerate(moving_frames(int(seconds * fps), size)):
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = i
            out.mux(vs.encode(frame))
        out.mux(vs.encode(None))
        if a_out is not None:
            media._encode_audio(out, a_out, tone(seconds)[None, :], SR)
    return path


def wav_with_format_tag(
    path: Path, tag: int, *, bits: int = 16, sr: int = 16000, n: int = 16000
) -> Path:
    data = np.zeros(n, "<i2").tobytes()
    fmt = struct.pack("<HHIIHH", tag, 1, sr, sr * bits // 8, bits // 8, bits)
    body = (
        b"WAVE"
        + b"fmt "
        + struct.pack("<I", len(fmt))
        + fmt
        + b"data"
        + struct.pack("<I", len(data))
        + data
    )
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path


def stream_details(path: Path) -> dict:
    with av.open(str(path)) as c:
        v = c.streams.video[0] if c.streams.video else None
        a = c.streams.audio[0] if c.streams.audio else None
        return {
            "brand": path.read_bytes()[8:12],
            "video": v
            and (
                v.codec_context.name,
                v.codec_context.pix_fmt,
                v.codec_context.profile,
                v.codec_context.width,
                v.codec_context.height,
            ),
            "audio": a
            and (
                a.codec_context.name,
                a.codec_context.profile,
                a.codec_context.sample_rate,
                a.codec_context.channels,
            ),
        }


def no_leftovers(folder: Path) -> bool:
    return not [p for p in folder.iterdir() if p.name.endswith(".part")]


# ---------------------------------------------------------------------------------------------
# probe: good files


def test_it_probes_a_web_ready_clip(clip):
    info = media.probe(clip, require_video=True, require_audio=True)
    assert info.container.startswith("mov,mp4")
    assert (info.video_codec, info.audio_codec) == ("h264", "aac")
    assert (info.width, info.height, info.fps) == (96, 64, 12.0)
    assert (info.sample_rate, info.channels) == (SR, 1)
    assert abs(info.duration_s - 2.0) < 0.05
    assert info.has_video and info.has_audio


@pytest.mark.parametrize(
    "subtype, rate, codec",
    [
        ("PCM_16", 44100, "pcm_s16le"),
        ("PCM_U8", 11025, "pcm_u8"),
        ("IMA_ADPCM", 32000, "adpcm_ima_wav"),
        ("MS_ADPCM", 22050, "adpcm_ms"),
        ("ULAW", 8000, "pcm_mulaw"),
        ("FLOAT", 48000, "pcm_f32le"),
    ],
)
def test_it_accepts_and_decodes_unusual_wavs(tmp_path, subtype, rate, codec):
    path = tmp_path / f"{subtype}.wav"
    soundfile.write(path, tone(1.5, sr=rate, freq=300.0), rate, subtype=subtype)
    info = media.probe(path, require_audio=True)
    assert (info.audio_codec, info.sample_rate, info.has_video) == (codec, rate, False)
    samples, sr = media.decode_audio(path, sample_rate=SR)
    assert sr == SR and samples.dtype == np.float32 and samples.ndim == 1
    assert abs(len(samples) - 1.5 * SR) < 0.05 * SR  # ADPCM pads its last block
    spectrum = np.abs(np.fft.rfft(samples))
    assert (
        abs(np.argmax(spectrum) * SR / len(samples) - 300.0) < 3.0
    )  # the tone survives resampling


def test_it_resamples_11025_hz_with_soxr(tmp_path):
    path = media.write_wav(tone(2.0, sr=11025, freq=1000.0), 11025, tmp_path / "low.wav")
    native, native_sr = media.decode_audio(path)
    up, up_sr = media.decode_audio(path, sample_rate=48000)
    assert (native_sr, len(native)) == (11025, 22050)
    assert up_sr == 48000 and len(up) == 96000
    assert abs(np.sqrt(np.mean(up**2)) - np.sqrt(np.mean(native**2))) < 0.01


def test_it_keeps_channels_when_asked(tmp_path):
    stereo = np.stack([tone(1.0, freq=300), tone(1.0, freq=500, amp=0.1)])
    path = media.write_wav(stereo, SR, tmp_path / "stereo.wav")
    both, _ = media.decode_audio(path, mono=False)
    mono, _ = media.decode_audio(path)
    assert both.shape == (2, SR) and mono.shape == (SR,)
    assert np.allclose(mono, both.mean(axis=0), atol=1e-6)
    original, _ = media.extract_audio(path)
    assert original.shape == (2, SR)


def test_it_ignores_cover_art_in_an_audio_file(tmp_path):
    path = tmp_path / "song.m4a"
    with av.open(str(path), "w", format="mp4") as out:
        a_out = out.add_stream("aac", rate=SR)
        a_out.layout = "mono"
        art = out.add_stream("mjpeg", rate=1)
        art.width, art.height, art.pix_fmt = 16, 16, "yuvj420p"
        art.disposition = av.stream.Disposition.attached_pic
        frame = av.VideoFrame.from_ndarray(
            np.zeros((16, 16, 3), np.uint8), format="rgb24"
        ).reformat(format="yuvj420p")
        frame.pts = 0
        out.mux(art.encode(frame))
        out.mux(art.encode(None))
        media._encode_audio(out, a_out, tone(1.0)[None, :], SR)
    info = media.probe(path)
    assert info.has_audio and not info.has_video
    with pytest.raises(MediaError, match="no video stream"):
        media.probe(path, require_video=True)


# ---------------------------------------------------------------------------------------------
# probe: bad files, each with a clear message


def test_it_rejects_a_missing_file(tmp_path):
    with pytest.raises(MediaError, match="ghost.mp4: file not found"):
        media.probe(tmp_path / "ghost.mp4")


def test_it_rejects_an_empty_file(tmp_path):
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(MediaError, match=r"empty\.mp4 is empty \(0 bytes\)"):
        media.probe(tmp_path / "empty.mp4")


def test_it_rejects_random_bytes(tmp_path):
    path = tmp_path / "noise.mp4"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 20000, dtype=np.uint8).tobytes())
    with pytest.raises(MediaError, match="not a media file this server can read"):
        media.probe(path)


def test_it_rejects_a_text_file_renamed_mp4(tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_text("These are my notes, not a video.\n" * 50)
    with pytest.raises(MediaError, match="notes.mp4 is not a media file"):
        media.probe(path)


@pytest.mark.parametrize("keep", [0.5, 0.9])
def test_it_rejects_a_truncated_faststart_mp4(clip, tmp_path, keep):
    data = clip.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(MediaError, match="truncated"):
        media.probe(cut)


def test_it_rejects_a_truncated_mp4_whose_index_is_at_the_end(tmp_path):
    full = write_raw_mp4(tmp_path / "plain.mp4")
    assert not media.is_faststart(full)  # moov after mdat: cutting it loses the index
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with pytest.raises(MediaError, match="not a media file this server can read"):
        media.probe(cut)


def test_it_rejects_a_video_only_mp4_cut_in_half(tmp_path):
    full = media.write_video(moving_frames(48), 12, tmp_path / "muted.mp4")
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with pytest.raises(MediaError, match="truncated"):
        media.probe(cut)


def test_it_rejects_corrupt_data_in_the_middle(clip, tmp_path):
    data = bytearray(clip.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 1500] = (
        np.random.default_rng(1).integers(0, 256, 1500, dtype=np.uint8).tobytes()
    )
    bad = tmp_path / "corrupt.mp4"
    bad.write_bytes(bytes(data))
    with pytest.raises(MediaError, match="damaged or truncated"):
        media.probe(bad)


def test_it_rejects_a_truncated_wav(tmp_path):
    full = media.write_wav(tone(2.0), SR, tmp_path / "full.wav")
    cut = tmp_path / "cut.wav"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with pytest.raises(MediaError, match="cut.wav is truncated"):
        media.probe(cut)


def test_it_rejects_a_wav_with_an_unsupported_codec(tmp_path):
    path = wav_with_format_tag(tmp_path / "odd.wav", 0x1234)
    with pytest.raises(MediaError, match="codec this server cannot decode"):
        media.probe(path)
    with pytest.raises(MediaError, match="codec"):
        media.decode_audio(path)


def test_it_rejects_a_wav_with_no_samples(tmp_path):
    path = tmp_path / "zero.wav"
    soundfile.write(path, np.zeros(0, np.float32), SR)
    with pytest.raises(MediaError, match="empty"):
        media.probe(path)


def test_it_rejects_files_that_are_too_long(clip, tmp_path):
    with pytest.raises(MediaError, match=r"too long \(2\.0 s; the limit is 1 s\)"):
        media.probe(clip, max_duration_s=1.0)
    long_wav = media.write_wav(np.zeros(SR * 4, np.float32) + 0.1, SR, tmp_path / "long.wav")
    with pytest.raises(MediaError, match="too long"):
        media.probe(long_wav, max_duration_s=3.0)


def test_it_rejects_a_missing_required_stream(tmp_path):
    muted = media.write_video(moving_frames(12), 12, tmp_path / "muted.mp4")
    with pytest.raises(MediaError, match="muted.mp4 has no audio stream"):
        media.probe(muted, require_audio=True)
    with pytest.raises(MediaError, match="no audio track"):
        media.extract_audio(muted)
    wav = media.write_wav(tone(1.0), SR, tmp_path / "song.wav")
    with pytest.raises(MediaError, match="song.wav has no video stream"):
        media.probe(wav, require_video=True)


def test_media_error_is_a_value_error():
    assert issubclass(MediaError, ValueError)


# ---------------------------------------------------------------------------------------------
# Silence and loudness


def test_it_rejects_silence():
    with pytest.raises(MediaError, match=r"silent \(RMS level -inf dBFS"):
        media.check_not_silent(np.zeros(SR), SR)
    with pytest.raises(MediaError, match="silent"):
        media.check_not_silent(tone(1.0, amp=10 ** (-75 / 20)), SR)  # -78 dBFS RMS
    media.check_not_silent(tone(1.0, amp=0.01), SR)  # -43 dBFS RMS: quiet, not silent
    with pytest.raises(MediaError, match="silent"):
        media.check_not_silent(tone(1.0, amp=0.01), SR, threshold_dbfs=-40.0)
    with pytest.raises(MediaError, match="empty"):
        media.check_not_silent(np.zeros(0), SR)


@pytest.mark.parametrize("level_dbfs", [-23.0, -33.0])
def test_loudness_matches_ebu_tech_3341(level_dbfs):
    # EBU Tech 3341 cases 1 and 2: a stereo 1 kHz sine at -23 (-33) dBFS peak on each channel
    # reads -23.0 (-33.0) LUFS +/- 0.1.
    sine = tone(20.0, sr=48000, freq=1000.0, amp=10 ** (level_dbfs / 20))
    assert media.integrated_loudness(np.stack([sine, sine]), 48000) == pytest.approx(
        level_dbfs, abs=0.1
    )


def test_mono_is_measured_as_dual_mono_unless_asked():
    sine = tone(10.0, sr=48000, freq=1000.0, amp=10 ** (-23 / 20))
    assert media.integrated_loudness(sine, 48000) == pytest.approx(-23.0, abs=0.1)
    assert media.integrated_loudness(sine, 48000, dual_mono=False) == pytest.approx(-26.01, abs=0.1)


def test_loudness_needs_more_than_one_gating_block():
    with pytest.raises(MediaError, match=r"too short to measure its loudness \(0\.30 s"):
        media.integrated_loudness(tone(0.3), SR)
    with pytest.raises(MediaError, match="silent"):
        media.integrated_loudness(np.zeros(SR), SR)


@pytest.mark.parametrize("target", [-23.0, -16.0, -30.0])
def test_normalisation_reaches_the_target(target):
    samples = music_like()
    out, before, gain = media.normalize_loudness(samples, 48000, target_lufs=target)
    assert out.dtype == np.float32 and out.shape == samples.shape
    assert before == pytest.approx(media.integrated_loudness(samples, 48000))
    assert media.integrated_loudness(out, 48000) == pytest.approx(target, abs=0.5)
    assert gain == pytest.approx(target - before, abs=1e-6)


def test_normalisation_keeps_stereo_and_its_balance():
    left, right = music_like(seed=1), 0.5 * music_like(seed=2)
    out, _, gain = media.normalize_loudness(np.stack([left, right]), 48000)
    assert out.shape == (2, left.size)
    assert np.allclose(out[1] / 10 ** (gain / 20), right, atol=1e-6)
    assert media.integrated_loudness(out, 48000) == pytest.approx(-23.0, abs=0.5)


def test_normalisation_is_limited_by_the_peak_ceiling():
    samples = 0.01 * music_like()  # about -60 LUFS ...
    samples[1000] = 0.5  # ... with one loud click at -6 dBFS
    out, before, gain = media.normalize_loudness(
        samples, 48000, target_lufs=-14.0, peak_ceiling_dbfs=-1.0
    )
    assert 20 * np.log10(np.max(np.abs(out))) == pytest.approx(-1.0, abs=0.01)
    assert gain == pytest.approx(-1.0 - 20 * np.log10(0.5), abs=0.01)
    reached = media.integrated_loudness(out, 48000)
    assert reached < -14.0 - 3  # quieter than the target: the caller reports before + gain
    assert reached == pytest.approx(before + gain, abs=0.1)


def test_it_rejects_non_finite_samples():
    bad = tone(1.0)
    bad[10] = np.nan
    with pytest.raises(MediaError, match="NaN"):
        media.normalize_loudness(bad, SR)


# ---------------------------------------------------------------------------------------------
# Writers


def test_m4a_is_aac_in_mp4_with_faststart(tmp_path):
    out = media.write_audio_m4a(tone(3.0), SR, tmp_path / "track.m4a")
    assert media.mp4_top_level_boxes(out)[:2] == ["ftyp", "moov"]
    assert media.is_faststart(out)
    details = stream_details(out)
    assert details["audio"] == ("aac", "LC", SR, 1) and details["video"] is None
    assert details["brand"] == b"M4A "
    back, sr = media.decode_audio(out)
    assert sr == SR and len(back) == 3 * SR  # the encoder's padding is not returned
    assert np.corrcoef(back[SR : 2 * SR], tone(3.0)[SR : 2 * SR])[0, 1] > 0.99  # and it is in sync


def test_m4a_resamples_a_rate_aac_does_not_have(tmp_path):
    out = media.write_audio_m4a(tone(1.0, sr=37000), 37000, tmp_path / "odd.m4a")
    assert media.probe(out).sample_rate == 48000


def test_m4a_writes_stereo(tmp_path):
    out = media.write_audio_m4a(np.stack([tone(1.0), tone(1.0, freq=550)]), SR, tmp_path / "s.m4a")
    assert media.probe(out).channels == 2


def test_wav_round_trip(tmp_path):
    samples = tone(1.0)
    out = media.write_wav(samples, SR, tmp_path / "sub" / "t.wav")  # makes the folder
    back, sr = soundfile.read(out, dtype="float32")
    assert sr == SR and np.allclose(back, samples, atol=1 / 32768 + 1e-6)


def test_wav_clips_out_of_range_samples(tmp_path):
    out = media.write_wav(np.array([0.0, 2.0, -2.0] * 1000, np.float32), SR, tmp_path / "loud.wav")
    back, _ = soundfile.read(out, dtype="float32")
    assert back.max() <= 1.0 and back.min() >= -1.0


# ---------------------------------------------------------------------------------------------
# Transcode and mux


@pytest.fixture
def legacy_clip(tmp_path) -> Path:
    """A clip no browser should be sent: Motion JPEG in Matroska, odd size 101x75, with audio."""
    return write_raw_mp4(
        tmp_path / "legacy.mkv", codec="mjpeg", fmt="matroska", size=(101, 75), pix_fmt="yuvj420p"
    )


def test_transcode_makes_muted_web_ready_h264(legacy_clip, tmp_path):
    out = media.transcode_video(legacy_clip, tmp_path / "web.mp4", max_height=48)
    assert media.is_faststart(out)
    details = stream_details(out)
    codec, pix_fmt, profile, width, height = details["video"]
    assert (codec, pix_fmt) == ("h264", "yuv420p")
    assert profile in ("Main", "Baseline", "Constrained Baseline")
    assert (width % 2, height % 2) == (0, 0) and height == 48 and width == 64  # 101x75 -> 64.6x48
    assert details["audio"] is None
    info = media.probe(out)
    assert abs(info.duration_s - 2.0) < 0.1 and info.fps == 12.0


def test_transcode_keeps_audio_when_asked(legacy_clip, tmp_path):
    out = media.transcode_video(legacy_clip, tmp_path / "web.mp4", keep_audio=True)
    info = media.probe(out, require_audio=True)
    assert (info.video_codec, info.audio_codec, info.width, info.height) == ("h264", "aac", 100, 74)
    assert abs(info.duration_s - 2.0) < 0.1


def test_transcode_keeps_small_videos_small_and_square_pixels(tmp_path):
    src = write_raw_mp4(tmp_path / "anamorphic.mp4", size=(96, 64), audio=False)
    out = media.transcode_video(src, tmp_path / "web.mp4")
    assert stream_details(out)["video"][3:] == (96, 64)


def test_transcode_rejects_an_audio_file(tmp_path):
    wav = media.write_wav(tone(1.0), SR, tmp_path / "a.wav")
    with pytest.raises(MediaError, match="no video stream"):
        media.transcode_video(wav, tmp_path / "out.mp4")
    assert not (tmp_path / "out.mp4").exists() and no_leftovers(tmp_path)


def test_mux_copies_web_ready_video_and_pads_the_audio(clip, tmp_path):
    music = np.stack([tone(1.5, freq=600), tone(1.5, freq=700)])  # shorter than the 2 s clip
    out = media.mux(clip, music, SR, tmp_path / "muxed.mp4")
    assert media.is_faststart(out)
    details = stream_details(out)
    assert details["video"][:2] == ("h264", "yuv420p")
    assert details["audio"] == ("aac", "LC", SR, 2)
    with (
        av.open(str(clip)) as a,
        av.open(str(out)) as b,
    ):  # the pictures were copied, not re-encoded
        assert [bytes(p) for p in a.demux(a.streams.video[0]) if p.size] == [
            bytes(p) for p in b.demux(b.streams.video[0]) if p.size
        ]
    audio, _ = media.decode_audio(out, mono=False)
    assert audio.shape[1] == 2 * SR  # padded to the video's 2 s
    assert np.abs(audio[:, int(1.6 * SR) :]).max() < 0.01  # with silence
    # the clip's own audio (a 440 Hz tone) is gone: the 600 Hz music is what plays
    spectrum = np.abs(np.fft.rfft(audio[0, :SR]))
    assert abs(np.argmax(spectrum) - 600) <= 2


def test_mux_trims_long_audio_to_the_video_or_the_given_duration(clip, tmp_path):
    out = media.mux(clip, tone(5.0), SR, tmp_path / "a.mp4")
    audio, _ = media.decode_audio(out)
    assert len(audio) == 2 * SR
    assert np.abs(audio[-40:]).max() < 0.05  # faded out, no click
    out = media.mux(clip, tone(5.0), SR, tmp_path / "b.mp4", duration_s=1.0)
    assert len(media.decode_audio(out)[0]) == SR


def test_mux_reencodes_a_video_that_is_not_web_ready(legacy_clip, tmp_path):
    out = media.mux(legacy_clip, tone(2.0), SR, tmp_path / "muxed.mp4")
    details = stream_details(out)
    assert details["video"][:2] == ("h264", "yuv420p") and details["video"][3:] == (100, 74)
    assert details["audio"][0] == "aac"
    assert media.is_faststart(out)


# ---------------------------------------------------------------------------------------------
# Atomic writes: a failure leaves nothing half-made


def test_a_failing_writer_leaves_no_file(tmp_path):
    def frames():
        yield from moving_frames(5)
        raise RuntimeError("the disk is full")

    with pytest.raises(RuntimeError, match="disk is full"):
        media.write_video(frames(), 12, tmp_path / "clip.mp4")
    assert list(tmp_path.iterdir()) == []


def test_a_failing_writer_keeps_the_previous_file(clip, tmp_path):
    target = tmp_path / "track.mp4"
    target.write_bytes(b"the previous version")
    corrupt = tmp_path / "corrupt.mp4"
    data = bytearray(clip.read_bytes())
    corrupt.write_bytes(bytes(data[: len(data) // 2]))
    with pytest.raises(MediaError):
        media.mux(corrupt, tone(2.0), SR, target)
    assert target.read_bytes() == b"the previous version"
    assert no_leftovers(tmp_path)


def test_writers_replace_the_target_in_one_step(tmp_path, monkeypatch):
    moves = []
    real_replace = os.replace

    def spy(src, dst):
        moves.append((Path(src).parent, Path(src).name, Path(dst).name))
        real_replace(src, dst)

    monkeypatch.setattr(media.os, "replace", spy)
    media.write_wav(tone(0.5), SR, tmp_path / "a.wav")
    media.write_audio_m4a(tone(0.5), SR, tmp_path / "a.m4a")
    assert [(folder, dst) for folder, _, dst in moves] == [(tmp_path, "a.wav"), (tmp_path, "a.m4a")]
    assert all(src.startswith(".") and src.endswith(".part") for _, src, _ in moves)


def test_mp4_boxes_of_a_non_mp4(tmp_path):
    path = media.write_wav(tone(0.5), SR, tmp_path / "a.wav")
    assert not media.is_faststart(path)
    assert json.dumps(media.mp4_top_level_boxes(path))  # never raises on other files


def test_written_files_are_readable_by_a_web_server(tmp_path):
    out = media.write_audio_m4a(tone(0.5), SR, tmp_path / "a.m4a")
    assert out.stat().st_mode & 0o777 == 0o644
