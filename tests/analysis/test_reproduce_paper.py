"""Issue 14: ``reproduce_paper`` runs the paper's loop on the demo with tiny models, says that
the numbers are meaningless, and a rerun does only what is missing."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def test_the_paper_loop_runs_on_the_demo_with_tiny_models(tmp_path: Path) -> None:
    from generation.models import Caption, Condition, Track
    from survey.models import Study

    out = tmp_path / "run"
    args = ["reproduce_paper", "--out", str(out), "--demo", "10", "--clip-seconds", "1"]
    args += ["--tiny", "--simulate", "6"]
    call_command(*args, stdout=StringIO())
    state = json.loads((out / "state.json").read_text())
    assert all(state["steps"][s]["done"] for s in state["steps"])
    assert state["steps"]["split"]["splits"] == {"train": 8, "test": 2}
    trained = state["steps"]["train"]["checkpoint"]
    # MSI predicted for the 2 held-out clips by both checkpoints; msi reads MusiScene's
    assert Caption.objects.filter(kind="msi_pred", model_id=trained).count() == 2
    assert Condition.objects.get(name="msi").caption_model_id == trained
    study = Study.objects.get(slug="paper-reproduction")
    held = set(Caption.objects.filter(model_id=trained).values_list("clip__key", flat=True))
    assert {t.clip.key for f in study.forms.all() for t in f.trials.all()} == held
    msi_tracks = Track.objects.filter(condition__name="msi")
    assert msi_tracks and all(t.caption.model_id == trained for t in msi_tracks)
    report = (out / "report.md").read_text()
    assert "meaningless" in report
    for heading in ("## Table 2", "## Table 3", "## Table 4", "## Table 5"):
        assert heading in report
    assert "| MusiScene (this run) | " + trained in report
    assert "| MusiScene (paper) | | 0.421" in report and "| paper | 74.2 | 73.5 | 61.4 |" in report

    again = StringIO()
    call_command(*args, stdout=again)
    assert again.getvalue().count("done already") == 8
