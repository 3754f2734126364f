"""`manage.py demo --no-serve`: seeds a live paper study from synthetic content, twice safely."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command

from generation.models import Caption, Clip, Track
from survey.models import Study
from survey.services import study_validate


@pytest.mark.django_db
def test_the_demo_seeds_a_live_paper_study_and_is_safe_to_rerun(capsys, monkeypatch):
    call_command("demo", "--no-serve", "--clips", "4", "--duration", "2")
    out = capsys.readouterr().out
    study = Study.objects.get(slug="musiscene-demo")
    assert study.status == "live"
    assert sorted(study.forms.values_list("name", flat=True)) == ["form1", "form2"]
    form1 = study.forms.get(name="form1")
    assert (
        form1.trials.count() == 4 and form1.seed is not None
    )  # 15 capped to the 4 clips asked for
    assert sorted(c.name for c in form1.conditions.all()) == ["msi", "music_caps", "video_caps"]
    assert Clip.objects.filter(source="demo").count() == 4
    assert Caption.objects.count() == 20  # 5 kinds per clip (msi_pred: a stand-in prediction)
    tracks = Track.objects.all()
    assert tracks.count() == 16 and {t.generator for t in tracks} == {"sketch"}
    assert all(t.prompt == t.caption.text and t.parameters.get("tempo_bpm") for t in tracks)
    # the paper's msi condition is fed by (a stand-in for) MusiScene's prediction, and says so
    msi_tracks = tracks.filter(condition__name="msi")
    assert msi_tracks and all(t.caption.kind == "msi_pred" for t in msi_tracks)
    assert all("standing in for MusiScene" in t.caption.provenance for t in msi_tracks)
    assert study_validate(study=study) == []
    assert "/s/musiscene-demo/" in out and "/admin/" in out and "password: " in out
    # --no-serve starts no server, so it must not say that the demo is being served (issue 19)
    assert "The demo is ready." not in out
    assert "no server" in out and "runserver 127.0.0.1:" in out
    password = out.split("password: ")[1].split(")")[0]
    assert get_user_model().objects.get(username="admin").check_password(password)

    # a second terminal's --no-serve run names the port the demo server runs on (PORT=8123
    # make demo wrote it), not 8000
    (Path(settings.VAR_DIR) / "demo-port").write_text("8123\n")
    monkeypatch.delenv("PORT", raising=False)
    call_command("demo", "--no-serve", "--clips", "4", "--duration", "2")
    again = capsys.readouterr().out
    assert "http://127.0.0.1:8123/s/musiscene-demo/" in again and ":8000" not in again
    assert "`PORT=8123 make demo`" in again  # how to serve it there (a plain make demo: 8000)
    assert Track.objects.count() == 16 and Clip.objects.count() == 4 and Study.objects.count() == 1
    assert f"password: {password}" in again


@pytest.mark.django_db
def test_the_simulation_summary_is_printed_once(capsys, caplog):
    """`demo --simulate-participants` printed its summary twice: as output and as an INFO log
    line on the console (the root logger's level)."""
    caplog.set_level(logging.INFO)
    call_command(
        "demo", "--no-serve", "--clips", "2", "--duration", "1", "--simulate-participants", "2"
    )
    assert "2 simulated participants started" in capsys.readouterr().out
    logged = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    assert not [m for m in logged if "simulated participants started" in m], logged
