"""A researcher's own captions from a plain CSV (`manage.py import_captions`, the admin upload)."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from generation.caption_csv import CaptionCSVError, captions_import_csv, kind_of
from generation.models import Caption, CaptionKind, Clip

pytestmark = pytest.mark.django_db

GOOD = (
    "clip,kind,text,model,provenance\n"
    "c1,video,a calm sea at sunset,,\n"
    'c1,Music caption,"slow piano, warm strings",,\n'
    "c1,MSI predicted by a trained MusiScene,a quiet evening by the sea,,typed by hand (stand-in)\n"
    "c2,msi_pred,a busy city street,runs/msi/best,\n"
)


@pytest.fixture
def clips(db):
    return [Clip.objects.create(key=k, duration_s=10, width=64, height=48) for k in ("c1", "c2")]


def _errors(data: str | bytes) -> list[str]:
    with pytest.raises(CaptionCSVError) as caught:
        captions_import_csv(data.encode() if isinstance(data, str) else data, source="caps.csv")
    assert Caption.objects.count() == 0, "a wrong file stores nothing"
    return caught.value.errors


def test_the_kinds_are_known_by_value_and_by_the_admins_name():
    assert kind_of("msi_pred") == kind_of("MSI predicted by a trained MusiScene") == "msi_pred"
    assert kind_of("msi") == kind_of("music scene imagination (MSI)") == "msi"
    assert kind_of("Video  caption") == "video"
    assert kind_of("scene") is None


def test_the_happy_path_stores_every_row_with_its_provenance(clips):
    report = captions_import_csv(GOOD.encode(), source="caps.csv")
    assert (report.rows, report.created, report.existing, report.skipped) == (4, 4, 0, [])
    c1 = {c.kind: c for c in Caption.objects.filter(clip__key="c1")}
    assert set(c1) == {"video", "music", "msi_pred"}
    assert c1["music"].text == "slow piano, warm strings"
    assert c1["msi_pred"].provenance == "typed by hand (stand-in)"
    assert c1["video"].provenance == "imported from caps.csv, row 2"
    assert c1["video"].status == Caption.Status.UNREVIEWED
    pred = Caption.objects.get(clip__key="c2")
    assert (pred.kind, pred.model_id) == ("msi_pred", "runs/msi/best")
    again = captions_import_csv(GOOD.encode(), source="caps.csv")
    assert (again.created, again.existing) == (0, 4), "an import run twice adds nothing"
    assert Caption.objects.count() == 4


def test_approve_and_a_bom_and_windows_line_ends(clips):
    data = "\ufeff" + GOOD.replace("\n", "\r\n")
    captions_import_csv(data.encode("utf-8"), approve=True)
    assert set(Caption.objects.values_list("status", flat=True)) == {"approved"}


def test_a_dry_run_stores_nothing_and_says_what_would_happen(clips):
    report = captions_import_csv(GOOD.encode(), dry_run=True)
    assert report.created == 4 and "would be imported" in report.summary()
    assert Caption.objects.count() == 0


def test_existing_captions_are_kept_by_default_and_rejected_with_replace(clips, alice):
    old = Caption.objects.create(clip=clips[0], kind="video", text="the old caption")
    report = captions_import_csv(GOOD.encode())
    assert report.created == 3
    assert report.skipped == ["row 2: c1 has a video caption already; kept"]
    old.refresh_from_db()
    assert old.status == Caption.Status.UNREVIEWED
    assert not Caption.objects.filter(text="a calm sea at sunset").exists()

    report = captions_import_csv(GOOD.encode(), replace=True, user=alice)
    assert (report.created, report.replaced, report.existing) == (1, 1, 3)
    old.refresh_from_db()
    assert old.status == Caption.Status.REJECTED, "replaced, not deleted"
    assert old.revisions.get().user == alice
    new = Caption.objects.get(clip=clips[0], kind="video", status="unreviewed")
    assert new.text == "a calm sea at sunset"


def test_an_unknown_clip_names_the_row_and_column(clips):
    errors = _errors("clip,kind,text\nc1,video,ok\nnope,video,a text\n")
    assert errors == ["row 3, column clip: no clip 'nope' here"]


def test_an_unknown_kind_names_the_row_and_lists_the_kinds(clips):
    (error,) = _errors("clip,kind,text\nc1,scene,a text\n")
    assert error.startswith(
        "row 2, column kind: unknown kind 'scene'; known: video (Video caption)"
    )
    assert "msi_pred (MSI predicted by a trained MusiScene)" in error


def test_an_empty_text_is_an_error(clips):
    assert _errors("clip,kind,text\nc1,video,  \n") == ["row 2, column text: empty"]


def test_a_repeated_clip_and_kind_is_an_error_naming_both_rows(clips):
    errors = _errors("clip,kind,text\nc1,video,one\nc2,video,x\nc1,Video caption,two\n")
    assert errors == [
        "row 4, columns clip/kind: repeats row 2 (c1, video); one caption per clip and kind"
    ]


def test_a_stand_in_prediction_must_say_what_it_is(clips):
    (error,) = _errors("clip,kind,text\nc1,msi_pred,a scene\n")
    assert error.startswith("row 2, columns model/provenance: an msi_pred caption needs")


def test_bad_encoding_names_the_row(clips):
    data = b"clip,kind,text\nc1,video,fine\n" + "c2,video,caf\xe9\n".encode("latin-1")
    (error,) = _errors(data)
    assert error.startswith("row 3: not UTF-8 text")


def test_malformed_csv_names_the_row(clips):
    (error,) = _errors('clip,kind,text\nc1,video,fine\nc2,video,"an open quote\nc2,music,x\n')
    assert error.startswith("row 3: malformed CSV")
    (error,) = _errors("clip,kind,text\nc1,video,slow piano, warm strings\n")
    assert error.startswith("row 2: 4 cells for 3 columns")


def test_a_wrong_header_or_an_empty_file(clips):
    (error,) = _errors("clip,caption\nc1,x\n")
    assert error.startswith(
        "row 1 (header): missing column(s) kind, text; unknown column(s) caption"
    )
    assert _errors("") == ["caps.csv is empty: the first row must name the columns"]
    assert _errors("clip,kind,text\n") == ["caps.csv has a header but no caption rows"]


def test_every_error_is_listed_and_nothing_is_stored(clips):
    errors = _errors("clip,kind,text\nc1,video,ok\nzz,video,x\nc2,nope,x\nc2,music,\n")
    assert [e.split(",")[0] for e in errors] == ["row 3", "row 4", "row 5"]


def test_the_command_dry_run_errors_and_import(clips, tmp_path, capsys):
    path = tmp_path / "caps.csv"
    path.write_text(GOOD)
    call_command("import_captions", str(path), "--dry-run")
    assert (
        "dry run, nothing stored: 4 rows: 4 captions would be imported" in capsys.readouterr().out
    )
    assert Caption.objects.count() == 0
    call_command("import_captions", str(path), "--approve")
    assert Caption.objects.filter(status="approved").count() == 4
    path.write_text("clip,kind,text\nc9,video,x\n")
    with pytest.raises(CommandError, match="nothing imported: 1 problems"):
        call_command("import_captions", str(path))
    assert "caps.csv: row 2, column clip: no clip 'c9' here" in capsys.readouterr().err
    assert CaptionKind.MSI_PREDICTED.label == "MSI predicted by a trained MusiScene"


# ---------------------------------------------------------------------------------------------
# The admin's upload page (the same service), as a researcher


@pytest.fixture
def rita(client, django_user_model):
    from django.contrib.auth.models import Group

    user = django_user_model.objects.create_user("rita", password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name="Researcher"))
    client.force_login(user)
    return user


def _upload(client, text: str, **flags):
    from django.core.files.uploadedfile import SimpleUploadedFile

    data = {"file": SimpleUploadedFile("caps.csv", text.encode(), "text/csv")}
    data.update({k: "on" for k, v in flags.items() if v})
    return client.post("/admin/generation/caption/import/", data, follow=True)


def test_the_captions_list_links_the_upload_page(clips, rita, client):
    page = client.get("/admin/generation/caption/").content.decode()
    assert 'href="/admin/generation/caption/import/"' in page
    assert "Import captions (CSV)" in page


def test_the_upload_page_dry_runs_lists_errors_and_imports(clips, rita, client):
    page = _upload(client, GOOD, dry_run=True).content.decode()
    assert "Dry run, nothing stored:" in page and "4 captions would be imported" in page
    assert Caption.objects.count() == 0

    page = _upload(client, "clip,kind,text\nc1,msi,x\nc9,video,y\n").content.decode()
    assert "Nothing was imported: 1 problem." in page
    assert "row 3, column clip: no clip &#x27;c9&#x27; here" in page
    assert Caption.objects.count() == 0

    Caption.objects.create(clip=clips[0], kind="video", text="typed in the admin")
    response = _upload(client, GOOD, approve=True)
    assert response.redirect_chain[-1][0] == "/admin/generation/caption/"
    page = response.content.decode()
    assert "3 captions were imported" in page
    assert "Row 2: c1 has a video caption already; kept" in page  # messages start capitalised
    assert Caption.objects.filter(status="approved").count() == 3
    assert Caption.objects.get(clip=clips[0], kind="video").text == "typed in the admin"
