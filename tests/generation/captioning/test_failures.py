"""What must fail, and how: bad CSVs, missing media, a missing model, endpoints that time out or
answer garbage, interrupted runs; and the job machinery (stages on Celery, claims, progress)."""

from __future__ import annotations

import threading
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from django.utils import timezone

from generation import captioning, services
from generation.models import Caption, CaptionItem, CaptionJob

from .conftest import YTIDS, musiscene_csv

ItemStatus = CaptionItem.Status


def _args(tiny, kinds: str, *extra: str) -> list[str]:
    return [
        "caption_clips",
        "--kinds",
        kinds,
        "--video-model",
        str(tiny["git"]),
        "--music-checkpoint",
        str(tiny["mu-llama"]),
        "--backend",
        f"local:{tiny['composer']}",
        "--max-new-tokens",
        "5",
        *extra,
    ]


# --- the published CSV ------------------------------------------------------------------------


def test_a_malformed_csv_is_reported_by_line_and_nothing_is_imported(clips, tmp_path: Path) -> None:
    csv_path, ytids = musiscene_csv(
        tmp_path / "ok.csv", [{"Video Caption": "a man surfs"}] * 2, ytids=list(YTIDS[:2])
    )
    text = csv_path.read_text().splitlines()
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join([text[0], text[1] + ',"an extra cell"', text[2]]) + "\n")
    with pytest.raises(CommandError, match=r"(?s)nothing imported: .*line 2: 7 cells, expected 6"):
        call_command("import_musiscene_csv", str(bad), "--ytids", str(ytids), stdout=StringIO())
    header = tmp_path / "header.csv"
    header.write_text("Music Caption 1,Video Caption\nx,y\n")
    with pytest.raises(CommandError, match=r"line 1: the header must name the columns .*missing"):
        call_command("import_musiscene_csv", str(header), "--ytids", str(ytids), stdout=StringIO())
    with pytest.raises(CommandError, match="2 rows but 3 YouTube ids"):
        musiscene_csv(tmp_path / "three.json.csv", [{}] * 2, ytids=list(YTIDS[:3]))
        call_command(
            "import_musiscene_csv",
            str(tmp_path / "three.json.csv"),
            "--ytids",
            str(tmp_path / "three.json.json"),
            stdout=StringIO(),
        )
    garbage = tmp_path / "ids.json"
    garbage.write_text("{not json")
    with pytest.raises(CommandError, match="not valid JSON"):
        call_command(
            "import_musiscene_csv", str(csv_path), "--ytids", str(garbage), stdout=StringIO()
        )
    with pytest.raises(CommandError, match="is not a file"):
        call_command(
            "import_musiscene_csv",
            str(tmp_path / "nope.csv"),
            "--ytids",
            str(ytids),
            stdout=StringIO(),
        )
    assert not Caption.objects.exists()


def test_rows_without_a_single_clip_are_reported_and_strict_mode_imports_nothing(
    clips, tmp_path: Path
) -> None:
    first = clips[YTIDS[0]]
    twin = type(first).objects.get(pk=first.pk)
    twin.pk, twin.key, twin.start_s = None, "twin", 99.0  # a second segment of the same video
    twin.save()
    csv_path, ytids = musiscene_csv(
        tmp_path / "d.csv",
        [{"Video Caption": "a"}, {"Video Caption": "b", "Mixtral Video": ""}],
        ytids=[YTIDS[0], YTIDS[1]],
    )
    err = StringIO()
    with pytest.raises(CommandError, match="1 rows match no single clip; nothing imported"):
        call_command(
            "import_musiscene_csv",
            str(csv_path),
            "--ytids",
            str(ytids),
            "--strict",
            stdout=StringIO(),
            stderr=err,
        )
    assert "line 2: 2 clips have the YouTube id" in err.getvalue() and not Caption.objects.exists()
    out = StringIO()
    call_command(
        "import_musiscene_csv", str(csv_path), "--ytids", str(ytids), stdout=out, stderr=StringIO()
    )
    assert "1 captions imported" in out.getvalue() and "4 empty cells" in out.getvalue()
    assert Caption.objects.get().clip == clips[YTIDS[1]]


