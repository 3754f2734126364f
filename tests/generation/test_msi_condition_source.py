"""Issue 14, item 1: the paper's MSI condition is music from MusiScene's *predictions*.

The LLM-composed MSI caption (MusiScene's training target, written by an LLM that read the video
caption) stays available as its own named condition, ``msi_llm``; the admin and the report say
which caption source every condition has; an existing database keeps its tracks under honest names.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from generation import services
from generation.models import CaptionKind, Condition
from generation.selectors import caption_for_condition

pytestmark = pytest.mark.django_db


def test_the_paper_forms_msi_condition_reads_musiscene_predictions(conditions, make_clip) -> None:
    from survey.services import PAPER_FORMS

    msi = conditions["msi"]
    assert msi.caption_kind == CaptionKind.MSI_PREDICTED
    assert all("msi" in names for _, _, names in PAPER_FORMS)
    llm = conditions["msi_llm"]
    assert llm.caption_kind == CaptionKind.MSI
    assert [c.name for c in services.conditions_ensure_paper()] == [
        "video_caps",
        "music_caps",
        "msi",
        "fusion",
    ]

    clip = make_clip("c1")
    track = services.track_generate_sketch(clip=clip, condition=msi, loudness_target_lufs=-23.0)
    assert track.caption.kind == "msi_pred" and track.prompt == track.caption.text
    other = services.track_generate_sketch(clip=clip, condition=llm, loudness_target_lufs=-23.0)
    assert other.caption.kind == "msi" and other.prompt != track.prompt


def test_a_condition_can_name_the_model_whose_captions_feed_it(make_clip) -> None:
    clip = make_clip("c1", captions=False)
    ours = services.caption_add(clip=clip, kind="msi_pred", text="a beach", model_id="runs/ft")
    services.caption_add(clip=clip, kind="msi_pred", text="a party", model_id="mu-llama")  # newer
    any_model = Condition.objects.create(name="pred_any", caption_kind="msi_pred")
    pinned = Condition.objects.create(
        name="pred_ft", caption_kind="msi_pred", caption_model_id="runs/ft"
    )
    assert caption_for_condition(clip=clip, condition=any_model).text == "a party"
    assert caption_for_condition(clip=clip, condition=pinned) == ours
    assert pinned.caption_source == (
        "msi_pred (MSI predicted by a trained MusiScene) written by runs/ft"
    )
    missing = Condition.objects.create(name="x", caption_kind="msi_pred", caption_model_id="nope")
    with pytest.raises(Exception, match="msi_pred .* written by nope"):
        services.track_generate_sketch(clip=clip, condition=missing, loudness_target_lufs=-23.0)


def test_admin_and_report_say_each_conditions_caption_source(
    admin_client, small_study, conditions
) -> None:
    page = admin_client.get("/admin/generation/condition/").content.decode()
    assert "msi_pred (MSI predicted by a trained MusiScene)" in page
    assert "msi (Music scene imagination (MSI))" in page
    form = small_study.forms.get()
    page = admin_client.get(f"/admin/survey/form/{form.pk}/change/").content.decode()
    assert "msi: msi_pred (MSI predicted by a trained MusiScene)" in page

    from analysis.study_report import study_report

    report = study_report(study=small_study)
    assert report.design["caption sources"] == {
        "msi": "msi_pred (MSI predicted by a trained MusiScene)",
        "video_caps": "video (Video caption)",
    }
    assert "msi_pred (MSI predicted by a trained MusiScene)" in report.html


@pytest.mark.django_db(transaction=True)
def test_the_migration_keeps_old_llm_msi_tracks_under_msi_llm(video_file) -> None:
    executor = MigrationExecutor(connection)
    executor.migrate([("generation", "0004_caption_pipeline")])
    old_apps = executor.loader.project_state([("generation", "0004_caption_pipeline")]).apps
    OldCondition = old_apps.get_model("generation", "Condition")
    old = OldCondition.objects.create(name="msi", caption_kind="msi", label="old label")
    OldCondition.objects.create(name="video_caps", caption_kind="video")

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())

    renamed = Condition.objects.get(pk=old.pk)
    assert (renamed.name, renamed.caption_kind, renamed.label) == ("msi_llm", "msi", "old label")
    new = Condition.objects.get(name="msi")
    assert new.caption_kind == "msi_pred"
    assert Condition.objects.get(name="video_caps").caption_kind == "video"
