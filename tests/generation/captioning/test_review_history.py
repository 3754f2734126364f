"""Researchers review captions: edits keep the original and who changed what, bulk actions,
the per-clip review page, and rejected captions left out of generation and exports."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.urls import reverse

from generation import services
from generation.models import Caption, CaptionRevision
from generation.selectors import caption_for

Status = Caption.Status


@pytest.fixture
def admin_client(client, charlie):
    client.force_login(charlie)
    return client


def test_it_keeps_the_original_text_and_who_changed_what(make_clip, alice, bob) -> None:
    clip = make_clip("rev-1")
    caption = Caption.objects.get(clip=clip, kind="msi")
    original = caption.text
    services.caption_edit(caption, text="  a surfer at dawn  ", user=alice)
    services.caption_edit(caption, status=Status.REJECTED, user=bob)
    services.caption_edit(
        caption, text="a surfer at dawn", status=Status.REJECTED, user=bob
    )  # nothing changes

    caption.refresh_from_db()
    assert (caption.text, caption.status) == ("a surfer at dawn", Status.REJECTED)
    history = list(caption.revisions.order_by("created_at", "id"))
    assert len(history) == 2
    first, second = history
    assert (
        first.old_text,
        first.new_text,
        first.user,
        first.text_changed,
        first.status_changed,
    ) == (original, "a surfer at dawn", alice, True, False)
    assert (second.old_status, second.new_status, second.user, second.text_changed) == (
        Status.APPROVED,
        Status.REJECTED,
        bob,
        False,
    )
    assert first.created_at <= second.created_at
    assert caption.model_id == "" and caption.author_note == ""  # the provenance is untouched


def test_it_refuses_an_empty_text_or_an_unknown_status(make_clip, alice) -> None:
    caption = Caption.objects.get(clip=make_clip("rev-2"), kind="video")
    with pytest.raises(ValidationError, match="cannot be empty"):
        services.caption_edit(caption, text="   ", user=alice)
    with pytest.raises(ValidationError, match="unknown caption status 'maybe'"):
        services.caption_edit(caption, status="maybe", user=alice)
    assert not CaptionRevision.objects.exists()


def test_it_approves_and_rejects_in_bulk_across_clips(make_clip, admin_client, charlie) -> None:
    clips = [make_clip(f"bulk-{i}") for i in range(3)]
    Caption.objects.update(status=Status.UNREVIEWED)
    msi = list(Caption.objects.filter(kind="msi").order_by("clip__key"))
    url = reverse("admin:generation_caption_changelist")
    response = admin_client.post(
        url, {"action": "reject", "_selected_action": [c.pk for c in msi[:2]]}, follow=True
    )
    assert response.status_code == 200 and "2 captions rejected." in response.content.decode()
    response = admin_client.post(
        url, {"action": "approve", "_selected_action": [c.pk for c in msi]}, follow=True
    )
    assert "3 captions approved." in response.content.decode()
    assert set(Caption.objects.filter(kind="msi").values_list("status", flat=True)) == {
        Status.APPROVED
    }
    transitions = sorted(
        CaptionRevision.objects.values_list("caption__clip__key", "old_status", "new_status")
    )
    assert transitions == [
        ("bulk-0", "rejected", "approved"),
        ("bulk-0", "unreviewed", "rejected"),
        ("bulk-1", "rejected", "approved"),
        ("bulk-1", "unreviewed", "rejected"),
        ("bulk-2", "unreviewed", "approved"),
    ]
    assert set(CaptionRevision.objects.values_list("user", flat=True)) == {charlie.pk}
    assert len(clips) == 3


def test_an_edit_in_the_caption_form_is_recorded(make_clip, admin_client, charlie) -> None:
    caption = Caption.objects.get(clip=make_clip("form-1"), kind="fusion")
    url = reverse("admin:generation_caption_change", args=[caption.pk])
    page = admin_client.get(url)
    assert page.status_code == 200 and "all captions of form-1" in page.content.decode()
    response = admin_client.post(
        url,
        {
            "text": "calm ambient piano",
            "status": "approved",
            "revisions-TOTAL_FORMS": 0,
            "revisions-INITIAL_FORMS": 0,
        },
    )
    assert response.status_code == 302
    revision = CaptionRevision.objects.get()
    assert (revision.new_text, revision.user, revision.old_text) == (
        "calm ambient piano",
        charlie,
        "a fusion caption for form-1, calm piano",
    )
    assert "calm ambient piano" in admin_client.get(url).content.decode()


def test_the_review_page_shows_every_kind_side_by_side(make_clip, admin_client, alice) -> None:
    clip = make_clip("page-1")
    services.caption_add(
        clip=clip, kind="human_msi", text="a beach at sunset", author_note="annotator ab12"
    )
    Caption.objects.filter(clip=clip, kind="msi_pred").delete()  # the fixture's
    services.caption_add(
        clip=clip, kind="msi_pred", text="a wedding party", model_id="runs/msi/best"
    )
    url = reverse("admin:generation_clip_review", args=[clip.pk])
    html = admin_client.get(url).content.decode()
    for label in (
        "Video caption",
        "Music caption",
        "Fusion caption",
        "Music scene imagination (MSI)",
        "MSI predicted by a trained MusiScene",
        "MSI written by a person (annotation)",
    ):
        assert f"<h2>{label}</h2>" in html
    assert reverse("staff-media", args=[clip.video.name]) in html and "<video" in html
    assert reverse("staff-media", args=[clip.original_audio.name]) in html
    assert "model runs/msi/best" in html and "annotator ab12" in html
    assert "2 unreviewed captions." in html

    human = Caption.objects.get(clip=clip, kind="human_msi")
    response = admin_client.post(
        url, {"caption": human.pk, "text": "a quiet beach at sunset", "do": "approve"}
    )
    assert response.status_code == 302 and response["Location"].endswith(f"#caption-{human.pk}")
    human.refresh_from_db()
    assert (human.text, human.status) == ("a quiet beach at sunset", Status.APPROVED)
    pred = Caption.objects.get(clip=clip, kind="msi_pred")
    admin_client.post(url, {"caption": pred.pk, "text": pred.text, "do": "reject"})
    pred.refresh_from_db()
    assert pred.status == Status.REJECTED and pred.revisions.get().text_changed is False
    html = admin_client.get(url).content.decode()
    assert "history (1)" in html and "before: <q>a beach at sunset</q>" in html
    assert "unreviewed &rarr; rejected" in html

    bad = admin_client.post(url, {"caption": human.pk, "text": " ", "do": "save"}, follow=True)
    assert "not changed: a caption&#x27;s text cannot be empty" in bad.content.decode()


def test_the_review_page_approves_a_clips_unreviewed_captions_and_leads_on(
    make_clip, admin_client
) -> None:
    first, second = make_clip("next-1"), make_clip("next-2")
    Caption.objects.update(status=Status.UNREVIEWED)
    url = reverse("admin:generation_clip_review", args=[first.pk])
    assert (
        reverse("admin:generation_clip_review", args=[second.pk])
        in admin_client.get(url).content.decode()
    )
    response = admin_client.post(url, {"approve_unreviewed": "1"}, follow=True)
    assert "5 captions approved." in response.content.decode()  # 5 kinds
    assert set(first.captions.values_list("status", flat=True)) == {Status.APPROVED}
    assert set(second.captions.values_list("status", flat=True)) == {Status.UNREVIEWED}
    clip_list = admin_client.get(reverse("admin:generation_clip_changelist")).content.decode()
    assert url in clip_list


def test_only_staff_with_the_permission_may_change_captions(make_clip, client, alice) -> None:
    clip = make_clip("perm-1")
    caption = Caption.objects.get(clip=clip, kind="video")
    url = reverse("admin:generation_clip_review", args=[clip.pk])
    assert client.get(url).status_code == 302  # not logged in: to the login page
    client.force_login(alice)  # staff, without permissions on clips or captions
    assert client.get(url).status_code == 403
    from django.contrib.auth.models import Permission

    alice.user_permissions.add(Permission.objects.get(codename="view_clip"))
    assert client.get(url).status_code == 200
    assert client.post(url, {"caption": caption.pk, "do": "reject"}).status_code == 403
    caption.refresh_from_db()
    assert caption.status == Status.APPROVED and not CaptionRevision.objects.exists()


def test_rejected_captions_feed_neither_generation_nor_exports(
    make_clip, alice, conditions, tmp_path
) -> None:
    from generation import jobs

    clip = make_clip("rej-1")
    msi = Caption.objects.get(clip=clip, kind="msi")
    newer = services.caption_add(clip=clip, kind="msi", text="a newer unreviewed msi")
    assert caption_for(clip=clip, kind="msi") == msi  # approved wins over a newer unreviewed
    services.caption_edit(msi, status=Status.REJECTED, user=alice)
    assert caption_for(clip=clip, kind="msi") == newer
    services.caption_edit(newer, status=Status.REJECTED, user=alice)
    assert caption_for(clip=clip, kind="msi") is None

    job = jobs.job_create(
        cells=[(clip, conditions["msi_llm"])], generator="sketch", parameters={"duration_s": 1.0}
    )
    jobs.job_run(job=job)
    item = job.items.get()
    assert item.status == "failed" and "has no msi (Music scene imagination (MSI)) caption" in (
        item.error
    )

    services.caption_add(
        clip=clip, kind="human_msi", text="a rejected description", status=Status.REJECTED
    )
    services.caption_add(clip=clip, kind="human_msi", text="a kept description")
    call_command("export_vacad", str(tmp_path / "out"), stdout=StringIO())
    [row] = [
        json.loads(line) for line in (tmp_path / "out" / "vacad.jsonl").read_text().splitlines()
    ]
    assert row["captions"]["msi"] == "" and row["sources"]["msi"]["id"] == 0
    assert row["captions"]["video"] == "a video caption for rej-1, calm piano"
    assert row["human_msi"] == ["a kept description"]
    exported = (tmp_path / "out" / "vacad.jsonl").read_text() + (
        tmp_path / "out" / "data" / "train.jsonl"
    ).read_text()
    assert "rejected" not in exported.replace('"status": "approved"', "")