# --- media and models -------------------------------------------------------------------------


def test_missing_media_fails_only_its_own_captions(clips, tiny) -> None:
    r3, gy, ab = (clips[y] for y in YTIDS[:3])
    r3.video.storage.delete(r3.video.name)  # the file is gone from the storage
    type(gy).objects.filter(pk=gy.pk).update(original_audio="")  # a clip without an audio track
    err = StringIO()
    with pytest.raises(CommandError, match="4 captions could not be written"):
        call_command(
            *_args(tiny, "video,music,fusion"),
            "--clips",
            r3.key,
            gy.key,
            stdout=StringIO(),
            stderr=err,
        )
    job = CaptionJob.objects.get()
    failed = {(i.clip.key, i.kind): i.error for i in job.items.filter(status=ItemStatus.FAILED)}
    assert set(failed) == {
        (r3.key, "video"),
        (gy.key, "music"),
        (r3.key, "fusion"),
        (gy.key, "fusion"),
    }
    assert "missing from the media storage" in failed[(r3.key, "video")]
    assert failed[(gy.key, "music")] == f"clip {gy.key} has no audio track"
    assert "has no video caption" in failed[(r3.key, "fusion")]
    assert f"{r3.key} video: the video of clip {r3.key} is missing" in err.getvalue()
    assert job.status == CaptionJob.Status.DONE
    assert set(Caption.objects.values_list("clip__key", "kind")) == {
        (gy.key, "video"),
        (r3.key, "music"),
    }
    assert ab.captions.count() == 0


def test_a_bad_video_fails_alone_in_its_batch(clips, tiny) -> None:
    r3, gy = clips[YTIDS[0]], clips[YTIDS[1]]
    with r3.video.storage.open(r3.video.name, "wb") as f:
        f.write(b"not a video at all")
    with pytest.raises(CommandError, match="1 captions could not be written"):
        call_command(
            *_args(tiny, "video", "--batch-size", "4"),
            "--clips",
            r3.key,
            gy.key,
            stdout=StringIO(),
            stderr=StringIO(),
        )
    item = CaptionItem.objects.get(status=ItemStatus.FAILED)
    assert item.clip == r3 and "VideoDecodeError" in item.error
    assert Caption.objects.get().clip == gy


def test_a_missing_model_fails_the_job_with_how_to_provide_it(clips, tmp_path: Path) -> None:
    with pytest.raises(
        CommandError, match=r"failed: GIT video captioning model .*no-such-git.* was not found"
    ):
        call_command(
            "caption_clips",
            "--kinds",
            "video",
            "--video-model",
            str(tmp_path / "no-such-git"),
            stdout=StringIO(),
            stderr=StringIO(),
        )
    job = CaptionJob.objects.get()
    assert job.status == CaptionJob.Status.FAILED
    assert set(job.items.values_list("status", flat=True)) == {ItemStatus.FAILED}


# --- the HTTP composer ------------------------------------------------------------------------


@pytest.fixture
def endpoint(tiny):
    from modeling.captioners.composer import LocalBackend
    from tests.modeling.captioners.test_http import TinyOpenAIServer

    server = TinyOpenAIServer(LocalBackend.from_pretrained(str(tiny["composer"]), device="cpu"))
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def captioned(clips):
    """Video and music captions for the three clips, so that fusion/MSI can be composed."""
    for ytid, clip in clips.items():
        services.caption_add(clip=clip, kind="video", text=f"a man surfs a wave {ytid}")
        services.caption_add(clip=clip, kind="music", text="calm piano")
    return clips


def _http(endpoint, mode: str, kinds: str, *extra: str) -> list[str]:
    return [
        "caption_clips",
        "--kinds",
        kinds,
        "--backend",
        f"http:{endpoint.url}/{mode}/v1",
        "--llm-model",
        "tiny-mixtral",
        "--max-new-tokens",
        "5",
        *extra,
    ]


