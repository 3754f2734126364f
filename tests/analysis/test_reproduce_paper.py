"""Issue 14: ``reproduce_paper`` runs the paper's loop on the demo with tiny models, says that
the numbers are meaningless, writes all four tables (Table 3 from the stored FAD and KL), and a
rerun does only what is missing."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

pytestmark = pytest.mark.django_db


def test_the_paper_loop_runs_on_the_demo_with_tiny_models(tmp_path: Path) -> None:
    from analysis.models import MetricResult
    from generation.models import Caption, Condition, Track
    from survey.models import Study

    out = tmp_path / "run"
    args = ["reproduce_paper", "--out", str(out), "--demo", "10", "--clip-seconds", "1"]
    args += ["--tiny", "--simulate", "6"]
    call_command(*args, stdout=StringIO())
    state = json.loads((out / "state.json").read_text())
    assert all(state["steps"][s]["done"] for s in state["steps"])
    assert state["steps"]["split"]["splits"] == {"train": 8, "test": 2}
    assert state["steps"]["clips"]["clip_seconds"] == [1.0]  # what the clips are, as made
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

    # Table 3: FAD and KL per condition against the clips' original audio, beside the paper's
    metrics = state["steps"]["metrics"]
    assert (
        metrics["embedding"].startswith("vggish-google:")
        and str(out / "tiny") in (metrics["embedding"])
    )
    assert metrics["kl_classifier"].startswith("ast:") and metrics["audio_source"] == "raw"
    rows = {
        ln.split("|")[1].strip(): [c.strip() for c in ln.split("|")[2:6]]
        for ln in report.split("## Table 3")[1].split("## Table 4")[0].splitlines()
        if ln.startswith("| ") and not ln.startswith("| Text input")
    }
    assert set(rows) == {"MSI (Ours)", "Video Caps", "Music Caps", "Fusion"}
    assert rows["MSI (Ours)"][2:] == ["5.78", "2.10"] and rows["Fusion"][2:] == ["6.62", "2.05"]
    names = {"MSI (Ours)": "msi", "Video Caps": "video_caps", "Music Caps": "music_caps"}
    names["Fusion"] = "fusion"
    for label, (fad, kl, _, _) in rows.items():
        stored = {
            r.metric: r.value
            for r in MetricResult.objects.filter(
                study=study, scope="condition", condition__name=names[label], reference="original"
            )
        }
        assert float(fad) == pytest.approx(stored["fad"], abs=0.005) and stored["fad"] >= 0
        assert float(kl) == pytest.approx(stored["kld"], abs=0.005)  # audiocraft eps: ~0 may be <0
    assert "these FAD and KL values are meaningless" in report

    again = StringIO()
    call_command(*args, stdout=again)
    assert again.getvalue().count("done already") == 9


def test_without_tiny_models_table_3_needs_vggish_before_any_step(tmp_path: Path) -> None:
    from generation.models import Clip

    out = tmp_path / "run"
    with pytest.raises(CommandError, match="--vggish"):
        call_command("reproduce_paper", "--out", str(out), "--demo", "4", stdout=StringIO())
    missing = tmp_path / "nowhere.pth"
    with pytest.raises(CommandError, match="VGGish weights not found"):
        call_command(
            "reproduce_paper",
            "--out",
            str(out),
            "--demo",
            "4",
            "--vggish",
            str(missing),
            stdout=StringIO(),
        )
    assert not Clip.objects.exists()  # stopped before the first step


def test_an_unmigrated_database_is_named_with_the_fix_before_any_work(tmp_path: Path) -> None:
    """A fresh DATABASE_URL without migrate: a clear error, not 'no such table: generation_clip'
    in a traceback after the output folder and Table 3's models."""
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    db = tmp_path / "paper.sqlite3"
    keep = {
        k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE")
    }
    env = {**keep, "MUSISCENE_NO_DOTENV": "1", "DEBUG": "1", "SECRET_KEY": "x"}
    out = tmp_path / "run"
    args = [sys.executable, "manage.py", "reproduce_paper", "--out", str(out), "--demo", "4"]
    result = subprocess.run(
        [*args, "--clip-seconds", "1", "--tiny"],
        cwd=root,
        env={**env, "DATABASE_URL": f"sqlite:///{db}"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and "no such table" not in result.stderr
    assert str(db) in result.stderr and "python manage.py migrate" in result.stderr
    assert "DATABASE_URL" in result.stderr
    assert not out.exists()  # stopped before any work


def test_demo_refuses_a_database_whose_clips_would_change_the_run(tmp_path: Path) -> None:
    """On the demo's database ``--demo 10`` took all 24 clips into the split (19/5, state.json
    saying 10) and reused 10 s clips whatever ``--clip-seconds`` said: it now stops first."""
    from generation.demo import demo_clips_ensure

    demo_clips_ensure(n_clips=3, duration_s=1.0)
    out = tmp_path / "run"
    base = ["reproduce_paper", "--out", str(out), "--tiny"]
    with pytest.raises(CommandError, match=r"holds 1 other clips \(demo-.*database of its own"):
        call_command(*base, "--demo", "2", "--clip-seconds", "1", stdout=StringIO())
    with pytest.raises(CommandError, match="demo clips are 1 s long.*--clip-seconds 1"):
        call_command(*base, "--demo", "3", "--clip-seconds", "2", stdout=StringIO())
    assert not (out / "state.json").exists()  # no step ran
