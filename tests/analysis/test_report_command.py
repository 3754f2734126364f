"""`export_ratings` and `analysis_report`: an offline page with every section, a CSV bundle,
clear messages for empty or tiny studies and for bad arguments."""

from __future__ import annotations

import re
import uuid
import zipfile

import pandas as pd
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from survey.models import Participant
from survey.simulation import simulate_participants

SECTIONS = [
    "summary",
    "paper",
    "means",
    "tests",
    "mixed",
    "agreement",
    "unscreened",
    "exclusions",
    "design",
    "provenance",
    "settings",
    "software",
]
FAST = ["--n-boot", "200"]


def _text(page: str) -> str:
    """The page without its scripts (plotly.js)."""
    return re.sub(r"<script.*?</script>", "", page, flags=re.S)


@pytest.fixture
def simulated(three_way_study):
    simulate_participants(three_way_study, 12, seed=2, careless=0.15)
    return three_way_study


def test_the_report_is_one_offline_page_with_every_section(simulated, tmp_path, capsys):
    out, bundle = tmp_path / "report.html", tmp_path / "tables.zip"
    call_command(
        "analysis_report",
        "--study",
        "three-way",
        "--out",
        str(out),
        "--bundle",
        str(bundle),
        "--seed",
        "3",
        *FAST,
    )
    printed = capsys.readouterr().out
    assert "12 participants with 144 ratings" in printed and str(out) in printed
    page = out.read_text()
    for section in SECTIONS:
        assert f"<section id='{section}'>" in page, section
    assert not re.search(r"<script[^>]+src=", page) and "plotly" in page.lower()  # plotly.js inline
    assert "Three-way" in page and "Form f1" in page
    # the design and the provenance of each condition's tracks
    assert "music_caps" in page and "test-tone" in page and "freq" in page
    assert "&quot;seed&quot;: 3" in page or "seed" in page
    with zipfile.ZipFile(bundle) as zf:
        names = set(zf.namelist())
        assert {
            "ratings.csv",
            "participants.csv",
            "track_provenance.csv",
            "design.json",
            "settings.json",
            "exclusion_log.csv",
            "describe_screened.csv",
        } <= names
        ratings = pd.read_csv(zf.open("ratings.csv"))
        tracks = pd.read_csv(zf.open("track_provenance.csv"))
    assert len(ratings) == 144 + 12 and set(tracks["generator"]) == {"test-tone"}
    assert len(tracks) == 12  # 4 videos x 3 conditions


def test_stored_objective_metrics_join_the_report(simulated, tmp_path):
    from analysis.models import MetricResult
    from generation.models import Condition

    MetricResult.objects.create(
        run=uuid.uuid4(),
        study=simulated,
        kind="audio",
        metric="fad",
        variant="vggish-google",
        reference="original",
        scope="condition",
        condition=Condition.objects.get(name="msi"),
        value=4.321,
        n=60,
        n_unit="frames",
    )
    out = tmp_path / "r.html"
    call_command("analysis_report", "--study", "three-way", "--out", str(out), *FAST)
    page = out.read_text()
    assert "<section id='metrics'>" in page and "4.321" in page and "fad" in page


def test_a_failing_metrics_table_is_a_note_not_a_failed_report(
    simulated, tmp_path, monkeypatch, capsys
):
    def broken(study, *, ratings):
        raise RuntimeError("no VGGish embeddings yet")

    monkeypatch.setattr("analysis.study_report.metrics_table", broken)
    out = tmp_path / "r.html"
    call_command("analysis_report", "--study", "three-way", "--out", str(out), *FAST)
    assert "no VGGish embeddings yet" in out.read_text()
    assert "no VGGish embeddings yet" in capsys.readouterr().err


def test_an_empty_study_gives_a_report_that_says_so(three_way_study, tmp_path, capsys):
    out = tmp_path / "r.html"
    call_command("analysis_report", "--study", "three-way", "--out", str(out), *FAST)
    captured = capsys.readouterr()
    assert "has no ratings yet" in captured.err and "0 participants with 0 ratings" in captured.out
    page = _text(out.read_text())
    assert "no ratings yet" in page and not re.search(r">\s*nan\s*<", page, re.I)


def test_one_participant_gives_clear_messages(three_way_study, tmp_path, capsys):
    simulate_participants(three_way_study, 1, seed=0, careless=0.0)
    out = tmp_path / "r.html"
    call_command("analysis_report", "--study", "three-way", "--out", str(out), *FAST)
    err = capsys.readouterr().err
    assert "note: f1:" in err and re.search(r"at least 2 participants|one participant", err), err
    page = _text(out.read_text())
    assert "<section id='mixed'>" in page and not re.search(r">\s*nan\s*<", page, re.I)


def test_bad_arguments_are_command_errors(three_way_study, tmp_path):
    with pytest.raises(
        CommandError, match="no study with the slug 'nope'; the studies are: three-way"
    ):
        call_command(
            "export_ratings", "--study", "nope", "--format", "csv", "--out", str(tmp_path / "x.csv")
        )
    with pytest.raises(CommandError, match="invalid choice: 'xlsx'"):
        call_command(
            "export_ratings",
            "--study",
            "three-way",
            "--format",
            "xlsx",
            "--out",
            str(tmp_path / "x"),
        )
    with pytest.raises(CommandError, match="does not exist"):
        call_command(
            "export_ratings",
            "--study",
            "three-way",
            "--format",
            "csv",
            "--out",
            str(tmp_path / "missing" / "x.csv"),
        )
    with pytest.raises(CommandError, match="is a folder"):
        call_command(
            "export_ratings", "--study", "three-way", "--format", "csv", "--out", str(tmp_path)
        )
    with pytest.raises(CommandError, match="--participants-out .* does not exist"):
        call_command(
            "export_ratings",
            "--study",
            "three-way",
            "--format",
            "csv",
            "--out",
            str(tmp_path / "r.csv"),
            "--participants-out",
            str(tmp_path / "no" / "p.csv"),
        )
    with pytest.raises(CommandError, match="Parquet is binary"):
        call_command("export_ratings", "--study", "three-way", "--format", "parquet", "--out", "-")
    with pytest.raises(CommandError, match="no study with the slug 'nope'"):
        call_command("analysis_report", "--study", "nope", "--out", str(tmp_path / "r.html"))
    with pytest.raises(CommandError, match="does not exist"):
        call_command(
            "analysis_report", "--study", "three-way", "--out", str(tmp_path / "no" / "r.html")
        )
    with pytest.raises(CommandError, match="--bundle .* does not exist"):
        call_command(
            "analysis_report",
            "--study",
            "three-way",
            "--out",
            str(tmp_path / "r.html"),
            "--bundle",
            str(tmp_path / "no" / "t.zip"),
        )
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_csv_and_json_can_go_to_standard_output(simulated, capfdbinary):
    call_command("export_ratings", "--study", "three-way", "--format", "csv", "--out", "-")
    out = capfdbinary.readouterr().out.decode()
    assert (
        out.splitlines()[0].startswith("study,form,participant,")
        and len(out.splitlines()) == 1 + 156
    )
    assert Participant.objects.count() == 12