def test_the_http_composer_writes_captions_with_their_provenance(captioned, endpoint) -> None:
    out = StringIO()
    call_command(*_http(endpoint, "ok", "fusion,msi", "--seed", "7"), stdout=out)
    assert "6 written, 0 failed" in out.getvalue()
    msi = Caption.objects.filter(kind="msi").first()
    assert msi.model_id == "tiny-mixtral" and msi.parameters["backend"] == "http"
    assert msi.parameters["base_url"].endswith("/ok/v1") and msi.parameters["seed"] == 7
    assert msi.prompt == endpoint.requests[-1]["body"]["prompt"] or any(
        r["body"]["prompt"] == msi.prompt for r in endpoint.requests
    )
    assert {r["body"]["max_tokens"] for r in endpoint.requests} == {5}


@pytest.mark.parametrize(
    ("mode", "extra", "message"),
    [
        (
            "slow",
            ("--timeout", "0.2", "--retries", "0"),
            "failed after 1 attempt: no answer within 0.2 s",
        ),
        ("garbage", (), "answered something that is not JSON: '<html>502 Bad Gateway</html>'"),
        ("nochoices", (), "JSON without a text"),
    ],
)
def test_an_endpoint_that_times_out_or_answers_garbage_fails_its_captions(
    captioned, endpoint, mode, extra, message
) -> None:
    with pytest.raises(CommandError, match="3 captions could not be written"):
        call_command(*_http(endpoint, mode, "msi", *extra), stdout=StringIO(), stderr=StringIO())
    errors = set(CaptionItem.objects.values_list("error", flat=True))
    assert (
        len(errors) == 1
        and "EndpointError" in errors.pop().split(":")[0]
        and message in CaptionItem.objects.first().error
    )
    assert not Caption.objects.filter(kind="msi").exists()
    call_command(
        *_http(endpoint, "ok", "msi"), stdout=StringIO()
    )  # the endpoint is back: a rerun fills them in
    assert (
        Caption.objects.filter(kind="msi").count() == 3
        and CaptionJob.objects.first().items.count() == 3
    )


# --- jobs: Celery stages, admin, interruptions -------------------------------------------------


def test_a_job_runs_its_stages_through_the_celery_tasks(
    clips, tiny, charlie, client, django_capture_on_commit_callbacks
) -> None:
    client.force_login(charlie)
    r3 = clips[YTIDS[0]]
    data = {
        "action": "caption_clips",
        "_selected_action": [r3.pk],
        "apply": "1",
        "kinds": ["video", "music", "msi"],
        "video_model": str(tiny["git"]),
        "music_checkpoint": str(tiny["mu-llama"]),
        "backend": f"local:{tiny['composer']}",
        "batch_size": 2,
        "seed": 0,
    }
    form = client.post(
        reverse("admin:generation_clip_changelist"), {k: v for k, v in data.items() if k != "apply"}
    )
    assert form.status_code == 200 and "Caption clips" in form.content.decode()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client.post(reverse("admin:generation_clip_changelist"), data)
    job = CaptionJob.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse(
        "admin:generation_captionjob_change", args=[job.pk]
    )
    assert len(callbacks) >= 4  # batches of stage 0, the advance, the batch of stage 1
    job.refresh_from_db()
    assert job.status == CaptionJob.Status.DONE and job.stage == 1 and job.created_by == charlie
    assert sorted(r3.captions.values_list("kind", flat=True)) == ["msi", "music", "video"]
    progress = client.get(reverse("generation-caption-job-progress", args=[job.pk])).json()
    assert progress | {"errors": []} == progress and progress["by_kind"] == {
        "video": {"total": 1, "done": 1, "failed": 0},
        "music": {"total": 1, "done": 1, "failed": 0},
        "msi": {"total": 1, "done": 1, "failed": 0},
    }
    assert progress["percent"] == 100.0 and progress["finished"] is True
    page = client.get(reverse("admin:generation_captionjob_changelist")).content.decode()
    assert reverse("generation-caption-job-progress", args=[job.pk]) in page


