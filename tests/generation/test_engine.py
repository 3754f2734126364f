"""The job engine (generation.engine): claims, heartbeats, failures, reclaims, the watchdog and
progress, written once and run for both kinds of job (generation and caption jobs).

The race tests need PostgreSQL (DATABASE_URL=postgres://...): SQLite's in-memory test database
locks whole tables between threads, so there they are skipped; the claim's conditional UPDATE is
checked on SQLite by the sequential tests.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import OperationalError, connection, transaction
from django.utils import timezone

from generation import engine
from generation.captioning import CAPTIONS
from generation.jobs import GENERATION
from generation.models import CaptionJob, Clip, Condition, GenerationJob
from modeling.hub import ModelNotFoundError

N_ITEMS = 4


@pytest.fixture(params=[GENERATION, CAPTIONS], ids=["generation", "caption"])
def kind(request) -> engine.JobKind:
    return request.param


def _job(kind: engine.JobKind, n: int = N_ITEMS):
    """A running job of ``kind`` with ``n`` pending items (clips without media: the engine never
    looks at what an item makes)."""
    clips = [
        Clip.objects.create(key=f"engine-{kind.name[0]}-{i}", duration_s=10, width=64, height=48)
        for i in range(n)
    ]
    if kind is GENERATION:
        job = GenerationJob.objects.create(
            generator="sketch", model_id="sketch-v1", loudness_target_lufs=-23.0
        )
        condition = Condition.objects.create(name="engine-test", caption_kind="video")
        cells = [{"clip": clip, "condition": condition} for clip in clips]
    else:
        job = CaptionJob.objects.create(kinds=["video"])
        cells = [{"clip": clip, "kind": "video"} for clip in clips]
    kind.item_model.objects.bulk_create([kind.item_model(job=job, **cell) for cell in cells])
    engine.job_begin(kind=kind, job_id=job.pk)
    job.refresh_from_db()
    return job


def _ids(job) -> list[int]:
    return list(job.items.order_by("id").values_list("id", flat=True))


def _states(job) -> dict[int, str]:
    return dict(job.items.values_list("id", "status"))


def test_it_claims_each_item_once(db, kind):
    job = _job(kind)
    ids = _ids(job)

    first = engine.items_claim(kind=kind, item_ids=ids, token="a")
    assert [item.pk for item in first] == ids
    assert engine.items_claim(kind=kind, item_ids=ids, token="b") == [], "a second delivery"
    again = engine.items_claim(kind=kind, item_ids=ids, token="a")
    assert [item.pk for item in again] == ids, "a retried task takes its own claim back"

    rows = list(job.items.values_list("status", "claim_token", "heartbeat_at"))
    assert {(status, token) for status, token, _ in rows} == {(engine.CLAIMED, "a")}
    assert all(beat is not None for _, _, beat in rows)


def test_it_starts_a_job_once(db, kind):
    job = _job(kind)
    assert job.status == engine.JobBase.Status.RUNNING and job.started_at is not None
    with pytest.raises(ValidationError, match=f"{kind.name} {job.pk} was started already"):
        engine.job_begin(kind=kind, job_id=job.pk)


@pytest.mark.postgres
@pytest.mark.parametrize("rounds", [5])
def test_two_workers_racing_never_hold_one_item(transactional_db, kind, rounds):
    if connection.vendor != "postgresql":
        pytest.skip("the race needs PostgreSQL (DATABASE_URL=postgres://...)")
    job = _job(kind, n=12)
    ids = _ids(job)
    workers = 6

    def work(token: str, start: threading.Barrier, got: dict[str, list[int]]) -> None:
        try:
            start.wait(timeout=10)
            mine = engine.items_claim(kind=kind, item_ids=reversed(ids), token=token)
            got[token] = [item.pk for item in mine]
        finally:
            connection.close()

    for _ in range(rounds):
        kind.item_model.objects.filter(job=job).update(status=engine.PENDING, claim_token="")
        start = threading.Barrier(workers)
        got: dict[str, list[int]] = {}
        threads = [
            threading.Thread(target=work, args=(f"w{i}", start, got)) for i in range(workers)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        claimed = [pk for pks in got.values() for pk in pks]
        assert len(got) == workers
        assert sorted(claimed) == ids, "every item claimed, none twice"
        holders = dict(job.items.values_list("id", "claim_token"))
        assert all(holders[pk] == token for token, pks in got.items() for pk in pks)


@pytest.mark.postgres
def test_a_claim_waiting_on_another_workers_claim_gets_nothing(transactional_db, kind):
    """Worker B's UPDATE waits for A's row locks; when A commits, B's WHERE status='pending' is
    checked again on the new rows and matches none."""
    if connection.vendor != "postgresql":
        pytest.skip("row locks between two connections need PostgreSQL (DATABASE_URL)")
    job = _job(kind)
    ids = _ids(job)
    a_claimed, b_done = threading.Event(), threading.Event()
    got: dict[str, list[int]] = {}

    def worker_a() -> None:
        try:
            with transaction.atomic():
                got["a"] = [i.pk for i in engine.items_claim(kind=kind, item_ids=ids, token="a")]
                a_claimed.set()
                assert not b_done.wait(0.5), "B went past A's uncommitted claim"
        finally:
            connection.close()

    def worker_b() -> None:
        try:
            a_claimed.wait(10)
            got["b"] = [i.pk for i in engine.items_claim(kind=kind, item_ids=ids, token="b")]
            b_done.set()
        finally:
            connection.close()

    threads = [threading.Thread(target=worker_a), threading.Thread(target=worker_b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert got == {"a": ids, "b": []}
    assert set(job.items.values_list("claim_token", flat=True)) == {"a"}


def test_a_stale_claim_is_handed_back_and_a_live_one_kept(db, kind, settings):
    settings.GENERATION_CLAIM_TIMEOUT_S = 5
    settings.CAPTION_CLAIM_TIMEOUT_S = 0
    job = _job(kind)
    dead, alive, lost_often, pending = _ids(job)
    engine.items_claim(kind=kind, item_ids=[dead, lost_often], token="dead")
    engine.items_claim(kind=kind, item_ids=[alive], token="alive")
    long_ago = timezone.now() - timedelta(seconds=60)
    kind.item_model.objects.filter(pk=dead).update(heartbeat_at=long_ago)
    kind.item_model.objects.filter(pk=lost_often).update(heartbeat_at=long_ago, reclaims=2)

    reclaimed = engine.items_reclaim_stale(kind=kind, job=job)

    assert reclaimed.stale == 2 and reclaimed.back == {engine.PENDING: [dead]}
    assert _states(job) == {
        dead: engine.PENDING,
        alive: engine.CLAIMED,
        lost_often: engine.FAILED,
        pending: engine.PENDING,
    }
    lost = job.items.get(pk=lost_often)
    assert "lost 3 times" in lost.error and lost.reclaims == 3 and lost.finished_at
    assert job.items.get(pk=dead).reclaims == 1
    # the dead holder, should it wake up, can no longer finish or fail the item
    assert not engine.item_advance(
        kind=kind, item_id=dead, token="dead", source=engine.CLAIMED, target=engine.DONE
    )
    assert not engine.item_fail(kind=kind, item_id=dead, token="dead", message="late")
    assert [i.pk for i in engine.items_claim(kind=kind, item_ids=[dead], token="new")] == [dead]


def test_a_heartbeat_keeps_a_claim_from_being_reclaimed(transactional_db, kind, settings):
    settings.GENERATION_CLAIM_TIMEOUT_S = 5
    settings.CAPTION_CLAIM_TIMEOUT_S = 0
    job = _job(kind, n=2)
    held, other = _ids(job)
    engine.items_claim(kind=kind, item_ids=[held, other], token="t")
    long_ago = timezone.now() - timedelta(seconds=60)
    kind.item_model.objects.filter(job=job).update(heartbeat_at=long_ago)

    def rows():
        return engine.items_held(kind=kind, item_ids=[held], token="t", status=engine.CLAIMED)

    with engine.beat(rows, every_s=0.05):
        deadline = time.monotonic() + 10
        while job.items.get(pk=held).heartbeat_at == long_ago and time.monotonic() < deadline:
            time.sleep(0.02)
    assert job.items.get(pk=held).heartbeat_at > timezone.now() - timedelta(seconds=5)

    reclaimed = engine.items_reclaim_stale(kind=kind, job=job)
    assert reclaimed.back == {engine.PENDING: [other]}, "only the item without a heartbeat"
    assert _states(job)[held] == engine.CLAIMED


def test_fail_records_the_error(db, kind):
    job = _job(kind)
    first, second, done, _ = _ids(job)
    engine.items_claim(kind=kind, item_ids=[first, second, done], token="t")
    if kind is GENERATION:
        kind.item_model.objects.filter(pk=first).update(audio=b"\x00" * 8)

    assert not engine.item_fail(kind=kind, item_id=first, token="other", message="not mine")
    assert engine.item_fail(kind=kind, item_id=first, token="t", message="bad file " * 400)
    item = job.items.get(pk=first)
    assert item.status == engine.FAILED and item.finished_at
    assert item.error.startswith("bad file") and len(item.error) == 2000
    if kind is GENERATION:
        assert item.audio is None, "staged audio is dropped with the item"

    assert engine.item_advance(
        kind=kind, item_id=done, token="t", source=engine.CLAIMED, target=engine.DONE
    )
    engine.job_fail(kind=kind, job_id=job.pk, message="the model is missing")
    job.refresh_from_db()
    assert job.status == engine.JobBase.Status.FAILED and job.error == "the model is missing"
    assert job.finished_at is not None
    errors = dict(job.items.values_list("id", "error"))
    assert errors[second] == "the model is missing" and errors[done] == ""
    assert _states(job)[done] == engine.DONE, "a finished item keeps its result"
    assert set(_states(job).values()) == {engine.FAILED, engine.DONE}


def test_work_that_fails_fails_its_items_or_its_job(db, kind):
    job = _job(kind)
    first, second, third, _ = _ids(job)
    engine.items_claim(kind=kind, item_ids=[first, second, third], token="t")

    def work_on(ids, error, **kwargs):
        with engine.items_work(
            kind=kind,
            job_id=job.pk,
            item_ids=ids,
            token="t",
            status=engine.CLAIMED,
            heartbeat=False,
            **kwargs,
        ) as work:
            raise error
        return work

    with pytest.raises(OperationalError):  # transient: the task retries, the claim stays
        work_on([first], OperationalError("the database went away"))
    assert _states(job)[first] == engine.CLAIMED

    work = work_on([first], ValueError("a broken file"))
    assert work.failed and not work.job_failed
    assert job.items.get(pk=first).error == "ValueError: a broken file"
    work = work_on([second], ValueError("x"), message=lambda exc: "said my way")
    assert job.items.get(pk=second).error == "said my way"
    assert kind.job_model.objects.get(pk=job.pk).status == engine.JobBase.Status.RUNNING

    work = work_on([third], ModelNotFoundError("MusicGen model 'x' was not found"))
    assert work.failed and work.job_failed
    job.refresh_from_db()
    assert job.status == engine.JobBase.Status.FAILED and "was not found" in job.error
    assert set(_states(job).values()) == {engine.FAILED}


def test_a_job_is_done_when_no_item_is_left(db, kind):
    job = _job(kind, n=2)
    a, b = _ids(job)
    engine.items_claim(kind=kind, item_ids=[a, b], token="t")
    engine.item_advance(kind=kind, item_id=a, token="t", source=engine.CLAIMED, target="done")
    engine.job_finish_if_done(kind=kind, job_id=job.pk)
    assert kind.job_model.objects.get(pk=job.pk).status == engine.JobBase.Status.RUNNING
    engine.item_fail(kind=kind, item_id=b, token="t", message="x")
    engine.job_finish_if_done(kind=kind, job_id=job.pk)
    job.refresh_from_db()
    assert job.status == engine.JobBase.Status.DONE and job.finished_at is not None


def test_the_watchdog_follows_only_its_own_chain(db, kind, django_capture_on_commit_callbacks):
    job = _job(kind)
    with django_capture_on_commit_callbacks() as enqueued:
        token = engine.job_watch_start(kind=kind, job=job)
    assert len(enqueued) == 1, "the first round is enqueued after commit"
    rounds = []

    def work(j) -> None:
        rounds.append(j.pk)

    assert engine.job_watch(kind=kind, job_id=job.pk, token="old", work=work) is False
    assert engine.job_watch(kind=kind, job_id=job.pk, token=token, work=work) is True
    assert rounds == [job.pk]
    assert engine.jobs_watch_resume(kind=kind) == 1, "a starting worker restarts the chain"
    assert engine.job_watch(kind=kind, job_id=job.pk, token=token, work=work) is False
    assert rounds == [job.pk], "the old chain ends without a round"


def test_progress_counts_every_state(db, kind):
    job = _job(kind)
    a, b, c, _ = _ids(job)
    engine.items_claim(kind=kind, item_ids=[a, b, c], token="t")
    engine.item_advance(kind=kind, item_id=a, token="t", source=engine.CLAIMED, target="done")
    engine.item_fail(kind=kind, item_id=b, token="t", message="no caption")

    progress = engine.job_progress(
        kind=kind, job_id=job.pk, busy={"working": [engine.CLAIMED]}, describe={"clip": "clip__key"}
    )

    assert progress == {
        "id": job.pk,
        "status": "running",
        "error": "",
        "total": 4,
        "done": 1,
        "failed": 1,
        "working": 1,
        "pending": 1,
        "finished": False,
        "percent": 50.0,
        "errors": [{"clip": job.items.get(pk=b).clip.key, "error": "no caption"}],
    }


def test_a_worker_keeps_its_models_up_to_its_limit():
    keep = {"n": 2}
    cache = engine.ModelCache(keep=lambda: keep["n"])
    loads: list[str] = []

    def loader(name: str):
        return lambda: loads.append(name) or f"model {name}"

    assert cache.get("a", loader("a")) == "model a"
    assert cache.get("a", loader("a")) == "model a", "kept: loaded once"
    cache.get("b", loader("b"))
    cache.get("a", loader("a"))  # a is now the most recently used
    cache.get("c", loader("c"))  # evicts b
    assert loads == ["a", "b", "c"]
    cache.get("a", loader("a"))
    cache.get("b", loader("b"))
    assert loads == ["a", "b", "c", "b"]
    keep["n"] = 1  # generation workers keep one model
    cache.get("d", loader("d"))
    cache.get("b", loader("b"))
    assert loads == ["a", "b", "c", "b", "d", "b"]


def test_the_device_is_the_first_setting_given(settings):
    settings.CAPTION_DEVICE = ""
    settings.GENERATION_DEVICE = "meta"
    assert str(engine.device("CAPTION_DEVICE", "GENERATION_DEVICE")) == "meta"
    settings.CAPTION_DEVICE = "cpu"
    assert str(engine.device("CAPTION_DEVICE", "GENERATION_DEVICE")) == "cpu"
