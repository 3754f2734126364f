"""Issue 14, item 8: a clip imported from a longer video is the segment its AudioSet CSV names.

The source is a real video made here (8 s, H.264 + AAC) whose picture brightness and tone pitch
step up every second, so that which seconds a clip holds can be read off its own media.
"""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import av
import numpy as np
import pytest
from django.core.management import call_command

from generation import media
from generation.models import Clip
from generation.services import segment_cut

pytestmark = pytest.mark.django_db

FPS, RATE = 10, 32000


def level(second: int) -> int:
    return 20 + 25 * second  # the grey level of the pictures of second ``second``


def pitch(second: int) -> float:
    return 200.0 + 100.0 * second  # the tone of second ``second``


def stepped_video(path: Path, seconds: int) -> Path:
    frames = [np.full((48, 64, 3), level(i // FPS), dtype=np.uint8) for i in range(seconds * FPS)]
    t = np.arange(seconds * RATE) / RATE
    tone = 0.3 * np.sin(2 * np.pi * np.array([pitch(int(x)) for x in t]) * t)
    return media.write_video(frames, FPS, path, audio=tone.astype(np.float32), sample_rate=RATE)


def grey_levels(path: str) -> list[float]:
    with av.open(path) as container:
        return [float(f.to_ndarray(format="gray").mean()) for f in container.decode(video=0)]


def main_pitch(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[spectrum.argmax()])


def test_a_segment_of_a_longer_video_is_cut_at_import(tmp_path: Path) -> None:
    folder = tmp_path / "media"
    folder.mkdir()
    stepped_video(folder / "abcdefghijk.mp4", 8)  # the whole video, named by its YouTube id
    csv = tmp_path / "segments.csv"
    csv.write_text('# Segments csv\nabcdefghijk, 3.000, 6.000, "/m/04rlf"\n')
    call_command("import_media", str(folder), "--csv", str(csv), stdout=StringIO())

    clip = Clip.objects.get()
    assert (clip.start_s, clip.end_s) == (3.0, 6.0)
    assert clip.duration_s == pytest.approx(3.0, abs=0.15)
    levels = grey_levels(clip.video.path)
    assert len(levels) == pytest.approx(3 * FPS, abs=1)
    assert levels[0] == pytest.approx(level(3), abs=4) and levels[-1] == pytest.approx(
        level(5), abs=4
    )
    audio, rate = media.decode_audio(clip.original_audio.path)
    assert len(audio) / rate == pytest.approx(3.0, abs=0.05)
    head, tail = audio[: rate // 2], audio[-rate // 2 :]
    assert main_pitch(head, rate) == pytest.approx(pitch(3), abs=10)
    assert main_pitch(tail, rate) == pytest.approx(pitch(5), abs=10)


def test_a_file_that_is_the_segment_already_is_kept_whole(tmp_path: Path) -> None:
    folder = tmp_path / "media"
    folder.mkdir()
    stepped_video(folder / "abcdefghijk_30.mp4", 3)  # an AudioSet download, cut to 30-33 s
    csv = tmp_path / "segments.csv"
    csv.write_text("abcdefghijk, 30.0, 33.0\n")
    call_command("import_media", str(folder), "--csv", str(csv), stdout=StringIO())
    clip = Clip.objects.get()
    assert clip.duration_s == pytest.approx(3.0, abs=0.15)
    assert grey_levels(clip.video.path)[0] == pytest.approx(level(0), abs=4)


def test_where_a_file_is_cut_for_its_segment() -> None:
    assert segment_cut(8.0, 3.0, 6.0) == (3.0, 6.0)
    assert segment_cut(39.8, 30.0, 40.0) == (30.0, 39.8)  # a segment at the video's end
    assert segment_cut(10.0, 30.0, 40.0) is None  # the segment already
    assert segment_cut(9.2, 30.0, 40.0) is None  # a shorter download of it: kept, logged
    with pytest.raises(media.MediaError, match="bad segment"):
        segment_cut(60.0, 40.0, 30.0)
