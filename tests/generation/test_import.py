"""AudioSet segment lists and `manage.py import_media`."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from generation.audioset import MUSIC_LABEL, parse_segments
from generation.models import Clip, Track
from tests.conftest import make_tone, make_video

# The layout of the published eval_segments.csv: three comment lines, quoted label lists.
EVAL_SEGMENTS = """\
# Segments csv created Sun Mar  5 10:54:25 2017
# num_ytids=20371, num_segs=20371, num_unique_labels=527, num_positive_labels=51804
# YTID, start_seconds, end_seconds, positive_labels
--4gqARaEJE, 0.000, 10.000, "/m/068hy,/m/07q6cd_,/m/0bt9lr,/m/0jbk"
--BfvyPmVMo, 20.000, 30.000, "/m/03l9g"
--U7joUcTCo, 0.000, 10.000, "/m/01b_21"
--i-y1v8Hy8, 0.000, 9.000, "/m/04rlf,/m/09x0r,/t/dd00004"
-0BIyqJj9ZU, 30.000, 40.000, "/m/04rlf"
"""


def test_it_parses_the_published_layout():
    segments, errors = parse_segments(EVAL_SEGMENTS)
    assert errors == []
    assert len(segments) == 5
    first = segments[0]
    assert (first.youtube_id, first.start_s, first.end_s) == ("--4gqARaEJE", 0.0, 10.0)
    assert first.labels == ("/m/068hy", "/m/07q6cd_", "/m/0bt9lr", "/m/0jbk")
    assert first.line == 4
    music = [s.youtube_id for s in segments if MUSIC_LABEL in s.labels]
    assert music == ["--i-y1v8Hy8", "-0BIyqJj9ZU"]


def test_malformed_lines_get_line_numbered_errors():
    text = (
        EVAL_SEGMENTS
        + 'abc, x, 10.0, "/m/04rlf"\nabc, 5.0\ndef, 5.0, 3.0, "/m/04rlf"\n'
        + 'ghi, 1, 2, /m/a, /m/b\n"unclosed, 1, 2\n'
    )
    segments, errors = parse_segments(text)
    assert len(segments) == 5
    assert [e.line for e in errors] == [9, 10, 11, 12, 13]
    assert "not numbers" in errors[0].message and "fields" in errors[1].message
    assert "bad segment times" in errors[2].message and "quote" in errors[3].message


@pytest.fixture
def folder(tmp_path):
    make_video(tmp_path / "--i-y1v8Hy8.mp4", seed=1)
    make_video(tmp_path / "Y-0BIyqJj9ZU.mp4", seed=2)
    (tmp_path / "--4gqARaEJE.mp4").write_bytes(b"broken")  # not Music: never looked at
    (tmp_path / "segments.csv").write_text(EVAL_SEGMENTS)
    return tmp_path


def test_import_media_with_a_segment_list(db, folder, capsys):
    call_command(
        "import_media", str(folder), "--csv", str(folder / "segments.csv"), "--label", MUSIC_LABEL
    )
    clips = {c.youtube_id: c for c in Clip.objects.all()}
    assert set(clips) == {"--i-y1v8Hy8", "-0BIyqJj9ZU"}
    assert clips["-0BIyqJj9ZU"].start_s == 30.0 and clips["-0BIyqJj9ZU"].labels == ["/m/04rlf"]
    assert clips["--i-y1v8Hy8"].source == "audioset"
    # a second run is safe: nothing new, nothing duplicated
    call_command(
        "import_media", str(folder), "--csv", str(folder / "segments.csv"), "--label", MUSIC_LABEL
    )
    assert Clip.objects.count() == 2
    assert "2 already there" in capsys.readouterr().out


def test_missing_files_are_reported_not_fatal(db, folder, capsys):
    (folder / "Y-0BIyqJj9ZU.mp4").unlink()
    call_command(
        "import_media", str(folder), "--csv", str(folder / "segments.csv"), "--label", MUSIC_LABEL
    )
    assert Clip.objects.count() == 1
    assert "no file for -0BIyqJj9ZU" in capsys.readouterr().err


def test_a_malformed_csv_imports_nothing_unless_asked(db, folder):
    bad = folder / "bad.csv"
    bad.write_text(EVAL_SEGMENTS + "zzz, 1.0\n")
    with pytest.raises(CommandError, match="1 malformed lines"):
        call_command("import_media", str(folder), "--csv", str(bad), "--label", MUSIC_LABEL)
    assert not Clip.objects.exists()
    call_command(
        "import_media", str(folder), "--csv", str(bad), "--label", MUSIC_LABEL, "--skip-bad-lines"
    )
    assert Clip.objects.count() == 2


def test_import_media_folder_with_tracks_and_a_broken_file(db, tmp_path, conditions, capsys):
    from generation import media

    make_video(tmp_path / "sunset clip.mp4")
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "tracks" / "msi").mkdir(parents=True)
    media.write_wav(make_tone(2.0), 32000, tmp_path / "tracks" / "msi" / "sunset-clip.wav")
    (tmp_path / "tracks" / "msi" / "empty.wav").write_bytes(b"RIFF")
    with pytest.raises(CommandError, match="could not be imported"):
        call_command("import_media", str(tmp_path))
    err = capsys.readouterr().err
    assert "empty.mp4: not imported" in err
    assert Clip.objects.get().key == "sunset-clip"
    assert Track.objects.get().condition.name == "msi"
