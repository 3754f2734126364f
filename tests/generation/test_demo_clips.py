"""`manage.py demo_clips`: practice clips and their captions for the first-study tutorial."""

from __future__ import annotations

import av
import pytest
from django.core.management import CommandError, call_command

from generation.demo import DEMO_PREDICTION_SOURCE
from generation.models import Caption, Clip


@pytest.mark.django_db
def test_it_writes_clips_and_captions_that_import_media_and_import_captions_take(tmp_path):
    folder = tmp_path / "clips"
    call_command("demo_clips", str(folder), "--count", "2", "--duration", "1")
    videos = sorted(p.name for p in folder.glob("*.mp4"))
    assert videos == ["city-night-traffic.mp4", "sunset-sea.mp4"]
    with av.open(str(folder / videos[0])) as container:
        assert container.streams.video[0].codec_context.name == "h264"
        assert container.streams.audio[0].codec_context.name == "aac"

    call_command("import_media", str(folder))
    call_command("import_captions", str(folder / "captions.csv"), "--approve")
    assert Clip.objects.count() == 2
    for clip in Clip.objects.all():
        kinds = {c.kind: c for c in Caption.objects.filter(clip=clip, status="approved")}
        assert set(kinds) == {"video", "music", "fusion", "msi_pred"}
        assert kinds["msi_pred"].provenance == DEMO_PREDICTION_SOURCE

    # a second run keeps what is there and says so
    before = (folder / videos[0]).stat().st_mtime_ns
    call_command("demo_clips", str(folder), "--count", "2", "--duration", "1")
    assert (folder / videos[0]).stat().st_mtime_ns == before


def test_it_refuses_more_clips_than_the_demo_has(tmp_path):
    with pytest.raises(CommandError, match="the demo has"):
        call_command("demo_clips", str(tmp_path), "--count", "500")