def test_an_admin_form_error_is_shown(clips, charlie, client) -> None:
    client.force_login(charlie)
    response = client.post(
        reverse("admin:generation_clip_changelist"),
        {
            "action": "caption_clips",
            "_selected_action": [c.pk for c in clips.values()],
            "apply": "1",
            "kinds": ["music"],
            "video_model": "x",
            "backend": "local:x",
            "batch_size": 1,
            "seed": 0,
        },
    )
    assert (
        response.status_code == 200 and "music captions need MU-LLaMA" in response.content.decode()
    )
    assert not CaptionJob.objects.exists()


def test_a_duplicate_delivery_claims_nothing(clips, tiny) -> None:
    job = captioning.caption_job_create(
        clips=clips.values(),
        kinds=["video"],
        options={"video_model": str(tiny["git"]), "max_new_tokens": 4},
    )
    CaptionJob.objects.filter(pk=job.pk).update(status=CaptionJob.Status.RUNNING)
    ids = list(job.items.values_list("id", flat=True))
    assert captioning.caption_batch_run(job_id=job.pk, item_ids=ids, token="a") == 3
    assert captioning.caption_batch_run(job_id=job.pk, item_ids=ids, token="b") == 0
    assert Caption.objects.count() == 3


def test_an_interrupted_run_is_closed_and_a_rerun_writes_only_what_is_missing(
    clips, tiny, settings
) -> None:
    options = {"video_model": str(tiny["git"]), "max_new_tokens": 4}
    job = captioning.caption_job_create(clips=clips.values(), kinds=["video"], options=options)
    CaptionJob.objects.filter(pk=job.pk).update(
        status=CaptionJob.Status.RUNNING, heartbeat_at=timezone.now()
    )
    first = job.items.order_by("id").first()
    captioning.caption_batch_run(job_id=job.pk, item_ids=[first.pk], token="killed-later")
    # ... then the process is killed: the job is running, its other items pending
    live = captioning.caption_job_create(clips=clips.values(), kinds=["video"], options=options)
    assert live.items.count() == 0, "a live job's cells are not made twice"
    CaptionJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    rerun = captioning.caption_job_create(clips=clips.values(), kinds=["video"], options=options)
    job.refresh_from_db()
    assert job.status == CaptionJob.Status.FAILED and "interrupted" in job.error
    assert rerun.items.count() == 2 and first.clip_id not in set(
        rerun.items.values_list("clip_id", flat=True)
    )
    captioning.caption_job_run(job=rerun)
    assert Caption.objects.filter(kind="video").count() == 3


def test_the_watchdog_hands_back_a_lost_claim(
    clips, tiny, django_capture_on_commit_callbacks
) -> None:
    job = captioning.caption_job_create(
        clips=[clips[YTIDS[0]]],
        kinds=["video"],
        options={"video_model": str(tiny["git"]), "max_new_tokens": 4},
    )
    CaptionJob.objects.filter(pk=job.pk).update(status=CaptionJob.Status.RUNNING, watch_token="w")
    item = job.items.get()
    CaptionItem.objects.filter(pk=item.pk).update(
        status=ItemStatus.CLAIMED,
        claim_token="dead",
        heartbeat_at=timezone.now() - timedelta(hours=1),
    )
    with django_capture_on_commit_callbacks(execute=True):
        going_on = captioning.caption_job_watch(job_id=job.pk, token="w")
    assert going_on is True  # the claim was handed back and enqueued again (run at commit)
    item.refresh_from_db()
    assert item.status == ItemStatus.DONE and item.reclaims == 1 and item.caption.kind == "video"
    job.refresh_from_db()
    assert job.status == CaptionJob.Status.DONE
